//! Meta's WhatsApp Cloud API end to end, over HTTP: the webhook handshake
//! and signatures, inbound messages and statuses routed by phone number id,
//! replies through the Graph stand-in with the org's token and Meta's
//! errors, WhatsApp usernames (business-scoped ids) and tenant isolation.

use crate::helpers::*;
use dev::meta_standin::{DEV_META_APP_SECRET, DEV_META_VERIFY_TOKEN, MetaStandIn};
use serde_json::json;
use shared::inbox::inbox_conversation_id;

const NUMBER_ID_A: &str = "106540352242922";
const NUMBER_ID_B: &str = "209876543210987";
const TOKEN_A: &str = "EAAG-token-of-org-a";
const TOKEN_B: &str = "EAAG-token-of-org-b";
const PHONE: &str = "15551234567";
const BSUID: &str = "US.13491208655302741918";

impl TestApp {
    /// Register a Meta phone number id with its token for `org`.
    pub(crate) async fn register_meta(&self, number_id: &str, token: &str, org: &str) -> Resp {
        self.meta.allow_token(number_id, token);
        self.post(
            "/chat-accounts",
            &service(),
            json!({"provider": "meta", "address": number_id, "org_id": org, "access_token": token}),
        )
        .await
    }

    /// An inbound text delivered like Meta; returns its wamid.
    pub(crate) async fn meta_text(
        &self,
        number_id: &str,
        wa_id: Option<&str>,
        user_id: Option<&str>,
        body: &str,
    ) -> String {
        let wamid = self.meta.new_wamid();
        let delivery =
            MetaStandIn::text_delivery(number_id, &wamid, wa_id, user_id, body, sent_at());
        let (status, answer) = self.meta.send_webhook(&delivery).await.expect("webhook");
        assert_eq!(status, 200, "{answer}");
        wamid
    }

    async fn meta_status(&self, number_id: &str, wamid: &str, status: &str, code: Option<i64>) {
        let delivery = MetaStandIn::status_delivery(number_id, wamid, status, code);
        let (s, answer) = self.meta.send_webhook(&delivery).await.expect("webhook");
        assert_eq!(s, 200, "{answer}");
    }
}

/// Meta's `timestamp` of the next inbound message: a second later each
/// time, within the last few minutes (the window is open).
fn sent_at() -> i64 {
    static NEXT: std::sync::atomic::AtomicI64 = std::sync::atomic::AtomicI64::new(0);
    chrono::Utc::now().timestamp() - 600 + NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
}

pub(crate) fn meta_conv(org: &str, address: &str) -> String {
    inbox_conversation_id(org, "meta", "whatsapp", address)
}

#[tokio::test]
async fn when_meta_verifies_the_webhook_it_should_get_its_challenge_back_only_with_the_token() {
    let t = spawn_app().await;
    let url = |token: &str| {
        format!(
            "{}/webhooks/meta?hub.mode=subscribe&hub.challenge=1158201444&hub.verify_token={token}",
            t.base
        )
    };
    let r = t.http.get(url(DEV_META_VERIFY_TOKEN)).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["content-type"], "text/plain");
    assert_eq!(r.text().await.unwrap(), "1158201444");
    let r = t.http.get(url("wrong-token")).send().await.unwrap();
    assert_eq!(r.status(), 403);
    let r = t
        .http
        .get(format!("{}/webhooks/meta", t.base))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
}

#[tokio::test]
async fn when_a_delivery_is_forged_it_should_be_403_and_never_enqueued() {
    let t = spawn_app().await;
    t.register_meta(NUMBER_ID_A, TOKEN_A, "org_a").await;
    let delivery =
        MetaStandIn::text_delivery(NUMBER_ID_A, "wamid.forged", Some(PHONE), None, "hi", 1);
    let (status, _) = t
        .meta
        .send_signed(&delivery, "not-the-app-secret")
        .await
        .unwrap();
    assert_eq!(status, 403);
    // Unsigned, and signed but tampered with.
    let r = t
        .http
        .post(format!("{}/webhooks/meta", t.base))
        .header("content-type", "application/json")
        .body(delivery.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
    let good = shared::meta::signature::sign(DEV_META_APP_SECRET, delivery.as_bytes());
    let r = t
        .http
        .post(format!("{}/webhooks/meta", t.base))
        .header("content-type", "application/json")
        .header("x-hub-signature-256", good)
        .body(delivery.replace("hi", "ho"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
    assert_eq!(t.drain().await, 0, "nothing forged reached the queue");
    assert!(t.inbox(&agent_of("agent_a", "org_a")).await.is_empty());
}

#[tokio::test]
async fn when_a_meta_contact_writes_the_org_should_see_it_and_reply_through_graph() {
    let t = spawn_app().await;
    let r = t.register_meta(NUMBER_ID_A, TOKEN_A, "org_a").await;
    assert_eq!(r.status, 201, "{:?}", r.json);
    assert_eq!(r.json["provider"], "meta");
    assert_eq!(r.json["has_access_token"], true);
    assert!(
        !r.json.to_string().contains(TOKEN_A),
        "the token is never returned"
    );
    let listed = t.get("/chat-accounts?org_id=org_a", &service()).await;
    assert!(
        !listed.json.to_string().contains(TOKEN_A),
        "{:?}",
        listed.json
    );

    let wamid = t
        .meta_text(NUMBER_ID_A, Some(PHONE), Some(BSUID), "Hola")
        .await;
    // Meta redelivers: still one message.
    let again = MetaStandIn::text_delivery(
        NUMBER_ID_A,
        &wamid,
        Some(PHONE),
        Some(BSUID),
        "Hola",
        sent_at(),
    );
    assert_eq!(t.meta.send_webhook(&again).await.unwrap().0, 200);
    assert_eq!(t.drain().await, 2);

    let agent = agent_of("agent_a", "org_a");
    let conv = meta_conv("org_a", &format!("whatsapp:{BSUID}"));
    let inbox = t.inbox(&agent).await;
    assert_eq!(inbox.len(), 1, "{inbox:?}");
    assert_eq!(inbox[0]["id"], conv.as_str());
    assert_eq!(inbox[0]["inbox"]["provider"], "meta");
    let messages = t.messages(&conv, &agent).await;
    assert_eq!(messages.len(), 1);
    assert_eq!(messages[0]["body"], "Hola");

    // The reply goes to the phone number, with org A's token.
    t.meta.set_next_id("wamid.reply1");
    let r = t.send(&conv, &agent, "Yes, 10am").await;
    assert_eq!(r.status, 201, "{:?}", r.json);
    let sent = t.meta.requests();
    let last = sent.last().unwrap();
    assert_eq!(last.phone_number_id, NUMBER_ID_A);
    assert_eq!(last.body["to"], PHONE);
    assert_eq!(last.body["text"]["body"], "Yes, 10am");

    // Statuses move it forward only.
    t.meta_status(NUMBER_ID_A, "wamid.reply1", "read", None)
        .await;
    t.meta_status(NUMBER_ID_A, "wamid.reply1", "delivered", None)
        .await;
    t.meta_status(NUMBER_ID_A, "wamid.reply1", "sent", None)
        .await;
    t.drain().await;
    let messages = t.messages(&conv, &agent).await;
    assert_eq!(messages[1]["status"], "read", "{:?}", messages[1]);

    // Stats count the Meta conversation under `meta`.
    let stats = t.get("/stats/providers", &agent).await;
    let meta = stats.json["providers"]
        .as_array()
        .or(stats.json["items"].as_array())
        .expect("providers")
        .iter()
        .find(|p| p["provider"] == "meta")
        .cloned()
        .expect("meta stats");
    assert_eq!(meta["total"], 1, "{:?}", stats.json);
}

#[tokio::test]
async fn when_meta_refuses_a_reply_the_error_should_be_actionable() {
    let t = spawn_app().await;
    t.register_meta(NUMBER_ID_A, TOKEN_A, "org_a").await;
    t.meta_text(NUMBER_ID_A, Some(PHONE), None, "hi").await;
    t.drain().await;
    let agent = agent_of("agent_a", "org_a");
    let conv = meta_conv("org_a", &format!("whatsapp:+{PHONE}"));
    for (status, code, api_status, api_code) in [
        (400, 131047, 422, "outside_customer_service_window"),
        (400, 131026, 422, "invalid_recipient"),
        (429, 130429, 429, "meta_rate_limited"),
        (400, 131056, 429, "meta_rate_limited"),
        (401, 190, 502, "meta_token_invalid"),
    ] {
        t.meta.fail_next(status, code);
        let r = t.send(&conv, &agent, "hello").await;
        assert_error(&r, api_status, api_code);
        assert_eq!(r.json["error"]["meta_code"], code);
    }
    let r = t.send(&conv, &agent, "hello").await;
    assert_eq!(r.status, 201, "{:?}", r.json);
    assert_eq!(
        t.messages(&conv, &agent).await.len(),
        2,
        "refused replies are not stored"
    );
}

#[tokio::test]
async fn when_an_agent_sends_a_template_or_media_it_should_reach_graph_in_its_shape() {
    let t = spawn_app().await;
    t.register_meta(NUMBER_ID_A, TOKEN_A, "org_a").await;
    t.meta_text(NUMBER_ID_A, Some(PHONE), None, "hi").await;
    t.drain().await;
    let agent = agent_of("agent_a", "org_a");
    let conv = meta_conv("org_a", &format!("whatsapp:+{PHONE}"));
    let path = format!("/conversations/{conv}/messages");
    let template = json!({"name": "booking_reminder", "language": "en_US",
        "components": [{"type": "body", "parameters": [{"type": "text", "text": "Ana"}]}]});
    let r = t.post(&path, &agent, json!({"template": template})).await;
    assert_eq!(r.status, 201, "{:?}", r.json);
    let sent = t.meta.requests().last().unwrap().body.clone();
    assert_eq!(sent["type"], "template");
    assert_eq!(sent["template"]["language"], json!({"code": "en_US"}));
    assert_eq!(
        sent["template"]["components"][0]["parameters"][0]["text"],
        "Ana"
    );
    let r = t
        .post(
            &path,
            &agent,
            json!({"body": "the invoice", "media_urls": ["https://cdn.example.com/invoice.pdf"]}),
        )
        .await;
    assert_eq!(r.status, 201, "{:?}", r.json);
    let sent = t.meta.requests().last().unwrap().body.clone();
    assert_eq!(sent["type"], "document");
    assert_eq!(
        sent["document"],
        json!({"link": "https://cdn.example.com/invoice.pdf", "caption": "the invoice"})
    );
    // Twilio's template on a Meta conversation, two media: clear 422s.
    let r = t
        .post(
            &path,
            &agent,
            json!({"content_sid": format!("HX{}", "0".repeat(32))}),
        )
        .await;
    assert_error(&r, 422, "invalid_request");
    let r = t
        .post(
            &path,
            &agent,
            json!({"media_urls": ["https://x.example/a.jpg", "https://x.example/b.jpg"]}),
        )
        .await;
    assert_error(&r, 422, "invalid_media_urls");
    let r = t
        .post(
            &path,
            &agent,
            json!({"template": {"name": "Bad Name", "language": "en"}}),
        )
        .await;
    assert_error(&r, 422, "invalid_template");
}

#[tokio::test]
async fn when_a_status_arrives_before_its_message_it_should_apply_once_the_message_is_stored() {
    let t = spawn_app().await;
    t.register_meta(NUMBER_ID_A, TOKEN_A, "org_a").await;
    t.meta_text(NUMBER_ID_A, Some(PHONE), None, "hi").await;
    t.drain().await;
    // Meta's `delivered` for the reply lands before the reply is stored.
    t.meta_status(NUMBER_ID_A, "wamid.early", "delivered", None)
        .await;
    t.drain().await;
    t.meta.set_next_id("wamid.early");
    let agent = agent_of("agent_a", "org_a");
    let conv = meta_conv("org_a", &format!("whatsapp:+{PHONE}"));
    let r = t.send(&conv, &agent, "hello").await;
    assert_eq!(r.status, 201, "{:?}", r.json);
    let messages = t.messages(&conv, &agent).await;
    assert_eq!(messages[1]["status"], "delivered", "{:?}", messages[1]);
    // A later failure keeps its code (131026) without undoing the delivery.
    t.meta_status(NUMBER_ID_A, "wamid.early", "failed", Some(131026))
        .await;
    t.drain().await;
    let messages = t.messages(&conv, &agent).await;
    assert_eq!(messages[1]["status"], "delivered");
}

#[tokio::test]
async fn when_a_username_contact_is_later_seen_by_phone_it_should_stay_one_conversation() {
    let t = spawn_app().await;
    t.register_meta(NUMBER_ID_A, TOKEN_A, "org_a").await;
    // First by business-scoped id only (a username user), then with the
    // phone too, then by phone only.
    t.meta_text(NUMBER_ID_A, None, Some(BSUID), "one").await;
    t.drain().await;
    t.meta_text(NUMBER_ID_A, Some(PHONE), Some(BSUID), "two")
        .await;
    t.drain().await;
    t.meta_text(NUMBER_ID_A, Some(PHONE), None, "three").await;
    t.drain().await;
    let agent = agent_of("agent_a", "org_a");
    let inbox = t.inbox(&agent).await;
    assert_eq!(inbox.len(), 1, "{inbox:?}");
    let conv = meta_conv("org_a", &format!("whatsapp:{BSUID}"));
    assert_eq!(inbox[0]["id"], conv.as_str());
    assert_eq!(t.bodies(&conv, &agent).await, ["one", "two", "three"]);
    // Replies reach the username user by BSUID (`recipient`).
    let r = t.send(&conv, &agent, "hi").await;
    assert_eq!(r.status, 201, "{:?}", r.json);
    let sent = t.meta.requests().last().unwrap().body.clone();
    assert_eq!(sent["recipient"], BSUID);
}

#[tokio::test]
async fn when_a_twilio_username_contact_writes_it_should_be_stored_and_later_joined_by_phone() {
    let t = spawn_app().await;
    let number = "whatsapp:+15550001111";
    t.register_number(number, "org_a").await;
    let send = |from: &'static str, external: Option<&'static str>, body: &'static str| {
        let t = &t;
        async move {
            let sid = t.standin.new_message_sid();
            let mut p = t.standin.inbound_params(&sid, from, number, body);
            if let Some(e) = external {
                p.push(("ExternalUserId".into(), e.into()));
                p.push(("ProfileUsername".into(), "@ana".into()));
            }
            let (status, answer) = t
                .standin
                .send_webhook("/webhooks/twilio/messaging", &p)
                .await
                .unwrap();
            assert_eq!(status, 200, "{answer}");
            t.drain().await;
        }
    };
    send("whatsapp:US.777", Some("US.777"), "by username").await;
    send("whatsapp:+15551234567", Some("US.777"), "by phone and id").await;
    send("whatsapp:+15551234567", None, "by phone").await;
    let agent = agent_of("agent_a", "org_a");
    let inbox = t.inbox(&agent).await;
    assert_eq!(inbox.len(), 1, "{inbox:?}");
    let conv = inbox_conversation_id("org_a", "twilio", "whatsapp", "whatsapp:US.777");
    assert_eq!(inbox[0]["id"], conv.as_str());
    assert_eq!(
        t.bodies(&conv, &agent).await,
        ["by username", "by phone and id", "by phone"]
    );
    let parked = t.get("/chat-accounts?org_id=org_a", &service()).await;
    assert_eq!(
        parked.json["unroutable"],
        json!([]),
        "a username is never parked"
    );
}

#[tokio::test]
async fn when_two_orgs_have_meta_numbers_each_should_see_and_reply_with_its_own() {
    let t = spawn_app().await;
    t.register_meta(NUMBER_ID_A, TOKEN_A, "org_a").await;
    t.register_meta(NUMBER_ID_B, TOKEN_B, "org_b").await;
    // Another org cannot take org A's number.
    let r = t
        .post(
            "/chat-accounts",
            &service(),
            json!({"provider": "meta", "address": NUMBER_ID_A, "org_id": "org_b", "access_token": "x"}),
        )
        .await;
    assert_error(&r, 409, "address_taken");
    // The same contact writes to both businesses.
    t.meta_text(NUMBER_ID_A, Some(PHONE), Some(BSUID), "to A")
        .await;
    t.meta_text(NUMBER_ID_B, Some(PHONE), Some(BSUID), "to B")
        .await;
    // A number nobody registered is parked, not stored anywhere.
    t.meta_text("300000000000001", Some(PHONE), None, "to nobody")
        .await;
    assert_eq!(t.drain().await, 3);
    let (agent_a, agent_b) = (agent_of("agent_a", "org_a"), agent_of("agent_b", "org_b"));
    let conv_a = meta_conv("org_a", &format!("whatsapp:{BSUID}"));
    let conv_b = meta_conv("org_b", &format!("whatsapp:{BSUID}"));
    assert_ne!(conv_a, conv_b);
    assert_eq!(t.bodies(&conv_a, &agent_a).await, ["to A"]);
    assert_eq!(t.bodies(&conv_b, &agent_b).await, ["to B"]);
    assert_error(
        &t.get(&format!("/conversations/{conv_a}"), &agent_b).await,
        404,
        "not_found",
    );
    assert_error(&t.send(&conv_a, &agent_b, "sneaky").await, 404, "not_found");
    // Each org's reply goes out from its number with its token.
    assert_eq!(t.send(&conv_b, &agent_b, "from B").await.status, 201);
    let last = t.meta.requests().last().unwrap().clone();
    assert_eq!(last.phone_number_id, NUMBER_ID_B);
    let parked = t.get("/chat-accounts?org_id=org_a", &service()).await;
    let unroutable = parked.json["unroutable"].as_array().unwrap();
    assert_eq!(unroutable.len(), 1, "{unroutable:?}");
    assert_eq!(unroutable[0]["to"], "300000000000001");
    // Org B's token rotated: org B re-registers; org A's token unchanged.
    t.meta.allow_token(NUMBER_ID_B, "EAAG-rotated");
    let r = t.register_meta(NUMBER_ID_B, "EAAG-rotated", "org_b").await;
    assert_eq!(r.status, 200, "{:?}", r.json);
    assert_eq!(
        t.send(&conv_b, &agent_b, "after rotation").await.status,
        201
    );
}

#[tokio::test]
async fn when_a_meta_account_is_registered_badly_it_should_be_a_clear_4xx() {
    let t = spawn_app().await;
    for (body, code) in [
        (
            json!({"provider": "meta", "address": NUMBER_ID_A, "org_id": "org_a"}),
            "missing_access_token",
        ),
        (
            json!({"provider": "meta", "address": "+15550001111", "org_id": "org_a", "access_token": "t"}),
            "invalid_address",
        ),
        (
            json!({"provider": "kommo", "address": "x", "org_id": "org_a"}),
            "provider_not_wired",
        ),
        (
            json!({"provider": "viber", "address": "x", "org_id": "org_a"}),
            "invalid_provider",
        ),
        (
            json!({"address": "whatsapp:+15550001111", "org_id": "org_a", "access_token": "t"}),
            "invalid_request",
        ),
    ] {
        let r = t.post("/chat-accounts", &service(), body.clone()).await;
        assert_error(&r, 422, code);
    }
    let admin = token_with("admin_a", shared::auth::UserType::Agent, Some("org_a"));
    let r = t
        .post(
            "/chat-accounts",
            &admin,
            json!({"provider": "meta", "address": NUMBER_ID_A, "access_token": "t"}),
        )
        .await;
    assert_eq!(r.status, 403);
    let r = t
        .delete(
            &format!("/chat-accounts?provider=meta&address={NUMBER_ID_A}&org_id=org_a"),
            &service(),
        )
        .await;
    assert_eq!(r.status, 404);
    t.register_meta(NUMBER_ID_A, TOKEN_A, "org_a").await;
    let r = t
        .delete(
            &format!("/chat-accounts?provider=meta&address={NUMBER_ID_A}&org_id=org_a"),
            &service(),
        )
        .await;
    assert_eq!(r.status, 204);
}
