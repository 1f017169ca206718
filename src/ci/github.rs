//! GitHub Actions: the variables a runner sets in every job, and the files it reads back
//! (`$GITHUB_ENV`, `$GITHUB_OUTPUT`, `$GITHUB_STEP_SUMMARY`).

use std::io::Write;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use super::{CiContext, CiKind, Env, Error, JobRef, Login};
use crate::secret::Secret;

/// The variables berth reads in a GitHub Actions job.
#[derive(Debug, Deserialize)]
pub struct GithubEnv {
    /// `owner/repo`.
    pub github_repository: String,
    /// The commit the workflow runs on.
    pub github_sha: String,
    /// `refs/heads/<b>`, `refs/tags/<t>` or `refs/pull/<n>/merge`.
    pub github_ref: Option<String>,
    /// The account that started the run; the user name for ghcr.io.
    pub github_actor: Option<String>,
    /// The job token (only present when the workflow passes it in `env:`).
    pub github_token: Option<Secret>,
    /// `https://github.com`, or the GitHub Enterprise Server URL.
    pub github_server_url: Option<String>,
    /// The runner's per-job temp directory.
    pub runner_temp: Option<PathBuf>,
    /// File of `NAME=value` / heredoc entries for later steps.
    pub github_env: Option<PathBuf>,
    /// File of step outputs.
    pub github_output: Option<PathBuf>,
    /// Markdown shown on the run's summary page.
    pub github_step_summary: Option<PathBuf>,
    /// The container registry of this GitHub instance, when it is not the derived one.
    pub berth_ci_registry: Option<String>,
}

/// The GitHub Actions files berth appends to.
#[derive(Debug, Clone, Default)]
pub struct Files {
    /// `$GITHUB_ENV`.
    pub env: Option<PathBuf>,
    /// `$GITHUB_OUTPUT`.
    pub output: Option<PathBuf>,
    /// `$GITHUB_STEP_SUMMARY`.
    pub step_summary: Option<PathBuf>,
}

/// The container registry of a GitHub server: `ghcr.io` for github.com, and
/// `containers.<host>` for GitHub Enterprise Server (its documented registry host).
pub fn registry_for_server(server_url: Option<&str>) -> String {
    let host = server_url
        .and_then(|u| u.split_once("://").map(|(_, rest)| rest).or(Some(u)))
        .map(|rest| rest.trim_end_matches('/'))
        .unwrap_or("github.com");
    if host.is_empty() || host == "github.com" {
        "ghcr.io".to_string()
    } else {
        format!("containers.{host}")
    }
}

/// The `::add-mask::` commands that mask `secret` in the job log. The runner unescapes a
/// command's data (`%25` → `%`, `%0D` → CR, `%0A` → LF), so the value is escaped the same way
/// and arrives whole, `%25` and line breaks included. The runner masks each line of output on
/// its own, so a value of several lines could never match whole: each of its non-blank lines
/// is masked as well.
pub fn mask_commands(secret: &str) -> Vec<String> {
    let mut values = Vec::new();
    if !secret.trim().is_empty() {
        values.push(secret);
    }
    if secret.contains(['\n', '\r']) {
        for line in secret.split(['\n', '\r']) {
            if !line.trim().is_empty() && !values.contains(&line) {
                values.push(line);
            }
        }
    }
    values
        .into_iter()
        .map(|v| format!("::add-mask::{}", escape_command_data(v)))
        .collect()
}

/// Escapes workflow command data as the runner's `ActionCommand` unescapes it.
fn escape_command_data(value: &str) -> String {
    value
        .replace('%', "%25")
        .replace('\r', "%0D")
        .replace('\n', "%0A")
}

/// Reads a GitHub Actions job.
pub fn read(env: &Env) -> Result<CiContext, Error> {
    let g: GithubEnv = env.read("github")?;
    let mut ctx = CiContext::empty(CiKind::Github);
    let registry = g
        .berth_ci_registry
        .clone()
        .unwrap_or_else(|| registry_for_server(g.github_server_url.as_deref()));
    ctx.repo = Some(format!(
        "{registry}/{}",
        g.github_repository.to_ascii_lowercase()
    ));
    ctx.container_registry = Some("github");
    ctx.sha = Some(g.github_sha);
    ctx.git_ref = g.github_ref.as_deref().map(JobRef::parse);
    // The real server URL, not a hard-coded github.com (werf's GHES bug).
    let server = g
        .github_server_url
        .as_deref()
        .unwrap_or("https://github.com")
        .trim_end_matches('/');
    ctx.source_url = Some(format!("{server}/{}", g.github_repository));
    match (g.github_actor, g.github_token) {
        (Some(username), Some(password)) => {
            ctx.secrets_to_mask.push(password.clone());
            ctx.login = Some(Login {
                host: registry,
                username,
                password,
                source: "GITHUB_ACTOR/GITHUB_TOKEN",
            });
        }
        (actor, _) => {
            ctx.no_login_reason = Some(if actor.is_none() {
                "GITHUB_ACTOR is not set".to_string()
            } else {
                "GITHUB_TOKEN is not set; pass it to the step with \
                 `env: GITHUB_TOKEN: ${{ secrets.GITHUB_TOKEN }}` (and `permissions: packages: write`)"
                    .to_string()
            });
        }
    }
    ctx.temp_dir = g.runner_temp;
    ctx.github_files = Some(Files {
        env: g.github_env,
        output: g.github_output,
        step_summary: g.github_step_summary,
    });
    Ok(ctx)
}

/// Appends `text` to a GitHub Actions file (the runner reads it after the step ends).
pub fn append(path: &Path, text: &str) -> Result<(), Error> {
    let io = |source| Error::Io {
        what: "could not append to the GitHub Actions file",
        path: path.to_path_buf(),
        cause: source,
    };
    let mut file = std::fs::OpenOptions::new()
        .append(true)
        .create(true)
        .open(path)
        .map_err(io)?;
    file.write_all(text.as_bytes()).map_err(io)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The runner's `ActionCommand` data unescaping, to check the round trip.
    fn runner_unescape(data: &str) -> String {
        data.replace("%0D", "\r")
            .replace("%0A", "\n")
            .replace("%25", "%")
    }

    #[test]
    fn add_mask_escapes_as_the_runner_parses() {
        assert_eq!(mask_commands("p%25w"), ["::add-mask::p%2525w"]);
        assert_eq!(
            mask_commands("a\rb"),
            ["::add-mask::a%0Db", "::add-mask::a", "::add-mask::b"]
        );
        assert!(mask_commands("  ").is_empty());
        for secret in ["p%25w", "100%", "x\r\ny", "%0A%0D", "line1\nline2\n"] {
            let commands = mask_commands(secret);
            let data = commands[0].strip_prefix("::add-mask::").unwrap();
            assert!(!data.contains(['\n', '\r']), "{data:?}");
            assert_eq!(runner_unescape(data), secret);
        }
        assert_eq!(
            mask_commands("one\n\ntwo\n"),
            [
                "::add-mask::one%0A%0Atwo%0A",
                "::add-mask::one",
                "::add-mask::two"
            ]
        );
    }

    fn job(extra: &[(&str, &str)]) -> Env {
        let mut pairs = vec![
            ("GITHUB_ACTIONS", "true"),
            ("GITHUB_REPOSITORY", "Octo-Org/Hello-World"),
            ("GITHUB_SHA", "0123456789abcdef0123456789abcdef01234567"),
            ("GITHUB_REF", "refs/heads/main"),
            ("GITHUB_SERVER_URL", "https://github.com"),
        ];
        pairs.extend_from_slice(extra);
        Env::from_pairs(pairs)
    }

    #[test]
    fn repo_is_ghcr_lowercased_and_login_needs_the_token() {
        let ctx = read(&job(&[("GITHUB_ACTOR", "octocat")])).unwrap();
        assert_eq!(ctx.repo.as_deref(), Some("ghcr.io/octo-org/hello-world"));
        assert_eq!(ctx.git_ref, Some(JobRef::Branch("main".into())));
        assert!(ctx.login.is_none());
        assert!(ctx.no_login_reason.unwrap().contains("GITHUB_TOKEN"));
        let ctx = read(&job(&[
            ("GITHUB_ACTOR", "octocat"),
            ("GITHUB_TOKEN", "t0k"),
        ]))
        .unwrap();
        let login = ctx.login.unwrap();
        assert_eq!(
            (login.host.as_str(), login.username.as_str()),
            ("ghcr.io", "octocat")
        );
        assert_eq!(ctx.secrets_to_mask, vec![Secret::new("t0k")]);
    }

    #[test]
    fn enterprise_server_gets_its_own_registry_and_links() {
        let ctx = read(&job(&[("GITHUB_SERVER_URL", "https://ghe.example.com/")])).unwrap();
        assert_eq!(
            ctx.repo.as_deref(),
            Some("containers.ghe.example.com/octo-org/hello-world")
        );
        assert_eq!(
            ctx.source_url.as_deref(),
            Some("https://ghe.example.com/Octo-Org/Hello-World")
        );
    }

    #[test]
    fn missing_repository_is_named() {
        let err = read(&Env::from_pairs([("GITHUB_SHA", "x")])).unwrap_err();
        assert!(err.to_string().contains("GITHUB_REPOSITORY"), "{err}");
    }
}
