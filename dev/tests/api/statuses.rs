//! Delivery status callbacks on the messaging webhook: forward only, in any
//! order, duplicates harmless, terminal failures kept, and callbacks that
//! arrive before their message is stored are not lost.

use crate::helpers::*;
use serde_json::Value;
use shared::clock::format_ts;
use shared::domain::status_rank;
use shared::inbox::inbox_conversation_id;
use shared::ports::{ConversationStore, MessageStore};
use shared::store::{Message, StoreMessageOutcome};

const BUSINESS: &str = "whatsapp:+15550001111";
const CONTACT: &str = "whatsapp:+15551234567";
const ORG: &str = "org_a";

/// An inbox conversation, created the way production creates one: by an
/// inbound message through the webhook.
async fn inbox_conversation(t: &TestApp) -> String {
    t.register_number(BUSINESS, ORG).await;
    t.inbound(CONTACT, BUSINESS, "hello").await;
    assert_eq!(t.drain().await, 1);
    let conv = inbox_conversation_id(ORG, "twilio", "whatsapp", CONTACT);
    assert!(t.app.store.load_head(&conv).await.unwrap().is_some());
    conv
}

/// Store an outbound-style message with a Twilio SID, as a sender would.
async fn store_outbound(t: &TestApp, conv: &str, sid: &str, status: &str) -> StoreMessageOutcome {
    let head = t.app.store.load_head(conv).await.unwrap().expect("head");
    let now = chrono::Utc::now();
    let body = format!("reply {sid}");
    let msg = Message {
        id: format!("msg_{}", ulid::Ulid::new().to_string().to_lowercase()),
        conversation_id: conv.into(),
        author_id: "agent_1".into(),
        author_type: shared::domain::AuthorType::Agent,
        body: body.clone(),
        created_at: format_ts(now),
        twilio_sid: Some(sid.into()),
        twilio_index: None,
        status: shared::domain::MessageStatus::parse(status).expect("a known status"),
        details: None,
        error_code: None,
    };
    let fx = head
        .meta
        .message_effects(shared::domain::AuthorType::Agent, &body, now);
    t.app
        .store
        .store_message(&head, &msg, &fx, None)
        .await
        .unwrap()
}

async fn store_stored(t: &TestApp, conv: &str, sid: &str, status: &str) {
    assert!(
        matches!(
            store_outbound(t, conv, sid, status).await,
            StoreMessageOutcome::Stored
        ),
        "{sid} should be stored"
    );
}

fn callback(t: &TestApp, sid: &str, status: &str, error: Option<&str>) -> Vec<(String, String)> {
    let mut p = params(&[
        ("SmsSid", sid),
        ("SmsStatus", status),
        ("MessageStatus", status),
        ("To", CONTACT),
        ("MessageSid", sid),
        ("AccountSid", t.standin.account_sid()),
        ("From", BUSINESS),
        ("ApiVersion", "2010-04-01"),
    ]);
    if let Some(code) = error {
        p.push(("ErrorCode".into(), code.into()));
    }
    p
}

/// The status recorded on a SID, as text.
async fn recorded_text(t: &TestApp, sid: &str) -> Option<(String, Option<String>)> {
    t.app
        .store
        .recorded_status(sid)
        .await
        .unwrap()
        .map(|(status, code)| (status.as_str().to_string(), code))
}

/// Send a signed status callback through the gateway (not processed yet).
async fn send_status(t: &TestApp, sid: &str, status: &str, error: Option<&str>) {
    let (code, body) = t
        .standin
        .send_webhook(
            "/webhooks/twilio/messaging",
            &callback(t, sid, status, error),
        )
        .await
        .unwrap();
    assert_eq!(code, 200, "{body}");
}

/// The message with this SID as the org's agent sees it.
async fn message(t: &TestApp, conv: &str, sid: &str) -> Option<Value> {
    t.messages(conv, &agent_of("agent_1", ORG))
        .await
        .into_iter()
        .find(|m| m["twilio_message_sid"] == sid)
}

async fn status_of(t: &TestApp, conv: &str, sid: &str) -> String {
    message(t, conv, sid).await.expect("message")["status"]
        .as_str()
        .unwrap()
        .to_string()
}

/// A small deterministic generator, so a failing shuffle can be replayed.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
    fn shuffle<T>(&mut self, v: &mut [T]) {
        for i in (1..v.len()).rev() {
            v.swap(i, self.below(i + 1));
        }
    }
}

#[tokio::test]
async fn when_callbacks_arrive_in_order_the_message_should_end_read_and_never_go_back() {
    let t = spawn_app().await;
    let conv = inbox_conversation(&t).await;
    let sid = t.standin.new_message_sid();
    store_stored(&t, &conv, &sid, "queued").await;
    assert_eq!(status_of(&t, &conv, &sid).await, "queued");

    for (sent, expected) in [
        ("sent", "sent"),
        ("delivered", "delivered"),
        ("read", "read"),
        ("delivered", "read"),
    ] {
        send_status(&t, &sid, sent, None).await;
        assert_eq!(t.drain().await, 1);
        assert_eq!(status_of(&t, &conv, &sid).await, expected, "after {sent}");
    }
    t.assert_queue_empty().await;
    // Status callbacks are not messages: nothing new to read.
    assert_eq!(t.messages(&conv, &agent_of("agent_1", ORG)).await.len(), 2);
    assert_eq!(t.unread_total(&agent_of("agent_1", ORG)).await, 1);
}

#[tokio::test]
async fn when_callbacks_arrive_shuffled_or_duplicated_every_message_should_end_read() {
    let t = spawn_app().await;
    let conv = inbox_conversation(&t).await;
    let seed = std::env::var("STATUS_SHUFFLE_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| u64::from(ulid::Ulid::new().random() as u32) | 1);
    let mut rng = Rng(seed);

    let mut sids = Vec::new();
    for round in 0..10 {
        let sid = t.standin.new_message_sid();
        store_stored(&t, &conv, &sid, "sent").await;
        let mut seq = vec!["queued", "sent", "delivered", "read"];
        if round >= 5 {
            // Twilio retries: some callbacks twice or three times.
            for _ in 0..3 {
                let dup = seq[rng.below(seq.len())];
                seq.push(dup);
            }
        }
        rng.shuffle(&mut seq);
        if round % 2 == 0 {
            // One at a time, each processed before the next arrives.
            for s in &seq {
                send_status(&t, &sid, s, None).await;
                t.drain().await;
            }
        } else {
            // All at once: processed concurrently in one batch.
            futures::future::join_all(seq.iter().map(|s| send_status(&t, &sid, s, None))).await;
            t.drain().await;
        }
        assert_eq!(
            status_of(&t, &conv, &sid).await,
            "read",
            "seed {seed}, round {round}, order {seq:?}"
        );
        sids.push(sid);
    }
    t.assert_queue_empty().await;
    for sid in &sids {
        assert_eq!(status_of(&t, &conv, sid).await, "read", "seed {seed}");
    }
}

#[tokio::test]
async fn when_a_message_fails_it_should_stay_failed_and_keep_its_error_code() {
    let t = spawn_app().await;
    let conv = inbox_conversation(&t).await;
    let sid = t.standin.new_message_sid();
    store_stored(&t, &conv, &sid, "sent").await;

    send_status(&t, &sid, "failed", Some("30008")).await;
    assert_eq!(t.drain().await, 1);
    let m = message(&t, &conv, &sid).await.unwrap();
    assert_eq!(m["status"], "failed");
    assert_eq!(m["error_code"], "30008", "{m}");

    // Late or out-of-order callbacks cannot revive it.
    for late in ["delivered", "read", "sent", "undelivered"] {
        send_status(&t, &sid, late, None).await;
    }
    t.drain().await;
    let m = message(&t, &conv, &sid).await.unwrap();
    assert_eq!(m["status"], "failed", "{m}");
    assert_eq!(m["error_code"], "30008", "{m}");
    assert_eq!(
        recorded_text(&t, &sid).await,
        Some(("failed".to_string(), Some("30008".to_string())))
    );
}

#[tokio::test]
async fn when_callbacks_arrive_before_the_message_is_stored_their_status_should_be_kept_and_win() {
    let t = spawn_app().await;
    let conv = inbox_conversation(&t).await;
    let sid = t.standin.new_message_sid();

    // Twilio's callbacks beat the sender's write.
    send_status(&t, &sid, "delivered", None).await;
    assert_eq!(t.drain().await, 1);
    send_status(&t, &sid, "sent", None).await;
    assert_eq!(t.drain().await, 1);
    // Acknowledged, not left failing on the queue, and recorded.
    t.assert_queue_empty().await;
    assert_eq!(
        recorded_text(&t, &sid).await,
        Some(("delivered".to_string(), None))
    );
    assert!(message(&t, &conv, &sid).await.is_none());

    // Storing it with an older status is refused, not silently downgraded.
    assert!(matches!(
        store_outbound(&t, &conv, &sid, "sent").await,
        StoreMessageOutcome::Conflict
    ));
    assert!(message(&t, &conv, &sid).await.is_none());

    // The intended flow: the newer of its own and the recorded status.
    let (recorded, _) = recorded_text(&t, &sid).await.unwrap();
    let status = if status_rank(&recorded) > status_rank("sent") {
        recorded
    } else {
        "sent".to_string()
    };
    store_stored(&t, &conv, &sid, &status).await;
    assert_eq!(status_of(&t, &conv, &sid).await, "delivered");
    // Stored once: another message claiming the same SID is told whose
    // it is (issue 8 item 5), never stored over it.
    assert!(matches!(
        store_outbound(&t, &conv, &sid, &status).await,
        StoreMessageOutcome::SidTaken { .. }
    ));

    // Later callbacks apply to the stored message.
    send_status(&t, &sid, "read", None).await;
    assert_eq!(t.drain().await, 1);
    assert_eq!(status_of(&t, &conv, &sid).await, "read");
    let replies: Vec<Value> = t
        .messages(&conv, &agent_of("agent_1", ORG))
        .await
        .into_iter()
        .filter(|m| m["twilio_message_sid"] == sid.as_str())
        .collect();
    assert_eq!(replies.len(), 1);
}

#[tokio::test]
async fn when_a_callback_carries_a_status_this_backend_does_not_know_it_should_be_acknowledged_and_move_nothing()
 {
    let t = spawn_app().await;
    let conv = inbox_conversation(&t).await;
    let sid = t.standin.new_message_sid();
    store_stored(&t, &conv, &sid, "sent").await;
    send_status(&t, &sid, "partially_delivered", None).await;
    assert_eq!(t.drain().await, 1);
    t.assert_queue_empty().await;
    assert_eq!(status_of(&t, &conv, &sid).await, "sent");
    assert_eq!(recorded_text(&t, &sid).await, None, "nothing recorded");
    // A known status still moves it afterwards.
    send_status(&t, &sid, "delivered", None).await;
    assert_eq!(t.drain().await, 1);
    assert_eq!(status_of(&t, &conv, &sid).await, "delivered");
}

#[tokio::test]
async fn when_a_failure_arrives_after_delivery_it_should_keep_the_error_code_and_stay_delivered() {
    let t = spawn_app().await;
    let conv = inbox_conversation(&t).await;
    let sid = t.standin.new_message_sid();
    store_stored(&t, &conv, &sid, "sent").await;
    send_status(&t, &sid, "delivered", None).await;
    assert_eq!(t.drain().await, 1);
    send_status(&t, &sid, "failed", Some("30008")).await;
    assert_eq!(t.drain().await, 1);
    t.assert_queue_empty().await;
    let m = message(&t, &conv, &sid).await.unwrap();
    assert_eq!(
        m["status"], "delivered",
        "a confirmed delivery is not undone: {m}"
    );
    assert_eq!(m["error_code"], "30008", "{m}");
    // It still moves forward to read.
    send_status(&t, &sid, "read", None).await;
    assert_eq!(t.drain().await, 1);
    assert_eq!(status_of(&t, &conv, &sid).await, "read");
}

#[tokio::test]
async fn when_a_status_was_recorded_but_the_message_write_was_lost_a_redelivery_should_repair_it() {
    use aws_sdk_dynamodb::types::AttributeValue as A;
    let t = spawn_app().await;
    let conv = inbox_conversation(&t).await;
    let sid = t.standin.new_message_sid();
    store_stored(&t, &conv, &sid, "sent").await;
    // The first half of a status write that crashed before the second: the
    // SID item says delivered, the message still says sent.
    raw_dynamodb()
        .await
        .update_item()
        .table_name(t.app.store.table())
        .key("PK", A::S(format!("SID#{sid}")))
        .key("SK", A::S("#SID".into()))
        .update_expression("SET msg_status = :s, status_rank = :r")
        .expression_attribute_values(":s", A::S("delivered".into()))
        .expression_attribute_values(":r", A::N("5".into()))
        .send()
        .await
        .unwrap();
    assert_eq!(status_of(&t, &conv, &sid).await, "sent");
    // Twilio redelivers the same callback: the message catches up.
    send_status(&t, &sid, "delivered", None).await;
    assert_eq!(t.drain().await, 1);
    assert_eq!(status_of(&t, &conv, &sid).await, "delivered");
}
