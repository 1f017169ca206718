//! Harbor: tags are listed and deleted through Harbor's API (`/api/v2.0` on the registry host),
//! manifests and configs are read through the registry (registry-apis.md §5).
//!
//! Harbor's registry refuses a manifest DELETE by tag (400 `UNSUPPORTED`), so a tag goes
//! through the API's tag delete (`DELETE …/artifacts/{digest}/tags/{tag}`), which leaves the
//! artifact and its other tags, and a manifest through the artifact delete, which removes the
//! artifact with every tag and accessory (signatures) on it. The API takes the registry login
//! of the docker config as HTTP Basic (users and robot accounts `robot$name` alike), and no
//! cookie is ever sent back: Harbor checks CSRF on requests that carry its session cookie.

use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use base64::Engine;
use reqwest::Method;
use tokio::sync::OnceCell;
use url::Url;

use crate::env_vars as vars;
use crate::registry::client::{self, DistributionRepository, MAX_PAGES};
use crate::registry::credentials::{self, Credentials};
use crate::registry::http::{Http, Reply, Request, detail_of};
use crate::registry::{
    Capabilities, Descriptor, Digest, Error, ImageConfig, ListedTag, Manifest, RegistryOptions,
    Repository, UntagMethod,
};
use crate::secret::Secret;

/// How errors name this API.
const API: &str = "Harbor API";
/// Artifacts per listing page: the API's maximum.
const PAGE_SIZE: usize = 100;
/// What a delete needs (Harbor's project roles and robot permissions).
const DELETE_HINT: &str = "the account needs the Maintainer or Project Admin role in the project, or a robot account with the `delete` permission on `artifact` (and on `tag` for tag deletes); log in with it (`docker login`) and run again";
/// Harbor answers 412 `PROJECTPOLICYVIOLATION` while a project policy (a running scan, a
/// retention or replication job) holds the artifact; werf retries those deletes after a short
/// pause, and so does berth, a few times.
const POLICY_RETRIES: u32 = 3;
const POLICY_PAUSE: Duration = Duration::from_millis(500);

/// Opens the repository: the first path component is Harbor's project, the rest the
/// repository inside it.
pub fn open(
    registry: Arc<DistributionRepository>,
    options: &RegistryOptions,
) -> Result<Arc<dyn Repository>, Error> {
    let host = registry.client().registry().to_string();
    let Some((project, repository)) = registry.path().split_once('/') else {
        return Err(Error::Unsupported {
            host,
            operation: format!("the repository `{}` outside a project", registry.path()),
            detail: String::new(),
            hint: "Harbor keeps every repository in a project: name it as HOST/PROJECT/REPO".into(),
        });
    };
    let (project, repository) = (project.to_string(), repository.to_string());
    let base = api_base(options.providers.harbor.api_url.as_deref(), &host, options)?;
    let authority = match base.port() {
        Some(port) => format!("{}:{port}", base.host_str().unwrap_or_default()),
        None => base.host_str().unwrap_or_default().to_string(),
    };
    let http = Http::new(&authority, options)?;
    Ok(Arc::new(Harbor {
        registry,
        project,
        repository,
        base,
        http,
        registry_host: host,
        docker_config: options.docker_config.clone(),
        login: OnceCell::new(),
        refused: Mutex::new(None),
        deletes: super::DeleteGate::default(),
    }))
}

/// The API base: `BERTH_HARBOR_API_URL`, else `/api/v2.0` on the registry host over https
/// (plain http for a loopback or `--insecure-registry` host). Plain http elsewhere is refused:
/// the login would cross a network in clear text.
fn api_base(
    given: Option<&str>,
    registry_host: &str,
    options: &RegistryOptions,
) -> Result<Url, Error> {
    let text = match given {
        Some(text) => text.trim_end_matches('/').to_string(),
        None => {
            let scheme = if super::plain_http_allowed(options, registry_host) {
                "http"
            } else {
                "https"
            };
            format!("{scheme}://{registry_host}/api/v2.0")
        }
    };
    // A URL with a login in it is never shown.
    let shown = match Url::parse(&text) {
        Ok(u) if !u.username().is_empty() || u.password().is_some() => {
            "(a URL with a login in it)".to_string()
        }
        _ => format!("`{text}`"),
    };
    let bad = |why: String| Error::Platform {
        api: API,
        what: format!("using the API base {shown}"),
        message: why,
        hint: format!(
            "set {} to Harbor's API base, e.g. https://harbor.example.com/api/v2.0",
            vars::BERTH_HARBOR_API_URL
        ),
    };
    let url = Url::parse(&format!("{text}/")).map_err(|e| bad(format!("not a URL ({e})")))?;
    if !url.username().is_empty() || url.password().is_some() {
        return Err(bad(
            "the URL carries credentials; berth takes the login from the docker config".into(),
        ));
    }
    super::check_api_base(&url, options, "the login", &bad)?;
    Ok(url)
}

/// A permission refusal, remembered so that later deletes fail without another request.
#[derive(Clone)]
struct Refusal {
    status: u16,
    message: String,
}

struct Harbor {
    registry: Arc<DistributionRepository>,
    project: String,
    repository: String,
    base: Url,
    http: Http,
    registry_host: String,
    docker_config: Option<std::path::PathBuf>,
    /// `Basic …` from the docker config's login for the registry host, read once.
    login: OnceCell<Option<Secret>>,
    refused: Mutex<Option<Refusal>>,
    /// One delete at a time until one succeeds (see [`super::DeleteGate`]).
    deletes: super::DeleteGate,
}

impl Harbor {
    fn path(&self) -> String {
        format!("{}/{}", self.project, self.repository)
    }

    /// `<base>/projects/{project}/repositories/{repository}/artifacts[/…]`. The repository
    /// name is encoded twice, as Harbor demands of names with `/`: `a/b` → `a%2Fb` here, and
    /// the URL's own segment encoding makes that `a%252Fb`.
    fn artifacts_url(&self, rest: &[&str]) -> Result<Url, Error> {
        let project = client::segment(&self.project, "Harbor project")?;
        for part in self.repository.split('/') {
            client::segment(part, "Harbor repository path component")?;
        }
        let once = self.repository.replace('/', "%2F");
        let mut checked = Vec::with_capacity(rest.len());
        for s in rest {
            checked.push(client::segment(s, "Harbor path segment")?);
        }
        let mut url = self.base.clone();
        url.path_segments_mut()
            .map_err(|()| Error::ClientSetup {
                host: self.base.to_string(),
                why: "the Harbor API base cannot take a path".into(),
            })?
            .pop_if_empty()
            .extend(["projects", project, "repositories", &once, "artifacts"])
            .extend(checked);
        Ok(url)
    }

    /// The `Authorization` value, from the docker config's login for the registry host.
    async fn authorization(&self) -> Result<Option<&Secret>, Error> {
        let login = self
            .login
            .get_or_try_init(|| async {
                let dir = self.docker_config.clone();
                let registry = self.registry_host.clone();
                let found = tokio::task::spawn_blocking(move || {
                    credentials::lookup(dir.as_deref(), &registry)
                })
                .await
                .map_err(|e| Error::ClientSetup {
                    host: self.registry_host.clone(),
                    why: format!("credential lookup did not finish ({e})"),
                })??;
                match found {
                    None => Ok(None),
                    Some(Credentials::Basic { username, password }) => {
                        self.http.redactor().add_login(&username, password.expose());
                        let pair = format!("{username}:{}", password.expose());
                        let encoded = base64::engine::general_purpose::STANDARD.encode(pair);
                        self.http.redactor().add(&encoded);
                        Ok(Some(Secret::new(format!("Basic {encoded}"))))
                    }
                    Some(Credentials::IdentityToken { username, token }) => {
                        self.http.redactor().add_login(&username, token.expose());
                        Err(platform(
                            format!("logging in to `{}`", self.registry_host),
                            "the docker config holds an identity token for this host, which Harbor's API does not take".into(),
                            "log in with a user name and password, a CLI secret or a robot account (`docker login`)".into(),
                        ))
                    }
                }
            })
            .await?;
        Ok(login.as_ref())
    }

    async fn send(&self, method: Method, url: Url) -> Result<Reply, Error> {
        let mut request = Request::new(method, url).header("accept", "application/json");
        if let Some(value) = self.authorization().await? {
            request = request.sensitive_header("authorization", value.expose());
        }
        self.http.send(&request).await
    }

    fn no_login(&self, operation: String) -> Error {
        Error::NoApiToken {
            api: API,
            operation,
            variables: format!(
                "a login for `{}` in the docker config (`docker login {}`, a user or a robot account)",
                self.registry_host, self.registry_host
            ),
        }
    }

    /// The error for a 401: no login (`operation` says what one would allow), or one Harbor
    /// rejects.
    async fn unauthorized(&self, what: String, operation: String, reply: &Reply) -> Error {
        match self.authorization().await {
            Ok(None) => self.no_login(operation),
            _ => platform(
                what,
                status_message(reply),
                format!(
                    "Harbor rejected the docker config's login for `{}` (a wrong or expired password or robot secret): log in again",
                    self.registry_host
                ),
            ),
        }
    }

    /// Fails without a request when Harbor already refused a delete (401 or 403).
    fn may_delete(&self, what: &str) -> Result<(), Error> {
        match self.refused.lock().expect("refusal lock").clone() {
            Some(r) => Err(platform(
                what.to_string(),
                format!(
                    "not sent: Harbor refused an earlier delete with this login ({}{})",
                    r.status, r.message
                ),
                "see the first refused delete for what the account needs".into(),
            )),
            None => Ok(()),
        }
    }

    /// Sends a delete (artifact or tag), retrying a policy violation a few times. A definite
    /// 404 is [`Error::NotFound`].
    async fn delete(&self, url: Url, what: String, thing: String) -> Result<(), Error> {
        self.may_delete(&what)?;
        let _turn = self.deletes.turn().await;
        // Another delete may have been refused while this one waited.
        self.may_delete(&what)?;
        let mut retries = 0;
        loop {
            let reply = self.send(Method::DELETE, url.clone()).await?;
            match reply.status.as_u16() {
                200..=299 => {
                    self.deletes.proven();
                    tracing::debug!(repository = %self.registry.name(), %thing, "deleted through the Harbor API");
                    return Ok(());
                }
                404 => {
                    return Err(Error::NotFound {
                        host: self.registry_host.clone(),
                        what: thing,
                        detail: harbor_detail(&reply),
                    });
                }
                401 => {
                    *self.refused.lock().expect("refusal lock") = Some(Refusal {
                        status: 401,
                        message: harbor_detail(&reply),
                    });
                    let operation = format!("delete in `{}`", self.path());
                    return Err(self.unauthorized(what, operation, &reply).await);
                }
                403 => {
                    *self.refused.lock().expect("refusal lock") = Some(Refusal {
                        status: 403,
                        message: harbor_detail(&reply),
                    });
                    return Err(platform(what, status_message(&reply), DELETE_HINT.into()));
                }
                412 if error_code(&reply).as_deref() == Some("PROJECTPOLICYVIOLATION") => {
                    if retries < POLICY_RETRIES {
                        retries += 1;
                        tracing::debug!(repository = %self.registry.name(), %thing, retries, "Harbor refused the delete for a project policy; trying again");
                        tokio::time::sleep(POLICY_PAUSE).await;
                        continue;
                    }
                    return Err(platform(
                        what,
                        format!("{} (tried {} times)", status_message(&reply), retries + 1),
                        "a project policy holds the artifact (a running scan, retention or replication job, or an immutable tag rule): wait for it to finish or change the policy, and run again".into(),
                    ));
                }
                _ => {
                    return Err(platform(
                        what,
                        status_message(&reply),
                        "try again later; nothing else was changed".into(),
                    ));
                }
            }
        }
    }
}

#[async_trait]
impl Repository for Harbor {
    fn name(&self) -> &str {
        self.registry.name()
    }

    fn capabilities(&self) -> Capabilities {
        self.registry.capabilities()
    }

    async fn list_tags(&self) -> Result<Vec<String>, Error> {
        Ok(self.list().await?.into_iter().map(|t| t.name).collect())
    }

    /// The artifact pages carry the digests: the check before deleting reads them there.
    async fn list_current(&self) -> Result<Vec<ListedTag>, Error> {
        self.list().await
    }

    /// Every page of `GET …/artifacts?with_tag=true`, following the relative `Link: rel=next`,
    /// which must stay on the API's host and the listing's path. Untagged artifacts list no
    /// tags and give nothing here.
    async fn list(&self) -> Result<Vec<ListedTag>, Error> {
        #[derive(serde::Deserialize)]
        struct Artifact {
            digest: String,
            #[serde(default)]
            manifest_media_type: Option<String>,
            #[serde(default)]
            push_time: Option<String>,
            #[serde(default)]
            tags: Option<Vec<Tag>>,
        }
        #[derive(serde::Deserialize)]
        struct Tag {
            name: String,
            #[serde(default)]
            push_time: Option<String>,
        }
        let time = |t: &Option<String>| {
            t.as_deref()
                .and_then(|p| chrono::DateTime::parse_from_rfc3339(p).ok())
                .map(|p| p.with_timezone(&chrono::Utc))
        };
        let first = {
            let mut url = self.artifacts_url(&[])?;
            url.set_query(Some(&format!("page=1&page_size={PAGE_SIZE}&with_tag=true")));
            url
        };
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
            let what = format!("listing the artifacts of `{}`", self.path());
            match reply.status.as_u16() {
                200..=299 => {}
                // A 404 part-way through would hide tags: never taken as the end.
                404 if url == first => {
                    return Err(Error::NotFound {
                        host: self.registry_host.clone(),
                        what: format!("repository `{}` in Harbor", self.path()),
                        detail: harbor_detail(&reply),
                    });
                }
                401 => {
                    let operation = format!("list the artifacts of `{}`", self.path());
                    return Err(self.unauthorized(what, operation, &reply).await);
                }
                403 => {
                    return Err(platform(
                        what,
                        status_message(&reply),
                        "the account needs at least the Guest role in the project (a robot account: `list` and `read` on `artifact`)".into(),
                    ));
                }
                _ => {
                    return Err(platform(
                        what,
                        status_message(&reply),
                        "try again later; nothing was changed".into(),
                    ));
                }
            }
            let page: Vec<Artifact> =
                serde_json::from_slice(&reply.body).map_err(|e| Error::BadResponse {
                    url: url.to_string(),
                    why: format!("not a Harbor artifact list ({e})"),
                })?;
            for artifact in page {
                let digest = Digest::parse(&artifact.digest).ok();
                let pushed = time(&artifact.push_time);
                for tag in artifact.tags.into_iter().flatten() {
                    tags.push(ListedTag {
                        pushed: time(&tag.push_time).or(pushed),
                        name: tag.name,
                        digest: digest.clone(),
                        media_type: artifact.manifest_media_type.clone(),
                    });
                }
            }
            match reply.header("link").and_then(client::parse_next_link) {
                Some(next) => url = client::same_listing(&url, &next)?,
                None => break,
            }
        }
        tracing::debug!(repository = %self.registry.name(), tags = tags.len(), "listed artifacts through the Harbor API");
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

    /// `DELETE …/artifacts/{digest}`: the artifact with all its tags and accessories; an
    /// index takes its children that nothing else references and no tag names.
    async fn delete_manifest(&self, digest: &Digest) -> Result<(), Error> {
        let url = self.artifacts_url(&[digest.as_str()])?;
        self.delete(
            url,
            format!("deleting artifact {digest} of `{}`", self.path()),
            format!("artifact {digest} of `{}`", self.path()),
        )
        .await
    }

    /// `DELETE …/artifacts/{digest}/tags/{tag}`, naming the artifact the tag pointed at when
    /// checked: if the tag moved since, Harbor answers 404 and the new image keeps its tag.
    async fn untag(&self, tag: &str, current: &Manifest) -> Result<UntagMethod, Error> {
        let url = self.artifacts_url(&[current.digest.as_str(), "tags", tag])?;
        self.delete(
            url,
            format!("deleting tag `{tag}` of `{}`", self.path()),
            format!("tag `{tag}` on {} of `{}`", current.digest, self.path()),
        )
        .await?;
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

#[derive(serde::Deserialize)]
struct HarborErrors {
    #[serde(default)]
    errors: Vec<HarborError>,
}

#[derive(serde::Deserialize)]
struct HarborError {
    #[serde(default)]
    code: Option<String>,
    #[serde(default)]
    message: Option<String>,
}

/// The first error's code (`NOT_FOUND`, `PROJECTPOLICYVIOLATION`).
fn error_code(reply: &Reply) -> Option<String> {
    serde_json::from_slice::<HarborErrors>(&reply.body)
        .ok()?
        .errors
        .into_iter()
        .next()?
        .code
}

/// `: <message>` of a Harbor error body (`{"errors":[{"code","message"}]}`), cut short and
/// cleared of anything shaped like a credential; else the body's own excerpt.
fn harbor_detail(reply: &Reply) -> String {
    match serde_json::from_slice::<HarborErrors>(&reply.body)
        .ok()
        .and_then(|e| e.errors.into_iter().next())
    {
        Some(HarborError {
            code,
            message: Some(message),
        }) => detail_of(
            match code {
                Some(code) => format!("{code} {message}"),
                None => message,
            }
            .as_bytes(),
        ),
        _ => reply.detail(),
    }
}

/// `answered 403: FORBIDDEN forbidden`.
fn status_message(reply: &Reply) -> String {
    format!("answered {}{}", reply.status.as_u16(), harbor_detail(reply))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_api_is_on_the_registry_host_over_https_unless_told_otherwise() {
        let o = RegistryOptions::default();
        let at = |given: Option<&str>, host: &str| api_base(given, host, &o).map(|u| u.to_string());
        assert_eq!(
            at(None, "harbor.example.com").unwrap(),
            "https://harbor.example.com/api/v2.0/"
        );
        assert_eq!(
            at(None, "127.0.0.1:8080").unwrap(),
            "http://127.0.0.1:8080/api/v2.0/"
        );
        assert_eq!(
            at(Some("https://api.example.com/harbor/api/v2.0/"), "h").unwrap(),
            "https://api.example.com/harbor/api/v2.0/"
        );
        let err = at(Some("http://harbor.example.com/api/v2.0"), "h").unwrap_err();
        assert!(err.to_string().contains("clear text"), "{err}");
        assert!(err.to_string().contains("BERTH_HARBOR_API_URL"), "{err}");
        let err = at(Some("https://u:hunter2@h/api/v2.0"), "h").unwrap_err();
        assert!(!err.to_string().contains("hunter2"), "{err}");
        let mut insecure = RegistryOptions::default();
        insecure.insecure_hosts.push("harbor.lan".into());
        assert_eq!(
            api_base(None, "harbor.lan:8443", &insecure)
                .unwrap()
                .to_string(),
            "http://harbor.lan:8443/api/v2.0/"
        );
    }

    #[test]
    fn harbor_errors_are_quoted_with_their_code() {
        let reply = |body: &str| Reply {
            url: Url::parse("https://h/api/v2.0/").unwrap(),
            status: reqwest::StatusCode::PRECONDITION_FAILED,
            headers: Default::default(),
            body: body.as_bytes().to_vec(),
        };
        let r = reply(r#"{"errors":[{"code":"PROJECTPOLICYVIOLATION","message":"scan running"}]}"#);
        assert_eq!(error_code(&r).as_deref(), Some("PROJECTPOLICYVIOLATION"));
        assert_eq!(harbor_detail(&r), ": PROJECTPOLICYVIOLATION scan running");
        assert_eq!(error_code(&reply("oops")), None);
        assert_eq!(harbor_detail(&reply("oops")), ": oops");
    }
}
