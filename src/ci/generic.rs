//! Any other CI: everything comes from `BERTH_*` variables (`BERTH_REPO`, `BERTH_REPO_USERNAME`,
//! `BERTH_REPO_PASSWORD`, `BERTH_GIT_SHA`, `BERTH_GIT_REF`, `BERTH_GIT_SOURCE`); what is
//! missing the app fills in from the git checkout.

use serde::Deserialize;

use super::{CiContext, CiKind, Env, Error, JobRef};

/// The variables berth reads outside a known CI.
#[derive(Debug, Deserialize)]
pub struct GenericEnv {
    /// The commit being built.
    pub berth_git_sha: Option<String>,
    /// The ref being built (`refs/heads/main`, `refs/tags/v1`, or a branch name).
    pub berth_git_ref: Option<String>,
    /// Web URL of the project for `org.opencontainers.image.source`.
    pub berth_git_source: Option<String>,
}

/// Reads a generic job.
pub fn read(env: &Env) -> Result<CiContext, Error> {
    let g: GenericEnv = env.read("generic")?;
    let mut ctx = CiContext::empty(CiKind::Generic);
    ctx.sha = g.berth_git_sha;
    ctx.git_ref = g.berth_git_ref.as_deref().map(JobRef::parse);
    ctx.source_url = g.berth_git_source;
    ctx.no_login_reason =
        Some("set BERTH_REPO, BERTH_REPO_USERNAME and BERTH_REPO_PASSWORD to log in".to_string());
    Ok(ctx)
}
