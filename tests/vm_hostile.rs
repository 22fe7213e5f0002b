//! A hostile-peer battery against `zreplrs recv-agent` over its real protocol, on real OpenZFS: wrong
//! protocol versions, truncated, oversized and unknown frames, messages that would decode to too much
//! memory, unknown message types, names with `..`, `@`, `#`, `%`, control characters and NUL, paths outside
//! the root, and a sender that disconnects at every message boundary. Every case gets a clear error, the
//! agent never hangs, and the receiver pool is unchanged (`zfs list -t all` and `zfs holds` compared before
//! and after).

mod vmlib;

use std::io::Write;
use std::process::Stdio;
use std::time::{Duration, Instant};

use vmlib::*;
use zreplrs::agent::wire::frame;
use zreplrs::agent::wire::proto::{self, envelope::Body, Envelope};

struct Session {
    replies: Vec<Envelope>,
    code: Option<i32>,
    stderr: String,
}

/// Feeds `input` to a fresh agent rooted at `root` and closes its stdin; the agent must exit within 120 s.
fn session(root: &str, input: &[u8]) -> Session {
    session_with(root, &[], input)
}

/// Runs `zreplrs ARGS…` with `input` on stdin, then closed; the agent must exit within 120 s.
fn feed(args: &[&str], input: &[u8]) -> std::process::Output {
    let mut agent = std::process::Command::new(zreplrs_bin())
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = agent.stdin.take().unwrap();
    // The agent may stop reading (and exit) early on a protocol error: a broken pipe is fine here.
    let _ = stdin.write_all(input);
    drop(stdin);
    let deadline = Instant::now() + Duration::from_secs(120);
    while agent.try_wait().unwrap().is_none() {
        if Instant::now() > deadline {
            let _ = agent.kill();
            panic!("zreplrs {} hung on input of {} bytes", args[0], input.len());
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    agent.wait_with_output().unwrap()
}

/// [`session`] with more agent arguments.
fn session_with(root: &str, args: &[&str], input: &[u8]) -> Session {
    let out = feed(&[&["recv-agent", "--root-fs", root], args].concat(), input);
    let mut r = &out.stdout[..];
    let mut replies = Vec::new();
    while let Ok(Some(env)) = frame::read_message(&mut r) {
        // Keepalives a slow receive makes the agent send are not replies.
        if !matches!(env.body, Some(Body::Heartbeat(_))) {
            replies.push(env);
        }
    }
    Session {
        replies,
        code: out.status.code(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

fn msg(body: Body) -> Vec<u8> {
    let mut v = Vec::new();
    frame::write_message(&mut v, &Envelope::new(body)).unwrap();
    v
}

fn hello() -> Vec<u8> {
    msg(proto::Hello {
        protocol_version: proto::PROTOCOL_VERSION,
        software_version: "hostile".into(),
        compression: Vec::new(),
        ..Default::default()
    }
    .into())
}

fn error_of(e: &Envelope) -> (String, String) {
    match &e.body {
        Some(Body::Error(e)) => (e.kind.clone(), e.message.clone()),
        other => panic!("expected an error reply, got {other:?}"),
    }
}

/// A receiver pool with a populated root, and its state.
fn receiver(tag: &str) -> (Pool, String) {
    let p = Pool::new(tag);
    zfs(&["create", "-p", &p.ds("backup/client/src/a")]);
    zfs(&["snapshot", &format!("{}@s1", p.ds("backup/client/src/a"))]);
    zfs(&[
        "hold",
        "zrepl_last_received_J_j",
        &format!("{}@s1", p.ds("backup/client/src/a")),
    ]);
    zfs(&["create", &p.ds("outside")]);
    zfs(&["snapshot", &format!("{}@keep", p.ds("outside"))]);
    let root = p.ds("backup/client");
    (p, root)
}

#[test]
#[ignore = "needs real ZFS: run by vm/test"]
fn wrong_versions_and_malformed_frames_get_clear_errors() {
    let (pool, root) = receiver("hv");
    let before = pool.state();
    let cases: Vec<(&str, Vec<u8>, &str)> = vec![
        (
            "version 0",
            msg(proto::Hello {
                protocol_version: 0,
                software_version: "x".into(),
                compression: Vec::new(),
                ..Default::default()
            }
            .into()),
            "protocol_version",
        ),
        (
            "a newer version",
            msg(proto::Hello {
                protocol_version: proto::PROTOCOL_VERSION + 1,
                software_version: "x".into(),
                compression: Vec::new(),
                ..Default::default()
            }
            .into()),
            "protocol_version",
        ),
        ("no hello", msg(proto::ListRequest::default().into()), "protocol"),
        (
            "oversized message",
            [hello(), vec![1, 0x01, 0x00, 0x00, 0x01]].concat(),
            "frame_too_large",
        ),
        (
            "oversized data",
            [hello(), vec![2, 0x00, 0x40, 0x00, 0x01]].concat(),
            "frame_too_large",
        ),
        (
            "data where a request is expected",
            [hello(), vec![2, 0, 0, 0, 1, 0]].concat(),
            "unexpected_frame",
        ),
        (
            "unknown frame type",
            [hello(), vec![7, 0, 0, 0, 1, 0]].concat(),
            "unknown_frame_type",
        ),
        ("truncated header", [hello(), vec![1, 0, 0]].concat(), "truncated_frame"),
        (
            "truncated payload",
            [hello(), vec![1, 0, 0, 0, 50, 8, 1]].concat(),
            "truncated_frame",
        ),
        (
            "garbage protobuf",
            [hello(), vec![1, 0, 0, 0, 4, 0xff, 0xff, 0xff, 0xff]].concat(),
            "undecodable_message",
        ),
        (
            "16 MiB of empty snapshot names (a destroy that would decode to 400 MB)",
            [
                hello(),
                msg(proto::DestroyRequest {
                    fs: "a".into(),
                    snapshots: vec![String::new(); 8_000_000],
                }
                .into()),
            ]
            .concat(),
            "too_many_elements",
        ),
        (
            "a list request of 16 MiB of empty filesystem names",
            [
                hello(),
                msg(proto::ListRequest {
                    versions_of: vec![String::new(); 8_000_000],
                    ..Default::default()
                }
                .into()),
            ]
            .concat(),
            "too_many_elements",
        ),
        // An envelope with an unknown field number only: decodes to no body.
        (
            "unknown message type",
            [hello(), vec![1, 0, 0, 0, 3, 0xfa, 0x06, 0x00]].concat(),
            "protocol",
        ),
    ];
    for (what, input, kind) in cases {
        let s = session(&root, &input);
        let last = s
            .replies
            .last()
            .unwrap_or_else(|| panic!("{what}: no reply; stderr {}", s.stderr));
        let (k, m) = error_of(last);
        assert_eq!(k, kind, "{what}: {m}");
        assert!(!m.is_empty(), "{what}: the error says what is wrong");
        assert_ne!(s.code, Some(0), "{what}: the session ends as failed");
    }
    assert_eq!(pool.state(), before, "nothing changed on the receiver");
}

#[test]
#[ignore = "needs real ZFS: run by vm/test"]
fn hostile_names_and_paths_outside_the_root_change_nothing() {
    let (pool, root) = receiver("hn");
    let before = pool.state();
    let bad = [
        "..",
        "../..",
        "../outside",
        "src/../../outside",
        "src/a/..",
        ".",
        "./src",
        "src/a@s1",
        "src/a#b",
        "src/a%recv",
        "src\u{1}a",
        "src\na",
        "src\0a",
        "src\u{7f}",
        "/src/a",
        "src//a",
        "src/a/",
        "",
        "ä",
        &"x".repeat(300),
    ];
    let mut input = hello();
    for fs in bad {
        input.extend(msg(proto::AbortResumeRequest { fs: fs.into() }.into()));
        input.extend(msg(proto::DestroyRequest {
            fs: fs.into(),
            snapshots: vec!["s1".into()],
        }
        .into()));
        input.extend(msg(proto::ReleaseLastReceivedRequest {
            fs: fs.into(),
            snapshots: vec!["s1".into()],
            job_id: "j".into(),
        }
        .into()));
        input.extend(msg(proto::ReceiveRequest {
            fs: fs.into(),
            to_short: "s2".into(),
            to_guid: 1,
            job_id: "j".into(),
            ..Default::default()
        }
        .into()));
        frame::write_data(&mut input, b"definitely not a send stream").unwrap();
        frame::write_end(&mut input, false).unwrap();
    }
    // Valid dataset, hostile snapshot names and job ids.
    for snap in ["../s1", "s1@x", "s1#x", "s1%x", "", "s\0", "s1/x"] {
        input.extend(msg(proto::DestroyRequest {
            fs: "src/a".into(),
            snapshots: vec![snap.into()],
        }
        .into()));
    }
    for job in ["", "a@b", "a/b", "x\n"] {
        input.extend(msg(proto::ReleaseLastReceivedRequest {
            fs: "src/a".into(),
            snapshots: vec!["s1".into()],
            job_id: job.into(),
        }
        .into()));
    }
    input.extend(msg(proto::ListRequest::default().into()));
    let s = session(&root, &input);
    let expected = 1 + bad.len() * 4 + 7 + 4 + 1;
    assert_eq!(s.replies.len(), expected, "one reply per request; stderr {}", s.stderr);
    for r in &s.replies[1..expected - 1] {
        let (k, m) = error_of(r);
        assert!(k == "invalid_name" || k == "outside_root", "{k}: {m}");
    }
    assert!(
        matches!(s.replies.last().unwrap().body, Some(Body::ListReply(_))),
        "the agent kept serving"
    );
    assert_eq!(s.code, Some(0));
    assert_eq!(pool.state(), before, "nothing changed on the receiver");
}

#[test]
#[ignore = "needs real ZFS: run by vm/test"]
fn a_sender_that_disconnects_at_every_message_boundary_changes_nothing() {
    let (pool, root) = receiver("hd");
    let before = pool.state();
    // A plausible session of read-only and no-op requests, cut after each message.
    let messages: Vec<Vec<u8>> = vec![
        hello(),
        msg(proto::ListRequest {
            with_creation: true,
            ..Default::default()
        }
        .into()),
        msg(proto::HoldsRequest { job_id: "j".into() }.into()),
        msg(proto::AbortResumeRequest { fs: "src/a".into() }.into()),
        msg(proto::DestroyRequest {
            fs: "src/a".into(),
            snapshots: vec!["missing".into()],
        }
        .into()),
        msg(proto::ListRequest::default().into()),
    ];
    for cut in 0..=messages.len() {
        let input: Vec<u8> = messages[..cut].concat();
        let s = session(&root, &input);
        assert_eq!(
            s.replies.len(),
            cut,
            "cut after {cut} messages: one reply each; stderr {}",
            s.stderr
        );
        assert_eq!(
            s.code,
            Some(0),
            "a clean disconnect at a boundary ends the session normally"
        );
        // Cut inside the next message too: a truncated frame is an error, never a hang.
        if cut < messages.len() {
            let mut partial = input.clone();
            partial.extend_from_slice(&messages[cut][..messages[cut].len() / 2]);
            let s = session(&root, &partial);
            if cut > 0 {
                assert_eq!(error_of(s.replies.last().unwrap()).0, "truncated_frame");
            }
            assert_ne!(s.code, Some(0));
        }
    }
    assert_eq!(pool.state(), before, "nothing changed on the receiver");
}

/// `zfs send ARGS` as bytes.
fn send_stream(args: &[&str]) -> Vec<u8> {
    let out = std::process::Command::new("zfs")
        .arg("send")
        .args(args)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "zfs send {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

/// A receive request followed by `stream` as data frames and END.
fn receive_msg(req: proto::ReceiveRequest, stream: &[u8]) -> Vec<u8> {
    let mut v = msg(req.into());
    frame::write_data(&mut v, stream).unwrap();
    frame::write_end(&mut v, false).unwrap();
    v
}

fn guid(snap: &str) -> u64 {
    prop(snap, "guid").parse().unwrap()
}

/// A compressed receive whose DATA frames lie: a zstd bomb (a few hundred bytes that expand past the 4 MiB
/// bound of a chunk), bytes that are not zstd at all, a frame cut short. Each ends the session with a clear
/// error and nothing is received; the same stream compressed honestly is received, byte for byte.
#[test]
#[ignore = "needs real ZFS: run by vm/test"]
fn compressed_streams_that_bomb_or_lie_receive_nothing() {
    let (pool, root) = receiver("hz");
    let origin = pool.ds("origin");
    create_fs(&origin);
    write_text(&origin, "log", 5, 3_000_000);
    let to_guid = snap(&origin, "s1");
    let stream = send_stream(&[&format!("{origin}@s1")]);
    let before = pool.state();
    let req = || proto::ReceiveRequest {
        fs: "src/new".into(),
        to_short: "s1".into(),
        to_guid,
        job_id: "j".into(),
        last_received_hold: true,
        compression: "zstd".into(),
        ..Default::default()
    };
    let bomb = zstd::bulk::compress(&vec![0u8; 64 << 20], 19).unwrap();
    assert!(bomb.len() < 64 << 10, "{} bytes", bomb.len());
    let honest = zstd::bulk::compress(&stream[..1 << 20], 3).unwrap();
    let cases: Vec<(&str, Vec<Vec<u8>>)> = vec![
        ("a bomb", vec![bomb]),
        ("not zstd", vec![b"plain bytes, no zstd frame".to_vec()]),
        (
            "a real first chunk, then a bomb",
            vec![honest.clone(), zstd::bulk::compress(&vec![7u8; 5 << 20], 1).unwrap()],
        ),
        ("a frame cut short", vec![honest[..honest.len() / 2].to_vec()]),
    ];
    for (what, frames) in cases {
        let mut input = hello();
        input.extend(msg(req().into()));
        for f in &frames {
            frame::write_data(&mut input, f).unwrap();
        }
        frame::write_end(&mut input, false).unwrap();
        let s = session(&root, &input);
        assert_ne!(s.code, Some(0), "{what}: the session ends with an error");
        assert!(
            s.stderr.contains("not valid zstd data or holds more than"),
            "{what}: {}",
            s.stderr
        );
        // A partial receive may leave resumable state; abort it, as the next run's plan would.
        let _ = zfs_try(&["receive", "-A", &format!("{root}/src/new")]);
        assert_eq!(pool.state(), before, "{what}: nothing was received");
    }
    // The honest stream, compressed chunk by chunk, is received whole.
    let mut input = hello();
    input.extend(msg(req().into()));
    for chunk in stream.chunks(1 << 20) {
        frame::write_data(&mut input, &zstd::bulk::compress(chunk, 3).unwrap()).unwrap();
    }
    frame::write_end(&mut input, false).unwrap();
    let s = session(&root, &input);
    match &s.replies[1].body {
        Some(Body::ReceiveReply(r)) => {
            assert_eq!(r.received_guid, to_guid);
            assert_eq!(r.bytes, stream.len() as u64, "bytes counted after decompression");
        }
        other => panic!("expected receive_reply, got {other:?}; stderr {}", s.stderr),
    }
    assert_eq!(
        checksum_snapshot(&format!("{root}/src/new@s1")),
        checksum_snapshot(&format!("{origin}@s1"))
    );
}

/// A compromised sender against `recv-agent --append-only`, speaking the protocol directly: every request
/// that could lose received data is refused with the policy's own error, and the receiver's datasets,
/// snapshots, GUIDs and holds are exactly what they were. Receiving new data still works.
#[test]
#[ignore = "needs real ZFS: run by vm/test"]
fn append_only_agent_refuses_everything_that_could_lose_received_data() {
    let (pool, root) = receiver("ao");
    // A source, and a real copy of it below the root whose receiver side then got a snapshot of its own.
    let origin = pool.ds("origin");
    zfs(&["create", &origin]);
    zfs(&["snapshot", &format!("{origin}@s1")]);
    zfs(&["snapshot", &format!("{origin}@s2")]);
    let copy = format!("{root}/src/b");
    let full = send_stream(&[&format!("{origin}@s1")]);
    let mut recv = std::process::Command::new("zfs")
        .args(["receive", "-u", &copy])
        .stdin(Stdio::piped())
        .spawn()
        .unwrap();
    recv.stdin.take().unwrap().write_all(&full).unwrap();
    assert!(recv.wait().unwrap().success());
    zfs(&["snapshot", &format!("{copy}@later")]);
    let incremental = send_stream(&["-i", &format!("{origin}@s1"), &format!("{origin}@s2")]);
    let before = pool.state();
    let s2 = guid(&format!("{origin}@s2"));
    let s1 = guid(&format!("{origin}@s1"));
    let req = |fs: &str, to: &str, to_guid: u64, from: Option<u64>, force: bool| proto::ReceiveRequest {
        fs: fs.into(),
        to_short: to.into(),
        to_guid,
        from_guid: from,
        job_id: "j".into(),
        force,
        last_received_hold: true,
        compression: String::new(),
        raw: false,
        resuming: false,
    };
    let cases: Vec<(&str, Vec<u8>, &str)> = vec![
        (
            "destroy a received snapshot",
            msg(proto::DestroyRequest {
                fs: "src/a".into(),
                snapshots: vec!["s1".into()],
            }
            .into()),
            "append_only",
        ),
        (
            "release the last-received hold",
            msg(proto::ReleaseLastReceivedRequest {
                fs: "src/a".into(),
                snapshots: vec!["s1".into()],
                job_id: "j".into(),
            }
            .into()),
            "append_only",
        ),
        (
            "a forced full receive over an existing copy",
            receive_msg(req("src/a", "s1", s1, None, true), &full),
            "append_only",
        ),
        (
            "a forced incremental that would roll back the receiver's own snapshot",
            receive_msg(req("src/b", "s2", s2, Some(s1), true), &incremental),
            "append_only",
        ),
    ];
    for (what, input, kind) in cases {
        let s = session_with(&root, &["--append-only"], &[hello(), input].concat());
        match &s.replies[0].body {
            Some(Body::HelloReply(h)) => assert!(h.append_only, "{what}: the hello says append-only"),
            other => panic!("{what}: {other:?}"),
        }
        let last = s
            .replies
            .last()
            .unwrap_or_else(|| panic!("{what}: no reply; {}", s.stderr));
        let (k, m) = error_of(last);
        assert_eq!(k, kind, "{what}: {m}");
        assert!(m.contains("--append-only"), "{what}: the error names the policy: {m}");
        assert_eq!(s.code, Some(0), "{what}: a refusal, not a broken session: {}", s.stderr);
        assert_eq!(pool.state(), before, "{what}: nothing changed on the receiver");
    }
    // Without force the agent never adds -F, so an incremental cannot roll anything back: ZFS either refuses
    // it or (OpenZFS 2.3 does, here) adds the new snapshot after the receiver's own. Every snapshot that was
    // there stays, with its GUID.
    let snapshots_of = || zfs(&["list", "-H", "-p", "-r", "-t", "snapshot", "-o", "name,guid", &root]);
    let snaps_before = snapshots_of();
    let s = session_with(
        &root,
        &["--append-only"],
        &[
            hello(),
            receive_msg(req("src/b", "s2", s2, Some(s1), false), &incremental),
        ]
        .concat(),
    );
    assert!(!s.replies.is_empty(), "{}", s.stderr);
    let after = snapshots_of();
    for line in snaps_before.lines() {
        assert!(after.lines().any(|l| l == line), "{line} was lost:\n{after}");
    }
    // New data is still received, and protected.
    let s = session_with(
        &root,
        &["--append-only"],
        &[hello(), receive_msg(req("src/new", "s1", s1, None, false), &full)].concat(),
    );
    assert!(
        matches!(s.replies.last().and_then(|e| e.body.as_ref()), Some(Body::ReceiveReply(r)) if r.received_guid == s1),
        "{:?} {}",
        s.replies.last(),
        s.stderr
    );
    assert_eq!(guid(&format!("{root}/src/new@s1")), s1);
    assert_eq!(prop(&format!("{root}/src/new"), "zrepl:placeholder"), "off");
}

/// A compromised sender against `recv-agent --append-only` sends real `zfs send -R` packages instead of the
/// plain streams its requests announce: forced into a placeholder parent (ZFS would rename the copies below
/// it by GUID), as an incremental into a real copy (ZFS would rename its snapshots), a package of another
/// client's filesystem, and plain streams that carry another GUID, base, raw or resume flag than the request
/// says. Each is refused with `bad_stream` before `zfs receive` starts, and the pool (names, GUIDs, holds)
/// is exactly what it was. The accepted shapes still receive: an `-I` package, and a `-p` package.
#[test]
#[ignore = "needs real ZFS: run by vm/test"]
fn send_r_packages_and_lying_stream_headers_change_nothing() {
    let (pool, root) = receiver("pkg");
    let origin = pool.ds("origin");
    zfs(&["create", &origin]);
    zfs(&["create", &format!("{origin}/kid")]);
    for s in ["1", "2", "3"] {
        zfs(&["snapshot", "-r", &format!("{origin}@{s}")]);
    }
    let other = pool.ds("backup/other/web");
    zfs(&["create", "-p", &other]);
    zfs(&["snapshot", &format!("{other}@o1")]);
    let (g1, g2, g3) = (
        guid(&format!("{origin}@1")),
        guid(&format!("{origin}@2")),
        guid(&format!("{origin}@3")),
    );
    let req = |fs: &str, to: &str, to_guid: u64, from: Option<u64>, force: bool| proto::ReceiveRequest {
        fs: fs.into(),
        to_short: to.into(),
        to_guid,
        from_guid: from,
        job_id: "j".into(),
        force,
        last_received_hold: true,
        ..Default::default()
    };
    // A real copy below a placeholder parent, as a first run through the agent makes it.
    let first = session_with(
        &root,
        &["--append-only"],
        &[
            hello(),
            receive_msg(
                req("pl/vb", "1", g1, None, false),
                &send_stream(&[&format!("{origin}@1")]),
            ),
        ]
        .concat(),
    );
    assert!(
        matches!(
            first.replies.last().and_then(|e| e.body.as_ref()),
            Some(Body::ReceiveReply(_))
        ),
        "{:?} {}",
        first.replies.last(),
        first.stderr
    );
    assert_eq!(prop(&format!("{root}/pl"), "zrepl:placeholder"), "on");
    let o1 = guid(&format!("{other}@o1"));
    // A clone of origin@1 (its stream names origin@1 as its origin), and an encrypted dataset.
    let clone = pool.ds("origin/cl");
    zfs(&["clone", &format!("{origin}@1"), &clone]);
    let c1 = snap(&clone, "c1");
    let key = format!("/tmp/{}.key", pool.name);
    std::fs::write(&key, "hostile-test-passphrase").unwrap();
    let enc = pool.ds("enc");
    zfs(&[
        "create",
        "-o",
        "encryption=on",
        "-o",
        "keyformat=passphrase",
        "-o",
        &format!("keylocation=file://{key}"),
        &enc,
    ]);
    let e1 = snap(&enc, "e1");
    let raw_full = send_stream(&["-w", &format!("{enc}@e1")]);
    let before = pool.state();
    let cases: Vec<(&str, Vec<u8>, &str)> = vec![
        (
            "a zfs send -R package forced into the placeholder parent",
            receive_msg(
                req("pl", "3", g3, None, true),
                &send_stream(&["-R", &format!("{origin}@3")]),
            ),
            "recursive package",
        ),
        (
            "a zfs send -R -i package as an incremental into the real copy",
            receive_msg(
                req("pl/vb", "2", g2, Some(g1), false),
                &send_stream(&["-R", "-i", &format!("{origin}@1"), &format!("{origin}@2")]),
            ),
            "recursive package",
        ),
        (
            "a zfs send -R package of another client's filesystem",
            receive_msg(
                req("src/web", "o1", o1, None, false),
                &send_stream(&["-R", &format!("{other}@o1")]),
            ),
            "recursive package",
        ),
        (
            "a plain stream of another snapshot than the request names",
            receive_msg(
                req("pl/vb", "2", g2, Some(g1), false),
                &send_stream(&["-i", "@1", &format!("{origin}@3")]),
            ),
            "GUID",
        ),
        (
            "a full stream announced as an incremental",
            receive_msg(
                req("pl/vb", "2", g2, Some(g1), false),
                &send_stream(&[&format!("{origin}@2")]),
            ),
            "base GUID",
        ),
        (
            "bytes that are not a stream",
            receive_msg(
                req("pl/vb", "2", g2, Some(g1), false),
                &b"not a stream at all, just bytes".repeat(20),
            ),
            "not a ZFS send stream",
        ),
        (
            "a clone stream, whose origin ZFS looks up by GUID anywhere in the pool",
            receive_msg(
                req("src/clone", "c1", c1, Some(g1), false),
                &send_stream(&["-i", &format!("{origin}@1"), &format!("{clone}@c1")]),
            ),
            "clone stream",
        ),
        (
            "a raw stream the request calls plain",
            receive_msg(req("src/raw", "e1", e1, None, false), &raw_full),
            "raw flag",
        ),
    ];
    for (what, input, says) in cases {
        let s = session_with(&root, &["--append-only"], &[hello(), input].concat());
        let last = s
            .replies
            .last()
            .unwrap_or_else(|| panic!("{what}: no reply; {}", s.stderr));
        let (k, m) = error_of(last);
        assert_eq!(k, "bad_stream", "{what}: {m}");
        assert!(m.contains(says), "{what}: the error says why ({says}): {m}");
        assert_eq!(s.code, Some(0), "{what}: a refusal, not a broken session: {}", s.stderr);
        assert_eq!(pool.state(), before, "{what}: nothing changed on the receiver");
    }
    // The shapes zreplrs's own sender writes are received: an -I package, then a -p package.
    let s = session_with(
        &root,
        &["--append-only"],
        &[
            hello(),
            receive_msg(
                req("pl/vb", "2", g2, Some(g1), false),
                &send_stream(&["-I", &format!("{origin}@1"), &format!("{origin}@2")]),
            ),
            receive_msg(
                req("pl/vb", "3", g3, Some(g2), false),
                &send_stream(&["-p", "-i", &format!("{origin}@2"), &format!("{origin}@3")]),
            ),
        ]
        .concat(),
    );
    let received: Vec<u64> = s
        .replies
        .iter()
        .filter_map(|e| match &e.body {
            Some(Body::ReceiveReply(r)) => Some(r.received_guid),
            _ => None,
        })
        .collect();
    assert_eq!(received, [g2, g3], "{:?} {}", s.replies, s.stderr);
    assert_eq!(guid(&format!("{root}/pl/vb@3")), g3);
    assert_eq!(
        prop(&format!("{root}/pl/vb"), "setuid"),
        "off",
        "the hardening still applies"
    );
    // The last-received hold only moves forward under --append-only: not back to @1, leaving @3 unprotected.
    let tag = ["zrepl_last_received_J_j".to_string()];
    assert_eq!(holds(&format!("{root}/pl/vb@3")), tag);
    let back = msg(proto::HoldLastReceivedRequest {
        fs: "pl/vb".into(),
        snapshot: "1".into(),
        guid: g1,
        job_id: "j".into(),
    }
    .into());
    let s = session_with(&root, &["--append-only"], &[hello(), back].concat());
    let (k, m) = error_of(s.replies.last().unwrap());
    assert_eq!(k, "append_only", "{m}");
    assert!(m.contains("only moves forward"), "{m}");
    assert_eq!(holds(&format!("{root}/pl/vb@3")), tag);
    assert!(holds(&format!("{root}/pl/vb@1")).is_empty());
}

/// What a send-agent session returned: every frame it wrote, its exit code and stderr.
struct SendSession {
    frames: Vec<frame::Frame>,
    code: Option<i32>,
    stderr: String,
}

impl SendSession {
    fn messages(&self) -> Vec<&Envelope> {
        self.frames
            .iter()
            .filter_map(|f| match f {
                frame::Frame::Message(m) => Some(m),
                _ => None,
            })
            .filter(|m| !matches!(m.body, Some(Body::Heartbeat(_))))
            .collect()
    }
}

/// Feeds `input` to `zreplrs send-agent ARGS…` and closes its stdin; the agent must exit within 120 s.
fn send_session(args: &[&str], input: &[u8]) -> SendSession {
    frames_of(&[&["send-agent"], args].concat(), input)
}

/// Feeds `input` to `zreplrs ARGS…` (an agent) and returns every frame it wrote.
fn frames_of(args: &[&str], input: &[u8]) -> SendSession {
    let out = feed(args, input);
    let mut r = &out.stdout[..];
    let mut frames = Vec::new();
    while let Ok(Some(f)) = frame::read_frame(&mut r) {
        frames.push(f);
    }
    SendSession {
        frames,
        code: out.status.code(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

fn call(argv: &[&str], stream: bool) -> Vec<u8> {
    msg(proto::ZfsCall {
        argv: argv.iter().map(|s| s.to_string()).collect(),
        stream,
        ..Default::default()
    }
    .into())
}

fn end() -> Vec<u8> {
    let mut v = Vec::new();
    frame::write_end(&mut v, false).unwrap();
    v
}

/// A compromised backup host against `zreplrs send-agent`, speaking the protocol directly: requests for
/// filesystems outside its root or its filter, holds and bookmarks with another job's name, destroying a
/// snapshot, receiving, setting a property, a recv-agent request, malformed and oversized frames and a wrong
/// protocol version are each refused with a clear error, and the source pool is exactly what it was. What
/// a pull needs (a listing, a stream of an allowed snapshot, this job's hold) still works.
#[test]
#[ignore = "needs real ZFS: run by vm/test"]
fn send_agent_refuses_a_hostile_receiver_and_nothing_changes() {
    let p = Pool::new("hsa");
    let data = p.ds("data");
    let secret = p.ds("secret");
    for fs in [&data, &secret] {
        zfs(&["create", fs]);
        zfs(&["snapshot", &format!("{fs}@s1")]);
    }
    zfs(&["bookmark", &format!("{data}@s1"), &format!("{data}#keep")]);
    let other = Pool::new("hso");
    zfs(&["create", &other.ds("x")]);
    zfs(&["snapshot", &format!("{}@s1", other.ds("x"))]);
    let args = ["--root-fs", &p.name, "--job-id", "j", "--include", &format!("{data}<")];
    let cursor_other = format!("{data}#zrepl_CURSOR_G_00000000000000ff_J_other");
    let before = (p.state(), other.state());
    let s1 = format!("{data}@s1");
    let cases: Vec<(&str, Vec<u8>, &str, &str)> = vec![
        (
            "list outside the root",
            call(
                &[
                    "list",
                    "-H",
                    "-p",
                    "-r",
                    "-t",
                    "filesystem,volume",
                    "-o",
                    "name,guid,name",
                    &other.name,
                ],
                false,
            ),
            "send_agent_policy",
            "outside what this send-agent may send",
        ),
        (
            "list outside the filter",
            call(
                &[
                    "list",
                    "-H",
                    "-p",
                    "-r",
                    "-t",
                    "filesystem,volume",
                    "-o",
                    "name,guid,name",
                    &secret,
                ],
                false,
            ),
            "send_agent_policy",
            "outside what this send-agent may send",
        ),
        (
            "send outside the filter",
            call(&["send", &format!("{secret}@s1")], true),
            "send_agent_policy",
            "outside what this send-agent may send",
        ),
        (
            "a hold with another job's tag",
            call(&["hold", "zrepl_STEP_J_other", &s1], false),
            "send_agent_policy",
            "puts and releases only zrepl_STEP_J_j",
        ),
        (
            "a bookmark with another job's name",
            call(&["bookmark", &s1, &cursor_other], false),
            "send_agent_policy",
            "not a cursor bookmark of job j",
        ),
        (
            "destroy a snapshot",
            call(&["destroy", &s1], false),
            "send_agent_policy",
            "never a snapshot",
        ),
        (
            "destroy a bookmark that is not this job's",
            call(&["destroy", &format!("{data}#keep")], false),
            "send_agent_policy",
            "not a cursor bookmark of job j",
        ),
        (
            "receive",
            call(&["receive", "-F", &data], false),
            "send_agent_policy",
            "is not something a send-agent runs",
        ),
        (
            "set a property",
            call(&["set", "mountpoint=/etc", &data], false),
            "send_agent_policy",
            "is not something a send-agent runs",
        ),
        (
            "a recv-agent request",
            msg(proto::DestroyRequest {
                fs: "data".into(),
                snapshots: vec!["s1".into()],
            }
            .into()),
            "protocol",
            "answers only zfs_call",
        ),
        (
            "a real send asked for as output",
            call(&["send", &s1], false),
            "send_agent_policy",
            "must be asked for as a stream",
        ),
    ];
    for (what, input, kind, text) in cases {
        let s = send_session(&args, &[hello(), input].concat());
        let msgs = s.messages();
        match &msgs[0].body {
            Some(Body::HelloReply(h)) => {
                assert!(h.send_agent, "{what}: the hello says send-agent");
                assert_eq!(h.root, p.name);
            }
            other => panic!("{what}: {other:?}"),
        }
        let last = msgs.last().unwrap_or_else(|| panic!("{what}: no reply; {}", s.stderr));
        let (k, m) = error_of(last);
        assert_eq!(k, kind, "{what}: {m}");
        assert!(m.contains(text), "{what}: {m}");
        assert_eq!(s.code, Some(0), "{what}: a refusal, not a broken session: {}", s.stderr);
        assert_eq!(
            (p.state(), other.state()),
            before,
            "{what}: nothing changed on the source"
        );
    }
    // Malformed input and a wrong version end the session with an error reply; nothing changes.
    let mut wrong_version = Vec::new();
    frame::write_message(
        &mut wrong_version,
        &Envelope::new(
            proto::Hello {
                protocol_version: 99,
                software_version: "x".into(),
                compression: Vec::new(),
                ..Default::default()
            }
            .into(),
        ),
    )
    .unwrap();
    let mut oversized = hello();
    oversized.extend_from_slice(&[1, 0x7f, 0xff, 0xff, 0xff]);
    let mut unknown = hello();
    unknown.extend_from_slice(&[9, 0, 0, 0, 1, 0]);
    let mut truncated = hello();
    truncated.extend_from_slice(&call(&["list"], false)[..4]);
    for (what, input, kind) in [
        ("a wrong protocol version", wrong_version, "protocol_version"),
        ("an oversized frame", oversized, "frame_too_large"),
        ("an unknown frame type", unknown, "unknown_frame_type"),
        ("a truncated frame", truncated, "truncated_frame"),
    ] {
        let s = send_session(&args, &input);
        let last = s.messages().last().copied().cloned();
        let (k, m) = error_of(&last.unwrap_or_else(|| panic!("{what}: no reply; {}", s.stderr)));
        assert_eq!(k, kind, "{what}: {m}");
        assert_ne!(s.code, Some(0), "{what}");
        assert_eq!(
            (p.state(), other.state()),
            before,
            "{what}: nothing changed on the source"
        );
    }
    // What a pull needs works: a listing (only of allowed filesystems), this job's hold, a stream.
    let s = send_session(
        &args,
        &[
            hello(),
            call(
                &[
                    "list",
                    "-H",
                    "-p",
                    "-r",
                    "-t",
                    "filesystem,volume",
                    "-o",
                    "name,guid,name",
                    &p.name,
                ],
                false,
            ),
        ]
        .concat(),
    );
    match &s.messages().last().unwrap().body {
        Some(Body::ZfsCallReply(r)) => assert!(r.success, "{r:?}"),
        Some(Body::Error(e)) => assert!(e.message.contains("outside"), "the pool root is not included: {e:?}"),
        other => panic!("{other:?}"),
    }
    let s = send_session(
        &args,
        &[
            hello(),
            call(
                &[
                    "list",
                    "-H",
                    "-p",
                    "-r",
                    "-t",
                    "filesystem,volume,snapshot,bookmark",
                    "-o",
                    "name,guid,name",
                    &data,
                ],
                false,
            ),
        ]
        .concat(),
    );
    let listed = match &s.messages().last().unwrap().body {
        Some(Body::ZfsCallReply(r)) => String::from_utf8(r.stdout.clone()).unwrap(),
        other => panic!("{other:?}: {}", s.stderr),
    };
    assert!(listed.contains(&s1) && !listed.contains(&secret), "{listed}");
    let s = send_session(
        &args,
        &[
            hello(),
            call(&["hold", "zrepl_STEP_J_j", &s1], false),
            call(&["release", "zrepl_STEP_J_j", &s1], false),
        ]
        .concat(),
    );
    assert!(
        s.messages()
            .iter()
            .skip(1)
            .all(|m| matches!(&m.body, Some(Body::ZfsCallReply(r)) if r.success)),
        "{}",
        s.stderr
    );
    // An END frame already waiting when the stream starts stops it: the peer's receive failed.
    let s = send_session(&args, &[hello(), call(&["send", &s1], true), end()].concat());
    assert_eq!(s.code, Some(0), "{}", s.stderr);
    match &s.messages().last().unwrap().body {
        Some(Body::ZfsCallReply(r)) => assert!(!r.success, "an aborted stream is not a success: {r:?}"),
        other => panic!("{other:?}"),
    }
    // A whole stream, acknowledged after its reply, is exactly zfs send's output.
    let mut agent = std::process::Command::new(zreplrs_bin())
        .arg("send-agent")
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let mut stdin = agent.stdin.take().unwrap();
    let mut stdout = agent.stdout.take().unwrap();
    stdin
        .write_all(&[hello(), call(&["send", &s1], true)].concat())
        .unwrap();
    let (mut data, mut ended, mut reply) = (Vec::new(), None, None);
    while reply.is_none() {
        match frame::read_frame(&mut stdout).unwrap().expect("the agent replies") {
            frame::Frame::Data(d) => data.extend_from_slice(&d),
            frame::Frame::End { aborted } => ended = Some(aborted),
            frame::Frame::Message(Envelope {
                body: Some(Body::ZfsCallReply(r)),
            }) => reply = Some(r),
            frame::Frame::Message(_) => {}
        }
    }
    assert_eq!(ended, Some(false), "the stream ended complete");
    assert!(reply.as_ref().is_some_and(|r| r.success), "{reply:?}");
    stdin.write_all(&end()).unwrap();
    drop(stdin);
    assert!(agent.wait().unwrap().success());
    assert_eq!(data, send_stream(&[&s1]), "the stream is zfs send's");
    assert_eq!((p.state(), other.state()), before, "the source is as it was");
}

fn restore_hello(job: &str) -> Vec<u8> {
    msg(proto::Hello {
        protocol_version: proto::PROTOCOL_VERSION,
        software_version: "hostile".into(),
        compression: Vec::new(),
        restore: true,
        job_id: job.into(),
    }
    .into())
}

/// A compromised client against a backup host's `recv-agent --append-only --serve-restores`, speaking the
/// protocol directly after asking for a restore: another client's tree (a listing, a send, a hold), the
/// whole root, a plain (decrypting) send, a bookmark, destroying a snapshot or a bookmark, renaming,
/// receiving, a recv-agent request and a bad job id are each refused, and the backup pool is exactly what
/// it was. Its own tree can be listed, held with its job's tag and sent raw. An agent without the flag
/// greets as a recv-agent and answers no zfs call.
#[test]
#[ignore = "needs real ZFS: run by vm/test"]
fn a_client_restoring_through_the_backup_agent_reads_only_its_own_tree_and_changes_nothing() {
    let p = Pool::new("hrs");
    let root = p.ds("backup");
    let own = format!("{root}/prod1/tank/data");
    let theirs = format!("{root}/prod2/tank/data");
    for fs in [&own, &theirs] {
        zfs(&["create", "-p", fs]);
        zfs(&["snapshot", &format!("{fs}@s1")]);
    }
    let args = [
        "recv-agent",
        "--root-fs",
        root.as_str(),
        "--client-identity",
        "prod1",
        "--append-only",
        "--serve-restores",
    ];
    let session = |input: &[u8]| frames_of(&args, input);
    let (own_s1, their_s1) = (format!("{own}@s1"), format!("{theirs}@s1"));
    let listing = |fs: &str| {
        call(
            &["list", "-H", "-p", "-r", "-t", "snapshot", "-o", "name,guid,name", fs],
            false,
        )
    };
    let cursor = format!("{own}#zrepl_CURSOR_G_00000000000000ff_J_j");
    let before = p.state();
    let cases: Vec<(&str, Vec<u8>, &str, &str)> = vec![
        (
            "another client's listing",
            listing(&theirs),
            "send_agent_policy",
            "outside",
        ),
        ("the whole root", listing(&root), "send_agent_policy", "outside"),
        (
            "another client's send",
            call(&["send", "-w", &their_s1], true),
            "send_agent_policy",
            "outside",
        ),
        (
            "another client's hold",
            call(&["hold", "zrepl_STEP_J_j", &their_s1], false),
            "send_agent_policy",
            "outside",
        ),
        (
            "a plain send",
            call(&["send", &own_s1], true),
            "send_agent_policy",
            "raw",
        ),
        (
            "a bookmark",
            call(&["bookmark", &own_s1, &cursor], false),
            "send_agent_policy",
            "serves restores",
        ),
        (
            "destroy a bookmark",
            call(&["destroy", &cursor], false),
            "send_agent_policy",
            "serves restores",
        ),
        (
            "destroy a snapshot",
            call(&["destroy", &own_s1], false),
            "send_agent_policy",
            "serves restores",
        ),
        (
            "rename",
            call(&["rename", &own_s1, &format!("{own}@x")], false),
            "send_agent_policy",
            "not something",
        ),
        (
            "receive",
            call(&["receive", &format!("{own}/new")], false),
            "send_agent_policy",
            "not something",
        ),
        (
            "a recv-agent request",
            msg(proto::DestroyRequest {
                fs: "tank/data".into(),
                snapshots: vec!["s1".into()],
            }
            .into()),
            "protocol",
            "answers only zfs_call",
        ),
    ];
    for (what, input, kind, text) in cases {
        let s = session(&[restore_hello("j"), input].concat());
        let msgs = s.messages();
        match &msgs[0].body {
            Some(Body::HelloReply(h)) => {
                assert!(h.send_agent && h.append_only, "{what}: {h:?}");
                assert_eq!(h.root, format!("{root}/prod1"), "{what}");
            }
            other => panic!("{what}: {other:?}"),
        }
        let (k, m) = error_of(msgs.last().unwrap());
        assert_eq!(k, kind, "{what}: {m}");
        assert!(m.contains(text), "{what}: {m}");
        assert_eq!(p.state(), before, "{what}: nothing changed on the backup host");
    }
    let s = session(&restore_hello("bad job!"));
    let (k, _) = error_of(s.messages().last().unwrap());
    assert_eq!(k, "invalid_name");
    assert_ne!(s.code, Some(0));
    // What a restore needs works: its own listing, its job's hold and release, a raw stream.
    let s = session(
        &[
            restore_hello("j"),
            listing(&own),
            call(&["hold", "zrepl_STEP_J_j", &own_s1], false),
            call(&["release", "zrepl_STEP_J_j", &own_s1], false),
        ]
        .concat(),
    );
    let replies: Vec<_> = s.messages().into_iter().skip(1).collect();
    assert_eq!(replies.len(), 3, "{}", s.stderr);
    for r in &replies {
        assert!(matches!(&r.body, Some(Body::ZfsCallReply(c)) if c.success), "{r:?}");
    }
    assert_eq!(p.state(), before, "the hold was released again");
    let s = session(&[restore_hello("j"), call(&["send", "-w", &own_s1], true), end()].concat());
    assert_eq!(s.code, Some(0), "{}", s.stderr);
    // Without --serve-restores: a recv-agent's greeting, and no zfs call is answered.
    let out = feed(
        &[
            "recv-agent",
            "--root-fs",
            &root,
            "--client-identity",
            "prod1",
            "--append-only",
        ],
        &[restore_hello("j"), listing(&own)].concat(),
    );
    let mut r = &out.stdout[..];
    let mut msgs = Vec::new();
    while let Ok(Some(env)) = frame::read_message(&mut r) {
        msgs.push(env);
    }
    match &msgs[0].body {
        Some(Body::HelloReply(h)) => assert!(!h.send_agent, "{h:?}"),
        other => panic!("{other:?}"),
    }
    let (k, m) = error_of(msgs.last().unwrap());
    assert_eq!(k, "protocol", "{m}");
    assert_eq!(p.state(), before);
}
