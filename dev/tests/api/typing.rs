//! Issue 11 part 4 (read and typing): an agent opening a WhatsApp
//! conversation marks the contact's last message read, and an agent typing
//! shows the contact a typing indicator, through Twilio's typing indicator
//! endpoint or Meta's `status: read` + `typing_indicator`. Best effort, one
//! per conversation per 10 s, behind the org's settings.

use crate::helpers::*;
use crate::meta::meta_conv;
use chrono::Duration;
use dev::standin::Fault;
use serde_json::{Value, json};
use shared::inbox::inbox_conversation_id;

const ORG: &str = "org_typing";
const BUSINESS: &str = "whatsapp:+15550004444";
const CONTACT: &str = "whatsapp:+15551239999";
const SMS_BUSINESS: &str = "+15550004445";
const SMS_CONTACT: &str = "+15551239998";
const META_ID: &str = "109000000000077";
const META_TOKEN: &str = "EAAG-typing-org-token";

fn agent() -> String {
    agent_of("agent_t", ORG)
}

async fn typing(t: &TestApp, conv: &str, token: &str) -> Resp {
    t.post(&format!("/conversations/{conv}/typing"), token, json!({}))
        .await
}

fn outcome(r: &Resp) -> (bool, Value) {
    assert_eq!(r.status, 200, "{:?}", r.json);
    (r.json["sent"].as_bool().unwrap(), r.json["reason"].clone())
}

fn typing_requests(t: &TestApp) -> Vec<dev::standin::Recorded> {
    t.standin
        .requests()
        .into_iter()
        .filter(|r| r.path == "/v2/Indicators/Typing.json")
        .collect()
}

async fn settings(t: &TestApp, token: &str, body: Value) -> Resp {
    t.call(
        reqwest::Method::PUT,
        "/chat-accounts/settings",
        Some(token),
        Some(body),
        &[],
    )
    .await
}

/// A Twilio WhatsApp conversation of ORG with CONTACT; the inbound SID.
async fn twilio_conversation(t: &TestApp) -> (String, String) {
    t.register_number(BUSINESS, ORG).await;
    let sid = t.inbound(CONTACT, BUSINESS, "are you there?").await;
    t.drain().await;
    (
        inbox_conversation_id(ORG, "twilio", "whatsapp", CONTACT),
        sid,
    )
}

fn let_time_pass(t: &TestApp, by: Duration) {
    t.app.clock.advance(by);
    t.deps.ingest.clock.advance(by);
}

#[tokio::test]
async fn when_the_org_turns_typing_on_an_agent_typing_should_reach_twilio_once_per_10_seconds() {
    let t = spawn_app().await;
    let (conv, sid) = twilio_conversation(&t).await;

    // Off by default: nothing is sent.
    assert_eq!(
        outcome(&typing(&t, &conv, &agent()).await),
        (false, json!("disabled"))
    );
    assert!(typing_requests(&t).is_empty());

    // Only the org's admin (or a service) turns it on.
    let r = settings(&t, &agent(), json!({"typing_indicators": true})).await;
    assert_error(&r, 403, "admin_only");
    let r = settings(
        &t,
        &admin_token("adm_x", "org_other"),
        json!({"org_id": ORG, "typing_indicators": true}),
    )
    .await;
    assert_error(&r, 403, "admin_only");
    let r = settings(&t, &admin_token("adm_t", ORG), json!({"typing": true})).await;
    assert!(r.status == 400 || r.status == 422, "{:?}", r.json);
    let r = settings(
        &t,
        &admin_token("adm_t", ORG),
        json!({"typing_indicators": true}),
    )
    .await;
    assert_eq!(r.status, 200, "{:?}", r.json);
    assert_eq!(
        r.json,
        json!({"org_id": ORG, "read_receipts": false, "typing_indicators": true})
    );
    let r = t
        .get("/chat-accounts/settings", &admin_token("adm_t", ORG))
        .await;
    assert_eq!(r.json["typing_indicators"], true, "{:?}", r.json);

    // Sent, for the contact's last message, as the environment's account.
    assert_eq!(
        outcome(&typing(&t, &conv, &agent()).await),
        (true, Value::Null)
    );
    let sent = typing_requests(&t);
    assert_eq!(sent.len(), 1);
    let form: std::collections::BTreeMap<_, _> = sent[0].form.iter().cloned().collect();
    assert_eq!(form["channel"], "whatsapp");
    assert_eq!(form["messageId"], sid);
    assert_eq!(sent[0].user.as_deref(), Some(t.standin.account_sid()));

    // Keystrokes within 10 s: one indicator (WhatsApp shows it 25 s).
    for _ in 0..3 {
        assert_eq!(
            outcome(&typing(&t, &conv, &agent()).await),
            (false, json!("rate_limited"))
        );
    }
    assert_eq!(typing_requests(&t).len(), 1);
    let_time_pass(&t, Duration::seconds(11));
    assert!(outcome(&typing(&t, &conv, &agent()).await).0);
    assert_eq!(typing_requests(&t).len(), 2);

    // Twilio refusing is not the agent's problem: 200, not sent.
    let_time_pass(&t, Duration::seconds(11));
    t.standin.inject(Fault {
        method: "POST",
        path_suffix: "/Indicators/Typing.json".into(),
        status: 400,
        body: json!({"code": 20001, "message": "bad", "status": 400}),
        delay: std::time::Duration::ZERO,
        times: 1,
    });
    assert_eq!(
        outcome(&typing(&t, &conv, &agent()).await),
        (false, json!("provider_error"))
    );

    // After the 24-hour window nothing is shown.
    let_time_pass(&t, Duration::hours(25));
    assert_eq!(
        outcome(&typing(&t, &conv, &agent()).await),
        (false, json!("window_closed"))
    );
}

#[tokio::test]
async fn when_typing_is_not_possible_it_should_say_why_or_refuse_the_caller() {
    let t = spawn_app().await;
    let (conv, _) = twilio_conversation(&t).await;
    let r = settings(
        &t,
        &service(),
        json!({"org_id": ORG, "typing_indicators": true}),
    )
    .await;
    assert_eq!(r.status, 200, "{:?}", r.json);
    // SMS has no typing indicator.
    t.register_number(SMS_BUSINESS, ORG).await;
    t.inbound(SMS_CONTACT, SMS_BUSINESS, "hi by sms").await;
    t.drain().await;
    let sms = inbox_conversation_id(ORG, "twilio", "sms", SMS_CONTACT);
    assert_eq!(
        outcome(&typing(&t, &sms, &agent()).await),
        (false, json!("not_whatsapp"))
    );
    // Another org's agent does not see the conversation; a customer neither.
    assert_error(
        &typing(&t, &conv, &agent_of("agent_o", "org_other")).await,
        404,
        "not_found",
    );
    assert_eq!(typing(&t, &conv, &customer()).await.status, 404);
    assert_eq!(
        t.call(
            reqwest::Method::POST,
            &format!("/conversations/{conv}/typing"),
            None,
            None,
            &[]
        )
        .await
        .status,
        401
    );
    // A booking chat has no contact to type to.
    let booking = t.create_booking_chat("bk_typing").await;
    assert_error(
        &typing(&t, &booking, &customer()).await,
        422,
        "not_an_inbox_conversation",
    );
    assert!(typing_requests(&t).is_empty());
}

#[tokio::test]
async fn when_an_agent_opens_and_types_on_meta_the_contact_should_see_blue_ticks_then_typing() {
    let t = spawn_app().await;
    let r = t.register_meta(META_ID, META_TOKEN, ORG).await;
    assert_eq!(r.status, 201, "{:?}", r.json);
    let wamid = t
        .meta_text(META_ID, Some("15551230000"), None, "hola")
        .await;
    t.drain().await;
    let conv = meta_conv(ORG, "whatsapp:+15551230000");
    let reads = |t: &TestApp| -> Vec<Value> {
        t.meta
            .requests()
            .into_iter()
            .filter(|r| r.body["status"] == "read")
            .map(|r| r.body)
            .collect()
    };
    // Opening with receipts off: read here, nothing sent to Meta.
    let open = t
        .post(&format!("/conversations/{conv}/read"), &agent(), json!({}))
        .await;
    assert_eq!(open.status, 200, "{:?}", open.json);
    assert!(reads(&t).is_empty());

    let r = settings(
        &t,
        &admin_token("adm_t", ORG),
        json!({"read_receipts": true, "typing_indicators": true}),
    )
    .await;
    assert_eq!(r.status, 200, "{:?}", r.json);
    // Opening marks the last message read, once, whoever opens it again.
    for who in [agent(), agent_of("agent_u", ORG)] {
        let open = t
            .post(&format!("/conversations/{conv}/read"), &who, json!({}))
            .await;
        assert_eq!(open.status, 200, "{:?}", open.json);
    }
    let sent = reads(&t);
    assert_eq!(sent.len(), 1, "{sent:?}");
    assert_eq!(sent[0]["message_id"], wamid.as_str());
    assert!(sent[0].get("typing_indicator").is_none(), "{:?}", sent[0]);
    // Typing: read + typing indicator, with the org's token.
    assert!(outcome(&typing(&t, &conv, &agent()).await).0);
    let sent = reads(&t);
    assert_eq!(sent.len(), 2, "{sent:?}");
    assert_eq!(sent[1]["typing_indicator"], json!({"type": "text"}));
    assert_eq!(sent[1]["message_id"], wamid.as_str());
    // A new message gets its own receipt when the conversation is opened.
    let second = t
        .meta_text(META_ID, Some("15551230000"), None, "hola?")
        .await;
    t.drain().await;
    let open = t
        .post(&format!("/conversations/{conv}/read"), &agent(), json!({}))
        .await;
    assert_eq!(open.status, 200);
    let sent = reads(&t);
    assert_eq!(sent.len(), 3, "{sent:?}");
    assert_eq!(sent[2]["message_id"], second.as_str());
}

#[tokio::test]
async fn when_a_number_is_of_an_orgs_own_account_typing_should_go_out_as_that_account() {
    let t = spawn_app().await;
    const ACC: &str = "ACdddddddddddddddddddddddddddddddd";
    const TOKEN: &str = "token-of-account-d-0123456789abcdef";
    t.standin.add_subaccount(ACC, TOKEN, &["+15550004444"]);
    let r = t.register_own_account(BUSINESS, ORG, ACC, TOKEN).await;
    assert_eq!(r.status, 201, "{:?}", r.json);
    let sid = t.standin.new_message_sid();
    let p = t.standin.inbound_params(&sid, CONTACT, BUSINESS, "hi");
    let (status, _) = t
        .standin
        .send_webhook_as(ACC, "/webhooks/twilio/messaging", &p)
        .await
        .unwrap();
    assert_eq!(status, 200);
    t.drain().await;
    let conv = inbox_conversation_id(ORG, "twilio", "whatsapp", CONTACT);
    let r = settings(
        &t,
        &service(),
        json!({"org_id": ORG, "typing_indicators": true}),
    )
    .await;
    assert_eq!(r.status, 200, "{:?}", r.json);
    assert!(outcome(&typing(&t, &conv, &agent()).await).0);
    let sent = typing_requests(&t);
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].user.as_deref(), Some(ACC));
}
