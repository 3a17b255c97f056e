//! Typed configuration, loaded once at cold start.

use std::time::Duration;

use crate::bookings::BookingsConfig;

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("missing required setting {0}")]
    Missing(&'static str),
    #[error("invalid setting {name}: {why}")]
    Invalid { name: &'static str, why: String },
}

#[derive(Clone, Debug)]
pub struct TwilioConfig {
    pub account_sid: String,
    /// Basic-auth user: the account SID, or an API key SID (`SK...`).
    pub username: String,
    /// Basic-auth password: the auth token, or the API key secret.
    pub password: String,
    pub conversations_base_url: String,
    pub api_base_url: String,
    /// Twilio's Messaging v2 API (WhatsApp typing indicators).
    pub messaging_base_url: String,
    /// How long an answer is awaited once connected (connecting has its
    /// own 2 s, `twilio`'s client).
    pub timeout: Duration,
    /// Attempts for requests that never reached Twilio (connect errors, 429).
    pub max_attempts: u32,
    /// First backoff step; doubles each attempt.
    pub backoff: Duration,
}

#[derive(Clone, Debug)]
pub struct MetaConfig {
    /// `META_GRAPH_BASE_URL`, default `https://graph.facebook.com`.
    pub graph_base_url: String,
    /// `META_GRAPH_VERSION`, default `v23.0`.
    pub graph_version: String,
    pub timeout: Duration,
    pub max_attempts: u32,
    pub backoff: Duration,
}

impl MetaConfig {
    pub fn from_lookup(get: &impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let base =
            get("META_GRAPH_BASE_URL").unwrap_or_else(|| "https://graph.facebook.com".into());
        if !(base.starts_with("https://") || base.starts_with("http://")) {
            return Err(ConfigError::Invalid {
                name: "META_GRAPH_BASE_URL",
                why: "must be an http(s) URL".into(),
            });
        }
        let version = get("META_GRAPH_VERSION").unwrap_or_else(|| "v23.0".into());
        if !version.starts_with('v') || version.len() > 10 || version.contains('/') {
            return Err(ConfigError::Invalid {
                name: "META_GRAPH_VERSION",
                why: "must look like v23.0".into(),
            });
        }
        let timeout = millis(get, "META_TIMEOUT_MS", 5_000)?;
        Ok(Self {
            graph_base_url: base.trim_end_matches('/').to_string(),
            graph_version: version,
            timeout,
            max_attempts: 3,
            backoff: Duration::from_millis(100),
        })
    }
}

/// What every function needs: the table, the JWT secret and routing
/// defaults. Functions that never call Twilio load only this, so they need
/// no Twilio settings (or secrets) at all.
#[derive(Clone, Debug)]
pub struct CoreConfig {
    pub table_name: String,
    pub jwt_secret: String,
    /// Checked against the token's `aud` when set (`AUTH_JWT_AUDIENCE`).
    pub jwt_audience: Option<String>,
    /// Checked against the token's `iss` when set (`AUTH_JWT_ISSUER`).
    pub jwt_issuer: Option<String>,
    pub default_org_id: Option<String>,
    pub public_base_url: Option<String>,
}

impl CoreConfig {
    pub fn from_lookup(get: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        Ok(Self {
            jwt_secret: jwt_secret(&get)?,
            jwt_audience: get("AUTH_JWT_AUDIENCE"),
            jwt_issuer: get("AUTH_JWT_ISSUER"),
            table_name: get("TABLE_NAME").ok_or(ConfigError::Missing("TABLE_NAME"))?,
            default_org_id: get("DEFAULT_ORG_ID"),
            public_base_url: get("PUBLIC_BASE_URL").map(|u| u.trim_end_matches('/').to_string()),
        })
    }

    /// For the functions that never verify a token nor issue a cursor
    /// (`process-inbound`, `push`, `ws-disconnect`): the template gives
    /// them no JWT secret, so without `AUTH_JWT_SECRET` they key their
    /// (unused) verifier with 160 random bits of this process, which verify
    /// no token anyone holds: fail closed, never a shared default.
    pub fn from_lookup_without_tokens(
        get: impl Fn(&str) -> Option<String>,
    ) -> Result<Self, ConfigError> {
        let key = std::cell::OnceCell::new();
        Self::from_lookup(|name| match get(name) {
            None if name == "AUTH_JWT_SECRET" => Some(
                key.get_or_init(|| format!("{}{}", ulid::Ulid::new(), ulid::Ulid::new()))
                    .clone(),
            ),
            other => other,
        })
    }
}

fn jwt_secret(get: &impl Fn(&str) -> Option<String>) -> Result<String, ConfigError> {
    let secret = get("AUTH_JWT_SECRET").ok_or(ConfigError::Missing("AUTH_JWT_SECRET"))?;
    if secret.len() < MIN_JWT_SECRET_BYTES {
        return Err(ConfigError::Invalid {
            name: "AUTH_JWT_SECRET",
            why: format!("must be at least {MIN_JWT_SECRET_BYTES} bytes"),
        });
    }
    Ok(secret)
}

/// HS256 needs a key at least as long as its 256-bit output.
pub const MIN_JWT_SECRET_BYTES: usize = 32;

/// The booking directory, when `BOOKINGS_URL` is set (then `BOOKINGS_KEY`
/// is required too). Without it only service tokens open booking chats.
pub fn bookings(
    get: &impl Fn(&str) -> Option<String>,
) -> Result<Option<BookingsConfig>, ConfigError> {
    let Some(url) = get("BOOKINGS_URL") else {
        return Ok(None);
    };
    if !(url.starts_with("https://") || url.starts_with("http://")) {
        return Err(ConfigError::Invalid {
            name: "BOOKINGS_URL",
            why: "must be an http(s) URL".into(),
        });
    }
    let key = get("BOOKINGS_KEY").ok_or(ConfigError::Missing("BOOKINGS_KEY"))?;
    let timeout = millis(get, "BOOKINGS_TIMEOUT_MS", 3_000)?;
    Ok(Some(BookingsConfig {
        url: url.trim_end_matches('/').to_string(),
        key,
        timeout,
    }))
}

/// Everything, for the functions that call Twilio.
#[derive(Clone, Debug)]
pub struct Config {
    pub table_name: String,
    pub jwt_secret: String,
    pub jwt_audience: Option<String>,
    pub jwt_issuer: Option<String>,
    pub twilio: TwilioConfig,
    /// Org of inbound messages to numbers no chat account claims
    /// (single-tenant installs). Without it such messages are parked.
    pub default_org_id: Option<String>,
    /// The base URL Twilio calls (status callbacks of replies go there).
    pub public_base_url: Option<String>,
    /// The booking directory (`BOOKINGS_URL`), checked before a customer or
    /// provider opens a booking chat.
    pub bookings: Option<BookingsConfig>,
    /// Meta's Graph API (`META_GRAPH_BASE_URL`, `META_GRAPH_VERSION`) for
    /// replies on Meta conversations; the tokens are per org, on the
    /// chat accounts.
    pub meta: MetaConfig,
}

impl Config {
    /// The settings every function shares.
    pub fn core(&self) -> CoreConfig {
        CoreConfig {
            table_name: self.table_name.clone(),
            jwt_secret: self.jwt_secret.clone(),
            jwt_audience: self.jwt_audience.clone(),
            jwt_issuer: self.jwt_issuer.clone(),
            default_org_id: self.default_org_id.clone(),
            public_base_url: self.public_base_url.clone(),
        }
    }

    /// Build from any lookup (the environment, a test's map).
    pub fn from_lookup(get: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let required = |name: &'static str| get(name).ok_or(ConfigError::Missing(name));
        jwt_secret(&get)?;
        let account_sid = required("TWILIO_ACCOUNT_SID")?;
        let (username, password) = match (get("TWILIO_API_KEY_SID"), get("TWILIO_API_KEY_SECRET")) {
            (Some(key), Some(secret)) => (key, secret),
            _ => (account_sid.clone(), required("TWILIO_AUTH_TOKEN")?),
        };
        let trim = |s: String| s.trim_end_matches('/').to_string();
        let core = CoreConfig::from_lookup(&get)?;
        let bookings = bookings(&get)?;
        let meta = MetaConfig::from_lookup(&get)?;
        Ok(Self {
            bookings,
            meta,
            default_org_id: core.default_org_id,
            public_base_url: core.public_base_url,
            table_name: core.table_name,
            jwt_secret: core.jwt_secret,
            jwt_audience: core.jwt_audience,
            jwt_issuer: core.jwt_issuer,
            twilio: TwilioConfig {
                account_sid,
                username,
                password,
                conversations_base_url: conversations_base_url(&get),
                api_base_url: trim(
                    get("TWILIO_API_BASE_URL").unwrap_or_else(|| "https://api.twilio.com".into()),
                ),
                messaging_base_url: trim(
                    get("TWILIO_MESSAGING_BASE_URL")
                        .unwrap_or_else(|| "https://messaging.twilio.com".into()),
                ),
                timeout: twilio_timeout(&get)?,
                max_attempts: 3,
                backoff: millis(&get, "TWILIO_BACKOFF_MS", 200)?,
            },
        })
    }
}

/// `TWILIO_CONVERSATIONS_BASE_URL` (Twilio's by default), without a
/// trailing slash: where [`TwilioConfig::conversations_base_url`] points.
pub fn conversations_base_url(get: &impl Fn(&str) -> Option<String>) -> String {
    get("TWILIO_CONVERSATIONS_BASE_URL")
        .unwrap_or_else(|| "https://conversations.twilio.com".into())
        .trim_end_matches('/')
        .to_string()
}

/// `TWILIO_TIMEOUT_MS` (5 s by default): [`TwilioConfig::timeout`].
pub fn twilio_timeout(get: &impl Fn(&str) -> Option<String>) -> Result<Duration, ConfigError> {
    millis(get, "TWILIO_TIMEOUT_MS", 5_000)
}

/// A duration setting in whole milliseconds, `default` when unset.
fn millis(
    get: &impl Fn(&str) -> Option<String>,
    name: &'static str,
    default: u64,
) -> Result<Duration, ConfigError> {
    match get(name) {
        None => Ok(Duration::from_millis(default)),
        Some(v) => v
            .parse::<u64>()
            .map(Duration::from_millis)
            .map_err(|e| ConfigError::Invalid {
                name,
                why: e.to_string(),
            }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn lookup(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let map: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        move |k| map.get(k).cloned()
    }

    #[test]
    fn the_twilio_connection_settings_should_have_defaults_and_refuse_a_bad_timeout() {
        let none = lookup(&[]);
        assert_eq!(
            conversations_base_url(&none),
            "https://conversations.twilio.com"
        );
        assert_eq!(twilio_timeout(&none).unwrap(), Duration::from_secs(5));
        let set = lookup(&[
            ("TWILIO_CONVERSATIONS_BASE_URL", "http://127.0.0.1:9//"),
            ("TWILIO_TIMEOUT_MS", "750"),
        ]);
        assert_eq!(conversations_base_url(&set), "http://127.0.0.1:9");
        assert_eq!(twilio_timeout(&set).unwrap(), Duration::from_millis(750));
        let bad = lookup(&[("TWILIO_TIMEOUT_MS", "5s")]);
        assert!(matches!(
            twilio_timeout(&bad),
            Err(ConfigError::Invalid {
                name: "TWILIO_TIMEOUT_MS",
                ..
            })
        ));
    }

    #[test]
    fn when_api_key_is_set_it_should_be_the_basic_auth_pair() {
        let cfg = Config::from_lookup(lookup(&[
            ("AUTH_JWT_SECRET", "0123456789abcdef0123456789abcdef"),
            ("TABLE_NAME", "t"),
            ("TWILIO_ACCOUNT_SID", "AC1"),
            ("TWILIO_API_KEY_SID", "SK1"),
            ("TWILIO_API_KEY_SECRET", "sec"),
            ("TWILIO_CONVERSATIONS_BASE_URL", "http://127.0.0.1:9/"),
        ]))
        .unwrap();
        assert_eq!(cfg.twilio.username, "SK1");
        assert_eq!(cfg.twilio.password, "sec");
        assert_eq!(cfg.twilio.conversations_base_url, "http://127.0.0.1:9");
        assert_eq!(cfg.twilio.api_base_url, "https://api.twilio.com");
    }

    #[test]
    fn when_a_setting_is_missing_it_should_name_it() {
        let err = Config::from_lookup(lookup(&[(
            "AUTH_JWT_SECRET",
            "0123456789abcdef0123456789abcdef",
        )]))
        .unwrap_err();
        assert!(err.to_string().contains("TWILIO_ACCOUNT_SID"), "{err}");
    }

    #[test]
    fn when_a_function_never_calls_twilio_it_should_start_without_twilio_settings() {
        let core = CoreConfig::from_lookup(lookup(&[
            ("AUTH_JWT_SECRET", "0123456789abcdef0123456789abcdef"),
            ("TABLE_NAME", "t"),
        ]))
        .unwrap();
        assert_eq!(core.table_name, "t");
        let err = CoreConfig::from_lookup(lookup(&[("AUTH_JWT_SECRET", "short")])).unwrap_err();
        assert!(err.to_string().contains("AUTH_JWT_SECRET"), "{err}");
    }

    #[test]
    fn when_a_function_verifies_no_tokens_it_should_start_without_the_jwt_secret_and_verify_nothing()
     {
        let a = CoreConfig::from_lookup_without_tokens(lookup(&[("TABLE_NAME", "t")])).unwrap();
        let b = CoreConfig::from_lookup_without_tokens(lookup(&[("TABLE_NAME", "t")])).unwrap();
        assert!(a.jwt_secret.len() >= MIN_JWT_SECRET_BYTES);
        assert_ne!(a.jwt_secret, b.jwt_secret, "a random key per process");
        assert_ne!(a.jwt_secret, crate::auth::LOCAL_DEV_SECRET);
        // A configured secret is still used, and still checked.
        let secret = "y".repeat(32);
        let c = CoreConfig::from_lookup_without_tokens(lookup(&[
            ("TABLE_NAME", "t"),
            ("AUTH_JWT_SECRET", &secret),
        ]))
        .unwrap();
        assert_eq!(c.jwt_secret, secret);
        assert!(
            CoreConfig::from_lookup_without_tokens(lookup(&[
                ("TABLE_NAME", "t"),
                ("AUTH_JWT_SECRET", "short"),
            ]))
            .is_err()
        );
    }

    #[test]
    fn when_the_jwt_secret_is_short_it_should_refuse() {
        let err = Config::from_lookup(lookup(&[("AUTH_JWT_SECRET", "short")])).unwrap_err();
        assert!(err.to_string().contains("AUTH_JWT_SECRET"));
    }

    #[test]
    fn when_the_jwt_secret_is_under_32_bytes_it_should_refuse_and_32_should_start() {
        let err = CoreConfig::from_lookup(lookup(&[
            ("AUTH_JWT_SECRET", &"x".repeat(31)),
            ("TABLE_NAME", "t"),
        ]))
        .unwrap_err();
        assert!(err.to_string().contains("at least 32 bytes"), "{err}");
        let secret = "x".repeat(32);
        assert!(
            CoreConfig::from_lookup(lookup(&[("AUTH_JWT_SECRET", &secret), ("TABLE_NAME", "t")]))
                .is_ok()
        );
        // The local dev secret must start too.
        assert!(crate::auth::LOCAL_DEV_SECRET.len() >= MIN_JWT_SECRET_BYTES);
    }

    #[test]
    fn when_a_booking_directory_is_configured_it_should_need_a_key_and_an_http_url() {
        let base = [
            ("AUTH_JWT_SECRET", "0123456789abcdef0123456789abcdef"),
            ("TABLE_NAME", "t"),
            ("TWILIO_ACCOUNT_SID", "AC1"),
            ("TWILIO_AUTH_TOKEN", "tok"),
        ];
        assert!(
            Config::from_lookup(lookup(&base))
                .unwrap()
                .bookings
                .is_none()
        );
        let with = |extra: &[(&'static str, &'static str)]| {
            let mut all = base.to_vec();
            all.extend_from_slice(extra);
            Config::from_lookup(lookup(&all))
        };
        let err = with(&[("BOOKINGS_URL", "https://db.example/rest/v1")]).unwrap_err();
        assert!(err.to_string().contains("BOOKINGS_KEY"), "{err}");
        let err = with(&[("BOOKINGS_URL", "db.example"), ("BOOKINGS_KEY", "k")]).unwrap_err();
        assert!(err.to_string().contains("BOOKINGS_URL"), "{err}");
        let cfg = with(&[
            ("BOOKINGS_URL", "https://db.example/rest/v1/"),
            ("BOOKINGS_KEY", "k"),
        ])
        .unwrap();
        let b = cfg.bookings.unwrap();
        assert_eq!(b.url, "https://db.example/rest/v1");
        assert_eq!(b.key, "k");
    }
}
