//! Mutations and small queries, each idempotent: holds (batched), releases (batched), bookmarks, atomic
//! multi-dataset snapshots, batched destroys, aborting resumable receive state, placeholders.

use std::collections::{BTreeMap, BTreeSet};

use super::names::{BookmarkName, DatasetName, SnapshotName, PLACEHOLDER_PROPERTY};
use super::types::Guid;
use super::{Zfs, ZfsError, ZfsErrorKind};

/// One user hold: which snapshot carries which tag.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, serde::Serialize)]
pub struct Hold {
    pub snapshot: String,
    pub tag: String,
}

fn strings<T: ToString>(items: &[T]) -> Vec<String> {
    items.iter().map(|i| i.to_string()).collect()
}

impl Zfs {
    /// All user holds on the named snapshots (`zfs holds -H`), in one call. Missing snapshots are an error.
    pub fn holds(&self, snapshots: &[SnapshotName]) -> Result<Vec<Hold>, ZfsError> {
        if snapshots.is_empty() {
            return Ok(Vec::new());
        }
        let mut args = vec!["holds".to_string(), "-H".to_string()];
        args.extend(strings(snapshots));
        let out = self.run(&args)?;
        let mut holds = Vec::new();
        for line in out.lines().filter(|l| !l.is_empty()) {
            let mut cols = line.split('\t');
            match (cols.next(), cols.next()) {
                (Some(snap), Some(tag)) => holds.push(Hold {
                    snapshot: snap.trim().to_string(),
                    tag: tag.trim().to_string(),
                }),
                _ => {
                    return Err(ZfsError::parse(
                        &args,
                        format!("expected snapshot<TAB>tag<TAB>time: {line:?}"),
                    ))
                }
            }
        }
        holds.sort();
        Ok(holds)
    }

    /// Puts hold `tag` on every named snapshot; snapshots that already carry it are left as they are.
    /// One `zfs hold` call when none carries it yet.
    pub fn hold(&self, tag: &str, snapshots: &[SnapshotName]) -> Result<(), ZfsError> {
        if snapshots.is_empty() {
            return Ok(());
        }
        let run = |snaps: &[SnapshotName]| {
            let mut args = vec!["hold".to_string(), tag.to_string()];
            args.extend(strings(snaps));
            self.run(&args).map(|_| ())
        };
        match run(snapshots) {
            Err(e) if e.kind == ZfsErrorKind::AlreadyExists => {
                let have: BTreeSet<String> = self
                    .holds(snapshots)?
                    .into_iter()
                    .filter(|h| h.tag == tag)
                    .map(|h| h.snapshot)
                    .collect();
                let missing: Vec<SnapshotName> = snapshots
                    .iter()
                    .filter(|s| !have.contains(s.as_str()))
                    .cloned()
                    .collect();
                if missing.is_empty() {
                    Ok(())
                } else {
                    run(&missing)
                }
            }
            other => other,
        }
    }

    /// Releases hold `tag` from every named snapshot that carries it; a missing tag or snapshot is fine.
    pub fn release(&self, tag: &str, snapshots: &[SnapshotName]) -> Result<(), ZfsError> {
        if snapshots.is_empty() {
            return Ok(());
        }
        let run = |snaps: &[SnapshotName]| {
            let mut args = vec!["release".to_string(), tag.to_string()];
            args.extend(strings(snaps));
            self.run(&args).map(|_| ())
        };
        match run(snapshots) {
            Err(e) if matches!(e.kind, ZfsErrorKind::NoSuchHold | ZfsErrorKind::DoesNotExist) => {
                // Release only from the snapshots that still exist and carry the tag.
                let mut carrying = Vec::new();
                for s in snapshots {
                    match self.holds(std::slice::from_ref(s)) {
                        Ok(h) if h.iter().any(|h| h.tag == tag) => carrying.push(s.clone()),
                        Ok(_) => {}
                        Err(e) if e.kind == ZfsErrorKind::DoesNotExist => {}
                        Err(e) => return Err(e),
                    }
                }
                if carrying.is_empty() {
                    Ok(())
                } else {
                    run(&carrying)
                }
            }
            other => other,
        }
    }

    /// Creates bookmark `bookmark` of `from` (a snapshot or bookmark) whose GUID is `guid`. An existing
    /// bookmark with the same GUID is success; one with another GUID is an `AlreadyExists` error.
    pub fn bookmark(&self, from: &str, guid: Guid, bookmark: &BookmarkName) -> Result<(), ZfsError> {
        let args = ["bookmark".to_string(), from.to_string(), bookmark.to_string()];
        match self.run(&args) {
            Err(e) if e.kind == ZfsErrorKind::AlreadyExists => {
                let existing = self.guid_of(bookmark.as_str())?;
                if existing == guid {
                    Ok(())
                } else {
                    Err(ZfsError {
                        message: format!(
                            "{bookmark} already exists with GUID {existing}, not {guid} of {from}; \
                             destroy the stale bookmark if it is not needed"
                        ),
                        ..e
                    })
                }
            }
            other => other.map(|_| ()),
        }
    }

    /// The GUID of a dataset, snapshot or bookmark.
    pub fn guid_of(&self, name: &str) -> Result<Guid, ZfsError> {
        let args = ["get", "-H", "-p", "-o", "value", "guid", name];
        let out = self.run(&args)?;
        out.trim()
            .parse::<u64>()
            .map(Guid)
            .map_err(|_| ZfsError::parse(&args, format!("guid of {name} is not a number: {:?}", out.trim())))
    }

    /// Takes all named snapshots in one atomic `zfs snapshot` call (they must be in one pool to be atomic).
    pub fn snapshot(&self, snapshots: &[SnapshotName]) -> Result<(), ZfsError> {
        if snapshots.is_empty() {
            return Ok(());
        }
        let mut args = vec!["snapshot".to_string()];
        args.extend(strings(snapshots));
        self.run(&args).map(|_| ())
    }

    /// Destroys the named snapshots, one `zfs destroy fs@a,b,c` per filesystem. Snapshots that no longer
    /// exist are fine. A snapshot protected by a hold fails with kind `Held`, naming it.
    pub fn destroy_snapshots(&self, snapshots: &[SnapshotName]) -> Result<(), ZfsError> {
        let mut by_fs: BTreeMap<DatasetName, Vec<&str>> = BTreeMap::new();
        for s in snapshots {
            by_fs.entry(s.dataset()).or_default().push(s.short());
        }
        for (fs, shorts) in by_fs {
            let arg = format!("{fs}@{}", shorts.join(","));
            match self.run(&["destroy".to_string(), arg]) {
                Ok(_) => {}
                Err(e) if e.kind == ZfsErrorKind::DoesNotExist => {}
                Err(e) if e.kind == ZfsErrorKind::Busy => return Err(e.with_kind(ZfsErrorKind::Held)),
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }

    /// Destroys the named bookmarks; missing ones are fine.
    pub fn destroy_bookmarks(&self, bookmarks: &[BookmarkName]) -> Result<(), ZfsError> {
        for b in bookmarks {
            match self.run(&["destroy".to_string(), b.to_string()]) {
                Ok(_) => {}
                Err(e) if e.kind == ZfsErrorKind::DoesNotExist => {}
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }

    /// Aborts the partially received state of `fs` (`zfs recv -A`). Nothing to abort is success.
    pub fn recv_abort(&self, fs: &DatasetName) -> Result<(), ZfsError> {
        match self.run(&["receive".to_string(), "-A".to_string(), fs.to_string()]) {
            Err(e) if matches!(e.kind, ZfsErrorKind::NoResumableState | ZfsErrorKind::DoesNotExist) => Ok(()),
            other => other.map(|_| ()),
        }
    }

    /// Creates `fs` as a placeholder (`zrepl:placeholder=on`, not mounted) if it does not exist yet.
    pub fn create_placeholder(&self, fs: &DatasetName) -> Result<(), ZfsError> {
        let placeholder = format!("{PLACEHOLDER_PROPERTY}=on");
        let args = ["create", "-o", &placeholder, "-o", "canmount=off", fs.as_str()];
        match self.run(&args) {
            Err(e) if e.kind == ZfsErrorKind::AlreadyExists => Ok(()),
            other => other.map(|_| ()),
        }
    }

    /// `zfs set PROPERTY=VALUE NAME`.
    pub fn set_property(&self, name: &str, property: &str, value: &str) -> Result<(), ZfsError> {
        self.run(&["set".to_string(), format!("{property}={value}"), name.to_string()])
            .map(|_| ())
    }

    /// `zfs inherit PROPERTY NAME`: drop a local setting.
    pub fn inherit(&self, name: &str, property: &str) -> Result<(), ZfsError> {
        self.run(&["inherit", property, name]).map(|_| ())
    }

    /// The value of one property (`-` when unset).
    pub fn get_property(&self, name: &str, property: &str) -> Result<String, ZfsError> {
        let out = self.run(&["get", "-H", "-p", "-o", "value", property, name])?;
        Ok(out.trim_end_matches('\n').to_string())
    }
}
