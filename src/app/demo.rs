//! `berth demo`.

use crate::cli::{DemoArgs, GlobalArgs};
use crate::exit::ExitStatus;

/// Runs the command.
pub async fn run(_global: &GlobalArgs, _args: DemoArgs) -> anyhow::Result<ExitStatus> {
    todo!("helper")
}
