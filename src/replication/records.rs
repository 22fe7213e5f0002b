//! After an attempt: the sync records of the filesystems it found up to date (so the next run need not list
//! their snapshots), and each filesystem's lag.

use std::collections::BTreeMap;

use crate::config::Job;
use crate::endpoint::Sender;
use crate::report::{self, ErrorReport, FsReport, FsResult};
use crate::survey;
use crate::synced::{self, ListedAt};

/// Records each filesystem this attempt found up to date and protected (prepared without error), so that
/// the next run need not list its snapshots. A record that cannot be written only costs that listing.
pub(super) fn write_sync_records(
    zfs: &dyn Sender,
    work: &[&survey::FsSurvey],
    results: &[(FsReport, Option<ErrorReport>)],
    creations: &BTreeMap<String, u64>,
    at: ListedAt,
    prop: &str,
    job: &Job,
) {
    let now = report::unix_now();
    for (w, (fsr, _)) in work.iter().zip(results) {
        if w.from_record || fsr.result != FsResult::UpToDate {
            continue;
        }
        let (Some(recv), Some(newest), Some(name)) = (
            w.receiver.as_ref(),
            w.sender.newest_snapshot(),
            fsr.newest_replicated.as_ref(),
        ) else {
            continue;
        };
        let Some(creation) = creations.get(name) else {
            continue;
        };
        if let Some(record) = synced::record_for(&w.sender, recv, at, newest, *creation, now) {
            crate::failpoint::hit("sync_record_before");
            let written = zfs.set_property(w.sender.name.as_str(), prop, &record.to_value());
            crate::failpoint::hit("sync_record_after");
            if let Err(e) = written {
                eprintln!(
                    "zreplrs: job {}: cannot record {} as up to date (the next run lists its snapshots again): {e}",
                    job.name, w.sender.name
                );
            }
        }
    }
}

/// Lag: seconds since the creation of each filesystem's newest replicated version.
pub(super) fn fill_lag(times: &BTreeMap<String, u64>, results: &mut [(FsReport, Option<ErrorReport>)]) {
    let now = report::unix_now();
    for (r, _) in results.iter_mut() {
        if let Some(c) = r.newest_replicated.as_ref().and_then(|n| times.get(n)) {
            r.lag_seconds = Some(now.saturating_sub(*c));
        }
    }
}
