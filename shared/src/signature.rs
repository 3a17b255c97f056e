//! Twilio webhook signatures (`X-Twilio-Signature`).
//!
//! Twilio signs every webhook with
//! `base64(HMAC-SHA1(auth token, URL + params))`, where `params` is each form
//! parameter name followed by its value, names in byte order and, for a name
//! sent more than once, each *distinct* value in byte order. A JSON body is
//! not signed directly: Twilio adds `bodySHA256=<lowercase hex SHA-256 of the
//! body>` to the URL and signs the URL alone.
//!
//! [`is_valid`] follows the official SDKs (every case of
//! `tests/data/twilio-signature.json` passes). The URL it is given must be the
//! **public** URL Twilio called (configured base URL + stage path + raw query
//! string), never a reconstruction from the `Host` header. It tries these
//! spellings of that URL, since Twilio's own signing is not consistent:
//!
//! - **Ports.** The URL as given; with its port removed, whatever the port
//!   (`:1234` too, as every SDK does and as the vectors require); and, when it
//!   has no port, with the scheme's default port added (`:443` for https,
//!   `:80` for http).
//! - **Apostrophes.** When the query string contains `'`, each of the above
//!   also with `'` written `%27` in the query, the way twilio-node's
//!   WHATWG URL serialisation signs it. Only the query is rewritten: that is
//!   the only part of a URL where WHATWG escapes `'`.
//! - **Userinfo** (`https://user:pass@host/...`, HTTP basic auth) is signed as
//!   part of the URL exactly as given: the SDK vectors only verify with the
//!   credentials included, and with a default port added *after* the host
//!   (`https://user:pass@host:443/...`). No variant without credentials is
//!   tried.
//!
//! Nothing else is normalised: path, percent-encoding, case, non-ASCII text
//! and any fragment are signed byte for byte as given (Twilio does not send
//! fragments, so the URL passed in should not have one).
//!
//! Every comparison is constant time ([`subtle`]). Several auth tokens may be
//! given (primary and secondary during rotation); a request is valid if any of
//! them validates it. Empty tokens are ignored, since anyone can compute an
//! HMAC with an empty key. An empty, malformed or non-base64 signature is
//! simply invalid.
//!
//! Cost: pure, no I/O. The work per call is one small vector of references
//! to sort the parameters, then at most four HMAC-SHA1 computations per
//! token (two without an apostrophe in the query), each fed the URL and
//! parameters in place without building any string. For a JSON body, one
//! SHA-256 of the body, only once a signature has matched.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use hmac::{Hmac, KeyInit, Mac};
use sha1::Sha1;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

type HmacSha1 = Hmac<Sha1>;

/// Length of an HMAC-SHA1 digest.
const DIGEST_LEN: usize = 20;
/// Length of the base64 of a [`DIGEST_LEN`]-byte digest, padding included.
const SIGNATURE_LEN: usize = 28;
/// Query parameter carrying the SHA-256 of a JSON body.
const BODY_SHA256: &str = "bodySHA256";

/// The body of a webhook, as it matters to its signature.
#[derive(Debug, Clone, Copy)]
pub enum SignedBody<'a> {
    /// `application/x-www-form-urlencoded`: the decoded `(name, value)` pairs
    /// in any order, repeated names allowed. All of them are signed, so pass
    /// every parameter received, never a chosen subset.
    Form(&'a [(String, String)]),
    /// Any other body (JSON): the raw bytes, after any base64 decoding done
    /// by API Gateway. Valid only if the URL carries a matching `bodySHA256`.
    Json(&'a [u8]),
}

/// Whether `signature` (the `X-Twilio-Signature` header) is a valid Twilio
/// signature of a request to `url` with `body`, under any of `tokens`.
///
/// See the [module documentation](self) for the URL spellings tried.
pub fn is_valid(tokens: &[&str], url: &str, body: SignedBody<'_>, signature: &str) -> bool {
    let Some(expected) = decode_signature(signature) else {
        return false;
    };
    let parts = UrlParts::parse(url);
    match body {
        SignedBody::Form(params) => {
            let params = SortedParams::new(params);
            any_token_signs(tokens, &parts, &params, &expected)
        }
        SignedBody::Json(raw) => {
            // The signature covers the URL alone; the URL covers the body
            // through `bodySHA256`, so that hash must be present and right.
            let Some(claimed) = parts.query_param(BODY_SHA256) else {
                return false;
            };
            any_token_signs(tokens, &parts, &SortedParams::EMPTY, &expected)
                && bool::from(claimed.as_bytes().ct_eq(&body_sha256_hex_bytes(raw)))
        }
    }
}

/// The `X-Twilio-Signature` Twilio would send for a form webhook to `url`
/// with `params` (signed over the URL exactly as given).
///
/// For a JSON webhook, put `bodySHA256=`[`body_sha256_hex`]`(body)` in the
/// URL's query and sign it with no params.
pub fn sign(token: &str, url: &str, params: &[(String, String)]) -> String {
    let mut mac = hmac_for(token);
    mac.update(url.as_bytes());
    SortedParams::new(params).feed(&mut mac);
    STANDARD.encode(mac.finalize().into_bytes())
}

/// Lowercase hex SHA-256 of a body: the `bodySHA256` query parameter value
/// Twilio adds to the URL of a JSON webhook.
pub fn body_sha256_hex(body: &[u8]) -> String {
    body_sha256_hex_bytes(body)
        .iter()
        .map(|&b| char::from(b))
        .collect()
}

fn body_sha256_hex_bytes(body: &[u8]) -> [u8; 64] {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let digest = Sha256::digest(body);
    let mut hex = [0u8; 64];
    for (pair, byte) in hex.chunks_exact_mut(2).zip(digest) {
        pair[0] = HEX[usize::from(byte >> 4)];
        pair[1] = HEX[usize::from(byte & 0x0f)];
    }
    hex
}

/// The 20 signature bytes, if `signature` is canonical padded base64 of
/// exactly that many (so comparing bytes is comparing strings).
fn decode_signature(signature: &str) -> Option<[u8; DIGEST_LEN]> {
    if signature.len() != SIGNATURE_LEN {
        return None;
    }
    let mut buf = [0u8; SIGNATURE_LEN];
    let len = STANDARD.decode_slice(signature, &mut buf).ok()?;
    buf[..len].try_into().ok()
}

fn hmac_for(token: &str) -> HmacSha1 {
    // HMAC takes keys of any length: this never fails.
    match HmacSha1::new_from_slice(token.as_bytes()) {
        Ok(mac) => mac,
        Err(_) => unreachable!("HMAC accepts keys of any length"),
    }
}

fn any_token_signs(
    tokens: &[&str],
    parts: &UrlParts<'_>,
    params: &SortedParams<'_>,
    expected: &[u8; DIGEST_LEN],
) -> bool {
    tokens
        .iter()
        .filter(|token| !token.is_empty())
        .any(|token| {
            // Key set-up once per token; each spelling starts from a copy.
            let keyed = hmac_for(token);
            parts.spellings().any(|spelling| {
                let mut mac = keyed.clone();
                parts.feed(&mut mac, spelling);
                params.feed(&mut mac);
                bool::from(mac.finalize().into_bytes().as_slice().ct_eq(expected))
            })
        })
}

/// Form parameters in signing order: by name, then value (byte order), each
/// identical pair once. That is exactly "names sorted; for a repeated name,
/// each distinct value sorted".
struct SortedParams<'a>(Vec<&'a (String, String)>);

impl<'a> SortedParams<'a> {
    const EMPTY: SortedParams<'static> = SortedParams(Vec::new());

    fn new(params: &'a [(String, String)]) -> Self {
        let mut sorted: Vec<_> = params.iter().collect();
        sorted.sort_unstable();
        sorted.dedup();
        Self(sorted)
    }

    fn feed(&self, mac: &mut HmacSha1) {
        for (name, value) in &self.0 {
            mac.update(name.as_bytes());
            mac.update(value.as_bytes());
        }
    }
}

/// A URL cut where its spellings differ: `head` (`scheme://userinfo@host`),
/// the port as given (`:1234`, or empty), and `tail` (path, query,
/// fragment). A URL that cannot be cut this way is all `tail`, and is only
/// tried as given (or with `%27`).
struct UrlParts<'a> {
    head: &'a str,
    port: &'a str,
    tail: &'a str,
    /// `:443` / `:80` for https / http.
    default_port: Option<&'static str>,
    /// The query within `tail` (after `?`, before any `#`).
    query: std::ops::Range<usize>,
}

/// One spelling of the URL to try.
#[derive(Clone, Copy)]
struct Spelling {
    port: PortSpelling,
    /// `'` written `%27` in the query.
    escape_apostrophes: bool,
}

#[derive(Clone, Copy, PartialEq)]
enum PortSpelling {
    AsGiven,
    Removed,
    DefaultAdded,
}

impl<'a> UrlParts<'a> {
    fn parse(url: &'a str) -> Self {
        let (head, port, tail, default_port) = split_authority(url).unwrap_or(("", "", url, None));
        let query = match tail.find('?') {
            Some(q) => {
                let end = tail[q..].find('#').map_or(tail.len(), |f| q + f);
                q + 1..end
            }
            None => tail.len()..tail.len(),
        };
        Self {
            head,
            port,
            tail,
            default_port,
            query,
        }
    }

    /// The spellings worth trying, the URL as given first.
    fn spellings(&self) -> impl Iterator<Item = Spelling> + use<> {
        let other_port = if !self.port.is_empty() {
            Some(PortSpelling::Removed)
        } else if self.default_port.is_some() {
            Some(PortSpelling::DefaultAdded)
        } else {
            None
        };
        let ports = std::iter::once(PortSpelling::AsGiven).chain(other_port);
        let apostrophes: &'static [bool] = if self.tail[self.query.clone()].contains('\'') {
            &[false, true]
        } else {
            &[false]
        };
        apostrophes.iter().flat_map(move |&escape_apostrophes| {
            ports.clone().map(move |port| Spelling {
                port,
                escape_apostrophes,
            })
        })
    }

    fn feed(&self, mac: &mut HmacSha1, spelling: Spelling) {
        mac.update(self.head.as_bytes());
        match spelling.port {
            PortSpelling::AsGiven => mac.update(self.port.as_bytes()),
            PortSpelling::Removed => {}
            PortSpelling::DefaultAdded => {
                mac.update(self.default_port.unwrap_or_default().as_bytes())
            }
        }
        if !spelling.escape_apostrophes {
            mac.update(self.tail.as_bytes());
            return;
        }
        let query = &self.tail[self.query.clone()];
        mac.update(&self.tail.as_bytes()[..self.query.start]);
        let mut pieces = query.split('\'');
        if let Some(first) = pieces.next() {
            mac.update(first.as_bytes());
        }
        for piece in pieces {
            mac.update(b"%27");
            mac.update(piece.as_bytes());
        }
        mac.update(&self.tail.as_bytes()[self.query.end..]);
    }

    /// The raw (not percent-decoded) value of the first `name` parameter in
    /// the query.
    fn query_param(&self, name: &str) -> Option<&'a str> {
        let tail: &'a str = self.tail;
        tail[self.query.clone()]
            .split('&')
            .find_map(|pair| match pair.split_once('=') {
                Some((n, value)) if n == name => Some(value),
                None if pair == name => Some(""),
                _ => None,
            })
    }
}

/// `(scheme://userinfo@host, :port or "", rest, default port)`, or `None` if
/// `url` has no `scheme://` or its port is not a number.
fn split_authority(url: &str) -> Option<(&str, &str, &str, Option<&'static str>)> {
    let scheme_end = url.find("://")?;
    let scheme = &url[..scheme_end];
    let authority_start = scheme_end + 3;
    let authority_end = url[authority_start..]
        .find(['/', '?', '#'])
        .map_or(url.len(), |i| authority_start + i);
    let authority = &url[authority_start..authority_end];
    // Userinfo runs to the last `@`; an IPv6 host is bracketed.
    let host_start = authority.rfind('@').map_or(0, |at| at + 1);
    let host_port = &authority[host_start..];
    let host_len = if host_port.starts_with('[') {
        host_port.find(']')? + 1
    } else {
        host_port.find(':').unwrap_or(host_port.len())
    };
    let port = &host_port[host_len..];
    let port_is_numeric = match port.strip_prefix(':') {
        Some(digits) => digits.bytes().all(|b| b.is_ascii_digit()),
        None => port.is_empty(),
    };
    if !port_is_numeric {
        return None;
    }
    let port_start = authority_start + host_start + host_len;
    let default_port = if scheme.eq_ignore_ascii_case("https") {
        Some(":443")
    } else if scheme.eq_ignore_ascii_case("http") {
        Some(":80")
    } else {
        None
    };
    Some((
        &url[..port_start],
        port,
        &url[authority_end..],
        default_port,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    const TOKEN: &str = "12345";
    const URL: &str = "https://mycompany.com/myapp.php?foo=1&bar=2";
    /// Twilio's documented example: [`URL`] and [`params`] under [`TOKEN`].
    const SIGNATURE: &str = "RSOYDt4T1cUTdK1PDd93/VVr8B8=";

    fn params() -> Vec<(String, String)> {
        [
            ("CallSid", "CA1234567890ABCDE"),
            ("Caller", "+14158675309"),
            ("Digits", "1234"),
            ("From", "+14158675309"),
            ("To", "+18005551212"),
        ]
        .into_iter()
        .map(|(n, v)| (n.to_owned(), v.to_owned()))
        .collect()
    }

    fn json_url(base: &str, body: &[u8]) -> String {
        format!("{base}&bodySHA256={}", body_sha256_hex(body))
    }

    #[test]
    fn when_the_documented_example_is_checked_it_should_be_valid() {
        let p = params();
        assert!(is_valid(&[TOKEN], URL, SignedBody::Form(&p), SIGNATURE));
    }

    #[test]
    fn when_only_the_second_token_signed_it_should_be_valid() {
        let p = params();
        assert!(is_valid(
            &["old-token", TOKEN],
            URL,
            SignedBody::Form(&p),
            SIGNATURE
        ));
        assert!(!is_valid(
            &["old-token", "other"],
            URL,
            SignedBody::Form(&p),
            SIGNATURE
        ));
        assert!(!is_valid(&[], URL, SignedBody::Form(&p), SIGNATURE));
    }

    #[test]
    fn when_an_empty_token_is_configured_it_should_be_ignored() {
        let p = params();
        let forged = sign("", URL, &p);
        assert!(!is_valid(&["", TOKEN], URL, SignedBody::Form(&p), &forged));
    }

    #[test]
    fn when_a_param_is_tampered_it_should_be_invalid() {
        let mut p = params();
        p[2].1 = "9999".to_owned();
        assert!(!is_valid(&[TOKEN], URL, SignedBody::Form(&p), SIGNATURE));
        let mut added = params();
        added.push(("Extra".to_owned(), "1".to_owned()));
        assert!(!is_valid(
            &[TOKEN],
            URL,
            SignedBody::Form(&added),
            SIGNATURE
        ));
    }

    #[test]
    fn when_a_json_body_has_no_body_sha256_it_should_be_invalid() {
        let body = br#"{"a":1}"#;
        // Signed over the URL alone, so only the missing hash can refuse it.
        let signature = sign(TOKEN, URL, &[]);
        assert!(!is_valid(&[TOKEN], URL, SignedBody::Json(body), &signature));
    }

    #[test]
    fn when_body_sha256_does_not_match_the_body_it_should_be_invalid() {
        let url = json_url(URL, br#"{"a":1}"#);
        let signature = sign(TOKEN, &url, &[]);
        assert!(is_valid(
            &[TOKEN],
            &url,
            SignedBody::Json(br#"{"a":1}"#),
            &signature
        ));
        assert!(!is_valid(
            &[TOKEN],
            &url,
            SignedBody::Json(br#"{"a":2}"#),
            &signature
        ));
        // Uppercase hex is not what Twilio sends.
        let upper = format!("{URL}&bodySHA256={}", body_sha256_hex(b"{}").to_uppercase());
        let signature = sign(TOKEN, &upper, &[]);
        assert!(!is_valid(
            &[TOKEN],
            &upper,
            SignedBody::Json(b"{}"),
            &signature
        ));
    }

    #[test]
    fn when_the_signature_is_empty_or_not_base64_it_should_be_invalid() {
        let p = params();
        for signature in [
            "",
            "not base64 at all!!!!!!!!!!!",
            "RSOYDt4T1cUTdK1PDd93/VVr8B8",
            "RSOYDt4T1cUTdK1PDd93/VVr8B8==",
            "RSOYDt4T1cUTdK1PDd93_VVr8B8=",
            " RSOYDt4T1cUTdK1PDd93/VVr8B8=",
            "RSOYDt4T1cUTdK1PDd93/VVr8B9=",
        ] {
            assert!(
                !is_valid(&[TOKEN], URL, SignedBody::Form(&p), signature),
                "{signature:?}"
            );
        }
    }

    #[test]
    fn when_signed_it_should_validate_in_any_param_order() {
        let mut p = params();
        p.push(("Digits".to_owned(), "1".to_owned()));
        p.push(("Digits".to_owned(), "1".to_owned()));
        let signature = sign(TOKEN, URL, &p);
        p.reverse();
        assert!(is_valid(&[TOKEN], URL, SignedBody::Form(&p), &signature));
        assert_eq!(sign(TOKEN, URL, &params()), SIGNATURE);
    }

    #[test]
    fn when_signed_as_json_it_should_round_trip() {
        let body = br#"{"property": "value", "boolean": true}"#;
        let url = json_url(URL, body);
        let signature = sign(TOKEN, &url, &[]);
        assert!(is_valid(&[TOKEN], &url, SignedBody::Json(body), &signature));
        assert_eq!(
            body_sha256_hex(body),
            "0a1ff7634d9ab3b95db5c9a2dfe9416e41502b283a80c7cf19632632f96e6620"
        );
    }

    #[test]
    fn when_signed_with_a_port_variant_it_should_be_valid() {
        let p = params();
        let with_credentials = "https://user:pass@mycompany.com/myapp.php?foo=1";
        let cases = [
            // (URL Twilio signed, URL we validate against)
            (
                "https://mycompany.com:443/a?b=1",
                "https://mycompany.com/a?b=1",
            ),
            (
                "https://mycompany.com/a?b=1",
                "https://mycompany.com:443/a?b=1",
            ),
            ("http://mycompany.com:80/a", "http://mycompany.com/a"),
            ("http://mycompany.com/a", "http://mycompany.com:8080/a"),
            ("https://[::1]/a", "https://[::1]:8443/a"),
            ("https://[::1]:443/a", "https://[::1]/a"),
            (
                "https://user:pass@mycompany.com:443/myapp.php?foo=1",
                with_credentials,
            ),
        ];
        for (signed, given) in cases {
            let signature = sign(TOKEN, signed, &p);
            assert!(
                is_valid(&[TOKEN], given, SignedBody::Form(&p), &signature),
                "{signed} vs {given}"
            );
        }
        // Userinfo is part of what is signed: no spelling drops it.
        let signature = sign(TOKEN, "https://mycompany.com/myapp.php?foo=1", &p);
        assert!(!is_valid(
            &[TOKEN],
            with_credentials,
            SignedBody::Form(&p),
            &signature
        ));
        // A different host or path is never a variant.
        let signature = sign(TOKEN, "https://other.com/a", &p);
        assert!(!is_valid(
            &[TOKEN],
            "https://mycompany.com/a",
            SignedBody::Form(&p),
            &signature
        ));
    }

    #[test]
    fn when_apostrophes_were_escaped_in_the_query_it_should_be_valid() {
        let p = params();
        let given = "https://mycompany.com/it's?Body=It's+amazing&x='#f'";
        let escaped = "https://mycompany.com/it's?Body=It%27s+amazing&x=%27#f'";
        let signature = sign(TOKEN, escaped, &p);
        assert!(is_valid(&[TOKEN], given, SignedBody::Form(&p), &signature));
        // Combined with a port spelling.
        let escaped_443 = "https://mycompany.com:443/it's?Body=It%27s+amazing&x=%27#f'";
        let signature = sign(TOKEN, escaped_443, &p);
        assert!(is_valid(&[TOKEN], given, SignedBody::Form(&p), &signature));
        // The path is not a query: its apostrophe stays.
        let signature = sign(
            TOKEN,
            "https://mycompany.com/it%27s?Body=It%27s+amazing&x=%27#f'",
            &p,
        );
        assert!(!is_valid(&[TOKEN], given, SignedBody::Form(&p), &signature));
    }

    #[test]
    fn when_the_url_is_not_absolute_it_should_only_be_tried_as_given() {
        let p = params();
        for url in ["/relative?x=1", "https://host:notaport/a", "nonsense"] {
            let signature = sign(TOKEN, url, &p);
            assert!(is_valid(&[TOKEN], url, SignedBody::Form(&p), &signature));
            assert_eq!(UrlParts::parse(url).spellings().count(), 1, "{url}");
        }
    }

    #[test]
    fn when_body_sha256_is_looked_up_it_should_be_the_first_raw_value() {
        let parts = UrlParts::parse("https://h/p?a=1&bodySHA256=ab&bodySHA256=cd#bodySHA256=ef");
        assert_eq!(parts.query_param(BODY_SHA256), Some("ab"));
        let parts = UrlParts::parse("https://h/p?xbodySHA256=ab#?bodySHA256=ef");
        assert_eq!(parts.query_param(BODY_SHA256), None);
    }
}
