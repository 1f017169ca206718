//! Safety guards on a finished plan (DESIGN §4 invariant 7, §5 of the issue): refuse a plan
//! made from a shallow clone (always), from zero git refs, or one that deletes more than the
//! allowed share of a repository's tags (both overridable with `--force`).

use super::{Decision, Plan};
use crate::git::GitFacts;

/// The default of `--max-delete-ratio`.
pub const DEFAULT_MAX_DELETE_RATIO: f64 = 0.8;

/// The guard settings.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Guards {
    /// Refuse a repository whose plan deletes more than this share of its tags (0.0–1.0).
    pub max_delete_ratio: f64,
    /// `--force`: override the zero-refs and delete-ratio guards (never the shallow one).
    pub force: bool,
}

impl Default for Guards {
    fn default() -> Self {
        Guards {
            max_delete_ratio: DEFAULT_MAX_DELETE_RATIO,
            force: false,
        }
    }
}

/// Why a plan is refused (exit 4).
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum Refusal {
    /// The clone's history is incomplete.
    #[error(
        "the git clone is shallow, so its history cannot show which images are still needed; \
         run with --fetch (it unshallows), or clone the full history: `fetch-depth: 0` for \
         actions/checkout, `GIT_DEPTH: 0` for GitLab CI"
    )]
    Shallow,
    /// No branch or tag was found.
    #[error(
        "the git repository has no branches or tags of the remote, so every commit would look \
         deleted; check --git-dir and --remote (and --fetch), or pass --force to apply the plan anyway"
    )]
    NoRefs,
    /// Too much of one repository would go.
    #[error(
        "the plan deletes {deleted} of {total} tags of {repo}, more than --max-delete-ratio \
         {max_ratio}; review it with --dry-run, then raise --max-delete-ratio or pass --force"
    )]
    DeleteRatio {
        /// The repository.
        repo: String,
        /// Tags the plan deletes.
        deleted: usize,
        /// Tags it has.
        total: usize,
        /// The allowed share.
        max_ratio: f64,
    },
}

/// Checks the plan against the guards; the first refusal found, if any.
pub fn check_guards(plan: &Plan, git: &GitFacts, guards: &Guards) -> Result<(), Refusal> {
    if git.shallow {
        return Err(Refusal::Shallow);
    }
    if guards.force {
        return Ok(());
    }
    if git.refs.is_empty() {
        return Err(Refusal::NoRefs);
    }
    for rp in &plan.repos {
        let total = rp.tags.len();
        let deleted = rp
            .tags
            .iter()
            .filter(|t| matches!(t.decision, Decision::Delete { .. }))
            .count();
        if total > 0 && deleted as f64 > guards.max_delete_ratio * total as f64 {
            return Err(Refusal::DeleteRatio {
                repo: rp.repo.clone(),
                deleted,
                total,
                max_ratio: guards.max_delete_ratio,
            });
        }
    }
    Ok(())
}
