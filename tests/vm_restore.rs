//! VM scenarios of `zreplrs restore` from a ZFS receiver over the local transport, on real OpenZFS: back to
//! the original after a rollback (incremental), to a new name (a full only with `--allow-full`), at a named
//! snapshot, a restore cut mid-transfer that resumes, an encrypted filesystem that comes back raw, and a
//! volume. Each checks GUIDs and content, and that the restore left no bookkeeping behind.

mod vmlib;

use vmlib::*;

/// `zreplrs restore --job J ARGS…` as JSON (validated against the result schema).
fn restore(sc: &Scenario, args: &[&str]) -> Run {
    let mut all = vec!["restore", "--job", &sc.job, "--format", "json"];
    all.extend_from_slice(args);
    run_result(sc.command(&all).output().unwrap())
}

fn ok(run: &Run) {
    assert_eq!(run.code, 0, "exit code; stderr: {}\njson: {:#}", run.stderr, run.json);
}

/// The steps of filesystem `i` of a run: (from, to, resumed), snapshot names only.
fn steps(run: &Run, i: usize) -> Vec<(Option<String>, String, bool)> {
    run.json["filesystems"][i]["steps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            let short = |v: &str| v.rsplit(['@', '#']).next().unwrap().to_string();
            (
                s["from"].as_str().map(short),
                short(s["to"].as_str().unwrap()),
                s["resumed"].as_bool().unwrap(),
            )
        })
        .collect()
}

fn bytes(run: &Run) -> u64 {
    run.json["bytes_replicated"].as_u64().unwrap()
}

/// Below the backup `root` no hold but the job's last-received holds, and no bookmark on the copy `fs`
/// (a restore leaves no bookkeeping of its own).
fn assert_no_bookkeeping(sc: &Scenario, fs: &str) {
    for (snap, tags) in all_holds(&sc.root()) {
        assert_eq!(tags, vec![sc.last_received_tag()], "{snap}: only the job's own hold");
    }
    assert_eq!(bookmarks(fs), Vec::new(), "no bookmarks on {fs}");
}

/// A filesystem with a child, five snapshots (2 MB, then 200 kB more each), replicated with every snapshot.
fn replicated_tree(sc: &Scenario) -> (String, String) {
    let fs = sc.src.ds("data");
    let child = format!("{fs}/logs");
    create_fs(&fs);
    create_fs(&child);
    write_data(&fs, "base", 1, 2_000_000);
    for i in 1..=5u64 {
        write_data(&fs, &format!("f{i}"), 10 + i, 200_000);
        write_data(&child, &format!("l{i}"), 20 + i, 50_000);
        zfs(&["snapshot", "-r", &format!("{fs}@s{i}")]);
    }
    sc.configure(&[(&format!("{fs}<"), true)], "initial_replication = \"all\"");
    ok(&sc.replicate(&[]));
    sc.assert_converged(&fs);
    (fs, child)
}

/// Rolled back by 3 snapshots, a filesystem and its child come back incrementally from the common
/// snapshot: a dry run first (INCREMENTAL from s2, the snapshots, an estimate; nothing changes), then the
/// restore (GUIDs and content equal the backup's, bytes well under twice the changed data, no holds or
/// cursors left on either side), and the job replicates on as before.
#[test]
#[ignore = "needs real ZFS: run by vm/test"]
fn a_rollback_of_three_snapshots_is_restored_incrementally_in_place() {
    let sc = Scenario::new("rsi");
    let (fs, child) = replicated_tree(&sc);
    let backup_s5 = checksum_snapshot(&format!("{}@s5", sc.target(&fs)));
    for d in [&fs, &child] {
        zfs(&["rollback", "-r", &format!("{d}@s2")]);
        assert_eq!(snapshots(d).len(), 2);
    }
    let before = sc.src.state();
    let dry = restore(&sc, &["--fs", &fs, "--dry-run"]);
    ok(&dry);
    assert_eq!(dry.json["command"], "restore");
    assert_eq!(dry.json["filesystems"][0]["result"], "planned");
    assert_eq!(steps(&dry, 0), vec![(Some("s2".to_string()), "s5".to_string(), false)]);
    assert_eq!(dry.json["filesystems"][0]["steps"][0]["snapshots"], 3);
    assert!(dry.json["bytes_estimated"].as_u64().unwrap() > 600_000);
    assert_eq!(sc.src.state(), before, "a dry run changes nothing");
    let human = sc
        .command(&[
            "restore",
            "--job",
            &sc.job,
            "--fs",
            &fs,
            "--dry-run",
            "--format",
            "human",
        ])
        .output()
        .unwrap();
    let table = String::from_utf8_lossy(&human.stdout);
    println!("restore --dry-run --format human:\n{table}");
    assert!(table.contains("INCREMENTAL  @s2 -> @s5  3 snapshot(s)"), "{table}");

    let run = restore(&sc, &["--fs", &fs]);
    ok(&run);
    assert_eq!(run.json["result"], "ok");
    assert_eq!(run.json["filesystems"][0]["target"], fs);
    for d in [&fs, &child] {
        assert_eq!(
            snapshots(d),
            snapshots(&sc.target(d)),
            "{d} has the backup's snapshots back"
        );
    }
    assert_eq!(checksum_snapshot(&format!("{fs}@s5")), backup_s5);
    let sent = bytes(&run);
    let changed = 3 * (200_000 + 50_000);
    println!("incremental restore after a rollback of 3 snapshots: {sent} bytes sent, {changed} bytes changed");
    assert!(sent < 2 * changed, "no full resend: {sent} bytes for {changed} changed");
    assert_no_bookkeeping(&sc, &sc.target(&fs));
    assert_eq!(
        all_holds(&sc.src.name),
        Default::default(),
        "no holds on the production side"
    );
    // The job goes on: nothing to send, its cursor and last-received hold where they were.
    let again = sc.replicate(&[]);
    ok(&again);
    assert_eq!(again.json["result"], "nothing_to_do");
    sc.assert_converged(&fs);
}

/// To a new name, a restore needs `--allow-full`; with it the tree comes back below the new name with the
/// same GUIDs; `--snapshot` stops at the snapshot asked for; a dataset that shares nothing with the copy is
/// refused and left alone.
#[test]
#[ignore = "needs real ZFS: run by vm/test"]
fn a_restore_to_a_new_name_needs_allow_full_and_stops_at_the_snapshot_asked_for() {
    let sc = Scenario::new("rsn");
    let (fs, _) = replicated_tree(&sc);
    let new = sc.src.ds("restored");
    let refused = restore(&sc, &["--fs", &fs, "--to", &new]);
    assert_ne!(refused.code, 0, "{:#}", refused.json);
    assert_eq!(refused.json["filesystems"][0]["result"], "conflict");
    assert_eq!(refused.json["filesystems"][0]["error"]["kind"], "full_refused");
    let msg = refused.json["filesystems"][0]["error"]["message"].as_str().unwrap();
    assert!(msg.contains("--allow-full"), "{msg}");
    assert!(!exists(&new), "nothing was created");

    let run = restore(&sc, &["--fs", &fs, "--to", &new, "--allow-full"]);
    ok(&run);
    assert_eq!(snapshots(&new), snapshots(&sc.target(&fs)));
    assert_eq!(snapshots(&format!("{new}/logs")), snapshots(&format!("{fs}/logs")));
    assert_eq!(
        checksum_snapshot(&format!("{new}@s5")),
        checksum_snapshot(&format!("{fs}@s5"))
    );
    println!("full restore to a new name: {} bytes sent", bytes(&run));

    let older = sc.src.ds("older");
    let run = restore(&sc, &["--fs", &fs, "--to", &older, "--snapshot", "s3", "--allow-full"]);
    ok(&run);
    let names: Vec<String> = snapshots(&older).into_iter().map(|(n, _)| n).collect();
    assert_eq!(names, ["s1", "s2", "s3"], "nothing newer than --snapshot");
    assert_eq!(guid(&format!("{older}@s3")), guid(&format!("{fs}@s3")));

    // A dataset with its own, unrelated snapshots is not overwritten.
    let stranger = sc.src.ds("stranger");
    create_fs(&stranger);
    snap(&stranger, "mine");
    let before = sc.src.state();
    let run = restore(&sc, &["--fs", &fs, "--to", &stranger, "--allow-full"]);
    assert_ne!(run.code, 0, "{:#}", run.json);
    assert_eq!(run.json["filesystems"][0]["result"], "conflict");
    assert_eq!(sc.src.state(), before, "nothing changed");
    assert_no_bookkeeping(&sc, &sc.target(&fs));
}

/// A full restore of an encrypted filesystem cut mid-transfer resumes on the next run; it comes back raw
/// (still encrypted, its key needed to mount it) with the backup's content, and a volume comes back too.
#[test]
#[ignore = "needs real ZFS: run by vm/test"]
fn a_cut_restore_resumes_and_encrypted_data_and_volumes_come_back() {
    let sc = Scenario::new("rsc");
    let enc = sc.src.ds("secret");
    sc.create_encrypted_fs(&enc);
    write_data(&enc, "big", 5, 6_000_000);
    snap(&enc, "s1");
    write_data(&enc, "more", 6, 300_000);
    snap(&enc, "s2");
    let vol = sc.src.ds("vol");
    zfs(&["create", "-V", "8M", &vol]);
    wait_for("the volume's device", 60, || zvol_device(&vol).exists());
    std::fs::write(zvol_device(&vol), random_bytes(7, 1_000_000)).unwrap();
    snap(&vol, "v1");
    let vol_content = volume_content(&vol);
    sc.configure(&[(&enc, true), (&vol, true)], "retries = 0\n[jobs.send]\nraw = true\n");
    ok(&sc.replicate(&[]));

    let back = sc.src.ds("secret-back");
    let (wrapper, marker) = cutting_zfs_wrapper(sc.dir.path(), 2_000_000, false);
    let out = sc
        .command(&[
            "restore",
            "--job",
            &sc.job,
            "--fs",
            &enc,
            "--to",
            &back,
            "--allow-full",
            "--format",
            "json",
        ])
        .env("ZREPLRS_ZFS", &wrapper)
        .output()
        .unwrap();
    let cut = run_result(out);
    assert!(marker.exists(), "the wrapper cut the stream");
    assert_ne!(cut.code, 0, "{:#}", cut.json);
    assert_eq!(cut.json["filesystems"][0]["resumable"], true, "{:#}", cut.json);
    assert_ne!(
        prop(&back, "receive_resume_token"),
        "-",
        "the restore left resumable state"
    );

    let run = restore(&sc, &["--fs", &enc, "--to", &back, "--allow-full"]);
    ok(&run);
    assert!(steps(&run, 0)[0].2, "the first step resumed: {:#}", run.json);
    let sent = bytes(&run);
    println!("resumed restore: {sent} bytes sent after the cut at 2000000");
    assert!(sent < 5_500_000, "only the rest was sent: {sent}");
    assert_eq!(snapshots(&back), snapshots(&sc.target(&enc)));
    assert_eq!(prop(&back, "encryption"), prop(&enc, "encryption"), "still encrypted");
    assert_eq!(
        prop(&back, "keystatus"),
        "unavailable",
        "came back raw: the key is needed"
    );
    zfs(&[
        "load-key",
        "-L",
        &format!("file://{}", sc.dir.path().join("key").display()),
        &back,
    ]);
    assert_eq!(
        checksum_snapshot(&format!("{back}@s2")),
        checksum_snapshot(&format!("{enc}@s2"))
    );

    let vol_back = sc.src.ds("vol-back");
    let run = restore(&sc, &["--fs", &vol, "--to", &vol_back, "--allow-full"]);
    ok(&run);
    assert_eq!(snapshots(&vol_back), snapshots(&vol));
    assert_eq!(
        prop(&vol_back, "volmode"),
        "none",
        "no device until the administrator asks for one"
    );
    assert_eq!(volume_content(&vol_back), vol_content);
    assert_no_bookkeeping(&sc, &sc.target(&enc));
}

/// `replicate --rotate` on diverged copies: a filesystem whose copy has a snapshot of its own after the
/// common one (with a child), a filesystem whose place holds an unrelated dataset, and an encrypted one
/// sent raw. Without `--rotate` the run refuses and changes nothing; with it each copy is set aside under
/// the name the JSON gives, nothing is destroyed (every snapshot that existed still does), the first filesystem
/// continues incrementally from the common snapshot with its child back in place, the unrelated one gets a
/// full send, and the protection ends where a converged run leaves it.
#[test]
#[ignore = "needs real ZFS: run by vm/test"]
fn rotate_sets_diverged_copies_aside_and_starts_new_chains() {
    let sc = Scenario::new("rot");
    let a = sc.src.ds("a");
    let child = format!("{a}/c");
    let b = sc.src.ds("b");
    let enc = sc.src.ds("e");
    create_fs(&a);
    create_fs(&child);
    create_fs(&b);
    sc.create_encrypted_fs(&enc);
    for fs in [&a, &child, &b, &enc] {
        write_data(fs, "f1", 1, 500_000);
    }
    zfs(&["snapshot", "-r", &format!("{a}@s1")]);
    snap(&enc, "s1");
    sc.configure(
        &[(&format!("{a}<"), true), (&b, true), (&enc, true)],
        "initial_replication = \"all\"\n[jobs.send]\nraw = true\n",
    );
    // b's place on the receiver holds an unrelated dataset before b was ever sent.
    zfs(&["create", "-p", &sc.target(&b)]);
    zfs(&["snapshot", &format!("{}@foreign", sc.target(&b))]);
    snap(&b, "s1");
    let first = sc.replicate(&[]);
    assert_eq!(first.code, 1, "{:#}", first.json);
    // Diverge a and e: a snapshot of the copy's own after s1, and a new one on the sender.
    for fs in [&a, &enc] {
        zfs(&["snapshot", &format!("{}@rogue", sc.target(fs))]);
        write_data(fs, "f2", 2, 300_000);
        snap(fs, "s2");
    }
    let before = sc.dst.state();
    let refused = sc.replicate(&[]);
    assert_eq!(refused.code, 1, "{:#}", refused.json);
    assert_eq!(sc.dst.state(), before, "without --rotate nothing changes");
    let old: Vec<String> = before
        .lines()
        .filter(|l| !l.starts_with("hold "))
        .filter_map(|l| l.split('\t').next())
        .filter(|n| n.contains('@'))
        .map(|n| n.rsplit('@').next().unwrap().to_string())
        .collect();

    let run = sc.replicate(&["--rotate"]);
    assert_eq!(run.code, 0, "{}\n{:#}", run.stderr, run.json);
    let fss = run.json["filesystems"].as_array().unwrap();
    let report = |name: &str| {
        fss.iter()
            .find(|f| f["name"] == name)
            .unwrap_or_else(|| panic!("{name}"))
    };
    let aside = |name: &str| {
        report(name)["rotated_to"]
            .as_str()
            .unwrap_or_else(|| panic!("{:#}", report(name)))
            .to_string()
    };
    let (a_aside, b_aside, e_aside) = (aside(&a), aside(&b), aside(&enc));
    for (fs, to) in [(&a, &a_aside), (&b, &b_aside), (&enc, &e_aside)] {
        assert!(to.starts_with(&format!("{}-rotated-", sc.target(fs))), "{to}");
        assert_eq!(
            snapshots(&sc.target(fs)),
            snapshots(fs),
            "{fs}: the new chain has the sender's snapshots"
        );
    }
    assert!(report(&child)["rotated_to"].is_null(), "the child was not diverged");
    assert_eq!(
        snapshots(&sc.target(&child)),
        snapshots(&child),
        "the child is back in its place"
    );
    // a: incremental from the common snapshot; the copy set aside keeps what diverged.
    let a_steps = report(&a)["steps"].as_array().unwrap().clone();
    assert_eq!(a_steps.len(), 1, "{a_steps:?}");
    assert!(a_steps[0]["from"].as_str().unwrap().ends_with("@s1"), "{a_steps:?}");
    let a_sent = a_steps[0]["bytes"].as_u64().unwrap();
    println!("rotate: {a} continued incrementally from s1 with {a_sent} bytes; {b} got a full send");
    assert!(a_sent < 600_000, "incremental: {a_sent}");
    assert_eq!(
        snapshots(&a_aside).iter().map(|(n, _)| n.as_str()).collect::<Vec<_>>(),
        ["rogue"]
    );
    assert_eq!(prop(&a_aside, "origin"), format!("{}@s1", sc.target(&a)));
    assert!(report(&b)["steps"][0]["from"].is_null(), "b: a full send");
    assert_eq!(
        snapshots(&b_aside).iter().map(|(n, _)| n.as_str()).collect::<Vec<_>>(),
        ["foreign"]
    );
    println!(
        "rotate: encrypted {enc} continued {}",
        if report(&enc)["steps"][0]["from"].is_null() {
            "with a full send"
        } else {
            "incrementally"
        }
    );
    // Nothing destroyed: every snapshot name that existed below the root still does.
    let after = sc.dst.state();
    for n in &old {
        assert!(after.contains(&format!("@{n}\t")), "{n} still exists:\n{after}");
    }
    sc.assert_converged(&a);
    sc.assert_converged(&b);
    for to in [&a_aside, &b_aside] {
        let held = all_holds(to);
        assert!(
            held.values().all(|t| !t.contains(&sc.last_received_tag())),
            "{to}: {held:?}"
        );
    }
    let again = sc.replicate(&[]);
    assert_eq!(again.code, 0, "{:#}", again.json);
    assert_eq!(again.json["result"], "nothing_to_do");
}

/// Snapshots the new primary's replicated datasets at once (not its placeholder `x`, so that failback finds
/// it empty and makes it a placeholder again).
fn snapshot_copy_tree(copy: &str, name: &str) {
    let snaps: Vec<String> = ["", "/c", "/x/y"].iter().map(|d| format!("{copy}{d}@{name}")).collect();
    let mut args = vec!["snapshot"];
    args.extend(snaps.iter().map(String::as_str));
    zfs(&args);
}

/// The job's cursor bookmarks on `fs`.
fn job_cursors(sc: &Scenario, fs: &str) -> Vec<String> {
    let suffix = format!("_J_{}", sc.job);
    bookmarks(fs)
        .into_iter()
        .map(|(n, _)| n)
        .filter(|n| n.starts_with("zrepl_CURSOR_G_") && n.ends_with(&suffix))
        .collect()
}

/// Failover and back on one host's two pools: after `failover` the original is read-only and the replica
/// writable, with the bookkeeping in its new roles (a cursor on the replica, a last-received hold on the
/// original, none of the old ones); writes on the new primary replicate back incrementally; a snapshot
/// taken on the original meanwhile makes `failback` refuse, `--rotate` sets it aside; after `failback` the
/// roles and bookkeeping are as before and the job replicates forward incrementally. Content is equal at
/// each step and no step is a full send.
#[test]
#[ignore = "needs real ZFS: run by vm/test"]
fn failover_writes_replicate_back_and_failback_restores_the_roles() {
    let sc = Scenario::new("fov");
    let a = sc.src.ds("a");
    let child = format!("{a}/c");
    create_fs(&a);
    create_fs(&child);
    // An excluded a/x with an included a/x/y: a placeholder on the receiver.
    create_fs(&format!("{a}/x/y"));
    write_data(&a, "base", 1, 1_000_000);
    write_data(&child, "base", 2, 200_000);
    zfs(&["snapshot", "-r", &format!("{a}@s1")]);
    let excluded = format!("{a}/x");
    sc.configure(
        &[(&format!("{a}<"), true), (&excluded, false)],
        "initial_replication = \"all\"",
    );
    ok(&sc.replicate(&[]));
    let copy = sc.target(&a);
    let placeholder = format!("{copy}/x");
    assert_eq!(prop(&placeholder, "zrepl:placeholder"), "on");
    // Failover: a last replication first (s2 reaches the replica), then the roles change.
    write_data(&a, "f2", 3, 300_000);
    zfs(&["snapshot", "-r", &format!("{a}@s2")]);
    let (code, v) = failover_command(&sc, "failover", &[]);
    assert_eq!(code, Some(0), "{v:#}");
    assert_eq!(v["primary"], "replica", "{v:#}");
    assert_eq!(snapshots(&copy), snapshots(&a));
    assert_eq!(prop(&a, "readonly"), "on");
    assert_eq!(prop(&a, "zreplrs:failover"), sc.job);
    assert_eq!(prop(&copy, "readonly"), "off");
    assert_eq!(prop(&format!("{copy}/c"), "readonly"), "off");
    assert_eq!(
        prop(&placeholder, "zrepl:placeholder"),
        "off",
        "the new primary has no placeholders"
    );
    assert_eq!(
        job_cursors(&sc, &a),
        Vec::<String>::new(),
        "the original's cursors are gone"
    );
    assert_eq!(job_cursors(&sc, &copy).len(), 1, "the replica has the job's cursor");
    assert_eq!(
        holds(&format!("{a}@s2")),
        vec![sc.last_received_tag()],
        "the original holds what it has"
    );
    assert!(
        holds(&format!("{copy}@s2")).is_empty(),
        "the replica's last-received hold is released"
    );
    // Writes on the new primary replicate back.
    // The backup host gives the new primary its mountpoint (zreplrs takes none from the other side).
    zfs(&["set", &format!("mountpoint=/tmp/mnt/{copy}"), &copy]);
    if prop(&copy, "mounted") != "yes" {
        zfs(&["mount", &copy]);
    }
    write_data(&copy, "new", 4, 400_000);
    snapshot_copy_tree(&copy, "s3");
    let back = sc.replicate(&[]);
    ok(&back);
    let sent = back.json["bytes_replicated"].as_u64().unwrap();
    println!("failover: the new primary's changes (400000 bytes) went back with {sent} bytes");
    assert!(sent < 800_000, "incremental: {sent}");
    assert_eq!(snapshots(&a), snapshots(&copy));
    // (Content is compared after failback: reading a@s3 now would keep its .zfs/snapshot mounted in the
    // original, which --rotate must move out of the way.)
    assert_eq!(holds(&format!("{a}@s3")), vec![sc.last_received_tag()]);
    assert!(holds(&format!("{a}@s2")).is_empty(), "the hold moved forward");
    // Status (and so `check --job`) looks at the direction the job replicates in now.
    let out = sc
        .command(&["status", "--job", &sc.job, "--format", "json"])
        .output()
        .unwrap();
    let st: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(out.status.code(), Some(0), "{st:#}");
    assert_eq!(st["filesystems"][0]["name"], copy, "{st:#}");
    assert_eq!(st["filesystems"][0]["state"], "up_to_date", "{st:#}");
    // Prune waits for failback (its keep rules are for the other direction).
    let before = (sc.src.state(), sc.dst.state());
    let out = sc
        .command(&["prune", "--job", &sc.job, "--side", "both"])
        .output()
        .unwrap();
    let msg = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{msg}");
    assert!(msg.contains("is failed over"), "{msg}");
    assert_eq!((sc.src.state(), sc.dst.state()), before, "nothing pruned");
    // The original was written to meanwhile: failback refuses, --rotate sets that aside.
    zfs(&["snapshot", &format!("{a}@stray")]);
    let before = (sc.src.state(), sc.dst.state());
    let (code, v) = failover_command(&sc, "failback", &[]);
    assert_eq!(code, Some(3), "{v:#}");
    assert_eq!(v["error"]["kind"], "not_up_to_date", "{v:#}");
    assert!(v["error"]["message"].as_str().unwrap().contains("diverged"), "{v:#}");
    assert_eq!(
        (sc.src.state(), sc.dst.state()),
        before,
        "a refused failback changes nothing"
    );
    write_data(&copy, "more", 5, 100_000);
    snapshot_copy_tree(&copy, "s4");
    let (code, v) = failover_command(&sc, "failback", &["--rotate"]);
    assert_eq!(code, Some(0), "{v:#}");
    assert_eq!(v["primary"], "sender", "{v:#}");
    let rotated = v["runs"][0]["filesystems"][0]["rotated_to"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(
        snapshots(&rotated).iter().map(|(n, _)| n.as_str()).collect::<Vec<_>>(),
        ["stray"]
    );
    assert_eq!(snapshots(&a), snapshots(&copy));
    for snap in ["s3", "s4"] {
        let (x, y) = (format!("{a}@{snap}"), format!("{copy}@{snap}"));
        assert_eq!(checksum_snapshot(&x), checksum_snapshot(&y), "{snap}");
    }
    let step_bytes = incremental_step_bytes(&v);
    println!("failback: steps of {step_bytes:?} bytes for 100000 bytes changed");
    assert_eq!(prop(&a, "readonly"), "off");
    assert_eq!(prop(&a, "zreplrs:failover"), "-");
    assert_eq!(prop(&copy, "readonly"), "on");
    assert_eq!(prop(&placeholder, "zrepl:placeholder"), "on", "a placeholder again");
    assert_eq!(
        job_cursors(&sc, &copy),
        Vec::<String>::new(),
        "the replica's cursors are gone"
    );
    assert!(
        all_holds(&sc.src.name).is_empty(),
        "the original holds nothing: {:?}",
        all_holds(&sc.src.name)
    );
    // Forward again: writes on the original replicate incrementally, and the job converges as before.
    write_data(&a, "after", 6, 200_000);
    zfs(&["snapshot", "-r", &format!("{a}@s5")]);
    let fwd = sc.replicate(&[]);
    ok(&fwd);
    let steps = fwd.json["filesystems"][0]["steps"].as_array().unwrap();
    assert!(steps[0]["from"].as_str().unwrap().ends_with("@s4"), "{steps:?}");
    sc.assert_converged(&a);
    sc.assert_converged(&child);
}
