//! `zreplrs config check`: parses and validates the configuration and names its jobs; exit 2 with the
//! reason when it is invalid. `zreplrs config jobs`: the job names alone, for shell completion.

use camino::Utf8Path;

use crate::cli::Format;
use crate::report::commands::ConfigCheckReport;
use crate::report::{human, Header};

/// Runs `config check`.
pub fn check(path: Option<&Utf8Path>, format: Option<Format>) -> u8 {
    with_report(path, "config check", |r| {
        super::emit(format, r, human::config_check_line)
    })
}

/// Runs `config jobs`: the job names, one per line (human) or as the same report as `config check` (JSON).
pub fn jobs(path: Option<&Utf8Path>, format: Option<Format>) -> u8 {
    with_report(path, "config jobs", |r| {
        super::emit(format, r, |r| r.jobs.iter().map(|j| format!("{j}\n")).collect())
    })
}

/// Loads the configuration and runs `f` on its report; an invalid configuration is exit 2.
fn with_report(path: Option<&Utf8Path>, command: &str, f: impl FnOnce(&ConfigCheckReport) -> u8) -> u8 {
    match super::load_config(path) {
        Ok(c) => f(&ConfigCheckReport {
            header: Header::new(command, None, None),
            path: c.path.to_string(),
            jobs: c.jobs.iter().map(|j| j.name.to_string()).collect(),
        }),
        Err(code) => code,
    }
}
