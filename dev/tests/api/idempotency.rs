//! `Idempotency-Key` on sends: a repeat returns the first message and never
//! sends twice to Twilio.

use crate::helpers::*;
use futures::future::join_all;

#[tokio::test]
async fn when_a_send_is_repeated_with_the_same_key_it_should_return_the_first_message_once() {
    let t = spawn_app().await;
    let conv = t.create_booking_chat("bk_idem").await;
    let twilio_sid = t.twilio_sid(&conv).await;

    let first = t
        .send_with_key(&conv, &customer(), "See you at 10", "key-1")
        .await;
    assert_eq!(first.status, 201, "{:?}", first.json);
    let second = t
        .send_with_key(&conv, &customer(), "See you at 10", "key-1")
        .await;
    assert_eq!(second.status, 200, "{:?}", second.json);
    assert_eq!(second.json["id"], first.json["id"]);
    assert_eq!(second.json["created_at"], first.json["created_at"]);
    assert_eq!(
        second.json["twilio_message_sid"],
        first.json["twilio_message_sid"]
    );

    assert_eq!(t.standin.message_count(&twilio_sid), 1);
    assert_eq!(t.bodies(&conv, &provider()).await, ["See you at 10"]);
    assert_eq!(t.conversation_unread(&conv, &provider()).await, 1);
    assert_eq!(t.unread_total(&provider()).await, 1);
    let detail = t.get(&format!("/conversations/{conv}"), &customer()).await;
    assert_eq!(detail.json["analytics"]["message_count"], 1);
}

#[tokio::test]
async fn when_a_key_is_reused_for_a_different_body_it_should_be_422_idempotency_key_reused() {
    let t = spawn_app().await;
    let conv = t.create_booking_chat("bk_idem").await;
    let twilio_sid = t.twilio_sid(&conv).await;

    let first = t.send_with_key(&conv, &customer(), "first", "key-1").await;
    assert_eq!(first.status, 201, "{:?}", first.json);
    let other = t.send_with_key(&conv, &customer(), "second", "key-1").await;
    assert_error(&other, 422, "idempotency_key_reused");

    assert_eq!(t.standin.message_count(&twilio_sid), 1);
    assert_eq!(t.bodies(&conv, &customer()).await, ["first"]);
    assert_eq!(t.unread_total(&provider()).await, 1);
    // The original is still what the key replays.
    let again = t.send_with_key(&conv, &customer(), "first", "key-1").await;
    assert_eq!(again.status, 200, "{:?}", again.json);
    assert_eq!(again.json["id"], first.json["id"]);
}

#[tokio::test]
async fn when_another_participant_uses_the_same_key_it_should_be_independent() {
    let t = spawn_app().await;
    let conv = t.create_booking_chat("bk_idem").await;
    let twilio_sid = t.twilio_sid(&conv).await;

    let mine = t.send_with_key(&conv, &customer(), "hello", "shared").await;
    assert_eq!(mine.status, 201, "{:?}", mine.json);
    let theirs = t.send_with_key(&conv, &provider(), "hello", "shared").await;
    assert_eq!(theirs.status, 201, "{:?}", theirs.json);
    assert_ne!(theirs.json["id"], mine.json["id"]);
    assert_eq!(theirs.json["author_id"], "prov_1");

    assert_eq!(t.standin.message_count(&twilio_sid), 2);
    assert_eq!(t.bodies(&conv, &customer()).await, ["hello", "hello"]);
    assert_eq!(t.unread_total(&customer()).await, 1);
    assert_eq!(t.unread_total(&provider()).await, 1);
}

#[tokio::test]
async fn when_the_same_key_is_used_in_another_conversation_it_should_be_independent() {
    let t = spawn_app().await;
    let a = t.create_booking_chat("bk_idem_a").await;
    let b = t.create_booking_chat("bk_idem_b").await;

    let in_a = t.send_with_key(&a, &customer(), "hello", "k").await;
    assert_eq!(in_a.status, 201, "{:?}", in_a.json);
    let in_b = t.send_with_key(&b, &customer(), "hello", "k").await;
    assert_eq!(in_b.status, 201, "{:?}", in_b.json);
    assert_eq!(in_b.json["conversation_id"], b.as_str());
    assert_eq!(t.bodies(&a, &customer()).await, ["hello"]);
    assert_eq!(t.bodies(&b, &customer()).await, ["hello"]);
}

#[tokio::test]
async fn when_a_send_is_repeated_without_a_key_it_should_send_again() {
    let t = spawn_app().await;
    let conv = t.create_booking_chat("bk_idem").await;
    let twilio_sid = t.twilio_sid(&conv).await;
    let first = t.send(&conv, &customer(), "ping").await;
    let second = t.send(&conv, &customer(), "ping").await;
    assert_eq!((first.status.as_u16(), second.status.as_u16()), (201, 201));
    assert_ne!(first.json["id"], second.json["id"]);
    assert_eq!(t.standin.message_count(&twilio_sid), 2);
    assert_eq!(t.unread_total(&provider()).await, 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn when_five_sends_race_with_one_key_it_should_send_exactly_one_message() {
    let t = spawn_app().await;
    let conv = t.create_booking_chat("bk_idem_race").await;
    let twilio_sid = t.twilio_sid(&conv).await;
    let cust = customer();

    let results =
        join_all((0..5).map(|_| t.send_with_key(&conv, &cust, "only once", "race-key"))).await;

    assert_eq!(t.standin.message_count(&twilio_sid), 1);
    let created = results.iter().filter(|r| r.status == 201).count();
    assert_eq!(created, 1, "{:?}", statuses(&results));
    let ids: Vec<&str> = results
        .iter()
        .filter(|r| r.status.is_success())
        .map(|r| r.json["id"].as_str().unwrap())
        .collect();
    assert!(ids.iter().all(|id| *id == ids[0]), "{ids:?}");
    for r in results.iter().filter(|r| !r.status.is_success()) {
        assert_error(r, 409, "request_in_progress");
    }

    // Once settled, the key replays the one message.
    let replay = t.send_with_key(&conv, &cust, "only once", "race-key").await;
    assert_eq!(replay.status, 200, "{:?}", replay.json);
    assert_eq!(replay.json["id"], ids[0]);
    assert_eq!(t.bodies(&conv, &provider()).await, ["only once"]);
    assert_eq!(t.unread_total(&provider()).await, 1);
}

fn statuses(rs: &[Resp]) -> Vec<(u16, String)> {
    rs.iter()
        .map(|r| (r.status.as_u16(), r.code().to_string()))
        .collect()
}
