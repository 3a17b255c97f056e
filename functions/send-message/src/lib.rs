//! `POST /conversations/{id}/messages`: send through Twilio, store, count unread.

use lambda_http::{Body, Request, Response};
use serde::Deserialize;
use shared::domain::IdempotencyKey;
use shared::{ApiError, App, chat, http};

#[derive(Deserialize)]
struct SendInput {
    body: String,
}

pub async fn handle(app: &App, req: Request) -> Response<Body> {
    http::respond(run(app, &req).await)
}

async fn run(app: &App, req: &Request) -> Result<Response<Body>, ApiError> {
    let caller = app.auth.caller(req)?;
    let id = http::path_param(req, "id").ok_or(ApiError::NotFound)?;
    let key = http::header(req, "idempotency-key")
        .map(|k| IdempotencyKey::parse(&k))
        .transpose()?;
    let input: SendInput = http::parse_json(req)?;
    let (created, message) = chat::send_message(app, &caller, &id, &input.body, key).await?;
    Ok(http::json(if created { 201 } else { 200 }, &message))
}
