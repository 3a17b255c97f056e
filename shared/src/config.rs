//! Typed configuration, loaded once at cold start.

use std::time::Duration;

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
    pub timeout: Duration,
    /// Attempts for requests that never reached Twilio (connect errors, 429).
    pub max_attempts: u32,
    /// First backoff step; doubles each attempt.
    pub backoff: Duration,
}

/// What every function needs: the table, the JWT secret and routing
/// defaults. Functions that never call Twilio load only this, so they need
/// no Twilio settings (or secrets) at all.
#[derive(Clone, Debug)]
pub struct CoreConfig {
    pub table_name: String,
    pub jwt_secret: String,
    pub default_org_id: Option<String>,
    pub public_base_url: Option<String>,
}

impl CoreConfig {
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(|name| std::env::var(name).ok().filter(|v| !v.is_empty()))
    }

    pub fn from_lookup(get: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        Ok(Self {
            jwt_secret: jwt_secret(&get)?,
            table_name: get("TABLE_NAME").ok_or(ConfigError::Missing("TABLE_NAME"))?,
            default_org_id: get("DEFAULT_ORG_ID"),
            public_base_url: get("PUBLIC_BASE_URL").map(|u| u.trim_end_matches('/').to_string()),
        })
    }
}

fn jwt_secret(get: &impl Fn(&str) -> Option<String>) -> Result<String, ConfigError> {
    let secret = get("AUTH_JWT_SECRET").ok_or(ConfigError::Missing("AUTH_JWT_SECRET"))?;
    if secret.len() < 16 {
        return Err(ConfigError::Invalid {
            name: "AUTH_JWT_SECRET",
            why: "must be at least 16 bytes".into(),
        });
    }
    Ok(secret)
}

/// Everything, for the functions that call Twilio.
#[derive(Clone, Debug)]
pub struct Config {
    pub table_name: String,
    pub jwt_secret: String,
    pub twilio: TwilioConfig,
    /// Org of inbound messages to numbers no chat account claims
    /// (single-tenant installs). Without it such messages are parked.
    pub default_org_id: Option<String>,
    /// The base URL Twilio calls (status callbacks of replies go there).
    pub public_base_url: Option<String>,
}

impl Config {
    /// The settings every function shares.
    pub fn core(&self) -> CoreConfig {
        CoreConfig {
            table_name: self.table_name.clone(),
            jwt_secret: self.jwt_secret.clone(),
            default_org_id: self.default_org_id.clone(),
            public_base_url: self.public_base_url.clone(),
        }
    }

    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(|name| std::env::var(name).ok().filter(|v| !v.is_empty()))
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
        let millis =
            |name: &'static str, default: u64| -> Result<Duration, ConfigError> {
                match get(name) {
                    None => Ok(Duration::from_millis(default)),
                    Some(v) => v.parse::<u64>().map(Duration::from_millis).map_err(|e| {
                        ConfigError::Invalid {
                            name,
                            why: e.to_string(),
                        }
                    }),
                }
            };
        let trim = |s: String| s.trim_end_matches('/').to_string();
        let core = CoreConfig::from_lookup(&get)?;
        Ok(Self {
            default_org_id: core.default_org_id,
            public_base_url: core.public_base_url,
            table_name: core.table_name,
            jwt_secret: core.jwt_secret,
            twilio: TwilioConfig {
                account_sid,
                username,
                password,
                conversations_base_url: trim(
                    get("TWILIO_CONVERSATIONS_BASE_URL")
                        .unwrap_or_else(|| "https://conversations.twilio.com".into()),
                ),
                api_base_url: trim(
                    get("TWILIO_API_BASE_URL").unwrap_or_else(|| "https://api.twilio.com".into()),
                ),
                timeout: millis("TWILIO_TIMEOUT_MS", 5_000)?,
                max_attempts: 3,
                backoff: millis("TWILIO_BACKOFF_MS", 200)?,
            },
        })
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
    fn when_api_key_is_set_it_should_be_the_basic_auth_pair() {
        let cfg = Config::from_lookup(lookup(&[
            ("AUTH_JWT_SECRET", "0123456789abcdef0123"),
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
        let err = Config::from_lookup(lookup(&[("AUTH_JWT_SECRET", "0123456789abcdef0123")]))
            .unwrap_err();
        assert!(err.to_string().contains("TWILIO_ACCOUNT_SID"), "{err}");
    }

    #[test]
    fn when_a_function_never_calls_twilio_it_should_start_without_twilio_settings() {
        let core = CoreConfig::from_lookup(lookup(&[
            ("AUTH_JWT_SECRET", "0123456789abcdef0123"),
            ("TABLE_NAME", "t"),
        ]))
        .unwrap();
        assert_eq!(core.table_name, "t");
        let err = CoreConfig::from_lookup(lookup(&[("AUTH_JWT_SECRET", "short")])).unwrap_err();
        assert!(err.to_string().contains("AUTH_JWT_SECRET"), "{err}");
    }

    #[test]
    fn when_the_jwt_secret_is_short_it_should_refuse() {
        let err = Config::from_lookup(lookup(&[("AUTH_JWT_SECRET", "short")])).unwrap_err();
        assert!(err.to_string().contains("AUTH_JWT_SECRET"));
    }
}
