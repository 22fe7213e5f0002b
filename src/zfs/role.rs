//! The two roles of a failed-over job's filesystems, on either host: the writable **primary** that sends
//! (the job's last-received holds there released, since it no longer receives) and the read-only **copy**
//! that receives (the job's cursor bookmarks there destroyed, since it no longer sends). On the replica
//! every dataset of the copy's tree changes `readonly`; on the original only the job's root does (`on`, and
//! back to inherited), so datasets of that host the job does not replicate keep their own. Each change is
//! idempotent, and a copy is made read-only before the other side is made writable (the failover command
//! orders them).

use crate::zfs::bookkeeping::{parse_cursor_short, JobId};
use crate::zfs::names::{BookmarkName, DatasetName, SnapshotName, PLACEHOLDER_PROPERTY};
use crate::zfs::{Zfs, ZfsError};

/// The user property that marks a job's root on its original sending host as failed over (its value is the
/// job's name); `replicate` then runs the job the other way.
pub const FAILOVER_PROPERTY: &str = "zreplrs:failover";

/// What a failover step does to one side's filesystem.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Change {
    /// [`make_primary`].
    Primary,
    /// [`make_copy`].
    Copy,
    /// Only `readonly=on` on the root, bookkeeping kept (the original before the first run back).
    ReadOnly,
}

/// Applies `change` to `fs`, a `replica` or an original.
pub fn apply(zfs: &Zfs, fs: &DatasetName, job: &JobId, change: Change, replica: bool) -> Result<(), ZfsError> {
    match change {
        Change::Primary => make_primary(zfs, fs, job, replica),
        Change::Copy => make_copy(zfs, fs, job, replica),
        Change::ReadOnly => set_readonly(zfs, fs, "on"),
    }
}

/// Releases the job's last-received holds at and below `fs` and makes it writable: on a `replica` every
/// dataset of the tree (its placeholders, the empty parents a receive created, become ordinary datasets),
/// on the original the root (`readonly` inherited again).
pub fn make_primary(zfs: &Zfs, fs: &DatasetName, job: &JobId, replica: bool) -> Result<(), ZfsError> {
    let listing = zfs.list(std::slice::from_ref(fs), false)?;
    let tag = job.last_received_hold_tag();
    let held: Vec<SnapshotName> = listing
        .filesystems
        .values()
        .flat_map(|e| {
            e.snapshots()
                .filter(|s| s.userrefs != Some(0))
                .filter_map(|s| e.name.snapshot(&s.short).ok())
        })
        .collect();
    let ours: Vec<SnapshotName> = zfs
        .holds(&held)?
        .into_iter()
        .filter(|h| h.tag == tag)
        .filter_map(|h| SnapshotName::new(&h.snapshot).ok())
        .collect();
    zfs.release(&tag, &ours)?;
    if !replica {
        return zfs.inherit(fs.as_str(), "readonly");
    }
    for (name, e) in &listing.filesystems {
        set_readonly(zfs, name, "off")?;
        if e.placeholder_prop {
            zfs.set_property(name.as_str(), PLACEHOLDER_PROPERTY, "off")?;
        }
    }
    Ok(())
}

/// Destroys the job's cursor bookmarks at and below `fs` and makes it read-only: on a `replica` every dataset
/// of the tree (one without snapshots below `fs` is a placeholder again), on the original the root.
pub fn make_copy(zfs: &Zfs, fs: &DatasetName, job: &JobId, replica: bool) -> Result<(), ZfsError> {
    let listing = zfs.list(std::slice::from_ref(fs), false)?;
    for (name, e) in &listing.filesystems {
        if !replica && name != fs {
            continue;
        }
        set_readonly(zfs, name, "on")?;
        if replica && name != fs && e.snapshots().next().is_none() && !e.placeholder_prop {
            zfs.set_property(name.as_str(), PLACEHOLDER_PROPERTY, "on")?;
        }
    }
    let cursors: Vec<BookmarkName> = listing
        .filesystems
        .values()
        .flat_map(|e| {
            e.bookmarks()
                .filter(|b| parse_cursor_short(&b.short).is_some_and(|(_, j)| j == job.as_str()))
                .filter_map(|b| e.name.bookmark(&b.short).ok())
        })
        .collect();
    zfs.destroy_bookmarks(&cursors)
}

/// `readonly=VALUE` on `name`. ZFS may set it and then fail to remount the filesystem with it; the value
/// is what counts (the next mount uses it), so that is a warning, not an error.
fn set_readonly(zfs: &Zfs, name: &DatasetName, value: &str) -> Result<(), ZfsError> {
    match zfs.set_property(name.as_str(), "readonly", value) {
        Err(e) if zfs.get_property(name.as_str(), "readonly").is_ok_and(|v| v == value) => {
            eprintln!("zreplrs: {name}: readonly={value} is set, but {e}");
            Ok(())
        }
        other => other,
    }
}
