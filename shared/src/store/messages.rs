//! Message items and the SID guard.

use crate::dynamo::{AttrList, TxWrite};
use crate::ports::MessageStore;

use super::item::*;
use super::*;
use crate::cursor::Key;
use crate::domain::{AuthorType, MessageStatus};
use crate::model::*;

impl Store {
    /// The Twilio SID guard of a message: claims the SID for this message
    /// (a second claim is a duplicate) and refuses to store a status older
    /// than one a status callback already recorded there.
    pub(crate) fn claim_sid(&self, sid: &str, msg: &Message) -> TxWrite<'_> {
        let mut claim = self.update(
            tx_key(format!("SID#{sid}"), "#SID"),
            "SET conversation_id = :c, message_sk = :sk",
            Some(
                "attribute_not_exists(message_sk) AND \
                 (attribute_not_exists(status_rank) OR status_rank <= :r)",
            ),
            vec![
                (":c", s(&msg.conversation_id)),
                (":sk", s(msg.sort_key())),
                (":r", n(msg.status.rank())),
            ],
            &[],
        );
        claim.return_old = true;
        claim
    }
}

impl MessageStore for Store {
    async fn set_media_stored(
        &self,
        conv_id: &str,
        sk: &str,
        media: &serde_json::Value,
    ) -> Result<(), StoreError> {
        let res = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(key(conv_pk(conv_id), sk)))
            .update_expression("SET media_stored = :m")
            .condition_expression("attribute_exists(PK)")
            .expression_attribute_values(":m", s(media.to_string()))
            .send()
            .await;
        match res {
            Ok(_) => Ok(()),
            Err(e) if is_condition_failure(&e) => Err(StoreError::Corrupt(format!(
                "no message {sk} to record media on"
            ))),
            Err(e) => Err(sdk_err(e)),
        }
    }

    async fn query_messages(
        &self,
        conv_id: &str,
        ascending: bool,
        limit: i32,
        start: Option<Key>,
    ) -> Result<(Vec<Message>, Option<Key>), StoreError> {
        let out = self
            .client
            .query()
            .table_name(&self.table)
            .key_condition_expression("PK = :pk AND begins_with(SK, :m)")
            .expression_attribute_values(":pk", s(conv_pk(conv_id)))
            .expression_attribute_values(":m", s("MSG#"))
            .scan_index_forward(ascending)
            .limit(limit)
            .set_exclusive_start_key(start.map(|k| from_cursor_key(&k)))
            .send()
            .await
            .map_err(sdk_err)?;
        let msgs = out
            .items()
            .iter()
            .map(message_from)
            .collect::<Result<Vec<_>, _>>()?;
        Ok((
            msgs,
            out.last_evaluated_key
                .filter(|k| !k.is_empty())
                .map(|k| to_cursor_key(&k)),
        ))
    }

    async fn get_message(&self, conv_id: &str, sk: &str) -> Result<Option<Message>, StoreError> {
        self.get(key(conv_pk(conv_id), sk))
            .await?
            .map(|i| message_from(&i))
            .transpose()
    }

    async fn store_message(
        &self,
        head: &Head,
        msg: &Message,
        fx: &MessageEffects,
        idem: Option<&IdemRecord>,
    ) -> Result<StoreMessageOutcome, StoreError> {
        let conv = &head.meta.id;
        let mut items = Vec::new();
        let msg_item = message_item(msg);
        items.push(self.put(msg_item, Some("attribute_not_exists(PK)"), Vec::new()));
        let meta_idx = items.len();
        // The head is current (the write checks `version`), so whether this
        // message is the newest is decided here. One that lost a race to a
        // newer message is stored and counted, but does not become the last
        // message, nor move activity or read horizons back in time.
        let newest = head.meta.is_newest(msg);
        let first_at = match &head.meta.first_message_at {
            Some(first) if first.as_str() < msg.created_at.as_str() => first.clone(),
            _ => msg.created_at.clone(),
        };
        let mut set = String::from(
            "SET version = version + :one, message_count = message_count + :one, \
             first_message_at = :first, pending_side = :ps, pending_since = :pss",
        );
        let mut values = vec![
            (":one", n(1)),
            (":v", n(head.meta.version)),
            (":first", s(first_at)),
            (":ps", s(&fx.pending_side)),
            (":pss", s(&fx.pending_since)),
        ];
        if newest {
            set.push_str(
                ", last_message_at = :now, last_message_id = :mid, \
                 last_message_preview = :pv, last_message_author = :au",
            );
            if head.meta.inbox.is_some() {
                // The inbox orders by the conversation item's own key.
                set.push_str(", GSI1SK = :g");
                values.push((":g", s(activity_sk(&msg.created_at, conv))));
            }
            values.extend([
                (":now", s(&msg.created_at)),
                (":mid", s(&msg.id)),
                (":pv", s(&fx.preview)),
                (":au", s(&msg.author_id)),
            ]);
        }
        if let Some(i) = msg.twilio_index {
            set.push_str(", last_message_index = :ix");
            let ix = head.meta.last_message_index.map_or(i, |cur| cur.max(i));
            values.push((":ix", n(ix)));
        }
        if let Some(ms) = fx.response_ms {
            set.push_str(
                ", response_count = response_count + :one, \
                 response_total_ms = response_total_ms + :rt, \
                 first_response_ms = if_not_exists(first_response_ms, :rt)",
            );
            values.push((":rt", n(ms)));
        }
        items.push(self.update(
            tx_key(conv_pk(conv), META_SK),
            &set,
            Some("version = :v"),
            values,
            &[],
        ));
        let gsk = activity_sk(&msg.created_at, conv);
        for p in head.participants.iter().filter(|p| p.is_active) {
            if p.user_id == msg.author_id {
                if newest {
                    // The author has read up to their own message.
                    items.push(self.update(
                        tx_key(conv_pk(conv), part_sk(&p.user_id)),
                        "SET GSI1SK = :g, last_read_at = :now, last_read_message_id = :mid",
                        None,
                        vec![
                            (":g", s(&gsk)),
                            (":now", s(&msg.created_at)),
                            (":mid", s(&msg.id)),
                        ],
                        &[],
                    ));
                }
            } else {
                let (expr, mut values) = if newest {
                    (
                        "SET GSI1SK = :g ADD unread_count :one",
                        vec![(":g", s(&gsk))],
                    )
                } else {
                    ("ADD unread_count :one", vec![])
                };
                values.push((":one", n(1)));
                items.push(self.update(
                    tx_key(conv_pk(conv), part_sk(&p.user_id)),
                    expr,
                    None,
                    values,
                    &[],
                ));
                items.extend(self.add_unread(counters_key(&p.user_id), 1));
            }
        }
        if let Some(idem) = idem {
            items.push(self.update(
                tx_key(&idem.pk, "#IDEM"),
                "SET #st = :sent, message_sk = :sk",
                None,
                vec![(":sent", s("sent")), (":sk", s(msg.sort_key()))],
                &[("#st", "state")],
            ));
        }
        let mut sid_idx = None;
        if let Some(sid) = &msg.twilio_sid {
            sid_idx = Some(items.len());
            items.push(self.claim_sid(sid, msg));
        }
        match self.transact(items).await? {
            TxOutcome::Done => Ok(StoreMessageOutcome::Stored),
            TxOutcome::Contended => Ok(StoreMessageOutcome::Conflict),
            TxOutcome::ConditionFailed(failed) => {
                let sid_failed = failed.iter().find(|(i, _)| Some(*i) == sid_idx);
                if let Some((_, old)) = sid_failed {
                    let owner = old.as_ref().and_then(|o| {
                        Some((get_s(o, "conversation_id")?, get_s(o, "message_sk")?))
                    });
                    if let Some((conversation_id, message_sk)) = owner {
                        // Only this message under this key is a duplicate.
                        return Ok(
                            if conversation_id == msg.conversation_id
                                && message_sk == msg.sort_key()
                            {
                                StoreMessageOutcome::Duplicate
                            } else {
                                StoreMessageOutcome::SidTaken {
                                    conversation_id,
                                    message_sk,
                                }
                            },
                        );
                    }
                    // A status callback got there first with a newer status.
                    return Ok(StoreMessageOutcome::Conflict);
                }
                if failed.iter().any(|(i, _)| *i == meta_idx) {
                    Ok(StoreMessageOutcome::Conflict)
                } else {
                    Err(StoreError::Sdk(format!(
                        "message transaction condition failed at {:?}",
                        failed.iter().map(|(i, _)| i).collect::<Vec<_>>()
                    )))
                }
            }
        }
    }

    async fn recorded_status(
        &self,
        sid: &str,
    ) -> Result<Option<(MessageStatus, Option<String>)>, StoreError> {
        Ok(self
            .get(key(format!("SID#{sid}"), "#SID"))
            .await?
            .and_then(|i| {
                let status = MessageStatus::parse(&get_s(&i, "msg_status")?)?;
                Some((status, get_s(&i, "error_code")))
            }))
    }
}

pub(super) fn message_item(msg: &Message) -> AttrList<'static> {
    let mut i = tx_key(conv_pk(&msg.conversation_id), msg.sort_key());
    i.reserve(12);
    i.extend([
        ("id".into(), s(&msg.id)),
        ("conversation_id".into(), s(&msg.conversation_id)),
        ("author_id".into(), s(&msg.author_id)),
        ("author_type".into(), s(msg.author_type.as_str())),
        ("body".into(), s(&msg.body)),
        ("created_at".into(), s(&msg.created_at)),
        ("status".into(), s(msg.status.as_str())),
        ("status_rank".into(), n(msg.status.rank())),
    ]);
    if let Some(sid) = &msg.twilio_sid {
        i.push(("twilio_sid".into(), s(sid)));
    }
    if let Some(ix) = msg.twilio_index {
        i.push(("twilio_index".into(), n(ix)));
    }
    if let Some(d) = &msg.details {
        i.push(("details".into(), s(d.to_string())));
    }
    i
}

/// The media fetch's outcome (`media_stored`, written after the message)
/// shown inside its details, where the media it describes are.
pub(crate) fn with_media_stored(
    details: Option<serde_json::Value>,
    stored: Option<serde_json::Value>,
) -> Option<serde_json::Value> {
    match (details, stored) {
        (Some(serde_json::Value::Object(mut d)), Some(st)) => {
            d.insert("media_stored".into(), st);
            Some(serde_json::Value::Object(d))
        }
        (d, _) => d,
    }
}

pub(super) fn message_from(i: &Item) -> Result<Message, StoreError> {
    Ok(Message {
        id: req_s(i, "id")?,
        conversation_id: req_s(i, "conversation_id")?,
        author_id: req_s(i, "author_id")?,
        author_type: match get_s(i, "author_type") {
            None => AuthorType::System,
            Some(a) => AuthorType::parse(&a)
                .ok_or_else(|| StoreError::Corrupt(format!("author type {a:?}")))?,
        },
        body: get_s(i, "body").unwrap_or_default(),
        created_at: req_s(i, "created_at")?,
        twilio_sid: get_s(i, "twilio_sid"),
        twilio_index: get_n(i, "twilio_index"),
        status: match get_s(i, "status") {
            None => MessageStatus::Sent,
            Some(st) => MessageStatus::parse(&st)
                .ok_or_else(|| StoreError::Corrupt(format!("message status {st:?}")))?,
        },
        details: with_media_stored(
            get_s(i, "details").and_then(|d| serde_json::from_str(&d).ok()),
            get_s(i, "media_stored").and_then(|d| serde_json::from_str(&d).ok()),
        ),
        error_code: get_s(i, "error_code"),
    })
}
