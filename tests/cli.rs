//! Host tests of the command line and of the recv-agent's refusals that happen before ZFS is touched:
//! usage and config errors (exit 2), and hostile protocol input to `zreplrs recv-agent`.

use std::io::Write;
use std::process::{Command, Stdio};

use assert_cmd::cargo::CommandCargoExt;
use zreplrs::agent::wire::frame;
use zreplrs::agent::wire::proto::{self, envelope::Body, Envelope};

/// The binary, with its default lock directory in a private temporary directory of this test process: host
/// tests never touch the host's `/run/zreplrs`.
fn zreplrs() -> Command {
    static LOCKS: std::sync::OnceLock<tempfile::TempDir> = std::sync::OnceLock::new();
    let locks = LOCKS.get_or_init(|| tempfile::tempdir().unwrap());
    let mut c = Command::cargo_bin("zreplrs").unwrap();
    c.env("ZREPLRS_LOCK_DIR", locks.path().join("locks"));
    c
}

fn write_config(dir: &tempfile::TempDir, text: &str) -> std::path::PathBuf {
    let p = dir.path().join("zreplrs.toml");
    std::fs::write(&p, text).unwrap();
    p
}

const GOOD: &str = "[[jobs]]\nname = \"j1\"\ntarget = \"local:backup/hosts\"\n[jobs.filesystems]\n\"tank/a<\" = true\n";

#[test]
fn version_prints_the_crate_version() {
    let out = zreplrs().arg("version").output().unwrap();
    assert!(out.status.success());
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        format!("zreplrs {}", env!("CARGO_PKG_VERSION"))
    );
}

#[test]
fn missing_config_is_exit_2_and_names_the_file() {
    let out = zreplrs()
        .args(["--config", "/nonexistent/z.toml", "replicate", "--job", "j"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("/nonexistent/z.toml"), "{err}");
    assert!(
        !err.contains("--config"),
        "no advice to use --config when it was used: {err}"
    );
    assert!(out.stdout.is_empty());
}

#[test]
fn unknown_key_is_exit_2_and_names_the_key_path() {
    let dir = tempfile::tempdir().unwrap();
    let p = write_config(&dir, &format!("{GOOD}[jobs.send]\ncompresed = true\n"));
    let out = zreplrs()
        .arg("--config")
        .arg(&p)
        .args(["replicate", "--job", "j1"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("jobs[0].send.compresed"), "{err}");
}

#[test]
fn unknown_job_is_exit_2_and_lists_jobs() {
    let dir = tempfile::tempdir().unwrap();
    let p = write_config(&dir, GOOD);
    let out = zreplrs()
        .arg("--config")
        .arg(&p)
        .args(["replicate", "--job", "nope"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("nope") && err.contains("j1"), "{err}");
}

#[test]
fn config_check_accepts_a_good_config_and_the_shipped_example() {
    let dir = tempfile::tempdir().unwrap();
    let p = write_config(&dir, GOOD);
    let out = zreplrs()
        .arg("--config")
        .arg(&p)
        .args(["config", "check"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    // The shipped example names a key and a known_hosts file in /etc/zreplrs that this host does not have.
    let out = zreplrs()
        .args(["--config", "examples/zreplrs.toml", "config", "check"])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.contains("jobs[0].ssh.identity_files[0]: cannot read /etc/zreplrs/id_ed25519"),
        "{err}"
    );
    // Installed as its comments say (its files in place, the key private), it passes with no warning; a key
    // others can read is a warning.
    let etc = dir.path().join("etc");
    std::fs::create_dir(&etc).unwrap();
    let example = std::fs::read_to_string("examples/zreplrs.toml").unwrap();
    let installed = write_config(&dir, &example.replace("/etc/zreplrs/", &format!("{}/", etc.display())));
    std::fs::write(etc.join("known_hosts"), "").unwrap();
    let key = etc.join("id_ed25519");
    std::fs::write(&key, "").unwrap();
    let check = |mode: u32| {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&key, std::fs::Permissions::from_mode(mode)).unwrap();
        let out = zreplrs()
            .arg("--config")
            .arg(&installed)
            .args(["config", "check", "--format", "json"])
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        v["warnings"].as_array().unwrap().len()
    };
    assert_eq!(check(0o600), 0);
    assert_eq!(check(0o640), 2, "one warning per job that names the key");
    let out = zreplrs()
        .env("ZREPLRS_CONFIG", &p)
        .args(["config", "check"])
        .output()
        .unwrap();
    assert!(out.status.success(), "ZREPLRS_CONFIG is honoured");
}

#[test]
fn bad_cli_arguments_are_exit_2() {
    let out = zreplrs().args(["replicate"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    let out = zreplrs()
        .args(["recv-agent", "--root-fs", "bad%root"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let out = zreplrs()
        .args(["recv-agent", "--root-fs", "b/r", "--client-identity", "a/b"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
}

/// The agent and the configuration accept the same property names: the placeholder property zreplrs manages
/// is refused by both.
#[test]
fn agent_refuses_the_placeholder_property_as_config_does() {
    for args in [
        ["--recv-set", "zrepl:placeholder=off"],
        ["--recv-inherit", "zrepl:placeholder"],
        ["--recv-set", "Bad=1"],
    ] {
        let out = zreplrs()
            .args(["recv-agent", "--root-fs", "b/r"])
            .args(args)
            .stdin(Stdio::null())
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(args[0]) && err.contains("property"), "{args:?}: {err}");
    }
    let out = zreplrs()
        .args([
            "recv-agent",
            "--root-fs",
            "b/r",
            "--recv-set",
            "canmount=off",
            "--recv-inherit",
            "com.x:y",
        ])
        .env("PATH", "/nonexistent")
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert_ne!(out.status.code(), Some(2), "valid names are accepted");
}

/// Speaks raw bytes to a fresh agent and returns the replies it sent and its exit code.
fn agent_session(input: &[u8]) -> (Vec<Envelope>, Option<i32>) {
    agent_session_with(&[], input)
}

fn agent_session_with(args: &[&str], input: &[u8]) -> (Vec<Envelope>, Option<i32>) {
    let mut child = zreplrs()
        .args(["recv-agent", "--root-fs", "nopool_zreplrs_test/backup"])
        .args(args)
        .env("PATH", "/nonexistent")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(input).unwrap();
    let out = child.wait_with_output().unwrap();
    let mut replies = Vec::new();
    let mut r = &out.stdout[..];
    while let Ok(Some(env)) = frame::read_message(&mut r) {
        replies.push(env);
    }
    (replies, out.status.code())
}

fn msg(body: Body) -> Vec<u8> {
    let mut v = Vec::new();
    frame::write_message(&mut v, &Envelope::new(body)).unwrap();
    v
}

fn hello() -> Vec<u8> {
    msg(proto::Hello {
        protocol_version: proto::PROTOCOL_VERSION,
        software_version: "test".into(),
        compression: Vec::new(),
        ..Default::default()
    }
    .into())
}

fn error_kind(e: &Envelope) -> String {
    match &e.body {
        Some(Body::Error(e)) => e.kind.clone(),
        other => panic!("expected an error reply, got {other:?}"),
    }
}

#[test]
fn agent_refuses_a_wrong_protocol_version() {
    let (replies, code) = agent_session(&msg(proto::Hello {
        protocol_version: 99,
        software_version: "x".into(),
        compression: Vec::new(),
        ..Default::default()
    }
    .into()));
    assert_eq!(replies.len(), 1);
    assert_eq!(error_kind(&replies[0]), "protocol_version");
    assert_ne!(code, Some(0));
}

#[test]
fn agent_refuses_requests_before_hello() {
    let (replies, code) = agent_session(&msg(proto::ListRequest::default().into()));
    assert_eq!(error_kind(&replies[0]), "protocol");
    assert_ne!(code, Some(0));
}

#[test]
fn agent_refuses_names_outside_its_root_and_keeps_serving() {
    let mut input = hello();
    for fs in ["../x", "", "a@b", "a#b", "a%b", "a/../b", "a\nb", "a\0b", "/abs"] {
        input.extend(msg(proto::AbortResumeRequest { fs: fs.into() }.into()));
    }
    // A receive outside the root: refused, and its data frames are skipped.
    input.extend(msg(proto::ReceiveRequest {
        fs: "..".into(),
        to_short: "s".into(),
        to_guid: 1,
        job_id: "j".into(),
        ..Default::default()
    }
    .into()));
    frame::write_data(&mut input, b"not a zfs stream").unwrap();
    frame::write_end(&mut input, false).unwrap();
    input.extend(msg(proto::ReceiveRequest {
        fs: "a".into(),
        to_short: "s@x".into(),
        to_guid: 1,
        job_id: "j".into(),
        ..Default::default()
    }
    .into()));
    frame::write_end(&mut input, false).unwrap();
    input.extend(msg(proto::ReceiveRequest {
        fs: "a".into(),
        to_short: "s".into(),
        to_guid: 1,
        job_id: "bad@job".into(),
        ..Default::default()
    }
    .into()));
    frame::write_end(&mut input, false).unwrap();
    let (replies, code) = agent_session(&input);
    assert!(matches!(replies[0].body, Some(Body::HelloReply(_))), "{:?}", replies[0]);
    let kinds: Vec<String> = replies[1..].iter().map(error_kind).collect();
    assert_eq!(kinds.len(), 12, "{kinds:?}");
    for k in &kinds {
        assert!(k == "invalid_name" || k == "outside_root", "{kinds:?}");
    }
    assert_eq!(code, Some(0), "the session continued to a clean end");
}

/// The agent offers zstd in its hello; a receive with a codec it does not know is refused before anything
/// touches ZFS, its data is skipped, and the session goes on.
#[test]
fn agent_offers_zstd_and_refuses_unknown_codecs() {
    let mut input = hello();
    input.extend(msg(proto::ReceiveRequest {
        fs: "a".into(),
        to_short: "s".into(),
        to_guid: 1,
        job_id: "j".into(),
        compression: "lz4\u{1b}[2J".into(),
        ..Default::default()
    }
    .into()));
    frame::write_data(&mut input, b"anything").unwrap();
    frame::write_end(&mut input, false).unwrap();
    input.extend(msg(proto::AbortResumeRequest { fs: "../x".into() }.into()));
    let (replies, code) = agent_session(&input);
    match &replies[0].body {
        Some(Body::HelloReply(h)) => assert_eq!(h.compression, vec!["zstd".to_string()]),
        other => panic!("expected hello_reply, got {other:?}"),
    }
    let Some(Body::Error(e)) = &replies[1].body else {
        panic!("expected an error, got {:?}", replies[1]);
    };
    assert_eq!(e.kind.as_str(), "protocol");
    assert!(
        e.message.contains("unknown stream compression \"lz4\\x1b[2J\""),
        "{}",
        e.message
    );
    assert_eq!(error_kind(&replies[2]), "invalid_name", "the session went on");
    assert_eq!(code, Some(0));
}

#[test]
fn agent_refuses_oversized_and_unknown_frames() {
    let mut input = hello();
    input.extend([1u8, 0xff, 0xff, 0xff, 0xff]);
    let (replies, code) = agent_session(&input);
    assert_eq!(error_kind(&replies[1]), "frame_too_large");
    assert_ne!(code, Some(0));
    let mut input = hello();
    input.extend([9u8, 0, 0, 0, 1, 0]);
    let (replies, _) = agent_session(&input);
    assert_eq!(error_kind(&replies[1]), "unknown_frame_type");
    let mut input = hello();
    input.extend([1u8, 0, 0, 0, 3, 0xff, 0xff, 0xff]);
    let (replies, _) = agent_session(&input);
    assert_eq!(error_kind(&replies[1]), "undecodable_message");
    // 16 MiB of empty snapshot names would decode to about 400 MB: refused before decoding.
    let mut input = hello();
    input.extend(msg(proto::DestroyRequest {
        fs: "a".into(),
        snapshots: vec![String::new(); 8_000_000],
    }
    .into()));
    let (replies, code) = agent_session(&input);
    assert_eq!(error_kind(&replies[1]), "too_many_elements");
    assert_ne!(code, Some(0));
}

/// A run that finds its job locked exits 4, touches nothing, and says so in a textfile of its own (the last
/// run's textfile stays as it was).
#[test]
fn a_locked_job_exits_4_and_writes_the_skipped_gauge() {
    let dir = tempfile::tempdir().unwrap();
    let p = write_config(&dir, GOOD);
    let locks = camino::Utf8PathBuf::from_path_buf(dir.path().join("locks")).unwrap();
    let prom = dir.path().join("prom");
    std::fs::create_dir(&prom).unwrap();
    std::fs::create_dir(&locks).unwrap();
    let held = zreplrs::lock::lock_job(&locks, &zreplrs::zfs::bookkeeping::JobId::new("j1").unwrap()).unwrap();
    let out = zreplrs()
        .arg("--config")
        .arg(&p)
        .args([
            "replicate",
            "--job",
            "j1",
            "--lock-dir",
            locks.as_str(),
            "--textfile-dir",
        ])
        .arg(&prom)
        .output()
        .unwrap();
    drop(held);
    assert_eq!(out.status.code(), Some(4), "{}", String::from_utf8_lossy(&out.stderr));
    let text = std::fs::read_to_string(prom.join("zreplrs_replicate_locked_j1.prom")).unwrap();
    assert!(
        text.contains("zreplrs_replication_skipped_locked_timestamp_seconds{job=\"j1\"} "),
        "{text}"
    );
    assert!(!prom.join("zreplrs_replicate_j1.prom").exists());
}

/// Without `--lock-dir` or `lock_dir`, a run locks in `$ZREPLRS_LOCK_DIR` (created private) when it is set.
#[test]
fn the_default_lock_directory_follows_zreplrs_lock_dir() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let p = write_config(&dir, GOOD);
    let locks = dir.path().join("mine");
    let held = locks.join("zreplrs-j1.lock");
    let out = zreplrs()
        .env("ZREPLRS_LOCK_DIR", &locks)
        .env("ZREPLRS_ZFS", "/bin/false")
        .arg("--config")
        .arg(&p)
        .args(["replicate", "--job", "j1", "--quiet"])
        .output()
        .unwrap();
    assert_ne!(out.status.code(), Some(4), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(held.exists(), "{}", String::from_utf8_lossy(&out.stderr));
    let mode = std::fs::metadata(&locks).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o700, "the lock directory is private");
}

/// The agent's command line is authoritative, its environment is not: `$ZREPLRS_ZFS` does not change which
/// program it runs as `zfs` (its hello runs `zfs version`); `--zfs-program` does.
#[test]
fn agent_ignores_zreplrs_zfs_in_its_environment() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let marker = dir.path().join("ran");
    let fake = dir.path().join("fake-zfs");
    std::fs::write(&fake, format!("#!/bin/sh\n: > {}\necho fake\n", marker.display())).unwrap();
    std::fs::set_permissions(&fake, std::fs::Permissions::from_mode(0o755)).unwrap();
    let run = |extra: &[&str], env: bool| {
        let mut c = zreplrs();
        c.args(["recv-agent", "--root-fs", "nopool_zreplrs_test/backup"])
            .args(extra)
            .env("PATH", "/nonexistent")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null());
        if env {
            c.env("ZREPLRS_ZFS", &fake);
        }
        let mut child = c.spawn().unwrap();
        child.stdin.take().unwrap().write_all(&hello()).unwrap();
        child.wait_with_output().unwrap()
    };
    run(&[], true);
    assert!(!marker.exists(), "the agent ran $ZREPLRS_ZFS");
    run(&["--zfs-program", fake.to_str().unwrap()], false);
    assert!(marker.exists(), "--zfs-program is honoured");
}

#[test]
fn an_agent_behind_a_forced_command_refuses_own_streams() {
    for (var, value) in [
        (
            "SSH_ORIGINAL_COMMAND",
            "zreplrs recv-agent --root-fs nopool_zreplrs_test/backup",
        ),
        ("SSH_CONNECTION", "10.0.0.2 50000 10.0.0.1 22"),
        ("SSH_CLIENT", "10.0.0.2 50000 22"),
    ] {
        let out = zreplrs()
            .args(["recv-agent", "--root-fs", "nopool_zreplrs_test/backup", "--own-streams"])
            .env_remove("SSH_ORIGINAL_COMMAND")
            .env_remove("SSH_CONNECTION")
            .env_remove("SSH_CLIENT")
            .env(var, value)
            .stdin(Stdio::null())
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(2), "{var}: {out:?}");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            stderr.contains("--own-streams") && stderr.contains("authorized_keys"),
            "{var}: {stderr}"
        );
    }
}

#[test]
fn a_configuration_others_can_write_is_warned_about() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let p = write_config(&dir, GOOD);
    for (mode, warned) in [(0o644, false), (0o666, true)] {
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(mode)).unwrap();
        let out = zreplrs()
            .arg("--config")
            .arg(&p)
            .args(["config", "check"])
            .output()
            .unwrap();
        assert!(out.status.success());
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(
            err.contains("warning: configuration file") && err.contains("others can write"),
            warned,
            "{mode:o}: {err}"
        );
    }
}

/// A listing larger than one frame (here about 20 MiB: 250,000 snapshots of one filesystem, printed by a
/// fake `zfs`) reaches the sender in pages that each fit a frame, and joins back to every snapshot.
#[test]
fn a_listing_larger_than_a_frame_arrives_in_pages() {
    use std::os::unix::fs::PermissionsExt;
    use zreplrs::agent::{client::LIST_PAGE_BYTES, wire::paging::Joiner};
    const SNAPSHOTS: usize = 250_000;
    let dir = tempfile::tempdir().unwrap();
    let fake = dir.path().join("fake-zfs");
    let root = "nopool_zreplrs_test/backup";
    let script = format!(
        "#!/bin/sh\n\
         [ \"$1\" = version ] && {{ echo zfs-2.2.0; exit 0; }}\n\
         exec /usr/bin/awk 'BEGIN {{\n\
           printf \"{root}\\tfilesystem\\t7\\t1\\t-\\t-\\toff\\t-\\t{root}\\n\";\n\
           for (i = 0; i < {SNAPSHOTS}; i++)\n\
             printf \"{root}@zreplrs_a_rather_long_snapshot_name_for_the_test_%09d\\tsnapshot\\t%d\\t%d\\t0\\t-\\toff\\t-\\t{root}@zreplrs_a_rather_long_snapshot_name_for_the_test_%09d\\n\", i, 1000 + i, 2 + i, i;\n\
         }}'\n"
    );
    std::fs::write(&fake, script).unwrap();
    std::fs::set_permissions(&fake, std::fs::Permissions::from_mode(0o755)).unwrap();
    let mut input = hello();
    input.extend(msg(proto::ListRequest {
        page_bytes: LIST_PAGE_BYTES,
        ..Default::default()
    }
    .into()));
    let mut child = zreplrs()
        .args(["recv-agent", "--root-fs", root, "--zfs-program", fake.to_str().unwrap()])
        .env("PATH", "/nonexistent")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(&input).unwrap();
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert!(
        out.stdout.len() > 17 << 20,
        "the listing exceeds one frame: {}",
        out.stdout.len()
    );
    let mut r = &out.stdout[..];
    let mut replies = Vec::new();
    while let Some(env) = frame::read_message(&mut r).expect("every frame within the limits") {
        replies.push(env);
    }
    assert!(matches!(replies[0].body, Some(Body::HelloReply(_))));
    let pages: Vec<proto::ListReply> = replies[1..]
        .iter()
        .filter_map(|e| match &e.body {
            Some(Body::ListReply(l)) => Some(l.clone()),
            Some(Body::Heartbeat(_)) => None,
            other => panic!("expected list pages, got {other:?}"),
        })
        .collect();
    assert!(pages.len() >= 5, "{} pages", pages.len());
    let mut joiner = Joiner::default();
    for (i, p) in pages.iter().enumerate() {
        assert_eq!(joiner.add(p.clone()), Ok(i + 1 < pages.len()));
    }
    let listing = joiner.finish();
    assert_eq!(listing.filesystems.len(), 1);
    let versions = &listing.filesystems[0].versions;
    assert_eq!(versions.len(), SNAPSHOTS);
    let mut guids: Vec<u64> = versions.iter().map(|v| v.guid).collect();
    guids.sort_unstable();
    guids.dedup();
    assert_eq!(guids.len(), SNAPSHOTS, "every snapshot once");
}

/// Every subcommand that prints a result takes `--format json|human` (the agents speak the protocol,
/// `version` prints one line and `check` one monitoring-plugin line).
#[test]
fn every_result_printing_subcommand_takes_format() {
    use clap::CommandFactory;
    fn leaves(cmd: &clap::Command, path: String, out: &mut Vec<(String, clap::Command)>) {
        if cmd.get_subcommands().next().is_none() {
            out.push((path.clone(), cmd.clone()));
        }
        for sub in cmd.get_subcommands() {
            leaves(sub, format!("{path} {}", sub.get_name()).trim().to_string(), out);
        }
    }
    let mut all = Vec::new();
    leaves(&zreplrs::cli::Cli::command(), String::new(), &mut all);
    let checked: Vec<&String> = all
        .iter()
        .filter(|(p, _)| {
            !["recv-agent", "send-agent", "version", "check", "help"].contains(&p.as_str()) && !p.ends_with(" help")
        })
        .map(|(p, c)| {
            let format = c
                .get_arguments()
                .find(|a| a.get_id() == "format")
                .unwrap_or_else(|| panic!("`zreplrs {p}` has no --format"));
            let values: Vec<String> = format
                .get_possible_values()
                .iter()
                .map(|v| v.get_name().to_string())
                .collect();
            assert_eq!(values, ["json", "human"], "zreplrs {p}");
            p
        })
        .collect();
    assert!(checked.len() >= 10, "{checked:?}");
    for p in [
        "status",
        "holds list",
        "holds release-stale",
        "config check",
        "test filesystems",
    ] {
        assert!(checked.iter().any(|c| c.as_str() == p), "{p} not found in {checked:?}");
    }
}

#[test]
fn status_needs_a_job_or_all() {
    let dir = tempfile::tempdir().unwrap();
    let p = write_config(&dir, GOOD);
    for args in [&["status"][..], &["status", "--job", "j1", "--all"]] {
        let out = zreplrs().arg("--config").arg(&p).args(args).output().unwrap();
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains("--job") && err.contains("--all"), "{err}");
    }
    // Without zfs, every job's state is unreadable: exit 3, one document listing each job's error.
    let out = zreplrs()
        .arg("--config")
        .arg(&p)
        .args(["status", "--all", "--json"])
        .env("PATH", "/nonexistent")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(3));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["jobs"][0]["job"], "j1");
    assert!(v["jobs"][0]["error"]["message"].is_string(), "{v:#}");
}

#[test]
fn config_check_and_decode_resume_token_print_either_format() {
    let dir = tempfile::tempdir().unwrap();
    let p = write_config(&dir, GOOD);
    let run = |args: &[&str]| {
        let out = zreplrs()
            .arg("--config")
            .arg(&p)
            .args(args)
            .env("PATH", "/nonexistent")
            .output()
            .unwrap();
        (out.status.code(), String::from_utf8_lossy(&out.stdout).into_owned())
    };
    let (code, json) = run(&["config", "check"]);
    assert_eq!(code, Some(0));
    let v: serde_json::Value = serde_json::from_str(&json).expect("json when stdout is not a terminal");
    assert_eq!(v["jobs"], serde_json::json!(["j1"]));
    assert_eq!(v["command"], "config check");
    let (_, human) = run(&["config", "check", "--format", "human"]);
    assert!(human.ends_with(": ok (1 job: j1)\n"), "{human}");
    let (_, alias) = run(&["config", "check", "--json"]);
    assert_eq!(alias, json, "--json is an alias of --format json");
    assert_eq!(run(&["config", "check", "--json", "--format", "human"]).0, Some(2));

    use zreplrs::zfs::nvlist::Value;
    let token = zreplrs::zfs::token::encode_for_tests(&[
        ("toguid", Value::Uint64(7)),
        ("toname", Value::String("p/fs@s".into())),
        ("bytes", Value::Uint64(4096)),
    ]);
    let (code, json) = run(&["test", "decode-resume-token", &token, "--format", "json"]);
    assert_eq!(code, Some(0), "decodes without zfs installed");
    let v: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(v["toname"], "p/fs@s");
    assert_eq!(v["zfs_agrees"], serde_json::Value::Null);
    let (_, human) = run(&["test", "decode-resume-token", &token, "--format", "human"]);
    assert!(human.contains("toname        p/fs@s"), "{human}");
    assert!(human.contains("not checked: zfs is not installed"), "{human}");
}

/// The prune unit's `--if-configured`: a job without keep rules is skipped cleanly instead of failing the
/// unit every hour; without the flag it stays a usage error.
#[test]
fn prune_without_keep_rules_is_a_usage_error_unless_if_configured() {
    let dir = tempfile::tempdir().unwrap();
    let p = write_config(&dir, GOOD);
    let run = |extra: &[&str]| {
        zreplrs()
            .arg("--config")
            .arg(&p)
            .args(["prune", "--job", "j1"])
            .args(extra)
            .env("PATH", "/nonexistent")
            .output()
            .unwrap()
    };
    let out = run(&[]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("no [jobs.prune] keep rules"));
    let out = run(&["--if-configured"]);
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(String::from_utf8_lossy(&out.stderr).contains("nothing to prune"));
}

/// A receiver that never answered is "cannot connect", not a lost connection; it is still retriable
/// (outcome `connectivity_error`, exit 3).
#[test]
fn a_receiver_that_cannot_be_reached_is_cannot_connect() {
    let dir = tempfile::tempdir().unwrap();
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    drop(listener); // nothing listens there now: the connection is refused
    let p = write_config(
        &dir,
        &format!(
            "[[jobs]]\nname = \"j\"\ntarget = \"ssh://u@127.0.0.1:{port}/backup/hosts\"\nretries = 0\n\
             [jobs.filesystems]\n\"tank<\" = true\n"
        ),
    );
    let out = zreplrs()
        .arg("--config")
        .arg(&p)
        .args(["replicate", "--job", "j", "--format", "json"])
        .env("PATH", "/nonexistent")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(3));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let msg = v["error"]["message"].as_str().unwrap_or_default();
    assert!(msg.starts_with("cannot connect to the receiver: 127.0.0.1:"), "{v}");
    assert!(!msg.contains("lost"), "{msg}");
    assert_eq!(v["error"]["kind"], "connection");
}

/// `--append-only` refuses destroys and hold releases before anything else happens, and says so in its hello.
#[test]
fn append_only_agent_refuses_destroy_and_release() {
    let mut input = hello();
    input.extend(msg(proto::DestroyRequest {
        fs: "a".into(),
        snapshots: vec!["s".into()],
    }
    .into()));
    input.extend(msg(proto::ReleaseLastReceivedRequest {
        fs: "a".into(),
        snapshots: vec!["s".into()],
        job_id: "j".into(),
    }
    .into()));
    let (replies, code) = agent_session_with(&["--append-only"], &input);
    match &replies[0].body {
        Some(Body::HelloReply(h)) => assert!(h.append_only),
        other => panic!("{other:?}"),
    }
    assert_eq!(error_kind(&replies[1]), "append_only");
    assert_eq!(error_kind(&replies[2]), "append_only");
    assert_eq!(code, Some(0));
    let (replies, _) = agent_session(&input);
    match &replies[0].body {
        Some(Body::HelloReply(h)) => assert!(!h.append_only),
        other => panic!("{other:?}"),
    }
    assert_ne!(
        error_kind(&replies[1]),
        "append_only",
        "without the flag the request reaches zfs"
    );
}

fn assert_matches_schema(v: &serde_json::Value) {
    let schema: serde_json::Value =
        serde_json::from_str(include_str!("../schema/replicate-result.schema.json")).unwrap();
    let validator = jsonschema::validator_for(&schema).unwrap();
    let errors: Vec<String> = validator
        .iter_errors(v)
        .map(|e| format!("{e} at {}", e.instance_path))
        .collect();
    assert!(errors.is_empty(), "{errors:?}\n{v:#}");
}

/// `[jobs.replicate]` hooks: a failing pre-hook skips the run (exit 5, result `skipped`, nothing touched);
/// the post-hook gets the result and the JSON result file.
#[test]
fn replicate_hooks_skip_on_a_failing_pre_hook_and_tell_the_post_hook_the_result() {
    let dir = tempfile::tempdir().unwrap();
    let out_dir = dir.path().join("seen");
    std::fs::create_dir(&out_dir).unwrap();
    let config = |pre: &str| {
        format!(
            "{GOOD}[jobs.replicate]\npre_hook = [\"/bin/sh\", \"-c\", \"{pre}\"]\n\
             post_hook = [\"/bin/sh\", \"-c\", \"env > {d}/env; cp \\\"$ZREPLRS_RESULT_FILE\\\" {d}/result.json\"]\n\
             hook_timeout = \"20s\"\n",
            d = out_dir.display()
        )
    };
    let run = |text: &str| {
        let p = write_config(&dir, text);
        let out = zreplrs()
            .arg("--config")
            .arg(&p)
            .args(["replicate", "--job", "j1", "--format", "json"])
            .env("PATH", "/usr/bin:/bin")
            .env("ZREPLRS_ZFS", "/nonexistent/zfs")
            .output()
            .unwrap();
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_matches_schema(&v);
        (out.status.code(), v)
    };
    let (code, v) = run(&config("echo not now; exit 7"));
    assert_eq!(code, Some(5), "{v:#}");
    assert_eq!(v["result"], "skipped");
    assert_eq!(v["error"]["kind"], "pre_hook_failed");
    assert!(
        v["error"]["message"].as_str().unwrap().contains("exited with 7"),
        "{v:#}"
    );
    assert_eq!(v["hooks"][0]["hook"], "pre");
    assert!(v["hooks"][0]["output"].as_str().unwrap().contains("not now"));
    assert_eq!(
        v["hooks"].as_array().unwrap().len(),
        1,
        "no post-hook for a skipped run"
    );
    assert!(v["attempts"].as_array().unwrap().is_empty(), "nothing was looked at");
    assert!(!out_dir.join("env").exists());
    // The pre-hook passes; the run then fails (no zfs here) and the post-hook is told so.
    let (code, v) = run(&config("exit 0"));
    assert_eq!(code, Some(3), "{v:#}");
    assert_eq!(v["hooks"][1]["hook"], "post");
    assert_eq!(v["hooks"][1]["success"], true, "{v:#}");
    let env = std::fs::read_to_string(out_dir.join("env")).unwrap();
    assert!(env.contains("ZREPLRS_RESULT=failed\n"), "{env}");
    assert!(env.contains("ZREPLRS_EXIT_CODE=3\n"), "{env}");
    assert!(env.contains("ZREPLRS_JOB=j1\n"), "{env}");
    let seen: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out_dir.join("result.json")).unwrap()).unwrap();
    assert_eq!(seen["result"], "failed");
    assert_eq!(seen["job"], "j1");
    let file = env
        .lines()
        .find_map(|l| l.strip_prefix("ZREPLRS_RESULT_FILE="))
        .unwrap();
    assert!(
        !std::path::Path::new(file).exists(),
        "the result file is removed after the hook"
    );
}

/// A backup host that stops reading a pulled stream (its link or its process hangs) does not keep the
/// source's `zfs send`, and the temporary hold ZFS keeps for it, forever: once the stream has made no
/// progress for the send-agent's stall limit, `zfs send` is killed and the agent ends.
#[test]
fn a_send_agent_whose_peer_stops_reading_stops_zfs_send() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let pidfile = dir.path().join("send.pid");
    let fake = dir.path().join("zfs");
    std::fs::write(
        &fake,
        format!(
            "#!/bin/sh\ncase \"$1\" in\n  send) echo $$ >'{}'; exec yes stream;;\n  version) echo zfs-2.3.2;;\nesac\n",
            pidfile.display()
        ),
    )
    .unwrap();
    std::fs::set_permissions(&fake, std::fs::Permissions::from_mode(0o755)).unwrap();
    let mut agent = zreplrs()
        .args(["send-agent", "--root-fs", "tank", "--job-id", "j", "--include", "tank<"])
        .args(["--stall-timeout-secs", "3", "--zfs-program", fake.to_str().unwrap()])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let call = msg(proto::ZfsCall {
        argv: vec!["send".into(), "tank/a@s1".into()],
        stream: true,
        ..Default::default()
    }
    .into());
    let mut stdin = agent.stdin.take().unwrap();
    stdin.write_all(&[hello(), call].concat()).unwrap();
    // Nothing reads the agent's stdout: its pipe fills and the agent's write blocks.
    let started = std::time::Instant::now();
    let status = loop {
        if let Some(s) = agent.try_wait().unwrap() {
            break s;
        }
        assert!(
            started.elapsed() < std::time::Duration::from_secs(120),
            "the agent still writes after 120 s"
        );
        std::thread::sleep(std::time::Duration::from_millis(100));
    };
    assert_eq!(status.code(), Some(3), "{status:?}");
    let mut err = String::new();
    std::io::Read::read_to_string(&mut agent.stderr.take().unwrap(), &mut err).unwrap();
    assert!(err.contains("read nothing of the stream"), "{err}");
    let pid: i32 = std::fs::read_to_string(&pidfile).unwrap().trim().parse().unwrap();
    let alive = std::path::Path::new(&format!("/proc/{pid}")).exists()
        && !std::fs::read_to_string(format!("/proc/{pid}/stat"))
            .unwrap_or_default()
            .contains(") Z ");
    assert!(!alive, "zfs send (pid {pid}) was stopped");
}

/// The BEGIN record of a plain full stream of a filesystem (magic, substream, objset type 2), to GUID 77.
fn plain_begin() -> Vec<u8> {
    let mut begin = vec![0u8; 312];
    begin[8..16].copy_from_slice(&0x2_F5BA_CBACu64.to_le_bytes());
    begin[16..24].copy_from_slice(&(1u64 | (4 << 2)).to_le_bytes());
    begin[32..36].copy_from_slice(&2u32.to_le_bytes());
    begin[40..48].copy_from_slice(&77u64.to_le_bytes());
    begin[56..64].copy_from_slice(b"p/fs@s1\0");
    begin
}

/// A receive of `frames` (then END) by an agent whose `zfs receive` runs `receive` and fails saying `says`,
/// followed by another request: the agent replies with the receive's error and serves that request, and
/// the session ends cleanly (the framing held).
fn a_failing_receive_keeps_the_session_framed(receive: &str, frames: &[Vec<u8>], says: &str) {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let fake = dir.path().join("zfs");
    let script = format!(
        "#!/bin/sh\ncase \"$1 $2\" in\n  'receive -A') exit 0;;\n  receive*) {receive} echo 'cannot receive: {says}' >&2; exit 1;;\nesac\nexit 0\n"
    );
    std::fs::write(&fake, script).unwrap();
    std::fs::set_permissions(&fake, std::fs::Permissions::from_mode(0o755)).unwrap();
    let mut input = hello();
    input.extend(msg(proto::ReceiveRequest {
        fs: "a".into(),
        to_short: "s1".into(),
        to_guid: 77,
        job_id: "j".into(),
        ..Default::default()
    }
    .into()));
    for f in frames {
        frame::write_data(&mut input, f).unwrap();
    }
    frame::write_end(&mut input, false).unwrap();
    input.extend(msg(proto::AbortResumeRequest { fs: "a".into() }.into()));
    let (replies, code) = agent_session_with(&["--zfs-program", fake.to_str().unwrap()], &input);
    let replies: Vec<&Envelope> = replies
        .iter()
        .filter(|e| !matches!(e.body, Some(Body::Heartbeat(_))))
        .collect();
    assert_eq!(code, Some(0), "the session ended cleanly: {replies:?}");
    assert_eq!(
        replies.len(),
        3,
        "hello, the receive's error, the next request's reply: {replies:?}"
    );
    match &replies[1].body {
        Some(Body::Error(e)) => assert!(e.message.contains(says), "{e:?}"),
        other => panic!("expected the receive's error, got {other:?}"),
    }
    assert!(
        matches!(replies[2].body, Some(Body::Ok(_))),
        "the next request is served: {:?}",
        replies[2]
    );
}

/// `zfs receive` that gives up part-way through a DATA frame: the agent skips exactly the rest of that frame
/// and the stream.
#[test]
fn a_receive_that_stops_mid_frame_keeps_the_session_framed() {
    // The BEGIN, then a WRITE of 4 MiB in one frame, then more.
    let mut write = vec![0u8; 312];
    write[..4].copy_from_slice(&3u32.to_le_bytes());
    let payload = (4u64 << 20) - 312;
    write[32..40].copy_from_slice(&payload.to_le_bytes());
    write.resize(4 << 20, 0x5a);
    let frames = [plain_begin(), write, vec![0x5a; 1 << 20]];
    a_failing_receive_keeps_the_session_framed("/usr/bin/head -c 100000 >/dev/null;", &frames, "out of space");
}

/// A stream of one frame whose `zfs receive` exits before reading it: the agent has already read the
/// stream's END and reads no further.
#[test]
fn a_receive_that_exits_before_a_one_frame_stream_keeps_the_session_framed() {
    let mut stream = plain_begin();
    let mut end = vec![0u8; 312];
    end[..4].copy_from_slice(&5u32.to_le_bytes());
    stream.extend(end);
    a_failing_receive_keeps_the_session_framed("", &[stream], "permission denied");
}

/// `zreplrs check` follows the monitoring-plugin conventions even when it cannot check: one line, exit 3
/// (UNKNOWN), never OK — a missing job, a bad name, thresholds the wrong way round, a `[jobs.check]` of them.
#[test]
fn check_that_cannot_decide_is_unknown_with_one_line() {
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(
        &dir,
        "[[jobs]]\nname = \"j\"\ntarget = \"local:backup/hosts\"\n[jobs.filesystems]\n\"tank<\" = true\n",
    );
    let cases: [&[&str]; 4] = [
        &["check", "--job", "nope"],
        &["check", "--receiver", "--root-fs", "not a dataset!"],
        &[
            "check",
            "--receiver",
            "--job",
            "j",
            "--warning",
            "6h",
            "--critical",
            "1h",
        ],
        &["check", "--receiver", "--root-fs", "backup", "--job-id", "bad/id"],
    ];
    for args in cases {
        let out = zreplrs().arg("--config").arg(&config).args(args).output().unwrap();
        let line = String::from_utf8_lossy(&out.stdout);
        assert_eq!(out.status.code(), Some(3), "{args:?}: {line}");
        assert!(
            line.starts_with("ZREPLRS UNKNOWN - ") && line.lines().count() == 1,
            "{args:?}: {line}"
        );
    }
    let bad = write_config(
        &dir,
        "[[jobs]]\nname = \"j\"\ntarget = \"local:backup/hosts\"\n[jobs.check]\nwarning = \"6h\"\ncritical = \"1h\"\n\
         [jobs.filesystems]\n\"tank<\" = true\n",
    );
    let out = zreplrs()
        .arg("--config")
        .arg(&bad)
        .args(["config", "check"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(String::from_utf8_lossy(&out.stderr).contains("warning <= critical"));
}

/// A pull job's errors speak of its source, and `holds list` and `migrate` exit as the README's table says:
/// 3 when the sender side cannot be listed (for push and pull jobs alike), 2 when a pull job's migration is
/// asked of the backup host (it runs on the source).
#[test]
fn pull_jobs_speak_of_the_source_and_listing_failures_are_exit_3() {
    let dir = tempfile::tempdir().unwrap();
    let p = write_config(
        &dir,
        "[[jobs]]\nname = \"p\"\nsource = \"ssh://u@127.0.0.1:1/tank/src\"\ntarget = \"local:backup/hosts\"\n\
         [jobs.filesystems]\n\"tank/src<\" = true\n\
         [[jobs]]\nname = \"q\"\ntarget = \"ssh://u@127.0.0.1:1/backup/hosts\"\n[jobs.filesystems]\n\"tank/src<\" = true\n",
    );
    let run = |args: &[&str]| {
        let out = zreplrs()
            .env("ZREPLRS_ZFS", "/nonexistent/zfs")
            .arg("--config")
            .arg(&p)
            .args(args)
            .args(["--format", "json"])
            .output()
            .unwrap();
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        (out.status.code(), text)
    };
    for args in [
        &["replicate", "--job", "p", "--quiet"][..],
        &["holds", "list", "--job", "p"],
    ] {
        let (code, text) = run(args);
        assert_eq!(code, Some(3), "{args:?}: {text}");
        assert!(
            text.contains("cannot connect to the source: 127.0.0.1:1"),
            "{args:?}: {text}"
        );
        assert!(!text.contains("receiver"), "{args:?}: {text}");
    }
    let (code, text) = run(&["migrate", "replication-cursor:v1-v2", "--job", "p", "--dry-run"]);
    assert_eq!(code, Some(2), "{text}");
    assert!(text.contains("runs on the source"), "{text}");
    for args in [
        &["holds", "list", "--job", "q"][..],
        &["migrate", "replication-cursor:v1-v2", "--job", "q", "--dry-run"],
    ] {
        let (code, text) = run(args);
        assert_eq!(code, Some(3), "{args:?}: {text}");
        assert!(text.contains("could not run zfs"), "{args:?}: {text}");
    }
}

/// A textfile directory that does not exist gets no file and one warning that says what to do, for a run's
/// textfile and for the backup host's view alike.
#[test]
fn a_missing_textfile_directory_is_a_warning_that_says_what_to_do() {
    let dir = tempfile::tempdir().unwrap();
    let p = write_config(&dir, GOOD);
    let missing = dir.path().join("no-such-dir");
    let missing = missing.to_str().unwrap();
    for args in [
        &["replicate", "--job", "j1", "--quiet", "--textfile-dir", missing][..],
        &[
            "status",
            "--receiver",
            "--root-fs",
            "backup/hosts",
            "--textfile-dir",
            missing,
        ],
    ] {
        let out = zreplrs()
            .env("ZREPLRS_ZFS", "/bin/false")
            .arg("--config")
            .arg(&p)
            .args(args)
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            err.contains(&format!(
                "no metrics textfile written: {missing} does not exist; point textfile_dir"
            )),
            "{args:?}: {err}"
        );
        assert!(!std::path::Path::new(missing).exists());
    }
}
