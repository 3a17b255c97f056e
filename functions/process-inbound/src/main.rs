//! Lambda entry point: wiring only.

use lambda_runtime::{LambdaEvent, service_fn};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_runtime::Error> {
    shared::lambda::init_tracing();
    let app: &'static shared::App = Box::leak(Box::new(shared::App::from_env().await?));
    lambda_runtime::run(service_fn(move |event: LambdaEvent<_>| {
        process_inbound::handle(app, event.payload)
    }))
    .await
}
