//! Webhook ingest, the pure part: route, size, content type, signature,
//! parameters → envelope. No I/O, so it is benchmarked and fuzzable alone;
//! the function only adds the SQS send.

use crate::envelope::{Envelope, Source};
use crate::error::ApiError;
use crate::ports::{ProviderTransport, SignedWebhook};
use crate::twilio::TwilioClient;

/// Twilio's webhook bodies are a few KB; anything this big is not Twilio.
pub const MAX_WEBHOOK_BODY: usize = 64 * 1024;

#[derive(Clone, Debug)]
pub struct IngestConfig {
    /// The public base URL Twilio calls, including any stage path, e.g.
    /// `https://abc.execute-api.eu-west-1.amazonaws.com/prod`.
    pub public_base_url: String,
    /// `TWILIO_AUTH_TOKEN` and, during rotation, `TWILIO_AUTH_TOKEN_SECONDARY`.
    pub auth_tokens: Vec<String>,
    pub queue_url: String,
    /// `TWILIO_ACCOUNT_SID`: the account the environment's tokens are of.
    /// Its webhooks never need a credential-store read.
    pub account_sid: Option<String>,
}

impl IngestConfig {
    pub fn from_lookup(
        get: impl Fn(&str) -> Option<String>,
    ) -> Result<Self, crate::config::ConfigError> {
        use crate::config::ConfigError;
        let required = |name: &'static str| get(name).ok_or(ConfigError::Missing(name));
        let public_base_url = required("PUBLIC_BASE_URL")?
            .trim_end_matches('/')
            .to_string();
        if !(public_base_url.starts_with("https://") || public_base_url.starts_with("http://")) {
            return Err(ConfigError::Invalid {
                name: "PUBLIC_BASE_URL",
                why: "must be an http(s) URL".into(),
            });
        }
        let mut auth_tokens = vec![required("TWILIO_AUTH_TOKEN")?];
        auth_tokens.extend(get("TWILIO_AUTH_TOKEN_SECONDARY"));
        Ok(Self {
            public_base_url,
            auth_tokens,
            queue_url: required("QUEUE_URL")?,
            account_sid: get("TWILIO_ACCOUNT_SID"),
        })
    }

    /// The URL Twilio signed for a route: never derived from the Host header.
    pub fn signed_url(&self, source: Source, raw_query: Option<&str>) -> String {
        match raw_query.filter(|q| !q.is_empty()) {
            Some(q) => format!("{}{}?{q}", self.public_base_url, source.path()),
            None => format!("{}{}", self.public_base_url, source.path()),
        }
    }
}

/// One webhook request as received.
pub struct Incoming<'a> {
    pub path: &'a str,
    pub raw_query: Option<&'a str>,
    pub content_type: Option<&'a str>,
    pub signature: Option<&'a str>,
    pub idempotency_token: Option<&'a str>,
    pub body: &'a [u8],
}

/// A webhook whose route, size, content type and body were checked, and
/// whose signature is still to be checked (against the tokens of the
/// account it names: see [`Unverified::account_sid`]).
pub struct Unverified<'a> {
    source: Source,
    url: String,
    signature: &'a str,
    body: ParsedBody<'a>,
    idempotency_token: Option<&'a str>,
}

enum ParsedBody<'a> {
    Form(Vec<(String, String)>),
    Json(&'a str),
}

fn forbidden() -> ApiError {
    ApiError::forbidden("invalid_signature", "missing or invalid X-Twilio-Signature")
}

/// Everything but the signature: route, size, content type, body.
pub fn prepare<'a>(cfg: &IngestConfig, inc: &Incoming<'a>) -> Result<Unverified<'a>, ApiError> {
    let source = Source::from_path(inc.path).ok_or(ApiError::NotFound)?;
    if inc.body.len() > MAX_WEBHOOK_BODY {
        return Err(ApiError::PayloadTooLarge);
    }
    let essence = inc
        .content_type
        .and_then(|c| c.split(';').next())
        .map(str::trim)
        .unwrap_or("");
    let is_form = essence.eq_ignore_ascii_case("application/x-www-form-urlencoded");
    let is_json = essence.eq_ignore_ascii_case("application/json");
    if !is_form && !is_json {
        return Err(ApiError::UnsupportedMediaType);
    }
    let signature = inc
        .signature
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .ok_or_else(forbidden)?;
    let text = std::str::from_utf8(inc.body)
        .map_err(|_| ApiError::bad_request("invalid_body", "body is not valid UTF-8"))?;
    let body = if is_form {
        // Every byte string is a form (what `serde_urlencoded` parses with,
        // without its per-pair deserializer): `+` and `%XX` decoded, bytes
        // that are not UTF-8 after decoding replaced by U+FFFD.
        let mut params = Vec::with_capacity(text.bytes().filter(|&b| b == b'&').count() + 1);
        params.extend(
            form_urlencoded::parse(text.as_bytes()).map(|(k, v)| (k.into_owned(), v.into_owned())),
        );
        ParsedBody::Form(params)
    } else {
        if serde_json::from_str::<serde::de::IgnoredAny>(text).is_err() {
            return Err(ApiError::bad_request(
                "invalid_body",
                "body is not valid JSON",
            ));
        }
        ParsedBody::Json(text)
    };
    Ok(Unverified {
        source,
        url: cfg.signed_url(source, inc.raw_query),
        signature,
        body,
        idempotency_token: inc.idempotency_token,
    })
}

impl Unverified<'_> {
    /// The Twilio account the webhook says it comes from (`AccountSid`),
    /// which picks the token to check it with. Unverified until then.
    pub fn account_sid(&self) -> Option<&str> {
        match &self.body {
            ParsedBody::Form(params) => params
                .iter()
                .find(|(k, _)| k == "AccountSid")
                .map(|(_, v)| v.as_str()),
            ParsedBody::Json(_) => None,
        }
    }

    /// Check the signature with `tokens` (any one of them may have signed)
    /// and build the envelope; `account`: the org account those tokens are
    /// of (`None`: the environment's).
    pub fn verify(
        self,
        tokens: &[&str],
        account: Option<String>,
        received_at: String,
    ) -> Result<Envelope, ApiError> {
        let (params, json_body) = match self.body {
            ParsedBody::Form(params) => (params, None),
            ParsedBody::Json(text) => (Vec::new(), Some(text)),
        };
        let webhook = SignedWebhook {
            url: &self.url,
            body: json_body.map(str::as_bytes).unwrap_or_default(),
            form: json_body.is_none().then_some(params.as_slice()),
            signature: self.signature,
        };
        if !TwilioClient::verify(tokens, &webhook) {
            return Err(forbidden());
        }
        let json_body = json_body.map(str::to_string);
        Ok(Envelope::new(
            self.source,
            params,
            json_body,
            self.idempotency_token.map(str::to_string),
            received_at,
        )
        .verified_by(account))
    }
}

/// Check a webhook against the environment's tokens and turn it into the
/// envelope to enqueue.
pub fn accept(
    cfg: &IngestConfig,
    inc: &Incoming<'_>,
    received_at: String,
) -> Result<Envelope, ApiError> {
    let tokens: Vec<&str> = cfg.auth_tokens.iter().map(String::as_str).collect();
    prepare(cfg, inc)?.verify(&tokens, None, received_at)
}

/// The empty TwiML answer for messaging webhooks.
pub const EMPTY_TWIML: &str = r#"<?xml version="1.0" encoding="UTF-8"?><Response/>"#;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::envelope::Kind;
    use crate::signature;

    fn cfg() -> IngestConfig {
        IngestConfig {
            public_base_url: "https://api.example.com/prod".into(),
            auth_tokens: vec!["primary-token".into(), "secondary-token".into()],
            queue_url: "http://q".into(),
            account_sid: None,
        }
    }

    fn params() -> Vec<(String, String)> {
        vec![
            ("MessageSid".into(), "SM123".into()),
            ("From".into(), "whatsapp:+15551234567".into()),
            ("Body".into(), "hi".into()),
        ]
    }

    fn incoming<'a>(body: &'a [u8], sig: Option<&'a str>) -> Incoming<'a> {
        Incoming {
            path: "/prod/webhooks/twilio/messaging",
            raw_query: None,
            content_type: Some("application/x-www-form-urlencoded; charset=utf-8"),
            signature: sig,
            idempotency_token: Some("tok-1"),
            body,
        }
    }

    #[test]
    fn a_form_body_should_be_parsed_as_serde_urlencoded_parses_it() {
        let bodies = [
            "MessageSid=SM1&From=whatsapp%3A%2B15551234567&Body=hi+there",
            "a=1&&b=2&",
            "flag&empty=&=novalue&a=b=c",
            "dup=1&dup=2&Dup=3",
            "bad=%FF%FE&half=%E2%82&pct=100%25&raw=%zz&plus=%2B+",
            "emoji=%F0%9F%A6%80&unicode=caf\u{e9}",
            "",
        ];
        for body in bodies {
            let inc = Incoming {
                body: body.as_bytes(),
                ..incoming(b"", Some("sig"))
            };
            let ParsedBody::Form(ours) = prepare(&cfg(), &inc).unwrap().body else {
                panic!("a form")
            };
            let theirs: Vec<(String, String)> = serde_urlencoded::from_str(body).unwrap();
            assert_eq!(ours, theirs, "{body}");
        }
    }

    #[test]
    fn when_signed_with_either_token_it_should_become_an_envelope() {
        let body = serde_urlencoded::to_string(params()).unwrap();
        for token in ["primary-token", "secondary-token"] {
            let sig = signature::sign(
                token,
                "https://api.example.com/prod/webhooks/twilio/messaging",
                &params(),
            );
            let env = accept(&cfg(), &incoming(body.as_bytes(), Some(&sig)), "t".into()).unwrap();
            assert_eq!(env.kind, Kind::InboundMessage);
            assert_eq!(env.params, params());
            assert_eq!(env.idempotency_token.as_deref(), Some("tok-1"));
        }
    }

    #[test]
    fn when_unsigned_forged_or_tampered_it_should_be_403() {
        let body = serde_urlencoded::to_string(params()).unwrap();
        let e = accept(&cfg(), &incoming(body.as_bytes(), None), "t".into()).unwrap_err();
        assert_eq!(e.status(), 403);
        let forged = signature::sign(
            "wrong",
            "https://api.example.com/prod/webhooks/twilio/messaging",
            &params(),
        );
        let e = accept(
            &cfg(),
            &incoming(body.as_bytes(), Some(&forged)),
            "t".into(),
        )
        .unwrap_err();
        assert_eq!(e.status(), 403);
        let good = signature::sign(
            "primary-token",
            "https://api.example.com/prod/webhooks/twilio/messaging",
            &params(),
        );
        let tampered = body.replace("hi", "ho");
        let e = accept(
            &cfg(),
            &incoming(tampered.as_bytes(), Some(&good)),
            "t".into(),
        )
        .unwrap_err();
        assert_eq!(e.status(), 403);
    }

    #[test]
    fn when_the_host_differs_the_signature_should_be_checked_against_the_public_url() {
        // Signed for another host: refused even if that host is what we saw.
        let body = serde_urlencoded::to_string(params()).unwrap();
        let sig = signature::sign(
            "primary-token",
            "https://evil.example.net/prod/webhooks/twilio/messaging",
            &params(),
        );
        let e = accept(&cfg(), &incoming(body.as_bytes(), Some(&sig)), "t".into()).unwrap_err();
        assert_eq!(e.status(), 403);
    }

    #[test]
    fn when_the_body_is_wrong_it_should_be_a_clear_4xx() {
        let mut inc = incoming(b"a=b", Some("x"));
        inc.content_type = Some("text/plain");
        assert_eq!(accept(&cfg(), &inc, "t".into()).unwrap_err().status(), 415);
        let big = vec![b'a'; MAX_WEBHOOK_BODY + 1];
        let inc = incoming(&big, Some("x"));
        assert_eq!(accept(&cfg(), &inc, "t".into()).unwrap_err().status(), 413);
        let inc = incoming(&[0xff, 0xfe], Some("x"));
        assert_eq!(accept(&cfg(), &inc, "t".into()).unwrap_err().status(), 400);
        let mut inc = incoming(b"{not json", Some("x"));
        inc.content_type = Some("application/json");
        assert_eq!(accept(&cfg(), &inc, "t".into()).unwrap_err().status(), 400);
        let mut inc = incoming(b"a=b", Some("x"));
        inc.path = "/webhooks/other";
        assert_eq!(accept(&cfg(), &inc, "t".into()).unwrap_err().status(), 404);
    }

    #[test]
    fn when_the_query_string_is_present_it_should_be_part_of_the_signed_url() {
        assert_eq!(
            cfg().signed_url(Source::Conversations, Some("a=1&b=2")),
            "https://api.example.com/prod/webhooks/twilio/conversations?a=1&b=2"
        );
    }
}
