//! `POST /webhooks/twilio/messaging`, `POST /webhooks/twilio/conversations`:
//! verify the Twilio signature, enqueue every parameter, answer 200 only
//! once SQS has the message (503 otherwise, so Twilio retries). No DynamoDB
//! and no Twilio call on this path.
//!
//! The token a webhook is checked with follows its `AccountSid`: an org's
//! own Twilio account registered with its credentials (`shared::vault`,
//! read from Secrets Manager once and cached) is checked with that
//! account's token only; any other account with the environment's tokens
//! (a single-account install).

use lambda_http::{Body, Request, Response};
use shared::envelope::Source;
use shared::ingest::{EMPTY_TWIML, Incoming, IngestConfig, prepare};
use shared::vault::{Vault, VaultError};
use shared::{ApiError, http};

pub struct Ingest {
    pub config: IngestConfig,
    pub sqs: std::sync::Arc<shared::sqs::Queue>,
    pub clock: shared::clock::Clock,
    /// Org accounts' tokens (disabled without `CREDENTIALS_PREFIX`).
    pub vault: Vault,
}

impl Ingest {
    /// Build from the environment and the secrets it names (the auth
    /// tokens): the SQS client over the process's one HTTPS connector, its
    /// first connection opened now (see [`shared::aws`]).
    pub async fn from_env() -> Result<Self, shared::app::InitError> {
        let (sqs, settings, vault) = shared::app::queue_init().await?;
        let config = IngestConfig::from_lookup(|n| settings.get(n))?;
        Ok(Self::new(config, std::sync::Arc::new(sqs)).with_vault(vault))
    }

    pub fn with_vault(mut self, vault: Vault) -> Self {
        self.vault = vault;
        self
    }

    pub fn new(config: IngestConfig, sqs: std::sync::Arc<shared::sqs::Queue>) -> Self {
        Self {
            config,
            sqs,
            clock: shared::clock::Clock::default(),
            vault: Vault::default(),
        }
    }
}

pub async fn handle(deps: &Ingest, req: Request) -> Response<Body> {
    http::respond(run(deps, &req).await)
}

async fn run(deps: &Ingest, req: &Request) -> Result<Response<Body>, ApiError> {
    if req.method() != lambda_http::http::Method::POST {
        return Err(ApiError::MethodNotAllowed);
    }
    let header = |name: &str| req.headers().get(name).and_then(|v| v.to_str().ok());
    let body: &[u8] = match req.body() {
        Body::Text(t) => t.as_bytes(),
        Body::Binary(b) => b,
        _ => &[],
    };
    let incoming = Incoming {
        path: req.uri().path(),
        raw_query: req.uri().query(),
        content_type: header("content-type"),
        signature: header("x-twilio-signature"),
        idempotency_token: header("i-twilio-idempotency-token"),
        body,
    };
    let received_at = shared::clock::format_ts(deps.clock.now());
    let unverified = prepare(&deps.config, &incoming)?;
    let org_account = match unverified.account_sid() {
        Some(sid) if Some(sid) != deps.config.account_sid.as_deref() => {
            deps.vault.twilio_account(sid).await.map_err(|e| match e {
                // Twilio retries a 503; the webhook is not lost.
                VaultError::Throttled | VaultError::Unavailable(_) => {
                    tracing::warn!(error = %e, "account credentials not readable now");
                    ApiError::Unavailable {
                        code: "credentials_unavailable",
                        message: "the account's credentials cannot be read now; retry".into(),
                    }
                }
                e => ApiError::Internal(e.to_string()),
            })?
        }
        _ => None,
    };
    let envelope = match &org_account {
        // A registered account's webhooks: its own token, nothing else.
        Some(acc) => unverified.verify(
            &[acc.auth_token.expose()],
            Some(acc.account_sid.clone()),
            received_at,
        )?,
        None => {
            let tokens: Vec<&str> = deps.config.auth_tokens.iter().map(String::as_str).collect();
            unverified.verify(&tokens, None, received_at)?
        }
    };
    let message = serde_json::to_string(&envelope)
        .map_err(|e| ApiError::Internal(format!("envelope: {e}")))?;
    let kind = format!("{:?}", envelope.kind);
    deps.sqs
        .send(&deps.config.queue_url, &message)
        .await
        .map_err(|e| {
            tracing::error!(error = %e, "enqueue failed");
            ApiError::QueueUnavailable
        })?;
    tracing::info!(kind, source = ?envelope.source, "webhook enqueued");
    let response = match envelope.source {
        Source::Messaging => Response::builder()
            .status(200)
            .header("content-type", "text/xml")
            .body(Body::Text(EMPTY_TWIML.into())),
        Source::Conversations | Source::Meta => Response::builder().status(200).body(Body::Empty),
    };
    response.map_err(|e| ApiError::Internal(e.to_string()))
}

/// The sample events in `events/` are this function's input.
#[cfg(test)]
mod tests {
    #[test]
    fn when_the_sample_event_webhook_ingest_conversations_is_replayed_it_should_be_this_route() {
        let event = include_str!("../../../events/webhook-ingest-conversations.json");
        let req = shared::lambda::sample_request(event, "POST", "/webhooks/twilio/conversations")
            .unwrap();
        assert!(shared::http::header(&req, "x-twilio-signature").is_some());
    }

    #[test]
    fn when_the_sample_event_webhook_ingest_messaging_is_replayed_it_should_be_this_route() {
        let event = include_str!("../../../events/webhook-ingest-messaging.json");
        let req =
            shared::lambda::sample_request(event, "POST", "/webhooks/twilio/messaging").unwrap();
        assert!(shared::http::header(&req, "x-twilio-signature").is_some());
    }
}
