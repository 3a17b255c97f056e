//! The reply rules before any I/O: validate the request and check the
//! WhatsApp 24-hour window. Run: `cargo bench -p shared --bench reply`

use chrono::{Duration, Utc};
use criterion::{Criterion, criterion_group, criterion_main};
use shared::clock::format_ts;
use shared::conversation::SendInput;
use shared::inbox::reply::{check_window, validate};
use std::hint::black_box;

fn bench(c: &mut Criterion) {
    let now = Utc::now();
    let last = format_ts(now - Duration::hours(3));
    let free = SendInput {
        body: Some("Thanks Ana! Your cleaner arrives at 10:00 tomorrow.".into()),
        media_urls: Some(vec!["https://cdn.example.com/receipt.pdf".into()]),
        ..Default::default()
    };
    let template = SendInput {
        content_sid: Some("HX0123456789abcdef0123456789abcdef".into()),
        content_variables: Some(serde_json::json!({"1": "Ana", "2": "10:00"})),
        ..Default::default()
    };
    c.bench_function("reply: validate + window (free-form, inside)", |b| {
        b.iter(|| {
            let content = validate(black_box(&free)).unwrap();
            check_window("whatsapp", &content, Some(black_box(&last)), now).unwrap()
        })
    });
    c.bench_function("reply: validate + window (template, outside)", |b| {
        let old = format_ts(now - Duration::hours(30));
        b.iter(|| {
            let content = validate(black_box(&template)).unwrap();
            check_window("whatsapp", &content, Some(black_box(&old)), now).unwrap()
        })
    });
    c.bench_function("reply: refused outside the window", |b| {
        let old = format_ts(now - Duration::hours(30));
        b.iter(|| {
            let content = validate(black_box(&free)).unwrap();
            check_window("whatsapp", &content, Some(black_box(&old)), now).unwrap_err()
        })
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);
