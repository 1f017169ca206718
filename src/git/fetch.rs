//! The git CLI for the network part: `git ls-remote` and `git fetch`. gix has no equivalent
//! of `--prune-tags` and `--unshallow` together with the credential helpers CI runners
//! configure, so the real git talks to the remote and berth reads the result.

use std::path::Path;
use std::process::{Command, Output, Stdio};

use super::error::Error;
use super::remote::{self, RefSet};

/// What a fetch brings in, and where to.
#[derive(Debug, Clone)]
pub(crate) struct FetchSpec<'a> {
    pub remote: &'a str,
    /// The clone is shallow: complete its history.
    pub unshallow: bool,
    /// Branches land in `refs/heads/*` (bare and mirror clones), else in
    /// `refs/remotes/<remote>/*`.
    pub into_heads: bool,
    /// Review namespaces the remote has (`pull`, `merge-requests`): their `N/head` refs are
    /// fetched too, where `refs::classify` reads them as pull requests.
    pub reviews: Vec<&'static str>,
}

/// The arguments after `git`, without the `-c`/`-C` prefix: exactly the command the docs name.
pub(crate) fn fetch_args(spec: &FetchSpec<'_>) -> Vec<String> {
    let remote = spec.remote;
    let mut args = vec![
        "fetch".to_string(),
        "--prune".to_string(),
        "--prune-tags".to_string(),
    ];
    if spec.unshallow {
        args.push("--unshallow".to_string());
    }
    args.push(remote.to_string());
    let (heads, reviews) = if spec.into_heads {
        ("refs/heads".to_string(), "refs".to_string())
    } else {
        (
            format!("refs/remotes/{remote}"),
            format!("refs/remotes/{remote}"),
        )
    };
    args.push(format!("+refs/heads/*:{heads}/*"));
    args.push("+refs/tags/*:refs/tags/*".to_string());
    for ns in &spec.reviews {
        args.push(format!("+refs/{ns}/*/head:{reviews}/{ns}/*/head"));
    }
    args
}

/// `git <args>` as a user can paste it into a shell.
pub(crate) fn shown(args: &[String]) -> String {
    let quoted: Vec<String> = args
        .iter()
        .map(|a| {
            if a.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"-_./:=@+".contains(&b))
            {
                a.clone()
            } else {
                format!("'{}'", a.replace('\'', r"'\''"))
            }
        })
        .collect();
    format!("git {}", quoted.join(" "))
}

/// Runs the fetch in `dir` (the working directory, or the git directory of a bare
/// repository).
pub(crate) fn run(dir: &Path, spec: &FetchSpec<'_>, trust: bool) -> Result<(), Error> {
    let args = fetch_args(spec);
    let command = shown(&args);
    tracing::info!(command = %command, dir = %dir.display(), "fetching");
    let output = git(dir, &args, trust)?;
    if output.status.success() {
        return Ok(());
    }
    Err(Error::FetchFailed {
        command,
        status: output.status.to_string(),
        stderr: failure(dir, &output)?,
    })
}

/// `git ls-remote <remote>`: every ref of the remote in one round trip. `url` (masked) is
/// only for the error.
pub(crate) fn ls_remote(dir: &Path, remote: &str, url: &str, trust: bool) -> Result<RefSet, Error> {
    let args = ["ls-remote".to_string(), remote.to_string()];
    tracing::debug!(remote, "listing the remote's refs");
    let output = git(dir, &args, trust)?;
    if !output.status.success() {
        return Err(Error::RemoteUnreachable {
            remote: remote.to_string(),
            url: url.to_string(),
            status: output.status.to_string(),
            stderr: failure(dir, &output)?,
        });
    }
    Ok(remote::parse_listing(&String::from_utf8_lossy(
        &output.stdout,
    )))
}

/// Runs git in `dir` with `args`. With `trust`, `dir` is added to `safe.directory` for this
/// one command: git honours that setting from the command line, and it affects nothing else.
fn git(dir: &Path, args: &[String], trust: bool) -> Result<Output, Error> {
    let mut command = Command::new("git");
    if trust {
        command
            .arg("-c")
            .arg(format!("safe.directory={}", dir.display()));
    }
    command
        .arg("-C")
        .arg(dir)
        .args(args)
        // The location is given by -C; inherited overrides would point git elsewhere.
        .env_remove("GIT_DIR")
        .env_remove("GIT_WORK_TREE")
        // A CI job has nobody to answer a password prompt: fail instead of hanging.
        .env("GIT_TERMINAL_PROMPT", "0")
        // English messages, so the ownership refusal below can be recognised.
        .env("LC_ALL", "C")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    command
        .output()
        .map_err(|source| Error::GitMissing { source })
}

/// git's stderr of a failed command, URLs masked; the ownership refusal as its own error.
fn failure(dir: &Path, output: &Output) -> Result<String, Error> {
    let stderr = String::from_utf8_lossy(&output.stderr);
    if stderr.contains("dubious ownership") {
        return Err(Error::untrusted(dir.to_path_buf()));
    }
    Ok(remote::mask_userinfo(stderr.trim_end()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn args_match_the_documented_command() {
        let spec = FetchSpec {
            remote: "origin",
            unshallow: true,
            into_heads: false,
            reviews: vec![],
        };
        assert_eq!(
            fetch_args(&spec).join(" "),
            "fetch --prune --prune-tags --unshallow origin \
             +refs/heads/*:refs/remotes/origin/* +refs/tags/*:refs/tags/*"
        );
        let spec = FetchSpec {
            remote: "up",
            unshallow: false,
            ..spec
        };
        assert!(!fetch_args(&spec).contains(&"--unshallow".to_string()));
    }

    #[test]
    fn bare_clones_fetch_into_their_heads_and_review_refs_where_classify_reads_them() {
        let mirror = FetchSpec {
            remote: "origin",
            unshallow: false,
            into_heads: true,
            reviews: vec!["pull"],
        };
        assert_eq!(
            shown(&fetch_args(&mirror)),
            "git fetch --prune --prune-tags origin '+refs/heads/*:refs/heads/*' \
             '+refs/tags/*:refs/tags/*' '+refs/pull/*/head:refs/pull/*/head'"
        );
        let tracking = FetchSpec {
            into_heads: false,
            reviews: vec!["merge-requests"],
            ..mirror
        };
        assert_eq!(
            fetch_args(&tracking).last().unwrap(),
            "+refs/merge-requests/*/head:refs/remotes/origin/merge-requests/*/head"
        );
    }
}
