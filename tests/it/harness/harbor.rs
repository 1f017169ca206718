//! A stateful loopback fake of Harbor v2, written from `docs/registry-apis.md` §5, standing in
//! front of the real Distribution registry and sharing its state ([`RegistryState`]):
//!
//! - HTTP Basic on every API call (a private project): [`ROBOT`] may delete, [`READER`] may
//!   list only (403 `FORBIDDEN` on deletes); anything else → 401 `UNAUTHORIZED`.
//! - Every API answer sets Harbor's `sid` session cookie and carries `X-Request-Id`; a DELETE
//!   that sends the cookie back is refused 403 `CSRF token invalid`, as Harbor's CSRF
//!   middleware does, and recorded as unexpected.
//! - `GET /api/v2.0/projects/{p}/repositories/{r}/artifacts?page=&page_size=&with_tag=`: the
//!   repository name double-encoded (`a%252Fb`; a single-encoded `%2F` is a path separator to
//!   Harbor → 404, recorded), page size default 10, at most 100, `X-Total-Count`, relative
//!   `Link` with `rel="next"` and `rel="prev"`; every manifest revision is an artifact, tagged
//!   or not (`tags: null`), with `manifest_media_type`, `push_time` and `references`.
//! - `DELETE …/artifacts/{reference}` → 200: the artifact, every tag on it, its cosign
//!   accessories (`sha256-<hex>.sig|.att|.sbom`) and, for an index, its children that no tag
//!   names and no other index references. `DELETE …/artifacts/{reference}/tags/{tag}` → 200,
//!   404 when the tag is not on that artifact. [`HarborFake::policy_violations`] answers the
//!   next deletes 412 `PROJECTPOLICYVIOLATION`.
//! - Registry side: `/v2/…` forwarded to the real registry, except a manifest DELETE by tag →
//!   400 `UNSUPPORTED`, as Harbor's registry answers.
//!
//! Anything else is answered 400 and recorded ([`HarborFake::unexpected`]). Secrets are never
//! recorded.

use std::collections::{BTreeMap, HashSet};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};

use axum::extract::{Request, State};
use axum::http::{HeaderMap, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use serde_json::json;

use super::platform::{PlatformFake, RegistryState, forward};
use super::{Server, TestRegistry, spawn_server};

/// A robot account that may list and delete.
pub const ROBOT: &str = "robot$berth+cleanup";
/// Its secret (recognisable, so tests can look for it in berth's output).
pub const ROBOT_SECRET: &str = "harbor-ROBOT-s3cret-0123456789";
/// A robot account that may only list.
pub const READER: &str = "robot$berth+reader";
/// Its secret.
pub const READER_SECRET: &str = "harbor-READER-s3cret-9876543210";

const SESSION_COOKIE: &str = "sid=fake-harbor-session-0123456789abcdef";

#[derive(Default)]
struct Counters {
    list_pages: AtomicUsize,
    artifact_deletes: AtomicUsize,
    tag_deletes: AtomicUsize,
    refused_deletes: AtomicUsize,
    policy_refusals: AtomicUsize,
    manifest_gets: AtomicUsize,
    registry_mutating: AtomicUsize,
}

struct Shared {
    registry: RegistryState,
    policy_violations: AtomicUsize,
    counters: Counters,
    unexpected: Mutex<Vec<String>>,
    request_id: AtomicUsize,
    public: OnceLock<String>,
}

/// The fake Harbor: API and registry on one loopback host.
pub struct HarborFake {
    server: Server,
    shared: Arc<Shared>,
    path: String,
    config: tempfile::TempDir,
}

impl HarborFake {
    /// A fake in front of `registry`, serving the repository `path` (`project/repo…`), berth
    /// logging in as [`ROBOT`] through a docker config.
    pub fn start(registry: &TestRegistry, path: &str) -> HarborFake {
        let shared = Arc::new(Shared {
            registry: RegistryState::of(registry),
            policy_violations: AtomicUsize::new(0),
            counters: Counters::default(),
            unexpected: Mutex::new(Vec::new()),
            request_id: AtomicUsize::new(1),
            public: OnceLock::new(),
        });
        let router = axum::Router::new()
            .fallback(handle)
            .with_state(shared.clone());
        let server = spawn_server(router);
        shared.public.set(server.url()).expect("set once");
        let fake = HarborFake {
            server,
            shared,
            path: path.to_string(),
            config: tempfile::tempdir().expect("a temp dir"),
        };
        fake.log_in(ROBOT, ROBOT_SECRET);
        fake
    }

    /// Writes the docker config's login for the fake's host (what `docker login` stores).
    pub fn log_in(&self, user: &str, secret: &str) {
        let auth = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{secret}"));
        let config = json!({"auths": {self.host(): {"auth": auth}}});
        std::fs::write(
            self.config.path().join("config.json"),
            serde_json::to_vec(&config).unwrap(),
        )
        .expect("write the docker config");
    }

    /// `host:port` of the fake.
    pub fn host(&self) -> String {
        self.server.addr().to_string()
    }

    /// The next `n` deletes (artifact or tag) are answered 412 `PROJECTPOLICYVIOLATION`.
    pub fn policy_violations(&self, n: usize) {
        self.shared.policy_violations.store(n, Ordering::SeqCst);
    }

    /// Artifact-list pages answered 200.
    pub fn list_pages(&self) -> usize {
        self.shared.counters.list_pages.load(Ordering::SeqCst)
    }

    /// Artifact deletes received (refused ones included).
    pub fn artifact_deletes(&self) -> usize {
        self.shared.counters.artifact_deletes.load(Ordering::SeqCst)
    }

    /// Tag deletes received (refused ones included).
    pub fn tag_deletes(&self) -> usize {
        self.shared.counters.tag_deletes.load(Ordering::SeqCst)
    }

    /// Deletes refused with 403.
    pub fn refused_deletes(&self) -> usize {
        self.shared.counters.refused_deletes.load(Ordering::SeqCst)
    }

    /// Deletes answered 412 `PROJECTPOLICYVIOLATION`.
    pub fn policy_refusals(&self) -> usize {
        self.shared.counters.policy_refusals.load(Ordering::SeqCst)
    }

    /// Registry manifest GET/HEAD requests forwarded.
    pub fn manifest_gets(&self) -> usize {
        self.shared.counters.manifest_gets.load(Ordering::SeqCst)
    }

    /// Requests the real Harbor would not have been asked.
    pub fn unexpected(&self) -> Vec<String> {
        self.shared.unexpected.lock().unwrap().clone()
    }
}

impl PlatformFake for HarborFake {
    fn kind(&self) -> &'static str {
        "harbor"
    }
    fn path(&self) -> String {
        self.path.clone()
    }
    fn repo_arg(&self) -> String {
        format!("{}/{}", self.host(), self.path)
    }
    fn env(&self) -> Vec<(String, String)> {
        vec![(
            "DOCKER_CONFIG".into(),
            self.config.path().display().to_string(),
        )]
    }
    fn api_requests(&self) -> BTreeMap<String, usize> {
        [
            ("API artifacts page", self.list_pages()),
            ("API artifact DELETE", self.artifact_deletes()),
            ("API tag DELETE", self.tag_deletes()),
        ]
        .into_iter()
        .filter(|(_, n)| *n > 0)
        .map(|(k, n)| (k.to_string(), n))
        .collect()
    }
    fn mutating_requests(&self) -> usize {
        let c = &self.shared.counters;
        c.artifact_deletes.load(Ordering::SeqCst)
            + c.tag_deletes.load(Ordering::SeqCst)
            + c.registry_mutating.load(Ordering::SeqCst)
    }
    fn assert_no_unexpected(&self) {
        let unexpected = self.unexpected();
        assert!(
            unexpected.is_empty(),
            "requests Harbor would not know: {unexpected:#?}"
        );
    }
}

fn errors(status: StatusCode, code: &str, message: &str) -> Response {
    (
        status,
        axum::Json(json!({"errors": [{"code": code, "message": message}]})),
    )
        .into_response()
}

fn rfc3339(t: std::time::SystemTime) -> String {
    chrono::DateTime::<chrono::Utc>::from(t).to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

/// Whether the Basic credentials may delete; None for credentials Harbor does not know.
fn authorize(headers: &HeaderMap) -> Option<bool> {
    let login = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Basic "))
        .and_then(|b| base64::engine::general_purpose::STANDARD.decode(b).ok())
        .and_then(|b| String::from_utf8(b).ok());
    match login.as_deref().and_then(|l| l.split_once(':')) {
        Some((ROBOT, ROBOT_SECRET)) => Some(true),
        Some((READER, READER_SECRET)) => Some(false),
        _ => None,
    }
}

/// `%XX` decoding of one path segment; None for a malformed escape.
fn decode(segment: &str) -> Option<String> {
    let bytes = segment.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = segment.get(i + 1..i + 3)?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

fn record(shared: &Shared, what: String) {
    shared.unexpected.lock().unwrap().push(what);
}

async fn handle(State(shared): State<Arc<Shared>>, request: Request) -> Response {
    let path = request.uri().path().to_string();
    if !path.starts_with("/api/") {
        return registry_side(&shared, request).await;
    }
    let method = request.method().clone();
    let query = request.uri().query().unwrap_or("").to_string();
    let headers = request.headers().clone();
    let mut response = api(&shared, &method, &path, &query, &headers).await;
    let id = shared.request_id.fetch_add(1, Ordering::SeqCst);
    let h = response.headers_mut();
    h.insert("x-request-id", format!("req-{id}").parse().unwrap());
    h.insert(
        "set-cookie",
        format!("{SESSION_COOKIE}; Path=/; HttpOnly")
            .parse()
            .unwrap(),
    );
    response
}

async fn api(
    shared: &Shared,
    method: &Method,
    path: &str,
    query: &str,
    headers: &HeaderMap,
) -> Response {
    // Segments as sent: Harbor's router splits on `/` before decoding, which is why a
    // repository name's `/` must arrive as `%252F`.
    let raw: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    let (project, repo_raw, rest) = match raw.as_slice() {
        [
            "api",
            "v2.0",
            "projects",
            project,
            "repositories",
            repo,
            "artifacts",
            rest @ ..,
        ] => (*project, *repo, rest),
        _ => {
            record(shared, format!("{method} {path}?{query}"));
            return errors(StatusCode::BAD_REQUEST, "BAD_REQUEST", "unknown request");
        }
    };
    // Harbor decodes the path once and splits it: a `%2F` sent once is a separator there.
    let once = decode(repo_raw).unwrap_or_default();
    let Some(repository) = decode(&once).filter(|_| !once.contains('/')) else {
        record(
            shared,
            format!("{method} {path}: the repository is not encoded twice"),
        );
        return errors(StatusCode::NOT_FOUND, "NOT_FOUND", "not found");
    };
    let repo = format!("{project}/{repository}");
    let Some(may_delete) = authorize(headers) else {
        return errors(StatusCode::UNAUTHORIZED, "UNAUTHORIZED", "unauthorized");
    };
    if method == Method::DELETE {
        let cookie = headers
            .get("cookie")
            .and_then(|v| v.to_str().ok())
            .is_some_and(|c| c.contains("sid="));
        if cookie {
            record(shared, format!("DELETE {path} with the session cookie"));
            return errors(StatusCode::FORBIDDEN, "FORBIDDEN", "CSRF token invalid");
        }
    }
    match (method, rest) {
        (&Method::GET, []) => list(shared, project, repo_raw, &repo, query),
        (&Method::DELETE, [reference]) => {
            shared
                .counters
                .artifact_deletes
                .fetch_add(1, Ordering::SeqCst);
            if let Some(refused) = refuse_delete(shared, may_delete) {
                return refused;
            }
            let reference = decode(reference).unwrap_or_default();
            match digest_of(shared, &repo, &reference) {
                Some(digest) => {
                    delete_artifact(shared, &repo, &digest).await;
                    StatusCode::OK.into_response()
                }
                None => errors(
                    StatusCode::NOT_FOUND,
                    "NOT_FOUND",
                    &format!("artifact {repo}@{reference} not found"),
                ),
            }
        }
        (&Method::DELETE, [reference, "tags", tag]) => {
            shared.counters.tag_deletes.fetch_add(1, Ordering::SeqCst);
            if let Some(refused) = refuse_delete(shared, may_delete) {
                return refused;
            }
            let reference = decode(reference).unwrap_or_default();
            let tag = decode(tag).unwrap_or_default();
            let on_it = digest_of(shared, &repo, &reference).is_some_and(|d| {
                shared
                    .registry
                    .tags(&repo)
                    .iter()
                    .any(|t| t.name == tag && t.digest == d)
            });
            if on_it && shared.registry.remove_tag(&repo, &tag) {
                StatusCode::OK.into_response()
            } else {
                errors(
                    StatusCode::NOT_FOUND,
                    "NOT_FOUND",
                    &format!("tag {tag} of artifact {repo}@{reference} not found"),
                )
            }
        }
        _ => {
            record(shared, format!("{method} {path}?{query}"));
            errors(StatusCode::BAD_REQUEST, "BAD_REQUEST", "unknown request")
        }
    }
}

/// The 403 of an account that may not delete, or the 412 of a project policy.
fn refuse_delete(shared: &Shared, may_delete: bool) -> Option<Response> {
    if !may_delete {
        shared
            .counters
            .refused_deletes
            .fetch_add(1, Ordering::SeqCst);
        return Some(errors(StatusCode::FORBIDDEN, "FORBIDDEN", "forbidden"));
    }
    let pending = shared
        .policy_violations
        .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
        .is_ok();
    if pending {
        shared
            .counters
            .policy_refusals
            .fetch_add(1, Ordering::SeqCst);
        return Some(errors(
            StatusCode::PRECONDITION_FAILED,
            "PROJECTPOLICYVIOLATION",
            "the artifact is being scanned",
        ));
    }
    None
}

/// The digest a reference (digest or tag) names in `repo`.
fn digest_of(shared: &Shared, repo: &str, reference: &str) -> Option<String> {
    if reference.starts_with("sha256:") {
        return shared
            .registry
            .manifests(repo)
            .into_iter()
            .any(|m| m.digest == reference)
            .then(|| reference.to_string());
    }
    shared
        .registry
        .tags(repo)
        .into_iter()
        .find(|t| t.name == reference)
        .map(|t| t.digest)
}

fn children(shared: &Shared, digest: &str) -> Vec<String> {
    let bytes = shared.registry.blob(digest).unwrap_or_default();
    let manifest: serde_json::Value = serde_json::from_slice(&bytes).unwrap_or(json!({}));
    manifest["manifests"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|c| c["digest"].as_str().map(str::to_string))
        .collect()
}

/// Harbor's deep delete: the artifact and its tags, its accessories, and its children that
/// nothing else holds.
async fn delete_artifact(shared: &Shared, repo: &str, digest: &str) {
    let accessory = format!("{}.", digest.replacen(':', "-", 1));
    let accessories: Vec<String> = shared
        .registry
        .tags(repo)
        .into_iter()
        .filter(|t| t.name.starts_with(&accessory))
        .map(|t| t.digest)
        .collect();
    let kids = children(shared, digest);
    shared.registry.delete_manifest(repo, digest).await;
    for a in &accessories {
        shared.registry.delete_manifest(repo, a).await;
    }
    let tagged: HashSet<String> = shared
        .registry
        .tags(repo)
        .into_iter()
        .map(|t| t.digest)
        .collect();
    let referenced: HashSet<String> = shared
        .registry
        .manifests(repo)
        .iter()
        .flat_map(|m| children(shared, &m.digest))
        .collect();
    for kid in kids {
        if !tagged.contains(&kid) && !referenced.contains(&kid) {
            shared.registry.delete_manifest(repo, &kid).await;
        }
    }
}

fn list(shared: &Shared, project: &str, repo_raw: &str, repo: &str, query: &str) -> Response {
    let mut page = 1usize;
    let mut size = 10usize;
    for (k, v) in url::form_urlencoded::parse(query.as_bytes()) {
        let n = v.parse::<usize>().ok().filter(|n| *n > 0);
        match (k.as_ref(), n) {
            ("page", Some(n)) => page = n,
            ("page_size", Some(n)) if n <= 100 => size = n,
            ("with_tag", _) if v == "true" => {}
            _ => {
                record(shared, format!("list with query {query}"));
                return errors(StatusCode::BAD_REQUEST, "BAD_REQUEST", "invalid query");
            }
        }
    }
    if !shared.registry.repositories().iter().any(|r| r == repo) {
        return errors(
            StatusCode::NOT_FOUND,
            "NOT_FOUND",
            &format!("repository {repo} not found"),
        );
    }
    let tags = shared.registry.tags(repo);
    let mut artifacts = shared.registry.manifests(repo);
    // Harbor's default order: newest first.
    artifacts.reverse();
    let total = artifacts.len();
    let start = (page - 1) * size;
    let body: Vec<serde_json::Value> = artifacts
        .iter()
        .skip(start)
        .take(size)
        .map(|m| {
            let bytes = shared.registry.blob(&m.digest).unwrap_or_default();
            let manifest: serde_json::Value = serde_json::from_slice(&bytes).unwrap_or(json!({}));
            let on_it: Vec<serde_json::Value> = tags
                .iter()
                .filter(|t| t.digest == m.digest)
                .map(|t| {
                    json!({"id": 1, "repository_id": 1, "artifact_id": 1, "name": t.name,
                           "push_time": rfc3339(t.pushed), "pull_time": "0001-01-01T00:00:00.000Z",
                           "immutable": false})
                })
                .collect();
            let references: Vec<serde_json::Value> = children(shared, &m.digest)
                .into_iter()
                .map(|c| json!({"parent_id": 1, "child_id": 2, "child_digest": c}))
                .collect();
            json!({
                "id": 1, "type": "IMAGE",
                "media_type": "application/vnd.oci.image.config.v1+json",
                "manifest_media_type": manifest["mediaType"],
                "project_id": 1, "repository_id": 1, "repository_name": repo,
                "digest": m.digest, "size": bytes.len(),
                "push_time": rfc3339(m.pushed), "pull_time": "0001-01-01T00:00:00.000Z",
                "references": if references.is_empty() { serde_json::Value::Null } else { json!(references) },
                "tags": if on_it.is_empty() { serde_json::Value::Null } else { json!(on_it) },
                "accessories": null, "labels": null, "extra_attrs": {}, "annotations": null,
            })
        })
        .collect();
    shared.counters.list_pages.fetch_add(1, Ordering::SeqCst);
    let link = |p: usize, rel: &str| {
        format!(
            "</api/v2.0/projects/{project}/repositories/{repo_raw}/artifacts?page={p}&page_size={size}&with_tag=true>; rel=\"{rel}\""
        )
    };
    let mut links = Vec::new();
    if page > 1 {
        links.push(link(page - 1, "prev"));
    }
    if start + size < total {
        links.push(link(page + 1, "next"));
    }
    let mut response = axum::Json(body).into_response();
    let h = response.headers_mut();
    h.insert("x-total-count", total.to_string().parse().unwrap());
    if !links.is_empty() {
        h.insert("link", links.join(" , ").parse().unwrap());
    }
    response
}

/// The registry side: forwarded, except a manifest delete by tag.
async fn registry_side(shared: &Shared, request: Request) -> Response {
    let method = request.method().clone();
    let path = request.uri().path().to_string();
    if !path.starts_with("/v2/") {
        record(shared, format!("{method} {path}"));
        return errors(StatusCode::BAD_REQUEST, "BAD_REQUEST", "unknown request");
    }
    if method != Method::GET && method != Method::HEAD {
        shared
            .counters
            .registry_mutating
            .fetch_add(1, Ordering::SeqCst);
    }
    if let Some((_, reference)) = path.rsplit_once("/manifests/") {
        if method == Method::GET || method == Method::HEAD {
            shared.counters.manifest_gets.fetch_add(1, Ordering::SeqCst);
        }
        if method == Method::DELETE && !reference.starts_with("sha256:") {
            return errors(
                StatusCode::BAD_REQUEST,
                "UNSUPPORTED",
                "The operation is unsupported.",
            );
        }
    }
    let public = shared.public.get().expect("set at start");
    forward(shared.registry.url(), public, request).await
}
