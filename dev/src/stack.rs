//! Start the whole local system in-process: table from the template, the
//! Twilio stand-in (unless real Twilio is configured), the gateway.

use aws_config::BehaviorVersion;
use shared::App;
use shared::config::Config;
use std::collections::HashMap;

use crate::gateway::Gateway;
use crate::setup::ensure_table;
use crate::standin::StandIn;
use crate::template::Template;

pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

pub struct StackOptions {
    /// Address the gateway binds (`127.0.0.1:0` for any free port).
    pub gateway_addr: String,
    /// Address for the Twilio stand-in, or `None` to use configured Twilio.
    pub standin_addr: Option<String>,
    /// Settings that win over the environment (tests use these).
    pub overrides: HashMap<String, String>,
    /// A DynamoDB client to use instead of one built from the environment.
    pub dynamodb: Option<aws_sdk_dynamodb::Client>,
}

pub struct Stack {
    pub base_url: String,
    pub app: &'static App,
    pub standin: Option<(StandIn, String)>,
    pub table_created: bool,
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
            let s = StandIn::default();
            let url = s.serve(addr).await?;
            settings.insert("TWILIO_ACCOUNT_SID".into(), s.account_sid().into());
            settings.insert("TWILIO_AUTH_TOKEN".into(), s.auth_token().into());
            settings.insert("TWILIO_CONVERSATIONS_BASE_URL".into(), url.clone());
            settings.insert("TWILIO_API_BASE_URL".into(), url.clone());
            Some((s, url))
        }
        _ => None,
    };
    let get = |k: &str| settings.get(k).cloned().or_else(|| env(k));
    let config = Config::from_lookup(get)?;
    let dynamodb = match opts.dynamodb {
        Some(c) => c,
        None => {
            let sdk = aws_config::defaults(BehaviorVersion::latest()).load().await;
            aws_sdk_dynamodb::Client::new(&sdk)
        }
    };
    let template = Template::load_default()?;
    let table_created = ensure_table(&dynamodb, &config.table_name, &template.table()?).await?;
    let app: &'static App = Box::leak(Box::new(App::new(config, dynamodb)?));
    let gateway = Gateway::new(app, &template.routes())?;
    let base_url = gateway.serve(&opts.gateway_addr).await?;
    Ok(Stack {
        base_url,
        app,
        standin,
        table_created,
    })
}
