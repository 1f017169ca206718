//! The history walk: ONE traversal from all ref tips at once (not one per ref or per tag),
//! reading each commit's committer time and parents from the commit-graph file when it has
//! the commit and from the object database otherwise, into a [`CommitGraph`].
//!
//! The planner walks each ref newest-first over that graph itself, so the walk here needs
//! no ordering: a depth-first stack visits each commit exactly once. Commits the file has are
//! followed by their position in it (parents come as positions, a bit marks them seen), so
//! the common case costs no id lookup and no object decoding.

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
    // Commits in the commit-graph file are tracked by position (a bit each, and their parents
    // come as positions: no id lookup); the others, newer than the file, by id.
    let mut seen_in_file = vec![false; cache.as_ref().map_or(0, |g| g.num_commits() as usize)];
    let mut seen_ids: HashSet<ObjectId> = HashSet::default();
    let mut stack: Vec<Next> = tips.iter().map(|&id| Next::Id(id)).collect();
    let mut buf = Vec::new();
    let mut parents: Vec<ObjectId> = Vec::with_capacity(4);
    // Reused for every commit: the builder copies the ids into its own flat list.
    let mut parent_ids: Vec<CommitId> = Vec::with_capacity(4);
    while let Some(next) = stack.pop() {
        let (id, pos) = match next {
            Next::Pos(pos) => (None, Some(pos)),
            Next::Id(id) => match cache.as_ref().and_then(|g| g.lookup(id)) {
                Some(pos) => (None, Some(pos)),
                None => (Some(id), None),
            },
        };
        if let (Some(pos), Some(graph)) = (pos, cache.as_ref()) {
            let slot = &mut seen_in_file[pos.0 as usize];
            if *slot {
                continue;
            }
            *slot = true;
            let commit = graph.commit_at(pos);
            let own = commit_id(git_dir, commit.id())?;
            if shallow.contains(commit.id()) {
                // git pretends a boundary commit has no parents; so do we.
                builder.push(own, commit.committer_timestamp() as i64, []);
                continue;
            }
            for parent in commit.iter_parents() {
                let parent =
                    parent.map_err(|e| Error::read(git_dir, "the commit-graph file", e))?;
                parent_ids.push(commit_id(git_dir, graph.id_at(parent))?);
                if !seen_in_file[parent.0 as usize] {
                    stack.push(Next::Pos(parent));
                }
            }
            builder.push(
                own,
                commit.committer_timestamp() as i64,
                parent_ids.drain(..),
            );
            continue;
        }
        let id = id.expect("not in the commit-graph file");
        if !seen_ids.insert(id) {
            continue;
        }
        let Some(data) = repo
            .objects
            .try_find(&id, &mut buf)
            .map_err(|e| Error::read(git_dir, format!("commit {id}"), e))?
        else {
            // A damaged repository, or an extra tip the clone never fetched: left out.
            tracing::debug!(commit = %id, "commit object missing; left out of the history");
            continue;
        };
        if data.kind != gix::object::Kind::Commit {
            tracing::debug!(object = %id, kind = %data.kind, "ref points at a non-commit; skipped");
            continue;
        }
        let commit = gix::objs::CommitRef::from_bytes(data.data, repo.object_hash())
            .map_err(|e| Error::read(git_dir, format!("commit {id}"), e))?;
        parents.clear();
        if !shallow.contains(&id) {
            parents.extend(commit.parents());
        }
        let time = commit
            .time()
            .map_err(|e| Error::read(git_dir, format!("the committer date of {id}"), e))?
            .seconds;
        for parent in &parents {
            parent_ids.push(commit_id(git_dir, parent)?);
            stack.push(Next::Id(*parent));
        }
        builder.push(commit_id(git_dir, &id)?, time, parent_ids.drain(..));
    }
    Ok(builder.finish())
}

/// The next commit to visit: by position in the commit-graph file, or by id.
enum Next {
    Pos(gix::commitgraph::Position),
    Id(ObjectId),
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
