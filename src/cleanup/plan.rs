//! The planner: (tags with digests and links, the manifest graph, git facts, policies, now)
//! → a [`Plan`]. Pure: no I/O, no clock.
//!
//! Steps per repository: link every tag to git ([`links`]: protected, signature, live ref,
//! commit template, labels, unlinked); mark the commits that have images and let the keep
//! policies walk the selected refs ([`walk`]); decide each tag; turn deletions of young or
//! unreadable images back into keeps; close the kept set over index children and referrers;
//! let cosign tags follow their subject; then say how each deletion goes (`How`) and which
//! untagged referrers go with deleted manifests.
//!
//! Executor contract: every tag of a digest that goes as a whole carries
//! [`How::DeleteManifest`] (the executor deletes that digest once); a tag whose digest stays
//! (another tag, a kept index or a kept subject needs it) carries [`How::UntagOnly`]. No kept
//! tag ever shares a digest with a `DeleteManifest` tag.

mod graph;
mod guards;
mod links;
mod walk;

#[cfg(test)]
mod props;
#[cfg(test)]
mod testkit;
#[cfg(test)]
mod tests;

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::git::{GitFacts, RefKind};
use crate::policy::{CleanupConfig, Limit, Unlinked, Untagged, format_duration};
use crate::registry::{Digest, ImageConfig};

pub use guards::{DEFAULT_MAX_DELETE_RATIO, Guards, Refusal, check_guards};
pub use links::{REF_LABEL, REVISION_LABELS, cosign_subject};

use graph::Graph;
use links::{Link, Linker, RefForms, Via};
use walk::{KeptBy, Selected};

/// One repository as the scan saw it.
#[derive(Debug, Clone, Default)]
pub struct RepoScan {
    /// `host/path` or `oci:PATH`.
    pub repo: String,
    /// Every tag.
    pub tags: Vec<ScannedTag>,
    /// Every manifest reached: tagged ones, index children at any depth, referrers.
    pub manifests: HashMap<Digest, ManifestFacts>,
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
    /// The time the plan is made at.
    pub now: DateTime<Utc>,
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
    /// Machine-readable kind: `protected`, `live_ref`, `policy`, `signature`, `unlinked`,
    /// `built_within`, `ambiguous`, `missing_evidence`, `shallow` (kept) and `dead_ref`,
    /// `commit_gone`, `policy`, `signature`, `unlinked`, `referrer`, `untagged_child`
    /// (deleted).
    pub kind: String,
    /// The sentence.
    pub message: String,
    /// Structured details.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub details: BTreeMap<String, String>,
}

impl std::fmt::Display for Reason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl Reason {
    fn new(kind: &str, message: String) -> Reason {
        Reason {
            kind: kind.to_string(),
            message,
            details: BTreeMap::new(),
        }
    }

    fn kept(kind: &str, why: impl std::fmt::Display) -> Reason {
        Reason::new(kind, format!("kept: {why}"))
    }

    fn deleted(kind: &str, why: impl std::fmt::Display) -> Reason {
        Reason::new(kind, format!("deleted: {why}"))
    }

    fn with(mut self, key: &str, value: impl Into<String>) -> Reason {
        self.details.insert(key.to_string(), value.into());
        self
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
    Plan {
        schema: 1,
        created_at: input.now,
        repos: input
            .scans
            .iter()
            .map(|scan| ctx.decide_repo(scan).0)
            .collect(),
    }
}

/// What every repository's plan shares: ref selection, tag forms, commit order.
struct Context<'a> {
    input: &'a PlanInput<'a>,
    forms: RefForms,
    selection: Vec<Option<Selected>>,
    live: Vec<bool>,
    order: Vec<u32>,
    now: i64,
}

/// A decision before cosign tags follow their subjects.
enum Pending {
    Keep(Reason),
    Delete(Reason),
    Follow(Digest),
}

impl<'a> Context<'a> {
    fn new(input: &'a PlanInput<'a>) -> Self {
        let now = input.now.timestamp();
        let git = input.git;
        let selection = walk::select(&git.refs, &input.config.policies, now);
        // An open pull request is live while it is open, whatever the policies select.
        let live = git
            .refs
            .iter()
            .zip(&selection)
            .map(|(r, s)| s.is_some() || matches!(r.kind, RefKind::PullRequest(_)))
            .collect();
        Context {
            input,
            forms: RefForms::new(git, &input.config.templates),
            selection,
            live,
            order: if git.shallow {
                Vec::new()
            } else {
                walk::parents_first(&git.commits)
            },
            now,
        }
    }

    fn describe_ref(&self, i: u32) -> String {
        let r = &self.input.git.refs[i as usize];
        match r.kind {
            RefKind::Branch => format!("branch {}", r.name),
            RefKind::Tag => format!("git tag {}", r.name),
            RefKind::PullRequest(n) => format!("pull request #{n}"),
        }
    }

    fn age(&self, t: DateTime<Utc>) -> i64 {
        self.now - t.timestamp()
    }

    fn decide_repo(&self, scan: &RepoScan) -> (RepoPlan, BTreeSet<Digest>) {
        let input = self.input;
        let config = input.config;
        let mut graph = Graph::new(&scan.manifests);
        let mut by_name: Vec<(&str, usize)> = scan
            .tags
            .iter()
            .enumerate()
            .map(|(i, t)| (t.name.as_str(), i))
            .collect();
        by_name.sort_unstable();
        let order: Vec<usize> = by_name.into_iter().map(|(_, i)| i).collect();

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
            config,
            forms: &self.forms,
            live: &self.live,
        };
        let links: Vec<Link> = order
            .iter()
            .map(|&i| linker.classify(&mut graph, &scan.tags[i].name, &scan.tags[i].digest))
            .collect();

        let mut has_image = vec![false; input.git.commits.len()];
        for link in &links {
            if let Link::Commit(c, _) = link {
                has_image[*c as usize] = true;
            }
        }
        let kept = walk::keep_set(
            input.git,
            &self.selection,
            &self.order,
            &has_image,
            self.now,
        );

        let digests: Vec<Option<&Digest>> = order
            .iter()
            .map(|&i| scan.tags[i].digest.as_ref().ok())
            .collect();
        let mut pending: Vec<Pending> = links
            .into_iter()
            .enumerate()
            .map(|(k, link)| self.judge(&mut graph, link, &kept, digests[k]))
            .collect();

        // Deletions need complete evidence and an old enough image.
        for (k, p) in pending.iter_mut().enumerate() {
            if let (Pending::Delete(_), Some(d)) = (&*p, digests[k]) {
                if let Some(keep) = self.deletion_blocker(&mut graph, d) {
                    *p = Pending::Keep(keep);
                }
            }
        }

        // Everything a kept tag needs stays: its manifest, index children, referrers.
        let mut closure: HashSet<Digest> = HashSet::new();
        for (k, p) in pending.iter().enumerate() {
            if let (Pending::Keep(_), Some(d)) = (p, digests[k]) {
                graph.close_over(d, &mut closure);
            }
        }
        // Cosign tags follow their subject. A kept signature can itself pin a manifest (its
        // digest joins the kept set), which can save a subject; repeat until nothing moves.
        // The kept set only grows, so this ends.
        let mut followed: Vec<Option<(bool, Reason)>> = vec![None; pending.len()];
        let has_followers = pending.iter().any(|p| matches!(p, Pending::Follow(_)));
        let mut settled = !has_followers;
        while !settled {
            let going: HashSet<&Digest> = pending
                .iter()
                .enumerate()
                .filter(|(_, p)| matches!(p, Pending::Delete(_)))
                .filter_map(|(k, _)| digests[k])
                .filter(|d| !closure.contains(*d))
                .collect();
            let mut kept_signatures = Vec::new();
            for (k, p) in pending.iter().enumerate() {
                let Pending::Follow(subject) = p else {
                    continue;
                };
                let (keep, reason) = if closure.contains(subject) {
                    (
                        true,
                        Reason::kept(
                            "signature",
                            format!("signature of kept image {}", subject.short()),
                        ),
                    )
                } else if going.contains(subject) {
                    (
                        false,
                        Reason::deleted(
                            "signature",
                            format!("signature of deleted image {}", subject.short()),
                        ),
                    )
                } else {
                    (
                        true,
                        Reason::kept(
                            "missing_evidence",
                            format!(
                                "its signed image {} is not a tagged image this plan judges",
                                subject.short()
                            ),
                        ),
                    )
                };
                if keep {
                    kept_signatures.extend(digests[k].filter(|d| !closure.contains(*d)).cloned());
                }
                followed[k] = Some((keep, reason));
            }
            settled = kept_signatures.is_empty();
            for d in &kept_signatures {
                graph.close_over(d, &mut closure);
            }
        }

        let mut tags = Vec::with_capacity(order.len());
        // Deleted manifests that have referrers (or children, with `untagged: delete`).
        let with_children = config.untagged == Untagged::Delete;
        let mut manifest_gone: BTreeSet<&Digest> = BTreeSet::new();
        for (k, p) in pending.into_iter().enumerate() {
            let t = &scan.tags[order[k]];
            let (keep, reason) = match p {
                Pending::Keep(r) => (true, r),
                Pending::Delete(r) => (false, r),
                Pending::Follow(_) => followed[k].take().expect("every follower was decided"),
            };
            let decision = match (keep, digests[k]) {
                (false, Some(d)) => {
                    let how = if closure.contains(d) {
                        How::UntagOnly
                    } else {
                        if graph.has_dependents(d, with_children) {
                            manifest_gone.insert(d);
                        }
                        How::DeleteManifest
                    };
                    Decision::Delete { reason, how }
                }
                _ => Decision::Keep { reason },
            };
            tags.push(TagDecision {
                tag: t.name.clone(),
                digest: digests[k].cloned(),
                decision,
            });
        }

        let tagged: HashSet<&Digest> = if manifest_gone.is_empty() {
            HashSet::new()
        } else {
            digests.iter().flatten().copied().collect()
        };
        let mut manifest_deletions = Vec::new();
        let mut listed: HashSet<Digest> = HashSet::new();
        for d in manifest_gone {
            for (m, parent, is_referrer) in graph.dependents(d, with_children) {
                if closure.contains(&m) || tagged.contains(&m) || !listed.insert(m.clone()) {
                    continue;
                }
                let reason = if is_referrer {
                    Reason::deleted(
                        "referrer",
                        format!("refers to deleted manifest {}", parent.short()),
                    )
                } else {
                    Reason::deleted(
                        "untagged_child",
                        format!(
                            "untagged child of deleted index {} (untagged: delete)",
                            parent.short()
                        ),
                    )
                };
                manifest_deletions.push(ManifestDeletion {
                    digest: m,
                    reason: reason.with("subject", parent.to_string()),
                });
            }
        }
        let needs = std::mem::take(&mut graph.needs);
        (finish(scan, tags, manifest_deletions), needs)
    }

    /// The decision a link implies, before evidence and age checks.
    fn judge(
        &self,
        graph: &mut Graph<'_>,
        link: Link,
        kept: &[Option<KeptBy>],
        digest: Option<&Digest>,
    ) -> Pending {
        match link {
            Link::Unresolved(e) => Pending::Keep(Reason::kept(
                "missing_evidence",
                format!("the tag could not be resolved ({e})"),
            )),
            Link::Protected(p) => Pending::Keep(
                Reason::kept("protected", format!("matches keep.tags `{p}`")).with("pattern", p),
            ),
            Link::Signature(subject) => Pending::Follow(subject),
            Link::LiveRef(r) => Pending::Keep(
                Reason::kept(
                    "live_ref",
                    match self.input.git.refs[r as usize].kind {
                        RefKind::PullRequest(_) => format!("tag of open {}", self.describe_ref(r)),
                        _ => format!("tag of live {}", self.describe_ref(r)),
                    },
                )
                .with("ref", self.input.git.refs[r as usize].name.clone()),
            ),
            Link::AmbiguousRef(refs) => {
                let names: Vec<String> = refs.iter().map(|&r| self.describe_ref(r)).collect();
                Pending::Keep(Reason::kept(
                    "ambiguous",
                    format!("ambiguous: the tag form of {}", names.join(" and ")),
                ))
            }
            Link::DeadRef(named) => Pending::Delete(
                Reason::deleted("dead_ref", format!("{} no longer exists", named.describe()))
                    .with("ref", named.name.clone()),
            ),
            Link::Commit(c, via) => self.judge_commit(c, &via, kept),
            Link::CommitGone(hex, via) => Pending::Delete(
                Reason::deleted(
                    "commit_gone",
                    format!(
                        "commit {} is no longer in any branch or tag",
                        &hex[..hex.len().min(12)]
                    ),
                )
                .with("commit", hex)
                .with("via", via.describe()),
            ),
            Link::CommitAmbiguous(hex, via) => Pending::Keep(
                Reason::kept(
                    "ambiguous",
                    format!("{} names more than one commit ({hex})", via.describe()),
                )
                .with("commit", hex),
            ),
            Link::Unlinked => self.judge_unlinked(graph, digest),
            Link::Missing(m) => Pending::Keep(Reason::kept("missing_evidence", m.describe())),
        }
    }

    fn judge_commit(&self, c: u32, via: &Via, kept: &[Option<KeptBy>]) -> Pending {
        let git = self.input.git;
        let id = git.commits.id(c);
        match kept[c as usize] {
            Some(by) => {
                let r = &git.refs[by.git_ref as usize];
                let sel = self.selection[by.git_ref as usize].expect("only selected refs keep");
                let rank = by.rank as usize;
                let what = if r.kind == RefKind::Tag {
                    format!(
                        "commit {} is the commit of {}",
                        id.short(),
                        self.describe_ref(by.git_ref)
                    )
                } else {
                    policy_phrase(
                        &id.short(),
                        rank,
                        &sel.images,
                        &self.describe_ref(by.git_ref),
                    )
                };
                Pending::Keep(
                    Reason::kept("policy", what)
                        .with("commit", id.to_hex())
                        .with("ref", r.name.clone())
                        .with("policy", (sel.policy + 1).to_string()),
                )
            }
            None => Pending::Delete(
                Reason::deleted(
                    "policy",
                    format!(
                        "no keep policy keeps commit {} (named by {})",
                        id.short(),
                        via.describe()
                    ),
                )
                .with("commit", id.to_hex()),
            ),
        }
    }

    fn judge_unlinked(&self, graph: &mut Graph<'_>, digest: Option<&Digest>) -> Pending {
        let plain = "not linked to git (no template, revision label or ref fits)";
        let Unlinked::DeleteOlderThan(limit) = self.input.config.unlinked else {
            return Pending::Keep(Reason::kept("unlinked", plain));
        };
        let Some(d) = digest else {
            return Pending::Keep(Reason::kept("unlinked", plain));
        };
        match graph.created(d) {
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
                        format!(
                            "not linked to git and built {} ago, more than unlinked.delete_older_than {}",
                            coarse(age),
                            format_duration(limit)
                        ),
                    ))
                } else {
                    Pending::Keep(Reason::kept(
                        "unlinked",
                        format!(
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
    fn deletion_blocker(&self, graph: &mut Graph<'_>, d: &Digest) -> Option<Reason> {
        let built_within = self.input.config.built_within;
        if built_within.is_zero() {
            return graph
                .images(d)
                .err()
                .map(|m| Reason::kept("missing_evidence", m.describe()));
        }
        match graph.created(d) {
            Err(m) => Some(Reason::kept("missing_evidence", m.describe())),
            Ok(None) => Some(Reason::kept(
                "missing_evidence",
                "its build time is unknown, so keep.built_within cannot be checked",
            )),
            Ok(Some(t)) if self.age(t) < secs(built_within) => Some(Reason::kept(
                "built_within",
                format!(
                    "built {} ago, within keep.built_within {}",
                    coarse(self.age(t).max(0)),
                    format_duration(built_within)
                ),
            )),
            Ok(Some(_)) => None,
        }
    }
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

/// `commit 1a2b3c4 is 1 of the last 2 images within 7d of branch main`.
fn policy_phrase(short: &str, rank: usize, limit: &Limit, git_ref: &str) -> String {
    match limit.last {
        Some(n) if rank <= n => format!(
            "commit {short} is {rank} of {} of {git_ref}",
            limit.describe("image")
        ),
        _ => match limit.within {
            Some(w) => format!(
                "commit {short} is image {rank} of {git_ref}, committed within the last {}",
                format_duration(w)
            ),
            None => format!("commit {short} is image {rank} of {git_ref}, which keeps all images"),
        },
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
