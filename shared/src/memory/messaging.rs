//! A messaging transport (the Messages API) that records what it sent.

use std::sync::Mutex;

use crate::ports::{ProviderAuth, ProviderTransport, SignedWebhook};
use crate::transport::{OutboundMessage, SmsResource, TwilioError};

/// One message the fake messaging transport was asked to send.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Sent {
    pub from: String,
    pub to: String,
    pub body: Option<String>,
    pub content_sid: Option<String>,
    pub status_callback: Option<String>,
}

/// Answers like the Messages API (`queued`), or fails the next send with
/// the error `fail_next_send` holds.
#[derive(Default)]
pub struct FakeMessaging {
    sent: Mutex<Vec<Sent>>,
    /// `(account SID, message SID)` of each typing indicator.
    pub typing: Mutex<Vec<(Option<String>, String)>>,
    fail_sends: Mutex<Vec<TwilioError>>,
}

impl FakeMessaging {
    pub fn sent(&self) -> Vec<Sent> {
        self.sent.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    pub fn fail_next_send(&self, e: TwilioError) {
        self.fail_sends
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(e);
    }
}

/// The Twilio shape: what the inbox's unit tests reply through.
impl ProviderTransport for FakeMessaging {
    const PROVIDER: crate::domain::Provider = crate::domain::Provider::Twilio;

    fn verify(secrets: &[&str], w: &SignedWebhook<'_>) -> bool {
        <crate::twilio::TwilioClient as ProviderTransport>::verify(secrets, w)
    }

    fn normalise(
        env: &crate::envelope::Envelope,
    ) -> Result<Vec<crate::provider::ProviderEvent>, String> {
        <crate::twilio::TwilioClient as ProviderTransport>::normalise(env)
    }

    async fn send_reply(
        &self,
        _auth: ProviderAuth<'_>,
        m: &OutboundMessage<'_>,
    ) -> Result<SmsResource, TwilioError> {
        if let Some(e) = self
            .fail_sends
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .pop()
        {
            return Err(e);
        }
        let mut sent = self.sent.lock().unwrap_or_else(|e| e.into_inner());
        sent.push(Sent {
            from: m.from.into(),
            to: m.to.into(),
            body: m.body.map(str::to_string),
            content_sid: m.content_sid.map(str::to_string),
            status_callback: m.status_callback.clone(),
        });
        Ok(SmsResource {
            sid: format!("SM{:032}", sent.len()),
            status: Some("queued".into()),
            error_code: None,
        })
    }

    async fn show_read(
        &self,
        auth: ProviderAuth<'_>,
        _business: &str,
        message_id: &str,
        typing: bool,
    ) -> Result<(), TwilioError> {
        let account = match auth {
            ProviderAuth::Twilio(a) => a.map(|a| a.account_sid.clone()),
            ProviderAuth::Meta(_) => None,
        };
        if typing {
            self.typing
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .push((account, message_id.into()));
        }
        Ok(())
    }
}
