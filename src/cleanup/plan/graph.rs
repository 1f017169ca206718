//! Questions about one repository's manifest graph: which image manifests sit under a digest,
//! what their labels and build times say, and which manifests hang off a digest (children at
//! any depth, referrers). Every answer that lacks a config records the config it needed, so
//! [`super::configs_needed`] asks for exactly those.
//!
//! Every digest the repository mentions (manifests, index children, referrers, tags) is
//! numbered once, when the graph is built: the planner's sets and walks then index plain
//! vectors by [`Node`] instead of hashing and comparing 71-byte digest strings again and
//! again, which dominated the planner at 100,000 tags.

use std::collections::BTreeSet;
use std::sync::Mutex;

use std::hash::BuildHasher;

use chrono::{DateTime, Utc};
use hashbrown::HashTable;
use hashbrown::hash_table::Entry;
use rustc_hash::{FxBuildHasher, FxHashSet};

use super::{ManifestFacts, RepoScan, par};
use crate::registry::model::media_type;
use crate::registry::{Digest, ImageConfig};

/// The hash the node table files a digest under.
fn hash(d: &Digest) -> u64 {
    FxBuildHasher.hash_one(d)
}

/// The earliest `created` taken as a real build time. Reproducible builds (ko, Jib, Bazel, nix,
/// `SOURCE_DATE_EPOCH=0`) write the epoch or a date near it; before 1980 it is unknown.
const EARLIEST_BUILD: i64 = 315_532_800; // 1980-01-01T00:00:00Z

/// An image's build time from its config, or `None` when it is missing or not believable.
fn build_time(config: &ImageConfig) -> Option<DateTime<Utc>> {
    believable(config.created)
}

/// A time from before [`EARLIEST_BUILD`] is no evidence of age: a provider that copies the
/// config's `created` into its listing passes the epoch on.
fn believable(time: Option<DateTime<Utc>>) -> Option<DateTime<Utc>> {
    time.filter(|t| t.timestamp() >= EARLIEST_BUILD)
}

/// A digest of one repository, numbered by [`Graph::new`].
pub(super) type Node = u32;

/// A fact the planner could not establish; the tag is kept and this says why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Missing {
    /// The manifest was not read at all.
    NotRead(Digest),
    /// Reading the manifest or its config failed.
    Failed(Digest, String),
    /// The config has not been read (yet).
    ConfigNotRead(Digest),
}

impl Missing {
    pub(super) fn describe(&self) -> String {
        match self {
            Missing::NotRead(d) => format!("manifest {} was not read", d.short()),
            Missing::Failed(d, e) => format!("reading {} failed: {e}", d.short()),
            Missing::ConfigNotRead(d) => format!("the config of {} was not read", d.short()),
        }
    }
}

/// What the image configs under a digest say about one label.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum LabelValue {
    /// No image under the digest carries it.
    Absent,
    /// Every image that carries it agrees.
    One(String),
    /// Images disagree (e.g. platforms built from different commits).
    Conflict(Vec<String>),
}

/// Edges of one kind (index children, or referrers) for every node: the targets of node `n`
/// are `list[start[n]..start[n + 1]]`; nodes past `start` have none.
#[derive(Default)]
struct Edges {
    start: Vec<u32>,
    list: Vec<Node>,
}

impl Edges {
    fn of(&self, n: Node) -> &[Node] {
        let n = n as usize;
        match (self.start.get(n), self.start.get(n + 1)) {
            (Some(&from), Some(&to)) => &self.list[from as usize..to as usize],
            _ => &[],
        }
    }
}

/// What the planner asks of nearly every tag, copied out of the manifests when the graph is
/// built: the answer then comes from one small vector rather than from a manifest somewhere
/// in a large map.
#[derive(Debug, Clone, Copy)]
enum Quick {
    /// Anything but a plain image with its config read: ask the manifests.
    Ask,
    /// A plain image, read without error, with its config: its build time.
    Image(Option<DateTime<Utc>>),
}

/// The manifest graph of one repository, recording configs it needed but did not have.
pub(super) struct Graph<'a> {
    /// Node numbers filed by the hash of their digest: four bytes a slot, so the table stays
    /// in cache; digests are hashed and looked up on every core.
    numbers: HashTable<Node>,
    digests: Vec<&'a Digest>,
    /// What the scan read about each node; `None` for a digest it did not read.
    facts: Vec<Option<&'a ManifestFacts>>,
    quick: Vec<Quick>,
    children: Edges,
    referrers: Edges,
    /// Per tag of the scan (same order): its node, or why the tag did not resolve.
    tags: Vec<Result<Node, &'a str>>,
    /// Image manifests whose config an answer needed and did not have. Behind a lock because
    /// tags are judged on several threads; it is rarely touched.
    needs: Mutex<BTreeSet<Digest>>,
}

impl<'a> Graph<'a> {
    pub(super) fn new(scan: &'a RepoScan) -> Self {
        let capacity = scan.manifests.len() + scan.tags.len() / 8;
        let mut graph = Graph {
            numbers: HashTable::with_capacity(capacity),
            digests: Vec::with_capacity(capacity),
            facts: Vec::with_capacity(capacity),
            quick: Vec::with_capacity(capacity),
            children: Edges::default(),
            referrers: Edges::default(),
            tags: Vec::with_capacity(scan.tags.len()),
            needs: Mutex::new(BTreeSet::new()),
        };
        // Read manifests first, so their nodes are 0..manifests.len() and edges index them.
        // Hashing their digests and the quick answers read every manifest once, scattered in
        // memory: that runs on every core, and the table is then filled in order.
        let manifests: Vec<(&Digest, &ManifestFacts)> = scan.manifests.iter().collect();
        let prepared = par::map(manifests.clone(), |_, (d, f)| {
            let quick = match (&f.error, &f.config) {
                (None, Some(config)) if !media_type::is_index(&f.media_type) => {
                    Quick::Image(build_time(config).or(believable(f.pushed)))
                }
                _ => Quick::Ask,
            };
            (hash(d), quick)
        });
        for ((d, f), (h, quick)) in manifests.into_iter().zip(prepared) {
            // The keys of a map: each digest once, so no lookup before the insert.
            let n = graph.digests.len() as Node;
            let digests = &graph.digests;
            graph
                .numbers
                .insert_unique(h, n, |&m| hash(digests[m as usize]));
            graph.digests.push(d);
            graph.facts.push(Some(f));
            graph.quick.push(quick);
        }
        graph.children = graph.number_edges(|f| &f.children);
        graph.referrers = graph.number_edges(|f| &f.referrers);
        // Tags point at read manifests almost always: look them up on every core, and number
        // only the few digests that were not read.
        let found = par::map(scan.tags.iter().collect(), |_, t| {
            t.digest.as_ref().ok().and_then(|d| graph.node(d))
        });
        for (t, found) in scan.tags.iter().zip(found) {
            let n = match (&t.digest, found) {
                (Ok(_), Some(n)) => Ok(n),
                (Ok(d), None) => Ok(graph.number(d)),
                (Err(e), _) => Err(e.as_str()),
            };
            graph.tags.push(n);
        }
        graph
    }

    /// The edges `pick` gives for each read manifest (the first nodes), their targets
    /// numbered.
    fn number_edges(&mut self, pick: impl Fn(&'a ManifestFacts) -> &'a [Digest]) -> Edges {
        let read: Vec<&'a ManifestFacts> = self.facts.iter().map_while(|f| *f).collect();
        let mut edges = Edges {
            start: Vec::with_capacity(read.len() + 1),
            list: Vec::new(),
        };
        edges.start.push(0);
        for f in read {
            for d in pick(f) {
                let target = self.number(d);
                edges.list.push(target);
            }
            edges.start.push(edges.list.len() as u32);
        }
        edges
    }

    /// The node of `d`, numbering it if it is new.
    fn number(&mut self, d: &'a Digest) -> Node {
        let digests = &self.digests;
        match self.numbers.entry(
            hash(d),
            |&n| digests[n as usize] == d,
            |&n| hash(digests[n as usize]),
        ) {
            Entry::Occupied(found) => *found.get(),
            Entry::Vacant(slot) => {
                let n = self.digests.len() as Node;
                slot.insert(n);
                self.digests.push(d);
                self.facts.push(None);
                self.quick.push(Quick::Ask);
                n
            }
        }
    }

    /// The image manifests whose config some answer needed and did not have.
    pub(super) fn into_needs(self) -> BTreeSet<Digest> {
        self.needs
            .into_inner()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// How many nodes there are: the size of a per-node vector.
    pub(super) fn len(&self) -> usize {
        self.digests.len()
    }

    /// The node of the scan's tag number `i`, or why it did not resolve.
    pub(super) fn tag(&self, i: usize) -> Result<Node, &'a str> {
        self.tags[i]
    }

    /// The node of `d`, when the repository mentions it.
    pub(super) fn node(&self, d: &Digest) -> Option<Node> {
        self.numbers
            .find(hash(d), |&n| self.digests[n as usize] == d)
            .copied()
    }

    /// The digest of node `n`.
    pub(super) fn digest(&self, n: Node) -> &'a Digest {
        self.digests[n as usize]
    }

    /// The manifest at `n`, read without error.
    fn read(&self, n: Node) -> Result<&'a ManifestFacts, Missing> {
        let f = self.facts[n as usize].ok_or_else(|| Missing::NotRead(self.digest(n).clone()))?;
        match &f.error {
            Some(e) => Err(Missing::Failed(self.digest(n).clone(), e.clone())),
            None => Ok(f),
        }
    }

    /// Calls `visit` for each image manifest at `n`: itself, or for an index its non-index
    /// descendants.
    fn each_image(
        &self,
        n: Node,
        mut visit: impl FnMut(Node, &'a ManifestFacts),
    ) -> Result<(), Missing> {
        let f = self.read(n)?;
        // Most digests are plain images: answer those without a visited set.
        if !media_type::is_index(&f.media_type) {
            visit(n, f);
            return Ok(());
        }
        let mut seen = FxHashSet::default();
        let mut stack = vec![n];
        while let Some(cur) = stack.pop() {
            if !seen.insert(cur) {
                continue;
            }
            let f = self.read(cur)?;
            if media_type::is_index(&f.media_type) {
                stack.extend_from_slice(self.children.of(cur));
            } else {
                visit(cur, f);
            }
        }
        Ok(())
    }

    /// Whether every manifest at `n` was read without error.
    pub(super) fn readable(&self, n: Node) -> Result<(), Missing> {
        if let Quick::Image(_) = self.quick[n as usize] {
            return Ok(());
        }
        self.each_image(n, |_, _| {})
    }

    /// Calls `visit` with the config of each image at `n`; a config not read yet is recorded
    /// as needed, and the first of those is the error.
    fn each_config(&self, n: Node, mut visit: impl FnMut(&'a ImageConfig)) -> Result<(), Missing> {
        let mut needs = Vec::new();
        self.each_image(n, |image, facts| match &facts.config {
            Some(c) => visit(c),
            None => needs.push(image),
        })?;
        let Some(&first) = needs.first() else {
            return Ok(());
        };
        let mut all = self
            .needs
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        all.extend(needs.into_iter().map(|image| self.digest(image).clone()));
        Err(Missing::ConfigNotRead(self.digest(first).clone()))
    }

    /// The first of `keys` that the images at `n` carry, with its value.
    pub(super) fn label(
        &self,
        n: Node,
        keys: &[&'static str],
    ) -> Result<(Option<&'static str>, LabelValue), Missing> {
        let mut configs = Vec::new();
        self.each_config(n, |c| configs.push(c))?;
        for key in keys {
            let mut values: Vec<String> = configs
                .iter()
                .filter_map(|c| c.labels.get(*key).cloned())
                .collect();
            values.sort();
            values.dedup();
            match values.len() {
                0 => continue,
                1 => return Ok((Some(key), LabelValue::One(values.remove(0)))),
                _ => return Ok((Some(key), LabelValue::Conflict(values))),
            }
        }
        Ok((None, LabelValue::Absent))
    }

    /// When the image at `n` was built: for an index the newest platform image (any young
    /// platform makes the index young). Where no config records a usable time (see
    /// [`build_time`]) the provider's push time of `n` stands in; `Ok(None)` when there is
    /// none either.
    pub(super) fn created(&self, n: Node) -> Result<Option<DateTime<Utc>>, Missing> {
        if let Quick::Image(created) = self.quick[n as usize] {
            return Ok(created);
        }
        let mut newest = None;
        self.each_config(n, |c| newest = newest.max(build_time(c)))?;
        Ok(newest.or_else(|| believable(self.facts[n as usize].and_then(|f| f.pushed))))
    }

    /// Marks `n` and every node that must stay while `n` stays: index children at any depth
    /// and referrers (and theirs). `kept` has [`Graph::len`] entries.
    pub(super) fn close_over(&self, n: Node, kept: &mut [bool]) {
        let mut stack = vec![n];
        while let Some(cur) = stack.pop() {
            if std::mem::replace(&mut kept[cur as usize], true) {
                continue;
            }
            stack.extend_from_slice(self.children.of(cur));
            stack.extend_from_slice(self.referrers.of(cur));
        }
    }

    /// True when the registry said `n` is not there.
    pub(super) fn is_absent(&self, n: Node) -> bool {
        self.facts[n as usize].is_some_and(|f| f.absent)
    }

    /// True when `n` is a child of some index the scan read.
    pub(super) fn is_child(&self, n: Node) -> bool {
        self.children.list.contains(&n)
    }

    /// True when something hangs off `n`: referrers, or children when `children` is set.
    pub(super) fn has_dependents(&self, n: Node, children: bool) -> bool {
        !self.referrers.of(n).is_empty() || (children && !self.children.of(n).is_empty())
    }

    /// Referrers of `n` at any depth (referrers of referrers), and, when `children` is set,
    /// index children at any depth, each with the node it hangs off and whether it is a
    /// referrer.
    pub(super) fn dependents(&self, n: Node, children: bool) -> Vec<(Node, Node, bool)> {
        let mut out = Vec::new();
        let mut seen = FxHashSet::default();
        let mut stack = vec![n];
        while let Some(cur) = stack.pop() {
            if !seen.insert(cur) {
                continue;
            }
            for &r in self.referrers.of(cur) {
                out.push((r, cur, true));
                stack.push(r);
            }
            if children {
                for &c in self.children.of(cur) {
                    out.push((c, cur, false));
                    stack.push(c);
                }
            }
        }
        out
    }
}
