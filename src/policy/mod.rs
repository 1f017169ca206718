//! Keep policies (`berth.yaml`), tag templates and slug rules. Pure: no I/O, no clock.
//!
//! [`CleanupConfig::parse`] reads the `keep:` and `tags:` sections of DESIGN §3 (werf's
//! `keepPolicies`, same meaning), [`templates`] renders and matches tag templates, [`slug`]
//! holds the tag-form rules of docker/metadata-action and GitLab.

pub mod config;
pub mod duration;
pub mod slug;
pub mod templates;

pub use config::{
    CleanupConfig, Limit, NamePattern, Operator, Policy, RefSelectorKind, Unlinked, Untagged,
    default_policies,
};
pub use duration::{format_duration, parse_duration};

/// A `berth.yaml` (or a duration) that could not be used.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The file does not parse or holds a bad value.
    #[error(
        "{source_name}:{line}:{column}: {message}; fix the file (schema: DESIGN §3 and §6, `keep:`, `tags:`, `images:`, `repo_mode:`)"
    )]
    Config {
        /// The file, as the caller named it.
        source_name: String,
        /// 1-based line (0 when unknown).
        line: usize,
        /// 1-based column (0 when unknown).
        column: usize,
        /// What is wrong, with the allowed values.
        message: String,
    },
    /// A duration that does not parse.
    #[error("invalid duration `{value}`: {why}; write it like 168h, 7d, 2h30m or 90s")]
    Duration {
        /// The text given.
        value: String,
        /// What is wrong.
        why: String,
    },
}
