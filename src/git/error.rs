//! Errors of the git adapter. Every message names the repository and says what to do next;
//! the app maps the variants to exit codes ([`Error::is_refusal`]).

use std::path::PathBuf;

/// What can go wrong while reading or fetching the repository.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// No repository at `--git-dir`, or none found upwards from the working directory.
    #[error(
        "{} is not a git repository (nor is any parent directory): run berth inside the clone \
         or pass --git-dir DIR",
        path.display()
    )]
    NotARepository {
        /// The directory given or searched from.
        path: PathBuf,
    },
    /// The repository is owned by another user and git refuses to work in it.
    #[error("the repository at {} is owned by another user, so git refuses to use it: {fix}", path.display())]
    Untrusted {
        /// The repository's working directory (or git directory when bare).
        path: PathBuf,
        /// The exact commands that resolve it.
        fix: String,
    },
    /// The clone is shallow and could not be completed: its history cannot be judged.
    #[error("the clone at {} is shallow (history incomplete), so no image can be judged from it: {fix}", path.display())]
    Shallow {
        /// The repository's working directory (or git directory when bare).
        path: PathBuf,
        /// How to get a full clone in the common CI systems.
        fix: String,
    },
    /// The clone lacks branches or tags the remote has, has them at other commits, or keeps
    /// ones the remote dropped: judging it could delete images a live ref needs.
    #[error(
        "the clone at {} does not match remote `{remote}` ({total} differing refs: {sample}), so \
         no image can be judged from it: {fix}",
        path.display()
    )]
    Incomplete {
        /// The repository's working directory (or git directory when bare).
        path: PathBuf,
        /// The remote compared with.
        remote: String,
        /// How many refs differ.
        total: usize,
        /// The first few of them, with how they differ.
        sample: String,
        /// The command that brings the clone up to date, and where to run it.
        fix: String,
    },
    /// `git ls-remote` failed: berth cannot tell whether the clone has every branch and tag.
    #[error(
        "could not list the refs of remote `{remote}` ({url}) with `git ls-remote {remote}` \
         ({status}), so berth cannot tell whether the clone has all its branches and tags: make \
         the remote reachable from this job (URL, network, credentials), or pass \
         --no-remote-check (BERTH_NO_REMOTE_CHECK=true) to judge the clone as it is. git \
         said:\n{stderr}"
    )]
    RemoteUnreachable {
        /// The remote's name.
        remote: String,
        /// Its URL, user information masked.
        url: String,
        /// git's exit status.
        status: String,
        /// What git wrote to stderr, URLs masked.
        stderr: String,
    },
    /// `git fetch` ran and failed.
    #[error(
        "`{command}` failed ({status}); check that the remote exists and the job may read it. \
         git said:\n{stderr}"
    )]
    FetchFailed {
        /// The command line that was run.
        command: String,
        /// Its exit status.
        status: String,
        /// What git wrote to stderr.
        stderr: String,
    },
    /// The `git` program could not be started.
    #[error(
        "could not run `git`, which berth needs to compare the clone with its remote and to \
         fetch: {source}; install git, or pass --no-remote-check and --fetch=false to judge the \
         clone as it is"
    )]
    GitMissing {
        /// Why spawning failed.
        #[source]
        source: std::io::Error,
    },
    /// A ref, object or file of the repository could not be read.
    #[error(
        "could not read {what} in the repository at {}: {source}; check the repository with \
         `git fsck` or clone it again",
        path.display()
    )]
    Read {
        /// The repository's git directory.
        path: PathBuf,
        /// What was being read (`refs`, `commit 1a2b3c4`, …).
        what: String,
        /// The underlying gix error.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync + 'static>,
    },
}

impl Error {
    /// The `Shallow` error for `path`, with the fix for the common CI systems.
    pub fn shallow(path: PathBuf) -> Error {
        Error::Shallow {
            path,
            fix: "run with --fetch (it unshallows), or clone the full history: \
                  `fetch-depth: 0` for actions/checkout, `GIT_DEPTH: 0` for GitLab CI, \
                  `git fetch --unshallow` elsewhere"
                .to_string(),
        }
    }

    /// A safety refusal (exit 4): the repository could be read, but not trusted to hold the
    /// whole truth.
    pub fn is_refusal(&self) -> bool {
        matches!(
            self,
            Error::Shallow { .. }
                | Error::Untrusted { .. }
                | Error::Incomplete { .. }
                | Error::RemoteUnreachable { .. }
        )
    }

    /// The `Incomplete` error. `command` is the fetch berth runs; `fetched`: it ran already.
    pub(crate) fn incomplete(
        path: PathBuf,
        remote: &str,
        differences: &[impl std::fmt::Display],
        command: &str,
        fetched: bool,
    ) -> Error {
        const SHOWN: usize = 5;
        let mut sample: Vec<String> = differences
            .iter()
            .take(SHOWN)
            .map(|d| d.to_string())
            .collect();
        if differences.len() > SHOWN {
            sample.push(format!("and {} more", differences.len() - SHOWN));
        }
        let fix = if fetched {
            format!(
                "they still differ after `{command}`, so the remote changed during the fetch or \
                 the refs cannot be written there; run berth again, and if it persists compare \
                 `git ls-remote {remote}` with `git for-each-ref` in {}",
                path.display()
            )
        } else {
            format!(
                "pass --fetch (BERTH_FETCH=true), or run `{command}` in {} first",
                path.display()
            )
        };
        Error::Incomplete {
            path,
            remote: remote.to_string(),
            total: differences.len(),
            sample: sample.join(", "),
            fix,
        }
    }

    /// The `Untrusted` error for `path`, with both ways out.
    pub fn untrusted(path: PathBuf) -> Error {
        let fix = format!(
            "run `git config --global --add safe.directory {}` or pass --trust-repo \
             (BERTH_TRUST_REPO=true)",
            path.display()
        );
        Error::Untrusted { path, fix }
    }

    pub(crate) fn read(
        path: impl Into<PathBuf>,
        what: impl Into<String>,
        source: impl Into<Box<dyn std::error::Error + Send + Sync + 'static>>,
    ) -> Error {
        Error::Read {
            path: path.into(),
            what: what.into(),
            source: source.into(),
        }
    }
}
