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

/// The sample events in `events/` (the ones `cargo lambda invoke` and
/// `sam local invoke` use) parse as this function's input.
#[cfg(test)]
mod tests {
    #[test]
    fn when_the_sample_event_mark_as_read_is_replayed_it_should_be_this_route() {
        let req = lambda_http::request::from_str(include_str!("../../../events/mark-as-read.json"))
            .expect("events/mark-as-read.json is an API Gateway HTTP API event");
        assert_eq!(req.method().as_str(), "POST");
        assert_eq!(
            req.uri().path(),
            "/conversations/conv_bc48589a3766427a5be76f2138/read"
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
