//! Progress bars for long CLI commands (backup, restore, check, rebuild-indexes): an indicatif
//! bar on a terminal, nothing when stderr is not one (scripts, systemd, tests).
use std::io::IsTerminal;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

/// One bar over a count of records; hidden unless `show` and stderr is a terminal.
pub struct Progress {
    bar: ProgressBar,
}

impl Progress {
    /// `total` is `None` when it is not known in advance (a spinner with a count).
    pub fn new(show: bool, verb: &str, total: Option<u64>) -> Progress {
        let visible = show && std::io::stderr().is_terminal();
        let bar = match total {
            Some(total) => ProgressBar::new(total),
            None => ProgressBar::new_spinner(),
        };
        bar.set_draw_target(if visible {
            ProgressDrawTarget::stderr()
        } else {
            ProgressDrawTarget::hidden()
        });
        let template = if total.is_some() {
            format!("{verb} {{bar:40}} {{pos}}/{{len}} records ({{per_sec}}, {{eta}} left)")
        } else {
            format!("{verb} {{spinner}} {{pos}} records ({{per_sec}})")
        };
        if let Ok(style) = ProgressStyle::with_template(&template) {
            bar.set_style(style);
        }
        Progress { bar }
    }

    pub fn set(&self, done: u64) {
        self.bar.set_position(done);
    }

    pub fn set_total(&self, total: u64) {
        self.bar.set_length(total);
    }

    /// Leaves the final state on screen.
    pub fn finish(&self) {
        self.bar.finish();
    }

    /// A `(done, total)` callback for the library's long operations.
    pub fn callback(&self) -> impl FnMut(u64, u64) + '_ {
        move |done, total| {
            self.set_total(total);
            self.set(done);
        }
    }
}
