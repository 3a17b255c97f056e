//! An agent starts a WhatsApp/SMS conversation with a contact who has
//! never written: `POST /conversations` with `conversation_type`
//! `whatsapp` or `sms`, the org's number and the contact's address.
//!
//! It opens (or finds) the contact's conversation under the id a message
//! from that contact would derive, so the contact's answer lands in it.
//! The first message is then sent like any reply
//! (`POST /conversations/{id}/messages`): on WhatsApp only an approved
//! template (`content_sid`) until the contact answers, since the 24-hour
//! window has not opened ([`super::reply::check_window`]); SMS has no window.
//!
//! With `"provider": "meta"` the business address is the org's Meta phone
//! number id and the contact `whatsapp:+E164`; the first message is a Meta
//! template (`template: {name, language}`).

use serde::Deserialize;

use crate::app::Core;
use crate::auth::{Caller, UserType};
use crate::clock::format_ts;
use crate::conversation::access::load_visible;
use crate::conversation::views::ConversationView;
use crate::domain::{Address, Channel, ConversationStatus, Provider, inbox_conversation_id};
use crate::error::ApiError;
use crate::model::InboxImport;
use crate::ports::{AccountStore, ContactStore, ConversationStore, InboxStore};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StartInput {
    /// `whatsapp` or `sms`.
    pub conversation_type: String,
    /// `twilio` (default) or `meta` (WhatsApp only).
    #[serde(default)]
    pub provider: Option<String>,
    /// The org's registered Twilio number (`whatsapp:+E164` or `+E164`),
    /// or its Meta phone number id.
    pub business_address: String,
    /// The contact's address, on the same channel.
    pub contact_address: String,
    #[serde(default)]
    pub contact_name: Option<String>,
    /// Service tokens name the org; agents act for their own.
    #[serde(default)]
    pub org_id: Option<String>,
}

/// Whether a `POST /conversations` body asks for an inbox conversation.
pub fn is_start_request(conversation_type: Option<&str>) -> bool {
    matches!(conversation_type, Some("whatsapp" | "sms"))
}

/// Open (or find) the conversation; `true` when it was created.
pub async fn start_conversation(
    app: &Core<impl ConversationStore + InboxStore + AccountStore + ContactStore>,
    caller: &Caller,
    input: &StartInput,
) -> Result<(bool, ConversationView), ApiError> {
    let org = match caller.user_type {
        UserType::Agent => {
            let own = caller.org_id.clone().ok_or_else(|| {
                ApiError::forbidden("agents_only", "an agent token without an org_id")
            })?;
            if input.org_id.as_deref().is_some_and(|o| o != own) {
                return Err(ApiError::forbidden(
                    "agents_only",
                    "agents start conversations for their own org only",
                ));
            }
            own
        }
        UserType::Service => input
            .org_id
            .clone()
            .filter(|o| !o.is_empty())
            .ok_or_else(|| ApiError::unprocessable("missing_org_id", "org_id is required"))?,
        _ => {
            return Err(ApiError::forbidden(
                "agents_only",
                "only the org's agents start WhatsApp/SMS conversations",
            ));
        }
    };
    let channel = Channel::parse(&input.conversation_type)?;
    let provider = match input.provider.as_deref().map(Provider::parse).transpose()? {
        None | Some(Provider::Twilio) => Provider::Twilio,
        Some(Provider::Meta) if channel == Channel::Whatsapp => Provider::Meta,
        Some(Provider::Meta) => {
            return Err(ApiError::unprocessable(
                "channel_mismatch",
                "Meta's WhatsApp Cloud API carries whatsapp conversations only",
            ));
        }
        Some(Provider::Kommo) => {
            return Err(ApiError::unprocessable(
                "provider_not_wired",
                "Kommo conversations are imported and counted only",
            ));
        }
    };
    let contact = Address::parse(&input.contact_address)?;
    let business = match provider {
        Provider::Meta => {
            let id = input.business_address.trim();
            if id.is_empty() || id.len() > 32 || !id.bytes().all(|b| b.is_ascii_digit()) {
                return Err(ApiError::unprocessable(
                    "invalid_address",
                    "a Meta business_address is the phone number id (digits)",
                ));
            }
            id.to_string()
        }
        _ => {
            let b = Address::parse(&input.business_address)?;
            if b.channel() != channel {
                return Err(ApiError::unprocessable(
                    "channel_mismatch",
                    "business_address and contact_address must both be on the conversation's channel \
                     (whatsapp:+E164 for whatsapp, +E164 for sms)",
                ));
            }
            b.as_str().to_string()
        }
    };
    if contact.channel() != channel {
        return Err(ApiError::unprocessable(
            "channel_mismatch",
            "business_address and contact_address must both be on the conversation's channel \
             (whatsapp:+E164 for whatsapp, +E164 for sms)",
        ));
    }
    let contact_name = match input.contact_name.as_deref().map(str::trim) {
        Some(n) if n.chars().count() > 100 => {
            return Err(ApiError::unprocessable(
                "invalid_contact_name",
                "contact_name is at most 100 characters",
            ));
        }
        Some(n) if !n.is_empty() => Some(n),
        _ => None,
    };
    // The org's own registered number only; another org's number answers
    // the same as an unknown one.
    match app.store.chat_account(provider, &business).await? {
        Some(acc) if acc.org_id == org => {}
        _ => {
            return Err(ApiError::unprocessable(
                "unknown_business_number",
                "business_address is not a number registered to this org",
            ));
        }
    }
    // A contact already linked to a conversation (first seen by its
    // business-scoped id) keeps it.
    let linked = app
        .store
        .contact_links(&org, provider, &[contact.as_str().to_string()])
        .await?
        .into_iter()
        .next()
        .map(|(_, conv)| conv);
    let derived =
        inbox_conversation_id(&org, provider.as_str(), channel.as_str(), contact.as_str());
    let (id, created) = match linked {
        Some(conv) if conv != derived => (conv, false),
        _ => {
            let now = format_ts(app.clock.now());
            app.store
                .import_conversation(&InboxImport {
                    org_id: &org,
                    provider,
                    channel: channel.as_str(),
                    contact_address: Some(contact.as_str()),
                    kommo_chat_id: None,
                    status: ConversationStatus::Active,
                    created_at: &now,
                    last_user_message_at: None,
                    business_address: Some(&business),
                    contact_name,
                    created_by: Some(&caller.user_id),
                })
                .await?
        }
    };
    let head = load_visible(app, caller, &id).await?;
    Ok((created, ConversationView::of(&head, caller)))
}
