//! Per-org provider credentials, kept in AWS Secrets Manager (encrypted
//! there with KMS):
//!
//! - each org's own Twilio (sub)account, one secret per account named
//!   `<CREDENTIALS_PREFIX>twilio/<AccountSid>`: the account's auth token
//!   (Twilio signs that account's webhooks with it), optionally an API key
//!   pair (used for REST calls when given), and the org it belongs to;
//! - each Meta number's Graph API access token, one secret per phone number
//!   id named `<CREDENTIALS_PREFIX>meta/<phone_number_id>`, with its org.
//!
//! Nothing here is ever returned by the API or logged: [`Secret`] prints
//! as `***`.
//!
//! Reads are cached for the life of the execution environment (five
//! minutes for an account, one minute for "no such account"), and reads of
//! accounts not in the cache are rate limited per process, so a flood of
//! webhooks naming made-up accounts cannot turn into a flood of Secrets
//! Manager calls.
//!
//! Without `CREDENTIALS_PREFIX` the vault is disabled: a single-account
//! install, whose webhooks and replies use the environment's credentials.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use crate::model::Secret;

/// How long a read account is trusted before it is read again.
const HIT_TTL: Duration = Duration::from_secs(300);
/// How long "no such account" is remembered.
const MISS_TTL: Duration = Duration::from_secs(60);
/// Reads of accounts not in the cache, per window, per process.
const READS_PER_WINDOW: u32 = 20;
const READ_WINDOW: Duration = Duration::from_secs(10);

/// A Twilio account SID: `AC` and 32 lowercase hex digits.
pub fn is_account_sid(s: &str) -> bool {
    sid_with_prefix(s, "AC")
}

/// A Twilio API key SID: `SK` and 32 lowercase hex digits.
pub fn is_api_key_sid(s: &str) -> bool {
    sid_with_prefix(s, "SK")
}

fn sid_with_prefix(s: &str, prefix: &str) -> bool {
    s.len() == 34
        && s.starts_with(prefix)
        && s[2..]
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

/// One org's Twilio account and its credentials.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TwilioAccount {
    pub account_sid: String,
    pub org_id: String,
    /// What Twilio signs this account's webhooks with.
    pub auth_token: Secret,
    /// An API key pair (`SK…`, secret): REST calls use it when given.
    pub api_key: Option<(String, Secret)>,
}

impl TwilioAccount {
    /// HTTP basic auth for REST calls: the API key when there is one, else
    /// the account SID and auth token.
    pub fn rest_credentials(&self) -> (&str, &str) {
        match &self.api_key {
            Some((sid, secret)) => (sid, secret.expose()),
            None => (&self.account_sid, self.auth_token.expose()),
        }
    }
}

/// A Meta number's access token and the org it was registered for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MetaToken {
    pub phone_number_id: String,
    pub org_id: String,
    pub access_token: Secret,
}

#[derive(Serialize, Deserialize)]
struct StoredMeta {
    v: u32,
    org_id: String,
    phone_number_id: String,
    access_token: String,
}

impl StoredMeta {
    fn of(t: &MetaToken) -> Self {
        Self {
            v: 1,
            org_id: t.org_id.clone(),
            phone_number_id: t.phone_number_id.clone(),
            access_token: t.access_token.expose().to_string(),
        }
    }

    fn parse(raw: &str, wanted_id: &str) -> Result<MetaToken, VaultError> {
        let s: StoredMeta = serde_json::from_str(raw)
            .map_err(|e| VaultError::Corrupt(format!("meta {wanted_id}: {e}")))?;
        if s.phone_number_id != wanted_id || s.org_id.is_empty() || s.access_token.is_empty() {
            return Err(VaultError::Corrupt(format!(
                "meta {wanted_id}: the secret names another number, or no org or token"
            )));
        }
        Ok(MetaToken {
            phone_number_id: s.phone_number_id,
            org_id: s.org_id,
            access_token: Secret(s.access_token),
        })
    }
}

/// The secret's JSON.
#[derive(Serialize, Deserialize)]
struct Stored {
    v: u32,
    org_id: String,
    account_sid: String,
    auth_token: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    api_key_sid: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    api_key_secret: Option<String>,
}

impl Stored {
    fn of(a: &TwilioAccount) -> Self {
        Self {
            v: 1,
            org_id: a.org_id.clone(),
            account_sid: a.account_sid.clone(),
            auth_token: a.auth_token.expose().to_string(),
            api_key_sid: a.api_key.as_ref().map(|(s, _)| s.clone()),
            api_key_secret: a.api_key.as_ref().map(|(_, k)| k.expose().to_string()),
        }
    }

    fn parse(raw: &str, wanted_sid: &str) -> Result<TwilioAccount, VaultError> {
        let s: Stored = serde_json::from_str(raw)
            .map_err(|e| VaultError::Corrupt(format!("{wanted_sid}: {e}")))?;
        // A secret copied under another account's name is not that account's.
        if s.account_sid != wanted_sid || s.org_id.is_empty() || s.auth_token.is_empty() {
            return Err(VaultError::Corrupt(format!(
                "{wanted_sid}: the secret names another account, or no org or token"
            )));
        }
        Ok(TwilioAccount {
            account_sid: s.account_sid,
            org_id: s.org_id,
            auth_token: Secret(s.auth_token),
            api_key: match (s.api_key_sid, s.api_key_secret) {
                (Some(sid), Some(secret)) => Some((sid, Secret(secret))),
                _ => None,
            },
        })
    }
}

#[derive(Debug, thiserror::Error)]
pub enum VaultError {
    #[error("per-org credentials are not configured (CREDENTIALS_PREFIX is not set)")]
    Disabled,
    /// Secrets Manager did not answer usefully; worth retrying.
    #[error("credential store unavailable: {0}")]
    Unavailable(String),
    /// Too many reads of unknown accounts just now; worth retrying later.
    #[error("credential store reads are rate limited")]
    Throttled,
    #[error("stored credentials are unreadable: {0}")]
    Corrupt(String),
}

/// Secrets Manager failed (with the SDK's whole error context).
fn unavailable(e: &impl std::error::Error) -> VaultError {
    VaultError::Unavailable(aws_sdk_secretsmanager::error::DisplayErrorContext(e).to_string())
}

/// What storing an account's credentials did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PutCredentials {
    Created,
    /// The same org's account: its credentials were replaced (rotation).
    Updated,
    /// The same org's account with the same credentials: nothing written.
    Unchanged,
    /// Another org registered this account.
    OwnedByOther,
}

enum Backend {
    Disabled,
    SecretsManager {
        sdk: Box<aws_config::SdkConfig>,
        /// Built on first use: most invocations never miss the cache.
        client: OnceLock<aws_sdk_secretsmanager::Client>,
        prefix: String,
    },
    /// Secret strings by name (the rules' unit tests).
    Memory(Mutex<HashMap<String, String>>),
}

/// A read secret (by name), as it was parsed.
#[derive(Clone)]
enum Entry {
    Twilio(Arc<TwilioAccount>),
    Meta(Arc<MetaToken>),
}

type Cached = (Option<Entry>, Instant);

/// The per-org credential store (see the module docs).
pub struct Vault {
    backend: Backend,
    cache: Mutex<HashMap<String, Cached>>,
    /// Reads of uncached accounts in the current window: (window start, count).
    reads: Mutex<(Instant, u32)>,
}

impl Default for Vault {
    fn default() -> Self {
        Self::with(Backend::Disabled)
    }
}

impl Vault {
    fn with(backend: Backend) -> Self {
        Self {
            backend,
            cache: Mutex::default(),
            reads: Mutex::new((Instant::now(), 0)),
        }
    }

    /// Secrets Manager under `prefix` (e.g. `my-stack/chat-credentials/`).
    pub fn secrets_manager(sdk: &aws_config::SdkConfig, prefix: &str) -> Self {
        Self::with(Backend::SecretsManager {
            sdk: Box::new(sdk.clone()),
            client: OnceLock::new(),
            prefix: prefix.to_string(),
        })
    }

    /// `CREDENTIALS_PREFIX` from the settings, or disabled without it.
    pub fn from_lookup(sdk: &aws_config::SdkConfig, get: &impl Fn(&str) -> Option<String>) -> Self {
        match get("CREDENTIALS_PREFIX") {
            Some(prefix) => Self::secrets_manager(sdk, &prefix),
            None => Self::default(),
        }
    }

    /// In memory (the rules' unit tests).
    pub fn memory() -> Self {
        Self::with(Backend::Memory(Mutex::default()))
    }

    pub fn is_enabled(&self) -> bool {
        !matches!(self.backend, Backend::Disabled)
    }

    /// The secret's name under the prefix: `twilio/<sid>`, `meta/<id>`.
    fn twilio_name(account_sid: &str) -> String {
        format!("twilio/{account_sid}")
    }

    fn meta_name(phone_number_id: &str) -> String {
        format!("meta/{phone_number_id}")
    }

    /// The credentials of a Twilio account, if an org registered it.
    /// Cached; reads of uncached accounts are rate limited per process.
    pub async fn twilio_account(
        &self,
        account_sid: &str,
    ) -> Result<Option<Arc<TwilioAccount>>, VaultError> {
        if !is_account_sid(account_sid) {
            return Ok(None);
        }
        let found = self
            .cached_read(&Self::twilio_name(account_sid), |raw| {
                Stored::parse(raw, account_sid).map(|a| Entry::Twilio(Arc::new(a)))
            })
            .await?;
        Ok(match found {
            Some(Entry::Twilio(a)) => Some(a),
            _ => None,
        })
    }

    /// The access token registered for a Meta phone number id, if any
    /// (cached like accounts).
    pub async fn meta_token(
        &self,
        phone_number_id: &str,
    ) -> Result<Option<Arc<MetaToken>>, VaultError> {
        if phone_number_id.is_empty() || !phone_number_id.bytes().all(|b| b.is_ascii_digit()) {
            return Ok(None);
        }
        let found = self
            .cached_read(&Self::meta_name(phone_number_id), |raw| {
                StoredMeta::parse(raw, phone_number_id).map(|t| Entry::Meta(Arc::new(t)))
            })
            .await?;
        Ok(match found {
            Some(Entry::Meta(t)) => Some(t),
            _ => None,
        })
    }

    /// A secret by name through the cache (hits and misses remembered,
    /// uncached reads rate limited), parsed by `parse`.
    async fn cached_read(
        &self,
        name: &str,
        parse: impl FnOnce(&str) -> Result<Entry, VaultError>,
    ) -> Result<Option<Entry>, VaultError> {
        if !self.is_enabled() {
            return Ok(None);
        }
        if let Some(hit) = self.cached(name) {
            return Ok(hit);
        }
        self.take_read()?;
        let found = self.read(name).await?.map(|raw| parse(&raw)).transpose()?;
        self.remember(name, found.clone());
        Ok(found)
    }

    /// Store (or rotate) a Meta number's token. Which org owns the number
    /// is the chat account's to decide (written first): this replaces
    /// whatever token was kept for the number before.
    pub async fn put_meta_token(&self, token: &MetaToken) -> Result<PutCredentials, VaultError> {
        let name = Self::meta_name(&token.phone_number_id);
        let value = serde_json::to_string(&StoredMeta::of(token))
            .map_err(|e| VaultError::Corrupt(e.to_string()))?;
        self.forget_name(&name);
        if self.create(&name, &token.org_id, &value).await? {
            return Ok(PutCredentials::Created);
        }
        let same = self
            .read(&name)
            .await?
            .and_then(|raw| StoredMeta::parse(&raw, &token.phone_number_id).ok())
            .is_some_and(|t| &t == token);
        if same {
            return Ok(PutCredentials::Unchanged);
        }
        self.update(&name, &value).await?;
        self.forget_name(&name);
        Ok(PutCredentials::Updated)
    }

    /// Forget a Meta number's token (its registration was removed), at
    /// once and for good: `Ok(false)` when there was none.
    pub async fn delete_meta_token(&self, phone_number_id: &str) -> Result<bool, VaultError> {
        let name = Self::meta_name(phone_number_id);
        self.forget_name(&name);
        self.delete(&name).await
    }

    /// Register (or rotate) an org's account credentials. An account
    /// another org registered is refused, never overwritten.
    pub async fn put_twilio_account(
        &self,
        account: &TwilioAccount,
    ) -> Result<PutCredentials, VaultError> {
        let sid = account.account_sid.as_str();
        let name = Self::twilio_name(sid);
        let value = serde_json::to_string(&Stored::of(account))
            .map_err(|e| VaultError::Corrupt(e.to_string()))?;
        self.forget(sid);
        if self.create(&name, &account.org_id, &value).await? {
            return Ok(PutCredentials::Created);
        }
        let existing = self
            .read(&name)
            .await?
            .map(|raw| Stored::parse(&raw, sid))
            .transpose()?;
        let outcome = match existing {
            Some(e) if e.org_id != account.org_id => PutCredentials::OwnedByOther,
            Some(e) if &e == account => PutCredentials::Unchanged,
            _ => {
                self.update(&name, &value).await?;
                PutCredentials::Updated
            }
        };
        self.forget(sid);
        Ok(outcome)
    }

    /// Drop a cached account (after a registration changed it).
    pub fn forget(&self, account_sid: &str) {
        self.forget_name(&Self::twilio_name(account_sid));
    }

    fn forget_name(&self, name: &str) {
        self.cache
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(name);
    }

    fn cached(&self, name: &str) -> Option<Option<Entry>> {
        let cache = self.cache.lock().unwrap_or_else(|e| e.into_inner());
        let (value, at) = cache.get(name)?;
        let ttl = if value.is_some() { HIT_TTL } else { MISS_TTL };
        (at.elapsed() < ttl).then(|| value.clone())
    }

    fn remember(&self, name: &str, value: Option<Entry>) {
        let mut cache = self.cache.lock().unwrap_or_else(|e| e.into_inner());
        // Made-up SIDs must not grow the cache without bound.
        if cache.len() >= 1024 {
            cache.retain(|_, (v, at)| v.is_some() && at.elapsed() < HIT_TTL);
        }
        cache.insert(name.to_string(), (value, Instant::now()));
    }

    fn take_read(&self) -> Result<(), VaultError> {
        let mut reads = self.reads.lock().unwrap_or_else(|e| e.into_inner());
        if reads.0.elapsed() >= READ_WINDOW {
            *reads = (Instant::now(), 0);
        }
        if reads.1 >= READS_PER_WINDOW {
            return Err(VaultError::Throttled);
        }
        reads.1 += 1;
        Ok(())
    }

    fn client<'a>(
        sdk: &aws_config::SdkConfig,
        client: &'a OnceLock<aws_sdk_secretsmanager::Client>,
    ) -> &'a aws_sdk_secretsmanager::Client {
        client.get_or_init(|| aws_sdk_secretsmanager::Client::new(sdk))
    }

    /// The secret string, `None` when there is no such secret.
    async fn read(&self, name: &str) -> Result<Option<String>, VaultError> {
        match &self.backend {
            Backend::Disabled => Err(VaultError::Disabled),
            Backend::Memory(m) => Ok(m
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .get(name)
                .cloned()),
            Backend::SecretsManager {
                sdk,
                client,
                prefix,
            } => {
                let res = Self::client(sdk, client)
                    .get_secret_value()
                    .secret_id(format!("{prefix}{name}"))
                    .send()
                    .await;
                match res {
                    Ok(out) => Ok(out.secret_string().map(str::to_string)),
                    Err(e)
                        if e.as_service_error()
                            .is_some_and(|s| s.is_resource_not_found_exception()) =>
                    {
                        Ok(None)
                    }
                    Err(e) => Err(unavailable(&e)),
                }
            }
        }
    }

    /// Create the secret; `Ok(false)` when it exists already.
    async fn create(&self, name: &str, org: &str, value: &str) -> Result<bool, VaultError> {
        match &self.backend {
            Backend::Disabled => Err(VaultError::Disabled),
            Backend::Memory(m) => {
                let mut m = m.lock().unwrap_or_else(|e| e.into_inner());
                if m.contains_key(name) {
                    return Ok(false);
                }
                m.insert(name.to_string(), value.to_string());
                Ok(true)
            }
            Backend::SecretsManager {
                sdk,
                client,
                prefix,
            } => {
                let tag = |k: &str, v: &str| {
                    aws_sdk_secretsmanager::types::Tag::builder()
                        .key(k)
                        .value(v)
                        .build()
                };
                let res = Self::client(sdk, client)
                    .create_secret()
                    .name(format!("{prefix}{name}"))
                    .description("An org's provider credentials (booking-messaging)")
                    .secret_string(value)
                    .tags(tag("org_id", org))
                    .send()
                    .await;
                match res {
                    Ok(_) => Ok(true),
                    Err(e)
                        if e.as_service_error()
                            .is_some_and(|s| s.is_resource_exists_exception()) =>
                    {
                        Ok(false)
                    }
                    Err(e) => Err(unavailable(&e)),
                }
            }
        }
    }

    async fn update(&self, name: &str, value: &str) -> Result<(), VaultError> {
        match &self.backend {
            Backend::Disabled => Err(VaultError::Disabled),
            Backend::Memory(m) => {
                m.lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .insert(name.to_string(), value.to_string());
                Ok(())
            }
            Backend::SecretsManager {
                sdk,
                client,
                prefix,
            } => Self::client(sdk, client)
                .put_secret_value()
                .secret_id(format!("{prefix}{name}"))
                .secret_string(value)
                .send()
                .await
                .map(|_| ())
                .map_err(|e| unavailable(&e)),
        }
    }

    /// Delete for good (no recovery window: a re-registration may create
    /// the name again at once). `Ok(false)`: there was no such secret.
    async fn delete(&self, name: &str) -> Result<bool, VaultError> {
        match &self.backend {
            Backend::Disabled => Err(VaultError::Disabled),
            Backend::Memory(m) => Ok(m
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .remove(name)
                .is_some()),
            Backend::SecretsManager {
                sdk,
                client,
                prefix,
            } => {
                let res = Self::client(sdk, client)
                    .delete_secret()
                    .secret_id(format!("{prefix}{name}"))
                    .force_delete_without_recovery(true)
                    .send()
                    .await;
                match res {
                    Ok(_) => Ok(true),
                    Err(e)
                        if e.as_service_error()
                            .is_some_and(|s| s.is_resource_not_found_exception()) =>
                    {
                        Ok(false)
                    }
                    Err(e) => Err(unavailable(&e)),
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const A: &str = "ACaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";

    fn account(org: &str, token: &str) -> TwilioAccount {
        TwilioAccount {
            account_sid: A.into(),
            org_id: org.into(),
            auth_token: Secret(token.into()),
            api_key: None,
        }
    }

    #[test]
    fn when_sids_are_checked_only_twilio_shapes_should_pass() {
        assert!(is_account_sid(A));
        assert!(is_api_key_sid("SK0123456789abcdef0123456789abcdef"));
        for bad in [
            "",
            "AC",
            "ACAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
            "SKaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
            "ACaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa/",
            "ACaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
        ] {
            assert!(!is_account_sid(bad), "{bad}");
        }
        assert!(!is_api_key_sid(A));
    }

    #[test]
    fn when_an_api_key_is_given_rest_calls_should_use_it() {
        let mut a = account("org_1", "the-auth-token");
        assert_eq!(a.rest_credentials(), (A, "the-auth-token"));
        a.api_key = Some(("SK1".into(), Secret("the-key-secret".into())));
        assert_eq!(a.rest_credentials(), ("SK1", "the-key-secret"));
        let shown = format!("{a:?}");
        assert!(!shown.contains("the-auth-token") && !shown.contains("the-key-secret"));
    }

    #[tokio::test]
    async fn when_two_orgs_register_one_account_the_second_should_be_refused() {
        let v = Vault::memory();
        assert_eq!(
            v.put_twilio_account(&account("org_1", "t1")).await.unwrap(),
            PutCredentials::Created
        );
        assert_eq!(
            v.put_twilio_account(&account("org_1", "t1")).await.unwrap(),
            PutCredentials::Unchanged
        );
        assert_eq!(
            v.put_twilio_account(&account("org_2", "t2")).await.unwrap(),
            PutCredentials::OwnedByOther
        );
        assert_eq!(
            v.put_twilio_account(&account("org_1", "t3")).await.unwrap(),
            PutCredentials::Updated
        );
        let got = v.twilio_account(A).await.unwrap().unwrap();
        assert_eq!(
            (got.org_id.as_str(), got.auth_token.expose()),
            ("org_1", "t3")
        );
    }

    #[tokio::test]
    async fn when_a_secret_names_another_account_it_should_be_refused() {
        let v = Vault::memory();
        let Backend::Memory(m) = &v.backend else {
            unreachable!()
        };
        let other = "ACbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb";
        m.lock().unwrap().insert(
            format!("twilio/{other}"),
            serde_json::to_string(&Stored::of(&account("org_1", "t1"))).unwrap(),
        );
        assert!(matches!(
            v.twilio_account(other).await,
            Err(VaultError::Corrupt(_))
        ));
    }

    #[tokio::test]
    async fn when_made_up_accounts_are_asked_for_reads_should_be_rate_limited() {
        let v = Vault::memory();
        let mut answered = 0;
        let mut throttled = 0;
        for i in 0..(READS_PER_WINDOW + 5) {
            let sid = format!("AC{i:032x}");
            match v.twilio_account(&sid).await {
                Ok(None) => answered += 1,
                Err(VaultError::Throttled) => throttled += 1,
                other => panic!("{other:?}"),
            }
        }
        assert_eq!((answered, throttled), (READS_PER_WINDOW, 5));
        // A remembered miss costs no read.
        assert!(matches!(
            v.twilio_account(&format!("AC{:032x}", 0)).await,
            Ok(None)
        ));
        // Not a SID: not even looked for.
        assert!(matches!(v.twilio_account("ACnope").await, Ok(None)));
    }

    #[tokio::test]
    async fn when_a_meta_token_is_put_rotated_and_deleted_reads_should_follow() {
        let v = Vault::memory();
        let token = |org: &str, t: &str| MetaToken {
            phone_number_id: "1065".into(),
            org_id: org.into(),
            access_token: Secret(t.into()),
        };
        assert_eq!(
            v.put_meta_token(&token("org_1", "t1")).await.unwrap(),
            PutCredentials::Created
        );
        assert_eq!(
            v.put_meta_token(&token("org_1", "t1")).await.unwrap(),
            PutCredentials::Unchanged
        );
        assert_eq!(
            v.put_meta_token(&token("org_1", "t2")).await.unwrap(),
            PutCredentials::Updated
        );
        let got = v.meta_token("1065").await.unwrap().unwrap();
        assert_eq!(got.access_token.expose(), "t2");
        // A Twilio account and a Meta number never read each other's secret.
        assert!(v.twilio_account(A).await.unwrap().is_none());
        assert!(v.delete_meta_token("1065").await.unwrap());
        assert!(v.meta_token("1065").await.unwrap().is_none());
        assert!(!v.delete_meta_token("1065").await.unwrap());
        assert!(v.meta_token("not-digits").await.unwrap().is_none());
    }

    #[tokio::test]
    async fn when_disabled_every_account_should_be_unknown() {
        let v = Vault::default();
        assert!(!v.is_enabled());
        assert!(v.twilio_account(A).await.unwrap().is_none());
        assert!(matches!(
            v.put_twilio_account(&account("o", "t")).await,
            Err(VaultError::Disabled)
        ));
    }
}
