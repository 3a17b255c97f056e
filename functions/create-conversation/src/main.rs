//! Lambda entry point: wiring only.
// Each function is one future (handler, store, AWS and HTTP clients)
// whose layout nests deeper than rustc's default limit in release builds.
#![recursion_limit = "256"]

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_http::Error> {
    shared::lambda::run_http(create_conversation::handle).await
}
