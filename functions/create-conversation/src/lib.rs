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

/// The sample events in `events/` are this function's input.
#[cfg(test)]
mod tests {
    #[test]
    fn when_the_sample_event_create_conversation_is_replayed_it_should_be_this_route() {
        let event = include_str!("../../../events/create-conversation.json");
        let req = shared::lambda::sample_request(event, "POST", "/conversations").unwrap();
        assert!(
            shared::lambda::sample_caller(&req).is_ok(),
            "a valid local dev token"
        );
    }
}
