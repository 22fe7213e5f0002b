//! Reporting a run: the JSON result (stable, schema-checked: `schema/replicate-result.schema.json`), the
//! Prometheus textfile for node_exporter, progress bars on a terminal, and exit codes.

pub mod human;
pub mod metrics;
pub mod progress;

use serde::Serialize;

use crate::zfs::Guid;

/// Version of the JSON result format; bumped on incompatible changes.
pub const SCHEMA_VERSION: u32 = 1;

/// Exit codes (SPEC §6).
pub mod exit {
    pub const OK: u8 = 0;
    pub const SOME_FAILED: u8 = 1;
    pub const USAGE: u8 = 2;
    pub const RUN_FAILED: u8 = 3;
    pub const LOCKED: u8 = 4;
}

/// Outcome of a whole run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RunResult {
    Ok,
    NothingToDo,
    Partial,
    Failed,
}

/// Outcome for one filesystem.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum FsResult {
    /// Steps were sent and everything is protected.
    Ok,
    /// Nothing to send.
    UpToDate,
    /// `--dry-run`: steps planned, nothing sent.
    Planned,
    /// A conflict that needs an administrator (diverged, no common ancestor, …).
    Conflict,
    /// An error while sending or protecting.
    Failed,
}

/// Outcome of one step.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum StepResult {
    Done,
    Planned,
    Failed,
    NotAttempted,
}

/// An error: a stable machine kind and a message for people.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ErrorReport {
    pub kind: String,
    pub message: String,
}

impl ErrorReport {
    pub fn new(kind: impl Into<String>, message: impl Into<String>) -> Self {
        ErrorReport {
            kind: kind.into(),
            message: message.into(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct StepReport {
    pub from: Option<String>,
    pub from_guid: Option<Guid>,
    pub to: String,
    pub to_guid: Guid,
    /// Snapshots the step delivers (more than 1 for an `-I` stream with intermediate snapshots).
    pub snapshots: u64,
    pub resumed: bool,
    /// Dry-send estimate; `null` when ZFS could not estimate.
    pub bytes_estimated: Option<u64>,
    /// Bytes actually sent.
    pub bytes: u64,
    pub result: StepResult,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FsReport {
    pub name: String,
    pub target: String,
    pub result: FsResult,
    pub steps: Vec<StepReport>,
    pub error: Option<ErrorReport>,
    /// The receiver holds partially received state after this run.
    pub resumable: bool,
    /// Sender snapshots newer than the receiver's newest, after this run.
    pub pending_snapshots: u64,
    /// Newest snapshot present on both sides after this run.
    pub newest_replicated: Option<String>,
    /// Seconds between that snapshot's creation and the end of the run.
    pub lag_seconds: Option<u64>,
}

/// Why an attempt ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum AttemptOutcome {
    Completed,
    ConnectivityError,
    Failed,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AttemptReport {
    pub number: u32,
    pub started_at: String,
    pub finished_at: String,
    pub outcome: AttemptOutcome,
    pub error: Option<ErrorReport>,
}

/// The JSON result of `zreplrs replicate`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RunReport {
    pub schema_version: u32,
    pub command: String,
    pub job: String,
    pub started_at: String,
    pub finished_at: String,
    pub dry_run: bool,
    pub result: RunResult,
    pub attempts: Vec<AttemptReport>,
    pub bytes_estimated: u64,
    /// False when some step's size could not be estimated (then `bytes_estimated` is a lower bound).
    pub bytes_estimate_exact: bool,
    pub bytes_replicated: u64,
    pub duration_seconds: f64,
    pub filesystems: Vec<FsReport>,
    /// Set when the run failed as a whole (cannot connect, planning failed).
    pub error: Option<ErrorReport>,
}

impl RunReport {
    /// Overall result from the per-filesystem results (a run-level error makes it `failed`).
    pub fn summarize(&mut self) {
        let failed = self
            .filesystems
            .iter()
            .filter(|f| matches!(f.result, FsResult::Failed | FsResult::Conflict))
            .count();
        let worked = self
            .filesystems
            .iter()
            .filter(|f| matches!(f.result, FsResult::Ok | FsResult::Planned))
            .count();
        self.result = if self.error.is_some() || (failed > 0 && failed == self.filesystems.len()) {
            RunResult::Failed
        } else if failed > 0 {
            RunResult::Partial
        } else if worked > 0 {
            RunResult::Ok
        } else {
            RunResult::NothingToDo
        };
        self.bytes_replicated = self.filesystems.iter().flat_map(|f| &f.steps).map(|s| s.bytes).sum();
        let estimates = self
            .filesystems
            .iter()
            .flat_map(|f| &f.steps)
            .filter(|s| s.result != StepResult::Done || s.bytes_estimated.is_some());
        let mut exact = true;
        let mut total: u64 = 0;
        for s in estimates {
            match s.bytes_estimated {
                Some(b) => total = total.saturating_add(b),
                None => exact = false,
            }
        }
        self.bytes_estimated = total;
        self.bytes_estimate_exact = exact;
    }

    /// Exit code for this report (SPEC §6).
    pub fn exit_code(&self) -> u8 {
        if self.error.is_some() {
            exit::RUN_FAILED
        } else {
            match self.result {
                RunResult::Ok | RunResult::NothingToDo => exit::OK,
                RunResult::Partial | RunResult::Failed => exit::SOME_FAILED,
            }
        }
    }

    /// Number of filesystems that failed (errors or conflicts).
    pub fn failed_filesystems(&self) -> usize {
        self.filesystems
            .iter()
            .filter(|f| matches!(f.result, FsResult::Failed | FsResult::Conflict))
            .count()
    }
}

/// Current time as RFC 3339 UTC with seconds (`2026-11-27T19:45:13Z`).
pub fn now_rfc3339() -> String {
    rfc3339(std::time::SystemTime::now())
}

pub fn rfc3339(t: std::time::SystemTime) -> String {
    let secs = t
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    match time::OffsetDateTime::from_unix_timestamp(secs as i64) {
        Ok(dt) => dt
            .format(&time::macros::format_description!(
                "[year]-[month]-[day]T[hour]:[minute]:[second]Z"
            ))
            .unwrap_or_else(|_| secs.to_string()),
        Err(_) => secs.to_string(),
    }
}

/// Seconds since the epoch.
pub fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

#[cfg(test)]
mod tests;
