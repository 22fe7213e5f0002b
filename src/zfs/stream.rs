//! Checks a `zfs send` stream record by record before `zfs receive` sees it (the receiving side of a peer
//! it does not trust). Pure: bytes in, the same bytes out, a record header only once it was checked.
//!
//! A stream is a sequence of 312-byte records (`dmu_replay_record_t`), some followed by a payload whose
//! length the record says. Two shapes are accepted, the ones zreplrs's own `zfs send` writes:
//!
//! * a **plain stream** (`DMU_SUBSTREAM`): one BEGIN, its records, one END — a full or `-i` send, a
//!   resumed send (`-t`);
//! * a **package** (`DMU_COMPOUNDSTREAM`), as `zfs send -I` (and `-p`/`-b`) write it: a BEGIN whose payload
//!   is empty or an nvlist that says `not_recursive`, an END, then plain streams of that one filesystem whose
//!   GUIDs form one chain from the request's base to its `to`, then a final END.
//!
//! Everything else is refused before ZFS acts on it: a recursive package (`zfs send -R`, whose receive
//! renames and destroys by GUID), a package whose streams name another filesystem (ZFS then looks the base
//! up by GUID anywhere in the pool), a clone stream, a GUID or raw/resume flag other than the request's,
//! holds or dedup in the stream, unknown record types and oversized payloads.

use std::io::Write;

/// Size of one record.
pub const RECORD_LEN: usize = 312;
/// `DMU_BACKUP_MAGIC`.
const MAGIC: u64 = 0x2_F5BA_CBAC;
const SUBSTREAM: u64 = 1;
const COMPOUND: u64 = 2;

const FEATURE_DEDUP: u64 = 1 << 0;
const FEATURE_DEDUPPROPS: u64 = 1 << 1;
const FEATURE_RESUMING: u64 = 1 << 20;
const FEATURE_RAW: u64 = 1 << 24;
const FEATURE_HOLDS: u64 = 1 << 26;
/// Feature bits OpenZFS 2.1–2.4 know (`DMU_BACKUP_FEATURE_MASK`) minus dedup, which receive no longer takes.
const FEATURES_KNOWN: u64 = (1 << 2) | (0xFF << 16) | (0x3F << 24);
/// `DRR_FLAG_CLONE`: the stream's base is looked up by GUID anywhere in the pool.
const FLAG_CLONE: u32 = 1;

const DRR_BEGIN: u32 = 0;
const DRR_OBJECT: u32 = 1;
const DRR_FREEOBJECTS: u32 = 2;
const DRR_WRITE: u32 = 3;
const DRR_FREE: u32 = 4;
const DRR_END: u32 = 5;
const DRR_WRITE_BYREF: u32 = 6;
const DRR_SPILL: u32 = 7;
const DRR_WRITE_EMBEDDED: u32 = 8;
const DRR_OBJECT_RANGE: u32 = 9;
const DRR_REDACT: u32 = 10;

/// `DMU_OST_ZFS` and `DMU_OST_ZVOL`.
const OST_ZFS: u32 = 2;
const OST_ZVOL: u32 = 3;

/// Largest payload of a data record (`SPA_MAXBLOCKSIZE`, 16 MiB).
pub const MAX_RECORD_PAYLOAD: u64 = 16 << 20;
/// Largest BEGIN payload (a package's nvlist, a resumed or raw stream's nvlist).
pub const MAX_BEGIN_PAYLOAD: u64 = 16 << 20;
/// Most plain streams in one package (one per snapshot of an `-I` send).
pub const MAX_SUBSTREAMS: u32 = 100_000;

/// The names a package's nvlist may have (`send_prelim_records`).
const PACKAGE_NAMES: [&str; 5] = ["fromsnap", "tosnap", "not_recursive", "raw", "fss"];

/// What the receiving side asked for: the stream must carry exactly this.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Expected {
    /// The base snapshot's GUID; `None` for a full stream.
    pub from_guid: Option<u64>,
    /// The GUID of the snapshot the stream ends with.
    pub to_guid: u64,
    /// A raw stream (`zfs send -w`).
    pub raw: bool,
    /// A resumed stream (`zfs send -t`).
    pub resuming: bool,
}

/// The kind of dataset a stream carries, from its first plain stream's BEGIN.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DatasetKind {
    Filesystem,
    Volume,
}

/// Why a stream is refused. Every variant means: nothing past the offending record reached ZFS.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StreamError {
    #[error("not a ZFS send stream (no BEGIN record with the backup magic)")]
    NotAStream,
    #[error("a recursive package (zfs send -R) is refused: its receive renames and destroys datasets by GUID")]
    Recursive,
    #[error("the package header has an nvlist this receiver does not accept: {0}")]
    BadPackage(String),
    #[error("the stream carries {0}, which this receiver refuses")]
    Feature(&'static str),
    #[error("the stream has unknown feature flags {0:#x}")]
    UnknownFeatures(u64),
    #[error("the stream is a clone stream (its base is looked up by GUID anywhere in the pool)")]
    Clone,
    #[error("the stream's {what} GUID is {got}, the request said {want}")]
    Guid { what: &'static str, got: u64, want: u64 },
    #[error("the stream's {what} flag is {got}, the request said {want}")]
    Flag { what: &'static str, got: bool, want: bool },
    #[error("the package's stream for {got:?} is not of the package's filesystem {want:?}")]
    OtherFilesystem { got: String, want: String },
    #[error("the stream carries a dataset of objset type {0}, neither a filesystem nor a volume")]
    ObjsetType(u32),
    #[error("record {0} is not valid at this point of the stream")]
    UnexpectedRecord(u32),
    #[error("a record announces a payload of {0} bytes, more than a stream has")]
    Oversized(u64),
    #[error("the stream has data after its last END record")]
    Trailing,
    #[error("the package holds more than {MAX_SUBSTREAMS} streams")]
    TooManyStreams,
    #[error("the stream ended before its last END record")]
    Incomplete,
}

impl StreamError {
    /// The error kind on the wire.
    pub const KIND: crate::error::ErrorKind = crate::error::ErrorKind::BadStream;
}

/// Where in the stream the checker is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Before the first record.
    Start,
    /// After a package's BEGIN: its END comes next.
    PackageEnd,
    /// In a package, between plain streams: a BEGIN or the final END.
    Between,
    /// Inside a plain stream (`in_package` says whether one of a package).
    Inside { in_package: bool },
    /// After the last END.
    Done,
}

/// Failure of [`StreamCheck::pass`].
#[derive(Debug)]
pub enum PassError {
    /// The stream is refused.
    Stream(StreamError),
    /// Writing to the receiver failed.
    Output(std::io::Error),
}

/// Checks one stream as it passes; see the module documentation.
pub struct StreamCheck {
    expected: Expected,
    state: State,
    record: [u8; RECORD_LEN],
    have: usize,
    /// Payload bytes of the current record still to pass.
    payload_left: u64,
    /// A package BEGIN and its nvlist, held back until the nvlist was checked.
    held: Option<Vec<u8>>,
    swap: bool,
    /// The filesystem part of the package's name (`pool/fs` of `pool/fs@snap`).
    package_fs: Option<String>,
    /// The GUID the next plain stream of a package must start from (0: a full stream).
    next_from: u64,
    streams: u32,
    kind: Option<DatasetKind>,
    /// The payload being passed is a BEGIN record's.
    in_begin_payload: bool,
}

impl StreamCheck {
    pub fn new(expected: Expected) -> Self {
        StreamCheck {
            expected,
            state: State::Start,
            record: [0; RECORD_LEN],
            have: 0,
            payload_left: 0,
            held: None,
            swap: false,
            package_fs: None,
            next_from: expected.from_guid.unwrap_or(0),
            streams: 0,
            kind: None,
            in_begin_payload: false,
        }
    }

    /// The dataset kind, once the first plain stream's BEGIN was checked.
    pub fn kind(&self) -> Option<DatasetKind> {
        self.kind
    }

    /// True once a plain (non-package) stream's BEGIN and its payload passed: nothing that follows can
    /// change what `zfs receive` does with it, so the rest may bypass the checker (see [`Self::skip`]).
    pub fn only_data_follows(&self) -> bool {
        self.state == (State::Inside { in_package: false }) && !(self.in_begin_payload && self.payload_left > 0)
    }

    /// Tells the checker that the rest of a plain stream goes past it; returns the bytes of a record
    /// header it holds back, which go to the receiver first.
    pub fn skip(&mut self) -> Vec<u8> {
        if !self.only_data_follows() {
            return Vec::new();
        }
        self.state = State::Done;
        self.payload_left = 0;
        let pending = self.record[..self.have].to_vec();
        self.have = 0;
        pending
    }

    /// Checks the end of input: the stream must be complete.
    pub fn finish(&self) -> Result<(), StreamError> {
        match self.state {
            State::Done if self.have == 0 => Ok(()),
            _ => Err(StreamError::Incomplete),
        }
    }

    /// Passes `data` to `out`, writing each record header only once it was checked.
    pub fn pass<W: Write + ?Sized>(&mut self, mut data: &[u8], out: &mut W) -> Result<(), PassError> {
        while !data.is_empty() {
            if self.payload_left > 0 {
                let n = usize::try_from(self.payload_left).unwrap_or(usize::MAX).min(data.len());
                match self.held.as_mut() {
                    Some(held) => held.extend_from_slice(&data[..n]),
                    None => out.write_all(&data[..n]).map_err(PassError::Output)?,
                }
                self.payload_left -= n as u64;
                data = &data[n..];
                if self.payload_left == 0 {
                    self.in_begin_payload = false;
                    self.release_held(out)?;
                }
                continue;
            }
            if self.state == State::Done {
                return Err(PassError::Stream(StreamError::Trailing));
            }
            let n = (RECORD_LEN - self.have).min(data.len());
            self.record[self.have..self.have + n].copy_from_slice(&data[..n]);
            self.have += n;
            data = &data[n..];
            if self.have == RECORD_LEN {
                self.have = 0;
                let payload = self.check_record().map_err(PassError::Stream)?;
                self.payload_left = payload;
                self.in_begin_payload = self.u32_at(0) == DRR_BEGIN;
                match self.held.as_mut() {
                    Some(held) => held.extend_from_slice(&self.record),
                    None => out.write_all(&self.record).map_err(PassError::Output)?,
                }
                if payload == 0 {
                    self.release_held(out)?;
                }
            }
        }
        Ok(())
    }

    /// Writes a held package BEGIN once its nvlist is complete and acceptable.
    fn release_held<W: Write + ?Sized>(&mut self, out: &mut W) -> Result<(), PassError> {
        if let Some(held) = self.held.take() {
            check_package_nvlist(&held[RECORD_LEN..]).map_err(PassError::Stream)?;
            out.write_all(&held).map_err(PassError::Output)?;
        }
        Ok(())
    }

    fn u32_at(&self, at: usize) -> u32 {
        let b: [u8; 4] = self.record[at..at + 4].try_into().unwrap_or([0; 4]);
        if self.swap {
            u32::from_be_bytes(b)
        } else {
            u32::from_le_bytes(b)
        }
    }

    fn u64_at(&self, at: usize) -> u64 {
        let b: [u8; 8] = self.record[at..at + 8].try_into().unwrap_or([0; 8]);
        if self.swap {
            u64::from_be_bytes(b)
        } else {
            u64::from_le_bytes(b)
        }
    }

    /// The record's name field (`drr_toname`) up to its NUL.
    fn toname(&self) -> String {
        let raw = &self.record[56..RECORD_LEN];
        let end = raw.iter().position(|&b| b == 0).unwrap_or(raw.len());
        String::from_utf8_lossy(&raw[..end]).into_owned()
    }

    /// Checks the complete record in `self.record`; returns its payload length.
    fn check_record(&mut self) -> Result<u64, StreamError> {
        if self.state == State::Start {
            self.swap = match u64::from_le_bytes(self.record[8..16].try_into().unwrap_or([0; 8])) {
                MAGIC => false,
                m if m.swap_bytes() == MAGIC => true,
                _ => return Err(StreamError::NotAStream),
            };
        }
        let ty = self.u32_at(0);
        match (self.state, ty) {
            (State::Start, DRR_BEGIN) => self.first_begin(),
            (State::PackageEnd, DRR_END) => {
                self.state = State::Between;
                Ok(0)
            }
            (State::Between, DRR_BEGIN) => {
                self.streams += 1;
                if self.streams > MAX_SUBSTREAMS {
                    return Err(StreamError::TooManyStreams);
                }
                self.plain_begin(true)
            }
            (State::Between, DRR_END) => self.package_end(),
            (State::Inside { in_package }, DRR_END) => {
                self.state = if in_package { State::Between } else { State::Done };
                Ok(0)
            }
            (State::Inside { .. }, t) if t != DRR_BEGIN => self.data_payload(t),
            (_, t) => Err(StreamError::UnexpectedRecord(t)),
        }
    }

    /// The first BEGIN: a package header or a plain stream's BEGIN.
    fn first_begin(&mut self) -> Result<u64, StreamError> {
        if self.u64_at(8) != MAGIC {
            return Err(StreamError::NotAStream);
        }
        match self.u64_at(16) & 3 {
            COMPOUND => {
                check_features(self.u64_at(16) >> 2)?;
                let name = self.toname();
                let fs = name.split('@').next().unwrap_or_default().to_string();
                if !name.contains('@') || fs.is_empty() {
                    return Err(StreamError::NotAStream);
                }
                self.package_fs = Some(fs);
                self.state = State::PackageEnd;
                let payload = u64::from(self.u32_at(4));
                if payload > MAX_BEGIN_PAYLOAD {
                    return Err(StreamError::Oversized(payload));
                }
                if payload > 0 {
                    self.held = Some(Vec::with_capacity(RECORD_LEN + payload as usize));
                }
                Ok(payload)
            }
            SUBSTREAM => {
                self.streams = 1;
                self.plain_begin(false)
            }
            _ => Err(StreamError::NotAStream),
        }
    }

    /// A plain stream's BEGIN, alone or in a package.
    fn plain_begin(&mut self, in_package: bool) -> Result<u64, StreamError> {
        if self.u64_at(8) != MAGIC || self.u64_at(16) & 3 != SUBSTREAM {
            return Err(StreamError::NotAStream);
        }
        let features = self.u64_at(16) >> 2;
        check_features(features)?;
        flag("raw", features & FEATURE_RAW != 0, self.expected.raw)?;
        let resuming = features & FEATURE_RESUMING != 0;
        flag("resumed", resuming, self.expected.resuming && !in_package)?;
        if self.u32_at(36) & FLAG_CLONE != 0 {
            return Err(StreamError::Clone);
        }
        let kind = match self.u32_at(32) {
            OST_ZFS => DatasetKind::Filesystem,
            OST_ZVOL => DatasetKind::Volume,
            t => return Err(StreamError::ObjsetType(t)),
        };
        if *self.kind.get_or_insert(kind) != kind {
            return Err(StreamError::ObjsetType(self.u32_at(32)));
        }
        let (from, to) = (self.u64_at(48), self.u64_at(40));
        guid("base", from, self.next_from)?;
        if in_package {
            let name = self.toname();
            let fs = name.split('@').next().unwrap_or_default();
            let want = self.package_fs.clone().unwrap_or_default();
            if fs != want || !name.contains('@') {
                return Err(StreamError::OtherFilesystem { got: name, want });
            }
        } else {
            guid("target", to, self.expected.to_guid)?;
        }
        self.next_from = to;
        self.state = State::Inside { in_package };
        let payload = u64::from(self.u32_at(4));
        if payload > MAX_BEGIN_PAYLOAD {
            return Err(StreamError::Oversized(payload));
        }
        Ok(payload)
    }

    /// A package's final END: its streams must have reached the request's `to`.
    fn package_end(&mut self) -> Result<u64, StreamError> {
        if self.streams == 0 {
            return Err(StreamError::Incomplete);
        }
        guid("target", self.next_from, self.expected.to_guid)?;
        self.state = State::Done;
        Ok(0)
    }

    /// The payload length of a data record (`receive_read_record`).
    fn data_payload(&self, ty: u32) -> Result<u64, StreamError> {
        let len = match ty {
            DRR_OBJECT => match self.u32_at(36) {
                0 => u64::from(self.u32_at(28)).div_ceil(8) * 8,
                raw => u64::from(raw),
            },
            DRR_WRITE => match self.record[50] {
                0 => self.u64_at(32),
                _ => self.u64_at(96),
            },
            DRR_SPILL => match self.u64_at(40) {
                0 => self.u64_at(16),
                c => c,
            },
            DRR_WRITE_EMBEDDED => u64::from(self.u32_at(52)).div_ceil(8) * 8,
            DRR_FREEOBJECTS | DRR_FREE | DRR_WRITE_BYREF | DRR_OBJECT_RANGE | DRR_REDACT => 0,
            t => return Err(StreamError::UnexpectedRecord(t)),
        };
        if len > MAX_RECORD_PAYLOAD {
            return Err(StreamError::Oversized(len));
        }
        Ok(len)
    }
}

fn check_features(features: u64) -> Result<(), StreamError> {
    if features & (FEATURE_DEDUP | FEATURE_DEDUPPROPS) != 0 {
        return Err(StreamError::Feature("deduplicated records"));
    }
    if features & FEATURE_HOLDS != 0 {
        return Err(StreamError::Feature("holds (zfs send -h)"));
    }
    if features & !FEATURES_KNOWN != 0 {
        return Err(StreamError::UnknownFeatures(features & !FEATURES_KNOWN));
    }
    Ok(())
}

fn flag(what: &'static str, got: bool, want: bool) -> Result<(), StreamError> {
    if got == want {
        Ok(())
    } else {
        Err(StreamError::Flag { what, got, want })
    }
}

fn guid(what: &'static str, got: u64, want: u64) -> Result<(), StreamError> {
    if got == want {
        Ok(())
    } else {
        Err(StreamError::Guid { what, got, want })
    }
}

/// A package's nvlist: only the names `send_prelim_records` writes, and `not_recursive` among them (a
/// recursive package makes `zfs receive` rename and destroy by GUID).
fn check_package_nvlist(buf: &[u8]) -> Result<(), StreamError> {
    let names = super::nvlist::xdr_top_level_names(buf).map_err(|e| StreamError::BadPackage(e.to_string()))?;
    if let Some(other) = names.iter().find(|n| !PACKAGE_NAMES.contains(&n.as_str())) {
        return Err(StreamError::BadPackage(format!("unexpected pair {other:?}")));
    }
    if !names.iter().any(|n| n == "not_recursive") {
        return Err(StreamError::Recursive);
    }
    Ok(())
}

#[cfg(test)]
mod tests;
