//! `POST /conversations/{id}/messages`: send through Twilio (Conversations
//! for booking chats, the Messages API for WhatsApp/SMS), store, count unread.

use lambda_http::{Body, Request, Response};
use shared::chat::{self, SendInput};
use shared::domain::IdempotencyKey;
use shared::{ApiError, App, http};

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
    let (created, message) = chat::send(app, &caller, &id, &input, key).await?;
    Ok(http::json(if created { 201 } else { 200 }, &message))
}
