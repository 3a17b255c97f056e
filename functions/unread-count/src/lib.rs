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

/// The sample events in `events/` are this function's input.
#[cfg(test)]
mod tests {
    #[test]
    fn when_the_sample_event_unread_count_is_replayed_it_should_be_this_route() {
        let event = include_str!("../../../events/unread-count.json");
        let req = shared::lambda::sample_request(event, "GET", "/me/unread").unwrap();
        assert!(
            shared::lambda::sample_caller(&req).is_ok(),
            "a valid local dev token"
        );
    }
}
