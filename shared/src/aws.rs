//! The AWS SDK's shared configuration, built once per cold start so that
//! the first request finds nothing left to do.
//!
//! - **From Lambda's environment, without aws-config's loader**
//!   ([`lambda_sdk_config`]): region, credentials and endpoints come from
//!   the variables Lambda sets. The loader's profile files, IMDS, SSO, ECS
//!   and web-identity providers (and the STS client they call) are not
//!   linked: about 0.65 MB of every binary.
//! - **Root certificates**: [`crate::tls`] (the Amazon Trust Services
//!   roots compiled in, plus `SSL_CERT_FILE`), not the platform store.
//! - **One HTTPS connector** ([`crate::h1`]) shared by every client, with the SDK's default
//!   connect timeout (3.1 s): [`warm_up`] opens its first connection during
//!   init (TCP, TLS handshake, the pool), and the first invocation reuses it.
//! - **No stalled-stream protection**: it wraps every response body in a
//!   throughput monitor (time-source reads and bookkeeping on every poll),
//!   a measurable share of a warm invocation's CPU for JSON bodies of a few
//!   hundred bytes. A stalled exchange is cut by the attempt timeout
//!   instead ([`ATTEMPT_TIMEOUT`], the protection's own 5 s grace period),
//!   then retried by the SDK as any timeout is.

use std::time::Duration;

use aws_config::identity::IdentityCache;
use aws_config::retry::RetryConfig;
use aws_config::stalled_stream_protection::StalledStreamProtectionConfig;
use aws_config::timeout::TimeoutConfig;
use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_credential_types::Credentials;
use aws_credential_types::provider::SharedCredentialsProvider;
use aws_smithy_async::time::SharedTimeSource;
use aws_smithy_runtime_api::client::http::{
    HttpConnector, SharedHttpClient, SharedHttpConnector, http_client_fn,
};
use aws_smithy_runtime_api::http::Request as SdkRequest;
use aws_types::service_config::{LoadServiceConfig, ServiceConfigKey};

/// The SDK's default connect timeout for `BehaviorVersion::latest()`.
const CONNECT_TIMEOUT: Duration = Duration::from_millis(3_100);

/// How long one attempt of an AWS call may take, body included (see the
/// module docs).
pub const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(5);

/// The one HTTPS connector of this process for AWS ([`crate::h1`]:
/// HTTP/1.1 over rustls on *ring*), trusting the Amazon Trust Services
/// roots and `SSL_CERT_FILE` (see [`crate::tls`]), its connections kept
/// across invocations.
pub fn https_connector() -> crate::h1::H1Connector {
    https_connector_with(crate::tls::extra_roots_pem().as_deref())
}

/// [`https_connector`] trusting these extra roots (PEM) instead of
/// `SSL_CERT_FILE`'s.
pub fn https_connector_with(extra_roots_pem: Option<&[u8]>) -> crate::h1::H1Connector {
    let tls = crate::tls::aws_tls_config_with(extra_roots_pem);
    crate::h1::H1Connector::new(tls, CONNECT_TIMEOUT)
}

/// The SDK configuration every client of this process is built from, over
/// `connector`: what `aws_config::defaults(..).load()` would give a Lambda
/// function, read from the environment Lambda sets, without linking the
/// loader (its profile-file parser, IMDS, SSO, ECS and web-identity
/// providers, and the STS client they call, none of which a function uses):
/// see [`lambda_sdk_config`].
pub async fn sdk_config(connector: impl Into<SharedHttpConnector>) -> SdkConfig {
    lambda_sdk_config(connector, &|k| {
        std::env::var(k).ok().filter(|v| !v.is_empty())
    })
}

/// [`sdk_config`] over any environment `env`:
/// - **region**: `AWS_REGION`, else `AWS_DEFAULT_REGION`;
/// - **credentials**: `AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY` and
///   `AWS_SESSION_TOKEN` (how Lambda hands a function its role), through
///   the SDK's lazy identity cache;
/// - **endpoints**: `AWS_ENDPOINT_URL`, and per service
///   `AWS_ENDPOINT_URL_<SERVICE ID>` (`AWS_ENDPOINT_URL_DYNAMODB`,
///   `AWS_ENDPOINT_URL_SECRETS_MANAGER`, ...) unless
///   `AWS_IGNORE_CONFIGURED_ENDPOINT_URLS=true`; `AWS_USE_FIPS_ENDPOINT`,
///   `AWS_USE_DUALSTACK_ENDPOINT`;
/// - **retries**: standard mode, `AWS_MAX_ATTEMPTS` attempts (3);
/// - **timeouts**: [`CONNECT_TIMEOUT`], [`ATTEMPT_TIMEOUT`]; no
///   stalled-stream protection (see the module docs).
pub fn lambda_sdk_config(
    connector: impl Into<SharedHttpConnector>,
    env: &dyn Fn(&str) -> Option<String>,
) -> SdkConfig {
    let connector: SharedHttpConnector = connector.into();
    let client: SharedHttpClient = http_client_fn(move |_, _| connector.clone());
    let flag = |k: &str| env(k).map(|v| v.eq_ignore_ascii_case("true"));
    let ignore_endpoints = flag("AWS_IGNORE_CONFIGURED_ENDPOINT_URLS").unwrap_or(false);
    let mut retry = RetryConfig::standard();
    if let Some(n) = env("AWS_MAX_ATTEMPTS").and_then(|n| n.parse::<u32>().ok()) {
        retry = retry.with_max_attempts(n.max(1));
    }
    let credentials = Credentials::new(
        env("AWS_ACCESS_KEY_ID").unwrap_or_default(),
        env("AWS_SECRET_ACCESS_KEY").unwrap_or_default(),
        env("AWS_SESSION_TOKEN"),
        None,
        "Environment",
    );
    let mut builder = SdkConfig::builder()
        .behavior_version(BehaviorVersion::latest())
        .http_client(client)
        .stalled_stream_protection(StalledStreamProtectionConfig::disabled())
        .timeout_config(
            TimeoutConfig::builder()
                .connect_timeout(CONNECT_TIMEOUT)
                .operation_attempt_timeout(ATTEMPT_TIMEOUT)
                .build(),
        )
        .retry_config(retry)
        .identity_cache(IdentityCache::lazy().build())
        .time_source(SharedTimeSource::default())
        .service_config(EnvEndpoints {
            urls: if ignore_endpoints {
                Vec::new()
            } else {
                ENDPOINT_SERVICES
                    .iter()
                    .filter_map(|id| {
                        let var =
                            format!("AWS_ENDPOINT_URL_{}", id.to_uppercase().replace(' ', "_"));
                        env(&var).map(|url| (*id, url))
                    })
                    .collect()
            },
        });
    if let Some(sleep) = aws_smithy_async::rt::sleep::default_async_sleep() {
        builder = builder.sleep_impl(sleep);
    }
    if env("AWS_ACCESS_KEY_ID").is_some() && env("AWS_SECRET_ACCESS_KEY").is_some() {
        builder = builder.credentials_provider(SharedCredentialsProvider::new(credentials));
    } else {
        // Lambda always sets them; a binary run by hand may not have them.
        tracing::warn!(
            "no AWS credentials in the environment (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY): \
             AWS calls will fail; profiles in ~/.aws are not read by the functions"
        );
    }
    builder.set_region(
        env("AWS_REGION")
            .or_else(|| env("AWS_DEFAULT_REGION"))
            .map(Region::new),
    );
    builder.set_endpoint_url(env("AWS_ENDPOINT_URL").filter(|_| !ignore_endpoints));
    builder.set_use_fips(flag("AWS_USE_FIPS_ENDPOINT"));
    builder.set_use_dual_stack(flag("AWS_USE_DUALSTACK_ENDPOINT"));
    builder.build()
}

/// The service ids whose `AWS_ENDPOINT_URL_<ID>` is honoured (every AWS
/// service a function calls through the SDK).
const ENDPOINT_SERVICES: &[&str] = &["DynamoDB", "Secrets Manager", "ApiGatewayManagementApi"];

/// Per-service endpoint URLs from the environment, as the SDK's clients
/// ask for them (the loader's `EnvServiceConfig` without profile files).
#[derive(Debug)]
struct EnvEndpoints {
    urls: Vec<(&'static str, String)>,
}

impl LoadServiceConfig for EnvEndpoints {
    fn load_config(&self, key: ServiceConfigKey<'_>) -> Option<String> {
        if key.env() != "AWS_ENDPOINT_URL" {
            return None;
        }
        self.urls
            .iter()
            .find(|(id, _)| *id == key.service_id())
            .map(|(_, url)| url.clone())
    }
}

/// Open a pooled connection to `endpoint` (e.g. `https://sqs.eu-west-1.amazonaws.com`)
/// during init: DNS, TCP and the TLS handshake happen now, not in the first
/// invocation. An unsigned `GET /`, its answer read to the end so the
/// connection goes back to the pool. Failure is only logged: the first
/// invocation then connects as it would have.
pub async fn warm_up(connector: &impl HttpConnector, endpoint: &str) {
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

#[cfg(test)]
mod tests {
    use super::*;
    use aws_credential_types::provider::ProvideCredentials;
    use std::collections::HashMap;

    fn config(vars: &[(&str, &str)]) -> SdkConfig {
        let env: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        lambda_sdk_config(https_connector(), &move |k| env.get(k).cloned())
    }

    fn endpoint_for(sdk: &SdkConfig, service_id: &str) -> Option<String> {
        let key = ServiceConfigKey::builder()
            .service_id(service_id)
            .env("AWS_ENDPOINT_URL")
            .profile("endpoint_url")
            .build()
            .unwrap();
        sdk.service_config().unwrap().load_config(key)
    }

    #[tokio::test]
    async fn when_lambda_sets_the_environment_it_should_be_the_sdk_configuration() {
        let sdk = config(&[
            ("AWS_REGION", "eu-west-1"),
            ("AWS_DEFAULT_REGION", "us-east-1"),
            ("AWS_ACCESS_KEY_ID", "ASIAEXAMPLE"),
            ("AWS_SECRET_ACCESS_KEY", "secret"),
            ("AWS_SESSION_TOKEN", "session"),
            ("AWS_MAX_ATTEMPTS", "5"),
        ]);
        assert_eq!(sdk.region().map(|r| r.as_ref()), Some("eu-west-1"));
        let creds = sdk
            .credentials_provider()
            .unwrap()
            .provide_credentials()
            .await
            .unwrap();
        assert_eq!(creds.access_key_id(), "ASIAEXAMPLE");
        assert_eq!(creds.secret_access_key(), "secret");
        assert_eq!(creds.session_token(), Some("session"));
        assert_eq!(sdk.retry_config().unwrap().max_attempts(), 5);
        assert_eq!(
            sdk.timeout_config().unwrap().operation_attempt_timeout(),
            Some(ATTEMPT_TIMEOUT)
        );
        assert_eq!(sdk.endpoint_url(), None);
        assert_eq!(sdk.use_fips(), None);
        assert!(sdk.identity_cache().is_some());
        assert!(sdk.http_client().is_some() && sdk.sleep_impl().is_some());
        assert_eq!(
            sdk.behavior_version(),
            Some(BehaviorVersion::latest()),
            "the SDK's latest defaults"
        );
    }

    #[tokio::test]
    async fn when_the_environment_is_partial_it_should_fall_back_as_the_sdk_loader_does() {
        let sdk = config(&[
            ("AWS_DEFAULT_REGION", "us-east-2"),
            ("AWS_ACCESS_KEY_ID", "A"),
        ]);
        assert_eq!(sdk.region().map(|r| r.as_ref()), Some("us-east-2"));
        assert!(
            sdk.credentials_provider().is_none(),
            "no credentials without a secret key"
        );
        assert_eq!(sdk.retry_config().unwrap().max_attempts(), 3);
        let none = config(&[]);
        assert!(none.region().is_none());
    }

    #[test]
    fn when_endpoint_urls_are_configured_they_should_apply_globally_and_per_service() {
        let sdk = config(&[
            ("AWS_ENDPOINT_URL", "http://127.0.0.1:4566"),
            ("AWS_ENDPOINT_URL_SECRETS_MANAGER", "https://127.0.0.1:9443"),
            ("AWS_USE_FIPS_ENDPOINT", "true"),
            ("AWS_USE_DUALSTACK_ENDPOINT", "TRUE"),
        ]);
        assert_eq!(sdk.endpoint_url(), Some("http://127.0.0.1:4566"));
        assert_eq!(
            endpoint_for(&sdk, "Secrets Manager").as_deref(),
            Some("https://127.0.0.1:9443")
        );
        assert_eq!(
            endpoint_for(&sdk, "DynamoDB"),
            None,
            "falls back to the global one"
        );
        assert_eq!(
            (sdk.use_fips(), sdk.use_dual_stack()),
            (Some(true), Some(true))
        );

        let ignored = config(&[
            ("AWS_ENDPOINT_URL", "http://127.0.0.1:4566"),
            ("AWS_ENDPOINT_URL_DYNAMODB", "http://127.0.0.1:8000"),
            ("AWS_IGNORE_CONFIGURED_ENDPOINT_URLS", "true"),
        ]);
        assert_eq!(ignored.endpoint_url(), None);
        assert_eq!(endpoint_for(&ignored, "DynamoDB"), None);
    }
}
