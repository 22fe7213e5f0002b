//! Where a filesystem's chain lies in the bucket and how its manifest is read and committed. Below the
//! filesystem's prefix (`PREFIX/<receiver path>/`) everything of zreplrs is under `@zreplrs/` (`@` cannot
//! be in a dataset name, so a child filesystem's keys never mix in):
//!
//! - `@zreplrs/streams/<generation>-<to GUID>-<from GUID or "full">.zfs` — stream objects (`.zfs.age` when
//!   encrypted), named with the manifest generation that commits them, so a key is never written twice;
//! - `@zreplrs/manifest.<generation>.json` — manifest generations;
//! - `@zreplrs/MANIFEST` — the pointer: the committed generation's number;
//! - `@zreplrs/UPLOAD` — the upload in progress (its key and upload id), so the next run resumes or aborts it.
//!
//! A commit writes the new generation, then the pointer (each one PUT, which S3 makes atomic), then deletes
//! every older generation: a kill between any two leaves the old or the new manifest in force, and an older
//! generation a kill left behind goes at the next commit.

use serde::{Deserialize, Serialize};

use super::manifest::{Manifest, MAX_MANIFEST_BYTES};
use super::s3::S3;
use crate::error::{ErrorKind, Failure};

/// The directory of zreplrs's keys below a filesystem's prefix.
pub const DIR: &str = "@zreplrs/";
const POINTER: &str = "MANIFEST";
const UPLOAD: &str = "UPLOAD";
/// Most filesystems a bucket prefix may hold, and objects listed to find them.
pub const MAX_LISTED: usize = 1_000_000;

/// The upload in progress for a filesystem.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UploadMarker {
    pub key: String,
    pub upload_id: String,
}

/// One filesystem's place in the bucket.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Place {
    /// The filesystem's path below the target (the receiver path), e.g. `tank/data`.
    pub rel: String,
    /// `PREFIX/<rel>/@zreplrs/`: every key of it starts so.
    pub dir: String,
}

impl Place {
    /// The place of `rel` below the bucket's `prefix` (`""` or ending in `/`).
    pub fn new(prefix: &str, rel: &str) -> Place {
        let fs = match rel {
            "" => String::new(),
            rel => format!("{rel}/"),
        };
        Place {
            rel: rel.to_string(),
            dir: format!("{prefix}{fs}{DIR}"),
        }
    }

    /// The key of a stream object that manifest generation `generation` commits.
    pub fn stream_key(&self, generation: u64, to_guid: u64, from_guid: Option<u64>, age: bool) -> String {
        let from = from_guid.map_or("full".to_string(), |g| g.to_string());
        let ext = if age { "zfs.age" } else { "zfs" };
        format!("{}streams/{generation}-{to_guid}-{from}.{ext}", self.dir)
    }

    fn generation_key(&self, generation: u64) -> String {
        format!("{}manifest.{generation}.json", self.dir)
    }

    fn pointer_key(&self) -> String {
        format!("{}{POINTER}", self.dir)
    }

    fn upload_key(&self) -> String {
        format!("{}{UPLOAD}", self.dir)
    }
}

fn corrupt(m: String) -> Failure {
    Failure::new(ErrorKind::StoreCorrupt, m)
}

/// The committed manifest of `place`; `None` when nothing was committed there.
pub fn load(s3: &S3, place: &Place, filesystem: &str) -> Result<Option<Manifest>, Failure> {
    let Some(pointer) = s3.get_small(&place.pointer_key(), 64)? else {
        return Ok(None);
    };
    let generation: u64 = std::str::from_utf8(&pointer)
        .ok()
        .and_then(|s| s.trim().parse().ok())
        .ok_or_else(|| corrupt(format!("{} is not a manifest generation", place.pointer_key())))?;
    let key = place.generation_key(generation);
    let bytes = s3
        .get_small(&key, MAX_MANIFEST_BYTES as u64)?
        .ok_or_else(|| corrupt(format!("{} names {key}, which is missing", place.pointer_key())))?;
    let m = Manifest::parse(&bytes, &place.dir).map_err(|e| corrupt(e.0))?;
    if m.generation != generation || m.filesystem != filesystem {
        return Err(corrupt(format!(
            "{key} is generation {} of {:?}, not generation {generation} of {filesystem:?}",
            m.generation, m.filesystem
        )));
    }
    Ok(Some(m))
}

/// Commits `next` (the generation after the one in force): the generation, the pointer, then the older
/// generations go (the one before, and any a run killed after its pointer moved left behind).
pub fn commit(s3: &S3, place: &Place, next: &Manifest) -> Result<(), Failure> {
    let bytes = serde_json::to_vec_pretty(next)
        .map_err(|e| Failure::new(ErrorKind::Store, format!("manifest of {}: {e}", next.filesystem)))?;
    s3.put(&place.generation_key(next.generation), &bytes)?;
    crate::failpoint::hit("manifest_commit_before");
    s3.put(&place.pointer_key(), next.generation.to_string().as_bytes())?;
    crate::failpoint::hit("manifest_commit_after");
    for key in older_generations(s3, place, next.generation)? {
        s3.delete(&key)?;
    }
    Ok(())
}

/// The keys of the manifest generations before `generation` in `place`.
fn older_generations(s3: &S3, place: &Place, generation: u64) -> Result<Vec<String>, Failure> {
    let prefix = format!("{}manifest.", place.dir);
    Ok(s3
        .list(&prefix, 1000)?
        .into_iter()
        .filter(|l| {
            l.key
                .strip_prefix(&prefix)
                .and_then(|g| g.strip_suffix(".json"))
                .and_then(|g| g.parse::<u64>().ok())
                .is_some_and(|g| g < generation)
        })
        .map(|l| l.key)
        .collect())
}

/// The upload in progress at `place`, if any.
pub fn upload_marker(s3: &S3, place: &Place) -> Result<Option<UploadMarker>, Failure> {
    let Some(bytes) = s3.get_small(&place.upload_key(), 4096)? else {
        return Ok(None);
    };
    let m: UploadMarker =
        serde_json::from_slice(&bytes).map_err(|e| corrupt(format!("{}: {e}", place.upload_key())))?;
    if !m.key.starts_with(&format!("{}streams/", place.dir)) {
        return Err(corrupt(format!(
            "{} names {:?}, outside its streams",
            place.upload_key(),
            m.key
        )));
    }
    Ok(Some(m))
}

pub fn put_upload_marker(s3: &S3, place: &Place, marker: &UploadMarker) -> Result<(), Failure> {
    let bytes = serde_json::to_vec(marker).map_err(|e| Failure::new(ErrorKind::Store, e.to_string()))?;
    s3.put(&place.upload_key(), &bytes)
}

pub fn delete_upload_marker(s3: &S3, place: &Place) -> Result<(), Failure> {
    s3.delete(&place.upload_key())
}

/// The receiver paths below `prefix` that have a committed manifest (keys that name no dataset path, which
/// zreplrs never writes, are passed over).
pub fn filesystems(s3: &S3, prefix: &str) -> Result<Vec<String>, Failure> {
    let tail = format!("{DIR}{POINTER}");
    let mut found: Vec<String> = s3
        .list(prefix, MAX_LISTED)?
        .into_iter()
        .filter_map(|o| {
            let rel = o.key.strip_prefix(prefix)?.strip_suffix(&tail)?;
            let rel = rel.strip_suffix('/').unwrap_or(rel);
            (rel.is_empty() || crate::zfs::names::DatasetName::new(rel).is_ok()).then(|| rel.to_string())
        })
        .collect();
    found.sort();
    Ok(found)
}
