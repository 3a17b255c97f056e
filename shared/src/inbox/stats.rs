//! Per-provider statistics of an org's inbox.

use crate::app::Core;
use crate::auth::{Caller, UserType};
use crate::clock::format_ts;
use crate::error::ApiError;
use crate::ports::InboxStore;

/// `GET /stats/providers`: the caller's org, per provider.
pub async fn provider_stats(
    app: &Core<impl InboxStore>,
    caller: &Caller,
    org_param: Option<&str>,
) -> Result<serde_json::Value, ApiError> {
    let org = match (caller.user_type, &caller.org_id) {
        (UserType::Agent, Some(org)) => org.clone(),
        (UserType::Service, _) => org_param
            .filter(|o| !o.is_empty())
            .map(str::to_string)
            .ok_or_else(|| ApiError::unprocessable("missing_org_id", "org_id is required"))?,
        _ => {
            return Err(ApiError::forbidden(
                "agents_only",
                "provider statistics are for an org's agents",
            ));
        }
    };
    let now = app.clock.now();
    let since = format_ts(now - chrono::Duration::hours(24));
    let providers = app.store.provider_stats(&org, &since).await?;
    Ok(serde_json::json!({"org_id": org, "as_of": format_ts(now), "providers": providers}))
}
