//! The sample events in `events/`. The API Gateway (HTTP API, payload 2.0)
//! ones each parse the way the Lambda runtime parses them and fit their route
//! in the template; replayed in order through the linked handlers against a
//! fresh stack, they drive a booking chat (escalated at the end), sign and
//! enqueue Twilio webhooks, manage a chat account, read the org's provider
//! statistics and answer the contact with a WhatsApp template. The SQS one
//! (`process-inbound.json`) carries the envelopes webhook ingest enqueues and
//! stores an inbound WhatsApp message in the org inbox.

use crate::helpers::{TestApp, spawn_app_with};
use aws_lambda_events::event::sqs::SqsEvent;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use dev::gateway::{linked, match_path};
use dev::standin::DEV_AUTH_TOKEN;
use dev::template::{Route, Template, workspace_root};
use lambda_http::request::{RequestContext, from_str};
use lambda_http::{Body, Request, RequestExt};
use serde_json::{Value, json};
use shared::auth::{Caller, JwtVerifier, UserType, issue_token};
use shared::domain::{BookingId, ConversationId};
use shared::envelope::{Envelope, Kind, Source};
use shared::inbox::inbox_conversation_id;
use shared::ingest::EMPTY_TWIML;
use shared::signature::{SignedBody, is_valid};
use std::collections::{BTreeMap, BTreeSet, HashMap};

/// The secret the events' tokens are signed with (the local dev default).
const DEV_SECRET: &str = "local-dev-secret-change-me-0123456789";
/// The events' tokens expire in 2100.
const EVENT_TOKEN_EXP: i64 = 4_102_444_800;
/// The `PUBLIC_BASE_URL` the webhook events are signed for (with
/// [`DEV_AUTH_TOKEN`], the stand-in's and the local dev auth token).
const WEBHOOK_BASE_URL: &str = "http://127.0.0.1:3000";
/// The binary that takes Twilio's webhooks (signed, not bearer-authenticated).
const WEBHOOK_BINARY: &str = "webhook-ingest";
/// The binary that takes Meta's webhooks (signed with the app secret).
const META_WEBHOOK_BINARY: &str = "meta-webhook";
/// The org, business number and contact of the inbox events.
const DEMO_ORG: &str = "org_demo";
const BUSINESS_ADDRESS: &str = "whatsapp:+15550001111";
const CONTACT_ADDRESS: &str = "whatsapp:+15551234567";
/// The agent of `org_demo` who calls the inbox events.
const DEMO_AGENT: &str = "agent_dee";
/// The providers `GET /stats/providers` reports, in order.
const STATS_PROVIDERS: [&str; 3] = ["twilio", "meta", "kommo"];

/// Every `events/*.json`: file stem → JSON text.
fn all_event_files() -> BTreeMap<String, String> {
    let dir = workspace_root().join("events");
    let files: BTreeMap<String, String> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|entry| entry.expect("directory entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .map(|p| {
            let stem = p.file_stem().unwrap().to_string_lossy().into_owned();
            let text =
                std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
            (stem, text)
        })
        .collect();
    assert!(!files.is_empty(), "no event files in {}", dir.display());
    files
}

/// An SQS event (`{"Records": [...]}`) rather than an API Gateway one.
fn is_sqs_event(text: &str) -> bool {
    serde_json::from_str::<Value>(text).is_ok_and(|v| v.get("Records").is_some())
}

/// The API Gateway events: file stem → JSON text.
fn event_files() -> BTreeMap<String, String> {
    all_event_files()
        .into_iter()
        .filter(|(_, text)| !is_sqs_event(text))
        .collect()
}

/// The SQS events: file stem → JSON text.
fn sqs_event_files() -> BTreeMap<String, String> {
    all_event_files()
        .into_iter()
        .filter(|(_, text)| is_sqs_event(text))
        .collect()
}

/// The binaries the template feeds from an SQS queue.
fn sqs_binaries() -> BTreeSet<String> {
    let text = std::fs::read_to_string(workspace_root().join("template.yaml")).unwrap();
    let doc: serde_yaml::Value = serde_yaml::from_str(&text).unwrap();
    doc["Resources"]
        .as_mapping()
        .expect("Resources")
        .values()
        .filter(|res| {
            res["Properties"]["Events"]
                .as_mapping()
                .is_some_and(|events| events.values().any(|e| e["Type"] == "SQS"))
        })
        .filter_map(|res| res["Metadata"]["BuildProperties"]["Binary"].as_str())
        .map(str::to_string)
        .collect()
}

fn routes() -> Vec<Route> {
    Template::load_default().expect("template.yaml").routes()
}

/// The binary an events file is for: the longest template binary that is
/// its stem or a `-`-separated prefix of it (`manage-participants-add`).
fn binary_for(stem: &str, routes: &[Route]) -> Option<String> {
    routes
        .iter()
        .map(|r| r.binary.as_str())
        .filter(|b| {
            stem == *b
                || stem
                    .strip_prefix(b)
                    .is_some_and(|rest| rest.starts_with('-'))
        })
        .max_by_key(|b| b.len())
        .map(str::to_string)
}

/// The template route an event's `routeKey` names, among its binary's routes.
fn route_of<'r>(routes: &'r [Route], binary: &str, route_key: &str) -> Option<&'r Route> {
    routes
        .iter()
        .find(|r| r.binary == binary && format!("{} {}", r.method, r.path) == route_key)
}

fn demo_conversation() -> String {
    ConversationId::for_booking(&BookingId::parse("bk_demo").unwrap())
        .as_str()
        .to_string()
}

/// The WhatsApp conversation of `org_demo` with the demo contact.
fn inbox_conversation() -> String {
    inbox_conversation_id(DEMO_ORG, "twilio", "whatsapp", CONTACT_ADDRESS)
}

fn load(stem: &str) -> Request {
    let files = all_event_files();
    let text = files
        .get(stem)
        .unwrap_or_else(|| panic!("no events/{stem}.json"));
    from_str(text).unwrap_or_else(|e| panic!("events/{stem}.json: {e}"))
}

fn claims_of(req: &Request) -> Value {
    let auth = req.headers()["authorization"].to_str().unwrap();
    let token = auth.strip_prefix("Bearer ").expect("a Bearer token");
    let payload = token.split('.').nth(1).expect("a JWT");
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).expect("base64url payload"))
        .expect("JSON claims")
}

#[test]
fn when_event_files_are_parsed_they_should_be_api_gateway_v2_requests_for_their_routes() {
    let routes = routes();
    let verifier = JwtVerifier::new(DEV_SECRET);
    for (stem, text) in event_files() {
        let raw: Value =
            serde_json::from_str(&text).unwrap_or_else(|e| panic!("{stem}: not JSON: {e}"));
        assert_eq!(raw["version"], "2.0", "{stem}");
        let binary = binary_for(&stem, &routes)
            .unwrap_or_else(|| panic!("{stem}: names no binary of the template"));
        let is_webhook = binary == WEBHOOK_BINARY;
        // API Gateway base64-encodes form posts (Twilio's webhooks).
        assert_eq!(raw["isBase64Encoded"], is_webhook, "{stem}");
        let route_key = raw["routeKey"].as_str().expect("routeKey");

        let req = from_str(&text).unwrap_or_else(|e| panic!("{stem}: {e}"));
        let Some(RequestContext::ApiGatewayV2(ctx)) = req.request_context_ref() else {
            panic!("{stem}: not parsed as an API Gateway v2 request");
        };
        assert_eq!(ctx.route_key.as_deref(), Some(route_key), "{stem}");
        assert_eq!(ctx.stage.as_deref(), Some("$default"), "{stem}");
        assert_eq!(ctx.http.method, *req.method(), "{stem}");
        assert_eq!(ctx.http.path.as_deref(), Some(req.uri().path()), "{stem}");
        assert_eq!(req.raw_http_path(), req.uri().path(), "{stem}");

        // The route is one of its binary's routes in the template.
        let route = route_of(&routes, &binary, route_key)
            .unwrap_or_else(|| panic!("{stem}: {route_key} is not a route of {binary}"));
        assert_eq!(req.method().as_str(), route.method, "{stem}");

        // Path parameters: those of the route template, as API Gateway
        // would extract them from the path.
        let segments: Vec<String> = route.path.split('/').skip(1).map(str::to_string).collect();
        let from_path = match_path(&segments, req.uri().path())
            .unwrap_or_else(|| panic!("{stem}: path does not match {}", route.path));
        let params: HashMap<String, String> = req
            .path_parameters()
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        assert_eq!(params, from_path, "{stem}: pathParameters");

        // Query parameters agree with the raw query string (which API
        // Gateway passes on as sent, percent-encoded).
        let from_raw: Value = serde_urlencoded::from_str::<Vec<(String, String)>>(
            raw["rawQueryString"].as_str().unwrap_or(""),
        )
        .unwrap_or_else(|e| panic!("{stem}: rawQueryString: {e}"))
        .into_iter()
        .map(|(k, v)| (k, Value::from(v)))
        .collect::<serde_json::Map<_, _>>()
        .into();
        let listed = raw
            .get("queryStringParameters")
            .cloned()
            .unwrap_or_else(|| serde_json::json!({}));
        assert_eq!(listed, from_raw, "{stem}: queryStringParameters");
        for (k, v) in listed.as_object().unwrap() {
            assert_eq!(
                req.query_string_parameters().first(k),
                v.as_str(),
                "{stem}: {k}"
            );
        }

        if is_webhook {
            check_webhook_event(&stem, &req);
            continue;
        }
        if binary == META_WEBHOOK_BINARY {
            check_meta_event(&stem, &req);
            continue;
        }

        // A JSON body comes with its content type and a plain text body.
        match req.body() {
            Body::Empty => assert!(req.headers().get("content-type").is_none(), "{stem}"),
            Body::Text(t) => {
                assert_eq!(req.headers()["content-type"], "application/json", "{stem}");
                serde_json::from_str::<Value>(t)
                    .unwrap_or_else(|e| panic!("{stem}: body is not JSON: {e}"));
            }
            other => panic!("{stem}: unexpected body {other:?}"),
        }

        // The token is the dev secret's, long-lived, with a user type.
        let caller = verifier
            .caller(&req)
            .unwrap_or_else(|e| panic!("{stem}: token refused: {e}"));
        let claims = claims_of(&req);
        assert_eq!(claims["exp"], EVENT_TOKEN_EXP, "{stem}");
        assert_eq!(
            claims["app_metadata"]["user_type"],
            caller.user_type.as_str(),
            "{stem}"
        );
        let expected_type = match caller.user_id.as_str() {
            "cust_ana" => UserType::Customer,
            "prov_ben" => UserType::Provider,
            "booking-system" => UserType::Service,
            DEMO_AGENT => UserType::Agent,
            other => panic!("{stem}: unexpected caller {other}"),
        };
        assert_eq!(caller.user_type, expected_type, "{stem}");
        // Only agents carry an org: org_demo's.
        let expected_org = (expected_type == UserType::Agent).then(|| DEMO_ORG.to_string());
        assert_eq!(caller.org_id, expected_org, "{stem}");
        assert_eq!(
            claims["app_metadata"].get("org_id").and_then(Value::as_str),
            expected_org.as_deref(),
            "{stem}"
        );

        // A conversation in the path: the booking chat of bk_demo for its
        // participants and the service, org_demo's WhatsApp conversation
        // with the demo contact for its agent.
        if let Some(id) = params.get("id") {
            let (expected, which) = if expected_type == UserType::Agent {
                (inbox_conversation(), "org_demo's WhatsApp conversation")
            } else {
                (demo_conversation(), "the conversation of booking bk_demo")
            };
            assert_eq!(id, &expected, "{stem}: {which}");
        }
    }
}

/// A Meta webhook: no bearer token; a delivery is JSON signed with the dev
/// app secret, a handshake carries the dev verify token.
fn check_meta_event(stem: &str, req: &Request) {
    use dev::meta_standin::{DEV_META_APP_SECRET, DEV_META_VERIFY_TOKEN};
    assert!(req.headers().get("authorization").is_none(), "{stem}");
    match req.method().as_str() {
        "POST" => {
            let Body::Text(body) = req.body() else {
                panic!("{stem}: a JSON body");
            };
            assert_eq!(req.headers()["content-type"], "application/json", "{stem}");
            let sig = req.headers()["x-hub-signature-256"].to_str().unwrap();
            assert!(
                shared::meta::signature::is_valid(&[DEV_META_APP_SECRET], body.as_bytes(), sig),
                "{stem}: X-Hub-Signature-256 is not the dev app secret's"
            );
        }
        "GET" => assert_eq!(
            req.query_string_parameters().first("hub.verify_token"),
            Some(DEV_META_VERIFY_TOKEN),
            "{stem}"
        ),
        other => panic!("{stem}: {other}"),
    }
}

/// A Twilio webhook: no bearer token, a form body signed with the dev auth
/// token for the local public URL, and Twilio's idempotency token.
fn check_webhook_event(stem: &str, req: &Request) {
    assert!(
        req.headers().get("authorization").is_none(),
        "{stem}: Twilio sends no bearer token"
    );
    assert_eq!(
        req.headers()["content-type"],
        "application/x-www-form-urlencoded",
        "{stem}"
    );
    assert!(
        req.headers().get("i-twilio-idempotency-token").is_some(),
        "{stem}"
    );
    let Body::Binary(bytes) = req.body() else {
        panic!("{stem}: a base64 body should decode to bytes");
    };
    assert_eq!(
        req.headers()["content-length"].to_str().unwrap(),
        bytes.len().to_string(),
        "{stem}: content-length is the decoded body's"
    );
    let params: Vec<(String, String)> = serde_urlencoded::from_bytes(bytes)
        .unwrap_or_else(|e| panic!("{stem}: body is not form-encoded: {e}"));
    assert!(!params.is_empty(), "{stem}");
    let source = Source::from_path(req.uri().path()).expect("a webhook route");
    let url = format!("{WEBHOOK_BASE_URL}{}", source.path());
    let signature = req.headers()["x-twilio-signature"].to_str().unwrap();
    assert!(
        is_valid(
            &[DEV_AUTH_TOKEN],
            &url,
            SignedBody::Form(&params),
            signature
        ),
        "{stem}: X-Twilio-Signature is not the dev auth token's for {url}"
    );
    let param = |name: &str| {
        params
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
            .unwrap_or_else(|| panic!("{stem}: no {name}"))
    };
    match source {
        Source::Messaging => {
            assert_eq!(param("From"), CONTACT_ADDRESS, "{stem}");
            assert_eq!(param("To"), BUSINESS_ADDRESS, "{stem}");
            assert!(param("MessageSid").starts_with("SM"), "{stem}");
        }
        Source::Conversations => {
            assert_eq!(param("EventType"), "onMessageAdded", "{stem}");
            assert!(param("ConversationSid").starts_with("CH"), "{stem}");
            assert!(param("MessageSid").starts_with("IM"), "{stem}");
        }
        Source::Meta => panic!("{stem}: Meta deliveries are not Twilio-signed"),
    }
}

fn sqs_event(stem: &str) -> SqsEvent {
    let files = all_event_files();
    let text = files
        .get(stem)
        .unwrap_or_else(|| panic!("no events/{stem}.json"));
    serde_json::from_str(text).unwrap_or_else(|e| panic!("events/{stem}.json: {e}"))
}

#[test]
fn when_sqs_event_files_are_parsed_they_should_carry_ingest_envelopes() {
    let files = sqs_event_files();
    let binaries = sqs_binaries();
    assert!(binaries.contains("process-inbound"), "{binaries:?}");
    for binary in &binaries {
        assert!(
            files.contains_key(binary),
            "no events/{binary}.json for the SQS-fed {binary}"
        );
    }
    for stem in files.keys() {
        assert!(
            binaries.contains(stem),
            "events/{stem}.json: {stem} is not fed by SQS in the template"
        );
        let event = sqs_event(stem);
        assert!(!event.records.is_empty(), "{stem}");
        for record in &event.records {
            assert_eq!(record.event_source.as_deref(), Some("aws:sqs"), "{stem}");
            assert!(record.message_id.is_some(), "{stem}");
            assert!(record.receipt_handle.is_some(), "{stem}");
            let body = record.body.as_deref().expect("a body");
            let env = Envelope::from_json(body).unwrap_or_else(|e| panic!("{stem}: {e}"));
            // Exactly what webhook ingest serialises.
            assert_eq!(serde_json::to_string(&env).unwrap(), body, "{stem}");
            assert_eq!(env.source, Source::Messaging, "{stem}");
        }
    }
    let kinds: Vec<Kind> = sqs_event("process-inbound")
        .records
        .iter()
        .map(|r| {
            Envelope::from_json(r.body.as_deref().unwrap())
                .unwrap()
                .kind
        })
        .collect();
    assert_eq!(kinds, [Kind::InboundMessage, Kind::StatusCallback]);
}

#[test]
fn when_the_template_has_a_route_it_should_have_an_event_file() {
    let routes = routes();
    let mut covered: BTreeSet<(String, String)> = BTreeSet::new();
    let mut route_of_stem: BTreeMap<String, (String, String, String)> = BTreeMap::new();
    for (stem, text) in event_files() {
        let binary = binary_for(&stem, &routes)
            .unwrap_or_else(|| panic!("events/{stem}.json names no binary of the template"));
        let raw: Value = serde_json::from_str(&text).unwrap();
        let route_key = raw["routeKey"].as_str().unwrap_or("");
        let route = route_of(&routes, &binary, route_key).unwrap_or_else(|| {
            panic!("events/{stem}.json: {route_key} is not a route of {binary}")
        });
        covered.insert((route.method.clone(), route.path.clone()));
        route_of_stem.insert(
            stem.clone(),
            (binary.clone(), route.method.clone(), route.path.clone()),
        );
        assert!(linked(&binary).is_some(), "{binary} is not linked");
    }
    let binaries: BTreeSet<&str> = routes.iter().map(|r| r.binary.as_str()).collect();
    assert!(binaries.len() >= 8, "{binaries:?}");
    // The files of the status, statistics and WhatsApp template routes.
    for (stem, binary, method, path) in [
        (
            "update-conversation",
            "update-conversation",
            "PATCH",
            "/conversations/{id}",
        ),
        (
            "provider-stats",
            "provider-stats",
            "GET",
            "/stats/providers",
        ),
        (
            "send-message-whatsapp-template",
            "send-message",
            "POST",
            "/conversations/{id}/messages",
        ),
    ] {
        let expected = (binary.to_string(), method.to_string(), path.to_string());
        assert_eq!(
            route_of_stem.get(stem),
            Some(&expected),
            "events/{stem}.json should be {method} {path} ({binary})"
        );
    }
    for r in &routes {
        assert!(
            covered.contains(&(r.method.clone(), r.path.clone())),
            "no events file for {} {} ({})",
            r.method,
            r.path,
            r.binary
        );
    }
}

/// Run `events/<stem>.json` through its binary's linked handler: status,
/// content type and body text.
async fn invoke_raw(t: &TestApp, stem: &str) -> (u16, Option<String>, Option<String>) {
    let binary = binary_for(stem, &routes()).expect("a binary");
    let handler = linked(&binary).expect("a linked handler");
    let resp = handler(t.deps, load(stem)).await;
    let content_type = resp
        .headers()
        .get("content-type")
        .map(|v| v.to_str().unwrap().to_string());
    let text = match resp.body() {
        Body::Empty => None,
        Body::Text(text) => Some(text.clone()),
        other => panic!("{stem}: unexpected body {other:?}"),
    };
    (resp.status().as_u16(), content_type, text)
}

/// Run `events/<stem>.json` through its binary's linked handler.
async fn invoke(t: &TestApp, stem: &str) -> (u16, Value) {
    let binary = binary_for(stem, &routes()).expect("a binary");
    let handler = linked(&binary).expect("a linked handler");
    let resp = handler(t.deps, load(stem)).await;
    let status = resp.status().as_u16();
    let json = match resp.body() {
        Body::Empty => Value::Null,
        Body::Text(text) => serde_json::from_str(text)
            .unwrap_or_else(|_| panic!("{stem}: {status}: response is not JSON: {text}")),
        other => panic!("{stem}: {status}: unexpected body {other:?}"),
    };
    (status, json)
}

#[tokio::test]
async fn when_the_events_are_replayed_in_order_they_should_drive_the_booking_chat() {
    let t = spawn_app_with(&[("AUTH_JWT_SECRET", DEV_SECRET)]).await;
    // The event is the customer's: the booking directory knows the booking.
    t.bookings.seed("bk_demo", "cust_ana", "prov_ben");
    let conv = demo_conversation();

    let (status, created) = invoke(&t, "create-conversation").await;
    assert_eq!(status, 201, "{created}");
    assert_eq!(created["id"], conv.as_str());
    assert_eq!(created["booking_id"], "bk_demo");
    let names: Vec<&str> = created["participants"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["display_name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["Ana", "Ben"]);
    // Create-or-get: the same event again finds it.
    let (status, again) = invoke(&t, "create-conversation").await;
    assert_eq!((status, &again["id"]), (200, &created["id"]), "{again}");

    let (status, sent) = invoke(&t, "send-message").await;
    assert_eq!(status, 201, "{sent}");
    assert_eq!(sent["author_id"], "cust_ana");
    assert_eq!(sent["body"], "Hi Ben, when will you arrive?");
    // The Idempotency-Key header makes a replay return the first message.
    let (status, replayed) = invoke(&t, "send-message").await;
    assert_eq!((status, &replayed["id"]), (200, &sent["id"]), "{replayed}");

    let (status, list) = invoke(&t, "list-conversations").await;
    assert_eq!(status, 200, "{list}");
    let items = list["items"].as_array().unwrap();
    assert_eq!(items.len(), 1, "{list}");
    assert_eq!(items[0]["id"], conv.as_str());
    assert_eq!(items[0]["unread_count"], 1);
    assert_eq!(
        items[0]["last_message"]["preview"],
        "Hi Ben, when will you arrive?"
    );

    let (status, detail) = invoke(&t, "get-conversation").await;
    assert_eq!(status, 200, "{detail}");
    assert_eq!(detail["id"], conv.as_str());
    assert_eq!(detail["analytics"]["message_count"], 1);

    let (status, page) = invoke(&t, "get-messages").await;
    assert_eq!(status, 200, "{page}");
    assert_eq!(page["conversation_id"], conv.as_str());
    let messages = page["messages"].as_array().unwrap();
    assert_eq!(messages.len(), 1, "{page}");
    assert_eq!(messages[0]["id"], sent["id"]);

    let (status, read) = invoke(&t, "mark-as-read").await;
    assert_eq!(status, 200, "{read}");
    assert_eq!(read["user_id"], "prov_ben");
    assert_eq!(read["unread_count"], 0);
    assert_eq!(read["last_read_message_id"], sent["id"]);

    let (status, unread) = invoke(&t, "unread-count").await;
    assert_eq!(status, 200, "{unread}");
    assert_eq!(unread["user_id"], "prov_ben");
    assert_eq!(unread["unread_count"], 0);

    let (status, listed) = invoke(&t, "manage-participants-list").await;
    assert_eq!(status, 200, "{listed}");
    let ids: Vec<&str> = listed["participants"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["user_id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["cust_ana", "prov_ben"]);

    let (status, added) = invoke(&t, "manage-participants-add").await;
    assert_eq!(status, 201, "{added}");
    assert_eq!(added["user_id"], "prov_cleo");
    assert_eq!(added["display_name"], "Cleo");
    assert_eq!(added["is_active"], true);

    let (status, removed) = invoke(&t, "manage-participants-remove").await;
    assert_eq!(status, 204, "{removed}");
    assert_eq!(removed, Value::Null);
    let (_, listed) = invoke(&t, "manage-participants-list").await;
    let cleo = listed["participants"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["user_id"] == "prov_cleo")
        .expect("prov_cleo kept in history")
        .clone();
    assert_eq!(cleo["is_active"], false, "{listed}");

    // A participant escalates the chat; the same request again changes
    // nothing and still answers 200.
    let (status, escalated) = invoke(&t, "update-conversation").await;
    assert_eq!(status, 200, "{escalated}");
    assert_eq!(escalated["id"], conv.as_str());
    assert_eq!(escalated["status"], "escalated", "{escalated}");
    assert_eq!(escalated["booking_id"], "bk_demo");
    let (status, again) = invoke(&t, "update-conversation").await;
    assert_eq!(
        (status, &again["status"]),
        (200, &json!("escalated")),
        "{again}"
    );
    let (_, detail) = invoke(&t, "get-conversation").await;
    assert_eq!(detail["status"], "escalated", "{detail}");
    // An escalated chat still takes messages (the replay answers 200).
    let (status, replayed) = invoke(&t, "send-message").await;
    assert_eq!((status, &replayed["id"]), (200, &sent["id"]), "{replayed}");
}

/// The messages waiting on the inbound queue (received and deleted).
async fn drain_queue(t: &TestApp) -> Vec<String> {
    let out = t
        .sqs
        .receive_message()
        .queue_url(&t.queue_url)
        .max_number_of_messages(10)
        .wait_time_seconds(1)
        .send()
        .await
        .expect("receive");
    let messages = out.messages.unwrap_or_default();
    for m in &messages {
        t.sqs
            .delete_message()
            .queue_url(&t.queue_url)
            .receipt_handle(m.receipt_handle.clone().unwrap())
            .send()
            .await
            .expect("delete");
    }
    messages.into_iter().filter_map(|m| m.body).collect()
}

/// The form parameters of a webhook event, in order.
fn form_params(stem: &str) -> Vec<(String, String)> {
    match load(stem).body() {
        Body::Binary(bytes) => serde_urlencoded::from_bytes(bytes).unwrap(),
        other => panic!("{stem}: unexpected body {other:?}"),
    }
}

#[tokio::test]
async fn when_the_webhook_events_are_replayed_they_should_be_accepted_and_enqueued() {
    // Ingest checks signatures against this public URL and TWILIO_AUTH_TOKEN,
    // which the stack sets to the stand-in's, the dev auth token.
    let t = spawn_app_with(&[
        ("PUBLIC_BASE_URL", WEBHOOK_BASE_URL),
        ("AUTH_JWT_SECRET", DEV_SECRET),
    ])
    .await;

    let (status, content_type, body) = invoke_raw(&t, "webhook-ingest-messaging").await;
    assert_eq!(status, 200, "{body:?}");
    assert_eq!(content_type.as_deref(), Some("text/xml"));
    assert_eq!(body.as_deref(), Some(EMPTY_TWIML));
    let queued = drain_queue(&t).await;
    assert_eq!(queued.len(), 1, "{queued:?}");
    let env = Envelope::from_json(&queued[0]).unwrap();
    assert_eq!(env.source, Source::Messaging);
    assert_eq!(env.kind, Kind::InboundMessage);
    assert_eq!(env.params, form_params("webhook-ingest-messaging"));
    assert_eq!(env.param("From"), Some(CONTACT_ADDRESS));
    assert_eq!(
        env.idempotency_token.as_deref(),
        Some("MQa1b2c3d4e5f60718293a4b5c6d7e8f90")
    );
    // process-inbound.json's first record is this envelope, as enqueued.
    let sample = sqs_event("process-inbound");
    let mut recorded = Envelope::from_json(sample.records[0].body.as_deref().unwrap()).unwrap();
    recorded.received_at.clone_from(&env.received_at);
    assert_eq!(recorded, env);

    let (status, content_type, body) = invoke_raw(&t, "webhook-ingest-conversations").await;
    assert_eq!((status, body), (200, None));
    assert_eq!(content_type, None);
    let queued = drain_queue(&t).await;
    assert_eq!(queued.len(), 1, "{queued:?}");
    let env = Envelope::from_json(&queued[0]).unwrap();
    assert_eq!(env.source, Source::Conversations);
    assert_eq!(env.kind, Kind::ConversationEvent);
    assert_eq!(env.params, form_params("webhook-ingest-conversations"));

    // Signed for another public URL: refused, nothing enqueued.
    let other = spawn_app_with(&[("AUTH_JWT_SECRET", DEV_SECRET)]).await;
    let (status, _, body) = invoke_raw(&other, "webhook-ingest-messaging").await;
    assert_eq!(status, 403, "{body:?}");
    let error: Value = serde_json::from_str(body.as_deref().unwrap()).unwrap();
    assert_eq!(error["error"]["code"], "invalid_signature");
    assert!(drain_queue(&other).await.is_empty());
}

#[tokio::test]
async fn when_the_inbox_events_are_replayed_they_should_route_the_message_to_the_org() {
    let t = spawn_app_with(&[("AUTH_JWT_SECRET", DEV_SECRET)]).await;

    let (status, added) = invoke(&t, "manage-chat-accounts-add").await;
    assert_eq!(status, 201, "{added}");
    assert_eq!(
        added,
        json!({
            "provider": "twilio",
            "address": BUSINESS_ADDRESS,
            "channel": "whatsapp",
            "org_id": DEMO_ORG,
            "created_at": added["created_at"],
            "created_by": "booking-system",
            "parked_replay": {"replayed": 0, "skipped": 0, "remaining": false},
        })
    );
    let mut added = added;
    added.as_object_mut().unwrap().remove("parked_replay");
    let (status, again) = invoke(&t, "manage-chat-accounts-add").await;
    assert_eq!(status, 200, "{again}");

    let Ok(response) = process_inbound::handle(t.app, sqs_event("process-inbound")).await;
    assert!(
        response.batch_item_failures.is_empty(),
        "{:?}",
        response
            .batch_item_failures
            .iter()
            .map(|f| &f.item_identifier)
            .collect::<Vec<_>>()
    );

    let (status, listed) = invoke(&t, "manage-chat-accounts-list").await;
    assert_eq!(status, 200, "{listed}");
    assert_eq!(listed["org_id"], DEMO_ORG);
    assert_eq!(listed["items"], json!([added]));
    assert_eq!(listed["unroutable"], json!([]), "the number was claimed");

    // The org's agents see the contact's conversation and message.
    let agent = issue_token(
        DEV_SECRET,
        &Caller {
            user_id: "agent_dee".into(),
            user_type: UserType::Agent,
            org_id: Some(DEMO_ORG.into()),
            role: None,
        },
        3600,
    );
    let inbox = t.get("/conversations", &agent).await;
    assert_eq!(inbox.status, 200, "{}", inbox.json);
    let items = inbox.json["items"].as_array().unwrap();
    assert_eq!(items.len(), 1, "{}", inbox.json);
    assert_eq!(items[0]["type"], "whatsapp");
    assert_eq!(items[0]["unread_count"], 1);
    let inbox_view = &items[0]["inbox"];
    for (field, expected) in [
        ("org_id", DEMO_ORG),
        ("provider", "twilio"),
        ("channel", "whatsapp"),
        ("contact_address", CONTACT_ADDRESS),
        ("contact_name", "Ana"),
        ("business_address", BUSINESS_ADDRESS),
        // The envelope's receive time, not the processing time.
        ("last_user_message_at", "2026-01-01T09:00:12.000Z"),
    ] {
        assert_eq!(inbox_view[field], expected, "{field}: {}", inbox.json);
    }
    let conv = items[0]["id"].as_str().unwrap();
    assert_eq!(conv, inbox_conversation());
    let page = t
        .get(&format!("/conversations/{conv}/messages"), &agent)
        .await;
    assert_eq!(page.status, 200, "{}", page.json);
    let messages = page.json["messages"].as_array().unwrap();
    assert_eq!(messages.len(), 1, "{}", page.json);
    assert_eq!(messages[0]["body"], "Hi! Is my cleaning still on for 10am?");
    assert_eq!(messages[0]["author_id"], CONTACT_ADDRESS);
    assert_eq!(messages[0]["author_type"], "contact");
    assert_eq!(messages[0]["status"], "received");
    assert_eq!(
        messages[0]["twilio_message_sid"],
        "SMa1b2c3d4e5f60718293a4b5c6d7e8f90"
    );
    assert_eq!(t.unread_total(&agent).await, 1);

    // A redelivered batch changes nothing.
    let Ok(response) = process_inbound::handle(t.app, sqs_event("process-inbound")).await;
    assert!(response.batch_item_failures.is_empty());
    assert_eq!(t.unread_total(&agent).await, 1);

    // The org's figures: the one Twilio WhatsApp conversation, active.
    // Whether the contact wrote within 24 h depends on today's date (the
    // message is from 2026-01-01).
    let (status, stats) = invoke(&t, "provider-stats").await;
    assert_eq!(status, 200, "{stats}");
    assert_eq!(stats["org_id"], DEMO_ORG);
    let as_of = chrono::DateTime::parse_from_rfc3339(stats["as_of"].as_str().expect("as_of"))
        .unwrap_or_else(|e| panic!("as_of: {e}: {stats}"));
    let wrote = chrono::DateTime::parse_from_rfc3339("2026-01-01T09:00:12.000Z").unwrap();
    let within = i64::from(as_of < wrote + chrono::Duration::hours(24));
    let providers = stats["providers"].as_array().expect("providers");
    let names: Vec<&str> = providers
        .iter()
        .map(|p| p["provider"].as_str().unwrap())
        .collect();
    assert_eq!(names, STATS_PROVIDERS, "{stats}");
    assert_eq!(
        providers[0],
        json!({"provider": "twilio", "total": 1, "active": 1, "escalated": 0, "within_24h": within}),
        "{stats}"
    );
    for p in &providers[1..] {
        for field in ["total", "active", "escalated", "within_24h"] {
            assert_eq!(p[field], 0, "{field}: {stats}");
        }
    }

    // The agent answers with a WhatsApp template, which needs no open
    // 24-hour window; the Idempotency-Key makes a replay return it.
    let (status, sent) = invoke(&t, "send-message-whatsapp-template").await;
    assert_eq!(status, 201, "{sent}");
    assert_eq!(sent["conversation_id"], conv);
    assert_eq!(sent["author_id"], DEMO_AGENT);
    assert_eq!(sent["author_type"], "agent");
    assert_eq!(sent["body"], "");
    assert_eq!(
        sent["template"]["content_sid"], "HX0123456789abcdef0123456789abcdef",
        "{sent}"
    );
    // The variables come back as the object that was sent.
    assert_eq!(
        sent["template"]["content_variables"],
        json!({"1": "Ana", "2": "10am"}),
        "{sent}"
    );
    assert!(
        sent["twilio_message_sid"]
            .as_str()
            .is_some_and(|s| s.starts_with("SM")),
        "{sent}"
    );
    let (status, replayed) = invoke(&t, "send-message-whatsapp-template").await;
    assert_eq!((status, &replayed["id"]), (200, &sent["id"]), "{replayed}");
    assert_eq!(t.standin.sms_count(), 1, "Twilio got the template once");
    let create = t
        .standin
        .requests()
        .into_iter()
        .find(|r| r.method == "POST" && r.path.ends_with("/Messages.json"))
        .expect("a Messages API request");
    let form: BTreeMap<String, String> = create.form.into_iter().collect();
    assert_eq!(form.get("From").map(String::as_str), Some(BUSINESS_ADDRESS));
    assert_eq!(form.get("To").map(String::as_str), Some(CONTACT_ADDRESS));
    assert_eq!(
        form.get("ContentSid").map(String::as_str),
        Some("HX0123456789abcdef0123456789abcdef")
    );
    assert!(!form.contains_key("Body"), "{form:?}");

    // An agent's event: starting a conversation from the registered number.
    let (status, started) = invoke(&t, "create-conversation-start").await;
    assert_eq!(status, 201, "{started}");
    assert_eq!(started["type"], "whatsapp", "{started}");
    let (status, _) = invoke(&t, "create-conversation-start").await;
    assert_eq!(status, 200);
    let inbox = t.get("/conversations", &agent).await;
    assert_eq!(inbox.json["items"].as_array().unwrap().len(), 2);

    // The org turns read receipts and typing on; the agent types, but the
    // contact's message (2026-01-01) is outside the 24-hour window.
    let (status, settings) = invoke(&t, "manage-chat-accounts-settings").await;
    assert_eq!(status, 200, "{settings}");
    assert_eq!(
        settings,
        json!({"org_id": "org_demo", "read_receipts": true, "typing_indicators": true})
    );
    let (status, read_back) = invoke(&t, "manage-chat-accounts-settings-get").await;
    assert_eq!((status, &read_back), (200, &settings));
    let (status, typed) = invoke(&t, "send-typing").await;
    assert_eq!(status, 200, "{typed}");
    assert_eq!(
        (&typed["sent"], &typed["reason"]),
        (&json!(false), &json!("window_closed")),
        "{typed}"
    );

    let (status, removed) = invoke(&t, "manage-chat-accounts-remove").await;
    assert_eq!((status, removed), (204, Value::Null));
    let (status, gone) = invoke(&t, "manage-chat-accounts-remove").await;
    assert_eq!((status, &gone["error"]["code"]), (404, &json!("not_found")));
    let (_, listed) = invoke(&t, "manage-chat-accounts-list").await;
    assert_eq!(listed["items"], json!([]), "{listed}");
}
