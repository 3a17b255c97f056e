//! `GET|POST /conversations/{id}/participants`,
//! `DELETE /conversations/{id}/participants/{user_id}`.

use lambda_http::{Body, Request, Response};
use shared::chat::create::ParticipantInput;
use shared::chat::participants;
use shared::{ApiError, App, http};

pub async fn handle(app: &App, req: Request) -> Response<Body> {
    http::respond(run(app, &req).await)
}

async fn run(app: &App, req: &Request) -> Result<Response<Body>, ApiError> {
    let caller = app.auth.caller(req)?;
    let id = http::path_param(req, "id").ok_or(ApiError::NotFound)?;
    let user = http::path_param(req, "user_id");
    match (req.method().as_str(), user) {
        ("GET", None) => {
            let list = participants::list_participants(app, &caller, &id).await?;
            Ok(http::json(
                200,
                &serde_json::json!({ "participants": list }),
            ))
        }
        ("POST", None) => {
            let input: ParticipantInput = http::parse_json(req)?;
            let (created, view) = participants::add_participant(app, &caller, &id, &input).await?;
            Ok(http::json(if created { 201 } else { 200 }, &view))
        }
        ("DELETE", Some(user)) => {
            participants::remove_participant(app, &caller, &id, &user).await?;
            Ok(Response::builder()
                .status(204)
                .body(Body::Empty)
                .unwrap_or_default())
        }
        _ => Err(ApiError::MethodNotAllowed),
    }
}
