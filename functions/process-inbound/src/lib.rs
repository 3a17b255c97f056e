//! SQS → idempotent writes. Records are processed concurrently, each in its
//! own span; a failing record is reported in `batchItemFailures` and never
//! fails the others (SQS redelivers it, and after `maxReceiveCount` it goes
//! to the DLQ).

use aws_lambda_events::event::sqs::{BatchItemFailure, SqsBatchResponse, SqsEvent};
use shared::Core;
use shared::inbox::{ProcessError, process};
use tracing::Instrument;

pub async fn handle(
    app: &Core,
    event: SqsEvent,
) -> Result<SqsBatchResponse, std::convert::Infallible> {
    let work = event.records.iter().map(|record| {
        let id = record.message_id.clone().unwrap_or_default();
        let span = tracing::info_span!("record", message_id = %id);
        async move {
            let Some(body) = record.body.as_deref() else {
                tracing::error!("record without body");
                return Some(id);
            };
            // Boxed: `join_all` moves each record's future into its list,
            // and unboxed that copied the whole processing state (kilobytes).
            match Box::pin(process(app, body)).await {
                Ok(()) => None,
                Err(ProcessError::Permanent(why)) => {
                    tracing::error!(why, "record can never succeed; it will reach the DLQ");
                    Some(id)
                }
                Err(ProcessError::Transient(e)) => {
                    tracing::warn!(error = %e, "record failed; SQS will redeliver it");
                    Some(id)
                }
            }
        }
        .instrument(span)
    });
    let failed = futures::future::join_all(work).await;
    let mut response = SqsBatchResponse::default();
    response.batch_item_failures = failed
        .into_iter()
        .flatten()
        .map(|id| {
            let mut f = BatchItemFailure::default();
            f.item_identifier = id;
            f
        })
        .collect();
    Ok(response)
}

/// The sample events in `events/` are this function's input.
#[cfg(test)]
mod tests {
    #[test]
    fn when_the_sample_event_process_inbound_is_replayed_it_should_hold_valid_envelopes() {
        let event: aws_lambda_events::event::sqs::SqsEvent =
            serde_json::from_str(include_str!("../../../events/process-inbound.json")).unwrap();
        assert_eq!(event.records.len(), 2);
        for record in &event.records {
            let body = record.body.as_deref().expect("every record has a body");
            assert!(
                shared::envelope::Envelope::from_json(body).is_ok(),
                "{body}"
            );
        }
    }
}
