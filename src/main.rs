//! The `berth` binary: parse the command line, run the command, map the outcome to an exit code.
//! The only place that exits.

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    drop_empty_berth_vars();
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

/// CI systems pass an input the user left empty as an empty variable (`BERTH_OUTPUT=`); berth
/// treats it as unset so the default applies, in clap, the settings and child processes alike.
fn drop_empty_berth_vars() {
    let empty: Vec<std::ffi::OsString> = std::env::vars_os()
        .filter(|(k, v)| k.to_string_lossy().starts_with("BERTH_") && v.is_empty())
        .map(|(k, _)| k)
        .collect();
    for key in empty {
        // SAFETY: called first thing in `main`, before the runtime or any other thread exists,
        // so nothing reads the environment concurrently.
        unsafe { std::env::remove_var(key) };
    }
}
