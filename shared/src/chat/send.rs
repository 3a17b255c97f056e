//! Sending in a booking chat (Twilio Conversations).

use crate::app::App;
use crate::auth::Caller;
use crate::clock::format_ts;
use crate::conversation::SendInput;
use crate::conversation::access::require_participant;
use crate::conversation::outgoing::finish_sent;
use crate::conversation::views::MessageView;
use crate::domain::new_message_id;
use crate::domain::*;
use crate::domain::{ConversationStatus, MessageStatus};
use crate::error::ApiError;
use crate::idempotency::Claim;
use crate::idempotency::claim;
use crate::idempotency::release;
use crate::idempotency::request_hash;
use crate::ports::{ChatTransport, ConversationStore, IdempotencyStore, MessageStore};
use crate::store::Head;
use crate::store::Message;

/// Send in a booking chat (a `head` the caller may see) through Twilio
/// Conversations: `(created, message)`. With an `Idempotency-Key`, a repeat
/// returns the first result and never re-sends.
pub async fn send(
    app: &App<impl ConversationStore + MessageStore + IdempotencyStore, impl ChatTransport>,
    caller: &Caller,
    head: Head,
    input: &SendInput,
    key: Option<IdempotencyKey>,
) -> Result<(bool, MessageView), ApiError> {
    if input.content_sid.is_some() || input.media_urls.is_some() {
        return Err(ApiError::unprocessable(
            "invalid_request",
            "templates and media are for WhatsApp/SMS conversations; send a body",
        ));
    }
    let body = input
        .body
        .as_deref()
        .ok_or_else(|| ApiError::unprocessable("invalid_request", "missing field `body`"))?;
    send_message(app, caller, head, body, key).await
}

async fn send_message(
    app: &App<impl ConversationStore + MessageStore + IdempotencyStore, impl ChatTransport>,
    caller: &Caller,
    mut head: Head,
    body: &str,
    key: Option<IdempotencyKey>,
) -> Result<(bool, MessageView), ApiError> {
    let me = require_participant(&head, caller)?.clone();
    if head.meta.status == ConversationStatus::Closed {
        return Err(ApiError::conflict(
            "conversation_closed",
            "this conversation is closed",
        ));
    }
    let body = MessageBody::parse(body)?;
    let conv = head.meta.id.clone();
    let message_id = new_message_id();
    let idem = match claim(
        app,
        &conv,
        caller,
        key,
        request_hash(body.as_str()),
        &message_id,
    )
    .await?
    {
        Claim::Fresh(idem) => idem,
        Claim::Replay(result) => return Ok(*result),
    };

    let twilio_sid = head
        .meta
        .twilio_sid
        .clone()
        .ok_or_else(|| ApiError::Internal("booking conversation without Twilio SID".into()))?;
    let attributes = serde_json::json!({
        "message_id": message_id,
        "conversation_id": conv,
        "user_type": me.user_type.as_str(),
    })
    .to_string();
    let sent = match app
        .twilio
        .send_conversation_message(&twilio_sid, &me.identity, body.as_str(), &attributes)
        .await
    {
        Ok(sent) => sent,
        Err(e) => {
            release(app, idem.as_ref(), &e).await;
            return Err(e.into());
        }
    };

    let now = app.clock.now();
    let msg = Message {
        id: message_id,
        conversation_id: conv.clone(),
        author_id: me.user_id.clone(),
        author_type: me.user_type.into(),
        body: body.as_str().into(),
        created_at: format_ts(now),
        twilio_sid: Some(sent.sid.clone()),
        twilio_index: sent.index,
        status: MessageStatus::Sent,
        details: None,
        error_code: None,
    };
    finish_sent(app, &app.outbox, &mut head, msg, now, idem.as_ref()).await
}
