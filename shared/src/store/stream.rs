//! DynamoDB Streams records of this table, decoded into the items they
//! changed (the `push` function's input). A record carries the item's old
//! and new images (`NEW_AND_OLD_IMAGES`) in DynamoDB's JSON form; the images
//! are parsed with the same readers as the items the store loads, so a
//! stream image and a `GetItem` can never disagree.

use serde::Deserialize;
use serde_json::{Map, Value};

use super::head::{meta_from, participant_from};
use super::item::{Item, get_s};
use super::messages::message_from;
use super::{META_SK, StoreError};
use crate::model::{ConversationMeta, Message, Participant};

/// The Lambda event of a DynamoDB stream (`{"Records": [...]}`).
#[derive(Debug, Default, Deserialize)]
pub struct StreamEvent {
    #[serde(rename = "Records", default)]
    pub records: Vec<StreamRecord>,
}

#[derive(Debug, Deserialize)]
pub struct StreamRecord {
    #[serde(rename = "eventName", default)]
    pub event_name: Option<String>,
    pub dynamodb: StreamData,
}

#[derive(Debug, Deserialize)]
pub struct StreamData {
    #[serde(rename = "Keys", default)]
    pub keys: Map<String, Value>,
    #[serde(rename = "NewImage", default)]
    pub new_image: Option<Map<String, Value>>,
    #[serde(rename = "OldImage", default)]
    pub old_image: Option<Map<String, Value>>,
    #[serde(rename = "SequenceNumber", default)]
    pub sequence_number: Option<String>,
}

/// What a record changed, for the items real-time events come from.
#[derive(Debug, Clone)]
pub enum StreamChange {
    Message {
        old: Option<Message>,
        new: Option<Message>,
    },
    Meta {
        old: Option<Box<ConversationMeta>>,
        new: Option<Box<ConversationMeta>>,
        /// An inbox read: who read and up to which message (not in the
        /// conversation model, which keeps only the time).
        last_read_by: Option<String>,
        last_read_message_id: Option<String>,
    },
    Participant {
        old: Option<Participant>,
        new: Option<Participant>,
    },
}

/// One decoded record: the conversation it belongs to and what changed.
#[derive(Debug, Clone)]
pub struct Changed {
    pub conversation_id: String,
    pub change: StreamChange,
}

use crate::dynamo::item_from_json;

fn image(m: &Option<Map<String, Value>>) -> Result<Option<Item>, StoreError> {
    m.as_ref()
        .map(|m| item_from_json(m).ok_or_else(|| StoreError::Corrupt("stream image".into())))
        .transpose()
}

/// Decode a record of this table. `Ok(None)`: an item no event comes from
/// (counters, guards, connections, ...).
pub fn decode(rec: &StreamRecord) -> Result<Option<Changed>, StoreError> {
    let keys = item_from_json(&rec.dynamodb.keys)
        .ok_or_else(|| StoreError::Corrupt("stream keys".into()))?;
    let (Some(pk), Some(sk)) = (get_s(&keys, "PK"), get_s(&keys, "SK")) else {
        return Ok(None);
    };
    let Some(conversation_id) = pk.strip_prefix("CONV#").map(str::to_string) else {
        return Ok(None);
    };
    let old = image(&rec.dynamodb.old_image)?;
    let new = image(&rec.dynamodb.new_image)?;
    let change = if sk.starts_with("MSG#") {
        StreamChange::Message {
            old: old.as_ref().map(message_from).transpose()?,
            new: new.as_ref().map(message_from).transpose()?,
        }
    } else if sk == META_SK {
        StreamChange::Meta {
            last_read_by: new.as_ref().and_then(|i| get_s(i, "last_read_by")),
            last_read_message_id: new.as_ref().and_then(|i| get_s(i, "last_read_message_id")),
            old: old.map(meta_from).transpose()?.map(Box::new),
            new: new.map(meta_from).transpose()?.map(Box::new),
        }
    } else if sk.starts_with("#PART#") {
        StreamChange::Participant {
            old: old.map(participant_from).transpose()?,
            new: new.map(participant_from).transpose()?,
        }
    } else {
        return Ok(None);
    };
    Ok(Some(Changed {
        conversation_id,
        change,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_sdk_dynamodb::primitives::Blob;
    use aws_sdk_dynamodb::types::AttributeValue;
    use serde_json::json;

    #[test]
    fn when_dynamodb_json_is_decoded_it_should_keep_every_type() {
        let item = item_from_json(
            json!({
                "s": {"S": "x"}, "n": {"N": "12"}, "b": {"BOOL": true}, "z": {"NULL": true},
                "l": {"L": [{"S": "a"}, {"N": "1"}]}, "m": {"M": {"k": {"S": "v"}}},
                "ss": {"SS": ["a", "b"]}, "bin": {"B": "aGk="}
            })
            .as_object()
            .unwrap(),
        )
        .unwrap();
        assert_eq!(item["s"], AttributeValue::S("x".into()));
        assert_eq!(item["n"], AttributeValue::N("12".into()));
        assert_eq!(item["b"], AttributeValue::Bool(true));
        assert_eq!(item["z"], AttributeValue::Null(true));
        assert_eq!(item["ss"], AttributeValue::Ss(vec!["a".into(), "b".into()]));
        assert_eq!(item["bin"], AttributeValue::B(Blob::new("hi")));
        assert!(matches!(&item["l"], AttributeValue::L(l) if l.len() == 2));
        assert!(
            matches!(&item["m"], AttributeValue::M(m) if m["k"] == AttributeValue::S("v".into()))
        );
        assert!(item_from_json(json!({"x": {"Q": 1}}).as_object().unwrap()).is_none());
        assert!(item_from_json(json!({"x": "plain"}).as_object().unwrap()).is_none());
    }

    #[test]
    fn when_a_record_is_not_a_conversation_item_it_should_be_ignored() {
        let rec: StreamRecord = serde_json::from_value(json!({
            "eventName": "INSERT",
            "dynamodb": {"Keys": {"PK": {"S": "WSCONN#abc"}, "SK": {"S": "#WSCONN"}},
                         "NewImage": {"PK": {"S": "WSCONN#abc"}}}
        }))
        .unwrap();
        assert!(decode(&rec).unwrap().is_none());
        let counters: StreamRecord = serde_json::from_value(json!({
            "eventName": "MODIFY",
            "dynamodb": {"Keys": {"PK": {"S": "USER#u1"}, "SK": {"S": "#COUNTERS"}}}
        }))
        .unwrap();
        assert!(decode(&counters).unwrap().is_none());
    }

    #[test]
    fn when_a_message_is_inserted_it_should_decode_as_a_new_message() {
        let rec: StreamRecord = serde_json::from_value(json!({
            "eventName": "INSERT",
            "dynamodb": {
                "Keys": {"PK": {"S": "CONV#c1"}, "SK": {"S": "MSG#2026-01-01T00:00:00.000Z#m1"}},
                "NewImage": {
                    "PK": {"S": "CONV#c1"}, "SK": {"S": "MSG#2026-01-01T00:00:00.000Z#m1"},
                    "id": {"S": "m1"}, "conversation_id": {"S": "c1"}, "author_id": {"S": "u1"},
                    "author_type": {"S": "customer"}, "body": {"S": "hi"},
                    "created_at": {"S": "2026-01-01T00:00:00.000Z"}, "status": {"S": "sent"},
                    "status_rank": {"N": "2"}
                },
                "SequenceNumber": "100"
            }
        }))
        .unwrap();
        let c = decode(&rec).unwrap().unwrap();
        assert_eq!(c.conversation_id, "c1");
        match c.change {
            StreamChange::Message {
                old: None,
                new: Some(m),
            } => assert_eq!(m.body, "hi"),
            other => panic!("{other:?}"),
        }
    }
}
