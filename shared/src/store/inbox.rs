//! The WhatsApp/SMS inbox in the table: contacts, inbox conversations and their messages,
//! delivery statuses, and inbound messages nobody could route.
//!
//! | item                  | PK                              | SK           | GSI1PK / GSI1SK |
//! |-----------------------|---------------------------------|--------------|-----------------|
//! | contact               | `CONTACT#<org>#<address>`       | `#CONTACT`   |                 |
//! | inbox conversation    | `CONV#<id>`                     | `#META`      | `ORG#<org>#INBOX` / `<activity>#<id>` |
//! | org counters          | `ORG#<org>`                     | `#COUNTERS`  |                 |
//! | provider counters     | `ORG#<org>`                     | `#STATS#<provider>` |          |
//!
//! Inbox conversations also carry `GSI2PK = ORG#<org>#PROV#<provider>`,
//! `GSI2SK = <last_user_message_at>`, so "contacts who wrote in the last 24 h"
//! is one COUNT query per provider.
//! | message status        | `SID#<sid>` (the SID guard)     | `#SID`       |                 |

use crate::dynamo::{TxKind, TxWrite};
use crate::ports::InboxStore;
use aws_sdk_dynamodb::types::ReturnValue;

use super::accounts::account_key;
use super::conversations::*;
use super::head::ConvRow;
use super::item::*;
use super::messages::*;
use super::*;
use crate::domain::{MessageStatus, Provider, StatsDelta};

fn stats_key(org: &str, provider: Provider) -> Item {
    key(format!("ORG#{org}"), format!("#STATS#{provider}"))
}

pub fn provider_gsi_pk(org: &str, provider: Provider) -> String {
    format!("ORG#{org}#PROV#{provider}")
}

pub(super) fn org_counters(org: &str) -> Item {
    key(format!("ORG#{org}"), "#COUNTERS")
}

impl Store {
    /// Apply the status recorded on a SID item to its stored message when
    /// the message is behind it. `Ok(true)` when the message moved.
    async fn reapply_recorded(&self, item: &Item) -> Result<bool, StoreError> {
        let (Some(conv), Some(sk), Some(status), Some(rank)) = (
            get_s(item, "conversation_id"),
            get_s(item, "message_sk"),
            get_s(item, "msg_status"),
            get_n(item, "status_rank"),
        ) else {
            return Ok(false);
        };
        let mut expr = String::from("SET #st = :s, status_rank = :r");
        let mut req = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(key(conv_pk(&conv), sk)))
            .condition_expression(
                "attribute_exists(PK) AND (attribute_not_exists(status_rank) OR status_rank < :r)",
            )
            .expression_attribute_names("#st", "status")
            .expression_attribute_values(":s", s(status))
            .expression_attribute_values(":r", n(rank));
        if let Some(code) = get_s(item, "error_code") {
            expr.push_str(", error_code = :e");
            req = req.expression_attribute_values(":e", s(code));
        }
        match req.update_expression(expr).send().await {
            Ok(_) => Ok(true),
            Err(e) if is_condition_failure(&e) => Ok(false),
            Err(e) => Err(sdk_err(e)),
        }
    }

    /// A failure after a confirmed delivery: keep its error code on the SID
    /// item and on the stored message, leave the status.
    async fn record_late_error(&self, sid: &str, code: &str) -> Result<StatusOutcome, StoreError> {
        let out = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(key(format!("SID#{sid}"), "#SID")))
            .update_expression("SET error_code = :e")
            .expression_attribute_values(":e", s(code))
            .return_values(ReturnValue::AllNew)
            .send()
            .await
            .map_err(sdk_err)?;
        let item = out.attributes.unwrap_or_default();
        if let (Some(conv), Some(sk)) =
            (get_s(&item, "conversation_id"), get_s(&item, "message_sk"))
        {
            self.client
                .update_item()
                .table_name(&self.table)
                .set_key(Some(key(conv_pk(&conv), sk)))
                .update_expression("SET error_code = :e")
                .condition_expression("attribute_exists(PK)")
                .expression_attribute_values(":e", s(code))
                .send()
                .await
                .map_err(sdk_err)?;
        }
        Ok(StatusOutcome::ErrorRecorded)
    }

    /// The counter update the rules decided (`None` when nothing moves).
    pub(super) fn stats_delta(
        &self,
        org: &str,
        provider: Provider,
        delta: StatsDelta,
    ) -> Option<TxWrite<'_>> {
        if delta.is_zero() {
            return None;
        }
        // `total` is a DynamoDB reserved word.
        Some(self.update(
            stats_key(org, provider),
            "ADD #total :n, active :a, escalated :e",
            None,
            vec![
                (":n", n(delta.total)),
                (":a", n(delta.active)),
                (":e", n(delta.escalated)),
            ],
            &[("#total", "total")],
        ))
    }
}

impl InboxStore for Store {
    async fn provider_stats(
        &self,
        org: &str,
        since: &str,
    ) -> Result<Vec<ProviderStats>, StoreError> {
        let mut out = Vec::new();
        for provider in Provider::ALL {
            let counters = self.get(stats_key(org, provider)).await?;
            let get = |k: &str| counters.as_ref().and_then(|c| get_n(c, k)).unwrap_or(0);
            let mut within = 0i64;
            let mut start = None;
            loop {
                let page = self
                    .client
                    .query()
                    .table_name(&self.table)
                    .index_name("GSI2")
                    .key_condition_expression("GSI2PK = :p AND GSI2SK > :since")
                    .expression_attribute_values(":p", s(provider_gsi_pk(org, provider)))
                    .expression_attribute_values(":since", s(since))
                    .select(aws_sdk_dynamodb::types::Select::Count)
                    .set_exclusive_start_key(start)
                    .send()
                    .await
                    .map_err(sdk_err)?;
                within += i64::from(page.count);
                match page.last_evaluated_key {
                    Some(k) if !k.is_empty() => start = Some(k),
                    _ => break,
                }
            }
            out.push(ProviderStats {
                provider,
                total: get("total"),
                active: get("active"),
                escalated: get("escalated"),
                within_24h: within,
            });
        }
        Ok(out)
    }

    async fn import_conversation(&self, c: &InboxImport<'_>) -> Result<(String, bool), StoreError> {
        let identity = match (c.provider, c.kommo_chat_id, c.contact_address) {
            (Provider::Kommo, Some(chat), _) if !chat.is_empty() => chat,
            (Provider::Kommo, _, _) => {
                return Err(StoreError::Corrupt(
                    "kommo conversations must carry a kommo_chat_id".into(),
                ));
            }
            (_, _, Some(address)) if !address.is_empty() => address,
            _ => {
                return Err(StoreError::Corrupt(
                    "twilio and meta conversations are keyed by the contact address".into(),
                ));
            }
        };
        let id = crate::domain::inbox_conversation_id(
            c.org_id,
            c.provider.as_str(),
            c.channel,
            identity,
        );
        let meta = c.conversation(&id);
        let mut m = meta_item(&meta);
        if let Some(chat) = c.kommo_chat_id {
            m.insert("kommo_chat_id".into(), s(chat));
        }
        let mut items = vec![self.put(m, Some("attribute_not_exists(PK)"), Vec::new())];
        items.extend(self.stats_delta(c.org_id, c.provider, StatsDelta::of_change(None, c.status)));
        let created = matches!(self.transact(items).await?, TxOutcome::Done);
        Ok((id, created))
    }

    async fn conversation_meta(
        &self,
        conv_id: &str,
    ) -> Result<Option<ConversationMeta>, StoreError> {
        self.get_record::<ConvRow>(key(conv_pk(conv_id), META_SK))
            .await?
            .map(ConvRow::into_meta)
            .transpose()
    }

    async fn store_inbound(&self, w: &InboundWrite<'_>) -> Result<InboundOutcome, StoreError> {
        let msg = w.message;
        let conv = &msg.conversation_id;
        let gsk = activity_sk(&msg.created_at, conv);
        let mut items = vec![self.put(
            message_item(msg),
            Some("attribute_not_exists(PK)"),
            Vec::new(),
        )];
        let sid = msg
            .twilio_sid
            .as_deref()
            .ok_or_else(|| StoreError::Corrupt("inbound message without SID".into()))?;
        let sid_idx = items.len();
        items.push(self.claim_sid(sid, msg));
        let meta_idx = items.len();
        match w.existing {
            None => {
                let meta = ConversationMeta {
                    id: conv.clone(),
                    kind: w.channel.as_str().into(),
                    status: w.status,
                    created_at: msg.created_at.clone(),
                    created_by: msg.author_id.clone(),
                    version: 1,
                    message_count: 1,
                    participant_count: 1,
                    first_message_at: Some(msg.created_at.clone()),
                    last_message_at: Some(msg.created_at.clone()),
                    last_message_id: Some(msg.id.clone()),
                    last_message_preview: Some(w.effects.preview.clone()),
                    last_message_author: Some(msg.author_id.clone()),
                    pending_side: Some(w.effects.pending_side.clone()),
                    pending_since: Some(w.effects.pending_since.clone()),
                    inbox: Some(InboxMeta {
                        org_id: w.org_id.into(),
                        provider: w.provider,
                        channel: w.channel.as_str().into(),
                        contact_address: w.contact_address.into(),
                        contact_name: w.contact_name.map(str::to_string),
                        business_address: w.business_address.into(),
                        last_user_message_at: Some(msg.created_at.clone()),
                        unread_count: 1,
                        last_read_at: None,
                        opted_out: w.opt_out == Some(true),
                    }),
                    ..Default::default()
                };
                let m = meta_item(&meta);
                items.push(self.put(m, Some("attribute_not_exists(PK)"), Vec::new()));
            }
            Some(meta) => {
                let newest = meta.is_newest(msg);
                let mut set = String::from(
                    "SET version = version + :one, message_count = message_count + :one, \
                     pending_side = :ps, pending_since = :pss, #status = :status",
                );
                let mut values = vec![
                    (":one", n(1)),
                    (":v", n(meta.version)),
                    (":ps", s(&w.effects.pending_side)),
                    (":pss", s(&w.effects.pending_since)),
                    (":status", s(w.status.as_str())),
                ];
                if newest {
                    set.push_str(
                        ", last_message_at = :now, last_message_id = :mid, \
                         last_message_preview = :pv, last_message_author = :au, \
                         GSI1SK = :g",
                    );
                    values.extend([
                        (":now", s(&msg.created_at)),
                        (":mid", s(&msg.id)),
                        (":pv", s(&w.effects.preview)),
                        (":au", s(&msg.author_id)),
                        (":g", s(&gsk)),
                    ]);
                }
                // The 24-hour window follows the contact's newest message,
                // even when an agent's message is newer still (a delayed
                // webhook after a template): never only the newest overall.
                let contact_newest = meta
                    .inbox
                    .as_ref()
                    .and_then(|i| i.last_user_message_at.as_deref())
                    .is_none_or(|t| msg.created_at.as_str() > t);
                if contact_newest {
                    set.push_str(", last_user_message_at = :um, GSI2PK = :gp, GSI2SK = :um");
                    values.extend([
                        (":um", s(&msg.created_at)),
                        // An imported conversation may have no GSI2PK yet:
                        // without it the 24-hour count would miss it.
                        (":gp", s(provider_gsi_pk(w.org_id, w.provider))),
                    ]);
                }
                // Imported conversations have no business number until
                // the contact writes to one: replies go out from it.
                if meta
                    .inbox
                    .as_ref()
                    .is_some_and(|i| i.business_address.is_empty())
                {
                    set.push_str(", business_address = :ba");
                    values.push((":ba", s(w.business_address)));
                }
                if let Some(name) = w.contact_name {
                    set.push_str(", contact_name = :cn");
                    values.push((":cn", s(name)));
                }
                if let Some(opt) = w.opt_out {
                    set.push_str(", opted_out = :oo");
                    values.push((":oo", b(opt)));
                }
                if let Some(ms) = w.effects.response_ms {
                    set.push_str(
                        ", response_count = response_count + :one, \
                         response_total_ms = response_total_ms + :rt, \
                         first_response_ms = if_not_exists(first_response_ms, :rt)",
                    );
                    values.push((":rt", n(ms)));
                }
                set.push_str(" ADD unread_count :one");
                items.push(self.update(
                    tx_key(conv_pk(conv), META_SK),
                    set,
                    Some("version = :v"),
                    values,
                    &[("#status", "status")],
                ));
            }
        }
        let mut contact_set = String::from(
            "SET address = :a, channel = :ch, org_id = :o, conversation_id = :c, \
             last_inbound_at = :t, created_at = if_not_exists(created_at, :t)",
        );
        let mut contact_values = vec![
            (":a", s(w.contact_address)),
            (":ch", s(w.channel.as_str())),
            (":o", s(w.org_id)),
            (":c", s(conv)),
            (":t", s(&msg.created_at)),
        ];
        if let Some(name) = w.contact_name {
            contact_set.push_str(", profile_name = :pn");
            contact_values.push((":pn", s(name)));
        }
        if let Some(opt) = w.opt_out {
            contact_set.push_str(", opted_out = :oo, opted_out_changed_at = :t");
            contact_values.push((":oo", b(opt)));
        }
        items.push(self.update(
            tx_key(
                format!("CONTACT#{}#{}", w.org_id, w.contact_address),
                "#CONTACT",
            ),
            &contact_set,
            None,
            contact_values,
            &[],
        ));
        items.extend(self.add_unread(org_counters(w.org_id), 1));
        items.extend(self.stats_delta(w.org_id, w.provider, w.stats));
        // The routing still holds: the number's account names this org (or,
        // for DEFAULT_ORG_ID, no account claimed the number meanwhile).
        let route_idx = items.len();
        let mut check = TxWrite::new(
            TxKind::ConditionCheck,
            &self.table,
            account_key(w.provider, w.business_address).into_attrs(),
        );
        if w.routed_by_account {
            check.condition = Some("org_id = :org".into());
            check.values = vec![(":org".into(), s(w.org_id))];
        } else {
            check.condition = Some("attribute_not_exists(PK)".into());
        }
        items.push(check);
        match self.transact(items).await? {
            TxOutcome::Done => Ok(InboundOutcome::Stored),
            TxOutcome::Contended => Ok(InboundOutcome::Conflict),
            TxOutcome::ConditionFailed(failed) => {
                if let Some((_, old)) = failed.iter().find(|(i, _)| *i == sid_idx) {
                    if old.as_ref().is_some_and(|o| o.contains_key("message_sk")) {
                        return Ok(InboundOutcome::Duplicate);
                    }
                    return Ok(InboundOutcome::Conflict);
                }
                if failed.iter().any(|(i, _)| *i == meta_idx) {
                    return Ok(InboundOutcome::Conflict);
                }
                if failed.iter().any(|(i, _)| *i == route_idx) {
                    return Ok(InboundOutcome::Rerouted);
                }
                Err(StoreError::Sdk(format!(
                    "inbound transaction condition failed at {:?}",
                    failed.iter().map(|(i, _)| i).collect::<Vec<_>>()
                )))
            }
        }
    }

    async fn set_opted_out(
        &self,
        meta: &ConversationMeta,
        inbox: &InboxMeta,
        opted_out: bool,
    ) -> Result<(), StoreError> {
        let items = vec![
            self.update(
                key(conv_pk(&meta.id), META_SK),
                "SET opted_out = :o",
                Some("attribute_exists(PK)"),
                vec![(":o", b(opted_out))],
                &[],
            ),
            self.update(
                key(
                    format!("CONTACT#{}#{}", inbox.org_id, inbox.contact_address),
                    "#CONTACT",
                ),
                "SET opted_out = :o",
                None,
                vec![(":o", b(opted_out))],
                &[],
            ),
        ];
        self.transact(items).await.map(|_| ())
    }

    async fn apply_status(
        &self,
        sid: &str,
        status: MessageStatus,
        error_code: Option<&str>,
        at: &str,
    ) -> Result<StatusOutcome, StoreError> {
        let rank = status.rank();
        let below = status.replaces_below();
        let mut expr = String::from("SET msg_status = :s, status_rank = :r, status_at = :t");
        let mut req = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(key(format!("SID#{sid}"), "#SID")))
            .condition_expression("attribute_not_exists(status_rank) OR status_rank < :b")
            .expression_attribute_values(":s", s(status.as_str()))
            .expression_attribute_values(":r", n(rank))
            .expression_attribute_values(":b", n(below))
            .expression_attribute_values(":t", s(at))
            .return_values(ReturnValue::AllNew)
            .return_values_on_condition_check_failure(
                aws_sdk_dynamodb::types::ReturnValuesOnConditionCheckFailure::AllOld,
            );
        if let Some(code) = error_code {
            expr.push_str(", error_code = :e");
            req = req.expression_attribute_values(":e", s(code));
        }
        let res = req.update_expression(expr.clone()).send().await;
        let item = match res {
            Ok(out) => out.attributes.unwrap_or_default(),
            Err(e) if is_condition_failure(&e) => {
                // Not newer than what the SID item holds. A delivery that
                // wrote the SID item and then failed before the message
                // would leave the message behind for good: bring it up to
                // what is recorded first (the item comes with the refusal).
                let recorded = match &e {
                    SdkError::ServiceError(se) => match se.err() {
                        aws_sdk_dynamodb::operation::update_item::UpdateItemError::ConditionalCheckFailedException(c) => c.item().cloned(),
                        _ => None,
                    },
                    _ => None,
                };
                let repaired = match recorded {
                    Some(item) => self.reapply_recorded(&item).await?,
                    None => false,
                };
                return match error_code {
                    Some(code) if status.is_failure() => self.record_late_error(sid, code).await,
                    _ if repaired => Ok(StatusOutcome::Applied),
                    _ => Ok(StatusOutcome::Stale),
                };
            }
            Err(e) => return Err(sdk_err(e)),
        };
        let (Some(conv), Some(sk)) = (get_s(&item, "conversation_id"), get_s(&item, "message_sk"))
        else {
            return Ok(StatusOutcome::Pending);
        };
        let mut msg_expr = String::from("SET #st = :s, status_rank = :r, status_at = :t");
        let mut req = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(key(conv_pk(&conv), sk)))
            .condition_expression(
                "attribute_exists(PK) AND (attribute_not_exists(status_rank) OR status_rank < :b)",
            )
            .expression_attribute_names("#st", "status")
            .expression_attribute_values(":s", s(status.as_str()))
            .expression_attribute_values(":r", n(rank))
            .expression_attribute_values(":b", n(below))
            .expression_attribute_values(":t", s(at));
        if let Some(code) = error_code {
            msg_expr.push_str(", error_code = :e");
            req = req.expression_attribute_values(":e", s(code));
        }
        match req.update_expression(msg_expr).send().await {
            Ok(_) => Ok(StatusOutcome::Applied),
            Err(e) if is_condition_failure(&e) => Ok(StatusOutcome::Stale),
            Err(e) => Err(sdk_err(e)),
        }
    }
}
