//! `$disconnect` of the WebSocket API: forget the connection. API Gateway
//! sends it at most once and may not send it at all (the item's 2 h TTL and
//! the push function's 410 handling cover that); it is idempotent.

use aws_lambda_events::apigw::{ApiGatewayProxyResponse, ApiGatewayWebsocketProxyRequest};
use shared::Core;
use shared::push::connect::disconnect;
use std::convert::Infallible;

pub async fn handle(
    core: &Core,
    event: ApiGatewayWebsocketProxyRequest,
) -> Result<ApiGatewayProxyResponse, Infallible> {
    let id = event.request_context.connection_id.unwrap_or_default();
    let mut resp = ApiGatewayProxyResponse::default();
    resp.status_code = match disconnect(core, &id).await {
        Ok(()) => 200,
        Err(e) => {
            // The socket is closed whatever we answer; the TTL cleans up.
            tracing::warn!(connection = %id, error = %e, "disconnect: connection not forgotten");
            500
        }
    };
    Ok(resp)
}
