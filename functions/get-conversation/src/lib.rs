//! `GET /conversations/{id}`: participants, read horizons, analytics.

use lambda_http::{Body, Request, Response};
use shared::conversation::access::load_visible;
use shared::conversation::views::ConversationView;
use shared::{ApiError, Core, http};

pub async fn handle(app: &Core, req: Request) -> Response<Body> {
    http::respond(run(app, &req).await)
}

async fn run(app: &Core, req: &Request) -> Result<Response<Body>, ApiError> {
    let caller = app.auth.caller(req)?;
    let id = http::path_param(req, "id").ok_or(ApiError::NotFound)?;
    let head = load_visible(app, &caller, &id).await?;
    Ok(http::json(200, &ConversationView::of(&head, &caller)))
}

/// The sample events in `events/` are this function's input.
#[cfg(test)]
mod tests {
    #[test]
    fn when_the_sample_event_get_conversation_is_replayed_it_should_be_this_route() {
        let event = include_str!("../../../events/get-conversation.json");
        let req = shared::lambda::sample_request(
            event,
            "GET",
            "/conversations/conv_bc48589a3766427a5be76f2138",
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
