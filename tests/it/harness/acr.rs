//! A stateful loopback fake of Azure Container Registry, written from `docs/registry-apis.md`
//! §7, standing in front of the real Distribution registry and sharing its state
//! ([`RegistryState`]), with a fake Azure AD token endpoint on a second loopback port:
//!
//! - Every `/v2/…` and `/acr/v1/…` request needs `Authorization: Bearer <token>` from this
//!   fake's `/oauth2/token` carrying the action the route needs (`pull`, `push`, `delete` on
//!   `/v2/`, `metadata_read` for the listings, `delete` for the tag delete); otherwise 401 with
//!   `Bearer realm="<fake>/oauth2/token",service="<host:port>",scope="repository:<repo>:<action>"`
//!   (`error="insufficient_scope"` when a token was sent) and ACR's error body.
//! - `GET /oauth2/token?service=&scope=` with Basic ([`ADMIN`] gets every action, [`READER`]
//!   `pull` and `metadata_read`) and `POST /oauth2/token` `grant_type=refresh_token` answer
//!   `{"access_token": …}` only (ACR sends no `token` field). `POST /oauth2/exchange`
//!   `grant_type=access_token&service=&tenant=&access_token=<AAD token>` answers
//!   `{"refresh_token": …}` for an AAD token the AAD fake issued (or [`AZ_TOKEN`]).
//! - `GET /acr/v1/{repo}/_tags?n=&last=&orderby=` (the repository's slashes literal): lexical
//!   order, `n` default 100, relative `Link` with `last`, `n` and an empty `orderby`;
//!   `changeableAttributes.deleteEnabled` false for a tag [`AcrFake::lock`]ed.
//!   `GET /acr/v1/{repo}/_manifests?n=&last=`: every manifest revision, by digest, with
//!   `mediaType` and its `tags`. `DELETE /acr/v1/{repo}/_tags/{tag}` → 202 (tag only), 404
//!   `TAG_UNKNOWN`, 405 `REGISTRY_DISALLOWED_OPERATION` when locked.
//! - Registry side: forwarded, except a manifest DELETE by digest that a locked tag names
//!   (405, as ACR answers) and any DELETE by tag (ACR deletes manifests by digest only).
//! - The AAD fake: `POST /{tenant}/oauth2/v2.0/token`, form `grant_type=client_credentials`,
//!   `client_id`, `scope=https://containerregistry.azure.net/.default` and either
//!   `client_secret` or `client_assertion_type` (jwt-bearer) + `client_assertion`; AADSTS
//!   error bodies for a wrong secret, tenant or scope.
//!
//! Anything else is answered 400 and recorded ([`AcrFake::unexpected`]). Secrets are never
//! recorded.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};

use axum::extract::{Request, State};
use axum::http::{HeaderMap, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use serde_json::json;

use super::platform::{PlatformFake, RegistryState, forward};
use super::{Server, TestRegistry, spawn_server};

/// The registry's admin user: may do everything.
pub const ADMIN: &str = "acrberth";
/// Its password (recognisable, so tests can look for it in berth's output).
pub const ADMIN_PASSWORD: &str = "acr-ADMIN-s3cret-0123456789abcdef";
/// A repository-scoped token with read access only (`content/read`, `metadata/read`).
pub const READER: &str = "reader-token";
/// Its password.
pub const READER_PASSWORD: &str = "acr-READER-s3cret-9876543210fedcba";
/// The Azure AD tenant.
pub const TENANT: &str = "72f988bf-86f1-41af-91ab-2d7cd011db47";
/// The service principal / workload identity.
pub const CLIENT_ID: &str = "0c5d2f51-8a5e-4a4b-9a51-3f1c1e2d3b4a";
/// The service principal's secret.
pub const CLIENT_SECRET: &str = "aad-CLIENT-s3cret-Q8~abcdef0123456789";
/// The federated token a workload identity presents.
pub const FEDERATED_TOKEN: &str = "eyJhbGciOiJSUzI1NiJ9.federated-OIDC-s3cret.signature";
/// The AAD token the fake `az` prints.
pub const AZ_TOKEN: &str = "aad-AZ-CLI-token-s3cret-0123456789";
/// The AAD scope of ACR.
const ACR_SCOPE: &str = "https://containerregistry.azure.net/.default";
const JWT_BEARER: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";

#[derive(Clone, Copy, PartialEq, Eq)]
enum Role {
    Admin,
    Reader,
}

impl Role {
    fn allows(self, action: &str) -> bool {
        match self {
            Role::Admin => true,
            Role::Reader => matches!(action, "pull" | "metadata_read"),
        }
    }
}

#[derive(Default)]
struct Counters {
    tag_pages: AtomicUsize,
    manifest_pages: AtomicUsize,
    tag_deletes: AtomicUsize,
    manifest_deletes: AtomicUsize,
    refused_deletes: AtomicUsize,
    locked_refusals: AtomicUsize,
    challenges: AtomicUsize,
    tokens: AtomicUsize,
    exchanges: AtomicUsize,
    aad_tokens: AtomicUsize,
    manifest_gets: AtomicUsize,
    registry_mutating: AtomicUsize,
}

struct Shared {
    registry: RegistryState,
    public: OnceLock<String>,
    /// Access tokens: repository → actions granted.
    access: Mutex<HashMap<String, HashSet<(String, String)>>>,
    refresh: Mutex<HashMap<String, Role>>,
    aad: Mutex<HashSet<String>>,
    locked: Mutex<HashSet<(String, String)>>,
    counters: Counters,
    unexpected: Mutex<Vec<String>>,
}

impl Shared {
    fn host(&self) -> String {
        self.public
            .get()
            .expect("set at start")
            .trim_start_matches("http://")
            .to_string()
    }
}

/// The fake ACR (registry, token service and data-plane API on one host) and its AAD.
pub struct AcrFake {
    server: Server,
    aad: Server,
    shared: Arc<Shared>,
    path: String,
    config: tempfile::TempDir,
}

impl AcrFake {
    /// A fake in front of `registry`, serving the repository `path`, berth logging in as
    /// [`ADMIN`] through a docker config.
    pub fn start(registry: &TestRegistry, path: &str) -> AcrFake {
        let shared = Arc::new(Shared {
            registry: RegistryState::of(registry),
            public: OnceLock::new(),
            access: Mutex::new(HashMap::new()),
            refresh: Mutex::new(HashMap::new()),
            aad: Mutex::new(HashSet::new()),
            locked: Mutex::new(HashSet::new()),
            counters: Counters::default(),
            unexpected: Mutex::new(Vec::new()),
        });
        let server = spawn_server(
            axum::Router::new()
                .fallback(handle)
                .with_state(shared.clone()),
        );
        shared.public.set(server.url()).expect("set once");
        let aad = spawn_server(
            axum::Router::new()
                .fallback(aad_token)
                .with_state(shared.clone()),
        );
        let fake = AcrFake {
            server,
            aad,
            shared,
            path: path.to_string(),
            config: tempfile::tempdir().expect("a temp dir"),
        };
        fake.log_in(ADMIN, ADMIN_PASSWORD);
        fake
    }

    /// Writes the docker config's login for the fake's host (what `docker login` stores).
    pub fn log_in(&self, user: &str, password: &str) {
        let auth = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
        self.write_config(json!({"auths": {self.host(): {"auth": auth}}}));
    }

    /// Empties the docker config: berth must log in with Azure AD.
    pub fn log_out(&self) {
        self.write_config(json!({}));
    }

    fn write_config(&self, config: serde_json::Value) {
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

    /// `http://127.0.0.1:PORT` of the fake Azure AD (for `AZURE_AUTHORITY_HOST`).
    pub fn authority(&self) -> String {
        self.aad.url()
    }

    /// Sets `deleteEnabled=false` on a tag of `repo`.
    pub fn lock(&self, repo: &str, tag: &str) {
        self.shared
            .locked
            .lock()
            .unwrap()
            .insert((repo.to_string(), tag.to_string()));
    }

    fn count(&self, c: fn(&Counters) -> &AtomicUsize) -> usize {
        c(&self.shared.counters).load(Ordering::SeqCst)
    }

    /// `_tags` pages answered 200.
    pub fn tag_pages(&self) -> usize {
        self.count(|c| &c.tag_pages)
    }
    /// `_manifests` pages answered 200.
    pub fn manifest_pages(&self) -> usize {
        self.count(|c| &c.manifest_pages)
    }
    /// API tag DELETEs received with a token that may delete (locked ones included).
    pub fn tag_deletes(&self) -> usize {
        self.count(|c| &c.tag_deletes)
    }
    /// Registry manifest DELETEs received with a token that may delete.
    pub fn manifest_deletes(&self) -> usize {
        self.count(|c| &c.manifest_deletes)
    }
    /// DELETEs (API or registry) refused for a token without `delete`.
    pub fn refused_deletes(&self) -> usize {
        self.count(|c| &c.refused_deletes)
    }
    /// DELETEs refused with 405 for a lock.
    pub fn locked_refusals(&self) -> usize {
        self.count(|c| &c.locked_refusals)
    }
    /// `/oauth2/exchange` requests.
    pub fn exchanges(&self) -> usize {
        self.count(|c| &c.exchanges)
    }
    /// Azure AD token requests.
    pub fn aad_requests(&self) -> usize {
        self.count(|c| &c.aad_tokens)
    }
    /// Registry manifest GET/HEAD requests forwarded.
    pub fn manifest_gets(&self) -> usize {
        self.count(|c| &c.manifest_gets)
    }

    /// Requests the real ACR would not have been asked.
    pub fn unexpected(&self) -> Vec<String> {
        self.shared.unexpected.lock().unwrap().clone()
    }

    /// Variables for an Azure AD login with the service principal's secret (no docker
    /// config login).
    pub fn aad_secret_env(&self, secret: &str) -> Vec<(String, String)> {
        vec![
            ("AZURE_CLIENT_ID".into(), CLIENT_ID.into()),
            ("AZURE_CLIENT_SECRET".into(), secret.into()),
            ("AZURE_TENANT_ID".into(), TENANT.into()),
            ("AZURE_AUTHORITY_HOST".into(), self.authority()),
        ]
    }

    /// Variables for a workload-identity login with the federated token in `file`.
    pub fn aad_federated_env(&self, file: &Path) -> Vec<(String, String)> {
        vec![
            ("AZURE_CLIENT_ID".into(), CLIENT_ID.into()),
            ("AZURE_TENANT_ID".into(), TENANT.into()),
            (
                "AZURE_FEDERATED_TOKEN_FILE".into(),
                file.display().to_string(),
            ),
            ("AZURE_AUTHORITY_HOST".into(), self.authority()),
        ]
    }
}

/// Writes a fake `az` into `dir` that answers `az account get-access-token --resource
/// https://containerregistry.azure.net` with [`AZ_TOKEN`] (and refuses anything else), logging
/// its arguments to `dir/az.log`; returns `dir`, to put first on PATH.
pub fn fake_az(dir: &Path) -> PathBuf {
    use std::os::unix::fs::PermissionsExt;
    let log = dir.join("az.log");
    let script = format!(
        r#"#!/bin/sh
echo "$*" >> '{log}'
case "$*" in
  "account get-access-token --resource https://containerregistry.azure.net"*) ;;
  *) echo "ERROR: the fake az does not know: $*" >&2; exit 2 ;;
esac
printf '{{"accessToken":"{AZ_TOKEN}","expiresOn":"2030-01-01 00:00:00.000000","expires_on":1893456000,"subscription":"sub","tenant":"{TENANT}","tokenType":"Bearer"}}\n'
"#,
        log = log.display()
    );
    let path = dir.join("az");
    std::fs::write(&path, script).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
    dir.to_path_buf()
}

impl PlatformFake for AcrFake {
    fn kind(&self) -> &'static str {
        "acr"
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
            ("401 challenge", self.count(|c| &c.challenges)),
            ("token", self.count(|c| &c.tokens)),
            ("API tags page", self.tag_pages()),
            ("API manifests page", self.manifest_pages()),
            ("API tag DELETE", self.tag_deletes()),
        ]
        .into_iter()
        .filter(|(_, n)| *n > 0)
        .map(|(k, n)| (k.to_string(), n))
        .collect()
    }
    fn mutating_requests(&self) -> usize {
        let c = &self.shared.counters;
        c.tag_deletes.load(Ordering::SeqCst)
            + c.refused_deletes.load(Ordering::SeqCst)
            + c.registry_mutating.load(Ordering::SeqCst)
    }
    fn assert_no_unexpected(&self) {
        let unexpected = self.unexpected();
        assert!(
            unexpected.is_empty(),
            "requests ACR would not know: {unexpected:#?}"
        );
    }
}

fn errors(status: StatusCode, code: &str, message: &str, detail: serde_json::Value) -> Response {
    (
        status,
        axum::Json(json!({"errors": [{"code": code, "message": message, "detail": detail}]})),
    )
        .into_response()
}

fn record(shared: &Shared, what: String) -> Response {
    shared.unexpected.lock().unwrap().push(what);
    errors(
        StatusCode::BAD_REQUEST,
        "UNSUPPORTED",
        "the fake ACR does not know this request",
        json!({}),
    )
}

fn random(prefix: &str) -> String {
    format!(
        "{prefix}-{:016x}{:016x}",
        fastrand::u64(..),
        fastrand::u64(..)
    )
}

fn rfc3339(t: std::time::SystemTime) -> String {
    chrono::DateTime::<chrono::Utc>::from(t).to_rfc3339_opts(chrono::SecondsFormat::Micros, true)
}

fn form(body: &[u8]) -> HashMap<String, String> {
    url::form_urlencoded::parse(body).into_owned().collect()
}

/// Checks the bearer token for `action` on `repo`; the 401 challenge otherwise.
fn authorize(shared: &Shared, headers: &HeaderMap, repo: &str, action: &str) -> Option<Response> {
    let token = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "));
    let granted = token.and_then(|t| shared.access.lock().unwrap().get(t).cloned());
    if granted
        .as_ref()
        .is_some_and(|g| repo.is_empty() || g.contains(&(repo.to_string(), action.to_string())))
    {
        return None;
    }
    shared.counters.challenges.fetch_add(1, Ordering::SeqCst);
    let realm = format!("{}/oauth2/token", shared.public.get().unwrap());
    let mut challenge = format!("Bearer realm=\"{realm}\",service=\"{}\"", shared.host());
    if !repo.is_empty() {
        challenge.push_str(&format!(",scope=\"repository:{repo}:{action}\""));
    }
    if granted.is_some() {
        challenge.push_str(",error=\"insufficient_scope\"");
    }
    let mut response = errors(
        StatusCode::UNAUTHORIZED,
        "UNAUTHORIZED",
        "authentication required, visit https://aka.ms/acr/authorization for more information.",
        if repo.is_empty() {
            serde_json::Value::Null
        } else {
            json!([{"Type": "repository", "Name": repo, "Action": action}])
        },
    );
    response
        .headers_mut()
        .insert("www-authenticate", challenge.parse().unwrap());
    Some(response)
}

async fn handle(State(shared): State<Arc<Shared>>, request: Request) -> Response {
    let method = request.method().clone();
    let path = request.uri().path().to_string();
    let query = request.uri().query().unwrap_or("").to_string();
    if path == "/oauth2/token" || path == "/oauth2/exchange" {
        let headers = request.headers().clone();
        let body = axum::body::to_bytes(request.into_body(), usize::MAX)
            .await
            .unwrap();
        return token_service(&shared, &method, &path, &query, &headers, &body);
    }
    if let Some(rest) = path.strip_prefix("/acr/v1/") {
        let headers = request.headers().clone();
        return api(&shared, &method, rest, &query, &headers);
    }
    if path.starts_with("/v2/") {
        return registry_side(&shared, request).await;
    }
    record(&shared, format!("{method} {path}?{query}"))
}

fn token_service(
    shared: &Shared,
    method: &Method,
    path: &str,
    query: &str,
    headers: &HeaderMap,
    body: &[u8],
) -> Response {
    let unauthorized = || {
        errors(
            StatusCode::UNAUTHORIZED,
            "UNAUTHORIZED",
            "authentication required, visit https://aka.ms/acr/authorization for more information.",
            serde_json::Value::Null,
        )
    };
    let fields = if method == Method::POST {
        let form_type = headers
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.starts_with("application/x-www-form-urlencoded"));
        if !form_type {
            return record(shared, format!("{method} {path} without a form body"));
        }
        url::form_urlencoded::parse(body)
            .into_owned()
            .collect::<Vec<_>>()
    } else {
        url::form_urlencoded::parse(query.as_bytes())
            .into_owned()
            .collect()
    };
    let one = |k: &str| fields.iter().find(|(f, _)| f == k).map(|(_, v)| v.clone());
    if one("service").as_deref() != Some(shared.host().as_str()) {
        return record(shared, format!("{method} {path}: service is not the host"));
    }
    if path == "/oauth2/exchange" {
        shared.counters.exchanges.fetch_add(1, Ordering::SeqCst);
        if method != Method::POST || one("grant_type").as_deref() != Some("access_token") {
            return record(
                shared,
                format!("{method} {path}: not the access_token grant"),
            );
        }
        if one("tenant").is_some_and(|t| t != TENANT) {
            return unauthorized();
        }
        let aad = one("access_token").unwrap_or_default();
        if aad != AZ_TOKEN && !shared.aad.lock().unwrap().contains(&aad) {
            return unauthorized();
        }
        let refresh = random("acr-refresh");
        shared
            .refresh
            .lock()
            .unwrap()
            .insert(refresh.clone(), Role::Admin);
        return axum::Json(json!({"refresh_token": refresh})).into_response();
    }
    shared.counters.tokens.fetch_add(1, Ordering::SeqCst);
    let role = if method == Method::POST {
        if one("grant_type").as_deref() != Some("refresh_token") {
            return record(shared, format!("POST {path}: not the refresh_token grant"));
        }
        let refresh = one("refresh_token").unwrap_or_default();
        shared.refresh.lock().unwrap().get(&refresh).copied()
    } else {
        let login = headers
            .get("authorization")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Basic "))
            .and_then(|b| base64::engine::general_purpose::STANDARD.decode(b).ok())
            .and_then(|b| String::from_utf8(b).ok());
        match login.as_deref().and_then(|l| l.split_once(':')) {
            Some((ADMIN, ADMIN_PASSWORD)) => Some(Role::Admin),
            Some((READER, READER_PASSWORD)) => Some(Role::Reader),
            _ => None,
        }
    };
    let Some(role) = role else {
        return unauthorized();
    };
    let mut granted = HashSet::new();
    for (_, scope) in fields.iter().filter(|(k, _)| k == "scope") {
        for s in scope.split(' ').filter(|s| !s.is_empty()) {
            let Some(rest) = s.strip_prefix("repository:") else {
                continue;
            };
            let Some((name, actions)) = rest.rsplit_once(':') else {
                continue;
            };
            for a in actions.split(',').filter(|a| role.allows(a)) {
                granted.insert((name.to_string(), a.to_string()));
            }
        }
    }
    let token = random("acr-access");
    shared.access.lock().unwrap().insert(token.clone(), granted);
    axum::Json(json!({"access_token": token})).into_response()
}

fn api(shared: &Shared, method: &Method, rest: &str, query: &str, headers: &HeaderMap) -> Response {
    if let Some(repo) = rest.strip_suffix("/_tags") {
        if method != Method::GET {
            return record(shared, format!("{method} /acr/v1/{rest}"));
        }
        if let Some(refused) = authorize(shared, headers, repo, "metadata_read") {
            return refused;
        }
        return list_tags(shared, repo, query);
    }
    if let Some(repo) = rest.strip_suffix("/_manifests") {
        if method != Method::GET {
            return record(shared, format!("{method} /acr/v1/{rest}"));
        }
        if let Some(refused) = authorize(shared, headers, repo, "metadata_read") {
            return refused;
        }
        return list_manifests(shared, repo, query);
    }
    if let Some((repo, tag)) = rest.split_once("/_tags/") {
        if method != Method::DELETE || tag.contains('/') {
            return record(shared, format!("{method} /acr/v1/{rest}"));
        }
        if let Some(refused) = authorize(shared, headers, repo, "delete") {
            shared
                .counters
                .refused_deletes
                .fetch_add(1, Ordering::SeqCst);
            return refused;
        }
        shared.counters.tag_deletes.fetch_add(1, Ordering::SeqCst);
        if shared
            .locked
            .lock()
            .unwrap()
            .contains(&(repo.to_string(), tag.to_string()))
        {
            return refuse_locked(shared);
        }
        return if shared.registry.remove_tag(repo, tag) {
            StatusCode::ACCEPTED.into_response()
        } else {
            errors(
                StatusCode::NOT_FOUND,
                "TAG_UNKNOWN",
                "the specified tag does not exist",
                json!({}),
            )
        };
    }
    record(shared, format!("{method} /acr/v1/{rest}?{query}"))
}

fn refuse_locked(shared: &Shared) -> Response {
    shared
        .counters
        .locked_refusals
        .fetch_add(1, Ordering::SeqCst);
    errors(
        StatusCode::METHOD_NOT_ALLOWED,
        "REGISTRY_DISALLOWED_OPERATION",
        "The operation is disallowed on this registry, repository or image.",
        json!({}),
    )
}

/// `n` (default 100, 1 to 1000) and `last` of a listing; None for a query ACR would refuse.
fn paging(shared: &Shared, repo: &str, query: &str) -> Option<(usize, Option<String>)> {
    let mut n = 100usize;
    let mut last = None;
    for (k, v) in url::form_urlencoded::parse(query.as_bytes()) {
        match k.as_ref() {
            "n" => n = v.parse().ok().filter(|n| (1..=1000).contains(n))?,
            "last" => last = Some(v.into_owned()),
            "orderby" if v.is_empty() => {}
            _ => {
                shared
                    .unexpected
                    .lock()
                    .unwrap()
                    .push(format!("listing {repo} with {query}"));
                return None;
            }
        }
    }
    Some((n, last))
}

fn unknown_repo(repo: &str) -> Response {
    errors(
        StatusCode::NOT_FOUND,
        "NAME_UNKNOWN",
        "repository name not known to registry",
        json!({"name": repo}),
    )
}

fn page_response(
    shared: &Shared,
    repo: &str,
    route: &str,
    field: &str,
    rows: Vec<(String, serde_json::Value)>,
    n: usize,
    last: Option<String>,
) -> Response {
    let after: Vec<(String, serde_json::Value)> = rows
        .into_iter()
        .filter(|(k, _)| last.as_ref().is_none_or(|l| k > l))
        .collect();
    let page: Vec<serde_json::Value> = after.iter().take(n).map(|(_, v)| v.clone()).collect();
    let mut response = axum::Json(json!({
        "registry": shared.host(),
        "imageName": repo,
        field: page,
    }))
    .into_response();
    if after.len() > n {
        let next = url::form_urlencoded::Serializer::new(String::new())
            .append_pair("last", &after[n - 1].0)
            .append_pair("n", &n.to_string())
            .append_pair("orderby", "")
            .finish();
        response.headers_mut().insert(
            "link",
            format!("</acr/v1/{repo}/{route}?{next}>; rel=\"next\"")
                .parse()
                .unwrap(),
        );
    }
    response
}

fn list_tags(shared: &Shared, repo: &str, query: &str) -> Response {
    let Some((n, last)) = paging(shared, repo, query) else {
        return errors(
            StatusCode::BAD_REQUEST,
            "PAGINATION_NUMBER_INVALID",
            "invalid number of results requested",
            json!({}),
        );
    };
    if !shared.registry.repositories().iter().any(|r| r == repo) {
        return unknown_repo(repo);
    }
    let locked = shared.locked.lock().unwrap().clone();
    let manifests: HashMap<String, std::time::SystemTime> = shared
        .registry
        .manifests(repo)
        .into_iter()
        .map(|m| (m.digest, m.pushed))
        .collect();
    let rows = shared
        .registry
        .tags(repo)
        .into_iter()
        .map(|t| {
            let created = manifests
                .get(&t.digest)
                .copied()
                .unwrap_or(t.pushed)
                .min(t.pushed);
            let row = json!({
                "name": t.name,
                "digest": t.digest,
                "createdTime": rfc3339(created),
                "lastUpdateTime": rfc3339(t.pushed),
                "signed": false,
                "changeableAttributes": {
                    "deleteEnabled": !locked.contains(&(repo.to_string(), t.name.clone())),
                    "writeEnabled": true, "readEnabled": true, "listEnabled": true,
                },
            });
            (t.name, row)
        })
        .collect();
    shared.counters.tag_pages.fetch_add(1, Ordering::SeqCst);
    page_response(shared, repo, "_tags", "tags", rows, n, last)
}

fn list_manifests(shared: &Shared, repo: &str, query: &str) -> Response {
    let Some((n, last)) = paging(shared, repo, query) else {
        return errors(
            StatusCode::BAD_REQUEST,
            "PAGINATION_NUMBER_INVALID",
            "invalid number of results requested",
            json!({}),
        );
    };
    if !shared.registry.repositories().iter().any(|r| r == repo) {
        return unknown_repo(repo);
    }
    let tags = shared.registry.tags(repo);
    let mut manifests = shared.registry.manifests(repo);
    manifests.sort_by(|a, b| a.digest.cmp(&b.digest));
    let rows = manifests
        .into_iter()
        .map(|m| {
            let bytes = shared.registry.blob(&m.digest).unwrap_or_default();
            let manifest: serde_json::Value = serde_json::from_slice(&bytes).unwrap_or(json!({}));
            let on_it: Vec<&str> = tags
                .iter()
                .filter(|t| t.digest == m.digest)
                .map(|t| t.name.as_str())
                .collect();
            let row = json!({
                "digest": m.digest,
                "imageSize": bytes.len(),
                "createdTime": rfc3339(m.pushed),
                "lastUpdateTime": rfc3339(m.pushed),
                "mediaType": manifest["mediaType"],
                "configMediaType": manifest["config"]["mediaType"],
                "tags": on_it,
                "changeableAttributes": {
                    "deleteEnabled": true, "writeEnabled": true,
                    "readEnabled": true, "listEnabled": true,
                },
            });
            (m.digest, row)
        })
        .collect();
    shared
        .counters
        .manifest_pages
        .fetch_add(1, Ordering::SeqCst);
    page_response(shared, repo, "_manifests", "manifests", rows, n, last)
}

/// The registry side: authorized, then forwarded; a manifest DELETE that a lock forbids is
/// refused 405, a DELETE by tag 400.
async fn registry_side(shared: &Shared, request: Request) -> Response {
    let method = request.method().clone();
    let path = request.uri().path().to_string();
    let rest = path.trim_start_matches("/v2/");
    let repo = ["/manifests/", "/blobs/", "/tags/", "/referrers/"]
        .iter()
        .find_map(|m| rest.rsplit_once(m).map(|(name, _)| name.to_string()))
        .unwrap_or_default();
    let action = match method {
        Method::GET | Method::HEAD => "pull",
        Method::DELETE => "delete",
        _ => "push",
    };
    if rest.is_empty() && method != Method::GET || !rest.is_empty() && repo.is_empty() {
        return record(shared, format!("{method} {path}"));
    }
    if let Some(refused) = authorize(shared, request.headers(), &repo, action) {
        if method == Method::DELETE {
            shared
                .counters
                .refused_deletes
                .fetch_add(1, Ordering::SeqCst);
        }
        return refused;
    }
    if method != Method::GET && method != Method::HEAD {
        shared
            .counters
            .registry_mutating
            .fetch_add(1, Ordering::SeqCst);
    }
    if let Some((_, reference)) = rest.rsplit_once("/manifests/") {
        if method == Method::GET || method == Method::HEAD {
            shared.counters.manifest_gets.fetch_add(1, Ordering::SeqCst);
        }
        if method == Method::DELETE {
            if !reference.starts_with("sha256:") {
                return record(shared, format!("DELETE {path}: ACR deletes by digest only"));
            }
            shared
                .counters
                .manifest_deletes
                .fetch_add(1, Ordering::SeqCst);
            let locked = shared.locked.lock().unwrap().clone();
            let held =
                shared.registry.tags(&repo).iter().any(|t| {
                    t.digest == reference && locked.contains(&(repo.clone(), t.name.clone()))
                });
            if held {
                return refuse_locked(shared);
            }
        }
    }
    let public = shared.public.get().expect("set at start");
    forward(shared.registry.url(), public, request).await
}

/// The fake Azure AD token endpoint.
async fn aad_token(State(shared): State<Arc<Shared>>, request: Request) -> Response {
    let method = request.method().clone();
    let path = request.uri().path().to_string();
    let body = axum::body::to_bytes(request.into_body(), usize::MAX)
        .await
        .unwrap();
    let aad_error = |status: StatusCode, error: &str, description: &str| {
        (
            status,
            axum::Json(json!({
                "error": error,
                "error_description": format!("{description}\r\nTrace ID: 0000\r\nCorrelation ID: 0000\r\nTimestamp: 2026-01-01 00:00:00Z"),
                "error_codes": [description.trim_start_matches("AADSTS").split(':').next().unwrap_or("0").parse::<u64>().unwrap_or(0)],
            })),
        )
            .into_response()
    };
    let segments: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    let [_, "oauth2", "v2.0", "token"] = segments.as_slice() else {
        return record(&shared, format!("AAD {method} {path}"));
    };
    if method != Method::POST {
        return record(&shared, format!("AAD {method} {path}"));
    }
    shared.counters.aad_tokens.fetch_add(1, Ordering::SeqCst);
    if segments[0] != TENANT {
        return aad_error(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            &format!("AADSTS90002: Tenant '{}' not found.", segments[0]),
        );
    }
    let f = form(&body);
    if f.get("grant_type").map(String::as_str) != Some("client_credentials") {
        return record(&shared, "AAD: not the client_credentials grant".into());
    }
    if f.get("scope").map(String::as_str) != Some(ACR_SCOPE) {
        return aad_error(
            StatusCode::BAD_REQUEST,
            "invalid_scope",
            "AADSTS70011: The provided value for the input parameter 'scope' is not valid.",
        );
    }
    if f.get("client_id").map(String::as_str) != Some(CLIENT_ID) {
        return aad_error(
            StatusCode::BAD_REQUEST,
            "unauthorized_client",
            "AADSTS700016: Application with identifier was not found in the directory.",
        );
    }
    let proven = match (
        f.get("client_secret"),
        f.get("client_assertion_type"),
        f.get("client_assertion"),
    ) {
        (Some(secret), None, None) => secret == CLIENT_SECRET,
        (None, Some(kind), Some(assertion)) if kind == JWT_BEARER => assertion == FEDERATED_TOKEN,
        _ => return record(&shared, "AAD: neither a secret nor an assertion".into()),
    };
    if !proven {
        return aad_error(
            StatusCode::UNAUTHORIZED,
            "invalid_client",
            "AADSTS7000215: Invalid client secret provided. Ensure the secret being sent in the request is the client secret value, not the client secret ID.",
        );
    }
    let token = random("aad-access");
    shared.aad.lock().unwrap().insert(token.clone());
    axum::Json(json!({
        "token_type": "Bearer", "expires_in": 3599, "ext_expires_in": 3599,
        "access_token": token,
    }))
    .into_response()
}
