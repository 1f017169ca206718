//! `berth cleanup` flags + environment + `berth.yaml` → [`CleanupSettings`].
//!
//! Precedence: flag > env (clap's `env` twins) > file > default. The config file is
//! `--config FILE`, else `berth.yaml` or `.berth.yaml` in the working directory, else in
//! `--git-dir`; with none, the defaults of DESIGN §3 apply. `--fetch` defaults to on in every
//! CI berth detects ([`in_ci`]): CI clones are often shallow or single-branch, and Jenkins,
//! for one, sets `JENKINS_URL` but not `CI`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::ci::{self, CiKind, Env};
pub use crate::cleanup::plan::DEFAULT_MAX_DELETE_RATIO;
use crate::cli::{CleanupArgs, GlobalArgs, OutputFormat};
use crate::env_vars;
use crate::git::GitOptions;
use crate::policy::{self, CleanupConfig};
use crate::registry::RegistryOptions;
use crate::registry::detect::detect;
use crate::registry::naming;
use crate::registry::reference::Reference;
use crate::registry::repo_mode::split_repo;
use crate::report::cleanup::Format;
use crate::report::progress::ProgressMode;

/// Settings that cannot be used; the message names the input and the fix.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// No repository to clean.
    #[error(
        "no repository to clean: pass --repo REPO (repeatable), set BERTH_REPO, or run \
         `berth ci-env` first, which exports it (or discover them: --all-repos, --repo-prefix)"
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
    /// `--all-repos` without a host or namespace to discover under.
    #[error(
        "--all-repos discovers the repositories under each --repo value, and none was given: \
         pass --repo HOST or --repo HOST/NAMESPACE (e.g. `127.0.0.1:5000` or `ghcr.io/acme`), \
         or set BERTH_REPO"
    )]
    NoRoot,
    /// An `oci:` layout given as a place to discover repositories in.
    #[error(
        "{flag} {root}: an oci: layout is one repository and cannot be discovered; pass it as \
         --repo without --all-repos or --repo-prefix"
    )]
    OciRoot {
        /// `--repo` (with `--all-repos`) or `--repo-prefix`.
        flag: &'static str,
        /// As given.
        root: String,
    },
    /// A discovery root that is not `host` or `host/namespace`.
    #[error(
        "{flag} {root} is not a registry host or namespace: {why}; pass e.g. `127.0.0.1:5000` \
         or `ghcr.io/acme`"
    )]
    BadRoot {
        /// `--repo` (with `--all-repos`) or `--repo-prefix`.
        flag: &'static str,
        /// As given.
        root: String,
        /// What is wrong with it.
        why: String,
    },
    /// `--shard` that is not `I/N` with `1 <= I <= N`.
    #[error(
        "--shard `{input}` {why}: pass I/N with I from 1 to N, e.g. --shard 1/4 (in GitLab's \
         `parallel:` jobs, --shard \"$CI_NODE_INDEX/$CI_NODE_TOTAL\")"
    )]
    Shard {
        /// As given (flag or BERTH_SHARD).
        input: String,
        /// What is wrong with it.
        why: &'static str,
    },
    /// `images:` that name no image under a `--repo`.
    #[error("--repo {repo} with the images of {config}: {cause}")]
    Naming {
        /// As given.
        repo: String,
        /// The config file (`berth.yaml`).
        config: String,
        /// What is wrong with the combination (in the message, not a `source()`, so that a
        /// printed chain says it once).
        cause: Box<naming::Error>,
    },
    /// `--repo` together with `--apply` (the plan names its repositories).
    #[error(
        "--apply FILE takes the repositories from the plan; drop --repo (or BERTH_REPO) or \
         make a new plan"
    )]
    RepoWithApply,
}

/// Monorepo repositories and the tag prefixes of their images.
pub type ImagePrefixes = BTreeMap<String, Vec<String>>;

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

/// A place `--all-repos` or `--repo-prefix` discovers repositories in: a registry host and a
/// namespace under it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Root {
    /// The flag it came from, for messages: `--repo` (with `--all-repos`) or `--repo-prefix`.
    pub flag: &'static str,
    /// The registry host as a reference names it (`127.0.0.1:5000`, `ghcr.io`).
    pub host: String,
    /// The namespace (`acme/team`), or empty for every repository of the host.
    pub path: String,
}

impl Root {
    /// `host` or `host/namespace`; a tag, a digest, a missing host or an `oci:` layout is an
    /// error that names `flag`.
    fn parse(flag: &'static str, text: &str) -> Result<Root, Error> {
        let root = text.trim_end_matches('/');
        if root.starts_with("oci:") {
            return Err(Error::OciRoot {
                flag,
                root: text.to_string(),
            });
        }
        let bad = |why: String| Error::BadRoot {
            flag,
            root: text.to_string(),
            why,
        };
        let (host, path) = root.split_once('/').unwrap_or((root, ""));
        if !(host.contains(['.', ':']) || host == "localhost") {
            return Err(bad(format!(
                "`{host}` is no registry host (for Docker Hub write `docker.io/{root}`)"
            )));
        }
        // A bare host is not a reference; a probe repository under it checks the host part.
        let probe = if path.is_empty() {
            format!("{root}/probe")
        } else {
            root.to_string()
        };
        let reference = Reference::parse(&probe).map_err(|e| bad(e.to_string()))?;
        if reference.tag().is_some() || reference.digest().is_some() {
            return Err(bad("it names a tag or digest".into()));
        }
        Ok(Root {
            flag,
            host: reference.registry().to_string(),
            path: if path.is_empty() {
                String::new()
            } else {
                reference.repository().to_string()
            },
        })
    }

    /// Whether the repository `name` (`host/path`) is this namespace or lies under it, at a
    /// path-component boundary: `host/team` holds `host/team/app`, not `host/teammate`.
    pub fn contains(&self, name: &str) -> bool {
        let Some(path) = name
            .strip_prefix(self.host.as_str())
            .and_then(|rest| rest.strip_prefix('/'))
        else {
            return false;
        };
        self.path.is_empty()
            || path
                .strip_prefix(self.path.as_str())
                .is_some_and(|rest| rest.is_empty() || rest.starts_with('/'))
    }
}

impl std::fmt::Display for Root {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.path.is_empty() {
            f.write_str(&self.host)
        } else {
            write!(f, "{}/{}", self.host, self.path)
        }
    }
}

/// `--shard I/N`: share I (1-based, as GitLab's `CI_NODE_INDEX`) of N.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shard {
    /// 1 to `total`.
    pub index: u32,
    /// How many shards there are.
    pub total: u32,
}

impl Shard {
    /// Parses `I/N`; anything else names the input.
    pub fn parse(text: &str) -> Result<Shard, Error> {
        let bad = |why| Error::Shard {
            input: text.to_string(),
            why,
        };
        let (i, n) = text
            .trim()
            .split_once('/')
            .ok_or_else(|| bad("is not of the form I/N"))?;
        let index: u32 = i
            .trim()
            .parse()
            .map_err(|_| bad("has no number before the /"))?;
        let total: u32 = n
            .trim()
            .parse()
            .map_err(|_| bad("has no number after the /"))?;
        if total == 0 {
            return Err(bad("has zero shards"));
        }
        if index == 0 || index > total {
            return Err(bad("has a shard number outside 1 to N"));
        }
        Ok(Shard { index, total })
    }

    /// The shard (1-based) `name` falls in among `total`: the first 8 bytes of the SHA-256 of
    /// the name, mod `total`. It depends on the name alone, so a repository stays in its shard
    /// when others are added or removed, and every job of a matrix agrees without talking.
    pub fn of(name: &str, total: u32) -> u32 {
        use sha2::Digest as _;
        let hash = sha2::Sha256::digest(name.as_bytes());
        let head = u64::from_be_bytes(hash[..8].try_into().expect("a SHA-256 has 32 bytes"));
        (head % u64::from(total)) as u32 + 1
    }

    /// Whether the repository `name` is in this shard.
    pub fn contains(&self, name: &str) -> bool {
        Shard::of(name, self.total) == self.index
    }
}

impl std::fmt::Display for Shard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.index, self.total)
    }
}

/// Everything `berth cleanup` needs, validated.
#[derive(Debug, Clone)]
pub struct CleanupSettings {
    /// Repositories listed (`host/path` or `oci:PATH`); empty with `--apply` and with
    /// `--all-repos`, whose `--repo` values are [`Self::discover`] roots instead.
    pub repos: Vec<String>,
    /// Monorepo repositories (as in [`Self::repos`]) and the tag prefixes of the images they
    /// hold (`frontend-`; empty for the unnamed image), from `images:` and `repo_mode:`.
    /// A repository not listed holds one image.
    pub image_prefixes: ImagePrefixes,
    /// Where repositories are discovered (`--all-repos`, `--repo-prefix`); empty: nowhere.
    pub discover: Vec<Root>,
    /// `--shard I/N`: only the repositories of this share are cleaned.
    pub shard: Option<Shard>,
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
    let given: Vec<String> = args
        .repos
        .iter()
        .map(|r| r.trim().to_string())
        .filter(|r| !r.is_empty())
        .collect();
    let (repos, mut discover) = if args.all_repos {
        if given.is_empty() {
            return Err(Error::NoRoot);
        }
        let roots = given
            .iter()
            .map(|r| Root::parse("--repo", r))
            .collect::<Result<Vec<_>, _>>()?;
        (Vec::new(), roots)
    } else {
        (given, Vec::new())
    };
    for prefix in args.repo_prefixes.iter().map(|p| p.trim()) {
        if !prefix.is_empty() {
            discover.push(Root::parse("--repo-prefix", prefix)?);
        }
    }
    let mut seen = std::collections::HashSet::new();
    discover.retain(|root| seen.insert(root.to_string()));
    let shard = args.shard.as_deref().map(Shard::parse).transpose()?;
    // Names first: a REPO of `images:` may be a bare registry host, which reads as a tag.
    let (mut config, config_file) = load_config(global, args, cwd)?;
    let registry = super::registry_options(global, env);
    let (repos, image_prefixes) = name_images(repos, &config, config_file.as_deref(), &registry)?;
    for repo in repos.iter().filter(|r| !r.starts_with("oci:")) {
        if let Ok(reference) = Reference::parse(repo) {
            if reference.tag().is_some() || reference.digest().is_some() {
                return Err(Error::RepoWithTag {
                    repo: repo.clone(),
                    bare: format!("{}/{}", reference.registry(), reference.repository()),
                });
            }
        }
    }
    match (&mode, repos.is_empty() && discover.is_empty()) {
        (RunMode::Apply(_), false) => return Err(Error::RepoWithApply),
        (RunMode::Apply(_), true) => {}
        (_, true) => return Err(Error::NoRepo),
        (_, false) => {}
    }
    let ratio = args.max_delete_ratio.unwrap_or(DEFAULT_MAX_DELETE_RATIO);
    if !(0.0..=1.0).contains(&ratio) {
        return Err(Error::Ratio(ratio));
    }
    if let Some(text) = &args.keep_built_within {
        let d = policy::parse_duration(text).map_err(Error::Duration)?;
        config = config.with_built_within(d);
    }
    let in_ci = in_ci(env);
    let cache_dir = super::cache_dir(env);
    Ok(CleanupSettings {
        repos,
        image_prefixes,
        discover,
        shard,
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

/// The repositories of `images:` under each listed REPO: multirepo, one per image
/// (`REPO/IMAGE`, the unnamed image REPO itself); monorepo, REPO with the images' tag
/// prefixes. Without `images:` (and for `oci:` layouts) every REPO is one image.
fn name_images(
    repos: Vec<String>,
    config: &CleanupConfig,
    config_file: Option<&Path>,
    registry: &RegistryOptions,
) -> Result<(Vec<String>, ImagePrefixes), Error> {
    if config.images.is_empty() {
        return Ok((repos, BTreeMap::new()));
    }
    let mut named: Vec<String> = Vec::new();
    let mut prefixes = ImagePrefixes::new();
    for repo in repos {
        if repo.starts_with("oci:") {
            named.push(repo);
            continue;
        }
        let (host, _) = split_repo(&repo);
        let kind = detect(
            host,
            registry.providers.container_registry,
            &registry.providers.ci,
        )
        .kind;
        let mode = naming::mode_for(&repo, kind, config.repo_mode);
        for image in &config.images {
            let name =
                naming::final_name(&repo, image, mode, kind).map_err(|cause| Error::Naming {
                    repo: repo.clone(),
                    config: config_file
                        .map_or_else(|| "berth.yaml".to_string(), |p| p.display().to_string()),
                    cause: Box::new(cause),
                })?;
            if !named.contains(&name.repository) {
                named.push(name.repository.clone());
            }
            prefixes
                .entry(name.repository)
                .or_default()
                .push(name.tag_prefix);
        }
    }
    // A repository that holds one image whose tags carry no prefix is a plain repository.
    prefixes.retain(|_, p| p.iter().any(|p| !p.is_empty()));
    Ok((named, prefixes))
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

    #[test]
    fn all_repos_turns_every_repo_into_a_root() {
        let tmp = tempfile::tempdir().unwrap();
        let (g, a) = parse(&[
            "berth",
            "cleanup",
            "--all-repos",
            "--repo",
            "127.0.0.1:5000/",
            "--repo",
            "ghcr.io/acme",
            "--repo-prefix",
            "ghcr.io/acme",
            "--repo-prefix",
            "localhost:5000/team/app",
        ]);
        let s = resolve(&g, &a, &env_of(&[]), tmp.path()).unwrap();
        assert!(s.repos.is_empty());
        let roots: Vec<String> = s.discover.iter().map(ToString::to_string).collect();
        assert_eq!(
            roots,
            ["127.0.0.1:5000", "ghcr.io/acme", "localhost:5000/team/app"]
        );
        assert_eq!(s.discover[0].flag, "--repo");
        assert_eq!(s.discover[2].flag, "--repo-prefix");
        // Without --all-repos the listed repositories stay and the prefixes add roots.
        let (g, a) = parse(&[
            "berth",
            "cleanup",
            "--repo",
            "127.0.0.1:5000/app",
            "--repo-prefix",
            "127.0.0.1:5000/team",
        ]);
        let s = resolve(&g, &a, &env_of(&[]), tmp.path()).unwrap();
        assert_eq!(s.repos, ["127.0.0.1:5000/app"]);
        assert_eq!(s.discover.len(), 1);
        let (g, a) = parse(&["berth", "cleanup", "--repo-prefix", "127.0.0.1:5000/team"]);
        assert!(resolve(&g, &a, &env_of(&[]), tmp.path()).is_ok());
    }

    #[test]
    fn roots_that_cannot_be_discovered_are_usage_errors_naming_them() {
        let tmp = tempfile::tempdir().unwrap();
        let err = |argv: &[&str]| {
            let (g, a) = parse(argv);
            resolve(&g, &a, &env_of(&[]), tmp.path())
                .unwrap_err()
                .to_string()
        };
        let e = err(&["berth", "cleanup", "--all-repos"]);
        assert!(
            e.contains("--all-repos") && e.contains("--repo HOST"),
            "{e}"
        );
        let e = err(&["berth", "cleanup", "--all-repos", "--repo", "oci:/x"]);
        assert!(
            e.contains("--repo oci:/x") && e.contains("cannot be discovered"),
            "{e}"
        );
        let e = err(&["berth", "cleanup", "--repo-prefix", "oci:/x"]);
        assert!(e.contains("--repo-prefix oci:/x"), "{e}");
        let e = err(&["berth", "cleanup", "--all-repos", "--repo", "acme/team"]);
        assert!(
            e.contains("acme/team") && e.contains("docker.io/acme/team"),
            "{e}"
        );
        let e = err(&["berth", "cleanup", "--repo-prefix", "ghcr.io/acme:v1"]);
        assert!(e.contains("ghcr.io/acme:v1") && e.contains("tag"), "{e}");
        let e = err(&["berth", "cleanup", "--repo-prefix", "ghcr.io/Acme"]);
        assert!(e.contains("ghcr.io/Acme"), "{e}");
    }

    #[test]
    fn roots_hold_their_namespace_at_a_component_boundary() {
        let root = |text| Root::parse("--repo-prefix", text).unwrap();
        let team = root("host:5000/team");
        assert!(team.contains("host:5000/team"));
        assert!(team.contains("host:5000/team/app"));
        assert!(team.contains("host:5000/team/a/b"));
        assert!(!team.contains("host:5000/teammate"));
        assert!(!team.contains("host:5000/teammate/app"));
        assert!(!team.contains("other:5000/team/app"));
        assert!(!team.contains("host:50000/team/app"));
        let host = root("host:5000");
        assert!(host.contains("host:5000/anything/at/all"));
        assert!(!host.contains("host:50001/app"));
        assert!(!host.contains("host:5000"));
    }

    #[test]
    fn shards_parse_i_of_n_and_refuse_the_rest() {
        assert_eq!(Shard::parse("2/4").unwrap(), Shard { index: 2, total: 4 });
        assert_eq!(
            Shard::parse(" 1 / 1 ").unwrap(),
            Shard { index: 1, total: 1 }
        );
        for bad in ["0/4", "5/4", "1/0", "x", "1/x", "-1/4", "1/4/2", "", "/4"] {
            let e = Shard::parse(bad).unwrap_err().to_string();
            assert!(e.contains(&format!("--shard `{bad}`")), "{bad}: {e}");
            assert!(e.contains("I/N"), "{e}");
        }
        let tmp = tempfile::tempdir().unwrap();
        let (g, a) = parse(&["berth", "cleanup", "--repo", "r", "--shard", "3/2"]);
        assert!(matches!(
            resolve(&g, &a, &env_of(&[]), tmp.path()),
            Err(Error::Shard { .. })
        ));
        // GitLab's parallel variables never pick a shard on their own.
        let (g, a) = parse(&["berth", "cleanup", "--repo", "r"]);
        let s = resolve(
            &g,
            &a,
            &env_of(&[("CI_NODE_INDEX", "2"), ("CI_NODE_TOTAL", "4")]),
            tmp.path(),
        )
        .unwrap();
        assert_eq!(s.shard, None);
    }

    #[test]
    fn a_shard_depends_on_the_name_alone() {
        // Fixed values (the first 8 bytes of SHA-256, big-endian, mod N, plus one): a change
        // of hash would move repositories between the jobs of running CI matrices.
        for (name, of4, of7) in [
            ("ghcr.io/acme/app", 3, 1),
            ("ghcr.io/acme/api", 4, 3),
            ("127.0.0.1:5000/team/web", 1, 6),
            ("registry.example.com/a/b", 2, 6),
        ] {
            assert_eq!(Shard::of(name, 4), of4, "{name}");
            assert_eq!(Shard::of(name, 7), of7, "{name}");
            assert_eq!(Shard::of(name, 1), 1);
        }
        assert!(Shard { index: 3, total: 4 }.contains("ghcr.io/acme/app"));
        assert!(!Shard { index: 1, total: 4 }.contains("ghcr.io/acme/app"));
    }

    proptest::proptest! {
        #[test]
        fn shards_partition_every_set(
            names in proptest::collection::btree_set("[a-z0-9]{1,12}(/[a-z0-9]{1,8}){0,2}", 0..60),
            total in 1u32..9,
        ) {
            let names: Vec<String> = names.into_iter().map(|n| format!("host:5000/{n}")).collect();
            let mut taken = Vec::new();
            for index in 1..=total {
                let shard = Shard { index, total };
                taken.extend(names.iter().filter(|n| shard.contains(n)).cloned());
            }
            taken.sort();
            // Every name in exactly one shard: the union is the set, with no repeats.
            proptest::prop_assert_eq!(&taken, &names);
        }
    }
}
