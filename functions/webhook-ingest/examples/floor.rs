//! The floor of a webhook-ingest invocation, for `bench/lambda.py`: the
//! same runtime and API Gateway conversion (`shared::lambda::serve_http`),
//! no subscriber, no signature check, no AWS call; every request answered
//! 403 with a fixed body. What this costs per invocation, a real function
//! cannot go below (BENCHMARKS.md, "Round 4").
//!
//! `cargo build --release -p webhook-ingest --example floor`

use lambda_http::{Body, Request, Response};

struct Nothing;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_http::Error> {
    shared::lambda::serve_http(&Nothing, |_: &'static Nothing, _: Request| async {
        Response::builder()
            .status(403)
            .header("content-type", "application/json")
            .body(Body::Text(
                r#"{"error":{"code":"invalid_signature","message":"missing or invalid X-Twilio-Signature"}}"#.into(),
            ))
            .unwrap_or_else(|_| Response::new(Body::Empty))
    })
    .await
}
