//! `POST /conversations/{id}/messages`: send through Twilio (Conversations
//! for booking chats, the Messages API for WhatsApp/SMS), store, count unread.

use lambda_http::{Body, Request, Response};
use shared::conversation::SendInput;
use shared::conversation::access::load_visible;
use shared::domain::IdempotencyKey;
use shared::{ApiError, App, chat, http, inbox};

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
    let head = load_visible(app, &caller, &id).await?;
    // Booking chats go through Twilio Conversations, WhatsApp/SMS
    // conversations through the Messages API.
    let (created, message) = if head.meta.inbox.is_some() {
        inbox::reply::send_reply(app, &caller, head, &input, key).await?
    } else {
        chat::send::send(app, &caller, head, &input, key).await?
    };
    // 202: Twilio accepted it and storing it finishes through the outbox.
    let status = match (created, message.pending_store) {
        (true, true) => 202,
        (true, false) => 201,
        (false, _) => 200,
    };
    Ok(http::json(status, &message))
}

/// The sample events in `events/` are this function's input.
#[cfg(test)]
mod tests {
    #[test]
    fn when_the_sample_event_send_message_whatsapp_template_is_replayed_it_should_be_this_route() {
        let event = include_str!("../../../events/send-message-whatsapp-template.json");
        let req = shared::lambda::sample_request(
            event,
            "POST",
            "/conversations/conv_f6f127e101a26ea36e0570c3ee/messages",
        )
        .unwrap();
        assert_eq!(
            shared::http::path_param(&req, "id").as_deref(),
            Some("conv_f6f127e101a26ea36e0570c3ee")
        );
        assert!(
            shared::lambda::sample_caller(&req).is_ok(),
            "a valid local dev token"
        );
    }

    #[test]
    fn when_the_sample_event_send_message_is_replayed_it_should_be_this_route() {
        let event = include_str!("../../../events/send-message.json");
        let req = shared::lambda::sample_request(
            event,
            "POST",
            "/conversations/conv_bc48589a3766427a5be76f2138/messages",
        )
        .unwrap();
        assert_eq!(
            shared::http::path_param(&req, "id").as_deref(),
            Some("conv_bc48589a3766427a5be76f2138")
        );
        assert!(
            shared::lambda::sample_caller(&req).is_ok(),
            "a valid local dev token"
        );
    }
}
