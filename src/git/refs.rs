//! Reading the live refs: remote-tracking branches of the remote (or local branches when the
//! repository has no such remote), tags peeled to commits with their dates, and pull/merge
//! request refs.

use gix::ObjectId;
use gix::prelude::Find;

use super::error::Error;
use super::facts::RefKind;
use super::remote::RefSet;

/// A ref before the history walk: its tip commit is known by id, its date only for annotated
/// tags (the others take their tip's committer date from the walk).
#[derive(Debug, Clone)]
pub(crate) struct RawRef {
    pub name: String,
    pub kind: RefKind,
    pub tip: ObjectId,
    pub tag_date: Option<i64>,
}

/// Which refs are branches: those of the remote, or the local ones.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum BranchSource<'a> {
    Remote(&'a str),
    Local,
}

/// What a full ref name means to berth, or `None` when it is not a live ref for it.
pub(crate) fn classify(full: &str, source: BranchSource<'_>) -> Option<(RefKind, String)> {
    if let Some(name) = full.strip_prefix("refs/tags/") {
        return Some((RefKind::Tag, name.to_string()));
    }
    if let Some(n) = pull_request(full) {
        return Some((RefKind::PullRequest(n), n.to_string()));
    }
    if let BranchSource::Remote(remote) = source {
        // Remote-tracking refs of a review system fetched into the remote's namespace
        // (`refs/remotes/origin/pull/7/head`) are pull requests, never branches.
        let rest = full
            .strip_prefix("refs/remotes/")
            .and_then(|r| r.strip_prefix(remote))
            .and_then(|r| r.strip_prefix('/'))?;
        if let Some(n) = pull_request(&format!("refs/{rest}")) {
            return Some((RefKind::PullRequest(n), n.to_string()));
        }
        // Their other refs (`pull/7/merge`, the test merge GitHub makes) are no branch either.
        if review_namespace(rest) {
            return None;
        }
        // `<remote>/HEAD` names the remote's default branch, which is listed on its own.
        if rest == "HEAD" || rest.is_empty() {
            return None;
        }
        return Some((RefKind::Branch, rest.to_string()));
    }
    full.strip_prefix("refs/heads/")
        .map(|name| (RefKind::Branch, name.to_string()))
}

/// The number of `refs/pull/N/head` (GitHub) or `refs/merge-requests/N/head` (GitLab).
pub(crate) fn pull_request(full: &str) -> Option<u64> {
    let rest = full
        .strip_prefix("refs/pull/")
        .or_else(|| full.strip_prefix("refs/merge-requests/"))?;
    let number = rest.strip_suffix("/head")?;
    if number.is_empty() || !number.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    number.parse().ok()
}

/// `pull/<N>/…` or `merge-requests/<N>/…`.
fn review_namespace(rest: &str) -> bool {
    let Some(tail) = rest
        .strip_prefix("pull/")
        .or_else(|| rest.strip_prefix("merge-requests/"))
    else {
        return false;
    };
    tail.split('/')
        .next()
        .is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
}

/// Calls `visit(full name, kind, short name, target)` for every ref berth treats as live, as
/// `classify` reads it; symbolic refs (other than `<remote>/HEAD`, already skipped by
/// `classify`) alias a ref listed anyway and are left out.
fn each_live_ref(
    repo: &gix::Repository,
    source: BranchSource<'_>,
    mut visit: impl FnMut(&str, RefKind, String, ObjectId) -> Result<(), Error>,
) -> Result<(), Error> {
    let git_dir = repo.git_dir().to_path_buf();
    let platform = repo
        .references()
        .map_err(|e| Error::read(&git_dir, "refs", e))?;
    let iter = platform
        .all()
        .map_err(|e| Error::read(&git_dir, "refs", e))?;
    for reference in iter {
        let reference = reference.map_err(|e| Error::read(&git_dir, "refs", e))?;
        let full = reference.name().as_bstr().to_string();
        let Some((kind, name)) = classify(&full, source) else {
            continue;
        };
        let Some(target) = reference.try_id().map(|id| id.detach()) else {
            continue;
        };
        visit(&full, kind, name, target)?;
    }
    Ok(())
}

/// All live refs of the repository, sorted by kind and name, duplicates (the same pull
/// request under two namespaces) removed.
pub(crate) fn read(repo: &gix::Repository, source: BranchSource<'_>) -> Result<Vec<RawRef>, Error> {
    let mut buf = Vec::new();
    let mut out = Vec::new();
    each_live_ref(repo, source, |full, kind, name, target| {
        match kind {
            RefKind::Tag => match peel_tag(repo, target, &mut buf)? {
                Some((tip, tag_date)) => out.push(RawRef {
                    name,
                    kind,
                    tip,
                    tag_date,
                }),
                None => {
                    tracing::debug!(tag = %full, "skipping a tag that does not point at a commit")
                }
            },
            _ => out.push(RawRef {
                name,
                kind,
                tip: target,
                tag_date: None,
            }),
        }
        Ok(())
    })?;
    out.sort_by(|a, b| sort_key(a).cmp(&sort_key(b)));
    out.dedup_by(|a, b| a.kind == b.kind && a.name == b.name);
    Ok(out)
}

/// The live refs by the names the remote has for them, at the object each ref names (tags
/// unpeeled), for the comparison with `git ls-remote`.
pub(crate) fn read_ids(repo: &gix::Repository, source: BranchSource<'_>) -> Result<RefSet, Error> {
    let mut set = RefSet::default();
    each_live_ref(repo, source, |full, kind, name, target| {
        let id = target.to_string();
        match kind {
            RefKind::Branch => set.insert(&format!("refs/heads/{name}"), id),
            RefKind::Tag => set.insert(full, id),
            RefKind::PullRequest(_) => {
                // `refs/remotes/<remote>/pull/N/head` is the remote's `refs/pull/N/head`.
                let remote_name = match source {
                    BranchSource::Remote(r) => full
                        .strip_prefix("refs/remotes/")
                        .and_then(|rest| rest.strip_prefix(r))
                        .and_then(|rest| rest.strip_prefix('/'))
                        .map(|rest| format!("refs/{rest}")),
                    BranchSource::Local => None,
                };
                set.insert(&remote_name.unwrap_or_else(|| full.to_string()), id);
            }
        }
        Ok(())
    })?;
    Ok(set)
}

fn sort_key(r: &RawRef) -> (u8, u64, &str) {
    match r.kind {
        RefKind::Branch => (0, 0, &r.name),
        RefKind::Tag => (1, 0, &r.name),
        RefKind::PullRequest(n) => (2, n, ""),
    }
}

/// Follows a tag ref to its commit. Returns the commit and, for an annotated tag, the tagger
/// date of the outermost tag object; `None` when it ends at a tree or blob.
fn peel_tag(
    repo: &gix::Repository,
    mut id: ObjectId,
    buf: &mut Vec<u8>,
) -> Result<Option<(ObjectId, Option<i64>)>, Error> {
    let git_dir = repo.git_dir();
    let mut tag_date = None;
    // Tags of tags are legal; a cycle is not possible with content addressing, but a corrupt
    // repository could still make this loop long, so it is bounded.
    for _ in 0..32 {
        let data = repo
            .objects
            .try_find(&id, buf)
            .map_err(|e| Error::read(git_dir, format!("object {id}"), e))?
            .ok_or_else(|| Error::read(git_dir, format!("object {id}"), "the object is missing"))?;
        match data.kind {
            gix::object::Kind::Commit => return Ok(Some((id, tag_date))),
            gix::object::Kind::Tag => {
                let tag = gix::objs::TagRef::from_bytes(data.data, repo.object_hash())
                    .map_err(|e| Error::read(git_dir, format!("tag object {id}"), e))?;
                if tag_date.is_none() {
                    tag_date = match tag.tagger() {
                        Ok(Some(sig)) => sig.time().ok().map(|t| t.seconds),
                        _ => None,
                    };
                }
                id = tag.target();
            }
            _ => return Ok(None),
        }
    }
    Ok(None)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn remote_branches_skip_head_and_other_remotes() {
        let src = BranchSource::Remote("origin");
        assert_eq!(
            classify("refs/remotes/origin/feature/x", src),
            Some((RefKind::Branch, "feature/x".into()))
        );
        assert_eq!(classify("refs/remotes/origin/HEAD", src), None);
        assert_eq!(classify("refs/remotes/upstream/main", src), None);
        assert_eq!(classify("refs/remotes/originx/main", src), None);
        assert_eq!(classify("refs/heads/main", src), None);
        assert_eq!(classify("refs/stash", src), None);
    }

    #[test]
    fn local_branches_when_no_remote() {
        let src = BranchSource::Local;
        assert_eq!(
            classify("refs/heads/main", src),
            Some((RefKind::Branch, "main".into()))
        );
        assert_eq!(classify("refs/remotes/origin/main", src), None);
    }

    #[test]
    fn tags_and_pull_requests() {
        let src = BranchSource::Remote("origin");
        assert_eq!(
            classify("refs/tags/v1.2.0", src),
            Some((RefKind::Tag, "v1.2.0".into()))
        );
        assert_eq!(
            classify("refs/pull/42/head", src),
            Some((RefKind::PullRequest(42), "42".into()))
        );
        assert_eq!(
            classify("refs/merge-requests/7/head", src),
            Some((RefKind::PullRequest(7), "7".into()))
        );
        assert_eq!(
            classify("refs/remotes/origin/pull/9/head", src),
            Some((RefKind::PullRequest(9), "9".into()))
        );
        // The merge ref of a pull request is not its head.
        assert_eq!(classify("refs/pull/42/merge", src), None);
        assert_eq!(classify("refs/pull/x/head", src), None);
        assert_eq!(classify("refs/remotes/origin/pull/9/merge", src), None);
        assert_eq!(
            classify("refs/remotes/origin/pull/request-form", src),
            Some((RefKind::Branch, "pull/request-form".into()))
        );
    }
}
