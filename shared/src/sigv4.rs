//! SigV4 for the `awsjson` module's requests: a POST to `/` with no query, a
//! few headers and a body in memory, signed as `aws_sigv4` signs it with
//! its default settings (the headers given, `host`, `x-amz-date` and, with
//! a session token, `x-amz-security-token`; no payload-hash header).
//!
//! The same signature, for less work per call: `aws_sigv4` derives the
//! signing key (four HMACs) for every request and builds the canonical
//! request through a `HeaderMap` and formatted strings. Here the key is
//! kept for its day, credentials and scope, and the canonical request is
//! written into one buffer. Anything outside that shape (another path, a
//! header the signer treats specially, a value a header cannot hold) is
//! left to `aws_sigv4`: [`Signer::new`] and [`Signer::sign`] answer `None`.

use std::borrow::Cow;
use std::fmt::Write as _;
use std::sync::Mutex;
use std::time::SystemTime;

use aws_credential_types::Credentials;
use hmac::{Hmac, KeyInit, Mac};
use sha2::{Digest, Sha256};

type HmacSha256 = Hmac<Sha256>;

/// Headers `aws_sigv4` adds, replaces or leaves unsigned: a request that
/// carries one is signed by it.
const SPECIAL: &[&str] = &[
    "host",
    "x-amz-date",
    "x-amz-security-token",
    "x-amz-content-sha256",
    "authorization",
    "user-agent",
    "x-amzn-trace-id",
    "transfer-encoding",
];

/// Signs requests to one endpoint for one region and service.
#[derive(Debug)]
pub struct Signer {
    /// The canonical `host` value: the URL's host, with its port unless it
    /// is the scheme's default (as `aws_sigv4` writes it).
    host: String,
    region: String,
    /// The signing name (`sqs`, `dynamodb`).
    service: &'static str,
    key: Mutex<Option<SigningKey>>,
}

/// A derived signing key and what it was derived from.
struct SigningKey {
    secret: String,
    date: [u8; 8],
    key: [u8; 32],
}

impl std::fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SigningKey(..)")
    }
}

/// The headers a signed request carries besides its own.
#[derive(Debug, PartialEq, Eq)]
pub struct Signed {
    /// `x-amz-date`.
    pub date_time: String,
    /// `authorization`.
    pub authorization: String,
}

impl Signer {
    /// A signer for requests posted to `url`; `None` unless its path is `/`
    /// with no query (what `aws_sigv4` would normalise and encode).
    pub fn new(url: &http::Uri, region: &str, service: &'static str) -> Option<Self> {
        if url.path() != "/" || url.query().is_some() {
            return None;
        }
        let host = url.host()?;
        let authority = url.authority()?.as_str();
        let default_port = matches!(
            (url.scheme_str(), url.port_u16()),
            (Some("http"), Some(80)) | (Some("https"), Some(443))
        );
        let host = if default_port { host } else { authority };
        if !host.bytes().all(header_byte) {
            return None;
        }
        Some(Self {
            host: host.to_string(),
            region: region.to_string(),
            service,
            key: Mutex::new(None),
        })
    }

    /// Sign a POST of `body` with `headers` (names as given, values as
    /// sent) at `time`; `None` for a request this signer leaves to
    /// `aws_sigv4` (see the module docs).
    pub fn sign(
        &self,
        creds: &Credentials,
        time: SystemTime,
        headers: &[(&str, &str)],
        body: &[u8],
    ) -> Option<Signed> {
        let date_time = amz_date(time);
        let date = &date_time[..8];
        let mut canonical: Vec<(Cow<'_, str>, Cow<'_, str>)> =
            Vec::with_capacity(headers.len() + 3);
        for (name, value) in headers {
            let name = if name.bytes().any(|b| b.is_ascii_uppercase()) {
                Cow::Owned(name.to_ascii_lowercase())
            } else {
                Cow::Borrowed(*name)
            };
            if SPECIAL.contains(&name.as_ref())
                || name.is_empty()
                || !value.bytes().all(header_byte)
            {
                return None;
            }
            canonical.push((name, trim_all(value)));
        }
        canonical.push((Cow::Borrowed("host"), Cow::Borrowed(&self.host)));
        canonical.push((Cow::Borrowed("x-amz-date"), Cow::Borrowed(&date_time)));
        if let Some(token) = creds.session_token() {
            if !token.bytes().all(header_byte) {
                return None;
            }
            // Signed as it is, not normalised (as `aws_sigv4` inserts it).
            canonical.push((Cow::Borrowed("x-amz-security-token"), Cow::Borrowed(token)));
        }
        // Stable: repeated names keep their order, joined with `,`.
        canonical.sort_by(|a, b| a.0.cmp(&b.0));

        let mut signed_headers = String::with_capacity(96);
        let mut request = String::with_capacity(512);
        request.push_str("POST\n/\n\n");
        let mut i = 0;
        while i < canonical.len() {
            let name = &canonical[i].0;
            request.push_str(name.as_ref());
            request.push(':');
            request.push_str(&canonical[i].1);
            let mut j = i + 1;
            while j < canonical.len() && canonical[j].0 == canonical[i].0 {
                request.push(',');
                request.push_str(&canonical[j].1);
                j += 1;
            }
            request.push('\n');
            if !signed_headers.is_empty() {
                signed_headers.push(';');
            }
            signed_headers.push_str(name.as_ref());
            i = j;
        }
        request.push('\n');
        request.push_str(&signed_headers);
        request.push('\n');
        push_hex(&mut request, &Sha256::digest(body));

        let scope = format!("{date}/{}/{}/aws4_request", self.region, self.service);
        let mut to_sign = String::with_capacity(160);
        to_sign.push_str("AWS4-HMAC-SHA256\n");
        to_sign.push_str(&date_time);
        to_sign.push('\n');
        to_sign.push_str(&scope);
        to_sign.push('\n');
        push_hex(&mut to_sign, &Sha256::digest(request.as_bytes()));

        let key = self.signing_key(creds.secret_access_key(), date);
        let mut mac = HmacSha256::new_from_slice(&key).expect("HMAC takes any key length");
        mac.update(to_sign.as_bytes());
        let mut authorization = String::with_capacity(200);
        let _ = write!(
            authorization,
            "AWS4-HMAC-SHA256 Credential={}/{scope}, SignedHeaders={signed_headers}, Signature=",
            creds.access_key_id()
        );
        push_hex(&mut authorization, &mac.finalize().into_bytes());
        Some(Signed {
            date_time,
            authorization,
        })
    }

    /// The key for `secret` on `date` (`YYYYMMDD`), derived once a day.
    fn signing_key(&self, secret: &str, date: &str) -> [u8; 32] {
        let mut cached = self.key.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(k) = cached.as_ref()
            && k.secret == secret
            && k.date == date.as_bytes()
        {
            return k.key;
        }
        let hmac = |key: &[u8], data: &str| -> [u8; 32] {
            let mut mac = HmacSha256::new_from_slice(key).expect("HMAC takes any key length");
            mac.update(data.as_bytes());
            mac.finalize().into_bytes().into()
        };
        let k = hmac(format!("AWS4{secret}").as_bytes(), date);
        let k = hmac(&k, &self.region);
        let k = hmac(&k, self.service);
        let key = hmac(&k, "aws4_request");
        let mut d = [0u8; 8];
        d.copy_from_slice(&date.as_bytes()[..8]);
        *cached = Some(SigningKey {
            secret: secret.to_string(),
            date: d,
            key,
        });
        key
    }
}

/// A byte an `http::HeaderValue` holds as text: visible ASCII, space, tab.
fn header_byte(b: u8) -> bool {
    b == b'\t' || (0x20..0x7f).contains(&b)
}

/// `aws_sigv4`'s header value normalisation: spaces (only) trimmed at both
/// ends and runs of spaces inside collapsed to one.
fn trim_all(value: &str) -> Cow<'_, str> {
    let value = value.trim_matches(' ');
    if !value.contains("  ") {
        return Cow::Borrowed(value);
    }
    let mut out = String::with_capacity(value.len());
    let mut last_space = false;
    for c in value.chars() {
        if c == ' ' && last_space {
            continue;
        }
        last_space = c == ' ';
        out.push(c);
    }
    Cow::Owned(out)
}

/// Lower-case hex digits, by value.
pub(crate) const HEX_DIGITS: &[u8; 16] = b"0123456789abcdef";

pub(crate) fn push_hex(out: &mut String, bytes: &[u8]) {
    for b in bytes {
        out.push(HEX_DIGITS[(b >> 4) as usize] as char);
        out.push(HEX_DIGITS[(b & 15) as usize] as char);
    }
}

/// `YYYYMMDD'T'HHMMSS'Z'` in UTC.
fn amz_date(time: SystemTime) -> String {
    use chrono::{Datelike, Timelike};
    let t = chrono::DateTime::<chrono::Utc>::from(time);
    let mut s = String::with_capacity(16);
    let _ = write!(
        s,
        "{:04}{:02}{:02}T{:02}{:02}{:02}Z",
        t.year(),
        t.month(),
        t.day(),
        t.hour(),
        t.minute(),
        t.second()
    );
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_sigv4::http_request::{SignableBody, SignableRequest, SigningSettings, sign};
    use aws_sigv4::sign::v4;
    use aws_smithy_runtime_api::client::identity::Identity;
    use std::time::{Duration, UNIX_EPOCH};

    /// What `aws_sigv4` (the SDK's signer, default settings) adds.
    fn theirs(
        url: &str,
        creds: &Credentials,
        region: &str,
        service: &str,
        time: SystemTime,
        headers: &[(&str, &str)],
        body: &[u8],
    ) -> Vec<(String, String)> {
        let identity: Identity = creds.clone().into();
        let params = v4::SigningParams::builder()
            .identity(&identity)
            .region(region)
            .name(service)
            .time(time)
            .settings(SigningSettings::default())
            .build()
            .unwrap()
            .into();
        let signable = SignableRequest::new(
            "POST",
            url,
            headers.iter().copied(),
            SignableBody::Bytes(body),
        )
        .unwrap();
        let (instructions, _) = sign(signable, &params).unwrap().into_parts();
        instructions
            .headers()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn ours(
        url: &str,
        creds: &Credentials,
        region: &str,
        service: &'static str,
        time: SystemTime,
        headers: &[(&str, &str)],
        body: &[u8],
    ) -> Option<Vec<(String, String)>> {
        let signer = Signer::new(&url.parse().unwrap(), region, service)?;
        let signed = signer.sign(creds, time, headers, body)?;
        let mut out = vec![
            ("x-amz-date".to_string(), signed.date_time),
            ("authorization".to_string(), signed.authorization),
        ];
        if let Some(token) = creds.session_token() {
            out.push(("x-amz-security-token".into(), token.into()));
        }
        Some(out)
    }

    fn creds(token: Option<&str>) -> Credentials {
        Credentials::new(
            "AKIDEXAMPLE",
            "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
            token.map(str::to_string),
            None,
            "test",
        )
    }

    #[test]
    fn each_request_should_carry_the_headers_aws_sigv4_adds() {
        let json = [
            ("content-type", "application/x-amz-json-1.0"),
            ("x-amz-target", "DynamoDB_20120810.GetItem"),
        ];
        let sqs = [
            ("content-type", "application/x-amz-json-1.0"),
            ("x-amz-target", "AmazonSQS.SendMessage"),
            ("x-amzn-query-mode", "true"),
        ];
        let odd = [
            ("Content-Type", "  application/x-amz-json-1.1  "),
            ("X-Amz-Target", "secretsmanager.GetSecretValue"),
            ("x-extra", "a  b   c"),
            ("x-extra", "second"),
            ("a-first", ""),
        ];
        let urls = [
            "https://dynamodb.eu-west-1.amazonaws.com/",
            "https://sqs.us-east-1.amazonaws.com:443/",
            "http://localhost:80/",
            "http://127.0.0.1:4566/",
            "https://localhost:8443/",
            "http://[::1]:4566/",
        ];
        let times = [
            UNIX_EPOCH + Duration::from_secs(1_440_938_160),
            UNIX_EPOCH + Duration::from_millis(1_796_601_599_999),
            UNIX_EPOCH + Duration::from_secs(951_782_400), // 2000-02-29
        ];
        let mut compared = 0;
        for url in urls {
            for token in [
                None,
                Some("FQoGZXIvYXdzEXAMPLE+/="),
                Some("a  spaced token "),
            ] {
                for (headers, service) in [
                    (&json[..], "dynamodb"),
                    (&sqs[..], "sqs"),
                    (&odd[..], "secretsmanager"),
                ] {
                    for time in times {
                        for body in [
                            &b""[..],
                            br#"{"TableName":"t","Key":{"pk":{"S":"\u00e9"}}}"#,
                        ] {
                            let c = creds(token);
                            let expected =
                                theirs(url, &c, "eu-west-1", service, time, headers, body);
                            let got = ours(url, &c, "eu-west-1", service, time, headers, body)
                                .unwrap_or_else(|| panic!("{url} {headers:?} signed by us"));
                            assert_eq!(got, expected, "{url} {token:?} {headers:?} {time:?}");
                            compared += 1;
                        }
                    }
                }
            }
        }
        assert_eq!(compared, 6 * 3 * 3 * 3 * 2);
    }

    #[test]
    fn the_key_should_follow_the_day_and_the_secret() {
        let url = "https://sqs.us-east-1.amazonaws.com/";
        let signer = Signer::new(&url.parse().unwrap(), "us-east-1", "sqs").unwrap();
        let h = [("x-amz-target", "AmazonSQS.SendMessage")];
        let day1 = UNIX_EPOCH + Duration::from_secs(1_796_601_500);
        let day2 = day1 + Duration::from_secs(3600);
        let other = Credentials::new("AKIDEXAMPLE", "another secret", None, None, "test");
        // One signer across days and a rotated secret: every signature is
        // still the SDK's.
        for (c, t) in [
            (creds(None), day1),
            (creds(None), day2),
            (other.clone(), day2),
            (creds(None), day2),
            (other, day1),
        ] {
            let got = signer.sign(&c, t, &h, b"{}").unwrap();
            let expected = theirs(url, &c, "us-east-1", "sqs", t, &h, b"{}");
            assert_eq!(expected[0], ("x-amz-date".into(), got.date_time));
            assert_eq!(expected[1], ("authorization".into(), got.authorization));
        }
    }

    #[test]
    fn what_the_signer_does_not_handle_should_be_left_to_aws_sigv4() {
        let c = creds(None);
        let t = UNIX_EPOCH;
        for url in ["https://x.example/path/", "https://x.example/?a=b"] {
            assert!(
                Signer::new(&url.parse().unwrap(), "r", "s").is_none(),
                "{url}"
            );
        }
        let signer = Signer::new(&"https://x.example/".parse().unwrap(), "r", "s").unwrap();
        for h in [
            ("Host", "other"),
            ("x-amz-date", "20200101T000000Z"),
            ("X-Amz-Security-Token", "t"),
            ("user-agent", "me"),
            ("authorization", "x"),
            ("x-good", "line\nbreak"),
            ("x-good", "caf\u{e9}"),
        ] {
            assert!(signer.sign(&c, t, &[h], b"").is_none(), "{h:?}");
        }
        assert!(signer.sign(&c, t, &[("x-good", "ok")], b"").is_some());
    }
}
