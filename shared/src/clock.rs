//! Time source, injectable so tests can move it.

use chrono::{DateTime, Duration, SecondsFormat, Utc};
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};

/// The system clock, optionally shifted by an offset tests can change.
#[derive(Clone, Debug, Default)]
pub struct Clock {
    offset_ms: Arc<AtomicI64>,
}

impl Clock {
    pub fn now(&self) -> DateTime<Utc> {
        Utc::now() + Duration::milliseconds(self.offset_ms.load(Ordering::Relaxed))
    }

    /// Move this clock (and every clone of it) forward.
    pub fn advance(&self, by: Duration) {
        self.offset_ms
            .fetch_add(by.num_milliseconds(), Ordering::Relaxed);
    }
}

/// RFC 3339 with milliseconds and `Z`: sorts as text in time order.
pub fn format_ts(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Millis, true)
}

/// A random pause of up to `min(5 ms * 2^attempt, 80 ms)` ("full jitter"), so
/// writers that lost an optimistic-lock race do not collide again in step.
pub async fn contention_pause(attempt: usize) {
    let cap_ms = (5u64 << attempt.min(4)).min(80);
    let jitter_ms = (ulid::Ulid::new().random() % u128::from(cap_ms + 1)) as u64;
    tokio::time::sleep(std::time::Duration::from_millis(jitter_ms)).await;
}
