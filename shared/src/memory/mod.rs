//! In-memory adapters for the rules' unit tests: a store for the booking
//! chat's aggregates (conversations, messages, read state, idempotency) and
//! a chat transport that records what it was asked to do. They keep the
//! DynamoDB adapter's contracts (optimistic `version` checks, the booking
//! and SID guards, unread counters moved in the same write as the message)
//! so a rule tested here behaves the same over DynamoDB, whose adapter has
//! its own tests against the emulator.

use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex;

mod chat;
mod inbox;
mod messaging;

pub use chat::{ChatCall, FakeChat};
pub use messaging::{FakeMessaging, Sent};

use crate::cursor::Key;
use crate::domain::effects::MessageEffects;
use crate::domain::{ConversationStatus, MessageStatus, Provider, StatsDelta};
use crate::model::{
    ChatAccount, ConversationMeta, Head, IdemBegin, IdemRecord, IdemState, InboxMeta, Message,
    Participant, ParticipantSummary, StoreMessageOutcome,
};
use crate::ports::{
    ConversationPage, ConversationStore, IdempotencyStore, MessageStore, ReadStateStore, StoreError,
};

#[derive(Default)]
struct Tables {
    heads: HashMap<String, Head>,
    /// (conversation, message sort key) → message.
    messages: BTreeMap<(String, String), Message>,
    bookings: HashMap<String, String>,
    twilio_conversations: HashMap<String, String>,
    /// Transport SID → the stored message's (conversation, sort key).
    sids: HashMap<String, (String, String)>,
    idempotency: HashMap<String, IdemRecord>,
    unread_totals: HashMap<String, i64>,
    /// SID → a status recorded before (or after) its message was stored.
    sid_status: HashMap<String, (MessageStatus, Option<String>)>,
    org_unread: HashMap<String, i64>,
    /// (org, provider) → (total, active, escalated).
    provider_counters: HashMap<(String, Provider), (i64, i64, i64)>,
    accounts: HashMap<(Provider, String), ChatAccount>,
    /// (received_at, sid, to), and what a registration replays:
    /// the provider awaited and the envelope.
    unroutable: Vec<(String, String, String)>,
    parked: HashMap<(String, String), (Option<Provider>, String, String)>,
    /// (org, provider, contact address) → conversation.
    contact_links: HashMap<(String, Provider, String), String>,
    org_settings: HashMap<String, crate::model::OrgSettings>,
    /// Claim key → when it was last claimed.
    claims: HashMap<String, String>,
}

/// An `App` over the in-memory store and transport `T`, with the settings
/// of a single-account install: what the rules' unit tests run on.
pub fn test_app<T>(transport: T) -> crate::app::App<MemoryStore, T> {
    let env = |name: &str| {
        match name {
            "AUTH_JWT_SECRET" => Some("unit-test-secret-0123456789abcdef"),
            "TABLE_NAME" => Some("unused"),
            "TWILIO_ACCOUNT_SID" => Some("ACunit"),
            "TWILIO_AUTH_TOKEN" => Some("unit"),
            "PUBLIC_BASE_URL" => Some("https://api.example.com"),
            _ => None,
        }
        .map(str::to_string)
    };
    let core = crate::app::Core::with_store(
        crate::config::CoreConfig::from_lookup(env).expect("test settings"),
        MemoryStore::default(),
    );
    let config = crate::config::Config::from_lookup(env).expect("test settings");
    crate::app::App {
        core,
        meta: crate::meta::MetaClient::new(config.meta.clone()),
        config,
        twilio: transport,
        outbox: crate::outbox::OutboxQueue::memory(),
    }
}

/// Register a Twilio WhatsApp number for `org`.
pub async fn register_whatsapp(store: &MemoryStore, address: &str, org: &str) {
    use crate::ports::AccountStore;
    store
        .put_chat_account(&ChatAccount {
            provider: Provider::Twilio,
            address: address.into(),
            org_id: org.into(),
            channel: crate::domain::Channel::Whatsapp,
            created_at: "2026-12-01T00:00:00.000Z".into(),
            created_by: "test".into(),
            access_token: None,
            twilio_account_sid: None,
        })
        .await
        .expect("in-memory put");
}

/// Booking-chat storage in memory.
#[derive(Default)]
pub struct MemoryStore {
    tables: Mutex<Tables>,
}

impl MemoryStore {
    fn with<R>(&self, f: impl FnOnce(&mut Tables) -> R) -> R {
        f(&mut self.tables.lock().unwrap_or_else(|e| e.into_inner()))
    }

    /// Every stored message of a conversation, oldest first.
    pub fn messages_of(&self, conv: &str) -> Vec<Message> {
        self.with(|t| {
            t.messages
                .iter()
                .filter(|((c, _), _)| c == conv)
                .map(|(_, m)| m.clone())
                .collect()
        })
    }
}

fn summary_of(p: &Participant) -> ParticipantSummary {
    ParticipantSummary {
        user_id: p.user_id.clone(),
        user_type: p.user_type,
        display_name: p.display_name.clone(),
        is_active: p.is_active,
    }
}

fn add_stats(
    counters: &mut HashMap<(String, Provider), (i64, i64, i64)>,
    key: (String, Provider),
    d: StatsDelta,
) {
    let c = counters.entry(key).or_default();
    *c = (c.0 + d.total, c.1 + d.active, c.2 + d.escalated);
}

fn activity(meta: &ConversationMeta) -> &str {
    meta.last_message_at.as_deref().unwrap_or(&meta.created_at)
}

impl ConversationStore for MemoryStore {
    async fn twilio_conversation(&self, sid: &str) -> Result<Option<String>, StoreError> {
        Ok(self.with(|t| t.twilio_conversations.get(sid).cloned()))
    }

    async fn set_status(
        &self,
        head: &Head,
        status: ConversationStatus,
        _now: &str,
    ) -> Result<bool, StoreError> {
        Ok(self.with(|t| match t.heads.get_mut(&head.meta.id) {
            Some(h) if h.meta.version == head.meta.version => {
                let from = h.meta.status;
                h.meta.status = status;
                h.meta.version += 1;
                if let Some(inbox) = &h.meta.inbox {
                    let key = (inbox.org_id.clone(), inbox.provider);
                    add_stats(
                        &mut t.provider_counters,
                        key,
                        StatsDelta::of_change(Some(from), status),
                    );
                }
                true
            }
            _ => false,
        }))
    }

    async fn booking_conversation_id(
        &self,
        booking_id: &str,
    ) -> Result<Option<String>, StoreError> {
        Ok(self.with(|t| t.bookings.get(booking_id).cloned()))
    }

    async fn create_conversation(
        &self,
        meta: &ConversationMeta,
        participants: &[Participant],
    ) -> Result<bool, StoreError> {
        let booking = meta
            .booking_id
            .clone()
            .ok_or_else(|| StoreError::Corrupt("booking conversation without booking".into()))?;
        Ok(self.with(|t| {
            if t.bookings.contains_key(&booking) || t.heads.contains_key(&meta.id) {
                return false;
            }
            t.bookings.insert(booking, meta.id.clone());
            if let Some(sid) = &meta.twilio_sid {
                t.twilio_conversations.insert(sid.clone(), meta.id.clone());
            }
            t.heads.insert(
                meta.id.clone(),
                Head {
                    meta: meta.clone(),
                    participants: participants.to_vec(),
                },
            );
            true
        }))
    }

    async fn load_head(&self, conv_id: &str) -> Result<Option<Head>, StoreError> {
        Ok(self.with(|t| t.heads.get(conv_id).cloned()))
    }

    async fn batch_get_meta(
        &self,
        ids: &[String],
    ) -> Result<HashMap<String, ConversationMeta>, StoreError> {
        Ok(self.with(|t| {
            ids.iter()
                .filter_map(|id| t.heads.get(id).map(|h| (id.clone(), h.meta.clone())))
                .collect()
        }))
    }

    async fn user_conversations(
        &self,
        user_id: &str,
        limit: i32,
        start: Option<Key>,
    ) -> Result<ConversationPage, StoreError> {
        let mut rows: Vec<(String, String, i64)> = self.with(|t| {
            t.heads
                .values()
                .filter_map(|h| {
                    let p = h
                        .participants
                        .iter()
                        .find(|p| p.user_id == user_id && p.is_active)?;
                    Some((
                        format!("{}#{}", activity(&h.meta), h.meta.id),
                        h.meta.id.clone(),
                        p.unread_count,
                    ))
                })
                .collect()
        });
        rows.sort_by(|a, b| b.0.cmp(&a.0));
        let after = start.and_then(|k| k.get("GSI1SK").cloned());
        let rows: Vec<_> = rows
            .into_iter()
            .filter(|(sk, _, _)| after.as_ref().is_none_or(|a| sk < a))
            .collect();
        let limit = usize::try_from(limit).unwrap_or(0);
        let next = (rows.len() > limit)
            .then(|| Key::from([("GSI1SK".to_string(), rows[limit - 1].0.clone())]));
        let page = rows
            .into_iter()
            .take(limit)
            .map(|(_, id, unread)| (id, unread))
            .collect();
        Ok((page, next))
    }

    async fn org_inbox(
        &self,
        _org_id: &str,
        _limit: i32,
        _start: Option<Key>,
    ) -> Result<ConversationPage, StoreError> {
        // This adapter holds booking chats only: no org has an inbox here.
        Ok((Vec::new(), None))
    }

    async fn add_participant(
        &self,
        head: &Head,
        p: &Participant,
        _now: &str,
    ) -> Result<bool, StoreError> {
        Ok(self.with(|t| match t.heads.get_mut(&head.meta.id) {
            Some(h) if h.meta.version == head.meta.version => {
                h.participants.retain(|x| x.user_id != p.user_id);
                h.participants.push(p.clone());
                h.meta.participants.retain(|x| x.user_id != p.user_id);
                h.meta.participants.push(summary_of(p));
                h.meta.participant_count += 1;
                h.meta.version += 1;
                true
            }
            _ => false,
        }))
    }

    async fn remove_participant(
        &self,
        head: &Head,
        p: &Participant,
        now: &str,
    ) -> Result<bool, StoreError> {
        Ok(self.with(|t| {
            let Some(h) = t.heads.get_mut(&head.meta.id) else {
                return false;
            };
            if h.meta.version != head.meta.version {
                return false;
            }
            let Some(stored) = h
                .participants
                .iter_mut()
                .find(|x| x.user_id == p.user_id && x.is_active)
            else {
                return false;
            };
            let unread = stored.unread_count;
            stored.is_active = false;
            stored.left_at = Some(now.to_string());
            stored.unread_count = 0;
            for s in h
                .meta
                .participants
                .iter_mut()
                .filter(|s| s.user_id == p.user_id)
            {
                s.is_active = false;
            }
            h.meta.participant_count -= 1;
            h.meta.version += 1;
            *t.unread_totals.entry(p.user_id.clone()).or_default() -= unread;
            true
        }))
    }
}

impl MessageStore for MemoryStore {
    async fn set_media_stored(
        &self,
        conv_id: &str,
        sk: &str,
        media: &serde_json::Value,
    ) -> Result<(), StoreError> {
        self.with(
            |t| match t.messages.get_mut(&(conv_id.to_string(), sk.to_string())) {
                Some(m) => {
                    m.details = crate::store::messages::with_media_stored(
                        m.details.take(),
                        Some(media.clone()),
                    );
                    Ok(())
                }
                None => Err(StoreError::Corrupt(format!("no message {sk}"))),
            },
        )
    }

    async fn query_messages(
        &self,
        conv_id: &str,
        ascending: bool,
        limit: i32,
        start: Option<Key>,
    ) -> Result<(Vec<Message>, Option<Key>), StoreError> {
        let mut all = self.messages_of(conv_id);
        if !ascending {
            all.reverse();
        }
        let after = start.and_then(|k| k.get("SK").cloned());
        let all: Vec<Message> = all
            .into_iter()
            .filter(|m| match &after {
                None => true,
                Some(a) if ascending => m.sort_key() > *a,
                Some(a) => m.sort_key() < *a,
            })
            .collect();
        let limit = usize::try_from(limit).unwrap_or(0);
        let next =
            (all.len() > limit).then(|| Key::from([("SK".to_string(), all[limit - 1].sort_key())]));
        Ok((all.into_iter().take(limit).collect(), next))
    }

    async fn get_message(&self, conv_id: &str, sk: &str) -> Result<Option<Message>, StoreError> {
        Ok(self.with(|t| {
            t.messages
                .get(&(conv_id.to_string(), sk.to_string()))
                .cloned()
        }))
    }

    async fn store_message(
        &self,
        head: &Head,
        msg: &Message,
        fx: &MessageEffects,
        idem: Option<&IdemRecord>,
    ) -> Result<StoreMessageOutcome, StoreError> {
        Ok(self.with(|t| {
            if let Some(sid) = &msg.twilio_sid {
                if let Some((conversation_id, message_sk)) = t.sids.get(sid) {
                    if *conversation_id == msg.conversation_id && *message_sk == msg.sort_key() {
                        return StoreMessageOutcome::Duplicate;
                    }
                    return StoreMessageOutcome::SidTaken {
                        conversation_id: conversation_id.clone(),
                        message_sk: message_sk.clone(),
                    };
                }
                // A status callback got there first with a newer status.
                if t.sid_status
                    .get(sid)
                    .is_some_and(|(recorded, _)| recorded.rank() > msg.status.rank())
                {
                    return StoreMessageOutcome::Conflict;
                }
            }
            let Some(h) = t.heads.get_mut(&head.meta.id) else {
                return StoreMessageOutcome::Conflict;
            };
            if h.meta.version != head.meta.version {
                return StoreMessageOutcome::Conflict;
            }
            let m = &mut h.meta;
            let newest = m.is_newest(msg);
            m.version += 1;
            m.message_count += 1;
            if m.first_message_at
                .as_deref()
                .is_none_or(|f| f > msg.created_at.as_str())
            {
                m.first_message_at = Some(msg.created_at.clone());
            }
            m.pending_side = Some(fx.pending_side.clone());
            m.pending_since = Some(fx.pending_since.clone());
            if newest {
                m.last_message_at = Some(msg.created_at.clone());
                m.last_message_id = Some(msg.id.clone());
                m.last_message_preview = Some(fx.preview.clone());
                m.last_message_author = Some(msg.author_id.clone());
            }
            if let Some(i) = msg.twilio_index {
                m.last_message_index = Some(m.last_message_index.map_or(i, |cur| cur.max(i)));
            }
            if let Some(ms) = fx.response_ms {
                m.response_count += 1;
                m.response_total_ms += ms;
                m.first_response_ms.get_or_insert(ms);
            }
            for p in h.participants.iter_mut().filter(|p| p.is_active) {
                if p.user_id == msg.author_id {
                    if newest {
                        p.last_read_at = Some(msg.created_at.clone());
                        p.last_read_message_id = Some(msg.id.clone());
                    }
                } else {
                    p.unread_count += 1;
                    *t.unread_totals.entry(p.user_id.clone()).or_default() += 1;
                }
            }
            let key = (msg.conversation_id.clone(), msg.sort_key());
            if let Some(sid) = &msg.twilio_sid {
                t.sids.insert(sid.clone(), key.clone());
            }
            if let Some(idem) = idem
                && let Some(rec) = t.idempotency.get_mut(&idem.pk)
            {
                rec.state = IdemState::Sent;
                rec.message_sk = Some(msg.sort_key());
            }
            t.messages.insert(key, msg.clone());
            StoreMessageOutcome::Stored
        }))
    }

    async fn recorded_status(
        &self,
        sid: &str,
    ) -> Result<Option<(MessageStatus, Option<String>)>, StoreError> {
        Ok(self.with(|t| t.sid_status.get(sid).cloned()))
    }
}

impl ReadStateStore for MemoryStore {
    async fn mark_read(
        &self,
        conv_id: &str,
        p: &Participant,
        read_at: &str,
        last_message_id: Option<&str>,
    ) -> Result<bool, StoreError> {
        Ok(self.with(|t| {
            let Some(stored) = t.heads.get_mut(conv_id).and_then(|h| {
                h.participants
                    .iter_mut()
                    .find(|x| x.user_id == p.user_id && x.is_active)
            }) else {
                return false;
            };
            if stored.unread_count != p.unread_count {
                return false;
            }
            stored.unread_count = 0;
            stored.last_read_at = Some(read_at.to_string());
            if let Some(mid) = last_message_id {
                stored.last_read_message_id = Some(mid.to_string());
            }
            *t.unread_totals.entry(p.user_id.clone()).or_default() -= p.unread_count;
            true
        }))
    }

    async fn unread_total(&self, user_id: &str) -> Result<i64, StoreError> {
        Ok(self.with(|t| t.unread_totals.get(user_id).copied().unwrap_or(0)))
    }

    async fn mark_inbox_read(
        &self,
        meta: &ConversationMeta,
        inbox: &InboxMeta,
        _by: &str,
        now: &str,
    ) -> Result<bool, StoreError> {
        Ok(self.with(|t| {
            let Some(stored) = t
                .heads
                .get_mut(&meta.id)
                .and_then(|h| h.meta.inbox.as_mut())
            else {
                return false;
            };
            if stored.unread_count != inbox.unread_count {
                return false;
            }
            stored.unread_count = 0;
            stored.last_read_at = Some(now.to_string());
            *t.org_unread.entry(inbox.org_id.clone()).or_default() -= inbox.unread_count;
            true
        }))
    }

    async fn org_unread_total(&self, org: &str) -> Result<i64, StoreError> {
        Ok(self.with(|t| t.org_unread.get(org).copied().unwrap_or(0)))
    }
}

impl IdempotencyStore for MemoryStore {
    async fn begin_idempotent(
        &self,
        record: &IdemRecord,
        now_epoch: i64,
    ) -> Result<IdemBegin, StoreError> {
        Ok(self.with(|t| match t.idempotency.get(&record.pk) {
            Some(prev) => IdemBegin::Existing(prev.clone()),
            None => {
                let mut claimed = record.clone();
                claimed.claimed_at = now_epoch;
                t.idempotency.insert(record.pk.clone(), claimed);
                IdemBegin::Fresh
            }
        }))
    }

    async fn abandon_idempotent(&self, record: &IdemRecord) -> Result<(), StoreError> {
        self.with(|t| {
            if t.idempotency
                .get(&record.pk)
                .is_some_and(|r| r.state == IdemState::Pending)
            {
                t.idempotency.remove(&record.pk);
            }
        });
        Ok(())
    }

    async fn mark_idempotent_sent(
        &self,
        record: &IdemRecord,
        message_sk: &str,
    ) -> Result<(), StoreError> {
        self.with(|t| {
            if let Some(r) = t.idempotency.get_mut(&record.pk) {
                r.state = IdemState::Sent;
                r.message_sk = Some(message_sk.to_string());
            }
        });
        Ok(())
    }

    async fn mark_idempotent_unknown(&self, record: &IdemRecord) -> Result<(), StoreError> {
        self.with(|t| {
            if let Some(r) = t.idempotency.get_mut(&record.pk)
                && r.state == IdemState::Pending
            {
                r.state = IdemState::Unknown;
            }
        });
        Ok(())
    }
}
