//! Rendering of a cleanup: the plan and, after execution, what happened.
//!
//! Three formats: text (a summary line per repository, then the decisions grouped by
//! reason), JSON (stable, `"schema": 1`, documented in the README) and markdown (for
//! `$GITHUB_STEP_SUMMARY` and merge-request comments). Rendering is pure: it returns strings;
//! [`super::stdout`] and [`write_step_summary`] do the writing.

use std::collections::{BTreeMap, HashMap};
use std::fmt::Write as _;
use std::path::Path;

use serde::Serialize;

use crate::cleanup::execute::{Drifted, ExecReport, RecheckCount, RepoOutcome};
use crate::cleanup::plan::{Decision, How, Plan, Reason, RepoPlan};
use crate::registry::Digest;

/// The JSON report's format version.
pub const SCHEMA: u32 = 1;

/// Report formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// Summary lines, then decisions grouped by reason.
    Text,
    /// The stable JSON document (`"schema": 1`).
    Json,
    /// Markdown tables.
    Markdown,
}

/// Renders `report` in `format`.
pub fn render(report: &CleanupReport<'_>, format: Format) -> String {
    match format {
        Format::Text => text(report),
        Format::Json => json(report),
        Format::Markdown => markdown(report),
    }
}

/// How the cleanup ran.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Mode {
    /// Planned only; nothing was sent that changes the registry.
    DryRun,
    /// Planned and executed.
    Run,
    /// A reviewed plan (`--apply FILE`) executed after re-checking every digest.
    Apply,
}

/// Everything a cleanup report shows.
#[derive(Debug, Clone, Copy)]
pub struct CleanupReport<'a> {
    /// The plan.
    pub plan: &'a Plan,
    /// What execution did (None for a dry run).
    pub exec: Option<&'a ExecReport>,
    /// How it ran.
    pub mode: Mode,
}

/// What happened to one tag.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum TagResult {
    /// Its manifest was deleted.
    Deleted,
    /// The tag was removed; the manifest stays for other tags.
    Untagged,
    /// The deletion failed.
    Failed,
    /// The deletion was not attempted (drifted digest, failed subject).
    Skipped,
}

#[derive(Serialize)]
struct JsonReport<'a> {
    schema: u32,
    mode: Mode,
    planned_at: String,
    #[serde(skip_serializing_if = "<[String]>::is_empty")]
    notes: &'a [String],
    totals: Summary,
    repos: Vec<JsonRepo<'a>>,
}

#[derive(Serialize)]
struct JsonRepo<'a> {
    repo: &'a str,
    totals: Summary,
    tags: Vec<JsonTag<'a>>,
    manifest_deletions: Vec<JsonManifest<'a>>,
    failures: Vec<JsonFailure<'a>>,
    skipped: Vec<JsonSkipped<'a>>,
    #[serde(skip_serializing_if = "<[Drifted]>::is_empty")]
    drifted: &'a [Drifted],
    #[serde(skip_serializing_if = "Option::is_none")]
    recheck: Option<RecheckCount>,
}

#[derive(Serialize)]
struct JsonTag<'a> {
    tag: &'a str,
    digest: Option<&'a Digest>,
    action: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    how: Option<How>,
    reason: &'a Reason,
    #[serde(skip_serializing_if = "Option::is_none")]
    result: Option<TagResult>,
}

#[derive(Serialize)]
struct JsonManifest<'a> {
    digest: &'a Digest,
    reason: &'a Reason,
    #[serde(skip_serializing_if = "Option::is_none")]
    result: Option<TagResult>,
}

#[derive(Serialize)]
struct JsonFailure<'a> {
    tags: &'a [String],
    digest: &'a Digest,
    action: &'a str,
    message: &'a str,
}

#[derive(Serialize)]
struct JsonSkipped<'a> {
    tag: Option<&'a str>,
    planned: Option<&'a Digest>,
    current: Option<&'a Digest>,
    why: &'a str,
}

/// Counts for a repository or the whole run.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Summary {
    /// Tags seen.
    pub tags: usize,
    /// Tags kept.
    pub kept: usize,
    /// Tags the plan deletes.
    pub planned_deletions: usize,
    /// Tags whose manifest was deleted.
    pub deleted: usize,
    /// Tags removed with their manifest staying.
    pub untagged: usize,
    /// Untagged manifests (referrers) deleted.
    pub manifests_deleted: usize,
    /// Deletions that failed.
    pub failed: usize,
    /// Deletions skipped.
    pub skipped: usize,
    /// Tags that moved onto a manifest the plan deleted (that deletion was cancelled).
    pub drifted: usize,
}

impl std::ops::AddAssign for Summary {
    fn add_assign(&mut self, o: Summary) {
        self.tags += o.tags;
        self.kept += o.kept;
        self.planned_deletions += o.planned_deletions;
        self.deleted += o.deleted;
        self.untagged += o.untagged;
        self.manifests_deleted += o.manifests_deleted;
        self.failed += o.failed;
        self.skipped += o.skipped;
        self.drifted += o.drifted;
    }
}

/// Per-repository view joining the plan and the outcome.
struct RepoView<'a> {
    plan: &'a RepoPlan,
    outcome: Option<&'a RepoOutcome>,
    tag_results: HashMap<&'a str, TagResult>,
    manifest_results: HashMap<&'a Digest, TagResult>,
    summary: Summary,
}

impl<'a> RepoView<'a> {
    fn new(plan: &'a RepoPlan, outcome: Option<&'a RepoOutcome>) -> RepoView<'a> {
        let mut tag_results = HashMap::new();
        let mut manifest_results = HashMap::new();
        if let Some(o) = outcome {
            for d in &o.deleted_manifests {
                if d.tags.is_empty() {
                    manifest_results.insert(&d.digest, TagResult::Deleted);
                }
                for t in &d.tags {
                    tag_results.insert(t.as_str(), TagResult::Deleted);
                }
            }
            for u in &o.untagged {
                tag_results.insert(u.tag.as_str(), TagResult::Untagged);
            }
            for f in &o.failures {
                if f.tags.is_empty() {
                    manifest_results.insert(&f.digest, TagResult::Failed);
                }
                for t in &f.tags {
                    tag_results.insert(t.as_str(), TagResult::Failed);
                }
            }
            for s in &o.skipped {
                match (&s.tag, &s.planned) {
                    (Some(t), _) => {
                        tag_results.insert(t.as_str(), TagResult::Skipped);
                    }
                    (None, Some(d)) => {
                        manifest_results.insert(d, TagResult::Skipped);
                    }
                    (None, None) => {}
                }
            }
        }
        let mut summary = Summary {
            tags: plan.tags.len(),
            drifted: outcome.map_or(0, |o| o.drifted.len()),
            ..Summary::default()
        };
        for t in &plan.tags {
            match t.decision {
                Decision::Keep { .. } => summary.kept += 1,
                Decision::Delete { .. } => summary.planned_deletions += 1,
            }
            match tag_results.get(t.tag.as_str()) {
                Some(TagResult::Deleted) => summary.deleted += 1,
                Some(TagResult::Untagged) => summary.untagged += 1,
                Some(TagResult::Failed) => summary.failed += 1,
                Some(TagResult::Skipped) => summary.skipped += 1,
                None => {}
            }
        }
        for m in &plan.manifest_deletions {
            match manifest_results.get(&m.digest) {
                Some(TagResult::Deleted) => summary.manifests_deleted += 1,
                Some(TagResult::Failed) => summary.failed += 1,
                Some(TagResult::Skipped) => summary.skipped += 1,
                _ => {}
            }
        }
        RepoView {
            plan,
            outcome,
            tag_results,
            manifest_results,
            summary,
        }
    }
}

fn views<'a>(report: &CleanupReport<'a>) -> Vec<RepoView<'a>> {
    report
        .plan
        .repos
        .iter()
        .map(|rp| {
            let outcome = report
                .exec
                .and_then(|e| e.repos.iter().find(|o| o.repo == rp.repo));
            RepoView::new(rp, outcome)
        })
        .collect()
}

fn total(views: &[RepoView<'_>]) -> Summary {
    let mut s = Summary::default();
    for v in views {
        s += v.summary;
    }
    s
}

/// The JSON report (`"schema": 1`), pretty-printed, ending in a newline.
pub fn json(report: &CleanupReport<'_>) -> String {
    let views = views(report);
    let doc = JsonReport {
        schema: SCHEMA,
        mode: report.mode,
        planned_at: report.plan.created_at.to_rfc3339(),
        notes: &report.plan.notes,
        totals: total(&views),
        repos: views
            .iter()
            .map(|v| JsonRepo {
                repo: &v.plan.repo,
                totals: v.summary,
                tags: v
                    .plan
                    .tags
                    .iter()
                    .map(|t| {
                        let (action, how, reason) = match &t.decision {
                            Decision::Keep { reason } => ("keep", None, reason),
                            Decision::Delete { reason, how } => ("delete", Some(*how), reason),
                        };
                        JsonTag {
                            tag: &t.tag,
                            digest: t.digest.as_ref(),
                            action,
                            how,
                            reason,
                            result: v.tag_results.get(t.tag.as_str()).copied(),
                        }
                    })
                    .collect(),
                manifest_deletions: v
                    .plan
                    .manifest_deletions
                    .iter()
                    .map(|m| JsonManifest {
                        digest: &m.digest,
                        reason: &m.reason,
                        result: v.manifest_results.get(&m.digest).copied(),
                    })
                    .collect(),
                failures: v
                    .outcome
                    .map(|o| {
                        o.failures
                            .iter()
                            .map(|f| JsonFailure {
                                tags: &f.tags,
                                digest: &f.digest,
                                action: &f.action,
                                message: &f.message,
                            })
                            .collect()
                    })
                    .unwrap_or_default(),
                skipped: v
                    .outcome
                    .map(|o| {
                        o.skipped
                            .iter()
                            .map(|s| JsonSkipped {
                                tag: s.tag.as_deref(),
                                planned: s.planned.as_ref(),
                                current: s.current.as_ref(),
                                why: &s.why,
                            })
                            .collect()
                    })
                    .unwrap_or_default(),
                drifted: v.outcome.map_or(&[], |o| o.drifted.as_slice()),
                recheck: v.outcome.and_then(|o| o.recheck),
            })
            .collect(),
    };
    let mut text = serde_json::to_string_pretty(&doc).expect("report serialises");
    text.push('\n');
    text
}

fn summary_line(repo: &str, s: &Summary, mode: Mode) -> String {
    match mode {
        Mode::DryRun => format!(
            "{repo}: {} tags, {} kept, {} to delete (dry run: nothing changed)",
            s.tags, s.kept, s.planned_deletions
        ),
        Mode::Run | Mode::Apply => {
            let mut line = format!(
                "{repo}: {} tags, {} kept, {} deleted, {} untagged",
                s.tags, s.kept, s.deleted, s.untagged
            );
            if s.manifests_deleted > 0 {
                let _ = write!(line, ", {} referrers deleted", s.manifests_deleted);
            }
            if s.skipped > 0 {
                let _ = write!(line, ", {} skipped", s.skipped);
            }
            if s.drifted > 0 {
                let _ = write!(line, ", {} drifted", s.drifted);
            }
            if s.failed > 0 {
                let _ = write!(line, ", {} FAILED", s.failed);
            }
            line
        }
    }
}

/// A decision group: (action, reason kind) → tags with their sentence.
type Groups<'a> =
    BTreeMap<(u8, &'a str), Vec<(&'a str, Option<&'a Digest>, &'a Reason, Option<How>)>>;

fn groups<'a>(rp: &'a RepoPlan) -> Groups<'a> {
    let mut out: Groups<'a> = BTreeMap::new();
    for t in &rp.tags {
        // Deletions first: they are what a reviewer reads.
        let (order, reason, how) = match &t.decision {
            Decision::Delete { reason, how } => (0, reason, Some(*how)),
            Decision::Keep { reason } => (1, reason, None),
        };
        out.entry((order, reason.kind.as_ref())).or_default().push((
            &t.tag,
            t.digest.as_ref(),
            reason,
            how,
        ));
    }
    out
}

fn short(d: Option<&Digest>) -> &str {
    d.map_or("(unresolved)", Digest::short)
}

/// What happened (or, in a dry run, would happen) to a tag; None for a kept tag.
fn result_word(r: Option<TagResult>, how: Option<How>, mode: Mode) -> Option<&'static str> {
    match (r, how, mode) {
        (Some(TagResult::Deleted), _, _) => Some("manifest deleted"),
        (Some(TagResult::Untagged), _, _) => Some("untagged"),
        (Some(TagResult::Failed), _, _) => Some("FAILED"),
        (Some(TagResult::Skipped), _, _) => Some("skipped"),
        (None, Some(How::DeleteManifest), Mode::DryRun) => Some("would delete the manifest"),
        (None, Some(How::UntagOnly), Mode::DryRun) => Some("would untag"),
        (None, Some(_), _) => Some("not done"),
        (None, None, _) => None,
    }
}

/// The text report.
pub fn text(report: &CleanupReport<'_>) -> String {
    let views = views(report);
    let mut out = String::new();
    for v in &views {
        let _ = writeln!(
            out,
            "{}",
            summary_line(&v.plan.repo, &v.summary, report.mode)
        );
    }
    if views.len() > 1 {
        let _ = writeln!(
            out,
            "{}",
            summary_line("total", &total(&views), report.mode)
        );
    }
    for note in &report.plan.notes {
        let _ = writeln!(out, "note: {note}");
    }
    for v in &views {
        let _ = writeln!(out, "\n{}", v.plan.repo);
        for ((order, kind), tags) in groups(v.plan) {
            let verb = if order == 0 { "delete" } else { "keep" };
            let _ = writeln!(out, "  {verb} ({kind}): {}", tags.len());
            let width = tags.iter().map(|t| t.0.len()).max().unwrap_or(0);
            for (tag, digest, reason, how) in tags {
                let _ = write!(out, "    {tag:<width$}  {}  {reason}", short(digest));
                match result_word(v.tag_results.get(tag).copied(), how, report.mode) {
                    Some(word) => {
                        let _ = writeln!(out, "  [{word}]");
                    }
                    None => out.push('\n'),
                }
            }
        }
        if !v.plan.manifest_deletions.is_empty() {
            let _ = writeln!(
                out,
                "  delete untagged referrers: {}",
                v.plan.manifest_deletions.len()
            );
            for m in &v.plan.manifest_deletions {
                let r = v.manifest_results.get(&m.digest).copied();
                let word = result_word(r, Some(How::DeleteManifest), report.mode).unwrap_or("");
                let _ = writeln!(out, "    {}  {}  [{word}]", m.digest.short(), m.reason);
            }
        }
        if let Some(o) = v.outcome {
            for d in &o.drifted {
                let _ = writeln!(out, "  drifted {}", drift_line(d));
            }
            for s in &o.skipped {
                let what = s.tag.as_deref().unwrap_or("(untagged manifest)");
                let _ = writeln!(out, "  skipped {what}: {}", s.why);
            }
            for f in &o.failures {
                let what = if f.tags.is_empty() {
                    f.digest.short().to_string()
                } else {
                    f.tags.join(", ")
                };
                let _ = writeln!(out, "  FAILED {} {what}: {}", f.action, f.message);
            }
        }
    }
    out
}

/// `prod moved 1a2b… → 3c4d…: kept 3c4d…, 5e6f… (the plan deleted them)`.
fn drift_line(d: &Drifted) -> String {
    let cancelled: Vec<&str> = d.cancelled.iter().map(Digest::short).collect();
    format!(
        "{} moved {} → {}: kept {} (the plan deleted {})",
        d.tag,
        short(d.planned.as_ref()),
        d.current.short(),
        cancelled.join(", "),
        if cancelled.len() == 1 { "it" } else { "them" }
    )
}

fn md_escape(text: &str) -> String {
    text.replace('|', "\\|")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// The markdown report (GitHub step summary, merge-request comments).
pub fn markdown(report: &CleanupReport<'_>) -> String {
    let views = views(report);
    let mut out = String::new();
    let title = match report.mode {
        Mode::DryRun => "berth cleanup plan (dry run)",
        Mode::Run => "berth cleanup",
        Mode::Apply => "berth cleanup (reviewed plan)",
    };
    let _ = writeln!(out, "## {title}\n");
    for note in &report.plan.notes {
        let _ = writeln!(out, "> {}\n", md_escape(note));
    }
    let _ = writeln!(
        out,
        "| repository | tags | kept | to delete | deleted | untagged | skipped | failed |"
    );
    let _ = writeln!(out, "|---|---:|---:|---:|---:|---:|---:|---:|");
    for v in &views {
        let s = &v.summary;
        let _ = writeln!(
            out,
            "| `{}` | {} | {} | {} | {} | {} | {} | {} |",
            md_escape(&v.plan.repo),
            s.tags,
            s.kept,
            s.planned_deletions,
            s.deleted,
            s.untagged,
            s.skipped,
            s.failed
        );
    }
    for v in &views {
        let _ = writeln!(
            out,
            "\n<details><summary><code>{}</code></summary>\n",
            md_escape(&v.plan.repo)
        );
        for ((order, kind), tags) in groups(v.plan) {
            let verb = if order == 0 { "delete" } else { "keep" };
            let _ = writeln!(out, "**{verb}** ({kind}): {} tags\n", tags.len());
            let _ = writeln!(out, "| tag | digest | result | reason |\n|---|---|---|---|");
            for (tag, digest, reason, how) in tags {
                let word = result_word(v.tag_results.get(tag).copied(), how, report.mode)
                    .unwrap_or("kept");
                let _ = writeln!(
                    out,
                    "| `{}` | `{}` | {word} | {} |",
                    md_escape(tag),
                    short(digest),
                    md_escape(&reason.message)
                );
            }
            out.push('\n');
        }
        if let Some(o) = v.outcome {
            for d in &o.drifted {
                let _ = writeln!(out, "- **drifted** {}", md_escape(&drift_line(d)));
            }
            for f in &o.failures {
                let _ = writeln!(
                    out,
                    "- **failed** {} `{}` ({}): {}",
                    f.action,
                    md_escape(&f.tags.join(", ")),
                    f.digest.short(),
                    md_escape(&f.message)
                );
            }
            for s in &o.skipped {
                let _ = writeln!(
                    out,
                    "- skipped `{}`: {}",
                    md_escape(s.tag.as_deref().unwrap_or("(untagged manifest)")),
                    md_escape(&s.why)
                );
            }
        }
        let _ = writeln!(out, "</details>");
    }
    out
}

/// Appends markdown to the GitHub step summary file.
pub fn write_step_summary(path: &Path, markdown: &str) -> std::io::Result<()> {
    use std::io::Write;
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)?;
    f.write_all(markdown.as_bytes())?;
    f.write_all(b"\n")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cleanup::execute::{DeletedManifest, ExecFailure, Skipped, Untagged};
    use crate::cleanup::plan::{ManifestDeletion, TagDecision, Totals};
    use crate::registry::UntagMethod;

    fn reason(kind: &str, message: &str) -> Reason {
        Reason {
            kind: kind.to_string().into(),
            message: message.into(),
            details: Default::default(),
        }
    }

    fn d(seed: &str) -> Digest {
        Digest::of_bytes(seed.as_bytes())
    }

    fn sample() -> (Plan, ExecReport) {
        let tags = vec![
            TagDecision {
                tag: "main".into(),
                digest: Some(d("a")),
                decision: Decision::Keep {
                    reason: reason("live_ref", "branch main is live"),
                },
            },
            TagDecision {
                tag: "feature-x".into(),
                digest: Some(d("b")),
                decision: Decision::Delete {
                    reason: reason("dead_ref", "branch feature/x no longer exists"),
                    how: How::DeleteManifest,
                },
            },
            TagDecision {
                tag: "feature-y".into(),
                digest: Some(d("a")),
                decision: Decision::Delete {
                    reason: reason("dead_ref", "branch feature/y no longer exists"),
                    how: How::UntagOnly,
                },
            },
            TagDecision {
                tag: "sha-1234567".into(),
                digest: Some(d("c")),
                decision: Decision::Delete {
                    reason: reason("policy", "commit 1234567 is kept by no policy"),
                    how: How::DeleteManifest,
                },
            },
        ];
        let plan = Plan {
            schema: 1,
            created_at: chrono::DateTime::UNIX_EPOCH,
            notes: vec!["pull requests: 2 open, as GitHub lists them".into()],
            repos: vec![RepoPlan {
                repo: "localhost:5000/app".into(),
                tags,
                manifest_deletions: vec![ManifestDeletion {
                    digest: d("sig"),
                    reason: reason("subject_deleted", "its subject goes"),
                }],
                totals: Totals {
                    tags: 4,
                    keep: 1,
                    delete: 3,
                },
            }],
        };
        let exec = ExecReport {
            repos: vec![RepoOutcome {
                repo: "localhost:5000/app".into(),
                deleted_manifests: vec![
                    DeletedManifest {
                        digest: d("b"),
                        tags: vec!["feature-x".into()],
                    },
                    DeletedManifest {
                        digest: d("sig"),
                        tags: vec![],
                    },
                ],
                untagged: vec![Untagged {
                    tag: "feature-y".into(),
                    digest: d("a"),
                    method: UntagMethod::DummyManifest,
                }],
                skipped: vec![Skipped {
                    tag: Some("gone".into()),
                    planned: Some(d("x")),
                    current: None,
                    why: "the tag no longer exists".into(),
                }],
                failures: vec![ExecFailure {
                    tags: vec!["sha-1234567".into()],
                    digest: d("c"),
                    action: "delete_manifest".into(),
                    message: "405 UNSUPPORTED: The operation is unsupported.".into(),
                    journal: false,
                }],
                drifted: vec![],
                recheck: None,
            }],
        };
        (plan, exec)
    }

    #[test]
    fn a_drift_is_reported_in_every_format() {
        let (plan, mut exec) = sample();
        exec.repos[0].drifted.push(Drifted {
            tag: "prod".into(),
            planned: Some(d("a")),
            current: d("b"),
            cancelled: vec![d("b")],
        });
        exec.repos[0].recheck = Some(RecheckCount {
            listed: 4,
            resolved: 2,
            manifests_read: 1,
        });
        let run = CleanupReport {
            plan: &plan,
            exec: Some(&exec),
            mode: Mode::Run,
        };
        let line = format!(
            "drifted prod moved {} → {}: kept {} (the plan deleted it)",
            d("a").short(),
            d("b").short(),
            d("b").short()
        );
        let t = text(&run);
        assert!(t.contains(", 1 drifted"), "{t}");
        assert!(t.contains(&format!("  {line}")), "{t}");
        assert!(
            markdown(&run).contains(&format!("- **{}", line.replacen("drifted", "drifted**", 1)))
        );
        let v: serde_json::Value = serde_json::from_str(&json(&run)).unwrap();
        let repo = &v["repos"][0];
        assert_eq!(repo["drifted"][0]["tag"], "prod");
        assert_eq!(repo["drifted"][0]["current"], d("b").as_str());
        assert_eq!(repo["drifted"][0]["cancelled"][0], d("b").as_str());
        assert_eq!(repo["recheck"]["resolved"], 2);
        assert_eq!(repo["totals"]["drifted"], 1);
        assert_eq!(v["totals"]["drifted"], 1);
    }

    #[test]
    fn text_dry_run_and_run() {
        let (plan, exec) = sample();
        let dry = CleanupReport {
            plan: &plan,
            exec: None,
            mode: Mode::DryRun,
        };
        insta::assert_snapshot!("text_dry_run", text(&dry));
        let run = CleanupReport {
            plan: &plan,
            exec: Some(&exec),
            mode: Mode::Run,
        };
        let t = text(&run);
        assert!(t.starts_with(
            "localhost:5000/app: 4 tags, 1 kept, 1 deleted, 1 untagged, 1 referrers deleted, 1 FAILED"
        ), "{t}");
        insta::assert_snapshot!("text_run", t);
    }

    #[test]
    fn json_is_schema_1_with_results() {
        let (plan, exec) = sample();
        let run = CleanupReport {
            plan: &plan,
            exec: Some(&exec),
            mode: Mode::Run,
        };
        let v: serde_json::Value = serde_json::from_str(&json(&run)).unwrap();
        assert_eq!(v["schema"], 1);
        assert_eq!(v["repos"][0]["tags"][1]["result"], "deleted");
        assert_eq!(v["repos"][0]["tags"][2]["how"], "untag_only");
        assert_eq!(v["repos"][0]["tags"][3]["result"], "failed");
        assert_eq!(v["repos"][0]["manifest_deletions"][0]["result"], "deleted");
        assert_eq!(v["totals"]["failed"], 1);
        insta::assert_snapshot!("json_run", json(&run));
    }

    #[test]
    fn markdown_escapes_and_summarises() {
        let (plan, exec) = sample();
        let run = CleanupReport {
            plan: &plan,
            exec: Some(&exec),
            mode: Mode::Run,
        };
        insta::assert_snapshot!("markdown_run", markdown(&run));
    }
}
