//! `GET /conversations`: the caller's conversations, newest activity first.

use lambda_http::{Body, Request, Response};
use shared::chat::listing::list_conversations;
use shared::{ApiError, App, http};

pub async fn handle(app: &App, req: Request) -> Response<Body> {
    http::respond(run(app, &req).await)
}

async fn run(app: &App, req: &Request) -> Result<Response<Body>, ApiError> {
    let caller = app.auth.caller(req)?;
    let limit = http::page_limit(req)?;
    let cursor = http::query_param(req, "cursor");
    let booking = http::query_param(req, "booking_id");
    let page =
        list_conversations(app, &caller, limit, cursor.as_deref(), booking.as_deref()).await?;
    Ok(http::json(200, &page))
}
