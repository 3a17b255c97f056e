//! Twilio Conversations post-event webhooks for booking chats: messages
//! added by chat clients (or echoed from our own sends), participants
//! added and removed in Twilio, state changes, and events for conversations
//! this backend does not own.

use crate::helpers::*;
use serde_json::{Value, json};

const CONVERSATIONS: &str = "/webhooks/twilio/conversations";

fn im_sid() -> String {
    format!("IM{:032x}", ulid::Ulid::new().0)
}

fn now() -> String {
    shared::clock::format_ts(chrono::Utc::now())
}

/// A Conversations webhook's parameters: the common ones plus `extra`.
fn event(t: &TestApp, kind: &str, conv_sid: &str, extra: &[(&str, &str)]) -> Vec<(String, String)> {
    let mut p = params(&[
        ("AccountSid", t.standin.account_sid()),
        ("ChatServiceSid", "IS00000000000000000000000000000000"),
        ("EventType", kind),
        ("ConversationSid", conv_sid),
        ("Source", "SDK"),
        ("RetryCount", "0"),
    ]);
    p.extend(params(extra));
    p
}

fn message_added(
    t: &TestApp,
    conv_sid: &str,
    sid: &str,
    author: &str,
    body: &str,
    index: &str,
    attributes: &str,
) -> Vec<(String, String)> {
    event(
        t,
        "onMessageAdded",
        conv_sid,
        &[
            ("MessageSid", sid),
            ("Index", index),
            ("Author", author),
            ("Body", body),
            ("DateCreated", &now()),
            ("Attributes", attributes),
            ("ParticipantSid", "MB00000000000000000000000000000001"),
        ],
    )
}

/// Send a signed Conversations webhook: answered 200 with an empty body.
async fn send(t: &TestApp, p: &[(String, String)]) {
    let (status, body) = t.standin.send_webhook(CONVERSATIONS, p).await.unwrap();
    assert_eq!(status, 200, "{body}");
    assert!(body.is_empty(), "{body}");
}

async fn participants(t: &TestApp, conv: &str) -> Vec<Value> {
    let r = t
        .get(&format!("/conversations/{conv}/participants"), &service())
        .await;
    assert_eq!(r.status, 200, "{:?}", r.json);
    r.json["participants"].as_array().unwrap().clone()
}

fn find<'a>(list: &'a [Value], user: &str) -> Option<&'a Value> {
    list.iter().find(|p| p["user_id"] == user)
}

#[tokio::test]
async fn when_a_chat_client_adds_a_message_it_should_be_stored_once_and_counted_unread() {
    let t = spawn_app().await;
    let conv = t.create_booking_chat("bk_events_1").await;
    let ch = t.twilio_sid(&conv).await;
    let (cust, prov) = (customer(), provider());
    let sid = im_sid();
    let p = message_added(&t, &ch, &sid, "prov_1", "On my way", "0", "{}");

    send(&t, &p).await;
    assert_eq!(t.drain().await, 1);
    t.assert_queue_empty().await;
    let messages = t.messages(&conv, &cust).await;
    assert_eq!(messages.len(), 1, "{messages:?}");
    let m = &messages[0];
    assert_eq!(m["body"], "On my way");
    assert_eq!(m["author_id"], "prov_1");
    assert_eq!(m["author_type"], "provider");
    assert_eq!(m["twilio_message_sid"], sid.as_str());
    assert_eq!(t.conversation_unread(&conv, &cust).await, 1);
    assert_eq!(t.unread_total(&cust).await, 1);
    assert_eq!(t.conversation_unread(&conv, &prov).await, 0);
    let detail = t.get(&format!("/conversations/{conv}"), &cust).await;
    assert_eq!(detail.json["last_message"]["preview"], "On my way");

    // Twilio redelivers the event: still once, still one unread.
    send(&t, &p).await;
    send(&t, &p).await;
    assert_eq!(t.drain().await, 2);
    assert_eq!(t.bodies(&conv, &cust).await, ["On my way"]);
    assert_eq!(t.conversation_unread(&conv, &cust).await, 1);
    assert_eq!(t.unread_total(&cust).await, 1);
    let detail = t.get(&format!("/conversations/{conv}"), &cust).await;
    assert_eq!(detail.json["analytics"]["message_count"], 1);
}

#[tokio::test]
async fn when_the_webhook_echoes_a_message_the_backend_sent_it_should_not_be_stored_twice() {
    let t = spawn_app().await;
    let conv = t.create_booking_chat("bk_events_2").await;
    let ch = t.twilio_sid(&conv).await;
    let (cust, prov) = (customer(), provider());

    let sent = t.send(&conv, &cust, "See you at 10").await;
    assert_eq!(sent.status, 201, "{:?}", sent.json);
    let id = sent.json["id"].as_str().unwrap().to_string();
    let sid = sent.json["twilio_message_sid"]
        .as_str()
        .expect("twilio sid")
        .to_string();
    // It went through Twilio (the stand-in), which gave it that SID.
    assert!(
        t.standin
            .requests()
            .iter()
            .any(|r| r.method == "POST" && r.path.ends_with("/Messages")),
        "the message went through Twilio"
    );
    let attributes = json!({"message_id": id, "conversation_id": conv, "user_type": "customer"});
    let p = message_added(
        &t,
        &ch,
        &sid,
        "cust_1",
        "See you at 10",
        "0",
        &attributes.to_string(),
    );
    send(&t, &p).await;
    assert_eq!(t.drain().await, 1);
    t.assert_queue_empty().await;

    let messages = t.messages(&conv, &prov).await;
    assert_eq!(messages.len(), 1, "{messages:?}");
    assert_eq!(messages[0]["id"], id.as_str());
    assert_eq!(messages[0]["twilio_message_sid"], sid.as_str());
    assert_eq!(t.conversation_unread(&conv, &prov).await, 1);
    assert_eq!(t.unread_total(&prov).await, 1);
    assert_eq!(t.conversation_unread(&conv, &cust).await, 0);
}

#[tokio::test]
async fn when_participants_are_added_or_removed_in_twilio_the_list_should_follow() {
    let t = spawn_app().await;
    let conv = t.create_booking_chat("bk_events_3").await;
    let ch = t.twilio_sid(&conv).await;
    assert_eq!(participants(&t, &conv).await.len(), 2);

    let added = event(
        &t,
        "onParticipantAdded",
        &ch,
        &[
            ("ParticipantSid", "MB0000000000000000000000000000abcd"),
            ("Identity", "new_user"),
            (
                "Attributes",
                r#"{"user_type":"provider","display_name":"Cleo Helper"}"#,
            ),
            ("DateCreated", &now()),
        ],
    );
    send(&t, &added).await;
    send(&t, &added).await;
    assert_eq!(t.drain().await, 2);
    let list = participants(&t, &conv).await;
    assert_eq!(list.len(), 3, "{list:?}");
    let p = find(&list, "new_user").expect("new_user");
    assert_eq!(p["is_active"], true);
    assert_eq!(p["user_type"], "provider");
    assert_eq!(p["display_name"], "Cleo Helper");
    // The newcomer now sees the conversation.
    let newcomer = token("new_user", shared::auth::UserType::Provider);
    assert_eq!(
        t.get(&format!("/conversations/{conv}"), &newcomer)
            .await
            .status,
        200
    );

    let removed = event(
        &t,
        "onParticipantRemoved",
        &ch,
        &[
            ("ParticipantSid", "MB0000000000000000000000000000abcd"),
            ("Identity", "new_user"),
        ],
    );
    send(&t, &removed).await;
    assert_eq!(t.drain().await, 1);
    t.assert_queue_empty().await;
    let list = participants(&t, &conv).await;
    assert_eq!(list.len(), 3, "history is kept: {list:?}");
    let p = find(&list, "new_user").expect("new_user");
    assert_eq!(p["is_active"], false);
    assert!(p["left_at"].is_string(), "{p}");
    assert_eq!(find(&list, "cust_1").unwrap()["is_active"], true);
    assert_eq!(
        t.get(&format!("/conversations/{conv}"), &newcomer)
            .await
            .status,
        404
    );
}

#[tokio::test]
async fn when_twilio_closes_the_conversation_it_should_be_closed_here_too() {
    let t = spawn_app().await;
    let conv = t.create_booking_chat("bk_events_4").await;
    let ch = t.twilio_sid(&conv).await;
    let cust = customer();

    send(
        &t,
        &event(
            &t,
            "onConversationStateUpdated",
            &ch,
            &[
                ("StateFrom", "active"),
                ("StateTo", "closed"),
                ("Reason", "API"),
            ],
        ),
    )
    .await;
    assert_eq!(t.drain().await, 1);
    t.assert_queue_empty().await;
    let detail = t.get(&format!("/conversations/{conv}"), &cust).await;
    assert_eq!(detail.json["status"], "closed", "{:?}", detail.json);
    assert_error(
        &t.send(&conv, &cust, "still there?").await,
        409,
        "conversation_closed",
    );
}

#[tokio::test]
async fn when_an_event_names_a_conversation_this_backend_does_not_own_it_should_be_acknowledged() {
    let t = spawn_app().await;
    let conv = t.create_booking_chat("bk_events_5").await;
    let stranger = "CH0000000000000000000000000000dead";
    for p in [
        message_added(&t, stranger, &im_sid(), "someone", "hi", "0", "{}"),
        event(&t, "onParticipantAdded", stranger, &[("Identity", "x")]),
        event(
            &t,
            "onConversationStateUpdated",
            stranger,
            &[("StateTo", "closed")],
        ),
    ] {
        send(&t, &p).await;
    }
    assert_eq!(t.drain().await, 3);
    // Acknowledged: deleted from the queue, none left in flight to retry.
    t.assert_queue_empty().await;
    assert_eq!(t.queue_depth(&t.dlq_url).await, (0, 0));
    // And nothing of ours changed.
    assert!(t.bodies(&conv, &customer()).await.is_empty());
    assert_eq!(participants(&t, &conv).await.len(), 2);
}
