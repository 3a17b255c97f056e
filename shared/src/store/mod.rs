//! The DynamoDB adapter: one table, generic `PK`/`SK`, two GSIs (`GSI1`
//! for a user's and an org's conversations by activity and an org's chat
//! accounts, `GSI2` for an org's inbox conversations per provider by the
//! contact's last message). One file per item type; inbox items are listed
//! in `inbox.rs` and `accounts.rs`.
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
//! | contact link          | `CONTACTID#<org>#<provider>#<address>` | `#CONTACTID` | (`contacts.rs`)          |
//!
//! The calls a message makes on the hot paths (`GetItem`, `PutItem`, the
//! head's `Query`, `TransactWriteItems`) go through [`crate::dynamo`]
//! (hand-made requests, no SDK orchestrator); every other call through the
//! SDK's client. Both share the process's one HTTPS connector.
//!
//! Conversation head (meta + participants) sort before messages (`#` <
//! `M`), so one Query with `begins_with(SK, "#")` loads it. Every multi-item
//! write is one `TransactWriteItems` with conditions; the conversation item
//! carries a `version` that every write to it checks (optimistic locking).

pub(crate) mod accounts;
mod connections;
mod contacts;
mod conversations;
mod head;
mod idempotency;
mod inbox;
mod item;
pub(crate) mod messages;
mod read_state;
pub mod stream;

use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::error::{DisplayErrorContext, SdkError};
use aws_sdk_dynamodb::types::{AttributeValue, KeysAndAttributes};
use std::borrow::Cow;
use std::sync::Arc;

use crate::domain::effects::MessageEffects;
use crate::dynamo::{AttrList, Dynamo, TransactError, TxKind, TxWrite};

pub use crate::model::{
    ChatAccount, InboundOutcome, InboundWrite, InboxImport, InboxMeta, ProviderStats, PutAccount,
    StatusOutcome,
};
pub use crate::model::{
    ConversationMeta, Head, IdemBegin, IdemRecord, IdemState, Message, Participant,
    ParticipantSummary, StoreMessageOutcome,
};
pub use crate::ports::StoreError;
pub use connections::{org_agents_pk, user_connections_pk};
pub use inbox::provider_gsi_pk;
use item::*;
pub use item::{Item, from_cursor_key, to_cursor_key};

pub const GSI1: &str = "GSI1";
/// Idempotency records are kept this long (DynamoDB TTL on `expires_at`).
const IDEM_TTL_SECS: i64 = 7 * 24 * 3600;

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

/// A hand-made call's failure ([`crate::dynamo`]), classified as
/// [`sdk_err`] classifies the SDK's.
fn wire_err(e: crate::awsjson::AwsError) -> StoreError {
    if e.is_transient() {
        StoreError::Unavailable(e.to_string())
    } else {
        StoreError::Sdk(e.to_string())
    }
}

/// A conditional hand-made write whose condition did not hold.
fn is_wire_condition_failure(e: &crate::awsjson::AwsError) -> bool {
    e.code() == Some("ConditionalCheckFailedException")
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

/// The store's DynamoDB clients: the SDK's, and the hand-made calls of
/// the hot paths ([`crate::dynamo`]), over one configuration.
#[derive(Clone, Debug)]
pub struct DynamoClients {
    pub sdk: Client,
    pub wire: Arc<Dynamo>,
}

impl DynamoClients {
    /// Both clients from `sdk`, the hand-made calls over `connector` (the
    /// process's one HTTPS connector, which `sdk`'s HTTP client also uses
    /// in a function).
    pub fn new(
        sdk: &aws_config::SdkConfig,
        connector: impl Into<crate::awsjson::Transport>,
    ) -> Result<Self, crate::awsjson::AwsError> {
        Ok(Self {
            sdk: Client::new(sdk),
            wire: Arc::new(Dynamo::new(sdk, connector)?),
        })
    }
}

#[derive(Clone)]
pub struct Store {
    client: Client,
    wire: Arc<Dynamo>,
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
    pub fn new(clients: DynamoClients, table: impl Into<String>) -> Self {
        Self {
            client: clients.sdk,
            wire: clients.wire,
            table: table.into(),
        }
    }

    pub fn table(&self) -> &str {
        &self.table
    }

    /// Read the hand-made calls' credentials now (init), so the first
    /// message does not.
    pub async fn prefetch_credentials(&self) {
        self.wire.prefetch_credentials().await
    }

    /// A conditional Put for a transaction.
    fn put<'a>(
        &'a self,
        item: impl IntoAttrs<'a>,
        condition: Option<&'a str>,
        values: Vec<(&'a str, AttributeValue)>,
    ) -> TxWrite<'a> {
        let mut put = TxWrite::new(TxKind::Put, &self.table, item.into_attrs());
        put.condition = condition.map(Cow::Borrowed);
        put.values = value_list(values);
        put
    }

    /// A conditional Update for a transaction; `names` maps `#placeholders`
    /// to attribute names that are DynamoDB reserved words.
    fn update<'a>(
        &'a self,
        key: impl IntoAttrs<'a>,
        expr: impl Into<Cow<'a, str>>,
        condition: Option<&'a str>,
        values: Vec<(&'a str, AttributeValue)>,
        names: &[(&'a str, &'a str)],
    ) -> TxWrite<'a> {
        let mut update = TxWrite::new(TxKind::Update, &self.table, key.into_attrs());
        update.update = Some(expr.into());
        update.condition = condition.map(Cow::Borrowed);
        update.values = value_list(values);
        update.names = names.to_vec();
        update
    }

    async fn transact(&self, items: Vec<TxWrite<'_>>) -> Result<TxOutcome, StoreError> {
        let reasons = match self.wire.transact_write(&items).await {
            Ok(()) => return Ok(TxOutcome::Done),
            Err(TransactError::Cancelled(c)) => c.reasons,
            Err(TransactError::Call(e)) => return Err(wire_err(e)),
        };
        let has = |want: &str| {
            reasons
                .iter()
                .any(|(code, _)| code.as_deref() == Some(want))
        };
        if !has("ConditionalCheckFailed") {
            if has("TransactionConflict") {
                return Ok(TxOutcome::Contended);
            }
            // Throttled or another transient cancellation.
            return Err(StoreError::Unavailable(format!(
                "transaction cancelled: {:?}",
                reasons
                    .iter()
                    .filter_map(|(code, _)| code.as_deref())
                    .collect::<Vec<_>>()
            )));
        }
        Ok(TxOutcome::ConditionFailed(
            reasons
                .into_iter()
                .enumerate()
                .filter(|(_, (code, _))| code.as_deref() == Some("ConditionalCheckFailed"))
                .map(|(i, (_, item))| (i, item))
                .collect(),
        ))
    }

    async fn get(&self, key: Item) -> Result<Option<Item>, StoreError> {
        self.wire
            .get_item(&self.table, &key, true)
            .await
            .map_err(wire_err)
    }

    /// [`get`](Self::get), the item read straight into a [`Record`](crate::dynamo::Record).
    async fn get_record<T: crate::dynamo::Record>(
        &self,
        key: Item,
    ) -> Result<Option<T>, StoreError> {
        self.wire
            .get_record(&self.table, &key, true)
            .await
            .map_err(wire_err)
    }
}

/// An expression's values as a transaction write holds them.
fn value_list(values: Vec<(&str, AttributeValue)>) -> AttrList<'_> {
    values
        .into_iter()
        .map(|(k, v)| (Cow::Borrowed(k), v))
        .collect()
}

/// What a transaction write's item or key can be made from: the SDK's map
/// (its names moved) or a list as it is.
trait IntoAttrs<'a> {
    fn into_attrs(self) -> AttrList<'a>;
}

impl<'a> IntoAttrs<'a> for Item {
    fn into_attrs(self) -> AttrList<'a> {
        crate::dynamo::attrs_of(self)
    }
}

impl<'a> IntoAttrs<'a> for AttrList<'a> {
    fn into_attrs(self) -> AttrList<'a> {
        self
    }
}
