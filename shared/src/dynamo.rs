//! DynamoDB's item calls on the hot paths by hand: `GetItem`, `PutItem`,
//! `Query` and `TransactWriteItems`, the calls `process-inbound` and
//! `send-message` make per message (BENCHMARKS.md, round 10).
//!
//! The same requests the DynamoDB crate sends (its JSON protocol,
//! `DynamoDB_20120810.*`), built from the crate's [`AttributeValue`] and,
//! for a transaction, the store's own [`TxWrite`]s (the SDK's
//! `TransactWriteItem` without its maps), signed and sent by
//! [`crate::awsjson`] (the SDK's signer, credentials, retries and
//! timeouts) over the process's one HTTPS connector. Every other DynamoDB
//! call of the store still goes through the crate's client.
//!
//! - **Endpoint**: resolved once, by the DynamoDB crate's own resolver, from
//!   the configuration's region, FIPS and dual-stack settings and its
//!   configured endpoint (`AWS_ENDPOINT_URL_DYNAMODB`, then
//!   `AWS_ENDPOINT_URL`), as the crate's client resolves it.
//! - **Idempotent transactions**: every `TransactWriteItems` carries a
//!   fresh `ClientRequestToken` (a random UUID, as the crate generates),
//!   the same on each retry of the call, so a transaction whose answer was
//!   lost and is retried is applied once.
//! - **Answers**: items are read into the crate's types, or, for the
//!   store's hottest reads, straight into a fixed shape ([`Record`]: no
//!   map, no copy of the attribute names); a cancelled transaction's
//!   reasons (code, and the old item where asked) are kept.
//!
//! Tests: each request's JSON is compared with the one the crate's client
//! sends for the same input, and each answer read is compared with the
//! crate's reading of it (unit tests here); every store test on the
//! emulator goes through these calls.

use std::collections::HashMap;

use aws_config::SdkConfig;
use aws_sdk_dynamodb::primitives::Blob;
use aws_sdk_dynamodb::types::AttributeValue;
use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use serde::de::{self, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde::ser::{self, SerializeMap, Serializer};
use serde::{Deserialize, Serialize};

use crate::awsjson::{self, AwsError};

pub type Item = HashMap<String, AttributeValue>;

const PROTOCOL: awsjson::Protocol = awsjson::Protocol {
    service: "DynamoDB",
    signing_name: "dynamodb",
    content_type: "application/x-amz-json-1.0",
};

/// The DynamoDB endpoint the crate's client of `sdk` calls (see the
/// module docs).
pub fn endpoint(sdk: &SdkConfig) -> Result<String, AwsError> {
    use aws_sdk_dynamodb::config::endpoint::{DefaultResolver, Params, ResolveEndpoint};
    let params = Params::builder()
        .set_region(sdk.region().map(|r| r.to_string()))
        .set_use_fips(sdk.use_fips())
        .set_use_dual_stack(sdk.use_dual_stack())
        .set_endpoint(awsjson::configured_endpoint(sdk, "DynamoDB"))
        .build()
        .map_err(|e| AwsError::Config(format!("DynamoDB endpoint: {e}")))?;
    awsjson::resolved("DynamoDB", DefaultResolver::new().resolve_endpoint(&params))
}

/// A `Query` (the parts the store uses).
#[derive(Debug)]
pub struct Query<'a> {
    pub table: &'a str,
    pub index: Option<&'a str>,
    pub key_condition: &'a str,
    pub values: &'a Item,
    pub consistent_read: bool,
    /// `false`: newest first.
    pub scan_index_forward: Option<bool>,
    pub limit: Option<i32>,
    pub start: Option<&'a Item>,
}

/// One page of a `Query`: its items and the key to go on from, if any.
#[derive(Debug)]
pub struct Page<I = Item> {
    pub items: Vec<I>,
    pub last_evaluated_key: Option<Item>,
}

impl<I> Page<I> {
    /// The same page, each item turned into `J`.
    fn map<J>(self, f: impl FnMut(I) -> J) -> Page<J> {
        Page {
            items: self.items.into_iter().map(f).collect(),
            last_evaluated_key: self.last_evaluated_key,
        }
    }
}

/// Why a `TransactWriteItems` was cancelled: per item, in order, the
/// reason's code (`None`, `ConditionalCheckFailed`,
/// `TransactionConflict`, …) and the old item where one was asked for.
#[derive(Debug, PartialEq)]
pub struct Cancelled {
    pub reasons: Vec<(Option<String>, Option<Item>)>,
}

#[derive(Debug, thiserror::Error)]
pub enum TransactError {
    #[error("transaction cancelled: {0:?}")]
    Cancelled(Cancelled),
    #[error(transparent)]
    Call(#[from] AwsError),
}

/// DynamoDB's hot-path calls (see the module docs).
#[derive(Debug)]
pub struct Dynamo {
    client: awsjson::Client,
}

impl Dynamo {
    /// Calls to the DynamoDB endpoint of `sdk` ([`endpoint`]) over
    /// `connector`, with `sdk`'s credentials, retries and timeouts.
    pub fn new(
        sdk: &SdkConfig,
        connector: impl Into<awsjson::Transport>,
    ) -> Result<Self, AwsError> {
        Ok(Self {
            client: awsjson::Client::new(sdk, connector, &endpoint(sdk)?, PROTOCOL)?,
        })
    }

    /// Read the credentials now (init), so the first call does not.
    pub async fn prefetch_credentials(&self) {
        self.client.prefetch_credentials().await
    }

    /// `target`: `DynamoDB_20120810.<operation>`.
    async fn call<T: serde::de::DeserializeOwned>(
        &self,
        target: &str,
        input: &impl Serialize,
    ) -> Result<T, AwsError> {
        self.client.call_json(target, &[], input).await
    }

    /// `GetItem` of `key`, strongly consistent when `consistent`.
    pub async fn get_item(
        &self,
        table: &str,
        key: &Item,
        consistent: bool,
    ) -> Result<Option<Item>, AwsError> {
        let item: Option<ItemDe> = self.get_as(table, key, consistent).await?;
        Ok(item.map(|i| i.0))
    }

    /// [`get_item`](Self::get_item), the item read straight into a
    /// [`Record`].
    pub async fn get_record<T: Record>(
        &self,
        table: &str,
        key: &Item,
        consistent: bool,
    ) -> Result<Option<T>, AwsError> {
        let item: Option<RecordDe<T>> = self.get_as(table, key, consistent).await?;
        Ok(item.map(|i| i.0))
    }

    async fn get_as<I: serde::de::DeserializeOwned>(
        &self,
        table: &str,
        key: &Item,
        consistent: bool,
    ) -> Result<Option<I>, AwsError> {
        #[derive(Serialize)]
        #[serde(rename_all = "PascalCase")]
        struct Input<'a> {
            table_name: &'a str,
            key: Attrs<'a>,
            #[serde(skip_serializing_if = "Option::is_none")]
            consistent_read: Option<bool>,
        }
        #[derive(Deserialize)]
        #[serde(bound = "I: Deserialize<'de>")]
        struct Output<I> {
            #[serde(rename = "Item", default)]
            item: Option<I>,
        }
        let out: Output<I> = self
            .call(
                "DynamoDB_20120810.GetItem",
                &Input {
                    table_name: table,
                    key: Attrs(key),
                    consistent_read: consistent.then_some(true),
                },
            )
            .await?;
        Ok(out.item)
    }

    /// `PutItem` of `item`, under `condition` if any (a failed condition is
    /// the service error `ConditionalCheckFailedException`).
    pub async fn put_item(
        &self,
        table: &str,
        item: &Item,
        condition: Option<&str>,
    ) -> Result<(), AwsError> {
        #[derive(Serialize)]
        #[serde(rename_all = "PascalCase")]
        struct Input<'a> {
            table_name: &'a str,
            item: Attrs<'a>,
            #[serde(skip_serializing_if = "Option::is_none")]
            condition_expression: Option<&'a str>,
        }
        let _: IgnoredAny = self
            .call(
                "DynamoDB_20120810.PutItem",
                &Input {
                    table_name: table,
                    item: Attrs(item),
                    condition_expression: condition,
                },
            )
            .await?;
        Ok(())
    }

    /// One page of `query`.
    pub async fn query(&self, query: &Query<'_>) -> Result<Page, AwsError> {
        let page: Page<ItemDe> = self.query_as(query).await?;
        Ok(page.map(|i| i.0))
    }

    /// [`query`](Self::query), each item read straight into a [`Record`].
    pub async fn query_records<T: Record>(&self, query: &Query<'_>) -> Result<Page<T>, AwsError> {
        let page: Page<RecordDe<T>> = self.query_as(query).await?;
        Ok(page.map(|i| i.0))
    }

    async fn query_as<I: serde::de::DeserializeOwned>(
        &self,
        query: &Query<'_>,
    ) -> Result<Page<I>, AwsError> {
        #[derive(Serialize)]
        #[serde(rename_all = "PascalCase")]
        struct Input<'a> {
            table_name: &'a str,
            #[serde(skip_serializing_if = "Option::is_none")]
            index_name: Option<&'a str>,
            #[serde(skip_serializing_if = "Option::is_none")]
            limit: Option<i32>,
            #[serde(skip_serializing_if = "Option::is_none")]
            consistent_read: Option<bool>,
            #[serde(skip_serializing_if = "Option::is_none")]
            scan_index_forward: Option<bool>,
            #[serde(skip_serializing_if = "Option::is_none")]
            exclusive_start_key: Option<Attrs<'a>>,
            key_condition_expression: &'a str,
            expression_attribute_values: Attrs<'a>,
        }
        #[derive(Deserialize)]
        #[serde(bound = "I: Deserialize<'de>")]
        struct Output<I> {
            #[serde(rename = "Items", default)]
            items: Vec<I>,
            #[serde(rename = "LastEvaluatedKey", default)]
            last_evaluated_key: Option<ItemDe>,
        }
        let out: Output<I> = self
            .call(
                "DynamoDB_20120810.Query",
                &Input {
                    table_name: query.table,
                    index_name: query.index,
                    limit: query.limit,
                    consistent_read: query.consistent_read.then_some(true),
                    scan_index_forward: query.scan_index_forward,
                    exclusive_start_key: query.start.map(Attrs),
                    key_condition_expression: query.key_condition,
                    expression_attribute_values: Attrs(query.values),
                },
            )
            .await?;
        Ok(Page {
            items: out.items,
            last_evaluated_key: out.last_evaluated_key.map(|k| k.0),
        })
    }

    /// `TransactWriteItems` of `items`, with a fresh client token (see the
    /// module docs).
    pub async fn transact_write(&self, items: &[TxWrite<'_>]) -> Result<(), TransactError> {
        self.transact_write_with_token(items, &uuid_v4()).await
    }

    async fn transact_write_with_token(
        &self,
        items: &[TxWrite<'_>],
        token: &str,
    ) -> Result<(), TransactError> {
        let body = write::transact_body(items, token).map_err(AwsError::Config)?;
        match self
            .client
            .call_body::<IgnoredAny>("DynamoDB_20120810.TransactWriteItems", &[], &body)
            .await
        {
            Ok(_) => Ok(()),
            Err(AwsError::Service { code, body, .. }) if code == "TransactionCanceledException" => {
                Err(TransactError::Cancelled(cancelled(&body)?))
            }
            Err(e) => Err(e.into()),
        }
    }
}

/// A cancelled transaction's reasons, from its error document.
fn cancelled(body: &[u8]) -> Result<Cancelled, AwsError> {
    #[derive(Deserialize)]
    struct Reason {
        #[serde(rename = "Code", default)]
        code: Option<String>,
        #[serde(rename = "Item", default)]
        item: Option<ItemDe>,
    }
    #[derive(Deserialize)]
    struct Doc {
        #[serde(rename = "CancellationReasons", default)]
        reasons: Vec<Reason>,
    }
    let doc: Doc = serde_json::from_slice(body).map_err(|e| AwsError::Answer {
        service: "DynamoDB",
        why: format!("cancellation reasons: {e}"),
    })?;
    Ok(Cancelled {
        reasons: doc
            .reasons
            .into_iter()
            .map(|r| (r.code, r.item.map(|i| i.0)))
            .collect(),
    })
}

/// A random (version 4) UUID, as the SDK makes idempotency tokens.
fn uuid_v4() -> String {
    let mut b: [u8; 16] = fastrand::u128(..).to_be_bytes();
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    let mut out = String::with_capacity(36);
    for (i, &x) in b.iter().enumerate() {
        if matches!(i, 4 | 6 | 8 | 10) {
            out.push('-');
        }
        crate::sigv4::push_hex(&mut out, &[x]);
    }
    out
}

/// An item (or key, or expression values) in DynamoDB's JSON.
#[derive(Clone, Copy)]
struct Attrs<'a>(&'a Item);

impl Serialize for Attrs<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut map = s.serialize_map(Some(self.0.len()))?;
        for (k, v) in self.0 {
            map.serialize_entry(k, &Av(v))?;
        }
        map.end()
    }
}

/// One attribute value in DynamoDB's JSON (`{"S": "…"}`, `{"N": "1"}`, …).
struct Av<'a>(&'a AttributeValue);

impl Serialize for Av<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        struct B64s<'a>(&'a [Blob]);
        impl Serialize for B64s<'_> {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.collect_seq(self.0.iter().map(|b| B64.encode(b.as_ref())))
            }
        }
        struct List<'a>(&'a [AttributeValue]);
        impl Serialize for List<'_> {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.collect_seq(self.0.iter().map(Av))
            }
        }
        let mut map = s.serialize_map(Some(1))?;
        match self.0 {
            AttributeValue::S(v) => map.serialize_entry("S", v)?,
            AttributeValue::N(v) => map.serialize_entry("N", v)?,
            AttributeValue::B(v) => map.serialize_entry("B", &B64.encode(v.as_ref()))?,
            AttributeValue::Bool(v) => map.serialize_entry("BOOL", v)?,
            AttributeValue::Null(v) => map.serialize_entry("NULL", v)?,
            AttributeValue::Ss(v) => map.serialize_entry("SS", v)?,
            AttributeValue::Ns(v) => map.serialize_entry("NS", v)?,
            AttributeValue::Bs(v) => map.serialize_entry("BS", &B64s(v))?,
            AttributeValue::L(v) => map.serialize_entry("L", &List(v))?,
            AttributeValue::M(v) => map.serialize_entry("M", &Attrs(v))?,
            _ => return Err(ser::Error::custom("an unknown attribute value")),
        }
        map.end()
    }
}

/// An item read from DynamoDB's JSON.
struct ItemDe(Item);

impl<'de> Deserialize<'de> for ItemDe {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = ItemDe;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a DynamoDB item")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<ItemDe, A::Error> {
                // JSON does not say how many attributes follow: they are
                // gathered first and the map is made once at its size, not
                // grown (every growth hashes each key again).
                let mut pairs = Vec::with_capacity(map.size_hint().unwrap_or(16));
                while let Some(k) = map.next_key::<String>()? {
                    let v: AvDe = map.next_value()?;
                    pairs.push((k, v.0));
                }
                let mut item = HashMap::with_capacity(pairs.len());
                // A repeated name keeps its last value, as inserting did.
                item.extend(pairs);
                Ok(ItemDe(item))
            }
        }
        d.deserialize_map(V)
    }
}

/// An item read attribute by attribute into a fixed shape, without an
/// [`Item`] in between: no map, no copy of each attribute's name, and the
/// attributes the shape has no place for are skipped without being kept.
/// The store reads its hottest items so (a conversation's head).
pub trait Record: Default {
    /// Where an attribute goes.
    type Slot: Copy;
    /// The place of the attribute `name`; `None`: skip it.
    fn slot(name: &str) -> Option<Self::Slot>;
    /// Keep `value` in `slot` (a later value for the same slot replaces
    /// it, as a repeated name does in an [`Item`]).
    fn put(&mut self, slot: Self::Slot, value: AttributeValue);
}

/// A [`Record`] read from DynamoDB's JSON.
pub struct RecordDe<T>(pub T);

impl<'de, T: Record> Deserialize<'de> for RecordDe<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Name<T>(std::marker::PhantomData<T>);
        impl<'de, T: Record> de::DeserializeSeed<'de> for Name<T> {
            type Value = Option<T::Slot>;
            fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
                d.deserialize_str(self)
            }
        }
        impl<T: Record> Visitor<'_> for Name<T> {
            type Value = Option<T::Slot>;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("an attribute name")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
                Ok(T::slot(v))
            }
        }
        struct V<T>(std::marker::PhantomData<T>);
        impl<'de, T: Record> Visitor<'de> for V<T> {
            type Value = RecordDe<T>;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a DynamoDB item")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<RecordDe<T>, A::Error> {
                let mut record = T::default();
                while let Some(slot) = map.next_key_seed(Name::<T>(std::marker::PhantomData))? {
                    match slot {
                        Some(slot) => record.put(slot, map.next_value::<AvDe>()?.0),
                        None => {
                            map.next_value::<IgnoredAny>()?;
                        }
                    }
                }
                Ok(RecordDe(record))
            }
        }
        d.deserialize_map(V(std::marker::PhantomData))
    }
}

/// [`Record`] of an [`Item`] already read (the same slots, the same
/// values): the one way a record is made from an SDK answer or a stream
/// record's image.
pub fn record_of<T: Record>(item: Item) -> T {
    let mut record = T::default();
    for (name, value) in item {
        if let Some(slot) = T::slot(&name) {
            record.put(slot, value);
        }
    }
    record
}

/// An attribute value read from DynamoDB's JSON.
struct AvDe(AttributeValue);

#[derive(Deserialize)]
enum Tag {
    S,
    N,
    B,
    #[serde(rename = "BOOL")]
    Bool,
    #[serde(rename = "NULL")]
    Null,
    #[serde(rename = "SS")]
    Ss,
    #[serde(rename = "NS")]
    Ns,
    #[serde(rename = "BS")]
    Bs,
    L,
    M,
    #[serde(other)]
    Other,
}

fn blob<E: de::Error>(s: &str) -> Result<Blob, E> {
    B64.decode(s)
        .map(Blob::new)
        .map_err(|e| E::custom(format!("binary attribute: {e}")))
}

impl<'de> Deserialize<'de> for AvDe {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = AvDe;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a DynamoDB attribute value")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<AvDe, A::Error> {
                let tag: Tag = map
                    .next_key()?
                    .ok_or_else(|| de::Error::custom("an empty attribute value"))?;
                let v = match tag {
                    Tag::S => AttributeValue::S(map.next_value()?),
                    Tag::N => AttributeValue::N(map.next_value::<NumberText>()?.0),
                    Tag::B => AttributeValue::B(blob(&map.next_value::<String>()?)?),
                    Tag::Bool => AttributeValue::Bool(map.next_value()?),
                    Tag::Null => AttributeValue::Null(map.next_value()?),
                    Tag::Ss => AttributeValue::Ss(map.next_value()?),
                    Tag::Ns => AttributeValue::Ns(map.next_value()?),
                    Tag::Bs => AttributeValue::Bs(
                        map.next_value::<Vec<String>>()?
                            .iter()
                            .map(|s| blob(s))
                            .collect::<Result<_, _>>()?,
                    ),
                    Tag::L => AttributeValue::L(map.next_value::<ListDe>()?.0),
                    Tag::M => AttributeValue::M(map.next_value::<ItemDe>()?.0),
                    // The SDK keeps such a value as `Unknown`, which only it
                    // can make; no item of this store has one.
                    Tag::Other => return Err(de::Error::custom("an unknown attribute type")),
                };
                while map.next_key::<IgnoredAny>()?.is_some() {
                    map.next_value::<IgnoredAny>()?;
                }
                Ok(AvDe(v))
            }
        }
        d.deserialize_map(V)
    }
}

/// A number attribute: its text, or a JSON number as text (a stream
/// record's image may carry either).
struct NumberText(String);

impl<'de> Deserialize<'de> for NumberText {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = NumberText;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a number")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<NumberText, E> {
                Ok(NumberText(v.to_string()))
            }
            fn visit_string<E: de::Error>(self, v: String) -> Result<NumberText, E> {
                Ok(NumberText(v))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<NumberText, E> {
                Ok(NumberText(v.to_string()))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<NumberText, E> {
                Ok(NumberText(v.to_string()))
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<NumberText, E> {
                Ok(NumberText(v.to_string()))
            }
        }
        d.deserialize_any(V)
    }
}

/// An item in DynamoDB JSON that is already parsed (a stream record's
/// image), read as [`Dynamo`] reads answers; `None` if it is not one.
pub fn item_from_json(m: &serde_json::Map<String, serde_json::Value>) -> Option<Item> {
    let d = serde::de::value::MapDeserializer::<_, serde_json::Error>::new(
        m.iter().map(|(k, v)| (k.as_str(), v)),
    );
    ItemDe::deserialize(d).ok().map(|i| i.0)
}

struct ListDe(Vec<AttributeValue>);

impl<'de> Deserialize<'de> for ListDe {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = ListDe;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a DynamoDB list")
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<ListDe, A::Error> {
                let mut list = Vec::with_capacity(seq.size_hint().unwrap_or(4));
                while let Some(v) = seq.next_element::<AvDe>()? {
                    list.push(v.0);
                }
                Ok(ListDe(list))
            }
        }
        d.deserialize_seq(V)
    }
}

#[cfg(test)]
mod tests;
mod write;
pub use write::{AttrList, TxKind, TxWrite, attrs_of};
