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

/// The sample events in `events/` (the ones `cargo lambda invoke` and
/// `sam local invoke` use) parse as this function's input.
#[cfg(test)]
mod tests {
    #[test]
    fn when_the_sample_event_get_conversation_is_replayed_it_should_be_this_route() {
        let req =
            lambda_http::request::from_str(include_str!("../../../events/get-conversation.json"))
                .expect("events/get-conversation.json is an API Gateway HTTP API event");
        assert_eq!(req.method().as_str(), "GET");
        assert_eq!(
            req.uri().path(),
            "/conversations/conv_bc48589a3766427a5be76f2138"
        );
        assert_eq!(
            shared::http::path_param(&req, "id").as_deref(),
            Some("conv_bc48589a3766427a5be76f2138")
        );
        let caller = shared::auth::JwtVerifier::new(shared::auth::LOCAL_DEV_SECRET)
            .caller(&req)
            .expect("the event carries a valid local dev token");
        assert!(!caller.user_id.is_empty());
    }
}
