//! A fault-injecting HTTP proxy for the test suite: it sits between the
//! AWS SDK and the local emulator (or between the Twilio client and the
//! stand-in), forwards every request, and can make the Nth request of an
//! operation throttle, fail with a 5xx, time out or have its connection
//! reset, before or after the upstream acted on it.
//!
//! Operations are named by `X-Amz-Target` (`TransactWriteItems`,
//! `SendMessage`, ...), or for Twilio by method and path
//! (`POST Messages`, `POST Messages.json`, `POST Participants/{sid}`).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// What the proxy does to a request.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Fault {
    /// Refused before the upstream saw it: AWS `ThrottlingException`
    /// (400), Twilio 429 / 20429.
    Throttle,
    /// Refused before the upstream saw it: 500.
    ServerError,
    /// Held, then the connection dropped; the upstream never saw it.
    TimeoutBefore,
    /// Forwarded (the upstream acted), then held and dropped: the answer
    /// is lost.
    TimeoutAfter,
    /// Connection reset before forwarding.
    ResetBefore,
    /// Forwarded, then the connection reset: the answer is lost.
    ResetAfter,
}

impl Fault {
    pub const ALL: [Fault; 6] = [
        Fault::Throttle,
        Fault::ServerError,
        Fault::TimeoutBefore,
        Fault::TimeoutAfter,
        Fault::ResetBefore,
        Fault::ResetAfter,
    ];
}

/// Which error bodies to answer with.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Upstream {
    Aws,
    Twilio,
}

struct Rule {
    op: String,
    /// Fires on this ordinal of `op` (1-based, counted since the start).
    at: usize,
    fault: Fault,
}

#[derive(Default)]
struct State {
    counts: HashMap<String, usize>,
    rules: Vec<Rule>,
    injected: Vec<(String, Fault)>,
}

#[derive(Clone)]
pub struct FaultProxy {
    state: Arc<Mutex<State>>,
    pub url: String,
    /// How long a timeout holds the connection before dropping it.
    hold: Duration,
}

impl FaultProxy {
    /// Listen on a free loopback port and forward to `upstream`.
    pub async fn start(upstream: &str, kind: Upstream, hold: Duration) -> std::io::Result<Self> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let url = format!("http://{}", listener.local_addr()?);
        let proxy = Self {
            state: Arc::default(),
            url,
            hold,
        };
        let upstream = upstream.trim_end_matches('/').to_string();
        let client = reqwest::Client::builder()
            .no_proxy()
            .build()
            .map_err(std::io::Error::other)?;
        let p = proxy.clone();
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let (p, client, upstream) = (p.clone(), client.clone(), upstream.clone());
                tokio::spawn(async move {
                    let _ = p.serve(stream, &client, &upstream, kind).await;
                });
            }
        });
        Ok(proxy)
    }

    /// Make the `nth` next request of `op` (1 = the next one) suffer `fault`.
    pub fn inject(&self, op: &str, nth: usize, fault: Fault) {
        let mut s = self.lock();
        let at = s.counts.get(op).copied().unwrap_or(0) + nth.max(1);
        s.rules.push(Rule {
            op: op.to_string(),
            at,
            fault,
        });
    }

    /// The faults injected so far, `(operation, fault)`.
    pub fn injected(&self) -> Vec<(String, Fault)> {
        self.lock().injected.clone()
    }

    /// Rules not fired yet (the operation was not reached): dropped.
    pub fn take_unfired(&self) -> usize {
        let mut s = self.lock();
        std::mem::take(&mut s.rules).len()
    }

    /// Requests of `op` seen so far.
    pub fn count(&self, op: &str) -> usize {
        self.lock().counts.get(op).copied().unwrap_or(0)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    async fn serve(
        &self,
        mut stream: TcpStream,
        client: &reqwest::Client,
        upstream: &str,
        kind: Upstream,
    ) -> std::io::Result<()> {
        let mut buf = Vec::new();
        loop {
            let Some(req) = read_request(&mut stream, &mut buf).await? else {
                return Ok(());
            };
            let op = operation(&req, kind);
            let fault = {
                let mut s = self.lock();
                let n = s.counts.entry(op.clone()).or_insert(0);
                *n += 1;
                let n = *n;
                let pos = s.rules.iter().position(|r| r.op == op && r.at == n);
                let fault = pos.map(|i| s.rules.remove(i).fault);
                if let Some(f) = fault {
                    s.injected.push((op.clone(), f));
                }
                fault
            };
            match fault {
                Some(Fault::Throttle) | Some(Fault::ServerError) => {
                    let (status, body) = error_answer(kind, fault == Some(Fault::Throttle));
                    write_response(&mut stream, status, &[], body.as_bytes()).await?;
                    continue;
                }
                Some(Fault::TimeoutBefore) => {
                    tokio::time::sleep(self.hold).await;
                    return reset(stream);
                }
                Some(Fault::ResetBefore) => return reset(stream),
                _ => {}
            }
            let answer = forward(client, upstream, &req).await;
            match fault {
                Some(Fault::TimeoutAfter) => {
                    tokio::time::sleep(self.hold).await;
                    return reset(stream);
                }
                Some(Fault::ResetAfter) => return reset(stream),
                _ => {}
            }
            match answer {
                Ok((status, headers, body)) => {
                    write_response(&mut stream, status, &headers, &body).await?
                }
                Err(_) => return reset(stream),
            }
        }
    }
}

struct Req {
    method: String,
    path: String,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Req {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

fn is_sid(s: &str) -> bool {
    s.len() == 34 && s.bytes().take(2).all(|b| b.is_ascii_uppercase())
}

fn operation(req: &Req, kind: Upstream) -> String {
    match kind {
        Upstream::Aws => match req.header("x-amz-target") {
            Some(t) => t.rsplit('.').next().unwrap_or(t).to_string(),
            None => serde_urlencoded::from_bytes::<Vec<(String, String)>>(&req.body)
                .ok()
                .and_then(|f| f.into_iter().find(|(k, _)| k == "Action").map(|(_, v)| v))
                .unwrap_or_else(|| "?".into()),
        },
        Upstream::Twilio => {
            let path = req.path.split('?').next().unwrap_or("");
            let parts: Vec<&str> = path.split('/').filter(|p| !p.is_empty()).collect();
            let last = match parts.as_slice() {
                [.., a, b] if is_sid(b) => format!("{a}/{{sid}}"),
                [.., b] => b.to_string(),
                [] => String::new(),
            };
            format!("{} {last}", req.method)
        }
    }
}

fn error_answer(kind: Upstream, throttle: bool) -> (u16, String) {
    match (kind, throttle) {
        (Upstream::Aws, true) => (
            400,
            r#"{"__type":"com.amazonaws.dynamodb.v20120810#ThrottlingException","message":"injected throttle"}"#.into(),
        ),
        (Upstream::Aws, false) => (
            500,
            r#"{"__type":"com.amazonaws.dynamodb.v20120810#InternalServerError","message":"injected failure"}"#.into(),
        ),
        (Upstream::Twilio, true) => (
            429,
            r#"{"code":20429,"message":"Too Many Requests","more_info":"https://www.twilio.com/docs/errors/20429","status":429}"#.into(),
        ),
        (Upstream::Twilio, false) => (
            500,
            r#"{"code":20500,"message":"Internal Server Error","more_info":"https://www.twilio.com/docs/errors/20500","status":500}"#.into(),
        ),
    }
}

fn reset(stream: TcpStream) -> std::io::Result<()> {
    // SO_LINGER 0: the peer sees a reset, not an orderly close (and with
    // a zero linger, dropping never blocks).
    #[allow(deprecated)]
    let _ = stream.set_linger(Some(Duration::ZERO));
    drop(stream);
    Ok(())
}

/// One HTTP/1.1 request (Content-Length bodies), or `None` at EOF.
async fn read_request(stream: &mut TcpStream, buf: &mut Vec<u8>) -> std::io::Result<Option<Req>> {
    loop {
        let mut headers = [httparse::EMPTY_HEADER; 64];
        let mut parsed = httparse::Request::new(&mut headers);
        if let httparse::Status::Complete(head_len) =
            parsed.parse(buf).map_err(std::io::Error::other)?
        {
            let headers: Vec<(String, String)> = parsed
                .headers
                .iter()
                .map(|h| {
                    (
                        h.name.to_string(),
                        String::from_utf8_lossy(h.value).into_owned(),
                    )
                })
                .collect();
            let method = parsed.method.unwrap_or("GET").to_string();
            let path = parsed.path.unwrap_or("/").to_string();
            let len: usize = headers
                .iter()
                .find(|(k, _)| k.eq_ignore_ascii_case("content-length"))
                .and_then(|(_, v)| v.trim().parse().ok())
                .unwrap_or(0);
            while buf.len() < head_len + len {
                let mut chunk = [0u8; 16384];
                let n = stream.read(&mut chunk).await?;
                if n == 0 {
                    return Ok(None);
                }
                buf.extend_from_slice(&chunk[..n]);
            }
            let body = buf[head_len..head_len + len].to_vec();
            buf.drain(..head_len + len);
            return Ok(Some(Req {
                method,
                path,
                headers,
                body,
            }));
        }
        let mut chunk = [0u8; 16384];
        let n = stream.read(&mut chunk).await?;
        if n == 0 {
            return Ok(None);
        }
        buf.extend_from_slice(&chunk[..n]);
    }
}

type Answer = (u16, Vec<(String, String)>, Vec<u8>);

async fn forward(client: &reqwest::Client, upstream: &str, req: &Req) -> Result<Answer, String> {
    let method = reqwest::Method::from_bytes(req.method.as_bytes()).map_err(|e| e.to_string())?;
    let mut r = client.request(method, format!("{upstream}{}", req.path));
    for (k, v) in &req.headers {
        let skip = ["content-length", "connection", "transfer-encoding", "host"];
        if !skip.iter().any(|s| k.eq_ignore_ascii_case(s)) {
            r = r.header(k.as_str(), v.as_str());
        }
    }
    let resp = r
        .body(req.body.clone())
        .send()
        .await
        .map_err(|e| e.to_string())?;
    let status = resp.status().as_u16();
    let headers = resp
        .headers()
        .iter()
        .filter(|(k, _)| {
            !["content-length", "connection", "transfer-encoding"].contains(&k.as_str())
        })
        .map(|(k, v)| {
            (
                k.to_string(),
                String::from_utf8_lossy(v.as_bytes()).into_owned(),
            )
        })
        .collect();
    let body = resp.bytes().await.map_err(|e| e.to_string())?.to_vec();
    Ok((status, headers, body))
}

async fn write_response(
    stream: &mut TcpStream,
    status: u16,
    headers: &[(String, String)],
    body: &[u8],
) -> std::io::Result<()> {
    let reason = reqwest::StatusCode::from_u16(status)
        .ok()
        .and_then(|s| s.canonical_reason())
        .unwrap_or("");
    let mut head = format!("HTTP/1.1 {status} {reason}\r\n");
    for (k, v) in headers {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    if !headers
        .iter()
        .any(|(k, _)| k.eq_ignore_ascii_case("content-type"))
        && !body.is_empty()
    {
        head.push_str("content-type: application/json\r\n");
    }
    head.push_str(&format!("content-length: {}\r\n\r\n", body.len()));
    stream.write_all(head.as_bytes()).await?;
    stream.write_all(body).await?;
    stream.flush().await
}
