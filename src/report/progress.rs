//! Progress on a terminal: one indicatif bar per transfer on stderr (bytes, rate, ETA), with a visible note
//! when the size estimate is imprecise; filesystems replicating at once each have their own line (indicatif's
//! multi-progress). Hidden when stderr is not a terminal.

use std::io::IsTerminal;

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};

/// Progress display for the transfers of one run.
pub struct Progress {
    enabled: bool,
    bars: MultiProgress,
}

impl Progress {
    /// Enabled when stderr is a terminal and `quiet` is false.
    pub fn new(quiet: bool) -> Self {
        let enabled = !quiet && std::io::stderr().is_terminal();
        let target = if enabled {
            ProgressDrawTarget::stderr()
        } else {
            ProgressDrawTarget::hidden()
        };
        Progress {
            enabled,
            bars: MultiProgress::with_draw_target(target),
        }
    }

    /// A bar for one step; `estimate` None means the size is unknown (a spinner with a note).
    pub fn transfer(&self, label: &str, estimate: Option<u64>) -> ProgressBar {
        if !self.enabled {
            return ProgressBar::hidden();
        }
        let bar = match estimate {
            Some(total) => {
                let bar = self.bars.add(ProgressBar::new(total));
                let style = ProgressStyle::with_template(
                    "{msg} [{bar:30}] {bytes}/{total_bytes} {binary_bytes_per_sec} ETA {eta}",
                )
                .unwrap_or_else(|_| ProgressStyle::default_bar())
                .progress_chars("=> ");
                bar.set_style(style);
                bar
            }
            None => {
                let bar = self.bars.add(ProgressBar::no_length());
                let style = ProgressStyle::with_template(
                    "{msg} {spinner} {bytes} {binary_bytes_per_sec} (size unknown: estimate imprecise)",
                )
                .unwrap_or_else(|_| ProgressStyle::default_spinner());
                bar.set_style(style);
                bar
            }
        };
        bar.set_message(label.to_string());
        bar
    }

    pub fn enabled(&self) -> bool {
        self.enabled
    }
}
