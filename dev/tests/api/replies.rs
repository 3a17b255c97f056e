//! Agents replying on WhatsApp/SMS conversations through the Messages API:
//! the 24-hour window, templates, opt-outs, idempotency, Twilio's refusals,
//! and delivery statuses coming back through the real webhook pipeline.

use crate::helpers::*;
use chrono::{DateTime, Duration, Utc};
use dev::standin::{Fault, Recorded};
use reqwest::Method;
use serde_json::{Value, json};
use shared::auth::UserType;
use shared::clock::format_ts;
use shared::inbox::inbox_conversation_id;

const ORG: &str = "org_replies";
const BUSINESS: &str = "whatsapp:+15550001111";
const CONTACT: &str = "whatsapp:+15551234567";
const SMS_NUMBER: &str = "+15550002222";
const SMS_CONTACT: &str = "+15551234567";
const TEMPLATE_SID: &str = "HX0123456789abcdef0123456789abcdef";

fn agent() -> String {
    agent_of("agent_1", ORG)
}

/// Let time pass for the API and for the webhook receiver alike (they
/// keep separate clocks), so later inbound messages are stamped "now".
fn let_time_pass(t: &TestApp, by: Duration) {
    t.app.clock.advance(by);
    t.deps.ingest.clock.advance(by);
}

/// The org's conversation with `contact`, created by one inbound message
/// from `contact` to `business` (registered for the org).
async fn conversation_with(t: &TestApp, contact: &str, business: &str) -> String {
    t.register_number(business, ORG).await;
    t.inbound(contact, business, "hello, is Friday free?").await;
    t.drain().await;
    let channel = if contact.starts_with("whatsapp:") {
        "whatsapp"
    } else {
        "sms"
    };
    let conv = inbox_conversation_id(ORG, "twilio", channel, contact);
    let r = t.get(&format!("/conversations/{conv}"), &agent()).await;
    assert_eq!(
        r.status, 200,
        "the inbound message made no conversation: {:?}",
        r.json
    );
    conv
}

async fn whatsapp_conversation(t: &TestApp) -> String {
    conversation_with(t, CONTACT, BUSINESS).await
}

async fn reply(t: &TestApp, conv: &str, token: &str, body: Value) -> Resp {
    t.post(&format!("/conversations/{conv}/messages"), token, body)
        .await
}

async fn reply_with_key(t: &TestApp, conv: &str, token: &str, body: Value, key: &str) -> Resp {
    t.call(
        Method::POST,
        &format!("/conversations/{conv}/messages"),
        Some(token),
        Some(body),
        &[("Idempotency-Key", key)],
    )
    .await
}

/// Every Messages API create that reached the stand-in (faulted or not).
fn message_creates(t: &TestApp) -> Vec<Recorded> {
    t.standin
        .requests()
        .into_iter()
        .filter(|r| r.method == "POST" && r.path.ends_with("/Messages.json"))
        .collect()
}

fn form_values(r: &Recorded, name: &str) -> Vec<String> {
    r.form
        .iter()
        .filter(|(k, _)| k == name)
        .map(|(_, v)| v.clone())
        .collect()
}

fn form_value(r: &Recorded, name: &str) -> Option<String> {
    let values = form_values(r, name);
    assert!(values.len() <= 1, "{name} sent {} times", values.len());
    values.into_iter().next()
}

/// The agents' messages stored in the conversation, oldest first.
async fn agent_messages(t: &TestApp, conv: &str) -> Vec<Value> {
    t.messages(conv, &agent())
        .await
        .into_iter()
        .filter(|m| m["author_type"] == "agent")
        .collect()
}

fn on_message_creates(status: u16, body: Value, times: usize) -> Fault {
    Fault {
        method: "POST",
        path_suffix: "/Messages.json".into(),
        status,
        body,
        delay: std::time::Duration::ZERO,
        times,
    }
}

fn twilio_refusal(code: i64, status: u16) -> Fault {
    on_message_creates(
        status,
        json!({"code": code, "message": "refused by the stand-in", "status": status}),
        1,
    )
}

fn rate_limited(times: usize) -> Fault {
    on_message_creates(
        429,
        json!({"code": 20429, "message": "Too Many Requests", "status": 429}),
        times,
    )
}

/// Drain the queue until the stored message has `wanted` (bounded).
async fn wait_for_status(t: &TestApp, conv: &str, message_id: &str, wanted: &str) {
    let mut seen = String::new();
    for _ in 0..50 {
        t.drain().await;
        let messages = t.messages(conv, &agent()).await;
        let m = messages
            .iter()
            .find(|m| m["id"] == message_id)
            .unwrap_or_else(|| panic!("{message_id} is not stored: {messages:?}"));
        seen = m["status"].as_str().unwrap_or_default().to_string();
        if seen == wanted {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    panic!("message {message_id} never reached {wanted}; last status {seen}");
}

async fn last_user_message_at(t: &TestApp, conv: &str) -> DateTime<Utc> {
    let r = t.get(&format!("/conversations/{conv}"), &agent()).await;
    let at = r.json["inbox"]["last_user_message_at"]
        .as_str()
        .unwrap_or_else(|| panic!("no last_user_message_at: {:?}", r.json));
    DateTime::parse_from_rfc3339(at)
        .unwrap()
        .with_timezone(&Utc)
}

async fn opted_out(t: &TestApp, conv: &str) -> bool {
    let r = t.get(&format!("/conversations/{conv}"), &agent()).await;
    assert_eq!(r.status, 200, "{:?}", r.json);
    r.json["inbox"]["opted_out"]
        .as_bool()
        .unwrap_or_else(|| panic!("no inbox.opted_out: {:?}", r.json))
}

#[tokio::test]
async fn when_an_agent_replies_within_the_window_twilio_should_get_one_message_and_its_status_should_reach_read()
 {
    let t = spawn_app().await;
    let conv = whatsapp_conversation(&t).await;

    let r = reply(
        &t,
        &conv,
        &agent(),
        json!({"body": "Yes, Friday at 10:00 works"}),
    )
    .await;
    assert_eq!(r.status, 201, "{:?}", r.json);
    assert_eq!(r.json["conversation_id"], conv.as_str());
    assert_eq!(r.json["author_id"], "agent_1");
    assert_eq!(r.json["author_type"], "agent");
    assert_eq!(r.json["body"], "Yes, Friday at 10:00 works");
    assert_eq!(r.json["status"], "queued");
    let id = r.json["id"].as_str().expect("id").to_string();

    let creates = message_creates(&t);
    assert_eq!(creates.len(), 1, "{creates:?}");
    let sent = &creates[0];
    assert_eq!(form_value(sent, "From").as_deref(), Some(BUSINESS));
    assert_eq!(form_value(sent, "To").as_deref(), Some(CONTACT));
    assert_eq!(
        form_value(sent, "Body").as_deref(),
        Some("Yes, Friday at 10:00 works")
    );
    // With Twilio's connection overrides, so a 503 from ingest is retried
    // (issue 8 item 11).
    assert_eq!(
        form_value(sent, "StatusCallback"),
        Some(format!("{}/webhooks/twilio/messaging#rc=5&rp=all", t.base))
    );
    assert_eq!(form_value(sent, "ContentSid"), None);
    assert_eq!(t.standin.sms_count(), 1);
    assert!(
        r.json["twilio_message_sid"]
            .as_str()
            .is_some_and(|s| s.starts_with("SM")),
        "{:?}",
        r.json
    );

    // sent, delivered and read come back signed, through SQS.
    wait_for_status(&t, &conv, &id, "read").await;
    let stored = agent_messages(&t, &conv).await;
    assert_eq!(stored.len(), 1, "{stored:?}");
    assert_eq!(
        stored[0]["twilio_message_sid"],
        r.json["twilio_message_sid"]
    );
    let detail = t.get(&format!("/conversations/{conv}"), &agent()).await;
    assert_eq!(detail.json["last_message"]["id"], id.as_str());
}

#[tokio::test]
async fn when_24_hours_have_passed_a_free_form_reply_should_be_422_with_window_closed_at_and_never_reach_twilio()
 {
    let t = spawn_app().await;
    let conv = whatsapp_conversation(&t).await;
    let last = last_user_message_at(&t, &conv).await;

    // 23 hours on: still open.
    let_time_pass(&t, Duration::hours(23));
    let r = reply(&t, &conv, &agent(), json!({"body": "still in time"})).await;
    assert_eq!(r.status, 201, "{:?}", r.json);
    assert_eq!(message_creates(&t).len(), 1);

    // 25 hours on: closed, and Twilio is not asked.
    let_time_pass(&t, Duration::hours(2));
    let r = reply(&t, &conv, &agent(), json!({"body": "too late"})).await;
    assert_error(&r, 422, "outside_customer_service_window");
    assert_eq!(
        r.json["error"]["window_closed_at"],
        format_ts(last + Duration::hours(24)).as_str(),
        "{:?}",
        r.json
    );
    assert!(r.json["error"].get("twilio_code").is_none(), "{:?}", r.json);
    assert_eq!(message_creates(&t).len(), 1);
    let bodies: Vec<Value> = agent_messages(&t, &conv)
        .await
        .iter()
        .map(|m| m["body"].clone())
        .collect();
    assert_eq!(bodies, [json!("still in time")]);

    // The contact writes again: the window opens again.
    t.inbound(CONTACT, BUSINESS, "are you there?").await;
    t.drain().await;
    let r = reply(&t, &conv, &agent(), json!({"body": "yes, sorry"})).await;
    assert_eq!(r.status, 201, "{:?}", r.json);
    assert_eq!(message_creates(&t).len(), 2);
}

#[tokio::test]
async fn when_24_hours_have_passed_a_template_should_still_be_sent() {
    let t = spawn_app().await;
    let conv = whatsapp_conversation(&t).await;
    let_time_pass(&t, Duration::hours(25));

    let variables = json!({"1": "Ana", "2": "Friday 10:00"});
    let r = reply(
        &t,
        &conv,
        &agent(),
        json!({"content_sid": TEMPLATE_SID, "content_variables": variables}),
    )
    .await;
    assert_eq!(r.status, 201, "{:?}", r.json);
    assert_eq!(r.json["template"]["content_sid"], TEMPLATE_SID);
    assert_eq!(
        r.json["template"]["content_variables"], variables,
        "the variables come back as the object that was sent"
    );

    let creates = message_creates(&t);
    assert_eq!(creates.len(), 1, "{creates:?}");
    assert_eq!(
        form_value(&creates[0], "ContentSid").as_deref(),
        Some(TEMPLATE_SID)
    );
    let sent_vars = form_value(&creates[0], "ContentVariables").expect("ContentVariables");
    assert_eq!(
        serde_json::from_str::<Value>(&sent_vars).unwrap(),
        variables
    );
    assert_eq!(form_value(&creates[0], "Body"), None);
    assert_eq!(form_value(&creates[0], "To").as_deref(), Some(CONTACT));

    let stored = agent_messages(&t, &conv).await;
    assert_eq!(stored.len(), 1, "{stored:?}");
    assert_eq!(stored[0]["template"]["content_sid"], TEMPLATE_SID);

    // A template without variables is fine too.
    let r = reply(&t, &conv, &agent(), json!({"content_sid": TEMPLATE_SID})).await;
    assert_eq!(r.status, 201, "{:?}", r.json);
    assert_eq!(message_creates(&t).len(), 2);
}

#[tokio::test]
async fn when_the_conversation_is_sms_a_reply_days_later_should_still_be_sent() {
    let t = spawn_app().await;
    let conv = conversation_with(&t, SMS_CONTACT, SMS_NUMBER).await;
    let detail = t.get(&format!("/conversations/{conv}"), &agent()).await;
    assert_eq!(detail.json["inbox"]["channel"], "sms", "{:?}", detail.json);
    let_time_pass(&t, Duration::days(3));

    let r = reply(
        &t,
        &conv,
        &agent(),
        json!({"body": "Your booking is confirmed"}),
    )
    .await;
    assert_eq!(r.status, 201, "{:?}", r.json);
    let creates = message_creates(&t);
    assert_eq!(creates.len(), 1, "{creates:?}");
    assert_eq!(form_value(&creates[0], "From").as_deref(), Some(SMS_NUMBER));
    assert_eq!(form_value(&creates[0], "To").as_deref(), Some(SMS_CONTACT));
    // SMS reports delivered (there is no read receipt).
    let id = r.json["id"].as_str().unwrap();
    wait_for_status(&t, &conv, id, "delivered").await;
}

#[tokio::test]
async fn when_a_reply_is_repeated_with_the_same_key_it_should_reach_twilio_once_and_return_the_same_message()
 {
    let t = spawn_app().await;
    let conv = whatsapp_conversation(&t).await;

    let first = reply_with_key(
        &t,
        &conv,
        &agent(),
        json!({"body": "See you Friday"}),
        "k-1",
    )
    .await;
    assert_eq!(first.status, 201, "{:?}", first.json);
    let second = reply_with_key(
        &t,
        &conv,
        &agent(),
        json!({"body": "See you Friday"}),
        "k-1",
    )
    .await;
    assert_eq!(second.status, 200, "{:?}", second.json);
    assert_eq!(second.json["id"], first.json["id"]);
    assert_eq!(second.json["created_at"], first.json["created_at"]);
    assert_eq!(
        second.json["twilio_message_sid"],
        first.json["twilio_message_sid"]
    );

    assert_eq!(message_creates(&t).len(), 1);
    assert_eq!(t.standin.sms_count(), 1);
    assert_eq!(agent_messages(&t, &conv).await.len(), 1);

    // A template under the same key replays too.
    let template = json!({"content_sid": TEMPLATE_SID, "content_variables": {"1": "Ana"}});
    let a = reply_with_key(&t, &conv, &agent(), template.clone(), "k-template").await;
    assert_eq!(a.status, 201, "{:?}", a.json);
    let b = reply_with_key(&t, &conv, &agent(), template, "k-template").await;
    assert_eq!(b.status, 200, "{:?}", b.json);
    assert_eq!(b.json["id"], a.json["id"]);
    assert_eq!(message_creates(&t).len(), 2);
    assert_eq!(agent_messages(&t, &conv).await.len(), 2);
}

#[tokio::test]
async fn when_a_key_is_reused_for_another_reply_it_should_be_422_idempotency_key_reused() {
    let t = spawn_app().await;
    let conv = whatsapp_conversation(&t).await;

    let first = reply_with_key(&t, &conv, &agent(), json!({"body": "first"}), "k-1").await;
    assert_eq!(first.status, 201, "{:?}", first.json);
    let other = reply_with_key(&t, &conv, &agent(), json!({"body": "second"}), "k-1").await;
    assert_error(&other, 422, "idempotency_key_reused");
    let media = json!({"body": "first", "media_urls": ["https://cdn.example.com/a.jpg"]});
    let other = reply_with_key(&t, &conv, &agent(), media, "k-1").await;
    assert_error(&other, 422, "idempotency_key_reused");
    let template = json!({"content_sid": TEMPLATE_SID});
    let other = reply_with_key(&t, &conv, &agent(), template, "k-1").await;
    assert_error(&other, 422, "idempotency_key_reused");

    assert_eq!(message_creates(&t).len(), 1);
    let bodies: Vec<Value> = agent_messages(&t, &conv)
        .await
        .iter()
        .map(|m| m["body"].clone())
        .collect();
    assert_eq!(bodies, [json!("first")]);
}

#[tokio::test]
async fn when_twilio_rate_limits_once_the_reply_should_be_retried_and_sent_once() {
    let t = spawn_app().await;
    let conv = whatsapp_conversation(&t).await;
    t.standin.inject(rate_limited(1));

    let r = reply(&t, &conv, &agent(), json!({"body": "after a pause"})).await;
    assert_eq!(r.status, 201, "{:?}", r.json);
    assert_eq!(message_creates(&t).len(), 2, "one 429, one create");
    assert_eq!(t.standin.sms_count(), 1);
    let stored = agent_messages(&t, &conv).await;
    assert_eq!(stored.len(), 1, "{stored:?}");
    assert_eq!(stored[0]["id"], r.json["id"]);
}

#[tokio::test]
async fn when_twilio_keeps_rate_limiting_the_reply_should_be_429_with_retry_after_and_a_retry_may_send()
 {
    let t = spawn_app().await;
    let conv = whatsapp_conversation(&t).await;
    t.standin.inject(rate_limited(3));

    let body = json!({"body": "busy day"});
    let r = reply_with_key(&t, &conv, &agent(), body.clone(), "k-busy").await;
    assert_error(&r, 429, "twilio_rate_limited");
    // The README promises Twilio's code in the error (issue 8 item 17).
    assert_eq!(r.json["error"]["twilio_code"], 20429, "{:?}", r.json);
    let after: u64 = r
        .headers
        .get("retry-after")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("no Retry-After: {:?}", r.headers));
    assert!(after >= 1);
    assert_eq!(message_creates(&t).len(), 3, "every attempt was throttled");
    assert_eq!(t.standin.sms_count(), 0);
    assert!(agent_messages(&t, &conv).await.is_empty());

    // Nothing was sent, so the same key may send once Twilio lets us.
    let r = reply_with_key(&t, &conv, &agent(), body, "k-busy").await;
    assert_eq!(r.status, 201, "{:?}", r.json);
    assert_eq!(t.standin.sms_count(), 1);
    assert_eq!(agent_messages(&t, &conv).await.len(), 1);
}

#[tokio::test]
async fn when_twilio_says_the_window_is_closed_it_should_be_422_outside_the_window_with_twilio_code_63016()
 {
    let t = spawn_app().await;
    let conv = whatsapp_conversation(&t).await;
    t.standin.inject(twilio_refusal(63016, 400));

    let r = reply(&t, &conv, &agent(), json!({"body": "hello again"})).await;
    assert_error(&r, 422, "outside_customer_service_window");
    assert_eq!(r.json["error"]["twilio_code"], 63016, "{:?}", r.json);
    assert_eq!(message_creates(&t).len(), 1);
    assert!(agent_messages(&t, &conv).await.is_empty());
}

#[tokio::test]
async fn when_twilio_says_the_number_cannot_receive_it_should_be_422_invalid_recipient_with_the_twilio_code()
 {
    let t = spawn_app().await;
    // The stand-in's magic numbers: invalid (21211) and not a mobile (21614).
    for (contact, code) in [("whatsapp:+15005550001", 21211), ("+15005550009", 21614)] {
        let business = if contact.starts_with("whatsapp:") {
            BUSINESS
        } else {
            SMS_NUMBER
        };
        let conv = conversation_with(&t, contact, business).await;
        let before = message_creates(&t).len();
        let r = reply(&t, &conv, &agent(), json!({"body": "hi"})).await;
        assert_error(&r, 422, "invalid_recipient");
        assert_eq!(r.json["error"]["twilio_code"], code, "{:?}", r.json);
        assert_eq!(message_creates(&t).len(), before + 1);
        assert!(agent_messages(&t, &conv).await.is_empty());
    }
    // 63024 (WhatsApp: not a valid WhatsApp user) is the same to a client.
    let conv = whatsapp_conversation(&t).await;
    t.standin.inject(twilio_refusal(63024, 400));
    let r = reply(&t, &conv, &agent(), json!({"body": "hi"})).await;
    assert_error(&r, 422, "invalid_recipient");
    assert_eq!(r.json["error"]["twilio_code"], 63024, "{:?}", r.json);
    assert!(agent_messages(&t, &conv).await.is_empty());
}

#[tokio::test]
async fn when_twilio_says_the_contact_opted_out_it_should_be_422_and_the_next_reply_should_stop_before_twilio()
 {
    let t = spawn_app().await;
    let conv = whatsapp_conversation(&t).await;
    assert!(!opted_out(&t, &conv).await);
    t.standin.inject(twilio_refusal(21610, 400));

    let r = reply(&t, &conv, &agent(), json!({"body": "special offer"})).await;
    assert_error(&r, 422, "contact_opted_out");
    assert_eq!(r.json["error"]["twilio_code"], 21610, "{:?}", r.json);
    assert!(opted_out(&t, &conv).await, "the opt-out was not recorded");
    assert_eq!(message_creates(&t).len(), 1);

    // Templates are refused too: an opt-out is not a window.
    for body in [
        json!({"body": "another offer"}),
        json!({"content_sid": TEMPLATE_SID}),
    ] {
        let r = reply(&t, &conv, &agent(), body).await;
        assert_error(&r, 422, "contact_opted_out");
    }
    assert_eq!(message_creates(&t).len(), 1, "refused before Twilio");
    assert!(agent_messages(&t, &conv).await.is_empty());
}

#[tokio::test]
async fn when_twilio_fails_with_500_the_reply_should_be_502_and_store_nothing() {
    let t = spawn_app().await;
    let conv = whatsapp_conversation(&t).await;
    t.standin.inject(twilio_refusal(20500, 500));

    let r = reply(&t, &conv, &agent(), json!({"body": "hello"})).await;
    assert_error(&r, 502, "twilio_error");
    assert_eq!(message_creates(&t).len(), 1, "a 500 is not retried");
    assert_eq!(t.standin.sms_count(), 0);
    assert!(agent_messages(&t, &conv).await.is_empty());
    let detail = t.get(&format!("/conversations/{conv}"), &agent()).await;
    assert_eq!(detail.json["analytics"]["message_count"], 1);
}

#[tokio::test]
async fn when_the_contact_sends_stop_replies_should_be_refused_before_twilio_until_they_send_start()
{
    let t = spawn_app().await;
    let conv = whatsapp_conversation(&t).await;
    let mut creates = 0;

    for (stop, start) in [
        ("STOP", "START"),
        ("  stop\n", "start"),
        ("Unsubscribe", "UNSTOP"),
        ("cancel", "Start "),
        (" End ", "unstop"),
        ("quit", "START"),
        ("StopAll", "START"),
    ] {
        t.inbound(CONTACT, BUSINESS, stop).await;
        t.drain().await;
        assert!(opted_out(&t, &conv).await, "{stop:?} did not opt out");
        let r = reply(&t, &conv, &agent(), json!({"body": "are you sure?"})).await;
        assert_error(&r, 422, "contact_opted_out");
        assert_eq!(
            message_creates(&t).len(),
            creates,
            "{stop:?}: reached Twilio"
        );

        t.inbound(CONTACT, BUSINESS, start).await;
        t.drain().await;
        assert!(!opted_out(&t, &conv).await, "{start:?} did not opt back in");
        let r = reply(&t, &conv, &agent(), json!({"body": "welcome back"})).await;
        assert_eq!(r.status, 201, "{start:?}: {:?}", r.json);
        creates += 1;
        assert_eq!(message_creates(&t).len(), creates);
    }

    // Words that merely contain a keyword change nothing.
    t.inbound(CONTACT, BUSINESS, "please stop by at 5").await;
    t.drain().await;
    assert!(!opted_out(&t, &conv).await);
}

#[tokio::test]
async fn when_a_first_message_is_stop_the_new_conversation_should_be_opted_out() {
    let t = spawn_app().await;
    t.register_number(BUSINESS, ORG).await;
    t.inbound(CONTACT, BUSINESS, "stop").await;
    t.drain().await;
    let conv = inbox_conversation_id(ORG, "twilio", "whatsapp", CONTACT);
    assert!(opted_out(&t, &conv).await);
    let r = reply(&t, &conv, &agent(), json!({"body": "hello"})).await;
    assert_error(&r, 422, "contact_opted_out");
    assert!(message_creates(&t).is_empty());
}

#[tokio::test]
async fn when_someone_who_is_not_an_agent_of_the_org_replies_it_should_be_refused_and_reach_no_one()
{
    let t = spawn_app().await;
    let conv = whatsapp_conversation(&t).await;
    let body = json!({"body": "hi from outside"});

    let r = reply(&t, &conv, &agent_of("agent_x", "org_other"), body.clone()).await;
    assert_error(&r, 404, "not_found");
    let r = reply(&t, &conv, &customer(), body.clone()).await;
    assert_error(&r, 404, "not_found");
    let r = reply(
        &t,
        &conv,
        &token("agent_none", UserType::Agent),
        body.clone(),
    )
    .await;
    assert_error(&r, 404, "not_found");
    // A service sees every conversation, but only agents reply.
    let r = reply(&t, &conv, &service(), body.clone()).await;
    assert_error(&r, 403, "agents_only");

    assert!(message_creates(&t).is_empty());
    assert!(agent_messages(&t, &conv).await.is_empty());
    // The org's own agent still can.
    let r = reply(&t, &conv, &agent_of("agent_2", ORG), body).await;
    assert_eq!(r.status, 201, "{:?}", r.json);
    assert_eq!(r.json["author_id"], "agent_2");
}

#[tokio::test]
async fn when_a_reply_is_malformed_it_should_be_422_with_a_precise_code_and_reach_no_one() {
    let t = spawn_app().await;
    let conv = whatsapp_conversation(&t).await;
    let eleven: Vec<String> = (0..11)
        .map(|i| format!("https://cdn.example.com/{i}.jpg"))
        .collect();

    let cases = [
        (json!({"body": "x".repeat(1601)}), "body_too_long"),
        (json!({"body": "ß".repeat(1601)}), "body_too_long"),
        (json!({"body": "   "}), "empty_body"),
        (json!({}), "invalid_request"),
        (json!({"content_sid": "HX123"}), "invalid_content_sid"),
        (
            json!({"content_sid": format!("MX{}", "0".repeat(32))}),
            "invalid_content_sid",
        ),
        (
            json!({"content_sid": format!("HX{}", "g".repeat(32))}),
            "invalid_content_sid",
        ),
        (
            json!({"content_sid": TEMPLATE_SID, "content_variables": {"1": 5}}),
            "invalid_content_variables",
        ),
        (
            json!({"content_sid": TEMPLATE_SID, "content_variables": {"1": "Ana", "2": null}}),
            "invalid_content_variables",
        ),
        (
            json!({"content_sid": TEMPLATE_SID, "content_variables": ["Ana"]}),
            "invalid_content_variables",
        ),
        (
            json!({"content_sid": TEMPLATE_SID, "content_variables": "{\"1\":\"Ana\"}"}),
            "invalid_content_variables",
        ),
        (
            json!({"content_sid": TEMPLATE_SID, "body": "both"}),
            "invalid_request",
        ),
        (
            json!({"content_variables": {"1": "Ana"}, "body": "no sid"}),
            "invalid_request",
        ),
        (
            json!({"media_urls": ["http://cdn.example.com/a.jpg"]}),
            "invalid_media_urls",
        ),
        (
            json!({"body": "see", "media_urls": ["https://cdn.example.com/a b.jpg"]}),
            "invalid_media_urls",
        ),
        (json!({"media_urls": ["https://"]}), "invalid_media_urls"),
        (json!({"media_urls": eleven}), "invalid_media_urls"),
    ];
    for (body, code) in cases {
        let r = reply(&t, &conv, &agent(), body.clone()).await;
        assert_eq!(
            (r.status.as_u16(), r.code()),
            (422, code),
            "{body}: {:?}",
            r.json
        );
    }
    assert!(message_creates(&t).is_empty());
    assert!(agent_messages(&t, &conv).await.is_empty());

    // The limits themselves are allowed.
    let r = reply(&t, &conv, &agent(), json!({"body": "x".repeat(1600)})).await;
    assert_eq!(r.status, 201, "{:?}", r.json);
    let ten: Vec<String> = (0..10)
        .map(|i| format!("https://cdn.example.com/{i}.jpg"))
        .collect();
    let r = reply(&t, &conv, &agent(), json!({"media_urls": ten})).await;
    assert_eq!(r.status, 201, "{:?}", r.json);
    let creates = message_creates(&t);
    assert_eq!(creates.len(), 2);
    assert_eq!(form_values(&creates[1], "MediaUrl"), ten);
}

#[tokio::test]
async fn when_a_reply_carries_media_it_should_be_sent_with_the_media_and_stored_with_it() {
    let t = spawn_app().await;
    let conv = whatsapp_conversation(&t).await;
    let urls = [
        "https://cdn.example.com/invoice.pdf",
        "https://cdn.example.com/map.jpg",
    ];

    let r = reply(
        &t,
        &conv,
        &agent(),
        json!({"body": "Your invoice and the map", "media_urls": urls}),
    )
    .await;
    assert_eq!(r.status, 201, "{:?}", r.json);
    let expected_media = json!([{"url": urls[0]}, {"url": urls[1]}]);
    assert_eq!(r.json["media"], expected_media, "{:?}", r.json);
    assert_eq!(r.json["body"], "Your invoice and the map");

    let creates = message_creates(&t);
    assert_eq!(creates.len(), 1);
    assert_eq!(form_values(&creates[0], "MediaUrl"), urls);
    assert_eq!(
        form_value(&creates[0], "Body").as_deref(),
        Some("Your invoice and the map")
    );

    let stored = agent_messages(&t, &conv).await;
    assert_eq!(stored.len(), 1, "{stored:?}");
    assert_eq!(stored[0]["media"], expected_media);
    assert_eq!(stored[0]["body"], "Your invoice and the map");
    assert!(stored[0].get("template").is_none(), "{:?}", stored[0]);

    // Media alone is a reply too.
    let r = reply(&t, &conv, &agent(), json!({"media_urls": [urls[1]]})).await;
    assert_eq!(r.status, 201, "{:?}", r.json);
    assert_eq!(r.json["media"], json!([{"url": urls[1]}]));
    assert_eq!(form_value(&message_creates(&t)[1], "Body"), None);
}
