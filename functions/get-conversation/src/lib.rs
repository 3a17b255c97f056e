//! `GET /conversations/{id}`: participants, read horizons, analytics.

use lambda_http::{Body, Request, Response};
use shared::conversation::access::load_visible;
use shared::conversation::views::ConversationView;
use shared::{ApiError, App, http};

pub async fn handle(app: &App, req: Request) -> Response<Body> {
    http::respond(run(app, &req).await)
}

async fn run(app: &App, req: &Request) -> Result<Response<Body>, ApiError> {
    let caller = app.auth.caller(req)?;
    let id = http::path_param(req, "id").ok_or(ApiError::NotFound)?;
    let head = load_visible(app, &caller, &id).await?;
    Ok(http::json(200, &ConversationView::of(&head, &caller)))
}
