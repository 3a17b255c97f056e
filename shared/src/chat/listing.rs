//! Listing a caller's conversations and a conversation's messages.

use serde::Serialize;

use crate::app::Core;
use crate::auth::{Caller, UserType};
use crate::conversation::access::load_visible;
use crate::conversation::views::ConversationSummary;
use crate::conversation::views::MessageView;
use crate::conversation::views::Page;
use crate::conversation::views::summary;
use crate::conversation::views::unread_of;
use crate::domain::*;
use crate::error::ApiError;
use crate::ports::{ConversationStore, MessageStore};

// ---- listing ------------------------------------------------------------

pub async fn list_conversations(
    app: &Core<impl ConversationStore + MessageStore>,
    caller: &Caller,
    limit: i32,
    cursor_in: Option<&str>,
    booking_filter: Option<&str>,
) -> Result<Page<ConversationSummary>, ApiError> {
    if let Some(booking) = booking_filter {
        let booking = BookingId::parse(booking).map_err(|_| {
            ApiError::bad_request("invalid_booking_id", "booking_id filter is not a valid id")
        })?;
        let id = ConversationId::for_booking(&booking);
        let items = match load_visible(app, caller, id.as_str()).await {
            Ok(head) => vec![summary(&head.meta, unread_of(&head, caller))],
            Err(ApiError::NotFound) => vec![],
            Err(e) => return Err(e),
        };
        return Ok(Page {
            items,
            next_cursor: None,
        });
    }
    // Agents list their org's inbox; everyone else their own chats.
    let org_inbox = match (caller.user_type, &caller.org_id) {
        (UserType::Agent, Some(org)) => Some(org.clone()),
        _ => None,
    };
    let scope = match &org_inbox {
        Some(org) => format!("inbox:{org}:{}", caller.user_id),
        None => format!("list:{}", caller.user_id),
    };
    let start = cursor_in
        .map(|c| app.cursors.decode(&scope, c))
        .transpose()?;
    let (rows, next) = match &org_inbox {
        Some(org) => app.store.org_inbox(org, limit, start).await?,
        None => {
            app.store
                .user_conversations(&caller.user_id, limit, start)
                .await?
        }
    };
    let ids: Vec<String> = rows.iter().map(|(id, _)| id.clone()).collect();
    let metas = app.store.batch_get_meta(&ids).await?;
    let items = rows
        .iter()
        .filter_map(|(id, unread)| metas.get(id).map(|m| summary(m, *unread)))
        .collect();
    Ok(Page {
        items,
        next_cursor: next.map(|k| app.cursors.encode(&scope, &k)),
    })
}

#[derive(Debug, Serialize)]
pub struct MessagesPage {
    pub conversation_id: String,
    pub messages: Vec<MessageView>,
    pub read_horizons: Vec<ReadHorizon>,
    pub next_cursor: Option<String>,
}

#[derive(Debug, Serialize)]
pub struct ReadHorizon {
    pub user_id: String,
    pub last_read_at: Option<String>,
    pub last_read_message_id: Option<String>,
}

pub async fn get_messages(
    app: &Core<impl ConversationStore + MessageStore>,
    caller: &Caller,
    conv_id: &str,
    ascending: bool,
    limit: i32,
    cursor_in: Option<&str>,
) -> Result<MessagesPage, ApiError> {
    let scope = format!(
        "messages:{conv_id}:{}:{}",
        if ascending { "asc" } else { "desc" },
        caller.user_id
    );
    let start = cursor_in
        .map(|c| app.cursors.decode(&scope, c))
        .transpose()?;
    let id = ConversationId::parse(conv_id)?;
    // Head and page in parallel; the page is discarded unless visible.
    let (head, page) = tokio::join!(
        load_visible(app, caller, id.as_str()),
        app.store
            .query_messages(id.as_str(), ascending, limit, start)
    );
    let head = head?;
    let (messages, next) = page?;
    let mut views: Vec<MessageView> = messages.iter().map(Into::into).collect();
    // Media kept in S3: a short-lived download URL each.
    if let Some(media) = &app.media {
        for (view, m) in views.iter_mut().zip(&messages) {
            let stored = m.details.as_ref().and_then(|d| d.get("media_stored"));
            if let (Some(list), Some(_)) = (view.media.as_mut(), stored) {
                crate::inbox::media::sign_view_media(media, list, stored).await;
            }
        }
    }
    Ok(MessagesPage {
        conversation_id: head.meta.id.clone(),
        messages: views,
        read_horizons: head
            .participants
            .iter()
            .filter(|p| p.is_active)
            .map(|p| ReadHorizon {
                user_id: p.user_id.clone(),
                last_read_at: p.last_read_at.clone(),
                last_read_message_id: p.last_read_message_id.clone(),
            })
            .collect(),
        next_cursor: next.map(|k| app.cursors.encode(&scope, &k)),
    })
}
