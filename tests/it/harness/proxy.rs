//! A fault-injecting HTTP/1.1 proxy on loopback, in front of a real registry (or any HTTP
//! server). It forwards each request (method, path and query, headers including
//! `Authorization`, body) and returns the upstream response (status, headers, body) unchanged,
//! except that absolute `Location`/`Link` URLs naming the upstream are rewritten to the proxy
//! so clients stay behind it, and except where a scripted [`Fault`] applies: an error status
//! (e.g. 429 with `Retry-After`) or a connection reset without any response.
//!
//! It speaks HTTP/1.1 by hand on a raw socket, because a reset must close the TCP connection
//! mid-request, which a framework server does not allow.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;

use super::{Server, spawn_task};

/// Which requests a [`Fault`] applies to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Match {
    /// The n-th request through the proxy (1-based, counting every request).
    Nth(usize),
    /// The first `times` requests with this method (`None`: any) whose path and query contain
    /// `path` (empty: any).
    Requests {
        /// e.g. `Some("DELETE".into())`.
        method: Option<String>,
        /// A substring of the path and query, e.g. `/manifests/`.
        path: String,
        /// How many matching requests fail; later ones are forwarded.
        times: usize,
    },
    /// Every `every`-th request with this method (`None`: any) whose path and query contain
    /// `path`: a steady rate of faults through a long run.
    Every {
        /// e.g. `Some("GET".into())`.
        method: Option<String>,
        /// A substring of the path and query, e.g. `/manifests/`.
        path: String,
        /// The period: 1 hits every matching request.
        every: usize,
    },
}

impl Match {
    /// The next `n` requests, whatever they are.
    pub fn next(n: usize) -> Match {
        Match::Requests {
            method: None,
            path: String::new(),
            times: n,
        }
    }

    /// The first `times` requests with `method` whose path contains `path`.
    pub fn requests(method: &str, path: &str, times: usize) -> Match {
        Match::Requests {
            method: Some(method.to_string()),
            path: path.to_string(),
            times,
        }
    }

    /// Every `every`-th request with `method` (empty: any) whose path contains `path`.
    pub fn every(method: &str, path: &str, every: usize) -> Match {
        Match::Every {
            method: (!method.is_empty()).then(|| method.to_string()),
            path: path.to_string(),
            every: every.max(1),
        }
    }
}

/// A scripted failure. Faults are checked in order; the first that matches a request applies.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fault {
    /// Answer `status` (with an OCI error body) instead of forwarding, with `Retry-After`
    /// when given (seconds or an HTTP date, sent verbatim).
    Status {
        /// Which requests.
        when: Match,
        /// e.g. 429 or 503.
        status: u16,
        /// The `Retry-After` value.
        retry_after: Option<String>,
    },
    /// Close the connection without answering (TCP reset).
    Reset {
        /// Which requests.
        when: Match,
    },
    /// Forward the request, then reset the connection instead of answering: the registry did
    /// what was asked, and the client cannot know.
    ResetAfterForward {
        /// Which requests.
        when: Match,
    },
    /// Forward the request and answer in two halves with a pause between (a slow body).
    SlowBody {
        /// Which requests.
        when: Match,
        /// The pause after the first half.
        pause: std::time::Duration,
    },
}

impl Fault {
    /// `429 Too Many Requests` for the matched requests, with an optional `Retry-After`.
    pub fn too_many(when: Match, retry_after: Option<&str>) -> Fault {
        Fault::Status {
            when,
            status: 429,
            retry_after: retry_after.map(String::from),
        }
    }

    fn when(&self) -> &Match {
        match self {
            Fault::Status { when, .. }
            | Fault::Reset { when }
            | Fault::ResetAfterForward { when }
            | Fault::SlowBody { when, .. } => when,
        }
    }
}

/// One request the proxy saw, and what it did with it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProxiedRequest {
    /// HTTP method.
    pub method: String,
    /// Path and query.
    pub path: String,
    /// The status the client got (upstream's or injected); `None` for a reset.
    pub status: Option<u16>,
    /// Whether a fault was injected instead of forwarding.
    pub injected: bool,
}

struct ProxyState {
    upstream: String,
    own_url: String,
    client: reqwest::Client,
    count: AtomicUsize,
    faults: Mutex<Vec<(Fault, usize)>>,
    log: Mutex<Vec<ProxiedRequest>>,
    hooks: Mutex<Vec<Hook>>,
}

/// A closure run once, before the `nth` request with `method` whose path contains `path` is
/// answered (see [`FaultProxy::before`]).
struct Hook {
    method: String,
    path: String,
    nth: usize,
    seen: usize,
    run: Option<Box<dyn FnOnce() + Send>>,
}

/// What to do with one request.
enum Action {
    Forward,
    Status(u16, Option<String>),
    Reset,
    ForwardThenReset,
    Slow(std::time::Duration),
}

impl ProxyState {
    fn decide(&self, n: usize, method: &str, path: &str) -> Action {
        let mut faults = self.faults.lock().expect("faults lock");
        let matches = |m: &Option<String>, p: &str| {
            m.as_deref().is_none_or(|m| m.eq_ignore_ascii_case(method)) && path.contains(p)
        };
        for (fault, used) in faults.iter_mut() {
            let hit = match fault.when() {
                Match::Nth(k) => *k == n,
                Match::Requests {
                    method: m,
                    path: p,
                    times,
                } => *used < *times && matches(m, p),
                // `used` counts the matching requests here, hit or not.
                Match::Every {
                    method: m,
                    path: p,
                    every,
                } => {
                    if matches(m, p) {
                        *used += 1;
                    }
                    matches(m, p) && *used % *every == 0
                }
            };
            if hit {
                if !matches!(fault.when(), Match::Every { .. }) {
                    *used += 1;
                }
                return match fault {
                    Fault::Status {
                        status,
                        retry_after,
                        ..
                    } => Action::Status(*status, retry_after.clone()),
                    Fault::Reset { .. } => Action::Reset,
                    Fault::ResetAfterForward { .. } => Action::ForwardThenReset,
                    Fault::SlowBody { pause, .. } => Action::Slow(*pause),
                };
            }
        }
        Action::Forward
    }
}

/// A running proxy; stops when dropped.
pub struct FaultProxy {
    server: Server,
    state: Arc<ProxyState>,
}

impl FaultProxy {
    /// Starts a proxy to `upstream_url` (e.g. [`super::TestRegistry::url`]) with `faults`.
    pub fn start(upstream_url: &str, faults: Vec<Fault>) -> FaultProxy {
        let slot: Arc<Mutex<Option<Arc<ProxyState>>>> = Arc::default();
        let upstream = upstream_url.trim_end_matches('/').to_string();
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .no_proxy()
            // A hung upstream fails the request (502) instead of hanging the test.
            .timeout(std::time::Duration::from_secs(30))
            .build()
            .expect("build the proxy's HTTP client");
        let faults = faults.into_iter().map(|f| (f, 0)).collect();
        let slot_in = slot.clone();
        let (ready_tx, ready_rx) = std::sync::mpsc::channel();
        let server = spawn_task(move |listener, mut stop| async move {
            let own_url = format!("http://{}", listener.local_addr().expect("proxy address"));
            let state = Arc::new(ProxyState {
                upstream,
                own_url,
                client,
                count: AtomicUsize::new(0),
                faults: Mutex::new(faults),
                log: Mutex::new(Vec::new()),
                hooks: Mutex::new(Vec::new()),
            });
            *slot_in.lock().expect("state slot") = Some(state.clone());
            ready_tx.send(()).expect("report the proxy state");
            loop {
                tokio::select! {
                    _ = &mut stop => break,
                    accepted = listener.accept() => {
                        let Ok((stream, _)) = accepted else { continue };
                        tokio::spawn(serve_connection(stream, state.clone()));
                    }
                }
            }
        });
        ready_rx.recv().expect("the proxy started");
        let state = slot
            .lock()
            .expect("state slot")
            .take()
            .expect("proxy state");
        FaultProxy { server, state }
    }

    /// `http://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        self.server.url()
    }

    /// `127.0.0.1:PORT`.
    pub fn host(&self) -> String {
        self.server.addr().to_string()
    }

    /// Appends a fault (checked after the existing ones).
    pub fn add_fault(&self, fault: Fault) {
        self.state
            .faults
            .lock()
            .expect("faults lock")
            .push((fault, 0));
    }

    /// Makes the next `n` requests fail with `status` (ahead of the other faults).
    pub fn fail_next(&self, n: usize, status: u16) {
        let fault = Fault::Status {
            when: Match::next(n),
            status,
            retry_after: None,
        };
        self.state
            .faults
            .lock()
            .expect("faults lock")
            .insert(0, (fault, 0));
    }

    /// Runs `hook` (on a blocking thread, so it may block or drive its own runtime) when the
    /// `nth` request (1-based) with `method` whose path and query contain `path` arrives,
    /// before that request is answered: a deterministic moment to change the registry between
    /// two steps of the client, or to hold the client mid-run.
    pub fn before(
        &self,
        method: &str,
        path: &str,
        nth: usize,
        hook: impl FnOnce() + Send + 'static,
    ) {
        self.state.hooks.lock().expect("hooks lock").push(Hook {
            method: method.to_string(),
            path: path.to_string(),
            nth,
            seen: 0,
            run: Some(Box::new(hook)),
        });
    }

    /// How many requests reached the proxy (forwarded or not).
    pub fn requests(&self) -> usize {
        self.state.count.load(Ordering::SeqCst)
    }

    /// How many requests with `method` reached the proxy.
    pub fn requests_with(&self, method: &str) -> usize {
        self.log()
            .iter()
            .filter(|r| r.method.eq_ignore_ascii_case(method))
            .count()
    }

    /// Every request so far, in arrival order.
    pub fn log(&self) -> Vec<ProxiedRequest> {
        self.state.log.lock().expect("log lock").clone()
    }
}

struct Head {
    method: String,
    path: String,
    version: String,
    headers: Vec<(String, String)>,
}

impl Head {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    fn keep_alive(&self) -> bool {
        let connection = self.header("connection").unwrap_or_default();
        if self.version == "HTTP/1.0" {
            connection.eq_ignore_ascii_case("keep-alive")
        } else {
            !connection.eq_ignore_ascii_case("close")
        }
    }
}

/// Serves requests on one client connection until it closes, a reset is injected, or the
/// client asks to close.
async fn serve_connection(stream: TcpStream, state: Arc<ProxyState>) {
    let mut stream = BufReader::new(stream);
    loop {
        let Some(head) = read_head(&mut stream).await else {
            return;
        };
        if head
            .header("expect")
            .is_some_and(|e| e.eq_ignore_ascii_case("100-continue"))
            && stream
                .get_mut()
                .write_all(b"HTTP/1.1 100 Continue\r\n\r\n")
                .await
                .is_err()
        {
            return;
        }
        let Some(body) = read_body(&mut stream, &head).await else {
            return;
        };
        let n = state.count.fetch_add(1, Ordering::SeqCst) + 1;
        let due: Vec<Box<dyn FnOnce() + Send>> = {
            let mut hooks = state.hooks.lock().expect("hooks lock");
            hooks
                .iter_mut()
                .filter(|h| {
                    h.method.eq_ignore_ascii_case(&head.method) && head.path.contains(&h.path)
                })
                .filter_map(|h| {
                    h.seen += 1;
                    if h.seen == h.nth { h.run.take() } else { None }
                })
                .collect()
        };
        for hook in due {
            tokio::task::spawn_blocking(hook)
                .await
                .expect("a proxy hook panicked");
        }
        let action = state.decide(n, &head.method, &head.path);
        let (response, status, injected) = match action {
            Action::Reset => {
                state.log.lock().expect("log lock").push(ProxiedRequest {
                    method: head.method,
                    path: head.path,
                    status: None,
                    injected: true,
                });
                // Zero linger turns the close into a TCP RST, the harshest failure.
                let _ = stream.get_ref().set_zero_linger();
                return;
            }
            Action::Status(status, retry_after) => (
                injected_response(status, retry_after.as_deref()),
                status,
                true,
            ),
            Action::Forward => {
                let (bytes, status) = forward(&state, &head, body).await;
                (bytes, status, false)
            }
            Action::ForwardThenReset => {
                let (_, status) = forward(&state, &head, body).await;
                state.log.lock().expect("log lock").push(ProxiedRequest {
                    method: head.method,
                    path: head.path,
                    status: Some(status),
                    injected: true,
                });
                let _ = stream.get_ref().set_zero_linger();
                return;
            }
            Action::Slow(pause) => {
                let (bytes, status) = forward(&state, &head, body).await;
                let (first, rest) = bytes.split_at(bytes.len() / 2);
                if stream.get_mut().write_all(first).await.is_err()
                    || stream.get_mut().flush().await.is_err()
                {
                    return;
                }
                tokio::time::sleep(pause).await;
                (rest.to_vec(), status, true)
            }
        };
        let keep_alive = head.keep_alive();
        state.log.lock().expect("log lock").push(ProxiedRequest {
            method: head.method,
            path: head.path,
            status: Some(status),
            injected,
        });
        if stream.get_mut().write_all(&response).await.is_err() || !keep_alive {
            return;
        }
    }
}

async fn read_head(stream: &mut BufReader<TcpStream>) -> Option<Head> {
    let mut line = String::new();
    if stream.read_line(&mut line).await.ok()? == 0 {
        return None;
    }
    let mut parts = line.split_whitespace();
    let method = parts.next()?.to_string();
    let path = parts.next()?.to_string();
    let version = parts.next()?.to_string();
    let mut headers = Vec::new();
    loop {
        line.clear();
        if stream.read_line(&mut line).await.ok()? == 0 {
            return None;
        }
        let trimmed = line.trim_end_matches(['\r', '\n']);
        if trimmed.is_empty() {
            break;
        }
        let (k, v) = trimmed.split_once(':')?;
        headers.push((k.trim().to_string(), v.trim().to_string()));
    }
    Some(Head {
        method,
        path,
        version,
        headers,
    })
}

async fn read_body(stream: &mut BufReader<TcpStream>, head: &Head) -> Option<Vec<u8>> {
    if head
        .header("transfer-encoding")
        .is_some_and(|te| te.to_ascii_lowercase().contains("chunked"))
    {
        let mut body = Vec::new();
        let mut line = String::new();
        loop {
            line.clear();
            stream.read_line(&mut line).await.ok()?;
            let size_hex = line.trim().split(';').next()?;
            let size = usize::from_str_radix(size_hex, 16).ok()?;
            if size == 0 {
                // Trailers end with an empty line.
                loop {
                    line.clear();
                    stream.read_line(&mut line).await.ok()?;
                    if line.trim().is_empty() {
                        return Some(body);
                    }
                }
            }
            let start = body.len();
            body.resize(start + size, 0);
            stream.read_exact(&mut body[start..]).await.ok()?;
            let mut crlf = [0u8; 2];
            stream.read_exact(&mut crlf).await.ok()?;
        }
    }
    let len: usize = head
        .header("content-length")
        .map(|v| v.parse().ok())
        .unwrap_or(Some(0))?;
    let mut body = vec![0u8; len];
    stream.read_exact(&mut body).await.ok()?;
    Some(body)
}

/// Headers that belong to one hop and are not passed on (RFC 9110 §7.6.1), plus the ones the
/// proxy recomputes.
fn hop_by_hop(name: &str) -> bool {
    [
        "connection",
        "keep-alive",
        "proxy-connection",
        "proxy-authenticate",
        "proxy-authorization",
        "te",
        "trailer",
        "transfer-encoding",
        "upgrade",
        "host",
        "content-length",
        "expect",
    ]
    .iter()
    .any(|h| name.eq_ignore_ascii_case(h))
}

/// Forwards to upstream; returns the serialized response and its status.
async fn forward(state: &ProxyState, head: &Head, body: Vec<u8>) -> (Vec<u8>, u16) {
    let method = reqwest::Method::from_bytes(head.method.as_bytes()).expect("valid method");
    // A client using the proxy as an HTTP proxy sends the absolute form (`http://host/path`).
    let path = match head.path.strip_prefix("http://") {
        Some(rest) => rest.find('/').map_or("/", |i| &rest[i..]),
        None => head.path.as_str(),
    };
    let mut req = state
        .client
        .request(method.clone(), format!("{}{path}", state.upstream));
    for (k, v) in &head.headers {
        if !hop_by_hop(k) {
            req = req.header(k.as_str(), v.as_str());
        }
    }
    if !body.is_empty() || head.header("content-length").is_some() {
        req = req.body(body);
    }
    let resp = match req.send().await {
        Ok(resp) => resp,
        Err(e) => {
            let body = format!("proxy: upstream failed: {e}");
            return (
                plain_response(502, "Bad Gateway", &[], body.as_bytes()),
                502,
            );
        }
    };
    let status = resp.status();
    let mut headers = Vec::new();
    let mut upstream_length = None;
    for (k, v) in resp.headers() {
        let value = String::from_utf8_lossy(v.as_bytes()).into_owned();
        if k.as_str() == "content-length" {
            upstream_length = Some(value);
            continue;
        }
        if hop_by_hop(k.as_str()) {
            continue;
        }
        let value = if k.as_str() == "location" || k.as_str() == "link" {
            value.replace(&state.upstream, &state.own_url)
        } else {
            value
        };
        headers.push((k.as_str().to_string(), value));
    }
    let bytes = resp.bytes().await.unwrap_or_default();
    let mut out = format!(
        "HTTP/1.1 {} {}\r\n",
        status.as_u16(),
        status.canonical_reason().unwrap_or("")
    )
    .into_bytes();
    for (k, v) in &headers {
        out.extend_from_slice(format!("{k}: {v}\r\n").as_bytes());
    }
    let bodiless = method == reqwest::Method::HEAD
        || status.as_u16() == 204
        || status.as_u16() == 304
        || status.is_informational();
    if method == reqwest::Method::HEAD {
        // A HEAD answer announces the length of what a GET would return.
        if let Some(len) = upstream_length {
            out.extend_from_slice(format!("content-length: {len}\r\n").as_bytes());
        }
    } else if !bodiless {
        out.extend_from_slice(format!("content-length: {}\r\n", bytes.len()).as_bytes());
    }
    out.extend_from_slice(b"\r\n");
    if !bodiless {
        out.extend_from_slice(&bytes);
    }
    (out, status.as_u16())
}

fn injected_response(status: u16, retry_after: Option<&str>) -> Vec<u8> {
    let (code, reason) = match status {
        429 => ("TOOMANYREQUESTS", "Too Many Requests"),
        503 => ("UNAVAILABLE", "Service Unavailable"),
        401 => ("UNAUTHORIZED", "Unauthorized"),
        403 => ("DENIED", "Forbidden"),
        404 => ("NAME_UNKNOWN", "Not Found"),
        _ => ("UNKNOWN", "Injected Failure"),
    };
    let body = serde_json::json!({
        "errors": [{ "code": code, "message": "injected by the test proxy", "detail": null }]
    })
    .to_string();
    let mut headers = vec![
        ("Content-Type", "application/json".to_string()),
        (
            "Docker-Distribution-API-Version",
            "registry/2.0".to_string(),
        ),
    ];
    if let Some(r) = retry_after {
        headers.push(("Retry-After", r.to_string()));
    }
    plain_response(status, reason, &headers, body.as_bytes())
}

fn plain_response(status: u16, reason: &str, headers: &[(&str, String)], body: &[u8]) -> Vec<u8> {
    let mut out = format!("HTTP/1.1 {status} {reason}\r\n").into_bytes();
    for (k, v) in headers {
        out.extend_from_slice(format!("{k}: {v}\r\n").as_bytes());
    }
    out.extend_from_slice(format!("Content-Length: {}\r\n\r\n", body.len()).as_bytes());
    out.extend_from_slice(body);
    out
}

#[cfg(test)]
mod tests {
    use super::super::registry::{Auth, TestRegistry};
    use super::super::seed::{ImageSpec, Seeder};
    use super::*;

    #[tokio::test]
    async fn proxy_injects_429_then_forwards() {
        let registry = TestRegistry::start(Auth::None);
        let seeder = Seeder::new(&registry);
        seeder.push_image("app", "v1", &ImageSpec::new("p")).await;
        let proxy = FaultProxy::start(
            &registry.url(),
            vec![Fault::too_many(
                Match::requests("GET", "/tags/list", 1),
                Some("1"),
            )],
        );
        let client = reqwest::Client::new();
        let url = format!("{}/v2/app/tags/list", proxy.url());
        let first = client.get(&url).send().await.unwrap();
        assert_eq!(first.status(), 429);
        assert_eq!(first.headers()["retry-after"], "1");
        let body: serde_json::Value = first.json().await.unwrap();
        assert_eq!(body["errors"][0]["code"], "TOOMANYREQUESTS");
        let second = client.get(&url).send().await.unwrap();
        assert_eq!(second.status(), 200);
        let body: serde_json::Value = second.json().await.unwrap();
        assert_eq!(body["tags"], serde_json::json!(["v1"]));
        assert_eq!(proxy.requests(), 2);
        assert_eq!(proxy.requests_with("GET"), 2);
        let log = proxy.log();
        assert!(log[0].injected && log[0].status == Some(429));
        assert!(!log[1].injected && log[1].status == Some(200));
        // Only the forwarded request reached the registry.
        let upstream = registry
            .access_log()
            .into_iter()
            .filter(|r| r.path == "/v2/app/tags/list")
            .count();
        assert_eq!(upstream, 1);
    }

    #[tokio::test]
    async fn proxy_forwards_uploads_with_auth_and_rewrites_location() {
        let registry = TestRegistry::start(Auth::Htpasswd);
        let proxy = FaultProxy::start(&registry.url(), Vec::new());
        let seeder = Seeder::via(&registry, &proxy.url());
        let digest = seeder
            .push_image("team/app", "v1", &ImageSpec::new("via"))
            .await;
        assert_eq!(seeder.tags("team/app").await.get("v1"), Some(&digest));
        // Every upload step went through the proxy: Location pointed back at it.
        assert!(proxy.requests_with("PUT") >= 3, "{:#?}", proxy.log());
        assert!(proxy.requests_with("POST") >= 2, "{:#?}", proxy.log());
        let direct = Seeder::new(&registry);
        assert!(direct.manifest_exists("team/app", &digest).await);
        // HEAD answers keep the upstream Content-Length.
        let info = seeder.manifest_info("team/app", "v1").await.unwrap();
        assert_eq!(info.digest, digest);
        assert!(info.size > 100);
    }

    #[tokio::test]
    async fn proxy_resets_and_fails_next_requests() {
        let registry = TestRegistry::start(Auth::None);
        let proxy = FaultProxy::start(
            &registry.url(),
            vec![Fault::Reset {
                when: Match::Nth(1),
            }],
        );
        let client = reqwest::Client::new();
        let url = format!("{}/v2/", proxy.url());
        let reset = client.get(&url).send().await;
        assert!(reset.is_err(), "a reset must fail the request: {reset:?}");
        assert_eq!(client.get(&url).send().await.unwrap().status(), 200);
        proxy.fail_next(2, 503);
        assert_eq!(client.get(&url).send().await.unwrap().status(), 503);
        assert_eq!(client.get(&url).send().await.unwrap().status(), 503);
        assert_eq!(client.get(&url).send().await.unwrap().status(), 200);
        assert_eq!(proxy.requests(), 5);
        assert_eq!(proxy.log()[0].status, None);
    }

    #[tokio::test]
    async fn proxy_faults_every_nth_slows_bodies_and_loses_answers() {
        let registry = TestRegistry::start(Auth::None);
        let seeder = Seeder::new(&registry);
        let digest = seeder.push_image("app", "v1", &ImageSpec::new("e")).await;
        let proxy = FaultProxy::start(
            &registry.url(),
            vec![
                Fault::Status {
                    when: Match::every("GET", "/_catalog", 3),
                    status: 503,
                    retry_after: None,
                },
                Fault::SlowBody {
                    when: Match::requests("GET", "/tags/list", 1),
                    pause: std::time::Duration::from_millis(50),
                },
                Fault::ResetAfterForward {
                    when: Match::requests("DELETE", "/manifests/", 1),
                },
            ],
        );
        let client = reqwest::Client::new();
        let mut statuses = Vec::new();
        for _ in 0..6 {
            let url = format!("{}/v2/_catalog", proxy.url());
            statuses.push(client.get(url).send().await.unwrap().status().as_u16());
        }
        assert_eq!(statuses, [200, 200, 503, 200, 200, 503]);
        let slow = client
            .get(format!("{}/v2/app/tags/list", proxy.url()))
            .send()
            .await
            .unwrap();
        let body: serde_json::Value = slow.json().await.unwrap();
        assert_eq!(body["tags"], serde_json::json!(["v1"]));
        let lost = client
            .delete(format!("{}/v2/app/manifests/{digest}", proxy.url()))
            .send()
            .await;
        assert!(lost.is_err(), "the answer must be lost: {lost:?}");
        // ...but the registry did delete it.
        assert!(!seeder.manifest_exists("app", &digest).await);
        let log = proxy.log();
        assert!(log.last().unwrap().injected && log.last().unwrap().status == Some(202));
    }
}
