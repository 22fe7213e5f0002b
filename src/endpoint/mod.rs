//! The two ends of a replication as the driver sees them: the [`Sender`] (where the snapshots are: it lists,
//! sends, and marks what was sent with holds and cursor bookmarks) and the [`Receiver`] (where copies land: it
//! lists, receives, and protects what it received). [`Endpoints`] opens them for one job. Today the sender is
//! ZFS, here or on a pull job's source ([`crate::zfs::Zfs`] implements it, in [`zfs`]), and the receiver is a
//! zreplrs recv-agent ([`crate::transport::Connection`] implements it, in [`agent`]) or a bucket in an object
//! store ([`BucketReceiver`], in [`bucket`]); another kind of receiver
//! or a reversed direction is one more implementation, not another driver.

mod agent;
mod bucket;
mod zfs;

use std::collections::BTreeMap;
use std::time::Duration;

use crate::agent::client::{AgentError, StreamError, Streamed};
use crate::agent::wire::proto;
use crate::agent::wire::splice::FdRead;
use crate::config::Job;
use crate::error::Failure;
use crate::plan::Step;
use crate::zfs::list::Listing;
use crate::zfs::names::{BookmarkName, DatasetName, SnapshotName};
use crate::zfs::ops::Hold;
use crate::zfs::runner::SendProcess;
use crate::zfs::send::SendFlags;
use crate::zfs::token::ResumeToken;
use crate::zfs::{Guid, ZfsError};

pub use self::bucket::BucketReceiver;
pub use self::zfs::JobEndpoints;

/// The sending side of a job. Every call is one request to ZFS on the sender (a pull job's source answers
/// through its send-agent); errors of kind `Connection` mean that the link to it broke.
pub trait Sender: Send + Sync {
    /// The filesystems and volumes at and below `roots`, with `record_prop` (the job's sync record). The
    /// flag is true when the listing is complete (has every snapshot and bookmark).
    fn list_filesystems(&self, roots: &[DatasetName], record_prop: Option<&str>) -> Result<(Listing, bool), ZfsError>;
    /// Adds the snapshots and bookmarks of `filesystems` to `listing`.
    fn list_versions(&self, listing: &mut Listing, filesystems: &[DatasetName]) -> Result<(), ZfsError>;
    /// Everything at and below `roots`, snapshots and bookmarks included.
    fn list(&self, roots: &[DatasetName]) -> Result<Listing, ZfsError>;
    /// The holds on `snapshots`.
    fn holds(&self, snapshots: &[SnapshotName]) -> Result<Vec<Hold>, ZfsError>;
    fn hold(&self, tag: &str, snapshots: &[SnapshotName]) -> Result<(), ZfsError>;
    fn release(&self, tag: &str, snapshots: &[SnapshotName]) -> Result<(), ZfsError>;
    /// Creates `bookmark` of `from` (a snapshot or bookmark whose GUID is `guid`); idempotent.
    fn bookmark(&self, from: &str, guid: Guid, bookmark: &BookmarkName) -> Result<(), ZfsError>;
    fn destroy_bookmarks(&self, bookmarks: &[BookmarkName]) -> Result<(), ZfsError>;
    /// Decodes a receiver's resume token.
    fn decode_resume_token(&self, token: &str) -> Result<ResumeToken, ZfsError>;
    /// The size of `step`'s stream, when the sender can tell.
    fn estimate(&self, flags: &SendFlags, fs: &DatasetName, step: &Step) -> Option<u64>;
    /// `creation` of the named snapshots.
    fn creation_times(&self, snapshots: &[String]) -> Result<BTreeMap<String, u64>, ZfsError>;
    fn set_property(&self, name: &str, property: &str, value: &str) -> Result<(), ZfsError>;
    /// Starts sending `step`'s stream; `stall` bounds a remote stream's silence.
    fn send(&self, flags: &SendFlags, fs: &DatasetName, step: &Step, stall: Duration) -> Result<SendProcess, ZfsError>;
}

/// The receiving side of a job, one connection. Paths are below the receiver's root.
pub trait Receiver: Send {
    /// The receiver's root, as it announced it (not yet validated).
    fn root(&self) -> &str;
    /// Sends a list request; [`Receiver::list_reply`] collects the reply (both sides list at once).
    fn start_list(&mut self, req: proto::ListRequest) -> Result<(), AgentError>;
    fn list_reply(&mut self) -> Result<proto::ListReply, AgentError>;
    /// Receives one stream, `step`'s, from `source`; `source_ok` says at its end whether the producer
    /// succeeded.
    #[allow(clippy::too_many_arguments)]
    fn receive(
        &mut self,
        req: proto::ReceiveRequest,
        step: &Step,
        source: &mut dyn FdRead,
        source_ok: &mut dyn FnMut() -> Result<(), Failure>,
        stall: Duration,
        on_bytes: &mut dyn FnMut(u64),
    ) -> Result<Streamed, StreamError>;
    /// Bytes that crossed the link so far (to tell a failed stream's share).
    fn wire_total(&self) -> u64;
    /// The receiver records each snapshot's `creation` (the step then carries it).
    fn records_creation(&self) -> bool {
        false
    }
    /// Aborts the resumable state of `fs`.
    fn abort_resume(&mut self, fs: &str) -> Result<(), AgentError>;
    /// Puts the job's last-received hold on `fs@snapshot` (whose GUID is `guid`), releasing older ones.
    fn hold_last_received(&mut self, fs: &str, snapshot: &str, guid: u64, job_id: &str) -> Result<(), AgentError>;
    /// Sets the diverged copy `fs` aside, a new chain starting from its snapshot `common_guid` (else from a
    /// full send); returns where the copy went.
    fn rotate(&mut self, fs: &str, common_guid: Option<u64>) -> Result<proto::RotateReply, AgentError> {
        let _ = (fs, common_guid);
        Err(no_zfs_copies("rotate"))
    }
    /// Changes the role of a copy (and everything below it), or of a job's original (see
    /// [`proto::SetRoleRequest`]).
    fn set_role(&mut self, req: proto::SetRoleRequest) -> Result<(), AgentError> {
        let _ = req;
        Err(no_zfs_copies("fail over to"))
    }
}

fn no_zfs_copies(what: &str) -> AgentError {
    AgentError::Remote {
        kind: crate::error::ErrorKind::Unsupported,
        message: format!("this receiver keeps no ZFS copies to {what}"),
    }
}

/// Opens a job's ends. Each worker of a run opens its own pair.
pub trait Endpoints: Sync {
    fn sender(&self) -> Result<Box<dyn Sender>, AgentError>;
    fn receiver(&self) -> Result<Box<dyn Receiver>, AgentError>;
    /// The sender reached without the receiver (to release aged step holds when the receiver is down);
    /// `None` when the sender is across a link too (a pull job).
    fn local_sender(&self) -> Option<Box<dyn Sender>>;
}

/// A job's endpoints.
pub fn for_job(job: &Job) -> JobEndpoints<'_> {
    JobEndpoints { job }
}
