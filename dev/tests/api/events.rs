//! The sample API Gateway (HTTP API, payload 2.0) events in `events/`: each
//! parses the way the Lambda runtime parses it, fits its route in the
//! template, and, replayed in order through the linked handlers against a
//! fresh stack, drives a booking chat.

use crate::helpers::{TestApp, spawn_app_with};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use dev::gateway::{linked, match_path};
use dev::template::{Route, Template, workspace_root};
use lambda_http::request::{RequestContext, from_str};
use lambda_http::{Body, Request, RequestExt};
use serde_json::Value;
use shared::auth::{JwtVerifier, UserType};
use shared::domain::{BookingId, ConversationId};
use std::collections::{BTreeMap, BTreeSet, HashMap};

/// The secret the events' tokens are signed with (the local dev default).
const DEV_SECRET: &str = "local-dev-secret-change-me-0123456789";
/// The events' tokens expire in 2100.
const EVENT_TOKEN_EXP: i64 = 4_102_444_800;

/// Every `events/*.json`: file stem → JSON text.
fn event_files() -> BTreeMap<String, String> {
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

fn load(stem: &str) -> Request {
    let files = event_files();
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
    let conv = demo_conversation();
    for (stem, text) in event_files() {
        let raw: Value =
            serde_json::from_str(&text).unwrap_or_else(|e| panic!("{stem}: not JSON: {e}"));
        assert_eq!(raw["version"], "2.0", "{stem}");
        assert_eq!(raw["isBase64Encoded"], false, "{stem}");
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
        let binary = binary_for(&stem, &routes)
            .unwrap_or_else(|| panic!("{stem}: names no binary of the template"));
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
        if let Some(id) = params.get("id") {
            assert_eq!(id, &conv, "{stem}: the conversation of booking bk_demo");
        }

        // Query parameters agree with the raw query string.
        let from_raw: Value = raw["rawQueryString"]
            .as_str()
            .unwrap_or("")
            .split('&')
            .filter(|kv| !kv.is_empty())
            .map(|kv| {
                let (k, v) = kv.split_once('=').unwrap_or((kv, ""));
                (k.to_string(), Value::from(v))
            })
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
            other => panic!("{stem}: unexpected caller {other}"),
        };
        assert_eq!(caller.user_type, expected_type, "{stem}");
    }
}

#[test]
fn when_the_template_has_a_route_it_should_have_an_event_file() {
    let routes = routes();
    let mut covered: BTreeSet<(String, String)> = BTreeSet::new();
    for (stem, text) in event_files() {
        let binary = binary_for(&stem, &routes)
            .unwrap_or_else(|| panic!("events/{stem}.json names no binary of the template"));
        let raw: Value = serde_json::from_str(&text).unwrap();
        let route_key = raw["routeKey"].as_str().unwrap_or("");
        let route = route_of(&routes, &binary, route_key).unwrap_or_else(|| {
            panic!("events/{stem}.json: {route_key} is not a route of {binary}")
        });
        covered.insert((route.method.clone(), route.path.clone()));
        assert!(linked(&binary).is_some(), "{binary} is not linked");
    }
    let binaries: BTreeSet<&str> = routes.iter().map(|r| r.binary.as_str()).collect();
    assert!(binaries.len() >= 8, "{binaries:?}");
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
}
