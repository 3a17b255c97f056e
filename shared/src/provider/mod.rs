//! The provider-neutral edge of the inbox. Each provider (Twilio, Meta's
//! WhatsApp Cloud API) has an adapter that turns its webhooks into
//! [`ProviderEvent`]s, and replies go out through `inbox::providers`; the
//! store, window, opt-out, status and stats rules (`inbox`) never see a
//! provider's wire format.
//!
//! | what a provider does      | Twilio (`twilio`, `inbox::inbound`) | Meta (`meta`) |
//! |---------------------------|-------------------------------------|---------------|
//! | verify a webhook          | `X-Twilio-Signature` (`ingest`)     | `X-Hub-Signature-256`, verify-token handshake (`meta::webhook`) |
//! | normalise inbound/status  | [`twilio_events`]                   | `meta::webhook::normalise` |
//! | send text/template/media  | Messages API                        | Graph `/{phone_number_id}/messages` |
//! | mark read + typing        | not wired (see README)              | Graph `status: read` + `typing_indicator` |

pub mod identity;

use chrono::{DateTime, Utc};
use serde_json::{Value, json};

use crate::domain::{Channel, Provider};
use crate::envelope::Envelope;

pub use identity::ContactIds;

/// One inbound message, whichever provider brought it.
#[derive(Clone, Debug, PartialEq)]
pub struct InboundMessage {
    pub provider: Provider,
    /// The provider's message id (Twilio `SM…`, Meta `wamid.…`): the
    /// natural key every write is idempotent on.
    pub message_id: String,
    /// The business side the message was sent to: a Twilio number
    /// (`whatsapp:+…` or `+…`) or a Meta phone number id.
    pub business_address: String,
    pub channel: Channel,
    /// Who wrote: business-scoped id and/or phone number.
    pub contact: ContactIds,
    pub profile_name: Option<String>,
    pub body: String,
    /// Media, location, button/list replies and the provider's raw fields.
    pub details: Value,
    /// When the provider says it was sent (Meta's `timestamp`).
    pub sent_at: Option<DateTime<Utc>>,
}

/// A delivery status of a message we sent.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StatusUpdate {
    pub message_id: String,
    /// The provider's status word (`sent`, `delivered`, `read`, `failed`…).
    pub status: String,
    pub error_code: Option<String>,
    /// The business side (Twilio: the number we sent from; Meta: the phone
    /// number id), when the provider says.
    pub business_address: Option<String>,
}

/// What one webhook delivery holds (a Meta delivery may batch several).
#[derive(Clone, Debug, PartialEq)]
pub enum ProviderEvent {
    Message(InboundMessage),
    Status(StatusUpdate),
    /// A sender no reply could reach (an SMS short code, an alphanumeric
    /// sender id): parked with its envelope for an operator.
    Unaddressable {
        message_id: String,
        business_address: String,
    },
    /// Understood and deliberately not stored (reactions, template or
    /// account updates, ...): acknowledged, logged with `what`.
    Skipped {
        what: String,
    },
}

/// A Twilio messaging webhook as neutral events: the inbound message, or
/// the status callback. Parameters are kept whole in the details.
pub fn twilio_events(env: &Envelope) -> Result<Vec<ProviderEvent>, String> {
    use crate::envelope::Kind;
    let sid = env
        .param("MessageSid")
        .or_else(|| env.param("SmsMessageSid"))
        .or_else(|| env.param("SmsSid"))
        .filter(|v| !v.is_empty())
        .ok_or("missing MessageSid")?;
    let required = |name: &str| {
        env.param(name)
            .filter(|v| !v.is_empty())
            .ok_or(format!("missing {name}"))
    };
    match env.kind {
        Kind::StatusCallback => Ok(vec![ProviderEvent::Status(StatusUpdate {
            message_id: sid.into(),
            status: required("MessageStatus")?.into(),
            error_code: env.param("ErrorCode").map(str::to_string),
            // A status of a message we sent: the business number is `From`.
            business_address: env.param("From").map(str::to_string),
        })]),
        _ => {
            let (from, to) = (required("From")?, required("To")?);
            let Some(contact) = ContactIds::from_twilio(env, from) else {
                return Ok(vec![ProviderEvent::Unaddressable {
                    message_id: sid.into(),
                    business_address: to.trim().into(),
                }]);
            };
            Ok(vec![ProviderEvent::Message(InboundMessage {
                provider: Provider::Twilio,
                message_id: sid.into(),
                business_address: to.trim().into(),
                channel: contact.channel,
                contact,
                profile_name: env
                    .param("ProfileName")
                    .filter(|n| !n.is_empty())
                    .map(str::to_string),
                body: env.param("Body").unwrap_or("").into(),
                details: Value::Null,
                sent_at: None,
            })])
        }
    }
}

/// Media, location and button replies as attachment metadata (the media
/// themselves follow into S3, see `inbox::media`), plus every parameter Twilio sent.
pub fn twilio_details(env: &Envelope, contact: &ContactIds) -> Value {
    let mut d = serde_json::Map::new();
    if let Some(u) = &contact.username {
        d.insert("username".into(), json!(u));
    }
    let num_media: usize = env
        .param("NumMedia")
        .and_then(|n| n.parse().ok())
        .unwrap_or(0);
    let media: Vec<Value> = (0..num_media.min(10))
        .filter_map(|i| {
            let url = env.param(&format!("MediaUrl{i}"))?;
            Some(json!({
                "url": url,
                "content_type": env.param(&format!("MediaContentType{i}")),
            }))
        })
        .collect();
    if !media.is_empty() {
        d.insert("media".into(), Value::Array(media));
    }
    if let (Some(lat), Some(lon)) = (env.param("Latitude"), env.param("Longitude")) {
        d.insert(
            "location".into(),
            json!({"latitude": lat, "longitude": lon,
                   "address": env.param("Address"), "label": env.param("Label")}),
        );
    }
    if env.param("ButtonText").is_some() || env.param("ButtonPayload").is_some() {
        d.insert(
            "button".into(),
            json!({"text": env.param("ButtonText"), "payload": env.param("ButtonPayload")}),
        );
    }
    d.insert(
        "twilio_params".into(),
        Value::Array(env.params.iter().map(|(k, v)| json!([k, v])).collect()),
    );
    Value::Object(d)
}
