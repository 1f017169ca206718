//! Applies a [`Plan`] through the [`Repository`] trait.
//!
//! Per repository: a digest whose every tag goes is deleted once by digest; a tag whose digest
//! keeps other tags is untagged; referrers and cosign signatures/attestations of deleted
//! manifests go after their subject, and only when the subject really went. Nothing the plan
//! keeps is touched. A failed deletion does not stop the run: it is recorded with the
//! registry's message and the rest continues.
//!
//! Right before a repository's first deletion, the tags are listed again and every kept tag
//! that can move (all but those kept through a commit-pinned template such as `sha-{sha7}`)
//! is resolved again, with every tag that appeared since the scan: a rollback that re-tagged
//! `prod` onto an image the plan deletes cancels that deletion (and those of its children,
//! referrers and cosign tags), reported as drifted. With `recheck` (`--apply FILE`, a plan
//! made earlier), every tag is resolved again instead, and a deleted tag whose digest changed
//! since the plan is skipped.
//!
//! With a journal, every mutation is recorded (manifest bytes read just before) and the record
//! is on disk before the request is sent.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;

use futures_util::StreamExt;
use serde::Serialize;

use super::journal::{Action, Journal, Record};
use super::plan::{Decision, How, Plan, RepoPlan, cosign_subject};
use crate::registry::{Digest, Repository, UntagMethod};
use crate::report::progress::Progress;

/// How deep a moved tag's index is followed to find the children it now keeps; deeper
/// nesting keeps every deletion of the repository (nothing goes by digest).
const MAX_INDEX_DEPTH: usize = 8;

/// How to execute.
#[derive(Debug, Clone, Copy)]
pub struct ExecOptions<'a> {
    /// Most deletions in flight at once per repository.
    pub concurrency: usize,
    /// Resolve every tag again before deleting (a plan from `--apply FILE`).
    pub recheck: bool,
    /// Record every mutation here first (`--journal FILE`).
    pub journal: Option<&'a Journal>,
}

/// What execution did, per repository.
#[derive(Debug, Clone, Default, Serialize)]
pub struct ExecReport {
    /// One entry per repository of the plan.
    pub repos: Vec<RepoOutcome>,
}

impl ExecReport {
    /// True when some deletion failed (exit 3).
    pub fn has_failures(&self) -> bool {
        self.repos.iter().any(|r| !r.failures.is_empty())
    }

    /// True when something was deleted or untagged.
    pub fn changed(&self) -> bool {
        self.repos
            .iter()
            .any(|r| !r.deleted_manifests.is_empty() || !r.untagged.is_empty())
    }

    /// The first journal failure, if a mutation was held back because its record could not
    /// be written.
    pub fn journal_failure(&self) -> Option<&ExecFailure> {
        self.repos
            .iter()
            .flat_map(|r| &r.failures)
            .find(|f| f.journal)
    }
}

/// What happened in one repository.
#[derive(Debug, Clone, Default, Serialize)]
pub struct RepoOutcome {
    /// `host/path` or `oci:PATH`.
    pub repo: String,
    /// Manifests deleted by digest, with the tags that went with them.
    pub deleted_manifests: Vec<DeletedManifest>,
    /// Tags removed while their manifest stays.
    pub untagged: Vec<Untagged>,
    /// Planned deletions not done because the registry changed since the plan.
    pub skipped: Vec<Skipped>,
    /// Tags that moved onto a manifest the plan deletes, and the deletions that cancelled.
    pub drifted: Vec<Drifted>,
    /// Deletions that failed, with the registry's message.
    pub failures: Vec<ExecFailure>,
    /// The requests the check before the first deletion made (None: nothing to delete).
    pub recheck: Option<RecheckCount>,
}

/// A manifest deleted by digest.
#[derive(Debug, Clone, Serialize)]
pub struct DeletedManifest {
    /// The manifest.
    pub digest: Digest,
    /// The tags it carried (empty for an untagged referrer).
    pub tags: Vec<String>,
}

/// A tag removed without its manifest.
#[derive(Debug, Clone, Serialize)]
pub struct Untagged {
    /// The tag.
    pub tag: String,
    /// The manifest it pointed at, which stays.
    pub digest: Digest,
    /// How the backend removed it.
    pub method: UntagMethod,
}

/// A planned deletion left alone.
#[derive(Debug, Clone, Serialize)]
pub struct Skipped {
    /// The tag (None for an untagged manifest).
    pub tag: Option<String>,
    /// The digest the plan saw.
    pub planned: Option<Digest>,
    /// The digest the tag has now (None: the tag is gone).
    pub current: Option<Digest>,
    /// Why it was skipped.
    pub why: String,
}

/// A tag that is not deleted and names, now, a manifest the plan deleted.
#[derive(Debug, Clone, Serialize)]
pub struct Drifted {
    /// The tag (kept, or new since the scan).
    pub tag: String,
    /// Its digest in the plan (None: the tag is new, or was unresolved then).
    pub planned: Option<Digest>,
    /// Its digest now.
    pub current: Digest,
    /// The manifests whose deletion was cancelled because of it: its own, its index children,
    /// its referrers and cosign signatures. Doomed tags on them were untagged instead.
    pub cancelled: Vec<Digest>,
}

/// Requests of the check before the first deletion of a repository.
#[derive(Debug, Clone, Copy, Default, Serialize)]
pub struct RecheckCount {
    /// Tags listed again (one listing, paginated by the backend).
    pub listed: usize,
    /// Tags checked again: from the listing where it gives digests, else one HEAD each.
    pub resolved: usize,
    /// Manifests read (GET) for moved tags that name an index, and for referrers' subjects.
    pub manifests_read: usize,
}

/// A deletion that failed.
#[derive(Debug, Clone, Serialize)]
pub struct ExecFailure {
    /// The tags concerned (empty for an untagged manifest).
    pub tags: Vec<String>,
    /// The manifest concerned.
    pub digest: Digest,
    /// What was attempted: `delete_manifest`, `untag`.
    pub action: String,
    /// The registry's message.
    pub message: String,
    /// The journal could not be written, so the mutation was never sent.
    #[serde(skip)]
    pub journal: bool,
}

impl ExecFailure {
    fn new(tags: Vec<String>, digest: Digest, action: &str, message: String) -> ExecFailure {
        ExecFailure {
            tags,
            digest,
            action: action.into(),
            message,
            journal: false,
        }
    }
}

/// One unit of work.
#[derive(Debug, Clone)]
enum Job {
    DeleteManifest { digest: Digest, tags: Vec<String> },
    Untag { digest: Digest, tag: String },
}

enum JobResult {
    Deleted(DeletedManifest),
    Untagged(Untagged),
    Failed(ExecFailure),
}

/// A plan names a repository the caller did not open (checked before anything runs).
#[derive(Debug, thiserror::Error)]
#[error("the plan names `{repo}`, which was not opened; nothing was deleted")]
pub struct NotOpened {
    /// The repository.
    pub repo: String,
}

/// Executes the plan against `repos` (keyed by [`Repository::name`], which is the plan's
/// `repo`). Every repository of the plan must be there.
pub async fn execute(
    plan: &Plan,
    repos: &HashMap<String, Arc<dyn Repository>>,
    options: ExecOptions<'_>,
    progress: &Progress,
) -> Result<ExecReport, NotOpened> {
    if let Some(rp) = plan.repos.iter().find(|rp| !repos.contains_key(&rp.repo)) {
        return Err(NotOpened {
            repo: rp.repo.clone(),
        });
    }
    let mut report = ExecReport::default();
    for rp in &plan.repos {
        let repo = repos[&rp.repo].as_ref();
        report
            .repos
            .push(execute_repo(rp, repo, options, progress).await);
    }
    Ok(report)
}

/// The number of deletion steps the plan asks for (for progress totals).
pub fn step_count(plan: &Plan) -> u64 {
    plan.repos
        .iter()
        .map(|r| {
            r.tags
                .iter()
                .filter(|t| matches!(t.decision, Decision::Delete { .. }))
                .count()
                + r.manifest_deletions.len()
        })
        .sum::<usize>() as u64
}

/// A kept tag that fits a template with a commit part names one build of one commit: CI does
/// not move it, so the check before deleting does not resolve it again. A tag linked to its
/// commit by a label only (`stable`, `nightly`) can move, and is resolved again.
fn commit_pinned(decision: &Decision) -> bool {
    matches!(decision, Decision::Keep { reason }
        if reason.kind == "policy" && reason.details.get("template").is_some())
}

async fn execute_repo(
    rp: &RepoPlan,
    repo: &dyn Repository,
    options: ExecOptions<'_>,
    progress: &Progress,
) -> RepoOutcome {
    let mut outcome = RepoOutcome {
        repo: rp.repo.clone(),
        ..RepoOutcome::default()
    };
    // Planned deletions: tag → (digest, how).
    let mut deletes: BTreeMap<&str, (&Digest, How)> = BTreeMap::new();
    for t in &rp.tags {
        if let Decision::Delete { how, .. } = &t.decision {
            match &t.digest {
                Some(d) => {
                    deletes.insert(&t.tag, (d, *how));
                }
                None => {
                    progress.inc(1);
                    outcome.skipped.push(Skipped {
                        tag: Some(t.tag.clone()),
                        planned: None,
                        current: None,
                        why: "the plan has no digest for this tag".into(),
                    });
                }
            }
        }
    }
    if deletes.is_empty() && rp.manifest_deletions.is_empty() {
        return outcome;
    }
    let mut count = RecheckCount::default();
    let checked = if options.recheck {
        current_tags(repo, options.concurrency, &mut count, |_| true).await
    } else {
        let pinned: HashSet<&str> = rp
            .tags
            .iter()
            .filter(|t| commit_pinned(&t.decision))
            .map(|t| t.tag.as_str())
            .collect();
        current_tags(repo, options.concurrency, &mut count, |t| {
            !deletes.contains_key(t) && !pinned.contains(t)
        })
        .await
    };
    let mut current = match checked {
        Ok(c) => c,
        Err(message) => {
            for (tag, (digest, _)) in &deletes {
                outcome.failures.push(ExecFailure::new(
                    vec![tag.to_string()],
                    (*digest).clone(),
                    "recheck",
                    message.clone(),
                ));
            }
            progress.inc((deletes.len() + rp.manifest_deletions.len()) as u64);
            outcome.recheck = Some(count);
            return outcome;
        }
    };
    if options.recheck {
        deletes.retain(|tag, (planned, _)| {
            let now = current.digests.get(*tag);
            if now == Some(*planned) {
                return true;
            }
            progress.inc(1);
            outcome.skipped.push(Skipped {
                tag: Some(tag.to_string()),
                planned: Some((*planned).clone()),
                current: now.cloned(),
                why: match (now, current.unknown.get(*tag)) {
                    (Some(_), _) => {
                        "the tag points at another digest than when the plan was made".into()
                    }
                    (None, Some(why)) => {
                        format!("the tag could not be resolved again ({why}); kept")
                    }
                    (None, None) => "the tag no longer exists".into(),
                },
            });
            false
        });
    }

    let planned: HashMap<&str, Option<&Digest>> = rp
        .tags
        .iter()
        .map(|t| (t.tag.as_str(), t.digest.as_ref()))
        .collect();
    let (guard, any_moved) = guard(repo, &deletes, &planned, &mut current, &mut count).await;
    outcome.recheck = Some(count);
    let mut drift = Drift::default();

    // Group by digest: a digest goes as a whole only when the plan says so for every tag on
    // it and no tag that stays names it now, nor could (an unresolved tag).
    let mut by_digest: BTreeMap<&Digest, Vec<(&str, How)>> = BTreeMap::new();
    for (tag, (digest, how)) in &deletes {
        by_digest.entry(*digest).or_default().push((*tag, *how));
    }
    let mut first = Vec::new();
    let mut followers: Vec<(Job, Option<Digest>)> = Vec::new();
    for (digest, tags) in by_digest {
        let all_manifest = tags.iter().all(|(_, h)| *h == How::DeleteManifest);
        let subject = tags.iter().find_map(|(t, _)| cosign_subject(t));
        // A cosign tag of an image that a moved tag now keeps stays with that image.
        if let Some(by) = subject.as_ref().and_then(|s| guard.get(s)) {
            drift.cancel(by, digest);
            for (tag, _) in &tags {
                progress.inc(1);
                outcome.skipped.push(Skipped {
                    tag: Some(tag.to_string()),
                    planned: Some(digest.clone()),
                    current: Some(digest.clone()),
                    why: format!(
                        "drifted: tag {by} now names its signed image {}; the signature stays",
                        subject.as_ref().map_or("", Digest::short)
                    ),
                });
            }
            continue;
        }
        // Only a manifest deletion can be cancelled: untagging beside a tag that stays was
        // the plan already.
        if all_manifest && let Some(by) = guard.get(digest) {
            drift.cancel(by, digest);
        }
        if all_manifest && current.unknown.is_empty() && !guard.contains_key(digest) {
            let job = Job::DeleteManifest {
                digest: digest.clone(),
                tags: tags.iter().map(|(t, _)| t.to_string()).collect(),
            };
            // A cosign-scheme tag follows its subject; so does everything else on its digest.
            match subject {
                Some(subject) => followers.push((job, Some(subject))),
                None => first.push(job),
            }
        } else {
            for (tag, _) in tags {
                first.push(Job::Untag {
                    digest: digest.clone(),
                    tag: tag.to_string(),
                });
            }
        }
    }

    let results = run_jobs(repo, first, options, progress).await;
    let mut failed_subjects: HashSet<Digest> = HashSet::new();
    for r in results {
        if let JobResult::Failed(f) = &r
            && f.action == "delete_manifest"
        {
            failed_subjects.insert(f.digest.clone());
        }
        record(&mut outcome, r);
    }

    // Untagged referrers of deleted subjects: their subject comes from the manifest itself,
    // read only when some subject failed or drifted (otherwise every subject went).
    // A tag that could not be resolved again might name any manifest: none goes by digest.
    let unresolved = current
        .unknown
        .iter()
        .min()
        .map(|(tag, why)| format!("tag {tag} could not be resolved again ({why}); kept"));
    for md in &rp.manifest_deletions {
        if let Some(why) = &unresolved {
            progress.inc(1);
            outcome.skipped.push(Skipped {
                tag: None,
                planned: Some(md.digest.clone()),
                current: None,
                why: why.clone(),
            });
            continue;
        }
        if let Some(by) = guard.get(&md.digest) {
            drift.cancel(by, &md.digest);
            progress.inc(1);
            outcome.skipped.push(Skipped {
                tag: None,
                planned: Some(md.digest.clone()),
                current: None,
                why: format!("drifted: tag {by} now names an index that holds it"),
            });
            continue;
        }
        let subject = if failed_subjects.is_empty() && !any_moved {
            None
        } else {
            if let Some(c) = &mut outcome.recheck {
                c.manifests_read += 1;
            }
            match repo.manifest(md.digest.as_str()).await {
                Ok(m) => m.subject.map(|s| s.digest),
                Err(e) => {
                    progress.inc(1);
                    outcome.failures.push(ExecFailure::new(
                        Vec::new(),
                        md.digest.clone(),
                        "delete_manifest",
                        e.to_string(),
                    ));
                    continue;
                }
            }
        };
        if let Some(by) = subject.as_ref().and_then(|s| guard.get(s)) {
            drift.cancel(by, &md.digest);
            progress.inc(1);
            outcome.skipped.push(Skipped {
                tag: None,
                planned: Some(md.digest.clone()),
                current: None,
                why: format!("drifted: tag {by} now names its subject; the referrer stays"),
            });
            continue;
        }
        followers.push((
            Job::DeleteManifest {
                digest: md.digest.clone(),
                tags: Vec::new(),
            },
            subject,
        ));
    }
    let mut second = Vec::new();
    for (job, subject) in followers {
        match subject.filter(|s| failed_subjects.contains(s)) {
            Some(subject) => {
                let (digest, tags) = match job {
                    Job::DeleteManifest { digest, tags } => (digest, tags),
                    Job::Untag { digest, tag } => (digest, vec![tag]),
                };
                progress.inc(tags.len().max(1) as u64);
                let why = format!("its subject {} could not be deleted", subject.short());
                let names: Vec<Option<String>> = if tags.is_empty() {
                    vec![None]
                } else {
                    tags.into_iter().map(Some).collect()
                };
                for tag in names {
                    outcome.skipped.push(Skipped {
                        tag,
                        planned: Some(digest.clone()),
                        current: Some(digest.clone()),
                        why: why.clone(),
                    });
                }
            }
            None => second.push(job),
        }
    }
    for r in run_jobs(repo, second, options, progress).await {
        record(&mut outcome, r);
    }
    outcome.drifted = drift.into_report(&current, &planned);
    outcome
        .deleted_manifests
        .sort_by(|a, b| a.digest.cmp(&b.digest));
    outcome.untagged.sort_by(|a, b| a.tag.cmp(&b.tag));
    outcome
        .failures
        .sort_by(|a, b| (&a.digest, &a.tags).cmp(&(&b.digest, &b.tags)));
    outcome
        .skipped
        .sort_by(|a, b| (&a.tag, &a.planned).cmp(&(&b.tag, &b.planned)));
    outcome
}

/// The manifests that must stay because a tag that is not deleted names them now, with that
/// tag: its own manifest and, for a tag that moved onto an index, the index's children at any
/// depth up to [`MAX_INDEX_DEPTH`]. A moved index that cannot be read (or is nested deeper)
/// makes its tag unknown, which keeps every manifest of the repository. Also says whether any
/// tag moved (only then can a referrer's subject be among the guarded manifests).
async fn guard(
    repo: &dyn Repository,
    deletes: &BTreeMap<&str, (&Digest, How)>,
    planned: &HashMap<&str, Option<&Digest>>,
    current: &mut Current,
    count: &mut RecheckCount,
) -> (BTreeMap<Digest, String>, bool) {
    let mut guard: BTreeMap<Digest, String> = BTreeMap::new();
    let mut moved: Vec<(&String, &Digest)> = Vec::new();
    let mut staying: Vec<(&String, &Digest)> = current
        .digests
        .iter()
        .filter(|(t, _)| !deletes.contains_key(t.as_str()))
        .collect();
    // Deterministic attribution: by tag name.
    staying.sort();
    for (tag, digest) in staying {
        guard.entry(digest.clone()).or_insert_with(|| tag.clone());
        if planned.get(tag.as_str()).copied().flatten() != Some(digest) {
            moved.push((tag, digest));
        }
    }
    let any_moved = !moved.is_empty();
    let mut unknown = Vec::new();
    for (tag, digest) in moved {
        let mut level = vec![digest.clone()];
        let mut seen: HashSet<Digest> = HashSet::new();
        for depth in 0.. {
            if level.is_empty() {
                break;
            }
            if depth > MAX_INDEX_DEPTH {
                unknown.push((
                    tag.clone(),
                    format!("its index nests deeper than {MAX_INDEX_DEPTH} levels"),
                ));
                break;
            }
            let mut next = Vec::new();
            for d in level {
                if !seen.insert(d.clone()) {
                    continue;
                }
                count.manifests_read += 1;
                match repo.manifest(d.as_str()).await {
                    Ok(m) => {
                        for child in m.children() {
                            guard
                                .entry(child.digest.clone())
                                .or_insert_with(|| tag.clone());
                            next.push(child.digest.clone());
                        }
                    }
                    Err(e) => {
                        unknown.push((
                            tag.clone(),
                            format!("its manifest {d} could not be read: {e}"),
                        ));
                    }
                }
            }
            level = next;
        }
    }
    current.unknown.extend(unknown);
    (guard, any_moved)
}

/// Cancelled deletions per tag that caused them.
#[derive(Default)]
struct Drift(BTreeMap<String, Vec<Digest>>);

impl Drift {
    fn cancel(&mut self, by: &str, digest: &Digest) {
        let list = self.0.entry(by.to_string()).or_default();
        if !list.contains(digest) {
            list.push(digest.clone());
        }
    }

    fn into_report(
        self,
        current: &Current,
        planned: &HashMap<&str, Option<&Digest>>,
    ) -> Vec<Drifted> {
        self.0
            .into_iter()
            .filter_map(|(tag, cancelled)| {
                let now = current.digests.get(&tag)?.clone();
                tracing::warn!(
                    %tag,
                    current = %now,
                    cancelled = cancelled.len(),
                    "a tag moved onto a manifest the plan deletes; that deletion is cancelled"
                );
                Some(Drifted {
                    planned: planned.get(tag.as_str()).copied().flatten().cloned(),
                    current: now,
                    cancelled,
                    tag,
                })
            })
            .collect()
    }
}

fn record(outcome: &mut RepoOutcome, r: JobResult) {
    match r {
        JobResult::Deleted(d) => outcome.deleted_manifests.push(d),
        JobResult::Untagged(u) => outcome.untagged.push(u),
        JobResult::Failed(f) => outcome.failures.push(f),
    }
}

/// The tags listed now that `wanted` selects, and the digest each names now: from the listing
/// where the registry's API lists digests, else one resolve (HEAD) per tag.
async fn current_tags(
    repo: &dyn Repository,
    concurrency: usize,
    count: &mut RecheckCount,
    wanted: impl Fn(&str) -> bool,
) -> Result<Current, String> {
    let tags = repo
        .list_current()
        .await
        .map_err(|e| format!("could not list the tags again: {e}"))?;
    count.listed = tags.len();
    let mut out = Current {
        digests: HashMap::new(),
        unknown: HashMap::new(),
    };
    let mut to_resolve = Vec::new();
    for t in tags.into_iter().filter(|t| wanted(&t.name)) {
        count.resolved += 1;
        match t.digest {
            Some(d) => {
                out.digests.insert(t.name, d);
            }
            None => to_resolve.push(t.name),
        }
    }
    let resolved: Vec<(String, Result<Digest, _>)> =
        futures_util::stream::iter(to_resolve.into_iter().map(|t| async move {
            let d = repo.resolve_digest(&t).await;
            (t, d)
        }))
        .buffer_unordered(concurrency.max(1))
        .collect()
        .await;
    tracing::debug!(
        repo = repo.name(),
        listed = count.listed,
        resolved = count.resolved,
        "tags checked again before deleting"
    );
    for (tag, digest) in resolved {
        match digest {
            Ok(d) => {
                out.digests.insert(tag, d);
            }
            // A tag that vanished between listing and resolving simply is not there any more.
            Err(e) if e.is_not_found() => {}
            // Anything else (a 429, a 5xx, a timeout) says nothing about the tag: it may name
            // any digest.
            Err(e) => {
                out.unknown.insert(tag, e.to_string());
            }
        }
    }
    Ok(out)
}

/// The tags as they are now: their digests, and those that could not be resolved (why).
struct Current {
    digests: HashMap<String, Digest>,
    unknown: HashMap<String, String>,
}

async fn run_jobs(
    repo: &dyn Repository,
    jobs: Vec<Job>,
    options: ExecOptions<'_>,
    progress: &Progress,
) -> Vec<JobResult> {
    futures_util::stream::iter(jobs.into_iter().map(|job| async move {
        let steps = match &job {
            Job::DeleteManifest { tags, .. } => tags.len().max(1) as u64,
            Job::Untag { .. } => 1,
        };
        let r = run_job(repo, job, options.journal).await;
        progress.inc(steps);
        r
    }))
    .buffer_unordered(options.concurrency.max(1))
    .collect()
    .await
}

/// Writes the record of a mutation of `manifest`. Err: the failure to report (the mutation
/// must not be sent).
fn journal(
    repo: &dyn Repository,
    journal: &Journal,
    action: Action,
    manifest: &crate::registry::Manifest,
    tags: &[String],
) -> Result<(), ExecFailure> {
    let verb = match action {
        Action::DeleteManifest => "delete_manifest",
        Action::Untag => "untag",
    };
    // The bytes restore would push must be the manifest's, whatever a header said.
    if !manifest.digest.matches(&manifest.bytes) {
        return Err(ExecFailure::new(
            tags.to_vec(),
            manifest.digest.clone(),
            verb,
            format!(
                "its manifest bytes do not hash to {}; not journaled, so not sent",
                manifest.digest
            ),
        ));
    }
    journal
        .write(&Record::new(repo.name(), action, manifest, tags.to_vec()))
        .map_err(|e| ExecFailure {
            journal: true,
            ..ExecFailure::new(tags.to_vec(), manifest.digest.clone(), verb, e.to_string())
        })
}

async fn run_job(repo: &dyn Repository, job: Job, log: Option<&Journal>) -> JobResult {
    match job {
        Job::DeleteManifest { digest, tags } => {
            if let Some(j) = log {
                let written = match repo.manifest(digest.as_str()).await {
                    Ok(m) => journal(repo, j, Action::DeleteManifest, &m, &tags),
                    Err(e) => Err(ExecFailure::new(
                        tags.clone(),
                        digest.clone(),
                        "delete_manifest",
                        format!("could not read the manifest to journal it ({e}); not deleted"),
                    )),
                };
                if let Err(f) = written {
                    return JobResult::Failed(f);
                }
            }
            match repo.delete_manifest(&digest).await {
                Ok(()) => {
                    tracing::debug!(repo = repo.name(), %digest, ?tags, "deleted manifest");
                    JobResult::Deleted(DeletedManifest { digest, tags })
                }
                // Absent is what was asked: a retried DELETE whose first answer was lost after
                // the registry acted (or a registry that answered 500 after deleting) meets a
                // 404, and so does a manifest another job deleted meanwhile.
                Err(e) if e.is_not_found() => {
                    tracing::debug!(repo = repo.name(), %digest, ?tags, "manifest already absent");
                    JobResult::Deleted(DeletedManifest { digest, tags })
                }
                Err(e) => JobResult::Failed(ExecFailure::new(
                    tags,
                    digest,
                    "delete_manifest",
                    e.to_string(),
                )),
            }
        }
        Job::Untag { digest, tag } => {
            let current = match repo.manifest(digest.as_str()).await {
                Ok(current) => current,
                Err(e) => {
                    return JobResult::Failed(ExecFailure::new(
                        vec![tag],
                        digest,
                        "untag",
                        e.to_string(),
                    ));
                }
            };
            if let Some(j) = log
                && let Err(f) =
                    journal(repo, j, Action::Untag, &current, std::slice::from_ref(&tag))
            {
                return JobResult::Failed(f);
            }
            match repo.untag(&tag, &current).await {
                Ok(method) => {
                    tracing::debug!(repo = repo.name(), %tag, "untagged");
                    JobResult::Untagged(Untagged {
                        tag,
                        digest,
                        method,
                    })
                }
                Err(e) => {
                    JobResult::Failed(ExecFailure::new(vec![tag], digest, "untag", e.to_string()))
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;
    use std::sync::Mutex;

    use super::*;
    use crate::cleanup::plan::{ManifestDeletion, Reason, TagDecision, Totals};
    use crate::registry::{Capabilities, Descriptor, Error, ImageConfig, Manifest};

    /// An in-memory repository that logs every mutating call and can fail deletes.
    #[derive(Default)]
    struct Fake {
        tags: Mutex<BTreeMap<String, Digest>>,
        manifests: Mutex<BTreeMap<Digest, Manifest>>,
        fail: HashSet<Digest>,
        /// Tags whose resolution fails as a rate limit would.
        flaky: HashSet<String>,
        calls: Mutex<Vec<String>>,
        /// Moves these tags to these digests when the tags are listed (the check before
        /// deleting), as a rollback between scan and deletion would.
        on_list: Mutex<Vec<(String, Digest)>>,
        /// Tags resolved, in order.
        resolved: Mutex<Vec<String>>,
    }

    fn manifest(seed: &str, subject: Option<&Digest>) -> Manifest {
        let mut m = serde_json::json!({
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
                       "digest": Digest::of_bytes(seed.as_bytes()), "size": 1},
            "layers": [],
        });
        if let Some(s) = subject {
            m["subject"] = serde_json::json!({"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": s, "size": 1});
        }
        Manifest::parse(serde_json::to_vec(&m).unwrap(), None, None).unwrap()
    }

    impl Fake {
        fn add(&self, m: &Manifest, tags: &[&str]) -> Digest {
            self.manifests
                .lock()
                .unwrap()
                .insert(m.digest.clone(), m.clone());
            for t in tags {
                self.tags
                    .lock()
                    .unwrap()
                    .insert(t.to_string(), m.digest.clone());
            }
            m.digest.clone()
        }
        fn calls(&self) -> Vec<String> {
            self.calls.lock().unwrap().clone()
        }
        fn tags(&self) -> Vec<String> {
            self.tags.lock().unwrap().keys().cloned().collect()
        }
    }

    fn err(why: &str) -> Error {
        Error::InvalidManifest { why: why.into() }
    }

    #[async_trait::async_trait]
    impl Repository for Fake {
        fn name(&self) -> &str {
            "fake/repo"
        }
        fn capabilities(&self) -> Capabilities {
            Capabilities::default()
        }
        async fn list_tags(&self) -> Result<Vec<String>, Error> {
            for (tag, digest) in self.on_list.lock().unwrap().drain(..) {
                self.tags.lock().unwrap().insert(tag, digest);
            }
            Ok(self.tags())
        }
        async fn manifest(&self, reference: &str) -> Result<Manifest, Error> {
            let digest = match Digest::parse(reference) {
                Ok(d) => d,
                Err(_) => self.resolve_digest(reference).await?,
            };
            self.manifests
                .lock()
                .unwrap()
                .get(&digest)
                .cloned()
                .ok_or_else(|| err("manifest unknown"))
        }
        async fn resolve_digest(&self, tag: &str) -> Result<Digest, Error> {
            self.resolved.lock().unwrap().push(tag.to_string());
            if self.flaky.contains(tag) {
                return Err(err("429 Too Many Requests"));
            }
            self.tags
                .lock()
                .unwrap()
                .get(tag)
                .cloned()
                .ok_or_else(|| err("tag unknown"))
        }
        async fn config(&self, _: &Descriptor) -> Result<ImageConfig, Error> {
            Ok(ImageConfig::default())
        }
        async fn referrers(&self, _: &Digest) -> Result<Vec<Descriptor>, Error> {
            Ok(Vec::new())
        }
        async fn delete_manifest(&self, digest: &Digest) -> Result<(), Error> {
            self.calls
                .lock()
                .unwrap()
                .push(format!("delete {}", digest.short()));
            if self.fail.contains(digest) {
                return Err(err("UNSUPPORTED: the operation is unsupported"));
            }
            self.manifests.lock().unwrap().remove(digest);
            self.tags.lock().unwrap().retain(|_, d| d != digest);
            Ok(())
        }
        async fn untag(&self, tag: &str, current: &Manifest) -> Result<UntagMethod, Error> {
            self.calls.lock().unwrap().push(format!("untag {tag}"));
            let mut tags = self.tags.lock().unwrap();
            assert_eq!(tags.get(tag), Some(&current.digest));
            tags.remove(tag);
            Ok(UntagMethod::TagDelete)
        }
    }

    fn reason() -> Reason {
        Reason {
            kind: "test".into(),
            message: "test".into(),
            details: Default::default(),
        }
    }

    fn keep(tag: &str, d: &Digest) -> TagDecision {
        TagDecision {
            tag: tag.into(),
            digest: Some(d.clone()),
            decision: Decision::Keep { reason: reason() },
        }
    }

    /// Kept by a policy through its commit: the planner's `policy` reason, with the template
    /// that linked it (`sha-{sha7}`), or none when a revision label did.
    fn keep_by_policy(tag: &str, d: &Digest, template: Option<&str>) -> TagDecision {
        let mut reason = Reason {
            kind: "policy".into(),
            ..reason()
        };
        if let Some(t) = template {
            reason.details.insert("template", t.to_string());
        }
        TagDecision {
            decision: Decision::Keep { reason },
            ..keep(tag, d)
        }
    }

    fn keep_pinned(tag: &str, d: &Digest) -> TagDecision {
        keep_by_policy(tag, d, Some("sha-{sha7}"))
    }

    fn index_of(children: &[&Digest]) -> Manifest {
        let body = serde_json::json!({
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.index.v1+json",
            "manifests": children.iter().map(|d| serde_json::json!({
                "mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": d, "size": 1,
            })).collect::<Vec<_>>(),
        });
        Manifest::parse(serde_json::to_vec(&body).unwrap(), None, None).unwrap()
    }

    fn delete(tag: &str, d: &Digest, how: How) -> TagDecision {
        TagDecision {
            tag: tag.into(),
            digest: Some(d.clone()),
            decision: Decision::Delete {
                reason: reason(),
                how,
            },
        }
    }

    fn plan_of(tags: Vec<TagDecision>, manifest_deletions: Vec<Digest>) -> Plan {
        Plan {
            schema: 1,
            created_at: chrono::DateTime::UNIX_EPOCH,
            notes: Vec::new(),
            repos: vec![RepoPlan {
                repo: "fake/repo".into(),
                tags,
                manifest_deletions: manifest_deletions
                    .into_iter()
                    .map(|digest| ManifestDeletion {
                        digest,
                        reason: reason(),
                    })
                    .collect(),
                totals: Totals::default(),
            }],
        }
    }

    async fn run(fake: Arc<Fake>, plan: &Plan, recheck: bool) -> RepoOutcome {
        let repos: HashMap<String, Arc<dyn Repository>> =
            HashMap::from([("fake/repo".to_string(), fake as Arc<dyn Repository>)]);
        let opts = ExecOptions {
            concurrency: 4,
            recheck,
            journal: None,
        };
        let mut r = execute(plan, &repos, opts, &Progress::hidden())
            .await
            .unwrap();
        r.repos.remove(0)
    }

    #[tokio::test]
    async fn deletes_untags_and_signatures_follow_subjects() {
        let fake = Arc::new(Fake::default());
        let a = fake.add(&manifest("a", None), &["old", "old-2"]);
        let b = fake.add(&manifest("b", None), &["shared", "main"]);
        let sig_tag = format!("sha256-{}.sig", a.hex());
        let sig = fake.add(&manifest("sig", Some(&a)), &[&sig_tag]);
        let referrer = fake.add(&manifest("ref", Some(&a)), &[]);
        let plan = plan_of(
            vec![
                delete("old", &a, How::DeleteManifest),
                delete("old-2", &a, How::DeleteManifest),
                delete("shared", &b, How::UntagOnly),
                keep("main", &b),
                delete(&sig_tag, &sig, How::DeleteManifest),
            ],
            vec![referrer.clone()],
        );
        let out = run(fake.clone(), &plan, false).await;
        assert!(out.failures.is_empty(), "{:?}", out.failures);
        assert_eq!(fake.tags(), ["main"]);
        let calls = fake.calls();
        let pos = |c: &str| calls.iter().position(|x| x == c).unwrap();
        assert!(pos(&format!("delete {}", a.short())) < pos(&format!("delete {}", sig.short())));
        assert!(
            pos(&format!("delete {}", a.short())) < pos(&format!("delete {}", referrer.short()))
        );
        assert_eq!(calls.len(), 4, "{calls:?}");
        assert_eq!(out.deleted_manifests.len(), 3);
        assert_eq!(out.untagged.len(), 1);
        assert!(fake.manifests.lock().unwrap().contains_key(&b));
        // `main` still names what it named: untagging `shared` beside it cancels nothing.
        assert!(out.drifted.is_empty(), "{:?}", out.drifted);
    }

    #[tokio::test]
    async fn a_failed_subject_keeps_its_signatures_and_the_run_goes_on() {
        let a_m = manifest("a", None);
        let mut fake = Fake::default();
        fake.fail.insert(a_m.digest.clone());
        let fake = Arc::new(fake);
        let a = fake.add(&a_m, &["a"]);
        let c = fake.add(&manifest("c", None), &["c"]);
        let sig_tag = format!("sha256-{}.sig", a.hex());
        let sig = fake.add(&manifest("sig", Some(&a)), &[&sig_tag]);
        let referrer = fake.add(&manifest("ref", Some(&a)), &[]);
        let plan = plan_of(
            vec![
                delete("a", &a, How::DeleteManifest),
                delete("c", &c, How::DeleteManifest),
                delete(&sig_tag, &sig, How::DeleteManifest),
            ],
            vec![referrer.clone()],
        );
        let out = run(fake.clone(), &plan, false).await;
        assert_eq!(out.failures.len(), 1);
        assert!(out.failures[0].message.contains("UNSUPPORTED"));
        assert_eq!(out.deleted_manifests.len(), 1);
        assert_eq!(out.deleted_manifests[0].digest, c);
        assert_eq!(out.skipped.len(), 2);
        assert_eq!(fake.tags(), vec!["a".to_string(), sig_tag]);
        assert!(fake.manifests.lock().unwrap().contains_key(&referrer));
    }

    #[tokio::test]
    async fn recheck_skips_drifted_tags_and_untags_when_a_new_tag_arrived() {
        let fake = Arc::new(Fake::default());
        let a = fake.add(&manifest("a", None), &["x", "y"]);
        let b = fake.add(&manifest("b", None), &["moved"]);
        let c = fake.add(&manifest("c", None), &[]);
        let plan = plan_of(
            vec![
                delete("x", &a, How::DeleteManifest),
                delete("moved", &c, How::DeleteManifest),
            ],
            vec![],
        );
        // Since the plan: `y` appeared on a's digest, `moved` now points at b.
        let out = run(fake.clone(), &plan, true).await;
        assert!(out.failures.is_empty());
        assert_eq!(out.skipped.len(), 1);
        assert_eq!(out.skipped[0].tag.as_deref(), Some("moved"));
        assert_eq!(out.skipped[0].current.as_ref(), Some(&b));
        assert_eq!(out.untagged.len(), 1);
        assert!(out.deleted_manifests.is_empty());
        assert_eq!(fake.tags(), ["moved", "y"]);
        assert_eq!(fake.calls(), ["untag x"]);
    }

    /// Issue 10 case 2: a tag whose re-resolution fails (a 429) is not "gone": its own
    /// deletion is skipped, and since it might name any digest, nothing goes by digest.
    #[tokio::test]
    async fn recheck_treats_an_unresolvable_tag_as_unknown_not_absent() {
        let shared = manifest("shared", None);
        let fake = Arc::new(Fake {
            flaky: HashSet::from(["prod".to_string(), "old".to_string()]),
            ..Fake::default()
        });
        let d = fake.add(&shared, &["doomed", "prod"]);
        let o = fake.add(&manifest("old", None), &["old"]);
        let sig = fake.add(&manifest("sig", Some(&d)), &[]);
        let plan = plan_of(
            vec![
                delete("doomed", &d, How::DeleteManifest),
                delete("old", &o, How::DeleteManifest),
            ],
            vec![sig.clone()],
        );
        let out = run(fake.clone(), &plan, true).await;
        assert!(
            out.deleted_manifests.is_empty(),
            "{:?}",
            out.deleted_manifests
        );
        assert_eq!(fake.calls(), ["untag doomed"]);
        let old = out
            .skipped
            .iter()
            .find(|s| s.tag.as_deref() == Some("old"))
            .unwrap();
        assert!(
            old.why.contains("could not be resolved again"),
            "{}",
            old.why
        );
        assert!(
            out.skipped
                .iter()
                .any(|s| s.tag.is_none() && s.planned.as_ref() == Some(&sig))
        );
        assert!(fake.tags().contains(&"prod".to_string()));
    }

    /// The rollback race: `prod` is re-tagged onto the image the plan deletes between the scan
    /// and the deletion. The deletion is cancelled (the image's other doomed tag is untagged),
    /// its signature stays, and the drift names the tag and both digests. Only tags that can
    /// move are resolved again: not the doomed ones, not the commit-pinned ones (but a tag a
    /// revision label linked, `stable`, is).
    #[tokio::test]
    async fn a_kept_tag_that_moved_onto_a_doomed_image_cancels_its_deletion() {
        let fake = Arc::new(Fake::default());
        let old = fake.add(&manifest("old", None), &["old", "old-2"]);
        let live = fake.add(&manifest("live", None), &["prod", "sha-1234567", "stable"]);
        let gone = fake.add(&manifest("gone", None), &["gone"]);
        let sig_tag = format!("sha256-{}.sig", old.hex());
        let sig = fake.add(&manifest("sig", Some(&old)), &[&sig_tag]);
        let referrer = fake.add(&manifest("ref", Some(&old)), &[]);
        *fake.on_list.lock().unwrap() = vec![("prod".into(), old.clone())];
        let plan = plan_of(
            vec![
                keep("prod", &live),
                keep_pinned("sha-1234567", &live),
                keep_by_policy("stable", &live, None),
                delete("old", &old, How::DeleteManifest),
                delete("old-2", &old, How::DeleteManifest),
                delete("gone", &gone, How::DeleteManifest),
                delete(&sig_tag, &sig, How::DeleteManifest),
            ],
            vec![referrer.clone()],
        );
        let out = run(fake.clone(), &plan, false).await;
        assert!(out.failures.is_empty(), "{:?}", out.failures);
        let mut resolved = fake.resolved.lock().unwrap().clone();
        resolved.sort();
        assert_eq!(resolved, ["prod", "stable"]);
        let calls = fake.calls();
        assert!(
            calls.contains(&format!("delete {}", gone.short())),
            "{calls:?}"
        );
        assert!(!calls.iter().any(|c| c.contains(old.short())), "{calls:?}");
        assert!(
            !calls.contains(&format!("delete {}", sig.short())),
            "{calls:?}"
        );
        assert!(
            !calls.contains(&format!("delete {}", referrer.short())),
            "{calls:?}"
        );
        assert_eq!(
            fake.tags(),
            ["prod", "sha-1234567", sig_tag.as_str(), "stable"]
        );
        assert_eq!(out.drifted.len(), 1, "{:?}", out.drifted);
        let d = &out.drifted[0];
        assert_eq!(d.tag, "prod");
        assert_eq!(d.planned.as_ref(), Some(&live));
        assert_eq!(d.current, old);
        assert!(d.cancelled.contains(&old) && d.cancelled.contains(&sig));
        assert!(d.cancelled.contains(&referrer));
        assert_eq!(out.untagged.len(), 2);
        let count = out.recheck.unwrap();
        assert_eq!((count.listed, count.resolved), (7, 2));
    }

    /// A tag that appeared since the scan and names a doomed index keeps the index and its
    /// children (which the plan deleted as untagged children).
    #[tokio::test]
    async fn a_new_tag_on_a_doomed_index_keeps_its_children() {
        let fake = Arc::new(Fake::default());
        let child = fake.add(&manifest("amd64", None), &[]);
        let idx = fake.add(&index_of(&[&child]), &["v1"]);
        let other = fake.add(&manifest("other", None), &["other"]);
        *fake.on_list.lock().unwrap() = vec![("rollback".into(), idx.clone())];
        let plan = plan_of(
            vec![
                delete("v1", &idx, How::DeleteManifest),
                delete("other", &other, How::DeleteManifest),
            ],
            vec![child.clone()],
        );
        let out = run(fake.clone(), &plan, false).await;
        assert!(out.failures.is_empty(), "{:?}", out.failures);
        assert_eq!(
            fake.calls(),
            [format!("delete {}", other.short()), "untag v1".into()]
        );
        assert!(fake.manifests.lock().unwrap().contains_key(&child));
        assert_eq!(out.drifted[0].tag, "rollback");
        assert_eq!(out.drifted[0].planned, None);
        assert!(out.drifted[0].cancelled.contains(&child));
    }

    /// A movable kept tag that cannot be resolved before deleting (a 429) may name anything:
    /// nothing goes by digest in that repository, doomed tags are untagged only.
    #[tokio::test]
    async fn an_unresolvable_kept_tag_stops_digest_deletions_without_recheck() {
        let fake = Arc::new(Fake {
            flaky: HashSet::from(["prod".to_string()]),
            ..Fake::default()
        });
        let live = fake.add(&manifest("live", None), &["prod"]);
        let old = fake.add(&manifest("old", None), &["old"]);
        let referrer = fake.add(&manifest("ref", Some(&old)), &[]);
        let plan = plan_of(
            vec![
                keep("prod", &live),
                delete("old", &old, How::DeleteManifest),
            ],
            vec![referrer.clone()],
        );
        let out = run(fake.clone(), &plan, false).await;
        assert_eq!(fake.calls(), ["untag old"]);
        assert!(out.deleted_manifests.is_empty());
        assert!(
            out.skipped
                .iter()
                .any(|s| s.planned.as_ref() == Some(&referrer))
        );
    }

    /// Nothing to delete: no request at all.
    #[tokio::test]
    async fn a_plan_that_deletes_nothing_checks_nothing() {
        let fake = Arc::new(Fake::default());
        let live = fake.add(&manifest("live", None), &["prod"]);
        *fake.on_list.lock().unwrap() = vec![("x".into(), live.clone())];
        let out = run(
            fake.clone(),
            &plan_of(vec![keep("prod", &live)], vec![]),
            false,
        )
        .await;
        assert!(out.recheck.is_none());
        assert!(fake.resolved.lock().unwrap().is_empty());
        assert_eq!(fake.tags(), ["prod"], "the tags were not even listed");
    }

    /// With a journal, each mutation's record (exact bytes, tags) is on disk before it is
    /// sent; a journal that cannot be written sends nothing.
    #[tokio::test]
    async fn every_mutation_is_journaled_first_and_a_broken_journal_sends_nothing() {
        let fake = Arc::new(Fake::default());
        let a_m = manifest("a", None);
        let a = fake.add(&a_m, &["old"]);
        let b = fake.add(&manifest("b", None), &["shared", "main"]);
        let plan = plan_of(
            vec![
                delete("old", &a, How::DeleteManifest),
                delete("shared", &b, How::UntagOnly),
                keep("main", &b),
            ],
            vec![],
        );
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("j.jsonl");
        let journal = Journal::open(&path).unwrap();
        let repos: HashMap<String, Arc<dyn Repository>> =
            HashMap::from([("fake/repo".to_string(), fake.clone() as Arc<dyn Repository>)]);
        let opts = ExecOptions {
            concurrency: 1,
            recheck: false,
            journal: Some(&journal),
        };
        let report = execute(&plan, &repos, opts, &Progress::hidden())
            .await
            .unwrap();
        assert!(!report.has_failures());
        let records = super::super::journal::read(&path).unwrap();
        assert_eq!(records.len(), 2);
        let del = records
            .iter()
            .find(|r| r.action == Action::DeleteManifest)
            .unwrap();
        assert_eq!(del.digest, a);
        assert_eq!(del.tags, ["old"]);
        assert_eq!(del.bytes().unwrap(), a_m.bytes);
        let untag = records.iter().find(|r| r.action == Action::Untag).unwrap();
        assert_eq!(
            (untag.digest.clone(), untag.tags.clone()),
            (b, vec!["shared".to_string()])
        );

        // A journal whose write failed: nothing is sent, and it says why.
        let fake = Arc::new(Fake::default());
        let c = fake.add(&manifest("c", None), &["c"]);
        let broken = Journal::broken(&dir.path().join("broken.jsonl"));
        let repos: HashMap<String, Arc<dyn Repository>> =
            HashMap::from([("fake/repo".to_string(), fake.clone() as Arc<dyn Repository>)]);
        let opts = ExecOptions {
            journal: Some(&broken),
            ..opts
        };
        let plan = plan_of(vec![delete("c", &c, How::DeleteManifest)], vec![]);
        let report = execute(&plan, &repos, opts, &Progress::hidden())
            .await
            .unwrap();
        assert!(fake.calls().is_empty(), "{:?}", fake.calls());
        assert!(report.journal_failure().is_some());
        assert!(!report.changed());
    }
}
