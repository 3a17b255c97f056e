//! The DynamoDB and provider (Twilio, Meta) requests each route makes (the cost model in
//! README.md), for every route of the template and each kind of queued
//! webhook the processor handles. Exact sequences, so a regression that
//! adds a round trip fails.

use crate::helpers::*;
use reqwest::Method;
use serde_json::json;

/// `/v1/Conversations/CH0a.../Participants/MB0b...` → `.../{Sid}/Participants/{Sid}`.
fn path_shape(path: &str) -> String {
    path.split('/')
        .map(|seg| {
            let sid = seg.len() == 34 && seg[..2].chars().all(|c| c.is_ascii_uppercase());
            if sid { "{Sid}" } else { seg }
        })
        .collect::<Vec<_>>()
        .join("/")
}

struct Counted {
    route: &'static str,
    dynamodb: Vec<String>,
    twilio: Vec<String>,
}

impl TestApp {
    fn take_counts(&self, route: &'static str) -> Counted {
        let mut twilio: Vec<String> = self
            .standin
            .requests()
            .iter()
            .map(|r| format!("{} {}", r.method, path_shape(&r.path)))
            .collect();
        twilio.extend(
            self.meta
                .requests()
                .iter()
                .map(|r| format!("POST meta /{}/{{phone_number_id}}/messages", r.version)),
        );
        self.standin.clear_requests();
        self.meta.clear_requests();
        Counted {
            route,
            dynamodb: self.dynamo.take(),
            twilio,
        }
    }
}

#[tokio::test]
async fn when_each_route_runs_it_should_make_the_documented_requests() {
    let t = spawn_app().await;
    let (cust, prov, svc) = (customer(), provider(), service());
    let mut rows = Vec::new();

    let r = t
        .post("/conversations", &cust, booking_body("bk_cost"))
        .await;
    assert_eq!(r.status, 201);
    let conv = r.json["id"].as_str().unwrap().to_string();
    rows.push(t.take_counts("POST /conversations (new)"));
    let r = t
        .post("/conversations", &cust, booking_body("bk_cost"))
        .await;
    assert_eq!(r.status, 200);
    rows.push(t.take_counts("POST /conversations (existing)"));
    let r = t.send(&conv, &cust, "hello").await;
    assert_eq!(r.status, 201);
    rows.push(t.take_counts("POST /conversations/{id}/messages"));
    let r = t
        .call(
            Method::POST,
            &format!("/conversations/{conv}/messages"),
            Some(&cust),
            Some(json!({"body": "again"})),
            &[("Idempotency-Key", "k1")],
        )
        .await;
    assert_eq!(r.status, 201);
    rows.push(t.take_counts("POST /conversations/{id}/messages + Idempotency-Key"));
    assert_eq!(t.get("/conversations", &prov).await.status, 200);
    rows.push(t.take_counts("GET /conversations"));
    assert_eq!(
        t.get(&format!("/conversations/{conv}"), &prov).await.status,
        200
    );
    rows.push(t.take_counts("GET /conversations/{id}"));
    assert_eq!(
        t.get(&format!("/conversations/{conv}/messages"), &prov)
            .await
            .status,
        200
    );
    rows.push(t.take_counts("GET /conversations/{id}/messages"));
    let r = t
        .call(
            Method::POST,
            &format!("/conversations/{conv}/read"),
            Some(&prov),
            None,
            &[],
        )
        .await;
    assert_eq!(r.status, 200);
    rows.push(t.take_counts("POST /conversations/{id}/read"));
    assert_eq!(t.get("/me/unread", &prov).await.status, 200);
    rows.push(t.take_counts("GET /me/unread"));
    let r = t
        .get(&format!("/conversations/{conv}/participants"), &prov)
        .await;
    assert_eq!(r.status, 200);
    rows.push(t.take_counts("GET /conversations/{id}/participants"));
    let r = t
        .post(
            &format!("/conversations/{conv}/participants"),
            &svc,
            json!({"user_id": "prov_2", "user_type": "provider"}),
        )
        .await;
    assert_eq!(r.status, 201, "{:?}", r.json);
    rows.push(t.take_counts("POST /conversations/{id}/participants"));
    let r = t
        .call(
            Method::DELETE,
            &format!("/conversations/{conv}/participants/prov_2"),
            Some(&svc),
            None,
            &[],
        )
        .await;
    assert_eq!(r.status, 204);
    rows.push(t.take_counts("DELETE /conversations/{id}/participants/{user_id}"));
    let r = t
        .call(
            Method::PATCH,
            &format!("/conversations/{conv}"),
            Some(&prov),
            Some(json!({"status": "escalated"})),
            &[],
        )
        .await;
    assert_eq!(r.status, 200, "{:?}", r.json);
    rows.push(t.take_counts("PATCH /conversations/{id}"));

    // The WhatsApp/SMS side: chat accounts, webhooks, the processor, stats.
    t.standin.disable_status_callbacks();
    const ORG: &str = "org_cost";
    const BUSINESS: &str = "whatsapp:+15550009999";
    const CONTACT: &str = "whatsapp:+15551230000";
    let admin = admin_token("admin_cost", ORG);
    let r = t
        .post(
            "/chat-accounts",
            &svc,
            json!({"address": BUSINESS, "org_id": ORG}),
        )
        .await;
    assert_eq!(r.status, 201, "{:?}", r.json);
    rows.push(t.take_counts("POST /chat-accounts"));
    assert_eq!(t.get("/chat-accounts", &admin).await.status, 200);
    rows.push(t.take_counts("GET /chat-accounts"));
    let sid = t.inbound(CONTACT, BUSINESS, "hi").await;
    rows.push(t.take_counts("POST /webhooks/twilio/messaging (inbound)"));
    assert_eq!(t.drain().await, 1);
    rows.push(t.take_counts("process-inbound: inbound message (new contact)"));
    let status = params(&[
        ("MessageSid", &sid),
        ("MessageStatus", "read"),
        ("AccountSid", t.standin.account_sid()),
        ("From", BUSINESS),
        ("To", CONTACT),
    ]);
    let (code, _) = t
        .standin
        .send_webhook("/webhooks/twilio/messaging", &status)
        .await
        .unwrap();
    assert_eq!(code, 200);
    rows.push(t.take_counts("POST /webhooks/twilio/messaging (status)"));
    assert_eq!(t.drain().await, 1);
    rows.push(t.take_counts("process-inbound: status callback"));
    let event = params(&[
        ("AccountSid", t.standin.account_sid()),
        ("EventType", "onConversationUpdated"),
        ("ConversationSid", "CH00000000000000000000000000000000"),
        ("Source", "API"),
    ]);
    let (code, _) = t
        .standin
        .send_webhook("/webhooks/twilio/conversations", &event)
        .await
        .unwrap();
    assert_eq!(code, 200);
    rows.push(t.take_counts("POST /webhooks/twilio/conversations"));
    assert_eq!(t.drain().await, 1);
    rows.push(t.take_counts("process-inbound: Conversations event (not ours)"));
    let agent = agent_of("agent_cost", ORG);
    assert_eq!(t.get("/stats/providers", &agent).await.status, 200);
    rows.push(t.take_counts("GET /stats/providers"));
    let r = t
        .call(
            Method::PUT,
            "/chat-accounts/settings",
            Some(&admin),
            Some(json!({"typing_indicators": true})),
            &[],
        )
        .await;
    assert_eq!(r.status, 200, "{:?}", r.json);
    rows.push(t.take_counts("PUT /chat-accounts/settings"));
    assert_eq!(t.get("/chat-accounts/settings", &admin).await.status, 200);
    rows.push(t.take_counts("GET /chat-accounts/settings"));
    let inbox_conv = shared::inbox::inbox_conversation_id(ORG, "twilio", "whatsapp", CONTACT);
    let r = t
        .post(
            &format!("/conversations/{inbox_conv}/typing"),
            &agent,
            json!({}),
        )
        .await;
    assert_eq!(r.json["sent"], true, "{:?}", r.json);
    rows.push(t.take_counts("POST /conversations/{id}/typing"));
    let r = t
        .call(
            Method::DELETE,
            "/chat-accounts?address=whatsapp%3A%2B15550009999",
            Some(&admin),
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
    rows.push(t.take_counts("DELETE /chat-accounts"));

    // Meta: a number, the handshake, a delivery, its processing, a reply.
    const NUMBER_ID: &str = "106540352242922";
    t.meta.allow_token(NUMBER_ID, "EAAG-cost");
    let r = t
        .post(
            "/chat-accounts",
            &svc,
            json!({"provider": "meta", "address": NUMBER_ID, "org_id": ORG, "access_token": "EAAG-cost"}),
        )
        .await;
    assert_eq!(r.status, 201, "{:?}", r.json);
    rows.push(t.take_counts("POST /chat-accounts (meta)"));
    let verify = t
        .http
        .get(format!(
            "{}/webhooks/meta?hub.mode=subscribe&hub.challenge=42&hub.verify_token={}",
            t.base,
            dev::meta_standin::DEV_META_VERIFY_TOKEN
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(verify.status(), 200);
    rows.push(t.take_counts("GET /webhooks/meta"));
    let now = chrono::Utc::now().timestamp();
    let delivery = dev::meta_standin::MetaStandIn::text_delivery(
        NUMBER_ID,
        "wamid.cost1",
        Some("15551230001"),
        Some("US.555"),
        "hi",
        now,
    );
    assert_eq!(t.meta.send_webhook(&delivery).await.unwrap().0, 200);
    rows.push(t.take_counts("POST /webhooks/meta"));
    assert_eq!(t.drain().await, 1);
    rows.push(t.take_counts("process-inbound: Meta message (new contact, BSUID and phone)"));
    let delivery = dev::meta_standin::MetaStandIn::text_delivery(
        NUMBER_ID,
        "wamid.cost2",
        Some("15551230001"),
        Some("US.555"),
        "again",
        now + 1,
    );
    assert_eq!(t.meta.send_webhook(&delivery).await.unwrap().0, 200);
    t.take_counts("POST /webhooks/meta");
    assert_eq!(t.drain().await, 1);
    rows.push(t.take_counts("process-inbound: Meta message (known contact, warm)"));
    let meta_conv =
        shared::inbox::inbox_conversation_id(ORG, "meta", "whatsapp", "whatsapp:US.555");
    let r = t.send(&meta_conv, &agent, "hello").await;
    assert_eq!(r.status, 201, "{:?}", r.json);
    rows.push(t.take_counts("POST /conversations/{id}/messages (meta)"));

    println!("| route | DynamoDB requests | Twilio requests |\n|---|---|---|");
    for r in &rows {
        println!(
            "| {} | {} ({}) | {} ({}) |",
            r.route,
            r.dynamodb.len(),
            r.dynamodb.join(", "),
            r.twilio.len(),
            r.twilio.join(", ")
        );
    }

    let expect = [
        (
            "POST /conversations (new)",
            &["Query", "TransactWriteItems"][..],
            2,
        ),
        ("POST /conversations (existing)", &["Query"][..], 0),
        (
            "POST /conversations/{id}/messages",
            &["Query", "TransactWriteItems"][..],
            1,
        ),
        (
            "POST /conversations/{id}/messages + Idempotency-Key",
            &["Query", "PutItem", "TransactWriteItems"][..],
            1,
        ),
        ("GET /conversations", &["Query", "BatchGetItem"][..], 0),
        ("GET /conversations/{id}", &["Query"][..], 0),
        (
            "GET /conversations/{id}/messages",
            &["Query", "Query"][..],
            0,
        ),
        (
            "POST /conversations/{id}/read",
            &["Query", "TransactWriteItems"][..],
            1,
        ),
        ("GET /me/unread", &["GetItem"][..], 0),
        ("GET /conversations/{id}/participants", &["Query"][..], 0),
        (
            "POST /conversations/{id}/participants",
            &["Query", "TransactWriteItems"][..],
            1,
        ),
        (
            "DELETE /conversations/{id}/participants/{user_id}",
            &["Query", "TransactWriteItems"][..],
            1,
        ),
        (
            "PATCH /conversations/{id}",
            &["Query", "TransactWriteItems", "Query"][..],
            0,
        ),
        // The account, then the messages parked for it (none here): on
        // GSI1, and those parked before GSI1 keys existed (a filtered Query
        // of the unroutable partition).
        ("POST /chat-accounts", &["PutItem", "Query", "Query"][..], 0),
        ("GET /chat-accounts", &["Query", "BatchGetItem"][..], 0),
        // Ingest touches no table: SQS only.
        ("POST /webhooks/twilio/messaging (inbound)", &[][..], 0),
        (
            "process-inbound: inbound message (new contact)",
            // The chat account (a cache miss), the conversation, the
            // contact's links (none: a new phone-only contact), one write.
            // A known phone contact: the conversation and the write only.
            &["GetItem", "GetItem", "BatchGetItem", "TransactWriteItems"][..],
            0,
        ),
        ("POST /webhooks/twilio/messaging (status)", &[][..], 0),
        (
            "process-inbound: status callback",
            &["UpdateItem", "UpdateItem"][..],
            0,
        ),
        ("POST /webhooks/twilio/conversations", &[][..], 0),
        (
            "process-inbound: Conversations event (not ours)",
            &["GetItem"][..],
            0,
        ),
        (
            "GET /stats/providers",
            // Counters and a COUNT query, per provider (twilio, meta, kommo).
            &["GetItem", "Query", "GetItem", "Query", "GetItem", "Query"][..],
            0,
        ),
        // The current settings, then the new ones.
        (
            "PUT /chat-accounts/settings",
            &["GetItem", "PutItem"][..],
            0,
        ),
        ("GET /chat-accounts/settings", &["GetItem"][..], 0),
        (
            "POST /conversations/{id}/typing",
            // The head, the org's settings, the last messages (the contact's
            // newest), the 10-second claim; one Twilio typing indicator.
            &["Query", "GetItem", "Query", "PutItem"][..],
            1,
        ),
        ("DELETE /chat-accounts", &["DeleteItem"][..], 0),
        ("POST /chat-accounts (meta)", &["PutItem", "Query"][..], 0),
        ("GET /webhooks/meta", &[][..], 0),
        ("POST /webhooks/meta", &[][..], 0),
        (
            "process-inbound: Meta message (new contact, BSUID and phone)",
            // The chat account, the contact's links, a conversation by phone
            // (none), the conversation by BSUID (none), one write, then the
            // two links (BSUID, phone), written once per contact.
            &[
                "GetItem",
                "BatchGetItem",
                "GetItem",
                "GetItem",
                "TransactWriteItems",
                "PutItem",
                "PutItem",
            ][..],
            0,
        ),
        (
            "process-inbound: Meta message (known contact, warm)",
            // Account and links cached: the conversation and the write.
            &["GetItem", "TransactWriteItems"][..],
            0,
        ),
        (
            "POST /conversations/{id}/messages (meta)",
            // The head and the write (the token comes from the credential
            // store, Secrets Manager, not the table); one Graph call.
            &["Query", "TransactWriteItems"][..],
            1,
        ),
    ];
    assert_eq!(
        expect.len(),
        rows.len(),
        "every measured route has an expectation and the reverse"
    );
    // Every route of the template is measured.
    for route in dev::template::Template::load_default().unwrap().routes() {
        let name = format!("{} {}", route.method, route.path);
        assert!(
            rows.iter().any(|r| r.route.starts_with(&name)),
            "{name} has no request count"
        );
    }
    for ((route, dynamo, twilio), row) in expect.iter().zip(&rows) {
        assert_eq!(*route, row.route);
        let mut got = row.dynamodb.clone();
        got.sort();
        let mut want: Vec<String> = dynamo.iter().map(|s| s.to_string()).collect();
        want.sort();
        assert_eq!(got, want, "{route}: DynamoDB requests");
        assert_eq!(
            row.twilio.len(),
            *twilio,
            "{route}: Twilio requests {:?}",
            row.twilio
        );
    }
}
