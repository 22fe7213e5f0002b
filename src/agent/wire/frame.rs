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

use crate::error::ErrorKind;
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
    pub fn kind(&self) -> ErrorKind {
        match self {
            FrameError::Io(_) => ErrorKind::Io,
            FrameError::UnknownType(_) => ErrorKind::UnknownFrameType,
            FrameError::TooLarge { .. } => ErrorKind::FrameTooLarge,
            FrameError::EmptyData => ErrorKind::EmptyDataFrame,
            FrameError::BadEnd(_) => ErrorKind::BadEndFrame,
            FrameError::Truncated { .. } => ErrorKind::TruncatedFrame,
            FrameError::Decode(_) => ErrorKind::UndecodableMessage,
            FrameError::TooManyElements(_) => ErrorKind::TooManyElements,
            FrameError::UnexpectedFrame { .. } => ErrorKind::UnexpectedFrame,
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
mod tests;
