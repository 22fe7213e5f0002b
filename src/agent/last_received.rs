//! The receiver's last-received hold: after a receive (or a repair), check the received snapshot's GUID, put
//! the job's hold on it, and only then release the same tag from the filesystem's older snapshots.

use super::server::Refusal;
use crate::zfs::bookkeeping::JobId;
use crate::zfs::names::{DatasetName, SnapshotName};
use crate::zfs::{Guid, Zfs, ZfsError};

/// Checks that `to` has GUID `want`, then (with `hold`) puts the job's last-received hold on it and only then
/// releases that hold from the filesystem's other snapshots. With `hold`, one listing of the filesystem's
/// snapshots gives both `to`'s GUID and which other snapshots carry holds at all.
pub(super) fn protect_received(
    zfs: &Zfs,
    target: &DatasetName,
    to: &SnapshotName,
    want: Guid,
    job: &JobId,
    hold: bool,
) -> Result<Guid, Refusal> {
    let mismatch = |got: Guid| {
        Refusal::new(
            "guid_mismatch",
            format!("{to} has GUID {got}, but the sender's snapshot has GUID {want}; not protecting it"),
        )
    };
    if !hold {
        let got = zfs.guid_of(to.as_str())?;
        return if got == want { Ok(got) } else { Err(mismatch(got)) };
    }
    let snapshots = snapshot_refs(zfs, target)?;
    let got = snapshots
        .iter()
        .find(|(s, _, _)| s == to)
        .map(|(_, g, _)| *g)
        .ok_or_else(|| Refusal::new("does_not_exist", format!("{to} is not among the snapshots of {target}")))?;
    if got != want {
        return Err(mismatch(got));
    }
    let tag = job.last_received_hold_tag();
    zfs.hold(&tag, std::slice::from_ref(to))?;
    let held: Vec<SnapshotName> = snapshots
        .into_iter()
        .filter(|(s, _, refs)| *refs > 0 && s != to)
        .map(|(s, _, _)| s)
        .collect();
    release_other_holds(zfs, &held, &tag)?;
    Ok(got)
}

/// The snapshots of `fs` with their GUIDs and hold counts (`userrefs`), in one `zfs list`. Snapshot names
/// cannot contain a tab or newline, and a line that is not exactly a snapshot of `fs`, a GUID and a count
/// is an error.
fn snapshot_refs(zfs: &Zfs, fs: &DatasetName) -> Result<Vec<(SnapshotName, Guid, u64)>, ZfsError> {
    let args = [
        "list",
        "-H",
        "-p",
        "-d",
        "1",
        "-t",
        "snapshot",
        "-o",
        "name,guid,userrefs",
        fs.as_str(),
    ];
    let listing = zfs.run(&args)?;
    let prefix = format!("{fs}@");
    listing
        .lines()
        .map(|line| {
            let parsed = match line.split('\t').collect::<Vec<_>>()[..] {
                [name, guid, refs] if name.starts_with(&prefix) => SnapshotName::new(name)
                    .ok()
                    .zip(guid.parse().ok().map(Guid))
                    .zip(refs.parse::<u64>().ok())
                    .map(|((n, g), r)| (n, g, r)),
                _ => None,
            };
            parsed.ok_or_else(|| ZfsError::parse(&args, format!("unexpected line {line:?}")))
        })
        .collect()
}

/// Releases `tag` from those of `held` (snapshots with holds) that carry it: older last-received holds.
fn release_other_holds(zfs: &Zfs, held: &[SnapshotName], tag: &str) -> Result<(), ZfsError> {
    if held.is_empty() {
        return Ok(());
    }
    let carrying: Vec<SnapshotName> = zfs
        .holds(held)?
        .into_iter()
        .filter(|h| h.tag == tag)
        .filter_map(|h| SnapshotName::new(&h.snapshot).ok())
        .collect();
    zfs.release(tag, &carrying)
}
