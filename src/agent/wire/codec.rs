//! Compression of stream chunks in transit: with `zstd` negotiated, every DATA frame of a stream carries one
//! complete zstd frame holding one chunk of the `zfs send` stream. Chunks are independent, so a stream cut
//! anywhere resumes without codec state, and each one decompresses into a buffer of at most
//! [`MAX_DATA`](crate::agent::wire::frame::MAX_DATA) bytes: a peer's frame that claims or produces more is an error, never a
//! larger allocation.

use crate::error::Failure;
use zstd::bulk::{Compressor, Decompressor};
use zstd::zstd_safe::DParameter;

use crate::agent::wire::frame::MAX_DATA;

/// The name of the zstd codec in the handshake and in requests.
pub const ZSTD: &str = "zstd";

/// Codecs this build can undo, as offered in the handshake.
pub fn supported() -> Vec<String> {
    vec![ZSTD.to_string()]
}

/// Why a request's codec cannot be served.
fn unknown(name: &str) -> String {
    format!(
        "unknown stream compression \"{}\"; this zreplrs offers zstd",
        crate::agent::wire::text::printable(name.as_bytes())
    )
}

/// The compressor a request names: none for "", zstd at `level` (0: [`crate::config::DEFAULT_ZSTD_LEVEL`];
/// otherwise within [`crate::config::ZSTD_LEVELS`]) but never above `max` (the agent's own command line:
/// a peer cannot make this host spend more CPU), else why not.
pub fn packer_for(name: &str, level: i32, max: i32) -> Result<Option<Packer>, Failure> {
    match name {
        "" => Ok(None),
        ZSTD => {
            let level = match level {
                0 => crate::config::DEFAULT_ZSTD_LEVEL,
                l if crate::config::ZSTD_LEVELS.contains(&l) => l,
                l => return Err(Failure::compression(format!("zstd level {l} is not within 1..=19"))),
            };
            Packer::new(level.min(max)).map(Some)
        }
        other => Err(Failure::compression(unknown(other))),
    }
}

/// The decompressor a request names: none for "", zstd, else why not.
pub fn unpacker_for(name: &str) -> Result<Option<Unpacker>, Failure> {
    match name {
        "" => Ok(None),
        ZSTD => Unpacker::new().map(Some),
        other => Err(Failure::compression(unknown(other))),
    }
}

/// Compresses chunks at one level.
pub struct Packer {
    zstd: Compressor<'static>,
    out: Vec<u8>,
    level: i32,
}

impl Packer {
    pub fn new(level: i32) -> Result<Self, Failure> {
        let zstd = Compressor::new(level)
            .map_err(|e| Failure::compression(format!("cannot start zstd at level {level}: {e}")))?;
        Ok(Packer {
            zstd,
            out: Vec::new(),
            level,
        })
    }

    /// The zstd level it compresses at.
    pub fn level(&self) -> i32 {
        self.level
    }

    /// The compressed form of `chunk` (one zstd frame).
    pub fn pack(&mut self, chunk: &[u8]) -> Result<&[u8], Failure> {
        let bound = zstd::zstd_safe::compress_bound(chunk.len());
        self.out.clear();
        self.out.reserve(bound);
        self.zstd
            .compress_to_buffer(chunk, &mut self.out)
            .map_err(|e| Failure::compression(format!("zstd compression failed: {e}")))?;
        Ok(&self.out)
    }
}

/// Decompresses chunks a peer sent, each into at most [`MAX_DATA`] bytes.
pub struct Unpacker {
    zstd: Decompressor<'static>,
    out: Vec<u8>,
}

impl Unpacker {
    pub fn new() -> Result<Self, Failure> {
        let mut zstd = Decompressor::new().map_err(|e| Failure::compression(format!("cannot start zstd: {e}")))?;
        // Chunks are at most MAX_DATA (4 MiB = 2^22) bytes: no frame needs a larger window.
        zstd.set_parameter(DParameter::WindowLogMax(22))
            .map_err(|e| Failure::compression(format!("cannot configure zstd: {e}")))?;
        Ok(Unpacker {
            zstd,
            out: vec![0; MAX_DATA as usize],
        })
    }

    /// The chunk that `frame` (one zstd frame) holds; more than [`MAX_DATA`] bytes, or anything that is not
    /// a valid zstd frame, is an error.
    pub fn unpack(&mut self, frame: &[u8]) -> Result<&[u8], Failure> {
        if frame.is_empty() {
            return Err(Failure::compression("an empty compressed chunk"));
        }
        // A slice is a buffer of exactly its length: decompression cannot write (or allocate) past it.
        match self.zstd.decompress_to_buffer(frame, &mut self.out[..]) {
            Ok(n) => Ok(&self.out[..n]),
            Err(e) => Err(Failure::compression(format!(
                "a compressed chunk is not valid zstd data or holds more than {MAX_DATA} bytes: {e}"
            ))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(len: usize) -> Vec<u8> {
        let line = b"2026-12-03 12:00:00 INFO request served path=/index.html status=200 bytes=5120\n";
        line.iter().copied().cycle().take(len).collect()
    }

    #[test]
    fn chunks_round_trip_and_text_shrinks() {
        let mut p = Packer::new(3).expect("packer");
        let mut u = Unpacker::new().expect("unpacker");
        for data in [
            text(1 << 20),
            text(1),
            (0..=255u8).cycle().take(65536).collect::<Vec<u8>>(),
        ] {
            let packed = p.pack(&data).expect("pack").to_vec();
            assert_eq!(u.unpack(&packed).expect("unpack"), &data[..]);
        }
        let big = text(1 << 20);
        assert!(p.pack(&big).expect("pack").len() < big.len() / 10);
    }

    #[test]
    fn a_frame_that_expands_past_the_bound_is_refused() {
        // 8 MiB of zeros compress to a few hundred bytes: a bomb for a receiver that trusts the frame.
        let bomb = zstd::bulk::compress(&vec![0u8; 2 * MAX_DATA as usize], 19).expect("compress");
        assert!(bomb.len() < 4096);
        let mut u = Unpacker::new().expect("unpacker");
        let e = u.unpack(&bomb).unwrap_err();
        assert!(e.message.contains("more than"), "{e}");
        assert_eq!(u.out.len(), MAX_DATA as usize, "no larger buffer");
        // Exactly the bound is fine.
        let full = zstd::bulk::compress(&vec![7u8; MAX_DATA as usize], 1).expect("compress");
        assert_eq!(u.unpack(&full).expect("unpack").len(), MAX_DATA as usize);
    }

    #[test]
    fn garbage_is_an_error() {
        let mut u = Unpacker::new().expect("unpacker");
        assert!(u.unpack(b"not zstd at all").is_err());
        assert!(u.unpack(&[]).is_err());
        let mut p = Packer::new(1).expect("packer");
        let packed = p.pack(&text(10000)).expect("pack").to_vec();
        assert!(u.unpack(&packed[..packed.len() / 2]).is_err(), "a truncated frame");
        assert!(unpacker_for("").expect("none").is_none() && unpacker_for("zstd").expect("zstd").is_some());
        for bad in ["lz4", "ZSTD"] {
            assert!(
                unpacker_for(bad)
                    .err()
                    .expect("refused")
                    .message
                    .contains("unknown stream compression"),
                "{bad}"
            );
        }
    }
}
