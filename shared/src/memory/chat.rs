//! A chat transport that records what it was asked to do.

use std::collections::HashMap;
use std::sync::Mutex;

use crate::ports::ChatTransport;
use crate::transport::{
    ConversationResource, MessageResource, NewParticipant, ParticipantResource, TwilioError,
};

/// One call the fake chat transport received.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ChatCall {
    Create {
        unique_name: String,
        identities: Vec<String>,
    },
    Send {
        conversation_sid: String,
        author: String,
        body: String,
    },
    AddParticipant {
        identity: String,
    },
    RemoveParticipant {
        participant_sid: String,
    },
    ReadIndex {
        participant_sid: String,
        index: i64,
    },
    State {
        state: String,
    },
}

/// A chat transport that records every call and answers like Twilio, or
/// fails the next sends with the error `fail_next_send` holds.
#[derive(Default)]
pub struct FakeChat {
    calls: Mutex<Vec<ChatCall>>,
    /// Created conversations: SID → participants (identity, SID).
    conversations: Mutex<HashMap<String, Vec<(String, String)>>>,
    fail_sends: Mutex<Vec<TwilioError>>,
    /// Messages sent per conversation SID (Twilio's index is 0-based).
    sent: Mutex<HashMap<String, i64>>,
}

impl FakeChat {
    pub fn calls(&self) -> Vec<ChatCall> {
        self.calls.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// The next send fails with `e` (once per call of this).
    pub fn fail_next_send(&self, e: TwilioError) {
        self.fail_sends
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(e);
    }

    fn record(&self, call: ChatCall) -> usize {
        let mut calls = self.calls.lock().unwrap_or_else(|e| e.into_inner());
        calls.push(call);
        calls.len()
    }
}

fn conversation(sid: &str, unique_name: Option<&str>, state: &str) -> ConversationResource {
    ConversationResource {
        sid: sid.into(),
        unique_name: unique_name.map(str::to_string),
        state: Some(state.into()),
    }
}

fn participant(sid: &str, identity: &str, index: Option<i64>) -> ParticipantResource {
    ParticipantResource {
        sid: sid.into(),
        identity: Some(identity.into()),
        last_read_message_index: index,
    }
}

impl ChatTransport for FakeChat {
    async fn create_conversation_with_participants(
        &self,
        unique_name: &str,
        _friendly_name: &str,
        _attributes: &str,
        participants: &[NewParticipant<'_>],
    ) -> Result<ConversationResource, TwilioError> {
        let n = self.record(ChatCall::Create {
            unique_name: unique_name.into(),
            identities: participants
                .iter()
                .map(|p| p.identity.to_string())
                .collect(),
        });
        let sid = format!("CH{n:032}");
        let members = participants
            .iter()
            .enumerate()
            .map(|(i, p)| (p.identity.to_string(), format!("MB{n:016}{i:016}")))
            .collect();
        self.conversations
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(sid.clone(), members);
        Ok(conversation(&sid, Some(unique_name), "active"))
    }

    async fn list_participants(
        &self,
        conversation_sid: &str,
    ) -> Result<Vec<ParticipantResource>, TwilioError> {
        let convs = self.conversations.lock().unwrap_or_else(|e| e.into_inner());
        Ok(convs
            .get(conversation_sid)
            .map(|ps| {
                ps.iter()
                    .map(|(identity, sid)| participant(sid, identity, None))
                    .collect()
            })
            .unwrap_or_default())
    }

    async fn add_participant(
        &self,
        _conversation_sid: &str,
        p: &NewParticipant<'_>,
    ) -> Result<ParticipantResource, TwilioError> {
        let n = self.record(ChatCall::AddParticipant {
            identity: p.identity.into(),
        });
        Ok(participant(&format!("MB{n:032}"), p.identity, None))
    }

    async fn remove_participant(
        &self,
        _conversation_sid: &str,
        participant_sid: &str,
    ) -> Result<(), TwilioError> {
        self.record(ChatCall::RemoveParticipant {
            participant_sid: participant_sid.into(),
        });
        Ok(())
    }

    async fn update_last_read_index(
        &self,
        _conversation_sid: &str,
        participant_sid: &str,
        index: i64,
    ) -> Result<ParticipantResource, TwilioError> {
        self.record(ChatCall::ReadIndex {
            participant_sid: participant_sid.into(),
            index,
        });
        Ok(participant(participant_sid, "", Some(index)))
    }

    async fn send_conversation_message(
        &self,
        conversation_sid: &str,
        author: &str,
        body: &str,
        _attributes: &str,
    ) -> Result<MessageResource, TwilioError> {
        if let Some(e) = self
            .fail_sends
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .pop()
        {
            return Err(e);
        }
        let n = self.record(ChatCall::Send {
            conversation_sid: conversation_sid.into(),
            author: author.into(),
            body: body.into(),
        });
        let index = {
            let mut sent = self.sent.lock().unwrap_or_else(|e| e.into_inner());
            let count = sent.entry(conversation_sid.to_string()).or_default();
            *count += 1;
            *count - 1
        };
        Ok(MessageResource {
            sid: format!("IM{n:032}"),
            index: Some(index),
            author: Some(author.into()),
        })
    }

    async fn set_conversation_state(
        &self,
        conversation_sid: &str,
        state: &str,
    ) -> Result<ConversationResource, TwilioError> {
        self.record(ChatCall::State {
            state: state.into(),
        });
        Ok(conversation(conversation_sid, None, state))
    }
}

/// Booking-chat tests never reach the messaging transport: it answers as
/// if Twilio were unreachable, so a test that does is noticed.
impl crate::ports::ProviderTransport for FakeChat {
    const PROVIDER: crate::domain::Provider = crate::domain::Provider::Twilio;

    fn verify(_secrets: &[&str], _w: &crate::ports::SignedWebhook<'_>) -> bool {
        false
    }

    fn normalise(
        _env: &crate::envelope::Envelope,
    ) -> Result<Vec<crate::provider::ProviderEvent>, String> {
        Err("FakeChat normalises nothing".into())
    }

    async fn send_reply(
        &self,
        _auth: crate::ports::ProviderAuth<'_>,
        _m: &crate::transport::OutboundMessage<'_>,
    ) -> Result<crate::transport::SmsResource, TwilioError> {
        Err(TwilioError::Unavailable(
            "FakeChat sends no WhatsApp/SMS".into(),
        ))
    }

    async fn show_read(
        &self,
        _auth: crate::ports::ProviderAuth<'_>,
        _business: &str,
        _message_id: &str,
        _typing: bool,
    ) -> Result<(), TwilioError> {
        Err(TwilioError::Unavailable(
            "FakeChat sends no WhatsApp/SMS".into(),
        ))
    }
}
