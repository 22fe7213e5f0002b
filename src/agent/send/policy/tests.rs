//! The send-agent's whitelist: what the sender side of a replication runs passes, and every hostile
//! variation of it is refused.

use super::*;
use std::collections::BTreeMap;

fn policy(require_raw: bool) -> SendPolicy {
    let rules: BTreeMap<String, bool> = [("tank/data<".to_string(), true), ("tank/data/tmp<".to_string(), false)]
        .into_iter()
        .collect();
    SendPolicy {
        root: DatasetName::new("tank").unwrap(),
        filter: Filter::parse(&rules).unwrap(),
        job: JobId::new("prod").unwrap(),
        require_raw,
        restore_only: false,
    }
}

fn argv(s: &str) -> Vec<String> {
    s.split(' ').map(String::from).collect()
}

fn ok(p: &SendPolicy, s: &str, stream: bool) -> Accepted {
    match p.check(&argv(s), stream) {
        Ok(a) => a,
        Err(e) => panic!("{s} refused: {e}"),
    }
}

fn refused(p: &SendPolicy, s: &str, stream: bool) -> String {
    match p.check(&argv(s), stream) {
        Ok(a) => panic!("{s} accepted as {a:?}"),
        Err(e) => e.0,
    }
}

/// A resume token for `toname`, as the kernel encodes it.
fn token(toname: &str, rawok: bool) -> String {
    use crate::zfs::nvlist::Value;
    let mut p = vec![
        ("object", Value::Uint64(1)),
        ("offset", Value::Uint64(0)),
        ("bytes", Value::Uint64(4096)),
        ("toguid", Value::Uint64(7)),
        ("toname", Value::String(toname.into())),
    ];
    if rawok {
        p.push(("rawok", Value::Boolean));
    }
    crate::zfs::token::encode_for_tests(&p)
}

const CURSOR: &str = "zrepl_CURSOR_G_00000000000000ff_J_prod";

#[test]
fn what_the_sender_side_runs_is_accepted() {
    let p = policy(false);
    let fs = DatasetName::new("tank/data").unwrap();
    let list = crate::zfs::list::filesystems_args(std::slice::from_ref(&fs), None);
    assert_eq!(
        p.check(&list, false),
        Ok(Accepted::RunListing(list[list.len() - 2].split(',').count()))
    );
    let list = crate::zfs::list::versions_args(std::slice::from_ref(&fs), true);
    assert_eq!(
        p.check(&list, false),
        Ok(Accepted::RunListing(list[list.len() - 2].split(',').count()))
    );
    let list = crate::zfs::list::list_args(std::slice::from_ref(&fs), false);
    assert_eq!(
        p.check(&list, false),
        Ok(Accepted::RunListing(list[list.len() - 2].split(',').count()))
    );
    assert_eq!(
        ok(&p, "get -H -p -o name,value creation tank/data@a tank/data/b@c", false),
        Accepted::Run
    );
    assert_eq!(ok(&p, "get -H -p -o value guid tank/data#x", false), Accepted::Run);
    assert_eq!(ok(&p, "holds -H -p tank/data@a", false), Accepted::Run);
    assert_eq!(
        ok(&p, "hold zrepl_STEP_J_prod tank/data@a tank/data@b", false),
        Accepted::Run
    );
    assert_eq!(ok(&p, "release zrepl_STEP_J_prod tank/data@a", false), Accepted::Run);
    assert_eq!(
        ok(&p, &format!("bookmark tank/data@a tank/data#{CURSOR}"), false),
        Accepted::Run
    );
    let tentative = "zrepl_CURSORTENTATIVE__G_00000000000000ff_J_prod";
    assert_eq!(
        ok(&p, &format!("bookmark tank/data@a tank/data#{tentative}"), false),
        Accepted::Run
    );
    assert_eq!(ok(&p, &format!("destroy tank/data#{CURSOR}"), false), Accepted::Run);
    assert_eq!(ok(&p, "send -n -v -P -w -c tank/data@a", false), Accepted::Run);
    assert_eq!(ok(&p, "send -L -c -e tank/data@b", true), Accepted::Stream);
    assert_eq!(ok(&p, "send -i tank/data#bm tank/data@b", true), Accepted::Stream);
    assert_eq!(ok(&p, "send -I tank/data@a tank/data@b", true), Accepted::Stream);
}

#[test]
fn filesystems_outside_the_root_or_the_filter_are_refused() {
    let p = policy(false);
    for s in [
        "list -H -p -r -t filesystem,volume -o name,guid,name other",
        "list -H -p -r -t filesystem,volume -o name,guid,name tank/data/tmp",
        "list -H -p -r -t filesystem,volume -o name,guid,name tank/secret",
        "get -H -p -o value guid tank/secret@a",
        "holds -H -p tank/data/tmp@a",
        "hold zrepl_STEP_J_prod other/data@a",
        "send -n -v -P tank/secret@a",
        "send tank/data/tmp/x@a",
        "send -i other/data@a tank/data@b",
    ] {
        let stream = s.starts_with("send t") || s.starts_with("send -i");
        let e = refused(&p, s, stream);
        assert!(e.contains("outside what this send-agent may send"), "{s}: {e}");
    }
}

#[test]
fn only_this_jobs_holds_and_bookmarks() {
    let p = policy(false);
    let e = refused(&p, "hold zrepl_STEP_J_other tank/data@a", false);
    assert!(e.contains("puts and releases only zrepl_STEP_J_prod"), "{e}");
    let e = refused(&p, "release zrepl_last_received_J_prod tank/data@a", false);
    assert!(e.contains("only zrepl_STEP_J_prod"), "{e}");
    let other = "zrepl_CURSOR_G_00000000000000ff_J_other";
    let e = refused(&p, &format!("bookmark tank/data@a tank/data#{other}"), false);
    assert!(e.contains("not a cursor bookmark of job prod"), "{e}");
    let e = refused(&p, &format!("destroy tank/data#{other}"), false);
    assert!(e.contains("not a cursor bookmark of job prod"), "{e}");
    let e = refused(&p, "destroy tank/data#mine", false);
    assert!(e.contains("not a cursor bookmark"), "{e}");
    let e = refused(&p, &format!("bookmark tank/data@a tank/data/b#{CURSOR}"), false);
    assert!(e.contains("not on the filesystem"), "{e}");
}

#[test]
fn snapshots_and_filesystems_are_never_destroyed() {
    let p = policy(false);
    for s in [
        "destroy tank/data@a",
        "destroy tank/data",
        "destroy -r tank/data",
        &format!("destroy tank/data@a,b#{CURSOR}"),
        &format!("destroy tank/data#{CURSOR} tank/data#{CURSOR}"),
    ] {
        let e = refused(&p, s, false);
        assert!(
            e.contains("destroys only this job's cursor bookmarks") || e.contains("invalid"),
            "{s}: {e}"
        );
    }
}

#[test]
fn other_commands_are_refused() {
    let p = policy(false);
    for s in [
        "receive -F tank/data",
        "set mountpoint=/etc tank/data",
        "inherit mountpoint tank/data",
        "snapshot tank/data@x",
        "rollback -r tank/data@a",
        "allow tank/data",
        "rename tank/data tank/x",
        "program tank x.lua",
    ] {
        let e = refused(&p, s, false);
        assert!(e.contains("is not something a send-agent runs"), "{s}: {e}");
    }
    assert!(p.check(&[], false).unwrap_err().contains("empty"));
}

#[test]
fn options_outside_the_whitelist_are_refused() {
    let p = policy(false);
    for (s, stream) in [
        ("send -R tank/data@a", true),
        ("send -D tank/data@a", true),
        ("send --props tank/data@a", true),
        ("send -S tank/data", true),
        ("list -H -o name,keylocation,name tank/data", false),
        ("list -H -o name,zreplrs:secret,name tank/data", false),
        ("list -H -o name,guid tank/data", false),
        ("list -H -d 9 -o name tank/data", false),
        ("list -H -t all -o name tank/data", false),
        ("list -H -s name -o name tank/data", false),
        ("get -H -o value keylocation tank/data", false),
        ("get -H -o value,source guid tank/data", false),
        ("holds -r tank/data@a", false),
        ("holds -H tank/data@a -r", false),
        ("list -H -o name tank/data -r", false),
        ("send tank/data@a tank/data@b", true),
    ] {
        refused(&p, s, stream);
    }
}

#[test]
fn streams_and_dry_runs_are_told_apart() {
    let p = policy(false);
    let e = refused(&p, "send tank/data@a", false);
    assert!(e.contains("must be asked for as a stream"), "{e}");
    let e = refused(&p, "send -n -v -P tank/data@a", true);
    assert!(e.contains("only a zfs send without -n"), "{e}");
    let e = refused(&p, "get -H -o value guid tank/data", true);
    assert!(e.contains("only a zfs send without -n"), "{e}");
}

#[test]
fn require_raw_refuses_plaintext_sends_and_tokens() {
    let p = policy(true);
    assert_eq!(ok(&p, "send -w tank/data@a", true), Accepted::Stream);
    let e = refused(&p, "send -c tank/data@a", true);
    assert!(e.contains("raw only"), "{e}");
    let plain = token("tank/data@a", false);
    let e = refused(&p, &format!("send -t {plain}"), true);
    assert!(e.contains("non-raw send"), "{e}");
    assert_eq!(
        ok(&p, &format!("send -t {}", token("tank/data@a", true)), true),
        Accepted::Stream
    );
    assert_eq!(
        ok(&policy(false), &format!("send -n -v -P -t {plain}"), false),
        Accepted::Run
    );
}

#[test]
fn resume_tokens_are_decoded_and_their_snapshot_checked() {
    let p = policy(false);
    let outside = token("tank/secret@a", false);
    let e = refused(&p, &format!("send -t {outside}"), true);
    assert!(e.contains("tank/secret is outside"), "{e}");
    let e = refused(&p, "send -t 1-abc-def-00", true);
    assert!(e.contains("resume token"), "{e}");
    let e = refused(&p, &format!("send -t {outside} tank/data@a"), true);
    assert!(e.contains("takes only -n, -v and -P"), "{e}");
}

#[test]
fn control_characters_and_huge_argument_lists_are_refused() {
    let p = policy(false);
    let e = p
        .check(&["holds".into(), "-H".into(), "tank/data@a\ntank/data@b".into()], false)
        .unwrap_err();
    assert!(e.contains("control character"), "{e}");
    let mut many = argv("holds -H -p");
    many.extend((0..MAX_ARGS).map(|i| format!("tank/data@s{i}")));
    assert!(p.check(&many, false).unwrap_err().contains("arguments"));
}

#[test]
fn listings_keep_only_allowed_lines() {
    let p = policy(false);
    let out = b"tank/data\t1\ttank/data\ntank/data/tmp\t2\ttank/data/tmp\ntank/data@a\t3\ttank/data@a\n\
tank/data/tmp#b\t4\ttank/data/tmp#b\ntank/other\t5\ttank/other\n";
    let kept = String::from_utf8(p.filter_listing(out, 3)).unwrap();
    assert_eq!(kept, "tank/data\t1\ttank/data\ntank/data@a\t3\ttank/data@a\n");
}

/// A user property's value (`zrepl:placeholder`) with a tab and a newline cannot make an excluded name
/// appear as a line of its own: every kept line has exactly the listed columns, the name first and last.
#[test]
fn a_property_value_with_tabs_and_newlines_leaks_no_excluded_name() {
    let p = policy(false);
    let forged = b"tank/data\tfilesystem\tx\ttank/data/tmp\ntank/data/tmp\tfilesystem\ty\ttank/data\n\
tank/data/tmp\tfilesystem\tz\ttank/data/tmp\ntank/data\tfilesystem\ton\ttank/data\n";
    let kept = String::from_utf8(p.filter_listing(forged, 4)).unwrap();
    assert_eq!(kept, "tank/data\tfilesystem\ton\ttank/data\n");
    assert!(!kept.contains("tmp"), "{kept}");
    let e = p.check(&argv("list -H -p -o guid,name tank/data"), false).unwrap_err();
    assert!(e.contains("first and last"), "{e}");
}
