//! `berth cleanup` flags + environment + `berth.yaml` → [`CleanupSettings`].
//!
//! Precedence: flag > env (clap's `env` twins) > file > default. The config file is
//! `--config FILE`, else `berth.yaml` or `.berth.yaml` in the working directory, else in
//! `--git-dir`; with none, the defaults of DESIGN §3 apply. `--fetch` defaults to on in every
//! CI berth detects ([`in_ci`]): CI clones are often shallow or single-branch, and Jenkins,
//! for one, sets `JENKINS_URL` but not `CI`.

use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::ci::{self, CiKind, Env};
pub use crate::cleanup::plan::DEFAULT_MAX_DELETE_RATIO;
use crate::cli::{CleanupArgs, GlobalArgs, OutputFormat};
use crate::env_vars;
use crate::git::GitOptions;
use crate::policy::{self, CleanupConfig};
use crate::registry::RegistryOptions;
use crate::report::cleanup::Format;
use crate::report::progress::ProgressMode;

/// Settings that cannot be used; the message names the input and the fix.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// No repository to clean.
    #[error(
        "no repository to clean: pass --repo REPO (repeatable), set BERTH_REPO, or run \
         `berth ci-env` first, which exports it"
    )]
    NoRepo,
    /// `--max-delete-ratio` outside 0..=1.
    #[error("--max-delete-ratio {0} is not a share between 0 and 1: pass e.g. 0.8")]
    Ratio(f64),
    /// `--keep-built-within` does not parse.
    #[error("--keep-built-within: {0}")]
    Duration(#[source] policy::Error),
    /// The config file could not be read or does not parse.
    #[error(transparent)]
    ConfigFile(#[from] super::ConfigFileError),
    /// `--repo` names a tag or digest: cleanup works on whole repositories.
    #[error(
        "--repo {repo} names a tag or digest, but cleanup takes repositories: pass --repo {bare} \
         (berth decides tag by tag), and protect tags with keep.tags in berth.yaml"
    )]
    RepoWithTag {
        /// As given.
        repo: String,
        /// Without the tag or digest.
        bare: String,
    },
    /// `--repo` together with `--apply` (the plan names its repositories).
    #[error(
        "--apply FILE takes the repositories from the plan; drop --repo (or BERTH_REPO) or \
         make a new plan"
    )]
    RepoWithApply,
}

/// What a cleanup run does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RunMode {
    /// Plan and print; nothing is changed.
    DryRun,
    /// Plan and execute.
    Run,
    /// Execute a reviewed plan from this file, re-checking every digest.
    Apply(PathBuf),
}

/// Everything `berth cleanup` needs, validated.
#[derive(Debug, Clone)]
pub struct CleanupSettings {
    /// Repositories (`host/path` or `oci:PATH`); empty with `--apply`.
    pub repos: Vec<String>,
    /// Where the git repository is and how to read it.
    pub git: GitOptions,
    /// Run `git fetch --prune --prune-tags [--unshallow]` first.
    pub fetch: bool,
    /// Dry run, run, or apply a reviewed plan.
    pub mode: RunMode,
    /// Write the JSON plan here.
    pub plan_out: Option<PathBuf>,
    /// Record every mutation here first (`--journal`).
    pub journal: Option<PathBuf>,
    /// Report format on stdout.
    pub format: Format,
    /// Keep policies, protected tags, templates (`--keep-built-within` applied).
    pub config: CleanupConfig,
    /// The config file used, if any.
    pub config_file: Option<PathBuf>,
    /// Refuse plans deleting more than this share of a repository's tags.
    pub max_delete_ratio: f64,
    /// Override the guards.
    pub force: bool,
    /// Registry access.
    pub registry: RegistryOptions,
    /// The config cache directory (None: no cache).
    pub cache_dir: Option<PathBuf>,
    /// `$GITHUB_STEP_SUMMARY`: the markdown report is appended there.
    pub step_summary: Option<PathBuf>,
    /// How progress shows on stderr.
    pub progress: ProgressMode,
    /// Where pull-request state comes from, or why it cannot (DESIGN §2).
    pub forge: Result<crate::forge::Forge, crate::forge::Unavailable>,
}

/// Resolves the cleanup settings. `env` reads environment variables (the process
/// environment in production), `cwd` is where `berth.yaml` is looked for.
pub fn resolve(
    global: &GlobalArgs,
    args: &CleanupArgs,
    env: &dyn Fn(&str) -> Option<String>,
    cwd: &Path,
) -> Result<CleanupSettings, Error> {
    let mode = match (&args.apply, args.dry_run) {
        (Some(file), _) => RunMode::Apply(file.clone()),
        (None, true) => RunMode::DryRun,
        (None, false) => RunMode::Run,
    };
    let repos: Vec<String> = args
        .repos
        .iter()
        .map(|r| r.trim().to_string())
        .filter(|r| !r.is_empty())
        .collect();
    for repo in repos.iter().filter(|r| !r.starts_with("oci:")) {
        if let Ok(reference) = crate::registry::reference::Reference::parse(repo) {
            if reference.tag().is_some() || reference.digest().is_some() {
                return Err(Error::RepoWithTag {
                    repo: repo.clone(),
                    bare: format!("{}/{}", reference.registry(), reference.repository()),
                });
            }
        }
    }
    match (&mode, repos.is_empty()) {
        (RunMode::Apply(_), false) => return Err(Error::RepoWithApply),
        (RunMode::Apply(_), true) => {}
        (_, true) => return Err(Error::NoRepo),
        (_, false) => {}
    }
    let ratio = args.max_delete_ratio.unwrap_or(DEFAULT_MAX_DELETE_RATIO);
    if !(0.0..=1.0).contains(&ratio) {
        return Err(Error::Ratio(ratio));
    }
    let (mut config, config_file) = load_config(global, args, cwd)?;
    if let Some(text) = &args.keep_built_within {
        let d = policy::parse_duration(text).map_err(Error::Duration)?;
        config = config.with_built_within(d);
    }
    let in_ci = in_ci(env);
    let cache_dir = super::cache_dir(env);
    let registry = super::registry_options(global);
    Ok(CleanupSettings {
        repos,
        git: GitOptions {
            git_dir: args.git_dir.clone(),
            remote: args.remote.clone(),
            trust: args.trust_repo,
            check_remote: !args.no_remote_check,
        },
        fetch: args.fetch.unwrap_or(in_ci),
        mode,
        plan_out: args.plan_out.clone(),
        journal: args.journal.clone(),
        format: match args.output {
            OutputFormat::Text => Format::Text,
            OutputFormat::Json => Format::Json,
            OutputFormat::Markdown => Format::Markdown,
        },
        config,
        config_file,
        max_delete_ratio: ratio,
        force: args.force,
        registry,
        cache_dir,
        step_summary: env(env_vars::GITHUB_STEP_SUMMARY)
            .filter(|v| !v.is_empty())
            .map(PathBuf::from),
        progress: if in_ci && !global.quiet {
            ProgressMode::Lines(Duration::from_secs(5))
        } else {
            ProgressMode::detect(global.quiet)
        },
        forge: crate::forge::from_env(env),
    })
}

/// `CI` is set (and not `false` or `0`), or `ci::detect` recognises a CI system by its
/// marker variable.
fn in_ci(env: &dyn Fn(&str) -> Option<String>) -> bool {
    let markers = [
        env_vars::GITHUB_ACTIONS,
        env_vars::GITLAB_CI,
        env_vars::JENKINS_URL,
    ];
    let snapshot = Env::from_pairs(markers.into_iter().filter_map(|k| env(k).map(|v| (k, v))));
    env(env_vars::CI).is_some_and(|v| !v.is_empty() && v != "false" && v != "0")
        || ci::detect(&snapshot) != CiKind::Generic
}

/// `--config`, else `berth.yaml` / `.berth.yaml` in `cwd`, else in `--git-dir`.
fn load_config(
    global: &GlobalArgs,
    args: &CleanupArgs,
    cwd: &Path,
) -> Result<(CleanupConfig, Option<PathBuf>), Error> {
    let mut dirs = vec![cwd.to_path_buf()];
    dirs.extend(args.git_dir.clone());
    Ok(
        match super::load_config_file(global.config.as_deref(), &dirs)? {
            Some((config, path)) => (config, Some(path)),
            None => (CleanupConfig::default(), None),
        },
    )
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;
    use crate::cli::{Cli, Command};

    fn parse(argv: &[&str]) -> (GlobalArgs, CleanupArgs) {
        let cli = Cli::try_parse_from(argv).unwrap();
        match cli.command {
            Command::Cleanup(a) => (cli.global, a),
            _ => unreachable!("a cleanup command line"),
        }
    }

    fn env_of(pairs: &'static [(&'static str, &'static str)]) -> impl Fn(&str) -> Option<String> {
        move |k| {
            pairs
                .iter()
                .find(|(n, _)| *n == k)
                .map(|(_, v)| v.to_string())
        }
    }

    #[test]
    fn defaults_fetch_in_ci_and_cache_under_xdg() {
        let tmp = tempfile::tempdir().unwrap();
        let (g, a) = parse(&["berth", "cleanup", "--repo", "localhost:5000/app"]);
        let s = resolve(
            &g,
            &a,
            &env_of(&[("CI", "true"), ("XDG_CACHE_HOME", "/x")]),
            tmp.path(),
        )
        .unwrap();
        assert!(s.fetch);
        assert_eq!(s.mode, RunMode::Run);
        assert_eq!(s.max_delete_ratio, DEFAULT_MAX_DELETE_RATIO);
        assert_eq!(s.cache_dir.as_deref(), Some(Path::new("/x/berth")));
        let s = resolve(&g, &a, &env_of(&[("HOME", "/h")]), tmp.path()).unwrap();
        assert!(!s.fetch);
        assert_eq!(s.cache_dir.as_deref(), Some(Path::new("/h/.cache/berth")));
        let (g, a) = parse(&["berth", "cleanup", "--repo", "r", "--fetch=false"]);
        assert!(
            !resolve(&g, &a, &env_of(&[("CI", "1")]), tmp.path())
                .unwrap()
                .fetch
        );
    }

    #[test]
    fn every_detected_ci_fetches_by_default_not_only_where_ci_is_set() {
        let tmp = tempfile::tempdir().unwrap();
        let (g, a) = parse(&["berth", "cleanup", "--repo", "r"]);
        let fetch = |pairs: &'static [(&'static str, &'static str)]| {
            resolve(&g, &a, &env_of(pairs), tmp.path()).unwrap().fetch
        };
        assert!(fetch(&[("JENKINS_URL", "https://jenkins.example.com/")]));
        assert!(fetch(&[("GITLAB_CI", "true")]));
        assert!(fetch(&[("GITHUB_ACTIONS", "true")]));
        assert!(!fetch(&[("JENKINS_URL", "")]));
        assert!(!fetch(&[("CI", "false")]));
        assert!(!fetch(&[]));
        let (g, a) = parse(&["berth", "cleanup", "--repo", "r", "--fetch=false"]);
        assert!(
            !resolve(
                &g,
                &a,
                &env_of(&[("JENKINS_URL", "https://j/")]),
                tmp.path()
            )
            .unwrap()
            .fetch
        );
        let (g, a) = parse(&["berth", "cleanup", "--repo", "r", "--no-remote-check"]);
        assert!(
            !resolve(&g, &a, &env_of(&[]), tmp.path())
                .unwrap()
                .git
                .check_remote
        );
    }

    #[test]
    fn config_file_and_flag_override() {
        let tmp = tempfile::tempdir().unwrap();
        std::fs::write(
            tmp.path().join(".berth.yaml"),
            "keep:\n  built_within: 5h\n",
        )
        .unwrap();
        let (g, a) = parse(&["berth", "cleanup", "--repo", "r"]);
        let s = resolve(&g, &a, &env_of(&[]), tmp.path()).unwrap();
        assert_eq!(s.config.built_within, Duration::from_secs(5 * 3600));
        assert!(s.config_file.is_some());
        let (g, a) = parse(&[
            "berth",
            "cleanup",
            "--repo",
            "r",
            "--keep-built-within",
            "30m",
        ]);
        let s = resolve(&g, &a, &env_of(&[]), tmp.path()).unwrap();
        assert_eq!(s.config.built_within, Duration::from_secs(1800));
    }

    #[test]
    fn bad_inputs_name_the_fix() {
        let tmp = tempfile::tempdir().unwrap();
        let (g, a) = parse(&["berth", "cleanup"]);
        let e = resolve(&g, &a, &env_of(&[]), tmp.path()).unwrap_err();
        assert!(e.to_string().contains("--repo"), "{e}");
        let (g, a) = parse(&[
            "berth",
            "cleanup",
            "--repo",
            "r",
            "--max-delete-ratio",
            "1.5",
        ]);
        let e = resolve(&g, &a, &env_of(&[]), tmp.path()).unwrap_err();
        assert!(matches!(e, Error::Ratio(_)));
        let (g, a) = parse(&[
            "berth",
            "cleanup",
            "--repo",
            "r",
            "--keep-built-within",
            "soon",
        ]);
        assert!(resolve(&g, &a, &env_of(&[]), tmp.path()).is_err());
        let (g, a) = parse(&["berth", "cleanup", "--apply", "plan.json"]);
        let s = resolve(&g, &a, &env_of(&[]), tmp.path()).unwrap();
        assert_eq!(s.mode, RunMode::Apply(PathBuf::from("plan.json")));
        std::fs::write(tmp.path().join("berth.yaml"), "keep: [").unwrap();
        let (g, a) = parse(&["berth", "cleanup", "--repo", "r"]);
        let e = resolve(&g, &a, &env_of(&[]), tmp.path()).unwrap_err();
        assert!(e.to_string().contains("berth.yaml"), "{e}");
    }
}
