//! Mutations and small queries, each idempotent: holds (batched), releases (batched), bookmarks, atomic
//! multi-dataset snapshots, batched destroys, aborting resumable receive state, placeholders.

use std::collections::{BTreeMap, BTreeSet};

use super::names::{BookmarkName, DatasetName, SnapshotName, PLACEHOLDER_PROPERTY};
use super::types::Guid;
use super::{Zfs, ZfsError, ZfsErrorKind};

/// Native properties a dataset that takes another's place (a rotation's clone) gets from it.
pub const CLONE_PROPERTIES: [&str; 20] = [
    "setuid",
    "devices",
    "exec",
    "readonly",
    "canmount",
    "mountpoint",
    "atime",
    "volmode",
    "compression",
    "recordsize",
    "xattr",
    "acltype",
    "sharenfs",
    "sharesmb",
    "snapdir",
    "logbias",
    "sync",
    "primarycache",
    "secondarycache",
    "refquota",
];

/// One user hold: which snapshot carries which tag.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, serde::Serialize)]
pub struct Hold {
    pub snapshot: String,
    pub tag: String,
    /// When the hold was put (Unix seconds; `zfs holds -p`, or to the minute where OpenZFS < 2.2 prints
    /// it only in words).
    pub since: u64,
}

/// A hold time as `zfs holds` prints it without `-p` (OpenZFS < 2.2), with `LC_ALL=C` and `TZ=UTC`:
/// `Fri Dec  4 02:24 2026` (`%a %b %e %H:%M %Y`), as Unix seconds.
fn hold_time_in_words(text: &str) -> Option<u64> {
    let w: Vec<&str> = text.split_whitespace().collect();
    let [_, month, day, hm, year] = w[..] else {
        return None;
    };
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let month = MONTHS.iter().position(|m| *m == month)? as u8 + 1;
    let (h, m) = hm.split_once(':')?;
    let date = time::Date::from_calendar_date(
        year.parse().ok()?,
        time::Month::try_from(month).ok()?,
        day.parse().ok()?,
    )
    .ok()?;
    let at = date.with_hms(h.parse().ok()?, m.parse().ok()?, 0).ok()?;
    u64::try_from(at.assume_utc().unix_timestamp()).ok()
}

fn strings<T: ToString>(items: &[T]) -> Vec<String> {
    items.iter().map(|i| i.to_string()).collect()
}

impl Zfs {
    /// All user holds on the named snapshots (`zfs holds -H`, checked against `userrefs`). Missing
    /// snapshots are an error.
    ///
    /// `-H` prints a hold tag raw, and whoever may put holds on a snapshot can choose a tag with a tab and a
    /// newline in it, printing what looks like another snapshot's hold. Every line must have exactly three
    /// columns and name one of the asked snapshots, and each snapshot must show as many holds as its
    /// `userrefs` counts: a forged line always adds one too many. A count that changed between the two
    /// calls (a hold put or released meanwhile) is asked once more before it counts as an error.
    pub fn holds(&self, snapshots: &[SnapshotName]) -> Result<Vec<Hold>, ZfsError> {
        if let Some(holds) = self.native_holds(snapshots) {
            return Ok(holds);
        }
        match self.holds_once(snapshots) {
            Err(e) if e.kind == ZfsErrorKind::Parse => self.holds_once(snapshots),
            other => other,
        }
    }

    fn holds_once(&self, snapshots: &[SnapshotName]) -> Result<Vec<Hold>, ZfsError> {
        if snapshots.is_empty() {
            return Ok(Vec::new());
        }
        use std::sync::atomic::Ordering;
        let in_words = self.holds_without_p.load(Ordering::Relaxed);
        let mut args = vec!["holds".to_string(), "-H".to_string()];
        if !in_words {
            args.push("-p".to_string());
        }
        args.extend(strings(snapshots));
        let out = match self.run(&args) {
            Err(e) if !in_words && e.message.contains("invalid option 'p'") => {
                self.holds_without_p.store(true, Ordering::Relaxed);
                return self.holds_once(snapshots);
            }
            other => other?,
        };
        let mut counts: BTreeMap<&str, u64> = snapshots.iter().map(|s| (s.as_str(), 0)).collect();
        let mut holds = Vec::new();
        for line in out.lines().filter(|l| !l.is_empty()) {
            let cols: Vec<&str> = line.split('\t').collect();
            let since = cols.get(2).and_then(|t| {
                let t = t.trim();
                t.parse::<u64>().ok().or_else(|| hold_time_in_words(t))
            });
            let (count, since) = match (cols.first().and_then(|snap| counts.get_mut(snap.trim())), since) {
                (Some(count), Some(since)) if cols.len() == 3 => (count, since),
                _ => {
                    return Err(ZfsError::parse(
                        &args,
                        format!(
                            "expected <asked snapshot> TAB <tag> TAB <unix time>, got {line:?}: a hold \
                             tag with a tab or newline in it (release it with zfs release)"
                        ),
                    ))
                }
            };
            *count += 1;
            holds.push(Hold {
                snapshot: cols[0].trim().to_string(),
                tag: cols[1].trim().to_string(),
                since,
            });
        }
        let mut get = vec!["get", "-H", "-p", "-o", "name,value", "userrefs"]
            .into_iter()
            .map(String::from)
            .collect::<Vec<_>>();
        get.extend(strings(snapshots));
        for line in self.run(&get)?.lines().filter(|l| !l.is_empty()) {
            let (name, refs) = line
                .split_once('\t')
                .and_then(|(n, v)| Some((n, v.parse::<u64>().ok()?)))
                .ok_or_else(|| ZfsError::parse(&get, format!("expected <snapshot> TAB <userrefs>, got {line:?}")))?;
            match counts.remove(name) {
                Some(listed) if listed == refs => {}
                Some(listed) => {
                    return Err(ZfsError::parse(
                        &args,
                        format!(
                            "zfs holds printed {listed} holds for {name}, but its userrefs is {refs}: a hold \
                             tag contains a newline and forges lines (list them with zfs holds and release \
                             the odd one with zfs release)"
                        ),
                    ))
                }
                None => return Err(ZfsError::parse(&get, format!("unexpected snapshot {name:?}"))),
            }
        }
        if let Some(missing) = counts.keys().next() {
            return Err(ZfsError::parse(&get, format!("no userrefs for {missing}")));
        }
        holds.sort();
        Ok(holds)
    }

    /// The holds of the named snapshots read through libzfs_core (no process, nothing parsed from text);
    /// `None` where it is not loaded or a snapshot cannot be read (the caller then asks `zfs holds`, which
    /// reports why).
    fn native_holds(&self, snapshots: &[SnapshotName]) -> Option<Vec<Hold>> {
        let lzc = self.native?;
        let mut holds = Vec::new();
        for s in snapshots {
            for (tag, since) in lzc.holds(s.as_str()).ok()? {
                holds.push(Hold {
                    snapshot: s.to_string(),
                    tag,
                    since,
                });
            }
        }
        holds.sort();
        Some(holds)
    }

    /// Runs `op` through libzfs_core once per pool on the names of that pool; returns the items of the pools
    /// where it failed or the library is not loaded (the caller runs `zfs` for those).
    fn natively_per_pool<'a, T: AsRef<str>>(
        &self,
        items: &'a [T],
        op: impl Fn(&super::lzc::Lzc, &[&str]) -> Result<(), super::lzc::Errno>,
    ) -> Vec<&'a T> {
        let mut rest = Vec::new();
        for (_, group) in super::lzc::by_pool(items, |i| i.as_ref()) {
            let names: Vec<&str> = group.iter().map(|i| i.as_ref()).collect();
            if self.native.is_none_or(|l| op(l, &names).is_err()) {
                rest.extend(group);
            }
        }
        rest
    }

    /// Puts hold `tag` on every named snapshot; snapshots that already carry it are left as they are.
    /// Through libzfs_core one call and one transaction group per pool; where that fails (a snapshot already
    /// carries the tag, or the library is missing), one `zfs hold` call, which ZFS carries out one snapshot
    /// at a time.
    pub fn hold(&self, tag: &str, snapshots: &[SnapshotName]) -> Result<(), ZfsError> {
        if snapshots.is_empty() {
            return Ok(());
        }
        let rest: Vec<SnapshotName> = self
            .natively_per_pool(snapshots, |l, names| l.hold(tag, names))
            .into_iter()
            .cloned()
            .collect();
        // Bounded argument lists (a send-agent takes at most 4,096 arguments).
        rest.chunks(1000).try_for_each(|c| self.hold_by_command(tag, c))
    }

    fn hold_by_command(&self, tag: &str, snapshots: &[SnapshotName]) -> Result<(), ZfsError> {
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
    /// Through libzfs_core one call and one transaction group per pool where every snapshot carries it.
    pub fn release(&self, tag: &str, snapshots: &[SnapshotName]) -> Result<(), ZfsError> {
        if snapshots.is_empty() {
            return Ok(());
        }
        let rest: Vec<SnapshotName> = self
            .natively_per_pool(snapshots, |l, names| l.release(tag, names))
            .into_iter()
            .cloned()
            .collect();
        rest.chunks(1000).try_for_each(|c| self.release_by_command(tag, c))
    }

    fn release_by_command(&self, tag: &str, snapshots: &[SnapshotName]) -> Result<(), ZfsError> {
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
        if self
            .native
            .is_some_and(|l| l.bookmark(&[(bookmark.as_str(), from)]).is_ok())
        {
            return Ok(());
        }
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

    /// Destroys the named bookmarks; missing ones are fine. Through libzfs_core one call and one transaction
    /// group per pool, else one `zfs destroy` per bookmark.
    pub fn destroy_bookmarks(&self, bookmarks: &[BookmarkName]) -> Result<(), ZfsError> {
        for b in self.natively_per_pool(bookmarks, |l, names| l.destroy_bookmarks(names)) {
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

    /// `zfs destroy -r FS`: a dataset this run created (a scratch restore) with its snapshots; a missing one
    /// is no error.
    pub fn destroy_created(&self, fs: &DatasetName) -> Result<(), ZfsError> {
        match self.run(&["destroy", "-r", fs.as_str()]) {
            Err(e) if e.kind == ZfsErrorKind::DoesNotExist => Ok(()),
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

    /// `zfs rename FROM TO` (a dataset, with its children).
    pub fn rename(&self, from: &DatasetName, to: &DatasetName) -> Result<(), ZfsError> {
        self.run(&["rename", from.as_str(), to.as_str()]).map(|_| ())
    }

    /// `zfs clone [-o P=V]… SNAPSHOT FS`.
    pub fn clone_snapshot(
        &self,
        snapshot: &SnapshotName,
        fs: &DatasetName,
        set: &[(String, String)],
    ) -> Result<(), ZfsError> {
        let mut args = vec!["clone".to_string()];
        for (k, v) in set {
            args.push("-o".into());
            args.push(format!("{k}={v}"));
        }
        args.push(snapshot.to_string());
        args.push(fs.to_string());
        self.run(&args).map(|_| ())
    }

    /// The properties set on `name` itself (locally or by a receive) that a clone can be created with:
    /// user properties and [`CLONE_PROPERTIES`].
    pub fn own_properties(&self, name: &DatasetName) -> Result<Vec<(String, String)>, ZfsError> {
        let out = self.run(&[
            "get",
            "-H",
            "-p",
            "-s",
            "local,received",
            "-o",
            "property,value",
            "all",
            name.as_str(),
        ])?;
        Ok(out
            .lines()
            .filter_map(|l| l.split_once('\t'))
            .filter(|(k, _)| k.contains(':') || CLONE_PROPERTIES.contains(k))
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect())
    }

    /// `zfs unmount FS`.
    pub fn unmount(&self, fs: &DatasetName) -> Result<(), ZfsError> {
        self.run(&["unmount", fs.as_str()]).map(|_| ())
    }

    /// `zfs mount FS`.
    pub fn mount(&self, fs: &DatasetName) -> Result<(), ZfsError> {
        self.run(&["mount", fs.as_str()]).map(|_| ())
    }

    /// `zfs promote FS`: the clone takes over its origin's snapshots up to the origin.
    pub fn promote(&self, fs: &DatasetName) -> Result<(), ZfsError> {
        self.run(&["promote", fs.as_str()]).map(|_| ())
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

    /// The value of one property on each of `names`, in one `zfs get` (`-` when unset, empty for a dataset
    /// that does not exist, whose error does not hide the others' values).
    pub fn get_property_of_each(&self, names: &[&str], property: &str) -> Result<Vec<String>, ZfsError> {
        let mut args = vec!["get", "-H", "-p", "-o", "name,value", property];
        args.extend_from_slice(names);
        let (_, out, _) = self.run_output(&args)?;
        let values: std::collections::HashMap<&str, &str> = out.lines().filter_map(|l| l.split_once('\t')).collect();
        Ok(names
            .iter()
            .map(|n| values.get(n).map(|v| v.to_string()).unwrap_or_default())
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    /// A `zfs` that prints `holds` for `zfs holds` and `userrefs` for `zfs get`.
    fn fake(dir: &tempfile::TempDir, holds: &str, userrefs: &str) -> Zfs {
        let h = dir.path().join("holds.out");
        let u = dir.path().join("userrefs.out");
        std::fs::write(&h, holds).unwrap();
        std::fs::write(&u, userrefs).unwrap();
        let prog = dir.path().join("zfs");
        let script = format!(
            "#!/bin/sh\ncase \"$1\" in holds) exec cat '{}';; get) exec cat '{}';; esac\nexit 1\n",
            h.display(),
            u.display()
        );
        std::fs::write(&prog, script).unwrap();
        std::fs::set_permissions(&prog, std::fs::Permissions::from_mode(0o755)).unwrap();
        Zfs::with_program(prog).without_native()
    }

    fn snaps() -> Vec<SnapshotName> {
        ["p/a@s1", "p/a@s2"]
            .iter()
            .map(|s| SnapshotName::new(s).unwrap())
            .collect()
    }

    #[test]
    fn holds_are_read_and_counted() {
        let dir = tempfile::tempdir().unwrap();
        let zfs = fake(
            &dir,
            "p/a@s1\tzrepl_last_received_J_x\t1796221177\np/a@s1\tkeep\t1796221100\n",
            "p/a@s1\t2\np/a@s2\t0\n",
        );
        let holds = zfs.holds(&snaps()).unwrap();
        assert_eq!(holds.len(), 2);
        assert_eq!(holds[0].tag, "keep");
        assert_eq!(holds[1].snapshot, "p/a@s1");
        assert_eq!((holds[0].since, holds[1].since), (1796221100, 1796221177));
    }

    /// OpenZFS < 2.2 has no `zfs holds -p`: the times printed in words (in UTC, which zreplrs asks for)
    /// are read to the minute, and later calls of the same handle do not ask for `-p` again.
    #[test]
    fn holds_of_openzfs_2_1_are_read_without_p() {
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("calls");
        let prog = dir.path().join("zfs");
        let script = format!(
            "#!/bin/sh\necho \"$TZ $*\" >>'{log}'\ncase \"$1 $3\" in\n\
             'holds -p') echo \"invalid option 'p'\" >&2; exit 2;;\n\
             holds*) printf 'p/a@s1\\tkeep\\tFri Dec  4 02:24 2026\\n';;\n\
             get*) printf 'p/a@s1\\t1\\n';;\nesac\n",
            log = log.display()
        );
        std::fs::write(&prog, script).unwrap();
        std::fs::set_permissions(&prog, std::fs::Permissions::from_mode(0o755)).unwrap();
        let zfs = Zfs::with_program(prog).without_native();
        let s1 = [SnapshotName::new("p/a@s1").unwrap()];
        for _ in 0..2 {
            let holds = zfs.holds(&s1).unwrap();
            assert_eq!(holds.len(), 1);
            assert_eq!(holds[0].since, 1_796_351_040, "2026-12-04 02:24 UTC");
        }
        let calls = std::fs::read_to_string(&log).unwrap();
        let holds: Vec<&str> = calls.lines().filter(|l| l.contains(" holds ")).collect();
        assert_eq!(
            holds,
            ["UTC holds -H -p p/a@s1", "UTC holds -H p/a@s1", "UTC holds -H p/a@s1"],
            "{calls}"
        );
        assert_eq!(hold_time_in_words("Thu Feb 29 23:59 2024"), Some(1_709_251_140));
        for bad in ["Fri Dec 32 02:24 2026", "Fri Foo  4 02:24 2026", "1796351040 x", ""] {
            assert_eq!(hold_time_in_words(bad), None, "{bad:?}");
        }
    }

    /// The attack: a hold on s1 whose tag is `x<TAB>time<NEWLINE>p/a@s2<TAB>zrepl_last_received…`, which
    /// prints as a (false) hold of our job on s2. The extra line does not match s2's userrefs.
    #[test]
    fn a_hold_tag_with_a_newline_cannot_forge_a_hold() {
        let dir = tempfile::tempdir().unwrap();
        let zfs = fake(
            &dir,
            "p/a@s1\tx\t1796221177\np/a@s2\tzrepl_last_received_J_x\t1796221177\n",
            "p/a@s1\t1\np/a@s2\t0\n",
        );
        let err = zfs.holds(&snaps()).unwrap_err();
        assert_eq!(err.kind, ZfsErrorKind::Parse);
        assert!(err.to_string().contains("userrefs is 0"), "{err}");
        // A tab alone gives a line of four columns; a line naming a snapshot not asked for is refused too.
        for out in [
            "p/a@s1\tx\ty\tWed Dec  2 14:19 2026\n",
            "p/b@s1\tx\tWed Dec  2 14:19 2026\n",
        ] {
            let dir = tempfile::tempdir().unwrap();
            let err = fake(&dir, out, "p/a@s1\t1\np/a@s2\t0\n").holds(&snaps()).unwrap_err();
            assert_eq!(err.kind, ZfsErrorKind::Parse, "{out:?}");
        }
    }
}
