//! A stateful loopback fake of Google Container Registry / Artifact Registry, written from
//! `docs/registry-apis.md` §9, in front of the real Distribution registry and sharing its
//! state ([`RegistryState`]):
//!
//! - Every `/v2/…` request needs a bearer token the fake issued; else 401 with a Bearer
//!   challenge naming `/v2/token`. `GET /v2/token` takes Basic `oauth2accesstoken:<access
//!   token>` and knows [`ACCESS_WRITE`] (may delete), [`ACCESS_READ`] (a reader) and the tokens
//!   its OAuth endpoint issued; a rejected login is 401 without a challenge (as AR answers).
//! - `GET /v2/<name>/tags/list`: Google's rich body (`manifest` map with string numbers, `tag`
//!   per digest, untagged manifests with `"tag": []`, `child`). `n` below the tag count pages
//!   the names with a relative `Link` (each page's map holds its tags' manifests).
//! - `DELETE /v2/<name>/manifests/<tag>` → 202, untag only; by digest → 400
//!   `GOOGLE_MANIFEST_DANGLING_TAG` while a tag names it, else the registry's own delete; a
//!   reader's delete → 403 `DENIED` naming `artifactregistry.repositories.deleteArtifacts`.
//! - `POST /oauth2/token` (a service-account key's `token_uri`): the JWT bearer grant, the
//!   assertion's RS256 signature checked against [`service_account_key`]'s public key and its
//!   claims (`iss`, `scope`, `aud`, `iat`/`exp`).
//!
//! Anything else is answered 400 and recorded ([`GcrFake::unexpected`]).

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::UNIX_EPOCH;

use axum::extract::{Request, State};
use axum::http::{HeaderMap, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use serde_json::json;

use super::platform::{PlatformFake, RegistryState, forward};
use super::{Server, TestRegistry, spawn_server};

/// An access token of an identity with `roles/artifactregistry.repoAdmin`.
pub const ACCESS_WRITE: &str = "ya29.WRITER-s3cret-access-token-0123456789";
/// An access token of an identity with `roles/artifactregistry.reader` only.
pub const ACCESS_READ: &str = "ya29.READER-s3cret-access-token-0123456789";
/// The access token the fake OAuth endpoint gives the service account (a writer).
pub const ACCESS_FROM_KEY: &str = "ya29.FROM-KEY-s3cret-access-token-01234567";
/// The test service account.
pub const SA_EMAIL: &str = "berth-cleanup@test-project.iam.gserviceaccount.com";

/// A PKCS#8 PEM RSA key for the test service account, made once per test process.
pub fn service_account_key() -> &'static str {
    static KEY: OnceLock<String> = OnceLock::new();
    KEY.get_or_init(|| {
        let out = std::process::Command::new("openssl")
            .args([
                "genpkey",
                "-algorithm",
                "RSA",
                "-pkeyopt",
                "rsa_keygen_bits:2048",
            ])
            .output()
            .expect("openssl genpkey");
        assert!(out.status.success(), "openssl genpkey failed");
        String::from_utf8(out.stdout).expect("PEM text")
    })
}

fn public_key() -> Vec<u8> {
    let pem = service_account_key();
    let body: String = pem.lines().filter(|l| !l.starts_with("-----")).collect();
    let der = base64::engine::general_purpose::STANDARD
        .decode(body)
        .unwrap();
    let pair = ring::signature::RsaKeyPair::from_pkcs8(&der).unwrap();
    use ring::signature::KeyPair;
    pair.public_key().as_ref().to_vec()
}

#[derive(Default)]
struct Counters {
    list_pages: AtomicUsize,
    tokens: AtomicUsize,
    oauth_grants: AtomicUsize,
    tag_deletes: AtomicUsize,
    digest_deletes: AtomicUsize,
    dangling: AtomicUsize,
    refused: AtomicUsize,
    mutating: AtomicUsize,
}

struct Shared {
    registry: RegistryState,
    public: OnceLock<String>,
    /// Issued bearer tokens → may delete.
    bearers: Mutex<HashMap<String, bool>>,
    /// Tags the listing leaves out (as if pushed after berth listed).
    hidden: Mutex<Vec<String>>,
    /// Largest page the listing gives (None: Google's unpaged listing).
    max_page: Mutex<Option<usize>>,
    counters: Counters,
    unexpected: Mutex<Vec<String>>,
}

/// The fake Google registry and its OAuth token endpoint on one loopback host.
pub struct GcrFake {
    server: Server,
    shared: Arc<Shared>,
    path: String,
    env: Vec<(String, String)>,
}

impl GcrFake {
    /// A fake in front of `registry` serving `path` (`project/app`); berth uses
    /// `GOOGLE_OAUTH_ACCESS_TOKEN=`[`ACCESS_WRITE`] until [`GcrFake::use_env`].
    pub fn start(registry: &TestRegistry, path: &str) -> GcrFake {
        let shared = Arc::new(Shared {
            registry: RegistryState::of(registry),
            public: OnceLock::new(),
            bearers: Mutex::new(HashMap::new()),
            max_page: Mutex::new(None),
            hidden: Mutex::new(Vec::new()),
            counters: Counters::default(),
            unexpected: Mutex::new(Vec::new()),
        });
        let router = axum::Router::new()
            .fallback(handle)
            .with_state(shared.clone());
        let server = spawn_server(router);
        shared.public.set(server.url()).expect("set once");
        GcrFake {
            server,
            shared,
            path: path.to_string(),
            env: vec![("GOOGLE_OAUTH_ACCESS_TOKEN".into(), ACCESS_WRITE.into())],
        }
    }

    /// berth's environment from now on ([`PlatformFake::env`]).
    pub fn use_env(&mut self, env: &[(&str, &str)]) {
        self.env = env
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
    }

    /// Pages the tag list at `n` names (Google does not; a proxy in front might).
    pub fn page_at(&self, n: usize) {
        *self.shared.max_page.lock().unwrap() = Some(n);
    }

    /// Leaves `tag` out of every listing, as a tag pushed between berth's listing and its
    /// delete would be.
    pub fn hide(&self, tag: &str) {
        self.shared.hidden.lock().unwrap().push(tag.to_string());
    }

    /// `host:port`.
    pub fn host(&self) -> String {
        self.server.addr().to_string()
    }

    /// The service-account key file's `token_uri`.
    pub fn token_uri(&self) -> String {
        format!("{}/oauth2/token", self.server.url())
    }

    /// Tag-list pages answered 200.
    pub fn list_pages(&self) -> usize {
        self.shared.counters.list_pages.load(Ordering::SeqCst)
    }
    /// Registry tokens issued.
    pub fn tokens(&self) -> usize {
        self.shared.counters.tokens.load(Ordering::SeqCst)
    }
    /// JWT bearer grants answered 200.
    pub fn oauth_grants(&self) -> usize {
        self.shared.counters.oauth_grants.load(Ordering::SeqCst)
    }
    /// Tag deletes (untags) done.
    pub fn tag_deletes(&self) -> usize {
        self.shared.counters.tag_deletes.load(Ordering::SeqCst)
    }
    /// Digest deletes done.
    pub fn digest_deletes(&self) -> usize {
        self.shared.counters.digest_deletes.load(Ordering::SeqCst)
    }
    /// Digest deletes refused with `GOOGLE_MANIFEST_DANGLING_TAG`.
    pub fn dangling(&self) -> usize {
        self.shared.counters.dangling.load(Ordering::SeqCst)
    }
    /// Deletes refused with 403.
    pub fn refused(&self) -> usize {
        self.shared.counters.refused.load(Ordering::SeqCst)
    }
    /// Requests the real service would not know.
    pub fn unexpected(&self) -> Vec<String> {
        self.shared.unexpected.lock().unwrap().clone()
    }
}

impl PlatformFake for GcrFake {
    fn kind(&self) -> &'static str {
        "gcr"
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
    fn mutating_requests(&self) -> usize {
        self.shared.counters.mutating.load(Ordering::SeqCst)
    }
    fn api_requests(&self) -> BTreeMap<String, usize> {
        [
            ("tags/list page", self.list_pages()),
            // Digest deletes reach the registry, whose access log counts them.
            ("tag DELETE", self.tag_deletes()),
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
            "requests Google would not know: {unexpected:#?}"
        );
    }
}

fn oci_error(status: StatusCode, code: &str, message: &str) -> Response {
    (
        status,
        [("content-type", "application/json")],
        json!({"errors": [{"code": code, "message": message}]}).to_string(),
    )
        .into_response()
}

fn unknown(shared: &Shared, method: &Method, path: &str) -> Response {
    shared
        .unexpected
        .lock()
        .unwrap()
        .push(format!("{method} {path}"));
    oci_error(
        StatusCode::BAD_REQUEST,
        "UNSUPPORTED",
        "the fake Google registry does not know this request",
    )
}

async fn handle(State(shared): State<Arc<Shared>>, request: Request) -> Response {
    let method = request.method().clone();
    let path = request.uri().path().to_string();
    let query = request.uri().query().unwrap_or("").to_string();
    match (&method, path.as_str()) {
        (&Method::POST, "/oauth2/token") => return oauth(&shared, request).await,
        (&Method::GET, "/v2/token") => return token(&shared, request.headers()),
        _ => {}
    }
    if !path.starts_with("/v2/") {
        return unknown(&shared, &method, &path);
    }
    let bearer = request
        .headers()
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .and_then(|t| shared.bearers.lock().unwrap().get(t).copied());
    let Some(writer) = bearer else {
        let public = shared.public.get().unwrap();
        return (
            StatusCode::UNAUTHORIZED,
            [
                (
                    "www-authenticate",
                    format!(r#"Bearer realm="{public}/v2/token",service="gcr.io""#),
                ),
                (
                    "docker-distribution-api-version",
                    "registry/2.0".to_string(),
                ),
            ],
            axum::Json(json!({"errors": [{"code": "UNAUTHORIZED", "message": "You don't have the needed permissions to perform this operation, and you may have invalid credentials. To authenticate your request, follow the steps in: https://cloud.google.com/container-registry/docs/advanced-authentication"}]})),
        )
            .into_response();
    };
    let rest = path.strip_prefix("/v2/").unwrap_or("");
    if method == Method::GET {
        if let Some(name) = rest.strip_suffix("/tags/list") {
            return list(&shared, name, &query);
        }
    }
    if method == Method::DELETE {
        shared.counters.mutating.fetch_add(1, Ordering::SeqCst);
        let Some((name, reference)) = rest.rsplit_once("/manifests/") else {
            return unknown(&shared, &method, &path);
        };
        if !writer {
            shared.counters.refused.fetch_add(1, Ordering::SeqCst);
            return oci_error(
                StatusCode::FORBIDDEN,
                "DENIED",
                &format!(
                    "Permission \"artifactregistry.repositories.deleteArtifacts\" denied on resource \"projects/test-project/locations/us/repositories/{name}\" (or it may not exist)"
                ),
            );
        }
        if !reference.starts_with("sha256:") {
            return if shared.registry.remove_tag(name, reference) {
                shared.counters.tag_deletes.fetch_add(1, Ordering::SeqCst);
                StatusCode::ACCEPTED.into_response()
            } else {
                oci_error(StatusCode::NOT_FOUND, "MANIFEST_UNKNOWN", "Failed to fetch")
            };
        }
        if let Some(tag) = shared
            .registry
            .tags(name)
            .into_iter()
            .find(|t| t.digest == reference)
        {
            shared.counters.dangling.fetch_add(1, Ordering::SeqCst);
            return oci_error(
                StatusCode::BAD_REQUEST,
                "GOOGLE_MANIFEST_DANGLING_TAG",
                &format!("Manifest is still referenced by tag: {}", tag.name),
            );
        }
        shared
            .counters
            .digest_deletes
            .fetch_add(1, Ordering::SeqCst);
    } else if method != Method::GET && method != Method::HEAD {
        shared.counters.mutating.fetch_add(1, Ordering::SeqCst);
    }
    let public = shared.public.get().expect("set at start");
    forward(shared.registry.url(), public, request).await
}

/// `GET /v2/token` with Basic `oauth2accesstoken:<access token>` (or `_token:`).
fn token(shared: &Shared, headers: &HeaderMap) -> Response {
    let login = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Basic "))
        .and_then(|b| base64::engine::general_purpose::STANDARD.decode(b).ok())
        .and_then(|b| String::from_utf8(b).ok());
    let writer = match login.as_deref().and_then(|l| l.split_once(':')) {
        Some(("oauth2accesstoken" | "_token", ACCESS_WRITE | ACCESS_FROM_KEY)) => true,
        Some(("oauth2accesstoken" | "_token", ACCESS_READ)) => false,
        _ => {
            return oci_error(StatusCode::UNAUTHORIZED, "UNAUTHORIZED", "Not Authorized.");
        }
    };
    let n = shared.counters.tokens.fetch_add(1, Ordering::SeqCst);
    let bearer = format!("gcr-bearer-{n}-{:x}", fastrand::u64(..));
    shared
        .bearers
        .lock()
        .unwrap()
        .insert(bearer.clone(), writer);
    axum::Json(json!({"token": bearer, "expires_in": 3600})).into_response()
}

/// One page of Google's rich tag list.
fn list(shared: &Shared, name: &str, query: &str) -> Response {
    let mut n = usize::MAX;
    let mut last = None;
    for (k, v) in url::form_urlencoded::parse(query.as_bytes()) {
        match k.as_ref() {
            "n" => n = v.parse().unwrap_or(usize::MAX),
            "last" => last = Some(v.to_string()),
            _ => {
                return unknown(
                    shared,
                    &Method::GET,
                    &format!("/v2/{name}/tags/list?{query}"),
                );
            }
        }
    }
    if !shared.registry.repositories().iter().any(|r| r == name) {
        return oci_error(
            StatusCode::NOT_FOUND,
            "NAME_UNKNOWN",
            "Repository not found",
        );
    }
    let n = shared.max_page.lock().unwrap().map_or(n, |max| n.min(max));
    let hidden = shared.hidden.lock().unwrap().clone();
    let mut all = shared.registry.tags(name);
    all.retain(|t| !hidden.contains(&t.name));
    let rest: Vec<_> = all
        .iter()
        .filter(|t| last.as_ref().is_none_or(|l| &t.name > l))
        .collect();
    let page: Vec<_> = rest.iter().take(n).collect();
    let more = rest.len() > page.len();
    let ms = |t: std::time::SystemTime| {
        t.duration_since(UNIX_EPOCH)
            .unwrap()
            .as_millis()
            .to_string()
    };
    let mut map = serde_json::Map::new();
    for m in shared.registry.manifests(name) {
        let tags: Vec<&str> = all
            .iter()
            .filter(|t| t.digest == m.digest)
            .map(|t| t.name.as_str())
            .collect();
        let on_page = page.iter().any(|t| t.digest == m.digest);
        // Untagged manifests show on the last page.
        if !(on_page || tags.is_empty() && !more) {
            continue;
        }
        let bytes = shared.registry.blob(&m.digest).unwrap_or_default();
        let manifest: serde_json::Value = serde_json::from_slice(&bytes).unwrap_or(json!({}));
        let media_type = manifest["mediaType"]
            .as_str()
            .unwrap_or("application/vnd.oci.image.manifest.v1+json");
        map.insert(
            m.digest.clone(),
            json!({
                "imageSizeBytes": bytes.len().to_string(),
                "layerId": "",
                "mediaType": media_type,
                "tag": tags,
                "timeCreatedMs": ms(m.pushed),
                "timeUploadedMs": ms(m.pushed),
            }),
        );
    }
    shared.counters.list_pages.fetch_add(1, Ordering::SeqCst);
    let body = json!({
        "child": [],
        "manifest": map,
        "name": name,
        "tags": page.iter().map(|t| t.name.clone()).collect::<Vec<_>>(),
    });
    let mut response = axum::Json(body).into_response();
    if more {
        let next = format!(
            "</v2/{name}/tags/list?n={n}&last={}>; rel=\"next\"",
            page.last().unwrap().name
        );
        response.headers_mut().insert("link", next.parse().unwrap());
    }
    response
}

/// The JWT bearer grant at a service-account key's `token_uri`.
async fn oauth(shared: &Shared, request: Request) -> Response {
    let refuse = |why: &str| {
        (
            StatusCode::BAD_REQUEST,
            axum::Json(json!({"error": "invalid_grant", "error_description": why})),
        )
            .into_response()
    };
    let form_type = request
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string();
    let body = axum::body::to_bytes(request.into_body(), 1 << 20)
        .await
        .unwrap();
    if form_type != "application/x-www-form-urlencoded" {
        return refuse("not a form");
    }
    let form: HashMap<String, String> = url::form_urlencoded::parse(&body).into_owned().collect();
    if form.get("grant_type").map(String::as_str)
        != Some("urn:ietf:params:oauth:grant-type:jwt-bearer")
    {
        return refuse("unsupported grant_type");
    }
    let Some(assertion) = form.get("assertion") else {
        return refuse("no assertion");
    };
    let parts: Vec<&str> = assertion.split('.').collect();
    let [header, claims, signature] = parts[..] else {
        return refuse("Invalid JWT: not three parts");
    };
    let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let (Ok(header_json), Ok(claims_json), Ok(signature)) = (
        b64.decode(header),
        b64.decode(claims),
        b64.decode(signature),
    ) else {
        return refuse("Invalid JWT: not base64url");
    };
    let key = public_key();
    let verified =
        ring::signature::UnparsedPublicKey::new(&ring::signature::RSA_PKCS1_2048_8192_SHA256, &key)
            .verify(format!("{header}.{claims}").as_bytes(), &signature);
    if verified.is_err() {
        return refuse("Invalid JWT Signature.");
    }
    let header: serde_json::Value = serde_json::from_slice(&header_json).unwrap_or_default();
    let claims: serde_json::Value = serde_json::from_slice(&claims_json).unwrap_or_default();
    let now = chrono::Utc::now().timestamp();
    let public = shared.public.get().unwrap();
    let (iat, exp) = (
        claims["iat"].as_i64().unwrap_or(0),
        claims["exp"].as_i64().unwrap_or(0),
    );
    if header["alg"] != "RS256"
        || claims["iss"] != SA_EMAIL
        || claims["aud"] != format!("{public}/oauth2/token")
        || claims["scope"] != "https://www.googleapis.com/auth/cloud-platform"
        || iat > now + 60
        || exp <= now
        || exp - iat > 3600
    {
        return refuse("Invalid JWT: claims");
    }
    shared.counters.oauth_grants.fetch_add(1, Ordering::SeqCst);
    axum::Json(json!({"access_token": ACCESS_FROM_KEY, "expires_in": 3599, "token_type": "Bearer"}))
        .into_response()
}
