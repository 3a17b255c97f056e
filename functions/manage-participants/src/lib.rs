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

/// The sample events in `events/` are this function's input.
#[cfg(test)]
mod tests {
    #[test]
    fn when_the_sample_event_manage_participants_add_is_replayed_it_should_be_this_route() {
        let event = include_str!("../../../events/manage-participants-add.json");
        let req = shared::lambda::sample_request(
            event,
            "POST",
            "/conversations/conv_bc48589a3766427a5be76f2138/participants",
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

    #[test]
    fn when_the_sample_event_manage_participants_list_is_replayed_it_should_be_this_route() {
        let event = include_str!("../../../events/manage-participants-list.json");
        let req = shared::lambda::sample_request(
            event,
            "GET",
            "/conversations/conv_bc48589a3766427a5be76f2138/participants",
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

    #[test]
    fn when_the_sample_event_manage_participants_remove_is_replayed_it_should_be_this_route() {
        let event = include_str!("../../../events/manage-participants-remove.json");
        let req = shared::lambda::sample_request(
            event,
            "DELETE",
            "/conversations/conv_bc48589a3766427a5be76f2138/participants/prov_cleo",
        )
        .unwrap();
        assert_eq!(
            shared::http::path_param(&req, "id").as_deref(),
            Some("conv_bc48589a3766427a5be76f2138")
        );
        assert_eq!(
            shared::http::path_param(&req, "user_id").as_deref(),
            Some("prov_cleo")
        );
        assert!(
            shared::lambda::sample_caller(&req).is_ok(),
            "a valid local dev token"
        );
    }
}
