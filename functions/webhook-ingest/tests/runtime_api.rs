//! The built `webhook-ingest` binary against a fake Lambda Runtime API on
//! loopback: what a deployed function does from process start, through
//! `shared::lambda::runtime` and the API Gateway guard, to the answers it
//! posts. No AWS call is needed: every event here is refused before one.

use serde_json::Value;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const SAMPLE: &str = include_str!("../../../events/webhook-ingest-messaging.json");

/// One request read off `conn` (this fake answers one per connection):
/// its request line and body.
fn read_request(conn: &mut TcpStream) -> (String, String) {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        let n = conn.read(&mut chunk).expect("read a request");
        assert!(n > 0, "the function closed mid-request");
        buf.extend_from_slice(&chunk[..n]);
        let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") else {
            continue;
        };
        let head = String::from_utf8(buf[..end].to_vec()).unwrap();
        let length: usize = head
            .lines()
            .find_map(|l| {
                let (name, value) = l.split_once(':')?;
                name.eq_ignore_ascii_case("content-length")
                    .then(|| value.trim().parse().unwrap())
            })
            .unwrap_or(0);
        while buf.len() < end + 4 + length {
            let n = conn.read(&mut chunk).unwrap();
            assert!(n > 0, "the function closed mid-body");
            buf.extend_from_slice(&chunk[..n]);
        }
        let line = head.lines().next().unwrap().to_string();
        let body = String::from_utf8(buf[end + 4..end + 4 + length].to_vec()).unwrap();
        return (line, body);
    }
}

/// The function's next connection; fails the test if the process exits or
/// nothing comes within 30 s, instead of waiting forever.
fn accept(listener: &TcpListener, child: &mut Child) -> TcpStream {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        match listener.accept() {
            Ok((conn, _)) => {
                conn.set_nonblocking(false).unwrap();
                conn.set_read_timeout(Some(Duration::from_secs(30)))
                    .unwrap();
                return conn;
            }
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                if let Some(status) = child.try_wait().unwrap() {
                    panic!("webhook-ingest exited: {status}");
                }
                assert!(
                    Instant::now() < deadline,
                    "no request from webhook-ingest in 30 s"
                );
                std::thread::sleep(Duration::from_millis(5));
            }
            Err(e) => panic!("accept: {e}"),
        }
    }
}

fn answer(conn: &mut TcpStream, status: &str, headers: &str, body: &str) {
    let reply = format!(
        "HTTP/1.1 {status}\r\nConnection: close\r\n{headers}Content-Length: {}\r\n\r\n{body}",
        body.len()
    );
    conn.write_all(reply.as_bytes()).unwrap();
}

#[test]
fn the_binary_answers_through_the_runtime_api() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    listener.set_nonblocking(true).unwrap();
    let addr = listener.local_addr().unwrap().to_string();

    let mut tampered: Value = serde_json::from_str(SAMPLE).unwrap();
    tampered["headers"]["x-twilio-signature"] = "AAAAAAAAAAAAAAAAAAAAAAAAAAA=".into();
    let mut bad_query: Value = serde_json::from_str(SAMPLE).unwrap();
    bad_query["rawQueryString"] = "a=\"<x>\"".into();
    let events = [
        ("req-1", tampered.to_string()),
        ("req-2", "not an event".to_string()),
        ("req-3", bad_query.to_string()),
    ];

    let mut child = Command::new(env!("CARGO_BIN_EXE_webhook-ingest"))
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("AWS_LAMBDA_RUNTIME_API", &addr)
        .env("AWS_LAMBDA_FUNCTION_NAME", "webhook-ingest")
        .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "128")
        .env("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
        .env("AWS_REGION", "us-east-1")
        .env("AWS_ACCESS_KEY_ID", "test")
        .env("AWS_SECRET_ACCESS_KEY", "test")
        // Nothing listens here: no event of this test reaches SQS.
        .env("AWS_ENDPOINT_URL", "http://127.0.0.1:9")
        .env("QUEUE_URL", "http://127.0.0.1:9/123456789012/inbound")
        .env("TWILIO_ACCOUNT_SID", "AC00000000000000000000000000000000")
        .env("TWILIO_AUTH_TOKEN", "dev-auth-token")
        .env(
            "PUBLIC_BASE_URL",
            "https://abcd123456.execute-api.us-east-1.amazonaws.com",
        )
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start the webhook-ingest binary");

    let mut posts = Vec::new();
    let mut next = 0;
    // Each event: one GET …/next, then one POST of its answer.
    while posts.len() < events.len() {
        let mut conn = accept(&listener, &mut child);
        let (line, body) = read_request(&mut conn);
        if line.starts_with("GET /2018-06-01/runtime/invocation/next ") {
            let (id, event) = &events[next];
            next += 1;
            let headers = format!(
                "Lambda-Runtime-Aws-Request-Id: {id}\r\nLambda-Runtime-Deadline-Ms: 4102444800000\r\n\
                 Lambda-Runtime-Invoked-Function-Arn: arn:aws:lambda:us-east-1:123456789012:function:webhook-ingest\r\n"
            );
            answer(&mut conn, "200 OK", &headers, event);
        } else {
            answer(&mut conn, "202 Accepted", "", "{}");
            posts.push((line, body));
        }
    }
    // The next GET is never answered: stop the function there.
    let mut conn = accept(&listener, &mut child);
    let (line, _) = read_request(&mut conn);
    assert!(line.starts_with("GET "), "{line}");
    child.kill().unwrap();
    child.wait().unwrap();

    let (line, body) = &posts[0];
    assert_eq!(
        line,
        "POST /2018-06-01/runtime/invocation/req-1/response HTTP/1.1"
    );
    let resp: Value = serde_json::from_str(body).unwrap();
    assert_eq!(resp["statusCode"], 403, "{resp}");
    assert!(
        resp["body"].as_str().unwrap().contains("invalid_signature"),
        "{resp}"
    );

    let (line, body) = &posts[1];
    assert_eq!(
        line,
        "POST /2018-06-01/runtime/invocation/req-2/error HTTP/1.1"
    );
    let error: Value = serde_json::from_str(body).unwrap();
    assert_eq!(error["errorType"], "InvalidEventDataError", "{error}");

    let (line, body) = &posts[2];
    assert_eq!(
        line,
        "POST /2018-06-01/runtime/invocation/req-3/response HTTP/1.1"
    );
    let resp: Value = serde_json::from_str(body).unwrap();
    assert_eq!(resp["statusCode"], 400, "{resp}");
    assert!(
        resp["body"].as_str().unwrap().contains("invalid_query"),
        "{resp}"
    );
}
