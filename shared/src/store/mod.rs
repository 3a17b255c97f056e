//! The DynamoDB adapter: one table, generic `PK`/`SK`, one GSI (`GSI1`).
//!
//! | item                  | PK                      | SK                      | GSI1PK / GSI1SK                 |
//! |-----------------------|-------------------------|-------------------------|---------------------------------|
//! | conversation          | `CONV#<id>`             | `#META`                 |                                 |
//! | participant           | `CONV#<id>`             | `#PART#<user>`          | `USER#<user>` / `<activity>#<id>` (active only) |
//! | message               | `CONV#<id>`             | `MSG#<created_at>#<id>` |                                 |
//! | booking guard         | `BOOKING#<booking>`     | `#BOOKING`              |                                 |
//! | Twilio conversation   | `TWCONV#<CH sid>`       | `#TWCONV`               |                                 |
//! | Twilio message guard  | `SID#<IM/SM sid>`       | `#SID`                  |                                 |
//! | idempotency record    | `IDEM#<conv>#<user>#<key>` | `#IDEM`              |                                 |
//! | per-user counters     | `USER#<user>`           | `#COUNTERS`             |                                 |
//!
//! Conversation head (meta + participants) sort before messages (`#` <
//! `M`), so one Query with `begins_with(SK, "#")` loads it. Every multi-item
//! write is one `TransactWriteItems` with conditions; the conversation item
//! carries a `version` that every write to it checks (optimistic locking).

mod inbox;
mod item;

use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::error::{DisplayErrorContext, SdkError};
use aws_sdk_dynamodb::types::{
    AttributeValue, Delete, KeysAndAttributes, Put, TransactWriteItem, Update,
};
use std::collections::HashMap;

use chrono::{DateTime, Utc};

use crate::domain::effects::MessageEffects;

pub use inbox::*;
pub use item::Item;
use item::*;

pub const GSI1: &str = "GSI1";
/// Idempotency records are kept this long (DynamoDB TTL on `expires_at`).
const IDEM_TTL_SECS: i64 = 7 * 24 * 3600;

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

fn sdk_err<E, R>(e: SdkError<E, R>) -> StoreError
where
    E: std::error::Error + aws_sdk_dynamodb::error::ProvideErrorMetadata + 'static,
    R: std::fmt::Debug,
{
    match &e {
        SdkError::DispatchFailure(_) | SdkError::TimeoutError(_) => {
            StoreError::Unavailable(DisplayErrorContext(&e).to_string())
        }
        SdkError::ServiceError(se) => match se.err().code() {
            Some(
                "ProvisionedThroughputExceededException"
                | "ThrottlingException"
                | "RequestLimitExceeded"
                | "InternalServerError"
                | "ServiceUnavailable",
            ) => StoreError::Unavailable(DisplayErrorContext(&e).to_string()),
            _ => StoreError::Sdk(DisplayErrorContext(&e).to_string()),
        },
        _ => StoreError::Sdk(DisplayErrorContext(&e).to_string()),
    }
}

/// A conditional write whose condition did not hold.
fn is_condition_failure<E, R>(e: &SdkError<E, R>) -> bool
where
    E: aws_sdk_dynamodb::error::ProvideErrorMetadata,
{
    e.as_service_error()
        .is_some_and(|se| se.code() == Some("ConditionalCheckFailedException"))
}

fn build_err(e: aws_sdk_dynamodb::error::BuildError) -> StoreError {
    StoreError::Sdk(e.to_string())
}

/// What `TransactWriteItems` cancelled on: the index of each failed condition.
enum TxOutcome {
    Done,
    /// Indexes of the items whose condition failed, with their old values
    /// where the item asked for them.
    ConditionFailed(Vec<(usize, Option<Item>)>),
    /// Cancelled because another transaction touched the same items
    /// (`TransactionConflict`): nothing was written; re-read and retry.
    Contended,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ParticipantSummary {
    pub user_id: String,
    pub user_type: String,
    pub display_name: String,
    pub is_active: bool,
}

#[derive(Clone, Debug, Default)]
pub struct ConversationMeta {
    pub id: String,
    pub kind: String,
    pub booking_id: Option<String>,
    pub status: String,
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
    pub user_type: String,
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
    /// The analytics a new message by `author_type` causes here.
    pub fn message_effects(
        &self,
        author_type: &str,
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
    pub author_type: String,
    pub body: String,
    pub created_at: String,
    pub twilio_sid: Option<String>,
    pub twilio_index: Option<i64>,
    pub status: String,
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
    fn as_str(&self) -> &'static str {
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
}

pub enum IdemBegin {
    Fresh,
    Existing(IdemRecord),
}

pub enum StoreMessageOutcome {
    Stored,
    /// The conversation changed since the head was read: reload and retry.
    Conflict,
    /// The Twilio SID is already stored: a duplicate, which is a success.
    Duplicate,
}

#[derive(Clone)]
pub struct Store {
    client: Client,
    table: String,
}

pub fn conv_pk(id: &str) -> String {
    format!("CONV#{id}")
}
pub(crate) const META_SK: &str = "#META";
fn part_sk(user: &str) -> String {
    format!("#PART#{user}")
}
fn counters_key(user: &str) -> Item {
    key(format!("USER#{user}"), "#COUNTERS")
}
pub fn inbox_gsi_pk(org: &str) -> String {
    format!("ORG#{org}#INBOX")
}
fn activity_sk(ts: &str, conv: &str) -> String {
    format!("{ts}#{conv}")
}

impl Store {
    pub fn new(client: Client, table: impl Into<String>) -> Self {
        Self {
            client,
            table: table.into(),
        }
    }

    pub fn table(&self) -> &str {
        &self.table
    }

    fn put(&self, item: Item, condition: Option<&str>) -> Result<TransactWriteItem, StoreError> {
        self.put_with(item, condition, Vec::new())
    }

    fn put_with(
        &self,
        item: Item,
        condition: Option<&str>,
        values: Vec<(&str, AttributeValue)>,
    ) -> Result<TransactWriteItem, StoreError> {
        let put = Put::builder()
            .table_name(&self.table)
            .set_item(Some(item))
            .set_condition_expression(condition.map(str::to_string))
            .set_expression_attribute_values(values_map(values))
            .build()
            .map_err(build_err)?;
        Ok(TransactWriteItem::builder().put(put).build())
    }

    fn update(
        &self,
        key: Item,
        expr: &str,
        condition: Option<&str>,
        values: Vec<(&str, AttributeValue)>,
    ) -> Result<TransactWriteItem, StoreError> {
        let update = Update::builder()
            .table_name(&self.table)
            .set_key(Some(key))
            .update_expression(expr)
            .set_condition_expression(condition.map(str::to_string))
            .set_expression_attribute_values(values_map(values))
            // `state` is a DynamoDB reserved word.
            .set_expression_attribute_names(
                expr.contains("#st")
                    .then(|| HashMap::from([("#st".to_string(), "state".to_string())])),
            )
            .build()
            .map_err(build_err)?;
        Ok(TransactWriteItem::builder().update(update).build())
    }

    fn update_named(
        &self,
        key: Item,
        expr: &str,
        condition: Option<&str>,
        values: Vec<(&str, AttributeValue)>,
        names: &[(&str, &str)],
    ) -> Result<TransactWriteItem, StoreError> {
        let update = Update::builder()
            .table_name(&self.table)
            .set_key(Some(key))
            .update_expression(expr)
            .set_condition_expression(condition.map(str::to_string))
            .set_expression_attribute_values(values_map(values))
            .set_expression_attribute_names(Some(
                names
                    .iter()
                    .map(|(k, v)| (k.to_string(), v.to_string()))
                    .collect(),
            ))
            .build()
            .map_err(build_err)?;
        Ok(TransactWriteItem::builder().update(update).build())
    }

    async fn transact(&self, items: Vec<TransactWriteItem>) -> Result<TxOutcome, StoreError> {
        use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
        match self
            .client
            .transact_write_items()
            .set_transact_items(Some(items))
            .send()
            .await
        {
            Ok(_) => Ok(TxOutcome::Done),
            Err(SdkError::ServiceError(se)) => match se.err() {
                TransactWriteItemsError::TransactionCanceledException(tc) => {
                    let failed: Vec<(usize, Option<Item>)> = tc
                        .cancellation_reasons()
                        .iter()
                        .enumerate()
                        .filter(|(_, r)| r.code() == Some("ConditionalCheckFailed"))
                        .map(|(i, r)| (i, r.item().cloned()))
                        .collect();
                    let contended = tc
                        .cancellation_reasons()
                        .iter()
                        .any(|r| r.code() == Some("TransactionConflict"));
                    if failed.is_empty() && contended {
                        Ok(TxOutcome::Contended)
                    } else if failed.is_empty() {
                        // Throttled or another transient cancellation.
                        Err(StoreError::Unavailable(format!(
                            "transaction cancelled: {:?}",
                            tc.cancellation_reasons()
                                .iter()
                                .filter_map(|r| r.code())
                                .collect::<Vec<_>>()
                        )))
                    } else {
                        Ok(TxOutcome::ConditionFailed(failed))
                    }
                }
                _ => Err(sdk_err(SdkError::ServiceError(se))),
            },
            Err(e) => Err(sdk_err(e)),
        }
    }

    async fn get(&self, key: Item) -> Result<Option<Item>, StoreError> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .set_key(Some(key))
            .consistent_read(true)
            .send()
            .await
            .map_err(sdk_err)?;
        Ok(out.item)
    }

    // ---- conversations ------------------------------------------------

    /// Our conversation id for a Twilio conversation SID.
    pub async fn twilio_conversation(&self, sid: &str) -> Result<Option<String>, StoreError> {
        let item = self.get(key(format!("TWCONV#{sid}"), "#TWCONV")).await?;
        Ok(item.and_then(|i| get_s(&i, "conversation_id")))
    }

    /// Set a conversation's status. `Ok(false)`: it changed meanwhile.
    pub async fn set_status(
        &self,
        head: &Head,
        status: &str,
        now: &str,
    ) -> Result<bool, StoreError> {
        let item = self.update_named(
            key(conv_pk(&head.meta.id), META_SK),
            "SET #status = :s, status_changed_at = :t, version = version + :one",
            Some("version = :v"),
            vec![
                (":s", s(status)),
                (":t", s(now)),
                (":one", n(1)),
                (":v", n(head.meta.version)),
            ],
            &[("#status", "status")],
        )?;
        let mut items = vec![item];
        // Inbox conversations keep their org's per-provider counters exact.
        if let Some(inbox) = &head.meta.inbox
            && let Some(counters) =
                self.stats_delta(&inbox.org_id, &inbox.provider, &head.meta.status, status, 0)?
        {
            items.push(counters);
        }
        Ok(matches!(self.transact(items).await?, TxOutcome::Done))
    }

    pub async fn booking_conversation_id(
        &self,
        booking_id: &str,
    ) -> Result<Option<String>, StoreError> {
        let item = self
            .get(key(format!("BOOKING#{booking_id}"), "#BOOKING"))
            .await?;
        Ok(item.and_then(|i| get_s(&i, "conversation_id")))
    }

    /// Create the conversation, its booking guard and participants in one
    /// transaction. `Ok(false)`: it already existed (the guard was there).
    pub async fn create_conversation(
        &self,
        meta: &ConversationMeta,
        participants: &[Participant],
    ) -> Result<bool, StoreError> {
        let mut items = Vec::with_capacity(participants.len() + 3);
        let booking = meta
            .booking_id
            .as_deref()
            .ok_or_else(|| StoreError::Corrupt("booking conversation without booking".into()))?;
        let mut guard = key(format!("BOOKING#{booking}"), "#BOOKING");
        guard.insert("conversation_id".into(), s(&meta.id));
        items.push(self.put(guard, Some("attribute_not_exists(PK)"))?);
        items.push(self.put(meta_item(meta), Some("attribute_not_exists(PK)"))?);
        for p in participants {
            items.push(self.put(
                participant_item(&meta.id, p, &meta.created_at),
                Some("attribute_not_exists(PK)"),
            )?);
        }
        if let Some(sid) = &meta.twilio_sid {
            let mut tw = key(format!("TWCONV#{sid}"), "#TWCONV");
            tw.insert("conversation_id".into(), s(&meta.id));
            items.push(self.put(tw, None)?);
        }
        match self.transact(items).await? {
            TxOutcome::Done => Ok(true),
            TxOutcome::ConditionFailed(_) | TxOutcome::Contended => Ok(false),
        }
    }

    /// The conversation item and all its participants (one strongly
    /// consistent Query).
    pub async fn load_head(&self, conv_id: &str) -> Result<Option<Head>, StoreError> {
        let mut meta = None;
        let mut participants = Vec::new();
        let mut start: Option<Item> = None;
        loop {
            let out = self
                .client
                .query()
                .table_name(&self.table)
                .key_condition_expression("PK = :pk AND begins_with(SK, :h)")
                .expression_attribute_values(":pk", s(conv_pk(conv_id)))
                .expression_attribute_values(":h", s("#"))
                .consistent_read(true)
                .set_exclusive_start_key(start)
                .send()
                .await
                .map_err(sdk_err)?;
            for item in out.items() {
                let sk = get_s(item, "SK").unwrap_or_default();
                if sk == META_SK {
                    meta = Some(meta_from(item)?);
                } else if sk.starts_with("#PART#") {
                    participants.push(participant_from(item)?);
                }
            }
            match out.last_evaluated_key {
                Some(k) if !k.is_empty() => start = Some(k),
                _ => break,
            }
        }
        Ok(meta.map(|meta| Head { meta, participants }))
    }

    /// Conversation items by id (one BatchGetItem per 100 ids).
    pub async fn batch_get_meta(
        &self,
        ids: &[String],
    ) -> Result<HashMap<String, ConversationMeta>, StoreError> {
        let keys: Vec<Item> = ids.iter().map(|id| key(conv_pk(id), META_SK)).collect();
        let mut found = HashMap::new();
        for item in self.batch_get(keys).await? {
            let m = meta_from(&item)?;
            found.insert(m.id.clone(), m);
        }
        Ok(found)
    }

    /// Items by key: one BatchGetItem per 100 keys, unprocessed keys retried.
    pub(crate) async fn batch_get(&self, keys: Vec<Item>) -> Result<Vec<Item>, StoreError> {
        let mut found = Vec::with_capacity(keys.len());
        for chunk in keys.chunks(100) {
            let mut request = Some(
                KeysAndAttributes::builder()
                    .set_keys(Some(chunk.to_vec()))
                    .consistent_read(true)
                    .build()
                    .map_err(build_err)?,
            );
            for attempt in 0..5u32 {
                let Some(req) = request.take() else { break };
                let out = self
                    .client
                    .batch_get_item()
                    .request_items(&self.table, req)
                    .send()
                    .await
                    .map_err(sdk_err)?;
                if let Some(items) = out.responses.and_then(|mut r| r.remove(&self.table)) {
                    found.extend(items);
                }
                request = out
                    .unprocessed_keys
                    .and_then(|mut u| u.remove(&self.table))
                    .filter(|k| !k.keys().is_empty());
                if request.is_some() {
                    tokio::time::sleep(std::time::Duration::from_millis(20 << attempt)).await;
                }
            }
            if request.is_some() {
                return Err(StoreError::Unavailable(
                    "batch get left keys unprocessed".into(),
                ));
            }
        }
        Ok(found)
    }

    /// Put an item unless its key exists: `Ok(false)` when it did.
    pub(crate) async fn put_new(&self, item: Item) -> Result<bool, StoreError> {
        let res = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item))
            .condition_expression("attribute_not_exists(PK)")
            .send()
            .await;
        match res {
            Ok(_) => Ok(true),
            Err(e) if is_condition_failure(&e) => Ok(false),
            Err(e) => Err(sdk_err(e)),
        }
    }

    /// A user's conversations, most recent activity first: `(conversation
    /// id, unread count)` per participant item on GSI1.
    pub async fn user_conversations(
        &self,
        user_id: &str,
        limit: i32,
        start: Option<Item>,
    ) -> Result<(Vec<(String, i64)>, Option<Item>), StoreError> {
        self.conversations_on_gsi(format!("USER#{user_id}"), limit, start)
            .await
    }

    /// An org's WhatsApp/SMS inbox, most recent activity first.
    pub async fn org_inbox(
        &self,
        org_id: &str,
        limit: i32,
        start: Option<Item>,
    ) -> Result<(Vec<(String, i64)>, Option<Item>), StoreError> {
        self.conversations_on_gsi(inbox_gsi_pk(org_id), limit, start)
            .await
    }

    async fn conversations_on_gsi(
        &self,
        gsi_pk: String,
        limit: i32,
        start: Option<Item>,
    ) -> Result<(Vec<(String, i64)>, Option<Item>), StoreError> {
        let out = self
            .client
            .query()
            .table_name(&self.table)
            .index_name(GSI1)
            .key_condition_expression("GSI1PK = :u")
            .expression_attribute_values(":u", s(gsi_pk))
            .scan_index_forward(false)
            .limit(limit)
            .set_exclusive_start_key(start)
            .send()
            .await
            .map_err(sdk_err)?;
        let mut rows = Vec::new();
        for item in out.items() {
            let conv = req_s(item, "PK")?
                .strip_prefix("CONV#")
                .map(str::to_string)
                .ok_or_else(|| StoreError::Corrupt("conversation PK".into()))?;
            rows.push((conv, get_n(item, "unread_count").unwrap_or(0)));
        }
        Ok((rows, out.last_evaluated_key.filter(|k| !k.is_empty())))
    }

    // ---- messages -----------------------------------------------------

    pub async fn query_messages(
        &self,
        conv_id: &str,
        ascending: bool,
        limit: i32,
        start: Option<Item>,
    ) -> Result<(Vec<Message>, Option<Item>), StoreError> {
        let out = self
            .client
            .query()
            .table_name(&self.table)
            .key_condition_expression("PK = :pk AND begins_with(SK, :m)")
            .expression_attribute_values(":pk", s(conv_pk(conv_id)))
            .expression_attribute_values(":m", s("MSG#"))
            .scan_index_forward(ascending)
            .limit(limit)
            .set_exclusive_start_key(start)
            .send()
            .await
            .map_err(sdk_err)?;
        let msgs = out
            .items()
            .iter()
            .map(message_from)
            .collect::<Result<Vec<_>, _>>()?;
        Ok((msgs, out.last_evaluated_key.filter(|k| !k.is_empty())))
    }

    pub async fn get_message(
        &self,
        conv_id: &str,
        sk: &str,
    ) -> Result<Option<Message>, StoreError> {
        self.get(key(conv_pk(conv_id), sk))
            .await?
            .map(|i| message_from(&i))
            .transpose()
    }

    /// Store a message with everything it changes, in one transaction:
    /// the message, the conversation's analytics (guarded by `version`),
    /// every active participant's activity key, the others' unread counters
    /// (per conversation and per user), the idempotency record and the
    /// Twilio SID guard.
    pub async fn store_message(
        &self,
        head: &Head,
        msg: &Message,
        fx: &MessageEffects,
        idem: Option<&IdemRecord>,
    ) -> Result<StoreMessageOutcome, StoreError> {
        let conv = &head.meta.id;
        let mut items = Vec::new();
        let msg_item = message_item(msg);
        items.push(self.put(msg_item, Some("attribute_not_exists(PK)"))?);
        let meta_idx = items.len();
        // The head is current (the write checks `version`), so whether this
        // message is the newest is decided here. One that lost a race to a
        // newer message is stored and counted, but does not become the last
        // message, nor move activity or read horizons back in time.
        let newest = match (&head.meta.last_message_at, &head.meta.last_message_id) {
            (Some(at), Some(id)) => {
                (msg.created_at.as_str(), msg.id.as_str()) > (at.as_str(), id.as_str())
            }
            _ => true,
        };
        let first_at = match &head.meta.first_message_at {
            Some(first) if first.as_str() < msg.created_at.as_str() => first.clone(),
            _ => msg.created_at.clone(),
        };
        let mut set = String::from(
            "SET version = version + :one, message_count = message_count + :one, \
             first_message_at = :first, pending_side = :ps, pending_since = :pss",
        );
        let mut values = vec![
            (":one", n(1)),
            (":v", n(head.meta.version)),
            (":first", s(first_at)),
            (":ps", s(&fx.pending_side)),
            (":pss", s(&fx.pending_since)),
        ];
        if newest {
            set.push_str(
                ", last_message_at = :now, last_message_id = :mid, \
                 last_message_preview = :pv, last_message_author = :au",
            );
            if head.meta.inbox.is_some() {
                // The inbox orders by the conversation item's own key.
                set.push_str(", GSI1SK = :g");
                values.push((":g", s(activity_sk(&msg.created_at, conv))));
            }
            values.extend([
                (":now", s(&msg.created_at)),
                (":mid", s(&msg.id)),
                (":pv", s(&fx.preview)),
                (":au", s(&msg.author_id)),
            ]);
        }
        if let Some(i) = msg.twilio_index {
            set.push_str(", last_message_index = :ix");
            let ix = head.meta.last_message_index.map_or(i, |cur| cur.max(i));
            values.push((":ix", n(ix)));
        }
        if let Some(ms) = fx.response_ms {
            set.push_str(
                ", response_count = response_count + :one, \
                 response_total_ms = response_total_ms + :rt, \
                 first_response_ms = if_not_exists(first_response_ms, :rt)",
            );
            values.push((":rt", n(ms)));
        }
        items.push(self.update(
            key(conv_pk(conv), META_SK),
            &set,
            Some("version = :v"),
            values,
        )?);
        let gsk = activity_sk(&msg.created_at, conv);
        for p in head.participants.iter().filter(|p| p.is_active) {
            if p.user_id == msg.author_id {
                if newest {
                    // The author has read up to their own message.
                    items.push(self.update(
                        key(conv_pk(conv), part_sk(&p.user_id)),
                        "SET GSI1SK = :g, last_read_at = :now, last_read_message_id = :mid",
                        None,
                        vec![
                            (":g", s(&gsk)),
                            (":now", s(&msg.created_at)),
                            (":mid", s(&msg.id)),
                        ],
                    )?);
                }
            } else {
                let (expr, mut values) = if newest {
                    (
                        "SET GSI1SK = :g ADD unread_count :one",
                        vec![(":g", s(&gsk))],
                    )
                } else {
                    ("ADD unread_count :one", vec![])
                };
                values.push((":one", n(1)));
                items.push(self.update(
                    key(conv_pk(conv), part_sk(&p.user_id)),
                    expr,
                    None,
                    values,
                )?);
                items.extend(self.add_unread(counters_key(&p.user_id), 1)?);
            }
        }
        if let Some(idem) = idem {
            items.push(self.update(
                key(&idem.pk, "#IDEM"),
                "SET #st = :sent, message_sk = :sk",
                None,
                vec![(":sent", s("sent")), (":sk", s(msg.sort_key()))],
            )?);
        }
        let mut sid_idx = None;
        if let Some(sid) = &msg.twilio_sid {
            sid_idx = Some(items.len());
            items.push(self.claim_sid(sid, msg)?);
        }
        match self.transact(items).await? {
            TxOutcome::Done => Ok(StoreMessageOutcome::Stored),
            TxOutcome::Contended => Ok(StoreMessageOutcome::Conflict),
            TxOutcome::ConditionFailed(failed) => {
                let sid_failed = failed.iter().find(|(i, _)| Some(*i) == sid_idx);
                if let Some((_, old)) = sid_failed {
                    if old.as_ref().is_some_and(|o| o.contains_key("message_sk")) {
                        return Ok(StoreMessageOutcome::Duplicate);
                    }
                    // A status callback got there first with a newer status.
                    return Ok(StoreMessageOutcome::Conflict);
                }
                if failed.iter().any(|(i, _)| *i == meta_idx) {
                    Ok(StoreMessageOutcome::Conflict)
                } else {
                    Err(StoreError::Sdk(format!(
                        "message transaction condition failed at {:?}",
                        failed.iter().map(|(i, _)| i).collect::<Vec<_>>()
                    )))
                }
            }
        }
    }

    /// The Twilio SID guard of a message: claims the SID for this message
    /// (a second claim is a duplicate) and refuses to store a status older
    /// than one a status callback already recorded there.
    pub(crate) fn claim_sid(
        &self,
        sid: &str,
        msg: &Message,
    ) -> Result<TransactWriteItem, StoreError> {
        let update = Update::builder()
            .table_name(&self.table)
            .set_key(Some(key(format!("SID#{sid}"), "#SID")))
            .update_expression("SET conversation_id = :c, message_sk = :sk")
            .condition_expression(
                "attribute_not_exists(message_sk) AND \
                 (attribute_not_exists(status_rank) OR status_rank <= :r)",
            )
            .expression_attribute_values(":c", s(&msg.conversation_id))
            .expression_attribute_values(":sk", s(msg.sort_key()))
            .expression_attribute_values(":r", n(crate::domain::status_rank(&msg.status)))
            .return_values_on_condition_check_failure(
                aws_sdk_dynamodb::types::ReturnValuesOnConditionCheckFailure::AllOld,
            )
            .build()
            .map_err(build_err)?;
        Ok(TransactWriteItem::builder().update(update).build())
    }

    // ---- read state ---------------------------------------------------

    /// Zero the participant's unread count and move their read horizon.
    /// `Ok(false)`: the count changed meanwhile; reload and retry.
    pub async fn mark_read(
        &self,
        conv_id: &str,
        p: &Participant,
        read_at: &str,
        last_message_id: Option<&str>,
    ) -> Result<bool, StoreError> {
        let mut expr = String::from("SET unread_count = :zero, last_read_at = :t");
        let mut values = vec![
            (":zero", n(0)),
            (":t", s(read_at)),
            (":n", n(p.unread_count)),
            (":yes", b(true)),
        ];
        if let Some(mid) = last_message_id {
            expr.push_str(", last_read_message_id = :mid");
            values.push((":mid", s(mid)));
        }
        let mut items = vec![self.update(
            key(conv_pk(conv_id), part_sk(&p.user_id)),
            &expr,
            Some("unread_count = :n AND is_active = :yes"),
            values,
        )?];
        items.extend(self.add_unread(counters_key(&p.user_id), -p.unread_count)?);
        Ok(matches!(self.transact(items).await?, TxOutcome::Done))
    }

    pub async fn unread_total(&self, user_id: &str) -> Result<i64, StoreError> {
        self.counter(counters_key(user_id), "unread_total").await
    }

    /// `ADD unread_total` on a counters item (`None` when `delta` is 0).
    pub(crate) fn add_unread(
        &self,
        counters: Item,
        delta: i64,
    ) -> Result<Option<TransactWriteItem>, StoreError> {
        if delta == 0 {
            return Ok(None);
        }
        self.update(
            counters,
            "ADD unread_total :d",
            None,
            vec![(":d", n(delta))],
        )
        .map(Some)
    }

    /// A counter attribute (absent counts as 0; never negative).
    pub(crate) async fn counter(&self, key: Item, attribute: &str) -> Result<i64, StoreError> {
        Ok(self
            .get(key)
            .await?
            .and_then(|i| get_n(&i, attribute))
            .unwrap_or(0)
            .max(0))
    }

    // ---- participants -------------------------------------------------

    /// Add (or re-activate) a participant. `Ok(false)`: the conversation
    /// changed meanwhile or the user is already active; reload and decide.
    pub async fn add_participant(
        &self,
        head: &Head,
        p: &Participant,
        now: &str,
    ) -> Result<bool, StoreError> {
        let conv = &head.meta.id;
        let activity = head
            .meta
            .last_message_at
            .as_deref()
            .unwrap_or(&head.meta.created_at);
        let mut summaries = head.meta.participants.clone();
        summaries.retain(|x| x.user_id != p.user_id);
        summaries.push(summary_of(p));
        let items = vec![
            self.put_with(
                participant_item(conv, p, activity),
                Some("attribute_not_exists(PK) OR is_active = :no"),
                vec![(":no", b(false))],
            )?,
            self.update(
                key(conv_pk(conv), META_SK),
                "SET version = version + :one, participant_count = participant_count + :one, \
                 participants = :ps, updated_at = :now",
                Some("version = :v"),
                vec![
                    (":one", n(1)),
                    (":v", n(head.meta.version)),
                    (":ps", summaries_value(&summaries)),
                    (":now", s(now)),
                ],
            )?,
        ];
        Ok(matches!(self.transact(items).await?, TxOutcome::Done))
    }

    /// Deactivate a participant, keeping their history. `Ok(false)`: the
    /// conversation changed meanwhile; reload and retry.
    pub async fn remove_participant(
        &self,
        head: &Head,
        p: &Participant,
        now: &str,
    ) -> Result<bool, StoreError> {
        let conv = &head.meta.id;
        let summaries: Vec<ParticipantSummary> = head
            .meta
            .participants
            .iter()
            .map(|x| ParticipantSummary {
                is_active: x.is_active && x.user_id != p.user_id,
                ..x.clone()
            })
            .collect();
        let mut items = vec![
            self.update(
                key(conv_pk(conv), part_sk(&p.user_id)),
                "SET is_active = :no, left_at = :now, unread_count = :zero REMOVE GSI1PK, GSI1SK",
                Some("is_active = :yes AND unread_count = :n"),
                vec![
                    (":no", b(false)),
                    (":yes", b(true)),
                    (":now", s(now)),
                    (":zero", n(0)),
                    (":n", n(p.unread_count)),
                ],
            )?,
            self.update(
                key(conv_pk(conv), META_SK),
                "SET version = version + :one, participant_count = participant_count - :one, \
                 participants = :ps, updated_at = :now",
                Some("version = :v"),
                vec![
                    (":one", n(1)),
                    (":v", n(head.meta.version)),
                    (":ps", summaries_value(&summaries)),
                    (":now", s(now)),
                ],
            )?,
        ];
        items.extend(self.add_unread(counters_key(&p.user_id), -p.unread_count)?);
        Ok(matches!(self.transact(items).await?, TxOutcome::Done))
    }

    // ---- idempotency --------------------------------------------------

    /// Claim an idempotency key before calling Twilio. If someone already
    /// did, return their record.
    pub async fn begin_idempotent(
        &self,
        record: &IdemRecord,
        now_epoch: i64,
    ) -> Result<IdemBegin, StoreError> {
        let mut item = key(&record.pk, "#IDEM");
        item.insert("request_hash".into(), s(&record.request_hash));
        item.insert("message_id".into(), s(&record.message_id));
        item.insert("state".into(), s(record.state.as_str()));
        item.insert("expires_at".into(), n(now_epoch + IDEM_TTL_SECS));
        if self.put_new(item).await? {
            return Ok(IdemBegin::Fresh);
        }
        let existing = self
            .get(key(&record.pk, "#IDEM"))
            .await?
            .ok_or_else(|| StoreError::Unavailable("idempotency record vanished".into()))?;
        let state = match get_s(&existing, "state").as_deref() {
            Some("sent") => IdemState::Sent,
            Some("unknown") => IdemState::Unknown,
            _ => IdemState::Pending,
        };
        Ok(IdemBegin::Existing(IdemRecord {
            pk: record.pk.clone(),
            request_hash: req_s(&existing, "request_hash")?,
            message_id: req_s(&existing, "message_id")?,
            state,
            message_sk: get_s(&existing, "message_sk"),
        }))
    }

    /// Release a claimed key after a failure that provably sent nothing.
    pub async fn abandon_idempotent(&self, record: &IdemRecord) -> Result<(), StoreError> {
        let del = Delete::builder()
            .table_name(&self.table)
            .set_key(Some(key(&record.pk, "#IDEM")))
            .condition_expression("#st = :p")
            .expression_attribute_names("#st", "state")
            .expression_attribute_values(":p", s("pending"))
            .build()
            .map_err(build_err)?;
        self.transact(vec![TransactWriteItem::builder().delete(del).build()])
            .await
            .map(|_| ())
    }

    /// Record that a send may or may not have reached Twilio.
    pub async fn mark_idempotent_unknown(&self, record: &IdemRecord) -> Result<(), StoreError> {
        self.client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(key(&record.pk, "#IDEM")))
            .update_expression("SET #st = :u")
            .condition_expression("#st = :p")
            .expression_attribute_names("#st", "state")
            .expression_attribute_values(":u", s("unknown"))
            .expression_attribute_values(":p", s("pending"))
            .send()
            .await
            .map(|_| ())
            .map_err(sdk_err)
    }
}

fn values_map(values: Vec<(&str, AttributeValue)>) -> Option<HashMap<String, AttributeValue>> {
    (!values.is_empty()).then(|| {
        values
            .into_iter()
            .map(|(k, v)| (k.to_string(), v))
            .collect()
    })
}

fn summary_of(p: &Participant) -> ParticipantSummary {
    ParticipantSummary {
        user_id: p.user_id.clone(),
        user_type: p.user_type.clone(),
        display_name: p.display_name.clone(),
        is_active: p.is_active,
    }
}

fn summaries_value(list: &[ParticipantSummary]) -> AttributeValue {
    AttributeValue::L(
        list.iter()
            .map(|p| {
                AttributeValue::M(HashMap::from([
                    ("user_id".to_string(), s(&p.user_id)),
                    ("user_type".to_string(), s(&p.user_type)),
                    ("display_name".to_string(), s(&p.display_name)),
                    ("is_active".to_string(), b(p.is_active)),
                ]))
            })
            .collect(),
    )
}

fn meta_item(m: &ConversationMeta) -> Item {
    let mut i = key(conv_pk(&m.id), META_SK);
    i.insert("id".into(), s(&m.id));
    i.insert("kind".into(), s(&m.kind));
    opt_s(&mut i, "booking_id", &m.booking_id);
    i.insert("status".into(), s(&m.status));
    opt_s(&mut i, "twilio_sid", &m.twilio_sid);
    i.insert("created_at".into(), s(&m.created_at));
    i.insert("created_by".into(), s(&m.created_by));
    i.insert("version".into(), n(m.version));
    i.insert("message_count".into(), n(m.message_count));
    i.insert("participant_count".into(), n(m.participant_count));
    i.insert("response_count".into(), n(m.response_count));
    i.insert("response_total_ms".into(), n(m.response_total_ms));
    i.insert("participants".into(), summaries_value(&m.participants));
    i
}

fn meta_from(i: &Item) -> Result<ConversationMeta, StoreError> {
    let participants = match i.get("participants") {
        Some(AttributeValue::L(list)) => list
            .iter()
            .filter_map(|v| v.as_m().ok())
            .map(|m| ParticipantSummary {
                user_id: get_s(m, "user_id").unwrap_or_default(),
                user_type: get_s(m, "user_type").unwrap_or_default(),
                display_name: get_s(m, "display_name").unwrap_or_default(),
                is_active: get_bool(m, "is_active").unwrap_or(false),
            })
            .collect(),
        _ => Vec::new(),
    };
    Ok(ConversationMeta {
        id: req_s(i, "id")?,
        kind: req_s(i, "kind")?,
        booking_id: get_s(i, "booking_id"),
        status: req_s(i, "status")?,
        twilio_sid: get_s(i, "twilio_sid"),
        created_at: req_s(i, "created_at")?,
        created_by: get_s(i, "created_by").unwrap_or_default(),
        version: get_n(i, "version").unwrap_or(0),
        message_count: get_n(i, "message_count").unwrap_or(0),
        participant_count: get_n(i, "participant_count").unwrap_or(0),
        first_message_at: get_s(i, "first_message_at"),
        last_message_at: get_s(i, "last_message_at"),
        last_message_id: get_s(i, "last_message_id"),
        last_message_preview: get_s(i, "last_message_preview"),
        last_message_author: get_s(i, "last_message_author"),
        last_message_index: get_n(i, "last_message_index"),
        response_count: get_n(i, "response_count").unwrap_or(0),
        response_total_ms: get_n(i, "response_total_ms").unwrap_or(0),
        first_response_ms: get_n(i, "first_response_ms"),
        pending_side: get_s(i, "pending_side"),
        pending_since: get_s(i, "pending_since"),
        participants,
        inbox: inbox_meta_from(i),
    })
}

fn participant_item(conv: &str, p: &Participant, activity: &str) -> Item {
    let mut i = key(conv_pk(conv), part_sk(&p.user_id));
    i.insert("user_id".into(), s(&p.user_id));
    i.insert("user_type".into(), s(&p.user_type));
    i.insert("display_name".into(), s(&p.display_name));
    i.insert("identity".into(), s(&p.identity));
    opt_s(&mut i, "twilio_sid", &p.twilio_sid);
    i.insert("is_active".into(), b(p.is_active));
    i.insert("joined_at".into(), s(&p.joined_at));
    i.insert("unread_count".into(), n(p.unread_count));
    opt_s(&mut i, "last_read_at", &p.last_read_at);
    opt_s(&mut i, "last_read_message_id", &p.last_read_message_id);
    if p.is_active {
        i.insert("GSI1PK".into(), s(format!("USER#{}", p.user_id)));
        i.insert("GSI1SK".into(), s(activity_sk(activity, conv)));
    }
    i
}

fn participant_from(i: &Item) -> Result<Participant, StoreError> {
    Ok(Participant {
        user_id: req_s(i, "user_id")?,
        user_type: req_s(i, "user_type")?,
        display_name: get_s(i, "display_name").unwrap_or_default(),
        identity: get_s(i, "identity").unwrap_or_default(),
        twilio_sid: get_s(i, "twilio_sid"),
        is_active: get_bool(i, "is_active").unwrap_or(false),
        joined_at: get_s(i, "joined_at").unwrap_or_default(),
        left_at: get_s(i, "left_at"),
        unread_count: get_n(i, "unread_count").unwrap_or(0),
        last_read_at: get_s(i, "last_read_at"),
        last_read_message_id: get_s(i, "last_read_message_id"),
    })
}

fn message_item(msg: &Message) -> Item {
    let mut i = key(conv_pk(&msg.conversation_id), msg.sort_key());
    i.insert("id".into(), s(&msg.id));
    i.insert("conversation_id".into(), s(&msg.conversation_id));
    i.insert("author_id".into(), s(&msg.author_id));
    i.insert("author_type".into(), s(&msg.author_type));
    i.insert("body".into(), s(&msg.body));
    i.insert("created_at".into(), s(&msg.created_at));
    i.insert("status".into(), s(&msg.status));
    i.insert(
        "status_rank".into(),
        n(crate::domain::status_rank(&msg.status)),
    );
    opt_s(&mut i, "twilio_sid", &msg.twilio_sid);
    if let Some(ix) = msg.twilio_index {
        i.insert("twilio_index".into(), n(ix));
    }
    if let Some(d) = &msg.details {
        i.insert("details".into(), s(d.to_string()));
    }
    i
}

fn message_from(i: &Item) -> Result<Message, StoreError> {
    Ok(Message {
        id: req_s(i, "id")?,
        conversation_id: req_s(i, "conversation_id")?,
        author_id: req_s(i, "author_id")?,
        author_type: get_s(i, "author_type").unwrap_or_default(),
        body: get_s(i, "body").unwrap_or_default(),
        created_at: req_s(i, "created_at")?,
        twilio_sid: get_s(i, "twilio_sid"),
        twilio_index: get_n(i, "twilio_index"),
        status: get_s(i, "status").unwrap_or_else(|| "sent".into()),
        details: get_s(i, "details").and_then(|d| serde_json::from_str(&d).ok()),
        error_code: get_s(i, "error_code"),
    })
}

pub use item::{from_cursor_key, to_cursor_key};
