//! What the SQS event source mapping does in AWS, locally: long-poll the
//! queue, hand batches to `process-inbound`, delete what succeeded and leave
//! the reported failures for redelivery (and, after `maxReceiveCount`, the
//! dead-letter queue).

use aws_lambda_events::event::sqs::{SqsEvent, SqsMessage};
use aws_sdk_sqs::types::DeleteMessageBatchRequestEntry;
use shared::App;
use std::collections::HashSet;

/// Receive one batch (waiting up to `wait_secs`) and process it. Returns the
/// number of records received.
pub async fn poll_once(
    sqs: &aws_sdk_sqs::Client,
    queue_url: &str,
    app: &App,
    wait_secs: i32,
) -> Result<usize, Box<dyn std::error::Error + Send + Sync>> {
    poll_once_with(sqs, queue_url, app, wait_secs, None).await
}

/// [`poll_once`] with the received records invisible for
/// `visibility_secs` instead of the queue's timeout (tests that want
/// failed records back quickly).
pub async fn poll_once_with(
    sqs: &aws_sdk_sqs::Client,
    queue_url: &str,
    app: &App,
    wait_secs: i32,
    visibility_secs: Option<i32>,
) -> Result<usize, Box<dyn std::error::Error + Send + Sync>> {
    let out = sqs
        .receive_message()
        .queue_url(queue_url)
        .max_number_of_messages(10)
        .wait_time_seconds(wait_secs)
        .set_visibility_timeout(visibility_secs)
        .send()
        .await?;
    let messages = out.messages.unwrap_or_default();
    if messages.is_empty() {
        return Ok(0);
    }
    let mut event = SqsEvent::default();
    event.records = messages
        .iter()
        .map(|m| {
            let mut r = SqsMessage::default();
            r.message_id = m.message_id.clone();
            r.receipt_handle = m.receipt_handle.clone();
            r.body = m.body.clone();
            r.event_source = Some("aws:sqs".into());
            r
        })
        .collect();
    let Ok(response) = process_inbound::handle(app, event).await;
    let failed: HashSet<String> = response
        .batch_item_failures
        .into_iter()
        .map(|f| f.item_identifier)
        .collect();
    let entries: Vec<DeleteMessageBatchRequestEntry> = messages
        .iter()
        .enumerate()
        .filter(|(_, m)| !m.message_id.as_ref().is_some_and(|id| failed.contains(id)))
        .filter_map(|(i, m)| {
            DeleteMessageBatchRequestEntry::builder()
                .id(i.to_string())
                .receipt_handle(m.receipt_handle.clone()?)
                .build()
                .ok()
        })
        .collect();
    if !entries.is_empty() {
        sqs.delete_message_batch()
            .queue_url(queue_url)
            .set_entries(Some(entries))
            .send()
            .await?;
    }
    Ok(messages.len())
}

/// Poll forever (until the task is aborted).
pub fn spawn(
    sqs: aws_sdk_sqs::Client,
    queue_url: String,
    app: &'static App,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        loop {
            if let Err(e) = poll_once(&sqs, &queue_url, app, 1).await {
                tracing::warn!(error = %e, "poller: receive failed; retrying");
                tokio::time::sleep(std::time::Duration::from_secs(1)).await;
            }
        }
    })
}
