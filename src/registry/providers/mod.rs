//! One adapter per registry implementation, each behind the [`Repository`] trait: the plain
//! Distribution API for most, the platform's own API where deleting (or listing well) needs it.
//!
//! Every provider file has the same shape: an `open` that takes the Distribution repository
//! of the same name (for manifests, configs and pushes, which every registry serves) and the
//! provider's settings, and returns the repository. A reader who knows one knows all.

pub mod acr;
pub mod dockerhub;
pub mod gcr;
pub mod github;
pub mod gitlab;
pub mod harbor;
pub mod nexus;
pub mod quay;

use std::fmt;
use std::str::FromStr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use super::client::DistributionRepository;
use super::{Capabilities, Error, RegistryOptions, Repository};
use crate::secret::Secret;

/// A registry implementation, by the name users pass to `--container-registry` (werf's
/// names, plus `jfrog`, `nexus` and `yandex`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ContainerRegistry {
    /// Any registry speaking the Distribution API.
    Default,
    /// Docker Hub.
    Dockerhub,
    /// GitHub Packages: ghcr.io and the legacy docker.pkg.github.com.
    Github,
    /// GitLab's container registry.
    Gitlab,
    /// Harbor.
    Harbor,
    /// Quay (quay.io, Red Hat Quay).
    Quay,
    /// Azure Container Registry.
    Acr,
    /// AWS Elastic Container Registry.
    Ecr,
    /// Google Container Registry and Artifact Registry.
    Gcr,
    /// JFrog Artifactory.
    Jfrog,
    /// Sonatype Nexus Repository.
    Nexus,
    /// Yandex Cloud Container Registry.
    Yandex,
}

impl ContainerRegistry {
    /// Every kind, in the order users see them listed.
    pub const ALL: [ContainerRegistry; 12] = [
        ContainerRegistry::Default,
        ContainerRegistry::Dockerhub,
        ContainerRegistry::Github,
        ContainerRegistry::Gitlab,
        ContainerRegistry::Harbor,
        ContainerRegistry::Quay,
        ContainerRegistry::Acr,
        ContainerRegistry::Ecr,
        ContainerRegistry::Gcr,
        ContainerRegistry::Jfrog,
        ContainerRegistry::Nexus,
        ContainerRegistry::Yandex,
    ];

    /// The name `--container-registry` takes.
    pub fn as_str(self) -> &'static str {
        match self {
            ContainerRegistry::Default => "default",
            ContainerRegistry::Dockerhub => "dockerhub",
            ContainerRegistry::Github => "github",
            ContainerRegistry::Gitlab => "gitlab",
            ContainerRegistry::Harbor => "harbor",
            ContainerRegistry::Quay => "quay",
            ContainerRegistry::Acr => "acr",
            ContainerRegistry::Ecr => "ecr",
            ContainerRegistry::Gcr => "gcr",
            ContainerRegistry::Jfrog => "jfrog",
            ContainerRegistry::Nexus => "nexus",
            ContainerRegistry::Yandex => "yandex",
        }
    }

    /// What this implementation can do (DESIGN §6 and the seeds' tables). The referrers API is
    /// not promised anywhere: the scan asks and takes a 404 as "none".
    pub fn capabilities(self) -> Capabilities {
        use ContainerRegistry as K;
        let distribution = Capabilities {
            tag_delete: false,
            dummy_untag: true,
            manifest_delete: true,
            referrers_api: false,
            nested_repositories: true,
            repositories_must_exist: false,
            untagged_visible: false,
            lists_digests: false,
            lists_push_times: false,
        };
        match self {
            K::Default | K::Jfrog | K::Yandex => distribution,
            K::Dockerhub => Capabilities {
                tag_delete: true,
                dummy_untag: false,
                nested_repositories: false,
                lists_digests: true,
                lists_push_times: true,
                ..distribution
            },
            // ghcr.io nests packages (`OWNER/a/b`); the legacy registry does not, see
            // `capabilities_at`.
            K::Github => Capabilities {
                tag_delete: false,
                dummy_untag: true,
                untagged_visible: true,
                lists_digests: true,
                lists_push_times: true,
                ..distribution
            },
            // The REST tag list gives digests only on registries with GitLab's metadata
            // database; neither digests nor times are promised.
            K::Gitlab => Capabilities {
                tag_delete: true,
                dummy_untag: false,
                ..distribution
            },
            // The artifact list gives digests, manifest media types and push times, and shows
            // untagged artifacts too; they are not promised as visible because Harbor's own
            // artifact delete of an index already takes its children that nothing else holds.
            K::Harbor => Capabilities {
                tag_delete: true,
                dummy_untag: false,
                lists_digests: true,
                lists_push_times: true,
                ..distribution
            },
            // Both the API and the registry delete a single tag (a registry DELETE by tag
            // answers 202), so berth never needs the dummy, though Quay would take one. Digests
            // and push times come from the API's listing, which needs `BERTH_QUAY_TOKEN`;
            // without it `quay::open` clears them.
            K::Quay => Capabilities {
                tag_delete: true,
                nested_repositories: false,
                lists_digests: true,
                lists_push_times: true,
                ..distribution
            },
            K::Acr => Capabilities {
                tag_delete: true,
                dummy_untag: false,
                lists_digests: true,
                lists_push_times: true,
                ..distribution
            },
            K::Ecr => Capabilities {
                tag_delete: true,
                dummy_untag: false,
                repositories_must_exist: true,
                untagged_visible: true,
                lists_digests: true,
                lists_push_times: true,
                ..distribution
            },
            // Google's tag list carries a `manifest` map (digests, upload times, untagged
            // manifests as entries of their own); without it (a plain registry in front) `gcr`
            // lowers these after the first listing.
            K::Gcr => Capabilities {
                tag_delete: true,
                dummy_untag: false,
                untagged_visible: true,
                lists_digests: true,
                lists_push_times: true,
                ..distribution
            },
            // Nexus deletes by digest only, and whether that digest delete also removes the
            // tags on it changed between versions (3.89 leaves the tag files, which then answer
            // MANIFEST_UNKNOWN): a dummy pushed over a tag and deleted may leave the tag listed,
            // so the dummy untag is not trusted and a tag whose manifest stays is kept.
            K::Nexus => Capabilities {
                tag_delete: false,
                dummy_untag: false,
                ..distribution
            },
        }
    }

    /// What this implementation can do at one registry host (`host[:port]`): the legacy
    /// docker.pkg.github.com keeps flat packages per GitHub repository, while ghcr.io nests.
    pub fn capabilities_at(self, registry_host: &str) -> Capabilities {
        let host = registry_host
            .rsplit_once(':')
            .map_or(registry_host, |(host, _)| host);
        let mut capabilities = self.capabilities();
        if self == ContainerRegistry::Github && host.eq_ignore_ascii_case(LEGACY_GITHUB_REGISTRY) {
            capabilities.nested_repositories = false;
        }
        capabilities
    }

    /// Whether repositories nest below a namespace at this host (`group/project/image`);
    /// where they do not (Docker Hub, docker.pkg.github.com, Quay) a namespace holds only flat
    /// repositories.
    pub fn nests_repositories_at(self, registry_host: &str) -> bool {
        self.capabilities_at(registry_host).nested_repositories
    }
}

impl fmt::Display for ContainerRegistry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// GitHub's legacy Docker registry, whose packages live per GitHub repository.
pub const LEGACY_GITHUB_REGISTRY: &str = "docker.pkg.github.com";

/// `--container-registry` / `BERTH_CONTAINER_REGISTRY` that names no kind.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "`{0}` is not a container registry kind berth knows; use one of auto, {list}",
    list = ContainerRegistry::ALL.map(ContainerRegistry::as_str).join(", ")
)]
pub struct UnknownKind(pub String);

impl FromStr for ContainerRegistry {
    type Err = UnknownKind;
    fn from_str(text: &str) -> Result<Self, UnknownKind> {
        ContainerRegistry::ALL
            .into_iter()
            .find(|k| k.as_str().eq_ignore_ascii_case(text.trim()))
            .ok_or_else(|| UnknownKind(text.to_string()))
    }
}

/// A token with the variable it was read from, so that messages can name the variable
/// without ever showing the value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NamedSecret {
    /// The variable, e.g. `BERTH_GITHUB_TOKEN`.
    pub variable: &'static str,
    /// The value.
    pub value: Secret,
}

/// GitHub Packages settings.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct GitHubOptions {
    /// REST API base (`GITHUB_API_URL`, default `https://api.github.com`).
    pub api_url: String,
    /// GraphQL endpoint (`GITHUB_GRAPHQL_URL`, default `https://api.github.com/graphql`).
    pub graphql_url: String,
    /// `BERTH_GITHUB_TOKEN`, else `GITHUB_TOKEN`.
    pub token: Option<NamedSecret>,
    /// `BERTH_GITHUB_PACKAGES_API` as given (`rest` or `graphql`); None: GraphQL for
    /// docker.pkg.github.com, REST for every other host. Checked when a repository opens.
    pub packages_api: Option<String>,
}

/// How a GitLab token is sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GitLabTokenKind {
    /// A personal, project or group access token, sent as `PRIVATE-TOKEN`.
    Private,
    /// The CI job token, sent as `JOB-TOKEN`.
    Job,
}

/// GitLab settings.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct GitLabOptions {
    /// REST API base ending in `/api/v4` (`CI_API_V4_URL`); None: derived from the registry
    /// host (`https://<host without a leading "registry.">/api/v4`).
    pub api_url: Option<String>,
    /// The project, numeric id or `group/sub/project` (`--gitlab-project`, else
    /// `CI_PROJECT_ID`, else `CI_PROJECT_PATH`); None: the image path's first components.
    pub project: Option<String>,
    /// `BERTH_GITLAB_TOKEN` (private) else `CI_JOB_TOKEN` (job).
    pub token: Option<(NamedSecret, GitLabTokenKind)>,
}

/// Docker Hub settings.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DockerHubOptions {
    /// Hub API base (`BERTH_DOCKERHUB_API_URL`, default `https://hub.docker.com`).
    pub api_url: String,
    /// A Hub JWT or access token (`BERTH_DOCKERHUB_TOKEN`).
    pub token: Option<NamedSecret>,
    /// `BERTH_DOCKERHUB_USERNAME`.
    pub username: Option<String>,
    /// `BERTH_DOCKERHUB_PASSWORD`: a password or a personal access token.
    pub password: Option<NamedSecret>,
}

/// Harbor settings.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HarborOptions {
    /// API base ending in `/api/v2.0` (`BERTH_HARBOR_API_URL`); None: on the registry host.
    pub api_url: Option<String>,
}

/// Quay settings.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct QuayOptions {
    /// API base (`BERTH_QUAY_API_URL`); None: `https://<registry host>`, where quay.io and
    /// Red Hat Quay serve both.
    pub api_url: Option<String>,
    /// An OAuth application token (`BERTH_QUAY_TOKEN`); None: the Distribution API only.
    pub token: Option<NamedSecret>,
}

/// Azure Container Registry settings: the Azure AD identity berth logs in with when the docker
/// config holds no login for the registry.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AcrOptions {
    /// `AZURE_CLIENT_ID`.
    pub client_id: Option<String>,
    /// `AZURE_CLIENT_SECRET`.
    pub client_secret: Option<NamedSecret>,
    /// `AZURE_TENANT_ID`.
    pub tenant_id: Option<String>,
    /// `AZURE_AUTHORITY_HOST`, default `https://login.microsoftonline.com`.
    pub authority_host: String,
    /// `AZURE_FEDERATED_TOKEN_FILE`.
    pub federated_token_file: Option<std::path::PathBuf>,
}

/// Google Container Registry / Artifact Registry settings: where the Google login comes from
/// when the docker config has none for the host.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct GcrOptions {
    /// An OAuth access token (`GOOGLE_OAUTH_ACCESS_TOKEN`).
    pub access_token: Option<NamedSecret>,
    /// A service-account key file (`GOOGLE_APPLICATION_CREDENTIALS`).
    pub credentials_file: Option<std::path::PathBuf>,
}

/// What berth knows about the CI job it runs in, for detection (the `ci` adapter is not
/// imported here: settings fill this in from the environment).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CiContext {
    /// `GITLAB_CI` is set: a `registry.<host>` is GitLab's.
    pub gitlab: bool,
    /// `CI_REGISTRY` in a GitLab job: that host is GitLab's registry, whatever its name.
    pub gitlab_registry: Option<String>,
}

/// Everything providers need beyond the Distribution client's options.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ProviderOptions {
    /// `--container-registry` / `BERTH_CONTAINER_REGISTRY`; None (or `auto`): detect.
    pub container_registry: Option<ContainerRegistry>,
    /// The CI job, for detection.
    pub ci: CiContext,
    /// GitHub Packages.
    pub github: GitHubOptions,
    /// GitLab.
    pub gitlab: GitLabOptions,
    /// Docker Hub.
    pub dockerhub: DockerHubOptions,
    /// Harbor.
    pub harbor: HarborOptions,
    /// Quay.
    pub quay: QuayOptions,
    /// Azure Container Registry.
    pub acr: AcrOptions,
    /// Google Container Registry / Artifact Registry.
    pub gcr: GcrOptions,
}

/// Deletes through a platform API run one at a time until one has succeeded. Deletes run
/// concurrently, and without this every one in flight would meet the same refusal of a token
/// that may not delete; the provider remembers the first refusal and fails the rest without a
/// request, so the refusal is reported once.
#[derive(Default)]
struct DeleteGate {
    turn: tokio::sync::Mutex<()>,
    /// A delete has succeeded: the credentials may delete, and deletes run at once.
    proven: AtomicBool,
}

impl DeleteGate {
    /// Waits for the deletes before this one while none has succeeded; the turn is held
    /// across the delete by keeping what this returns.
    async fn turn(&self) -> Option<tokio::sync::MutexGuard<'_, ()>> {
        if self.proven.load(Ordering::Acquire) {
            return None;
        }
        let guard = self.turn.lock().await;
        (!self.proven.load(Ordering::Acquire)).then_some(guard)
    }

    /// A delete succeeded.
    fn proven(&self) {
        self.proven.store(true, Ordering::Release);
    }
}

/// Whether a platform API at `authority` (`host[:port]`) may be reached over plain http: on
/// loopback, or where `--insecure-registry` names the host or `host:port`, as for registries.
fn plain_http_allowed(options: &RegistryOptions, authority: &str) -> bool {
    let host = authority
        .rsplit_once(':')
        .map_or(authority, |(host, _)| host);
    super::client::is_loopback(authority)
        || options
            .insecure_hosts
            .iter()
            .any(|i| i == authority || i == host)
}

/// Checks a platform API's base URL: it names a host, has no query or fragment, and is https,
/// or plain http where [`plain_http_allowed`] (what it carries, `secret`, must not cross a
/// network in clear text). `bad` turns what is wrong into the provider's error.
fn check_api_base(
    url: &url::Url,
    options: &RegistryOptions,
    secret: &str,
    bad: &dyn Fn(String) -> Error,
) -> Result<(), Error> {
    let Some(host) = url.host_str() else {
        return Err(bad("it names no host".into()));
    };
    let authority = match url.port() {
        Some(port) => format!("{host}:{port}"),
        None => host.to_string(),
    };
    match url.scheme() {
        "https" => {}
        "http" if plain_http_allowed(options, &authority) => {}
        scheme => {
            return Err(bad(format!(
                "the scheme `{scheme}` would send {secret} in clear text; use https (plain http only on loopback or an --insecure-registry host)"
            )));
        }
    }
    if url.query().is_some() || url.fragment().is_some() || url.cannot_be_a_base() {
        return Err(bad("a base URL has no query or fragment".into()));
    }
    Ok(())
}

/// Opens `registry` (the Distribution repository of that name) as `kind`. `options` are the
/// connector's, for providers that make their own HTTP client for the platform's API.
pub fn open(
    kind: ContainerRegistry,
    registry: Arc<DistributionRepository>,
    options: &RegistryOptions,
) -> Result<Arc<dyn Repository>, Error> {
    match kind {
        ContainerRegistry::Dockerhub => dockerhub::open(registry, options),
        ContainerRegistry::Github => github::open(registry, options),
        ContainerRegistry::Gitlab => gitlab::open(registry, options),
        ContainerRegistry::Harbor => harbor::open(registry, options),
        ContainerRegistry::Quay => quay::open(registry, options),
        ContainerRegistry::Nexus => Ok(nexus::open(registry)),
        ContainerRegistry::Acr => acr::open(registry, options),
        ContainerRegistry::Gcr => gcr::open(registry, options),
        _ => Ok(registry),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_parse_by_name_and_unknown_ones_list_the_allowed() {
        for kind in ContainerRegistry::ALL {
            assert_eq!(kind.as_str().parse::<ContainerRegistry>(), Ok(kind));
        }
        assert_eq!("GitHub".parse(), Ok(ContainerRegistry::Github));
        let err = "artifactory".parse::<ContainerRegistry>().unwrap_err();
        assert_eq!(
            err.to_string(),
            "`artifactory` is not a container registry kind berth knows; use one of auto, \
             default, dockerhub, github, gitlab, harbor, quay, acr, ecr, gcr, jfrog, nexus, yandex"
        );
    }

    #[test]
    fn the_seeds_flat_registries_do_not_nest() {
        let flat = |host: &str| -> Vec<ContainerRegistry> {
            ContainerRegistry::ALL
                .into_iter()
                .filter(|k| !k.nests_repositories_at(host))
                .collect()
        };
        use ContainerRegistry as K;
        assert_eq!(
            flat("docker.pkg.github.com"),
            [K::Dockerhub, K::Github, K::Quay]
        );
        // ghcr.io takes `OWNER/a/b` packages.
        assert_eq!(flat("ghcr.io"), [K::Dockerhub, K::Quay]);
    }
}
