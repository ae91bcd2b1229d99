//! Progress of a long command: one line per stage with its elapsed time, and spinners for
//! external tools (their full logs go to files).

use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressStyle};

/// Numbered stages of a command (`[2/6] eval: ...`), each closed with its result and time.
#[derive(Debug)]
pub struct Stages {
    quiet: bool,
    n: usize,
    i: usize,
    t: Instant,
    /// Seconds per finished stage.
    pub times: Vec<(String, f64)>,
}

impl Stages {
    /// `n` stages; `quiet` prints nothing.
    pub fn new(n: usize, quiet: bool) -> Self {
        Stages {
            quiet,
            n,
            i: 0,
            t: Instant::now(),
            times: Vec::new(),
        }
    }

    /// Starts the next stage.
    pub fn start(&mut self, name: &str, what: &str) {
        self.i += 1;
        self.t = Instant::now();
        self.times.push((name.to_string(), 0.0));
        if !self.quiet {
            eprintln!("[{}/{}] {name}: {what}", self.i, self.n);
        }
    }

    /// Ends the current stage with its result.
    pub fn done(&mut self, result: &str) {
        let s = self.t.elapsed().as_secs_f64();
        if let Some(last) = self.times.last_mut() {
            last.1 = s;
        }
        if !self.quiet {
            eprintln!("      {result} ({s:.1} s)");
        }
    }
}

/// A spinner with elapsed time for one run of an external tool (hidden when `quiet` or when
/// stderr is not a terminal).
pub fn spinner(what: &str, quiet: bool) -> ProgressBar {
    if quiet {
        return ProgressBar::hidden();
    }
    let pb = ProgressBar::new_spinner();
    pb.set_style(
        ProgressStyle::with_template("      {spinner} {msg} [{elapsed}]")
            .unwrap_or_else(|_| ProgressStyle::default_spinner()),
    );
    pb.set_message(what.to_string());
    pb.enable_steady_tick(Duration::from_millis(200));
    pb
}
