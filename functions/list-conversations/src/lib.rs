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

/// The sample events in `events/` are this function's input.
#[cfg(test)]
mod tests {
    #[test]
    fn when_the_sample_event_list_conversations_is_replayed_it_should_be_this_route() {
        let event = include_str!("../../../events/list-conversations.json");
        let req = shared::lambda::sample_request(event, "GET", "/conversations").unwrap();
        assert!(
            shared::lambda::sample_caller(&req).is_ok(),
            "a valid local dev token"
        );
    }
}
