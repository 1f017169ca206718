//! `berth restore JOURNAL`: pushes back what a `cleanup --journal` removed. Per repository of
//! the journal: every journaled manifest, children before indexes and subjects before
//! referrers (from the manifests' own content), then the tags (all, or those of `--tag`), each
//! to the digest its latest record gives it.
//!
//! Idempotent: a manifest or tag that is already there is left alone, so a second run sends
//! nothing that changes anything. A tag that names another manifest now is left alone too: a
//! newer push wins over a restore. A registry that has collected a manifest's blobs since
//! refuses it; the report names the missing blob. `--dry-run` sends only reads.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use anyhow::Context;

use crate::cleanup::journal::{self, Record};
use crate::cli::{GlobalArgs, OutputFormat, RestoreArgs};
use crate::exit::{ExitStatus, Failure};
use crate::registry::{Connector, Digest, Error, Manifest, Repository};
use crate::report;
use crate::report::restore::{ManifestResult, RepoRestore, RestoreReport, Status, TagResult};
use crate::settings;

/// Runs the command.
pub async fn run(global: &GlobalArgs, args: RestoreArgs) -> anyhow::Result<ExitStatus> {
    let records = journal::read(&args.journal).map_err(|e| Failure::new(ExitStatus::Usage, e))?;
    let mut plans = plans(&records);
    if !args.tags.is_empty() {
        let known: BTreeSet<&str> = plans
            .values()
            .flat_map(|p| p.tags.keys().map(String::as_str))
            .collect();
        let unknown: Vec<&str> = args
            .tags
            .iter()
            .map(String::as_str)
            .filter(|t| !known.contains(t))
            .collect();
        if !unknown.is_empty() {
            return Err(Failure::new(
                ExitStatus::Usage,
                anyhow::anyhow!(
                    "the journal {} has no record of tag(s) {}; pass tags it removed (see `berth \
                     restore {} --dry-run`)",
                    args.journal.display(),
                    unknown.join(", "),
                    args.journal.display()
                ),
            )
            .into());
        }
        for p in plans.values_mut() {
            p.tags.retain(|t, _| args.tags.contains(t));
        }
    }
    let connector = Connector::new(settings::registry_options(global, &settings::process_env));
    let mut repos = Vec::with_capacity(plans.len());
    for name in plans.keys() {
        let repo = connector.open(name).map_err(|e| {
            Failure::new(
                ExitStatus::Error,
                anyhow::anyhow!(
                    "cannot open `{name}` from the journal {}: {e}; nothing was restored",
                    args.journal.display()
                ),
            )
        })?;
        repos.push(repo);
    }
    let mut report = RestoreReport {
        schema: report::restore::SCHEMA,
        dry_run: args.dry_run,
        repos: Vec::new(),
    };
    for (plan, repo) in plans.into_values().zip(repos) {
        report
            .repos
            .push(restore_repo(plan, repo, args.dry_run).await);
    }
    let counts = connector.request_counts();
    tracing::debug!(
        total = counts.total(),
        get = counts.get,
        head = counts.head,
        put = counts.put,
        "HTTP requests sent"
    );
    let text = match args.output {
        OutputFormat::Json => report::restore::json(&report),
        OutputFormat::Text | OutputFormat::Markdown => report::restore::text(&report),
    };
    report::stdout(&text).context("cannot write the report to stdout")?;
    Ok(if report.incomplete() {
        ExitStatus::Partial
    } else {
        ExitStatus::Success
    })
}

/// What to push back into one repository.
struct RepoPlan {
    manifests: BTreeMap<Digest, Manifest>,
    /// Tag → the digest of its latest record.
    tags: BTreeMap<String, Digest>,
}

/// The records grouped per repository. A tag removed twice (re-pushed in between) gets the
/// digest of its latest removal: that is what it named last.
fn plans(records: &[Record]) -> BTreeMap<String, RepoPlan> {
    let mut out: BTreeMap<String, RepoPlan> = BTreeMap::new();
    for r in records {
        let bytes = r
            .bytes()
            .expect("journal::read checked every record's bytes");
        let Ok(manifest) = Manifest::parse(bytes, Some(&r.media_type), Some(r.digest.clone()))
        else {
            tracing::warn!(digest = %r.digest, repo = %r.repo, "a journaled manifest is not a manifest; skipped");
            continue;
        };
        let plan = out.entry(r.repo.clone()).or_insert_with(|| RepoPlan {
            manifests: BTreeMap::new(),
            tags: BTreeMap::new(),
        });
        for t in &r.tags {
            plan.tags.insert(t.clone(), r.digest.clone());
        }
        plan.manifests.insert(r.digest.clone(), manifest);
    }
    out
}

async fn restore_repo(plan: RepoPlan, repo: Arc<dyn Repository>, dry_run: bool) -> RepoRestore {
    let all: Vec<Manifest> = plan.manifests.values().cloned().collect();
    let mut manifests = Vec::with_capacity(all.len());
    for digest in journal::restore_order(&all) {
        let m = &plan.manifests[&digest];
        let (status, message) = restore_manifest(repo.as_ref(), m, dry_run).await;
        manifests.push(ManifestResult {
            digest,
            media_type: m.media_type.clone(),
            status,
            message,
        });
    }
    let mut tags = Vec::with_capacity(plan.tags.len());
    for (tag, digest) in plan.tags {
        let back = manifests
            .iter()
            .find(|r| r.digest == digest)
            .is_some_and(|r| r.status.ok());
        let (status, message) = if back {
            restore_tag(repo.as_ref(), &tag, &plan.manifests[&digest], dry_run).await
        } else {
            (
                Status::Failed,
                Some(format!("its manifest {digest} could not be restored")),
            )
        };
        tags.push(TagResult {
            tag,
            digest,
            status,
            message,
        });
    }
    RepoRestore {
        repo: repo.name().to_string(),
        manifests,
        tags,
    }
}

async fn restore_manifest(
    repo: &dyn Repository,
    m: &Manifest,
    dry_run: bool,
) -> (Status, Option<String>) {
    match repo.manifest(m.digest.as_str()).await {
        Ok(_) => return (Status::AlreadyPresent, None),
        Err(e) if e.is_not_found() => {}
        Err(e) => return (Status::Failed, Some(e.to_string())),
    }
    if dry_run {
        return (Status::WouldRestore, None);
    }
    match repo
        .push_manifest(m.digest.as_str(), &m.media_type, m.bytes.clone())
        .await
    {
        Ok(d) if d == m.digest => (Status::Restored, None),
        Ok(d) => (
            Status::Failed,
            Some(format!("the registry stored it as {d}, not {}", m.digest)),
        ),
        Err(e @ Error::NotFound { .. }) => (Status::BlobsMissing, Some(e.to_string())),
        Err(e) => (Status::Failed, Some(e.to_string())),
    }
}

async fn restore_tag(
    repo: &dyn Repository,
    tag: &str,
    m: &Manifest,
    dry_run: bool,
) -> (Status, Option<String>) {
    match repo.resolve_digest(tag).await {
        Ok(d) if d == m.digest => return (Status::AlreadyPresent, None),
        Ok(d) => {
            return (
                Status::Conflict,
                Some(format!(
                    "the tag names {d} now; delete or move it first to restore {}",
                    m.digest
                )),
            );
        }
        Err(e) if e.is_not_found() => {}
        Err(e) => return (Status::Failed, Some(e.to_string())),
    }
    if dry_run {
        return (Status::WouldRestore, None);
    }
    match repo
        .push_manifest(tag, &m.media_type, m.bytes.clone())
        .await
    {
        Ok(_) => (Status::Restored, None),
        Err(e) => (Status::Failed, Some(e.to_string())),
    }
}
