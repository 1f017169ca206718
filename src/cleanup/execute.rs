//! Applies a [`Plan`] through the [`Repository`] trait.
//!
//! Per repository: a digest whose every tag goes is deleted once by digest; a tag whose digest
//! keeps other tags is untagged; referrers and cosign signatures/attestations of deleted
//! manifests go after their subject, and only when the subject really went. Nothing the plan
//! keeps is touched. A failed deletion does not stop the run: it is recorded with the
//! registry's message and the rest continues.
//!
//! With `recheck` (`--apply FILE`, a plan made earlier), every tag is resolved again first:
//! a tag whose digest changed since the plan is skipped and reported, and a planned manifest
//! deletion falls back to untagging when some tag that is not being deleted now points at it.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;

use futures_util::StreamExt;
use serde::Serialize;

use super::plan::{Decision, How, Plan, RepoPlan, cosign_subject};
use crate::registry::{Digest, Repository, UntagMethod};
use crate::report::progress::Progress;

/// How to execute.
#[derive(Debug, Clone, Copy)]
pub struct ExecOptions {
    /// Most deletions in flight at once per repository.
    pub concurrency: usize,
    /// Resolve every tag again before deleting (a plan from `--apply FILE`).
    pub recheck: bool,
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
    /// Deletions that failed, with the registry's message.
    pub failures: Vec<ExecFailure>,
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
    options: ExecOptions,
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

async fn execute_repo(
    rp: &RepoPlan,
    repo: &dyn Repository,
    options: ExecOptions,
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
    let current = if options.recheck {
        match current_tags(repo, options.concurrency).await {
            Ok(c) => Some(c),
            Err(message) => {
                for (tag, (digest, _)) in &deletes {
                    outcome.failures.push(ExecFailure {
                        tags: vec![tag.to_string()],
                        digest: (*digest).clone(),
                        action: "recheck".into(),
                        message: message.clone(),
                    });
                }
                progress.inc((deletes.len() + rp.manifest_deletions.len()) as u64);
                return outcome;
            }
        }
    } else {
        None
    };
    if let Some(current) = &current {
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

    // Group by digest: a digest goes as a whole only when the plan says so for every tag on
    // it and (when rechecked) no other tag points at it now.
    let mut by_digest: BTreeMap<&Digest, Vec<(&str, How)>> = BTreeMap::new();
    for (tag, (digest, how)) in &deletes {
        by_digest.entry(*digest).or_default().push((*tag, *how));
    }
    let mut first = Vec::new();
    let mut followers: Vec<(Job, Option<Digest>)> = Vec::new();
    for (digest, tags) in by_digest {
        let all_manifest = tags.iter().all(|(_, h)| *h == How::DeleteManifest);
        // Another tag names the digest now, or one could not be resolved and might.
        let others_now = current.as_ref().is_some_and(|c| {
            !c.unknown.is_empty()
                || c.digests
                    .iter()
                    .any(|(t, d)| d == digest && !tags.iter().any(|(x, _)| x == t))
        });
        if all_manifest && !others_now {
            let job = Job::DeleteManifest {
                digest: digest.clone(),
                tags: tags.iter().map(|(t, _)| t.to_string()).collect(),
            };
            // A cosign-scheme tag follows its subject; so does everything else on its digest.
            match tags.iter().find_map(|(t, _)| cosign_subject(t)) {
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

    let results = run_jobs(repo, first, options.concurrency, progress).await;
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
    // read only when some subject failed (otherwise every subject went).
    // A tag that could not be resolved again might name any manifest: none goes by digest.
    let unresolved = current
        .as_ref()
        .and_then(|c| c.unknown.iter().min())
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
        let subject = if failed_subjects.is_empty() {
            None
        } else {
            match repo.manifest(md.digest.as_str()).await {
                Ok(m) => m.subject.map(|s| s.digest),
                Err(e) => {
                    progress.inc(1);
                    outcome.failures.push(ExecFailure {
                        tags: Vec::new(),
                        digest: md.digest.clone(),
                        action: "delete_manifest".into(),
                        message: e.to_string(),
                    });
                    continue;
                }
            }
        };
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
    for r in run_jobs(repo, second, options.concurrency, progress).await {
        record(&mut outcome, r);
    }
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

fn record(outcome: &mut RepoOutcome, r: JobResult) {
    match r {
        JobResult::Deleted(d) => outcome.deleted_manifests.push(d),
        JobResult::Untagged(u) => outcome.untagged.push(u),
        JobResult::Failed(f) => outcome.failures.push(f),
    }
}

/// Every tag and the digest it names now.
async fn current_tags(repo: &dyn Repository, concurrency: usize) -> Result<Current, String> {
    let tags = repo
        .list_tags()
        .await
        .map_err(|e| format!("could not list the tags again: {e}"))?;
    let resolved: Vec<(String, Result<Digest, _>)> =
        futures_util::stream::iter(tags.into_iter().map(|t| async move {
            let d = repo.resolve_digest(&t).await;
            (t, d)
        }))
        .buffer_unordered(concurrency.max(1))
        .collect()
        .await;
    let mut out = Current {
        digests: HashMap::with_capacity(resolved.len()),
        unknown: HashMap::new(),
    };
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
    concurrency: usize,
    progress: &Progress,
) -> Vec<JobResult> {
    futures_util::stream::iter(jobs.into_iter().map(|job| async move {
        let steps = match &job {
            Job::DeleteManifest { tags, .. } => tags.len().max(1) as u64,
            Job::Untag { .. } => 1,
        };
        let r = run_job(repo, job).await;
        progress.inc(steps);
        r
    }))
    .buffer_unordered(concurrency.max(1))
    .collect()
    .await
}

async fn run_job(repo: &dyn Repository, job: Job) -> JobResult {
    match job {
        Job::DeleteManifest { digest, tags } => match repo.delete_manifest(&digest).await {
            Ok(()) => {
                tracing::debug!(repo = repo.name(), %digest, ?tags, "deleted manifest");
                JobResult::Deleted(DeletedManifest { digest, tags })
            }
            Err(e) => JobResult::Failed(ExecFailure {
                tags,
                digest,
                action: "delete_manifest".into(),
                message: e.to_string(),
            }),
        },
        Job::Untag { digest, tag } => {
            let result = match repo.manifest(digest.as_str()).await {
                Ok(current) => repo.untag(&tag, &current).await,
                Err(e) => Err(e),
            };
            match result {
                Ok(method) => {
                    tracing::debug!(repo = repo.name(), %tag, "untagged");
                    JobResult::Untagged(Untagged {
                        tag,
                        digest,
                        method,
                    })
                }
                Err(e) => JobResult::Failed(ExecFailure {
                    tags: vec![tag],
                    digest,
                    action: "untag".into(),
                    message: e.to_string(),
                }),
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
}
