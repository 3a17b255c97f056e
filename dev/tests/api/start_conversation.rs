//! Issue 11 part 5: an agent starts a conversation with a contact who has
//! never written, with an approved template; free-form is refused until
//! the contact answers, and the answer lands in the same conversation.

use crate::helpers::*;
use serde_json::{Value, json};
use shared::inbox::inbox_conversation_id;

const ORG: &str = "org_start";
const BUSINESS: &str = "whatsapp:+15550004444";
const CONTACT: &str = "whatsapp:+15557654321";
const TEMPLATE_SID: &str = "HX0123456789abcdef0123456789abcdef";

fn agent() -> String {
    agent_of("agent_s", ORG)
}

fn start_body(business: &str, contact: &str) -> Value {
    json!({
        "conversation_type": "whatsapp",
        "business_address": business,
        "contact_address": contact,
        "contact_name": "Ana",
    })
}

fn message_creates(t: &TestApp) -> Vec<dev::standin::Recorded> {
    t.standin
        .requests()
        .into_iter()
        .filter(|r| r.method == "POST" && r.path.ends_with("/Messages.json"))
        .collect()
}

#[tokio::test]
async fn when_an_agent_starts_a_conversation_only_a_template_should_go_until_the_contact_answers() {
    let t = spawn_app().await;
    t.register_number(BUSINESS, ORG).await;
    let r = t
        .post("/conversations", &agent(), start_body(BUSINESS, CONTACT))
        .await;
    assert_eq!(r.status, 201, "{:?}", r.json);
    let conv = inbox_conversation_id(ORG, "twilio", "whatsapp", CONTACT);
    assert_eq!(r.json["id"], conv.as_str(), "{:?}", r.json);
    // Idempotent: the same conversation, 200.
    let again = t
        .post("/conversations", &agent(), start_body(BUSINESS, CONTACT))
        .await;
    assert_eq!(again.status, 200, "{:?}", again.json);
    assert_eq!(again.json["id"], conv.as_str());
    // It is in the org's inbox.
    let inbox = t.inbox(&agent()).await;
    assert_eq!(inbox.len(), 1, "{inbox:?}");
    assert_eq!(inbox[0]["id"], conv.as_str());

    // The window never opened: free-form is refused, nothing sent.
    let url = format!("/conversations/{conv}/messages");
    let free = t.post(&url, &agent(), json!({"body": "hi!"})).await;
    assert_error(&free, 422, "outside_customer_service_window");
    assert!(message_creates(&t).is_empty());
    // An approved template goes, from the org's number to the contact.
    let sent = t
        .post(
            &url,
            &agent(),
            json!({"content_sid": TEMPLATE_SID, "content_variables": {"1": "Ana"}}),
        )
        .await;
    assert_eq!(sent.status, 201, "{:?}", sent.json);
    let creates = message_creates(&t);
    assert_eq!(creates.len(), 1);
    let form = |name: &str| {
        creates[0]
            .form
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
    };
    assert_eq!(form("From").as_deref(), Some(BUSINESS));
    assert_eq!(form("To").as_deref(), Some(CONTACT));
    assert_eq!(form("ContentSid").as_deref(), Some(TEMPLATE_SID));

    // The contact answers (the template's delivery statuses come back
    // through the same queue meanwhile): the same conversation, and
    // free-form now goes.
    t.inbound(CONTACT, BUSINESS, "yes please").await;
    assert!(t.drain().await >= 1);
    let inbox = t.inbox(&agent()).await;
    assert_eq!(inbox.len(), 1, "one conversation: {inbox:?}");
    assert_eq!(t.messages(&conv, &agent()).await.len(), 2);
    let free = t.post(&url, &agent(), json!({"body": "great"})).await;
    assert_eq!(free.status, 201, "{:?}", free.json);
}

#[tokio::test]
async fn when_starting_a_conversation_is_not_allowed_or_malformed_it_should_be_4xx_and_open_nothing()
 {
    let t = spawn_app().await;
    t.register_number(BUSINESS, ORG).await;
    t.register_number("whatsapp:+15550005555", "org_other")
        .await;
    let cases: Vec<(String, Value, u16, &str)> = vec![
        // Customers, providers and another org's agent.
        (
            customer(),
            start_body(BUSINESS, CONTACT),
            403,
            "agents_only",
        ),
        (
            provider(),
            start_body(BUSINESS, CONTACT),
            403,
            "agents_only",
        ),
        (
            agent(),
            json!({"conversation_type": "whatsapp", "business_address": BUSINESS,
                   "contact_address": CONTACT, "org_id": "org_other"}),
            403,
            "agents_only",
        ),
        // Another org's number, and a number nobody registered.
        (
            agent(),
            start_body("whatsapp:+15550005555", CONTACT),
            422,
            "unknown_business_number",
        ),
        (
            agent(),
            start_body("whatsapp:+15550009999", CONTACT),
            422,
            "unknown_business_number",
        ),
        // Channels that do not match, and addresses that are not E.164.
        (
            agent(),
            start_body(BUSINESS, "+15557654321"),
            422,
            "channel_mismatch",
        ),
        (
            agent(),
            start_body(BUSINESS, "whatsapp:0157"),
            422,
            "invalid_address",
        ),
        // Missing and unknown fields.
        (
            agent(),
            json!({"conversation_type": "whatsapp", "business_address": BUSINESS}),
            422,
            "invalid_request",
        ),
        (
            agent(),
            json!({"conversation_type": "sms", "business_address": "+15550004444",
                   "contact_address": "+15557654321", "participants": []}),
            422,
            "invalid_request",
        ),
        // A service must name the org.
        (
            service(),
            start_body(BUSINESS, CONTACT),
            422,
            "missing_org_id",
        ),
    ];
    for (token, body, status, code) in cases {
        let r = t.post("/conversations", &token, body).await;
        assert_error(&r, status, code);
    }
    assert!(t.inbox(&agent()).await.is_empty(), "nothing opened");
    assert!(t.inbox(&agent_of("a", "org_other")).await.is_empty());

    // A service naming the org may open it.
    let mut body = start_body(BUSINESS, CONTACT);
    body["org_id"] = json!(ORG);
    let r = t.post("/conversations", &service(), body).await;
    assert_eq!(r.status, 201, "{:?}", r.json);
}

/// The same on Meta's WhatsApp Cloud API: the org's phone number id, a Meta
/// template first, and the contact's answer (phone and BSUID) lands in the
/// started conversation.
#[tokio::test]
async fn when_an_agent_starts_a_meta_conversation_a_meta_template_should_open_it() {
    let t = spawn_app().await;
    const ID: &str = "109000000000055";
    let r = t.register_meta(ID, "EAAG-start-token", ORG).await;
    assert_eq!(r.status, 201, "{:?}", r.json);
    let body = json!({
        "conversation_type": "whatsapp",
        "provider": "meta",
        "business_address": ID,
        "contact_address": CONTACT,
    });
    // Not the org's number / malformed: refused, nothing opened.
    for (bad, code) in [
        (
            json!({"business_address": "109000000000056"}),
            "unknown_business_number",
        ),
        (
            json!({"business_address": "+15550004444"}),
            "invalid_address",
        ),
        (
            json!({"conversation_type": "sms", "contact_address": "+15557654321"}),
            "channel_mismatch",
        ),
    ] {
        let mut b = body.clone();
        for (k, v) in bad.as_object().unwrap() {
            b[k] = v.clone();
        }
        let r = t.post("/conversations", &agent(), b).await;
        assert_error(&r, 422, code);
    }
    let r = t.post("/conversations", &agent(), body.clone()).await;
    assert_eq!(r.status, 201, "{:?}", r.json);
    let conv = inbox_conversation_id(ORG, "meta", "whatsapp", CONTACT);
    assert_eq!(r.json["id"], conv.as_str(), "{:?}", r.json);
    assert_eq!(r.json["inbox"]["provider"], "meta", "{:?}", r.json);

    let url = format!("/conversations/{conv}/messages");
    let free = t.post(&url, &agent(), json!({"body": "hi!"})).await;
    assert_error(&free, 422, "outside_customer_service_window");
    let twilio_kind = t
        .post(&url, &agent(), json!({"content_sid": TEMPLATE_SID}))
        .await;
    assert_eq!(twilio_kind.status, 422, "{:?}", twilio_kind.json);
    let sent = t
        .post(
            &url,
            &agent(),
            json!({"template": {"name": "booking_follow_up", "language": "en_US"}}),
        )
        .await;
    assert_eq!(sent.status, 201, "{:?}", sent.json);
    let graph = t.meta.requests();
    let last = graph.last().expect("a Graph send");
    assert_eq!(last.phone_number_id, ID);
    assert_eq!(last.body["type"], "template", "{:?}", last.body);
    assert_eq!(last.body["template"]["name"], "booking_follow_up");

    // The contact answers (phone and BSUID): the same conversation, and
    // free-form is open now.
    t.meta_text(ID, Some("15557654321"), Some("US.77001"), "yes please")
        .await;
    t.drain().await;
    let bodies: Vec<String> = t
        .messages(&conv, &agent())
        .await
        .iter()
        .map(|m| m["body"].as_str().unwrap_or("").to_string())
        .collect();
    // (Meta's own timestamp orders it, a few minutes back here.)
    assert!(bodies.iter().any(|b| b == "yes please"), "{bodies:?}");
    assert_eq!(t.inbox(&agent()).await.len(), 1, "one conversation");
    let free = t.post(&url, &agent(), json!({"body": "great"})).await;
    assert_eq!(free.status, 201, "{:?}", free.json);
}
