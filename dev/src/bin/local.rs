//! `make run`: the whole system on a laptop. Starts the Twilio stand-in
//! (unless real Twilio is configured), creates the table from
//! `template.yaml` on the emulator at `AWS_ENDPOINT_URL`, serves every
//! function behind a gateway on `PORT`, prints dev tokens, runs a short
//! scripted booking conversation, then serves until Ctrl-C.

use dev::devapi::{DEMO_ORG, DevToken, OTHER_ORG, dev_tokens};
use dev::stack::{self, BoxError, StackOptions};
use serde_json::{Value, json};
use shared::ports::AccountStore;
use std::collections::HashMap;
use std::path::PathBuf;

/// The local default secret; events/ tokens are signed with it too.
pub const DEV_SECRET: &str = shared::auth::LOCAL_DEV_SECRET;

/// The bookings the local booking directory knows: (booking, customer,
/// provider). The demo below opens `bk_demo` as its customer.
pub const DEMO_BOOKINGS: &[(&str, &str, &str)] = &[("bk_demo", "cust_ana", "prov_ben")];

fn env(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.is_empty())
}

fn token_of(tokens: &[DevToken], user: &str) -> String {
    tokens
        .iter()
        .find(|t| t.user_id == user)
        .map(|t| t.token.clone())
        .unwrap_or_default()
}

#[tokio::main]
async fn main() -> Result<(), BoxError> {
    shared::lambda::init_tracing();
    if env("AWS_ENDPOINT_URL").is_none() {
        eprintln!(
            "warning: AWS_ENDPOINT_URL is not set, so real AWS would be used. \
             `make run` starts the local emulator and sets it."
        );
    }
    let port = env("PORT").unwrap_or_else(|| "3000".into());
    let standin_port = env("TWILIO_STANDIN_PORT").unwrap_or_else(|| "3001".into());
    let mut overrides = HashMap::new();
    for (k, default) in [
        ("TABLE_NAME", "messaging-local"),
        ("AUTH_JWT_SECRET", DEV_SECRET),
    ] {
        if env(k).is_none() {
            overrides.insert(k.to_string(), default.to_string());
        }
    }
    // The booking directory: a local stand-in with the demo bookings, unless
    // a real one is configured (BOOKINGS_URL + BOOKINGS_KEY).
    let directory = match env("BOOKINGS_URL") {
        Some(_) => None,
        None => {
            let d = dev::bookings::BookingDirectoryStandIn::default();
            for (booking, customer, provider) in DEMO_BOOKINGS {
                d.seed(booking, customer, provider);
            }
            let port = env("BOOKINGS_STANDIN_PORT").unwrap_or_else(|| "3002".into());
            let url = d.serve(&format!("127.0.0.1:{port}")).await?;
            overrides.insert("BOOKINGS_URL".to_string(), url.clone());
            overrides.insert("BOOKINGS_KEY".to_string(), d.key().to_string());
            Some(url)
        }
    };
    // Meta's Graph API: a local stand-in (signing its webhooks like Meta),
    // unless META_GRAPH_BASE_URL points at the real one.
    let meta_standin = match env("META_GRAPH_BASE_URL") {
        Some(_) => None,
        None => {
            let m = dev::meta_standin::MetaStandIn::default();
            m.allow_token(
                dev::meta_standin::DEV_META_PHONE_NUMBER_ID,
                dev::meta_standin::DEV_META_ACCESS_TOKEN,
            );
            let port = env("META_STANDIN_PORT").unwrap_or_else(|| "3003".into());
            let url = m.serve(&format!("127.0.0.1:{port}")).await?;
            overrides.insert("META_GRAPH_BASE_URL".to_string(), url.clone());
            Some((m, url))
        }
    };
    let secret = env("AUTH_JWT_SECRET").unwrap_or_else(|| DEV_SECRET.into());
    let tokens = dev_tokens(&secret);
    // The web app (web/), served at `/`; WEB_ROOT overrides.
    let web_root = env("WEB_ROOT")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../web"));
    let stack = stack::start(StackOptions {
        gateway_addr: format!("127.0.0.1:{port}"),
        standin_addr: Some(format!("127.0.0.1:{standin_port}")),
        overrides,
        dynamodb: None,
        sqs: None,
        poller: true,
        web_root: Some(web_root),
        dev_tokens: Some(tokens.clone()),
        push: true,
    })
    .await?;
    let base = &stack.base_url;
    let customer = token_of(&tokens, "cust_ana");
    let provider = token_of(&tokens, "prov_ben");
    let service = token_of(&tokens, "booking-system");
    let agent = token_of(&tokens, "agent_dana");
    let other_agent = token_of(&tokens, "agent_omar");
    // The demo org's WhatsApp number, so `make inbound` lands in its inbox.
    let demo_number = dev::standin::DEMO_BUSINESS_NUMBER;
    stack
        .app
        .store
        .put_chat_account(&shared::store::ChatAccount {
            provider: shared::domain::Provider::Twilio,
            address: demo_number.into(),
            org_id: DEMO_ORG.into(),
            channel: shared::domain::Channel::Whatsapp,
            created_at: shared::clock::format_ts(stack.app.clock.now()),
            created_by: "make-run".into(),
            access_token: None,
            twilio_account_sid: None,
        })
        .await?;
    // And its Meta number (the stand-in's phone number id and token).
    if let Some((m, _)) = &meta_standin {
        m.set_webhook_base(base);
        stack
            .app
            .store
            .put_chat_account(&shared::store::ChatAccount {
                provider: shared::domain::Provider::Meta,
                address: dev::meta_standin::DEV_META_PHONE_NUMBER_ID.into(),
                org_id: DEMO_ORG.into(),
                channel: shared::domain::Channel::Whatsapp,
                created_at: shared::clock::format_ts(stack.app.clock.now()),
                created_by: "make-run".into(),
                access_token: None,
                twilio_account_sid: None,
            })
            .await?;
        // Its token, in the credential store (the emulator's Secrets Manager).
        stack
            .app
            .vault
            .put_meta_token(&shared::vault::MetaToken {
                phone_number_id: dev::meta_standin::DEV_META_PHONE_NUMBER_ID.into(),
                org_id: DEMO_ORG.into(),
                access_token: shared::model::Secret(
                    dev::meta_standin::DEV_META_ACCESS_TOKEN.into(),
                ),
            })
            .await?;
    }

    println!();
    println!("  Web app          http://localhost:{port}/   (dev sign-in: pick a demo user)");
    println!("  API gateway      {base}   (GET {base}/healthz)");
    match &stack.standin {
        Some((_, url)) => println!("  Twilio stand-in  {url}"),
        None => println!("  Twilio           configured from the environment"),
    }
    match &meta_standin {
        Some((_, url)) => println!(
            "  Meta stand-in    {url}   (phone number id {}, webhooks signed to {base}/webhooks/meta)",
            dev::meta_standin::DEV_META_PHONE_NUMBER_ID
        ),
        None => {
            println!("  Meta Graph API   configured from the environment (META_GRAPH_BASE_URL)")
        }
    }
    match &directory {
        Some(url) => println!(
            "  Bookings         {url}   (stand-in; {} demo booking(s), e.g. bk_demo: cust_ana with prov_ben)",
            DEMO_BOOKINGS.len()
        ),
        None => println!("  Bookings         configured from the environment (BOOKINGS_URL)"),
    }
    println!(
        "  DynamoDB         {} table {}{}",
        env("AWS_ENDPOINT_URL").unwrap_or_else(|| "AWS".into()),
        stack.app.config.table_name,
        if stack.table_created {
            " (created from template.yaml)"
        } else {
            ""
        }
    );
    println!();
    println!("  Dev tokens (valid 7 days):");
    println!("    export CUSTOMER_TOKEN={customer}");
    println!("    export PROVIDER_TOKEN={provider}");
    println!("    export SERVICE_TOKEN={service}");
    println!("    export AGENT_TOKEN={agent}   # admin agent of {DEMO_ORG}");
    println!("    export OTHER_AGENT_TOKEN={other_agent}   # agent of {OTHER_ORG}");
    println!(
        "  (the web app gets them from GET {base}/dev/tokens, served by this dev binary only)"
    );
    println!();
    println!(
        "  WhatsApp inbox: {demo_number} belongs to {DEMO_ORG}. Send a signed inbound message:"
    );
    println!("    make inbound FROM=whatsapp:+15551234567 BODY=\"hi\"");
    println!("    curl -s {base}/conversations -H \"Authorization: Bearer $AGENT_TOKEN\"");
    println!("  Webhooks: {base}/webhooks/twilio/messaging, {base}/webhooks/twilio/conversations");
    println!();
    println!("  Try: curl -s {base}/conversations -H \"Authorization: Bearer $PROVIDER_TOKEN\"");
    println!();

    if env("DEMO").as_deref() != Some("0")
        && let Err(e) = demo(base, &customer, &provider).await
    {
        eprintln!("demo failed: {e}");
    }

    println!("Serving until Ctrl-C.");
    tokio::signal::ctrl_c().await?;
    Ok(())
}

/// A short booking conversation through the HTTP API, printed step by step.
async fn demo(base: &str, customer: &str, provider: &str) -> Result<(), BoxError> {
    let http = reqwest::Client::new();
    let call = |method: reqwest::Method, path: String, token: &str, body: Option<Value>| {
        let mut req = http
            .request(method, format!("{base}{path}"))
            .bearer_auth(token);
        if let Some(b) = body {
            req = req.json(&b);
        }
        async move {
            let resp = req.send().await?;
            let status = resp.status().as_u16();
            let json: Value = resp.json().await.unwrap_or(Value::Null);
            Ok::<_, BoxError>((status, json))
        }
    };
    use reqwest::Method as M;
    println!("Demo: a booking conversation through the API");
    let (status, conv) = call(
        M::POST,
        "/conversations".into(),
        customer,
        Some(json!({
            "booking_id": "bk_demo",
            "participants": [
                {"user_id": "cust_ana", "user_type": "customer", "display_name": "Ana"},
                {"user_id": "prov_ben", "user_type": "provider", "display_name": "Ben"}
            ]
        })),
    )
    .await?;
    let id = conv["id"].as_str().ok_or("no conversation id")?.to_string();
    println!("  {status} customer opens the chat of booking bk_demo -> {id}");
    let (status, _) = call(
        M::POST,
        format!("/conversations/{id}/messages"),
        customer,
        Some(json!({"body": "When will you arrive?"})),
    )
    .await?;
    println!("  {status} customer: \"When will you arrive?\"");
    let (status, list) = call(M::GET, "/conversations".into(), provider, None).await?;
    println!(
        "  {status} provider lists conversations: unread {}",
        list["items"][0]["unread_count"]
    );
    let (status, read) = call(M::POST, format!("/conversations/{id}/read"), provider, None).await?;
    println!(
        "  {status} provider marks read: unread {}",
        read["unread_count"]
    );
    let (status, _) = call(
        M::POST,
        format!("/conversations/{id}/messages"),
        provider,
        Some(json!({"body": "I'll be there at 2 PM"})),
    )
    .await?;
    println!("  {status} provider: \"I'll be there at 2 PM\"");
    let (status, msgs) = call(
        M::GET,
        format!("/conversations/{id}/messages"),
        customer,
        None,
    )
    .await?;
    let n = msgs["messages"].as_array().map_or(0, Vec::len);
    println!("  {status} customer reads {n} messages");
    let (status, unread) = call(M::GET, "/me/unread".into(), customer, None).await?;
    println!(
        "  {status} customer unread total: {}",
        unread["unread_count"]
    );
    println!();
    Ok(())
}
