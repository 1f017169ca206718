//! Git adapter: opens the repository, reads refs, fetches, detects shallow clones, and walks
//! history once into [`GitFacts`]. gix types never leave this module.
//!
//! Must not import `registry`, `ci`, `cleanup`, `app` or `cli`.

pub mod facts;
pub mod history;

pub use facts::{CommitGraph, CommitId, GitFacts, GitRef, PrefixMatch, RefKind};
