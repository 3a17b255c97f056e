//! Bad input is refused with the documented status and code, always as
//! `{"error": {"code", "message"}}`, never as a 500.

use crate::helpers::*;
use reqwest::Method;
use serde_json::json;

async fn chat_with_messages(t: &TestApp, booking: &str, n: usize) -> String {
    let conv = t.create_booking_chat(booking).await;
    for i in 0..n {
        let r = t.send(&conv, &customer(), &format!("message {i}")).await;
        assert_eq!(r.status, 201, "{:?}", r.json);
    }
    conv
}

#[tokio::test]
async fn when_json_is_malformed_or_empty_it_should_be_400_invalid_json() {
    let t = spawn_app().await;
    let conv = t.create_booking_chat("bk_errors").await;
    let posts = [
        "/conversations".to_string(),
        format!("/conversations/{conv}/messages"),
        format!("/conversations/{conv}/participants"),
    ];
    for path in &posts {
        for body in ["{\"body\": ", "{'body': 'x'}", "not json", "", "  \n"] {
            let r = t
                .call_raw(
                    Method::POST,
                    path,
                    Some(&service()),
                    Some("application/json"),
                    body,
                )
                .await;
            assert_error(&r, 400, "invalid_json");
        }
    }
    // The sends above (with a customer token, the one that may post) too.
    let r = t
        .call_raw(
            Method::POST,
            &posts[1],
            Some(&customer()),
            Some("application/json"),
            "{\"body\": \"unterminated",
        )
        .await;
    assert_error(&r, 400, "invalid_json");
    assert!(t.bodies(&conv, &customer()).await.is_empty());
}

#[tokio::test]
async fn when_the_content_type_is_not_json_it_should_be_415() {
    let t = spawn_app().await;
    let conv = t.create_booking_chat("bk_errors").await;
    let body = "{\"body\": \"hello\"}";
    let path = format!("/conversations/{conv}/messages");
    for ct in [
        Some("text/plain"),
        Some("application/x-www-form-urlencoded"),
        Some("application/jsonx"),
        None,
    ] {
        let r = t
            .call_raw(Method::POST, &path, Some(&customer()), ct, body)
            .await;
        assert_error(&r, 415, "unsupported_media_type");
    }
    // Parameters such as charset are allowed.
    let r = t
        .call_raw(
            Method::POST,
            &path,
            Some(&customer()),
            Some("application/json; charset=utf-8"),
            body,
        )
        .await;
    assert_eq!(r.status, 201, "{:?}", r.json);
    assert_eq!(t.bodies(&conv, &customer()).await, ["hello"]);

    let r = t
        .call_raw(
            Method::POST,
            "/conversations",
            Some(&customer()),
            Some("text/plain"),
            &booking_body("bk_plain").to_string(),
        )
        .await;
    assert_error(&r, 415, "unsupported_media_type");
}

#[tokio::test]
async fn when_required_fields_are_missing_or_mistyped_it_should_be_422_invalid_request() {
    let t = spawn_app().await;
    let conv = t.create_booking_chat("bk_errors").await;
    let cases = [
        ("/conversations".to_string(), json!({"booking_id": "bk_x"})),
        (
            "/conversations".to_string(),
            json!({"participants": booking_body("bk_x")["participants"]}),
        ),
        (
            "/conversations".to_string(),
            json!({"booking_id": 42, "participants": booking_body("bk_x")["participants"]}),
        ),
        ("/conversations".to_string(), json!([1, 2])),
        (format!("/conversations/{conv}/messages"), json!({})),
        (
            format!("/conversations/{conv}/messages"),
            json!({"text": "hi"}),
        ),
        (
            format!("/conversations/{conv}/messages"),
            json!({"body": 5}),
        ),
        (format!("/conversations/{conv}/messages"), json!("hi")),
        (
            format!("/conversations/{conv}/participants"),
            json!({"user_id": "cust_2"}),
        ),
    ];
    for (path, body) in cases {
        let r = t.post(&path, &customer(), body).await;
        assert_error(&r, 422, "invalid_request");
    }
    assert!(t.bodies(&conv, &customer()).await.is_empty());
}

#[tokio::test]
async fn when_a_message_body_is_empty_or_blank_it_should_be_422_empty_body() {
    let t = spawn_app().await;
    let conv = t.create_booking_chat("bk_errors").await;
    let twilio_sid = t.twilio_sid(&conv).await;
    for body in ["", " ", "   \n\t  "] {
        let r = t.send(&conv, &customer(), body).await;
        assert_error(&r, 422, "empty_body");
    }
    assert_eq!(t.standin.message_count(&twilio_sid), 0);
    assert!(t.bodies(&conv, &customer()).await.is_empty());
}

#[tokio::test]
async fn when_a_message_body_has_1601_characters_it_should_be_422_and_1600_accepted() {
    let t = spawn_app().await;
    let conv = t.create_booking_chat("bk_errors").await;
    let twilio_sid = t.twilio_sid(&conv).await;
    // Multi-byte characters: the limit counts characters, not bytes.
    let too_long = t.send(&conv, &customer(), &"é".repeat(1601)).await;
    assert_error(&too_long, 422, "body_too_long");
    let too_long = t.send(&conv, &customer(), &"a".repeat(1601)).await;
    assert_error(&too_long, 422, "body_too_long");
    assert_eq!(t.standin.message_count(&twilio_sid), 0);

    let exact = "é".repeat(1600);
    let ok = t.send(&conv, &customer(), &exact).await;
    assert_eq!(ok.status, 201, "{:?}", ok.json);
    assert_eq!(ok.json["body"], exact.as_str());
    assert_eq!(t.bodies(&conv, &customer()).await, [exact]);
    assert_eq!(t.standin.message_count(&twilio_sid), 1);
}

#[tokio::test]
async fn when_a_participant_user_type_is_unknown_it_should_be_422_invalid_user_type() {
    let t = spawn_app().await;
    let r = t
        .post(
            "/conversations",
            &service(),
            json!({
                "booking_id": "bk_types",
                "participants": [
                    {"user_id": "cust_1", "user_type": "customer"},
                    {"user_id": "prov_1", "user_type": "admin"}
                ]
            }),
        )
        .await;
    assert_error(&r, 422, "invalid_user_type");
    assert_eq!(t.standin.conversation_count(), 0);

    let conv = t.create_booking_chat("bk_types").await;
    let r = t
        .post(
            &format!("/conversations/{conv}/participants"),
            &service(),
            json!({"user_id": "agent_1", "user_type": "agent"}),
        )
        .await;
    assert_error(&r, 422, "invalid_user_type");
    let parts = t
        .get(&format!("/conversations/{conv}/participants"), &service())
        .await;
    assert_eq!(parts.json["participants"].as_array().unwrap().len(), 2);
}

#[tokio::test]
async fn when_ids_have_invalid_characters_it_should_be_422_invalid_field() {
    let t = spawn_app().await;
    let long = "b".repeat(129);
    for booking in ["bk#1", "bk 1", "bk/1", "", "bük", long.as_str()] {
        let r = t
            .post("/conversations", &customer(), booking_body(booking))
            .await;
        assert_error(&r, 422, "invalid_field");
    }
    let r = t
        .post(
            "/conversations",
            &service(),
            json!({
                "booking_id": "bk_ok",
                "participants": [
                    {"user_id": "cust#1", "user_type": "customer"},
                    {"user_id": "prov_1", "user_type": "provider"}
                ]
            }),
        )
        .await;
    assert_error(&r, 422, "invalid_field");
    let r = t
        .post(
            "/conversations",
            &service(),
            json!({
                "booking_id": "bk_ok",
                "participants": [
                    {"user_id": "cust_1", "user_type": "customer", "display_name": "   "},
                    {"user_id": "prov_1", "user_type": "provider"}
                ]
            }),
        )
        .await;
    assert_error(&r, 422, "invalid_field");
    assert_eq!(t.standin.conversation_count(), 0);

    // As a list filter, an invalid booking id is a 400.
    let r = t.get("/conversations?booking_id=bk%231", &customer()).await;
    assert_error(&r, 400, "invalid_booking_id");
}

#[tokio::test]
async fn when_participants_are_duplicated_or_lack_a_side_it_should_be_422_invalid_participants() {
    let t = spawn_app().await;
    let cases = [
        // The same user twice.
        json!([
            {"user_id": "cust_1", "user_type": "customer"},
            {"user_id": "prov_1", "user_type": "provider"},
            {"user_id": "cust_1", "user_type": "customer"}
        ]),
        json!([
            {"user_id": "cust_1", "user_type": "customer"},
            {"user_id": "cust_1", "user_type": "provider"}
        ]),
        // No provider.
        json!([
            {"user_id": "cust_1", "user_type": "customer"},
            {"user_id": "cust_2", "user_type": "customer"}
        ]),
        // Alone.
        json!([{"user_id": "cust_1", "user_type": "customer"}]),
        json!([]),
    ];
    for participants in cases {
        let r = t
            .post(
                "/conversations",
                &service(),
                json!({"booking_id": "bk_parts", "participants": participants}),
            )
            .await;
        assert_error(&r, 422, "invalid_participants");
    }
    assert_eq!(t.standin.conversation_count(), 0);
}

#[tokio::test]
async fn when_limit_is_out_of_range_or_not_a_number_it_should_be_400_invalid_limit() {
    let t = spawn_app().await;
    let conv = t.create_booking_chat("bk_limits").await;
    for limit in ["0", "abc", "-1", "101", "1.5", ""] {
        for path in [
            format!("/conversations?limit={limit}"),
            format!("/conversations/{conv}/messages?limit={limit}"),
        ] {
            let r = t.get(&path, &customer()).await;
            assert_error(&r, 400, "invalid_limit");
        }
    }
    for limit in ["1", "100"] {
        let r = t
            .get(&format!("/conversations?limit={limit}"), &customer())
            .await;
        assert_eq!(r.status, 200, "limit={limit}: {:?}", r.json);
    }
}

#[tokio::test]
async fn when_order_is_neither_asc_nor_desc_it_should_be_400_invalid_order() {
    let t = spawn_app().await;
    let conv = t.create_booking_chat("bk_order").await;
    for order in ["sideways", "ASC", ""] {
        let r = t
            .get(
                &format!("/conversations/{conv}/messages?order={order}"),
                &customer(),
            )
            .await;
        assert_error(&r, 400, "invalid_order");
    }
}

#[tokio::test]
async fn when_a_cursor_is_tampered_with_it_should_be_400_invalid_cursor() {
    let t = spawn_app().await;
    let conv = chat_with_messages(&t, "bk_cursor", 3).await;
    t.create_booking_chat("bk_cursor_2").await;

    let page = t
        .get(
            &format!("/conversations/{conv}/messages?limit=1"),
            &customer(),
        )
        .await;
    let cursor = page.json["next_cursor"].as_str().unwrap().to_string();
    let list = t.get("/conversations?limit=1", &customer()).await;
    let list_cursor = list.json["next_cursor"].as_str().unwrap().to_string();

    // Sanity: the untouched cursors work.
    let next = t
        .get(
            &format!("/conversations/{conv}/messages?limit=1&cursor={cursor}"),
            &customer(),
        )
        .await;
    assert_eq!(next.status, 200, "{:?}", next.json);
    assert_eq!(next.json["messages"][0]["body"], "message 1");
    let next = t
        .get(
            &format!("/conversations?limit=1&cursor={list_cursor}"),
            &customer(),
        )
        .await;
    assert_eq!(next.status, 200, "{:?}", next.json);

    for (path, good) in [
        (format!("/conversations/{conv}/messages?limit=1"), &cursor),
        ("/conversations?limit=1".to_string(), &list_cursor),
    ] {
        let (payload, tag) = good.split_once('.').unwrap();
        let flipped: String = {
            let mut b = payload.as_bytes().to_vec();
            b[1] = if b[1] == b'A' { b'B' } else { b'A' };
            String::from_utf8(b).unwrap()
        };
        let tampered = [
            format!("{flipped}.{tag}"),
            format!("{payload}.AAAAAAAAAAAAAAAAAAAAAA"),
            payload.to_string(),
            "garbage".to_string(),
            format!("{good}x"),
        ];
        for c in tampered {
            let r = t.get(&format!("{path}&cursor={c}"), &customer()).await;
            assert_error(&r, 400, "invalid_cursor");
        }
    }
}

#[tokio::test]
async fn when_a_cursor_is_replayed_by_another_user_or_elsewhere_it_should_be_400_invalid_cursor() {
    let t = spawn_app().await;
    let conv = chat_with_messages(&t, "bk_replay", 3).await;
    let other = chat_with_messages(&t, "bk_replay_2", 3).await;

    let page = t
        .get(
            &format!("/conversations/{conv}/messages?limit=1"),
            &customer(),
        )
        .await;
    let cursor = page.json["next_cursor"].as_str().unwrap().to_string();
    // The provider is a participant too, but the cursor is the customer's.
    let r = t
        .get(
            &format!("/conversations/{conv}/messages?limit=1&cursor={cursor}"),
            &provider(),
        )
        .await;
    assert_error(&r, 400, "invalid_cursor");
    // Bound to the order and the conversation as well.
    let r = t
        .get(
            &format!("/conversations/{conv}/messages?limit=1&order=desc&cursor={cursor}"),
            &customer(),
        )
        .await;
    assert_error(&r, 400, "invalid_cursor");
    let r = t
        .get(
            &format!("/conversations/{other}/messages?limit=1&cursor={cursor}"),
            &customer(),
        )
        .await;
    assert_error(&r, 400, "invalid_cursor");

    let list = t.get("/conversations?limit=1", &customer()).await;
    let list_cursor = list.json["next_cursor"].as_str().unwrap().to_string();
    let r = t
        .get(
            &format!("/conversations?limit=1&cursor={list_cursor}"),
            &provider(),
        )
        .await;
    assert_error(&r, 400, "invalid_cursor");
    // A message cursor is not a list cursor.
    let r = t
        .get(
            &format!("/conversations?limit=1&cursor={cursor}"),
            &customer(),
        )
        .await;
    assert_error(&r, 400, "invalid_cursor");
}

#[tokio::test]
async fn when_no_route_matches_it_should_be_404_and_a_wrong_method_405() {
    let t = spawn_app().await;
    for path in ["/nope", "/conversations/x/y/z", "/me", "/me/unread/extra"] {
        let r = t.get(path, &customer()).await;
        assert_error(&r, 404, "not_found");
    }
    let r = t
        .call(
            Method::DELETE,
            "/conversations",
            Some(&customer()),
            None,
            &[],
        )
        .await;
    assert_error(&r, 405, "method_not_allowed");
    let r = t
        .call(Method::PUT, "/me/unread", Some(&customer()), None, &[])
        .await;
    assert_error(&r, 405, "method_not_allowed");
}

#[tokio::test]
async fn when_a_conversation_id_is_malformed_it_should_be_404() {
    let t = spawn_app().await;
    for id in ["abc", "conv_", "conv_%23x", "CONV%23conv_1"] {
        let r = t.get(&format!("/conversations/{id}"), &service()).await;
        assert_error(&r, 404, "not_found");
    }
}

#[tokio::test]
async fn when_the_idempotency_key_is_invalid_it_should_be_400_before_the_body_is_read() {
    let t = spawn_app().await;
    let conv = t.create_booking_chat("bk_idem_key").await;
    let twilio_sid = t.twilio_sid(&conv).await;
    let long = "k".repeat(300);
    for key in [long.as_str(), "has space", "tab\tkey"] {
        let r = t.send_with_key(&conv, &customer(), "hello", key).await;
        assert_error(&r, 400, "invalid_idempotency_key");
    }
    // Checked before the body: a bad body does not mask it.
    let r = t
        .call(
            Method::POST,
            &format!("/conversations/{conv}/messages"),
            Some(&customer()),
            Some(json!({"body": ""})),
            &[("Idempotency-Key", long.as_str())],
        )
        .await;
    assert_error(&r, 400, "invalid_idempotency_key");
    assert_eq!(t.standin.message_count(&twilio_sid), 0);

    // 255 visible characters is the longest valid key.
    let max = "k".repeat(255);
    let r = t.send_with_key(&conv, &customer(), "hello", &max).await;
    assert_eq!(r.status, 201, "{:?}", r.json);
}

#[tokio::test]
async fn when_a_body_exceeds_64_kib_it_should_be_413() {
    let t = spawn_app().await;
    let conv = t.create_booking_chat("bk_big").await;
    let big = json!({"body": "x".repeat(70_000)}).to_string();
    let r = t
        .call_raw(
            Method::POST,
            &format!("/conversations/{conv}/messages"),
            Some(&customer()),
            Some("application/json"),
            &big,
        )
        .await;
    assert_error(&r, 413, "payload_too_large");
}
