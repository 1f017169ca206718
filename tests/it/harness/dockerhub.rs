//! A stateful loopback fake of Docker Hub, written from `docs/registry-apis.md` §2, standing
//! in front of the real Distribution registry and sharing its state ([`RegistryState`]):
//!
//! - Hub API login: `POST /v2/auth/token` `{identifier, secret}` → `{access_token}` and the
//!   legacy `POST /v2/users/login[/]` `{username, password}` → `{token}` (JSON bodies only);
//!   a 2FA account's password → 401 with `login_2fa_token`; a [`HubFake::legacy_login_only`]
//!   mode answers 404 on `/v2/auth/token` like an older deployment.
//! - Every other API call checks the JWT (`Authorization: Bearer …` or the legacy `JWT …`).
//! - `GET /v2/namespaces/{ns}/repositories/{repo}/tags?page=&page_size=`: default page size
//!   10, at most 100 (more → 400), absolute `next`, 404 past the end or for an unknown
//!   repository; tag objects with `digest`, `media_type`, `tag_last_pushed`, `last_updated`
//!   and an `images` array (children for an index, the image itself otherwise).
//! - `DELETE /v2/repositories/{ns}/{repo}/tags/{tag}/` → 204 (tag only); without the trailing
//!   slash → 404 (the fake picks 404 over the 301 Django may send: a client must not depend on
//!   either), recorded as unexpected; a PAT without the delete scope → 403
//!   `{"detail":"insufficient scope"}`.
//! - `X-RateLimit-Limit/Remaining/Reset` on every API answer; [`HubFake::rate_limit_once`]
//!   answers the next API call 429 with `Retry-After` or only `X-RateLimit-Reset`.
//! - Registry side: every other `/v2/…` request is forwarded to the real registry, except a
//!   manifest DELETE by digest while any tag names it → 403 `DENIED`, as Hub's registry does
//!   (or every manifest DELETE → 405 `UNSUPPORTED` in [`HubFake::manifest_delete_unsupported`]).
//! - [`HubFake::expire_tokens_after_pages`]: issued JWTs stop working part-way through a
//!   listing, as Hub's ten-minute tokens do in a long run.
//!
//! Anything else is answered 400 and recorded ([`HubFake::unexpected`]). Token values are never
//! recorded.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{SystemTime, UNIX_EPOCH};

use axum::extract::{Request, State};
use axum::http::{HeaderMap, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::json;

use super::platform::{PlatformFake, RegistryState, forward};
use super::{Server, TestRegistry, spawn_server};

/// The Hub account the fake knows.
pub const USERNAME: &str = "hubuser";
/// Its password (recognisable, so tests can look for it in berth's output).
pub const PASSWORD: &str = "hub-PASSWORD-s3cret-0123456789";
/// A personal access token with the Read, Write, Delete scope.
pub const PAT_DELETE: &str = "dckr_pat_DELETEscope0123456789abcdef";
/// A personal access token with Read & Write only: lists, cannot delete.
pub const PAT_READ_WRITE: &str = "dckr_pat_READWRITEonly0123456789abc";
/// A ready Hub JWT with every scope, for `BERTH_DOCKERHUB_TOKEN`.
pub const STATIC_JWT: &str = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJodWJ1c2VyIn0.c3RhdGljLWp3dC1zaWc";

/// What a Hub token may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Scope {
    /// Read, Write, Delete (password logins and `repo:admin` PATs).
    Delete,
    /// Read & Write.
    ReadWrite,
}

/// How the next API call is refused with 429.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RateLimit {
    /// `Retry-After: 1`.
    RetryAfter,
    /// Only `X-RateLimit-Reset` one second ahead (and `X-RateLimit-Remaining: 0`).
    Reset,
}

#[derive(Default)]
struct Counters {
    logins: AtomicUsize,
    list_pages: AtomicUsize,
    tag_deletes: AtomicUsize,
    refused_deletes: AtomicUsize,
    manifest_gets: AtomicUsize,
    registry_mutating: AtomicUsize,
    rate_limited: AtomicUsize,
}

struct Shared {
    registry: RegistryState,
    public: OnceLock<String>,
    /// Issued JWT → its scope.
    tokens: Mutex<HashMap<String, Scope>>,
    two_factor: Mutex<bool>,
    legacy_login_only: Mutex<bool>,
    rate_limit: Mutex<Option<RateLimit>>,
    /// Every issued JWT expires after this many more list pages (Hub's last ~10 minutes).
    expire_after_pages: Mutex<Option<usize>>,
    /// The registry answers every manifest delete by digest 405, as Hub's did historically.
    manifest_delete_unsupported: Mutex<bool>,
    counters: Counters,
    unexpected: Mutex<Vec<String>>,
    next_token: AtomicUsize,
}

/// The fake Docker Hub: API and registry on one loopback host.
pub struct HubFake {
    server: Server,
    shared: Arc<Shared>,
    path: String,
    env: Vec<(String, String)>,
}

impl HubFake {
    /// A fake in front of `registry`, serving the repository `path` (`team/app`), berth
    /// logging in as [`USERNAME`] with [`PASSWORD`].
    pub fn start(registry: &TestRegistry, path: &str) -> HubFake {
        let mut tokens = HashMap::new();
        tokens.insert(STATIC_JWT.to_string(), Scope::Delete);
        let shared = Arc::new(Shared {
            registry: RegistryState::of(registry),
            public: OnceLock::new(),
            tokens: Mutex::new(tokens),
            two_factor: Mutex::new(false),
            legacy_login_only: Mutex::new(false),
            rate_limit: Mutex::new(None),
            expire_after_pages: Mutex::new(None),
            manifest_delete_unsupported: Mutex::new(false),
            counters: Counters::default(),
            unexpected: Mutex::new(Vec::new()),
            next_token: AtomicUsize::new(1),
        });
        let router = axum::Router::new()
            .fallback(handle)
            .with_state(shared.clone());
        let server = spawn_server(router);
        shared.public.set(server.url()).expect("set once");
        let mut fake = HubFake {
            server,
            shared,
            path: path.to_string(),
            env: Vec::new(),
        };
        fake.env = fake.login_env(PASSWORD);
        fake
    }

    /// Variables pointing berth at the fake, logging in with `secret` (a password or PAT).
    pub fn login_env(&self, secret: &str) -> Vec<(String, String)> {
        vec![
            ("BERTH_DOCKERHUB_API_URL".into(), self.server.url()),
            ("BERTH_DOCKERHUB_USERNAME".into(), USERNAME.into()),
            ("BERTH_DOCKERHUB_PASSWORD".into(), secret.into()),
        ]
    }

    /// Variables pointing berth at the fake with a ready token.
    pub fn token_env(&self, token: &str) -> Vec<(String, String)> {
        vec![
            ("BERTH_DOCKERHUB_API_URL".into(), self.server.url()),
            ("BERTH_DOCKERHUB_TOKEN".into(), token.into()),
        ]
    }

    /// Makes berth's default login the given secret (for [`PlatformFake::env`]).
    pub fn use_login(&mut self, secret: &str) {
        self.env = self.login_env(secret);
    }

    /// `host:port` of the fake.
    pub fn host(&self) -> String {
        self.server.addr().to_string()
    }

    /// The account has two-factor authentication: its password no longer logs in.
    pub fn two_factor(&self) {
        *self.shared.two_factor.lock().unwrap() = true;
    }

    /// `/v2/auth/token` answers 404, as on an older Hub deployment.
    pub fn legacy_login_only(&self) {
        *self.shared.legacy_login_only.lock().unwrap() = true;
    }

    /// The next API call is answered 429 in `style`.
    pub fn rate_limit_once(&self, style: RateLimit) {
        *self.shared.rate_limit.lock().unwrap() = Some(style);
    }

    /// Issued JWTs (not [`STATIC_JWT`]) expire after `pages` more tag-list pages.
    pub fn expire_tokens_after_pages(&self, pages: usize) {
        *self.shared.expire_after_pages.lock().unwrap() = Some(pages);
    }

    /// Manifest deletes by digest answer 405 `UNSUPPORTED` (Hub's registry before it had them).
    pub fn manifest_delete_unsupported(&self) {
        *self.shared.manifest_delete_unsupported.lock().unwrap() = true;
    }

    /// Logins answered (either endpoint).
    pub fn logins(&self) -> usize {
        self.shared.counters.logins.load(Ordering::SeqCst)
    }

    /// Tag-list pages answered 200.
    pub fn list_pages(&self) -> usize {
        self.shared.counters.list_pages.load(Ordering::SeqCst)
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

    /// 429 answers sent.
    pub fn rate_limited(&self) -> usize {
        self.shared.counters.rate_limited.load(Ordering::SeqCst)
    }

    /// Requests the real Hub would not have been asked.
    pub fn unexpected(&self) -> Vec<String> {
        self.shared.unexpected.lock().unwrap().clone()
    }
}

impl PlatformFake for HubFake {
    fn kind(&self) -> &'static str {
        "dockerhub"
    }
    fn path(&self) -> String {
        self.path.clone()
    }
    fn repo_arg(&self) -> String {
        format!("{}/{}", self.host(), self.path)
    }
    fn env(&self) -> Vec<(String, String)> {
        self.env.clone()
    }
    fn api_requests(&self) -> std::collections::BTreeMap<String, usize> {
        [
            ("API login", self.logins()),
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
            "requests Docker Hub would not know: {unexpected:#?}"
        );
    }
}

fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

fn rfc3339(t: SystemTime) -> String {
    chrono::DateTime::<chrono::Utc>::from(t).to_rfc3339_opts(chrono::SecondsFormat::Micros, true)
}

fn detail(status: StatusCode, text: &str) -> Response {
    (status, axum::Json(json!({"detail": text}))).into_response()
}

fn with_rate_headers(mut response: Response, remaining: u64) -> Response {
    let h = response.headers_mut();
    h.insert("x-ratelimit-limit", "180".parse().unwrap());
    h.insert(
        "x-ratelimit-remaining",
        remaining.to_string().parse().unwrap(),
    );
    h.insert(
        "x-ratelimit-reset",
        (now_secs() + 60).to_string().parse().unwrap(),
    );
    response
}

async fn handle(State(shared): State<Arc<Shared>>, request: Request) -> Response {
    let method = request.method().clone();
    let path = request.uri().path().to_string();
    let query = request.uri().query().unwrap_or("").to_string();
    let segments: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    let api = matches!(
        segments.as_slice(),
        ["v2", "namespaces", ..]
            | ["v2", "repositories", ..]
            | ["v2", "users", ..]
            | ["v2", "auth", ..]
    );
    if !api {
        return registry_side(&shared, request).await;
    }
    if let Some(style) = shared.rate_limit.lock().unwrap().take() {
        shared.counters.rate_limited.fetch_add(1, Ordering::SeqCst);
        let mut response = detail(StatusCode::TOO_MANY_REQUESTS, "rate limit exceeded");
        let h = response.headers_mut();
        h.insert("x-ratelimit-limit", "180".parse().unwrap());
        h.insert("x-ratelimit-remaining", "0".parse().unwrap());
        h.insert(
            "x-ratelimit-reset",
            (now_secs() + 1).to_string().parse().unwrap(),
        );
        if style == RateLimit::RetryAfter {
            h.insert("retry-after", "1".parse().unwrap());
        }
        return response;
    }
    let headers = request.headers().clone();
    let body = axum::body::to_bytes(request.into_body(), 1 << 20)
        .await
        .unwrap_or_default();
    let response = match (&method, segments.as_slice()) {
        (&Method::POST, ["v2", "auth", "token"]) => {
            if *shared.legacy_login_only.lock().unwrap() {
                detail(StatusCode::NOT_FOUND, "Not found.")
            } else {
                login(
                    &shared,
                    &headers,
                    &body,
                    "identifier",
                    "secret",
                    "access_token",
                )
            }
        }
        (&Method::POST, ["v2", "users", "login"])
        | (&Method::POST, ["v2", "users", "login", ""]) => {
            login(&shared, &headers, &body, "username", "password", "token")
        }
        (&Method::GET, ["v2", "namespaces", ns, "repositories", repo, "tags"]) => {
            match authorize(&shared, &headers) {
                Ok(_) => list(&shared, ns, repo, &query),
                Err(why) => detail(StatusCode::UNAUTHORIZED, why),
            }
        }
        (&Method::DELETE, ["v2", "repositories", ns, repo, "tags", tag, ""]) => {
            shared.counters.tag_deletes.fetch_add(1, Ordering::SeqCst);
            match authorize(&shared, &headers) {
                Ok(Scope::ReadWrite) => {
                    shared
                        .counters
                        .refused_deletes
                        .fetch_add(1, Ordering::SeqCst);
                    detail(StatusCode::FORBIDDEN, "insufficient scope")
                }
                Ok(Scope::Delete) => {
                    if shared.registry.remove_tag(&format!("{ns}/{repo}"), tag) {
                        StatusCode::NO_CONTENT.into_response()
                    } else {
                        detail(StatusCode::NOT_FOUND, "Not found.")
                    }
                }
                Err(why) => detail(StatusCode::UNAUTHORIZED, why),
            }
        }
        _ => {
            shared
                .unexpected
                .lock()
                .unwrap()
                .push(format!("{method} {path}?{query}"));
            let status = if method == Method::DELETE {
                // A tag delete without its trailing slash: the real Hub does not route it.
                StatusCode::NOT_FOUND
            } else {
                StatusCode::BAD_REQUEST
            };
            detail(status, "the fake Docker Hub does not know this request")
        }
    };
    with_rate_headers(response, 179)
}

/// Checks the JWT; Err is the 401 answer's detail.
fn authorize(shared: &Shared, headers: &HeaderMap) -> Result<Scope, &'static str> {
    let Some(value) = headers.get("authorization").and_then(|v| v.to_str().ok()) else {
        return Err("Authentication credentials were not provided.");
    };
    let token = value
        .strip_prefix("Bearer ")
        .or_else(|| value.strip_prefix("JWT "));
    match token.and_then(|t| shared.tokens.lock().unwrap().get(t).copied()) {
        Some(scope) => Ok(scope),
        None => Err("Incorrect authentication credentials."),
    }
}

fn login(
    shared: &Shared,
    headers: &HeaderMap,
    body: &[u8],
    user_field: &str,
    secret_field: &str,
    token_field: &str,
) -> Response {
    let json_body = headers
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"));
    let parsed: Option<serde_json::Value> = serde_json::from_slice(body).ok();
    let (Some(parsed), true) = (parsed, json_body) else {
        shared
            .unexpected
            .lock()
            .unwrap()
            .push("POST login without a JSON body".into());
        return detail(StatusCode::BAD_REQUEST, "a JSON body is required");
    };
    let user = parsed[user_field].as_str().unwrap_or_default();
    let secret = parsed[secret_field].as_str().unwrap_or_default();
    if user != USERNAME {
        return detail(
            StatusCode::UNAUTHORIZED,
            "Incorrect authentication credentials",
        );
    }
    let scope = match secret {
        PASSWORD if *shared.two_factor.lock().unwrap() => {
            return (
                StatusCode::UNAUTHORIZED,
                axum::Json(json!({
                    "detail": "Require secondary authentication on MFA enabled account",
                    "login_2fa_token": "2fa-token-0123",
                })),
            )
                .into_response();
        }
        PASSWORD | PAT_DELETE => Scope::Delete,
        PAT_READ_WRITE => Scope::ReadWrite,
        _ => {
            return detail(
                StatusCode::UNAUTHORIZED,
                "Incorrect authentication credentials",
            );
        }
    };
    shared.counters.logins.fetch_add(1, Ordering::SeqCst);
    let n = shared.next_token.fetch_add(1, Ordering::SeqCst);
    let token = format!("eyJhbGciOiJIUzI1NiJ9.eyJuIjo{n}fQ.issued-{n}-sig");
    shared.tokens.lock().unwrap().insert(token.clone(), scope);
    axum::Json(json!({ token_field: token })).into_response()
}

fn list(shared: &Shared, ns: &str, repo: &str, query: &str) -> Response {
    let mut page = 1usize;
    let mut size = 10usize;
    for (k, v) in url::form_urlencoded::parse(query.as_bytes()) {
        let n = v.parse::<usize>().ok().filter(|n| *n > 0);
        match (k.as_ref(), n) {
            ("page", Some(n)) => page = n,
            ("page_size", Some(n)) if n <= 100 => size = n,
            _ => {
                shared
                    .unexpected
                    .lock()
                    .unwrap()
                    .push(format!("list with query {query}"));
                return detail(StatusCode::BAD_REQUEST, "invalid page or page_size");
            }
        }
    }
    let path = format!("{ns}/{repo}");
    if !shared.registry.repositories().contains(&path) {
        return detail(StatusCode::NOT_FOUND, "object not found");
    }
    let tags = shared.registry.tags(&path);
    let start = (page - 1) * size;
    if start >= tags.len() && page > 1 {
        return detail(StatusCode::NOT_FOUND, "That page contains no results");
    }
    let results: Vec<serde_json::Value> = tags
        .iter()
        .skip(start)
        .take(size)
        .enumerate()
        .map(|(i, t)| {
            let bytes = shared.registry.blob(&t.digest).unwrap_or_default();
            let manifest: serde_json::Value = serde_json::from_slice(&bytes).unwrap_or(json!({}));
            let media_type = manifest["mediaType"].as_str().unwrap_or_default();
            let pushed = rfc3339(t.pushed);
            let images: Vec<serde_json::Value> = match manifest["manifests"].as_array() {
                Some(children) => children
                    .iter()
                    .map(|c| {
                        json!({
                            "architecture": c["platform"]["architecture"],
                            "os": c["platform"]["os"],
                            "variant": null, "features": "", "os_features": "",
                            "os_version": null, "digest": c["digest"], "size": c["size"],
                            "status": "active", "last_pulled": null, "last_pushed": pushed,
                        })
                    })
                    .collect(),
                None => vec![json!({
                    "architecture": "amd64", "os": "linux", "variant": null,
                    "features": "", "os_features": "", "os_version": null,
                    "digest": t.digest, "size": bytes.len(), "status": "active",
                    "last_pulled": null, "last_pushed": pushed,
                })],
            };
            json!({
                "id": start + i + 1,
                "name": t.name,
                "digest": t.digest,
                "media_type": media_type,
                "content_type": "image",
                "last_updated": pushed,
                "last_updater": 1,
                "last_updater_username": USERNAME,
                "creator": 1,
                "repository": 1,
                "full_size": bytes.len(),
                "v2": true,
                "tag_status": "active",
                "tag_last_pulled": null,
                "tag_last_pushed": pushed,
                "images": images,
            })
        })
        .collect();
    shared.counters.list_pages.fetch_add(1, Ordering::SeqCst);
    {
        let mut expire = shared.expire_after_pages.lock().unwrap();
        if let Some(left) = expire.as_mut() {
            *left = left.saturating_sub(1);
            if *left == 0 {
                *expire = None;
                shared
                    .tokens
                    .lock()
                    .unwrap()
                    .retain(|token, _| token == STATIC_JWT);
            }
        }
    }
    let public = shared.public.get().expect("set at start");
    let link = |p: usize| {
        format!("{public}/v2/namespaces/{ns}/repositories/{repo}/tags?page={p}&page_size={size}")
    };
    let next = (start + size < tags.len()).then(|| link(page + 1));
    let previous = (page > 1).then(|| link(page - 1));
    axum::Json(json!({
        "count": tags.len(),
        "next": next,
        "previous": previous,
        "results": results,
    }))
    .into_response()
}

/// The registry side: forwarded, except a manifest delete by digest while a tag names it.
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
        if method == Method::DELETE && *shared.manifest_delete_unsupported.lock().unwrap() {
            shared
                .counters
                .registry_mutating
                .fetch_add(1, Ordering::SeqCst);
            return (
                StatusCode::METHOD_NOT_ALLOWED,
                axum::Json(json!({"errors": [{
                    "code": "UNSUPPORTED",
                    "message": "The operation is unsupported.",
                }]})),
            )
                .into_response();
        }
        if method == Method::DELETE
            && reference.starts_with("sha256:")
            && shared
                .registry
                .tags(name)
                .iter()
                .any(|t| t.digest == reference)
        {
            shared
                .counters
                .registry_mutating
                .fetch_add(1, Ordering::SeqCst);
            return (
                StatusCode::FORBIDDEN,
                axum::Json(json!({"errors": [{
                    "code": "DENIED",
                    "message": "the manifest is still referenced by a tag",
                }]})),
            )
                .into_response();
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
