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
