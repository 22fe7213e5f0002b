//! `zreplrs test …`: read-only checks for administrators — which datasets a job's filter selects and by which
//! rule, and what a resume token contains.

use serde::Serialize;

use crate::config::Job;
use crate::zfs::token::ResumeToken;
use crate::zfs::{Zfs, ZfsError};

#[derive(Debug, Clone, Serialize)]
pub struct FilterEntry {
    pub dataset: String,
    pub included: bool,
    /// The rule that decided, as written in the config; `null` when no rule applies (not included).
    pub rule: Option<String>,
}

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
