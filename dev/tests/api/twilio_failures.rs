//! Twilio refusing, throttling or stalling: the API reports it, stores
//! nothing it did not send, and never re-sends what may have been sent.

use crate::helpers::*;
use dev::standin::Fault;
use serde_json::{Value, json};
use shared::ports::ConversationStore;
use std::time::Duration;

fn twilio_500() -> Value {
    json!({
        "code": 20500,
        "message": "Internal Server Error",
        "more_info": "https://www.twilio.com/docs/errors/20500",
        "status": 500
    })
}

fn on_messages(status: u16, body: Value, delay: Duration, times: usize) -> Fault {
    Fault {
        method: "POST",
        path_suffix: "/Messages".into(),
        status,
        body,
        delay,
        times,
    }
}

fn rate_limited(times: usize) -> Fault {
    on_messages(
        429,
        json!({"code": 20429, "message": "Too Many Requests", "status": 429}),
        Duration::ZERO,
        times,
    )
}

/// Longer than the 400 ms Twilio client timeout the tests configure.
fn stalled() -> Fault {
    on_messages(
        201,
        json!({"sid": "IM00000000000000000000000000000fff", "index": 0, "author": "cust_1"}),
        Duration::from_millis(900),
        1,
    )
}

/// How many message sends reached the stand-in.
fn message_posts(t: &TestApp) -> usize {
    t.standin
        .requests()
        .iter()
        .filter(|r| r.method == "POST" && r.path.ends_with("/Messages"))
        .count()
}

async fn assert_nothing_stored(t: &TestApp, conv: &str) {
    assert!(t.bodies(conv, &customer()).await.is_empty());
    assert!(t.bodies(conv, &provider()).await.is_empty());
    assert_eq!(t.conversation_unread(conv, &provider()).await, 0);
    assert_eq!(t.unread_total(&provider()).await, 0);
    let detail = t.get(&format!("/conversations/{conv}"), &customer()).await;
    assert_eq!(detail.json["analytics"]["message_count"], 0);
    assert_eq!(detail.json["last_message"], Value::Null);
    let list = t.get("/conversations", &provider()).await;
    assert_eq!(list.json["items"][0]["unread_count"], 0);
    assert_eq!(list.json["items"][0]["last_message"], Value::Null);
}

#[tokio::test]
async fn when_twilio_answers_500_it_should_be_502_twilio_error_and_store_nothing() {
    let t = spawn_app().await;
    let conv = t.create_booking_chat("bk_tw500").await;
    let twilio_sid = t.twilio_sid(&conv).await;
    t.standin
        .inject(on_messages(500, twilio_500(), Duration::ZERO, 1));

    let r = t.send(&conv, &customer(), "hello").await;
    assert_error(&r, 502, "twilio_error");
    assert_eq!(r.json["error"]["twilio_code"], 20500);
    // The message is for the client, without Twilio's internals.
    let message = r.json["error"]["message"].as_str().unwrap();
    assert!(!message.contains("Internal Server Error"), "{message}");
    // A refusal is not retried.
    assert_eq!(message_posts(&t), 1);
    assert_eq!(t.standin.message_count(&twilio_sid), 0);
    assert_nothing_stored(&t, &conv).await;
}

#[tokio::test]
async fn when_twilio_keeps_rate_limiting_it_should_be_503_with_retry_after() {
    let t = spawn_app().await;
    let conv = t.create_booking_chat("bk_tw429").await;
    t.standin.inject(rate_limited(3));

    let r = t.send(&conv, &customer(), "hello").await;
    assert_error(&r, 503, "twilio_rate_limited");
    assert_eq!(r.json["error"]["twilio_code"], 20429, "{:?}", r.json);
    let retry_after: u64 = r
        .headers
        .get("retry-after")
        .expect("Retry-After header")
        .to_str()
        .unwrap()
        .parse()
        .expect("Retry-After in seconds");
    assert!(retry_after >= 1, "{retry_after}");
    // Throttled requests were not taken: they were retried, then given up.
    assert_eq!(message_posts(&t), 3);
    assert_nothing_stored(&t, &conv).await;
}

#[tokio::test]
async fn when_twilio_rate_limits_once_it_should_retry_and_send_once() {
    let t = spawn_app().await;
    let conv = t.create_booking_chat("bk_tw429_once").await;
    let twilio_sid = t.twilio_sid(&conv).await;
    t.standin.inject(rate_limited(1));

    let r = t.send(&conv, &customer(), "hello").await;
    assert_eq!(r.status, 201, "{:?}", r.json);
    assert_eq!(message_posts(&t), 2);
    assert_eq!(t.standin.message_count(&twilio_sid), 1);
    assert_eq!(t.bodies(&conv, &provider()).await, ["hello"]);
    assert_eq!(t.unread_total(&provider()).await, 1);
}

#[tokio::test]
async fn when_twilio_does_not_answer_in_time_it_should_be_502_twilio_timeout_and_store_nothing() {
    let t = spawn_app().await;
    let conv = t.create_booking_chat("bk_tw_slow").await;
    t.standin.inject(stalled());

    let r = t.send(&conv, &customer(), "hello").await;
    assert_error(&r, 502, "twilio_timeout");
    // The outcome is unknown, so it was not sent again.
    assert_eq!(message_posts(&t), 1);
    assert_nothing_stored(&t, &conv).await;
}

#[tokio::test]
async fn when_twilio_refused_a_keyed_send_a_retry_with_the_same_key_should_send() {
    let t = spawn_app().await;
    let conv = t.create_booking_chat("bk_tw500_key").await;
    let twilio_sid = t.twilio_sid(&conv).await;
    t.standin
        .inject(on_messages(500, twilio_500(), Duration::ZERO, 1));

    let failed = t.send_with_key(&conv, &customer(), "hello", "k-500").await;
    assert_error(&failed, 502, "twilio_error");
    let retried = t.send_with_key(&conv, &customer(), "hello", "k-500").await;
    assert_eq!(retried.status, 201, "{:?}", retried.json);

    assert_eq!(message_posts(&t), 2);
    assert_eq!(t.standin.message_count(&twilio_sid), 1);
    assert_eq!(t.bodies(&conv, &provider()).await, ["hello"]);
    assert_eq!(t.unread_total(&provider()).await, 1);
    let replay = t.send_with_key(&conv, &customer(), "hello", "k-500").await;
    assert_eq!(replay.status, 200, "{:?}", replay.json);
    assert_eq!(replay.json["id"], retried.json["id"]);
}

#[tokio::test]
async fn when_a_keyed_send_timed_out_a_retry_with_the_same_key_should_be_409_delivery_unknown() {
    let t = spawn_app().await;
    let conv = t.create_booking_chat("bk_tw_slow_key").await;
    t.standin.inject(stalled());

    let first = t.send_with_key(&conv, &customer(), "hello", "k-slow").await;
    assert_error(&first, 502, "twilio_timeout");
    let again = t.send_with_key(&conv, &customer(), "hello", "k-slow").await;
    assert_error(&again, 409, "delivery_unknown");
    assert_eq!(message_posts(&t), 1);
    assert_nothing_stored(&t, &conv).await;

    // A new key is a new message.
    let fresh = t
        .send_with_key(&conv, &customer(), "hello", "k-fresh")
        .await;
    assert_eq!(fresh.status, 201, "{:?}", fresh.json);
    assert_eq!(message_posts(&t), 2);
}

#[tokio::test]
async fn when_twilio_fails_to_update_the_read_index_marking_read_should_still_succeed() {
    let t = spawn_app().await;
    let conv = t.create_booking_chat("bk_tw_read").await;
    let twilio_sid = t.twilio_sid(&conv).await;
    assert_eq!(t.send(&conv, &customer(), "one").await.status, 201);
    assert_eq!(t.mark_read(&conv, &provider()).await.status, 200);
    assert_eq!(t.standin.last_read_index(&twilio_sid, "prov_1"), Some(0));

    let second = t.send(&conv, &customer(), "two").await;
    assert_eq!(second.status, 201);
    assert_eq!(t.unread_total(&provider()).await, 1);

    let head = t.app.store.load_head(&conv).await.unwrap().unwrap();
    let part_sid = head
        .participant("prov_1")
        .and_then(|p| p.twilio_sid.clone())
        .expect("provider's Twilio participant SID");
    let update_path = format!("/Participants/{part_sid}");
    t.standin.clear_requests();
    t.standin.inject(Fault {
        method: "POST",
        path_suffix: update_path.clone(),
        status: 500,
        body: twilio_500(),
        delay: Duration::ZERO,
        times: 1,
    });

    let read = t.mark_read(&conv, &provider()).await;
    assert_eq!(read.status, 200, "{:?}", read.json);
    assert_eq!(read.json["unread_count"], 0);
    assert_eq!(read.json["last_read_message_id"], second.json["id"]);
    // Twilio was asked, refused, and kept the old index.
    let tried = t
        .standin
        .requests()
        .iter()
        .filter(|r| r.method == "POST" && r.path.ends_with(&update_path))
        .count();
    assert_eq!(tried, 1);
    assert_eq!(t.standin.last_read_index(&twilio_sid, "prov_1"), Some(0));
    // Our read state stands.
    assert_eq!(t.unread_total(&provider()).await, 0);
    assert_eq!(t.conversation_unread(&conv, &provider()).await, 0);
    let detail = t.get(&format!("/conversations/{conv}"), &customer()).await;
    let prov = detail.json["participants"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["user_id"] == "prov_1")
        .unwrap()
        .clone();
    assert_eq!(prov["last_read_message_id"], second.json["id"]);
}

#[tokio::test]
async fn when_twilio_refuses_to_create_the_conversation_it_should_be_502_and_a_retry_should_create()
{
    let t = spawn_app().await;
    t.standin.inject(Fault {
        method: "POST",
        path_suffix: "/ConversationWithParticipants".into(),
        status: 500,
        body: twilio_500(),
        delay: Duration::ZERO,
        times: 1,
    });
    let r = t
        .post("/conversations", &customer(), booking_body("bk_tw_create"))
        .await;
    assert_error(&r, 502, "twilio_error");
    assert_eq!(r.json["error"]["twilio_code"], 20500);
    assert_eq!(t.standin.conversation_count(), 0);
    let lookup = t
        .get("/conversations?booking_id=bk_tw_create", &customer())
        .await;
    assert_eq!(lookup.json["items"], json!([]));
    assert_eq!(
        t.get("/conversations", &customer()).await.json["items"],
        json!([])
    );

    let retry = t
        .post("/conversations", &customer(), booking_body("bk_tw_create"))
        .await;
    assert_eq!(retry.status, 201, "{:?}", retry.json);
    assert_eq!(t.standin.conversation_count(), 1);
}
