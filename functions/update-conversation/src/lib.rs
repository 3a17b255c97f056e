//! `PATCH /conversations/{id}` `{status: active|escalated|closed}`.

use lambda_http::{Body, Request, Response};
use serde::Deserialize;
use shared::chat::status::update_status;
use shared::{ApiError, App, http};

#[derive(Deserialize)]
struct UpdateInput {
    status: String,
}

pub async fn handle(app: &App, req: Request) -> Response<Body> {
    http::respond(run(app, &req).await)
}

async fn run(app: &App, req: &Request) -> Result<Response<Body>, ApiError> {
    let caller = app.auth.caller(req)?;
    let id = http::path_param(req, "id").ok_or(ApiError::NotFound)?;
    let input: UpdateInput = http::parse_json(req)?;
    let (_changed, view) = update_status(app, &caller, &id, &input.status).await?;
    Ok(http::json(200, &view))
}
