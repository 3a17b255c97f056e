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
//! (`AFTER_SEQUENCE_NUMBER` the last record handled): moto replaces its
//! table object (stream included) when a transaction fails, which would
//! strand a long-lived iterator. Like the mapping's `StartingPosition:
//! LATEST`, records written before the poller started are skipped.

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
}

enum Position {
    TrimHorizon,
    After(String),
    At(String),
}

impl StreamReader {
    /// The stream of `table` on the emulator at `endpoint`.
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
        };
        let d = reader
            .call("DescribeStream", json!({"StreamArn": reader.stream_arn}))
            .await?;
        reader.shard_id = d["StreamDescription"]["Shards"][0]["ShardId"]
            .as_str()
            .ok_or("the stream has no shard")?
            .to_string();
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

/// Run the push function over the stream until the task is aborted.
pub fn spawn<P: ConnectionSender + 'static>(
    reader: StreamReader,
    core: &'static shared::Core,
    sender: P,
    idle: Duration,
    batch_size: usize,
    totals: std::sync::Arc<std::sync::Mutex<PushReport>>,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut pos = loop {
            match reader.latest().await {
                Ok(p) => break p,
                Err(e) => {
                    tracing::warn!(error = %e, "stream poller: cannot read the stream; retrying");
                    tokio::time::sleep(Duration::from_secs(1)).await;
                }
            }
        };
        let mut retries: (Option<String>, u32) = (None, 0);
        loop {
            let records = match reader.read(&pos, batch_size).await {
                Ok(r) => r,
                Err(e) => {
                    tracing::warn!(error = %e, "stream poller: read failed; retrying");
                    tokio::time::sleep(Duration::from_secs(1)).await;
                    continue;
                }
            };
            let Some(last) = records.last().and_then(seq_of) else {
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
