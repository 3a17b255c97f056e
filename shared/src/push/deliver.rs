//! The `push` function's rules: DynamoDB Streams records in, one frame per
//! event to every socket that may see it.
//!
//! - Recipients follow the HTTP API's visibility exactly
//!   ([`can_see`](crate::conversation::access::can_see) on the conversation
//!   as it is now): a booking chat's **active participants**, an inbox
//!   conversation's **org agents**; nobody else.
//! - Records of one conversation are handled in stream order, and a frame
//!   goes to a socket only after the previous event's frames were accepted,
//!   so a socket sees a conversation's events in the order they were stored.
//!   Conversations are handled concurrently.
//! - A socket that is gone (410) is forgotten. Any other failure is retried
//!   briefly; if it persists, the record is reported in `batchItemFailures`
//!   and the stream redelivers from it (later records of that conversation
//!   wait for it). Events are idempotent state, so a redelivered one is
//!   harmless (messages carry their id).
//! - A change no client shows (counters, versions, guards, connections)
//!   costs no request at all.

use serde::Serialize;
use std::collections::HashMap;
use std::time::Duration;

use super::events::{Frame, Payload, Pending, events_of};
use crate::app::Core;
use crate::auth::{Caller, UserType};
use crate::connections::{ConnectionSender, ConnectionStore, PostError};
use crate::conversation::access::can_see;
use crate::conversation::views::{ConversationView, MessageView, ParticipantView};
use crate::domain::ParticipantType;
use crate::ports::{ConversationStore, StoreError};
use crate::store::Head;
use crate::store::stream::{StreamRecord, decode};

/// Pauses before retrying a push that failed for another reason than 410.
const RETRY_PAUSES_MS: [u64; 2] = [50, 200];

/// What a batch did (logged; asserted by the tests and the benchmark).
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct PushReport {
    /// Sequence numbers to report in `batchItemFailures`.
    pub failed: Vec<String>,
    pub events: usize,
    /// Frames accepted by the management endpoint.
    pub frames: usize,
    /// Connections found gone (410) and forgotten.
    pub gone: usize,
    /// Storage requests made (head loads + connection queries).
    pub storage_requests: usize,
}

/// The recipients of a conversation's events: who (as the HTTP API would
/// see them) and their sockets.
struct Recipient {
    caller: Caller,
    connections: Vec<String>,
}

async fn recipients(
    core: &Core<impl ConversationStore + ConnectionStore>,
    head: &Head,
    requests: &mut usize,
) -> Result<Vec<Recipient>, StoreError> {
    let mut out = Vec::new();
    match &head.meta.inbox {
        Some(inbox) => {
            let caller = Caller {
                user_id: String::new(),
                user_type: UserType::Agent,
                org_id: Some(inbox.org_id.clone()),
                role: None,
            };
            *requests += 1;
            let connections = core.store.org_agent_connections(&inbox.org_id).await?;
            out.push(Recipient {
                caller,
                connections,
            });
        }
        None => {
            for p in head.participants.iter().filter(|p| p.is_active) {
                let caller = Caller {
                    user_id: p.user_id.clone(),
                    user_type: match p.user_type {
                        ParticipantType::Customer => UserType::Customer,
                        ParticipantType::Provider => UserType::Provider,
                    },
                    org_id: None,
                    role: None,
                };
                *requests += 1;
                let connections = core.store.user_connections(&p.user_id).await?;
                out.push(Recipient {
                    caller,
                    connections,
                });
            }
        }
    }
    // The HTTP API's own rule decides, whatever the index said.
    out.retain(|r| can_see(head, &r.caller) && !r.connections.is_empty());
    Ok(out)
}

fn frame<D: Serialize>(p: &Pending, data: D) -> String {
    serde_json::to_string(&Frame {
        kind: p.kind,
        conversation_id: &p.conversation_id,
        at: &p.at,
        data,
    })
    .unwrap_or_default()
}

/// The frame of `p` as `caller` may see it.
pub fn render(p: &Pending, head: &Head, caller: &Caller) -> String {
    match &p.payload {
        Payload::Message(m) => frame(p, MessageView::from(m)),
        Payload::Read(r) => frame(p, r),
        Payload::Participant(part) => frame(p, ParticipantView::from(part)),
        Payload::Conversation => frame(p, ConversationView::of(head, caller)),
    }
}

/// Post with brief retries; `Err` only for a failure that persisted.
async fn post_retrying(
    sender: &impl ConnectionSender,
    conn: &str,
    data: &[u8],
) -> Result<(), PostError> {
    let mut attempt = 0;
    loop {
        match sender.post(conn, data).await {
            Err(PostError::Failed(e)) if attempt < RETRY_PAUSES_MS.len() => {
                tracing::warn!(connection = conn, error = %e, "push failed; retrying");
                tokio::time::sleep(Duration::from_millis(RETRY_PAUSES_MS[attempt])).await;
                attempt += 1;
            }
            other => return other,
        }
    }
}

/// One conversation's records, in order.
async fn push_conversation(
    core: &Core<impl ConversationStore + ConnectionStore>,
    sender: &impl ConnectionSender,
    conversation_id: &str,
    records: Vec<(String, Vec<Pending>)>,
) -> PushReport {
    let mut report = PushReport::default();
    let Some(first) = records.first().map(|(seq, _)| seq.clone()) else {
        return report;
    };
    let loaded = async {
        report.storage_requests += 1;
        let Some(head) = core.store.load_head(conversation_id).await? else {
            return Ok(None);
        };
        let r = recipients(core, &head, &mut report.storage_requests).await?;
        Ok::<_, StoreError>(Some((head, r)))
    }
    .await;
    let (head, mut recipients) = match loaded {
        Ok(Some(x)) => x,
        Ok(None) => return report,
        Err(e) => {
            tracing::warn!(conversation = conversation_id, error = %e, "push: cannot load recipients; the stream will retry");
            report.failed.push(first);
            return report;
        }
    };
    for (seq, events) in records {
        for p in events {
            report.events += 1;
            let mut posts = Vec::new();
            for (ri, r) in recipients.iter().enumerate() {
                let text = render(&p, &head, &r.caller);
                for conn in &r.connections {
                    let text = text.clone();
                    let conn = conn.clone();
                    posts.push(async move {
                        let res = post_retrying(sender, &conn, text.as_bytes()).await;
                        (ri, conn, res)
                    });
                }
            }
            let mut failed = false;
            for (ri, conn, res) in futures::future::join_all(posts).await {
                match res {
                    Ok(()) => report.frames += 1,
                    Err(PostError::Gone) => {
                        report.gone += 1;
                        recipients[ri].connections.retain(|c| *c != conn);
                        if let Err(e) = core.store.delete_connection(&conn).await {
                            tracing::warn!(connection = %conn, error = %e, "push: cannot forget a gone connection (its TTL will)");
                        }
                    }
                    Err(PostError::Failed(e)) => {
                        tracing::warn!(connection = %conn, conversation = conversation_id, event = p.kind.as_str(), error = %e, "push failed; the stream will retry");
                        failed = true;
                    }
                }
            }
            if failed {
                report.failed.push(seq);
                return report;
            }
        }
    }
    report
}

/// Push every event of a batch of stream records.
pub async fn push_records(
    core: &Core<impl ConversationStore + ConnectionStore>,
    sender: &impl ConnectionSender,
    records: &[StreamRecord],
) -> PushReport {
    let now = crate::clock::format_ts(core.clock.now());
    let mut order: Vec<String> = Vec::new();
    let mut by_conv: HashMap<String, Vec<(String, Vec<Pending>)>> = HashMap::new();
    for (i, rec) in records.iter().enumerate() {
        let seq = rec
            .dynamodb
            .sequence_number
            .clone()
            .unwrap_or_else(|| i.to_string());
        let changed = match decode(rec) {
            Ok(Some(c)) => c,
            Ok(None) => continue,
            Err(e) => {
                // Retrying cannot fix a record we cannot read: log, skip.
                tracing::error!(sequence = %seq, error = %e, "push: undecodable stream record skipped");
                continue;
            }
        };
        let events = events_of(&changed.conversation_id, &changed.change, &now);
        if events.is_empty() {
            continue;
        }
        let entry = by_conv
            .entry(changed.conversation_id.clone())
            .or_insert_with(|| {
                order.push(changed.conversation_id.clone());
                Vec::new()
            });
        entry.push((seq, events));
    }
    let work = order.into_iter().filter_map(|conv| {
        let records = by_conv.remove(&conv)?;
        Some(async move { push_conversation(core, sender, &conv, records).await })
    });
    let mut total = PushReport::default();
    for r in futures::future::join_all(work).await {
        total.failed.extend(r.failed);
        total.events += r.events;
        total.frames += r.frames;
        total.gone += r.gone;
        total.storage_requests += r.storage_requests;
    }
    tracing::info!(
        records = records.len(),
        events = total.events,
        frames = total.frames,
        gone = total.gone,
        failed = total.failed.len(),
        "push batch"
    );
    total
}
