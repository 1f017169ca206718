//! The HTTP layer under the registry client: one reqwest client per registry host, a
//! per-host concurrency limit, retries with jittered exponential backoff on 429, 5xx and
//! connection failures (honouring `Retry-After`, within a total time budget), and counters of
//! every request sent, per method, so benchmarks and reports can show what a run cost.
//!
//! Responses are read inside the retry loop, streamed against a limit per kind of body
//! ([`BodyLimit`]): a connection reset half-way through a body is retried like a reset before
//! the headers, and a body larger than its limit fails without being held in memory. Error
//! bodies are read only as far as an error message quotes them, and cleared of credential
//! material ([`Redactor`]) before anything can quote them.

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
/// Longest single backoff delay berth chooses itself.
const BACKOFF_MAX: Duration = Duration::from_secs(8);
/// Longest single wait, whatever a `Retry-After` asks: a longer ask is retried at this cap
/// (within the retry budget), so a hostile or confused server cannot park berth for hours.
pub const RETRY_AFTER_MAX: Duration = Duration::from_secs(30);
/// Attempts for a connection that is refused or a name that does not resolve: those rarely heal
/// within seconds, and the user should hear about them quickly.
const CONNECT_ATTEMPTS: u32 = 3;
/// Longest body excerpt quoted in errors.
const DETAIL_MAX: usize = 300;
/// Bytes of an error body read (the rest is dropped): enough for any registry error JSON,
/// of which at most [`DETAIL_MAX`] characters are quoted.
pub const ERROR_BODY_MAX: usize = 4 * 1024;
/// Largest manifest, as the OCI distribution spec suggests registries accept.
pub const MANIFEST_MAX: u64 = 4 * 1024 * 1024;
/// Largest image config blob: real ones are a few KiB, huge histories reach a few hundred.
pub const CONFIG_MAX: u64 = 8 * 1024 * 1024;
/// Largest API page (tag list, catalog, referrers): 1000 tags of 128 characters are 130 KiB.
pub const PAGE_MAX: u64 = 16 * 1024 * 1024;
/// Largest token service answer: a token is a few KiB.
pub const TOKEN_MAX: u64 = 1024 * 1024;

/// The kind of a successful response body, which sets how much of it berth reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BodyLimit {
    /// A manifest or index ([`MANIFEST_MAX`]).
    Manifest,
    /// An image config blob ([`CONFIG_MAX`]).
    Config,
    /// An API page or any other answer ([`PAGE_MAX`]).
    Page,
    /// A token service answer ([`TOKEN_MAX`]).
    Token,
}

impl BodyLimit {
    /// The limit in bytes.
    pub fn bytes(self) -> u64 {
        match self {
            BodyLimit::Manifest => MANIFEST_MAX,
            BodyLimit::Config => CONFIG_MAX,
            BodyLimit::Page => PAGE_MAX,
            BodyLimit::Token => TOKEN_MAX,
        }
    }

    /// What the body is, for the error.
    pub fn what(self) -> &'static str {
        match self {
            BodyLimit::Manifest => "manifest",
            BodyLimit::Config => "image config",
            BodyLimit::Page => "API answer",
            BodyLimit::Token => "token answer",
        }
    }
}

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
    let text = redact_patterns(&text);
    if text.is_empty() {
        return String::new();
    }
    let mut cut: String = text.chars().take(DETAIL_MAX).collect();
    if cut.len() < text.len() {
        cut.push('…');
    }
    format!(": {cut}")
}

/// What berth writes instead of credential material it cuts from a quoted body.
const REDACTED: &str = "[redacted]";

static CREDENTIAL_SHAPES: std::sync::LazyLock<regex::Regex> = std::sync::LazyLock::new(|| {
    regex::Regex::new(concat!(
        r#"(?i)\b(basic|bearer|negotiate|ntlm)\s+[A-Za-z0-9+/=._~-]{4,}"#,
        r#"|\b(password|passwd|secret|token|refresh_token|access_token|identitytoken|id_token|auth|authorization)"?\s*[:=]\s*"?(?:(?:basic|bearer)\s+)?[^\s"',;&}]+"#,
        r#"|\beyJ[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+(?:\.[A-Za-z0-9_-]*)?"#,
    ))
    .expect("valid regex")
});

/// Cuts what looks like credential material from text a server sent: `Basic …`, `Bearer …`,
/// `password=…`, `"token":"…"` and anything shaped like a JWT. The secrets berth itself knows
/// are cut by [`Redactor`] before this; this catches the shapes of ones it does not.
pub fn redact_patterns(text: &str) -> String {
    CREDENTIAL_SHAPES
        .replace_all(text, |c: &regex::Captures<'_>| {
            // Keep the keyword, so the message still says what was there.
            match (c.get(1), c.get(2)) {
                (Some(scheme), _) => format!("{} {REDACTED}", scheme.as_str()),
                (_, Some(key)) => format!("{}={REDACTED}", key.as_str()),
                _ => REDACTED.to_string(),
            }
        })
        .into_owned()
}

/// The credential material of one host, in every form a server could echo it back in (raw,
/// `user:password`, base64 with and without padding, URL-encoded), cut from error bodies
/// before anything quotes them.
#[derive(Default)]
pub struct Redactor {
    secrets: std::sync::RwLock<Vec<String>>,
}

impl Redactor {
    /// Adds a secret (a password, a token) and the forms it travels in.
    pub fn add(&self, secret: &str) {
        if secret.is_empty() {
            return;
        }
        use base64::Engine;
        let forms = [
            secret.to_string(),
            base64::engine::general_purpose::STANDARD.encode(secret),
            base64::engine::general_purpose::STANDARD_NO_PAD.encode(secret),
            url::form_urlencoded::byte_serialize(secret.as_bytes()).collect(),
        ];
        let mut secrets = self.secrets.write().unwrap_or_else(|p| p.into_inner());
        for form in forms {
            if !form.is_empty() && !secrets.contains(&form) {
                secrets.push(form);
            }
        }
        // Longest first, so a `user:password` pair goes whole rather than leaving `user:`.
        secrets.sort_by_key(|s| std::cmp::Reverse(s.len()));
    }

    /// Adds a user name and password: the password alone and the `user:password` pair.
    pub fn add_login(&self, username: &str, password: &str) {
        self.add(password);
        self.add(&format!("{username}:{password}"));
    }

    /// `text` with every known secret cut out.
    pub fn redact(&self, text: &str) -> String {
        let secrets = self.secrets.read().unwrap_or_else(|p| p.into_inner());
        let mut out = text.to_string();
        for s in secrets.iter() {
            if out.contains(s.as_str()) {
                out = out.replace(s.as_str(), REDACTED);
            }
        }
        out
    }
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
    /// How much of a successful answer's body berth reads.
    pub limit: BodyLimit,
}

impl Request {
    /// A request without headers or body, whose answer is an API page ([`BodyLimit::Page`]).
    pub fn new(method: Method, url: Url) -> Request {
        Request {
            method,
            url,
            headers: HeaderMap::new(),
            body: None,
            limit: BodyLimit::Page,
        }
    }

    /// Sets the kind of answer expected, and with it the body limit.
    pub fn limit(mut self, limit: BodyLimit) -> Request {
        self.limit = limit;
        self
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
    redactor: Redactor,
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
            redactor: Redactor::default(),
        })
    }

    /// Requests sent so far.
    pub fn counts(&self) -> RequestCounts {
        self.counters.snapshot()
    }

    /// The secrets cut from every error body this transport reads.
    pub fn redactor(&self) -> &Redactor {
        &self.redactor
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
            let (asked, last) = match outcome {
                Ok(reply) if retryable(reply.status) => {
                    let asked = asked_wait(&reply, SystemTime::now());
                    let last = format!("status {}{}", reply.status.as_u16(), reply.detail());
                    (asked, last)
                }
                Ok(reply) => return Ok(reply),
                Err(Failure::Fatal(e)) => return Err(e),
                Err(Failure::Connect(e)) => {
                    connect_failures += 1;
                    if connect_failures >= CONNECT_ATTEMPTS {
                        return Err(e);
                    }
                    (None, e.to_string())
                }
                Err(Failure::Transient(last)) => (None, last),
            };
            let wait = retry_wait(asked, attempt);
            if asked.is_some_and(|a| a > RETRY_AFTER_MAX) {
                tracing::info!(
                    method = %request.method,
                    url = %request.url,
                    asked_secs = asked.map_or(0, |a| a.as_secs()),
                    "the registry asked to wait longer than {}s; retrying after {}s",
                    RETRY_AFTER_MAX.as_secs(),
                    RETRY_AFTER_MAX.as_secs()
                );
            }
            let elapsed = started.elapsed();
            if elapsed.saturating_add(wait) > self.retry_budget {
                return Err(Error::RetriesExhausted {
                    method: request.method.to_string(),
                    url: request.url.to_string(),
                    attempts: attempt,
                    elapsed_secs: elapsed.as_secs_f64(),
                    last: match asked {
                        Some(a) if a > BACKOFF_MAX => {
                            format!("{last}, and the server asked to wait {}s more", a.as_secs())
                        }
                        _ => last,
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
        let body = if status.is_success() {
            if request.method == Method::HEAD {
                Vec::new()
            } else {
                self.read_limited(request, response).await?
            }
        } else {
            self.read_error_body(request, response).await?
        };
        tracing::trace!(%status, %url, bytes = body.len(), "response");
        Ok(Reply {
            url,
            status,
            headers,
            body,
        })
    }

    /// Reads a successful answer's body up to its limit; a `Content-Length` above the limit
    /// fails before reading, and a body that grows past it fails as soon as it does.
    async fn read_limited(
        &self,
        request: &Request,
        mut response: reqwest::Response,
    ) -> Result<Vec<u8>, Failure> {
        let limit = request.limit.bytes();
        let too_large = |seen: String| {
            Failure::Fatal(Error::TooLarge {
                url: request.url.to_string(),
                what: request.limit.what().to_string(),
                limit,
                seen,
            })
        };
        if let Some(length) = response.content_length().filter(|l| *l > limit) {
            return Err(too_large(format!("its Content-Length is {length} bytes")));
        }
        let mut body = Vec::new();
        while let Some(chunk) = response
            .chunk()
            .await
            .map_err(|e| self.classify(request, &e))?
        {
            if (body.len() + chunk.len()) as u64 > limit {
                return Err(too_large(format!("more than {limit} bytes arrived")));
            }
            body.extend_from_slice(&chunk);
        }
        Ok(body)
    }

    /// Reads the first [`ERROR_BODY_MAX`] bytes of an error answer (the rest is dropped with
    /// the connection) and cuts every known secret from them.
    async fn read_error_body(
        &self,
        request: &Request,
        mut response: reqwest::Response,
    ) -> Result<Vec<u8>, Failure> {
        let mut body = Vec::new();
        while body.len() < ERROR_BODY_MAX {
            match response
                .chunk()
                .await
                .map_err(|e| self.classify(request, &e))?
            {
                Some(chunk) => {
                    let room = ERROR_BODY_MAX - body.len();
                    body.extend_from_slice(&chunk[..chunk.len().min(room)]);
                }
                None => break,
            }
        }
        Ok(self
            .redactor
            .redact(&String::from_utf8_lossy(&body))
            .into_bytes())
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

/// How long to wait before the next attempt: what the server asked (`Retry-After`), but never
/// less than berth's own backoff (a `Retry-After: 0` must not turn into a tight loop) and never
/// more than [`RETRY_AFTER_MAX`].
fn retry_wait(asked: Option<Duration>, attempt: u32) -> Duration {
    let own = backoff(attempt);
    asked.map_or(own, |a| a.max(own)).min(RETRY_AFTER_MAX)
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
    if !value.is_empty() && value.bytes().all(|b| b.is_ascii_digit()) {
        // More digits than a u64 holds is still "a very long time", not garbage.
        return Some(Duration::from_secs(
            value.parse::<u64>().unwrap_or(u64::MAX),
        ));
    }
    let at = httpdate::parse_http_date(value).ok()?;
    Some(at.duration_since(now).unwrap_or(Duration::ZERO))
}

/// How long the server asked to wait: `Retry-After`; on a 429 without it, Docker Hub's
/// `X-Retry-After` or `X-RateLimit-Reset` (unix timestamps, registry-apis.md §2.5).
fn asked_wait(reply: &Reply, now: SystemTime) -> Option<Duration> {
    if let Some(asked) = reply
        .header("retry-after")
        .and_then(|v| parse_retry_after(v, now))
    {
        return Some(asked);
    }
    if reply.status != StatusCode::TOO_MANY_REQUESTS {
        return None;
    }
    ["x-retry-after", "x-ratelimit-reset"]
        .iter()
        .find_map(|name| reply.header(name).and_then(|v| parse_reset(v, now)))
}

/// A rate-limit reset: a unix timestamp (relative to `now`; one in the past means "now"), or,
/// for values too small to be a timestamp since 2001, delay seconds as some servers send.
fn parse_reset(value: &str, now: SystemTime) -> Option<Duration> {
    let value = value.trim();
    if value.is_empty() || !value.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let number = value.parse::<u64>().unwrap_or(u64::MAX);
    if number < 1_000_000_000 {
        return Some(Duration::from_secs(number));
    }
    // Past what a clock holds is still "a very long time", not garbage.
    Some(
        SystemTime::UNIX_EPOCH
            .checked_add(Duration::from_secs(number))
            .map_or(Duration::MAX, |at| {
                at.duration_since(now).unwrap_or(Duration::ZERO)
            }),
    )
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

    /// Docker Hub's API answers a 429 with unix timestamps instead of `Retry-After`.
    #[test]
    fn hub_rate_limit_resets_are_waited_for_on_429_only() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        let reply = |status: u16, headers: &[(&'static str, &str)]| {
            let mut map = HeaderMap::new();
            for (name, value) in headers {
                map.insert(*name, HeaderValue::from_str(value).unwrap());
            }
            Reply {
                url: Url::parse("https://hub.docker.com/v2/").unwrap(),
                status: StatusCode::from_u16(status).unwrap(),
                headers: map,
                body: Vec::new(),
            }
        };
        let reset = [("x-ratelimit-reset", "1700000012")];
        assert_eq!(
            asked_wait(&reply(429, &reset), now),
            Some(Duration::from_secs(12))
        );
        let retry = [
            ("x-retry-after", "1700000005"),
            ("x-ratelimit-reset", "1700000012"),
        ];
        assert_eq!(
            asked_wait(&reply(429, &retry), now),
            Some(Duration::from_secs(5))
        );
        let both = [("retry-after", "3"), ("x-ratelimit-reset", "1700000012")];
        assert_eq!(
            asked_wait(&reply(429, &both), now),
            Some(Duration::from_secs(3))
        );
        // Every Hub answer carries the reset: only a 429 means "wait for it".
        assert_eq!(asked_wait(&reply(503, &reset), now), None);
        let past = [("x-ratelimit-reset", "1600000000")];
        assert_eq!(asked_wait(&reply(429, &past), now), Some(Duration::ZERO));
        let seconds = [("x-retry-after", "7")];
        assert_eq!(
            asked_wait(&reply(429, &seconds), now),
            Some(Duration::from_secs(7))
        );
        assert_eq!(
            asked_wait(&reply(429, &[("x-ratelimit-reset", "soon")]), now),
            None
        );
        // A far-future reset is still capped by the retry wait.
        let far = parse_reset("99999999999999999999", now).unwrap();
        assert_eq!(retry_wait(Some(far), 1), RETRY_AFTER_MAX);
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

    /// Issue 10 case 6: a huge `Retry-After` neither panics nor parks berth past the cap, and
    /// `Retry-After: 0` still backs off.
    #[test]
    fn retry_after_is_capped_and_zero_still_backs_off() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        let huge = parse_retry_after("18446744073709551615", now).unwrap();
        assert_eq!(huge, Duration::from_secs(u64::MAX));
        assert_eq!(
            parse_retry_after("99999999999999999999999", now),
            Some(Duration::from_secs(u64::MAX))
        );
        for attempt in [1, 5, 40] {
            assert_eq!(retry_wait(Some(huge), attempt), RETRY_AFTER_MAX);
            assert_eq!(
                retry_wait(Some(Duration::from_secs(31)), attempt),
                RETRY_AFTER_MAX
            );
        }
        for _ in 0..50 {
            let zero = retry_wait(Some(Duration::ZERO), 1);
            assert!(zero >= Duration::from_millis(50), "{zero:?}");
            assert!(retry_wait(Some(Duration::from_secs(3)), 1) == Duration::from_secs(3));
            assert!(retry_wait(None, 40) <= BACKOFF_MAX);
        }
        // The budget check cannot overflow either.
        assert_eq!(
            Duration::from_secs(5).saturating_add(huge),
            Duration::MAX.min(Duration::from_secs(5).saturating_add(huge))
        );
    }

    /// Issue 10 case 18: credential material never survives into a quoted detail.
    #[test]
    fn details_lose_credential_material() {
        let r = Redactor::default();
        r.add_login("ci-user", "s3cr3t-P@ss");
        r.add("refresh-0123456789");
        use base64::Engine;
        let pair = base64::engine::general_purpose::STANDARD.encode("ci-user:s3cr3t-P@ss");
        let body = format!(
            "bad request: got Authorization: Basic {pair} for ci-user:s3cr3t-P@ss (password s3cr3t-P@ss,              form refresh_token=refresh-0123456789, url s3cr3t-P%40ss)"
        );
        let detail = detail_of(r.redact(&body).as_bytes());
        for secret in ["s3cr3t", &pair, "refresh-0123456789", "P%40ss"] {
            assert!(!detail.contains(secret), "{secret} in {detail}");
        }
        assert!(detail.contains("bad request"), "{detail}");
        // Shapes of secrets berth does not know are cut too.
        let jwt = "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ4In0.c2lnbmF0dXJl";
        for text in [
            format!("echo: Bearer {jwt}"),
            format!("token {jwt} expired"),
            r#"{"password":"hunter2hunter2","user":"x"}"#.to_string(),
            "authorization=Basic dXNlcjpwYXNzd29yZA==".to_string(),
            "Authorization: Basic dXNlcjpwYXNzd29yZA==".to_string(),
        ] {
            let d = detail_of(text.as_bytes());
            for secret in [jwt, "hunter2", "dXNlcjpwYXNzd29yZA"] {
                assert!(!d.contains(secret), "{secret} in {d}");
            }
            assert!(d.contains(REDACTED), "{d}");
        }
        // Ordinary words are left alone.
        assert_eq!(
            detail_of(b"the token service is down"),
            ": the token service is down"
        );
    }

    #[test]
    fn body_limits_are_the_documented_values() {
        assert_eq!(BodyLimit::Manifest.bytes(), 4 * 1024 * 1024);
        assert_eq!(BodyLimit::Config.bytes(), 8 * 1024 * 1024);
        assert_eq!(BodyLimit::Page.bytes(), 16 * 1024 * 1024);
        assert_eq!(BodyLimit::Token.bytes(), 1024 * 1024);
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
