//! Lambda entry point: wiring only.
// Each function is one future (handler, store, AWS and HTTP clients)
// whose layout nests deeper than rustc's default limit in release builds.
#![recursion_limit = "256"]

use shared::push::apigw::ManagementApi;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_runtime::Error> {
    shared::lambda::init_tracing();
    let endpoint = std::env::var("WS_MANAGEMENT_URL")
        .map_err(|_| "WS_MANAGEMENT_URL is not set (the WebSocket stage's https URL)")?;
    // The management API's client shares Core's SDK configuration: the
    // process's one HTTPS connector and trust store (shared::aws).
    let (core, sdk) = shared::Core::from_env_without_tokens_and_sdk().await?;
    let deps: &'static push::Deps<ManagementApi> = Box::leak(Box::new(push::Deps {
        core,
        sender: ManagementApi::new(&sdk, &endpoint),
    }));
    shared::lambda::runtime::run(lambda_runtime::service_fn(
        move |event: lambda_runtime::LambdaEvent<shared::store::stream::StreamEvent>| {
            push::handle(deps, event.payload)
        },
    ))
    .await
}
