//! `berth login`.

use crate::cli::{GlobalArgs, LoginArgs};
use crate::exit::ExitStatus;

/// Runs the command.
pub async fn run(_global: &GlobalArgs, _args: LoginArgs) -> anyhow::Result<ExitStatus> {
    todo!("helper")
}
