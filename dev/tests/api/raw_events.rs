//! Issue 8 item 13: a raw query with `"`, `<` or `>` gets a 400, never a
//! panic. `lambda_http` builds the request URI with `expect`, so the raw
//! event is guarded before that conversion (`shared::lambda::guard_event`),
//! on the very service a deployed function runs
//! (`shared::lambda::guarded_service`); the local gateway refuses too.

use crate::helpers::*;
use lambda_http::request::LambdaRequest;
use lambda_http::{Context, LambdaEvent, Service};
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const DEV_SECRET: &str = shared::auth::LOCAL_DEV_SECRET;
const BAD_QUERIES: [&str; 4] = [
    "limit=20&q=\"x\"",
    "limit=20&q=<script>",
    "limit=20&q=a>b",
    "q=\"<>\"",
];

/// The sample event `list-conversations` with this raw query.
fn event_with_query(query: &str) -> LambdaRequest {
    let mut event: Value =
        serde_json::from_str(include_str!("../../../events/list-conversations.json")).unwrap();
    event["rawQueryString"] = Value::String(query.into());
    serde_json::from_value(event).expect("an API Gateway HTTP API event")
}

#[test]
fn when_a_raw_query_has_quotes_or_angle_brackets_lambda_http_alone_should_panic() {
    // The hazard the guard exists for (with panic = "abort" it kills the
    // process); if lambda_http ever stops panicking this test says so.
    for q in BAD_QUERIES {
        let event = event_with_query(q);
        let converted = std::panic::catch_unwind(|| lambda_http::Request::from(event));
        assert!(converted.is_err(), "{q}: lambda_http no longer panics");
        assert!(!shared::lambda::query_is_valid(q), "{q}");
    }
    assert!(shared::lambda::query_is_valid("limit=20&q=%22x%22"));
}

/// The sample event with this Host header, domain name and scheme.
fn event_with_host(host: &str, proto: &str) -> LambdaRequest {
    let mut event: Value =
        serde_json::from_str(include_str!("../../../events/list-conversations.json")).unwrap();
    event["headers"]["host"] = Value::String(host.into());
    event["headers"]["x-forwarded-proto"] = Value::String(proto.into());
    event["requestContext"]["domainName"] = Value::String(host.into());
    serde_json::from_value(event).expect("an API Gateway HTTP API event")
}

#[test]
fn when_the_host_or_scheme_is_odd_the_guarded_event_should_convert_without_panicking() {
    let odd = [
        ("exa mple.com", "https"),
        ("api.example.com:99999", "https"),
        ("[::1", "https"),
        ("a%zz", "https"),
        ("api.example.com", "h t"),
        ("", "https"),
    ];
    // Without the guard, all but the empty host panic in lambda_http.
    let unguarded: Vec<bool> = odd
        .iter()
        .map(|(host, proto)| {
            let event = event_with_host(host, proto);
            std::panic::catch_unwind(|| lambda_http::Request::from(event)).is_err()
        })
        .collect();
    assert_eq!(unguarded, [true, true, true, true, true, false]);
    for (host, proto) in odd {
        let mut event = event_with_host(host, proto);
        shared::lambda::guard_event(&mut event);
        let converted = std::panic::catch_unwind(|| lambda_http::Request::from(event));
        assert!(
            converted.is_ok(),
            "{host:?} {proto:?}: panicked after the guard"
        );
    }
    // Plain hosts are kept as they are.
    let mut event = event_with_host("abc123.execute-api.us-east-1.amazonaws.com", "https");
    shared::lambda::guard_event(&mut event);
    let req = lambda_http::Request::from(event);
    assert_eq!(
        req.uri().host(),
        Some("abc123.execute-api.us-east-1.amazonaws.com")
    );
    assert!(shared::lambda::host_is_plain("localhost:3000"));
    assert!(!shared::lambda::host_is_plain("localhost:"));
}

#[tokio::test]
async fn when_a_raw_event_has_a_bad_query_the_function_should_answer_400_invalid_query() {
    let t = spawn_app_with(&[("AUTH_JWT_SECRET", DEV_SECRET)]).await;
    let mut service = shared::lambda::guarded_service(&t.app.core, list_conversations::handle);
    for q in BAD_QUERIES {
        let resp = service
            .call(LambdaEvent::new(event_with_query(q), Context::default()))
            .await
            .map(|r| serde_json::to_value(r).unwrap())
            .unwrap();
        assert_eq!(resp["statusCode"], 400, "{q}: {resp}");
        let body: Value = serde_json::from_str(resp["body"].as_str().unwrap()).unwrap();
        assert_eq!(body["error"]["code"], "invalid_query", "{q}: {body}");
    }
    // The same path still serves a good query, and a client cannot forge the
    // guard's mark to get someone else's answer changed.
    let resp = service
        .call(LambdaEvent::new(
            event_with_query("limit=20"),
            Context::default(),
        ))
        .await
        .map(|r| serde_json::to_value(r).unwrap())
        .unwrap();
    assert_eq!(resp["statusCode"], 200, "{resp}");
    let mut forged: Value =
        serde_json::from_str(include_str!("../../../events/list-conversations.json")).unwrap();
    forged["headers"][shared::lambda::INVALID_QUERY_MARK] = Value::String("1".into());
    let resp = service
        .call(LambdaEvent::new(
            serde_json::from_value(forged).unwrap(),
            Context::default(),
        ))
        .await
        .map(|r| serde_json::to_value(r).unwrap())
        .unwrap();
    assert_eq!(resp["statusCode"], 200, "{resp}");
}

/// A raw HTTP/1.1 request to the local gateway (no client library would
/// send these bytes unencoded).
async fn raw_get(base: &str, target: &str, token: &str) -> (u16, String) {
    let addr = base.trim_start_matches("http://");
    let mut sock = tokio::net::TcpStream::connect(addr).await.unwrap();
    let req = format!(
        "GET {target} HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {token}\r\nConnection: close\r\n\r\n"
    );
    sock.write_all(req.as_bytes()).await.unwrap();
    let mut out = Vec::new();
    sock.read_to_end(&mut out).await.unwrap();
    let text = String::from_utf8_lossy(&out).to_string();
    let status = text
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    (status, text)
}

#[tokio::test]
async fn when_the_local_gateway_gets_a_bad_raw_query_it_should_be_400_not_a_crash() {
    let t = spawn_app().await;
    for q in BAD_QUERIES {
        let (status, text) = raw_get(&t.base, &format!("/conversations?{q}"), &customer()).await;
        // hyper refuses such a request line before the gateway routes it
        // (API Gateway instead passes it through, hence the guard above).
        assert_eq!(status, 400, "{q}: {text}");
    }
    // The gateway is still up and serving.
    let (status, text) = raw_get(&t.base, "/conversations?limit=5", &customer()).await;
    assert_eq!(status, 200, "{text}");
}
