//! `GET|POST|DELETE /chat-accounts`: which Twilio number belongs to which
//! org (Twilio numbers, and Meta phone number ids with the org's access
//! token, which is never returned). Listing and removing: service tokens (any org) and org admins
//! (agents with `app_metadata.role = admin`, their own org). Registering a
//! number (`POST`) is for service tokens only: an admin could otherwise claim
//! another business's number and receive its customers. Credentials stay in
//! configuration, never in the table.

use lambda_http::{Body, Request, Response};
use serde::Deserialize;
use shared::auth::{Caller, UserType};
use shared::domain::{Address, Channel, Provider};
use shared::inbox::parked::replay_parked;
use shared::model::Secret;
use shared::ports::Storage;
use shared::store::{ChatAccount, PutAccount};
use shared::{ApiError, Core, http};

#[derive(Deserialize)]
struct AccountInput {
    /// `twilio` (default) or `meta`.
    #[serde(default)]
    provider: Option<String>,
    /// A Twilio number, or a Meta phone number id.
    address: String,
    #[serde(default)]
    org_id: Option<String>,
    /// Meta: the org's Graph API access token (never returned).
    #[serde(default)]
    access_token: Option<String>,
}

/// The provider named in a request (`twilio` when absent); `kommo` has no
/// numbers to register.
fn provider_of(raw: Option<&str>) -> Result<Provider, ApiError> {
    match raw.map(Provider::parse).transpose()? {
        None | Some(Provider::Twilio) => Ok(Provider::Twilio),
        Some(Provider::Meta) => Ok(Provider::Meta),
        Some(Provider::Kommo) => Err(ApiError::unprocessable(
            "provider_not_wired",
            "kommo conversations are imported and counted only; it has no numbers to register",
        )),
    }
}

/// A Meta phone number id: the digits Meta's WhatsApp Manager shows.
fn meta_number_id(s: &str) -> Result<String, ApiError> {
    let s = s.trim();
    if !s.is_empty() && s.len() <= 32 && s.bytes().all(|b| b.is_ascii_digit()) {
        Ok(s.to_string())
    } else {
        Err(ApiError::unprocessable(
            "invalid_address",
            "a Meta address is the phone number id (digits), not the phone number",
        ))
    }
}

/// `Storage`: managing accounts, and replaying the messages parked for a
/// number into its org's inbox.
pub async fn handle(app: &Core<impl Storage>, req: Request) -> Response<Body> {
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

async fn run(app: &Core<impl Storage>, req: &Request) -> Result<Response<Body>, ApiError> {
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
            let provider = provider_of(input.provider.as_deref())?;
            let (address, channel, access_token) = match provider {
                Provider::Meta => {
                    let token = input
                        .access_token
                        .filter(|t| {
                            !t.is_empty()
                                && t.len() <= 2048
                                && t.bytes().all(|b| b.is_ascii_graphic())
                        })
                        .ok_or_else(|| {
                            ApiError::unprocessable(
                                "missing_access_token",
                                "a Meta number needs the org's access_token (a system user token)",
                            )
                        })?;
                    (
                        meta_number_id(&input.address)?,
                        Channel::Whatsapp,
                        Some(Secret(token)),
                    )
                }
                _ => {
                    if input.access_token.is_some() {
                        return Err(ApiError::unprocessable(
                            "invalid_request",
                            "Twilio numbers take no access_token (credentials stay in configuration)",
                        ));
                    }
                    let address = Address::parse(&input.address)?;
                    (address.as_str().to_string(), address.channel(), None)
                }
            };
            let account = ChatAccount {
                provider,
                address,
                org_id: org,
                channel,
                created_at: shared::clock::format_ts(app.clock.now()),
                created_by: caller.user_id.clone(),
                access_token,
            };
            let (status, stored) = match app.store.put_chat_account(&account).await? {
                PutAccount::Created => (201, account),
                PutAccount::Unchanged(existing) => (200, existing),
                PutAccount::OwnedByOther => {
                    return Err(ApiError::conflict(
                        "address_taken",
                        "this address belongs to another org",
                    ));
                }
            };
            // What reached this number before it was registered lands in
            // the org's inbox now, exactly once (a repeated registration
            // replays what is left; see shared::inbox::parked).
            let replay = replay_parked(app, stored.provider, &stored.address).await?;
            let mut body = view(&stored);
            body["parked_replay"] = serde_json::json!(replay);
            Ok(http::json(status, &body))
        }
        "DELETE" => {
            let address = http::query_param(req, "address").ok_or_else(|| {
                ApiError::bad_request("missing_address", "the address query parameter is required")
            })?;
            let provider = provider_of(http::query_param(req, "provider").as_deref())?;
            let address = match provider {
                Provider::Meta => meta_number_id(&address)?,
                _ => Address::parse(&address)?.as_str().to_string(),
            };
            let org = org_for(&caller, http::query_param(req, "org_id").as_deref())?;
            if app
                .store
                .delete_chat_account(provider, &address, &org)
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

/// An account as the API shows it: never its access token.
fn view(a: &ChatAccount) -> serde_json::Value {
    let mut v = serde_json::json!({
        "provider": a.provider,
        "address": a.address,
        "channel": a.channel,
        "org_id": a.org_id,
        "created_at": a.created_at,
        "created_by": a.created_by,
    });
    if a.provider == Provider::Meta {
        v["has_access_token"] = serde_json::json!(a.access_token.is_some());
    }
    v
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
