//! What a restore changes in the plan of a job run the other way: no snapshot newer than the one asked
//! for, and no full send unless allowed.

use crate::zfs::list::FsEntry;

use super::{ConflictKind, FsPlan};

/// `fs` without the snapshots and bookmarks newer than its snapshot `until`; `None` when it has no such
/// snapshot (it is then left as it is).
pub fn cut_at(fs: &FsEntry, until: &str) -> Option<FsEntry> {
    let at = fs.snapshots().find(|s| s.short == until)?.createtxg;
    let mut cut = fs.clone();
    cut.versions.retain(|v| v.createtxg <= at);
    Some(cut)
}

/// `plan`, or a conflict when it starts with a full send that was not allowed.
pub fn refuse_full(plan: FsPlan, allow_full: bool, fs: &str, target: &str) -> FsPlan {
    let full = plan
        .steps()
        .first()
        .is_some_and(|s| s.from.is_none() && s.resume_token.is_none());
    if allow_full || !full {
        return plan;
    }
    FsPlan::Conflict {
        kind: ConflictKind::FullRefused,
        reason: format!(
            "{target} shares no snapshot or bookmark with {fs}, so bringing it back needs a full send of {fs}; \
             run again with --allow-full (or restore --to a dataset that has a common snapshot)"
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::Step;
    use crate::zfs::names::DatasetName;
    use crate::zfs::{Guid, Version, VersionKind};

    fn snap(short: &str, txg: u64) -> Version {
        Version {
            kind: VersionKind::Snapshot,
            short: short.into(),
            guid: Guid(txg * 7),
            createtxg: txg,
            userrefs: None,
            creation: None,
        }
    }

    #[test]
    fn a_filesystem_is_cut_after_the_named_snapshot_and_left_whole_without_it() {
        let mut fs = FsEntry::named(DatasetName::new("b/tank/data").unwrap());
        fs.versions = vec![snap("s1", 10), snap("s2", 20), snap("s3", 30)];
        let cut = cut_at(&fs, "s2").unwrap();
        let names: Vec<&str> = cut.versions.iter().map(|v| v.short.as_str()).collect();
        assert_eq!(names, ["s1", "s2"]);
        assert!(cut_at(&fs, "s9").is_none());
    }

    #[test]
    fn only_a_full_first_step_is_refused_unless_allowed() {
        let step = |from: Option<Version>| Step {
            from,
            to: snap("s2", 20),
            intermediates: Vec::new(),
            resume_token: None,
        };
        let plan = |from| FsPlan::Replicate {
            steps: vec![step(from)],
            abort_stale_token: false,
            replace_placeholder: false,
        };
        let refused = refuse_full(plan(None), false, "b/tank/data", "tank/data");
        assert!(
            matches!(&refused, FsPlan::Conflict { kind: ConflictKind::FullRefused, reason } if reason.contains("--allow-full")),
            "{refused:?}"
        );
        assert_eq!(refuse_full(plan(None), true, "b/x", "x"), plan(None));
        assert_eq!(
            refuse_full(plan(Some(snap("s1", 10))), false, "b/x", "x"),
            plan(Some(snap("s1", 10)))
        );
        assert_eq!(refuse_full(FsPlan::UpToDate, false, "b/x", "x"), FsPlan::UpToDate);
    }
}
