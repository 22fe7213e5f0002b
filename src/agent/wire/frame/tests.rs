//! Frame round trips, bounds and malformed input.

use super::*;
use crate::agent::wire::proto::{self, envelope::Body};

fn all_messages() -> Vec<Envelope> {
    let bodies: Vec<Body> = vec![
        proto::Hello {
            protocol_version: proto::PROTOCOL_VERSION,
            software_version: "0.1.0".into(),
            compression: vec!["zstd".into(), "lz4".into()],
            restore: true,
            job_id: "prod".into(),
        }
        .into(),
        proto::HelloReply {
            protocol_version: proto::PROTOCOL_VERSION,
            software_version: "0.1.0".into(),
            root: "backup/hosts/web1".into(),
            zfs_version: "zfs-2.2.2-0ubuntu9".into(),
            append_only: true,
            send_agent: false,
            compression: vec!["zstd".into()],
        }
        .into(),
        proto::ListRequest {
            with_creation: true,
            filesystems_only: true,
            versions_of: vec!["tank/data".into(), "tank/other".into()],
            page_bytes: u32::MAX,
        }
        .into(),
        proto::ListReply {
            root_exists: true,
            filesystems_only: true,
            listed_at: u64::MAX,
            more: true,
            filesystems: vec![
                proto::FsEntry {
                    name: String::new(),
                    guid: u64::MAX,
                    createtxg: 1,
                    placeholder: true,
                    ..Default::default()
                },
                proto::FsEntry {
                    name: "tank/data".into(),
                    guid: u64::MAX - 1,
                    createtxg: u64::MAX,
                    resume_token: "1-abc-def".into(),
                    encryption: "aes-256-gcm".into(),
                    placeholder: false,
                    volume: true,
                    snapshots_changed: Some(u64::MAX),
                    versions: vec![
                        proto::Version {
                            bookmark: false,
                            short: "zrepl_20240101_000000_000".into(),
                            guid: u64::MAX,
                            createtxg: 42,
                            userrefs: Some(0),
                            creation: Some(1_704_067_200),
                        },
                        proto::Version {
                            bookmark: true,
                            short: "zrepl_CURSOR_G_00000000deadbeef_J_job".into(),
                            guid: 0xdead_beef,
                            createtxg: 41,
                            userrefs: None,
                            creation: None,
                        },
                    ],
                },
            ],
        }
        .into(),
        proto::ReceiveRequest {
            fs: "tank/data".into(),
            to_short: "snap2".into(),
            to_guid: u64::MAX,
            from_guid: Some(u64::MAX),
            job_id: "job".into(),
            force: true,
            last_received_hold: true,
            compression: "zstd".into(),
            raw: true,
            resuming: true,
        }
        .into(),
        proto::ReceiveRequest {
            fs: "tank".into(),
            to_short: "snap1".into(),
            to_guid: 7,
            from_guid: Some(0),
            ..Default::default()
        }
        .into(),
        proto::ReceiveReply {
            received_guid: u64::MAX,
            bytes: u64::MAX,
        }
        .into(),
        proto::AbortResumeRequest { fs: "tank/data".into() }.into(),
        proto::Ok {}.into(),
        proto::Heartbeat {}.into(),
        proto::Error {
            kind: "outside_root".into(),
            message: "dataset is not below the root".into(),
            code: 0,
        }
        .into(),
        proto::DestroyRequest {
            fs: "tank".into(),
            snapshots: vec!["a".into(), "b".into()],
        }
        .into(),
        proto::DestroyReply {
            destroyed: vec!["a".into()],
            held: vec!["b".into()],
        }
        .into(),
        proto::HoldsRequest { job_id: "job".into() }.into(),
        proto::HoldsReply {
            holds: vec![proto::HoldEntry {
                fs: "tank".into(),
                snapshot: "snap1".into(),
                tag: "zrepl_STEP_J_job".into(),
            }],
        }
        .into(),
    ];
    let mut envs: Vec<Envelope> = bodies.into_iter().map(Envelope::new).collect();
    envs.push(Envelope::default());
    envs
}

#[test]
fn every_message_round_trips() {
    let envs = all_messages();
    let mut kinds: Vec<&str> = envs.iter().map(Envelope::kind_name).collect();
    kinds.sort_unstable();
    kinds.dedup();
    assert_eq!(kinds.len(), 15, "14 body kinds plus empty: {kinds:?}");

    let mut wire = Vec::new();
    for env in &envs {
        write_message(&mut wire, env).unwrap();
    }
    let mut r = wire.as_slice();
    for env in &envs {
        assert_eq!(read_message(&mut r).unwrap().as_ref(), Some(env));
    }
    assert!(read_message(&mut r).unwrap().is_none());

    let mut r = wire.as_slice();
    for env in &envs {
        assert_eq!(read_frame(&mut r).unwrap(), Some(Frame::Message(env.clone())));
    }
    assert_eq!(read_frame(&mut r).unwrap(), None);
}

#[test]
fn data_and_end_round_trip() {
    let mut wire = Vec::new();
    write_message(&mut wire, &Envelope::new(proto::Ok {}.into())).unwrap();
    write_data(&mut wire, b"hello").unwrap();
    write_data(&mut wire, &[]).unwrap();
    write_data(&mut wire, &[0xff]).unwrap();
    write_end(&mut wire, false).unwrap();
    write_end(&mut wire, true).unwrap();

    let mut r = wire.as_slice();
    assert!(matches!(read_frame(&mut r).unwrap(), Some(Frame::Message(_))));
    assert_eq!(read_frame(&mut r).unwrap(), Some(Frame::Data(b"hello".to_vec())));
    assert_eq!(read_frame(&mut r).unwrap(), Some(Frame::Data(vec![0xff])));
    assert_eq!(read_frame(&mut r).unwrap(), Some(Frame::End { aborted: false }));
    assert_eq!(read_frame(&mut r).unwrap(), Some(Frame::End { aborted: true }));
    assert_eq!(read_frame(&mut r).unwrap(), None);

    let mut r = wire.as_slice();
    let mut buf = Vec::new();
    assert!(matches!(
        read_data_into(&mut r, &mut buf).unwrap(),
        DataFrame::Message(_)
    ));
    assert_eq!(read_data_into(&mut r, &mut buf).unwrap(), DataFrame::Data(5));
    assert_eq!(buf, b"hello");
    assert_eq!(read_data_into(&mut r, &mut buf).unwrap(), DataFrame::Data(1));
    assert_eq!(buf, [0xff]);
    assert_eq!(
        read_data_into(&mut r, &mut buf).unwrap(),
        DataFrame::End { aborted: false }
    );
    assert_eq!(
        read_data_into(&mut r, &mut buf).unwrap(),
        DataFrame::End { aborted: true }
    );
    let err = read_data_into(&mut r, &mut buf).unwrap_err();
    assert_eq!(err.kind().as_str(), "unexpected_frame");
}

#[test]
fn data_header_then_payload_reads_back_as_one_frame() {
    let mut wire = Vec::new();
    write_data_header(&mut wire, 3).unwrap();
    wire.extend_from_slice(b"xyz");
    write_end(&mut wire, false).unwrap();
    let mut r = wire.as_slice();
    assert_eq!(read_data_header(&mut r).unwrap(), DataFrame::Data(3));
    assert_eq!(&r[..3], b"xyz", "the payload is left for the caller");
    let mut buf = Vec::new();
    let mut r = wire.as_slice();
    assert_eq!(read_data_into(&mut r, &mut buf).unwrap(), DataFrame::Data(3));
    assert_eq!(buf, b"xyz");

    for bad in [0usize, MAX_DATA as usize + 1, usize::MAX] {
        let mut w = Vec::new();
        let err = write_data_header(&mut w, bad).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::InvalidInput);
        assert!(w.is_empty(), "nothing written for {bad}");
    }
}

#[test]
fn exact_wire_bytes() {
    let mut wire = Vec::new();
    write_data(&mut wire, b"ab").unwrap();
    write_end(&mut wire, true).unwrap();
    assert_eq!(wire, [2, 0, 0, 0, 2, b'a', b'b', 3, 0, 0, 0, 1, 1]);
}

#[test]
fn large_data_is_split() {
    let max = MAX_DATA as usize;
    let data: Vec<u8> = (0..2 * max + 3).map(|i| (i % 251) as u8).collect();
    let mut wire = Vec::new();
    write_data(&mut wire, &data).unwrap();
    write_end(&mut wire, false).unwrap();
    assert_eq!(wire.len(), data.len() + 3 * HEADER_LEN + HEADER_LEN + 1);

    let mut r = wire.as_slice();
    let mut buf = Vec::new();
    let mut out = Vec::new();
    let mut sizes = Vec::new();
    loop {
        match read_data_into(&mut r, &mut buf).unwrap() {
            DataFrame::Data(n) => {
                assert_eq!(buf.len(), n);
                sizes.push(n);
                out.extend_from_slice(&buf);
            }
            DataFrame::End { aborted } => {
                assert!(!aborted);
                break;
            }
            DataFrame::Message(m) => panic!("unexpected message {m:?}"),
        }
    }
    assert_eq!(sizes, [max, max, 3]);
    assert!(out == data);
    assert!(read_frame(&mut r).unwrap().is_none());
}

fn frame_err(bytes: &[u8]) -> FrameError {
    let mut r = bytes;
    match read_frame(&mut r) {
        Err(e) => e,
        Ok(f) => panic!("expected an error for {bytes:?}, got {f:?}"),
    }
}

#[test]
fn unknown_types() {
    for ty in [0u8, 4, 255] {
        let e = frame_err(&[ty, 0, 0, 0, 1, 0]);
        assert!(matches!(e, FrameError::UnknownType(t) if t == ty), "{e}");
        assert_eq!(e.kind().as_str(), "unknown_frame_type");
    }
}

#[test]
fn oversize_frames() {
    let e = frame_err(&[1, 0xff, 0xff, 0xff, 0xff]);
    assert_eq!(
        e.to_string(),
        "frame too large: 4294967295 bytes for a message frame (limit 16777216)"
    );
    assert_eq!(e.kind().as_str(), "frame_too_large");
    let over = (MAX_MESSAGE + 1).to_be_bytes();
    assert!(matches!(
        frame_err(&[1, over[0], over[1], over[2], over[3]]),
        FrameError::TooLarge { kind: "message", .. }
    ));
    let over = (MAX_DATA + 1).to_be_bytes();
    let e = frame_err(&[2, over[0], over[1], over[2], over[3]]);
    assert!(
        matches!(e, FrameError::TooLarge { kind: "data", len, limit } if len == MAX_DATA + 1 && limit == MAX_DATA),
        "{e}"
    );
    // The same too-large data frame is rejected on the data path without touching the buffer.
    let mut buf = Vec::new();
    let mut r: &[u8] = &[2, over[0], over[1], over[2], over[3]];
    assert_eq!(
        read_data_into(&mut r, &mut buf).unwrap_err().kind().as_str(),
        "frame_too_large"
    );
    assert!(buf.capacity() == 0);
}

#[test]
fn maximum_sizes_are_accepted() {
    let max = MAX_DATA as usize;
    let mut wire = vec![2];
    wire.extend_from_slice(&MAX_DATA.to_be_bytes());
    wire.resize(HEADER_LEN + max, 7);
    assert!(matches!(read_frame(&mut wire.as_slice()).unwrap(), Some(Frame::Data(d)) if d.len() == max));

    let env = Envelope::new(
        proto::Error {
            kind: "x".into(),
            message: "m".repeat(MAX_MESSAGE as usize - 20),
            code: 0,
        }
        .into(),
    );
    let mut wire = Vec::new();
    write_message(&mut wire, &env).unwrap();
    assert_eq!(read_message(&mut wire.as_slice()).unwrap(), Some(env));

    let too_big = Envelope::new(
        proto::Error {
            kind: "x".into(),
            message: "m".repeat(MAX_MESSAGE as usize),
            code: 0,
        }
        .into(),
    );
    let mut wire = Vec::new();
    let e = write_message(&mut wire, &too_big).unwrap_err();
    assert_eq!(e.kind(), io::ErrorKind::InvalidInput);
    assert!(wire.is_empty());
}

#[test]
fn empty_data_frame() {
    let e = frame_err(&[2, 0, 0, 0, 0]);
    assert!(matches!(e, FrameError::EmptyData));
    assert_eq!(e.kind().as_str(), "empty_data_frame");
}

#[test]
fn bad_end_frames() {
    for bytes in [
        &[3u8, 0, 0, 0, 0][..],
        &[3, 0, 0, 0, 2, 0, 0],
        &[3, 0, 0, 0, 1, 2],
        &[3, 0, 0, 0, 1, 255],
    ] {
        let e = frame_err(bytes);
        assert!(matches!(e, FrameError::BadEnd(_)), "{bytes:?}: {e}");
        assert_eq!(e.kind().as_str(), "bad_end_frame");
    }
    assert!(matches!(
        frame_err(&[3, 0, 0, 0, 1]),
        FrameError::Truncated { expected: 1, got: 0 }
    ));
}

#[test]
fn truncated_headers() {
    let full = [1u8, 0, 0, 0, 0];
    for n in 1..HEADER_LEN {
        let e = frame_err(&full[..n]);
        assert!(
            matches!(e, FrameError::Truncated { expected: 5, got } if got == n),
            "{n}: {e}"
        );
        assert_eq!(e.kind().as_str(), "truncated_frame");
        assert!(read_message(&mut &full[..n]).is_err());
        assert!(read_data_into(&mut &full[..n], &mut Vec::new()).is_err());
    }
}

#[test]
fn truncated_payloads() {
    let mut wire = Vec::new();
    write_message(&mut wire, &all_messages()[1]).unwrap();
    let cut = &wire[..wire.len() - 1];
    let e = frame_err(cut);
    let want = wire.len() - HEADER_LEN;
    assert!(
        matches!(e, FrameError::Truncated { expected, got } if expected == want && got == want - 1),
        "{e}"
    );

    let e = frame_err(&[2, 0, 0, 0, 10, 1, 2, 3]);
    assert!(matches!(e, FrameError::Truncated { expected: 10, got: 3 }));
    let mut buf = Vec::new();
    let e = read_data_into(&mut &[2u8, 0, 0, 0, 10, 1, 2, 3][..], &mut buf).unwrap_err();
    assert!(matches!(e, FrameError::Truncated { expected: 10, got: 3 }));
}

#[test]
fn garbage_protobuf() {
    // 0xff.. is an unterminated varint key; 0x0a 0x05 is a length-delimited field longer than the payload.
    for payload in [&[0xffu8, 0xff, 0xff][..], &[0x0a, 0x05, 0x08], &[0x07]] {
        let mut wire = vec![1, 0, 0, 0, payload.len() as u8];
        wire.extend_from_slice(payload);
        let e = frame_err(&wire);
        assert!(matches!(e, FrameError::Decode(_)), "{payload:?}: {e}");
        assert_eq!(e.kind().as_str(), "undecodable_message");
        assert!(matches!(read_message(&mut wire.as_slice()), Err(FrameError::Decode(_))));
    }
}

#[test]
fn eof_at_boundary_is_none() {
    assert!(read_frame(&mut &[][..]).unwrap().is_none());
    assert!(read_message(&mut &[][..]).unwrap().is_none());
}

#[test]
fn read_message_rejects_data_and_end() {
    let mut wire = Vec::new();
    write_data(&mut wire, b"x").unwrap();
    let e = read_message(&mut wire.as_slice()).unwrap_err();
    assert_eq!(e.kind().as_str(), "unexpected_frame");
    assert!(e.to_string().contains("data frame of 1 bytes"), "{e}");
    let mut wire = Vec::new();
    write_end(&mut wire, false).unwrap();
    assert_eq!(
        read_message(&mut wire.as_slice()).unwrap_err().kind(),
        ErrorKind::UnexpectedFrame
    );
}

/// A reader that returns one byte per call and sometimes `Interrupted`.
struct Trickle<'a> {
    data: &'a [u8],
    tick: bool,
}

impl Read for Trickle<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.tick = !self.tick;
        if self.tick {
            return Err(io::Error::new(io::ErrorKind::Interrupted, "signal"));
        }
        if self.data.is_empty() || buf.is_empty() {
            return Ok(0);
        }
        buf[0] = self.data[0];
        self.data = &self.data[1..];
        Ok(1)
    }
}

#[test]
fn short_reads_and_interrupts() {
    let mut wire = Vec::new();
    for env in all_messages() {
        write_message(&mut wire, &env).unwrap();
    }
    write_data(&mut wire, b"payload").unwrap();
    write_end(&mut wire, false).unwrap();
    let mut r = Trickle {
        data: &wire,
        tick: false,
    };
    for env in all_messages() {
        assert_eq!(read_frame(&mut r).unwrap(), Some(Frame::Message(env)));
    }
    let mut buf = Vec::new();
    assert_eq!(read_data_into(&mut r, &mut buf).unwrap(), DataFrame::Data(7));
    assert_eq!(buf, b"payload");
    assert_eq!(
        read_data_into(&mut r, &mut buf).unwrap(),
        DataFrame::End { aborted: false }
    );
    assert!(read_frame(&mut r).unwrap().is_none());
}
