//! Opaque pagination cursors: a DynamoDB key, bound to its scope (route,
//! caller, conversation) and signed, so a tampered or replayed cursor is a 400.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;
use std::collections::BTreeMap;

/// A cursor that was not issued by us for this listing (or was altered).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("cursor is invalid or expired")]
pub struct InvalidCursor;

impl InvalidCursor {
    /// The stable code an API client sees.
    pub fn code(&self) -> &'static str {
        "invalid_cursor"
    }
}

/// The string attributes of a DynamoDB key.
pub type Key = BTreeMap<String, String>;

pub struct CursorCodec {
    key: Vec<u8>,
}

impl CursorCodec {
    pub fn new(secret: &str) -> Self {
        // Derive a cursor-only key so a cursor MAC is never a token MAC.
        let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("any key length");
        mac.update(b"pagination-cursor-v1");
        Self {
            key: mac.finalize().into_bytes().to_vec(),
        }
    }

    fn mac(&self, scope: &str, payload: &[u8]) -> Hmac<Sha256> {
        let mut mac = Hmac::<Sha256>::new_from_slice(&self.key).expect("any key length");
        mac.update(scope.as_bytes());
        mac.update(&[0]);
        mac.update(payload);
        mac
    }

    pub fn encode(&self, scope: &str, key: &Key) -> String {
        let payload = serde_json::to_vec(key).unwrap_or_default();
        let tag = self.mac(scope, &payload).finalize().into_bytes();
        format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(&payload),
            URL_SAFE_NO_PAD.encode(&tag[..16])
        )
    }

    pub fn decode(&self, scope: &str, cursor: &str) -> Result<Key, InvalidCursor> {
        let bad = || InvalidCursor;
        let (payload, tag) = cursor.split_once('.').ok_or_else(bad)?;
        let payload = URL_SAFE_NO_PAD.decode(payload).map_err(|_| bad())?;
        let tag = URL_SAFE_NO_PAD.decode(tag).map_err(|_| bad())?;
        if tag.len() != 16 {
            return Err(bad());
        }
        self.mac(scope, &payload)
            .verify_truncated_left(&tag)
            .map_err(|_| bad())?;
        serde_json::from_slice(&payload).map_err(|_| bad())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key() -> Key {
        [("PK".to_string(), "CONV#a".to_string())].into()
    }

    #[test]
    fn when_cursor_round_trips_it_should_yield_the_key() {
        let c = CursorCodec::new("secret-secret-secret");
        let s = c.encode("scope", &key());
        assert_eq!(c.decode("scope", &s).unwrap(), key());
    }

    #[test]
    fn when_cursor_is_tampered_or_replayed_elsewhere_it_should_be_invalid() {
        let c = CursorCodec::new("secret-secret-secret");
        let s = c.encode("scope", &key());
        let mut tampered = s.clone().into_bytes();
        tampered[2] ^= 1;
        let tampered = String::from_utf8(tampered).unwrap();
        assert_eq!(
            c.decode("scope", &tampered).unwrap_err().code(),
            "invalid_cursor"
        );
        assert_eq!(c.decode("other", &s).unwrap_err().code(), "invalid_cursor");
        assert_eq!(
            c.decode("scope", "garbage").unwrap_err().code(),
            "invalid_cursor"
        );
        let short = s.rsplit_once('.').unwrap().0.to_string() + ".AA";
        assert_eq!(
            c.decode("scope", &short).unwrap_err().code(),
            "invalid_cursor"
        );
    }
}
