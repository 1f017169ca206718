//! Plain data the git adapter hands to the planner: refs and a compact commit graph.
//! No gix types here; `cleanup::plan` and `policy` depend on this module only.

use std::fmt;

use serde::{Deserialize, Serialize};

/// A commit id (SHA-1, 20 bytes).
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct CommitId(pub [u8; 20]);

impl CommitId {
    /// Parses 40 hex digits (either case).
    pub fn from_hex(text: &str) -> Option<CommitId> {
        let mut out = [0u8; 20];
        hex::decode_to_slice(text, &mut out).ok()?;
        Some(CommitId(out))
    }

    /// The 40 lowercase hex digits.
    pub fn to_hex(&self) -> String {
        let mut out = [0u8; 40];
        hex::encode_to_slice(self.0, &mut out).expect("40 digits for 20 bytes");
        String::from_utf8(out.to_vec()).expect("hex digits are ASCII")
    }

    /// The first 7 hex digits, for humans.
    pub fn short(&self) -> String {
        let mut out = [0u8; 8];
        hex::encode_to_slice(&self.0[..4], &mut out).expect("8 digits for 4 bytes");
        String::from_utf8(out[..7].to_vec()).expect("hex digits are ASCII")
    }
}

impl fmt::Display for CommitId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_hex())
    }
}

impl fmt::Debug for CommitId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "CommitId({})", self.short())
    }
}

impl Serialize for CommitId {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_hex())
    }
}

impl<'de> Deserialize<'de> for CommitId {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        CommitId::from_hex(&s)
            .ok_or_else(|| serde::de::Error::custom(format!("`{s}` is not a 40-hex commit id")))
    }
}

/// What kind of ref.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "kind", content = "number")]
pub enum RefKind {
    /// A branch (remote-tracking branch of the configured remote, or a local branch when the
    /// repository has no such remote).
    Branch,
    /// A git tag (lightweight or annotated, peeled to its commit).
    Tag,
    /// An open pull / merge request (`refs/pull/N/head`, `refs/merge-requests/N/head`).
    PullRequest(u64),
}

/// A live ref.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GitRef {
    /// Short name as users write it: `main`, `feature/x`, `v1.2.0`, or the PR number.
    pub name: String,
    /// Branch, tag or pull request.
    pub kind: RefKind,
    /// Index of the tip commit in [`GitFacts::commits`].
    pub tip: u32,
    /// Unix seconds: committer date of the tip; for annotated tags the tagger date.
    pub date: i64,
}

/// Everything the planner needs to know about the repository.
#[derive(Debug, Clone)]
pub struct GitFacts {
    /// The live refs.
    pub refs: Vec<GitRef>,
    /// Every commit reachable from the refs (and from the extra tips the facts were read with).
    pub commits: CommitGraph,
    /// The clone is shallow (history incomplete): nothing may be judged from it.
    pub shallow: bool,
    /// Whether the branches and tags were checked against the remote's.
    pub remote: RemoteState,
    /// Every pull/merge request head the remote lists (`refs/pull/N/head`,
    /// `refs/merge-requests/N/head`) is in the clone at the same commit. When false, a pull
    /// request's commits may be missing from [`GitFacts::commits`]: not reaching a commit
    /// through a pull request proves nothing then.
    pub pull_refs_complete: bool,
}

impl Default for GitFacts {
    /// No refs, and the state of a repository without a remote: what it has is all there is.
    fn default() -> Self {
        GitFacts {
            refs: Vec::new(),
            commits: CommitGraph::default(),
            shallow: false,
            remote: RemoteState::NoRemote,
            pull_refs_complete: true,
        }
    }
}

impl GitFacts {
    /// These facts with the result of [`crate::git::Repo::ensure_complete`], read before them.
    pub fn with_completeness(self, completeness: Completeness) -> GitFacts {
        GitFacts {
            remote: completeness.remote,
            pull_refs_complete: completeness.pull_refs_complete,
            ..self
        }
    }
}

/// What berth knows about the remote's branches and tags.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "state")]
pub enum RemoteState {
    /// `git ls-remote` listed the remote's refs and the clone has every branch and tag at the
    /// same object, and no branch or tag the remote has dropped.
    Verified {
        /// The remote's name (`--remote`).
        name: String,
        /// Its fetch URL, user and password masked.
        url: String,
        /// berth fetched to get there.
        fetched: bool,
    },
    /// The repository has no remote of that name: its local branches and tags are judged as
    /// they are.
    NoRemote,
    /// The remote exists but was not compared (`--no-remote-check`): the clone is judged as
    /// it is, even if it lacks branches or tags the remote has.
    Unchecked {
        /// The remote's name.
        name: String,
    },
}

/// The outcome of [`crate::git::Repo::ensure_complete`], for [`GitFacts::with_completeness`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Completeness {
    /// See [`GitFacts::remote`].
    pub remote: RemoteState,
    /// See [`GitFacts::pull_refs_complete`].
    pub pull_refs_complete: bool,
}

/// The answer to a short-SHA lookup.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PrefixMatch {
    /// No reachable commit starts with the prefix.
    None,
    /// Exactly one: its index.
    One(u32),
    /// More than one reachable commit starts with the prefix.
    Ambiguous,
}

/// Reachable commits as a compact graph: index `i` has `ids[i]`, `times[i]` (committer date,
/// unix seconds) and parents `parents(i)` (indices; parents outside the walk, e.g. beyond a
/// shallow boundary, are left out).
#[derive(Debug, Clone, Default)]
pub struct CommitGraph {
    ids: Vec<CommitId>,
    times: Vec<i64>,
    parent_start: Vec<u32>,
    parent_list: Vec<u32>,
    index: IdIndex,
}

/// The ids in byte order with their commit indices; `bucket[b]..bucket[b + 1]` are the ones
/// whose first two bytes are `b`. A lookup, of a full id or of a prefix (4 digits at least,
/// so two whole bytes), searches a handful of neighbouring ids; SHA-1 spreads 100,000
/// commits at about 1.5 per bucket.
#[derive(Debug, Clone, Default)]
struct IdIndex {
    sorted_ids: Vec<CommitId>,
    sorted_index: Vec<u32>,
    bucket: Vec<u32>,
}

/// The bucket of an id, or of a prefix padded to 20 bytes: its first two bytes.
fn bucket_of(bytes: &[u8; 20]) -> usize {
    usize::from(u16::from_be_bytes([bytes[0], bytes[1]]))
}

impl IdIndex {
    /// Sorts `ids` (a counting sort on the first two bytes, then each small bucket).
    /// Equal ids stay in index order.
    fn new(ids: &[CommitId]) -> IdIndex {
        let mut bucket = vec![0u32; (1 << 16) + 1];
        for id in ids {
            bucket[bucket_of(&id.0) + 1] += 1;
        }
        for b in 1..bucket.len() {
            bucket[b] += bucket[b - 1];
        }
        let mut next = bucket.clone();
        let mut order = vec![(CommitId([0; 20]), 0u32); ids.len()];
        for (i, id) in ids.iter().enumerate() {
            let slot = &mut next[bucket_of(&id.0)];
            order[*slot as usize] = (*id, i as u32);
            *slot += 1;
        }
        for b in 0..1 << 16 {
            let run = &mut order[bucket[b] as usize..bucket[b + 1] as usize];
            if run.len() > 1 {
                run.sort_unstable();
            }
        }
        let (sorted_ids, sorted_index) = order.into_iter().unzip();
        IdIndex {
            sorted_ids,
            sorted_index,
            bucket,
        }
    }

    /// The sorted ids whose first two bytes are those of `key`, and where they start.
    fn near(&self, key: &[u8; 20]) -> (usize, &[CommitId]) {
        let b = bucket_of(key);
        // An empty (default) graph has no buckets.
        match (self.bucket.get(b), self.bucket.get(b + 1)) {
            (Some(&from), Some(&to)) => {
                (from as usize, &self.sorted_ids[from as usize..to as usize])
            }
            _ => (0, &[]),
        }
    }

    fn find(&self, id: &CommitId) -> Option<u32> {
        let (from, ids) = self.near(&id.0);
        let at = ids.partition_point(|x| x < id);
        (ids.get(at) == Some(id)).then(|| self.sorted_index[from + at])
    }
}

impl CommitGraph {
    /// Number of commits.
    pub fn len(&self) -> usize {
        self.ids.len()
    }

    /// True when there are no commits.
    pub fn is_empty(&self) -> bool {
        self.ids.is_empty()
    }

    /// The id of commit `i`.
    pub fn id(&self, i: u32) -> CommitId {
        self.ids[i as usize]
    }

    /// The committer date of commit `i` (unix seconds).
    pub fn time(&self, i: u32) -> i64 {
        self.times[i as usize]
    }

    /// The parents of commit `i`.
    pub fn parents(&self, i: u32) -> &[u32] {
        let start = self.parent_start[i as usize] as usize;
        let end = self
            .parent_start
            .get(i as usize + 1)
            .map_or(self.parent_list.len(), |&e| e as usize);
        &self.parent_list[start..end]
    }

    /// The index of a full commit id.
    pub fn find(&self, id: &CommitId) -> Option<u32> {
        self.index.find(id)
    }

    /// Looks up a hex prefix (4 to 40 digits, either case) among the reachable commits.
    pub fn find_prefix(&self, prefix: &str) -> PrefixMatch {
        if prefix.len() < 4 || prefix.len() > 40 || !prefix.bytes().all(|b| b.is_ascii_hexdigit()) {
            return PrefixMatch::None;
        }
        // The ids starting with the prefix are exactly those between the prefix padded with
        // 0 nibbles and the prefix padded with f nibbles (for 40 digits, the id itself): two
        // byte comparisons per probe, no hex formatting. Tags come in name order, so lookups
        // walk the sorted ids in order too.
        let mut low = [0u8; 20];
        let mut high = [0xffu8; 20];
        for (k, digit) in prefix.bytes().enumerate() {
            let nibble = (digit as char).to_digit(16).expect("checked hex above") as u8;
            let shift = if k % 2 == 0 { 4 } else { 0 };
            low[k / 2] = (low[k / 2] & !(0xf << shift)) | (nibble << shift);
            high[k / 2] = (high[k / 2] & !(0xf << shift)) | (nibble << shift);
        }
        let (from, ids) = self.index.near(&low);
        let start = ids.partition_point(|id| id.0 < low);
        let matches = |k: usize| ids.get(k).is_some_and(|id| id.0 <= high);
        match (matches(start), matches(start + 1)) {
            (false, _) => PrefixMatch::None,
            (true, false) => PrefixMatch::One(self.index.sorted_index[from + start]),
            (true, true) => PrefixMatch::Ambiguous,
        }
    }
}

/// Builds a [`CommitGraph`] from commits given in any order with their parent ids.
#[derive(Debug, Default)]
pub struct CommitGraphBuilder {
    ids: Vec<CommitId>,
    times: Vec<i64>,
    // Parents of commit k are `parent_ids[parent_end[k-1]..parent_end[k]]`: one allocation
    // for all of them instead of one per commit.
    parent_ids: Vec<CommitId>,
    parent_end: Vec<u32>,
}

impl CommitGraphBuilder {
    /// An empty builder with room for `capacity` commits.
    pub fn with_capacity(capacity: usize) -> Self {
        CommitGraphBuilder {
            ids: Vec::with_capacity(capacity),
            times: Vec::with_capacity(capacity),
            parent_ids: Vec::with_capacity(capacity + capacity / 8),
            parent_end: Vec::with_capacity(capacity),
        }
    }

    /// Adds one commit. Adding the same id twice keeps the first.
    pub fn push(&mut self, id: CommitId, time: i64, parents: impl IntoIterator<Item = CommitId>) {
        self.ids.push(id);
        self.times.push(time);
        self.parent_ids.extend(parents);
        self.parent_end.push(self.parent_ids.len() as u32);
    }

    /// The finished graph; parents that were never pushed are dropped.
    pub fn finish(self) -> CommitGraph {
        let index = IdIndex::new(&self.ids);
        // Equal ids sit side by side, the first pushed first: drop the later ones.
        let repeated: Vec<u32> = index
            .sorted_ids
            .windows(2)
            .zip(index.sorted_index.iter().skip(1))
            .filter(|(pair, _)| pair[0] == pair[1])
            .map(|(_, &i)| i)
            .collect();
        if !repeated.is_empty() {
            return self.without(&repeated).finish();
        }
        let mut parent_start = Vec::with_capacity(self.ids.len());
        let mut parent_list = Vec::with_capacity(self.parent_ids.len());
        for parents in self.parent_runs() {
            parent_start.push(parent_list.len() as u32);
            parent_list.extend(parents.iter().filter_map(|p| index.find(p)));
        }
        CommitGraph {
            ids: self.ids,
            times: self.times,
            parent_start,
            parent_list,
            index,
        }
    }

    /// This builder without the commits pushed at the positions in `drop`.
    fn without(self, drop: &[u32]) -> CommitGraphBuilder {
        let mut gone = vec![false; self.ids.len()];
        for &i in drop {
            gone[i as usize] = true;
        }
        let mut kept = CommitGraphBuilder::with_capacity(self.ids.len() - drop.len());
        for (i, parents) in self.parent_runs().enumerate() {
            if !gone[i] {
                kept.push(self.ids[i], self.times[i], parents.iter().copied());
            }
        }
        kept
    }

    /// The parent ids of each pushed commit, in push order.
    fn parent_runs(&self) -> impl Iterator<Item = &[CommitId]> {
        let starts = std::iter::once(0).chain(self.parent_end.iter().map(|&end| end as usize));
        starts
            .zip(&self.parent_end)
            .map(|(start, &end)| &self.parent_ids[start..end as usize])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(hex_prefix: &str) -> CommitId {
        CommitId::from_hex(&format!("{hex_prefix:0<40}")).unwrap()
    }

    #[test]
    fn graph_links_parents_and_drops_unknown_ones() {
        let mut b = CommitGraphBuilder::default();
        b.push(id("cc"), 3, vec![id("bb"), id("ee")]);
        b.push(id("bb"), 2, vec![id("aa")]);
        b.push(id("aa"), 1, vec![]);
        let g = b.finish();
        assert_eq!(g.len(), 3);
        let c = g.find(&id("cc")).unwrap();
        assert_eq!(g.parents(c), &[g.find(&id("bb")).unwrap()]);
        assert_eq!(g.parents(g.find(&id("aa")).unwrap()), &[] as &[u32]);
    }

    #[test]
    fn builder_keeps_the_first_of_duplicate_ids() {
        let mut b = CommitGraphBuilder::with_capacity(3);
        b.push(id("aa"), 1, vec![]);
        b.push(id("bb"), 2, vec![id("aa")]);
        b.push(id("aa"), 9, vec![id("bb")]);
        let g = b.finish();
        assert_eq!(g.len(), 2);
        let a = g.find(&id("aa")).unwrap();
        assert_eq!(g.time(a), 1);
        assert!(g.parents(a).is_empty());
        assert_eq!(g.parents(g.find(&id("bb")).unwrap()), &[a]);
    }

    #[test]
    fn prefix_lookup_detects_ambiguity() {
        let mut b = CommitGraphBuilder::default();
        b.push(id("abcd1"), 1, vec![]);
        b.push(id("abcd2"), 1, vec![]);
        b.push(id("ffff"), 1, vec![]);
        let g = b.finish();
        assert_eq!(g.find_prefix("abcd"), PrefixMatch::Ambiguous);
        assert_eq!(
            g.find_prefix("ABCD1"),
            PrefixMatch::One(g.find(&id("abcd1")).unwrap())
        );
        assert_eq!(g.find_prefix("1234"), PrefixMatch::None);
        assert_eq!(
            g.find_prefix("ffff000"),
            PrefixMatch::One(g.find(&id("ffff")).unwrap())
        );
        // Odd lengths compare the last half byte; neighbours on either side do not match.
        assert_eq!(g.find_prefix("abcd3"), PrefixMatch::None);
        assert_eq!(g.find_prefix("abcd0"), PrefixMatch::None);
        assert_eq!(g.find_prefix("fffff"), PrefixMatch::None);
        assert_eq!(g.find_prefix("abcd"), PrefixMatch::Ambiguous);
        assert_eq!(
            g.find_prefix(&id("abcd1").to_hex()),
            PrefixMatch::One(g.find(&id("abcd1")).unwrap())
        );
        assert_eq!(g.find_prefix(&id("abcd3").to_hex()), PrefixMatch::None);
        assert_eq!(
            CommitGraph::default().find_prefix("abcd"),
            PrefixMatch::None
        );
    }

    #[test]
    fn prefix_lookup_agrees_with_string_prefixes() {
        let mut b = CommitGraphBuilder::default();
        let mut state = 0x2545_f491_4f6c_dd1d_u64;
        let mut ids = Vec::new();
        for _ in 0..300 {
            let mut bytes = [0u8; 20];
            for byte in &mut bytes {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                // Few distinct high bytes, so prefixes are shared often.
                *byte = (state % 7) as u8 * 0x11;
            }
            ids.push(CommitId(bytes));
            b.push(CommitId(bytes), 0, vec![]);
        }
        let g = b.finish();
        for probe in ids.iter().take(60) {
            let hex = probe.to_hex();
            for len in (4..=12).chain([39, 40]) {
                let prefix = &hex[..len];
                let hits: std::collections::BTreeSet<_> = ids
                    .iter()
                    .filter(|i| i.to_hex().starts_with(prefix))
                    .collect();
                let expected = match hits.len() {
                    0 => PrefixMatch::None,
                    1 => PrefixMatch::One(g.find(hits.first().unwrap()).unwrap()),
                    _ => PrefixMatch::Ambiguous,
                };
                assert_eq!(g.find_prefix(prefix), expected, "prefix {prefix}");
            }
        }
    }
}
