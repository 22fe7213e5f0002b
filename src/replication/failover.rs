//! `zreplrs failover` and `failback` for a push job with one root filesystem, run on its sending host.
//!
//! Failover: a last replication (the replica must be current), the original made read-only and marked
//! failed over ([`FAILOVER_PROPERTY`]), one run the other way that puts the new bookkeeping in place (a
//! cursor on the replica, a last-received hold on the original), then the replica made writable with the
//! job's last-received holds there released, and the original's cursors destroyed. From then on
//! `replicate` runs the job the other way ([`job_for_run`]). Failback: a last run the other way (a
//! divergence refused unless `--rotate`), one forward run for the forward bookkeeping, the replica made
//! read-only again with its cursors destroyed, the mark set to `<job>:failback` (only the last step is
//! left), then the original made writable with the other way's holds released and the mark removed. A
//! copy is always read-only before the other side becomes writable, new protection exists before old
//! protection goes, and each step is idempotent: a command that stopped is run again.

use crate::agent::client::AgentError;
use crate::config::{Config, Job};
use crate::endpoint::{self, Endpoints};
use crate::error::{ErrorKind, Failure};
use crate::report::failover::FailoverReport;
use crate::report::{ErrorReport, FsResult, Header, RunReport, RunResult, Timing};
use crate::zfs::names::DatasetName;
use crate::zfs::role::{self, FAILOVER_PROPERTY};
use crate::zfs::{Zfs, ZfsError};

use super::options::Options;
use super::reverse;

/// The job a `replicate` of `job` runs: turned around while it is failed over.
pub fn job_for_run(job: &Job) -> Job {
    match is_failed_over_job(job) {
        true => reverse::failover_job(job).unwrap_or_else(|_| job.clone()),
        false => job.clone(),
    }
}

/// Whether `job` is failed over (its root on this host carries the mark).
pub fn is_failed_over_job(job: &Job) -> bool {
    if job.is_pull() || job.target.is_store() {
        return false;
    }
    single_root(job).is_ok_and(|root| is_failed_over(&Zfs::new(), job, &root))
}

/// Runs `failover` (`back` false) or `failback` of `job`.
pub fn run(config: &Config, job: &Job, back: bool, opts: &Options) -> FailoverReport {
    let command = if back { "failback" } else { "failover" };
    let mut r = FailoverReport {
        header: Header::new(command, Some(job.name.as_str()), None),
        timing: Timing::start(),
        filesystem: String::new(),
        replica: String::new(),
        primary: if back { "replica" } else { "sender" },
        runs: Vec::new(),
        actions: Vec::new(),
        error: None,
    };
    let done = match back {
        false => failover(config, job, opts, &mut r),
        true => failback(config, job, opts, &mut r),
    };
    match done {
        Ok(()) => r.primary = if back { "sender" } else { "replica" },
        Err(e) => r.error = Some(ErrorReport::new(e.kind, e.message)),
    }
    r.timing.finish();
    r
}

fn failover(config: &Config, job: &Job, opts: &Options, r: &mut FailoverReport) -> Result<(), Failure> {
    let (root, rel) = describe(job, r)?;
    let zfs = Zfs::new();
    if !is_failed_over(&zfs, job, &root) {
        replicate(config, job, opts, r, "the last replication before failover")?;
        zfs.set_property(root.as_str(), "readonly", "on").map_err(zfs_failure)?;
        zfs.set_property(root.as_str(), FAILOVER_PROPERTY, job.name.as_str())
            .map_err(zfs_failure)?;
        r.actions.push(format!(
            "{root}: read-only, marked failed over ({FAILOVER_PROPERTY}={})",
            job.name
        ));
    }
    let reversed = reverse::failover_job(job).map_err(|e| Failure::new(ErrorKind::InvalidName, e.0))?;
    replicate(config, &reversed, opts, r, "the first run back from the replica")?;
    r.actions.push(format!(
        "{}: a cursor of the job; {root}: its last-received hold",
        r.replica
    ));
    let mut conn = endpoint::for_job(job).receiver().map_err(agent_failure)?;
    conn.set_role(&rel, true, job.name.as_str()).map_err(agent_failure)?;
    r.actions.push(format!(
        "{}: writable, the job's last-received holds released",
        r.replica
    ));
    role::make_copy(&zfs, &root, &job.name, false).map_err(zfs_failure)?;
    r.actions.push(format!("{root}: the job's cursors destroyed"));
    Ok(())
}

fn failback(config: &Config, job: &Job, opts: &Options, r: &mut FailoverReport) -> Result<(), Failure> {
    let (root, rel) = describe(job, r)?;
    let zfs = Zfs::new();
    let finishing = format!("{}{FINISHING}", job.name);
    let mark = zfs.get_property(root.as_str(), FAILOVER_PROPERTY).unwrap_or_default();
    if mark != finishing {
        if mark != job.name.as_str() {
            return Err(Failure::new(
                ErrorKind::Unsupported,
                format!(
                    "{root} is not failed over (no {FAILOVER_PROPERTY}={} on it): nothing to fail back",
                    job.name
                ),
            ));
        }
        back_to_copy(config, job, opts, r, &rel)?;
        // From here on the replica is a copy again: a failback that stops now only finishes.
        zfs.set_property(root.as_str(), FAILOVER_PROPERTY, &finishing)
            .map_err(zfs_failure)?;
    }
    role::make_primary(&zfs, &root, &job.name, false).map_err(zfs_failure)?;
    zfs.inherit(root.as_str(), FAILOVER_PROPERTY).map_err(zfs_failure)?;
    r.actions.push(format!(
        "{root}: writable, the other way's last-received holds released, mark removed"
    ));
    Ok(())
}

/// The mark's value while a failback finishes (after `<job>`): the replica is a copy again, the original
/// not yet writable; `replicate` runs forward.
const FINISHING: &str = ":failback";

/// A last run back from the replica, one forward run for the forward bookkeeping, then the replica
/// read-only with its cursors destroyed.
fn back_to_copy(config: &Config, job: &Job, opts: &Options, r: &mut FailoverReport, rel: &str) -> Result<(), Failure> {
    let reversed = reverse::failover_job(job).map_err(|e| Failure::new(ErrorKind::InvalidName, e.0))?;
    replicate(config, &reversed, opts, r, "the last run back from the replica")?;
    let forward = Options {
        rotate: false,
        ..opts.clone()
    };
    replicate(config, job, &forward, r, "the first forward run")?;
    r.actions.push(format!(
        "{}: a cursor of the job; {}: its last-received hold",
        r.filesystem, r.replica
    ));
    let mut conn = endpoint::for_job(job).receiver().map_err(agent_failure)?;
    conn.set_role(rel, false, job.name.as_str()).map_err(agent_failure)?;
    r.actions
        .push(format!("{}: read-only, the job's cursors destroyed", r.replica));
    Ok(())
}

/// The job's root and the path of its copy below the receiver's root; fills in the report's names.
fn describe(job: &Job, r: &mut FailoverReport) -> Result<(DatasetName, String), Failure> {
    let unsupported = |m: String| Failure::new(ErrorKind::Unsupported, m);
    if job.is_pull() || job.target.is_store() {
        return Err(unsupported(format!(
            "job {}: failover is for push jobs to a ZFS receiver (run on the sending host)",
            job.name
        )));
    }
    let root = single_root(job).map_err(unsupported)?;
    let rel = job
        .receiver_path(&root)
        .ok_or_else(|| unsupported(format!("{root} lands nowhere on the receiver (strip)")))?;
    let replica = job
        .receiver_root()
        .and_then(|base| base.child(&rel))
        .map_err(|e| Failure::new(ErrorKind::InvalidName, format!("{root} on the receiver: {e}")))?;
    r.filesystem = root.to_string();
    r.replica = replica.to_string();
    Ok((root, rel))
}

/// The job's one root filesystem.
fn single_root(job: &Job) -> Result<DatasetName, String> {
    match job.filesystems.roots().as_slice() {
        [one] => Ok(one.clone()),
        roots => Err(format!(
            "job {} has {} root filesystems; failover needs a job with one (its children come along)",
            job.name,
            roots.len()
        )),
    }
}

fn is_failed_over(zfs: &Zfs, job: &Job, root: &DatasetName) -> bool {
    zfs.get_property(root.as_str(), FAILOVER_PROPERTY)
        .is_ok_and(|v| v == job.name.as_str())
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

fn zfs_failure(e: ZfsError) -> Failure {
    Failure::new(e.error_kind(), e.to_string())
}

fn agent_failure(e: AgentError) -> Failure {
    Failure::new(e.kind(), format!("the receiver: {e}"))
}
