//! `GET|POST|DELETE /chat-accounts`: which Twilio number belongs to which
//! org. Listing and removing: service tokens (any org) and org admins
//! (agents with `app_metadata.role = admin`, their own org). Registering a
//! number (`POST`) is for service tokens only: an admin could otherwise claim
//! another business's number and receive its customers. Credentials stay in
//! configuration, never in the table.

use lambda_http::{Body, Request, Response};
use serde::Deserialize;
use shared::auth::{Caller, UserType};
use shared::domain::{Address, Provider};
use shared::ports::AccountStore;
use shared::store::{ChatAccount, PutAccount};
use shared::{ApiError, Core, http};

#[derive(Deserialize)]
struct AccountInput {
    address: String,
    #[serde(default)]
    org_id: Option<String>,
}

pub async fn handle(app: &Core<impl AccountStore>, req: Request) -> Response<Body> {
    http::respond(run(app, &req).await)
}

/// The org the caller may manage: a service names it, an admin has one.
fn org_for(caller: &Caller, requested: Option<&str>) -> Result<String, ApiError> {
    let forbidden = || {
        ApiError::forbidden(
            "admin_only",
            "chat accounts are managed by a service token or an org admin",
        )
    };
    match caller.user_type {
        UserType::Service => requested
            .filter(|o| !o.is_empty())
            .map(str::to_string)
            .ok_or_else(|| ApiError::unprocessable("missing_org_id", "org_id is required")),
        UserType::Agent if caller.role.as_deref() == Some("admin") => {
            let own = caller.org_id.clone().ok_or_else(forbidden)?;
            match requested {
                Some(o) if o != own => Err(forbidden()),
                _ => Ok(own),
            }
        }
        _ => Err(forbidden()),
    }
}

async fn run(app: &Core<impl AccountStore>, req: &Request) -> Result<Response<Body>, ApiError> {
    let caller = app.auth.caller(req)?;
    match req.method().as_str() {
        "GET" => {
            let org = org_for(&caller, http::query_param(req, "org_id").as_deref())?;
            let accounts = app.store.org_chat_accounts(&org).await?;
            let mut body = serde_json::json!({
                "org_id": org,
                "items": accounts.iter().map(view).collect::<Vec<_>>(),
            });
            if caller.is_service() {
                let parked = app.store.list_unroutable(50).await?;
                body["unroutable"] = parked
                    .into_iter()
                    .map(|(received_at, sid, to)| {
                        serde_json::json!({"received_at": received_at, "message_sid": sid, "to": to})
                    })
                    .collect();
            }
            Ok(http::json(200, &body))
        }
        "POST" => {
            if !caller.is_service() {
                return Err(ApiError::forbidden(
                    "service_only",
                    "registering a number for an org is for service tokens only",
                ));
            }
            let input: AccountInput = http::parse_json(req)?;
            let org = org_for(&caller, input.org_id.as_deref())?;
            let address = Address::parse(&input.address)?;
            let account = ChatAccount {
                provider: Provider::Twilio,
                address: address.as_str().into(),
                org_id: org,
                channel: address.channel(),
                created_at: shared::clock::format_ts(app.clock.now()),
                created_by: caller.user_id.clone(),
            };
            match app.store.put_chat_account(&account).await? {
                PutAccount::Created => Ok(http::json(201, &view(&account))),
                PutAccount::Unchanged(existing) => Ok(http::json(200, &view(&existing))),
                PutAccount::OwnedByOther => Err(ApiError::conflict(
                    "address_taken",
                    "this address belongs to another org",
                )),
            }
        }
        "DELETE" => {
            let address = http::query_param(req, "address").ok_or_else(|| {
                ApiError::bad_request("missing_address", "the address query parameter is required")
            })?;
            let address = Address::parse(&address)?;
            let org = org_for(&caller, http::query_param(req, "org_id").as_deref())?;
            if app
                .store
                .delete_chat_account(Provider::Twilio, address.as_str(), &org)
                .await?
            {
                Ok(Response::builder()
                    .status(204)
                    .body(Body::Empty)
                    .unwrap_or_default())
            } else {
                Err(ApiError::NotFound)
            }
        }
        _ => Err(ApiError::MethodNotAllowed),
    }
}

fn view(a: &ChatAccount) -> serde_json::Value {
    serde_json::json!({
        "provider": a.provider,
        "address": a.address,
        "channel": a.channel,
        "org_id": a.org_id,
        "created_at": a.created_at,
        "created_by": a.created_by,
    })
}

/// The sample events in `events/` are this function's input.
#[cfg(test)]
mod tests {
    #[test]
    fn when_the_sample_event_manage_chat_accounts_add_is_replayed_it_should_be_this_route() {
        let event = include_str!("../../../events/manage-chat-accounts-add.json");
        let req = shared::lambda::sample_request(event, "POST", "/chat-accounts").unwrap();
        assert!(
            shared::lambda::sample_caller(&req).is_ok(),
            "a valid local dev token"
        );
    }

    #[test]
    fn when_the_sample_event_manage_chat_accounts_list_is_replayed_it_should_be_this_route() {
        let event = include_str!("../../../events/manage-chat-accounts-list.json");
        let req = shared::lambda::sample_request(event, "GET", "/chat-accounts").unwrap();
        assert!(
            shared::lambda::sample_caller(&req).is_ok(),
            "a valid local dev token"
        );
    }

    #[test]
    fn when_the_sample_event_manage_chat_accounts_remove_is_replayed_it_should_be_this_route() {
        let event = include_str!("../../../events/manage-chat-accounts-remove.json");
        let req = shared::lambda::sample_request(event, "DELETE", "/chat-accounts").unwrap();
        assert!(
            shared::lambda::sample_caller(&req).is_ok(),
            "a valid local dev token"
        );
    }
}
