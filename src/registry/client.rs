//! The Distribution (OCI registry HTTP API v2) client: one [`Client`] per registry host, which
//! hands out [`Repository`] handles sharing its transport (connection pool, concurrency limit,
//! request counters) and its authentication state (learned challenge, tokens per repository).
//!
//! Authentication follows the registry: the first request goes out anonymously; a 401 teaches
//! the client the scheme. Basic credentials are then sent with every request; for Bearer, a
//! token is fetched per repository with the accumulated scope (`pull`, then `pull,delete` when
//! a delete is asked for…) and reused until shortly before it expires. Token fetches are
//! single-flight: concurrent requests wait for one fetch instead of each starting their own.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, LazyLock, OnceLock};
use std::time::Instant;

use async_trait::async_trait;
use base64::Engine;
use reqwest::{Method, StatusCode};
use tokio::sync::{Mutex, OnceCell};
use url::Url;

use super::auth::{self, Challenge, Scopes, Token};
use super::credentials::{self, CredentialSource, Credentials};
use super::http::{BodyLimit, Http, Reply, Request, RequestCounts, detail_of};
use super::model::media_type;
use super::providers::ContainerRegistry;
use super::reference;
use super::{
    Capabilities, Descriptor, Digest, Error, ImageConfig, Manifest, RegistryOptions, Repository,
    UntagMethod,
};
use crate::secret::Secret;

/// Page size asked for on tag and catalog lists (ECR rejects more than 1000).
const PAGE_SIZE: usize = 1000;
/// Most pages of one listing (tags, catalog, referrers) berth follows: at [`PAGE_SIZE`] per
/// page that is ten million names, and a server that pages forever stops here.
pub const MAX_PAGES: usize = 10_000;

static SEGMENT: LazyLock<regex::Regex> = LazyLock::new(|| {
    regex::Regex::new(r"^[A-Za-z0-9_][A-Za-z0-9_.:-]{0,254}$").expect("valid regex")
});

/// The only way a name becomes part of a request path. Tags, digests and repository path
/// components are all one segment of letters, digits, `_`, `.`, `-` and `:` that starts with a
/// letter, digit or `_`; anything else (empty, `.`, `..`, `/`, `%2F`, `\`, `?`, `#`, a newline)
/// is refused rather than encoded, since a registry may decode `%2F` back into a path and the
/// URL standard reads `%2e%2e` as `..`.
pub fn segment<'a>(text: &'a str, what: &str) -> Result<&'a str, Error> {
    if SEGMENT.is_match(text) {
        return Ok(text);
    }
    Err(Error::InvalidName {
        name: text.escape_default().to_string(),
        what: what.to_string(),
        why: "a request path segment must be 1 to 255 letters, digits, `_`, `.`, `-` or `:`, starting with a letter, digit or `_`".into(),
    })
}

/// A tag or a digest, checked against its grammar before it names a manifest in a request.
fn tag_or_digest(reference: &str) -> Result<&str, Error> {
    if reference.contains(':') {
        Digest::parse(reference).map_err(|e| Error::InvalidName {
            name: reference.escape_default().to_string(),
            what: "digest".into(),
            why: e.to_string(),
        })?;
    } else if !reference::is_tag(reference) {
        return Err(Error::InvalidName {
            name: reference.escape_default().to_string(),
            what: "tag".into(),
            why: reference::TAG_RULE.into(),
        });
    }
    segment(reference, "tag or digest")
}

/// A tag (never a digest: untagging by digest would delete the manifest).
fn tag_only(tag: &str) -> Result<&str, Error> {
    if !reference::is_tag(tag) {
        return Err(Error::InvalidName {
            name: tag.escape_default().to_string(),
            what: "tag".into(),
            why: reference::TAG_RULE.into(),
        });
    }
    segment(tag, "tag")
}

/// The pages of one listing read so far: a page named twice is a loop, and more than
/// [`MAX_PAGES`] pages is a listing that never ends.
#[derive(Default)]
struct Pages {
    seen: HashSet<Url>,
}

impl Pages {
    fn visit(&mut self, url: &Url) -> Result<(), Error> {
        if !self.seen.insert(url.clone()) {
            return Err(Error::PageLoop {
                url: url.to_string(),
            });
        }
        if self.seen.len() > MAX_PAGES {
            return Err(Error::TooManyPages {
                url: url.to_string(),
                pages: self.seen.len() - 1,
                max: MAX_PAGES,
            });
        }
        Ok(())
    }
}

/// One registry host.
pub struct Client {
    /// The registry as the user names it (`docker.io`, `localhost:5000`).
    registry: String,
    /// The host serving the API (`registry-1.docker.io` for Docker Hub).
    api_host: String,
    /// Plain HTTP may be used when https does not answer.
    http_allowed: bool,
    http: Http,
    base: OnceCell<Url>,
    docker_config: Option<std::path::PathBuf>,
    credentials: OnceCell<Option<Credentials>>,
    /// The provider's login for when the docker config holds none (see [`CredentialSource`]).
    credential_source: OnceLock<Arc<dyn CredentialSource>>,
    auth: Mutex<AuthState>,
}

#[derive(Default)]
struct AuthState {
    /// The challenge the registry answered with, once one was seen.
    challenge: Option<Challenge>,
    /// Scopes requested so far, per token key (the repository path; "" for registry-wide).
    scopes: HashMap<String, Scopes>,
    /// Tokens per token key.
    tokens: HashMap<String, Token>,
}

/// The action a method needs in a token scope (distribution's mapping).
fn action_of(method: &Method) -> &'static str {
    match *method {
        Method::GET | Method::HEAD => "pull",
        Method::DELETE => "delete",
        _ => "push",
    }
}

impl Client {
    /// A client for `host` (`host[:port]` as in a reference; `docker.io` means Docker Hub).
    /// Credentials come from the docker config in `options`, read when first needed.
    pub fn new(host: &str, options: &RegistryOptions) -> Result<Client, Error> {
        Client::build(host, options, None)
    }

    /// A client that uses `credentials` instead of the docker config (for `login`).
    pub fn with_credentials(
        host: &str,
        options: &RegistryOptions,
        credentials: Credentials,
    ) -> Result<Client, Error> {
        Client::build(host, options, Some(credentials))
    }

    fn build(
        host: &str,
        options: &RegistryOptions,
        credentials: Option<Credentials>,
    ) -> Result<Client, Error> {
        let api_host = reference::api_host(host).to_string();
        let http_allowed = is_loopback(&api_host)
            || options
                .insecure_hosts
                .iter()
                .any(|h| h == host || h == &api_host);
        let http = Http::new(&api_host, options)?;
        let preset = OnceCell::new();
        if let Some(c) = credentials {
            remember_secrets(&http, &c);
            preset.set(Some(c)).expect("fresh cell");
        }
        Ok(Client {
            registry: host.to_string(),
            api_host,
            http_allowed,
            http,
            base: OnceCell::new(),
            docker_config: options.docker_config.clone(),
            credentials: preset,
            credential_source: OnceLock::new(),
            auth: Mutex::new(AuthState::default()),
        })
    }

    /// Makes `source` the login of this host wherever the docker config has none. The first
    /// source set stays: providers open repositories of one host with the same source.
    pub fn fall_back_to(&self, source: Arc<dyn CredentialSource>) {
        let _ = self.credential_source.set(source);
    }

    /// The source set by [`Client::fall_back_to`], if any.
    pub fn credential_source(&self) -> Option<&Arc<dyn CredentialSource>> {
        self.credential_source.get()
    }

    /// A repository on this host (`library/nginx`, `team/app`) as a plain Distribution
    /// registry.
    pub fn repository(self: &Arc<Self>, path: &str) -> Arc<dyn Repository> {
        self.distribution(path, ContainerRegistry::Default.capabilities())
    }

    /// A repository on this host with the capabilities of the implementation behind it.
    pub fn distribution(
        self: &Arc<Self>,
        path: &str,
        capabilities: Capabilities,
    ) -> Arc<DistributionRepository> {
        Arc::new(DistributionRepository {
            client: self.clone(),
            name: format!("{}/{}", self.registry, path),
            path: path.to_string(),
            capabilities,
        })
    }

    /// The registry as the user names it.
    pub fn registry(&self) -> &str {
        &self.registry
    }

    /// `https://host/` (or `http://` where the host is reached that way), once decided: the
    /// base of the registry's own endpoints beside `/v2/` (ACR's `/oauth2/exchange`).
    pub async fn base_url(&self) -> Result<Url, Error> {
        self.base().await.cloned()
    }

    /// The user name of the login in use, once one was read (for messages).
    pub fn login_name(&self) -> Option<String> {
        self.credentials
            .get()
            .and_then(Option::as_ref)
            .map(|c| c.username().to_string())
    }

    /// Requests this client has sent so far, per method.
    pub fn request_counts(&self) -> RequestCounts {
        self.http.counts()
    }

    /// Logs the request counts at debug level.
    pub fn log_request_counts(&self) {
        let c = self.request_counts();
        tracing::debug!(
            registry = %self.registry,
            total = c.total(),
            get = c.get,
            head = c.head,
            put = c.put,
            post = c.post,
            delete = c.delete,
            "HTTP requests sent"
        );
    }

    /// `https://host/`, or `http://host/` for a loopback or `--insecure-registry` host that
    /// does not speak TLS (decided once, by trying https first, as docker does).
    async fn base(&self) -> Result<&Url, Error> {
        self.base
            .get_or_try_init(|| async {
                let https = self.url_for("https")?;
                if !self.http_allowed {
                    return Ok(https);
                }
                let probe = Request::new(Method::GET, https.join("v2/").expect("valid path"));
                match self.http.send_once(&probe).await {
                    Ok(reply) => {
                        self.learn_challenge(&reply).await;
                        Ok(https)
                    }
                    Err(Error::Tls { .. } | Error::Unreachable { .. }) => {
                        tracing::debug!(host = %self.api_host, "no TLS here; using plain HTTP");
                        self.url_for("http")
                    }
                    Err(e) => Err(e),
                }
            })
            .await
    }

    fn url_for(&self, scheme: &str) -> Result<Url, Error> {
        Url::parse(&format!("{scheme}://{}/", self.api_host)).map_err(|e| Error::ClientSetup {
            host: self.registry.clone(),
            why: format!("`{}` does not make a URL ({e})", self.api_host),
        })
    }

    async fn url(&self, path: &str) -> Result<Url, Error> {
        let base = self.base().await?;
        base.join(path).map_err(|e| Error::ClientSetup {
            host: self.registry.clone(),
            why: format!("bad request path `{path}` ({e})"),
        })
    }

    async fn learn_challenge(&self, reply: &Reply) {
        if reply.status != StatusCode::UNAUTHORIZED {
            return;
        }
        if let Some(c) = reply
            .header("www-authenticate")
            .map(auth::parse_challenges)
            .and_then(|cs| auth::pick(&cs).cloned())
        {
            let mut state = self.auth.lock().await;
            if state.challenge.is_none() {
                state.challenge = Some(c);
            }
        }
    }

    async fn credentials(&self) -> Result<Option<&Credentials>, Error> {
        let creds = self
            .credentials
            .get_or_try_init(|| async {
                let dir = self.docker_config.clone();
                let registry = self.registry.clone();
                let found = tokio::task::spawn_blocking(move || {
                    credentials::lookup(dir.as_deref(), &registry)
                })
                .await
                .map_err(|e| Error::ClientSetup {
                    host: self.registry.clone(),
                    why: format!("credential lookup did not finish ({e})"),
                })??;
                let found = match (found, self.credential_source.get()) {
                    (None, Some(source)) => source.credentials().await?,
                    (found, _) => found,
                };
                if let Some(c) = &found {
                    remember_secrets(&self.http, c);
                }
                Ok::<_, Error>(found)
            })
            .await?;
        Ok(creds.as_ref())
    }

    /// Sends a request for `repository` ("" for registry-wide paths), authenticating as the
    /// registry demands, and maps 401/403 to clear errors. Other statuses are the caller's.
    async fn send(&self, repository: &str, request: Request) -> Result<Reply, Error> {
        let action = action_of(&request.method);
        let mut fetched_for_this_request = false;
        loop {
            let authorization = self.authorization(repository, action).await?;
            let mut attempt = request.clone();
            if let Some(value) = &authorization {
                attempt = attempt.sensitive_header("authorization", value.expose());
            }
            let reply = self.http.send(&attempt).await?;
            if reply.status == StatusCode::FORBIDDEN {
                return Err(self.denied(repository, action, &reply));
            }
            if reply.status != StatusCode::UNAUTHORIZED {
                return Ok(reply);
            }
            let challenges = reply
                .header("www-authenticate")
                .map(auth::parse_challenges)
                .unwrap_or_default();
            let Some(challenge) = auth::pick(&challenges).cloned() else {
                if authorization.is_none() {
                    return Err(self.unsupported_auth(&reply, &challenges));
                }
                return Err(self.unauthorized(repository, &request, &reply).await);
            };
            if challenge.is_basic() {
                let mut state = self.auth.lock().await;
                let known_basic = state.challenge.as_ref().is_some_and(Challenge::is_basic);
                state.challenge = Some(challenge);
                drop(state);
                if known_basic || authorization.is_some() {
                    return Err(self.unauthorized(repository, &request, &reply).await);
                }
                if self.credentials().await?.is_none() {
                    return Err(Error::NoCredentials {
                        host: self.registry.clone(),
                        what: what_of(repository),
                    });
                }
                continue;
            }
            // Bearer: widen the scopes with what the registry asked for, fetch a token, retry
            // once; a second refusal is final.
            if fetched_for_this_request {
                if challenge.insufficient_scope() || authorization.is_some() {
                    return Err(self.denied(repository, action, &reply));
                }
                return Err(self.unauthorized(repository, &request, &reply).await);
            }
            let mut state = self.auth.lock().await;
            state.challenge = Some(challenge.clone());
            let scopes = state.scopes.entry(repository.to_string()).or_default();
            if !repository.is_empty() {
                scopes.add_action(repository, action);
            }
            for scope in challenge.scopes() {
                scopes.add_scope(&scope);
            }
            let scopes = scopes.clone();
            let token = self.fetch_token(&challenge, &scopes).await?;
            state.tokens.insert(repository.to_string(), token);
            drop(state);
            fetched_for_this_request = true;
        }
    }

    /// The `Authorization` value to send, fetching a token first when the registry is known
    /// to want one and the cached one is missing, stale or lacks `action`.
    async fn authorization(&self, repository: &str, action: &str) -> Result<Option<Secret>, Error> {
        let mut state = self.auth.lock().await;
        let Some(challenge) = state.challenge.clone() else {
            return Ok(None);
        };
        if challenge.is_basic() {
            drop(state);
            return Ok(match self.credentials().await? {
                Some(Credentials::Basic { username, password }) => Some(basic(username, password)),
                Some(Credentials::IdentityToken { .. }) | None => None,
            });
        }
        let entry = state.scopes.entry(repository.to_string()).or_default();
        let widened = !repository.is_empty() && entry.add_action(repository, action);
        let scopes = entry.clone();
        if let Some(token) = state.tokens.get(repository) {
            if token.is_fresh() && !widened {
                return Ok(Some(Secret::new(format!(
                    "Bearer {}",
                    token.value.expose()
                ))));
            }
        }
        let token = self.fetch_token(&challenge, &scopes).await?;
        let header = Secret::new(format!("Bearer {}", token.value.expose()));
        state.tokens.insert(repository.to_string(), token);
        Ok(Some(header))
    }

    /// Gets a token from the challenge's realm for `scopes`: GET with Basic credentials, or the
    /// OAuth POST form with an identity token.
    async fn fetch_token(&self, challenge: &Challenge, scopes: &Scopes) -> Result<Token, Error> {
        let realm = challenge.param("realm").unwrap_or_default().to_string();
        let service_error = |why: String| Error::TokenService {
            host: self.registry.clone(),
            realm: realm.clone(),
            why,
        };
        let mut url = Url::parse(&realm)
            .map_err(|e| service_error(format!("the challenge's realm is not a URL ({e})")))?;
        let creds = self.credentials().await?.cloned();
        let request = match &creds {
            Some(Credentials::IdentityToken { token, .. }) => {
                let mut form = url::form_urlencoded::Serializer::new(String::new());
                form.append_pair("grant_type", "refresh_token")
                    .append_pair("refresh_token", token.expose())
                    .append_pair("client_id", "berth");
                if let Some(service) = challenge.param("service") {
                    form.append_pair("service", service);
                }
                let scope = scopes.to_params().join(" ");
                if !scope.is_empty() {
                    form.append_pair("scope", &scope);
                }
                Request::new(Method::POST, url)
                    .header("content-type", "application/x-www-form-urlencoded")
                    .body(form.finish().into_bytes())
            }
            _ => {
                {
                    let mut query = url.query_pairs_mut();
                    if let Some(service) = challenge.param("service") {
                        query.append_pair("service", service);
                    }
                    for scope in scopes.to_params() {
                        query.append_pair("scope", &scope);
                    }
                }
                if url.query() == Some("") {
                    url.set_query(None);
                }
                let mut request = Request::new(Method::GET, url);
                if let Some(Credentials::Basic { username, password }) = &creds {
                    request = request
                        .sensitive_header("authorization", basic(username, password).expose());
                }
                request
            }
        };
        let received = Instant::now();
        let reply = self.http.send(&request.limit(BodyLimit::Token)).await?;
        match reply.status.as_u16() {
            200 => {
                let token = auth::parse_token(&reply.body, received)
                    .map_err(|why| service_error(self.http.redactor().redact(&why)))?;
                self.http.redactor().add(token.value.expose());
                Ok(token)
            }
            401 | 403 => Err(match &creds {
                Some(c) => Error::WrongCredentials {
                    host: self.registry.clone(),
                    username: c.username().to_string(),
                    detail: reply.detail(),
                },
                None => Error::NoCredentials {
                    host: self.registry.clone(),
                    what: scopes.to_params().join(" "),
                },
            }),
            status => Err(service_error(format!(
                "it answered {status}{}",
                reply.detail()
            ))),
        }
    }

    async fn unauthorized(&self, repository: &str, request: &Request, reply: &Reply) -> Error {
        match self.credentials().await {
            Ok(Some(c)) => Error::WrongCredentials {
                host: self.registry.clone(),
                username: c.username().to_string(),
                detail: reply.detail(),
            },
            Ok(None) => Error::NoCredentials {
                host: self.registry.clone(),
                what: if repository.is_empty() {
                    request.url.path().to_string()
                } else {
                    what_of(repository)
                },
            },
            Err(e) => e,
        }
    }

    /// A 401 without a Basic or Bearer challenge, to a request that carried no credentials.
    fn unsupported_auth(&self, reply: &Reply, challenges: &[Challenge]) -> Error {
        let scheme = match reply.header("www-authenticate") {
            None => "the 401 has no WWW-Authenticate header naming one".to_string(),
            Some(h) if h.trim().is_empty() || challenges.is_empty() => {
                "the 401 has an empty WWW-Authenticate header".to_string()
            }
            Some(_) => challenges
                .iter()
                .map(|c| format!("`{}`", scheme_name(&c.scheme)))
                .collect::<Vec<_>>()
                .join(", "),
        };
        Error::UnsupportedAuth {
            host: self.registry.clone(),
            scheme,
        }
    }

    fn denied(&self, repository: &str, action: &str, reply: &Reply) -> Error {
        Error::Denied {
            host: self.registry.clone(),
            repository: repository.to_string(),
            action: action.to_string(),
            detail: reply.detail(),
        }
    }

    /// `GET /v2/`: checks that the host is a registry and that berth may use it (with the
    /// docker config's credentials).
    pub async fn ping(&self) -> Result<(), Error> {
        let url = self.url("v2/").await?;
        let reply = self
            .send("", Request::new(Method::GET, url.clone()))
            .await?;
        match reply.status.as_u16() {
            200 => Ok(()),
            404 => Err(Error::NotARegistry {
                host: self.registry.clone(),
                url: url.to_string(),
                status: 404,
            }),
            status => Err(Error::Status {
                method: "GET".into(),
                url: url.to_string(),
                status,
                detail: reply.detail(),
            }),
        }
    }

    /// Checks a login the way `docker login` does: `GET /v2/`; on a Basic challenge retry with
    /// Basic, on a Bearer challenge get a token from the realm with the credentials (and try
    /// `/v2/` with it). Succeeds only when the registry or its token service accepted them
    /// (or when the registry wants no authentication at all).
    pub async fn verify_login(&self) -> Result<(), Error> {
        let url = self.url("v2/").await?;
        let creds = self.credentials().await?.cloned();
        let Some(creds) = creds else {
            return Err(Error::NoCredentials {
                host: self.registry.clone(),
                what: "login".into(),
            });
        };
        let username = creds.username().to_string();
        let wrong = |reply: &Reply| Error::WrongCredentials {
            host: self.registry.clone(),
            username: username.clone(),
            detail: reply.detail(),
        };
        let reply = self
            .http
            .send(&Request::new(Method::GET, url.clone()))
            .await?;
        let check_v2 = |reply: &Reply| match reply.status.as_u16() {
            200 => Ok(()),
            401 | 403 => Err(wrong(reply)),
            404 => Err(Error::NotARegistry {
                host: self.registry.clone(),
                url: url.to_string(),
                status: 404,
            }),
            status => Err(Error::Status {
                method: "GET".into(),
                url: url.to_string(),
                status,
                detail: reply.detail(),
            }),
        };
        if reply.status != StatusCode::UNAUTHORIZED {
            if reply.status == StatusCode::OK {
                tracing::debug!(registry = %self.registry, "the registry asks for no authentication");
            }
            return check_v2(&reply);
        }
        let challenges = reply
            .header("www-authenticate")
            .map(auth::parse_challenges)
            .unwrap_or_default();
        let Some(challenge) = auth::pick(&challenges).cloned() else {
            return Err(self.unsupported_auth(&reply, &challenges));
        };
        let authorization = if challenge.is_basic() {
            match &creds {
                Credentials::Basic { username, password } => basic(username, password),
                Credentials::IdentityToken { .. } => {
                    return Err(Error::Unsupported {
                        host: self.registry.clone(),
                        operation: "identity-token login".into(),
                        detail: String::new(),
                        hint: "it only accepts a user name and password".into(),
                    });
                }
            }
        } else {
            let mut scopes = Scopes::default();
            for scope in challenge.scopes() {
                scopes.add_scope(&scope);
            }
            let token = self.fetch_token(&challenge, &scopes).await?;
            Secret::new(format!("Bearer {}", token.value.expose()))
        };
        let retry = Request::new(Method::GET, url.clone())
            .sensitive_header("authorization", authorization.expose());
        let reply = self.http.send(&retry).await?;
        check_v2(&reply)?;
        let mut state = self.auth.lock().await;
        state.challenge = Some(challenge);
        Ok(())
    }

    /// Repository names from `/v2/_catalog`, following pagination (needs the
    /// `registry:catalog:*` scope, which most hosted registries refuse).
    pub async fn catalog(&self) -> Result<Vec<String>, Error> {
        #[derive(serde::Deserialize)]
        struct Page {
            #[serde(default)]
            repositories: Option<Vec<String>>,
        }
        {
            let mut state = self.auth.lock().await;
            state
                .scopes
                .entry(String::new())
                .or_default()
                .add_scope("registry:catalog:*");
        }
        let mut url = self.url(&format!("v2/_catalog?n={PAGE_SIZE}")).await?;
        let mut names = Vec::new();
        let mut pages = Pages::default();
        loop {
            pages.visit(&url)?;
            let reply = self
                .send("", Request::new(Method::GET, url.clone()))
                .await?;
            self.expect_ok(&reply, "GET", "the repository catalog")?;
            let page: Page =
                serde_json::from_slice(&reply.body).map_err(|e| Error::BadResponse {
                    url: url.to_string(),
                    why: format!("not a catalog page ({e})"),
                })?;
            names.extend(page.repositories.unwrap_or_default());
            match next_link(&reply, &url)? {
                Some(next) => url = next,
                None => return Ok(names),
            }
        }
    }

    fn expect_ok(&self, reply: &Reply, method: &str, what: &str) -> Result<(), Error> {
        match reply.status.as_u16() {
            200..=299 => Ok(()),
            404 => Err(Error::NotFound {
                host: self.registry.clone(),
                what: what.to_string(),
                detail: reply.detail(),
            }),
            status => Err(Error::Status {
                method: method.to_string(),
                url: reply.url.to_string(),
                status,
                detail: reply.detail(),
            }),
        }
    }
}

/// A challenge scheme as registries and browsers write it.
fn scheme_name(lowercase: &str) -> String {
    match lowercase {
        "ntlm" => "NTLM".into(),
        other => {
            let mut chars = other.chars();
            chars.next().map_or_else(String::new, |c| {
                c.to_ascii_uppercase().to_string() + chars.as_str()
            })
        }
    }
}

/// Makes the transport cut these credentials, in every form, from the bodies it quotes.
fn remember_secrets(http: &Http, credentials: &Credentials) {
    let redactor = http.redactor();
    match credentials {
        Credentials::Basic { username, password } => {
            redactor.add_login(username, password.expose());
        }
        Credentials::IdentityToken { username, token } => {
            redactor.add_login(username, token.expose());
        }
    }
}

fn what_of(repository: &str) -> String {
    format!("repository `{repository}`")
}

fn basic(username: &str, password: &Secret) -> Secret {
    Secret::new(format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD
            .encode(format!("{username}:{}", password.expose()))
    ))
}

/// True for `localhost`, `127.0.0.0/8` and `::1`, with or without a port.
pub fn is_loopback(host: &str) -> bool {
    if let Ok(ip) = host.parse::<std::net::IpAddr>() {
        return ip.is_loopback();
    }
    let name = if let Some(rest) = host.strip_prefix('[') {
        rest.split(']').next().unwrap_or("")
    } else {
        host.rsplit_once(':')
            .filter(|(_, port)| port.chars().all(|c| c.is_ascii_digit()))
            .map_or(host, |(name, _)| name)
    };
    if name.eq_ignore_ascii_case("localhost") {
        return true;
    }
    name.parse::<std::net::IpAddr>()
        .is_ok_and(|ip| ip.is_loopback())
}

/// The `rel="next"` target of a reply's `Link` header, resolved against the page URL;
/// a link to another host is refused.
fn next_link(reply: &Reply, page: &Url) -> Result<Option<Url>, Error> {
    let Some(header) = reply.header("link") else {
        return Ok(None);
    };
    let Some(target) = parse_next_link(header) else {
        return Ok(None);
    };
    same_listing(page, &target).map(Some)
}

/// `next` (a next-page link, relative or absolute), resolved against `page`, when it stays on
/// the same listing: scheme, host, port and path. A listing pages through one endpoint; a
/// link elsewhere (another repository's manifests, another host, which would get the
/// credentials) is not a next page. Every paginated API berth follows goes through here.
pub fn same_listing(page: &Url, next: &str) -> Result<Url, Error> {
    let url = page.join(next).map_err(|e| Error::BadResponse {
        url: page.to_string(),
        why: format!("the next-page link `{next}` is not a URL ({e})"),
    })?;
    if url.host_str() != page.host_str()
        || url.port_or_known_default() != page.port_or_known_default()
        || url.scheme() != page.scheme()
        || url.path() != page.path()
    {
        return Err(Error::ForeignLink {
            url: page.to_string(),
            link: url.to_string(),
        });
    }
    Ok(url)
}

/// The URL of the `rel="next"` entry of a `Link` header (RFC 8288), as written.
pub fn parse_next_link(header: &str) -> Option<String> {
    for entry in split_links(header) {
        let entry = entry.trim();
        let Some(rest) = entry.strip_prefix('<') else {
            continue;
        };
        let Some((target, params)) = rest.split_once('>') else {
            continue;
        };
        let is_next = params.split(';').any(|p| {
            let p = p.trim();
            p.split_once('=').is_some_and(|(k, v)| {
                k.trim().eq_ignore_ascii_case("rel")
                    && v.trim()
                        .trim_matches('"')
                        .split_whitespace()
                        .any(|r| r.eq_ignore_ascii_case("next"))
            })
        });
        if is_next {
            return Some(target.to_string());
        }
    }
    None
}

/// Splits a `Link` header at the commas between entries (not those inside `<…>` or quotes).
fn split_links(header: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let (mut start, mut in_angle, mut in_quote) = (0, false, false);
    for (i, c) in header.char_indices() {
        match c {
            '<' if !in_quote => in_angle = true,
            '>' if !in_quote => in_angle = false,
            '"' if !in_angle => in_quote = !in_quote,
            ',' if !in_angle && !in_quote => {
                out.push(&header[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    out.push(&header[start..]);
    out
}

/// One repository of a Distribution registry.
/// One repository through the Distribution API. Providers wrap it: every registry serves
/// manifests, configs and pushes this way, even where deleting needs the platform's API.
pub struct DistributionRepository {
    client: Arc<Client>,
    name: String,
    path: String,
    capabilities: Capabilities,
}

impl DistributionRepository {
    /// `…/v2/<repository>/<tail…>[?query]`, every segment through [`segment`].
    async fn url(&self, tail: &[&str], query: Option<&str>) -> Result<Url, Error> {
        let mut url = self.client.base().await?.clone();
        let mut names = Vec::with_capacity(tail.len() + 4);
        for component in self.path.split('/') {
            names.push(segment(component, "repository path component")?);
        }
        for part in tail {
            names.push(segment(part, "request path segment")?);
        }
        let shown = url.to_string();
        url.path_segments_mut()
            .map_err(|()| Error::ClientSetup {
                host: self.client.registry.clone(),
                why: format!("`{shown}` cannot take a path"),
            })?
            .pop_if_empty()
            .push("v2")
            .extend(names);
        url.set_query(query);
        Ok(url)
    }

    async fn send(&self, request: Request) -> Result<Reply, Error> {
        self.client.send(&self.path, request).await
    }

    fn not_found(&self, what: String, reply: &Reply) -> Error {
        Error::NotFound {
            host: self.client.registry.clone(),
            what,
            detail: reply.detail(),
        }
    }

    fn status(&self, method: &str, reply: &Reply) -> Error {
        Error::Status {
            method: method.to_string(),
            url: reply.url.to_string(),
            status: reply.status.as_u16(),
            detail: reply.detail(),
        }
    }

    fn manifest_request(&self, method: Method, url: Url) -> Request {
        Request::new(method, url)
            .header("accept", &media_type::ACCEPT_ALL.join(", "))
            .limit(BodyLimit::Manifest)
    }

    /// PUTs manifest bytes under `reference` (tag or digest); returns the stored digest.
    async fn put_manifest(
        &self,
        reference: &str,
        media_type: &str,
        bytes: Vec<u8>,
    ) -> Result<Digest, Error> {
        let url = self
            .url(&["manifests", tag_or_digest(reference)?], None)
            .await?;
        let computed = Digest::of_bytes(&bytes);
        let reply = self
            .send(
                Request::new(Method::PUT, url)
                    .header("content-type", media_type)
                    .body(bytes),
            )
            .await?;
        if !reply.status.is_success() {
            return Err(self.status("PUT", &reply));
        }
        Ok(reply
            .header("docker-content-digest")
            .and_then(|d| Digest::parse(d).ok())
            .unwrap_or(computed))
    }

    /// Uploads a small blob in one request (`POST …/blobs/uploads/?digest=`), falling back
    /// to POST + PUT for registries that do not take monolithic POSTs.
    async fn push_blob(&self, bytes: Vec<u8>) -> Result<Digest, Error> {
        let digest = Digest::of_bytes(&bytes);
        let mut url = self
            .url(&["blobs", "uploads"], Some(&format!("digest={digest}")))
            .await?;
        if let Ok(mut path) = url.path_segments_mut() {
            path.push("");
        }
        let reply = self
            .send(
                Request::new(Method::POST, url)
                    .header("content-type", "application/octet-stream")
                    .body(bytes.clone()),
            )
            .await?;
        if reply.status == StatusCode::CREATED {
            return Ok(digest);
        }
        if reply.status != StatusCode::ACCEPTED {
            return Err(self.status("POST", &reply));
        }
        let location = reply.header("location").ok_or_else(|| Error::BadResponse {
            url: reply.url.to_string(),
            why: "a blob upload answer without Location".into(),
        })?;
        let mut put = reply.url.join(location).map_err(|e| Error::BadResponse {
            url: reply.url.to_string(),
            why: format!("the upload Location `{location}` is not a URL ({e})"),
        })?;
        put.query_pairs_mut().append_pair("digest", digest.as_str());
        let reply = self
            .send(
                Request::new(Method::PUT, put)
                    .header("content-type", "application/octet-stream")
                    .body(bytes),
            )
            .await?;
        if reply.status != StatusCode::CREATED {
            return Err(self.status("PUT", &reply));
        }
        Ok(digest)
    }

    /// A tiny manifest no one else has (a random nonce in it), of the same family as
    /// `current`: an empty index for index tags; an image with a one-off config otherwise.
    async fn dummy_manifest(&self, current: &Manifest) -> Result<(String, Vec<u8>), Error> {
        let nonce = format!("{:016x}{:016x}", fastrand::u64(..), fastrand::u64(..));
        let docker = current.media_type.starts_with("application/vnd.docker.");
        if current.is_index() {
            let (mt, body) = if docker {
                (
                    media_type::DOCKER_LIST,
                    format!(
                        r#"{{"schemaVersion":2,"mediaType":"{}","manifests":[],"berth.dummy":"{nonce}"}}"#,
                        media_type::DOCKER_LIST
                    ),
                )
            } else {
                (
                    media_type::OCI_INDEX,
                    format!(
                        r#"{{"schemaVersion":2,"mediaType":"{}","manifests":[],"annotations":{{"berth.dummy":"{nonce}"}}}}"#,
                        media_type::OCI_INDEX
                    ),
                )
            };
            return Ok((mt.to_string(), body.into_bytes()));
        }
        let config = format!(r#"{{"berth.dummy":"{nonce}"}}"#).into_bytes();
        let size = config.len();
        let config_digest = self.push_blob(config).await?;
        let (mt, config_type) = if docker {
            (media_type::DOCKER_MANIFEST, media_type::DOCKER_CONFIG)
        } else {
            (media_type::OCI_MANIFEST, media_type::OCI_CONFIG)
        };
        let body = format!(
            r#"{{"schemaVersion":2,"mediaType":"{mt}","config":{{"mediaType":"{config_type}","digest":"{config_digest}","size":{size}}},"layers":[]}}"#
        );
        Ok((mt.to_string(), body.into_bytes()))
    }
}

#[async_trait]
impl Repository for DistributionRepository {
    fn name(&self) -> &str {
        &self.name
    }

    /// Those of the implementation it was opened as. On plain Distribution the OCI tag delete
    /// is tried first on every untag, and the referrers API on every lookup, so neither is
    /// promised.
    fn capabilities(&self) -> Capabilities {
        self.capabilities
    }

    async fn list_tags(&self) -> Result<Vec<String>, Error> {
        #[derive(serde::Deserialize)]
        struct Page {
            #[serde(default)]
            tags: Option<Vec<String>>,
        }
        let mut tags = Vec::new();
        for (url, body) in self.tag_list_pages(PAGE_SIZE).await? {
            let page: Page = serde_json::from_slice(&body).map_err(|e| Error::BadResponse {
                url: url.to_string(),
                why: format!("not a tag list ({e})"),
            })?;
            tags.extend(page.tags.unwrap_or_default());
        }
        tracing::debug!(repository = %self.name, tags = tags.len(), "listed tags");
        Ok(tags)
    }

    async fn manifest(&self, reference: &str) -> Result<Manifest, Error> {
        let url = self
            .url(&["manifests", tag_or_digest(reference)?], None)
            .await?;
        let reply = self.send(self.manifest_request(Method::GET, url)).await?;
        if reply.status == StatusCode::NOT_FOUND {
            return Err(self.not_found(format!("manifest `{}:{reference}`", self.name), &reply));
        }
        if !reply.status.is_success() {
            return Err(self.status("GET", &reply));
        }
        let mut header_digest = reply
            .header("docker-content-digest")
            .and_then(|d| Digest::parse(d).ok());
        // Asked by digest: the bytes must hash to it, whatever the headers say.
        if let Ok(asked) = Digest::parse(reference) {
            if !asked.matches(&reply.body) {
                return Err(Error::BadResponse {
                    url: reply.url.to_string(),
                    why: format!("the manifest bytes do not hash to {asked}"),
                });
            }
            header_digest = Some(asked);
        }
        let content_type = reply.header("content-type").map(str::to_string);
        Manifest::parse(reply.body, content_type.as_deref(), header_digest)
    }

    async fn resolve_digest(&self, tag: &str) -> Result<Digest, Error> {
        let url = self.url(&["manifests", tag_only(tag)?], None).await?;
        let reply = self.send(self.manifest_request(Method::HEAD, url)).await?;
        if reply.status == StatusCode::NOT_FOUND {
            return Err(self.not_found(format!("tag `{}:{tag}`", self.name), &reply));
        }
        if !reply.status.is_success() {
            return Err(self.status("HEAD", &reply));
        }
        match reply
            .header("docker-content-digest")
            .and_then(|d| Digest::parse(d).ok())
        {
            Some(d) => Ok(d),
            // Some registries only send the digest on GET: hash the exact body instead.
            None => Ok(self.manifest(tag).await?.digest),
        }
    }

    async fn config(&self, config: &Descriptor) -> Result<ImageConfig, Error> {
        let url = self
            .url(&["blobs", segment(config.digest.as_str(), "digest")?], None)
            .await?;
        let reply = self
            .send(Request::new(Method::GET, url).limit(BodyLimit::Config))
            .await?;
        if reply.status == StatusCode::NOT_FOUND {
            return Err(self.not_found(
                format!("config blob {} in `{}`", config.digest, self.name),
                &reply,
            ));
        }
        if !reply.status.is_success() {
            return Err(self.status("GET", &reply));
        }
        if config.digest.algorithm() == "sha256" && Digest::of_bytes(&reply.body) != config.digest {
            return Err(Error::BadResponse {
                url: reply.url.to_string(),
                why: format!("the blob bytes do not hash to {}", config.digest),
            });
        }
        ImageConfig::parse(&reply.body)
    }

    async fn referrers(&self, subject: &Digest) -> Result<Vec<Descriptor>, Error> {
        #[derive(serde::Deserialize)]
        struct Index {
            #[serde(default)]
            manifests: Option<Vec<Descriptor>>,
        }
        let mut url = self
            .url(&["referrers", segment(subject.as_str(), "digest")?], None)
            .await?;
        let mut found = Vec::new();
        let mut pages = Pages::default();
        loop {
            pages.visit(&url)?;
            let reply = self.send(Request::new(Method::GET, url.clone())).await?;
            // No referrers API here: the caller finds cosign-style tags in the tag list.
            if matches!(reply.status.as_u16(), 404 | 405) {
                return Ok(found);
            }
            if !reply.status.is_success() {
                return Err(self.status("GET", &reply));
            }
            let index: Index =
                serde_json::from_slice(&reply.body).map_err(|e| Error::BadResponse {
                    url: url.to_string(),
                    why: format!("not a referrers index ({e})"),
                })?;
            found.extend(index.manifests.unwrap_or_default());
            match next_link(&reply, &url)? {
                Some(next) => url = next,
                None => return Ok(found),
            }
        }
    }

    async fn delete_manifest(&self, digest: &Digest) -> Result<(), Error> {
        let url = self
            .url(&["manifests", segment(digest.as_str(), "digest")?], None)
            .await?;
        let reply = self.send(Request::new(Method::DELETE, url)).await?;
        match reply.status.as_u16() {
            200..=299 => {
                tracing::debug!(repository = %self.name, %digest, "deleted manifest");
                Ok(())
            }
            404 => Err(self.not_found(format!("manifest `{}@{digest}`", self.name), &reply)),
            405 | 400 if detail_of(&reply.body).contains("UNSUPPORTED") || reply.status == 405 => {
                Err(Error::Unsupported {
                    host: self.client.registry.clone(),
                    operation: format!("deleting manifests in `{}`", self.path),
                    detail: reply.detail(),
                    hint: "enable deletes on the registry (Distribution: `storage.delete.enabled: true`) or use a provider-specific `--container-registry`".into(),
                })
            }
            _ => Err(self.status("DELETE", &reply)),
        }
    }

    async fn untag(&self, tag: &str, current: &Manifest) -> Result<UntagMethod, Error> {
        let url = self.url(&["manifests", tag_only(tag)?], None).await?;
        let reply = self.send(Request::new(Method::DELETE, url)).await?;
        if reply.status == StatusCode::ACCEPTED {
            tracing::debug!(repository = %self.name, tag, "untagged with the OCI tag delete");
            return Ok(UntagMethod::TagDelete);
        }
        tracing::debug!(
            repository = %self.name,
            tag,
            status = reply.status.as_u16(),
            "no OCI tag delete here; untagging through a dummy manifest"
        );
        let dummy = self.push_dummy(tag, current).await?;
        // The dummy's digest is unique to this untag: a 404 means a retried DELETE already
        // removed it, and the tag is gone either way.
        match self.delete_manifest(&dummy).await {
            Err(e) if !e.is_not_found() => return Err(e),
            _ => {}
        }
        Ok(UntagMethod::DummyManifest)
    }

    async fn push_manifest(
        &self,
        reference: &str,
        media_type: &str,
        bytes: Vec<u8>,
    ) -> Result<Digest, Error> {
        let parsed = Manifest::parse(bytes.clone(), Some(media_type), None)?;
        match self.put_manifest(reference, media_type, bytes).await {
            // Distribution names no digest in its answer's message: find the missing one, so
            // that `restore` can say which blob the registry has collected.
            Err(e @ Error::Status { .. }) if e.to_string().contains("BLOB_UNKNOWN") => {
                Err(self.first_missing(&parsed).await.unwrap_or(e))
            }
            other => other,
        }
    }
}

impl DistributionRepository {
    /// The bodies of `GET …/tags/list?n=<n>` and of every page its `Link` headers name, with
    /// each page's URL: for registries whose listing carries more than names (GCR's
    /// `manifest` map), which the caller parses.
    pub async fn tag_list_pages(&self, n: usize) -> Result<Vec<(Url, Vec<u8>)>, Error> {
        let mut url = self.url(&["tags", "list"], Some(&format!("n={n}"))).await?;
        let mut bodies = Vec::new();
        let mut pages = Pages::default();
        loop {
            pages.visit(&url)?;
            let reply = self.send(Request::new(Method::GET, url.clone())).await?;
            if reply.status == StatusCode::NOT_FOUND {
                return Err(self.not_found(format!("repository `{}`", self.path), &reply));
            }
            if !reply.status.is_success() {
                return Err(self.status("GET", &reply));
            }
            let next = next_link(&reply, &url)?;
            bodies.push((url, reply.body));
            match next {
                Some(next) => url = next,
                None => return Ok(bodies),
            }
        }
    }

    /// The OCI tag delete, `DELETE …/manifests/<tag>`, for registries that have it (GCR
    /// untags this way): 2xx is done, 404 is [`Error::NotFound`], any other answer an error
    /// carrying the registry's body (no dummy-manifest fallback, unlike [`Repository::untag`]).
    pub async fn delete_tag(&self, tag: &str) -> Result<(), Error> {
        let url = self.url(&["manifests", tag_only(tag)?], None).await?;
        let reply = self.send(Request::new(Method::DELETE, url)).await?;
        match reply.status.as_u16() {
            200..=299 => {
                tracing::debug!(repository = %self.name, tag, "deleted tag");
                Ok(())
            }
            404 => Err(self.not_found(format!("tag `{}:{tag}`", self.name), &reply)),
            _ => Err(self.status("DELETE", &reply)),
        }
    }

    /// `host/path`.
    pub fn path(&self) -> &str {
        &self.path
    }

    /// A URL on the registry host outside `/v2/` (a platform API the registry serves beside
    /// it, such as ACR's `/acr/v1`), every segment through [`segment`].
    pub async fn api_url(&self, segments: &[&str], query: Option<&str>) -> Result<Url, Error> {
        let mut url = self.client.base().await?.clone();
        let mut checked = Vec::with_capacity(segments.len());
        for part in segments {
            checked.push(segment(part, "request path segment")?);
        }
        let shown = url.to_string();
        url.path_segments_mut()
            .map_err(|()| Error::ClientSetup {
                host: self.client.registry.clone(),
                why: format!("`{shown}` cannot take a path"),
            })?
            .pop_if_empty()
            .extend(checked);
        url.set_query(query);
        Ok(url)
    }

    /// Sends a request to the registry host's own API beside `/v2/`, authenticated as this
    /// repository's registry requests are (the challenge's token, widened with the scope the
    /// API's challenge names). A URL on another scheme, host or port is refused: the token is
    /// the registry's and goes nowhere else.
    pub async fn send_api(&self, request: Request) -> Result<Reply, Error> {
        let base = self.client.base().await?;
        if request.url.scheme() != base.scheme()
            || request.url.host_str() != base.host_str()
            || request.url.port_or_known_default() != base.port_or_known_default()
        {
            return Err(Error::ForeignLink {
                url: base.to_string(),
                link: request.url.to_string(),
            });
        }
        self.send(request).await
    }

    /// The registry client this repository belongs to.
    pub fn client(&self) -> &Arc<Client> {
        &self.client
    }

    /// Pushes a tiny manifest no one else has over `tag` (of `current`'s media type family)
    /// and returns its digest: the tag then names only the dummy, which can be deleted without
    /// touching `current` or its other tags.
    pub async fn push_dummy(&self, tag: &str, current: &Manifest) -> Result<Digest, Error> {
        let (mt, bytes) = self.dummy_manifest(current).await?;
        self.put_manifest(tag, &mt, bytes).await
    }

    /// The first blob or child manifest `manifest` references that the registry does not have.
    async fn first_missing(&self, manifest: &Manifest) -> Option<Error> {
        let referenced = match &manifest.kind {
            crate::registry::ManifestKind::Image { config, layers } => std::iter::once(config)
                .chain(layers)
                .map(|d| ("blobs", d))
                .collect::<Vec<_>>(),
            crate::registry::ManifestKind::Index { manifests } => {
                manifests.iter().map(|d| ("manifests", d)).collect()
            }
        };
        for (kind, d) in referenced {
            let url = self.url(&[kind, d.digest.as_str()], None).await.ok()?;
            let reply = self
                .send(self.manifest_request(Method::HEAD, url))
                .await
                .ok()?;
            if reply.status == StatusCode::NOT_FOUND {
                let what = if kind == "blobs" {
                    "blob"
                } else {
                    "child manifest"
                };
                return Some(self.not_found(
                    format!(
                        "{what} {} (referenced by manifest {} in `{}`)",
                        d.digest, manifest.digest, self.name
                    ),
                    &reply,
                ));
            }
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn link_headers_relative_absolute_and_several() {
        assert_eq!(
            parse_next_link(r#"</v2/a/tags/list?last=b&n=2>; rel="next""#).as_deref(),
            Some("/v2/a/tags/list?last=b&n=2")
        );
        assert_eq!(
            parse_next_link(r#"<https://quay.io/v2/ns/r/tags/list?n=100&last=x>;rel=next"#)
                .as_deref(),
            Some("https://quay.io/v2/ns/r/tags/list?n=100&last=x")
        );
        assert_eq!(
            parse_next_link(r#"</first?a=1,2>; rel="prev", </next?x=1>; rel="next""#).as_deref(),
            Some("/next?x=1")
        );
        assert_eq!(parse_next_link(r#"</x>; rel="prev""#), None);
        assert_eq!(parse_next_link("garbage"), None);
    }

    #[test]
    fn next_links_resolve_and_stay_on_host() {
        let page = Url::parse("http://127.0.0.1:5000/v2/a/tags/list?n=1000").unwrap();
        let reply = |link: &str| Reply {
            url: page.clone(),
            status: StatusCode::OK,
            headers: {
                let mut h = reqwest::header::HeaderMap::new();
                h.insert("link", link.parse().unwrap());
                h
            },
            body: Vec::new(),
        };
        let next = next_link(
            &reply(r#"</v2/a/tags/list?last=t&n=1000>; rel="next""#),
            &page,
        )
        .unwrap()
        .unwrap();
        assert_eq!(
            next.as_str(),
            "http://127.0.0.1:5000/v2/a/tags/list?last=t&n=1000"
        );
        let abs = next_link(
            &reply(r#"<http://127.0.0.1:5000/v2/a/tags/list?last=u>; rel="next""#),
            &page,
        )
        .unwrap()
        .unwrap();
        assert_eq!(abs.query(), Some("last=u"));
        let foreign = next_link(&reply(r#"<http://evil.example/v2/x>; rel="next""#), &page);
        assert!(matches!(foreign, Err(Error::ForeignLink { .. })));
        for elsewhere in [
            r#"</v2/victim/manifests/prod>; rel="next""#,
            r#"</v2/a/tags/../../victim/tags/list>; rel="next""#,
            r#"<https://127.0.0.1:5000/v2/a/tags/list?last=t>; rel="next""#,
        ] {
            let e = next_link(&reply(elsewhere), &page);
            assert!(
                matches!(e, Err(Error::ForeignLink { .. })),
                "{elsewhere}: {e:?}"
            );
        }
    }

    /// Issue 10 case 4: no name can become more than one path segment.
    #[test]
    fn segments_cannot_make_another_path() {
        for bad in [
            "",
            ".",
            "..",
            "../../victim/manifests/prod",
            "lat\nest",
            "a/b",
            "%2F",
            "a%2Fb",
            "a\\b",
            "a?b",
            "a#b",
            ".hidden",
            "-x",
            "caf\u{e9}",
        ] {
            assert!(segment(bad, "tag").is_err(), "{bad:?}");
            assert!(tag_or_digest(bad).is_err(), "{bad:?}");
        }
        let digest = format!("sha256:{}", "a".repeat(64));
        assert_eq!(tag_or_digest(&digest).unwrap(), digest);
        assert!(tag_only(&digest).is_err());
        assert!(tag_or_digest("sha256:abc").is_err());
        assert!(tag_or_digest(&format!("md5:{}", "a".repeat(32))).is_err());
        for good in ["latest", "v1.2.3", "_x", "sha-abc1234", &"t".repeat(128)] {
            assert_eq!(tag_only(good).unwrap(), good);
        }
        assert!(tag_only(&"t".repeat(129)).is_err());
        let e = segment("lat\nest", "tag").unwrap_err().to_string();
        assert!(e.contains("lat\\nest"), "{e}");
    }

    /// Issue 10 case 7: a page named twice, or a listing that never ends, stops with the URL.
    #[test]
    fn pagination_stops_at_a_loop_or_the_page_cap() {
        let url = |n: usize| {
            Url::parse(&format!("http://127.0.0.1:5000/v2/a/tags/list?last={n}")).unwrap()
        };
        let mut pages = Pages::default();
        pages.visit(&url(0)).unwrap();
        pages.visit(&url(1)).unwrap();
        let e = pages.visit(&url(0)).unwrap_err();
        assert!(matches!(e, Error::PageLoop { .. }));
        assert!(e.to_string().contains(url(0).as_str()), "{e}");
        let mut pages = Pages::default();
        for n in 0..MAX_PAGES {
            pages.visit(&url(n)).unwrap();
        }
        let e = pages.visit(&url(MAX_PAGES)).unwrap_err();
        assert!(matches!(e, Error::TooManyPages { .. }), "{e}");
    }

    #[test]
    fn loopback_hosts() {
        for host in [
            "localhost",
            "localhost:5000",
            "127.0.0.1",
            "127.1.2.3:80",
            "[::1]:5000",
            "::1",
        ] {
            assert!(is_loopback(host), "{host}");
        }
        for host in [
            "ghcr.io",
            "10.0.0.1:5000",
            "localhost.example.com",
            "[::2]:5000",
        ] {
            assert!(!is_loopback(host), "{host}");
        }
    }

    #[test]
    fn basic_header_hides_the_password() {
        let h = basic("u", &Secret::new("p"));
        assert_eq!(h.expose(), "Basic dTpw");
        assert!(!format!("{h:?}").contains("dTpw"));
    }
}
