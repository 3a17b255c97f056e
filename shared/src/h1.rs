//! The AWS SDK's HTTP connector: HTTP/1.1 keep-alive over tokio's TCP and
//! rustls, behind the SDK's `HttpConnector` trait. Every AWS call of a
//! function (the SDK's clients and the `awsjson` module's) goes through it.
//!
//! It does what those calls need and no more, on the calling task: the
//! request (head and body) written in one go, the answer's head parsed with
//! `httparse`, its body read whole (`content-length`, chunked, or to the end
//! of the connection), the connection kept for the next call. What it
//! replaces (reqwest over hyper's pooled client) hands every request to a
//! connection task through channels and converts it through three request
//! types; on a warm Lambda invocation that was a tenth of the CPU
//! (BENCHMARKS.md, "Round 13").
//!
//! - **Connections**: idle ones are kept per scheme, host and port (at most
//!   [`MAX_IDLE`] each, [`IDLE_TIMEOUT`] at most, as hyper's pool does) and
//!   reused last-in first-out; before reuse a connection is checked with a
//!   non-blocking peek, so one the server closed meanwhile (or that holds
//!   bytes nobody asked for) is dropped, not written to. `TCP_NODELAY` is
//!   set, as reqwest sets it.
//! - **Errors**, classified as the SDK's own client classifies them, so its
//!   retry policy sees the same kinds: a refused or failed connection
//!   (TCP or TLS) or a connection closed or reset before the answer is I/O
//!   (retried); a connect that outlasts the timeout is a timeout; an answer
//!   cut short is a transient error (retried); an answer that is not HTTP
//!   is "other" (not retried). A request is never sent twice here: the
//!   caller's retry policy decides.
//! - **Not supported** (no AWS call needs them): HTTP/2, proxies,
//!   `Expect: 100-continue`, bodies larger than [`MAX_BODY`].

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use aws_smithy_runtime_api::client::http::{
    HttpConnector, HttpConnectorFuture, SharedHttpConnector,
};
use aws_smithy_runtime_api::client::orchestrator::HttpRequest;
use aws_smithy_runtime_api::client::result::ConnectorError;
use aws_smithy_runtime_api::http::{Response as SdkResponse, StatusCode};
use aws_smithy_types::body::SdkBody;
use aws_smithy_types::retry::ErrorKind;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Idle connections kept per scheme, host and port.
pub const MAX_IDLE: usize = 8;
/// An idle connection older than this is not reused (hyper's default).
pub const IDLE_TIMEOUT: Duration = Duration::from_secs(90);
/// The largest answer head read.
const MAX_HEAD: usize = 64 * 1024;
/// The largest answer body read (AWS's JSON answers are far smaller; a
/// DynamoDB page is at most 1 MB).
pub const MAX_BODY: usize = 64 * 1024 * 1024;
const MAX_HEADERS: usize = 64;

/// The connector; clones share their connections.
#[derive(Clone)]
pub struct H1Connector {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for H1Connector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("H1Connector")
            .field("connect_timeout", &self.inner.connect_timeout)
            .finish_non_exhaustive()
    }
}

struct Inner {
    tls: tokio_rustls::TlsConnector,
    connect_timeout: Duration,
    idle_timeout: Duration,
    idle: Mutex<Vec<Idle>>,
}

struct Idle {
    key: Key,
    since: Instant,
    conn: Conn,
}

#[derive(Clone, Debug, PartialEq, Eq)]
struct Key {
    tls: bool,
    host: String,
    port: u16,
}

enum Stream {
    Plain(TcpStream),
    Tls(Box<tokio_rustls::client::TlsStream<TcpStream>>),
}

struct Conn {
    stream: Stream,
    /// Bytes read past the last answer (none from a well-behaved server).
    buf: Vec<u8>,
}

impl H1Connector {
    /// A connector trusting what `tls` trusts, with this connect timeout
    /// (TCP and the TLS handshake).
    pub fn new(tls: rustls::ClientConfig, connect_timeout: Duration) -> Self {
        Self::with_idle_timeout(tls, connect_timeout, IDLE_TIMEOUT)
    }

    /// The same, keeping idle connections at most `idle_timeout` (instead
    /// of [`IDLE_TIMEOUT`]).
    pub fn with_idle_timeout(
        tls: rustls::ClientConfig,
        connect_timeout: Duration,
        idle_timeout: Duration,
    ) -> Self {
        Self {
            inner: Arc::new(Inner {
                tls: tokio_rustls::TlsConnector::from(Arc::new(tls)),
                connect_timeout,
                idle_timeout,
                idle: Mutex::new(Vec::new()),
            }),
        }
    }

    /// One request outside the SDK (Twilio's REST API): `headers` besides
    /// `host` and `content-length`, the answer read within `timeout` once
    /// connected. The error says whether the request may have reached the
    /// server.
    pub async fn request(
        &self,
        method: &str,
        url: &str,
        headers: &[(&str, &str)],
        body: &[u8],
        timeout: Duration,
    ) -> Result<Answer, RequestError> {
        let (target, wire) = encode(method, url, headers.iter().copied(), body)?;
        let mut conn = self.inner.open(&target).await?;
        let answer = tokio::time::timeout(timeout, conn.exchange(&wire, target.head_only))
            .await
            .map_err(|_| RequestError::Timeout(timeout))??;
        if answer.reusable {
            self.inner.checkin(target.key, conn);
        }
        Ok(Answer {
            status: answer.status,
            headers: answer.headers,
            body: answer.body,
        })
    }

    /// As the SDK's connector type.
    pub fn shared(self) -> SharedHttpConnector {
        SharedHttpConnector::new(self)
    }

    /// Idle connections held now (for tests).
    pub fn idle_connections(&self) -> usize {
        self.inner.idle.lock().map(|i| i.len()).unwrap_or(0)
    }
}

impl From<H1Connector> for SharedHttpConnector {
    fn from(c: H1Connector) -> Self {
        c.shared()
    }
}

impl HttpConnector for H1Connector {
    fn call(&self, request: HttpRequest) -> HttpConnectorFuture {
        let inner = self.inner.clone();
        HttpConnectorFuture::new(async move { inner.send(request).await })
    }
}

/// Why an exchange failed, before it becomes a [`ConnectorError`].
#[derive(Debug, thiserror::Error)]
enum Failure {
    #[error("invalid request: {0}")]
    User(String),
    #[error("connect: {0}")]
    Connect(std::io::Error),
    #[error("connect timed out after {0:?}")]
    ConnectTimeout(Duration),
    #[error("{0}")]
    Io(std::io::Error),
    #[error("connection closed before the answer")]
    ClosedBeforeAnswer,
    #[error("answer cut short: {0}")]
    Incomplete(&'static str),
    #[error("not an HTTP/1.x answer: {0}")]
    Malformed(String),
}

impl From<Failure> for ConnectorError {
    fn from(f: Failure) -> Self {
        match f {
            Failure::User(_) => ConnectorError::user(f.into()),
            Failure::Connect(_) | Failure::Io(_) | Failure::ClosedBeforeAnswer => {
                ConnectorError::io(f.into())
            }
            Failure::ConnectTimeout(_) => ConnectorError::timeout(f.into()),
            Failure::Incomplete(_) => {
                ConnectorError::other(f.into(), Some(ErrorKind::TransientError))
            }
            Failure::Malformed(_) => ConnectorError::other(f.into(), None),
        }
    }
}

/// An answer to [`H1Connector::request`].
#[derive(Debug)]
pub struct Answer {
    pub status: u16,
    pub headers: Headers,
    pub body: Vec<u8>,
}

impl Answer {
    /// The first value of header `name` (lower case).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name)
    }
}

/// An answer's headers, names in lower case, in the order they came: all
/// of them in one string (two allocations per answer, where a pair of
/// strings per header cost two each).
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Headers {
    text: String,
    /// Where each header's name and value end in `text`; each starts where
    /// the one before it ends.
    ends: Vec<(u32, u32)>,
}

impl Headers {
    fn with_capacity(headers: usize, bytes: usize) -> Self {
        Headers {
            text: String::with_capacity(bytes),
            ends: Vec::with_capacity(headers),
        }
    }

    fn push(&mut self, name: &str, value: &str) {
        let start = self.text.len();
        self.text.push_str(name);
        self.text[start..].make_ascii_lowercase();
        let name_end = self.text.len() as u32;
        self.text.push_str(value);
        self.ends.push((name_end, self.text.len() as u32));
    }

    /// `(name, value)` of each header.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        let mut start = 0;
        self.ends.iter().map(move |&(name_end, value_end)| {
            let (n, v) = (name_end as usize, value_end as usize);
            let pair = (&self.text[start..n], &self.text[n..v]);
            start = v;
            pair
        })
    }

    /// The first value of header `name` (lower case).
    pub fn get(&self, name: &str) -> Option<&str> {
        self.iter().find(|(n, _)| *n == name).map(|(_, v)| v)
    }

    pub fn len(&self) -> usize {
        self.ends.len()
    }

    pub fn is_empty(&self) -> bool {
        self.ends.is_empty()
    }
}

/// Why [`H1Connector::request`] failed.
#[derive(Debug, thiserror::Error)]
pub enum RequestError {
    /// No connection was made: nothing was sent.
    #[error("connection failed: {0}")]
    Connect(String),
    /// No complete answer within the timeout: the request may have arrived.
    #[error("no answer within {0:?}")]
    Timeout(Duration),
    /// The exchange failed after connecting: the request may have arrived.
    #[error("{0}")]
    Exchange(String),
    #[error("invalid request: {0}")]
    Invalid(String),
}

impl From<Failure> for RequestError {
    fn from(f: Failure) -> Self {
        match f {
            Failure::User(why) => Self::Invalid(why),
            Failure::Connect(_) | Failure::ConnectTimeout(_) => Self::Connect(f.to_string()),
            _ => Self::Exchange(f.to_string()),
        }
    }
}

/// What a request becomes on the wire and where it goes.
struct Target {
    key: Key,
    /// The host to connect to (an IPv6 literal without its brackets).
    connect_host: String,
    head_only: bool,
}

impl Inner {
    async fn send(&self, request: HttpRequest) -> Result<SdkResponse<SdkBody>, ConnectorError> {
        // An in-memory body (every AWS call's) is encoded from the request
        // as it is; a streamed one is collected first.
        let (target, wire) = match request.body().bytes() {
            Some(body) => encode(
                request.method(),
                request.uri(),
                request.headers().iter(),
                body,
            )?,
            None => {
                use http_body_util::BodyExt;
                let mut request = request;
                let body = request
                    .take_body()
                    .collect()
                    .await
                    .map_err(|e| Failure::User(format!("request body: {e}")))?
                    .to_bytes();
                encode(
                    request.method(),
                    request.uri(),
                    request.headers().iter(),
                    &body,
                )?
            }
        };
        let mut conn = self.open(&target).await?;
        let answer = conn.exchange(&wire, target.head_only).await?;
        let status = StatusCode::try_from(answer.status)
            .map_err(|_| Failure::Malformed(format!("status {}", answer.status)))?;
        if answer.reusable {
            self.checkin(target.key, conn);
        }
        let mut response = SdkResponse::new(status, SdkBody::from(answer.body));
        for (name, value) in answer.headers.iter() {
            response
                .headers_mut()
                .try_append(name.to_owned(), value.to_owned())
                .map_err(|e| Failure::Malformed(format!("header: {e}")))?;
        }
        Ok(response)
    }

    /// An idle connection to `target`, else a new one.
    async fn open(&self, target: &Target) -> Result<Conn, Failure> {
        match self.checkout(&target.key) {
            Some(conn) => Ok(conn),
            None => self.connect(target).await,
        }
    }

    /// The most recently used idle connection to `key` that is still open.
    fn checkout(&self, key: &Key) -> Option<Conn> {
        let mut idle = self.idle.lock().ok()?;
        let now = Instant::now();
        idle.retain(|i| now.duration_since(i.since) < self.idle_timeout);
        while let Some(at) = idle.iter().rposition(|i| i.key == *key) {
            let candidate = idle.remove(at).conn;
            if candidate.is_open() {
                return Some(candidate);
            }
        }
        None
    }

    fn checkin(&self, key: Key, conn: Conn) {
        if !conn.buf.is_empty() {
            return;
        }
        if let Ok(mut idle) = self.idle.lock() {
            if idle.iter().filter(|i| i.key == key).count() >= MAX_IDLE
                && let Some(oldest) = idle.iter().position(|i| i.key == key)
            {
                idle.remove(oldest);
            }
            idle.push(Idle {
                key,
                since: Instant::now(),
                conn,
            });
        }
    }

    async fn connect(&self, target: &Target) -> Result<Conn, Failure> {
        let connect = async {
            let tcp = TcpStream::connect((target.connect_host.as_str(), target.key.port))
                .await
                .map_err(Failure::Connect)?;
            tcp.set_nodelay(true).map_err(Failure::Connect)?;
            if !target.key.tls {
                return Ok(Stream::Plain(tcp));
            }
            let name = rustls::pki_types::ServerName::try_from(target.connect_host.clone())
                .map_err(|e| Failure::User(format!("server name: {e}")))?;
            let tls = self
                .tls
                .connect(name, tcp)
                .await
                .map_err(Failure::Connect)?;
            Ok(Stream::Tls(Box::new(tls)))
        };
        let stream = tokio::time::timeout(self.connect_timeout, connect)
            .await
            .map_err(|_| Failure::ConnectTimeout(self.connect_timeout))??;
        Ok(Conn {
            stream,
            buf: Vec::new(),
        })
    }
}

/// The request's target and its bytes: head (with `host` and, for a body
/// or a method that carries one, `content-length`) and body.
fn encode<'a>(
    method: &str,
    url: &str,
    headers: impl Iterator<Item = (&'a str, &'a str)>,
    body: &[u8],
) -> Result<(Target, Vec<u8>), Failure> {
    let uri: http::Uri = url
        .parse()
        .map_err(|e| Failure::User(format!("uri: {e}")))?;
    let tls = match uri.scheme_str() {
        Some("https") => true,
        Some("http") => false,
        other => return Err(Failure::User(format!("scheme {other:?}"))),
    };
    let host = uri
        .host()
        .filter(|h| !h.is_empty())
        .ok_or_else(|| Failure::User("no host".into()))?;
    let default_port = if tls { 443 } else { 80 };
    let port = uri.port_u16().unwrap_or(default_port);
    if method.is_empty() || !method.bytes().all(|b| b.is_ascii_uppercase()) {
        return Err(Failure::User(format!("method {method:?}")));
    }
    let target = Target {
        key: Key {
            tls,
            host: host.to_string(),
            port,
        },
        connect_host: host.trim_start_matches('[').trim_end_matches(']').into(),
        head_only: method == "HEAD",
    };
    let path = uri.path_and_query().map_or("/", |p| p.as_str());
    let path = if path.is_empty() { "/" } else { path };

    let mut head = Vec::with_capacity(512 + body.len());
    head.extend_from_slice(method.as_bytes());
    head.push(b' ');
    head.extend_from_slice(path.as_bytes());
    head.extend_from_slice(b" HTTP/1.1\r\n");
    let mut wrote_host = false;
    let mut has_length = false;
    let mut rest = Vec::with_capacity(256);
    for (name, value) in headers {
        // Byte searches: `str::contains` with a set of chars decodes each
        // char of a value (a signed request's `Authorization` and session
        // token run to hundreds of bytes).
        if memchr::memchr2(b'\r', b'\n', value.as_bytes()).is_some()
            || name.is_empty()
            || name
                .bytes()
                .any(|b| matches!(b, b'\r' | b'\n' | b':' | b' '))
        {
            return Err(Failure::User(format!("header {name:?}")));
        }
        if name.eq_ignore_ascii_case("transfer-encoding") {
            return Err(Failure::User(
                "transfer-encoding: bodies are sent with a length".into(),
            ));
        }
        wrote_host |= name.eq_ignore_ascii_case("host");
        has_length |= name.eq_ignore_ascii_case("content-length");
        rest.extend_from_slice(name.as_bytes());
        rest.extend_from_slice(b": ");
        rest.extend_from_slice(value.as_bytes());
        rest.extend_from_slice(b"\r\n");
    }
    if !wrote_host {
        // As the signer signed it: no default port.
        head.extend_from_slice(b"host: ");
        head.extend_from_slice(host.as_bytes());
        if port != default_port {
            head.extend_from_slice(format!(":{port}").as_bytes());
        }
        head.extend_from_slice(b"\r\n");
    }
    head.extend_from_slice(&rest);
    let carries_body = !matches!(method, "GET" | "HEAD" | "DELETE" | "OPTIONS");
    if !has_length && (!body.is_empty() || carries_body) {
        head.extend_from_slice(format!("content-length: {}\r\n", body.len()).as_bytes());
    }
    head.extend_from_slice(b"\r\n");
    head.extend_from_slice(body);
    Ok((target, head))
}

impl Conn {
    /// Still open with nothing unread: a non-blocking peek finds no data
    /// and no end of stream.
    fn is_open(&self) -> bool {
        use std::os::fd::AsRawFd;
        let fd = match &self.stream {
            Stream::Plain(tcp) => tcp.as_raw_fd(),
            Stream::Tls(tls) => tls.get_ref().0.as_raw_fd(),
        };
        let mut byte = 0u8;
        // SAFETY: a one-byte buffer we own, on a socket we own.
        let n = unsafe {
            libc::recv(
                fd,
                (&mut byte as *mut u8).cast(),
                1,
                libc::MSG_PEEK | libc::MSG_DONTWAIT,
            )
        };
        n < 0 && {
            let e = std::io::Error::last_os_error().kind();
            e == std::io::ErrorKind::WouldBlock
        }
    }

    async fn write_all(&mut self, bytes: &[u8]) -> std::io::Result<()> {
        match &mut self.stream {
            Stream::Plain(s) => s.write_all(bytes).await,
            Stream::Tls(s) => {
                s.write_all(bytes).await?;
                s.flush().await
            }
        }
    }

    /// Read more into `buf`; `Ok(0)` at the end of the stream.
    async fn fill(&mut self) -> std::io::Result<usize> {
        self.buf.reserve(16 * 1024);
        match &mut self.stream {
            Stream::Plain(s) => read_some(s, &mut self.buf).await,
            Stream::Tls(s) => read_some(s.as_mut(), &mut self.buf).await,
        }
    }

    /// Send `wire` and read its answer.
    async fn exchange(&mut self, wire: &[u8], head_only: bool) -> Result<Raw, Failure> {
        self.write_all(wire).await.map_err(Failure::Io)?;
        self.read_answer(head_only).await
    }

    /// The answer, and whether the connection can carry another request.
    async fn read_answer(&mut self, head_only: bool) -> Result<Raw, Failure> {
        loop {
            let (status, headers, head_len, keep_alive) = loop {
                if let Some(parsed) = parse_head(&self.buf)? {
                    break parsed;
                }
                if self.buf.len() > MAX_HEAD {
                    return Err(Failure::Malformed("head larger than 64 KiB".into()));
                }
                let empty = self.buf.is_empty();
                match self.fill().await {
                    Ok(0) if empty => return Err(Failure::ClosedBeforeAnswer),
                    Ok(0) => return Err(Failure::Incomplete("in the head")),
                    Ok(_) => {}
                    Err(e) if empty => return Err(Failure::Io(e)),
                    Err(_) => return Err(Failure::Incomplete("in the head")),
                }
            };
            self.buf.drain(..head_len);
            // An interim answer (100 Continue): the real one follows.
            if (100..200).contains(&status) && status != 101 {
                continue;
            }
            let framing = if head_only || status == 204 || status == 304 {
                Framing::Length(0)
            } else if let Some(te) = header(&headers, "transfer-encoding") {
                if te
                    .rsplit(',')
                    .next()
                    .is_some_and(|last| last.trim().eq_ignore_ascii_case("chunked"))
                {
                    Framing::Chunked
                } else {
                    Framing::ToEnd
                }
            } else if let Some(len) = header(&headers, "content-length") {
                let len: usize = len
                    .trim()
                    .parse()
                    .map_err(|_| Failure::Malformed(format!("content-length {len:?}")))?;
                if len > MAX_BODY {
                    return Err(Failure::Malformed(format!("a body of {len} bytes")));
                }
                Framing::Length(len)
            } else {
                Framing::ToEnd
            };
            let body = match framing {
                Framing::Length(n) => self.read_exact_body(n).await?,
                Framing::Chunked => self.read_chunked().await?,
                Framing::ToEnd => self.read_to_end().await?,
            };
            return Ok(Raw {
                status,
                headers,
                body,
                reusable: keep_alive && !matches!(framing, Framing::ToEnd),
            });
        }
    }

    async fn read_exact_body(&mut self, n: usize) -> Result<Vec<u8>, Failure> {
        while self.buf.len() < n {
            match self.fill().await {
                Ok(0) | Err(_) => return Err(Failure::Incomplete("in the body")),
                Ok(_) => {}
            }
        }
        // Copied whole; collecting the drained bytes went one at a time.
        let body = self.buf[..n].to_vec();
        self.buf.drain(..n);
        Ok(body)
    }

    async fn read_to_end(&mut self) -> Result<Vec<u8>, Failure> {
        loop {
            if self.buf.len() > MAX_BODY {
                return Err(Failure::Malformed("a body larger than 64 MiB".into()));
            }
            match self.fill().await {
                Ok(0) => return Ok(std::mem::take(&mut self.buf)),
                Ok(_) => {}
                Err(_) => return Err(Failure::Incomplete("in the body")),
            }
        }
    }

    /// A chunked body (RFC 9112 §7.1): sizes in hex, extensions and
    /// trailers skipped.
    async fn read_chunked(&mut self) -> Result<Vec<u8>, Failure> {
        let mut body = Vec::new();
        loop {
            let line = self.read_line().await?;
            let size = line.split(';').next().unwrap_or("").trim();
            let size = usize::from_str_radix(size, 16)
                .map_err(|_| Failure::Malformed(format!("chunk size {size:?}")))?;
            if size == 0 {
                // Trailers, up to an empty line.
                while !self.read_line().await?.is_empty() {}
                return Ok(body);
            }
            if body.len() + size > MAX_BODY {
                return Err(Failure::Malformed("a body larger than 64 MiB".into()));
            }
            let chunk = self.read_exact_body(size + 2).await?;
            if &chunk[size..] != b"\r\n" {
                return Err(Failure::Malformed("chunk without its CRLF".into()));
            }
            body.extend_from_slice(&chunk[..size]);
        }
    }

    async fn read_line(&mut self) -> Result<String, Failure> {
        loop {
            if let Some(end) = self.buf.windows(2).position(|w| w == b"\r\n") {
                let line = String::from_utf8_lossy(&self.buf[..end]).into_owned();
                self.buf.drain(..end + 2);
                return Ok(line);
            }
            if self.buf.len() > MAX_HEAD {
                return Err(Failure::Malformed("a chunk line longer than 64 KiB".into()));
            }
            match self.fill().await {
                Ok(0) | Err(_) => return Err(Failure::Incomplete("in the body")),
                Ok(_) => {}
            }
        }
    }
}

/// An answer as read: header names in lower case.
struct Raw {
    status: u16,
    headers: Headers,
    body: Vec<u8>,
    /// The connection can carry another request.
    reusable: bool,
}

enum Framing {
    Length(usize),
    Chunked,
    ToEnd,
}

/// Read into `buf`'s spare capacity.
async fn read_some<S: AsyncRead + Unpin>(s: &mut S, buf: &mut Vec<u8>) -> std::io::Result<usize> {
    s.read_buf(buf).await
}

type Head = (u16, Headers, usize, bool);

/// A complete answer head in `buf`: status, headers, its length, and
/// whether the connection stays open after the answer.
fn parse_head(buf: &[u8]) -> Result<Option<Head>, Failure> {
    let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut response = httparse::Response::new(&mut headers);
    let head_len = match response.parse(buf) {
        Ok(httparse::Status::Complete(n)) => n,
        Ok(httparse::Status::Partial) => return Ok(None),
        Err(e) => return Err(Failure::Malformed(e.to_string())),
    };
    let status = response.code.unwrap_or(0);
    let version = response.version.unwrap_or(0);
    let bytes = response
        .headers
        .iter()
        .map(|h| h.name.len() + h.value.len())
        .sum();
    let mut out = Headers::with_capacity(response.headers.len(), bytes);
    let mut close = version == 0;
    for h in response.headers.iter() {
        let value = std::str::from_utf8(h.value)
            .map_err(|_| Failure::Malformed(format!("header {} is not text", h.name)))?;
        if h.name.eq_ignore_ascii_case("connection") {
            for token in value.split(',') {
                let token = token.trim();
                if token.eq_ignore_ascii_case("close") {
                    close = true;
                } else if token.eq_ignore_ascii_case("keep-alive") && version == 0 {
                    close = false;
                }
            }
        }
        out.push(h.name, value);
    }
    Ok(Some((status, out, head_len, !close)))
}

fn header<'a>(headers: &'a Headers, name: &str) -> Option<&'a str> {
    headers.get(name)
}

#[cfg(test)]
mod tests;
