//! Real-time push latency on the local stack (emulator, gateway, SQS poller,
//! DynamoDB Streams poller feeding `push`, the local WebSocket API, all in
//! process), one message at a time:
//!
//! - inbound: a signed WhatsApp webhook is answered (200, queued) → the
//!   org agent's socket receives its `message.created`;
//! - chat: `POST /conversations/{id}/messages` is sent → the other
//!   participant's socket receives its `message.created` (also from the
//!   201 answer).
//!
//! Prints p50 / p99 / max per path and the requests per pushed event.
//! Usage: `scripts/push-bench.sh [N]` (default 200).

use dev::stack::{self, BoxError, StackOptions};
use futures::StreamExt;
use serde_json::{Value, json};
use shared::auth::{Caller, UserType, issue_token};
use std::collections::HashMap;
use std::time::{Duration, Instant};
use tokio_tungstenite::tungstenite::Message;

type Ws =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

fn token(secret: &str, user: &str, user_type: UserType, org: Option<&str>) -> String {
    issue_token(
        secret,
        &Caller {
            user_id: user.into(),
            user_type,
            org_id: org.map(str::to_string),
            role: None,
        },
        3600,
    )
}

async fn connect(base: &str, token: &str) -> Result<Ws, BoxError> {
    let url = format!("{}/ws?token={token}", base.replace("http://", "ws://"));
    Ok(tokio_tungstenite::connect_async(url).await?.0)
}

/// Wait for the `message.created` whose `data[field] == value`.
async fn created(ws: &mut Ws, field: &str, value: &str) -> Result<Instant, BoxError> {
    loop {
        let msg = tokio::time::timeout(Duration::from_secs(30), ws.next())
            .await?
            .ok_or("socket closed")??;
        if let Message::Text(t) = msg {
            let f: Value = serde_json::from_str(&t)?;
            if f["type"] == "message.created" && f["data"][field] == value {
                return Ok(Instant::now());
            }
        }
    }
}

fn percentiles(name: &str, mut ms: Vec<f64>) {
    ms.sort_by(|a, b| a.total_cmp(b));
    let at = |p: f64| ms[((ms.len() as f64 - 1.0) * p).round() as usize];
    println!(
        "{name:<48} n={:<4} p50 {:>7.1} ms   p99 {:>7.1} ms   max {:>7.1} ms",
        ms.len(),
        at(0.5),
        at(0.99),
        ms[ms.len() - 1]
    );
}

#[tokio::main]
async fn main() -> Result<(), BoxError> {
    let n: usize = std::env::args()
        .nth(1)
        .map(|a| a.parse().expect("a number"))
        .unwrap_or(200);
    let secret = "bench-test-secret-0123456789abcdef";
    let table = format!("bench-{}", ulid::Ulid::new().to_string().to_lowercase());
    let overrides: HashMap<String, String> =
        [("TABLE_NAME", table.as_str()), ("AUTH_JWT_SECRET", secret)]
            .into_iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
    let stack = stack::start(StackOptions {
        gateway_addr: "127.0.0.1:0".into(),
        standin_addr: Some("127.0.0.1:0".into()),
        overrides,
        poller: true,
        push: true,
        ..Default::default()
    })
    .await?;
    let (standin, _) = stack.standin.clone().ok_or("needs the Twilio stand-in")?;
    standin.disable_status_callbacks();
    let base = stack.base_url.clone();
    let http = reqwest::Client::new();
    let service = token(secret, "booking-system", UserType::Service, None);
    let business = "whatsapp:+15550003333";
    let r = http
        .post(format!("{base}/chat-accounts"))
        .bearer_auth(&service)
        .json(&json!({"address": business, "org_id": "org_bench"}))
        .send()
        .await?;
    assert!(r.status().is_success(), "register: {}", r.status());
    let agent = token(secret, "agent_bench", UserType::Agent, Some("org_bench"));
    let mut agent_ws = connect(&base, &agent).await?;

    // Inbound: webhook answered → agent's socket.
    let mut inbound = Vec::with_capacity(n);
    for i in 0..n {
        let sid = standin.new_message_sid();
        let p = standin.inbound_params(&sid, "whatsapp:+15559990000", business, &format!("in {i}"));
        let (status, _) = standin
            .send_webhook("/webhooks/twilio/messaging", &p)
            .await?;
        let answered = Instant::now();
        assert_eq!(status, 200);
        let got = created(&mut agent_ws, "twilio_message_sid", &sid).await?;
        inbound.push((got - answered).as_secs_f64() * 1000.0);
    }
    let inbound_totals = stack.push.as_ref().map(|(_, t)| t.lock().unwrap().clone());

    // Chat: POST → the other participant's socket.
    let r = http
        .post(format!("{base}/conversations"))
        .bearer_auth(&service)
        .json(&json!({
            "booking_id": "bk_bench",
            "participants": [
                {"user_id": "cust_b", "user_type": "customer", "display_name": "C"},
                {"user_id": "prov_b", "user_type": "provider", "display_name": "P"}
            ]
        }))
        .send()
        .await?;
    let conv: Value = r.json().await?;
    let conv = conv["id"].as_str().ok_or("no conversation")?.to_string();
    let customer = token(secret, "cust_b", UserType::Customer, None);
    let provider = token(secret, "prov_b", UserType::Provider, None);
    let mut prov_ws = connect(&base, &provider).await?;
    let mut from_request = Vec::with_capacity(n);
    let mut from_answer = Vec::with_capacity(n);
    for i in 0..n {
        let sent = Instant::now();
        let r = http
            .post(format!("{base}/conversations/{conv}/messages"))
            .bearer_auth(&customer)
            .json(&json!({"body": format!("chat {i}")}))
            .send()
            .await?;
        let answered = Instant::now();
        let v: Value = r.json().await?;
        let id = v["id"].as_str().ok_or("no message id")?.to_string();
        let got = created(&mut prov_ws, "id", &id).await?;
        from_request.push((got - sent).as_secs_f64() * 1000.0);
        from_answer.push((got - answered).as_secs_f64() * 1000.0);
    }
    println!();
    percentiles("inbound: webhook answered -> agent socket", inbound);
    percentiles("chat: POST sent -> other participant socket", from_request);
    percentiles(
        "chat: 201 answered -> other participant socket",
        from_answer,
    );
    let total = stack.push.as_ref().map(|(_, t)| t.lock().unwrap().clone());
    for (name, r) in [("inbound phase", inbound_totals), ("whole run", total)] {
        if let Some(r) = r {
            println!(
                "{name:<14} events {:>5}  frames (PostToConnection) {:>5}  DynamoDB requests {:>5}  ({:.2} DynamoDB + {:.2} PostToConnection per event)  gone {}  failed {}",
                r.events,
                r.frames,
                r.storage_requests,
                r.storage_requests as f64 / r.events.max(1) as f64,
                r.frames as f64 / r.events.max(1) as f64,
                r.gone,
                r.failed.len()
            );
        }
    }
    Ok(())
}
