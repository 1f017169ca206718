//! `berth cleanup`.

use crate::cli::{CleanupArgs, GlobalArgs};
use crate::exit::ExitStatus;

/// Runs the command.
pub async fn run(_global: &GlobalArgs, _args: CleanupArgs) -> anyhow::Result<ExitStatus> {
    todo!("helper")
}
