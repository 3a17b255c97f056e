//! Chat-account routing cache: which org owns a provider address, kept
//! across warm invocations.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// How long a resolved chat account is trusted before it is read again.
const ACCOUNT_TTL: Duration = Duration::from_secs(300);

/// `To` address → org (or another value), cached across warm invocations
/// (hits only, so a newly registered number routes at once).
pub struct AccountCache<V = String> {
    entries: Mutex<HashMap<String, (V, Instant)>>,
}

impl<V> Default for AccountCache<V> {
    fn default() -> Self {
        Self {
            entries: Mutex::default(),
        }
    }
}

/// A business number's route: its org, and the org's own Twilio account
/// when the number was registered with one (`None`: the environment's).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RouteEntry {
    pub org: String,
    pub twilio_account: Option<String>,
}

impl<V: Clone> AccountCache<V> {
    pub fn get(&self, address: &str) -> Option<V> {
        let entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        entries
            .get(address)
            .filter(|(_, at)| at.elapsed() < ACCOUNT_TTL)
            .map(|(org, _)| org.clone())
    }
    /// Drop an entry the write path found stale (the number moved).
    pub fn forget(&self, address: &str) {
        let mut entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        entries.remove(address);
    }

    pub fn put(&self, address: &str, value: impl Into<V>) {
        let mut entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        entries.insert(address.to_string(), (value.into(), Instant::now()));
    }
}
