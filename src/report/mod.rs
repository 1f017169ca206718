//! Everything berth prints: logs (tracing, stderr), reports (stdout), fatal errors, progress.
//! The only module that writes to stdout or stderr.

pub mod cleanup;
pub mod detect;
pub mod progress;
pub mod restore;
pub mod tags;

use std::io::{IsTerminal, Write};

use tracing_subscriber::EnvFilter;

pub mod ci_env;

/// Sets up `tracing` on stderr: warnings by default, `-v` debug, `-vv` trace, `-q` errors only;
/// `RUST_LOG` overrides.
pub fn init_logging(verbose: u8, quiet: bool) {
    let default = match (quiet, verbose) {
        (true, _) => "error",
        (false, 0) => "berth=info,warn",
        (false, 1) => "berth=debug,info",
        (false, _) => "trace",
    };
    let filter = EnvFilter::try_from_env(crate::env_vars::RUST_LOG)
        .unwrap_or_else(|_| EnvFilter::new(default));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .with_target(false)
        .without_time()
        .try_init();
}

/// Prints a fatal error with its whole cause chain, each cause once.
pub fn fatal(err: &anyhow::Error) {
    let _ = writeln!(
        std::io::stderr(),
        "error: {}",
        crate::exit::chain_message(err)
    );
}

/// Writes a finished report to stdout. A closed pipe is not an error.
pub fn stdout(text: &str) -> std::io::Result<()> {
    let mut out = std::io::stdout().lock();
    match out.write_all(text.as_bytes()).and_then(|()| out.flush()) {
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        other => other,
    }
}
