//! Git adapter: opens the repository, checks it against its remote, fetches, reads refs, and
//! walks history once into [`GitFacts`]. gix types never leave this module.
//!
//! Completeness ([`Repo::ensure_complete`], DESIGN §2): a missing branch or tag deletes the
//! images it needs, so before anything is judged the refs berth reads are compared with the
//! remote's (`git ls-remote`, one round trip); a clone that differs is fetched or refused.
//! The branches are the remote-tracking branches of `--remote` in a clone, `refs/heads/*` in
//! a bare or mirror clone (which has no remote-tracking refs), and the local branches of a
//! repository without that remote, which is judged as it is.
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
mod remote;

use std::path::{Path, PathBuf};

pub use error::Error;
pub use facts::{
    CommitGraph, CommitGraphBuilder, CommitId, Completeness, GitFacts, GitRef, PrefixMatch,
    RefKind, RemoteState,
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
    /// Compare the refs with the remote's before judging (off: `--no-remote-check`).
    pub check_remote: bool,
}

impl Default for GitOptions {
    fn default() -> Self {
        GitOptions {
            git_dir: None,
            remote: "origin".to_string(),
            trust: false,
            check_remote: true,
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
    check_remote: bool,
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
        check_remote: options.check_remote,
    })
}

/// `remote` is configured, or remote-tracking refs of it exist.
fn has_remote(repo: &gix::Repository, remote: &str) -> bool {
    repo.find_remote(remote).is_ok() || has_tracking_refs(repo, remote)
}

/// Some `refs/remotes/<remote>/*` exists.
fn has_tracking_refs(repo: &gix::Repository, remote: &str) -> bool {
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

/// Where the live branches of a repository are.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Layout {
    /// A clone of the remote: its remote-tracking branches.
    Tracking,
    /// A bare or mirror clone of the remote: `refs/heads/*` are the remote's branches.
    Mirror,
    /// No such remote: the local branches, judged as they are.
    Local,
}

impl Layout {
    fn of(repo: &gix::Repository, remote: &str) -> Layout {
        if !has_remote(repo, remote) {
            return Layout::Local;
        }
        let mirror = repo.find_remote(remote).is_ok_and(|r| {
            let key = format!("remote.{remote}.mirror");
            repo.config_snapshot().boolean(key.as_str()) == Some(true)
                || r.refspecs(gix::remote::Direction::Fetch)
                    .iter()
                    .any(|spec| spec.to_ref().to_bstring() == "+refs/*:refs/*")
        });
        // `git clone --bare` configures no fetch refspec at all, and a repository of another
        // owner is read without its config: a bare repository without remote-tracking refs
        // keeps the remote's branches as its own.
        if mirror || (repo.is_bare() && !has_tracking_refs(repo, remote)) {
            Layout::Mirror
        } else {
            Layout::Tracking
        }
    }

    fn source(self, remote: &str) -> BranchSource<'_> {
        match self {
            Layout::Tracking => BranchSource::Remote(remote),
            Layout::Mirror | Layout::Local => BranchSource::Local,
        }
    }
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
    /// (`--unshallow` when the clone is shallow; branches into `refs/heads/*` in a bare or
    /// mirror clone); git's stderr is in the error on failure.
    pub fn fetch(&self) -> Result<(), Error> {
        let layout = Layout::of(&self.handle()?, &self.remote);
        self.fetch_spec(&self.spec(layout, Vec::new()))
    }

    fn spec(&self, layout: Layout, reviews: Vec<&'static str>) -> fetch::FetchSpec<'_> {
        fetch::FetchSpec {
            remote: &self.remote,
            unshallow: self.is_shallow(),
            into_heads: layout == Layout::Mirror,
            reviews,
        }
    }

    fn fetch_spec(&self, spec: &fetch::FetchSpec<'_>) -> Result<(), Error> {
        if !self.trusted {
            return Err(Error::untrusted(self.dir.clone()));
        }
        fetch::run(&self.dir, spec, self.trust)
    }

    /// Makes sure the clone has the remote's whole truth before anything is judged: lists the
    /// remote's refs (`git ls-remote`), and when the branches or tags differ, or the clone is
    /// shallow, fetches (`fetch`: heads, tags, and the pull/merge request heads the remote
    /// has) and compares again, or refuses with [`Error::Incomplete`] / [`Error::Shallow`]
    /// and the command that fixes it. Missing pull request heads refuse nothing: they come
    /// back as `pull_refs_complete: false`. Without the remote, or with the check off
    /// ([`GitOptions::check_remote`]), the clone is taken as it is (a shallow one is still
    /// refused).
    pub fn ensure_complete(&self, fetch: bool) -> Result<Completeness, Error> {
        let repo = self.handle()?;
        let layout = Layout::of(&repo, &self.remote);
        if layout == Layout::Local {
            tracing::info!(
                remote = %self.remote,
                "no such remote: judging the local branches and tags as they are"
            );
            self.require_complete()?;
            return Ok(Completeness {
                remote: RemoteState::NoRemote,
                pull_refs_complete: true,
            });
        }
        let name = self.remote.clone();
        if !self.check_remote {
            tracing::warn!(
                remote = %name,
                "--no-remote-check: judging the clone without comparing it with its remote"
            );
            if fetch {
                self.fetch()?;
            }
            self.require_complete()?;
            return Ok(Completeness {
                remote: RemoteState::Unchecked { name },
                pull_refs_complete: false,
            });
        }
        if !self.trusted {
            return Err(Error::untrusted(self.dir.clone()));
        }
        let url = repo
            .find_remote(name.as_str())
            .ok()
            .and_then(|r| r.url(gix::remote::Direction::Fetch).map(|u| u.to_bstring()))
            .map_or_else(
                || "no URL configured".to_string(),
                |u| remote::mask_userinfo(&u.to_string()),
            );
        let listing = fetch::ls_remote(&self.dir, &name, &url, self.trust)?;
        let mut comparison =
            remote::compare(&refs::read_ids(&repo, layout.source(&name))?, &listing);
        let spec = self.spec(layout, listing.review_namespaces());
        let settled = comparison.differences.is_empty() && !spec.unshallow;
        let fetched = fetch && !(settled && comparison.reviews_complete);
        if fetched {
            self.fetch_spec(&spec)?;
            // Listed again: pushes that landed between the first listing and the fetch are
            // in the clone now, and would read as differences against the old listing.
            let listing = fetch::ls_remote(&self.dir, &name, &url, self.trust)?;
            comparison = remote::compare(
                &refs::read_ids(&self.handle()?, layout.source(&name))?,
                &listing,
            );
        }
        if !comparison.differences.is_empty() {
            let command = fetch::shown(&fetch::fetch_args(&spec));
            return Err(Error::incomplete(
                self.dir.clone(),
                &name,
                &comparison.differences,
                &command,
                fetched,
            ));
        }
        self.require_complete()?;
        tracing::debug!(
            remote = %name,
            fetched,
            pull_refs_complete = comparison.reviews_complete,
            "the clone has every branch and tag of the remote"
        );
        Ok(Completeness {
            remote: RemoteState::Verified { name, url, fetched },
            pull_refs_complete: comparison.reviews_complete,
        })
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
    /// the remote, `refs/heads/*` of a bare or mirror clone, or the local branches when the
    /// repository has no such remote. Nothing is compared with the remote here: `remote` is
    /// [`RemoteState::Unchecked`] (or `NoRemote`) until [`GitFacts::with_completeness`].
    pub fn facts(&self) -> Result<GitFacts, Error> {
        self.facts_with(&[])
    }

    /// [`Repo::facts`], the walk also starting from `extra_tips`: commits no ref names, such as
    /// the heads of open pull requests the forge reports, which a clone may have without any
    /// ref. Tips missing from the object database are skipped (debug log).
    pub fn facts_with(&self, extra_tips: &[CommitId]) -> Result<GitFacts, Error> {
        let mut repo = self.handle()?;
        repo.object_cache_size_if_unset(OBJECT_CACHE_BYTES);
        let layout = Layout::of(&repo, &self.remote);
        if layout == Layout::Local {
            tracing::debug!(remote = %self.remote, "no such remote: local branches are the live branches");
        }
        let raw = refs::read(&repo, layout.source(&self.remote))?;
        let mut tips: Vec<gix::ObjectId> = raw.iter().map(|r| r.tip).collect();
        tips.extend(
            extra_tips
                .iter()
                .map(|id| gix::ObjectId::from_bytes_or_panic(&id.0)),
        );
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
        let (remote, pull_refs_complete) = match layout {
            Layout::Local => (RemoteState::NoRemote, true),
            Layout::Tracking | Layout::Mirror => (
                RemoteState::Unchecked {
                    name: self.remote.clone(),
                },
                false,
            ),
        };
        Ok(GitFacts {
            refs,
            commits,
            shallow,
            remote,
            pull_refs_complete,
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
