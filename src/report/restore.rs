//! Rendering of `berth restore`: per repository, what became of every journaled manifest and
//! tag. Text (a summary line per repository, then one line per manifest or tag that is not
//! back) and JSON (`"schema": 1`, documented in the README). Pure: returns strings.

use std::fmt::Write as _;

use serde::Serialize;

use crate::registry::Digest;

/// The JSON report's format version.
pub const SCHEMA: u32 = 1;

/// What became of one manifest or tag.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// Pushed back.
    Restored,
    /// Already there (with the same digest): nothing sent.
    AlreadyPresent,
    /// A dry run: it would be pushed.
    WouldRestore,
    /// The registry no longer has a blob or child it needs (collected since): it cannot come
    /// back from the journal.
    BlobsMissing,
    /// The tag now names another manifest; it was left alone.
    Conflict,
    /// A request failed, or the manifest this tag needs did not come back.
    Failed,
}

impl Status {
    /// True when the item is back (or would be, in a dry run).
    pub fn ok(self) -> bool {
        matches!(
            self,
            Status::Restored | Status::AlreadyPresent | Status::WouldRestore
        )
    }

    fn word(self) -> &'static str {
        match self {
            Status::Restored => "restored",
            Status::AlreadyPresent => "already present",
            Status::WouldRestore => "would restore",
            Status::BlobsMissing => "cannot be restored (blobs gone)",
            Status::Conflict => "left alone",
            Status::Failed => "FAILED",
        }
    }
}

/// One manifest's result.
#[derive(Debug, Clone, Serialize)]
pub struct ManifestResult {
    /// The manifest.
    pub digest: Digest,
    /// Its media type.
    pub media_type: String,
    /// What became of it.
    pub status: Status,
    /// Why, when it is not back (names the missing blob).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}

/// One tag's result.
#[derive(Debug, Clone, Serialize)]
pub struct TagResult {
    /// The tag.
    pub tag: String,
    /// The manifest it named when it was removed.
    pub digest: Digest,
    /// What became of it.
    pub status: Status,
    /// Why, when it is not back.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}

/// One repository's results, manifests in the order they were pushed.
#[derive(Debug, Clone, Serialize)]
pub struct RepoRestore {
    /// `host/path` or `oci:PATH`.
    pub repo: String,
    /// Manifests: children before indexes, subjects before referrers.
    pub manifests: Vec<ManifestResult>,
    /// Tags.
    pub tags: Vec<TagResult>,
}

/// The whole restore.
#[derive(Debug, Clone, Serialize)]
pub struct RestoreReport {
    /// Always [`SCHEMA`].
    pub schema: u32,
    /// Nothing was pushed.
    pub dry_run: bool,
    /// One entry per repository of the journal.
    pub repos: Vec<RepoRestore>,
}

impl RestoreReport {
    /// True when some manifest or tag is not back.
    pub fn incomplete(&self) -> bool {
        self.repos.iter().any(|r| {
            r.manifests.iter().any(|m| !m.status.ok()) || r.tags.iter().any(|t| !t.status.ok())
        })
    }
}

/// The JSON report, pretty-printed, ending in a newline.
pub fn json(report: &RestoreReport) -> String {
    let mut text = serde_json::to_string_pretty(report).expect("report serialises");
    text.push('\n');
    text
}

fn counts(statuses: impl Iterator<Item = Status>) -> String {
    let mut n: Vec<(Status, usize)> = Vec::new();
    for s in statuses {
        match n.iter_mut().find(|(k, _)| *k == s) {
            Some((_, c)) => *c += 1,
            None => n.push((s, 1)),
        }
    }
    n.sort_by_key(|(s, _)| *s as u8);
    n.iter()
        .map(|(s, c)| format!("{c} {}", s.word()))
        .collect::<Vec<_>>()
        .join(", ")
}

/// The text report.
pub fn text(report: &RestoreReport) -> String {
    let mut out = String::new();
    for r in &report.repos {
        let _ = writeln!(
            out,
            "{}: {} manifests ({}), {} tags ({}){}",
            r.repo,
            r.manifests.len(),
            counts(r.manifests.iter().map(|m| m.status)),
            r.tags.len(),
            counts(r.tags.iter().map(|t| t.status)),
            if report.dry_run {
                " (dry run: nothing changed)"
            } else {
                ""
            }
        );
        for m in r.manifests.iter().filter(|m| !m.status.ok()) {
            let _ = writeln!(
                out,
                "  manifest {} {}: {}",
                m.digest,
                m.status.word(),
                m.message.as_deref().unwrap_or("")
            );
        }
        for t in r.tags.iter().filter(|t| !t.status.ok()) {
            let _ = writeln!(
                out,
                "  tag {} ({}) {}: {}",
                t.tag,
                t.digest.short(),
                t.status.word(),
                t.message.as_deref().unwrap_or("")
            );
        }
    }
    if report.repos.is_empty() {
        out.push_str("the journal has no records: nothing to restore\n");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> RestoreReport {
        let d = Digest::of_bytes(b"m");
        RestoreReport {
            schema: SCHEMA,
            dry_run: false,
            repos: vec![RepoRestore {
                repo: "localhost:5000/app".into(),
                manifests: vec![
                    ManifestResult {
                        digest: d.clone(),
                        media_type: "application/vnd.oci.image.manifest.v1+json".into(),
                        status: Status::Restored,
                        message: None,
                    },
                    ManifestResult {
                        digest: Digest::of_bytes(b"gone"),
                        media_type: "application/vnd.oci.image.manifest.v1+json".into(),
                        status: Status::BlobsMissing,
                        message: Some("blob sha256:ab not found".into()),
                    },
                ],
                tags: vec![TagResult {
                    tag: "old".into(),
                    digest: d,
                    status: Status::AlreadyPresent,
                    message: None,
                }],
            }],
        }
    }

    #[test]
    fn text_counts_and_names_what_is_not_back() {
        let r = sample();
        let text = text(&r);
        assert!(
            text.starts_with(
                "localhost:5000/app: 2 manifests (1 restored, 1 cannot be restored (blobs \
                 gone)), 1 tags (1 already present)"
            ),
            "{text}"
        );
        assert!(text.contains("blob sha256:ab not found"), "{text}");
        assert!(r.incomplete());
    }

    #[test]
    fn json_is_schema_1_with_statuses() {
        let v: serde_json::Value = serde_json::from_str(&json(&sample())).unwrap();
        assert_eq!(v["schema"], 1);
        assert_eq!(v["repos"][0]["manifests"][1]["status"], "blobs_missing");
        assert_eq!(v["repos"][0]["tags"][0]["status"], "already_present");
        assert!(v["repos"][0]["manifests"][0].get("message").is_none());
    }
}
