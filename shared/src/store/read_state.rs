//! Read horizons and unread counters.

use crate::dynamo::TxWrite;
use crate::ports::ReadStateStore;

use super::inbox::org_counters;
use super::item::*;
use super::*;
use crate::model::*;

impl Store {
    /// `ADD unread_total` on a counters item (`None` when `delta` is 0).
    pub(crate) fn add_unread(&self, counters: Item, delta: i64) -> Option<TxWrite<'_>> {
        if delta == 0 {
            return None;
        }
        Some(self.update(
            counters,
            "ADD unread_total :d",
            None,
            vec![(":d", n(delta))],
            &[],
        ))
    }

    /// A counter attribute (absent counts as 0; never negative).
    pub(crate) async fn counter(&self, key: Item, attribute: &str) -> Result<i64, StoreError> {
        Ok(self
            .get(key)
            .await?
            .and_then(|i| get_n(&i, attribute))
            .unwrap_or(0)
            .max(0))
    }
}

impl ReadStateStore for Store {
    async fn mark_read(
        &self,
        conv_id: &str,
        p: &Participant,
        read_at: &str,
        last_message_id: Option<&str>,
    ) -> Result<bool, StoreError> {
        let mut expr = String::from("SET unread_count = :zero, last_read_at = :t");
        let mut values = vec![
            (":zero", n(0)),
            (":t", s(read_at)),
            (":n", n(p.unread_count)),
            (":yes", b(true)),
        ];
        if let Some(mid) = last_message_id {
            expr.push_str(", last_read_message_id = :mid");
            values.push((":mid", s(mid)));
        }
        let mut items = vec![self.update(
            tx_key(conv_pk(conv_id), part_sk(&p.user_id)),
            &expr,
            Some("unread_count = :n AND is_active = :yes"),
            values,
            &[],
        )];
        items.extend(self.add_unread(counters_key(&p.user_id), -p.unread_count));
        Ok(matches!(self.transact(items).await?, TxOutcome::Done))
    }

    async fn unread_total(&self, user_id: &str) -> Result<i64, StoreError> {
        self.counter(counters_key(user_id), "unread_total").await
    }

    async fn mark_inbox_read(
        &self,
        meta: &ConversationMeta,
        inbox: &InboxMeta,
        by: &str,
        now: &str,
    ) -> Result<bool, StoreError> {
        let mut items = vec![self.update(
            tx_key(conv_pk(&meta.id), META_SK),
            "SET unread_count = :zero, last_read_at = :t, last_read_by = :b, \
             last_read_message_id = :m",
            Some("unread_count = :n"),
            vec![
                (":zero", n(0)),
                (":t", s(now)),
                (":b", s(by)),
                (":m", s(meta.last_message_id.clone().unwrap_or_default())),
                (":n", n(inbox.unread_count)),
            ],
            &[],
        )];
        items.extend(self.add_unread(org_counters(&inbox.org_id), -inbox.unread_count));
        Ok(matches!(self.transact(items).await?, TxOutcome::Done))
    }
    async fn org_unread_total(&self, org: &str) -> Result<i64, StoreError> {
        self.counter(org_counters(org), "unread_total").await
    }
}
