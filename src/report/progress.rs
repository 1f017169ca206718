//! Progress on stderr: an `indicatif` bar on a terminal, a plain line every few seconds
//! elsewhere (CI logs), nothing when quiet.

use std::io::{IsTerminal, Write};
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressStyle};

/// How progress is shown.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProgressMode {
    /// An animated bar (stderr is a terminal).
    Bar,
    /// A plain line at most this often (CI logs, pipes).
    Lines(Duration),
    /// Nothing.
    Hidden,
}

impl ProgressMode {
    /// The mode for this process: hidden when quiet, a bar on a terminal, else a line every
    /// 5 seconds.
    pub fn detect(quiet: bool) -> ProgressMode {
        if quiet {
            ProgressMode::Hidden
        } else if std::io::stderr().is_terminal() {
            ProgressMode::Bar
        } else {
            ProgressMode::Lines(Duration::from_secs(5))
        }
    }
}

/// One phase's progress (`scan`, `delete`, …). Cheap to share by reference across tasks.
pub struct Progress {
    label: String,
    bar: Option<ProgressBar>,
    every: Option<Duration>,
    total: AtomicU64,
    done: AtomicU64,
    last_line: Mutex<Instant>,
}

impl Progress {
    /// Starts a phase with `total` steps (more can be added with [`Progress::add_total`]).
    pub fn new(label: &str, total: u64, mode: ProgressMode) -> Progress {
        let bar = (mode == ProgressMode::Bar).then(|| {
            let bar = ProgressBar::new(total);
            bar.set_style(
                ProgressStyle::with_template("{prefix:>8} [{bar:30}] {pos}/{len} {elapsed}")
                    .expect("static template")
                    .progress_chars("=> "),
            );
            bar.set_prefix(label.to_string());
            bar
        });
        Progress {
            label: label.to_string(),
            bar,
            every: match mode {
                ProgressMode::Lines(d) => Some(d),
                _ => None,
            },
            total: AtomicU64::new(total),
            done: AtomicU64::new(0),
            last_line: Mutex::new(Instant::now()),
        }
    }

    /// A progress that shows nothing.
    pub fn hidden() -> Progress {
        Progress::new("", 0, ProgressMode::Hidden)
    }

    /// Adds steps discovered on the way (index children, say).
    pub fn add_total(&self, n: u64) {
        let total = self.total.fetch_add(n, Ordering::Relaxed) + n;
        if let Some(bar) = &self.bar {
            bar.set_length(total);
        }
    }

    /// Marks `n` steps done.
    pub fn inc(&self, n: u64) {
        let done = self.done.fetch_add(n, Ordering::Relaxed) + n;
        if let Some(bar) = &self.bar {
            bar.inc(n);
        }
        if let Some(every) = self.every {
            let mut last = self.last_line.lock().expect("progress lock poisoned");
            if last.elapsed() >= every {
                *last = Instant::now();
                let total = self.total.load(Ordering::Relaxed);
                let _ = writeln!(std::io::stderr(), "{}: {done}/{total}", self.label);
            }
        }
    }

    /// Ends the phase (clears the bar).
    pub fn finish(&self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }
}
