//! The outbox: a message Twilio accepted whose storage failed is put on
//! the inbound queue as an outbox record, and `process-inbound` stores it
//! there, exactly once (the message's `SID#` guard dedupes), with its
//! counters and its `Idempotency-Key` answered. The send answers 202 with
//! the message marked `pending_store` instead of a 503 whose retry would
//! send the message twice.

use std::sync::{Arc, Mutex};

use serde::{Deserialize, Serialize};

use crate::domain::{AuthorType, MessageStatus};
use crate::model::Message;

/// The record's version; its presence (`"outbox"`) also tells the record
/// apart from a webhook envelope on the shared queue.
pub const OUTBOX_VERSION: u32 = 1;

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct OutboxRecord {
    pub outbox: u32,
    pub message: OutboxMessage,
    /// The `Idempotency-Key` record to answer with the stored message.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub idempotency_pk: Option<String>,
}

/// A [`Message`] as queued (every field, so the stored item is the one the
/// send would have written).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct OutboxMessage {
    pub id: String,
    pub conversation_id: String,
    pub author_id: String,
    pub author_type: String,
    pub body: String,
    pub created_at: String,
    pub twilio_sid: Option<String>,
    pub twilio_index: Option<i64>,
    pub status: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub details: Option<serde_json::Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error_code: Option<String>,
}

impl OutboxRecord {
    pub fn new(msg: &Message, idempotency_pk: Option<String>) -> Self {
        Self {
            outbox: OUTBOX_VERSION,
            message: OutboxMessage {
                id: msg.id.clone(),
                conversation_id: msg.conversation_id.clone(),
                author_id: msg.author_id.clone(),
                author_type: msg.author_type.as_str().into(),
                body: msg.body.clone(),
                created_at: msg.created_at.clone(),
                twilio_sid: msg.twilio_sid.clone(),
                twilio_index: msg.twilio_index,
                status: msg.status.as_str().into(),
                details: msg.details.clone(),
                error_code: msg.error_code.clone(),
            },
            idempotency_pk,
        }
    }

    /// `Ok(None)`: not an outbox record (a webhook envelope).
    pub fn detect(raw: &str) -> Result<Option<Self>, String> {
        #[derive(Deserialize)]
        struct Probe {
            outbox: Option<serde_json::Value>,
        }
        match serde_json::from_str::<Probe>(raw) {
            Ok(Probe { outbox: Some(_) }) => {}
            _ => return Ok(None),
        }
        let rec: Self = serde_json::from_str(raw).map_err(|e| format!("outbox record: {e}"))?;
        if rec.outbox != OUTBOX_VERSION {
            return Err(format!("unsupported outbox version {}", rec.outbox));
        }
        Ok(Some(rec))
    }

    /// The message to store; an unknown author type or status is malformed.
    pub fn message(&self) -> Result<Message, String> {
        let m = &self.message;
        Ok(Message {
            id: m.id.clone(),
            conversation_id: m.conversation_id.clone(),
            author_id: m.author_id.clone(),
            author_type: AuthorType::parse(&m.author_type)
                .ok_or_else(|| format!("author type {:?}", m.author_type))?,
            body: m.body.clone(),
            created_at: m.created_at.clone(),
            twilio_sid: m.twilio_sid.clone(),
            twilio_index: m.twilio_index,
            status: MessageStatus::parse(&m.status)
                .ok_or_else(|| format!("message status {:?}", m.status))?,
            details: m.details.clone(),
            error_code: m.error_code.clone(),
        })
    }
}

/// Where outbox records go: the inbound queue (`QUEUE_URL`) in
/// `send-message`; a list in the rules' unit tests; nowhere when the
/// function has no queue (then a storage failure after Twilio answers 503
/// as before).
#[derive(Clone, Debug, Default)]
pub enum OutboxQueue {
    #[default]
    Disabled,
    Sqs {
        queue: Arc<crate::sqs::Queue>,
        queue_url: String,
    },
    Memory(Arc<Mutex<Vec<String>>>),
}

impl OutboxQueue {
    pub fn sqs(queue: Arc<crate::sqs::Queue>, queue_url: impl Into<String>) -> Self {
        Self::Sqs {
            queue,
            queue_url: queue_url.into(),
        }
    }

    pub fn memory() -> Self {
        Self::Memory(Arc::default())
    }

    /// The records a memory outbox holds (tests).
    pub fn queued(&self) -> Vec<String> {
        match self {
            Self::Memory(q) => q.lock().map(|q| q.clone()).unwrap_or_default(),
            _ => Vec::new(),
        }
    }

    pub async fn enqueue(&self, record: &OutboxRecord) -> Result<(), String> {
        let body = serde_json::to_string(record).map_err(|e| e.to_string())?;
        match self {
            Self::Disabled => Err("no outbox queue configured".into()),
            Self::Sqs { queue, queue_url } => queue
                .send(queue_url, &body)
                .await
                .map(|_| ())
                .map_err(|e| e.to_string()),
            Self::Memory(q) => {
                q.lock().map_err(|e| e.to_string())?.push(body);
                Ok(())
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn when_an_outbox_record_round_trips_it_should_be_told_apart_from_an_envelope() {
        let msg = Message {
            id: "msg_1".into(),
            conversation_id: "conv_1".into(),
            author_id: "agent_1".into(),
            author_type: AuthorType::Agent,
            body: "hi".into(),
            created_at: "2026-01-01T00:00:00.000Z".into(),
            twilio_sid: Some("SM1".into()),
            twilio_index: None,
            status: MessageStatus::Queued,
            details: Some(serde_json::json!({"media": [{"url": "https://x.example/a"}]})),
            error_code: None,
        };
        let rec = OutboxRecord::new(&msg, Some("IDEM#conv_1#agent_1#k".into()));
        let raw = serde_json::to_string(&rec).unwrap();
        let back = OutboxRecord::detect(&raw).unwrap().unwrap();
        assert_eq!(back, rec);
        let m = back.message().unwrap();
        assert_eq!((m.id.as_str(), m.status), ("msg_1", MessageStatus::Queued));
        let envelope = r#"{"v":1,"source":"messaging","kind":"inbound_message","params":[],"received_at":"x"}"#;
        assert_eq!(OutboxRecord::detect(envelope), Ok(None));
        assert!(OutboxRecord::detect(r#"{"outbox":9,"message":{}}"#).is_err());
        let bad = raw.replace("\"agent\"", "\"robot\"");
        assert!(
            OutboxRecord::detect(&bad)
                .unwrap()
                .unwrap()
                .message()
                .is_err()
        );
    }
}
