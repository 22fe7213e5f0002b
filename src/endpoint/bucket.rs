//! A bucket in an object store as the [`Receiver`]: it lists the snapshots the filesystems' committed
//! manifests deliver, and receives a step by uploading its stream as one object
//! ([`crate::objstore::upload`]) and committing the manifest that names it ([`crate::objstore::chain`]) —
//! only then does it report the snapshot received, so the sender moves its cursor after the commit.

use std::io::Read;
use std::os::fd::AsFd;
use std::time::Duration;

use nix::poll::{PollFd, PollFlags, PollTimeout};

use super::Receiver;
use crate::agent::client::{AgentError, StreamError, Streamed};
use crate::agent::wire::proto;
use crate::agent::wire::splice::FdRead;
use crate::agent::wire::throttle;
use crate::config::Job;
use crate::error::{ErrorKind, Failure};
use crate::objstore::chain::{self, Place, UploadMarker};
use crate::objstore::manifest::{Encryption, Manifest, SnapshotRef, StreamObject};
use crate::objstore::s3::S3;
use crate::objstore::upload;
use crate::plan::Step;

/// One job's bucket.
pub struct BucketReceiver {
    s3: S3,
    /// `BUCKET/PREFIX` (the target's root).
    root: String,
    /// The key prefix: `PREFIX/`, or `""` for the bucket's top.
    prefix: String,
    recipients: Vec<age::x25519::Recipient>,
    /// `zfs send` flags of the job's streams, as the manifest records them.
    flags: Vec<String>,
    uploaded: u64,
    listing: Option<proto::ListRequest>,
    /// The job's bandwidth limit (bytes per second).
    limit: Option<u64>,
    full_every: Option<u32>,
    /// Seconds.
    full_after: Option<u64>,
}

pub(super) fn remote(f: Failure) -> AgentError {
    match f.kind {
        ErrorKind::StoreUnavailable => AgentError::Connection(f.message),
        kind => AgentError::Remote {
            kind,
            message: f.message,
        },
    }
}

impl BucketReceiver {
    /// Opens the bucket of `job` (whose target is `s3://`).
    pub fn open(job: &Job) -> Result<BucketReceiver, AgentError> {
        let bucket = crate::objstore::Bucket::open(job).map_err(remote)?;
        let recipients = job
            .store
            .iter()
            .flat_map(|c| &c.age_recipients)
            .map(|r| r.parse())
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e: &str| AgentError::Protocol(format!("age recipient: {e}")))?;
        Ok(BucketReceiver {
            s3: bucket.s3,
            root: job.target.root_fs().to_string(),
            prefix: bucket.prefix,
            recipients,
            flags: job.send.flags.names(),
            uploaded: 0,
            listing: None,
            limit: job.bandwidth_limit.map(|l| l.bytes_per_second()),
            full_every: job.store.as_ref().and_then(|c| c.full_every),
            full_after: job.store.as_ref().and_then(|c| c.full_after).map(|d| d.as_secs()),
        })
    }

    fn place(&self, rel: &str) -> Place {
        Place::new(&self.prefix, rel)
    }

    /// The committed manifest of `rel`, or an empty one.
    fn manifest(&self, rel: &str) -> Result<Manifest, Failure> {
        let place = self.place(rel);
        Ok(chain::load(&self.s3, &place, rel)?.unwrap_or_else(|| Manifest::new(rel, &place.dir)))
    }
}

/// The listing entry of `rel`: the snapshots its committed chain delivers, once each.
fn entry(rel: &str, m: &Manifest) -> proto::FsEntry {
    let versions = m
        .snapshots()
        .map(|s| proto::Version {
            bookmark: false,
            short: s.name.clone(),
            guid: s.guid.0,
            createtxg: s.createtxg,
            userrefs: None,
            creation: Some(s.creation),
        })
        .collect();
    proto::FsEntry {
        name: rel.to_string(),
        versions,
        ..Default::default()
    }
}

/// Reads `inner`, failing when it is silent for `stall` (a hung `zfs send`), paced to the job's bandwidth
/// limit (what is read is what is uploaded; the job's transfers share the limit).
struct StallRead<'a> {
    inner: &'a mut dyn FdRead,
    stall: Duration,
    limit: Option<(u64, throttle::SharedThrottle)>,
}

impl Read for StallRead<'_> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let Some((rate, bucket)) = self.limit.clone() else {
            return self.read_within_stall(buf);
        };
        let max = throttle::chunk(rate, buf.len());
        let n = self.read_within_stall(&mut buf[..max])?;
        throttle::pace(&bucket, n as u64);
        Ok(n)
    }
}

impl StallRead<'_> {
    fn read_within_stall(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let ms = u16::try_from(self.stall.as_millis()).unwrap_or(u16::MAX);
        let mut fds = [PollFd::new(self.inner.as_fd(), PollFlags::POLLIN)];
        match nix::poll::poll(&mut fds, PollTimeout::from(ms)) {
            Ok(0) => Err(std::io::Error::new(
                std::io::ErrorKind::TimedOut,
                format!("the stream was silent for {}s", self.stall.as_secs()),
            )),
            Ok(_) => self.inner.read(buf),
            Err(e) => Err(e.into()),
        }
    }
}

impl BucketReceiver {
    /// The upload of `key`: the one a marker names when it is this key's (with the parts the store has),
    /// else a new one (an older upload of another key is aborted, and its object deleted unless `m`
    /// names it).
    fn start_upload(&self, place: &Place, key: &str, m: &Manifest) -> Result<(String, upload::Parts), Failure> {
        let marker = chain::upload_marker(&self.s3, place)?;
        // Uploads no marker names (a run killed between starting one and writing its marker) are aborted.
        for (k, id) in self.s3.list_uploads(&format!("{}streams/", place.dir))? {
            if marker.as_ref().is_none_or(|old| old.upload_id != id) {
                self.s3.abort_multipart(&k, &id)?;
            }
        }
        if let Some(old) = marker {
            // An `age` stream is encrypted anew each time: its parts never match again.
            if old.key == key && self.recipients.is_empty() {
                if let Some(parts) = self.s3.list_parts(key, &old.upload_id)? {
                    return Ok((old.upload_id, parts));
                }
            }
            self.discard_upload(place, m, &old)?;
        }
        let upload_id = self.s3.create_multipart(key)?;
        let marker = UploadMarker {
            key: key.to_string(),
            upload_id: upload_id.clone(),
        };
        chain::put_upload_marker(&self.s3, place, &marker)?;
        Ok((upload_id, Vec::new()))
    }

    /// Aborts the upload `old` names, deletes its object unless `m` names it, then the marker.
    fn discard_upload(&self, place: &Place, m: &Manifest, old: &UploadMarker) -> Result<(), Failure> {
        self.s3.abort_multipart(&old.key, &old.upload_id)?;
        if !m.objects.iter().any(|o| o.key == old.key) {
            self.s3.delete(&old.key)?;
        }
        chain::delete_upload_marker(&self.s3, place)
    }

    /// The manifest object of `step`'s stream.
    fn object(&self, req: &proto::ReceiveRequest, step: &Step, key: String, up: &upload::Uploaded) -> StreamObject {
        let snap = |v: &crate::zfs::Version| SnapshotRef {
            name: v.short.clone(),
            guid: v.guid,
            createtxg: v.createtxg,
            creation: v.creation.unwrap_or(0),
        };
        StreamObject {
            key,
            from: step.from.as_ref().map(snap),
            to: snap(&step.to),
            intermediates: step.intermediates.iter().map(snap).collect(),
            flags: self.flags.clone(),
            encryption: if req.raw {
                Encryption::Raw
            } else if self.recipients.is_empty() {
                Encryption::None
            } else {
                Encryption::Age
            },
            size: up.size,
            sha256: up.sha256.clone(),
            parts: up.parts.clone(),
            uploaded_at: crate::report::unix_now(),
        }
    }
}

impl Receiver for BucketReceiver {
    fn root(&self) -> &str {
        &self.root
    }

    fn start_list(&mut self, req: proto::ListRequest) -> Result<(), AgentError> {
        self.listing = Some(req);
        Ok(())
    }

    fn list_reply(&mut self) -> Result<proto::ListReply, AgentError> {
        let req = self.listing.take().unwrap_or_default();
        let listed_at = crate::report::unix_now();
        let names = match req.versions_of.is_empty() {
            true => chain::filesystems(&self.s3, &self.prefix).map_err(remote)?,
            false => req.versions_of,
        };
        let mut filesystems = Vec::new();
        for rel in &names {
            let m = self.manifest(rel).map_err(remote)?;
            // A filesystem due for a new full is not listed: the plan then sends it a full stream.
            if !m.full_due(self.full_every, self.full_after, listed_at) {
                filesystems.push(entry(rel, &m));
            }
        }
        Ok(proto::ListReply {
            filesystems,
            root_exists: true,
            filesystems_only: false,
            listed_at,
            more: false,
        })
    }

    fn receive(
        &mut self,
        req: proto::ReceiveRequest,
        step: &Step,
        source: &mut dyn FdRead,
        source_ok: &mut dyn FnMut() -> Result<(), Failure>,
        stall: Duration,
        on_bytes: &mut dyn FnMut(u64),
    ) -> Result<Streamed, StreamError> {
        let agent = |f: Failure| StreamError::Agent(remote(f));
        let place = self.place(&req.fs);
        let m = self.manifest(&req.fs).map_err(agent)?;
        let age = !req.raw && !self.recipients.is_empty();
        let key = place.stream_key(m.generation + 1, req.to_guid, req.from_guid, age);
        let (upload_id, parts) = self.start_upload(&place, &key, &m).map_err(agent)?;
        let recipients = if age { &self.recipients[..] } else { &[] };
        let mut source = StallRead {
            inner: source,
            stall,
            limit: self.limit.map(|rate| (rate, throttle::shared(rate))),
        };
        let target = upload::Target {
            s3: &self.s3,
            key: &key,
            upload_id: &upload_id,
            existing: parts,
        };
        // A stream cut short by a failed `zfs send` is never completed (its last part is not even sent).
        let (etags, up) =
            upload::upload(target, &mut source, recipients, on_bytes, source_ok).map_err(|e| match e {
                upload::Stop::Source(f) => StreamError::Source(f),
                upload::Stop::Store(f) => agent(f),
            })?;
        self.s3.complete_multipart(&key, &upload_id, &etags).map_err(agent)?;
        let mut object = self.object(&req, step, key, &up);
        if let Some(f) = &mut object.from {
            if let Some(named) = m.objects.iter().flat_map(|o| o.delivers()).find(|s| s.guid == f.guid) {
                *f = named.clone();
            }
        }
        let next = m
            .with(object)
            .map_err(|e| agent(Failure::new(ErrorKind::StoreCorrupt, e.0)))?;
        chain::commit(&self.s3, &place, &next).map_err(agent)?;
        chain::delete_upload_marker(&self.s3, &place).map_err(agent)?;
        self.uploaded += up.size - up.resumed;
        Ok(Streamed {
            bytes: up.size,
            wire_bytes: up.size - up.resumed,
            received_guid: req.to_guid,
        })
    }

    fn wire_total(&self) -> u64 {
        self.uploaded
    }

    /// Retention in the bucket keeps snapshots by their age.
    fn records_creation(&self) -> bool {
        true
    }

    fn abort_resume(&mut self, fs: &str) -> Result<(), AgentError> {
        let place = self.place(fs);
        let m = self.manifest(fs).map_err(remote)?;
        match chain::upload_marker(&self.s3, &place).map_err(remote)? {
            Some(old) => self.discard_upload(&place, &m, &old).map_err(remote),
            None => Ok(()),
        }
    }

    /// The committed manifest protects what it names: there is no hold to put.
    fn hold_last_received(&mut self, _fs: &str, _snapshot: &str, _guid: u64, _job_id: &str) -> Result<(), AgentError> {
        Ok(())
    }
}
