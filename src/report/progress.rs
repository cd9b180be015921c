//! The progress bar of a long run: simulated time done of the expected
//! total, and events per second, on stderr.
//!
//! Only for people watching: nothing is drawn when stderr is not a
//! terminal or `CI` is set, nor during a run's first second (a short run
//! shows no flicker). It reads the wall clock, which is why it lives here,
//! apart from everything that reaches a result.

use crate::types::Time;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use std::io::IsTerminal;
use std::time::{Duration, Instant};

/// A progress bar in milliseconds of simulated time.
#[derive(Debug)]
pub struct Progress {
    bar: ProgressBar,
    started: Instant,
    shown: bool,
}

/// How long a run goes before the bar appears.
const SHOW_AFTER: Duration = Duration::from_secs(1);

impl Progress {
    /// A bar for a run expected to end at `expected_end`, or None when
    /// stderr is not a terminal or `CI` is set.
    pub fn start(expected_end: Time) -> Option<Progress> {
        if !std::io::stderr().is_terminal() || std::env::var_os("CI").is_some() {
            return None;
        }
        let bar = ProgressBar::with_draw_target(Some(expected_end.0 / 1000), ProgressDrawTarget::hidden());
        let style = ProgressStyle::with_template("{bar:40} {pos}/{len} ms simulated  {msg}")
            .unwrap_or_else(|_| ProgressStyle::default_bar());
        bar.set_style(style);
        Some(Progress { bar, started: Instant::now(), shown: false })
    }

    /// Simulated time `now` reached after `events` events.
    pub fn update(&mut self, now: Time, events: u64) {
        let elapsed = self.started.elapsed();
        if !self.shown && elapsed >= SHOW_AFTER {
            self.bar.set_draw_target(ProgressDrawTarget::stderr());
            self.shown = true;
        }
        if self.shown {
            // The run may go on past the expected end (waiting to converge).
            let position = now.0 / 1000;
            if self.bar.length().is_some_and(|length| position > length) {
                self.bar.set_length(position);
            }
            self.bar.set_position(position);
            self.bar.set_message(format!("{:.0} events/s", events as f64 / elapsed.as_secs_f64()));
        }
    }

    /// Removes the bar.
    pub fn finish(self) {
        self.bar.finish_and_clear();
    }
}
