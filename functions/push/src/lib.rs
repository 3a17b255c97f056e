//! `push`: the table's DynamoDB stream (filtered to conversation items) in,
//! real-time events out to the sockets that may see them, through API
//! Gateway's `@connections` endpoint. Reports the first record it could not
//! push in `batchItemFailures`, so the stream retries from there; a gone
//! socket (410) is forgotten, never a failure.

use serde::Serialize;
use shared::Core;
use shared::connections::ConnectionSender;
use shared::push::deliver::{PushReport, push_records};
use shared::store::stream::StreamEvent;
use std::convert::Infallible;

/// `{"batchItemFailures": [{"itemIdentifier": "<SequenceNumber>"}]}`
#[derive(Debug, Default, Serialize, PartialEq, Eq)]
pub struct StreamBatchResponse {
    #[serde(rename = "batchItemFailures")]
    pub batch_item_failures: Vec<ItemFailure>,
}

#[derive(Debug, Serialize, PartialEq, Eq)]
pub struct ItemFailure {
    #[serde(rename = "itemIdentifier")]
    pub item_identifier: String,
}

pub struct Deps<P> {
    pub core: Core,
    pub sender: P,
}

/// The batch and what it did (the local stream poller and the tests read
/// the report; Lambda gets the response).
pub async fn handle_report(
    core: &Core,
    sender: &impl ConnectionSender,
    event: StreamEvent,
) -> (StreamBatchResponse, PushReport) {
    let report = push_records(core, sender, &event.records).await;
    let response = StreamBatchResponse {
        batch_item_failures: report
            .failed
            .iter()
            .map(|s| ItemFailure {
                item_identifier: s.clone(),
            })
            .collect(),
    };
    (response, report)
}

pub async fn handle<P: ConnectionSender>(
    deps: &Deps<P>,
    event: StreamEvent,
) -> Result<StreamBatchResponse, Infallible> {
    Ok(handle_report(&deps.core, &deps.sender, event).await.0)
}
