//! Agents' replies (window, templates, opt-out, idempotency) against the
//! in-memory adapters; the same rules run over DynamoDB and the Twilio
//! stand-in in `dev/tests/api/replies.rs`.

use chrono::Duration;

use crate::app::App;
use crate::auth::{Caller, UserType};
use crate::clock::format_ts;
use crate::conversation::SendInput;
use crate::conversation::access::load_visible;
use crate::conversation::views::MessageView;
use crate::domain::{AuthorType, IdempotencyKey, MessageStatus, inbox_conversation_id};
use crate::envelope::{Envelope, Source};
use crate::error::ApiError;
use crate::inbox::process;
use crate::inbox::reply::send_reply;
use crate::memory::{FakeMessaging, MemoryStore, register_whatsapp, test_app};
use crate::ports::InboxStore;
use crate::transport::{ERR_OPTED_OUT, TwilioError};

const ORG: &str = "org_a";
const BUSINESS: &str = "whatsapp:+15550001111";
const CONTACT: &str = "whatsapp:+15551234567";
const TEMPLATE: &str = "HX0123456789abcdef0123456789abcdef";

type TestApp = App<MemoryStore, FakeMessaging>;

async fn app() -> TestApp {
    let app = test_app(FakeMessaging::default());
    register_whatsapp(&app.store, BUSINESS, ORG).await;
    app
}

fn agent() -> Caller {
    Caller {
        user_id: "agent_dana".into(),
        user_type: UserType::Agent,
        org_id: Some(ORG.into()),
        role: None,
    }
}

/// The contact writes `hours_ago` hours before now.
async fn contact_writes(app: &TestApp, sid: &str, body: &str, hours_ago: i64) -> String {
    let at = format_ts(app.clock.now() - Duration::hours(hours_ago));
    let params = [
        ("MessageSid", sid),
        ("From", CONTACT),
        ("To", BUSINESS),
        ("Body", body),
    ]
    .iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    let env = Envelope::new(Source::Messaging, params, None, None, at);
    process(app, &serde_json::to_string(&env).unwrap())
        .await
        .unwrap();
    inbox_conversation_id(ORG, "twilio", "whatsapp", CONTACT)
}

async fn reply(
    app: &TestApp,
    conv: &str,
    input: SendInput,
    key: Option<&str>,
) -> Result<(bool, MessageView), ApiError> {
    let head = load_visible(app, &agent(), conv).await?;
    let key = key.map(|k| IdempotencyKey::parse(k).unwrap());
    send_reply(app, &agent(), head, &input, key).await
}

fn text(body: &str) -> SendInput {
    SendInput {
        body: Some(body.into()),
        ..Default::default()
    }
}

fn template() -> SendInput {
    SendInput {
        content_sid: Some(TEMPLATE.into()),
        content_variables: Some(serde_json::json!({"1": "Ana"})),
        ..Default::default()
    }
}

#[tokio::test]
async fn when_an_agent_replies_within_the_window_it_should_send_once_and_store_it() {
    let app = app().await;
    let conv = contact_writes(&app, "SM1", "hi", 1).await;
    let (created, msg) = reply(&app, &conv, text("hello Ana"), Some("r-1"))
        .await
        .unwrap();
    assert!(created);
    assert_eq!(
        (msg.author_type, msg.status),
        (AuthorType::Agent, MessageStatus::Queued)
    );
    let (again, same) = reply(&app, &conv, text("hello Ana"), Some("r-1"))
        .await
        .unwrap();
    assert!(!again);
    assert_eq!(same.id, msg.id);
    let sent = app.twilio.sent();
    assert_eq!(sent.len(), 1, "a repeat never re-sends");
    assert_eq!(
        (sent[0].from.as_str(), sent[0].to.as_str()),
        (BUSINESS, CONTACT)
    );
    assert_eq!(sent[0].body.as_deref(), Some("hello Ana"));
    // Status callbacks come back to the public webhook, with Twilio's
    // connection overrides so a 503 from ingest is retried.
    assert_eq!(
        sent[0].status_callback.as_deref(),
        Some("https://api.example.com/webhooks/twilio/messaging#rc=5&rp=all")
    );
    assert_eq!(app.store.messages_of(&conv).len(), 2);
}

#[tokio::test]
async fn when_the_window_has_closed_free_form_should_be_refused_and_a_template_sent() {
    let app = app().await;
    let conv = contact_writes(&app, "SM1", "hi", 25).await;
    let err = reply(&app, &conv, text("are you there?"), None)
        .await
        .unwrap_err();
    assert_eq!(err.code(), "outside_customer_service_window");
    assert!(app.twilio.sent().is_empty());

    let (created, msg) = reply(&app, &conv, template(), None).await.unwrap();
    assert!(created);
    assert!(msg.template.is_some());
    assert_eq!(app.twilio.sent()[0].content_sid.as_deref(), Some(TEMPLATE));
}

#[tokio::test]
async fn when_the_contact_opted_out_a_reply_should_be_refused_before_twilio() {
    let app = app().await;
    let conv = contact_writes(&app, "SM1", "STOP", 1).await;
    let err = reply(&app, &conv, text("wait"), None).await.unwrap_err();
    assert_eq!(err.code(), "contact_opted_out");
    assert!(app.twilio.sent().is_empty());
}

#[tokio::test]
async fn when_twilio_says_the_contact_opted_out_it_should_be_recorded_and_the_key_released() {
    let app = app().await;
    let conv = contact_writes(&app, "SM1", "hi", 1).await;
    app.twilio.fail_next_send(TwilioError::Api {
        status: 400,
        code: Some(ERR_OPTED_OUT),
        message: "opted out".into(),
        more_info: None,
    });
    let err = reply(&app, &conv, text("hello"), Some("r-2"))
        .await
        .unwrap_err();
    assert_eq!(err.code(), "contact_opted_out");
    let meta = app.store.conversation_meta(&conv).await.unwrap().unwrap();
    assert!(meta.inbox.unwrap().opted_out, "the opt-out is remembered");
    // Twilio provably sent nothing: the key is free, and now refused early.
    let err = reply(&app, &conv, text("hello"), Some("r-2"))
        .await
        .unwrap_err();
    assert_eq!(err.code(), "contact_opted_out");
    assert!(app.twilio.sent().is_empty());
}

#[tokio::test]
async fn when_someone_other_than_an_agent_replies_it_should_be_refused() {
    let app = app().await;
    let conv = contact_writes(&app, "SM1", "hi", 1).await;
    let service = Caller {
        user_id: "booking-system".into(),
        user_type: UserType::Service,
        org_id: None,
        role: None,
    };
    let head = load_visible(&app, &service, &conv).await.unwrap();
    let err = send_reply(&app, &service, head, &text("hi"), None)
        .await
        .unwrap_err();
    assert_eq!(err.code(), "agents_only");
    assert!(app.twilio.sent().is_empty());
}
