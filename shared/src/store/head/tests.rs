use super::*;
use crate::dynamo::{RecordDe, item_from_json};

/// `json` read as the head's `Query` reads it (straight into a row) and
/// as an [`Item`] is read (a map first), into the same model.
fn both<T: std::fmt::Debug>(
    json: &str,
    model: impl Fn(ConvRow) -> Result<T, StoreError>,
) -> (Result<T, StoreError>, Result<T, StoreError>) {
    let direct = serde_json::from_str::<RecordDe<ConvRow>>(json).unwrap().0;
    let value: serde_json::Value = serde_json::from_str(json).unwrap();
    let item = item_from_json(value.as_object().unwrap()).unwrap();
    (model(direct), model(record_of(item)))
}

const INBOX_META: &str = r##"{
    "PK": {"S": "CONV#conv_1"}, "GSI1PK": {"S": "ORG#org_1#INBOX"},
    "participants": {"L": [
        {"M": {"user_id": {"S": "cust_ana"}, "is_active": {"BOOL": true}, "user_type": {"S": "customer"}, "display_name": {"S": "Ana"}}},
        {"M": {"is_active": {"BOOL": false}, "user_type": {"S": "provider"}, "user_id": {"S": "prov_ben"}, "display_name": {"S": "Ben \"B\""}}}
    ]},
    "id": {"S": "conv_1"}, "kind": {"S": "inbox"}, "status": {"S": "active"},
    "version": {"N": "7"}, "message_count": {"N": "6"}, "participant_count": {"N": "2"},
    "SK": {"S": "#META"},
    "created_at": {"S": "2026-12-06T12:38:57.090Z"}, "created_by": {"S": "cust_ana"},
    "last_message_index": {"N": "5"}, "first_response_ms": {"N": "447"},
    "last_message_preview": {"S": "Hi \u00e9 \\ \n"}, "pending_side": {"S": "customer"},
    "org_id": {"S": "org_1"}, "provider": {"S": "twilio"}, "channel": {"S": "whatsapp"},
    "contact_address": {"S": "whatsapp:+15551234567"}, "contact_name": {"S": "Ana"},
    "business_address": {"S": "whatsapp:+15550001111"}, "unread_count": {"N": "4"},
    "opted_out": {"BOOL": true}, "extra": {"M": {"a": {"L": [{"N": "1"}, {"SS": ["x"]}]}}},
    "GSI2SK": {"S": "2026-01-01T09:00:12.000Z"}
}"##;

#[test]
fn a_meta_item_should_read_into_the_same_model_straight_from_json_as_through_an_item() {
    let (direct, via_item) = both(INBOX_META, ConvRow::into_meta);
    let m = direct.unwrap();
    assert_eq!(format!("{m:?}"), format!("{:?}", via_item.unwrap()));
    assert_eq!(m.id, "conv_1");
    assert_eq!(m.status, ConversationStatus::Active);
    assert_eq!((m.version, m.message_count, m.participant_count), (7, 6, 2));
    assert_eq!(m.last_message_index, Some(5));
    assert_eq!(m.first_response_ms, Some(447));
    assert_eq!(m.response_count, 0);
    assert_eq!(m.last_message_preview.as_deref(), Some("Hi é \\ \n"));
    assert_eq!(m.booking_id, None);
    assert_eq!(m.participants.len(), 2);
    assert_eq!(m.participants[1].display_name, "Ben \"B\"");
    assert!(m.participants[0].is_active && !m.participants[1].is_active);
    let inbox = m.inbox.unwrap();
    assert_eq!(inbox.org_id, "org_1");
    assert_eq!(inbox.provider, Provider::Twilio);
    assert_eq!(inbox.unread_count, 4);
    assert!(inbox.opted_out);
    assert_eq!(inbox.contact_name.as_deref(), Some("Ana"));
}

#[test]
fn a_participant_item_should_read_the_same_both_ways_whatever_the_order_of_its_attributes() {
    let json = r##"{"joined_at": {"S": "2026-12-06T12:38:57.090Z"}, "is_active": {"BOOL": true},
        "unread_count": {"N": "1"}, "display_name": {"S": "Ana"}, "GSI1SK": {"S": "x"},
        "user_type": {"S": "customer"}, "identity": {"S": "cust_ana"},
        "twilio_sid": {"S": "MB00000000000000000000000000000002"},
        "last_read_at": {"S": "2026-12-06T12:40:00.000Z"}, "user_id": {"S": "cust_ana"},
        "PK": {"S": "CONV#conv_1"}, "SK": {"S": "#PART#cust_ana"}}"##;
    let row = serde_json::from_str::<RecordDe<ConvRow>>(json).unwrap().0;
    assert_eq!(row.sk(), Some("#PART#cust_ana"));
    let (direct, via_item) = both(json, ConvRow::into_participant);
    let p = direct.unwrap();
    assert_eq!(format!("{p:?}"), format!("{:?}", via_item.unwrap()));
    assert_eq!(p.user_id, "cust_ana");
    assert_eq!(p.user_type, ParticipantType::Customer);
    assert_eq!(p.unread_count, 1);
    assert!(p.is_active);
    assert_eq!(
        p.twilio_sid.as_deref(),
        Some("MB00000000000000000000000000000002")
    );
    assert_eq!(p.left_at, None);
}

#[test]
fn an_attribute_of_the_wrong_type_should_read_as_absent_both_ways() {
    let json = r##"{"SK": {"S": "#META"}, "id": {"S": "conv_1"}, "kind": {"S": "booking"},
        "status": {"S": "closed"}, "created_at": {"S": "t"}, "version": {"S": "7"},
        "message_count": {"N": "not a number"}, "booking_id": {"N": "3"},
        "participants": {"S": "none"}, "org_id": {"BOOL": true}}"##;
    let (direct, via_item) = both(json, ConvRow::into_meta);
    let m = direct.unwrap();
    assert_eq!(format!("{m:?}"), format!("{:?}", via_item.unwrap()));
    assert_eq!((m.version, m.message_count), (0, 0));
    assert_eq!(m.booking_id, None);
    assert!(m.participants.is_empty());
    assert!(m.inbox.is_none(), "org_id is not a string: a booking chat");
}

#[test]
fn a_corrupt_item_should_be_an_error_both_ways_never_a_guess() {
    for (json, why) in [
        (
            r##"{"kind": {"S": "booking"}, "status": {"S": "active"}, "created_at": {"S": "t"}}"##,
            "missing string attribute id",
        ),
        (
            r##"{"id": {"S": "c"}, "kind": {"S": "booking"}, "status": {"S": "lost"}, "created_at": {"S": "t"}}"##,
            "conversation status \"lost\"",
        ),
        (
            r##"{"id": {"N": "1"}, "kind": {"S": "booking"}, "status": {"S": "active"}, "created_at": {"S": "t"}}"##,
            "missing string attribute id",
        ),
        (
            r##"{"id": {"S": "c"}, "kind": {"S": "inbox"}, "status": {"S": "active"}, "created_at": {"S": "t"},
                "org_id": {"S": "o"}, "provider": {"S": "pigeon"}}"##,
            "conversation provider \"pigeon\"",
        ),
        (
            r##"{"id": {"S": "c"}, "kind": {"S": "booking"}, "status": {"S": "active"}, "created_at": {"S": "t"},
                "participants": {"L": [{"M": {"user_id": {"S": "u"}, "user_type": {"S": "robot"}}}]}}"##,
            "participant type \"robot\"",
        ),
    ] {
        let (direct, via_item) = both(json, ConvRow::into_meta);
        for got in [direct, via_item] {
            match got {
                Err(StoreError::Corrupt(m)) => assert_eq!(m, why),
                other => panic!("{json}: {other:?}"),
            }
        }
    }
    let (direct, via_item) = both(
        r##"{"user_type": {"S": "customer"}, "SK": {"S": "#PART#x"}}"##,
        ConvRow::into_participant,
    );
    for got in [direct, via_item] {
        assert!(
            matches!(&got, Err(StoreError::Corrupt(m)) if m == "missing string attribute user_id"),
            "{got:?}"
        );
    }
}

#[test]
fn an_escaped_attribute_name_should_find_its_place() {
    // `\u0069d` is "id": serde hands such a name over as a transient copy.
    let json = r##"{"\u0069d": {"S": "conv_1"}, "kind": {"S": "booking"},
        "status": {"S": "active"}, "created_at": {"S": "t"}}"##;
    let m = serde_json::from_str::<RecordDe<ConvRow>>(json)
        .unwrap()
        .0
        .into_meta()
        .unwrap();
    assert_eq!(m.id, "conv_1");
}

#[test]
fn a_malformed_item_should_be_an_error_not_a_panic() {
    for json in [
        r##"{"id": "conv_1"}"##,
        r##"{"id": {}}"##,
        r##"{"id": {"Q": "x"}}"##,
        r##"{"id": {"S": 1}}"##,
        r##"["id"]"##,
        r##"{"id": {"S": "x"}"##,
    ] {
        assert!(
            serde_json::from_str::<RecordDe<ConvRow>>(json).is_err(),
            "{json}"
        );
    }
    // An attribute the row has no place for is skipped unread, whatever
    // its type.
    let row = serde_json::from_str::<RecordDe<ConvRow>>(r##"{"GSI9": {"Q": [1, {}]}}"##)
        .unwrap()
        .0;
    assert_eq!(row.sk(), None);
}
