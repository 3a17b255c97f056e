//! `GET|POST|DELETE /chat-accounts`: which Twilio number belongs to which
//! org (Twilio numbers, optionally of the org's own Twilio account with its
//! credentials, and Meta phone number ids with the org's access token;
//! credentials are never returned). Listing and removing: service tokens
//! (any org) and org admins (agents with `app_metadata.role = admin`, their
//! own org). Registering (`POST`): service tokens directly; org admins only
//! with credentials that prove the number is theirs (Twilio: among the
//! account's `IncomingPhoneNumbers`; Meta: the phone number id answers to
//! the token), since an admin could otherwise claim another business's
//! number and receive its customers. A Twilio account's credentials go to
//! the credential store (`shared::vault`, Secrets Manager), never the table.

use lambda_http::{Body, Request, Response};
use serde::Deserialize;
use shared::auth::{Caller, UserType};
use shared::domain::{Address, Channel, Provider};
use shared::inbox::parked::replay_parked;
use shared::model::Secret;
use shared::ownership::OwnershipCheck;
use shared::ports::Storage;
use shared::store::{ChatAccount, PutAccount};
use shared::vault::{MetaToken, PutCredentials, TwilioAccount, is_account_sid, is_api_key_sid};
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
    /// Twilio: the org's own account (`AC…`) the number belongs to, with
    /// its auth token (webhooks are signed with it) and optionally an API
    /// key pair for REST calls. Never returned.
    #[serde(default)]
    account_sid: Option<String>,
    #[serde(default)]
    auth_token: Option<String>,
    #[serde(default)]
    api_key_sid: Option<String>,
    #[serde(default)]
    api_key_secret: Option<String>,
}

/// A credential as given: printable ASCII of a sane length.
fn credential(v: Option<String>, name: &str, max: usize) -> Result<Option<Secret>, ApiError> {
    match v {
        None => Ok(None),
        Some(v) if (16..=max).contains(&v.len()) && v.bytes().all(|b| b.is_ascii_graphic()) => {
            Ok(Some(Secret(v)))
        }
        Some(_) => Err(ApiError::unprocessable(
            "invalid_credentials",
            format!("{name} must be 16 to {max} printable characters"),
        )),
    }
}

/// The org's own Twilio account given with a number, if any.
fn twilio_account(input: &mut AccountInput, org: &str) -> Result<Option<TwilioAccount>, ApiError> {
    let bad = |code: &'static str, m: &str| ApiError::unprocessable(code, m.to_string());
    let auth_token = credential(input.auth_token.take(), "auth_token", 256)?;
    let key_secret = credential(input.api_key_secret.take(), "api_key_secret", 256)?;
    let (sid, token) = match (input.account_sid.take(), auth_token) {
        (None, None) if input.api_key_sid.is_none() && key_secret.is_none() => return Ok(None),
        (Some(sid), Some(token)) => (sid, token),
        _ => {
            return Err(bad(
                "missing_credentials",
                "an org's Twilio account needs account_sid and auth_token (Twilio signs the account's webhooks with it)",
            ));
        }
    };
    if !is_account_sid(&sid) {
        return Err(bad(
            "invalid_account_sid",
            "account_sid must be a Twilio account SID (AC + 32 hex digits)",
        ));
    }
    let api_key = match (input.api_key_sid.take(), key_secret) {
        (None, None) => None,
        (Some(k), Some(secret)) if is_api_key_sid(&k) => Some((k, secret)),
        _ => {
            return Err(bad(
                "invalid_api_key",
                "an API key is api_key_sid (SK + 32 hex digits) and api_key_secret, both",
            ));
        }
    };
    Ok(Some(TwilioAccount {
        account_sid: sid,
        org_id: org.to_string(),
        auth_token: token,
        api_key,
    }))
}

/// Ownership could not be proven: the admin's registration is refused.
fn unproven(what: &str) -> ApiError {
    ApiError::forbidden(
        "ownership_unverified",
        format!(
            "the credentials given do not own this {what}; an org admin registers only numbers its credentials prove are its own"
        ),
    )
}

/// The credential store did not answer: nothing the caller did is wrong.
fn credentials_unavailable(e: shared::vault::VaultError) -> ApiError {
    tracing::warn!(error = %e, "credential store failed");
    ApiError::Unavailable {
        code: "credentials_unavailable",
        message: "the credential store did not answer; retry".into(),
    }
}

/// The check could not run (the provider did not answer): retry later.
fn check_unavailable(e: shared::transport::TwilioError) -> ApiError {
    tracing::warn!(error = %e, "ownership check failed to run");
    ApiError::Unavailable {
        code: "ownership_check_unavailable",
        message: "the provider could not be asked whether the number is yours; retry".into(),
    }
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
/// number into its org's inbox; `check`: the ownership proof an org admin's
/// registration needs.
pub async fn handle(
    app: &Core<impl Storage>,
    check: &OwnershipCheck,
    req: Request,
) -> Response<Body> {
    http::respond(run(app, check, &req).await)
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

async fn run(
    app: &Core<impl Storage>,
    check: &OwnershipCheck,
    req: &Request,
) -> Result<Response<Body>, ApiError> {
    let caller = app.auth.caller(req)?;
    if req
        .uri()
        .path()
        .trim_end_matches('/')
        .ends_with("/chat-accounts/settings")
    {
        return settings(app, &caller, req).await;
    }
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
            let mut input: AccountInput = http::parse_json(req)?;
            let org = org_for(&caller, input.org_id.as_deref())?;
            let provider = provider_of(input.provider.as_deref())?;
            // Services register directly; an admin proves ownership.
            let must_prove = !caller.is_service();
            let mut org_account = None;
            let (address, channel, access_token) = match provider {
                Provider::Meta => {
                    if input.account_sid.is_some() || input.auth_token.is_some() {
                        return Err(ApiError::unprocessable(
                            "invalid_request",
                            "a Meta number takes an access_token, not Twilio credentials",
                        ));
                    }
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
                    let id = meta_number_id(&input.address)?;
                    if must_prove
                        && !check
                            .meta_number(&id, &token)
                            .await
                            .map_err(check_unavailable)?
                    {
                        return Err(unproven("phone number id"));
                    }
                    (id, Channel::Whatsapp, Some(Secret(token)))
                }
                _ => {
                    if input.access_token.is_some() {
                        return Err(ApiError::unprocessable(
                            "invalid_request",
                            "Twilio numbers take no access_token (an org's own account: account_sid and auth_token)",
                        ));
                    }
                    let address = Address::parse(&input.address)?;
                    org_account = twilio_account(&mut input, &org)?;
                    if org_account.is_some() && !app.vault.is_enabled() {
                        return Err(ApiError::unprocessable(
                            "credentials_not_configured",
                            "this install keeps no per-org Twilio credentials (CREDENTIALS_PREFIX is not set)",
                        ));
                    }
                    if must_prove {
                        let Some(acc) = &org_account else {
                            return Err(ApiError::forbidden(
                                "ownership_unverified",
                                "an org admin registers a Twilio number with its account's credentials \
                                 (account_sid, auth_token), which must own the number",
                            ));
                        };
                        if !check
                            .twilio_number(acc, address.as_str())
                            .await
                            .map_err(check_unavailable)?
                        {
                            return Err(unproven("number"));
                        }
                    }
                    (address.as_str().to_string(), address.channel(), None)
                }
            };
            if let Some(acc) = &org_account {
                let stored = app
                    .vault
                    .put_twilio_account(acc)
                    .await
                    .map_err(credentials_unavailable)?;
                if stored == PutCredentials::OwnedByOther {
                    return Err(ApiError::conflict(
                        "account_taken",
                        "this Twilio account is registered to another org",
                    ));
                }
            }
            // A Meta token goes to the credential store once the number is
            // this org's (the chat account decides); without a store it is
            // kept on the chat account item, as before.
            let (table_token, vault_token) = match access_token {
                Some(t) if app.vault.is_enabled() => (None, Some(t)),
                t => (t, None),
            };
            let account = ChatAccount {
                provider,
                address,
                org_id: org,
                channel,
                created_at: shared::clock::format_ts(app.clock.now()),
                created_by: caller.user_id.clone(),
                access_token: table_token,
                twilio_account_sid: org_account.map(|a| a.account_sid),
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
            if let Some(token) = vault_token {
                let token = MetaToken {
                    phone_number_id: stored.address.clone(),
                    org_id: stored.org_id.clone(),
                    access_token: token,
                };
                app.vault
                    .put_meta_token(&token)
                    .await
                    .map_err(credentials_unavailable)?;
            }
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
            // A Meta number's token goes first (and for good), so a removed
            // number leaves no credential behind; only its own org's.
            if provider == Provider::Meta && app.vault.is_enabled() {
                let owned = app
                    .store
                    .chat_account(provider, &address)
                    .await?
                    .is_some_and(|a| a.org_id == org);
                if !owned {
                    return Err(ApiError::NotFound);
                }
                app.vault
                    .delete_meta_token(&address)
                    .await
                    .map_err(credentials_unavailable)?;
            }
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

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SettingsInput {
    #[serde(default)]
    org_id: Option<String>,
    #[serde(default)]
    read_receipts: Option<bool>,
    #[serde(default)]
    typing_indicators: Option<bool>,
}

/// `GET|PUT /chat-accounts/settings`: the org's read receipts and typing
/// indicators (both off until turned on; `PUT` changes the fields given).
/// Service tokens (any org) and org admins (their own).
async fn settings(
    app: &Core<impl Storage>,
    caller: &Caller,
    req: &Request,
) -> Result<Response<Body>, ApiError> {
    let view = |org: &str, s: &shared::model::OrgSettings| {
        serde_json::json!({
            "org_id": org,
            "read_receipts": s.read_receipts,
            "typing_indicators": s.typing_indicators,
        })
    };
    match req.method().as_str() {
        "GET" => {
            let org = org_for(caller, http::query_param(req, "org_id").as_deref())?;
            let current = app.store.org_settings(&org).await?;
            Ok(http::json(200, &view(&org, &current)))
        }
        "PUT" => {
            let input: SettingsInput = http::parse_json(req)?;
            let org = org_for(caller, input.org_id.as_deref())?;
            let mut next = app.store.org_settings(&org).await?;
            next.read_receipts = input.read_receipts.unwrap_or(next.read_receipts);
            next.typing_indicators = input.typing_indicators.unwrap_or(next.typing_indicators);
            let at = shared::clock::format_ts(app.clock.now());
            app.store.put_org_settings(&org, &next, &at).await?;
            Ok(http::json(200, &view(&org, &next)))
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
        // Registering a Meta number requires its token (kept in the
        // credential store, or on the item without one).
        v["has_access_token"] = serde_json::json!(true);
    }
    if let Some(sid) = &a.twilio_account_sid {
        // The SID names the account; its credentials are never shown.
        v["twilio_account_sid"] = serde_json::json!(sid);
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
