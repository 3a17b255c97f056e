//! Secrets, read once at cold start.
//!
//! A secret setting (the JWT secret, Twilio's auth token or API key
//! secret, the booking directory's key, Meta's app secret and verify token)
//! comes from the environment when it is set there (`make run`, tests,
//! `cargo lambda watch`), and otherwise from AWS Secrets Manager: a
//! function whose environment has `<SETTING>_ARN` reads that
//! secret's string once, during init, and keeps it for the life of the
//! execution environment. The template gives each function only the ARNs
//! (and the `secretsmanager:GetSecretValue` permission) of the secrets it
//! uses, so the values never appear in a function's configuration.
//!
//! A named secret that cannot be read (missing, no permission, no string
//! value, empty) stops the function at init with the setting and the ARN
//! in the error, never the value: a function never starts half-configured.

use std::collections::HashMap;

/// Every setting that is a secret, and so may come from Secrets Manager.
pub const SECRET_SETTINGS: [&str; 8] = [
    "AUTH_JWT_SECRET",
    "TWILIO_AUTH_TOKEN",
    "TWILIO_AUTH_TOKEN_SECONDARY",
    "TWILIO_API_KEY_SECRET",
    "BOOKINGS_KEY",
    "META_APP_SECRET",
    "META_APP_SECRET_SECONDARY",
    "META_VERIFY_TOKEN",
];

/// The environment variable naming the secret of `setting`.
pub fn arn_variable(setting: &str) -> String {
    format!("{setting}_ARN")
}

#[derive(Debug, thiserror::Error)]
pub enum SecretsError {
    #[error("{setting}: secret {secret_id} could not be read: {why}")]
    Unreadable {
        setting: &'static str,
        secret_id: String,
        why: String,
    },
    #[error("{setting}: secret {secret_id} has no string value (or an empty one)")]
    Empty {
        setting: &'static str,
        secret_id: String,
    },
}

/// The settings of this process: the environment (or a test's lookup)
/// first, then the secrets it named, as read at cold start.
pub struct Settings<L = fn(&str) -> Option<String>> {
    lookup: L,
    secrets: HashMap<&'static str, String>,
}

impl<L> std::fmt::Debug for Settings<L> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Names only: values never reach a log.
        f.debug_struct("Settings")
            .field("secrets", &self.secrets.keys().collect::<Vec<_>>())
            .finish()
    }
}

/// A non-empty environment variable.
pub fn env(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.is_empty())
}

impl Settings {
    /// The environment, and the secrets it names from Secrets Manager
    /// (`sdk`'s region, credentials and endpoint).
    pub async fn from_env(sdk: &aws_config::SdkConfig) -> Result<Self, SecretsError> {
        Settings::load(sdk, env as fn(&str) -> Option<String>).await
    }
}

impl<L: Fn(&str) -> Option<String>> Settings<L> {
    /// `lookup` first; for each secret setting it lacks but names a secret
    /// of (`<SETTING>_ARN`), that secret. Two or more are read in one
    /// `BatchGetSecretValue` (one request, not one per secret: init's CPU
    /// decides whether a cold start at 128 MB fits in its first CPU slice,
    /// BENCHMARKS.md); a secret the batch does not return (the call not
    /// allowed by an older template, an error for that secret) is read on
    /// its own with `GetSecretValue`, one after the other over one
    /// connection (concurrent reads would each open their own, HTTP/1.1).
    /// Without any such name no Secrets Manager client is built.
    pub async fn load(sdk: &aws_config::SdkConfig, lookup: L) -> Result<Self, SecretsError> {
        let wanted: Vec<(&'static str, String)> = SECRET_SETTINGS
            .iter()
            .filter(|s| lookup(s).is_none())
            .filter_map(|s| lookup(&arn_variable(s)).map(|arn| (*s, arn)))
            .collect();
        let mut secrets = HashMap::new();
        if !wanted.is_empty() {
            let client = aws_sdk_secretsmanager::Client::new(sdk);
            if wanted.len() > 1 {
                secrets = read_batch(&client, &wanted).await;
            }
            // One at a time: a single secret, and whatever the batch did not
            // return (each read gives its own precise error).
            for (setting, arn) in &wanted {
                if !secrets.contains_key(setting) {
                    let (setting, value) = read(&client, setting, arn).await?;
                    secrets.insert(setting, value);
                }
            }
        }
        Ok(Self { lookup, secrets })
    }

    /// A setting: from the lookup, else a secret read at cold start.
    pub fn get(&self, name: &str) -> Option<String> {
        (self.lookup)(name).or_else(|| self.secrets.get(name).cloned())
    }

    /// How many settings came from Secrets Manager.
    pub fn secrets_read(&self) -> usize {
        self.secrets.len()
    }
}

/// The wanted secrets one `BatchGetSecretValue` returns, by setting. A
/// failed call returns nothing (logged), a secret with an error or an empty
/// value is left out: [`Settings::load`] reads those on their own.
async fn read_batch(
    client: &aws_sdk_secretsmanager::Client,
    wanted: &[(&'static str, String)],
) -> HashMap<&'static str, String> {
    let ids: Vec<String> = wanted.iter().map(|(_, id)| id.clone()).collect();
    let out = match client
        .batch_get_secret_value()
        .set_secret_id_list(Some(ids))
        .send()
        .await
    {
        Ok(out) => out,
        Err(e) => {
            tracing::warn!(
                error = %aws_sdk_secretsmanager::error::DisplayErrorContext(&e),
                "BatchGetSecretValue failed; reading each secret on its own"
            );
            return HashMap::new();
        }
    };
    for e in out.errors() {
        tracing::warn!(
            secret_id = e.secret_id().unwrap_or_default(),
            code = e.error_code().unwrap_or_default(),
            "BatchGetSecretValue did not return a secret; reading it on its own"
        );
    }
    let mut found = HashMap::new();
    for entry in out.secret_values() {
        // The id asked for is the secret's ARN (what the template passes) or
        // its name.
        let Some((setting, _)) = wanted
            .iter()
            .find(|(_, id)| Some(id.as_str()) == entry.arn() || Some(id.as_str()) == entry.name())
        else {
            continue;
        };
        if let Some(v) = entry
            .secret_string()
            .map(str::trim)
            .filter(|v| !v.is_empty())
        {
            found.insert(*setting, v.to_string());
        }
    }
    found
}

async fn read(
    client: &aws_sdk_secretsmanager::Client,
    setting: &'static str,
    secret_id: &str,
) -> Result<(&'static str, String), SecretsError> {
    let out = client
        .get_secret_value()
        .secret_id(secret_id)
        .send()
        .await
        .map_err(|e| SecretsError::Unreadable {
            setting,
            secret_id: secret_id.to_string(),
            why: aws_sdk_secretsmanager::error::DisplayErrorContext(&e).to_string(),
        })?;
    // A value pasted with its newline (`--secret-string file://token`) is
    // the value without it.
    match out.secret_string().map(str::trim).filter(|v| !v.is_empty()) {
        Some(v) => Ok((setting, v.to_string())),
        None => Err(SecretsError::Empty {
            setting,
            secret_id: secret_id.to_string(),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_secret_setting_has_an_arn_variable_of_its_own() {
        let vars: std::collections::HashSet<_> =
            SECRET_SETTINGS.iter().map(|s| arn_variable(s)).collect();
        assert_eq!(vars.len(), SECRET_SETTINGS.len());
        assert_eq!(arn_variable("AUTH_JWT_SECRET"), "AUTH_JWT_SECRET_ARN");
    }

    #[tokio::test]
    async fn when_nothing_names_a_secret_it_should_read_the_lookup_only_and_call_nothing() {
        // An endpoint nothing listens on: a call would fail the load.
        let sdk = aws_config::SdkConfig::builder()
            .endpoint_url("http://127.0.0.1:9")
            .behavior_version(aws_config::BehaviorVersion::latest())
            .build();
        let lookup = |n: &str| (n == "AUTH_JWT_SECRET").then(|| "from-env".to_string());
        let settings = Settings::load(&sdk, lookup).await.unwrap();
        assert_eq!(settings.get("AUTH_JWT_SECRET").as_deref(), Some("from-env"));
        assert_eq!(settings.get("TWILIO_AUTH_TOKEN"), None);
        assert_eq!(settings.secrets_read(), 0);
    }
}
