//! Planner unit tests: one scenario per case, on synthetic listings.

use super::*;
use crate::zfs::list::DatasetKind;
use crate::zfs::names::DatasetName;
use crate::zfs::VersionKind;

fn snap(short: &str, guid: u64, txg: u64) -> Version {
    Version {
        kind: VersionKind::Snapshot,
        short: short.into(),
        guid: Guid(guid),
        createtxg: txg,
        userrefs: Some(0),
        creation: None,
    }
}
fn bmark(short: &str, guid: u64, txg: u64) -> Version {
    Version {
        kind: VersionKind::Bookmark,
        short: short.into(),
        guid: Guid(guid),
        createtxg: txg,
        userrefs: None,
        creation: None,
    }
}
fn fs(name: &str, versions: Vec<Version>) -> FsEntry {
    FsEntry {
        name: DatasetName::new(name).unwrap(),
        kind: DatasetKind::Filesystem,
        guid: Guid(7),
        createtxg: 1,
        resume_token: None,
        encryption: None,
        placeholder_prop: false,
        snapshots_changed: None,
        sync_record: None,
        versions,
    }
}
fn policy() -> Policy {
    Policy {
        initial: InitialReplication::MostRecent,
        encrypted: false,
        raw: false,
        snapshots: SnapshotFilter::default(),
    }
}
fn shorts(plan: &FsPlan) -> Vec<(Option<String>, String, bool)> {
    plan.steps()
        .iter()
        .map(|s| {
            (
                s.from.as_ref().map(Version::relative_name),
                s.to.relative_name(),
                s.resume_token.is_some(),
            )
        })
        .collect()
}
fn intermediates(plan: &FsPlan) -> Vec<Vec<String>> {
    plan.steps()
        .iter()
        .map(|s| s.intermediates.iter().map(Version::relative_name).collect())
        .collect()
}
fn step(from: Option<&str>, to: &str) -> (Option<String>, String, bool) {
    (from.map(str::to_string), to.to_string(), false)
}
fn token(toname: &str, toguid: u64, fromguid: Option<u64>, rawok: bool) -> TokenState {
    TokenState::Decoded {
        token: "1-abc".into(),
        decoded: ResumeToken {
            fromguid: fromguid.map(Guid),
            toguid: Guid(toguid),
            toname: toname.into(),
            bytes: 10,
            rawok,
            compressok: false,
            embedok: false,
            largeblockok: false,
            savedok: false,
        },
    }
}
fn conflict_kind(plan: &FsPlan) -> ConflictKind {
    match plan {
        FsPlan::Conflict { kind, .. } => *kind,
        other => panic!("expected a conflict, got {other:?}"),
    }
}
fn reason(plan: &FsPlan) -> &str {
    match plan {
        FsPlan::Conflict { reason, .. } => reason,
        other => panic!("expected a conflict, got {other:?}"),
    }
}

#[test]
fn initial_most_recent_sends_the_newest_snapshot_in_full() {
    let s = fs("p/a", vec![snap("s1", 1, 10), snap("s2", 2, 20), snap("s3", 3, 30)]);
    let plan = plan_filesystem(&s, None, &TokenState::None, &policy());
    assert_eq!(shorts(&plan), [step(None, "@s3")]);
}

#[test]
fn initial_all_sends_the_oldest_in_full_then_the_rest_in_one_i_stream() {
    let s = fs("p/a", vec![snap("s1", 1, 10), snap("s2", 2, 20), snap("s3", 3, 30)]);
    let p = Policy {
        initial: InitialReplication::All,
        ..policy()
    };
    let plan = plan_filesystem(&s, None, &TokenState::None, &p);
    assert_eq!(shorts(&plan), [step(None, "@s1"), step(Some("@s1"), "@s3")]);
    assert_eq!(intermediates(&plan), [vec![], vec!["@s2".to_string()]]);
}

#[test]
fn initial_fail_policy_is_a_conflict_naming_the_snapshots() {
    let s = fs("p/a", vec![snap("s1", 1, 10), snap("s2", 2, 20)]);
    let p = Policy {
        initial: InitialReplication::Fail,
        ..policy()
    };
    let plan = plan_filesystem(&s, None, &TokenState::None, &p);
    assert_eq!(conflict_kind(&plan), ConflictKind::InitialReplicationRefused);
    assert!(
        reason(&plan).contains("@s1") && reason(&plan).contains("@s2"),
        "{}",
        reason(&plan)
    );
}

#[test]
fn incremental_over_several_snapshots_matches_by_guid_not_name() {
    let s = fs(
        "p/a",
        vec![
            snap("s1", 1, 10),
            snap("s2", 2, 20),
            snap("s3", 3, 30),
            snap("s4", 4, 40),
        ],
    );
    // The receiver's copy of s2 has another name but the same GUID (renamed); GUID decides.
    let r = fs("b/p/a", vec![snap("s1", 1, 5), snap("renamed", 2, 6)]);
    let plan = plan_filesystem(&s, Some(&r), &TokenState::None, &policy());
    assert_eq!(shorts(&plan), [step(Some("@s2"), "@s4")]);
    assert_eq!(intermediates(&plan), [vec!["@s3".to_string()]]);
    assert_eq!(plan.steps()[0].snapshot_count(), 2);
}

#[test]
fn a_bookmark_source_gets_an_i_step_before_the_i_stream() {
    // -I needs a snapshot as source: from the cursor bookmark, first -i to s3, then -I s3 → s5.
    let s = fs(
        "p/a",
        vec![
            bmark("c", 2, 20),
            snap("s3", 3, 30),
            snap("s4", 4, 40),
            snap("s5", 5, 50),
        ],
    );
    let r = fs("b/p/a", vec![snap("s2", 2, 6)]);
    let plan = plan_filesystem(&s, Some(&r), &TokenState::None, &policy());
    assert_eq!(shorts(&plan), [step(Some("#c"), "@s3"), step(Some("@s3"), "@s5")]);
    assert_eq!(intermediates(&plan), [vec![], vec!["@s4".to_string()]]);
}

#[test]
fn same_name_different_guid_is_not_a_match() {
    let s = fs("p/a", vec![snap("s1", 1, 10), snap("s2", 2, 20)]);
    let r = fs("b/p/a", vec![snap("s1", 1, 5), snap("s2", 99, 6)]);
    let plan = plan_filesystem(&s, Some(&r), &TokenState::None, &policy());
    assert_eq!(conflict_kind(&plan), ConflictKind::Diverged);
    assert!(
        reason(&plan).contains("@s2") && reason(&plan).contains("99") && reason(&plan).contains("@s1"),
        "{}",
        reason(&plan)
    );
}

#[test]
fn up_to_date_when_receiver_has_the_newest() {
    let s = fs("p/a", vec![snap("s1", 1, 10), snap("s2", 2, 20)]);
    let r = fs("b/p/a", vec![snap("s1", 1, 5), snap("s2", 2, 6)]);
    assert_eq!(
        plan_filesystem(&s, Some(&r), &TokenState::None, &policy()),
        FsPlan::UpToDate
    );
}

#[test]
fn cursor_bookmark_is_a_valid_incremental_source() {
    // The sender destroyed s2 but kept its cursor bookmark.
    let s = fs(
        "p/a",
        vec![bmark("zrepl_CURSOR_G_0000000000000002_J_j", 2, 20), snap("s3", 3, 30)],
    );
    let r = fs("b/p/a", vec![snap("s2", 2, 6)]);
    let plan = plan_filesystem(&s, Some(&r), &TokenState::None, &policy());
    assert_eq!(
        shorts(&plan),
        [step(Some("#zrepl_CURSOR_G_0000000000000002_J_j"), "@s3")]
    );
}

#[test]
fn snapshot_is_preferred_over_its_bookmark_as_source() {
    let s = fs("p/a", vec![snap("s2", 2, 20), bmark("c", 2, 20), snap("s3", 3, 30)]);
    let r = fs("b/p/a", vec![snap("s2", 2, 6)]);
    let plan = plan_filesystem(&s, Some(&r), &TokenState::None, &policy());
    assert_eq!(shorts(&plan), [step(Some("@s2"), "@s3")]);
}

#[test]
fn receiver_bookmarks_are_ignored() {
    let s = fs("p/a", vec![snap("s1", 1, 10), snap("s2", 2, 20)]);
    // The receiver only has a bookmark of s2 and snapshot s1: the base is s1.
    let r = fs("b/p/a", vec![snap("s1", 1, 5), bmark("s2", 2, 6)]);
    let plan = plan_filesystem(&s, Some(&r), &TokenState::None, &policy());
    assert_eq!(shorts(&plan), [step(Some("@s1"), "@s2")]);
}

#[test]
fn no_common_ancestor_names_both_sides() {
    let s = fs("p/a", vec![snap("s1", 1, 10), snap("s2", 2, 20)]);
    let r = fs("b/p/a", vec![snap("x1", 11, 5), snap("x2", 12, 6)]);
    let plan = plan_filesystem(&s, Some(&r), &TokenState::None, &policy());
    assert_eq!(conflict_kind(&plan), ConflictKind::NoCommonAncestor);
    let why = reason(&plan);
    assert!(
        why.contains("@x1") && why.contains("@x2") && why.contains("@s1") && why.contains("@s2"),
        "{why}"
    );
}

#[test]
fn no_sender_snapshots_is_a_conflict() {
    let s = fs("p/a", vec![]);
    assert_eq!(
        conflict_kind(&plan_filesystem(&s, None, &TokenState::None, &policy())),
        ConflictKind::NoSenderSnapshots
    );
    let r = fs("b/p/a", vec![snap("s1", 1, 5)]);
    assert_eq!(
        conflict_kind(&plan_filesystem(&s, Some(&r), &TokenState::None, &policy())),
        ConflictKind::NoSenderSnapshots
    );
}

#[test]
fn sender_with_only_the_cursor_and_nothing_new_is_up_to_date() {
    let s = fs("p/a", vec![bmark("c", 2, 20)]);
    let r = fs("b/p/a", vec![snap("s2", 2, 6)]);
    assert_eq!(
        plan_filesystem(&s, Some(&r), &TokenState::None, &policy()),
        FsPlan::UpToDate
    );
}

#[test]
fn placeholder_receiver_is_replaced_by_the_full_send() {
    let s = fs("p/a", vec![snap("s1", 1, 10)]);
    let mut r = fs("b/p/a", vec![]);
    r.placeholder_prop = true;
    let plan = plan_filesystem(&s, Some(&r), &TokenState::None, &policy());
    assert!(
        matches!(
            plan,
            FsPlan::Replicate {
                replace_placeholder: true,
                ..
            }
        ),
        "{plan:?}"
    );
    assert_eq!(shorts(&plan), [step(None, "@s1")]);
}

#[test]
fn empty_non_placeholder_receiver_is_not_overwritten() {
    let s = fs("p/a", vec![snap("s1", 1, 10)]);
    let r = fs("b/p/a", vec![]);
    assert_eq!(
        conflict_kind(&plan_filesystem(&s, Some(&r), &TokenState::None, &policy())),
        ConflictKind::ReceiverNotEmpty
    );
}

#[test]
fn encrypted_policy_refuses_plain_datasets() {
    let s = fs("p/a", vec![snap("s1", 1, 10)]);
    let p = Policy {
        encrypted: true,
        raw: true,
        ..policy()
    };
    assert_eq!(
        conflict_kind(&plan_filesystem(&s, None, &TokenState::None, &p)),
        ConflictKind::NotEncrypted
    );
    let mut e = s.clone();
    e.encryption = Some("aes-256-gcm".into());
    assert_eq!(
        shorts(&plan_filesystem(&e, None, &TokenState::None, &p)),
        [step(None, "@s1")]
    );
}

#[test]
fn valid_incremental_token_resumes_then_continues() {
    let s = fs("p/a", vec![snap("s1", 1, 10), snap("s2", 2, 20), snap("s3", 3, 30)]);
    let mut r = fs("b/p/a", vec![snap("s1", 1, 5)]);
    r.resume_token = Some("1-abc".into());
    let plan = plan_filesystem(&s, Some(&r), &token("p/a@s2", 2, Some(1), false), &policy());
    assert_eq!(
        shorts(&plan),
        [(Some("@s1".into()), "@s2".into(), true), step(Some("@s2"), "@s3")]
    );
}

#[test]
fn valid_full_token_resumes_the_initial_send() {
    let s = fs("p/a", vec![snap("s1", 1, 10), snap("s2", 2, 20)]);
    let mut r = fs("b/p/a", vec![]);
    r.resume_token = Some("1-abc".into());
    // The interrupted run sent s1 in full; s2 appeared since. Resume s1, then s1 → s2.
    let plan = plan_filesystem(&s, Some(&r), &token("p/a@s1", 1, None, false), &policy());
    assert_eq!(shorts(&plan), [(None, "@s1".into(), true), step(Some("@s1"), "@s2")]);
}

#[test]
fn stale_token_is_aborted_and_the_run_proceeds() {
    let s = fs("p/a", vec![snap("s1", 1, 10), snap("s3", 3, 30)]);
    let mut r = fs("b/p/a", vec![snap("s1", 1, 5)]);
    r.resume_token = Some("1-abc".into());
    // The token's snapshot s2 (GUID 2) was destroyed on the sender.
    let plan = plan_filesystem(&s, Some(&r), &token("p/a@s2", 2, Some(1), false), &policy());
    assert!(
        matches!(
            plan,
            FsPlan::Replicate {
                abort_stale_token: true,
                ..
            }
        ),
        "{plan:?}"
    );
    assert_eq!(shorts(&plan), [step(Some("@s1"), "@s3")]);
}

#[test]
fn stale_token_with_nothing_else_to_send_still_aborts() {
    let s = fs("p/a", vec![snap("s1", 1, 10)]);
    let mut r = fs("b/p/a", vec![snap("s1", 1, 5)]);
    r.resume_token = Some("1-abc".into());
    let plan = plan_filesystem(&s, Some(&r), &token("p/a@s2", 2, Some(1), false), &policy());
    assert_eq!(
        plan,
        FsPlan::Replicate {
            steps: vec![],
            abort_stale_token: true,
            replace_placeholder: false
        }
    );
}

#[test]
fn forged_tokens_are_refused() {
    let s = fs("p/a", vec![snap("s0", 9, 5), snap("s1", 1, 10), snap("s2", 2, 20)]);
    let r = fs("b/p/a", vec![snap("s1", 1, 5)]);
    let cases = [
        ("toname", token("p/other@s2", 2, Some(1), false)),
        ("toname short", token("p/a@evil", 2, Some(1), false)),
        ("toguid not newer", token("p/a@s0", 9, Some(1), false)),
        ("fromguid", token("p/a@s2", 2, Some(9), false)),
        ("fromguid full", token("p/a@s2", 2, None, false)),
        ("rawok", token("p/a@s2", 2, Some(1), true)),
        ("not a snapshot", token("p/a", 2, Some(1), false)),
    ];
    for (what, t) in cases {
        let plan = plan_filesystem(&s, Some(&r), &t, &policy());
        assert_eq!(
            conflict_kind(&plan),
            ConflictKind::ResumeTokenMismatch,
            "{what}: {plan:?}"
        );
        assert!(reason(&plan).contains("zfs receive -A"), "{what}: {}", reason(&plan));
    }
}

#[test]
fn raw_token_is_accepted_for_a_raw_job() {
    let mut s = fs("p/a", vec![snap("s1", 1, 10), snap("s2", 2, 20)]);
    s.encryption = Some("aes-256-gcm".into());
    let r = fs("b/p/a", vec![snap("s1", 1, 5)]);
    let p = Policy {
        encrypted: true,
        raw: true,
        ..policy()
    };
    let plan = plan_filesystem(&s, Some(&r), &token("p/a@s2", 2, Some(1), true), &p);
    assert_eq!(shorts(&plan), [(Some("@s1".into()), "@s2".into(), true)]);
}

/// `send.raw = true` on an unencrypted filesystem: `zfs send -w` makes a token without `rawok`, and the job
/// must resume it (it used to be refused as "made for a non-raw send", so the transfer never resumed). A
/// token that claims `rawok` there, and a non-raw token of an encrypted filesystem under a raw job, are
/// still refused.
#[test]
fn raw_job_resumes_its_own_token_of_an_unencrypted_filesystem() {
    let s = fs("p/a", vec![snap("s1", 1, 10), snap("s2", 2, 20)]);
    let r = fs("b/p/a", vec![snap("s1", 1, 5)]);
    let p = Policy { raw: true, ..policy() };
    let plan = plan_filesystem(&s, Some(&r), &token("p/a@s2", 2, Some(1), false), &p);
    assert_eq!(shorts(&plan), [(Some("@s1".into()), "@s2".into(), true)]);
    let forged = plan_filesystem(&s, Some(&r), &token("p/a@s2", 2, Some(1), true), &p);
    assert_eq!(conflict_kind(&forged), ConflictKind::ResumeTokenMismatch);
    let mut enc = s.clone();
    enc.encryption = Some("aes-256-gcm".into());
    let plain = plan_filesystem(&enc, Some(&r), &token("p/a@s2", 2, Some(1), false), &p);
    assert_eq!(conflict_kind(&plain), ConflictKind::ResumeTokenMismatch);
    assert!(reason(&plain).contains("non-raw"), "{}", reason(&plain));
}

#[test]
fn undecodable_token_is_a_conflict() {
    let s = fs("p/a", vec![snap("s1", 1, 10)]);
    let t = TokenState::Undecodable {
        token: "1-x".into(),
        message: "bad checksum".into(),
    };
    let plan = plan_filesystem(&s, None, &t, &policy());
    assert_eq!(conflict_kind(&plan), ConflictKind::ResumeTokenUndecodable);
    assert!(reason(&plan).contains("bad checksum"));
}

#[test]
fn planning_is_deterministic() {
    let s = fs(
        "p/a",
        vec![
            snap("s1", 1, 10),
            snap("s2", 2, 20),
            bmark("b", 2, 20),
            snap("s3", 3, 30),
        ],
    );
    let r = fs("b/p/a", vec![snap("s1", 1, 5)]);
    let a = plan_filesystem(&s, Some(&r), &TokenState::None, &policy());
    let b = plan_filesystem(&s, Some(&r), &TokenState::None, &policy());
    assert_eq!(a, b);
}

#[test]
fn diverged_is_found_through_a_sender_bookmark() {
    // The common ancestor s1 survives on the sender only as a bookmark; the receiver has a rogue snapshot.
    let s = fs("p/a", vec![bmark("c", 1, 10), snap("s2", 2, 20)]);
    let r = fs("b/p/a", vec![snap("s1", 1, 5), snap("rogue", 77, 6)]);
    let plan = plan_filesystem(&s, Some(&r), &TokenState::None, &policy());
    assert_eq!(conflict_kind(&plan), ConflictKind::Diverged, "{plan:?}");
    assert!(reason(&plan).contains("@rogue"), "{}", reason(&plan));
}

#[test]
fn partial_initial_send_is_not_resumed_under_policy_fail() {
    let s = fs("p/a", vec![snap("s1", 1, 10)]);
    let mut r = fs("b/p/a", vec![]);
    r.resume_token = Some("1-abc".into());
    let p = Policy {
        initial: InitialReplication::Fail,
        ..policy()
    };
    let plan = plan_filesystem(&s, Some(&r), &token("p/a@s1", 1, None, false), &p);
    assert_eq!(
        conflict_kind(&plan),
        ConflictKind::InitialReplicationRefused,
        "{plan:?}"
    );
}

fn only(include: &[&str], exclude: &[&str]) -> Policy {
    Policy {
        snapshots: SnapshotFilter::new(include, exclude).unwrap(),
        ..policy()
    }
}

/// With a snapshot filter, no step ever delivers a snapshot it does not select: `-I` runs stop before a
/// snapshot the filter leaves out, and `-i` steps cross it.
#[test]
fn a_snapshot_filter_keeps_unselected_snapshots_out_of_every_step() {
    let s = fs(
        "p/a",
        vec![
            snap("zrepl_1", 1, 10),
            snap("zrepl_2", 2, 20),
            snap("tmp_3", 3, 30),
            snap("zrepl_4", 4, 40),
            snap("zrepl_5", 5, 50),
            snap("zrepl_6", 6, 60),
            snap("tmp_7", 7, 70),
        ],
    );
    let r = fs("b/a", vec![snap("zrepl_1", 1, 10)]);
    let p = only(&["^zrepl_"], &[]);
    let plan = plan_filesystem(&s, Some(&r), &TokenState::None, &p);
    assert_eq!(
        shorts(&plan),
        [
            step(Some("@zrepl_1"), "@zrepl_2"),
            step(Some("@zrepl_2"), "@zrepl_4"),
            step(Some("@zrepl_4"), "@zrepl_6"),
        ]
    );
    assert_eq!(intermediates(&plan), [vec![], vec![], vec!["@zrepl_5".to_string()]]);
    for st in plan.steps() {
        assert!(st.to.short.starts_with("zrepl_"));
        assert!(st.intermediates.iter().all(|v| v.short.starts_with("zrepl_")));
    }
    // Without a filter the same history is one -I stream carrying everything.
    let plan = plan_filesystem(&s, Some(&r), &TokenState::None, &policy());
    assert_eq!(shorts(&plan), [step(Some("@zrepl_1"), "@tmp_7")]);
}

#[test]
fn a_snapshot_filter_chooses_the_initial_snapshot_and_says_when_none_matches() {
    let s = fs(
        "p/a",
        vec![snap("zrepl_1", 1, 10), snap("zrepl_2", 2, 20), snap("manual", 3, 30)],
    );
    let plan = plan_filesystem(&s, None, &TokenState::None, &only(&[], &["^manual$"]));
    assert_eq!(
        shorts(&plan),
        [step(None, "@zrepl_2")],
        "the newest selected, not the newest"
    );
    let all = Policy {
        initial: InitialReplication::All,
        ..only(&["^zrepl_"], &[])
    };
    let plan = plan_filesystem(&s, None, &TokenState::None, &all);
    assert_eq!(
        shorts(&plan),
        [step(None, "@zrepl_1"), step(Some("@zrepl_1"), "@zrepl_2")]
    );
    let plan = plan_filesystem(&s, None, &TokenState::None, &only(&["^autosnap_"], &[]));
    assert_eq!(conflict_kind(&plan), ConflictKind::NoSenderSnapshots);
    assert!(reason(&plan).contains("[jobs.snapshots]"), "{}", reason(&plan));
    // Up to date when only unselected snapshots are new.
    let r = fs("b/a", vec![snap("zrepl_2", 2, 20)]);
    let plan = plan_filesystem(&s, Some(&r), &TokenState::None, &only(&["^zrepl_"], &[]));
    assert_eq!(plan, FsPlan::UpToDate);
}
