//! The booking-chat rules against the in-memory adapters: no network, no
//! emulator. The same rules run over DynamoDB and Twilio in `dev/tests/api`.

use crate::app::App;
use crate::auth::{Caller, UserType};
use crate::chat::create::{CreateConversationInput, ParticipantInput, create_conversation};
use crate::chat::listing::list_conversations;
use crate::chat::participants::remove_participant;
use crate::chat::read::{mark_read, unread_total};
use crate::chat::send::send;
use crate::chat::status::update_status;
use crate::conversation::SendInput;
use crate::conversation::access::load_visible;
use crate::conversation::views::MessageView;
use crate::domain::IdempotencyKey;
use crate::error::ApiError;
use crate::memory::{ChatCall, FakeChat, MemoryStore, test_app};
use crate::transport::TwilioError;

type TestApp = App<MemoryStore, FakeChat>;

fn app() -> TestApp {
    test_app(FakeChat::default())
}

fn caller(user: &str, user_type: UserType) -> Caller {
    Caller {
        user_id: user.into(),
        user_type,
        org_id: None,
        role: None,
    }
}

fn ana() -> Caller {
    caller("cust_ana", UserType::Customer)
}

fn ben() -> Caller {
    caller("prov_ben", UserType::Provider)
}

/// The booking system, which opens booking chats.
fn booking_system() -> Caller {
    caller("booking-system", UserType::Service)
}

fn booking(id: &str) -> CreateConversationInput {
    let p = |user: &str, t: &str| ParticipantInput {
        user_id: user.into(),
        user_type: t.into(),
        display_name: None,
    };
    CreateConversationInput {
        booking_id: id.into(),
        participants: vec![p("cust_ana", "customer"), p("prov_ben", "provider")],
        conversation_type: None,
    }
}

fn body(text: &str) -> SendInput {
    SendInput {
        body: Some(text.into()),
        ..Default::default()
    }
}

async fn open_chat(app: &TestApp, id: &str) -> String {
    let (created, view) = create_conversation(app, &booking_system(), &booking(id))
        .await
        .unwrap();
    assert!(created);
    view.id
}

async fn say(
    app: &TestApp,
    who: &Caller,
    conv: &str,
    text: &str,
    key: Option<&str>,
) -> Result<(bool, MessageView), ApiError> {
    // A second between messages, as between people typing.
    app.clock.advance(chrono::Duration::seconds(1));
    let head = load_visible(app, who, conv).await?;
    let key = key.map(|k| IdempotencyKey::parse(k).unwrap());
    send(app, who, head, &body(text), key).await
}

fn sends(app: &TestApp) -> usize {
    app.twilio
        .calls()
        .iter()
        .filter(|c| matches!(c, ChatCall::Send { .. }))
        .count()
}

#[tokio::test]
async fn when_a_booking_chat_is_opened_twice_it_should_be_one_conversation_and_one_twilio_create() {
    let app = app();
    let first = open_chat(&app, "bk_1").await;
    let (created, again) = create_conversation(&app, &booking_system(), &booking("bk_1"))
        .await
        .unwrap();
    assert!(!created);
    assert_eq!(again.id, first);
    assert_eq!(again.participants.len(), 2);
    let creates: Vec<_> = app
        .twilio
        .calls()
        .into_iter()
        .filter(|c| matches!(c, ChatCall::Create { .. }))
        .collect();
    assert_eq!(
        creates,
        vec![ChatCall::Create {
            unique_name: first.clone(),
            identities: vec!["cust_ana".into(), "prov_ben".into()],
        }]
    );
}

#[tokio::test]
async fn when_a_customer_opens_a_chat_without_a_booking_directory_it_should_be_forbidden_and_a_stranger_sees_nothing()
 {
    let app = app();
    // Without a booking directory nobody but the booking system can open
    // a booking's chat: not a stranger, not even the booking's customer.
    let eve = caller("cust_eve", UserType::Customer);
    let err = create_conversation(&app, &eve, &booking("bk_2"))
        .await
        .unwrap_err();
    assert_eq!(err.code(), "not_a_participant");
    let err = create_conversation(&app, &ana(), &booking("bk_2"))
        .await
        .unwrap_err();
    assert_eq!(err.code(), "booking_not_verifiable");
    assert!(app.twilio.calls().is_empty(), "nothing reached Twilio");
    let conv = open_chat(&app, "bk_2").await;
    assert!(matches!(
        load_visible(&app, &eve, &conv).await,
        Err(ApiError::NotFound)
    ));
}

#[tokio::test]
async fn when_a_message_is_sent_the_other_side_should_count_it_unread_until_they_read() {
    let app = app();
    let conv = open_chat(&app, "bk_3").await;
    let (created, msg) = say(&app, &ben(), &conv, "on my way", None).await.unwrap();
    assert!(created);
    assert_eq!(msg.author_id, "prov_ben");
    assert_eq!(unread_total(&app, &ana()).await.unwrap(), 1);
    assert_eq!(unread_total(&app, &ben()).await.unwrap(), 0);

    let read = mark_read(&app, &ana(), &conv).await.unwrap();
    assert_eq!(read.unread_count, 0);
    assert_eq!(read.last_read_message_id.as_deref(), Some(msg.id.as_str()));
    assert_eq!(unread_total(&app, &ana()).await.unwrap(), 0);
    // The read horizon is mirrored to Twilio: the first message is index 0.
    assert!(
        app.twilio
            .calls()
            .iter()
            .any(|c| matches!(c, ChatCall::ReadIndex { index, .. } if *index == 0))
    );
}

#[tokio::test]
async fn when_a_keyed_send_is_repeated_it_should_reach_twilio_once_and_answer_the_same_message() {
    let app = app();
    let conv = open_chat(&app, "bk_4").await;
    let (created, first) = say(&app, &ana(), &conv, "hello", Some("k-1"))
        .await
        .unwrap();
    let (again, second) = say(&app, &ana(), &conv, "hello", Some("k-1"))
        .await
        .unwrap();
    assert!(created && !again);
    assert_eq!(first.id, second.id);
    assert_eq!(sends(&app), 1);
    assert_eq!(app.store.messages_of(&conv).len(), 1);

    let err = say(&app, &ana(), &conv, "another text", Some("k-1"))
        .await
        .unwrap_err();
    assert_eq!(err.code(), "idempotency_key_reused");
    assert_eq!(sends(&app), 1);
}

#[tokio::test]
async fn when_twilio_was_unreachable_the_key_should_be_released_and_a_retry_send_once() {
    let app = app();
    let conv = open_chat(&app, "bk_5").await;
    app.twilio
        .fail_next_send(TwilioError::Unavailable("refused".into()));
    let err = say(&app, &ana(), &conv, "hi", Some("k-2"))
        .await
        .unwrap_err();
    assert_eq!(err.code(), "twilio_unavailable");
    assert!(app.store.messages_of(&conv).is_empty());

    let (created, _) = say(&app, &ana(), &conv, "hi", Some("k-2")).await.unwrap();
    assert!(created);
    assert_eq!(sends(&app), 1);
    assert_eq!(app.store.messages_of(&conv).len(), 1);
}

#[tokio::test]
async fn when_twilio_timed_out_a_retry_with_the_same_key_should_be_delivery_unknown_and_not_resend()
{
    let app = app();
    let conv = open_chat(&app, "bk_6").await;
    app.twilio.fail_next_send(TwilioError::Timeout);
    let err = say(&app, &ana(), &conv, "hi", Some("k-3"))
        .await
        .unwrap_err();
    assert_eq!(err.code(), "twilio_timeout");
    let err = say(&app, &ana(), &conv, "hi", Some("k-3"))
        .await
        .unwrap_err();
    assert_eq!(err.code(), "delivery_unknown");
    assert_eq!(sends(&app), 0, "an ambiguous send is never repeated");
}

#[tokio::test]
async fn when_the_provider_answers_it_should_record_a_response_time() {
    let app = app();
    let conv = open_chat(&app, "bk_7").await;
    say(&app, &ana(), &conv, "are you coming?", None)
        .await
        .unwrap();
    say(&app, &ben(), &conv, "yes", None).await.unwrap();
    let head = load_visible(&app, &ana(), &conv).await.unwrap();
    assert_eq!(head.meta.message_count, 2);
    assert_eq!(head.meta.response_count, 1);
    assert!(head.meta.first_response_ms.is_some());
    assert_eq!(head.meta.last_message_preview.as_deref(), Some("yes"));
}

#[tokio::test]
async fn when_a_participant_leaves_they_should_lose_sight_of_it_and_may_not_remove_others() {
    let app = app();
    let conv = open_chat(&app, "bk_8").await;
    let err = remove_participant(&app, &ana(), &conv, "prov_ben")
        .await
        .unwrap_err();
    assert_eq!(err.code(), "cannot_remove_others");

    remove_participant(&app, &ana(), &conv, "cust_ana")
        .await
        .unwrap();
    assert!(matches!(
        load_visible(&app, &ana(), &conv).await,
        Err(ApiError::NotFound)
    ));
    let head = load_visible(&app, &ben(), &conv).await.unwrap();
    let left = head.participant("cust_ana").unwrap();
    assert!(!left.is_active && left.left_at.is_some());
    assert!(
        app.twilio
            .calls()
            .iter()
            .any(|c| matches!(c, ChatCall::RemoveParticipant { .. }))
    );
}

#[tokio::test]
async fn when_a_booking_chat_is_closed_it_should_close_in_twilio_and_refuse_sends_and_reopening() {
    let app = app();
    let conv = open_chat(&app, "bk_9").await;
    // Closing is irreversible in Twilio: the booking system's call.
    let err = update_status(&app, &ben(), &conv, "closed")
        .await
        .unwrap_err();
    assert_eq!(err.code(), "service_only");
    let (changed, view) = update_status(&app, &booking_system(), &conv, "closed")
        .await
        .unwrap();
    assert!(changed);
    assert_eq!(view.status.as_str(), "closed");
    assert!(app.twilio.calls().contains(&ChatCall::State {
        state: "closed".into()
    }));
    let err = say(&app, &ana(), &conv, "hello?", None).await.unwrap_err();
    assert_eq!(err.code(), "conversation_closed");
    let err = update_status(&app, &ana(), &conv, "active")
        .await
        .unwrap_err();
    assert_eq!(err.code(), "invalid_transition");
}

#[tokio::test]
async fn when_listing_it_should_show_each_caller_only_their_chats_newest_first_with_unread() {
    let app = app();
    let older = open_chat(&app, "bk_10").await;
    let newer = open_chat(&app, "bk_11").await;
    say(&app, &ben(), &older, "first", None).await.unwrap();
    say(&app, &ben(), &newer, "second", None).await.unwrap();
    let page = list_conversations(&app, &ana(), 10, None, None)
        .await
        .unwrap();
    let ids: Vec<_> = page.items.iter().map(|c| c.id.as_str()).collect();
    assert_eq!(ids, vec![newer.as_str(), older.as_str()]);
    assert!(page.items.iter().all(|c| c.unread_count == 1));
    let stranger = caller("cust_eve", UserType::Customer);
    let page = list_conversations(&app, &stranger, 10, None, None)
        .await
        .unwrap();
    assert!(page.items.is_empty());
}

#[tokio::test]
async fn when_the_conversation_changed_after_it_was_read_the_send_should_retry_and_store_once() {
    let app = app();
    let conv = open_chat(&app, "bk_12").await;
    // Ana's request read the conversation; Ben's message lands before hers.
    let stale = load_visible(&app, &ana(), &conv).await.unwrap();
    say(&app, &ben(), &conv, "first", None).await.unwrap();
    app.clock.advance(chrono::Duration::seconds(1));
    let (created, _) = send(&app, &ana(), stale, &body("second"), None)
        .await
        .unwrap();
    assert!(created);
    let head = load_visible(&app, &ana(), &conv).await.unwrap();
    assert_eq!(head.meta.message_count, 2);
    assert_eq!(head.meta.last_message_preview.as_deref(), Some("second"));
    assert_eq!(
        unread_total(&app, &ana()).await.unwrap(),
        1,
        "Ben's message"
    );
    assert_eq!(
        unread_total(&app, &ben()).await.unwrap(),
        1,
        "Ana's message"
    );
    assert_eq!(app.store.messages_of(&conv).len(), 2);
}

#[tokio::test]
async fn when_a_claim_was_left_pending_by_a_crash_a_repeat_should_be_in_progress_then_unknown() {
    let app = app();
    let conv = open_chat(&app, "bk_13").await;
    // An invocation claimed the key, then died before Twilio answered.
    let key = IdempotencyKey::parse("k-crash").unwrap();
    let claimed = crate::idempotency::claim(
        &app,
        &conv,
        &ana(),
        Some(key),
        crate::idempotency::request_hash("hi"),
        "msg_lost",
    )
    .await
    .unwrap();
    assert!(matches!(claimed, crate::idempotency::Claim::Fresh(Some(_))));

    let err = say(&app, &ana(), &conv, "hi", Some("k-crash"))
        .await
        .unwrap_err();
    assert_eq!(err.code(), "request_in_progress", "it may still be running");
    app.clock.advance(chrono::Duration::seconds(
        crate::idempotency::PENDING_CLAIM_TIMEOUT_SECS + 1,
    ));
    let err = say(&app, &ana(), &conv, "hi", Some("k-crash"))
        .await
        .unwrap_err();
    assert_eq!(
        err.code(),
        "delivery_unknown",
        "no invocation lives this long"
    );
    assert_eq!(sends(&app), 0, "never re-sent blindly");
}
