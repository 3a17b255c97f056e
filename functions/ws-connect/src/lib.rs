//! `$connect` of the WebSocket API: verify the HTTP API's JWT (`?token=` or
//! a `bearer.<jwt>` subprotocol) and store the connection; 401 refuses the
//! socket and stores nothing.

use aws_lambda_events::apigw::{ApiGatewayProxyResponse, ApiGatewayWebsocketProxyRequest};
use aws_lambda_events::encodings::Body;
use aws_lambda_events::http::{HeaderMap, HeaderValue};
use shared::Core;
use shared::push::connect::{ConnectRequest, connect, refusal};
use std::convert::Infallible;

pub async fn handle(
    core: &Core,
    event: ApiGatewayWebsocketProxyRequest,
) -> Result<ApiGatewayProxyResponse, Infallible> {
    let connection_id = event
        .request_context
        .connection_id
        .clone()
        .unwrap_or_default();
    let protocols = event
        .headers
        .get("sec-websocket-protocol")
        .and_then(|v| v.to_str().ok());
    let req = ConnectRequest {
        connection_id: &connection_id,
        token: event.query_string_parameters.first("token"),
        protocols,
    };
    let mut resp = ApiGatewayProxyResponse::default();
    match connect(core, &req).await {
        Ok(accepted) => {
            tracing::info!(
                connection = %accepted.connection.id,
                user_type = accepted.connection.user_type.as_str(),
                "connected"
            );
            resp.status_code = 200;
            if let Some(p) = accepted.subprotocol {
                let mut h = HeaderMap::new();
                h.insert("sec-websocket-protocol", HeaderValue::from_static(p));
                resp.headers = h;
            }
        }
        Err(e) => {
            let (status, body) = refusal(e);
            resp.status_code = i64::from(status);
            resp.body = Some(Body::Text(body));
        }
    }
    Ok(resp)
}
