//! The Twilio client as the transports the rules use.

use super::{
    ConversationResource, MessageResource, NewParticipant, OutboundMessage, ParticipantResource,
    SmsResource, TwilioClient, TwilioError,
};
use crate::ports::{ChatTransport, MessagingTransport};

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

impl MessagingTransport for TwilioClient {
    async fn send_message(&self, m: &OutboundMessage<'_>) -> Result<SmsResource, TwilioError> {
        TwilioClient::send_message(self, m).await
    }

    async fn typing_indicator(
        &self,
        account: Option<&crate::vault::TwilioAccount>,
        message_sid: &str,
    ) -> Result<(), TwilioError> {
        match account {
            Some(a) => self.for_account(a).typing_indicator(message_sid).await,
            None => TwilioClient::typing_indicator(self, message_sid).await,
        }
    }
}
