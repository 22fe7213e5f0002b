//! A restore from the bucket: the chain of stream objects to a snapshot (a full, then incrementals), each
//! read back part by part with its SHA-256 checked ([`super::download`]), decrypted when it was encrypted
//! to `age` recipients, checked record by record like any peer's stream ([`crate::zfs::stream`]: no
//! recursive package, no clone stream, the manifest's GUIDs) and piped into `zfs receive -s -u` with the
//! options of a receive from a peer (no mountpoint, setuid, devices or exec taken from the stream).
//!
//! Resumable: an object whose `to` snapshot the target has already is skipped, and a partial receive left
//! by an interrupted restore is aborted before its object is received again.

use std::io::{Read, Write};

use super::download::VerifiedReader;
use super::manifest::{Encryption, StreamObject};
use super::s3::S3;
use crate::error::{ErrorKind, Failure};
use crate::zfs::names::DatasetName;
use crate::zfs::send::{receive_options, Incoming, RecvOptions};
use crate::zfs::stream::{Expected, PassError, StreamCheck};
use crate::zfs::{Zfs, ZfsError};

fn zfs_failure(e: ZfsError) -> Failure {
    Failure::new(e.error_kind(), e.to_string())
}

/// Restores the snapshot with `guid` of the chain in `m` into `target`: the objects it still needs, in
/// order. Returns the bytes received.
pub fn restore_snapshot(
    s3: &S3,
    zfs: &Zfs,
    m: &super::manifest::Manifest,
    guid: crate::zfs::Guid,
    target: &DatasetName,
    identity_file: Option<&camino::Utf8Path>,
) -> Result<u64, Failure> {
    let chain = m
        .chain_to(guid)
        .map_err(|e| Failure::new(ErrorKind::StoreCorrupt, e.0))?;
    let needed = still_needed(zfs, target, &chain)?;
    let identities = identities(identity_file, &needed)?;
    let mut bytes = 0;
    for o in needed {
        bytes += receive_object(s3, zfs, o, target, &identities)?;
    }
    Ok(bytes)
}

/// The `age` identities of `path`, needed when an object was encrypted to recipients.
pub fn identities(
    path: Option<&camino::Utf8Path>,
    needed: &[&StreamObject],
) -> Result<Vec<Box<dyn age::Identity>>, Failure> {
    let fail = |m: String| Failure::new(ErrorKind::Store, m);
    let Some(path) = path else {
        if needed.iter().any(|o| o.encryption == Encryption::Age) {
            return Err(fail(
                "the chain is encrypted to the job's age recipients: give --identity-file".to_string(),
            ));
        }
        return Ok(Vec::new());
    };
    age::IdentityFile::from_file(path.to_string())
        .map_err(|e| fail(format!("--identity-file {path}: {e}")))?
        .into_identities()
        .map_err(|e| fail(format!("--identity-file {path}: {e}")))
}

/// The objects of `chain` the target still needs: those after the newest one whose `to` it has.
pub fn still_needed<'a>(
    zfs: &Zfs,
    target: &DatasetName,
    chain: &[&'a StreamObject],
) -> Result<Vec<&'a StreamObject>, Failure> {
    let listing = match zfs.list(std::slice::from_ref(target), false) {
        Ok(l) => l,
        Err(e) if e.error_kind() == ErrorKind::ZfsDoesNotExist => return Ok(chain.to_vec()),
        Err(e) => return Err(zfs_failure(e)),
    };
    let Some(entry) = listing.get(target) else {
        return Ok(chain.to_vec());
    };
    if entry.resume_token.is_some() {
        zfs.recv_abort(target).map_err(zfs_failure)?;
    }
    let has = |o: &&StreamObject| entry.snapshots().any(|s| s.guid == o.to.guid);
    match chain.iter().rposition(has) {
        Some(i) => Ok(chain[i + 1..].to_vec()),
        None if entry.snapshots().next().is_none() && chain.first().is_some_and(|o| o.from.is_none()) => {
            Err(Failure::new(
                ErrorKind::ZfsAlreadyExists,
                format!("{target} exists: restore into a dataset that does not exist yet"),
            ))
        }
        None => Err(Failure::new(
            ErrorKind::ZfsAlreadyExists,
            format!("{target} exists and has no snapshot of this chain: restore into a new dataset"),
        )),
    }
}

/// Receives one object into `target`; returns the bytes of stream `zfs receive` took.
pub fn receive_object(
    s3: &S3,
    zfs: &Zfs,
    object: &StreamObject,
    target: &DatasetName,
    identities: &[Box<dyn age::Identity>],
) -> Result<u64, Failure> {
    let verified = VerifiedReader::new(s3.get_from(&object.key, 0)?, object);
    let mut stream: Box<dyn Read + '_> = match object.encryption {
        Encryption::Age => {
            let decryptor = age::Decryptor::new(verified)
                .map_err(|e| Failure::new(ErrorKind::StoreCorrupt, format!("{}: {e}", object.key)))?;
            let ids = identities.iter().map(|i| i.as_ref() as &dyn age::Identity);
            Box::new(decryptor.decrypt(ids).map_err(|e| {
                Failure::new(
                    ErrorKind::Store,
                    format!("{}: cannot decrypt it with the identities given: {e}", object.key),
                )
            })?)
        }
        _ => Box::new(verified),
    };
    let mut check = StreamCheck::new(Expected {
        from_guid: object.from.as_ref().map(|f| f.guid.0),
        to_guid: object.to.guid.0,
        raw: object.encryption == Encryption::Raw,
        resuming: false,
    });
    let mut buf = vec![0u8; 1 << 20];
    let mut held = Vec::new();
    let refused = |e: PassError| match e {
        PassError::Stream(e) => Failure::new(ErrorKind::BadStream, format!("{}: {e}", object.key)),
        PassError::Output(e) => Failure::new(ErrorKind::Io, format!("zfs receive of {target}: {e}")),
    };
    let read_err = |e: std::io::Error| crate::objstore::upload::failure(e, &format!("reading {}", object.key));
    while check.kind().is_none() {
        let n = stream.read(&mut buf).map_err(read_err)?;
        if n == 0 {
            return Err(Failure::new(
                ErrorKind::BadStream,
                format!("{}: no BEGIN record", object.key),
            ));
        }
        check.pass(&buf[..n], &mut held).map_err(refused)?;
    }
    let kind = check.kind().unwrap_or(crate::zfs::stream::DatasetKind::Filesystem);
    let hardened = RecvOptions::hardened();
    let incoming = Incoming {
        kind,
        incremental: object.from.is_some(),
        force: false,
    };
    let opts = receive_options(&hardened, &hardened, incoming);
    let mut child = zfs.spawn_receive(target, &opts).map_err(zfs_failure)?;
    let Some(stdin) = child.take_stdin() else {
        child.kill();
        return Err(Failure::new(
            ErrorKind::ZfsSpawn,
            "zfs receive has no stdin".to_string(),
        ));
    };
    let mut sink = std::io::BufWriter::with_capacity(1 << 20, stdin);
    let pumped = pump(&mut *stream, &mut sink, &mut check, &held, &mut buf);
    let flushed = sink.flush();
    drop(sink);
    let finished = child.finish("receiving the restored stream");
    let bytes = pumped.map_err(|e| match e {
        Pump::Read(e) => read_err(e),
        Pump::Check(e) => refused(e),
    })?;
    flushed.map_err(|e| Failure::new(ErrorKind::Io, format!("zfs receive of {target}: {e}")))?;
    finished.map_err(zfs_failure)?;
    check
        .finish()
        .map_err(|e| Failure::new(ErrorKind::BadStream, format!("{}: {e}", object.key)))?;
    Ok(bytes)
}

enum Pump {
    Read(std::io::Error),
    Check(PassError),
}

/// Passes the rest of the stream (after what was `held` back) through the check into `zfs receive`.
fn pump(
    stream: &mut dyn Read,
    sink: &mut dyn Write,
    check: &mut StreamCheck,
    held: &[u8],
    buf: &mut [u8],
) -> Result<u64, Pump> {
    sink.write_all(held).map_err(|e| Pump::Check(PassError::Output(e)))?;
    let mut bytes = held.len() as u64;
    loop {
        let n = stream.read(buf).map_err(Pump::Read)?;
        if n == 0 {
            return Ok(bytes);
        }
        check.pass(&buf[..n], sink).map_err(Pump::Check)?;
        bytes += n as u64;
    }
}
