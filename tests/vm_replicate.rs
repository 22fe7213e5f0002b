//! VM scenarios of `zreplrs replicate` over the local transport, on real OpenZFS (issue: replication engine).
//! Each test reads as a scenario and ends by checking the invariants of a converged state.

mod vmlib;

use std::process::Stdio;

use vmlib::*;

const IGN: &str = "needs real ZFS: run by vm/test";

fn steps(run: &Run, fs_index: usize) -> Vec<(Option<String>, String, bool)> {
    run.json["filesystems"][fs_index]["steps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            (
                s["from"]
                    .as_str()
                    .map(|f| f.rsplit(['@', '#']).next().unwrap().to_string()),
                s["to"].as_str().unwrap().rsplit('@').next().unwrap().to_string(),
                s["resumed"].as_bool().unwrap(),
            )
        })
        .collect()
}

fn ok(run: &Run) {
    assert_eq!(run.code, 0, "exit code; stderr: {}\njson: {:#}", run.stderr, run.json);
}

#[test]
#[ignore = "needs real ZFS: run by vm/test"]
fn initial_full_most_recent_then_nothing_to_do() {
    let _ = IGN;
    let sc = Scenario::new("imr");
    let fs = sc.src.ds("a");
    create_fs(&fs);
    write_data(&fs, "f1", 1, 200_000);
    snap(&fs, "s1");
    write_data(&fs, "f2", 2, 200_000);
    snap(&fs, "s2");
    sc.configure(&[(&fs, true)], "");
    let run = sc.replicate(&[]);
    ok(&run);
    assert_eq!(run.json["result"], "ok");
    assert_eq!(steps(&run, 0), vec![(None, "s2".to_string(), false)]);
    assert_eq!(snapshots(&sc.target(&fs)).len(), 1, "most_recent sends only the newest");
    assert!(run.json["bytes_replicated"].as_u64().unwrap() > 400_000);
    sc.assert_converged(&fs);
    let again = sc.replicate(&[]);
    ok(&again);
    assert_eq!(again.json["result"], "nothing_to_do");
    assert_eq!(again.json["filesystems"][0]["result"], "up_to_date");
    sc.assert_converged(&fs);
}

#[test]
#[ignore = "needs real ZFS: run by vm/test"]
fn initial_full_all_sends_every_snapshot() {
    let sc = Scenario::new("ial");
    let fs = sc.src.ds("a");
    create_fs(&fs);
    for (i, s) in ["s1", "s2", "s3"].iter().enumerate() {
        write_data(&fs, &format!("f{i}"), i as u64, 100_000);
        snap(&fs, s);
    }
    sc.configure(&[(&fs, true)], "initial_replication = \"all\"");
    let run = sc.replicate(&[]);
    ok(&run);
    // s1 in full, then one -I stream that also delivers s2.
    assert_eq!(
        steps(&run, 0),
        vec![(None, "s1".into(), false), (Some("s1".into()), "s3".into(), false)]
    );
    assert_eq!(run.json["filesystems"][0]["steps"][1]["snapshots"], 2);
    assert_eq!(snapshots(&sc.target(&fs)), snapshots(&fs));
    sc.assert_converged(&fs);
}

#[test]
#[ignore = "needs real ZFS: run by vm/test"]
fn incremental_over_several_snapshots() {
    let sc = Scenario::new("inc");
    let fs = sc.src.ds("a");
    create_fs(&fs);
    write_data(&fs, "f0", 9, 100_000);
    snap(&fs, "s1");
    sc.configure(&[(&fs, true)], "");
    ok(&sc.replicate(&[]));
    for (i, s) in ["s2", "s3", "s4"].iter().enumerate() {
        write_data(&fs, &format!("g{i}"), 20 + i as u64, 150_000);
        snap(&fs, s);
    }
    let run = sc.replicate(&[]);
    ok(&run);
    // One -I stream s1 → s4 carrying s2 and s3.
    assert_eq!(steps(&run, 0), vec![(Some("s1".into()), "s4".into(), false)]);
    let step = &run.json["filesystems"][0]["steps"][0];
    assert_eq!(step["snapshots"], 3);
    let est = step["bytes_estimated"].as_u64().expect("the step is estimated");
    assert!(est > 450_000, "estimate {est} covers all three snapshots");
    assert_eq!(step["result"], "done");
    assert_eq!(snapshots(&sc.target(&fs)), snapshots(&fs), "every snapshot arrived");
    sc.assert_converged(&fs);
    // Metrics were written and name this filesystem.
    let prom = std::fs::read_dir(sc.metrics_dir()).unwrap().count();
    assert_eq!(prom, 0, "no textfile unless configured");
    let run = sc.replicate(&["--textfile-dir", sc.metrics_dir().to_str().unwrap()]);
    ok(&run);
    let text = std::fs::read_to_string(sc.metrics_dir().join(format!("zreplrs_replicate_{}.prom", sc.job))).unwrap();
    assert!(
        text.contains(&format!(
            "zreplrs_filesystem_pending_snapshots{{job=\"{}\",filesystem=\"{fs}\"}} 0",
            sc.job
        )),
        "{text}"
    );
    assert!(
        text.contains(&format!("zreplrs_replication_last_run_success{{job=\"{}\"}} 1", sc.job)),
        "{text}"
    );
}

#[test]
#[ignore = "needs real ZFS: run by vm/test"]
fn incremental_from_the_cursor_after_the_sender_destroyed_the_common_snapshot() {
    let sc = Scenario::new("cur");
    let fs = sc.src.ds("a");
    create_fs(&fs);
    write_data(&fs, "f", 1, 100_000);
    snap(&fs, "s1");
    sc.configure(&[(&fs, true)], "");
    ok(&sc.replicate(&[]));
    write_data(&fs, "g", 2, 100_000);
    snap(&fs, "s2");
    // The sender prunes s1: nothing holds it, the cursor bookmark keeps the incremental base.
    zfs(&["destroy", &format!("{fs}@s1")]);
    let run = sc.replicate(&[]);
    ok(&run);
    let st = steps(&run, 0);
    assert_eq!(st.len(), 1);
    assert!(
        st[0].0.as_deref().unwrap().starts_with("zrepl_CURSOR_G_"),
        "from the cursor: {st:?}"
    );
    assert!(run.json["filesystems"][0]["steps"][0]["from"]
        .as_str()
        .unwrap()
        .contains('#'));
    assert_eq!(
        snapshots(&sc.target(&fs))
            .iter()
            .map(|s| s.0.clone())
            .collect::<Vec<_>>(),
        ["s1", "s2"]
    );
    sc.assert_converged(&fs);
}

#[test]
#[ignore = "needs real ZFS: run by vm/test"]
fn nested_datasets_with_an_unreplicated_parent_get_placeholders() {
    let sc = Scenario::new("nest");
    let parent = sc.src.ds("a");
    let child = sc.src.ds("a/b");
    let grandchild = sc.src.ds("a/b/c");
    create_fs(&parent);
    create_fs(&child);
    create_fs(&grandchild);
    write_data(&child, "f", 1, 50_000);
    write_data(&grandchild, "f", 2, 50_000);
    snap(&parent, "s1");
    snap(&child, "s1");
    snap(&grandchild, "s1");
    sc.configure(&[(&format!("{child}<"), true)], "");
    let run = sc.replicate(&[]);
    ok(&run);
    assert_eq!(
        run.json["filesystems"].as_array().unwrap().len(),
        2,
        "only the subtree: {:#}",
        run.json
    );
    // Parents that are not replicated exist on the receiver as placeholders.
    for ph in [sc.target(sc.src.name.as_str()), sc.target(&parent)] {
        assert_eq!(prop(&ph, "zrepl:placeholder"), "on", "{ph}");
        assert!(snapshots(&ph).is_empty());
    }
    sc.assert_converged(&child);
    sc.assert_converged(&grandchild);
    // Real copies below a placeholder say they are not placeholders (zrepl sets it off too), instead of
    // inheriting `on`.
    for real in [sc.target(&child), sc.target(&grandchild)] {
        assert_eq!(prop(&real, "zrepl:placeholder"), "off", "{real}");
    }
    // Later the parent joins the job: its placeholder is replaced by the real copy, children stay.
    sc.configure(&[(&format!("{parent}<"), true)], "");
    let run = sc.replicate(&[]);
    ok(&run);
    sc.assert_converged(&parent);
    sc.assert_converged(&child);
    assert_eq!(
        prop(&sc.target(&parent), "canmount"),
        "on",
        "the replaced placeholder is an ordinary copy now"
    );
    assert_eq!(prop(&sc.target(&parent), "zrepl:placeholder"), "off");
    assert_eq!(snapshots(&sc.target(&grandchild)).len(), 1);
}

/// Cuts the initial transfer of an 8 MB filesystem at 3 MB under the job settings `extra`, then checks that
/// the next run resumes it from the receiver's token and converges.
fn cut_transfer_resumes(name: &str, extra: &str) {
    let sc = Scenario::new(name);
    let fs = sc.src.ds("a");
    create_fs(&fs);
    write_data(&fs, "big", 3, 8_000_000);
    snap(&fs, "s1");
    sc.configure(&[(&fs, true)], &format!("retries = 0\n{extra}"));
    let (wrapper, marker) = cutting_zfs_wrapper(sc.dir.path(), 3_000_000, false);
    let out = sc
        .command(&["replicate", "--job", &sc.job, "--format", "json"])
        .env("ZREPLRS_ZFS", &wrapper)
        .output()
        .unwrap();
    let run = run_result(out);
    assert!(marker.exists(), "the wrapper cut the stream");
    assert_eq!(run.code, 1, "the filesystem failed: {}\n{:#}", run.stderr, run.json);
    assert_eq!(run.json["filesystems"][0]["result"], "failed");
    assert_eq!(run.json["filesystems"][0]["resumable"], true);
    let token = prop(&sc.target(&fs), "receive_resume_token");
    assert_ne!(token, "-", "the receiver kept resumable state");
    let run = sc.replicate(&[]);
    ok(&run);
    assert_eq!(
        steps(&run, 0),
        vec![(None, "s1".to_string(), true)],
        "resumed from the token"
    );
    let sent = run.json["filesystems"][0]["steps"][0]["bytes"].as_u64().unwrap();
    assert!(sent < 7_000_000, "only the rest was sent: {sent}");
    assert_eq!(prop(&sc.target(&fs), "receive_resume_token"), "-");
    sc.assert_converged(&fs);
}

#[test]
#[ignore = "needs real ZFS: run by vm/test"]
fn interrupted_transfer_is_resumed_on_the_next_run() {
    cut_transfer_resumes("res", "");
}

/// `send.raw = true` on an unencrypted filesystem: `zfs send -w` leaves a token without `rawok`, which is
/// this job's own and must be resumed (it used to be refused until someone ran `zfs receive -A`).
#[test]
#[ignore = "needs real ZFS: run by vm/test"]
fn raw_job_resumes_a_cut_transfer_of_an_unencrypted_filesystem() {
    cut_transfer_resumes("rwr", "[jobs.send]\nraw = true\n");
}

#[test]
#[ignore = "needs real ZFS: run by vm/test"]
fn stale_resume_token_is_aborted_and_the_run_proceeds() {
    let sc = Scenario::new("stl");
    let fs = sc.src.ds("a");
    create_fs(&fs);
    write_data(&fs, "f", 1, 100_000);
    snap(&fs, "s1");
    sc.configure(&[(&fs, true)], "retries = 0");
    ok(&sc.replicate(&[]));
    write_data(&fs, "big", 4, 8_000_000);
    snap(&fs, "s2");
    let (wrapper, _) = cutting_zfs_wrapper(sc.dir.path(), 3_000_000, false);
    let out = sc
        .command(&["replicate", "--job", &sc.job, "--format", "json"])
        .env("ZREPLRS_ZFS", &wrapper)
        .output()
        .unwrap();
    assert_eq!(run_result(out).code, 1);
    assert_ne!(prop(&sc.target(&fs), "receive_resume_token"), "-");
    // The administrator prunes s2 on the sender (releasing the interrupted step's hold first).
    zfs(&["release", &sc.step_tag(), &format!("{fs}@s2")]);
    zfs(&["destroy", &format!("{fs}@s2")]);
    write_data(&fs, "g", 5, 100_000);
    snap(&fs, "s3");
    let run = sc.replicate(&[]);
    ok(&run);
    assert_eq!(steps(&run, 0), vec![(Some("s1".into()), "s3".into(), false)]);
    assert_eq!(prop(&sc.target(&fs), "receive_resume_token"), "-");
    sc.assert_converged(&fs);
}

/// Leaves partial receive state on `target` from `send_args`, cut after `limit` bytes.
fn partial_receive(send_args: &[&str], target: &str, force: bool, limit: u64) {
    let mut recv = vec!["receive", "-s", "-u"];
    if force {
        recv.push("-F");
    }
    recv.push(target);
    let (ok, _) = send_recv(send_args, &recv, Some(limit));
    assert!(!ok);
    assert_ne!(prop(target, "receive_resume_token"), "-", "partial state on {target}");
}

/// Real ZFS can produce tokens whose `toname` or `rawok` disagree with the plan; a `fromguid` or `toguid`
/// mismatch needs forged token bytes (ZFS checksums tokens) and is covered by the planner's unit tests.
#[test]
#[ignore = "needs real ZFS: run by vm/test"]
fn forged_resume_tokens_are_refused_and_change_nothing() {
    let sc = Scenario::new("frg");
    let a = sc.src.ds("a");
    let b = sc.src.ds("b");
    let e = sc.src.ds("e");
    let key = sc.dir.path().join("key");
    std::fs::write(&key, "correct horse battery staple").unwrap();
    create_fs(&a);
    create_fs(&b);
    create_fs_with(
        &e,
        &[
            "encryption=on",
            "keyformat=passphrase",
            &format!("keylocation=file://{}", key.display()),
        ],
    );
    for fs in [&a, &b, &e] {
        write_data(fs, "f", 6, 4_000_000);
        snap(fs, "s1");
    }
    sc.configure(&[(&a, true), (&b, true), (&e, true)], "retries = 0");
    zfs(&["create", "-p", &sc.target(&sc.src.name)]);
    // toname: the receiver's (new) copy of a carries partial state of a stream of b.
    partial_receive(&["send", &format!("{b}@s1")], &sc.target(&a), false, 1_000_000);
    // rawok: a raw stream of the encrypted e, where the job sends non-raw (raw only matters when encrypted).
    partial_receive(&["send", "-w", &format!("{e}@s1")], &sc.target(&e), false, 1_000_000);
    let before_dst = sc.dst.state();
    let run = sc.replicate(&[]);
    assert_eq!(run.code, 1, "{:#}", run.json);
    for (i, want) in [(0, "it sends"), (2, "raw")] {
        let f = &run.json["filesystems"][i];
        assert_eq!(f["result"], "conflict", "{f:#}");
        assert_eq!(f["error"]["kind"], "resume_token_mismatch", "{f:#}");
        assert!(f["error"]["message"].as_str().unwrap().contains(want), "{f:#}");
        assert_eq!(f["resumable"], true);
    }
    assert_eq!(
        run.json["filesystems"][1]["result"], "ok",
        "an unrelated filesystem still replicates"
    );
    let after: Vec<String> = sc
        .dst
        .state()
        .lines()
        .filter(|l| !l.contains(&format!("{}/b", sc.target(&sc.src.name))))
        .map(String::from)
        .collect();
    let before: Vec<String> = before_dst
        .lines()
        .filter(|l| !l.contains(&format!("{}/b", sc.target(&sc.src.name))))
        .map(String::from)
        .collect();
    assert_eq!(after, before, "the refused filesystems' receiver state is unchanged");
}

#[test]
#[ignore = "needs real ZFS: run by vm/test"]
fn encrypted_datasets_are_sent_raw_and_plain_ones_refused() {
    let sc = Scenario::new("enc");
    let key = sc.dir.path().join("key");
    std::fs::write(&key, "correct horse battery staple").unwrap();
    let enc = sc.src.ds("enc");
    let plain = sc.src.ds("plain");
    create_fs_with(
        &enc,
        &[
            "encryption=on",
            "keyformat=passphrase",
            &format!("keylocation=file://{}", key.display()),
        ],
    );
    create_fs(&plain);
    write_data(&enc, "secret", 8, 100_000);
    snap(&enc, "s1");
    snap(&plain, "s1");
    sc.configure(&[(&enc, true), (&plain, true)], "[jobs.send]\nencrypted = true\n");
    let run = sc.replicate(&[]);
    assert_eq!(run.code, 1, "{:#}", run.json);
    let t = sc.target(&enc);
    assert_eq!(prop(&t, "encryption"), "aes-256-gcm");
    assert_eq!(prop(&t, "keystatus"), "unavailable", "the receiver never sees the key");
    assert_eq!(run.json["filesystems"][0]["result"], "ok");
    assert_eq!(run.json["filesystems"][1]["result"], "conflict");
    assert_eq!(run.json["filesystems"][1]["error"]["kind"], "not_encrypted");
    assert!(!exists(&sc.target(&plain)), "the plain dataset was not sent");
    // Incremental raw, then the content checks out once the key is loaded on the receiver.
    write_data(&enc, "more", 9, 100_000);
    snap(&enc, "s2");
    let run = sc.replicate(&[]);
    assert_eq!(run.json["filesystems"][0]["result"], "ok", "{:#}", run.json);
    zfs(&["load-key", "-L", &format!("file://{}", key.display()), &t]);
    sc.assert_converged(&enc);
}

#[test]
#[ignore = "needs real ZFS: run by vm/test"]
fn diverged_receiver_is_a_conflict_and_left_untouched() {
    let sc = Scenario::new("div");
    let fs = sc.src.ds("a");
    create_fs(&fs);
    snap(&fs, "s1");
    sc.configure(&[(&fs, true)], "");
    ok(&sc.replicate(&[]));
    zfs(&["snapshot", &format!("{}@rogue", sc.target(&fs))]);
    snap(&fs, "s2");
    let before = sc.dst.state();
    let run = sc.replicate(&[]);
    assert_eq!(run.code, 1);
    let f = &run.json["filesystems"][0];
    assert_eq!(f["result"], "conflict");
    assert_eq!(f["error"]["kind"], "diverged");
    let msg = f["error"]["message"].as_str().unwrap();
    assert!(msg.contains("@rogue") && msg.contains("@s1"), "{msg}");
    assert_eq!(sc.dst.state(), before);
}

#[test]
#[ignore = "needs real ZFS: run by vm/test"]
fn dry_run_plans_with_estimates_and_changes_nothing() {
    let sc = Scenario::new("dry");
    let fs = sc.src.ds("a");
    create_fs(&fs);
    write_data(&fs, "f", 1, 500_000);
    snap(&fs, "s1");
    sc.configure(&[(&fs, true)], "");
    ok(&sc.replicate(&[]));
    write_data(&fs, "g", 2, 700_000);
    snap(&fs, "s2");
    snap(&fs, "s3");
    let (src_before, dst_before) = (sc.src.state(), sc.dst.state());
    let run = sc.replicate(&["--dry-run"]);
    ok(&run);
    assert_eq!(run.json["dry_run"], true);
    assert_eq!(run.json["filesystems"][0]["result"], "planned");
    assert_eq!(steps(&run, 0).len(), 1, "one -I stream");
    assert_eq!(run.json["filesystems"][0]["steps"][0]["snapshots"], 2);
    let est = run.json["bytes_estimated"].as_u64().unwrap();
    assert!(est > 700_000, "estimate {est}");
    assert_eq!(run.json["bytes_estimate_exact"], true);
    assert_eq!(run.json["bytes_replicated"], 0);
    assert_eq!(sc.src.state(), src_before, "sender unchanged");
    assert_eq!(sc.dst.state(), dst_before, "receiver unchanged");
}

#[test]
#[ignore = "needs real ZFS: run by vm/test"]
fn a_run_killed_mid_transfer_converges_on_the_next_run() {
    let sc = Scenario::new("kil");
    let fs = sc.src.ds("a");
    create_fs(&fs);
    write_data(&fs, "f", 1, 100_000);
    snap(&fs, "s1");
    sc.configure(&[(&fs, true)], "retries = 0");
    ok(&sc.replicate(&[]));
    write_data(&fs, "big", 2, 8_000_000);
    snap(&fs, "s2");
    let (wrapper, marker) = cutting_zfs_wrapper(sc.dir.path(), 3_000_000, true);
    let mut child = sc
        .command(&["replicate", "--job", &sc.job, "--format", "json"])
        .env("ZREPLRS_ZFS", &wrapper)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    wait_for("the wrapper to cut the stream", 300, || marker.exists());
    let target = sc.target(&fs);
    wait_for("zfs receive to read the cut stream", 300, || {
        receive_pids(&target)
            .first()
            .is_some_and(|p| bytes_read(*p) >= 3_000_000)
    });
    nix_kill(child.id() as i32);
    let _ = child.wait();
    let blocker: i32 = std::fs::read_to_string(&marker).unwrap().trim().parse().unwrap();
    nix_kill(blocker);
    wait_for("the agent to end", 300, || {
        pids_matching(&format!("--root-fs {}", sc.root())).is_empty()
    });
    wait_for("zfs receive to end", 300, || receive_pids(&target).is_empty());
    assert_ne!(
        prop(&target, "receive_resume_token"),
        "-",
        "the killed transfer left resumable state"
    );
    let run = sc.replicate(&[]);
    ok(&run);
    assert_eq!(steps(&run, 0), vec![(Some("s1".to_string()), "s2".to_string(), true)]);
    sc.assert_converged(&fs);
}

fn nix_kill(pid: i32) {
    try_cmd("kill", &["-9", &pid.to_string()]).unwrap();
}

#[test]
#[ignore = "needs real ZFS: run by vm/test"]
fn a_second_concurrent_run_exits_4_and_touches_nothing() {
    let sc = Scenario::new("lck");
    let fs = sc.src.ds("a");
    create_fs(&fs);
    write_data(&fs, "big", 2, 4_000_000);
    snap(&fs, "s1");
    // The first run must not end by itself (its stall watchdog) while the second one is checked.
    sc.configure(&[(&fs, true)], "retries = 0\nstall_timeout = \"1h\"");
    let (wrapper, marker) = cutting_zfs_wrapper(sc.dir.path(), 1_000_000, true);
    let mut first = sc
        .command(&["replicate", "--job", &sc.job, "--format", "json"])
        .env("ZREPLRS_ZFS", &wrapper)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    wait_for("the first run to be mid-transfer", 300, || marker.exists());
    // Everything sent so far has reached zfs receive: the receiver's state is settled.
    let target = sc.target(&fs);
    wait_for("zfs receive to read what was sent", 300, || {
        receive_pids(&target)
            .first()
            .is_some_and(|p| bytes_read(*p) >= 1_000_000)
    });
    let (src_before, dst_before) = (sc.src.state(), sc.dst.state());
    let second = sc.replicate(&[]);
    assert_eq!(second.code, 4, "stderr: {}", second.stderr);
    assert!(second.stderr.contains("another run"), "{}", second.stderr);
    assert_eq!(second.json, serde_json::Value::Null, "no result on stdout");
    assert_eq!(sc.src.state(), src_before);
    assert_eq!(sc.dst.state(), dst_before);
    nix_kill(first.id() as i32);
    let _ = first.wait();
    let blocker: i32 = std::fs::read_to_string(&marker).unwrap().trim().parse().unwrap();
    nix_kill(blocker);
    wait_for("the agent to end", 300, || {
        pids_matching(&format!("--root-fs {}", sc.root())).is_empty()
    });
    ok(&sc.replicate(&[]));
    sc.assert_converged(&fs);
}

/// Writes a `zfs` wrapper for ZREPLRS_ZFS that logs each call's arguments (one line per call) to `log`.
fn logging_zfs_wrapper(dir: &std::path::Path) -> (std::path::PathBuf, std::path::PathBuf) {
    let log = dir.join("zfs-calls.log");
    let path = dir.join("zfs-logged");
    let script = format!("#!/bin/bash\necho \"$*\" >> {}\nexec zfs \"$@\"\n", log.display());
    std::fs::write(&path, script).unwrap();
    try_cmd("chmod", &["+x", path.to_str().unwrap()]).unwrap();
    (path, log)
}

/// One `replicate` run with every `zfs` call (sender and local recv-agent) logged; returns the run and the
/// calls it made.
fn logged_replicate(sc: &Scenario, wrapper: &std::path::Path, log: &std::path::Path) -> (Run, Vec<String>) {
    let _ = std::fs::remove_file(log);
    let out = sc
        .command(&["replicate", "--job", &sc.job, "--format", "json"])
        .env("ZREPLRS_ZFS", wrapper)
        .output()
        .unwrap();
    let run = run_result(out);
    let calls = std::fs::read_to_string(log).unwrap_or_default();
    (run, calls.lines().map(str::to_string).collect())
}

fn record_source(prop: &str, fs: &str) -> String {
    zfs(&["get", "-H", "-o", "source", prop, fs]).trim().to_string()
}

#[test]
#[ignore = "needs real ZFS: run by vm/test"]
fn unchanged_filesystems_are_known_from_the_sync_record() {
    let sc = Scenario::new("rec");
    let (a, b) = (sc.src.ds("a"), sc.src.ds("b"));
    for fs in [&a, &b] {
        create_fs(fs);
        write_data(fs, "f", 1, 50_000);
        snap(fs, "s1");
    }
    sc.configure(&[(&a, true), (&b, true)], "");
    let prop = format!("zreplrs:synced:{}", sc.job);
    ok(&sc.replicate(&[]));
    if zfs_try(&["get", "-H", "-o", "value", "snapshots_changed", &a]).is_err() {
        // OpenZFS < 2.2 has no `snapshots_changed`: no record is written, every run lists every snapshot
        // (one full listing per side), and up-to-date filesystems are still found up to date.
        let (wrapper, log) = logging_zfs_wrapper(sc.dir.path());
        for _ in 0..2 {
            let (run, calls) = logged_replicate(&sc, &wrapper, &log);
            ok(&run);
            assert_eq!(run.json["result"], "nothing_to_do", "{:#}", run.json);
            for fs in [&a, &b] {
                assert_ne!(record_source(&prop, fs), "local", "no sync record on {fs}");
                sc.assert_converged(fs);
            }
            let full: Vec<&String> = calls
                .iter()
                .filter(|c| c.starts_with("list") && c.contains("snapshot"))
                .collect();
            for fs in [&a, &b] {
                assert!(
                    full.iter()
                        .any(|c| c.contains(&format!(" {}", sc.src.name)) || c.contains(fs.as_str())),
                    "{fs}'s snapshots are listed: {calls:#?}"
                );
            }
            assert!(
                full.iter().any(|c| c.contains(&sc.root())),
                "the receiver's snapshots are listed: {calls:#?}"
            );
        }
        return;
    }
    // A run that finds both up to date records them, once the second of the receive has passed.
    wait_for("both filesystems recorded as up to date", 300, || {
        ok(&sc.replicate(&[]));
        [&a, &b].iter().all(|fs| record_source(&prop, fs) == "local")
    });
    let (wrapper, log) = logging_zfs_wrapper(sc.dir.path());

    // A no-op run lists filesystems only: one call per side, no snapshot listed, nothing else asked.
    let (run, calls) = logged_replicate(&sc, &wrapper, &log);
    ok(&run);
    assert_eq!(run.json["result"], "nothing_to_do");
    for (i, fs) in [&a, &b].iter().enumerate() {
        let f = &run.json["filesystems"][i];
        assert_eq!(f["result"], "up_to_date", "{f:#}");
        assert_eq!(f["newest_replicated"], format!("{fs}@s1"));
        assert_eq!(f["pending_snapshots"], 0);
        assert!(f["lag_seconds"].is_u64(), "lag known from the record: {f:#}");
    }
    let lists: Vec<&String> = calls.iter().filter(|c| c.starts_with("list")).collect();
    assert_eq!(lists.len(), 2, "one listing per side: {calls:#?}");
    assert!(lists.iter().all(|c| c.contains("-t filesystem,volume ")), "{calls:#?}");
    let marks: Vec<&String> = calls.iter().filter(|c| c.contains("zreplrs:failover")).collect();
    assert_eq!(
        marks.len(),
        1,
        "the failover marks of all roots in one call: {calls:#?}"
    );
    assert!(
        calls.iter().all(|c| c.starts_with("list")
            || c == "version"
            || c.starts_with("get -H -p -o name,value zreplrs:failover ")),
        "nothing but the listings, the failover marks and the agent's version check: {calls:#?}"
    );

    // A new snapshot on a: only a's snapshots are listed (on both sides), and a is replicated.
    snap(&a, "s2");
    let (run, calls) = logged_replicate(&sc, &wrapper, &log);
    ok(&run);
    assert_eq!(run.json["filesystems"][0]["result"], "ok");
    assert_eq!(run.json["filesystems"][1]["result"], "up_to_date");
    let detail: Vec<&String> = calls.iter().filter(|c| c.contains(" -t snapshot,bookmark ")).collect();
    assert_eq!(detail.len(), 2, "{calls:#?}");
    assert!(detail[0].ends_with(&format!(" {a}")) || detail[1].ends_with(&format!(" {a}")));
    assert!(
        detail.iter().any(|c| c.ends_with(&format!(" {}", sc.target(&a)))),
        "{detail:#?}"
    );
    assert!(!detail.iter().any(|c| c.contains(&b)), "b is not listed: {detail:#?}");
    sc.assert_converged(&a);
    sc.assert_converged(&b);

    // A change on the receiver side (an older snapshot destroyed) also makes the run list a again.
    wait_for("a recorded again", 300, || {
        ok(&sc.replicate(&[]));
        zfs(&["get", "-H", "-o", "value", &prop, &a]).contains(" s2")
    });
    zfs(&["destroy", &format!("{}@s1", sc.target(&a))]);
    let (run, calls) = logged_replicate(&sc, &wrapper, &log);
    ok(&run);
    assert_eq!(run.json["filesystems"][0]["result"], "up_to_date");
    assert!(
        calls
            .iter()
            .any(|c| c.contains(" -t snapshot,bookmark ") && c.ends_with(&sc.target(&a))),
        "{calls:#?}"
    );

    // A last-received hold released by hand changes no snapshot: the record still holds and the run does
    // not look. Once the record is older than the recheck period, the run lists b and repairs the hold.
    let held = format!("{}@s1", sc.target(&b));
    zfs(&["release", &sc.last_received_tag(), &held]);
    ok(&sc.replicate(&[]));
    assert!(holds(&held).is_empty(), "not looked at while the record holds");
    let value = zfs(&["get", "-H", "-o", "value", &prop, &b]).trim().to_string();
    let mut fields: Vec<String> = value.splitn(10, ' ').map(str::to_string).collect();
    let recorded_at: u64 = fields[8].parse().unwrap();
    fields[8] = (recorded_at - 25 * 3600).to_string();
    zfs(&["set", &format!("{prop}={}", fields.join(" ")), &b]);
    ok(&sc.replicate(&[]));
    sc.assert_converged(&b);
    let renewed = zfs(&["get", "-H", "-o", "value", &prop, &b]);
    let renewed_at: u64 = renewed.trim().split(' ').nth(8).unwrap().parse().unwrap();
    assert!(renewed_at >= recorded_at, "the record is renewed: {renewed}");

    // A record that is not ours to read is ignored and replaced.
    zfs(&["set", &format!("{prop}=garbage"), &b]);
    let (run, calls) = logged_replicate(&sc, &wrapper, &log);
    ok(&run);
    assert_eq!(run.json["filesystems"][1]["result"], "up_to_date");
    assert!(
        calls
            .iter()
            .any(|c| c.contains(" -t snapshot,bookmark ") && c.ends_with(&b)),
        "{calls:#?}"
    );
    assert!(zfs(&["get", "-H", "-o", "value", &prop, &b]).starts_with("v1 "));

    // status reads the records too.
    let out = sc.command(&["status", "--job", &sc.job, "--json"]).output().unwrap();
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    for (i, fs) in [&a, &b].iter().enumerate() {
        assert_eq!(v["filesystems"][i]["state"], "up_to_date", "{v:#}");
        assert_eq!(
            v["filesystems"][i]["newest_sender_snapshot"],
            v["filesystems"][i]["newest_replicated"]
        );
        assert!(v["filesystems"][i]["newest_replicated"]
            .as_str()
            .unwrap()
            .starts_with(fs.as_str()));
    }
}

/// A full stream with properties (`send.properties = true`, as a crafted stream could carry them) whose
/// dataset has `mountpoint=/etc`-style, `setuid=on` and `devices=on`: the agent's defaults keep the copy
/// from taking the mountpoint and from honouring setuid binaries or device nodes.
#[test]
#[ignore = "needs real ZFS: run by vm/test"]
fn received_properties_cannot_mount_over_system_paths_or_enable_setuid() {
    let sc = Scenario::new("rpp");
    let fs = sc.src.ds("a");
    let evil = format!("/tmp/zreplrs-evil-{}", sc.job);
    create_fs_with(&fs, &["setuid=on", "devices=on", "compression=lz4"]);
    zfs(&["set", &format!("mountpoint={evil}"), &fs]);
    snap(&fs, "s1");
    sc.configure(&[(&fs, true)], "[jobs.send]\nproperties = true\n");
    ok(&sc.replicate(&[]));
    let target = sc.target(&fs);
    let source_of = |p: &str| zfs(&["get", "-H", "-o", "source", p, &target]).trim().to_string();
    assert_ne!(prop(&target, "mountpoint"), evil);
    assert!(
        !source_of("mountpoint").starts_with("received"),
        "{}",
        source_of("mountpoint")
    );
    assert_eq!(prop(&target, "setuid"), "off");
    assert_eq!(prop(&target, "devices"), "off");
    assert_eq!(prop(&target, "exec"), "off", "nothing a peer sent runs as a program");
    assert_eq!(prop(&target, "compression"), "lz4", "other sent properties are taken");
    sc.assert_converged(&fs);
    // A stream with properties is received hardened on every increment too, `local:` or not.
    let evil2 = format!("{evil}-2");
    zfs(&["set", &format!("mountpoint={evil2}"), &fs]);
    zfs(&["set", "setuid=on", &target]);
    zfs(&["set", "compression=gzip", &fs]);
    snap(&fs, "s2");
    ok(&sc.replicate(&[]));
    assert_ne!(prop(&target, "mountpoint"), evil2);
    assert!(
        !source_of("mountpoint").starts_with("received"),
        "{}",
        source_of("mountpoint")
    );
    assert_eq!(
        prop(&target, "setuid"),
        "off",
        "set off again by the incremental receive"
    );
    assert_eq!(prop(&target, "devices"), "off");
    assert_eq!(prop(&target, "compression"), "gzip");
    sc.assert_converged(&fs);
}

/// `[jobs.snapshots]`: snapshots the filter leaves out never reach the receiver, not even inside an `-I`
/// range, and later selected snapshots still arrive incrementally, with the cursor and holds as usual.
#[test]
#[ignore = "needs real ZFS: run by vm/test"]
fn a_snapshot_filter_keeps_unselected_snapshots_off_the_receiver() {
    let sc = Scenario::new("sfl");
    let a = sc.src.ds("a");
    create_fs(&a);
    for (i, name) in ["zrepl_1", "tmp_2", "zrepl_3", "zrepl_4", "tmp_5", "zrepl_6"]
        .iter()
        .enumerate()
    {
        write_data(&a, &format!("f{i}"), i as u64, 20_000);
        snap(&a, name);
    }
    sc.configure(
        &[(&a, true)],
        "initial_replication = \"all\"\n[jobs.snapshots]\ninclude = [\"^zrepl_\"]\n",
    );
    let run = sc.replicate(&[]);
    ok(&run);
    let target = sc.target(&a);
    let names = |fs: &str| snapshots(fs).into_iter().map(|s| s.0).collect::<Vec<_>>();
    assert_eq!(
        names(&target),
        ["zrepl_1", "zrepl_3", "zrepl_4", "zrepl_6"],
        "{:#}",
        run.json
    );
    sc.assert_converged(&a);
    // A new unselected snapshot is not pending; a new selected one arrives incrementally past it.
    snap(&a, "tmp_7");
    let status = sc
        .command(&["status", "--job", &sc.job, "--format", "json"])
        .output()
        .unwrap();
    let v: serde_json::Value = serde_json::from_slice(&status.stdout).unwrap();
    assert_eq!(v["filesystems"][0]["pending_snapshots"], 0, "{v:#}");
    write_data(&a, "g", 9, 20_000);
    snap(&a, "zrepl_8");
    let run = sc.replicate(&[]);
    ok(&run);
    assert_eq!(
        run.json["filesystems"][0]["steps"][0]["from"],
        format!("{a}@zrepl_6"),
        "{:#}",
        run.json
    );
    assert_eq!(names(&target), ["zrepl_1", "zrepl_3", "zrepl_4", "zrepl_6", "zrepl_8"]);
    sc.assert_converged(&a);
}

/// `strip`: a tree lands below the receiver's root without its sender prefix, incrementally afterwards; two
/// filesystems that would land on the same path are both refused, and nothing is received for them.
#[test]
#[ignore = "needs real ZFS: run by vm/test"]
fn strip_lands_a_tree_without_its_prefix_and_refuses_collisions() {
    let sc = Scenario::new("stp");
    let data = sc.src.ds("data");
    let db = sc.src.ds("data/db");
    let logs = sc.src.ds("data/db/logs");
    for fs in [&data, &db, &logs] {
        create_fs(fs);
    }
    write_data(&logs, "f", 1, 50_000);
    snap(&db, "s1");
    snap(&logs, "s1");
    let extra = format!("strip = \"{data}\"\n");
    sc.configure(&[(&format!("{data}<"), true), (&data, false)], &extra);
    let run = sc.replicate(&[]);
    ok(&run);
    let root = sc.root();
    let names = |fs: &str| snapshots(fs).into_iter().map(|s| s.0).collect::<Vec<_>>();
    assert_eq!(names(&format!("{root}/db")), ["s1"], "{:#}", run.json);
    assert_eq!(names(&format!("{root}/db/logs")), ["s1"]);
    assert!(!exists(&sc.target(&db)), "nothing at the full sender path");
    assert_eq!(
        run.json["filesystems"][0]["target"],
        format!("{root}/db"),
        "{:#}",
        run.json
    );
    snap(&logs, "s2");
    let run = sc.replicate(&[]);
    ok(&run);
    assert_eq!(
        run.json["filesystems"][1]["steps"][0]["from"],
        format!("{logs}@s1"),
        "{:#}",
        run.json
    );
    assert_eq!(names(&format!("{root}/db/logs")), ["s1", "s2"]);
    // Two prefixes, and a child of each that would land at <root>/x.
    let other = sc.src.ds("other");
    create_fs(&other);
    for fs in [format!("{data}/x"), format!("{other}/x")] {
        create_fs(&fs);
        snap(&fs, "s1");
    }
    let extra = format!("strip = [\"{data}\", \"{other}\"]\n");
    sc.configure(
        &[
            (&format!("{data}<"), true),
            (&data, false),
            (&format!("{other}<"), true),
            (&other, false),
        ],
        &extra,
    );
    let run = sc.replicate(&[]);
    assert_eq!(run.code, 1, "{:#}", run.json);
    let collided: Vec<&serde_json::Value> = run.json["filesystems"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["error"]["kind"] == "receiver_path_collision")
        .collect();
    assert_eq!(collided.len(), 2, "{:#}", run.json);
    assert!(!exists(&format!("{root}/x")));
}

/// A step hold left by an interrupted run, while the receiver stays unreachable: once older than
/// `max_step_hold_age` the next run releases it (and reports it), the cursor stays, and replication later
/// continues incrementally from the cursor bookmark even though the held snapshots were pruned meanwhile.
#[test]
#[ignore = "needs real ZFS: run by vm/test"]
fn step_holds_older_than_the_limit_are_released_while_the_receiver_is_unreachable() {
    let sc = Scenario::new("sha");
    let a = sc.src.ds("a");
    create_fs(&a);
    write_data(&a, "f", 1, 50_000);
    snap(&a, "s1");
    sc.configure(&[(&a, true)], "");
    ok(&sc.replicate(&[]));
    snap(&a, "s2");
    let s2 = format!("{a}@s2");
    zfs(&["hold", &sc.step_tag(), &s2]); // as a run that died mid-step leaves it
    let unreachable = |age: &str| {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        drop(listener);
        sc.configure_target(
            &format!("ssh://u@127.0.0.1:{port}/backup"),
            &[(&a, true)],
            &format!("retries = 0\nmax_step_hold_age = \"{age}\"\n"),
        );
        sc.replicate(&[])
    };
    let held = || {
        all_holds(&a)
            .into_iter()
            .any(|(n, tags)| n == s2 && tags.contains(&sc.step_tag()))
    };
    let run = unreachable("1h");
    assert_eq!(run.code, 3, "{:#}", run.json);
    assert!(run.json.get("released_aged_step_holds").is_none(), "{:#}", run.json);
    assert!(held(), "a young step hold stays");
    // The hold was put before now (OpenZFS 2.1 prints its time only to the minute: never later than this).
    let since = zreplrs::report::unix_now();
    wait_for("the step hold to be older than 1 s", 30, || {
        zreplrs::report::unix_now() > since + 1
    });
    let run = unreachable("1s");
    assert_eq!(run.code, 3, "{:#}", run.json);
    assert_eq!(
        run.json["released_aged_step_holds"],
        serde_json::json!([s2]),
        "{:#}",
        run.json
    );
    assert!(!held(), "the aged step hold is released");
    assert_eq!(sc.cursors(&a).len(), 1, "the cursor stays");
    // The sender prunes everything; the receiver comes back; the next increment starts at the cursor.
    zfs(&["destroy", &format!("{a}@s1")]);
    zfs(&["destroy", &s2]);
    write_data(&a, "g", 2, 50_000);
    snap(&a, "s3");
    sc.configure(&[(&a, true)], "");
    let run = sc.replicate(&[]);
    ok(&run);
    assert!(
        run.json["filesystems"][0]["steps"][0]["from"]
            .as_str()
            .unwrap()
            .contains("#zrepl_CURSOR_G_"),
        "{:#}",
        run.json
    );
    sc.assert_converged(&a);
}

/// A child is not received below a receiver dataset that is not a copy of its parent: when the parent
/// conflicts (here the receiver has an unrelated dataset at its place), the child is skipped with an error
/// naming the parent, and nothing is created below the unrelated dataset.
#[test]
#[ignore = "needs real ZFS: run by vm/test"]
fn children_of_a_conflicting_parent_are_not_received_below_it() {
    let sc = Scenario::new("pcf");
    let a = sc.src.ds("a");
    let child = sc.src.ds("a/child");
    create_fs(&a);
    create_fs(&child);
    snap(&a, "s1");
    snap(&child, "s1");
    // Something else already lives where a's copy would go.
    let foreign = sc.target(&a);
    zfs(&["create", "-p", &foreign]);
    zfs(&["snapshot", &format!("{foreign}@theirs")]);
    sc.configure(&[(&format!("{a}<"), true)], "");
    let run = sc.replicate(&[]);
    assert_eq!(run.code, 1, "{:#}", run.json);
    let fss = run.json["filesystems"].as_array().unwrap();
    assert_eq!(fss[0]["result"], "conflict", "{:#}", run.json);
    assert_eq!(fss[1]["name"], child.as_str());
    assert_eq!(fss[1]["error"]["kind"], "parent_failed", "{:#}", run.json);
    assert!(
        fss[1]["error"]["message"].as_str().unwrap().contains(&a),
        "{:#}",
        run.json
    );
    assert!(!exists(&sc.target(&child)), "nothing below the unrelated dataset");
    // Once the parent is fine, the child follows.
    zfs(&["destroy", "-r", &foreign]);
    let run = sc.replicate(&[]);
    ok(&run);
    sc.assert_converged(&child);
}

/// The pool's own record of changes (`zpool history -i`) after its first `skip` internal events: each event
/// with the transaction group it was committed in, as (txg, event line).
fn pool_events(pool: &str, skip: usize) -> Vec<(u64, String)> {
    try_cmd("zpool", &["history", "-i", pool])
        .unwrap()
        .lines()
        .filter_map(|l| {
            let at = l.find("[txg:")? + 5;
            let len = l[at..].find(']')?;
            Some((l[at..at + len].parse().ok()?, l[at + len + 1..].trim().to_string()))
        })
        .skip(skip)
        .collect()
}

fn history_len(pool: &str) -> usize {
    pool_events(pool, 0).len()
}

/// The transaction groups of the events `what` (e.g. `hold`) carrying `tag`, and how many there were.
fn txgs_of(events: &[(u64, String)], what: &str, tag: &str) -> (usize, std::collections::BTreeSet<u64>) {
    let matching: Vec<u64> = events
        .iter()
        .filter(|(_, e)| e.starts_with(&format!("{what} ")) && e.contains(&format!("tag={tag} ")))
        .map(|(t, _)| *t)
        .collect();
    (matching.len(), matching.into_iter().collect())
}

#[test]
#[ignore = "needs real ZFS: run by vm/test"]
fn the_step_holds_of_all_filesystems_are_one_transaction_group_each_way() {
    let sc = Scenario::new("txg");
    let top = sc.src.ds("d");
    create_fs(&top);
    let mut all = vec![top.clone()];
    for i in 0..6 {
        let fs = format!("{top}/f{i}");
        create_fs(&fs);
        write_data(&fs, "a", i, 20_000);
        all.push(fs);
    }
    zfs(&["snapshot", "-r", &format!("{top}@s1")]);
    sc.configure(&[(&format!("{top}<"), true)], "");
    let first = sc.replicate(&[]);
    ok(&first);
    for fs in &all {
        let leaked: Vec<_> = all_holds(fs)
            .into_iter()
            .filter(|(n, tags)| n.starts_with(&format!("{fs}@")) && tags.contains(&sc.step_tag()))
            .collect();
        assert!(leaked.is_empty(), "{leaked:?} after {:#}\n{}", first.json, first.stderr);
    }
    for (i, fs) in all.iter().enumerate() {
        write_data(fs, "b", 10 + i as u64, 20_000);
    }
    zfs(&["snapshot", "-r", &format!("{top}@s2")]);
    let (src_mark, dst_mark) = (history_len(&sc.src.name), history_len(&sc.dst.name));
    let (wrapper, log) = logging_zfs_wrapper(sc.dir.path());
    let (run, calls) = logged_replicate(&sc, &wrapper, &log);
    ok(&run);
    // Read before the content checks, which mount the copies.
    let sender = pool_events(&sc.src.name, src_mark);
    let receiver = pool_events(&sc.dst.name, dst_mark);
    for fs in &all {
        sc.assert_converged(fs);
    }
    let n = all.len();
    // Each step holds its `to` and its `from` when that is a snapshot (the base may also be the cursor).
    let mut held = 0;
    for f in run.json["filesystems"].as_array().unwrap() {
        for s in f["steps"].as_array().unwrap() {
            held += 1 + usize::from(s["from"].as_str().is_some_and(|f| f.contains('@')));
        }
    }
    assert!(held > n, "at least one step per filesystem: {:#}", run.json);
    let (holds, hold_txgs) = txgs_of(&sender, "hold", &sc.step_tag());
    let (releases, release_txgs) = txgs_of(&sender, "release", &sc.step_tag());
    assert_eq!(holds, held, "from and to of every step held: {sender:#?}");
    assert_eq!(
        hold_txgs.len(),
        1,
        "all step holds in one transaction group: {sender:#?}"
    );
    assert_eq!(releases, held, "and all released: {sender:#?}");
    assert_eq!(release_txgs.len(), 1, "in one transaction group: {sender:#?}");
    assert!(
        hold_txgs.iter().max() < release_txgs.iter().min(),
        "held before and released after everything else"
    );
    // Every cursor move and step hold on the sender is an ioctl of zreplrs's own: no `zfs` process for any
    // of them. (The local recv-agent was given the wrapper as its --zfs-program, and an agent makes no native
    // call past the program its command line names: its holds go through the wrapper, as they must.)
    let on_sender = format!(" {}/", sc.src.name);
    let bookkeeping: Vec<&String> = calls
        .iter()
        .filter(|c| {
            ["hold ", "release ", "bookmark ", "destroy ", "holds "]
                .iter()
                .any(|p| c.starts_with(p))
        })
        .filter(|c| c.contains(&on_sender))
        .collect();
    assert!(
        bookkeeping.is_empty(),
        "bookkeeping through zfs processes: {bookkeeping:?}"
    );
    let (lr_holds, _) = txgs_of(&receiver, "hold", &sc.last_received_tag());
    let (lr_releases, _) = txgs_of(&receiver, "release", &sc.last_received_tag());
    assert_eq!(
        (lr_holds, lr_releases),
        (n, n),
        "one new and one released last-received hold per filesystem"
    );
    // The local agent's streams are our own and carry no properties: no `-o`/`-x` property changes per
    // received snapshot, and the values set when the copies were created stay.
    let property_changes: Vec<_> = receiver
        .iter()
        .filter(|(_, e)| e.starts_with("set ") || e.starts_with("inherit "))
        .collect();
    assert!(property_changes.is_empty(), "{property_changes:#?}");
    for fs in &all {
        assert_eq!(prop(&sc.target(fs), "setuid"), "off");
        assert_eq!(prop(&sc.target(fs), "devices"), "off");
    }
    // (Not counting the receiver's hold bookkeeping, which the wrapper given to the agent now runs: holds,
    // releases, and listing holds with their `userrefs`.)
    let agent_holds = calls
        .iter()
        .filter(|c| {
            let bookkeeping =
                ["hold ", "release ", "holds "].iter().any(|p| c.starts_with(p)) || c.contains(" userrefs ");
            bookkeeping && !c.contains(&on_sender)
        })
        .count();
    let spawns_per_fs = (calls.len() - agent_holds) as f64 / n as f64;
    assert!(
        spawns_per_fs <= 6.0,
        "{spawns_per_fs:.1} zfs processes per filesystem: {calls:#?}"
    );
}

/// Volumes and encrypted volumes replicate on every receive path zreplrs uses (the local agent with its
/// own streams, with properties, and resumed after a cut): full, incremental and resumed receives converge
/// with equal content. A copy gets `volmode=none` (no device of a peer's data on the backup host) and no
/// sent `refreservation`; no filesystem-only option is passed to a volume's receive.
#[test]
#[ignore = "needs real ZFS: run by vm/test"]
fn volumes_and_encrypted_volumes_replicate_on_every_receive_path() {
    for (tag, extra) in [("vo", ""), ("vp", "[jobs.send]\nproperties = true\n")] {
        let sc = Scenario::new(tag);
        let vol = sc.src.ds("vol");
        zfs(&["create", "-V", "32M", "-o", "volblocksize=16k", &vol]);
        let dev = zvol_device(&vol);
        let fill = |seed: u8, at: u64| {
            let data: Vec<u8> = (0..1_000_000u32).map(|i| (i as u8).wrapping_mul(seed)).collect();
            let mut f = std::fs::OpenOptions::new().write(true).open(&dev).unwrap();
            std::io::Seek::seek(&mut f, std::io::SeekFrom::Start(at)).unwrap();
            std::io::Write::write_all(&mut f, &data).unwrap();
            f.sync_all().unwrap();
        };
        fill(3, 0);
        snap(&vol, "s1");
        sc.configure(&[(&vol, true)], extra);
        ok(&sc.replicate(&[]));
        let t = sc.target(&vol);
        assert_eq!(prop(&t, "type"), "volume");
        assert_eq!(prop(&t, "volmode"), "none", "{tag}: no device on the backup host");
        assert_eq!(
            prop(&t, "refreservation"),
            "0",
            "{tag}: the sent reservation is not taken"
        );
        fill(5, 4_000_000);
        snap(&vol, "s2");
        fill(7, 9_000_000);
        snap(&vol, "s3");
        ok(&sc.replicate(&[]));
        for s in ["s1", "s2", "s3"] {
            assert_eq!(guid(&format!("{t}@{s}")), guid(&format!("{vol}@{s}")), "{tag} @{s}");
        }
        assert_eq!(volume_content(&t), volume_content(&vol), "{tag}: content of @s3");
        let lr = sc.last_received_tag();
        assert!(holds(&format!("{t}@s3")).contains(&lr), "{tag}: the last-received hold");
        assert_eq!(sc.cursors(&vol).len(), 1, "{tag}: one cursor");
    }
    // An encrypted volume, raw, with a transfer cut mid-stream and resumed by the next run.
    let sc = Scenario::new("ve");
    let key = sc.dir.path().join("key");
    std::fs::write(&key, "correct horse battery staple").unwrap();
    let vol = sc.src.ds("evol");
    let kl = format!("keylocation=file://{}", key.display());
    zfs(&[
        "create",
        "-V",
        "32M",
        "-o",
        "encryption=on",
        "-o",
        "keyformat=passphrase",
        "-o",
        &kl,
        &vol,
    ]);
    let dev = zvol_device(&vol);
    let data: Vec<u8> = (0..12_000_000u32).map(|i| (i % 251) as u8 ^ (i >> 12) as u8).collect();
    std::fs::write(&dev, &data).unwrap();
    snap(&vol, "s1");
    let (wrapper, _) = cutting_zfs_wrapper(sc.dir.path(), 3_000_000, false);
    sc.configure(&[(&vol, true)], "retries = 0\n[jobs.send]\nencrypted = true\n");
    let cut = sc
        .command(&["replicate", "--job", &sc.job, "--format", "json"])
        .env("ZREPLRS_ZFS", &wrapper)
        .output()
        .unwrap();
    assert_ne!(
        cut.status.code(),
        Some(0),
        "the cut run fails: {}",
        String::from_utf8_lossy(&cut.stdout)
    );
    let t = sc.target(&vol);
    assert!(
        prop(&t, "receive_resume_token").len() > 1,
        "a partial receive is left to resume"
    );
    ok(&sc.replicate(&[]));
    assert_eq!(prop(&t, "keystatus"), "unavailable", "the receiver never sees the key");
    std::fs::write(&dev, &data[..4_000_000]).unwrap();
    snap(&vol, "s2");
    ok(&sc.replicate(&[]));
    assert_eq!(guid(&format!("{t}@s2")), guid(&format!("{vol}@s2")));
    zfs(&["load-key", "-L", &format!("file://{}", key.display()), &t]);
    assert_eq!(
        volume_content(&t),
        volume_content(&vol),
        "content of the encrypted volume's @s2"
    );
}

/// An encrypted filesystem sent raw whose place on the receiver is already a placeholder (its children were
/// replicated first): ZFS refuses `zfs receive -F` of an encrypted stream over an unencrypted filesystem, so
/// the plan says so as a conflict with what to do, and the copies below stay untouched; done as it says, the
/// next run replicates it.
#[test]
#[ignore = "needs real ZFS: run by vm/test"]
fn an_encrypted_parent_cannot_replace_its_placeholder_and_says_what_to_do() {
    let sc = Scenario::new("eph");
    let key = sc.dir.path().join("key");
    std::fs::write(&key, "correct horse battery staple").unwrap();
    let enc = sc.src.ds("enc");
    let child = format!("{enc}/child");
    create_fs_with(
        &enc,
        &[
            "encryption=on",
            "keyformat=passphrase",
            &format!("keylocation=file://{}", key.display()),
        ],
    );
    create_fs(&child);
    write_data(&child, "f", 51, 100_000);
    snap(&enc, "s1");
    snap(&child, "s1");
    sc.configure(&[(&child, true)], "[jobs.send]\nencrypted = true\n");
    ok(&sc.replicate(&[]));
    let placeholder = sc.target(&enc);
    assert_eq!(prop(&placeholder, "zrepl:placeholder"), "on");
    sc.configure(&[(&format!("{enc}<"), true)], "[jobs.send]\nencrypted = true\n");
    let before = sc.dst.state();
    let run = sc.replicate(&[]);
    assert_eq!(run.code, 1, "{:#}", run.json);
    let parent = &run.json["filesystems"][0];
    assert_eq!(parent["name"], enc.as_str(), "{:#}", run.json);
    assert_eq!(parent["result"], "conflict", "{:#}", run.json);
    assert_eq!(parent["error"]["kind"], "encrypted_over_placeholder", "{:#}", run.json);
    assert!(
        parent["error"]["message"]
            .as_str()
            .unwrap()
            .contains("destroy the placeholder"),
        "{:#}",
        run.json
    );
    assert_eq!(sc.dst.state(), before, "nothing changed on the receiver");
    // As the message says: the copies below moved away, the placeholder destroyed.
    zfs(&["rename", &sc.target(&child), &format!("{}/moved", sc.root())]);
    zfs(&["destroy", &placeholder]);
    let run = sc.replicate(&[]);
    assert_eq!(run.code, 0, "{:#}", run.json);
    assert_eq!(guid(&format!("{placeholder}@s1")), guid(&format!("{enc}@s1")));
    assert_eq!(prop(&placeholder, "encryption"), "aes-256-gcm");
    assert_eq!(guid(&format!("{}@s1", sc.target(&child))), guid(&format!("{child}@s1")));
}
