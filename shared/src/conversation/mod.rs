//! What booking chats and inbox conversations share: the API's views, who
//! may see a conversation, and the retry helpers of optimistic-lock writes.

pub mod access;
pub mod outgoing;
pub mod views;

use serde::Deserialize;

use crate::app::Core;
use crate::error::ApiError;
use crate::ports::ConversationStore;

/// Optimistic-lock retries before giving up with 503.
pub(crate) const MAX_RETRIES: usize = 8;

use crate::clock::contention_pause;
use crate::store::Head;

/// After losing an optimistic-lock race: a short random pause, then the
/// conversation as it is now.
pub(crate) async fn reload(
    app: &Core<impl ConversationStore>,
    conv_id: &str,
    attempt: usize,
) -> Result<Head, ApiError> {
    contention_pause(attempt).await;
    app.store
        .load_head(conv_id)
        .await?
        .ok_or(ApiError::NotFound)
}

/// Every retry lost its race: retryable (503).
pub(crate) fn contended() -> ApiError {
    ApiError::Store(crate::store::StoreError::Unavailable(
        "too much contention".into(),
    ))
}
/// Send a message as the caller: `(created, message)`; with an
/// `Idempotency-Key`, a repeat returns the first result and never re-sends.
/// A send request: `body` for a chat message or a free-form WhatsApp/SMS
/// reply, or `content_sid` (+ `content_variables`) for a WhatsApp template;
/// `media_urls` for WhatsApp/SMS media.
#[derive(Debug, Default, Deserialize)]
pub struct SendInput {
    #[serde(default)]
    pub body: Option<String>,
    #[serde(default)]
    pub content_sid: Option<String>,
    #[serde(default)]
    pub content_variables: Option<serde_json::Value>,
    #[serde(default)]
    pub media_urls: Option<Vec<String>>,
    /// A WhatsApp template on a Meta conversation: `{name, language,
    /// components?}` as the Graph API takes it.
    #[serde(default)]
    pub template: Option<serde_json::Value>,
}
