//! `berth detect REPO`: which implementation serves REPO and how that was decided, what it
//! can do, the repo mode REPO defaults to, and where berth would take its credentials from
//! (named, never shown). Nothing is sent to the registry: detection reads the host, the
//! flags and the CI job's variables only, so the answer is the same offline.

use anyhow::Context;

use crate::cli::{DetectArgs, GlobalArgs, OutputFormat};
use crate::env_vars as v;
use crate::exit::{ExitStatus, Failure};
use crate::registry::providers::{ContainerRegistry, GitLabTokenKind, ProviderOptions};
use crate::registry::reference::Reference;
use crate::registry::{Connector, Error, RegistryOptions, credentials, repo_mode};
use crate::report;
use crate::report::detect::{ApiCredentials, CredentialSources, Decision, Detection, OciPrefix};
use crate::settings;

/// Runs the command.
pub fn run(global: &GlobalArgs, args: DetectArgs) -> anyhow::Result<ExitStatus> {
    let options = settings::registry_options(global, &settings::process_env);
    let detection = match args.repo.strip_prefix("oci:") {
        Some(_) => oci(&args.repo, options)?,
        None => registry(&args.repo, options)?,
    };
    let text = match args.output {
        OutputFormat::Json => report::detect::json(&detection),
        OutputFormat::Text | OutputFormat::Markdown => report::detect::text(&detection),
    };
    report::stdout(&text).context("cannot write the report to stdout")?;
    Ok(ExitStatus::Success)
}

/// `oci:PATH` is a layout on disk, not a registry: no detection, no login. The layout is
/// opened so that a path that holds none is said now, and its capabilities are its own. A
/// layout is one repository, so images go into it as tags (monorepo).
fn oci(repo: &str, options: RegistryOptions) -> anyhow::Result<Detection> {
    let layout = Connector::new(options)
        .open(repo)
        .map_err(|e| Failure::new(ExitStatus::Error, e))?;
    let capabilities = layout.capabilities();
    Ok(Detection {
        schema: 1,
        repository: repo.to_string(),
        container_registry: "oci".to_string(),
        detected_by: Decision::Oci(OciPrefix { by: "oci_prefix" }),
        capabilities,
        nested_repositories: capabilities.nested_repositories,
        repo_mode: repo_mode::RepoMode::Monorepo,
        credentials: CredentialSources {
            registry_login: "none: an on-disk layout needs no login".to_string(),
            api: None,
            missing: None,
        },
        notes: Vec::new(),
    })
}

/// A REPO that does not name a repository or namespace, as a usage error naming the input.
fn usage(repo: &str, why: impl std::fmt::Display) -> Failure {
    Failure::new(
        ExitStatus::Usage,
        anyhow::anyhow!(
            "`{repo}` is not a REPO berth can detect: {why}; pass a registry (`ghcr.io`), a \
             namespace (`ghcr.io/owner`, `flant`) or a repository (`ghcr.io/owner/app`)"
        ),
    )
}

/// The registry host and path of REPO, checked with docker's reference grammar. The path is
/// REPO's own (`flant`), not the parser's Docker Hub expansion (`library/flant`), since the
/// repo mode depends on what the user named.
fn parse(repo: &str) -> Result<(String, String), Failure> {
    let (host, path) = repo_mode::split_repo(repo);
    if path.is_empty() {
        // A registry alone: checked as the host of some repository.
        return match Reference::parse(&format!("{host}/x")) {
            Ok(reference) => Ok((reference.registry().to_string(), String::new())),
            Err(_) => Err(usage(
                repo,
                "it is not a registry host (expected host or host:port)",
            )),
        };
    }
    let reference = Reference::parse(repo.trim_end_matches('/')).map_err(|e| match e {
        Error::InvalidReference { why, .. } => usage(repo, why),
        other => usage(repo, other),
    })?;
    if reference.tag().is_some() || reference.digest().is_some() {
        return Err(usage(
            repo,
            "it names an image (a tag or digest), not a repository",
        ));
    }
    Ok((reference.registry().to_string(), path.to_string()))
}

fn registry(repo: &str, options: RegistryOptions) -> anyhow::Result<Detection> {
    let (host, path) = parse(repo)?;
    let docker_config = options.docker_config.clone();
    let providers = options.providers.clone();
    let detected = Connector::new(options).detect(&host);
    let kind = detected.kind;
    let capabilities = kind.capabilities_at(&host);
    let mode = repo_mode::default_mode(kind, &host, &path);
    let mut notes = Vec::new();
    if path.is_empty() {
        notes.push(
            "REPO is a registry: images need a repository name below it, so an unnamed \
             image (REPO:TAG) is not possible here"
                .to_string(),
        );
    } else if repo_mode::is_namespace(kind, &host, &path) {
        notes.push(format!(
            "REPO is a namespace: {kind} does not nest repositories, so each image is its own \
             repository below it"
        ));
    }
    if kind == ContainerRegistry::Dockerhub && !path.contains('/') && !path.is_empty() {
        notes.push(format!(
            "a one-word Docker Hub REPO is the namespace `{path}`; an official image is \
             `library/{path}`"
        ));
    }
    let (api, missing) = api_credentials(kind, &host, &providers);
    Ok(Detection {
        schema: 1,
        repository: if path.is_empty() {
            host.clone()
        } else {
            format!("{host}/{path}")
        },
        container_registry: kind.to_string(),
        detected_by: Decision::Registry(detected.by),
        capabilities,
        nested_repositories: capabilities.nested_repositories,
        repo_mode: mode,
        credentials: CredentialSources {
            registry_login: credentials::describe_source(docker_config.as_deref(), &host),
            api,
            missing,
        },
        notes,
    })
}

/// The platform API `kind` calls besides the registry, with the variables its token is read
/// from, and what is missing for cleanup to delete.
fn api_credentials(
    kind: ContainerRegistry,
    host: &str,
    providers: &ProviderOptions,
) -> (Option<ApiCredentials>, Option<String>) {
    match kind {
        ContainerRegistry::Github => {
            let github = &providers.github;
            let legacy = host.eq_ignore_ascii_case("docker.pkg.github.com");
            let token = github.token.as_ref().map(|t| t.variable.to_string());
            let missing = token.is_none().then(|| {
                format!(
                    "cleanup cannot delete here until {} (or {}) is set",
                    v::BERTH_GITHUB_TOKEN,
                    v::GITHUB_TOKEN
                )
            });
            let api = ApiCredentials {
                url: github.api_url.clone(),
                graphql_url: legacy.then(|| github.graphql_url.clone()),
                project: None,
                token,
                sent_as: None,
            };
            (Some(api), missing)
        }
        ContainerRegistry::Gitlab => {
            let gitlab = &providers.gitlab;
            let url = gitlab.api_url.clone().unwrap_or_else(|| {
                // The API is served by the GitLab host on its default port, not the
                // registry's (`gitlab.example.com:5050` → `https://gitlab.example.com`).
                let bare = host.rsplit_once(':').map_or(host, |(name, _)| name);
                let web = bare.strip_prefix("registry.").unwrap_or(bare);
                format!("https://{web}/api/v4")
            });
            let (token, sent_as, missing) = match &gitlab.token {
                Some((token, GitLabTokenKind::Private)) => {
                    (Some(token.variable), Some("PRIVATE-TOKEN"), None)
                }
                Some((token, GitLabTokenKind::Job)) => (
                    Some(token.variable),
                    Some("JOB-TOKEN"),
                    Some(format!(
                        "{} deletes only in the project that runs the job; set {} (an \
                         access token) to clean up other projects",
                        v::CI_JOB_TOKEN,
                        v::BERTH_GITLAB_TOKEN
                    )),
                ),
                None => (
                    None,
                    None,
                    Some(format!(
                        "cleanup cannot delete here until {} (or, inside the project's own \
                         GitLab job, {}) is set",
                        v::BERTH_GITLAB_TOKEN,
                        v::CI_JOB_TOKEN
                    )),
                ),
            };
            let api = ApiCredentials {
                url,
                graphql_url: None,
                project: gitlab.project.clone(),
                token: token.map(str::to_string),
                sent_as,
            };
            (Some(api), missing)
        }
        ContainerRegistry::Dockerhub => {
            let hub = &providers.dockerhub;
            let (token, missing) = match (&hub.token, &hub.username, &hub.password) {
                (Some(token), _, _) => (Some(token.variable.to_string()), None),
                (None, Some(_), Some(password)) => (
                    Some(format!(
                        "{} + {}",
                        v::BERTH_DOCKERHUB_USERNAME,
                        password.variable
                    )),
                    None,
                ),
                (None, Some(_), None) => (
                    None,
                    Some(format!(
                        "{} is set without {}; cleanup cannot delete here until both are set \
                         (or {})",
                        v::BERTH_DOCKERHUB_USERNAME,
                        v::BERTH_DOCKERHUB_PASSWORD,
                        v::BERTH_DOCKERHUB_TOKEN
                    )),
                ),
                (None, None, Some(_)) => (
                    None,
                    Some(format!(
                        "{} is set without {}; cleanup cannot delete here until both are set \
                         (or {})",
                        v::BERTH_DOCKERHUB_PASSWORD,
                        v::BERTH_DOCKERHUB_USERNAME,
                        v::BERTH_DOCKERHUB_TOKEN
                    )),
                ),
                (None, None, None) => (
                    None,
                    Some(format!(
                        "cleanup cannot delete here until {} (or {} and {}) is set",
                        v::BERTH_DOCKERHUB_TOKEN,
                        v::BERTH_DOCKERHUB_USERNAME,
                        v::BERTH_DOCKERHUB_PASSWORD
                    )),
                ),
            };
            let api = ApiCredentials {
                url: hub.api_url.clone(),
                graphql_url: None,
                project: None,
                token,
                sent_as: None,
            };
            (Some(api), missing)
        }
        // The `/acr/v1` API takes the registry's own token: the docker config's login, else
        // an Azure AD login, whose variables are named here (`az` is tried without any).
        ContainerRegistry::Acr => {
            let acr = &providers.acr;
            let token = match (
                &acr.client_id,
                &acr.client_secret,
                &acr.federated_token_file,
            ) {
                (Some(_), Some(secret), _) => Some(format!(
                    "the registry's token; without a docker config login, Azure AD with {} + {}",
                    v::AZURE_CLIENT_ID,
                    secret.variable
                )),
                (Some(_), None, Some(_)) => Some(format!(
                    "the registry's token; without a docker config login, Azure AD with {} + {}",
                    v::AZURE_CLIENT_ID,
                    v::AZURE_FEDERATED_TOKEN_FILE
                )),
                (Some(_), None, None) => Some(format!(
                    "the registry's token; {} is set without {} or {}, so an Azure AD login fails: set one",
                    v::AZURE_CLIENT_ID,
                    v::AZURE_CLIENT_SECRET,
                    v::AZURE_FEDERATED_TOKEN_FILE
                )),
                _ => Some(
                    "the registry's token; without a docker config login, Azure AD through `az`"
                        .to_string(),
                ),
            };
            let api = ApiCredentials {
                url: format!("https://{host}/acr/v1"),
                graphql_url: None,
                project: None,
                token,
                sent_as: None,
            };
            (Some(api), None)
        }
        _ => (None, None),
    }
}
