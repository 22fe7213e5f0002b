//! The backup host's own view of what it received: every filesystem and volume below a receiver's root with
//! its newest received snapshot and that snapshot's age, where the last-received hold is, resumable state
//! (bytes, and since when), and placeholders. Read from ZFS on the backup host alone, so it tells the truth
//! when the sender is dead, its timer disabled, or compromised. Reads only.

use std::collections::{BTreeMap, BTreeSet};

use crate::report::commands::{HoldState, ReceivedFs};
use crate::zfs::bookkeeping::{parse_last_received_tag, JobId};
use crate::zfs::list::{FsEntry, Listing};
use crate::zfs::names::{DatasetName, SnapshotName};
use crate::zfs::{Zfs, ZfsError, ZfsErrorKind};

/// What a resumable receive holds: its bytes (from the token) and when it began.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Resumable {
    pub bytes: Option<u64>,
    pub since: Option<u64>,
}

/// A snapshot `creation` this far ahead of this host's clock is taken as the sender's clock being wrong (or
/// the time forged), not as a fresh snapshot.
pub const MAX_CLOCK_SKEW: u64 = 300;

/// Reads the tree below `root` (the root itself is the agents' and not reported): the filesystems with
/// `snapshots_changed`, then their snapshots with `creation` (one `zfs list` where OpenZFS < 2.2 lacks
/// `snapshots_changed`), one `zfs holds` of the newest snapshots that carry holds, and for each resumable
/// receive its token decoded and its start. `job` narrows the last-received hold to one job's.
pub fn view(zfs: &Zfs, root: &DatasetName, job: Option<&JobId>, now: u64) -> Result<Vec<ReceivedFs>, ZfsError> {
    let roots = std::slice::from_ref(root);
    let listing = match zfs.list_filesystems(roots, None)? {
        (_, true) => zfs.list(roots, true)?,
        (mut listing, false) => {
            let names: Vec<DatasetName> = listing.filesystems.keys().cloned().collect();
            zfs.list_versions(&mut listing, &names, true)?;
            listing
        }
    };
    let newest_held: Vec<SnapshotName> = listing
        .filesystems
        .values()
        .filter_map(|f| {
            let v = f.newest_snapshot().filter(|v| v.userrefs.unwrap_or(0) > 0)?;
            f.name.snapshot(&v.short).ok()
        })
        .collect();
    let mut tags: BTreeMap<String, Vec<String>> = BTreeMap::new();
    if !newest_held.is_empty() {
        for h in zfs.holds(&newest_held)? {
            tags.entry(h.snapshot).or_default().push(h.tag);
        }
    }
    let mut resumable = BTreeMap::new();
    for f in listing.filesystems.values() {
        if let Some(token) = &f.resume_token {
            resumable.insert(f.name.clone(), resumable_state(zfs, &f.name, token));
        }
    }
    Ok(entries(&listing, root, &tags, &resumable, job, now))
}

/// A resumable receive's bytes (from its token) and start: the `creation` of the hidden clone an
/// incremental receive writes into (`fs/%recv`), else that of the filesystem a full receive creates.
fn resumable_state(zfs: &Zfs, fs: &DatasetName, token: &str) -> Resumable {
    let bytes = zfs.decode_resume_token(token).ok().map(|t| t.bytes);
    let creation = |name: &str| {
        zfs.get_property(name, "creation")
            .ok()
            .and_then(|v| v.trim().parse().ok())
    };
    let since = match zfs.get_property(&format!("{fs}/%recv"), "creation") {
        Ok(v) => v.trim().parse().ok(),
        Err(e) if e.kind == ZfsErrorKind::DoesNotExist => creation(fs.as_str()),
        Err(_) => None,
    };
    Resumable { bytes, since }
}

/// The view from a listing (pure): `tags` are the hold tags by snapshot, `resumable` the resumable
/// filesystems' state.
pub fn entries(
    listing: &Listing,
    root: &DatasetName,
    tags: &BTreeMap<String, Vec<String>>,
    resumable: &BTreeMap<DatasetName, Resumable>,
    job: Option<&JobId>,
    now: u64,
) -> Vec<ReceivedFs> {
    listing
        .filesystems
        .values()
        .filter(|f| f.name.is_strictly_below(root))
        .map(|f| entry(f, root, tags, resumable.get(&f.name), job, now))
        .collect()
}

/// When the newest snapshot was taken, as far as this host can vouch for it. Its `creation` comes with the
/// stream, from the sender's clock: it is taken, but never later than `snapshots_changed` (when this host
/// last changed the copy's snapshots, by its own clock; OpenZFS ≥ 2.2). Where that is unknown, a `creation`
/// in the future beyond [`MAX_CLOCK_SKEW`] counts as 0 (the epoch): a copy whose sender claims a future time
/// must look stale rather than fresh forever.
fn vouched_time(creation: u64, snapshots_changed: Option<u64>, now: u64) -> u64 {
    match snapshots_changed {
        Some(changed) => creation.min(changed),
        None if creation > now + MAX_CLOCK_SKEW => 0,
        None => creation,
    }
}

fn entry(
    f: &FsEntry,
    root: &DatasetName,
    tags: &BTreeMap<String, Vec<String>>,
    resumable: Option<&Resumable>,
    job: Option<&JobId>,
    now: u64,
) -> ReceivedFs {
    let newest = f.newest_snapshot();
    let newest_name = newest.map(|v| v.full_name(f.name.as_str()));
    let jobs: BTreeSet<String> = newest_name
        .as_ref()
        .and_then(|n| tags.get(n))
        .into_iter()
        .flatten()
        .filter_map(|t| parse_last_received_tag(t))
        .filter(|j| job.is_none_or(|want| want.as_str() == *j))
        .map(str::to_string)
        .collect();
    let snapshots: Vec<_> = f.snapshots().collect();
    let held_older = snapshots.iter().rev().skip(1).any(|v| v.userrefs.unwrap_or(0) > 0);
    let hold = match newest {
        None => HoldState::NotApplicable,
        Some(_) if !jobs.is_empty() => HoldState::OnNewest,
        // Holds on older snapshots are not listed one by one; any of them may be this job's.
        Some(_) if held_older => HoldState::OnOlder,
        Some(_) => HoldState::Missing,
    };
    let time = newest
        .and_then(|v| v.creation)
        .map(|c| vouched_time(c, f.snapshots_changed, now));
    let since = resumable.and_then(|r| r.since);
    ReceivedFs {
        name: f.name.to_string(),
        path: f.name.strip_prefix(root).map(|p| p.to_string()).unwrap_or_default(),
        placeholder: f.is_placeholder(),
        newest_snapshot: newest_name,
        newest_snapshot_time: time,
        age_seconds: time.map(|t| now.saturating_sub(t)),
        last_received_hold: if f.is_placeholder() {
            HoldState::NotApplicable
        } else {
            hold
        },
        last_received_hold_jobs: jobs.into_iter().collect(),
        resumable: f.resume_token.is_some(),
        resumable_bytes: resumable.and_then(|r| r.bytes),
        resumable_since: since,
        resumable_age_seconds: since.map(|t| now.saturating_sub(t)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::zfs::{Guid, Version, VersionKind};

    fn fs(name: &str, snaps: &[(&str, u64, u64)]) -> FsEntry {
        let mut e = FsEntry::named(DatasetName::new(name).unwrap());
        e.versions = snaps
            .iter()
            .enumerate()
            .map(|(i, (short, created, refs))| Version {
                kind: VersionKind::Snapshot,
                short: short.to_string(),
                guid: Guid(i as u64 + 1),
                createtxg: i as u64 + 1,
                userrefs: Some(*refs),
                creation: Some(*created),
            })
            .collect();
        e
    }

    fn listing(entries: Vec<FsEntry>) -> Listing {
        Listing {
            filesystems: entries.into_iter().map(|e| (e.name.clone(), e)).collect(),
        }
    }

    /// A sender cannot make a copy look fresh forever by giving its snapshot a creation time in the future.
    #[test]
    fn a_creation_time_from_the_future_is_not_believed() {
        let now = 1_000_000;
        assert_eq!(vouched_time(900_000, Some(950_000), now), 900_000);
        assert_eq!(
            vouched_time(5_000_000, Some(950_000), now),
            950_000,
            "no later than this host saw it"
        );
        assert_eq!(vouched_time(now + 60, None, now), now + 60, "a little clock skew");
        assert_eq!(
            vouched_time(now + 86_400, None, now),
            0,
            "the future, unknown when received: stale"
        );
        let mut e = fs("backup/a", &[("s1", 5_000_000, 1)]);
        e.snapshots_changed = Some(990_000);
        let v = entries(
            &listing(vec![e]),
            &DatasetName::new("backup").unwrap(),
            &BTreeMap::new(),
            &BTreeMap::new(),
            None,
            now,
        );
        assert_eq!(
            (v[0].newest_snapshot_time, v[0].age_seconds),
            (Some(990_000), Some(10_000))
        );
    }

    #[test]
    fn each_copy_below_the_root_shows_its_newest_snapshot_age_and_where_the_hold_is() {
        let mut placeholder = fs("backup/c1", &[]);
        placeholder.placeholder_prop = true;
        let mut cut = fs("backup/c1/tank/b", &[("s1", 500, 1)]);
        cut.resume_token = Some("1-abc".into());
        let l = listing(vec![
            fs("backup", &[]),
            placeholder,
            fs("backup/c1/tank/a", &[("s1", 100, 0), ("s2", 900, 1)]),
            cut,
            fs("backup/c1/tank/c", &[("s1", 100, 1), ("s2", 200, 0)]),
        ]);
        let tags = BTreeMap::from([(
            "backup/c1/tank/a@s2".to_string(),
            vec!["zrepl_last_received_J_prod".to_string(), "keep".to_string()],
        )]);
        let resumable = BTreeMap::from([(
            DatasetName::new("backup/c1/tank/b").unwrap(),
            Resumable {
                bytes: Some(4096),
                since: Some(700),
            },
        )]);
        let root = DatasetName::new("backup").unwrap();
        let v = entries(&l, &root, &tags, &resumable, None, 1000);
        let by: BTreeMap<&str, &ReceivedFs> = v.iter().map(|f| (f.path.as_str(), f)).collect();
        assert_eq!(by.len(), 4, "the root itself is not reported: {v:?}");
        assert!(by["c1"].placeholder && by["c1"].last_received_hold == HoldState::NotApplicable);
        let a = by["c1/tank/a"];
        assert_eq!((a.newest_snapshot_time, a.age_seconds), (Some(900), Some(100)));
        assert_eq!(a.last_received_hold, HoldState::OnNewest);
        assert_eq!(a.last_received_hold_jobs, ["prod"]);
        let b = by["c1/tank/b"];
        assert!(b.resumable && b.resumable_bytes == Some(4096) && b.resumable_age_seconds == Some(300));
        assert_eq!(
            b.last_received_hold,
            HoldState::Missing,
            "a hold that is not a last-received one"
        );
        assert_eq!(by["c1/tank/c"].last_received_hold, HoldState::OnOlder);
        // Another job's hold does not count when one job is asked for.
        let other = JobId::new("other").unwrap();
        let v = entries(&l, &root, &tags, &resumable, Some(&other), 1000);
        let a = v.iter().find(|f| f.path == "c1/tank/a").unwrap();
        assert_eq!(a.last_received_hold, HoldState::Missing);
    }
}
