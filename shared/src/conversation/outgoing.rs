//! Storing a message the transport already accepted.

use chrono::{DateTime, Utc};

use crate::app::Core;
use crate::conversation::contended;
use crate::conversation::reload;
use crate::conversation::views::MessageView;
use crate::error::ApiError;
use crate::outbox::{OutboxQueue, OutboxRecord};
use crate::ports::{ConversationStore, IdempotencyStore, MessageStore};
use crate::store::Head;
use crate::store::IdemRecord;
use crate::store::IdemState;
use crate::store::Message;
use crate::store::StoreMessageOutcome;

/// Attempts to store a message Twilio already accepted. Giving up then
/// fails a request whose message was delivered, so this waits contention
/// out longer than other writes (with a jittered pause between attempts).
const STORE_SENT_ATTEMPTS: usize = 24;

/// Store a message Twilio accepted. If storage fails, the message goes to
/// the outbox queue (`process-inbound` stores it exactly once, with its
/// counters and its key answered) and the answer is the message marked
/// `pending_store` (202): never a "retry" that would send it twice. Only
/// when the queue refuses too is it an error, with the key marked `unknown`
/// so nobody re-sends.
pub(crate) async fn finish_sent(
    app: &Core<impl ConversationStore + MessageStore + IdempotencyStore>,
    outbox: &OutboxQueue,
    head: &mut Head,
    mut msg: Message,
    now: DateTime<Utc>,
    idem: Option<&IdemRecord>,
) -> Result<(bool, MessageView), ApiError> {
    let Err(e) = store_sent(app, head, &mut msg, now, idem).await else {
        return Ok((true, (&msg).into()));
    };
    tracing::error!(conversation_id = %msg.conversation_id, error = %e,
        "message sent but not stored; handing it to the outbox");
    let record = OutboxRecord::new(&msg, idem.map(|r| r.pk.clone()));
    match outbox.enqueue(&record).await {
        Ok(()) => {
            let mut view = MessageView::from(&msg);
            view.pending_store = true;
            Ok((true, view))
        }
        Err(qe) => {
            tracing::error!(error = %qe, "the outbox refused too");
            if let Some(record) = idem
                && let Err(ce) = app.store.mark_idempotent_unknown(record).await
            {
                tracing::error!(error = %ce, "could not update idempotency record");
            }
            Err(e)
        }
    }
}

/// `process-inbound`'s side of the outbox: store the queued message
/// (a repeat, or one that was stored meanwhile, is a duplicate).
pub async fn deliver_outbox(
    app: &Core<impl ConversationStore + MessageStore + IdempotencyStore>,
    record: &OutboxRecord,
) -> Result<(), OutboxError> {
    let mut msg = record.message().map_err(OutboxError::Malformed)?;
    let idem = record.idempotency_pk.as_ref().map(|pk| IdemRecord {
        pk: pk.clone(),
        request_hash: String::new(),
        message_id: msg.id.clone(),
        state: IdemState::Pending,
        message_sk: None,
        claimed_at: 0,
    });
    let now = DateTime::parse_from_rfc3339(&msg.created_at)
        .map_err(|e| OutboxError::Malformed(format!("created_at: {e}")))?
        .with_timezone(&Utc);
    let mut head = app
        .store
        .load_head(&msg.conversation_id)
        .await
        .map_err(|e| OutboxError::Transient(e.to_string()))?
        .ok_or_else(|| {
            OutboxError::Malformed("the message's conversation does not exist".into())
        })?;
    store_sent(app, &mut head, &mut msg, now, idem.as_ref())
        .await
        .map_err(|e| OutboxError::Transient(e.to_string()))?;
    tracing::info!(conversation_id = %msg.conversation_id, "outbox message stored");
    Ok(())
}

#[derive(Debug, thiserror::Error)]
pub enum OutboxError {
    #[error("outbox record is malformed: {0}")]
    Malformed(String),
    #[error("outbox record not stored yet: {0}")]
    Transient(String),
}

/// Store a message Twilio accepted, retrying on optimistic-lock conflicts.
async fn store_sent(
    app: &Core<impl ConversationStore + MessageStore + IdempotencyStore>,
    head: &mut Head,
    msg: &mut Message,
    now: DateTime<Utc>,
    idem: Option<&IdemRecord>,
) -> Result<(), ApiError> {
    // Cleared when the SID's guard belongs to another message: then this
    // one is stored without the guard (and without the SID).
    let mut guarded = true;
    for attempt in 0..STORE_SENT_ATTEMPTS {
        let fx = head.meta.message_effects(msg.author_type, &msg.body, now);
        let unguarded;
        let write = if guarded {
            &*msg
        } else {
            unguarded = Message {
                twilio_sid: None,
                ..msg.clone()
            };
            &unguarded
        };
        match app.store.store_message(head, write, &fx, idem).await? {
            StoreMessageOutcome::Stored | StoreMessageOutcome::Duplicate => return Ok(()),
            StoreMessageOutcome::SidTaken {
                conversation_id,
                message_sk,
            } => {
                if conversation_id == msg.conversation_id
                    && message_sk.ends_with(&format!("#{}", msg.id))
                {
                    // Twilio's webhook echo of this very message stored it
                    // first (with its counters): answer the key with it.
                    if let Some(stored) =
                        app.store.get_message(&conversation_id, &message_sk).await?
                    {
                        *msg = stored;
                    }
                    if let Some(record) = idem {
                        app.store.mark_idempotent_sent(record, &message_sk).await?;
                    }
                    return Ok(());
                }
                tracing::warn!(conversation_id = %msg.conversation_id,
                    "the Twilio SID already names another message; storing this one without it");
                guarded = false;
            }
            StoreMessageOutcome::Conflict => {
                tracing::debug!(attempt, "conversation changed; retrying message write");
                // A status callback may have beaten us to the SID: store
                // the newer status it recorded.
                if head.meta.inbox.is_some()
                    && let Some(sid) = &msg.twilio_sid
                    && let Some((recorded, error_code)) = app.store.recorded_status(sid).await?
                    && recorded.rank() > msg.status.rank()
                {
                    msg.status = recorded;
                    msg.error_code = error_code;
                }
                *head = reload(app, &msg.conversation_id, attempt).await?;
            }
        }
    }
    Err(contended())
}
