//! `GET /conversations/{id}/messages`: stored messages, cursor paginated.

use lambda_http::{Body, Request, Response};
use shared::chat::listing::get_messages;
use shared::{ApiError, Core, http};

pub async fn handle(app: &Core, req: Request) -> Response<Body> {
    http::respond(run(app, &req).await)
}

async fn run(app: &Core, req: &Request) -> Result<Response<Body>, ApiError> {
    let caller = app.auth.caller(req)?;
    let id = http::path_param(req, "id").ok_or(ApiError::NotFound)?;
    let ascending = match http::query_param(req, "order").as_deref() {
        None | Some("asc") => true,
        Some("desc") => false,
        Some(_) => {
            return Err(ApiError::bad_request(
                "invalid_order",
                "order must be asc or desc",
            ));
        }
    };
    let limit = http::page_limit(req)?;
    let cursor = http::query_param(req, "cursor");
    let page = get_messages(app, &caller, &id, ascending, limit, cursor.as_deref()).await?;
    Ok(http::json(200, &page))
}

/// The sample events in `events/` are this function's input.
#[cfg(test)]
mod tests {
    #[test]
    fn when_the_sample_event_get_messages_is_replayed_it_should_be_this_route() {
        let event = include_str!("../../../events/get-messages.json");
        let req = shared::lambda::sample_request(
            event,
            "GET",
            "/conversations/conv_bc48589a3766427a5be76f2138/messages",
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
