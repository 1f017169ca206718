//! A stateful loopback fake of Quay, written from `docs/registry-apis.md` §6, standing in front
//! of the real Distribution registry and sharing its state ([`RegistryState`]):
//!
//! - Every API call needs `Authorization: Bearer <OAuth application token>` ([`TOKEN_WRITE`]
//!   may delete, [`TOKEN_READ`] may only list); otherwise 401, problem+json bodies.
//! - `GET /api/v1/repository/{ns}/{repo}/tag/?onlyActiveTags=true&page=N&limit=M` (the trailing
//!   slash is part of the route): `limit` defaults to 50 and is clamped to 100, `page` ≥ 1,
//!   `{"tags":[…],"page":N,"has_additional":…}`; tag objects with `manifest_digest`,
//!   `is_manifest_list`, `size`, `start_ts` and RFC 2822 `last_modified`. Without
//!   `onlyActiveTags=true` the answer has the tag history too: tags deleted through the fake,
//!   with `end_ts`, as Quay's time machine shows them.
//! - `DELETE /api/v1/repository/{ns}/{repo}/tag/{tag}` → 204 (tag only), 404 if missing, 403
//!   for a read-only token.
//! - Registry side: `DELETE /v2/<repo>/manifests/<tag>` → 202 removing that tag only (Quay
//!   has the OCI tag delete; the real registry 2.8 does not); every other `/v2/…` request is
//!   forwarded.
//!
//! Anything else is answered 400 and recorded ([`QuayFake::unexpected`]). Token values are
//! never recorded.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{SystemTime, UNIX_EPOCH};

use axum::extract::{Request, State};
use axum::http::{HeaderMap, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::json;

use super::platform::{PlatformFake, RegistryState, StoredTag, forward};
use super::{Server, TestRegistry, spawn_server};

/// An OAuth application token with `repo:read` and `repo:write`.
pub const TOKEN_WRITE: &str = "quay-oauth-WRITE-s3cret-0123456789abcdef";
/// An OAuth application token with `repo:read` only.
pub const TOKEN_READ: &str = "quay-oauth-READONLY-s3cret-0123456789abc";

#[derive(Default)]
struct Counters {
    list_pages: AtomicUsize,
    history_pages: AtomicUsize,
    tag_deletes: AtomicUsize,
    refused_deletes: AtomicUsize,
    manifest_gets: AtomicUsize,
    registry_tag_deletes: AtomicUsize,
    registry_mutating: AtomicUsize,
}

struct Shared {
    registry: RegistryState,
    public: OnceLock<String>,
    /// Tags deleted through the fake, as the history shows them.
    history: Mutex<Vec<(String, StoredTag, u64)>>,
    counters: Counters,
    unexpected: Mutex<Vec<String>>,
}

/// The fake Quay: API and registry on one loopback host.
pub struct QuayFake {
    server: Server,
    shared: Arc<Shared>,
    path: String,
    token: Option<String>,
}

impl QuayFake {
    /// A fake in front of `registry`, serving the repository `path` (`org/app`), berth using
    /// [`TOKEN_WRITE`].
    pub fn start(registry: &TestRegistry, path: &str) -> QuayFake {
        let shared = Arc::new(Shared {
            registry: RegistryState::of(registry),
            public: OnceLock::new(),
            history: Mutex::new(Vec::new()),
            counters: Counters::default(),
            unexpected: Mutex::new(Vec::new()),
        });
        let router = axum::Router::new()
            .fallback(handle)
            .with_state(shared.clone());
        let server = spawn_server(router);
        shared.public.set(server.url()).expect("set once");
        QuayFake {
            server,
            shared,
            path: path.to_string(),
            token: Some(TOKEN_WRITE.into()),
        }
    }

    /// berth's token from now on ([`PlatformFake::env`]); None: no token, the registry alone.
    pub fn use_token(&mut self, token: Option<&str>) {
        self.token = token.map(str::to_string);
    }

    /// `host:port` of the fake.
    pub fn host(&self) -> String {
        self.server.addr().to_string()
    }

    /// Tag-list pages answered 200.
    pub fn list_pages(&self) -> usize {
        self.shared.counters.list_pages.load(Ordering::SeqCst)
    }

    /// Tag-list pages asked for without `onlyActiveTags=true` (the tag history).
    pub fn history_pages(&self) -> usize {
        self.shared.counters.history_pages.load(Ordering::SeqCst)
    }

    /// API tag deletes received (refused ones included).
    pub fn tag_deletes(&self) -> usize {
        self.shared.counters.tag_deletes.load(Ordering::SeqCst)
    }

    /// API tag deletes refused with 403.
    pub fn refused_deletes(&self) -> usize {
        self.shared.counters.refused_deletes.load(Ordering::SeqCst)
    }

    /// Registry manifest GET/HEAD requests forwarded.
    pub fn manifest_gets(&self) -> usize {
        self.shared.counters.manifest_gets.load(Ordering::SeqCst)
    }

    /// Registry DELETEs by tag (the OCI tag delete).
    pub fn registry_tag_deletes(&self) -> usize {
        self.shared
            .counters
            .registry_tag_deletes
            .load(Ordering::SeqCst)
    }

    /// Requests the real Quay would not have been asked.
    pub fn unexpected(&self) -> Vec<String> {
        self.shared.unexpected.lock().unwrap().clone()
    }
}

impl PlatformFake for QuayFake {
    fn kind(&self) -> &'static str {
        "quay"
    }
    fn path(&self) -> String {
        self.path.clone()
    }
    fn repo_arg(&self) -> String {
        format!("{}/{}", self.host(), self.path)
    }
    fn env(&self) -> Vec<(String, String)> {
        let mut env = vec![("BERTH_QUAY_API_URL".to_string(), self.server.url())];
        if let Some(token) = &self.token {
            env.push(("BERTH_QUAY_TOKEN".into(), token.clone()));
        }
        env
    }
    fn api_requests(&self) -> BTreeMap<String, usize> {
        [
            ("API tags page", self.list_pages()),
            ("API tag DELETE", self.tag_deletes()),
        ]
        .into_iter()
        .filter(|(_, n)| *n > 0)
        .map(|(k, n)| (k.to_string(), n))
        .collect()
    }
    fn mutating_requests(&self) -> usize {
        let c = &self.shared.counters;
        c.tag_deletes.load(Ordering::SeqCst) + c.registry_mutating.load(Ordering::SeqCst)
    }
    fn assert_no_unexpected(&self) {
        let unexpected = self.unexpected();
        assert!(
            unexpected.is_empty(),
            "requests Quay would not know: {unexpected:#?}"
        );
    }
}

fn secs(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH).unwrap().as_secs()
}

fn problem(status: StatusCode, title: &str, message: &str) -> Response {
    (
        status,
        [("content-type", "application/problem+json")],
        json!({
            "status": status.as_u16(),
            "error_message": message,
            "detail": message,
            "title": title,
            "error_type": title,
            "type": format!("https://quay.io/api/v1/error/{title}"),
        })
        .to_string(),
    )
        .into_response()
}

/// The token's scope: Some(true) may write; None is no token Quay knows.
fn authorize(headers: &HeaderMap) -> Option<bool> {
    let value = headers.get("authorization").and_then(|v| v.to_str().ok());
    match value.and_then(|v| v.strip_prefix("Bearer ")) {
        Some(TOKEN_WRITE) => Some(true),
        Some(TOKEN_READ) => Some(false),
        _ => None,
    }
}

fn unauthorized() -> Response {
    problem(
        StatusCode::UNAUTHORIZED,
        "invalid_token",
        "Invalid or missing OAuth token",
    )
}

fn unknown(shared: &Shared, method: &Method, path: &str, query: &str) -> Response {
    shared
        .unexpected
        .lock()
        .unwrap()
        .push(format!("{method} {path}?{query}"));
    problem(
        StatusCode::BAD_REQUEST,
        "invalid_request",
        "the fake Quay does not know this request",
    )
}

async fn handle(State(shared): State<Arc<Shared>>, request: Request) -> Response {
    let method = request.method().clone();
    let path = request.uri().path().to_string();
    let query = request.uri().query().unwrap_or("").to_string();
    if path.starts_with("/v2/") || path == "/v2" {
        return registry_side(&shared, request).await;
    }
    let segments: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    let headers = request.headers().clone();
    match (&method, segments.as_slice()) {
        (&Method::GET, ["api", "v1", "repository", ns, repo, "tag", ""]) => {
            match authorize(&headers) {
                Some(_) => list(&shared, &format!("{ns}/{repo}"), &query)
                    .unwrap_or_else(|| unknown(&shared, &method, &path, &query)),
                None => unauthorized(),
            }
        }
        (&Method::DELETE, ["api", "v1", "repository", ns, repo, "tag", tag]) if !tag.is_empty() => {
            shared.counters.tag_deletes.fetch_add(1, Ordering::SeqCst);
            match authorize(&headers) {
                Some(false) => {
                    shared
                        .counters
                        .refused_deletes
                        .fetch_add(1, Ordering::SeqCst);
                    problem(StatusCode::FORBIDDEN, "insufficient_scope", "Unauthorized")
                }
                Some(true) => {
                    let repo = format!("{ns}/{repo}");
                    let stored = shared
                        .registry
                        .tags(&repo)
                        .into_iter()
                        .find(|t| t.name == *tag);
                    match stored {
                        Some(t) if shared.registry.remove_tag(&repo, tag) => {
                            let now = secs(SystemTime::now());
                            shared.history.lock().unwrap().push((repo, t, now));
                            StatusCode::NO_CONTENT.into_response()
                        }
                        _ => problem(StatusCode::NOT_FOUND, "not_found", "Not Found"),
                    }
                }
                None => unauthorized(),
            }
        }
        _ => unknown(&shared, &method, &path, &query),
    }
}

/// One page of the tag list; None for a query Quay would refuse.
fn list(shared: &Shared, repo: &str, query: &str) -> Option<Response> {
    let mut page = 1usize;
    let mut limit = 50usize;
    let mut active_only = false;
    for (k, v) in url::form_urlencoded::parse(query.as_bytes()) {
        match k.as_ref() {
            "page" => page = v.parse().ok().filter(|n| *n >= 1)?,
            "limit" => limit = v.parse::<usize>().ok().filter(|n| *n >= 1)?.min(100),
            "onlyActiveTags" => active_only = v == "true",
            _ => return None,
        }
    }
    if !shared.registry.repositories().iter().any(|r| r == repo) {
        return Some(problem(StatusCode::NOT_FOUND, "not_found", "Not Found"));
    }
    let row = |t: &StoredTag, end: Option<u64>| {
        let bytes = shared.registry.blob(&t.digest).unwrap_or_default();
        let manifest: serde_json::Value = serde_json::from_slice(&bytes).unwrap_or(json!({}));
        let start = secs(t.pushed);
        let mut row = json!({
            "name": t.name,
            "reversion": false,
            "manifest_digest": t.digest,
            "is_manifest_list": manifest["manifests"].is_array(),
            "size": bytes.len(),
            "start_ts": start,
            "last_modified": chrono::DateTime::<chrono::Utc>::from(t.pushed)
                .format("%a, %d %b %Y %H:%M:%S -0000")
                .to_string(),
        });
        if let Some(end) = end {
            row["end_ts"] = json!(end);
        }
        row
    };
    let mut rows: Vec<serde_json::Value> = shared
        .registry
        .tags(repo)
        .iter()
        .map(|t| row(t, None))
        .collect();
    if !active_only {
        shared.counters.history_pages.fetch_add(1, Ordering::SeqCst);
        rows.extend(
            shared
                .history
                .lock()
                .unwrap()
                .iter()
                .filter(|(r, _, _)| r == repo)
                .map(|(_, t, end)| row(t, Some(*end))),
        );
    }
    let start = (page - 1) * limit;
    let tags: Vec<serde_json::Value> = rows.iter().skip(start).take(limit).cloned().collect();
    shared.counters.list_pages.fetch_add(1, Ordering::SeqCst);
    Some(
        axum::Json(json!({
            "tags": tags,
            "page": page,
            "has_additional": start + limit < rows.len(),
        }))
        .into_response(),
    )
}

/// The registry side: a DELETE by tag removes that tag only (Quay's OCI tag delete); the rest
/// is forwarded.
async fn registry_side(shared: &Shared, request: Request) -> Response {
    let method = request.method().clone();
    let path = request.uri().path().to_string();
    if let Some((name, reference)) = path
        .strip_prefix("/v2/")
        .and_then(|rest| rest.rsplit_once("/manifests/"))
    {
        if method == Method::GET || method == Method::HEAD {
            shared.counters.manifest_gets.fetch_add(1, Ordering::SeqCst);
        }
        if method == Method::DELETE && !reference.starts_with("sha256:") {
            shared
                .counters
                .registry_mutating
                .fetch_add(1, Ordering::SeqCst);
            shared
                .counters
                .registry_tag_deletes
                .fetch_add(1, Ordering::SeqCst);
            return if shared.registry.remove_tag(name, reference) {
                StatusCode::ACCEPTED.into_response()
            } else {
                (
                    StatusCode::NOT_FOUND,
                    axum::Json(json!({"errors": [{
                        "code": "MANIFEST_UNKNOWN",
                        "message": "manifest unknown",
                    }]})),
                )
                    .into_response()
            };
        }
    }
    if method != Method::GET && method != Method::HEAD {
        shared
            .counters
            .registry_mutating
            .fetch_add(1, Ordering::SeqCst);
    }
    let public = shared.public.get().expect("set at start");
    forward(shared.registry.url(), public, request).await
}
