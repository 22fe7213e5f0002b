//! VM tests of an `s3://` target against a real Garage node started by each test on 127.0.0.1: the S3
//! client and the manifest commit, replication of every dataset type (a filesystem, an encrypted one sent
//! raw, a volume) with initial and incremental runs, a run killed mid-upload that the next run resumes
//! from its last completed part, a run crashed at each failpoint of the manifest commit, and restores whose
//! content and GUIDs equal the source's.

mod vmlib;

use vmlib::garage::Garage;
use vmlib::*;
use zreplrs::config::StoreConfig;
use zreplrs::objstore::chain::{self, Place};
use zreplrs::objstore::manifest::Manifest;
use zreplrs::objstore::s3::S3;

const MARKER: &str = "PLAINTEXT-THAT-MUST-NOT-REACH-THE-STORE";

/// A scenario whose job replicates `top` and below to `s3://BUCKET/backups` on `g`.
fn configure(sc: &Scenario, g: &Garage, top: &str, store: &str) {
    sc.configure_target(
        &format!("s3://{}/backups", g.bucket),
        &[(&format!("{top}<"), true)],
        &g.store_section(store),
    );
}

/// The committed manifest of the sender filesystem `fs`.
fn manifest(s3: &S3, fs: &str) -> Manifest {
    chain::load(s3, &Place::new("backups/", fs), fs)
        .unwrap()
        .unwrap_or_else(|| panic!("no manifest of {fs}"))
}

fn restore(sc: &Scenario, fs: &str, target: &str, extra: &[&str]) -> Run {
    let mut args = vec![
        "restore", "--job", &sc.job, "--fs", fs, "--target", target, "--format", "json",
    ];
    args.extend_from_slice(extra);
    let out = sc.command(&args).output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    Run {
        code: out.status.code().unwrap_or(-1),
        json: serde_json::from_str(&stdout).unwrap_or_else(|e| panic!("{e}: {stdout}")),
        stdout,
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

fn client(g: &Garage) -> S3 {
    let config = StoreConfig {
        endpoint: Some(g.endpoint.clone()),
        region: "garage".into(),
        path_style: true,
        ..Default::default()
    };
    let creds = rusty_s3::Credentials::new(g.key_id.clone(), g.secret.clone());
    S3::new(&config, &g.bucket, creds, std::time::Duration::from_secs(60)).unwrap()
}

#[test]
#[ignore = "needs Garage: run by vm/test"]
fn the_s3_client_puts_lists_uploads_in_parts_and_says_what_a_refusal_means() {
    let g = Garage::start("zreplrs-client");
    let s3 = client(&g);
    s3.put("a/one", b"hello").unwrap();
    assert_eq!(s3.get_small("a/one", 100).unwrap().unwrap(), b"hello");
    assert_eq!(s3.get_small("a/missing", 100).unwrap(), None);
    assert!(s3.get_small("a/one", 2).is_err(), "larger than asked for");
    let listed: Vec<String> = s3.list("a/", 10).unwrap().into_iter().map(|l| l.key).collect();
    assert_eq!(listed, ["a/one"]);

    let id = s3.create_multipart("big").unwrap();
    let part = vec![7u8; 5 << 20];
    let e1 = s3.upload_part("big", &id, 1, &part).unwrap();
    let parts = s3.list_parts("big", &id).unwrap().unwrap();
    assert_eq!(parts.len(), 1);
    assert_eq!(parts[0].0, 1);
    assert_eq!(parts[0].2, 5 << 20);
    let e2 = s3.upload_part("big", &id, 2, b"tail").unwrap();
    s3.complete_multipart("big", &id, &[e1, e2]).unwrap();
    let mut back = Vec::new();
    std::io::Read::read_to_end(&mut s3.get_from("big", (5 << 20) - 1).unwrap(), &mut back).unwrap();
    assert_eq!(back, b"\x07tail");
    s3.delete("big").unwrap();
    s3.delete("big").unwrap();

    let id = s3.create_multipart("u/gone").unwrap();
    assert_eq!(s3.list_uploads("u/").unwrap(), [("u/gone".to_string(), id.clone())]);
    assert!(s3.list_uploads("v/").unwrap().is_empty());
    s3.abort_multipart("u/gone", &id).unwrap();
    assert!(
        s3.list_uploads("u/").unwrap().is_empty(),
        "an aborted upload is not listed"
    );
    assert_eq!(
        s3.list_parts("gone", &id).unwrap(),
        None,
        "an aborted upload has no parts"
    );

    let config = StoreConfig {
        endpoint: Some(g.endpoint.clone()),
        region: "garage".into(),
        path_style: true,
        ..Default::default()
    };
    let wrong = S3::new(
        &config,
        &g.bucket,
        rusty_s3::Credentials::new(g.key_id.clone(), "0".repeat(64)),
        std::time::Duration::from_secs(60),
    )
    .unwrap();
    let e = wrong.put("x", b"x").unwrap_err();
    assert_eq!(e.kind, zreplrs::error::ErrorKind::Store, "{e}");
    assert!(e.message.contains("check the credentials"), "{e}");
    let missing = S3::new(
        &config,
        "no-such-bucket",
        rusty_s3::Credentials::new(g.key_id.clone(), g.secret.clone()),
        std::time::Duration::from_secs(60),
    )
    .unwrap();
    let e = missing.put("x", b"x").unwrap_err();
    assert_eq!(e.kind, zreplrs::error::ErrorKind::Store, "{e}");
    eprintln!("missing bucket: {e}");
    let elsewhere = StoreConfig {
        region: "eu-west-3".into(),
        ..config.clone()
    };
    let wrong_region = S3::new(
        &elsewhere,
        &g.bucket,
        rusty_s3::Credentials::new(g.key_id.clone(), g.secret.clone()),
        std::time::Duration::from_secs(60),
    )
    .unwrap();
    let e = wrong_region.put("x", b"x").unwrap_err();
    assert_eq!(e.kind, zreplrs::error::ErrorKind::Store, "{e}");
    assert!(e.message.contains("region"), "{e}");
}

#[test]
#[ignore = "needs real ZFS and Garage: run by vm/test"]
fn every_dataset_type_goes_to_the_bucket_incrementally_and_restores_equal() {
    let g = Garage::start("zreplrs-types");
    let sc = Scenario::new("sty");
    let top = sc.src.ds("t");
    create_fs(&top);
    let (fs, vol, efs) = (format!("{top}/fs"), format!("{top}/vol"), format!("{top}/efs"));
    create_fs(&fs);
    zfs(&["create", "-V", "16M", &vol]);
    sc.create_encrypted_fs(&efs);
    write_data(&fs, "f", 51, 300_000);
    std::fs::write(mountpoint(&efs).join("marker"), MARKER.repeat(1000)).unwrap();
    let all = [&top, &fs, &vol, &efs];
    for d in all {
        snap(d, "s1");
    }
    configure(&sc, &g, &top, "allow_plaintext = true");
    let r = sc.replicate(&[]);
    assert_eq!(r.code, 0, "{}\n{:#}", r.stderr, r.json);
    write_data(&fs, "g", 52, 100_000);
    for d in all {
        snap(d, "s2");
    }
    // An upload that no marker names (a run killed right after starting it) is aborted by the next run.
    let streams = format!("{}streams/", Place::new("backups/", &fs).dir);
    let stray = client(&g).create_multipart(&format!("{streams}stray.zfs")).unwrap();
    let r = sc.replicate(&[]);
    assert_eq!(r.code, 0, "{}\n{:#}", r.stderr, r.json);
    assert!(r.json["bytes_replicated"].as_u64().unwrap() > 0, "{:#}", r.json);

    let json_of = |args: &[&str]| {
        let out = sc.command(args).output().unwrap();
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        (out.status.code(), v)
    };
    let (code, status) = json_of(&["status", "--job", &sc.job, "--format", "json"]);
    assert_eq!(code, Some(0), "{status:#}");
    let states: Vec<&str> = status["filesystems"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["state"].as_str().unwrap())
        .collect();
    assert_eq!(states, ["up_to_date"; 4], "status reads the bucket: {status:#}");
    let (code, released) = json_of(&["holds", "release-stale", "--job", &sc.job, "--format", "json"]);
    assert_eq!(code, Some(0), "a bucket has no holds to release: {released:#}");

    let s3 = client(&g);
    assert!(
        !s3.list_uploads(&streams).unwrap().iter().any(|(_, id)| *id == stray),
        "the stray upload was aborted"
    );
    for d in all {
        let m = manifest(&s3, d);
        let kinds: Vec<bool> = m.objects.iter().map(|o| o.from.is_some()).collect();
        assert_eq!(kinds, [false, true], "{d}: a full, then an incremental: {m:?}");
        assert_eq!(m.newest().unwrap().guid.0, guid(&format!("{d}@s2")), "{d}");
        let cursors = sc.cursors(d);
        assert_eq!(cursors.len(), 1, "{d}: {cursors:?}");
        assert_eq!(
            cursors[0].1,
            guid(&format!("{d}@s2")),
            "{d}: the cursor moved after the commit"
        );
    }
    for o in manifest(&s3, &efs).objects {
        assert_eq!(o.encryption, zreplrs::objstore::manifest::Encryption::Raw);
        let mut bytes = Vec::new();
        std::io::Read::read_to_end(&mut s3.get_from(&o.key, 0).unwrap(), &mut bytes).unwrap();
        assert!(
            !bytes.windows(MARKER.len()).any(|w| w == MARKER.as_bytes()),
            "the store sees ciphertext only"
        );
    }

    let dry = restore(&sc, &fs, &sc.dst.ds("r/fs"), &["--dry-run"]);
    assert_eq!(dry.code, 0, "{}", dry.stdout);
    let kinds: Vec<&str> = dry.json["objects"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["kind"].as_str().unwrap())
        .collect();
    assert_eq!(kinds, ["FULL", "INCREMENTAL"], "{}", dry.stdout);
    assert!(!exists(&sc.dst.ds("r/fs")), "a dry run changes nothing");
    create_fs(&sc.dst.ds("r"));
    for d in all {
        let name = d.rsplit('/').next().unwrap();
        let target = sc.dst.ds(&format!("r/{name}"));
        let r = restore(&sc, d, &target, &[]);
        assert_eq!(r.code, 0, "{d}: {}\n{}", r.stdout, r.stderr);
        for s in ["s1", "s2"] {
            assert_eq!(guid(&format!("{target}@{s}")), guid(&format!("{d}@{s}")), "{d}@{s}");
        }
    }
    let rfs = sc.dst.ds("r/fs");
    assert_eq!(
        checksum_snapshot(&format!("{rfs}@s2")),
        checksum_snapshot(&format!("{fs}@s2"))
    );
    assert_eq!(prop(&rfs, "setuid"), "off", "a restore takes no setuid from the store");
    assert_eq!(prop(&sc.dst.ds("r/efs"), "keystatus"), "unavailable", "restored raw");
    let again = restore(&sc, &fs, &rfs, &[]);
    assert_eq!(again.code, 0, "{}", again.stdout);
    assert_eq!(again.json["bytes"], 0, "nothing left to restore: {}", again.stdout);
}

/// Replicates `d` alone with its `zfs send` cut after 24 MiB and blocked, kills the run once the first
/// part is in the store, then runs again: the run resumes after that part, and a restore equals `d`.
fn kill_mid_upload_and_resume(sc: &Scenario, g: &Garage, s3: &S3, d: &str) {
    configure(sc, g, d, "allow_plaintext = true");
    let (wrapper, marker) = cutting_zfs_wrapper(sc.dir.path(), 24 << 20, true);
    let _ = std::fs::remove_file(&marker);
    let out = sc.dir.path().join("killed-run.out");
    let mut run = sc
        .command(&["replicate", "--job", &sc.job, "--format", "json"])
        .env("ZREPLRS_ZFS", &wrapper)
        .stdout(std::fs::File::create(&out).unwrap())
        .stderr(std::fs::File::create(out.with_extension("err")).unwrap())
        .spawn()
        .unwrap();
    let dir = Place::new("backups/", d);
    // The run must still be running while we wait: one that ended early says why.
    let mut running = || match run.try_wait().unwrap() {
        None => true,
        Some(code) => panic!(
            "{d}: the run ended before it was killed ({code}):\n{}\n{}",
            std::fs::read_to_string(&out).unwrap_or_default(),
            std::fs::read_to_string(out.with_extension("err")).unwrap_or_default()
        ),
    };
    wait_for("the first part to be uploaded", 600, || {
        running()
            && chain::upload_marker(s3, &dir)
                .unwrap()
                .and_then(|m| s3.list_parts(&m.key, &m.upload_id).unwrap())
                .is_some_and(|p| !p.is_empty())
    });
    wait_for("the cut send to block", 600, || running() && marker.exists());
    run.kill().unwrap();
    run.wait().unwrap();
    let pid: i32 = std::fs::read_to_string(&marker).unwrap().trim().parse().unwrap();
    let _ = try_cmd("kill", &[&pid.to_string()]);
    assert!(
        chain::load(s3, &dir, d).unwrap().is_none(),
        "{d}: nothing is committed mid-upload"
    );

    let r = sc.replicate(&[]);
    assert_eq!(r.code, 0, "{d}: {}\n{:#}", r.stderr, r.json);
    let step = &r.json["filesystems"][0]["steps"][0];
    let (bytes, wire) = (step["bytes"].as_u64().unwrap(), step["wire_bytes"].as_u64().unwrap());
    assert!(bytes > 24 << 20, "{d}: {step:#}");
    assert!(
        wire <= bytes - (16 << 20),
        "{d}: the first 16 MiB part was not sent again: {step:#}"
    );
    assert!(
        chain::upload_marker(s3, &dir).unwrap().is_none(),
        "{d}: the upload is done"
    );
    let target = sc.dst.ds(&format!("r/{}", d.rsplit('/').next().unwrap()));
    let r = restore(sc, d, &target, &[]);
    assert_eq!(r.code, 0, "{d}: {}\n{}", r.stdout, r.stderr);
    assert_eq!(guid(&format!("{target}@s1")), guid(&format!("{d}@s1")), "{d}");
}

#[test]
#[ignore = "needs real ZFS and Garage: run by vm/test"]
fn a_run_killed_mid_upload_resumes_from_its_last_part_and_a_bad_part_is_refused() {
    let g = Garage::start("zreplrs-resume");
    let sc = Scenario::new("srs");
    let fs = sc.src.ds("big");
    create_fs(&fs);
    write_data(&fs, "f", 61, 40 << 20);
    snap(&fs, "s1");
    create_fs(&sc.dst.ds("r"));
    let s3 = client(&g);
    kill_mid_upload_and_resume(&sc, &g, &s3, &fs);
    let rfs = sc.dst.ds("r/big");
    assert_eq!(
        checksum_snapshot(&format!("{rfs}@s1")),
        checksum_snapshot(&format!("{fs}@s1"))
    );
    let m = manifest(&s3, &fs);

    // verify re-reads the chain; with --restore it restores into a scratch dataset and compares the files.
    let verify = |extra: &[&str]| {
        let mut args = vec!["verify", "--job", &sc.job, "--format", "json"];
        args.extend_from_slice(extra);
        let out = sc.command(&args).output().unwrap();
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        (out.status.code(), v)
    };
    let scratch = sc.dst.ds("scratch");
    create_fs(&scratch);
    let (code, v) = verify(&["--restore", "--scratch", &scratch]);
    assert_eq!(code, Some(0), "{v:#}");
    let check = &v["filesystems"][0]["snapshots"][0];
    assert_eq!(check["guid_match"], true, "{v:#}");
    assert_eq!(check["content"]["content_match"], true, "{v:#}");
    assert_eq!(
        zfs(&["list", "-H", "-o", "name", "-r", &scratch]).trim(),
        scratch,
        "the scratch copy is gone"
    );

    // A part changed in the store: verify fails, and the restore refuses it before zfs receive sees it.
    let o = &m.objects[0];
    let mut bytes = Vec::new();
    std::io::Read::read_to_end(&mut s3.get_from(&o.key, 0).unwrap(), &mut bytes).unwrap();
    bytes[20 << 20] ^= 0xff;
    s3.put(&o.key, &bytes).unwrap();
    let (code, v) = verify(&[]);
    assert_eq!(code, Some(1), "{v:#}");
    let unverified = &v["filesystems"][0]["snapshots"][0]["unverified"];
    assert_eq!(unverified["error"]["kind"], "store_corrupt", "{v:#}");
    let target = sc.dst.ds("restored");
    let r = restore(&sc, &fs, &target, &[]);
    assert_eq!(r.code, 3, "{}", r.stdout);
    assert_eq!(r.json["error"]["kind"], "store_corrupt", "{}", r.stdout);
    assert!(r.stdout.contains("part 2 has SHA-256"), "{}", r.stdout);
}

/// The same kill and resume for a raw encrypted filesystem and for a volume (its device written with 40 MiB).
#[test]
#[ignore = "needs real ZFS and Garage: run by vm/test"]
fn a_run_killed_mid_upload_of_an_encrypted_filesystem_or_a_volume_resumes() {
    let g = Garage::start("zreplrs-resume-types");
    let sc = Scenario::new("srt");
    let (efs, vol) = (sc.src.ds("efs"), sc.src.ds("vol"));
    sc.create_encrypted_fs(&efs);
    write_data(&efs, "f", 71, 40 << 20);
    zfs(&["create", "-V", "48M", &vol]);
    let mut dev = std::fs::OpenOptions::new().write(true).open(zvol_device(&vol)).unwrap();
    std::io::Write::write_all(&mut dev, &random_bytes(72, 40 << 20)).unwrap();
    dev.sync_all().unwrap();
    drop(dev);
    snap(&efs, "s1");
    snap(&vol, "s1");
    create_fs(&sc.dst.ds("r"));
    let s3 = client(&g);
    kill_mid_upload_and_resume(&sc, &g, &s3, &efs);
    let refs = sc.dst.ds("r/efs");
    assert_eq!(prop(&refs, "keystatus"), "unavailable", "restored raw");
    // With the source's key loaded, the restored copy's files are the source's.
    let key = format!("file://{}", sc.dir.path().join("key").display());
    zfs(&["load-key", "-L", &key, &refs]);
    if prop(&refs, "canmount") != "on" {
        zfs(&["set", "canmount=on", &refs]);
    }
    assert_eq!(
        checksum_snapshot(&format!("{refs}@s1")),
        checksum_snapshot(&format!("{efs}@s1"))
    );
    kill_mid_upload_and_resume(&sc, &g, &s3, &vol);
    let rvol = sc.dst.ds("r/vol");
    assert_eq!(prop(&rvol, "type"), "volume");
    assert_eq!(volume_content(&rvol), volume_content(&vol), "the volume's bytes");
}

#[test]
#[ignore = "needs real ZFS and Garage: run by vm/test"]
fn an_unencrypted_filesystem_reaches_the_store_encrypted_to_age_recipients_and_restores() {
    use age::secrecy::ExposeSecret;
    let g = Garage::start("zreplrs-age");
    let sc = Scenario::new("sag");
    let fs = sc.src.ds("plain");
    create_fs(&fs);
    std::fs::write(mountpoint(&fs).join("marker"), MARKER.repeat(1000)).unwrap();
    snap(&fs, "s1");
    write_data(&fs, "f", 71, 200_000);
    snap(&fs, "s2");
    let identity = age::x25519::Identity::generate();
    let id_file = sc.dir.path().join("offsite.agekey");
    std::fs::write(&id_file, format!("{}\n", identity.to_string().expose_secret())).unwrap();
    configure(
        &sc,
        &g,
        &fs,
        &format!("age_recipients = [\"{}\"]", identity.to_public()),
    );
    let r = sc.replicate(&[]);
    assert_eq!(r.code, 0, "{}\n{:#}", r.stderr, r.json);

    let s3 = client(&g);
    let m = manifest(&s3, &fs);
    assert!(!m.objects.is_empty());
    for o in &m.objects {
        assert_eq!(o.encryption, zreplrs::objstore::manifest::Encryption::Age, "{}", o.key);
        assert!(o.key.ends_with(".zfs.age"), "{}", o.key);
        let mut bytes = Vec::new();
        std::io::Read::read_to_end(&mut s3.get_from(&o.key, 0).unwrap(), &mut bytes).unwrap();
        assert!(bytes.starts_with(b"age-encryption.org/v1"), "{}", o.key);
        assert!(
            !bytes.windows(MARKER.len()).any(|w| w == MARKER.as_bytes()),
            "no plaintext in the store"
        );
    }

    let target = sc.dst.ds("restored");
    let without = restore(&sc, &fs, &target, &[]);
    assert_eq!(without.code, 3, "{}", without.stdout);
    assert!(without.stdout.contains("--identity-file"), "{}", without.stdout);
    assert!(!exists(&target), "nothing was received");
    let r = restore(&sc, &fs, &target, &["--identity-file", id_file.to_str().unwrap()]);
    assert_eq!(r.code, 0, "{}\n{}", r.stdout, r.stderr);
    assert_eq!(guid(&format!("{target}@s2")), guid(&format!("{fs}@s2")));
    assert_eq!(
        checksum_snapshot(&format!("{target}@s2")),
        checksum_snapshot(&format!("{fs}@s2"))
    );
}

#[test]
#[ignore = "needs real ZFS and Garage: run by vm/test"]
fn a_new_full_starts_a_chain_and_pruning_keeps_every_kept_snapshot_restorable() {
    let g = Garage::start("zreplrs-prune");
    let sc = Scenario::new("spr");
    let fs = sc.src.ds("db");
    create_fs(&fs);
    configure(
        &sc,
        &g,
        &fs,
        "allow_plaintext = true\nfull_every = 2\n[jobs.prune]\n\
         keep_sender = [{ type = \"last_n\", count = 10 }]\n\
         keep_receiver = [{ type = \"last_n\", count = 2 }]\n",
    );
    for i in 1..=5u64 {
        write_data(&fs, &format!("f{i}"), 80 + i, 100_000);
        snap(&fs, &format!("s{i}"));
        let r = sc.replicate(&[]);
        assert_eq!(r.code, 0, "run {i}: {}\n{:#}", r.stderr, r.json);
    }
    let s3 = client(&g);
    let m = manifest(&s3, &fs);
    let shape: Vec<(Option<String>, String)> = m
        .objects
        .iter()
        .map(|o| (o.from.as_ref().map(|f| f.name.clone()), o.to.name.clone()))
        .collect();
    let want: Vec<(Option<String>, String)> = [
        (None, "s1"),
        (Some("s1"), "s2"),
        (Some("s2"), "s3"),
        (None, "s4"),
        (Some("s4"), "s5"),
    ]
    .into_iter()
    .map(|(f, t)| (f.map(String::from), t.to_string()))
    .collect();
    assert_eq!(shape, want, "full_every = 2: a new full after two incrementals");

    let prune = |dry: bool| {
        let mut args = vec!["prune", "--job", &sc.job, "--side", "receiver", "--format", "json"];
        if dry {
            args.push("--dry-run");
        }
        let out = sc.command(&args).output().unwrap();
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(out.status.code(), Some(0), "{v:#}");
        v
    };
    let dry = prune(true);
    let keys = |v: &serde_json::Value| -> Vec<String> {
        v["filesystems"][0]["objects"]
            .as_array()
            .map(|a| a.iter().map(|o| o["key"].as_str().unwrap().to_string()).collect())
            .unwrap_or_default()
    };
    let first_chain: Vec<String> = m.objects[..3].iter().map(|o| o.key.clone()).collect();
    assert_eq!(keys(&dry), first_chain, "{dry:#}");
    assert!(
        dry["filesystems"][0]["objects"][0]["reason"]
            .as_str()
            .unwrap()
            .contains("no rule keeps"),
        "{dry:#}"
    );
    assert_eq!(manifest(&s3, &fs), m, "a dry run changes nothing");
    let done = prune(false);
    assert_eq!(keys(&done), first_chain, "{done:#}");
    let left: Vec<String> = s3.list("backups/", 1000).unwrap().into_iter().map(|l| l.key).collect();
    for k in &first_chain {
        assert!(!left.contains(k), "{k} was deleted: {left:?}");
    }
    let after = manifest(&s3, &fs);
    assert_eq!(after.objects.len(), 2);

    create_fs(&sc.dst.ds("r"));
    for s in ["s4", "s5"] {
        let target = sc.dst.ds(&format!("r/{s}"));
        let r = restore(&sc, &fs, &target, &["--snapshot", s]);
        assert_eq!(r.code, 0, "{s}: {}\n{}", r.stdout, r.stderr);
        assert_eq!(guid(&format!("{target}@{s}")), guid(&format!("{fs}@{s}")));
        assert_eq!(
            checksum_snapshot(&format!("{target}@{s}")),
            checksum_snapshot(&format!("{fs}@{s}"))
        );
    }
    let gone = restore(&sc, &fs, &sc.dst.ds("r/s2"), &["--snapshot", "s2"]);
    assert_eq!(gone.code, 3, "{}", gone.stdout);
    assert_eq!(gone.json["error"]["kind"], "does_not_exist", "{}", gone.stdout);

    write_data(&fs, "f6", 86, 100_000);
    snap(&fs, "s6");
    let r = sc.replicate(&[]);
    assert_eq!(r.code, 0, "{}\n{:#}", r.stderr, r.json);
    let m = manifest(&s3, &fs);
    assert_eq!(
        m.objects.last().unwrap().from.as_ref().unwrap().name,
        "s5",
        "still incremental after pruning"
    );
}

#[test]
#[ignore = "needs real ZFS and Garage: run by vm/test"]
fn a_node_of_a_three_node_cluster_stopped_mid_run_and_the_run_still_succeeds() {
    let mut g = Garage::cluster(3, "zreplrs-cluster");
    let sc = Scenario::new("scl");
    let fs = sc.src.ds("data");
    create_fs(&fs);
    write_data(&fs, "f", 91, 40 << 20);
    snap(&fs, "s1");
    configure(&sc, &g, &fs, "allow_plaintext = true");
    let run = sc
        .command(&["replicate", "--job", &sc.job, "--format", "json"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let s3 = client(&g);
    let dir = Place::new("backups/", &fs);
    wait_for("the upload to begin", 600, || {
        chain::upload_marker(&s3, &dir).unwrap().is_some()
    });
    g.stop_node(2);
    let r = run_result(run.wait_with_output().unwrap());
    assert_eq!(r.code, 0, "{}\n{:#}", r.stderr, r.json);
    let m = manifest(&s3, &fs);
    assert_eq!(m.newest().unwrap().guid.0, guid(&format!("{fs}@s1")));
    let target = sc.dst.ds("restored");
    let r = restore(&sc, &fs, &target, &[]);
    assert_eq!(r.code, 0, "{}\n{}", r.stdout, r.stderr);
    assert_eq!(
        checksum_snapshot(&format!("{target}@s1")),
        checksum_snapshot(&format!("{fs}@s1"))
    );
}

/// A job whose target is `g`'s bucket, for the bucket receiver alone.
fn bucket_job(g: &Garage) -> zreplrs::config::Config {
    let text = format!(
        "[[jobs]]\nname = \"b\"\ntarget = \"s3://{}/direct\"\n{}\n[jobs.filesystems]\n\"tank/fs\" = true\n",
        g.bucket,
        g.store_section("allow_plaintext = true")
    );
    zreplrs::config::Config::parse(camino::Utf8Path::new("/etc/zreplrs/zreplrs.toml"), &text).unwrap()
}

fn version(short: &str, guid: u64, createtxg: u64) -> zreplrs::zfs::Version {
    zreplrs::zfs::Version {
        kind: zreplrs::zfs::VersionKind::Snapshot,
        short: short.into(),
        guid: zreplrs::zfs::Guid(guid),
        createtxg,
        userrefs: None,
        creation: Some(1_700_000_000),
    }
}

/// Feeds `data` to the bucket receiver as the stream of a full step to `s1`; `ok` is what the producer says
/// at the end. Returns what it reported.
fn receive_bytes(
    r: &mut zreplrs::endpoint::BucketReceiver,
    data: Vec<u8>,
    ok: bool,
) -> Result<zreplrs::agent::client::Streamed, String> {
    use zreplrs::endpoint::Receiver;
    let (read, mut write) = std::io::pipe().unwrap();
    let writer = std::thread::spawn(move || {
        let _ = std::io::Write::write_all(&mut write, &data);
    });
    let step = zreplrs::plan::Step {
        from: None,
        to: version("s1", 7, 10),
        intermediates: Vec::new(),
        resume_token: None,
    };
    let req = zreplrs::agent::wire::proto::ReceiveRequest {
        fs: "tank/fs".into(),
        to_short: "s1".into(),
        to_guid: 7,
        job_id: "b".into(),
        ..Default::default()
    };
    let mut source = read;
    let mut source_ok = || match ok {
        true => Ok(()),
        false => Err(zreplrs::error::Failure::new(
            zreplrs::error::ErrorKind::ZfsSend,
            "zfs send failed",
        )),
    };
    let out = r.receive(
        req,
        &step,
        &mut source,
        &mut source_ok,
        std::time::Duration::from_secs(60),
        &mut |_| {},
    );
    // What the receiver did not read: the writer sees the pipe closed.
    drop(source);
    writer.join().unwrap();
    out.map_err(|e| e.to_string())
}

#[test]
#[ignore = "needs Garage: run by vm/test"]
fn an_upload_resumes_only_where_the_stream_is_the_same_and_commits_only_a_whole_stream() {
    let g = Garage::start("zreplrs-direct");
    let config = bucket_job(&g);
    let job = config.job("b").unwrap();
    let noise = |seed: u8, len: usize| -> Vec<u8> {
        let mut x = u64::from(seed) + 1;
        (0..len)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                x as u8
            })
            .collect()
    };
    let data = noise(1, (32 << 20) + 3000);
    let s3 = client(&g);
    let dir = Place::new("direct/", "tank/fs");
    let mut r = zreplrs::endpoint::BucketReceiver::open(job).unwrap();

    // The producer fails after the whole first part: nothing is committed, the part stays for a resume.
    let e = receive_bytes(&mut r, data[..(16 << 20) + 10].to_vec(), false).unwrap_err();
    assert!(e.contains("zfs send failed"), "{e}");
    assert!(
        chain::load(&s3, &dir, "tank/fs").unwrap().is_none(),
        "a failed stream is never committed"
    );
    let marker = chain::upload_marker(&s3, &dir)
        .unwrap()
        .expect("the upload stays for a resume");
    assert_eq!(s3.list_parts(&marker.key, &marker.upload_id).unwrap().unwrap().len(), 1);

    // Another stream now (not what was sent before): the store's part does not match, the upload starts over.
    let e = receive_bytes(&mut r, noise(2, data.len()), true).unwrap_err();
    assert!(e.contains("starts again"), "{e}");
    assert!(chain::load(&s3, &dir, "tank/fs").unwrap().is_none());
    assert!(
        s3.list_uploads("direct/").unwrap().is_empty(),
        "the stale upload is aborted at once"
    );

    // The failed first part again, then the same stream: only the rest is sent, and it is committed whole.
    receive_bytes(&mut r, data[..(16 << 20) + 10].to_vec(), false).unwrap_err();
    let done = receive_bytes(&mut r, data.clone(), true).unwrap();
    assert_eq!(done.bytes, data.len() as u64);
    assert_eq!(
        done.wire_bytes,
        (16 << 20) + 3000,
        "the first 16 MiB were not sent again"
    );
    assert_eq!(done.received_guid, 7);
    let m = chain::load(&s3, &dir, "tank/fs").unwrap().unwrap();
    assert_eq!(m.objects.len(), 1);
    assert_eq!(m.objects[0].size, data.len() as u64);
    assert_eq!(m.objects[0].parts.len(), 3);
    assert!(chain::upload_marker(&s3, &dir).unwrap().is_none());
    assert!(
        s3.list_uploads("direct/").unwrap().is_empty(),
        "no upload is left behind"
    );
    let mut back = Vec::new();
    std::io::Read::read_to_end(&mut s3.get_from(&m.objects[0].key, 0).unwrap(), &mut back).unwrap();
    assert!(back == data, "the object is the stream");
}

/// The committed manifest of `fs`, which must name `fs@snapshot` as its newest.
fn committed_up_to(s3: &S3, fs: &str, snapshot: &str) -> Manifest {
    let m = manifest(s3, fs);
    assert_eq!(
        m.newest().unwrap().guid.0,
        guid(&format!("{fs}@{snapshot}")),
        "{fs}: {m:?}"
    );
    m
}

/// A run crashed at each failpoint of the manifest commit (`manifest_commit_before`: the new generation
/// written, the pointer not moved; `manifest_commit_after`: the pointer moved, the old generation and the
/// upload marker not yet deleted), then run again: the committed manifest names the newest snapshot; after
/// the next upload every object in the filesystem's place is the pointer, the generation it names or a
/// stream that generation names (nothing leaked), and a restore equals the source. Needs the `failpoints`
/// build that `vm/test` makes.
#[test]
#[ignore = "needs real ZFS and Garage: run by vm/test"]
fn a_run_crashed_at_the_manifest_commit_converges_and_leaves_nothing_behind() {
    let g = Garage::start("zreplrs-commit");
    let sc = Scenario::new("scm");
    let top = sc.src.ds("t");
    let fs = format!("{top}/fs");
    create_fs(&top);
    create_fs(&fs);
    write_data(&fs, "f", 71, 200_000);
    zfs(&["snapshot", "-r", &format!("{top}@s0")]);
    configure(&sc, &g, &top, "allow_plaintext = true");
    let r = sc.replicate(&[]);
    assert_eq!(r.code, 0, "{}\n{:#}", r.stderr, r.json);
    let s3 = client(&g);
    let log = sc.dir.path().join("failpoints");
    let mut n = 0;
    let mut next_snapshot = |tag: &str| {
        n += 1;
        write_data(&fs, &format!("g{n}"), 72 + n as u64, 100_000);
        let snapshot = format!("{tag}{n}");
        zfs(&["snapshot", "-r", &format!("{top}@{snapshot}")]);
        snapshot
    };
    for point in ["manifest_commit_before", "manifest_commit_after"] {
        let snapshot = next_snapshot("s");
        let out = sc
            .command(&["replicate", "--job", &sc.job, "--format", "json"])
            .env("FAILPOINTS", format!("{point}=return"))
            .env("ZREPLRS_FAILPOINT_LOG", &log)
            .output()
            .unwrap();
        assert_eq!(
            out.status.code(),
            None,
            "{point}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(std::fs::read_to_string(&log).unwrap().contains(point), "{point}");
        let r = sc.replicate(&[]);
        assert_eq!(r.code, 0, "after a crash at {point}: {}\n{:#}", r.stderr, r.json);
        for d in [&top, &fs] {
            committed_up_to(&s3, d, &snapshot);
        }
        // The next upload commits a new generation; what the crash left goes by then.
        let snapshot = next_snapshot("u");
        let r = sc.replicate(&[]);
        assert_eq!(r.code, 0, "{}\n{:#}", r.stderr, r.json);
        for d in [&top, &fs] {
            let m = committed_up_to(&s3, d, &snapshot);
            let place = Place::new("backups/", d);
            let named: std::collections::BTreeSet<String> = m.objects.iter().map(|o| o.key.clone()).collect();
            let generation = format!("manifest.{}.json", m.generation);
            let stray: Vec<String> = s3
                .list(&place.dir, 1000)
                .unwrap()
                .into_iter()
                .map(|l| l.key)
                .filter(|k| {
                    let name = &k[place.dir.len()..];
                    !named.contains(k) && name != generation && name != "MANIFEST"
                })
                .collect();
            assert!(
                stray.is_empty(),
                "{d} after a crash at {point}: objects nothing names: {stray:?}"
            );
        }
    }
    let back = sc.dst.ds("back");
    let r = restore(&sc, &fs, &back, &[]);
    assert_eq!(r.code, 0, "{}", r.stdout);
    let newest = snapshots(&fs).pop().unwrap().0;
    assert_eq!(
        checksum_snapshot(&format!("{back}@{newest}")),
        checksum_snapshot(&format!("{fs}@{newest}"))
    );
}
