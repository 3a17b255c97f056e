//! Lambda wiring shared by every HTTP function's `main`.

use lambda_http::aws_lambda_events::apigw::ApiGatewayV2httpRequest;
use lambda_http::{Body, Error, Request, Response};
use std::convert::Infallible;
use std::future::Future;

use crate::app::{App, Core};

pub mod http_event;
pub mod log;
pub mod runtime;

pub use http_event::HttpEvent;

/// JSON logs in Lambda (one line per event, [`log::JsonLines`]), readable
/// ones on a terminal. `RUST_LOG` filters by level and target (`info`,
/// `warn,shared=debug`); a directive this filter does not take (span or
/// field filters) falls back to `info`.
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
            .with(log::JsonLines::new(std::io::stdout))
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
    runtime::run(event_service(app, handler)).await
}

/// The service [`serve_event`] runs: the handler's future boxed where it
/// is made, as [`guarded_service`] does.
fn event_service<D, E, R, F, Fut>(
    deps: &'static D,
    handler: F,
) -> impl lambda_runtime::Service<lambda_runtime::LambdaEvent<E>, Response = R, Error = Infallible>
where
    D: Sync + 'static,
    F: Fn(&'static D, E) -> Fut,
    Fut: Future<Output = Result<R, Infallible>> + Send,
{
    lambda_runtime::service_fn(move |event: lambda_runtime::LambdaEvent<E>| {
        Box::pin(handler(deps, event.payload))
    })
}

/// Serve API Gateway requests with `handler` over dependencies built once.
///
/// Every event is parsed straight into an HTTP API (payload format 2.0)
/// event and turned into a [`Request`] by [`http_request`]: a request it
/// cannot build (a raw query `http` does not take, a body that is not the
/// base64 it claims to be) is answered 400 and the handler never runs.
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
    lambda_runtime::LambdaEvent<HttpEvent>,
    Response = impl serde::Serialize + Send + 'static,
    Error = Infallible,
> + Clone
where
    D: Sync + 'static,
    F: Fn(&'static D, Request) -> Fut + 'static,
    Fut: Future<Output = Response<Body>> + Send + 'static,
{
    let handler = std::sync::Arc::new(handler);
    lambda_runtime::service_fn(move |event: lambda_runtime::LambdaEvent<HttpEvent>| {
        // The handler's future is boxed where it is made: it holds every
        // state of the handler (kilobytes), and unboxed it was copied whole
        // at each step on its way to being polled (into the `Result`, this
        // block, the tracing wrapper, the serve loop's state).
        let fut =
            http_request(event.payload.0, event.context).map(|req| Box::pin(handler(deps, req)));
        async move {
            let response = match fut {
                Ok(fut) => fut.await,
                Err(refused) => refused.into_response(),
            };
            Ok::<_, Infallible>(api_gateway_response(response))
        }
    })
}

/// The request a handler gets: what `lambda_http`'s adapter builds from an
/// HTTP API event (method, `scheme://host/path?query` URI, headers with the
/// cookies as one `Cookie`, body, and the raw path, query and path
/// parameters, stage variables and request context as extensions), plus
/// the invocation's X-Ray trace id as `x-amzn-trace-id` and the Lambda
/// context. Built here rather than by `lambda_http`, which parses every
/// event twice (once to find its kind), parses the URI it builds with
/// `url` and `expect`s where a raw event can be odd. Differences, all on
/// input API Gateway does not send: a raw query `http` does not take is a
/// 400 `invalid_query` and a body that is not valid base64 a 400
/// `invalid_body` (both panics there); a Host (or domain name) that is not
/// a plain host name is left out of the URI, and so is an
/// `x-forwarded-proto` other than `http`/`https` (panics there too); path
/// bytes a URI cannot hold are percent-encoded and `.`/`..` segments kept
/// as they came (`url` resolves them).
pub fn http_request(
    event: ApiGatewayV2httpRequest,
    context: lambda_runtime::Context,
) -> Result<Request, crate::ApiError> {
    use lambda_http::RequestExt;
    let ApiGatewayV2httpRequest {
        raw_path,
        raw_query_string,
        cookies,
        mut headers,
        query_string_parameters,
        path_parameters,
        request_context,
        stage_variables,
        body,
        is_base64_encoded,
        ..
    } = event;
    let raw_path = raw_path.unwrap_or_default();
    let uri = request_uri(
        &headers,
        request_context.domain_name.as_deref(),
        request_context.stage.as_deref(),
        &raw_path,
        raw_query_string.as_deref(),
    )?;
    // `lambda_http` parses the raw query (the parsed map API Gateway sends
    // joins repeated keys with commas).
    let query = match raw_query_string.as_deref() {
        Some(raw) => raw.parse().unwrap_or_else(|e: Infallible| match e {}),
        None => query_string_parameters,
    };
    if let Some(cookies) = cookies
        && let Ok(value) = http::HeaderValue::from_str(&cookies.join("; "))
    {
        headers.insert(http::header::COOKIE, value);
    }
    if let Some(trace_id) = context.xray_trace_id.as_deref()
        && let Ok(value) = http::HeaderValue::from_str(trace_id)
    {
        headers.insert(http::HeaderName::from_static("x-amzn-trace-id"), value);
    }
    let body = match body {
        None => Body::Empty,
        Some(text) if !is_base64_encoded => Body::Text(text),
        Some(encoded) => {
            use base64::Engine;
            match base64::engine::general_purpose::STANDARD.decode(encoded) {
                Ok(bytes) => Body::Binary(bytes),
                Err(_) => {
                    return Err(crate::ApiError::bad_request(
                        "invalid_body",
                        "the body is marked base64-encoded but is not valid base64",
                    ));
                }
            }
        }
    };
    let mut req = Request::new(body);
    *req.method_mut() = request_context.http.method.clone();
    *req.uri_mut() = uri;
    *req.headers_mut() = headers;
    Ok(req
        .with_raw_http_path(raw_path)
        .with_query_string_parameters(query)
        .with_path_parameters(path_parameters)
        .with_stage_variables(stage_variables)
        .with_request_context(lambda_http::request::RequestContext::ApiGatewayV2(
            request_context,
        ))
        .with_lambda_context(context))
}

/// `scheme://host/path?query` (`/path?query` without a usable host), as
/// `lambda_http` builds it: the host from `Host`, else the domain name;
/// the scheme from `x-forwarded-proto`, else `https`; the stage in front of
/// the path unless it is `$default`, already there, or
/// `AWS_LAMBDA_HTTP_IGNORE_STAGE_IN_PATH` is set.
fn request_uri(
    headers: &http::HeaderMap,
    domain_name: Option<&str>,
    stage: Option<&str>,
    raw_path: &str,
    raw_query: Option<&str>,
) -> Result<http::Uri, crate::ApiError> {
    let host = headers
        .get(http::header::HOST)
        .and_then(|h| h.to_str().ok())
        .filter(|h| host_is_plain(h))
        .or(domain_name.filter(|h| host_is_plain(h)));
    let mut uri = String::with_capacity(
        raw_path.len() + raw_query.map_or(0, str::len) + host.map_or(0, str::len) + 32,
    );
    if let Some(host) = host {
        let scheme = match headers.get("x-forwarded-proto") {
            Some(p) if p == "http" => "http",
            _ => "https",
        };
        uri.push_str(scheme);
        uri.push_str("://");
        uri.push_str(host);
    }
    static IGNORE_STAGE: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    let ignore_stage = *IGNORE_STAGE
        .get_or_init(|| std::env::var_os("AWS_LAMBDA_HTTP_IGNORE_STAGE_IN_PATH").is_some());
    let path = raw_path.strip_prefix('/').unwrap_or(raw_path);
    if let Some(stage) = stage.filter(|s| !ignore_stage && *s != "$default")
        && !path
            .strip_prefix(stage)
            .is_some_and(|rest| rest.starts_with('/'))
    {
        uri.push('/');
        push_path(&mut uri, stage);
    }
    uri.push('/');
    push_path(&mut uri, path);
    if let Some(query) = raw_query.filter(|q| !q.is_empty()) {
        uri.push('?');
        uri.push_str(query);
    }
    http::Uri::try_from(uri).map_err(|_| match raw_query {
        Some(q) if !query_is_valid(q) => invalid_query(),
        _ => crate::ApiError::bad_request("invalid_path", "the request path cannot be a URI"),
    })
}

/// `path` into `uri`, with every byte outside RFC 3986's path characters
/// (unreserved, sub-delims, `:`, `@`, `/` and `%`) percent-encoded.
fn push_path(uri: &mut String, path: &str) {
    for b in path.bytes() {
        let plain = b.is_ascii_alphanumeric() || b"-._~!$&'()*+,;=:@/%".contains(&b);
        if plain {
            uri.push(b as char);
        } else {
            use std::fmt::Write;
            let _ = write!(uri, "%{b:02X}");
        }
    }
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

/// The answer to a raw query [`http_request`] cannot put in a URI.
pub fn invalid_query() -> crate::ApiError {
    crate::ApiError::bad_request(
        "invalid_query",
        "the query string contains characters that must be percent-encoded (e.g. \", < or >)",
    )
}

/// Whether a URI can hold this raw query (`lambda_http` `expect`s it can).
pub fn query_is_valid(raw_query: &str) -> bool {
    http::Uri::try_from(format!("/?{raw_query}")).is_ok()
}

/// A host name (letters, digits, `-`, `.`) with an optional port: what
/// API Gateway sends; the only host [`http_request`] puts in a URI (and one
/// `lambda_http`'s `Url::parse(..).unwrap()` always accepts).
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

/// A sample API Gateway event from `events/` (the files `cargo lambda
/// invoke` and `sam local invoke` take), parsed the way Lambda hands it to
/// a function and checked to be `method path`. The functions' unit tests
/// load their events with this, so the events cannot drift from the routes.
pub fn sample_request(event: &str, method: &str, path: &str) -> Result<Request, String> {
    let event: HttpEvent = serde_json::from_str(event)
        .map_err(|e| format!("not an API Gateway HTTP API event: {e}"))?;
    let req = http_request(event.0, lambda_runtime::Context::default())
        .map_err(|e| format!("not a request: {e:?}"))?;
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

    /// A handler whose future holds 16 KiB across an await.
    async fn big<D>(_: &'static D, n: usize) -> usize {
        let buf = [7u8; 16 * 1024];
        tokio::task::yield_now().await;
        std::hint::black_box(&buf)
            .iter()
            .take(n)
            .map(|&b| b as usize)
            .sum()
    }

    #[tokio::test]
    async fn a_handlers_future_should_be_boxed_where_it_is_made_so_only_a_pointer_moves() {
        async fn http(deps: &'static (), req: Request) -> Response<Body> {
            let n = req.uri().path().len();
            Response::new(Body::from(big(deps, n).await.to_string()))
        }
        let mut service = guarded_service(&(), http);
        let event: HttpEvent =
            serde_json::from_str(include_str!("../../events/list-conversations.json")).unwrap();
        let call = service.call(lambda_runtime::LambdaEvent::new(
            event,
            lambda_runtime::Context::default(),
        ));
        let size = std::mem::size_of_val(&call);
        assert!(size < 1024, "the HTTP service's future is {size} bytes");
        let answer = serde_json::to_value(call.await.unwrap()).unwrap();
        assert_eq!(answer["body"], (7 * "/conversations".len()).to_string());

        let mut service = event_service(&(), |deps, n: usize| async move {
            Ok::<_, Infallible>(big(deps, n).await)
        });
        let call = service.call(lambda_runtime::LambdaEvent::new(
            3,
            lambda_runtime::Context::default(),
        ));
        let size = std::mem::size_of_val(&call);
        assert!(size < 1024, "the event service's future is {size} bytes");
        assert_eq!(call.await.unwrap(), 21);
    }

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
        let event: lambda_http::request::LambdaRequest =
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

    #[test]
    fn the_request_should_carry_the_trace_id_and_the_context() {
        use lambda_http::RequestExt;
        let event: ApiGatewayV2httpRequest =
            serde_json::from_str(include_str!("../../events/list-conversations.json")).unwrap();
        let mut context = lambda_runtime::Context::default();
        context.request_id = "req-1".into();
        context.xray_trace_id = Some("Root=1-5759e988-bd862e3fe1be46a994272793".into());
        let req = http_request(event, context).unwrap();
        assert_eq!(
            req.headers()["x-amzn-trace-id"],
            "Root=1-5759e988-bd862e3fe1be46a994272793"
        );
        assert_eq!(req.lambda_context_ref().unwrap().request_id, "req-1");
        assert_eq!(req.uri().path(), "/conversations");
    }
}

/// [`http_request`] against `lambda_http`'s own conversion, the reference.
#[cfg(test)]
mod request_tests {
    use super::*;
    use lambda_http::RequestExt;
    use serde_json::{Value, json};

    const EVENTS: [(&str, &str); 24] = [
        (
            "create-conversation-start",
            include_str!("../../events/create-conversation-start.json"),
        ),
        (
            "create-conversation",
            include_str!("../../events/create-conversation.json"),
        ),
        (
            "get-conversation",
            include_str!("../../events/get-conversation.json"),
        ),
        (
            "get-messages",
            include_str!("../../events/get-messages.json"),
        ),
        (
            "list-conversations",
            include_str!("../../events/list-conversations.json"),
        ),
        (
            "manage-chat-accounts-add",
            include_str!("../../events/manage-chat-accounts-add.json"),
        ),
        (
            "manage-chat-accounts-list",
            include_str!("../../events/manage-chat-accounts-list.json"),
        ),
        (
            "manage-chat-accounts-remove",
            include_str!("../../events/manage-chat-accounts-remove.json"),
        ),
        (
            "manage-chat-accounts-settings-get",
            include_str!("../../events/manage-chat-accounts-settings-get.json"),
        ),
        (
            "manage-chat-accounts-settings",
            include_str!("../../events/manage-chat-accounts-settings.json"),
        ),
        (
            "manage-participants-add",
            include_str!("../../events/manage-participants-add.json"),
        ),
        (
            "manage-participants-list",
            include_str!("../../events/manage-participants-list.json"),
        ),
        (
            "manage-participants-remove",
            include_str!("../../events/manage-participants-remove.json"),
        ),
        (
            "mark-as-read",
            include_str!("../../events/mark-as-read.json"),
        ),
        (
            "meta-webhook-verify",
            include_str!("../../events/meta-webhook-verify.json"),
        ),
        (
            "meta-webhook",
            include_str!("../../events/meta-webhook.json"),
        ),
        (
            "provider-stats",
            include_str!("../../events/provider-stats.json"),
        ),
        (
            "send-message-whatsapp-template",
            include_str!("../../events/send-message-whatsapp-template.json"),
        ),
        (
            "send-message",
            include_str!("../../events/send-message.json"),
        ),
        ("send-typing", include_str!("../../events/send-typing.json")),
        (
            "unread-count",
            include_str!("../../events/unread-count.json"),
        ),
        (
            "update-conversation",
            include_str!("../../events/update-conversation.json"),
        ),
        (
            "webhook-ingest-conversations",
            include_str!("../../events/webhook-ingest-conversations.json"),
        ),
        (
            "webhook-ingest-messaging",
            include_str!("../../events/webhook-ingest-messaging.json"),
        ),
    ];

    /// Everything a handler can read from a request, as JSON.
    fn seen(req: &Request) -> Value {
        let headers: Vec<(String, String)> = req
            .headers()
            .iter()
            .map(|(k, v)| (k.to_string(), String::from_utf8_lossy(v.as_bytes()).into()))
            .collect();
        let body: &[u8] = match req.body() {
            Body::Text(t) => t.as_bytes(),
            Body::Binary(b) => b,
            _ => &[],
        };
        let map = |m: lambda_http::aws_lambda_events::query_map::QueryMap| {
            let mut pairs: Vec<(String, Vec<String>)> = m
                .iter()
                .map(|(k, _)| {
                    (
                        k.to_string(),
                        m.all(k)
                            .unwrap_or_default()
                            .iter()
                            .map(|v| v.to_string())
                            .collect(),
                    )
                })
                .collect();
            pairs.sort();
            pairs.dedup();
            pairs
        };
        json!({
            "method": req.method().as_str(),
            "uri": req.uri().to_string(),
            "headers": headers,
            "body": String::from_utf8_lossy(body),
            "raw_path": req.raw_http_path(),
            "query": map(req.query_string_parameters()),
            "path_parameters": map(req.path_parameters()),
            "stage_variables": map(req.stage_variables()),
            "context": serde_json::to_value(req.request_context_ref()).unwrap(),
        })
    }

    fn theirs(event: &Value) -> Value {
        let event: lambda_http::request::LambdaRequest =
            serde_json::from_value(event.clone()).unwrap();
        seen(&Request::from(event))
    }

    fn ours(event: &Value) -> Result<Value, crate::ApiError> {
        let event: ApiGatewayV2httpRequest = serde_json::from_value(event.clone()).unwrap();
        http_request(event, lambda_runtime::Context::default()).map(|r| seen(&r))
    }

    /// Each sample event, and the same with the parts API Gateway may add
    /// or vary: cookies, a base64 body, a named stage (with and without the
    /// path carrying it), a repeated and encoded query, no host at all, an
    /// empty path, a path with bytes a URI cannot hold.
    fn variants(event: &Value) -> Vec<(&'static str, Value)> {
        let with = |f: &dyn Fn(&mut Value)| {
            let mut e = event.clone();
            f(&mut e);
            e
        };
        vec![
            ("as it is", event.clone()),
            ("cookies", with(&|e| e["cookies"] = json!(["a=1", "b=two"]))),
            (
                "base64 body",
                with(&|e| {
                    e["body"] = json!("aGVsbG8sIHdvcmxk");
                    e["isBase64Encoded"] = json!(true);
                }),
            ),
            (
                "named stage",
                with(&|e| e["requestContext"]["stage"] = json!("prod")),
            ),
            (
                "named stage already in the path",
                with(&|e| {
                    e["requestContext"]["stage"] = json!("prod");
                    let path = format!("/prod{}", e["rawPath"].as_str().unwrap());
                    e["rawPath"] = json!(path);
                }),
            ),
            (
                "repeated and encoded query",
                with(&|e| e["rawQueryString"] = json!("a=1&a=2&b=%20x+y&c")),
            ),
            (
                "no host",
                with(&|e| {
                    e["headers"].as_object_mut().unwrap().remove("host");
                    e["requestContext"]
                        .as_object_mut()
                        .unwrap()
                        .remove("domainName");
                }),
            ),
            (
                "http scheme",
                with(&|e| e["headers"]["x-forwarded-proto"] = json!("http")),
            ),
            ("empty path", with(&|e| e["rawPath"] = json!(""))),
            (
                "path with a space and quotes",
                with(&|e| e["rawPath"] = json!("/a b/\"c\"/<d>")),
            ),
        ]
    }

    #[test]
    fn each_sample_event_should_be_the_request_lambda_http_builds() {
        let mut compared = 0;
        for (name, text) in EVENTS {
            let event: Value = serde_json::from_str(text).unwrap();
            for (why, event) in variants(&event) {
                let ours = ours(&event).unwrap_or_else(|e| panic!("{name}, {why}: {e:?}"));
                assert_eq!(ours, theirs(&event), "{name}, {why}");
                compared += 1;
            }
        }
        assert_eq!(compared, 24 * 10);
    }

    fn list_event() -> Value {
        serde_json::from_str(include_str!("../../events/list-conversations.json")).unwrap()
    }

    fn refusal(event: &Value) -> Value {
        let refused = ours(event).expect_err("refused");
        let response = refused.into_response();
        assert_eq!(response.status(), 400);
        let Body::Text(text) = response.body() else {
            panic!("a JSON body")
        };
        serde_json::from_str(text).unwrap()
    }

    #[test]
    fn a_raw_query_no_uri_can_hold_should_be_400_invalid_query_where_lambda_http_panics() {
        for q in ["limit=20&q=\"x\"", "q=<script>", "q=a>b", "q=\"<>\""] {
            let mut event = list_event();
            event["rawQueryString"] = json!(q);
            let theirs = std::panic::catch_unwind(|| theirs(&event));
            assert!(theirs.is_err(), "{q}: lambda_http no longer panics");
            assert_eq!(refusal(&event)["error"]["code"], "invalid_query", "{q}");
        }
        let mut event = list_event();
        event["rawQueryString"] = json!("q=%22x%22");
        assert_eq!(ours(&event).unwrap()["uri"], theirs(&event)["uri"]);
    }

    #[test]
    fn a_body_that_is_not_the_base64_it_claims_should_be_400_invalid_body_where_lambda_http_panics()
    {
        let mut event = list_event();
        event["body"] = json!("not base64!");
        event["isBase64Encoded"] = json!(true);
        assert!(std::panic::catch_unwind(|| theirs(&event)).is_err());
        assert_eq!(refusal(&event)["error"]["code"], "invalid_body");
    }

    #[test]
    fn an_odd_host_or_scheme_should_be_left_out_of_the_uri_where_lambda_http_panics() {
        for (host, proto) in [
            ("exa mple.com", "https"),
            ("api.example.com:99999", "https"),
            ("[::1", "https"),
            ("a%zz", "https"),
        ] {
            let mut event = list_event();
            event["headers"]["host"] = json!(host);
            event["headers"]["x-forwarded-proto"] = json!(proto);
            event["requestContext"]["domainName"] = json!(host);
            assert!(
                std::panic::catch_unwind(|| theirs(&event)).is_err(),
                "{host}"
            );
            let ours = ours(&event).unwrap();
            assert_eq!(ours["uri"], "/conversations?limit=20", "{host}");
        }
        // An odd Host with a plain domain name: the domain name.
        let mut event = list_event();
        event["headers"]["host"] = json!("exa mple.com");
        event["requestContext"]["domainName"] = json!("abc.example.com");
        assert_eq!(
            ours(&event).unwrap()["uri"],
            "https://abc.example.com/conversations?limit=20"
        );
        // A scheme that is neither: https.
        let mut event = list_event();
        event["headers"]["x-forwarded-proto"] = json!("h t");
        let uri = ours(&event).unwrap()["uri"].clone();
        assert!(uri.as_str().unwrap().starts_with("https://"), "{uri}");
    }

    #[test]
    fn a_path_should_keep_its_dot_segments_and_gain_its_leading_slash() {
        let mut event = list_event();
        event["rawPath"] = json!("conversations/../x/./y");
        let seen = ours(&event).unwrap();
        assert!(
            seen["uri"]
                .as_str()
                .unwrap()
                .ends_with(".com/conversations/../x/./y?limit=20"),
            "{seen}"
        );
        assert_eq!(seen["raw_path"], "conversations/../x/./y");
    }
}
