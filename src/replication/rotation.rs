//! `replicate --rotate`: before an attempt's transfers, each filesystem whose copy diverged from it (or
//! shares nothing with it) is set aside on the receiver instead of being refused, and a new chain starts
//! from the newest snapshot both still have, or from a full send. Nothing is destroyed; the run's report
//! names where each copy went.

use std::collections::BTreeMap;

use crate::config::Job;
use crate::endpoint::{Receiver, Sender};
use crate::plan::{ConflictKind, FsPlan};
use crate::survey::{FsSurvey, Survey, SurveyError};

use super::options::Options;

/// The attempt's survey: with `--rotate` (not a dry run), taken again after diverged copies were set
/// aside; with the sender filesystems rotated and where each copy went.
pub(super) fn survey(
    job: &Job,
    opts: &Options,
    zfs: &dyn Sender,
    conn: &mut dyn Receiver,
) -> Result<(Survey, BTreeMap<String, String>), SurveyError> {
    let survey = crate::survey::survey(job, zfs, conn)?;
    if !opts.rotate || opts.dry_run {
        return Ok((survey, BTreeMap::new()));
    }
    let rotated = rotate_diverged(conn, &survey.filesystems)?;
    if rotated.is_empty() {
        return Ok((survey, rotated));
    }
    Ok((crate::survey::survey(job, zfs, conn)?, rotated))
}
use crate::zfs::list::FsEntry;

/// Rotates every diverged copy of `work` (parents first, each once: a child's copy moved with its parent
/// is looked at again by the next survey); returns the sender filesystems rotated, each with where its
/// copy went (the receiver's full name).
fn rotate_diverged(conn: &mut dyn Receiver, work: &[FsSurvey]) -> Result<BTreeMap<String, String>, SurveyError> {
    let mut rotated = BTreeMap::new();
    for w in work {
        let diverged = matches!(
            &w.plan,
            FsPlan::Conflict {
                kind: ConflictKind::Diverged | ConflictKind::NoCommonAncestor,
                ..
            }
        );
        let (true, Some(recv)) = (diverged, &w.receiver) else {
            continue;
        };
        let common = newest_common(&w.sender, recv);
        let reply = conn.rotate(&w.rel, common)?;
        let root = w.target.as_str().strip_suffix(&w.rel).unwrap_or_default();
        rotated.insert(w.sender.name.to_string(), format!("{root}{}", reply.rotated_to));
    }
    Ok(rotated)
}

/// The GUID of the receiver's newest snapshot that the sender has as a snapshot or bookmark.
pub(super) fn newest_common(sender: &FsEntry, receiver: &FsEntry) -> Option<u64> {
    receiver
        .snapshots()
        .filter(|r| sender.versions.iter().any(|s| s.guid == r.guid))
        .max_by_key(|r| r.createtxg)
        .map(|r| r.guid.0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::zfs::names::DatasetName;
    use crate::zfs::{Guid, Version, VersionKind};

    fn v(kind: VersionKind, short: &str, guid: u64, txg: u64) -> Version {
        Version {
            kind,
            short: short.into(),
            guid: Guid(guid),
            createtxg: txg,
            userrefs: None,
            creation: None,
        }
    }

    #[test]
    fn the_new_chain_starts_at_the_newest_snapshot_both_sides_have() {
        use VersionKind::{Bookmark, Snapshot};
        let mut s = FsEntry::named(DatasetName::new("tank/a").unwrap());
        s.versions = vec![
            v(Snapshot, "s1", 1, 10),
            v(Bookmark, "c2", 2, 20),
            v(Snapshot, "s4", 4, 40),
        ];
        let mut r = FsEntry::named(DatasetName::new("b/tank/a").unwrap());
        r.versions = vec![
            v(Snapshot, "s1", 1, 5),
            v(Snapshot, "s2", 2, 6),
            v(Snapshot, "mine", 9, 7),
        ];
        assert_eq!(newest_common(&s, &r), Some(2), "a bookmark on the sender counts");
        r.versions = vec![v(Snapshot, "other", 7, 5)];
        assert_eq!(newest_common(&s, &r), None);
    }
}
