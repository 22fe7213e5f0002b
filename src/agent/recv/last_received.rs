//! The receiver's last-received hold: after a receive (or a repair), check the received snapshot's GUID, put
//! the job's hold on it, and only then release the same tag from the filesystem's older snapshots.

use std::collections::{BTreeMap, BTreeSet};

use crate::agent::request::Refusal;
use crate::error::ErrorKind;
use crate::zfs::bookkeeping::JobId;
use crate::zfs::list::Listing;
use crate::zfs::names::{DatasetName, SnapshotName};
use crate::zfs::{Guid, Zfs, ZfsError};

/// The snapshots that carry holds, per filesystem, as the agent's own listings in this session showed them,
/// plus what it held since. A receive into a filesystem listed this way finds the older last-received hold
/// among these instead of listing every snapshot of the filesystem again (seconds for thousands).
#[derive(Debug, Default)]
pub(super) struct KnownHolds(BTreeMap<DatasetName, BTreeSet<SnapshotName>>);

impl KnownHolds {
    /// Records the held snapshots of every filesystem of `listing` (a listing with all their snapshots), or
    /// only of the filesystems in `only`.
    pub(super) fn record(&mut self, listing: &Listing, only: Option<&[DatasetName]>) {
        for fs in listing.filesystems.values() {
            if only.is_some_and(|names| !names.contains(&fs.name)) {
                continue;
            }
            let held = fs
                .snapshots()
                .filter(|v| v.userrefs.unwrap_or(0) > 0)
                .filter_map(|v| fs.name.snapshot(&v.short).ok())
                .collect();
            self.0.insert(fs.name.clone(), held);
        }
    }

    /// Forgets `fs` (after snapshots of it were destroyed).
    pub(super) fn forget(&mut self, fs: &DatasetName) {
        self.0.remove(fs);
    }
}

/// How far a last-received hold may move.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Moves {
    /// To any snapshot the request names.
    Anywhere,
    /// `--append-only`: only to a snapshot at least as new (createtxg) as every one that carries it now, so a
    /// sender cannot unprotect newer received data by moving the hold back.
    ForwardOnly,
}

/// Checks that `to` has GUID `want`, then (with `hold`) puts the job's last-received hold on it and only then
/// releases that hold (this job's tag, no other) from the filesystem's other snapshots. The snapshots that may carry the old hold come
/// from `known` when this session listed the filesystem, else from one listing of all its snapshots (which
/// gives `to`'s GUID too).
pub(super) fn protect_received(
    zfs: &Zfs,
    target: &DatasetName,
    to: &SnapshotName,
    want: Guid,
    job: &JobId,
    (hold, moves): (bool, Moves),
    known: &mut KnownHolds,
) -> Result<Guid, Refusal> {
    let mismatch = |got: Guid| {
        Refusal::new(
            ErrorKind::GuidMismatch,
            format!("{to} has GUID {got}, but the sender's snapshot has GUID {want}; not protecting it"),
        )
    };
    if !hold {
        let got = zfs.guid_of(to.as_str())?;
        return if got == want { Ok(got) } else { Err(mismatch(got)) };
    }
    // A filesystem this session has not listed gets one listing, which also gives `to`'s GUID.
    let got = if known.0.contains_key(target) {
        zfs.guid_of(to.as_str())?
    } else {
        let snapshots = zfs.snapshot_refs(target)?;
        let got = snapshots
            .iter()
            .find(|(s, _, _)| s == to)
            .map(|(_, g, _)| *g)
            .ok_or_else(|| {
                Refusal::new(
                    ErrorKind::DoesNotExist,
                    format!("{to} is not among the snapshots of {target}"),
                )
            })?;
        let held = snapshots
            .into_iter()
            .filter(|(_, _, refs)| *refs > 0)
            .map(|(s, _, _)| s);
        known.0.insert(target.clone(), held.collect());
        got
    };
    if got != want {
        return Err(mismatch(got));
    }
    let tag = job.last_received_hold_tag();
    // Whether or not the others keep holds of other tags: a superset only costs a look at their holds.
    let entry = known.0.entry(target.clone()).or_default();
    let held: Vec<SnapshotName> = entry.iter().filter(|s| *s != to).cloned().collect();
    let carrying = carrying(zfs, &held, &tag)?;
    if moves == Moves::ForwardOnly {
        forward_only(zfs, to, &carrying)?;
    }
    crate::failpoint::hit("last_received_hold_before");
    zfs.hold(&tag, std::slice::from_ref(to))?;
    crate::failpoint::hit("last_received_hold_after");
    known.0.entry(target.clone()).or_default().insert(to.clone());
    crate::failpoint::hit("last_received_release_before");
    zfs.release(&tag, &carrying)?;
    crate::failpoint::hit("last_received_release_after");
    Ok(got)
}

/// Refuses to move the hold from a newer snapshot to `to`.
fn forward_only(zfs: &Zfs, to: &SnapshotName, carrying: &[SnapshotName]) -> Result<(), Refusal> {
    if carrying.is_empty() {
        return Ok(());
    }
    let txg = |s: &SnapshotName| -> Result<u64, Refusal> {
        let v = zfs.get_property(s.as_str(), "createtxg")?;
        v.parse()
            .map_err(|_| Refusal::from(ZfsError::parse(&["get", "createtxg"], format!("{s}: createtxg {v:?}"))))
    };
    let at = txg(to)?;
    for s in carrying {
        if txg(s)? > at {
            return Err(Refusal::new(
                crate::agent::recv::policy::KIND,
                format!("the last-received hold is on {s}, newer than {to}; with --append-only it only moves forward"),
            ));
        }
    }
    Ok(())
}

/// Those of `held` (snapshots with holds) that carry exactly `tag`: older last-received holds.
fn carrying(zfs: &Zfs, held: &[SnapshotName], tag: &str) -> Result<Vec<SnapshotName>, ZfsError> {
    if held.is_empty() {
        return Ok(Vec::new());
    }
    Ok(zfs
        .holds(held)?
        .into_iter()
        .filter(|h| h.tag == tag)
        .filter_map(|h| SnapshotName::new(&h.snapshot).ok())
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    /// A `zfs` that logs every call's first argument, then runs the shell code `body`.
    fn fake_running(dir: &tempfile::TempDir, body: &str) -> (Zfs, std::path::PathBuf) {
        let log = dir.path().join("calls");
        let prog = dir.path().join("zfs");
        let script = format!("#!/bin/sh\necho \"$1\" >>'{}'\n{body}\nexit 0\n", log.display());
        std::fs::write(&prog, script).unwrap();
        std::fs::set_permissions(&prog, std::fs::Permissions::from_mode(0o755)).unwrap();
        (Zfs::with_program(prog).without_native(), log)
    }

    /// A `zfs` that prints `listing` for `zfs list` and logs every call's first argument.
    fn fake(dir: &tempfile::TempDir, listing: &str) -> (Zfs, std::path::PathBuf) {
        let out = dir.path().join("list.out");
        std::fs::write(&out, listing).unwrap();
        fake_running(
            dir,
            &format!("case \"$1\" in list) exec cat '{}';; esac", out.display()),
        )
    }

    fn names() -> (DatasetName, SnapshotName, JobId) {
        (
            DatasetName::new("b/t/a").unwrap(),
            SnapshotName::new("b/t/a@s2").unwrap(),
            JobId::new("j").unwrap(),
        )
    }

    #[test]
    fn one_listing_gives_the_guid_and_the_snapshots_with_holds() {
        let dir = tempfile::tempdir().unwrap();
        let (zfs, _) = fake(&dir, "b/t/a@s1\t11\t1\nb/t/a@s2\t22\t0\n");
        let (fs, _, _) = names();
        let got = zfs.snapshot_refs(&fs).unwrap();
        assert_eq!(got.len(), 2);
        assert_eq!((got[0].0.as_str(), got[0].1, got[0].2), ("b/t/a@s1", Guid(11), 1));
        assert_eq!((got[1].0.as_str(), got[1].1, got[1].2), ("b/t/a@s2", Guid(22), 0));
    }

    #[test]
    fn a_line_that_is_not_a_snapshot_of_the_filesystem_is_an_error() {
        let (fs, _, _) = names();
        for bad in [
            "b/t/a@s1\t11\t1\textra\n",
            "b/t/other@s1\t11\t1\n",
            "b/t/a@s1\tnot-a-guid\t1\n",
            "b/t/a@s1\t11\n",
        ] {
            let dir = tempfile::tempdir().unwrap();
            let (zfs, _) = fake(&dir, bad);
            let e = zfs.snapshot_refs(&fs).unwrap_err();
            assert_eq!(e.kind, crate::zfs::ZfsErrorKind::Parse, "{bad:?}: {e}");
        }
    }

    #[test]
    fn a_snapshot_with_another_guid_is_not_held_and_nothing_is_released() {
        let (fs, to, job) = names();
        let protect = |zfs: &Zfs| {
            let moves = (true, Moves::Anywhere);
            protect_received(zfs, &fs, &to, Guid(22), &job, moves, &mut KnownHolds::default()).unwrap_err()
        };
        let dir = tempfile::tempdir().unwrap();
        let (zfs, log) = fake(&dir, "b/t/a@s1\t11\t1\nb/t/a@s2\t23\t0\n");
        let r = protect(&zfs);
        assert_eq!(r.kind.as_str(), "guid_mismatch");
        assert!(r.message.contains("GUID 23"), "{}", r.message);
        let calls = std::fs::read_to_string(log).unwrap();
        assert_eq!(calls.lines().collect::<Vec<_>>(), ["list"], "only listed");
        let dir = tempfile::tempdir().unwrap();
        let (zfs, _) = fake(&dir, "b/t/a@s1\t11\t1\n");
        assert_eq!(protect(&zfs).kind.as_str(), "does_not_exist");
    }

    #[test]
    fn a_filesystem_listed_in_the_session_is_not_listed_again_after_a_receive() {
        let dir = tempfile::tempdir().unwrap();
        // `get … guid` answers 22; `holds` finds no hold on s1; `get … userrefs` agrees.
        let (zfs, log) = fake_running(
            &dir,
            "case \"$1:$6\" in get:guid) echo 22;; get:userrefs) printf 'b/t/a@s1\\t0\\n';; esac",
        );
        let (fs, to, job) = names();
        let mut entry = crate::zfs::list::FsEntry::named(fs.clone());
        for (short, refs) in [("s0", 0), ("s1", 1)] {
            entry.versions.push(crate::zfs::Version {
                kind: crate::zfs::VersionKind::Snapshot,
                short: short.into(),
                guid: Guid(1),
                createtxg: 1,
                userrefs: Some(refs),
                creation: None,
            });
        }
        let mut listing = Listing::default();
        listing.filesystems.insert(fs.clone(), entry);
        let mut known = KnownHolds::default();
        known.record(&listing, Some(std::slice::from_ref(&fs)));
        assert_eq!(
            known.0[&fs].iter().map(|s| s.as_str()).collect::<Vec<_>>(),
            ["b/t/a@s1"]
        );
        assert_eq!(
            protect_received(&zfs, &fs, &to, Guid(22), &job, (true, Moves::Anywhere), &mut known).unwrap(),
            Guid(22)
        );
        let calls = std::fs::read_to_string(&log).unwrap();
        assert_eq!(
            calls.lines().collect::<Vec<_>>(),
            ["get", "holds", "get", "hold"],
            "the GUID of the one snapshot, the holds of the held snapshot, the new hold; no listing"
        );
        assert!(known.0[&fs].contains(&to), "the new hold is known for the next receive");
        let r = protect_received(&zfs, &fs, &to, Guid(23), &job, (true, Moves::Anywhere), &mut known).unwrap_err();
        assert_eq!(r.kind.as_str(), "guid_mismatch");
        known.forget(&fs);
        std::fs::write(&log, "").unwrap();
        let _ = protect_received(&zfs, &fs, &to, Guid(22), &job, (true, Moves::Anywhere), &mut known);
        let calls = std::fs::read_to_string(&log).unwrap();
        assert_eq!(calls.lines().next(), Some("list"), "forgotten: listed again");
    }
}
