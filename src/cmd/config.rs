//! `zreplrs config check`: parses and validates the configuration and names its jobs; exit 2 with the
//! reason when it is invalid.

use camino::Utf8Path;

use crate::report::exit;

/// Runs `config check`.
pub fn check(path: Option<&Utf8Path>) -> u8 {
    match super::load_config(path) {
        Ok(c) => {
            let names: Vec<String> = c.jobs.iter().map(|j| j.name.to_string()).collect();
            println!("{}: ok ({} jobs: {})", c.path, c.jobs.len(), names.join(", "));
            exit::OK
        }
        Err(code) => code,
    }
}
