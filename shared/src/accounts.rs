//! Chat-account routing cache: which org owns a provider address, kept
//! across warm invocations.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// How long a resolved chat account is trusted before it is read again.
const ACCOUNT_TTL: Duration = Duration::from_secs(300);

/// `To` address → org, cached across warm invocations (hits only, so a
/// newly registered number routes at once).
#[derive(Default)]
pub struct AccountCache {
    entries: Mutex<HashMap<String, (String, Instant)>>,
}

impl AccountCache {
    pub fn get(&self, address: &str) -> Option<String> {
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

    pub fn put(&self, address: &str, org: &str) {
        let mut entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        entries.insert(address.to_string(), (org.to_string(), Instant::now()));
    }
}
