//! Messages parked for a number no org had registered, replayed into the
//! org's inbox when the number is registered.
//!
//! Exactly once: a replay runs the same processing as the queue
//! ([`inbound::replay`]), whose writes are idempotent on the message's SID,
//! and forgets the parked message only after it was stored. A crash between
//! the two (or a registration retried) replays it again, which stores
//! nothing new. A message whose number still routes nowhere stays parked.

use crate::app::Core;
use crate::domain::Provider;
use crate::inbox::inbound::{self, ProcessError};
use crate::ports::{Storage, StoreError};

/// Parked messages replayed per call: a registration answers within the
/// function's timeout; what is left is replayed by repeating it.
pub const REPLAY_BUDGET: usize = 200;
/// One Query (and one BatchGetItem) per page.
const PAGE: i32 = 25;

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct ReplayReport {
    /// Messages stored into the org's inbox (or found stored already),
    /// each counted once however often it was parked.
    pub replayed: usize,
    /// Malformed parked envelopes, kept parked for an operator.
    pub skipped: usize,
    /// More are parked than this call's budget: repeat the registration.
    pub remaining: bool,
}

/// Replay what is parked awaiting `provider`'s `address`, oldest first.
pub async fn replay_parked(
    app: &Core<impl Storage>,
    provider: Provider,
    address: &str,
) -> Result<ReplayReport, StoreError> {
    let report = replay_pages(app, provider, address).await?;
    if report != ReplayReport::default() {
        tracing::info!(
            replayed = report.replayed,
            skipped = report.skipped,
            remaining = report.remaining,
            "parked messages replayed into the org's inbox"
        );
    }
    Ok(report)
}

async fn replay_pages(
    app: &Core<impl Storage>,
    provider: Provider,
    address: &str,
) -> Result<ReplayReport, StoreError> {
    let mut report = ReplayReport::default();
    let mut kept = std::collections::HashSet::new();
    // A webhook Twilio delivered twice while parked is parked twice (each
    // delivery has its own arrival time): replayed once, forgotten twice.
    let mut replayed_sids = std::collections::HashSet::new();
    loop {
        let page = app
            .store
            .parked_for(provider, address, PAGE + kept.len() as i32)
            .await?;
        let fresh: Vec<_> = page
            .into_iter()
            .filter(|p| !kept.contains(&(p.received_at.clone(), p.sid.clone())))
            .collect();
        if fresh.is_empty() {
            return Ok(report);
        }
        for parked in fresh {
            if report.replayed + report.skipped >= REPLAY_BUDGET {
                report.remaining = true;
                return Ok(report);
            }
            if replayed_sids.contains(&parked.sid) {
                app.store.unpark(&parked.received_at, &parked.sid).await?;
                continue;
            }
            match inbound::replay(app, &parked.envelope).await {
                Ok(true) => {
                    app.store.unpark(&parked.received_at, &parked.sid).await?;
                    replayed_sids.insert(parked.sid);
                    report.replayed += 1;
                }
                // The number routes nowhere after all (removed again):
                // nothing to replay now.
                Ok(false) => return Ok(report),
                Err(ProcessError::Permanent(why)) => {
                    tracing::warn!(%why, "a parked message cannot be replayed; kept parked");
                    kept.insert((parked.received_at, parked.sid));
                    report.skipped += 1;
                }
                Err(ProcessError::Transient(e)) => return Err(e),
            }
        }
    }
}
