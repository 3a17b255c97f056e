//! The `$default` route: any frame whose `action` is not a route (clients
//! only ever send `{"action": "ping"}`; events flow the other way). Answers
//! `{"type": "error", "error": {"code": "unknown_action", ...}}` over the
//! socket and keeps it open. No storage request.

use aws_lambda_events::apigw::{ApiGatewayProxyResponse, ApiGatewayWebsocketProxyRequest};
use aws_lambda_events::encodings::Body;
use std::convert::Infallible;

pub async fn handle(
    _event: ApiGatewayWebsocketProxyRequest,
) -> Result<ApiGatewayProxyResponse, Infallible> {
    let mut resp = ApiGatewayProxyResponse::default();
    resp.status_code = 200;
    resp.body = Some(Body::Text(
        r#"{"type":"error","error":{"code":"unknown_action","message":"the only action a client sends is {\"action\": \"ping\"}; events are pushed by the server"}}"#
            .to_string(),
    ));
    Ok(resp)
}
