//! Framing of the recv-agent byte stream (docs/design.md §4).
//!
//! Every frame is 1 byte frame type, a 4-byte big-endian payload length, then the payload:
//!
//! | type | name    | payload                                                              |
//! |------|---------|----------------------------------------------------------------------|
//! | 1    | MESSAGE | an encoded [`Envelope`], at most [`MAX_MESSAGE`] bytes                |
//! | 2    | DATA    | a chunk of a `zfs send` stream, 1..=[`MAX_DATA`] bytes                |
//! | 3    | END     | end of a data stream, exactly 1 byte: 0 = complete, 1 = aborted       |
//!
//! Anything else (unknown type, oversized or empty frame, malformed END, EOF inside a frame, undecodable
//! protobuf, a message that would decode to more than [`crate::agent::wire::limits::MAX_DECODED`]) is a [`FrameError`]; the reader never allocates more than the limit of the frame type (message
//! payloads grow only as bytes arrive; a data frame's reusable buffer is sized to its declared length, at most
//! [`MAX_DATA`]). EOF exactly at a frame boundary is a clean end of input (`Ok(None)`).
//! Writers never flush: wrap the sink in a `BufWriter` and flush after each request/reply.

use std::io::{self, Read, Write};

use prost::Message as _;

use crate::agent::wire::proto::Envelope;

/// Frame type byte of a MESSAGE frame.
pub const TYPE_MESSAGE: u8 = 1;
/// Frame type byte of a DATA frame.
pub const TYPE_DATA: u8 = 2;
/// Frame type byte of an END frame.
pub const TYPE_END: u8 = 3;

/// Largest payload of a MESSAGE frame.
pub const MAX_MESSAGE: u32 = 16 << 20;
/// Largest payload of a DATA frame.
pub const MAX_DATA: u32 = 4 << 20;

const HEADER_LEN: usize = 5;

/// A malformed or unreadable frame. Every variant means the stream can no longer be trusted.
#[derive(Debug, thiserror::Error)]
pub enum FrameError {
    #[error("i/o error on the agent stream: {0}")]
    Io(#[from] io::Error),
    #[error("unknown frame type {0} (expected 1 = message, 2 = data, 3 = end)")]
    UnknownType(u8),
    #[error("frame too large: {len} bytes for a {kind} frame (limit {limit})")]
    TooLarge { kind: &'static str, len: u32, limit: u32 },
    #[error("empty data frame (a data frame carries at least 1 byte)")]
    EmptyData,
    #[error("malformed end frame: {0}")]
    BadEnd(String),
    #[error("truncated frame: end of input after {got} of {expected} bytes")]
    Truncated { expected: usize, got: usize },
    #[error("undecodable protobuf message: {0}")]
    Decode(String),
    #[error("message refused: {0}")]
    TooManyElements(String),
    #[error("unexpected frame: expected {expected}, got {got}")]
    UnexpectedFrame { expected: &'static str, got: String },
}

impl FrameError {
    /// snake_case kind for error reports, e.g. `"frame_too_large"`.
    pub fn kind(&self) -> &'static str {
        match self {
            FrameError::Io(_) => "io",
            FrameError::UnknownType(_) => "unknown_frame_type",
            FrameError::TooLarge { .. } => "frame_too_large",
            FrameError::EmptyData => "empty_data_frame",
            FrameError::BadEnd(_) => "bad_end_frame",
            FrameError::Truncated { .. } => "truncated_frame",
            FrameError::Decode(_) => "undecodable_message",
            FrameError::TooManyElements(_) => "too_many_elements",
            FrameError::UnexpectedFrame { .. } => "unexpected_frame",
        }
    }
}

/// One decoded frame.
#[derive(Debug, Clone, PartialEq)]
pub enum Frame {
    Message(Envelope),
    Data(Vec<u8>),
    End { aborted: bool },
}

/// Result of [`read_data_into`].
#[derive(Debug, Clone, PartialEq)]
pub enum DataFrame {
    /// A DATA frame of this many bytes is now in the buffer (`buf.len()` equals it).
    Data(usize),
    /// The END frame of the stream.
    End { aborted: bool },
    /// A MESSAGE frame arrived instead (e.g. an [`Error`](crate::agent::wire::proto::Error) from the peer).
    Message(Envelope),
}

fn header(ty: u8, len: u32) -> [u8; HEADER_LEN] {
    let l = len.to_be_bytes();
    [ty, l[0], l[1], l[2], l[3]]
}

/// Writes one MESSAGE frame. Does not flush; callers flush.
///
/// Fails with `InvalidInput` (writing nothing) if the encoded envelope exceeds [`MAX_MESSAGE`].
pub fn write_message<W: Write>(w: &mut W, env: &Envelope) -> io::Result<()> {
    let len = env.encoded_len();
    let len32 = u32::try_from(len).ok().filter(|&l| l <= MAX_MESSAGE).ok_or_else(|| {
        io::Error::new(
            io::ErrorKind::InvalidInput,
            format!(
                "{} message of {len} bytes exceeds the frame limit of {MAX_MESSAGE} bytes",
                env.kind_name()
            ),
        )
    })?;
    let mut buf = Vec::with_capacity(HEADER_LEN + len);
    buf.extend_from_slice(&header(TYPE_MESSAGE, len32));
    env.encode(&mut buf)
        .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e.to_string()))?;
    w.write_all(&buf)
}

/// Writes `data` as DATA frames of at most [`MAX_DATA`] bytes each, without copying the payload.
/// An empty slice writes nothing. Does not flush.
pub fn write_data<W: Write>(w: &mut W, data: &[u8]) -> io::Result<()> {
    for chunk in data.chunks(MAX_DATA as usize) {
        write_data_header(w, chunk.len())?;
        w.write_all(chunk)?;
    }
    Ok(())
}

/// Writes the header of one DATA frame whose `len` payload bytes the caller writes next (by splice, say).
/// Fails with `InvalidInput` (writing nothing) unless `len` is 1..=[`MAX_DATA`]. Does not flush.
pub fn write_data_header<W: Write>(w: &mut W, len: usize) -> io::Result<()> {
    match u32::try_from(len) {
        Ok(l) if (1..=MAX_DATA).contains(&l) => w.write_all(&header(TYPE_DATA, l)),
        _ => Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("a data frame carries 1..={MAX_DATA} bytes, not {len}"),
        )),
    }
}

/// Writes the END frame of a data stream. Does not flush.
pub fn write_end<W: Write>(w: &mut W, aborted: bool) -> io::Result<()> {
    let h = header(TYPE_END, 1);
    w.write_all(&[h[0], h[1], h[2], h[3], h[4], u8::from(aborted)])
}

/// Reads into `buf` until it is full or EOF; returns how many bytes were read.
pub(super) fn fill<R: Read>(r: &mut R, buf: &mut [u8]) -> io::Result<usize> {
    let mut got = 0;
    while got < buf.len() {
        match r.read(&mut buf[got..]) {
            Ok(0) => break,
            Ok(n) => got += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(got)
}

/// A validated frame header.
enum Header {
    Message(u32),
    Data(u32),
    End,
}

/// Reads and validates one header; `Ok(None)` on EOF exactly at the frame boundary.
fn read_header<R: Read>(r: &mut R) -> Result<Option<Header>, FrameError> {
    let mut h = [0u8; HEADER_LEN];
    let got = fill(r, &mut h)?;
    if got == 0 {
        return Ok(None);
    }
    if got < HEADER_LEN {
        return Err(FrameError::Truncated {
            expected: HEADER_LEN,
            got,
        });
    }
    let len = u32::from_be_bytes([h[1], h[2], h[3], h[4]]);
    let header = match h[0] {
        TYPE_MESSAGE => {
            if len > MAX_MESSAGE {
                return Err(FrameError::TooLarge {
                    kind: "message",
                    len,
                    limit: MAX_MESSAGE,
                });
            }
            Header::Message(len)
        }
        TYPE_DATA => {
            if len == 0 {
                return Err(FrameError::EmptyData);
            }
            if len > MAX_DATA {
                return Err(FrameError::TooLarge {
                    kind: "data",
                    len,
                    limit: MAX_DATA,
                });
            }
            Header::Data(len)
        }
        TYPE_END => {
            if len != 1 {
                return Err(FrameError::BadEnd(format!("payload length {len}, expected 1")));
            }
            Header::End
        }
        other => return Err(FrameError::UnknownType(other)),
    };
    Ok(Some(header))
}

/// Reads exactly `len` bytes into a fresh vector, growing it only as bytes actually arrive.
fn read_payload<R: Read>(r: &mut R, len: u32) -> Result<Vec<u8>, FrameError> {
    let mut buf = Vec::new();
    r.take(u64::from(len)).read_to_end(&mut buf)?;
    if buf.len() != len as usize {
        return Err(FrameError::Truncated {
            expected: len as usize,
            got: buf.len(),
        });
    }
    Ok(buf)
}

fn read_end_payload<R: Read>(r: &mut R) -> Result<bool, FrameError> {
    let mut b = [0u8; 1];
    if fill(r, &mut b)? != 1 {
        return Err(FrameError::Truncated { expected: 1, got: 0 });
    }
    match b[0] {
        0 => Ok(false),
        1 => Ok(true),
        other => Err(FrameError::BadEnd(format!(
            "status byte {other}, expected 0 (complete) or 1 (aborted)"
        ))),
    }
}

fn read_envelope<R: Read>(r: &mut R, len: u32) -> Result<Envelope, FrameError> {
    let payload = read_payload(r, len)?;
    match crate::agent::wire::limits::decoded_cost(&payload, crate::agent::wire::limits::MAX_DECODED) {
        Ok(_) => {}
        Err(e @ crate::agent::wire::limits::CostError::TooCostly { .. }) => {
            return Err(FrameError::TooManyElements(e.to_string()))
        }
        Err(crate::agent::wire::limits::CostError::Malformed(m)) => return Err(FrameError::Decode(m)),
    }
    Envelope::decode(payload.as_slice()).map_err(|e| FrameError::Decode(e.to_string()))
}

/// Reads the next frame of any type; `Ok(None)` on EOF exactly at a frame boundary.
pub fn read_frame<R: Read>(r: &mut R) -> Result<Option<Frame>, FrameError> {
    let frame = match read_header(r)? {
        None => return Ok(None),
        Some(Header::Message(len)) => Frame::Message(read_envelope(r, len)?),
        Some(Header::Data(len)) => Frame::Data(read_payload(r, len)?),
        Some(Header::End) => Frame::End {
            aborted: read_end_payload(r)?,
        },
    };
    Ok(Some(frame))
}

/// Reads the header of the next frame of a data stream, and the whole frame unless it is DATA: on
/// [`DataFrame::Data`]`(len)` the next `len` bytes of `r` are the payload, for the caller to move (see
/// [`crate::agent::wire::splice::move_exact`]). A MESSAGE frame is returned as [`DataFrame::Message`] for the caller to
/// judge; EOF (even at a frame boundary) is an error, because a data stream must end with an END frame.
pub fn read_data_header<R: Read>(r: &mut R) -> Result<DataFrame, FrameError> {
    match read_header(r)? {
        None => Err(FrameError::UnexpectedFrame {
            expected: "a data or end frame",
            got: "end of input".to_string(),
        }),
        Some(Header::Message(len)) => Ok(DataFrame::Message(read_envelope(r, len)?)),
        Some(Header::End) => Ok(DataFrame::End {
            aborted: read_end_payload(r)?,
        }),
        Some(Header::Data(len)) => Ok(DataFrame::Data(len as usize)),
    }
}

/// Reads one frame of a data stream, reusing `buf` for DATA payloads so the data path does not allocate
/// per frame (once `buf` has grown to the frame size, same-sized frames neither allocate nor re-zero).
///
/// On [`DataFrame::Data`], `buf` holds exactly the payload. Otherwise as [`read_data_header`].
pub fn read_data_into<R: Read>(r: &mut R, buf: &mut Vec<u8>) -> Result<DataFrame, FrameError> {
    let frame = read_data_header(r)?;
    if let DataFrame::Data(len) = frame {
        buf.resize(len, 0);
        let got = fill(r, buf)?;
        if got != len {
            buf.truncate(got);
            return Err(FrameError::Truncated { expected: len, got });
        }
    }
    Ok(frame)
}

/// Reads the next frame, which must be a MESSAGE; EOF at a frame boundary is `Ok(None)`.
///
/// A DATA or END frame is [`FrameError::UnexpectedFrame`] (its payload is not read).
pub fn read_message<R: Read>(r: &mut R) -> Result<Option<Envelope>, FrameError> {
    match read_header(r)? {
        None => Ok(None),
        Some(Header::Message(len)) => Ok(Some(read_envelope(r, len)?)),
        Some(Header::Data(len)) => Err(FrameError::UnexpectedFrame {
            expected: "a message frame",
            got: format!("a data frame of {len} bytes"),
        }),
        Some(Header::End) => Err(FrameError::UnexpectedFrame {
            expected: "a message frame",
            got: "an end frame".to_string(),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::agent::wire::proto::{self, envelope::Body};

    fn all_messages() -> Vec<Envelope> {
        let bodies: Vec<Body> = vec![
            proto::Hello {
                protocol_version: proto::PROTOCOL_VERSION,
                software_version: "0.1.0".into(),
                compression: vec!["zstd".into(), "lz4".into()],
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
        assert_eq!(err.kind(), "unexpected_frame");
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
            assert_eq!(e.kind(), "unknown_frame_type");
        }
    }

    #[test]
    fn oversize_frames() {
        let e = frame_err(&[1, 0xff, 0xff, 0xff, 0xff]);
        assert_eq!(
            e.to_string(),
            "frame too large: 4294967295 bytes for a message frame (limit 16777216)"
        );
        assert_eq!(e.kind(), "frame_too_large");
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
        assert_eq!(read_data_into(&mut r, &mut buf).unwrap_err().kind(), "frame_too_large");
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
        assert_eq!(e.kind(), "empty_data_frame");
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
            assert_eq!(e.kind(), "bad_end_frame");
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
            assert_eq!(e.kind(), "truncated_frame");
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
            assert_eq!(e.kind(), "undecodable_message");
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
        assert_eq!(e.kind(), "unexpected_frame");
        assert!(e.to_string().contains("data frame of 1 bytes"), "{e}");
        let mut wire = Vec::new();
        write_end(&mut wire, false).unwrap();
        assert_eq!(
            read_message(&mut wire.as_slice()).unwrap_err().kind(),
            "unexpected_frame"
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
}
