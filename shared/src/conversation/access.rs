//! Who may see and act on a conversation.

use crate::app::Core;
use crate::auth::{Caller, UserType};
use crate::domain::*;
use crate::error::ApiError;
use crate::ports::ConversationStore;
use crate::store::Head;
use crate::store::Participant;

// ---- access -------------------------------------------------------------

/// The conversation if the caller may see it; 404 otherwise (existence is
/// never revealed). Service tokens see every conversation.
pub async fn load_visible(
    app: &Core<impl ConversationStore>,
    caller: &Caller,
    id: &str,
) -> Result<Head, ApiError> {
    let id = ConversationId::parse(id)?;
    let head = app
        .store
        .load_head(id.as_str())
        .await?
        .ok_or(ApiError::NotFound)?;
    if can_see(&head, caller) {
        Ok(head)
    } else {
        Err(ApiError::NotFound)
    }
}

/// Booking chats: their active participants. WhatsApp/SMS conversations:
/// the agents of the owning org. Service tokens: everything.
pub fn can_see(head: &Head, caller: &Caller) -> bool {
    if caller.is_service() {
        return true;
    }
    match &head.meta.inbox {
        Some(inbox) => {
            caller.user_type == UserType::Agent
                && caller.org_id.as_deref() == Some(inbox.org_id.as_str())
        }
        None => head.active_participant(&caller.user_id).is_some(),
    }
}

pub(crate) fn require_participant<'h>(
    head: &'h Head,
    caller: &Caller,
) -> Result<&'h Participant, ApiError> {
    head.active_participant(&caller.user_id).ok_or_else(|| {
        ApiError::forbidden(
            "not_a_participant",
            "only an active participant of this conversation can do this",
        )
    })
}
