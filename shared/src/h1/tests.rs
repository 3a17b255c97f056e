//! The connector against local servers that answer in scripted ways.

use super::*;
use std::sync::atomic::{AtomicUsize, Ordering};
use tokio::io::AsyncWriteExt;
use tokio::net::TcpListener;

fn connector() -> H1Connector {
    H1Connector::new(
        crate::tls::aws_tls_config_with(None),
        Duration::from_secs(2),
    )
}

/// What the SDK's standard retry strategy retries.
fn retryable(e: &ConnectorError) -> bool {
    e.is_io() || e.is_timeout() || e.as_other() == Some(ErrorKind::TransientError)
}

/// One request as the server read it, and on which connection.
#[derive(Debug, Clone)]
struct Seen {
    connection: usize,
    bytes: Vec<u8>,
}

/// How the server answers the nth request (from 0).
#[derive(Clone)]
struct Script {
    answer: fn(usize) -> Vec<u8>,
    /// Close the connection after answering.
    close_after: bool,
    /// Write the answer one byte at a time.
    trickle: bool,
    /// Wait this long before answering.
    delay: Duration,
}

impl Script {
    fn answering(answer: fn(usize) -> Vec<u8>) -> Self {
        Self {
            answer,
            close_after: false,
            trickle: false,
            delay: Duration::ZERO,
        }
    }
}

struct Server {
    url: String,
    seen: Arc<Mutex<Vec<Seen>>>,
}

impl Server {
    fn seen(&self) -> Vec<Seen> {
        self.seen.lock().unwrap().clone()
    }
    fn connections(&self) -> usize {
        let seen = self.seen();
        seen.iter().map(|s| s.connection).max().map_or(0, |m| m + 1)
    }
}

/// Read one request (head, then a `content-length` body) from `tcp`.
async fn read_request(tcp: &mut TcpStream) -> Option<Vec<u8>> {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&buf[..end]).to_ascii_lowercase();
            let len = head
                .lines()
                .find_map(|l| l.strip_prefix("content-length: "))
                .map_or(0, |n| n.trim().parse::<usize>().unwrap());
            if buf.len() >= end + 4 + len {
                return Some(buf);
            }
        }
        let n = tcp.read(&mut chunk).await.ok()?;
        if n == 0 {
            return None;
        }
        buf.extend_from_slice(&chunk[..n]);
    }
}

async fn server(script: Script) -> Server {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let seen = Arc::new(Mutex::new(Vec::new()));
    let log = seen.clone();
    let requests = Arc::new(AtomicUsize::new(0));
    tokio::spawn(async move {
        let mut connection = 0;
        while let Ok((mut tcp, _)) = listener.accept().await {
            let (log, requests, script) = (log.clone(), requests.clone(), script.clone());
            let this = connection;
            connection += 1;
            tokio::spawn(async move {
                while let Some(bytes) = read_request(&mut tcp).await {
                    log.lock().unwrap().push(Seen {
                        connection: this,
                        bytes,
                    });
                    let n = requests.fetch_add(1, Ordering::SeqCst);
                    tokio::time::sleep(script.delay).await;
                    let answer = (script.answer)(n);
                    if script.trickle {
                        for b in answer {
                            let _ = tcp.write_all(&[b]).await;
                            let _ = tcp.flush().await;
                        }
                    } else {
                        let _ = tcp.write_all(&answer).await;
                    }
                    if script.close_after || answer_closes(n, script.answer) {
                        return;
                    }
                }
            });
        }
    });
    Server { url, seen }
}

/// The server closes after an answer it marked `connection: close`.
fn answer_closes(n: usize, answer: fn(usize) -> Vec<u8>) -> bool {
    String::from_utf8_lossy(&answer(n))
        .to_ascii_lowercase()
        .contains("connection: close")
}

fn post(url: &str) -> HttpRequest {
    let request = http::Request::builder()
        .method("POST")
        .uri(url)
        .header("content-type", "application/x-amz-json-1.0")
        .header("x-amz-target", "DynamoDB_20120810.GetItem")
        .body(SdkBody::from("{}"))
        .unwrap();
    HttpRequest::try_from(request).unwrap()
}

fn get(url: &str) -> HttpRequest {
    HttpRequest::get(url).unwrap()
}

async fn body_of(response: SdkResponse<SdkBody>) -> Vec<u8> {
    response.body().bytes().expect("an in-memory body").to_vec()
}

fn ok(body: &str) -> Vec<u8> {
    format!(
        "HTTP/1.1 200 OK\r\ncontent-type: application/x-amz-json-1.0\r\ncontent-length: {}\r\n\r\n{body}",
        body.len()
    )
    .into_bytes()
}

#[tokio::test]
async fn an_answer_should_come_back_whole_with_its_status_and_headers() {
    let s = server(Script::answering(|_| {
        b"HTTP/1.1 500 Internal Server Error\r\nx-amzn-requestid: r1\r\nX-Amzn-Query-Error: A;Sender\r\ncontent-length: 7\r\nconnection: close\r\n\r\n{\"a\":1}".to_vec()
    }))
    .await;
    let c = connector();
    let response = c.call(post(&format!("{}/", s.url))).await.unwrap();
    assert_eq!(response.status().as_u16(), 500);
    assert_eq!(response.headers().get("x-amzn-requestid"), Some("r1"));
    assert_eq!(
        response.headers().get("x-amzn-query-error"),
        Some("A;Sender")
    );
    assert_eq!(body_of(response).await, b"{\"a\":1}");
    assert_eq!(c.idle_connections(), 0, "connection: close is not kept");
}

#[tokio::test]
async fn a_request_should_go_out_as_one_http_1_1_message_with_host_and_length() {
    let s = server(Script::answering(|n| ok(&format!("{{\"n\":{n}}}")))).await;
    let c = connector();
    let port = s.url.rsplit(':').next().unwrap().to_string();
    let r = c.call(post(&format!("{}/?a=b", s.url))).await.unwrap();
    assert_eq!(body_of(r).await, br#"{"n":0}"#);
    let r = c.call(get(&format!("{}/health", s.url))).await.unwrap();
    assert_eq!(body_of(r).await, br#"{"n":1}"#);
    let seen = s.seen();
    assert_eq!(
        String::from_utf8(seen[0].bytes.clone()).unwrap(),
        format!(
            "POST /?a=b HTTP/1.1\r\nhost: 127.0.0.1:{port}\r\ncontent-type: application/x-amz-json-1.0\r\nx-amz-target: DynamoDB_20120810.GetItem\r\ncontent-length: 2\r\n\r\n{{}}"
        )
    );
    assert_eq!(
        String::from_utf8(seen[1].bytes.clone()).unwrap(),
        format!("GET /health HTTP/1.1\r\nhost: 127.0.0.1:{port}\r\n\r\n"),
        "no length on a GET without a body"
    );
    assert_eq!(s.connections(), 1, "the connection was kept and reused");
    assert_eq!(c.idle_connections(), 1);
}

#[tokio::test]
async fn a_streamed_request_body_should_be_sent_whole_with_its_length() {
    let s = server(Script::answering(|_| ok("{}"))).await;
    let body = http_body_util::Full::new(bytes::Bytes::from_static(b"{\"streamed\":true}"));
    let request = http::Request::builder()
        .method("PUT")
        .uri(format!("{}/object", s.url))
        .body(SdkBody::from_body_1_x(body))
        .unwrap();
    let request = HttpRequest::try_from(request).unwrap();
    assert!(request.body().bytes().is_none(), "not in memory");
    let r = connector().call(request).await.unwrap();
    assert_eq!(r.status().as_u16(), 200);
    let seen = String::from_utf8(s.seen()[0].bytes.clone()).unwrap();
    assert!(
        seen.starts_with("PUT /object HTTP/1.1\r\n")
            && seen.ends_with("content-length: 17\r\n\r\n{\"streamed\":true}"),
        "{seen}"
    );
}

#[tokio::test]
async fn the_host_header_should_leave_out_the_default_port() {
    let json = [("content-type", "application/x-amz-json-1.0")];
    for (url, host, line) in [
        (
            "https://dynamodb.eu-west-1.amazonaws.com:443/",
            "dynamodb.eu-west-1.amazonaws.com",
            "POST / HTTP/1.1",
        ),
        ("http://localhost:80", "localhost", "POST / HTTP/1.1"),
        (
            "http://[::1]:4566/x/y?z",
            "[::1]:4566",
            "POST /x/y?z HTTP/1.1",
        ),
    ] {
        let (target, wire) = encode("POST", url, json.iter().copied(), b"{}").unwrap();
        let text = String::from_utf8(wire).unwrap();
        assert_eq!(
            text,
            format!(
                "{line}\r\nhost: {host}\r\ncontent-type: application/x-amz-json-1.0\r\ncontent-length: 2\r\n\r\n{{}}"
            )
        );
        assert!(!target.connect_host.contains('['));
    }
    let (_, wire) = encode(
        "POST",
        "http://localhost:1/",
        [("x-a", "1")].into_iter(),
        b"",
    )
    .unwrap();
    assert_eq!(
        String::from_utf8(wire).unwrap(),
        "POST / HTTP/1.1\r\nhost: localhost:1\r\nx-a: 1\r\ncontent-length: 0\r\n\r\n",
        "a POST without a body says so"
    );
    for bad in ["ftp://x/", "/relative"] {
        let e = connector().call(post(bad)).await.unwrap_err();
        assert!(e.is_user(), "{bad}: {e:?}");
    }
    for (method, header) in [
        ("GET", ("x-a", "line\r\nx-injected: 1")),
        ("GET", ("bad name", "v")),
        ("GET", ("transfer-encoding", "chunked")),
        ("get", ("x-a", "1")),
        ("GET", ("x-a:b", "v")),
        ("GET", ("x-a\n", "v")),
        ("GET", ("", "v")),
    ] {
        assert!(
            encode(method, "http://x/", [header].into_iter(), b"").is_err(),
            "{method} {header:?}"
        );
    }
    // A lone CR or LF anywhere in a long value (a signed request's
    // Authorization runs to hundreds of bytes) is refused too.
    let with_authorization = |value: &str| {
        encode(
            "GET",
            "http://x/",
            [("authorization", value)].into_iter(),
            b"",
        )
    };
    let long = "a".repeat(300);
    for at in [0, 1, 15, 16, 31, 32, 33, 150, 299] {
        for cut in ['\r', '\n'] {
            let mut value = long.clone();
            value.replace_range(at..=at, &cut.to_string());
            assert!(with_authorization(&value).is_err(), "{cut:?} at {at}");
        }
    }
    assert!(with_authorization(&long).is_ok());
}

#[tokio::test]
async fn a_direct_request_should_say_whether_it_may_have_arrived() {
    let s = server(Script::answering(|_| {
        b"HTTP/1.1 429 Too Many Requests\r\nRetry-After: 1\r\ncontent-length: 2\r\n\r\n{}".to_vec()
    }))
    .await;
    let c = connector();
    let form = [("content-type", "application/x-www-form-urlencoded")];
    let a = c
        .request(
            "POST",
            &format!("{}/Messages.json", s.url),
            &form,
            b"To=1",
            Duration::from_secs(1),
        )
        .await
        .unwrap();
    assert_eq!((a.status, a.header("retry-after")), (429, Some("1")));
    assert_eq!(a.body, b"{}");
    assert!(String::from_utf8_lossy(&s.seen()[0].bytes).ends_with("content-length: 4\r\n\r\nTo=1"));

    let refused = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/", refused.local_addr().unwrap());
    drop(refused);
    let e = c
        .request("GET", &url, &[], b"", Duration::from_secs(1))
        .await
        .unwrap_err();
    assert!(matches!(e, RequestError::Connect(_)), "{e:?}");

    let mut slow = Script::answering(|_| ok("late"));
    slow.delay = Duration::from_millis(300);
    let s = server(slow).await;
    let e = c
        .request("POST", &s.url, &[], b"x", Duration::from_millis(50))
        .await
        .unwrap_err();
    assert!(matches!(e, RequestError::Timeout(_)), "{e:?}");

    let mut closing = Script::answering(|_| Vec::new());
    closing.close_after = true;
    let s = server(closing).await;
    let e = c
        .request("POST", &s.url, &[], b"x", Duration::from_secs(1))
        .await
        .unwrap_err();
    assert!(matches!(e, RequestError::Exchange(_)), "{e:?}");
}

#[tokio::test]
async fn a_refused_connection_should_be_an_io_error_the_sdk_retries() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/", listener.local_addr().unwrap());
    drop(listener);
    let e = connector().call(post(&url)).await.unwrap_err();
    assert!(e.is_io(), "{e:?}");
}

#[tokio::test]
async fn a_connect_that_hangs_should_be_a_timeout() {
    // A listener whose backlog is full never completes a TLS handshake: it
    // accepts nothing, so the handshake waits for ever.
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("https://{}/", listener.local_addr().unwrap());
    let c = H1Connector::new(
        crate::tls::aws_tls_config_with(None),
        Duration::from_millis(200),
    );
    let e = c.call(post(&url)).await.unwrap_err();
    assert!(e.is_timeout(), "{e:?}");
    drop(listener);
}

#[tokio::test]
async fn a_connection_closed_before_the_answer_should_be_retried() {
    let mut script = Script::answering(|_| Vec::new());
    script.close_after = true;
    let s = server(script).await;
    let e = connector().call(post(&s.url)).await.unwrap_err();
    assert!(e.is_io(), "{e:?}");
}

#[tokio::test]
async fn an_answer_cut_short_should_be_a_transient_error() {
    let mut script =
        Script::answering(|_| b"HTTP/1.1 200 OK\r\ncontent-length: 10\r\n\r\n{\"a\"".to_vec());
    script.close_after = true;
    let s = server(script).await;
    let c = connector();
    let e = c.call(post(&s.url)).await.unwrap_err();
    assert_eq!(e.as_other(), Some(ErrorKind::TransientError), "{e:?}");
    assert!(retryable(&e));
    assert_eq!(c.idle_connections(), 0);
}

#[tokio::test]
async fn an_answer_that_is_not_http_should_not_be_retried() {
    let mut script = Script::answering(|_| b"SSH-2.0-OpenSSH_9.2\r\n\r\n".to_vec());
    script.close_after = true;
    let s = server(script).await;
    let e = connector().call(post(&s.url)).await.unwrap_err();
    assert!(!retryable(&e), "{e:?}");
    let mut script =
        Script::answering(|_| b"HTTP/1.1 200 OK\r\ncontent-length: many\r\n\r\n".to_vec());
    script.close_after = true;
    let s = server(script).await;
    let e = connector().call(post(&s.url)).await.unwrap_err();
    assert!(!retryable(&e), "{e:?}");
}

#[tokio::test]
async fn a_connection_the_server_closed_while_idle_should_not_be_reused() {
    let mut script = Script::answering(|n| ok(&n.to_string()));
    script.close_after = true; // but the answers say keep-alive
    let s = server(script).await;
    let c = connector();
    for n in 0..3 {
        let r = c.call(post(&s.url)).await.unwrap();
        assert_eq!(body_of(r).await, n.to_string().as_bytes());
        // The server's FIN arrives while the connection sits idle.
        tokio::time::sleep(Duration::from_millis(30)).await;
    }
    assert_eq!(s.connections(), 3, "each request on a fresh connection");
}

#[tokio::test]
async fn a_chunked_answer_should_be_decoded_and_the_connection_kept() {
    let s = server(Script::answering(|_| {
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n4;ext=1\r\n{\"a\"\r\nB\r\n:\"0123456\"}\r\n0\r\nx-trailer: t\r\n\r\n".to_vec()
    }))
    .await;
    let c = connector();
    for _ in 0..2 {
        let r = c.call(post(&s.url)).await.unwrap();
        assert_eq!(body_of(r).await, br#"{"a":"0123456"}"#);
    }
    assert_eq!(s.connections(), 1);
}

#[tokio::test]
async fn an_answer_written_a_byte_at_a_time_should_come_back_whole() {
    let mut script = Script::answering(|_| ok(r#"{"Item":{"pk":{"S":"x"}}}"#));
    script.trickle = true;
    let s = server(script).await;
    let r = connector().call(post(&s.url)).await.unwrap();
    assert_eq!(body_of(r).await, br#"{"Item":{"pk":{"S":"x"}}}"#);
}

#[tokio::test]
async fn an_interim_answer_and_bodiless_answers_should_be_read_as_http_says() {
    let s = server(Script::answering(|n| match n {
        0 => {
            b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok".to_vec()
        }
        1 => b"HTTP/1.1 204 No Content\r\ncontent-length: 0\r\n\r\n".to_vec(),
        _ => ok("last"),
    }))
    .await;
    let c = connector();
    let r = c.call(post(&s.url)).await.unwrap();
    assert_eq!(
        (r.status().as_u16(), body_of(r).await),
        (200, b"ok".to_vec())
    );
    let r = c.call(post(&s.url)).await.unwrap();
    assert_eq!((r.status().as_u16(), body_of(r).await), (204, Vec::new()));
    let r = c.call(post(&s.url)).await.unwrap();
    assert_eq!(body_of(r).await, b"last");
    assert_eq!(s.connections(), 1);
}

#[tokio::test]
async fn an_answer_without_a_length_should_end_with_its_connection() {
    let mut script = Script::answering(|_| b"HTTP/1.1 200 OK\r\n\r\n{\"to\":\"the end\"}".to_vec());
    script.close_after = true;
    let s = server(script).await;
    let c = connector();
    let r = c.call(post(&s.url)).await.unwrap();
    assert_eq!(body_of(r).await, br#"{"to":"the end"}"#);
    assert_eq!(c.idle_connections(), 0);
}

#[tokio::test]
async fn concurrent_requests_should_each_get_a_connection_and_keep_it() {
    let mut script = Script::answering(|n| ok(&n.to_string()));
    script.delay = Duration::from_millis(50);
    let s = server(script).await;
    let c = connector();
    let (a, b) = tokio::join!(c.call(post(&s.url)), c.call(post(&s.url)));
    let mut bodies = vec![body_of(a.unwrap()).await, body_of(b.unwrap()).await];
    bodies.sort();
    assert_eq!(bodies, [b"0".to_vec(), b"1".to_vec()]);
    assert_eq!(s.connections(), 2);
    assert_eq!(c.idle_connections(), 2);
    // Both are reused, never more than two.
    let (a, b) = tokio::join!(c.call(post(&s.url)), c.call(post(&s.url)));
    assert!(a.is_ok() && b.is_ok());
    assert_eq!(s.connections(), 2);
}

/// A TLS server for `localhost` with a fresh certificate: answers every
/// request on a connection, keeping it open; counts connections.
#[tokio::test]
async fn over_tls_a_connection_should_be_reused_across_requests() {
    use rustls::pki_types::{PrivateKeyDer, PrivatePkcs8KeyDer};
    let key = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
    let cert = rcgen::CertificateParams::new(vec!["localhost".to_string()])
        .unwrap()
        .self_signed(&key)
        .unwrap();
    let config = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_no_client_auth()
    .with_single_cert(
        vec![cert.der().clone()],
        PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der())),
    )
    .unwrap();
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let connections = Arc::new(AtomicUsize::new(0));
    let count = connections.clone();
    tokio::spawn(async move {
        while let Ok((tcp, _)) = listener.accept().await {
            count.fetch_add(1, Ordering::SeqCst);
            let acceptor = acceptor.clone();
            tokio::spawn(async move {
                let Ok(mut tls) = acceptor.accept(tcp).await else {
                    return;
                };
                let mut buf = vec![0u8; 4096];
                let mut n = 0u32;
                loop {
                    match tls.read(&mut buf).await {
                        Ok(0) | Err(_) => return,
                        Ok(_) => {}
                    }
                    n += 1;
                    let body = format!("{{\"n\":{n}}}");
                    let answer = format!(
                        "HTTP/1.1 200 OK\r\ncontent-length: {}\r\n\r\n{body}",
                        body.len()
                    );
                    if tls.write_all(answer.as_bytes()).await.is_err() {
                        return;
                    }
                }
            });
        }
    });
    let trusted = H1Connector::new(
        crate::tls::aws_tls_config_with(Some(cert.pem().as_bytes())),
        Duration::from_secs(2),
    );
    let url = format!("https://localhost:{port}/");
    for n in 1..=3 {
        let r = trusted.call(post(&url)).await.unwrap();
        assert_eq!(body_of(r).await, format!("{{\"n\":{n}}}").as_bytes());
    }
    assert_eq!(connections.load(Ordering::SeqCst), 1);
    assert_eq!(trusted.idle_connections(), 1);

    // Without the certificate as a root: refused, as I/O (the SDK's
    // classification of a failed handshake).
    let e = connector().call(post(&url)).await.unwrap_err();
    assert!(e.is_io(), "{e:?}");
}

#[test]
fn headers_should_keep_each_name_in_lower_case_and_their_order() {
    let mut h = Headers::default();
    assert!(h.is_empty());
    for (name, value) in [
        ("X-Amzn-RequestId", "r1"),
        ("Content-Length", "0"),
        ("x-empty", ""),
        ("X-AMZN-REQUESTID", "r2"),
    ] {
        h.push(name, value);
    }
    assert_eq!(h.len(), 4);
    assert_eq!(
        h.iter().collect::<Vec<_>>(),
        [
            ("x-amzn-requestid", "r1"),
            ("content-length", "0"),
            ("x-empty", ""),
            ("x-amzn-requestid", "r2"),
        ]
    );
    assert_eq!(h.get("x-amzn-requestid"), Some("r1"), "the first of a name");
    assert_eq!(h.get("x-empty"), Some(""));
    assert_eq!(h.get("content-type"), None);
}
