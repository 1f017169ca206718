//! Orchestration: one file per command, each a function from settings to an exit status.

mod ci_env;
mod cleanup;
mod demo;
mod detect;
mod login;
mod name;
mod restore;
mod tags;

use crate::cli::{Cli, Command};
use crate::exit::ExitStatus;

/// Runs the command the user asked for.
pub async fn run(cli: Cli) -> anyhow::Result<ExitStatus> {
    match cli.command {
        Command::Tags(args) => tags::run(&cli.global, args).await,
        Command::Cleanup(args) => cleanup::run(&cli.global, args).await,
        Command::CiEnv(args) => ci_env::run(&cli.global, args).await,
        Command::Login(args) => login::run(&cli.global, args).await,
        Command::Demo(args) => demo::run(&cli.global, args).await,
        Command::Restore(args) => restore::run(&cli.global, args).await,
        Command::Detect(args) => detect::run(&cli.global, args),
        Command::Name(args) => name::run(&cli.global, args),
    }
}
