//! Reporting a run: the JSON result (stable, schema-checked: `schema/replicate-result.schema.json`), the
//! Prometheus textfile for node_exporter, progress bars on a terminal, and exit codes.

pub mod check;
pub mod commands;
pub mod failover;
pub mod human;
pub mod metrics;
pub mod progress;
pub mod restore;

use serde::Serialize;

use crate::zfs::{Guid, ZfsError};

/// Version of the JSON result format; bumped on incompatible changes.
pub const SCHEMA_VERSION: u32 = 1;

/// Exit codes (docs/design.md §6).
pub mod exit {
    pub const OK: u8 = 0;
    pub const SOME_FAILED: u8 = 1;
    pub const USAGE: u8 = 2;
    pub const RUN_FAILED: u8 = 3;
    pub const LOCKED: u8 = 4;
    /// The job's `[jobs.replicate] pre_hook` failed, so the run was skipped (nothing touched).
    pub const SKIPPED: u8 = 5;

    /// The exit code of a result: 3 when the command failed as a whole, else 1 when some part failed, else 0.
    pub fn code(run_failed: bool, some_failed: bool) -> u8 {
        if run_failed {
            RUN_FAILED
        } else if some_failed {
            SOME_FAILED
        } else {
            OK
        }
    }
}

/// A command's JSON result: what it serialises to, and the exit code it maps to (docs/design.md §6).
pub trait CommandReport: Serialize {
    fn exit_code(&self) -> u8;
}

/// The fields every JSON result starts with. `job` is absent for commands over several jobs, `dry_run` for
/// commands that only read.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Header {
    pub schema_version: u32,
    pub command: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub job: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dry_run: Option<bool>,
}

impl Header {
    /// The header of `command` run for `job` (`None`: several or no jobs); `dry_run` as the command takes it.
    pub fn new(command: &str, job: Option<&str>, dry_run: Option<bool>) -> Self {
        Header {
            schema_version: SCHEMA_VERSION,
            command: command.to_string(),
            job: job.map(String::from),
            dry_run,
        }
    }

    /// The job's name, or "" for a result over several jobs (metrics label).
    pub fn job_name(&self) -> &str {
        self.job.as_deref().unwrap_or("")
    }
}

/// When a command ran: started at construction, finished by [`Timing::finish`].
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Timing {
    pub started_at: String,
    pub finished_at: String,
    pub duration_seconds: f64,
    #[serde(skip)]
    started: Option<std::time::Instant>,
}

impl Timing {
    pub fn start() -> Self {
        Timing {
            started_at: now_rfc3339(),
            finished_at: String::new(),
            duration_seconds: 0.0,
            started: Some(std::time::Instant::now()),
        }
    }

    /// A timing as recorded earlier (fixed values; `finish` then only sets the finish time).
    pub fn recorded(started_at: &str, finished_at: &str, duration_seconds: f64) -> Self {
        Timing {
            started_at: started_at.to_string(),
            finished_at: finished_at.to_string(),
            duration_seconds,
            started: None,
        }
    }

    /// Time since [`Timing::start`] (zero for a [recorded](Timing::recorded) timing).
    pub fn elapsed(&self) -> std::time::Duration {
        self.started.map_or(std::time::Duration::ZERO, |s| s.elapsed())
    }

    /// Sets the finish time and the duration since [`Timing::start`].
    pub fn finish(&mut self) {
        self.finished_at = now_rfc3339();
        if self.started.is_some() {
            self.duration_seconds = self.elapsed().as_secs_f64();
        }
    }
}

/// Outcome of a whole run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RunResult {
    Ok,
    NothingToDo,
    Partial,
    Failed,
    /// The pre-hook failed: nothing was looked at or sent.
    Skipped,
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

impl From<&ZfsError> for ErrorReport {
    /// A failed `zfs` command as reported: its stable kind and the message naming the command and ZFS's words.
    fn from(e: &ZfsError) -> Self {
        ErrorReport::new(e.error_kind(), e.to_string())
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
    /// Bytes of the `zfs send` stream actually sent.
    pub bytes: u64,
    /// Of them, bytes on the link to the peer: fewer than `bytes` when compressed in transit (plus DATA
    /// frame overhead of none).
    pub wire_bytes: u64,
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
    /// `replicate --rotate`: where the receiver's diverged copy was set aside (its full name).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rotated_to: Option<String>,
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
    #[serde(flatten)]
    pub header: Header,
    #[serde(flatten)]
    pub timing: Timing,
    pub result: RunResult,
    pub attempts: Vec<AttemptReport>,
    pub bytes_estimated: u64,
    /// False when some step's size could not be estimated (then `bytes_estimated` is a lower bound).
    pub bytes_estimate_exact: bool,
    pub bytes_replicated: u64,
    /// Sum of the steps' `wire_bytes`.
    pub wire_bytes_replicated: u64,
    pub filesystems: Vec<FsReport>,
    /// Set when the run failed as a whole (cannot connect, planning failed) or was skipped.
    pub error: Option<ErrorReport>,
    /// Step holds older than `max_step_hold_age` that this run released because it could not reach the
    /// receiver (snapshot names).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub released_aged_step_holds: Vec<String>,
    /// The `[jobs.replicate]` hooks that ran, in order.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub hooks: Vec<crate::report::commands::HookResult>,
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
        self.wire_bytes_replicated = self
            .filesystems
            .iter()
            .flat_map(|f| &f.steps)
            .map(|s| s.wire_bytes)
            .sum();
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

    /// Number of filesystems that failed (errors or conflicts).
    pub fn failed_filesystems(&self) -> usize {
        self.filesystems
            .iter()
            .filter(|f| matches!(f.result, FsResult::Failed | FsResult::Conflict))
            .count()
    }
}

impl CommandReport for RunReport {
    /// 0 ok or nothing to do; 1 some or all filesystems failed; 3 the run failed as a whole; 5 skipped by
    /// the pre-hook.
    fn exit_code(&self) -> u8 {
        if self.result == RunResult::Skipped {
            return exit::SKIPPED;
        }
        exit::code(
            self.error.is_some(),
            matches!(self.result, RunResult::Partial | RunResult::Failed),
        )
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
