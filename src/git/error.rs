//! Errors of the git adapter. Every message names the repository and says what to do next;
//! the app maps the variants to exit codes (`Shallow` and `Untrusted` are refusals).

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
    #[error("could not run `git` for --fetch: {source}; install git or run without --fetch")]
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
