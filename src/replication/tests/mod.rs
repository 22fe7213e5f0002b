//! The driver against in-memory endpoints ([`memory`]): retries after a connection error, a failing
//! filesystem among good ones, the children of a failed parent, a resumed step, and four workers that start
//! children only after their parents.

mod memory;

use camino::Utf8Path;

use crate::agent::client::AgentError;
use crate::config::{Config, Job};
use crate::report::{AttemptOutcome, FsResult, RunReport, RunResult};

use self::memory::{dn, MemEndpoints, World, RECEIVER_ROOT};
use super::Options;

fn job(extra: &str) -> (Config, Job) {
    let text = format!(
        "[[jobs]]\nname = \"j\"\ntarget = \"local:{RECEIVER_ROOT}\"\nretries = 2\n{extra}\n\
         [jobs.filesystems]\n\"tank<\" = true\n\"pool<\" = true\n"
    );
    let mut config = Config::parse(Utf8Path::new("/etc/zreplrs/zreplrs.toml"), &text).expect("a valid job");
    let job = config.jobs.remove(0);
    (config, job)
}

fn run(world: &World, extra: &str) -> RunReport {
    let (config, job) = job(extra);
    let locks = tempfile::tempdir().expect("a temporary directory");
    let opts = Options {
        lock_dir: Some(camino::Utf8PathBuf::try_from(locks.path().to_path_buf()).expect("a UTF-8 path")),
        quiet: true,
        ..Options::default()
    };
    super::driver::run_with(&config, &job, &opts, &MemEndpoints(world.clone()), &mut |_| {}).expect("not locked")
}

fn fs<'a>(r: &'a RunReport, name: &str) -> &'a crate::report::FsReport {
    r.filesystems
        .iter()
        .find(|f| f.name == name)
        .unwrap_or_else(|| panic!("{name} is in the report: {r:?}"))
}

fn fault(world: &World, path: &str, e: AgentError) {
    world
        .state()
        .receive_faults
        .entry(path.into())
        .or_default()
        .push_back(e);
}

fn remote(message: &str) -> AgentError {
    AgentError::Remote {
        kind: crate::error::ErrorKind::ZfsOther,
        message: message.into(),
    }
}

/// The newest snapshot the receiver has of `name` is the sender's newest.
fn caught_up(world: &World, name: &str) -> bool {
    world.received(name).last() == world.sent(name).last()
}

#[test]
fn a_connection_lost_during_a_transfer_is_retried_and_the_run_completes() {
    let world = World::default();
    world.sender_fs("tank", &["s1"]);
    world.sender_fs("tank/a", &["s1", "s2"]);
    fault(&world, "tank/a", AgentError::Connection("reset by peer".into()));
    let r = run(&world, "");
    let outcomes: Vec<AttemptOutcome> = r.attempts.iter().map(|a| a.outcome).collect();
    assert_eq!(
        outcomes,
        [AttemptOutcome::ConnectivityError, AttemptOutcome::Completed],
        "{r:?}"
    );
    assert_eq!(r.result, RunResult::Ok, "{r:?}");
    assert!(caught_up(&world, "tank/a") && caught_up(&world, "tank"));
    assert!(
        world.log().iter().filter(|l| *l == "connect").count() >= 2,
        "reconnected"
    );
    // Protection after the run: no step hold left, the cursor on the newest snapshot.
    let s = world.state();
    assert!(s.holds.is_empty(), "step holds released: {:?}", s.holds);
    let a = &s.sender[&dn("tank/a")];
    let newest = a.newest_snapshot().map(|v| v.guid);
    assert_eq!(a.bookmarks().map(|b| Some(b.guid)).collect::<Vec<_>>(), [newest]);
}

#[test]
fn a_filesystem_that_fails_leaves_the_others_replicated_and_is_not_retried() {
    let world = World::default();
    for name in ["tank", "tank/a", "tank/b", "tank/c"] {
        world.sender_fs(name, &["s1"]);
    }
    fault(&world, "tank/b", remote("out of space"));
    let r = run(&world, "concurrency = 1");
    assert_eq!(r.result, RunResult::Partial, "{r:?}");
    assert_eq!(
        r.attempts.len(),
        1,
        "an error of the receiver is not a connection problem"
    );
    assert_eq!(fs(&r, "tank/b").result, FsResult::Failed);
    assert!(fs(&r, "tank/b")
        .error
        .as_ref()
        .is_some_and(|e| e.message.contains("out of space")));
    for good in ["tank", "tank/a", "tank/c"] {
        assert_eq!(fs(&r, good).result, FsResult::Ok, "{good}: {r:?}");
        assert!(caught_up(&world, good), "{good}");
    }
    assert!(world.received("tank/b").is_empty());
}

#[test]
fn the_children_of_a_failed_parent_are_not_received() {
    let world = World::default();
    for name in ["tank", "tank/p", "tank/p/c", "tank/p/c/d", "tank/q"] {
        world.sender_fs(name, &["s1"]);
    }
    fault(&world, "tank/p", remote("permission denied"));
    let r = run(&world, "");
    assert_eq!(fs(&r, "tank/p").result, FsResult::Failed);
    for child in ["tank/p/c", "tank/p/c/d"] {
        let c = fs(&r, child);
        assert_eq!(c.result, FsResult::Failed, "{child}");
        assert_eq!(
            c.error.as_ref().map(|e| e.kind.as_str()),
            Some("parent_failed"),
            "{child}"
        );
        assert!(
            !world.log().iter().any(|l| l == &format!("start {child}")),
            "{child} was sent"
        );
    }
    assert!(caught_up(&world, "tank/q") && caught_up(&world, "tank"));
    assert_eq!(r.result, RunResult::Partial);
}

#[test]
fn a_receiver_with_a_resume_token_gets_the_step_resumed() {
    let world = World::default();
    world.sender_fs("tank", &["s1"]);
    world.sender_fs("tank/a", &["s1", "s2"]);
    assert!(run(&world, "").result == RunResult::Ok && caught_up(&world, "tank/a"));
    world.sender_fs("tank/b", &["s1"]);
    // A transfer of tank/a@s3 was interrupted: the receiver keeps its resumable state.
    let (s2, s3) = {
        let mut s = world.state();
        let txg = 999;
        let a = s.sender.get_mut(&dn("tank/a")).expect("listed");
        let s2 = a.newest_snapshot().map(|v| v.guid.0).expect("s2");
        a.versions.push(crate::zfs::Version {
            kind: crate::zfs::VersionKind::Snapshot,
            short: "s3".into(),
            guid: crate::zfs::Guid(txg * 1000 + 7),
            createtxg: txg,
            userrefs: None,
            creation: Some(1_700_000_999),
        });
        let recv = s
            .receiver
            .get_mut(&dn(&format!("{RECEIVER_ROOT}/tank/a")))
            .expect("received");
        recv.resume_token = Some(format!("mem-{}-{s2}", txg * 1000 + 7));
        (s2, txg * 1000 + 7)
    };
    let r = run(&world, "");
    assert_eq!(r.result, RunResult::Ok, "{r:?}");
    let a = fs(&r, "tank/a");
    assert_eq!(a.steps.len(), 1, "{a:?}");
    assert!(a.steps[0].resumed && a.steps[0].from_guid.map(|g| g.0) == Some(s2) && a.steps[0].to_guid.0 == s3);
    assert!(world.log().iter().any(|l| l == "resumed tank/a"));
    assert_eq!(world.received("tank/a").last(), Some(&s3));
    assert!(caught_up(&world, "tank/b"));
}

#[test]
fn four_workers_receive_siblings_at_once_and_children_after_their_parents() {
    let world = World::default();
    let names = [
        "tank",
        "tank/p1",
        "tank/p1/c1",
        "tank/p1/c2",
        "tank/p2",
        "tank/p2/c1",
        "tank/p2/c2",
        "tank/x",
    ];
    for name in names {
        world.sender_fs(name, &["s1", "s2"]);
    }
    world.state().rendezvous = ["tank/p1/c1", "tank/p1/c2", "tank/p2/c1", "tank/p2/c2"]
        .into_iter()
        .map(String::from)
        .collect();
    let r = run(&world, "concurrency = 4");
    assert_eq!(r.result, RunResult::Ok, "{r:?}");
    let log = world.log();
    let at = |what: &str| log.iter().position(|l| l == what);
    for name in names {
        assert!(caught_up(&world, name), "{name}");
        let parent = name.rsplit_once('/').map(|(p, _)| p);
        if let Some(p) = parent {
            let (started, parent_ended) = (at(&format!("start {name}")), at(&format!("end {p}")));
            assert!(
                started.is_some() && parent_ended < started,
                "{name} started before {p} ended: {log:?}"
            );
        }
    }
    assert!(
        log.iter().any(|l| l.starts_with("overlap ")),
        "siblings ran at once: {log:?}"
    );
}

/// A root the sender refuses fails alone, and the step holds of the others are released by their own
/// results: those of a failed step stay, the rest go.
#[test]
fn a_refused_root_fails_alone_and_each_filesystem_keeps_or_releases_its_own_step_holds() {
    let world = World::default();
    for name in ["tank", "tank/a", "tank/b", "pool"] {
        world.sender_fs(name, &["s1"]);
    }
    world.state().refused_roots.insert("pool".into());
    fault(&world, "tank/b", remote("out of space"));
    let r = run(&world, "concurrency = 1");
    assert_eq!(fs(&r, "pool").result, FsResult::Failed, "{r:?}");
    assert_eq!(fs(&r, "tank/b").result, FsResult::Failed);
    assert_eq!(fs(&r, "tank/a").result, FsResult::Ok);
    let holds: Vec<String> = world.state().holds.keys().cloned().collect();
    assert_eq!(holds, ["tank/b@s1"], "only the failed step keeps its step hold");
}

/// A `guarantee_incremental` run that died after its receive, before the cursor moved, leaves the step's
/// tentative cursor on the received snapshot; the next run has nothing to send there, puts the cursor on
/// it, and the tentative cursor goes too (found by the crash at `receive_finish_before`).
#[test]
fn the_repair_after_a_crash_removes_the_tentative_cursor_it_no_longer_needs() {
    let world = World::default();
    world.sender_fs("tank", &["s1"]);
    world.sender_fs("tank/a", &["s1", "s2"]);
    let extra = "protection = \"guarantee_incremental\"";
    assert_eq!(run(&world, extra).result, RunResult::Ok);
    let (_, j) = job(extra);
    let a = dn("tank/a");
    {
        let mut s = world.state();
        let s3 = crate::zfs::Version {
            kind: crate::zfs::VersionKind::Snapshot,
            short: "s3".into(),
            guid: crate::zfs::Guid(999_007),
            createtxg: 999,
            userrefs: None,
            creation: Some(1_700_000_999),
        };
        let tentative = crate::zfs::Version {
            kind: crate::zfs::VersionKind::Bookmark,
            short: j.name.tentative_cursor_short(999_007),
            ..s3.clone()
        };
        let sender = s.sender.get_mut(&a).expect("listed");
        sender.versions.push(s3.clone());
        sender.versions.push(tentative);
        crate::zfs::list::sort_versions(&mut sender.versions);
        let copy = s
            .receiver
            .get_mut(&dn(&format!("{RECEIVER_ROOT}/tank/a")))
            .expect("received");
        copy.versions.push(s3);
    }
    let r = run(&world, extra);
    assert_eq!(r.result, RunResult::NothingToDo, "{r:?}");
    let s = world.state();
    let marks: Vec<&str> = s.sender[&a].bookmarks().map(|b| b.short.as_str()).collect();
    assert_eq!(
        marks,
        [j.name.cursor_bookmark_short(999_007).as_str()],
        "only the cursor on s3"
    );
}

/// A run that died after moving the cursor, before destroying the old one, leaves two cursors; the next
/// run (with nothing to send) keeps only the one on the receiver's newest snapshot (found by the crash at
/// `cursor_create_after`).
#[test]
fn the_repair_after_a_crash_keeps_one_cursor() {
    let world = World::default();
    world.sender_fs("tank", &["s1"]);
    world.sender_fs("tank/a", &["s1", "s2"]);
    assert_eq!(run(&world, "").result, RunResult::Ok);
    let (_, j) = job("");
    let a = dn("tank/a");
    {
        let mut s = world.state();
        let sender = s.sender.get_mut(&a).expect("listed");
        let s1 = sender.snapshots().next().expect("s1").clone();
        sender.versions.push(crate::zfs::Version {
            kind: crate::zfs::VersionKind::Bookmark,
            short: j.name.cursor_bookmark_short(s1.guid.0),
            ..s1
        });
        crate::zfs::list::sort_versions(&mut sender.versions);
    }
    assert_eq!(world.state().sender[&a].bookmarks().count(), 2);
    let r = run(&world, "");
    assert_eq!(r.result, RunResult::NothingToDo, "{r:?}");
    let s = world.state();
    let newest = s.sender[&a].newest_snapshot().expect("s2").guid.0;
    let marks: Vec<&str> = s.sender[&a].bookmarks().map(|b| b.short.as_str()).collect();
    assert_eq!(
        marks,
        [j.name.cursor_bookmark_short(newest).as_str()],
        "only the cursor on s2"
    );
}
