//! The dependencies every function shares, built once per cold start.

use aws_config::BehaviorVersion;

use crate::auth::JwtVerifier;
use crate::clock::Clock;
use crate::config::Config;
use crate::cursor::CursorCodec;
use crate::store::Store;
use crate::twilio::TwilioClient;

pub struct App {
    pub config: Config,
    pub store: Store,
    pub twilio: TwilioClient,
    pub auth: JwtVerifier,
    pub cursors: CursorCodec,
    pub clock: Clock,
    /// Chat-account routing (`To` address → org), kept across warm invocations.
    pub accounts: crate::accounts::AccountCache,
}

#[derive(Debug, thiserror::Error)]
pub enum InitError {
    #[error(transparent)]
    Config(#[from] crate::config::ConfigError),
    #[error("http client: {0}")]
    Http(#[from] reqwest::Error),
}

impl App {
    /// Build from the environment (`AWS_ENDPOINT_URL` is honoured by the SDK).
    pub async fn from_env() -> Result<Self, InitError> {
        let config = Config::from_env()?;
        let sdk = aws_config::defaults(BehaviorVersion::latest()).load().await;
        Self::new(config, aws_sdk_dynamodb::Client::new(&sdk))
    }

    pub fn new(config: Config, dynamodb: aws_sdk_dynamodb::Client) -> Result<Self, InitError> {
        Ok(Self {
            store: Store::new(dynamodb, config.table_name.clone()),
            twilio: TwilioClient::new(config.twilio.clone())?,
            auth: JwtVerifier::new(&config.jwt_secret),
            cursors: CursorCodec::new(&config.jwt_secret),
            clock: Clock::default(),
            accounts: Default::default(),
            config,
        })
    }
}
