//! Command line + environment + `berth.yaml` → validated settings. The only module that reads
//! the `cli` structs; nothing after it knows about clap. Precedence: flag > env > file > default.

pub mod ci_env;
pub mod cleanup;

use std::time::Duration;

use crate::cli::{ContainerRegistryArg, GlobalArgs};
use crate::registry::RegistryOptions;
use crate::registry::providers::{
    AcrOptions, CiContext, DockerHubOptions, GcrOptions, GitHubOptions, GitLabOptions,
    GitLabTokenKind, HarborOptions, NamedSecret, ProviderOptions, QuayOptions,
};
use crate::secret::Secret;

/// Registry options from the global flags and the environment (`env` reads variables: the
/// process environment in production).
pub fn registry_options(
    global: &GlobalArgs,
    env: &dyn Fn(&str) -> Option<String>,
) -> RegistryOptions {
    let defaults = RegistryOptions::default();
    RegistryOptions {
        concurrency: global.concurrency.unwrap_or(defaults.concurrency).max(1),
        insecure_hosts: global.insecure_registry.clone(),
        docker_config: global.docker_config.clone(),
        request_timeout: Duration::from_secs(30),
        retry_budget: defaults.retry_budget,
        providers: provider_options(global, env),
    }
}

/// The process environment, as settings read it.
pub fn process_env(name: &str) -> Option<String> {
    std::env::var(name).ok()
}

const DEFAULT_GITHUB_API_URL: &str = "https://api.github.com";
const DEFAULT_GITHUB_GRAPHQL_URL: &str = "https://api.github.com/graphql";
const DEFAULT_DOCKERHUB_API_URL: &str = "https://hub.docker.com";
const DEFAULT_AZURE_AUTHORITY_HOST: &str = "https://login.microsoftonline.com";

/// The implementation override, the CI context and the platform API settings. Empty variables
/// count as unset: CI systems export declared-but-unset variables as empty strings.
fn provider_options(global: &GlobalArgs, env: &dyn Fn(&str) -> Option<String>) -> ProviderOptions {
    use crate::env_vars as v;
    let get = |name: &str| env(name).filter(|value| !value.is_empty());
    let secret = |variable: &'static str| {
        get(variable).map(|value| NamedSecret {
            variable,
            value: Secret::new(value),
        })
    };
    let gitlab_token = secret(v::BERTH_GITLAB_TOKEN)
        .map(|t| (t, GitLabTokenKind::Private))
        .or_else(|| secret(v::CI_JOB_TOKEN).map(|t| (t, GitLabTokenKind::Job)));
    ProviderOptions {
        container_registry: match global.container_registry {
            Some(ContainerRegistryArg::Kind(kind)) => Some(kind),
            Some(ContainerRegistryArg::Auto) | None => None,
        },
        ci: CiContext {
            gitlab: get(v::GITLAB_CI).is_some(),
            gitlab_registry: get(v::GITLAB_CI).and_then(|_| get(v::CI_REGISTRY)),
        },
        github: GitHubOptions {
            api_url: get(v::GITHUB_API_URL).unwrap_or_else(|| DEFAULT_GITHUB_API_URL.into()),
            graphql_url: get(v::GITHUB_GRAPHQL_URL)
                .unwrap_or_else(|| DEFAULT_GITHUB_GRAPHQL_URL.into()),
            token: secret(v::BERTH_GITHUB_TOKEN).or_else(|| secret(v::GITHUB_TOKEN)),
            packages_api: get(v::BERTH_GITHUB_PACKAGES_API),
        },
        gitlab: GitLabOptions {
            api_url: get(v::CI_API_V4_URL),
            project: global
                .gitlab_project
                .clone()
                .filter(|p| !p.is_empty())
                .or_else(|| get(v::CI_PROJECT_ID))
                .or_else(|| get(v::CI_PROJECT_PATH)),
            token: gitlab_token,
        },
        dockerhub: DockerHubOptions {
            api_url: get(v::BERTH_DOCKERHUB_API_URL)
                .unwrap_or_else(|| DEFAULT_DOCKERHUB_API_URL.into()),
            token: secret(v::BERTH_DOCKERHUB_TOKEN),
            username: get(v::BERTH_DOCKERHUB_USERNAME),
            password: secret(v::BERTH_DOCKERHUB_PASSWORD),
        },
        harbor: HarborOptions {
            api_url: get(v::BERTH_HARBOR_API_URL),
        },
        quay: QuayOptions {
            api_url: get(v::BERTH_QUAY_API_URL),
            token: secret(v::BERTH_QUAY_TOKEN),
        },
        acr: AcrOptions {
            client_id: get(v::AZURE_CLIENT_ID),
            client_secret: secret(v::AZURE_CLIENT_SECRET),
            tenant_id: get(v::AZURE_TENANT_ID),
            authority_host: get(v::AZURE_AUTHORITY_HOST)
                .unwrap_or_else(|| DEFAULT_AZURE_AUTHORITY_HOST.into()),
            federated_token_file: get(v::AZURE_FEDERATED_TOKEN_FILE).map(Into::into),
        },
        gcr: GcrOptions {
            access_token: secret(v::GOOGLE_OAUTH_ACCESS_TOKEN),
            credentials_file: get(v::GOOGLE_APPLICATION_CREDENTIALS).map(std::path::PathBuf::from),
        },
    }
}

/// berth's cache directory: `$XDG_CACHE_HOME/berth`, else `~/.cache/berth`; None when neither
/// variable is set. `env` reads environment variables (the process environment in production).
pub fn cache_dir(env: &dyn Fn(&str) -> Option<String>) -> Option<std::path::PathBuf> {
    env(crate::env_vars::XDG_CACHE_HOME)
        .filter(|v| !v.is_empty())
        .map(std::path::PathBuf::from)
        .or_else(|| {
            env(crate::env_vars::HOME)
                .filter(|v| !v.is_empty())
                .map(|h| std::path::Path::new(&h).join(".cache"))
        })
        .map(|d| d.join("berth"))
}

/// A `berth.yaml` that could not be read or parsed.
#[derive(Debug, thiserror::Error)]
pub enum ConfigFileError {
    /// Reading the file failed.
    // The cause is in the message and not a `source()`: a chain printed with `{:#}` would
    // print it twice.
    #[error("could not read the config file {}: {cause}; check its permissions or the path given to --config", path.display())]
    Read {
        /// The file.
        path: std::path::PathBuf,
        /// Why.
        cause: std::io::Error,
    },
    /// The file is no regular file, or too big to be a configuration.
    #[error("the config file {} {why}; point --config at a berth.yaml", path.display())]
    NotAConfig {
        /// The file.
        path: std::path::PathBuf,
        /// What it is instead.
        why: String,
    },
    /// The file does not parse (the message gives file, line and column).
    #[error(transparent)]
    Invalid(#[from] crate::policy::Error),
}

/// The largest `berth.yaml` read; real ones are a few kB.
const CONFIG_FILE_LIMIT: u64 = 1 << 20;

/// Reads a config file that is a regular file of at most [`CONFIG_FILE_LIMIT`] bytes: a FIFO
/// would block and `/dev/zero` would never end.
fn read_bounded(path: &std::path::Path) -> Result<String, ConfigFileError> {
    use std::io::Read;
    let read_err = |cause| ConfigFileError::Read {
        path: path.to_path_buf(),
        cause,
    };
    let not_config = |why: String| ConfigFileError::NotAConfig {
        path: path.to_path_buf(),
        why,
    };
    let meta = std::fs::metadata(path).map_err(read_err)?;
    if meta.is_dir() {
        return Err(not_config("is a directory".into()));
    }
    if !meta.is_file() {
        return Err(not_config("is not a regular file".into()));
    }
    let mut bytes = Vec::new();
    std::fs::File::open(path)
        .and_then(|f| f.take(CONFIG_FILE_LIMIT + 1).read_to_end(&mut bytes))
        .map_err(read_err)?;
    if bytes.len() as u64 > CONFIG_FILE_LIMIT {
        return Err(not_config(format!(
            "is larger than {CONFIG_FILE_LIMIT} bytes"
        )));
    }
    String::from_utf8(bytes).map_err(|_| not_config("is not UTF-8 text".into()))
}

/// The configuration file: `--config FILE` when given, else the first `berth.yaml` or
/// `.berth.yaml` in `dirs`; `None` when there is none (berth's defaults apply).
pub fn load_config_file(
    explicit: Option<&std::path::Path>,
    dirs: &[std::path::PathBuf],
) -> Result<Option<(crate::policy::CleanupConfig, std::path::PathBuf)>, ConfigFileError> {
    let path = match explicit {
        Some(p) => Some(p.to_path_buf()),
        None => dirs
            .iter()
            .flat_map(|d| [d.join("berth.yaml"), d.join(".berth.yaml")])
            .find(|p| p.is_file()),
    };
    let Some(path) = path else {
        return Ok(None);
    };
    let text = read_bounded(&path)?;
    let config = crate::policy::CleanupConfig::parse(&text, &path.display().to_string())?;
    Ok(Some((config, path)))
}
