//! `zreplrs test …`: read-only checks for administrators — which datasets a job's filter selects and by which
//! rule, and what a resume token contains.

use camino::Utf8Path;

use crate::cli::Format;
use crate::config::Job;
use crate::report::commands::{FilterEntry, FilterReport};
use crate::report::exit;
use crate::zfs::token::ResumeToken;
use crate::zfs::{Zfs, ZfsError};

/// Every dataset below the filter's roots with the filter's verdict.
pub fn filesystems(job: &Job) -> Result<Vec<FilterEntry>, ZfsError> {
    let listing = Zfs::new().list(&job.filesystems.roots(), false)?;
    Ok(listing
        .filesystems
        .keys()
        .map(|name| {
            let m = job.filesystems.matches(name);
            FilterEntry {
                dataset: name.to_string(),
                included: m.as_ref().is_some_and(|m| m.include),
                rule: m.map(|m| m.rule),
            }
        })
        .collect())
}

/// Decodes a resume token (`zfs send -nvt`).
pub fn decode_token(token: &str) -> Result<ResumeToken, ZfsError> {
    Zfs::new().decode_resume_token(token)
}

/// Runs `zreplrs test filesystems`; prints JSON.
pub fn filesystems_command(path: Option<&Utf8Path>, job: &str) -> u8 {
    super::with_job(path, job, |_, job| match filesystems(job) {
        Ok(entries) => {
            let r = FilterReport {
                job: job.name.to_string(),
                filesystems: entries,
            };
            super::emit(Some(Format::Json), &r, |_| String::new())
        }
        Err(e) => {
            eprintln!("zreplrs: {e}");
            exit::RUN_FAILED
        }
    })
}

/// Runs `zreplrs test decode-resume-token`; prints the fields as JSON, exit 2 for a token ZFS refuses.
pub fn decode_command(token: &str) -> u8 {
    match decode_token(token) {
        Ok(t) => {
            super::print_json(&t);
            exit::OK
        }
        Err(e) => {
            eprintln!("zreplrs: {e}");
            exit::USAGE
        }
    }
}
