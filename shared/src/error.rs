//! One error type for the API and the single place that maps it to a status.
//!
//! Expected failures (bad input, not found, outside the rules) become a 4xx
//! with a stable `code` and a message written for the API client. Unexpected
//! ones become a 500 whose cause is logged, never returned.

use http::StatusCode;
use lambda_http::{Body, Response};
use serde_json::json;
use std::time::Duration;

use crate::cursor::InvalidCursor;
use crate::domain::DomainError;
use crate::ports::StoreError;
use crate::transport::{
    ERR_OPTED_OUT, ERR_OUTSIDE_WINDOW, META_BAD_TOKEN, META_INVALID_RECIPIENT, META_OUTSIDE_WINDOW,
    META_PAIR_RATE_LIMITED, META_RATE_LIMITED, META_UNDELIVERABLE, Refusal, TwilioError,
};

/// Twilio's error code for a rate-limited request (HTTP 429).
pub const TWILIO_RATE_LIMITED: i64 = 20429;

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("unauthorized: {0}")]
    Unauthorized(&'static str),
    /// Also used for "exists but you may not see it": never reveal existence.
    #[error("not found")]
    NotFound,
    #[error("bad request ({code}): {message}")]
    BadRequest { code: &'static str, message: String },
    #[error("unprocessable ({code}): {message}")]
    Unprocessable { code: &'static str, message: String },
    /// Visible but not allowed (e.g. a service token trying to post).
    #[error("forbidden ({code}): {message}")]
    Forbidden { code: &'static str, message: String },
    #[error("conflict ({code}): {message}")]
    Conflict { code: &'static str, message: String },
    /// A free-form WhatsApp message outside the 24-hour customer-service
    /// window (Twilio would fail it with 63016).
    #[error("outside the customer service window")]
    OutsideWindow {
        closed_at: Option<String>,
        twilio_code: Option<i64>,
    },
    /// Rate limited by Twilio after our retries (WhatsApp/SMS replies).
    #[error("too many requests")]
    TooManyRequests { retry_after: Option<Duration> },
    #[error("payload too large")]
    PayloadTooLarge,
    #[error("unsupported media type")]
    UnsupportedMediaType,
    #[error("method not allowed")]
    MethodNotAllowed,
    #[error("twilio: {0}")]
    Twilio(#[from] TwilioError),
    /// Twilio refused for a reason the client can act on (invalid or
    /// unreachable number, opted out): 422 with Twilio's code kept.
    #[error("twilio refused ({code}): {twilio_code}")]
    TwilioRefused {
        code: &'static str,
        message: String,
        twilio_code: i64,
    },
    /// Meta refused a reply for a reason the client can act on (or that an
    /// admin must fix, like an expired token), with Meta's code kept.
    #[error("meta refused ({code}): {meta_code}")]
    MetaRefused {
        status: StatusCode,
        code: &'static str,
        message: String,
        meta_code: i64,
    },
    #[error("storage: {0}")]
    Store(#[from] StoreError),
    /// The queue (SQS) did not accept a message: Twilio retries the webhook.
    #[error("queue unavailable")]
    QueueUnavailable,
    /// A dependency other than Twilio or the store (e.g. the booking
    /// directory) did not answer: 503 with `Retry-After`, nothing changed.
    #[error("unavailable ({code}): {message}")]
    Unavailable { code: &'static str, message: String },
    #[error("internal: {0}")]
    Internal(String),
}

impl ApiError {
    /// A failed WhatsApp/SMS send (Messages API). Refusals the sender can
    /// act on are 422 with Twilio's code kept; a free-form message outside
    /// the window is the window error.
    ///
    /// Rate limits, the one rule: always answered with `Retry-After`. A
    /// reply through the Messages API answers 429 `twilio_rate_limited`
    /// (an agent's burst is the cause and can slow down); a booking-chat
    /// send (any other path, through `From<TwilioError>`) answers 503, since
    /// the chat client retries it transparently like any unavailability.
    pub fn from_messaging(e: TwilioError) -> Self {
        if let TwilioError::Meta { code, .. } = e {
            return from_meta(code);
        }
        match e.refusal() {
            Some(Refusal::InvalidRecipient(code)) => Self::TwilioRefused {
                code: "invalid_recipient",
                message: "the contact's number is invalid or cannot receive this message".into(),
                twilio_code: code,
            },
            Some(Refusal::OutsideWindow) => Self::OutsideWindow {
                closed_at: None,
                twilio_code: Some(ERR_OUTSIDE_WINDOW),
            },
            Some(Refusal::OptedOut) => Self::TwilioRefused {
                code: "contact_opted_out",
                message: "the contact has opted out (replied STOP); they must send START first"
                    .into(),
                twilio_code: ERR_OPTED_OUT,
            },
            None => match e {
                TwilioError::RateLimited { retry_after } => Self::TooManyRequests { retry_after },
                other => other.into(),
            },
        }
    }
}

/// Meta's refusals as API errors, Meta's code kept as `meta_code`.
fn from_meta(code: i64) -> ApiError {
    let (status, api_code, message) = match code {
        META_OUTSIDE_WINDOW => (
            StatusCode::UNPROCESSABLE_ENTITY,
            "outside_customer_service_window",
            "more than 24 hours have passed since the contact's last message: WhatsApp only \
             accepts a template now (send template with name and language)",
        ),
        META_UNDELIVERABLE | META_INVALID_RECIPIENT => (
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_recipient",
            "WhatsApp cannot deliver to this contact",
        ),
        META_RATE_LIMITED | META_PAIR_RATE_LIMITED => (
            StatusCode::TOO_MANY_REQUESTS,
            "meta_rate_limited",
            "Meta is rate limiting messages (to this contact or this number); retry later",
        ),
        META_BAD_TOKEN => (
            StatusCode::BAD_GATEWAY,
            "meta_token_invalid",
            "the org's Meta access token is invalid or expired; an admin must register a new one",
        ),
        _ => (
            StatusCode::BAD_GATEWAY,
            "meta_error",
            "Meta refused the request",
        ),
    };
    ApiError::MetaRefused {
        status,
        code: api_code,
        message: message.into(),
        meta_code: code,
    }
}

impl From<DomainError> for ApiError {
    fn from(e: DomainError) -> Self {
        match e {
            DomainError::Invalid { code, message } => Self::Unprocessable { code, message },
            DomainError::Malformed { code, message } => Self::BadRequest { code, message },
            DomainError::UnknownId => Self::NotFound,
        }
    }
}

impl From<InvalidCursor> for ApiError {
    fn from(e: InvalidCursor) -> Self {
        Self::bad_request(e.code(), e.to_string())
    }
}

impl ApiError {
    pub fn bad_request(code: &'static str, message: impl Into<String>) -> Self {
        Self::BadRequest {
            code,
            message: message.into(),
        }
    }

    pub fn unprocessable(code: &'static str, message: impl Into<String>) -> Self {
        Self::Unprocessable {
            code,
            message: message.into(),
        }
    }

    pub fn forbidden(code: &'static str, message: impl Into<String>) -> Self {
        Self::Forbidden {
            code,
            message: message.into(),
        }
    }

    pub fn conflict(code: &'static str, message: impl Into<String>) -> Self {
        Self::Conflict {
            code,
            message: message.into(),
        }
    }

    pub fn status(&self) -> StatusCode {
        match self {
            Self::Unauthorized(_) => StatusCode::UNAUTHORIZED,
            Self::NotFound => StatusCode::NOT_FOUND,
            Self::BadRequest { .. } => StatusCode::BAD_REQUEST,
            Self::Unprocessable { .. } => StatusCode::UNPROCESSABLE_ENTITY,
            Self::Forbidden { .. } => StatusCode::FORBIDDEN,
            Self::Conflict { .. } => StatusCode::CONFLICT,
            Self::OutsideWindow { .. } | Self::TwilioRefused { .. } => {
                StatusCode::UNPROCESSABLE_ENTITY
            }
            Self::TooManyRequests { .. } => StatusCode::TOO_MANY_REQUESTS,
            Self::MetaRefused { status, .. } => *status,
            Self::PayloadTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            Self::UnsupportedMediaType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            Self::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            Self::Twilio(e) => match e {
                TwilioError::RateLimited { .. } | TwilioError::Unavailable(_) => {
                    StatusCode::SERVICE_UNAVAILABLE
                }
                _ => StatusCode::BAD_GATEWAY,
            },
            Self::Store(StoreError::Unavailable(_))
            | Self::QueueUnavailable
            | Self::Unavailable { .. } => StatusCode::SERVICE_UNAVAILABLE,
            Self::Store(_) | Self::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    pub fn code(&self) -> &'static str {
        match self {
            Self::Unauthorized(_) => "unauthorized",
            Self::NotFound => "not_found",
            Self::BadRequest { code, .. }
            | Self::Unprocessable { code, .. }
            | Self::Forbidden { code, .. }
            | Self::Conflict { code, .. }
            | Self::Unavailable { code, .. } => code,
            Self::OutsideWindow { .. } => "outside_customer_service_window",
            Self::TwilioRefused { code, .. } => code,
            Self::TooManyRequests { .. } => "twilio_rate_limited",
            Self::PayloadTooLarge => "payload_too_large",
            Self::UnsupportedMediaType => "unsupported_media_type",
            Self::MethodNotAllowed => "method_not_allowed",
            Self::Twilio(e) => match e {
                TwilioError::RateLimited { .. } => "twilio_rate_limited",
                TwilioError::Unavailable(_) => "twilio_unavailable",
                TwilioError::Timeout => "twilio_timeout",
                TwilioError::Api { .. } | TwilioError::Decode(_) => "twilio_error",
                TwilioError::Meta { .. } => "meta_error",
            },
            Self::MetaRefused { code, .. } => code,
            Self::Store(StoreError::Unavailable(_)) => "storage_unavailable",
            Self::QueueUnavailable => "queue_unavailable",
            Self::Store(_) | Self::Internal(_) => "internal_error",
        }
    }

    /// The message an API client sees. Never contains internal error text.
    pub fn public_message(&self) -> String {
        match self {
            Self::Unauthorized(why) => format!("authentication required: {why}"),
            Self::NotFound => "not found".into(),
            Self::BadRequest { message, .. }
            | Self::Unprocessable { message, .. }
            | Self::Forbidden { message, .. }
            | Self::TwilioRefused { message, .. }
            | Self::MetaRefused { message, .. }
            | Self::Conflict { message, .. }
            | Self::Unavailable { message, .. } => message.clone(),
            Self::OutsideWindow { .. } => {
                "more than 24 hours have passed since the contact's last \
                 message: WhatsApp only accepts a template now (send content_sid and \
                 content_variables)"
                    .into()
            }
            Self::TooManyRequests { .. } => "Twilio is rate limiting requests; retry later".into(),
            Self::PayloadTooLarge => "request body too large".into(),
            Self::UnsupportedMediaType => {
                "unsupported Content-Type (the API takes application/json; Twilio webhooks \
                 application/x-www-form-urlencoded or application/json)"
                    .into()
            }
            Self::MethodNotAllowed => "method not allowed on this route".into(),
            Self::Twilio(e) => match e {
                TwilioError::RateLimited { .. } => {
                    "Twilio is rate limiting requests; retry later".into()
                }
                TwilioError::Unavailable(_) => {
                    "Twilio could not be reached; nothing was sent, retry later".into()
                }
                TwilioError::Timeout => "Twilio did not answer in time; the outcome is unknown. \
                     Retry with the same Idempotency-Key to learn it, never without one"
                    .into(),
                TwilioError::Api { code, .. } => match code {
                    Some(c) => format!("Twilio refused the request (Twilio error {c})"),
                    None => "Twilio refused the request".into(),
                },
                TwilioError::Decode(_) => "Twilio answered with an unexpected response".into(),
                TwilioError::Meta { code, .. } => {
                    format!("Meta refused the request (Meta error {code})")
                }
            },
            Self::Store(StoreError::Unavailable(_)) => {
                "storage is temporarily unavailable; retry later".into()
            }
            Self::QueueUnavailable => "the queue is temporarily unavailable; retry later".into(),
            Self::Store(_) | Self::Internal(_) => "internal error".into(),
        }
    }

    fn retry_after(&self) -> Option<Duration> {
        match self {
            Self::Twilio(TwilioError::RateLimited { retry_after })
            | Self::TooManyRequests { retry_after } => {
                Some(retry_after.unwrap_or(Duration::from_secs(1)))
            }
            Self::Twilio(TwilioError::Unavailable(_))
            | Self::Store(StoreError::Unavailable(_))
            | Self::QueueUnavailable
            | Self::Unavailable { .. } => Some(Duration::from_secs(1)),
            Self::MetaRefused { status, .. } if *status == StatusCode::TOO_MANY_REQUESTS => {
                Some(Duration::from_secs(1))
            }
            _ => None,
        }
    }

    /// Turn the error into the JSON response; log the cause of 5xx.
    pub fn into_response(self) -> Response<Body> {
        let status = self.status();
        if status.is_server_error() {
            tracing::error!(error = %self, code = self.code(), "request failed");
        } else {
            tracing::info!(
                code = self.code(),
                status = status.as_u16(),
                "request rejected"
            );
        }
        let mut details = serde_json::Map::new();
        details.insert("code".into(), json!(self.code()));
        details.insert("message".into(), json!(self.public_message()));
        match &self {
            Self::Twilio(TwilioError::Api {
                code: Some(code), ..
            })
            | Self::OutsideWindow {
                twilio_code: Some(code),
                ..
            } => {
                details.insert("twilio_code".into(), json!(code));
            }
            Self::TwilioRefused { twilio_code, .. } => {
                details.insert("twilio_code".into(), json!(twilio_code));
            }
            Self::MetaRefused { meta_code, .. } => {
                details.insert("meta_code".into(), json!(meta_code));
            }
            // Twilio's 429 is always its error 20429 (Too Many Requests).
            Self::TooManyRequests { .. } | Self::Twilio(TwilioError::RateLimited { .. }) => {
                details.insert("twilio_code".into(), json!(TWILIO_RATE_LIMITED));
            }
            _ => {}
        }
        if let Self::OutsideWindow {
            closed_at: Some(at),
            ..
        } = &self
        {
            details.insert("window_closed_at".into(), json!(at));
        }
        let mut builder = Response::builder()
            .status(status)
            .header("content-type", "application/json");
        if let Some(after) = self.retry_after() {
            builder = builder.header("retry-after", after.as_secs().max(1).to_string());
        }
        let body = json!({ "error": details }).to_string();
        builder
            .body(Body::Text(body))
            .unwrap_or_else(|_| Response::new(Body::Empty))
    }
}
