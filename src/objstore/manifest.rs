//! A filesystem's manifest in the bucket: every stream object of its chain with what it holds (from/to GUID,
//! name and createtxg, stream flags, encryption, size, SHA-256). Read back from a bucket that someone else may
//! write to, so [`Manifest::parse`] bounds and checks it before anything acts on it: its size, the count of
//! objects, that every key lies below the filesystem's prefix, that hashes are SHA-256, and that every
//! incremental starts at a snapshot an earlier object delivered (so every snapshot named has a chain back to a
//! full stream).

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

use crate::error::Invalid;
use crate::zfs::Guid;

/// Version of the manifest format.
pub const FORMAT: u32 = 1;
/// Largest manifest read (bytes).
pub const MAX_MANIFEST_BYTES: usize = 16 << 20;
/// Largest stream object (10,000 parts of [`part_size`]).
pub const MAX_OBJECT_BYTES: u64 = 1000 * (16 << 20) + 2000 * (32 << 20) + 7000 * (64 << 20);
/// Most stream objects one manifest may name.
pub const MAX_OBJECTS: usize = 100_000;

/// A snapshot as the manifest names it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SnapshotRef {
    /// Its short name (after `@`).
    pub name: String,
    pub guid: Guid,
    pub createtxg: u64,
    /// Its `creation` (unix seconds; 0 when unknown): what retention in the bucket keeps by.
    #[serde(default)]
    pub creation: u64,
}

/// How a stream object's bytes are protected from the store.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Encryption {
    /// A raw send of an encrypted dataset: the store sees ZFS's ciphertext.
    Raw,
    /// Encrypted on the client to the job's `age` recipients.
    Age,
    /// Plaintext, allowed explicitly by the job (`allow_plaintext = true`).
    None,
}

/// One stream object of the chain.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StreamObject {
    /// Its key in the bucket.
    pub key: String,
    /// The incremental source; `None` for a full stream.
    pub from: Option<SnapshotRef>,
    pub to: SnapshotRef,
    /// Snapshots between `from` and `to` that the stream also delivers (a `zfs send -I` stream), oldest first.
    #[serde(default)]
    pub intermediates: Vec<SnapshotRef>,
    /// `zfs send` flags of the stream (`raw`, `compressed`, `large_blocks`, `embedded`).
    #[serde(default)]
    pub flags: Vec<String>,
    pub encryption: Encryption,
    /// Bytes of the object as stored.
    pub size: u64,
    /// SHA-256 of the object as stored, lowercase hex.
    pub sha256: String,
    /// SHA-256 of each part (the object cut at [`part_size`]), so that a restore checks every part before
    /// `zfs receive` sees a byte of it.
    pub parts: Vec<String>,
    /// When the object was committed (unix seconds): `full_after` counts from a full's.
    #[serde(default)]
    pub uploaded_at: u64,
}

/// Bytes of part `n` (from 1) of a stream object: 16 MiB for the first thousand, 32 MiB to the 3,000th,
/// then 64 MiB (S3 allows 10,000 parts: objects up to about 518 GiB). A function of `n` alone, so a
/// resumed upload cuts the stream where the first try did, and a restore knows where each part ends.
pub fn part_size(n: usize) -> usize {
    match n {
        0..=1000 => 16 << 20,
        1001..=3000 => 32 << 20,
        _ => 64 << 20,
    }
}

/// How many parts an object of `size` bytes has (at least one).
pub fn part_count(size: u64) -> usize {
    let (mut n, mut left) = (1, size);
    while left > part_size(n) as u64 {
        left -= part_size(n) as u64;
        n += 1;
    }
    n
}

fn is_sha256(s: &str) -> bool {
    s.len() == 64 && s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

impl StreamObject {
    /// The snapshots this object delivers, oldest first.
    pub fn delivers(&self) -> impl Iterator<Item = &SnapshotRef> {
        self.intermediates.iter().chain(std::iter::once(&self.to))
    }
}

/// A filesystem's manifest: generation `n` replaces generation `n - 1` when its pointer is written.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    pub format: u32,
    /// The sender filesystem's full name.
    pub filesystem: String,
    /// The key prefix every object of this filesystem lies below (ends with `/`).
    pub prefix: String,
    pub generation: u64,
    /// In the order they were committed.
    pub objects: Vec<StreamObject>,
}

impl Manifest {
    /// An empty manifest (generation 0: nothing committed yet).
    pub fn new(filesystem: &str, prefix: &str) -> Manifest {
        Manifest {
            format: FORMAT,
            filesystem: filesystem.to_string(),
            prefix: prefix.to_string(),
            generation: 0,
            objects: Vec::new(),
        }
    }

    /// Reads and checks a manifest from the bucket; `prefix` is where this filesystem's objects must be.
    pub fn parse(bytes: &[u8], prefix: &str) -> Result<Manifest, Invalid> {
        if bytes.len() > MAX_MANIFEST_BYTES {
            return Err(Invalid(format!(
                "the manifest below {prefix} has {} bytes, more than {MAX_MANIFEST_BYTES}",
                bytes.len()
            )));
        }
        let m: Manifest = serde_json::from_slice(bytes)
            .map_err(|e| Invalid(format!("the manifest below {prefix} is not a manifest: {e}")))?;
        if m.prefix != prefix {
            return Err(Invalid(format!(
                "the manifest below {prefix} names the prefix {:?}",
                m.prefix
            )));
        }
        m.check()?;
        Ok(m)
    }

    /// The checks of [`Manifest::parse`].
    pub fn check(&self) -> Result<(), Invalid> {
        let bad = |why: String| Err(Invalid(format!("manifest of {}: {why}", self.filesystem)));
        if self.format != FORMAT {
            return bad(format!("format {} (this zreplrs reads {FORMAT})", self.format));
        }
        if self.objects.len() > MAX_OBJECTS {
            return bad(format!("{} objects, more than {MAX_OBJECTS}", self.objects.len()));
        }
        let mut delivered: BTreeMap<Guid, u64> = BTreeMap::new();
        let mut keys = BTreeSet::new();
        for o in &self.objects {
            let below = o.key.strip_prefix(&self.prefix).is_some_and(|rest| {
                !rest.is_empty() && !rest.split('/').any(|c| c.is_empty() || c == "." || c == "..")
            });
            if !below {
                return bad(format!("object {:?} is not below {:?}", o.key, self.prefix));
            }
            if !keys.insert(o.key.as_str()) {
                return bad(format!("object {:?} is named twice", o.key));
            }
            if !is_sha256(&o.sha256) {
                return bad(format!("object {:?} has no SHA-256 ({:?})", o.key, o.sha256));
            }
            if o.size > MAX_OBJECT_BYTES || o.parts.len() != part_count(o.size) || !o.parts.iter().all(|p| is_sha256(p))
            {
                return bad(format!(
                    "object {:?} of {} bytes does not have a SHA-256 for each of its {} parts",
                    o.key,
                    o.size,
                    part_count(o.size.min(MAX_OBJECT_BYTES))
                ));
            }
            if let Some(f) = &o.from {
                if delivered.get(&f.guid) != Some(&f.createtxg) {
                    return bad(format!(
                        "object {:?} starts at {} (GUID {}), which no earlier object delivered",
                        o.key, f.name, f.guid
                    ));
                }
            }
            let mut after = o.from.as_ref().map_or(0, |f| f.createtxg);
            for s in o.delivers() {
                if s.createtxg <= after {
                    return bad(format!("object {:?} delivers {} out of order", o.key, s.name));
                }
                after = s.createtxg;
                delivered.insert(s.guid, s.createtxg);
            }
        }
        Ok(())
    }

    /// The next generation with `object` committed after the others (checked like a manifest read back).
    pub fn with(&self, object: StreamObject) -> Result<Manifest, Invalid> {
        let mut next = self.clone();
        next.generation += 1;
        next.objects.push(object);
        next.check()?;
        Ok(next)
    }

    /// Every snapshot the chain delivers, once each (a new full may deliver one again), in commit order.
    pub fn snapshots(&self) -> impl Iterator<Item = &SnapshotRef> {
        let mut seen = BTreeSet::new();
        self.objects
            .iter()
            .flat_map(|o| o.delivers())
            .filter(move |s| seen.insert(s.guid))
    }

    /// The newest snapshot the chain delivers (the next incremental's base).
    pub fn newest(&self) -> Option<&SnapshotRef> {
        self.objects
            .iter()
            .flat_map(|o| o.delivers())
            .max_by_key(|s| s.createtxg)
    }

    /// Whether the next step should be a new full stream rather than an incremental: `full_every`
    /// incrementals follow the last full, or the last full was committed `full_after` seconds before `now`
    /// or longer ago. A new full starts a chain of its own, so that retention can delete the old one.
    pub fn full_due(&self, full_every: Option<u32>, full_after: Option<u64>, now: u64) -> bool {
        let Some(last_full) = self.objects.iter().rposition(|o| o.from.is_none()) else {
            return false;
        };
        let incrementals = self.objects.len() - last_full - 1;
        full_every.is_some_and(|n| incrementals >= n as usize)
            || full_after.is_some_and(|secs| now.saturating_sub(self.objects[last_full].uploaded_at) >= secs)
    }

    /// The object that delivers the snapshot with `guid`.
    fn delivering(&self, guid: Guid) -> Option<&StreamObject> {
        self.objects.iter().rev().find(|o| o.delivers().any(|s| s.guid == guid))
    }

    /// The objects a restore of the snapshot with `guid` downloads, in the order `zfs receive` takes them:
    /// a full stream, then the incrementals up to the one that delivers it.
    pub fn chain_to(&self, guid: Guid) -> Result<Vec<&StreamObject>, Invalid> {
        let mut chain = Vec::new();
        let mut at = guid;
        loop {
            let o = self.delivering(at).ok_or_else(|| {
                Invalid(format!(
                    "no object of {} delivers the snapshot with GUID {at}",
                    self.filesystem
                ))
            })?;
            chain.push(o);
            match &o.from {
                None => break,
                Some(f) => at = f.guid,
            }
            if chain.len() > self.objects.len() {
                return Err(Invalid(format!("the chain of {} loops", self.filesystem)));
            }
        }
        chain.reverse();
        Ok(chain)
    }

    /// The objects no chain to a snapshot in `kept` needs (what retention may delete), and the manifest
    /// without them. A kept snapshot whose chain is broken is an error: nothing is deleted then.
    pub fn without_unneeded(&self, kept: &[Guid]) -> Result<(Manifest, Vec<StreamObject>), Invalid> {
        let mut needed = BTreeSet::new();
        for g in kept {
            needed.extend(self.chain_to(*g)?.into_iter().map(|o| o.key.as_str()));
        }
        let (keep, drop): (Vec<StreamObject>, Vec<StreamObject>) = self
            .objects
            .iter()
            .cloned()
            .partition(|o| needed.contains(o.key.as_str()));
        let mut next = self.clone();
        next.objects = keep;
        next.generation += 1;
        next.check()?;
        Ok((next, drop))
    }
}

#[cfg(test)]
mod tests;
