//! `Idempotency-Key` records.

use crate::dynamo::{TxKind, TxWrite};
use crate::ports::IdempotencyStore;

use super::item::*;
use super::*;
use crate::model::*;

impl IdempotencyStore for Store {
    async fn begin_idempotent(
        &self,
        record: &IdemRecord,
        now_epoch: i64,
    ) -> Result<IdemBegin, StoreError> {
        let mut item = key(&record.pk, "#IDEM");
        item.insert("request_hash".into(), s(&record.request_hash));
        item.insert("message_id".into(), s(&record.message_id));
        item.insert("state".into(), s(record.state.as_str()));
        item.insert("expires_at".into(), n(now_epoch + IDEM_TTL_SECS));
        item.insert("claimed_at".into(), n(now_epoch));
        if self.put_new(item).await? {
            return Ok(IdemBegin::Fresh);
        }
        let existing = self
            .get(key(&record.pk, "#IDEM"))
            .await?
            .ok_or_else(|| StoreError::Unavailable("idempotency record vanished".into()))?;
        let state = match get_s(&existing, "state").as_deref() {
            Some("sent") => IdemState::Sent,
            Some("unknown") => IdemState::Unknown,
            _ => IdemState::Pending,
        };
        Ok(IdemBegin::Existing(IdemRecord {
            pk: record.pk.clone(),
            request_hash: req_s(&existing, "request_hash")?,
            message_id: req_s(&existing, "message_id")?,
            state,
            message_sk: get_s(&existing, "message_sk"),
            claimed_at: get_n(&existing, "claimed_at").unwrap_or(0),
        }))
    }

    async fn abandon_idempotent(&self, record: &IdemRecord) -> Result<(), StoreError> {
        let mut del = TxWrite::new(TxKind::Delete, &self.table, tx_key(&record.pk, "#IDEM"));
        del.condition = Some("#st = :p".into());
        del.names = vec![("#st", "state")];
        del.values = vec![(":p".into(), s("pending"))];
        self.transact(vec![del]).await.map(|_| ())
    }

    async fn mark_idempotent_sent(
        &self,
        record: &IdemRecord,
        message_sk: &str,
    ) -> Result<(), StoreError> {
        self.client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(key(&record.pk, "#IDEM")))
            .update_expression("SET #st = :sent, message_sk = :sk")
            .condition_expression("attribute_exists(PK)")
            .expression_attribute_names("#st", "state")
            .expression_attribute_values(":sent", s("sent"))
            .expression_attribute_values(":sk", s(message_sk))
            .send()
            .await
            .map(|_| ())
            .map_err(sdk_err)
    }

    async fn mark_idempotent_unknown(&self, record: &IdemRecord) -> Result<(), StoreError> {
        self.client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(key(&record.pk, "#IDEM")))
            .update_expression("SET #st = :u")
            .condition_expression("#st = :p")
            .expression_attribute_names("#st", "state")
            .expression_attribute_values(":u", s("unknown"))
            .expression_attribute_values(":p", s("pending"))
            .send()
            .await
            .map(|_| ())
            .map_err(sdk_err)
    }
}
