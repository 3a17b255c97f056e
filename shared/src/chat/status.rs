//! Conversation status: active, escalated, closed.

use crate::app::App;
use crate::auth::{Caller, UserType};
use crate::clock::format_ts;
use crate::conversation::MAX_RETRIES;
use crate::conversation::access::load_visible;
use crate::conversation::access::require_participant;
use crate::conversation::contended;
use crate::conversation::reload;
use crate::conversation::views::ConversationView;
use crate::domain::ConversationStatus;
use crate::error::ApiError;
use crate::ports::{ChatTransport, ConversationStore};

// ---- status ---------------------------------------------------------------

/// `PATCH /conversations/{id}` `{status}`: active, escalated or closed.
/// Booking chats: an active participant (or a service) escalates or
/// reactivates; closing is for service tokens only, and also closes the
/// Twilio conversation, which Twilio never reopens, so a closed
/// booking chat stays closed. WhatsApp/SMS: the org's agents; a closed one
/// can be reopened (an inbound message also reopens it).
pub async fn update_status(
    app: &App<impl ConversationStore, impl ChatTransport>,
    caller: &Caller,
    conv_id: &str,
    status: &str,
) -> Result<(bool, ConversationView), ApiError> {
    let status = ConversationStatus::parse(status)?;
    let mut head = load_visible(app, caller, conv_id).await?;
    match &head.meta.inbox {
        Some(_) if !(caller.user_type == UserType::Agent || caller.is_service()) => {
            return Err(ApiError::forbidden(
                "agents_only",
                "only the org's agents change a WhatsApp/SMS conversation",
            ));
        }
        None if !caller.is_service() => {
            require_participant(&head, caller)?;
            if status == ConversationStatus::Closed {
                return Err(ApiError::forbidden(
                    "service_only",
                    "closing a booking chat (irreversible) is for the booking system's service token",
                ));
            }
        }
        _ => {}
    }
    for attempt in 0..MAX_RETRIES {
        let from = head.meta.status;
        if from == status {
            return Ok((false, ConversationView::of(&head, caller)));
        }
        let booking = head.meta.inbox.is_none();
        let allowed = match (from, status) {
            (ConversationStatus::Closed, _) if booking => false,
            (ConversationStatus::Closed, ConversationStatus::Escalated) => false,
            _ => true,
        };
        if !allowed {
            return Err(ApiError::unprocessable(
                "invalid_transition",
                if booking {
                    "a closed booking conversation cannot be reopened".to_string()
                } else {
                    format!("cannot go from {from} to {status}; reopen it (active) first")
                },
            ));
        }
        if booking
            && status == ConversationStatus::Closed
            && let Some(sid) = &head.meta.twilio_sid
        {
            app.twilio
                .set_conversation_state(sid, ConversationStatus::Closed.as_str())
                .await?;
        }
        let now = format_ts(app.clock.now());
        if app.store.set_status(&head, status, &now).await? {
            let head = app
                .store
                .load_head(&head.meta.id)
                .await?
                .ok_or(ApiError::NotFound)?;
            return Ok((true, ConversationView::of(&head, caller)));
        }
        head = reload(app, &head.meta.id, attempt).await?;
    }
    Err(contended())
}
