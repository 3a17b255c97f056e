//! `GET /stats/providers`: per provider (twilio, meta, kommo) of an org's
//! inbox, the conversations in total, active, escalated, and those whose
//! contact wrote within 24 hours. Checked against a brute-force count of
//! what was seeded, received and changed.

use crate::helpers::*;
use chrono::{DateTime, Duration, Utc};
use reqwest::Method;
use serde_json::{Value, json};
use shared::auth::UserType;
use shared::clock::format_ts;
use shared::inbox::inbox_conversation_id;
use shared::ports::InboxStore;
use shared::store::InboxImport;
use std::collections::BTreeMap;

const ORG: &str = "org_stats";
const OTHER_ORG: &str = "org_stats_other";
const BUSINESS: &str = "whatsapp:+15550001111";
const SMS_NUMBER: &str = "+15550002222";
const OTHER_BUSINESS: &str = "whatsapp:+15550003333";
const PROVIDERS: [&str; 3] = ["twilio", "meta", "kommo"];

/// One conversation as the test knows it.
#[derive(Clone, Debug)]
struct Known {
    id: String,
    provider: &'static str,
    status: &'static str,
    last_user_message_at: Option<DateTime<Utc>>,
}

/// A conversation to import: `key` is the contact address (twilio, meta)
/// or the Kommo chat id.
struct Seed {
    provider: &'static str,
    channel: &'static str,
    key: &'static str,
    status: &'static str,
    /// Hours before "now" the contact last wrote.
    wrote_hours_ago: Option<i64>,
}

const fn seed(
    provider: &'static str,
    channel: &'static str,
    key: &'static str,
    status: &'static str,
    wrote_hours_ago: Option<i64>,
) -> Seed {
    Seed {
        provider,
        channel,
        key,
        status,
        wrote_hours_ago,
    }
}

const SEEDS: &[Seed] = &[
    seed(
        "twilio",
        "whatsapp",
        "whatsapp:+15557000001",
        "active",
        Some(1),
    ),
    seed("twilio", "sms", "+15557000002", "escalated", Some(30)),
    seed(
        "twilio",
        "whatsapp",
        "whatsapp:+15557000003",
        "closed",
        Some(2),
    ),
    seed(
        "twilio",
        "whatsapp",
        "whatsapp:+15557000004",
        "active",
        None,
    ),
    seed(
        "meta",
        "whatsapp",
        "whatsapp:+15557000011",
        "active",
        Some(23),
    ),
    seed("meta", "whatsapp", "whatsapp:+15557000012", "active", None),
    seed(
        "meta",
        "whatsapp",
        "whatsapp:+15557000013",
        "escalated",
        Some(48),
    ),
    seed(
        "meta",
        "whatsapp",
        "whatsapp:+15557000014",
        "escalated",
        Some(4),
    ),
    seed(
        "meta",
        "whatsapp",
        "whatsapp:+15557000015",
        "closed",
        Some(5),
    ),
    seed(
        "meta",
        "whatsapp",
        "whatsapp:+15557000016",
        "closed",
        Some(200),
    ),
    seed("kommo", "whatsapp", "kommo-chat-1", "active", Some(3)),
    seed("kommo", "whatsapp", "kommo-chat-2", "escalated", Some(10)),
    seed("kommo", "whatsapp", "kommo-chat-3", "closed", Some(100)),
    seed("kommo", "whatsapp", "kommo-chat-4", "active", None),
    seed("kommo", "telegram", "kommo-chat-5", "active", Some(22)),
];

/// The other org: the same contacts, other figures.
const OTHER_SEEDS: &[Seed] = &[
    seed(
        "twilio",
        "whatsapp",
        "whatsapp:+15557000001",
        "escalated",
        Some(50),
    ),
    seed(
        "meta",
        "whatsapp",
        "whatsapp:+15557000011",
        "closed",
        Some(1),
    ),
    seed("kommo", "whatsapp", "kommo-chat-1", "escalated", Some(2)),
];

fn import_of<'a>(
    org: &'a str,
    s: &'a Seed,
    created_at: &'a str,
    wrote: Option<&'a str>,
) -> InboxImport<'a> {
    let kommo = s.provider == "kommo";
    InboxImport {
        org_id: org,
        provider: shared::domain::Provider::parse(s.provider).unwrap(),
        channel: s.channel,
        contact_address: (!kommo).then_some(s.key),
        kommo_chat_id: kommo.then_some(s.key),
        status: shared::domain::ConversationStatus::parse(s.status).unwrap(),
        created_at,
        last_user_message_at: wrote,
        business_address: None,
        contact_name: None,
        created_by: None,
    }
}

/// Import the seeds for `org` relative to the API's clock.
async fn import_all(t: &TestApp, org: &str, seeds: &[Seed]) -> Vec<Known> {
    let now = t.app.clock.now();
    let created_at = format_ts(now - Duration::days(30));
    let mut known = Vec::new();
    for s in seeds {
        let wrote = s.wrote_hours_ago.map(|h| now - Duration::hours(h));
        let wrote_s = wrote.map(format_ts);
        let (id, created) = t
            .app
            .store
            .import_conversation(&import_of(org, s, &created_at, wrote_s.as_deref()))
            .await
            .unwrap_or_else(|e| panic!("import of {}: {e}", s.key));
        assert!(created, "{} was already there", s.key);
        assert_eq!(id, inbox_conversation_id(org, s.provider, s.channel, s.key));
        known.push(Known {
            id,
            provider: s.provider,
            status: s.status,
            last_user_message_at: wrote,
        });
    }
    known
}

/// The brute-force figures: provider → [total, active, escalated, within_24h].
fn expected(known: &[Known], now: DateTime<Utc>) -> BTreeMap<String, [i64; 4]> {
    let since = now - Duration::hours(24);
    PROVIDERS
        .iter()
        .map(|p| {
            let mine: Vec<&Known> = known.iter().filter(|k| k.provider == *p).collect();
            let count = |f: &dyn Fn(&Known) -> bool| mine.iter().filter(|k| f(k)).count() as i64;
            (
                p.to_string(),
                [
                    mine.len() as i64,
                    count(&|k| k.status == "active"),
                    count(&|k| k.status == "escalated"),
                    count(&|k| k.last_user_message_at.is_some_and(|at| at > since)),
                ],
            )
        })
        .collect()
}

/// The figures of a `GET /stats/providers` answer, checking its shape.
fn figures(r: &Resp, org: &str) -> BTreeMap<String, [i64; 4]> {
    assert_eq!(r.status, 200, "{:?}", r.json);
    assert_eq!(r.json["org_id"], org, "{:?}", r.json);
    assert!(r.json["as_of"].is_string(), "{:?}", r.json);
    let providers = r.json["providers"].as_array().expect("providers");
    assert_eq!(providers.len(), 3, "{providers:?}");
    let out: BTreeMap<String, [i64; 4]> = providers
        .iter()
        .map(|p| {
            let n = |k: &str| p[k].as_i64().unwrap_or_else(|| panic!("{k} in {p}"));
            (
                p["provider"].as_str().expect("provider").to_string(),
                [n("total"), n("active"), n("escalated"), n("within_24h")],
            )
        })
        .collect();
    let names: Vec<&str> = out.keys().map(String::as_str).collect();
    assert_eq!(names, ["kommo", "meta", "twilio"], "{providers:?}");
    out
}

async fn stats(t: &TestApp, token: &str, query: &str) -> Resp {
    t.get(&format!("/stats/providers{query}"), token).await
}

async fn assert_stats(t: &TestApp, org: &str, known: &[Known]) {
    let r = stats(t, &agent_of("agent_stats", org), "").await;
    assert_eq!(
        figures(&r, org),
        expected(known, t.app.clock.now()),
        "{org}: {:?}",
        r.json
    );
}

async fn patch_status(t: &TestApp, conv: &str, org: &str, status: &str) {
    let r = t
        .call(
            Method::PATCH,
            &format!("/conversations/{conv}"),
            Some(&agent_of("agent_1", org)),
            Some(json!({ "status": status })),
            &[],
        )
        .await;
    assert_eq!(r.status, 200, "{conv} → {status}: {:?}", r.json);
    assert_eq!(r.json["status"], status);
}

fn set_status(known: &mut [Known], id: &str, status: &'static str) {
    known
        .iter_mut()
        .find(|k| k.id == id)
        .unwrap_or_else(|| panic!("{id} unknown"))
        .status = status;
}

/// A real Twilio conversation: a contact writes to the org's number.
async fn receive(t: &TestApp, org: &str, contact: &str, business: &str) -> Known {
    t.inbound(contact, business, "hello").await;
    t.drain().await;
    let channel = if contact.starts_with("whatsapp:") {
        "whatsapp"
    } else {
        "sms"
    };
    let id = inbox_conversation_id(org, "twilio", channel, contact);
    let r = t
        .get(&format!("/conversations/{id}"), &agent_of("agent_1", org))
        .await;
    assert_eq!(r.status, 200, "{:?}", r.json);
    let at = r.json["inbox"]["last_user_message_at"]
        .as_str()
        .expect("last_user_message_at");
    Known {
        id,
        provider: "twilio",
        status: "active",
        last_user_message_at: Some(
            DateTime::parse_from_rfc3339(at)
                .unwrap()
                .with_timezone(&Utc),
        ),
    }
}

#[tokio::test]
async fn when_an_org_has_conversations_across_providers_the_stats_should_match_a_brute_force_count()
{
    let t = spawn_app().await;
    t.register_number(BUSINESS, ORG).await;
    t.register_number(SMS_NUMBER, ORG).await;
    t.register_number(OTHER_BUSINESS, OTHER_ORG).await;

    // An org with nothing yet: three providers, all zero.
    let r = stats(&t, &agent_of("agent_stats", ORG), "").await;
    assert_eq!(figures(&r, ORG), expected(&[], t.app.clock.now()));

    let mut known = import_all(&t, ORG, SEEDS).await;
    known.push(receive(&t, ORG, "whatsapp:+15557100001", BUSINESS).await);
    known.push(receive(&t, ORG, "+15557100002", SMS_NUMBER).await);
    known.push(receive(&t, ORG, "whatsapp:+15557100003", BUSINESS).await);
    let mut other = import_all(&t, OTHER_ORG, OTHER_SEEDS).await;
    other.push(receive(&t, OTHER_ORG, "whatsapp:+15557100001", OTHER_BUSINESS).await);
    assert_stats(&t, ORG, &known).await;
    assert_stats(&t, OTHER_ORG, &other).await;

    // Agents change statuses; the counters follow.
    let changes: [(usize, &[&'static str]); 6] = [
        (4, &["escalated"]),            // meta active → escalated
        (7, &["active"]),               // meta escalated → active
        (12, &["active"]),              // kommo closed → active
        (1, &["closed", "active"]),     // twilio escalated → closed → active
        (15, &["closed"]),              // received twilio → closed
        (16, &["escalated", "closed"]), // received twilio → escalated → closed
    ];
    for (i, path) in changes {
        let id = known[i].id.clone();
        for status in path {
            patch_status(&t, &id, ORG, status).await;
            set_status(&mut known, &id, status);
        }
    }
    assert_stats(&t, ORG, &known).await;
    // The same status again changes nothing.
    patch_status(&t, &known[4].id.clone(), ORG, "escalated").await;
    assert_stats(&t, ORG, &known).await;

    // A closed Twilio conversation reopens when the contact writes again.
    let reopened = receive(&t, ORG, "whatsapp:+15557100001", BUSINESS).await;
    assert_eq!(reopened.id, known[15].id);
    set_status(&mut known, &reopened.id, "active");
    known[15].last_user_message_at = reopened.last_user_message_at;
    assert_stats(&t, ORG, &known).await;
    // The other org's figures never moved.
    assert_stats(&t, OTHER_ORG, &other).await;

    // Two hours on, the contacts of 22 and 23 hours ago drop out of the
    // 24-hour figure (and the others stay).
    t.app.clock.advance(Duration::hours(2));
    let later = expected(&known, t.app.clock.now());
    assert_ne!(
        later,
        expected(&known, t.app.clock.now() - Duration::hours(2))
    );
    assert_stats(&t, ORG, &known).await;
}

#[tokio::test]
async fn when_a_service_asks_it_should_name_the_org_and_agents_should_only_ever_see_their_own() {
    let t = spawn_app().await;
    let known = import_all(&t, ORG, SEEDS).await;
    let other = import_all(&t, OTHER_ORG, OTHER_SEEDS).await;
    let now = t.app.clock.now();

    let r = stats(&t, &service(), &format!("?org_id={ORG}")).await;
    assert_eq!(figures(&r, ORG), expected(&known, now));
    let r = stats(&t, &service(), &format!("?org_id={OTHER_ORG}")).await;
    assert_eq!(figures(&r, OTHER_ORG), expected(&other, now));
    for query in ["", "?org_id=", "?other=1"] {
        let r = stats(&t, &service(), query).await;
        assert_error(&r, 422, "missing_org_id");
    }

    // An agent naming another org still gets their own.
    let r = stats(
        &t,
        &agent_of("agent_stats", ORG),
        &format!("?org_id={OTHER_ORG}"),
    )
    .await;
    assert_eq!(figures(&r, ORG), expected(&known, now));

    for token in [customer(), provider(), token("agent_none", UserType::Agent)] {
        let r = stats(&t, &token, &format!("?org_id={ORG}")).await;
        assert_error(&r, 403, "agents_only");
    }
    let r = t
        .call(Method::GET, "/stats/providers", None, None, &[])
        .await;
    assert_error(&r, 401, "unauthorized");
}

#[tokio::test]
async fn when_the_same_conversation_is_imported_twice_it_should_be_counted_once() {
    let t = spawn_app().await;
    let known = import_all(&t, ORG, SEEDS).await;
    let now = t.app.clock.now();
    let created_at = format_ts(now - Duration::days(30));
    let recent = format_ts(now - Duration::hours(1));

    for s in SEEDS {
        // Exactly the same, then with another status and a recent message.
        for (status, wrote) in [(s.status, None), ("escalated", Some(recent.as_str()))] {
            let again = Seed {
                status,
                wrote_hours_ago: None,
                ..*s
            };
            let (id, created) = t
                .app
                .store
                .import_conversation(&import_of(ORG, &again, &created_at, wrote))
                .await
                .expect("import");
            assert!(!created, "{} was imported twice", s.key);
            assert_eq!(id, inbox_conversation_id(ORG, s.provider, s.channel, s.key));
        }
    }
    assert_stats(&t, ORG, &known).await;
    // The first import stands.
    let kommo = known.iter().find(|k| k.provider == "kommo").unwrap();
    let r = t
        .get(
            &format!("/conversations/{}", kommo.id),
            &agent_of("agent_1", ORG),
        )
        .await;
    assert_eq!(r.status, 200, "{:?}", r.json);
    assert_eq!(r.json["status"], kommo.status);
    assert_eq!(r.json["inbox"]["provider"], "kommo");
}

#[tokio::test]
async fn when_an_import_lacks_its_key_it_should_be_refused_and_count_nothing() {
    let t = spawn_app().await;
    let now = format_ts(t.app.clock.now());
    let refused = [
        ("kommo", None, None),
        ("kommo", Some(""), None),
        ("kommo", None, Some("whatsapp:+15557000001")),
        ("twilio", None, None),
        ("meta", None, Some("")),
    ];
    for (provider, chat, contact) in refused {
        let r = t
            .app
            .store
            .import_conversation(&InboxImport {
                org_id: ORG,
                provider: shared::domain::Provider::parse(provider).unwrap(),
                channel: "whatsapp",
                contact_address: contact,
                kommo_chat_id: chat,
                status: shared::domain::ConversationStatus::Active,
                created_at: &now,
                last_user_message_at: Some(&now),
                business_address: None,
                contact_name: None,
                created_by: None,
            })
            .await;
        assert!(
            r.is_err(),
            "{provider} {chat:?} {contact:?} was imported: {r:?}"
        );
    }
    assert_stats(&t, ORG, &[]).await;
    let r = t.get("/conversations", &agent_of("agent_1", ORG)).await;
    assert_eq!(r.json["items"], json!([]), "{:?}", r.json);
}

#[tokio::test]
async fn when_a_contact_of_an_imported_twilio_conversation_writes_it_should_count_within_24h_and_be_answerable()
 {
    let t = spawn_app().await;
    t.register_number(BUSINESS, ORG).await;
    let contact = "whatsapp:+15557000004";
    // Imported with no message of theirs on record.
    let mut known = import_all(
        &t,
        ORG,
        &[seed("twilio", "whatsapp", contact, "active", None)],
    )
    .await;
    assert_stats(&t, ORG, &known).await;

    let received = receive(&t, ORG, contact, BUSINESS).await;
    assert_eq!(
        received.id, known[0].id,
        "the contact's conversation continues"
    );
    known[0].last_user_message_at = received.last_user_message_at;
    assert_stats(&t, ORG, &known).await;

    // And the agent's reply goes out from the number the contact wrote to.
    let r = t
        .post(
            &format!("/conversations/{}/messages", received.id),
            &agent_of("agent_1", ORG),
            json!({"body": "thanks for writing"}),
        )
        .await;
    assert_eq!(r.status, 201, "{:?}", r.json);
    let create = t
        .standin
        .requests()
        .into_iter()
        .find(|r| r.path.ends_with("/Messages.json"))
        .expect("a Messages create");
    let from: Vec<Value> = create
        .form
        .iter()
        .filter(|(k, _)| k == "From")
        .map(|(_, v)| json!(v))
        .collect();
    assert_eq!(from, [json!(BUSINESS)]);
}
