//! `zreplrs status --job`: replication state from live ZFS on both sides only — per filesystem the newest
//! sender snapshot, the newest replicated one, lag, pending snapshots and estimated bytes (flagged when
//! imprecise), resumable state and conflicts. Reads only; takes no lock.

use std::fmt::Write as _;

use serde::Serialize;

use crate::config::Job;
use crate::plan::FsPlan;
use crate::report::{self, exit, ErrorReport};
use crate::survey::{self, FsSurvey};
use crate::zfs::Zfs;

/// State of one filesystem.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum FsState {
    UpToDate,
    /// Snapshots wait to be sent (possibly resuming an interrupted transfer).
    Pending,
    Conflict,
}

#[derive(Debug, Clone, Serialize)]
pub struct FsStatus {
    pub name: String,
    pub target: String,
    pub state: FsState,
    pub newest_sender_snapshot: Option<String>,
    pub newest_replicated: Option<String>,
    pub lag_seconds: Option<u64>,
    pub pending_snapshots: u64,
    pub pending_bytes: u64,
    /// False when some pending step could not be estimated (`pending_bytes` is then a lower bound).
    pub pending_bytes_exact: bool,
    /// The receiver holds partially received state for this filesystem.
    pub resumable: bool,
    pub conflict: Option<ErrorReport>,
}

#[derive(Debug, Clone, Serialize)]
pub struct StatusReport {
    pub schema_version: u32,
    pub command: String,
    pub job: String,
    pub generated_at: String,
    pub filesystems: Vec<FsStatus>,
    pub error: Option<ErrorReport>,
}

impl StatusReport {
    /// 0 when all is well, 1 when a filesystem is in conflict, 3 when the state could not be read.
    pub fn exit_code(&self) -> u8 {
        if self.error.is_some() {
            exit::RUN_FAILED
        } else if self.filesystems.iter().any(|f| f.state == FsState::Conflict) {
            exit::SOME_FAILED
        } else {
            exit::OK
        }
    }
}

fn fs_status(f: &FsSurvey) -> FsStatus {
    let fs = f.sender.name.as_str();
    let newest_replicated = f.receiver_newest.and_then(|g| {
        f.sender
            .versions
            .iter()
            .filter(|v| v.guid == g)
            .min_by_key(|v| !v.is_snapshot())
    });
    let pending_snapshots = match newest_replicated {
        Some(v) => f.sender.snapshots().filter(|s| s.createtxg > v.createtxg).count(),
        None => f.sender.snapshots().count(),
    } as u64;
    let (state, conflict) = match &f.plan {
        FsPlan::UpToDate => (FsState::UpToDate, None),
        FsPlan::Replicate { steps, .. } if steps.is_empty() => (FsState::UpToDate, None),
        FsPlan::Replicate { .. } => (FsState::Pending, None),
        FsPlan::Conflict { kind, reason } => (FsState::Conflict, Some(ErrorReport::new(kind.name(), reason.clone()))),
    };
    FsStatus {
        name: fs.to_string(),
        target: f.target.to_string(),
        state,
        newest_sender_snapshot: f.sender.newest_snapshot().map(|v| v.full_name(fs)),
        newest_replicated: newest_replicated.map(|v| v.full_name(fs)),
        lag_seconds: None,
        pending_snapshots,
        pending_bytes: f.estimates.iter().map(|e| e.unwrap_or(0)).sum(),
        pending_bytes_exact: f.estimates.iter().all(Option::is_some),
        resumable: f.receiver.as_ref().is_some_and(|r| r.resume_token.is_some()),
        conflict,
    }
}

/// Surveys both sides and reports.
pub fn status(job: &Job) -> StatusReport {
    let zfs = Zfs::new();
    let mut r = StatusReport {
        schema_version: report::SCHEMA_VERSION,
        command: "status".into(),
        job: job.name.to_string(),
        generated_at: report::now_rfc3339(),
        filesystems: Vec::new(),
        error: None,
    };
    match survey::survey(job, &zfs) {
        Ok(s) => {
            r.filesystems = s.filesystems.iter().map(fs_status).collect();
            let names: Vec<String> = r
                .filesystems
                .iter()
                .filter_map(|f| f.newest_replicated.clone())
                .collect();
            let times = survey::creation_times(&zfs, &s.filesystems, &names);
            let now = report::unix_now();
            for f in &mut r.filesystems {
                f.lag_seconds = f
                    .newest_replicated
                    .as_ref()
                    .and_then(|n| times.get(n))
                    .map(|c| now.saturating_sub(*c));
            }
        }
        Err(e) => r.error = Some(e.error),
    }
    r
}

/// The status as a table for a terminal.
pub fn table(r: &StatusReport) -> String {
    let mut s = String::new();
    let w = r.filesystems.iter().map(|f| f.name.len()).max().unwrap_or(10).max(10);
    let _ = writeln!(
        s,
        "{:<w$}  {:<10}  {:>8}  {:>7}  {:>10}  {:<9}  NEWEST REPLICATED",
        "FILESYSTEM", "STATE", "LAG", "PENDING", "BYTES", "RESUMABLE"
    );
    for f in &r.filesystems {
        let state = match f.state {
            FsState::UpToDate => "up-to-date",
            FsState::Pending => "pending",
            FsState::Conflict => "CONFLICT",
        };
        let lag = f.lag_seconds.map_or("-".to_string(), |l| format!("{l}s"));
        let bytes = format!("{}{}", f.pending_bytes, if f.pending_bytes_exact { "" } else { "+" });
        let newest = f.newest_replicated.as_deref().unwrap_or("-");
        let _ = writeln!(
            s,
            "{:<w$}  {:<10}  {:>8}  {:>7}  {:>10}  {:<9}  {newest}",
            f.name,
            state,
            lag,
            f.pending_snapshots,
            bytes,
            if f.resumable { "yes" } else { "no" }
        );
        if let Some(c) = &f.conflict {
            let _ = writeln!(s, "  conflict ({}): {}", c.kind, c.message);
        }
    }
    if r.filesystems.iter().any(|f| !f.pending_bytes_exact) {
        let _ = writeln!(s, "(+: estimate imprecise, some step sizes unknown)");
    }
    if let Some(e) = &r.error {
        let _ = writeln!(s, "error ({}): {}", e.kind, e.message);
    }
    s
}
