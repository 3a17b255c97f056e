//! Listing, adding and removing booking-chat participants.

use crate::app::App;
use crate::auth::Caller;
use crate::chat::create::ParticipantInput;
use crate::chat::create::parse_participant;
use crate::chat::create::participant_attributes;
use crate::clock::format_ts;
use crate::conversation::MAX_RETRIES;
use crate::conversation::access::load_visible;
use crate::conversation::access::require_participant;
use crate::conversation::contended;
use crate::conversation::reload;
use crate::conversation::views::ParticipantView;
use crate::domain::*;
use crate::error::ApiError;
use crate::ports::{ChatTransport, ConversationStore};
use crate::store::Participant;
use crate::twilio::NewParticipant;

// ---- participants -------------------------------------------------------

pub async fn list_participants(
    app: &App<impl ConversationStore, impl ChatTransport>,
    caller: &Caller,
    conv_id: &str,
) -> Result<Vec<ParticipantView>, ApiError> {
    let head = load_visible(app, caller, conv_id).await?;
    Ok(head.participants.iter().map(Into::into).collect())
}

/// Add a participant (service tokens only: an added user would see the
/// whole history, so participants may not invite others): `(created, view)`.
pub async fn add_participant(
    app: &App<impl ConversationStore, impl ChatTransport>,
    caller: &Caller,
    conv_id: &str,
    input: &ParticipantInput,
) -> Result<(bool, ParticipantView), ApiError> {
    let mut head = load_visible(app, caller, conv_id).await?;
    if head.meta.inbox.is_some() {
        return Err(ApiError::unprocessable(
            "not_a_booking_chat",
            "WhatsApp/SMS conversations have no chat participants to manage",
        ));
    }
    if !caller.is_service() {
        require_participant(&head, caller)?;
        return Err(ApiError::forbidden(
            "service_only",
            "only the booking system (a service token) adds participants; a participant may only leave",
        ));
    }
    let p = parse_participant(input)?;
    let twilio_sid = head
        .meta
        .twilio_sid
        .clone()
        .ok_or_else(|| ApiError::Internal("booking conversation without Twilio SID".into()))?;
    for attempt in 0..MAX_RETRIES {
        if let Some(active) = head.active_participant(p.user_id.as_str()) {
            return Ok((false, active.into()));
        }
        if head.participants.iter().filter(|x| x.is_active).count() >= MAX_PARTICIPANTS {
            return Err(ApiError::unprocessable(
                "too_many_participants",
                format!("a conversation has at most {MAX_PARTICIPANTS} participants"),
            ));
        }
        let attributes = participant_attributes(&p);
        let tw = app
            .twilio
            .add_participant(
                &twilio_sid,
                &NewParticipant {
                    identity: p.user_id.as_str(),
                    attributes,
                },
            )
            .await?;
        let now = format_ts(app.clock.now());
        let new = Participant {
            user_id: p.user_id.as_str().into(),
            user_type: p.user_type,
            display_name: p.display_name.clone(),
            identity: p.user_id.as_str().into(),
            twilio_sid: Some(tw.sid),
            is_active: true,
            joined_at: now.clone(),
            left_at: None,
            unread_count: 0,
            last_read_at: None,
            last_read_message_id: None,
        };
        if app.store.add_participant(&head, &new, &now).await? {
            return Ok((true, (&new).into()));
        }
        head = reload(app, &head.meta.id, attempt).await?;
    }
    Err(contended())
}

/// Remove a participant, keeping history (service tokens, or a participant
/// leaving). Removing someone already gone succeeds.
pub async fn remove_participant(
    app: &App<impl ConversationStore, impl ChatTransport>,
    caller: &Caller,
    conv_id: &str,
    user_id: &str,
) -> Result<(), ApiError> {
    let mut head = load_visible(app, caller, conv_id).await?;
    if head.meta.inbox.is_some() {
        return Err(ApiError::unprocessable(
            "not_a_booking_chat",
            "WhatsApp/SMS conversations have no chat participants to manage",
        ));
    }
    if !caller.is_service() && caller.user_id != user_id {
        return Err(ApiError::forbidden(
            "cannot_remove_others",
            "participants can only remove themselves; use a service token to remove others",
        ));
    }
    let Some(target) = head.participant(user_id) else {
        return Err(ApiError::NotFound);
    };
    if !target.is_active {
        return Ok(());
    }
    if let (Some(conv_sid), Some(part_sid)) = (&head.meta.twilio_sid, &target.twilio_sid) {
        app.twilio.remove_participant(conv_sid, part_sid).await?;
    }
    for attempt in 0..MAX_RETRIES {
        let Some(target) = head.active_participant(user_id).cloned() else {
            return Ok(());
        };
        let now = format_ts(app.clock.now());
        if app.store.remove_participant(&head, &target, &now).await? {
            return Ok(());
        }
        head = reload(app, &head.meta.id, attempt).await?;
    }
    Err(contended())
}
