//! `/chat-accounts`: which Twilio number belongs to which org. Service
//! tokens register numbers directly; org admins list and remove their own
//! org's numbers, and register one only with credentials that own it
//! (`tenants.rs`).

use crate::helpers::*;
use serde_json::{Value, json};
use shared::auth::UserType;

const NUMBER_A: &str = "whatsapp:+15550001111";
const NUMBER_A2: &str = "+15550002222";
const NUMBER_B: &str = "whatsapp:+15550003333";

fn account(address: &str, org: Option<&str>) -> Value {
    match org {
        Some(org) => json!({"address": address, "org_id": org}),
        None => json!({"address": address}),
    }
}

/// `?address=` with the address percent-encoded (`+` and `:`).
fn address_query(address: &str) -> String {
    serde_urlencoded::to_string([("address", address)]).unwrap()
}

fn addresses(list: &Value) -> Vec<String> {
    let mut a: Vec<String> = list["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|i| i["address"].as_str().unwrap().to_string())
        .collect();
    a.sort();
    a
}

#[tokio::test]
async fn when_a_service_registers_a_number_it_should_be_201_then_200_and_409_for_another_org() {
    let t = spawn_app().await;
    let r = t
        .post(
            "/chat-accounts",
            &service(),
            account(NUMBER_A, Some("org_a")),
        )
        .await;
    assert_eq!(r.status, 201, "{:?}", r.json);
    assert_eq!(r.json["address"], NUMBER_A);
    assert_eq!(r.json["org_id"], "org_a");
    assert_eq!(r.json["channel"], "whatsapp");
    assert_eq!(r.json["provider"], "twilio");
    assert_eq!(r.json["created_by"], "booking-system");

    let again = t
        .post(
            "/chat-accounts",
            &service(),
            account(NUMBER_A, Some("org_a")),
        )
        .await;
    assert_eq!(again.status, 200, "{:?}", again.json);
    assert_eq!(again.json["org_id"], "org_a");
    // An admin of the owning org cannot register it without credentials
    // that own it.
    let by_admin = t
        .post(
            "/chat-accounts",
            &admin_token("adm_a", "org_a"),
            account(NUMBER_A, None),
        )
        .await;
    assert_error(&by_admin, 403, "ownership_unverified");

    let taken = t
        .post(
            "/chat-accounts",
            &service(),
            account(NUMBER_A, Some("org_b")),
        )
        .await;
    assert_error(&taken, 409, "address_taken");
    // Still org_a's.
    let list = t.get("/chat-accounts?org_id=org_a", &service()).await;
    assert_eq!(addresses(&list.json), [NUMBER_A]);
    let list = t.get("/chat-accounts?org_id=org_b", &service()).await;
    assert!(addresses(&list.json).is_empty());

    let sms = t
        .post(
            "/chat-accounts",
            &service(),
            account(NUMBER_A2, Some("org_a")),
        )
        .await;
    assert_eq!(sms.status, 201, "{:?}", sms.json);
    assert_eq!(sms.json["channel"], "sms");
}

/// Issue 8 item 2: an org admin could register any unclaimed number and
/// receive another business's customers. Without credentials that own the
/// number (issue 11 part 3, `tenants.rs`), an admin registers nothing.
#[tokio::test]
async fn when_an_org_admin_registers_a_number_without_proof_it_should_be_403_and_nothing_registered()
 {
    let t = spawn_app().await;
    let admin = admin_token("adm_a", "org_a");
    for (body, code) in [
        (account(NUMBER_A, None), "ownership_unverified"),
        (account(NUMBER_A2, Some("org_a")), "ownership_unverified"),
        (account(NUMBER_B, Some("org_b")), "admin_only"),
    ] {
        let r = t.post("/chat-accounts", &admin, body).await;
        assert_error(&r, 403, code);
    }
    let r = t.get("/chat-accounts?org_id=org_b", &admin).await;
    assert_error(&r, 403, "admin_only");
    // Nothing was registered for either org; the admin still lists their own.
    for org in ["org_a", "org_b"] {
        let list = t
            .get(&format!("/chat-accounts?org_id={org}"), &service())
            .await;
        assert!(addresses(&list.json).is_empty(), "{:?}", list.json);
    }
    let own = t.get("/chat-accounts", &admin).await;
    assert_eq!(own.status, 200, "{:?}", own.json);
    assert_eq!(own.json["org_id"], "org_a");
}

#[tokio::test]
async fn when_a_plain_agent_customer_or_provider_manages_accounts_it_should_be_403() {
    let t = spawn_app().await;
    t.register_number(NUMBER_A, "org_a").await;
    let query = address_query(NUMBER_A);
    let orgless_admin = shared::auth::issue_token(
        SECRET,
        &shared::auth::Caller {
            user_id: "adm_x".into(),
            user_type: UserType::Agent,
            org_id: None,
            role: Some("admin".into()),
        },
        3600,
    );
    let admin_customer = shared::auth::issue_token(
        SECRET,
        &shared::auth::Caller {
            user_id: "cust_9".into(),
            user_type: UserType::Customer,
            org_id: Some("org_a".into()),
            role: Some("admin".into()),
        },
        3600,
    );
    for (who, tok) in [
        ("plain agent", agent_of("agent_1", "org_a")),
        ("customer", customer()),
        ("provider", provider()),
        ("admin without an org", orgless_admin),
        ("customer with an admin role", admin_customer),
    ] {
        let r = t
            .post("/chat-accounts", &tok, account(NUMBER_B, Some("org_a")))
            .await;
        assert_eq!(r.code(), "admin_only", "{who} POST: {:?}", r.json);
        assert_error(&r, 403, "admin_only");
        assert_error(&t.get("/chat-accounts", &tok).await, 403, "admin_only");
        assert_error(
            &t.delete(&format!("/chat-accounts?{query}"), &tok).await,
            403,
            "admin_only",
        );
    }
    let list = t.get("/chat-accounts?org_id=org_a", &service()).await;
    assert_eq!(addresses(&list.json), [NUMBER_A]);
    assert_error(
        &t.call(reqwest::Method::GET, "/chat-accounts", None, None, &[])
            .await,
        401,
        "unauthorized",
    );
}

#[tokio::test]
async fn when_the_address_or_org_is_invalid_it_should_be_422() {
    let t = spawn_app().await;
    for bad in [
        "15551234567",
        "whatsapp:+1",
        "+0123456789",
        "whatsapp:15551234567",
        "sms:+15551234567",
        "+1555abc4567",
        "",
    ] {
        let r = t
            .post("/chat-accounts", &service(), account(bad, Some("org_a")))
            .await;
        assert_error(&r, 422, "invalid_address");
    }
    let r = t
        .post("/chat-accounts", &service(), account(NUMBER_A, None))
        .await;
    assert_error(&r, 422, "missing_org_id");
    let r = t
        .delete("/chat-accounts?address=nonsense&org_id=org_a", &service())
        .await;
    assert_error(&r, 422, "invalid_address");
    let r = t.delete("/chat-accounts?org_id=org_a", &service()).await;
    assert_error(&r, 400, "missing_address");
    let list = t.get("/chat-accounts?org_id=org_a", &service()).await;
    assert!(addresses(&list.json).is_empty());
}

#[tokio::test]
async fn when_listing_accounts_it_should_show_only_the_callers_org() {
    let t = spawn_app().await;
    t.register_number(NUMBER_A, "org_a").await;
    t.register_number(NUMBER_A2, "org_a").await;
    t.register_number(NUMBER_B, "org_b").await;

    let r = t
        .get("/chat-accounts", &admin_token("adm_a", "org_a"))
        .await;
    assert_eq!(r.status, 200, "{:?}", r.json);
    assert_eq!(r.json["org_id"], "org_a");
    let mut want = vec![NUMBER_A.to_string(), NUMBER_A2.to_string()];
    want.sort();
    assert_eq!(addresses(&r.json), want);
    assert!(
        r.json["items"]
            .as_array()
            .unwrap()
            .iter()
            .all(|i| i["org_id"] == "org_a")
    );

    let r = t
        .get("/chat-accounts", &admin_token("adm_b", "org_b"))
        .await;
    assert_eq!(addresses(&r.json), [NUMBER_B]);
    let r = t.get("/chat-accounts?org_id=org_b", &service()).await;
    assert_eq!(addresses(&r.json), [NUMBER_B]);
    assert_error(
        &t.get("/chat-accounts", &service()).await,
        422,
        "missing_org_id",
    );
}

#[tokio::test]
async fn when_an_account_is_deleted_it_should_be_204_then_404() {
    let t = spawn_app().await;
    t.register_number(NUMBER_A, "org_a").await;
    t.register_number(NUMBER_B, "org_b").await;
    let admin_a = admin_token("adm_a", "org_a");

    // Another org's number is not the admin's to delete.
    let r = t
        .delete(
            &format!("/chat-accounts?{}", address_query(NUMBER_B)),
            &admin_a,
        )
        .await;
    assert_error(&r, 404, "not_found");
    let list = t.get("/chat-accounts?org_id=org_b", &service()).await;
    assert_eq!(addresses(&list.json), [NUMBER_B]);

    let path = format!("/chat-accounts?{}", address_query(NUMBER_A));
    let r = t.delete(&path, &admin_a).await;
    assert_eq!(r.status, 204, "{:?}", r.json);
    assert_eq!(r.json, Value::Null);
    assert_error(&t.delete(&path, &admin_a).await, 404, "not_found");
    let list = t.get("/chat-accounts", &admin_a).await;
    assert!(addresses(&list.json).is_empty());

    // A service names the org; the freed number can be registered again.
    let path = format!("/chat-accounts?{}&org_id=org_b", address_query(NUMBER_B));
    assert_eq!(t.delete(&path, &service()).await.status, 204);
    let r = t
        .post(
            "/chat-accounts",
            &service(),
            account(NUMBER_B, Some("org_a")),
        )
        .await;
    assert_eq!(r.status, 201, "{:?}", r.json);
}

#[tokio::test]
async fn when_a_number_is_registered_inbound_messages_to_it_should_route_to_its_org() {
    let t = spawn_app().await;
    let contact = "whatsapp:+15551234567";
    // Before registration: nobody's, so parked (Twilio delivered it twice).
    let early = t.inbound(contact, NUMBER_A, "anyone?").await;
    assert_eq!(t.drain().await, 1);
    let agent_a = agent_of("agent_a", "org_a");
    assert!(t.inbox(&agent_a).await.is_empty());
    let parked = t.get("/chat-accounts?org_id=org_a", &service()).await;
    assert_eq!(parked.json["unroutable"][0]["message_sid"], early.as_str());

    // Registering it replays what was parked into the org's inbox.
    let r = t
        .post(
            "/chat-accounts",
            &service(),
            account(NUMBER_A, Some("org_a")),
        )
        .await;
    assert_eq!(r.status, 201, "{:?}", r.json);
    assert_eq!(r.json["parked_replay"]["replayed"], 1, "{:?}", r.json);
    assert_eq!(r.json["parked_replay"]["remaining"], false);
    let sid = t.inbound(contact, NUMBER_A, "hello org a").await;
    assert_eq!(t.drain().await, 1);

    let inbox = t.inbox(&agent_a).await;
    assert_eq!(inbox.len(), 1, "{inbox:?}");
    assert_eq!(inbox[0]["inbox"]["org_id"], "org_a");
    assert_eq!(inbox[0]["inbox"]["business_address"], NUMBER_A);
    assert_eq!(inbox[0]["unread_count"], 2, "{inbox:?}");
    let conv = inbox[0]["id"].as_str().unwrap();
    let messages = t.messages(conv, &agent_a).await;
    let sids: Vec<&str> = messages
        .iter()
        .map(|m| m["twilio_message_sid"].as_str().unwrap())
        .collect();
    assert_eq!(
        sids,
        [early.as_str(), sid.as_str()],
        "oldest first, once each"
    );
    assert!(t.inbox(&agent_of("agent_b", "org_b")).await.is_empty());
    let parked = t.get("/chat-accounts?org_id=org_a", &service()).await;
    assert_eq!(parked.json["unroutable"], json!([]), "{:?}", parked.json);

    // Registering again replays nothing: nothing is stored twice.
    let again = t
        .post(
            "/chat-accounts",
            &service(),
            account(NUMBER_A, Some("org_a")),
        )
        .await;
    assert_eq!(again.status, 200, "{:?}", again.json);
    assert_eq!(again.json["parked_replay"]["replayed"], 0);
    assert_eq!(t.messages(conv, &agent_a).await.len(), 2);
    assert_eq!(t.unread_total(&agent_a).await, 2);
}

/// Register `number` for `org` (a new registration: 201); how many parked
/// messages it replayed.
async fn replayed_by_registering(t: &TestApp, number: &str, org: &str) -> u64 {
    let r = t
        .post("/chat-accounts", &service(), account(number, Some(org)))
        .await;
    assert_eq!(r.status, 201, "{:?}", r.json);
    assert_eq!(r.json["parked_replay"]["remaining"], false, "{:?}", r.json);
    r.json["parked_replay"]["replayed"].as_u64().unwrap()
}

#[tokio::test]
async fn when_one_number_is_registered_only_its_parked_messages_should_be_replayed() {
    let t = spawn_app().await;
    let contact = "whatsapp:+15551234568";
    let for_a = t.inbound(contact, NUMBER_A, "to a").await;
    let for_b = t.inbound(contact, NUMBER_B, "to b").await;
    // The same webhook delivered again while parked.
    t.standin
        .send_webhook(
            "/webhooks/twilio/messaging",
            &t.standin.inbound_params(&for_a, contact, NUMBER_A, "to a"),
        )
        .await
        .unwrap();
    assert_eq!(t.drain().await, 3);

    assert_eq!(replayed_by_registering(&t, NUMBER_B, "org_b").await, 1);
    let agent_b = agent_of("agent_b", "org_b");
    let inbox_b = t.inbox(&agent_b).await;
    assert_eq!(inbox_b.len(), 1);
    let conv_b = inbox_b[0]["id"].as_str().unwrap();
    let sids: Vec<String> = t
        .messages(conv_b, &agent_b)
        .await
        .iter()
        .map(|m| m["twilio_message_sid"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(sids, [for_b]);
    // Org A's message is still parked, for org A's registration only.
    let parked = t.get("/chat-accounts?org_id=org_a", &service()).await;
    let parked: std::collections::BTreeSet<&str> = parked.json["unroutable"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|p| p["message_sid"].as_str())
        .collect();
    assert_eq!(
        parked,
        [for_a.as_str()].into(),
        "delivered twice, parked twice"
    );
    assert!(t.inbox(&agent_of("agent_a", "org_a")).await.is_empty());

    // Org A's registration replays it once, and forgets both deliveries.
    assert_eq!(replayed_by_registering(&t, NUMBER_A, "org_a").await, 1);
    let agent_a = agent_of("agent_a", "org_a");
    let inbox_a = t.inbox(&agent_a).await;
    assert_eq!(inbox_a.len(), 1);
    assert_eq!(inbox_a[0]["unread_count"], 1);
    let conv_a = inbox_a[0]["id"].as_str().unwrap();
    assert_eq!(t.messages(conv_a, &agent_a).await.len(), 1);
    let parked = t.get("/chat-accounts?org_id=org_a", &service()).await;
    assert_eq!(parked.json["unroutable"], json!([]), "{:?}", parked.json);
}

#[tokio::test]
async fn when_the_sender_is_a_short_code_it_should_be_parked_and_a_whatsapp_username_stored() {
    let t = spawn_app().await;
    t.register_number(NUMBER_A, "org_a").await;
    let mut sids = Vec::new();
    for from in ["whatsapp:CC.7f3a91", "12345", "ACME"] {
        let sid = t.standin.new_message_sid();
        let p = t.standin.inbound_params(&sid, from, NUMBER_A, "hi");
        let (status, body) = t
            .standin
            .send_webhook("/webhooks/twilio/messaging", &p)
            .await
            .unwrap();
        assert_eq!(status, 200, "{body}");
        sids.push(sid);
    }
    assert_eq!(t.drain().await, 3);
    t.assert_queue_empty().await;
    assert_eq!(
        t.queue_depth(&t.dlq_url).await,
        (0, 0),
        "nothing dead-lettered"
    );
    let parked = t.get("/chat-accounts?org_id=org_a", &service()).await;
    let parked: Vec<&str> = parked.json["unroutable"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|p| p["message_sid"].as_str())
        .collect();
    assert_eq!(parked.len(), 2, "{parked:?}");
    for sid in &sids[1..] {
        assert!(parked.contains(&sid.as_str()), "{sid} parked: {parked:?}");
    }
    // The username (a business-scoped id) is an ordinary contact now.
    let agent = agent_of("agent_a", "org_a");
    let conv =
        shared::inbox::inbox_conversation_id("org_a", "twilio", "whatsapp", "whatsapp:CC.7f3a91");
    assert_eq!(t.bodies(&conv, &agent).await, ["hi"]);
}

#[tokio::test]
async fn when_a_number_moves_between_orgs_the_next_message_should_reach_the_new_org_at_once() {
    let t = spawn_app().await;
    let contact = "whatsapp:+15551239999";
    t.register_number(NUMBER_A, "org_a").await;
    t.inbound(contact, NUMBER_A, "first").await;
    assert_eq!(t.drain().await, 1); // the processor's cache now says org_a
    let admin_a = admin_token("admin_a", "org_a");
    let r = t
        .call(
            reqwest::Method::DELETE,
            "/chat-accounts?address=whatsapp%3A%2B15550001111",
            Some(&admin_a),
            None,
            &[],
        )
        .await;
    assert!(
        r.status == 204 || r.status == 200,
        "{} {:?}",
        r.status,
        r.json
    );
    t.register_number(NUMBER_A, "org_b").await;
    t.inbound(contact, NUMBER_A, "second").await;
    assert_eq!(t.drain().await, 1);

    let inbox_b = t.inbox(&agent_of("agent_b", "org_b")).await;
    assert_eq!(inbox_b.len(), 1, "{inbox_b:?}");
    let conv_b = inbox_b[0]["id"].as_str().unwrap();
    let bodies: Vec<String> = t
        .messages(conv_b, &agent_of("agent_b", "org_b"))
        .await
        .iter()
        .map(|m| m["body"].as_str().unwrap_or_default().to_string())
        .collect();
    assert_eq!(bodies, vec!["second".to_string()]);
    let inbox_a = t.inbox(&agent_of("agent_a", "org_a")).await;
    let conv_a = inbox_a[0]["id"].as_str().unwrap();
    assert_eq!(
        t.messages(conv_a, &agent_of("agent_a", "org_a"))
            .await
            .len(),
        1
    );
}

/// A message parked the way an earlier version parked it: no GSI1 key, no
/// `awaiting` attribute, only its `to`.
async fn park_legacy(t: &TestApp, sid: &str, from: &str, to: &str, received_at: &str) {
    use aws_sdk_dynamodb::types::AttributeValue as A;
    let params = t.standin.inbound_params(sid, from, to, "parked long ago");
    let envelope = shared::envelope::Envelope::new(
        shared::envelope::Source::Messaging,
        params,
        None,
        None,
        received_at.into(),
    );
    raw_dynamodb()
        .await
        .put_item()
        .table_name(&t.app.config.table_name)
        .item("PK", A::S("UNROUTABLE".into()))
        .item("SK", A::S(format!("{received_at}#{sid}")))
        .item("to", A::S(to.into()))
        .item("message_sid", A::S(sid.into()))
        .item("received_at", A::S(received_at.into()))
        .item("envelope", A::S(serde_json::to_string(&envelope).unwrap()))
        .send()
        .await
        .unwrap();
}

/// Messages parked before the GSI1 key existed are replayed by their
/// number's registration too; a legacy short-code message stays parked
/// (nothing can route it), never lost.
#[tokio::test]
async fn when_a_number_with_messages_parked_by_an_older_version_is_registered_they_should_be_replayed()
 {
    let t = spawn_app().await;
    let old = t.standin.new_message_sid();
    park_legacy(
        &t,
        &old,
        "whatsapp:+15551230077",
        NUMBER_A,
        "2026-11-01T10:00:00.000Z",
    )
    .await;
    let short = t.standin.new_message_sid();
    park_legacy(&t, &short, "12345", NUMBER_A, "2026-11-01T10:00:01.000Z").await;
    let other = t.standin.new_message_sid();
    park_legacy(
        &t,
        &other,
        "whatsapp:+15551230077",
        NUMBER_B,
        "2026-11-01T10:00:02.000Z",
    )
    .await;

    assert_eq!(replayed_by_registering(&t, NUMBER_A, "org_a").await, 1);
    let agent = agent_of("agent_a", "org_a");
    let conv = shared::inbox::inbox_conversation_id(
        "org_a",
        "twilio",
        "whatsapp",
        "whatsapp:+15551230077",
    );
    assert_eq!(t.bodies(&conv, &agent).await, ["parked long ago"]);
    let parked = t.get("/chat-accounts?org_id=org_a", &service()).await;
    let mut left: Vec<&str> = parked.json["unroutable"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|p| p["message_sid"].as_str())
        .collect();
    left.sort();
    let mut want = vec![short.as_str(), other.as_str()];
    want.sort();
    assert_eq!(left, want, "the short code's and the other number's stay");
    // Registering again replays nothing more.
    let again = t
        .post(
            "/chat-accounts",
            &service(),
            account(NUMBER_A, Some("org_a")),
        )
        .await;
    assert_eq!(
        again.json["parked_replay"]["replayed"], 0,
        "{:?}",
        again.json
    );
}
