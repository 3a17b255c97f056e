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
//! Conversation head (meta + participants) sort before messages (`#` <
//! `M`), so one Query with `begins_with(SK, "#")` loads it. Every multi-item
//! write is one `TransactWriteItems` with conditions; the conversation item
//! carries a `version` that every write to it checks (optimistic locking).

pub(crate) mod accounts;
mod connections;
mod contacts;
mod conversations;
mod idempotency;
mod inbox;
mod item;
pub(crate) mod messages;
mod read_state;
pub mod stream;

use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::error::{DisplayErrorContext, SdkError};
use aws_sdk_dynamodb::types::{
    AttributeValue, Delete, KeysAndAttributes, Put, TransactWriteItem, Update,
};
use std::collections::HashMap;

use crate::domain::effects::MessageEffects;

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

    /// A conditional Put for a transaction.
    fn put(
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

    /// A conditional Update for a transaction; `names` maps `#placeholders`
    /// to attribute names that are DynamoDB reserved words.
    fn update(
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
            .set_expression_attribute_names((!names.is_empty()).then(|| {
                names
                    .iter()
                    .map(|(k, v)| (k.to_string(), v.to_string()))
                    .collect()
            }))
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
}

fn values_map(values: Vec<(&str, AttributeValue)>) -> Option<HashMap<String, AttributeValue>> {
    (!values.is_empty()).then(|| {
        values
            .into_iter()
            .map(|(k, v)| (k.to_string(), v))
            .collect()
    })
}
