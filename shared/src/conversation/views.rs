//! The API's JSON views of conversations, participants and messages.

use serde::Serialize;

use crate::auth::Caller;
use crate::domain::{AuthorType, ConversationStatus, MessageStatus, ParticipantType, Provider};
use crate::store::ConversationMeta;
use crate::store::Head;
use crate::store::Message;
use crate::store::Participant;

// ---- views (the API's JSON) ---------------------------------------------

#[derive(Debug, Serialize)]
pub struct ParticipantView {
    pub user_id: String,
    pub user_type: ParticipantType,
    pub display_name: String,
    pub is_active: bool,
    pub joined_at: String,
    pub left_at: Option<String>,
    pub last_read_at: Option<String>,
    pub last_read_message_id: Option<String>,
}

impl From<&Participant> for ParticipantView {
    fn from(p: &Participant) -> Self {
        Self {
            user_id: p.user_id.clone(),
            user_type: p.user_type,
            display_name: p.display_name.clone(),
            is_active: p.is_active,
            joined_at: p.joined_at.clone(),
            left_at: p.left_at.clone(),
            last_read_at: p.last_read_at.clone(),
            last_read_message_id: p.last_read_message_id.clone(),
        }
    }
}

#[derive(Debug, Serialize)]
pub struct ParticipantSummaryView {
    pub user_id: String,
    pub user_type: ParticipantType,
    pub display_name: String,
}

#[derive(Debug, Serialize)]
pub struct LastMessageView {
    pub id: String,
    pub preview: String,
    pub author_id: Option<String>,
    pub created_at: String,
}

#[derive(Debug, Serialize)]
pub struct AnalyticsView {
    pub message_count: i64,
    pub participant_count: i64,
    pub first_message_at: Option<String>,
    pub last_message_at: Option<String>,
    pub first_response_seconds: Option<f64>,
    pub average_response_seconds: Option<f64>,
}

impl From<&ConversationMeta> for AnalyticsView {
    fn from(m: &ConversationMeta) -> Self {
        Self {
            message_count: m.message_count,
            participant_count: m.participant_count,
            first_message_at: m.first_message_at.clone(),
            last_message_at: m.last_message_at.clone(),
            first_response_seconds: m.first_response_ms.map(|ms| ms as f64 / 1000.0),
            average_response_seconds: (m.response_count > 0)
                .then(|| m.response_total_ms as f64 / m.response_count as f64 / 1000.0),
        }
    }
}

fn last_message(m: &ConversationMeta) -> Option<LastMessageView> {
    Some(LastMessageView {
        id: m.last_message_id.clone()?,
        preview: m.last_message_preview.clone().unwrap_or_default(),
        author_id: m.last_message_author.clone(),
        created_at: m.last_message_at.clone()?,
    })
}

/// The contact and owner of a WhatsApp/SMS conversation.
#[derive(Debug, Serialize)]
pub struct InboxView {
    pub org_id: String,
    pub provider: Provider,
    pub channel: String,
    pub contact_address: String,
    pub contact_name: Option<String>,
    pub business_address: String,
    /// The WhatsApp 24-hour customer-service window runs from here.
    pub last_user_message_at: Option<String>,
    /// The contact opted out (STOP): sends are refused until START.
    pub opted_out: bool,
}

fn inbox_view(m: &ConversationMeta) -> Option<InboxView> {
    m.inbox.as_ref().map(|i| InboxView {
        org_id: i.org_id.clone(),
        provider: i.provider,
        channel: i.channel.clone(),
        contact_address: i.contact_address.clone(),
        contact_name: i.contact_name.clone(),
        business_address: i.business_address.clone(),
        last_user_message_at: i.last_user_message_at.clone(),
        opted_out: i.opted_out,
    })
}

/// The caller's unread count: their own in a booking chat, the org's in
/// an inbox conversation.
pub(crate) fn unread_of(head: &Head, caller: &Caller) -> i64 {
    match &head.meta.inbox {
        Some(inbox) => inbox.unread_count,
        None => head
            .active_participant(&caller.user_id)
            .map_or(0, |p| p.unread_count),
    }
}

#[derive(Debug, Serialize)]
pub struct ConversationView {
    pub id: String,
    #[serde(rename = "type")]
    pub kind: String,
    pub booking_id: Option<String>,
    pub status: ConversationStatus,
    pub created_at: String,
    pub twilio_conversation_sid: Option<String>,
    pub participants: Vec<ParticipantView>,
    pub last_message: Option<LastMessageView>,
    pub unread_count: i64,
    pub analytics: AnalyticsView,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub inbox: Option<InboxView>,
}

impl ConversationView {
    pub fn of(head: &Head, caller: &Caller) -> Self {
        let m = &head.meta;
        Self {
            id: m.id.clone(),
            kind: m.kind.clone(),
            booking_id: m.booking_id.clone(),
            status: m.status,
            created_at: m.created_at.clone(),
            twilio_conversation_sid: m.twilio_sid.clone(),
            participants: head.participants.iter().map(Into::into).collect(),
            last_message: last_message(m),
            unread_count: unread_of(head, caller),
            analytics: m.into(),
            inbox: inbox_view(m),
        }
    }
}

#[derive(Debug, Serialize)]
pub struct ConversationSummary {
    pub id: String,
    #[serde(rename = "type")]
    pub kind: String,
    pub booking_id: Option<String>,
    pub status: ConversationStatus,
    pub participants: Vec<ParticipantSummaryView>,
    pub last_message: Option<LastMessageView>,
    pub last_activity_at: String,
    pub unread_count: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub inbox: Option<InboxView>,
}

pub(crate) fn summary(m: &ConversationMeta, unread: i64) -> ConversationSummary {
    ConversationSummary {
        id: m.id.clone(),
        kind: m.kind.clone(),
        booking_id: m.booking_id.clone(),
        status: m.status,
        participants: m
            .participants
            .iter()
            .filter(|p| p.is_active)
            .map(|p| ParticipantSummaryView {
                user_id: p.user_id.clone(),
                user_type: p.user_type,
                display_name: p.display_name.clone(),
            })
            .collect(),
        last_message: last_message(m),
        last_activity_at: m.last_message_at.clone().unwrap_or(m.created_at.clone()),
        unread_count: unread,
        inbox: inbox_view(m),
    }
}

#[derive(Debug, Serialize)]
pub struct MessageView {
    pub id: String,
    pub conversation_id: String,
    pub author_id: String,
    pub author_type: AuthorType,
    pub body: String,
    pub created_at: String,
    pub status: MessageStatus,
    pub twilio_message_sid: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error_code: Option<String>,
    /// Media attachments (metadata; not downloaded), when any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub media: Option<serde_json::Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub location: Option<serde_json::Value>,
    /// A WhatsApp button reply.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub button: Option<serde_json::Value>,
    /// A WhatsApp template send (`content_sid`, `content_variables`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub template: Option<serde_json::Value>,
    /// Twilio accepted the message but storing it failed: it is on the
    /// outbox queue and lands shortly (the send answers 202).
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub pending_store: bool,
}

impl From<&Message> for MessageView {
    fn from(m: &Message) -> Self {
        Self {
            id: m.id.clone(),
            conversation_id: m.conversation_id.clone(),
            author_id: m.author_id.clone(),
            author_type: m.author_type,
            body: m.body.clone(),
            created_at: m.created_at.clone(),
            status: m.status,
            twilio_message_sid: m.twilio_sid.clone(),
            error_code: m.error_code.clone(),
            media: detail(m, "media"),
            location: detail(m, "location"),
            button: detail(m, "button"),
            template: detail(m, "template"),
            pending_store: false,
        }
    }
}

fn detail(m: &Message, name: &str) -> Option<serde_json::Value> {
    m.details
        .as_ref()
        .and_then(|d| d.get(name))
        .filter(|v| !v.is_null())
        .cloned()
}

#[derive(Debug, Serialize)]
pub struct Page<T> {
    pub items: Vec<T>,
    pub next_cursor: Option<String>,
}
