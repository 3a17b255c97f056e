//! Dev-only endpoints the local gateway serves under `/dev/` (never in
//! `template.yaml`, never deployed): the demo users' dev JWTs for the web
//! app's sign-in, and an inbound WhatsApp/SMS message stamped in the past
//! (to show and test a closed 24-hour window).

use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde_json::{Value, json};
use shared::auth::{Caller, UserType, issue_token};
use shared::clock::{Clock, format_ts};
use shared::envelope::{Envelope, Source};

use crate::standin::{DEMO_BUSINESS_NUMBER, StandIn};

/// The org whose WhatsApp inbox the local demo fills.
pub const DEMO_ORG: &str = "org_demo";
/// Another org, whose agent must see none of `DEMO_ORG`'s conversations.
pub const OTHER_ORG: &str = "org_other";

/// A user `make run` signs dev tokens for.
pub struct DemoUser {
    pub user_id: &'static str,
    pub display_name: &'static str,
    pub user_type: UserType,
    pub org_id: Option<&'static str>,
    pub role: Option<&'static str>,
    pub label: &'static str,
}

pub const DEMO_USERS: &[DemoUser] = &[
    DemoUser {
        user_id: "cust_ana",
        display_name: "Ana",
        user_type: UserType::Customer,
        org_id: None,
        role: None,
        label: "Ana, customer",
    },
    DemoUser {
        user_id: "prov_ben",
        display_name: "Ben",
        user_type: UserType::Provider,
        org_id: None,
        role: None,
        label: "Ben, provider",
    },
    DemoUser {
        user_id: "agent_dana",
        display_name: "Dana",
        user_type: UserType::Agent,
        org_id: Some(DEMO_ORG),
        role: Some("admin"),
        label: "Dana, admin agent of org_demo",
    },
    DemoUser {
        user_id: "agent_omar",
        display_name: "Omar",
        user_type: UserType::Agent,
        org_id: Some(OTHER_ORG),
        role: None,
        label: "Omar, agent of org_other",
    },
    DemoUser {
        user_id: "booking-system",
        display_name: "Booking system",
        user_type: UserType::Service,
        org_id: None,
        role: None,
        label: "booking-system, service",
    },
];

/// How long dev tokens are valid.
pub const DEV_TOKEN_TTL_SECS: i64 = 7 * 24 * 3600;

/// A demo user with a freshly signed token, as `GET /dev/tokens` lists it.
#[derive(Clone, Debug)]
pub struct DevToken {
    pub label: String,
    pub user_id: String,
    pub display_name: String,
    pub user_type: String,
    pub org_id: Option<String>,
    pub role: Option<String>,
    pub token: String,
}

impl DevToken {
    pub fn to_json(&self) -> Value {
        json!({
            "label": self.label,
            "user_id": self.user_id,
            "display_name": self.display_name,
            "user_type": self.user_type,
            "org_id": self.org_id,
            "role": self.role,
            "token": self.token,
        })
    }
}

pub fn dev_tokens(secret: &str) -> Vec<DevToken> {
    DEMO_USERS
        .iter()
        .map(|u| {
            let caller = Caller {
                user_id: u.user_id.into(),
                user_type: u.user_type,
                org_id: u.org_id.map(str::to_string),
                role: u.role.map(str::to_string),
            };
            DevToken {
                label: u.label.into(),
                user_id: u.user_id.into(),
                display_name: u.display_name.into(),
                user_type: u.user_type.as_str().into(),
                org_id: u.org_id.map(str::to_string),
                role: u.role.map(str::to_string),
                token: issue_token(secret, &caller, DEV_TOKEN_TTL_SECS),
            }
        })
        .collect()
}

#[derive(Clone)]
pub struct DevApi {
    pub tokens: Vec<DevToken>,
    pub sqs: aws_sdk_sqs::Client,
    pub queue_url: String,
    pub clock: Clock,
    /// Builds Twilio-shaped inbound parameters (any stand-in will do).
    pub standin: StandIn,
}

impl DevApi {
    pub fn router(self) -> Router {
        Router::new()
            .route("/tokens", get(tokens))
            .route("/inbound", post(inbound))
            .with_state(self)
    }
}

async fn tokens(State(d): State<DevApi>) -> Response {
    (
        [("cache-control", "no-store")],
        axum::Json(json!({ "users": d.tokens.iter().map(DevToken::to_json).collect::<Vec<_>>() })),
    )
        .into_response()
}

/// `POST /dev/inbound`'s body, parsed by hand (no serde derive in this crate).
struct InboundInput {
    from: String,
    to: Option<String>,
    body: String,
    /// Stamp the message this many hours in the past (default 0).
    hours_ago: f64,
    /// Attachments: `(url, content_type)` (Twilio's `MediaUrlN` / `MediaContentTypeN`).
    media: Vec<(String, Option<String>)>,
}

impl InboundInput {
    fn parse(bytes: &[u8]) -> Option<Self> {
        let v: Value = serde_json::from_slice(bytes).ok()?;
        let text = |k: &str| v.get(k).and_then(Value::as_str).map(str::to_string);
        let media = match v.get("media") {
            None | Some(Value::Null) => Vec::new(),
            Some(Value::Array(items)) => items
                .iter()
                .map(|m| {
                    let url = m.get("url")?.as_str()?.to_string();
                    let ct = m
                        .get("content_type")
                        .and_then(Value::as_str)
                        .map(str::to_string);
                    Some((url, ct))
                })
                .collect::<Option<Vec<_>>>()?,
            Some(_) => return None,
        };
        let hours_ago = match v.get("hours_ago") {
            None | Some(Value::Null) => 0.0,
            Some(h) => h.as_f64()?,
        };
        Some(Self {
            from: text("from")?,
            to: text("to"),
            body: text("body").unwrap_or_default(),
            hours_ago,
            media,
        })
    }
}

fn dev_error(status: StatusCode, code: &str, message: &str) -> Response {
    (
        status,
        axum::Json(json!({"error": {"code": code, "message": message}})),
    )
        .into_response()
}

/// `POST /dev/inbound` `{from, to?, body, hours_ago?, media?}`: queue an
/// inbound message for `process-inbound` exactly as webhook ingest would
/// have, received `hours_ago` hours ago. It skips the signature (dev only);
/// for a signed webhook through the real ingest use the stand-in's
/// `POST /_standin/inbound` (`make inbound`).
async fn inbound(State(d): State<DevApi>, body: axum::body::Bytes) -> Response {
    let Some(input) = InboundInput::parse(&body) else {
        return dev_error(
            StatusCode::BAD_REQUEST,
            "invalid_body",
            "expected {\"from\", \"body\", \"hours_ago\"?, \"to\"?, \"media\"?}",
        );
    };
    if !input.hours_ago.is_finite() || !(0.0..=24.0 * 365.0).contains(&input.hours_ago) {
        return dev_error(
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_hours_ago",
            "hours_ago must be between 0 and 8760",
        );
    }
    let to = input.to.as_deref().unwrap_or(DEMO_BUSINESS_NUMBER);
    let sid = d.standin.new_message_sid();
    let mut params = d.standin.inbound_params(&sid, &input.from, to, &input.body);
    if !input.media.is_empty() {
        params.retain(|(k, _)| k != "NumMedia");
        params.push(("NumMedia".into(), input.media.len().to_string()));
        for (i, (url, content_type)) in input.media.iter().enumerate() {
            params.push((format!("MediaUrl{i}"), url.clone()));
            if let Some(ct) = content_type {
                params.push((format!("MediaContentType{i}"), ct.clone()));
            }
        }
    }
    let at = d.clock.now() - chrono::Duration::milliseconds((input.hours_ago * 3.6e6) as i64);
    let received_at = format_ts(at);
    let envelope = Envelope::new(Source::Messaging, params, None, None, received_at.clone());
    let Ok(text) = serde_json::to_string(&envelope) else {
        return dev_error(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            "could not encode",
        );
    };
    match d
        .sqs
        .send_message()
        .queue_url(&d.queue_url)
        .message_body(text)
        .send()
        .await
    {
        Ok(_) => (
            StatusCode::ACCEPTED,
            axum::Json(json!({"message_sid": sid, "received_at": received_at})),
        )
            .into_response(),
        Err(e) => {
            tracing::warn!(error = %e, "dev inbound: SQS refused");
            dev_error(
                StatusCode::SERVICE_UNAVAILABLE,
                "queue_unavailable",
                "the queue refused the message",
            )
        }
    }
}
