//! Keep policies (`berth.yaml`), tag templates and slug rules. Pure: no I/O, no clock.

use std::time::Duration;

/// A `berth.yaml` (or `.berth.yaml`) that could not be used.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Placeholder until the policy helper lands.
    #[error("{0}")]
    Invalid(String),
}

/// The cleanup configuration: keep policies, protected tags, tag templates.
#[derive(Debug, Clone, Default)]
pub struct CleanupConfig {}

impl CleanupConfig {
    /// Parses `berth.yaml` text; `source` names the file in errors.
    pub fn parse(_text: &str, _source: &str) -> Result<CleanupConfig, Error> {
        todo!("policy helper")
    }
}

/// Parses durations like `168h`, `7d`, `2h30m`, `90s`.
pub fn parse_duration(_text: &str) -> Result<Duration, Error> {
    todo!("policy helper")
}
