//! Storing a message the transport already accepted.

use chrono::{DateTime, Utc};

use crate::app::Core;
use crate::conversation::contended;
use crate::conversation::reload;
use crate::conversation::views::MessageView;
use crate::error::ApiError;
use crate::ports::{ConversationStore, IdempotencyStore, MessageStore};
use crate::store::Head;
use crate::store::IdemRecord;
use crate::store::Message;
use crate::store::StoreMessageOutcome;

/// Store a message Twilio accepted; if that fails, Twilio's webhook will
/// bring it, and the key is marked `unknown` so nobody re-sends.
/// Attempts to store a message Twilio already accepted. Giving up then
/// fails a request whose message was delivered, so this waits contention
/// out longer than other writes (with a jittered pause between attempts).
const STORE_SENT_ATTEMPTS: usize = 24;

pub(crate) async fn finish_sent(
    app: &Core<impl ConversationStore + MessageStore + IdempotencyStore>,
    head: &mut Head,
    mut msg: Message,
    now: DateTime<Utc>,
    idem: Option<&IdemRecord>,
) -> Result<(bool, MessageView), ApiError> {
    let stored = store_sent(app, head, &mut msg, now, idem).await;
    if let Err(e) = &stored {
        tracing::error!(conversation_id = %msg.conversation_id, error = %e,
            "message sent but not stored");
        if let Some(record) = idem
            && let Err(ce) = app.store.mark_idempotent_unknown(record).await
        {
            tracing::error!(error = %ce, "could not update idempotency record");
        }
    }
    stored.map(|()| (true, (&msg).into()))
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
