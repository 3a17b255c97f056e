//! SQS `SendMessage` without the SQS SDK crate: the one SQS call any
//! function makes (the webhooks enqueue, `send-message` puts outbox
//! records on the inbound queue).
//!
//! Why by hand: on the webhook path the SDK's orchestrator, interceptors
//! and endpoint resolution cost more CPU than the signature check and the
//! HTTP exchange together, and the SQS crate adds its own code to every
//! binary that links it. This is the same request the SDK sends (SQS's
//! JSON protocol, `AmazonSQS.SendMessage`), signed with [`aws_sigv4`] (the
//! SDK's own signer) and sent over the process's one HTTPS connector
//! ([`crate::aws`]).
//!
//! What it keeps from the SDK, from the same [`SdkConfig`]:
//! - **Credentials**: the SDK's provider chain, cached until five minutes
//!   before they expire (15 minutes for credentials without an expiry, as
//!   the SDK's identity cache does), and read once during init
//!   ([`Queue::prefetch_credentials`]).
//! - **Endpoint**: the SQS crate's resolver is not linked; the endpoint is
//!   `AWS_ENDPOINT_URL_SQS` / `AWS_ENDPOINT_URL` when set, else
//!   `https://sqs.{region}.{partition domain}` (FIPS and dual-stack as
//!   configured), which is what SQS's endpoint rules give for every
//!   partition (a test compares it with the SQS crate's resolver).
//! - **Retries**: the standard mode's attempts and backoff (3 attempts,
//!   a random wait up to 1 s, then up to 2 s, … capped at 20 s; as the
//!   configuration says). An attempt is retried after a network error, a
//!   timeout, a 5xx, a 429 or a throttling / transient error code; any
//!   other refusal is returned at once. The SDK's client-wide retry quota is
//!   not kept: a Lambda process sends one message at a time.
//! - **Timeouts**: the configuration's attempt timeout (connect, send and
//!   the whole answer).
//!
//! The answer's `MD5OfMessageBody` is not checked (TLS already protects
//! the exchange; the Rust SDK does not check it either).

use std::sync::Mutex;
use std::time::{Duration, Instant, SystemTime};

use aws_config::SdkConfig;
use aws_credential_types::provider::{ProvideCredentials, SharedCredentialsProvider};
use aws_sigv4::http_request::{SignableBody, SignableRequest, SigningSettings, sign};
use aws_sigv4::sign::v4;
use aws_smithy_runtime_api::client::http::{HttpConnector, SharedHttpConnector};
use aws_smithy_runtime_api::client::identity::Identity;

/// Credentials without an expiry are read again after this long.
const NO_EXPIRY_TTL: Duration = Duration::from_secs(15 * 60);
/// Credentials with an expiry are read again this long before it.
const EXPIRY_BUFFER: Duration = Duration::from_secs(5 * 60);
/// Error codes worth another attempt besides any 5xx and 429 (the SDK's
/// throttling and transient codes that SQS can answer).
const RETRYABLE_CODES: &[&str] = &[
    "Throttling",
    "ThrottlingException",
    "RequestThrottled",
    "RequestThrottledException",
    "TooManyRequestsException",
    "RequestLimitExceeded",
    "KmsThrottled",
    "KMS.ThrottlingException",
    "RequestTimeout",
    "RequestTimeoutException",
    "ServiceUnavailable",
    "InternalError",
];

#[derive(Debug, thiserror::Error)]
pub enum SqsError {
    #[error("no AWS credentials: {0}")]
    Credentials(String),
    #[error("SQS configuration: {0}")]
    Config(String),
    #[error("signing: {0}")]
    Signing(String),
    /// SQS answered with an error.
    #[error("SQS answered {status} {code}: {message}")]
    Service {
        status: u16,
        code: String,
        message: String,
    },
    #[error("SQS unreachable: {0}")]
    Network(String),
    #[error("SQS did not answer within {0:?}")]
    Timeout(Duration),
    /// A 200 whose body is not `SendMessage`'s answer.
    #[error("unexpected SQS answer: {0}")]
    Answer(String),
}

impl SqsError {
    /// Worth another attempt (the SDK's standard classification).
    pub fn is_transient(&self) -> bool {
        match self {
            Self::Network(_) | Self::Timeout(_) => true,
            Self::Service { status, code, .. } => {
                *status >= 500 || *status == 429 || RETRYABLE_CODES.contains(&code.as_str())
            }
            _ => false,
        }
    }
}

/// The standard retry mode's settings.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Retry {
    pub max_attempts: u32,
    pub initial_backoff: Duration,
    pub max_backoff: Duration,
}

impl Retry {
    fn from_sdk(sdk: &SdkConfig) -> Self {
        match sdk.retry_config() {
            Some(r) => Self {
                max_attempts: r.max_attempts().max(1),
                initial_backoff: r.initial_backoff(),
                max_backoff: r.max_backoff(),
            },
            None => Self {
                max_attempts: 3,
                initial_backoff: Duration::from_secs(1),
                max_backoff: Duration::from_secs(20),
            },
        }
    }

    /// The wait before attempt `attempt + 1` (`attempt` ≥ 1): full jitter
    /// over the exponential backoff, as the SDK does.
    fn backoff(&self, attempt: u32) -> Duration {
        let exp = self
            .initial_backoff
            .saturating_mul(1u32 << (attempt - 1).min(16))
            .min(self.max_backoff);
        exp.mul_f64(fastrand::f64())
    }
}

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
pub struct Queue {
    connector: SharedHttpConnector,
    /// `{endpoint}/`, where every SQS JSON call is posted.
    url: String,
    region: String,
    credentials: Option<SharedCredentialsProvider>,
    cached: Mutex<Option<(Identity, Instant)>>,
    retry: Retry,
    attempt_timeout: Duration,
}

impl std::fmt::Debug for Queue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Queue")
            .field("url", &self.url)
            .field("region", &self.region)
            .field("retry", &self.retry)
            .finish_non_exhaustive()
    }
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

/// `(prefix of its regions, DNS suffix, dual-stack DNS suffix)` of every
/// partition but `aws` (AWS's partitions file, as the SDK 1.119 has it).
const PARTITIONS: &[(&str, &str, &str)] = &[
    ("cn-", "amazonaws.com.cn", "api.amazonwebservices.com.cn"),
    ("eusc-de-", "amazonaws.eu", "api.amazonwebservices.eu"),
    ("us-iso-", "c2s.ic.gov", "api.aws.ic.gov"),
    ("us-isob-", "sc2s.sgov.gov", "api.aws.scloud"),
    ("eu-isoe-", "cloud.adc-e.uk", "api.cloud-aws.adc-e.uk"),
    ("us-isof-", "csp.hci.ic.gov", "api.aws.hci.ic.gov"),
    ("us-gov-", "amazonaws.com", "api.aws"),
];

/// The DNS suffix of `region`'s partition (anything not listed in
/// [`PARTITIONS`] is `aws`).
fn partition_domain(region: &str, dual_stack: bool) -> &'static str {
    let (plain, dual) = PARTITIONS
        .iter()
        .find(|(prefix, _, _)| region.starts_with(prefix))
        .map(|(_, plain, dual)| (*plain, *dual))
        .unwrap_or(("amazonaws.com", "api.aws"));
    if dual_stack { dual } else { plain }
}

impl Queue {
    /// A client for the SQS endpoint of `sdk` (see [`endpoint`]), over
    /// `connector`, with `sdk`'s credentials, retry and timeout settings.
    pub fn new(sdk: &SdkConfig, connector: SharedHttpConnector) -> Result<Self, SqsError> {
        let endpoint = endpoint(sdk)?;
        let uri: http::Uri = endpoint
            .parse()
            .map_err(|e| SqsError::Config(format!("endpoint {endpoint:?}: {e}")))?;
        if !matches!(uri.scheme_str(), Some("http" | "https")) || uri.host().is_none() {
            return Err(SqsError::Config(format!(
                "endpoint {endpoint:?}: not an http(s) URL"
            )));
        }
        Ok(Self {
            connector,
            url: format!("{endpoint}/"),
            region: sdk
                .region()
                .map(|r| r.as_ref().to_string())
                .unwrap_or_else(|| "us-east-1".into()),
            credentials: sdk.credentials_provider(),
            cached: Mutex::new(None),
            retry: Retry::from_sdk(sdk),
            attempt_timeout: sdk
                .timeout_config()
                .and_then(|t| t.operation_attempt_timeout())
                .unwrap_or(crate::aws::ATTEMPT_TIMEOUT),
        })
    }

    /// Where requests go (`{endpoint}/`).
    pub fn url(&self) -> &str {
        &self.url
    }

    pub fn retry(&self) -> Retry {
        self.retry
    }

    /// Read the credentials now (init), so the first message does not.
    /// A failure is only logged: sending reads them again.
    pub async fn prefetch_credentials(&self) {
        if let Err(e) = self.identity().await {
            tracing::debug!(error = %e, "SQS credentials not read at init");
        }
    }

    async fn identity(&self) -> Result<Identity, SqsError> {
        if let Ok(cached) = self.cached.lock()
            && let Some((identity, refresh_at)) = cached.as_ref()
            && Instant::now() < *refresh_at
        {
            return Ok(identity.clone());
        }
        let provider = self
            .credentials
            .as_ref()
            .ok_or_else(|| SqsError::Credentials("no credentials provider".into()))?;
        let credentials = provider
            .provide_credentials()
            .await
            .map_err(|e| SqsError::Credentials(e.to_string()))?;
        let ttl = credentials
            .expiry()
            .map(|at| {
                at.duration_since(SystemTime::now())
                    .unwrap_or_default()
                    .saturating_sub(EXPIRY_BUFFER)
            })
            .unwrap_or(NO_EXPIRY_TTL);
        let identity: Identity = credentials.into();
        if let Ok(mut cached) = self.cached.lock() {
            *cached = Some((identity.clone(), Instant::now() + ttl));
        }
        Ok(identity)
    }

    /// Put `body` on the queue at `queue_url`, retrying as the module docs
    /// say. Every attempt is the same message: a lost answer followed by a
    /// successful retry can leave it on the queue twice, as with the SDK
    /// (the consumers are idempotent).
    pub async fn send(&self, queue_url: &str, body: &str) -> Result<Sent, SqsError> {
        let input = serde_json::to_vec(&SendMessageInput {
            queue_url,
            message_body: body,
        })
        .map_err(|e| SqsError::Config(e.to_string()))?;
        let mut attempt = 1;
        loop {
            let result = tokio::time::timeout(self.attempt_timeout, self.attempt(&input))
                .await
                .unwrap_or(Err(SqsError::Timeout(self.attempt_timeout)));
            match result {
                Err(e) if e.is_transient() && attempt < self.retry.max_attempts => {
                    let wait = self.retry.backoff(attempt);
                    tracing::debug!(error = %e, attempt, ?wait, "SendMessage retried");
                    tokio::time::sleep(wait).await;
                    attempt += 1;
                }
                other => return other,
            }
        }
    }

    /// One signed `SendMessage` request and its answer.
    async fn attempt(&self, input: &[u8]) -> Result<Sent, SqsError> {
        let identity = self.identity().await?;
        let headers = [
            ("content-type", "application/x-amz-json-1.0"),
            ("x-amz-target", "AmazonSQS.SendMessage"),
            ("x-amzn-query-mode", "true"),
        ];
        let params = v4::SigningParams::builder()
            .identity(&identity)
            .region(&self.region)
            .name("sqs")
            .time(SystemTime::now())
            .settings(SigningSettings::default())
            .build()
            .map_err(|e| SqsError::Signing(e.to_string()))?
            .into();
        let signable = SignableRequest::new(
            "POST",
            &self.url,
            headers.iter().copied(),
            SignableBody::Bytes(input),
        )
        .map_err(|e| SqsError::Signing(e.to_string()))?;
        let (instructions, _) = sign(signable, &params)
            .map_err(|e| SqsError::Signing(e.to_string()))?
            .into_parts();
        let mut request = http::Request::builder()
            .method("POST")
            .uri(&self.url)
            .header("content-length", input.len());
        for (name, value) in headers.iter().copied().chain(instructions.headers()) {
            request = request.header(name, value);
        }
        let request = request
            .body(aws_smithy_types::body::SdkBody::from(input.to_vec()))
            .map_err(|e| SqsError::Signing(e.to_string()))?;
        let request = aws_smithy_runtime_api::client::orchestrator::HttpRequest::try_from(request)
            .map_err(|e| SqsError::Signing(e.to_string()))?;
        let response = self.connector.call(request).await.map_err(|e| {
            SqsError::Network(aws_smithy_types::error::display::DisplayErrorContext(&e).to_string())
        })?;
        let status = response.status().as_u16();
        let query_error = response
            .headers()
            .get("x-amzn-query-error")
            .map(str::to_string);
        let bytes = aws_smithy_types::byte_stream::ByteStream::new(response.into_body())
            .collect()
            .await
            .map_err(|e| SqsError::Network(e.to_string()))?
            .into_bytes();
        if (200..300).contains(&status) {
            return serde_json::from_slice::<Sent>(&bytes).map_err(|e| {
                SqsError::Answer(format!("{e}: {}", String::from_utf8_lossy(&bytes)))
            });
        }
        let (code, message) = error_of(query_error.as_deref(), &bytes);
        Err(SqsError::Service {
            status,
            code,
            message,
        })
    }
}

/// An error answer's code and message: the query-compatible code header
/// (`AWS.SimpleQueueService.NonExistentQueue;Sender`), else the JSON
/// `__type` (`com.amazonaws.sqs#QueueDoesNotExist`), else an XML `<Code>`
/// (a gateway's or an emulator's), else empty.
fn error_of(query_error: Option<&str>, body: &[u8]) -> (String, String) {
    #[derive(serde::Deserialize, Default)]
    struct JsonError {
        #[serde(rename = "__type", default)]
        kind: String,
        #[serde(alias = "Message", default)]
        message: String,
    }
    let json: JsonError = serde_json::from_slice(body).unwrap_or_default();
    let text = String::from_utf8_lossy(body);
    let xml = |tag: &str| {
        let open = format!("<{tag}>");
        let start = text.find(&open)? + open.len();
        let end = text[start..].find("</")? + start;
        Some(text[start..end].to_string())
    };
    let code = query_error
        .and_then(|q| q.split(';').next())
        .filter(|c| !c.is_empty())
        .map(str::to_string)
        .or_else(|| {
            let t = json.kind.rsplit('#').next().unwrap_or("");
            (!t.is_empty()).then(|| t.split(':').next().unwrap_or(t).to_string())
        })
        .or_else(|| xml("Code"))
        .unwrap_or_default();
    let message = if json.message.is_empty() {
        xml("Message").unwrap_or_default()
    } else {
        json.message
    };
    (code, message)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn when_sqs_answers_an_error_it_should_read_the_code_from_the_header_json_or_xml() {
        let json = br#"{"__type":"com.amazonaws.sqs#QueueDoesNotExist","message":"The specified queue does not exist."}"#;
        assert_eq!(
            error_of(Some("AWS.SimpleQueueService.NonExistentQueue;Sender"), json),
            (
                "AWS.SimpleQueueService.NonExistentQueue".into(),
                "The specified queue does not exist.".into()
            )
        );
        assert_eq!(error_of(None, json).0, "QueueDoesNotExist");
        let xml = b"<ErrorResponse><Errors><Error><Code>SignatureDoesNotMatch</Code><Message>no</Message></Error></Errors></ErrorResponse>";
        assert_eq!(
            error_of(None, xml),
            ("SignatureDoesNotMatch".into(), "no".into())
        );
        assert_eq!(error_of(None, b"").0, "");
        assert_eq!(
            error_of(
                None,
                br#"{"__type":"ThrottlingException","Message":"slow"}"#
            ),
            ("ThrottlingException".into(), "slow".into())
        );
    }

    #[test]
    fn when_an_error_is_classified_it_should_retry_only_what_the_sdk_retries() {
        let svc = |status, code: &str| SqsError::Service {
            status,
            code: code.into(),
            message: String::new(),
        };
        assert!(svc(500, "InternalError").is_transient());
        assert!(svc(503, "").is_transient());
        assert!(svc(429, "").is_transient());
        assert!(svc(400, "ThrottlingException").is_transient());
        assert!(svc(400, "RequestThrottled").is_transient());
        assert!(!svc(400, "AWS.SimpleQueueService.NonExistentQueue").is_transient());
        assert!(!svc(403, "SignatureDoesNotMatch").is_transient());
        assert!(!svc(400, "InvalidMessageContents").is_transient());
        assert!(SqsError::Network("reset".into()).is_transient());
        assert!(SqsError::Timeout(Duration::from_secs(5)).is_transient());
        assert!(!SqsError::Credentials("none".into()).is_transient());
        assert!(!SqsError::Answer("x".into()).is_transient());
    }

    #[test]
    fn when_backing_off_it_should_stay_under_the_exponential_cap() {
        let r = Retry {
            max_attempts: 3,
            initial_backoff: Duration::from_secs(1),
            max_backoff: Duration::from_secs(20),
        };
        for _ in 0..200 {
            assert!(r.backoff(1) <= Duration::from_secs(1));
            assert!(r.backoff(2) <= Duration::from_secs(2));
            assert!(r.backoff(9) <= Duration::from_secs(20));
        }
        let waits: Vec<Duration> = (0..50).map(|_| r.backoff(1)).collect();
        assert!(waits.iter().any(|w| *w != waits[0]), "jittered");
    }

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
