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
pub struct OutboundMessage<'a> {
    pub from: &'a str,
    pub to: &'a str,
    pub body: Option<&'a str>,
    pub content_sid: Option<&'a str>,
    pub content_variables: Option<String>,
    pub media_urls: &'a [String],
    pub status_callback: Option<String>,
}

pub struct NewParticipant<'a> {
    pub identity: &'a str,
    pub attributes: String,
}
