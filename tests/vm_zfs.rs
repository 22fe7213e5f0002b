//! VM tests of the ZFS adapter against real OpenZFS: listing, holds, bookmarks, snapshots, destroys,
//! receive abort, send/receive argument builders, dry-send estimates, resume tokens and error kinds.
//! Run inside the test guest by `vm/test`; on a host without ZFS they are ignored.

mod vmlib;

use vmlib::*;
use zreplrs::zfs::names::{BookmarkName, DatasetName, SnapshotName};
use zreplrs::zfs::send::{parse_dry_send, recv_args, send_args, RecvOptions, SendFlags, SendSpec, SizeEstimate};
use zreplrs::zfs::{Guid, Zfs, ZfsErrorKind};

fn ds(s: &str) -> DatasetName {
    DatasetName::new(s).unwrap()
}
fn sn(s: &str) -> SnapshotName {
    SnapshotName::new(s).unwrap()
}
fn bm(s: &str) -> BookmarkName {
    BookmarkName::new(s).unwrap()
}

#[test]
#[ignore = "needs real ZFS: run by vm/test"]
fn list_reads_a_whole_subtree_in_one_call() {
    let p = Pool::new("ls");
    create_fs(&p.ds("a"));
    create_fs(&p.ds("a/b"));
    zfs(&["create", "-V", "8M", &p.ds("vol")]);
    let g1 = snap(&p.ds("a"), "s1");
    let g2 = snap(&p.ds("a"), "s2");
    zfs(&["bookmark", &format!("{}@s1", p.ds("a")), &format!("{}#b1", p.ds("a"))]);
    zfs(&["hold", "t", &format!("{}@s2", p.ds("a"))]);
    let l = Zfs::new().list(&[ds(&p.name)], false).unwrap();
    assert_eq!(l.filesystems.len(), 4, "{:?}", l.filesystems.keys().collect::<Vec<_>>());
    let a = l.get(&ds(&p.ds("a"))).unwrap();
    let got: Vec<(String, u64, Option<u64>)> = a
        .versions
        .iter()
        .map(|v| (v.relative_name(), v.guid.0, v.userrefs))
        .collect();
    assert_eq!(
        got,
        vec![
            ("@s1".into(), g1, Some(0)),
            ("#b1".into(), g1, None),
            ("@s2".into(), g2, Some(1))
        ]
    );
    assert!(a.versions.iter().all(|v| v.creation.is_none()));
    assert_eq!(a.guid, Guid(guid(&p.ds("a"))));
    assert_eq!(
        l.get(&ds(&p.ds("vol"))).unwrap().kind,
        zreplrs::zfs::list::DatasetKind::Volume
    );
    assert!(a.resume_token.is_none() && a.encryption.is_none() && !a.placeholder_prop);
}

#[test]
#[ignore = "needs real ZFS: run by vm/test"]
fn list_with_creation_and_batched_creation_times() {
    let p = Pool::new("lc");
    create_fs(&p.ds("a"));
    snap(&p.ds("a"), "s1");
    snap(&p.ds("a"), "s2");
    let zfs_ = Zfs::new();
    let l = zfs_.list(&[ds(&p.ds("a"))], true).unwrap();
    let c = l.get(&ds(&p.ds("a"))).unwrap().versions[0].creation.unwrap();
    assert_eq!(c.to_string(), prop(&format!("{}@s1", p.ds("a")), "creation"));
    let names = vec![format!("{}@s1", p.ds("a")), format!("{}@s2", p.ds("a"))];
    let times = zfs_.creation_times(&names).unwrap();
    assert_eq!(times.len(), 2);
    assert_eq!(times[&names[0]], c);
    let e = zfs_.creation_times(&[format!("{}@nope", p.ds("a"))]).unwrap_err();
    assert_eq!(e.kind, ZfsErrorKind::DoesNotExist, "{e}");
}

#[test]
#[ignore = "needs real ZFS: run by vm/test"]
fn list_of_a_missing_dataset_is_does_not_exist() {
    let p = Pool::new("lm");
    let e = Zfs::new().list(&[ds(&p.ds("missing"))], false).unwrap_err();
    assert_eq!(e.kind, ZfsErrorKind::DoesNotExist, "{e}");
    assert!(e.to_string().contains("zfs list"), "{e}");
}

#[test]
#[ignore = "needs real ZFS: run by vm/test"]
fn list_shows_encryption_and_placeholders() {
    let p = Pool::new("le");
    std::fs::write("/tmp/le.key", "0123456789abcdef0123456789abcdef").unwrap();
    create_fs_with(
        &p.ds("enc"),
        &[
            "encryption=on",
            "keyformat=passphrase",
            "keylocation=file:///tmp/le.key",
        ],
    );
    let zfs_ = Zfs::new();
    zfs_.create_placeholder(&ds(&p.ds("ph"))).unwrap();
    zfs_.create_placeholder(&ds(&p.ds("ph"))).unwrap(); // idempotent
    create_fs(&p.ds("ph/child"));
    snap(&p.ds("ph/child"), "s");
    let l = zfs_.list(&[ds(&p.name)], false).unwrap();
    assert!(l.get(&ds(&p.ds("enc"))).unwrap().is_encrypted());
    assert!(l.get(&ds(&p.ds("ph"))).unwrap().is_placeholder());
    let child = l.get(&ds(&p.ds("ph/child"))).unwrap();
    assert!(child.placeholder_prop, "the property is inherited");
    assert!(!child.is_placeholder(), "a child with snapshots is not a placeholder");
    assert_eq!(prop(&p.ds("ph"), "canmount"), "off");
}

/// A user with only the `userprop` permission sets `zrepl:placeholder` to a value with a newline and a
/// forged snapshot line (a second `@s1` with another GUID, and a snapshot that does not exist). `zfs list -H`
/// prints it raw; the listing is refused instead of believed, and works again once the value is cleaned.
#[test]
#[ignore = "needs real ZFS: run by vm/test"]
fn property_values_with_newlines_cannot_forge_listing_lines() {
    let p = Pool::new("fg");
    let a = p.ds("a");
    create_fs(&a);
    snap(&a, "s1");
    let zfs_ = Zfs::new();
    assert!(zfs_.list(&[ds(&p.name)], false).is_ok());
    for forged in [
        format!("x\t{a}\n{a}@s1\tsnapshot\t77\t7\t0\t-\toff\t-\t{a}@s1\n{a}@fake\tsnapshot\t78\t8\t0\t-\toff\t-\t{a}@fake\ny"),
        format!("x\n{a}@fake\tsnapshot\t78\t8\t0\t-\toff\t-\t{a}@fake\ny"),
    ] {
        zfs(&["set", &format!("zrepl:placeholder={forged}"), &a]);
        let raw = zfs(&["list", "-H", "-t", "all", "-o", "name,zrepl:placeholder", "-r", &p.name]);
        assert!(raw.contains(&format!("{a}@fake")), "zfs prints the value raw: {raw}");
        let e = zfs_.list(&[ds(&p.name)], false).unwrap_err();
        assert_eq!(e.kind, ZfsErrorKind::Parse, "{e}");
        assert!(
            e.message.contains("tab or newline") || e.message.contains("twice") || e.message.contains("columns"),
            "{e}"
        );
        let roots = [ds(&p.name)];
        assert!(zfs_.list_filesystems(&roots, None).is_err(), "the survey's listing refuses it too");
    }
    zfs(&["inherit", "zrepl:placeholder", &a]);
    let l = zfs_.list(&[ds(&p.name)], false).unwrap();
    assert_eq!(l.get(&ds(&a)).unwrap().versions.len(), 1);
}

#[test]
#[ignore = "needs real ZFS: run by vm/test"]
fn hold_is_batched_and_idempotent() {
    let p = Pool::new("ho");
    create_fs(&p.ds("a"));
    create_fs(&p.ds("b"));
    snap(&p.ds("a"), "s");
    snap(&p.ds("b"), "s");
    let snaps = [sn(&format!("{}@s", p.ds("a"))), sn(&format!("{}@s", p.ds("b")))];
    let zfs_ = Zfs::new();
    zfs_.hold("zrepl_STEP_J_j", &snaps[..1]).unwrap();
    zfs_.hold("zrepl_STEP_J_j", &snaps).unwrap(); // one already held: still fine, and the other gets it
    zfs_.hold("zrepl_STEP_J_j", &snaps).unwrap();
    assert_eq!(holds(snaps[0].as_str()), ["zrepl_STEP_J_j"]);
    assert_eq!(holds(snaps[1].as_str()), ["zrepl_STEP_J_j"]);
    let listed = zfs_.holds(&snaps).unwrap();
    assert_eq!(listed.len(), 2);
}

/// A hold tag may hold a tab and a newline, and `zfs holds -H` prints it raw: whoever may put holds on one
/// snapshot prints a line claiming our job's hold on another. The forged line is refused (it does not match
/// that snapshot's `userrefs`), and listing works again once the odd hold is released.
#[test]
#[ignore = "needs real ZFS: run by vm/test"]
fn hold_tags_with_newlines_cannot_forge_holds() {
    let p = Pool::new("hf");
    let a = p.ds("a");
    create_fs(&a);
    snap(&a, "s1");
    snap(&a, "s2");
    let snaps = [sn(&format!("{a}@s1")), sn(&format!("{a}@s2"))];
    let forged = format!("x\t1796221177\n{a}@s2\tzrepl_last_received_J_j");
    zfs(&["hold", &forged, snaps[0].as_str()]);
    let raw = zfs(&["holds", "-H", snaps[0].as_str(), snaps[1].as_str()]);
    assert!(
        raw.lines()
            .any(|l| l.starts_with(&format!("{a}@s2\tzrepl_last_received_J_j"))),
        "zfs prints the tag raw: {raw:?}"
    );
    // Read through libzfs_core, a tag is one string whatever it contains: nothing to forge.
    let native = Zfs::new();
    assert!(native.is_native(), "libzfs_core is loaded in the guest");
    let read = native.holds(&snaps).unwrap();
    assert_eq!(read.len(), 1, "{read:?}");
    assert_eq!(
        (read[0].snapshot.as_str(), read[0].tag.as_str()),
        (snaps[0].as_str(), forged.as_str())
    );
    // Read from `zfs holds -H` (no libzfs_core, or a send-agent's source), the forged line is caught.
    let zfs_ = Zfs::new().without_native();
    let e = zfs_.holds(&snaps).unwrap_err();
    assert_eq!(e.kind, ZfsErrorKind::Parse, "{e}");
    assert!(e.message.contains("userrefs"), "{e}");
    zfs(&["release", &forged, snaps[0].as_str()]);
    zfs(&["hold", "zrepl_last_received_J_j", snaps[1].as_str()]);
    let listed = zfs_.holds(&snaps).unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].snapshot, snaps[1].as_str());
}

#[test]
#[ignore = "needs real ZFS: run by vm/test"]
fn hold_on_a_missing_snapshot_fails_and_is_repeatable() {
    let p = Pool::new("hm");
    create_fs(&p.ds("a"));
    snap(&p.ds("a"), "s");
    let snaps = [sn(&format!("{}@s", p.ds("a"))), sn(&format!("{}@gone", p.ds("a")))];
    let e = Zfs::new().hold("t", &snaps).unwrap_err();
    assert_eq!(e.kind, ZfsErrorKind::DoesNotExist, "{e}");
    // zfs hold is not atomic across snapshots: the existing one got the hold; repeating converges.
    assert_eq!(holds(snaps[0].as_str()), ["t"]);
    Zfs::new().hold("t", &snaps[..1]).unwrap();
}

#[test]
#[ignore = "needs real ZFS: run by vm/test"]
fn release_is_batched_and_idempotent() {
    let p = Pool::new("re");
    create_fs(&p.ds("a"));
    snap(&p.ds("a"), "s1");
    snap(&p.ds("a"), "s2");
    let s1 = sn(&format!("{}@s1", p.ds("a")));
    let s2 = sn(&format!("{}@s2", p.ds("a")));
    zfs(&["hold", "t", s1.as_str()]);
    zfs(&["hold", "other", s2.as_str()]);
    let zfs_ = Zfs::new();
    let gone = sn(&format!("{}@gone", p.ds("a")));
    zfs_.release("t", &[s1.clone(), s2.clone(), gone]).unwrap();
    zfs_.release("t", &[s1.clone(), s2.clone()]).unwrap();
    assert!(holds(s1.as_str()).is_empty());
    assert_eq!(holds(s2.as_str()), ["other"], "other tags stay");
}

#[test]
#[ignore = "needs real ZFS: run by vm/test"]
fn bookmark_is_idempotent_for_the_same_guid() {
    let p = Pool::new("bk");
    create_fs(&p.ds("a"));
    let g = snap(&p.ds("a"), "s1");
    let b = bm(&format!("{}#c", p.ds("a")));
    let zfs_ = Zfs::new();
    let from = format!("{}@s1", p.ds("a"));
    zfs_.bookmark(&from, Guid(g), &b).unwrap();
    zfs_.bookmark(&from, Guid(g), &b).unwrap();
    assert_eq!(bookmarks(&p.ds("a")), vec![("c".to_string(), g)]);
    assert_eq!(zfs_.guid_of(b.as_str()).unwrap(), Guid(g));
}

#[test]
#[ignore = "needs real ZFS: run by vm/test"]
fn bookmark_with_another_guid_is_an_error() {
    let p = Pool::new("bg");
    create_fs(&p.ds("a"));
    let g1 = snap(&p.ds("a"), "s1");
    let g2 = snap(&p.ds("a"), "s2");
    let b = bm(&format!("{}#c", p.ds("a")));
    let zfs_ = Zfs::new();
    zfs_.bookmark(&format!("{}@s1", p.ds("a")), Guid(g1), &b).unwrap();
    let e = zfs_.bookmark(&format!("{}@s2", p.ds("a")), Guid(g2), &b).unwrap_err();
    assert_eq!(e.kind, ZfsErrorKind::AlreadyExists);
    assert!(e.message.contains(&g1.to_string()), "{e}");
    assert_eq!(bookmarks(&p.ds("a")), vec![("c".to_string(), g1)], "unchanged");
}

#[test]
#[ignore = "needs real ZFS: run by vm/test"]
fn bookmark_of_a_missing_snapshot_fails() {
    let p = Pool::new("bm");
    create_fs(&p.ds("a"));
    let e = Zfs::new()
        .bookmark(
            &format!("{}@nope", p.ds("a")),
            Guid(1),
            &bm(&format!("{}#c", p.ds("a"))),
        )
        .unwrap_err();
    assert_eq!(e.kind, ZfsErrorKind::DoesNotExist, "{e}");
    assert!(bookmarks(&p.ds("a")).is_empty());
}

#[test]
#[ignore = "needs real ZFS: run by vm/test"]
fn snapshot_of_several_datasets_is_atomic() {
    let p = Pool::new("sn");
    create_fs(&p.ds("a"));
    create_fs(&p.ds("b"));
    let zfs_ = Zfs::new();
    zfs_.snapshot(&[sn(&format!("{}@x", p.ds("a"))), sn(&format!("{}@x", p.ds("b")))])
        .unwrap();
    let ta = prop(&format!("{}@x", p.ds("a")), "createtxg");
    let tb = prop(&format!("{}@x", p.ds("b")), "createtxg");
    assert_eq!(ta, tb, "one transaction group");
    // One name that already exists: nothing is taken.
    let e = zfs_
        .snapshot(&[sn(&format!("{}@y", p.ds("a"))), sn(&format!("{}@x", p.ds("b")))])
        .unwrap_err();
    assert_eq!(e.kind, ZfsErrorKind::AlreadyExists, "{e}");
    assert!(!exists(&format!("{}@y", p.ds("a"))));
}

#[test]
#[ignore = "needs real ZFS: run by vm/test"]
fn destroy_snapshots_is_batched_and_missing_is_ok() {
    let p = Pool::new("ds");
    create_fs(&p.ds("a"));
    create_fs(&p.ds("b"));
    for s in ["s1", "s2", "s3"] {
        snap(&p.ds("a"), s);
    }
    snap(&p.ds("b"), "s1");
    let zfs_ = Zfs::new();
    let list = [
        sn(&format!("{}@s1", p.ds("a"))),
        sn(&format!("{}@s3", p.ds("a"))),
        sn(&format!("{}@gone", p.ds("a"))),
        sn(&format!("{}@s1", p.ds("b"))),
    ];
    zfs_.destroy_snapshots(&list).unwrap();
    zfs_.destroy_snapshots(&list).unwrap();
    let left: Vec<String> = snapshots(&p.ds("a")).into_iter().map(|s| s.0).collect();
    assert_eq!(left, ["s2"]);
    assert!(snapshots(&p.ds("b")).is_empty());
}

#[test]
#[ignore = "needs real ZFS: run by vm/test"]
fn destroy_of_a_held_snapshot_is_its_own_error() {
    let p = Pool::new("dh");
    create_fs(&p.ds("a"));
    snap(&p.ds("a"), "s1");
    let s1 = format!("{}@s1", p.ds("a"));
    zfs(&["hold", "keep", &s1]);
    let e = Zfs::new().destroy_snapshots(&[sn(&s1)]).unwrap_err();
    assert_eq!(e.kind, ZfsErrorKind::Held, "{e}");
    assert!(exists(&s1));
}

#[test]
#[ignore = "needs real ZFS: run by vm/test"]
fn destroy_bookmarks_missing_is_ok() {
    let p = Pool::new("db");
    create_fs(&p.ds("a"));
    snap(&p.ds("a"), "s1");
    zfs(&["bookmark", &format!("{}@s1", p.ds("a")), &format!("{}#b", p.ds("a"))]);
    let zfs_ = Zfs::new();
    let b = [bm(&format!("{}#b", p.ds("a"))), bm(&format!("{}#nope", p.ds("a")))];
    zfs_.destroy_bookmarks(&b).unwrap();
    zfs_.destroy_bookmarks(&b).unwrap();
    assert!(bookmarks(&p.ds("a")).is_empty());
}

#[test]
#[ignore = "needs real ZFS: run by vm/test"]
fn full_and_incremental_from_bookmark_with_built_args() {
    let src = Pool::new("sa");
    let dst = Pool::new("da");
    create_fs(&src.ds("a"));
    write_data(&src.ds("a"), "f1", 1, 300_000);
    snap(&src.ds("a"), "s1");
    write_data(&src.ds("a"), "f2", 2, 200_000);
    snap(&src.ds("a"), "s2");
    zfs(&[
        "bookmark",
        &format!("{}@s1", src.ds("a")),
        &format!("{}#s1", src.ds("a")),
    ]);
    let zfs_ = Zfs::new();
    let l = zfs_.list(&[ds(&src.ds("a"))], false).unwrap();
    let a = l.get(&ds(&src.ds("a"))).unwrap();
    let s1 = a.snapshot("s1").unwrap();
    let s2 = a.snapshot("s2").unwrap();
    let b1 = a.bookmarks().next().unwrap();
    let fs = ds(&src.ds("a"));
    let flags = SendFlags {
        compressed: true,
        large_blocks: true,
        embedded_data: true,
        ..Default::default()
    };
    let target = ds(&dst.ds("a"));
    let full = send_args(
        &flags,
        &SendSpec {
            fs: &fs,
            from: None,
            to: s1,
            intermediates: false,
        },
        false,
    );
    let recv = recv_args(&target, &RecvOptions::default());
    let (ok, err) = send_recv(
        &full.iter().map(String::as_str).collect::<Vec<_>>(),
        &recv.iter().map(String::as_str).collect::<Vec<_>>(),
        None,
    );
    assert!(ok, "{err}");
    zfs(&["destroy", &format!("{}@s1", src.ds("a"))]);
    let inc = send_args(
        &flags,
        &SendSpec {
            fs: &fs,
            from: Some(b1),
            to: s2,
            intermediates: false,
        },
        false,
    );
    let (ok, err) = send_recv(
        &inc.iter().map(String::as_str).collect::<Vec<_>>(),
        &recv.iter().map(String::as_str).collect::<Vec<_>>(),
        None,
    );
    assert!(ok, "{err}");
    assert_eq!(
        snapshots(&dst.ds("a")),
        vec![("s1".to_string(), s1.guid.0), ("s2".to_string(), s2.guid.0)]
    );
    assert_eq!(
        checksum_snapshot(&format!("{}@s2", dst.ds("a"))),
        checksum_snapshot(&format!("{}@s2", src.ds("a")))
    );
    assert_eq!(
        prop(&dst.ds("a"), "mounted"),
        "yes",
        "checksum mounted it; recv -u alone does not"
    );
}

#[test]
#[ignore = "needs real ZFS: run by vm/test"]
fn dry_send_estimates_are_parsed() {
    let p = Pool::new("dr");
    create_fs(&p.ds("a"));
    write_data(&p.ds("a"), "f1", 3, 1_000_000);
    snap(&p.ds("a"), "s1");
    write_data(&p.ds("a"), "f2", 4, 500_000);
    snap(&p.ds("a"), "s2");
    let zfs_ = Zfs::new();
    let l = zfs_.list(&[ds(&p.ds("a"))], false).unwrap();
    let a = l.get(&ds(&p.ds("a"))).unwrap();
    let fs = ds(&p.ds("a"));
    let full = send_args(
        &SendFlags::default(),
        &SendSpec {
            fs: &fs,
            from: None,
            to: a.snapshot("s1").unwrap(),
            intermediates: false,
        },
        true,
    );
    let est_full = parse_dry_send(&zfs_.run(&full).unwrap());
    let inc = send_args(
        &SendFlags::default(),
        &SendSpec {
            fs: &fs,
            from: a.snapshot("s1"),
            to: a.snapshot("s2").unwrap(),
            intermediates: false,
        },
        true,
    );
    let est_inc = parse_dry_send(&zfs_.run(&inc).unwrap());
    let (SizeEstimate::Bytes(f), SizeEstimate::Bytes(i)) = (est_full, est_inc) else {
        panic!("estimates: {est_full:?} {est_inc:?}");
    };
    assert!((1_000_000..1_300_000).contains(&f), "full estimate {f}");
    assert!((500_000..700_000).contains(&i), "incremental estimate {i}");
    assert!(zfs_.estimate(&full).unwrap().bytes().is_some());
}

#[test]
#[ignore = "needs real ZFS: run by vm/test"]
fn resume_token_is_decoded_and_resumes() {
    let src = Pool::new("st");
    let dst = Pool::new("dt");
    create_fs(&src.ds("a"));
    write_data(&src.ds("a"), "f", 5, 4_000_000);
    let g = snap(&src.ds("a"), "s1");
    let target = dst.ds("a");
    let (ok, _) = send_recv(
        &["send", &format!("{}@s1", src.ds("a"))],
        &["receive", "-s", "-u", &target],
        Some(1_500_000),
    );
    assert!(!ok, "the cut receive must fail");
    let token = prop(&target, "receive_resume_token");
    assert!(token.starts_with("1-"), "token {token:?}");
    let t = Zfs::new().decode_resume_token(&token).unwrap();
    assert_eq!(t.toguid.0, g);
    assert_eq!(t.toname, format!("{}@s1", src.ds("a")));
    assert_eq!(t.fromguid, None);
    assert!(!t.rawok);
    assert!(t.bytes > 0, "{t:?}");
    let (ok, err) = send_recv(&["send", "-t", &token], &["receive", "-s", "-u", &target], None);
    assert!(ok, "{err}");
    assert_eq!(snapshots(&target), vec![("s1".to_string(), g)]);
}

#[test]
#[ignore = "needs real ZFS: run by vm/test"]
fn corrupt_resume_token_is_a_clear_error() {
    let src = Pool::new("ct");
    let dst = Pool::new("cd");
    create_fs(&src.ds("a"));
    write_data(&src.ds("a"), "f", 6, 3_000_000);
    snap(&src.ds("a"), "s1");
    let target = dst.ds("a");
    let _ = send_recv(
        &["send", &format!("{}@s1", src.ds("a"))],
        &["receive", "-s", "-u", &target],
        Some(1_000_000),
    );
    let token = prop(&target, "receive_resume_token");
    // Flip characters in the middle of the compressed payload.
    let mut bytes = token.into_bytes();
    let mid = bytes.len() / 2;
    for b in &mut bytes[mid..mid + 8] {
        *b = if *b == b'a' { b'b' } else { b'a' };
    }
    let bad = String::from_utf8(bytes).unwrap();
    let e = Zfs::new().decode_resume_token(&bad).unwrap_err();
    assert_eq!(e.kind, ZfsErrorKind::InvalidResumeToken, "{e}");
    let e = Zfs::new().decode_resume_token("1-zz-zz-zz").unwrap_err();
    assert_eq!(e.kind, ZfsErrorKind::InvalidResumeToken, "{e}");
}

#[test]
#[ignore = "needs real ZFS: run by vm/test"]
fn recv_abort_removes_state_and_nothing_to_abort_is_ok() {
    let src = Pool::new("sb");
    let dst = Pool::new("ab");
    create_fs(&src.ds("a"));
    write_data(&src.ds("a"), "f", 7, 3_000_000);
    snap(&src.ds("a"), "s1");
    snap(&src.ds("a"), "s2");
    let target = dst.ds("a");
    let (ok, err) = send_recv(
        &["send", &format!("{}@s1", src.ds("a"))],
        &["receive", "-s", "-u", &target],
        None,
    );
    assert!(ok, "{err}");
    write_data(&src.ds("a"), "g", 8, 3_000_000);
    snap(&src.ds("a"), "s3");
    let inc = [
        "send",
        "-i",
        &format!("{}@s1", src.ds("a")),
        &format!("{}@s3", src.ds("a")),
    ]
    .map(|s| s.to_string());
    let inc: Vec<&str> = inc.iter().map(String::as_str).collect();
    let _ = send_recv(&inc, &["receive", "-s", "-u", &target], Some(1_000_000));
    assert_ne!(prop(&target, "receive_resume_token"), "-");
    let zfs_ = Zfs::new();
    // While state is present, another receive is refused with its own kind.
    let args = recv_args(&ds(&target), &RecvOptions::default());
    let send2 = [
        "send",
        "-i",
        &format!("{}@s1", src.ds("a")),
        &format!("{}@s2", src.ds("a")),
    ];
    let (ok, err) = send_recv(&send2, &args.iter().map(String::as_str).collect::<Vec<_>>(), None);
    assert!(!ok);
    assert_eq!(
        zreplrs::zfs::error::classify(&err),
        ZfsErrorKind::ResumableStatePresent,
        "{err}"
    );
    zfs_.recv_abort(&ds(&target)).unwrap();
    assert_eq!(prop(&target, "receive_resume_token"), "-");
    zfs_.recv_abort(&ds(&target)).unwrap();
    assert_eq!(snapshots(&target).len(), 1);
}

#[test]
#[ignore = "needs real ZFS: run by vm/test"]
fn modified_destination_and_mismatched_source_are_classified() {
    let src = Pool::new("sm");
    let dst = Pool::new("dm");
    create_fs(&src.ds("a"));
    snap(&src.ds("a"), "s1");
    snap(&src.ds("a"), "s2");
    snap(&src.ds("a"), "s3");
    let target = dst.ds("a");
    let (ok, err) = send_recv(
        &["send", &format!("{}@s1", src.ds("a"))],
        &["receive", "-u", &target],
        None,
    );
    assert!(ok, "{err}");
    // Incremental whose from is not the receiver's newest snapshot.
    let (ok, err) = send_recv(
        &[
            "send",
            "-i",
            &format!("{}@s2", src.ds("a")),
            &format!("{}@s3", src.ds("a")),
        ],
        &["receive", "-u", &target],
        None,
    );
    assert!(!ok);
    assert_eq!(
        zreplrs::zfs::error::classify(&err),
        ZfsErrorKind::IncrementalMismatch,
        "{err}"
    );
    // Modify the receiver, then an incremental that would fit.
    zfs(&["set", &format!("mountpoint=/tmp/mnt/{target}"), &target]);
    if prop(&target, "mounted") != "yes" {
        zfs(&["mount", &target]);
    }
    write_data(&target, "oops", 9, 1000);
    let (ok, err) = send_recv(
        &[
            "send",
            "-i",
            &format!("{}@s1", src.ds("a")),
            &format!("{}@s2", src.ds("a")),
        ],
        &["receive", "-u", &target],
        None,
    );
    assert!(!ok);
    assert_eq!(
        zreplrs::zfs::error::classify(&err),
        ZfsErrorKind::DestinationModified,
        "{err}"
    );
}

#[test]
#[ignore = "needs real ZFS: run by vm/test"]
fn invalid_names_and_missing_datasets_are_classified() {
    let p = Pool::new("in");
    let zfs_ = Zfs::new();
    let e = zfs_.run(&["create", &format!("{}/a%b", p.name)]).unwrap_err();
    assert_eq!(e.kind, ZfsErrorKind::InvalidName, "{e}");
    let e = zfs_.get_property(&p.ds("nope"), "guid").unwrap_err();
    assert_eq!(e.kind, ZfsErrorKind::DoesNotExist, "{e}");
    let e = zfs_.run(&["list", "nopool_zz"]).unwrap_err();
    assert_eq!(e.kind, ZfsErrorKind::DoesNotExist, "{e}");
    assert!(e.message.contains("nopool_zz"), "raw message kept: {e}");
}

#[test]
#[ignore = "needs real ZFS: run by vm/test"]
fn raw_send_of_an_encrypted_dataset_stays_encrypted() {
    let src = Pool::new("se");
    let dst = Pool::new("de");
    std::fs::write("/tmp/se.key", "0123456789abcdef0123456789abcdef").unwrap();
    create_fs_with(
        &src.ds("enc"),
        &[
            "encryption=on",
            "keyformat=passphrase",
            "keylocation=file:///tmp/se.key",
        ],
    );
    write_data(&src.ds("enc"), "f", 10, 100_000);
    snap(&src.ds("enc"), "s1");
    let l = Zfs::new().list(&[ds(&src.ds("enc"))], false).unwrap();
    let e = l.get(&ds(&src.ds("enc"))).unwrap();
    let fs = ds(&src.ds("enc"));
    let args = send_args(
        &SendFlags {
            raw: true,
            ..Default::default()
        },
        &SendSpec {
            fs: &fs,
            from: None,
            to: e.snapshot("s1").unwrap(),
            intermediates: false,
        },
        false,
    );
    let recv = recv_args(&ds(&dst.ds("enc")), &RecvOptions::default());
    let (ok, err) = send_recv(
        &args.iter().map(String::as_str).collect::<Vec<_>>(),
        &recv.iter().map(String::as_str).collect::<Vec<_>>(),
        None,
    );
    assert!(ok, "{err}");
    assert_eq!(prop(&dst.ds("enc"), "encryption"), "aes-256-gcm");
    assert_eq!(prop(&dst.ds("enc"), "keystatus"), "unavailable");
}
