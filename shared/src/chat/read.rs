//! Read state: read horizons, unread counters, `/me/unread`.

use serde::Serialize;

use crate::app::{App, Core};
use crate::auth::{Caller, UserType};
use crate::clock::format_ts;
use crate::conversation::MAX_RETRIES;
use crate::conversation::access::load_visible;
use crate::conversation::access::require_participant;
use crate::conversation::contended;
use crate::conversation::reload;
use crate::error::ApiError;
use crate::ports::{
    AccountStore, ChatTransport, ConversationStore, MessageStore, ProviderTransport, ReadStateStore,
};
use crate::store::Head;
use crate::store::Participant;

// ---- read state ---------------------------------------------------------

#[derive(Debug, Serialize)]
pub struct ReadView {
    pub conversation_id: String,
    pub user_id: String,
    pub unread_count: i64,
    pub last_read_at: String,
    pub last_read_message_id: Option<String>,
}

pub async fn mark_read(
    app: &App<
        impl ConversationStore + ReadStateStore + AccountStore + MessageStore,
        impl ChatTransport + ProviderTransport,
    >,
    caller: &Caller,
    conv_id: &str,
) -> Result<ReadView, ApiError> {
    let mut head = load_visible(app, caller, conv_id).await?;
    let now = format_ts(app.clock.now());
    if head.meta.inbox.is_some() {
        let (read, meta) = mark_inbox_read(app, caller, head, now).await?;
        // The contact sees blue ticks (best effort, the org's setting).
        crate::inbox::receipts::on_open(app, &meta).await;
        return Ok(read);
    }
    for attempt in 0..MAX_RETRIES {
        let me = require_participant(&head, caller)?.clone();
        let last = head.meta.last_message_id.clone();
        if app
            .store
            .mark_read(&head.meta.id, &me, &now, last.as_deref())
            .await?
        {
            mirror_read_to_twilio(app, &head, &me).await;
            return Ok(ReadView {
                conversation_id: head.meta.id.clone(),
                user_id: me.user_id,
                unread_count: 0,
                last_read_at: now,
                last_read_message_id: last.or(me.last_read_message_id),
            });
        }
        head = reload(app, &head.meta.id, attempt).await?;
    }
    Err(contended())
}

/// An agent reads an inbox conversation for the whole org.
async fn mark_inbox_read(
    app: &Core<impl ConversationStore + ReadStateStore>,
    caller: &Caller,
    mut head: Head,
    now: String,
) -> Result<(ReadView, crate::model::ConversationMeta), ApiError> {
    if caller.user_type != UserType::Agent {
        return Err(ApiError::forbidden(
            "agents_only",
            "only the org's agents mark an inbox conversation read",
        ));
    }
    for attempt in 0..MAX_RETRIES {
        let inbox = head
            .meta
            .inbox
            .clone()
            .ok_or_else(|| ApiError::Internal("inbox conversation lost its org".into()))?;
        if app
            .store
            .mark_inbox_read(&head.meta, &inbox, &caller.user_id, &now)
            .await?
        {
            let view = ReadView {
                conversation_id: head.meta.id.clone(),
                user_id: caller.user_id.clone(),
                unread_count: 0,
                last_read_at: now,
                last_read_message_id: head.meta.last_message_id.clone(),
            };
            return Ok((view, head.meta));
        }
        head = reload(app, &head.meta.id, attempt).await?;
    }
    Err(contended())
}

/// Best effort: Twilio's `LastReadMessageIndex` follows ours; a failure is
/// logged and the local read state stands.
async fn mirror_read_to_twilio(
    app: &App<impl Sync, impl ChatTransport>,
    head: &Head,
    me: &Participant,
) {
    let (Some(conv_sid), Some(part_sid), Some(index)) = (
        head.meta.twilio_sid.as_deref(),
        me.twilio_sid.as_deref(),
        head.meta.last_message_index,
    ) else {
        return;
    };
    if let Err(e) = app
        .twilio
        .update_last_read_index(conv_sid, part_sid, index)
        .await
    {
        tracing::warn!(error = %e, "could not mirror read horizon to Twilio");
    }
}

/// A user's unread total; for an agent, their org inbox's.
pub async fn unread_total(
    app: &Core<impl ReadStateStore>,
    caller: &Caller,
) -> Result<i64, ApiError> {
    match (caller.user_type, &caller.org_id) {
        (UserType::Agent, Some(org)) => Ok(app.store.org_unread_total(org).await?),
        _ => Ok(app.store.unread_total(&caller.user_id).await?),
    }
}
