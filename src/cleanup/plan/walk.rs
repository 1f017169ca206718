//! Which refs the keep policies select, and which images they keep.
//!
//! Selection follows werf (docs/werf-behaviour.md §4.4): per policy, the refs of its kind
//! whose name matches, limited by ref date (`limit`); a later policy overwrites an earlier one
//! for the same ref.
//!
//! Keeping counts **images**, as werf does: each image (a digest) is grouped under the newest
//! reached commit that carries it, so a digest reused by later commits counts once, and the
//! images whose newest commit is the same form one group. Groups are ranked by their commit's
//! committer date, newest first, and `images_per_reference` admits each by its rank and its own
//! commit's date. Dates need not decrease along history (rebases, cherry-picks, clock skew), so
//! the walk does not stop at the first old commit: it visits commits best-first by the newest
//! image date anywhere below them (precomputed once), and hands image commits to the ranking
//! in exact date order. It stops once the limit can admit nothing more. Git tags look at their
//! own commit only.

use std::cmp::Reverse;
use std::collections::BinaryHeap;

use super::graph::Node;
use crate::git::{CommitGraph, GitRef, RefKind};
use crate::policy::{Limit, Policy, RefSelectorKind};

/// The policy that selected a ref, and how many of its images to keep.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Selected {
    /// Index into the configuration's policies.
    pub(super) policy: usize,
    /// Its `images_per_reference`.
    pub(super) images: Limit,
}

/// Per ref (same order as `refs`): the policy that selects it, if any. `eligible[i]` is false
/// for refs no policy may select (pull requests whose state is unknown); `pr_branch[i]` is the
/// source branch of a pull request, which `pull_request:` selectors match besides its number.
pub(super) fn select(
    refs: &[GitRef],
    eligible: &[bool],
    pr_branch: &[Option<String>],
    policies: &[Policy],
    now: i64,
) -> Vec<Option<Selected>> {
    let mut out = vec![None; refs.len()];
    for (pi, p) in policies.iter().enumerate() {
        let mut matching: Vec<usize> = refs
            .iter()
            .enumerate()
            .filter(|&(i, r)| {
                eligible[i]
                    && match r.kind {
                        RefKind::Branch => p.kind == RefSelectorKind::Branch,
                        RefKind::Tag => p.kind == RefSelectorKind::Tag,
                        RefKind::PullRequest(_) => p.kind == RefSelectorKind::PullRequest,
                    }
                    && (p.pattern.matches(&r.name)
                        || pr_branch[i]
                            .as_deref()
                            .is_some_and(|b| p.pattern.matches(b)))
            })
            .map(|(i, _)| i)
            .collect();
        // Newest first; the name breaks ties so the choice does not depend on input order.
        matching.sort_by(|&a, &b| {
            refs[b]
                .date
                .cmp(&refs[a].date)
                .then_with(|| refs[a].name.cmp(&refs[b].name))
        });
        for (rank, &i) in matching.iter().enumerate() {
            if p.limit.admits(rank + 1, now - refs[i].date) {
                out[i] = Some(Selected {
                    policy: pi,
                    images: p.images_per_reference,
                });
            }
        }
    }
    out
}

/// Commit indices with every commit after all of its parents.
pub(super) fn parents_first(graph: &CommitGraph) -> Vec<u32> {
    let n = graph.len();
    let mut order = Vec::with_capacity(n);
    let mut state = vec![0u8; n]; // 0 new, 1 on stack, 2 done
    let mut stack: Vec<(u32, usize)> = Vec::new();
    for root in 0..n as u32 {
        if state[root as usize] != 0 {
            continue;
        }
        stack.push((root, 0));
        state[root as usize] = 1;
        while let Some(top) = stack.last_mut() {
            let (c, next) = *top;
            let parents = graph.parents(c);
            if next < parents.len() {
                top.1 += 1;
                let p = parents[next];
                if state[p as usize] == 0 {
                    state[p as usize] = 1;
                    stack.push((p, 0));
                }
            } else {
                state[c as usize] = 2;
                order.push(c);
                stack.pop();
            }
        }
    }
    order
}

/// The images (digest nodes) each commit carries: the digests of the tags and labels that
/// name it. Commit `c` carries `list[start[c]..start[c + 1]]`.
#[derive(Debug, Clone, Default)]
pub(super) struct CommitImages {
    start: Vec<u32>,
    list: Vec<Node>,
}

impl CommitImages {
    /// From `(commit, image)` pairs in any order, for `commits` commits.
    pub(super) fn new(commits: usize, mut pairs: Vec<(u32, Node)>) -> CommitImages {
        pairs.sort_unstable();
        pairs.dedup();
        let mut start = Vec::with_capacity(commits + 1);
        let mut k = 0;
        for c in 0..commits as u32 {
            start.push(k as u32);
            while k < pairs.len() && pairs[k].0 == c {
                k += 1;
            }
        }
        start.push(k as u32);
        CommitImages {
            start,
            list: pairs.into_iter().map(|(_, n)| n).collect(),
        }
    }

    pub(super) fn of(&self, c: u32) -> &[Node] {
        let c = c as usize;
        match (self.start.get(c), self.start.get(c + 1)) {
            (Some(&from), Some(&to)) => &self.list[from as usize..to as usize],
            _ => &[],
        }
    }
}

/// Why an image is kept: the ref whose policy kept it, its 1-based group rank among that
/// ref's images, and the commit it was grouped under (its newest commit the ref reaches).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct KeptBy {
    pub(super) git_ref: u32,
    pub(super) rank: u32,
    pub(super) commit: u32,
}

/// For every image node (`nodes` of them): kept by which ref, if any. `limits[r]` is the
/// `images_per_reference` of ref `r` when it is walked, `None` when it is not. The first ref
/// (in ref order) whose limit admits an image is in the first list; every further ref that
/// keeps it is in the second, so a reason can credit the ref a tag names.
pub(super) fn keep_set(
    graph: &CommitGraph,
    refs: &[GitRef],
    limits: &[Option<Limit>],
    order: &[u32],
    images: &CommitImages,
    nodes: usize,
    now: i64,
) -> (Vec<Option<KeptBy>>, Vec<(Node, KeptBy)>) {
    let n = graph.len();
    let mut kept: Vec<Option<KeptBy>> = vec![None; nodes];
    let mut also: Vec<(Node, KeptBy)> = Vec::new();
    // newest[c]: the newest committer date of an image commit at or below c; walks never
    // enter commits with none, and visit the others best-first by it.
    // `NONE` marks commits with no image at or below them.
    const NONE: i64 = i64::MIN;
    let mut newest: Vec<i64> = vec![NONE; n];
    for &c in order {
        let own = if images.of(c).is_empty() {
            NONE
        } else {
            graph.time(c)
        };
        newest[c as usize] = graph
            .parents(c)
            .iter()
            .map(|&p| newest[p as usize])
            .fold(own, i64::max);
    }
    // Visit stamps per commit and per image instead of fresh sets per walk.
    let mut visited = vec![0u32; n];
    let mut seen = vec![0u32; nodes];
    let mut frontier: BinaryHeap<(i64, u32)> = BinaryHeap::new();
    let mut ready: BinaryHeap<(i64, Reverse<u32>)> = BinaryHeap::new();
    for (ri, (r, limit)) in refs.iter().zip(limits).enumerate() {
        let Some(limit) = limit else { continue };
        if limit.last == Some(0) || (r.tip as usize) >= n {
            continue;
        }
        let walk = ri as u32 + 1;
        let mut groups = 0usize;
        // One image commit, in date order: its images not seen yet form the next group.
        let mut take = |c: u32,
                        kept: &mut [Option<KeptBy>],
                        also: &mut Vec<(Node, KeptBy)>,
                        seen: &mut [u32]|
         -> bool {
            let age = now - graph.time(c);
            let carried = images.of(c);
            if carried.iter().all(|&m| seen[m as usize] == walk) {
                // No new group, but if even the next one could not be admitted, stop.
                return limit.admits(groups + 1, age);
            }
            if !limit.admits(groups + 1, age) {
                return false;
            }
            groups += 1;
            for &m in carried {
                if std::mem::replace(&mut seen[m as usize], walk) == walk {
                    continue;
                }
                let by = KeptBy {
                    git_ref: ri as u32,
                    rank: groups as u32,
                    commit: c,
                };
                match kept[m as usize] {
                    None => kept[m as usize] = Some(by),
                    Some(_) => also.push((m, by)),
                }
            }
            true
        };
        if r.kind == RefKind::Tag {
            // A git tag is scanned at depth 1: its own commit.
            take(r.tip, &mut kept, &mut also, &mut seen);
            continue;
        }
        frontier.clear();
        ready.clear();
        if newest[r.tip as usize] != NONE {
            visited[r.tip as usize] = walk;
            frontier.push((newest[r.tip as usize], r.tip));
        }
        loop {
            // An image commit is next in date order once nothing left to visit can hold one as
            // new or newer (equal dates go by commit index, so the order is total).
            let ready_first = match (ready.peek(), frontier.peek()) {
                (Some(&(t, _)), Some(&(bound, _))) => t > bound,
                (Some(_), None) => true,
                (None, Some(_)) => false,
                (None, None) => break,
            };
            if ready_first {
                let (_, Reverse(c)) = ready.pop().expect("peeked");
                if !take(c, &mut kept, &mut also, &mut seen) {
                    break;
                }
                continue;
            }
            let (_, c) = frontier.pop().expect("peeked");
            if !images.of(c).is_empty() {
                ready.push((graph.time(c), Reverse(c)));
            }
            for &p in graph.parents(c) {
                let bound = newest[p as usize];
                if bound != NONE && visited[p as usize] != walk {
                    visited[p as usize] = walk;
                    frontier.push((bound, p));
                }
            }
        }
    }
    // By image, each image's keepers in ref order (a stable sort).
    also.sort_by_key(|&(m, _)| m);
    (kept, also)
}
