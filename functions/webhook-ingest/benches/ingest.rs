//! Ingest CPU per webhook: signature validation + parsing + envelope +
//! serialisation (everything before the SQS call).
//! Run: `cargo bench -p webhook-ingest --bench ingest`

use criterion::{Criterion, criterion_group, criterion_main};
use shared::ingest::{Incoming, IngestConfig, accept};
use shared::signature;
use std::hint::black_box;

fn inbound_params() -> Vec<(String, String)> {
    [
        ("SmsMessageSid", "SM0123456789abcdef0123456789abcdef"),
        ("NumMedia", "0"),
        ("ProfileName", "Ana"),
        ("MessageType", "text"),
        ("SmsSid", "SM0123456789abcdef0123456789abcdef"),
        ("WaId", "15551234567"),
        ("SmsStatus", "received"),
        ("Body", "Hi! Is my cleaning still on for tomorrow at 10?"),
        ("To", "whatsapp:+15557654321"),
        ("NumSegments", "1"),
        ("ReferralNumMedia", "0"),
        ("MessageSid", "SM0123456789abcdef0123456789abcdef"),
        ("AccountSid", "AC00000000000000000000000000000000"),
        ("From", "whatsapp:+15551234567"),
        ("ApiVersion", "2010-04-01"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect()
}

fn bench(c: &mut Criterion) {
    let cfg = IngestConfig {
        public_base_url: "https://abc123.execute-api.eu-west-1.amazonaws.com/prod".into(),
        auth_tokens: vec!["0123456789abcdef0123456789abcdef".into()],
        queue_url: "https://sqs.eu-west-1.amazonaws.com/000000000000/inbound".into(),
        account_sid: None,
    };
    let params = inbound_params();
    let body = serde_urlencoded::to_string(&params).unwrap();
    let url = cfg.signed_url(shared::envelope::Source::Messaging, None);
    let sig = signature::sign(&cfg.auth_tokens[0], &url, &params);

    c.bench_function("ingest: verify + parse + envelope + serialise", |b| {
        b.iter(|| {
            let inc = Incoming {
                path: "/prod/webhooks/twilio/messaging",
                raw_query: None,
                content_type: Some("application/x-www-form-urlencoded"),
                signature: Some(&sig),
                idempotency_token: Some("a1b2c3d4-idem"),
                body: black_box(body.as_bytes()),
            };
            let env = accept(&cfg, &inc, "2026-11-21T08:00:00.000Z".into()).unwrap();
            black_box(serde_json::to_string(&env).unwrap())
        })
    });
    c.bench_function("signature only", |b| {
        b.iter(|| {
            signature::is_valid(
                &[cfg.auth_tokens[0].as_str()],
                black_box(&url),
                signature::SignedBody::Form(&params),
                &sig,
            )
        })
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);
