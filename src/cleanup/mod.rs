//! The cleanup: `plan` decides (pure), `scan` reads a repository through the `Repository`
//! trait, `execute` applies a plan through the same trait.

pub mod cache;
pub mod execute;
pub mod plan;
pub mod scan;
