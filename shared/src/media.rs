//! Inbound media: fetched by `process-inbound` from the provider into S3
//! (`MEDIA_BUCKET`), and served to agents as short-lived presigned URLs.
//!
//! - **Where from.** Twilio's `MediaUrl{i}` with the account's credentials
//!   (the org's own account, else the environment's); Meta's media id through
//!   `GET {graph}/{version}/{media_id}` and then its `url`, with the org's
//!   token.
//! - **Credentials go only to the provider's own hosts.** Redirects are
//!   followed by hand (at most 4): the next hop gets the credentials only when
//!   it is the provider's API (`TWILIO_API_BASE_URL`'s origin or an `https`
//!   host under `twilio.com`; Graph's origin or `https` hosts under
//!   `fbsbx.com`, `facebook.com`, `whatsapp.net`). Twilio's usual redirect to
//!   its CDN is followed without them.
//! - **What is kept.** At most [`MAX_MEDIA_BYTES`], and only the content
//!   types of [`ALLOWED_TYPES`]; anything else is refused, recorded on the
//!   message, and never stored.
//! - **S3 without the S3 SDK.** One SigV4-signed `PUT` per object and a
//!   presigned `GET` ([`aws_sigv4`], already part of the AWS SDK), so the
//!   functions stay small.

use std::time::{Duration, SystemTime};

use aws_credential_types::provider::{ProvideCredentials, SharedCredentialsProvider};
use aws_sigv4::http_request::{
    PayloadChecksumKind, PercentEncodingMode, SignableBody, SignableRequest, SignatureLocation,
    SigningSettings, UriPathNormalizationMode, sign,
};
use aws_sigv4::sign::v4;

/// The largest medium kept (WhatsApp's own limit for documents is 100 MB;
/// images 5 MB, audio and video 16 MB).
pub const MAX_MEDIA_BYTES: usize = 16 * 1024 * 1024;

/// How long a download URL handed to an agent works.
pub const DOWNLOAD_URL_TTL: Duration = Duration::from_secs(15 * 60);

/// The content types kept (WhatsApp's supported media, without parameters).
pub const ALLOWED_TYPES: &[&str] = &[
    "image/jpeg",
    "image/png",
    "image/webp",
    "image/gif",
    "audio/ogg",
    "audio/mpeg",
    "audio/aac",
    "audio/amr",
    "audio/mp4",
    "video/mp4",
    "video/3gpp",
    "application/pdf",
    "text/plain",
    "text/vcard",
    "application/msword",
    "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    "application/vnd.ms-excel",
    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
];

/// The type without parameters, lowercase, if it is allowed.
pub fn allowed_type(content_type: &str) -> Option<String> {
    let essence = content_type
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    ALLOWED_TYPES.contains(&essence.as_str()).then_some(essence)
}

#[derive(Debug, thiserror::Error)]
pub enum MediaError {
    #[error("medium larger than {MAX_MEDIA_BYTES} bytes")]
    TooLarge,
    #[error("content type not allowed: {0}")]
    TypeNotAllowed(String),
    #[error("provider answered {0}")]
    Status(u16),
    #[error("too many redirects")]
    Redirects,
    #[error("no credentials for this medium")]
    NoCredentials,
    /// Worth another attempt: the network, a 5xx, S3.
    #[error("unavailable: {0}")]
    Unavailable(String),
    #[error("signing: {0}")]
    Signing(String),
}

impl MediaError {
    /// A short code recorded on the message.
    pub fn code(&self) -> &'static str {
        match self {
            Self::TooLarge => "too_large",
            Self::TypeNotAllowed(_) => "type_not_allowed",
            Self::Status(_) => "provider_refused",
            Self::Redirects => "too_many_redirects",
            Self::NoCredentials => "no_credentials",
            Self::Unavailable(_) => "unavailable",
            Self::Signing(_) => "storage_error",
        }
    }

    pub fn is_transient(&self) -> bool {
        match self {
            Self::Unavailable(_) => true,
            Self::Status(s) => *s >= 500 || *s == 429,
            _ => false,
        }
    }
}

/// One attempt's limit: connect, headers and body.
const HTTP_TIMEOUT: Duration = Duration::from_secs(10);

/// Media's HTTPS: the AWS SDK's connector type ([`crate::https`]: reqwest,
/// rustls over *ring*), trusting Mozilla's roots (and `SSL_CERT_FILE`),
/// built on first use. Redirects are not
/// followed here (see [`MediaSource`]).
fn connector()
-> Result<&'static aws_smithy_runtime_api::client::http::SharedHttpConnector, MediaError> {
    static CONNECTOR: std::sync::OnceLock<
        Result<aws_smithy_runtime_api::client::http::SharedHttpConnector, String>,
    > = std::sync::OnceLock::new();
    CONNECTOR
        .get_or_init(|| {
            crate::https::ReqwestConnector::new(
                crate::tls::public_tls_config(),
                Duration::from_secs(3),
            )
            .map(crate::https::ReqwestConnector::shared)
            .map_err(|e| e.to_string())
        })
        .as_ref()
        .map_err(|e| MediaError::Unavailable(format!("https client: {e}")))
}

/// An answer: status, the headers media needs, and the body unread.
struct Answer {
    status: u16,
    location: Option<String>,
    content_type: Option<String>,
    content_length: Option<u64>,
    body: aws_smithy_types::body::SdkBody,
}

impl Answer {
    /// The body, at most `max` bytes.
    async fn bytes(self, max: usize) -> Result<Vec<u8>, MediaError> {
        use http_body_util::BodyExt;
        let mut body = self.body;
        let read = async {
            let mut out = Vec::new();
            while let Some(frame) = body.frame().await {
                let frame = frame.map_err(|e| MediaError::Unavailable(e.to_string()))?;
                if let Ok(data) = frame.into_data() {
                    if out.len() + data.len() > max {
                        return Err(MediaError::TooLarge);
                    }
                    out.extend_from_slice(&data);
                }
            }
            Ok(out)
        };
        tokio::time::timeout(HTTP_TIMEOUT, read)
            .await
            .map_err(|_| MediaError::Unavailable("body timed out".into()))?
    }
}

/// One request over [`connector`].
async fn send(
    method: &str,
    url: &str,
    headers: &[(&str, &str)],
    body: Vec<u8>,
) -> Result<Answer, MediaError> {
    let mut req = http::Request::builder().method(method).uri(url);
    for (name, value) in headers {
        req = req.header(*name, *value);
    }
    let req = req
        .body(aws_smithy_types::body::SdkBody::from(body))
        .map_err(|_| MediaError::Status(400))?;
    let req = aws_smithy_runtime_api::client::orchestrator::HttpRequest::try_from(req)
        .map_err(|_| MediaError::Status(400))?;
    use aws_smithy_runtime_api::client::http::HttpConnector;
    let resp = tokio::time::timeout(HTTP_TIMEOUT, connector()?.call(req))
        .await
        .map_err(|_| MediaError::Unavailable("timed out".into()))?
        .map_err(|e| MediaError::Unavailable(e.to_string()))?;
    let header = |name: &str| resp.headers().get(name).map(str::to_string);
    Ok(Answer {
        status: resp.status().as_u16(),
        location: header("location"),
        content_type: header("content-type"),
        content_length: header("content-length").and_then(|n| n.parse().ok()),
        body: resp.into_body(),
    })
}

/// An absolute `http(s)` URL.
fn parse_url(s: &str) -> Option<http::Uri> {
    let uri: http::Uri = s.parse().ok()?;
    (matches!(uri.scheme_str(), Some("http" | "https")) && uri.authority().is_some()).then_some(uri)
}

/// A redirect's `Location`, absolute or from the root of `base`.
fn join(base: &http::Uri, location: &str) -> Option<http::Uri> {
    if let Some(abs) = parse_url(location) {
        return Some(abs);
    }
    if location.starts_with('/') && !location.starts_with("//") {
        return parse_url(&format!(
            "{}://{}{location}",
            base.scheme_str()?,
            base.authority()?
        ));
    }
    None
}

/// Who signs, where and when (S3's SigV4 flavour: no double encoding, no
/// path normalisation, the payload's SHA-256 in a header, or
/// `UNSIGNED-PAYLOAD` for a presigned URL).
struct Signing<'a> {
    identity: &'a aws_smithy_runtime_api::client::identity::Identity,
    region: &'a str,
    time: SystemTime,
}

impl Signing<'_> {
    fn sign(
        &self,
        method: &str,
        url: &str,
        headers: &[(&str, &str)],
        body: SignableBody<'_>,
        location: SignatureLocation,
        expires_in: Option<Duration>,
    ) -> Result<aws_sigv4::http_request::SigningInstructions, MediaError> {
        let mut settings = SigningSettings::default();
        settings.percent_encoding_mode = PercentEncodingMode::Single;
        settings.uri_path_normalization_mode = UriPathNormalizationMode::Disabled;
        settings.signature_location = location;
        settings.expires_in = expires_in;
        settings.payload_checksum_kind = match location {
            SignatureLocation::Headers => PayloadChecksumKind::XAmzSha256,
            _ => PayloadChecksumKind::NoHeader,
        };
        let params = v4::SigningParams::builder()
            .identity(self.identity)
            .region(self.region)
            .name("s3")
            .time(self.time)
            .settings(settings)
            .build()
            .map_err(|e| MediaError::Signing(e.to_string()))?
            .into();
        let request = SignableRequest::new(method, url, headers.iter().copied(), body)
            .map_err(|e| MediaError::Signing(e.to_string()))?;
        Ok(sign(request, &params)
            .map_err(|e| MediaError::Signing(e.to_string()))?
            .into_parts()
            .0)
    }

    /// `url` presigned for a `GET` valid `ttl`.
    fn presign_get(&self, url: &str, ttl: Duration) -> Result<String, MediaError> {
        let instructions = self.sign(
            "GET",
            url,
            &[],
            SignableBody::UnsignedPayload,
            SignatureLocation::QueryParams,
            Some(ttl),
        )?;
        let query = serde_urlencoded::to_string(
            instructions
                .params()
                .iter()
                .map(|(k, v)| (*k, v.as_ref()))
                .collect::<Vec<_>>(),
        )
        .map_err(|e| MediaError::Signing(e.to_string()))?;
        Ok(format!("{url}?{query}"))
    }
}

/// The S3 bucket media is kept in.
pub struct MediaBucket {
    bucket: String,
    region: String,
    /// `AWS_ENDPOINT_URL` (the emulator): path-style URLs on it.
    endpoint: Option<String>,
    credentials: Option<SharedCredentialsProvider>,
}

impl MediaBucket {
    pub fn new(sdk: &aws_config::SdkConfig, bucket: &str) -> Self {
        Self {
            bucket: bucket.to_string(),
            region: sdk
                .region()
                .map(|r| r.to_string())
                .unwrap_or_else(|| "us-east-1".into()),
            endpoint: sdk
                .endpoint_url()
                .map(|e| e.trim_end_matches('/').to_string()),
            credentials: sdk.credentials_provider(),
        }
    }

    fn object_url(&self, key: &str) -> String {
        match &self.endpoint {
            Some(e) => format!("{e}/{}/{key}", self.bucket),
            None => format!(
                "https://{}.s3.{}.amazonaws.com/{key}",
                self.bucket, self.region
            ),
        }
    }

    /// The role's credentials, as SigV4 takes them.
    async fn identity(
        &self,
    ) -> Result<aws_smithy_runtime_api::client::identity::Identity, MediaError> {
        let provider = self.credentials.as_ref().ok_or(MediaError::NoCredentials)?;
        let credentials = provider
            .provide_credentials()
            .await
            .map_err(|e| MediaError::Signing(e.to_string()))?;
        Ok(credentials.into())
    }

    /// A SigV4-signed `PUT` of `body` to `url`; the HTTP status.
    async fn signed_put(
        &self,
        url: &str,
        content_type: Option<&str>,
        body: Vec<u8>,
    ) -> Result<u16, MediaError> {
        let identity = self.identity().await?;
        let headers: Vec<(&str, &str)> = content_type
            .map(|ct| ("content-type", ct))
            .into_iter()
            .collect();
        let instructions = Signing {
            identity: &identity,
            region: &self.region,
            time: SystemTime::now(),
        }
        .sign(
            "PUT",
            url,
            &headers,
            SignableBody::Bytes(&body),
            SignatureLocation::Headers,
            None,
        )?;
        let all: Vec<(&str, &str)> = headers
            .iter()
            .copied()
            .chain(instructions.headers())
            .collect();
        Ok(send("PUT", url, &all, body).await?.status)
    }

    /// Store an object.
    pub async fn put(
        &self,
        key: &str,
        content_type: &str,
        body: Vec<u8>,
    ) -> Result<(), MediaError> {
        match self
            .signed_put(&self.object_url(key), Some(content_type), body)
            .await?
        {
            200..=299 => Ok(()),
            s => Err(MediaError::Unavailable(format!("s3 answered {s}"))),
        }
    }

    /// A URL that downloads the object for `ttl`, to anyone holding it.
    pub async fn presign_get(&self, key: &str, ttl: Duration) -> Result<String, MediaError> {
        let identity = self.identity().await?;
        Signing {
            identity: &identity,
            region: &self.region,
            time: SystemTime::now(),
        }
        .presign_get(&self.object_url(key), ttl)
    }

    /// Create the bucket (the local stack only; the template creates it in
    /// AWS). An existing bucket of ours is fine.
    pub async fn create(&self) -> Result<(), MediaError> {
        let Some(endpoint) = &self.endpoint else {
            return Ok(());
        };
        match self
            .signed_put(&format!("{endpoint}/{}", self.bucket), None, Vec::new())
            .await?
        {
            200..=299 | 409 => Ok(()),
            s => Err(MediaError::Unavailable(format!("create bucket: {s}"))),
        }
    }
}

/// A credential for the provider's own hosts.
pub enum Credential<'a> {
    Basic(&'a str, &'a str),
    Bearer(&'a str),
}

/// `scheme://host:port` of a URL.
fn origin(url: &http::Uri) -> String {
    let port = url.port_u16().unwrap_or(match url.scheme_str() {
        Some("https") => 443,
        _ => 80,
    });
    format!(
        "{}://{}:{port}",
        url.scheme_str().unwrap_or(""),
        url.host().unwrap_or("").to_ascii_lowercase()
    )
}

/// Whether `url` is `base`'s origin or an `https` host under one of
/// `domains`.
pub fn trusted_host(url: &http::Uri, base: &str, domains: &[&str]) -> bool {
    if parse_url(base).is_some_and(|b| origin(&b) == origin(url)) {
        return true;
    }
    url.scheme_str() == Some("https")
        && url.host().is_some_and(|h| {
            let h = h.to_ascii_lowercase();
            domains
                .iter()
                .any(|d| h == *d || h.ends_with(&format!(".{d}")))
        })
}

/// Where media comes from, and how to fetch it.
pub struct MediaSource {
    pub twilio_api_base: String,
    /// The environment's Twilio account (basic-auth user, password).
    pub twilio_auth: Option<(String, String)>,
    pub graph_base: String,
    pub graph_version: String,
}

/// The hosts Twilio's and Meta's credentials may go to (besides the
/// configured API origins).
pub const TWILIO_DOMAINS: &[&str] = &["twilio.com"];
pub const META_DOMAINS: &[&str] = &["fbsbx.com", "facebook.com", "whatsapp.net"];

impl MediaSource {
    pub fn from_lookup(get: &impl Fn(&str) -> Option<String>) -> Self {
        let trim = |s: String| s.trim_end_matches('/').to_string();
        let twilio_auth = match (
            get("TWILIO_ACCOUNT_SID"),
            get("TWILIO_API_KEY_SID"),
            get("TWILIO_API_KEY_SECRET"),
            get("TWILIO_AUTH_TOKEN"),
        ) {
            (Some(_), Some(key), Some(secret), _) => Some((key, secret)),
            (Some(sid), _, _, Some(token)) => Some((sid, token)),
            _ => None,
        };
        Self {
            twilio_api_base: trim(
                get("TWILIO_API_BASE_URL").unwrap_or_else(|| "https://api.twilio.com".into()),
            ),
            twilio_auth,
            graph_base: trim(
                get("META_GRAPH_BASE_URL").unwrap_or_else(|| "https://graph.facebook.com".into()),
            ),
            graph_version: get("META_GRAPH_VERSION").unwrap_or_else(|| "v23.0".into()),
        }
    }

    /// Download a Twilio `MediaUrl` (only from the API's origin or a Twilio
    /// host to begin with: a URL elsewhere is not Twilio's).
    pub async fn twilio(
        &self,
        url: &str,
        auth: Credential<'_>,
    ) -> Result<(String, Vec<u8>), MediaError> {
        let start = parse_url(url).ok_or(MediaError::Status(400))?;
        if !trusted_host(&start, &self.twilio_api_base, TWILIO_DOMAINS) {
            return Err(MediaError::Status(400));
        }
        self.download(start, &auth, |u| {
            trusted_host(u, &self.twilio_api_base, TWILIO_DOMAINS)
        })
        .await
    }

    /// Download a Meta media id: its metadata from Graph, then its `url`.
    pub async fn meta(&self, media_id: &str, token: &str) -> Result<(String, Vec<u8>), MediaError> {
        #[derive(serde::Deserialize)]
        struct Meta {
            url: Option<String>,
            file_size: Option<u64>,
        }
        let id: String = media_id.chars().filter(char::is_ascii_digit).collect();
        if id.is_empty() {
            return Err(MediaError::Status(400));
        }
        let url = format!("{}/{}/{id}", self.graph_base, self.graph_version);
        let bearer = format!("Bearer {token}");
        let resp = send("GET", &url, &[("authorization", &bearer)], Vec::new()).await?;
        if !(200..300).contains(&resp.status) {
            return Err(MediaError::Status(resp.status));
        }
        let meta: Meta = serde_json::from_slice(&resp.bytes(64 * 1024).await?)
            .map_err(|e| MediaError::Unavailable(format!("graph: {e}")))?;
        if meta.file_size.is_some_and(|n| n > MAX_MEDIA_BYTES as u64) {
            return Err(MediaError::TooLarge);
        }
        let target = meta
            .url
            .and_then(|u| parse_url(&u))
            .ok_or(MediaError::Status(502))?;
        self.download(target, &Credential::Bearer(token), |u| {
            trusted_host(u, &self.graph_base, META_DOMAINS)
        })
        .await
    }

    async fn download(
        &self,
        mut url: http::Uri,
        credential: &Credential<'_>,
        trusted: impl Fn(&http::Uri) -> bool,
    ) -> Result<(String, Vec<u8>), MediaError> {
        let auth = match credential {
            Credential::Basic(u, p) => {
                use base64::Engine;
                let pair = base64::engine::general_purpose::STANDARD.encode(format!("{u}:{p}"));
                format!("Basic {pair}")
            }
            Credential::Bearer(t) => format!("Bearer {t}"),
        };
        for _ in 0..5 {
            let headers: Vec<(&str, &str)> = if trusted(&url) {
                vec![("authorization", auth.as_str())]
            } else {
                Vec::new()
            };
            let resp = send("GET", &url.to_string(), &headers, Vec::new()).await?;
            if (300..400).contains(&resp.status) {
                url = resp
                    .location
                    .as_deref()
                    .and_then(|l| join(&url, l))
                    .ok_or(MediaError::Status(resp.status))?;
                continue;
            }
            if !(200..300).contains(&resp.status) {
                return Err(MediaError::Status(resp.status));
            }
            let raw_type = resp.content_type.clone().unwrap_or_default();
            let content_type =
                allowed_type(&raw_type).ok_or(MediaError::TypeNotAllowed(raw_type))?;
            if resp
                .content_length
                .is_some_and(|n| n > MAX_MEDIA_BYTES as u64)
            {
                return Err(MediaError::TooLarge);
            }
            return Ok((content_type, resp.bytes(MAX_MEDIA_BYTES).await?));
        }
        Err(MediaError::Redirects)
    }
}

/// Media in S3 and where it comes from: what `process-inbound` needs
/// (`MEDIA_BUCKET` set); `get-messages` uses the bucket to presign.
pub struct Media {
    pub bucket: MediaBucket,
    pub source: MediaSource,
}

impl Media {
    /// `MEDIA_BUCKET` and the providers' settings; `None` without a bucket.
    pub fn from_lookup(
        sdk: &aws_config::SdkConfig,
        get: &impl Fn(&str) -> Option<String>,
    ) -> Option<Self> {
        let bucket = get("MEDIA_BUCKET")?;
        Some(Self {
            bucket: MediaBucket::new(sdk, &bucket),
            source: MediaSource::from_lookup(get),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn when_a_content_type_is_checked_only_the_allow_list_should_pass() {
        assert_eq!(
            allowed_type("image/JPEG; charset=x").as_deref(),
            Some("image/jpeg")
        );
        assert_eq!(
            allowed_type("application/pdf").as_deref(),
            Some("application/pdf")
        );
        for bad in ["text/html", "application/x-msdownload", "", "image/svg+xml"] {
            assert!(allowed_type(bad).is_none(), "{bad}");
        }
    }

    #[test]
    fn when_a_host_is_checked_credentials_should_go_only_to_the_provider() {
        let url = |u: &str| parse_url(u).unwrap();
        let base = "https://api.twilio.com";
        assert!(trusted_host(
            &url("https://api.twilio.com/2010-04-01/x"),
            base,
            TWILIO_DOMAINS
        ));
        assert!(trusted_host(
            &url("https://media.twilio.com/x"),
            base,
            TWILIO_DOMAINS
        ));
        for foreign in [
            "https://s3-external-1.amazonaws.com/media.twiliocdn.com/x",
            "https://eviltwilio.com/x",
            "https://twilio.com.evil.net/x",
            "http://media.twilio.com/x",
        ] {
            assert!(
                !trusted_host(&url(foreign), base, TWILIO_DOMAINS),
                "{foreign}"
            );
        }
        // A local stand-in's origin is trusted, another port is not.
        let local = "http://127.0.0.1:4000";
        assert!(trusted_host(
            &url("http://127.0.0.1:4000/m"),
            local,
            TWILIO_DOMAINS
        ));
        assert!(!trusted_host(
            &url("http://127.0.0.1:4001/m"),
            local,
            TWILIO_DOMAINS
        ));
        assert!(trusted_host(
            &url("https://lookaside.fbsbx.com/whatsapp_business/attachments/?mid=1"),
            "https://graph.facebook.com",
            META_DOMAINS
        ));
    }

    /// AWS's own example ("Authenticating Requests: Using Query
    /// Parameters", S3 API reference): the same URL, key, date and expiry
    /// must give the documented signature.
    #[test]
    fn when_a_url_is_presigned_it_should_match_the_aws_documented_example() {
        let identity = aws_credential_types::Credentials::new(
            "AKIAIOSFODNN7EXAMPLE",
            "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
            None,
            None,
            "example",
        )
        .into();
        let time = SystemTime::UNIX_EPOCH + Duration::from_secs(1_369_353_600); // 2013-05-24T00:00:00Z
        let url = Signing {
            identity: &identity,
            region: "us-east-1",
            time,
        }
        .presign_get(
            "https://examplebucket.s3.amazonaws.com/test.txt",
            Duration::from_secs(86_400),
        )
        .unwrap();
        assert!(
            url.contains(
                "X-Amz-Credential=AKIAIOSFODNN7EXAMPLE%2F20130524%2Fus-east-1%2Fs3%2Faws4_request"
            ),
            "{url}"
        );
        assert!(url.contains("X-Amz-Expires=86400"), "{url}");
        assert!(
            url.ends_with(
                "X-Amz-Signature=aeeed9bbccd4d02ee5c0109b86d86835f995330da4c265957d157751f604d404"
            ),
            "{url}"
        );
    }

    #[test]
    fn when_an_error_is_recorded_its_code_should_say_what_happened() {
        assert_eq!(MediaError::TooLarge.code(), "too_large");
        assert!(MediaError::Status(503).is_transient());
        assert!(!MediaError::Status(404).is_transient());
        assert!(!MediaError::TypeNotAllowed("x".into()).is_transient());
    }
}
