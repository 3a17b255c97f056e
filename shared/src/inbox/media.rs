//! After an inbound message is stored: fetch its media into S3 and record
//! the outcome on the message (`media_stored`), best effort. The text is
//! never held back: the message is stored first, and a medium that cannot
//! be fetched (refused, too large, a type not allowed, the provider down
//! after 3 attempts) is recorded as an error on the message.

use serde_json::{Value, json};

use crate::app::Core;
use crate::domain::Provider;
use crate::inbox::providers::{Credentials, credentials_of};
use crate::media::{Credential, Media, MediaError};
use crate::model::Message;
use crate::ports::{AccountStore, MessageStore};
use crate::transport::TwilioError;

/// Attempts per medium, for failures worth another one.
const ATTEMPTS: u32 = 3;

/// The S3 key of a message's `index`-th medium.
pub fn media_key(conversation_id: &str, message_id: &str, index: usize) -> String {
    format!("media/{conversation_id}/{message_id}/{index}")
}

/// Fetch and keep the media of `msg` (received by the org's `business`
/// number of `provider`). Never fails: what could not be kept is recorded.
pub async fn store_media(
    app: &Core<impl AccountStore + MessageStore>,
    org: &str,
    provider: Provider,
    business: &str,
    msg: &Message,
) {
    let Some(media) = &app.media else {
        return;
    };
    let items: Vec<Value> = msg
        .details
        .as_ref()
        .and_then(|d| d.get("media"))
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    if items.is_empty() {
        return;
    }
    let mut outcomes = Vec::new();
    for (index, item) in items.iter().enumerate().take(10) {
        let key = media_key(&msg.conversation_id, &msg.id, index);
        let mut attempt = 0;
        let outcome = loop {
            attempt += 1;
            match keep_one(app, media, org, provider, business, item, &key).await {
                Ok((content_type, size)) => {
                    break json!({"index": index, "key": key, "content_type": content_type, "size": size});
                }
                Err(e) if e.is_transient() && attempt < ATTEMPTS => {
                    tokio::time::sleep(std::time::Duration::from_millis(200 * 2u64.pow(attempt)))
                        .await;
                }
                Err(e) => {
                    tracing::warn!(index, error = %e, "inbound medium not kept");
                    break json!({"index": index, "error": e.code()});
                }
            }
        };
        outcomes.push(outcome);
    }
    if let Err(e) = app
        .store
        .set_media_stored(
            &msg.conversation_id,
            &msg.sort_key(),
            &Value::Array(outcomes),
        )
        .await
    {
        tracing::warn!(error = %e, "media outcome not recorded");
    }
}

/// [`store_media`] for a message found already stored (a redelivery):
/// only when it has media and no outcome was recorded for them (the
/// processing that stored it stopped before). One GetItem, and only for a
/// message with media.
pub async fn store_missing_media(
    app: &Core<impl AccountStore + MessageStore>,
    org: &str,
    provider: Provider,
    business: &str,
    msg: &Message,
) -> Result<(), crate::ports::StoreError> {
    let has_media = msg
        .details
        .as_ref()
        .and_then(|d| d.get("media"))
        .and_then(Value::as_array)
        .is_some_and(|m| !m.is_empty());
    if app.media.is_none() || !has_media {
        return Ok(());
    }
    let Some(stored) = app
        .store
        .get_message(&msg.conversation_id, &msg.sort_key())
        .await?
    else {
        // Another delivery of the same SID (stored under its own time).
        return Ok(());
    };
    let recorded = stored
        .details
        .as_ref()
        .is_some_and(|d| d.get("media_stored").is_some());
    if !recorded {
        store_media(app, org, provider, business, &stored).await;
    }
    Ok(())
}

async fn keep_one(
    app: &Core<impl AccountStore + MessageStore>,
    media: &Media,
    org: &str,
    provider: Provider,
    business: &str,
    item: &Value,
    key: &str,
) -> Result<(String, usize), MediaError> {
    // No credentials of this org for the number: nothing to fetch with,
    // and no point trying again.
    let creds = credentials_of(app, org, provider, business)
        .await
        .map_err(|e| match e {
            TwilioError::Meta { .. } | TwilioError::Api { status: 401, .. } => {
                MediaError::NoCredentials
            }
            e => MediaError::Unavailable(e.to_string()),
        })?;
    let (content_type, body) = match &creds {
        Credentials::Meta(token) => {
            let id = item["media_id"].as_str().ok_or(MediaError::Status(400))?;
            media.source.meta(id, token.expose()).await?
        }
        Credentials::Twilio(account) => {
            let url = item["url"].as_str().ok_or(MediaError::Status(400))?;
            let (user, password) = match account {
                Some(a) => a.rest_credentials(),
                None => media
                    .source
                    .twilio_auth
                    .as_ref()
                    .map(|(u, p)| (u.as_str(), p.as_str()))
                    .ok_or(MediaError::NoCredentials)?,
            };
            media
                .source
                .twilio(url, Credential::Basic(user, password))
                .await?
        }
    };
    let size = body.len();
    media.bucket.put(key, &content_type, body).await?;
    Ok((content_type, size))
}

/// The media of a message view with a short-lived `download_url` for each
/// medium kept (the S3 key itself is never shown), or the `error` recorded.
pub async fn sign_view_media(media: &Media, view_media: &mut Value, stored: Option<&Value>) {
    let (Some(list), Some(stored)) = (view_media.as_array_mut(), stored.and_then(Value::as_array))
    else {
        return;
    };
    for outcome in stored {
        let Some(i) = outcome["index"].as_u64().map(|i| i as usize) else {
            continue;
        };
        let Some(entry) = list.get_mut(i).and_then(Value::as_object_mut) else {
            continue;
        };
        if let Some(key) = outcome["key"].as_str() {
            match media
                .bucket
                .presign_get(key, crate::media::DOWNLOAD_URL_TTL)
                .await
            {
                Ok(url) => {
                    entry.insert("download_url".into(), json!(url));
                    entry.insert("size".into(), outcome["size"].clone());
                    entry.insert(
                        "stored_content_type".into(),
                        outcome["content_type"].clone(),
                    );
                }
                Err(e) => tracing::warn!(error = %e, "download URL not signed"),
            }
        } else if let Some(err) = outcome["error"].as_str() {
            entry.insert("error".into(), json!(err));
        }
    }
}
