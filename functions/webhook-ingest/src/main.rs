//! Lambda entry point: wiring only (SQS client and config, built once).
// Each function is one future (handler, store, AWS and HTTP clients)
// whose layout nests deeper than rustc's default limit in release builds.
#![recursion_limit = "256"]

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_http::Error> {
    shared::lambda::init_tracing();
    let ingest = webhook_ingest::Ingest::from_env().await?;
    shared::lambda::serve_http(Box::leak(Box::new(ingest)), webhook_ingest::handle).await
}
