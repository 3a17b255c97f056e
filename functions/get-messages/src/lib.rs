//! `GET /conversations/{id}/messages`: stored messages, cursor paginated.

use lambda_http::{Body, Request, Response};
use shared::chat::listing::get_messages;
use shared::{ApiError, App, http};

pub async fn handle(app: &App, req: Request) -> Response<Body> {
    http::respond(run(app, &req).await)
}

async fn run(app: &App, req: &Request) -> Result<Response<Body>, ApiError> {
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
