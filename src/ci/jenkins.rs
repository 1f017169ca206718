//! Jenkins: the variables of a pipeline with an SCM checkout (git plugin, multibranch), and the
//! registry credentials a `withCredentials` block binds to `BERTH_REPO_USERNAME` /
//! `BERTH_REPO_PASSWORD` (read by [`super::read`] for every CI).

use std::path::PathBuf;

use serde::Deserialize;

use super::{CiContext, CiKind, Env, Error, JobRef};

/// The variables berth reads in a Jenkins job.
#[derive(Debug, Deserialize)]
pub struct JenkinsEnv {
    /// The commit checked out (git plugin).
    pub git_commit: String,
    /// `origin/main` style branch (git plugin).
    pub git_branch: Option<String>,
    /// Multibranch: the branch name, or `PR-<n>` for a change request.
    pub branch_name: Option<String>,
    /// Multibranch: the tag being built.
    pub tag_name: Option<String>,
    /// Multibranch: the change (pull request) number.
    pub change_id: Option<u64>,
    /// The remote URL (git plugin).
    pub git_url: Option<String>,
    /// The job's workspace; `<WORKSPACE>@tmp` is Jenkins' own temp dir for it.
    pub workspace: Option<PathBuf>,
}

/// Reads a Jenkins job.
pub fn read(env: &Env) -> Result<CiContext, Error> {
    let j: JenkinsEnv = env.read("jenkins")?;
    let mut ctx = CiContext::empty(CiKind::Jenkins);
    ctx.sha = Some(j.git_commit);
    ctx.git_ref = if let Some(tag) = j.tag_name {
        Some(JobRef::Tag(tag))
    } else if let Some(n) = j.change_id {
        // Multibranch change requests: GitHub and Gitea keep `refs/pull/<n>/head`.
        Some(JobRef::PullRequest {
            number: n,
            head_ref: format!("refs/pull/{n}/head"),
        })
    } else if let Some(b) = j.branch_name {
        Some(JobRef::Branch(b))
    } else {
        // The git plugin names the remote-tracking branch: `origin/main`.
        j.git_branch.map(|b| {
            JobRef::Branch(
                b.strip_prefix("origin/")
                    .or_else(|| b.strip_prefix("refs/heads/"))
                    .unwrap_or(&b)
                    .to_string(),
            )
        })
    };
    ctx.source_url = j.git_url.map(|u| web_url(&u));
    ctx.no_login_reason = Some(
        "Jenkins has no registry of its own: set BERTH_REPO, and bind BERTH_REPO_USERNAME / \
         BERTH_REPO_PASSWORD with withCredentials"
            .to_string(),
    );
    ctx.temp_dir = j.workspace.map(|w| {
        let mut name = w.into_os_string();
        name.push("@tmp");
        PathBuf::from(name)
    });
    Ok(ctx)
}

/// A browsable URL for a git remote: drops `.git` and user info, turns `git@host:path` into
/// `https://host/path`.
fn web_url(remote: &str) -> String {
    let https = if let Some(rest) = remote.strip_prefix("git@") {
        format!("https://{}", rest.replacen(':', "/", 1))
    } else if let Some((scheme, rest)) = remote.split_once("://") {
        let rest = rest.rsplit_once('@').map_or(rest, |(_, host)| host);
        let scheme = if scheme.starts_with("http") {
            scheme
        } else {
            "https"
        };
        format!("{scheme}://{rest}")
    } else {
        remote.to_string()
    };
    https.trim_end_matches(".git").to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn git_plugin_branch_and_remote_url() {
        let ctx = read(&Env::from_pairs([
            ("JENKINS_URL", "http://jenkins/"),
            ("GIT_COMMIT", "0123456789abcdef0123456789abcdef01234567"),
            ("GIT_BRANCH", "origin/release/1.x"),
            ("GIT_URL", "git@git.example.com:team/app.git"),
            ("WORKSPACE", "/var/jenkins/ws/app"),
        ]))
        .unwrap();
        assert_eq!(ctx.git_ref, Some(JobRef::Branch("release/1.x".into())));
        assert_eq!(
            ctx.source_url.as_deref(),
            Some("https://git.example.com/team/app")
        );
        assert_eq!(ctx.temp_dir, Some(PathBuf::from("/var/jenkins/ws/app@tmp")));
        assert!(ctx.login.is_none());
    }

    #[test]
    fn multibranch_change_request() {
        let ctx = read(&Env::from_pairs([
            ("GIT_COMMIT", "0123456789abcdef0123456789abcdef01234567"),
            ("BRANCH_NAME", "PR-7"),
            ("CHANGE_ID", "7"),
            ("GIT_URL", "https://user:pw@git.example.com/team/app.git"),
        ]))
        .unwrap();
        assert_eq!(ctx.git_ref.unwrap().full_name(), "refs/pull/7/head");
        assert_eq!(
            ctx.source_url.as_deref(),
            Some("https://git.example.com/team/app")
        );
    }

    #[test]
    fn missing_commit_is_named() {
        let err = read(&Env::from_pairs([("JENKINS_URL", "x")])).unwrap_err();
        assert!(err.to_string().contains("GIT_COMMIT"), "{err}");
    }
}
