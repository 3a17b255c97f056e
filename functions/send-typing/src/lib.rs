//! `POST /conversations/{id}/typing`: an org agent is typing a reply; the
//! WhatsApp contact sees a typing indicator (and, on Twilio, their message
//! marked read). Best effort, at most one per conversation per 10 s, and
//! only when the org turned typing indicators on (see
//! `shared::inbox::receipts`). Always 200 with `sent` and, when false, the
//! `reason`.

use lambda_http::{Body, Request, Response};
use shared::inbox::receipts::typing;
use shared::{ApiError, App, http};

pub async fn handle(app: &App, req: Request) -> Response<Body> {
    http::respond(run(app, &req).await)
}

async fn run(app: &App, req: &Request) -> Result<Response<Body>, ApiError> {
    let caller = app.auth.caller(req)?;
    let id = http::path_param(req, "id").ok_or(ApiError::NotFound)?;
    let view = typing(app, &caller, &id).await?;
    Ok(http::json(200, &view))
}

/// The sample events in `events/` are this function's input.
#[cfg(test)]
mod tests {
    #[test]
    fn when_the_sample_event_send_typing_is_replayed_it_should_be_this_route() {
        let event = include_str!("../../../events/send-typing.json");
        let req = shared::lambda::sample_request(
            event,
            "POST",
            "/conversations/conv_f6f127e101a26ea36e0570c3ee/typing",
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
}
