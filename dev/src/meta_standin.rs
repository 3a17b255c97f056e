//! A local stand-in for Meta's WhatsApp Cloud API, shaped like Meta's public
//! docs: `POST /{version}/{phone_number_id}/messages` (text, template, media
//! by link, `status: read` + typing indicator) with `Authorization: Bearer`
//! checked against the tokens it was given, Graph errors
//! (`{"error": {"message", "type", "code", "error_subcode", "fbtrace_id"}}`)
//! on demand, and webhooks to `/webhooks/meta` signed like Meta's
//! (`X-Hub-Signature-256: sha256=<hex HMAC-SHA256 of the body>` with the app
//! secret): inbound messages and sent/delivered/read statuses.

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde_json::{Value, json};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

/// The app secret and verify token of the local stack and the events.
pub const DEV_META_APP_SECRET: &str = "dev-meta-app-secret-0123456789";
pub const DEV_META_VERIFY_TOKEN: &str = "dev-meta-verify-token-0123";
/// The phone number id and token of `make run`'s demo Meta number.
pub const DEV_META_PHONE_NUMBER_ID: &str = "106540352242922";
pub const DEV_META_ACCESS_TOKEN: &str = "dev-meta-access-token";

/// One request the stand-in answered (or refused).
#[derive(Clone, Debug)]
pub struct MetaRequest {
    pub phone_number_id: String,
    pub version: String,
    pub body: Value,
}

#[derive(Default)]
struct Inner {
    webhook_base: Option<String>,
    /// phone number id → the access token it accepts.
    tokens: HashMap<String, String>,
    requests: Vec<MetaRequest>,
    /// Graph error codes the next sends fail with (HTTP status, code).
    faults: Vec<(u16, i64)>,
    /// The id the next accepted send answers with (else a fresh one).
    next_id: Option<String>,
    counter: u64,
    /// This stand-in's base URL (set by `serve`).
    base: Option<String>,
    /// media id → (content type, bytes, a download URL elsewhere).
    media: HashMap<String, (String, Vec<u8>, Option<String>)>,
}

#[derive(Clone)]
pub struct MetaStandIn {
    inner: Arc<Mutex<Inner>>,
    app_secret: String,
}

impl Default for MetaStandIn {
    fn default() -> Self {
        Self::new(DEV_META_APP_SECRET)
    }
}

fn graph_error(status: u16, code: i64, message: &str) -> Response {
    // Meta reports WhatsApp errors as OAuthException too.
    let kind = "OAuthException";
    (
        StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_REQUEST),
        axum::Json(json!({"error": {
            "message": message,
            "type": kind,
            "code": code,
            "error_data": {"messaging_product": "whatsapp", "details": message},
            "fbtrace_id": "AbCdEfGhIjKlMnOp"
        }})),
    )
        .into_response()
}

impl MetaStandIn {
    pub fn new(app_secret: &str) -> Self {
        Self {
            inner: Default::default(),
            app_secret: app_secret.into(),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub fn app_secret(&self) -> &str {
        &self.app_secret
    }

    /// Accept `token` for sends from `phone_number_id`.
    pub fn allow_token(&self, phone_number_id: &str, token: &str) {
        self.lock()
            .tokens
            .insert(phone_number_id.into(), token.into());
    }

    /// Fail the next send with Graph error `code` (HTTP `status`).
    pub fn fail_next(&self, status: u16, code: i64) {
        self.lock().faults.push((status, code));
    }

    /// Answer the next accepted send with message id `id`.
    pub fn set_next_id(&self, id: &str) {
        self.lock().next_id = Some(id.into());
    }

    pub fn requests(&self) -> Vec<MetaRequest> {
        self.lock().requests.clone()
    }

    pub fn clear_requests(&self) {
        self.lock().requests.clear();
    }

    pub fn set_webhook_base(&self, base: &str) {
        self.lock().webhook_base = Some(base.trim_end_matches('/').to_string());
    }

    /// A medium Graph serves by id (`GET /{version}/{media_id}`, then its
    /// `url`: this stand-in's `/download/{id}`, or `download_url`).
    pub fn add_media(
        &self,
        media_id: &str,
        content_type: &str,
        bytes: &[u8],
        download_url: Option<&str>,
    ) {
        self.lock().media.insert(
            media_id.into(),
            (
                content_type.into(),
                bytes.to_vec(),
                download_url.map(str::to_string),
            ),
        );
    }

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

    pub fn router(&self) -> Router {
        Router::new()
            .route("/{version}/{phone_number_id}/messages", post(messages))
            .route("/{version}/{phone_number_id}", get(phone_number))
            .route("/download/{media_id}", get(download))
            .with_state(self.clone())
    }

    /// A fresh `wamid.…` message id.
    pub fn new_wamid(&self) -> String {
        let mut inner = self.lock();
        inner.counter += 1;
        format!(
            "wamid.HBgLMTU1NTEyMzQ1NjcVAgARGBI{:016X}AA==",
            inner.counter
        )
    }

    /// POST `body` to `/webhooks/meta` signed with `secret` (the app
    /// secret, or another to forge). Returns the status and body.
    pub async fn send_signed(&self, body: &str, secret: &str) -> Result<(u16, String), String> {
        let base = self
            .lock()
            .webhook_base
            .clone()
            .ok_or("no webhook base URL configured")?;
        let resp = reqwest::Client::new()
            .post(format!("{base}/webhooks/meta"))
            .header("content-type", "application/json")
            .header(
                "X-Hub-Signature-256",
                shared::meta::signature::sign(secret, body.as_bytes()),
            )
            .body(body.to_string())
            .send()
            .await
            .map_err(|e| e.to_string())?;
        let status = resp.status().as_u16();
        Ok((status, resp.text().await.unwrap_or_default()))
    }

    /// POST `body` signed with the app secret, as Meta does.
    pub async fn send_webhook(&self, body: &str) -> Result<(u16, String), String> {
        let secret = self.app_secret.clone();
        self.send_signed(body, &secret).await
    }

    /// A delivery: one `messages` change for `phone_number_id`.
    pub fn delivery(phone_number_id: &str, value: Value) -> String {
        let mut v = value;
        v["messaging_product"] = json!("whatsapp");
        v["metadata"] = json!({"display_phone_number": "15550002222",
                               "phone_number_id": phone_number_id});
        json!({"object": "whatsapp_business_account",
               "entry": [{"id": "102290129340398",
                          "changes": [{"field": "messages", "value": v}]}]})
        .to_string()
    }

    /// An inbound text message: from a phone (`wa_id`, digits), a BSUID
    /// (`user_id`), or both, as the 2026 payloads carry them.
    pub fn text_delivery(
        phone_number_id: &str,
        wamid: &str,
        wa_id: Option<&str>,
        user_id: Option<&str>,
        body: &str,
        timestamp: i64,
    ) -> String {
        let mut contact = json!({"profile": {"name": "Ana"}});
        let mut message = json!({"id": wamid, "timestamp": timestamp.to_string(),
                                 "type": "text", "text": {"body": body}});
        if let Some(w) = wa_id {
            contact["wa_id"] = json!(w);
            message["from"] = json!(w);
        }
        if let Some(u) = user_id {
            contact["user_id"] = json!(u);
            message["from_user_id"] = json!(u);
        }
        Self::delivery(
            phone_number_id,
            json!({"contacts": [contact], "messages": [message]}),
        )
    }

    /// A status of a message we sent (`errors` for `failed`).
    pub fn status_delivery(
        phone_number_id: &str,
        wamid: &str,
        status: &str,
        error_code: Option<i64>,
    ) -> String {
        let mut s = json!({"id": wamid, "status": status, "timestamp": "1767258100",
                           "recipient_id": "15551234567",
                           "recipient_user_id": "US.13491208655302741918"});
        if let Some(code) = error_code {
            s["errors"] = json!([{"code": code, "title": "Message failed",
                                  "message": "Message failed",
                                  "error_data": {"details": "Message failed"}}]);
        }
        Self::delivery(phone_number_id, json!({"statuses": [s]}))
    }
}

/// The `Authorization: Bearer` token ("" without one).
fn bearer(headers: &HeaderMap) -> &str {
    headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .unwrap_or("")
}

/// `GET /{version}/{phone_number_id}`: the number, for a token allowed on it.
async fn phone_number(
    State(s): State<MetaStandIn>,
    Path((_version, phone_number_id)): Path<(String, String)>,
    headers: HeaderMap,
) -> Response {
    let token = bearer(&headers);
    let inner = s.lock();
    if let Some((ct, bytes, elsewhere)) = inner.media.get(&phone_number_id) {
        // A media id: its metadata, for any token of the business.
        if token.is_empty() || !inner.tokens.values().any(|t| t == token) {
            return graph_error(401, 190, "Error validating access token");
        }
        let base = inner.base.clone().unwrap_or_default();
        return axum::Json(json!({
            "messaging_product": "whatsapp",
            "url": elsewhere.clone().unwrap_or(format!("{base}/download/{phone_number_id}")),
            "mime_type": ct,
            "file_size": bytes.len(),
            "id": phone_number_id,
        }))
        .into_response();
    }
    if token.is_empty() || inner.tokens.get(&phone_number_id).map(String::as_str) != Some(token) {
        return graph_error(401, 190, "Error validating access token");
    }
    axum::Json(json!({
        "id": phone_number_id,
        "display_phone_number": "+1 555-000-2222",
        "verified_name": "Stand-in Business",
    }))
    .into_response()
}

/// `GET /download/{media_id}`: the bytes, with a token of the business.
async fn download(
    State(s): State<MetaStandIn>,
    Path(media_id): Path<String>,
    headers: HeaderMap,
) -> Response {
    let token = bearer(&headers);
    let inner = s.lock();
    if token.is_empty() || !inner.tokens.values().any(|t| t == token) {
        return graph_error(401, 190, "Error validating access token");
    }
    match inner.media.get(&media_id) {
        Some((ct, bytes, _)) => (
            [(axum::http::header::CONTENT_TYPE, ct.clone())],
            bytes.clone(),
        )
            .into_response(),
        None => graph_error(404, 100, "Unsupported get request"),
    }
}

async fn messages(
    State(s): State<MetaStandIn>,
    Path((version, phone_number_id)): Path<(String, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let Ok(json) = serde_json::from_slice::<Value>(&body) else {
        return graph_error(400, 100, "Invalid parameter");
    };
    let token = bearer(&headers);
    let mut inner = s.lock();
    inner.requests.push(MetaRequest {
        phone_number_id: phone_number_id.clone(),
        version,
        body: json.clone(),
    });
    if inner.tokens.get(&phone_number_id).map(String::as_str) != Some(token) || token.is_empty() {
        return graph_error(401, 190, "Error validating access token");
    }
    if let Some((status, code)) = inner.faults.pop() {
        return graph_error(status, code, "refused by the stand-in");
    }
    if json["messaging_product"] != "whatsapp" {
        return graph_error(400, 100, "messaging_product is required");
    }
    if json["status"] == "read" {
        return axum::Json(json!({"success": true})).into_response();
    }
    let to = json["to"].as_str().or(json["recipient"].as_str());
    let Some(to) = to else {
        return graph_error(400, 100, "The parameter to is required.");
    };
    let kind = json["type"].as_str().unwrap_or("text");
    let ok = match kind {
        "text" => json["text"]["body"].is_string(),
        "template" => {
            json["template"]["name"].is_string() && json["template"]["language"]["code"].is_string()
        }
        "image" | "video" | "audio" | "document" => json[kind]["link"].is_string(),
        _ => false,
    };
    if !ok {
        return graph_error(400, 100, "Invalid parameter");
    }
    inner.counter += 1;
    let fresh = format!(
        "wamid.HBgLMTU1NTEyMzQ1NjcVAgARGBJ{:016X}AA==",
        inner.counter
    );
    let id = inner.next_id.take().unwrap_or(fresh);
    let contact = if json.get("recipient").is_some() && json.get("to").is_none() {
        json!({"input": to, "user_id": to})
    } else {
        json!({"input": to, "wa_id": to})
    };
    axum::Json(json!({
        "messaging_product": "whatsapp",
        "contacts": [contact],
        "messages": [{"id": id}]
    }))
    .into_response()
}
