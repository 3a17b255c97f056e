//! The hand-made requests against the DynamoDB crate's own: both clients
//! send through one recording connector that answers what each test
//! gives; the request documents must be equal, and so must what each
//! reads from the same answer.

use super::*;
use aws_sdk_dynamodb::types::{
    ConditionCheck, Delete, Put, ReturnValuesOnConditionCheckFailure, TransactWriteItem, Update,
};
use aws_smithy_runtime_api::client::http::SharedHttpConnector;
use aws_smithy_runtime_api::client::http::{HttpConnector, HttpConnectorFuture};
use aws_smithy_runtime_api::client::orchestrator::{HttpRequest, HttpResponse};
use aws_smithy_types::body::SdkBody;
use serde_json::{Value, json};
use std::sync::{Arc, Mutex};

/// Records each request (`x-amz-target`, its JSON) and answers `answer`.
#[derive(Clone, Debug, Default)]
struct Recorder {
    seen: Arc<Mutex<Vec<(String, Value)>>>,
    answer: Arc<Mutex<(u16, String)>>,
}

impl Recorder {
    fn answer(&self, status: u16, body: &str) {
        *self.answer.lock().unwrap() = (status, body.into());
    }
    fn take(&self) -> Vec<(String, Value)> {
        std::mem::take(&mut *self.seen.lock().unwrap())
    }
}

impl HttpConnector for Recorder {
    fn call(&self, request: HttpRequest) -> HttpConnectorFuture {
        let target = request
            .headers()
            .get("x-amz-target")
            .unwrap_or_default()
            .to_string();
        let body: Value = serde_json::from_slice(request.body().bytes().unwrap()).unwrap();
        self.seen.lock().unwrap().push((target, body));
        let (status, text) = self.answer.lock().unwrap().clone();
        let mut response = HttpResponse::new(status.try_into().unwrap(), SdkBody::from(text));
        response
            .headers_mut()
            .insert("content-type", "application/x-amz-json-1.0");
        HttpConnectorFuture::ready(Ok(response))
    }
}

fn clients() -> (aws_sdk_dynamodb::Client, Dynamo, Recorder) {
    let (sdk, rec) = sdk_config("1");
    let wire = Dynamo::new(&sdk, SharedHttpConnector::new(rec.clone())).unwrap();
    (aws_sdk_dynamodb::Client::new(&sdk), wire, rec)
}

/// A configuration over a [`Recorder`] answering `{}`, with this many
/// attempts per call and a 1 ms first backoff.
fn sdk_config(max_attempts: &'static str) -> (aws_config::SdkConfig, Recorder) {
    let rec = Recorder::default();
    rec.answer(200, "{}");
    let env = move |k: &str| {
        match k {
            "AWS_REGION" => Some("eu-west-1"),
            "AWS_ACCESS_KEY_ID" => Some("AKIDEXAMPLE"),
            "AWS_SECRET_ACCESS_KEY" => Some("secret"),
            "AWS_MAX_ATTEMPTS" => Some(max_attempts),
            _ => None,
        }
        .map(str::to_string)
    };
    let connector = SharedHttpConnector::new(rec.clone());
    let mut sdk = crate::aws::lambda_sdk_config(connector, &env).into_builder();
    sdk.set_retry_config(Some(
        aws_config::retry::RetryConfig::standard()
            .with_max_attempts(max_attempts.parse().unwrap())
            .with_initial_backoff(std::time::Duration::from_millis(1)),
    ));
    (sdk.build(), rec)
}

fn s(v: &str) -> AttributeValue {
    AttributeValue::S(v.into())
}

fn key(pk: &str, sk: &str) -> Item {
    HashMap::from([("PK".into(), s(pk)), ("SK".into(), s(sk))])
}

/// An item with every kind of attribute value.
fn every_kind() -> Item {
    HashMap::from([
        ("PK".into(), s("CONV#1")),
        ("SK".into(), s("MSG#2026-12-07T00:00:00Z#m1")),
        ("body".into(), s("héllo \"quoted\" \n\u{1F600}")),
        ("version".into(), AttributeValue::N("42".into())),
        (
            "raw".into(),
            AttributeValue::B(Blob::new(vec![0, 1, 2, 255])),
        ),
        ("flag".into(), AttributeValue::Bool(true)),
        ("nothing".into(), AttributeValue::Null(true)),
        (
            "tags".into(),
            AttributeValue::Ss(vec!["a".into(), "b".into()]),
        ),
        (
            "nums".into(),
            AttributeValue::Ns(vec!["1".into(), "2.5".into()]),
        ),
        (
            "blobs".into(),
            AttributeValue::Bs(vec![Blob::new(b"x".to_vec()), Blob::new(Vec::new())]),
        ),
        (
            "list".into(),
            AttributeValue::L(vec![
                s("one"),
                AttributeValue::N("2".into()),
                AttributeValue::L(vec![]),
            ]),
        ),
        (
            "map".into(),
            AttributeValue::M(HashMap::from([
                ("inner".into(), s("v")),
                ("deeper".into(), AttributeValue::M(HashMap::new())),
            ])),
        ),
    ])
}

/// `every_kind` as DynamoDB writes it in an answer.
fn every_kind_json() -> Value {
    json!({
        "PK": {"S": "CONV#1"},
        "SK": {"S": "MSG#2026-12-07T00:00:00Z#m1"},
        "body": {"S": "héllo \"quoted\" \n\u{1F600}"},
        "version": {"N": "42"},
        "raw": {"B": "AAEC/w=="},
        "flag": {"BOOL": true},
        "nothing": {"NULL": true},
        "tags": {"SS": ["a", "b"]},
        "nums": {"NS": ["1", "2.5"]},
        "blobs": {"BS": ["eA==", ""]},
        "list": {"L": [{"S": "one"}, {"N": "2"}, {"L": []}]},
        "map": {"M": {"inner": {"S": "v"}, "deeper": {"M": {}}}}
    })
}

#[tokio::test]
async fn when_an_item_is_read_the_request_and_the_reading_should_be_the_sdks() {
    let (sdk, wire, rec) = clients();
    let answer = json!({"Item": every_kind_json()}).to_string();
    rec.answer(200, &answer);
    let theirs = sdk
        .get_item()
        .table_name("t")
        .set_key(Some(key("CONV#1", "#META")))
        .consistent_read(true)
        .send()
        .await
        .unwrap();
    let ours = wire
        .get_item("t", &key("CONV#1", "#META"), true)
        .await
        .unwrap();
    let seen = rec.take();
    assert_eq!(seen[0].0, "DynamoDB_20120810.GetItem");
    assert_eq!(seen[0], seen[1], "the same request");
    assert_eq!(ours, theirs.item);
    assert_eq!(ours, Some(every_kind()));

    rec.answer(200, "{}");
    let theirs = sdk
        .get_item()
        .table_name("t")
        .set_key(Some(key("CONV#1", "#META")))
        .send()
        .await
        .unwrap();
    let ours = wire
        .get_item("t", &key("CONV#1", "#META"), false)
        .await
        .unwrap();
    let seen = rec.take();
    assert_eq!(seen[0], seen[1], "eventually consistent: no ConsistentRead");
    assert_eq!((ours, theirs.item), (None, None), "no such item");
}

#[tokio::test]
async fn when_an_item_is_put_the_request_should_be_the_sdks() {
    let (sdk, wire, rec) = clients();
    sdk.put_item()
        .table_name("t")
        .set_item(Some(every_kind()))
        .condition_expression("attribute_not_exists(PK)")
        .send()
        .await
        .unwrap();
    wire.put_item("t", &every_kind(), Some("attribute_not_exists(PK)"))
        .await
        .unwrap();
    sdk.put_item()
        .table_name("t")
        .set_item(Some(key("a", "b")))
        .send()
        .await
        .unwrap();
    wire.put_item("t", &key("a", "b"), None).await.unwrap();
    let seen = rec.take();
    assert_eq!(seen[0].0, "DynamoDB_20120810.PutItem");
    assert_eq!(seen[0], seen[1]);
    assert_eq!(seen[0].1["Item"], every_kind_json());
    assert_eq!(seen[2], seen[3]);

    rec.answer(
        400,
        r#"{"__type":"com.amazonaws.dynamodb.v20120810#ConditionalCheckFailedException","message":"The conditional request failed"}"#,
    );
    let err = wire
        .put_item("t", &key("a", "b"), Some("attribute_not_exists(PK)"))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Some("ConditionalCheckFailedException"));
    assert!(!err.is_transient());
    assert_eq!(rec.take().len(), 1, "a failed condition is not retried");
}

#[tokio::test]
async fn when_a_table_is_queried_the_request_and_the_page_should_be_the_sdks() {
    let (sdk, wire, rec) = clients();
    let answer = json!({
        "Count": 2, "ScannedCount": 2,
        "Items": [every_kind_json(), {"PK": {"S": "CONV#1"}, "SK": {"S": "#META"}}],
        "LastEvaluatedKey": {"PK": {"S": "CONV#1"}, "SK": {"S": "#META"}}
    })
    .to_string();
    rec.answer(200, &answer);
    let values = HashMap::from([(":pk".to_string(), s("CONV#1")), (":h".to_string(), s("#"))]);
    let start = key("CONV#1", "#A");
    let theirs = sdk
        .query()
        .table_name("t")
        .index_name("GSI1")
        .key_condition_expression("PK = :pk AND begins_with(SK, :h)")
        .set_expression_attribute_values(Some(values.clone()))
        .consistent_read(true)
        .scan_index_forward(false)
        .limit(25)
        .set_exclusive_start_key(Some(start.clone()))
        .send()
        .await
        .unwrap();
    let ours = wire
        .query(&Query {
            table: "t",
            index: Some("GSI1"),
            key_condition: "PK = :pk AND begins_with(SK, :h)",
            values: &values,
            consistent_read: true,
            scan_index_forward: Some(false),
            limit: Some(25),
            start: Some(&start),
        })
        .await
        .unwrap();
    let seen = rec.take();
    assert_eq!(seen[0].0, "DynamoDB_20120810.Query");
    assert_eq!(seen[0], seen[1]);
    assert_eq!(ours.items, theirs.items.unwrap());
    assert_eq!(ours.last_evaluated_key, theirs.last_evaluated_key);
    assert_eq!(ours.items.len(), 2);

    rec.answer(200, r#"{"Count":0,"ScannedCount":0,"Items":[]}"#);
    let page = wire
        .query(&Query {
            table: "t",
            index: None,
            key_condition: "PK = :pk",
            values: &values,
            consistent_read: false,
            scan_index_forward: None,
            limit: None,
            start: None,
        })
        .await
        .unwrap();
    assert!(page.items.is_empty() && page.last_evaluated_key.is_none());
    let seen = rec.take();
    assert_eq!(
        seen[0].1,
        json!({"TableName": "t", "KeyConditionExpression": "PK = :pk",
               "ExpressionAttributeValues": {":pk": {"S": "CONV#1"}, ":h": {"S": "#"}}})
    );
}

/// [`writes`] as the store's own writes: the same five, built by hand.
fn ours() -> Vec<TxWrite<'static>> {
    let key = |pk: &str, sk: &str| -> AttrList<'static> {
        vec![("PK".into(), s(pk)), ("SK".into(), s(sk))]
    };
    let mut put = TxWrite::new(TxKind::Put, "t", attrs_of(every_kind()));
    put.condition = Some("attribute_not_exists(PK) OR version = :v".into());
    put.values = vec![(":v".into(), AttributeValue::N("1".into()))];
    let mut update = TxWrite::new(TxKind::Update, "t", key("SID#IM1", "#SID"));
    update.update = Some("SET conversation_id = :c, #st = :s".into());
    update.condition = Some("attribute_not_exists(message_sk)".into());
    update.names = vec![("#st", "status")];
    update.values = vec![(":c".into(), s("c1")), (":s".into(), s("sent"))];
    update.return_old = true;
    let mut delete = TxWrite::new(TxKind::Delete, "t", key("IDEM#1", "#IDEM"));
    delete.condition = Some("#st = :p".into());
    delete.names = vec![("#st", "state")];
    delete.values = vec![(":p".into(), s("pending"))];
    let mut check = TxWrite::new(TxKind::ConditionCheck, "t", key("CONV#1", "#META"));
    check.condition = Some("version = :v".into());
    check.values = vec![(":v".into(), AttributeValue::N("3".into()))];
    let plain = TxWrite::new(TxKind::Put, "t", key("TWCONV#CH1", "#TWCONV"));
    vec![put, update, delete, check, plain]
}

/// The SDK's writes the hand-made request is compared with.
fn writes() -> Vec<TransactWriteItem> {
    let put = Put::builder()
        .table_name("t")
        .set_item(Some(every_kind()))
        .condition_expression("attribute_not_exists(PK) OR version = :v")
        .expression_attribute_values(":v", AttributeValue::N("1".into()))
        .build()
        .unwrap();
    let update = Update::builder()
        .table_name("t")
        .set_key(Some(key("SID#IM1", "#SID")))
        .update_expression("SET conversation_id = :c, #st = :s")
        .condition_expression("attribute_not_exists(message_sk)")
        .expression_attribute_names("#st", "status")
        .expression_attribute_values(":c", s("c1"))
        .expression_attribute_values(":s", s("sent"))
        .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
        .build()
        .unwrap();
    let delete = Delete::builder()
        .table_name("t")
        .set_key(Some(key("IDEM#1", "#IDEM")))
        .condition_expression("#st = :p")
        .expression_attribute_names("#st", "state")
        .expression_attribute_values(":p", s("pending"))
        .build()
        .unwrap();
    let check = ConditionCheck::builder()
        .table_name("t")
        .set_key(Some(key("CONV#1", "#META")))
        .condition_expression("version = :v")
        .expression_attribute_values(":v", AttributeValue::N("3".into()))
        .build()
        .unwrap();
    let plain = Put::builder()
        .table_name("t")
        .set_item(Some(key("TWCONV#CH1", "#TWCONV")))
        .build()
        .unwrap();
    vec![
        TransactWriteItem::builder().put(put).build(),
        TransactWriteItem::builder().update(update).build(),
        TransactWriteItem::builder().delete(delete).build(),
        TransactWriteItem::builder().condition_check(check).build(),
        TransactWriteItem::builder().put(plain).build(),
    ]
}

#[tokio::test]
async fn when_a_transaction_is_written_the_request_should_be_the_sdks_with_a_fresh_token() {
    let (sdk, wire, rec) = clients();
    sdk.transact_write_items()
        .set_transact_items(Some(writes()))
        .client_request_token("8b2c6a34-52c1-4f0e-9d3e-0a4b5c6d7e8f")
        .send()
        .await
        .unwrap();
    wire.transact_write_with_token(&ours(), "8b2c6a34-52c1-4f0e-9d3e-0a4b5c6d7e8f")
        .await
        .unwrap();
    let seen = rec.take();
    assert_eq!(seen[0].0, "DynamoDB_20120810.TransactWriteItems");
    assert_eq!(seen[0], seen[1]);
    assert_eq!(seen[0].1["TransactItems"].as_array().unwrap().len(), 5);

    // Without a token of its own, each call gets a fresh one, as the SDK
    // gives one.
    sdk.transact_write_items()
        .set_transact_items(Some(writes()))
        .send()
        .await
        .unwrap();
    wire.transact_write(&ours()).await.unwrap();
    wire.transact_write(&ours()).await.unwrap();
    let seen = rec.take();
    let token = |i: usize| {
        seen[i].1["ClientRequestToken"]
            .as_str()
            .unwrap()
            .to_string()
    };
    for i in 0..3 {
        let t = token(i);
        assert_eq!(t.len(), 36, "{t}");
        assert_eq!(&t[14..15], "4", "version 4: {t}");
    }
    assert_ne!(token(1), token(2), "a fresh token per call");
}

#[test]
fn a_write_the_sdks_types_could_not_hold_should_be_refused_before_it_is_sent() {
    assert!(write::transact_body(&ours(), "t").is_ok());
    let refused = |change: &dyn Fn(&mut Vec<TxWrite<'static>>)| {
        let mut w = ours();
        change(&mut w);
        write::transact_body(&w, "t").unwrap_err()
    };
    // A map's JSON has each name once (the SDK's maps cannot hold two).
    let e = refused(&|w| w[4].attrs.push(("PK".into(), s("again"))));
    assert!(e.contains("PK twice"), "{e}");
    let e = refused(&|w| w[1].values.push((":c".into(), s("c2"))));
    assert!(e.contains(":c twice"), "{e}");
    let e = refused(&|w| w[1].names.push(("#st", "state")));
    assert!(e.contains("#st twice"), "{e}");
    // What the SDK's builders require.
    let e = refused(&|w| w[1].update = None);
    assert!(e.contains("Update without"), "{e}");
    let e = refused(&|w| w[3].condition = None);
    assert!(e.contains("ConditionCheck without"), "{e}");
    let e = refused(&|w| w[0].update = Some("SET a = :v".into()));
    assert!(e.contains("Put with an update"), "{e}");
}

#[tokio::test]
async fn when_a_transaction_is_retried_it_should_keep_its_token() {
    let (sdk, rec) = sdk_config("3");
    let wire = Dynamo::new(&sdk, SharedHttpConnector::new(rec.clone())).unwrap();
    rec.answer(
        500,
        r#"{"__type":"com.amazonaws.dynamodb.v20120810#InternalServerError"}"#,
    );
    let err = wire.transact_write(&ours()).await.unwrap_err();
    assert!(matches!(
        err,
        TransactError::Call(AwsError::Service { status: 500, .. })
    ));
    let seen = rec.take();
    assert_eq!(seen.len(), 3, "the standard mode's three attempts");
    assert!(
        seen.iter().all(|s| s.1 == seen[0].1),
        "one token, one request"
    );
}

#[tokio::test]
async fn when_a_transaction_is_cancelled_its_reasons_should_be_read_as_the_sdk_reads_them() {
    let (sdk, wire, rec) = clients();
    let answer = json!({
        "__type": "com.amazonaws.dynamodb.v20120810#TransactionCanceledException",
        "Message": "Transaction cancelled, please refer cancellation reasons for specific reasons [None, ConditionalCheckFailed, TransactionConflict]",
        "CancellationReasons": [
            {"Code": "None"},
            {"Code": "ConditionalCheckFailed", "Message": "The conditional request failed",
             "Item": every_kind_json()},
            {"Code": "TransactionConflict", "Message": "Transaction is ongoing for the item"}
        ]
    })
    .to_string();
    rec.answer(400, &answer);
    let theirs = sdk
        .transact_write_items()
        .set_transact_items(Some(writes()))
        .send()
        .await
        .unwrap_err();
    let theirs: Vec<(Option<String>, Option<Item>)> = match theirs.into_service_error() {
        aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError::TransactionCanceledException(tc) => tc
            .cancellation_reasons()
            .iter()
            .map(|r| (r.code().map(str::to_string), r.item().cloned()))
            .collect(),
        other => panic!("{other:?}"),
    };
    let ours = match wire.transact_write(&ours()).await.unwrap_err() {
        TransactError::Cancelled(c) => c.reasons,
        other => panic!("{other:?}"),
    };
    assert_eq!(ours, theirs);
    assert_eq!(ours[1].1, Some(every_kind()));
    assert_eq!(ours[2].0.as_deref(), Some("TransactionConflict"));
    assert_eq!(rec.take().len(), 2, "a cancellation is not retried");
}

#[tokio::test]
async fn when_an_answer_is_malformed_it_should_be_an_error_not_a_panic() {
    let (_, wire, rec) = clients();
    let k = key("a", "b");
    for body in [
        "not json",
        r#"{"Item": {"x": {}}}"#,
        r#"{"Item": {"x": {"S": 1}}}"#,
        r#"{"Item": {"x": {"B": "not base64!"}}}"#,
        r#"{"Item": []}"#,
    ] {
        rec.answer(200, body);
        let err = wire.get_item("t", &k, true).await.unwrap_err();
        assert!(matches!(err, AwsError::Answer { .. }), "{body}: {err}");
    }
    // A type this code does not know (the SDK would keep it as `Unknown`,
    // which only the SDK can make) is refused, not dropped.
    rec.answer(200, r#"{"Item": {"x": {"NEW": "?"}, "y": {"S": "ok"}}}"#);
    assert!(matches!(
        wire.get_item("t", &k, true).await.unwrap_err(),
        AwsError::Answer { .. }
    ));
    // A cancellation without reasons is still a cancellation.
    rec.answer(
        400,
        r#"{"__type":"com.amazonaws.dynamodb.v20120810#TransactionCanceledException","Message":"x"}"#,
    );
    assert!(matches!(
        wire.transact_write(&ours()).await.unwrap_err(),
        TransactError::Cancelled(c) if c.reasons.is_empty()
    ));
}

#[test]
fn when_no_endpoint_is_configured_it_should_be_the_one_the_sdk_resolves() {
    let sdk = |region: &str, fips: bool, dual: bool| {
        aws_config::SdkConfig::builder()
            .region(aws_config::Region::new(region.to_string()))
            .use_fips(fips)
            .use_dual_stack(dual)
            .behavior_version(aws_config::BehaviorVersion::latest())
            .build()
    };
    for (region, fips, dual, want) in [
        (
            "eu-west-1",
            false,
            false,
            "https://dynamodb.eu-west-1.amazonaws.com",
        ),
        (
            "us-east-1",
            true,
            false,
            "https://dynamodb-fips.us-east-1.amazonaws.com",
        ),
        (
            "cn-north-1",
            false,
            false,
            "https://dynamodb.cn-north-1.amazonaws.com.cn",
        ),
    ] {
        assert_eq!(endpoint(&sdk(region, fips, dual)).unwrap(), want);
    }
    let env = |vars: &'static [(&'static str, &'static str)]| {
        move |k: &str| {
            vars.iter()
                .find(|(n, _)| *n == k)
                .map(|(_, v)| v.to_string())
        }
    };
    let connector = SharedHttpConnector::new(Recorder::default());
    let at = |vars| {
        endpoint(&crate::aws::lambda_sdk_config(
            connector.clone(),
            &env(vars),
        ))
        .unwrap()
    };
    assert_eq!(
        at(&[
            ("AWS_REGION", "eu-west-1"),
            ("AWS_ENDPOINT_URL", "http://127.0.0.1:5000"),
        ]),
        "http://127.0.0.1:5000"
    );
    assert_eq!(
        at(&[
            ("AWS_REGION", "eu-west-1"),
            ("AWS_ENDPOINT_URL", "http://127.0.0.1:5000"),
            ("AWS_ENDPOINT_URL_DYNAMODB", "http://127.0.0.1:8000"),
        ]),
        "http://127.0.0.1:8000",
        "the service's own variable wins"
    );
    assert!(
        endpoint(
            &aws_config::SdkConfig::builder()
                .behavior_version(aws_config::BehaviorVersion::latest())
                .build()
        )
        .is_err(),
        "no region, no endpoint"
    );
}

#[test]
fn a_client_token_should_be_a_random_version_4_uuid() {
    let a = uuid_v4();
    assert_eq!(a.len(), 36, "{a}");
    for (i, c) in a.char_indices() {
        if matches!(i, 8 | 13 | 18 | 23) {
            assert_eq!(c, '-', "{a}");
        } else {
            assert!(c.is_ascii_hexdigit() && !c.is_ascii_uppercase(), "{a}");
        }
    }
    assert_eq!(&a[14..15], "4", "version 4: {a}");
    assert!("89ab".contains(&a[19..20]), "RFC 4122 variant: {a}");
    assert_ne!(a, uuid_v4());
}

#[test]
fn a_string_written_by_hand_should_be_what_serde_json_writes() {
    let mut every_byte = String::new();
    for c in (0u8..0x80).map(char::from) {
        every_byte.push(c);
    }
    for s in [
        "",
        "plain",
        "quote \" backslash \\ slash /",
        "line\nfeed\r\ttab\u{8}\u{c}",
        "caf\u{e9} \u{1f600} \u{2028}",
        every_byte.as_str(),
    ] {
        let mut out = Vec::new();
        super::write::string(&mut out, s);
        assert_eq!(
            String::from_utf8(out).unwrap(),
            serde_json::to_string(s).unwrap()
        );
    }
}

#[test]
fn a_string_written_by_hand_should_escape_wherever_the_byte_falls_in_its_eight_byte_words() {
    // The writer looks for bytes to escape eight at a time: every byte to
    // escape (and some that must not be, either side of the limits), at
    // every offset of a 24-byte text, alone and next to UTF-8 and another
    // escape.
    let mut specials: Vec<char> = (0u8..0x20).map(char::from).collect();
    specials.extend([
        '"',
        '\\',
        ' ',
        '!',
        '#',
        '[',
        ']',
        '\u{7f}',
        '\u{e9}',
        '\u{1f600}',
    ]);
    for c in specials {
        for at in 0..24 {
            for filler in [
                "abcdefghijklmnopqrstuvwx",
                "\u{e9}\u{e9}\u{e9}\u{e9}\u{e9}\u{e9}\u{e9}\u{e9}\u{e9}\u{e9}\u{e9}\u{e9}",
            ] {
                let mut s: String = filler.chars().take(at).collect();
                s.push(c);
                s.push_str(&filler.chars().skip(at).collect::<String>());
                for s in [s.clone(), format!("{s}\"{c}")] {
                    let mut out = Vec::new();
                    super::write::string(&mut out, &s);
                    assert_eq!(
                        String::from_utf8(out).unwrap(),
                        serde_json::to_string(&s).unwrap(),
                        "{s:?}"
                    );
                }
            }
        }
    }
}
