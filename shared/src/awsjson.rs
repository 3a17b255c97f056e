//! AWS's JSON protocols (`awsJson1_0`, `awsJson1_1`) by hand: one signed
//! POST of a JSON document to `{endpoint}/` with an `x-amz-target`, its
//! answer's bytes or its error. What the SDK's orchestrator does for such a
//! call, without the orchestrator: on a warm Lambda invocation its
//! interceptors, config bag, endpoint rules and type-erased plumbing cost
//! more CPU than the HTTP exchange itself (BENCHMARKS.md, rounds 7 and 10).
//! Used for SQS `SendMessage` (the `sqs` module) and DynamoDB's item calls
//! (the `dynamo` module).
//!
//! The request goes straight to the process's HTTP/1.1 client
//! ([`Transport::Direct`]: headers and body as they are, no SDK request,
//! body or byte-stream types), or through any connector of the SDK's type
//! ([`Transport::Sdk`], how tests record what is sent).
//!
//! What it keeps from the SDK, from the same [`SdkConfig`]:
//! - **Credentials**: the SDK's provider chain, cached until five minutes
//!   before they expire (15 minutes for credentials without an expiry, as
//!   the SDK's identity cache does), readable during init
//!   ([`Client::prefetch_credentials`]).
//! - **Signing**: SigV4 as the SDK's own signer ([`aws_sigv4`]) signs these
//!   protocols with its default settings (no payload-hash header), by
//!   [`crate::sigv4`], which keeps the signing key for its day; a request
//!   outside its shape (an endpoint with a path) is signed by `aws_sigv4`.
//! - **Retries**: the standard mode's attempts and backoff (3 attempts,
//!   a random wait up to 1 s, then up to 2 s, … capped at 20 s; as the
//!   configuration says). An attempt is retried after a network error, a
//!   timeout, a 5xx, a 429 or one of the SDK's throttling / transient error
//!   codes; any other refusal is returned at once. The SDK's client-wide
//!   retry quota is not kept: a Lambda process makes one call at a time.
//! - **Timeouts**: the configuration's attempt timeout (connect, send and
//!   the whole answer).
//!
//! The endpoint is the caller's: each service module resolves it once.

use std::sync::Mutex;
use std::time::{Duration, Instant, SystemTime};

use aws_config::SdkConfig;
use aws_credential_types::Credentials;
use aws_credential_types::provider::{ProvideCredentials, SharedCredentialsProvider};
use aws_sigv4::http_request::{SignableBody, SignableRequest, SigningSettings, sign};
use aws_sigv4::sign::v4;
use aws_smithy_runtime_api::client::http::{HttpConnector, SharedHttpConnector};
use aws_smithy_runtime_api::client::identity::Identity;

use crate::h1::{H1Connector, RequestError};
use crate::sigv4::Signer;

/// Credentials without an expiry are read again after this long.
const NO_EXPIRY_TTL: Duration = Duration::from_secs(15 * 60);
/// Credentials with an expiry are read again this long before it.
const EXPIRY_BUFFER: Duration = Duration::from_secs(5 * 60);
/// Error codes worth another attempt besides any 5xx and 429: the SDK's
/// throttling and transient codes (`aws_runtime::retries::classifiers`),
/// and the ones SQS answers for the same conditions.
const RETRYABLE_CODES: &[&str] = &[
    "Throttling",
    "ThrottlingException",
    "ThrottledException",
    "RequestThrottledException",
    "TooManyRequestsException",
    "ProvisionedThroughputExceededException",
    "TransactionInProgressException",
    "RequestLimitExceeded",
    "BandwidthLimitExceeded",
    "LimitExceededException",
    "RequestThrottled",
    "SlowDown",
    "PriorRequestNotComplete",
    "EC2ThrottledException",
    "RequestTimeout",
    "RequestTimeoutException",
    "KmsThrottled",
    "KMS.ThrottlingException",
    "ServiceUnavailable",
    "InternalError",
];

/// Why a call failed; `service` names the AWS service in messages.
#[derive(Debug, thiserror::Error)]
pub enum AwsError {
    #[error("no AWS credentials: {0}")]
    Credentials(String),
    #[error("configuration: {0}")]
    Config(String),
    #[error("signing: {0}")]
    Signing(String),
    /// The service answered with an error.
    #[error("{service} answered {status} {code}: {message}")]
    Service {
        service: &'static str,
        status: u16,
        code: String,
        message: String,
        /// The error document, for errors that carry more than a message
        /// (DynamoDB's cancellation reasons).
        body: Vec<u8>,
    },
    #[error("{service} unreachable: {why}")]
    Network { service: &'static str, why: String },
    #[error("{service} did not answer within {after:?}")]
    Timeout {
        service: &'static str,
        after: Duration,
    },
    /// A success whose body is not the operation's answer.
    #[error("unexpected {service} answer: {why}")]
    Answer { service: &'static str, why: String },
}

impl AwsError {
    /// Worth another attempt (the SDK's standard classification).
    pub fn is_transient(&self) -> bool {
        match self {
            Self::Network { .. } | Self::Timeout { .. } => true,
            Self::Service { status, code, .. } => {
                *status >= 500 || *status == 429 || RETRYABLE_CODES.contains(&code.as_str())
            }
            _ => false,
        }
    }

    /// The service's error code (`ConditionalCheckFailedException`), if it
    /// answered one.
    pub fn code(&self) -> Option<&str> {
        match self {
            Self::Service { code, .. } => Some(code),
            _ => None,
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
    pub(crate) fn from_sdk(sdk: &SdkConfig) -> Self {
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
pub(crate) fn partition_domain(region: &str, dual_stack: bool) -> &'static str {
    let (plain, dual) = PARTITIONS
        .iter()
        .find(|(prefix, _, _)| region.starts_with(prefix))
        .map(|(_, plain, dual)| (*plain, *dual))
        .unwrap_or(("amazonaws.com", "api.aws"));
    if dual_stack { dual } else { plain }
}

/// The endpoint URL configured for `service_id` (`DynamoDB`, `Secrets
/// Manager`) as the service crates' `config::Builder::from(&SdkConfig)`
/// reads it: one set in code wins, else the service's own
/// (`AWS_ENDPOINT_URL_<SERVICE>`), else the global one; `None`: the
/// service's rules decide from the region.
pub fn configured_endpoint(sdk: &SdkConfig, service_id: &str) -> Option<String> {
    let global = || sdk.endpoint_url().map(str::to_string);
    if sdk.get_origin("endpoint_url").is_client_config() {
        return global();
    }
    sdk.service_config()
        .and_then(|c| {
            aws_types::service_config::ServiceConfigKey::builder()
                .service_id(service_id)
                .env("AWS_ENDPOINT_URL")
                .profile("endpoint_url")
                .build()
                .ok()
                .and_then(|key| c.load_config(key))
        })
        .or_else(global)
}

/// The URL a service crate's endpoint resolver gave (its default resolver
/// answers at once, behind a future).
pub fn resolved(
    service: &str,
    endpoint: aws_smithy_runtime_api::client::endpoint::EndpointFuture<'_>,
) -> Result<String, AwsError> {
    use futures::FutureExt;
    match endpoint.now_or_never() {
        Some(Ok(e)) => Ok(e.url().to_string()),
        Some(Err(e)) => Err(AwsError::Config(format!("{service} endpoint: {e}"))),
        None => Err(AwsError::Config(format!("{service} endpoint not resolved"))),
    }
}

/// How a [`Client`]'s requests reach the service.
#[derive(Clone, Debug)]
pub enum Transport {
    /// The process's HTTP/1.1 client, called directly: the request goes
    /// out as its headers and body, without the SDK's request and body
    /// types (what every function uses).
    Direct(H1Connector),
    /// Any connector of the SDK's type (tests record requests through one).
    Sdk(SharedHttpConnector),
}

impl From<H1Connector> for Transport {
    fn from(c: H1Connector) -> Self {
        Self::Direct(c)
    }
}

impl From<SharedHttpConnector> for Transport {
    fn from(c: SharedHttpConnector) -> Self {
        Self::Sdk(c)
    }
}

impl Transport {
    /// As a connector of the SDK's type (for the SDK's own clients).
    pub fn sdk(&self) -> SharedHttpConnector {
        match self {
            Self::Direct(c) => c.clone().into(),
            Self::Sdk(c) => c.clone(),
        }
    }
}

/// A signed JSON-protocol client for one service at one endpoint (see the
/// module docs).
pub struct Client {
    transport: Transport,
    /// `{endpoint}/`, where every call is posted.
    url: String,
    region: String,
    /// The SigV4 signing name (`sqs`, `dynamodb`).
    signing_name: &'static str,
    /// For messages (`SQS`, `DynamoDB`).
    service: &'static str,
    /// `application/x-amz-json-1.0` or `-1.1`.
    content_type: &'static str,
    credentials: Option<SharedCredentialsProvider>,
    cached: Mutex<Option<(Identity, Instant)>>,
    /// `None`: every request is signed by `aws_sigv4`.
    signer: Option<Signer>,
    retry: Retry,
    attempt_timeout: Duration,
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client")
            .field("service", &self.service)
            .field("url", &self.url)
            .field("region", &self.region)
            .field("retry", &self.retry)
            .finish_non_exhaustive()
    }
}

/// What a service is called and how its requests are signed and typed.
#[derive(Clone, Copy, Debug)]
pub struct Protocol {
    /// For messages (`SQS`).
    pub service: &'static str,
    /// The SigV4 signing name (`sqs`).
    pub signing_name: &'static str,
    /// `application/x-amz-json-1.0` or `application/x-amz-json-1.1`.
    pub content_type: &'static str,
}

impl Client {
    /// A client for `protocol` at `endpoint` (an http(s) URL without a
    /// path), over `connector`, with `sdk`'s region, credentials, retry and
    /// timeout settings.
    pub fn new(
        sdk: &SdkConfig,
        transport: impl Into<Transport>,
        endpoint: &str,
        protocol: Protocol,
    ) -> Result<Self, AwsError> {
        let endpoint = endpoint.trim_end_matches('/');
        let uri: http::Uri = endpoint
            .parse()
            .map_err(|e| AwsError::Config(format!("endpoint {endpoint:?}: {e}")))?;
        if !matches!(uri.scheme_str(), Some("http" | "https")) || uri.host().is_none() {
            return Err(AwsError::Config(format!(
                "endpoint {endpoint:?}: not an http(s) URL"
            )));
        }
        let url = format!("{endpoint}/");
        let region = sdk
            .region()
            .map(|r| r.as_ref().to_string())
            .unwrap_or_else(|| "us-east-1".into());
        let signer = url
            .parse()
            .ok()
            .and_then(|u| Signer::new(&u, &region, protocol.signing_name));
        Ok(Self {
            transport: transport.into(),
            url,
            region,
            signer,
            signing_name: protocol.signing_name,
            service: protocol.service,
            content_type: protocol.content_type,
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

    /// Read the credentials now (init), so the first call does not. A
    /// failure is only logged: a call reads them again.
    pub async fn prefetch_credentials(&self) {
        if let Err(e) = self.identity().await {
            tracing::debug!(service = self.service, error = %e, "credentials not read at init");
        }
    }

    async fn identity(&self) -> Result<Identity, AwsError> {
        if let Ok(cached) = self.cached.lock()
            && let Some((identity, refresh_at)) = cached.as_ref()
            && Instant::now() < *refresh_at
        {
            return Ok(identity.clone());
        }
        let provider = self
            .credentials
            .as_ref()
            .ok_or_else(|| AwsError::Credentials("no credentials provider".into()))?;
        let credentials = provider
            .provide_credentials()
            .await
            .map_err(|e| AwsError::Credentials(e.to_string()))?;
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

    /// Post `input` as `target` (`AmazonSQS.SendMessage`), with `extra`
    /// headers, retrying as the module docs say, and return a success's
    /// body. Every attempt is the same request: a lost answer followed by a
    /// successful retry applies it twice unless the operation is idempotent
    /// (DynamoDB's transactions carry a client token for that).
    pub async fn call(
        &self,
        target: &str,
        extra: &[(&str, &str)],
        input: &[u8],
    ) -> Result<bytes::Bytes, AwsError> {
        let mut attempt = 1;
        loop {
            let result =
                tokio::time::timeout(self.attempt_timeout, self.attempt(target, extra, input))
                    .await
                    .unwrap_or(Err(AwsError::Timeout {
                        service: self.service,
                        after: self.attempt_timeout,
                    }));
            match result {
                Err(e) if e.is_transient() && attempt < self.retry.max_attempts => {
                    let wait = self.retry.backoff(attempt);
                    tracing::debug!(error = %e, attempt, ?wait, target, "retried");
                    tokio::time::sleep(wait).await;
                    attempt += 1;
                }
                other => return other,
            }
        }
    }

    /// [`Client::call`] with `input` as JSON, a success's body read as `T`.
    pub async fn call_json<T: serde::de::DeserializeOwned>(
        &self,
        target: &str,
        extra: &[(&str, &str)],
        input: &impl serde::Serialize,
    ) -> Result<T, AwsError> {
        let body = crate::json::to_vec(input)
            .map_err(|e| AwsError::Config(format!("{} {target} request: {e}", self.service)))?;
        self.call_body(target, extra, &body).await
    }

    /// [`call_json`](Self::call_json) of a body already written as JSON.
    pub async fn call_body<T: serde::de::DeserializeOwned>(
        &self,
        target: &str,
        extra: &[(&str, &str)],
        body: &[u8],
    ) -> Result<T, AwsError> {
        let answer = self.call(target, extra, body).await?;
        crate::json::from_bytes(&answer).map_err(|e| self.answer_error(e, &answer))
    }

    /// One signed request and its answer.
    async fn attempt(
        &self,
        target: &str,
        extra: &[(&str, &str)],
        input: &[u8],
    ) -> Result<bytes::Bytes, AwsError> {
        let identity = self.identity().await?;
        let mut headers: Vec<(&str, &str)> = Vec::with_capacity(5 + extra.len());
        headers.push(("content-type", self.content_type));
        headers.push(("x-amz-target", target));
        headers.extend_from_slice(extra);
        let unsigned = headers.len();
        let creds = identity.data::<Credentials>();
        let fast = self.signer.as_ref().zip(creds).and_then(|(signer, creds)| {
            let signed = signer.sign(creds, SystemTime::now(), &headers, input)?;
            Some((signed, creds.session_token()))
        });
        let by_sdk;
        let signed;
        match fast {
            Some((s, token)) => {
                signed = s;
                headers.push(("x-amz-date", &signed.date_time));
                headers.push(("authorization", &signed.authorization));
                if let Some(token) = token {
                    headers.push(("x-amz-security-token", token));
                }
            }
            None => {
                by_sdk = self.sign_with_sdk(&identity, &headers[..unsigned], input)?;
                headers.extend(by_sdk.iter().map(|(k, v)| (k.as_str(), v.as_str())));
            }
        }
        let network = |why: String| AwsError::Network {
            service: self.service,
            why,
        };
        let (status, query_error, bytes) = match &self.transport {
            Transport::Direct(h1) => {
                let answer = h1
                    .request("POST", &self.url, &headers, input, self.attempt_timeout)
                    .await
                    .map_err(|e| match e {
                        RequestError::Timeout(after) => AwsError::Timeout {
                            service: self.service,
                            after,
                        },
                        RequestError::Invalid(why) => AwsError::Config(why),
                        e => network(e.to_string()),
                    })?;
                let query_error = answer.header("x-amzn-query-error").map(str::to_string);
                (answer.status, query_error, bytes::Bytes::from(answer.body))
            }
            Transport::Sdk(connector) => {
                let mut request = http::Request::builder()
                    .method("POST")
                    .uri(&self.url)
                    .header("content-length", input.len());
                for (name, value) in &headers {
                    request = request.header(*name, *value);
                }
                let request = request
                    .body(aws_smithy_types::body::SdkBody::from(input.to_vec()))
                    .map_err(|e| AwsError::Signing(e.to_string()))?;
                let request =
                    aws_smithy_runtime_api::client::orchestrator::HttpRequest::try_from(request)
                        .map_err(|e| AwsError::Signing(e.to_string()))?;
                let response = connector.call(request).await.map_err(|e| {
                    network(aws_smithy_types::error::display::DisplayErrorContext(&e).to_string())
                })?;
                let status = response.status().as_u16();
                let query_error = response
                    .headers()
                    .get("x-amzn-query-error")
                    .map(str::to_string);
                let bytes = aws_smithy_types::byte_stream::ByteStream::new(response.into_body())
                    .collect()
                    .await
                    .map_err(|e| network(e.to_string()))?
                    .into_bytes();
                (status, query_error, bytes)
            }
        };
        if (200..300).contains(&status) {
            return Ok(bytes);
        }
        let (code, message) = error_of(query_error.as_deref(), &bytes);
        Err(AwsError::Service {
            service: self.service,
            status,
            code,
            message,
            body: bytes.to_vec(),
        })
    }

    /// The headers `aws_sigv4` signs a request with `headers` with.
    fn sign_with_sdk(
        &self,
        identity: &Identity,
        headers: &[(&str, &str)],
        input: &[u8],
    ) -> Result<Vec<(String, String)>, AwsError> {
        let params = v4::SigningParams::builder()
            .identity(identity)
            .region(&self.region)
            .name(self.signing_name)
            .time(SystemTime::now())
            .settings(SigningSettings::default())
            .build()
            .map_err(|e| AwsError::Signing(e.to_string()))?
            .into();
        let signable = SignableRequest::new(
            "POST",
            &self.url,
            headers.iter().copied(),
            SignableBody::Bytes(input),
        )
        .map_err(|e| AwsError::Signing(e.to_string()))?;
        let (instructions, _) = sign(signable, &params)
            .map_err(|e| AwsError::Signing(e.to_string()))?
            .into_parts();
        let signed = instructions
            .headers()
            .map(|(name, value)| (name.to_string(), value.to_string()))
            .collect();
        Ok(signed)
    }

    /// A success's body that is not what the operation answers.
    fn answer_error(&self, why: impl std::fmt::Display, body: &[u8]) -> AwsError {
        AwsError::Answer {
            service: self.service,
            why: format!("{why}: {}", String::from_utf8_lossy(body)),
        }
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
    fn when_a_service_answers_an_error_it_should_read_the_code_from_the_header_json_or_xml() {
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
        assert_eq!(
            error_of(
                None,
                br#"{"__type":"com.amazonaws.dynamodb.v20120810#ConditionalCheckFailedException","message":"The conditional request failed"}"#
            ),
            (
                "ConditionalCheckFailedException".into(),
                "The conditional request failed".into()
            )
        );
    }

    #[test]
    fn when_an_error_is_classified_it_should_retry_only_what_the_sdk_retries() {
        let svc = |status, code: &str| AwsError::Service {
            service: "SQS",
            status,
            code: code.into(),
            message: String::new(),
            body: Vec::new(),
        };
        assert!(svc(500, "InternalError").is_transient());
        assert!(svc(503, "").is_transient());
        assert!(svc(429, "").is_transient());
        assert!(svc(400, "ThrottlingException").is_transient());
        assert!(svc(400, "RequestThrottled").is_transient());
        assert!(svc(400, "ProvisionedThroughputExceededException").is_transient());
        assert!(svc(400, "TransactionInProgressException").is_transient());
        assert!(!svc(400, "AWS.SimpleQueueService.NonExistentQueue").is_transient());
        assert!(!svc(403, "SignatureDoesNotMatch").is_transient());
        assert!(!svc(400, "InvalidMessageContents").is_transient());
        assert!(!svc(400, "ConditionalCheckFailedException").is_transient());
        assert!(!svc(400, "TransactionCanceledException").is_transient());
        let network = AwsError::Network {
            service: "SQS",
            why: "reset".into(),
        };
        assert!(network.is_transient());
        assert!(
            AwsError::Timeout {
                service: "SQS",
                after: Duration::from_secs(5)
            }
            .is_transient()
        );
        assert!(!AwsError::Credentials("none".into()).is_transient());
        assert!(
            !AwsError::Answer {
                service: "SQS",
                why: "x".into()
            }
            .is_transient()
        );
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
}
