//! Issue 11 part 3: each org on its own Twilio (sub)account. Its
//! credentials go to the credential store (Secrets Manager, the emulator),
//! never to the table nor the API; its webhooks are checked with its own
//! token, chosen by `AccountSid`; its replies go out with its own
//! credentials; and no org can speak for another org's numbers, even with
//! a perfectly signed webhook of its own account. Org admins register a
//! number only with credentials that own it.

use crate::helpers::*;
use serde_json::{Value, json};
use shared::inbox::inbox_conversation_id;

const ACC_A: &str = "ACaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
const TOKEN_A: &str = "token-of-account-a-0123456789abcdef";
const ACC_B: &str = "ACbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb";
const TOKEN_B: &str = "token-of-account-b-0123456789abcdef";
const ACC_C: &str = "ACcccccccccccccccccccccccccccccccc";
const TOKEN_C: &str = "token-of-account-c-0123456789abcdef";
const KEY_A: &str = "SKaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
const KEY_SECRET_A: &str = "api-key-secret-of-a-0123456789abcdef";

const NUM_A: &str = "+15550100001";
const NUM_A2: &str = "+15550100002";
const NUM_B: &str = "+15550200001";
const NUM_C: &str = "+15550300001";
const CONTACT: &str = "whatsapp:+15559990001";

fn wa(n: &str) -> String {
    format!("whatsapp:{n}")
}

fn with_account(address: &str, org: Option<&str>, sid: &str, token: &str) -> Value {
    let mut v = json!({"address": address, "account_sid": sid, "auth_token": token});
    if let Some(org) = org {
        v["org_id"] = json!(org);
    }
    v
}

impl TestApp {
    /// Register Twilio number `address` for `org` on the org's own account
    /// (`account_sid` with its auth token), as the booking system's service.
    pub(crate) async fn register_own_account(
        &self,
        address: &str,
        org: &str,
        account_sid: &str,
        token: &str,
    ) -> Resp {
        self.post(
            "/chat-accounts",
            &service(),
            json!({"address": address, "org_id": org, "account_sid": account_sid, "auth_token": token}),
        )
        .await
    }
}

/// Two orgs, each with its own subaccount and number (registered by the
/// booking system's service token).
async fn two_tenants(t: &TestApp) {
    t.standin.add_subaccount(ACC_A, TOKEN_A, &[NUM_A, NUM_A2]);
    t.standin.add_subaccount(ACC_B, TOKEN_B, &[NUM_B]);
    for (num, org, sid, token) in [
        (NUM_A, "org_a", ACC_A, TOKEN_A),
        (NUM_B, "org_b", ACC_B, TOKEN_B),
    ] {
        let r = register(t, &service(), with_account(&wa(num), Some(org), sid, token)).await;
        assert_eq!(r.status, 201, "{:?}", r.json);
        assert_eq!(r.json["twilio_account_sid"], sid);
        let text = r.json.to_string();
        assert!(!text.contains(token), "a credential was returned: {text}");
    }
}

/// An inbound message sent as `account` would send it; the webhook's status.
async fn inbound_as(t: &TestApp, account: &str, to: &str, body: &str) -> (String, u16) {
    let sid = t.standin.new_message_sid();
    let p = t.standin.inbound_params(&sid, CONTACT, to, body);
    let (status, answer) = t
        .standin
        .send_webhook_as(account, "/webhooks/twilio/messaging", &p)
        .await
        .expect("webhook");
    assert!(status == 200 || status == 403, "{status}: {answer}");
    (sid, status)
}

/// `POST /chat-accounts` with `token`.
async fn register(t: &TestApp, token: &str, body: Value) -> Resp {
    t.post("/chat-accounts", token, body).await
}

fn bodies(messages: &[Value]) -> Vec<String> {
    messages
        .iter()
        .map(|m| m["body"].as_str().unwrap_or("").to_string())
        .collect()
}

#[tokio::test]
async fn when_two_orgs_use_two_twilio_accounts_each_should_receive_and_reply_through_its_own() {
    let t = spawn_app().await;
    two_tenants(&t).await;

    let (_, status) = inbound_as(&t, ACC_A, &wa(NUM_A), "hello A").await;
    assert_eq!(status, 200);
    let (_, status) = inbound_as(&t, ACC_B, &wa(NUM_B), "hello B").await;
    assert_eq!(status, 200);
    t.drain().await;

    let conv_a = inbox_conversation_id("org_a", "twilio", "whatsapp", CONTACT);
    let conv_b = inbox_conversation_id("org_b", "twilio", "whatsapp", CONTACT);
    let agent_a = agent_of("agent_a", "org_a");
    let agent_b = agent_of("agent_b", "org_b");
    assert_eq!(bodies(&t.messages(&conv_a, &agent_a).await), ["hello A"]);
    assert_eq!(bodies(&t.messages(&conv_b, &agent_b).await), ["hello B"]);
    // Neither org sees the other's conversation.
    assert_eq!(
        t.get(&format!("/conversations/{conv_b}"), &agent_a)
            .await
            .status,
        404
    );

    // Replies go out as each org's own account, from its own number.
    for (conv, agent, text) in [
        (&conv_a, &agent_a, "reply A"),
        (&conv_b, &agent_b, "reply B"),
    ] {
        let r = t
            .post(
                &format!("/conversations/{conv}/messages"),
                agent,
                json!({"body": text}),
            )
            .await;
        assert_eq!(r.status, 201, "{:?}", r.json);
    }
    let sent: Vec<(String, String, String)> = t
        .standin
        .sms_sent_by()
        .into_iter()
        .map(|(account, _, from, _, body)| (account, from, body))
        .collect();
    assert_eq!(
        sent,
        [
            (ACC_A.to_string(), wa(NUM_A), "reply A".to_string()),
            (ACC_B.to_string(), wa(NUM_B), "reply B".to_string()),
        ]
    );

    // Their status callbacks (signed by each account) move the messages.
    tokio::time::sleep(std::time::Duration::from_millis(600)).await;
    t.drain().await;
    for (conv, agent) in [(&conv_a, &agent_a), (&conv_b, &agent_b)] {
        let msgs = t.messages(conv, agent).await;
        let reply = msgs.last().expect("the reply");
        assert_eq!(reply["status"], "read", "{reply}");
    }
}

#[tokio::test]
async fn when_an_org_signs_a_webhook_for_another_orgs_number_it_should_never_reach_that_inbox() {
    let t = spawn_app().await;
    two_tenants(&t).await;
    inbound_as(&t, ACC_A, &wa(NUM_A), "the real one").await;
    t.drain().await;
    let conv_a = inbox_conversation_id("org_a", "twilio", "whatsapp", CONTACT);
    let agent_a = agent_of("agent_a", "org_a");

    // Org B holds its own token: a perfectly signed webhook of account B
    // that names org A's number is accepted by ingest (the signature is
    // B's), and refused by the processor: B does not own that number.
    let (forged_sid, status) = inbound_as(&t, ACC_B, &wa(NUM_A), "forged by B").await;
    assert_eq!(status, 200);
    // Claiming to be account A without A's token: refused at the door.
    let sid = t.standin.new_message_sid();
    let mut p = t
        .standin
        .inbound_params(&sid, CONTACT, &wa(NUM_A), "claims A");
    p.retain(|(k, _)| k != "AccountSid");
    p.push(("AccountSid".into(), ACC_A.into()));
    let (status, _) = t
        .standin
        .send_webhook("/webhooks/twilio/messaging", &p)
        .await
        .unwrap();
    assert_eq!(status, 403, "signed with the environment's token, not A's");
    // The environment's own account cannot speak for A's number either.
    let (_, status) = inbound_as(&t, t.standin.account_sid(), &wa(NUM_A), "env for A").await;
    assert_eq!(status, 200);
    t.drain().await;

    assert_eq!(
        bodies(&t.messages(&conv_a, &agent_a).await),
        ["the real one"]
    );
    let conv_b = inbox_conversation_id("org_b", "twilio", "whatsapp", CONTACT);
    assert_eq!(
        t.get(
            &format!("/conversations/{conv_b}"),
            &agent_of("agent_b", "org_b")
        )
        .await
        .status,
        404
    );
    // Kept for an operator, not lost: both refused messages are parked.
    let list = t.get("/chat-accounts?org_id=org_a", &service()).await;
    let parked: Vec<&str> = list.json["unroutable"]
        .as_array()
        .expect("unroutable")
        .iter()
        .filter_map(|u| u["message_sid"].as_str())
        .collect();
    assert!(parked.contains(&forged_sid.as_str()), "{parked:?}");
    assert_eq!(parked.len(), 2, "{parked:?}");
}

#[tokio::test]
async fn when_another_account_sends_a_status_for_an_orgs_message_it_should_not_move_it() {
    let t = spawn_app().await;
    two_tenants(&t).await;
    t.standin.disable_status_callbacks();
    inbound_as(&t, ACC_A, &wa(NUM_A), "hi").await;
    t.drain().await;
    let conv_a = inbox_conversation_id("org_a", "twilio", "whatsapp", CONTACT);
    let agent_a = agent_of("agent_a", "org_a");
    let r = t
        .post(
            &format!("/conversations/{conv_a}/messages"),
            &agent_a,
            json!({"body": "reply"}),
        )
        .await;
    assert_eq!(r.status, 201, "{:?}", r.json);
    let sid = r.json["twilio_message_sid"]
        .as_str()
        .expect("the reply's SID")
        .to_string();
    let status = |s: &str| {
        params(&[
            ("MessageSid", &sid),
            ("MessageStatus", s),
            ("From", &wa(NUM_A)),
            ("To", CONTACT),
        ])
    };
    // Account B's signed "failed" for A's message: ignored.
    let (code, _) = t
        .standin
        .send_webhook_as(ACC_B, "/webhooks/twilio/messaging", &status("failed"))
        .await
        .unwrap();
    assert_eq!(code, 200);
    t.drain().await;
    let last = |msgs: Vec<Value>| msgs.last().cloned().unwrap();
    assert_eq!(
        last(t.messages(&conv_a, &agent_a).await)["status"],
        "queued"
    );
    // Account A's own "delivered": applied.
    t.standin
        .send_webhook_as(ACC_A, "/webhooks/twilio/messaging", &status("delivered"))
        .await
        .unwrap();
    t.drain().await;
    assert_eq!(
        last(t.messages(&conv_a, &agent_a).await)["status"],
        "delivered"
    );
}

#[tokio::test]
async fn when_an_org_admin_registers_a_number_its_credentials_should_have_to_own_it() {
    let t = spawn_app().await;
    two_tenants(&t).await;
    t.standin.add_subaccount(ACC_C, TOKEN_C, &[NUM_C]);
    let admin_c = admin_token("adm_c", "org_c");

    // Without credentials: no proof, no registration.
    let r = t
        .post("/chat-accounts", &admin_c, json!({"address": wa(NUM_C)}))
        .await;
    assert_error(&r, 403, "ownership_unverified");
    // Wrong token: Twilio refuses, so nothing is proven.
    let r = register(
        &t,
        &admin_c,
        with_account(&wa(NUM_C), None, ACC_C, "not-the-token-0123456789"),
    )
    .await;
    assert_error(&r, 403, "ownership_unverified");
    // The right account, but a number it does not hold.
    let r = register(
        &t,
        &admin_c,
        with_account("+15550399999", None, ACC_C, TOKEN_C),
    )
    .await;
    assert_error(&r, 403, "ownership_unverified");
    // Another org's number under its own account: the account is taken.
    let r = register(
        &t,
        &admin_c,
        with_account(&wa(NUM_A2), None, ACC_A, TOKEN_A),
    )
    .await;
    assert_error(&r, 409, "account_taken");
    // Malformed input: a clear 422 each.
    for (body, code) in [
        (
            json!({"address": wa(NUM_C), "account_sid": ACC_C}),
            "missing_credentials",
        ),
        (
            json!({"address": wa(NUM_C), "account_sid": "AC1", "auth_token": TOKEN_C}),
            "invalid_account_sid",
        ),
        (
            json!({"address": wa(NUM_C), "account_sid": ACC_C, "auth_token": TOKEN_C, "api_key_sid": "SK1"}),
            "invalid_credentials",
        ),
    ] {
        let r = t.post("/chat-accounts", &admin_c, body).await;
        assert_eq!(r.status, 422, "{code}: {:?}", r.json);
    }
    let r = t.get("/chat-accounts", &admin_c).await;
    assert_eq!(r.json["items"], json!([]), "nothing registered yet");

    // Proven: registered, for the admin's own org only.
    let r = register(&t, &admin_c, with_account(&wa(NUM_C), None, ACC_C, TOKEN_C)).await;
    assert_eq!(r.status, 201, "{:?}", r.json);
    assert_eq!(r.json["org_id"], "org_c");
    assert_eq!(r.json["created_by"], "adm_c");
    // Another org's admin with C's stolen token and number: the number is
    // org C's now.
    let r = register(
        &t,
        &admin_token("adm_d", "org_d"),
        with_account(&wa(NUM_C), None, ACC_C, TOKEN_C),
    )
    .await;
    assert_error(&r, 409, "account_taken");

    // The listing never shows a credential.
    let list = t.get("/chat-accounts", &admin_c).await;
    let text = list.json.to_string();
    assert!(text.contains(ACC_C) && !text.contains(TOKEN_C), "{text}");
    // ...and the table never holds one: the item names the account only.
    let item = raw_dynamodb()
        .await
        .get_item()
        .table_name(&t.app.config.table_name)
        .key(
            "PK",
            aws_sdk_dynamodb::types::AttributeValue::S(format!("ACCOUNT#twilio#{}", wa(NUM_C))),
        )
        .key(
            "SK",
            aws_sdk_dynamodb::types::AttributeValue::S("#ACCOUNT".into()),
        )
        .send()
        .await
        .unwrap()
        .item
        .expect("the chat account item");
    let dump = format!("{item:?}");
    assert!(dump.contains(ACC_C) && !dump.contains(TOKEN_C), "{dump}");

    // Its webhooks are checked with C's token and land in org C's inbox.
    let (_, status) = inbound_as(&t, ACC_C, &wa(NUM_C), "hello C").await;
    assert_eq!(status, 200);
    t.drain().await;
    let conv_c = inbox_conversation_id("org_c", "twilio", "whatsapp", CONTACT);
    assert_eq!(
        bodies(&t.messages(&conv_c, &agent_of("agent_c", "org_c")).await),
        ["hello C"]
    );
}

#[tokio::test]
async fn when_an_account_registers_an_api_key_replies_should_use_it_and_rotation_should_apply() {
    let t = spawn_app().await;
    two_tenants(&t).await;
    t.standin.add_api_key(ACC_A, KEY_A, KEY_SECRET_A);
    let mut body = with_account(&wa(NUM_A), Some("org_a"), ACC_A, TOKEN_A);
    body["api_key_sid"] = json!(KEY_A);
    body["api_key_secret"] = json!(KEY_SECRET_A);
    let r = t.post("/chat-accounts", &service(), body).await;
    assert_eq!(r.status, 200, "{:?}", r.json);
    // The API's vault caches reads: a registration through the API forgets
    // what it changed, so the next reply uses the key at once.
    inbound_as(&t, ACC_A, &wa(NUM_A), "hi").await;
    t.drain().await;
    t.standin.clear_requests();
    let conv_a = inbox_conversation_id("org_a", "twilio", "whatsapp", CONTACT);
    let r = t
        .post(
            &format!("/conversations/{conv_a}/messages"),
            &agent_of("agent_a", "org_a"),
            json!({"body": "with the key"}),
        )
        .await;
    assert_eq!(r.status, 201, "{:?}", r.json);
    let sent = t.standin.sms_sent_by();
    assert_eq!(sent.last().map(|s| s.0.as_str()), Some(ACC_A));
    let auth = t.standin.last_basic_user().expect("a request");
    assert_eq!(auth, KEY_A, "REST calls use the API key when there is one");
}

#[tokio::test]
async fn when_a_meta_number_is_registered_by_an_admin_the_token_should_have_to_answer_for_it() {
    let t = spawn_app().await;
    let admin = admin_token("adm_m", "org_m");
    let id = "109000000000001";
    t.meta.allow_token(id, "meta-token-of-org-m");
    let r = register(
        &t,
        &admin,
        json!({"provider": "meta", "address": id, "access_token": "someone-elses-token"}),
    )
    .await;
    assert_error(&r, 403, "ownership_unverified");
    let r = register(
        &t,
        &admin,
        json!({"provider": "meta", "address": id, "access_token": "meta-token-of-org-m"}),
    )
    .await;
    assert_eq!(r.status, 201, "{:?}", r.json);
    assert_eq!(r.json["org_id"], "org_m");
    assert!(!r.json.to_string().contains("meta-token-of-org-m"));
}

/// The Meta token, read straight from the emulator's Secrets Manager.
async fn stored_meta_secret(t: &TestApp, id: &str) -> Option<String> {
    let sdk = aws_config::defaults(aws_config::BehaviorVersion::latest())
        .load()
        .await;
    aws_sdk_secretsmanager::Client::new(&sdk)
        .get_secret_value()
        .secret_id(format!(
            "{}/chat-credentials/meta/{id}",
            t.app.config.table_name
        ))
        .send()
        .await
        .ok()
        .and_then(|o| o.secret_string().map(str::to_string))
}

#[tokio::test]
async fn when_a_meta_token_is_registered_it_should_live_in_the_credential_store_only() {
    let t = spawn_app().await;
    let id = "109000000000002";
    t.meta.allow_token(id, "EAAG-token-one");
    let meta_body = |org: &'static str, token: &'static str| json!({"provider": "meta", "address": id, "org_id": org, "access_token": token});
    let r = register(&t, &service(), meta_body("org_a", "EAAG-token-one")).await;
    assert_eq!(r.status, 201, "{:?}", r.json);
    let secret = stored_meta_secret(&t, id).await.expect("the secret");
    assert!(secret.contains("EAAG-token-one") && secret.contains("org_a"));
    // The table item holds no token.
    let item = raw_dynamodb()
        .await
        .get_item()
        .table_name(&t.app.config.table_name)
        .key(
            "PK",
            aws_sdk_dynamodb::types::AttributeValue::S(format!("ACCOUNT#meta#{id}")),
        )
        .key(
            "SK",
            aws_sdk_dynamodb::types::AttributeValue::S("#ACCOUNT".into()),
        )
        .send()
        .await
        .unwrap()
        .item
        .expect("the chat account item");
    assert!(!format!("{item:?}").contains("EAAG-token-one"));
    // Rotation replaces it.
    t.meta.allow_token(id, "EAAG-token-two");
    let r = register(&t, &service(), meta_body("org_a", "EAAG-token-two")).await;
    assert_eq!(r.status, 200, "{:?}", r.json);
    let secret = stored_meta_secret(&t, id).await.expect("the secret");
    assert!(secret.contains("EAAG-token-two") && !secret.contains("EAAG-token-one"));
    // Another org cannot delete it (404, kept) nor take the number (409,
    // the token untouched).
    let r = t
        .delete(
            &format!("/chat-accounts?provider=meta&address={id}"),
            &admin_token("adm_b", "org_b"),
        )
        .await;
    assert_eq!(r.status, 404, "{:?}", r.json);
    let r = register(&t, &service(), meta_body("org_b", "EAAG-token-b")).await;
    assert_error(&r, 409, "address_taken");
    assert!(
        stored_meta_secret(&t, id)
            .await
            .unwrap()
            .contains("EAAG-token-two")
    );
    // Removing the number removes its token for good; another org may then
    // register it with its own.
    let r = t
        .delete(
            &format!("/chat-accounts?provider=meta&address={id}&org_id=org_a"),
            &service(),
        )
        .await;
    assert_eq!(r.status, 204, "{:?}", r.json);
    assert!(stored_meta_secret(&t, id).await.is_none());
    let r = register(&t, &service(), meta_body("org_b", "EAAG-token-b")).await;
    assert_eq!(r.status, 201, "{:?}", r.json);
    let secret = stored_meta_secret(&t, id).await.expect("the secret");
    assert!(secret.contains("org_b") && secret.contains("EAAG-token-b"));
}

/// A WhatsApp number that is not a Twilio phone number of the account but
/// one of its WhatsApp senders (Senders API) is proven too; another
/// account's sender is not.
#[tokio::test]
async fn when_an_admin_registers_a_whatsapp_sender_of_the_account_it_should_be_proven() {
    let t = spawn_app().await;
    t.standin.add_subaccount(ACC_C, TOKEN_C, &[]);
    t.standin
        .add_whatsapp_sender(ACC_C, "whatsapp:+15550309999");
    t.standin.add_subaccount(ACC_B, TOKEN_B, &[]);
    t.standin
        .add_whatsapp_sender(ACC_B, "whatsapp:+15550208888");
    let admin_c = admin_token("adm_c", "org_c");
    let r = register(
        &t,
        &admin_c,
        with_account("whatsapp:+15550208888", None, ACC_C, TOKEN_C),
    )
    .await;
    assert_error(&r, 403, "ownership_unverified");
    // The same number as SMS is not a WhatsApp sender: unproven.
    let r = register(
        &t,
        &admin_c,
        with_account("+15550309999", None, ACC_C, TOKEN_C),
    )
    .await;
    assert_error(&r, 403, "ownership_unverified");
    let r = register(
        &t,
        &admin_c,
        with_account("whatsapp:+15550309999", None, ACC_C, TOKEN_C),
    )
    .await;
    assert_eq!(r.status, 201, "{:?}", r.json);
    assert_eq!(r.json["org_id"], "org_c");
}
