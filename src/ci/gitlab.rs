//! GitLab CI: the predefined variables of a job.

use std::path::PathBuf;

use serde::Deserialize;

use super::{CiContext, CiKind, Env, Error, JobRef, Login};
use crate::secret::Secret;

/// The variables berth reads in a GitLab CI job.
#[derive(Debug, Deserialize)]
pub struct GitlabEnv {
    /// The commit the pipeline runs on.
    pub ci_commit_sha: String,
    /// The project's registry host (`registry.gitlab.com`, `gitlab.example.com:5050`); unset
    /// when the project's container registry is off.
    pub ci_registry: Option<String>,
    /// The project's image repository (`registry.gitlab.com/group/project`).
    pub ci_registry_image: Option<String>,
    /// The registry user for this job.
    pub ci_registry_user: Option<String>,
    /// The registry password for this job.
    pub ci_registry_password: Option<Secret>,
    /// The job token (works as password for `gitlab-ci-token`).
    pub ci_job_token: Option<Secret>,
    /// Set in branch pipelines.
    pub ci_commit_branch: Option<String>,
    /// Set in tag pipelines.
    pub ci_commit_tag: Option<String>,
    /// Branch or tag name.
    pub ci_commit_ref_name: Option<String>,
    /// GitLab's own slug of the ref.
    pub ci_commit_ref_slug: Option<String>,
    /// Set in merge request pipelines.
    pub ci_merge_request_iid: Option<u64>,
    /// The project's web URL.
    pub ci_project_url: Option<String>,
    /// The runner's builds directory.
    pub ci_builds_dir: Option<PathBuf>,
    /// The registry host to log into instead of `CI_REGISTRY` (a registry behind a proxy).
    pub berth_ci_registry: Option<String>,
}

/// Reads a GitLab CI job.
pub fn read(env: &Env) -> Result<CiContext, Error> {
    let g: GitlabEnv = env.read("gitlab")?;
    let mut ctx = CiContext::empty(CiKind::Gitlab);
    ctx.repo = g.ci_registry_image.clone();
    if ctx.repo.is_some() {
        ctx.container_registry = Some("gitlab");
    }
    ctx.sha = Some(g.ci_commit_sha);
    ctx.git_ref = if let Some(tag) = g.ci_commit_tag {
        Some(JobRef::Tag(tag))
    } else if let Some(iid) = g.ci_merge_request_iid {
        Some(JobRef::PullRequest {
            number: iid,
            head_ref: format!("refs/merge-requests/{iid}/head"),
        })
    } else {
        g.ci_commit_branch
            .or(g.ci_commit_ref_name)
            .map(JobRef::Branch)
    };
    ctx.ci_ref_slug = g.ci_commit_ref_slug;
    ctx.source_url = g.ci_project_url;
    // CI_REGISTRY_USER/PASSWORD are the documented pair; gitlab-ci-token + CI_JOB_TOKEN is
    // the same credential on older runners that do not set them.
    let creds = match (g.ci_registry_user, g.ci_registry_password, g.ci_job_token) {
        (Some(user), Some(password), _) => {
            Some((user, password, "CI_REGISTRY_USER/CI_REGISTRY_PASSWORD"))
        }
        (_, _, Some(token)) => Some(("gitlab-ci-token".to_string(), token, "CI_JOB_TOKEN")),
        _ => None,
    };
    match (g.berth_ci_registry.or(g.ci_registry), creds) {
        (Some(host), Some((username, password, source))) => {
            ctx.secrets_to_mask.push(password.clone());
            ctx.login = Some(Login {
                host,
                username,
                password,
                source,
            });
        }
        (None, _) => {
            ctx.no_login_reason =
                Some("CI_REGISTRY is not set (the project's container registry is off)".to_string())
        }
        (Some(_), None) => {
            ctx.no_login_reason =
                Some("neither CI_REGISTRY_PASSWORD nor CI_JOB_TOKEN is set".to_string())
        }
    }
    ctx.temp_dir = g.ci_builds_dir.map(|d| d.join("tmp"));
    Ok(ctx)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn job(extra: &[(&str, &str)]) -> Env {
        let mut pairs = vec![
            ("GITLAB_CI", "true"),
            ("CI_COMMIT_SHA", "0123456789abcdef0123456789abcdef01234567"),
            ("CI_REGISTRY", "registry.gitlab.com"),
            ("CI_REGISTRY_IMAGE", "registry.gitlab.com/group/project"),
            ("CI_COMMIT_REF_NAME", "feature/X"),
            ("CI_COMMIT_BRANCH", "feature/X"),
            ("CI_COMMIT_REF_SLUG", "feature-x"),
        ];
        pairs.extend_from_slice(extra);
        Env::from_pairs(pairs)
    }

    #[test]
    fn registry_user_and_password_win_over_the_job_token() {
        let ctx = read(&job(&[
            ("CI_REGISTRY_USER", "gitlab-ci-token"),
            ("CI_REGISTRY_PASSWORD", "pw"),
            ("CI_JOB_TOKEN", "jt"),
        ]))
        .unwrap();
        let login = ctx.login.unwrap();
        assert_eq!(login.password.expose(), "pw");
        assert_eq!(login.host, "registry.gitlab.com");
        let ctx = read(&job(&[("CI_JOB_TOKEN", "jt")])).unwrap();
        let login = ctx.login.unwrap();
        assert_eq!(
            (login.username.as_str(), login.password.expose()),
            ("gitlab-ci-token", "jt")
        );
    }

    #[test]
    fn tag_and_merge_request_pipelines() {
        let ctx = read(&job(&[("CI_COMMIT_TAG", "v1.0.0")])).unwrap();
        assert_eq!(ctx.git_ref, Some(JobRef::Tag("v1.0.0".into())));
        let ctx = read(&job(&[("CI_MERGE_REQUEST_IID", "42")])).unwrap();
        assert_eq!(
            ctx.git_ref.unwrap().full_name(),
            "refs/merge-requests/42/head"
        );
    }

    #[test]
    fn missing_sha_is_named() {
        let err = read(&Env::from_pairs([("GITLAB_CI", "true")])).unwrap_err();
        assert!(err.to_string().contains("CI_COMMIT_SHA"), "{err}");
    }
}
