//! Read receipts and typing indicators for WhatsApp contacts, both best
//! effort, rate limited and behind the org's settings (`OrgSettings`, off
//! until an admin turns them on with `PUT /chat-accounts/settings`).
//!
//! - **Read receipts** (blue ticks): when an agent opens a conversation
//!   (`POST /conversations/{id}/read`), the contact's last message is marked
//!   read, once per message. Meta: `status: read`. Twilio has no read-only
//!   call for WhatsApp: its typing indicator marks the message read, so a
//!   Twilio contact sees blue ticks with the first typing indicator.
//! - **Typing** (`POST /conversations/{id}/typing`, while an agent types):
//!   Twilio's `POST /v2/Indicators/Typing.json`, Meta's `status: read` +
//!   `typing_indicator`. At most one per conversation per 10 s across every
//!   execution environment (a claim item in the table); WhatsApp shows it
//!   until the reply or for 25 s.
//!
//! Neither ever fails the agent's request: a provider refusal is logged
//! and answered as `sent: false`.

use chrono::{DateTime, Duration, Utc};
use serde::Serialize;

use crate::app::App;
use crate::auth::{Caller, UserType};
use crate::clock::format_ts;
use crate::conversation::access::load_visible;
use crate::domain::{AuthorType, Provider};
use crate::error::ApiError;
use crate::inbox::providers::credentials_of;
use crate::inbox::reply::WINDOW;
use crate::model::{ConversationMeta, InboxMeta};
use crate::ports::{AccountStore, ConversationStore, MessageStore, ProviderTransport};

/// One typing indicator per conversation per this long.
pub const TYPING_EVERY: Duration = Duration::seconds(10);

#[derive(Debug, Serialize, PartialEq, Eq)]
pub struct TypingView {
    pub conversation_id: String,
    /// Whether an indicator went to the provider.
    pub sent: bool,
    /// Why not, when not: `disabled`, `not_whatsapp`, `window_closed`,
    /// `no_inbound_message`, `rate_limited`, `provider_error`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<&'static str>,
}

/// The provider id of the contact's newest message (among the last 20).
async fn last_contact_message(
    app: &App<impl MessageStore, impl Sync>,
    conv: &str,
) -> Result<Option<String>, ApiError> {
    let (messages, _) = app.store.query_messages(conv, false, 20, None).await?;
    Ok(messages
        .into_iter()
        .find(|m| m.author_type == AuthorType::Contact)
        .and_then(|m| m.twilio_sid))
}

fn epoch(t: DateTime<Utc>) -> i64 {
    t.timestamp()
}

/// After an agent opened (marked read) an inbox conversation: mark the
/// contact's last message read at Meta, once. Never fails the caller.
pub async fn on_open(
    app: &App<impl AccountStore + MessageStore, impl ProviderTransport>,
    meta: &ConversationMeta,
) {
    let Some(inbox) = &meta.inbox else {
        return;
    };
    match read_receipt(app, &meta.id, inbox).await {
        Ok(Some(what)) => tracing::info!(what, "read receipt"),
        Ok(None) => {}
        Err(e) => tracing::warn!(error = %e, "read receipt not sent"),
    }
}

async fn read_receipt(
    app: &App<impl AccountStore + MessageStore, impl ProviderTransport>,
    conv: &str,
    inbox: &InboxMeta,
) -> Result<Option<&'static str>, ApiError> {
    // Twilio marks read only with a typing indicator (see the module docs).
    if inbox.provider != Provider::Meta || inbox.channel != "whatsapp" {
        return Ok(None);
    }
    if !app.store.org_settings(&inbox.org_id).await?.read_receipts {
        return Ok(None);
    }
    let Some(sid) = last_contact_message(app, conv).await? else {
        return Ok(None);
    };
    let now = app.clock.now();
    // Once per message, whoever opens it first ("" is never newer).
    let claimed = app
        .store
        .claim(
            &format!("RECEIPT#{sid}"),
            &format_ts(now),
            "",
            epoch(now + Duration::days(7)),
        )
        .await?;
    if !claimed {
        return Ok(Some("already sent"));
    }
    let creds = credentials_of(app, &inbox.org_id, Provider::Meta, &inbox.business_address).await?;
    app.meta
        .show_read(creds.auth(), &inbox.business_address, &sid, false)
        .await?;
    Ok(Some("sent"))
}

/// `POST /conversations/{id}/typing`: an agent of the org is typing.
pub async fn typing(
    app: &App<impl ConversationStore + AccountStore + MessageStore, impl ProviderTransport>,
    caller: &Caller,
    conv_id: &str,
) -> Result<TypingView, ApiError> {
    let head = load_visible(app, caller, conv_id).await?;
    let Some(inbox) = head.meta.inbox.clone() else {
        return Err(ApiError::unprocessable(
            "not_an_inbox_conversation",
            "typing indicators are for WhatsApp conversations with contacts",
        ));
    };
    if caller.user_type != UserType::Agent {
        return Err(ApiError::forbidden(
            "agents_only",
            "only the org's agents type to a contact",
        ));
    }
    let view = |sent: bool, reason: Option<&'static str>| TypingView {
        conversation_id: head.meta.id.clone(),
        sent,
        reason,
    };
    if inbox.channel != "whatsapp" || inbox.provider == Provider::Kommo {
        return Ok(view(false, Some("not_whatsapp")));
    }
    if !app
        .store
        .org_settings(&inbox.org_id)
        .await?
        .typing_indicators
    {
        return Ok(view(false, Some("disabled")));
    }
    let now = app.clock.now();
    let open = inbox
        .last_user_message_at
        .as_deref()
        .and_then(|t| DateTime::parse_from_rfc3339(t).ok())
        .is_some_and(|t| now < t.with_timezone(&Utc) + WINDOW);
    if !open {
        return Ok(view(false, Some("window_closed")));
    }
    let Some(sid) = last_contact_message(app, &head.meta.id).await? else {
        return Ok(view(false, Some("no_inbound_message")));
    };
    let claimed = app
        .store
        .claim(
            &format!("TYPING#{}", head.meta.id),
            &format_ts(now),
            &format_ts(now - TYPING_EVERY),
            epoch(now + Duration::minutes(5)),
        )
        .await?;
    if !claimed {
        return Ok(view(false, Some("rate_limited")));
    }
    let business = inbox.business_address.as_str();
    let sent = match credentials_of(app, &inbox.org_id, inbox.provider, business).await {
        Ok(creds) => match inbox.provider {
            Provider::Meta => app.meta.show_read(creds.auth(), business, &sid, true).await,
            _ => {
                app.twilio
                    .show_read(creds.auth(), business, &sid, true)
                    .await
            }
        },
        Err(e) => Err(e),
    };
    match sent {
        Ok(()) => Ok(view(true, None)),
        Err(e) => {
            tracing::warn!(error = %e, provider = inbox.provider.as_str(), "typing indicator not sent");
            Ok(view(false, Some("provider_error")))
        }
    }
}
