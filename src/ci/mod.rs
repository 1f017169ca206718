//! CI adapter: reads each CI system's variables, builds the per-job docker config, renders the
//! exported variables for each shell. Must not import `registry`, `git`, `cleanup`, `app`, `cli`.
//!
//! Each CI system has one file with one typed struct read by `envy` from an [`Env`] snapshot
//! ([`github`], [`gitlab`], [`jenkins`], [`generic`]); each turns its struct into the same
//! [`CiContext`]. `app::ci_env` adds what needs other adapters (the verified login, the tag
//! scheme of `policy`) and hands the result to [`shell`] and [`docker_config`].

pub mod docker_config;
pub mod generic;
pub mod github;
pub mod gitlab;
pub mod jenkins;
pub mod shell;

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::de::DeserializeOwned;

use crate::env_vars;
use crate::secret::Secret;

/// Something `ci-env` or `login` could not do. Every message names the input and the fix.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A variable the CI always sets is missing: not running in that CI, or a step dropped it.
    #[error(
        "{ci}: the variable {name} is not set; {ci} sets it in every job, so run `berth ci-env` \
         as a step of that CI (or name another CI system: github, gitlab, jenkins, generic)"
    )]
    MissingVariable {
        /// The CI system's name.
        ci: &'static str,
        /// The variable.
        name: String,
    },
    /// A variable with a value of the wrong shape.
    #[error("{ci}: {name} has an invalid value: {why}; fix or unset it")]
    InvalidVariable {
        /// The CI system's name.
        ci: &'static str,
        /// The variable.
        name: String,
        /// What is wrong with it.
        why: String,
    },
    /// A file or directory operation failed. The cause is in the message and not a
    /// `source()`, so a chain printed with `{:#}` names it once.
    #[error("{what} `{}`: {cause}", path.display())]
    Io {
        /// What berth was doing.
        what: &'static str,
        /// The path.
        path: PathBuf,
        /// The cause.
        cause: std::io::Error,
    },
    /// A docker `config.json` (or `$DOCKER_AUTH_CONFIG`) that is not a JSON object.
    #[error(
        "{source_name} is not a valid docker config ({why}); fix the JSON or point \
         --docker-config at another directory"
    )]
    InvalidDockerConfig {
        /// Where the text came from.
        source_name: String,
        /// The parse error.
        why: String,
    },
    /// `--use-docker-auth-config` without `$DOCKER_AUTH_CONFIG`.
    #[error(
        "--use-docker-auth-config was given but DOCKER_AUTH_CONFIG is empty; set it (GitLab: a \
         CI/CD variable) or drop the flag to copy the docker config directory"
    )]
    NoDockerAuthConfig,
    /// `--cleanup` on a directory berth did not create.
    #[error(
        "refusing to remove `{}`: it is not a per-job directory made by `berth ci-env` (no \
         marker file {marker}); check that DOCKER_CONFIG is the one ci-env exported",
        path.display()
    )]
    NotAJobDir {
        /// The directory.
        path: PathBuf,
        /// The marker file name that was missing.
        marker: &'static str,
    },
    /// A value that the chosen output format cannot carry.
    #[error("{name}: {why}")]
    Unrepresentable {
        /// The variable.
        name: String,
        /// Why and what to do.
        why: String,
    },
}

/// The CI systems `ci-env` knows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CiKind {
    /// GitHub Actions.
    Github,
    /// GitLab CI.
    Gitlab,
    /// Jenkins.
    Jenkins,
    /// Any other CI: `BERTH_*` variables and git.
    Generic,
}

impl CiKind {
    /// The lowercase name used on the command line and in messages.
    pub fn name(self) -> &'static str {
        match self {
            CiKind::Github => "github",
            CiKind::Gitlab => "gitlab",
            CiKind::Jenkins => "jenkins",
            CiKind::Generic => "generic",
        }
    }
}

/// A snapshot of the environment. Read once from the process (or given by tests) so that the
/// "already set by the user" check and the CI structs see the same values.
#[derive(Debug, Clone, Default)]
pub struct Env {
    vars: BTreeMap<String, String>,
}

impl Env {
    /// The environment of this process (variables that are not valid UTF-8 are left out).
    pub fn from_process() -> Env {
        Env {
            vars: std::env::vars_os()
                .filter_map(|(k, v)| Some((k.into_string().ok()?, v.into_string().ok()?)))
                .collect(),
        }
    }

    /// An environment made of these pairs.
    pub fn from_pairs<K: Into<String>, V: Into<String>>(
        pairs: impl IntoIterator<Item = (K, V)>,
    ) -> Env {
        Env {
            vars: pairs
                .into_iter()
                .map(|(k, v)| (k.into(), v.into()))
                .collect(),
        }
    }

    /// A variable's value when it is set and not empty (CI systems set unused variables to "").
    pub fn get(&self, name: &str) -> Option<&str> {
        self.vars
            .get(name)
            .map(String::as_str)
            .filter(|v| !v.is_empty())
    }

    /// Reads a typed struct with `envy`; a missing required field becomes
    /// [`Error::MissingVariable`] naming the variable. Empty values count as unset.
    pub fn read<T: DeserializeOwned>(&self, ci: &'static str) -> Result<T, Error> {
        let pairs = self
            .vars
            .iter()
            .filter(|(_, v)| !v.is_empty())
            .map(|(k, v)| (k.clone(), v.clone()));
        envy::from_iter(pairs).map_err(|err| match err {
            envy::Error::MissingValue(field) => Error::MissingVariable {
                ci,
                name: field.to_ascii_uppercase(),
            },
            envy::Error::Custom(why) => Error::InvalidVariable {
                ci,
                name: "a variable".into(),
                why,
            },
        })
    }
}

/// Detects the CI system from its marker variables, else generic.
pub fn detect(env: &Env) -> CiKind {
    if env.get(env_vars::GITHUB_ACTIONS) == Some("true") {
        CiKind::Github
    } else if env.get(env_vars::GITLAB_CI).is_some() {
        CiKind::Gitlab
    } else if env.get(env_vars::JENKINS_URL).is_some() {
        CiKind::Jenkins
    } else {
        CiKind::Generic
    }
}

/// The git ref a job builds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum JobRef {
    /// A branch, by its short name (`main`, `feature/x`).
    Branch(String),
    /// A git tag, by its short name.
    Tag(String),
    /// A pull / merge request: its number, and the head ref name the forge keeps for it
    /// (`refs/pull/N/head` on GitHub, `refs/merge-requests/N/head` on GitLab).
    PullRequest {
        /// The request's number.
        number: u64,
        /// The full head ref.
        head_ref: String,
    },
}

impl JobRef {
    /// The full ref name recorded in the `berth.git.ref` label and exported as `BERTH_GIT_REF`:
    /// `refs/heads/<branch>`, `refs/tags/<tag>`, `refs/pull/<n>/head`,
    /// `refs/merge-requests/<n>/head`. Cleanup reads it back to find a dead ref's tags.
    pub fn full_name(&self) -> String {
        match self {
            JobRef::Branch(b) => format!("refs/heads/{b}"),
            JobRef::Tag(t) => format!("refs/tags/{t}"),
            JobRef::PullRequest { head_ref, .. } => head_ref.clone(),
        }
    }

    /// Parses a full ref name (`refs/heads/x`, `refs/tags/x`, `refs/pull/N/...`,
    /// `refs/merge-requests/N/...`), else treats the text as a branch name.
    pub fn parse(text: &str) -> JobRef {
        if let Some(b) = text.strip_prefix("refs/heads/") {
            return JobRef::Branch(b.to_string());
        }
        if let Some(t) = text.strip_prefix("refs/tags/") {
            return JobRef::Tag(t.to_string());
        }
        for (prefix, forge) in [
            ("refs/pull/", "refs/pull/"),
            ("refs/merge-requests/", "refs/merge-requests/"),
        ] {
            let number = text
                .strip_prefix(prefix)
                .and_then(|rest| rest.split('/').next())
                .and_then(|n| n.parse::<u64>().ok());
            if let Some(number) = number {
                return JobRef::PullRequest {
                    number,
                    head_ref: format!("{forge}{number}/head"),
                };
            }
        }
        JobRef::Branch(text.to_string())
    }
}

/// Credentials for the CI's registry.
#[derive(Debug, Clone)]
pub struct Login {
    /// Registry host (`ghcr.io`, `registry.gitlab.com`, `127.0.0.1:5000`).
    pub host: String,
    /// User name.
    pub username: String,
    /// Password or token.
    pub password: Secret,
    /// Variables the credentials came from, for messages (`GITHUB_ACTOR/GITHUB_TOKEN`).
    pub source: &'static str,
}

/// What one CI system says about the job.
#[derive(Debug, Clone)]
pub struct CiContext {
    /// Which CI.
    pub kind: CiKind,
    /// The repository images go to by default (`ghcr.io/owner/repo`, `$CI_REGISTRY_IMAGE`).
    pub repo: Option<String>,
    /// The registry kind for `BERTH_CONTAINER_REGISTRY` when the repo is on the CI's own
    /// registry (`github`, `gitlab`).
    pub container_registry: Option<&'static str>,
    /// The commit being built (40 hex), when the CI says.
    pub sha: Option<String>,
    /// The ref being built, when the CI says.
    pub git_ref: Option<JobRef>,
    /// The ref slug the CI itself computed (GitLab's `CI_COMMIT_REF_SLUG`), for comparison.
    pub ci_ref_slug: Option<String>,
    /// Web URL of the project, for `org.opencontainers.image.source`.
    pub source_url: Option<String>,
    /// The CI's registry credentials, when it provides them.
    pub login: Option<Login>,
    /// Why there is no login, when there is none (names the missing variables).
    pub no_login_reason: Option<String>,
    /// The CI's per-job temp directory (`RUNNER_TEMP`, `CI_BUILDS_DIR/tmp`, `WORKSPACE@tmp`).
    pub temp_dir: Option<PathBuf>,
    /// GitHub Actions files to append to (`$GITHUB_ENV`, `$GITHUB_OUTPUT`).
    pub github_files: Option<github::Files>,
    /// The secret values to mask in the CI log (`::add-mask::` on GitHub).
    pub secrets_to_mask: Vec<Secret>,
}

impl CiContext {
    fn empty(kind: CiKind) -> CiContext {
        CiContext {
            kind,
            repo: None,
            container_registry: None,
            sha: None,
            git_ref: None,
            ci_ref_slug: None,
            source_url: None,
            login: None,
            no_login_reason: None,
            temp_dir: None,
            github_files: None,
            secrets_to_mask: Vec::new(),
        }
    }
}

/// Reads the CI's variables. `BERTH_REPO` / `BERTH_REPO_USERNAME` / `BERTH_REPO_PASSWORD`
/// override the repository and the credentials on every CI (Jenkins and generic need them);
/// the CI's own token is only sent to the CI's own registry (`BERTH_CI_REGISTRY` moves that).
pub fn read(kind: CiKind, env: &Env) -> Result<CiContext, Error> {
    let mut ctx = match kind {
        CiKind::Github => github::read(env)?,
        CiKind::Gitlab => gitlab::read(env)?,
        CiKind::Jenkins => jenkins::read(env)?,
        CiKind::Generic => generic::read(env)?,
    };
    apply_berth_overrides(&mut ctx, env)?;
    Ok(ctx)
}

/// The `BERTH_REPO*` variables, as every CI reads them.
#[derive(Debug, serde::Deserialize)]
struct BerthRepoEnv {
    berth_repo: Option<String>,
    berth_repo_username: Option<String>,
    berth_repo_password: Option<Secret>,
}

fn apply_berth_overrides(ctx: &mut CiContext, env: &Env) -> Result<(), Error> {
    let b: BerthRepoEnv = env.read(ctx.kind.name())?;
    if let Some(repo) = &b.berth_repo {
        // The user's own repo wins; the CI's registry kind only applies to its own registry.
        if ctx.repo.as_deref() != Some(repo.as_str()) {
            let ci_host = ctx.login.as_ref().map(|l| l.host.clone());
            if ci_host.as_deref() != Some(registry_host(repo)) {
                ctx.container_registry = None;
            }
        }
        ctx.repo = Some(repo.clone());
    }
    let host = ctx.repo.as_deref().map(registry_host).map(str::to_string);
    match (b.berth_repo_username, b.berth_repo_password, host) {
        (Some(username), Some(password), Some(host)) => {
            ctx.secrets_to_mask.push(password.clone());
            ctx.login = Some(Login {
                host,
                username,
                password,
                source: "BERTH_REPO_USERNAME/BERTH_REPO_PASSWORD",
            });
            ctx.no_login_reason = None;
        }
        (Some(_), Some(_), None) => {
            return Err(Error::MissingVariable {
                ci: ctx.kind.name(),
                name: env_vars::BERTH_REPO.into(),
            });
        }
        (Some(_), None, _) | (None, Some(_), _) => {
            return Err(Error::InvalidVariable {
                ci: ctx.kind.name(),
                name: "BERTH_REPO_USERNAME/BERTH_REPO_PASSWORD".into(),
                why: "only one of the two is set; set both (or neither)".into(),
            });
        }
        // The CI's own credentials only ever go to the CI's own registry: a BERTH_REPO on
        // another host must not receive the job token.
        (None, None, _) => {}
    }
    Ok(())
}

/// The registry host of a repository reference (`ghcr.io/o/r` → `ghcr.io`). A first path
/// component without `.` or `:` (and not `localhost`) means Docker Hub, as docker decides.
pub fn registry_host(repo: &str) -> &str {
    match repo.split_once('/') {
        Some((first, _)) if first.contains(['.', ':']) || first == "localhost" => first,
        _ => "docker.io",
    }
}

/// The key of a registry host in a docker config's `auths` map: Docker Hub's is the legacy
/// `https://index.docker.io/v1/` URL; every other registry is keyed by its host.
pub fn auths_key(host: &str) -> &str {
    match host {
        "docker.io" | "index.docker.io" | "registry-1.docker.io" => "https://index.docker.io/v1/",
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn detects_each_ci_by_its_marker_variable() {
        assert_eq!(
            detect(&Env::from_pairs([("GITHUB_ACTIONS", "true")])),
            CiKind::Github
        );
        assert_eq!(
            detect(&Env::from_pairs([("GITLAB_CI", "true")])),
            CiKind::Gitlab
        );
        assert_eq!(
            detect(&Env::from_pairs([("JENKINS_URL", "http://j/")])),
            CiKind::Jenkins
        );
        assert_eq!(
            detect(&Env::from_pairs([("JENKINS_URL", "")])),
            CiKind::Generic
        );
    }

    #[test]
    fn registry_host_follows_docker_rules() {
        assert_eq!(registry_host("ghcr.io/o/r"), "ghcr.io");
        assert_eq!(registry_host("127.0.0.1:5000/a"), "127.0.0.1:5000");
        assert_eq!(registry_host("localhost/a"), "localhost");
        assert_eq!(registry_host("library/nginx"), "docker.io");
        assert_eq!(registry_host("nginx"), "docker.io");
        assert_eq!(auths_key("docker.io"), "https://index.docker.io/v1/");
    }

    #[test]
    fn job_ref_round_trips_full_names() {
        for full in [
            "refs/heads/feature/x",
            "refs/tags/v1.2.0",
            "refs/pull/12/head",
            "refs/merge-requests/7/head",
        ] {
            assert_eq!(JobRef::parse(full).full_name(), full);
        }
        assert_eq!(
            JobRef::parse("refs/pull/12/merge").full_name(),
            "refs/pull/12/head"
        );
        assert_eq!(JobRef::parse("main"), JobRef::Branch("main".into()));
    }

    #[test]
    fn the_ci_token_never_goes_to_another_registry() {
        let env = Env::from_pairs([
            ("GITHUB_REPOSITORY", "o/r"),
            ("GITHUB_SHA", "0123456789abcdef0123456789abcdef01234567"),
            ("GITHUB_ACTOR", "me"),
            ("GITHUB_TOKEN", "t"),
            ("BERTH_REPO", "evil.example.com/o/r"),
        ]);
        let ctx = read(CiKind::Github, &env).unwrap();
        assert_eq!(ctx.login.unwrap().host, "ghcr.io");
        assert_eq!(ctx.repo.as_deref(), Some("evil.example.com/o/r"));
        assert_eq!(ctx.container_registry, None);
    }

    #[test]
    fn berth_repo_credentials_need_both_halves() {
        let env = Env::from_pairs([
            ("BERTH_REPO", "r.example.com/a"),
            ("BERTH_REPO_USERNAME", "u"),
        ]);
        let err = read(CiKind::Generic, &env).unwrap_err().to_string();
        assert!(
            err.contains("BERTH_REPO_USERNAME/BERTH_REPO_PASSWORD"),
            "{err}"
        );
    }
}
