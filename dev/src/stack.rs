//! Start the whole local system in-process: table and queues from the
//! template, the Twilio stand-in (unless real Twilio is configured), the
//! gateway over every linked handler, and the SQS poller feeding
//! `process-inbound`.

use aws_config::BehaviorVersion;
use shared::App;
use shared::config::Config;
use shared::ingest::IngestConfig;
use std::collections::HashMap;
use std::path::PathBuf;

use crate::devapi::{DevApi, DevToken};
use crate::gateway::{Deps, Gateway};
use crate::meta_standin::{DEV_META_APP_SECRET, DEV_META_VERIFY_TOKEN};
use crate::setup::{ensure_queues, ensure_table};
use crate::standin::StandIn;
use crate::template::Template;
use crate::websocket::WsHub;
use shared::meta::webhook::MetaWebhookConfig;
use shared::push::apigw::ManagementApi;
use shared::push::deliver::PushReport;
use std::sync::{Arc, Mutex};

pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

#[derive(Default)]
pub struct StackOptions {
    /// Address the gateway binds (`127.0.0.1:0` for any free port).
    pub gateway_addr: String,
    /// Address for the Twilio stand-in, or `None` to use configured Twilio.
    pub standin_addr: Option<String>,
    /// Settings that win over the environment (tests use these).
    pub overrides: HashMap<String, String>,
    /// DynamoDB clients to use instead of ones built from the environment.
    pub dynamodb: Option<shared::store::DynamoClients>,
    /// The SDK configuration SQS is reached with (the stack's own client
    /// and the functions' `shared::sqs::Queue`) instead of the environment's.
    pub sqs: Option<aws_config::SdkConfig>,
    /// Run the SQS poller (tests may drive `poll_once` themselves).
    pub poller: bool,
    /// Serve the web app's static files from here (`make run`).
    pub web_root: Option<PathBuf>,
    /// Serve the dev-only endpoints under `/dev/` with these demo tokens
    /// (`make run` only; never part of the deployed API).
    pub dev_tokens: Option<Vec<DevToken>>,
    /// Run the DynamoDB stream poller feeding the `push` function (the
    /// WebSocket at `/ws` is always served).
    pub push: bool,
}

pub struct Stack {
    pub base_url: String,
    pub app: &'static App,
    pub deps: &'static Deps,
    pub sqs: aws_sdk_sqs::Client,
    pub queue_url: String,
    pub dlq_url: String,
    pub standin: Option<(StandIn, String)>,
    pub table_created: bool,
    pub poller: Option<tokio::task::JoinHandle<()>>,
    /// The local WebSocket API (`/ws`, `@connections`).
    pub ws: Arc<WsHub>,
    /// The stream poller feeding `push`, and what it pushed so far.
    pub push: Option<(tokio::task::JoinHandle<()>, Arc<Mutex<PushReport>>)>,
}

/// Whether real Twilio (or another Twilio-shaped server) is configured.
pub fn twilio_configured(get: &dyn Fn(&str) -> Option<String>) -> bool {
    get("TWILIO_ACCOUNT_SID").is_some()
        || get("TWILIO_CONVERSATIONS_BASE_URL").is_some()
        || get("TWILIO_API_BASE_URL").is_some()
}

pub async fn start(opts: StackOptions) -> Result<Stack, BoxError> {
    let mut settings = opts.overrides.clone();
    let env = |k: &str| std::env::var(k).ok().filter(|v| !v.is_empty());
    let get = |k: &str| settings.get(k).cloned().or_else(|| env(k));
    let standin = match &opts.standin_addr {
        Some(addr) if !twilio_configured(&get) => {
            // A configured TWILIO_AUTH_TOKEN is the one webhooks are checked
            // with, so the stand-in signs with it too (never replaced).
            let auth_token = get("TWILIO_AUTH_TOKEN")
                .unwrap_or_else(|| crate::standin::DEV_AUTH_TOKEN.to_string());
            let s = StandIn::new(crate::standin::DEV_ACCOUNT_SID, &auth_token);
            let url = s.serve(addr).await?;
            settings.insert("TWILIO_ACCOUNT_SID".into(), s.account_sid().into());
            settings.insert("TWILIO_AUTH_TOKEN".into(), s.auth_token().into());
            settings.insert("TWILIO_CONVERSATIONS_BASE_URL".into(), url.clone());
            settings.insert("TWILIO_API_BASE_URL".into(), url.clone());
            settings.insert("TWILIO_MESSAGING_BASE_URL".into(), url.clone());
            Some((s, url))
        }
        _ => None,
    };
    let listener = tokio::net::TcpListener::bind(&opts.gateway_addr).await?;
    let base_url = format!("http://{}", listener.local_addr()?);
    if let Some((s, _)) = &standin {
        s.set_webhook_base(&base_url);
    }
    settings
        .entry("PUBLIC_BASE_URL".into())
        .or_insert_with(|| env("PUBLIC_BASE_URL").unwrap_or_else(|| base_url.clone()));

    let sdk = aws_config::defaults(BehaviorVersion::latest()).load().await;
    // The functions' DynamoDB clients; the hand-made calls over their own
    // HTTPS connector, as in a function.
    let clients = match opts.dynamodb {
        Some(c) => c,
        None => shared::store::DynamoClients::new(&sdk, shared::aws::https_connector())?,
    };
    let dynamodb = clients.sdk.clone();
    let sqs_sdk = opts.sqs.unwrap_or_else(|| sdk.clone());
    let sqs = aws_sdk_sqs::Client::new(&sqs_sdk);
    // The functions' SendMessage client, over its own HTTPS connector as
    // in a function.
    let queue = std::sync::Arc::new(shared::sqs::Queue::new(
        &sqs_sdk,
        shared::aws::https_connector(),
    )?);
    let template = Template::load_default()?;
    let get = |k: &str| settings.get(k).cloned().or_else(|| env(k));
    let config = Config::from_lookup(get)?;
    let table_created = ensure_table(&dynamodb, &config.table_name, &template.table()?).await?;
    let queues = ensure_queues(&sqs, &config.table_name, &template.queues()).await?;
    let main_queue = template
        .queues()
        .into_iter()
        .find_map(|q| q.redrive.map(|(dlq, _)| (q.logical_id, dlq)))
        .ok_or("template has no queue with a dead-letter queue")?;
    let queue_url = queues[&main_queue.0].clone();
    let dlq_url = queues[&main_queue.1].clone();
    settings.insert("QUEUE_URL".into(), queue_url.clone());
    // Meta's app secret and verify token: configured ones win (a real
    // Meta app pointed at this stack); else the stand-in's.
    settings
        .entry("META_APP_SECRET".into())
        .or_insert_with(|| env("META_APP_SECRET").unwrap_or_else(|| DEV_META_APP_SECRET.into()));
    settings
        .entry("META_VERIFY_TOKEN".into())
        .or_insert_with(|| {
            env("META_VERIFY_TOKEN").unwrap_or_else(|| DEV_META_VERIFY_TOKEN.into())
        });
    // Org accounts' credentials: Secrets Manager (the emulator) under a
    // prefix of this stack's own, as the template names one per stack.
    settings
        .entry("CREDENTIALS_PREFIX".into())
        .or_insert_with(|| {
            env("CREDENTIALS_PREFIX")
                .unwrap_or_else(|| format!("{}/chat-credentials/", config.table_name))
        });
    let get = |k: &str| settings.get(k).cloned().or_else(|| env(k));
    let ingest_config = IngestConfig::from_lookup(get)?;
    // Inbound media: an S3 bucket (the emulator's) of this stack's own.
    let media_bucket = env("MEDIA_BUCKET").unwrap_or_else(|| {
        format!(
            "{}-media",
            config.table_name.to_ascii_lowercase().replace('_', "-")
        )
    });
    settings
        .entry("MEDIA_BUCKET".into())
        .or_insert(media_bucket);
    let get = |k: &str| settings.get(k).cloned().or_else(|| env(k));
    let media = shared::media::Media::from_lookup(&sdk, &get);
    if let Some(m) = &media {
        m.bucket
            .create()
            .await
            .map_err(|e| format!("media bucket: {e}"))?;
    }
    let credentials_prefix = settings["CREDENTIALS_PREFIX"].clone();
    let vault = || shared::vault::Vault::secrets_manager(&sdk, &credentials_prefix);
    let ownership: &'static shared::ownership::OwnershipCheck = Box::leak(Box::new(
        shared::ownership::OwnershipCheck::from_lookup(&get)?,
    ));
    let meta_config = MetaWebhookConfig::from_lookup(get)?;

    // send-message's outbox: the inbound queue, as in the template.
    let mut app = App::new(config, clients)?.with_outbox(shared::outbox::OutboxQueue::sqs(
        queue.clone(),
        queue_url.clone(),
    ));
    app.core.vault = vault();
    app.core.media = media;
    let app: &'static App = Box::leak(Box::new(app));
    // Its own vault (and cache), as a separate function would have.
    let ingest = Box::leak(Box::new(
        webhook_ingest::Ingest::new(ingest_config, queue.clone()).with_vault(vault()),
    ));
    let meta: &'static meta_webhook::MetaWebhook =
        Box::leak(Box::new(meta_webhook::MetaWebhook::new(meta_config, queue)));
    let deps: &'static Deps = Box::leak(Box::new(Deps {
        app,
        ingest,
        meta,
        ownership,
    }));
    let mut gateway = Gateway::new(deps, &template.routes())?;
    if let Some(root) = opts.web_root {
        gateway = gateway.with_web_root(root);
    }
    if let Some(tokens) = opts.dev_tokens {
        let dev = DevApi {
            tokens,
            sqs: sqs.clone(),
            queue_url: queue_url.clone(),
            clock: deps.ingest.clock.clone(),
            standin: standin.as_ref().map(|(s, _)| s.clone()).unwrap_or_default(),
        };
        gateway = gateway.with_dev_routes(dev.router());
    }
    let ws = WsHub::new(
        &app.core,
        &template.ws_routes(),
        template.ws_route_selection().as_deref(),
    )?;
    gateway = gateway.with_websocket(ws.router());
    gateway.serve(listener);
    let push = if opts.push {
        let endpoint = env("AWS_ENDPOINT_URL").ok_or("AWS_ENDPOINT_URL is not set")?;
        let reader =
            crate::streams::StreamReader::open(&dynamodb, &endpoint, &app.config.table_name)
                .await?;
        // The real management client, against the gateway's @connections.
        let sender = ManagementApi::new(&sdk, &base_url);
        let idle = get("STREAM_POLL_MS")
            .and_then(|v| v.parse().ok())
            .unwrap_or(20);
        let totals = Arc::new(Mutex::new(PushReport::default()));
        let task = crate::streams::spawn(
            reader,
            &app.core,
            sender,
            std::time::Duration::from_millis(idle),
            100,
            totals.clone(),
        );
        Some((task, totals))
    } else {
        None
    };
    let poller = opts
        .poller
        .then(|| crate::poller::spawn(sqs.clone(), queue_url.clone(), app));
    Ok(Stack {
        base_url,
        app,
        deps,
        sqs,
        queue_url,
        dlq_url,
        standin,
        table_created,
        poller,
        ws,
        push,
    })
}
