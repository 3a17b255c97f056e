//! `GET /me/unread`: the caller's total unread count (one GetItem).

use lambda_http::{Body, Request, Response};
use shared::chat::read::unread_total;
use shared::{ApiError, App, http};

pub async fn handle(app: &App, req: Request) -> Response<Body> {
    http::respond(run(app, &req).await)
}

async fn run(app: &App, req: &Request) -> Result<Response<Body>, ApiError> {
    let caller = app.auth.caller(req)?;
    let total = unread_total(app, &caller).await?;
    Ok(http::json(
        200,
        &serde_json::json!({"user_id": caller.user_id, "unread_count": total}),
    ))
}
