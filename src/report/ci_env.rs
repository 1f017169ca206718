//! What `ci-env` and `login` print: the rendered script or a file path on stdout, GitHub
//! `::add-mask::` commands and notes on stderr.

use std::io::Write;
use std::path::Path;

/// The rendered script (or dotenv text) on stdout.
pub fn script(text: &str) -> std::io::Result<()> {
    super::stdout(text)
}

/// The path of a written file on stdout, for `. $(berth ci-env --as-file)`.
pub fn path(path: &Path) -> std::io::Result<()> {
    super::stdout(&format!("{}\n", path.display()))
}

/// Writes GitHub Actions `::add-mask::` commands (from `ci::github::mask_commands`). Written
/// to stderr, which the runner scans for workflow commands like stdout, so that stdout stays a
/// script that can be `eval`ed.
pub fn add_mask(commands: &[String]) {
    let mut err = std::io::stderr().lock();
    for command in commands {
        let _ = writeln!(err, "{command}");
    }
}

/// `berth login` succeeded.
pub fn login_succeeded(host: &str, config: &Path) -> std::io::Result<()> {
    super::stdout(&format!(
        "Login Succeeded: {host} (stored in {})\n",
        config.display()
    ))
}
