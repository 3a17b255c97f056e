//! `GET /me/unread`: the caller's total unread count (one GetItem).

use lambda_http::{Body, Request, Response};
use shared::chat::read::unread_total;
use shared::{ApiError, Core, http};

pub async fn handle(app: &Core, req: Request) -> Response<Body> {
    http::respond(run(app, &req).await)
}

async fn run(app: &Core, req: &Request) -> Result<Response<Body>, ApiError> {
    let caller = app.auth.caller(req)?;
    let total = unread_total(app, &caller).await?;
    Ok(http::json(
        200,
        &serde_json::json!({"user_id": caller.user_id, "unread_count": total}),
    ))
}

/// The sample events in `events/` (the ones `cargo lambda invoke` and
/// `sam local invoke` use) parse as this function's input.
#[cfg(test)]
mod tests {
    #[test]
    fn when_the_sample_event_unread_count_is_replayed_it_should_be_this_route() {
        let req = lambda_http::request::from_str(include_str!("../../../events/unread-count.json"))
            .expect("events/unread-count.json is an API Gateway HTTP API event");
        assert_eq!(req.method().as_str(), "GET");
        assert_eq!(req.uri().path(), "/me/unread");
        let caller = shared::auth::JwtVerifier::new(shared::auth::LOCAL_DEV_SECRET)
            .caller(&req)
            .expect("the event carries a valid local dev token");
        assert!(!caller.user_id.is_empty());
    }
}
