//! The HTTP layer under the registry client: one reqwest client per registry host, a
//! per-host concurrency limit, retries with jittered exponential backoff on 429, 5xx and
//! connection failures (honouring `Retry-After`, within a total time budget), and counters of
//! every request sent, per method, so benchmarks and reports can show what a run cost.
//!
//! Responses are read whole inside the retry loop: a connection reset half-way through a body
//! is retried like a reset before the headers.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime};

use reqwest::header::{HeaderMap, HeaderValue};
use reqwest::{Method, StatusCode};
use tokio::sync::Semaphore;
use url::Url;

use super::{Error, RegistryOptions};

/// The `User-Agent` berth sends.
pub const USER_AGENT: &str = concat!("berth/", env!("CARGO_PKG_VERSION"));
/// First backoff delay; doubled per attempt.
const BACKOFF_BASE: Duration = Duration::from_millis(100);
/// Longest single backoff delay (a `Retry-After` may ask for more, within the budget).
const BACKOFF_MAX: Duration = Duration::from_secs(8);
/// Attempts for a connection that is refused or a name that does not resolve: those rarely heal
/// within seconds, and the user should hear about them quickly.
const CONNECT_ATTEMPTS: u32 = 3;
/// Longest body excerpt quoted in errors.
const DETAIL_MAX: usize = 300;

/// Requests sent so far, per method (every attempt counts, retries included).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct RequestCounts {
    /// GET requests.
    pub get: u64,
    /// HEAD requests.
    pub head: u64,
    /// PUT requests.
    pub put: u64,
    /// POST requests.
    pub post: u64,
    /// DELETE requests.
    pub delete: u64,
    /// Requests with any other method.
    pub other: u64,
}

impl RequestCounts {
    /// All requests.
    pub fn total(&self) -> u64 {
        self.get + self.head + self.put + self.post + self.delete + self.other
    }

    /// Requests that change something (PUT, POST, DELETE, other).
    pub fn mutating(&self) -> u64 {
        self.put + self.post + self.delete + self.other
    }

    /// Adds another set of counts.
    pub fn add(&mut self, other: &RequestCounts) {
        self.get += other.get;
        self.head += other.head;
        self.put += other.put;
        self.post += other.post;
        self.delete += other.delete;
        self.other += other.other;
    }
}

#[derive(Default)]
struct Counters {
    get: AtomicU64,
    head: AtomicU64,
    put: AtomicU64,
    post: AtomicU64,
    delete: AtomicU64,
    other: AtomicU64,
}

impl Counters {
    fn count(&self, method: &Method) {
        let counter = match *method {
            Method::GET => &self.get,
            Method::HEAD => &self.head,
            Method::PUT => &self.put,
            Method::POST => &self.post,
            Method::DELETE => &self.delete,
            _ => &self.other,
        };
        counter.fetch_add(1, Ordering::Relaxed);
    }

    fn snapshot(&self) -> RequestCounts {
        RequestCounts {
            get: self.get.load(Ordering::Relaxed),
            head: self.head.load(Ordering::Relaxed),
            put: self.put.load(Ordering::Relaxed),
            post: self.post.load(Ordering::Relaxed),
            delete: self.delete.load(Ordering::Relaxed),
            other: self.other.load(Ordering::Relaxed),
        }
    }
}

/// A response read to the end.
#[derive(Debug)]
pub struct Reply {
    /// The final URL (after redirects).
    pub url: Url,
    /// Status code.
    pub status: StatusCode,
    /// Headers.
    pub headers: HeaderMap,
    /// The exact body bytes.
    pub body: Vec<u8>,
}

impl Reply {
    /// A header as text, if present and printable.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// A short, single-line excerpt of the body for error messages (`: …`), or empty.
    /// Distribution's JSON errors are reduced to their `code: message` pairs.
    pub fn detail(&self) -> String {
        detail_of(&self.body)
    }
}

/// A short excerpt of an error body, with a leading `: `, or empty.
pub fn detail_of(body: &[u8]) -> String {
    #[derive(serde::Deserialize)]
    struct Errors {
        errors: Vec<ErrorEntry>,
    }
    #[derive(serde::Deserialize)]
    struct ErrorEntry {
        #[serde(default)]
        code: String,
        #[serde(default)]
        message: String,
    }
    let text = match serde_json::from_slice::<Errors>(body) {
        Ok(e) if !e.errors.is_empty() => e
            .errors
            .iter()
            .map(|e| format!("{} {}", e.code, e.message).trim().to_string())
            .collect::<Vec<_>>()
            .join("; "),
        _ => String::from_utf8_lossy(body)
            .split_whitespace()
            .collect::<Vec<_>>()
            .join(" "),
    };
    if text.is_empty() {
        return String::new();
    }
    let mut cut: String = text.chars().take(DETAIL_MAX).collect();
    if cut.len() < text.len() {
        cut.push('…');
    }
    format!(": {cut}")
}

/// One request to send: method, URL, headers and an optional body. Cloned per attempt.
#[derive(Debug, Clone)]
pub struct Request {
    /// HTTP method.
    pub method: Method,
    /// Full URL.
    pub url: Url,
    /// Extra headers (Accept, Authorization, Content-Type).
    pub headers: HeaderMap,
    /// Body bytes.
    pub body: Option<Vec<u8>>,
}

impl Request {
    /// A request without headers or body.
    pub fn new(method: Method, url: Url) -> Request {
        Request {
            method,
            url,
            headers: HeaderMap::new(),
            body: None,
        }
    }

    /// Adds a header (values berth builds are always valid header text).
    pub fn header(mut self, name: &'static str, value: &str) -> Request {
        if let Ok(v) = HeaderValue::from_str(value) {
            self.headers.append(name, v);
        }
        self
    }

    /// Adds a header that must not show up in logs (`Authorization`).
    pub fn sensitive_header(mut self, name: &'static str, value: &str) -> Request {
        if let Ok(mut v) = HeaderValue::from_str(value) {
            v.set_sensitive(true);
            self.headers.insert(name, v);
        }
        self
    }

    /// Sets the body.
    pub fn body(mut self, body: Vec<u8>) -> Request {
        self.body = Some(body);
        self
    }
}

/// The transport of one registry host.
pub struct Http {
    host: String,
    client: reqwest::Client,
    limit: Arc<Semaphore>,
    counters: Counters,
    retry_budget: Duration,
}

impl Http {
    /// A transport for `host`: TLS verified unless the host is in `insecure_hosts`.
    pub fn new(host: &str, options: &RegistryOptions) -> Result<Http, Error> {
        let insecure = options.insecure_hosts.iter().any(|h| h == host);
        let client = reqwest::Client::builder()
            .user_agent(USER_AGENT)
            .timeout(options.request_timeout)
            .connect_timeout(options.request_timeout.min(Duration::from_secs(10)))
            .pool_max_idle_per_host(options.concurrency.max(1))
            .danger_accept_invalid_certs(insecure)
            .build()
            .map_err(|e| Error::ClientSetup {
                host: host.to_string(),
                why: chain(&e),
            })?;
        Ok(Http {
            host: host.to_string(),
            client,
            limit: Arc::new(Semaphore::new(options.concurrency.max(1))),
            counters: Counters::default(),
            retry_budget: options.retry_budget,
        })
    }

    /// Requests sent so far.
    pub fn counts(&self) -> RequestCounts {
        self.counters.snapshot()
    }

    /// Sends `request`, retrying 429, 5xx and transport failures with jittered exponential
    /// backoff (or the server's `Retry-After`) until it succeeds or the retry budget is spent.
    /// Any other status is returned as a reply for the caller to judge.
    pub async fn send(&self, request: &Request) -> Result<Reply, Error> {
        let started = Instant::now();
        let mut attempt: u32 = 0;
        let mut connect_failures: u32 = 0;
        loop {
            attempt += 1;
            let outcome = self.attempt(request).await;
            let (wait, last) = match outcome {
                Ok(reply) if retryable(reply.status) => {
                    let server_wait = reply
                        .header("retry-after")
                        .and_then(|v| parse_retry_after(v, SystemTime::now()));
                    let last = format!("status {}{}", reply.status.as_u16(), reply.detail());
                    (server_wait.unwrap_or_else(|| backoff(attempt)), last)
                }
                Ok(reply) => return Ok(reply),
                Err(Failure::Fatal(e)) => return Err(e),
                Err(Failure::Connect(e)) => {
                    connect_failures += 1;
                    if connect_failures >= CONNECT_ATTEMPTS {
                        return Err(e);
                    }
                    (backoff(attempt), e.to_string())
                }
                Err(Failure::Transient(last)) => (backoff(attempt), last),
            };
            let elapsed = started.elapsed();
            if elapsed + wait > self.retry_budget {
                return Err(Error::RetriesExhausted {
                    method: request.method.to_string(),
                    url: request.url.to_string(),
                    attempts: attempt,
                    elapsed_secs: elapsed.as_secs_f64(),
                    last: if wait > BACKOFF_MAX {
                        format!(
                            "{last}, and the server asked to wait {}s more",
                            wait.as_secs()
                        )
                    } else {
                        last
                    },
                });
            }
            tracing::debug!(
                method = %request.method,
                url = %request.url,
                attempt,
                wait_ms = wait.as_millis() as u64,
                "retrying: {last}"
            );
            tokio::time::sleep(wait).await;
        }
    }

    /// Sends `request` once, without retries (for probes whose failure is an answer).
    pub async fn send_once(&self, request: &Request) -> Result<Reply, Error> {
        self.attempt(request).await.map_err(|f| match f {
            Failure::Fatal(e) | Failure::Connect(e) => e,
            Failure::Transient(detail) => Error::Unreachable {
                url: request.url.to_string(),
                detail,
            },
        })
    }

    async fn attempt(&self, request: &Request) -> Result<Reply, Failure> {
        let _permit = self
            .limit
            .acquire()
            .await
            .expect("the semaphore is never closed");
        self.counters.count(&request.method);
        let mut builder = self
            .client
            .request(request.method.clone(), request.url.clone())
            .headers(request.headers.clone());
        if let Some(body) = &request.body {
            builder = builder.body(body.clone());
        }
        tracing::trace!(method = %request.method, url = %request.url, "request");
        let response = builder
            .send()
            .await
            .map_err(|e| self.classify(request, &e))?;
        let url = response.url().clone();
        let status = response.status();
        let headers = response.headers().clone();
        let body = response
            .bytes()
            .await
            .map_err(|e| self.classify(request, &e))?
            .to_vec();
        tracing::trace!(%status, %url, bytes = body.len(), "response");
        Ok(Reply {
            url,
            status,
            headers,
            body,
        })
    }

    fn classify(&self, request: &Request, e: &reqwest::Error) -> Failure {
        let text = chain(e);
        let lower = text.to_ascii_lowercase();
        if e.is_timeout() {
            return Failure::Transient(format!("timed out: {text}"));
        }
        if [
            "certificate",
            "tls",
            "handshake",
            "invalidcontenttype",
            "corrupt message",
        ]
        .iter()
        .any(|w| lower.contains(w))
        {
            return Failure::Fatal(Error::Tls {
                host: self.host.clone(),
                detail: text,
            });
        }
        if e.is_connect() {
            return Failure::Connect(Error::Unreachable {
                url: request.url.to_string(),
                detail: text,
            });
        }
        if e.is_builder() || e.is_redirect() {
            return Failure::Fatal(Error::BadResponse {
                url: request.url.to_string(),
                why: text,
            });
        }
        Failure::Transient(text)
    }
}

enum Failure {
    /// Not worth retrying.
    Fatal(Error),
    /// Could not connect: retried a few times only.
    Connect(Error),
    /// Worth retrying within the budget (reset, timeout, broken body).
    Transient(String),
}

fn retryable(status: StatusCode) -> bool {
    status == StatusCode::TOO_MANY_REQUESTS || matches!(status.as_u16(), 500 | 502 | 503 | 504)
}

/// Full jitter over an exponentially growing ceiling: attempt 1 waits up to 100 ms, then
/// 200 ms, 400 ms, … up to [`BACKOFF_MAX`]; never less than half the ceiling, so retries
/// really back off.
fn backoff(attempt: u32) -> Duration {
    let ceiling = BACKOFF_BASE
        .saturating_mul(1u32 << attempt.saturating_sub(1).min(16))
        .min(BACKOFF_MAX);
    ceiling.mul_f64(0.5 + fastrand::f64() * 0.5)
}

/// Parses `Retry-After`: delay seconds (`120`) or an HTTP date, relative to `now`. A date in
/// the past means "now".
pub fn parse_retry_after(value: &str, now: SystemTime) -> Option<Duration> {
    let value = value.trim();
    if let Ok(secs) = value.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    let at = httpdate::parse_http_date(value).ok()?;
    Some(at.duration_since(now).unwrap_or(Duration::ZERO))
}

/// An error and its sources on one line.
fn chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        let part = s.to_string();
        if !text.contains(&part) {
            text.push_str(": ");
            text.push_str(&part);
        }
        source = s.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_after_seconds_and_dates() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        assert_eq!(parse_retry_after("7", now), Some(Duration::from_secs(7)));
        assert_eq!(parse_retry_after(" 0 ", now), Some(Duration::ZERO));
        let later = httpdate::fmt_http_date(now + Duration::from_secs(30));
        assert_eq!(
            parse_retry_after(&later, now),
            Some(Duration::from_secs(30))
        );
        let earlier = httpdate::fmt_http_date(now - Duration::from_secs(30));
        assert_eq!(parse_retry_after(&earlier, now), Some(Duration::ZERO));
        assert_eq!(parse_retry_after("soon", now), None);
        assert_eq!(parse_retry_after("-3", now), None);
    }

    #[test]
    fn backoff_grows_and_is_capped() {
        for _ in 0..50 {
            let first = backoff(1);
            assert!(first >= Duration::from_millis(50) && first <= Duration::from_millis(100));
            let fourth = backoff(4);
            assert!(fourth >= Duration::from_millis(400) && fourth <= Duration::from_millis(800));
            assert!(backoff(40) <= BACKOFF_MAX);
        }
    }

    #[test]
    fn details_quote_registry_errors_briefly() {
        let body = br#"{"errors":[{"code":"DENIED","message":"requested access to the resource is denied"}]}"#;
        assert_eq!(
            detail_of(body),
            ": DENIED requested access to the resource is denied"
        );
        assert_eq!(detail_of(b""), "");
        assert_eq!(detail_of(b"Not\n  Authorized"), ": Not Authorized");
        assert!(detail_of("x".repeat(1000).as_bytes()).ends_with('…'));
    }

    #[test]
    fn counts_add_up() {
        let c = Counters::default();
        c.count(&Method::GET);
        c.count(&Method::GET);
        c.count(&Method::DELETE);
        let s = c.snapshot();
        assert_eq!((s.get, s.delete, s.total(), s.mutating()), (2, 1, 3, 1));
    }
}
