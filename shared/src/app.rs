//! The dependencies the functions share, built once per cold start.
//!
//! [`Core`] is what every function needs (storage, token checks, cursors,
//! clock, chat-account routing). [`App`] adds the Twilio client for the
//! functions that call Twilio; the others are built from `Core` alone, so
//! they need no Twilio settings or secrets.

use aws_config::BehaviorVersion;

use crate::accounts::AccountCache;
use crate::auth::JwtVerifier;
use crate::clock::Clock;
use crate::config::{Config, CoreConfig};
use crate::cursor::CursorCodec;
use crate::store::Store;
use crate::twilio::TwilioClient;

/// `S`: the storage adapter (DynamoDB in every function; in-memory in the
/// rules' unit tests).
pub struct Core<S = Store> {
    pub config: CoreConfig,
    pub store: S,
    pub auth: JwtVerifier,
    pub cursors: CursorCodec,
    pub clock: Clock,
    /// Chat-account routing (`To` address → org), kept across warm invocations.
    pub accounts: AccountCache,
    /// Contact address → conversation links (never re-pointed), likewise.
    pub contacts: AccountCache,
}

/// `T`: the transport (the Twilio client; a fake in the rules' unit tests).
pub struct App<S = Store, T = TwilioClient> {
    pub core: Core<S>,
    pub config: Config,
    pub twilio: T,
    /// Meta's Graph API, for replies on Meta conversations.
    pub meta: crate::meta::MetaClient,
}

/// The Twilio functions use every rule the others use.
impl<S, T> std::ops::Deref for App<S, T> {
    type Target = Core<S>;
    fn deref(&self) -> &Core<S> {
        &self.core
    }
}

#[derive(Debug, thiserror::Error)]
pub enum InitError {
    #[error(transparent)]
    Config(#[from] crate::config::ConfigError),
    #[error("http client: {0}")]
    Http(#[from] reqwest::Error),
}

async fn dynamodb() -> aws_sdk_dynamodb::Client {
    let sdk = aws_config::defaults(BehaviorVersion::latest()).load().await;
    aws_sdk_dynamodb::Client::new(&sdk)
}

impl<S> Core<S> {
    /// Core dependencies over any storage adapter.
    pub fn with_store(config: CoreConfig, store: S) -> Self {
        Self {
            store,
            auth: JwtVerifier::for_config(&config),
            cursors: CursorCodec::new(&config.jwt_secret),
            clock: Clock::default(),
            accounts: AccountCache::default(),
            contacts: AccountCache::default(),
            config,
        }
    }
}

impl Core {
    /// Build from the environment (`AWS_ENDPOINT_URL` is honoured by the SDK).
    pub async fn from_env() -> Result<Self, InitError> {
        Ok(Self::new(CoreConfig::from_env()?, dynamodb().await))
    }

    pub fn new(config: CoreConfig, dynamodb: aws_sdk_dynamodb::Client) -> Self {
        let store = Store::new(dynamodb, config.table_name.clone());
        Self::with_store(config, store)
    }
}

impl App {
    /// Build from the environment (`AWS_ENDPOINT_URL` is honoured by the SDK).
    pub async fn from_env() -> Result<Self, InitError> {
        let config = Config::from_env()?;
        Self::new(config, dynamodb().await)
    }

    pub fn new(config: Config, dynamodb: aws_sdk_dynamodb::Client) -> Result<Self, InitError> {
        Ok(Self {
            core: Core::new(config.core(), dynamodb),
            twilio: TwilioClient::new(config.twilio.clone())?,
            meta: crate::meta::MetaClient::new(config.meta.clone()),
            config,
        })
    }
}
