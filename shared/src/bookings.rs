//! The booking directory: who a booking's customer and provider really are.
//!
//! A customer or provider may open a booking's chat only once the backend has
//! checked the participants with the booking system. The directory is a
//! Supabase/PostgREST-style endpoint:
//!
//! `GET {BOOKINGS_URL}/bookings?id=eq.{id}&select=customer_id,provider_id`
//! with `apikey: {BOOKINGS_KEY}` and `Authorization: Bearer {BOOKINGS_KEY}`,
//! answering a JSON array of zero rows (no such booking) or one row
//! `{"customer_id": "...", "provider_id": "..."}`.

use std::sync::OnceLock;
use std::time::Duration;

/// Where the directory is (`BOOKINGS_URL`, `BOOKINGS_KEY`,
/// `BOOKINGS_TIMEOUT_MS`). Optional: without it, only service tokens open
/// booking chats.
#[derive(Clone)]
pub struct BookingsConfig {
    pub url: String,
    pub key: String,
    pub timeout: Duration,
}

impl std::fmt::Debug for BookingsConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BookingsConfig")
            .field("url", &self.url)
            .field("key", &"<redacted>")
            .field("timeout", &self.timeout)
            .finish()
    }
}

/// The booking's real participants, as the booking system knows them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BookingParties {
    pub customer_id: String,
    pub provider_id: String,
}

#[derive(Debug, thiserror::Error)]
pub enum DirectoryError {
    /// Unreachable, timed out, 5xx or an answer we cannot read: retry later.
    #[error("booking directory unavailable: {0}")]
    Unavailable(String),
}

/// What create-or-get needs from the booking system.
pub trait BookingLookup {
    /// `Ok(None)` when the booking does not exist.
    fn parties(
        &self,
        booking_id: &str,
    ) -> impl std::future::Future<Output = Result<Option<BookingParties>, DirectoryError>> + Send;
}

/// The HTTP client of the directory.
pub struct BookingDirectory<'a> {
    config: &'a BookingsConfig,
}

impl<'a> BookingDirectory<'a> {
    pub fn new(config: &'a BookingsConfig) -> Self {
        Self { config }
    }
}

/// One client for every directory call. It keeps no idle connections, so it
/// is safe across Tokio runtimes (tests start many); a booking chat is opened
/// rarely enough that a fresh connection per lookup costs nothing.
fn client() -> Result<&'static reqwest::Client, DirectoryError> {
    static CLIENT: OnceLock<reqwest::Client> = OnceLock::new();
    if let Some(c) = CLIENT.get() {
        return Ok(c);
    }
    let built = reqwest::Client::builder()
        .pool_max_idle_per_host(0)
        .tls_backend_preconfigured(crate::tls::public_tls_config())
        .build()
        .map_err(|e| DirectoryError::Unavailable(format!("http client: {e}")))?;
    Ok(CLIENT.get_or_init(|| built))
}

/// Parse the directory's answer: a JSON array of 0 or 1 rows.
pub fn parse_rows(body: &str) -> Result<Option<BookingParties>, DirectoryError> {
    let rows: serde_json::Value = serde_json::from_str(body)
        .map_err(|e| DirectoryError::Unavailable(format!("answer is not JSON: {e}")))?;
    let rows = rows
        .as_array()
        .ok_or_else(|| DirectoryError::Unavailable("answer is not a JSON array".into()))?;
    match rows.as_slice() {
        [] => Ok(None),
        [row] => {
            let field = |name: &str| {
                row[name]
                    .as_str()
                    .filter(|v| !v.is_empty())
                    .map(str::to_string)
                    .ok_or_else(|| {
                        DirectoryError::Unavailable(format!("row without a string {name}"))
                    })
            };
            Ok(Some(BookingParties {
                customer_id: field("customer_id")?,
                provider_id: field("provider_id")?,
            }))
        }
        _ => Err(DirectoryError::Unavailable(
            "more than one booking with this id".into(),
        )),
    }
}

impl BookingLookup for BookingDirectory<'_> {
    async fn parties(&self, booking_id: &str) -> Result<Option<BookingParties>, DirectoryError> {
        let query = serde_urlencoded::to_string([
            ("id", format!("eq.{booking_id}")),
            ("select", "customer_id,provider_id".to_string()),
        ])
        .map_err(|e| DirectoryError::Unavailable(format!("query: {e}")))?;
        let url = format!("{}/bookings?{query}", self.config.url.trim_end_matches('/'));
        let resp = client()?
            .get(&url)
            .header("apikey", &self.config.key)
            .bearer_auth(&self.config.key)
            .header("accept", "application/json")
            .timeout(self.config.timeout)
            .send()
            .await
            .map_err(|e| {
                DirectoryError::Unavailable(if e.is_timeout() {
                    "timed out".into()
                } else {
                    "unreachable".into()
                })
            })?;
        let status = resp.status();
        if !status.is_success() {
            return Err(DirectoryError::Unavailable(format!("status {status}")));
        }
        let body = resp
            .text()
            .await
            .map_err(|_| DirectoryError::Unavailable("answer cut short".into()))?;
        parse_rows(&body)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn when_the_directory_answers_rows_they_should_parse_to_parties_or_none() {
        assert_eq!(parse_rows("[]").unwrap(), None);
        assert_eq!(
            parse_rows(r#"[{"customer_id":"c","provider_id":"p"}]"#).unwrap(),
            Some(BookingParties {
                customer_id: "c".into(),
                provider_id: "p".into()
            })
        );
        for bad in [
            "{}",
            "not json",
            r#"[{"customer_id":"c"}]"#,
            r#"[{"customer_id":"c","provider_id":7}]"#,
            r#"[{"customer_id":"c","provider_id":"p"},{"customer_id":"c","provider_id":"p"}]"#,
        ] {
            assert!(parse_rows(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn when_the_config_is_printed_it_should_not_show_the_key() {
        let c = BookingsConfig {
            url: "http://x".into(),
            key: "sekrit-key".into(),
            timeout: Duration::from_secs(1),
        };
        assert!(!format!("{c:?}").contains("sekrit"));
    }
}
