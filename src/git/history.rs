//! The history walk: ONE traversal from all ref tips at once (not one per ref or per tag),
//! reading each commit's committer time and parents from the commit-graph file when it has
//! the commit and from the object database otherwise, into a [`CommitGraph`].
//!
//! The planner walks each ref newest-first over that graph itself, so the walk here needs
//! no ordering: a depth-first stack visits each commit exactly once.

use gix::ObjectId;
use gix::hashtable::HashSet;
use gix::prelude::Find;

use super::error::Error;
use super::facts::{CommitGraph, CommitGraphBuilder, CommitId};

/// Walks everything reachable from `tips` once. Commits behind a shallow boundary have no
/// parents in the result; a tip that is not a commit is left out (debug log).
pub(crate) fn walk(repo: &gix::Repository, tips: &[ObjectId]) -> Result<CommitGraph, Error> {
    let git_dir = repo.git_dir();
    let cache = match repo.commit_graph_if_enabled() {
        Ok(cache) => cache,
        Err(err) => {
            // A broken commit-graph file only costs speed: the objects have the same facts.
            tracing::warn!(error = %err, "ignoring the unreadable commit-graph file");
            None
        }
    };
    let shallow: HashSet<ObjectId> = repo
        .shallow_commits()
        .map_err(|e| Error::read(git_dir, "the shallow file", e))?
        .map(|commits| commits.iter().copied().collect())
        .unwrap_or_default();
    tracing::debug!(
        commit_graph = cache.as_ref().map_or(0, |g| g.num_commits()),
        shallow_boundary = shallow.len(),
        tips = tips.len(),
        "walking history"
    );

    let capacity = cache.as_ref().map_or(1024, |g| g.num_commits() as usize);
    let mut builder = CommitGraphBuilder::with_capacity(capacity);
    let mut seen: HashSet<ObjectId> = HashSet::default();
    seen.reserve(capacity);
    let mut stack: Vec<ObjectId> = Vec::with_capacity(tips.len());
    for tip in tips {
        if seen.insert(*tip) {
            stack.push(*tip);
        }
    }
    let mut buf = Vec::new();
    let mut parents: Vec<ObjectId> = Vec::with_capacity(4);
    while let Some(id) = stack.pop() {
        parents.clear();
        let time = if let Some(commit) = cache.as_ref().and_then(|g| g.commit_by_id(id)) {
            let graph = cache.as_ref().expect("the commit came from it");
            for parent in commit.iter_parents() {
                let pos = parent.map_err(|e| Error::read(git_dir, "the commit-graph file", e))?;
                parents.push(graph.id_at(pos).to_owned());
            }
            commit.committer_timestamp() as i64
        } else {
            let Some(data) = repo
                .objects
                .try_find(&id, &mut buf)
                .map_err(|e| Error::read(git_dir, format!("commit {id}"), e))?
            else {
                // Beyond a shallow boundary git has no object and no shallow entry for it
                // only when the repository is damaged; the commit is left out either way.
                tracing::debug!(commit = %id, "commit object missing; left out of the history");
                continue;
            };
            if data.kind != gix::object::Kind::Commit {
                tracing::debug!(object = %id, kind = %data.kind, "ref points at a non-commit; skipped");
                continue;
            }
            let commit = gix::objs::CommitRef::from_bytes(data.data, repo.object_hash())
                .map_err(|e| Error::read(git_dir, format!("commit {id}"), e))?;
            parents.extend(commit.parents());
            commit
                .time()
                .map_err(|e| Error::read(git_dir, format!("the committer date of {id}"), e))?
                .seconds
        };
        if shallow.contains(&id) {
            // git pretends a boundary commit has no parents; so do we.
            parents.clear();
        }
        let mut parent_ids = Vec::with_capacity(parents.len());
        for parent in &parents {
            parent_ids.push(commit_id(git_dir, parent)?);
            if seen.insert(*parent) {
                stack.push(*parent);
            }
        }
        builder.push(commit_id(git_dir, &id)?, time, parent_ids);
    }
    Ok(builder.finish())
}

/// Our plain id of a gix id (SHA-1 only; berth is built without SHA-256 support).
pub(crate) fn commit_id(git_dir: &std::path::Path, id: &gix::oid) -> Result<CommitId, Error> {
    let bytes: [u8; 20] = id.as_bytes().try_into().map_err(|_| {
        Error::read(
            git_dir,
            format!("object id {id}"),
            "only SHA-1 repositories are supported",
        )
    })?;
    Ok(CommitId(bytes))
}
