//! VM scenarios of the SSH transport: sshd runs in network namespace `zrdst` (the receiving "host"), the
//! sender in the root namespace, one veth link between them. Link cuts, killed sshd sessions, host key
//! checks, a confined agent, an unprivileged receiving user and a fault campaign, all on real OpenZFS.
//! The tests of this file run one at a time (they share sshd and the link). The fault campaign, which reuses
//! these helpers, is the separate target `vm_campaign`.

mod vmlib;

use std::process::Stdio;

use vmlib::ssh::*;
use vmlib::*;

#[test]
#[ignore = "needs real ZFS: run by vm/test"]
fn full_and_incremental_over_ssh() {
    let _s = serial();
    let sc = Scenario::new("sfi");
    let a = sc.src.ds("a");
    create_fs(&a);
    write_data(&a, "f", 1, 2_000_000);
    snap(&a, "s1");
    configure_ssh(&sc, "root", &[(&a, true)], "", &ssh_known_hosts_line());
    let r = sc.replicate(&[]);
    assert_eq!(r.code, 0, "{}\n{:#}", r.stderr, r.json);
    sc.assert_converged(&a);
    write_data(&a, "g", 2, 1_000_000);
    snap(&a, "s2");
    snap(&a, "s3");
    let r = sc.replicate(&[]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(
        r.json["filesystems"][0]["steps"].as_array().unwrap().len(),
        1,
        "one -I stream"
    );
    assert_eq!(r.json["filesystems"][0]["steps"][0]["snapshots"], 2);
    assert_eq!(r.json["attempts"].as_array().unwrap().len(), 1);
    sc.assert_converged(&a);
}

#[test]
#[ignore = "needs real ZFS: run by vm/test"]
fn unknown_or_changed_host_keys_are_refused() {
    let _s = serial();
    let sc = Scenario::new("shk");
    let a = sc.src.ds("a");
    create_fs(&a);
    snap(&a, "s1");
    configure_ssh(&sc, "root", &[(&a, true)], "retries = 0", "");
    let before = sc.dst.state();
    let r = sc.replicate(&[]);
    assert_eq!(r.code, 3, "{:#}", r.json);
    let msg = r.json["error"]["message"].as_str().unwrap();
    assert!(
        msg.contains("unknown host key") && msg.contains("SHA256:") && msg.contains("ssh-keyscan"),
        "{msg}"
    );
    // A different key recorded for the host: refused as changed.
    let other =
        format!("{SSH_ADDR} ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl\n");
    configure_ssh(&sc, "root", &[(&a, true)], "retries = 0", &other);
    let r = sc.replicate(&[]);
    assert_eq!(r.code, 3);
    assert!(
        r.json["error"]["message"]
            .as_str()
            .unwrap()
            .contains("HOST KEY CHANGED"),
        "{:#}",
        r.json
    );
    assert_eq!(sc.dst.state(), before, "nothing reached the receiver");
    // Trust on first use only when asked.
    let key = configure_ssh(&sc, "root", &[(&a, true)], "retries = 0", "");
    let cfg = std::fs::read_to_string(sc.config_path())
        .unwrap()
        .replace("[jobs.ssh]\n", "[jobs.ssh]\naccept_new_host_keys = true\n");
    std::fs::write(sc.config_path(), cfg).unwrap();
    let _ = key;
    let r = sc.replicate(&[]);
    assert_eq!(r.code, 0, "{}\n{:#}", r.stderr, r.json);
    let recorded = std::fs::read_to_string(sc.dir.path().join("known_hosts")).unwrap();
    assert!(recorded.contains("ssh-ed25519"), "{recorded}");
    sc.assert_converged(&a);
    // The same key marked @revoked (which libssh2 alone ignores): refused, whatever else the file trusts.
    let revoked = format!("# revoked after the incident\n@revoked {}", ssh_known_hosts_line());
    configure_ssh(
        &sc,
        "root",
        &[(&a, true)],
        "retries = 0",
        &format!("{revoked}{}", ssh_known_hosts_line()),
    );
    let r = sc.replicate(&[]);
    assert_eq!(r.code, 3, "{:#}", r.json);
    assert_eq!(r.json["error"]["kind"], "host_key", "{:#}", r.json);
    assert!(
        r.json["error"]["message"].as_str().unwrap().contains("@revoked"),
        "{:#}",
        r.json
    );
}

#[test]
#[ignore = "needs real ZFS: run by vm/test"]
fn link_cut_mid_transfer_the_same_run_reconnects_and_resumes() {
    let _s = serial();
    let sc = Scenario::new("scut");
    let a = sc.src.ds("a");
    create_fs(&a);
    write_data(&a, "big", 3, 24_000_000);
    snap(&a, "s1");
    configure_ssh(&sc, "root", &[(&a, true)], FAST_RETRY, &ssh_known_hosts_line());
    ssh_rate(Some("40mbit"));
    let child = spawn_replicate(&sc);
    let target = sc.target(&a);
    wait_received(&target, 4_000_000);
    ssh_link(false);
    // sshd notices the dead client (ClientAlive) and ends the session; the receive keeps its state.
    wait_no_receive(&target);
    ssh_link(true);
    ssh_rate(None);
    let r = run_result(child.wait_with_output().unwrap());
    assert_eq!(r.code, 0, "{}\n{:#}", r.stderr, r.json);
    let attempts = r.json["attempts"].as_array().unwrap();
    assert!(attempts.len() >= 2, "{:#}", r.json);
    assert_eq!(attempts[0]["outcome"], "connectivity_error");
    let steps = r.json["filesystems"][0]["steps"].as_array().unwrap();
    assert!(
        steps.iter().any(|s| s["resumed"] == true),
        "resumed from the token: {:#}",
        r.json
    );
    sc.assert_converged(&a);
}

/// Bandwidth limit and compression over SSH: text compresses on the wire (JSON reports fewer wire bytes than
/// stream bytes), a limited run cannot be faster than its limit allows, content checksums are equal; then an
/// incremental cut mid-transfer with compression on resumes from the receiver's token in the same run.
#[test]
#[ignore = "needs real ZFS: run by vm/test"]
fn limit_and_compression_over_ssh_and_a_cut_resumes_compressed() {
    let _s = serial();
    let sc = Scenario::new("slc");
    let a = sc.src.ds("a");
    create_fs(&a);
    write_text(&a, "access.log", 21, 12_000_000);
    write_data(&a, "random.bin", 22, 1_000_000);
    snap(&a, "s1");
    let extra = format!("{FAST_RETRY}\ncompression = \"zstd\"\nbandwidth_limit = \"20MiB/s\"");
    configure_ssh(&sc, "root", &[(&a, true)], &extra, &ssh_known_hosts_line());
    let limit: u64 = 1 << 20;
    let r = sc.replicate(&["--bandwidth-limit", "1MiB/s"]);
    assert_eq!(r.code, 0, "{}\n{:#}", r.stderr, r.json);
    sc.assert_converged(&a);
    let step = &r.json["filesystems"][0]["steps"][0];
    let (bytes, wire) = (step["bytes"].as_u64().unwrap(), step["wire_bytes"].as_u64().unwrap());
    assert!(bytes > 12_000_000, "{step:#}");
    assert!(wire * 2 < bytes, "text compresses on the wire: {wire} of {bytes} bytes");
    assert_eq!(r.json["wire_bytes_replicated"].as_u64(), Some(wire));
    // The limit is an upper bound on the rate: the run took at least (wire bytes - a quarter second's burst)
    // / limit. (Its accuracy is measured by benchmark P7, not here.)
    let secs = r.json["duration_seconds"].as_f64().unwrap();
    let least = (wire.saturating_sub(limit / 4)) as f64 / limit as f64;
    assert!(secs >= least * 0.95, "{secs}s for {wire} wire bytes at 1 MiB/s");

    // Incremental, cut mid-transfer, compression on, the job's own 20 MiB/s limit: the same run resumes.
    write_text(&a, "access2.log", 23, 40_000_000);
    snap(&a, "s2");
    ssh_rate(Some("16mbit"));
    let child = spawn_replicate(&sc);
    let target = sc.target(&a);
    wait_received(&target, 6_000_000);
    ssh_link(false);
    wait_no_receive(&target);
    ssh_link(true);
    ssh_rate(None);
    let r = run_result(child.wait_with_output().unwrap());
    let steps = assert_reconnected(&r);
    let resumed = steps
        .iter()
        .find(|s| s["resumed"] == true)
        .unwrap_or_else(|| panic!("{:#}", r.json));
    assert!(
        resumed["wire_bytes"].as_u64().unwrap() * 2 < resumed["bytes"].as_u64().unwrap(),
        "the resumed stream is compressed too: {resumed:#}"
    );
    sc.assert_converged(&a);
}

/// Concurrency 4 over 12 filesystems (a parent with children among them), over SSH: one fails (its copy's
/// quota is too small for the increment), one is cut mid-transfer (its SSH session killed). The others
/// complete, the failing one is reported with what ZFS said, the cut one resumes from its token in the same
/// run; once the quota is lifted the next run brings every filesystem to the steady state.
#[test]
#[ignore = "needs real ZFS: run by vm/test"]
fn concurrency_four_over_twelve_with_one_failing_and_one_cut() {
    let _s = serial();
    let sc = Scenario::new("scc");
    let top = sc.src.ds("t");
    let mut fss = vec![top.clone(), format!("{top}/p")];
    fss.extend((0..3).map(|i| format!("{top}/p/c{i}")));
    fss.extend((3..10).map(|i| format!("{top}/f{i:02}")));
    for fs in &fss {
        create_fs(fs);
    }
    assert_eq!(fss.len(), 12, "{fss:?}");
    for (n, fs) in fss.iter().enumerate() {
        write_data(fs, "f", 60 + n as u64, 200_000);
    }
    zfs(&["snapshot", "-r", &format!("{top}@s1")]);
    let rules = [(format!("{top}<"), true)];
    let rules: Vec<(&str, bool)> = rules.iter().map(|(r, b)| (r.as_str(), *b)).collect();
    configure_ssh(
        &sc,
        "root",
        &rules,
        &format!("{FAST_RETRY}\nconcurrency = 4"),
        &ssh_known_hosts_line(),
    );
    let r = sc.replicate(&[]);
    assert_eq!(r.code, 0, "{}\n{:#}", r.stderr, r.json);
    for fs in &fss {
        sc.assert_converged(fs);
    }
    // The failing one: its copy may not grow. The cut one: a big increment, slowed down.
    let failing = fss[5].clone();
    let cut = fss[8].clone();
    zfs(&["set", "quota=1M", &sc.target(&failing)]);
    write_data(&failing, "g", 70, 3_000_000);
    write_data(&cut, "big", 71, 24_000_000);
    for (n, fs) in fss.iter().enumerate() {
        write_data(fs, "h", 80 + n as u64, 50_000);
    }
    zfs(&["snapshot", "-r", &format!("{top}@s2")]);
    ssh_rate(Some("40mbit"));
    let child = spawn_replicate(&sc);
    let target = sc.target(&cut);
    wait_received(&target, 4_000_000);
    let receive = receive_pids(&target)[0];
    let session = session_of(receive).expect("the sshd session of the cut transfer");
    try_cmd("kill", &["-9", &session.to_string()]).unwrap();
    let r = run_result(child.wait_with_output().unwrap());
    ssh_rate(None);
    assert_eq!(r.code, 1, "one filesystem failed: {}\n{:#}", r.stderr, r.json);
    let attempts = r.json["attempts"].as_array().unwrap();
    assert!(attempts.len() >= 2, "{:#}", r.json);
    assert_eq!(attempts[0]["outcome"], "connectivity_error", "{:#}", r.json);
    let by_name = |name: &str| {
        r.json["filesystems"]
            .as_array()
            .unwrap()
            .iter()
            .find(|f| f["name"] == name)
            .unwrap_or_else(|| panic!("{name} not reported: {:#}", r.json))
            .clone()
    };
    let f = by_name(&failing);
    assert_eq!(f["result"], "failed", "{f:#}");
    assert!(
        f["error"]["message"].as_str().unwrap().contains("quota"),
        "what ZFS said: {f:#}"
    );
    let c = by_name(&cut);
    assert_eq!(c["result"], "ok", "{c:#}");
    assert!(
        c["steps"].as_array().unwrap().iter().any(|s| s["resumed"] == true),
        "resumed: {c:#}"
    );
    assert_eq!(r.json["filesystems"].as_array().unwrap().len(), 12);
    for fs in fss.iter().filter(|f| **f != failing) {
        assert_eq!(by_name(fs)["result"], "ok", "{fs}: {:#}", r.json);
        sc.assert_converged(fs);
    }
    zfs(&["set", "quota=none", &sc.target(&failing)]);
    let r = sc.replicate(&[]);
    assert_eq!(r.code, 0, "{}\n{:#}", r.stderr, r.json);
    for fs in &fss {
        sc.assert_converged(fs);
    }
}

/// A pull job compresses on the source's link: the send-agent compresses, the puller decompresses, the
/// report counts the source link's bytes.
#[test]
#[ignore = "needs real ZFS: run by vm/test"]
fn pull_compresses_on_the_source_link() {
    let _s = serial();
    let sc = Scenario::new("splz");
    let a = sc.src.ds("a");
    create_fs(&a);
    write_text(&a, "access.log", 31, 8_000_000);
    snap(&a, "s1");
    let extra = "compression = \"zstd:3\"\nbandwidth_limit = \"50MiB/s\"";
    configure_pull(&sc, "root", "", &[(&a, true)], extra, &ssh_known_hosts_line());
    let r = sc.replicate(&[]);
    assert_eq!(r.code, 0, "{}\n{:#}", r.stderr, r.json);
    sc.assert_converged(&a);
    let (bytes, wire) = (
        r.json["bytes_replicated"].as_u64().unwrap(),
        r.json["wire_bytes_replicated"].as_u64().unwrap(),
    );
    assert!(bytes > 8_000_000 && wire * 2 < bytes, "{wire} wire bytes of {bytes}");
    // Off: the wire carries the stream as it is.
    write_text(&a, "more.log", 32, 2_000_000);
    snap(&a, "s2");
    let r = sc.replicate(&["--compression", "off"]);
    assert_eq!(r.code, 0, "{}\n{:#}", r.stderr, r.json);
    let step = &r.json["filesystems"][0]["steps"][0];
    assert_eq!(step["wire_bytes"], step["bytes"], "{step:#}");
    sc.assert_converged(&a);
}

#[test]
#[ignore = "needs real ZFS: run by vm/test"]
fn killed_sshd_session_mid_transfer_resumes() {
    let _s = serial();
    let sc = Scenario::new("skil");
    let a = sc.src.ds("a");
    create_fs(&a);
    write_data(&a, "big", 4, 16_000_000);
    snap(&a, "s1");
    configure_ssh(&sc, "root", &[(&a, true)], FAST_RETRY, &ssh_known_hosts_line());
    ssh_rate(Some("40mbit"));
    let child = spawn_replicate(&sc);
    let target = sc.target(&a);
    wait_received(&target, 3_000_000);
    for pid in sshd_sessions("root") {
        let _ = try_cmd("kill", &["-9", &pid.to_string()]);
    }
    let r = run_result(child.wait_with_output().unwrap());
    ssh_rate(None);
    assert_eq!(r.code, 0, "{}\n{:#}", r.stderr, r.json);
    assert!(r.json["attempts"].as_array().unwrap().len() >= 2, "{:#}", r.json);
    sc.assert_converged(&a);
}

#[test]
#[ignore = "needs real ZFS: run by vm/test"]
fn agent_refuses_requests_outside_its_root_and_nothing_changes() {
    use std::io::Write;
    use zreplrs::agent::wire::frame;
    use zreplrs::agent::wire::proto::{self, envelope::Body, Envelope};
    let _s = serial();
    let sc = Scenario::new("shos");
    let a = sc.src.ds("a");
    create_fs(&a);
    snap(&a, "s1");
    zfs(&["create", &sc.dst.ds("other")]);
    zfs(&["snapshot", &format!("{}@keep", sc.dst.ds("other"))]);
    let before = sc.dst.state();
    let mut input = Vec::new();
    let msg = |body: Body, v: &mut Vec<u8>| frame::write_message(v, &Envelope::new(body)).unwrap();
    msg(
        proto::Hello {
            protocol_version: proto::PROTOCOL_VERSION,
            software_version: "t".into(),
            compression: Vec::new(),
            ..Default::default()
        }
        .into(),
        &mut input,
    );
    for fs in [
        "../other",
        "..",
        "a/../../other",
        "a@x",
        "a#x",
        "a%x",
        "a\u{1}",
        "a\0b",
        "/abs",
    ] {
        msg(proto::AbortResumeRequest { fs: fs.into() }.into(), &mut input);
        msg(
            proto::DestroyRequest {
                fs: fs.into(),
                snapshots: vec!["keep".into()],
            }
            .into(),
            &mut input,
        );
    }
    msg(
        proto::DestroyRequest {
            fs: "p".into(),
            snapshots: vec!["../x".into(), "a@b".into()],
        }
        .into(),
        &mut input,
    );
    msg(
        proto::ReceiveRequest {
            fs: "../other".into(),
            to_short: "x".into(),
            to_guid: 1,
            job_id: "j".into(),
            ..Default::default()
        }
        .into(),
        &mut input,
    );
    frame::write_data(&mut input, &[0u8; 1000]).unwrap();
    frame::write_end(&mut input, false).unwrap();
    msg(
        proto::ReleaseLastReceivedRequest {
            fs: "..".into(),
            snapshots: vec!["keep".into()],
            job_id: "j".into(),
        }
        .into(),
        &mut input,
    );
    msg(proto::ListRequest::default().into(), &mut input);
    let mut agent = std::process::Command::new(zreplrs_bin())
        .args(["recv-agent", "--root-fs", &sc.root()])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    agent.stdin.take().unwrap().write_all(&input).unwrap();
    let out = agent.wait_with_output().unwrap();
    let mut r = &out.stdout[..];
    let mut replies = Vec::new();
    while let Ok(Some(env)) = frame::read_message(&mut r) {
        replies.push(env);
    }
    assert_eq!(replies.len(), 1 + 18 + 1 + 1 + 1 + 1, "{replies:?}");
    for rep in &replies[1..replies.len() - 1] {
        match &rep.body {
            Some(Body::Error(e)) => assert!(e.kind == "invalid_name" || e.kind == "outside_root", "{e:?}"),
            other => panic!("expected a refusal, got {other:?}"),
        }
    }
    assert!(
        matches!(replies.last().unwrap().body, Some(Body::ListReply(_))),
        "still serving"
    );
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(sc.dst.state(), before, "the receiver pool is unchanged");
}

/// The `zfs allow` permissions the receiving user needs (documented in README).
const ALLOW: &str = "create,destroy,hold,mount,receive,release,userprop,canmount";

#[test]
#[ignore = "needs real ZFS: run by vm/test"]
fn unprivileged_receiver_with_delegated_permissions_replicates() {
    let _s = serial();
    let sc = Scenario::new("sunp");
    let a = sc.src.ds("a/b");
    create_fs(&a);
    write_data(&a, "f", 5, 500_000);
    snap(&a, "s1");
    // Password "*" rather than useradd's locked "!": sshd without PAM refuses key logins to locked accounts.
    let _ = try_cmd("useradd", &["-m", "-s", "/bin/sh", "-p", "*", "zrecv"]);
    try_cmd("id", &["zrecv"]).expect("user zrecv exists");
    // Without udev, /dev/zfs keeps the kernel's default mode; Debian's udev rule makes it 0666.
    try_cmd("chmod", &["0666", "/dev/zfs"]).unwrap();
    zfs(&["allow", "-u", "zrecv", ALLOW, &sc.root()]);
    configure_ssh(&sc, "zrecv", &[(&format!("{a}<"), true)], "", &ssh_known_hosts_line());
    let r = sc.replicate(&[]);
    assert_eq!(r.code, 0, "{}\n{:#}", r.stderr, r.json);
    snap(&a, "s2");
    let r = sc.replicate(&[]);
    assert_eq!(r.code, 0, "{}\n{:#}", r.stderr, r.json);
    sc.assert_converged(&a);
    assert_eq!(prop(&sc.target(&sc.src.ds("a")), "zrepl:placeholder"), "on");
}

/// The `zfs allow` permissions of an append-only receiving user (documented in docs/security.md): no
/// `destroy`.
const ALLOW_APPEND_ONLY: &str = "create,hold,mount,receive,release,userprop,canmount";

/// The recommended push setup: an unprivileged user without `destroy`, behind `recv-agent --append-only`.
/// Replication works (initial, placeholders, incremental, the last-received hold moving forward); the
/// sender's prune of the receiver is refused per filesystem and destroys nothing.
#[test]
#[ignore = "needs real ZFS: run by vm/test"]
fn append_only_unprivileged_receiver_replicates_and_refuses_pruning() {
    let _s = serial();
    let sc = Scenario::new("sapp");
    let a = sc.src.ds("a/b");
    create_fs(&a);
    write_data(&a, "f", 5, 300_000);
    snap(&a, "s1");
    snap(&a, "s2");
    let _ = try_cmd("useradd", &["-m", "-s", "/bin/sh", "-p", "*", "zappend"]);
    try_cmd("id", &["zappend"]).expect("user zappend exists");
    try_cmd("chmod", &["0666", "/dev/zfs"]).unwrap();
    zfs(&["allow", "-u", "zappend", ALLOW_APPEND_ONLY, &sc.root()]);
    let prune = "initial_replication = \"all\"\n[jobs.prune]\nkeep_sender = [{ type = \"not_replicated\" }]\n\
                 keep_receiver = [{ type = \"last_n\", count = 1 }]\n";
    configure_ssh_agent(
        &sc,
        "zappend",
        "--append-only",
        &[(&format!("{a}<"), true)],
        prune,
        &ssh_known_hosts_line(),
    );
    let r = sc.replicate(&[]);
    assert_eq!(r.code, 0, "{}\n{:#}", r.stderr, r.json);
    snap(&a, "s3");
    let r = sc.replicate(&[]);
    assert_eq!(r.code, 0, "{}\n{:#}", r.stderr, r.json);
    sc.assert_converged(&a);
    let before = sc.dst.state();
    let out = sc
        .command(&["prune", "--job", &sc.job, "--side", "receiver", "--format", "json"])
        .output()
        .unwrap();
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(out.status.code(), Some(1), "a refused filesystem: {v:#}");
    let f = &v["filesystems"][0];
    assert_eq!(f["error"]["kind"], "append_only", "{v:#}");
    assert!(
        f["error"]["message"].as_str().unwrap().contains("--append-only"),
        "{v:#}"
    );
    assert_eq!(f["destroyed"], serde_json::json!([]), "{v:#}");
    assert_eq!(v["destroyed"], 0, "{v:#}");
    assert_eq!(sc.dst.state(), before, "nothing destroyed on the receiver");
    // The backup host's own check of an append-only receiver, with no job there: by root and job id.
    let root = sc.root();
    let out = sc
        .command(&["check", "--receiver", "--root-fs", &root, "--job-id", &sc.job])
        .output()
        .unwrap();
    let line = String::from_utf8_lossy(&out.stdout).into_owned();
    assert_eq!(out.status.code(), Some(0), "{line}");
    assert!(line.starts_with("ZREPLRS OK - 1 received filesystems fine"), "{line}");
}

/// The `zfs allow` permissions of an unprivileged send-agent user (documented in docs/security.md). Without
/// `mount`, ZFS itself refuses to destroy the user's snapshots, while `destroy` lets it remove bookmarks.
const ALLOW_SEND: &str = "send,hold,release,bookmark,destroy";

/// Runs `zfs ARGS…` as `user`.
fn zfs_as(user: &str, args: &[&str]) -> Result<String, String> {
    let mut all = vec!["-u", user, "--", "zfs"];
    all.extend_from_slice(args);
    try_cmd("runuser", &all)
}

/// Pull mode as the recommended setup: the backup host connects to an unprivileged source user whose key
/// forces `send-agent`. A dry run changes nothing on either side; the initial run creates the parent as a
/// placeholder; status reports up to date; an incremental is one `-I` stream; after the source pruned the
/// common snapshot the next run is incremental from the cursor bookmark. The permissions are exactly enough,
/// and ZFS refuses that user a snapshot destroy even outside the agent.
#[test]
#[ignore = "needs real ZFS: run by vm/test"]
fn pull_from_an_unprivileged_send_agent() {
    let _s = serial();
    let sc = Scenario::new("spl");
    let a = sc.src.ds("a/b");
    create_fs(&a);
    write_data(&a, "f", 11, 800_000);
    snap(&a, "s1");
    let _ = try_cmd("useradd", &["-m", "-s", "/bin/sh", "-p", "*", "zsend"]);
    try_cmd("id", &["zsend"]).expect("user zsend exists");
    try_cmd("chmod", &["0666", "/dev/zfs"]).unwrap();
    zfs(&["allow", "-u", "zsend", ALLOW_SEND, &sc.src.name]);
    configure_pull(
        &sc,
        "zsend",
        "",
        &[(&format!("{a}<"), true)],
        "",
        &ssh_known_hosts_line(),
    );
    let (src_before, dst_before) = (sc.src.state(), sc.dst.state());
    let r = sc.replicate(&["--dry-run"]);
    assert_eq!(r.code, 0, "{}\n{:#}", r.stderr, r.json);
    assert_eq!(r.json["filesystems"][0]["result"], "planned", "{:#}", r.json);
    assert_eq!(sc.src.state(), src_before, "a dry run changes nothing on the source");
    assert_eq!(
        sc.dst.state(),
        dst_before,
        "a dry run changes nothing on the backup host"
    );
    let r = sc.replicate(&[]);
    assert_eq!(r.code, 0, "{}\n{:#}", r.stderr, r.json);
    sc.assert_converged(&a);
    assert_eq!(prop(&sc.target(&sc.src.ds("a")), "zrepl:placeholder"), "on");
    let out = sc
        .command(&["status", "--job", &sc.job, "--format", "json"])
        .output()
        .unwrap();
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(out.status.code(), Some(0), "{v:#}");
    assert_eq!(v["filesystems"][0]["name"], a, "{v:#}");
    assert_eq!(v["filesystems"][0]["state"], "up_to_date", "{v:#}");
    // The backup host's own view of the pull job: the copy with its last-received hold, and check OK.
    let out = sc
        .command(&["status", "--receiver", "--job", &sc.job, "--format", "json"])
        .output()
        .unwrap();
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(out.status.code(), Some(0), "{v:#}");
    let copy = v["filesystems"]
        .as_array()
        .and_then(|f| f.iter().find(|f| f["path"] == a.as_str()))
        .unwrap_or_else(|| panic!("{a} in {v:#}"));
    assert_eq!(copy["last_received_hold"], "on_newest", "{copy:#}");
    assert_eq!(copy["newest_snapshot"], format!("{}@s1", sc.target(&a)));
    let out = sc.command(&["check", "--receiver", "--job", &sc.job]).output().unwrap();
    let line = String::from_utf8_lossy(&out.stdout).into_owned();
    assert_eq!(out.status.code(), Some(0), "{line}");
    assert!(line.starts_with("ZREPLRS OK - 1 received filesystems fine"), "{line}");
    // `holds list` on the backup host lists both sides: the source's through its send-agent.
    let (v, kinds) = holds_list(&sc);
    assert_eq!(kinds("sender", &a), ["cursor"], "the source's cursor: {v:#}");
    assert_eq!(
        kinds("receiver", &sc.target(&a)),
        ["last_received_hold"],
        "the copy's hold: {v:#}"
    );
    write_data(&a, "g", 12, 300_000);
    snap(&a, "s2");
    snap(&a, "s3");
    let r = sc.replicate(&[]);
    assert_eq!(r.code, 0, "{}\n{:#}", r.stderr, r.json);
    let steps = r.json["filesystems"][0]["steps"].as_array().unwrap();
    assert_eq!(steps.len(), 1, "one -I stream: {:#}", r.json);
    assert_eq!(steps[0]["snapshots"], 2);
    sc.assert_converged(&a);
    // The source prunes the common snapshot: the cursor bookmark keeps the next run incremental.
    write_data(&a, "h", 13, 200_000);
    snap(&a, "s4");
    zfs(&["destroy", &format!("{a}@s3")]);
    let r = sc.replicate(&[]);
    assert_eq!(r.code, 0, "{}\n{:#}", r.stderr, r.json);
    let from = r.json["filesystems"][0]["steps"][0]["from"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    assert!(
        from.contains("#zrepl_CURSOR_G_"),
        "incremental from the cursor: {:#}",
        r.json
    );
    sc.assert_converged(&a);
    // What the user may do with ZFS directly: remove a bookmark, never a snapshot.
    zfs(&["bookmark", &format!("{a}@s4"), &format!("{a}#scratch")]);
    zfs_as("zsend", &["destroy", &format!("{a}#scratch")]).expect("destroy permits removing bookmarks");
    let e = zfs_as("zsend", &["destroy", &format!("{a}@s1")]).expect_err("no snapshot destroy without mount");
    assert!(e.contains("permission denied"), "{e}");
    assert!(exists(&format!("{a}@s1")));
}

/// A pull whose link is cut mid-transfer: the same run reconnects to the send-agent and resumes from the
/// receive token, and ends converged.
#[test]
#[ignore = "needs real ZFS: run by vm/test"]
fn pull_link_cut_mid_transfer_resumes_in_the_same_run() {
    let _s = serial();
    let sc = Scenario::new("splc");
    let a = sc.src.ds("a");
    create_fs(&a);
    write_data(&a, "big", 14, 24_000_000);
    snap(&a, "s1");
    configure_pull(&sc, "root", "", &[(&a, true)], FAST_RETRY, &ssh_known_hosts_line());
    ssh_rate_back(Some("40mbit"));
    let child = spawn_replicate(&sc);
    let target = sc.target(&a);
    wait_received(&target, 4_000_000);
    ssh_link(false);
    // The stall watchdog ends the stream; the local receive keeps its resumable state.
    wait_no_receive(&target);
    ssh_link(true);
    ssh_rate_back(None);
    let r = run_result(child.wait_with_output().unwrap());
    let steps = assert_reconnected(&r);
    assert!(steps.iter().any(|s| s["resumed"] == true), "resumed: {:#}", r.json);
    sc.assert_converged(&a);
}

/// An encrypted source pulled through `send-agent --require-raw`: the copy is encrypted and its key never
/// reaches the backup host; a job that does not send raw is refused by the agent, per filesystem, naming
/// its policy, and nothing is received.
#[test]
#[ignore = "needs real ZFS: run by vm/test"]
fn pull_of_an_encrypted_source_is_raw() {
    let _s = serial();
    let sc = Scenario::new("splr");
    let key = sc.dir.path().join("key");
    std::fs::write(&key, "correct horse battery staple").unwrap();
    let enc = sc.src.ds("enc");
    create_fs_with(
        &enc,
        &[
            "encryption=on",
            "keyformat=passphrase",
            &format!("keylocation=file://{}", key.display()),
        ],
    );
    write_data(&enc, "secret", 15, 200_000);
    snap(&enc, "s1");
    configure_pull(
        &sc,
        "root",
        "--require-raw",
        &[(&enc, true)],
        "retries = 0",
        &ssh_known_hosts_line(),
    );
    let r = sc.replicate(&[]);
    assert_eq!(r.code, 1, "{}\n{:#}", r.stderr, r.json);
    let f = &r.json["filesystems"][0];
    assert_eq!(f["error"]["kind"], "send_agent_policy", "{:#}", r.json);
    assert!(
        f["error"]["message"].as_str().unwrap().contains("--require-raw"),
        "{:#}",
        r.json
    );
    assert!(!exists(&sc.target(&enc)), "nothing received");
    configure_pull(
        &sc,
        "root",
        "--require-raw",
        &[(&enc, true)],
        "retries = 0\n[jobs.send]\nencrypted = true\n",
        &ssh_known_hosts_line(),
    );
    let r = sc.replicate(&[]);
    assert_eq!(r.code, 0, "{}\n{:#}", r.stderr, r.json);
    let t = sc.target(&enc);
    assert_eq!(prop(&t, "encryption"), "aes-256-gcm");
    assert_eq!(
        prop(&t, "keystatus"),
        "unavailable",
        "the backup host never sees the key"
    );
    write_data(&enc, "more", 16, 100_000);
    snap(&enc, "s2");
    let r = sc.replicate(&[]);
    assert_eq!(r.code, 0, "{}\n{:#}", r.stderr, r.json);
    zfs(&["load-key", "-L", &format!("file://{}", key.display()), &t]);
    sc.assert_converged(&enc);
}

/// A pull job whose configuration names a filesystem the source's send-agent does not allow (its forced
/// command decides) fails for that filesystem alone, with the agent's refusal; the allowed one is pulled.
/// A volume is pulled too, and received without device (`volmode=none`).
#[test]
#[ignore = "needs real ZFS: run by vm/test"]
fn pull_of_a_filesystem_the_send_agent_refuses_fails_alone() {
    let _s = serial();
    let sc = Scenario::new("sprf");
    let a = sc.src.ds("a");
    let secret = sc.src.ds("secret");
    create_fs(&a);
    create_fs(&secret);
    let vol = format!("{a}/vol");
    zfs(&["create", "-V", "16M", &vol]);
    write_data(&a, "f", 21, 200_000);
    snap(&a, "s1");
    snap(&vol, "s1");
    snap(&secret, "s1");
    configure_pull(
        &sc,
        "root",
        "",
        &[(&format!("{a}<"), true)],
        "",
        &ssh_known_hosts_line(),
    );
    // The backup host's configuration asks for more than the source's agent allows.
    let mut text = std::fs::read_to_string(sc.config_path()).unwrap();
    text.push_str(&format!("\"{secret}<\" = true\n"));
    std::fs::write(sc.config_path(), text).unwrap();
    let r = sc.replicate(&[]);
    assert_eq!(r.code, 1, "a partial failure: {}\n{:#}", r.stderr, r.json);
    let fss = r.json["filesystems"].as_array().unwrap();
    let by_name = |n: &str| fss.iter().find(|f| f["name"] == n).cloned().unwrap_or_default();
    assert_eq!(by_name(&a)["result"], "ok", "{:#}", r.json);
    assert_eq!(by_name(&vol)["result"], "ok", "{:#}", r.json);
    assert_eq!(by_name(&secret)["result"], "failed", "{:#}", r.json);
    assert_eq!(by_name(&secret)["error"]["kind"], "send_agent_policy", "{:#}", r.json);
    sc.assert_converged(&a);
    assert_eq!(guid(&format!("{}@s1", sc.target(&vol))), guid(&format!("{vol}@s1")));
    assert_eq!(prop(&sc.target(&vol), "volmode"), "none");
    assert!(
        !exists(&sc.target(&secret)),
        "nothing of the refused filesystem was received"
    );
}

/// Every dataset type through an SSH agent with `--append-only` (a hostile-peer receive): a filesystem, a
/// volume, an encrypted filesystem and an encrypted volume (raw), full and then incremental; GUIDs equal, the
/// volumes without device on the backup host, the encrypted copies without their key.
#[test]
#[ignore = "needs real ZFS: run by vm/test"]
fn every_dataset_type_replicates_through_an_append_only_agent() {
    let _s = serial();
    let sc = Scenario::new("sdt");
    let key = sc.dir.path().join("key");
    std::fs::write(&key, "correct horse battery staple").unwrap();
    let kl = format!("keylocation=file://{}", key.display());
    let enc = ["-o", "encryption=on", "-o", "keyformat=passphrase", "-o", &kl];
    let top = sc.src.ds("t");
    create_fs(&top);
    let (fs, vol, efs, evol) = (
        format!("{top}/fs"),
        format!("{top}/vol"),
        format!("{top}/efs"),
        format!("{top}/evol"),
    );
    create_fs(&fs);
    zfs(&["create", "-V", "16M", &vol]);
    zfs(&[&["create"][..], &enc[..], &[&efs]].concat());
    zfs(&[&["create", "-V", "16M"][..], &enc[..], &[&evol]].concat());
    write_data(&fs, "f", 41, 300_000);
    write_data(&efs, "f", 42, 300_000);
    let all = [&top, &fs, &vol, &efs, &evol];
    for d in all {
        snap(d, "s1");
    }
    configure_ssh_agent(
        &sc,
        "root",
        "--append-only",
        &[(&format!("{top}<"), true)],
        "[jobs.send]\nraw = true\n",
        &ssh_known_hosts_line(),
    );
    let r = sc.replicate(&[]);
    assert_eq!(r.code, 0, "{}\n{:#}", r.stderr, r.json);
    write_data(&fs, "g", 43, 100_000);
    write_data(&efs, "g", 44, 100_000);
    for d in all {
        snap(d, "s2");
    }
    let r = sc.replicate(&[]);
    assert_eq!(r.code, 0, "{}\n{:#}", r.stderr, r.json);
    for d in all {
        let t = sc.target(d);
        assert_eq!(guid(&format!("{t}@s2")), guid(&format!("{d}@s2")), "{d}");
    }
    assert_eq!(prop(&sc.target(&vol), "volmode"), "none");
    assert_eq!(prop(&sc.target(&evol), "volmode"), "none");
    assert_eq!(prop(&sc.target(&evol), "keystatus"), "unavailable");
    assert_eq!(prop(&sc.target(&efs), "keystatus"), "unavailable");
    assert_eq!(
        prop(&sc.target(&fs), "setuid"),
        "off",
        "a filesystem keeps the hardening"
    );
    sc.assert_converged(&fs);
}

/// The sender's `a`: 1 MB at s1, then 300 kB more at each of s2 and s3.
fn three_snapshots(sc: &Scenario) -> String {
    let a = sc.src.ds("a");
    create_fs(&a);
    write_data(&a, "base", 1, 1_000_000);
    snap(&a, "s1");
    for i in 2..=3u64 {
        write_data(&a, &format!("f{i}"), i, 300_000);
        snap(&a, &format!("s{i}"));
    }
    a
}

/// After a restore of `a` (rolled back to s1) from `copy`: s2 and s3 are back with the copy's GUIDs and
/// content, fewer bytes were sent than twice the 600 kB that changed, and the backup pool is `before`.
fn assert_restored(sc: &Scenario, run: &Run, (a, copy): (&str, &str), before: &str, what: &str) {
    assert_eq!(run.code, 0, "{}\n{:#}", run.stderr, run.json);
    assert_eq!(snapshots(a), snapshots(copy), "s2 and s3 are back");
    assert_eq!(
        checksum_snapshot(&format!("{a}@s3")),
        checksum_snapshot(&format!("{copy}@s3"))
    );
    let sent = run.json["bytes_replicated"].as_u64().unwrap();
    println!("incremental restore {what}: {sent} bytes sent, 600000 changed");
    assert!(sent < 1_200_000, "incremental: {sent}");
    assert_eq!(sc.dst.state(), before, "the backup pool is exactly what it was");
}

/// The append-only push setup serving restores: the backup host's agent runs `--append-only
/// --serve-restores` as an unprivileged user with `send` delegated besides the append-only permissions.
/// Without the flag a restore is refused with what to add; with it a filesystem rolled back by two
/// snapshots comes back incrementally (GUIDs equal, bytes well under twice the changed data), and the backup
/// pool is exactly what it was (the restore's step holds are gone, no bookmark was made). A job that claims
/// another client's tree through this client's key is refused and reads nothing.
#[test]
#[ignore = "needs real ZFS: run by vm/test"]
fn restore_through_an_append_only_agent_that_serves_restores() {
    let _s = serial();
    let sc = Scenario::new("srst");
    let a = three_snapshots(&sc);
    let _ = try_cmd("useradd", &["-m", "-s", "/bin/sh", "-p", "*", "zrestore"]);
    try_cmd("id", &["zrestore"]).expect("user zrestore exists");
    try_cmd("chmod", &["0666", "/dev/zfs"]).unwrap();
    zfs(&[
        "allow",
        "-u",
        "zrestore",
        &format!("{ALLOW_APPEND_ONLY},send"),
        &sc.root(),
    ]);
    // Another client's backup on the same host.
    let other = format!("{}/prod2/{}", sc.root(), sc.src.ds("secret"));
    zfs(&["create", "-p", &other]);
    zfs(&["snapshot", &format!("{other}@s1")]);
    let rules = [(format!("{a}<"), true)];
    let rules: Vec<(&str, bool)> = rules.iter().map(|(r, b)| (r.as_str(), *b)).collect();
    let job = "client_identity = \"prod1\"\ninitial_replication = \"all\"";
    let agent = "--append-only --client-identity prod1";
    configure_ssh_agent(&sc, "zrestore", agent, &rules, job, &ssh_known_hosts_line());
    let r = sc.replicate(&[]);
    assert_eq!(r.code, 0, "{}\n{:#}", r.stderr, r.json);
    let copy = format!("{}/prod1/{a}", sc.root());
    assert_eq!(snapshots(&copy), snapshots(&a));
    zfs(&["rollback", "-r", &format!("{a}@s1")]);
    let restore = |sc: &Scenario| {
        let out = sc
            .command(&["restore", "--job", &sc.job, "--fs", &a, "--format", "json"])
            .output()
            .unwrap();
        run_result(out)
    };
    let refused = restore(&sc);
    assert_ne!(refused.code, 0, "{:#}", refused.json);
    let why = refused.json.to_string();
    assert!(why.contains("--serve-restores"), "{why}");
    assert_eq!(snapshots(&a).len(), 1, "nothing restored");

    let agent = "--append-only --client-identity prod1 --serve-restores";
    configure_ssh_agent(&sc, "zrestore", agent, &rules, job, &ssh_known_hosts_line());
    let before = sc.dst.state();
    let run = restore(&sc);
    assert_restored(&sc, &run, (&a, &copy), &before, "over SSH from an append-only agent");

    // This client's key, a job that claims the other client's tree: refused, nothing read or changed.
    let claim = "client_identity = \"prod2\"\ninitial_replication = \"all\"";
    let other_rules = [(sc.src.ds("secret"), true)];
    let other_rules: Vec<(&str, bool)> = other_rules.iter().map(|(r, b)| (r.as_str(), *b)).collect();
    configure_ssh_agent(&sc, "zrestore", agent, &other_rules, claim, &ssh_known_hosts_line());
    let stolen = sc.src.ds("secret");
    let out = sc
        .command(&[
            "restore",
            "--job",
            &sc.job,
            "--fs",
            &stolen,
            "--allow-full",
            "--format",
            "json",
        ])
        .output()
        .unwrap();
    let run = run_result(out);
    assert_ne!(run.code, 0, "{:#}", run.json);
    assert!(run.json.to_string().contains("does not hold"), "{:#}", run.json);
    assert!(!exists(&stolen), "nothing of the other client arrived");
    assert_eq!(sc.dst.state(), before, "the backup pool is unchanged");
}

/// A pull job's restore runs on the backup host and sends to a recv-agent on the production host, reached
/// with a key of its own whose forced command is `recv-agent --append-only` (the job's key forces the
/// send-agent). A filesystem rolled back by two snapshots comes back incrementally with the backup's GUIDs
/// and content, and the backup host's pool is exactly what it was.
#[test]
#[ignore = "needs real ZFS: run by vm/test"]
fn a_pull_jobs_restore_sends_from_the_backup_host_to_the_production_hosts_agent() {
    let _s = serial();
    let sc = Scenario::new("sprs");
    let a = three_snapshots(&sc);
    for user in ["zsend", "zrestore"] {
        let _ = try_cmd("useradd", &["-m", "-s", "/bin/sh", "-p", "*", user]);
        try_cmd("id", &[user]).unwrap_or_else(|e| panic!("user {user}: {e}"));
    }
    try_cmd("chmod", &["0666", "/dev/zfs"]).unwrap();
    zfs(&["allow", "-u", "zsend", ALLOW_SEND, &sc.src.name]);
    zfs(&["allow", "-u", "zrestore", ALLOW_APPEND_ONLY, &sc.src.name]);
    let agent = format!(
        "{} recv-agent --root-fs {} --append-only",
        zreplrs_bin().display(),
        sc.src.name
    );
    ssh_host();
    let restore_key = ssh_authorize("zrestore", &agent);
    let restore = format!(
        "[jobs.restore]\ntarget = \"ssh://zrestore@{SSH_ADDR}/{}\"\nidentity_files = [\"{}\"]",
        sc.src.name,
        restore_key.display()
    );
    let rules = [(format!("{a}<"), true)];
    let rules: Vec<(&str, bool)> = rules.iter().map(|(r, b)| (r.as_str(), *b)).collect();
    let extra = format!("initial_replication = \"all\"\n{restore}");
    configure_pull(&sc, "zsend", "", &rules, &extra, &ssh_known_hosts_line());
    let r = sc.replicate(&[]);
    assert_eq!(r.code, 0, "{}\n{:#}", r.stderr, r.json);
    let copy = sc.target(&a);
    assert_eq!(snapshots(&copy), snapshots(&a));
    zfs(&["rollback", "-r", &format!("{a}@s1")]);
    let before = sc.dst.state();
    let out = sc
        .command(&["restore", "--job", &sc.job, "--fs", &a, "--format", "json"])
        .output()
        .unwrap();
    let run = run_result(out);
    assert_restored(&sc, &run, (&a, &copy), &before, "of a pull job to the production host");
    // The pull job goes on: nothing to send.
    let r = sc.replicate(&[]);
    assert_eq!(r.code, 0, "{}\n{:#}", r.stderr, r.json);
    assert_eq!(r.json["result"], "nothing_to_do", "{:#}", r.json);
}

/// Failover and failback of a push job with two roots over SSH: the backup host's agent
/// (`--serve-restores`, not append-only) makes the replicas writable, sends their snapshots back to the
/// originals in one run (keeping the job's cursors on the replicas), and makes them read-only again on
/// failback; each direction moves only what changed, and the job then replicates forward as before.
#[test]
#[ignore = "needs real ZFS: run by vm/test"]
fn failover_and_failback_over_ssh() {
    let _s = serial();
    let sc = Scenario::new("sfov");
    let (roots, rules) = two_roots(&sc);
    let rules: Vec<(&str, bool)> = rules.iter().map(|r| (r.as_str(), true)).collect();
    configure_ssh_agent(&sc, "root", "--serve-restores", &rules, "", &ssh_known_hosts_line());
    round_trip(&sc, &roots, false);
}

/// Failover and failback of a pull job with two roots, run on its backup host: the production host's
/// recv-agent of `[jobs.restore]` (not append-only) makes the originals read-only and later writable again,
/// receives the replicas' snapshots, and drops the job's cursors there; the marks are on the backup host's
/// replicas; each direction moves only what changed and the job then pulls as before.
#[test]
#[ignore = "needs real ZFS: run by vm/test"]
fn failover_and_failback_of_a_pull_job() {
    let _s = serial();
    let sc = Scenario::new("spfo");
    let (roots, rules) = two_roots(&sc);
    let rules: Vec<(&str, bool)> = rules.iter().map(|r| (r.as_str(), true)).collect();
    ssh_host();
    let agent = format!("{} recv-agent --root-fs {}", zreplrs_bin().display(), sc.src.name);
    let restore_key = ssh_authorize("root", &agent);
    let restore = format!(
        "[jobs.restore]\ntarget = \"ssh://root@{SSH_ADDR}/{}\"\nidentity_files = [\"{}\"]",
        sc.src.name,
        restore_key.display()
    );
    let extra = format!("initial_replication = \"all\"\n{restore}");
    configure_pull(&sc, "root", "", &rules, &extra, &ssh_known_hosts_line());
    round_trip(&sc, &roots, true);
}

/// `holds list` of a failed-over job shows its bookkeeping where the reversed direction keeps it (a cursor
/// on each replica, a last-received hold on each original), and `holds release-stale` finds nothing stale.
fn assert_bookkeeping_follows_the_run(sc: &Scenario, senders: &[String], receivers: &[String]) {
    let (v, kinds) = holds_list(sc);
    for (copy, a) in senders.iter().zip(receivers) {
        assert_eq!(kinds("sender", copy), ["cursor"], "{copy}: {v:#}");
        assert_eq!(kinds("receiver", a), ["last_received_hold"], "{a}: {v:#}");
    }
    let out = sc
        .command(&["holds", "release-stale", "--job", &sc.job, "--format", "json"])
        .output()
        .unwrap();
    let v: serde_json::Value =
        serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&out.stderr)));
    assert_eq!(out.status.code(), Some(0), "{v:#}");
    assert_eq!(v["released"], serde_json::json!([]), "{v:#}");
}

/// `holds list --job J` of `sc` (it must succeed): the result, and the kinds of the entries of one side
/// and filesystem.
fn holds_list(sc: &Scenario) -> (serde_json::Value, impl Fn(&str, &str) -> Vec<String>) {
    let out = sc
        .command(&["holds", "list", "--job", &sc.job, "--format", "json"])
        .output()
        .unwrap();
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(out.status.code(), Some(0), "{v:#}");
    let entries = v["entries"].as_array().cloned().unwrap_or_default();
    let kinds = move |side: &str, fs: &str| -> Vec<String> {
        entries
            .iter()
            .filter(|e| e["side"] == side && e["filesystem"] == fs)
            .map(|e| e["kind"].as_str().unwrap().to_string())
            .collect()
    };
    (v, kinds)
}

/// Two filesystems with a snapshot s1 each, and the job's rules for them.
fn two_roots(sc: &Scenario) -> ([String; 2], Vec<String>) {
    let roots = [sc.src.ds("a"), sc.src.ds("b")];
    for (i, fs) in roots.iter().enumerate() {
        create_fs(fs);
        write_data(fs, "base", 1 + i as u64, 800_000);
        snap(fs, "s1");
    }
    let rules = roots.iter().map(|r| format!("{r}<")).collect();
    (roots, rules)
}

/// Replicates, fails over, writes on the replicas and replicates back, fails back and replicates forward,
/// checking the roles, the marks (on the originals of a push job, on the replicas of a `pull` job), the
/// bookkeeping and the content at each step.
fn round_trip(sc: &Scenario, roots: &[String; 2], pull: bool) {
    let r = sc.replicate(&[]);
    assert_eq!(r.code, 0, "{}\n{:#}", r.stderr, r.json);
    let copies = roots.clone().map(|r| sc.target(&r));
    let pairs = || roots.iter().zip(copies.iter());
    let run = |cmd: &str| {
        let (code, v) = failover_command(sc, cmd, &[]);
        assert_eq!(code, Some(0), "{cmd}: {v:#}");
        assert_eq!(v["replicas"].as_array().map(Vec::len), Some(2), "{v:#}");
        v
    };
    for (i, fs) in roots.iter().enumerate() {
        write_data(fs, "f2", 10 + i as u64, 200_000);
        snap(fs, "s2");
    }
    run("failover");
    for (a, copy) in pairs() {
        assert_eq!(
            (prop(a, "readonly"), prop(copy, "readonly")),
            ("on".into(), "off".into())
        );
        let marked = if pull { copy } else { a };
        assert_eq!(prop(marked, "zreplrs:failover"), sc.job, "{marked}");
        assert_eq!(snapshots(copy), snapshots(a));
        assert_eq!(sc.cursors(copy).len(), 1, "{copy} keeps the job's cursor");
        assert!(sc.cursors(a).is_empty(), "{a}: the forward cursor is gone");
        assert_eq!(holds(&format!("{a}@s2")), vec![sc.last_received_tag()]);
        assert!(holds(&format!("{copy}@s2")).is_empty());
        zfs(&["set", &format!("mountpoint=/tmp/mnt/{copy}"), copy]);
        if prop(copy, "mounted") != "yes" {
            zfs(&["mount", copy]);
        }
        write_data(copy, "new", 20, 300_000);
        snap(copy, "s3");
    }
    let back = sc.replicate(&[]);
    assert_eq!(back.code, 0, "{}\n{:#}", back.stderr, back.json);
    let sent = back.json["bytes_replicated"].as_u64().unwrap();
    let what = if pull { "pull job" } else { "push job over SSH" };
    println!("failover of a {what}: 2 x 300000 bytes written on the replicas went back with {sent} bytes");
    assert!(sent < 1_200_000, "incremental: {sent}");
    for (a, copy) in pairs() {
        assert_eq!(snapshots(a), snapshots(copy));
        assert_eq!(
            checksum_snapshot(&format!("{a}@s3")),
            checksum_snapshot(&format!("{copy}@s3"))
        );
    }
    assert_bookkeeping_follows_the_run(sc, &copies, roots);
    for copy in &copies {
        write_data(copy, "more", 21, 100_000);
        snap(copy, "s3b");
    }
    let v = run("failback");
    let steps = incremental_step_bytes(&v);
    assert!(
        !steps.is_empty(),
        "the last run back sent the replicas' new snapshots: {v:#}"
    );
    println!("failback of a {what}: steps of {steps:?} bytes for 2 x 100000 bytes changed");
    assert!(steps.iter().sum::<u64>() < 400_000, "incremental: {steps:?}");
    for (a, copy) in pairs() {
        assert_eq!(
            (prop(a, "readonly"), prop(copy, "readonly")),
            ("off".into(), "on".into())
        );
        assert_eq!(prop(if pull { copy } else { a }, "zreplrs:failover"), "-");
        assert!(sc.cursors(copy).is_empty(), "{copy}: the replica's cursor is gone");
        assert!(
            holds(&format!("{a}@s3b")).is_empty(),
            "{a}: the other way's hold is released"
        );
        write_data(a, "after", 30, 100_000);
        snap(a, "s4");
    }
    let fwd = sc.replicate(&[]);
    assert_eq!(fwd.code, 0, "{}\n{:#}", fwd.stderr, fwd.json);
    for f in fwd.json["filesystems"].as_array().unwrap() {
        assert!(f["steps"][0]["from"].as_str().unwrap().ends_with("@s3b"), "{f:#}");
    }
    for a in roots {
        sc.assert_converged(a);
    }
}
