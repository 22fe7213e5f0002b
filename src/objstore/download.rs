//! Reading a stream object back: part by part (one part in memory), each part checked against the SHA-256
//! its manifest records before a byte of it is handed on, and the whole object against its size and
//! SHA-256 at the end. A store that serves other bytes (bit rot, a hostile writer, a truncated object) is
//! caught before `zfs receive` sees them.

use std::io::{self, Read};

use sha2::{Digest, Sha256};

use super::manifest::{part_size, StreamObject};
use crate::error::{ErrorKind, Failure};

/// The verified bytes of one object, read from `inner` (the object's bytes from its start).
pub struct VerifiedReader<'a> {
    inner: Box<dyn Read + Send + 'a>,
    object: &'a StreamObject,
    /// The next part's number (from 1).
    next: usize,
    buf: Vec<u8>,
    at: usize,
    whole: Sha256,
    read: u64,
}

fn corrupt(object: &StreamObject, why: String) -> io::Error {
    io::Error::other(Failure::new(
        ErrorKind::StoreCorrupt,
        format!("{}: {why}; nothing of this part reached zfs receive", object.key),
    ))
}

impl<'a> VerifiedReader<'a> {
    pub fn new(inner: Box<dyn Read + Send + 'a>, object: &'a StreamObject) -> Self {
        VerifiedReader {
            inner,
            object,
            next: 1,
            buf: Vec::new(),
            at: 0,
            whole: Sha256::new(),
            read: 0,
        }
    }

    /// Reads and checks the next part; false when the object is done (and checked whole).
    fn fill(&mut self) -> io::Result<bool> {
        let o = self.object;
        if self.next > o.parts.len() {
            let sha = format!("{:x}", self.whole.clone().finalize());
            if self.read != o.size || sha != o.sha256 {
                return Err(corrupt(
                    o,
                    format!("{} bytes with SHA-256 {sha}, not the manifest's", self.read),
                ));
            }
            let mut extra = [0u8; 1];
            if self.inner.read(&mut extra)? != 0 {
                return Err(corrupt(o, format!("more than the manifest's {} bytes", o.size)));
            }
            return Ok(false);
        }
        let want = (o.size - self.read).min(part_size(self.next) as u64);
        self.buf.clear();
        (&mut self.inner).take(want).read_to_end(&mut self.buf)?;
        if self.buf.len() as u64 != want {
            return Err(corrupt(
                o,
                format!("part {} ends after {} of {want} bytes", self.next, self.buf.len()),
            ));
        }
        let sha = format!("{:x}", Sha256::digest(&self.buf));
        if sha != o.parts[self.next - 1] {
            return Err(corrupt(
                o,
                format!("part {} has SHA-256 {sha}, not the manifest's", self.next),
            ));
        }
        self.whole.update(&self.buf);
        self.read += want;
        self.next += 1;
        self.at = 0;
        Ok(true)
    }
}

impl Read for VerifiedReader<'_> {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        while self.at == self.buf.len() {
            if !self.fill()? {
                return Ok(0);
            }
        }
        let n = out.len().min(self.buf.len() - self.at);
        out[..n].copy_from_slice(&self.buf[self.at..self.at + n]);
        self.at += n;
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::objstore::manifest::{Encryption, SnapshotRef};
    use crate::zfs::Guid;

    fn object_of(bytes: &[u8]) -> StreamObject {
        let parts = bytes
            .chunks(part_size(1))
            .map(|c| format!("{:x}", Sha256::digest(c)))
            .collect();
        StreamObject {
            key: "p/@zreplrs/streams/1-full.zfs".into(),
            from: None,
            to: SnapshotRef {
                name: "s1".into(),
                guid: Guid(1),
                createtxg: 1,
                creation: 0,
            },
            intermediates: Vec::new(),
            flags: Vec::new(),
            encryption: Encryption::None,
            size: bytes.len() as u64,
            sha256: format!("{:x}", Sha256::digest(bytes)),
            parts,
            uploaded_at: 0,
        }
    }

    fn read_all(data: Vec<u8>, o: &StreamObject) -> Result<Vec<u8>, String> {
        let mut out = Vec::new();
        VerifiedReader::new(Box::new(io::Cursor::new(data)), o)
            .read_to_end(&mut out)
            .map(|_| out)
            .map_err(|e| e.to_string())
    }

    #[test]
    fn the_object_as_written_reads_back() {
        let data: Vec<u8> = (0..(part_size(1) + 1000)).map(|i| (i % 251) as u8).collect();
        let o = object_of(&data);
        assert_eq!(o.parts.len(), 2);
        assert_eq!(read_all(data.clone(), &o).unwrap(), data);
    }

    #[test]
    fn a_changed_truncated_or_longer_object_is_refused() {
        let data: Vec<u8> = (0..(part_size(1) + 1000)).map(|i| (i % 251) as u8).collect();
        let o = object_of(&data);
        let mut changed = data.clone();
        changed[part_size(1) + 5] ^= 1;
        assert!(read_all(changed, &o).unwrap_err().contains("part 2 has SHA-256"));
        let mut first = data.clone();
        first[0] ^= 1;
        assert!(read_all(first, &o).unwrap_err().contains("part 1 has SHA-256"));
        assert!(read_all(data[..data.len() - 1].to_vec(), &o)
            .unwrap_err()
            .contains("ends after"));
        let mut longer = data.clone();
        longer.push(0);
        assert!(read_all(longer, &o).unwrap_err().contains("more than the manifest's"));
    }
}
