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
//!
//! The reads are Secrets Manager's JSON protocol by hand
//! (`secretsmanager.BatchGetSecretValue`, `secretsmanager.GetSecretValue`
//! through [`crate::awsjson`], at the endpoint the Secrets Manager crate's
//! resolver gives): the SDK's orchestrator would run once, in init, where
//! every cold path it takes is CPU a 128 MB function waits a slice for
//! (BENCHMARKS.md, round 10).

use std::collections::HashMap;

use crate::awsjson::{self, AwsError};

const PROTOCOL: awsjson::Protocol = awsjson::Protocol {
    service: "Secrets Manager",
    signing_name: "secretsmanager",
    content_type: "application/x-amz-json-1.1",
};

/// The Secrets Manager endpoint the crate's client of `sdk` calls (its own
/// resolver, from the configured endpoint, region, FIPS and dual-stack).
pub fn endpoint(sdk: &aws_config::SdkConfig) -> Result<String, AwsError> {
    use aws_sdk_secretsmanager::config::endpoint::{DefaultResolver, Params, ResolveEndpoint};
    let params = Params::builder()
        .set_region(sdk.region().map(|r| r.to_string()))
        .set_use_fips(sdk.use_fips())
        .set_use_dual_stack(sdk.use_dual_stack())
        .set_endpoint(awsjson::configured_endpoint(sdk, "Secrets Manager"))
        .build()
        .map_err(|e| AwsError::Config(format!("Secrets Manager endpoint: {e}")))?;
    awsjson::resolved(
        "Secrets Manager",
        DefaultResolver::new().resolve_endpoint(&params),
    )
}

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
    /// (`sdk`'s region, credentials and endpoint, over `connector`).
    pub async fn from_env(
        sdk: &aws_config::SdkConfig,
        connector: impl Into<awsjson::Transport>,
    ) -> Result<Self, SecretsError> {
        Settings::load(sdk, connector, env as fn(&str) -> Option<String>).await
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
    /// Without any such name nothing is called.
    pub async fn load(
        sdk: &aws_config::SdkConfig,
        connector: impl Into<awsjson::Transport>,
        lookup: L,
    ) -> Result<Self, SecretsError> {
        let wanted: Vec<(&'static str, String)> = SECRET_SETTINGS
            .iter()
            .filter(|s| lookup(s).is_none())
            .filter_map(|s| lookup(&arn_variable(s)).map(|arn| (*s, arn)))
            .collect();
        let mut secrets = HashMap::new();
        if let Some((setting, arn)) = wanted.first() {
            let unreadable = |e: AwsError| SecretsError::Unreadable {
                setting,
                secret_id: arn.clone(),
                why: e.to_string(),
            };
            let client = awsjson::Client::new(
                sdk,
                connector,
                &endpoint(sdk).map_err(unreadable)?,
                PROTOCOL,
            )
            .map_err(unreadable)?;
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

/// A secret as Secrets Manager answers it (both reads).
#[derive(serde::Deserialize)]
struct SecretValue {
    #[serde(rename = "ARN", default)]
    arn: Option<String>,
    #[serde(rename = "Name", default)]
    name: Option<String>,
    #[serde(rename = "SecretString", default)]
    secret_string: Option<String>,
}

/// A value pasted with its newline (`--secret-string file://token`) is the
/// value without it; blank is none.
fn value_of(v: &SecretValue) -> Option<String> {
    v.secret_string
        .as_deref()
        .map(str::trim)
        .filter(|v| !v.is_empty())
        .map(str::to_string)
}

/// The wanted secrets one `BatchGetSecretValue` returns, by setting. A
/// failed call returns nothing (logged), a secret with an error or an empty
/// value is left out: [`Settings::load`] reads those on their own.
async fn read_batch(
    client: &awsjson::Client,
    wanted: &[(&'static str, String)],
) -> HashMap<&'static str, String> {
    #[derive(serde::Serialize)]
    struct Input<'a> {
        #[serde(rename = "SecretIdList")]
        ids: Vec<&'a str>,
    }
    #[derive(serde::Deserialize)]
    struct BatchError {
        #[serde(rename = "SecretId", default)]
        secret_id: Option<String>,
        #[serde(rename = "ErrorCode", default)]
        error_code: Option<String>,
    }
    #[derive(serde::Deserialize)]
    struct Output {
        #[serde(rename = "SecretValues", default)]
        values: Vec<SecretValue>,
        #[serde(rename = "Errors", default)]
        errors: Vec<BatchError>,
    }
    let input = Input {
        ids: wanted.iter().map(|(_, id)| id.as_str()).collect(),
    };
    let out = client
        .call_json::<Output>("secretsmanager.BatchGetSecretValue", &[], &input)
        .await;
    let out = match out {
        Ok(out) => out,
        Err(e) => {
            tracing::warn!(error = %e, "BatchGetSecretValue failed; reading each secret on its own");
            return HashMap::new();
        }
    };
    for e in &out.errors {
        tracing::warn!(
            secret_id = e.secret_id.as_deref().unwrap_or_default(),
            code = e.error_code.as_deref().unwrap_or_default(),
            "BatchGetSecretValue did not return a secret; reading it on its own"
        );
    }
    let mut found = HashMap::new();
    for entry in &out.values {
        // The id asked for is the secret's ARN (what the template passes) or
        // its name.
        let Some((setting, _)) = wanted.iter().find(|(_, id)| {
            Some(id.as_str()) == entry.arn.as_deref() || Some(id.as_str()) == entry.name.as_deref()
        }) else {
            continue;
        };
        if let Some(v) = value_of(entry) {
            found.insert(*setting, v);
        }
    }
    found
}

async fn read(
    client: &awsjson::Client,
    setting: &'static str,
    secret_id: &str,
) -> Result<(&'static str, String), SecretsError> {
    #[derive(serde::Serialize)]
    struct Input<'a> {
        #[serde(rename = "SecretId")]
        secret_id: &'a str,
    }
    let out: SecretValue = client
        .call_json("secretsmanager.GetSecretValue", &[], &Input { secret_id })
        .await
        .map_err(|e| SecretsError::Unreadable {
            setting,
            secret_id: secret_id.to_string(),
            why: e.to_string(),
        })?;
    match value_of(&out) {
        Some(v) => Ok((setting, v)),
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

    #[test]
    fn when_no_endpoint_is_configured_it_should_be_the_one_the_sdk_resolves() {
        let sdk = |region: &str, fips: bool| {
            aws_config::SdkConfig::builder()
                .region(aws_config::Region::new(region.to_string()))
                .use_fips(fips)
                .behavior_version(aws_config::BehaviorVersion::latest())
                .build()
        };
        assert_eq!(
            endpoint(&sdk("eu-west-1", false)).unwrap(),
            "https://secretsmanager.eu-west-1.amazonaws.com"
        );
        assert_eq!(
            endpoint(&sdk("us-east-1", true)).unwrap(),
            "https://secretsmanager-fips.us-east-1.amazonaws.com"
        );
        assert_eq!(
            endpoint(&sdk("cn-north-1", false)).unwrap(),
            "https://secretsmanager.cn-north-1.amazonaws.com.cn"
        );
    }

    #[tokio::test]
    async fn when_nothing_names_a_secret_it_should_read_the_lookup_only_and_call_nothing() {
        // An endpoint nothing listens on: a call would fail the load.
        let sdk = aws_config::SdkConfig::builder()
            .endpoint_url("http://127.0.0.1:9")
            .behavior_version(aws_config::BehaviorVersion::latest())
            .build();
        let lookup = |n: &str| (n == "AUTH_JWT_SECRET").then(|| "from-env".to_string());
        let connector = crate::aws::https_connector();
        let settings = Settings::load(&sdk, connector, lookup).await.unwrap();
        assert_eq!(settings.get("AUTH_JWT_SECRET").as_deref(), Some("from-env"));
        assert_eq!(settings.get("TWILIO_AUTH_TOKEN"), None);
        assert_eq!(settings.secrets_read(), 0);
    }
}
