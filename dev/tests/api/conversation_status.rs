//! `PATCH /conversations/{id}` `{status}`: agents move their org's
//! WhatsApp/SMS conversations between active, escalated and closed;
//! booking-chat participants close their chat, which closes it at Twilio
//! for good.

use crate::helpers::*;
use dev::standin::Fault;
use reqwest::Method;
use serde_json::{Value, json};
use shared::auth::UserType;
use shared::inbox::inbox_conversation_id;

const ORG: &str = "org_status";
const BUSINESS: &str = "whatsapp:+15550001111";
const CONTACT: &str = "whatsapp:+15551234567";

fn agent() -> String {
    agent_of("agent_1", ORG)
}

async fn inbox_conversation(t: &TestApp) -> String {
    t.register_number(BUSINESS, ORG).await;
    t.inbound(CONTACT, BUSINESS, "I need to change my booking")
        .await;
    assert_eq!(t.drain().await, 1);
    inbox_conversation_id(ORG, "twilio", "whatsapp", CONTACT)
}

async fn patch_status(t: &TestApp, conv: &str, token: &str, status: &str) -> Resp {
    t.call(
        Method::PATCH,
        &format!("/conversations/{conv}"),
        Some(token),
        Some(json!({ "status": status })),
        &[],
    )
    .await
}

/// The status a service token sees.
async fn status_of(t: &TestApp, conv: &str) -> String {
    let r = t.get(&format!("/conversations/{conv}"), &service()).await;
    assert_eq!(r.status, 200, "{:?}", r.json);
    r.json["status"].as_str().expect("status").to_string()
}

/// The stand-in's requests updating this Twilio conversation's state.
fn state_updates(t: &TestApp, twilio_sid: &str) -> Vec<String> {
    t.standin
        .requests()
        .into_iter()
        .filter(|r| r.method == "POST" && r.path == format!("/v1/Conversations/{twilio_sid}"))
        .filter_map(|r| {
            r.form
                .iter()
                .find(|(k, _)| k == "State")
                .map(|(_, v)| v.clone())
        })
        .collect()
}

/// The Twilio conversation's own state (`GET /v1/Conversations/{sid}` on
/// the stand-in).
async fn twilio_state(t: &TestApp, twilio_sid: &str) -> Value {
    let base = t.app.config.twilio.conversations_base_url.clone();
    let resp = reqwest::Client::new()
        .get(format!("{base}/v1/Conversations/{twilio_sid}"))
        .basic_auth(t.standin.account_sid(), Some(t.standin.auth_token()))
        .send()
        .await
        .expect("stand-in");
    assert_eq!(resp.status(), 200);
    resp.json::<Value>().await.expect("json")["state"].clone()
}

#[tokio::test]
async fn when_an_agent_moves_an_inbox_conversation_between_statuses_each_change_should_show() {
    let t = spawn_app().await;
    let conv = inbox_conversation(&t).await;
    assert_eq!(status_of(&t, &conv).await, "active");

    for status in ["escalated", "active", "closed"] {
        let r = patch_status(&t, &conv, &agent(), status).await;
        assert_eq!(r.status, 200, "{status}: {:?}", r.json);
        assert_eq!(r.json["status"], status, "{:?}", r.json);
        assert_eq!(r.json["id"], conv.as_str());
        let detail = t.get(&format!("/conversations/{conv}"), &agent()).await;
        assert_eq!(detail.json["status"], status, "{:?}", detail.json);
        // The inbox list agrees.
        let inbox = t.inbox(&agent()).await;
        assert_eq!(inbox[0]["status"], status, "{inbox:?}");
    }
    // The same status again is a no-op, not an error.
    let r = patch_status(&t, &conv, &agent_of("agent_2", ORG), "closed").await;
    assert_eq!(r.status, 200, "{:?}", r.json);
    assert_eq!(r.json["status"], "closed");

    // A closed conversation is reopened first; it is not escalated directly.
    let r = patch_status(&t, &conv, &agent(), "escalated").await;
    assert_error(&r, 422, "invalid_transition");
    assert_eq!(status_of(&t, &conv).await, "closed");

    // The contact writing again reopens it.
    t.inbound(CONTACT, BUSINESS, "hello? one more question")
        .await;
    assert_eq!(t.drain().await, 1);
    assert_eq!(status_of(&t, &conv).await, "active");
    assert_eq!(
        t.bodies(&conv, &agent()).await,
        ["I need to change my booking", "hello? one more question"]
    );

    // An agent may also reopen a closed one, then escalate it.
    for status in ["closed", "active", "escalated"] {
        let r = patch_status(&t, &conv, &agent(), status).await;
        assert_eq!(r.status, 200, "{status}: {:?}", r.json);
    }
    assert_eq!(status_of(&t, &conv).await, "escalated");
    // No Twilio call for any of it: inbox conversations live here only.
    assert!(
        t.standin.requests().is_empty(),
        "{:?}",
        t.standin.requests()
    );
}

#[tokio::test]
async fn when_an_inbound_message_arrives_on_an_escalated_conversation_it_should_stay_escalated() {
    let t = spawn_app().await;
    let conv = inbox_conversation(&t).await;
    let r = patch_status(&t, &conv, &agent(), "escalated").await;
    assert_eq!(r.status, 200, "{:?}", r.json);

    t.inbound(CONTACT, BUSINESS, "any news?").await;
    assert_eq!(t.drain().await, 1);
    assert_eq!(status_of(&t, &conv).await, "escalated");
}

#[tokio::test]
async fn when_the_status_is_not_active_escalated_or_closed_it_should_be_422_invalid_status() {
    let t = spawn_app().await;
    let conv = inbox_conversation(&t).await;

    for status in ["archived", "", "Closed", "ACTIVE", " active", "open"] {
        let r = patch_status(&t, &conv, &agent(), status).await;
        assert_error(&r, 422, "invalid_status");
    }
    assert_eq!(status_of(&t, &conv).await, "active");
}

#[tokio::test]
async fn when_the_body_is_not_a_status_object_it_should_be_400_or_422_and_change_nothing() {
    let t = spawn_app().await;
    let conv = inbox_conversation(&t).await;
    let path = format!("/conversations/{conv}");

    let r = t
        .call_raw(
            Method::PATCH,
            &path,
            Some(&agent()),
            Some("application/json"),
            "{\"status\": \"closed\"",
        )
        .await;
    assert_error(&r, 400, "invalid_json");
    let r = t
        .call_raw(
            Method::PATCH,
            &path,
            Some(&agent()),
            Some("application/json"),
            "",
        )
        .await;
    assert_error(&r, 400, "invalid_json");
    for body in [json!({}), json!({"status": 3}), json!({"status": null})] {
        let r = t
            .call(
                Method::PATCH,
                &path,
                Some(&agent()),
                Some(body.clone()),
                &[],
            )
            .await;
        assert_error(&r, 422, "invalid_request");
    }
    let r = t
        .call_raw(
            Method::PATCH,
            &path,
            Some(&agent()),
            Some("text/plain"),
            "{\"status\": \"closed\"}",
        )
        .await;
    assert_error(&r, 415, "unsupported_media_type");
    let r = t
        .call(
            Method::PATCH,
            &path,
            None,
            Some(json!({"status": "closed"})),
            &[],
        )
        .await;
    assert_error(&r, 401, "unauthorized");
    assert_eq!(status_of(&t, &conv).await, "active");
}

#[tokio::test]
async fn when_someone_outside_the_org_changes_an_inbox_conversation_it_should_be_404_and_change_nothing()
 {
    let t = spawn_app().await;
    let conv = inbox_conversation(&t).await;

    for token in [
        agent_of("agent_x", "org_other"),
        token("agent_none", UserType::Agent),
        customer(),
        provider(),
    ] {
        let r = patch_status(&t, &conv, &token, "closed").await;
        assert_error(&r, 404, "not_found");
    }
    // Unknown and malformed ids are 404 too.
    let r = patch_status(
        &t,
        &inbox_conversation_id(ORG, "twilio", "whatsapp", "whatsapp:+1999"),
        &agent(),
        "closed",
    )
    .await;
    assert_error(&r, 404, "not_found");
    let r = patch_status(&t, "not-a-conversation", &agent(), "closed").await;
    assert_error(&r, 404, "not_found");
    assert_eq!(status_of(&t, &conv).await, "active");

    // A service may change it.
    let r = patch_status(&t, &conv, &service(), "escalated").await;
    assert_eq!(r.status, 200, "{:?}", r.json);
    assert_eq!(status_of(&t, &conv).await, "escalated");
}

/// Issue 8 item 3: closing a booking chat is irreversible at Twilio, so it
/// is for the booking system (a service token) only; participants may still
/// escalate and reactivate.
#[tokio::test]
async fn when_a_participant_closes_a_booking_chat_it_should_be_403_and_stay_open() {
    let t = spawn_app().await;
    let conv = t.create_booking_chat("bk_close_403").await;
    let sid = t.twilio_sid(&conv).await;
    for token in [customer(), provider()] {
        let r = patch_status(&t, &conv, &token, "closed").await;
        assert_error(&r, 403, "service_only");
    }
    assert_eq!(status_of(&t, &conv).await, "active");
    assert!(state_updates(&t, &sid).is_empty());
    assert_eq!(twilio_state(&t, &sid).await, "active");
    let r = patch_status(&t, &conv, &customer(), "escalated").await;
    assert_eq!(r.status, 200, "{:?}", r.json);
    assert_eq!(status_of(&t, &conv).await, "escalated");
}

#[tokio::test]
async fn when_the_booking_system_closes_a_booking_chat_twilio_should_close_it_and_it_should_stay_closed()
 {
    let t = spawn_app().await;
    let conv = t.create_booking_chat("bk_close").await;
    let sid = t.twilio_sid(&conv).await;
    let sent = t.send(&conv, &customer(), "thanks for today").await;
    assert_eq!(sent.status, 201, "{:?}", sent.json);

    // Escalating and back is local only.
    for status in ["escalated", "active"] {
        let r = patch_status(&t, &conv, &provider(), status).await;
        assert_eq!(r.status, 200, "{status}: {:?}", r.json);
        assert_eq!(r.json["status"], status);
    }
    assert!(state_updates(&t, &sid).is_empty());

    let r = patch_status(&t, &conv, &service(), "closed").await;
    assert_eq!(r.status, 200, "{:?}", r.json);
    assert_eq!(r.json["status"], "closed");
    assert_eq!(status_of(&t, &conv).await, "closed");
    assert_eq!(state_updates(&t, &sid), ["closed"]);
    assert_eq!(twilio_state(&t, &sid).await, "closed");

    // Closing again: nothing more at Twilio.
    let r = patch_status(&t, &conv, &service(), "closed").await;
    assert_eq!(r.status, 200, "{:?}", r.json);
    assert_eq!(state_updates(&t, &sid), ["closed"]);

    // Twilio never reopens a closed conversation, so neither do we.
    for (token, status) in [
        (customer(), "active"),
        (provider(), "escalated"),
        (service(), "active"),
    ] {
        let r = patch_status(&t, &conv, &token, status).await;
        assert_error(&r, 422, "invalid_transition");
    }
    assert_eq!(status_of(&t, &conv).await, "closed");

    // And nobody writes in it any more.
    let r = t.send(&conv, &provider(), "one more thing").await;
    assert_error(&r, 409, "conversation_closed");
    assert_eq!(t.standin.message_count(&sid), 1);
    assert_eq!(t.bodies(&conv, &customer()).await, ["thanks for today"]);
}

#[tokio::test]
async fn when_twilio_refuses_to_close_a_booking_chat_it_should_be_502_and_stay_open() {
    let t = spawn_app().await;
    let conv = t.create_booking_chat("bk_close_fail").await;
    let sid = t.twilio_sid(&conv).await;
    t.standin.inject(Fault {
        method: "POST",
        path_suffix: format!("/v1/Conversations/{sid}"),
        status: 500,
        body: json!({"code": 20500, "message": "Internal Server Error", "status": 500}),
        delay: std::time::Duration::ZERO,
        times: 1,
    });

    let r = patch_status(&t, &conv, &service(), "closed").await;
    assert_error(&r, 502, "twilio_error");
    assert_eq!(status_of(&t, &conv).await, "active");
    assert_eq!(twilio_state(&t, &sid).await, "active");
    let sent = t.send(&conv, &provider(), "still open").await;
    assert_eq!(sent.status, 201, "{:?}", sent.json);

    // Retrying works.
    let r = patch_status(&t, &conv, &service(), "closed").await;
    assert_eq!(r.status, 200, "{:?}", r.json);
    assert_eq!(twilio_state(&t, &sid).await, "closed");
}

#[tokio::test]
async fn when_a_stranger_changes_a_booking_chat_it_should_be_404_and_reach_no_one() {
    let t = spawn_app().await;
    let conv = t.create_booking_chat("bk_stranger").await;
    let sid = t.twilio_sid(&conv).await;

    for token in [
        token("cust_9", UserType::Customer),
        token("prov_9", UserType::Provider),
        agent_of("agent_1", ORG),
    ] {
        let r = patch_status(&t, &conv, &token, "closed").await;
        assert_error(&r, 404, "not_found");
    }
    // A participant who left is a stranger now.
    let r = t
        .delete(
            &format!("/conversations/{conv}/participants/cust_1"),
            &customer(),
        )
        .await;
    assert!(r.status.is_success(), "{:?}", r.json);
    let r = patch_status(&t, &conv, &customer(), "closed").await;
    assert_error(&r, 404, "not_found");

    assert_eq!(status_of(&t, &conv).await, "active");
    assert!(state_updates(&t, &sid).is_empty());
    assert_eq!(twilio_state(&t, &sid).await, "active");
}
