//! `berth tags`.

use crate::cli::{GlobalArgs, TagsArgs};
use crate::exit::ExitStatus;

/// Runs the command.
pub async fn run(_global: &GlobalArgs, _args: TagsArgs) -> anyhow::Result<ExitStatus> {
    todo!("helper")
}
