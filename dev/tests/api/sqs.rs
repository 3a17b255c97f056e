//! `shared::sqs::Queue`, the functions' `SendMessage` without the SQS SDK:
//! against moto (the message arrives verbatim), moto with IAM checks on
//! (botocore's own SigV4 check accepts our signature, refuses a wrong
//! secret; the same for `shared::dynamo`'s hand-made DynamoDB calls), the
//! fault proxy (what is retried and what is not), and the SQS SDK's own
//! endpoint resolver.

use std::time::Duration;

use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_sdk_dynamodb::types::AttributeValue;
use dev::faults::Fault;
use shared::sqs::{Queue, SqsError};

use crate::helpers::{aws_proxy, endpoint_or_explain};

fn queue(sdk: &SdkConfig) -> Queue {
    Queue::new(sdk, shared::aws::https_connector()).unwrap()
}

async fn sdk_at(endpoint: &str) -> SdkConfig {
    aws_config::defaults(BehaviorVersion::latest())
        .endpoint_url(endpoint)
        .retry_config(
            aws_config::retry::RetryConfig::standard()
                .with_initial_backoff(Duration::from_millis(10)),
        )
        .load()
        .await
}

/// A new, empty queue on the emulator.
pub(crate) async fn new_queue(sqs: &aws_sdk_sqs::Client) -> String {
    sqs.create_queue()
        .queue_name(format!("sqs-test-{}", ulid::Ulid::new()))
        .send()
        .await
        .unwrap()
        .queue_url
        .unwrap()
}

/// Every message body on the queue now (received, not deleted).
pub(crate) async fn received(sqs: &aws_sdk_sqs::Client, queue_url: &str) -> Vec<String> {
    let mut out = Vec::new();
    loop {
        let got = sqs
            .receive_message()
            .queue_url(queue_url)
            .max_number_of_messages(10)
            .send()
            .await
            .unwrap();
        let batch = got.messages.unwrap_or_default();
        if batch.is_empty() {
            return out;
        }
        out.extend(batch.into_iter().filter_map(|m| m.body));
    }
}

#[tokio::test]
async fn when_a_message_is_sent_it_should_arrive_verbatim_with_the_id_sqs_gave_it() {
    let sdk = sdk_at(&endpoint_or_explain()).await;
    let sqs = aws_sdk_sqs::Client::new(&sdk);
    let url = new_queue(&sqs).await;
    let q = queue(&sdk);
    // JSON, quotes, non-ASCII, a newline: the body is JSON-escaped once.
    let body = "{\"v\":1,\"text\":\"caf\u{e9} \\\"quoted\\\"\\n\u{1f44b}\"}";
    let sent = q.send(&url, body).await.unwrap();
    assert!(!sent.message_id.is_empty());
    let got = sqs
        .receive_message()
        .queue_url(&url)
        .send()
        .await
        .unwrap()
        .messages
        .unwrap();
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].body.as_deref(), Some(body));
    assert_eq!(got[0].message_id.as_deref(), Some(sent.message_id.as_str()));
}

#[tokio::test]
async fn when_the_queue_does_not_exist_it_should_fail_once_without_retrying() {
    let endpoint = endpoint_or_explain();
    let proxy = aws_proxy(&endpoint).await;
    let q = queue(&sdk_at(&proxy.url).await);
    let missing = format!(
        "{}/123456789012/no-such-queue-{}",
        endpoint.trim_end_matches('/'),
        ulid::Ulid::new()
    );
    let err = q.send(&missing, "x").await.unwrap_err();
    match &err {
        SqsError::Service { status, code, .. } => {
            assert_eq!(*status, 400, "{err}");
            assert!(code.contains("NonExistentQueue"), "{err}");
        }
        other => panic!("unexpected {other:?}"),
    }
    assert!(!err.is_transient());
    assert_eq!(proxy.count("SendMessage"), 1, "not retried");
}

#[tokio::test]
async fn when_sqs_fails_transiently_it_should_retry_and_deliver_one_message() {
    let endpoint = endpoint_or_explain();
    let admin = aws_sdk_sqs::Client::new(&sdk_at(&endpoint).await);
    for fault in [
        Fault::Throttle,
        Fault::ServerError,
        Fault::ResetBefore,
        Fault::TimeoutBefore,
    ] {
        let url = new_queue(&admin).await;
        let proxy = aws_proxy(&endpoint).await;
        let mut sdk = sdk_at(&proxy.url).await.into_builder();
        // A held answer is abandoned after the attempt timeout.
        sdk.set_timeout_config(Some(
            aws_config::timeout::TimeoutConfig::builder()
                .operation_attempt_timeout(Duration::from_millis(1500))
                .build(),
        ));
        let q = queue(&sdk.build());
        proxy.inject("SendMessage", 1, fault);
        let body = format!("after {fault:?}");
        q.send(&url, &body)
            .await
            .unwrap_or_else(|e| panic!("{fault:?}: {e}"));
        assert_eq!(proxy.count("SendMessage"), 2, "{fault:?}: one retry");
        assert_eq!(proxy.take_unfired(), 0);
        assert_eq!(received(&admin, &url).await, [body], "{fault:?}");
    }
}

#[tokio::test]
async fn when_sqs_throttles_every_attempt_it_should_give_up_after_the_configured_attempts() {
    let endpoint = endpoint_or_explain();
    let admin = aws_sdk_sqs::Client::new(&sdk_at(&endpoint).await);
    let url = new_queue(&admin).await;
    let proxy = aws_proxy(&endpoint).await;
    let q = queue(&sdk_at(&proxy.url).await);
    assert_eq!(q.retry().max_attempts, 3);
    for n in 1..=3 {
        proxy.inject("SendMessage", n, Fault::Throttle);
    }
    let err = q.send(&url, "never").await.unwrap_err();
    assert!(err.is_transient(), "{err}");
    assert!(err.to_string().contains("Throttling"), "{err}");
    assert_eq!(proxy.count("SendMessage"), 3);
    assert!(received(&admin, &url).await.is_empty());
}

/// A moto server of its own with IAM checks on after the first
/// `unauthenticated` requests (`INITIAL_NO_AUTH_ACTION_COUNT`): every later
/// request's SigV4 signature is recomputed by botocore and compared.
struct AuthMoto {
    url: String,
    pid: String,
}

impl AuthMoto {
    fn start(unauthenticated: u32) -> Self {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let dir = root.join(".local");
        std::fs::create_dir_all(&dir).unwrap();
        let pid = dir.join(format!("moto-auth-{port}.pid"));
        let log = dir.join(format!("moto-auth-{port}.log"));
        let status = std::process::Command::new(root.join("scripts/moto.sh"))
            .current_dir(&root)
            .env("INITIAL_NO_AUTH_ACTION_COUNT", unauthenticated.to_string())
            .arg(port.to_string())
            .arg(&pid)
            .arg(&log)
            .status()
            .unwrap();
        assert!(status.success(), "moto with IAM checks did not start");
        Self {
            url: format!("http://127.0.0.1:{port}"),
            pid: std::fs::read_to_string(pid).unwrap().trim().to_string(),
        }
    }
}

impl Drop for AuthMoto {
    fn drop(&mut self) {
        let _ = std::process::Command::new("kill").arg(&self.pid).status();
    }
}

fn sdk_with_key(endpoint: &str, key: &str, secret: &str) -> SdkConfig {
    SdkConfig::builder()
        .endpoint_url(endpoint)
        .region(Region::new("us-east-1"))
        .credentials_provider(aws_sdk_sqs::config::SharedCredentialsProvider::new(
            aws_sdk_sqs::config::Credentials::new(key, secret, None, None, "test"),
        ))
        .behavior_version(BehaviorVersion::latest())
        .build()
}

#[tokio::test]
async fn when_sqs_checks_signatures_it_should_accept_ours_and_refuse_a_wrong_secret() {
    // Three unauthenticated requests: the user, its key, its policy.
    let moto = AuthMoto::start(3);
    let iam_call = |action: &str, extra: &[(&str, &str)]| {
        let mut form = vec![("Action", action), ("Version", "2010-05-08")];
        form.extend_from_slice(extra);
        form.into_iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect::<Vec<_>>()
    };
    // IAM through plain form posts (no IAM SDK in the tree); unsigned is
    // fine while moto does not check yet.
    let http = reqwest::Client::new();
    let post = |form: Vec<(String, String)>| {
        http.post(format!("{}/", moto.url))
            .header(
                "authorization",
                "AWS4-HMAC-SHA256 Credential=test/20260101/us-east-1/iam/aws4_request, SignedHeaders=host, Signature=0",
            )
            .form(&form)
            .send()
    };
    let ok = |r: reqwest::Response| {
        assert!(r.status().is_success(), "{}", r.status());
        r
    };
    ok(post(iam_call("CreateUser", &[("UserName", "sender")]))
        .await
        .unwrap());
    let key_xml = ok(post(iam_call("CreateAccessKey", &[("UserName", "sender")]))
        .await
        .unwrap())
    .text()
    .await
    .unwrap();
    let tag = |t: &str| {
        let start = key_xml.find(&format!("<{t}>")).unwrap() + t.len() + 2;
        key_xml[start..start + key_xml[start..].find('<').unwrap()].to_string()
    };
    let (key, secret) = (tag("AccessKeyId"), tag("SecretAccessKey"));
    let policy = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":["sqs:*","dynamodb:*"],"Resource":"*"}]}"#;
    ok(post(iam_call(
        "PutUserPolicy",
        &[
            ("UserName", "sender"),
            ("PolicyName", "sqs-and-dynamodb"),
            ("PolicyDocument", policy),
        ],
    ))
    .await
    .unwrap());

    let signed = sdk_with_key(&moto.url, &key, &secret);
    let admin = aws_sdk_sqs::Client::new(&signed);
    let url = new_queue(&admin).await;
    let sent = queue(&signed).send(&url, "signed by us").await.unwrap();
    assert!(!sent.message_id.is_empty());
    assert_eq!(received(&admin, &url).await, ["signed by us"]);

    let mut wrong = secret.clone();
    wrong.replace_range(0..1, if secret.starts_with('x') { "y" } else { "x" });
    let err = queue(&sdk_with_key(&moto.url, &key, &wrong))
        .send(&url, "forged")
        .await
        .unwrap_err();
    match &err {
        SqsError::Service { status, code, .. } => {
            assert_eq!(
                (*status, code.as_str()),
                (403, "SignatureDoesNotMatch"),
                "{err}"
            );
        }
        other => panic!("unexpected {other:?}"),
    }
    assert!(!err.is_transient());
    assert!(received(&admin, &url).await.is_empty());

    // DynamoDB's hand-made calls, signed the same way, on a table the
    // SDK's client (signed too) creates.
    let connector = shared::aws::https_connector();
    let with_client = |sdk: SdkConfig| {
        let c = connector.clone();
        sdk.into_builder()
            .http_client(aws_smithy_runtime_api::client::http::http_client_fn(
                move |_, _| c.clone().into(),
            ))
            .build()
    };
    let signed = with_client(signed);
    let tables = dev::template::Template::load_default().unwrap();
    dev::setup::ensure_table(
        &aws_sdk_dynamodb::Client::new(&signed),
        "signed-table",
        &tables.table().unwrap(),
    )
    .await
    .unwrap();
    let item = std::collections::HashMap::from([
        ("PK".to_string(), AttributeValue::S("signed".into())),
        ("SK".to_string(), AttributeValue::S("#X".into())),
    ]);
    let wire = shared::dynamo::Dynamo::new(&signed, connector.clone()).unwrap();
    wire.put_item("signed-table", &item, None).await.unwrap();
    assert_eq!(
        wire.get_item("signed-table", &item, true).await.unwrap(),
        Some(item.clone())
    );
    let forged = shared::dynamo::Dynamo::new(
        &with_client(sdk_with_key(&moto.url, &key, &wrong)),
        connector,
    )
    .unwrap();
    let err = forged
        .get_item("signed-table", &item, true)
        .await
        .unwrap_err();
    match &err {
        SqsError::Service { status, .. } => assert!((400..500).contains(status), "{err}"),
        other => panic!("unexpected {other:?}"),
    }
    assert!(!err.is_transient(), "{err}");
}

/// The endpoint the functions call without `AWS_ENDPOINT_URL` is the one
/// the SQS SDK's own rules give, in every partition and mode.
#[tokio::test]
async fn when_no_endpoint_is_configured_it_should_match_the_sqs_sdk_resolver() {
    use aws_sdk_sqs::config::endpoint::{DefaultResolver, Params, ResolveEndpoint};
    if std::env::var_os("AWS_ENDPOINT_URL_SQS").is_some() {
        return;
    }
    let regions = [
        "us-east-1",
        "eu-west-1",
        "ap-southeast-2",
        "il-central-1",
        "cn-north-1",
        "cn-northwest-1",
        "us-gov-west-1",
        "us-iso-east-1",
        "us-isob-east-1",
        "eu-isoe-west-1",
        "us-isof-south-1",
        "eusc-de-east-1",
    ];
    let mut compared = 0;
    for region in regions {
        for (fips, dual) in [(false, false), (true, false), (false, true), (true, true)] {
            let params = Params::builder()
                .region(region)
                .use_fips(fips)
                .use_dual_stack(dual)
                .build()
                .unwrap();
            let Ok(want) = DefaultResolver::new().resolve_endpoint(&params).await else {
                // A mode the partition does not offer.
                continue;
            };
            let sdk = SdkConfig::builder()
                .region(Region::new(region))
                .use_fips(fips)
                .use_dual_stack(dual)
                .behavior_version(BehaviorVersion::latest())
                .build();
            assert_eq!(
                shared::sqs::endpoint(&sdk).unwrap(),
                want.url(),
                "{region} fips={fips} dual={dual}"
            );
            compared += 1;
        }
    }
    assert!(compared >= 40, "only {compared} cases resolved");
}
