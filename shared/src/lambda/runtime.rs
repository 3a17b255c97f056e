//! The Lambda Runtime API loop every function runs: ask for the next event,
//! hand it to the function, post the answer.
//!
//! This replaces `lambda_runtime::run`, whose tower stack and hyper client
//! cost ~125 µs of CPU per invocation before a function does anything
//! (BENCHMARKS.md, "Round 4" and "Round 6"). The protocol is small and
//! documented (<https://docs.aws.amazon.com/lambda/latest/dg/runtimes-api.html>):
//! `GET /2018-06-01/runtime/invocation/next` long-polls for an event, then
//! `POST …/invocation/{id}/response` or `…/invocation/{id}/error`. Here it
//! is one keep-alive HTTP/1.1 connection to the loopback Runtime API with
//! blocking reads and writes, no event loop wake-ups. Blocking is what the
//! process should do between invocations anyway: Lambda freezes it there.
//!
//! An invocation's answer and the next `GET …/next` go out pipelined, in
//! one `write` (HTTP/1.1 pipelining, RFC 9112 §9.3.2: the server answers them
//! in order; Lambda's Runtime API, the runtime interface emulator and
//! `cargo lambda watch` all serve a connection's requests one after the
//! other). The answer to the POST is read before the event, so a refused
//! answer is still logged and a failing Runtime API still stops the loop.
//! Each loopback `write` wakes the other side and costs the kernel's whole
//! TCP path, so this saves one per invocation (BENCHMARKS.md, "Round 11").
//!
//! What `lambda_runtime` gave a function is kept: the same
//! [`lambda_runtime::Context`] (built by its own constructor), the same
//! `Lambda runtime invoke` span with `requestId` around each invocation
//! (so every log line still carries the request id), `_X_AMZN_TRACE_ID`
//! set for the AWS SDK's trace propagation, and an event the function
//! cannot read answered with an invocation error instead of a crash.

use std::convert::Infallible;
use std::io::{self, Read, Write};
use std::net::TcpStream;
use std::sync::Arc;

use lambda_runtime::{Context, LambdaEvent, Service};
use tracing::Instrument;

/// Responses above this are refused by Lambda (6 MB); reading a larger
/// event is not attempted either.
const MAX_BODY: usize = 6 * 1024 * 1024 + 64 * 1024;

/// Serve events with `service` until the Runtime API fails: the function's
/// main loop. Returns only on an error talking to the Runtime API (Lambda
/// then restarts the process, as it would after `lambda_runtime::run`).
pub async fn run<E, S>(service: S) -> Result<(), lambda_runtime::Error>
where
    E: serde::de::DeserializeOwned,
    S: Service<LambdaEvent<E>, Error = Infallible>,
    S::Response: serde::Serialize,
{
    let endpoint = std::env::var("AWS_LAMBDA_RUNTIME_API")
        .map_err(|_| "AWS_LAMBDA_RUNTIME_API is not set: not running in Lambda")?;
    prepare_first_invocation();
    serve(RuntimeApi::new(endpoint), config_from_env(), service).await
}

/// About what the heap grows by during a function's first invocation
/// (most of its page faults, BENCHMARKS.md "Round 11"). Below glibc's mmap
/// threshold (128 KiB), so it is carved from the heap's top.
const FIRST_HEAP_GROWTH: usize = 120 * 1024;

/// The last step of init: work every first invocation would otherwise do
/// lazily, done before the first event is asked for.
/// - The heap's top is touched: the kernel maps fresh pages on first touch
///   (one fault each), and freed back below glibc's trim threshold the
///   block stays mapped for the first invocation's allocations.
/// - The span registry's per-thread state and first page of span slots
///   are set up, by a span entered and closed.
/// - SHA-256 (what SigV4 and the cursor and JWT MACs hash with) detects
///   its CPU features, a few `cpuid` instructions that are slow in a
///   virtual machine: every function's first AWS call signs.
fn prepare_first_invocation() {
    use sha2::Digest;
    let block = vec![1u8; FIRST_HEAP_GROWTH];
    drop(std::hint::black_box(block));
    tracing::info_span!("Lambda runtime init").in_scope(|| {});
    std::hint::black_box(sha2::Sha256::digest(std::hint::black_box(b"")));
}

/// The function's settings as Lambda sets them in the environment
/// (`lambda_runtime::Config::from_env`, which panics on a missing one; a
/// missing one here is left empty).
pub fn config_from_env() -> lambda_runtime::Config {
    let var = |name| std::env::var(name).unwrap_or_default();
    lambda_runtime::Config {
        function_name: var("AWS_LAMBDA_FUNCTION_NAME"),
        memory: var("AWS_LAMBDA_FUNCTION_MEMORY_SIZE").parse().unwrap_or(0),
        version: var("AWS_LAMBDA_FUNCTION_VERSION"),
        log_stream: var("AWS_LAMBDA_LOG_STREAM_NAME"),
        log_group: var("AWS_LAMBDA_LOG_GROUP_NAME"),
    }
}

/// [`run`] over a given Runtime API client and configuration.
pub async fn serve<E, S>(
    mut api: RuntimeApi,
    config: lambda_runtime::Config,
    mut service: S,
) -> Result<(), lambda_runtime::Error>
where
    E: serde::de::DeserializeOwned,
    S: Service<LambdaEvent<E>, Error = Infallible>,
    S::Response: serde::Serialize,
{
    let config = Arc::new(config);
    let mut out = Vec::with_capacity(4096);
    loop {
        let event = api.next_event()?;
        let context = match event.headers.context(&event.request_id, config.clone()) {
            Ok(c) => c,
            Err(e) => {
                tracing::error!(error = %e, "the Runtime API sent an invalid invocation context");
                api.fail(&event.request_id, "Runtime.InvalidContext", &e.to_string());
                continue;
            }
        };
        set_trace_env(context.xray_trace_id.as_deref());
        let span = lambda_runtime::layers::trace::request_span(&context);
        let payload: Result<E, _> = crate::json::from_bytes(&event.body);
        api.recycle(event.body);
        let payload = match payload {
            Ok(p) => p,
            Err(e) => {
                let message = format!(
                    "failed to deserialize the incoming data into the function's payload type: {e}"
                );
                span.in_scope(|| tracing::error!(error = %e, "invalid event"));
                api.fail(&event.request_id, "InvalidEventDataError", &message);
                continue;
            }
        };
        std::future::poll_fn(|cx| service.poll_ready(cx))
            .await
            .unwrap_or_else(|never| match never {});
        let call = {
            let _entered = span.enter();
            service.call(LambdaEvent::new(payload, context))
        };
        let response = call
            .instrument(span.clone())
            .await
            .unwrap_or_else(|never| match never {});
        out.clear();
        match serde_json::to_writer(&mut out, &response) {
            Ok(()) => api.respond(&event.request_id, &out),
            Err(e) => {
                span.in_scope(
                    || tracing::error!(error = %e, "the response could not be serialized"),
                );
                api.fail(
                    &event.request_id,
                    "Runtime.SerializationError",
                    &e.to_string(),
                );
            }
        }
    }
}

/// `_X_AMZN_TRACE_ID` for this invocation, as `lambda_runtime` sets it: the
/// AWS SDK's recursion-detection interceptor forwards it as
/// `X-Amzn-Trace-Id`.
fn set_trace_env(trace_id: Option<&str>) {
    // SAFETY: called between invocations, when no function code runs: the
    // functions run on a current-thread runtime and each invocation's future
    // has completed. The one thread that could read the environment now is
    // a DNS lookup (`getaddrinfo` on Tokio's blocking pool) left running by
    // a connection attempt that timed out; `lambda_runtime` sets the
    // variable at this same point with the same call, and so has the same
    // residual exposure.
    unsafe {
        match trace_id {
            Some(id) => std::env::set_var("_X_AMZN_TRACE_ID", id),
            None => std::env::remove_var("_X_AMZN_TRACE_ID"),
        }
    }
}

/// One invocation as the Runtime API handed it over.
pub struct Invocation {
    pub request_id: String,
    pub headers: InvocationHeaders,
    pub body: Vec<u8>,
}

/// The headers of the Runtime API's answers that make an invocation's
/// [`Context`] (the first of each, as `HeaderMap::get` gives it). No
/// other header is kept: a `HeaderMap` of every header (its table, one
/// allocation per value) cost more than the rest of the exchange's parsing
/// (BENCHMARKS.md, "Round 14").
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct InvocationHeaders {
    pub request_id: Option<Vec<u8>>,
    pub deadline_ms: Option<Vec<u8>>,
    pub invoked_function_arn: Option<Vec<u8>>,
    pub trace_id: Option<Vec<u8>>,
    pub client_context: Option<Vec<u8>>,
    pub cognito_identity: Option<Vec<u8>>,
    pub tenant_id: Option<Vec<u8>>,
}

impl InvocationHeaders {
    /// Keep `value` if `name` is one of these headers and the first of its
    /// name; `false` for any other header.
    fn take(&mut self, name: &str, value: &[u8]) -> bool {
        let slot = match name.len() {
            29 if name.eq_ignore_ascii_case("lambda-runtime-aws-request-id") => {
                &mut self.request_id
            }
            26 if name.eq_ignore_ascii_case("lambda-runtime-deadline-ms") => &mut self.deadline_ms,
            35 if name.eq_ignore_ascii_case("lambda-runtime-invoked-function-arn") => {
                &mut self.invoked_function_arn
            }
            23 if name.eq_ignore_ascii_case("lambda-runtime-trace-id") => &mut self.trace_id,
            29 if name.eq_ignore_ascii_case("lambda-runtime-client-context") => {
                &mut self.client_context
            }
            31 if name.eq_ignore_ascii_case("lambda-runtime-cognito-identity") => {
                &mut self.cognito_identity
            }
            28 if name.eq_ignore_ascii_case("lambda-runtime-aws-tenant-id") => &mut self.tenant_id,
            _ => return false,
        };
        if slot.is_none() {
            *slot = Some(value.to_vec());
        }
        true
    }

    /// The invocation's [`Context`], as `lambda_runtime::Context::new`
    /// makes it from the same headers (a test compares the two), except
    /// that a missing deadline is an error here where `Context::new`
    /// panics (Lambda always sends one).
    pub fn context(
        &self,
        request_id: &str,
        env_config: Arc<lambda_runtime::Config>,
    ) -> Result<Context, lambda_runtime::Error> {
        let lossy = |v: &Option<Vec<u8>>| {
            v.as_deref()
                .map(|v| String::from_utf8_lossy(v).into_owned())
        };
        let client_context = json_header(&self.client_context)?;
        let identity = json_header(&self.cognito_identity)?;
        let deadline = visible(
            self.deadline_ms
                .as_deref()
                .ok_or("no Lambda-Runtime-Deadline-Ms")?,
        )?
        .parse::<u64>()?;
        let invoked_function_arn = match &self.invoked_function_arn {
            Some(v) => visible(v)?.to_owned(),
            None => "No header lambda-runtime-invoked-function-arn found.".to_owned(),
        };
        let mut context = Context::default();
        context.request_id = request_id.to_owned();
        context.deadline = deadline;
        context.invoked_function_arn = invoked_function_arn;
        context.xray_trace_id = lossy(&self.trace_id);
        context.client_context = client_context;
        context.identity = identity;
        context.tenant_id = lossy(&self.tenant_id);
        context.env_config = env_config;
        Ok(context)
    }
}

/// A header of JSON: `None` when absent or empty.
fn json_header<T: serde::de::DeserializeOwned>(
    v: &Option<Vec<u8>>,
) -> Result<Option<T>, lambda_runtime::Error> {
    match v.as_deref().map(visible).transpose()? {
        Some(raw) if !raw.is_empty() => Ok(Some(serde_json::from_str(raw)?)),
        _ => Ok(None),
    }
}

/// A header value as text when it is visible ASCII (and tabs), what
/// `HeaderValue::to_str` accepts.
fn visible(v: &[u8]) -> Result<&str, lambda_runtime::Error> {
    if v.iter().all(|&b| b == b'\t' || (32..127).contains(&b)) {
        // All ASCII: valid UTF-8.
        Ok(std::str::from_utf8(v)?)
    } else {
        Err("a header value that is not visible ASCII".into())
    }
}

/// A blocking HTTP/1.1 client of the Runtime API over one keep-alive
/// connection (reopened when the server closed it).
pub struct RuntimeApi {
    /// `host:port`: where to connect, and the `Host` header.
    authority: String,
    /// What comes before `/2018-06-01/…` in every path: empty in Lambda,
    /// `/.rt` under `cargo lambda watch`.
    prefix: String,
    conn: Option<Conn>,
    /// Bytes read from the connection and not yet consumed.
    buf: ReadBuf,
    /// What the next exchange sends: an answer queued by [`respond`] or
    /// [`fail`] (if any), then the `GET …/next` [`next_event`] adds.
    ///
    /// [`respond`]: RuntimeApi::respond
    /// [`fail`]: RuntimeApi::fail
    /// [`next_event`]: RuntimeApi::next_event
    request: Vec<u8>,
    /// The queued answer at the start of `request`, whose own answer is
    /// read before the event's.
    posted: Option<Posted>,
    /// Storage for the next answer's body: an event's body comes back
    /// through [`recycle`](Self::recycle), so a warm process reads events
    /// without allocating for each.
    spare: Vec<u8>,
}

/// An invocation's answer sent ahead of the next `GET …/next`.
struct Posted {
    /// `response` or `error`.
    what: &'static str,
    request_id: String,
    /// Its length at the start of `request`.
    len: usize,
}

/// An answer of the Runtime API.
struct Answer {
    status: u16,
    headers: InvocationHeaders,
    body: Vec<u8>,
}

impl RuntimeApi {
    /// `endpoint` is `AWS_LAMBDA_RUNTIME_API`: `host:port` in Lambda;
    /// `host:port/prefix` (and `http://` before it) are taken too, as
    /// `lambda_runtime` takes them (`cargo lambda watch` sets
    /// `[::]:9000/.rt`).
    pub fn new(endpoint: String) -> Self {
        let endpoint = endpoint.strip_prefix("http://").unwrap_or(&endpoint);
        let (authority, prefix) = match endpoint.find('/') {
            Some(i) => (&endpoint[..i], endpoint[i..].trim_end_matches('/')),
            None => (endpoint, ""),
        };
        RuntimeApi {
            authority: authority.to_owned(),
            prefix: prefix.to_owned(),
            conn: None,
            buf: ReadBuf::new(),
            request: Vec::with_capacity(4096),
            posted: None,
            spare: Vec::new(),
        }
    }

    /// Send the answer queued by [`respond`](Self::respond) or
    /// [`fail`](Self::fail), if any, and wait for the next event.
    pub fn next_event(&mut self) -> io::Result<Invocation> {
        if self.posted.is_none() {
            self.request.clear();
        }
        self.request.extend_from_slice(b"GET ");
        self.request.extend_from_slice(self.prefix.as_bytes());
        self.request
            .extend_from_slice(b"/2018-06-01/runtime/invocation/next HTTP/1.1\r\n");
        self.finish_head(None, None);
        let answer = self.exchange()?;
        if answer.status != 200 {
            return Err(protocol(format!(
                "GET invocation/next answered {}: {}",
                answer.status,
                String::from_utf8_lossy(&answer.body)
            )));
        }
        let request_id = answer
            .headers
            .request_id
            .as_deref()
            .and_then(|v| std::str::from_utf8(v).ok())
            .filter(|id| request_id_is_plain(id))
            .ok_or_else(|| protocol("an event without a usable Lambda-Runtime-Aws-Request-Id"))?
            .to_owned();
        Ok(Invocation {
            request_id,
            headers: answer.headers,
            body: answer.body,
        })
    }

    /// Hand back an event's body once it is read: its storage holds the
    /// next answer's (up to 1 MiB of it is kept).
    pub fn recycle(&mut self, body: Vec<u8>) {
        if body.capacity() <= 1 << 20 {
            self.spare = body;
        }
    }

    /// Queue the function's answer to event `request_id`: it goes out with
    /// the next [`next_event`](Self::next_event), in the same write.
    pub fn respond(&mut self, request_id: &str, body: &[u8]) {
        self.post(request_id, "response", None, body)
    }

    /// Queue an invocation error for event `request_id`, likewise.
    pub fn fail(&mut self, request_id: &str, error_type: &str, message: &str) {
        let body = serde_json::json!({ "errorType": error_type, "errorMessage": message });
        // A `Value` of two strings always serializes.
        let body = serde_json::to_vec(&body).unwrap_or_default();
        self.post(request_id, "error", Some(error_type), &body)
    }

    fn post(
        &mut self,
        request_id: &str,
        what: &'static str,
        error_type: Option<&str>,
        body: &[u8],
    ) {
        debug_assert!(request_id_is_plain(request_id));
        debug_assert!(self.posted.is_none(), "one answer per event");
        self.request.clear();
        self.request.extend_from_slice(b"POST ");
        self.request.extend_from_slice(self.prefix.as_bytes());
        self.request
            .extend_from_slice(b"/2018-06-01/runtime/invocation/");
        self.request.extend_from_slice(request_id.as_bytes());
        self.request.push(b'/');
        self.request.extend_from_slice(what.as_bytes());
        self.request.extend_from_slice(b" HTTP/1.1\r\n");
        self.finish_head(error_type, Some(body.len()));
        self.request.extend_from_slice(body);
        self.posted = Some(Posted {
            what,
            request_id: request_id.to_owned(),
            len: self.request.len(),
        });
    }

    fn finish_head(&mut self, error_type: Option<&str>, content_length: Option<usize>) {
        let r = &mut self.request;
        r.extend_from_slice(b"Host: ");
        r.extend_from_slice(self.authority.as_bytes());
        r.extend_from_slice(b"\r\nUser-Agent: messaging-runtime\r\n");
        if let Some(kind) = error_type {
            r.extend_from_slice(b"Lambda-Runtime-Function-Error-Type: ");
            r.extend_from_slice(kind.as_bytes());
            r.extend_from_slice(b"\r\n");
        }
        if let Some(n) = content_length {
            r.extend_from_slice(b"Content-Type: application/json\r\nContent-Length: ");
            r.extend_from_slice(n.to_string().as_bytes());
            r.extend_from_slice(b"\r\n");
        }
        r.extend_from_slice(b"\r\n");
    }

    /// Send `self.request` and read the answer. A kept-alive connection the
    /// server closed in between is reopened and the request sent again;
    /// nothing of the answer had arrived, so nothing is seen twice.
    fn exchange(&mut self) -> io::Result<Answer> {
        if self.conn.is_some() {
            match self.try_exchange() {
                Err(e) if e.kind() == io::ErrorKind::ConnectionAborted => {
                    self.conn = None;
                }
                other => return other,
            }
        }
        self.try_exchange()
    }

    fn try_exchange(&mut self) -> io::Result<Answer> {
        let reused = self.conn.is_some();
        if !reused {
            let stream = TcpStream::connect(&self.authority)?;
            stream.set_nodelay(true)?;
            self.conn = Some(Conn::new(stream));
            self.buf.clear();
        }
        let result = self.send_and_read(reused);
        if result.is_err() {
            self.conn = None;
            self.buf.clear();
        }
        result
    }

    fn send_and_read(&mut self, reused: bool) -> io::Result<Answer> {
        let Some(conn) = self.conn.as_mut() else {
            return Err(io::ErrorKind::NotConnected.into());
        };
        // On a reused connection, a failure before any answer byte means the
        // server had closed it: report it as "aborted" so it is retried.
        let stale = |e: io::Error| {
            if reused
                && matches!(
                    e.kind(),
                    io::ErrorKind::BrokenPipe
                        | io::ErrorKind::ConnectionReset
                        | io::ErrorKind::ConnectionAborted
                        | io::ErrorKind::UnexpectedEof
                )
            {
                io::Error::new(io::ErrorKind::ConnectionAborted, e)
            } else {
                e
            }
        };
        conn.write_all(&self.request).map_err(stale)?;
        if self.buf.len == 0 {
            if self.posted.is_some() {
                // The answer to the POST comes first and on its own is a
                // hundred-odd bytes; the event follows once there is one.
                // Sleep through the first: wake once, for both.
                self.buf.fill(&mut Both(conn)).map_err(stale)?;
            } else {
                self.buf.fill(conn).map_err(stale)?;
            }
        }
        if let Some(posted) = self.posted.take() {
            let spare = std::mem::take(&mut self.spare);
            let (answer, used, keep_alive) = match read_answer(conn, &mut self.buf, spare) {
                Ok(read) => read,
                Err(e) => {
                    // Not answered: sent again with the GET on a new
                    // connection if the server had closed this one.
                    self.posted = Some(posted);
                    return Err(e);
                }
            };
            self.buf.consume(used);
            // Answered: from here on only the GET is left to send again.
            self.request.drain(..posted.len);
            posted.check(&answer)?;
            self.spare = answer.body;
            if !keep_alive {
                // The server closed after the answer, before reading the
                // GET: ask again on a new connection.
                self.conn = None;
                self.buf.clear();
                return self.try_exchange();
            }
            if self.buf.len == 0 {
                self.buf.fill(conn).map_err(stale)?;
            }
        }
        let spare = std::mem::take(&mut self.spare);
        let (answer, used, keep_alive) = read_answer(conn, &mut self.buf, spare)?;
        self.buf.consume(used);
        if !keep_alive {
            self.conn = None;
            self.buf.clear();
        }
        Ok(answer)
    }
}

impl Posted {
    /// What the Runtime API said to an answer: refused (too large, or the
    /// invocation is gone) is logged, and Lambda records the failure
    /// itself, so serving goes on; a server error stops the loop.
    fn check(self, answer: &Answer) -> io::Result<()> {
        let Posted {
            what, request_id, ..
        } = self;
        match answer.status {
            200..=299 => Ok(()),
            400..=499 => {
                tracing::error!(
                    status = answer.status,
                    answer = %String::from_utf8_lossy(&answer.body),
                    "the Runtime API refused the {what} of {request_id}"
                );
                Ok(())
            }
            status => Err(protocol(format!(
                "POST invocation/{what} answered {status}: {}",
                String::from_utf8_lossy(&answer.body)
            ))),
        }
    }
}

/// What a POST's answer and the `GET …/next` answer sent with it always
/// come to together: the event's head alone, with its request id, deadline,
/// ARN and trace id headers, is longer.
const BOTH_ANSWERS_AT_LEAST: libc::c_int = 256;

/// How long a read for both answers sleeps through a POST's answer at most.
const BOTH_ANSWERS_WAIT: std::time::Duration = std::time::Duration::from_millis(250);

/// The connection to the Runtime API, and what its socket's receive
/// low-water mark (`SO_RCVLOWAT`) is set to.
///
/// After an invocation's answer and the next `GET …/next` go out, the
/// answer to the POST comes first and on its own (a hundred-odd bytes)
/// would wake the process a moment before the event does. A read for both
/// ([`Both`]) is a blocking read with the mark at
/// [`BOTH_ANSWERS_AT_LEAST`]: Linux wakes the reader only once that many
/// bytes are queued (or at end of stream, or on an error), so one wakeup
/// brings both. Its wait is bounded by `SO_RCVTIMEO` ([`BOTH_ANSWERS_WAIT`]),
/// after which the read returns what came, or reads again the plain way:
/// a Runtime API with shorter answers than Lambda's costs at most that
/// quarter second per event, never a hang. Every other read sets the mark
/// back to one byte first, so it wakes at the first byte.
///
/// The socket keeps its settings between reads: when each event arrives in
/// one piece (Lambda's are sent in one write), a warm invocation reads with
/// one `recv` and no `setsockopt` or `poll` at all.
struct Conn {
    stream: TcpStream,
    /// `SO_RCVLOWAT` as last set: 1 (the default) or
    /// [`BOTH_ANSWERS_AT_LEAST`].
    low_water: libc::c_int,
    /// Whether `SO_RCVTIMEO` is set ([`BOTH_ANSWERS_WAIT`]); from the first
    /// read for both on, plain reads that time out read again.
    timed: bool,
}

impl Conn {
    fn new(stream: TcpStream) -> Self {
        Conn {
            stream,
            low_water: 1,
            timed: false,
        }
    }

    fn set_low_water(&mut self, bytes: libc::c_int) -> io::Result<()> {
        use std::os::fd::AsRawFd;
        if self.low_water == bytes {
            return Ok(());
        }
        // SAFETY: a socket and a pointer to an int of the size given.
        let failed = unsafe {
            libc::setsockopt(
                self.stream.as_raw_fd(),
                libc::SOL_SOCKET,
                libc::SO_RCVLOWAT,
                (&bytes as *const libc::c_int).cast(),
                std::mem::size_of::<libc::c_int>() as libc::socklen_t,
            )
        } != 0;
        if failed {
            return Err(io::Error::last_os_error());
        }
        self.low_water = bytes;
        Ok(())
    }

    /// A read for both answers (see [`Conn`]). A failure to set the socket
    /// up for it only costs the wakeup it would save: the read is then a
    /// plain one.
    fn read_both(&mut self, out: &mut [u8]) -> io::Result<usize> {
        if !self.timed {
            if self
                .stream
                .set_read_timeout(Some(BOTH_ANSWERS_WAIT))
                .is_err()
            {
                return self.read(out);
            }
            self.timed = true;
        }
        if self.set_low_water(BOTH_ANSWERS_AT_LEAST).is_err() {
            return self.read(out);
        }
        match self.stream.read(out) {
            // Nothing at all within the wait: wait on the plain way.
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => self.read(out),
            other => other,
        }
    }
}

/// A plain read: it returns as soon as there is a byte.
impl Read for Conn {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        self.set_low_water(1)?;
        loop {
            match self.stream.read(out) {
                // `SO_RCVTIMEO` ran out before anything came: wait again.
                Err(e) if e.kind() == io::ErrorKind::WouldBlock && self.timed => continue,
                other => return other,
            }
        }
    }
}

impl Write for Conn {
    fn write(&mut self, bytes: &[u8]) -> io::Result<usize> {
        self.stream.write(bytes)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.stream.flush()
    }
}

/// [`Conn`]'s read for both answers, as a [`Read`].
struct Both<'a>(&'a mut Conn);

impl Read for Both<'_> {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        self.0.read_both(out)
    }
}

/// Bytes read from a connection and not yet consumed. The storage stays
/// initialized, so a read does not zero it first.
struct ReadBuf {
    data: Vec<u8>,
    len: usize,
}

impl ReadBuf {
    fn new() -> Self {
        ReadBuf {
            data: vec![0; 16 * 1024],
            len: 0,
        }
    }

    fn filled(&self) -> &[u8] {
        &self.data[..self.len]
    }

    /// Read more bytes; end of stream is an error.
    fn fill(&mut self, conn: &mut impl Read) -> io::Result<()> {
        if self.data.len() - self.len < 4096 {
            self.data.resize(self.data.len() * 2, 0);
        }
        let n = loop {
            match conn.read(&mut self.data[self.len..]) {
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                other => break other?,
            }
        };
        if n == 0 {
            return Err(io::ErrorKind::UnexpectedEof.into());
        }
        self.len += n;
        Ok(())
    }

    /// Drop the first `n` bytes.
    fn consume(&mut self, n: usize) {
        self.data.copy_within(n..self.len, 0);
        self.len -= n;
    }

    fn clear(&mut self) {
        self.len = 0;
    }
}

/// Parse one HTTP/1.1 answer from `buf`, reading from `conn` as needed.
/// Returns the answer, how many bytes of `buf` it took, and whether the
/// connection stays open.
fn read_answer(
    conn: &mut impl Read,
    buf: &mut ReadBuf,
    mut body: Vec<u8>,
) -> io::Result<(Answer, usize, bool)> {
    body.clear();
    loop {
        let mut slots = [httparse::EMPTY_HEADER; 32];
        let mut parsed = httparse::Response::new(&mut slots);
        match parsed.parse(buf.filled()).map_err(protocol)? {
            httparse::Status::Partial => {
                if buf.len > 64 * 1024 {
                    return Err(protocol("an answer head over 64 KiB"));
                }
                buf.fill(conn)?;
            }
            httparse::Status::Complete(head) => {
                let status = parsed.code.unwrap_or(0);
                let mut keep_alive = parsed.version == Some(1);
                // httparse has checked every name (a token) and value (no
                // control characters but tabs), what `HeaderName` and
                // `HeaderValue` check.
                let mut headers = InvocationHeaders::default();
                let mut length = None;
                let mut chunked = false;
                for h in parsed.headers.iter() {
                    if headers.take(h.name, h.value) {
                        continue;
                    }
                    let (name, value) = (h.name, h.value);
                    if name.eq_ignore_ascii_case("content-length") {
                        let n = std::str::from_utf8(value)
                            .ok()
                            .and_then(|v| v.trim().parse::<usize>().ok())
                            .ok_or_else(|| protocol("an invalid Content-Length"))?;
                        length = Some(n);
                    } else if name.eq_ignore_ascii_case("transfer-encoding") {
                        chunked = value.eq_ignore_ascii_case(b"chunked");
                    } else if name.eq_ignore_ascii_case("connection") {
                        keep_alive &= !value.eq_ignore_ascii_case(b"close");
                    }
                }
                let (body, end) = if chunked {
                    read_chunked(conn, buf, head, body)?
                } else {
                    let n = length.unwrap_or(0);
                    if n > MAX_BODY {
                        return Err(protocol("an answer body over 6 MB"));
                    }
                    while buf.len < head + n {
                        buf.fill(conn)?;
                    }
                    body.extend_from_slice(&buf.filled()[head..head + n]);
                    (body, head + n)
                };
                return Ok((
                    Answer {
                        status,
                        headers,
                        body,
                    },
                    end,
                    keep_alive,
                ));
            }
        }
    }
}

/// Decode a chunked body starting at `buf[start..]`; returns it and where
/// the answer ends in `buf`.
fn read_chunked(
    conn: &mut impl Read,
    buf: &mut ReadBuf,
    start: usize,
    mut body: Vec<u8>,
) -> io::Result<(Vec<u8>, usize)> {
    let mut at = start;
    loop {
        let (size, size_len) = loop {
            match httparse::parse_chunk_size(&buf.filled()[at..])
                .map_err(|_| protocol("a bad chunk size"))?
            {
                httparse::Status::Complete((len, size)) => break (size as usize, len),
                httparse::Status::Partial => buf.fill(conn)?,
            }
        };
        at += size_len;
        if body.len() + size > MAX_BODY {
            return Err(protocol("an answer body over 6 MB"));
        }
        if size == 0 {
            // Trailers (none expected), then the final CRLF.
            loop {
                if let Some(i) = find_crlf(&buf.filled()[at..]) {
                    at += i + 2;
                    if i == 0 {
                        return Ok((body, at));
                    }
                } else {
                    buf.fill(conn)?;
                }
            }
        }
        while buf.len < at + size + 2 {
            buf.fill(conn)?;
        }
        let data = buf.filled();
        if &data[at + size..at + size + 2] != b"\r\n" {
            return Err(protocol("a chunk not followed by CRLF"));
        }
        body.extend_from_slice(&data[at..at + size]);
        at += size + 2;
    }
}

fn find_crlf(b: &[u8]) -> Option<usize> {
    b.windows(2).position(|w| w == b"\r\n")
}

/// A request id safe to put in a URL path: what Lambda sends (a UUID).
fn request_id_is_plain(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= 128
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_' || b == b'.')
}

fn protocol(e: impl std::fmt::Display) -> io::Error {
    io::Error::new(
        io::ErrorKind::InvalidData,
        format!("Lambda Runtime API: {e}"),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{Value, json};
    use std::net::TcpListener;
    use std::thread::JoinHandle;

    /// What the fake Runtime API answers to one request.
    enum Step {
        /// An event (to `GET …/next`); `chunked` sends it chunked.
        Event {
            id: &'static str,
            body: &'static str,
            chunked: bool,
        },
        /// A status with an empty body (to a POST).
        Status(u16),
        /// Answer with `Connection: close`, then close.
        StatusThenClose(u16),
        /// Close the connection without a word; the request is not
        /// recorded as answered (the client must send it again).
        Drop,
        /// These bytes as the answer.
        Raw(&'static str),
        /// These bytes as the answer, in two writes 300 ms apart (longer
        /// than `BOTH_ANSWERS_WAIT`).
        Split(&'static str, &'static str),
    }

    /// A request the fake received: `METHOD path`, the error-type header,
    /// the body.
    #[derive(Debug, PartialEq)]
    struct Seen {
        line: String,
        error_type: Option<String>,
        body: String,
    }

    /// A fake Runtime API on loopback playing `script`, one step per
    /// request received; when the script is done it closes everything at
    /// the next request (or when the client closes), so the loop under
    /// test returns.
    fn fake(script: Vec<Step>) -> (String, JoinHandle<Vec<Seen>>) {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap().to_string();
        let handle = std::thread::spawn(move || {
            let mut seen = Vec::new();
            let mut steps = script.into_iter().peekable();
            'conns: loop {
                let Ok((mut conn, _)) = listener.accept() else {
                    break;
                };
                let mut buf = ReadBuf::new();
                loop {
                    let Some((line, error_type, body)) = read_request(&mut conn, &mut buf) else {
                        // The client closed: wait for its next connection
                        // unless the script is done.
                        if steps.peek().is_none() {
                            break 'conns;
                        }
                        continue 'conns;
                    };
                    let Some(step) = steps.next() else {
                        // Received, never answered.
                        seen.push(Seen {
                            line,
                            error_type,
                            body,
                        });
                        break 'conns;
                    };
                    // What is sent after a pause, if anything.
                    let mut later = None;
                    let answer = match step {
                        Step::Event { id, body, chunked } => {
                            let head = format!(
                                "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n\
                                 Lambda-Runtime-Aws-Request-Id: {id}\r\n\
                                 Lambda-Runtime-Deadline-Ms: 1700000000000\r\n\
                                 Lambda-Runtime-Invoked-Function-Arn: arn:aws:lambda:us-east-1:1:function:f\r\n\
                                 Lambda-Runtime-Trace-Id: Root=1-5759e988-bd862e3fe1be46a994272793\r\n"
                            );
                            if chunked {
                                let (a, b) = body.split_at(body.len() / 2);
                                format!(
                                    "{head}Transfer-Encoding: chunked\r\n\r\n{:x}\r\n{a}\r\n{:x}\r\n{b}\r\n0\r\n\r\n",
                                    a.len(),
                                    b.len()
                                )
                            } else {
                                format!("{head}Content-Length: {}\r\n\r\n{body}", body.len())
                            }
                        }
                        Step::Status(code) => {
                            format!("HTTP/1.1 {code} X\r\nContent-Length: 2\r\n\r\n{{}}")
                        }
                        Step::StatusThenClose(code) => format!(
                            "HTTP/1.1 {code} X\r\nConnection: close\r\nContent-Length: 2\r\n\r\n{{}}"
                        ),
                        Step::Drop => continue 'conns,
                        Step::Raw(answer) => answer.to_string(),
                        Step::Split(first, rest) => {
                            later = Some(rest);
                            first.to_string()
                        }
                    };
                    seen.push(Seen {
                        line,
                        error_type,
                        body,
                    });
                    conn.write_all(answer.as_bytes()).unwrap();
                    if let Some(rest) = later {
                        std::thread::sleep(std::time::Duration::from_millis(300));
                        conn.write_all(rest.as_bytes()).unwrap();
                    }
                    if answer.contains("Connection: close") {
                        continue 'conns;
                    }
                }
            }
            seen
        });
        (addr, handle)
    }

    /// One request off `conn`: its line, error type and body; `None` once
    /// the client closed.
    fn read_request(
        conn: &mut TcpStream,
        buf: &mut ReadBuf,
    ) -> Option<(String, Option<String>, String)> {
        loop {
            let mut slots = [httparse::EMPTY_HEADER; 16];
            let mut req = httparse::Request::new(&mut slots);
            if let httparse::Status::Complete(head) = req.parse(buf.filled()).unwrap() {
                let line = format!("{} {}", req.method.unwrap(), req.path.unwrap());
                let header = |name: &str| {
                    req.headers
                        .iter()
                        .find(|h| h.name.eq_ignore_ascii_case(name))
                        .map(|h| String::from_utf8(h.value.to_vec()).unwrap())
                };
                let error_type = header("lambda-runtime-function-error-type");
                let n: usize = header("content-length").map_or(0, |v| v.parse().unwrap());
                while buf.len < head + n {
                    buf.fill(conn).ok()?;
                }
                let body = String::from_utf8(buf.filled()[head..head + n].to_vec()).unwrap();
                buf.consume(head + n);
                return Some((line, error_type, body));
            }
            buf.fill(conn).ok()?;
        }
    }

    fn seen(line: &str, error_type: Option<&str>, body: Value) -> Seen {
        Seen {
            line: line.into(),
            error_type: error_type.map(Into::into),
            body: if body.is_null() {
                String::new()
            } else {
                body.to_string()
            },
        }
    }

    const NEXT: &str = "GET /2018-06-01/runtime/invocation/next";

    /// An event sent whole (`Content-Length`).
    fn ev(id: &'static str, body: &'static str) -> Step {
        Step::Event {
            id,
            body,
            chunked: false,
        }
    }

    /// Serve with a handler answering `{"n": <event's n>, "id": <request id>}`.
    async fn serve_echo(addr: String) -> Result<(), lambda_runtime::Error> {
        serve(
            RuntimeApi::new(addr),
            lambda_runtime::Config::default(),
            lambda_runtime::service_fn(|e: LambdaEvent<Value>| async move {
                Ok::<_, Infallible>(json!({ "n": e.payload["n"], "id": e.context.request_id }))
            }),
        )
        .await
    }

    /// [`serve_echo`] on its own thread, failing the test if it has not
    /// returned within `secs` (its reads block, so a timer on the same
    /// thread would never fire).
    fn serve_echo_within(addr: String, secs: u64) -> Result<(), String> {
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            let _ = tx.send(rt.block_on(serve_echo(addr)).map_err(|e| e.to_string()));
        });
        rx.recv_timeout(std::time::Duration::from_secs(secs))
            .expect("the loop waited for ever")
    }

    #[tokio::test]
    async fn answers_each_event_over_one_connection() {
        let (addr, server) = fake(vec![
            ev("a-1", r#"{"n":1}"#),
            Step::Status(202),
            Step::Event {
                id: "b-2",
                body: r#"{"n":2,"pad":"0123456789"}"#,
                chunked: true,
            },
            Step::Status(202),
        ]);
        let result = serve_echo(addr).await;
        assert!(
            result.is_err(),
            "the loop ends when the Runtime API goes away"
        );
        assert_eq!(
            server.join().unwrap(),
            vec![
                seen(NEXT, None, Value::Null),
                seen(
                    "POST /2018-06-01/runtime/invocation/a-1/response",
                    None,
                    json!({"n": 1, "id": "a-1"})
                ),
                seen(NEXT, None, Value::Null),
                seen(
                    "POST /2018-06-01/runtime/invocation/b-2/response",
                    None,
                    json!({"n": 2, "id": "b-2"})
                ),
                seen(NEXT, None, Value::Null),
            ]
        );
    }

    #[tokio::test]
    async fn an_unreadable_event_is_an_invocation_error_and_the_loop_goes_on() {
        let (addr, server) = fake(vec![
            ev("bad", "{not json"),
            Step::Status(202),
            ev("good", r#"{"n":3}"#),
            Step::Status(202),
        ]);
        serve_echo(addr).await.unwrap_err();
        let seen_all = server.join().unwrap();
        assert_eq!(seen_all.len(), 5, "{seen_all:?}");
        assert_eq!(
            seen_all[1].line,
            "POST /2018-06-01/runtime/invocation/bad/error"
        );
        assert_eq!(
            seen_all[1].error_type.as_deref(),
            Some("InvalidEventDataError")
        );
        let error: Value = serde_json::from_str(&seen_all[1].body).unwrap();
        assert_eq!(error["errorType"], "InvalidEventDataError");
        assert!(
            error["errorMessage"]
                .as_str()
                .unwrap()
                .starts_with("failed to deserialize"),
            "{error}"
        );
        assert_eq!(
            seen_all[3],
            seen(
                "POST /2018-06-01/runtime/invocation/good/response",
                None,
                json!({"n": 3, "id": "good"})
            )
        );
    }

    #[tokio::test]
    async fn an_event_without_a_deadline_is_an_invocation_error_not_a_crash() {
        let (addr, server) = fake(vec![
            Step::Raw(
                "HTTP/1.1 200 OK\r\nLambda-Runtime-Aws-Request-Id: x\r\nContent-Length: 2\r\n\r\n{}",
            ),
            Step::Status(202),
        ]);
        serve_echo(addr).await.unwrap_err();
        let seen_all = server.join().unwrap();
        assert_eq!(
            seen_all[1].line,
            "POST /2018-06-01/runtime/invocation/x/error"
        );
        assert_eq!(
            seen_all[1].error_type.as_deref(),
            Some("Runtime.InvalidContext")
        );
    }

    #[tokio::test]
    async fn a_closed_connection_is_reopened_and_nothing_is_answered_twice() {
        let (addr, server) = fake(vec![
            ev("a", r#"{"n":1}"#),
            // The answer is taken, then the server closes the connection.
            Step::StatusThenClose(202),
            ev("b", r#"{"n":2}"#),
            // The server drops the kept-alive connection on this POST
            // without answering: it is sent again on a new one.
            Step::Drop,
            Step::Status(202),
        ]);
        serve_echo(addr).await.unwrap_err();
        let lines: Vec<String> = server.join().unwrap().into_iter().map(|s| s.line).collect();
        assert_eq!(
            lines,
            [
                NEXT,
                "POST /2018-06-01/runtime/invocation/a/response",
                NEXT,
                "POST /2018-06-01/runtime/invocation/b/response",
                NEXT,
            ]
        );
    }

    #[tokio::test]
    async fn a_refused_answer_is_logged_and_the_loop_goes_on() {
        let (addr, server) = fake(vec![
            ev("big", r#"{"n":1}"#),
            Step::Status(413),
            ev("next", r#"{"n":2}"#),
            Step::Status(202),
        ]);
        serve_echo(addr).await.unwrap_err();
        let lines: Vec<String> = server.join().unwrap().into_iter().map(|s| s.line).collect();
        assert_eq!(lines.len(), 5, "{lines:?}");
        assert_eq!(
            lines[3],
            "POST /2018-06-01/runtime/invocation/next/response"
        );
    }

    /// An event answer far shorter than Lambda's: with a 40-byte answer to
    /// the POST before it, the two come to less than
    /// `BOTH_ANSWERS_AT_LEAST`.
    const SHORT_EVENT: &str = "HTTP/1.1 200 OK\r\nLambda-Runtime-Aws-Request-Id: s\r\n\
         Lambda-Runtime-Deadline-Ms: 1\r\nContent-Length: 7\r\n\r\n{\"n\":2}";

    /// A first event, then `second` (an event shorter than Lambda's after
    /// the 40-byte answer to the first one's POST): the loop must answer
    /// it within 20 s (the wait is 250 ms) and go on.
    fn a_short_second_event_is_answered(second: Step) {
        let (addr, server) = fake(vec![
            ev("a-1", r#"{"n":1}"#),
            Step::Status(202),
            second,
            Step::Status(202),
        ]);
        serve_echo_within(addr, 20).unwrap_err();
        let got = server.join().unwrap();
        assert_eq!(got.len(), 5, "{got:?}");
        assert_eq!(
            got[3],
            seen(
                "POST /2018-06-01/runtime/invocation/s/response",
                None,
                json!({"n": 2, "id": "s"})
            )
        );
    }

    #[test]
    fn answers_shorter_than_lambdas_are_waited_for_a_moment_not_for_ever() {
        assert!(40 + SHORT_EVENT.len() < BOTH_ANSWERS_AT_LEAST as usize);
        a_short_second_event_is_answered(Step::Raw(SHORT_EVENT));
    }

    #[test]
    fn after_the_wait_a_read_wakes_at_the_first_byte_again() {
        // The POST's answer and the event's first bytes come to less than
        // `BOTH_ANSWERS_AT_LEAST`, then nothing for longer than the wait:
        // the rest of the event (also less than that) must still be read.
        a_short_second_event_is_answered(Step::Split(
            "HTTP/1.1 200 OK\r\nLambda-Runtime-Aws-Request-Id: s\r\n",
            "Lambda-Runtime-Deadline-Ms: 1\r\nContent-Length: 7\r\n\r\n{\"n\":2}",
        ));
    }

    /// The receive low-water mark of `conn`'s socket, as the kernel has it.
    fn low_water_of(conn: &Conn) -> libc::c_int {
        use std::os::fd::AsRawFd;
        let mut bytes: libc::c_int = 0;
        let mut len = std::mem::size_of::<libc::c_int>() as libc::socklen_t;
        // SAFETY: a socket, and an int with its size.
        let rc = unsafe {
            libc::getsockopt(
                conn.stream.as_raw_fd(),
                libc::SOL_SOCKET,
                libc::SO_RCVLOWAT,
                (&mut bytes as *mut libc::c_int).cast(),
                &mut len,
            )
        };
        assert_eq!(rc, 0);
        bytes
    }

    /// `bytes` written to `server` after `ms` milliseconds, on another
    /// thread that hands `server` back.
    fn write_later(mut server: TcpStream, ms: u64, bytes: &'static [u8]) -> JoinHandle<TcpStream> {
        std::thread::spawn(move || {
            std::thread::sleep(std::time::Duration::from_millis(ms));
            server.write_all(bytes).unwrap();
            server
        })
    }

    #[test]
    fn reads_for_both_answers_and_plain_reads_set_the_socket_as_they_need() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let mut conn = Conn::new(TcpStream::connect(listener.local_addr().unwrap()).unwrap());
        let (mut server, _) = listener.accept().unwrap();
        let mut out = [0u8; 1024];

        // Both answers in one piece: one read, and the mark stays set for
        // the next read for both.
        server.write_all(&[b'a'; 300]).unwrap();
        assert_eq!(Both(&mut conn).read(&mut out).unwrap(), 300);
        assert_eq!(low_water_of(&conn), BOTH_ANSWERS_AT_LEAST);

        // Less than the mark, then nothing: what came, once the wait is over.
        server.write_all(&[b'b'; 40]).unwrap();
        assert_eq!(Both(&mut conn).read(&mut out).unwrap(), 40);

        // Nothing at all within the wait: the read goes on waiting.
        let server = write_later(server, 400, b"0123456789");
        assert_eq!(Both(&mut conn).read(&mut out).unwrap(), 10);
        let server = server.join().unwrap();

        // A plain read: the mark is one byte again, and a read that outlasts
        // the socket's timeout goes on waiting too.
        let server = write_later(server, 400, b"c");
        assert_eq!(conn.read(&mut out).unwrap(), 1);
        assert_eq!(low_water_of(&conn), 1);
        drop(server.join().unwrap());
        assert_eq!(conn.read(&mut out).unwrap(), 0, "end of stream");
    }

    #[tokio::test]
    async fn a_request_id_unfit_for_a_path_stops_the_loop_unanswered() {
        let (addr, server) = fake(vec![ev("../../init/error", r#"{"n":1}"#)]);
        let error = serve_echo(addr).await.unwrap_err();
        assert!(error.to_string().contains("Request-Id"), "{error}");
        assert_eq!(server.join().unwrap().len(), 1, "nothing posted");
    }

    #[tokio::test]
    async fn a_failing_runtime_api_stops_the_loop() {
        let (addr, server) = fake(vec![Step::Raw(
            "HTTP/1.1 500 Internal\r\nContent-Length: 4\r\n\r\noops",
        )]);
        let error = serve_echo(addr).await.unwrap_err();
        assert!(error.to_string().contains("answered 500: oops"), "{error}");
        server.join().unwrap();

        // Failing an answer: its own answer is read before the event's.
        let (addr, server) = fake(vec![
            ev("a", r#"{"n":1}"#),
            Step::Raw("HTTP/1.1 502 Bad Gateway\r\nContent-Length: 4\r\n\r\ngone"),
            ev("never", r#"{"n":2}"#),
        ]);
        let error = serve_echo(addr).await.unwrap_err();
        assert!(
            error
                .to_string()
                .contains("POST invocation/response answered 502: gone"),
            "{error}"
        );
        let lines: Vec<String> = server.join().unwrap().into_iter().map(|s| s.line).collect();
        assert_eq!(
            lines[..2],
            [NEXT, "POST /2018-06-01/runtime/invocation/a/response"]
        );
    }

    #[test]
    fn an_answer_and_the_next_ask_go_out_in_one_write() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap().to_string();
        let server = std::thread::spawn(move || {
            let (mut conn, _) = listener.accept().unwrap();
            let mut reads = Vec::new();
            let mut buf = vec![0; 64 * 1024];
            for answer in [
                "HTTP/1.1 200 OK\r\nLambda-Runtime-Aws-Request-Id: a\r\nContent-Length: 2\r\n\r\n{}",
                "HTTP/1.1 202 Accepted\r\nContent-Length: 2\r\n\r\n{}\
                 HTTP/1.1 200 OK\r\nLambda-Runtime-Aws-Request-Id: b\r\nContent-Length: 2\r\n\r\n{}",
            ] {
                // Each read returns what one write sent (one segment on
                // loopback); the client waits for the answer before its
                // next write.
                let n = conn.read(&mut buf).unwrap();
                reads.push(String::from_utf8(buf[..n].to_vec()).unwrap());
                conn.write_all(answer.as_bytes()).unwrap();
            }
            reads
        });
        let mut api = RuntimeApi::new(addr);
        assert_eq!(api.next_event().unwrap().request_id, "a");
        api.respond("a", b"{\"ok\":true}");
        assert_eq!(api.next_event().unwrap().request_id, "b");
        let reads = server.join().unwrap();
        assert!(reads[0].starts_with("GET /2018-06-01/runtime/invocation/next "));
        let (post, get) = reads[1]
            .split_once("{\"ok\":true}")
            .expect("the answer in the second write");
        assert!(
            post.starts_with("POST /2018-06-01/runtime/invocation/a/response "),
            "{post}"
        );
        assert!(
            get.starts_with("GET /2018-06-01/runtime/invocation/next "),
            "the next ask in the same write: {get:?}"
        );
    }

    #[test]
    fn answers_are_parsed_whole_however_they_arrive() {
        // A chunked answer with the next answer's bytes behind it, read one
        // byte at a time.
        struct Trickle(Vec<u8>, usize);
        impl Read for Trickle {
            fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
                if self.1 == self.0.len() {
                    return Ok(0);
                }
                out[0] = self.0[self.1];
                self.1 += 1;
                Ok(1)
            }
        }
        let wire = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nX-A: 1\r\nlambda-runtime-TRACE-id: t1\r\nLambda-Runtime-Trace-Id: t2\r\n\r\n3\r\nabc\r\n2;ext=1\r\nde\r\n0\r\n\r\nHTTP/1.1";
        let mut conn = Trickle(wire.to_vec(), 0);
        let mut buf = ReadBuf::new();
        buf.fill(&mut conn).unwrap();
        let (answer, used, keep_alive) = read_answer(&mut conn, &mut buf, Vec::new()).unwrap();
        assert_eq!(answer.status, 200);
        assert_eq!(answer.body, b"abcde");
        assert_eq!(
            answer.headers,
            InvocationHeaders {
                trace_id: Some(b"t1".to_vec()),
                ..Default::default()
            },
            "the first of a name, in any case; other headers are not kept"
        );
        assert!(keep_alive);
        assert_eq!(
            &buf.filled()[used..],
            b"",
            "nothing past the answer was read"
        );

        for bad in [
            &b"HTTP/1.1 200 OK\r\nContent-Length: x\r\n\r\n"[..],
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n1\r\nab\r\n",
            b"HTTP/1.1 200 OK\r\nContent-Length: 99999999\r\n\r\n",
            b"NOT HTTP\r\n\r\n",
        ] {
            let mut conn = Trickle(bad.to_vec(), 0);
            let mut buf = ReadBuf::new();
            buf.fill(&mut conn).unwrap();
            let error = read_answer(&mut conn, &mut buf, Vec::new()).err();
            assert!(
                error.is_some_and(|e| e.kind() == io::ErrorKind::InvalidData),
                "{}",
                String::from_utf8_lossy(bad)
            );
        }
        // Cut short: an error, not a hang or a panic.
        let mut conn = Trickle(
            b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc".to_vec(),
            0,
        );
        let mut buf = ReadBuf::new();
        buf.fill(&mut conn).unwrap();
        let error = read_answer(&mut conn, &mut buf, Vec::new()).err().unwrap();
        assert_eq!(error.kind(), io::ErrorKind::UnexpectedEof);
    }

    #[tokio::test]
    async fn a_path_prefix_in_the_endpoint_is_kept_as_cargo_lambda_watch_sets_it() {
        let (addr, server) = fake(vec![ev("a", r#"{"n":1}"#), Step::Status(202)]);
        serve_echo(format!("http://{addr}/.rt/")).await.unwrap_err();
        let lines: Vec<String> = server.join().unwrap().into_iter().map(|s| s.line).collect();
        assert_eq!(
            lines,
            [
                "GET /.rt/2018-06-01/runtime/invocation/next",
                "POST /.rt/2018-06-01/runtime/invocation/a/response",
                "GET /.rt/2018-06-01/runtime/invocation/next",
            ]
        );
    }

    /// The context made from the kept headers is the one
    /// `lambda_runtime::Context::new` makes from all of them.
    #[test]
    fn the_context_is_lambda_runtimes_context() {
        let config = Arc::new(lambda_runtime::Config {
            function_name: "f".into(),
            memory: 128,
            version: "$LATEST".into(),
            log_stream: "s".into(),
            log_group: "g".into(),
        });
        let client = r#"{"client":{"installation_id":"i","app_title":"t","app_version_name":"v","app_version_code":"c","app_package_name":"p"},"custom":{"k":"v"},"environment":{"e":"1"}}"#;
        let identity = r#"{"cognitoIdentityId":"id","cognitoIdentityPoolId":"pool"}"#;
        let cases: Vec<Vec<(&str, &[u8])>> = vec![
            vec![("Lambda-Runtime-Deadline-Ms", b"1767258012020")],
            vec![
                ("Lambda-Runtime-Deadline-Ms", b"1767258012020"),
                (
                    "Lambda-Runtime-Invoked-Function-Arn",
                    b"arn:aws:lambda:us-east-1:1:function:f",
                ),
                (
                    "Lambda-Runtime-Trace-Id",
                    b"Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1",
                ),
                ("Lambda-Runtime-Client-Context", client.as_bytes()),
                ("Lambda-Runtime-Cognito-Identity", identity.as_bytes()),
                ("Lambda-Runtime-Aws-Tenant-Id", b"tenant-1"),
                ("Content-Type", b"application/json"),
            ],
            vec![
                ("lambda-runtime-deadline-ms", b"1"),
                ("lambda-runtime-client-context", b""),
                ("lambda-runtime-cognito-identity", b""),
                ("lambda-runtime-trace-id", b"caf\xc3\xa9 \xff"),
                ("lambda-runtime-aws-tenant-id", b""),
            ],
        ];
        for case in cases {
            let mut ours = InvocationHeaders::default();
            let mut map = http::HeaderMap::new();
            for (name, value) in &case {
                ours.take(name, value);
                map.append(
                    http::HeaderName::from_bytes(name.as_bytes()).unwrap(),
                    http::HeaderValue::from_bytes(value).unwrap(),
                );
            }
            let expected = Context::new("rid", config.clone(), &map).unwrap();
            assert_eq!(
                ours.context("rid", config.clone()).unwrap(),
                expected,
                "{case:?}"
            );
        }
        // What `Context::new` refuses (or panics on) is an error here.
        for bad in [
            vec![],
            vec![("Lambda-Runtime-Deadline-Ms", &b"soon"[..])],
            vec![
                ("Lambda-Runtime-Deadline-Ms", b"1"),
                ("Lambda-Runtime-Client-Context", b"{"),
            ],
            vec![
                ("Lambda-Runtime-Deadline-Ms", b"1"),
                ("Lambda-Runtime-Cognito-Identity", b"[]"),
            ],
            vec![
                ("Lambda-Runtime-Deadline-Ms", b"1"),
                ("Lambda-Runtime-Invoked-Function-Arn", b"arn\xc3\xa9"),
            ],
        ] {
            let mut ours = InvocationHeaders::default();
            for (name, value) in &bad {
                ours.take(name, value);
            }
            assert!(ours.context("rid", config.clone()).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn request_ids_that_fit_a_path() {
        assert!(request_id_is_plain("8476a536-e9f4-11e8-9739-2dfe598c3fcd"));
        for bad in ["", "a/b", "a b", "a\r\nX: y", "é", &"a".repeat(129)] {
            assert!(!request_id_is_plain(bad), "{bad:?}");
        }
    }
}
