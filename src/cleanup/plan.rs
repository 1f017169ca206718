//! The planner: (tags with digests and links, the manifest graph, git facts, policies, now)
//! → a [`Plan`]. Pure: no I/O, no clock.

use std::collections::{BTreeMap, HashMap};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::git::GitFacts;
use crate::policy::CleanupConfig;
use crate::registry::{Digest, ImageConfig};

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
    /// Machine-readable kind, e.g. `protected`, `dead_ref`, `policy`.
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

/// The image manifests whose config blob the planner needs (labels for tags no template
/// links; created times of deletion candidates). The scan reads them and fills
/// [`ManifestFacts::config`] before calling [`plan`].
pub fn configs_needed(_input: &PlanInput<'_>) -> Vec<(usize, Digest)> {
    todo!("plan helper")
}

/// Decides every tag.
pub fn plan(_input: &PlanInput<'_>) -> Plan {
    todo!("plan helper")
}
