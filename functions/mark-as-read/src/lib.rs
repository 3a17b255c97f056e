//! `POST /conversations/{id}/read`: move the caller's read horizon, zero unread.

use lambda_http::{Body, Request, Response};
use shared::chat::read::mark_read;
use shared::{ApiError, App, http};

pub async fn handle(app: &App, req: Request) -> Response<Body> {
    http::respond(run(app, &req).await)
}

async fn run(app: &App, req: &Request) -> Result<Response<Body>, ApiError> {
    let caller = app.auth.caller(req)?;
    let id = http::path_param(req, "id").ok_or(ApiError::NotFound)?;
    let read = mark_read(app, &caller, &id).await?;
    Ok(http::json(200, &read))
}
