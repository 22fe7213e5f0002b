//! `zreplrs test …`: read-only checks for administrators — which datasets a job's filter selects and by which
//! rule, and what a resume token contains.

use camino::Utf8Path;

use crate::cli::Format;
use crate::config::Job;
use crate::report::commands::{FilterEntry, FilterReport, TokenReport};
use crate::report::{exit, human};
use crate::zfs::token::decode_native;
use crate::zfs::{Zfs, ZfsError, ZfsErrorKind};

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

/// Decodes a resume token natively and asks `zfs send -nvt` for a second opinion where `zfs` is installed.
pub fn decode_token(token: &str) -> Result<TokenReport, ZfsError> {
    let native = decode_native(token)?;
    match Zfs::new().decode_resume_token(token) {
        Ok(_) => Ok(TokenReport {
            token: native,
            zfs_agrees: Some(true),
        }),
        Err(e) if e.kind == ZfsErrorKind::Spawn => Ok(TokenReport {
            token: native,
            zfs_agrees: None,
        }),
        Err(e) => Err(e),
    }
}

/// Runs `zreplrs test filesystems`.
pub fn filesystems_command(path: Option<&Utf8Path>, job: &str, format: Option<Format>) -> u8 {
    super::with_job(path, job, |_, job| {
        if let Some(code) = super::sender_side_only(job, "test") {
            return code;
        }
        match filesystems(job) {
            Ok(entries) => {
                let r = FilterReport {
                    job: job.name.to_string(),
                    filesystems: entries,
                };
                super::emit(format, &r, human::filter_table)
            }
            Err(e) => {
                eprintln!("zreplrs: {e}");
                exit::RUN_FAILED
            }
        }
    })
}

/// Runs `zreplrs test decode-resume-token`; exit 2 for a token that does not decode or that ZFS reads
/// differently.
pub fn decode_command(token: &str, format: Option<Format>) -> u8 {
    match decode_token(token) {
        Ok(t) => super::emit(format, &t, human::token_fields),
        Err(e) => {
            eprintln!("zreplrs: {e}");
            exit::USAGE
        }
    }
}
