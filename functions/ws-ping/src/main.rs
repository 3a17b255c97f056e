//! Lambda entry point: wiring only.
// Each function is one future (handler, store, AWS and HTTP clients)
// whose layout nests deeper than rustc's default limit in release builds.
#![recursion_limit = "256"]

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_runtime::Error> {
    shared::lambda::init_tracing();
    shared::lambda::runtime::run(lambda_runtime::service_fn(
        |event: lambda_runtime::LambdaEvent<_>| ws_ping::handle(event.payload),
    ))
    .await
}
