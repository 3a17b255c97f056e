//! The dependencies the functions share, built once per cold start.
//!
//! [`Core`] is what every function needs (storage, token checks, cursors,
//! clock, chat-account routing). [`App`] adds the Twilio client for the
//! functions that call Twilio; the others are built from `Core` alone, so
//! they need no Twilio settings or secrets.

use crate::accounts::AccountCache;
use crate::auth::JwtVerifier;
use crate::clock::Clock;
use crate::config::{Config, CoreConfig};
use crate::cursor::CursorCodec;
use crate::h1::H1Connector;
use crate::outbox::OutboxQueue;
use crate::secrets::Settings;
use crate::sqs::Queue;
use crate::store::{DynamoClients, Store};
use crate::twilio::TwilioClient;
use crate::vault::Vault;

/// `S`: the storage adapter (DynamoDB in every function; in-memory in the
/// rules' unit tests).
pub struct Core<S = Store> {
    pub config: CoreConfig,
    pub store: S,
    pub auth: JwtVerifier,
    pub cursors: CursorCodec,
    pub clock: Clock,
    /// Chat-account routing (`To` address → org and Twilio account), kept
    /// across warm invocations.
    pub accounts: AccountCache<crate::accounts::RouteEntry>,
    /// Contact address → conversation links (never re-pointed), likewise.
    pub contacts: AccountCache,
    /// Per-org Twilio accounts' credentials (disabled without
    /// `CREDENTIALS_PREFIX`: a single-account install).
    pub vault: Vault,
    /// Inbound media in S3 (`MEDIA_BUCKET`; `None`: media stays metadata).
    pub media: Option<crate::media::Media>,
}

/// `T`: the transport (the Twilio client; a fake in the rules' unit tests).
pub struct App<S = Store, T = TwilioClient> {
    pub core: Core<S>,
    pub config: Config,
    pub twilio: T,
    /// Where a message Twilio accepted but storage refused goes
    /// (`QUEUE_URL`: `send-message` only).
    pub outbox: OutboxQueue,
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
    #[error(transparent)]
    Secrets(#[from] crate::secrets::SecretsError),
    #[error(transparent)]
    Aws(#[from] crate::awsjson::AwsError),
}

/// Which connection a function opens during init.
#[derive(Clone, Copy)]
enum Warm {
    DynamoDb,
    Sqs,
}

/// The SDK configuration over the process's one HTTPS connector, and this
/// process's settings: the environment, then the secrets it names (see
/// [`crate::secrets`]), read while the first connection to DynamoDB or SQS
/// opens (see [`crate::aws`]).
async fn init(warm: Warm) -> Result<(aws_config::SdkConfig, H1Connector, Settings), InitError> {
    let connector = crate::aws::https_connector();
    let sdk = crate::aws::sdk_config(connector.clone()).await;
    let warm_up = async {
        let endpoint = match warm {
            Warm::DynamoDb => crate::dynamo::endpoint(&sdk).ok(),
            Warm::Sqs => crate::sqs::endpoint(&sdk).ok(),
        };
        if let Some(endpoint) = endpoint {
            crate::aws::warm_up(&connector, &endpoint).await;
        }
    };
    let (settings, ()) = tokio::join!(Settings::from_env(&sdk, connector.clone()), warm_up);
    Ok((sdk, connector, settings?))
}

/// The webhook functions' init (SQS only): the SQS client over the
/// process's one HTTPS connector, its first connection opened and its
/// credentials read while this process's settings (and the secrets they
/// name) are read.
pub async fn queue_init() -> Result<(Queue, Settings, Vault), InitError> {
    let (sdk, connector, settings) = init(Warm::Sqs).await?;
    let vault = Vault::from_lookup(&sdk, &|n| settings.get(n));
    let queue = Queue::new(&sdk, connector)?;
    queue.prefetch_credentials().await;
    Ok((queue, settings, vault))
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
            vault: Vault::default(),
            media: None,
            config,
        }
    }

    /// Use `vault` for per-org credentials.
    pub fn with_vault(mut self, vault: Vault) -> Self {
        self.vault = vault;
        self
    }

    /// Keep inbound media in `media` (`None`: metadata only).
    pub fn with_media(mut self, media: Option<crate::media::Media>) -> Self {
        self.media = media;
        self
    }
}

impl Core {
    /// Build from the environment (`AWS_ENDPOINT_URL` is honoured by the SDK).
    pub async fn from_env() -> Result<Self, InitError> {
        let (sdk, connector, settings) = init(Warm::DynamoDb).await?;
        let core = Self::from_settings(&sdk, connector, &|n| settings.get(n), true)?;
        core.store.prefetch_credentials().await;
        Ok(core)
    }

    /// The core dependencies from a process's settings (the environment
    /// and the secrets it names) and SDK configuration: the table, the
    /// token checks (or none, `tokens: false`, see
    /// [`CoreConfig::from_lookup_without_tokens`]), the credential store
    /// (`CREDENTIALS_PREFIX`) and the media bucket (`MEDIA_BUCKET`).
    pub fn from_settings(
        sdk: &aws_config::SdkConfig,
        connector: impl Into<crate::awsjson::Transport>,
        get: &impl Fn(&str) -> Option<String>,
        tokens: bool,
    ) -> Result<Self, InitError> {
        let config = if tokens {
            CoreConfig::from_lookup(get)?
        } else {
            CoreConfig::from_lookup_without_tokens(get)?
        };
        Ok(Self::new(config, DynamoClients::new(sdk, connector)?).with_stores(sdk, get))
    }

    /// The credential store (`CREDENTIALS_PREFIX`) and the media bucket
    /// (`MEDIA_BUCKET`) from a process's settings: what every deployed
    /// function's core gets ([`Core::from_settings`], [`App::from_env`]).
    fn with_stores(
        self,
        sdk: &aws_config::SdkConfig,
        get: &impl Fn(&str) -> Option<String>,
    ) -> Self {
        self.with_vault(Vault::from_lookup(sdk, get))
            .with_media(crate::media::Media::from_lookup(sdk, get))
    }

    /// [`Core::from_env`] for the functions that never verify a token nor
    /// issue a cursor (`process-inbound`, `push`, `ws-disconnect`): they are
    /// given no JWT secret (see [`CoreConfig::from_lookup_without_tokens`]).
    pub async fn from_env_without_tokens() -> Result<Self, InitError> {
        Ok(Self::from_env_without_tokens_and_sdk().await?.0)
    }

    /// [`Core::from_env_without_tokens`], and the SDK configuration it was
    /// built from, for the function's other AWS clients (`push`: API
    /// Gateway's management API), so they share the process's one HTTPS
    /// connector, its trust store and its settings (see [`crate::aws`])
    /// instead of building a default client of their own at init.
    pub async fn from_env_without_tokens_and_sdk()
    -> Result<(Self, aws_config::SdkConfig), InitError> {
        let (sdk, connector, settings) = init(Warm::DynamoDb).await?;
        let core = Self::from_settings(&sdk, connector, &|n| settings.get(n), false)?;
        core.store.prefetch_credentials().await;
        Ok((core, sdk))
    }

    pub fn new(config: CoreConfig, dynamodb: DynamoClients) -> Self {
        let store = Store::new(dynamodb, config.table_name.clone());
        Self::with_store(config, store)
    }
}

impl App {
    /// Build from the environment (`AWS_ENDPOINT_URL` is honoured by the SDK).
    /// With `QUEUE_URL` set (`send-message`), messages Twilio accepted but
    /// storage refused go to that queue as outbox records.
    pub async fn from_env() -> Result<Self, InitError> {
        let (sdk, connector, settings) = init(Warm::DynamoDb).await?;
        let config = Config::from_lookup(|n| settings.get(n))?;
        let mut app = Self::new(config, DynamoClients::new(&sdk, connector.clone())?)?;
        app.core = app.core.with_stores(&sdk, &|n| settings.get(n));
        app.core.store.prefetch_credentials().await;
        Ok(
            match std::env::var("QUEUE_URL").ok().filter(|q| !q.is_empty()) {
                Some(queue_url) => app.with_outbox(OutboxQueue::sqs(
                    std::sync::Arc::new(Queue::new(&sdk, connector)?),
                    queue_url,
                )),
                None => app,
            },
        )
    }

    pub fn new(config: Config, dynamodb: DynamoClients) -> Result<Self, InitError> {
        Ok(Self {
            core: Core::new(config.core(), dynamodb),
            twilio: TwilioClient::new(config.twilio.clone()),
            meta: crate::meta::MetaClient::new(config.meta.clone()),
            config,
            outbox: OutboxQueue::Disabled,
        })
    }
}

impl<S, T> App<S, T> {
    /// Put messages Twilio accepted but storage refused on `outbox`.
    pub fn with_outbox(mut self, outbox: OutboxQueue) -> Self {
        self.outbox = outbox;
        self
    }
}
