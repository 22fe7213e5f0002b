//! `zreplrs failover` and `failback` of a job to a ZFS receiver: a push job's on its sending host, a pull
//! job's on its backup host (see [`super::sides`] for where each side is and how it is reached).
//!
//! Failover: a last replication (the replicas must be current), the originals made read-only and marked
//! failed over ([`FAILOVER_PROPERTY`], on this host's side), one run the other way that puts the new
//! bookkeeping in place (cursors on the replicas, last-received holds on the originals), then the replicas
//! made writable with the job's last-received holds there released, and the originals' cursors destroyed.
//! From then on `replicate` runs the job the other way ([`job_for_run`]). Failback: a last run the other
//! way (a divergence refused unless `--rotate`), one forward run for the forward bookkeeping, the replicas
//! made read-only again with their cursors destroyed, the marks set to `<job>:failback` (only the last step
//! is left), then the originals made writable with the other way's holds released and the marks removed. A
//! copy is always read-only before the other side becomes writable, new protection exists before old
//! protection goes, and each step is idempotent: a command that stopped is run again.

use crate::config::{Config, Job};
use crate::error::{ErrorKind, Failure};
use crate::report::failover::FailoverReport;
use crate::report::{ErrorReport, FsResult, Header, RunReport, RunResult, Timing};
use crate::zfs::role::{Change, FAILOVER_PROPERTY};
use crate::zfs::Zfs;

use super::options::Options;
use super::reverse;
use super::sides::{zfs_failure, Sides};

/// The job a `replicate` of `job` runs: turned around while it is failed over.
pub fn job_for_run(job: &Job) -> Job {
    match is_failed_over_job(job) {
        true => reverse::failover_job(job).unwrap_or_else(|_| job.clone()),
        false => job.clone(),
    }
}

/// Whether `job` is failed over (a root on this host's side carries the mark).
pub fn is_failed_over_job(job: &Job) -> bool {
    Sides::of(job).is_ok_and(|s| s.marks(&Zfs::new()).iter().any(|m| m == job.name.as_str()))
}

/// Runs `failover` (`back` false) or `failback` of `job`.
pub fn run(config: &Config, job: &Job, back: bool, opts: &Options) -> FailoverReport {
    let command = if back { "failback" } else { "failover" };
    let mut r = FailoverReport {
        header: Header::new(command, Some(job.name.as_str()), None),
        timing: Timing::start(),
        filesystems: Vec::new(),
        replicas: Vec::new(),
        primary: if back { "replica" } else { "sender" },
        runs: Vec::new(),
        actions: Vec::new(),
        error: None,
    };
    let done = Sides::of(job).and_then(|sides| {
        r.filesystems = sides.pairs.iter().map(|p| p.original.to_string()).collect();
        r.replicas = sides.pairs.iter().map(|p| p.replica.to_string()).collect();
        match back {
            false => failover(config, job, &sides, opts, &mut r),
            true => failback(config, job, &sides, opts, &mut r),
        }
    });
    match done {
        Ok(()) => r.primary = if back { "sender" } else { "replica" },
        Err(e) => r.error = Some(ErrorReport::new(e.kind, e.message)),
    }
    r.timing.finish();
    r
}

fn failover(config: &Config, job: &Job, sides: &Sides, opts: &Options, r: &mut FailoverReport) -> Result<(), Failure> {
    let zfs = Zfs::new();
    let marks = sides.marks(&zfs);
    if !marks.iter().any(|m| m == job.name.as_str()) {
        replicate(config, job, opts, r, "the last replication before failover")?;
    }
    mark_originals(job, sides, &marks, r)?;
    let reversed = reverse::failover_job(job).map_err(|e| Failure::new(ErrorKind::InvalidName, e.0))?;
    replicate(config, &reversed, opts, r, "the first run back from the replicas")?;
    r.actions
        .push("the replicas: the job's cursors; the originals: its last-received holds".into());
    let mut conn = sides.connect()?;
    for p in &sides.pairs {
        sides.apply(&zfs, &mut *conn, p, job, Change::Primary, REPLICA)?;
        r.actions.push(format!(
            "{}: writable, the job's last-received holds released",
            p.replica
        ));
    }
    for p in &sides.pairs {
        sides.apply(&zfs, &mut *conn, p, job, Change::Copy, ORIGINAL)?;
        r.actions.push(format!("{}: the job's cursors destroyed", p.original));
    }
    Ok(())
}

/// Makes each original not yet marked read-only, then marks it (on this host's side).
fn mark_originals(job: &Job, sides: &Sides, marks: &[String], r: &mut FailoverReport) -> Result<(), Failure> {
    let zfs = Zfs::new();
    let mut conn = sides.connect()?;
    for (p, mark) in sides.pairs.iter().zip(marks) {
        if mark != job.name.as_str() {
            sides.apply(&zfs, &mut *conn, p, job, Change::ReadOnly, ORIGINAL)?;
            let here = sides.here(p);
            zfs.set_property(here.as_str(), FAILOVER_PROPERTY, job.name.as_str())
                .map_err(zfs_failure)?;
            r.actions.push(format!(
                "{}: read-only; {here}: marked failed over ({FAILOVER_PROPERTY}={})",
                p.original, job.name
            ));
        }
    }
    Ok(())
}

fn failback(config: &Config, job: &Job, sides: &Sides, opts: &Options, r: &mut FailoverReport) -> Result<(), Failure> {
    let zfs = Zfs::new();
    let finishing = format!("{}{FINISHING}", job.name);
    let marks = sides.marks(&zfs);
    if let Some((p, _)) = sides
        .pairs
        .iter()
        .zip(&marks)
        .find(|(_, m)| **m != job.name.as_str() && **m != finishing)
    {
        return Err(Failure::new(
            ErrorKind::Unsupported,
            format!(
                "{} is not failed over (no {FAILOVER_PROPERTY}={} on it): nothing to fail back",
                sides.here(p),
                job.name
            ),
        ));
    }
    if marks.iter().any(|m| m == job.name.as_str()) {
        back_to_copy(config, job, sides, opts, r)?;
        // From here on the replicas are copies again: a failback that stops now only finishes.
        for p in &sides.pairs {
            zfs.set_property(sides.here(p).as_str(), FAILOVER_PROPERTY, &finishing)
                .map_err(zfs_failure)?;
        }
    }
    let mut conn = sides.connect()?;
    for p in &sides.pairs {
        sides.apply(&zfs, &mut *conn, p, job, Change::Primary, ORIGINAL)?;
        zfs.inherit(sides.here(p).as_str(), FAILOVER_PROPERTY)
            .map_err(zfs_failure)?;
        r.actions.push(format!(
            "{}: writable, the other way's last-received holds released, mark removed",
            p.original
        ));
    }
    Ok(())
}

/// [`Sides::apply`] to the original, or to the replica.
const ORIGINAL: bool = true;
const REPLICA: bool = false;

/// The mark's value while a failback finishes (after `<job>`): the replicas are copies again, the
/// originals not yet writable; `replicate` runs forward.
const FINISHING: &str = ":failback";

/// A last run back from the replicas, one forward run for the forward bookkeeping, then the replicas
/// read-only with their cursors destroyed.
fn back_to_copy(
    config: &Config,
    job: &Job,
    sides: &Sides,
    opts: &Options,
    r: &mut FailoverReport,
) -> Result<(), Failure> {
    let reversed = reverse::failover_job(job).map_err(|e| Failure::new(ErrorKind::InvalidName, e.0))?;
    replicate(config, &reversed, opts, r, "the last run back from the replicas")?;
    let forward = Options {
        rotate: false,
        ..opts.clone()
    };
    replicate(config, job, &forward, r, "the first forward run")?;
    r.actions
        .push("the originals: the job's cursors; the replicas: its last-received holds".into());
    let zfs = Zfs::new();
    let mut conn = sides.connect()?;
    for p in &sides.pairs {
        sides.apply(&zfs, &mut *conn, p, job, Change::Copy, REPLICA)?;
        r.actions
            .push(format!("{}: read-only, the job's cursors destroyed", p.replica));
    }
    Ok(())
}

/// Runs `job` once and keeps its report; an error unless every filesystem is up to date after it.
fn replicate(config: &Config, job: &Job, opts: &Options, r: &mut FailoverReport, what: &str) -> Result<(), Failure> {
    let run = super::driver::run(config, job, opts, &mut |_| {})
        .map_err(|e| Failure::new(ErrorKind::Locked, format!("{what}: {e}")))?;
    let bad = run_problem(&run);
    r.runs.push(run);
    match bad {
        None => Ok(()),
        Some(why) => Err(Failure::new(
            ErrorKind::NotUpToDate,
            format!("{what} did not complete ({why}); see its result in `runs`, fix it and run this again"),
        )),
    }
}

/// Why a run left something not up to date.
fn run_problem(run: &RunReport) -> Option<String> {
    if let Some(e) = &run.error {
        return Some(format!("{}: {}", e.kind, e.message));
    }
    if matches!(run.result, RunResult::Ok | RunResult::NothingToDo) {
        return None;
    }
    run.filesystems
        .iter()
        .find(|f| !matches!(f.result, FsResult::Ok | FsResult::UpToDate))
        .map(|f| match &f.error {
            Some(e) => format!("{}: {}: {}", f.name, e.kind, e.message),
            None => format!("{}: {:?}", f.name, f.result),
        })
        .or_else(|| Some(format!("{:?}", run.result)))
}
