//! `PATCH /conversations/{id}` `{status: active|escalated|closed}`.

use lambda_http::{Body, Request, Response};
use serde::Deserialize;
use shared::chat::status::update_status;
use shared::{ApiError, App, http};

#[derive(Deserialize)]
struct UpdateInput {
    status: String,
}

pub async fn handle(app: &App, req: Request) -> Response<Body> {
    http::respond(run(app, &req).await)
}

async fn run(app: &App, req: &Request) -> Result<Response<Body>, ApiError> {
    let caller = app.auth.caller(req)?;
    let id = http::path_param(req, "id").ok_or(ApiError::NotFound)?;
    let input: UpdateInput = http::parse_json(req)?;
    let (_changed, view) = update_status(app, &caller, &id, &input.status).await?;
    Ok(http::json(200, &view))
}

/// The sample events in `events/` are this function's input.
#[cfg(test)]
mod tests {
    #[test]
    fn when_the_sample_event_update_conversation_is_replayed_it_should_be_this_route() {
        let event = include_str!("../../../events/update-conversation.json");
        let req = shared::lambda::sample_request(
            event,
            "PATCH",
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
