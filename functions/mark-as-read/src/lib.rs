//! `POST /conversations/{id}/read`: move the caller's read horizon, zero unread.

use lambda_http::{Body, Request, Response};
use shared::chat::read::mark_read;
use shared::{ApiError, App, http};

pub async fn handle(app: &App, req: Request) -> Response<Body> {
    http::respond(run(app, &req).await)
}

async fn run(app: &App, req: &Request) -> Result<Response<Body>, ApiError> {
    let caller = app.auth.caller(req)?;
    let id = http::path_param(req, "id").ok_or(ApiError::NotFound)?;
    let read = mark_read(app, &caller, &id).await?;
    Ok(http::json(200, &read))
}

/// The sample events in `events/` are this function's input.
#[cfg(test)]
mod tests {
    #[test]
    fn when_the_sample_event_mark_as_read_is_replayed_it_should_be_this_route() {
        let event = include_str!("../../../events/mark-as-read.json");
        let req = shared::lambda::sample_request(
            event,
            "POST",
            "/conversations/conv_bc48589a3766427a5be76f2138/read",
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
