//! Proof that whoever registers a number may: the credentials given with
//! it must own it. Twilio: the number is among the account's
//! `IncomingPhoneNumbers`; Meta: the phone number id answers to the token.
//! An org admin registers a number only with such proof; a service token
//! may register directly (see `manage-chat-accounts`).

use std::time::Duration;

use crate::config::{ConfigError, MetaConfig, TwilioConfig};
use crate::meta::MetaClient;
use crate::transport::TwilioError;
use crate::twilio::TwilioClient;
use crate::vault::TwilioAccount;

pub struct OwnershipCheck {
    /// Acts only as the account being checked ([`TwilioClient::for_account`]).
    twilio: TwilioClient,
    meta: MetaClient,
}

impl OwnershipCheck {
    /// `TWILIO_API_BASE_URL` and the `META_GRAPH_*` settings; no secret.
    pub fn from_lookup(get: &impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let api_base_url = get("TWILIO_API_BASE_URL")
            .unwrap_or_else(|| "https://api.twilio.com".into())
            .trim_end_matches('/')
            .to_string();
        if !(api_base_url.starts_with("https://") || api_base_url.starts_with("http://")) {
            return Err(ConfigError::Invalid {
                name: "TWILIO_API_BASE_URL",
                why: "must be an http(s) URL".into(),
            });
        }
        let twilio = TwilioClient::new(TwilioConfig {
            account_sid: String::new(),
            username: String::new(),
            password: String::new(),
            conversations_base_url: api_base_url.clone(),
            messaging_base_url: get("TWILIO_MESSAGING_BASE_URL")
                .unwrap_or_else(|| "https://messaging.twilio.com".into())
                .trim_end_matches('/')
                .to_string(),
            api_base_url,
            timeout: Duration::from_secs(5),
            max_attempts: 2,
            backoff: Duration::from_millis(200),
        });
        Ok(Self {
            twilio,
            meta: MetaClient::new(MetaConfig::from_lookup(get)?),
        })
    }

    /// From the environment.
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(&crate::secrets::env)
    }

    /// Whether `account`'s credentials hold `address` (`+E164`, or
    /// `whatsapp:+E164`): a phone number of the account
    /// (`IncomingPhoneNumbers`), or, for WhatsApp, one of its WhatsApp
    /// senders (Senders API).
    pub async fn twilio_number(
        &self,
        account: &TwilioAccount,
        address: &str,
    ) -> Result<bool, TwilioError> {
        let client = self.twilio.for_account(account);
        let e164 = address.strip_prefix("whatsapp:").unwrap_or(address);
        if client.owns_number(e164).await? {
            return Ok(true);
        }
        if address.starts_with("whatsapp:") {
            return client.owns_whatsapp_sender(address).await;
        }
        Ok(false)
    }

    /// Whether `access_token` may act for `phone_number_id`.
    pub async fn meta_number(
        &self,
        phone_number_id: &str,
        access_token: &str,
    ) -> Result<bool, TwilioError> {
        self.meta.owns_number(phone_number_id, access_token).await
    }
}
