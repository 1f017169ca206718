//! A stateful fake of GitLab's REST API (container registry and merge-request routes) in
//! front of the real Distribution registry, written from `docs/registry-apis.md` §4:
//!
//! - `/api/v4/projects/:id…`: `:id` is the numeric id or the `%2F`-encoded path (a raw `/` is a
//!   404, and recorded as unexpected); `PRIVATE-TOKEN` or `JOB-TOKEN` (the job token in
//!   `PRIVATE-TOKEN` is a 401, as is a missing or wrong token).
//! - `GET /projects/:id`, `GET …/registry/repositories` (`id`, `name` "" for the root image,
//!   `path`, `location`), `GET …/repositories/:rid/tags` (names only), `GET …/tags/:tag`
//!   (digest, `revision` = config digest hex, `created_at` from the config's `created`),
//!   `DELETE …/tags/:tag` → 200 with an empty body (the tag alone goes: the registry's storage is
//!   changed through [`RegistryState::remove_tag`]); 403 for a protected tag, and for every
//!   delete with the job token (the usual CI_JOB_TOKEN case); 404 for a missing tag.
//! - `GET /projects/:id/merge_requests?state=opened` (the forge adapter's question): the given
//!   open merge requests, usually none.
//! - Offset pagination everywhere: default 20, `per_page` capped at 100, `X-Page`,
//!   `X-Per-Page`, `X-Total`, `X-Total-Pages`, `X-Next-Page` (empty on the last page),
//!   `X-Prev-Page` and `Link`; a parameter the route does not take is unexpected.
//! - `/v2/…` is forwarded to the registry (GitLab's registry deletes by digest).
//!
//! Anything else is answered 400 and recorded; [`GitLabFake::assert_no_unexpected`] fails on it.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use axum::extract::{Request, State};
use axum::response::{IntoResponse, Response};
use http::{HeaderMap, HeaderValue, Method, StatusCode};
use serde_json::json;

use super::platform::{PlatformFake, RegistryState, forward};
use super::{Server, TestRegistry, spawn_server};

/// The token the fake accepts as `PRIVATE-TOKEN` (recognisable, for leak checks).
pub const PRIVATE_TOKEN: &str = "glpat-GitLabFakeSecret-7731";
/// The token the fake accepts as `JOB-TOKEN`.
pub const JOB_TOKEN: &str = "glcbt-GitLabFakeJobSecret-5512";
/// The project's path.
pub const PROJECT_PATH: &str = "group/project";
/// The project's numeric id.
pub const PROJECT_ID: u64 = 7311;

/// Requests per route class.
#[derive(Default)]
struct Counters {
    projects: AtomicUsize,
    repository_pages: AtomicUsize,
    tag_pages: AtomicUsize,
    tag_details: AtomicUsize,
    tag_deletes: AtomicUsize,
    merge_request_pages: AtomicUsize,
    registry_manifest_gets: AtomicUsize,
    registry_mutating: AtomicUsize,
}

struct FakeState {
    registry: RegistryState,
    public: Mutex<String>,
    /// The image path of the scenario (`--repo`).
    image: String,
    protected: Mutex<BTreeSet<String>>,
    /// Repository ids, given on first sight.
    ids: Mutex<BTreeMap<String, u64>>,
    counters: Counters,
    unexpected: Mutex<Vec<String>>,
    /// Registry-side DELETEs refused (credentials without the delete scope).
    deny_registry_delete: AtomicBool,
}

/// The fake; stops when dropped.
pub struct GitLabFake {
    server: Server,
    state: Arc<FakeState>,
}

impl GitLabFake {
    /// A fake in front of `registry`, serving project [`PROJECT_PATH`] with the image at
    /// `image` (`group/project/app`, or `group/project` for the root image).
    pub fn start(registry: &TestRegistry, image: &str) -> GitLabFake {
        let state = Arc::new(FakeState {
            registry: RegistryState::of(registry),
            public: Mutex::new(String::new()),
            image: image.to_string(),
            protected: Mutex::new(BTreeSet::new()),
            ids: Mutex::new(BTreeMap::new()),
            counters: Counters::default(),
            unexpected: Mutex::new(Vec::new()),
            deny_registry_delete: AtomicBool::new(false),
        });
        let router = axum::Router::new()
            .fallback(handle)
            .with_state(state.clone());
        let server = spawn_server(router);
        *state.public.lock().unwrap() = server.url();
        GitLabFake { server, state }
    }

    /// `http://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        self.server.url()
    }

    /// `127.0.0.1:PORT`.
    pub fn host(&self) -> String {
        self.server.addr().to_string()
    }

    /// `CI_API_V4_URL`.
    pub fn api_url(&self) -> String {
        format!("{}/api/v4", self.url())
    }

    /// Makes a tag protected: deleting it is 403.
    pub fn protect(&self, tag: &str) {
        self.state.protected.lock().unwrap().insert(tag.to_string());
    }

    /// Refuses registry-side DELETEs from now on.
    pub fn deny_registry_delete(&self) {
        self.state
            .deny_registry_delete
            .store(true, Ordering::SeqCst);
    }

    /// Variables for a job that runs with only the CI job token.
    pub fn job_token_env(&self) -> Vec<(String, String)> {
        vec![
            ("CI_API_V4_URL".into(), self.api_url()),
            ("CI_PROJECT_PATH".into(), PROJECT_PATH.into()),
            ("CI_JOB_TOKEN".into(), JOB_TOKEN.into()),
        ]
    }

    /// Project lookups (`GET /projects/:id`).
    pub fn project_lookups(&self) -> usize {
        self.state.counters.projects.load(Ordering::SeqCst)
    }
    /// Pages of the registry repository list.
    pub fn repository_pages(&self) -> usize {
        self.state.counters.repository_pages.load(Ordering::SeqCst)
    }
    /// Pages of tag lists.
    pub fn list_pages(&self) -> usize {
        self.state.counters.tag_pages.load(Ordering::SeqCst)
    }
    /// Tag-detail calls.
    pub fn tag_detail_calls(&self) -> usize {
        self.state.counters.tag_details.load(Ordering::SeqCst)
    }
    /// Tag deletes asked for (answered or refused).
    pub fn deletes(&self) -> usize {
        self.state.counters.tag_deletes.load(Ordering::SeqCst)
    }
    /// Merge-request pages.
    pub fn merge_request_pages(&self) -> usize {
        self.state
            .counters
            .merge_request_pages
            .load(Ordering::SeqCst)
    }
    /// Registry manifest GETs and HEADs.
    pub fn registry_manifest_gets(&self) -> usize {
        self.state
            .counters
            .registry_manifest_gets
            .load(Ordering::SeqCst)
    }
    /// Registry-side PUT/POST/PATCH/DELETE.
    pub fn registry_mutating(&self) -> usize {
        self.state.counters.registry_mutating.load(Ordering::SeqCst)
    }
    /// Requests the real API would not know.
    pub fn unexpected(&self) -> Vec<String> {
        self.state.unexpected.lock().unwrap().clone()
    }
}

impl PlatformFake for GitLabFake {
    fn kind(&self) -> &'static str {
        "gitlab"
    }
    fn path(&self) -> String {
        self.state.image.clone()
    }
    fn repo_arg(&self) -> String {
        format!("{}/{}", self.host(), self.state.image)
    }
    fn env(&self) -> Vec<(String, String)> {
        vec![
            ("CI_API_V4_URL".into(), self.api_url()),
            ("CI_PROJECT_PATH".into(), PROJECT_PATH.into()),
            ("BERTH_GITLAB_TOKEN".into(), PRIVATE_TOKEN.into()),
        ]
    }
    fn api_requests(&self) -> std::collections::BTreeMap<String, usize> {
        [
            ("API project lookup", self.project_lookups()),
            ("API repositories page", self.repository_pages()),
            ("API tags page", self.list_pages()),
            ("API tag details", self.tag_detail_calls()),
            ("API tag DELETE", self.deletes()),
            ("API merge requests page", self.merge_request_pages()),
        ]
        .into_iter()
        .filter(|(_, n)| *n > 0)
        .map(|(k, n)| (k.to_string(), n))
        .collect()
    }
    fn mutating_requests(&self) -> usize {
        self.deletes() + self.registry_mutating()
    }
    fn assert_no_unexpected(&self) {
        let unexpected = self.unexpected();
        assert!(
            unexpected.is_empty(),
            "requests GitLab would not know:\n{}",
            unexpected.join("\n")
        );
    }
}

/// Status, extra headers and body of an API answer.
struct Answer {
    status: u16,
    headers: Vec<(&'static str, String)>,
    body: Option<serde_json::Value>,
}

impl Answer {
    fn json(status: u16, body: serde_json::Value) -> Answer {
        Answer {
            status,
            headers: Vec::new(),
            body: Some(body),
        }
    }
    fn message(status: u16, message: &str) -> Answer {
        Answer::json(status, json!({ "message": message }))
    }
    fn empty(status: u16) -> Answer {
        Answer {
            status,
            headers: Vec::new(),
            body: None,
        }
    }
}

fn unexpected(state: &FakeState, method: &Method, uri: &http::Uri, why: &str) -> Answer {
    state
        .unexpected
        .lock()
        .unwrap()
        .push(format!("{method} {uri}: {why}"));
    Answer::message(400, &format!("harness: unexpected request: {why}"))
}

async fn handle(State(state): State<Arc<FakeState>>, request: Request) -> Response {
    let path = request.uri().path().to_string();
    if path == "/v2" || path.starts_with("/v2/") {
        let method = request.method().clone();
        if method == Method::DELETE && state.deny_registry_delete.load(Ordering::SeqCst) {
            state
                .counters
                .registry_mutating
                .fetch_add(1, Ordering::SeqCst);
            let body = json!({"errors": [{"code": "DENIED", "message": "requested access to the resource is denied"}]});
            return (StatusCode::FORBIDDEN, axum::Json(body)).into_response();
        }
        if matches!(method, Method::GET | Method::HEAD) && path.contains("/manifests/") {
            state
                .counters
                .registry_manifest_gets
                .fetch_add(1, Ordering::SeqCst);
        }
        if !matches!(method, Method::GET | Method::HEAD) {
            state
                .counters
                .registry_mutating
                .fetch_add(1, Ordering::SeqCst);
        }
        let public = state.public.lock().unwrap().clone();
        return forward(state.registry.url(), &public, request).await;
    }
    let method = request.method().clone();
    let uri = request.uri().clone();
    let answer = api(&state, &method, &uri, request.headers());
    let mut response = match answer.body {
        Some(body) => (
            StatusCode::from_u16(answer.status).unwrap(),
            axum::Json(body),
        )
            .into_response(),
        None => StatusCode::from_u16(answer.status).unwrap().into_response(),
    };
    for (name, value) in answer.headers {
        response
            .headers_mut()
            .append(name, HeaderValue::from_str(&value).unwrap());
    }
    response
}

/// Which token the request carries, if it is one the fake accepts; the 401 otherwise.
fn authenticate(headers: &HeaderMap) -> Result<bool, Answer> {
    let get = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    match (get("private-token"), get("job-token")) {
        (Some(PRIVATE_TOKEN), None) => Ok(false),
        (None, Some(JOB_TOKEN)) => Ok(true),
        _ => Err(Answer::message(401, "401 Unauthorized")),
    }
}

fn query(uri: &http::Uri) -> Vec<(String, String)> {
    url::form_urlencoded::parse(uri.query().unwrap_or("").as_bytes())
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect()
}

/// One page of `items` with GitLab's offset pagination headers; a parameter outside
/// `allowed` (besides `page`, `per_page`) is unexpected.
fn paged(
    state: &FakeState,
    method: &Method,
    uri: &http::Uri,
    headers: &HeaderMap,
    allowed: &[&str],
    items: Vec<serde_json::Value>,
) -> Answer {
    let pairs = query(uri);
    if let Some((k, _)) = pairs
        .iter()
        .find(|(k, _)| k != "page" && k != "per_page" && !allowed.contains(&k.as_str()))
    {
        return unexpected(state, method, uri, &format!("unknown parameter `{k}`"));
    }
    let number = |name: &str, default: usize| -> Option<usize> {
        match pairs.iter().find(|(k, _)| k == name) {
            None => Some(default),
            Some((_, v)) => v.parse().ok(),
        }
    };
    let (Some(page), Some(per_page)) = (number("page", 1), number("per_page", 20)) else {
        return Answer::json(400, json!({"error": "page is invalid"}));
    };
    let (page, per_page) = (page.max(1), per_page.clamp(1, 100));
    let total = items.len();
    let total_pages = total.div_ceil(per_page).max(1);
    let start = ((page - 1) * per_page).min(total);
    let end = (start + per_page).min(total);
    let host = headers
        .get("host")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("127.0.0.1");
    let link = |p: usize| {
        let mut q = url::form_urlencoded::Serializer::new(String::new());
        for (k, v) in pairs.iter().filter(|(k, _)| k != "page") {
            q.append_pair(k, v);
        }
        q.append_pair("page", &p.to_string());
        format!("<http://{host}{}?{}>", uri.path(), q.finish())
    };
    let next = (page < total_pages).then_some(page + 1);
    let mut links = Vec::new();
    if let Some(n) = next {
        links.push(format!("{}; rel=\"next\"", link(n)));
    }
    if page > 1 {
        links.push(format!("{}; rel=\"prev\"", link(page - 1)));
    }
    links.push(format!("{}; rel=\"first\"", link(1)));
    links.push(format!("{}; rel=\"last\"", link(total_pages)));
    let mut answer = Answer::json(200, serde_json::Value::Array(items[start..end].to_vec()));
    answer.headers.extend([
        ("x-page", page.to_string()),
        ("x-per-page", per_page.to_string()),
        ("x-total", total.to_string()),
        ("x-total-pages", total_pages.to_string()),
        (
            "x-next-page",
            next.map(|n| n.to_string()).unwrap_or_default(),
        ),
        (
            "x-prev-page",
            if page > 1 {
                (page - 1).to_string()
            } else {
                String::new()
            },
        ),
        ("link", links.join(", ")),
    ]);
    answer
}

fn api(state: &FakeState, method: &Method, uri: &http::Uri, headers: &HeaderMap) -> Answer {
    let Some(rest) = uri.path().strip_prefix("/api/v4/projects/") else {
        return unexpected(state, method, uri, "not under /api/v4/projects/");
    };
    if rest == PROJECT_PATH || rest.starts_with(&format!("{PROJECT_PATH}/")) {
        unexpected(state, method, uri, "raw `/` in the project id");
        return Answer::message(404, "404 Not Found");
    }
    let mut segments = rest.split('/');
    let id = segments.next().unwrap_or_default();
    let tail: Vec<&str> = segments.collect();
    let is_job = match authenticate(headers) {
        Ok(job) => job,
        Err(answer) => return answer,
    };
    let decoded = id.replace("%2F", "/").replace("%2f", "/");
    if id.contains('%') && decoded.contains('%') {
        return unexpected(
            state,
            method,
            uri,
            "project id encoded other than `/` → %2F",
        );
    }
    let known = decoded == PROJECT_PATH || decoded == PROJECT_ID.to_string();
    match (method, tail.as_slice()) {
        (&Method::GET, []) => {
            state.counters.projects.fetch_add(1, Ordering::SeqCst);
            if !uri.query().unwrap_or("").is_empty() {
                return unexpected(state, method, uri, "parameters on a project lookup");
            }
            if !known {
                return Answer::message(404, "404 Project Not Found");
            }
            Answer::json(
                200,
                json!({"id": PROJECT_ID, "path_with_namespace": PROJECT_PATH, "path": "project",
                       "name": "project", "default_branch": "main"}),
            )
        }
        _ if !known => Answer::message(404, "404 Project Not Found"),
        (&Method::GET, ["merge_requests"]) => {
            state
                .counters
                .merge_request_pages
                .fetch_add(1, Ordering::SeqCst);
            if !query(uri)
                .iter()
                .any(|(k, v)| k == "state" && v == "opened")
            {
                return unexpected(state, method, uri, "state is not opened");
            }
            paged(state, method, uri, headers, &["state"], Vec::new())
        }
        (&Method::GET, ["registry", "repositories"]) => {
            state
                .counters
                .repository_pages
                .fetch_add(1, Ordering::SeqCst);
            let repos = repositories(state);
            let host = public_host(state);
            let items = repos
                .iter()
                .map(|(path, id)| {
                    let name = path
                        .strip_prefix(PROJECT_PATH)
                        .unwrap_or_default()
                        .trim_start_matches('/');
                    json!({"id": id, "name": name, "path": path, "project_id": PROJECT_ID,
                           "location": format!("{host}/{path}"), "created_at": "2024-01-01T00:00:00.000+00:00",
                           "cleanup_policy_started_at": null, "status": null})
                })
                .collect();
            paged(state, method, uri, headers, &["tags", "tags_count"], items)
        }
        (_, ["registry", "repositories", rid, "tags", rest @ ..]) => {
            let Some(path) = repositories(state)
                .into_iter()
                .find(|(_, id)| id.to_string() == *rid)
                .map(|(path, _)| path)
            else {
                return Answer::message(404, "404 Repository Not Found");
            };
            tags_route(state, method, uri, headers, &path, rest, is_job)
        }
        _ => unexpected(state, method, uri, "no such route"),
    }
}

fn public_host(state: &FakeState) -> String {
    state
        .public
        .lock()
        .unwrap()
        .trim_start_matches("http://")
        .to_string()
}

/// The project's registry repositories with their ids.
fn repositories(state: &FakeState) -> Vec<(String, u64)> {
    let mut ids = state.ids.lock().unwrap();
    state
        .registry
        .repositories()
        .into_iter()
        .filter(|r| r == PROJECT_PATH || r.starts_with(&format!("{PROJECT_PATH}/")))
        .map(|r| {
            let next = 100 + ids.len() as u64;
            let id = *ids.entry(r.clone()).or_insert(next);
            (r, id)
        })
        .collect()
}

fn tags_route(
    state: &FakeState,
    method: &Method,
    uri: &http::Uri,
    headers: &HeaderMap,
    repo: &str,
    rest: &[&str],
    is_job: bool,
) -> Answer {
    let host = public_host(state);
    match (method, rest) {
        (&Method::GET, []) => {
            state.counters.tag_pages.fetch_add(1, Ordering::SeqCst);
            let items = state
                .registry
                .tags(repo)
                .into_iter()
                .map(|t| {
                    json!({"name": t.name, "path": format!("{repo}:{}", t.name),
                           "location": format!("{host}/{repo}:{}", t.name)})
                })
                .collect();
            paged(state, method, uri, headers, &[], items)
        }
        (&Method::GET, [tag]) => {
            state.counters.tag_details.fetch_add(1, Ordering::SeqCst);
            if uri.query().is_some() {
                return unexpected(state, method, uri, "parameters on tag details");
            }
            let Some(stored) = state
                .registry
                .tags(repo)
                .into_iter()
                .find(|t| t.name == *tag)
            else {
                return Answer::message(404, "404 Tag Not Found");
            };
            let (revision, created_at) = config_facts(state, &stored.digest);
            Answer::json(
                200,
                json!({
                    "name": stored.name,
                    "path": format!("{repo}:{}", stored.name),
                    "location": format!("{host}/{repo}:{}", stored.name),
                    "revision": revision,
                    "short_revision": revision.as_deref().map(|r| r[..9].to_string()),
                    "digest": stored.digest,
                    "created_at": created_at,
                    "total_size": 1234,
                }),
            )
        }
        (&Method::DELETE, [tag]) => {
            state.counters.tag_deletes.fetch_add(1, Ordering::SeqCst);
            if uri.query().is_some() {
                return unexpected(state, method, uri, "parameters on a tag delete");
            }
            if is_job {
                return Answer::message(403, "403 Forbidden");
            }
            if state.protected.lock().unwrap().contains(*tag) {
                return Answer::message(403, "403 Forbidden - Protected tag rule");
            }
            if state.registry.remove_tag(repo, tag) {
                Answer::empty(200)
            } else {
                Answer::message(404, "404 Tag Not Found")
            }
        }
        _ => unexpected(state, method, uri, "no such tag route"),
    }
}

/// The config digest hex and the config's `created` (as GitLab formats it), where the
/// manifest has a config (an index has none).
fn config_facts(state: &FakeState, digest: &str) -> (Option<String>, Option<String>) {
    let Some(manifest) = state
        .registry
        .blob(digest)
        .and_then(|b| serde_json::from_slice::<serde_json::Value>(&b).ok())
    else {
        return (None, None);
    };
    let Some(config) = manifest["config"]["digest"].as_str() else {
        return (None, None);
    };
    let revision = config.trim_start_matches("sha256:").to_string();
    let created = state
        .registry
        .blob(config)
        .and_then(|b| serde_json::from_slice::<serde_json::Value>(&b).ok())
        .and_then(|c| c["created"].as_str().map(str::to_string))
        .and_then(|c| chrono::DateTime::parse_from_rfc3339(&c).ok())
        .map(|c| {
            c.with_timezone(&chrono::Utc)
                .format("%Y-%m-%dT%H:%M:%S%.3f+00:00")
                .to_string()
        });
    (Some(revision), created)
}
