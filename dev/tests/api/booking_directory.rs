//! Issue 8 item 1: a booking's chat only ever holds the booking's real
//! customer and provider. Service tokens open it with any participants; a
//! customer or provider only once the booking directory (`BOOKINGS_URL`)
//! confirms them. An existing chat is never returned to a create-or-get
//! naming other participants.

use crate::helpers::*;
use dev::bookings::DirectoryFault;
use serde_json::{Value, json};
use shared::auth::UserType;
use std::time::Duration;

fn body(booking: &str, customer: &str, provider: &str) -> Value {
    json!({
        "booking_id": booking,
        "participants": [
            {"user_id": customer, "user_type": "customer", "display_name": "C"},
            {"user_id": provider, "user_type": "provider", "display_name": "P"}
        ]
    })
}

fn participant_ids(r: &Resp) -> Vec<String> {
    let mut ids: Vec<String> = r.json["participants"]
        .as_array()
        .unwrap_or_else(|| panic!("no participants: {:?}", r.json))
        .iter()
        .map(|p| p["user_id"].as_str().unwrap().to_string())
        .collect();
    ids.sort();
    ids
}

fn retry_after(r: &Resp) -> u64 {
    r.headers
        .get("retry-after")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("no Retry-After: {:?}", r.headers))
}

#[tokio::test]
async fn when_an_impostor_opens_a_bookings_chat_first_it_should_be_403_and_the_real_chat_unaffected()
 {
    let t = spawn_app().await;
    t.bookings.seed("bk_real", "cust_1", "prov_1");
    let eve = token("cust_eve", UserType::Customer);

    // Before the fix this was 201 and the booking system later got Eve's chat.
    let r = t
        .post(
            "/conversations",
            &eve,
            body("bk_real", "cust_eve", "prov_1"),
        )
        .await;
    assert_error(&r, 403, "booking_participants_not_verified");
    assert_eq!(t.bookings.lookups(), ["bk_real"]);
    assert_eq!(
        t.standin.conversation_count(),
        0,
        "nothing created at Twilio"
    );

    let real = t
        .post(
            "/conversations",
            &service(),
            body("bk_real", "cust_1", "prov_1"),
        )
        .await;
    assert_eq!(real.status, 201, "{:?}", real.json);
    assert_eq!(participant_ids(&real), ["cust_1", "prov_1"]);
    let listed = t.get("/conversations", &eve).await;
    assert_eq!(listed.json["items"], json!([]));
}

#[tokio::test]
async fn when_the_directory_confirms_the_participants_a_customer_or_provider_should_open_the_chat()
{
    let t = spawn_app().await;
    t.bookings.clear_fallback();
    t.bookings.seed("bk_ok", "cust_1", "prov_1");

    let r = t
        .post(
            "/conversations",
            &customer(),
            body("bk_ok", "cust_1", "prov_1"),
        )
        .await;
    assert_eq!(r.status, 201, "{:?}", r.json);
    let again = t
        .post(
            "/conversations",
            &provider(),
            body("bk_ok", "cust_1", "prov_1"),
        )
        .await;
    assert_eq!(again.status, 200, "{:?}", again.json);
    assert_eq!(again.json["id"], r.json["id"]);

    // The right people on the wrong booking, and an unknown booking: 403.
    t.bookings.seed("bk_other", "cust_2", "prov_1");
    for booking in ["bk_other", "bk_unknown"] {
        let r = t
            .post(
                "/conversations",
                &customer(),
                body(booking, "cust_1", "prov_1"),
            )
            .await;
        assert_error(&r, 403, "booking_participants_not_verified");
    }
    // A verified customer may not bring a third person along.
    t.bookings.seed("bk_three", "cust_1", "prov_1");
    let mut three = body("bk_three", "cust_1", "prov_1");
    three["participants"]
        .as_array_mut()
        .unwrap()
        .push(json!({"user_id": "cust_2", "user_type": "customer"}));
    let r = t.post("/conversations", &customer(), three).await;
    assert_error(&r, 403, "booking_participants_not_verified");
    assert_eq!(t.standin.conversation_count(), 1);
}

#[tokio::test]
async fn when_no_directory_is_configured_only_a_service_should_open_a_booking_chat() {
    let t = spawn_app_without_directory().await;
    for tok in [customer(), provider()] {
        let r = t
            .post("/conversations", &tok, body("bk_nodir", "cust_1", "prov_1"))
            .await;
        assert_error(&r, 403, "booking_not_verifiable");
    }
    assert_eq!(t.standin.conversation_count(), 0);
    let r = t
        .post(
            "/conversations",
            &service(),
            body("bk_nodir", "cust_1", "prov_1"),
        )
        .await;
    assert_eq!(r.status, 201, "{:?}", r.json);
    // Once it exists, its participants still cannot create-or-get it without
    // a directory (nothing to verify against); they read it directly.
    let id = r.json["id"].as_str().unwrap();
    let got = t.get(&format!("/conversations/{id}"), &customer()).await;
    assert_eq!(got.status, 200, "{:?}", got.json);
}

#[tokio::test]
async fn when_the_directory_fails_or_stalls_it_should_be_503_with_retry_after_and_create_nothing() {
    let t = spawn_app().await;
    for fault in [
        DirectoryFault::Status(503),
        DirectoryFault::Status(500),
        DirectoryFault::Status(401),
        DirectoryFault::Stall(Duration::from_millis(1500)),
    ] {
        t.bookings.fail(fault);
        let r = t
            .post("/conversations", &customer(), booking_body("bk_down"))
            .await;
        assert_error(&r, 503, "booking_directory_unavailable");
        assert!(retry_after(&r) >= 1, "{fault:?}");
    }
    assert_eq!(t.standin.conversation_count(), 0);
    t.bookings.heal();
    let r = t
        .post("/conversations", &customer(), booking_body("bk_down"))
        .await;
    assert_eq!(r.status, 201, "{:?}", r.json);
}

#[tokio::test]
async fn when_the_directory_is_unreachable_it_should_be_503() {
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", closed.local_addr().unwrap());
    drop(closed);
    let t = spawn_app_with(&[("BOOKINGS_URL", url.as_str())]).await;
    let r = t
        .post("/conversations", &customer(), booking_body("bk_unreach"))
        .await;
    assert_error(&r, 503, "booking_directory_unavailable");
    assert!(retry_after(&r) >= 1);
    assert_eq!(t.standin.conversation_count(), 0);
}

#[tokio::test]
async fn when_a_chat_exists_with_other_participants_create_or_get_should_be_409_for_everyone() {
    let t = spawn_app().await;
    // The booking system opened it with cust_9 (say, before a reassignment).
    let first = t
        .post(
            "/conversations",
            &service(),
            body("bk_mm", "cust_9", "prov_1"),
        )
        .await;
    assert_eq!(first.status, 201, "{:?}", first.json);

    let r = t
        .post(
            "/conversations",
            &service(),
            body("bk_mm", "cust_1", "prov_1"),
        )
        .await;
    assert_error(&r, 409, "booking_participants_mismatch");
    assert!(
        r.json.get("id").is_none(),
        "never the other chat: {:?}",
        r.json
    );
    // A verified customer gets the same answer, never the chat.
    let r = t
        .post(
            "/conversations",
            &customer(),
            body("bk_mm", "cust_1", "prov_1"),
        )
        .await;
    assert_error(&r, 409, "booking_participants_mismatch");
    assert_error(
        &t.get(
            &format!("/conversations/{}", first.json["id"].as_str().unwrap()),
            &customer(),
        )
        .await,
        404,
        "not_found",
    );
    // The same participants (display names aside) get the chat.
    let mut same = body("bk_mm", "cust_9", "prov_1");
    same["participants"][0]["display_name"] = json!("Someone else");
    let r = t.post("/conversations", &service(), same).await;
    assert_eq!(r.status, 200, "{:?}", r.json);
    assert_eq!(r.json["id"], first.json["id"]);
    assert_eq!(t.standin.conversation_count(), 1);
}

/// Issue 8 item 15: the old Node service's `conversation_type` and its
/// participants without `display_name`.
#[tokio::test]
async fn when_the_old_services_booking_chat_type_and_no_display_names_are_sent_it_should_be_201() {
    let t = spawn_app().await;
    for (tok, booking) in [(service(), "bk_seed_svc"), (customer(), "bk_seed_cust")] {
        let r = t
            .post(
                "/conversations",
                &tok,
                json!({
                    "booking_id": booking,
                    "conversation_type": "booking_chat",
                    "participants": [
                        {"user_id": "cust_1", "user_type": "customer"},
                        {"user_id": "prov_1", "user_type": "provider"}
                    ]
                }),
            )
            .await;
        assert_eq!(r.status, 201, "{booking}: {:?}", r.json);
        assert_eq!(r.json["booking_id"], booking);
        let names: Vec<&str> = r.json["participants"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p["display_name"].as_str().unwrap())
            .collect();
        assert_eq!(names, ["cust_1", "prov_1"], "the user id stands in");
    }
    let r = t
        .post(
            "/conversations",
            &service(),
            json!({
                "booking_id": "bk_seed_bad",
                "conversation_type": "group",
                "participants": [
                    {"user_id": "cust_1", "user_type": "customer"},
                    {"user_id": "prov_1", "user_type": "provider"}
                ]
            }),
        )
        .await;
    assert_error(&r, 422, "invalid_conversation_type");
}
