//! Lambda entry point: wiring only.
// Each function is one future (handler, store, AWS and HTTP clients)
// whose layout nests deeper than rustc's default limit in release builds.
#![recursion_limit = "256"]

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_http::Error> {
    shared::lambda::init_tracing();
    let core: &'static shared::Core = Box::leak(Box::new(shared::Core::from_env().await?));
    let check: &'static shared::ownership::OwnershipCheck =
        Box::leak(Box::new(shared::ownership::OwnershipCheck::from_env()?));
    shared::lambda::serve_http(core, move |core, req| {
        manage_chat_accounts::handle(core, check, req)
    })
    .await
}
