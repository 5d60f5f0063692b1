//! A small HTTP/1.1 proxy for tests, on raw TCP (tokio only): it sits between `moodle-ha`
//! (`AWS_ENDPOINT_URL=http://127.0.0.1:<port>`) and the emulator, forwards every request,
//! counts and records them, and can be told to
//!
//! - **trip after k requests** ([`Behaviour::TripAfter`]): the k-th request is forwarded and
//!   its answer withheld; it and every later request are held unanswered, none reaches the
//!   emulator, and [`Proxy::tripped`] turns true so the test kills the client;
//! - **inject faults** ([`Behaviour::Faults`]): a seeded, deterministic share of requests is
//!   answered by the proxy instead of the emulator: a throttling error in the service's own
//!   protocol, an HTTP 500 or 503, or a connection reset; the emulator never sees them
//!   (except for [`Fault::LostAnswer`], done by the emulator and its answer lost);
//! - **hold one operation until another was answered** ([`Behaviour::HoldUntil`]), to make
//!   an ordering of two steps certain instead of a matter of timing.
//!
//! One request per connection, answered with `Connection: close`, as the emulator does.
//! The proxy runs its own runtime on its own thread, so a test may block while it works.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// What the proxy does with the requests it receives.
#[derive(Clone, Debug)]
pub enum Behaviour {
    /// Forward everything.
    Forward,
    /// Forward requests 1..k; withhold the answer to the k-th and hold everything after it.
    TripAfter(usize),
    /// Answer a share of requests with faults, forward the rest.
    Faults(FaultPlan),
    /// Hold every request of operation `hold` (e.g. `CreateListener`) until a request of
    /// operation `until` whose body contains `until_body` has been answered by the emulator,
    /// or `max` has passed; forward everything else at once. Makes an ordering of two steps
    /// certain instead of a matter of timing.
    HoldUntil {
        hold: String,
        until: String,
        until_body: String,
        max: std::time::Duration,
    },
}

/// A fault the proxy answers with instead of the emulator.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Fault {
    /// HTTP 400 with the protocol's throttling error (`Throttling`, `RequestLimitExceeded`
    /// for EC2, `ThrottlingException` for JSON services).
    Throttle,
    /// HTTP 500 `InternalFailure`.
    Http500,
    /// HTTP 503 `ServiceUnavailable`.
    Http503,
    /// The request is read, then the connection is reset (RST) without an answer.
    Reset,
    /// The request is forwarded and done by the emulator, then the connection is reset
    /// instead of passing its answer on: a response lost on the way back.
    LostAnswer,
}

/// Which requests get a fault: request number `n` (counted from 1 as they arrive) is faulted
/// when `mix(seed + n) % one_in == 0`, with the kind chosen from the same number; attempts
/// after `max_faulted_attempt` of one operation (the SDK's `amz-sdk-request` header) are
/// always forwarded, so every operation succeeds within the SDK's six attempts.
#[derive(Clone, Debug)]
pub struct FaultPlan {
    pub seed: u64,
    pub one_in: u64,
    pub kinds: Vec<Fault>,
    pub max_faulted_attempt: u32,
}

impl FaultPlan {
    fn fault_for(&self, n: usize, attempt: u32) -> Option<Fault> {
        if self.kinds.is_empty() || self.one_in == 0 || attempt > self.max_faulted_attempt {
            return None;
        }
        let r = mix(self.seed.wrapping_add(n as u64));
        (r % self.one_in == 0)
            .then(|| self.kinds[((r / self.one_in) % self.kinds.len() as u64) as usize])
    }
}

/// SplitMix64's finaliser: a well-spread number from a counter.
fn mix(x: u64) -> u64 {
    let mut z = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// What became of one request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// Sent to the emulator and its answer (of this HTTP status) passed back.
    Forwarded(u16),
    /// Sent to the emulator, answer withheld: the request the proxy tripped on.
    ForwardedAnswerWithheld,
    /// Answered by the proxy with a fault; the emulator never saw it.
    Injected(Fault),
    /// Held unanswered after the trip; the emulator never saw it.
    Held,
    /// The emulator could not be reached or answered nothing (the client got a 502).
    UpstreamError(String),
}

/// One request as the proxy saw it.
#[derive(Clone, Debug)]
pub struct Record {
    /// 1-based arrival number.
    pub n: usize,
    /// The signing name from the credential scope (`ec2`, `rds`, `elasticfilesystem`, …).
    pub service: String,
    /// `Action=` (query), `X-Amz-Target` (JSON) or `METHOD /path` (REST).
    pub operation: String,
    /// The SDK's attempt number (`amz-sdk-request: attempt=N`), 1 when absent.
    pub attempt: u32,
    /// The SDK's id of the operation, the same for all its attempts (`amz-sdk-invocation-id`).
    pub invocation: String,
    pub outcome: Outcome,
}

struct Shared {
    behaviour: Behaviour,
    /// For [`Behaviour::HoldUntil`]: the awaited operation has been answered.
    released: tokio::sync::watch::Sender<bool>,
    upstream: String,
    arrived: AtomicUsize,
    tripped: AtomicBool,
    records: Mutex<Vec<Record>>,
}

/// A running proxy; dropped, it stops (held connections are closed).
pub struct Proxy {
    url: String,
    shared: Arc<Shared>,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Proxy {
    /// Starts a proxy in front of `upstream` (`http://host:port`).
    pub fn start(upstream: &str, behaviour: Behaviour) -> Self {
        let authority = upstream
            .strip_prefix("http://")
            .unwrap_or_else(|| panic!("the proxy speaks plain HTTP only, not {upstream}"))
            .trim_end_matches('/')
            .to_string();
        let shared = Arc::new(Shared {
            behaviour,
            released: tokio::sync::watch::channel(false).0,
            upstream: authority,
            arrived: AtomicUsize::new(0),
            tripped: AtomicBool::new(false),
            records: Mutex::new(Vec::new()),
        });
        let std_listener =
            std::net::TcpListener::bind("127.0.0.1:0").expect("bind the proxy's port");
        std_listener
            .set_nonblocking(true)
            .expect("non-blocking proxy listener");
        let url = format!(
            "http://{}",
            std_listener.local_addr().expect("the proxy's address")
        );
        let (tx, rx) = tokio::sync::oneshot::channel();
        let thread = {
            let shared = shared.clone();
            std::thread::Builder::new()
                .name("test-proxy".into())
                .spawn(move || {
                    let rt = tokio::runtime::Builder::new_multi_thread()
                        .worker_threads(2)
                        .enable_all()
                        .build()
                        .expect("the proxy's runtime");
                    rt.block_on(async move {
                        let listener = TcpListener::from_std(std_listener)
                            .expect("the proxy's tokio listener");
                        serve(listener, shared, rx).await;
                    });
                    // Dropping the runtime cancels the held and in-flight connections.
                    rt.shutdown_background();
                })
                .expect("start the proxy thread")
        };
        Self {
            url,
            shared,
            shutdown: Some(tx),
            thread: Some(thread),
        }
    }

    /// The URL to give the client as its endpoint.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// Requests received so far.
    pub fn requests(&self) -> usize {
        self.shared.arrived.load(Ordering::SeqCst)
    }

    /// Whether the k-th request of [`Behaviour::TripAfter`] has been forwarded.
    pub fn tripped(&self) -> bool {
        self.shared.tripped.load(Ordering::SeqCst)
    }

    /// Every request, in arrival order.
    pub fn records(&self) -> Vec<Record> {
        let mut r = self
            .shared
            .records
            .lock()
            .map(|r| r.clone())
            .unwrap_or_default();
        r.sort_by_key(|r| r.n);
        r
    }

    /// Faults injected, by kind.
    pub fn faults(&self) -> BTreeMap<Fault, usize> {
        let mut out = BTreeMap::new();
        for r in self.records() {
            if let Outcome::Injected(f) = r.outcome {
                *out.entry(f).or_default() += 1;
            }
        }
        out
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

async fn serve(
    listener: TcpListener,
    shared: Arc<Shared>,
    mut shutdown: tokio::sync::oneshot::Receiver<()>,
) {
    loop {
        tokio::select! {
            _ = &mut shutdown => return,
            accepted = listener.accept() => {
                if let Ok((stream, _)) = accepted {
                    tokio::spawn(handle(stream, shared.clone()));
                }
            }
        }
    }
}

/// A request read off the wire: its bytes as received, and what the proxy needs of them.
struct Request {
    head: Vec<String>,
    body_raw: Vec<u8>,
    body: Vec<u8>,
}

impl Request {
    fn header(&self, name: &str) -> Option<&str> {
        self.head.iter().skip(1).find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.trim().eq_ignore_ascii_case(name).then(|| v.trim())
        })
    }

    /// The signing name from `Authorization: … Credential=KEY/DATE/REGION/SERVICE/aws4_request`.
    fn service(&self) -> String {
        self.header("authorization")
            .and_then(|a| a.split("Credential=").nth(1))
            .and_then(|c| c.split('/').nth(3))
            .unwrap_or("?")
            .to_string()
    }

    fn protocol(&self) -> Protocol {
        let content_type = self.header("content-type").unwrap_or_default();
        if self.header("x-amz-target").is_some() {
            Protocol::Json
        } else if content_type.starts_with("application/x-www-form-urlencoded") {
            if self.service() == "ec2" {
                Protocol::Ec2Query
            } else {
                Protocol::Query
            }
        } else if self.service() == "s3" {
            Protocol::RestXml
        } else {
            Protocol::RestJson
        }
    }

    fn operation(&self) -> String {
        match self.protocol() {
            Protocol::Json => self
                .header("x-amz-target")
                .and_then(|t| t.rsplit('.').next())
                .unwrap_or("?")
                .to_string(),
            Protocol::Query | Protocol::Ec2Query => String::from_utf8_lossy(&self.body)
                .split('&')
                .find_map(|kv| kv.strip_prefix("Action="))
                .unwrap_or("?")
                .to_string(),
            Protocol::RestJson | Protocol::RestXml => {
                let line = self.head.first().map(String::as_str).unwrap_or_default();
                let mut parts = line.split(' ');
                let method = parts.next().unwrap_or("?");
                let path = parts.next().unwrap_or("?").split('?').next().unwrap_or("?");
                format!("{method} {path}")
            }
        }
    }

    fn attempt(&self) -> u32 {
        self.header("amz-sdk-request")
            .and_then(|v| v.split(';').find_map(|p| p.trim().strip_prefix("attempt=")))
            .and_then(|n| n.parse().ok())
            .unwrap_or(1)
    }

    /// The bytes to send upstream: as received, with `Connection: close`.
    fn to_upstream(&self) -> Vec<u8> {
        let mut out = String::new();
        for (i, line) in self.head.iter().enumerate() {
            let hop = line.split_once(':').is_some_and(|(k, _)| {
                let k = k.trim();
                k.eq_ignore_ascii_case("connection") || k.eq_ignore_ascii_case("keep-alive")
            });
            if i == 0 || !hop {
                out.push_str(line);
                out.push_str("\r\n");
            }
        }
        out.push_str("Connection: close\r\n\r\n");
        let mut bytes = out.into_bytes();
        bytes.extend_from_slice(&self.body_raw);
        bytes
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Protocol {
    /// `awsQuery`: RDS, ElastiCache, ELBv2, Auto Scaling, IAM.
    Query,
    /// `ec2Query`.
    Ec2Query,
    /// `awsJson1.x` (`X-Amz-Target`): Secrets Manager, SSM.
    Json,
    /// `restJson1`: EFS.
    RestJson,
    /// `restXml`: S3.
    RestXml,
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

/// Reads one request; `None` on a connection closed before a complete one.
async fn read_request(stream: &mut TcpStream) -> Option<Request> {
    let mut buf = Vec::with_capacity(8192);
    let head_end = loop {
        if let Some(i) = find(&buf, b"\r\n\r\n") {
            break i + 4;
        }
        if buf.len() > 1 << 20 || stream.read_buf(&mut buf).await.ok()? == 0 {
            return None;
        }
    };
    let head: Vec<String> = String::from_utf8_lossy(&buf[..head_end - 4])
        .split("\r\n")
        .map(str::to_string)
        .collect();
    let mut request = Request {
        head,
        body_raw: Vec::new(),
        body: Vec::new(),
    };
    let chunked = request
        .header("transfer-encoding")
        .is_some_and(|v| v.to_ascii_lowercase().contains("chunked"));
    if chunked {
        // Read until the whole chunked body has arrived, decoding it as we go.
        loop {
            if let Some((body, used)) = dechunk(&buf[head_end..]) {
                request.body = body;
                request.body_raw = buf[head_end..head_end + used].to_vec();
                return Some(request);
            }
            if stream.read_buf(&mut buf).await.ok()? == 0 {
                return None;
            }
        }
    }
    let length: usize = request
        .header("content-length")
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    while buf.len() < head_end + length {
        if stream.read_buf(&mut buf).await.ok()? == 0 {
            return None;
        }
    }
    request.body_raw = buf[head_end..head_end + length].to_vec();
    request.body = request.body_raw.clone();
    Some(request)
}

/// A complete chunked body's content and length, or `None` if more bytes are needed.
fn dechunk(data: &[u8]) -> Option<(Vec<u8>, usize)> {
    let mut body = Vec::new();
    let mut at = 0;
    loop {
        let line_end = at + find(&data[at..], b"\r\n")?;
        let size_text = String::from_utf8_lossy(&data[at..line_end]);
        let size = usize::from_str_radix(size_text.split(';').next()?.trim(), 16).ok()?;
        at = line_end + 2;
        if size == 0 {
            // Trailers, then an empty line.
            let end = at
                + find(&data[at..], b"\r\n\r\n")
                    .map(|i| i + 4)
                    .or_else(|| data[at..].starts_with(b"\r\n").then_some(2))?;
            return Some((body, end));
        }
        if data.len() < at + size + 2 {
            return None;
        }
        body.extend_from_slice(&data[at..at + size]);
        at += size + 2;
    }
}

async fn handle(mut stream: TcpStream, shared: Arc<Shared>) {
    let Some(request) = read_request(&mut stream).await else {
        return;
    };
    let n = shared.arrived.fetch_add(1, Ordering::SeqCst) + 1;
    let record = |outcome: Outcome| Record {
        n,
        service: request.service(),
        operation: request.operation(),
        attempt: request.attempt(),
        invocation: request
            .header("amz-sdk-invocation-id")
            .unwrap_or_default()
            .to_string(),
        outcome,
    };
    let push = |r: Record| {
        if let Ok(mut records) = shared.records.lock() {
            records.push(r);
        }
    };
    match &shared.behaviour {
        Behaviour::Forward => {}
        Behaviour::TripAfter(k) => {
            if n > *k || shared.tripped.load(Ordering::SeqCst) {
                push(record(Outcome::Held));
                return hold(stream).await;
            }
            if n == *k {
                let outcome = match forward(&shared.upstream, &request).await {
                    Ok(_) => Outcome::ForwardedAnswerWithheld,
                    Err(e) => Outcome::UpstreamError(e),
                };
                push(record(outcome));
                shared.tripped.store(true, Ordering::SeqCst);
                return hold(stream).await;
            }
        }
        Behaviour::HoldUntil { hold, max, .. } if request.operation() == *hold => {
            let mut released = shared.released.subscribe();
            let _ = tokio::time::timeout(*max, released.wait_for(|r| *r)).await;
        }
        Behaviour::HoldUntil { .. } => {}
        Behaviour::Faults(plan) => {
            if let Some(fault) = plan.fault_for(n, request.attempt()) {
                push(record(Outcome::Injected(fault)));
                if fault == Fault::LostAnswer {
                    let _ = forward(&shared.upstream, &request).await;
                }
                if matches!(fault, Fault::Reset | Fault::LostAnswer) {
                    // SO_LINGER 0: closing sends RST instead of FIN.
                    let _ = stream.set_zero_linger();
                    drop(stream);
                } else {
                    let answer = fault_response(fault, request.protocol(), n);
                    let _ = stream.write_all(&answer).await;
                    let _ = stream.shutdown().await;
                }
                return;
            }
        }
    }
    let (answer, outcome) = match forward(&shared.upstream, &request).await {
        Ok(answer) => {
            let status = String::from_utf8_lossy(&answer[..answer.len().min(16)])
                .split(' ')
                .nth(1)
                .and_then(|s| s.parse().ok())
                .unwrap_or(0);
            if let Behaviour::HoldUntil {
                until, until_body, ..
            } = &shared.behaviour
            {
                if request.operation() == *until
                    && String::from_utf8_lossy(&request.body).contains(until_body.as_str())
                {
                    shared.released.send_replace(true);
                }
            }
            (answer, Outcome::Forwarded(status))
        }
        Err(e) => (
            b"HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\nConnection: close\r\n\r\n".to_vec(),
            Outcome::UpstreamError(e),
        ),
    };
    push(record(outcome));
    let _ = stream.write_all(&answer).await;
    let _ = stream.shutdown().await;
}

/// Keeps a connection open and unanswered until the proxy stops.
async fn hold(stream: TcpStream) {
    std::future::pending::<()>().await;
    drop(stream);
}

/// Sends the request to the emulator and returns its whole answer, with `Connection: close`.
async fn forward(upstream: &str, request: &Request) -> Result<Vec<u8>, String> {
    let mut up = TcpStream::connect(upstream)
        .await
        .map_err(|e| format!("connect {upstream}: {e}"))?;
    up.write_all(&request.to_upstream())
        .await
        .map_err(|e| format!("send: {e}"))?;
    let mut answer = Vec::new();
    up.read_to_end(&mut answer)
        .await
        .map_err(|e| format!("receive: {e}"))?;
    let head_end = find(&answer, b"\r\n\r\n")
        .ok_or_else(|| format!("no HTTP answer ({} bytes)", answer.len()))?;
    let head = String::from_utf8_lossy(&answer[..head_end]).into_owned();
    let mut out = String::new();
    for (i, line) in head.split("\r\n").enumerate() {
        let hop = line.split_once(':').is_some_and(|(k, _)| {
            let k = k.trim();
            k.eq_ignore_ascii_case("connection") || k.eq_ignore_ascii_case("keep-alive")
        });
        if i == 0 || !hop {
            out.push_str(line);
            out.push_str("\r\n");
        }
    }
    out.push_str("Connection: close\r\n\r\n");
    let mut bytes = out.into_bytes();
    bytes.extend_from_slice(&answer[head_end + 4..]);
    Ok(bytes)
}

/// The answer AWS gives for a fault, in the request's protocol.
fn fault_response(fault: Fault, protocol: Protocol, n: usize) -> Vec<u8> {
    let request_id = format!("proxy-fault-{n:06}");
    let (status, reason, code, sender, message) = match (fault, protocol) {
        (Fault::Throttle, Protocol::Ec2Query) => (
            400,
            "Bad Request",
            "RequestLimitExceeded",
            "Sender",
            "Request limit exceeded.",
        ),
        (Fault::Throttle, Protocol::Query) => {
            (400, "Bad Request", "Throttling", "Sender", "Rate exceeded")
        }
        // S3 throttles with 503 SlowDown.
        (Fault::Throttle, Protocol::RestXml) => (
            503,
            "Slow Down",
            "SlowDown",
            "Receiver",
            "Please reduce your request rate.",
        ),
        (Fault::Throttle, _) => (
            400,
            "Bad Request",
            "ThrottlingException",
            "Sender",
            "Rate exceeded",
        ),
        (Fault::Http503, Protocol::Ec2Query) => (
            503,
            "Service Unavailable",
            "Unavailable",
            "Receiver",
            "The server is overloaded",
        ),
        (Fault::Http503, Protocol::Query) => (
            503,
            "Service Unavailable",
            "ServiceUnavailable",
            "Receiver",
            "Service unavailable",
        ),
        (Fault::Http503, _) => (
            503,
            "Service Unavailable",
            "ServiceUnavailableException",
            "Receiver",
            "Service unavailable",
        ),
        (_, Protocol::Ec2Query) => (
            500,
            "Internal Server Error",
            "InternalError",
            "Receiver",
            "An internal error has occurred",
        ),
        (_, _) => (
            500,
            "Internal Server Error",
            "InternalFailure",
            "Receiver",
            "An internal error has occurred",
        ),
    };
    let (content_type, body, extra) = match protocol {
        Protocol::Ec2Query => (
            "text/xml",
            format!(
                "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Response><Errors><Error><Code>{code}</Code><Message>{message}</Message></Error></Errors><RequestID>{request_id}</RequestID></Response>"
            ),
            String::new(),
        ),
        Protocol::Query => (
            "text/xml",
            format!(
                "<ErrorResponse><Error><Type>{sender}</Type><Code>{code}</Code><Message>{message}</Message></Error><RequestId>{request_id}</RequestId></ErrorResponse>"
            ),
            String::new(),
        ),
        Protocol::RestXml => (
            "application/xml",
            format!(
                "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>{code}</Code><Message>{message}</Message><RequestId>{request_id}</RequestId></Error>"
            ),
            String::new(),
        ),
        Protocol::Json | Protocol::RestJson => (
            if protocol == Protocol::Json {
                "application/x-amz-json-1.1"
            } else {
                "application/json"
            },
            format!("{{\"__type\":\"{code}\",\"message\":\"{message}\"}}"),
            format!("x-amzn-ErrorType: {code}\r\n"),
        ),
    };
    format!(
        "HTTP/1.1 {status} {reason}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\nx-amzn-RequestId: {request_id}\r\n{extra}Connection: close\r\n\r\n{body}",
        body.len()
    )
    .into_bytes()
}
