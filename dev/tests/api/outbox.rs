//! Storage failing after Twilio accepted a send (issue 8 item 4): the
//! answer is 202 with the message marked `pending_store`, the message goes
//! to the queue as an outbox record, and `process-inbound` stores it once,
//! with its counters and its `Idempotency-Key` answered. Storage failures
//! are injected by the fault proxy in front of the emulator.

use crate::helpers::*;
use dev::faults::Fault;
use serde_json::json;
use shared::inbox::inbox_conversation_id;
use std::time::Duration;

/// Every attempt the AWS SDK makes (3) at the next `TransactWriteItems`
/// fails with a 500.
fn fail_next_message_write(f: &Faults) {
    for nth in 1..=3 {
        f.aws.inject("TransactWriteItems", nth, Fault::ServerError);
    }
}

#[tokio::test]
async fn when_storage_fails_after_twilio_accepted_a_chat_message_it_should_be_202_and_stored_once_through_the_queue()
 {
    let (t, f) = spawn_app_with_faults(&[], Duration::from_millis(300)).await;
    let conv = t.create_booking_chat("bk_outbox_chat").await;
    let ch = t.twilio_sid(&conv).await;
    let (cust, prov) = (customer(), provider());

    fail_next_message_write(&f);
    let r = t
        .send_with_key(&conv, &cust, "running late", "key-outbox-1")
        .await;
    assert_eq!(r.status, 202, "{:?}", r.json);
    assert_eq!(r.json["pending_store"], true, "{:?}", r.json);
    assert_eq!(r.json["body"], "running late");
    assert_eq!(f.aws.injected().len(), 3);
    assert_eq!(t.standin.message_count(&ch), 1);

    // The queue finishes the write: once, with the counters.
    assert_eq!(t.drain().await, 1);
    t.assert_queue_empty().await;
    let messages = t.messages(&conv, &prov).await;
    assert_eq!(messages.len(), 1, "{messages:?}");
    assert_eq!(messages[0]["id"], r.json["id"]);
    assert!(messages[0].get("pending_store").is_none());
    assert_eq!(t.conversation_unread(&conv, &prov).await, 1);
    assert_eq!(t.unread_total(&prov).await, 1);

    // The client's retry gets the stored message and never sends again.
    let again = t
        .send_with_key(&conv, &cust, "running late", "key-outbox-1")
        .await;
    assert_eq!(again.status, 200, "{:?}", again.json);
    assert_eq!(again.json["id"], r.json["id"]);
    assert_eq!(t.standin.message_count(&ch), 1);

    // A redelivered outbox record changes nothing.
    let record = shared::outbox::OutboxRecord::new(
        &shared::store::Message {
            id: r.json["id"].as_str().unwrap().into(),
            conversation_id: conv.clone(),
            author_id: "cust_1".into(),
            author_type: shared::domain::AuthorType::Customer,
            body: "running late".into(),
            created_at: r.json["created_at"].as_str().unwrap().into(),
            twilio_sid: r.json["twilio_message_sid"].as_str().map(str::to_string),
            twilio_index: Some(0),
            status: shared::domain::MessageStatus::Sent,
            details: None,
            error_code: None,
        },
        None,
    );
    shared::inbox::process(t.app, &serde_json::to_string(&record).unwrap())
        .await
        .unwrap();
    assert_eq!(t.bodies(&conv, &prov).await, ["running late"]);
    assert_eq!(t.conversation_unread(&conv, &prov).await, 1);
}

#[tokio::test]
async fn when_storage_fails_after_twilio_accepted_a_reply_it_should_be_202_and_stored_once_with_its_statuses()
 {
    const ORG: &str = "org_outbox";
    let (t, f) = spawn_app_with_faults(&[], Duration::from_millis(300)).await;
    let business = "whatsapp:+15550001111";
    let contact = "whatsapp:+15557654321";
    t.register_number(business, ORG).await;
    t.inbound(contact, business, "is Friday free?").await;
    assert_eq!(t.drain().await, 1);
    let conv = inbox_conversation_id(ORG, "twilio", "whatsapp", contact);
    let agent = agent_of("agent_1", ORG);

    fail_next_message_write(&f);
    let r = t
        .call(
            reqwest::Method::POST,
            &format!("/conversations/{conv}/messages"),
            Some(&agent),
            Some(json!({"body": "Yes, 10am works"})),
            &[("Idempotency-Key", "key-outbox-reply")],
        )
        .await;
    assert_eq!(r.status, 202, "{:?}", r.json);
    assert_eq!(r.json["pending_store"], true);
    assert_eq!(t.standin.sms_count(), 1);

    // The outbox record and the stand-in's status callbacks, in any order.
    tokio::time::sleep(Duration::from_millis(300)).await;
    t.drain().await;
    t.assert_queue_empty().await;
    let replies: Vec<_> = t
        .messages(&conv, &agent)
        .await
        .into_iter()
        .filter(|m| m["author_type"] == "agent")
        .collect();
    assert_eq!(replies.len(), 1, "{replies:?}");
    assert_eq!(replies[0]["id"], r.json["id"]);
    assert_eq!(replies[0]["status"], "read", "{:?}", replies[0]);

    let again = t
        .call(
            reqwest::Method::POST,
            &format!("/conversations/{conv}/messages"),
            Some(&agent),
            Some(json!({"body": "Yes, 10am works"})),
            &[("Idempotency-Key", "key-outbox-reply")],
        )
        .await;
    assert_eq!(again.status, 200, "{:?}", again.json);
    assert_eq!(again.json["id"], r.json["id"]);
    assert_eq!(t.standin.sms_count(), 1, "never sent twice");
}
