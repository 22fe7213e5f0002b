//! The step holds of an attempt: put on every snapshot its steps may send or send from, in one call per pool
//! before the first transfer, and released in one after the last (failed steps keep theirs); and step holds
//! older than `max_step_hold_age`, released when the receiver stays unreachable.

use std::collections::BTreeSet;

use crate::config::{Job, Protection};
use crate::endpoint::Sender;
use crate::plan::FsPlan;
use crate::report::{ErrorReport, FsReport, StepResult};
use crate::survey;
use crate::zfs::names::SnapshotName;

use super::options::Options;

/// Puts the step hold on every snapshot that a step of this attempt may send or send from, in one call per
/// pool (one transaction group through libzfs_core), before any transfer starts; snapshots that already
/// carry it (left by a run that died) keep it. Returns the snapshots held for this attempt, or `None` where
/// each step holds its own snapshots instead: other protections, a dry run, or when this call failed (the
/// steps then hold them one filesystem at a time and report any error for their filesystem).
pub(super) fn hold_steps(
    zfs: &dyn Sender,
    job: &Job,
    opts: &Options,
    work: &[survey::FsSurvey],
) -> Option<BTreeSet<SnapshotName>> {
    if opts.dry_run || job.protection != Protection::GuaranteeResumability {
        return None;
    }
    let mut all = BTreeSet::new();
    let mut carrying = BTreeSet::new();
    for w in work {
        if let FsPlan::Replicate { steps, .. } = &w.plan {
            for s in steps {
                all.extend(crate::plan::step_hold_targets(&w.sender.name, s));
            }
            carrying.extend(w.stale_step_holds.iter().cloned());
        }
    }
    let new: Vec<SnapshotName> = all.difference(&carrying).cloned().collect();
    crate::failpoint::hit("step_holds_put_before");
    match zfs.hold(&job.name.step_hold_tag(), &new) {
        Ok(()) => {
            crate::failpoint::hit("step_holds_put_after");
            Some(all)
        }
        Err(e) => {
            eprintln!(
                "zreplrs: job {}: cannot put the step holds of all filesystems at once, each filesystem puts its own: {e}",
                job.name
            );
            None
        }
    }
}

/// Releases the attempt's step holds in one call per pool once every transfer has ended. Each cursor that a
/// step moved exists by then. The holds of a step that failed stay (they keep its resumable state's
/// snapshots until the next run, which releases them as stale); so does everything if the release fails.
pub(super) fn release_steps(
    zfs: &dyn Sender,
    job: &Job,
    mut held: BTreeSet<SnapshotName>,
    work: &[&survey::FsSurvey],
    results: &[(FsReport, Option<ErrorReport>)],
) {
    for (w, (fsr, _)) in work.iter().zip(results) {
        if let FsPlan::Replicate { steps, .. } = &w.plan {
            for (s, r) in steps.iter().zip(&fsr.steps) {
                if r.result == StepResult::Failed {
                    for t in crate::plan::step_hold_targets(&w.sender.name, s) {
                        held.remove(&t);
                    }
                }
            }
        }
    }
    let held: Vec<SnapshotName> = held.into_iter().collect();
    crate::failpoint::hit("step_holds_release_before");
    let released = zfs.release(&job.name.step_hold_tag(), &held);
    crate::failpoint::hit("step_holds_release_after");
    if let Err(e) = released {
        eprintln!(
            "zreplrs: job {}: cannot release the step holds (the next run releases them): {e}",
            job.name
        );
    }
}

/// Whether a step hold put at `since` is older than the job allows at `now`.
pub fn is_aged(job: &Job, since: u64, now: u64) -> bool {
    now.saturating_sub(since) > job.max_step_hold_age.as_secs()
}

/// Releases this job's step holds on the sender that are older than `max_step_hold_age` (at `now`), and
/// returns the snapshots they were on. The cursor bookmarks are left alone: the next incremental can start
/// from them even when the held snapshots are pruned meanwhile.
pub fn release_aged_step_holds(zfs: &dyn Sender, job: &Job, now: u64) -> Result<Vec<String>, crate::zfs::ZfsError> {
    let listing = zfs.list(&job.filesystems.roots())?;
    let held = crate::survey::held_snapshots(job, &listing);
    let tag = job.name.step_hold_tag();
    let aged: Vec<SnapshotName> = zfs
        .holds(&held)?
        .into_iter()
        .filter(|h| h.tag == tag && is_aged(job, h.since, now))
        .filter_map(|h| SnapshotName::new(&h.snapshot).ok())
        .collect();
    zfs.release(&tag, &aged)?;
    Ok(aged.iter().map(|s| s.to_string()).collect())
}
