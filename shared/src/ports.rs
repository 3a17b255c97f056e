//! The ports: what the rules need from storage (one narrow trait per
//! aggregate) and from a message transport. The DynamoDB store (`store`)
//! and the Twilio client (`twilio`) are the adapters behind them; `memory` holds in-memory adapters for the
//! rules' unit tests.

use std::collections::HashMap;
use std::future::Future;

use crate::cursor::Key;
use crate::domain::effects::MessageEffects;
use crate::domain::{ConversationStatus, MessageStatus, Provider};
use crate::model::*;
use crate::transport::{
    ConversationResource, MessageResource, NewParticipant, OutboundMessage, ParticipantResource,
    SmsResource, TwilioError,
};

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// Throttled, unreachable or timed out: worth retrying later.
    #[error("dynamodb unavailable: {0}")]
    Unavailable(String),
    #[error("dynamodb error: {0}")]
    Sdk(String),
    #[error("corrupt item: {0}")]
    Corrupt(String),
}

/// A page of conversation ids with the caller's unread count each, and the
/// key to continue from.
pub type ConversationPage = (Vec<(String, i64)>, Option<Key>);

pub trait ConversationStore: Send + Sync {
    // ---- conversations ------------------------------------------------

    /// Our conversation id for a Twilio conversation SID.
    fn twilio_conversation(
        &self,
        sid: &str,
    ) -> impl Future<Output = Result<Option<String>, StoreError>> + Send;

    /// Set a conversation's status. `Ok(false)`: it changed meanwhile.
    fn set_status(
        &self,
        head: &Head,
        status: ConversationStatus,
        now: &str,
    ) -> impl Future<Output = Result<bool, StoreError>> + Send;

    fn booking_conversation_id(
        &self,
        booking_id: &str,
    ) -> impl Future<Output = Result<Option<String>, StoreError>> + Send;

    /// Create the conversation, its booking guard and participants in one
    /// transaction. `Ok(false)`: it already existed (the guard was there).
    fn create_conversation(
        &self,
        meta: &ConversationMeta,
        participants: &[Participant],
    ) -> impl Future<Output = Result<bool, StoreError>> + Send;

    /// The conversation item and all its participants (one strongly
    /// consistent Query).
    fn load_head(
        &self,
        conv_id: &str,
    ) -> impl Future<Output = Result<Option<Head>, StoreError>> + Send;

    /// Conversation items by id (one BatchGetItem per 100 ids).
    fn batch_get_meta(
        &self,
        ids: &[String],
    ) -> impl Future<Output = Result<HashMap<String, ConversationMeta>, StoreError>> + Send;

    /// A user's conversations, most recent activity first: `(conversation
    /// id, unread count)` per participant item on GSI1.
    fn user_conversations(
        &self,
        user_id: &str,
        limit: i32,
        start: Option<Key>,
    ) -> impl Future<Output = Result<ConversationPage, StoreError>> + Send;

    /// An org's WhatsApp/SMS inbox, most recent activity first.
    fn org_inbox(
        &self,
        org_id: &str,
        limit: i32,
        start: Option<Key>,
    ) -> impl Future<Output = Result<ConversationPage, StoreError>> + Send;

    // ---- participants -------------------------------------------------

    /// Add (or re-activate) a participant. `Ok(false)`: the conversation
    /// changed meanwhile or the user is already active; reload and decide.
    fn add_participant(
        &self,
        head: &Head,
        p: &Participant,
        now: &str,
    ) -> impl Future<Output = Result<bool, StoreError>> + Send;

    /// Deactivate a participant, keeping their history. `Ok(false)`: the
    /// conversation changed meanwhile; reload and retry.
    fn remove_participant(
        &self,
        head: &Head,
        p: &Participant,
        now: &str,
    ) -> impl Future<Output = Result<bool, StoreError>> + Send;
}

pub trait MessageStore: Send + Sync {
    // ---- messages -----------------------------------------------------

    fn query_messages(
        &self,
        conv_id: &str,
        ascending: bool,
        limit: i32,
        start: Option<Key>,
    ) -> impl Future<Output = Result<(Vec<Message>, Option<Key>), StoreError>> + Send;

    fn get_message(
        &self,
        conv_id: &str,
        sk: &str,
    ) -> impl Future<Output = Result<Option<Message>, StoreError>> + Send;

    /// Store a message with everything it changes, in one transaction:
    /// the message, the conversation's analytics (guarded by `version`),
    /// every active participant's activity key, the others' unread counters
    /// (per conversation and per user), the idempotency record and the
    /// Twilio SID guard.
    fn store_message(
        &self,
        head: &Head,
        msg: &Message,
        fx: &MessageEffects,
        idem: Option<&IdemRecord>,
    ) -> impl Future<Output = Result<StoreMessageOutcome, StoreError>> + Send;

    /// Record what became of a stored message's media (`[{index, key,
    /// content_type, size} | {index, error}]`, see `shared::media`).
    fn set_media_stored(
        &self,
        conv_id: &str,
        sk: &str,
        media: &serde_json::Value,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// A status (and error code) recorded for a SID by a status callback,
    /// possibly before its message was stored.
    fn recorded_status(
        &self,
        sid: &str,
    ) -> impl Future<Output = Result<Option<(MessageStatus, Option<String>)>, StoreError>> + Send;
}

pub trait ReadStateStore: Send + Sync {
    // ---- inbox read state ---------------------------------------------

    // ---- read state ---------------------------------------------------

    /// Zero the participant's unread count and move their read horizon.
    /// `Ok(false)`: the count changed meanwhile; reload and retry.
    fn mark_read(
        &self,
        conv_id: &str,
        p: &Participant,
        read_at: &str,
        last_message_id: Option<&str>,
    ) -> impl Future<Output = Result<bool, StoreError>> + Send;

    fn unread_total(&self, user_id: &str) -> impl Future<Output = Result<i64, StoreError>> + Send;

    /// Zero an inbox conversation's unread count (shared by the org's
    /// agents). `Ok(false)`: it changed meanwhile; re-read and retry.
    fn mark_inbox_read(
        &self,
        meta: &ConversationMeta,
        inbox: &InboxMeta,
        by: &str,
        now: &str,
    ) -> impl Future<Output = Result<bool, StoreError>> + Send;
    fn org_unread_total(&self, org: &str) -> impl Future<Output = Result<i64, StoreError>> + Send;
}

pub trait IdempotencyStore: Send + Sync {
    // ---- idempotency --------------------------------------------------

    /// Claim an idempotency key before calling Twilio. If someone already
    /// did, return their record.
    fn begin_idempotent(
        &self,
        record: &IdemRecord,
        now_epoch: i64,
    ) -> impl Future<Output = Result<IdemBegin, StoreError>> + Send;

    /// Release a claimed key after a failure that provably sent nothing.
    fn abandon_idempotent(
        &self,
        record: &IdemRecord,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// Answer a claimed key with a message stored by someone else (a
    /// webhook echo of this very send, or the outbox).
    fn mark_idempotent_sent(
        &self,
        record: &IdemRecord,
        message_sk: &str,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// Record that a send may or may not have reached Twilio.
    fn mark_idempotent_unknown(
        &self,
        record: &IdemRecord,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;
}

pub trait InboxStore: Send + Sync {
    /// Per provider: total, active, escalated (counters kept in the same
    /// transactions as the conversations) and contacts who wrote in the
    /// last 24 h (a COUNT query on GSI2). 2 requests per provider.
    fn provider_stats(
        &self,
        org: &str,
        since: &str,
    ) -> impl Future<Output = Result<Vec<ProviderStats>, StoreError>> + Send;

    /// Store a conversation from another provider (imports, seeds), with
    /// its counters. Idempotent: `Ok(false)` when it already exists.
    fn import_conversation(
        &self,
        c: &InboxImport<'_>,
    ) -> impl Future<Output = Result<(String, bool), StoreError>> + Send;

    // ---- inbound messages ---------------------------------------------

    /// The conversation item alone (one consistent GetItem).
    fn conversation_meta(
        &self,
        conv_id: &str,
    ) -> impl Future<Output = Result<Option<ConversationMeta>, StoreError>> + Send;

    /// Store one inbound message in one transaction: the message, its SID
    /// guard, the conversation (created on the first message, version-checked
    /// after), the contact (upsert) and the org's unread counter.
    fn store_inbound(
        &self,
        w: &InboundWrite<'_>,
    ) -> impl Future<Output = Result<InboundOutcome, StoreError>> + Send;

    /// Record an opt-out (or opt-in) learnt from Twilio on the conversation
    /// and the contact.
    fn set_opted_out(
        &self,
        meta: &ConversationMeta,
        inbox: &InboxMeta,
        opted_out: bool,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    // ---- delivery status ----------------------------------------------

    /// Record a status callback on the SID item (forward only), then apply it
    /// to the stored message if there is one.
    fn apply_status(
        &self,
        sid: &str,
        status: MessageStatus,
        error_code: Option<&str>,
        at: &str,
    ) -> impl Future<Output = Result<StatusOutcome, StoreError>> + Send;
}

pub trait AccountStore: Send + Sync {
    // ---- chat accounts ------------------------------------------------

    fn chat_account(
        &self,
        provider: Provider,
        address: &str,
    ) -> impl Future<Output = Result<Option<ChatAccount>, StoreError>> + Send;

    fn put_chat_account(
        &self,
        acc: &ChatAccount,
    ) -> impl Future<Output = Result<PutAccount, StoreError>> + Send;

    /// Delete an org's account. `Ok(false)`: no such account of that org.
    fn delete_chat_account(
        &self,
        provider: Provider,
        address: &str,
        org: &str,
    ) -> impl Future<Output = Result<bool, StoreError>> + Send;

    /// An org's chat accounts: one Query on GSI1 (keys only there), then
    /// one BatchGetItem per 100 accounts.
    fn org_chat_accounts(
        &self,
        org: &str,
    ) -> impl Future<Output = Result<Vec<ChatAccount>, StoreError>> + Send;

    // ---- unroutable ---------------------------------------------------

    /// Keep an inbound message no org claims, for an operator to see.
    /// `awaiting`: the provider whose registration of `to` should replay it
    /// ([`AccountStore::parked_for`]); `None` for messages no registration
    /// can route (senders no reply can reach).
    fn park_unroutable(
        &self,
        received_at: &str,
        sid: &str,
        to: &str,
        envelope_json: &str,
        awaiting: Option<Provider>,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// The oldest messages parked awaiting `provider`'s `address`, oldest
    /// first: one Query on GSI1, then one BatchGetItem.
    fn parked_for(
        &self,
        provider: Provider,
        address: &str,
        limit: i32,
    ) -> impl Future<Output = Result<Vec<ParkedMessage>, StoreError>> + Send;

    /// Forget a parked message (once it was replayed).
    fn unpark(
        &self,
        received_at: &str,
        sid: &str,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// An org's messaging settings (the defaults when never set).
    fn org_settings(
        &self,
        org: &str,
    ) -> impl Future<Output = Result<crate::model::OrgSettings, StoreError>> + Send;

    fn put_org_settings(
        &self,
        org: &str,
        settings: &crate::model::OrgSettings,
        at: &str,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// Claim `key` at `now` unless it was claimed at `not_before` or later:
    /// `Ok(true)` when this call claimed it. A rate limit shared by every
    /// execution environment; the claim expires (TTL) at `expires_at`.
    fn claim(
        &self,
        key: &str,
        now: &str,
        not_before: &str,
        expires_at: i64,
    ) -> impl Future<Output = Result<bool, StoreError>> + Send;

    /// The newest unroutable messages: `(received_at, sid, to)`.
    fn list_unroutable(
        &self,
        limit: i32,
    ) -> impl Future<Output = Result<Vec<(String, String, String)>, StoreError>> + Send;
}

pub trait ContactStore: Send + Sync {
    // ---- contact identities -------------------------------------------

    /// The conversations the given addresses of a contact are linked to:
    /// `(address, conversation id)` for those that are (one BatchGetItem).
    fn contact_links(
        &self,
        org: &str,
        provider: Provider,
        addresses: &[String],
    ) -> impl Future<Output = Result<Vec<(String, String)>, StoreError>> + Send;

    /// Link an address to a conversation unless it is linked already; the
    /// conversation it is linked to afterwards (the first link stays).
    fn link_contact(
        &self,
        org: &str,
        provider: Provider,
        address: &str,
        conversation_id: &str,
    ) -> impl Future<Output = Result<String, StoreError>> + Send;
}

/// Every storage port: what a function holding the whole store offers.
pub trait Storage:
    ConversationStore
    + MessageStore
    + ReadStateStore
    + IdempotencyStore
    + InboxStore
    + AccountStore
    + ContactStore
{
}

impl<S> Storage for S where
    S: ConversationStore
        + MessageStore
        + ReadStateStore
        + IdempotencyStore
        + InboxStore
        + AccountStore
        + ContactStore
{
}

/// What booking chats need from a chat transport (Twilio Conversations).
pub trait ChatTransport: Send + Sync {
    fn create_conversation_with_participants(
        &self,
        unique_name: &str,
        friendly_name: &str,
        attributes: &str,
        participants: &[NewParticipant<'_>],
    ) -> impl Future<Output = Result<ConversationResource, TwilioError>> + Send;

    fn list_participants(
        &self,
        conversation_sid: &str,
    ) -> impl Future<Output = Result<Vec<ParticipantResource>, TwilioError>> + Send;

    fn add_participant(
        &self,
        conversation_sid: &str,
        p: &NewParticipant<'_>,
    ) -> impl Future<Output = Result<ParticipantResource, TwilioError>> + Send;

    fn remove_participant(
        &self,
        conversation_sid: &str,
        participant_sid: &str,
    ) -> impl Future<Output = Result<(), TwilioError>> + Send;

    fn update_last_read_index(
        &self,
        conversation_sid: &str,
        participant_sid: &str,
        index: i64,
    ) -> impl Future<Output = Result<ParticipantResource, TwilioError>> + Send;

    fn send_conversation_message(
        &self,
        conversation_sid: &str,
        author: &str,
        body: &str,
        attributes: &str,
    ) -> impl Future<Output = Result<MessageResource, TwilioError>> + Send;

    fn set_conversation_state(
        &self,
        conversation_sid: &str,
        state: &str,
    ) -> impl Future<Output = Result<ConversationResource, TwilioError>> + Send;
}

/// The credentials a provider call acts with, resolved for the org (see
/// `inbox::providers`): a Twilio account (`None`: the environment's), or a
/// Meta access token.
#[derive(Clone, Copy)]
pub enum ProviderAuth<'a> {
    Twilio(Option<&'a crate::vault::TwilioAccount>),
    Meta(&'a str),
}

/// A webhook as its signature covers it: the public URL it was sent to,
/// the raw body, its form parameters (Twilio's form posts) and the
/// signature header.
pub struct SignedWebhook<'a> {
    pub url: &'a str,
    pub body: &'a [u8],
    pub form: Option<&'a [(String, String)]>,
    pub signature: &'a str,
}

/// What a messaging provider does for the org inbox, as one narrow
/// interface: verify a webhook, normalise a delivery into the
/// provider-neutral events, send a reply (text, template, media), mark a
/// message read / show typing. Implemented by Twilio (`TwilioClient`) and
/// Meta (`MetaClient`); provider rules (Meta's 131047 window refusal,
/// Twilio's error codes) stay in those adapters, and the inbox's rules
/// (store, window, opt-out, statuses, stats) only choose which to call.
pub trait ProviderTransport: Send + Sync {
    const PROVIDER: crate::domain::Provider;

    /// Whether `webhook` is signed with one of `secrets` (constant time).
    fn verify(secrets: &[&str], webhook: &SignedWebhook<'_>) -> bool;

    /// A verified delivery as provider-neutral events.
    fn normalise(
        env: &crate::envelope::Envelope,
    ) -> Result<Vec<crate::provider::ProviderEvent>, String>;

    /// Send a reply from `m.from` to `m.to` as `auth`.
    fn send_reply(
        &self,
        auth: ProviderAuth<'_>,
        m: &OutboundMessage<'_>,
    ) -> impl Future<Output = Result<SmsResource, TwilioError>> + Send;

    /// Mark the contact's message `message_id` read at the business number,
    /// showing a typing indicator when `typing` (Twilio has no read-only
    /// call: its typing indicator marks read too, and nothing is sent
    /// without `typing`).
    fn show_read(
        &self,
        auth: ProviderAuth<'_>,
        business: &str,
        message_id: &str,
        typing: bool,
    ) -> impl Future<Output = Result<(), TwilioError>> + Send;
}
