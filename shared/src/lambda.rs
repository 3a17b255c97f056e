//! Lambda wiring shared by every HTTP function's `main`.

use lambda_http::request::LambdaRequest;
use lambda_http::{Body, Error, Request, Response};
use std::convert::Infallible;
use std::future::Future;

use crate::app::{App, Core};

pub mod runtime;

/// JSON logs in Lambda, readable ones on a terminal. `RUST_LOG` filters by
/// level and target (`info`, `warn,shared=debug`); a directive this filter
/// does not take (span or field filters) falls back to `info`.
pub fn init_tracing() {
    use tracing_subscriber::filter::Targets;
    use tracing_subscriber::layer::SubscriberExt;
    use tracing_subscriber::util::SubscriberInitExt;
    let filter = std::env::var("RUST_LOG")
        .ok()
        .and_then(|v| v.parse::<Targets>().ok())
        .unwrap_or_else(|| Targets::new().with_default(tracing::Level::INFO));
    let registry = tracing_subscriber::registry().with(filter);
    let result = if std::env::var_os("AWS_LAMBDA_FUNCTION_NAME").is_some() {
        registry
            .with(
                tracing_subscriber::fmt::layer()
                    .json()
                    .with_target(false)
                    .with_current_span(false)
                    .without_time()
                    .with_ansi(false),
            )
            .try_init()
    } else {
        registry
            .with(tracing_subscriber::fmt::layer().with_target(false))
            .try_init()
    };
    let _ = result;
}

/// Build the shared dependencies once, then serve API Gateway requests with
/// `handler` until the runtime stops.
pub async fn run_http<F, Fut>(handler: F) -> Result<(), Error>
where
    F: Fn(&'static App, Request) -> Fut + 'static,
    Fut: Future<Output = Response<Body>> + Send + 'static,
{
    run_app(handler, false).await
}

/// [`run_http`], with the connection to Twilio's Conversations API opened
/// during init, while the settings and secrets are read
/// ([`crate::twilio::EarlyConnection`]), for a function whose every request
/// calls Twilio (`send-message`): its first invocation does not pay the
/// handshake.
pub async fn run_http_twilio_connected<F, Fut>(handler: F) -> Result<(), Error>
where
    F: Fn(&'static App, Request) -> Fut + 'static,
    Fut: Future<Output = Response<Body>> + Send + 'static,
{
    run_app(handler, true).await
}

async fn run_app<F, Fut>(handler: F, connect_twilio: bool) -> Result<(), Error>
where
    F: Fn(&'static App, Request) -> Fut + 'static,
    Fut: Future<Output = Response<Body>> + Send + 'static,
{
    init_tracing();
    let app = if connect_twilio {
        // Opened while the settings and secrets are read, adopted after.
        let early = crate::twilio::EarlyConnection::new(&|n| std::env::var(n).ok());
        let open = async {
            if let Some(early) = &early {
                early.open().await;
            }
        };
        let (app, ()) = tokio::join!(App::from_env(), open);
        let app = app?;
        if !early.is_some_and(|early| app.twilio.adopt(early)) {
            app.twilio.warm_up().await;
        }
        app
    } else {
        App::from_env().await?
    };
    let app: &'static App = Box::leak(Box::new(app));
    serve_http(app, handler).await
}

/// [`run_http`] for the functions that never call Twilio: only the core
/// dependencies, so no Twilio setting is read.
pub async fn run_http_core<F, Fut>(handler: F) -> Result<(), Error>
where
    F: Fn(&'static Core, Request) -> Fut + 'static,
    Fut: Future<Output = Response<Body>> + Send + 'static,
{
    init_tracing();
    let core: &'static Core = Box::leak(Box::new(Core::from_env().await?));
    serve_http(core, handler).await
}

/// Build the core dependencies once, then serve events (e.g. WebSocket
/// connects) with `handler` until the runtime stops: the event-function
/// twin of [`run_http`].
pub async fn run_event<E, R, F, Fut>(handler: F) -> Result<(), Error>
where
    E: serde::de::DeserializeOwned + Send + 'static,
    R: serde::Serialize + Send + 'static,
    F: Fn(&'static Core, E) -> Fut,
    Fut: Future<Output = Result<R, Infallible>> + Send,
{
    init_tracing();
    serve_event(Core::from_env().await?, handler).await
}

/// [`run_event`] for the functions that never verify a token
/// (`process-inbound`, `ws-disconnect`): they hold no JWT secret (see
/// [`Core::from_env_without_tokens`]).
pub async fn run_event_without_tokens<E, R, F, Fut>(handler: F) -> Result<(), Error>
where
    E: serde::de::DeserializeOwned + Send + 'static,
    R: serde::Serialize + Send + 'static,
    F: Fn(&'static Core, E) -> Fut,
    Fut: Future<Output = Result<R, Infallible>> + Send,
{
    init_tracing();
    serve_event(Core::from_env_without_tokens().await?, handler).await
}

async fn serve_event<E, R, F, Fut>(core: Core, handler: F) -> Result<(), Error>
where
    E: serde::de::DeserializeOwned + Send + 'static,
    R: serde::Serialize + Send + 'static,
    F: Fn(&'static Core, E) -> Fut,
    Fut: Future<Output = Result<R, Infallible>> + Send,
{
    let app: &'static Core = Box::leak(Box::new(core));
    runtime::run(lambda_runtime::service_fn(
        move |event: lambda_runtime::LambdaEvent<E>| handler(app, event.payload),
    ))
    .await
}

/// Serve API Gateway requests with `handler` over dependencies built once.
///
/// Every raw event goes through [`guard_event`] before `lambda_http` turns
/// it into a [`Request`]: that conversion builds the URI with `expect`, so a
/// raw query with `"`, `<` or `>` would panic (and, with `panic = "abort"`,
/// kill the process). Such a request is answered 400 `invalid_query`.
pub async fn serve_http<D, F, Fut>(deps: &'static D, handler: F) -> Result<(), Error>
where
    D: Sync + 'static,
    F: Fn(&'static D, Request) -> Fut + 'static,
    Fut: Future<Output = Response<Body>> + Send + 'static,
{
    runtime::run(guarded_service(deps, handler)).await
}

/// The service [`serve_http`] runs: raw Lambda event in, Lambda response
/// out. Public so tests drive the exact path a deployed function takes.
pub fn guarded_service<D, F, Fut>(
    deps: &'static D,
    handler: F,
) -> impl lambda_runtime::Service<
    lambda_runtime::LambdaEvent<LambdaRequest>,
    Response = impl serde::Serialize + Send + 'static,
    Error = Infallible,
> + Clone
where
    D: Sync + 'static,
    F: Fn(&'static D, Request) -> Fut + 'static,
    Fut: Future<Output = Response<Body>> + Send + 'static,
{
    let handler = std::sync::Arc::new(handler);
    lambda_runtime::service_fn(
        move |mut event: lambda_runtime::LambdaEvent<LambdaRequest>| {
            guard_event(&mut event.payload);
            let req = http_request(event);
            let fut = (!req.headers().contains_key(INVALID_QUERY_MARK)).then(|| handler(deps, req));
            async move {
                let response = match fut {
                    Some(fut) => fut.await,
                    None => invalid_query().into_response(),
                };
                Ok::<_, Infallible>(api_gateway_response(response))
            }
        },
    )
}

/// The request a handler gets, as `lambda_http`'s adapter builds it: the
/// event as an `http::Request`, the invocation's X-Ray trace id as
/// `x-amzn-trace-id`, and the Lambda context in its extensions.
fn http_request(event: lambda_runtime::LambdaEvent<LambdaRequest>) -> Request {
    use lambda_http::RequestExt;
    let lambda_runtime::LambdaEvent { payload, context } = event;
    let mut req: Request = payload.into();
    if let Some(trace_id) = context.xray_trace_id.as_deref()
        && let Ok(value) = http::HeaderValue::from_str(trace_id)
    {
        req.headers_mut()
            .insert(http::HeaderName::from_static("x-amzn-trace-id"), value);
    }
    req.with_lambda_context(context)
}

/// What API Gateway (HTTP API, payload format 2.0) takes back: what
/// `lambda_http`'s adapter answers, built here without its body conversion,
/// which links a charset-decoding library (`encoding_rs`, ~150 KB) for
/// bodies that are all UTF-8 here. Same rules: a body is text unless it has
/// a `Content-Encoding` or a `Content-Type` that is not `text/*`,
/// JSON, JavaScript, XML, YAML or `*+json` / `*+xml` / `*+yaml` (a missing
/// one is text; `x-lambda-http-content-encoding: text` forces text); text
/// is sent as it is (bytes that are not UTF-8 replaced by U+FFFD), anything
/// else base64-encoded; `Set-Cookie` headers go to `cookies`; an empty body
/// is `""`. Unlike `lambda_http`, a `charset` other than UTF-8 is not
/// decoded (no handler sets one) and a UTF-8 BOM is kept.
pub fn api_gateway_response(
    response: Response<Body>,
) -> lambda_http::aws_lambda_events::apigw::ApiGatewayV2httpResponse {
    let (parts, body) = response.into_parts();
    let mut headers = parts.headers;
    let bytes = match body {
        Body::Text(text) => text.into_bytes(),
        Body::Binary(bytes) => bytes,
        _ => Vec::new(),
    };
    let (is_base64_encoded, body) = if is_text(&headers) {
        let text = String::from_utf8(bytes)
            .unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned());
        (false, Body::Text(text))
    } else {
        (true, Body::Binary(bytes))
    };
    let cookies = headers
        .get_all(http::header::SET_COOKIE)
        .iter()
        .map(|v| v.to_str().unwrap_or_default().to_string())
        .collect();
    headers.remove(http::header::SET_COOKIE);
    let mut out = lambda_http::aws_lambda_events::apigw::ApiGatewayV2httpResponse::default();
    out.status_code = i64::from(parts.status.as_u16());
    out.headers = headers;
    out.body = Some(body);
    out.is_base64_encoded = is_base64_encoded;
    out.cookies = cookies;
    out
}

/// Whether `lambda_http` would send a body with these headers as text.
fn is_text(headers: &http::HeaderMap) -> bool {
    if headers.contains_key(http::header::CONTENT_ENCODING) {
        return false;
    }
    let Some(content_type) = headers.get(http::header::CONTENT_TYPE) else {
        return true;
    };
    let content_type = content_type.to_str().unwrap_or_default();
    const PREFIXES: [&str; 5] = [
        "text",
        "application/json",
        "application/javascript",
        "application/xml",
        "application/yaml",
    ];
    if PREFIXES.iter().any(|p| content_type.starts_with(p)) {
        return true;
    }
    let mime = content_type.trim().split(';').next().unwrap_or_default();
    ["+xml", "+yaml", "+json"]
        .iter()
        .any(|suffix| mime.ends_with(suffix))
        || headers
            .get("x-lambda-http-content-encoding")
            .is_some_and(|v| v == "text")
}

/// The header [`guard_event`] sets on a request whose raw query it dropped
/// (any such header from the client is removed first).
pub const INVALID_QUERY_MARK: &str = "x-messaging-invalid-query";

pub fn invalid_query() -> crate::ApiError {
    crate::ApiError::bad_request(
        "invalid_query",
        "the query string contains characters that must be percent-encoded (e.g. \", < or >)",
    )
}

/// Whether `lambda_http` can build a URI from this raw query (it `expect`s).
pub fn query_is_valid(raw_query: &str) -> bool {
    http::Uri::try_from(format!("/?{raw_query}")).is_ok()
}

/// A host name (letters, digits, `-`, `.`) with an optional port: what
/// API Gateway sends, and what `lambda_http`'s `Url::parse(..).unwrap()`
/// always accepts.
pub fn host_is_plain(host: &str) -> bool {
    let (name, port) = match host.rsplit_once(':') {
        Some((name, port)) => (name, Some(port)),
        None => (host, None),
    };
    !name.is_empty()
        && name.len() <= 253
        && name
            .split('.')
            .all(|l| !l.is_empty() && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-'))
        && port.is_none_or(|p| !p.is_empty() && p.len() <= 5 && p.parse::<u16>().is_ok())
}

/// Make a raw event safe for `lambda_http`'s conversion: a raw query it
/// could not put in a URI is dropped and the request marked, so the
/// handler never runs and the answer is 400 `invalid_query`; a raw path not
/// starting with `/` is made one.
pub fn guard_event(event: &mut LambdaRequest) {
    #[allow(clippy::single_match)]
    match event {
        LambdaRequest::ApiGatewayV2(ag) => {
            ag.headers.remove(INVALID_QUERY_MARK);
            // The host and scheme go through `Url::parse(..).unwrap()`: keep
            // only ones it certainly takes (API Gateway sets both itself).
            if ag
                .headers
                .get(http::header::HOST)
                .is_some_and(|h| !h.to_str().is_ok_and(host_is_plain))
            {
                ag.headers.remove(http::header::HOST);
            }
            if ag
                .request_context
                .domain_name
                .as_deref()
                .is_some_and(|h| !host_is_plain(h))
            {
                ag.request_context.domain_name = None;
            }
            if ag
                .headers
                .get("x-forwarded-proto")
                .is_some_and(|p| p != "https" && p != "http")
            {
                ag.headers.remove("x-forwarded-proto");
            }
            if let Some(path) = &ag.raw_path
                && !path.starts_with('/')
            {
                ag.raw_path = Some(format!("/{path}"));
            }
            if ag
                .raw_query_string
                .as_deref()
                .is_some_and(|q| !query_is_valid(q))
            {
                ag.raw_query_string = None;
                ag.query_string_parameters = Default::default();
                ag.headers.insert(
                    http::HeaderName::from_static(INVALID_QUERY_MARK),
                    http::HeaderValue::from_static("1"),
                );
            }
        }
        _ => {}
    }
}

/// A sample API Gateway event from `events/` (the files `cargo lambda
/// invoke` and `sam local invoke` take), parsed the way Lambda hands it to
/// a function and checked to be `method path`. The functions' unit tests
/// load their events with this, so the events cannot drift from the routes.
pub fn sample_request(event: &str, method: &str, path: &str) -> Result<Request, String> {
    let req = lambda_http::request::from_str(event)
        .map_err(|e| format!("not an API Gateway HTTP API event: {e}"))?;
    if req.method().as_str() != method || req.uri().path() != path {
        return Err(format!(
            "the event is {} {}, not {method} {path}",
            req.method(),
            req.uri().path()
        ));
    }
    Ok(req)
}

/// The caller of a sample event: its token is signed with the local dev
/// secret ([`crate::auth::LOCAL_DEV_SECRET`]).
pub fn sample_caller(req: &Request) -> Result<crate::auth::Caller, crate::ApiError> {
    crate::auth::JwtVerifier::new(crate::auth::LOCAL_DEV_SECRET).caller(req)
}

#[cfg(test)]
mod response_tests {
    use super::*;
    use lambda_http::Service;
    use serde_json::Value;

    /// What `lambda_http`'s own adapter answers for `response` (the
    /// reference [`api_gateway_response`] must match).
    async fn lambda_http_answer(response: Response<Body>) -> Value {
        let response = std::sync::Mutex::new(Some(response));
        let inner = lambda_http::service_fn(move |_req: Request| {
            let r = response.lock().unwrap().take().unwrap();
            async move { Ok::<_, Infallible>(r) }
        });
        let mut adapter: lambda_http::Adapter<'static, Response<Body>, _> =
            lambda_http::Adapter::from(inner);
        let event: LambdaRequest =
            serde_json::from_str(include_str!("../../events/list-conversations.json")).unwrap();
        let answer = adapter
            .call(lambda_runtime::LambdaEvent::new(
                event,
                lambda_runtime::Context::default(),
            ))
            .await
            .unwrap();
        serde_json::to_value(answer).unwrap()
    }

    fn response(headers: &[(&str, &str)], body: Body) -> Response<Body> {
        let mut b = Response::builder().status(201);
        for (k, v) in headers {
            b = b.header(*k, *v);
        }
        b.body(body).unwrap()
    }

    #[tokio::test]
    async fn the_answer_should_be_what_lambda_http_answers() {
        let json = r#"{"id":"conv_1","text":"héllo 👋"}"#;
        type Case = (&'static str, Vec<(&'static str, &'static str)>, Body);
        let cases: Vec<Case> = vec![
            (
                "json",
                vec![("content-type", "application/json")],
                Body::Text(json.into()),
            ),
            (
                "json charset",
                vec![("content-type", "application/json; charset=utf-8")],
                Body::Text(json.into()),
            ),
            (
                "json as bytes",
                vec![("content-type", "application/json")],
                Body::Binary(json.as_bytes().to_vec()),
            ),
            (
                "twiml",
                vec![("content-type", "text/xml")],
                Body::Text("<Response/>".into()),
            ),
            (
                "problem+json",
                vec![("content-type", "application/problem+json")],
                Body::Text("{}".into()),
            ),
            (
                "vnd+xml with params",
                vec![("content-type", "application/vnd.x+xml; v=1")],
                Body::Text("<a/>".into()),
            ),
            ("no content type", vec![], Body::Text("plain".into())),
            ("empty", vec![], Body::Empty),
            (
                "empty json",
                vec![("content-type", "application/json")],
                Body::Empty,
            ),
            (
                "png",
                vec![("content-type", "image/png")],
                Body::Binary(vec![0x89, b'P', b'N', b'G', 0, 0xff]),
            ),
            (
                "empty png",
                vec![("content-type", "image/png")],
                Body::Empty,
            ),
            (
                "text as png",
                vec![("content-type", "image/png")],
                Body::Text("not png".into()),
            ),
            (
                "gzip json",
                vec![
                    ("content-type", "application/json"),
                    ("content-encoding", "gzip"),
                ],
                Body::Binary(vec![0x1f, 0x8b, 8, 0]),
            ),
            (
                "forced text",
                vec![
                    ("content-type", "image/svg"),
                    ("x-lambda-http-content-encoding", "text"),
                ],
                Body::Text("<svg/>".into()),
            ),
            (
                "invalid utf-8 text",
                vec![("content-type", "text/plain")],
                Body::Binary(vec![b'a', 0xff, b'b']),
            ),
            (
                "cookies and repeated headers",
                vec![
                    ("content-type", "application/json"),
                    ("set-cookie", "a=1; Path=/"),
                    ("set-cookie", "b=2; HttpOnly"),
                    ("vary", "origin"),
                    ("vary", "accept"),
                    ("retry-after", "3"),
                ],
                Body::Text("{}".into()),
            ),
        ];
        for (why, headers, body) in cases {
            let ours = serde_json::to_value(api_gateway_response(response(&headers, body.clone())))
                .unwrap();
            let theirs = lambda_http_answer(response(&headers, body)).await;
            assert_eq!(ours, theirs, "{why}");
            assert_eq!(ours["statusCode"], 201, "{why}");
        }
    }

    #[tokio::test]
    async fn the_request_should_carry_the_trace_id_and_the_context() {
        use lambda_http::RequestExt;
        let event: LambdaRequest =
            serde_json::from_str(include_str!("../../events/list-conversations.json")).unwrap();
        let mut context = lambda_runtime::Context::default();
        context.request_id = "req-1".into();
        context.xray_trace_id = Some("Root=1-5759e988-bd862e3fe1be46a994272793".into());
        let req = http_request(lambda_runtime::LambdaEvent::new(event, context));
        assert_eq!(
            req.headers()["x-amzn-trace-id"],
            "Root=1-5759e988-bd862e3fe1be46a994272793"
        );
        assert_eq!(req.lambda_context_ref().unwrap().request_id, "req-1");
        assert_eq!(req.uri().path(), "/conversations");
    }
}
