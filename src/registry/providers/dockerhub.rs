//! Docker Hub: tags are listed and deleted through the Hub API (`hub.docker.com/v2`, its own
//! JWT), manifests and configs are read through the registry (registry-apis.md §2).
//!
//! The Hub registry has no tag delete, and refuses a manifest delete while a tag names the
//! manifest, so a tag goes through the API's tag delete, and a manifest goes by deleting every
//! tag that names it (as the last listing showed them) and then the manifest itself. Where Hub
//! still refuses that last step (403 or the historical 405), the manifest is untagged and Hub's
//! untagged-image retention removes it: that counts as done, with a debug line saying so.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use reqwest::{Method, StatusCode};
use url::Url;

use super::ContainerRegistry;
use crate::env_vars as vars;
use crate::registry::client::{self, DistributionRepository, MAX_PAGES};
use crate::registry::http::{BodyLimit, Http, Reply, Request, detail_of};
use crate::registry::{
    Capabilities, Descriptor, Digest, Error, ImageConfig, ListedTag, Manifest, RegistryOptions,
    Repository, UntagMethod,
};
use crate::secret::Secret;

/// How errors name this API.
const API: &str = "Docker Hub API";
/// Tags per listing page: the Hub API's maximum.
const PAGE_SIZE: usize = 100;
/// The seeds' reason for refusing `a/b/c` (werf's docs, `002_*`).
const NESTED: &str =
    "Docker Hub does not support nested repositories (REGISTRY/REPO/SUBREPO); use NAMESPACE/REPO";
/// What a token needs to delete tags (registry-apis.md §2.4). In 2020 Hub refused every
/// personal access token (the seeds say so); today a PAT with the Read, Write, Delete scope can.
const DELETE_HINT: &str = "the token must be a personal access token with the Read, Write, Delete scope (repo:admin), or the account password; a PAT with Read & Write only cannot delete, and repository admin rights alone are not enough (Hub refused every PAT until 2022: create a new one with that scope)";

/// Opens the repository: `name` alone means `library/name`, as on Docker Hub, and a nested
/// path is refused.
pub fn open(
    registry: Arc<DistributionRepository>,
    options: &RegistryOptions,
) -> Result<Arc<dyn Repository>, Error> {
    let components: Vec<&str> = registry.path().split('/').collect();
    let (registry, namespace, repository) = match components.as_slice() {
        [name] => {
            let path = format!("library/{name}");
            let capabilities = ContainerRegistry::Dockerhub.capabilities();
            let library = registry.client().distribution(&path, capabilities);
            (library, "library".to_string(), name.to_string())
        }
        [namespace, name] => (registry.clone(), namespace.to_string(), name.to_string()),
        _ => {
            return Err(Error::Unsupported {
                host: registry.client().registry().to_string(),
                operation: format!("the nested repository `{}`", registry.path()),
                detail: String::new(),
                hint: NESTED.into(),
            });
        }
    };
    let settings = &options.providers.dockerhub;
    let base = api_base(&settings.api_url, options)?;
    let host = base.host_str().unwrap_or_default().to_string();
    let http = Http::new(&host, options)?;
    let login = match (&settings.token, &settings.username, &settings.password) {
        (Some(token), _, _) => {
            http.redactor().add(token.value.expose());
            Login::Token(token.value.clone())
        }
        (None, Some(username), Some(password)) => {
            http.redactor().add_login(username, password.value.expose());
            Login::Password {
                username: username.clone(),
                password: password.value.clone(),
            }
        }
        _ => Login::Anonymous,
    };
    Ok(Arc::new(DockerHub {
        registry,
        namespace,
        repository,
        base,
        http,
        login,
        jwt: tokio::sync::Mutex::new(None),
        listed: Mutex::new(None),
        refused: Mutex::new(None),
        deletes: super::DeleteGate::default(),
    }))
}

/// The API base from `BERTH_DOCKERHUB_API_URL`: https, or plain http on loopback or an
/// `--insecure-registry` host (the token must not cross a network in clear text).
fn api_base(text: &str, options: &RegistryOptions) -> Result<Url, Error> {
    let bad = |why: String| Error::Platform {
        api: API,
        what: format!("using {} `{text}`", vars::BERTH_DOCKERHUB_API_URL),
        message: why,
        hint: format!(
            "set {} to the Hub API's base URL, e.g. https://hub.docker.com",
            vars::BERTH_DOCKERHUB_API_URL
        ),
    };
    let url = Url::parse(text).map_err(|e| bad(format!("not a URL ({e})")))?;
    super::check_api_base(&url, options, "the Hub token", &bad)?;
    Ok(url)
}

/// What berth logs into the Hub API with.
enum Login {
    /// `BERTH_DOCKERHUB_TOKEN`: a Hub JWT or access token, sent as it is.
    Token(Secret),
    /// `BERTH_DOCKERHUB_USERNAME` + `BERTH_DOCKERHUB_PASSWORD`, exchanged for a JWT.
    Password { username: String, password: Secret },
    /// Nothing: public repositories list anonymously; deletes need a login.
    Anonymous,
}

/// A permission refusal, remembered so that later deletes fail without another request.
#[derive(Clone)]
struct Refusal {
    status: u16,
    message: String,
}

struct DockerHub {
    registry: Arc<DistributionRepository>,
    namespace: String,
    repository: String,
    base: Url,
    http: Http,
    login: Login,
    /// The JWT of a password login, fetched on first use and again when it expires.
    jwt: tokio::sync::Mutex<Option<Secret>>,
    /// Tag → digest as the last listing showed them (the tags a manifest delete removes).
    listed: Mutex<Option<HashMap<String, Digest>>>,
    refused: Mutex<Option<Refusal>>,
    /// One delete at a time until one succeeds (see [`super::DeleteGate`]).
    deletes: super::DeleteGate,
}

impl DockerHub {
    fn path(&self) -> String {
        format!("{}/{}", self.namespace, self.repository)
    }

    /// `<base>/v2/<segments…>`, each segment checked before it becomes part of a path.
    fn url(&self, segments: &[&str]) -> Result<Url, Error> {
        let mut url = self.base.clone();
        let mut checked = Vec::with_capacity(segments.len());
        for s in segments {
            checked.push(if s.is_empty() {
                *s
            } else {
                client::segment(s, "Docker Hub path segment")?
            });
        }
        url.path_segments_mut()
            .map_err(|()| Error::ClientSetup {
                host: self.base.to_string(),
                why: "the Hub API base cannot take a path".into(),
            })?
            .pop_if_empty()
            .push("v2")
            .extend(checked);
        Ok(url)
    }

    fn tags_url(&self) -> Result<Url, Error> {
        let mut url = self.url(&[
            "namespaces",
            &self.namespace,
            "repositories",
            &self.repository,
            "tags",
        ])?;
        url.set_query(Some(&format!("page=1&page_size={PAGE_SIZE}")));
        Ok(url)
    }

    /// The `Authorization` value, logging in first where that is how berth gets a token.
    async fn authorization(&self, renew: bool) -> Result<Option<Secret>, Error> {
        match &self.login {
            Login::Token(token) => Ok(Some(Secret::new(format!("Bearer {}", token.expose())))),
            Login::Anonymous => Ok(None),
            Login::Password { username, password } => {
                let mut jwt = self.jwt.lock().await;
                if renew || jwt.is_none() {
                    let token = self.log_in(username, password).await?;
                    self.http.redactor().add(token.expose());
                    *jwt = Some(token);
                }
                Ok(jwt
                    .as_ref()
                    .map(|t| Secret::new(format!("Bearer {}", t.expose()))))
            }
        }
    }

    /// `POST /v2/auth/token`, or the legacy `POST /v2/users/login` where the first is not
    /// there (older Hub deployments and mirrors).
    async fn log_in(&self, username: &str, password: &Secret) -> Result<Secret, Error> {
        #[derive(serde::Deserialize)]
        struct Answer {
            #[serde(default)]
            access_token: Option<String>,
            #[serde(default)]
            token: Option<String>,
        }
        let body = serde_json::json!({"identifier": username, "secret": password.expose()});
        let mut reply = self.post_login(&["auth", "token"], &body).await?;
        if matches!(reply.status.as_u16(), 404 | 405) {
            tracing::debug!("no /v2/auth/token on this Hub API; logging in at /v2/users/login");
            let body = serde_json::json!({"username": username, "password": password.expose()});
            reply = self.post_login(&["users", "login", ""], &body).await?;
        }
        let what = format!("logging in as `{username}`");
        if reply.status == StatusCode::UNAUTHORIZED {
            let two_factor = String::from_utf8_lossy(&reply.body).contains("login_2fa_token");
            let hint = if two_factor {
                format!(
                    "the account has two-factor authentication, so it cannot log in with its password: create a personal access token with the Read, Write, Delete scope and put it in {}",
                    vars::BERTH_DOCKERHUB_PASSWORD
                )
            } else {
                format!(
                    "check {} and {} (the password or a personal access token of that account)",
                    vars::BERTH_DOCKERHUB_USERNAME,
                    vars::BERTH_DOCKERHUB_PASSWORD
                )
            };
            return Err(platform(what, status_message(&reply), hint));
        }
        if !reply.status.is_success() {
            return Err(platform(
                what,
                status_message(&reply),
                "try again later; if it persists, check https://www.dockerstatus.com".into(),
            ));
        }
        let answer: Answer =
            serde_json::from_slice(&reply.body).map_err(|e| Error::BadResponse {
                url: reply.url.to_string(),
                why: format!("not a login answer ({e})"),
            })?;
        answer
            .access_token
            .or(answer.token)
            .filter(|t| !t.is_empty())
            .map(Secret::new)
            .ok_or_else(|| Error::BadResponse {
                url: reply.url.to_string(),
                why: "a login answer without a token".into(),
            })
    }

    async fn post_login(
        &self,
        segments: &[&str],
        body: &serde_json::Value,
    ) -> Result<Reply, Error> {
        let request = Request::new(Method::POST, self.url(segments)?)
            .header("content-type", "application/json")
            .header("accept", "application/json")
            .body(body.to_string().into_bytes())
            .limit(BodyLimit::Token);
        self.http.send(&request).await
    }

    /// Sends an API request with the Hub token; a password login's expired JWT is renewed
    /// once (Hub's access tokens live about ten minutes).
    async fn send(&self, method: Method, url: Url) -> Result<Reply, Error> {
        let mut renew = false;
        loop {
            let mut request =
                Request::new(method.clone(), url.clone()).header("accept", "application/json");
            if let Some(value) = self.authorization(renew).await? {
                request = request.sensitive_header("authorization", value.expose());
            }
            let reply = self.http.send(&request).await?;
            if reply.status == StatusCode::UNAUTHORIZED
                && !renew
                && matches!(self.login, Login::Password { .. })
            {
                renew = true;
                continue;
            }
            return Ok(reply);
        }
    }

    /// The error for a 401: what credentials would do.
    fn unauthorized(&self, what: String, reply: &Reply) -> Error {
        match &self.login {
            Login::Anonymous => Error::NoApiToken {
                api: API,
                operation: format!("{what} (a private repository, or a delete)"),
                variables: credentials_variables(),
            },
            Login::Token(_) => platform(
                what,
                status_message(reply),
                format!(
                    "{} was rejected (expired or not a Hub token): Hub's tokens expire within minutes, so set {} and {} and berth logs in itself",
                    vars::BERTH_DOCKERHUB_TOKEN,
                    vars::BERTH_DOCKERHUB_USERNAME,
                    vars::BERTH_DOCKERHUB_PASSWORD
                ),
            ),
            Login::Password { username, .. } => platform(
                what,
                status_message(reply),
                format!(
                    "Hub rejected the token it issued to `{username}`; check {} and {}",
                    vars::BERTH_DOCKERHUB_USERNAME,
                    vars::BERTH_DOCKERHUB_PASSWORD
                ),
            ),
        }
    }

    /// Fails without a request when Hub already refused a delete, or when there is no login.
    fn may_delete(&self, what: &str) -> Result<(), Error> {
        if matches!(self.login, Login::Anonymous) {
            return Err(Error::NoApiToken {
                api: API,
                operation: format!("delete tags of `{}`", self.path()),
                variables: credentials_variables(),
            });
        }
        match self.refused.lock().expect("refusal lock").clone() {
            Some(r) => Err(platform(
                what.to_string(),
                format!(
                    "not sent: Hub refused an earlier delete with these credentials ({}{})",
                    r.status, r.message
                ),
                "see the first refused delete for what the token needs".into(),
            )),
            None => Ok(()),
        }
    }

    /// `DELETE /v2/repositories/{ns}/{repo}/tags/{tag}/` (the trailing slash is part of the
    /// route). A tag already gone is [`Error::NotFound`].
    async fn delete_tag(&self, tag: &str) -> Result<(), Error> {
        let what = format!("deleting tag `{tag}` of `{}`", self.path());
        self.may_delete(&what)?;
        let _turn = self.deletes.turn().await;
        // Another delete may have been refused while this one waited.
        self.may_delete(&what)?;
        let url = self.url(&[
            "repositories",
            &self.namespace,
            &self.repository,
            "tags",
            tag,
            "",
        ])?;
        let reply = self.send(Method::DELETE, url).await?;
        match reply.status.as_u16() {
            200..=299 => {
                self.deletes.proven();
                tracing::debug!(repository = %self.registry.name(), tag, "deleted tag through the Hub API");
                if let Some(listed) = self.listed.lock().expect("listing lock").as_mut() {
                    listed.remove(tag);
                }
                Ok(())
            }
            404 => Err(Error::NotFound {
                host: self.base.host_str().unwrap_or_default().to_string(),
                what: format!("tag `{tag}` of `{}`", self.path()),
                detail: hub_detail(&reply),
            }),
            401 => Err(self.unauthorized(what, &reply)),
            403 => {
                let refusal = Refusal {
                    status: 403,
                    message: hub_detail(&reply),
                };
                *self.refused.lock().expect("refusal lock") = Some(refusal);
                Err(platform(what, status_message(&reply), DELETE_HINT.into()))
            }
            _ => Err(platform(
                what,
                status_message(&reply),
                "try again later; nothing else was changed".into(),
            )),
        }
    }
}

#[async_trait]
impl Repository for DockerHub {
    fn name(&self) -> &str {
        self.registry.name()
    }

    fn capabilities(&self) -> Capabilities {
        self.registry.capabilities()
    }

    async fn list_tags(&self) -> Result<Vec<String>, Error> {
        Ok(self.list().await?.into_iter().map(|t| t.name).collect())
    }

    /// Every page of `GET /v2/namespaces/{ns}/repositories/{repo}/tags`, following the
    /// absolute `next` URL, which must stay on the API base's host and listing path.
    /// The listing's pages carry the digests: the check before deleting reads them there.
    async fn list_current(&self) -> Result<Vec<ListedTag>, Error> {
        self.list().await
    }

    async fn list(&self) -> Result<Vec<ListedTag>, Error> {
        #[derive(serde::Deserialize)]
        struct Page {
            #[serde(default)]
            next: Option<String>,
            #[serde(default)]
            results: Vec<HubTag>,
        }
        #[derive(serde::Deserialize)]
        struct HubTag {
            name: String,
            #[serde(default)]
            digest: Option<String>,
            #[serde(default)]
            media_type: Option<String>,
            #[serde(default)]
            tag_last_pushed: Option<String>,
            #[serde(default)]
            last_updated: Option<String>,
        }
        let first = self.tags_url()?;
        let mut url = first.clone();
        let mut seen: HashSet<Url> = HashSet::new();
        let mut tags = Vec::new();
        loop {
            if !seen.insert(url.clone()) {
                return Err(Error::PageLoop {
                    url: url.to_string(),
                });
            }
            if seen.len() > MAX_PAGES {
                return Err(Error::TooManyPages {
                    url: url.to_string(),
                    pages: seen.len() - 1,
                    max: MAX_PAGES,
                });
            }
            let reply = self.send(Method::GET, url.clone()).await?;
            let what = format!("listing the tags of `{}`", self.path());
            match reply.status.as_u16() {
                200..=299 => {}
                // A 404 part-way through would hide tags: never taken as the end.
                404 if url == first => {
                    return Err(Error::NotFound {
                        host: self.base.host_str().unwrap_or_default().to_string(),
                        what: format!("repository `{}` on Docker Hub", self.path()),
                        detail: hub_detail(&reply),
                    });
                }
                401 => return Err(self.unauthorized(what, &reply)),
                _ => {
                    return Err(platform(
                        what,
                        status_message(&reply),
                        "try again later; nothing was changed".into(),
                    ));
                }
            }
            let page: Page =
                serde_json::from_slice(&reply.body).map_err(|e| Error::BadResponse {
                    url: url.to_string(),
                    why: format!("not a Hub tag list ({e})"),
                })?;
            tags.extend(page.results.into_iter().map(|t| {
                let pushed = t
                    .tag_last_pushed
                    .or(t.last_updated)
                    .and_then(|p| chrono::DateTime::parse_from_rfc3339(&p).ok())
                    .map(|p| p.with_timezone(&chrono::Utc));
                ListedTag {
                    name: t.name,
                    digest: t.digest.and_then(|d| Digest::parse(&d).ok()),
                    // Hub's `content_type` is `image` or `plugin`, not a media type.
                    media_type: t.media_type.filter(|m| m.contains('/')),
                    pushed,
                }
            }));
            match page.next.filter(|n| !n.is_empty()) {
                Some(next) => url = client::same_listing(&url, &next)?,
                None => break,
            }
        }
        let listed: HashMap<String, Digest> = tags
            .iter()
            .filter_map(|t| Some((t.name.clone(), t.digest.clone()?)))
            .collect();
        *self.listed.lock().expect("listing lock") = Some(listed);
        tracing::debug!(repository = %self.registry.name(), tags = tags.len(), "listed tags through the Hub API");
        Ok(tags)
    }

    async fn manifest(&self, reference: &str) -> Result<Manifest, Error> {
        self.registry.manifest(reference).await
    }

    async fn resolve_digest(&self, tag: &str) -> Result<Digest, Error> {
        self.registry.resolve_digest(tag).await
    }

    async fn config(&self, config: &Descriptor) -> Result<ImageConfig, Error> {
        self.registry.config(config).await
    }

    async fn referrers(&self, subject: &Digest) -> Result<Vec<Descriptor>, Error> {
        self.registry.referrers(subject).await
    }

    /// Deletes every tag the last listing shows on `digest` through the Hub API, then the
    /// manifest through the registry.
    async fn delete_manifest(&self, digest: &Digest) -> Result<(), Error> {
        let known = self.listed.lock().expect("listing lock").is_some();
        if !known {
            self.list().await?;
        }
        let mut tags: Vec<String> = self
            .listed
            .lock()
            .expect("listing lock")
            .iter()
            .flatten()
            .filter(|(_, d)| *d == digest)
            .map(|(t, _)| t.clone())
            .collect();
        tags.sort();
        for tag in &tags {
            match self.delete_tag(tag).await {
                Err(e) if !e.is_not_found() => return Err(e),
                _ => {}
            }
        }
        match self.registry.delete_manifest(digest).await {
            Err(Error::Denied { detail, .. }) | Err(Error::Unsupported { detail, .. }) => {
                tracing::debug!(
                    repository = %self.registry.name(),
                    %digest,
                    "the Hub registry refused the manifest delete{detail}; its tags are gone, so it is untagged and Hub's untagged-image retention removes it"
                );
                Ok(())
            }
            other => other,
        }
    }

    /// The Hub API's tag delete: the manifest and its other tags stay.
    async fn untag(&self, tag: &str, _current: &Manifest) -> Result<UntagMethod, Error> {
        self.delete_tag(tag).await?;
        Ok(UntagMethod::TagDelete)
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

fn platform(what: String, message: String, hint: String) -> Error {
    Error::Platform {
        api: API,
        what,
        message,
        hint,
    }
}

fn credentials_variables() -> String {
    format!(
        "{}, or {} and {} (a password or a personal access token)",
        vars::BERTH_DOCKERHUB_TOKEN,
        vars::BERTH_DOCKERHUB_USERNAME,
        vars::BERTH_DOCKERHUB_PASSWORD
    )
}

/// `: <detail>` of a Hub error body (`{"detail":…}` or `{"message":…}`), cut short and
/// cleared of anything shaped like a credential; else the body's own excerpt.
fn hub_detail(reply: &Reply) -> String {
    #[derive(serde::Deserialize)]
    struct HubError {
        #[serde(default)]
        detail: Option<String>,
        #[serde(default)]
        message: Option<String>,
    }
    match serde_json::from_slice::<HubError>(&reply.body) {
        Ok(HubError {
            detail: Some(text), ..
        })
        | Ok(HubError {
            message: Some(text),
            ..
        }) => detail_of(text.as_bytes()),
        _ => reply.detail(),
    }
}

/// `answered 403: insufficient scope`.
fn status_message(reply: &Reply) -> String {
    format!("answered {}{}", reply.status.as_u16(), hub_detail(reply))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn options(api: &str) -> RegistryOptions {
        let mut o = RegistryOptions::default();
        o.providers.dockerhub.api_url = api.into();
        o
    }

    #[test]
    fn the_api_base_is_https_or_loopback_http() {
        assert!(api_base("https://hub.docker.com", &options("")).is_ok());
        assert!(api_base("http://127.0.0.1:8080", &options("")).is_ok());
        assert!(api_base("http://localhost:8080/hub", &options("")).is_ok());
        let err = api_base("http://hub.example.com", &options(""))
            .unwrap_err()
            .to_string();
        assert!(err.contains("clear text"), "{err}");
        assert!(err.contains("BERTH_DOCKERHUB_API_URL"), "{err}");
        let mut insecure = options("");
        insecure.insecure_hosts.push("hub.example.com".into());
        assert!(api_base("http://hub.example.com", &insecure).is_ok());
        assert!(api_base("not a url", &options("")).is_err());
        assert!(api_base("https://hub.docker.com/?x=1", &options("")).is_err());
    }

    #[test]
    fn hub_error_bodies_are_quoted_briefly_and_without_secrets() {
        let reply = |body: &str| Reply {
            url: Url::parse("https://hub.docker.com/v2/").unwrap(),
            status: StatusCode::FORBIDDEN,
            headers: Default::default(),
            body: body.as_bytes().to_vec(),
        };
        assert_eq!(
            hub_detail(&reply(r#"{"detail":"insufficient scope"}"#)),
            ": insufficient scope"
        );
        assert_eq!(
            hub_detail(&reply(r#"{"message":"rate limited"}"#)),
            ": rate limited"
        );
        let d = hub_detail(&reply(r#"{"detail":"bad token eyJhbGciOi.eyJzdWIi.c2ln"}"#));
        assert!(!d.contains("eyJ"), "{d}");
        assert_eq!(hub_detail(&reply("plain text")), ": plain text");
    }
}
