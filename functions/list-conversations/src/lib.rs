//! `GET /conversations`: the caller's conversations, newest activity first.

use lambda_http::{Body, Request, Response};
use shared::chat::listing::list_conversations;
use shared::{ApiError, Core, http};

pub async fn handle(app: &Core, req: Request) -> Response<Body> {
    http::respond(run(app, &req).await)
}

async fn run(app: &Core, req: &Request) -> Result<Response<Body>, ApiError> {
    let caller = app.auth.caller(req)?;
    let limit = http::page_limit(req)?;
    let cursor = http::query_param(req, "cursor");
    let booking = http::query_param(req, "booking_id");
    let page =
        list_conversations(app, &caller, limit, cursor.as_deref(), booking.as_deref()).await?;
    Ok(http::json(200, &page))
}

/// The sample events in `events/` (the ones `cargo lambda invoke` and
/// `sam local invoke` use) parse as this function's input.
#[cfg(test)]
mod tests {
    #[test]
    fn when_the_sample_event_list_conversations_is_replayed_it_should_be_this_route() {
        let req =
            lambda_http::request::from_str(include_str!("../../../events/list-conversations.json"))
                .expect("events/list-conversations.json is an API Gateway HTTP API event");
        assert_eq!(req.method().as_str(), "GET");
        assert_eq!(req.uri().path(), "/conversations");
        let caller = shared::auth::JwtVerifier::new(shared::auth::LOCAL_DEV_SECRET)
            .caller(&req)
            .expect("the event carries a valid local dev token");
        assert!(!caller.user_id.is_empty());
    }
}
