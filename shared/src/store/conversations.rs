//! Conversation items: meta, participants, the booking and Twilio guards,
//! and the per-user GSI listing.

use crate::ports::{ConversationPage, ConversationStore};
use aws_sdk_dynamodb::types::AttributeValue;
use std::collections::HashMap;

use super::head::{ConvRow, meta_from};
use super::item::*;
use super::*;
use crate::cursor::Key;
use crate::domain::{ConversationStatus, StatsDelta};
use crate::model::*;

impl Store {
    /// Items by key: one BatchGetItem per 100 keys, unprocessed keys retried.
    pub(crate) async fn batch_get(&self, keys: Vec<Item>) -> Result<Vec<Item>, StoreError> {
        let mut found = Vec::with_capacity(keys.len());
        for chunk in keys.chunks(100) {
            let mut request = Some(
                KeysAndAttributes::builder()
                    .set_keys(Some(chunk.to_vec()))
                    .consistent_read(true)
                    .build()
                    .map_err(build_err)?,
            );
            for attempt in 0..5u32 {
                let Some(req) = request.take() else { break };
                let out = self
                    .client
                    .batch_get_item()
                    .request_items(&self.table, req)
                    .send()
                    .await
                    .map_err(sdk_err)?;
                if let Some(items) = out.responses.and_then(|mut r| r.remove(&self.table)) {
                    found.extend(items);
                }
                request = out
                    .unprocessed_keys
                    .and_then(|mut u| u.remove(&self.table))
                    .filter(|k| !k.keys().is_empty());
                if request.is_some() {
                    tokio::time::sleep(std::time::Duration::from_millis(20 << attempt)).await;
                }
            }
            if request.is_some() {
                return Err(StoreError::Unavailable(
                    "batch get left keys unprocessed".into(),
                ));
            }
        }
        Ok(found)
    }

    /// Put an item unless its key exists: `Ok(false)` when it did.
    pub(crate) async fn put_new(&self, item: Item) -> Result<bool, StoreError> {
        match self
            .wire
            .put_item(&self.table, &item, Some("attribute_not_exists(PK)"))
            .await
        {
            Ok(()) => Ok(true),
            Err(e) if is_wire_condition_failure(&e) => Ok(false),
            Err(e) => Err(wire_err(e)),
        }
    }

    /// Put an item, replacing any with its key.
    pub(crate) async fn put_item(&self, item: Item) -> Result<(), StoreError> {
        self.wire
            .put_item(&self.table, &item, None)
            .await
            .map_err(wire_err)
    }

    async fn conversations_on_gsi(
        &self,
        gsi_pk: String,
        limit: i32,
        start: Option<Item>,
    ) -> Result<(Vec<(String, i64)>, Option<Item>), StoreError> {
        let out = self
            .client
            .query()
            .table_name(&self.table)
            .index_name(GSI1)
            .key_condition_expression("GSI1PK = :u")
            .expression_attribute_values(":u", s(gsi_pk))
            .scan_index_forward(false)
            .limit(limit)
            .set_exclusive_start_key(start)
            .send()
            .await
            .map_err(sdk_err)?;
        let mut rows = Vec::new();
        for item in out.items() {
            let conv = req_s(item, "PK")?
                .strip_prefix("CONV#")
                .map(str::to_string)
                .ok_or_else(|| StoreError::Corrupt("conversation PK".into()))?;
            rows.push((conv, get_n(item, "unread_count").unwrap_or(0)));
        }
        Ok((rows, out.last_evaluated_key.filter(|k| !k.is_empty())))
    }
}

impl ConversationStore for Store {
    async fn twilio_conversation(&self, sid: &str) -> Result<Option<String>, StoreError> {
        let item = self.get(key(format!("TWCONV#{sid}"), "#TWCONV")).await?;
        Ok(item.and_then(|i| get_s(&i, "conversation_id")))
    }

    async fn set_status(
        &self,
        head: &Head,
        status: ConversationStatus,
        now: &str,
    ) -> Result<bool, StoreError> {
        let item = self.update(
            key(conv_pk(&head.meta.id), META_SK),
            "SET #status = :s, status_changed_at = :t, version = version + :one",
            Some("version = :v"),
            vec![
                (":s", s(status.as_str())),
                (":t", s(now)),
                (":one", n(1)),
                (":v", n(head.meta.version)),
            ],
            &[("#status", "status")],
        );
        let mut items = vec![item];
        // Inbox conversations keep their org's per-provider counters exact.
        if let Some(inbox) = &head.meta.inbox
            && let Some(counters) = self.stats_delta(
                &inbox.org_id,
                inbox.provider,
                StatsDelta::of_change(Some(head.meta.status), status),
            )
        {
            items.push(counters);
        }
        Ok(matches!(self.transact(items).await?, TxOutcome::Done))
    }

    async fn booking_conversation_id(
        &self,
        booking_id: &str,
    ) -> Result<Option<String>, StoreError> {
        let item = self
            .get(key(format!("BOOKING#{booking_id}"), "#BOOKING"))
            .await?;
        Ok(item.and_then(|i| get_s(&i, "conversation_id")))
    }

    async fn create_conversation(
        &self,
        meta: &ConversationMeta,
        participants: &[Participant],
    ) -> Result<bool, StoreError> {
        let mut items = Vec::with_capacity(participants.len() + 3);
        let booking = meta
            .booking_id
            .as_deref()
            .ok_or_else(|| StoreError::Corrupt("booking conversation without booking".into()))?;
        let mut guard = key(format!("BOOKING#{booking}"), "#BOOKING");
        guard.insert("conversation_id".into(), s(&meta.id));
        items.push(self.put(guard, Some("attribute_not_exists(PK)"), Vec::new()));
        items.push(self.put(
            meta_item(meta),
            Some("attribute_not_exists(PK)"),
            Vec::new(),
        ));
        for p in participants {
            items.push(self.put(
                participant_item(&meta.id, p, &meta.created_at),
                Some("attribute_not_exists(PK)"),
                Vec::new(),
            ));
        }
        if let Some(sid) = &meta.twilio_sid {
            let mut tw = key(format!("TWCONV#{sid}"), "#TWCONV");
            tw.insert("conversation_id".into(), s(&meta.id));
            items.push(self.put(tw, None, Vec::new()));
        }
        match self.transact(items).await? {
            TxOutcome::Done => Ok(true),
            TxOutcome::ConditionFailed(_) | TxOutcome::Contended => Ok(false),
        }
    }

    async fn load_head(&self, conv_id: &str) -> Result<Option<Head>, StoreError> {
        let mut meta = None;
        let mut participants = Vec::new();
        let values = HashMap::from([
            (":pk".to_string(), s(conv_pk(conv_id))),
            (":h".to_string(), s("#")),
        ]);
        let mut start: Option<Item> = None;
        loop {
            let page = self
                .wire
                .query_records::<ConvRow>(&crate::dynamo::Query {
                    table: &self.table,
                    index: None,
                    key_condition: "PK = :pk AND begins_with(SK, :h)",
                    values: &values,
                    consistent_read: true,
                    scan_index_forward: None,
                    limit: None,
                    start: start.as_ref(),
                })
                .await
                .map_err(wire_err)?;
            for row in page.items {
                let sk = row.sk();
                if sk.is_some_and(|sk| sk == META_SK) {
                    meta = Some(row.into_meta()?);
                } else if sk.is_some_and(|sk| sk.starts_with("#PART#")) {
                    participants.push(row.into_participant()?);
                }
            }
            match page.last_evaluated_key {
                Some(k) if !k.is_empty() => start = Some(k),
                _ => break,
            }
        }
        Ok(meta.map(|meta| Head { meta, participants }))
    }

    async fn batch_get_meta(
        &self,
        ids: &[String],
    ) -> Result<HashMap<String, ConversationMeta>, StoreError> {
        let keys: Vec<Item> = ids.iter().map(|id| key(conv_pk(id), META_SK)).collect();
        let mut found = HashMap::new();
        for item in self.batch_get(keys).await? {
            let m = meta_from(item)?;
            found.insert(m.id.clone(), m);
        }
        Ok(found)
    }

    async fn user_conversations(
        &self,
        user_id: &str,
        limit: i32,
        start: Option<Key>,
    ) -> Result<ConversationPage, StoreError> {
        let (rows, next) = self
            .conversations_on_gsi(
                format!("USER#{user_id}"),
                limit,
                start.map(|k| from_cursor_key(&k)),
            )
            .await?;
        Ok((rows, next.map(|k| to_cursor_key(&k))))
    }

    async fn org_inbox(
        &self,
        org_id: &str,
        limit: i32,
        start: Option<Key>,
    ) -> Result<ConversationPage, StoreError> {
        let (rows, next) = self
            .conversations_on_gsi(
                inbox_gsi_pk(org_id),
                limit,
                start.map(|k| from_cursor_key(&k)),
            )
            .await?;
        Ok((rows, next.map(|k| to_cursor_key(&k))))
    }

    async fn add_participant(
        &self,
        head: &Head,
        p: &Participant,
        now: &str,
    ) -> Result<bool, StoreError> {
        let conv = &head.meta.id;
        let activity = head
            .meta
            .last_message_at
            .as_deref()
            .unwrap_or(&head.meta.created_at);
        let mut summaries = head.meta.participants.clone();
        summaries.retain(|x| x.user_id != p.user_id);
        summaries.push(summary_of(p));
        let items = vec![
            self.put(
                participant_item(conv, p, activity),
                Some("attribute_not_exists(PK) OR is_active = :no"),
                vec![(":no", b(false))],
            ),
            self.update(
                key(conv_pk(conv), META_SK),
                "SET version = version + :one, participant_count = participant_count + :one, \
                 participants = :ps, updated_at = :now",
                Some("version = :v"),
                vec![
                    (":one", n(1)),
                    (":v", n(head.meta.version)),
                    (":ps", summaries_value(&summaries)),
                    (":now", s(now)),
                ],
                &[],
            ),
        ];
        Ok(matches!(self.transact(items).await?, TxOutcome::Done))
    }

    async fn remove_participant(
        &self,
        head: &Head,
        p: &Participant,
        now: &str,
    ) -> Result<bool, StoreError> {
        let conv = &head.meta.id;
        let summaries: Vec<ParticipantSummary> = head
            .meta
            .participants
            .iter()
            .map(|x| ParticipantSummary {
                is_active: x.is_active && x.user_id != p.user_id,
                ..x.clone()
            })
            .collect();
        let mut items =
            vec![
            self.update(
                key(conv_pk(conv), part_sk(&p.user_id)),
                "SET is_active = :no, left_at = :now, unread_count = :zero REMOVE GSI1PK, GSI1SK",
                Some("is_active = :yes AND unread_count = :n"),
                vec![
                    (":no", b(false)),
                    (":yes", b(true)),
                    (":now", s(now)),
                    (":zero", n(0)),
                    (":n", n(p.unread_count)),
                ], &[]),
            self.update(
                key(conv_pk(conv), META_SK),
                "SET version = version + :one, participant_count = participant_count - :one, \
                 participants = :ps, updated_at = :now",
                Some("version = :v"),
                vec![
                    (":one", n(1)),
                    (":v", n(head.meta.version)),
                    (":ps", summaries_value(&summaries)),
                    (":now", s(now)),
                ], &[]),
        ];
        items.extend(self.add_unread(counters_key(&p.user_id), -p.unread_count));
        Ok(matches!(self.transact(items).await?, TxOutcome::Done))
    }
}

pub(super) fn summary_of(p: &Participant) -> ParticipantSummary {
    ParticipantSummary {
        user_id: p.user_id.clone(),
        user_type: p.user_type,
        display_name: p.display_name.clone(),
        is_active: p.is_active,
    }
}

pub(super) fn summaries_value(list: &[ParticipantSummary]) -> AttributeValue {
    AttributeValue::L(
        list.iter()
            .map(|p| {
                AttributeValue::M(HashMap::from([
                    ("user_id".to_string(), s(&p.user_id)),
                    ("user_type".to_string(), s(p.user_type.as_str())),
                    ("display_name".to_string(), s(&p.display_name)),
                    ("is_active".to_string(), b(p.is_active)),
                ]))
            })
            .collect(),
    )
}

pub(super) fn meta_item(m: &ConversationMeta) -> Item {
    let mut i = key(conv_pk(&m.id), META_SK);
    i.insert("id".into(), s(&m.id));
    i.insert("kind".into(), s(&m.kind));
    opt_s(&mut i, "booking_id", &m.booking_id);
    i.insert("status".into(), s(m.status.as_str()));
    opt_s(&mut i, "twilio_sid", &m.twilio_sid);
    i.insert("created_at".into(), s(&m.created_at));
    i.insert("created_by".into(), s(&m.created_by));
    i.insert("version".into(), n(m.version));
    i.insert("message_count".into(), n(m.message_count));
    i.insert("participant_count".into(), n(m.participant_count));
    i.insert("response_count".into(), n(m.response_count));
    i.insert("response_total_ms".into(), n(m.response_total_ms));
    i.insert("participants".into(), summaries_value(&m.participants));
    for (name, value) in [
        ("first_message_at", &m.first_message_at),
        ("last_message_at", &m.last_message_at),
        ("last_message_id", &m.last_message_id),
        ("last_message_preview", &m.last_message_preview),
        ("last_message_author", &m.last_message_author),
        ("pending_side", &m.pending_side),
        ("pending_since", &m.pending_since),
    ] {
        opt_s(&mut i, name, value);
    }
    if let Some(ix) = m.last_message_index {
        i.insert("last_message_index".into(), n(ix));
    }
    if let Some(ms) = m.first_response_ms {
        i.insert("first_response_ms".into(), n(ms));
    }
    if let Some(inbox) = &m.inbox {
        inbox_fields(&mut i, m, inbox);
    }
    i
}

/// An inbox conversation's own attributes and index keys: the org's inbox
/// by activity (GSI1) and, once the contact wrote, the provider's
/// "wrote within 24 h" index (GSI2).
fn inbox_fields(i: &mut Item, m: &ConversationMeta, inbox: &InboxMeta) {
    for (name, value) in [
        ("org_id", &inbox.org_id),
        ("contact_address", &inbox.contact_address),
        ("business_address", &inbox.business_address),
    ] {
        i.insert(name.into(), s(value));
    }
    i.insert("provider".into(), s(inbox.provider.as_str()));
    i.insert("channel".into(), s(&inbox.channel));
    opt_s(i, "contact_name", &inbox.contact_name);
    opt_s(i, "last_read_at", &inbox.last_read_at);
    i.insert("unread_count".into(), n(inbox.unread_count));
    i.insert("opted_out".into(), b(inbox.opted_out));
    let activity = m.last_message_at.as_deref().unwrap_or(&m.created_at);
    i.insert("GSI1PK".into(), s(inbox_gsi_pk(&inbox.org_id)));
    i.insert("GSI1SK".into(), s(activity_sk(activity, &m.id)));
    if let Some(t) = &inbox.last_user_message_at {
        i.insert("last_user_message_at".into(), s(t));
        i.insert(
            "GSI2PK".into(),
            s(super::inbox::provider_gsi_pk(&inbox.org_id, inbox.provider)),
        );
        i.insert("GSI2SK".into(), s(t));
    }
}

pub(super) fn participant_item(conv: &str, p: &Participant, activity: &str) -> Item {
    let mut i = key(conv_pk(conv), part_sk(&p.user_id));
    i.insert("user_id".into(), s(&p.user_id));
    i.insert("user_type".into(), s(p.user_type.as_str()));
    i.insert("display_name".into(), s(&p.display_name));
    i.insert("identity".into(), s(&p.identity));
    opt_s(&mut i, "twilio_sid", &p.twilio_sid);
    i.insert("is_active".into(), b(p.is_active));
    i.insert("joined_at".into(), s(&p.joined_at));
    i.insert("unread_count".into(), n(p.unread_count));
    opt_s(&mut i, "last_read_at", &p.last_read_at);
    opt_s(&mut i, "last_read_message_id", &p.last_read_message_id);
    if p.is_active {
        i.insert("GSI1PK".into(), s(format!("USER#{}", p.user_id)));
        i.insert("GSI1SK".into(), s(activity_sk(activity, conv)));
    }
    i
}
