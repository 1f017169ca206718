//! `git fetch` through the git CLI: gix has no equivalent of `--prune-tags` and
//! `--unshallow` together with the credential helpers CI runners configure, so the real git
//! does the network part and berth reads the result.

use std::path::Path;
use std::process::{Command, Stdio};

use super::error::Error;

/// The arguments after `git`, without the `-c`/`-C` prefix: exactly the command the docs name.
pub(crate) fn fetch_args(remote: &str, unshallow: bool) -> Vec<String> {
    let mut args = vec![
        "fetch".to_string(),
        "--prune".to_string(),
        "--prune-tags".to_string(),
    ];
    if unshallow {
        args.push("--unshallow".to_string());
    }
    args.push(remote.to_string());
    args.push(format!("+refs/heads/*:refs/remotes/{remote}/*"));
    args.push("+refs/tags/*:refs/tags/*".to_string());
    args
}

/// Runs the fetch in `dir` (the working directory, or the git directory of a bare
/// repository). With `trust`, `dir` is added to `safe.directory` for this one command: git
/// honours that setting from the command line, and it affects nothing else.
pub(crate) fn run(dir: &Path, remote: &str, unshallow: bool, trust: bool) -> Result<(), Error> {
    let mut command = Command::new("git");
    if trust {
        command
            .arg("-c")
            .arg(format!("safe.directory={}", dir.display()));
    }
    let args = fetch_args(remote, unshallow);
    command
        .arg("-C")
        .arg(dir)
        .args(&args)
        // The location is given by -C; inherited overrides would point git elsewhere.
        .env_remove("GIT_DIR")
        .env_remove("GIT_WORK_TREE")
        // A CI job has nobody to answer a password prompt: fail instead of hanging.
        .env("GIT_TERMINAL_PROMPT", "0")
        // English messages, so the ownership refusal below can be recognised.
        .env("LC_ALL", "C")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    let shown = format!("git {}", args.join(" "));
    tracing::info!(command = %shown, dir = %dir.display(), "fetching");
    let output = command
        .output()
        .map_err(|source| Error::GitMissing { source })?;
    if output.status.success() {
        return Ok(());
    }
    let stderr = String::from_utf8_lossy(&output.stderr)
        .trim_end()
        .to_string();
    if stderr.contains("dubious ownership") {
        return Err(Error::untrusted(dir.to_path_buf()));
    }
    Err(Error::FetchFailed {
        command: shown,
        status: output.status.to_string(),
        stderr,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn args_match_the_documented_command() {
        assert_eq!(
            fetch_args("origin", true).join(" "),
            "fetch --prune --prune-tags --unshallow origin \
             +refs/heads/*:refs/remotes/origin/* +refs/tags/*:refs/tags/*"
        );
        assert!(!fetch_args("up", false).contains(&"--unshallow".to_string()));
    }
}
