//! Exit codes (DESIGN §1). `main` is the only place that turns them into a process exit.

use std::process::ExitCode;

/// How a command ended, in the terms of DESIGN §1.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExitStatus {
    /// Done, or nothing to do.
    Success,
    /// An error before any change was made.
    Error,
    /// Bad usage or configuration.
    Usage,
    /// Some deletions failed; the report says which.
    Partial,
    /// Refused by a safety guard.
    Refused,
}

impl ExitStatus {
    /// The numeric process exit code.
    pub fn code(self) -> u8 {
        match self {
            ExitStatus::Success => 0,
            ExitStatus::Error => 1,
            ExitStatus::Usage => 2,
            ExitStatus::Partial => 3,
            ExitStatus::Refused => 4,
        }
    }
}

impl From<ExitStatus> for ExitCode {
    fn from(status: ExitStatus) -> Self {
        ExitCode::from(status.code())
    }
}

/// An error that carries the exit status it must end the process with.
///
/// Commands return `anyhow::Error`; wrapping a cause in `Failure` picks a status other than
/// the default `Error` (1), for example `Usage` for a bad `berth.yaml` or `Refused` for a guard.
/// Its message is the cause's whole chain; the cause is deliberately not exposed as `source()`,
/// so that printing the chain of a `Failure` does not repeat every line.
#[derive(Debug, thiserror::Error)]
#[error("{}", chain_message(cause))]
pub struct Failure {
    /// The status to exit with.
    pub status: ExitStatus,
    /// What went wrong.
    pub cause: anyhow::Error,
}

impl Failure {
    /// Wraps `source` so the process exits with `status`.
    pub fn new(status: ExitStatus, source: impl Into<anyhow::Error>) -> Self {
        Failure {
            status,
            cause: source.into(),
        }
    }
}

/// An error and its causes joined with `: `, each said once. Many messages quote their cause
/// already (`could not read X: <cause>; do Y`) and also return it as `source()`; joining the
/// chain blindly would print that cause twice, so a cause whose text is already in what was
/// written is left out.
pub fn chain_message(err: &anyhow::Error) -> String {
    let mut out = String::new();
    for cause in err.chain() {
        let text = cause.to_string();
        if out.is_empty() {
            out = text;
        } else if !out.contains(&text) {
            out.push_str(": ");
            out.push_str(&text);
        }
    }
    out
}

/// The status an error from a command maps to.
pub fn status_of(err: &anyhow::Error) -> ExitStatus {
    err.chain()
        .find_map(|e| e.downcast_ref::<Failure>().map(|f| f.status))
        .unwrap_or(ExitStatus::Error)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, thiserror::Error)]
    #[error("could not read /x: {source}; check it")]
    struct Quoting {
        source: std::io::Error,
    }

    #[test]
    fn each_cause_is_said_once() {
        let io = || std::io::Error::from_raw_os_error(21);
        let err = anyhow::Error::new(Quoting { source: io() }).context("cleanup failed");
        let text = chain_message(&err);
        assert_eq!(text.matches("os error 21").count(), 1, "{text}");
        assert!(
            text.starts_with("cleanup failed: could not read /x: "),
            "{text}"
        );
        let wrapped = anyhow::Error::new(Failure::new(ExitStatus::Usage, err));
        assert_eq!(chain_message(&wrapped), text);
        // A cause not quoted by its parent is still joined.
        let plain = anyhow::Error::new(io()).context("outer");
        assert_eq!(chain_message(&plain), format!("outer: {}", io()));
    }
}
