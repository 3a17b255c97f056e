//! Lambda entry point: wiring only.

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_http::Error> {
    shared::lambda::run_http(send_typing::handle).await
}
