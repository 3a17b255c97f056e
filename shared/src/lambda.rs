//! Lambda wiring shared by every HTTP function's `main`.

use lambda_http::{Body, Error, Request, Response, service_fn};
use std::convert::Infallible;
use std::future::Future;

use crate::app::{App, Core};

/// JSON logs in Lambda, readable ones on a terminal; `RUST_LOG` filters.
pub fn init_tracing() {
    use tracing_subscriber::EnvFilter;
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_target(false);
    let result = if std::env::var_os("AWS_LAMBDA_FUNCTION_NAME").is_some() {
        builder
            .json()
            .with_current_span(false)
            .without_time()
            .with_ansi(false)
            .try_init()
    } else {
        builder.try_init()
    };
    let _ = result;
}

/// Build the shared dependencies once, then serve API Gateway requests with
/// `handler` until the runtime stops.
pub async fn run_http<F, Fut>(handler: F) -> Result<(), Error>
where
    F: Fn(&'static App, Request) -> Fut,
    Fut: Future<Output = Response<Body>> + Send,
{
    init_tracing();
    let app: &'static App = Box::leak(Box::new(App::from_env().await?));
    serve_http(app, handler).await
}

/// [`run_http`] for the functions that never call Twilio: only the core
/// dependencies, so no Twilio setting is read.
pub async fn run_http_core<F, Fut>(handler: F) -> Result<(), Error>
where
    F: Fn(&'static Core, Request) -> Fut,
    Fut: Future<Output = Response<Body>> + Send,
{
    init_tracing();
    let core: &'static Core = Box::leak(Box::new(Core::from_env().await?));
    serve_http(core, handler).await
}

/// Build the core dependencies once, then serve events (e.g. SQS batches)
/// with `handler` until the runtime stops: the event-function twin of
/// [`run_http`].
pub async fn run_event<E, R, F, Fut>(handler: F) -> Result<(), Error>
where
    E: serde::de::DeserializeOwned + Send + 'static,
    R: serde::Serialize + Send + 'static,
    F: Fn(&'static Core, E) -> Fut,
    Fut: Future<Output = Result<R, Infallible>> + Send,
{
    init_tracing();
    let app: &'static Core = Box::leak(Box::new(Core::from_env().await?));
    lambda_runtime::run(lambda_runtime::service_fn(
        move |event: lambda_runtime::LambdaEvent<E>| handler(app, event.payload),
    ))
    .await
}

/// Serve API Gateway requests with `handler` over dependencies built once.
pub async fn serve_http<D, F, Fut>(deps: &'static D, handler: F) -> Result<(), Error>
where
    D: Sync + 'static,
    F: Fn(&'static D, Request) -> Fut,
    Fut: Future<Output = Response<Body>> + Send,
{
    lambda_http::run(service_fn(move |req: Request| {
        let fut = handler(deps, req);
        async move { Ok::<_, Infallible>(fut.await) }
    }))
    .await
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
