//! The Graph API client for WhatsApp Cloud API replies:
//! `POST {graph}/{version}/{phone_number_id}/messages` with the org's access
//! token (`Authorization: Bearer`). Text, templates (`name`, `language`,
//! `components`) and media by link; `status: read` with a typing indicator.
//! Connection failures are retried (nothing reached Meta); a timeout after
//! sending is reported as unknown and never re-sent.

use serde::Deserialize;
use serde_json::{Value, json};
use std::time::Duration;

pub use crate::config::MetaConfig;
use crate::transport::{SmsResource, TwilioError};

/// What a reply carries on the Graph API.
#[derive(Clone, Debug, PartialEq)]
pub enum MetaContent<'a> {
    Text(&'a str),
    /// `image|document|audio|video` by https link, with an optional caption.
    Media {
        kind: &'static str,
        link: &'a str,
        caption: Option<&'a str>,
    },
    /// A template: `{name, language: {code}, components?}`.
    Template(&'a Value),
}

/// The message body for `to` (a phone number) or `recipient` (a BSUID);
/// `to` is a contact address (`whatsapp:+…` or `whatsapp:CC.…`).
pub fn message_json(to: &str, content: &MetaContent<'_>) -> Value {
    let mut m = json!({"messaging_product": "whatsapp", "recipient_type": "individual"});
    let to = to.strip_prefix("whatsapp:").unwrap_or(to);
    match crate::provider::identity::e164(to) {
        Some(phone) => m["to"] = json!(phone.trim_start_matches('+')),
        None => m["recipient"] = json!(to),
    }
    match content {
        MetaContent::Text(body) => {
            m["type"] = json!("text");
            m["text"] = json!({"preview_url": false, "body": body});
        }
        MetaContent::Media {
            kind,
            link,
            caption,
        } => {
            m["type"] = json!(kind);
            let mut media = json!({"link": link});
            if let Some(c) = caption
                && *kind != "audio"
            {
                media["caption"] = json!(c);
            }
            m[*kind] = media;
        }
        MetaContent::Template(t) => {
            m["type"] = json!("template");
            m["template"] = (*t).clone();
        }
    }
    m
}

#[derive(Debug, Deserialize)]
struct SendResponse {
    #[serde(default)]
    messages: Vec<SentMessage>,
}

#[derive(Debug, Deserialize)]
struct SentMessage {
    id: String,
}

#[derive(Debug, Deserialize)]
struct ErrorEnvelope {
    error: ErrorBody,
}

#[derive(Debug, Deserialize)]
struct ErrorBody {
    #[serde(default)]
    code: Option<i64>,
    #[serde(default)]
    error_subcode: Option<i64>,
    #[serde(default)]
    message: Option<String>,
}

#[derive(Clone)]
pub struct MetaClient {
    http: std::sync::Arc<std::sync::OnceLock<reqwest::Client>>,
    cfg: MetaConfig,
}

impl MetaClient {
    pub fn new(cfg: MetaConfig) -> Self {
        Self {
            http: Default::default(),
            cfg,
        }
    }

    fn http(&self) -> Result<&reqwest::Client, TwilioError> {
        if let Some(c) = self.http.get() {
            return Ok(c);
        }
        let client = reqwest::Client::builder()
            .timeout(self.cfg.timeout)
            .connect_timeout(Duration::from_secs(2))
            .pool_idle_timeout(Duration::from_secs(50))
            .user_agent(concat!("booking-messaging/", env!("CARGO_PKG_VERSION")))
            .tls_backend_preconfigured(crate::tls::public_tls_config())
            .build()
            .map_err(|e| TwilioError::Unavailable(format!("http client: {e}")))?;
        Ok(self.http.get_or_init(|| client))
    }

    fn url(&self, phone_number_id: &str) -> String {
        let id: String = phone_number_id
            .chars()
            .filter(char::is_ascii_digit)
            .collect();
        format!(
            "{}/{}/{id}/messages",
            self.cfg.graph_base_url, self.cfg.graph_version
        )
    }

    /// Send one message; the answer's message id (`wamid.…`) as the SID.
    pub async fn send(
        &self,
        phone_number_id: &str,
        access_token: &str,
        to: &str,
        content: &MetaContent<'_>,
    ) -> Result<SmsResource, TwilioError> {
        let body = message_json(to, content);
        let bytes = self.post(phone_number_id, access_token, &body).await?;
        let parsed: SendResponse =
            serde_json::from_slice(&bytes).map_err(|e| TwilioError::Decode(e.to_string()))?;
        let id = parsed
            .messages
            .into_iter()
            .next()
            .map(|m| m.id)
            .ok_or_else(|| TwilioError::Decode("no messages[].id in the answer".into()))?;
        Ok(SmsResource {
            sid: id,
            // Meta accepted it; `sent` arrives as a status webhook.
            status: Some("accepted".into()),
            error_code: None,
        })
    }

    /// Mark an inbound message read, optionally showing a typing indicator
    /// (Meta shows it until the reply or for 25 s).
    pub async fn mark_read(
        &self,
        phone_number_id: &str,
        access_token: &str,
        message_id: &str,
        typing: bool,
    ) -> Result<(), TwilioError> {
        let mut body =
            json!({"messaging_product": "whatsapp", "status": "read", "message_id": message_id});
        if typing {
            body["typing_indicator"] = json!({"type": "text"});
        }
        self.post(phone_number_id, access_token, &body)
            .await
            .map(|_| ())
    }

    /// Whether `access_token` may act for `phone_number_id`: Meta answers
    /// `GET /{phone_number_id}` with that id only to a token of the
    /// business owning the number (any Graph refusal is `Ok(false)`).
    pub async fn owns_number(
        &self,
        phone_number_id: &str,
        access_token: &str,
    ) -> Result<bool, TwilioError> {
        #[derive(serde::Deserialize)]
        struct Node {
            id: Option<String>,
        }
        let id: String = phone_number_id
            .chars()
            .filter(char::is_ascii_digit)
            .collect();
        let url = format!(
            "{}/{}/{id}?fields=id,display_phone_number",
            self.cfg.graph_base_url, self.cfg.graph_version
        );
        let resp = self
            .http()?
            .get(&url)
            .bearer_auth(access_token)
            .send()
            .await
            .map_err(|e| TwilioError::Unavailable(format!("meta: {e}")))?;
        let status = resp.status();
        if status.is_server_error() {
            return Err(TwilioError::Unavailable(format!("meta answered {status}")));
        }
        if !status.is_success() {
            return Ok(false);
        }
        let node: Node = resp
            .json()
            .await
            .map_err(|e| TwilioError::Decode(e.to_string()))?;
        Ok(node.id.as_deref() == Some(id.as_str()))
    }

    async fn post(
        &self,
        phone_number_id: &str,
        access_token: &str,
        body: &Value,
    ) -> Result<Vec<u8>, TwilioError> {
        let url = self.url(phone_number_id);
        let mut attempt = 0;
        loop {
            attempt += 1;
            let resp = self
                .http()?
                .post(&url)
                .bearer_auth(access_token)
                .json(body)
                .send()
                .await;
            let resp = match resp {
                Ok(r) => r,
                Err(e) if e.is_connect() => {
                    tracing::warn!(attempt, "meta connection failed");
                    if attempt >= self.cfg.max_attempts {
                        return Err(TwilioError::Unavailable("connection failed".into()));
                    }
                    tokio::time::sleep(self.cfg.backoff * 2u32.pow(attempt - 1)).await;
                    continue;
                }
                Err(_) => return Err(TwilioError::Timeout),
            };
            let status = resp.status();
            let bytes = resp.bytes().await.map_err(|_| TwilioError::Timeout)?;
            if status.is_success() {
                return Ok(bytes.to_vec());
            }
            let parsed: Option<ErrorEnvelope> = serde_json::from_slice(&bytes).ok();
            let err = match parsed {
                Some(ErrorEnvelope { error }) => TwilioError::Meta {
                    status: status.as_u16(),
                    code: error.code.unwrap_or(0),
                    subcode: error.error_subcode,
                    message: error.message.unwrap_or_default(),
                },
                None if status.is_server_error() => {
                    TwilioError::Unavailable(format!("meta answered {status}"))
                }
                None => TwilioError::Decode(format!("meta answered {status} without an error")),
            };
            tracing::warn!(status = status.as_u16(), error = %err, "meta refused a request");
            return Err(err);
        }
    }
}

/// The Graph API media type of a link, from its extension.
pub fn media_kind(url: &str) -> &'static str {
    let path = url
        .split(['?', '#'])
        .next()
        .unwrap_or("")
        .to_ascii_lowercase();
    let ext = path.rsplit('.').next().unwrap_or("");
    match ext {
        "jpg" | "jpeg" | "png" | "webp" => "image",
        "mp4" | "3gp" => "video",
        "mp3" | "ogg" | "aac" | "amr" | "m4a" | "opus" => "audio",
        _ => "document",
    }
}

/// A Twilio credential handed to Meta: nothing was sent.
fn wrong_credential() -> TwilioError {
    TwilioError::Unavailable("a Twilio credential for a Meta call".into())
}

impl crate::ports::ProviderTransport for MetaClient {
    const PROVIDER: crate::domain::Provider = crate::domain::Provider::Meta;

    fn verify(secrets: &[&str], w: &crate::ports::SignedWebhook<'_>) -> bool {
        crate::meta::signature::is_valid(secrets, w.body, w.signature)
    }

    fn normalise(
        env: &crate::envelope::Envelope,
    ) -> Result<Vec<crate::provider::ProviderEvent>, String> {
        let body = env
            .json_body
            .as_deref()
            .ok_or_else(|| "provider webhook without body".to_string())?;
        crate::meta::webhook::normalise(body)
    }

    async fn send_reply(
        &self,
        auth: crate::ports::ProviderAuth<'_>,
        m: &crate::transport::OutboundMessage<'_>,
    ) -> Result<SmsResource, TwilioError> {
        let crate::ports::ProviderAuth::Meta(token) = auth else {
            return Err(wrong_credential());
        };
        // Meta's one medium per message, the body as its caption.
        let content = match (m.template, m.body, m.media_urls.first()) {
            (Some(t), _, _) => MetaContent::Template(t),
            (None, caption, Some(link)) => MetaContent::Media {
                kind: media_kind(link),
                link,
                caption,
            },
            (None, Some(body), None) => MetaContent::Text(body),
            (None, None, None) => {
                return Err(TwilioError::Decode(
                    "an empty reply reached the transport".into(),
                ));
            }
        };
        self.send(m.from, token, m.to, &content).await
    }

    async fn show_read(
        &self,
        auth: crate::ports::ProviderAuth<'_>,
        business: &str,
        message_id: &str,
        typing: bool,
    ) -> Result<(), TwilioError> {
        let crate::ports::ProviderAuth::Meta(token) = auth else {
            return Err(wrong_credential());
        };
        self.mark_read(business, token, message_id, typing).await
    }
}
