//! Compact JWS tokens signed with HS256 (RFC 7515/7519), the one kind a
//! Supabase project issues with its JWT secret: what the `auth` module
//! verifies and issues.
//!
//! Written here rather than taken from a JWT crate: the one algorithm needs
//! HMAC-SHA256 and base64url only (both already used for Twilio's and Meta's
//! signatures), while the crates link RSA and elliptic-curve code (or a
//! second TLS crypto library) for algorithms a token here is never allowed
//! to use.
//!
//! Verification order: three base64url (unpadded) segments; a JSON header
//! whose `alg` is `HS256` (anything else, `none` included, is refused before
//! the signature is looked at) and that marks no extension critical; the
//! signature, compared in constant time; only then the claims: the
//! registered ones a [`Rules`] requires are present, `exp` and `nbf`
//! (seconds, with the leeway) and, when configured, `aud` (a string or an
//! array of strings) and `iss`.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, KeyInit, Mac};
use serde::de::DeserializeOwned;
use serde_json::{Map, Value};
use sha2::Sha256;

type HmacSha256 = Hmac<Sha256>;

/// Why a token was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JwtError {
    /// Not three base64url segments, a header or payload that is not a JSON
    /// object, a required claim missing or of the wrong type.
    Malformed,
    /// `alg` is not HS256.
    Algorithm,
    Signature,
    Expired,
    NotYetValid,
    Audience,
    Issuer,
}

/// What a verified token must also satisfy.
#[derive(Debug, Clone, Default)]
pub struct Rules {
    /// Seconds of clock skew allowed on `exp` and `nbf`.
    pub leeway: i64,
    /// When set, `aud` must be present and name it.
    pub audience: Option<String>,
    /// When set, `iss` must be present and equal it.
    pub issuer: Option<String>,
}

/// An HS256 key: signs and verifies.
#[derive(Clone)]
pub struct Hs256 {
    mac: HmacSha256,
}

/// `{"alg":"HS256","typ":"JWT"}`, the header every token issued here carries.
const HEADER: &str = r#"{"alg":"HS256","typ":"JWT"}"#;

impl Hs256 {
    pub fn new(secret: &[u8]) -> Self {
        Self {
            // HMAC takes a key of any length.
            mac: HmacSha256::new_from_slice(secret).expect("HMAC takes any key length"),
        }
    }

    /// `header.payload.signature` for these claims.
    pub fn sign(&self, claims: &impl serde::Serialize) -> Result<String, serde_json::Error> {
        let payload = serde_json::to_vec(claims)?;
        let mut token = URL_SAFE_NO_PAD.encode(HEADER);
        token.push('.');
        URL_SAFE_NO_PAD.encode_string(payload, &mut token);
        let mut mac = self.mac.clone();
        mac.update(token.as_bytes());
        token.push('.');
        URL_SAFE_NO_PAD.encode_string(mac.finalize().into_bytes(), &mut token);
        Ok(token)
    }

    /// The claims of a token this key signed that satisfies `rules` at
    /// `now` (seconds since the epoch). `required` names the claims that
    /// must be present besides those `rules` implies.
    pub fn verify<C: DeserializeOwned>(
        &self,
        token: &str,
        rules: &Rules,
        required: &[&str],
        now: i64,
    ) -> Result<C, JwtError> {
        let mut parts = token.split('.');
        let (Some(header_b64), Some(payload_b64), Some(signature_b64), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(JwtError::Malformed);
        };
        let header: Map<String, Value> = decode_json(header_b64)?;
        if header.get("alg").and_then(Value::as_str) != Some("HS256") {
            return Err(JwtError::Algorithm);
        }
        // RFC 7515, 4.1.11: extensions marked critical must be understood;
        // none is here (e.g. RFC 7797's unencoded payload).
        if header.contains_key("crit") {
            return Err(JwtError::Malformed);
        }
        let signature = URL_SAFE_NO_PAD
            .decode(signature_b64)
            .map_err(|_| JwtError::Signature)?;
        let signing_input = &token[..header_b64.len() + 1 + payload_b64.len()];
        let mut mac = self.mac.clone();
        mac.update(signing_input.as_bytes());
        mac.verify_slice(&signature)
            .map_err(|_| JwtError::Signature)?;

        let claims: Map<String, Value> = decode_json(payload_b64)?;
        for name in required {
            if !claims.contains_key(*name) {
                return Err(JwtError::Malformed);
            }
        }
        if let Some(exp) = claims.get("exp")
            && seconds(exp)? < now - rules.leeway
        {
            return Err(JwtError::Expired);
        }
        if let Some(nbf) = claims.get("nbf")
            && seconds(nbf)? > now + rules.leeway
        {
            return Err(JwtError::NotYetValid);
        }
        if let Some(want) = &rules.audience {
            let named = match claims.get("aud") {
                Some(Value::String(aud)) => aud == want,
                Some(Value::Array(auds)) => auds.iter().any(|a| a.as_str() == Some(want)),
                Some(_) => return Err(JwtError::Malformed),
                None => false,
            };
            if !named {
                return Err(JwtError::Audience);
            }
        }
        if let Some(want) = &rules.issuer {
            match claims.get("iss") {
                Some(Value::String(iss)) if iss == want => {}
                Some(Value::String(_)) | None => return Err(JwtError::Issuer),
                Some(_) => return Err(JwtError::Malformed),
            }
        }
        serde_json::from_value(Value::Object(claims)).map_err(|_| JwtError::Malformed)
    }
}

fn decode_json(segment: &str) -> Result<Map<String, Value>, JwtError> {
    let bytes = URL_SAFE_NO_PAD
        .decode(segment)
        .map_err(|_| JwtError::Malformed)?;
    serde_json::from_slice(&bytes).map_err(|_| JwtError::Malformed)
}

/// A NumericDate: whole seconds (a JSON integer; a fraction, a string or a
/// negative number is malformed).
fn seconds(value: &Value) -> Result<i64, JwtError> {
    value
        .as_u64()
        .and_then(|s| i64::try_from(s).ok())
        .ok_or(JwtError::Malformed)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const KEY: &[u8] = b"test-secret-0123456789abcdef-0123456789";
    const NOW: i64 = 1_800_000_000;

    fn verify(token: &str, rules: &Rules) -> Result<Value, JwtError> {
        Hs256::new(KEY).verify(token, rules, &["exp", "sub"], NOW)
    }

    fn rules() -> Rules {
        Rules {
            leeway: 30,
            ..Rules::default()
        }
    }

    fn token(claims: Value) -> String {
        Hs256::new(KEY).sign(&claims).unwrap()
    }

    /// A token with these raw segments, signed with KEY.
    fn raw(header: &str, payload: &str) -> String {
        let signing = format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(header),
            URL_SAFE_NO_PAD.encode(payload)
        );
        let mut mac = HmacSha256::new_from_slice(KEY).unwrap();
        mac.update(signing.as_bytes());
        format!(
            "{signing}.{}",
            URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes())
        )
    }

    #[test]
    fn it_should_verify_the_rfc_7515_appendix_a1_example_with_its_key() {
        // RFC 7515, A.1: an HS256 JWS and its JWK's key, as published.
        let key = URL_SAFE_NO_PAD
            .decode("AyM1SysPpbyDfgZld3umj1qzKObwVMkoqQ-EstJQLr_T-1qS0gZH75aKtMN3Yj0iPS4hcgUuTwjAzZr1Z9CAow")
            .unwrap();
        let token = "eyJ0eXAiOiJKV1QiLA0KICJhbGciOiJIUzI1NiJ9.eyJpc3MiOiJqb2UiLA0KICJleHAiOjEzMDA4MTkzODAsDQogImh0dHA6Ly9leGFtcGxlLmNvbS9pc19yb290Ijp0cnVlfQ.dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
        let claims: Value = Hs256::new(&key)
            .verify(token, &Rules::default(), &["exp"], 1_300_819_380)
            .unwrap();
        assert_eq!(claims["iss"], "joe");
        assert_eq!(claims["http://example.com/is_root"], true);
        // One second later, and without leeway, it has expired.
        assert_eq!(
            Hs256::new(&key).verify::<Value>(token, &Rules::default(), &[], 1_300_819_381),
            Err(JwtError::Expired)
        );
        // Another key, or one changed bit of the signature, is refused.
        assert_eq!(
            Hs256::new(KEY).verify::<Value>(token, &Rules::default(), &[], 0),
            Err(JwtError::Signature)
        );
        let tampered = token.replace(".dBjf", ".dBjg");
        assert_eq!(
            Hs256::new(&key).verify::<Value>(&tampered, &Rules::default(), &[], 0),
            Err(JwtError::Signature)
        );
    }

    #[test]
    fn a_signed_token_should_round_trip_with_the_standard_header() {
        let t = token(json!({"sub": "u", "exp": NOW + 60}));
        assert!(
            t.starts_with("eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9."),
            "{t}"
        );
        assert_eq!(verify(&t, &rules()).unwrap()["sub"], "u");
    }

    #[test]
    fn only_hs256_should_be_accepted_before_the_signature_is_checked() {
        let payload = json!({"sub": "u", "exp": NOW + 60}).to_string();
        for header in [
            r#"{"alg":"none","typ":"JWT"}"#,
            r#"{"alg":"HS512"}"#,
            r#"{"alg":"RS256"}"#,
            r#"{"alg":"hs256"}"#,
            r#"{"typ":"JWT"}"#,
            r#"{"alg":["HS256"]}"#,
        ] {
            assert_eq!(
                verify(&raw(header, &payload), &rules()),
                Err(JwtError::Algorithm),
                "{header}"
            );
        }
        // alg none with an empty signature, the classic forgery.
        let none = format!(
            "{}.{}.",
            URL_SAFE_NO_PAD.encode(r#"{"alg":"none"}"#),
            URL_SAFE_NO_PAD.encode(&payload)
        );
        assert_eq!(verify(&none, &rules()), Err(JwtError::Algorithm));
        // Extra header fields are fine.
        let kid = raw(r#"{"alg":"HS256","typ":"JWT","kid":"k1"}"#, &payload);
        assert!(verify(&kid, &rules()).is_ok());
    }

    #[test]
    fn malformed_tokens_should_be_refused() {
        let good = token(json!({"sub": "u", "exp": NOW + 60}));
        let (signing, sig) = good.rsplit_once('.').unwrap();
        let padded = format!("{signing}.{sig}=");
        let payload = json!({"sub": "u", "exp": NOW + 60}).to_string();
        for (why, bad, want) in [
            ("empty", String::new(), JwtError::Malformed),
            ("two segments", signing.to_string(), JwtError::Malformed),
            ("four segments", format!("{good}.x"), JwtError::Malformed),
            ("padded signature", padded, JwtError::Signature),
            (
                "header not base64url",
                format!("e+J.{}", good.split_once('.').unwrap().1),
                JwtError::Malformed,
            ),
            (
                "header not an object",
                raw("[1]", &payload),
                JwtError::Malformed,
            ),
            (
                "a critical extension",
                raw(r#"{"alg":"HS256","crit":["b64"],"b64":false}"#, &payload),
                JwtError::Malformed,
            ),
            (
                "payload not an object",
                raw(r#"{"alg":"HS256"}"#, "\"sub\""),
                JwtError::Malformed,
            ),
            (
                "no exp",
                raw(r#"{"alg":"HS256"}"#, r#"{"sub":"u"}"#),
                JwtError::Malformed,
            ),
            (
                "exp a string",
                raw(r#"{"alg":"HS256"}"#, r#"{"sub":"u","exp":"1900000000"}"#),
                JwtError::Malformed,
            ),
            (
                "exp a fraction",
                raw(r#"{"alg":"HS256"}"#, r#"{"sub":"u","exp":1900000000.5}"#),
                JwtError::Malformed,
            ),
            (
                "exp negative",
                raw(r#"{"alg":"HS256"}"#, r#"{"sub":"u","exp":-1}"#),
                JwtError::Malformed,
            ),
        ] {
            assert_eq!(verify(&bad, &rules()), Err(want), "{why}");
        }
    }

    #[test]
    fn a_changed_payload_should_fail_the_signature() {
        let good = token(json!({"sub": "u", "exp": NOW + 60}));
        let mut parts: Vec<&str> = good.split('.').collect();
        let other = URL_SAFE_NO_PAD.encode(json!({"sub": "admin", "exp": NOW + 60}).to_string());
        parts[1] = &other;
        assert_eq!(verify(&parts.join("."), &rules()), Err(JwtError::Signature));
    }

    #[test]
    fn exp_and_nbf_should_allow_the_leeway_and_no_more() {
        let at = |claims: Value| verify(&token(claims), &rules());
        assert!(at(json!({"sub": "u", "exp": NOW - 30})).is_ok());
        assert_eq!(
            at(json!({"sub": "u", "exp": NOW - 31})),
            Err(JwtError::Expired)
        );
        assert!(at(json!({"sub": "u", "exp": NOW + 60, "nbf": NOW + 30})).is_ok());
        assert_eq!(
            at(json!({"sub": "u", "exp": NOW + 60, "nbf": NOW + 31})),
            Err(JwtError::NotYetValid)
        );
        assert_eq!(
            at(json!({"sub": "u", "exp": NOW + 60, "nbf": "soon"})),
            Err(JwtError::Malformed)
        );
    }

    #[test]
    fn audience_and_issuer_should_be_checked_only_when_configured() {
        let strict = Rules {
            leeway: 30,
            audience: Some("authenticated".into()),
            issuer: Some("https://p.supabase.co/auth/v1".into()),
        };
        let iss = "https://p.supabase.co/auth/v1";
        let at = |claims: Value, r: &Rules| verify(&token(claims), r);
        let base = |extra: Value| {
            let mut c = json!({"sub": "u", "exp": NOW + 60});
            for (k, v) in extra.as_object().unwrap() {
                c[k] = v.clone();
            }
            c
        };
        assert!(at(base(json!({"aud": "authenticated", "iss": iss})), &strict).is_ok());
        assert!(
            at(
                base(json!({"aud": ["x", "authenticated"], "iss": iss})),
                &strict
            )
            .is_ok()
        );
        for (why, extra, want) in [
            ("no aud", json!({"iss": iss}), JwtError::Audience),
            (
                "other aud",
                json!({"aud": "anon", "iss": iss}),
                JwtError::Audience,
            ),
            (
                "aud list without it",
                json!({"aud": ["anon"], "iss": iss}),
                JwtError::Audience,
            ),
            (
                "aud a number",
                json!({"aud": 1, "iss": iss}),
                JwtError::Malformed,
            ),
            ("no iss", json!({"aud": "authenticated"}), JwtError::Issuer),
            (
                "other iss",
                json!({"aud": "authenticated", "iss": "https://evil"}),
                JwtError::Issuer,
            ),
            (
                "iss a list",
                json!({"aud": "authenticated", "iss": [iss]}),
                JwtError::Malformed,
            ),
        ] {
            assert_eq!(at(base(extra), &strict), Err(want), "{why}");
        }
        assert!(at(base(json!({"aud": 1, "iss": []})), &rules()).is_ok());
    }
}
