//! What the DynamoDB Streams event source mapping does in AWS, locally:
//! read the table's stream on the emulator (moto's server implements
//! DynamoDB Streams: ListStreams, DescribeStream, GetShardIterator,
//! GetRecords), hand the records to the `push` function as the same
//! `{"Records": [...]}` event Lambda would, and retry from the first record
//! it reports in `batchItemFailures` (then skip it after
//! [`MAX_RETRIES`], as `MaximumRetryAttempts` does).
//!
//! The stream is read with moto's own JSON protocol (`X-Amz-Target:
//! DynamoDBStreams_20120810.*`): the records come back in exactly the JSON
//! Lambda delivers. A fresh iterator is taken for every read
//! (`AFTER_SEQUENCE_NUMBER` the last record handled, or `AT` a record to
//! retry). Like the mapping's `StartingPosition: LATEST`, records written
//! before the reader was opened are skipped.
//!
//! Two ways moto's stream differs from DynamoDB's, and what is done here:
//!
//! - **A failed transaction's records.** moto undoes a failed
//!   `TransactWriteItems` by restoring a copy of the table taken before it,
//!   stream included, and reuses the undone records' sequence numbers; its
//!   iterators, though, kept reading the stream object they were made on,
//!   so an iterator taken just before such a transaction read records of
//!   writes that never happened (pushed as events: a `message.created` of a
//!   send that answered 409, then again when it was retried), and the reader
//!   then skipped the real records that took those sequence numbers (events
//!   never pushed). Taking a fresh iterator for every read did not avoid
//!   it: a transaction can fail between `GetShardIterator` and `GetRecords`. DynamoDB writes stream records for committed writes
//!   only, each under its own increasing sequence number. The fix is in the
//!   emulator wrapper (`scripts/moto_server.py`): iterators read the table's
//!   stream as it is when `GetRecords` is called.
//! - **Two INSERTs for one write.** moto's `UpdateItem` that creates its
//!   item appends two `INSERT` records: the item's keys alone, then the
//!   item as written. DynamoDB writes one record per item modified by a
//!   write, and no item is inserted twice without a `REMOVE` between, so
//!   of two `INSERT`s of the same keys in a row the first is dropped here
//!   ([`one_record_per_write`]).

use serde_json::{Value, json};
use shared::connections::ConnectionSender;
use shared::push::deliver::PushReport;
use shared::store::stream::StreamEvent;
use std::time::Duration;

use crate::stack::BoxError;

/// Deliveries of a failing record before it is skipped.
pub const MAX_RETRIES: u32 = 10;

pub struct StreamReader {
    http: reqwest::Client,
    endpoint: String,
    stream_arn: String,
    shard_id: String,
    /// Where the poller starts: the end of the stream when it was opened.
    start: Position,
}

enum Position {
    TrimHorizon,
    After(String),
    At(String),
}

impl StreamReader {
    /// The stream of `table` on the emulator at `endpoint`, positioned at
    /// its end (`LATEST`) by the time this returns: every record written
    /// afterwards is handed to the push function. (Positioning in the
    /// poller's own task instead let a test's first writes race it and be
    /// skipped; in AWS the mapping exists long before the first write.)
    pub async fn open(
        dynamodb: &aws_sdk_dynamodb::Client,
        endpoint: &str,
        table: &str,
    ) -> Result<Self, BoxError> {
        let desc = dynamodb.describe_table().table_name(table).send().await?;
        let stream_arn = desc
            .table()
            .and_then(|t| t.latest_stream_arn())
            .ok_or("the table has no stream (StreamSpecification)")?
            .to_string();
        let mut reader = Self {
            http: reqwest::Client::new(),
            endpoint: endpoint.trim_end_matches('/').to_string(),
            stream_arn,
            shard_id: String::new(),
            start: Position::TrimHorizon,
        };
        let d = reader
            .call("DescribeStream", json!({"StreamArn": reader.stream_arn}))
            .await?;
        reader.shard_id = d["StreamDescription"]["Shards"][0]["ShardId"]
            .as_str()
            .ok_or("the stream has no shard")?
            .to_string();
        reader.start = reader.latest().await?;
        Ok(reader)
    }

    async fn call(&self, action: &str, body: Value) -> Result<Value, BoxError> {
        let resp = self
            .http
            .post(&self.endpoint)
            .header("content-type", "application/x-amz-json-1.0")
            .header("x-amz-target", format!("DynamoDBStreams_20120810.{action}"))
            // The emulator routes on the signing scope; it checks no signature.
            .header(
                "authorization",
                "AWS4-HMAC-SHA256 Credential=test/20260101/us-east-1/dynamodb/aws4_request, \
                 SignedHeaders=host, Signature=0",
            )
            .body(body.to_string())
            .send()
            .await?;
        let status = resp.status();
        let text = resp.text().await?;
        if !status.is_success() {
            return Err(format!("{action}: {status} {text}").into());
        }
        Ok(serde_json::from_str(&text)?)
    }

    async fn read(&self, from: &Position, limit: usize) -> Result<Vec<Value>, BoxError> {
        let mut req = json!({"StreamArn": self.stream_arn, "ShardId": self.shard_id});
        match from {
            Position::TrimHorizon => req["ShardIteratorType"] = json!("TRIM_HORIZON"),
            Position::After(s) => {
                req["ShardIteratorType"] = json!("AFTER_SEQUENCE_NUMBER");
                req["SequenceNumber"] = json!(s);
            }
            Position::At(s) => {
                req["ShardIteratorType"] = json!("AT_SEQUENCE_NUMBER");
                req["SequenceNumber"] = json!(s);
            }
        }
        let it = self.call("GetShardIterator", req).await?;
        let it = it["ShardIterator"].as_str().ok_or("no shard iterator")?;
        let out = self
            .call("GetRecords", json!({"ShardIterator": it, "Limit": limit}))
            .await?;
        Ok(out["Records"].as_array().cloned().unwrap_or_default())
    }

    /// The last record now in the stream (where `LATEST` starts).
    async fn latest(&self) -> Result<Position, BoxError> {
        let mut pos = Position::TrimHorizon;
        loop {
            let records = self.read(&pos, 1000).await?;
            match records.last().and_then(seq_of) {
                Some(s) => pos = Position::After(s),
                None => return Ok(pos),
            }
        }
    }
}

fn seq_of(r: &Value) -> Option<String> {
    r["dynamodb"]["SequenceNumber"].as_str().map(str::to_string)
}

fn is_insert(r: &Value) -> bool {
    r["eventName"] == "INSERT"
}

/// The records of one read as DynamoDB would have written them: of two
/// `INSERT`s of the same keys in a row (moto's `UpdateItem` creating its
/// item: keys alone, then the item), only the second. Both are appended by
/// one request, so a read has both unless `Limit` cut between them: a full
/// read (`full`) ending on an `INSERT` holds that record back for the next
/// read, which then sees the pair. Returns the records to handle and the
/// last record consumed (where the next read starts after), `None` for an
/// empty read.
pub fn one_record_per_write(mut records: Vec<Value>, full: bool) -> (Vec<Value>, Option<String>) {
    if full && records.len() > 1 && records.last().is_some_and(is_insert) {
        records.pop();
    }
    let last = records.last().and_then(seq_of);
    let mut out: Vec<Value> = Vec::with_capacity(records.len());
    for r in records {
        if is_insert(&r)
            && let Some(prev) = out.last()
            && is_insert(prev)
            && prev["dynamodb"]["Keys"] == r["dynamodb"]["Keys"]
        {
            out.pop();
        }
        out.push(r);
    }
    (out, last)
}

/// Run the push function over the stream until the task is aborted.
pub fn spawn<P: ConnectionSender + 'static>(
    mut reader: StreamReader,
    core: &'static shared::Core,
    sender: P,
    idle: Duration,
    batch_size: usize,
    totals: std::sync::Arc<std::sync::Mutex<PushReport>>,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut pos = std::mem::replace(&mut reader.start, Position::TrimHorizon);
        let mut retries: (Option<String>, u32) = (None, 0);
        loop {
            let records = match reader.read(&pos, batch_size).await {
                Ok(r) => {
                    let full = r.len() >= batch_size;
                    one_record_per_write(r, full)
                }
                Err(e) => {
                    tracing::warn!(error = %e, "stream poller: read failed; retrying");
                    tokio::time::sleep(Duration::from_secs(1)).await;
                    continue;
                }
            };
            let (records, Some(last)) = records else {
                tokio::time::sleep(idle).await;
                continue;
            };
            let report = deliver(core, &sender, &records).await;
            if let Ok(mut t) = totals.lock() {
                t.events += report.events;
                t.frames += report.frames;
                t.gone += report.gone;
                t.storage_requests += report.storage_requests;
                t.failed.extend(report.failed.iter().cloned());
            }
            // Retry from the lowest failed record, as the mapping does.
            let lowest = report
                .failed
                .iter()
                .min_by_key(|s| s.parse::<u128>().unwrap_or(u128::MAX))
                .cloned();
            pos = match lowest {
                None => Position::After(last),
                Some(failed) => {
                    let count = if retries.0.as_deref() == Some(&failed) {
                        retries.1 + 1
                    } else {
                        1
                    };
                    retries = (Some(failed.clone()), count);
                    if count > MAX_RETRIES {
                        tracing::error!(sequence = %failed, "stream poller: record skipped after retries");
                        Position::After(failed)
                    } else {
                        tokio::time::sleep(Duration::from_millis(100)).await;
                        Position::At(failed)
                    }
                }
            };
        }
    })
}

/// One batch through the push function, in Lambda's event shape.
pub async fn deliver(
    core: &shared::Core,
    sender: &impl ConnectionSender,
    records: &[Value],
) -> PushReport {
    let event: StreamEvent = match serde_json::from_value(json!({ "Records": records })) {
        Ok(e) => e,
        Err(e) => {
            tracing::error!(error = %e, "stream poller: records not in Lambda's shape");
            return PushReport::default();
        }
    };
    push::handle_report(core, sender, event).await.1
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(seq: u32, event: &str, pk: &str, image: Value) -> Value {
        json!({
            "eventName": event,
            "dynamodb": {
                "Keys": {"PK": {"S": pk}, "SK": {"S": "#X"}},
                "NewImage": image,
                "SequenceNumber": seq.to_string(),
            }
        })
    }

    fn seqs(records: &[Value]) -> Vec<String> {
        records.iter().filter_map(seq_of).collect()
    }

    #[test]
    fn when_an_update_creates_its_item_only_the_insert_of_the_item_as_written_should_be_handled() {
        let keys_only = json!({"PK": {"S": "a"}, "SK": {"S": "#X"}});
        let full = json!({"PK": {"S": "a"}, "SK": {"S": "#X"}, "n": {"N": "1"}});
        let records = vec![
            rec(1, "INSERT", "b", full.clone()),
            rec(2, "INSERT", "a", keys_only),
            rec(3, "INSERT", "a", full.clone()),
            rec(4, "MODIFY", "a", full.clone()),
            rec(5, "REMOVE", "a", Value::Null),
            rec(6, "INSERT", "a", full.clone()),
        ];
        let (out, last) = one_record_per_write(records, false);
        // 2 dropped; 6 is a new item after the REMOVE, kept.
        assert_eq!(seqs(&out), ["1", "3", "4", "5", "6"]);
        assert_eq!(last.as_deref(), Some("6"));
        assert_eq!(out[1]["dynamodb"]["NewImage"]["n"]["N"], "1");
    }

    #[test]
    fn when_a_full_read_ends_on_an_insert_it_should_be_held_for_the_next_read() {
        let full = json!({"PK": {"S": "a"}});
        let records = vec![
            rec(1, "MODIFY", "b", full.clone()),
            rec(2, "INSERT", "a", full.clone()),
        ];
        let (out, last) = one_record_per_write(records.clone(), true);
        assert_eq!(seqs(&out), ["1"]);
        assert_eq!(last.as_deref(), Some("1"));
        // Not full: nothing more to come in this read.
        let (out, last) = one_record_per_write(records, false);
        assert_eq!(seqs(&out), ["1", "2"]);
        assert_eq!(last.as_deref(), Some("2"));
        assert_eq!(one_record_per_write(Vec::new(), false).1, None);
    }
}
