//! `zreplrs config check`: parses and validates the configuration, checks the SSH files it names and names
//! its jobs; exit 2 with the reason when it is invalid. `zreplrs config jobs`: the job names alone, for shell completion.

use camino::Utf8Path;

use crate::cli::Format;
use crate::config::{files, Config};
use crate::report::commands::ConfigCheckReport;
use crate::report::{human, Header};

/// Runs `config check`: the configuration, then the SSH files it names (missing ones are exit 2, a key
/// others can read is a warning).
pub fn check(path: Option<&Utf8Path>, format: Option<Format>) -> u8 {
    let config = match super::load_config(path) {
        Ok(c) => c,
        Err(code) => return code,
    };
    let found = files::check_files(&config);
    if !found.errors.is_empty() {
        for e in &found.errors {
            eprintln!("zreplrs: {}: {e}", config.path);
        }
        return crate::report::exit::USAGE;
    }
    let mut report = report_of(&config, "config check");
    report.warnings = found.warnings;
    super::emit(format, &report, human::config_check_line)
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
        Ok(c) => f(&report_of(&c, command)),
        Err(code) => code,
    }
}

fn report_of(config: &Config, command: &str) -> ConfigCheckReport {
    ConfigCheckReport {
        header: Header::new(command, None, None),
        path: config.path.to_string(),
        jobs: config.jobs.iter().map(|j| j.name.to_string()).collect(),
        warnings: Vec::new(),
    }
}
