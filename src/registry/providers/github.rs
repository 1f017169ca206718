//! GitHub Packages. ghcr.io through the REST packages API (octocrab): a package's versions
//! (`GET …/packages/container/{package}/versions`, 100 a page, `Link` pagination) give every
//! manifest, tagged or not, with its tags and times; deleting a manifest deletes its version
//! (which takes all its tags, as ghcr's registry refuses every DELETE); one tag is removed by
//! pushing a dummy manifest over it and deleting the dummy's version. The legacy
//! docker.pkg.github.com through GraphQL (`repository.packages.versions`,
//! `deletePackageVersion`), where a version is one tag.
//!
//! Calls go through octocrab's raw `_get`-style requests (`build_request` + `execute`) rather
//! than its typed packages API: the typed calls turn an error answer into a `GitHubError`
//! without its headers (so `x-ratelimit-*` and `Retry-After` would be lost), cannot send the
//! GraphQL preview `Accept` headers, and their models fail on fields berth does not read.
//! Manifests, configs, referrers and pushes go through the Distribution API, which both
//! registries serve.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use http_body_util::BodyExt;
use octocrab::Octocrab;
use serde::Deserialize;
use serde_json::json;

use crate::env_vars;
use crate::registry::client::{self, DistributionRepository, parse_next_link};
use crate::registry::http::{PAGE_MAX, RETRY_AFTER_MAX, Redactor, detail_of};
use crate::registry::{
    Capabilities, Descriptor, Digest, Error, ImageConfig, ListedTag, Manifest, RegistryOptions,
    Repository, UntagMethod,
};

const API: &str = "GitHub Packages API";
/// GitHub's largest page of versions.
const PER_PAGE: u32 = 100;
/// Pages of one listing berth follows (a million versions) before calling pagination broken.
const MAX_PAGES: usize = 10_000;
const TOKEN_VARIABLES: &str = "BERTH_GITHUB_TOKEN or GITHUB_TOKEN";
const REST_ACCEPT: &str = "application/vnd.github+json";
const PACKAGES_PREVIEW: &str = "application/vnd.github.packages-preview+json";
const DELETES_PREVIEW: &str = "application/vnd.github.package-deletes-preview+json";
/// The legacy registry's host; its packages live under repositories and only GraphQL deletes.
const LEGACY_HOST: &str = "docker.pkg.github.com";
/// Tries of one request (transport errors, 5xx, rate limits), within the retry budget.
const ATTEMPTS: u32 = 6;
const BACKOFF_BASE: Duration = Duration::from_millis(200);
/// GitHub asks for at least a minute after a secondary rate limit that names no wait.
const SECONDARY_WAIT: Duration = Duration::from_secs(60);
/// What a token needs to delete, said once per run (GitHub's 403 says only "Resource not
/// accessible by integration").
const DENIED_HINT: &str = "the token may not delete package versions: a classic personal \
    access token needs `read:packages` and `delete:packages` (fine-grained tokens cannot use \
    the Packages API); in GitHub Actions the workflow needs `permissions: packages: write` and \
    the repository must have the Admin role in the package's \"Manage Actions access\" settings";

/// Opens the repository through the packages API that its host (or
/// `BERTH_GITHUB_PACKAGES_API`) picks.
pub fn open(
    registry: Arc<DistributionRepository>,
    options: &RegistryOptions,
) -> Result<Arc<dyn Repository>, Error> {
    let gh = &options.providers.github;
    let host = registry.client().registry().to_string();
    let graphql = match gh.packages_api.as_deref().map(str::trim) {
        None | Some("") => host.eq_ignore_ascii_case(LEGACY_HOST),
        Some(v) if v.eq_ignore_ascii_case("rest") => false,
        Some(v) if v.eq_ignore_ascii_case("graphql") => true,
        Some(other) => {
            return Err(Error::Platform {
                api: API,
                what: format!("reading {}", env_vars::BERTH_GITHUB_PACKAGES_API),
                message: format!("`{other}` is neither `rest` nor `graphql`"),
                hint: format!(
                    "set {} to `rest` (ghcr.io) or `graphql` (the legacy docker.pkg.github.com), or unset it",
                    env_vars::BERTH_GITHUB_PACKAGES_API
                ),
            });
        }
    };
    let path = registry.path().to_string();
    let target = if graphql {
        Target::legacy(&path)?
    } else {
        Target::rest(&path)?
    };
    let redactor = Redactor::default();
    let api = if graphql {
        let url = api_base(&gh.graphql_url, env_vars::GITHUB_GRAPHQL_URL)?;
        Endpoint {
            client: gh
                .token
                .as_ref()
                .map(|t| client(&url, t.value.expose(), None, env_vars::GITHUB_GRAPHQL_URL))
                .transpose()?,
            base: url,
        }
    } else {
        let url = api_base(&gh.api_url, env_vars::GITHUB_API_URL)?;
        Endpoint {
            client: gh
                .token
                .as_ref()
                .map(|t| {
                    client(
                        &url,
                        t.value.expose(),
                        Some(REST_ACCEPT),
                        env_vars::GITHUB_API_URL,
                    )
                })
                .transpose()?,
            base: url,
        }
    };
    if let Some(t) = &gh.token {
        redactor.add(t.value.expose());
    }
    Ok(Arc::new(GitHubPackages {
        registry,
        target,
        api,
        redactor,
        timeout: options.request_timeout,
        retry_budget: options.retry_budget,
        owner_route: tokio::sync::OnceCell::new(),
        state: Mutex::new(State::default()),
        mutations: super::DeleteGate::default(),
    }))
}

/// An API base URL, checked: http(s), no credentials (it goes into messages), no query; the
/// trailing slash dropped.
fn api_base(url: &str, variable: &'static str) -> Result<String, Error> {
    let invalid = |why: String| Error::Platform {
        api: API,
        what: format!("reading {variable}"),
        message: why,
        hint: format!(
            "set {variable} to the API's https URL (GitHub Enterprise Server: https://HOST/api/v3, GraphQL https://HOST/api/graphql), or unset it for github.com"
        ),
    };
    let parsed =
        url::Url::parse(url).map_err(|e| invalid(format!("`{url}` is not a URL ({e})")))?;
    if !matches!(parsed.scheme(), "http" | "https") {
        return Err(invalid(format!("`{url}` is not an http(s) URL")));
    }
    if !parsed.username().is_empty() || parsed.password().is_some() {
        return Err(invalid(
            "the URL carries credentials; pass the token in BERTH_GITHUB_TOKEN instead".into(),
        ));
    }
    if parsed.query().is_some() || parsed.fragment().is_some() {
        return Err(invalid(format!("`{url}` has a query or fragment")));
    }
    Ok(url.trim_end_matches('/').to_string())
}

/// An octocrab client that sends the token to `base`'s host only.
fn client(
    base: &str,
    token: &str,
    accept: Option<&str>,
    variable: &'static str,
) -> Result<Octocrab, Error> {
    let setup = |why: String| Error::Platform {
        api: API,
        what: format!("setting up the client for {base}"),
        message: why,
        hint: format!("check {variable} and the token in {TOKEN_VARIABLES}"),
    };
    // octocrab's builder panics on a token that is not a header value.
    if http::HeaderValue::from_str(&format!("Bearer {token}")).is_err() {
        return Err(setup(format!(
            "the token in {TOKEN_VARIABLES} has characters a header cannot carry (a newline?)"
        )));
    }
    let mut builder = Octocrab::builder()
        .base_uri(base)
        .map_err(|e| setup(format!("`{base}` is not a usable URL ({e})")))?
        .personal_token(token.to_string());
    if let Some(accept) = accept {
        builder = builder.add_header(http::header::ACCEPT, accept.to_string());
    }
    builder.build().map_err(|e| setup(error_chain(&e)))
}

fn error_chain(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        let text = s.to_string();
        if !out.contains(&text) {
            out.push_str(": ");
            out.push_str(&text);
        }
        source = s.source();
    }
    out
}

/// Where the package is.
#[derive(Debug, Clone)]
enum Target {
    /// ghcr.io: `OWNER/PACKAGE…`.
    Rest { owner: String, package: String },
    /// docker.pkg.github.com: `OWNER/REPO/IMAGE…`.
    Legacy {
        owner: String,
        repository: String,
        package: String,
    },
}

fn bad_path(path: &str, expected: &str) -> Error {
    Error::Platform {
        api: API,
        what: format!("reading the repository path `{path}`"),
        message: format!("it is not {expected}"),
        hint: "pass --repo as ghcr.io/OWNER/PACKAGE (or docker.pkg.github.com/OWNER/REPO/IMAGE)"
            .into(),
    }
}

/// A GitHub login or repository name: letters, digits, `-`, `_`, `.`; never a path.
fn account_name(text: &str) -> bool {
    !text.is_empty()
        && !text.starts_with('.')
        && text
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
}

impl Target {
    fn rest(path: &str) -> Result<Target, Error> {
        match path.split_once('/') {
            Some((owner, package)) if account_name(owner) && !package.is_empty() => {
                Ok(Target::Rest {
                    owner: owner.to_string(),
                    package: package.to_string(),
                })
            }
            _ => Err(bad_path(path, "OWNER/PACKAGE")),
        }
    }

    fn legacy(path: &str) -> Result<Target, Error> {
        let mut parts = path.splitn(3, '/');
        match (parts.next(), parts.next(), parts.next()) {
            (Some(owner), Some(repository), Some(package))
                if account_name(owner) && account_name(repository) && !package.is_empty() =>
            {
                Ok(Target::Legacy {
                    owner: owner.to_string(),
                    repository: repository.to_string(),
                    package: package.to_string(),
                })
            }
            _ => Err(bad_path(path, "OWNER/REPO/IMAGE")),
        }
    }

    /// How messages name the package.
    fn describe(&self) -> String {
        match self {
            Target::Rest { owner, package } => format!("package `{package}` of `{owner}`"),
            Target::Legacy {
                owner,
                repository,
                package,
            } => format!("package `{package}` of repository `{owner}/{repository}`"),
        }
    }
}

/// The package's `{package_name}` path segment: GitHub takes `a/b` as one segment, `a%2Fb`.
/// Repository path components are Distribution's `[a-z0-9._-]`, which need no other escape.
fn package_segment(package: &str) -> String {
    package.replace('/', "%2F")
}

struct Endpoint {
    /// None: no token was given (every API call says which variable to set).
    client: Option<Octocrab>,
    base: String,
}

/// One version as the last listing showed it.
#[derive(Debug, Clone)]
struct Version {
    /// REST: the numeric id; GraphQL: the node id.
    id: String,
    tags: Vec<String>,
}

#[derive(Default)]
struct State {
    /// REST: every version (tagged or not) by its manifest digest, from the last listing.
    by_digest: HashMap<Digest, Version>,
    /// GraphQL: each tag's version, from the last listing.
    by_tag: HashMap<String, String>,
    /// GraphQL: each tag's digest, as the Distribution API resolved it.
    tag_digests: HashMap<String, Digest>,
    /// Set by the first refusal of a delete (401/403, or a token whose scopes cannot delete):
    /// later deletes are not sent, and say so without repeating the hint.
    denied: Option<Denial>,
}

/// Why deletes are not sent.
struct Denial {
    /// What was refused first (`deleting version 42 of …`), or what showed it.
    first: String,
    /// The platform's words, when no delete has reported them yet (a token's scopes seen in
    /// a listing): the first delete that fails fast reports them with the hint.
    unsaid: Option<String>,
}

struct GitHubPackages {
    registry: Arc<DistributionRepository>,
    target: Target,
    api: Endpoint,
    redactor: Redactor,
    timeout: Duration,
    retry_budget: Duration,
    /// REST: `/orgs/{owner}` or `/users/{owner}`, from `GET /users/{owner}`.
    owner_route: tokio::sync::OnceCell<String>,
    state: Mutex<State>,
    /// Deletes and untags one at a time until one succeeds (see [`super::DeleteGate`]), so
    /// that a refusing token is refused once and no further dummy is pushed.
    mutations: super::DeleteGate,
}

/// One answer of the API, body read under [`PAGE_MAX`].
struct Answer {
    status: u16,
    headers: http::HeaderMap,
    body: Vec<u8>,
}

impl Answer {
    fn ok(&self) -> bool {
        (200..300).contains(&self.status)
    }

    /// GitHub's `message` (or the body, cut short), without a leading separator.
    fn message(&self) -> String {
        #[derive(Deserialize)]
        struct Message {
            message: String,
        }
        match serde_json::from_slice::<Message>(&self.body) {
            Ok(m) => m.message.split_whitespace().collect::<Vec<_>>().join(" "),
            Err(_) => detail_of(&self.body).trim_start_matches(": ").to_string(),
        }
    }

    fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
}

#[derive(Deserialize)]
struct VersionJson {
    id: u64,
    name: String,
    #[serde(default)]
    created_at: Option<DateTime<Utc>>,
    #[serde(default)]
    updated_at: Option<DateTime<Utc>>,
    #[serde(default)]
    metadata: Option<MetadataJson>,
}

#[derive(Deserialize)]
struct MetadataJson {
    #[serde(default)]
    container: Option<ContainerJson>,
}

#[derive(Deserialize)]
struct ContainerJson {
    #[serde(default)]
    tags: Vec<String>,
}

impl GitHubPackages {
    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn client(&self, operation: &str) -> Result<&Octocrab, Error> {
        self.api.client.as_ref().ok_or_else(|| Error::NoApiToken {
            api: API,
            operation: format!("{operation} ({})", self.target.describe()),
            variables: format!(
                "{TOKEN_VARIABLES} (a classic personal access token with read:packages, and delete:packages to delete)"
            ),
        })
    }

    fn platform(&self, what: String, answer: &Answer, hint: String) -> Error {
        Error::Platform {
            api: API,
            what,
            message: self
                .redactor
                .redact(&format!("{} {}", answer.status, answer.message())),
            hint,
        }
    }

    /// Sends one request, retrying transport failures, 5xx and rate limits within the retry
    /// budget, with waits capped at [`RETRY_AFTER_MAX`].
    async fn send(
        &self,
        client: &Octocrab,
        method: http::Method,
        url: &str,
        body: Option<&serde_json::Value>,
        accept: Option<&'static str>,
    ) -> Result<Answer, Error> {
        let started = Instant::now();
        let mut attempt = 0;
        loop {
            attempt += 1;
            let mut builder = http::Request::builder().method(method.clone()).uri(url);
            if let Some(accept) = accept {
                builder = builder.header(http::header::ACCEPT, accept);
            }
            let request = client
                .build_request(builder, body)
                .map_err(|e| Error::BadResponse {
                    url: url.to_string(),
                    why: format!("cannot build the request ({})", error_chain(&e)),
                })?;
            let result = tokio::time::timeout(self.timeout, async {
                let response = client.execute(request).await?;
                let (parts, body) = response.into_parts();
                Ok::<_, octocrab::Error>((parts, read_limited(body).await))
            })
            .await;
            let (wait, last) = match result {
                Err(_) => (None, format!("{method} {url} timed out")),
                Ok(Err(e)) => (None, self.redactor.redact(&error_chain(&e))),
                Ok(Ok((parts, body))) => {
                    let body = body.map_err(|why| Error::TooLarge {
                        url: url.to_string(),
                        what: "API answer".into(),
                        limit: PAGE_MAX,
                        seen: why,
                    })?;
                    let answer = Answer {
                        status: parts.status.as_u16(),
                        headers: parts.headers,
                        body,
                    };
                    let wait = retry_wait(&answer, attempt, SystemTime::now())
                        .map_err(|hint| self.platform("calling the API".into(), &answer, hint))?;
                    match wait {
                        None => return Ok(answer),
                        Some(wait) => (
                            Some(wait),
                            format!("{} {}", answer.status, answer.message()),
                        ),
                    }
                }
            };
            let wait = wait
                .unwrap_or(BACKOFF_BASE * 2u32.pow(attempt - 1))
                .min(RETRY_AFTER_MAX);
            if attempt >= ATTEMPTS || started.elapsed() + wait > self.retry_budget {
                return Err(Error::RetriesExhausted {
                    method: method.to_string(),
                    url: url.to_string(),
                    attempts: attempt,
                    elapsed_secs: started.elapsed().as_secs_f64(),
                    last: self.redactor.redact(&last),
                });
            }
            tracing::debug!(%method, url, error = %last, ?wait, "GitHub API request failed, retrying");
            tokio::time::sleep(wait).await;
        }
    }

    /// Fails fast when an earlier delete was refused: the first such failure says why and
    /// what to do, later ones point back to it.
    fn check_denied(&self, what: &str) -> Result<(), Error> {
        let mut state = self.lock();
        let Some(denial) = state.denied.as_mut() else {
            return Ok(());
        };
        Err(match denial.unsaid.take() {
            Some(message) => Error::Platform {
                api: API,
                what: what.to_string(),
                message,
                hint: DENIED_HINT.into(),
            },
            None => Error::Platform {
                api: API,
                what: what.to_string(),
                message: format!(
                    "not sent: the API refused {} earlier in this run",
                    denial.first
                ),
                hint: "see that first failure for what the token needs".into(),
            },
        })
    }

    /// Records a refused delete and returns its error, with the hint (said this once).
    fn denied(&self, what: String, answer: &Answer) -> Error {
        self.lock().denied.get_or_insert_with(|| Denial {
            first: what.clone(),
            unsaid: None,
        });
        self.platform(what, answer, DENIED_HINT.into())
    }

    /// `{api}/orgs/{owner}` or `{api}/users/{owner}`: GitHub routes an organisation's
    /// packages and a user's differently, and answers 404 on the wrong one.
    async fn owner_route(&self, client: &Octocrab, owner: &str) -> Result<&str, Error> {
        self.owner_route
            .get_or_try_init(|| async {
                #[derive(Deserialize)]
                struct Account {
                    #[serde(rename = "type")]
                    kind: String,
                }
                let url = format!("{}/users/{owner}", self.api.base);
                let answer = self.send(client, http::Method::GET, &url, None, None).await?;
                let what = format!("looking up the owner `{owner}`");
                if answer.status == 404 {
                    return Err(self.platform(
                        what,
                        &answer,
                        format!(
                            "GitHub has no user or organization `{owner}`; the owner is the first path component of --repo (ghcr.io/OWNER/PACKAGE)"
                        ),
                    ));
                }
                if !answer.ok() {
                    return Err(self.platform(
                        what,
                        &answer,
                        format!("check the token in {TOKEN_VARIABLES} and {}", env_vars::GITHUB_API_URL),
                    ));
                }
                let account: Account =
                    serde_json::from_slice(&answer.body).map_err(|e| Error::BadResponse {
                        url: url.clone(),
                        why: format!("not a GitHub account ({e})"),
                    })?;
                let kind = if account.kind.eq_ignore_ascii_case("organization") {
                    "orgs"
                } else {
                    "users"
                };
                Ok(format!("{}/{kind}/{owner}", self.api.base))
            })
            .await
            .map(String::as_str)
    }

    async fn versions_url(&self, client: &Octocrab) -> Result<String, Error> {
        let Target::Rest { owner, package } = &self.target else {
            return Err(self.other_api());
        };
        let route = self.owner_route(client, owner).await?;
        Ok(format!(
            "{route}/packages/container/{}/versions",
            package_segment(package)
        ))
    }

    /// A call of one API for a package the other API serves (dispatch is by target, so this
    /// is not reached; it keeps a mismatch an error rather than a panic).
    fn other_api(&self) -> Error {
        Error::Unsupported {
            host: self.api.base.clone(),
            operation: format!("this call for {}", self.target.describe()),
            detail: String::new(),
            hint: format!(
                "set {} to match the registry (`rest` for ghcr.io, `graphql` for docker.pkg.github.com)",
                env_vars::BERTH_GITHUB_PACKAGES_API
            ),
        }
    }

    fn not_found_hint(&self) -> String {
        match &self.target {
            Target::Rest { owner, package } => format!(
                "berth looked for the container package `{package}` of `{owner}` (from --repo {}); check the name, and that the token can see the package (a GITHUB_TOKEN only sees packages whose \"Manage Actions access\" lists the repository)",
                self.registry.name()
            ),
            Target::Legacy {
                owner,
                repository,
                package,
            } => format!(
                "berth looked for the package `{package}` in the repository `{owner}/{repository}` (from --repo {}); check the names, and that the token can read the repository's packages",
                self.registry.name()
            ),
        }
    }

    /// Every version, following `Link: rel="next"`; `first_page_only` for the newest 100
    /// (where a version just pushed is).
    async fn rest_versions(&self, first_page_only: bool) -> Result<Vec<VersionJson>, Error> {
        let client = self.client("list package versions")?;
        let first = format!("{}?per_page={PER_PAGE}", self.versions_url(client).await?);
        let mut url = first.clone();
        let mut seen = HashSet::new();
        let mut versions = Vec::new();
        let mut scopes_checked = false;
        loop {
            if !seen.insert(url.clone()) {
                return Err(Error::PageLoop { url });
            }
            if seen.len() > MAX_PAGES {
                return Err(Error::TooManyPages {
                    url,
                    pages: seen.len(),
                    max: MAX_PAGES,
                });
            }
            let answer = self
                .send(client, http::Method::GET, &url, None, None)
                .await?;
            let what = format!("listing the versions of {}", self.target.describe());
            if answer.status == 404 {
                return Err(self.platform(what, &answer, self.not_found_hint()));
            }
            if !answer.ok() {
                return Err(self.platform(
                    what,
                    &answer,
                    "the token needs `read:packages` (a classic personal access token; in GitHub Actions `permissions: packages: read` and the repository in the package's \"Manage Actions access\")".into(),
                ));
            }
            if !scopes_checked {
                scopes_checked = true;
                self.note_scopes(&answer);
            }
            let page: Vec<VersionJson> =
                serde_json::from_slice(&answer.body).map_err(|e| Error::BadResponse {
                    url: url.clone(),
                    why: format!("not a list of package versions ({e})"),
                })?;
            versions.extend(page);
            let next = answer.header("link").and_then(parse_next_link);
            match next {
                Some(next) if !first_page_only => {
                    let page = url::Url::parse(&url).map_err(|e| Error::BadResponse {
                        url: url.clone(),
                        why: format!("not a URL ({e})"),
                    })?;
                    url = client::same_listing(&page, &next)?.to_string();
                }
                _ => break,
            }
        }
        tracing::debug!(
            repository = %self.registry.name(),
            pages = seen.len(),
            versions = versions.len(),
            "listed GitHub package versions"
        );
        Ok(versions)
    }

    /// A classic token names its scopes in `x-oauth-scopes`: one without `delete:packages`
    /// cannot delete, so no delete (and no dummy push) is tried. Other tokens (GITHUB_TOKEN,
    /// apps) send no such header and are judged by the first delete's answer.
    fn note_scopes(&self, answer: &Answer) {
        let Some(scopes) = answer.header("x-oauth-scopes") else {
            return;
        };
        let can_delete = scopes.split(',').any(|s| s.trim() == "delete:packages");
        if !can_delete {
            let mut state = self.lock();
            if state.denied.is_none() {
                state.denied = Some(Denial {
                    first: "this token's deletes".into(),
                    unsaid: Some(format!(
                        "not sent: the token's scopes are `{}`, without `delete:packages`",
                        scopes.trim()
                    )),
                });
            }
        }
    }

    async fn rest_list(&self) -> Result<Vec<ListedTag>, Error> {
        let versions = self.rest_versions(false).await?;
        let mut by_digest = HashMap::with_capacity(versions.len());
        let mut listed = Vec::new();
        let mut names = HashSet::new();
        for v in versions {
            let Ok(digest) = Digest::parse(&v.name) else {
                tracing::debug!(version = v.id, name = %v.name, "a package version that is not a digest; skipped");
                continue;
            };
            let tags = v
                .metadata
                .and_then(|m| m.container)
                .map(|c| c.tags)
                .unwrap_or_default();
            // The newer time: a tag added later must not make an image look older than it
            // is to `built_within`.
            let pushed = match (v.created_at, v.updated_at) {
                (Some(c), Some(u)) => Some(c.max(u)),
                (c, u) => c.or(u),
            };
            for tag in &tags {
                if names.insert(tag.clone()) {
                    listed.push(ListedTag {
                        name: tag.clone(),
                        digest: Some(digest.clone()),
                        media_type: None,
                        pushed,
                    });
                }
            }
            by_digest.insert(
                digest,
                Version {
                    id: v.id.to_string(),
                    tags,
                },
            );
        }
        self.lock().by_digest = by_digest;
        Ok(listed)
    }

    /// The version of `digest` from the last listing, listing again when it is not there.
    async fn rest_version_of(&self, digest: &Digest) -> Result<Option<Version>, Error> {
        if let Some(v) = self.lock().by_digest.get(digest) {
            return Ok(Some(v.clone()));
        }
        self.rest_list().await?;
        Ok(self.lock().by_digest.get(digest).cloned())
    }

    async fn rest_delete_version(&self, version: &Version, digest: &Digest) -> Result<(), Error> {
        let what = format!(
            "deleting version {} ({}) of {}",
            version.id,
            digest.short(),
            self.target.describe()
        );
        self.check_denied(&what)?;
        let client = self.client("delete package versions")?;
        let url = format!("{}/{}", self.versions_url(client).await?, version.id);
        let answer = self
            .send(client, http::Method::DELETE, &url, None, None)
            .await?;
        match answer.status {
            200..=299 => {
                self.lock().by_digest.remove(digest);
                tracing::debug!(repository = %self.registry.name(), %digest, id = %version.id, "deleted package version");
                Ok(())
            }
            404 => {
                self.lock().by_digest.remove(digest);
                Err(Error::NotFound {
                    host: self.api.base.clone(),
                    what: format!("version {} of {}", version.id, self.target.describe()),
                    detail: format!(": {}", self.redactor.redact(&answer.message())),
                })
            }
            401 | 403 => Err(self.denied(what, &answer)),
            _ => {
                let message = answer.message().to_ascii_lowercase();
                let hint = if message.contains("last tagged version")
                    || message.contains("last version")
                {
                    "GitHub keeps a package's last tagged version: delete the whole package in its settings if nothing in it is needed, or keep a tag (keep.tags)".to_string()
                } else if message.contains("downloads") {
                    "GitHub does not delete public versions with more than 5,000 downloads; ask GitHub Support, or keep the tag (keep.tags)".to_string()
                } else {
                    "try again later; if it persists, delete the version in the package's settings"
                        .to_string()
                };
                Err(self.platform(what, &answer, hint))
            }
        }
    }

    /// Puts `current` back under `tag` after a failed untag, and says what happened.
    async fn restore(&self, tag: &str, current: &Manifest, failure: Error) -> Error {
        let restored = self
            .registry
            .push_manifest(tag, &current.media_type, current.bytes.clone())
            .await;
        let hint = match restored {
            Ok(_) => format!(
                "berth pushed {} back over `{tag}`, so the tag names what it named before; the untagged dummy manifest may stay as an untagged version",
                current.digest.short()
            ),
            Err(e) => format!(
                "restoring `{tag}` to {} also failed ({e}): push that manifest back over the tag (`berth restore` with a journal, or `docker buildx imagetools create`)",
                current.digest
            ),
        };
        Error::Platform {
            api: API,
            what: format!("untagging `{tag}` of {}", self.target.describe()),
            message: failure.to_string(),
            hint,
        }
    }

    async fn rest_untag(&self, tag: &str, current: &Manifest) -> Result<UntagMethod, Error> {
        self.check_denied(&format!("untagging `{tag}`"))?;
        self.client("delete package versions")?;
        let dummy = self.registry.push_dummy(tag, current).await?;
        // A version just pushed is on the first page (newest first); else the whole listing.
        let found = match self.rest_versions(true).await {
            Ok(first) => first
                .into_iter()
                .find(|v| v.name == dummy.as_str())
                .map(|v| Version {
                    id: v.id.to_string(),
                    tags: v
                        .metadata
                        .and_then(|m| m.container)
                        .map(|c| c.tags)
                        .unwrap_or_default(),
                }),
            Err(e) => return Err(self.restore(tag, current, e).await),
        };
        let found = match found {
            Some(v) => Some(v),
            None => match self.rest_version_of(&dummy).await {
                Ok(v) => v,
                Err(e) => return Err(self.restore(tag, current, e).await),
            },
        };
        let Some(version) = found else {
            let e = Error::NotFound {
                host: self.api.base.clone(),
                what: format!(
                    "the version of the dummy manifest {} pushed over `{tag}`",
                    dummy.short()
                ),
                detail: String::new(),
            };
            return Err(self.restore(tag, current, e).await);
        };
        if version.tags.iter().any(|t| t != tag) {
            // Never delete a version that holds another tag than the one being removed.
            let e = Error::Platform {
                api: API,
                what: format!("untagging `{tag}`"),
                message: format!(
                    "the dummy's version {} also carries {}",
                    version.id,
                    version.tags.join(", ")
                ),
                hint: "nothing was deleted; run again".into(),
            };
            return Err(self.restore(tag, current, e).await);
        }
        match self.rest_delete_version(&version, &dummy).await {
            Ok(()) => Ok(UntagMethod::DummyManifest),
            // A retried DELETE that took effect: the dummy, and with it the tag, is gone.
            Err(e) if e.is_not_found() => Ok(UntagMethod::DummyManifest),
            Err(e) => Err(self.restore(tag, current, e).await),
        }
    }

    /// One GraphQL request; errors in the answer's `errors` come back as Err.
    async fn graphql(
        &self,
        operation: &str,
        query: &str,
        variables: serde_json::Value,
        accept: &'static str,
    ) -> Result<serde_json::Value, GraphqlFailure> {
        let client = self.client(operation).map_err(GraphqlFailure::Call)?;
        let body = json!({"query": query, "variables": variables});
        let answer = self
            .send(
                client,
                http::Method::POST,
                &self.api.base,
                Some(&body),
                Some(accept),
            )
            .await
            .map_err(GraphqlFailure::Call)?;
        if !answer.ok() {
            return Err(GraphqlFailure::Status(answer));
        }
        #[derive(Deserialize)]
        struct Reply {
            #[serde(default)]
            data: serde_json::Value,
            #[serde(default)]
            errors: Vec<GraphqlError>,
        }
        #[derive(Deserialize)]
        struct GraphqlError {
            #[serde(default, rename = "type")]
            kind: String,
            #[serde(default)]
            message: String,
        }
        match serde_json::from_slice::<Reply>(&answer.body) {
            Ok(r) if r.errors.is_empty() => Ok(r.data),
            Ok(r) => Err(GraphqlFailure::Errors(
                self.redactor.redact(
                    &r.errors
                        .iter()
                        .map(|e| format!("{} {}", e.kind, e.message).trim().to_string())
                        .collect::<Vec<_>>()
                        .join("; "),
                ),
            )),
            Err(e) => Err(GraphqlFailure::Call(Error::BadResponse {
                url: self.api.base.clone(),
                why: format!("not a GraphQL answer ({e})"),
            })),
        }
    }

    /// Turns a failed [`Self::graphql`] into the error to report.
    fn graphql_error(&self, what: String, failure: GraphqlFailure, hint: String) -> Error {
        match failure {
            GraphqlFailure::Call(e) => e,
            GraphqlFailure::Status(answer) => self.platform(what, &answer, hint),
            GraphqlFailure::Errors(text) => Error::Platform {
                api: API,
                what,
                message: text,
                hint,
            },
        }
    }

    async fn legacy_list(&self) -> Result<Vec<ListedTag>, Error> {
        let Target::Legacy {
            owner,
            repository,
            package,
        } = &self.target
        else {
            return Err(self.other_api());
        };
        const QUERY: &str = "query($owner: String!, $name: String!, $package: String!, $after: String) { repository(owner: $owner, name: $name) { packages(first: 1, names: [$package]) { edges { node { name versions(first: 100, after: $after) { pageInfo { hasNextPage endCursor } edges { node { id version } } } } } } } }";
        let what = format!("listing the versions of {}", self.target.describe());
        let mut after: Option<String> = None;
        let mut by_tag = HashMap::new();
        let mut listed = Vec::new();
        let mut cursors = HashSet::new();
        loop {
            let variables =
                json!({"owner": owner, "name": repository, "package": package, "after": after});
            let data = self
                .graphql("list package versions", QUERY, variables, PACKAGES_PREVIEW)
                .await
                .map_err(|f| {
                    self.graphql_error(
                        what.clone(),
                        f,
                        "the token needs `read:packages` (and `repo` for a private repository)"
                            .into(),
                    )
                })?;
            let not_found = || Error::Platform {
                api: API,
                what: what.clone(),
                message: "no such package".into(),
                hint: self.not_found_hint(),
            };
            let repo = &data["repository"];
            let node = repo["packages"]["edges"]
                .as_array()
                .and_then(|e| e.first())
                .map(|e| &e["node"])
                .filter(|n| n["name"].as_str() == Some(package.as_str()))
                .ok_or_else(not_found)?;
            let versions = &node["versions"];
            for edge in versions["edges"].as_array().into_iter().flatten() {
                let (Some(id), Some(tag)) = (
                    edge["node"]["id"].as_str(),
                    edge["node"]["version"].as_str(),
                ) else {
                    continue;
                };
                // The legacy registry keeps its shared layers in a version of this name; it
                // is no tag and must not be deleted.
                if tag == "docker-base-layer" {
                    continue;
                }
                if by_tag.insert(tag.to_string(), id.to_string()).is_none() {
                    listed.push(ListedTag::name_only(tag.to_string()));
                }
            }
            let next = versions["pageInfo"]["endCursor"].as_str();
            match (versions["pageInfo"]["hasNextPage"].as_bool(), next) {
                (Some(true), Some(cursor)) => {
                    if !cursors.insert(cursor.to_string()) {
                        return Err(Error::PageLoop {
                            url: format!("{} (cursor {cursor})", self.api.base),
                        });
                    }
                    if cursors.len() > MAX_PAGES {
                        return Err(Error::TooManyPages {
                            url: self.api.base.clone(),
                            pages: cursors.len(),
                            max: MAX_PAGES,
                        });
                    }
                    after = Some(cursor.to_string());
                }
                _ => break,
            }
        }
        self.lock().by_tag = by_tag;
        Ok(listed)
    }

    async fn legacy_delete_tag(&self, tag: &str) -> Result<(), Error> {
        let what = format!("deleting tag `{tag}` of {}", self.target.describe());
        self.check_denied(&what)?;
        let id = self.lock().by_tag.get(tag).cloned();
        let id = match id {
            Some(id) => id,
            None => {
                self.legacy_list().await?;
                let id = self.lock().by_tag.get(tag).cloned();
                id.ok_or_else(|| Error::NotFound {
                    host: self.api.base.clone(),
                    what: format!("tag `{tag}` of {}", self.target.describe()),
                    detail: String::new(),
                })?
            }
        };
        const MUTATION: &str = "mutation($id: ID!) { deletePackageVersion(input: {packageVersionId: $id}) { success } }";
        let result = self
            .graphql(
                "delete package versions",
                MUTATION,
                json!({"id": id}),
                DELETES_PREVIEW,
            )
            .await;
        match result {
            Ok(data) if data["deletePackageVersion"]["success"].as_bool() == Some(true) => {
                self.lock().by_tag.remove(tag);
                Ok(())
            }
            Ok(_) => Err(Error::Platform {
                api: API,
                what,
                message: "the mutation did not report success".into(),
                hint: "run again; if it persists, delete the version in the package's settings"
                    .into(),
            }),
            Err(GraphqlFailure::Call(e)) => Err(e),
            Err(GraphqlFailure::Status(answer)) if matches!(answer.status, 401 | 403) => {
                Err(self.denied(what, &answer))
            }
            Err(GraphqlFailure::Status(answer)) => Err(self.platform(
                what,
                &answer,
                "run again; if it persists, delete the version in the package's settings".into(),
            )),
            Err(GraphqlFailure::Errors(text)) => {
                let lower = text.to_ascii_lowercase();
                if lower.contains("public") {
                    return Err(Error::Platform {
                        api: API,
                        what,
                        message: format!("public packages cannot be deleted ({text})"),
                        hint: "GitHub deletes versions of private packages only; the tag stays (make the package private, or migrate it to ghcr.io)".into(),
                    });
                }
                if lower.contains("not_found") || lower.contains("could not resolve") {
                    self.lock().by_tag.remove(tag);
                    return Err(Error::NotFound {
                        host: self.api.base.clone(),
                        what: format!("tag `{tag}` of {}", self.target.describe()),
                        detail: format!(": {text}"),
                    });
                }
                let hint = if lower.contains("forbidden") {
                    self.lock().denied.get_or_insert_with(|| Denial {
                        first: what.clone(),
                        unsaid: None,
                    });
                    DENIED_HINT.to_string()
                } else {
                    "run again; if it persists, delete the version in the package's settings"
                        .to_string()
                };
                Err(Error::Platform {
                    api: API,
                    what,
                    message: text,
                    hint,
                })
            }
        }
    }

    /// The listed tags that name `digest`, resolving through the registry those whose digest
    /// berth has not seen yet.
    async fn legacy_tags_of(&self, digest: &Digest) -> Result<Vec<String>, Error> {
        let unknown: Vec<String> = {
            let state = self.lock();
            state
                .by_tag
                .keys()
                .filter(|t| !state.tag_digests.contains_key(*t))
                .cloned()
                .collect()
        };
        for tag in unknown {
            match self.registry.resolve_digest(&tag).await {
                Ok(d) => {
                    self.lock().tag_digests.insert(tag, d);
                }
                Err(e) if e.is_not_found() => {}
                Err(e) => return Err(e),
            }
        }
        let state = self.lock();
        let mut tags: Vec<String> = state
            .tag_digests
            .iter()
            .filter(|(t, d)| *d == digest && state.by_tag.contains_key(*t))
            .map(|(t, _)| t.clone())
            .collect();
        tags.sort();
        Ok(tags)
    }
}

/// None: the answer is final. Some: wait this long and try again. Err: the hint for a rate
/// limit that resets later than berth waits.
fn retry_wait(answer: &Answer, attempt: u32, now: SystemTime) -> Result<Option<Duration>, String> {
    let status = answer.status;
    if (500..600).contains(&status) {
        return Ok(Some(BACKOFF_BASE * 2u32.pow(attempt - 1)));
    }
    if status != 403 && status != 429 {
        return Ok(None);
    }
    if answer.header("x-ratelimit-remaining") == Some("0") {
        let reset = answer
            .header("x-ratelimit-reset")
            .and_then(|r| r.trim().parse::<u64>().ok());
        let now_secs = now
            .duration_since(SystemTime::UNIX_EPOCH)
            .unwrap_or_default()
            .as_secs();
        let wait = reset.map_or(SECONDARY_WAIT, |r| {
            Duration::from_secs(r.saturating_sub(now_secs) + 1)
        });
        if wait > RETRY_AFTER_MAX {
            let at = reset
                .and_then(|r| DateTime::<Utc>::from_timestamp(i64::try_from(r).ok()?, 0))
                .map_or_else(|| "later".to_string(), |t| format!("at {}", t.to_rfc3339()));
            return Err(format!(
                "the token's API rate limit is used up and resets {at}; run again after that (a GITHUB_TOKEN has 1,000 requests an hour per repository, a personal access token 5,000)"
            ));
        }
        return Ok(Some(wait));
    }
    let retry_after = answer
        .header("retry-after")
        .and_then(|v| crate::registry::http::parse_retry_after(v, now));
    if let Some(wait) = retry_after {
        return Ok(Some(wait));
    }
    if answer
        .message()
        .to_ascii_lowercase()
        .contains("secondary rate limit")
    {
        return Ok(Some(SECONDARY_WAIT * attempt));
    }
    Ok((status == 429).then(|| BACKOFF_BASE * 2u32.pow(attempt - 1)))
}

/// Why a GraphQL request failed.
enum GraphqlFailure {
    /// No answer (no token, transport, retries) or one berth cannot read.
    Call(Error),
    /// An HTTP error status.
    Status(Answer),
    /// 200 with `errors`: their types and messages.
    Errors(String),
}

/// Reads a body up to [`PAGE_MAX`] bytes; Err says how much was seen.
async fn read_limited(
    mut body: http_body_util::combinators::BoxBody<bytes::Bytes, octocrab::Error>,
) -> Result<Vec<u8>, String> {
    let mut out = Vec::new();
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(|e| format!("the body broke off ({e})"))?;
        if let Ok(data) = frame.into_data() {
            out.extend_from_slice(&data);
            if out.len() as u64 > PAGE_MAX {
                return Err(format!("more than {} bytes read", out.len()));
            }
        }
    }
    Ok(out)
}

#[async_trait]
impl Repository for GitHubPackages {
    fn name(&self) -> &str {
        self.registry.name()
    }

    /// ghcr.io's versions list every manifest with digest and times; the legacy GraphQL
    /// versions name tags only.
    fn capabilities(&self) -> Capabilities {
        let capabilities = self.registry.capabilities();
        match self.target {
            Target::Rest { .. } => capabilities,
            Target::Legacy { .. } => Capabilities {
                untagged_visible: false,
                lists_digests: false,
                lists_push_times: false,
                ..capabilities
            },
        }
    }

    async fn list_tags(&self) -> Result<Vec<String>, Error> {
        Ok(self.list().await?.into_iter().map(|t| t.name).collect())
    }

    /// The listing's pages carry the digests: the check before deleting reads them there.
    async fn list_current(&self) -> Result<Vec<ListedTag>, Error> {
        self.list().await
    }

    async fn list(&self) -> Result<Vec<ListedTag>, Error> {
        match self.target {
            Target::Rest { .. } => self.rest_list().await,
            Target::Legacy { .. } => self.legacy_list().await,
        }
    }

    async fn manifest(&self, reference: &str) -> Result<Manifest, Error> {
        let manifest = self.registry.manifest(reference).await?;
        if matches!(self.target, Target::Legacy { .. }) && Digest::parse(reference).is_err() {
            self.lock()
                .tag_digests
                .insert(reference.to_string(), manifest.digest.clone());
        }
        Ok(manifest)
    }

    async fn resolve_digest(&self, tag: &str) -> Result<Digest, Error> {
        let digest = self.registry.resolve_digest(tag).await?;
        if matches!(self.target, Target::Legacy { .. }) {
            self.lock()
                .tag_digests
                .insert(tag.to_string(), digest.clone());
        }
        Ok(digest)
    }

    async fn config(&self, config: &Descriptor) -> Result<ImageConfig, Error> {
        self.registry.config(config).await
    }

    async fn referrers(&self, subject: &Digest) -> Result<Vec<Descriptor>, Error> {
        self.registry.referrers(subject).await
    }

    async fn delete_manifest(&self, digest: &Digest) -> Result<(), Error> {
        let _turn = self.mutations.turn().await;
        let result = self.delete(digest).await;
        if result.is_ok() {
            self.mutations.proven();
        }
        result
    }

    async fn untag(&self, tag: &str, current: &Manifest) -> Result<UntagMethod, Error> {
        let _turn = self.mutations.turn().await;
        let result = match self.target {
            Target::Rest { .. } => self.rest_untag(tag, current).await,
            // A legacy version is one tag: deleting it leaves the manifest's other tags.
            Target::Legacy { .. } => self
                .legacy_delete_tag(tag)
                .await
                .map(|()| UntagMethod::TagDelete),
        };
        if result.is_ok() {
            self.mutations.proven();
        }
        result
    }

    async fn push_manifest(
        &self,
        reference: &str,
        media_type: &str,
        bytes: Vec<u8>,
    ) -> Result<Digest, Error> {
        self.registry
            .push_manifest(reference, media_type, bytes)
            .await
    }
}

impl GitHubPackages {
    async fn delete(&self, digest: &Digest) -> Result<(), Error> {
        match self.target {
            Target::Rest { .. } => {
                self.check_denied(&format!("deleting {}", digest.short()))?;
                self.client("delete package versions")?;
                match self.rest_version_of(digest).await? {
                    Some(version) => self.rest_delete_version(&version, digest).await,
                    None => Err(Error::NotFound {
                        host: self.api.base.clone(),
                        what: format!("a version {digest} of {}", self.target.describe()),
                        detail: String::new(),
                    }),
                }
            }
            Target::Legacy { .. } => {
                let tags = self.legacy_tags_of(digest).await?;
                if tags.is_empty() {
                    return Err(Error::Unsupported {
                        host: self.api.base.clone(),
                        operation: format!("deleting the untagged manifest {digest}"),
                        detail: String::new(),
                        hint: "the legacy docker.pkg.github.com deletes tags (package versions) only; the manifest stays".into(),
                    });
                }
                for tag in tags {
                    match self.legacy_delete_tag(&tag).await {
                        Err(e) if !e.is_not_found() => return Err(e),
                        _ => {}
                    }
                }
                Ok(())
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_split_into_owner_and_package() {
        match Target::rest("octo/team/app").unwrap() {
            Target::Rest { owner, package } => {
                assert_eq!(owner, "octo");
                assert_eq!(package_segment(&package), "team%2Fapp");
            }
            other => panic!("{other:?}"),
        }
        assert!(Target::rest("octo").is_err());
        assert!(Target::rest("../x/app").is_err());
        match Target::legacy("octo/repo/img/sub").unwrap() {
            Target::Legacy {
                owner,
                repository,
                package,
            } => assert_eq!(
                (owner.as_str(), repository.as_str(), package.as_str()),
                ("octo", "repo", "img/sub")
            ),
            other => panic!("{other:?}"),
        }
        let e = Target::legacy("octo/app").unwrap_err().to_string();
        assert!(e.contains("OWNER/REPO/IMAGE"), "{e}");
    }

    fn answer(status: u16, headers: &[(&'static str, &str)], message: &str) -> Answer {
        let mut map = http::HeaderMap::new();
        for (k, v) in headers {
            map.insert(*k, v.parse().unwrap());
        }
        Answer {
            status,
            headers: map,
            body: json!({ "message": message }).to_string().into_bytes(),
        }
    }

    #[test]
    fn rate_limits_wait_as_asked_within_the_cap_and_say_when_they_reset() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_000_000);
        let primary = |reset: u64| {
            answer(
                403,
                &[
                    ("x-ratelimit-remaining", "0"),
                    ("x-ratelimit-reset", &reset.to_string()),
                ],
                "API rate limit exceeded",
            )
        };
        assert_eq!(
            retry_wait(&primary(1_000_004), 1, now),
            Ok(Some(Duration::from_secs(5)))
        );
        let hint = retry_wait(&primary(1_003_600), 1, now).unwrap_err();
        assert!(hint.contains("resets at 1970-01-12T14:46:40"), "{hint}");
        let secondary = answer(403, &[("retry-after", "3")], "secondary rate limit");
        assert_eq!(
            retry_wait(&secondary, 1, now),
            Ok(Some(Duration::from_secs(3)))
        );
        let unsaid = answer(403, &[], "You have exceeded a secondary rate limit.");
        assert_eq!(retry_wait(&unsaid, 1, now), Ok(Some(SECONDARY_WAIT)));
        let refused = answer(403, &[], "Resource not accessible by integration");
        assert_eq!(retry_wait(&refused, 1, now), Ok(None));
        assert!(
            retry_wait(&answer(502, &[], "bad gateway"), 1, now)
                .unwrap()
                .is_some()
        );
        assert_eq!(retry_wait(&answer(404, &[], "Not Found"), 1, now), Ok(None));
    }

    #[test]
    fn api_bases_refuse_credentials_without_showing_them() {
        assert_eq!(
            api_base("https://ghe.example/api/v3/", "GITHUB_API_URL").unwrap(),
            "https://ghe.example/api/v3"
        );
        let e = api_base("https://u:s3cret@ghe.example", "GITHUB_API_URL")
            .unwrap_err()
            .to_string();
        assert!(!e.contains("s3cret"), "{e}");
        assert!(api_base("ftp://x", "GITHUB_API_URL").is_err());
    }

    #[test]
    fn tokens_that_cannot_be_headers_are_refused_without_showing_them() {
        let e = client("https://api.github.com", "abc\ndef", None, "GITHUB_API_URL")
            .err()
            .unwrap()
            .to_string();
        assert!(e.contains(TOKEN_VARIABLES), "{e}");
        assert!(!e.contains("abc"), "{e}");
    }
}
