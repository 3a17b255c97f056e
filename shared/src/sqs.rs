//! SQS `SendMessage` without the SQS SDK crate: the one SQS call any
//! function makes (the webhooks enqueue, `send-message` puts outbox
//! records on the inbound queue).
//!
//! Why by hand: on the webhook path the SDK's orchestrator, interceptors
//! and endpoint resolution cost more CPU than the signature check and the
//! HTTP exchange together, and the SQS crate adds its own code to every
//! binary that links it. This is the same request the SDK sends (SQS's
//! JSON protocol, `AmazonSQS.SendMessage`), signed and sent by
//! [`crate::awsjson`] (the SDK's own signer, credentials, retries and
//! timeouts) over the process's one HTTPS connector ([`crate::aws`]).
//!
//! - **Endpoint**: the SQS crate's resolver is not linked; the endpoint is
//!   `AWS_ENDPOINT_URL_SQS` / `AWS_ENDPOINT_URL` when set, else
//!   `https://sqs.{region}.{partition domain}` (FIPS and dual-stack as
//!   configured), which is what SQS's endpoint rules give for every
//!   partition (a test compares it with the SQS crate's resolver).
//! - **Retries**: [`crate::awsjson`]'s. Every attempt is the same message:
//!   a lost answer followed by a successful retry can leave it on the
//!   queue twice, as with the SDK (the consumers are idempotent).
//!
//! The answer's `MD5OfMessageBody` is not checked (TLS already protects
//! the exchange; the Rust SDK does not check it either).

use aws_config::SdkConfig;

use crate::awsjson::{self, partition_domain};
pub use crate::awsjson::{AwsError as SqsError, Retry};

const PROTOCOL: awsjson::Protocol = awsjson::Protocol {
    service: "SQS",
    signing_name: "sqs",
    content_type: "application/x-amz-json-1.0",
};

/// What SQS answered to a `SendMessage`.
#[derive(Debug, serde::Deserialize)]
pub struct Sent {
    #[serde(rename = "MessageId")]
    pub message_id: String,
}

#[derive(serde::Serialize)]
struct SendMessageInput<'a> {
    #[serde(rename = "QueueUrl")]
    queue_url: &'a str,
    #[serde(rename = "MessageBody")]
    message_body: &'a str,
}

/// An SQS client for `SendMessage` (see the module docs).
#[derive(Debug)]
pub struct Queue {
    client: awsjson::Client,
}

/// The SQS endpoint `sdk` points at (see the module docs).
pub fn endpoint(sdk: &SdkConfig) -> Result<String, SqsError> {
    endpoint_with(sdk, &|k| std::env::var(k).ok().filter(|v| !v.is_empty()))
}

/// [`endpoint`] over any environment `env` (`AWS_ENDPOINT_URL_SQS`, unless
/// `AWS_IGNORE_CONFIGURED_ENDPOINT_URLS=true`, as for the SDK's clients).
pub fn endpoint_with(
    sdk: &SdkConfig,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<String, SqsError> {
    let ignore =
        env("AWS_IGNORE_CONFIGURED_ENDPOINT_URLS").is_some_and(|v| v.eq_ignore_ascii_case("true"));
    if let Some(url) = env("AWS_ENDPOINT_URL_SQS")
        .filter(|_| !ignore)
        .or_else(|| sdk.endpoint_url().map(str::to_string))
    {
        return Ok(url.trim_end_matches('/').to_string());
    }
    let region = sdk
        .region()
        .map(|r| r.as_ref().to_string())
        .ok_or_else(|| SqsError::Config("no region".into()))?;
    let dual = sdk.use_dual_stack().unwrap_or(false);
    // GovCloud's regular SQS endpoints are its FIPS endpoints.
    let fips = if sdk.use_fips().unwrap_or(false) && (dual || !region.starts_with("us-gov-")) {
        "-fips"
    } else {
        ""
    };
    let domain = partition_domain(&region, dual);
    Ok(format!("https://sqs{fips}.{region}.{domain}"))
}

impl Queue {
    /// A client for the SQS endpoint of `sdk` (see [`endpoint`]), over
    /// `connector`, with `sdk`'s credentials, retry and timeout settings.
    pub fn new(
        sdk: &SdkConfig,
        connector: impl Into<awsjson::Transport>,
    ) -> Result<Self, SqsError> {
        Ok(Self {
            client: awsjson::Client::new(sdk, connector, &endpoint(sdk)?, PROTOCOL)?,
        })
    }

    /// Where requests go (`{endpoint}/`).
    pub fn url(&self) -> &str {
        self.client.url()
    }

    pub fn retry(&self) -> Retry {
        self.client.retry()
    }

    /// Read the credentials now (init), so the first message does not.
    /// A failure is only logged: sending reads them again.
    pub async fn prefetch_credentials(&self) {
        self.client.prefetch_credentials().await
    }

    /// Put `body` on the queue at `queue_url` (see the module docs).
    pub async fn send(&self, queue_url: &str, body: &str) -> Result<Sent, SqsError> {
        let input = SendMessageInput {
            queue_url,
            message_body: body,
        };
        self.client
            .call_json(
                "AmazonSQS.SendMessage",
                &[("x-amzn-query-mode", "true")],
                &input,
            )
            .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sdk(region: &str, fips: bool, dual: bool, endpoint: Option<&str>) -> SdkConfig {
        let mut b = SdkConfig::builder()
            .region(aws_config::Region::new(region.to_string()))
            .use_fips(fips)
            .use_dual_stack(dual)
            .behavior_version(aws_config::BehaviorVersion::latest());
        if let Some(e) = endpoint {
            b = b.endpoint_url(e);
        }
        b.build()
    }

    #[test]
    fn when_no_endpoint_is_configured_it_should_be_the_regional_sqs_endpoint() {
        if std::env::var_os("AWS_ENDPOINT_URL_SQS").is_some() {
            return;
        }
        let cases = [
            (
                "eu-west-1",
                false,
                false,
                "https://sqs.eu-west-1.amazonaws.com",
            ),
            (
                "us-east-1",
                true,
                false,
                "https://sqs-fips.us-east-1.amazonaws.com",
            ),
            ("eu-west-1", false, true, "https://sqs.eu-west-1.api.aws"),
            (
                "cn-north-1",
                false,
                false,
                "https://sqs.cn-north-1.amazonaws.com.cn",
            ),
            (
                "us-gov-west-1",
                true,
                false,
                "https://sqs.us-gov-west-1.amazonaws.com",
            ),
            (
                "us-gov-west-1",
                true,
                true,
                "https://sqs-fips.us-gov-west-1.api.aws",
            ),
        ];
        for (region, fips, dual, want) in cases {
            assert_eq!(endpoint(&sdk(region, fips, dual, None)).unwrap(), want);
        }
        assert_eq!(
            endpoint(&sdk(
                "eu-west-1",
                false,
                false,
                Some("http://127.0.0.1:5000/")
            ))
            .unwrap(),
            "http://127.0.0.1:5000"
        );
        let env = |vars: &'static [(&'static str, &'static str)]| {
            move |k: &str| {
                vars.iter()
                    .find(|(n, _)| *n == k)
                    .map(|(_, v)| v.to_string())
            }
        };
        let plain = sdk("eu-west-1", false, false, None);
        assert_eq!(
            endpoint_with(
                &plain,
                &env(&[("AWS_ENDPOINT_URL_SQS", "http://127.0.0.1:9324")])
            )
            .unwrap(),
            "http://127.0.0.1:9324"
        );
        assert_eq!(
            endpoint_with(
                &plain,
                &env(&[
                    ("AWS_ENDPOINT_URL_SQS", "http://127.0.0.1:9324"),
                    ("AWS_IGNORE_CONFIGURED_ENDPOINT_URLS", "true"),
                ])
            )
            .unwrap(),
            "https://sqs.eu-west-1.amazonaws.com"
        );
    }
}
