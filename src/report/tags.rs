//! Rendering of `berth tags`: an aligned text table, or stable JSON (`"schema": 1`).
//!
//! JSON shape: `{"schema": 1, "repository": "host/path", "tags": [{"tag", "digest",
//! "media_type", "platforms", "created", "revision", "error"}]}`, tags sorted by name; a field
//! berth could not learn is `null` (`platforms` is only set for indexes, `error` only when the
//! tag could not be read).

use chrono::{DateTime, SecondsFormat, Utc};
use serde::Serialize;

use crate::registry::model::media_type;

/// Everything `berth tags` found in one repository.
#[derive(Debug, Clone, Serialize)]
pub struct TagListing {
    /// Format version of the JSON output.
    pub schema: u32,
    /// `host/path` or `oci:PATH`.
    pub repository: String,
    /// One row per tag, sorted by tag name.
    pub tags: Vec<TagRow>,
}

/// One tag.
#[derive(Debug, Clone, Default, Serialize)]
pub struct TagRow {
    /// The tag.
    pub tag: String,
    /// Digest of the manifest the tag points at.
    pub digest: Option<String>,
    /// Media type of that manifest.
    pub media_type: Option<String>,
    /// For an index: how many platform images it holds (attestation entries not counted).
    pub platforms: Option<usize>,
    /// The image config's `created` (for an index, that of its first platform image).
    #[serde(serialize_with = "rfc3339")]
    pub created: Option<DateTime<Utc>>,
    /// The `org.opencontainers.image.revision` label (or `vcs-ref`, `org.label-schema.vcs-ref`).
    pub revision: Option<String>,
    /// Why the tag could not be read, if it could not.
    pub error: Option<String>,
}

fn rfc3339<S: serde::Serializer>(value: &Option<DateTime<Utc>>, s: S) -> Result<S::Ok, S::Error> {
    match value {
        Some(t) => s.serialize_str(&t.to_rfc3339_opts(SecondsFormat::Secs, true)),
        None => s.serialize_none(),
    }
}

/// A short name for the manifest media types berth knows.
fn short_type(media: &str) -> &str {
    match media {
        media_type::OCI_INDEX => "oci-index",
        media_type::OCI_MANIFEST => "oci-image",
        media_type::DOCKER_LIST => "docker-list",
        media_type::DOCKER_MANIFEST => "docker-image",
        other => other,
    }
}

/// The JSON report (pretty-printed, newline-terminated).
pub fn json(listing: &TagListing) -> String {
    let mut text = serde_json::to_string_pretty(listing).expect("plain data serialises");
    text.push('\n');
    text
}

/// The text report: a header line, then one aligned row per tag.
pub fn text(listing: &TagListing) -> String {
    let header = ["TAG", "DIGEST", "TYPE", "PLATFORMS", "CREATED", "REVISION"];
    let rows: Vec<[String; 6]> = listing
        .tags
        .iter()
        .map(|row| {
            if let Some(error) = &row.error {
                return [
                    row.tag.clone(),
                    "-".into(),
                    "-".into(),
                    "-".into(),
                    "-".into(),
                    format!("error: {error}"),
                ];
            }
            [
                row.tag.clone(),
                row.digest
                    .as_deref()
                    .map_or("-".into(), |d| d.chars().take(19).collect()),
                row.media_type
                    .as_deref()
                    .map_or("-", short_type)
                    .to_string(),
                row.platforms.map_or("-".into(), |n| n.to_string()),
                row.created
                    .map_or("-".into(), |t| t.to_rfc3339_opts(SecondsFormat::Secs, true)),
                row.revision.clone().unwrap_or_else(|| "-".into()),
            ]
        })
        .collect();
    let mut widths = header.map(str::len);
    for row in &rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let line = |cells: &[String]| {
        let mut out = String::new();
        for (i, cell) in cells.iter().enumerate() {
            if i + 1 == cells.len() {
                out.push_str(cell);
            } else {
                out.push_str(&format!("{cell:<width$}  ", width = widths[i]));
            }
        }
        out.trim_end().to_string() + "\n"
    };
    let mut out = format!(
        "{} ({} tag{})\n",
        listing.repository,
        listing.tags.len(),
        if listing.tags.len() == 1 { "" } else { "s" }
    );
    if rows.is_empty() {
        return out;
    }
    out.push_str(&line(&header.map(str::to_string)));
    for row in &rows {
        out.push_str(&line(row));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_aligns_and_marks_missing_fields() {
        let listing = TagListing {
            schema: 1,
            repository: "localhost:5000/team/app".into(),
            tags: vec![
                TagRow {
                    tag: "v1".into(),
                    digest: Some(format!("sha256:{}", "a".repeat(64))),
                    media_type: Some(media_type::OCI_INDEX.into()),
                    platforms: Some(2),
                    created: DateTime::parse_from_rfc3339("2026-01-02T03:04:05Z")
                        .ok()
                        .map(|d| d.with_timezone(&Utc)),
                    revision: Some("abc".into()),
                    error: None,
                },
                TagRow {
                    tag: "broken-tag".into(),
                    error: Some("manifest not found".into()),
                    ..TagRow::default()
                },
            ],
        };
        let text = text(&listing);
        assert!(
            text.starts_with("localhost:5000/team/app (2 tags)\n"),
            "{text}"
        );
        assert!(
            text.contains("v1          sha256:aaaaaaaaaaaa  oci-index  2"),
            "{text}"
        );
        assert!(text.contains("error: manifest not found"), "{text}");
        let json = json(&listing);
        assert!(
            json.contains(r#""created": "2026-01-02T03:04:05Z""#),
            "{json}"
        );
        assert!(json.contains(r#""platforms": null"#), "{json}");
    }
}
