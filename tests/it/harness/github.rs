//! A stateful fake of GitHub Packages (ghcr.io and its REST API, and the legacy
//! docker.pkg.github.com GraphQL API), written from `docs/registry-apis.md` §3, standing in
//! front of the real Distribution registry and sharing its state ([`RegistryState`]).
//!
//! - `GET /users/{owner}` → `{"login","type"}`; the packages routes must use `/orgs/` for an
//!   organization and `/users/` for a user, else 404 "Package not found.".
//! - `GET /{orgs|users}/{owner}/packages/container/{package}/versions?per_page=&page=`: one
//!   version per manifest revision (tagged or not) with a stable integer id, `name` = digest,
//!   `created_at` = the revision's mtime, `updated_at` = its newest tag's, tags in
//!   `metadata.container.tags`; newest first, 30 a page by default, at most 100, absolute
//!   `Link` (`next`, `last`, `first`, `prev`). `{package}` is one segment (`a%2Fb`).
//! - `DELETE …/versions/{id}` → deletes the manifest through the registry (which takes its
//!   tags, as ghcr does) → 204; 400 when it is the last tagged version; 403 "Resource not
//!   accessible by integration" for a token that may not delete.
//! - Every REST call must carry `Authorization: Bearer|token <token>`, `Accept:
//!   application/vnd.github+json`, `X-GitHub-Api-Version: 2022-11-28` and a `User-Agent`.
//! - `/v2/…`: DELETE → 405 `UNSUPPORTED` (ghcr refuses every registry delete); anything else
//!   is forwarded to the registry.
//! - `POST /graphql` (legacy): the `repository.packages.versions` query (preview `Accept:
//!   application/vnd.github.packages-preview+json`), one version per tag plus the legacy
//!   `docker-base-layer` version, 100 a page by cursor; `deletePackageVersion` (preview
//!   `application/vnd.github.package-deletes-preview+json`) removes that tag only; a public
//!   package's versions cannot be deleted.
//!
//! Anything else is answered 400 and recorded in [`GitHubFake::unexpected`].

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::SystemTime;

use axum::extract::{Request, State};
use axum::http::{HeaderMap, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, SecondsFormat, Utc};
use serde_json::{Value, json};

use super::platform::{PlatformFake, RegistryState, forward};
use super::{Server, TestRegistry, spawn_server};

/// The token the fake accepts, recognisable in output.
pub const TOKEN: &str = "ghp_berthFakeGitHubTokenDoNotPrint0123456789";

/// What the token may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenMode {
    /// Lists and deletes (a GITHUB_TOKEN with Admin on the package: no scopes header).
    Delete,
    /// A GITHUB_TOKEN without Admin on the package: lists, and every delete answers 403
    /// "Resource not accessible by integration".
    Integration,
    /// A classic personal access token with `read:packages` only: `x-oauth-scopes` says so,
    /// and deletes answer 403.
    ReadOnlyClassic,
}

/// Which API berth is meant to use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Api {
    /// ghcr.io's REST packages API.
    Rest,
    /// The legacy GraphQL packages API.
    Graphql,
}

/// A fault the next API requests answer with.
#[derive(Debug, Clone)]
pub enum Fault {
    /// 403 with `x-ratelimit-remaining: 0` and a reset one second ahead.
    PrimaryRateLimit,
    /// 403 "secondary rate limit" with `retry-after: 1`.
    SecondaryRateLimit,
}

#[derive(Default)]
struct Counters {
    list_pages: AtomicUsize,
    owner_lookups: AtomicUsize,
    deletes: AtomicUsize,
    manifest_gets: AtomicUsize,
    mutating: AtomicUsize,
    graphql_queries: AtomicUsize,
    graphql_mutations: AtomicUsize,
}

struct FakeState {
    registry: RegistryState,
    public: OnceLock<String>,
    /// The API's path prefix (`/api/v3` on GitHub Enterprise Server), empty on github.com.
    prefix: String,
    owner: String,
    organization: bool,
    api: Api,
    mode: Mutex<TokenMode>,
    public_package: Mutex<bool>,
    ids: Mutex<HashMap<(String, String), u64>>,
    unexpected: Mutex<Vec<String>>,
    faults: Mutex<VecDeque<Fault>>,
    counters: Counters,
}

/// A running GitHub Packages fake.
pub struct GitHubFake {
    server: Server,
    state: Arc<FakeState>,
    path: String,
}

impl GitHubFake {
    /// A fake for the REST API, serving `path` (`OWNER/PACKAGE…`) of `registry`; the owner is
    /// an organization or a user.
    pub fn rest(registry: &TestRegistry, path: &str, organization: bool) -> GitHubFake {
        Self::start(registry, path, organization, Api::Rest, "")
    }

    /// [`GitHubFake::rest`] as GitHub Enterprise Server serves it, below `/api/v3`.
    pub fn enterprise(registry: &TestRegistry, path: &str, organization: bool) -> GitHubFake {
        Self::start(registry, path, organization, Api::Rest, "/api/v3")
    }

    /// A fake of the legacy GraphQL API, serving `path` (`OWNER/REPO/IMAGE`) of `registry`.
    pub fn graphql(registry: &TestRegistry, path: &str) -> GitHubFake {
        Self::start(registry, path, true, Api::Graphql, "")
    }

    fn start(
        registry: &TestRegistry,
        path: &str,
        organization: bool,
        api: Api,
        prefix: &str,
    ) -> GitHubFake {
        let state = Arc::new(FakeState {
            registry: RegistryState::of(registry),
            public: OnceLock::new(),
            prefix: prefix.to_string(),
            owner: path.split('/').next().expect("an owner").to_string(),
            organization,
            api,
            mode: Mutex::new(TokenMode::Delete),
            public_package: Mutex::new(false),
            ids: Mutex::new(HashMap::new()),
            unexpected: Mutex::new(Vec::new()),
            faults: Mutex::new(VecDeque::new()),
            counters: Counters::default(),
        });
        let router = axum::Router::new()
            .fallback(handle)
            .with_state(state.clone());
        let server = spawn_server(router);
        state.public.set(server.url()).expect("set once");
        GitHubFake {
            server,
            state,
            path: path.to_string(),
        }
    }

    /// `http://127.0.0.1:PORT[/api/v3]` (`GITHUB_API_URL`).
    pub fn url(&self) -> String {
        format!("{}{}", self.server.url(), self.state.prefix)
    }

    /// `127.0.0.1:PORT`, the registry host berth is given.
    pub fn host(&self) -> String {
        self.server.addr().to_string()
    }

    /// Changes what the token may do.
    pub fn set_mode(&self, mode: TokenMode) {
        *self.state.mode.lock().unwrap() = mode;
    }

    /// Makes the (legacy) package public: its versions cannot be deleted.
    pub fn set_public(&self, public: bool) {
        *self.state.public_package.lock().unwrap() = public;
    }

    /// The next API requests answer these faults, in order.
    pub fn fail_next(&self, faults: Vec<Fault>) {
        self.state.faults.lock().unwrap().extend(faults);
    }

    /// Version-list pages served.
    pub fn list_pages(&self) -> usize {
        self.state.counters.list_pages.load(Ordering::SeqCst)
    }

    /// `GET /users/{owner}` calls.
    pub fn owner_lookups(&self) -> usize {
        self.state.counters.owner_lookups.load(Ordering::SeqCst)
    }

    /// `DELETE …/versions/{id}` calls (answered or refused).
    pub fn deletes(&self) -> usize {
        self.state.counters.deletes.load(Ordering::SeqCst)
    }

    /// Manifest GETs and HEADs berth sent through the fake's registry side.
    pub fn manifest_gets(&self) -> usize {
        self.state.counters.manifest_gets.load(Ordering::SeqCst)
    }

    /// GraphQL queries (listing pages) served.
    pub fn graphql_queries(&self) -> usize {
        self.state.counters.graphql_queries.load(Ordering::SeqCst)
    }

    /// GraphQL `deletePackageVersion` mutations received.
    pub fn graphql_mutations(&self) -> usize {
        self.state.counters.graphql_mutations.load(Ordering::SeqCst)
    }

    /// Requests the real service would not have been sent, with the reason.
    pub fn unexpected(&self) -> Vec<String> {
        self.state.unexpected.lock().unwrap().clone()
    }
}

impl PlatformFake for GitHubFake {
    fn kind(&self) -> &'static str {
        "github"
    }

    fn path(&self) -> String {
        self.path.clone()
    }

    fn repo_arg(&self) -> String {
        format!("{}/{}", self.host(), self.path)
    }

    fn env(&self) -> Vec<(String, String)> {
        let mut env = vec![
            ("GITHUB_API_URL".to_string(), self.url()),
            (
                "GITHUB_GRAPHQL_URL".to_string(),
                format!("{}/graphql", self.url()),
            ),
            ("BERTH_GITHUB_TOKEN".to_string(), TOKEN.to_string()),
        ];
        if self.state.api == Api::Graphql {
            env.push(("BERTH_GITHUB_PACKAGES_API".into(), "graphql".into()));
        }
        env
    }

    fn mutating_requests(&self) -> usize {
        self.state.counters.mutating.load(Ordering::SeqCst)
    }

    fn api_requests(&self) -> BTreeMap<String, usize> {
        [
            ("API owner lookup", self.owner_lookups()),
            ("API versions page", self.list_pages()),
            ("API version DELETE", self.deletes()),
            ("GraphQL query", self.graphql_queries()),
            ("GraphQL mutation", self.graphql_mutations()),
        ]
        .into_iter()
        .filter(|(_, n)| *n > 0)
        .map(|(k, n)| (k.to_string(), n))
        .collect()
    }

    fn assert_no_unexpected(&self) {
        let unexpected = self.unexpected();
        assert!(
            unexpected.is_empty(),
            "requests GitHub would not have been sent: {unexpected:#?}"
        );
    }
}

fn json_response(status: u16, headers: &[(&str, String)], body: Value) -> Response {
    let mut response = (
        StatusCode::from_u16(status).expect("a status"),
        [("content-type", "application/json; charset=utf-8")],
        body.to_string(),
    )
        .into_response();
    for (name, value) in headers {
        response.headers_mut().insert(
            axum::http::HeaderName::from_bytes(name.as_bytes()).expect("a header name"),
            value.parse().expect("a header value"),
        );
    }
    response
}

fn github_error(status: u16, message: &str) -> Response {
    json_response(
        status,
        &[],
        json!({
            "message": message,
            "documentation_url": "https://docs.github.com/rest/packages/packages",
            "status": status.to_string(),
        }),
    )
}

fn rfc3339(t: SystemTime) -> String {
    DateTime::<Utc>::from(t).to_rfc3339_opts(SecondsFormat::Secs, true)
}

impl FakeState {
    fn unexpected(&self, why: String) -> Response {
        self.unexpected.lock().unwrap().push(why.clone());
        github_error(400, &format!("fake: unexpected request: {why}"))
    }

    fn public(&self) -> &str {
        self.public.get().expect("the fake's URL")
    }

    fn mode(&self) -> TokenMode {
        *self.mode.lock().unwrap()
    }

    /// None when the headers are right; else the answer.
    fn check_headers(
        &self,
        headers: &HeaderMap,
        accept: &str,
        method: &Method,
        path: &str,
    ) -> Option<Response> {
        let get = |name: &str| {
            headers
                .get(name)
                .and_then(|v| v.to_str().ok())
                .unwrap_or("")
        };
        if get("user-agent").is_empty() {
            return Some(self.unexpected(format!("{method} {path} without a User-Agent")));
        }
        let auth = get("authorization");
        if auth != format!("Bearer {TOKEN}") && auth != format!("token {TOKEN}") {
            return Some(github_error(401, "Bad credentials"));
        }
        let accepts: Vec<&str> = headers
            .get_all("accept")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .collect();
        if accepts != [accept] {
            return Some(self.unexpected(format!(
                "{method} {path} with Accept {accepts:?}, not {accept}"
            )));
        }
        if self.api == Api::Rest && get("x-github-api-version") != "2022-11-28" {
            return Some(self.unexpected(format!(
                "{method} {path} without X-GitHub-Api-Version: 2022-11-28"
            )));
        }
        None
    }

    fn fault(&self) -> Option<Response> {
        let fault = self.faults.lock().unwrap().pop_front()?;
        let now = SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .unwrap()
            .as_secs();
        Some(match fault {
            Fault::PrimaryRateLimit => json_response(
                403,
                &[
                    ("x-ratelimit-limit", "5000".into()),
                    ("x-ratelimit-remaining", "0".into()),
                    ("x-ratelimit-used", "5000".into()),
                    ("x-ratelimit-reset", (now + 1).to_string()),
                    ("x-ratelimit-resource", "core".into()),
                ],
                json!({"message": "API rate limit exceeded for installation.", "documentation_url": "https://docs.github.com/rest/overview/resources-in-the-rest-api#rate-limiting"}),
            ),
            Fault::SecondaryRateLimit => json_response(
                403,
                &[("retry-after", "1".into())],
                json!({"message": "You have exceeded a secondary rate limit. Please wait a few minutes before you try again.", "documentation_url": "https://docs.github.com/rest/overview/rate-limits-for-the-rest-api#about-secondary-rate-limits"}),
            ),
        })
    }

    fn rate_headers(&self) -> Vec<(&'static str, String)> {
        let mut h = vec![
            ("x-ratelimit-limit", "5000".to_string()),
            ("x-ratelimit-remaining", "4999".to_string()),
        ];
        if self.mode() == TokenMode::ReadOnlyClassic {
            h.push(("x-oauth-scopes", "read:packages".to_string()));
        }
        h
    }

    /// Every version of `repo`, newest first: (id, digest, created, updated, tags).
    fn versions(&self, repo: &str) -> Vec<(u64, String, SystemTime, SystemTime, Vec<String>)> {
        let mut tags: BTreeMap<String, Vec<(String, SystemTime)>> = BTreeMap::new();
        for t in self.registry.tags(repo) {
            tags.entry(t.digest).or_default().push((t.name, t.pushed));
        }
        let mut ids = self.ids.lock().unwrap();
        let mut out = Vec::new();
        for m in self.registry.manifests(repo) {
            let next = ids.len() as u64 + 1_000_001;
            let id = *ids
                .entry((repo.to_string(), m.digest.clone()))
                .or_insert(next);
            let on = tags.get(&m.digest).cloned().unwrap_or_default();
            let updated = on
                .iter()
                .map(|(_, t)| *t)
                .max()
                .unwrap_or(m.pushed)
                .max(m.pushed);
            out.push((
                id,
                m.digest,
                m.pushed,
                updated,
                on.into_iter().map(|(n, _)| n).collect(),
            ));
        }
        out.sort_by(|a, b| b.2.cmp(&a.2).then(b.0.cmp(&a.0)));
        out
    }
}

async fn handle(State(state): State<Arc<FakeState>>, request: Request) -> Response {
    let method = request.method().clone();
    let path = request.uri().path().to_string();
    let query = request.uri().query().unwrap_or("").to_string();
    if path.starts_with("/v2/") {
        return registry_side(&state, request).await;
    }
    if let Some(f) = state.fault() {
        return f;
    }
    if path == "/graphql" && state.api == Api::Graphql {
        return graphql(&state, request).await;
    }
    if state.api != Api::Rest {
        return state.unexpected(format!("{method} {path}: a REST call for a legacy package"));
    }
    let Some(route) = path.strip_prefix(state.prefix.as_str()) else {
        return state.unexpected(format!("{method} {path}: outside the API prefix"));
    };
    if let Some(refused) = state.check_headers(
        request.headers(),
        "application/vnd.github+json",
        &method,
        &path,
    ) {
        return refused;
    }
    let segments: Vec<&str> = route.split('/').skip(1).collect();
    match (method.as_str(), segments.as_slice()) {
        ("GET", ["users", owner]) => {
            state.counters.owner_lookups.fetch_add(1, Ordering::SeqCst);
            if *owner != state.owner {
                return github_error(404, "Not Found");
            }
            let kind = if state.organization {
                "Organization"
            } else {
                "User"
            };
            json_response(
                200,
                &state.rate_headers(),
                json!({"login": owner, "id": 1, "type": kind}),
            )
        }
        (
            m,
            [
                route,
                owner,
                "packages",
                "container",
                package,
                "versions",
                rest @ ..,
            ],
        ) => {
            let Some(repo) = package_repo(&state, route, owner, package) else {
                return github_error(404, "Package not found.");
            };
            match (m, rest) {
                ("GET", []) => list_versions(&state, &repo, &path, &query),
                ("DELETE", [id]) => delete_version(&state, &repo, id).await,
                _ => state.unexpected(format!("{method} {path}")),
            }
        }
        _ => state.unexpected(format!("{method} {path}?{query}")),
    }
}

/// The registry repository a packages route names, when the route fits the owner's type and
/// the package exists.
fn package_repo(state: &FakeState, route: &str, owner: &str, package: &str) -> Option<String> {
    let wanted = if state.organization { "orgs" } else { "users" };
    if route != wanted || owner != state.owner {
        return None;
    }
    // One segment: `/` travels as `%2F`; nothing else in a package name needs escaping.
    let name = package.replace("%2F", "/").replace("%2f", "/");
    if name.contains('%') {
        return None;
    }
    let repo = format!("{owner}/{name}");
    state
        .registry
        .repositories()
        .contains(&repo)
        .then_some(repo)
}

fn list_versions(state: &FakeState, repo: &str, path: &str, query: &str) -> Response {
    let mut per_page = 30usize;
    let mut page = 1usize;
    for (k, v) in url::form_urlencoded::parse(query.as_bytes()) {
        match (k.as_ref(), v.parse::<usize>()) {
            ("per_page", Ok(n)) => per_page = n.clamp(1, 100),
            ("page", Ok(n)) => page = n.max(1),
            ("state", _) if v == "active" => {}
            _ => return state.unexpected(format!("GET {path}?{query}: query parameter {k}={v}")),
        }
    }
    state.counters.list_pages.fetch_add(1, Ordering::SeqCst);
    let versions = state.versions(repo);
    let last = versions.len().div_ceil(per_page).max(1);
    let items: Vec<Value> = versions
        .iter()
        .skip((page - 1) * per_page)
        .take(per_page)
        .map(|(id, digest, created, updated, tags)| {
            json!({
                "id": id,
                "name": digest,
                "url": format!("{}{path}/{id}", state.public()),
                "package_html_url": format!("https://github.com/{}/packages", state.owner),
                "created_at": rfc3339(*created),
                "updated_at": rfc3339(*updated),
                "html_url": format!("https://github.com/{}/packages/container/x/{id}", state.owner),
                "metadata": {"package_type": "container", "container": {"tags": tags}},
            })
        })
        .collect();
    let link = |p: usize, rel: &str| {
        format!(
            "<{}{path}?per_page={per_page}&page={p}>; rel=\"{rel}\"",
            state.public()
        )
    };
    let mut links = Vec::new();
    if page < last {
        links.push(link(page + 1, "next"));
        links.push(link(last, "last"));
    }
    if page > 1 {
        links.push(link(1, "first"));
        links.push(link(page - 1, "prev"));
    }
    let mut headers = state.rate_headers();
    if !links.is_empty() {
        headers.push(("link", links.join(", ")));
    }
    json_response(200, &headers, Value::Array(items))
}

async fn delete_version(state: &FakeState, repo: &str, id: &str) -> Response {
    state.counters.deletes.fetch_add(1, Ordering::SeqCst);
    state.counters.mutating.fetch_add(1, Ordering::SeqCst);
    if state.mode() != TokenMode::Delete {
        return github_error(403, "Resource not accessible by integration");
    }
    let versions = state.versions(repo);
    let Some((_, digest, _, _, tags)) = versions.iter().find(|v| v.0.to_string() == id) else {
        return github_error(404, "Package not found.");
    };
    let tagged = versions.iter().filter(|v| !v.4.is_empty()).count();
    if !tags.is_empty() && tagged == 1 {
        return github_error(
            400,
            "You cannot delete the last tagged version of a package. You must delete the package instead.",
        );
    }
    if state.registry.delete_manifest(repo, digest).await {
        StatusCode::NO_CONTENT.into_response()
    } else {
        github_error(500, "fake: the registry did not delete the manifest")
    }
}

async fn registry_side(state: &FakeState, request: Request) -> Response {
    let method = request.method().clone();
    let path = request.uri().path().to_string();
    if method == Method::DELETE {
        state.counters.mutating.fetch_add(1, Ordering::SeqCst);
        return json_response(
            405,
            &[],
            json!({"errors": [{"code": "UNSUPPORTED", "message": "The operation is unsupported."}]}),
        );
    }
    if matches!(method, Method::PUT | Method::POST | Method::PATCH) {
        state.counters.mutating.fetch_add(1, Ordering::SeqCst);
    }
    if path.contains("/manifests/") {
        state.counters.manifest_gets.fetch_add(1, Ordering::SeqCst);
    }
    forward(state.registry.url(), state.public(), request).await
}

/// Whitespace-free text, to compare query shapes.
fn squeeze(text: &str) -> String {
    text.chars().filter(|c| !c.is_whitespace()).collect()
}

async fn graphql(state: &FakeState, request: Request) -> Response {
    let headers = request.headers().clone();
    if request.method() != Method::POST {
        return state.unexpected(format!("{} /graphql", request.method()));
    }
    let body = axum::body::to_bytes(request.into_body(), 1 << 20)
        .await
        .unwrap_or_default();
    let Ok(body) = serde_json::from_slice::<Value>(&body) else {
        return state.unexpected("POST /graphql with a body that is not JSON".into());
    };
    let query = squeeze(body["query"].as_str().unwrap_or(""));
    let vars = &body["variables"];
    if query.starts_with("mutation") {
        if let Some(r) = state.check_headers(
            &headers,
            "application/vnd.github.package-deletes-preview+json",
            &Method::POST,
            "/graphql mutation",
        ) {
            return r;
        }
        if !query.contains("deletePackageVersion(input:{packageVersionId:$id}){success}") {
            return state.unexpected(format!("a mutation of another shape: {query}"));
        }
        return graphql_delete(state, vars["id"].as_str().unwrap_or("")).await;
    }
    if let Some(r) = state.check_headers(
        &headers,
        "application/vnd.github.packages-preview+json",
        &Method::POST,
        "/graphql query",
    ) {
        return r;
    }
    for part in [
        "repository(owner:$owner,name:$name)",
        "packages(first:1,names:[$package])",
        "versions(first:100,after:$after)",
        "pageInfo{hasNextPageendCursor}",
        "edges{node{idversion}}",
    ] {
        if !query.contains(part) {
            return state.unexpected(format!("a query without `{part}`: {query}"));
        }
    }
    state
        .counters
        .graphql_queries
        .fetch_add(1, Ordering::SeqCst);
    let (owner, name, package) = (
        vars["owner"].as_str().unwrap_or(""),
        vars["name"].as_str().unwrap_or(""),
        vars["package"].as_str().unwrap_or(""),
    );
    let repo = format!("{owner}/{name}/{package}");
    if owner != state.owner || !state.registry.repositories().contains(&repo) {
        return json_response(
            200,
            &[],
            json!({"data": {"repository": null}, "errors": [{"type": "NOT_FOUND", "path": ["repository"], "message": format!("Could not resolve to a Repository with the name '{owner}/{name}'.")}]}),
        );
    }
    let versions = legacy_versions(state, &repo);
    let offset: usize = vars["after"]
        .as_str()
        .and_then(|c| c.strip_prefix("cursor:"))
        .and_then(|n| n.parse().ok())
        .unwrap_or(0);
    let page: Vec<Value> = versions
        .iter()
        .skip(offset)
        .take(100)
        .map(|(id, tag)| json!({"node": {"id": id, "version": tag}}))
        .collect();
    let end = offset + page.len();
    json_response(
        200,
        &[],
        json!({"data": {"repository": {"packages": {"edges": [{"node": {
            "name": package,
            "versions": {
                "pageInfo": {"hasNextPage": end < versions.len(), "endCursor": format!("cursor:{end}")},
                "edges": page,
            },
        }}]}}}}),
    )
}

/// The legacy versions of `repo`: `docker-base-layer` and one per tag, newest first.
fn legacy_versions(state: &FakeState, repo: &str) -> Vec<(String, String)> {
    let mut tags = state.registry.tags(repo);
    tags.sort_by(|a, b| b.pushed.cmp(&a.pushed).then(a.name.cmp(&b.name)));
    let mut ids = state.ids.lock().unwrap();
    let mut id_of = |name: &str| {
        let next = ids.len() as u64 + 1;
        format!(
            "PV_{}",
            ids.entry((repo.to_string(), name.to_string()))
                .or_insert(next)
        )
    };
    let mut out = vec![(id_of("docker-base-layer"), "docker-base-layer".to_string())];
    for t in tags {
        out.push((id_of(&t.name), t.name));
    }
    out
}

async fn graphql_delete(state: &FakeState, id: &str) -> Response {
    state
        .counters
        .graphql_mutations
        .fetch_add(1, Ordering::SeqCst);
    state.counters.mutating.fetch_add(1, Ordering::SeqCst);
    let repos = state.registry.repositories();
    let found = repos.iter().find_map(|repo| {
        legacy_versions(state, repo)
            .into_iter()
            .find(|(v, _)| v == id)
            .map(|(_, tag)| (repo.clone(), tag))
    });
    let Some((repo, tag)) = found else {
        return json_response(
            200,
            &[],
            json!({"data": {"deletePackageVersion": null}, "errors": [{"type": "NOT_FOUND", "message": format!("Could not resolve to a node with the global id of '{id}'")}]}),
        );
    };
    if tag == "docker-base-layer" {
        state
            .unexpected
            .lock()
            .unwrap()
            .push("deleting the docker-base-layer version".into());
    }
    if state.mode() != TokenMode::Delete {
        return json_response(
            200,
            &[],
            json!({"data": {"deletePackageVersion": null}, "errors": [{"type": "FORBIDDEN", "message": "Resource not accessible by integration"}]}),
        );
    }
    if *state.public_package.lock().unwrap() {
        return json_response(
            200,
            &[],
            json!({"data": {"deletePackageVersion": null}, "errors": [{"type": "UNPROCESSABLE", "message": "Public packages cannot be deleted."}]}),
        );
    }
    state.registry.remove_tag(&repo, &tag);
    json_response(
        200,
        &[],
        json!({"data": {"deletePackageVersion": {"success": true}}}),
    )
}
