//! VM scenarios of the day-to-day subcommands on real OpenZFS: snapshot (atomic per pool, hooks), prune
//! (keep rules on both sides, replication still incremental afterwards), status, holds, migrate, test.

mod vmlib;

use std::process::Command;

use vmlib::*;

fn json_of(out: std::process::Output) -> (i32, serde_json::Value, String) {
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    let v = serde_json::from_str(&stdout).unwrap_or_else(|e| panic!("not JSON ({e}): {stdout}\nstderr: {stderr}"));
    (out.status.code().unwrap_or(-1), v, stderr)
}

fn run(sc: &Scenario, args: &[&str]) -> (i32, serde_json::Value, String) {
    json_of(sc.command(args).output().unwrap())
}

fn names(fs: &str) -> Vec<String> {
    snapshots(fs).into_iter().map(|s| s.0).collect()
}

#[test]
#[ignore = "needs real ZFS: run by vm/test"]
fn snapshot_is_atomic_per_pool_and_runs_hooks() {
    let sc = Scenario::new("snp");
    let a = sc.src.ds("a");
    let b = sc.src.ds("a/b");
    let skip = sc.src.ds("a/tmp");
    for fs in [&a, &b, &skip] {
        create_fs(fs);
    }
    let envfile = sc.dir.path().join("post.env");
    sc.configure(
        &[(&format!("{a}<"), true), (&skip, false)],
        &format!(
            "[jobs.snapshot]\nprefix = \"auto_\"\npost_hook = [\"/bin/sh\", \"-c\", \"env | grep ^ZREPLRS_ > {}\"]\n",
            envfile.display()
        ),
    );
    let (code, v, err) = run(&sc, &["snapshot", "--job", &sc.job, "--format", "json"]);
    assert_eq!(code, 0, "{err}\n{v:#}");
    let name = v["snapshot_name"].as_str().unwrap().to_string();
    assert!(
        name.starts_with("auto_") && name.len() == "auto_20060102_150405_000".len(),
        "{name}"
    );
    assert_eq!(v["snapshots_taken"], 2);
    assert_eq!(names(&a), [name.as_str()]);
    assert_eq!(names(&b), [name.as_str()]);
    assert!(names(&skip).is_empty(), "excluded by the filter");
    assert_eq!(
        prop(&format!("{a}@{name}"), "createtxg"),
        prop(&format!("{b}@{name}"), "createtxg"),
        "one transaction"
    );
    let env = std::fs::read_to_string(&envfile).unwrap();
    assert!(env.contains(&format!("ZREPLRS_SNAPSHOT_NAME={name}")), "{env}");
    assert!(
        env.contains(&format!("ZREPLRS_JOB={}", sc.job)) && env.contains("ZREPLRS_DRY_RUN=0"),
        "{env}"
    );
    assert!(
        env.contains(&format!("{a}@{name}")),
        "post hook sees what was taken: {env}"
    );
}

#[test]
#[ignore = "needs real ZFS: run by vm/test"]
fn failing_or_slow_pre_hook_skips_the_snapshot() {
    let sc = Scenario::new("phk");
    let a = sc.src.ds("a");
    create_fs(&a);
    sc.configure(&[(&a, true)], "[jobs.snapshot]\npre_hook = [\"/bin/false\"]\n");
    let (code, v, _) = run(&sc, &["snapshot", "--job", &sc.job, "--format", "json"]);
    assert_eq!(code, 1, "{v:#}");
    assert_eq!(v["hooks"][0]["success"], false);
    assert_eq!(v["pools"][0]["error"]["kind"], "pre_hook_failed");
    assert!(names(&a).is_empty());
    sc.configure(
        &[(&a, true)],
        "[jobs.snapshot]\npre_hook = [\"/bin/sleep\", \"60\"]\nhook_timeout = \"1s\"\n",
    );
    let (code, v, _) = run(&sc, &["snapshot", "--job", &sc.job, "--format", "json"]);
    assert_eq!(code, 1);
    assert_eq!(v["hooks"][0]["timed_out"], true, "{v:#}");
    assert!(names(&a).is_empty());
}

const PRUNE_LAST_2: &str =
    "[jobs.prune]\nkeep_sender = [{ type = \"not_replicated\" }, { type = \"last_n\", count = 2 }]\n\
                            keep_receiver = [{ type = \"last_n\", count = 2 }]\n";

#[test]
#[ignore = "needs real ZFS: run by vm/test"]
fn prune_both_sides_then_replication_stays_incremental() {
    let sc = Scenario::new("prn");
    let a = sc.src.ds("a");
    create_fs(&a);
    sc.configure(&[(&a, true)], &format!("initial_replication = \"all\"\n{PRUNE_LAST_2}"));
    for i in 1..=5 {
        write_data(&a, &format!("f{i}"), i, 50_000);
        snap(&a, &format!("s{i}"));
    }
    assert_eq!(sc.replicate(&[]).code, 0);
    // s6 is taken but not replicated yet: not_replicated keeps it on the sender.
    snap(&a, "s6");
    let (code, v, err) = run(&sc, &["prune", "--job", &sc.job, "--dry-run", "--format", "json"]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(names(&a).len(), 6, "dry run destroys nothing");
    assert!(v["destroyed"].as_u64().unwrap() > 0);
    let (code, v, err) = run(
        &sc,
        &[
            "prune",
            "--job",
            &sc.job,
            "--format",
            "json",
            "--textfile-dir",
            sc.metrics_dir().to_str().unwrap(),
        ],
    );
    assert_eq!(code, 0, "{err}\n{v:#}");
    assert_eq!(
        names(&a),
        ["s5", "s6"],
        "last 2 (s5 is also the cursor's snapshot; s6 is not replicated)"
    );
    assert_eq!(names(&sc.target(&a)), ["s4", "s5"]);
    let prom = std::fs::read_to_string(sc.metrics_dir().join(format!("zreplrs_prune_{}.prom", sc.job))).unwrap();
    assert!(prom.contains("zreplrs_prune_destroyed_snapshots{"), "{prom}");
    // Pruning again destroys nothing more.
    let (_, v, _) = run(&sc, &["prune", "--job", &sc.job, "--format", "json"]);
    assert_eq!(v["destroyed"], 0, "{v:#}");
    // Replication continues incrementally from s5.
    let r = sc.replicate(&[]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(r.json["filesystems"][0]["steps"][0]["from"], format!("{a}@s5"));
    sc.assert_converged(&a);
    // Pruning the sender down to the cursor: the base survives as the cursor bookmark.
    zfs(&["destroy", &format!("{a}@s5")]);
    zfs(&["destroy", &format!("{a}@s6")]);
    snap(&a, "s7");
    let r = sc.replicate(&[]);
    assert_eq!(r.code, 0);
    assert!(r.json["filesystems"][0]["steps"][0]["from"]
        .as_str()
        .unwrap()
        .contains("#zrepl_CURSOR_G_"));
}

/// An append-only receiver is pruned on the backup host itself, where the sender's filesystems do not
/// exist: the job's filesystems come from the receiver's listing, the newest (held) snapshot stays, and
/// replication continues incrementally afterwards.
#[test]
#[ignore = "needs real ZFS: run by vm/test"]
fn receiver_side_prune_works_where_the_sender_filesystems_are_absent() {
    let sc = Scenario::new("pbh");
    let a = sc.src.ds("a");
    create_fs(&a);
    for i in 1..=4 {
        snap(&a, &format!("s{i}"));
    }
    let keep = "[jobs.prune]\nkeep_sender = [{ type = \"not_replicated\" }]\n\
                keep_receiver = [{ type = \"last_n\", count = 2 }]\n";
    sc.configure(
        &[(&format!("{a}<"), true)],
        &format!("initial_replication = \"all\"\n{keep}"),
    );
    assert_eq!(sc.replicate(&[]).code, 0);
    let copy = sc.target(&a);
    assert_eq!(names(&copy), ["s1", "s2", "s3", "s4"]);
    // As on the backup host: the sender's filesystem is not here.
    let moved = sc.src.ds("moved");
    zfs(&["rename", &a, &moved]);
    let (code, v, err) = run(
        &sc,
        &[
            "prune",
            "--job",
            &sc.job,
            "--side",
            "receiver",
            "--dry-run",
            "--format",
            "json",
        ],
    );
    assert_eq!(code, 0, "{err}\n{v:#}");
    assert_eq!(names(&copy).len(), 4, "a dry run destroys nothing");
    let (code, v, err) = run(
        &sc,
        &["prune", "--job", &sc.job, "--side", "receiver", "--format", "json"],
    );
    assert_eq!(code, 0, "{err}\n{v:#}");
    let fss = v["filesystems"].as_array().unwrap();
    assert_eq!(fss.len(), 1, "only the real copy, not the placeholders above it: {v:#}");
    assert_eq!(fss[0]["filesystem"], copy.as_str(), "{v:#}");
    assert_eq!(names(&copy), ["s3", "s4"]);
    // The sender is back: replication continues incrementally from s4.
    zfs(&["rename", &moved, &a]);
    snap(&a, "s5");
    let r = sc.replicate(&[]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(r.json["filesystems"][0]["steps"][0]["from"], format!("{a}@s4"));
}

/// Receiver-side prune under `strip`, with an older copy of the same filesystem still at the unstripped
/// path (from before `strip` was set): only the stripped copy's snapshots that the rules drop are
/// destroyed, the older copy keeps all of its snapshots, and the report names exactly what ZFS no longer
/// has, both where the sender's filesystems are on this host and where they are not.
#[test]
#[ignore = "needs real ZFS: run by vm/test"]
fn receiver_prune_under_strip_destroys_only_where_the_copy_landed() {
    let sc = Scenario::new("pst");
    let data = sc.src.ds("src/data");
    let db = format!("{data}/db");
    zfs(&["create", "-p", &db]);
    for i in 1..=4 {
        snap(&db, &format!("s{i}"));
    }
    let keep = "[jobs.prune]\nkeep_sender = [{ type = \"not_replicated\" }]\n\
                keep_receiver = [{ type = \"last_n\", count = 2 }]\n";
    // First without strip: the older copy at the full path.
    sc.configure(&[(&db, true)], "initial_replication = \"all\"\n");
    assert_eq!(sc.replicate(&[]).code, 0);
    let old = sc.target(&db);
    assert_eq!(names(&old), ["s1", "s2", "s3", "s4"]);
    // Then with strip: a new copy lands at backup/db.
    let extra = format!("strip = \"{data}\"\ninitial_replication = \"all\"\n{keep}");
    sc.configure(&[(&db, true)], &extra);
    let r = sc.replicate(&[]);
    assert_eq!(r.code, 0, "{:#}", r.json);
    let copy = format!("{}/db", sc.root());
    assert_eq!(names(&copy), ["s1", "s2", "s3", "s4"]);
    let (code, v, err) = run(
        &sc,
        &["prune", "--job", &sc.job, "--side", "receiver", "--format", "json"],
    );
    assert_eq!(code, 0, "{err}\n{v:#}");
    assert_eq!(names(&copy), ["s3", "s4"], "the stripped copy was pruned");
    assert_eq!(names(&old), ["s1", "s2", "s3", "s4"], "the older copy is untouched");
    let fss = v["filesystems"].as_array().unwrap();
    assert_eq!(fss.len(), 1, "{v:#}");
    assert_eq!(fss[0]["filesystem"], copy.as_str(), "{v:#}");
    assert_eq!(fss[0]["destroyed"], serde_json::json!(["s1", "s2"]), "{v:#}");
    // As on the backup host, where the sender's filesystems are absent.
    for i in 5..=6 {
        snap(&db, &format!("s{i}"));
    }
    assert_eq!(sc.replicate(&[]).code, 0);
    let moved = sc.src.ds("moved");
    zfs(&["rename", &sc.src.ds("src"), &moved]);
    let (code, v, err) = run(
        &sc,
        &["prune", "--job", &sc.job, "--side", "receiver", "--format", "json"],
    );
    assert_eq!(code, 0, "{err}\n{v:#}");
    assert_eq!(names(&copy), ["s5", "s6"]);
    assert_eq!(names(&old), ["s1", "s2", "s3", "s4"], "the older copy is untouched");
    let destroyed: Vec<&serde_json::Value> = v["filesystems"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| !f["destroyed"].as_array().unwrap().is_empty())
        .collect();
    assert_eq!(destroyed.len(), 1, "{v:#}");
    assert_eq!(destroyed[0]["filesystem"], copy.as_str(), "{v:#}");
    assert_eq!(destroyed[0]["destroyed"], serde_json::json!(["s3", "s4"]), "{v:#}");
}

/// Replicate hooks on real ZFS: the post-hook of an ok run sees `ok` and its JSON result, that of a failed
/// run `failed`; a failing pre-hook skips the run (exit 5) and nothing is received.
#[test]
#[ignore = "needs real ZFS: run by vm/test"]
fn replicate_post_hook_sees_the_result_of_an_ok_run() {
    let sc = Scenario::new("rph");
    let a = sc.src.ds("a");
    create_fs(&a);
    snap(&a, "s1");
    let seen = sc.dir.path().join("seen.json");
    let hooks = format!(
        "[jobs.replicate]\npre_hook = [\"/bin/true\"]\n\
         post_hook = [\"/bin/sh\", \"-c\", \"[ \\\"$ZREPLRS_RESULT\\\" = ok ] && cp \\\"$ZREPLRS_RESULT_FILE\\\" {}\"]\n",
        seen.display()
    );
    sc.configure(&[(&a, true)], &hooks);
    let r = sc.replicate(&[]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(r.json["hooks"][1]["success"], true, "{:#}", r.json);
    let v: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&seen).unwrap()).unwrap();
    assert_eq!(v["result"], "ok");
    assert_eq!(v["filesystems"][0]["name"], a.as_str());
    sc.assert_converged(&a);
    // A failed run: the post-hook is told so.
    let b = sc.src.ds("b");
    create_fs(&b);
    snap(&b, "s1");
    let told = sc.dir.path().join("told");
    let hooks = format!(
        "[jobs.send]\nencrypted = true\n[jobs.replicate]\n\
         post_hook = [\"/bin/sh\", \"-c\", \"echo $ZREPLRS_RESULT > {}\"]\n",
        told.display()
    );
    sc.configure(&[(&b, true)], &hooks);
    let r = sc.replicate(&[]);
    assert_eq!(r.code, 1, "{:#}", r.json);
    assert_eq!(std::fs::read_to_string(&told).unwrap(), "failed\n");
    // A failing pre-hook skips the run: nothing is received.
    sc.configure(&[(&b, true)], "[jobs.replicate]\npre_hook = [\"/bin/false\"]\n");
    let r = sc.replicate(&[]);
    assert_eq!(r.code, 5, "{:#}", r.json);
    assert_eq!(r.json["result"], "skipped");
    assert!(!exists(&sc.target(&b)), "a skipped run receives nothing");
}

/// `verify` finds nothing on a good replica (GUIDs and file digests of every snapshot, the receiver's read
/// through a temporary clone) and finds the difference when the receiver's copy is replaced by a changed
/// clone (test only); its temporary clones are gone afterwards.
#[test]
#[ignore = "needs real ZFS: run by vm/test"]
fn verify_finds_nothing_on_a_good_replica_and_the_difference_on_a_replaced_copy() {
    let sc = Scenario::new("vfy");
    let a = sc.src.ds("a");
    create_fs(&a);
    write_data(&a, "f", 1, 200_000);
    snap(&a, "s1");
    write_data(&a, "g", 2, 100_000);
    snap(&a, "s2");
    sc.configure(&[(&a, true)], "initial_replication = \"all\"\n");
    assert_eq!(sc.replicate(&[]).code, 0);
    let (code, v, err) = run(
        &sc,
        &[
            "verify",
            "--job",
            &sc.job,
            "--snapshot",
            "all",
            "--content",
            "--format",
            "json",
        ],
    );
    assert_eq!(code, 0, "{err}\n{v:#}");
    assert_eq!(
        (v["checked"].as_u64(), v["mismatches"].as_u64()),
        (Some(2), Some(0)),
        "{v:#}"
    );
    let s2 = &v["filesystems"][0]["snapshots"][1];
    assert_eq!(s2["content"]["content_match"], true, "{v:#}");
    assert_eq!(s2["content"]["sender"]["entries"], 2, "{v:#}");
    let leftovers = zfs(&["list", "-H", "-o", "name", "-r", &sc.dst.name]);
    assert!(
        !leftovers.contains("zreplrs_verify"),
        "temporary clones are destroyed: {leftovers}"
    );
    // The receiver's copy replaced by a clone with a changed file.
    let target = sc.target(&a);
    let changed = format!("{target}_changed");
    zfs(&[
        "clone",
        "-o",
        "mountpoint=/tmp/vfy-changed",
        &format!("{target}@s2"),
        &changed,
    ]);
    std::fs::write("/tmp/vfy-changed/g", b"not what was sent").unwrap();
    zfs(&["snapshot", &format!("{changed}@s2")]);
    zfs(&["rename", &target, &format!("{target}_orig")]);
    zfs(&["rename", &changed, &target]);
    let (code, v, _) = run(
        &sc,
        &["verify", "--job", &sc.job, "--snapshot", "s2", "--format", "json"],
    );
    assert_eq!(code, 1, "{v:#}");
    assert_eq!(v["mismatches"], 1, "{v:#}");
    assert_eq!(v["filesystems"][0]["snapshots"][0]["guid_match"], false, "{v:#}");
    let (code, v, _) = run(
        &sc,
        &["verify", "--job", &sc.job, "--snapshot", "s9", "--format", "json"],
    );
    assert_eq!(code, 1, "a snapshot neither side has is a mismatch: {v:#}");
    // A raw copy of an encrypted filesystem, without its key on the receiver: GUID and logical space are
    // compared, and the content is "not verified" (exit 1), never "ok".
    let e = sc.src.ds("e");
    let key = sc.dir.path().join("key");
    std::fs::write(&key, "correct horse battery staple").unwrap();
    create_fs_with(
        &e,
        &[
            "encryption=on",
            "keyformat=passphrase",
            &format!("keylocation=file://{}", key.display()),
        ],
    );
    write_data(&e, "f", 3, 300_000);
    snap(&e, "s1");
    sc.configure(&[(&e, true)], "[jobs.send]\nencrypted = true\n");
    assert_eq!(sc.replicate(&[]).code, 0);
    let (code, v, err) = run(&sc, &["verify", "--job", &sc.job, "--content", "--format", "json"]);
    assert_eq!(code, 1, "a comparison impossible by design is not a pass: {err}\n{v:#}");
    let c = &v["filesystems"][0]["snapshots"][0];
    assert_eq!(c["guid_match"], true, "{v:#}");
    assert_eq!(c["space"]["space_match"], true, "{v:#}");
    assert_eq!(c["unverified"]["status"], "not_verified", "{v:#}");
    assert_eq!(c["unverified"]["error"]["kind"], "not_verifiable", "{v:#}");
    assert!(
        c["unverified"]["error"]["message"]
            .as_str()
            .unwrap()
            .contains("key is not loaded"),
        "{v:#}"
    );
    assert_eq!(v["unverified"], 1, "{v:#}");
    assert!(c.get("content").is_none(), "{v:#}");
}

/// `verify --content` reads a received copy (data a sender controls) through a clone mounted `nosuid`,
/// `nodev`, `noexec` and read-only in a directory only root can enter, while the copy holds a setuid-root
/// binary and a device node; and a replica whose blocks cannot be read (checksum errors, EIO) fails the
/// verification (exit 1, `failed`, naming the copy and the cause) instead of passing on GUID and space.
#[test]
#[ignore = "needs real ZFS: run by vm/test"]
fn verify_reads_copies_without_privilege_and_fails_closed_on_an_unreadable_replica() {
    let sc = Scenario::new("vfc");
    let a = sc.src.ds("a");
    create_fs_with(&a, &["setuid=on", "devices=on"]);
    let mp = mountpoint(&a);
    std::fs::copy("/usr/bin/id", mp.join("suid-id")).unwrap();
    try_cmd("chmod", &["4755", mp.join("suid-id").to_str().unwrap()]).unwrap();
    try_cmd("mknod", &[mp.join("mem").to_str().unwrap(), "c", "1", "1"]).unwrap();
    let marker = b"ZREPLRS-UNREADABLE-BLOCK-".repeat(40_000);
    std::fs::write(mp.join("data"), &marker).unwrap();
    // A large sparse file keeps the clone mounted long enough to look at it.
    let sparse = std::fs::File::create(mp.join("sparse")).unwrap();
    sparse.set_len(64 << 20).unwrap();
    snap(&a, "s1");
    sc.configure(&[(&a, true)], "");
    assert_eq!(sc.replicate(&[]).code, 0);
    let target = sc.target(&a);
    let mut child = sc
        .command(&["verify", "--job", &sc.job, "--content", "--format", "json"])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut seen = None;
    wait_for("the verify clone's mount", 600, || {
        let info = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
        seen = info
            .lines()
            .find(|l| l.contains("_zreplrs_verify_") && l.contains(&target))
            .map(str::to_string);
        seen.is_some() || child.try_wait().unwrap().is_some()
    });
    let line = seen.expect("the clone was mounted while verify ran");
    let fields: Vec<&str> = line.split(' ').collect();
    let (dir, opts) = (fields[4], fields[5]);
    for o in ["ro", "nosuid", "nodev", "noexec"] {
        assert!(opts.split(',').any(|x| x == o), "mount option {o} in {line}");
    }
    let parent = std::path::Path::new(dir).parent().unwrap();
    let mode = std::os::unix::fs::PermissionsExt::mode(&std::fs::metadata(parent).unwrap().permissions());
    assert_eq!(mode & 0o777, 0o700, "{} is for root only", parent.display());
    let nobody = Command::new("setpriv")
        .args(["--reuid=65534", "--regid=65534", "--clear-groups"])
        .arg(format!("{dir}/suid-id"))
        .output()
        .unwrap();
    assert!(!nobody.status.success(), "nobody cannot run the copy's setuid binary");
    let out = child.wait_with_output().unwrap();
    let (code, v, _) = json_of(out);
    assert_eq!(code, 0, "{v:#}");
    assert_eq!(
        v["filesystems"][0]["snapshots"][0]["content"]["content_match"], true,
        "{v:#}"
    );
    // Corrupt the copy's data blocks in the receiver pool's file (exported, so nothing is cached or written
    // meanwhile), then import it: its reads now fail their checksums.
    let img = format!("/tmp/{}.img", sc.dst.name);
    try_cmd("zpool", &["export", &sc.dst.name]).unwrap();
    let bytes = std::fs::read(&img).unwrap();
    let needle = b"ZREPLRS-UNREADABLE-BLOCK-";
    let file = std::fs::OpenOptions::new().write(true).open(&img).unwrap();
    let mut hits = 0;
    let mut i = 0;
    while i + needle.len() <= bytes.len() {
        if &bytes[i..i + needle.len()] == needle {
            std::os::unix::fs::FileExt::write_all_at(&file, &[b'#'; 25], i as u64).unwrap();
            hits += 1;
            i += needle.len();
        } else {
            i += 1;
        }
    }
    file.sync_all().unwrap();
    assert!(hits > 0, "the marker is on the receiver's disk");
    try_cmd("zpool", &["import", "-d", &img, &sc.dst.name]).unwrap();
    let (code, v, err) = run(&sc, &["verify", "--job", &sc.job, "--content", "--format", "json"]);
    assert_eq!(code, 1, "an unreadable replica fails verification: {err}\n{v:#}");
    let c = &v["filesystems"][0]["snapshots"][0];
    assert_eq!(c["unverified"]["status"], "failed", "{v:#}");
    assert_eq!(c["unverified"]["error"]["kind"], "receiver_unreadable", "{v:#}");
    assert!(
        c["unverified"]["error"]["message"].as_str().unwrap().contains(&target),
        "{v:#}"
    );
}

#[test]
#[ignore = "needs real ZFS: run by vm/test"]
fn prune_reports_held_snapshots_without_failing() {
    let sc = Scenario::new("phd");
    let a = sc.src.ds("a");
    create_fs(&a);
    for i in 1..=4 {
        snap(&a, &format!("s{i}"));
    }
    sc.configure(&[(&a, true)], "[jobs.prune]\nkeep_sender = [{ type = \"last_n\", count = 1 }]\nkeep_receiver = [{ type = \"last_n\", count = 1 }]\n");
    zfs(&["hold", "admin_keep", &format!("{a}@s2")]);
    let (code, v, err) = run(
        &sc,
        &["prune", "--job", &sc.job, "--side", "sender", "--format", "json"],
    );
    assert_eq!(code, 0, "{err}\n{v:#}");
    assert_eq!(names(&a), ["s2", "s4"]);
    assert_eq!(v["filesystems"][0]["held"], serde_json::json!(["s2"]));
}

#[test]
#[ignore = "needs real ZFS: run by vm/test"]
fn status_reports_lag_pending_resumable_and_conflicts() {
    let sc = Scenario::new("sts");
    let a = sc.src.ds("a");
    let b = sc.src.ds("b");
    create_fs(&a);
    create_fs(&b);
    snap(&a, "s1");
    snap(&b, "s1");
    sc.configure(&[(&a, true), (&b, true)], "");
    assert_eq!(sc.replicate(&[]).code, 0);
    write_data(&a, "f", 1, 300_000);
    snap(&a, "s2");
    snap(&a, "s3");
    zfs(&["snapshot", &format!("{}@rogue", sc.target(&b))]);
    snap(&b, "s2");
    let (src_before, dst_before) = (sc.src.state(), sc.dst.state());
    let (code, v, err) = run(&sc, &["status", "--job", &sc.job, "--json"]);
    assert_eq!(code, 1, "a conflict is exit 1: {err}\n{v:#}");
    let fa = &v["filesystems"][0];
    assert_eq!(fa["state"], "pending");
    assert_eq!(fa["pending_snapshots"], 2);
    assert!(fa["pending_bytes"].as_u64().unwrap() > 300_000, "{fa:#}");
    assert_eq!(fa["pending_bytes_exact"], true);
    assert_eq!(fa["newest_replicated"], format!("{a}@s1"));
    assert!(fa["lag_seconds"].as_u64().is_some());
    assert_eq!(fa["resumable"], false);
    assert_eq!(v["filesystems"][1]["state"], "conflict");
    assert_eq!(v["filesystems"][1]["conflict"]["kind"], "diverged");
    assert_eq!(
        (sc.src.state(), sc.dst.state()),
        (src_before.clone(), dst_before),
        "status changes nothing"
    );
    let table = sc
        .command(&["status", "--job", &sc.job, "--format", "human"])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&table.stdout);
    assert!(
        text.contains("FILESYSTEM") && text.contains("CONFLICT") && text.contains("pending"),
        "{text}"
    );

    // --all: a second job (only b, to another root) joins the view; one JSON document, one table, a
    // textfile per job, the worst exit code, and still nothing changed.
    let other = format!("{}_other", sc.job);
    zfs(&["create", &sc.dst.ds("other")]);
    let dst_with_other = sc.dst.state();
    let mut config = std::fs::read_to_string(sc.config_path()).unwrap();
    config.push_str(&format!(
        "\n[[jobs]]\nname = \"{other}\"\ntarget = \"local:{}\"\n[jobs.filesystems]\n\"{b}\" = true\n",
        sc.dst.ds("other")
    ));
    std::fs::write(sc.config_path(), config).unwrap();
    let metrics = sc.metrics_dir();
    let dir = metrics.to_str().unwrap();
    let (code, v, err) = run(&sc, &["status", "--all", "--json", "--textfile-dir", dir]);
    assert_eq!(code, 1, "the conflict of the first job: {err}\n{v:#}");
    let jobs = v["jobs"].as_array().unwrap();
    assert_eq!(jobs.len(), 2, "{v:#}");
    assert_eq!(jobs[0]["job"], sc.job.as_str());
    assert_eq!(jobs[0]["filesystems"][1]["state"], "conflict");
    assert_eq!(jobs[1]["job"], other.as_str());
    assert_eq!(jobs[1]["filesystems"][0]["name"], b.as_str());
    assert_eq!(
        jobs[1]["filesystems"][0]["state"], "pending",
        "never replicated to the other root"
    );
    for (job, up_line) in [(&sc.job, "1"), (&other, "1")] {
        let t = std::fs::read_to_string(metrics.join(format!("zreplrs_status_{job}.prom")))
            .unwrap_or_else(|e| panic!("textfile of {job}: {e}"));
        assert!(
            t.contains(&format!("zreplrs_status_up{{job=\"{job}\"}} {up_line}")),
            "{t}"
        );
        assert!(t.contains("zreplrs_status_pending_snapshots{"), "{t}");
    }
    let table = sc.command(&["status", "--all", "--format", "human"]).output().unwrap();
    let text = String::from_utf8_lossy(&table.stdout);
    assert!(text.starts_with("JOB"), "{text}");
    assert!(text.lines().any(|l| l.starts_with(&other) && l.contains(&b)), "{text}");
    assert_eq!(
        (sc.src.state(), sc.dst.state()),
        (src_before, dst_with_other),
        "status --all changes nothing"
    );
}

#[test]
#[ignore = "needs real ZFS: run by vm/test"]
fn holds_list_and_release_stale() {
    let sc = Scenario::new("hld");
    let a = sc.src.ds("a");
    create_fs(&a);
    snap(&a, "s1");
    sc.configure(&[(&a, true)], "");
    assert_eq!(sc.replicate(&[]).code, 0);
    // Leftovers of a crashed run: a step hold and an older cursor.
    zfs(&["hold", &sc.step_tag(), &format!("{a}@s1")]);
    snap(&a, "s2");
    assert_eq!(sc.replicate(&[]).code, 0);
    let g1 = guid(&format!("{a}@s1"));
    zfs(&[
        "bookmark",
        &format!("{a}@s1"),
        &format!("{a}#zrepl_CURSOR_G_{g1:016x}_J_{}", sc.job),
    ]);
    zfs(&["hold", &sc.step_tag(), &format!("{a}@s2")]);
    let (code, v, err) = run(&sc, &["holds", "list", "--job", &sc.job, "--json"]);
    assert_eq!(code, 0, "{err}");
    let kinds: Vec<String> = v["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["kind"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(kinds.iter().filter(|k| *k == "cursor").count(), 2, "{v:#}");
    assert_eq!(kinds.iter().filter(|k| *k == "step_hold").count(), 1, "{v:#}");
    assert_eq!(kinds.iter().filter(|k| *k == "last_received_hold").count(), 1, "{v:#}");
    let (code, v, _) = run(&sc, &["holds", "release-stale", "--job", &sc.job, "--dry-run"]);
    assert_eq!(code, 0);
    assert_eq!(v["released"].as_array().unwrap().len(), 2, "{v:#}");
    assert_eq!(sc.cursors(&a).len(), 2, "dry run changes nothing");
    let (code, _, err) = run(&sc, &["holds", "release-stale", "--job", &sc.job]);
    assert_eq!(code, 0, "{err}");
    sc.assert_converged(&a);
}

#[test]
#[ignore = "needs real ZFS: run by vm/test"]
fn migrate_v1_cursor_only_where_a_v2_cursor_exists() {
    let sc = Scenario::new("mig");
    let a = sc.src.ds("a");
    let b = sc.src.ds("b");
    create_fs(&a);
    create_fs(&b);
    snap(&a, "s1");
    snap(&b, "s1");
    sc.configure(&[(&a, true)], "");
    assert_eq!(sc.replicate(&[]).code, 0);
    for fs in [&a, &b] {
        zfs(&[
            "bookmark",
            &format!("{fs}@s1"),
            &format!("{fs}#zrepl_replication_cursor"),
        ]);
    }
    sc.configure(&[(&a, true), (&b, true)], "");
    let (code, v, _) = run(&sc, &["migrate", "replication-cursor:v1-v2", "--dry-run"]);
    assert_eq!(code, 0);
    assert_eq!(bookmarks(&a).len(), 2, "dry run");
    let actions: Vec<(String, String)> = v["filesystems"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["filesystem"].as_str().unwrap().to_string(),
                e["action"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    assert_eq!(
        actions,
        [
            (a.clone(), "destroyed".to_string()),
            (b.clone(), "no_v2_cursor".to_string())
        ]
    );
    let (code, _, _) = run(&sc, &["migrate", "replication-cursor:v1-v2"]);
    assert_eq!(code, 0);
    assert!(!bookmarks(&a).iter().any(|(n, _)| n == "zrepl_replication_cursor"));
    assert!(
        bookmarks(&b).iter().any(|(n, _)| n == "zrepl_replication_cursor"),
        "kept where no v2 cursor exists"
    );
}

#[test]
#[ignore = "needs real ZFS: run by vm/test"]
fn test_filesystems_and_decode_resume_token() {
    let sc = Scenario::new("tst");
    let a = sc.src.ds("a");
    create_fs(&a);
    create_fs(&sc.src.ds("a/tmp"));
    create_fs(&sc.src.ds("a/keep"));
    sc.configure(&[(&format!("{a}<"), true), (&sc.src.ds("a/tmp"), false)], "");
    let (code, v, _) = run(&sc, &["test", "filesystems", "--job", &sc.job]);
    assert_eq!(code, 0);
    let got: Vec<(String, bool)> = v["filesystems"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["dataset"].as_str().unwrap().to_string(),
                e["included"].as_bool().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        got,
        [
            (a.clone(), true),
            (sc.src.ds("a/keep"), true),
            (sc.src.ds("a/tmp"), false)
        ]
    );
    write_data(&a, "f", 1, 3_000_000);
    let g = snap(&a, "s1");
    let target = sc.target(&a);
    zfs(&["create", "-p", &sc.target(&sc.src.name)]);
    let (ok, _) = send_recv(
        &["send", &format!("{a}@s1")],
        &["receive", "-s", "-u", &target],
        Some(1_000_000),
    );
    assert!(!ok);
    let token = prop(&target, "receive_resume_token");
    let (code, v, _) = run(&sc, &["test", "decode-resume-token", &token]);
    assert_eq!(code, 0);
    assert_eq!(v["toguid"], g.to_string());
    assert_eq!(v["toname"], format!("{a}@s1"));
    let out = sc
        .command(&["test", "decode-resume-token", "1-garbage"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
}

/// Seconds since the epoch on the guest.
fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

/// `zreplrs check ARGS…`: its exit code and its one line.
fn check(sc: &Scenario, args: &[&str]) -> (i32, String) {
    let out = sc.command(&[&["check"], args].concat()).output().unwrap();
    let line = String::from_utf8_lossy(&out.stdout).trim().to_string();
    assert_eq!(line.lines().count(), 1, "one status line: {line}");
    (out.status.code().unwrap_or(-1), line)
}

/// The value of `metric{…filesystem="path"…}` in a textfile.
fn sample(text: &str, metric: &str, path: &str) -> Option<f64> {
    text.lines()
        .find(|l| l.starts_with(&format!("{metric}{{")) && l.contains(&format!("filesystem=\"{path}\"")))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
}

/// The sender stops (its timer never runs again): the backup host's own view turns CRITICAL once the newest
/// received snapshot is older than the threshold, while the sender's last textfile still says its run
/// succeeded; resumable state left by a cut transfer shows with its bytes and since when.
#[test]
#[ignore = "needs real ZFS: run by vm/test"]
fn the_backup_host_sees_a_silent_sender_and_resumable_state_on_its_own() {
    let sc = Scenario::new("mon");
    let (a, b) = (sc.src.ds("a"), sc.src.ds("b"));
    for fs in [&a, &b] {
        create_fs(fs);
        write_data(fs, "f", 1, 100_000);
        snap(fs, "s1");
    }
    let metrics = sc.metrics_dir().display().to_string();
    let extra =
        format!("retries = 0\ntextfile_dir = \"{metrics}\"\n[jobs.check]\nwarning = \"1h\"\ncritical = \"2h\"\n");
    sc.configure(&[(&a, true), (&b, true)], &extra);
    let first = sc.replicate(&[]);
    assert_eq!(first.code, 0, "{}\n{:#}", first.stderr, first.json);
    let job = sc.job.as_str();
    let sender_file = sc.metrics_dir().join(format!("zreplrs_replicate_{job}.prom"));
    let sender_text = std::fs::read_to_string(&sender_file).unwrap();
    assert!(sender_text.contains(&format!("zreplrs_replication_last_run_success{{job=\"{job}\"}} 1")));

    let (code, line) = check(&sc, &["--receiver", "--job", job]);
    assert_eq!(code, 0, "{line}");
    assert!(line.starts_with("ZREPLRS OK - 2 received filesystems fine |"), "{line}");
    // No run since: once the newest copy is older than the threshold, the backup host says so by itself.
    let strict = ["--receiver", "--job", job, "--warning", "2s", "--critical", "4s"];
    wait_for("check --receiver turns CRITICAL", 120, || check(&sc, &strict).0 == 2);
    let (_, line) = check(&sc, &strict);
    assert!(line.contains(&format!("{a} newest snapshot")), "{line}");
    // The same from --root-fs alone, with no job on this host.
    let root = sc.root();
    let (code, line) = check(
        &sc,
        &["--receiver", "--root-fs", &root, "--warning", "2s", "--critical", "4s"],
    );
    assert_eq!(code, 2, "{line}");
    let (code, v, err) = run(
        &sc,
        &[
            "status",
            "--receiver",
            "--job",
            job,
            "--format",
            "json",
            "--textfile-dir",
            &metrics,
        ],
    );
    assert_eq!(code, 0, "{err}");
    let text = std::fs::read_to_string(sc.metrics_dir().join(format!("zreplrs_receiver_{job}.prom"))).unwrap();
    for fs in [&a, &b] {
        let age = sample(&text, "zreplrs_received_snapshot_age_seconds", fs).unwrap_or(-1.0);
        assert!(age >= 4.0, "{fs}: {text}");
        assert_eq!(
            sample(&text, "zreplrs_received_last_received_hold", fs),
            Some(1.0),
            "{text}"
        );
        assert_eq!(sample(&text, "zreplrs_received_resumable", fs), Some(0.0));
    }
    // The two copies and the placeholder of the sender's pool above them.
    assert_eq!(v["filesystems"].as_array().map(|f| f.len()), Some(3), "{v:#}");
    // The sender's own last word has not changed: its run succeeded.
    assert_eq!(std::fs::read_to_string(&sender_file).unwrap(), sender_text);

    // A transfer of b cut part-way leaves resumable state on the backup host: shown with its age.
    write_data(&b, "big", 4, 8_000_000);
    snap(&b, "s2");
    let cut_at = unix_now();
    let (wrapper, marker) = cutting_zfs_wrapper(sc.dir.path(), 3_000_000, false);
    let out = sc
        .command(&["replicate", "--job", job, "--format", "json"])
        .env("ZREPLRS_ZFS", &wrapper)
        .output()
        .unwrap();
    assert!(marker.exists() && run_result(out).code == 1);
    let (_, v, _) = run(&sc, &["status", "--receiver", "--job", job, "--format", "json"]);
    let cut = v["filesystems"]
        .as_array()
        .and_then(|f| f.iter().find(|f| f["path"] == b.as_str()))
        .unwrap_or_else(|| panic!("{b} in {v:#}"));
    assert_eq!(cut["resumable"], true, "{cut:#}");
    assert!(cut["resumable_bytes"].as_u64().unwrap_or(0) > 0, "{cut:#}");
    let since = cut["resumable_since"].as_u64().unwrap_or(0);
    assert!(
        since + 2 >= cut_at && since <= unix_now(),
        "began with the cut transfer: {cut:#}"
    );
    let resumable = [
        "--receiver",
        "--job",
        job,
        "--resumable-warning",
        "1s",
        "--resumable-critical",
        "1h",
    ];
    wait_for("resumable state turns WARNING", 60, || check(&sc, &resumable).0 == 1);
    let (_, line) = check(&sc, &resumable);
    assert!(line.contains(&format!("{b} resumable receive pending for")), "{line}");
}
