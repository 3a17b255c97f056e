//! A local stand-in for the Twilio endpoints this project calls, answering
//! in the shapes of Twilio's OpenAPI (`twilio_conversations_v1.json`).
//!
//! It keeps conversations, participants and messages in memory, checks
//! HTTP basic auth, records every request (for tests and the contract
//! check) and can be told to fail or stall the next matching requests.

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use base64::Engine;
use serde_json::{Value, json};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

pub const DEV_ACCOUNT_SID: &str = "AC00000000000000000000000000000000";
pub const DEV_AUTH_TOKEN: &str = "dev-auth-token";

#[derive(Clone, Debug)]
pub struct Recorded {
    pub method: String,
    pub path: String,
    pub form: Vec<(String, String)>,
    /// The basic-auth user (an account SID or an API key SID).
    pub user: Option<String>,
}

/// An injected failure: the next `times` requests whose method matches and
/// whose path ends with `path_suffix` get `status` + `body` (after `delay`).
#[derive(Clone, Debug)]
pub struct Fault {
    pub method: &'static str,
    pub path_suffix: String,
    pub status: u16,
    pub body: Value,
    pub delay: Duration,
    pub times: usize,
}

#[derive(Default)]
struct Conv {
    sid: String,
    unique_name: Option<String>,
    friendly_name: Option<String>,
    attributes: String,
    state: String,
    created: String,
    participants: Vec<Part>,
    messages: Vec<Msg>,
}

#[derive(Clone)]
struct Part {
    sid: String,
    identity: String,
    attributes: String,
    last_read_message_index: Option<i64>,
}

struct Msg {
    sid: String,
    index: i64,
    author: String,
    body: String,
    attributes: String,
    created: String,
}

#[derive(Clone)]
struct Sms {
    /// The account that sent it.
    account: String,
    sid: String,
    from: String,
    to: String,
    body: String,
    status: String,
    created: String,
}

#[derive(Default)]
struct Inner {
    /// Where signed webhooks go (the local gateway's base URL).
    webhook_base: Option<String>,
    /// Messages API messages.
    sms: Vec<Sms>,
    /// Send sent/delivered(/read) status callbacks after a message create.
    no_callbacks: bool,
    convs: Vec<Conv>,
    requests: Vec<Recorded>,
    faults: Vec<Fault>,
    counter: u64,
    /// The SID the next message create answers with (a double that
    /// reuses SIDs).
    reuse_sid: Option<String>,
    /// Answers held after the request was processed: (method, path
    /// suffix, delay), once each.
    holds: Vec<(&'static str, String, Duration)>,
    /// Other accounts (an org's own subaccount): SID → its token, numbers
    /// and API keys.
    subaccounts: HashMap<String, SubAccount>,
    /// This stand-in's base URL (set by `serve`).
    base: Option<String>,
    /// Media SID → (content type, bytes, a redirect elsewhere).
    media: HashMap<String, (String, Vec<u8>, Option<String>)>,
}

#[derive(Clone, Default)]
struct SubAccount {
    auth_token: String,
    numbers: Vec<String>,
    /// `(SK…, secret)`.
    api_keys: Vec<(String, String)>,
    /// WhatsApp senders (`whatsapp:+E164`) that are not its phone numbers.
    whatsapp_senders: Vec<String>,
}

#[derive(Clone)]
pub struct StandIn {
    inner: Arc<Mutex<Inner>>,
    account_sid: String,
    auth_token: String,
}

impl Default for StandIn {
    fn default() -> Self {
        Self::new(DEV_ACCOUNT_SID, DEV_AUTH_TOKEN)
    }
}

type Reply = Response;

fn twilio_error(status: u16, code: i64, message: &str) -> Reply {
    (
        StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
        axum::Json(json!({
            "code": code,
            "message": message,
            "more_info": format!("https://www.twilio.com/docs/errors/{code}"),
            "status": status,
        })),
    )
        .into_response()
}

fn now() -> String {
    chrono::Utc::now().format("%Y-%m-%dT%H:%M:%SZ").to_string()
}

impl StandIn {
    pub fn new(account_sid: &str, auth_token: &str) -> Self {
        Self {
            inner: Arc::new(Mutex::new(Inner::default())),
            account_sid: account_sid.into(),
            auth_token: auth_token.into(),
        }
    }

    pub fn account_sid(&self) -> &str {
        &self.account_sid
    }
    pub fn auth_token(&self) -> &str {
        &self.auth_token
    }

    /// Another Twilio account (an org's own subaccount) with its auth token
    /// and the numbers it holds (`IncomingPhoneNumbers`, E.164).
    pub fn add_subaccount(&self, account_sid: &str, auth_token: &str, numbers: &[&str]) {
        self.lock().subaccounts.insert(
            account_sid.to_string(),
            SubAccount {
                auth_token: auth_token.to_string(),
                numbers: numbers.iter().map(|n| n.to_string()).collect(),
                api_keys: Vec::new(),
                whatsapp_senders: Vec::new(),
            },
        );
    }

    /// A WhatsApp sender of a subaccount (Senders API), not one of its
    /// phone numbers.
    pub fn add_whatsapp_sender(&self, account_sid: &str, sender: &str) {
        if let Some(a) = self.lock().subaccounts.get_mut(account_sid) {
            a.whatsapp_senders.push(sender.to_string());
        }
    }

    /// An API key of a subaccount.
    pub fn add_api_key(&self, account_sid: &str, key_sid: &str, secret: &str) {
        if let Some(a) = self.lock().subaccounts.get_mut(account_sid) {
            a.api_keys.push((key_sid.to_string(), secret.to_string()));
        }
    }

    /// A medium of an inbound message of `account`, as Twilio serves it at
    /// the message's `MediaUrl{i}` (basic auth of the account), or with a
    /// redirect to `redirect_to` (Twilio's CDN, elsewhere). Returns the URL.
    pub fn add_media(
        &self,
        account: &str,
        message_sid: &str,
        content_type: &str,
        bytes: &[u8],
        redirect_to: Option<&str>,
    ) -> String {
        let mut inner = self.lock();
        let media_sid = Self::next_sid(&mut inner, "ME");
        inner.media.insert(
            media_sid.clone(),
            (
                content_type.into(),
                bytes.to_vec(),
                redirect_to.map(str::to_string),
            ),
        );
        format!(
            "{}/2010-04-01/Accounts/{account}/Messages/{message_sid}/Media/{media_sid}",
            inner.base.clone().unwrap_or_default()
        )
    }

    /// The auth token of an account this stand-in knows.
    fn token_of(&self, account_sid: &str) -> Option<String> {
        if account_sid == self.account_sid {
            return Some(self.auth_token.clone());
        }
        self.lock()
            .subaccounts
            .get(account_sid)
            .map(|a| a.auth_token.clone())
    }

    /// The account basic-auth credentials authenticate as.
    fn authenticated(&self, user: &str, password: &str) -> Option<String> {
        if user == self.account_sid && password == self.auth_token {
            return Some(self.account_sid.clone());
        }
        let inner = self.lock();
        inner.subaccounts.iter().find_map(|(sid, a)| {
            let ok = (user == sid && password == a.auth_token)
                || a.api_keys.iter().any(|(k, v)| k == user && v == password);
            ok.then(|| sid.clone())
        })
    }

    /// POST a webhook as `account_sid` would (signed with its token, with
    /// its `AccountSid`).
    pub async fn send_webhook_as(
        &self,
        account_sid: &str,
        route: &str,
        params: &[(String, String)],
    ) -> Result<(u16, String), String> {
        let token = self.token_of(account_sid).ok_or("unknown account")?;
        let mut params = params.to_vec();
        params.retain(|(k, _)| k != "AccountSid");
        params.push(("AccountSid".into(), account_sid.to_string()));
        self.post_signed(&token, route, &params).await
    }

    /// `(account, sid, from, to, body)` of the Messages API messages sent.
    pub fn sms_sent_by(&self) -> Vec<(String, String, String, String, String)> {
        self.lock()
            .sms
            .iter()
            .map(|m| {
                (
                    m.account.clone(),
                    m.sid.clone(),
                    m.from.clone(),
                    m.to.clone(),
                    m.body.clone(),
                )
            })
            .collect()
    }

    /// Serve on `addr` (e.g. `127.0.0.1:0`); returns the base URL.
    pub async fn serve(&self, addr: &str) -> std::io::Result<String> {
        let listener = tokio::net::TcpListener::bind(addr).await?;
        let base = format!("http://{}", listener.local_addr()?);
        self.lock().base = Some(base.clone());
        let router = self.router();
        tokio::spawn(async move {
            let _ = axum::serve(listener, router).await;
        });
        Ok(base)
    }

    /// Send signed webhooks to `base` + `/webhooks/twilio/...`.
    pub fn set_webhook_base(&self, base: &str) {
        self.lock().webhook_base = Some(base.trim_end_matches('/').to_string());
    }

    /// POST a webhook signed with this account's auth token, as Twilio
    /// would. Returns the HTTP status and body of the answer.
    pub async fn send_webhook(
        &self,
        route: &str,
        params: &[(String, String)],
    ) -> Result<(u16, String), String> {
        self.post_signed(&self.auth_token, route, params).await
    }

    async fn post_signed(
        &self,
        token: &str,
        route: &str,
        params: &[(String, String)],
    ) -> Result<(u16, String), String> {
        let base = self
            .lock()
            .webhook_base
            .clone()
            .ok_or("no webhook base URL configured")?;
        let url = format!("{base}{route}");
        let signature = shared::signature::sign(token, &url, params);
        let resp = reqwest::Client::new()
            .post(&url)
            .header("X-Twilio-Signature", signature)
            .header("I-Twilio-Idempotency-Token", ulid::Ulid::new().to_string())
            .form(params)
            .send()
            .await
            .map_err(|e| e.to_string())?;
        let status = resp.status().as_u16();
        Ok((status, resp.text().await.unwrap_or_default()))
    }

    /// The parameters Twilio sends for an inbound WhatsApp/SMS message.
    pub fn inbound_params(
        &self,
        sid: &str,
        from: &str,
        to: &str,
        body: &str,
    ) -> Vec<(String, String)> {
        let mut p: Vec<(String, String)> = vec![
            ("SmsMessageSid".into(), sid.into()),
            ("NumMedia".into(), "0".into()),
            ("SmsSid".into(), sid.into()),
            ("SmsStatus".into(), "received".into()),
            ("Body".into(), body.into()),
            ("To".into(), to.into()),
            ("NumSegments".into(), "1".into()),
            ("MessageSid".into(), sid.into()),
            ("AccountSid".into(), self.account_sid.clone()),
            ("From".into(), from.into()),
            ("ApiVersion".into(), "2010-04-01".into()),
        ];
        if let Some(wa) = from.strip_prefix("whatsapp:+") {
            p.push(("WaId".into(), wa.into()));
            p.push(("ProfileName".into(), "WhatsApp User".into()));
            p.push(("MessageType".into(), "text".into()));
        }
        p
    }

    /// A fresh message SID.
    pub fn new_message_sid(&self) -> String {
        let mut inner = self.lock();
        Self::next_sid(&mut inner, "SM")
    }

    /// The next message create (Conversations or Messages API) answers
    /// with `sid` instead of a fresh one, as a Twilio double that reuses
    /// SIDs would.
    pub fn reuse_next_message_sid(&self, sid: &str) {
        self.lock().reuse_sid = Some(sid.to_string());
    }

    /// Process the next matching request, then hold its (successful)
    /// answer for `delay`: what a slow network after Twilio acted looks like.
    pub fn hold_next_answer(&self, method: &'static str, path_suffix: &str, delay: Duration) {
        self.lock()
            .holds
            .push((method, path_suffix.to_string(), delay));
    }

    /// `(sid, author, body, attributes, date_created)` of the messages
    /// Twilio holds for a conversation SID, oldest first.
    pub fn conversation_messages(
        &self,
        conv_sid: &str,
    ) -> Vec<(String, String, String, String, String)> {
        self.lock()
            .convs
            .iter()
            .find(|c| c.sid == conv_sid)
            .map(|c| {
                c.messages
                    .iter()
                    .map(|m| {
                        (
                            m.sid.clone(),
                            m.author.clone(),
                            m.body.clone(),
                            m.attributes.clone(),
                            m.created.clone(),
                        )
                    })
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Stop sending automatic status callbacks (tests that drive them).
    pub fn disable_status_callbacks(&self) {
        self.lock().no_callbacks = true;
    }

    /// `(sid, to, body)` of the Messages API messages sent so far.
    pub fn sms_messages(&self) -> Vec<(String, String, String)> {
        self.lock()
            .sms
            .iter()
            .map(|m| (m.sid.clone(), m.to.clone(), m.body.clone()))
            .collect()
    }

    /// Messages API messages sent so far.
    pub fn sms_count(&self) -> usize {
        self.lock().sms.len()
    }

    /// The basic-auth user of the last request.
    pub fn last_basic_user(&self) -> Option<String> {
        self.lock().requests.last().and_then(|r| r.user.clone())
    }

    pub fn requests(&self) -> Vec<Recorded> {
        self.lock().requests.clone()
    }

    pub fn clear_requests(&self) {
        self.lock().requests.clear();
    }

    pub fn inject(&self, fault: Fault) {
        self.lock().faults.push(fault);
    }

    /// Number of messages Twilio holds for a conversation SID.
    pub fn message_count(&self, conv_sid: &str) -> usize {
        self.lock()
            .convs
            .iter()
            .find(|c| c.sid == conv_sid)
            .map_or(0, |c| c.messages.len())
    }

    pub fn last_read_index(&self, conv_sid: &str, identity: &str) -> Option<i64> {
        let inner = self.lock();
        let conv = inner.convs.iter().find(|c| c.sid == conv_sid)?;
        conv.participants
            .iter()
            .find(|p| p.identity == identity)?
            .last_read_message_index
    }

    pub fn conversation_count(&self) -> usize {
        self.lock().convs.len()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub fn router(&self) -> Router {
        Router::new()
            .route(
                "/v1/ConversationWithParticipants",
                post(create_with_participants),
            )
            .route("/v1/Conversations/{sid}", get(fetch_conv).post(update_conv))
            .route(
                "/v1/Conversations/{sid}/Participants",
                get(list_parts).post(add_part),
            )
            .route(
                "/v1/Conversations/{sid}/Participants/{psid}",
                get(fetch_part).post(update_part).delete(delete_part),
            )
            .route(
                "/v1/Conversations/{sid}/Messages",
                get(list_msgs).post(create_msg),
            )
            .route(
                "/2010-04-01/Accounts/{account}/Messages.json",
                post(create_sms),
            )
            .route(
                "/2010-04-01/Accounts/{account}/IncomingPhoneNumbers.json",
                get(incoming_numbers),
            )
            .route("/v2/Indicators/Typing.json", post(typing_indicator))
            .route("/v2/Channels/Senders", get(whatsapp_senders))
            .route(
                "/2010-04-01/Accounts/{account}/Messages/{sid}/Media/{media_sid}",
                get(media),
            )
            .layer(axum::middleware::from_fn_with_state(
                self.clone(),
                gatekeeper,
            ))
            .route("/_standin/inbound", post(trigger_inbound))
            .with_state(self.clone())
    }

    fn next_sid(inner: &mut Inner, prefix: &str) -> String {
        inner.counter += 1;
        format!("{prefix}{:032x}", inner.counter)
    }

    fn conv_json(&self, c: &Conv) -> Value {
        json!({
            "account_sid": self.account_sid,
            "chat_service_sid": "IS00000000000000000000000000000000",
            "messaging_service_sid": "MG00000000000000000000000000000000",
            "sid": c.sid,
            "friendly_name": c.friendly_name,
            "unique_name": c.unique_name,
            "attributes": c.attributes,
            "state": c.state,
            "date_created": c.created,
            "date_updated": c.created,
            "timers": {},
            "url": format!("https://conversations.twilio.com/v1/Conversations/{}", c.sid),
            "links": {
                "participants": format!("https://conversations.twilio.com/v1/Conversations/{}/Participants", c.sid),
                "messages": format!("https://conversations.twilio.com/v1/Conversations/{}/Messages", c.sid),
            },
            "bindings": null,
        })
    }

    fn part_json(&self, conv: &str, p: &Part) -> Value {
        json!({
            "account_sid": self.account_sid,
            "conversation_sid": conv,
            "sid": p.sid,
            "identity": p.identity,
            "attributes": p.attributes,
            "messaging_binding": null,
            "role_sid": "RL00000000000000000000000000000000",
            "date_created": now(),
            "date_updated": now(),
            "url": format!("https://conversations.twilio.com/v1/Conversations/{conv}/Participants/{}", p.sid),
            "last_read_message_index": p.last_read_message_index,
            "last_read_timestamp": null,
        })
    }

    fn msg_json(&self, conv: &str, m: &Msg, participant_sid: Option<&str>) -> Value {
        json!({
            "account_sid": self.account_sid,
            "conversation_sid": conv,
            "sid": m.sid,
            "index": m.index,
            "author": m.author,
            "body": m.body,
            "media": null,
            "attributes": m.attributes,
            "participant_sid": participant_sid,
            "date_created": m.created,
            "date_updated": m.created,
            "url": format!("https://conversations.twilio.com/v1/Conversations/{conv}/Messages/{}", m.sid),
            "delivery": null,
            "links": {},
            "content_sid": null,
        })
    }
}

/// `POST /_standin/inbound` (form: `from`, `to`, `body`): send a signed
/// inbound message webhook to the local gateway, as Twilio would.
async fn trigger_inbound(State(s): State<StandIn>, body: Bytes) -> Reply {
    let form = form_of(&body);
    let from = field(&form, "from").unwrap_or("whatsapp:+15551234567");
    let to = field(&form, "to").unwrap_or(DEMO_BUSINESS_NUMBER);
    let text = field(&form, "body").unwrap_or("Hello from WhatsApp");
    let sid = s.new_message_sid();
    let params = s.inbound_params(&sid, from, to, text);
    match s.send_webhook("/webhooks/twilio/messaging", &params).await {
        Ok((status, _)) => {
            axum::Json(json!({"message_sid": sid, "webhook_status": status})).into_response()
        }
        Err(e) => (StatusCode::BAD_GATEWAY, e).into_response(),
    }
}

/// The business number `make run` registers for the demo org.
pub const DEMO_BUSINESS_NUMBER: &str = "whatsapp:+15550001111";

/// Records the request, checks basic auth, applies injected faults.
async fn gatekeeper(
    State(s): State<StandIn>,
    req: axum::extract::Request,
    next: axum::middleware::Next,
) -> Reply {
    let (parts, body) = req.into_parts();
    let bytes = axum::body::to_bytes(body, 1 << 20)
        .await
        .unwrap_or_default();
    let form: Vec<(String, String)> = serde_urlencoded::from_bytes(&bytes).unwrap_or_default();
    let method = parts.method.to_string();
    let path = parts.uri.path().to_string();
    let fault = {
        let mut inner = s.lock();
        inner.requests.push(Recorded {
            method: method.clone(),
            path: path.clone(),
            form,
            user: basic_auth(&parts.headers).map(|(u, _)| u),
        });
        let pos = inner
            .faults
            .iter()
            .position(|f| f.method == method && path.ends_with(&f.path_suffix));
        pos.map(|i| {
            let f = inner.faults[i].clone();
            if inner.faults[i].times <= 1 {
                inner.faults.remove(i);
            } else {
                inner.faults[i].times -= 1;
            }
            f
        })
    };
    if !authorized(&s, &parts.headers, &path) {
        return twilio_error(401, 20003, "Authenticate");
    }
    let hold = {
        let mut inner = s.lock();
        let pos = inner
            .holds
            .iter()
            .position(|(m, suffix, _)| *m == method && path.ends_with(suffix.as_str()));
        pos.map(|i| inner.holds.remove(i).2)
    };
    if let Some(f) = fault {
        tokio::time::sleep(f.delay).await;
        let status = StatusCode::from_u16(f.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let mut resp = (status, axum::Json(f.body)).into_response();
        if f.status == 429 {
            resp.headers_mut()
                .insert("retry-after", axum::http::HeaderValue::from_static("1"));
        }
        return resp;
    }
    let resp = next
        .run(axum::extract::Request::from_parts(
            parts,
            axum::body::Body::from(bytes),
        ))
        .await;
    if let Some(delay) = hold {
        tokio::time::sleep(delay).await;
    }
    resp
}

fn basic_auth(headers: &HeaderMap) -> Option<(String, String)> {
    headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Basic "))
        .and_then(|v| base64::engine::general_purpose::STANDARD.decode(v).ok())
        .and_then(|v| String::from_utf8(v).ok())
        .and_then(|v| {
            v.split_once(':')
                .map(|(u, p)| (u.to_string(), p.to_string()))
        })
}

/// Basic auth of the account the path names (`/2010-04-01/Accounts/{sid}/…`,
/// the main account or a subaccount, by its token or one of its API keys);
/// Conversations paths belong to the main account.
fn authorized(s: &StandIn, headers: &HeaderMap, path: &str) -> bool {
    let Some((user, password)) = basic_auth(headers) else {
        return false;
    };
    let Some(account) = s.authenticated(&user, &password) else {
        return false;
    };
    // Messaging v2 (typing indicators) acts as whichever account it is.
    if path.starts_with("/v2/") {
        return true;
    }
    let wanted = path
        .strip_prefix("/2010-04-01/Accounts/")
        .and_then(|rest| rest.split('/').next())
        .unwrap_or(&s.account_sid);
    account == wanted
}

/// `GET …/Messages/{sid}/Media/{media_sid}` (after basic auth of the
/// account): the bytes, or a redirect to where they are.
async fn media(
    State(s): State<StandIn>,
    Path((_account, _sid, media_sid)): Path<(String, String, String)>,
) -> Reply {
    match s.lock().media.get(&media_sid) {
        Some((_, _, Some(elsewhere))) => (
            StatusCode::TEMPORARY_REDIRECT,
            [(axum::http::header::LOCATION, elsewhere.clone())],
        )
            .into_response(),
        Some((ct, bytes, None)) => (
            [(axum::http::header::CONTENT_TYPE, ct.clone())],
            bytes.clone(),
        )
            .into_response(),
        None => twilio_error(404, 20404, "The requested resource was not found"),
    }
}

/// Path → (content type, bytes).
type Files = Arc<Mutex<HashMap<String, (String, Vec<u8>)>>>;
/// `(path, authorization header)` of each request.
type Seen = Arc<Mutex<Vec<(String, Option<String>)>>>;

/// A host that is neither Twilio nor Meta (a CDN a provider redirects to):
/// serves files and records the `Authorization` header of each request.
#[derive(Clone, Default)]
pub struct ForeignHost {
    files: Files,
    /// `(path, authorization header)` of every request.
    pub seen: Seen,
}

impl ForeignHost {
    pub async fn serve(&self) -> std::io::Result<String> {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let base = format!("http://{}", listener.local_addr()?);
        let me = self.clone();
        let router = Router::new().fallback(move |req: axum::extract::Request| {
            let me = me.clone();
            async move {
                let path = req.uri().path().to_string();
                let auth = req
                    .headers()
                    .get("authorization")
                    .and_then(|v| v.to_str().ok())
                    .map(str::to_string);
                me.seen
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .push((path.clone(), auth));
                let file = me
                    .files
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .get(&path)
                    .cloned();
                match file {
                    Some((ct, bytes)) => {
                        ([(axum::http::header::CONTENT_TYPE, ct)], bytes).into_response()
                    }
                    None => StatusCode::NOT_FOUND.into_response(),
                }
            }
        });
        tokio::spawn(async move {
            let _ = axum::serve(listener, router).await;
        });
        Ok(base)
    }

    pub fn put(&self, path: &str, content_type: &str, bytes: &[u8]) {
        self.files
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(path.into(), (content_type.into(), bytes.to_vec()));
    }
}

/// `GET /v2/Channels/Senders?Channel=whatsapp`: the WhatsApp senders of
/// the account the request authenticates as (Senders API shape: `senders`
/// with `sender_id`, and `meta`).
async fn whatsapp_senders(State(s): State<StandIn>, headers: HeaderMap) -> Reply {
    let account = basic_auth(&headers).and_then(|(u, p)| s.authenticated(&u, &p));
    let senders: Vec<Value> = account
        .and_then(|a| s.lock().subaccounts.get(&a).cloned())
        .map(|a| a.whatsapp_senders)
        .unwrap_or_default()
        .into_iter()
        .map(|id| json!({"sid": format!("XE{:032x}", id.len()), "sender_id": id, "status": "ONLINE"}))
        .collect();
    axum::Json(json!({
        "senders": senders,
        "meta": {"page": 0, "page_size": 100, "first_page_url": null, "previous_page_url": null,
                 "url": null, "next_page_url": null, "key": "senders"},
    }))
    .into_response()
}

/// `POST /v2/Indicators/Typing.json` (Messaging v2, public beta): a
/// WhatsApp typing indicator for an inbound message SID.
async fn typing_indicator(body: Bytes) -> Reply {
    let form = form_of(&body);
    if field(&form, "channel") != Some("whatsapp") {
        return twilio_error(400, 21610, "channel must be whatsapp");
    }
    match field(&form, "messageId") {
        Some(id) if id.starts_with("SM") || id.starts_with("MM") => {
            axum::Json(json!({"success": true})).into_response()
        }
        _ => twilio_error(400, 20001, "messageId must be a Message SID"),
    }
}

/// `GET /2010-04-01/Accounts/{AccountSid}/IncomingPhoneNumbers.json`, with
/// the `PhoneNumber` filter.
async fn incoming_numbers(
    State(s): State<StandIn>,
    Path(account): Path<String>,
    axum::extract::Query(q): axum::extract::Query<HashMap<String, String>>,
) -> Reply {
    let numbers: Vec<String> = if account == s.account_sid {
        vec![
            DEMO_BUSINESS_NUMBER
                .trim_start_matches("whatsapp:")
                .to_string(),
        ]
    } else {
        match s.lock().subaccounts.get(&account) {
            Some(a) => a.numbers.clone(),
            None => return twilio_error(404, 20404, "The requested resource was not found"),
        }
    };
    let list: Vec<Value> = numbers
        .iter()
        .filter(|n| q.get("PhoneNumber").is_none_or(|p| p == *n))
        .map(|n| {
            json!({
                "account_sid": account,
                "phone_number": n,
                "friendly_name": n,
                "sid": format!("PN{:032x}", n.len()),
                "capabilities": {"sms": true, "mms": false, "voice": true},
            })
        })
        .collect();
    axum::Json(json!({
        "incoming_phone_numbers": list,
        "page": 0,
        "page_size": 20,
        "start": 0,
        "end": 0,
        "first_page_uri": format!("/2010-04-01/Accounts/{account}/IncomingPhoneNumbers.json?PageSize=20&Page=0"),
        "next_page_uri": null,
        "previous_page_uri": null,
        "uri": format!("/2010-04-01/Accounts/{account}/IncomingPhoneNumbers.json?PageSize=20&Page=0"),
    }))
    .into_response()
}

fn form_of(bytes: &Bytes) -> Vec<(String, String)> {
    serde_urlencoded::from_bytes(bytes).unwrap_or_default()
}

fn field<'a>(form: &'a [(String, String)], name: &str) -> Option<&'a str> {
    form.iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

fn find<'a>(inner: &'a mut Inner, sid: &str) -> Option<&'a mut Conv> {
    inner
        .convs
        .iter_mut()
        .find(|c| c.sid == sid || c.unique_name.as_deref() == Some(sid))
}

async fn create_with_participants(State(s): State<StandIn>, body: Bytes) -> Reply {
    let form = form_of(&body);
    let mut inner = s.lock();
    let unique = field(&form, "UniqueName").map(str::to_string);
    if let Some(u) = &unique
        && inner
            .convs
            .iter()
            .any(|c| c.unique_name.as_ref() == Some(u))
    {
        return twilio_error(
            409,
            50353,
            "Conversation with provided unique name already exists",
        );
    }
    let sid = StandIn::next_sid(&mut inner, "CH");
    let mut conv = Conv {
        sid,
        unique_name: unique,
        friendly_name: field(&form, "FriendlyName").map(str::to_string),
        attributes: field(&form, "Attributes").unwrap_or("{}").to_string(),
        state: "active".into(),
        created: now(),
        ..Default::default()
    };
    for (k, v) in &form {
        if k != "Participant" {
            continue;
        }
        let Ok(p) = serde_json::from_str::<Value>(v) else {
            return twilio_error(400, 20001, "Invalid Participant parameter");
        };
        let Some(identity) = p.get("identity").and_then(Value::as_str) else {
            return twilio_error(400, 20001, "Participant identity is required");
        };
        let psid = StandIn::next_sid(&mut inner, "MB");
        conv.participants.push(Part {
            sid: psid,
            identity: identity.into(),
            attributes: p
                .get("attributes")
                .and_then(Value::as_str)
                .unwrap_or("{}")
                .into(),
            last_read_message_index: None,
        });
    }
    let json = s.conv_json(&conv);
    inner.convs.push(conv);
    (StatusCode::CREATED, axum::Json(json)).into_response()
}

async fn fetch_conv(State(s): State<StandIn>, Path(sid): Path<String>) -> Reply {
    let mut inner = s.lock();
    match find(&mut inner, &sid) {
        Some(c) => {
            let json = s.conv_json(c);
            axum::Json(json).into_response()
        }
        None => twilio_error(404, 20404, "The requested resource was not found"),
    }
}

async fn update_conv(State(s): State<StandIn>, Path(sid): Path<String>, body: Bytes) -> Reply {
    let form = form_of(&body);
    let mut inner = s.lock();
    let Some(c) = find(&mut inner, &sid) else {
        return twilio_error(404, 20404, "The requested resource was not found");
    };
    if let Some(state) = field(&form, "State") {
        c.state = state.into();
    }
    if let Some(a) = field(&form, "Attributes") {
        c.attributes = a.into();
    }
    let json = s.conv_json(c);
    axum::Json(json).into_response()
}

async fn list_parts(State(s): State<StandIn>, Path(sid): Path<String>) -> Reply {
    let mut inner = s.lock();
    let Some(c) = find(&mut inner, &sid) else {
        return twilio_error(404, 20404, "The requested resource was not found");
    };
    let conv_sid = c.sid.clone();
    let list: Vec<Value> = c
        .participants
        .iter()
        .map(|p| s.part_json(&conv_sid, p))
        .collect();
    axum::Json(json!({
        "participants": list,
        "meta": {"page": 0, "page_size": 100, "first_page_url": "", "previous_page_url": null,
                 "url": "", "next_page_url": null, "key": "participants"}
    }))
    .into_response()
}

async fn add_part(State(s): State<StandIn>, Path(sid): Path<String>, body: Bytes) -> Reply {
    let form = form_of(&body);
    let mut inner = s.lock();
    let psid = StandIn::next_sid(&mut inner, "MB");
    let Some(c) = find(&mut inner, &sid) else {
        return twilio_error(404, 20404, "The requested resource was not found");
    };
    let Some(identity) = field(&form, "Identity") else {
        return twilio_error(400, 20001, "Identity is required");
    };
    if c.participants.iter().any(|p| p.identity == identity) {
        return twilio_error(409, 50433, "Participant already exists");
    }
    let p = Part {
        sid: psid,
        identity: identity.into(),
        attributes: field(&form, "Attributes").unwrap_or("{}").into(),
        last_read_message_index: None,
    };
    let conv_sid = c.sid.clone();
    c.participants.push(p.clone());
    (StatusCode::CREATED, axum::Json(s.part_json(&conv_sid, &p))).into_response()
}

fn find_part<'a>(c: &'a mut Conv, psid: &str) -> Option<&'a mut Part> {
    c.participants
        .iter_mut()
        .find(|p| p.sid == psid || p.identity == psid)
}

async fn fetch_part(State(s): State<StandIn>, Path((sid, psid)): Path<(String, String)>) -> Reply {
    let mut inner = s.lock();
    let Some(c) = find(&mut inner, &sid) else {
        return twilio_error(404, 20404, "The requested resource was not found");
    };
    let conv_sid = c.sid.clone();
    match find_part(c, &psid) {
        Some(p) => {
            let p = p.clone();
            axum::Json(s.part_json(&conv_sid, &p)).into_response()
        }
        None => twilio_error(404, 20404, "The requested resource was not found"),
    }
}

async fn update_part(
    State(s): State<StandIn>,
    Path((sid, psid)): Path<(String, String)>,
    body: Bytes,
) -> Reply {
    let form = form_of(&body);
    let mut inner = s.lock();
    let Some(c) = find(&mut inner, &sid) else {
        return twilio_error(404, 20404, "The requested resource was not found");
    };
    let conv_sid = c.sid.clone();
    let Some(p) = find_part(c, &psid) else {
        return twilio_error(404, 20404, "The requested resource was not found");
    };
    if let Some(ix) = field(&form, "LastReadMessageIndex") {
        match ix.parse() {
            Ok(ix) => p.last_read_message_index = Some(ix),
            Err(_) => return twilio_error(400, 20001, "Invalid LastReadMessageIndex"),
        }
    }
    let p = p.clone();
    axum::Json(s.part_json(&conv_sid, &p)).into_response()
}

async fn delete_part(State(s): State<StandIn>, Path((sid, psid)): Path<(String, String)>) -> Reply {
    let mut inner = s.lock();
    let Some(c) = find(&mut inner, &sid) else {
        return twilio_error(404, 20404, "The requested resource was not found");
    };
    let before = c.participants.len();
    c.participants
        .retain(|p| p.sid != psid && p.identity != psid);
    if c.participants.len() == before {
        return twilio_error(404, 20404, "The requested resource was not found");
    }
    StatusCode::NO_CONTENT.into_response()
}

async fn list_msgs(State(s): State<StandIn>, Path(sid): Path<String>) -> Reply {
    let mut inner = s.lock();
    let Some(c) = find(&mut inner, &sid) else {
        return twilio_error(404, 20404, "The requested resource was not found");
    };
    let conv_sid = c.sid.clone();
    let list: Vec<Value> = c
        .messages
        .iter()
        .map(|m| s.msg_json(&conv_sid, m, None))
        .collect();
    axum::Json(json!({"messages": list, "meta": {"next_page_url": null, "key": "messages"}}))
        .into_response()
}

async fn create_msg(State(s): State<StandIn>, Path(sid): Path<String>, body: Bytes) -> Reply {
    let form = form_of(&body);
    let mut inner = s.lock();
    let msid = match inner.reuse_sid.take() {
        Some(sid) => sid,
        None => StandIn::next_sid(&mut inner, "IM"),
    };
    let Some(c) = find(&mut inner, &sid) else {
        return twilio_error(404, 20404, "The requested resource was not found");
    };
    if c.state == "closed" {
        return twilio_error(409, 50446, "Conversation is closed");
    }
    let author = field(&form, "Author").unwrap_or("system").to_string();
    let participant_sid = c
        .participants
        .iter()
        .find(|p| p.identity == author)
        .map(|p| p.sid.clone());
    let m = Msg {
        sid: msid,
        index: c.messages.len() as i64,
        author,
        body: field(&form, "Body").unwrap_or("").into(),
        attributes: field(&form, "Attributes").unwrap_or("{}").into(),
        created: now(),
    };
    let conv_sid = c.sid.clone();
    let json = s.msg_json(&conv_sid, &m, participant_sid.as_deref());
    c.messages.push(m);
    (StatusCode::CREATED, axum::Json(json)).into_response()
}

/// Twilio's magic test numbers: invalid, and not able to receive.
const INVALID_NUMBER: &str = "+15005550001";
const UNREACHABLE_NUMBER: &str = "+15005550009";

/// `POST /2010-04-01/Accounts/{AccountSid}/Messages.json`: queue a
/// WhatsApp/SMS message; then, like Twilio, call its StatusCallback
/// (signed) with sent, delivered and, on WhatsApp, read.
async fn create_sms(State(s): State<StandIn>, Path(account): Path<String>, body: Bytes) -> Reply {
    let Some(account_token) = s.token_of(&account) else {
        return twilio_error(404, 20404, "The requested resource was not found");
    };
    let form = form_of(&body);
    let (Some(from), Some(to)) = (field(&form, "From"), field(&form, "To")) else {
        return twilio_error(400, 21604, "A 'To' and 'From' phone number is required.");
    };
    let number = to.strip_prefix("whatsapp:").unwrap_or(to);
    if number == INVALID_NUMBER {
        return twilio_error(400, 21211, "The 'To' number is not a valid phone number.");
    }
    if number == UNREACHABLE_NUMBER {
        return twilio_error(400, 21614, "'To' number is not a valid mobile number");
    }
    let text = field(&form, "Body").unwrap_or("");
    let content = field(&form, "ContentSid");
    if text.is_empty() && content.is_none() && field(&form, "MediaUrl").is_none() {
        return twilio_error(400, 21602, "Message body is required.");
    }
    let (sid, callbacks) = {
        let mut inner = s.lock();
        let prefix = if form.iter().any(|(k, _)| k == "MediaUrl") {
            "MM"
        } else {
            "SM"
        };
        let sid = match inner.reuse_sid.take() {
            Some(sid) => sid,
            None => StandIn::next_sid(&mut inner, prefix),
        };
        inner.sms.push(Sms {
            account: account.clone(),
            sid: sid.clone(),
            from: from.into(),
            to: to.into(),
            body: text.into(),
            status: "queued".into(),
            created: now(),
        });
        (sid, !inner.no_callbacks)
    };
    if callbacks && let Some(cb) = field(&form, "StatusCallback") {
        let mut statuses = vec!["sent", "delivered"];
        if to.starts_with("whatsapp:") {
            statuses.push("read");
        }
        // The fragment (Twilio's connection overrides, `#rc=5&rp=all`) is
        // never sent over HTTP, so it is neither requested nor signed.
        let cb = cb.split('#').next().unwrap_or(cb);
        let (account2, token2) = (account.clone(), account_token.clone());
        let (cb, sid2, from2, to2) = (
            cb.to_string(),
            sid.clone(),
            from.to_string(),
            to.to_string(),
        );
        tokio::spawn(async move {
            for status in statuses {
                tokio::time::sleep(Duration::from_millis(50)).await;
                let params: Vec<(String, String)> = vec![
                    ("MessageSid".into(), sid2.clone()),
                    ("SmsSid".into(), sid2.clone()),
                    ("MessageStatus".into(), status.into()),
                    ("SmsStatus".into(), status.into()),
                    ("AccountSid".into(), account2.clone()),
                    ("From".into(), from2.clone()),
                    ("To".into(), to2.clone()),
                    ("ApiVersion".into(), "2010-04-01".into()),
                ];
                let signature = shared::signature::sign(&token2, &cb, &params);
                let _ = reqwest::Client::new()
                    .post(&cb)
                    .header("X-Twilio-Signature", signature)
                    .form(&params)
                    .send()
                    .await;
            }
        });
    }
    let m = s.lock().sms.iter().find(|m| m.sid == sid).cloned();
    let Some(m) = m else {
        return twilio_error(500, 20500, "Internal Server Error");
    };
    (
        StatusCode::CREATED,
        axum::Json(json!({
            "account_sid": account,
            "api_version": "2010-04-01",
            "body": m.body,
            "date_created": m.created,
            "date_sent": null,
            "date_updated": m.created,
            "direction": "outbound-api",
            "error_code": null,
            "error_message": null,
            "from": m.from,
            "messaging_service_sid": null,
            "num_media": "0",
            "num_segments": "1",
            "price": null,
            "price_unit": "USD",
            "sid": m.sid,
            "status": m.status,
            "subresource_uris": {"media": format!("/2010-04-01/Accounts/{}/Messages/{}/Media.json", account, m.sid)},
            "to": m.to,
            "uri": format!("/2010-04-01/Accounts/{}/Messages/{}.json", account, m.sid),
        })),
    )
        .into_response()
}

/// The path templates of the OpenAPI spec this stand-in implements.
pub fn implemented_paths() -> HashMap<&'static str, &'static [&'static str]> {
    HashMap::from([
        ("/v1/ConversationWithParticipants", &["POST"][..]),
        ("/v1/Conversations/{Sid}", &["GET", "POST"][..]),
        (
            "/v1/Conversations/{ConversationSid}/Participants",
            &["GET", "POST"][..],
        ),
        (
            "/v1/Conversations/{ConversationSid}/Participants/{Sid}",
            &["GET", "POST", "DELETE"][..],
        ),
        (
            "/v1/Conversations/{ConversationSid}/Messages",
            &["GET", "POST"][..],
        ),
        (
            "/2010-04-01/Accounts/{AccountSid}/Messages.json",
            &["POST"][..],
        ),
        (
            "/2010-04-01/Accounts/{AccountSid}/IncomingPhoneNumbers.json",
            &["GET"][..],
        ),
    ])
}
