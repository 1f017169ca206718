//! What `ci-env` and `login` print: the rendered script or a file path on stdout, GitHub
//! `::add-mask::` commands and notes on stderr.

use std::io::Write;
use std::path::Path;

use crate::secret::Secret;

/// The rendered script (or dotenv text) on stdout.
pub fn script(text: &str) -> std::io::Result<()> {
    super::stdout(text)
}

/// The path of a written file on stdout, for `. $(berth ci-env --as-file)`.
pub fn path(path: &Path) -> std::io::Result<()> {
    super::stdout(&format!("{}\n", path.display()))
}

/// Asks GitHub Actions to mask a secret in the job log. Written to stderr, which the runner
/// scans for workflow commands like stdout, so that stdout stays a script that can be
/// `eval`ed. A multi-line secret is masked line by line, as GitHub documents.
pub fn add_mask(secret: &Secret) {
    let mut err = std::io::stderr().lock();
    for line in secret.expose().lines().filter(|l| !l.trim().is_empty()) {
        let _ = writeln!(err, "::add-mask::{line}");
    }
}

/// `berth login` succeeded.
pub fn login_succeeded(host: &str, config: &Path) -> std::io::Result<()> {
    super::stdout(&format!(
        "Login Succeeded: {host} (stored in {})\n",
        config.display()
    ))
}
