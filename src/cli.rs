//! Command-line structs (clap derive) and nothing else: no logic, no I/O.
//!
//! Every flag has an environment twin `BERTH_<FLAG>`; `settings` is the only module that reads
//! these structs and turns them into validated settings.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

/// berth: CI registry setup and git-history-aware registry cleanup.
#[derive(Debug, Parser)]
#[command(name = "berth", version, about, long_about = None)]
pub struct Cli {
    #[command(flatten)]
    pub global: GlobalArgs,
    #[command(subcommand)]
    pub command: Command,
}

/// Flags every command accepts.
#[derive(Debug, Args)]
pub struct GlobalArgs {
    /// More log output on stderr (-v debug, -vv trace). `RUST_LOG` overrides.
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,
    /// Only errors on stderr.
    #[arg(short, long, global = true, env = "BERTH_QUIET")]
    pub quiet: bool,
    /// Path of the configuration file (default: berth.yaml or .berth.yaml in the working directory).
    #[arg(long, global = true, env = "BERTH_CONFIG", value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Docker config directory to read credentials from (default: $DOCKER_CONFIG, else ~/.docker).
    #[arg(long, global = true, env = "BERTH_DOCKER_CONFIG", value_name = "DIR")]
    pub docker_config: Option<PathBuf>,
    /// Allow plain HTTP (and unverified TLS) for this registry host; repeatable.
    #[arg(
        long,
        global = true,
        env = "BERTH_INSECURE_REGISTRY",
        value_name = "HOST",
        value_delimiter = ','
    )]
    pub insecure_registry: Vec<String>,
    /// Most requests in flight at once per registry (1 to 256).
    #[arg(
        long,
        global = true,
        env = "BERTH_CONCURRENCY",
        value_name = "N",
        value_parser = parse_concurrency
    )]
    pub concurrency: Option<usize>,
    /// Registry implementation: auto (detect from the host), default (plain Distribution API),
    /// dockerhub, github, gitlab, harbor, quay, acr, ecr, gcr, jfrog, nexus, yandex.
    #[arg(
        long,
        global = true,
        env = "BERTH_CONTAINER_REGISTRY",
        value_name = "KIND",
        value_parser = parse_container_registry
    )]
    pub container_registry: Option<ContainerRegistryArg>,
    /// GitLab project (numeric id or `group/project`) whose registry repositories berth
    /// lists; default: CI_PROJECT_ID, else CI_PROJECT_PATH, else the image path.
    #[arg(
        long,
        global = true,
        env = "BERTH_GITLAB_PROJECT",
        value_name = "PROJECT"
    )]
    pub gitlab_project: Option<String>,
}

/// `--container-registry`: `auto`, or a kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ContainerRegistryArg {
    /// Detect from the host (and the CI job).
    Auto,
    /// This kind.
    Kind(crate::registry::providers::ContainerRegistry),
}

fn parse_container_registry(text: &str) -> Result<ContainerRegistryArg, String> {
    if text.trim().eq_ignore_ascii_case("auto") {
        return Ok(ContainerRegistryArg::Auto);
    }
    text.parse()
        .map(ContainerRegistryArg::Kind)
        .map_err(|e: crate::registry::providers::UnknownKind| e.to_string())
}

/// `--concurrency`: 1 to 256. Zero would stall and a huge value would exhaust sockets (or
/// overflow an allocation), so both are usage errors.
fn parse_concurrency(text: &str) -> Result<usize, String> {
    match text.trim().parse::<usize>() {
        Ok(n @ 1..=256) => Ok(n),
        _ => Err(format!(
            "`{text}` is not a number of requests from 1 to 256; pass e.g. --concurrency 16"
        )),
    }
}

/// The commands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// List a repository's tags with digest, media type, platforms, created time and revision.
    Tags(TagsArgs),
    /// Plan and apply the git-history-aware cleanup for one or more repositories.
    Cleanup(CleanupArgs),
    /// Read the CI's variables, make an isolated per-job docker config, log into the CI's
    /// registry and print the variables later steps need.
    #[command(name = "ci-env")]
    CiEnv(CiEnvArgs),
    /// Log into a registry, verified against the registry, stored in $DOCKER_CONFIG.
    Login(LoginArgs),
    /// Run the whole cleanup on a throwaway git repository and an on-disk OCI layout.
    Demo(DemoArgs),
    /// Push back the manifests and tags a `cleanup --journal FILE` removed.
    Restore(RestoreArgs),
    /// Which registry implementation serves a repository and why, its capabilities, the repo
    /// mode it defaults to and the credentials berth would use (named, never shown).
    Detect(DetectArgs),
    /// The final image name of one of the project's images: multirepo `REPO/IMAGE:TAG`,
    /// monorepo `REPO:IMAGE-TAG`, the unnamed image (`~`) `REPO:TAG`.
    Name(NameArgs),
}

/// Report formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum OutputFormat {
    Text,
    Json,
    Markdown,
}

/// `berth tags`.
#[derive(Debug, Args)]
pub struct TagsArgs {
    /// Repository: `host/path`, a Docker Hub name such as `nginx`, or `oci:PATH` for an OCI layout.
    #[arg(value_name = "REPO", env = "BERTH_REPO")]
    pub repo: String,
    /// Output format (text or json).
    #[arg(
        long,
        short = 'o',
        value_enum,
        default_value = "text",
        env = "BERTH_OUTPUT"
    )]
    pub output: OutputFormat,
}

/// `berth detect`.
#[derive(Debug, Args)]
pub struct DetectArgs {
    /// Repository or namespace: `host/path`, a Docker Hub name such as `flant` or
    /// `flant/project`, a registry alone (`ghcr.io`), or `oci:PATH` for an OCI layout.
    #[arg(value_name = "REPO", env = "BERTH_REPO")]
    pub repo: String,
    /// Output format: text or json.
    #[arg(
        long,
        short = 'o',
        default_value = "text",
        env = "BERTH_OUTPUT",
        value_parser = clap::builder::TypedValueParser::map(
            clap::builder::PossibleValuesParser::new(["text", "json"]),
            |format: String| if format == "json" { OutputFormat::Json } else { OutputFormat::Text },
        )
    )]
    pub output: OutputFormat,
}

/// `berth cleanup`.
#[derive(Debug, Args)]
pub struct CleanupArgs {
    /// Repository to clean; repeatable (default: $BERTH_REPO, as `ci-env` exports it).
    #[arg(
        long = "repo",
        value_name = "REPO",
        env = "BERTH_REPO",
        value_delimiter = ','
    )]
    pub repos: Vec<String>,
    /// The git repository (default: discovered from the working directory).
    #[arg(long, env = "BERTH_GIT_DIR", value_name = "DIR")]
    pub git_dir: Option<PathBuf>,
    /// The remote whose branches are the live branches.
    #[arg(long, env = "BERTH_REMOTE", default_value = "origin")]
    pub remote: String,
    /// When the clone differs from the remote (`git ls-remote`) or is shallow, run `git fetch
    /// --prune --prune-tags [--unshallow]` (with the remote's pull/merge request heads) instead
    /// of refusing (default: on in any CI berth detects: CI, GITHUB_ACTIONS, GITLAB_CI,
    /// JENKINS_URL).
    #[arg(long, env = "BERTH_FETCH", num_args = 0..=1, default_missing_value = "true", value_name = "BOOL")]
    pub fetch: Option<bool>,
    /// Judge the clone as it is, without comparing its branches and tags with the remote's
    /// (for a remote this job cannot reach). A branch or tag missing from the clone then loses
    /// its images; the report says the remote was not checked.
    #[arg(long, env = "BERTH_NO_REMOTE_CHECK")]
    pub no_remote_check: bool,
    /// Trust a repository owned by another user (CI containers) without `git config safe.directory`.
    #[arg(long, env = "BERTH_TRUST_REPO")]
    pub trust_repo: bool,
    /// Print the plan; send no mutating request.
    #[arg(long, env = "BERTH_DRY_RUN")]
    pub dry_run: bool,
    /// Write the JSON plan to FILE.
    #[arg(long, env = "BERTH_PLAN_OUT", value_name = "FILE")]
    pub plan_out: Option<PathBuf>,
    /// Apply a reviewed plan (re-checks each digest first and skips what drifted).
    #[arg(
        long,
        env = "BERTH_APPLY",
        value_name = "FILE",
        conflicts_with = "dry_run"
    )]
    pub apply: Option<PathBuf>,
    /// Append a record of every manifest deleted or untagged, with its exact bytes, to FILE
    /// (JSON lines, synced before each deletion) so that `berth restore FILE` can push it back.
    #[arg(
        long,
        env = "BERTH_JOURNAL",
        value_name = "FILE",
        conflicts_with = "dry_run"
    )]
    pub journal: Option<PathBuf>,
    /// Report format.
    #[arg(
        long,
        short = 'o',
        value_enum,
        default_value = "text",
        env = "BERTH_OUTPUT"
    )]
    pub output: OutputFormat,
    /// Never delete an image younger than this (e.g. 2h, 7d, 2h30m).
    #[arg(long, env = "BERTH_KEEP_BUILT_WITHIN", value_name = "DURATION")]
    pub keep_built_within: Option<String>,
    /// Refuse a plan that deletes more than this share of a repository's tags.
    #[arg(long, env = "BERTH_MAX_DELETE_RATIO", value_name = "RATIO")]
    pub max_delete_ratio: Option<f64>,
    /// Override the safety guards (delete ratio, zero refs).
    #[arg(long, env = "BERTH_FORCE")]
    pub force: bool,
    /// Discover the repositories: every --repo (or $BERTH_REPO) names a registry host or a
    /// namespace (`127.0.0.1:5000`, `ghcr.io/acme`) and every repository under it is cleaned
    /// (Distribution's catalog). Only for repositories built from this git repository.
    #[arg(long, env = "BERTH_ALL_REPOS", conflicts_with = "apply")]
    pub all_repos: bool,
    /// Also clean every repository whose `host/path` is P or lies under it (`host/team` takes
    /// `host/team/app`, not `host/teammate`); repeatable, discovered like --all-repos.
    #[arg(
        long = "repo-prefix",
        value_name = "P",
        env = "BERTH_REPO_PREFIX",
        value_delimiter = ',',
        conflicts_with = "apply"
    )]
    pub repo_prefixes: Vec<String>,
    /// Clean only share I of N of the repositories (a stable hash of each name), for a CI job
    /// matrix; e.g. 2/4 (GitLab `parallel:`: "$CI_NODE_INDEX/$CI_NODE_TOTAL").
    #[arg(
        long,
        env = "BERTH_SHARD",
        value_name = "I/N",
        conflicts_with = "apply"
    )]
    pub shard: Option<String>,
}

/// `--repo-mode`: how image names are composed from REPO.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum RepoModeArg {
    /// Multirepo where the registry nests repositories; on Docker Hub, GitHub Packages and
    /// Quay multirepo for a namespace and monorepo for a repository.
    Auto,
    /// Every image in REPO: `REPO:IMAGE-TAG`.
    Monorepo,
    /// One repository per image: `REPO/IMAGE:TAG`.
    Multirepo,
}

/// `berth name`.
#[derive(Debug, Args)]
pub struct NameArgs {
    /// The image, as `images:` in berth.yaml names it; `~` (or empty) for the unnamed image.
    #[arg(value_name = "IMAGE")]
    pub image: String,
    /// The registry, namespace or repository images are pushed under (default: $BERTH_REPO,
    /// as `ci-env` exports it).
    #[arg(long, value_name = "REPO", env = "BERTH_REPO")]
    pub repo: String,
    /// How names are composed (default: `repo_mode:` in berth.yaml, else auto).
    #[arg(long, value_enum, value_name = "MODE", env = "BERTH_REPO_MODE")]
    pub repo_mode: Option<RepoModeArg>,
    /// The build tag; repeatable, one name per line (default: the name with a `{tag}`
    /// placeholder).
    #[arg(long = "tag", value_name = "TAG")]
    pub tags: Vec<String>,
    /// Output format (text or json).
    #[arg(
        long,
        short = 'o',
        value_enum,
        default_value = "text",
        env = "BERTH_OUTPUT"
    )]
    pub output: OutputFormat,
}

/// `berth restore`.
#[derive(Debug, Args)]
pub struct RestoreArgs {
    /// The journal `berth cleanup --journal FILE` wrote.
    #[arg(value_name = "JOURNAL")]
    pub journal: PathBuf,
    /// Re-tag only this tag (repeatable; default: every tag in the journal). The manifests
    /// are pushed back either way.
    #[arg(long = "tag", value_name = "TAG")]
    pub tags: Vec<String>,
    /// Say what would be restored; send no mutating request.
    #[arg(long, env = "BERTH_DRY_RUN")]
    pub dry_run: bool,
    /// Report format (`markdown` prints the text report).
    #[arg(
        long,
        short = 'o',
        value_enum,
        default_value = "text",
        env = "BERTH_OUTPUT"
    )]
    pub output: OutputFormat,
}

/// CI systems `ci-env` knows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum CiSystem {
    Github,
    Gitlab,
    Jenkins,
    Generic,
}

/// Shells `ci-env` can write for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Shell {
    Bash,
    Zsh,
    Fish,
    Powershell,
    Cmd,
}

/// `berth ci-env`.
#[derive(Debug, Args)]
pub struct CiEnvArgs {
    /// CI system (default: detected from GITHUB_ACTIONS, GITLAB_CI, JENKINS_URL, else generic).
    #[arg(value_enum, value_name = "CI")]
    pub ci: Option<CiSystem>,
    /// Shell syntax of the printed script.
    #[arg(long, value_enum, default_value = "bash", env = "BERTH_SHELL")]
    pub shell: Shell,
    /// Write the script to a new file and print its path (`. $(berth ci-env --as-file)`).
    #[arg(long, conflicts_with = "as_env_file")]
    pub as_file: bool,
    /// Write a dotenv file (GitLab `reports: dotenv`, Jenkins `readProperties`) and print its path.
    #[arg(long)]
    pub as_env_file: bool,
    /// Write the output to FILE (truncating it) instead of stdout.
    #[arg(
        short = 'o',
        long = "output-file",
        value_name = "FILE",
        env = "BERTH_OUTPUT_FILE"
    )]
    pub output_file: Option<PathBuf>,
    /// Build config.json from $DOCKER_AUTH_CONFIG instead of copying the docker config dir.
    #[arg(long, env = "BERTH_USE_DOCKER_AUTH_CONFIG")]
    pub use_docker_auth_config: bool,
    /// Do not log into the CI's registry.
    #[arg(long, env = "BERTH_NO_LOGIN")]
    pub no_login: bool,
    /// Remove the per-job docker config directory named by $DOCKER_CONFIG (end of job).
    #[arg(long)]
    pub cleanup: bool,
}

/// `berth login`.
#[derive(Debug, Args)]
pub struct LoginArgs {
    /// Registry host, e.g. ghcr.io or registry.example.com:5000.
    #[arg(value_name = "REGISTRY")]
    pub registry: String,
    /// User name.
    #[arg(short, long, env = "BERTH_USERNAME")]
    pub username: Option<String>,
    /// Read the password from stdin (else $BERTH_PASSWORD).
    #[arg(long)]
    pub password_stdin: bool,
}

/// `berth demo`.
#[derive(Debug, Args)]
pub struct DemoArgs {
    /// Keep the demo's temporary directory and print its path.
    #[arg(long)]
    pub keep: bool,
}
