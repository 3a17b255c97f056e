//! The AWS SDK's shared configuration, built once per cold start so that
//! the first request finds nothing left to do.
//!
//! - **Root certificates**: [`crate::tls`] (the Amazon Trust Services
//!   roots compiled in, plus `SSL_CERT_FILE`), not the platform store.
//! - **One HTTPS connector** shared by every client, with the SDK's default
//!   connect timeout (3.1 s): [`warm_up`] opens its first connection during
//!   init (TCP, TLS handshake, the pool), and the first invocation reuses it.
//! - **No stalled-stream protection**: it wraps every response body in a
//!   throughput monitor (time-source reads and bookkeeping on every poll),
//!   a measurable share of a warm invocation's CPU for JSON bodies of a few
//!   hundred bytes. A stalled exchange is cut by the attempt timeout
//!   instead ([`ATTEMPT_TIMEOUT`], the protection's own 5 s grace period),
//!   then retried by the SDK as any timeout is.

use std::time::Duration;

use aws_config::stalled_stream_protection::StalledStreamProtectionConfig;
use aws_config::timeout::TimeoutConfig;
use aws_config::{BehaviorVersion, SdkConfig};
use aws_smithy_http_client::tls::{self, TlsContext, TrustStore, rustls_provider::CryptoMode};
use aws_smithy_runtime_api::client::http::{
    HttpConnector, HttpConnectorSettings, SharedHttpClient, SharedHttpConnector, http_client_fn,
};
use aws_smithy_runtime_api::http::Request as SdkRequest;

/// The SDK's default connect timeout for `BehaviorVersion::latest()`.
const CONNECT_TIMEOUT: Duration = Duration::from_millis(3_100);

/// How long one attempt of an AWS call may take, body included (see the
/// module docs).
pub const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(5);

/// The trust store: the Amazon Trust Services roots and `SSL_CERT_FILE`
/// (see [`crate::tls`]).
pub fn trust_store() -> TrustStore {
    let mut store = TrustStore::empty().with_native_roots(false);
    store.add_pem_certificate(crate::tls::AMAZON_TRUST_SERVICES_PEM.as_bytes());
    if let Some(pem) = crate::tls::extra_roots_pem() {
        store.add_pem_certificate(pem);
    }
    store
}

/// The one HTTPS connector of this process (rustls over aws-lc, the trust
/// store above), its pool kept across invocations.
pub fn https_connector() -> Result<SharedHttpConnector, aws_smithy_http_client::HttpClientError> {
    let tls_context = TlsContext::builder()
        .with_trust_store(trust_store())
        .build()?;
    let connector = aws_smithy_http_client::Connector::builder()
        .connector_settings(
            HttpConnectorSettings::builder()
                .connect_timeout(CONNECT_TIMEOUT)
                .build(),
        )
        .sleep_impl(aws_smithy_async::rt::sleep::default_async_sleep().expect("tokio sleep"))
        .tls_provider(tls::Provider::Rustls(CryptoMode::AwsLc))
        .tls_context(tls_context)
        .build();
    Ok(SharedHttpConnector::new(connector))
}

/// The SDK configuration every client of this process is built from, over
/// `connector`.
pub async fn sdk_config(connector: SharedHttpConnector) -> SdkConfig {
    let client: SharedHttpClient = http_client_fn(move |_, _| connector.clone());
    aws_config::defaults(BehaviorVersion::latest())
        .http_client(client)
        .stalled_stream_protection(StalledStreamProtectionConfig::disabled())
        .timeout_config(
            TimeoutConfig::builder()
                .connect_timeout(CONNECT_TIMEOUT)
                .operation_attempt_timeout(ATTEMPT_TIMEOUT)
                .build(),
        )
        .load()
        .await
}

/// Open a pooled connection to `endpoint` (e.g. `https://sqs.eu-west-1.amazonaws.com`)
/// during init: DNS, TCP and the TLS handshake happen now, not in the first
/// invocation. An unsigned `GET /`, its answer read to the end so the
/// connection goes back to the pool. Failure is only logged: the first
/// invocation then connects as it would have.
pub async fn warm_up(connector: &SharedHttpConnector, endpoint: &str) {
    let url = format!("{}/", endpoint.trim_end_matches('/'));
    let request = match SdkRequest::get(&url) {
        Ok(r) => r,
        Err(e) => {
            tracing::debug!(url, error = %e, "warm-up skipped");
            return;
        }
    };
    match connector.call(request).await {
        Ok(response) => {
            let status = response.status().as_u16();
            let body = aws_smithy_types::byte_stream::ByteStream::new(response.into_body());
            let _ = body.collect().await;
            tracing::debug!(url, status, "connection warmed up");
        }
        Err(e) => tracing::debug!(url, error = ?e, "warm-up failed"),
    }
}

/// The endpoint the DynamoDB client of `sdk` calls, by that crate's own
/// resolver.
pub async fn dynamodb_endpoint(sdk: &SdkConfig) -> Option<String> {
    use aws_sdk_dynamodb::config::endpoint::{DefaultResolver, Params, ResolveEndpoint};
    let params = Params::builder()
        .set_region(sdk.region().map(|r| r.to_string()))
        .set_use_fips(sdk.use_fips())
        .set_use_dual_stack(sdk.use_dual_stack())
        .set_endpoint(sdk.endpoint_url().map(str::to_string))
        .build()
        .ok()?;
    DefaultResolver::new()
        .resolve_endpoint(&params)
        .await
        .ok()
        .map(|e| e.url().to_string())
}
