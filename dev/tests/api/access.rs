//! Who may see and do what: strangers see nothing, bad credentials are 401
//! everywhere, and the create/send rules for callers and service tokens.

use crate::helpers::*;
use base64::Engine;
use reqwest::Method;
use serde_json::{Value, json};
use shared::auth::UserType;

/// Every conversation route, with a body that would be valid for a caller
/// allowed to use it.
fn conversation_routes(conv: &str, user: &str) -> Vec<(Method, String, Option<Value>)> {
    vec![
        (Method::GET, format!("/conversations/{conv}"), None),
        (Method::GET, format!("/conversations/{conv}/messages"), None),
        (
            Method::POST,
            format!("/conversations/{conv}/messages"),
            Some(json!({"body": "let me in"})),
        ),
        (Method::POST, format!("/conversations/{conv}/read"), None),
        (
            Method::GET,
            format!("/conversations/{conv}/participants"),
            None,
        ),
        (
            Method::POST,
            format!("/conversations/{conv}/participants"),
            Some(json!({"user_id": user, "user_type": "customer"})),
        ),
        (
            Method::DELETE,
            format!("/conversations/{conv}/participants/{user}"),
            None,
        ),
        (
            Method::DELETE,
            format!("/conversations/{conv}/participants/cust_1"),
            None,
        ),
    ]
}

/// Every route of the API.
fn all_routes(conv: &str) -> Vec<(Method, String, Option<Value>)> {
    let mut routes = vec![
        (
            Method::POST,
            "/conversations".to_string(),
            Some(booking_body("bk_other")),
        ),
        (Method::GET, "/conversations".to_string(), None),
        (
            Method::GET,
            "/conversations?booking_id=bk_access".to_string(),
            None,
        ),
        (Method::GET, "/me/unread".to_string(), None),
    ];
    routes.extend(conversation_routes(conv, "cust_1"));
    routes
}

#[tokio::test]
async fn when_a_stranger_calls_any_conversation_route_it_should_be_404_and_change_nothing() {
    let t = spawn_app().await;
    let conv = t.create_booking_chat("bk_access").await;
    assert_eq!(t.send(&conv, &customer(), "hello").await.status, 201);
    let twilio_sid = t.twilio_sid(&conv).await;

    for (user, kind) in [
        ("cust_9", UserType::Customer),
        ("prov_9", UserType::Provider),
    ] {
        let stranger = token(user, kind);
        for (method, path, body) in conversation_routes(&conv, user) {
            let r = t
                .call(method.clone(), &path, Some(&stranger), body, &[])
                .await;
            assert_eq!(
                r.status, 404,
                "{user}: {method} {path} -> {} {:?}",
                r.status, r.json
            );
            assert_eq!(r.json["error"]["code"], "not_found", "{method} {path}");
            assert!(r.json["error"]["message"].is_string());
        }
    }

    // Nothing the strangers tried took effect.
    assert_eq!(t.bodies(&conv, &customer()).await, ["hello"]);
    assert_eq!(t.standin.message_count(&twilio_sid), 1);
    let parts = t
        .get(&format!("/conversations/{conv}/participants"), &customer())
        .await;
    let ids: Vec<&str> = parts.json["participants"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|p| p["is_active"] == true)
        .map(|p| p["user_id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["cust_1", "prov_1"]);
    assert_eq!(t.unread_total(&provider()).await, 1);
}

#[tokio::test]
async fn when_a_stranger_lists_conversations_it_should_not_see_someone_elses() {
    let t = spawn_app().await;
    let conv = t.create_booking_chat("bk_private").await;
    // The stranger has a conversation of their own (a booking the booking
    // directory knows as theirs).
    t.bookings.seed("bk_own", "cust_9", "prov_9");
    let stranger = token("cust_9", UserType::Customer);
    let own = t
        .post(
            "/conversations",
            &stranger,
            json!({
                "booking_id": "bk_own",
                "participants": [
                    {"user_id": "cust_9", "user_type": "customer"},
                    {"user_id": "prov_9", "user_type": "provider"}
                ]
            }),
        )
        .await;
    assert_eq!(own.status, 201, "{:?}", own.json);
    let own_id = own.json["id"].as_str().unwrap();

    let by_booking = t
        .get("/conversations?booking_id=bk_private", &stranger)
        .await;
    assert_eq!(by_booking.status, 200, "{:?}", by_booking.json);
    assert_eq!(by_booking.json["items"], json!([]));
    assert_eq!(by_booking.json["next_cursor"], Value::Null);

    let list = t.get("/conversations", &stranger).await;
    assert_eq!(list.status, 200);
    let ids: Vec<&str> = list.json["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, [own_id]);
    assert!(!ids.contains(&conv.as_str()));

    // The participants do see it by booking.
    let mine = t
        .get("/conversations?booking_id=bk_private", &provider())
        .await;
    assert_eq!(mine.json["items"][0]["id"], conv.as_str());
}

/// The booking directory says `bk_taken` is cust_1's with prov_1, so the
/// stranger is refused before anything about the existing chat is revealed.
#[tokio::test]
async fn when_a_stranger_creates_the_conversation_of_an_existing_booking_it_should_be_403_not_verified()
 {
    let t = spawn_app().await;
    t.create_booking_chat("bk_taken").await;
    let r = t
        .post(
            "/conversations",
            &token("cust_9", UserType::Customer),
            json!({
                "booking_id": "bk_taken",
                "participants": [
                    {"user_id": "cust_9", "user_type": "customer"},
                    {"user_id": "prov_1", "user_type": "provider"}
                ]
            }),
        )
        .await;
    assert_error(&r, 403, "booking_participants_not_verified");
    assert_eq!(t.standin.conversation_count(), 1);
}

#[tokio::test]
async fn when_credentials_are_missing_or_invalid_every_route_should_be_401() {
    let t = spawn_app().await;
    let conv = t.create_booking_chat("bk_access").await;
    let twilio_sid = t.twilio_sid(&conv).await;

    let expired = format!("Bearer {}", token_expired("cust_1", UserType::Customer));
    let forged = format!(
        "Bearer {}",
        token_signed_with("some-other-secret-0123456789", "cust_1", UserType::Customer)
    );
    let basic = format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode("cust_1:password")
    );
    let garbage = "Bearer not.a.jwt".to_string();
    let variants: Vec<(&str, Vec<(&str, &str)>)> = vec![
        ("no Authorization", vec![]),
        ("expired token", vec![("authorization", expired.as_str())]),
        (
            "token signed with another secret",
            vec![("authorization", forged.as_str())],
        ),
        ("Basic auth", vec![("authorization", basic.as_str())]),
        ("malformed token", vec![("authorization", garbage.as_str())]),
        (
            "X-Twilio-Signature instead of a token",
            vec![("x-twilio-signature", "RSOYDt4T1cUTdK1PDd93/VVr8B8=")],
        ),
    ];

    for (what, headers) in &variants {
        for (method, path, body) in all_routes(&conv) {
            let r = t.call(method.clone(), &path, None, body, headers).await;
            assert_eq!(
                r.status, 401,
                "{what}: {method} {path} -> {} {:?}",
                r.status, r.json
            );
            assert_eq!(r.code(), "unauthorized", "{what}: {method} {path}");
            assert!(r.json["error"]["message"].is_string());
        }
    }

    // None of those requests did anything.
    assert_eq!(t.standin.conversation_count(), 1);
    assert_eq!(t.standin.message_count(&twilio_sid), 0);
    assert!(t.bodies(&conv, &customer()).await.is_empty());
    let parts = t
        .get(&format!("/conversations/{conv}/participants"), &customer())
        .await;
    assert!(
        parts.json["participants"]
            .as_array()
            .unwrap()
            .iter()
            .all(|p| p["is_active"] == true)
    );
}

#[tokio::test]
async fn when_a_customer_lists_themself_as_provider_it_should_be_403_user_type_mismatch() {
    let t = spawn_app().await;
    let r = t
        .post(
            "/conversations",
            &customer(),
            json!({
                "booking_id": "bk_mismatch",
                "participants": [
                    {"user_id": "cust_1", "user_type": "provider"},
                    {"user_id": "cust_2", "user_type": "customer"}
                ]
            }),
        )
        .await;
    assert_error(&r, 403, "user_type_mismatch");
    assert_eq!(t.standin.conversation_count(), 0);
    let lookup = t
        .get("/conversations?booking_id=bk_mismatch", &service())
        .await;
    assert_eq!(lookup.json["items"], json!([]));
}

#[tokio::test]
async fn when_a_caller_creates_a_conversation_they_are_not_in_it_should_be_403_not_a_participant() {
    let t = spawn_app().await;
    let r = t
        .post(
            "/conversations",
            &token("cust_9", UserType::Customer),
            booking_body("bk_for_others"),
        )
        .await;
    assert_error(&r, 403, "not_a_participant");
    assert_eq!(t.standin.conversation_count(), 0);
    let lookup = t
        .get("/conversations?booking_id=bk_for_others", &service())
        .await;
    assert_eq!(lookup.json["items"], json!([]));
}

#[tokio::test]
async fn when_a_service_token_creates_for_others_it_should_read_but_not_post() {
    let t = spawn_app().await;
    let svc = service();
    let created = t
        .post("/conversations", &svc, booking_body("bk_service"))
        .await;
    assert_eq!(created.status, 201, "{:?}", created.json);
    let conv = created.json["id"].as_str().unwrap().to_string();
    let users: Vec<&str> = created.json["participants"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["user_id"].as_str().unwrap())
        .collect();
    assert_eq!(users, ["cust_1", "prov_1"]);

    // The participants see it; the service can read it.
    let listed = t.get("/conversations", &customer()).await;
    assert_eq!(listed.json["items"][0]["id"], conv.as_str());
    let detail = t.get(&format!("/conversations/{conv}"), &svc).await;
    assert_eq!(detail.status, 200, "{:?}", detail.json);
    assert_eq!(detail.json["id"], conv.as_str());
    assert_eq!(detail.json["booking_id"], "bk_service");

    // But it may not post or mark read as if it were a participant.
    let sent = t.send(&conv, &svc, "from the system").await;
    assert_error(&sent, 403, "not_a_participant");
    let read = t.mark_read(&conv, &svc).await;
    assert_error(&read, 403, "not_a_participant");
    let twilio_sid = detail.json["twilio_conversation_sid"].as_str().unwrap();
    assert_eq!(t.standin.message_count(twilio_sid), 0);
    assert!(t.bodies(&conv, &customer()).await.is_empty());
}
