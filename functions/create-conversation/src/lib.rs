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

/// The sample events in `events/` (the ones `cargo lambda invoke` and
/// `sam local invoke` use) parse as this function's input.
#[cfg(test)]
mod tests {
    #[test]
    fn when_the_sample_event_create_conversation_is_replayed_it_should_be_this_route() {
        let req = lambda_http::request::from_str(include_str!(
            "../../../events/create-conversation.json"
        ))
        .expect("events/create-conversation.json is an API Gateway HTTP API event");
        assert_eq!(req.method().as_str(), "POST");
        assert_eq!(req.uri().path(), "/conversations");
        let caller = shared::auth::JwtVerifier::new(shared::auth::LOCAL_DEV_SECRET)
            .caller(&req)
            .expect("the event carries a valid local dev token");
        assert!(!caller.user_id.is_empty());
    }
}
