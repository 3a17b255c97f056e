//! The one event shape pushed to sockets, and which stored change becomes
//! which event:
//!
//! ```json
//! {"type": "message.created", "conversation_id": "conv_...", "at": "2026-...Z", "data": {...}}
//! ```
//!
//! `data` is the HTTP API's own view: a message as in
//! `GET /conversations/{id}/messages`, a read horizon as in its
//! `read_horizons`, a participant as in `GET /conversations/{id}/participants`,
//! a conversation as in `GET /conversations/{id}`.

use serde::Serialize;

use crate::model::{ConversationMeta, Message, Participant};
use crate::store::stream::StreamChange;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub enum EventType {
    #[serde(rename = "message.created")]
    MessageCreated,
    #[serde(rename = "message.status")]
    MessageStatus,
    #[serde(rename = "conversation.read")]
    ConversationRead,
    #[serde(rename = "conversation.updated")]
    ConversationUpdated,
    #[serde(rename = "participant.joined")]
    ParticipantJoined,
    #[serde(rename = "participant.left")]
    ParticipantLeft,
}

impl EventType {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::MessageCreated => "message.created",
            Self::MessageStatus => "message.status",
            Self::ConversationRead => "conversation.read",
            Self::ConversationUpdated => "conversation.updated",
            Self::ParticipantJoined => "participant.joined",
            Self::ParticipantLeft => "participant.left",
        }
    }
}

/// A read horizon, as in `GET /conversations/{id}/messages`'s
/// `read_horizons` (for an inbox conversation: the agent who read it).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ReadHorizon {
    pub user_id: String,
    pub last_read_at: Option<String>,
    pub last_read_message_id: Option<String>,
}

/// What an event carries before it is rendered for a recipient.
#[derive(Clone, Debug)]
pub enum Payload {
    Message(Message),
    Read(ReadHorizon),
    Participant(Participant),
    /// The conversation as `GET /conversations/{id}` shows it to the
    /// recipient (rendered from the conversation as it is when pushed).
    Conversation,
}

#[derive(Clone, Debug)]
pub struct Pending {
    pub kind: EventType,
    pub conversation_id: String,
    pub at: String,
    pub payload: Payload,
}

/// The frame as sent: `{type, conversation_id, at, data}`.
#[derive(Debug, Serialize)]
pub struct Frame<'a, D: Serialize> {
    #[serde(rename = "type")]
    pub kind: EventType,
    pub conversation_id: &'a str,
    pub at: &'a str,
    pub data: D,
}

fn status_changed(old: &Message, new: &Message) -> bool {
    old.status != new.status || old.error_code != new.error_code
}

fn meta_updated(old: &ConversationMeta, new: &ConversationMeta) -> bool {
    old.status != new.status
        || old.inbox.as_ref().map(|i| i.opted_out) != new.inbox.as_ref().map(|i| i.opted_out)
}

/// The events one stored change causes (`now`: when the change is seen,
/// for changes without a time of their own). Writes that change nothing a
/// client shows (counters, versions, activity keys) cause none.
pub fn events_of(conversation_id: &str, change: &StreamChange, now: &str) -> Vec<Pending> {
    let ev = |kind, at: &str, payload| Pending {
        kind,
        conversation_id: conversation_id.to_string(),
        at: at.to_string(),
        payload,
    };
    match change {
        StreamChange::Message {
            old: None,
            new: Some(m),
        } => vec![ev(
            EventType::MessageCreated,
            &m.created_at,
            Payload::Message(m.clone()),
        )],
        StreamChange::Message {
            old: Some(o),
            new: Some(m),
        } if status_changed(o, m) => vec![ev(
            EventType::MessageStatus,
            now,
            Payload::Message(m.clone()),
        )],
        StreamChange::Participant { old, new: Some(p) } => {
            let was_active = old.as_ref().is_some_and(|o| o.is_active);
            let mut out = Vec::new();
            if p.is_active && !was_active {
                out.push(ev(
                    EventType::ParticipantJoined,
                    &p.joined_at,
                    Payload::Participant(p.clone()),
                ));
            } else if !p.is_active && was_active {
                out.push(ev(
                    EventType::ParticipantLeft,
                    p.left_at.as_deref().unwrap_or(now),
                    Payload::Participant(p.clone()),
                ));
            } else if p.is_active
                && let Some(at) = &p.last_read_at
                && (old.as_ref().and_then(|o| o.last_read_at.as_ref()) != Some(at)
                    || old.as_ref().and_then(|o| o.last_read_message_id.as_ref())
                        != p.last_read_message_id.as_ref())
            {
                out.push(ev(
                    EventType::ConversationRead,
                    at,
                    Payload::Read(ReadHorizon {
                        user_id: p.user_id.clone(),
                        last_read_at: p.last_read_at.clone(),
                        last_read_message_id: p.last_read_message_id.clone(),
                    }),
                ));
            }
            out
        }
        StreamChange::Meta {
            old: Some(o),
            new: Some(m),
            last_read_by,
            last_read_message_id,
        } => {
            let mut out = Vec::new();
            if meta_updated(o, m) {
                out.push(ev(
                    EventType::ConversationUpdated,
                    now,
                    Payload::Conversation,
                ));
            }
            let read_at = m.inbox.as_ref().and_then(|i| i.last_read_at.clone());
            let old_read_at = o.inbox.as_ref().and_then(|i| i.last_read_at.clone());
            if let Some(at) = read_at
                && Some(&at) != old_read_at.as_ref()
            {
                out.push(ev(
                    EventType::ConversationRead,
                    &at,
                    Payload::Read(ReadHorizon {
                        user_id: last_read_by.clone().unwrap_or_default(),
                        last_read_at: Some(at.clone()),
                        last_read_message_id: last_read_message_id.clone(),
                    }),
                ));
            }
            out
        }
        _ => Vec::new(),
    }
}
