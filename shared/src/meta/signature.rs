//! `X-Hub-Signature-256`: `sha256=` + hex(HMAC-SHA256(app secret, raw body)).
//! Meta signs the exact bytes it sent, so the body is checked before it is
//! parsed; the comparison is constant time.

use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;

type HmacSha256 = Hmac<Sha256>;

/// The header value Meta sends for `body` signed with `secret`.
pub fn sign(secret: &str, body: &[u8]) -> String {
    let mut mac = HmacSha256::new_from_slice(secret.as_bytes()).expect("HMAC takes any key");
    mac.update(body);
    let digest = mac.finalize().into_bytes();
    let mut out = String::with_capacity(7 + 64);
    out.push_str("sha256=");
    for b in digest {
        out.push_str(&format!("{b:02x}"));
    }
    out
}

fn unhex(s: &str) -> Option<Vec<u8>> {
    if s.len() != 64 {
        return None;
    }
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(s.get(i..i + 2)?, 16).ok())
        .collect()
}

/// Whether `header` is a valid signature of `body` under any of `secrets`
/// (several during a rotation of the app secret).
pub fn is_valid(secrets: &[&str], body: &[u8], header: &str) -> bool {
    let Some(hex) = header.trim().strip_prefix("sha256=") else {
        return false;
    };
    let Some(given) = unhex(hex) else {
        return false;
    };
    secrets.iter().filter(|s| !s.is_empty()).any(|secret| {
        let mut mac = HmacSha256::new_from_slice(secret.as_bytes()).expect("HMAC takes any key");
        mac.update(body);
        // `verify_slice` compares in constant time.
        mac.verify_slice(&given).is_ok()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn when_signed_with_the_app_secret_it_should_verify_and_nothing_else_should() {
        let body = br#"{"object":"whatsapp_business_account","entry":[]}"#;
        let sig = sign("app-secret", body);
        assert!(sig.starts_with("sha256=") && sig.len() == 71);
        assert!(is_valid(&["app-secret"], body, &sig));
        assert!(is_valid(&["old", "app-secret"], body, &sig), "rotation");
        assert!(!is_valid(&["other-secret"], body, &sig), "wrong secret");
        assert!(!is_valid(&["app-secret"], b"{}", &sig), "tampered body");
        assert!(!is_valid(&["app-secret"], body, &sig.to_uppercase()));
        assert!(
            !is_valid(&["app-secret"], body, &sig[7..]),
            "no sha256= prefix"
        );
        assert!(!is_valid(&["app-secret"], body, "sha256=zz"));
        assert!(!is_valid(&["app-secret"], body, ""));
        assert!(
            !is_valid(&[""], body, &sign("", body)),
            "an empty secret never verifies"
        );
    }

    #[test]
    fn when_the_hex_is_uppercase_it_should_still_verify() {
        // Hex digits are case-insensitive; only the prefix is fixed.
        let body = b"x";
        let sig = sign("s", body);
        let upper = format!("sha256={}", sig[7..].to_uppercase());
        assert!(is_valid(&["s"], body, &upper));
    }
}
