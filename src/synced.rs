//! The sync record: lets a run skip listing the snapshots of a filesystem that has not changed since the
//! last run that found it up to date and protected (pure functions, no I/O).
//!
//! Listing snapshots is what a no-op run spends its time on. OpenZFS ≥ 2.2 keeps, per filesystem,
//! `snapshots_changed`: the second a snapshot was last created, destroyed, renamed or received there. When a
//! run finds a filesystem up to date (and has repaired its cursor and last-received hold), it records on the
//! sender filesystem, in the job's user property (`JobId::sync_record_property`), both sides' dataset GUIDs
//! and `snapshots_changed`, and the newest snapshot they share. A later run lists only filesystems; where
//! the record still matches both sides, nothing can have changed, so the filesystem is up to date without
//! listing its snapshots. Anything else (a new or destroyed snapshot on either side, a different dataset, a
//! resume token on the receiver, a record older than [`RECHECK_AFTER_SECONDS`]) makes the run list and plan
//! that filesystem as usual.
//!
//! `snapshots_changed` has a resolution of one second: a change in the same second as the value the record
//! keeps would leave the value unchanged. A record is therefore written only from values strictly older
//! than the second in which they were listed.

use crate::zfs::list::FsEntry;
use crate::zfs::names::check_component;
use crate::zfs::{Guid, Version, VersionKind};

/// A record is trusted for this long; after that the filesystem is listed in full again, so that a cursor
/// bookmark or a last-received hold removed by hand (neither changes `snapshots_changed`) is repaired.
pub const RECHECK_AFTER_SECONDS: u64 = 24 * 3600;

/// Format tag: the first word of every record.
const FORMAT: &str = "v1";

/// What both sides looked like when a run found a filesystem up to date.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyncRecord {
    /// GUID and `snapshots_changed` of the sender filesystem.
    pub sender_guid: u64,
    pub sender_changed: u64,
    /// GUID and `snapshots_changed` of the receiver filesystem.
    pub receiver_guid: u64,
    pub receiver_changed: u64,
    /// The newest snapshot, present on both sides: GUID, createtxg (sender), creation (seconds), short name.
    pub snapshot_guid: u64,
    pub snapshot_createtxg: u64,
    pub snapshot_creation: u64,
    pub snapshot: String,
    /// When the record was written (sender clock, seconds since the epoch).
    pub recorded_at: u64,
}

impl SyncRecord {
    /// The property value: `v1` and eight numbers separated by spaces, then the snapshot's short name (which
    /// may itself contain spaces).
    pub fn to_value(&self) -> String {
        format!(
            "{FORMAT} {} {} {} {} {} {} {} {} {}",
            self.sender_guid,
            self.sender_changed,
            self.receiver_guid,
            self.receiver_changed,
            self.snapshot_guid,
            self.snapshot_createtxg,
            self.snapshot_creation,
            self.recorded_at,
            self.snapshot
        )
    }

    /// Parses a property value; `None` for anything that is not a well-formed record of this format (the
    /// filesystem is then simply listed).
    pub fn parse(value: &str) -> Option<SyncRecord> {
        let mut parts = value.splitn(10, ' ');
        if parts.next()? != FORMAT {
            return None;
        }
        let mut n = [0u64; 8];
        for slot in n.iter_mut() {
            *slot = parts.next()?.parse().ok()?;
        }
        let snapshot = parts.next()?.to_string();
        check_component("snapshot", &snapshot).ok()?;
        Some(SyncRecord {
            sender_guid: n[0],
            sender_changed: n[1],
            receiver_guid: n[2],
            receiver_changed: n[3],
            snapshot_guid: n[4],
            snapshot_createtxg: n[5],
            snapshot_creation: n[6],
            recorded_at: n[7],
            snapshot,
        })
    }

    /// Whether the record still describes `sender` and `receiver` as listed now (`now`: sender clock).
    pub fn holds_for(&self, sender: &FsEntry, receiver: &FsEntry, now: u64) -> bool {
        sender.guid.0 == self.sender_guid
            && sender.snapshots_changed == Some(self.sender_changed)
            && receiver.guid.0 == self.receiver_guid
            && receiver.snapshots_changed == Some(self.receiver_changed)
            && receiver.resume_token.is_none()
            && now >= self.recorded_at
            && now - self.recorded_at < RECHECK_AFTER_SECONDS
    }

    /// The newest snapshot as a version entry (creation known, holds unknown).
    pub fn snapshot_version(&self) -> Version {
        Version {
            kind: VersionKind::Snapshot,
            short: self.snapshot.clone(),
            guid: Guid(self.snapshot_guid),
            createtxg: self.snapshot_createtxg,
            userrefs: None,
            creation: Some(self.snapshot_creation),
        }
    }
}

/// When each side was listed: seconds since the epoch on that side's clock, read before its listing began.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ListedAt {
    pub sender: u64,
    pub receiver: u64,
}

/// The record for a filesystem a run found up to date, with `newest` (created at `creation`) the newest
/// snapshot on both sides. `None` when either side's `snapshots_changed` is unknown or not strictly older
/// than the second its listing began, or when `newest` is not the receiver's newest snapshot.
pub fn record_for(
    sender: &FsEntry,
    receiver: &FsEntry,
    listed_at: ListedAt,
    newest: &Version,
    creation: u64,
    now: u64,
) -> Option<SyncRecord> {
    let sender_changed = sender.snapshots_changed.filter(|c| *c < listed_at.sender)?;
    let receiver_changed = receiver.snapshots_changed.filter(|c| *c < listed_at.receiver)?;
    if sender.newest_snapshot()?.guid != newest.guid || receiver.newest_snapshot()?.guid != newest.guid {
        return None;
    }
    Some(SyncRecord {
        sender_guid: sender.guid.0,
        sender_changed,
        receiver_guid: receiver.guid.0,
        receiver_changed,
        snapshot_guid: newest.guid.0,
        snapshot_createtxg: newest.createtxg,
        snapshot_creation: creation,
        snapshot: newest.short.clone(),
        recorded_at: now,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::zfs::names::DatasetName;

    fn snap(short: &str, guid: u64, txg: u64) -> Version {
        Version {
            kind: VersionKind::Snapshot,
            short: short.into(),
            guid: Guid(guid),
            createtxg: txg,
            userrefs: Some(1),
            creation: None,
        }
    }

    fn fs(name: &str, guid: u64, changed: Option<u64>, versions: Vec<Version>) -> FsEntry {
        FsEntry {
            guid: Guid(guid),
            snapshots_changed: changed,
            versions,
            ..FsEntry::named(DatasetName::new(name).unwrap())
        }
    }

    fn pair() -> (FsEntry, FsEntry) {
        let s = fs("p/a", 11, Some(1000), vec![snap("s1", 5, 3), snap("s 2", 6, 4)]);
        let r = fs("b/p/a", 22, Some(1005), vec![snap("s1", 5, 9), snap("s 2", 6, 12)]);
        (s, r)
    }

    const AT: ListedAt = ListedAt {
        sender: 1001,
        receiver: 1006,
    };

    #[test]
    fn round_trips_and_matches_unchanged_sides() {
        let (s, r) = pair();
        let rec = record_for(&s, &r, AT, &s.versions[1], 900, 2000).unwrap();
        assert_eq!(rec.snapshot, "s 2");
        assert_eq!(rec.snapshot_createtxg, 4, "the sender's createtxg");
        let value = rec.to_value();
        assert!(value.starts_with("v1 11 1000 22 1005 6 4 900 2000 "), "{value}");
        let back = SyncRecord::parse(&value).unwrap();
        assert_eq!(back, rec);
        assert!(back.holds_for(&s, &r, 2000));
        assert!(back.holds_for(&s, &r, 2000 + RECHECK_AFTER_SECONDS - 1));
        let v = back.snapshot_version();
        assert_eq!(
            (v.guid, v.createtxg, v.creation, v.userrefs),
            (Guid(6), 4, Some(900), None)
        );
    }

    #[test]
    fn any_change_breaks_the_match() {
        let (s, r) = pair();
        let rec = record_for(&s, &r, AT, &s.versions[1], 900, 2000).unwrap();
        let mut cases: Vec<(FsEntry, FsEntry, u64, &str)> = Vec::new();
        let mut s2 = s.clone();
        s2.snapshots_changed = Some(1002);
        cases.push((s2, r.clone(), 2000, "sender snapshots changed"));
        let mut r2 = r.clone();
        r2.snapshots_changed = Some(1007);
        cases.push((s.clone(), r2, 2000, "receiver snapshots changed"));
        let mut s3 = s.clone();
        s3.guid = Guid(99);
        cases.push((s3, r.clone(), 2000, "another sender dataset (or an inherited record)"));
        let mut r3 = r.clone();
        r3.guid = Guid(98);
        cases.push((s.clone(), r3, 2000, "another receiver dataset"));
        let mut r4 = r.clone();
        r4.resume_token = Some("1-abc".into());
        cases.push((s.clone(), r4, 2000, "a partial receive"));
        let mut s5 = s.clone();
        s5.snapshots_changed = None;
        cases.push((s5, r.clone(), 2000, "snapshots_changed unknown"));
        cases.push((s.clone(), r.clone(), 2000 + RECHECK_AFTER_SECONDS, "too old"));
        cases.push((s.clone(), r.clone(), 1999, "clock went back"));
        for (s, r, now, why) in cases {
            assert!(!rec.holds_for(&s, &r, now), "{why}");
        }
    }

    #[test]
    fn values_from_the_listing_second_are_not_recorded() {
        let (s, r) = pair();
        let same_second = ListedAt {
            sender: 1000,
            receiver: 1006,
        };
        assert!(record_for(&s, &r, same_second, &s.versions[1], 900, 2000).is_none());
        let same_second = ListedAt {
            sender: 1001,
            receiver: 1005,
        };
        assert!(record_for(&s, &r, same_second, &s.versions[1], 900, 2000).is_none());
        let mut unknown = r.clone();
        unknown.snapshots_changed = None;
        assert!(record_for(&s, &unknown, AT, &s.versions[1], 900, 2000).is_none());
        // Only the newest snapshot of both sides can be recorded.
        assert!(record_for(&s, &r, AT, &s.versions[0], 900, 2000).is_none());
        let mut behind = r.clone();
        behind.versions.pop();
        assert!(record_for(&s, &behind, AT, &s.versions[1], 900, 2000).is_none());
    }

    #[test]
    fn rejects_malformed_values() {
        for v in [
            "",
            "v1",
            "v2 1 2 3 4 5 6 7 8 s",
            "v1 1 2 3 4 5 6 7 8",
            "v1 1 2 3 4 5 6 7 x s",
            "v1 1 2 3 4 5 6 7 -8 s",
            "v1 1 2 3 4 5 6 7 8 a@b",
            "v1 1 2 3 4 5 6 7 8 ",
            "v1 18446744073709551616 2 3 4 5 6 7 8 s",
        ] {
            assert!(SyncRecord::parse(v).is_none(), "{v:?}");
        }
        let max = SyncRecord::parse("v1 18446744073709551615 2 3 4 5 6 7 8 s").unwrap();
        assert_eq!(max.sender_guid, u64::MAX);
    }
}
