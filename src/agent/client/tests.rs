//! AgentClient unit tests against fake agents on pipes: handshake, heartbeats and deadlines, reply floods,
//! compression and the bandwidth limit.

use super::*;

#[test]
fn peer_text_is_made_printable() {
    assert_eq!(printable(b"ok\n\tline"), "ok\n\tline");
    assert_eq!(printable(b"\x1b[2Jgone\rfake"), "\\x1b[2Jgone\\x0dfake");
    assert_eq!(printable(&[0xff, b'a', 0]), "\u{fffd}a\\x00");
}
use std::time::Instant;

/// The fake agent's side of the handshake: reads the hello and answers it.
fn answer_hello(input: &mut impl Read, output: &mut impl Write) {
    let _hello = frame::read_message(input);
    let reply = proto::HelloReply {
        protocol_version: proto::PROTOCOL_VERSION,
        ..Default::default()
    };
    let _ = frame::write_message(output, &Envelope::new(reply.into()));
}

/// A fake agent on pipes: answers hello at once, then, for the next request, sends `beats` heartbeats
/// `gap` apart before its reply. Returns the connected client.
fn client_with_slow_agent(beats: u32, gap: Duration, timeout: Duration) -> AgentClient {
    let (to_agent_r, to_agent_w) = std::io::pipe().expect("pipe");
    let (from_agent_r, mut from_agent_w) = std::io::pipe().expect("pipe");
    std::thread::spawn(move || {
        let mut input = to_agent_r;
        answer_hello(&mut input, &mut from_agent_w);
        let _request = frame::read_message(&mut input);
        for _ in 0..beats {
            std::thread::sleep(gap);
            let _ = frame::write_message(&mut from_agent_w, &Envelope::new(proto::Heartbeat {}.into()));
        }
        let _ = frame::write_message(
            &mut from_agent_w,
            &Envelope::new(
                proto::ListReply {
                    root_exists: true,
                    ..Default::default()
                }
                .into(),
            ),
        );
        // Keep the pipes open until the client is done.
        let _ = frame::read_message(&mut input);
    });
    AgentClient::connect(Box::new(from_agent_r), Box::new(to_agent_w), timeout).expect("connect")
}

#[test]
fn heartbeats_restart_the_reply_timeout() {
    // 10 heartbeats 200 ms apart: 2 s in all, twice the 1 s timeout, but never 1 s without a frame.
    let mut c = client_with_slow_agent(10, Duration::from_millis(200), Duration::from_secs(1));
    let started = Instant::now();
    let reply = c.list().expect("the reply after the heartbeats");
    assert!(reply.root_exists);
    assert!(
        started.elapsed() >= Duration::from_millis(1900),
        "the reply came after the heartbeats"
    );
}

/// The attack: a receiver that answers every request with heartbeats only. The wait ends at the
/// absolute deadline with a connection error (the run retries or fails) instead of lasting forever.
#[test]
fn heartbeats_alone_do_not_outlast_the_reply_deadline() {
    let mut c = client_with_slow_agent(1000, Duration::from_millis(100), Duration::from_secs(1));
    c.reply_deadline = Duration::from_secs(2);
    let err = c.list().expect_err("the deadline ends the wait");
    assert!(err.is_retriable(), "{err}");
    assert!(err.to_string().contains("reply deadline"), "{err}");
}

/// The attack: a receiver that sends replies nobody asked for, as fast as it can. Each reply waits for
/// the sender to take it, so the flood stalls in the receiver's own connection: after a generous while
/// only a couple of the 200 replies have left the fake agent, and every one still arrives, in order.
#[test]
fn a_flood_of_replies_is_not_queued_without_bound() {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;
    const FLOOD: usize = 200;
    let (to_agent_r, to_agent_w) = std::io::pipe().expect("pipe");
    let (from_agent_r, mut from_agent_w) = std::io::pipe().expect("pipe");
    let written = Arc::new(AtomicUsize::new(0));
    let counter = Arc::clone(&written);
    std::thread::spawn(move || {
        let mut input = to_agent_r;
        answer_hello(&mut input, &mut from_agent_w);
        for i in 0..FLOOD {
            let page = proto::ListReply {
                listed_at: i as u64,
                filesystems: vec![proto::FsEntry {
                    name: "x".repeat(256 << 10),
                    ..Default::default()
                }],
                ..Default::default()
            };
            if frame::write_message(&mut from_agent_w, &Envelope::new(page.into())).is_err() {
                return;
            }
            counter.fetch_add(1, Ordering::SeqCst);
        }
        let _ = frame::read_message(&mut input);
    });
    let mut c =
        AgentClient::connect(Box::new(from_agent_r), Box::new(to_agent_w), Duration::from_secs(30)).expect("connect");
    std::thread::sleep(Duration::from_millis(1500));
    let sent = written.load(Ordering::SeqCst);
    assert!(sent <= 3, "{sent} replies left the agent although none was taken");
    for i in 0..FLOOD {
        assert_eq!(c.list_reply().expect("each reply").listed_at, i as u64);
    }
}

#[test]
fn silence_longer_than_the_timeout_is_a_connection_error() {
    let mut c = client_with_slow_agent(1, Duration::from_secs(3), Duration::from_millis(500));
    let err = c.list().expect_err("no frame within the timeout");
    assert!(err.is_retriable(), "{err}");
    assert!(err.to_string().contains("no reply from the receiver"), "{err}");
}

/// A fake receiver that offers `offer` in its hello, then takes one receive: it checks the request's
/// codec, undoes it, and replies with the GUID. Returns the connected client and, from the thread, the
/// request's codec name and the stream it reassembled.
fn client_with_receiver(offer: Vec<String>) -> (AgentClient, std::thread::JoinHandle<(String, Vec<u8>)>) {
    let (to_agent_r, to_agent_w) = std::io::pipe().expect("pipe");
    let (from_agent_r, mut from_agent_w) = std::io::pipe().expect("pipe");
    let agent = std::thread::spawn(move || {
        let mut input = to_agent_r;
        let _hello = frame::read_message(&mut input);
        let reply = proto::HelloReply {
            protocol_version: proto::PROTOCOL_VERSION,
            compression: offer,
            ..Default::default()
        };
        frame::write_message(&mut from_agent_w, &Envelope::new(reply.into())).expect("hello");
        let req = match frame::read_message(&mut input) {
            Ok(Some(Envelope {
                body: Some(Body::Receive(r)),
            })) => r,
            other => panic!("expected a receive request, got {other:?}"),
        };
        let mut unpacker = crate::agent::wire::codec::Unpacker::new().expect("unpacker");
        let mut stream = Vec::new();
        loop {
            match frame::read_frame(&mut input).expect("frame") {
                Some(Frame::Data(d)) if req.compression.is_empty() => stream.extend_from_slice(&d),
                Some(Frame::Data(d)) => stream.extend_from_slice(unpacker.unpack(&d).expect("unpack")),
                Some(Frame::End { .. }) => break,
                other => panic!("unexpected {other:?}"),
            }
        }
        let reply = proto::ReceiveReply {
            received_guid: req.to_guid,
            bytes: stream.len() as u64,
        };
        frame::write_message(&mut from_agent_w, &Envelope::new(reply.into())).expect("reply");
        let _ = frame::read_message(&mut input);
        (req.compression, stream)
    });
    let c =
        AgentClient::connect(Box::new(from_agent_r), Box::new(to_agent_w), Duration::from_secs(30)).expect("connect");
    (c, agent)
}

/// Streams `data` through `c` as one receive.
fn send_stream(c: &mut AgentClient, data: Vec<u8>) -> Streamed {
    let (mut src, mut w) = std::io::pipe().expect("pipe");
    let feeder = std::thread::spawn(move || w.write_all(&data).expect("feed"));
    let req = proto::ReceiveRequest {
        fs: "tank/a".into(),
        to_short: "s1".into(),
        to_guid: 77,
        ..Default::default()
    };
    let streamed = c
        .receive(req, &mut src, &mut || Ok(()), Duration::from_secs(30), &mut |_| {})
        .expect("receive");
    feeder.join().expect("feeder");
    c.shutdown();
    streamed
}

fn log_lines(len: usize) -> Vec<u8> {
    let mut v = Vec::with_capacity(len);
    let mut i = 0u64;
    while v.len() < len {
        v.extend_from_slice(format!("{i:08} GET /api/items/{} 200 {}ms\n", i % 977, i % 31).as_bytes());
        i += 1;
    }
    v.truncate(len);
    v
}

#[test]
fn a_negotiated_stream_is_compressed_on_the_wire_and_arrives_whole() {
    let (mut c, agent) = client_with_receiver(vec!["lz4".into(), "zstd".into()]);
    assert_eq!(c.negotiate(None, Some(3)), None);
    let data = log_lines(5 << 20);
    let streamed = send_stream(&mut c, data.clone());
    let (codec, got) = agent.join().expect("agent");
    assert_eq!(codec, "zstd");
    assert!(got == data, "the receiver reassembled the stream byte for byte");
    assert_eq!(streamed.bytes, data.len() as u64);
    assert!(streamed.wire_bytes * 4 < streamed.bytes, "{streamed:?}");
    assert_eq!(c.wire_total, streamed.wire_bytes);
}

#[test]
fn a_peer_without_zstd_gets_the_stream_uncompressed_and_a_warning() {
    let (mut c, agent) = client_with_receiver(Vec::new());
    let warning = c.negotiate(None, Some(3)).expect("a warning");
    assert!(warning.contains("does not offer zstd"), "{warning}");
    let data = log_lines(1 << 20);
    let streamed = send_stream(&mut c, data.clone());
    let (codec, got) = agent.join().expect("agent");
    assert_eq!(codec, "");
    assert!(got == data);
    assert_eq!(
        (streamed.bytes, streamed.wire_bytes),
        (data.len() as u64, data.len() as u64)
    );
}

/// A 2 MiB stream at 4 MiB/s takes about half a second (the bucket starts empty),
/// and the stream is unchanged. Bounds are loose: this checks that pacing happens, the benchmark measures
/// its accuracy.
#[test]
fn a_limited_stream_is_paced() {
    let (mut c, agent) = client_with_receiver(vec!["zstd".into()]);
    c.negotiate(Some(4 << 20), None);
    let data: Vec<u8> = (0..(2u32 << 20))
        .map(|i| (i.wrapping_mul(2654435761) >> 13) as u8)
        .collect();
    let started = Instant::now();
    let streamed = send_stream(&mut c, data.clone());
    let took = started.elapsed();
    let (codec, got) = agent.join().expect("agent");
    assert_eq!(codec, "");
    assert!(got == data);
    assert_eq!(streamed.wire_bytes, data.len() as u64);
    assert!(took >= Duration::from_millis(200), "{took:?}: not paced");
}

/// A peer's error kind: the enum when it sent one, its name from a peer before the enum, and a name this
/// build does not know kept in the message; only the kind decides whether a new attempt may help.
#[test]
fn a_peers_error_kind_is_read_from_its_code_or_from_an_older_peers_name() {
    let err = |kind: &str, code: ErrorKind| {
        AgentError::remote(proto::Error {
            kind: kind.into(),
            message: "m".into(),
            code: code as i32,
        })
    };
    let old = err("zfs_busy", ErrorKind::Other);
    assert_eq!(old.kind(), ErrorKind::ZfsBusy);
    assert!(old.is_retriable());
    let new = err("bad_stream", ErrorKind::BadStream);
    assert_eq!(new.kind(), ErrorKind::BadStream);
    assert!(!new.is_retriable());
    let newer = err("from_a_newer_peer", ErrorKind::Other);
    assert_eq!(newer.kind(), ErrorKind::Other);
    assert!(newer.to_string().contains("(from_a_newer_peer) m"), "{newer}");
    assert!(!newer.is_retriable());
}
