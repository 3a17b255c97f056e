//! Issue 8 item 12: secrets come from Secrets Manager at cold start (the
//! functions' own signed reads, `shared::secrets` over `shared::awsjson`,
//! against the local emulator), each function gets only the
//! secrets and permissions it needs, and no secret value is in any
//! function's environment in `template.yaml`.

use std::collections::{BTreeSet, HashMap};

use aws_config::BehaviorVersion;
use dev::template::workspace_root;
use serde_yaml::Value;
use shared::config::{Config, CoreConfig};
use shared::ingest::IngestConfig;
use shared::secrets::{SECRET_SETTINGS, SecretsError, Settings, arn_variable};

async fn sdk() -> aws_config::SdkConfig {
    crate::helpers::endpoint_or_explain();
    aws_config::defaults(BehaviorVersion::latest()).load().await
}

/// A secret in the emulator under a unique name; its ARN.
async fn put_secret(sdk: &aws_config::SdkConfig, value: &str) -> String {
    let client = aws_sdk_secretsmanager::Client::new(sdk);
    let out = client
        .create_secret()
        .name(format!("test/{}", ulid::Ulid::new()))
        .secret_string(value)
        .send()
        .await
        .expect("create secret");
    out.arn().expect("arn").to_string()
}

fn lookup(pairs: Vec<(&str, String)>) -> impl Fn(&str) -> Option<String> {
    let map: HashMap<String, String> = pairs.into_iter().map(|(k, v)| (k.into(), v)).collect();
    move |k| map.get(k).cloned()
}

#[tokio::test]
async fn when_a_function_names_its_secrets_it_should_read_them_from_secrets_manager() {
    let sdk = sdk().await;
    let jwt = "j".repeat(40);
    let jwt_arn = put_secret(&sdk, &jwt).await;
    // Pasted with its newline: the value is the token without it.
    let token_arn = put_secret(&sdk, "twilio-token-0123456789abcdef012\n").await;
    let settings = Settings::load(
        &sdk,
        shared::aws::https_connector(),
        lookup(vec![
            ("TABLE_NAME", "t".into()),
            ("TWILIO_ACCOUNT_SID", "AC123".into()),
            ("AUTH_JWT_SECRET_ARN", jwt_arn),
            ("TWILIO_AUTH_TOKEN_ARN", token_arn),
        ]),
    )
    .await
    .expect("secrets read");
    assert_eq!(settings.secrets_read(), 2);
    let config = Config::from_lookup(|n| settings.get(n)).expect("config from secrets");
    assert_eq!(config.jwt_secret, jwt);
    assert_eq!(config.twilio.password, "twilio-token-0123456789abcdef012");
    // The Debug form names the settings, never their values.
    let debug = format!("{settings:?}");
    assert!(
        debug.contains("AUTH_JWT_SECRET") && !debug.contains(&jwt),
        "{debug}"
    );
}

#[tokio::test]
async fn when_a_function_names_several_secrets_they_should_come_in_one_batch_or_one_by_one() {
    use dev::faults::{Fault, FaultProxy, Upstream};
    let sdk = sdk().await;
    let values = ["a".repeat(40), "b".repeat(32), "c".repeat(32)];
    let mut arns = Vec::new();
    for v in &values {
        arns.push(put_secret(&sdk, v).await);
    }
    let endpoint = crate::helpers::endpoint_or_explain();
    let proxy = FaultProxy::start(
        &endpoint,
        Upstream::Aws,
        std::time::Duration::from_millis(50),
    )
    .await
    .expect("proxy");
    let via_proxy = aws_config::defaults(BehaviorVersion::latest())
        .endpoint_url(&proxy.url)
        .retry_config(
            aws_config::retry::RetryConfig::standard()
                .with_initial_backoff(std::time::Duration::from_millis(5)),
        )
        .load()
        .await;
    let named = || {
        lookup(vec![
            ("AUTH_JWT_SECRET_ARN", arns[0].clone()),
            ("TWILIO_AUTH_TOKEN_ARN", arns[1].clone()),
            ("TWILIO_AUTH_TOKEN_SECONDARY_ARN", arns[2].clone()),
        ])
    };
    let check = |settings: &Settings<_>| {
        assert_eq!(settings.secrets_read(), 3);
        assert_eq!(settings.get("AUTH_JWT_SECRET").unwrap(), values[0]);
        assert_eq!(settings.get("TWILIO_AUTH_TOKEN").unwrap(), values[1]);
        assert_eq!(
            settings.get("TWILIO_AUTH_TOKEN_SECONDARY").unwrap(),
            values[2]
        );
    };

    // Three secrets: one request.
    let settings = Settings::load(&via_proxy, shared::aws::https_connector(), named())
        .await
        .expect("batch");
    check(&settings);
    assert_eq!(proxy.count("BatchGetSecretValue"), 1);
    assert_eq!(proxy.count("GetSecretValue"), 0);

    // The batch refused on every attempt (as without the IAM action): each
    // secret is read on its own, the values are the same.
    for nth in 1..=3 {
        proxy.inject("BatchGetSecretValue", nth, Fault::ServerError);
    }
    let settings = Settings::load(&via_proxy, shared::aws::https_connector(), named())
        .await
        .expect("one by one");
    check(&settings);
    assert_eq!(
        proxy.count("BatchGetSecretValue"),
        4,
        "3 attempts, then given up"
    );
    assert_eq!(proxy.count("GetSecretValue"), 3);
    assert_eq!(proxy.take_unfired(), 0);
}

#[tokio::test]
async fn when_the_environment_sets_a_secret_it_should_win_and_nothing_should_be_read() {
    let sdk = sdk().await;
    let jwt = "e".repeat(32);
    // The ARN names no secret: reading it would fail the load.
    let missing = "arn:aws:secretsmanager:us-east-1:123456789012:secret:no-such-secret-AbCdEf";
    let settings = Settings::load(
        &sdk,
        shared::aws::https_connector(),
        lookup(vec![
            ("TABLE_NAME", "t".into()),
            ("AUTH_JWT_SECRET", jwt.clone()),
            ("AUTH_JWT_SECRET_ARN", missing.into()),
        ]),
    )
    .await
    .expect("nothing read");
    assert_eq!(settings.secrets_read(), 0);
    assert_eq!(
        CoreConfig::from_lookup(|n| settings.get(n))
            .unwrap()
            .jwt_secret,
        jwt
    );
}

#[tokio::test]
async fn when_a_named_secret_is_missing_or_empty_the_function_should_not_start() {
    let sdk = sdk().await;
    let missing = "arn:aws:secretsmanager:us-east-1:123456789012:secret:gone-AbCdEf";
    let real_arn = put_secret(&sdk, &"k".repeat(32)).await;
    let err = Settings::load(
        &sdk,
        shared::aws::https_connector(),
        lookup(vec![
            ("AUTH_JWT_SECRET_ARN", real_arn),
            ("TWILIO_AUTH_TOKEN_ARN", missing.into()),
        ]),
    )
    .await
    .expect_err("a missing secret stops the start");
    let text = err.to_string();
    assert!(matches!(err, SecretsError::Unreadable { .. }), "{text}");
    assert!(
        text.contains("TWILIO_AUTH_TOKEN") && text.contains(missing),
        "{text}"
    );
    assert!(
        !text.contains(&"k".repeat(32)),
        "no value in errors: {text}"
    );

    let blank = put_secret(&sdk, "  \n").await;
    let err = Settings::load(
        &sdk,
        shared::aws::https_connector(),
        lookup(vec![("BOOKINGS_KEY_ARN", blank)]),
    )
    .await
    .expect_err("an empty secret stops the start");
    assert!(matches!(err, SecretsError::Empty { .. }), "{err}");
}

#[tokio::test]
async fn when_the_webhook_function_starts_its_auth_tokens_should_come_from_secrets_manager() {
    let sdk = sdk().await;
    let primary = put_secret(&sdk, "primary-token-0123456789abcdef01").await;
    let secondary = put_secret(&sdk, "next-token-0123456789abcdef01234").await;
    let settings = Settings::load(
        &sdk,
        shared::aws::https_connector(),
        lookup(vec![
            ("PUBLIC_BASE_URL", "https://api.example.com/prod".into()),
            ("QUEUE_URL", "https://sqs.example/q".into()),
            ("TWILIO_AUTH_TOKEN_ARN", primary),
            ("TWILIO_AUTH_TOKEN_SECONDARY_ARN", secondary),
        ]),
    )
    .await
    .unwrap();
    let ingest = IngestConfig::from_lookup(|n| settings.get(n)).unwrap();
    assert_eq!(
        ingest.auth_tokens,
        [
            "primary-token-0123456789abcdef01",
            "next-token-0123456789abcdef01234"
        ]
    );
    // Without the token (neither set nor named), the webhook refuses to start.
    let none = Settings::load(
        &sdk,
        shared::aws::https_connector(),
        lookup(vec![
            ("PUBLIC_BASE_URL", "https://api.example.com/prod".into()),
            ("QUEUE_URL", "https://sqs.example/q".into()),
        ]),
    )
    .await
    .unwrap();
    let err = IngestConfig::from_lookup(|n| none.get(n)).unwrap_err();
    assert!(err.to_string().contains("TWILIO_AUTH_TOKEN"), "{err}");
}

// ---- template.yaml: which function gets which secret ----

fn template() -> Value {
    let text = std::fs::read_to_string(workspace_root().join("template.yaml")).unwrap();
    serde_yaml::from_str(&text).unwrap()
}

/// Every logical id a value refers to with `!Ref` (in `!If` branches too).
fn refs(v: &Value, out: &mut BTreeSet<String>) {
    match v {
        Value::Tagged(t) if t.tag == "!Ref" => {
            if let Some(s) = t.value.as_str() {
                out.insert(s.to_string());
            }
        }
        Value::Tagged(t) => refs(&t.value, out),
        Value::Sequence(items) => items.iter().for_each(|i| refs(i, out)),
        Value::Mapping(m) => m.values().for_each(|i| refs(i, out)),
        _ => {}
    }
}

/// Per function binary: the secret resources its environment names and the
/// ones its policies let it read.
fn secrets_per_function() -> HashMap<String, (BTreeSet<String>, BTreeSet<String>)> {
    let doc = template();
    let resources = doc["Resources"].as_mapping().unwrap();
    let secret_ids: BTreeSet<String> = resources
        .iter()
        .filter(|(_, r)| r["Type"].as_str() == Some("AWS::SecretsManager::Secret"))
        .map(|(k, _)| k.as_str().unwrap().to_string())
        .collect();
    assert!(secret_ids.contains("JwtSecret"), "{secret_ids:?}");
    let mut out = HashMap::new();
    for (_, r) in resources {
        if r["Type"].as_str() != Some("AWS::Serverless::Function") {
            continue;
        }
        let binary = r["Metadata"]["BuildProperties"]["Binary"]
            .as_str()
            .unwrap()
            .to_string();
        let mut named = BTreeSet::new();
        if let Some(vars) = r["Properties"]["Environment"]["Variables"].as_mapping() {
            for (k, v) in vars {
                let k = k.as_str().unwrap();
                assert!(
                    !SECRET_SETTINGS.contains(&k),
                    "{binary}: secret {k} in plain environment"
                );
                if k.ends_with("_ARN") {
                    refs(v, &mut named);
                }
            }
        }
        let mut readable = BTreeSet::new();
        for p in r["Properties"]["Policies"]
            .as_sequence()
            .into_iter()
            .flatten()
        {
            let text = serde_yaml::to_string(p).unwrap();
            if text.contains("secretsmanager:GetSecretValue") {
                refs(p, &mut readable);
            }
        }
        named.retain(|id| secret_ids.contains(id));
        readable.retain(|id| secret_ids.contains(id));
        out.insert(binary, (named, readable));
    }
    out
}

#[test]
fn when_reading_the_template_no_secret_should_be_in_any_functions_environment() {
    let globals = template()["Globals"]["Function"]["Environment"]["Variables"].clone();
    for name in SECRET_SETTINGS {
        assert!(globals.get(name).is_none(), "{name} in Globals");
        assert!(
            globals.get(arn_variable(name)).is_none(),
            "{name}'s ARN in Globals: every function would get it"
        );
    }
    // Checked per function inside.
    assert!(secrets_per_function().len() >= 19);
}

#[test]
fn when_reading_the_template_a_function_with_several_secrets_may_batch_them_and_nothing_more() {
    let resources = template()["Resources"].clone();
    let mut batching = 0;
    for (name, r) in resources.as_mapping().unwrap() {
        if r["Type"].as_str() != Some("AWS::Serverless::Function") {
            continue;
        }
        let name = name.as_str().unwrap();
        let arns = r["Properties"]["Environment"]["Variables"]
            .as_mapping()
            .map_or(0, |vars| {
                vars.keys()
                    .filter(|k| k.as_str().is_some_and(|k| k.ends_with("_ARN")))
                    .count()
            });
        let mut batch = false;
        for p in r["Properties"]["Policies"]
            .as_sequence()
            .into_iter()
            .flatten()
        {
            for st in p["Statement"].as_sequence().into_iter().flatten() {
                if st["Resource"].as_str() == Some("*") {
                    // The one action granted on every resource: it reads
                    // nothing GetSecretValue does not also allow.
                    assert_eq!(
                        st["Action"].as_str(),
                        Some("secretsmanager:BatchGetSecretValue"),
                        "{name}: {st:?}"
                    );
                    batch = true;
                }
            }
        }
        assert_eq!(batch, arns >= 2, "{name}: {arns} secret ARNs");
        batching += usize::from(batch);
    }
    assert!(batching >= 9, "{batching}");
}

#[test]
fn when_reading_the_template_each_function_should_read_only_the_secrets_it_uses() {
    let per = secrets_per_function();
    let set = |ids: &[&str]| ids.iter().map(|s| s.to_string()).collect::<BTreeSet<_>>();
    let twilio_rest = set(&[
        "JwtSecret",
        "TwilioAuthTokenSecret",
        "TwilioApiKeySecretSecret",
    ]);
    let expected: HashMap<&str, BTreeSet<String>> = HashMap::from([
        ("create-conversation", {
            let mut s = twilio_rest.clone();
            s.insert("BookingsKeySecret".into());
            s
        }),
        ("send-message", twilio_rest.clone()),
        ("mark-as-read", twilio_rest.clone()),
        ("send-typing", twilio_rest.clone()),
        ("manage-participants", twilio_rest.clone()),
        ("update-conversation", twilio_rest.clone()),
        ("list-conversations", set(&["JwtSecret"])),
        ("get-conversation", set(&["JwtSecret"])),
        ("get-messages", set(&["JwtSecret"])),
        ("unread-count", set(&["JwtSecret"])),
        ("provider-stats", set(&["JwtSecret"])),
        ("manage-chat-accounts", set(&["JwtSecret"])),
        ("ws-connect", set(&["JwtSecret"])),
        (
            "webhook-ingest",
            set(&["TwilioAuthTokenSecret", "TwilioAuthTokenSecondarySecret"]),
        ),
        (
            "meta-webhook",
            set(&[
                "MetaAppSecretSecret",
                "MetaAppSecretSecondarySecret",
                "MetaVerifyTokenSecret",
            ]),
        ),
        // Media of the environment's account: its REST credential only.
        (
            "process-inbound",
            set(&["TwilioAuthTokenSecret", "TwilioApiKeySecretSecret"]),
        ),
        // These never verify a token nor call Twilio: no secret at all.
        ("push", set(&[])),
        ("ws-disconnect", set(&[])),
        ("ws-default", set(&[])),
        ("ws-ping", set(&[])),
    ]);
    for (binary, (named, readable)) in &per {
        let want = expected
            .get(binary.as_str())
            .unwrap_or_else(|| panic!("{binary}: not in this test's table"));
        assert_eq!(named, want, "{binary}: secrets named in its environment");
        assert_eq!(readable, want, "{binary}: secrets its policies may read");
    }
    assert_eq!(per.len(), expected.len());
}

/// The text of a `!Sub` (or plain) string value.
fn sub_text(v: &Value) -> Option<String> {
    match v {
        Value::Tagged(t) if t.tag == "!Sub" => t.value.as_str().map(str::to_string),
        Value::String(s) => Some(s.clone()),
        _ => None,
    }
}

/// Issue 11 part 3: the orgs' credentials (`shared::vault`: Twilio
/// accounts under `twilio/`, Meta tokens under `meta/`) are reachable only
/// by the functions that use them, with only the actions they need, under
/// the very prefix their environment names: the webhook only Twilio
/// accounts' (it verifies their signatures), replies and registration both.
#[test]
fn when_reading_the_template_only_the_functions_using_org_credentials_should_reach_them() {
    let doc = template();
    let mut per: HashMap<String, (BTreeSet<String>, BTreeSet<String>)> = HashMap::new();
    for (_, r) in doc["Resources"].as_mapping().unwrap() {
        if r["Type"].as_str() != Some("AWS::Serverless::Function") {
            continue;
        }
        let binary = r["Metadata"]["BuildProperties"]["Binary"]
            .as_str()
            .unwrap()
            .to_string();
        let prefix = r["Properties"]["Environment"]["Variables"]
            .get("CREDENTIALS_PREFIX")
            .and_then(sub_text);
        let mut actions = BTreeSet::new();
        let mut scopes = BTreeSet::new();
        for p in r["Properties"]["Policies"]
            .as_sequence()
            .into_iter()
            .flatten()
        {
            for st in p["Statement"].as_sequence().into_iter().flatten() {
                let Some(resource) = sub_text(&st["Resource"]) else {
                    continue;
                };
                if !resource.contains("chat-credentials") {
                    continue;
                }
                let prefix = prefix
                    .as_deref()
                    .unwrap_or_else(|| panic!("{binary}: may read credentials it cannot name"));
                let scope = resource
                    .strip_prefix(&format!(
                        "arn:${{AWS::Partition}}:secretsmanager:${{AWS::Region}}:${{AWS::AccountId}}:secret:{prefix}"
                    ))
                    .unwrap_or_else(|| panic!("{binary}: {resource} is not under {prefix}"));
                scopes.insert(scope.to_string());
                match &st["Action"] {
                    Value::String(a) => {
                        actions.insert(a.clone());
                    }
                    Value::Sequence(list) => {
                        actions.extend(list.iter().filter_map(|a| a.as_str().map(str::to_string)))
                    }
                    other => panic!("{binary}: {other:?}"),
                }
            }
        }
        assert!(
            prefix.is_none() || !actions.is_empty(),
            "{binary}: names the credential store without access to it"
        );
        per.insert(binary, (actions, scopes));
    }
    let set = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<BTreeSet<_>>();
    let read = set(&["secretsmanager:GetSecretValue"]);
    for (binary, got) in &per {
        let want = match binary.as_str() {
            "webhook-ingest" => (read.clone(), set(&["twilio/*"])),
            // process-inbound: media, fetched as the number's account.
            "send-message" | "create-conversation" | "send-typing" | "process-inbound" => {
                (read.clone(), set(&["*"]))
            }
            // Read receipts: Meta tokens only (Twilio marks read by typing).
            "mark-as-read" => (read.clone(), set(&["meta/*"])),
            "manage-chat-accounts" => (
                set(&[
                    "secretsmanager:GetSecretValue",
                    "secretsmanager:CreateSecret",
                    "secretsmanager:PutSecretValue",
                    "secretsmanager:TagResource",
                    "secretsmanager:DeleteSecret",
                ]),
                set(&["*"]),
            ),
            _ => (BTreeSet::new(), BTreeSet::new()),
        };
        assert_eq!(got, &want, "{binary}: (actions, secret names)");
    }
}

/// What a deployed function builds at cold start from its settings: the
/// credential store and the media bucket when the template names them
/// (`CREDENTIALS_PREFIX`, `MEDIA_BUCKET`), neither otherwise — for the
/// functions with and without tokens alike (`process-inbound` keeps media).
#[tokio::test]
async fn when_a_function_starts_with_the_templates_settings_it_should_have_the_vault_and_media() {
    let sdk = sdk().await;
    let base = || {
        vec![
            ("TABLE_NAME", "t".to_string()),
            (
                "AUTH_JWT_SECRET",
                "0123456789abcdef0123456789abcdef".to_string(),
            ),
        ]
    };
    let mut full = base();
    full.push(("CREDENTIALS_PREFIX", "stack/chat-credentials/".into()));
    full.push(("MEDIA_BUCKET", "stack-media".into()));
    for tokens in [true, false] {
        for (pairs, stores) in [(full.clone(), true), (base(), false)] {
            let settings = Settings::load(&sdk, shared::aws::https_connector(), lookup(pairs))
                .await
                .unwrap();
            let core = shared::Core::from_settings(
                &sdk,
                shared::aws::https_connector(),
                &|n| settings.get(n),
                tokens,
            )
            .unwrap();
            assert_eq!(core.vault.is_enabled(), stores, "tokens: {tokens}");
            assert_eq!(core.media.is_some(), stores, "tokens: {tokens}");
        }
    }
}
