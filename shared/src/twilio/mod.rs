//! Twilio REST client: Conversations v1 (booking chats).
//!
//! Shapes follow Twilio's OpenAPI (`twilio_conversations_v1.json`). Base URLs
//! are configurable so tests and the local stack point it at a stand-in.
//! Requests that never reached Twilio (connection refused, HTTP 429) are
//! retried with backoff; a timeout after sending is reported as such and is
//! never re-sent blindly.

use serde::Deserialize;
use serde::de::DeserializeOwned;
use std::time::Duration;

use crate::config::TwilioConfig;
use crate::h1::{H1Connector, RequestError};
pub use crate::transport::{
    ConversationResource, ERR_PARTICIPANT_EXISTS, ERR_UNIQUE_NAME_EXISTS, MessageResource,
    NewParticipant, OutboundMessage, ParticipantResource, SmsResource, TwilioError,
};

#[derive(Debug, Deserialize)]
struct ErrorBody {
    code: Option<i64>,
    message: Option<String>,
    more_info: Option<String>,
}

#[derive(Debug, Deserialize)]
struct ParticipantPage {
    participants: Vec<ParticipantResource>,
    #[serde(default)]
    meta: Option<PageMeta>,
}

#[derive(Debug, Deserialize)]
struct PageMeta {
    #[serde(default)]
    next_page_url: Option<String>,
}

/// Twilio's connection overrides for a callback URL: up to 5 retries, on
/// any failure (a 503 from ingest included). Twilio reads them from the
/// URL's fragment, which it never sends, so signatures are unaffected.
pub const CALLBACK_OVERRIDES: &str = "#rc=5&rp=all";

#[derive(Clone)]
pub struct TwilioClient {
    /// Built on first use, so functions that never call Twilio (most reads)
    /// do not parse its root certificates at cold start; it trusts the roots
    /// of [`crate::tls`] (the compiled-in bundle, not the platform store).
    http: std::sync::Arc<std::sync::OnceLock<H1Connector>>,
    cfg: TwilioConfig,
}

type Form = Vec<(&'static str, String)>;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Method {
    Get,
    Post,
    Delete,
}

impl Method {
    fn as_str(self) -> &'static str {
        match self {
            Method::Get => "GET",
            Method::Post => "POST",
            Method::Delete => "DELETE",
        }
    }
}

impl TwilioClient {
    pub fn new(cfg: TwilioConfig) -> Self {
        Self {
            http: Default::default(),
            cfg,
        }
    }

    fn http(&self) -> &H1Connector {
        self.http.get_or_init(http_client)
    }

    /// Open a pooled connection to the Conversations API now (DNS, TCP and
    /// the TLS handshake): an unauthenticated `GET /`, its answer read and
    /// dropped, within 2 s. A function calls it during init so that its
    /// first send reuses the connection instead of paying the handshake
    /// (BENCHMARKS.md, "Round 8"). Failure is only logged: the first send
    /// then connects as it would have.
    pub async fn warm_up(&self) {
        warm_up(self.http(), &self.cfg.conversations_base_url).await;
    }

    /// Use `early`'s HTTP client, and so the connection it opened, when it
    /// was made for this client's Conversations API and this client has
    /// not built its own yet. Returns whether it was taken.
    pub fn adopt(&self, early: EarlyConnection) -> bool {
        if early.base_url != self.cfg.conversations_base_url {
            return false;
        }
        self.http.set(early.http).is_ok()
    }

    fn conv_url(&self, path: &str) -> String {
        format!("{}{}", self.cfg.conversations_base_url, path)
    }

    /// Create a conversation with its participants in one request, keyed by
    /// `unique_name`. When it already exists (a racing or crashed earlier
    /// create), fetch it by its unique name instead.
    pub async fn create_conversation_with_participants(
        &self,
        unique_name: &str,
        friendly_name: &str,
        attributes: &str,
        participants: &[NewParticipant<'_>],
    ) -> Result<ConversationResource, TwilioError> {
        let mut form: Form = vec![
            ("UniqueName", unique_name.to_string()),
            ("FriendlyName", friendly_name.to_string()),
            ("Attributes", attributes.to_string()),
        ];
        for p in participants {
            let json = serde_json::json!({"identity": p.identity, "attributes": p.attributes});
            form.push(("Participant", json.to_string()));
        }
        let url = self.conv_url("/v1/ConversationWithParticipants");
        match self.send(Method::Post, &url, Some(&form)).await {
            Err(e) if e.is_api_code(ERR_UNIQUE_NAME_EXISTS) => {
                self.fetch_conversation(unique_name).await
            }
            other => other,
        }
    }

    /// Fetch by SID or unique name.
    pub async fn fetch_conversation(
        &self,
        sid_or_unique_name: &str,
    ) -> Result<ConversationResource, TwilioError> {
        let url = self.conv_url(&format!("/v1/Conversations/{}", enc(sid_or_unique_name)));
        self.send(Method::Get, &url, None).await
    }

    pub async fn list_participants(
        &self,
        conversation_sid: &str,
    ) -> Result<Vec<ParticipantResource>, TwilioError> {
        let mut url = self.conv_url(&format!(
            "/v1/Conversations/{}/Participants?PageSize=100",
            enc(conversation_sid)
        ));
        let mut all = Vec::new();
        for _ in 0..10 {
            let page: ParticipantPage = self.send(Method::Get, &url, None).await?;
            all.extend(page.participants);
            match page.meta.and_then(|m| m.next_page_url) {
                Some(next) if next.starts_with(&self.cfg.conversations_base_url) => url = next,
                _ => break,
            }
        }
        Ok(all)
    }

    /// Add a chat participant; when it is already there, return the existing one.
    pub async fn add_participant(
        &self,
        conversation_sid: &str,
        p: &NewParticipant<'_>,
    ) -> Result<ParticipantResource, TwilioError> {
        let url = self.conv_url(&format!(
            "/v1/Conversations/{}/Participants",
            enc(conversation_sid)
        ));
        let form: Form = vec![
            ("Identity", p.identity.to_string()),
            ("Attributes", p.attributes.clone()),
        ];
        match self.send(Method::Post, &url, Some(&form)).await {
            Err(e) if e.is_api_code(ERR_PARTICIPANT_EXISTS) => {
                let existing = self.list_participants(conversation_sid).await?;
                existing
                    .into_iter()
                    .find(|x| x.identity.as_deref() == Some(p.identity))
                    .ok_or(e)
            }
            other => other,
        }
    }

    /// Remove a participant; already gone counts as done.
    pub async fn remove_participant(
        &self,
        conversation_sid: &str,
        participant_sid: &str,
    ) -> Result<(), TwilioError> {
        let url = self.conv_url(&format!(
            "/v1/Conversations/{}/Participants/{}",
            enc(conversation_sid),
            enc(participant_sid)
        ));
        match self.send_raw(Method::Delete, &url, None).await {
            Ok(_) => Ok(()),
            Err(e) if e.is_not_found() => Ok(()),
            Err(e) => Err(e),
        }
    }

    pub async fn update_last_read_index(
        &self,
        conversation_sid: &str,
        participant_sid: &str,
        index: i64,
    ) -> Result<ParticipantResource, TwilioError> {
        let url = self.conv_url(&format!(
            "/v1/Conversations/{}/Participants/{}",
            enc(conversation_sid),
            enc(participant_sid)
        ));
        let form: Form = vec![("LastReadMessageIndex", index.to_string())];
        self.send(Method::Post, &url, Some(&form)).await
    }

    /// Post a chat message as `author`. Twilio's own webhooks for it are
    /// left enabled: the inbound pipeline recognises our message id in the
    /// attributes and stores it once.
    pub async fn send_conversation_message(
        &self,
        conversation_sid: &str,
        author: &str,
        body: &str,
        attributes: &str,
    ) -> Result<MessageResource, TwilioError> {
        let url = self.conv_url(&format!(
            "/v1/Conversations/{}/Messages",
            enc(conversation_sid)
        ));
        let form: Form = vec![
            ("Author", author.to_string()),
            ("Body", body.to_string()),
            ("Attributes", attributes.to_string()),
        ];
        self.send(Method::Post, &url, Some(&form)).await
    }

    /// Close (or reopen) a conversation: `State=closed|active`.
    pub async fn set_conversation_state(
        &self,
        conversation_sid: &str,
        state: &str,
    ) -> Result<ConversationResource, TwilioError> {
        let url = self.conv_url(&format!("/v1/Conversations/{}", enc(conversation_sid)));
        let form: Form = vec![("State", state.to_string())];
        self.send(Method::Post, &url, Some(&form)).await
    }

    /// This client acting as an org's own Twilio account (its SID and REST
    /// credentials), over the same connection pool.
    pub fn for_account(&self, account: &crate::vault::TwilioAccount) -> Self {
        let (username, password) = account.rest_credentials();
        Self {
            http: self.http.clone(),
            cfg: TwilioConfig {
                account_sid: account.account_sid.clone(),
                username: username.to_string(),
                password: password.to_string(),
                ..self.cfg.clone()
            },
        }
    }

    /// Whether this client's account holds `number` (E.164, `+…`) among its
    /// `IncomingPhoneNumbers`: proof that whoever gave these credentials
    /// may register the number. Twilio's 401 is `Ok(false)`: the
    /// credentials are wrong, so nothing is proven.
    pub async fn owns_number(&self, number: &str) -> Result<bool, TwilioError> {
        #[derive(Deserialize)]
        struct Page {
            incoming_phone_numbers: Vec<Number>,
        }
        #[derive(Deserialize)]
        struct Number {
            phone_number: Option<String>,
        }
        let url = format!(
            "{}/2010-04-01/Accounts/{}/IncomingPhoneNumbers.json?PhoneNumber={}&PageSize=20",
            self.cfg.api_base_url,
            enc(&self.cfg.account_sid),
            enc(number)
        );
        match self.send::<Page>(Method::Get, &url, None).await {
            Ok(page) => Ok(page
                .incoming_phone_numbers
                .iter()
                .any(|n| n.phone_number.as_deref() == Some(number))),
            Err(TwilioError::Api {
                status: 401 | 403 | 404,
                ..
            }) => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// Whether this client's account has `sender` (`whatsapp:+E164`) among
    /// its WhatsApp senders (Senders API, `GET /v2/Channels/Senders`): a
    /// WhatsApp number need not be a Twilio phone number. A refusal
    /// (wrong credentials) is `Ok(false)`.
    pub async fn owns_whatsapp_sender(&self, sender: &str) -> Result<bool, TwilioError> {
        #[derive(Deserialize)]
        struct Page {
            #[serde(default)]
            senders: Vec<Sender>,
            #[serde(default)]
            meta: Option<PageMeta>,
        }
        #[derive(Deserialize)]
        struct Sender {
            #[serde(default, alias = "senderId")]
            sender_id: Option<String>,
        }
        let base = &self.cfg.messaging_base_url;
        let mut url = format!("{base}/v2/Channels/Senders?Channel=whatsapp&PageSize=100");
        for _ in 0..5 {
            let page: Page = match self.send(Method::Get, &url, None).await {
                Ok(p) => p,
                Err(TwilioError::Api {
                    status: 401 | 403 | 404,
                    ..
                }) => return Ok(false),
                Err(e) => return Err(e),
            };
            if page
                .senders
                .iter()
                .any(|s| s.sender_id.as_deref() == Some(sender))
            {
                return Ok(true);
            }
            match page.meta.and_then(|m| m.next_page_url) {
                Some(next) if next.starts_with(base.as_str()) => url = next,
                _ => break,
            }
        }
        Ok(false)
    }

    /// Show the WhatsApp user a typing indicator for the message we are
    /// answering (`SM…`/`MM…`), which also marks that message read (blue
    /// ticks); it disappears with our reply or after 25 s. Twilio's
    /// `POST /v2/Indicators/Typing.json` (public beta; WhatsApp only).
    pub async fn typing_indicator(&self, message_sid: &str) -> Result<(), TwilioError> {
        #[derive(Deserialize)]
        struct Answer {
            #[serde(default)]
            success: bool,
        }
        let url = format!("{}/v2/Indicators/Typing.json", self.cfg.messaging_base_url);
        let form: Form = vec![
            ("channel", "whatsapp".to_string()),
            ("messageId", message_sid.to_string()),
        ];
        let answer: Answer = self.send(Method::Post, &url, Some(&form)).await?;
        if answer.success {
            Ok(())
        } else {
            Err(TwilioError::Decode("typing indicator not accepted".into()))
        }
    }

    /// Send a WhatsApp/SMS message with the Messages API.
    pub async fn send_message(&self, m: &OutboundMessage<'_>) -> Result<SmsResource, TwilioError> {
        let url = format!(
            "{}/2010-04-01/Accounts/{}/Messages.json",
            self.cfg.api_base_url,
            enc(&self.cfg.account_sid)
        );
        let mut form: Form = vec![("From", m.from.to_string()), ("To", m.to.to_string())];
        if let Some(body) = m.body {
            form.push(("Body", body.to_string()));
        }
        if let Some(sid) = m.content_sid {
            form.push(("ContentSid", sid.to_string()));
        }
        if let Some(vars) = &m.content_variables {
            form.push(("ContentVariables", vars.clone()));
        }
        for url in m.media_urls {
            form.push(("MediaUrl", url.clone()));
        }
        if let Some(cb) = &m.status_callback {
            form.push(("StatusCallback", cb.clone()));
        }
        self.send(Method::Post, &url, Some(&form)).await
    }

    async fn send<T: DeserializeOwned>(
        &self,
        method: Method,
        url: &str,
        form: Option<&Form>,
    ) -> Result<T, TwilioError> {
        let bytes = self.send_raw(method, url, form).await?;
        serde_json::from_slice(&bytes).map_err(|e| TwilioError::Decode(e.to_string()))
    }

    /// One logical request: retried while it provably did not take effect.
    async fn send_raw(
        &self,
        method: Method,
        url: &str,
        form: Option<&Form>,
    ) -> Result<Vec<u8>, TwilioError> {
        let auth = basic_auth(&self.cfg.username, &self.cfg.password);
        let body = match form {
            Some(form) => serde_urlencoded::to_string(form)
                .map_err(|e| TwilioError::Unavailable(format!("form: {e}")))?,
            None => String::new(),
        };
        let mut headers = vec![
            ("accept", "*/*"),
            ("user-agent", USER_AGENT),
            ("authorization", auth.as_str()),
        ];
        if form.is_some() {
            headers.push(("content-type", "application/x-www-form-urlencoded"));
        }
        let mut attempt = 0;
        loop {
            attempt += 1;
            let last = attempt >= self.cfg.max_attempts;
            let backoff = self.cfg.backoff * 2u32.pow(attempt - 1);
            let sent = self
                .http()
                .request(
                    method.as_str(),
                    url,
                    &headers,
                    body.as_bytes(),
                    self.cfg.timeout,
                )
                .await;
            let resp = match sent {
                Ok(r) => r,
                Err(RequestError::Connect(e)) => {
                    tracing::warn!(attempt, error = %e, "twilio connection failed");
                    if last {
                        return Err(TwilioError::Unavailable("connection failed".into()));
                    }
                    tokio::time::sleep(backoff).await;
                    continue;
                }
                Err(RequestError::Invalid(why)) => {
                    return Err(TwilioError::Unavailable(format!("invalid request: {why}")));
                }
                // Anything after the connection was made may have reached Twilio.
                Err(e) => {
                    tracing::warn!(error = %e, "twilio request failed after connecting");
                    return Err(TwilioError::Timeout);
                }
            };
            let status = resp.status;
            if status == 429 {
                let retry_after = resp
                    .header("retry-after")
                    .and_then(|v| v.trim().parse::<u64>().ok())
                    .map(Duration::from_secs);
                tracing::warn!(attempt, "twilio rate limited");
                if last {
                    return Err(TwilioError::RateLimited { retry_after });
                }
                let wait = retry_after
                    .unwrap_or(backoff)
                    .min(Duration::from_secs(2))
                    .max(backoff);
                tokio::time::sleep(wait).await;
                continue;
            }
            if (200..300).contains(&status) {
                return Ok(resp.body);
            }
            let parsed: Option<ErrorBody> = serde_json::from_slice(&resp.body).ok();
            let err = TwilioError::Api {
                status,
                code: parsed.as_ref().and_then(|b| b.code),
                message: parsed
                    .as_ref()
                    .and_then(|b| b.message.clone())
                    .unwrap_or_else(|| status_text(status)),
                more_info: parsed.and_then(|b| b.more_info),
            };
            tracing::warn!(status, error = %err, "twilio refused a request");
            return Err(err);
        }
    }
}

const USER_AGENT: &str = concat!("booking-messaging/", env!("CARGO_PKG_VERSION"));

/// `Basic base64(username:password)`.
fn basic_auth(username: &str, password: &str) -> String {
    use base64::Engine;
    let mut out = String::from("Basic ");
    base64::engine::general_purpose::STANDARD
        .encode_string(format!("{username}:{password}"), &mut out);
    out
}

/// A status line's text for an error without Twilio's JSON (`500 Internal
/// Server Error`), as `http::StatusCode` displays it.
fn status_text(status: u16) -> String {
    http::StatusCode::from_u16(status)
        .map(|s| s.to_string())
        .unwrap_or_else(|_| status.to_string())
}

/// The HTTP client of every [`TwilioClient`] ([`crate::h1`]): connections
/// cut after 2 s, idle connections kept 50 s; it trusts the roots of
/// [`crate::tls`] (the compiled-in bundle). Each request's answer is
/// awaited for the configured timeout once connected.
fn http_client() -> H1Connector {
    H1Connector::with_idle_timeout(
        crate::tls::public_tls_config(),
        Duration::from_secs(2),
        Duration::from_secs(50),
    )
}

/// `GET {base_url}/` within 2 s, its answer read to the end so the
/// connection stays open for the next request; a failure is only logged.
async fn warm_up(http: &H1Connector, base_url: &str) {
    let url = format!("{base_url}/");
    let answer = http
        .request(
            "GET",
            &url,
            &[("user-agent", USER_AGENT)],
            b"",
            Duration::from_secs(2),
        )
        .await;
    match answer {
        Ok(response) => {
            tracing::debug!(url, status = response.status, "twilio connection warmed up")
        }
        Err(e) => tracing::debug!(url, error = %e, "twilio warm-up failed"),
    }
}

/// A connection to the Conversations API opened before the function's
/// [`TwilioClient`] exists: its credentials may still be on their way from
/// Secrets Manager, but where it connects and its timeout are plain
/// settings. `send-message` opens it while its settings and secrets are
/// read, then hands it to its client ([`TwilioClient::adopt`]), so the
/// handshake overlaps the Secrets Manager call instead of following it.
pub struct EarlyConnection {
    http: H1Connector,
    base_url: String,
}

impl EarlyConnection {
    /// For `TWILIO_CONVERSATIONS_BASE_URL` and `TWILIO_TIMEOUT_MS` as
    /// [`TwilioConfig`] reads them from `get`; `None` when the timeout is
    /// invalid (the function's configuration then fails and says why).
    pub fn new(get: &impl Fn(&str) -> Option<String>) -> Option<Self> {
        crate::config::twilio_timeout(get).ok()?;
        Some(Self {
            http: http_client(),
            base_url: crate::config::conversations_base_url(get),
        })
    }

    /// Open the connection ([`TwilioClient::warm_up`]'s request).
    pub async fn open(&self) {
        warm_up(&self.http, &self.base_url).await;
    }
}

/// Percent-encode one path segment.
fn enc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

mod transport;

#[cfg(test)]
mod tests {
    use super::*;
    use wiremock::matchers::{method, path};
    use wiremock::{Mock, MockServer, ResponseTemplate};

    fn client(base: &str, timeout_ms: u64) -> TwilioClient {
        TwilioClient::new(TwilioConfig {
            account_sid: "AC00000000000000000000000000000000".into(),
            username: "AC00000000000000000000000000000000".into(),
            password: "token".into(),
            conversations_base_url: base.into(),
            api_base_url: base.into(),
            messaging_base_url: base.into(),
            timeout: Duration::from_millis(timeout_ms),
            max_attempts: 3,
            backoff: Duration::from_millis(5),
        })
    }

    fn message_json() -> serde_json::Value {
        serde_json::json!({"sid": "IM00000000000000000000000000000001", "index": 0, "author": "u1"})
    }

    /// A keep-alive HTTP/1.1 server answering every request with `body`:
    /// (its base URL, connections accepted, requests answered).
    /// With `drop_first`, the first connection is closed unanswered.
    async fn counting_server(
        body: &'static str,
        drop_first: bool,
    ) -> (
        String,
        std::sync::Arc<std::sync::atomic::AtomicUsize>,
        std::sync::Arc<std::sync::Mutex<Vec<String>>>,
    ) {
        use std::sync::atomic::Ordering;
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let connections = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let requests = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let (c, r) = (connections.clone(), requests.clone());
        tokio::spawn(async move {
            while let Ok((mut tcp, _)) = listener.accept().await {
                if c.fetch_add(1, Ordering::SeqCst) == 0 && drop_first {
                    drop(tcp);
                    continue;
                }
                let r = r.clone();
                tokio::spawn(async move {
                    let mut pending = Vec::new();
                    let mut buf = [0u8; 4096];
                    loop {
                        while let Some(end) = pending.windows(4).position(|w| w == b"\r\n\r\n") {
                            let head = String::from_utf8_lossy(&pending[..end]).to_string();
                            pending.drain(..end + 4);
                            r.lock()
                                .unwrap()
                                .push(head.lines().next().unwrap_or("").to_string());
                            let answer = format!(
                                "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n{body}",
                                body.len()
                            );
                            if tcp.write_all(answer.as_bytes()).await.is_err() {
                                return;
                            }
                        }
                        match tcp.read(&mut buf).await {
                            Ok(0) | Err(_) => return,
                            Ok(n) => pending.extend_from_slice(&buf[..n]),
                        }
                    }
                });
            }
        });
        (base, connections, requests)
    }

    #[tokio::test]
    async fn the_warm_up_connection_should_be_the_one_the_first_request_uses() {
        use std::sync::atomic::Ordering;
        let (base, connections, requests) = counting_server(r#"{"sid":"CH1"}"#, false).await;
        let twilio = client(&base, 2_000);
        twilio.warm_up().await;
        assert_eq!(connections.load(Ordering::SeqCst), 1);
        let conversation = twilio.fetch_conversation("CH1").await.unwrap();
        assert_eq!(conversation.sid, "CH1");
        assert_eq!(
            connections.load(Ordering::SeqCst),
            1,
            "the first request opened a connection of its own"
        );
        assert_eq!(
            *requests.lock().unwrap(),
            ["GET / HTTP/1.1", "GET /v1/Conversations/CH1 HTTP/1.1"]
        );
    }

    fn early(base: &str, timeout_ms: &str) -> Option<EarlyConnection> {
        let (base, timeout_ms) = (base.to_string(), timeout_ms.to_string());
        EarlyConnection::new(&move |n: &str| match n {
            "TWILIO_CONVERSATIONS_BASE_URL" => Some(format!("{base}/")),
            "TWILIO_TIMEOUT_MS" => Some(timeout_ms.clone()),
            _ => None,
        })
    }

    #[tokio::test]
    async fn an_early_connection_should_be_the_one_the_adopting_client_uses() {
        use std::sync::atomic::Ordering;
        let (base, connections, requests) = counting_server(r#"{"sid":"CH1"}"#, false).await;
        let early = early(&base, "2000").expect("valid settings");
        early.open().await;
        assert_eq!(connections.load(Ordering::SeqCst), 1);
        let twilio = client(&base, 2_000);
        assert!(twilio.adopt(early), "same base URL");
        assert_eq!(twilio.fetch_conversation("CH1").await.unwrap().sid, "CH1");
        assert_eq!(
            connections.load(Ordering::SeqCst),
            1,
            "the first request opened a connection of its own"
        );
        assert_eq!(
            *requests.lock().unwrap(),
            ["GET / HTTP/1.1", "GET /v1/Conversations/CH1 HTTP/1.1"]
        );
    }

    #[tokio::test]
    async fn an_early_connection_made_for_another_api_should_not_be_adopted() {
        use std::sync::atomic::Ordering;
        let (base, connections, _) = counting_server(r#"{"sid":"CH1"}"#, false).await;
        let twilio = client(&base, 2_000);
        // Another API: the client keeps its own connections.
        assert!(!twilio.adopt(early("http://127.0.0.1:9", "2000").unwrap()));
        twilio.warm_up().await;
        assert_eq!(connections.load(Ordering::SeqCst), 1);
        // Once the client has its own HTTP client, a matching one is refused too.
        assert!(!twilio.adopt(early(&base, "2000").unwrap()));
        assert_eq!(twilio.fetch_conversation("CH1").await.unwrap().sid, "CH1");
        assert_eq!(connections.load(Ordering::SeqCst), 1);
    }

    #[tokio::test]
    async fn an_early_connection_should_serve_a_client_with_another_timeout() {
        use std::sync::atomic::Ordering;
        // The timeout is each request's, not the connection's.
        let (base, connections, _) = counting_server(r#"{"sid":"CH1"}"#, false).await;
        let early = early(&base, "3000").unwrap();
        early.open().await;
        let twilio = client(&base, 2_000);
        assert!(twilio.adopt(early));
        assert_eq!(twilio.fetch_conversation("CH1").await.unwrap().sid, "CH1");
        assert_eq!(connections.load(Ordering::SeqCst), 1);
    }

    #[test]
    fn an_invalid_timeout_should_give_no_early_connection() {
        assert!(early("http://127.0.0.1:9", "soon").is_none());
        assert!(early("http://127.0.0.1:9", "2500").is_some());
    }

    #[tokio::test]
    async fn a_failed_warm_up_should_not_fail_the_first_request() {
        use std::sync::atomic::Ordering;
        // The warm-up's connection is closed unanswered: it only logs, and
        // the same client's first request connects anew and succeeds.
        let (base, connections, requests) = counting_server(r#"{"sid":"CH1"}"#, true).await;
        let twilio = client(&base, 2_000);
        twilio.warm_up().await;
        assert_eq!(twilio.fetch_conversation("CH1").await.unwrap().sid, "CH1");
        assert_eq!(
            *requests.lock().unwrap(),
            ["GET /v1/Conversations/CH1 HTTP/1.1"]
        );
        assert!(connections.load(Ordering::SeqCst) >= 2);
    }

    #[tokio::test]
    async fn when_twilio_answers_429_then_201_it_should_send_once_more_and_succeed() {
        let server = MockServer::start().await;
        Mock::given(method("POST"))
            .and(path("/v1/Conversations/CH1/Messages"))
            .respond_with(ResponseTemplate::new(429).set_body_json(
                serde_json::json!({"code": 20429, "message": "Too Many Requests", "status": 429}),
            ))
            .up_to_n_times(1)
            .expect(1)
            .mount(&server)
            .await;
        Mock::given(method("POST"))
            .and(path("/v1/Conversations/CH1/Messages"))
            .respond_with(ResponseTemplate::new(201).set_body_json(message_json()))
            .expect(1)
            .mount(&server)
            .await;
        let msg = client(&server.uri(), 1000)
            .send_conversation_message("CH1", "u1", "hi", "{}")
            .await
            .unwrap();
        assert_eq!(msg.index, Some(0));
    }

    #[tokio::test]
    async fn when_twilio_keeps_answering_429_it_should_give_up_with_rate_limited() {
        let server = MockServer::start().await;
        Mock::given(method("POST"))
            .respond_with(ResponseTemplate::new(429).insert_header("Retry-After", "7"))
            .expect(3)
            .mount(&server)
            .await;
        let err = client(&server.uri(), 1000)
            .send_conversation_message("CH1", "u1", "hi", "{}")
            .await
            .unwrap_err();
        assert!(
            matches!(err, TwilioError::RateLimited { retry_after: Some(d) } if d.as_secs() == 7),
            "{err:?}"
        );
    }

    #[tokio::test]
    async fn when_twilio_answers_500_it_should_not_retry_and_keep_the_code() {
        let server = MockServer::start().await;
        Mock::given(method("POST"))
            .respond_with(ResponseTemplate::new(500).set_body_json(serde_json::json!({
                "code": 20500, "message": "Internal Server Error",
                "more_info": "https://www.twilio.com/docs/errors/20500", "status": 500
            })))
            .expect(1)
            .mount(&server)
            .await;
        let err = client(&server.uri(), 1000)
            .send_conversation_message("CH1", "u1", "hi", "{}")
            .await
            .unwrap_err();
        match err {
            TwilioError::Api {
                status,
                code,
                more_info,
                ..
            } => {
                assert_eq!((status, code), (500, Some(20500)));
                assert!(more_info.unwrap().ends_with("20500"));
            }
            other => panic!("{other:?}"),
        }
    }

    #[tokio::test]
    async fn when_twilio_is_slow_it_should_time_out_without_resending() {
        let server = MockServer::start().await;
        Mock::given(method("POST"))
            .respond_with(
                ResponseTemplate::new(201)
                    .set_body_json(message_json())
                    .set_delay(Duration::from_millis(500)),
            )
            .expect(1)
            .mount(&server)
            .await;
        let err = client(&server.uri(), 100)
            .send_conversation_message("CH1", "u1", "hi", "{}")
            .await
            .unwrap_err();
        assert!(matches!(err, TwilioError::Timeout), "{err:?}");
    }

    #[tokio::test]
    async fn when_nothing_listens_it_should_retry_then_report_unavailable() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        drop(listener);
        let err = client(&format!("http://127.0.0.1:{port}"), 500)
            .send_conversation_message("CH1", "u1", "hi", "{}")
            .await
            .unwrap_err();
        assert!(matches!(err, TwilioError::Unavailable(_)), "{err:?}");
    }

    #[test]
    fn when_a_path_segment_has_reserved_characters_it_should_be_encoded() {
        assert_eq!(enc("booking:b/1 x"), "booking%3Ab%2F1%20x");
    }
}
