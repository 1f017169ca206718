//! GitLab's container registry: tags are listed and deleted through GitLab's REST API
//! (`/projects/:id/registry/repositories…`), manifests are read, pushed and deleted by digest
//! through the registry itself (the REST API has no delete by digest).
//!
//! The `gitlab` crate's endpoint types name the requests (path encoding of `:id` and of tag
//! names, parameters); berth's own [`Http`] sends them, because the crate's clients speak only
//! `PRIVATE-TOKEN` or OAuth (no `JOB-TOKEN`) and give no say over retries and body limits. The
//! page walk is berth's too: `gitlab::api::paged` counts pages and stops at a short one, while
//! GitLab says where the listing goes on (`X-Next-Page`, or only `Link` in keyset mode).
//!
//! The tag list names tags (and, on registries with GitLab's metadata database, digests). Where
//! a row lacks the digest it is left to the scan's one registry GET per tag, which gives the
//! digest and the manifest at once: GitLab's tag-details call would give the digest alone (its
//! `created_at` is the config's `created`, which the config gives too), and the manifest would
//! still have to be read for its media type, one request more per image. A refused delete (401, a job token's 403, a scope GitLab says is
//! missing) is remembered: later deletes fail at once without a request, and say so briefly
//! rather than repeating the hint.

use std::collections::HashSet;
use std::sync::Arc;

use async_trait::async_trait;
use gitlab::api::Endpoint;
use gitlab::api::common::NameOrId;
use gitlab::api::projects::Project;
use gitlab::api::projects::registry::{DeleteRepositoryTag, Repositories, RepositoryTags};
use reqwest::Method;
use tokio::sync::OnceCell;
use url::Url;

use super::{GitLabTokenKind, NamedSecret};
use crate::env_vars;
use crate::registry::client::{self, DistributionRepository, MAX_PAGES, segment};
use crate::registry::http::{Http, Reply, Request, detail_of};
use crate::registry::{
    Capabilities, Descriptor, Digest, Error, ImageConfig, ListedTag, Manifest, RegistryOptions,
    Repository, UntagMethod,
};

const API: &str = "GitLab API";
/// The issue's wording: the usual reason a GitLab CI job's cleanup cannot delete.
const JOB_TOKEN_HINT: &str = "CI_JOB_TOKEN cannot delete registry tags; set BERTH_GITLAB_TOKEN to a project access token with the api scope";
/// GitLab's largest page.
const PER_PAGE: &str = "100";
/// 1980-01-01: a `created_at` before it comes from a reproducible build's epoch config, not
/// from a push, and must not stand in for a build time.
const EARLIEST_PUSH: i64 = 315_532_800;

/// Opens `registry` with GitLab's REST API for listing and tag deletes.
pub fn open(
    registry: Arc<DistributionRepository>,
    options: &RegistryOptions,
) -> Result<Arc<dyn Repository>, Error> {
    let settings = &options.providers.gitlab;
    let api = match &settings.api_url {
        Some(url) => url.trim_end_matches('/').to_string(),
        None => default_api_url(registry.client().registry()),
    };
    let base = Url::parse(&format!("{api}/"))
        .ok()
        .filter(|u| matches!(u.scheme(), "http" | "https") && u.host_str().is_some())
        .ok_or_else(|| Error::Platform {
            api: API,
            what: format!("reading the API base `{api}`"),
            message: "not an http(s) URL".into(),
            hint: format!(
                "set {} to the API base, e.g. https://gitlab.example.com/api/v4",
                env_vars::CI_API_V4_URL
            ),
        })?;
    let host = match base.port() {
        Some(port) => format!("{}:{port}", base.host_str().unwrap_or_default()),
        None => base.host_str().unwrap_or_default().to_string(),
    };
    let http = Http::new(&host, options)?;
    if let Some((token, _)) = &settings.token {
        http.redactor().add(token.value.expose());
    }
    Ok(Arc::new(GitLab {
        registry,
        http,
        base,
        project: settings.project.clone(),
        token: settings.token.clone(),
        target: OnceCell::new(),
        gate: tokio::sync::Mutex::new(Gate::default()),
    }))
}

/// `https://<registry host without a leading "registry." and without its port>/api/v4`: the
/// registry's port (GitLab's is 5050) is not the web server's.
fn default_api_url(registry_host: &str) -> String {
    let host = match registry_host.rsplit_once(':') {
        Some((host, port)) if port.bytes().all(|b| b.is_ascii_digit()) => host,
        _ => registry_host,
    };
    let host = host.strip_prefix("registry.").unwrap_or(host);
    format!("https://{host}/api/v4")
}

/// The project and registry repository the image path belongs to, found once.
#[derive(Debug, Clone)]
struct Target {
    /// Numeric id or `group/sub/project`, as the requests name it.
    project: String,
    repository_id: u64,
}

struct GitLab {
    registry: Arc<DistributionRepository>,
    http: Http,
    /// The API base with a trailing slash, so endpoints join below it.
    base: Url,
    project: Option<String>,
    token: Option<(NamedSecret, GitLabTokenKind)>,
    target: OnceCell<Target>,
    /// What deletes have shown of the token so far. Held across a delete until one succeeds,
    /// so that concurrent deletes with a token that cannot delete send one request, not many.
    gate: tokio::sync::Mutex<Gate>,
}

/// What deletes have shown of the token.
#[derive(Default)]
struct Gate {
    /// A delete succeeded: the token can delete, later deletes need not wait for each other.
    proven: bool,
    /// The status of a refusal that holds for every later delete.
    refused: Option<u16>,
}

#[derive(serde::Deserialize)]
struct ProjectJson {
    id: u64,
    path_with_namespace: String,
}

#[derive(serde::Deserialize)]
struct RepositoryJson {
    id: u64,
    path: String,
}

/// A row of the tag list, or the tag details (which add digest and `created_at`).
#[derive(serde::Deserialize)]
struct TagJson {
    name: String,
    #[serde(default)]
    digest: Option<String>,
    #[serde(default)]
    created_at: Option<String>,
}

/// A project reference as the crate's endpoints take it.
fn name_or_id(project: &str) -> NameOrId<'_> {
    match project.parse::<u64>() {
        Ok(id) => NameOrId::Id(id),
        Err(_) => NameOrId::Name(project.into()),
    }
}

/// The `message` or `error` of a GitLab error body (or a short excerpt of anything else).
fn gitlab_message(reply: &Reply) -> String {
    #[derive(serde::Deserialize)]
    struct Body {
        message: Option<serde_json::Value>,
        error: Option<String>,
        error_description: Option<String>,
    }
    let text = match serde_json::from_slice::<Body>(&reply.body) {
        Ok(body) => [
            body.message.map(|m| match m {
                serde_json::Value::String(s) => s,
                other => other.to_string(),
            }),
            body.error,
            body.error_description,
        ]
        .into_iter()
        .flatten()
        .collect::<Vec<_>>()
        .join(": "),
        Err(_) => String::new(),
    };
    let detail = if text.is_empty() {
        detail_of(&reply.body)
    } else {
        detail_of(text.as_bytes())
    };
    format!("{}{detail}", reply.status.as_u16())
}

/// Where the listing goes on: `X-Next-Page` (offset mode; empty on the last page), else a
/// `Link` `rel="next"` on the same origin and path (keyset mode), else nowhere.
fn next_page(url: &Url, reply: &Reply) -> Result<Option<Url>, Error> {
    if let Some(next) = reply.header("x-next-page").map(str::trim) {
        if next.is_empty() {
            return Ok(None);
        }
        let page: u64 = next.parse().map_err(|_| Error::BadResponse {
            url: url.to_string(),
            why: format!("X-Next-Page `{next}` is not a page number"),
        })?;
        let pairs: Vec<(String, String)> = url
            .query_pairs()
            .filter(|(k, _)| k != "page")
            .map(|(k, v)| (k.into_owned(), v.into_owned()))
            .collect();
        let mut next_url = url.clone();
        next_url
            .query_pairs_mut()
            .clear()
            .extend_pairs(pairs)
            .append_pair("page", &page.to_string());
        return Ok(Some(next_url));
    }
    match reply.header("link").and_then(client::parse_next_link) {
        Some(target) => client::same_listing(url, &target).map(Some),
        None => Ok(None),
    }
}

/// A listed time, unless it is missing, unreadable or an epoch config's.
fn pushed_at(created_at: Option<&str>) -> Option<chrono::DateTime<chrono::Utc>> {
    let at = chrono::DateTime::parse_from_rfc3339(created_at?).ok()?;
    (at.timestamp() >= EARLIEST_PUSH).then(|| at.with_timezone(&chrono::Utc))
}

impl GitLab {
    /// The URL of an endpoint below the API base, with its parameters.
    fn url_of(&self, endpoint: &impl Endpoint) -> Result<Url, Error> {
        let path = endpoint.endpoint();
        let mut url = self.base.join(&path).map_err(|e| Error::BadResponse {
            url: self.base.to_string(),
            why: format!("cannot join `{path}` to the API base: {e}"),
        })?;
        endpoint.parameters().add_to_url(&mut url);
        if url.query() == Some("") {
            url.set_query(None);
        }
        Ok(url)
    }

    /// Sends one request with the token's header (none without a token: public projects can
    /// be read anonymously).
    async fn send(&self, method: Method, url: &Url) -> Result<Reply, Error> {
        let mut request = Request::new(method, url.clone()).header("accept", "application/json");
        if let Some((token, kind)) = &self.token {
            let header = match kind {
                GitLabTokenKind::Private => "private-token",
                GitLabTokenKind::Job => "job-token",
            };
            request = request.sensitive_header(header, token.value.expose());
        }
        self.http.send(&request).await
    }

    /// What to do when a read is refused or finds nothing.
    fn read_hint(&self) -> String {
        let token = match &self.token {
            Some((token, _)) => format!("check that {} may read the project", token.variable),
            None => format!(
                "set {} (a token with the read_api scope) or {}",
                env_vars::BERTH_GITLAB_TOKEN,
                env_vars::CI_JOB_TOKEN
            ),
        };
        format!(
            "{token}; check the project (--gitlab-project, {} or {}) and the API base ({})",
            env_vars::CI_PROJECT_ID,
            env_vars::CI_PROJECT_PATH,
            env_vars::CI_API_V4_URL
        )
    }

    /// `Ok(reply)` for a 2xx, else the error of a read.
    fn read_ok(&self, reply: Reply, what: impl FnOnce() -> String) -> Result<Reply, Error> {
        if reply.status.is_success() {
            return Ok(reply);
        }
        Err(Error::Platform {
            api: API,
            what: what(),
            message: gitlab_message(&reply),
            hint: self.read_hint(),
        })
    }

    /// Every item of a paged listing.
    async fn pages<T: serde::de::DeserializeOwned>(
        &self,
        endpoint: &impl Endpoint,
        what: &str,
    ) -> Result<Vec<T>, Error> {
        let mut url = self.url_of(endpoint)?;
        url.query_pairs_mut()
            .append_pair("per_page", PER_PAGE)
            .append_pair("page", "1");
        let mut seen = HashSet::new();
        let mut items = Vec::new();
        loop {
            if !seen.insert(url.to_string()) {
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
            let reply = self.send(Method::GET, &url).await?;
            let reply = self.read_ok(reply, || what.to_string())?;
            let page: Vec<T> =
                serde_json::from_slice(&reply.body).map_err(|e| Error::BadResponse {
                    url: url.to_string(),
                    why: format!("not a JSON list of the expected shape ({e})"),
                })?;
            items.extend(page);
            match next_page(&url, &reply)? {
                Some(next) => url = next,
                None => return Ok(items),
            }
        }
    }

    /// The project and the registry repository of this image path, found once.
    async fn target(&self) -> Result<&Target, Error> {
        self.target
            .get_or_try_init(|| async {
                let project = match &self.project {
                    Some(project) => project.clone(),
                    None => self.project_from_path().await?,
                };
                let repository_id = self.repository_id(&project).await?;
                Ok(Target {
                    project,
                    repository_id,
                })
            })
            .await
    }

    /// Without a project setting: the longest leading part of the image path that GitLab
    /// knows as a project (`group/sub/project` of `group/sub/project/app`).
    async fn project_from_path(&self) -> Result<String, Error> {
        let path = self.registry.path();
        let parts: Vec<&str> = path.split('/').collect();
        for len in (1..=parts.len()).rev() {
            let candidate = parts[..len].join("/");
            let endpoint = Project::builder()
                .project(candidate.as_str())
                .build()
                .map_err(|e| self.build_error(&e.to_string()))?;
            let url = self.url_of(&endpoint)?;
            let reply = self.send(Method::GET, &url).await?;
            if reply.status.as_u16() == 404 {
                tracing::debug!(candidate, "no GitLab project at this path");
                continue;
            }
            let reply = self.read_ok(reply, || format!("looking up project `{candidate}`"))?;
            let found: ProjectJson =
                serde_json::from_slice(&reply.body).map_err(|e| Error::BadResponse {
                    url: url.to_string(),
                    why: format!("not a project ({e})"),
                })?;
            tracing::debug!(
                image = path,
                project = %found.path_with_namespace,
                id = found.id,
                "no project given (--gitlab-project, CI_PROJECT_ID, CI_PROJECT_PATH): derived it from the image path"
            );
            return Ok(found.id.to_string());
        }
        Err(Error::Platform {
            api: API,
            what: format!("finding the GitLab project of `{path}`"),
            message: "no leading part of the image path is a project GitLab shows this token"
                .into(),
            hint: self.read_hint(),
        })
    }

    async fn repository_id(&self, project: &str) -> Result<u64, Error> {
        let endpoint = Repositories::builder()
            .project(name_or_id(project))
            .build()
            .map_err(|e| self.build_error(&e.to_string()))?;
        let what = format!("listing the registry repositories of project `{project}`");
        let repositories: Vec<RepositoryJson> = self.pages(&endpoint, &what).await?;
        let path = self.registry.path();
        if let Some(found) = repositories.iter().find(|r| r.path == path) {
            return Ok(found.id);
        }
        let known: Vec<&str> = repositories.iter().map(|r| r.path.as_str()).collect();
        Err(Error::Platform {
            api: API,
            what,
            message: format!(
                "no registry repository has the path `{path}` (the project has: {})",
                if known.is_empty() {
                    "none".to_string()
                } else {
                    known.join(", ")
                }
            ),
            hint: format!(
                "check --repo, and that the project (--gitlab-project, {} or {}) is the one the image belongs to",
                env_vars::CI_PROJECT_ID,
                env_vars::CI_PROJECT_PATH
            ),
        })
    }

    fn build_error(&self, why: &str) -> Error {
        Error::Platform {
            api: API,
            what: format!("building a request for `{}`", self.registry.path()),
            message: why.to_string(),
            hint: "report this to berth's maintainers".into(),
        }
    }

    /// Every row of the tag list.
    async fn tag_rows(&self) -> Result<(Target, Vec<TagJson>), Error> {
        let target = self.target().await?.clone();
        let endpoint = RepositoryTags::builder()
            .project(name_or_id(&target.project))
            .repository_id(target.repository_id)
            .build()
            .map_err(|e| self.build_error(&e.to_string()))?;
        let what = format!("listing the tags of `{}`", self.registry.name());
        let rows: Vec<TagJson> = self.pages(&endpoint, &what).await?;
        tracing::debug!(repository = %self.registry.name(), tags = rows.len(), "listed GitLab tags");
        Ok((target, rows))
    }

    /// `DELETE …/tags/:tag`. Err: the error, and the status when the refusal holds for every
    /// later delete.
    async fn delete_tag(&self, tag: &str) -> Result<(), (Error, Option<u16>)> {
        let target = self.target().await.map_err(|e| (e, None))?;
        let endpoint = DeleteRepositoryTag::builder()
            .project(name_or_id(&target.project))
            .repository_id(target.repository_id)
            .tag_name(segment(tag, "tag").map_err(|e| (e, None))?)
            .build()
            .map_err(|e| (self.build_error(&e.to_string()), None))?;
        let url = self.url_of(&endpoint).map_err(|e| (e, None))?;
        let reply = self
            .send(Method::DELETE, &url)
            .await
            .map_err(|e| (e, None))?;
        let status = reply.status.as_u16();
        match status {
            200..=299 => {
                tracing::debug!(repository = %self.registry.name(), tag, "deleted the tag through the GitLab API");
                Ok(())
            }
            404 => Err((
                Error::NotFound {
                    host: self.registry.client().registry().to_string(),
                    what: format!("tag `{}:{tag}`", self.registry.name()),
                    detail: format!(" (GitLab API: {})", gitlab_message(&reply)),
                },
                None,
            )),
            401 | 403 => {
                let (error, lasting) = self.refusal(tag, &reply);
                Err((error, lasting.then_some(status)))
            }
            _ => Err((
                Error::Platform {
                    api: API,
                    what: format!("deleting tag `{tag}` of `{}`", self.registry.name()),
                    message: gitlab_message(&reply),
                    hint: "the tag was kept; run the cleanup again later".into(),
                },
                None,
            )),
        }
    }

    /// The error of a refused delete, and whether it holds for every later delete (a token
    /// problem) rather than for this tag only (a protected-tag rule).
    fn refusal(&self, tag: &str, reply: &Reply) -> (Error, bool) {
        let status = reply.status.as_u16();
        let message = gitlab_message(reply);
        let (hint, lasting) = match &self.token {
            Some((_, GitLabTokenKind::Job)) => (JOB_TOKEN_HINT.to_string(), true),
            Some((token, GitLabTokenKind::Private)) if status == 401 => (
                format!(
                    "{} was rejected (expired or revoked?); set it to a project access token with the api scope",
                    token.variable
                ),
                true,
            ),
            Some((token, GitLabTokenKind::Private)) if message.contains("insufficient_scope") => (
                format!(
                    "{} lacks the api scope; use a project access token with the api scope and at least the Developer role",
                    token.variable
                ),
                true,
            ),
            Some((token, GitLabTokenKind::Private)) => (
                format!(
                    "the tag matches a protected tag rule (Settings > Packages and registries), or {} lacks the Developer role (Maintainer or Owner for protected tags); the tag was kept",
                    token.variable
                ),
                false,
            ),
            None => (
                format!(
                    "set {} to a project access token with the api scope",
                    env_vars::BERTH_GITLAB_TOKEN
                ),
                true,
            ),
        };
        let error = Error::Platform {
            api: API,
            what: format!("deleting tag `{tag}` of `{}`", self.registry.name()),
            message,
            hint,
        };
        (error, lasting)
    }
}

#[async_trait]
impl Repository for GitLab {
    fn name(&self) -> &str {
        self.registry.name()
    }

    fn capabilities(&self) -> Capabilities {
        self.registry.capabilities()
    }

    async fn list_tags(&self) -> Result<Vec<String>, Error> {
        let (_, rows) = self.tag_rows().await?;
        Ok(rows.into_iter().map(|row| row.name).collect())
    }

    async fn list(&self) -> Result<Vec<ListedTag>, Error> {
        let (_, rows) = self.tag_rows().await?;
        Ok(rows
            .into_iter()
            .map(|row| ListedTag {
                digest: row.digest.as_deref().and_then(|d| Digest::parse(d).ok()),
                media_type: None,
                pushed: pushed_at(row.created_at.as_deref()),
                name: row.name,
            })
            .collect())
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

    /// GitLab's REST API deletes tags only: a manifest goes through the registry's DELETE by
    /// digest, which GitLab's registry serves.
    async fn delete_manifest(&self, digest: &Digest) -> Result<(), Error> {
        self.registry.delete_manifest(digest).await
    }

    async fn untag(&self, tag: &str, _current: &Manifest) -> Result<UntagMethod, Error> {
        let mut gate = self.gate.lock().await;
        if let Some(status) = gate.refused {
            return Err(Error::Platform {
                api: API,
                what: format!("deleting tag `{tag}` of `{}`", self.registry.name()),
                message: format!(
                    "not sent: GitLab refused an earlier tag delete of this repository with {status}"
                ),
                hint: "see that first failure for what to do".into(),
            });
        }
        if self.token.is_none() {
            return Err(Error::NoApiToken {
                api: API,
                operation: "delete registry tags".into(),
                variables: format!(
                    "{} (a project access token with the api scope)",
                    env_vars::BERTH_GITLAB_TOKEN
                ),
            });
        }
        if gate.proven {
            drop(gate);
            return self
                .delete_tag(tag)
                .await
                .map(|()| UntagMethod::TagDelete)
                .map_err(|(error, _)| error);
        }
        match self.delete_tag(tag).await {
            Ok(()) => {
                gate.proven = true;
                Ok(UntagMethod::TagDelete)
            }
            Err((error, lasting)) => {
                if lasting.is_some() {
                    gate.refused = lasting;
                }
                Err(error)
            }
        }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_api_base_is_the_registry_host_without_registry_and_its_port() {
        assert_eq!(
            default_api_url("registry.gitlab.com"),
            "https://gitlab.com/api/v4"
        );
        assert_eq!(
            default_api_url("gitlab.example.com:5050"),
            "https://gitlab.example.com/api/v4"
        );
        assert_eq!(
            default_api_url("registry.example.org:443"),
            "https://example.org/api/v4"
        );
    }

    #[test]
    fn link_headers_give_the_next_page() {
        let link = r#"<https://gl.example/api/v4/projects/1/registry/repositories/2/tags?page=2&per_page=100>; rel="next", <https://gl.example/api/v4/projects/1/registry/repositories/2/tags?page=1>; rel="first""#;
        assert_eq!(
            client::parse_next_link(link).as_deref(),
            Some(
                "https://gl.example/api/v4/projects/1/registry/repositories/2/tags?page=2&per_page=100"
            )
        );
        assert_eq!(
            client::parse_next_link(r#"<https://x/?page=1>; rel="first""#),
            None
        );
    }

    #[test]
    fn epoch_and_missing_times_are_no_push_times() {
        assert_eq!(pushed_at(None), None);
        assert_eq!(pushed_at(Some("1970-01-01T00:00:00+00:00")), None);
        assert_eq!(pushed_at(Some("yesterday")), None);
        let at = pushed_at(Some("2024-05-06T07:08:09.123+02:00")).unwrap();
        assert_eq!(at.to_rfc3339(), "2024-05-06T05:08:09.123+00:00");
    }

    #[test]
    fn projects_are_named_by_id_or_escaped_path() {
        assert_eq!(name_or_id("4242").to_string(), "4242");
        assert_eq!(
            name_or_id("group/sub/proj").to_string(),
            "group%2Fsub%2Fproj"
        );
    }
}
