//! One filesystem's path in an attempt, plain sequential code: nothing below a parent that failed or whose
//! place is not our copy; its protection prepared (a stale resume token aborted, a dead run's step holds
//! released, cursor and last-received hold repaired); then its steps in order, each with its report.

use std::collections::BTreeSet;

use crate::config::Job;
use crate::endpoint::{Receiver, Sender};
use crate::plan::{FsPlan, Step};
use crate::report::progress::Progress;
use crate::report::{ErrorReport, FsReport, FsResult, StepReport, StepResult};
use crate::step::{self, StepContext};
use crate::survey;
use crate::zfs::names::{BookmarkName, DatasetName, SnapshotName};
use crate::zfs::Guid;

use super::options::Options;

/// What every filesystem of an attempt shares: the job, the run's options, the progress bars, and the step
/// holds put for the whole attempt (see [`hold_steps`]).
#[derive(Clone, Copy)]
pub(super) struct FsContext<'a> {
    pub(super) job: &'a Job,
    pub(super) opts: &'a Options,
    pub(super) progress: &'a Progress,
    pub(super) pre_held: Option<&'a BTreeSet<SnapshotName>>,
}

/// What replicating one filesystem came to: its report, the connectivity error that ended it (which ends
/// the attempt), and whether its children must not be received below it.
pub(super) struct FsOutcome {
    pub(super) report: FsReport,
    pub(super) conn_error: Option<ErrorReport>,
    pub(super) blocks: bool,
}

/// Replicates one filesystem over `conn`: prepares its protection, then runs its steps in order. `parent`
/// names the ancestor that failed or conflicts in this run, if any: the filesystem is then not replicated.
pub(super) fn replicate_fs(
    ctx: &FsContext<'_>,
    zfs: &dyn Sender,
    conn: &mut dyn Receiver,
    w: &survey::FsSurvey,
    parent: Option<String>,
) -> FsOutcome {
    let mut fsr = FsReport {
        name: w.sender.name.to_string(),
        target: w.target.to_string(),
        result: FsResult::UpToDate,
        steps: Vec::new(),
        error: None,
        resumable: false,
        pending_snapshots: 0,
        newest_replicated: None,
        lag_seconds: None,
        rotated_to: None,
    };
    let initial = if ctx.opts.dry_run {
        StepResult::Planned
    } else {
        StepResult::NotAttempted
    };
    fsr.steps = w
        .plan
        .steps()
        .iter()
        .zip(&w.estimates)
        .map(|(s, e)| step_report(&w.sender.name, s, *e, initial))
        .collect();
    let mut conn_error = None;
    let mut newest_guid = w.receiver_newest;
    match &w.plan {
        _ if parent.is_some() => {
            let p = parent.unwrap_or_default();
            fsr.result = FsResult::Failed;
            fsr.error = Some(ErrorReport::new(
                "parent_failed",
                format!(
                    "not replicated: its parent {p} failed or conflicts in this run, so its place on the \
                     receiver is not a copy of {p}; fix the parent first"
                ),
            ));
        }
        FsPlan::Conflict { kind, reason } => {
            fsr.result = FsResult::Conflict;
            fsr.error = Some(ErrorReport::new(kind.name(), reason.clone()));
            fsr.resumable = w.receiver.as_ref().is_some_and(|r| r.resume_token.is_some());
        }
        FsPlan::UpToDate | FsPlan::Replicate { .. } if ctx.opts.dry_run => {
            if !fsr.steps.is_empty() {
                fsr.result = FsResult::Planned;
            }
        }
        // Up to date by its sync record: the run that wrote the record repaired its protection.
        FsPlan::UpToDate if w.from_record => {}
        FsPlan::UpToDate | FsPlan::Replicate { .. } => {
            match super::protection::prepare(zfs, conn, ctx.job, w, ctx.pre_held) {
                Err(e) => {
                    fsr.result = FsResult::Failed;
                    if e.connectivity {
                        conn_error = Some(e.error.clone());
                    }
                    fsr.error = Some(e.error);
                }
                Ok(cursors) => {
                    let ran = run_steps(ctx, zfs, conn, w, cursors, &mut fsr);
                    (conn_error, newest_guid) = (ran.conn_error, ran.newest_guid.or(newest_guid));
                }
            }
        }
    }
    fill_pending(&mut fsr, w, newest_guid);
    let blocks = blocks_children(&fsr, &w.plan);
    FsOutcome {
        report: fsr,
        conn_error,
        blocks,
    }
}

/// What running a filesystem's steps came to beyond its report.
struct Ran {
    /// The connectivity error that ended a step (it ends the attempt).
    conn_error: Option<ErrorReport>,
    /// The GUID of the last snapshot a step delivered.
    newest_guid: Option<Guid>,
}

/// Runs the planned steps in order, each with its progress bar, until one fails; their results go into
/// `fsr`. `cursors` are this job's cursors on the filesystem before the first step.
fn run_steps(
    ctx: &FsContext<'_>,
    zfs: &dyn Sender,
    conn: &mut dyn Receiver,
    w: &survey::FsSurvey,
    cursors: Vec<BookmarkName>,
    fsr: &mut FsReport,
) -> Ran {
    let mut ran = Ran {
        conn_error: None,
        newest_guid: None,
    };
    let FsPlan::Replicate {
        steps,
        replace_placeholder,
        ..
    } = &w.plan
    else {
        return ran;
    };
    if !steps.is_empty() {
        fsr.result = FsResult::Ok;
    }
    let job = ctx.job;
    let step_ctx = StepContext {
        zfs,
        job: &job.name,
        fs: &w.sender.name,
        rel: &w.rel,
        flags: job.send.flags,
        protection: job.protection,
        stall_timeout: job.stall_timeout,
        pre_held: ctx.pre_held.is_some(),
        encrypted: w.sender.is_encrypted(),
        cursors: job.keeps_bookkeeping(),
    };
    let mut old_cursors = cursors;
    for (i, s) in steps.iter().enumerate() {
        let label = format!("{} {}", w.sender.name, s.to.relative_name());
        let bar = ctx.progress.transfer(&label, w.estimates[i]);
        let first_full = *replace_placeholder && i == 0;
        let r = step::execute(&step_ctx, conn, s, first_full, &old_cursors, &mut |b| {
            bar.set_position(b)
        });
        bar.finish_and_clear();
        let (bytes, wire_bytes) = match &r {
            Ok(m) => (m.bytes, m.wire_bytes),
            Err(f) => (f.bytes, f.wire_bytes),
        };
        (fsr.steps[i].bytes, fsr.steps[i].wire_bytes) = (bytes, wire_bytes);
        match r {
            Ok(_) => {
                fsr.steps[i].result = StepResult::Done;
                ran.newest_guid = Some(s.to.guid);
                let cursor = w.sender.name.bookmark(&job.name.cursor_bookmark_short(s.to.guid.0));
                old_cursors = cursor.into_iter().collect();
            }
            Err(f) => {
                fsr.steps[i].result = StepResult::Failed;
                fsr.result = FsResult::Failed;
                fsr.resumable = f.bytes > 0;
                if f.connectivity {
                    ran.conn_error = Some(f.error.clone());
                }
                fsr.error = Some(f.error);
                break;
            }
        }
    }
    ran
}

/// What is on both sides now: the newest snapshot replicated (`newest_guid`) and how many are pending.
fn fill_pending(fsr: &mut FsReport, w: &survey::FsSurvey, newest_guid: Option<Guid>) {
    if let Some(g) = newest_guid {
        if let Some(v) = w.sender.versions.iter().rev().find(|v| v.guid == g) {
            fsr.newest_replicated = Some(v.full_name(w.sender.name.as_str()));
            fsr.pending_snapshots = w.sender.snapshots().filter(|s| s.createtxg > v.createtxg).count() as u64;
        }
    } else {
        fsr.pending_snapshots = w.sender.snapshots().count() as u64;
    }
}

/// Whether the children of a filesystem with this result must not be received: it failed, or conflicts
/// because the receiver's dataset at its place is not our copy. A parent that merely has no snapshots, is
/// not encrypted under `send.encrypted`, or waits for `initial_replication` leaves its place free (or a
/// placeholder), and its children are replicated below it as usual.
fn blocks_children(fsr: &FsReport, plan: &FsPlan) -> bool {
    use crate::plan::ConflictKind as K;
    match (fsr.result, plan) {
        (FsResult::Failed, _) => true,
        (FsResult::Conflict, FsPlan::Conflict { kind, .. }) => !matches!(
            kind,
            K::NoSenderSnapshots | K::NotEncrypted | K::InitialReplicationRefused
        ),
        _ => false,
    }
}

fn step_report(fs: &DatasetName, s: &Step, estimate: Option<u64>, result: StepResult) -> StepReport {
    StepReport {
        from: s.from.as_ref().map(|f| f.full_name(fs.as_str())),
        from_guid: s.from.as_ref().map(|f| f.guid),
        to: s.to.full_name(fs.as_str()),
        to_guid: s.to.guid,
        snapshots: s.snapshot_count() as u64,
        resumed: s.resume_token.is_some(),
        bytes_estimated: estimate,
        bytes: 0,
        wire_bytes: 0,
        result,
    }
}
