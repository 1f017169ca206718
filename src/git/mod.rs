//! Git adapter: opens the repository, reads refs, fetches, detects shallow clones, and walks
//! history once into [`GitFacts`]. gix types never leave this module.
//!
//! Must not import `registry`, `ci`, `cleanup`, `app` or `cli`.
//!
//! Ownership ("dubious ownership", CI containers where the checkout belongs to another uid):
//! without `--trust-repo`, berth still *reads* such a repository, with gix's reduced trust:
//! repository-local configuration is ignored, so nothing it names (programs, hooks, paths)
//! is used, and berth only reads refs and commits, which that configuration cannot change.
//! A debug log says so. `--fetch` runs the git CLI, which refuses such a repository; berth
//! then fails with [`Error::Untrusted`] and the exact fix, or, with `--trust-repo`, passes
//! `-c safe.directory=<path>` to that one git command.

pub mod error;
pub mod facts;
mod fetch;
pub mod history;
mod refs;

use std::path::{Path, PathBuf};

pub use error::Error;
pub use facts::{
    CommitGraph, CommitGraphBuilder, CommitId, GitFacts, GitRef, PrefixMatch, RefKind,
};

use refs::BranchSource;

/// Decoded objects kept per walk, so tag peeling and the fallback path without a
/// commit-graph decode each object once.
const OBJECT_CACHE_BYTES: usize = 4 * 1024 * 1024;

/// How to find and treat the repository.
#[derive(Debug, Clone)]
pub struct GitOptions {
    /// `--git-dir`: the repository (its working directory or its git directory). `None`:
    /// discover upwards from the working directory.
    pub git_dir: Option<PathBuf>,
    /// `--remote`: whose remote-tracking branches are the live branches.
    pub remote: String,
    /// `--trust-repo`: treat a repository owned by another user as trusted.
    pub trust: bool,
}

impl Default for GitOptions {
    fn default() -> Self {
        GitOptions {
            git_dir: None,
            remote: "origin".to_string(),
            trust: false,
        }
    }
}

/// An opened repository. `Send + Sync`: use it from `tokio::task::spawn_blocking`.
///
/// gix's repository handles are not `Send` without its `parallel` feature (which would add
/// threads berth does not need), so this keeps the located git directory and re-opens it per
/// operation; opening a located repository costs well under a millisecond.
pub struct Repo {
    /// The git directory found by [`open`].
    git_dir: PathBuf,
    /// Working directory, or the git directory of a bare repository: where git runs and
    /// what `safe.directory` names.
    dir: PathBuf,
    remote: String,
    trust: bool,
    trusted: bool,
}

impl std::fmt::Debug for Repo {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Repo")
            .field("dir", &self.dir)
            .field("remote", &self.remote)
            .field("trusted", &self.trusted)
            .finish()
    }
}

/// Opens the repository at `options.git_dir`, or discovers it from the working directory.
pub fn open(options: &GitOptions) -> Result<Repo, Error> {
    let start = match &options.git_dir {
        Some(dir) => dir.clone(),
        None => {
            std::env::current_dir().map_err(|e| Error::read(".", "the working directory", e))?
        }
    };
    open_from(options, start)
}

/// [`open`] with `start` as the directory to open (`--git-dir` given) or to discover upwards
/// from (not given).
fn open_from(options: &GitOptions, start: PathBuf) -> Result<Repo, Error> {
    let open_options = open_options(options.trust);
    let repo = match &options.git_dir {
        Some(_) => gix::ThreadSafeRepository::open_opts(&start, open_options),
        None => gix::ThreadSafeRepository::discover_opts(
            &start,
            gix::discover::upwards::Options::default(),
            gix::sec::trust::Mapping {
                full: open_options.clone(),
                reduced: open_options,
            },
        ),
    };
    let repo = match repo {
        Ok(repo) => repo,
        Err(err) if err.is_not_found() => return Err(Error::NotARepository { path: start }),
        Err(err) => return Err(Error::read(start, "the repository", err)),
    };
    let local = repo.to_thread_local();
    let git_dir = local.git_dir().to_path_buf();
    let dir = local
        .workdir()
        .unwrap_or_else(|| local.git_dir())
        .to_path_buf();
    let dir = std::fs::canonicalize(&dir).unwrap_or(dir);
    let trusted = options.trust || local.git_dir_trust() == gix::sec::Trust::Full;
    if !trusted {
        tracing::debug!(
            repo = %dir.display(),
            "repository owned by another user: reading refs and commits only, ignoring its \
             local config (pass --trust-repo to trust it)"
        );
    }
    Ok(Repo {
        git_dir,
        dir,
        remote: options.remote.clone(),
        trust: options.trust,
        trusted,
    })
}

/// `remote` is configured, or remote-tracking refs of it exist.
fn has_remote(repo: &gix::Repository, remote: &str) -> bool {
    if repo.find_remote(remote).is_ok() {
        return true;
    }
    let prefix = format!("refs/remotes/{remote}/");
    repo.references()
        .ok()
        .and_then(|platform| {
            platform
                .prefixed(prefix.as_str())
                .ok()
                .map(|mut iter| iter.next().is_some())
        })
        .unwrap_or(false)
}

/// The gix options for `trust`.
fn open_options(trust: bool) -> gix::open::Options {
    let options = gix::open::Options::default();
    if !trust {
        return options;
    }
    // Full trust: repository config is read as if the current user owned it. gix checks the
    // worktree's owner against `safe.directory` after opening too; the wildcard, given for
    // this process only, is what `--trust-repo` asks for.
    options
        .with(gix::sec::Trust::Full)
        .cli_overrides(["safe.directory=*"])
}

impl Repo {
    /// A fresh gix handle on the located repository.
    fn handle(&self) -> Result<gix::Repository, Error> {
        gix::open_opts(&self.git_dir, open_options(self.trust))
            .map_err(|e| Error::read(&self.git_dir, "the repository", e))
    }

    /// The working directory (or the git directory of a bare repository).
    pub fn path(&self) -> &Path {
        &self.dir
    }

    /// The clone is shallow (a `shallow` file lists boundary commits).
    pub fn is_shallow(&self) -> bool {
        self.handle()
            .ok()
            .and_then(|repo| repo.is_shallow().ok())
            .unwrap_or(false)
    }

    /// [`Error::Shallow`] with the fix when the clone is shallow; call it after a fetch that
    /// could not (or was not asked to) complete the history.
    pub fn require_complete(&self) -> Result<(), Error> {
        if self.is_shallow() {
            return Err(Error::shallow(self.dir.clone()));
        }
        Ok(())
    }

    /// The remote is configured, or remote-tracking refs of it exist (a repository of another
    /// owner is read without its config, so the refs are the evidence then).
    pub fn has_remote(&self) -> bool {
        self.handle()
            .is_ok_and(|repo| has_remote(&repo, &self.remote))
    }

    /// `git fetch --prune --prune-tags [--unshallow] <remote>
    /// +refs/heads/*:refs/remotes/<remote>/* +refs/tags/*:refs/tags/*` through the git CLI
    /// (`--unshallow` when the clone is shallow); git's stderr is in the error on failure.
    pub fn fetch(&self) -> Result<(), Error> {
        if !self.trusted {
            return Err(Error::untrusted(self.dir.clone()));
        }
        fetch::run(&self.dir, &self.remote, self.is_shallow(), self.trust)
    }

    /// The commit HEAD points at, if HEAD is born and points at a commit.
    pub fn head(&self) -> Result<Option<CommitId>, Error> {
        let repo = self.handle()?;
        let head = repo
            .head_id()
            .ok()
            .map(|id| history::commit_id(repo.git_dir(), &id))
            .transpose()?;
        Ok(head)
    }

    /// The live refs and ONE history walk over all their tips, as plain [`GitFacts`]
    /// (`shallow` set when the clone is shallow). Branches are the remote-tracking branches of
    /// the remote, or the local branches when the repository has no such remote.
    pub fn facts(&self) -> Result<GitFacts, Error> {
        let mut repo = self.handle()?;
        repo.object_cache_size_if_unset(OBJECT_CACHE_BYTES);
        let source = if has_remote(&repo, &self.remote) {
            BranchSource::Remote(&self.remote)
        } else {
            tracing::debug!(remote = %self.remote, "no such remote: local branches are the live branches");
            BranchSource::Local
        };
        let raw = refs::read(&repo, source)?;
        let mut tips: Vec<gix::ObjectId> = raw.iter().map(|r| r.tip).collect();
        tips.sort_unstable();
        tips.dedup();
        let commits = history::walk(&repo, &tips)?;
        let mut refs = Vec::with_capacity(raw.len());
        for r in raw {
            let id = history::commit_id(repo.git_dir(), &r.tip)?;
            let Some(tip) = commits.find(&id) else {
                tracing::debug!(name = %r.name, "ref does not point at a commit; skipped");
                continue;
            };
            refs.push(GitRef {
                date: r.tag_date.unwrap_or_else(|| commits.time(tip)),
                name: r.name,
                kind: r.kind,
                tip,
            });
        }
        let shallow = repo.is_shallow().unwrap_or(false);
        tracing::debug!(
            refs = refs.len(),
            commits = commits.len(),
            shallow,
            "git facts read"
        );
        Ok(GitFacts {
            refs,
            commits,
            shallow,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn git(dir: &Path, args: &[&str]) {
        let status = std::process::Command::new("git")
            .args(args)
            .current_dir(dir)
            .env("GIT_CONFIG_GLOBAL", "/dev/null")
            .env("GIT_CONFIG_NOSYSTEM", "1")
            .status()
            .expect("run git");
        assert!(status.success(), "git {args:?}");
    }

    #[test]
    fn discovers_the_repository_from_a_subdirectory() {
        let tmp = tempfile::tempdir().unwrap();
        git(tmp.path(), &["init", "-q", "-b", "main"]);
        let sub = tmp.path().join("a/b");
        std::fs::create_dir_all(&sub).unwrap();
        let repo = open_from(&GitOptions::default(), sub.clone()).unwrap();
        assert_eq!(repo.path(), std::fs::canonicalize(tmp.path()).unwrap());
        // `--git-dir` is taken as given: a subdirectory of a worktree is no repository.
        let exact = GitOptions {
            git_dir: Some(sub.clone()),
            ..GitOptions::default()
        };
        let err = open_from(&exact, sub.clone()).unwrap_err();
        assert!(
            matches!(err, Error::NotARepository { ref path } if *path == sub),
            "{err:?}"
        );
        // An unborn repository has no refs and no commits, and no error.
        let facts = repo.facts().unwrap();
        assert!(facts.refs.is_empty() && facts.commits.is_empty());
        assert_eq!(repo.head().unwrap(), None);
    }

    #[test]
    fn discovery_outside_any_repository_says_where_it_looked() {
        let tmp = tempfile::tempdir().unwrap();
        let err = open_from(&GitOptions::default(), tmp.path().to_path_buf()).unwrap_err();
        assert!(matches!(err, Error::NotARepository { .. }), "{err:?}");
        assert!(err.to_string().contains(&tmp.path().display().to_string()));
    }
}
