//! Git fixture repositories made with the git CLI, with fixed dates, so commit ids and times
//! are the same on every run.
//!
//! A [`Fixture`] is a temp dir holding a bare `origin` and an `author` working repository
//! whose `origin` remote is that bare repository. Commits are made in `author` (each one a
//! clock tick later, see [`BASE_TIME`] and [`TICK`]) and pushed to `origin` explicitly; the
//! repositories berth reads are clones of `origin`:
//!
//! ```ignore
//! let f = Fixture::new();
//! let c1 = f.commit("main", "first");            // creates main
//! f.branch("feature/x", "main");                 // new branch at main's tip
//! let c2 = f.commit("feature/x", "work");
//! f.annotated_tag("v1.0.0", &c1, "release");      // tag objects get a tick of their own
//! f.push_all();                                   // all branches and tags to origin
//! let ci = f.clone_ci();                          // remote-tracking refs only, detached HEAD
//! f.delete_remote_branch("feature/x");           // gone on origin; `ci` still has it until a fetch
//! let shallow = f.clone_shallow();                // `git clone --depth 1 file://…`
//! ```
//!
//! Every git command runs with an isolated configuration (no global or system config), a
//! fixed identity and `main` as the default branch; a failing command panics with git's
//! stderr.
#![allow(dead_code)]

use std::cell::Cell;
use std::path::{Path, PathBuf};
use std::process::Command;

/// Unix seconds of tick 0: 2023-11-14T22:13:20Z.
pub const BASE_TIME: i64 = 1_700_000_000;
/// Seconds between two ticks of the fixture clock.
pub const TICK: i64 = 3_600;

/// A bare `origin`, an `author` working repository, and the clones made from them.
pub struct Fixture {
    dir: tempfile::TempDir,
    origin: PathBuf,
    author: PathBuf,
    ticks: Cell<i64>,
    clones: Cell<u32>,
}

impl Default for Fixture {
    fn default() -> Self {
        Fixture::new()
    }
}

impl Fixture {
    /// An empty bare `origin` and an empty `author` repository with `origin` as its remote.
    pub fn new() -> Fixture {
        let dir = tempfile::tempdir().expect("temp dir");
        let origin = dir.path().join("origin.git");
        let author = dir.path().join("author");
        let f = Fixture {
            origin,
            author,
            dir,
            ticks: Cell::new(0),
            clones: Cell::new(0),
        };
        git(
            f.dir.path(),
            &["init", "--bare", "-q", "-b", "main", "origin.git"],
        );
        git(f.dir.path(), &["init", "-q", "-b", "main", "author"]);
        f.git(&["remote", "add", "origin", &f.origin.display().to_string()]);
        f
    }

    /// The temp dir everything lives in.
    pub fn root(&self) -> &Path {
        self.dir.path()
    }

    /// The bare `origin` repository.
    pub fn origin(&self) -> &Path {
        &self.origin
    }

    /// The `author` working repository (local branches, `origin` remote).
    pub fn author(&self) -> &Path {
        &self.author
    }

    /// The time of the latest tick (unix seconds); `BASE_TIME` before the first commit.
    pub fn now(&self) -> i64 {
        BASE_TIME + self.ticks.get() * TICK
    }

    /// Advances the clock one tick and returns the new time.
    pub fn tick(&self) -> i64 {
        self.ticks.set(self.ticks.get() + 1);
        self.now()
    }

    /// Runs git in `author` and returns its trimmed stdout.
    pub fn git(&self, args: &[&str]) -> String {
        git(&self.author, args)
    }

    /// Runs git in `dir` with the fixture clock's current time as author and committer date.
    pub fn git_at(&self, dir: &Path, args: &[&str]) -> String {
        git_dated(dir, args, self.now())
    }

    /// The commit id `rev` names in `author`.
    pub fn rev(&self, rev: &str) -> String {
        self.git(&["rev-parse", &format!("{rev}^{{commit}}")])
    }

    /// One commit on `branch` (one tick later), which changes the file `<branch>.txt`.
    /// `branch` is created from `main` when missing (or as the first branch of an empty
    /// repository). Returns the commit id.
    pub fn commit(&self, branch: &str, message: &str) -> String {
        self.checkout(branch);
        let file = format!("{}.txt", branch.replace('/', "_"));
        let path = self.author.join(&file);
        let mut text = std::fs::read_to_string(&path).unwrap_or_default();
        text.push_str(message);
        text.push('\n');
        std::fs::write(&path, text).expect("write fixture file");
        self.git(&["add", &file]);
        self.tick();
        self.git_at(&self.author, &["commit", "-q", "-m", message]);
        self.rev("HEAD")
    }

    /// One empty commit on `branch` (created from `main` when missing), dated `hours` before the
    /// real now, so the default keep policies (`in: 168h`) judge it as a live project's.
    pub fn commit_ago(&self, branch: &str, message: &str, hours: i64) -> String {
        self.checkout(branch);
        let at = (chrono::Utc::now() - chrono::Duration::hours(hours)).timestamp();
        git_dated(
            &self.author,
            &["commit", "-q", "--allow-empty", "-m", message],
            at,
        );
        self.rev("HEAD")
    }

    /// A new branch `name` at `from` (a branch or commit id).
    pub fn branch(&self, name: &str, from: &str) {
        self.git(&["branch", name, from]);
    }

    /// A merge commit of `from` into `into` (always a merge commit, `--no-ff`). Returns its id.
    pub fn merge(&self, into: &str, from: &str, message: &str) -> String {
        self.checkout(into);
        self.tick();
        self.git_at(
            &self.author,
            &["merge", "-q", "--no-ff", "-m", message, from],
        );
        self.rev("HEAD")
    }

    /// A lightweight tag `name` at `target`.
    pub fn tag(&self, name: &str, target: &str) {
        self.git(&["tag", name, target]);
    }

    /// An annotated tag `name` at `target`, its tagger date one tick later. Returns that date.
    pub fn annotated_tag(&self, name: &str, target: &str, message: &str) -> i64 {
        let at = self.tick();
        self.git_at(&self.author, &["tag", "-a", name, "-m", message, target]);
        at
    }

    /// Pushes `branch` to origin.
    pub fn push(&self, branch: &str) {
        self.git(&[
            "push",
            "-q",
            "origin",
            &format!("refs/heads/{branch}:refs/heads/{branch}"),
        ]);
    }

    /// Pushes tag `name` to origin.
    pub fn push_tag(&self, name: &str) {
        self.git(&[
            "push",
            "-q",
            "origin",
            &format!("refs/tags/{name}:refs/tags/{name}"),
        ]);
    }

    /// Pushes every branch and tag to origin (forced, so rewritten branches go too).
    pub fn push_all(&self) {
        self.git(&[
            "push",
            "-q",
            "-f",
            "origin",
            "refs/heads/*:refs/heads/*",
            "refs/tags/*:refs/tags/*",
        ]);
    }

    /// Deletes `branch` on origin (and in `author`, unless it is checked out there).
    pub fn delete_remote_branch(&self, branch: &str) {
        self.git(&["push", "-q", "origin", "--delete", branch]);
        if self.git(&["branch", "--show-current"]) != branch {
            self.git(&["branch", "-q", "-D", branch]);
        }
    }

    /// Deletes tag `name` on origin and in `author`.
    pub fn delete_remote_tag(&self, name: &str) {
        self.git(&[
            "push",
            "-q",
            "origin",
            "--delete",
            &format!("refs/tags/{name}"),
        ]);
        self.git(&["tag", "-d", name]);
    }

    /// Rewrites `branch`: resets it to its parent, commits `message` instead of its tip and
    /// force-pushes. The old tip is then reachable from nothing on origin. Returns the new tip.
    pub fn force_push(&self, branch: &str, message: &str) -> String {
        self.checkout(branch);
        self.git(&["reset", "-q", "--hard", "HEAD~1"]);
        let id = self.commit(branch, message);
        self.git(&[
            "push",
            "-q",
            "-f",
            "origin",
            &format!("refs/heads/{branch}:refs/heads/{branch}"),
        ]);
        id
    }

    /// Creates `refs/pull/<n>/head` on origin at `commit` (as GitHub does for a pull request).
    pub fn pull_request(&self, n: u64, commit: &str) {
        git(
            &self.origin,
            &["update-ref", &format!("refs/pull/{n}/head"), commit],
        );
    }

    /// Creates `refs/merge-requests/<n>/head` on origin at `commit` (as GitLab does).
    pub fn merge_request(&self, n: u64, commit: &str) {
        git(
            &self.origin,
            &[
                "update-ref",
                &format!("refs/merge-requests/{n}/head"),
                commit,
            ],
        );
    }

    /// A plain `git clone` of origin: local `main`, remote-tracking branches, tags.
    pub fn clone_full(&self) -> PathBuf {
        let dir = self.next_clone_dir("full");
        git(
            self.root(),
            &[
                "clone",
                "-q",
                &self.origin.display().to_string(),
                &path(&dir),
            ],
        );
        dir
    }

    /// A clone as CI checkouts make them: no local branches, remote-tracking refs of every
    /// branch, all tags, HEAD detached at `origin/main`.
    pub fn clone_ci(&self) -> PathBuf {
        let dir = self.next_clone_dir("ci");
        git(self.root(), &["init", "-q", "-b", "main", &path(&dir)]);
        git(
            &dir,
            &[
                "remote",
                "add",
                "origin",
                &self.origin.display().to_string(),
            ],
        );
        git(
            &dir,
            &[
                "fetch",
                "-q",
                "origin",
                "+refs/heads/*:refs/remotes/origin/*",
                "+refs/tags/*:refs/tags/*",
            ],
        );
        // Detaching leaves `init`'s `main` unborn: no local branch exists, as in CI.
        git(
            &dir,
            &["checkout", "-q", "--detach", "refs/remotes/origin/main"],
        );
        dir
    }

    /// `git clone --depth 1 file://origin`: shallow, only `origin/main` (depth implies a
    /// single branch), HEAD at main's tip.
    pub fn clone_shallow(&self) -> PathBuf {
        let dir = self.next_clone_dir("shallow");
        let url = format!("file://{}", self.origin.display());
        git(
            self.root(),
            &["clone", "-q", "--depth", "1", &url, &path(&dir)],
        );
        dir
    }

    fn next_clone_dir(&self, kind: &str) -> PathBuf {
        self.clones.set(self.clones.get() + 1);
        self.root()
            .join(format!("clone-{kind}-{}", self.clones.get()))
    }

    fn checkout(&self, branch: &str) {
        let exists = Command::new("git")
            .args([
                "rev-parse",
                "--verify",
                "-q",
                &format!("refs/heads/{branch}"),
            ])
            .current_dir(&self.author)
            .envs(isolated_env())
            .output()
            .expect("run git")
            .status
            .success();
        if exists {
            self.git(&["checkout", "-q", branch]);
        } else if self
            .git(&["rev-parse", "--verify", "-q", "HEAD^{commit}"])
            .is_empty()
        {
            // Empty repository: the first commit makes the branch.
            self.git(&["symbolic-ref", "HEAD", &format!("refs/heads/{branch}")]);
        } else {
            self.git(&["checkout", "-q", "-b", branch, "main"]);
        }
    }
}

fn path(p: &Path) -> String {
    p.display().to_string()
}

/// The environment every fixture git command gets: no user or system config, a fixed
/// identity, no pager or prompt.
pub fn isolated_env() -> Vec<(&'static str, String)> {
    vec![
        ("GIT_CONFIG_GLOBAL", "/dev/null".into()),
        ("GIT_CONFIG_NOSYSTEM", "1".into()),
        ("GIT_AUTHOR_NAME", "Fixture Author".into()),
        ("GIT_AUTHOR_EMAIL", "author@example.com".into()),
        ("GIT_COMMITTER_NAME", "Fixture Committer".into()),
        ("GIT_COMMITTER_EMAIL", "committer@example.com".into()),
        ("GIT_TERMINAL_PROMPT", "0".into()),
        ("GIT_PAGER", "cat".into()),
        ("LC_ALL", "C".into()),
    ]
}

/// Runs git in `dir`, panicking with its stderr on failure; returns trimmed stdout.
/// (`rev-parse --verify -q` of a missing rev prints nothing and is not a failure here.)
pub fn git(dir: &Path, args: &[&str]) -> String {
    run(dir, args, None)
}

/// Like [`git`], with author and committer date `time` (unix seconds, UTC).
pub fn git_dated(dir: &Path, args: &[&str], time: i64) -> String {
    run(dir, args, Some(time))
}

fn run(dir: &Path, args: &[&str], time: Option<i64>) -> String {
    let mut command = Command::new("git");
    command.args(args).current_dir(dir).envs(isolated_env());
    command.env_remove("GIT_DIR").env_remove("GIT_WORK_TREE");
    if let Some(t) = time {
        let date = format!("@{t} +0000");
        command
            .env("GIT_AUTHOR_DATE", &date)
            .env("GIT_COMMITTER_DATE", &date);
    }
    let output = command.output().expect("run git");
    let quiet_miss = args.first() == Some(&"rev-parse") && args.contains(&"-q");
    if !output.status.success() && !quiet_miss {
        panic!(
            "git {} in {} failed: {}",
            args.join(" "),
            dir.display(),
            String::from_utf8_lossy(&output.stderr)
        );
    }
    String::from_utf8_lossy(&output.stdout).trim().to_string()
}
