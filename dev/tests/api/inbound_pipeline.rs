//! Inbound WhatsApp/SMS: signed webhook → SQS envelope → processor → the
//! org's inbox, with every way the webhook can be wrong, redelivered, raced
//! or hit a failing dependency.

use crate::helpers::*;
use aws_lambda_events::event::sqs::{SqsEvent, SqsMessage};
use serde_json::Value;
use shared::envelope::{Envelope, Kind, Source};
use shared::inbox::inbox_conversation_id;
use shared::ingest::{EMPTY_TWIML, IngestConfig};
use shared::ports::ConversationStore;
use std::collections::BTreeSet;

const MESSAGING: &str = "/webhooks/twilio/messaging";
const BUSINESS: &str = "whatsapp:+15550001111";
const CONTACT: &str = "whatsapp:+15551234567";
const ORG: &str = "org_a";

fn conv_of(org: &str, contact: &str) -> String {
    let channel = if contact.starts_with("whatsapp:") {
        "whatsapp"
    } else {
        "sms"
    };
    inbox_conversation_id(org, "twilio", channel, contact)
}

/// An SQS record as the event source mapping hands it to the processor.
fn record(id: &str, body: &str) -> SqsMessage {
    let mut r = SqsMessage::default();
    r.message_id = Some(id.into());
    r.receipt_handle = Some(format!("rh-{id}"));
    r.body = Some(body.into());
    r.event_source = Some("aws:sqs".into());
    r
}

fn event(records: Vec<SqsMessage>) -> SqsEvent {
    let mut e = SqsEvent::default();
    e.records = records;
    e
}

/// The queued form of an inbound message, as the ingest would enqueue it.
fn inbound_envelope(t: &TestApp, sid: &str, from: &str, to: &str, body: &str) -> String {
    let env = Envelope::new(
        Source::Messaging,
        t.standin.inbound_params(sid, from, to, body),
        None,
        Some(format!("tok-{sid}")),
        shared::clock::format_ts(chrono::Utc::now()),
    );
    serde_json::to_string(&env).unwrap()
}

async fn failed_ids(app: &shared::App, records: Vec<SqsMessage>) -> BTreeSet<String> {
    let Ok(resp) = process_inbound::handle(app, event(records)).await;
    resp.batch_item_failures
        .into_iter()
        .map(|f| f.item_identifier)
        .collect()
}

fn set(ids: &[&str]) -> BTreeSet<String> {
    ids.iter().map(|s| s.to_string()).collect()
}

#[tokio::test]
async fn when_a_signed_whatsapp_message_arrives_it_should_be_enqueued_whole_and_reach_the_org_inbox()
 {
    let t = spawn_app().await;
    t.register_number(BUSINESS, ORG).await;
    let sid = t.standin.new_message_sid();
    let mut p = t
        .standin
        .inbound_params(&sid, CONTACT, BUSINESS, "Is my order ready?");
    // Twilio adds parameters without notice: they must survive too.
    p.push(("SomeFutureTwilioParam".into(), "surprise".into()));

    let r = t.signed_webhook(MESSAGING, &p, Some("idem-token-1")).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body, EMPTY_TWIML);
    assert_eq!(r.content_type.as_deref(), Some("text/xml"));

    // Exactly one message, carrying every parameter, the token and the route.
    let out = t
        .sqs
        .receive_message()
        .queue_url(&t.queue_url)
        .max_number_of_messages(10)
        .wait_time_seconds(1)
        .send()
        .await
        .unwrap();
    let msgs = out.messages.unwrap_or_default();
    assert_eq!(msgs.len(), 1, "{msgs:?}");
    let env = Envelope::from_json(msgs[0].body().unwrap()).unwrap();
    assert_eq!(env.params, p);
    assert_eq!(env.param("SomeFutureTwilioParam"), Some("surprise"));
    assert_eq!(env.idempotency_token.as_deref(), Some("idem-token-1"));
    assert_eq!(env.source, Source::Messaging);
    assert_eq!(env.kind, Kind::InboundMessage);
    assert!(
        chrono::DateTime::parse_from_rfc3339(&env.received_at).is_ok(),
        "{}",
        env.received_at
    );
    // Hand it back to the queue for the processor.
    t.sqs
        .change_message_visibility()
        .queue_url(&t.queue_url)
        .receipt_handle(msgs[0].receipt_handle().unwrap())
        .visibility_timeout(0)
        .send()
        .await
        .unwrap();

    assert_eq!(t.drain().await, 1);
    t.assert_queue_empty().await;

    let agent = agent_of("agent_1", ORG);
    let inbox = t.inbox(&agent).await;
    assert_eq!(inbox.len(), 1, "{inbox:?}");
    let c = &inbox[0];
    let conv = conv_of(ORG, CONTACT);
    assert_eq!(c["id"], conv.as_str());
    assert_eq!(c["type"], "whatsapp");
    assert_eq!(c["unread_count"], 1);
    assert_eq!(c["last_message"]["preview"], "Is my order ready?");
    assert_eq!(c["inbox"]["contact_address"], CONTACT);
    assert_eq!(c["inbox"]["contact_name"], "WhatsApp User");
    assert_eq!(c["inbox"]["channel"], "whatsapp");
    assert_eq!(c["inbox"]["business_address"], BUSINESS);
    assert_eq!(c["inbox"]["org_id"], ORG);
    assert_eq!(t.unread_total(&agent).await, 1);

    let messages = t.messages(&conv, &agent).await;
    assert_eq!(messages.len(), 1, "{messages:?}");
    let m = &messages[0];
    assert_eq!(m["body"], "Is my order ready?");
    assert_eq!(m["author_id"], CONTACT);
    assert_eq!(m["author_type"], "contact");
    assert_eq!(m["status"], "received");
    assert_eq!(m["twilio_message_sid"], sid.as_str());
    assert!(m.get("media").is_none(), "{m}");
}

#[tokio::test]
async fn when_a_message_carries_media_or_a_location_the_agent_should_see_their_metadata() {
    let t = spawn_app().await;
    t.register_number(BUSINESS, ORG).await;
    let photo = t.standin.new_message_sid();
    let account = t.standin.account_sid().to_string();
    let media_url = t
        .standin
        .add_media(&account, &photo, "image/jpeg", b"jpeg bytes", None);
    let media_url = media_url.as_str();
    let mut p = t.standin.inbound_params(&photo, CONTACT, BUSINESS, "");
    p.retain(|(k, _)| k != "NumMedia" && k != "MessageType");
    p.extend(params(&[
        ("NumMedia", "1"),
        ("MediaUrl0", media_url),
        ("MediaContentType0", "image/jpeg"),
        ("MessageType", "image"),
    ]));
    assert_eq!(t.signed_webhook(MESSAGING, &p, None).await.status, 200);

    let pin = t.standin.new_message_sid();
    let mut p = t.standin.inbound_params(&pin, CONTACT, BUSINESS, "");
    p.extend(params(&[
        ("Latitude", "52.3676"),
        ("Longitude", "4.9041"),
        ("Address", "Dam Square"),
        ("Label", "Meet here"),
    ]));
    assert_eq!(t.signed_webhook(MESSAGING, &p, None).await.status, 200);
    assert_eq!(t.drain().await, 2);

    let agent = agent_of("agent_1", ORG);
    let messages = t.messages(&conv_of(ORG, CONTACT), &agent).await;
    assert_eq!(messages.len(), 2, "{messages:?}");
    let by_sid = |sid: &str| -> Value {
        messages
            .iter()
            .find(|m| m["twilio_message_sid"] == sid)
            .unwrap_or_else(|| panic!("no message {sid} in {messages:?}"))
            .clone()
    };
    let m = by_sid(&photo);
    let medium = &m["media"][0];
    assert_eq!(m["media"].as_array().map(Vec::len), Some(1), "{m}");
    assert_eq!(medium["url"], media_url, "{m}");
    assert_eq!(medium["content_type"], "image/jpeg", "{m}");
    // Kept in S3 (see media.rs): a download URL, its size and type.
    assert!(medium["download_url"].is_string(), "{m}");
    assert_eq!(medium["size"], 10, "{m}");
    assert!(m.get("location").is_none(), "{m}");
    let m = by_sid(&pin);
    assert_eq!(m["location"]["latitude"], "52.3676", "{m}");
    assert_eq!(m["location"]["longitude"], "4.9041", "{m}");
    assert_eq!(m["location"]["address"], "Dam Square", "{m}");
    assert!(m.get("media").is_none(), "{m}");
}

#[tokio::test]
async fn when_a_webhook_is_forged_tampered_unsigned_or_signed_for_another_host_it_should_be_403_and_enqueue_nothing()
 {
    let t = spawn_app().await;
    t.register_number(BUSINESS, ORG).await;
    let sid = t.standin.new_message_sid();
    let p = t.standin.inbound_params(&sid, CONTACT, BUSINESS, "hello");
    let form = serde_urlencoded::to_string(&p).unwrap();
    let url = format!("{}{MESSAGING}", t.base);

    let forged = shared::signature::sign("not-the-auth-token", &url, &p);
    let mut other = p.clone();
    other.retain(|(k, _)| k != "Body");
    other.push(("Body".into(), "pay me".into()));
    let tampered_body = serde_urlencoded::to_string(&other).unwrap();
    let good = t.twilio_signature(MESSAGING, &p);
    let other_host = shared::signature::sign(
        t.standin.auth_token(),
        "https://evil.example.net/webhooks/twilio/messaging",
        &p,
    );
    let other_route = t.twilio_signature("/webhooks/twilio/conversations", &p);

    let cases: Vec<(&str, Option<&str>, String)> = vec![
        ("forged", Some(&forged), form.clone()),
        ("tampered body", Some(&good), tampered_body),
        ("unsigned", None, form.clone()),
        ("empty signature", Some(""), form.clone()),
        ("another host", Some(&other_host), form.clone()),
        ("another route", Some(&other_route), form.clone()),
    ];
    for (case, signature, body) in cases {
        let r = t
            .post_webhook_raw(
                MESSAGING,
                Some("application/x-www-form-urlencoded"),
                signature,
                Some("tok"),
                body,
            )
            .await;
        assert_eq!(r.status, 403, "{case}: {}", r.body);
        let json: Value = serde_json::from_str(&r.body).unwrap();
        assert_eq!(json["error"]["code"], "invalid_signature", "{case}");
    }
    // The Conversations route is guarded the same way.
    let r = t
        .post_webhook_raw(
            "/webhooks/twilio/conversations",
            Some("application/x-www-form-urlencoded"),
            Some(&forged),
            None,
            form.clone(),
        )
        .await;
    assert_eq!(r.status, 403, "{}", r.body);
    t.assert_queue_empty().await;
    assert!(t.inbox(&agent_of("agent_1", ORG)).await.is_empty());

    // The same request, correctly signed, is accepted (the refusals above
    // were the signature's doing).
    let r = t
        .post_webhook_raw(
            MESSAGING,
            Some("application/x-www-form-urlencoded"),
            Some(&good),
            None,
            form,
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(t.queue_depth(&t.queue_url).await, (1, 0));
}

#[tokio::test]
async fn when_the_body_is_not_a_signed_form_it_should_be_415_413_or_400_and_enqueue_nothing() {
    let t = spawn_app().await;
    let sid = t.standin.new_message_sid();
    let p = t.standin.inbound_params(&sid, CONTACT, BUSINESS, "hello");
    let sig = t.twilio_signature(MESSAGING, &p);
    let form = serde_urlencoded::to_string(&p).unwrap();

    for ct in [Some("text/plain"), Some("multipart/form-data"), None] {
        let r = t
            .post_webhook_raw(MESSAGING, ct, Some(&sig), None, form.clone())
            .await;
        assert_eq!(r.status, 415, "{ct:?}: {}", r.body);
    }

    let big = t
        .standin
        .inbound_params(&sid, CONTACT, BUSINESS, &"x".repeat(65 * 1024));
    let r = t
        .post_webhook_raw(
            MESSAGING,
            Some("application/x-www-form-urlencoded"),
            Some(&t.twilio_signature(MESSAGING, &big)),
            None,
            serde_urlencoded::to_string(&big).unwrap(),
        )
        .await;
    assert_eq!(r.status, 413, "{}", r.body);

    let r = t
        .post_webhook_raw(
            MESSAGING,
            Some("application/x-www-form-urlencoded"),
            Some(&sig),
            None,
            vec![0xff, 0xfe, 0x00],
        )
        .await;
    assert_eq!(r.status, 400, "{}", r.body);
    let r = t
        .post_webhook_raw(
            MESSAGING,
            Some("application/json"),
            Some(&sig),
            None,
            "{not json",
        )
        .await;
    assert_eq!(r.status, 400, "{}", r.body);
    t.assert_queue_empty().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn when_the_same_message_is_delivered_five_times_it_should_be_stored_and_counted_once() {
    let t = spawn_app().await;
    t.register_number(BUSINESS, ORG).await;
    let sid = t.standin.new_message_sid();
    let p = t
        .standin
        .inbound_params(&sid, CONTACT, BUSINESS, "only once please");

    // Twilio retries with the same token; a resend may carry a new one.
    let tokens = ["tok-a", "tok-a", "tok-b", "tok-c", "tok-a"];
    let answers = futures::future::join_all(
        tokens
            .iter()
            .map(|tok| t.signed_webhook(MESSAGING, &p, Some(tok))),
    )
    .await;
    for r in &answers {
        assert_eq!(r.status, 200, "{}", r.body);
    }
    assert_eq!(t.queue_depth(&t.queue_url).await, (5, 0));
    assert_eq!(t.drain().await, 5);
    t.assert_queue_empty().await;

    let agent = agent_of("agent_1", ORG);
    let conv = conv_of(ORG, CONTACT);
    let assert_once = |messages: Vec<Value>| {
        assert_eq!(messages.len(), 1, "{messages:?}");
        assert_eq!(messages[0]["twilio_message_sid"], sid.as_str());
    };
    assert_once(t.messages(&conv, &agent).await);
    assert_eq!(t.conversation_unread(&conv, &agent).await, 1);
    assert_eq!(t.unread_total(&agent).await, 1);
    let inbox = t.inbox(&agent).await;
    assert_eq!(inbox.len(), 1);
    assert_eq!(inbox[0]["unread_count"], 1);

    // A late redelivery, after the message is stored, changes nothing.
    assert_eq!(
        t.signed_webhook(MESSAGING, &p, Some("tok-a")).await.status,
        200
    );
    assert_eq!(t.drain().await, 1);
    assert_once(t.messages(&conv, &agent).await);
    assert_eq!(t.unread_total(&agent).await, 1);
    let detail = t.get(&format!("/conversations/{conv}"), &agent).await;
    assert_eq!(detail.json["analytics"]["message_count"], 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn when_two_first_messages_from_a_new_number_race_they_should_share_one_conversation_and_contact()
 {
    let t = spawn_app().await;
    t.register_number(BUSINESS, ORG).await;
    let new_number = "whatsapp:+447700900123";
    let (a, b) = (t.standin.new_message_sid(), t.standin.new_message_sid());
    let pa = t.standin.inbound_params(&a, new_number, BUSINESS, "hello?");
    let pb = t
        .standin
        .inbound_params(&b, new_number, BUSINESS, "anyone there?");
    let answers = futures::future::join_all([
        t.signed_webhook(MESSAGING, &pa, None),
        t.signed_webhook(MESSAGING, &pb, None),
    ])
    .await;
    assert!(answers.iter().all(|r| r.status == 200), "{answers:?}");
    // Both records in one batch: processed concurrently.
    let first = dev::poller::poll_once(&t.sqs, &t.queue_url, t.app, 1)
        .await
        .unwrap();
    assert_eq!(first, 2, "both first messages should be in one batch");
    t.drain().await;
    t.assert_queue_empty().await;

    let agent = agent_of("agent_1", ORG);
    let inbox = t.inbox(&agent).await;
    assert_eq!(inbox.len(), 1, "{inbox:?}");
    let conv = conv_of(ORG, new_number);
    assert_eq!(inbox[0]["id"], conv.as_str());
    assert_eq!(inbox[0]["unread_count"], 2);
    let sids: BTreeSet<String> = t
        .messages(&conv, &agent)
        .await
        .iter()
        .map(|m| m["twilio_message_sid"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(sids, set(&[&a, &b]));
    assert_eq!(t.unread_total(&agent).await, 2);
    let detail = t.get(&format!("/conversations/{conv}"), &agent).await;
    assert_eq!(detail.json["analytics"]["message_count"], 2);
    let contacts = items_with_pk_prefix(t.app.store.table(), "CONTACT#").await;
    assert_eq!(contacts.len(), 1, "{contacts:?}");
    assert_eq!(
        contacts[0]["PK"].as_s().unwrap(),
        &format!("CONTACT#{ORG}#{new_number}")
    );
}

#[tokio::test]
async fn when_one_record_of_a_batch_can_never_succeed_only_it_should_be_reported() {
    let t = spawn_app().await;
    t.register_number(BUSINESS, ORG).await;
    let (a, b) = (t.standin.new_message_sid(), t.standin.new_message_sid());
    let other = "whatsapp:+15557654321";
    let mut no_from =
        Envelope::from_json(&inbound_envelope(&t, "SMnofrom", CONTACT, BUSINESS, "x")).unwrap();
    no_from.params.retain(|(k, _)| k != "From");
    let records = vec![
        record(
            "good-1",
            &inbound_envelope(&t, &a, CONTACT, BUSINESS, "first"),
        ),
        record("garbage", "this is not an envelope"),
        record(
            "future-version",
            r#"{"v":2,"source":"messaging","kind":"inbound_message","params":[],"received_at":"x"}"#,
        ),
        record("no-from", &serde_json::to_string(&no_from).unwrap()),
        // Valid, but its keys exceed DynamoDB's limits: the write fails.
        record(
            "dynamodb-error",
            &inbound_envelope(
                &t,
                &format!("SM{}", "f".repeat(1100)),
                CONTACT,
                BUSINESS,
                "big",
            ),
        ),
        record(
            "good-2",
            &inbound_envelope(&t, &b, other, BUSINESS, "second"),
        ),
    ];
    assert_eq!(
        failed_ids(t.app, records).await,
        set(&["garbage", "future-version", "no-from", "dynamodb-error"])
    );

    let agent = agent_of("agent_1", ORG);
    assert_eq!(t.inbox(&agent).await.len(), 2);
    assert_eq!(t.bodies(&conv_of(ORG, CONTACT), &agent).await, ["first"]);
    assert_eq!(t.bodies(&conv_of(ORG, other), &agent).await, ["second"]);
    assert_eq!(t.unread_total(&agent).await, 2);
}

#[tokio::test]
async fn when_a_record_can_never_succeed_it_should_reach_the_dead_letter_queue_after_five_receives()
{
    use aws_sdk_sqs::types::QueueAttributeName;
    let t = spawn_app().await;
    t.register_number(BUSINESS, ORG).await;
    // Redeliver at once instead of after the 180 s visibility timeout.
    t.sqs
        .set_queue_attributes()
        .queue_url(&t.queue_url)
        .attributes(QueueAttributeName::VisibilityTimeout, "0")
        .send()
        .await
        .unwrap();
    t.sqs
        .send_message()
        .queue_url(&t.queue_url)
        .message_body("not an envelope")
        .send()
        .await
        .unwrap();
    let sid = t.inbound(CONTACT, BUSINESS, "still fine").await;

    let received = t.drain().await;
    assert!(received >= 6, "received {received}");
    assert_eq!(t.queue_depth(&t.queue_url).await, (0, 0));
    assert_eq!(t.queue_depth(&t.dlq_url).await, (1, 0));
    let dead = t
        .sqs
        .receive_message()
        .queue_url(&t.dlq_url)
        .send()
        .await
        .unwrap()
        .messages
        .unwrap_or_default();
    assert_eq!(dead.len(), 1);
    assert_eq!(dead[0].body(), Some("not an envelope"));
    let messages = t
        .messages(&conv_of(ORG, CONTACT), &agent_of("agent_1", ORG))
        .await;
    assert_eq!(messages.len(), 1);
    assert_eq!(messages[0]["twilio_message_sid"], sid.as_str());
}

#[tokio::test]
async fn when_dynamodb_is_unreachable_every_record_should_be_reported_and_land_once_when_it_is_back()
 {
    let t = spawn_app().await;
    t.register_number(BUSINESS, ORG).await;
    // A processor whose DynamoDB refuses connections.
    let closed_port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let sdk = aws_config::defaults(aws_config::BehaviorVersion::latest())
        .endpoint_url(format!("http://127.0.0.1:{closed_port}"))
        .load()
        .await;
    let unreachable = shared::App::new(
        t.app.config.clone(),
        shared::store::DynamoClients::new(&sdk, shared::aws::https_connector()).unwrap(),
    )
    .unwrap();
    // And one whose table is gone.
    let missing_table = shared::App::new(
        shared::config::Config {
            table_name: format!("missing-{}", ulid::Ulid::new().to_string().to_lowercase()),
            ..t.app.config.clone()
        },
        raw_clients().await,
    )
    .unwrap();

    let other = "+15557654321";
    let sids: Vec<String> = (0..3).map(|_| t.standin.new_message_sid()).collect();
    // SQS redelivers the very same bodies.
    let bodies = [
        (
            "r1",
            inbound_envelope(&t, &sids[0], CONTACT, BUSINESS, "one"),
        ),
        (
            "r2",
            inbound_envelope(&t, &sids[1], CONTACT, BUSINESS, "two"),
        ),
        (
            "r3",
            inbound_envelope(&t, &sids[2], other, BUSINESS, "three"),
        ),
    ];
    let records = || {
        bodies
            .iter()
            .map(|(id, b)| record(id, b))
            .collect::<Vec<_>>()
    };
    for broken in [&unreachable, &missing_table] {
        assert_eq!(
            failed_ids(broken, records()).await,
            set(&["r1", "r2", "r3"])
        );
    }

    // Nothing half-written.
    let agent = agent_of("agent_1", ORG);
    assert!(t.inbox(&agent).await.is_empty());
    assert_eq!(t.unread_total(&agent).await, 0);
    assert!(
        items_with_pk_prefix(t.app.store.table(), "SID#")
            .await
            .is_empty()
    );
    assert!(
        items_with_pk_prefix(t.app.store.table(), "CONTACT#")
            .await
            .is_empty()
    );

    // DynamoDB is back: SQS redelivers; then once more (a delete was lost).
    for _ in 0..2 {
        assert!(failed_ids(t.app, records()).await.is_empty());
        let mut whatsapp = t.bodies(&conv_of(ORG, CONTACT), &agent).await;
        whatsapp.sort();
        assert_eq!(whatsapp, ["one", "two"]);
        assert_eq!(t.bodies(&conv_of(ORG, other), &agent).await, ["three"]);
        assert_eq!(t.unread_total(&agent).await, 3);
        assert_eq!(t.inbox(&agent).await.len(), 2);
    }
}

#[tokio::test]
async fn when_no_org_claims_the_number_it_should_be_parked_not_dropped() {
    let t = spawn_app().await;
    let nobodys = "whatsapp:+15559990000";
    let sid = t.inbound(CONTACT, nobodys, "hello?").await;
    assert_eq!(t.drain().await, 1);
    // Acknowledged (not left to fail), but kept.
    t.assert_queue_empty().await;

    let r = t.get("/chat-accounts?org_id=org_x", &service()).await;
    assert_eq!(r.status, 200, "{:?}", r.json);
    let parked = r.json["unroutable"].as_array().expect("unroutable");
    assert_eq!(parked.len(), 1, "{parked:?}");
    assert_eq!(parked[0]["message_sid"], sid.as_str());
    assert_eq!(parked[0]["to"], nobodys);
    assert!(parked[0]["received_at"].is_string());
    assert!(t.inbox(&agent_of("agent_1", "org_x")).await.is_empty());
    // Org admins do not see other orgs' strays.
    let r = t.get("/chat-accounts", &admin_token("adm", "org_x")).await;
    assert_eq!(r.status, 200, "{:?}", r.json);
    assert!(r.json.get("unroutable").is_none(), "{:?}", r.json);
}

#[tokio::test]
async fn when_a_default_org_is_configured_an_unclaimed_number_should_route_to_it() {
    let t = spawn_app_with(&[("DEFAULT_ORG_ID", "org_default")]).await;
    let unclaimed = "whatsapp:+15559990000";
    let sid = t.inbound(CONTACT, unclaimed, "hi there").await;
    assert_eq!(t.drain().await, 1);

    let agent = agent_of("agent_d", "org_default");
    let inbox = t.inbox(&agent).await;
    assert_eq!(inbox.len(), 1, "{inbox:?}");
    assert_eq!(inbox[0]["id"], conv_of("org_default", CONTACT).as_str());
    assert_eq!(inbox[0]["inbox"]["business_address"], unclaimed);
    let messages = t.messages(&conv_of("org_default", CONTACT), &agent).await;
    assert_eq!(messages[0]["twilio_message_sid"], sid.as_str());
    let r = t.get("/chat-accounts?org_id=org_default", &service()).await;
    assert_eq!(r.json["unroutable"], serde_json::json!([]));
}

#[tokio::test]
async fn when_a_closed_inbox_conversation_gets_a_message_it_should_reopen() {
    let t = spawn_app().await;
    t.register_number(BUSINESS, ORG).await;
    t.inbound(CONTACT, BUSINESS, "thanks, bye").await;
    t.drain().await;
    let conv = conv_of(ORG, CONTACT);
    let agent = agent_of("agent_1", ORG);

    let head = t.app.store.load_head(&conv).await.unwrap().expect("head");
    let now = shared::clock::format_ts(chrono::Utc::now());
    assert!(
        t.app
            .store
            .set_status(&head, shared::domain::ConversationStatus::Closed, &now)
            .await
            .unwrap()
    );
    let detail = t.get(&format!("/conversations/{conv}"), &agent).await;
    assert_eq!(detail.json["status"], "closed");

    t.inbound(CONTACT, BUSINESS, "one more thing").await;
    assert_eq!(t.drain().await, 1);
    let detail = t.get(&format!("/conversations/{conv}"), &agent).await;
    assert_eq!(detail.json["status"], "active", "{:?}", detail.json);
    assert_eq!(detail.json["unread_count"], 2);
    assert_eq!(
        t.bodies(&conv, &agent).await,
        ["thanks, bye", "one more thing"]
    );
}

#[tokio::test]
async fn when_sqs_refuses_the_message_the_webhook_should_be_503_so_twilio_retries() {
    let t = spawn_app().await;
    let endpoint = endpoint_or_explain();
    let config = IngestConfig {
        queue_url: format!(
            "{}/123456789012/no-such-queue-{}",
            endpoint.trim_end_matches('/'),
            ulid::Ulid::new()
        ),
        ..t.deps.ingest.config.clone()
    };
    let ingest = webhook_ingest::Ingest::new(config, t.deps.ingest.sqs.clone());
    let sid = t.standin.new_message_sid();
    let p = t.standin.inbound_params(&sid, CONTACT, BUSINESS, "hello");
    let request = |signature: String| {
        lambda_http::http::Request::builder()
            .method("POST")
            .uri(MESSAGING)
            .header("content-type", "application/x-www-form-urlencoded")
            .header("x-twilio-signature", signature)
            .header("i-twilio-idempotency-token", "tok-503")
            .body(lambda_http::Body::Text(
                serde_urlencoded::to_string(&p).unwrap(),
            ))
            .unwrap()
    };
    let signature = shared::signature::sign(
        t.standin.auth_token(),
        &format!("{}{MESSAGING}", ingest.config.public_base_url),
        &p,
    );

    let resp = webhook_ingest::handle(&ingest, request(signature.clone())).await;
    assert_eq!(resp.status(), 503);
    let body = match resp.body() {
        lambda_http::Body::Text(t) => t.clone(),
        other => panic!("unexpected body {other:?}"),
    };
    let json: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(json["error"]["code"], "queue_unavailable", "{json}");
    t.assert_queue_empty().await;

    // The same request with a working queue is accepted.
    let resp = webhook_ingest::handle(t.deps.ingest, request(signature)).await;
    assert_eq!(resp.status(), 200);
    assert_eq!(t.queue_depth(&t.queue_url).await, (1, 0));
}
