//! What crosses the transport ports: the messages sent, the resources
//! Twilio answers with (shapes from Twilio's OpenAPI), and the transport
//! error with Twilio's error codes named here, in one place.

use serde::Deserialize;
use std::time::Duration;

#[derive(Debug, thiserror::Error)]
pub enum TwilioError {
    /// Twilio answered with an error (`code`, `message`, `more_info`).
    /// Display leaves out `message`: Twilio puts phone numbers in it.
    #[error("twilio api error {status} (code {code:?}, {more_info:?})")]
    Api {
        status: u16,
        code: Option<i64>,
        message: String,
        more_info: Option<String>,
    },
    /// HTTP 429 after every retry.
    #[error("twilio rate limited")]
    RateLimited { retry_after: Option<Duration> },
    /// The request never reached Twilio (nothing happened there).
    #[error("twilio unreachable: {0}")]
    Unavailable(String),
    /// Possibly sent, but no usable answer (timeout, broken connection
    /// mid-request): the outcome is unknown.
    #[error("twilio did not answer; outcome unknown")]
    Timeout,
    #[error("unexpected twilio response: {0}")]
    Decode(String),
    /// Meta's Graph API refused a reply (`error.code`, `error_subcode`).
    /// The inbox's messaging port carries both providers' refusals; Display
    /// leaves out `message`, which may name the recipient.
    #[error("meta graph api error {status} (code {code}, subcode {subcode:?})")]
    Meta {
        status: u16,
        code: i64,
        subcode: Option<i64>,
        message: String,
    },
}

impl TwilioError {
    pub fn is_api_code(&self, wanted: i64) -> bool {
        matches!(self, Self::Api { code: Some(c), .. } if *c == wanted)
    }
    pub fn is_not_found(&self) -> bool {
        matches!(self, Self::Api { status: 404, .. })
    }
    /// True when the request may have taken effect at Twilio even though it
    /// failed here: never re-send it blindly.
    pub fn outcome_unknown(&self) -> bool {
        matches!(self, Self::Timeout | Self::Decode(_))
    }
}

/// Twilio error 50353: a conversation with this unique name already exists.
pub const ERR_UNIQUE_NAME_EXISTS: i64 = 50353;

/// Twilio error 50433: the participant is already in the conversation.
pub const ERR_PARTICIPANT_EXISTS: i64 = 50433;

/// Twilio error 21211: the `To` number is not a valid phone number.
pub const ERR_INVALID_TO: i64 = 21211;

/// Twilio error 21614: the `To` number cannot receive this kind of message.
pub const ERR_TO_NOT_CAPABLE: i64 = 21614;

/// Twilio error 63024: invalid message recipient (WhatsApp).
pub const ERR_INVALID_RECIPIENT: i64 = 63024;

/// Twilio error 63016: a free-form WhatsApp message outside the 24-hour
/// customer-service window.
pub const ERR_OUTSIDE_WINDOW: i64 = 63016;

/// Twilio error 21610: the contact replied STOP (opted out).
pub const ERR_OPTED_OUT: i64 = 21610;

/// Twilio error 20429: too many requests.
pub const ERR_RATE_LIMITED: i64 = 20429;

/// Meta Graph error 131047: re-engagement, more than 24 hours since the
/// user last wrote (the WhatsApp window).
pub const META_OUTSIDE_WINDOW: i64 = 131047;
/// Meta Graph error 131026: message undeliverable.
pub const META_UNDELIVERABLE: i64 = 131026;
/// Meta Graph error 131030: recipient not allowed / invalid.
pub const META_INVALID_RECIPIENT: i64 = 131030;
/// Meta Graph error 130429: Cloud API throughput reached.
pub const META_RATE_LIMITED: i64 = 130429;
/// Meta Graph error 131056: pair rate limit (too many to this user).
pub const META_PAIR_RATE_LIMITED: i64 = 131056;
/// Meta Graph error 190: access token expired or invalid.
pub const META_BAD_TOKEN: i64 = 190;

/// Why Twilio refused a message for a reason the sender can act on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Refusal {
    /// The recipient's address is invalid or cannot receive it (the code).
    InvalidRecipient(i64),
    /// A free-form WhatsApp message outside the 24-hour window.
    OutsideWindow,
    /// The contact opted out.
    OptedOut,
}

impl TwilioError {
    /// The refusal this error is, if the client can act on it.
    pub fn refusal(&self) -> Option<Refusal> {
        let Self::Api {
            code: Some(code), ..
        } = self
        else {
            return None;
        };
        match *code {
            ERR_INVALID_TO | ERR_TO_NOT_CAPABLE | ERR_INVALID_RECIPIENT => {
                Some(Refusal::InvalidRecipient(*code))
            }
            ERR_OUTSIDE_WINDOW => Some(Refusal::OutsideWindow),
            ERR_OPTED_OUT => Some(Refusal::OptedOut),
            _ => None,
        }
    }
}

#[derive(Clone, Debug, Deserialize)]
pub struct ConversationResource {
    pub sid: String,
    #[serde(default)]
    pub unique_name: Option<String>,
    #[serde(default)]
    pub state: Option<String>,
}

#[derive(Clone, Debug, Deserialize)]
pub struct ParticipantResource {
    pub sid: String,
    #[serde(default)]
    pub identity: Option<String>,
    #[serde(default)]
    pub last_read_message_index: Option<i64>,
}

#[derive(Clone, Debug, Deserialize)]
pub struct MessageResource {
    pub sid: String,
    #[serde(default)]
    pub index: Option<i64>,
    #[serde(default)]
    pub author: Option<String>,
}

/// A message resource of the Messages API (API 2010).
#[derive(Clone, Debug, Deserialize)]
pub struct SmsResource {
    pub sid: String,
    #[serde(default)]
    pub status: Option<String>,
    #[serde(default)]
    pub error_code: Option<i64>,
}

/// What a WhatsApp/SMS reply carries: free-form text (and media), or a
/// WhatsApp template (`ContentSid` + `ContentVariables`).
#[derive(Clone)]
pub struct OutboundMessage<'a> {
    pub from: &'a str,
    pub to: &'a str,
    pub body: Option<&'a str>,
    pub content_sid: Option<&'a str>,
    pub content_variables: Option<String>,
    pub media_urls: &'a [String],
    pub status_callback: Option<String>,
    /// A Meta template (`{name, language: {code}, components?}`); Twilio
    /// templates are `content_sid`.
    pub template: Option<&'a serde_json::Value>,
}

pub struct NewParticipant<'a> {
    pub identity: &'a str,
    pub attributes: String,
}
