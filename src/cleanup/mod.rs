//! The cleanup: `plan` decides (pure), `scan` reads a repository through the `Repository`
//! trait, `execute` applies a plan through the same trait, recording every mutation in the
//! `journal` first when asked.

pub mod cache;
pub mod execute;
pub mod journal;
pub mod plan;
pub mod scan;
