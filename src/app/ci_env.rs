//! `berth ci-env`.

use crate::cli::{CiEnvArgs, GlobalArgs};
use crate::exit::ExitStatus;

/// Runs the command.
pub async fn run(_global: &GlobalArgs, _args: CiEnvArgs) -> anyhow::Result<ExitStatus> {
    todo!("helper")
}
