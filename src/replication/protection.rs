//! A filesystem's protection before its steps: a stale resume token aborted, the step holds of a run that
//! died released, and the cursor bookmark and last-received hold repaired where such a run left them
//! incomplete (see docs/step-algorithm.md). The step protocol itself, which moves them, is in `crate::step`.

use std::collections::BTreeSet;

use crate::config::{Job, Protection};
use crate::endpoint::{Receiver, Sender};
use crate::error::ErrorKind;
use crate::plan::FsPlan;
use crate::report::ErrorReport;
use crate::survey::{self, SurveyError};
use crate::zfs::names::{BookmarkName, SnapshotName};

/// Before a filesystem's steps (or when it is up to date): abort a stale resume token, release step holds
/// left by a run that died (but not from snapshots this attempt holds for its own steps: `pre_held`), and repair protection of the incremental base that such a run may have left
/// incomplete (it died after the receive, before the cursor or the last-received hold existed, or before
/// older cursors went): the cursor goes on the receiver's newest snapshot first, then older cursors and
/// tentative cursors no planned step needs go. Returns this job's cursors now.
pub(super) fn prepare(
    zfs: &dyn Sender,
    conn: &mut dyn Receiver,
    job: &Job,
    w: &survey::FsSurvey,
    pre_held: Option<&BTreeSet<SnapshotName>>,
) -> Result<Vec<BookmarkName>, SurveyError> {
    if let FsPlan::Replicate {
        abort_stale_token: true,
        ..
    } = &w.plan
    {
        conn.abort_resume(&w.rel)?;
    }
    // Stale step holds go, except where this attempt holds the same snapshot for a step of its own.
    let stale: Vec<SnapshotName> = w
        .stale_step_holds
        .iter()
        .filter(|s| !pre_held.is_some_and(|h| h.contains(*s)))
        .cloned()
        .collect();
    zfs.release(&job.name.step_hold_tag(), &stale)?;
    let cursors: Vec<BookmarkName> = w.cursors.iter().map(|c| c.0.clone()).collect();
    if !job.keeps_bookkeeping() {
        return Ok(cursors); // a restore leaves neither cursors nor last-received holds
    }
    let (Some(base_guid), Some(recv_newest)) =
        (w.receiver_newest, w.receiver.as_ref().and_then(|r| r.newest_snapshot()))
    else {
        return Ok(cursors);
    };
    let Some(base) = w
        .sender
        .versions
        .iter()
        .filter(|v| v.guid == base_guid)
        .min_by_key(|v| !v.is_snapshot())
    else {
        return Ok(cursors);
    };
    // The job's cursors on the base (`true`) or elsewhere (`false`).
    let on_base = |yes: bool| {
        w.cursors
            .iter()
            .filter(move |(_, g)| (*g == base_guid) == yes)
            .map(|(b, _)| b.clone())
    };
    let mut kept: Vec<BookmarkName> = on_base(true).collect();
    let cursor_missing = kept.is_empty();
    if cursor_missing {
        let cursor = w
            .sender
            .name
            .bookmark(&job.name.cursor_bookmark_short(base_guid.0))
            .map_err(|e| SurveyError {
                error: ErrorReport::new(ErrorKind::InvalidName, e.to_string()),
                connectivity: false,
            })?;
        crate::failpoint::hit("cursor_create_before");
        zfs.bookmark(&base.full_name(w.sender.name.as_str()), base_guid, &cursor)?;
        crate::failpoint::hit("cursor_create_after");
        kept.push(cursor);
    }
    // With the base's cursor in place, what it replaces goes in one call: the job's other cursors (a run
    // died before they went) and the tentative cursors no planned step needs.
    let stale: Vec<BookmarkName> = on_base(false).chain(stale_tentative(w)).collect();
    if !stale.is_empty() {
        crate::failpoint::hit("old_cursors_destroy_before");
        zfs.destroy_bookmarks(&stale)?;
        crate::failpoint::hit("old_cursors_destroy_after");
    }
    let hold_missing = recv_newest.userrefs == Some(0);
    if job.protection != Protection::GuaranteeNothing && (cursor_missing || hold_missing) {
        conn.hold_last_received(&w.rel, &recv_newest.short, base_guid.0, job.name.as_str())?;
    }
    Ok(kept)
}

/// The job's tentative cursors that no planned step needs: a run that died after a receive, before its
/// step's end, leaves one on the snapshot the base's cursor now protects; a step whose snapshot went leaves
/// one nothing will replace.
fn stale_tentative(w: &survey::FsSurvey) -> impl Iterator<Item = BookmarkName> + '_ {
    let planned: BTreeSet<u64> = w.plan.steps().iter().map(|s| s.to.guid.0).collect();
    w.tentative_cursors
        .iter()
        .filter(move |(_, g)| !planned.contains(&g.0))
        .map(|(b, _)| b.clone())
}
