//! Load run on the local stack (emulator + gateway + SQS poller, in
//! process): N signed inbound WhatsApp webhooks from C contacts, each sent
//! D times (Twilio retries), all concurrently; then wait until every
//! message is stored and check none is stored twice.
//!
//! Usage: `scripts/load.sh [N] [CONTACTS] [DELIVERIES]` (defaults 500 50 2).

use dev::stack::{self, BoxError, StackOptions};
use futures::stream::{self, StreamExt};
use shared::auth::{Caller, UserType, issue_token};
use std::collections::HashMap;
use std::time::{Duration, Instant};

#[tokio::main]
async fn main() -> Result<(), BoxError> {
    let args: Vec<usize> = std::env::args()
        .skip(1)
        .map(|a| a.parse().expect("numbers"))
        .collect();
    let n = args.first().copied().unwrap_or(500);
    let contacts = args.get(1).copied().unwrap_or(50).max(1);
    let deliveries = args.get(2).copied().unwrap_or(2).max(1);
    let secret = "load-test-secret-0123456789abcdef";
    let table = format!("load-{}", ulid::Ulid::new().to_string().to_lowercase());
    let overrides: HashMap<String, String> = [
        ("TABLE_NAME", table.as_str()),
        ("AUTH_JWT_SECRET", secret),
        ("DEFAULT_ORG_ID", "org_load"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    let stack = stack::start(StackOptions {
        gateway_addr: "127.0.0.1:0".into(),
        standin_addr: Some("127.0.0.1:0".into()),
        overrides,
        dynamodb: None,
        poller: true,
        ..Default::default()
    })
    .await?;
    let (standin, _) = stack
        .standin
        .clone()
        .ok_or("the load run needs the Twilio stand-in")?;

    let mut requests = Vec::new();
    for i in 0..n {
        let sid = standin.new_message_sid();
        let from = format!("whatsapp:+1555{:07}", i % contacts);
        let params = standin.inbound_params(
            &sid,
            &from,
            "whatsapp:+15550009999",
            &format!("load message {i}"),
        );
        for _ in 0..deliveries {
            requests.push(params.clone());
        }
    }
    let total = requests.len();
    println!(
        "load: {n} messages from {contacts} contacts, each delivered {deliveries}x = {total} signed webhooks"
    );
    let started = Instant::now();
    let statuses: Vec<u16> = stream::iter(requests)
        .map(|p| {
            let s = standin.clone();
            async move {
                s.send_webhook("/webhooks/twilio/messaging", &p)
                    .await
                    .map(|(status, _)| status)
                    .unwrap_or(0)
            }
        })
        .buffer_unordered(64)
        .collect()
        .await;
    let accepted = statuses.iter().filter(|s| **s == 200).count();
    let enqueue_secs = started.elapsed().as_secs_f64();
    println!(
        "load: {accepted}/{total} webhooks answered 200 in {enqueue_secs:.2}s ({:.0}/s)",
        total as f64 / enqueue_secs
    );

    let agent = issue_token(
        secret,
        &Caller {
            user_id: "agent_load".into(),
            user_type: UserType::Agent,
            org_id: Some("org_load".into()),
            role: None,
        },
        3600,
    );
    let http = reqwest::Client::new();
    let deadline = Instant::now() + Duration::from_secs(600);
    let (stored, conversations) = loop {
        let (stored, convs) = count(&http, &stack.base_url, &agent).await?;
        if stored >= n || Instant::now() > deadline {
            break (stored, convs);
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    };
    let total_secs = started.elapsed().as_secs_f64();
    let unread: serde_json::Value = http
        .get(format!("{}/me/unread", stack.base_url))
        .bearer_auth(&agent)
        .send()
        .await?
        .json()
        .await?;
    println!(
        "load: {stored} messages stored in {conversations} conversations, org unread {}, \
         all stored {total_secs:.2}s after the first webhook ({:.0} messages/s end to end)",
        unread["unread_count"],
        n as f64 / total_secs
    );
    if accepted != total
        || stored != n
        || conversations != contacts.min(n)
        || unread["unread_count"] != n
    {
        return Err(format!(
            "FAILED: expected {n} messages in {} conversations, unread {n}, all {total} webhooks accepted",
            contacts.min(n)
        )
        .into());
    }
    println!("load: OK (none lost, none stored twice)");
    Ok(())
}

/// Messages stored (sum of message counts) and conversations in the inbox.
async fn count(
    http: &reqwest::Client,
    base: &str,
    token: &str,
) -> Result<(usize, usize), BoxError> {
    let mut cursor: Option<String> = None;
    let (mut messages, mut convs) = (0usize, 0usize);
    loop {
        let mut url = format!("{base}/conversations?limit=100");
        if let Some(c) = &cursor {
            url.push_str(&format!("&cursor={c}"));
        }
        let page: serde_json::Value = http
            .get(url)
            .bearer_auth(token)
            .send()
            .await?
            .json()
            .await?;
        for item in page["items"].as_array().into_iter().flatten() {
            convs += 1;
            messages += item["unread_count"].as_u64().unwrap_or(0) as usize;
        }
        match page["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_string()),
            None => return Ok((messages, convs)),
        }
    }
}
