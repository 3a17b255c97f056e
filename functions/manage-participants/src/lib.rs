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

/// The sample events in `events/` (the ones `cargo lambda invoke` and
/// `sam local invoke` use) parse as this function's input.
#[cfg(test)]
mod tests {
    #[test]
    fn when_the_sample_event_manage_participants_add_is_replayed_it_should_be_this_route() {
        let req = lambda_http::request::from_str(include_str!(
            "../../../events/manage-participants-add.json"
        ))
        .expect("events/manage-participants-add.json is an API Gateway HTTP API event");
        assert_eq!(req.method().as_str(), "POST");
        assert_eq!(
            req.uri().path(),
            "/conversations/conv_bc48589a3766427a5be76f2138/participants"
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

    #[test]
    fn when_the_sample_event_manage_participants_list_is_replayed_it_should_be_this_route() {
        let req = lambda_http::request::from_str(include_str!(
            "../../../events/manage-participants-list.json"
        ))
        .expect("events/manage-participants-list.json is an API Gateway HTTP API event");
        assert_eq!(req.method().as_str(), "GET");
        assert_eq!(
            req.uri().path(),
            "/conversations/conv_bc48589a3766427a5be76f2138/participants"
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

    #[test]
    fn when_the_sample_event_manage_participants_remove_is_replayed_it_should_be_this_route() {
        let req = lambda_http::request::from_str(include_str!(
            "../../../events/manage-participants-remove.json"
        ))
        .expect("events/manage-participants-remove.json is an API Gateway HTTP API event");
        assert_eq!(req.method().as_str(), "DELETE");
        assert_eq!(
            req.uri().path(),
            "/conversations/conv_bc48589a3766427a5be76f2138/participants/prov_cleo"
        );
        assert_eq!(
            shared::http::path_param(&req, "id").as_deref(),
            Some("conv_bc48589a3766427a5be76f2138")
        );
        assert_eq!(
            shared::http::path_param(&req, "user_id").as_deref(),
            Some("prov_cleo")
        );
        let caller = shared::auth::JwtVerifier::new(shared::auth::LOCAL_DEV_SECRET)
            .caller(&req)
            .expect("the event carries a valid local dev token");
        assert!(!caller.user_id.is_empty());
    }
}
