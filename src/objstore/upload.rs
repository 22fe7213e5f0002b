//! One stream object, uploaded as it is produced: multipart, with one part in memory at a time (bounded
//! memory whatever the stream's size), hashed with SHA-256 on the way, optionally encrypted to `age`
//! recipients first. A run killed mid-upload leaves the upload and a marker naming it; the next upload of the
//! same object lists the parts the store has, re-reads the stream up to their end and checks each skipped
//! part against its ETag (the part's MD5) instead of sending it again, and carries on from there.

use std::io::{self, Read, Write};

use sha2::Digest as _;
use sha2::Sha256;

use super::manifest::part_size;
use super::s3::S3;
use crate::error::{ErrorKind, Failure};

/// Most parts of one upload.
const MAX_PARTS: u16 = 10_000;

/// What was stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Uploaded {
    /// Bytes of the object as stored.
    pub size: u64,
    pub sha256: String,
    /// Of them, bytes found uploaded already (a resumed upload).
    pub resumed: u64,
    /// SHA-256 of each part.
    pub parts: Vec<String>,
}

pub use super::s3::Parts;

/// Cuts what is written into parts and uploads them.
pub struct PartSink<'a> {
    s3: &'a S3,
    key: &'a str,
    upload_id: &'a str,
    /// Parts the store has from an earlier try, checked instead of uploaded.
    existing: Parts,
    etags: Vec<String>,
    buf: Vec<u8>,
    sha: Sha256,
    part_sha: Vec<String>,
    size: u64,
    resumed: u64,
    on_part: &'a mut dyn FnMut(u64),
}

impl<'a> PartSink<'a> {
    pub fn new(s3: &'a S3, key: &'a str, upload_id: &'a str, existing: Parts, on_part: &'a mut dyn FnMut(u64)) -> Self {
        PartSink {
            s3,
            key,
            upload_id,
            existing,
            etags: Vec::new(),
            buf: Vec::with_capacity(part_size(1)),
            sha: Sha256::new(),
            part_sha: Vec::new(),
            size: 0,
            resumed: 0,
            on_part,
        }
    }

    fn number(&self) -> Result<u16, Failure> {
        u16::try_from(self.etags.len() + 1)
            .ok()
            .filter(|n| *n <= MAX_PARTS)
            .ok_or_else(|| Failure::new(ErrorKind::Store, format!("{}: more than {MAX_PARTS} parts", self.key)))
    }

    /// Sends the buffered part (or checks it against the part the store has).
    fn flush_part(&mut self) -> Result<(), Failure> {
        let n = self.number()?;
        let len = self.buf.len() as u64;
        self.part_sha.push(format!("{:x}", Sha256::digest(&self.buf)));
        let etag = match self.existing.get(usize::from(n) - 1) {
            Some((number, etag, size)) if *number == n && *size == len => {
                let md5 = format!("{:x}", md5::Md5::digest(&self.buf));
                if etag.trim_matches('"') != md5 {
                    // Gone, so that the next try starts from the first part.
                    self.s3.abort_multipart(self.key, self.upload_id)?;
                    return Err(Failure::new(
                        ErrorKind::StoreUnavailable,
                        format!(
                            "{}: part {n} in the store is not what the stream has now: the upload starts again",
                            self.key
                        ),
                    ));
                }
                self.resumed += len;
                etag.clone()
            }
            _ => {
                self.existing.clear();
                self.s3.upload_part(self.key, self.upload_id, n, &self.buf)?
            }
        };
        self.etags.push(etag);
        self.size += len;
        (self.on_part)(self.size);
        self.buf.clear();
        Ok(())
    }

    /// Sends the last part; returns the parts' ETags and what was stored.
    pub fn finish(mut self) -> Result<(Vec<String>, Uploaded), Failure> {
        if !self.buf.is_empty() || self.etags.is_empty() {
            self.flush_part()?;
        }
        let sha256 = format!("{:x}", self.sha.finalize());
        Ok((
            self.etags,
            Uploaded {
                size: self.size,
                sha256,
                resumed: self.resumed,
                parts: self.part_sha,
            },
        ))
    }
}

impl Write for PartSink<'_> {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        let want = part_size(usize::from(self.number().map_err(io::Error::other)?));
        let n = data.len().min(want - self.buf.len());
        self.buf.extend_from_slice(&data[..n]);
        self.sha.update(&data[..n]);
        if self.buf.len() == want {
            self.flush_part().map_err(io::Error::other)?;
        }
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// The [`Failure`] inside an I/O error from a [`PartSink`], or the I/O error as one.
pub fn failure(e: io::Error, what: &str) -> Failure {
    match e.get_ref().and_then(|inner| inner.downcast_ref::<Failure>()) {
        Some(f) => f.clone(),
        None => Failure::new(ErrorKind::Io, format!("{what}: {e}")),
    }
}

/// Copies `source` into `sink` (through an `age` encryptor to `recipients` when there are any) and hands
/// the sink back with its last part still unsent: [`PartSink::finish`] sends it once the caller knows the
/// stream is whole.
pub fn copy<'a>(
    source: &mut dyn Read,
    sink: PartSink<'a>,
    recipients: &[age::x25519::Recipient],
) -> Result<PartSink<'a>, Failure> {
    let what = "uploading the stream";
    if recipients.is_empty() {
        let mut sink = sink;
        io::copy(source, &mut sink).map_err(|e| failure(e, what))?;
        return Ok(sink);
    }
    let boxed = recipients.iter().map(|r| r as &dyn age::Recipient);
    let encryptor =
        age::Encryptor::with_recipients(boxed).map_err(|e| Failure::new(ErrorKind::Store, format!("age: {e}")))?;
    let mut writer = encryptor.wrap_output(sink).map_err(|e| failure(e, what))?;
    io::copy(source, &mut writer).map_err(|e| failure(e, what))?;
    writer.finish().map_err(|e| failure(e, what))
}
