//! What the storage ports read and write, as plain Rust values (no
//! DynamoDB types): conversations, participants, messages, idempotency
//! records, inbox metadata, chat accounts.

use chrono::{DateTime, Utc};

use crate::domain::effects::MessageEffects;
use crate::domain::{
    AuthorType, Channel, ConversationStatus, MessageStatus, ParticipantType, Provider, StatsDelta,
};

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ParticipantSummary {
    pub user_id: String,
    pub user_type: ParticipantType,
    pub display_name: String,
    pub is_active: bool,
}

#[derive(Clone, Debug, Default)]
pub struct ConversationMeta {
    pub id: String,
    pub kind: String,
    pub booking_id: Option<String>,
    pub status: ConversationStatus,
    pub twilio_sid: Option<String>,
    pub created_at: String,
    pub created_by: String,
    pub version: i64,
    pub message_count: i64,
    pub participant_count: i64,
    pub first_message_at: Option<String>,
    pub last_message_at: Option<String>,
    pub last_message_id: Option<String>,
    pub last_message_preview: Option<String>,
    pub last_message_author: Option<String>,
    pub last_message_index: Option<i64>,
    pub response_count: i64,
    pub response_total_ms: i64,
    pub first_response_ms: Option<i64>,
    /// Side whose message(s) await an answer, and since when.
    pub pending_side: Option<String>,
    pub pending_since: Option<String>,
    pub participants: Vec<ParticipantSummary>,
    /// WhatsApp/SMS inbox conversations: the owning org and the contact.
    pub inbox: Option<InboxMeta>,
}

#[derive(Clone, Debug)]
pub struct Participant {
    pub user_id: String,
    pub user_type: ParticipantType,
    pub display_name: String,
    pub identity: String,
    pub twilio_sid: Option<String>,
    pub is_active: bool,
    pub joined_at: String,
    pub left_at: Option<String>,
    pub unread_count: i64,
    pub last_read_at: Option<String>,
    pub last_read_message_id: Option<String>,
}

/// A conversation and its participants, read in one Query.
#[derive(Clone, Debug)]
pub struct Head {
    pub meta: ConversationMeta,
    pub participants: Vec<Participant>,
}

impl ConversationMeta {
    /// Whether `msg` becomes the conversation's last message: later than
    /// the current last one (ties broken by id). One that lost a race to a
    /// newer message is stored and counted, but never moves activity or read
    /// horizons back in time.
    pub fn is_newest(&self, msg: &Message) -> bool {
        match (&self.last_message_at, &self.last_message_id) {
            (Some(at), Some(id)) => {
                (msg.created_at.as_str(), msg.id.as_str()) > (at.as_str(), id.as_str())
            }
            _ => true,
        }
    }

    /// The analytics a new message by `author_type` causes here.
    pub fn message_effects(
        &self,
        author_type: AuthorType,
        body: &str,
        now: DateTime<Utc>,
    ) -> MessageEffects {
        crate::domain::effects::message_effects(
            self.pending_side.as_deref(),
            self.pending_since.as_deref(),
            author_type,
            body,
            now,
        )
    }
}

impl Head {
    pub fn active_participant(&self, user_id: &str) -> Option<&Participant> {
        self.participants
            .iter()
            .find(|p| p.is_active && p.user_id == user_id)
    }
    pub fn participant(&self, user_id: &str) -> Option<&Participant> {
        self.participants.iter().find(|p| p.user_id == user_id)
    }
}

#[derive(Clone, Debug)]
pub struct Message {
    pub id: String,
    pub conversation_id: String,
    pub author_id: String,
    pub author_type: AuthorType,
    pub body: String,
    pub created_at: String,
    pub twilio_sid: Option<String>,
    pub twilio_index: Option<i64>,
    pub status: MessageStatus,
    /// Channel extras: media, location, button reply, error code, and the
    /// complete Twilio parameters of an inbound message.
    pub details: Option<serde_json::Value>,
    /// Twilio's error code of a failed/undelivered message.
    pub error_code: Option<String>,
}

impl Message {
    pub fn sort_key(&self) -> String {
        format!("MSG#{}#{}", self.created_at, self.id)
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum IdemState {
    Pending,
    Sent,
    Unknown,
}

impl IdemState {
    pub fn as_str(&self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Sent => "sent",
            Self::Unknown => "unknown",
        }
    }
}

#[derive(Clone, Debug)]
pub struct IdemRecord {
    pub pk: String,
    pub request_hash: String,
    pub message_id: String,
    pub state: IdemState,
    pub message_sk: Option<String>,
    /// When the key was claimed (epoch seconds; 0 when unknown).
    pub claimed_at: i64,
}

pub enum IdemBegin {
    Fresh,
    Existing(IdemRecord),
}

pub enum StoreMessageOutcome {
    Stored,
    /// The conversation changed since the head was read: reload and retry.
    Conflict,
    /// This message is already stored under its SID: a duplicate, which is
    /// a success.
    Duplicate,
    /// The Twilio SID's guard names another stored item: this very message
    /// stored under another key (a Conversations webhook echo that got
    /// there first) or a different message (a Twilio double reusing SIDs).
    SidTaken {
        conversation_id: String,
        message_sk: String,
    },
}

#[derive(Clone, Debug, Default)]
pub struct InboxMeta {
    pub org_id: String,
    pub provider: Provider,
    /// `whatsapp` or `sms` for Twilio; an imported conversation may carry
    /// its provider's own channel (Kommo: `telegram`, ...).
    pub channel: String,
    pub contact_address: String,
    pub contact_name: Option<String>,
    pub business_address: String,
    /// The WhatsApp 24-hour window clock: the contact's last inbound message.
    pub last_user_message_at: Option<String>,
    /// Unread by the org (its agents share the inbox).
    pub unread_count: i64,
    pub last_read_at: Option<String>,
    /// The contact replied STOP (and not START since): no sends.
    pub opted_out: bool,
}

pub enum InboundOutcome {
    Stored,
    /// The Twilio SID is already stored: a redelivery, which is a success.
    Duplicate,
    /// The conversation changed since it was read: re-read and retry.
    Conflict,
    /// The business number's chat account no longer routes to this org:
    /// resolve it again.
    Rerouted,
}

pub enum StatusOutcome {
    /// Recorded and applied to the stored message.
    Applied,
    /// Recorded on the SID item; applied when the message is stored.
    Pending,
    /// Not newer than what is recorded (duplicate or out of order).
    Stale,
    /// A failure after a confirmed delivery: its error code is recorded on
    /// the message, its status stays.
    ErrorRecorded,
}

/// Everything one inbound message writes.
pub struct InboundWrite<'a> {
    pub org_id: &'a str,
    pub provider: Provider,
    pub channel: Channel,
    pub contact_address: &'a str,
    pub contact_name: Option<&'a str>,
    pub business_address: &'a str,
    pub message: &'a Message,
    pub effects: &'a MessageEffects,
    /// The conversation as read before this write (`None`: first message).
    pub existing: Option<&'a ConversationMeta>,
    /// `Some(true)` for STOP-like keywords, `Some(false)` for START/UNSTOP.
    pub opt_out: Option<bool>,
    /// The conversation's status once this message is stored (the rules
    /// decide: an inbound message reopens a closed conversation).
    pub status: ConversationStatus,
    /// How the provider's counters move with this write.
    pub stats: StatsDelta,
    /// The org came from the business number's chat account (`true`) or
    /// from `DEFAULT_ORG_ID` (`false`). The write checks it still holds, so
    /// a number moved to another org routes there at once, whatever a warm
    /// cache remembered.
    pub routed_by_account: bool,
}

/// Per-provider figures of an org's inbox.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct ProviderStats {
    pub provider: Provider,
    pub total: i64,
    pub active: i64,
    pub escalated: i64,
    pub within_24h: i64,
}

impl InboxImport<'_> {
    /// The conversation item an import creates (`id` derived from it).
    pub fn conversation(&self, id: &str) -> ConversationMeta {
        ConversationMeta {
            id: id.into(),
            kind: self.channel.into(),
            status: self.status,
            created_at: self.created_at.into(),
            created_by: self.created_by.unwrap_or("import").into(),
            version: 1,
            participant_count: 1,
            inbox: Some(InboxMeta {
                org_id: self.org_id.into(),
                provider: self.provider,
                channel: self.channel.into(),
                contact_address: self.contact_address.unwrap_or("").into(),
                business_address: self.business_address.unwrap_or("").into(),
                contact_name: self.contact_name.map(str::to_string),
                last_user_message_at: self.last_user_message_at.map(str::to_string),
                ..Default::default()
            }),
            ..Default::default()
        }
    }
}

/// A conversation imported from another provider (or seeded).
pub struct InboxImport<'a> {
    pub org_id: &'a str,
    pub provider: Provider,
    pub channel: &'a str,
    /// The contact's address (`twilio`, `meta`).
    pub contact_address: Option<&'a str>,
    /// The Kommo chat id (`kommo` conversations must carry one).
    pub kommo_chat_id: Option<&'a str>,
    pub status: ConversationStatus,
    pub created_at: &'a str,
    pub last_user_message_at: Option<&'a str>,
    /// The org's number replies go from (conversations an agent starts).
    pub business_address: Option<&'a str>,
    pub contact_name: Option<&'a str>,
    /// Who created it (`import` when `None`).
    pub created_by: Option<&'a str>,
}

/// An inbound message kept because no org had registered the number it was
/// sent to; registering that number replays it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ParkedMessage {
    pub received_at: String,
    pub sid: String,
    /// The queued envelope, as `process-inbound` received it.
    pub envelope: String,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ChatAccount {
    pub provider: Provider,
    /// A Twilio number (`whatsapp:+…`, `+…`) or a Meta phone number id.
    pub address: String,
    pub org_id: String,
    pub channel: Channel,
    pub created_at: String,
    pub created_by: String,
    /// Meta: the org's Graph API access token for this number. Never
    /// returned by the API and never logged; stored as-is for now.
    pub access_token: Option<Secret>,
    /// Twilio: the org's own account this number belongs to (its
    /// credentials are in `shared::vault`); `None`: the environment's.
    pub twilio_account_sid: Option<String>,
}

/// A credential: compared and cloned, but never printed.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(pub String);

impl Secret {
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(***)")
    }
}

/// An org's messaging settings (all off until an admin turns them on).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct OrgSettings {
    /// Mark the contact's last message read (blue ticks) when an agent
    /// opens the conversation.
    #[serde(default)]
    pub read_receipts: bool,
    /// Show the contact a typing indicator while an agent types.
    #[serde(default)]
    pub typing_indicators: bool,
}

pub enum PutAccount {
    Created,
    /// The same org already had it: nothing changed.
    Unchanged(ChatAccount),
    /// Another org owns this address.
    OwnedByOther,
}
