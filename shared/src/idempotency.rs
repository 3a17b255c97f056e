//! `Idempotency-Key`: claimed before the transport is called, released or
//! marked `unknown` after a failure, replayed on a repeat. Used by both send
//! paths (booking chats and inbox replies).

use crate::app::Core;
use crate::auth::Caller;
use crate::conversation::views::MessageView;
use crate::domain::*;
use crate::error::ApiError;
use crate::ports::{IdempotencyStore, MessageStore};
use crate::store::IdemBegin;
use crate::store::IdemRecord;
use crate::store::IdemState;
use sha2::{Digest, Sha256};

pub(crate) fn request_hash(body: &str) -> String {
    let d = Sha256::digest(body.as_bytes());
    d.iter().take(16).map(|b| format!("{b:02x}")).collect()
}

pub(crate) enum Claim {
    /// Go ahead (holding the key's pending record, if a key was given).
    Fresh(Option<IdemRecord>),
    /// The key was used before: this is its answer.
    Replay(Box<(bool, MessageView)>),
}

/// Claim an `Idempotency-Key` before calling Twilio.
/// Longer than `Timeout` in `template.yaml` (10 s) with a margin: no live
/// invocation holds a pending claim this old.
pub const PENDING_CLAIM_TIMEOUT_SECS: i64 = 30;

fn delivery_unknown() -> ApiError {
    ApiError::conflict(
        "delivery_unknown",
        "an earlier request with this Idempotency-Key timed out at Twilio; \
         it was not re-sent. Check the conversation before sending again with a new key",
    )
}

pub(crate) async fn claim(
    app: &Core<impl IdempotencyStore + MessageStore>,
    conv: &str,
    caller: &Caller,
    key: Option<IdempotencyKey>,
    request_hash: String,
    message_id: &str,
) -> Result<Claim, ApiError> {
    let Some(k) = key else {
        return Ok(Claim::Fresh(None));
    };
    let record = IdemRecord {
        pk: format!("IDEM#{conv}#{}#{}", caller.user_id, k.as_str()),
        request_hash,
        message_id: message_id.to_string(),
        state: IdemState::Pending,
        message_sk: None,
        claimed_at: app.clock.now().timestamp(),
    };
    match app
        .store
        .begin_idempotent(&record, app.clock.now().timestamp())
        .await?
    {
        IdemBegin::Fresh => Ok(Claim::Fresh(Some(record))),
        IdemBegin::Existing(prev) => replay(app, conv, &record, prev)
            .await
            .map(|r| Claim::Replay(Box::new(r))),
    }
}

/// After a failed Twilio call: release the key if Twilio provably did
/// nothing, record `unknown` if it may have sent.
pub(crate) async fn release(
    app: &Core<impl IdempotencyStore + MessageStore>,
    idem: Option<&IdemRecord>,
    e: &crate::twilio::TwilioError,
) {
    let Some(record) = idem else { return };
    let cleanup = if e.outcome_unknown() {
        app.store.mark_idempotent_unknown(record).await
    } else {
        app.store.abandon_idempotent(record).await
    };
    if let Err(ce) = cleanup {
        tracing::error!(error = %ce, "could not update idempotency record");
    }
}
async fn replay(
    app: &Core<impl IdempotencyStore + MessageStore>,
    conv: &str,
    mine: &IdemRecord,
    prev: IdemRecord,
) -> Result<(bool, MessageView), ApiError> {
    if prev.request_hash != mine.request_hash {
        return Err(ApiError::unprocessable(
            "idempotency_key_reused",
            "this Idempotency-Key was used for a different message",
        ));
    }
    match prev.state {
        IdemState::Sent => {
            let sk = prev
                .message_sk
                .ok_or_else(|| ApiError::Internal("sent record without message".into()))?;
            let msg = app
                .store
                .get_message(conv, &sk)
                .await?
                .ok_or_else(|| ApiError::Internal("idempotent message missing".into()))?;
            Ok((false, (&msg).into()))
        }
        // A claim older than any invocation could live (the functions'
        // timeout, with a margin) was left by one that crashed between the
        // claim and its outcome: whether Twilio sent it is unknown.
        IdemState::Pending
            if app.clock.now().timestamp() - prev.claimed_at > PENDING_CLAIM_TIMEOUT_SECS =>
        {
            Err(delivery_unknown())
        }
        IdemState::Pending => Err(ApiError::conflict(
            "request_in_progress",
            "a request with this Idempotency-Key is still in progress; retry shortly",
        )),
        IdemState::Unknown => Err(delivery_unknown()),
    }
}
