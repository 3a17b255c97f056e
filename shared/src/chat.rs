//! Booking-chat operations: the rules, written against the store and the
//! Twilio client. The functions' handlers only parse HTTP and call these.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::collections::{HashMap, HashSet};

use crate::app::App;
use crate::auth::{Caller, UserType};
use crate::clock::format_ts;
use crate::domain::*;
use crate::error::ApiError;
use crate::store::{
    ConversationMeta, Head, IdemBegin, IdemRecord, IdemState, Message, MessageEffects, Participant,
    ParticipantSummary, StoreMessageOutcome, from_cursor_key, to_cursor_key,
};
use crate::twilio::NewParticipant;

/// Optimistic-lock retries before giving up with 503.
const MAX_RETRIES: usize = 8;
/// Attempts to store a message Twilio already accepted. Giving up then
/// fails a request whose message was delivered, so this waits contention
/// out longer than other writes (with a jittered pause between attempts).
const STORE_SENT_ATTEMPTS: usize = 24;

use crate::clock::contention_pause;

/// After losing an optimistic-lock race: a short random pause, then the
/// conversation as it is now.
async fn reload(app: &App, conv_id: &str, attempt: usize) -> Result<Head, ApiError> {
    contention_pause(attempt).await;
    app.store
        .load_head(conv_id)
        .await?
        .ok_or(ApiError::NotFound)
}

/// Every retry lost its race: retryable (503).
fn contended() -> ApiError {
    ApiError::Store(crate::store::StoreError::Unavailable(
        "too much contention".into(),
    ))
}

// ---- views (the API's JSON) ---------------------------------------------

#[derive(Debug, Serialize)]
pub struct ParticipantView {
    pub user_id: String,
    pub user_type: String,
    pub display_name: String,
    pub is_active: bool,
    pub joined_at: String,
    pub left_at: Option<String>,
    pub last_read_at: Option<String>,
    pub last_read_message_id: Option<String>,
}

impl From<&Participant> for ParticipantView {
    fn from(p: &Participant) -> Self {
        Self {
            user_id: p.user_id.clone(),
            user_type: p.user_type.clone(),
            display_name: p.display_name.clone(),
            is_active: p.is_active,
            joined_at: p.joined_at.clone(),
            left_at: p.left_at.clone(),
            last_read_at: p.last_read_at.clone(),
            last_read_message_id: p.last_read_message_id.clone(),
        }
    }
}

#[derive(Debug, Serialize)]
pub struct ParticipantSummaryView {
    pub user_id: String,
    pub user_type: String,
    pub display_name: String,
}

#[derive(Debug, Serialize)]
pub struct LastMessageView {
    pub id: String,
    pub preview: String,
    pub author_id: Option<String>,
    pub created_at: String,
}

#[derive(Debug, Serialize)]
pub struct AnalyticsView {
    pub message_count: i64,
    pub participant_count: i64,
    pub first_message_at: Option<String>,
    pub last_message_at: Option<String>,
    pub first_response_seconds: Option<f64>,
    pub average_response_seconds: Option<f64>,
}

impl From<&ConversationMeta> for AnalyticsView {
    fn from(m: &ConversationMeta) -> Self {
        Self {
            message_count: m.message_count,
            participant_count: m.participant_count,
            first_message_at: m.first_message_at.clone(),
            last_message_at: m.last_message_at.clone(),
            first_response_seconds: m.first_response_ms.map(|ms| ms as f64 / 1000.0),
            average_response_seconds: (m.response_count > 0)
                .then(|| m.response_total_ms as f64 / m.response_count as f64 / 1000.0),
        }
    }
}

fn last_message(m: &ConversationMeta) -> Option<LastMessageView> {
    Some(LastMessageView {
        id: m.last_message_id.clone()?,
        preview: m.last_message_preview.clone().unwrap_or_default(),
        author_id: m.last_message_author.clone(),
        created_at: m.last_message_at.clone()?,
    })
}

/// The contact and owner of a WhatsApp/SMS conversation.
#[derive(Debug, Serialize)]
pub struct InboxView {
    pub org_id: String,
    pub provider: String,
    pub channel: String,
    pub contact_address: String,
    pub contact_name: Option<String>,
    pub business_address: String,
    /// The WhatsApp 24-hour customer-service window runs from here.
    pub last_user_message_at: Option<String>,
    /// The contact opted out (STOP): sends are refused until START.
    pub opted_out: bool,
}

fn inbox_view(m: &ConversationMeta) -> Option<InboxView> {
    m.inbox.as_ref().map(|i| InboxView {
        org_id: i.org_id.clone(),
        provider: i.provider.clone(),
        channel: i.channel.clone(),
        contact_address: i.contact_address.clone(),
        contact_name: i.contact_name.clone(),
        business_address: i.business_address.clone(),
        last_user_message_at: i.last_user_message_at.clone(),
        opted_out: i.opted_out,
    })
}

/// The caller's unread count: their own in a booking chat, the org's in
/// an inbox conversation.
fn unread_of(head: &Head, caller: &Caller) -> i64 {
    match &head.meta.inbox {
        Some(inbox) => inbox.unread_count,
        None => head
            .active_participant(&caller.user_id)
            .map_or(0, |p| p.unread_count),
    }
}

#[derive(Debug, Serialize)]
pub struct ConversationView {
    pub id: String,
    #[serde(rename = "type")]
    pub kind: String,
    pub booking_id: Option<String>,
    pub status: String,
    pub created_at: String,
    pub twilio_conversation_sid: Option<String>,
    pub participants: Vec<ParticipantView>,
    pub last_message: Option<LastMessageView>,
    pub unread_count: i64,
    pub analytics: AnalyticsView,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub inbox: Option<InboxView>,
}

impl ConversationView {
    pub fn of(head: &Head, caller: &Caller) -> Self {
        let m = &head.meta;
        Self {
            id: m.id.clone(),
            kind: m.kind.clone(),
            booking_id: m.booking_id.clone(),
            status: m.status.clone(),
            created_at: m.created_at.clone(),
            twilio_conversation_sid: m.twilio_sid.clone(),
            participants: head.participants.iter().map(Into::into).collect(),
            last_message: last_message(m),
            unread_count: unread_of(head, caller),
            analytics: m.into(),
            inbox: inbox_view(m),
        }
    }
}

#[derive(Debug, Serialize)]
pub struct ConversationSummary {
    pub id: String,
    #[serde(rename = "type")]
    pub kind: String,
    pub booking_id: Option<String>,
    pub status: String,
    pub participants: Vec<ParticipantSummaryView>,
    pub last_message: Option<LastMessageView>,
    pub last_activity_at: String,
    pub unread_count: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub inbox: Option<InboxView>,
}

fn summary(m: &ConversationMeta, unread: i64) -> ConversationSummary {
    ConversationSummary {
        id: m.id.clone(),
        kind: m.kind.clone(),
        booking_id: m.booking_id.clone(),
        status: m.status.clone(),
        participants: m
            .participants
            .iter()
            .filter(|p| p.is_active)
            .map(|p| ParticipantSummaryView {
                user_id: p.user_id.clone(),
                user_type: p.user_type.clone(),
                display_name: p.display_name.clone(),
            })
            .collect(),
        last_message: last_message(m),
        last_activity_at: m.last_message_at.clone().unwrap_or(m.created_at.clone()),
        unread_count: unread,
        inbox: inbox_view(m),
    }
}

#[derive(Debug, Serialize)]
pub struct MessageView {
    pub id: String,
    pub conversation_id: String,
    pub author_id: String,
    pub author_type: String,
    pub body: String,
    pub created_at: String,
    pub status: String,
    pub twilio_message_sid: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error_code: Option<String>,
    /// Media attachments (metadata; not downloaded), when any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub media: Option<serde_json::Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub location: Option<serde_json::Value>,
    /// A WhatsApp button reply.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub button: Option<serde_json::Value>,
    /// A WhatsApp template send (`content_sid`, `content_variables`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub template: Option<serde_json::Value>,
}

impl From<&Message> for MessageView {
    fn from(m: &Message) -> Self {
        Self {
            id: m.id.clone(),
            conversation_id: m.conversation_id.clone(),
            author_id: m.author_id.clone(),
            author_type: m.author_type.clone(),
            body: m.body.clone(),
            created_at: m.created_at.clone(),
            status: m.status.clone(),
            twilio_message_sid: m.twilio_sid.clone(),
            error_code: m.error_code.clone(),
            media: detail(m, "media"),
            location: detail(m, "location"),
            button: detail(m, "button"),
            template: detail(m, "template"),
        }
    }
}

fn detail(m: &Message, name: &str) -> Option<serde_json::Value> {
    m.details
        .as_ref()
        .and_then(|d| d.get(name))
        .filter(|v| !v.is_null())
        .cloned()
}

#[derive(Debug, Serialize)]
pub struct Page<T> {
    pub items: Vec<T>,
    pub next_cursor: Option<String>,
}

// ---- access -------------------------------------------------------------

/// The conversation if the caller may see it; 404 otherwise (existence is
/// never revealed). Service tokens see every conversation.
pub async fn load_visible(app: &App, caller: &Caller, id: &str) -> Result<Head, ApiError> {
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

fn require_participant<'h>(head: &'h Head, caller: &Caller) -> Result<&'h Participant, ApiError> {
    head.active_participant(&caller.user_id).ok_or_else(|| {
        ApiError::forbidden(
            "not_a_participant",
            "only an active participant of this conversation can do this",
        )
    })
}

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

struct ParsedParticipant {
    user_id: UserId,
    user_type: ParticipantType,
    display_name: String,
}

fn parse_participant(p: &ParticipantInput) -> Result<ParsedParticipant, ApiError> {
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

fn participant_attributes(p: &ParsedParticipant) -> String {
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
    app: &App,
    caller: &Caller,
    input: &CreateConversationInput,
) -> Result<(bool, ConversationView), ApiError> {
    let booking = BookingId::parse(&input.booking_id)?;
    match input.conversation_type.as_deref() {
        None | Some("booking") => {}
        Some(_) => {
            return Err(ApiError::unprocessable(
                "invalid_conversation_type",
                "conversation_type must be \"booking\"",
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

    let id = ConversationId::for_booking(&booking);
    if let Some(head) = app.store.load_head(id.as_str()).await? {
        return existing(&head, caller).map(|v| (false, v));
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
            user_type: p.user_type.as_str().into(),
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
        status: "active".into(),
        twilio_sid: Some(conv.sid.clone()),
        created_at: now.clone(),
        created_by: caller.user_id.clone(),
        version: 1,
        participant_count: participants.len() as i64,
        participants: participants
            .iter()
            .map(|p| ParticipantSummary {
                user_id: p.user_id.clone(),
                user_type: p.user_type.clone(),
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
    existing(&head, caller).map(|v| (false, v))
}

fn existing(head: &Head, caller: &Caller) -> Result<ConversationView, ApiError> {
    if head.meta.inbox.is_none() && can_see(head, caller) {
        Ok(ConversationView::of(head, caller))
    } else {
        Err(ApiError::NotFound)
    }
}

// ---- send ---------------------------------------------------------------

/// Which side a message comes from, for response-time analytics.
fn side_of(user_type: &str) -> &str {
    match user_type {
        "customer" | "contact" => "customer",
        _ => "business",
    }
}

/// The analytics a new message causes: it answers the other side's
/// pending message (a response time), or extends its own side's turn.
pub fn message_effects(
    meta: &ConversationMeta,
    author_type: &str,
    body: &str,
    now: DateTime<Utc>,
) -> MessageEffects {
    let side = side_of(author_type);
    let now_s = format_ts(now);
    let preview = truncate(body, 100);
    match (&meta.pending_side, &meta.pending_since) {
        (Some(ps), Some(since)) if ps == side => MessageEffects {
            preview,
            response_ms: None,
            pending_side: ps.clone(),
            pending_since: since.clone(),
        },
        (Some(_), Some(since)) => {
            let response_ms = DateTime::parse_from_rfc3339(since)
                .ok()
                .map(|t| (now - t.with_timezone(&Utc)).num_milliseconds().max(0));
            MessageEffects {
                preview,
                response_ms,
                pending_side: side.into(),
                pending_since: now_s,
            }
        }
        _ => MessageEffects {
            preview,
            response_ms: None,
            pending_side: side.into(),
            pending_since: now_s,
        },
    }
}

fn request_hash(body: &str) -> String {
    let d = Sha256::digest(body.as_bytes());
    d.iter().take(16).map(|b| format!("{b:02x}")).collect()
}

/// Send a message as the caller: `(created, message)`; with an
/// `Idempotency-Key`, a repeat returns the first result and never re-sends.
/// A send request: `body` for a chat message or a free-form WhatsApp/SMS
/// reply, or `content_sid` (+ `content_variables`) for a WhatsApp template;
/// `media_urls` for WhatsApp/SMS media.
#[derive(Debug, Default, Deserialize)]
pub struct SendInput {
    #[serde(default)]
    pub body: Option<String>,
    #[serde(default)]
    pub content_sid: Option<String>,
    #[serde(default)]
    pub content_variables: Option<serde_json::Value>,
    #[serde(default)]
    pub media_urls: Option<Vec<String>>,
}

/// Send as the caller: `(created, message)`. Booking chats go through
/// Twilio Conversations, WhatsApp/SMS conversations through the Messages
/// API. With an `Idempotency-Key`, a repeat returns the first result and
/// never re-sends.
pub async fn send(
    app: &App,
    caller: &Caller,
    conv_id: &str,
    input: &SendInput,
    key: Option<IdempotencyKey>,
) -> Result<(bool, MessageView), ApiError> {
    let head = load_visible(app, caller, conv_id).await?;
    if head.meta.inbox.is_some() {
        return crate::reply::send_reply(app, caller, head, input, key).await;
    }
    if input.content_sid.is_some() || input.media_urls.is_some() {
        return Err(ApiError::unprocessable(
            "invalid_request",
            "templates and media are for WhatsApp/SMS conversations; send a body",
        ));
    }
    let body = input
        .body
        .as_deref()
        .ok_or_else(|| ApiError::unprocessable("invalid_request", "missing field `body`"))?;
    send_message(app, caller, head, body, key).await
}

async fn send_message(
    app: &App,
    caller: &Caller,
    mut head: Head,
    body: &str,
    key: Option<IdempotencyKey>,
) -> Result<(bool, MessageView), ApiError> {
    let me = require_participant(&head, caller)?.clone();
    if head.meta.status == "closed" {
        return Err(ApiError::conflict(
            "conversation_closed",
            "this conversation is closed",
        ));
    }
    let body = MessageBody::parse(body)?;
    let conv = head.meta.id.clone();
    let message_id = new_message_id();
    let idem = match claim(
        app,
        &conv,
        caller,
        key,
        request_hash(body.as_str()),
        &message_id,
    )
    .await?
    {
        Claim::Fresh(idem) => idem,
        Claim::Replay(result) => return Ok(*result),
    };

    let twilio_sid = head
        .meta
        .twilio_sid
        .clone()
        .ok_or_else(|| ApiError::Internal("booking conversation without Twilio SID".into()))?;
    let attributes = serde_json::json!({
        "message_id": message_id,
        "conversation_id": conv,
        "user_type": me.user_type,
    })
    .to_string();
    let sent = match app
        .twilio
        .send_conversation_message(&twilio_sid, &me.identity, body.as_str(), &attributes)
        .await
    {
        Ok(sent) => sent,
        Err(e) => {
            release(app, idem.as_ref(), &e).await;
            return Err(e.into());
        }
    };

    let now = app.clock.now();
    let msg = Message {
        id: message_id,
        conversation_id: conv.clone(),
        author_id: me.user_id.clone(),
        author_type: me.user_type.clone(),
        body: body.as_str().into(),
        created_at: format_ts(now),
        twilio_sid: Some(sent.sid.clone()),
        twilio_index: sent.index,
        status: "sent".into(),
        details: None,
        error_code: None,
    };
    finish_sent(app, &mut head, msg, now, idem.as_ref()).await
}

pub(crate) fn new_message_id() -> String {
    format!("msg_{}", ulid::Ulid::new().to_string().to_lowercase())
}

pub(crate) enum Claim {
    /// Go ahead (holding the key's pending record, if a key was given).
    Fresh(Option<IdemRecord>),
    /// The key was used before: this is its answer.
    Replay(Box<(bool, MessageView)>),
}

/// Claim an `Idempotency-Key` before calling Twilio.
pub(crate) async fn claim(
    app: &App,
    conv: &str,
    caller: &Caller,
    key: Option<IdempotencyKey>,
    request_hash: String,
    message_id: &str,
) -> Result<Claim, ApiError> {
    let Some(k) = key else {
        return Ok(Claim::Fresh(None));
    };
    let record = IdemRecord {
        pk: format!("IDEM#{conv}#{}#{}", caller.user_id, k.as_str()),
        request_hash,
        message_id: message_id.to_string(),
        state: IdemState::Pending,
        message_sk: None,
    };
    match app
        .store
        .begin_idempotent(&record, app.clock.now().timestamp())
        .await?
    {
        IdemBegin::Fresh => Ok(Claim::Fresh(Some(record))),
        IdemBegin::Existing(prev) => replay(app, conv, &record, prev)
            .await
            .map(|r| Claim::Replay(Box::new(r))),
    }
}

/// After a failed Twilio call: release the key if Twilio provably did
/// nothing, record `unknown` if it may have sent.
pub(crate) async fn release(app: &App, idem: Option<&IdemRecord>, e: &crate::twilio::TwilioError) {
    let Some(record) = idem else { return };
    let cleanup = if e.outcome_unknown() {
        app.store.mark_idempotent_unknown(record).await
    } else {
        app.store.abandon_idempotent(record).await
    };
    if let Err(ce) = cleanup {
        tracing::error!(error = %ce, "could not update idempotency record");
    }
}

/// Store a message Twilio accepted; if that fails, Twilio's webhook will
/// bring it, and the key is marked `unknown` so nobody re-sends.
pub(crate) async fn finish_sent(
    app: &App,
    head: &mut Head,
    mut msg: Message,
    now: DateTime<Utc>,
    idem: Option<&IdemRecord>,
) -> Result<(bool, MessageView), ApiError> {
    let stored = store_sent(app, head, &mut msg, now, idem).await;
    if let Err(e) = &stored {
        tracing::error!(conversation_id = %msg.conversation_id, error = %e,
            "message sent but not stored");
        if let Some(record) = idem
            && let Err(ce) = app.store.mark_idempotent_unknown(record).await
        {
            tracing::error!(error = %ce, "could not update idempotency record");
        }
    }
    stored.map(|()| (true, (&msg).into()))
}

/// Store a message Twilio accepted, retrying on optimistic-lock conflicts.
async fn store_sent(
    app: &App,
    head: &mut Head,
    msg: &mut Message,
    now: DateTime<Utc>,
    idem: Option<&IdemRecord>,
) -> Result<(), ApiError> {
    for attempt in 0..STORE_SENT_ATTEMPTS {
        let fx = message_effects(&head.meta, &msg.author_type, &msg.body, now);
        match app.store.store_message(head, msg, &fx, idem).await? {
            StoreMessageOutcome::Stored | StoreMessageOutcome::Duplicate => return Ok(()),
            StoreMessageOutcome::Conflict => {
                tracing::debug!(attempt, "conversation changed; retrying message write");
                // A status callback may have beaten us to the SID: store
                // the newer status it recorded.
                if head.meta.inbox.is_some()
                    && let Some(sid) = &msg.twilio_sid
                    && let Some((recorded, error_code)) = app.store.recorded_status(sid).await?
                    && crate::domain::status_rank(&recorded)
                        > crate::domain::status_rank(&msg.status)
                {
                    msg.status = recorded;
                    msg.error_code = error_code;
                }
                *head = reload(app, &msg.conversation_id, attempt).await?;
            }
        }
    }
    Err(contended())
}

async fn replay(
    app: &App,
    conv: &str,
    mine: &IdemRecord,
    prev: IdemRecord,
) -> Result<(bool, MessageView), ApiError> {
    if prev.request_hash != mine.request_hash {
        return Err(ApiError::unprocessable(
            "idempotency_key_reused",
            "this Idempotency-Key was used for a different message",
        ));
    }
    match prev.state {
        IdemState::Sent => {
            let sk = prev
                .message_sk
                .ok_or_else(|| ApiError::Internal("sent record without message".into()))?;
            let msg = app
                .store
                .get_message(conv, &sk)
                .await?
                .ok_or_else(|| ApiError::Internal("idempotent message missing".into()))?;
            Ok((false, (&msg).into()))
        }
        IdemState::Pending => Err(ApiError::conflict(
            "request_in_progress",
            "a request with this Idempotency-Key is still in progress; retry shortly",
        )),
        IdemState::Unknown => Err(ApiError::conflict(
            "delivery_unknown",
            "an earlier request with this Idempotency-Key timed out at Twilio; \
             it was not re-sent. Check the conversation before sending again with a new key",
        )),
    }
}

// ---- read state ---------------------------------------------------------

#[derive(Debug, Serialize)]
pub struct ReadView {
    pub conversation_id: String,
    pub user_id: String,
    pub unread_count: i64,
    pub last_read_at: String,
    pub last_read_message_id: Option<String>,
}

pub async fn mark_read(app: &App, caller: &Caller, conv_id: &str) -> Result<ReadView, ApiError> {
    let mut head = load_visible(app, caller, conv_id).await?;
    let now = format_ts(app.clock.now());
    if head.meta.inbox.is_some() {
        return mark_inbox_read(app, caller, head, now).await;
    }
    for attempt in 0..MAX_RETRIES {
        let me = require_participant(&head, caller)?.clone();
        let last = head.meta.last_message_id.clone();
        if app
            .store
            .mark_read(&head.meta.id, &me, &now, last.as_deref())
            .await?
        {
            mirror_read_to_twilio(app, &head, &me).await;
            return Ok(ReadView {
                conversation_id: head.meta.id.clone(),
                user_id: me.user_id,
                unread_count: 0,
                last_read_at: now,
                last_read_message_id: last.or(me.last_read_message_id),
            });
        }
        head = reload(app, &head.meta.id, attempt).await?;
    }
    Err(contended())
}

/// An agent reads an inbox conversation for the whole org.
async fn mark_inbox_read(
    app: &App,
    caller: &Caller,
    mut head: Head,
    now: String,
) -> Result<ReadView, ApiError> {
    if caller.user_type != UserType::Agent {
        return Err(ApiError::forbidden(
            "agents_only",
            "only the org's agents mark an inbox conversation read",
        ));
    }
    for attempt in 0..MAX_RETRIES {
        let inbox = head
            .meta
            .inbox
            .clone()
            .ok_or_else(|| ApiError::Internal("inbox conversation lost its org".into()))?;
        if app
            .store
            .mark_inbox_read(&head.meta, &inbox, &caller.user_id, &now)
            .await?
        {
            return Ok(ReadView {
                conversation_id: head.meta.id.clone(),
                user_id: caller.user_id.clone(),
                unread_count: 0,
                last_read_at: now,
                last_read_message_id: head.meta.last_message_id.clone(),
            });
        }
        head = reload(app, &head.meta.id, attempt).await?;
    }
    Err(contended())
}

/// Best effort: Twilio's `LastReadMessageIndex` follows ours; a failure is
/// logged and the local read state stands.
async fn mirror_read_to_twilio(app: &App, head: &Head, me: &Participant) {
    let (Some(conv_sid), Some(part_sid), Some(index)) = (
        head.meta.twilio_sid.as_deref(),
        me.twilio_sid.as_deref(),
        head.meta.last_message_index,
    ) else {
        return;
    };
    if let Err(e) = app
        .twilio
        .update_last_read_index(conv_sid, part_sid, index)
        .await
    {
        tracing::warn!(error = %e, "could not mirror read horizon to Twilio");
    }
}

/// A user's unread total; for an agent, their org inbox's.
pub async fn unread_total(app: &App, caller: &Caller) -> Result<i64, ApiError> {
    match (caller.user_type, &caller.org_id) {
        (UserType::Agent, Some(org)) => Ok(app.store.org_unread_total(org).await?),
        _ => Ok(app.store.unread_total(&caller.user_id).await?),
    }
}

// ---- listing ------------------------------------------------------------

pub async fn list_conversations(
    app: &App,
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
        .transpose()?
        .map(|k| from_cursor_key(&k));
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
        next_cursor: next.map(|k| app.cursors.encode(&scope, &to_cursor_key(&k))),
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
    app: &App,
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
        .transpose()?
        .map(|k| from_cursor_key(&k));
    let id = ConversationId::parse(conv_id)?;
    // Head and page in parallel; the page is discarded unless visible.
    let (head, page) = tokio::join!(
        load_visible(app, caller, id.as_str()),
        app.store
            .query_messages(id.as_str(), ascending, limit, start)
    );
    let head = head?;
    let (messages, next) = page?;
    Ok(MessagesPage {
        conversation_id: head.meta.id.clone(),
        messages: messages.iter().map(Into::into).collect(),
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
        next_cursor: next.map(|k| app.cursors.encode(&scope, &to_cursor_key(&k))),
    })
}

// ---- participants -------------------------------------------------------

pub async fn list_participants(
    app: &App,
    caller: &Caller,
    conv_id: &str,
) -> Result<Vec<ParticipantView>, ApiError> {
    let head = load_visible(app, caller, conv_id).await?;
    Ok(head.participants.iter().map(Into::into).collect())
}

/// Add a participant (service tokens and active participants): `(created, view)`.
pub async fn add_participant(
    app: &App,
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
            user_type: p.user_type.as_str().into(),
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
    app: &App,
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

// ---- status ---------------------------------------------------------------

/// `PATCH /conversations/{id}` `{status}`: active, escalated or closed.
/// Booking chats: an active participant (or a service); closing one also
/// closes the Twilio conversation, which Twilio never reopens, so a closed
/// booking chat stays closed. WhatsApp/SMS: the org's agents; a closed one
/// can be reopened (an inbound message also reopens it).
pub async fn update_status(
    app: &App,
    caller: &Caller,
    conv_id: &str,
    status: &str,
) -> Result<(bool, ConversationView), ApiError> {
    if !matches!(status, "active" | "escalated" | "closed") {
        return Err(ApiError::unprocessable(
            "invalid_status",
            "status must be active, escalated or closed",
        ));
    }
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
        }
        _ => {}
    }
    for attempt in 0..MAX_RETRIES {
        let from = head.meta.status.clone();
        if from == status {
            return Ok((false, ConversationView::of(&head, caller)));
        }
        let booking = head.meta.inbox.is_none();
        let allowed = match (from.as_str(), status) {
            ("closed", _) if booking => false,
            ("closed", "escalated") => false,
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
            && status == "closed"
            && let Some(sid) = &head.meta.twilio_sid
        {
            app.twilio.set_conversation_state(sid, "closed").await?;
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

/// `GET /stats/providers`: the caller's org, per provider.
pub async fn provider_stats(
    app: &App,
    caller: &Caller,
    org_param: Option<&str>,
) -> Result<serde_json::Value, ApiError> {
    let org = match (caller.user_type, &caller.org_id) {
        (UserType::Agent, Some(org)) => org.clone(),
        (UserType::Service, _) => org_param
            .filter(|o| !o.is_empty())
            .map(str::to_string)
            .ok_or_else(|| ApiError::unprocessable("missing_org_id", "org_id is required"))?,
        _ => {
            return Err(ApiError::forbidden(
                "agents_only",
                "provider statistics are for an org's agents",
            ));
        }
    };
    let now = app.clock.now();
    let since = format_ts(now - chrono::Duration::hours(24));
    let providers = app.store.provider_stats(&org, &since).await?;
    Ok(serde_json::json!({"org_id": org, "as_of": format_ts(now), "providers": providers}))
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn at(secs: i64) -> DateTime<Utc> {
        Utc.timestamp_opt(1_800_000_000 + secs, 0).unwrap()
    }

    #[test]
    fn when_the_other_side_answers_it_should_count_a_response_time() {
        let mut meta = ConversationMeta::default();
        let fx = message_effects(&meta, "customer", "hi", at(0));
        assert_eq!(
            (fx.response_ms, fx.pending_side.as_str()),
            (None, "customer")
        );
        meta.pending_side = Some(fx.pending_side);
        meta.pending_since = Some(fx.pending_since);
        // The customer again: still waiting since the first message.
        let fx2 = message_effects(&meta, "customer", "hello?", at(30));
        assert_eq!(fx2.response_ms, None);
        assert_eq!(fx2.pending_since, format_ts(at(0)));
        // The provider answers 90 s after the first unanswered message.
        let fx3 = message_effects(&meta, "provider", "on my way", at(90));
        assert_eq!(fx3.response_ms, Some(90_000));
        assert_eq!(fx3.pending_side, "business");
    }

    #[test]
    fn when_a_preview_is_long_it_should_be_cut_at_100_chars() {
        let fx = message_effects(
            &ConversationMeta::default(),
            "customer",
            &"ß".repeat(300),
            at(0),
        );
        assert_eq!(fx.preview.chars().count(), 100);
    }
}
