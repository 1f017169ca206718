//! The `berth` binary: parse the command line, run the command, map the outcome to an exit code.
//! The only place that exits.

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let cli = berth::cli::Cli::parse();
    berth::report::init_logging(cli.global.verbose, cli.global.quiet);
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(err) => {
            berth::report::fatal(
                &anyhow::Error::new(err).context("could not start the async runtime"),
            );
            return berth::exit::ExitStatus::Error.into();
        }
    };
    match runtime.block_on(berth::app::run(cli)) {
        Ok(status) => status.into(),
        Err(err) => {
            berth::report::fatal(&err);
            berth::exit::status_of(&err).into()
        }
    }
}
