//! The inbound pipeline's rules: what `process-inbound` does with each
//! queued webhook. Every write is idempotent on a Twilio SID, so SQS and
//! Twilio redeliveries are harmless.

use chrono::{DateTime, Utc};
use serde_json::Value;

use crate::accounts::RouteEntry;
use crate::app::Core;
use crate::clock::format_ts;
use crate::conversation::outgoing::{OutboxError, deliver_outbox};
use crate::domain::{
    AuthorType, ConversationStatus, MessageStatus, ParticipantType, Provider, StatsDelta, redact,
};
use crate::envelope::{Envelope, Kind, Source};
use crate::inbox::identity;
use crate::meta::MetaClient;
use crate::outbox::OutboxRecord;
use crate::ports::ProviderTransport;
use crate::ports::{
    AccountStore, ContactStore, ConversationStore, InboxStore, MessageStore, Storage,
};
use crate::provider::{InboundMessage, ProviderEvent, StatusUpdate};
use crate::store::{
    ConversationMeta, Head, InboundOutcome, InboundWrite, Message, Participant, StoreError,
    StoreMessageOutcome,
};
use crate::twilio::TwilioClient;

const MAX_ATTEMPTS: usize = 16;

#[derive(Debug, thiserror::Error)]
pub enum ProcessError {
    /// Worth another delivery (storage unavailable, contention).
    #[error("transient: {0}")]
    Transient(#[from] StoreError),
    /// Will never succeed (malformed envelope): goes to the DLQ.
    #[error("permanent: {0}")]
    Permanent(String),
}

use crate::clock::contention_pause as pause;

/// Process one queued envelope.
pub async fn process(app: &Core<impl Storage>, raw: &str) -> Result<(), ProcessError> {
    process_with(app, raw, Mode::Queue).await.map(|_| ())
}

/// Process a parked envelope again, now that its number may be registered:
/// `Ok(true)` when it was stored (or already was: every write is
/// idempotent on the message's SID), `Ok(false)` when its number still
/// routes to no org (nothing written, and it stays parked).
pub async fn replay(app: &Core<impl Storage>, raw: &str) -> Result<bool, ProcessError> {
    process_with(app, raw, Mode::Replay)
        .await
        .map(|unroutable| !unroutable)
}

/// What happens to a message for a number no org claims: parked (from the
/// queue), or left where it is (a replay of a parked message).
#[derive(Clone, Copy, PartialEq, Eq)]
enum Mode {
    Queue,
    Replay,
}

/// `Ok(true)`: a message of the envelope found no org.
async fn process_with(
    app: &Core<impl Storage>,
    raw: &str,
    mode: Mode,
) -> Result<bool, ProcessError> {
    // A message Twilio accepted whose storage failed in `send-message`.
    if let Some(record) = OutboxRecord::detect(raw).map_err(ProcessError::Permanent)? {
        return deliver_outbox(app, &record)
            .await
            .map(|()| false)
            .map_err(|e| match e {
                OutboxError::Malformed(why) => ProcessError::Permanent(why),
                OutboxError::Transient(why) => {
                    ProcessError::Transient(StoreError::Unavailable(why))
                }
            });
    }
    let env = Envelope::from_json(raw).map_err(ProcessError::Permanent)?;
    let events = match env.kind {
        // Booking chats live in the environment's account only.
        Kind::ConversationEvent if env.account.is_some() => {
            tracing::warn!(signed_by = ?env.account, "a Conversations webhook signed by an org's account; ignored");
            return Ok(false);
        }
        Kind::ConversationEvent => return conversation_event(app, &env).await.map(|()| false),
        // Each provider's adapter turns its delivery into the same events.
        Kind::InboundMessage | Kind::StatusCallback => {
            TwilioClient::normalise(&env).map_err(ProcessError::Permanent)?
        }
        Kind::ProviderWebhook => MetaClient::normalise(&env).map_err(ProcessError::Permanent)?,
    };
    // A delivery may batch several events; each write is idempotent, so a
    // redelivery after a partial failure repeats only what did not land.
    let mut unroutable = false;
    for event in events {
        match event {
            ProviderEvent::Message(m) => {
                if let Routed::Unroutable = inbound_message(app, &env, m, raw, mode).await? {
                    unroutable = true;
                }
            }
            ProviderEvent::Status(s) => {
                if env.source != Source::Meta && !status_account_matches(app, &env, &s).await? {
                    tracing::warn!(signed_by = ?env.account, "a status callback signed by another Twilio account than the sending number's; ignored");
                    continue;
                }
                status_update(app, &env, &s).await?
            }
            // A replay leaves it parked (it was parked for an operator).
            ProviderEvent::Unaddressable { .. } if mode == Mode::Replay => unroutable = true,
            ProviderEvent::Unaddressable {
                message_id,
                business_address,
            } => {
                tracing::warn!(to = %redact(&business_address), "a sender no reply can reach; parked");
                // No registration makes such a sender reachable: parked
                // for an operator, not for a replay.
                app.store
                    .park_unroutable(&env.received_at, &message_id, &business_address, raw, None)
                    .await?;
            }
            ProviderEvent::Skipped { what } => {
                tracing::info!(
                    what = what.as_str(),
                    "webhook event acknowledged, not stored"
                );
            }
        }
    }
    Ok(unroutable)
}

fn required<'a>(env: &'a Envelope, name: &str) -> Result<&'a str, ProcessError> {
    env.param(name)
        .filter(|v| !v.is_empty())
        .ok_or_else(|| ProcessError::Permanent(format!("missing {name}")))
}

/// Resolve the org owning a Twilio address.
pub async fn resolve_org(
    app: &Core<impl ConversationStore + MessageStore + InboxStore + AccountStore + ContactStore>,
    address: &str,
) -> Result<Option<String>, StoreError> {
    Ok(route(app, Provider::Twilio, address).await?.map(|r| r.org))
}

/// The routing cache's key: addresses of different providers never meet.
fn cache_key(provider: Provider, address: &str) -> String {
    match provider {
        Provider::Twilio => address.to_string(),
        other => format!("{other}#{address}"),
    }
}

/// Where a business number routes.
pub(crate) struct Route {
    pub(crate) org: String,
    /// The number's chat account says so (`false`: `DEFAULT_ORG_ID` does).
    pub(crate) by_account: bool,
    /// The org's own Twilio account the number belongs to (`None`: the
    /// environment's).
    pub(crate) twilio_account: Option<String>,
}

pub(crate) async fn route(
    app: &Core<impl AccountStore>,
    provider: Provider,
    address: &str,
) -> Result<Option<Route>, StoreError> {
    let cached = cache_key(provider, address);
    if let Some(hit) = app.accounts.get(&cached) {
        return Ok(Some(Route {
            org: hit.org,
            by_account: true,
            twilio_account: hit.twilio_account,
        }));
    }
    match app.store.chat_account(provider, address).await? {
        Some(acc) => {
            let entry = RouteEntry {
                org: acc.org_id,
                twilio_account: acc.twilio_account_sid,
            };
            app.accounts.put(&cached, entry.clone());
            Ok(Some(Route {
                org: entry.org,
                by_account: true,
                twilio_account: entry.twilio_account,
            }))
        }
        // `DEFAULT_ORG_ID` is for a single-tenant Twilio install; a Meta
        // phone number id must be registered to route.
        None if provider == Provider::Twilio => {
            Ok(app.config.default_org_id.clone().map(|org| Route {
                org,
                by_account: false,
                twilio_account: None,
            }))
        }
        None => Ok(None),
    }
}

/// Whether a Twilio webhook verified with `verified_by`'s token (`None`:
/// the environment's) may speak for a number of `route`: only the account
/// the number belongs to may. An org holding its own account's token can
/// sign anything, so this is what keeps it out of other orgs' numbers.
fn same_account(verified_by: Option<&str>, number_account: Option<&str>) -> bool {
    verified_by == number_account
}

/// WhatsApp/SMS opt-out keywords (any case, trimmed): `Some(true)` opts
/// out, `Some(false)` opts back in.
pub fn opt_keyword(body: &str) -> Option<bool> {
    match body.trim().to_ascii_uppercase().as_str() {
        "STOP" | "STOPALL" | "UNSUBSCRIBE" | "CANCEL" | "END" | "QUIT" => Some(true),
        "START" | "UNSTOP" => Some(false),
        _ => None,
    }
}

fn parse_time(s: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(s)
        .ok()
        .map(|t| t.with_timezone(&Utc))
}

async fn inbound_message(
    app: &Core<impl ConversationStore + MessageStore + InboxStore + AccountStore + ContactStore>,
    env: &Envelope,
    mut m: InboundMessage,
    raw: &str,
    mode: Mode,
) -> Result<Routed, ProcessError> {
    // A warm cache may remember a number's old org; the write checks the
    // routing, and a number that moved is resolved again (once more here,
    // then by SQS redelivery).
    for _ in 0..2 {
        match inbound_once(app, env, &mut m, raw, mode).await? {
            done @ (Routed::Done | Routed::Unroutable) => return Ok(done),
            Routed::Moved(address) => {
                tracing::info!(to = %redact(&address), "the number moved to another org; re-routing");
                app.accounts.forget(&cache_key(m.provider, &address));
            }
        }
    }
    Err(StoreError::Unavailable("a number's chat account keeps changing".into()).into())
}

/// Our id of an inbound message: Twilio's SID as it was; Meta's long
/// base64 wamid hashed (deterministic, so redeliveries meet).
fn message_id(provider: Provider, sid: &str) -> String {
    match provider {
        Provider::Twilio => format!("msg_{}", sid.to_ascii_lowercase()),
        other => format!("msg_{}", crate::domain::short_hash(&[other.as_str(), sid])),
    }
}

enum Routed {
    Done,
    /// No org claims the business number (a replay leaves it parked).
    Unroutable,
    /// The business number's routing changed under this write.
    Moved(String),
}

async fn inbound_once(
    app: &Core<impl ConversationStore + MessageStore + InboxStore + AccountStore + ContactStore>,
    env: &Envelope,
    m: &mut InboundMessage,
    raw: &str,
    mode: Mode,
) -> Result<Routed, ProcessError> {
    let sid = m.message_id.as_str();
    let to = m.business_address.as_str();
    let Some(Route {
        org,
        by_account: routed_by_account,
        twilio_account,
    }) = route(app, m.provider, to).await?
    else {
        if mode == Mode::Replay {
            return Ok(Routed::Unroutable);
        }
        tracing::warn!(to = %redact(to), provider = m.provider.as_str(), "no chat account for this number; parked");
        // Registering this number replays it (`replay_parked`).
        app.store
            .park_unroutable(&env.received_at, sid, to, raw, Some(m.provider))
            .await?;
        return Ok(Routed::Unroutable);
    };
    if m.provider == Provider::Twilio
        && !same_account(env.account.as_deref(), twilio_account.as_deref())
    {
        // Signed by another account than the number's: never stored in its
        // org's inbox; kept for an operator (no registration replays it).
        if mode == Mode::Replay {
            return Ok(Routed::Unroutable);
        }
        tracing::warn!(to = %redact(to), signed_by = ?env.account, "a webhook signed by another Twilio account than the number's; parked");
        app.store
            .park_unroutable(&env.received_at, sid, to, raw, None)
            .await?;
        return Ok(Routed::Done);
    }
    let channel = m.channel;
    let mut resolved = identity::resolve(app, &org, &m.contact).await?;
    let (conv, contact_address) = (resolved.conversation_id.clone(), resolved.address.clone());
    let at = m
        .sent_at
        .or_else(|| parse_time(&env.received_at))
        .unwrap_or_else(|| app.clock.now());
    let body = m.body.as_str();
    let msg = Message {
        id: message_id(m.provider, sid),
        conversation_id: conv.clone(),
        author_id: contact_address.clone(),
        author_type: AuthorType::Contact,
        body: body.to_string(),
        created_at: format_ts(at),
        twilio_sid: Some(sid.to_string()),
        twilio_index: None,
        status: MessageStatus::Received,
        // Moved into the message (it is large: every webhook parameter),
        // and back if the message is routed again.
        details: Some(std::mem::take(&mut m.details)),
        error_code: None,
    };
    let name = m.profile_name.as_deref();
    for attempt in 0..MAX_ATTEMPTS {
        let existing = match resolved.read.take() {
            Some(read) => read,
            None => app.store.conversation_meta(&conv).await?,
        };
        let fx = match &existing {
            Some(meta) => meta.message_effects(AuthorType::Contact, body, at),
            None => ConversationMeta::default().message_effects(AuthorType::Contact, body, at),
        };
        let write = InboundWrite {
            org_id: &org,
            provider: m.provider,
            channel,
            contact_address: &contact_address,
            contact_name: name,
            business_address: to,
            message: &msg,
            effects: &fx,
            existing: existing.as_ref(),
            opt_out: opt_keyword(body),
            // A contact writing reopens a closed conversation; a new one
            // starts active. The provider's counters follow.
            status: existing
                .as_ref()
                .map_or(ConversationStatus::Active, |m| m.status.after_inbound()),
            routed_by_account,
            stats: match &existing {
                None => StatsDelta::of_change(None, ConversationStatus::Active),
                Some(m) => StatsDelta::of_change(Some(m.status), m.status.after_inbound()),
            },
        };
        match app.store.store_inbound(&write).await? {
            InboundOutcome::Stored => {
                identity::link(app, &org, &m.contact, &resolved).await?;
                // The text is stored; its media follow (best effort).
                crate::inbox::media::store_media(app, &org, m.provider, to, &msg).await;
                tracing::info!(conversation_id = %conv, provider = m.provider.as_str(), channel = channel.as_str(), "inbound message stored");
                return Ok(Routed::Done);
            }
            InboundOutcome::Duplicate => {
                identity::link(app, &org, &m.contact, &resolved).await?;
                tracing::info!(conversation_id = %conv, "inbound message already stored");
                // A redelivery after a crash between the text and its media:
                // the media are fetched now.
                crate::inbox::media::store_missing_media(app, &org, m.provider, to, &msg).await?;
                return Ok(Routed::Done);
            }
            InboundOutcome::Rerouted => {
                m.details = msg.details.unwrap_or_default();
                return Ok(Routed::Moved(to.to_string()));
            }
            InboundOutcome::Conflict => pause(attempt).await,
        }
    }
    Err(StoreError::Unavailable("contention on inbound conversation".into()).into())
}

/// A Twilio status callback may move only the messages of its own
/// account: the number it was sent from must belong to the account whose
/// token verified the callback (see [`same_account`]).
async fn status_account_matches(
    app: &Core<impl AccountStore>,
    env: &Envelope,
    s: &StatusUpdate,
) -> Result<bool, StoreError> {
    let number_account = match s.business_address.as_deref() {
        Some(from) => route(app, Provider::Twilio, from)
            .await?
            .and_then(|r| r.twilio_account),
        None => None,
    };
    Ok(same_account(
        env.account.as_deref(),
        number_account.as_deref(),
    ))
}

async fn status_update(
    app: &Core<impl ConversationStore + MessageStore + InboxStore + AccountStore + ContactStore>,
    env: &Envelope,
    s: &StatusUpdate,
) -> Result<(), ProcessError> {
    let sid = s.message_id.as_str();
    let raw = s.status.as_str();
    let Some(status) = MessageStatus::parse(raw) else {
        // Kept in the envelope's parameters, but a status this backend does
        // not know cannot be ordered, so it never moves the message.
        tracing::info!(
            status = raw,
            "status callback with an unknown status ignored"
        );
        return Ok(());
    };
    let outcome = app
        .store
        .apply_status(sid, status, s.error_code.as_deref(), &env.received_at)
        .await?;
    let outcome = match outcome {
        crate::store::StatusOutcome::Applied => "applied",
        crate::store::StatusOutcome::Pending => "kept until the message is stored",
        crate::store::StatusOutcome::Stale => "ignored (not newer)",
        crate::store::StatusOutcome::ErrorRecorded => {
            "error code kept; a confirmed delivery is not undone"
        }
    };
    tracing::info!(status = status.as_str(), outcome, "status callback");
    Ok(())
}

async fn conversation_event(
    app: &Core<impl ConversationStore + MessageStore + InboxStore + AccountStore + ContactStore>,
    env: &Envelope,
) -> Result<(), ProcessError> {
    let Some(event) = env.param("EventType") else {
        tracing::info!("conversations webhook without EventType ignored");
        return Ok(());
    };
    let Some(ch) = env.param("ConversationSid") else {
        return Err(ProcessError::Permanent("missing ConversationSid".into()));
    };
    let Some(conv) = app.store.twilio_conversation(ch).await? else {
        tracing::info!(
            event,
            "event for a conversation this backend does not own; ignored"
        );
        return Ok(());
    };
    let Some(mut head) = app.store.load_head(&conv).await? else {
        return Err(
            StoreError::Unavailable("conversation guard without conversation".into()).into(),
        );
    };
    let now = format_ts(app.clock.now());
    for attempt in 0..MAX_ATTEMPTS {
        let done = match event {
            "onMessageAdded" => message_added(app, env, &head).await?,
            "onParticipantAdded" => participant_added(app, env, &head, &now).await?,
            "onParticipantRemoved" => match env.param("Identity") {
                Some(identity) => match head.active_participant(identity).cloned() {
                    Some(p) => app.store.remove_participant(&head, &p, &now).await?,
                    None => true,
                },
                None => true,
            },
            "onConversationStateUpdated" | "onConversationUpdated" => {
                match env.param("StateTo").or_else(|| env.param("State")) {
                    Some("closed") if head.meta.status != ConversationStatus::Closed => {
                        app.store
                            .set_status(&head, ConversationStatus::Closed, &now)
                            .await?
                    }
                    Some("active") if head.meta.status == ConversationStatus::Closed => {
                        app.store
                            .set_status(&head, ConversationStatus::Active, &now)
                            .await?
                    }
                    _ => true,
                }
            }
            other => {
                tracing::info!(event = other, "conversations event ignored");
                true
            }
        };
        if done {
            return Ok(());
        }
        pause(attempt).await;
        head = app
            .store
            .load_head(&conv)
            .await?
            .ok_or_else(|| StoreError::Unavailable("conversation vanished".into()))?;
    }
    Err(StoreError::Unavailable("contention on conversation".into()).into())
}

/// Store a message an SDK client (or this backend) added: exactly once,
/// under our message id when the attributes carry it.
async fn message_added(
    app: &Core<impl ConversationStore + MessageStore + InboxStore + AccountStore + ContactStore>,
    env: &Envelope,
    head: &Head,
) -> Result<bool, ProcessError> {
    let sid = required(env, "MessageSid")?;
    let author = env.param("Author").unwrap_or("system");
    let attributes: Value = env
        .param("Attributes")
        .and_then(|a| serde_json::from_str(a).ok())
        .unwrap_or(Value::Null);
    let id = attributes["message_id"]
        .as_str()
        .filter(|id| id.starts_with("msg_") && id.len() <= 64)
        .map(str::to_string)
        .unwrap_or_else(|| format!("msg_{}", sid.to_ascii_lowercase()));
    let author_type = head
        .participant(author)
        .map_or(AuthorType::System, |p| p.user_type.into());
    let at = env
        .param("DateCreated")
        .and_then(parse_time)
        .or_else(|| parse_time(&env.received_at))
        .unwrap_or_else(|| app.clock.now());
    let body = env.param("Body").unwrap_or("");
    let msg = Message {
        id,
        conversation_id: head.meta.id.clone(),
        author_id: author.to_string(),
        author_type,
        body: body.to_string(),
        created_at: format_ts(at),
        twilio_sid: Some(sid.to_string()),
        twilio_index: env.param("Index").and_then(|i| i.parse().ok()),
        status: MessageStatus::Sent,
        details: None,
        error_code: None,
    };
    let fx = head.meta.message_effects(author_type, body, at);
    Ok(
        match app.store.store_message(head, &msg, &fx, None).await? {
            // A SID already stored (under our id or, from a Twilio double
            // reusing SIDs, another message) is this event's redelivery.
            StoreMessageOutcome::Stored
            | StoreMessageOutcome::Duplicate
            | StoreMessageOutcome::SidTaken { .. } => true,
            StoreMessageOutcome::Conflict => false,
        },
    )
}

async fn participant_added(
    app: &Core<impl ConversationStore + MessageStore + InboxStore + AccountStore + ContactStore>,
    env: &Envelope,
    head: &Head,
    now: &str,
) -> Result<bool, ProcessError> {
    let Some(identity) = env.param("Identity").filter(|i| !i.is_empty()) else {
        return Ok(true); // an SMS/WhatsApp binding: not a chat user of ours
    };
    if head.active_participant(identity).is_some() {
        return Ok(true);
    }
    let attributes: Value = env
        .param("Attributes")
        .and_then(|a| serde_json::from_str(a).ok())
        .unwrap_or(Value::Null);
    let user_type = match attributes["user_type"].as_str() {
        Some("provider") => ParticipantType::Provider,
        _ => ParticipantType::Customer,
    };
    let p = Participant {
        user_id: identity.into(),
        user_type,
        display_name: attributes["display_name"]
            .as_str()
            .unwrap_or(identity)
            .to_string(),
        identity: identity.into(),
        twilio_sid: env.param("ParticipantSid").map(str::to_string),
        is_active: true,
        joined_at: now.into(),
        left_at: None,
        unread_count: 0,
        last_read_at: None,
        last_read_message_id: None,
    };
    Ok(app.store.add_participant(head, &p, now).await?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::inbox_conversation_id;

    #[test]
    fn when_a_contact_sends_an_opt_keyword_it_should_be_recognised() {
        for w in [
            "STOP",
            " stop ",
            "StopAll",
            "unsubscribe",
            "CANCEL",
            "end",
            "QUIT\n",
        ] {
            assert_eq!(opt_keyword(w), Some(true), "{w}");
        }
        for w in ["START", "unstop"] {
            assert_eq!(opt_keyword(w), Some(false), "{w}");
        }
        for w in ["stop please", "", "STOPP", "start now"] {
            assert_eq!(opt_keyword(w), None, "{w}");
        }
    }

    #[test]
    fn when_inbox_ids_are_derived_they_should_depend_on_every_part() {
        let a = inbox_conversation_id("org", "twilio", "whatsapp", "whatsapp:+1555");
        assert_eq!(
            a,
            inbox_conversation_id("org", "twilio", "whatsapp", "whatsapp:+1555")
        );
        assert_ne!(
            a,
            inbox_conversation_id("org2", "twilio", "whatsapp", "whatsapp:+1555")
        );
        assert_ne!(
            a,
            inbox_conversation_id("org", "twilio", "sms", "whatsapp:+1555")
        );
    }
}
