//! The `ping` route (`{"action": "ping"}`): answers `{"type": "pong", "at"}`
//! over the socket (a two-way route), so a client can keep the connection
//! inside API Gateway's 10-minute idle timeout and measure it is alive. No
//! storage request.

use aws_lambda_events::apigw::{ApiGatewayProxyResponse, ApiGatewayWebsocketProxyRequest};
use aws_lambda_events::encodings::Body;
use std::convert::Infallible;

pub async fn handle(
    _event: ApiGatewayWebsocketProxyRequest,
) -> Result<ApiGatewayProxyResponse, Infallible> {
    let at = shared::clock::format_ts(shared::clock::Clock::default().now());
    let mut resp = ApiGatewayProxyResponse::default();
    resp.status_code = 200;
    resp.body = Some(Body::Text(format!(r#"{{"type":"pong","at":"{at}"}}"#)));
    Ok(resp)
}
