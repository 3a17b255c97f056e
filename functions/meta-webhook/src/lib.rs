//! `GET /webhooks/meta`: the verify-token handshake (echo `hub.challenge`
//! as `text/plain`, 403 for a wrong token). `POST /webhooks/meta`: verify
//! `X-Hub-Signature-256` (HMAC-SHA256 of the raw body with the app secret),
//! enqueue the delivery verbatim, answer 200 only once SQS has it (503
//! otherwise, so Meta retries). No DynamoDB and no Graph call on this path.
//!
//! Its own function, not a route of `webhook-ingest`: it holds Meta's app
//! secret and verify token and nothing of Twilio's (and the other way
//! round), and one binary per action keeps each cold start minimal.

use lambda_http::{Body, Request, Response};
use shared::meta::webhook::{MetaWebhookConfig, accept, handshake};
use shared::{ApiError, http};

pub struct MetaWebhook {
    pub config: MetaWebhookConfig,
    pub sqs: std::sync::Arc<shared::sqs::Queue>,
    pub clock: shared::clock::Clock,
}

impl MetaWebhook {
    /// Build from the environment and the secrets it names (app secret,
    /// verify token): the SQS client over the process's one HTTPS
    /// connector, its first connection opened now (see [`shared::aws`]).
    pub async fn from_env() -> Result<Self, shared::app::InitError> {
        let (sqs, settings, _) = shared::app::queue_init().await?;
        let config = MetaWebhookConfig::from_lookup(|n| settings.get(n))?;
        Ok(Self::new(config, std::sync::Arc::new(sqs)))
    }

    pub fn new(config: MetaWebhookConfig, sqs: std::sync::Arc<shared::sqs::Queue>) -> Self {
        Self {
            config,
            sqs,
            clock: shared::clock::Clock::default(),
        }
    }
}

pub async fn handle(deps: &MetaWebhook, req: Request) -> Response<Body> {
    http::respond(run(deps, &req).await)
}

async fn run(deps: &MetaWebhook, req: &Request) -> Result<Response<Body>, ApiError> {
    let text = |status: u16, body: String| {
        Response::builder()
            .status(status)
            .header("content-type", "text/plain")
            .body(Body::Text(body))
            .map_err(|e| ApiError::Internal(e.to_string()))
    };
    match req.method().as_str() {
        "GET" => {
            let challenge = handshake(&deps.config, req.uri().query())?;
            tracing::info!("meta webhook handshake answered");
            text(200, challenge)
        }
        "POST" => {
            let header = |name: &str| req.headers().get(name).and_then(|v| v.to_str().ok());
            let body: &[u8] = match req.body() {
                Body::Text(t) => t.as_bytes(),
                Body::Binary(b) => b,
                _ => &[],
            };
            let received_at = shared::clock::format_ts(deps.clock.now());
            let envelope = accept(
                &deps.config,
                header("content-type"),
                header("x-hub-signature-256"),
                body,
                received_at,
            )?;
            let message = serde_json::to_string(&envelope)
                .map_err(|e| ApiError::Internal(format!("envelope: {e}")))?;
            deps.sqs
                .send(&deps.config.queue_url, &message)
                .await
                .map_err(|e| {
                    tracing::error!(error = %e, "enqueue failed");
                    ApiError::QueueUnavailable
                })?;
            tracing::info!(source = "meta", "webhook enqueued");
            text(200, String::new())
        }
        _ => Err(ApiError::MethodNotAllowed),
    }
}

/// The sample events in `events/` are this function's input.
#[cfg(test)]
mod tests {
    #[test]
    fn when_the_sample_event_meta_webhook_is_replayed_it_should_be_this_route() {
        let event = include_str!("../../../events/meta-webhook.json");
        let req = shared::lambda::sample_request(event, "POST", "/webhooks/meta").unwrap();
        assert!(shared::http::header(&req, "x-hub-signature-256").is_some());
    }

    #[test]
    fn when_the_sample_event_meta_webhook_verify_is_replayed_it_should_be_this_route() {
        let event = include_str!("../../../events/meta-webhook-verify.json");
        let req = shared::lambda::sample_request(event, "GET", "/webhooks/meta").unwrap();
        assert!(
            req.uri()
                .query()
                .is_some_and(|q| q.contains("hub.challenge"))
        );
    }
}
