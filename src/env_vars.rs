//! Every environment variable berth reads, as documented constants.
//!
//! berth's own flags have `BERTH_<FLAG>` twins declared on the clap structs in `cli`; this list
//! names the variables of other programs (docker, the CI systems) that berth reads or writes.

/// Directory of the docker client configuration (`config.json`).
pub const DOCKER_CONFIG: &str = "DOCKER_CONFIG";
/// A complete docker `config.json` as JSON text (GitLab runners set it).
pub const DOCKER_AUTH_CONFIG: &str = "DOCKER_AUTH_CONFIG";
/// Home directory; `~/.docker` is the docker config fallback.
pub const HOME: &str = "HOME";
/// Base directory of berth's cache (`$XDG_CACHE_HOME/berth`), else `~/.cache/berth`.
pub const XDG_CACHE_HOME: &str = "XDG_CACHE_HOME";
/// Log filter in `tracing_subscriber` syntax; overrides `-v`.
pub const RUST_LOG: &str = "RUST_LOG";
/// Set by most CI systems; turns on CI behaviour (fetch by default, periodic progress lines),
/// as do the marker variables of the CI systems berth detects (`GITHUB_ACTIONS`, `GITLAB_CI`,
/// `JENKINS_URL`), which also turn it on where `CI` is not set.
pub const CI: &str = "CI";

/// `true` inside GitHub Actions; turns on CI behaviour like `CI`.
pub const GITHUB_ACTIONS: &str = "GITHUB_ACTIONS";
/// File that collects `KEY=value` lines for later steps of a GitHub Actions job.
pub const GITHUB_ENV: &str = "GITHUB_ENV";
/// File that collects step outputs in GitHub Actions.
pub const GITHUB_OUTPUT: &str = "GITHUB_OUTPUT";
/// File whose markdown GitHub shows on the run's summary page.
pub const GITHUB_STEP_SUMMARY: &str = "GITHUB_STEP_SUMMARY";
/// `true` inside GitLab CI; turns on CI behaviour like `CI`.
pub const GITLAB_CI: &str = "GITLAB_CI";
/// Set inside Jenkins jobs (which do not set `CI`); turns on CI behaviour like `CI`.
pub const JENKINS_URL: &str = "JENKINS_URL";

/// Registry repository that berth pushes to / cleans (exported by `ci-env`).
pub const BERTH_REPO: &str = "BERTH_REPO";
/// User name for `BERTH_REPO` (Jenkins `withCredentials`, generic CI).
pub const BERTH_REPO_USERNAME: &str = "BERTH_REPO_USERNAME";
/// Password or token for `BERTH_REPO`.
pub const BERTH_REPO_PASSWORD: &str = "BERTH_REPO_PASSWORD";
/// The CI's own registry host for `ci-env`'s login with the CI token, when it is not the one
/// berth derives (`ghcr.io` / `containers.<GHES host>` on GitHub, `CI_REGISTRY` on GitLab).
pub const BERTH_CI_REGISTRY: &str = "BERTH_CI_REGISTRY";
/// Password for `berth login` when `--password-stdin` is not given.
pub const BERTH_PASSWORD: &str = "BERTH_PASSWORD";
