//! One stream object, uploaded as it is produced: multipart, with at most two parts in memory (one being
//! filled from the stream while the one before it is sent by a second thread: bounded memory whatever the
//! stream's size, and the stream keeps flowing while the store stores), hashed with SHA-256 on the way,
//! optionally encrypted to `age` recipients first. A run killed mid-upload leaves the upload and a marker
//! naming it; the next upload of the same object lists the parts the store has, re-reads the stream up to
//! their end and checks each skipped part against its ETag (the part's MD5) instead of sending it again,
//! and carries on from there. A part that does not match aborts the upload, so the next try starts over.

use std::io::{self, Read, Write};
use std::sync::mpsc::{self, Receiver, SyncSender};

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

/// Where an upload goes: the object, its upload, and the parts the store has from an earlier try.
pub struct Target<'a> {
    pub s3: &'a S3,
    pub key: &'a str,
    pub upload_id: &'a str,
    pub existing: Parts,
}

/// Why an upload stopped.
#[derive(Debug)]
pub enum Stop {
    /// The stream's producer failed (checked before the last part goes): nothing is committed.
    Source(Failure),
    /// The store, or reading the stream.
    Store(Failure),
}

/// A part on its way to the sending thread, and what comes back.
type Outgoing = (u16, Vec<u8>);
type Sent = Result<(u16, String, Vec<u8>), Failure>;

/// Uploads `source` (through an `age` encryptor to `recipients` when there are any) to `t`. `whole` is asked
/// once the source ended, before its last part goes: a stream cut short is never completed. `on_part` sees
/// the bytes handed on so far. Returns the parts' ETags in order and what was stored.
pub fn upload(
    t: Target<'_>,
    source: &mut dyn Read,
    recipients: &[age::x25519::Recipient],
    on_part: &mut dyn FnMut(u64),
    whole: &mut dyn FnMut() -> Result<(), Failure>,
) -> Result<(Vec<String>, Uploaded), Stop> {
    let (s3, key, upload_id) = (t.s3, t.key, t.upload_id);
    std::thread::scope(|scope| {
        let (to_send, outgoing) = mpsc::sync_channel::<Outgoing>(0);
        let (sent_tx, sent) = mpsc::channel::<Sent>();
        scope.spawn(move || {
            for (n, buf) in outgoing {
                let r = s3.upload_part(key, upload_id, n, &buf).map(|etag| (n, etag, buf));
                let failed = r.is_err();
                if sent_tx.send(r).is_err() || failed {
                    break;
                }
            }
        });
        let sink = PartSink::new(&t, to_send, sent, on_part);
        let sink = copy(source, sink, recipients).map_err(Stop::Store)?;
        whole().map_err(Stop::Source)?;
        sink.finish().map_err(Stop::Store)
    })
}

/// Cuts what is written into parts; checks those the store has and hands the others to the sending thread.
struct PartSink<'a> {
    s3: &'a S3,
    key: &'a str,
    upload_id: &'a str,
    existing: Parts,
    to_send: Option<SyncSender<Outgoing>>,
    sent: Receiver<Sent>,
    /// ETag per part, by number - 1 (`None`: still being sent).
    etags: Vec<Option<String>>,
    buf: Vec<u8>,
    /// A buffer back from the sending thread, for the next part.
    spare: Option<Vec<u8>>,
    sha: Sha256,
    part_sha: Vec<String>,
    size: u64,
    resumed: u64,
    on_part: &'a mut dyn FnMut(u64),
}

impl<'a> PartSink<'a> {
    fn new(
        t: &Target<'a>,
        to_send: SyncSender<Outgoing>,
        sent: Receiver<Sent>,
        on_part: &'a mut dyn FnMut(u64),
    ) -> Self {
        PartSink {
            s3: t.s3,
            key: t.key,
            upload_id: t.upload_id,
            existing: t.existing.clone(),
            to_send: Some(to_send),
            sent,
            etags: Vec::new(),
            buf: Vec::with_capacity(part_size(1)),
            spare: None,
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

    /// Takes in what the sending thread finished; `wait` blocks for one result.
    fn collect(&mut self, wait: bool) -> Result<(), Failure> {
        let next = match wait {
            true => self.sent.recv().ok(),
            false => self.sent.try_recv().ok(),
        };
        if let Some(r) = next {
            let (n, etag, mut buf) = r?;
            self.etags[usize::from(n) - 1] = Some(etag);
            buf.clear();
            self.spare = Some(buf);
        }
        Ok(())
    }

    /// The buffered part: checked against the store's part of that number, or handed to the sending thread.
    fn flush_part(&mut self) -> Result<(), Failure> {
        let n = self.number()?;
        let len = self.buf.len() as u64;
        self.part_sha.push(format!("{:x}", Sha256::digest(&self.buf)));
        match self.existing.get(usize::from(n) - 1) {
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
                self.etags.push(Some(etag.clone()));
                self.buf.clear();
            }
            _ => {
                self.existing.clear();
                let part = std::mem::take(&mut self.buf);
                self.etags.push(None);
                let key = self.key;
                let lost = || Failure::new(ErrorKind::StoreUnavailable, format!("{key}: the upload stopped"));
                let sender = self.to_send.clone().ok_or_else(lost)?;
                if sender.send((n, part)).is_err() {
                    // The sending thread stopped at a failure: report it.
                    self.collect(true)?;
                    return Err(lost());
                }
                // The thread took this part, so it is done with the one before: that buffer is the next part's.
                if self.etags.iter().filter(|e| e.is_none()).count() > 1 {
                    self.collect(true)?;
                }
                self.buf = self
                    .spare
                    .take()
                    .unwrap_or_else(|| Vec::with_capacity(part_size(usize::from(n) + 1)));
            }
        }
        self.size += len;
        (self.on_part)(self.size);
        Ok(())
    }

    /// Sends the last part and waits for every part; returns their ETags and what was stored.
    fn finish(mut self) -> Result<(Vec<String>, Uploaded), Failure> {
        if !self.buf.is_empty() || self.etags.is_empty() {
            self.flush_part()?;
        }
        self.to_send = None;
        while self.etags.iter().any(Option::is_none) {
            let before = self.etags.iter().filter(|e| e.is_none()).count();
            self.collect(true)?;
            if self.etags.iter().filter(|e| e.is_none()).count() == before {
                return Err(Failure::new(
                    ErrorKind::StoreUnavailable,
                    format!("{}: the upload stopped before every part was sent", self.key),
                ));
            }
        }
        let etags = self.etags.into_iter().flatten().collect();
        let sha256 = format!("{:x}", self.sha.finalize());
        Ok((
            etags,
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
/// the sink back with its last part still unsent.
fn copy<'a>(
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
