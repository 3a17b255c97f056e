//! The Twilio client as the transports the rules use.

use super::{
    ConversationResource, MessageResource, NewParticipant, OutboundMessage, ParticipantResource,
    SmsResource, TwilioClient, TwilioError,
};
use crate::domain::Provider;
use crate::envelope::Envelope;
use crate::ports::{ChatTransport, ProviderAuth, ProviderTransport, SignedWebhook};
use crate::provider::ProviderEvent;
use crate::signature::SignedBody;

impl ChatTransport for TwilioClient {
    async fn create_conversation_with_participants(
        &self,
        unique_name: &str,
        friendly_name: &str,
        attributes: &str,
        participants: &[NewParticipant<'_>],
    ) -> Result<ConversationResource, TwilioError> {
        TwilioClient::create_conversation_with_participants(
            self,
            unique_name,
            friendly_name,
            attributes,
            participants,
        )
        .await
    }

    async fn list_participants(
        &self,
        conversation_sid: &str,
    ) -> Result<Vec<ParticipantResource>, TwilioError> {
        TwilioClient::list_participants(self, conversation_sid).await
    }

    async fn add_participant(
        &self,
        conversation_sid: &str,
        p: &NewParticipant<'_>,
    ) -> Result<ParticipantResource, TwilioError> {
        TwilioClient::add_participant(self, conversation_sid, p).await
    }

    async fn remove_participant(
        &self,
        conversation_sid: &str,
        participant_sid: &str,
    ) -> Result<(), TwilioError> {
        TwilioClient::remove_participant(self, conversation_sid, participant_sid).await
    }

    async fn update_last_read_index(
        &self,
        conversation_sid: &str,
        participant_sid: &str,
        index: i64,
    ) -> Result<ParticipantResource, TwilioError> {
        TwilioClient::update_last_read_index(self, conversation_sid, participant_sid, index).await
    }

    async fn send_conversation_message(
        &self,
        conversation_sid: &str,
        author: &str,
        body: &str,
        attributes: &str,
    ) -> Result<MessageResource, TwilioError> {
        TwilioClient::send_conversation_message(self, conversation_sid, author, body, attributes)
            .await
    }

    async fn set_conversation_state(
        &self,
        conversation_sid: &str,
        state: &str,
    ) -> Result<ConversationResource, TwilioError> {
        TwilioClient::set_conversation_state(self, conversation_sid, state).await
    }
}

impl ProviderTransport for TwilioClient {
    const PROVIDER: Provider = Provider::Twilio;

    fn verify(tokens: &[&str], w: &SignedWebhook<'_>) -> bool {
        let body = match w.form {
            Some(params) => SignedBody::Form(params),
            None => SignedBody::Json(w.body),
        };
        crate::signature::is_valid(tokens, w.url, body, w.signature)
    }

    fn normalise(env: &Envelope) -> Result<Vec<ProviderEvent>, String> {
        let mut events = crate::provider::twilio_events(env)?;
        for e in &mut events {
            if let ProviderEvent::Message(m) = e {
                m.details = crate::provider::twilio_details(env, &m.contact);
            }
        }
        Ok(events)
    }

    async fn send_reply(
        &self,
        auth: ProviderAuth<'_>,
        m: &OutboundMessage<'_>,
    ) -> Result<SmsResource, TwilioError> {
        match auth {
            ProviderAuth::Twilio(Some(account)) => self.for_account(account).send_message(m).await,
            ProviderAuth::Twilio(None) => self.send_message(m).await,
            ProviderAuth::Meta(_) => Err(wrong_credential()),
        }
    }

    async fn show_read(
        &self,
        auth: ProviderAuth<'_>,
        _business: &str,
        message_id: &str,
        typing: bool,
    ) -> Result<(), TwilioError> {
        if !typing {
            return Ok(());
        }
        match auth {
            ProviderAuth::Twilio(Some(account)) => {
                self.for_account(account).typing_indicator(message_id).await
            }
            ProviderAuth::Twilio(None) => self.typing_indicator(message_id).await,
            ProviderAuth::Meta(_) => Err(wrong_credential()),
        }
    }
}

/// A Meta token handed to Twilio: nothing was sent.
fn wrong_credential() -> TwilioError {
    TwilioError::Unavailable("a Meta credential for a Twilio call".into())
}
