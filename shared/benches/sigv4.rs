//! Signing one DynamoDB `GetItem` (SigV4, session token, ~100-byte body):
//! the SDK's signer against `shared::sigv4`, which keeps the signing key
//! for its day. Run: `cargo bench -p shared --bench sigv4`

use std::hint::black_box;
use std::time::SystemTime;

use aws_credential_types::Credentials;
use aws_sigv4::http_request::{SignableBody, SignableRequest, SigningSettings, sign};
use aws_sigv4::sign::v4;
use aws_smithy_runtime_api::client::identity::Identity;
use criterion::{Criterion, criterion_group, criterion_main};
use shared::sigv4::Signer;

const URL: &str = "https://dynamodb.eu-west-1.amazonaws.com/";
const BODY: &[u8] = br#"{"TableName":"messaging","Key":{"pk":{"S":"CONV#conv_0f6e2b0c"},"sk":{"S":"META"}},"ConsistentRead":true}"#;
const HEADERS: [(&str, &str); 2] = [
    ("content-type", "application/x-amz-json-1.0"),
    ("x-amz-target", "DynamoDB_20120810.GetItem"),
];

fn bench(c: &mut Criterion) {
    let creds = Credentials::new(
        "ASIAEXAMPLEEXAMPLE12",
        "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
        Some("IQoJb3JpZ2luX2VjEXAMPLE".repeat(30)),
        None,
        "bench",
    );
    let identity: Identity = creds.clone().into();
    c.bench_function("sigv4: aws_sigv4::sign (the SDK's signer)", |b| {
        b.iter(|| {
            let params = v4::SigningParams::builder()
                .identity(&identity)
                .region("eu-west-1")
                .name("dynamodb")
                .time(SystemTime::now())
                .settings(SigningSettings::default())
                .build()
                .unwrap()
                .into();
            let signable = SignableRequest::new(
                "POST",
                URL,
                HEADERS.iter().copied(),
                SignableBody::Bytes(black_box(BODY)),
            )
            .unwrap();
            let (instructions, _) = sign(signable, &params).unwrap().into_parts();
            instructions.headers().count()
        })
    });
    let signer = Signer::new(&URL.parse().unwrap(), "eu-west-1", "dynamodb").unwrap();
    c.bench_function("sigv4: shared::sigv4::Signer::sign", |b| {
        b.iter(|| {
            signer
                .sign(&creds, SystemTime::now(), &HEADERS, black_box(BODY))
                .unwrap()
        })
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);
