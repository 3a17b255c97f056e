//! The inbox and chat accounts in memory: inbound messages with their SID
//! guard, contacts' opt-out, delivery statuses that only move forward, the
//! org's unread counter and per-provider counters.

use super::{MemoryStore, add_stats};
use crate::domain::{MessageStatus, Provider, StatsDelta};
use crate::model::{
    ChatAccount, ConversationMeta, Head, InboundOutcome, InboundWrite, InboxImport, InboxMeta,
    ProviderStats, PutAccount, StatusOutcome,
};
use crate::ports::{AccountStore, InboxStore, StoreError};

impl InboxStore for MemoryStore {
    async fn provider_stats(
        &self,
        org: &str,
        since: &str,
    ) -> Result<Vec<ProviderStats>, StoreError> {
        Ok(self.with(|t| {
            Provider::ALL
                .into_iter()
                .map(|provider| {
                    let (total, active, escalated) = t
                        .provider_counters
                        .get(&(org.to_string(), provider))
                        .copied()
                        .unwrap_or_default();
                    let within_24h = t
                        .heads
                        .values()
                        .filter_map(|h| h.meta.inbox.as_ref())
                        .filter(|i| i.org_id == org && i.provider == provider)
                        .filter(|i| i.last_user_message_at.as_deref().is_some_and(|w| w > since))
                        .count() as i64;
                    ProviderStats {
                        provider,
                        total,
                        active,
                        escalated,
                        within_24h,
                    }
                })
                .collect()
        }))
    }

    async fn import_conversation(&self, c: &InboxImport<'_>) -> Result<(String, bool), StoreError> {
        let identity = c
            .kommo_chat_id
            .or(c.contact_address)
            .filter(|i| !i.is_empty())
            .ok_or_else(|| StoreError::Corrupt("an import needs its contact key".into()))?;
        let id = crate::domain::inbox_conversation_id(
            c.org_id,
            c.provider.as_str(),
            c.channel,
            identity,
        );
        Ok(self.with(|t| {
            if t.heads.contains_key(&id) {
                return (id, false);
            }
            let meta = c.conversation(&id);
            t.heads.insert(
                id.clone(),
                Head {
                    meta,
                    participants: Vec::new(),
                },
            );
            add_stats(
                &mut t.provider_counters,
                (c.org_id.into(), c.provider),
                StatsDelta::of_change(None, c.status),
            );
            (id, true)
        }))
    }

    async fn conversation_meta(
        &self,
        conv_id: &str,
    ) -> Result<Option<ConversationMeta>, StoreError> {
        Ok(self.with(|t| t.heads.get(conv_id).map(|h| h.meta.clone())))
    }

    async fn store_inbound(&self, w: &InboundWrite<'_>) -> Result<InboundOutcome, StoreError> {
        let msg = w.message;
        let sid = msg
            .twilio_sid
            .clone()
            .ok_or_else(|| StoreError::Corrupt("inbound message without SID".into()))?;
        Ok(self.with(|t| {
            if t.sids.contains_key(&sid) {
                return InboundOutcome::Duplicate;
            }
            let owner = t
                .accounts
                .get(&(w.provider, w.business_address.to_string()))
                .map(|a| a.org_id.as_str());
            let still_routed = if w.routed_by_account {
                owner == Some(w.org_id)
            } else {
                owner.is_none()
            };
            if !still_routed {
                return InboundOutcome::Rerouted;
            }
            let conv = msg.conversation_id.clone();
            match (w.existing, t.heads.get(&conv)) {
                (None, Some(_)) => return InboundOutcome::Conflict,
                (Some(read), Some(now)) if read.version != now.meta.version => {
                    return InboundOutcome::Conflict;
                }
                (Some(_), None) => return InboundOutcome::Conflict,
                _ => {}
            }
            let head = t.heads.entry(conv.clone()).or_insert_with(|| Head {
                meta: ConversationMeta {
                    id: conv.clone(),
                    kind: w.channel.as_str().into(),
                    created_at: msg.created_at.clone(),
                    created_by: msg.author_id.clone(),
                    participant_count: 1,
                    inbox: Some(InboxMeta {
                        org_id: w.org_id.into(),
                        provider: w.provider,
                        channel: w.channel.as_str().into(),
                        contact_address: w.contact_address.into(),
                        business_address: w.business_address.into(),
                        ..Default::default()
                    }),
                    ..Default::default()
                },
                participants: Vec::new(),
            });
            let m = &mut head.meta;
            let newest = m.is_newest(msg);
            m.version += 1;
            m.message_count += 1;
            m.status = w.status;
            m.first_message_at
                .get_or_insert_with(|| msg.created_at.clone());
            m.pending_side = Some(w.effects.pending_side.clone());
            m.pending_since = Some(w.effects.pending_since.clone());
            if newest {
                m.last_message_at = Some(msg.created_at.clone());
                m.last_message_id = Some(msg.id.clone());
                m.last_message_preview = Some(w.effects.preview.clone());
                m.last_message_author = Some(msg.author_id.clone());
            }
            if let Some(inbox) = m.inbox.as_mut() {
                inbox.unread_count += 1;
                // The window follows the contact's newest message.
                if inbox
                    .last_user_message_at
                    .as_deref()
                    .is_none_or(|t| msg.created_at.as_str() > t)
                {
                    inbox.last_user_message_at = Some(msg.created_at.clone());
                }
                if let Some(name) = w.contact_name {
                    inbox.contact_name = Some(name.into());
                }
                if let Some(opted_out) = w.opt_out {
                    inbox.opted_out = opted_out;
                }
            }
            *t.org_unread.entry(w.org_id.into()).or_default() += 1;
            add_stats(
                &mut t.provider_counters,
                (w.org_id.into(), w.provider),
                w.stats,
            );
            let key = (conv, msg.sort_key());
            t.sids.insert(sid, key.clone());
            t.messages.insert(key, msg.clone());
            InboundOutcome::Stored
        }))
    }

    async fn set_opted_out(
        &self,
        meta: &ConversationMeta,
        _inbox: &InboxMeta,
        opted_out: bool,
    ) -> Result<(), StoreError> {
        self.with(|t| {
            if let Some(inbox) = t
                .heads
                .get_mut(&meta.id)
                .and_then(|h| h.meta.inbox.as_mut())
            {
                inbox.opted_out = opted_out;
            }
        });
        Ok(())
    }

    async fn apply_status(
        &self,
        sid: &str,
        status: MessageStatus,
        error_code: Option<&str>,
        _at: &str,
    ) -> Result<StatusOutcome, StoreError> {
        Ok(self.with(|t| {
            if t.sid_status
                .get(sid)
                .is_some_and(|(recorded, _)| recorded.rank() >= status.replaces_below())
            {
                if let Some(code) = error_code.filter(|_| status.is_failure()) {
                    if let Some((_, recorded_code)) = t.sid_status.get_mut(sid) {
                        *recorded_code = Some(code.into());
                    }
                    if let Some(m) = t.sids.get(sid).and_then(|k| t.messages.get_mut(k)) {
                        m.error_code = Some(code.into());
                    }
                    return StatusOutcome::ErrorRecorded;
                }
                return StatusOutcome::Stale;
            }
            t.sid_status
                .insert(sid.into(), (status, error_code.map(str::to_string)));
            let Some(key) = t.sids.get(sid).cloned() else {
                return StatusOutcome::Pending;
            };
            match t.messages.get_mut(&key) {
                Some(m) if m.status.rank() < status.replaces_below() => {
                    m.status = status;
                    if let Some(code) = error_code {
                        m.error_code = Some(code.into());
                    }
                    StatusOutcome::Applied
                }
                _ => StatusOutcome::Stale,
            }
        }))
    }
}

impl AccountStore for MemoryStore {
    async fn chat_account(
        &self,
        provider: Provider,
        address: &str,
    ) -> Result<Option<ChatAccount>, StoreError> {
        Ok(self.with(|t| t.accounts.get(&(provider, address.into())).cloned()))
    }

    async fn org_settings(&self, org: &str) -> Result<crate::model::OrgSettings, StoreError> {
        Ok(self.with(|t| t.org_settings.get(org).copied().unwrap_or_default()))
    }

    async fn put_org_settings(
        &self,
        org: &str,
        settings: &crate::model::OrgSettings,
        _at: &str,
    ) -> Result<(), StoreError> {
        self.with(|t| t.org_settings.insert(org.to_string(), *settings));
        Ok(())
    }

    async fn claim(
        &self,
        key: &str,
        now: &str,
        not_before: &str,
        _expires_at: i64,
    ) -> Result<bool, StoreError> {
        Ok(self.with(|t| match t.claims.get(key) {
            Some(at) if at.as_str() >= not_before => false,
            _ => {
                t.claims.insert(key.to_string(), now.to_string());
                true
            }
        }))
    }

    async fn put_chat_account(&self, acc: &ChatAccount) -> Result<PutAccount, StoreError> {
        Ok(self.with(|t| {
            let key = (acc.provider, acc.address.clone());
            match t.accounts.get(&key) {
                None => {
                    t.accounts.insert(key, acc.clone());
                    PutAccount::Created
                }
                Some(existing) if existing.org_id == acc.org_id => {
                    let now = crate::store::accounts::updated(existing.clone(), acc);
                    t.accounts.insert(key, now.clone());
                    PutAccount::Unchanged(now)
                }
                Some(_) => PutAccount::OwnedByOther,
            }
        }))
    }

    async fn delete_chat_account(
        &self,
        provider: Provider,
        address: &str,
        org: &str,
    ) -> Result<bool, StoreError> {
        Ok(self.with(|t| {
            let key = (provider, address.to_string());
            if t.accounts.get(&key).is_some_and(|a| a.org_id == org) {
                t.accounts.remove(&key);
                true
            } else {
                false
            }
        }))
    }

    async fn org_chat_accounts(&self, org: &str) -> Result<Vec<ChatAccount>, StoreError> {
        Ok(self.with(|t| {
            let mut list: Vec<_> = t
                .accounts
                .values()
                .filter(|a| a.org_id == org)
                .cloned()
                .collect();
            list.sort_by(|a, b| a.address.cmp(&b.address));
            list
        }))
    }

    async fn park_unroutable(
        &self,
        received_at: &str,
        sid: &str,
        to: &str,
        envelope_json: &str,
        awaiting: Option<Provider>,
    ) -> Result<(), StoreError> {
        self.with(|t| {
            let row = (received_at.to_string(), sid.to_string(), to.to_string());
            if !t.unroutable.contains(&row) {
                t.unroutable.push(row);
            }
            t.parked.insert(
                (received_at.to_string(), sid.to_string()),
                (awaiting, to.to_string(), envelope_json.to_string()),
            );
        });
        Ok(())
    }

    async fn parked_for(
        &self,
        provider: Provider,
        address: &str,
        limit: i32,
    ) -> Result<Vec<crate::model::ParkedMessage>, StoreError> {
        Ok(self.with(|t| {
            let mut list: Vec<_> = t
                .parked
                .iter()
                .filter(|(_, (p, to, _))| *p == Some(provider) && to == address)
                .map(
                    |((received_at, sid), (_, _, envelope))| crate::model::ParkedMessage {
                        received_at: received_at.clone(),
                        sid: sid.clone(),
                        envelope: envelope.clone(),
                    },
                )
                .collect();
            list.sort_by(|a, b| (&a.received_at, &a.sid).cmp(&(&b.received_at, &b.sid)));
            list.truncate(usize::try_from(limit).unwrap_or(0));
            list
        }))
    }

    async fn unpark(&self, received_at: &str, sid: &str) -> Result<(), StoreError> {
        self.with(|t| {
            t.unroutable
                .retain(|(r, s, _)| !(r == received_at && s == sid));
            t.parked.remove(&(received_at.to_string(), sid.to_string()));
        });
        Ok(())
    }

    async fn list_unroutable(
        &self,
        limit: i32,
    ) -> Result<Vec<(String, String, String)>, StoreError> {
        Ok(self.with(|t| {
            let mut rows = t.unroutable.clone();
            rows.sort_by(|a, b| b.cmp(a));
            rows.truncate(usize::try_from(limit).unwrap_or(0));
            rows
        }))
    }
}

impl crate::ports::ContactStore for MemoryStore {
    async fn contact_links(
        &self,
        org: &str,
        provider: Provider,
        addresses: &[String],
    ) -> Result<Vec<(String, String)>, StoreError> {
        Ok(self.with(|t| {
            addresses
                .iter()
                .filter_map(|a| {
                    t.contact_links
                        .get(&(org.to_string(), provider, a.clone()))
                        .map(|c| (a.clone(), c.clone()))
                })
                .collect()
        }))
    }

    async fn link_contact(
        &self,
        org: &str,
        provider: Provider,
        address: &str,
        conversation_id: &str,
    ) -> Result<String, StoreError> {
        Ok(self.with(|t| {
            t.contact_links
                .entry((org.to_string(), provider, address.to_string()))
                .or_insert_with(|| conversation_id.to_string())
                .clone()
        }))
    }
}
