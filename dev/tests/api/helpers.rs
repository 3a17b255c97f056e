//! `spawn_app`: a fresh table on the local DynamoDB emulator, a Twilio
//! stand-in and the gateway over the linked handlers, all on free ports.

use aws_config::BehaviorVersion;
use aws_sdk_dynamodb::config::interceptors::BeforeTransmitInterceptorContextRef;
use aws_sdk_dynamodb::config::{ConfigBag, Intercept, RuntimeComponents};
use dev::bookings::BookingDirectoryStandIn;
use dev::faults::{FaultProxy, Upstream};
use dev::stack::{self, StackOptions};
use dev::standin::StandIn;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use shared::App;
use shared::auth::{Caller, UserType, issue_token};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

pub const SECRET: &str = "integration-test-secret-0123456789";

/// Counts DynamoDB requests by operation (`x-amz-target`).
#[derive(Clone, Debug, Default)]
pub struct DynamoCounter(Arc<Mutex<Vec<String>>>);

impl Intercept for DynamoCounter {
    fn name(&self) -> &'static str {
        "DynamoCounter"
    }
    fn read_before_transmit(
        &self,
        ctx: &BeforeTransmitInterceptorContextRef<'_>,
        _rc: &RuntimeComponents,
        _cfg: &mut ConfigBag,
    ) -> Result<(), aws_sdk_dynamodb::error::BoxError> {
        self.record(ctx.request().headers().get("x-amz-target"));
        Ok(())
    }
}

impl DynamoCounter {
    pub fn take(&self) -> Vec<String> {
        std::mem::take(&mut *self.0.lock().unwrap())
    }

    fn record(&self, target: Option<&str>) {
        let op = target.and_then(|t| t.split('.').nth(1)).unwrap_or("?");
        self.0.lock().unwrap().push(op.to_string());
    }
}

/// Counts the store's hand-made DynamoDB calls (`shared::dynamo`) into a
/// [`DynamoCounter`], as the interceptor counts the SDK client's.
#[derive(Debug)]
struct CountingConnector {
    inner: aws_smithy_runtime_api::client::http::SharedHttpConnector,
    counter: DynamoCounter,
}

impl aws_smithy_runtime_api::client::http::HttpConnector for CountingConnector {
    fn call(
        &self,
        request: aws_smithy_runtime_api::client::orchestrator::HttpRequest,
    ) -> aws_smithy_runtime_api::client::http::HttpConnectorFuture {
        self.counter.record(request.headers().get("x-amz-target"));
        self.inner.call(request)
    }
}

pub struct TestApp {
    pub base: String,
    pub http: reqwest::Client,
    pub app: &'static App,
    pub deps: &'static dev::gateway::Deps,
    pub sqs: aws_sdk_sqs::Client,
    pub queue_url: String,
    pub dlq_url: String,
    pub standin: StandIn,
    pub dynamo: DynamoCounter,
    /// The booking directory stand-in (`BOOKINGS_URL`); by default every
    /// booking not seeded is `cust_1`'s with `prov_1`.
    pub bookings: BookingDirectoryStandIn,
    /// The local WebSocket API (`/ws`, `@connections`).
    pub ws: std::sync::Arc<dev::websocket::WsHub>,
    /// What the stream poller pushed, when it runs (`spawn_app_push`).
    pub pushed: Option<std::sync::Arc<std::sync::Mutex<shared::push::deliver::PushReport>>>,
    /// Meta's Graph API stand-in (`META_GRAPH_BASE_URL`), signing its
    /// webhooks to `/webhooks/meta` with the dev app secret.
    pub meta: dev::meta_standin::MetaStandIn,
}

pub fn endpoint_or_explain() -> String {
    std::env::var("AWS_ENDPOINT_URL").unwrap_or_else(|_| {
        panic!(
            "AWS_ENDPOINT_URL is not set: these tests need the local DynamoDB/SQS emulator. \
             Run them with `make test`, which starts it."
        )
    })
}

/// A fault proxy in front of the emulator (50 ms holds), for tests that
/// count or break AWS requests.
pub async fn aws_proxy(endpoint: &str) -> dev::faults::FaultProxy {
    dev::faults::FaultProxy::start(
        endpoint,
        dev::faults::Upstream::Aws,
        std::time::Duration::from_millis(50),
    )
    .await
    .expect("fault proxy")
}

pub async fn spawn_app() -> TestApp {
    spawn_app_with(&[]).await
}

pub async fn spawn_app_with(extra: &[(&str, &str)]) -> TestApp {
    spawn_app_opts(extra, true).await
}

/// A stack without a booking directory: only service tokens open booking
/// chats there.
pub async fn spawn_app_without_directory() -> TestApp {
    spawn_app_opts(&[], false).await
}

pub async fn spawn_app_opts(extra: &[(&str, &str)], directory: bool) -> TestApp {
    spawn_app_inner(extra, directory, None, false).await.0
}

/// A stack whose table stream feeds the `push` function (the DynamoDB
/// Streams poller runs), for the real-time tests.
pub async fn spawn_app_push() -> TestApp {
    spawn_app_inner(&[], true, None, true).await.0
}

/// The fault-injecting proxies of [`spawn_app_with_faults`]: `aws` in
/// front of the emulator (every DynamoDB and SQS request of the stack),
/// `twilio` in front of the stand-in.
pub struct Faults {
    pub aws: FaultProxy,
    pub twilio: FaultProxy,
}

/// A stack whose AWS SDK clients and Twilio client go through
/// fault-injecting proxies; timeouts hold a connection for `hold`.
pub async fn spawn_app_with_faults(extra: &[(&str, &str)], hold: Duration) -> (TestApp, Faults) {
    let (t, f) = spawn_app_inner(extra, true, Some(hold), false).await;
    (t, f.expect("proxies"))
}

async fn spawn_app_inner(
    extra: &[(&str, &str)],
    directory: bool,
    faults: Option<Duration>,
    push: bool,
) -> (TestApp, Option<Faults>) {
    let endpoint = endpoint_or_explain();
    let bookings = BookingDirectoryStandIn::default();
    bookings.set_fallback("cust_1", "prov_1");
    let bookings_url = bookings.serve("127.0.0.1:0").await.expect("directory");
    let standin = StandIn::default();
    let mut twilio = standin.serve("127.0.0.1:0").await.expect("stand-in");
    let mut proxies = None;
    if let Some(hold) = faults {
        let aws = FaultProxy::start(&endpoint, Upstream::Aws, hold)
            .await
            .expect("AWS proxy");
        let tw = FaultProxy::start(&twilio, Upstream::Twilio, hold)
            .await
            .expect("Twilio proxy");
        twilio = tw.url.clone();
        proxies = Some(Faults { aws, twilio: tw });
    }
    let meta = dev::meta_standin::MetaStandIn::default();
    let graph = meta.serve("127.0.0.1:0").await.expect("meta stand-in");
    let table = format!("test-{}", ulid::Ulid::new().to_string().to_lowercase());
    let mut overrides: HashMap<String, String> = [
        ("TABLE_NAME", table.as_str()),
        ("AUTH_JWT_SECRET", SECRET),
        ("TWILIO_ACCOUNT_SID", standin.account_sid()),
        ("TWILIO_AUTH_TOKEN", standin.auth_token()),
        ("TWILIO_CONVERSATIONS_BASE_URL", twilio.as_str()),
        ("TWILIO_API_BASE_URL", twilio.as_str()),
        ("TWILIO_MESSAGING_BASE_URL", twilio.as_str()),
        ("TWILIO_TIMEOUT_MS", "400"),
        ("TWILIO_BACKOFF_MS", "5"),
        ("META_GRAPH_BASE_URL", graph.as_str()),
        ("META_TIMEOUT_MS", "400"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    if directory {
        overrides.insert("BOOKINGS_URL".into(), bookings_url);
        overrides.insert("BOOKINGS_KEY".into(), bookings.key().into());
        overrides.insert("BOOKINGS_TIMEOUT_MS".into(), "400".into());
    }
    for (k, v) in extra {
        overrides.insert(k.to_string(), v.to_string());
    }
    let mut loader = aws_config::defaults(BehaviorVersion::latest());
    if let Some(p) = &proxies {
        // The SDK's own retries (3 attempts), with a short first backoff so
        // the fault suite spends its time on faults, not on waiting.
        loader = loader.endpoint_url(&p.aws.url).retry_config(
            aws_config::retry::RetryConfig::standard()
                .with_initial_backoff(Duration::from_millis(20)),
        );
        // An attempt whose answer never comes (10 s: a busy emulator in a
        // parallel test run can take seconds) is abandoned (and retried)
        // as on Lambda, where nothing waits past the function's timeout.
        loader = loader.timeout_config(
            aws_config::timeout::TimeoutConfig::builder()
                .operation_attempt_timeout(Duration::from_secs(10))
                .build(),
        );
    }
    let sdk = loader.load().await;
    let dynamo = DynamoCounter::default();
    let client = aws_sdk_dynamodb::Client::from_conf(
        aws_sdk_dynamodb::config::Builder::from(&sdk)
            .interceptor(dynamo.clone())
            .build(),
    );
    let wire = shared::dynamo::Dynamo::new(
        &sdk,
        aws_smithy_runtime_api::client::http::SharedHttpConnector::new(CountingConnector {
            inner: shared::aws::https_connector().into(),
            counter: dynamo.clone(),
        }),
    )
    .unwrap();
    let client = shared::store::DynamoClients {
        sdk: client,
        wire: Arc::new(wire),
    };
    let sqs = proxies.as_ref().map(|_| sdk.clone());
    let stack = stack::start(StackOptions {
        gateway_addr: "127.0.0.1:0".into(),
        standin_addr: None,
        overrides,
        dynamodb: Some(client),
        sqs,
        poller: false,
        push,
        ..Default::default()
    })
    .await
    .expect("local stack");
    dynamo.take();
    standin.set_webhook_base(&stack.base_url);
    meta.set_webhook_base(&stack.base_url);
    let t = TestApp {
        base: stack.base_url,
        http: reqwest::Client::new(),
        app: stack.app,
        deps: stack.deps,
        sqs: stack.sqs,
        queue_url: stack.queue_url,
        dlq_url: stack.dlq_url,
        standin,
        dynamo,
        bookings,
        ws: stack.ws,
        pushed: stack.push.map(|(_, totals)| totals),
        meta,
    };
    (t, proxies)
}

pub fn token(user: &str, user_type: UserType) -> String {
    token_with(user, user_type, None)
}

pub fn token_with(user: &str, user_type: UserType, org: Option<&str>) -> String {
    issue_token(
        SECRET,
        &Caller {
            user_id: user.into(),
            user_type,
            org_id: org.map(str::to_string),
            role: None,
        },
        3600,
    )
}

pub fn customer() -> String {
    token("cust_1", UserType::Customer)
}
pub fn provider() -> String {
    token("prov_1", UserType::Provider)
}
pub fn service() -> String {
    token("booking-system", UserType::Service)
}

/// Status, headers and JSON body (`Null` when empty; a non-JSON body panics).
async fn read_resp(resp: reqwest::Response) -> Resp {
    let status = resp.status();
    let headers = resp.headers().clone();
    let text = resp.text().await.unwrap_or_default();
    let json = if text.is_empty() {
        Value::Null
    } else {
        serde_json::from_str(&text)
            .unwrap_or_else(|_| panic!("{status}: response is not JSON: {text}"))
    };
    Resp {
        status,
        headers,
        json,
    }
}

pub struct Resp {
    pub status: StatusCode,
    pub headers: reqwest::header::HeaderMap,
    pub json: Value,
}

impl Resp {
    pub fn code(&self) -> &str {
        self.json["error"]["code"].as_str().unwrap_or("")
    }
}

impl TestApp {
    pub async fn call(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
        headers: &[(&str, &str)],
    ) -> Resp {
        let mut req = self.http.request(method, format!("{}{}", self.base, path));
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        if let Some(b) = body {
            req = req.json(&b);
        }
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        read_resp(req.send().await.expect("request")).await
    }

    pub async fn get(&self, path: &str, token: &str) -> Resp {
        self.call(Method::GET, path, Some(token), None, &[]).await
    }

    pub async fn post(&self, path: &str, token: &str, body: Value) -> Resp {
        self.call(Method::POST, path, Some(token), Some(body), &[])
            .await
    }

    /// Create the booking conversation between cust_1 and prov_1.
    pub async fn create_booking_chat(&self, booking: &str) -> String {
        let r = self
            .post("/conversations", &customer(), booking_body(booking))
            .await;
        assert_eq!(r.status, 201, "{:?}", r.json);
        r.json["id"].as_str().unwrap().to_string()
    }

    pub async fn send(&self, conv: &str, token: &str, body: &str) -> Resp {
        self.post(
            &format!("/conversations/{conv}/messages"),
            token,
            json!({ "body": body }),
        )
        .await
    }
}

pub fn booking_body(booking: &str) -> Value {
    json!({
        "booking_id": booking,
        "participants": [
            {"user_id": "cust_1", "user_type": "customer", "display_name": "Ana Customer"},
            {"user_id": "prov_1", "user_type": "provider", "display_name": "Ben Provider"}
        ]
    })
}

/// A token that expired two minutes ago (beyond the verifier's leeway).
pub fn token_expired(user: &str, user_type: UserType) -> String {
    issue_token(
        SECRET,
        &Caller {
            user_id: user.into(),
            user_type,
            org_id: None,
            role: None,
        },
        -120,
    )
}

/// A well-formed, unexpired token signed with a secret the API does not use.
pub fn token_signed_with(secret: &str, user: &str, user_type: UserType) -> String {
    issue_token(
        secret,
        &Caller {
            user_id: user.into(),
            user_type,
            org_id: None,
            role: None,
        },
        3600,
    )
}

/// Assert the response is an error in the API's shape with this status and
/// code, and return its message.
pub fn assert_error(r: &Resp, status: u16, code: &str) {
    assert_eq!(
        r.status, status,
        "expected {status} {code}, got {:?}",
        r.json
    );
    assert_eq!(r.code(), code, "{:?}", r.json);
    assert!(
        r.json["error"]["message"]
            .as_str()
            .is_some_and(|m| !m.is_empty()),
        "error without a message: {:?}",
        r.json
    );
}

impl TestApp {
    pub async fn delete(&self, path: &str, token: &str) -> Resp {
        self.call(Method::DELETE, path, Some(token), None, &[])
            .await
    }

    /// `POST /conversations/{id}/read` without a body.
    pub async fn mark_read(&self, conv: &str, token: &str) -> Resp {
        self.call(
            Method::POST,
            &format!("/conversations/{conv}/read"),
            Some(token),
            None,
            &[],
        )
        .await
    }

    /// Send a message with an `Idempotency-Key`.
    pub async fn send_with_key(&self, conv: &str, token: &str, body: &str, key: &str) -> Resp {
        self.call(
            Method::POST,
            &format!("/conversations/{conv}/messages"),
            Some(token),
            Some(json!({ "body": body })),
            &[("Idempotency-Key", key)],
        )
        .await
    }

    /// A request with a raw body and an optional content type (for
    /// malformed input).
    pub async fn call_raw(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        content_type: Option<&str>,
        body: &str,
    ) -> Resp {
        let mut req = self
            .http
            .request(method, format!("{}{}", self.base, path))
            .body(body.to_string());
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        if let Some(ct) = content_type {
            req = req.header("content-type", ct);
        }
        read_resp(req.send().await.expect("request")).await
    }

    /// The conversation's Twilio SID (as the API shows it to a participant).
    pub async fn twilio_sid(&self, conv: &str) -> String {
        let r = self
            .get(&format!("/conversations/{conv}"), &service())
            .await;
        assert_eq!(r.status, 200, "{:?}", r.json);
        r.json["twilio_conversation_sid"]
            .as_str()
            .expect("twilio sid")
            .to_string()
    }

    /// The bodies of a conversation's stored messages, oldest first.
    pub async fn bodies(&self, conv: &str, token: &str) -> Vec<String> {
        let r = self
            .get(&format!("/conversations/{conv}/messages?limit=100"), token)
            .await;
        assert_eq!(r.status, 200, "{:?}", r.json);
        r.json["messages"]
            .as_array()
            .expect("messages")
            .iter()
            .map(|m| m["body"].as_str().expect("body").to_string())
            .collect()
    }

    pub async fn unread_total(&self, token: &str) -> i64 {
        let r = self.get("/me/unread", token).await;
        assert_eq!(r.status, 200, "{:?}", r.json);
        r.json["unread_count"].as_i64().expect("unread_count")
    }

    /// The caller's unread count for one conversation (`GET /conversations/{id}`).
    pub async fn conversation_unread(&self, conv: &str, token: &str) -> i64 {
        let r = self.get(&format!("/conversations/{conv}"), token).await;
        assert_eq!(r.status, 200, "{:?}", r.json);
        r.json["unread_count"].as_i64().expect("unread_count")
    }
}

// ---- inbound pipeline -----------------------------------------------------

/// An org agent whose `app_metadata.role` is `admin`.
pub fn admin_token(user: &str, org: &str) -> String {
    issue_token(
        SECRET,
        &Caller {
            user_id: user.into(),
            user_type: UserType::Agent,
            org_id: Some(org.into()),
            role: Some("admin".into()),
        },
        3600,
    )
}

/// A plain agent of `org`.
pub fn agent_of(user: &str, org: &str) -> String {
    token_with(user, UserType::Agent, Some(org))
}

/// Form parameters from string pairs.
pub fn params(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

/// A webhook answer: status, content type and body text.
#[derive(Debug)]
pub struct WebhookResp {
    pub status: u16,
    pub content_type: Option<String>,
    pub body: String,
}

impl TestApp {
    /// What the SQS event source mapping does, until the queue has nothing
    /// visible left: returns the number of records received. Records the
    /// processor reports as failed stay in flight (invisible), so this ends.
    pub async fn drain(&self) -> usize {
        let mut total = 0;
        let mut errors = 0;
        for _ in 0..50 {
            // A receive that times out (the fault suite's 2 s attempts on a
            // busy emulator) leaves the messages queued: poll again.
            let n = match dev::poller::poll_once(&self.sqs, &self.queue_url, self.app, 0).await {
                Ok(n) => n,
                Err(e) if errors < 10 => {
                    errors += 1;
                    eprintln!("poll failed ({errors}): {e}; polling again");
                    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
                    continue;
                }
                Err(e) => panic!("poll: {e}"),
            };
            if n == 0 {
                return total;
            }
            total += n;
        }
        panic!("the queue never drained ({total} records received)");
    }

    /// `(visible, in flight)` messages of a queue.
    pub async fn queue_depth(&self, queue_url: &str) -> (i64, i64) {
        use aws_sdk_sqs::types::QueueAttributeName as A;
        // The test's own look at the queue: under the fault suite it goes
        // through the proxy with a 2 s attempt timeout, so a slow emulator
        // is retried here rather than failing the observation.
        let mut attempt = 0;
        let out = loop {
            attempt += 1;
            match self
                .sqs
                .get_queue_attributes()
                .queue_url(queue_url)
                .attribute_names(A::ApproximateNumberOfMessages)
                .attribute_names(A::ApproximateNumberOfMessagesNotVisible)
                .send()
                .await
            {
                Ok(out) => break out,
                Err(e) if attempt < 10 => {
                    eprintln!("queue attributes (attempt {attempt}): {e:?}; retrying");
                    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
                }
                Err(e) => panic!("queue attributes: {e:?}"),
            }
        };
        let attrs = out.attributes.unwrap_or_default();
        let n = |a: A| {
            attrs
                .get(&a)
                .and_then(|v| v.parse().ok())
                .unwrap_or_else(|| panic!("no {a:?} in {attrs:?}"))
        };
        (
            n(A::ApproximateNumberOfMessages),
            n(A::ApproximateNumberOfMessagesNotVisible),
        )
    }

    /// Assert the inbound queue holds nothing, visible or in flight, and
    /// that a receive finds nothing.
    pub async fn assert_queue_empty(&self) {
        assert_eq!(self.queue_depth(&self.queue_url).await, (0, 0));
        let out = self
            .sqs
            .receive_message()
            .queue_url(&self.queue_url)
            .max_number_of_messages(10)
            .wait_time_seconds(0)
            .send()
            .await
            .expect("receive");
        assert!(
            out.messages.unwrap_or_default().is_empty(),
            "the queue should be empty"
        );
    }

    /// The `X-Twilio-Signature` Twilio would send for `route` on this
    /// deployment's public URL.
    pub fn twilio_signature(&self, route: &str, params: &[(String, String)]) -> String {
        shared::signature::sign(
            self.standin.auth_token(),
            &format!("{}{route}", self.base),
            params,
        )
    }

    /// POST a raw webhook: any body, content type, signature and
    /// idempotency token.
    pub async fn post_webhook_raw(
        &self,
        route: &str,
        content_type: Option<&str>,
        signature: Option<&str>,
        idempotency_token: Option<&str>,
        body: impl Into<Vec<u8>>,
    ) -> WebhookResp {
        let mut req = self
            .http
            .post(format!("{}{route}", self.base))
            .body(body.into());
        if let Some(ct) = content_type {
            req = req.header("content-type", ct);
        }
        if let Some(s) = signature {
            req = req.header("X-Twilio-Signature", s);
        }
        if let Some(t) = idempotency_token {
            req = req.header("I-Twilio-Idempotency-Token", t);
        }
        let resp = req.send().await.expect("webhook request");
        WebhookResp {
            status: resp.status().as_u16(),
            content_type: resp
                .headers()
                .get("content-type")
                .and_then(|v| v.to_str().ok())
                .map(str::to_string),
            body: resp.text().await.unwrap_or_default(),
        }
    }

    /// POST a form webhook signed as Twilio signs it, with a chosen
    /// `I-Twilio-Idempotency-Token`.
    pub async fn signed_webhook(
        &self,
        route: &str,
        params: &[(String, String)],
        idempotency_token: Option<&str>,
    ) -> WebhookResp {
        let signature = self.twilio_signature(route, params);
        self.post_webhook_raw(
            route,
            Some("application/x-www-form-urlencoded"),
            Some(&signature),
            idempotency_token,
            serde_urlencoded::to_string(params).expect("form"),
        )
        .await
    }

    /// An inbound WhatsApp/SMS message through the gateway, as Twilio sends
    /// it (asserting the 200). Returns the message SID.
    pub async fn inbound(&self, from: &str, to: &str, body: &str) -> String {
        let sid = self.standin.new_message_sid();
        let p = self.standin.inbound_params(&sid, from, to, body);
        let (status, answer) = self
            .standin
            .send_webhook("/webhooks/twilio/messaging", &p)
            .await
            .expect("webhook");
        assert_eq!(status, 200, "{answer}");
        sid
    }

    /// Register a Twilio number for an org with a service token.
    pub async fn register_number(&self, address: &str, org: &str) {
        let r = self
            .post(
                "/chat-accounts",
                &service(),
                json!({"address": address, "org_id": org}),
            )
            .await;
        assert!(
            r.status == 201 || r.status == 200,
            "{}: {:?}",
            r.status,
            r.json
        );
    }

    /// The org inbox as an agent of it sees it (`GET /conversations`).
    pub async fn inbox(&self, agent: &str) -> Vec<Value> {
        let r = self.get("/conversations?limit=100", agent).await;
        assert_eq!(r.status, 200, "{:?}", r.json);
        r.json["items"].as_array().expect("items").clone()
    }

    /// A conversation's messages, oldest first, as `token` sees them.
    pub async fn messages(&self, conv: &str, token: &str) -> Vec<Value> {
        let r = self
            .get(&format!("/conversations/{conv}/messages?limit=100"), token)
            .await;
        assert_eq!(r.status, 200, "{:?}", r.json);
        r.json["messages"].as_array().expect("messages").clone()
    }
}

/// A DynamoDB client on the emulator, for looking at items the API does not
/// show (contacts).
pub async fn raw_dynamodb() -> aws_sdk_dynamodb::Client {
    let sdk = aws_config::defaults(BehaviorVersion::latest()).load().await;
    aws_sdk_dynamodb::Client::new(&sdk)
}

/// The store's DynamoDB clients on the emulator, as a function builds
/// them.
pub async fn raw_clients() -> shared::store::DynamoClients {
    let sdk = aws_config::defaults(BehaviorVersion::latest()).load().await;
    shared::store::DynamoClients::new(&sdk, shared::aws::https_connector()).unwrap()
}

/// Every item of `table` whose `PK` starts with `prefix`.
pub async fn items_with_pk_prefix(
    table: &str,
    prefix: &str,
) -> Vec<HashMap<String, aws_sdk_dynamodb::types::AttributeValue>> {
    use aws_sdk_dynamodb::types::AttributeValue;
    let client = raw_dynamodb().await;
    let mut found = Vec::new();
    let mut start = None;
    loop {
        let out = client
            .scan()
            .table_name(table)
            .filter_expression("begins_with(PK, :p)")
            .expression_attribute_values(":p", AttributeValue::S(prefix.into()))
            .set_exclusive_start_key(start)
            .send()
            .await
            .expect("scan");
        found.extend(out.items.unwrap_or_default());
        match out.last_evaluated_key {
            Some(k) if !k.is_empty() => start = Some(k),
            _ => return found,
        }
    }
}
