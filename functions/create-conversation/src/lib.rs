//! `POST /conversations`: create-or-get the conversation of a booking.

use lambda_http::{Body, Request, Response};
use shared::chat::create::{CreateConversationInput, create_conversation};
use shared::{ApiError, App, http};

pub async fn handle(app: &App, req: Request) -> Response<Body> {
    http::respond(run(app, &req).await)
}

async fn run(app: &App, req: &Request) -> Result<Response<Body>, ApiError> {
    let caller = app.auth.caller(req)?;
    let input: CreateConversationInput = http::parse_json(req)?;
    let (created, view) = create_conversation(app, &caller, &input).await?;
    Ok(http::json(if created { 201 } else { 200 }, &view))
}
