//! The planner: (tags with digests and links, the manifest graph, git facts, policies, now)
//! → a [`Plan`]. Pure: no I/O, no clock.
//!
//! Steps per repository: link every tag to git (`links`: protected, signature, live ref,
//! commit template, labels, unlinked); mark the commits that have images and let the keep
//! policies walk the selected refs (`walk`); decide each tag; turn deletions of young or
//! unreadable images back into keeps; close the kept set over index children and referrers;
//! let cosign tags follow their subject; then say how each deletion goes (`How`) and which
//! untagged referrers go with deleted manifests.
//!
//! Speed (DESIGN §9, `scripts/bench.sh git`): every digest is numbered once (`graph`), so
//! the sets and walks index vectors instead of hashing digest strings; reasons are written
//! in one allocation each; and the per-tag steps (linking, judging, writing decisions) run
//! on every core (`par`), joined in order, so the plan does not depend on the core count.
//!
//! Executor contract: every tag of a digest that goes as a whole carries
//! [`How::DeleteManifest`] (the executor deletes that digest once); a tag whose digest stays
//! (another tag, a kept index or a kept subject needs it) carries [`How::UntagOnly`]. No kept
//! tag ever shares a digest with a `DeleteManifest` tag.

mod graph;
mod guards;
mod links;
mod par;
mod walk;

#[cfg(test)]
mod props;
#[cfg(test)]
mod testkit;
#[cfg(test)]
mod tests;

use std::borrow::Cow;
use std::collections::{BTreeMap, BTreeSet, HashMap};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::git::{CommitId, GitFacts, GitRef, RefKind, RemoteState};
use crate::policy::slug::SlugStyle;
use crate::policy::{CleanupConfig, Limit, Unlinked, Untagged, format_duration};
use crate::registry::{Digest, ImageConfig};

pub use guards::{DEFAULT_MAX_DELETE_RATIO, Guards, Refusal, check_guards};
pub use links::{REF_LABEL, REVISION_LABELS, cosign_subject};

use graph::{Graph, Node};
use links::{Link, Linker, PullView, RefForms, RefState, Via, split_image};
use walk::{CommitImages, KeptBy, Selected};

/// One repository as the scan saw it.
#[derive(Debug, Clone, Default)]
pub struct RepoScan {
    /// `host/path` or `oci:PATH`.
    pub repo: String,
    /// Every tag.
    pub tags: Vec<ScannedTag>,
    /// Every manifest reached: tagged ones, index children at any depth, referrers.
    pub manifests: HashMap<Digest, ManifestFacts>,
    /// The registry lists untagged manifests as items of their own (GitHub's untagged
    /// versions): the untagged children of a deleted index go with it, as under
    /// `untagged: delete`, instead of lingering as entries nothing names.
    pub untagged_listed: bool,
    /// The registry can remove a tag only by deleting its manifest (neither a tag delete nor
    /// the dummy untag, as on Nexus): a deleted tag whose manifest must stay is kept instead,
    /// since deleting the digest would take the kept tags with it (DESIGN §4, invariant 2).
    pub cannot_untag: bool,
    /// A monorepo's images, by the prefix their tags carry (`frontend-`; empty for the unnamed
    /// image, whose tags carry none). A tag is linked to git after its longest matching prefix
    /// is read off, a tag that carries none is unlinked, and each image's tags count on their
    /// own towards `images_per_reference`, as if each image had its repository. Empty: the
    /// repository holds one image.
    pub image_prefixes: Vec<String>,
}

/// A tag and what it points at.
#[derive(Debug, Clone)]
pub struct ScannedTag {
    /// The tag.
    pub name: String,
    /// Its digest, or why it could not be resolved (missing evidence keeps the tag).
    pub digest: Result<Digest, String>,
}

/// What is known about one manifest.
#[derive(Debug, Clone, Default)]
pub struct ManifestFacts {
    /// Media type.
    pub media_type: String,
    /// Children of an index.
    pub children: Vec<Digest>,
    /// Manifests whose `subject` is this one (OCI referrers).
    pub referrers: Vec<Digest>,
    /// This manifest's own `subject`.
    pub subject: Option<Digest>,
    /// The image config, when it was read (see [`configs_needed`]).
    pub config: Option<ImageConfig>,
    /// Why reading this manifest (or its config) failed, if it did.
    pub error: Option<String>,
    /// The registry answered a definite not-found for it: it is not in the repository (the
    /// subject of a signature tag whose image is gone).
    pub absent: bool,
    /// When it was pushed, where the provider's listing says (the newest push of its tags):
    /// the build time of an image whose config records none.
    pub pushed: Option<DateTime<Utc>>,
}

/// Everything the planner decides from.
#[derive(Debug, Clone, Copy)]
pub struct PlanInput<'a> {
    /// The repositories.
    pub scans: &'a [RepoScan],
    /// The git facts.
    pub git: &'a GitFacts,
    /// Keep policies, protected tags, templates.
    pub config: &'a CleanupConfig,
    /// What the forge says about pull requests.
    pub pulls: &'a PullRequests,
    /// The time the plan is made at.
    pub now: DateTime<Utc>,
}

/// What berth knows about the pull (merge) requests of the project (DESIGN §2): only the
/// forge knows which are open, since `refs/pull/N/head` stays after a pull request closes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PullRequests {
    /// The forge listed the open pull requests; every other one is closed or merged.
    Known {
        /// `GitHub`, `GitLab`: named in reasons.
        forge: String,
        /// The open ones.
        open: Vec<OpenPull>,
    },
    /// No forge access: what depends on a pull request is kept.
    Unknown {
        /// What would give berth the state (the variables to set); every reason that depends
        /// on it says this.
        hint: String,
        /// The clone holds every pull-request ref the remote has, so a commit in none of the
        /// refs is in no pull request either.
        refs_complete: bool,
    },
}

/// An open pull request, as the forge lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OpenPull {
    /// `42` for `#42` / `!42`.
    pub number: u64,
    /// Its head commit.
    pub head: CommitId,
    /// Its source branch.
    pub branch: String,
}

/// The plan: for every tag of every repository, keep or delete, with the reason.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Plan {
    /// Format version of the JSON plan.
    pub schema: u32,
    /// When the plan was made.
    pub created_at: DateTime<Utc>,
    /// One entry per repository.
    pub repos: Vec<RepoPlan>,
    /// What the plan was made from that a reader should know: a repository without a
    /// remote judged as it is, pull-request state known from the forge or not.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<String>,
}

/// The decisions for one repository.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RepoPlan {
    /// `host/path` or `oci:PATH`.
    pub repo: String,
    /// One decision per tag.
    pub tags: Vec<TagDecision>,
    /// Untagged manifests that go with deleted ones (referrers of deleted subjects).
    pub manifest_deletions: Vec<ManifestDeletion>,
    /// Counts.
    pub totals: Totals,
}

/// Keep or delete one tag.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TagDecision {
    /// The tag.
    pub tag: String,
    /// The digest it pointed at when planned (None when it could not be resolved).
    pub digest: Option<Digest>,
    /// The decision.
    pub decision: Decision,
}

/// The decision for one tag.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "action", rename_all = "snake_case")]
pub enum Decision {
    /// Keep the tag.
    Keep {
        /// Why.
        reason: Reason,
    },
    /// Delete the tag.
    Delete {
        /// Why.
        reason: Reason,
        /// Delete the manifest, or remove only the tag.
        how: How,
    },
}

/// How a deleted tag goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum How {
    /// Every tag on the digest goes: delete the manifest by digest.
    DeleteManifest,
    /// Other tags on the digest stay: remove only this tag.
    UntagOnly,
}

/// An untagged manifest deleted because its subject is deleted.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ManifestDeletion {
    /// The manifest.
    pub digest: Digest,
    /// Why.
    pub reason: Reason,
}

/// Counts for one repository.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Totals {
    /// Tags seen.
    pub tags: usize,
    /// Tags kept.
    pub keep: usize,
    /// Tags deleted.
    pub delete: usize,
}

/// Why a tag is kept or deleted; renders as one line of plain English.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Reason {
    /// Machine-readable kind: `protected`, `live_ref`, `policy`, `kept_image`, `signature`,
    /// `unlinked`, `built_within`, `ambiguous`, `missing_evidence`, `shallow`, `cannot_untag`
    /// (kept) and `dead_ref`,
    /// `commit_gone`, `policy`, `signature`, `unlinked`, `referrer`, `untagged_child`
    /// (deleted).
    pub kind: Cow<'static, str>,
    /// The sentence.
    pub message: String,
    /// Structured details.
    #[serde(default, skip_serializing_if = "Details::is_empty")]
    pub details: Details,
}

/// The structured details of a [`Reason`] (`commit`, `ref`, `policy`, …): a JSON object with
/// its keys in order. A plan holds one per tag, so this is a short sorted list rather than a
/// map with an allocation per key.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Details(Vec<(Cow<'static, str>, String)>);

impl Details {
    /// True when there are none.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The value of `key`.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.0
            .binary_search_by(|(k, _)| k.as_ref().cmp(key))
            .ok()
            .map(|at| self.0[at].1.as_str())
    }

    /// Sets `key`, keeping the keys in order.
    pub fn insert(&mut self, key: impl Into<Cow<'static, str>>, value: String) {
        let key = key.into();
        match self
            .0
            .binary_search_by(|(k, _)| k.as_ref().cmp(key.as_ref()))
        {
            Ok(at) => self.0[at].1 = value,
            Err(at) => {
                // Most reasons carry one or two details: no room for four.
                self.0.reserve_exact(1);
                self.0.insert(at, (key, value));
            }
        }
    }
}

impl Serialize for Details {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_map(self.0.iter().map(|(k, v)| (k, v)))
    }
}

impl<'de> Deserialize<'de> for Details {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let map = BTreeMap::<String, String>::deserialize(d)?;
        Ok(Details(
            map.into_iter().map(|(k, v)| (Cow::Owned(k), v)).collect(),
        ))
    }
}

impl std::fmt::Display for Reason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl Reason {
    fn new(kind: &'static str, message: String) -> Reason {
        Reason {
            kind: Cow::Borrowed(kind),
            message,
            details: Details::default(),
        }
    }

    fn kept(kind: &'static str, why: impl std::fmt::Display) -> Reason {
        Reason::new(kind, format!("kept: {why}"))
    }

    fn deleted(kind: &'static str, why: impl std::fmt::Display) -> Reason {
        Reason::new(kind, format!("deleted: {why}"))
    }

    fn with(mut self, key: &'static str, value: impl Into<String>) -> Reason {
        self.details.insert(key, value.into());
        self
    }
}

/// A live ref's image keeps the commit-linked tags on it, as a policy-kept image does (DESIGN
/// §3: every commit-linked tag on a kept image is kept): a tag whose commit live history still
/// holds (a gone commit is `commit_gone`, not `policy`) but no policy keeps, on an image that
/// the tag of a live branch, git tag or open (or unknown) pull request keeps, stays with it.
/// Otherwise knowing more would untag more: a pull request known to be open keeps its image
/// as a live ref, where a closed one leaves its tag to the image's revision label, whose commit
/// a policy keeps, and that keeps every commit tag on the image. Protected and other kept tags
/// are no anchor: their image stays, its unkept commit tags go (untag only).
fn keep_commit_tags_of_kept_images(
    tags: &mut [TagDecision],
    nodes: &[Option<Node>],
    is_follower: &[bool],
) {
    let mut keeper: HashMap<Node, usize> = HashMap::new();
    for (k, t) in tags.iter().enumerate() {
        if let (Decision::Keep { reason }, Some(n), false) = (&t.decision, nodes[k], is_follower[k])
            && matches!(reason.kind.as_ref(), "live_ref" | "pull_request_unknown")
        {
            keeper.entry(n).or_insert(k);
        }
    }
    if keeper.is_empty() {
        return;
    }
    let mut kept = Vec::new();
    for (k, t) in tags.iter().enumerate() {
        if let (Decision::Delete { reason, .. }, Some(n)) = (&t.decision, nodes[k])
            && reason.kind == "policy"
            && let Some(&by) = keeper.get(&n)
        {
            let mut keep = Reason::kept(
                "kept_image",
                format_args!(
                    "its image is kept as the image of tag `{}`, and its commit is still in a live \
                     branch or tag (no keep policy keeps the commit by itself)",
                    tags[by].tag
                ),
            )
            .with("by_tag", tags[by].tag.clone());
            if let Some(c) = reason.details.get("commit") {
                keep = keep.with("commit", c.to_string());
            }
            kept.push((k, keep));
        }
    }
    for (k, reason) in kept {
        tags[k].decision = Decision::Keep { reason };
    }
}

impl Decision {
    /// The reason, whichever way the decision went.
    pub fn reason(&self) -> &Reason {
        match self {
            Decision::Keep { reason } | Decision::Delete { reason, .. } => reason,
        }
    }

    /// True for [`Decision::Delete`].
    pub fn is_delete(&self) -> bool {
        matches!(self, Decision::Delete { .. })
    }
}

/// The image manifests whose config blob the planner needs: labels of tags that protection,
/// live refs and the commit templates leave open, and build times of deletion candidates
/// (for `keep.built_within` and `unlinked.delete_older_than`); for an index, its image
/// children. Returns only configs not read yet. Call it, read those configs into
/// [`ManifestFacts::config`] (or `error`), and call it again until it returns nothing: labels
/// found in one round can make more tags deletion candidates in the next (at most a few
/// rounds). A config still missing when [`plan`] runs keeps its tag (missing evidence).
pub fn configs_needed(input: &PlanInput<'_>) -> Vec<(usize, Digest)> {
    let ctx = Context::new(input);
    let mut out = Vec::new();
    for (i, scan) in input.scans.iter().enumerate() {
        let (_, needs) = ctx.decide_repo(scan);
        out.extend(needs.into_iter().map(|d| (i, d)));
    }
    out
}

/// Decides every tag of every repository.
pub fn plan(input: &PlanInput<'_>) -> Plan {
    let ctx = Context::new(input);
    let repos: Vec<RepoPlan> = input
        .scans
        .iter()
        .map(|scan| ctx.decide_repo(scan).0)
        .collect();
    Plan {
        schema: 1,
        created_at: input.now,
        notes: notes(input, &repos),
        repos,
    }
}

/// Whether the untagged children of a deleted index go with it.
fn children_go(config: &CleanupConfig, scan: &RepoScan) -> bool {
    config.untagged == Untagged::Delete || scan.untagged_listed
}

fn notes(input: &PlanInput<'_>, repos: &[RepoPlan]) -> Vec<String> {
    let mut notes = Vec::new();
    match &input.git.remote {
        RemoteState::Verified { .. } => {}
        RemoteState::NoRemote => notes.push(
            "the git repository has no remote: its local branches and tags were judged as \
             they are"
                .to_string(),
        ),
        RemoteState::Unchecked { name } => notes.push(format!(
            "the clone was not compared with remote `{name}` (--no-remote-check): branches or \
             tags it lacks were judged as gone"
        )),
    }
    match input.pulls {
        PullRequests::Known { forge, open } => notes.push(format!(
            "pull requests: {} open, as {forge} lists them",
            open.len()
        )),
        PullRequests::Unknown { hint, .. } => {
            let depends = repos.iter().flat_map(|r| &r.tags).any(|t| {
                t.decision.reason().kind == "pull_request_unknown"
                    || t.decision.reason().message.contains("pull request")
                        && t.decision.reason().kind == "missing_evidence"
            });
            if depends {
                notes.push(format!(
                    "pull-request state unknown, so what depends on a pull request was kept: \
                     {hint}"
                ));
            }
        }
    }
    notes
}

/// A ref as reasons name it: `branch main`, `git tag v1.2.0`, `pull request #7`.
struct RefName<'a>(&'a GitRef);

impl std::fmt::Display for RefName<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.0.kind {
            RefKind::Branch => write!(f, "branch {}", self.0.name),
            RefKind::Tag => write!(f, "git tag {}", self.0.name),
            RefKind::PullRequest(n) => write!(f, "pull request #{n}"),
        }
    }
}

/// What every repository's plan shares: the refs judged by (pull requests as the forge says),
/// ref selection, tag forms, commit order.
struct Context<'a> {
    input: &'a PlanInput<'a>,
    refs: Vec<GitRef>,
    states: Vec<RefState>,
    open: rustc_hash::FxHashSet<u64>,
    forms: RefForms,
    selection: Vec<Option<Selected>>,
    /// Per ref: for a pull request of unknown state, the `images_per_reference` it would get
    /// if it is open.
    unknown_limits: Vec<Option<Limit>>,
    order: Vec<u32>,
    /// Why a commit that no ref reaches may still be in an open pull request, if it may.
    pull_gap: Option<String>,
    now: i64,
}

/// Which refs keep each image: the first (in ref order), and the further ones sorted by image.
struct Keepers<'k> {
    first: &'k [Option<KeptBy>],
    also: &'k [(Node, KeptBy)],
}

/// What a tag's link implies, before deletions are checked for evidence and age and before
/// cosign tags follow their subjects.
enum Pending {
    Keep(Reason),
    Delete(Reason),
    Follow(Digest),
}

impl<'a> Context<'a> {
    fn new(input: &'a PlanInput<'a>) -> Self {
        let now = input.now.timestamp();
        let git = input.git;
        let mut refs: Vec<GitRef> = Vec::with_capacity(git.refs.len());
        let mut pr_branch: Vec<Option<String>> = Vec::with_capacity(git.refs.len());
        let mut unknown: Vec<Option<u64>> = Vec::with_capacity(git.refs.len());
        for r in git
            .refs
            .iter()
            .filter(|r| !matches!(r.kind, RefKind::PullRequest(_)))
        {
            refs.push(r.clone());
            pr_branch.push(None);
            unknown.push(None);
        }
        let mut open = rustc_hash::FxHashSet::default();
        let pull_gap = match input.pulls {
            PullRequests::Known { forge, open: list } => {
                let mut unseen = Vec::new();
                for pr in list {
                    open.insert(pr.number);
                    match git.commits.find(&pr.head) {
                        Some(tip) => {
                            refs.push(GitRef {
                                name: pr.number.to_string(),
                                kind: RefKind::PullRequest(pr.number),
                                tip,
                                date: git.commits.time(tip),
                            });
                            pr_branch.push(Some(pr.branch.clone()));
                            unknown.push(None);
                        }
                        None => unseen.push(pr),
                    }
                }
                unseen.first().map(|pr| {
                    format!(
                        "{forge} lists {} open pull request{} whose head is not in the clone \
                         (#{} at {}), so it may belong to one; fetch the pull-request refs \
                         (berth cleanup --fetch does)",
                        unseen.len(),
                        if unseen.len() == 1 { "" } else { "s" },
                        pr.number,
                        pr.head.short(),
                    )
                })
            }
            PullRequests::Unknown {
                hint,
                refs_complete,
            } => {
                for r in &git.refs {
                    if let RefKind::PullRequest(n) = r.kind {
                        refs.push(r.clone());
                        pr_branch.push(None);
                        unknown.push(Some(n));
                    }
                }
                (!refs_complete).then(|| {
                    format!(
                        "the clone lacks some pull-request refs of the remote and berth cannot \
                         know which pull requests are open, so it may belong to one; {hint}"
                    )
                })
            }
        };
        // A pull request of unknown state is selected as if it were open, so that exactly
        // what its policy would keep if it is open is kept as missing evidence.
        let eligible = vec![true; refs.len()];
        let mut selection = walk::select(&refs, &eligible, &pr_branch, &input.config.policies, now);
        let unknown_limits = unknown
            .iter()
            .zip(selection.iter_mut())
            .map(|(u, s)| match u {
                Some(_) => s.take().map(|s| s.images),
                None => None,
            })
            .collect();
        let states = unknown
            .iter()
            .zip(&selection)
            .map(|(u, s)| match (u, s) {
                (Some(n), _) => RefState::PullUnknown(*n),
                (None, Some(_)) => RefState::Selected,
                (None, None) => RefState::NotSelected,
            })
            .collect();
        Context {
            input,
            forms: RefForms::new(&refs, &input.config.templates),
            refs,
            states,
            open,
            selection,
            unknown_limits,
            order: if git.shallow {
                Vec::new()
            } else {
                walk::parents_first(&git.commits)
            },
            pull_gap,
            now,
        }
    }

    /// The hint that says how berth could know pull-request states (when it cannot).
    fn pull_hint(&self) -> &str {
        match self.input.pulls {
            PullRequests::Unknown { hint, .. } => hint,
            PullRequests::Known { .. } => "",
        }
    }

    fn describe_ref(&self, i: u32) -> RefName<'_> {
        RefName(&self.refs[i as usize])
    }

    fn age(&self, t: DateTime<Utc>) -> i64 {
        self.now - t.timestamp()
    }

    fn decide_repo(&self, scan: &RepoScan) -> (RepoPlan, BTreeSet<Digest>) {
        let input = self.input;
        let config = input.config;
        let graph = Graph::new(scan);
        let mut by_name: Vec<(u64, &str, usize)> = scan
            .tags
            .iter()
            .enumerate()
            .map(|(i, t)| (name_prefix(&t.name), t.name.as_str(), i))
            .collect();
        by_name.sort_unstable();
        let order: Vec<usize> = by_name.into_iter().map(|(_, _, i)| i).collect();

        if input.git.shallow {
            let tags = order
                .iter()
                .map(|&i| {
                    let t = &scan.tags[i];
                    TagDecision {
                        tag: t.name.clone(),
                        digest: t.digest.clone().ok(),
                        decision: Decision::Keep {
                            reason: Reason::kept(
                                "shallow",
                                "the git clone is shallow; nothing is judged from it",
                            ),
                        },
                    }
                })
                .collect();
            return (finish(scan, tags, Vec::new()), BTreeSet::new());
        }

        let linker = Linker {
            git: input.git,
            refs: &self.refs,
            states: &self.states,
            pulls: match input.pulls {
                PullRequests::Known { .. } => PullView::Known(&self.open),
                PullRequests::Unknown { .. } => PullView::Unknown,
            },
            config,
            forms: &self.forms,
            prefixes: &scan.image_prefixes,
        };
        let links: Vec<Link> = par::map(order.clone(), |_, i| {
            linker.classify(&graph, &scan.tags[i].name, graph.tag(i))
        });
        let nodes: Vec<Option<Node>> = order.iter().map(|&i| graph.tag(i).ok()).collect();

        // The images each commit carries, then which of them the policies keep, and which
        // the pull requests of unknown state reach (kept as missing evidence). A monorepo's
        // images are counted one by one and what any of them keeps is kept.
        let image_of: Vec<Option<usize>> = order
            .iter()
            .map(|&i| split_image(&scan.image_prefixes, &scan.tags[i].name).map(|(g, _)| g))
            .collect();
        let limits: Vec<Option<Limit>> =
            self.selection.iter().map(|s| s.map(|s| s.images)).collect();
        let walk_unknown = self.unknown_limits.iter().any(Option::is_some);
        let mut kept: Vec<Option<KeptBy>> = vec![None; graph.len()];
        let mut also_kept: Vec<(Node, KeptBy)> = Vec::new();
        let mut unknown_reach: Vec<Option<KeptBy>> = if walk_unknown {
            vec![None; graph.len()]
        } else {
            Vec::new()
        };
        for image in 0..scan.image_prefixes.len().max(1) {
            let pairs: Vec<(u32, Node)> = links
                .iter()
                .zip(&nodes)
                .zip(&image_of)
                .filter_map(|((link, n), of)| match (link, n) {
                    (Link::Commit(c, _), Some(n)) if *of == Some(image) => Some((*c, *n)),
                    _ => None,
                })
                .collect();
            let images = CommitImages::new(input.git.commits.len(), pairs);
            let (first, also) = walk::keep_set(
                &input.git.commits,
                &self.refs,
                &limits,
                &self.order,
                &images,
                graph.len(),
                self.now,
            );
            for (n, by) in first.into_iter().enumerate() {
                match (&kept[n], by) {
                    (None, Some(by)) => kept[n] = Some(by),
                    (Some(_), Some(by)) => also_kept.push((n as Node, by)),
                    _ => {}
                }
            }
            also_kept.extend(also);
            if walk_unknown {
                let (reach, _) = walk::keep_set(
                    &input.git.commits,
                    &self.refs,
                    &self.unknown_limits,
                    &self.order,
                    &images,
                    graph.len(),
                    self.now,
                );
                for (n, by) in reach.into_iter().enumerate() {
                    if unknown_reach[n].is_none() {
                        unknown_reach[n] = by;
                    }
                }
            }
        }
        // Reasons look a node's further keepers up by binary search.
        also_kept.sort_by_key(|(n, _)| *n);

        // Cosign tags follow their subject: decided below, once the other tags are.
        let mut is_follower = vec![false; links.len()];
        let mut followers: Vec<(usize, Digest, Option<usize>)> = Vec::new();
        for (k, link) in links.iter().enumerate() {
            if let Link::Signature(subject) = link {
                is_follower[k] = true;
                let node = graph.node(subject).map(|n| n as usize);
                followers.push((k, subject.clone(), node));
            }
        }
        let mut tags: Vec<TagDecision> = par::map(links, |k, link| {
            let decision = match (
                self.judge(
                    &graph,
                    &scan.tags[order[k]].name,
                    link,
                    &Keepers {
                        first: &kept,
                        also: &also_kept,
                    },
                    &unknown_reach,
                    nodes[k],
                ),
                nodes[k],
            ) {
                // Deletions need complete evidence and an old enough image. How a deletion
                // goes is settled below, once the kept set is known.
                (Pending::Delete(reason), Some(n)) => match self.deletion_blocker(&graph, n) {
                    Some(keep) => Decision::Keep { reason: keep },
                    None => Decision::Delete {
                        reason,
                        how: How::DeleteManifest,
                    },
                },
                (Pending::Keep(reason) | Pending::Delete(reason), _) => Decision::Keep { reason },
                // Replaced below; should it not be, keeping the tag is the safe side.
                (Pending::Follow(subject), _) => Decision::Keep {
                    reason: Reason::kept(
                        "missing_evidence",
                        format_args!("its signed image {} was not judged", subject.short()),
                    ),
                },
            };
            TagDecision {
                tag: scan.tags[order[k]].name.clone(),
                digest: nodes[k].map(|n| graph.digest(n).clone()),
                decision,
            }
        });

        keep_commit_tags_of_kept_images(&mut tags, &nodes, &is_follower);

        let any_unresolved = scan.tags.iter().any(|t| t.digest.is_err());
        // Everything a kept tag needs stays: its manifest, index children, referrers.
        let mut closure = vec![false; graph.len()];
        for (k, t) in tags.iter().enumerate() {
            if let (Decision::Keep { .. }, Some(n), false) = (&t.decision, nodes[k], is_follower[k])
            {
                graph.close_over(n, &mut closure);
            }
        }
        // A kept signature can itself pin a manifest (its digest joins the kept set), which
        // can save a subject; repeat until nothing moves. The kept set only grows, so this
        // ends.
        let mut followed: Vec<(usize, bool, Reason)> = Vec::with_capacity(followers.len());
        let mut settled = followers.is_empty();
        while !settled {
            followed.clear();
            // What goes: deleted tags' manifests no kept tag needs, and what goes with them
            // (referrers; with `untagged: delete`, index children), so that a signature of a
            // deleted index's platform image goes with that image.
            let mut going = vec![false; graph.len()];
            for (k, t) in tags.iter().enumerate() {
                if let (Decision::Delete { .. }, Some(n), false) =
                    (&t.decision, nodes[k], is_follower[k])
                {
                    if closure[n as usize] || std::mem::replace(&mut going[n as usize], true) {
                        continue;
                    }
                    // With an unresolved tag nothing goes by digest (below): dependents stay.
                    if any_unresolved {
                        continue;
                    }
                    for (m, _, _) in graph.dependents(n, children_go(config, scan)) {
                        going[m as usize] |= !closure[m as usize];
                    }
                }
            }
            let mut kept_signatures = Vec::new();
            for &(k, ref subject, node) in &followers {
                let (keep, reason) = if node.is_some_and(|n| closure[n]) {
                    (
                        true,
                        Reason::kept(
                            "signature",
                            format_args!("signature of kept image {}", subject.short()),
                        ),
                    )
                } else if node.is_some_and(|n| going[n]) {
                    (
                        false,
                        Reason::deleted(
                            "signature",
                            format_args!("signature of deleted image {}", subject.short()),
                        ),
                    )
                } else if node.is_some_and(|n| graph.is_absent(n as Node)) {
                    // The signed image is gone: the signature goes once it is old enough.
                    let blocker = nodes[k].and_then(|n| self.deletion_blocker(&graph, n));
                    match blocker {
                        Some(keep) => (true, keep),
                        None => (
                            false,
                            Reason::deleted(
                                "signature",
                                format_args!(
                                    "its signed image {} is no longer in the repository",
                                    subject.short()
                                ),
                            ),
                        ),
                    }
                } else if node.is_some_and(|n| graph.is_child(n as Node)) {
                    (
                        true,
                        Reason::kept(
                            "signature",
                            format_args!(
                                "its signed image {} is an untagged platform image, which \
                                 stays under `untagged: keep` (`untagged: delete` removes both \
                                 with their index)",
                                subject.short()
                            ),
                        ),
                    )
                } else {
                    (
                        true,
                        Reason::kept(
                            "missing_evidence",
                            format_args!(
                                "its signed image {} is not a tagged image this plan judges",
                                subject.short()
                            ),
                        ),
                    )
                };
                if keep {
                    kept_signatures.extend(nodes[k].filter(|&n| !closure[n as usize]));
                }
                followed.push((k, keep, reason));
            }
            settled = kept_signatures.is_empty();
            for n in kept_signatures {
                graph.close_over(n, &mut closure);
            }
        }
        for (k, keep, reason) in followed {
            tags[k].decision = match (keep, nodes[k]) {
                (false, Some(_)) => Decision::Delete {
                    reason,
                    how: How::DeleteManifest,
                },
                _ => Decision::Keep { reason },
            };
        }
        // A deleted tag whose digest stays (another tag, a kept index or subject needs it)
        // loses only its tag. Of the deleted manifests, note those that have referrers (or
        // children, with `untagged: delete`).
        let with_children = children_go(config, scan);
        let mut manifest_gone: BTreeMap<&Digest, Node> = BTreeMap::new();
        for (t, n) in tags.iter_mut().zip(&nodes) {
            if let (Decision::Delete { how, .. }, Some(n)) = (&mut t.decision, *n) {
                if closure[n as usize] {
                    *how = How::UntagOnly;
                } else if graph.has_dependents(n, with_children) {
                    manifest_gone.insert(graph.digest(n), n);
                }
            }
        }

        let mut tagged = vec![false; graph.len()];
        for &n in nodes.iter().flatten() {
            tagged[n as usize] = true;
        }
        let mut manifest_deletions = Vec::new();
        let mut listed = vec![false; graph.len()];
        for (_, n) in manifest_gone {
            for (m, parent, is_referrer) in graph.dependents(n, with_children) {
                let m = m as usize;
                if closure[m] || tagged[m] || std::mem::replace(&mut listed[m], true) {
                    continue;
                }
                let parent = graph.digest(parent);
                let reason = if is_referrer {
                    Reason::deleted(
                        "referrer",
                        format_args!("refers to deleted manifest {}", parent.short()),
                    )
                } else if config.untagged == Untagged::Delete {
                    Reason::deleted(
                        "untagged_child",
                        format_args!(
                            "untagged child of deleted index {} (untagged: delete)",
                            parent.short()
                        ),
                    )
                } else {
                    Reason::deleted(
                        "untagged_child",
                        format_args!(
                            "untagged child of deleted index {}, which the registry would keep \
                             listing as an untagged version",
                            parent.short()
                        ),
                    )
                };
                manifest_deletions.push(ManifestDeletion {
                    digest: graph.digest(m as Node).clone(),
                    reason: reason.with("subject", parent.to_string()),
                });
            }
        }
        // A tag that did not resolve may name any manifest of the repository: none may go by
        // digest, so deleted tags are only untagged and nothing untagged goes with them.
        if let Some(unresolved) = scan.tags.iter().find(|t| t.digest.is_err()) {
            for t in &mut tags {
                if let Decision::Delete { how, reason } = &mut t.decision {
                    if *how == How::DeleteManifest {
                        *how = How::UntagOnly;
                        reason
                            .details
                            .insert("untag_only_because", unresolved.name.clone());
                    }
                }
            }
            manifest_deletions.clear();
        }
        if scan.cannot_untag {
            keep_what_only_untagging_removes(&mut tags, scan);
        }
        let needs = graph.into_needs();
        (finish(scan, tags, manifest_deletions), needs)
    }

    /// The decision a link implies, before evidence and age checks.
    fn judge(
        &self,
        graph: &Graph<'_>,
        tag: &str,
        link: Link,
        kept: &Keepers<'_>,
        unknown_reach: &[Option<KeptBy>],
        node: Option<Node>,
    ) -> Pending {
        match link {
            Link::Unresolved(e) => Pending::Keep(Reason::kept(
                "missing_evidence",
                format_args!("the tag could not be resolved ({e})"),
            )),
            Link::Protected(p) => Pending::Keep(
                Reason::kept("protected", format_args!("matches keep.tags `{p}`"))
                    .with("pattern", p),
            ),
            Link::Signature(subject) => Pending::Follow(subject),
            Link::LiveRef(r) => Pending::Keep(
                Reason::kept(
                    "live_ref",
                    match self.refs[r as usize].kind {
                        RefKind::PullRequest(_) => format!("tag of open {}", self.describe_ref(r)),
                        _ => format!("tag of live {}", self.describe_ref(r)),
                    },
                )
                .with("ref", self.refs[r as usize].name.clone()),
            ),
            Link::NotSelected(r) => Pending::Delete(
                Reason::deleted(
                    "not_selected",
                    format_args!(
                        "tag of {}, which exists but no keep policy selects (see keep.policies)",
                        self.describe_ref(r)
                    ),
                )
                .with("ref", self.refs[r as usize].name.clone()),
            ),
            Link::ReleaseLine(line) => {
                let names = |refs: &[u32]| {
                    refs.iter()
                        .map(|&r| self.refs[r as usize].name.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                };
                let selected: Vec<u32> = line
                    .iter()
                    .copied()
                    .filter(|&r| self.states[r as usize] == RefState::Selected)
                    .collect();
                match selected.first() {
                    Some(&first) => Pending::Keep(
                        Reason::kept(
                            "live_ref",
                            format_args!("release line of live git tags {}", names(&selected)),
                        )
                        .with("ref", self.refs[first as usize].name.clone()),
                    ),
                    None => Pending::Delete(
                        Reason::deleted(
                            "not_selected",
                            format_args!(
                                "release line of git tags {}, which exist but no keep policy \
                                 selects (see keep.policies)",
                                names(&line)
                            ),
                        )
                        .with("ref", self.refs[line[0] as usize].name.clone()),
                    ),
                }
            }
            Link::AmbiguousRef(refs) => {
                let names: Vec<String> = refs
                    .iter()
                    .map(|&r| self.describe_ref(r).to_string())
                    .collect();
                Pending::Keep(Reason::kept(
                    "ambiguous",
                    format!("ambiguous: the tag form of {}", names.join(" and ")),
                ))
            }
            Link::PullUnknown(n) => Pending::Keep(
                Reason::kept(
                    "pull_request_unknown",
                    format_args!(
                        "tag of pull request #{n}, whose state (open or closed) berth cannot \
                         know: {}",
                        self.pull_hint()
                    ),
                )
                .with("ref", n.to_string()),
            ),
            Link::PullUnseen(n) => Pending::Keep(
                Reason::kept(
                    "live_ref",
                    format_args!(
                        "tag of open pull request #{n} (its head commit is not in the clone)"
                    ),
                )
                .with("ref", n.to_string()),
            ),
            Link::PullClosed(n) => Pending::Delete(
                Reason::deleted(
                    "dead_ref",
                    format_args!(
                        "pull request #{n} is not open ({} lists it as closed or merged)",
                        match self.input.pulls {
                            PullRequests::Known { forge, .. } => forge.as_str(),
                            PullRequests::Unknown { .. } => "the forge",
                        }
                    ),
                )
                .with("ref", n.to_string()),
            ),
            Link::DeadRef(named) => Pending::Delete(
                Reason::deleted(
                    "dead_ref",
                    format_args!("{} no longer exists", named.describe()),
                )
                .with("ref", named.name.clone()),
            ),
            Link::Commit(c, via) => self.judge_commit(tag, c, &via, node, kept, unknown_reach),
            Link::CommitGone(hex, via) => {
                let short = &hex[..hex.len().min(12)];
                match &self.pull_gap {
                    Some(gap) => Pending::Keep(
                        Reason::kept(
                            "missing_evidence",
                            format_args!("commit {short} is in no branch or tag, but {gap}"),
                        )
                        .with("commit", hex),
                    ),
                    None => Pending::Delete(
                        Reason::deleted(
                            "commit_gone",
                            format_args!("commit {short} is no longer in any branch or tag"),
                        )
                        .with("commit", hex)
                        .with("via", via.to_string()),
                    ),
                }
            }
            Link::CommitAmbiguous(hex, via) => Pending::Keep(
                Reason::kept(
                    "ambiguous",
                    format_args!("{via} names more than one commit ({hex})"),
                )
                .with("commit", hex),
            ),
            Link::Unlinked => self.judge_unlinked(
                graph,
                node,
                "not linked to git (no template, revision label or ref fits)",
            ),
            Link::NoImage => self.judge_unlinked(
                graph,
                node,
                "not linked to git (the tag starts with none of the images' prefixes)",
            ),
            Link::Missing(m) => Pending::Keep(Reason::kept("missing_evidence", m.describe())),
        }
    }

    /// Of the refs that keep the image at `node`, the one the tag names (`main-1a2b3c4` names
    /// branch main), else the first.
    fn credited(
        &self,
        tag: &str,
        hex: &str,
        via: &Via<'_>,
        node: Option<Node>,
        kept: &Keepers<'_>,
    ) -> Option<KeptBy> {
        let n = node?;
        let first = kept.first.get(n as usize).copied().flatten()?;
        let Via::Template(text) = via else {
            return Some(first);
        };
        let Some(template) = self
            .input
            .config
            .templates
            .iter()
            .find(|t| t.as_str() == *text && t.ref_part().is_some())
        else {
            return Some(first);
        };
        let names_it = |by: &KeptBy| {
            let r = &self.refs[by.git_ref as usize];
            SlugStyle::ALL.iter().any(|&style| {
                template
                    .render(Some(hex), Some((r.kind, &r.name)), style)
                    .as_deref()
                    == Some(tag)
            })
        };
        let start = kept.also.partition_point(|(m, _)| *m < n);
        let others = kept.also[start..]
            .iter()
            .take_while(|(m, _)| *m == n)
            .map(|(_, by)| by);
        std::iter::once(&first)
            .chain(others)
            .find(|by| names_it(by))
            .copied()
            .or(Some(first))
    }

    fn judge_commit(
        &self,
        tag: &str,
        c: u32,
        via: &Via<'_>,
        node: Option<Node>,
        kept: &Keepers<'_>,
        unknown_reach: &[Option<KeptBy>],
    ) -> Pending {
        let git = self.input.git;
        let hex = git.commits.id(c).to_hex();
        let short = &hex[..7];
        let by = |set: &[Option<KeptBy>]| node.and_then(|n| set.get(n as usize).copied().flatten());
        if let Some(by) = self.credited(tag, &hex, via, node, kept) {
            let r = &self.refs[by.git_ref as usize];
            let sel = self.selection[by.git_ref as usize].expect("only selected refs keep");
            let git_ref = self.describe_ref(by.git_ref);
            let group = git.commits.id(by.commit).to_hex();
            let reason = if r.kind == RefKind::Tag {
                Reason::kept(
                    "policy",
                    format_args!("commit {} is the commit of {git_ref}", &group[..7]),
                )
            } else {
                Reason::kept(
                    "policy",
                    PolicyPhrase {
                        short: &group[..7],
                        own: (by.commit != c).then_some(short),
                        rank: by.rank as usize,
                        limit: &sel.images,
                        git_ref,
                    },
                )
            };
            let reason = reason
                .with("ref", r.name.clone())
                .with("policy", (sel.policy + 1).to_string())
                .with("commit", group);
            // Which template pinned the tag to its commit: the executor re-checks every kept
            // tag but these before deleting, since a label-linked tag (`stable`) can move.
            return Pending::Keep(match via {
                Via::Template(t) => reason.with("template", t.to_string()),
                Via::Label(_) => reason,
            });
        }
        if let Some(by) = by(unknown_reach) {
            return Pending::Keep(
                Reason::kept(
                    "pull_request_unknown",
                    format_args!(
                        "commit {short} is in {}, whose state (open or closed) berth cannot \
                         know: {}",
                        self.describe_ref(by.git_ref),
                        self.pull_hint()
                    ),
                )
                .with("commit", hex)
                .with("ref", self.refs[by.git_ref as usize].name.clone()),
            );
        }
        Pending::Delete(
            Reason::deleted(
                "policy",
                format_args!("no keep policy keeps commit {short} (named by {via})"),
            )
            .with("commit", hex),
        )
    }

    fn judge_unlinked(&self, graph: &Graph<'_>, node: Option<Node>, plain: &str) -> Pending {
        let Unlinked::DeleteOlderThan(limit) = self.input.config.unlinked else {
            return Pending::Keep(Reason::kept("unlinked", plain));
        };
        let Some(n) = node else {
            return Pending::Keep(Reason::kept("unlinked", plain));
        };
        match graph.created(n) {
            Err(m) => Pending::Keep(Reason::kept("missing_evidence", m.describe())),
            Ok(None) => Pending::Keep(Reason::kept(
                "missing_evidence",
                "not linked to git and its build time is unknown",
            )),
            Ok(Some(t)) => {
                let age = self.age(t);
                if age > secs(limit) {
                    Pending::Delete(Reason::deleted(
                        "unlinked",
                        format_args!(
                            "not linked to git and built {} ago, more than unlinked.delete_older_than {}",
                            coarse(age),
                            format_duration(limit)
                        ),
                    ))
                } else {
                    Pending::Keep(Reason::kept(
                        "unlinked",
                        format_args!(
                            "not linked to git and built {} ago, within unlinked.delete_older_than {}",
                            coarse(age),
                            format_duration(limit)
                        ),
                    ))
                }
            }
        }
    }

    /// Why a deletion candidate must stay after all: facts missing, or too young.
    fn deletion_blocker(&self, graph: &Graph<'_>, n: Node) -> Option<Reason> {
        let built_within = self.input.config.built_within;
        if built_within.is_zero() {
            return graph
                .readable(n)
                .err()
                .map(|m| Reason::kept("missing_evidence", m.describe()));
        }
        match graph.created(n) {
            Err(m) => Some(Reason::kept("missing_evidence", m.describe())),
            Ok(None) => Some(Reason::kept(
                "missing_evidence",
                "its build time is unknown (no `created` in its config, or one before 1980 as \
                 reproducible builds write, and no push time in the registry's listing), so \
                 keep.built_within cannot be checked",
            )),
            Ok(Some(t)) if self.age(t) < secs(built_within) => Some(Reason::kept(
                "built_within",
                format_args!(
                    "built {} ago, within keep.built_within {}",
                    coarse(self.age(t).max(0)),
                    format_duration(built_within)
                ),
            )),
            Ok(Some(_)) => None,
        }
    }
}

/// The first 8 bytes of `name` as a big-endian number, zero-padded: sorting by it and then by
/// the name is byte order, and most comparisons end at the number instead of reaching into
/// two strings elsewhere in memory.
/// On a registry that removes a tag only with its manifest, a tag planned to lose only its tag
/// stays: the reason names a kept tag on the same digest, else what else holds the manifest.
fn keep_what_only_untagging_removes(tags: &mut [TagDecision], scan: &RepoScan) {
    let kept: HashMap<&Digest, &str> = tags
        .iter()
        .filter(|t| matches!(t.decision, Decision::Keep { .. }))
        .filter_map(|t| Some((t.digest.as_ref()?, t.tag.as_str())))
        .collect();
    let unresolved = scan.tags.iter().find(|t| t.digest.is_err());
    let reasons: Vec<Option<Reason>> = tags
        .iter()
        .map(|t| {
            let Decision::Delete {
                how: How::UntagOnly,
                reason,
            } = &t.decision
            else {
                return None;
            };
            let was = reason
                .message
                .strip_prefix("deleted: ")
                .unwrap_or(&reason.message);
            let kept_tag = t.digest.as_ref().and_then(|d| kept.get(d));
            let why = match (kept_tag, unresolved) {
                (Some(other), _) => Reason::kept(
                    "cannot_untag",
                    format_args!(
                        "would be deleted ({}), but its manifest is also tagged {other}, which \
                         stays, and this registry cannot delete a single tag (only a manifest \
                         with all its tags)",
                        was
                    ),
                )
                .with("kept_tag", *other),
                (None, Some(u)) => Reason::kept(
                    "cannot_untag",
                    format_args!(
                        "would be deleted ({}), but tag {} did not resolve and may name the \
                         same manifest, and this registry cannot delete a single tag (only a \
                         manifest with all its tags)",
                        was, u.name
                    ),
                )
                .with("unresolved_tag", u.name.clone()),
                (None, None) => Reason::kept(
                    "cannot_untag",
                    format_args!(
                        "would be deleted ({}), but its manifest stays (a kept index or signed \
                         image needs it), and this registry cannot delete a single tag (only a \
                         manifest with all its tags)",
                        was
                    ),
                ),
            };
            Some(why.with("deleted_because", reason.kind.to_string()))
        })
        .collect();
    for (t, why) in tags.iter_mut().zip(reasons) {
        if let Some(reason) = why {
            t.decision = Decision::Keep { reason };
        }
    }
}

fn name_prefix(name: &str) -> u64 {
    let mut word = [0u8; 8];
    let n = name.len().min(8);
    word[..n].copy_from_slice(&name.as_bytes()[..n]);
    u64::from_be_bytes(word)
}

fn secs(d: std::time::Duration) -> i64 {
    i64::try_from(d.as_secs()).unwrap_or(i64::MAX)
}

/// An age in its largest whole unit: `45d`, `3h`, `12m`, `30s`.
fn coarse(secs: i64) -> String {
    match secs {
        s if s >= 86_400 => format!("{}d", s / 86_400),
        s if s >= 3_600 => format!("{}h", s / 3_600),
        s if s >= 60 => format!("{}m", s / 60),
        s => format!("{}s", s.max(0)),
    }
}

/// `commit 1a2b3c4 is 1 of the last 2 images within 7d of branch main`; when the tag names an
/// older commit of the same image: `the image of commit 0f0f0f0 is that of commit 1a2b3c4, …`.
struct PolicyPhrase<'a> {
    short: &'a str,
    own: Option<&'a str>,
    rank: usize,
    limit: &'a Limit,
    git_ref: RefName<'a>,
}

impl std::fmt::Display for PolicyPhrase<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let PolicyPhrase {
            short,
            own,
            rank,
            limit,
            git_ref,
        } = self;
        if let Some(own) = own {
            write!(
                f,
                "the image of commit {own} is also that of commit {short}; "
            )?;
        }
        match limit.last {
            Some(n) if *rank <= n => write!(
                f,
                "commit {short} is {rank} of {} of {git_ref}",
                limit.describe("image")
            ),
            _ => match limit.within {
                Some(w) => write!(
                    f,
                    "commit {short} is image {rank} of {git_ref}, committed within the last {}",
                    format_duration(w)
                ),
                None => write!(
                    f,
                    "commit {short} is image {rank} of {git_ref}, which keeps all images"
                ),
            },
        }
    }
}

fn finish(
    scan: &RepoScan,
    tags: Vec<TagDecision>,
    manifest_deletions: Vec<ManifestDeletion>,
) -> RepoPlan {
    let delete = tags.iter().filter(|t| t.decision.is_delete()).count();
    RepoPlan {
        repo: scan.repo.clone(),
        totals: Totals {
            tags: tags.len(),
            keep: tags.len() - delete,
            delete,
        },
        tags,
        manifest_deletions,
    }
}
