//! Meta's webhook, the pure part: the verify-token handshake (`GET`), the
//! signed delivery (`POST`) → envelope, and the processor's normalisation of
//! a delivery into provider-neutral events. Shapes: Meta's WhatsApp Cloud
//! API webhook reference (`object: whatsapp_business_account`, `entry[]
//! .changes[]` with `field: messages` and `value.{metadata, contacts,
//! messages, statuses}`), with the 2026 BSUID fields (`contacts[].user_id`,
//! `messages[].from_user_id`, `statuses[].recipient_user_id`).

use chrono::{DateTime, Utc};
use serde::Deserialize;
use serde_json::{Value, json};
use subtle::ConstantTimeEq;

use crate::domain::{Channel, Provider};
use crate::envelope::{Envelope, Source};
use crate::error::ApiError;
use crate::provider::identity::{e164, is_bsuid};
use crate::provider::{ContactIds, InboundMessage, ProviderEvent, StatusUpdate};

/// The route Meta calls (configured in the app's WhatsApp settings).
pub const PATH: &str = "/webhooks/meta";

/// Meta's deliveries are a few KB; anything this big is not Meta.
pub const MAX_BODY: usize = 256 * 1024;

#[derive(Clone, Debug)]
pub struct MetaWebhookConfig {
    /// `META_APP_SECRET` and, during a rotation, `META_APP_SECRET_SECONDARY`.
    pub app_secrets: Vec<String>,
    /// `META_VERIFY_TOKEN`: what the app's webhook settings were given.
    pub verify_token: String,
    pub queue_url: String,
}

impl MetaWebhookConfig {
    pub fn from_lookup(
        get: impl Fn(&str) -> Option<String>,
    ) -> Result<Self, crate::config::ConfigError> {
        use crate::config::ConfigError;
        let required = |name: &'static str| get(name).ok_or(ConfigError::Missing(name));
        let mut app_secrets = vec![required("META_APP_SECRET")?];
        app_secrets.extend(get("META_APP_SECRET_SECONDARY"));
        let verify_token = required("META_VERIFY_TOKEN")?;
        if verify_token.len() < 16 {
            return Err(ConfigError::Invalid {
                name: "META_VERIFY_TOKEN",
                why: "must be at least 16 characters".into(),
            });
        }
        Ok(Self {
            app_secrets,
            verify_token,
            queue_url: required("QUEUE_URL")?,
        })
    }
}

/// `GET /webhooks/meta?hub.mode=subscribe&hub.verify_token=…&hub.challenge=…`:
/// the challenge to echo, or 403 for a wrong token (400 for a request that
/// is no handshake at all).
pub fn handshake(cfg: &MetaWebhookConfig, raw_query: Option<&str>) -> Result<String, ApiError> {
    let pairs: Vec<(String, String)> = serde_urlencoded::from_str(raw_query.unwrap_or(""))
        .map_err(|_| ApiError::bad_request("invalid_query", "query string is not form-encoded"))?;
    let get = |k: &str| pairs.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str());
    if get("hub.mode") != Some("subscribe") {
        return Err(ApiError::bad_request(
            "invalid_handshake",
            "expected hub.mode=subscribe",
        ));
    }
    let token = get("hub.verify_token").unwrap_or("");
    let ok: bool = token.as_bytes().ct_eq(cfg.verify_token.as_bytes()).into();
    if !ok {
        return Err(ApiError::forbidden(
            "invalid_verify_token",
            "hub.verify_token does not match",
        ));
    }
    let challenge = get("hub.challenge").unwrap_or("");
    // Meta sends a number; anything else is echoed only if it is plainly text.
    if challenge.is_empty()
        || challenge.len() > 256
        || !challenge
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    {
        return Err(ApiError::bad_request(
            "invalid_handshake",
            "hub.challenge is missing or malformed",
        ));
    }
    Ok(challenge.to_string())
}

/// Check a `POST` delivery (size, JSON, signature of the raw body) and
/// turn it into the envelope to enqueue. The body is kept verbatim.
pub fn accept(
    cfg: &MetaWebhookConfig,
    content_type: Option<&str>,
    signature: Option<&str>,
    body: &[u8],
    received_at: String,
) -> Result<Envelope, ApiError> {
    if body.len() > MAX_BODY {
        return Err(ApiError::PayloadTooLarge);
    }
    let essence = content_type
        .and_then(|c| c.split(';').next())
        .map(str::trim)
        .unwrap_or("");
    if !essence.eq_ignore_ascii_case("application/json") {
        return Err(ApiError::UnsupportedMediaType);
    }
    let secrets: Vec<&str> = cfg.app_secrets.iter().map(String::as_str).collect();
    let valid = signature.is_some_and(|s| {
        let webhook = crate::ports::SignedWebhook {
            url: "",
            body,
            form: None,
            signature: s,
        };
        <super::MetaClient as crate::ports::ProviderTransport>::verify(&secrets, &webhook)
    });
    if !valid {
        return Err(ApiError::forbidden(
            "invalid_signature",
            "missing or invalid X-Hub-Signature-256",
        ));
    }
    let text = std::str::from_utf8(body)
        .map_err(|_| ApiError::bad_request("invalid_body", "body is not valid UTF-8"))?;
    match serde_json::from_str::<Value>(text) {
        Ok(Value::Object(_)) => {}
        _ => {
            return Err(ApiError::bad_request(
                "invalid_body",
                "body is not a JSON object",
            ));
        }
    }
    Ok(Envelope::new(
        Source::Meta,
        Vec::new(),
        Some(text.to_string()),
        None,
        received_at,
    ))
}

// ---- the payload -------------------------------------------------------

#[derive(Debug, Deserialize)]
struct Payload {
    #[serde(default)]
    object: String,
    #[serde(default)]
    entry: Vec<Entry>,
}

#[derive(Debug, Deserialize)]
struct Entry {
    #[serde(default)]
    changes: Vec<Change>,
}

#[derive(Debug, Deserialize)]
struct Change {
    #[serde(default)]
    field: String,
    #[serde(default)]
    value: Value,
}

#[derive(Debug, Default, Deserialize)]
struct MessagesValue {
    #[serde(default)]
    metadata: Option<Metadata>,
    #[serde(default)]
    contacts: Vec<Contact>,
    #[serde(default)]
    messages: Vec<Value>,
    #[serde(default)]
    statuses: Vec<Status>,
}

#[derive(Debug, Deserialize)]
struct Metadata {
    #[serde(default)]
    phone_number_id: Option<String>,
}

#[derive(Debug, Deserialize)]
struct Contact {
    #[serde(default)]
    profile: Option<Profile>,
    #[serde(default)]
    wa_id: Option<String>,
    #[serde(default)]
    user_id: Option<String>,
    #[serde(default)]
    parent_user_id: Option<String>,
}

#[derive(Debug, Deserialize)]
struct Profile {
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    username: Option<String>,
}

#[derive(Debug, Deserialize)]
struct Status {
    #[serde(default)]
    id: Option<String>,
    #[serde(default)]
    status: Option<String>,
    #[serde(default)]
    errors: Vec<GraphError>,
}

#[derive(Debug, Deserialize)]
struct GraphError {
    #[serde(default)]
    code: Option<i64>,
}

fn unix_time(v: &Value) -> Option<DateTime<Utc>> {
    let secs = match v {
        Value::String(s) => s.parse::<i64>().ok()?,
        Value::Number(n) => n.as_i64()?,
        _ => return None,
    };
    DateTime::from_timestamp(secs, 0)
}

fn str_at<'a>(v: &'a Value, path: &[&str]) -> Option<&'a str> {
    let mut cur = v;
    for p in path {
        cur = cur.get(p)?;
    }
    cur.as_str()
}

/// A Meta delivery as neutral events. `Err`: the body is not JSON at all
/// (it was checked at ingest, so this is a corrupt envelope).
pub fn normalise(body: &str) -> Result<Vec<ProviderEvent>, String> {
    let payload: Payload =
        serde_json::from_str(body).map_err(|e| format!("meta webhook body: {e}"))?;
    if payload.object != "whatsapp_business_account" {
        return Ok(vec![ProviderEvent::Skipped {
            what: format!("object {}", crate::domain::truncate(&payload.object, 40)),
        }]);
    }
    let mut events = Vec::new();
    for change in payload.entry.iter().flat_map(|e| &e.changes) {
        if change.field != "messages" {
            events.push(ProviderEvent::Skipped {
                what: format!("field {}", crate::domain::truncate(&change.field, 40)),
            });
            continue;
        }
        let value: MessagesValue = match serde_json::from_value(change.value.clone()) {
            Ok(v) => v,
            Err(_) => {
                events.push(ProviderEvent::Skipped {
                    what: "malformed messages value".into(),
                });
                continue;
            }
        };
        let Some(phone_number_id) = value
            .metadata
            .as_ref()
            .and_then(|m| m.phone_number_id.clone())
            .filter(|p| !p.is_empty())
        else {
            events.push(ProviderEvent::Skipped {
                what: "messages value without metadata.phone_number_id".into(),
            });
            continue;
        };
        for m in &value.messages {
            events.push(message_event(&phone_number_id, &value.contacts, m));
        }
        for s in &value.statuses {
            events.push(match (&s.id, &s.status) {
                (Some(id), Some(status)) if !id.is_empty() => ProviderEvent::Status(StatusUpdate {
                    message_id: id.clone(),
                    status: status.clone(),
                    error_code: s.errors.iter().find_map(|e| e.code).map(|c| c.to_string()),
                    business_address: Some(phone_number_id.clone()),
                }),
                _ => ProviderEvent::Skipped {
                    what: "status without id or status".into(),
                },
            });
        }
    }
    Ok(events)
}

fn message_event(phone_number_id: &str, contacts: &[Contact], m: &Value) -> ProviderEvent {
    let skipped = |what: &str| ProviderEvent::Skipped { what: what.into() };
    let Some(id) = m["id"].as_str().filter(|i| !i.is_empty()) else {
        return skipped("message without id");
    };
    let from_phone = m["from"].as_str().and_then(e164);
    let from_user = m["from_user_id"].as_str().filter(|u| is_bsuid(u));
    // The contact entry of this sender: by BSUID, else by phone, else the
    // only one (Meta sends one contact per message).
    let contact = contacts
        .iter()
        .find(|c| from_user.is_some() && c.user_id.as_deref() == from_user)
        .or_else(|| {
            contacts
                .iter()
                .find(|c| c.wa_id.is_some() && c.wa_id.as_deref() == m["from"].as_str())
        })
        .or_else(|| (contacts.len() == 1).then(|| &contacts[0]));
    let ids = ContactIds {
        provider: Provider::Meta,
        channel: Channel::Whatsapp,
        user_id: from_user.map(str::to_string).or_else(|| {
            contact
                .and_then(|c| c.user_id.clone())
                .filter(|u| is_bsuid(u))
        }),
        parent_user_id: contact
            .and_then(|c| c.parent_user_id.clone())
            .filter(|u| is_bsuid(u)),
        phone: from_phone.or_else(|| contact.and_then(|c| c.wa_id.as_deref()).and_then(e164)),
        username: contact
            .and_then(|c| c.profile.as_ref())
            .and_then(|p| p.username.clone()),
    };
    if ids.user_id.is_none() && ids.phone.is_none() {
        return skipped("message without a sender (from / from_user_id)");
    }
    let kind = m["type"].as_str().unwrap_or("unknown");
    let mut d = serde_json::Map::new();
    d.insert("type".into(), json!(kind));
    let body: String = match kind {
        "text" => str_at(m, &["text", "body"]).unwrap_or("").into(),
        "image" | "document" | "audio" | "video" | "sticker" => {
            let media = &m[kind];
            d.insert(
                "media".into(),
                json!([{
                    "kind": kind,
                    "media_id": media["id"],
                    "content_type": media["mime_type"],
                    "sha256": media["sha256"],
                    "filename": media["filename"],
                }]),
            );
            media["caption"].as_str().unwrap_or("").into()
        }
        "location" => {
            let l = &m["location"];
            d.insert(
                "location".into(),
                json!({"latitude": l["latitude"], "longitude": l["longitude"],
                       "name": l["name"], "address": l["address"]}),
            );
            String::new()
        }
        "button" => {
            d.insert(
                "button".into(),
                json!({"text": m["button"]["text"], "payload": m["button"]["payload"]}),
            );
            m["button"]["text"].as_str().unwrap_or("").into()
        }
        "interactive" => {
            let i = &m["interactive"];
            let reply = match i["type"].as_str() {
                Some("button_reply") => &i["button_reply"],
                Some("list_reply") => &i["list_reply"],
                _ => &Value::Null,
            };
            d.insert(
                "button".into(),
                json!({"text": reply["title"], "payload": reply["id"],
                       "kind": i["type"], "description": reply["description"]}),
            );
            reply["title"].as_str().unwrap_or("").into()
        }
        // A reaction points at another message: it is not a message of the
        // conversation and does not reopen the window. Acknowledged only.
        "reaction" => return skipped("reaction"),
        _ => String::new(),
    };
    if let Some(ctx) = m.get("context") {
        d.insert("reply_to".into(), json!({"message_id": ctx["id"]}));
    }
    if let Some(u) = &ids.username {
        d.insert("username".into(), json!(u));
    }
    d.insert("meta_message".into(), m.clone());
    ProviderEvent::Message(InboundMessage {
        provider: Provider::Meta,
        message_id: id.to_string(),
        business_address: phone_number_id.to_string(),
        channel: Channel::Whatsapp,
        profile_name: contact
            .and_then(|c| c.profile.as_ref())
            .and_then(|p| p.name.clone())
            .filter(|n| !n.is_empty()),
        contact: ids,
        body,
        details: Value::Object(d),
        sent_at: unix_time(&m["timestamp"]),
    })
}
