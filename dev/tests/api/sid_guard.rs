//! The `SID#` guard of a message sent through Twilio (issue 8 item 5): a
//! guard that already exists for *another* message never swallows a send,
//! and a Conversations webhook echo that stored our message first leaves
//! the `Idempotency-Key` answered with that stored message.

use crate::helpers::*;
use serde_json::json;
use std::time::Duration;

const CONVERSATIONS: &str = "/webhooks/twilio/conversations";

#[tokio::test]
async fn when_twilio_reuses_a_sid_of_another_message_the_send_should_still_be_stored_and_its_key_answered()
 {
    let t = spawn_app().await;
    let conv = t.create_booking_chat("bk_sid_reuse").await;
    let (cust, prov) = (customer(), provider());
    let first = t.send(&conv, &cust, "first").await;
    assert_eq!(first.status, 201, "{:?}", first.json);
    let sid = first.json["twilio_message_sid"]
        .as_str()
        .unwrap()
        .to_string();

    // A Twilio double hands out that SID again for the next message.
    t.standin.reuse_next_message_sid(&sid);
    let second = t
        .send_with_key(&conv, &cust, "second", "key-reused-sid")
        .await;
    assert_eq!(second.status, 201, "{:?}", second.json);
    assert_eq!(t.bodies(&conv, &cust).await, ["first", "second"]);
    assert_eq!(t.conversation_unread(&conv, &prov).await, 2);
    assert_eq!(t.unread_total(&prov).await, 2);

    // The key was answered with the stored message, not left pending.
    let again = t
        .send_with_key(&conv, &cust, "second", "key-reused-sid")
        .await;
    assert_eq!(again.status, 200, "{:?}", again.json);
    assert_eq!(again.json["id"], second.json["id"]);
    assert_eq!(t.bodies(&conv, &cust).await, ["first", "second"]);
}

#[tokio::test]
async fn when_the_webhook_echo_stored_the_message_first_the_key_should_answer_that_message() {
    let t = spawn_app_with(&[("TWILIO_TIMEOUT_MS", "8000")]).await;
    let conv = t.create_booking_chat("bk_echo_first").await;
    let ch = t.twilio_sid(&conv).await;
    let (cust, prov) = (customer(), provider());

    // Twilio takes the message, but its answer is slow: the Conversations
    // webhook of that message is processed before the send stores it.
    t.standin
        .hold_next_answer("POST", "/Messages", Duration::from_millis(2500));
    let sending = {
        let (http, base) = (t.http.clone(), t.base.clone());
        let (conv, cust) = (conv.clone(), cust.clone());
        tokio::spawn(async move {
            let r = http
                .post(format!("{base}/conversations/{conv}/messages"))
                .bearer_auth(cust)
                .header("Idempotency-Key", "key-echo-first")
                .json(&json!({"body": "on my way"}))
                .send()
                .await
                .unwrap();
            (
                r.status().as_u16(),
                r.json::<serde_json::Value>().await.unwrap(),
            )
        })
    };
    let mut held = Vec::new();
    for _ in 0..100 {
        held = t.standin.conversation_messages(&ch);
        if !held.is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let (sid, author, body, attributes, created) = held.pop().expect("Twilio got the message");
    let p = params(&[
        ("AccountSid", t.standin.account_sid()),
        ("EventType", "onMessageAdded"),
        ("ConversationSid", &ch),
        ("MessageSid", &sid),
        ("Index", "0"),
        ("Author", &author),
        ("Body", &body),
        ("DateCreated", &created),
        ("Attributes", &attributes),
        ("Source", "API"),
    ]);
    let (status, _) = t.standin.send_webhook(CONVERSATIONS, &p).await.unwrap();
    assert_eq!(status, 200);
    assert_eq!(t.drain().await, 1);
    assert_eq!(
        t.bodies(&conv, &prov).await,
        ["on my way"],
        "the echo stored it"
    );

    let (status, sent) = sending.await.unwrap();
    assert_eq!(status, 201, "{sent:?}");
    let messages = t.messages(&conv, &prov).await;
    assert_eq!(messages.len(), 1, "{messages:?}");
    assert_eq!(messages[0]["id"], sent["id"]);
    assert_eq!(t.conversation_unread(&conv, &prov).await, 1);

    // A repeat of the request answers the stored message, once.
    let again = t
        .send_with_key(&conv, &cust, "on my way", "key-echo-first")
        .await;
    assert_eq!(again.status, 200, "{:?}", again.json);
    assert_eq!(again.json["id"], sent["id"]);
    assert_eq!(t.standin.message_count(&ch), 1, "never sent twice");
    assert_eq!(t.bodies(&conv, &prov).await, ["on my way"]);
}
