//! `POST /conversations`: create-or-get the conversation of a booking, or
//! (`conversation_type` `whatsapp` / `sms`) an agent starting a
//! conversation with a contact who has never written.

use lambda_http::{Body, Request, Response};
use shared::chat::create::{CreateConversationInput, create_conversation};
use shared::inbox::start::{StartInput, is_start_request, start_conversation};
use shared::{ApiError, App, http};

pub async fn handle(app: &App, req: Request) -> Response<Body> {
    http::respond(run(app, &req).await)
}

async fn run(app: &App, req: &Request) -> Result<Response<Body>, ApiError> {
    let caller = app.auth.caller(req)?;
    let raw: serde_json::Value = http::parse_json(req)?;
    let (created, view) = if is_start_request(raw["conversation_type"].as_str()) {
        let input: StartInput = http::from_json_value(raw)?;
        start_conversation(app, &caller, &input).await?
    } else {
        let input: CreateConversationInput = http::from_json_value(raw)?;
        create_conversation(app, &caller, &input).await?
    };
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

    #[test]
    fn when_the_sample_event_create_conversation_start_is_replayed_it_should_be_this_route() {
        let event = include_str!("../../../events/create-conversation-start.json");
        let req = shared::lambda::sample_request(event, "POST", "/conversations").unwrap();
        assert!(
            shared::lambda::sample_caller(&req).is_ok(),
            "a valid local dev token"
        );
        let body: serde_json::Value = shared::http::parse_json(&req).unwrap();
        assert!(shared::inbox::start::is_start_request(
            body["conversation_type"].as_str()
        ));
    }
}
