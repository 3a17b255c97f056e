//! Issue 8 item 13: a raw query with `"`, `<` or `>` gets a 400, never a
//! panic. `lambda_http`'s conversion builds the request URI with `expect`;
//! the functions build their requests themselves
//! (`shared::lambda::http_request`, checked against `lambda_http`'s in its
//! unit tests) and answer what they cannot build with a 400, on the very
//! service a deployed function runs (`shared::lambda::guarded_service`);
//! the local gateway refuses too.

use crate::helpers::*;
use lambda_http::aws_lambda_events::apigw::ApiGatewayV2httpRequest;
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

/// The sample event `list-conversations`, changed by `edit`.
fn event_with(edit: impl FnOnce(&mut Value)) -> ApiGatewayV2httpRequest {
    let mut event: Value =
        serde_json::from_str(include_str!("../../../events/list-conversations.json")).unwrap();
    edit(&mut event);
    serde_json::from_value(event).expect("an API Gateway HTTP API event")
}

#[test]
fn when_a_raw_query_has_quotes_or_angle_brackets_lambda_http_alone_should_panic() {
    // The hazard the functions' own conversion exists for (with
    // panic = "abort" it kills the process); if lambda_http ever stops
    // panicking this test says so.
    for q in BAD_QUERIES {
        let event = event_with(|e| e["rawQueryString"] = Value::String(q.into()));
        let event = lambda_http::request::LambdaRequest::ApiGatewayV2(event);
        let converted = std::panic::catch_unwind(|| lambda_http::Request::from(event));
        assert!(converted.is_err(), "{q}: lambda_http no longer panics");
        assert!(!shared::lambda::query_is_valid(q), "{q}");
    }
    assert!(shared::lambda::query_is_valid("limit=20&q=%22x%22"));
    assert!(shared::lambda::host_is_plain("localhost:3000"));
    assert!(!shared::lambda::host_is_plain("localhost:"));
}

#[tokio::test]
async fn when_a_raw_event_cannot_be_a_request_the_function_should_answer_400_not_crash() {
    let t = spawn_app_with(&[("AUTH_JWT_SECRET", DEV_SECRET)]).await;
    let mut service = shared::lambda::guarded_service(&t.app.core, list_conversations::handle);
    let mut call = async |event| {
        let resp = service
            .call(LambdaEvent::new(
                shared::lambda::HttpEvent(event),
                Context::default(),
            ))
            .await
            .map(|r| serde_json::to_value(r).unwrap())
            .unwrap();
        let body = serde_json::from_str(resp["body"].as_str().unwrap()).unwrap_or(Value::Null);
        (resp["statusCode"].clone(), body)
    };
    for q in BAD_QUERIES {
        let (status, body) = call(event_with(|e| {
            e["rawQueryString"] = Value::String(q.into())
        }))
        .await;
        assert_eq!(status, 400, "{q}: {body}");
        assert_eq!(body["error"]["code"], "invalid_query", "{q}: {body}");
    }
    let (status, body) = call(event_with(|e| {
        e["body"] = Value::String("not base64!".into());
        e["isBase64Encoded"] = Value::Bool(true);
    }))
    .await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["error"]["code"], "invalid_body", "{body}");
    // The same path still serves a good query, and a request whose host or
    // scheme no URI can hold (API Gateway sets both itself) is served
    // without them.
    let (status, body) = call(event_with(|e| {
        e["rawQueryString"] = Value::String("limit=20".into())
    }))
    .await;
    assert_eq!(status, 200, "{body}");
    let (status, body) = call(event_with(|e| {
        e["headers"]["host"] = Value::String("[::1".into());
        e["headers"]["x-forwarded-proto"] = Value::String("h t".into());
        e["requestContext"]["domainName"] = Value::String("exa mple.com".into());
    }))
    .await;
    assert_eq!(status, 200, "{body}");
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
