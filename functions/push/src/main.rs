//! Lambda entry point: wiring only.

use aws_config::BehaviorVersion;
use shared::push::apigw::ManagementApi;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_runtime::Error> {
    shared::lambda::init_tracing();
    let endpoint = std::env::var("WS_MANAGEMENT_URL")
        .map_err(|_| "WS_MANAGEMENT_URL is not set (the WebSocket stage's https URL)")?;
    let sdk = aws_config::defaults(BehaviorVersion::latest()).load().await;
    let deps: &'static push::Deps<ManagementApi> = Box::leak(Box::new(push::Deps {
        core: shared::Core::from_env_without_tokens().await?,
        sender: ManagementApi::new(&sdk, &endpoint),
    }));
    lambda_runtime::run(lambda_runtime::service_fn(
        move |event: lambda_runtime::LambdaEvent<shared::store::stream::StreamEvent>| {
            push::handle(deps, event.payload)
        },
    ))
    .await
}
