//! Domain types parsed at the edge: past `parse`, the value is valid.

use serde::Serialize;
use sha2::{Digest, Sha256};

pub mod effects;
pub mod message_status;
pub mod provider;
pub mod status;

pub use message_status::{MessageStatus, status_rank};
pub use provider::Provider;
pub use status::{ConversationStatus, StatsDelta};

/// Why a value could not become a domain type. `error.rs` maps it to HTTP.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DomainError {
    /// A value breaks the rules (422).
    #[error("invalid ({code}): {message}")]
    Invalid { code: &'static str, message: String },
    /// A header or parameter that is not even well-formed (400).
    #[error("malformed ({code}): {message}")]
    Malformed { code: &'static str, message: String },
    /// An id that cannot name anything of ours (404: existence is never
    /// revealed, so neither is the id format).
    #[error("unknown id")]
    UnknownId,
}

impl DomainError {
    /// The stable code an API client sees.
    pub fn code(&self) -> &'static str {
        match self {
            Self::Invalid { code, .. } | Self::Malformed { code, .. } => code,
            Self::UnknownId => "not_found",
        }
    }
    pub fn invalid(code: &'static str, message: impl Into<String>) -> Self {
        Self::Invalid {
            code,
            message: message.into(),
        }
    }
    pub fn malformed(code: &'static str, message: impl Into<String>) -> Self {
        Self::Malformed {
            code,
            message: message.into(),
        }
    }
}

/// The longest free-form message Twilio accepts.
pub const MAX_BODY_CHARS: usize = 1600;
/// Participants per conversation (Twilio adds at most 10 per request; the
/// message transaction writes one item per participant).
pub const MAX_PARTICIPANTS: usize = 10;

fn id_like(s: &str, max: usize) -> bool {
    !s.is_empty()
        && s.len() <= max
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b':' | b'@'))
}

/// An external identifier (booking id, user id): 1..=128 of `[A-Za-z0-9-_.:@]`.
fn parse_id(field: &'static str, s: &str) -> Result<String, DomainError> {
    if id_like(s, 128) {
        Ok(s.to_string())
    } else {
        Err(DomainError::invalid(
            "invalid_field",
            format!("{field} must be 1-128 characters of letters, digits, - _ . : @"),
        ))
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(transparent)]
pub struct BookingId(String);

impl BookingId {
    pub fn parse(s: &str) -> Result<Self, DomainError> {
        parse_id("booking_id", s).map(Self)
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(transparent)]
pub struct UserId(String);

impl UserId {
    pub fn parse(s: &str) -> Result<Self, DomainError> {
        parse_id("user_id", s).map(Self)
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Our conversation id (`conv_` + 26 lowercase hex/base32 chars).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(transparent)]
pub struct ConversationId(String);

impl ConversationId {
    /// A path id that cannot be ours is simply not found.
    pub fn parse(s: &str) -> Result<Self, DomainError> {
        if s.starts_with("conv_") && id_like(s, 64) {
            Ok(Self(s.to_string()))
        } else {
            Err(DomainError::UnknownId)
        }
    }

    /// Deterministic per booking, so racing creates converge on one id.
    pub fn for_booking(booking: &BookingId) -> Self {
        Self(format!(
            "conv_{}",
            short_hash(&["booking", booking.as_str()])
        ))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// The first 26 hex chars (104 bits) of SHA-256 over the parts, NUL-separated.
pub fn short_hash(parts: &[&str]) -> String {
    let mut h = Sha256::new();
    for p in parts {
        h.update(p.as_bytes());
        h.update([0]);
    }
    let digest = h.finalize();
    let mut out = String::with_capacity(26);
    crate::sigv4::push_hex(&mut out, &digest[..13]);
    out
}

/// A participant's side in a booking chat.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ParticipantType {
    Customer,
    Provider,
}

impl ParticipantType {
    pub fn parse(s: &str) -> Result<Self, DomainError> {
        match s {
            "customer" => Ok(Self::Customer),
            "provider" => Ok(Self::Provider),
            other => Err(DomainError::invalid(
                "invalid_user_type",
                format!(
                    "user_type must be customer or provider, got {:?}",
                    truncate(other, 32)
                ),
            )),
        }
    }
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Customer => "customer",
            Self::Provider => "provider",
        }
    }
}

/// Who wrote a message: a booking chat's customer or provider, an org's
/// agent, a WhatsApp/SMS contact, or the system (a Conversations message
/// by an identity that is no participant).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum AuthorType {
    Customer,
    Provider,
    Agent,
    Contact,
    #[default]
    System,
}

impl AuthorType {
    pub const ALL: [Self; 5] = [
        Self::Customer,
        Self::Provider,
        Self::Agent,
        Self::Contact,
        Self::System,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Customer => "customer",
            Self::Provider => "provider",
            Self::Agent => "agent",
            Self::Contact => "contact",
            Self::System => "system",
        }
    }

    /// A stored author type.
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|a| a.as_str() == s)
    }

    /// The side of the conversation, for response times: the customer's
    /// (a booking's customer, a WhatsApp/SMS contact) or the business's.
    pub fn is_customer_side(self) -> bool {
        matches!(self, Self::Customer | Self::Contact)
    }
}

impl From<ParticipantType> for AuthorType {
    fn from(p: ParticipantType) -> Self {
        match p {
            ParticipantType::Customer => Self::Customer,
            ParticipantType::Provider => Self::Provider,
        }
    }
}

/// A message text Twilio will take: not blank, at most 1600 characters.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MessageBody(String);

impl MessageBody {
    pub fn parse(s: &str) -> Result<Self, DomainError> {
        if s.trim().is_empty() {
            return Err(DomainError::invalid("empty_body", "body must contain text"));
        }
        let chars = s.chars().count();
        if chars > MAX_BODY_CHARS {
            return Err(DomainError::invalid(
                "body_too_long",
                format!("body has {chars} characters; the limit is {MAX_BODY_CHARS}"),
            ));
        }
        Ok(Self(s.to_string()))
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A display name: trimmed, 1..=100 characters, no control characters.
pub fn parse_display_name(s: &str) -> Result<String, DomainError> {
    let t = s.trim();
    if t.is_empty() || t.chars().count() > 100 || t.chars().any(char::is_control) {
        return Err(DomainError::invalid(
            "invalid_field",
            "display_name must be 1-100 printable characters",
        ));
    }
    Ok(t.to_string())
}

/// A client-chosen `Idempotency-Key`: 1..=255 visible ASCII characters.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IdempotencyKey(String);

impl IdempotencyKey {
    pub fn parse(s: &str) -> Result<Self, DomainError> {
        if !s.is_empty() && s.len() <= 255 && s.bytes().all(|b| b.is_ascii_graphic()) {
            Ok(Self(s.to_string()))
        } else {
            Err(DomainError::malformed(
                "invalid_idempotency_key",
                "Idempotency-Key must be 1-255 visible ASCII characters",
            ))
        }
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// The first `max` characters of `s` (for previews and error messages).
/// The deterministic id of the conversation of (org, provider, channel,
/// contact): racing first messages from a new number meet on one item.
pub fn inbox_conversation_id(org: &str, provider: &str, channel: &str, contact: &str) -> String {
    format!(
        "conv_{}",
        short_hash(&["inbox", org, provider, channel, contact])
    )
}

/// A new message id: `msg_` + a lower-case ULID (time-ordered).
pub fn new_message_id() -> String {
    format!("msg_{}", ulid::Ulid::new().to_string().to_lowercase())
}

pub fn truncate(s: &str, max: usize) -> String {
    s.chars().take(max).collect()
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Channel {
    #[default]
    Whatsapp,
    Sms,
}

impl Channel {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Whatsapp => "whatsapp",
            Self::Sms => "sms",
        }
    }

    pub fn parse(s: &str) -> Result<Self, DomainError> {
        match s {
            "whatsapp" => Ok(Self::Whatsapp),
            "sms" => Ok(Self::Sms),
            _ => Err(DomainError::invalid(
                "invalid_channel",
                "channel must be whatsapp or sms",
            )),
        }
    }
}

/// A Twilio messaging address: `whatsapp:+E164` or `+E164`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(transparent)]
pub struct Address(String);

impl Address {
    pub fn parse(s: &str) -> Result<Self, DomainError> {
        let s = s.trim();
        let number = s.strip_prefix("whatsapp:").unwrap_or(s);
        let digits = number.strip_prefix('+').unwrap_or("");
        let ok = (8..=15).contains(&digits.len())
            && digits.bytes().all(|b| b.is_ascii_digit())
            && !digits.starts_with('0');
        if ok {
            Ok(Self(s.to_string()))
        } else {
            Err(DomainError::invalid(
                "invalid_address",
                "address must be +E164 (SMS) or whatsapp:+E164",
            ))
        }
    }
    pub fn channel(&self) -> Channel {
        if self.0.starts_with("whatsapp:") {
            Channel::Whatsapp
        } else {
            Channel::Sms
        }
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A phone number or address for logs: the last 4 digits only.
pub fn redact(address: &str) -> String {
    let tail: String = address
        .chars()
        .rev()
        .take(4)
        .collect::<Vec<_>>()
        .into_iter()
        .rev()
        .collect();
    format!("***{tail}")
}

#[cfg(test)]
mod tests {
    #[test]
    fn hex_digits_should_be_what_format_writes() {
        for b in 0..=u8::MAX {
            let mut out = String::new();
            crate::sigv4::push_hex(&mut out, &[b]);
            assert_eq!(out, format!("{b:02x}"));
        }
        // SHA-256 of "twilio\0SMabc\0", its first 13 bytes.
        assert_eq!(
            super::short_hash(&["twilio", "SMabc"]),
            "0d3033a287e0208507b61c3657"
        );
    }

    use super::*;

    #[test]
    fn when_body_is_blank_it_should_be_refused() {
        assert_eq!(MessageBody::parse("  \n").unwrap_err().code(), "empty_body");
    }

    #[test]
    fn when_body_has_1600_multibyte_chars_it_should_be_accepted() {
        assert!(MessageBody::parse(&"é".repeat(1600)).is_ok());
        assert_eq!(
            MessageBody::parse(&"é".repeat(1601)).unwrap_err().code(),
            "body_too_long"
        );
    }

    #[test]
    fn when_booking_ids_differ_their_conversation_ids_should_differ() {
        let a = ConversationId::for_booking(&BookingId::parse("b-1").unwrap());
        let b = ConversationId::for_booking(&BookingId::parse("b-2").unwrap());
        assert_ne!(a, b);
        assert_eq!(
            a,
            ConversationId::for_booking(&BookingId::parse("b-1").unwrap())
        );
        assert!(ConversationId::parse(a.as_str()).is_ok());
    }

    #[test]
    fn when_ids_contain_separators_they_should_be_refused() {
        assert!(BookingId::parse("a#b").is_err());
        assert!(UserId::parse("").is_err());
        assert!(UserId::parse(&"x".repeat(129)).is_err());
        assert!(ConversationId::parse("CONV#x").is_err());
    }

    #[test]
    fn when_an_address_is_parsed_it_should_know_its_channel() {
        assert_eq!(
            Address::parse("whatsapp:+15551234567").unwrap().channel(),
            Channel::Whatsapp
        );
        assert_eq!(
            Address::parse("+447700900123").unwrap().channel(),
            Channel::Sms
        );
        for bad in [
            "15551234567",
            "+0123456789",
            "whatsapp:+1",
            "+1555abc4567",
            "",
        ] {
            assert!(Address::parse(bad).is_err(), "{bad}");
        }
        assert_eq!(redact("whatsapp:+15551234567"), "***4567");
    }

    #[test]
    fn when_statuses_are_ranked_terminal_ones_should_win() {
        assert!(status_rank("read") > status_rank("delivered"));
        assert!(status_rank("delivered") > status_rank("sent"));
        assert!(status_rank("failed") > status_rank("read"));
        assert_eq!(status_rank("nonsense"), 0);
    }

    #[test]
    fn when_user_type_is_unknown_it_should_be_refused() {
        assert_eq!(
            ParticipantType::parse("admin").unwrap_err().code(),
            "invalid_user_type"
        );
    }
}
