//! Create-or-get the conversation of a booking.

use serde::Deserialize;
use std::collections::{HashMap, HashSet};

use crate::app::App;
use crate::auth::Caller;
use crate::bookings::{BookingDirectory, BookingLookup};
use crate::clock::format_ts;
use crate::conversation::access::can_see;
use crate::conversation::views::ConversationView;
use crate::domain::ConversationStatus;
use crate::domain::*;
use crate::error::ApiError;
use crate::ports::{ChatTransport, ConversationStore};
use crate::store::ConversationMeta;
use crate::store::Head;
use crate::store::Participant;
use crate::store::ParticipantSummary;
use crate::twilio::NewParticipant;

// ---- create -------------------------------------------------------------

#[derive(Debug, Deserialize)]
pub struct ParticipantInput {
    pub user_id: String,
    pub user_type: String,
    #[serde(default)]
    pub display_name: Option<String>,
}

#[derive(Debug, Deserialize)]
pub struct CreateConversationInput {
    pub booking_id: String,
    pub participants: Vec<ParticipantInput>,
    #[serde(default)]
    pub conversation_type: Option<String>,
}

pub(crate) struct ParsedParticipant {
    pub(crate) user_id: UserId,
    pub(crate) user_type: ParticipantType,
    pub(crate) display_name: String,
}

pub(crate) fn parse_participant(p: &ParticipantInput) -> Result<ParsedParticipant, ApiError> {
    let user_id = UserId::parse(&p.user_id)?;
    let display_name = match &p.display_name {
        Some(d) => parse_display_name(d)?,
        None => user_id.as_str().to_string(),
    };
    Ok(ParsedParticipant {
        user_type: ParticipantType::parse(&p.user_type)?,
        user_id,
        display_name,
    })
}

pub(crate) fn participant_attributes(p: &ParsedParticipant) -> String {
    serde_json::json!({"user_type": p.user_type.as_str(), "display_name": p.display_name})
        .to_string()
}

/// Create-or-get the conversation of a booking: `(created, view)`.
///
/// Idempotent per booking: the conversation id and Twilio `UniqueName` are
/// derived from the booking id, the booking guard is written with
/// `attribute_not_exists` in the same transaction as the conversation, and a
/// retry after a crash finds the Twilio conversation by its unique name.
pub async fn create_conversation(
    app: &App<impl ConversationStore, impl ChatTransport>,
    caller: &Caller,
    input: &CreateConversationInput,
) -> Result<(bool, ConversationView), ApiError> {
    let booking = BookingId::parse(&input.booking_id)?;
    // "booking_chat" is the old Node service's name for the same thing.
    match input.conversation_type.as_deref() {
        None | Some("booking") | Some("booking_chat") => {}
        Some(_) => {
            return Err(ApiError::unprocessable(
                "invalid_conversation_type",
                "conversation_type must be \"booking\" (or \"booking_chat\")",
            ));
        }
    }
    let parsed = input
        .participants
        .iter()
        .map(parse_participant)
        .collect::<Result<Vec<_>, _>>()?;
    if parsed.len() < 2 || parsed.len() > MAX_PARTICIPANTS {
        return Err(ApiError::unprocessable(
            "invalid_participants",
            format!("a booking conversation needs 2 to {MAX_PARTICIPANTS} participants"),
        ));
    }
    let mut seen = HashSet::new();
    if !parsed.iter().all(|p| seen.insert(p.user_id.as_str())) {
        return Err(ApiError::unprocessable(
            "invalid_participants",
            "participants must have distinct user_id values",
        ));
    }
    let has = |t| parsed.iter().any(|p| p.user_type == t);
    if !has(ParticipantType::Customer) || !has(ParticipantType::Provider) {
        return Err(ApiError::unprocessable(
            "invalid_participants",
            "a booking conversation needs at least one customer and one provider",
        ));
    }
    if !caller.is_service() {
        let me = parsed
            .iter()
            .find(|p| p.user_id.as_str() == caller.user_id)
            .ok_or_else(|| {
                ApiError::forbidden(
                    "not_a_participant",
                    "the caller must be one of the participants (or use a service token)",
                )
            })?;
        if me.user_type.as_str() != caller.user_type.as_str() {
            return Err(ApiError::forbidden(
                "user_type_mismatch",
                "the caller's user_type must match their token",
            ));
        }
    }

    // A customer or provider opens a booking's chat only with the booking's
    // real customer and provider, as the booking directory knows them: else
    // anyone could pre-empt a booking's chat with an impostor. Checked before
    // anything about an existing chat is revealed.
    if !caller.is_service() {
        match app.config.bookings.as_ref() {
            None => {
                return Err(ApiError::forbidden(
                    "booking_not_verifiable",
                    "booking chats are opened by the booking system (a service token); \
                     no booking directory is configured to verify this booking",
                ));
            }
            Some(cfg) => verify_parties(&BookingDirectory::new(cfg), &booking, &parsed).await?,
        }
    }

    let id = ConversationId::for_booking(&booking);
    if let Some(head) = app.store.load_head(id.as_str()).await? {
        return existing_matching(&head, &parsed, caller).map(|v| (false, v));
    }

    let attributes =
        serde_json::json!({"booking_id": booking.as_str(), "conversation_id": id.as_str()})
            .to_string();
    let wanted: Vec<(String, String)> = parsed
        .iter()
        .map(|p| (p.user_id.as_str().to_string(), participant_attributes(p)))
        .collect();
    let new_participants: Vec<NewParticipant> = wanted
        .iter()
        .map(|(identity, attributes)| NewParticipant {
            identity,
            attributes: attributes.clone(),
        })
        .collect();
    let conv = app
        .twilio
        .create_conversation_with_participants(
            id.as_str(),
            &format!("Booking {}", booking.as_str()),
            &attributes,
            &new_participants,
        )
        .await?;
    let sids: HashMap<String, String> = app
        .twilio
        .list_participants(&conv.sid)
        .await?
        .into_iter()
        .filter_map(|p| Some((p.identity?, p.sid)))
        .collect();

    let now = format_ts(app.clock.now());
    let participants: Vec<Participant> = parsed
        .iter()
        .map(|p| Participant {
            user_id: p.user_id.as_str().into(),
            user_type: p.user_type,
            display_name: p.display_name.clone(),
            identity: p.user_id.as_str().into(),
            twilio_sid: sids.get(p.user_id.as_str()).cloned(),
            is_active: true,
            joined_at: now.clone(),
            left_at: None,
            unread_count: 0,
            last_read_at: None,
            last_read_message_id: None,
        })
        .collect();
    let meta = ConversationMeta {
        id: id.as_str().into(),
        kind: "booking".into(),
        booking_id: Some(booking.as_str().into()),
        status: ConversationStatus::Active,
        twilio_sid: Some(conv.sid.clone()),
        created_at: now.clone(),
        created_by: caller.user_id.clone(),
        version: 1,
        participant_count: participants.len() as i64,
        participants: participants
            .iter()
            .map(|p| ParticipantSummary {
                user_id: p.user_id.clone(),
                user_type: p.user_type,
                display_name: p.display_name.clone(),
                is_active: true,
            })
            .collect(),
        ..Default::default()
    };
    if app.store.create_conversation(&meta, &participants).await? {
        tracing::info!(conversation_id = %id.as_str(), "booking conversation created");
        let head = Head { meta, participants };
        return Ok((true, ConversationView::of(&head, caller)));
    }
    // A concurrent create won the booking guard: answer with its conversation.
    let head = app.store.load_head(id.as_str()).await?.ok_or_else(|| {
        // Both creates were cancelled by each other: the client retries.
        ApiError::Store(crate::store::StoreError::Unavailable(
            "concurrent create of the same booking".into(),
        ))
    })?;
    existing_matching(&head, &parsed, caller).map(|v| (false, v))
}

/// The booking directory confirms that the requested participants are the
/// booking's customer and provider, and nobody else: 403
/// `booking_participants_not_verified` otherwise (also for an unknown
/// booking), 503 `booking_directory_unavailable` when it cannot tell.
pub(crate) async fn verify_parties(
    directory: &impl BookingLookup,
    booking: &BookingId,
    parsed: &[ParsedParticipant],
) -> Result<(), ApiError> {
    let parties = directory.parties(booking.as_str()).await.map_err(|e| {
        tracing::warn!(error = %e, "booking directory lookup failed");
        ApiError::Unavailable {
            code: "booking_directory_unavailable",
            message: "the booking directory could not be reached to verify the booking; \
                      nothing was created, retry later"
                .into(),
        }
    })?;
    let not_verified = || {
        ApiError::forbidden(
            "booking_participants_not_verified",
            "the booking directory does not confirm this booking's customer and provider",
        )
    };
    let parties = parties.ok_or_else(not_verified)?;
    let matches = parsed.len() == 2
        && parsed.iter().all(|p| match p.user_type {
            ParticipantType::Customer => p.user_id.as_str() == parties.customer_id,
            ParticipantType::Provider => p.user_id.as_str() == parties.provider_id,
        });
    if matches { Ok(()) } else { Err(not_verified()) }
}

/// The requested participants are exactly the chat's active ones (by user id
/// and type; display names may differ).
pub(crate) fn same_participants(head: &Head, parsed: &[ParsedParticipant]) -> bool {
    let active: HashSet<(&str, &str)> = head
        .participants
        .iter()
        .filter(|p| p.is_active)
        .map(|p| (p.user_id.as_str(), p.user_type.as_str()))
        .collect();
    let wanted: HashSet<(&str, &str)> = parsed
        .iter()
        .map(|p| (p.user_id.as_str(), p.user_type.as_str()))
        .collect();
    active == wanted
}

/// An existing booking chat is returned only to a create-or-get naming its
/// very participants: 409 `booking_participants_mismatch` otherwise (for
/// every caller, services included), never the other chat.
fn existing_matching(
    head: &Head,
    parsed: &[ParsedParticipant],
    caller: &Caller,
) -> Result<ConversationView, ApiError> {
    if head.meta.inbox.is_none() && !same_participants(head, parsed) {
        return Err(ApiError::conflict(
            "booking_participants_mismatch",
            "this booking's chat already exists with other participants",
        ));
    }
    existing(head, caller)
}

fn existing(head: &Head, caller: &Caller) -> Result<ConversationView, ApiError> {
    if head.meta.inbox.is_none() && can_see(head, caller) {
        Ok(ConversationView::of(head, caller))
    } else {
        Err(ApiError::NotFound)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bookings::{BookingParties, DirectoryError};

    struct Fixed(Result<Option<BookingParties>, ()>);

    impl BookingLookup for Fixed {
        async fn parties(&self, _: &str) -> Result<Option<BookingParties>, DirectoryError> {
            self.0
                .clone()
                .map_err(|_| DirectoryError::Unavailable("down".into()))
        }
    }

    fn parsed(pairs: &[(&str, &str)]) -> Vec<ParsedParticipant> {
        pairs
            .iter()
            .map(|(id, t)| {
                parse_participant(&ParticipantInput {
                    user_id: id.to_string(),
                    user_type: t.to_string(),
                    display_name: None,
                })
                .unwrap()
            })
            .collect()
    }

    fn ana_ben() -> Fixed {
        Fixed(Ok(Some(BookingParties {
            customer_id: "cust_ana".into(),
            provider_id: "prov_ben".into(),
        })))
    }

    #[tokio::test]
    async fn when_the_directory_confirms_or_denies_the_parties_it_should_pass_or_be_403_or_503() {
        let bk = BookingId::parse("bk_1").unwrap();
        let real = parsed(&[("cust_ana", "customer"), ("prov_ben", "provider")]);
        assert!(verify_parties(&ana_ben(), &bk, &real).await.is_ok());
        for wrong in [
            parsed(&[("cust_eve", "customer"), ("prov_ben", "provider")]),
            parsed(&[("cust_ana", "customer"), ("prov_zed", "provider")]),
            parsed(&[("prov_ben", "customer"), ("cust_ana", "provider")]),
            parsed(&[
                ("cust_ana", "customer"),
                ("prov_ben", "provider"),
                ("cust_eve", "customer"),
            ]),
        ] {
            let e = verify_parties(&ana_ben(), &bk, &wrong).await.unwrap_err();
            assert_eq!(e.status(), 403);
            assert_eq!(e.code(), "booking_participants_not_verified");
        }
        let e = verify_parties(&Fixed(Ok(None)), &bk, &real)
            .await
            .unwrap_err();
        assert_eq!(e.code(), "booking_participants_not_verified");
        let e = verify_parties(&Fixed(Err(())), &bk, &real)
            .await
            .unwrap_err();
        assert_eq!(e.status(), 503);
        assert_eq!(e.code(), "booking_directory_unavailable");
    }
}
