//! `verify` of a job whose target is a bucket: per checked snapshot, the GUID the manifest records against
//! the sender's, and every object of its chain re-read from the store and checked against its SHA-256 (a
//! part at a time); with `--restore`, the snapshot restored into a temporary dataset below `--scratch`,
//! its GUID and files compared with the sender's, and the dataset destroyed. A copy that cannot be read or
//! compared is a failure, never a match.

use crate::cli::VerifyArgs;
use crate::config::Job;
use crate::content::digest_dir;
use crate::error::Failure;
use crate::objstore::download::VerifiedReader;
use crate::objstore::manifest::{Manifest, SnapshotRef};
use crate::objstore::{chain, restore, Bucket};
use crate::report::commands::{ContentCheck, FsVerify, SnapshotCheck, Unverified, VerifyReport};
use crate::report::ErrorReport;
use crate::survey::SurveyError;
use crate::zfs::list::FsEntry;
use crate::zfs::names::DatasetName;
use crate::zfs::Zfs;

/// Verifies the chains of `selected` in the job's bucket.
pub(super) fn verify(
    job: &Job,
    a: &VerifyArgs,
    selected: &[&FsEntry],
    r: &mut VerifyReport,
) -> Result<(), SurveyError> {
    let bucket = Bucket::open(job)?;
    let zfs = Zfs::new();
    for fs in selected {
        let Some(rel) = job.receiver_path(&fs.name) else {
            continue;
        };
        let place = bucket.place(&rel);
        let mut fv = FsVerify {
            filesystem: fs.name.to_string(),
            target: format!("{}/{rel}", job.target.root_fs()),
            snapshots: Vec::new(),
            error: None,
        };
        match chain::load(&bucket.s3, &place, &rel) {
            Ok(Some(m)) => {
                for s in chosen(&m, a.snapshot.as_str()) {
                    fv.snapshots.push(check(&bucket, &zfs, fs, &m, &s, a));
                }
                if fv.snapshots.is_empty() {
                    fv.error = Some(ErrorReport::new(
                        "no_common_snapshot",
                        format!("the bucket has no snapshot {} of {}", a.snapshot, fs.name),
                    ));
                }
            }
            Ok(None) => {
                fv.error = Some(ErrorReport::new(
                    "not_replicated",
                    format!("the bucket has no copy of {}", fs.name),
                ))
            }
            Err(e) => fv.error = Some(ErrorReport::new(e.kind, e.message)),
        }
        r.filesystems.push(fv);
    }
    Ok(())
}

/// The snapshots `latest`, `all` or a name select from the chain.
fn chosen(m: &Manifest, which: &str) -> Vec<SnapshotRef> {
    let all: Vec<SnapshotRef> = m.snapshots().cloned().collect();
    match which {
        "latest" => m.newest().cloned().into_iter().collect(),
        "all" => all,
        name => all.into_iter().filter(|s| s.name == name).collect(),
    }
}

/// One snapshot: its GUID, its chain re-read, and with `--restore` a restore compared with the sender.
fn check(bucket: &Bucket, zfs: &Zfs, fs: &FsEntry, m: &Manifest, s: &SnapshotRef, a: &VerifyArgs) -> SnapshotCheck {
    let sender = fs.snapshot(&s.name);
    let mut c = SnapshotCheck {
        snapshot: s.name.clone(),
        sender_guid: sender.map(|v| v.guid),
        receiver_guid: Some(s.guid),
        guid_match: sender.is_some_and(|v| v.guid == s.guid),
        content: None,
        space: None,
        note: None,
        unverified: None,
    };
    if sender.is_none() {
        c.note = Some(format!("the sender has no {}@{}", fs.name, s.name));
    }
    let reread = m
        .chain_to(s.guid)
        .map_err(|e| Failure::new(crate::error::ErrorKind::StoreCorrupt, e.0))
        .and_then(|objects| {
            let mut bytes = 0;
            for o in objects {
                bytes += reread(bucket, o)?;
            }
            Ok(bytes)
        });
    match reread {
        Ok(bytes) => c.note = Some(format!("{bytes} bytes of its chain re-read, every SHA-256 matches")),
        Err(e) => {
            c.unverified = Some(Unverified::failed(e.kind.as_str(), e.message));
            return c;
        }
    }
    if a.restore && c.guid_match {
        restore_and_compare(bucket, zfs, fs, m, s, a, &mut c);
    }
    c
}

/// Reads the object `o` whole, checking every part and the whole against the manifest (the reader's end
/// checks size, hash and that nothing follows).
fn reread(bucket: &Bucket, o: &crate::objstore::manifest::StreamObject) -> Result<u64, Failure> {
    let mut reader = VerifiedReader::new(bucket.s3.get_from(&o.key, 0)?, o);
    std::io::copy(&mut reader, &mut std::io::sink())
        .map_err(|e| crate::objstore::upload::failure(e, &format!("re-reading {}", o.key)))?;
    Ok(o.size)
}

/// `--restore`: into `<scratch>/zreplrs-verify-<pid>`, compared, destroyed.
fn restore_and_compare(
    bucket: &Bucket,
    zfs: &Zfs,
    fs: &FsEntry,
    m: &Manifest,
    s: &SnapshotRef,
    a: &VerifyArgs,
    c: &mut SnapshotCheck,
) {
    let scratch = a.scratch.as_deref().unwrap_or_default();
    let target = match DatasetName::new(&format!("{scratch}/zreplrs-verify-{}", std::process::id())) {
        Ok(t) => t,
        Err(e) => {
            c.unverified = Some(Unverified::failed("usage", format!("--scratch: {e}")));
            return;
        }
    };
    let restored = restore::restore_snapshot(&bucket.s3, zfs, m, s.guid, &target, a.identity_file.as_deref());
    let outcome = restored.and_then(|_| compare(zfs, fs, &target, s));
    match outcome {
        Ok(Some(content)) => c.content = Some(content),
        Ok(None) => {
            c.note = Some(format!(
                "restored into {target} with the same GUID; its files are encrypted (restored raw) and were not read"
            ))
        }
        Err(e) => {
            c.unverified = Some(Unverified::failed(
                e.kind.as_str(),
                format!("restore into {target}: {e}"),
            ))
        }
    }
    if let Err(e) = zfs.destroy_created(&target) {
        c.unverified = Some(Unverified::failed(
            e.error_kind().as_str(),
            format!("destroying {target}: {e}"),
        ));
    }
}

/// The restored snapshot's GUID and files against the sender's; `None` when its files cannot be read by
/// design (a raw copy of an encrypted filesystem, whose key is not loaded).
fn compare(zfs: &Zfs, fs: &FsEntry, target: &DatasetName, s: &SnapshotRef) -> Result<Option<ContentCheck>, Failure> {
    let zfs_err = |e: crate::zfs::ZfsError| Failure::new(e.error_kind(), e.to_string());
    let bad = |m: String| Failure::new(crate::error::ErrorKind::StoreCorrupt, m);
    let copy = target.snapshot(&s.name).map_err(|e| bad(e.to_string()))?;
    let guid = zfs.guid_of(copy.as_str()).map_err(zfs_err)?;
    if guid != s.guid {
        return Err(bad(format!("{copy} has GUID {guid}, the manifest says {}", s.guid)));
    }
    if fs.is_encrypted() || fs.kind == crate::zfs::list::DatasetKind::Volume {
        return Ok(None);
    }
    let original = fs.name.snapshot(&s.name).map_err(|e| bad(e.to_string()))?;
    let digest = |snap: &crate::zfs::names::SnapshotName| {
        zfs.snapshot_dir(snap).map_err(zfs_err).and_then(|dir| {
            digest_dir(dir.path()).map_err(|e| Failure::new(crate::error::ErrorKind::Io, e.to_string()))
        })
    };
    let (sender, receiver) = (digest(&original)?, digest(&copy)?);
    let content_match = sender == receiver;
    Ok(Some(ContentCheck {
        sender,
        receiver,
        content_match,
    }))
}
