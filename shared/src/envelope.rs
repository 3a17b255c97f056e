//! The versioned message webhook ingest puts on the queue: every parameter
//! Twilio sent (it adds new ones without notice), the route, Twilio's
//! idempotency token and the receive time.

use serde::{Deserialize, Serialize};

pub const ENVELOPE_VERSION: u32 = 1;

/// Which webhook URL Twilio called.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Source {
    /// `/webhooks/twilio/messaging`: inbound WhatsApp/SMS and status callbacks.
    Messaging,
    /// `/webhooks/twilio/conversations`: Conversations post-event webhooks.
    Conversations,
    /// `/webhooks/meta`: a WhatsApp Cloud API delivery (messages and
    /// statuses, possibly several), its signed JSON body kept verbatim.
    Meta,
}

impl Source {
    pub fn path(self) -> &'static str {
        match self {
            Self::Messaging => "/webhooks/twilio/messaging",
            Self::Conversations => "/webhooks/twilio/conversations",
            Self::Meta => "/webhooks/meta",
        }
    }

    /// The Twilio route a request path ends with (the path may carry a stage
    /// prefix). Meta's route has its own function and verification.
    pub fn from_path(path: &str) -> Option<Self> {
        let path = path.trim_end_matches('/');
        [Self::Messaging, Self::Conversations]
            .into_iter()
            .find(|s| path.ends_with(s.path()))
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    InboundMessage,
    StatusCallback,
    ConversationEvent,
    /// A provider's JSON delivery, normalised by its adapter when processed.
    ProviderWebhook,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Envelope {
    pub v: u32,
    pub source: Source,
    pub kind: Kind,
    /// Every form parameter, in the order received (repeats kept).
    pub params: Vec<(String, String)>,
    /// A JSON webhook body, verbatim.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub json_body: Option<String>,
    /// `I-Twilio-Idempotency-Token`, when Twilio sent one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub idempotency_token: Option<String>,
    pub received_at: String,
    /// The Twilio account whose own auth token verified this webhook (an
    /// org's registered account, see `shared::vault`); `None` when the
    /// environment's token did (or for Meta). The processor accepts a
    /// message only for a number of that same account.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub account: Option<String>,
}

impl Envelope {
    pub fn new(
        source: Source,
        params: Vec<(String, String)>,
        json_body: Option<String>,
        idempotency_token: Option<String>,
        received_at: String,
    ) -> Self {
        let kind = classify(source, &params);
        Self {
            v: ENVELOPE_VERSION,
            source,
            kind,
            params,
            json_body,
            idempotency_token,
            received_at,
            account: None,
        }
    }

    /// Record the org account whose token verified the webhook.
    pub fn verified_by(mut self, account: Option<String>) -> Self {
        self.account = account;
        self
    }

    /// The first value of a parameter.
    pub fn param(&self, name: &str) -> Option<&str> {
        self.params
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// Parse a queued envelope; an unknown version is refused.
    pub fn from_json(s: &str) -> Result<Self, String> {
        let env: Self = serde_json::from_str(s).map_err(|e| e.to_string())?;
        if env.v != ENVELOPE_VERSION {
            return Err(format!("unsupported envelope version {}", env.v));
        }
        Ok(env)
    }
}

/// Inbound messages carry no `MessageStatus`; status callbacks do.
pub fn classify(source: Source, params: &[(String, String)]) -> Kind {
    match source {
        Source::Meta => Kind::ProviderWebhook,
        Source::Conversations => Kind::ConversationEvent,
        Source::Messaging if params.iter().any(|(k, _)| k == "MessageStatus") => {
            Kind::StatusCallback
        }
        Source::Messaging => Kind::InboundMessage,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn when_message_status_is_present_it_should_be_a_status_callback() {
        let params = p(&[("MessageSid", "SM1"), ("MessageStatus", "delivered")]);
        assert_eq!(classify(Source::Messaging, &params), Kind::StatusCallback);
        let params = p(&[("MessageSid", "SM1"), ("Body", "hi")]);
        assert_eq!(classify(Source::Messaging, &params), Kind::InboundMessage);
        assert_eq!(
            classify(Source::Conversations, &params),
            Kind::ConversationEvent
        );
    }

    #[test]
    fn when_an_envelope_round_trips_it_should_keep_every_parameter() {
        let env = Envelope::new(
            Source::Messaging,
            p(&[("Body", "a"), ("Body", "b"), ("NewTwilioParam", "x")]),
            None,
            Some("tok".into()),
            "2026-01-01T00:00:00.000Z".into(),
        );
        let back = Envelope::from_json(&serde_json::to_string(&env).unwrap()).unwrap();
        assert_eq!(back, env);
        assert_eq!(back.param("Body"), Some("a"));
    }

    #[test]
    fn when_the_version_is_unknown_it_should_be_refused() {
        let s = r#"{"v":9,"source":"messaging","kind":"inbound_message","params":[],"received_at":"x"}"#;
        assert!(Envelope::from_json(s).is_err());
        assert!(Envelope::from_json("not json").is_err());
    }

    #[test]
    fn when_the_path_has_a_stage_prefix_it_should_still_find_the_route() {
        assert_eq!(
            Source::from_path("/prod/webhooks/twilio/messaging"),
            Some(Source::Messaging)
        );
        assert_eq!(Source::from_path("/webhooks/twilio/other"), None);
    }
}
