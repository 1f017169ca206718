//! Which refs the keep policies select, and which commits' images they keep.
//!
//! Selection follows werf (docs/werf-behaviour.md §4.4): per policy, the refs whose name
//! matches, limited by ref date (`limit`); a later policy overwrites an earlier one for the
//! same ref. The keep set is then found by one bounded walk per selected ref: newest commit
//! first (a heap on committer date), only into commits that have an image at or below them
//! (precomputed once per repository), and stopping as soon as `images_per_reference` cannot
//! admit anything older. Git tags look at their own commit only.

use std::collections::BinaryHeap;

use crate::git::{CommitGraph, GitFacts, GitRef, RefKind};
use crate::policy::{Limit, Policy, RefSelectorKind};

/// The policy that selected a ref, and how many of its images to keep.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Selected {
    /// Index into the configuration's policies.
    pub(super) policy: usize,
    /// Its `images_per_reference`.
    pub(super) images: Limit,
}

/// Per ref (same order as `refs`): the policy that selects it, if any.
pub(super) fn select(refs: &[GitRef], policies: &[Policy], now: i64) -> Vec<Option<Selected>> {
    let mut out = vec![None; refs.len()];
    for (pi, p) in policies.iter().enumerate() {
        let mut matching: Vec<usize> = refs
            .iter()
            .enumerate()
            .filter(|(_, r)| {
                let kind_fits = match r.kind {
                    RefKind::Branch | RefKind::PullRequest(_) => p.kind == RefSelectorKind::Branch,
                    RefKind::Tag => p.kind == RefSelectorKind::Tag,
                };
                kind_fits && p.pattern.matches(&r.name)
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

/// Why a commit's images are kept: the ref whose walk reached it, and its 1-based rank among
/// that ref's image commits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct KeptBy {
    pub(super) git_ref: u32,
    pub(super) rank: u32,
}

/// For every commit: kept by which ref, if any. `has_image[c]` says commit `c` has images in
/// this repository; `order` comes from [`parents_first`].
pub(super) fn keep_set(
    git: &GitFacts,
    selection: &[Option<Selected>],
    order: &[u32],
    has_image: &[bool],
    now: i64,
) -> Vec<Option<KeptBy>> {
    let graph = &git.commits;
    let n = graph.len();
    let mut kept: Vec<Option<KeptBy>> = vec![None; n];
    // reach[c]: c or an ancestor has an image; walks never enter commits without.
    let mut reach = vec![false; n];
    for &c in order {
        let c = c as usize;
        reach[c] = has_image[c] || graph.parents(c as u32).iter().any(|&p| reach[p as usize]);
    }
    // A visit stamp per commit instead of a fresh visited set per walk.
    let mut stamp = vec![0u32; n];
    let mut heap: BinaryHeap<(i64, u32)> = BinaryHeap::new();
    for (ri, (r, sel)) in git.refs.iter().zip(selection).enumerate() {
        let Some(sel) = sel else { continue };
        if sel.images.last == Some(0) || (r.tip as usize) >= n {
            continue;
        }
        let mut record = |c: u32, rank: usize| {
            kept[c as usize].get_or_insert(KeptBy {
                git_ref: ri as u32,
                rank: rank as u32,
            });
        };
        if r.kind == RefKind::Tag {
            // A git tag is scanned at depth 1: its own commit.
            if has_image[r.tip as usize] && sel.images.admits(1, now - graph.time(r.tip)) {
                record(r.tip, 1);
            }
            continue;
        }
        let walk = ri as u32 + 1;
        heap.clear();
        if reach[r.tip as usize] {
            stamp[r.tip as usize] = walk;
            heap.push((graph.time(r.tip), r.tip));
        }
        let mut found = 0usize;
        while let Some((time, c)) = heap.pop() {
            let age = now - time;
            if has_image[c as usize] {
                if !sel.images.admits(found + 1, age) {
                    break;
                }
                found += 1;
                record(c, found);
            } else if !sel.images.admits(found + 1, age) {
                break;
            }
            for &p in graph.parents(c) {
                if reach[p as usize] && stamp[p as usize] != walk {
                    stamp[p as usize] = walk;
                    heap.push((graph.time(p), p));
                }
            }
        }
    }
    kept
}
