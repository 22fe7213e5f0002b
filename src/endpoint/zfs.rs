//! ZFS as the [`Sender`] (this host's, or a pull job's source through its send-agent), and the endpoints of
//! a configured job.

use std::collections::BTreeMap;
use std::time::Duration;

use crate::agent::client::AgentError;
use crate::config::Job;
use crate::plan::Step;
use crate::zfs::list::Listing;
use crate::zfs::names::{BookmarkName, DatasetName, SnapshotName};
use crate::zfs::ops::Hold;
use crate::zfs::runner::SendProcess;
use crate::zfs::send::SendFlags;
use crate::zfs::token::ResumeToken;
use crate::zfs::{Guid, Zfs, ZfsError};

use super::{Endpoints, Receiver, Sender};

impl Sender for Zfs {
    fn list_filesystems(&self, roots: &[DatasetName], record_prop: Option<&str>) -> Result<(Listing, bool), ZfsError> {
        Zfs::list_filesystems(self, roots, record_prop)
    }

    fn list_versions(&self, listing: &mut Listing, filesystems: &[DatasetName]) -> Result<(), ZfsError> {
        Zfs::list_versions(self, listing, filesystems, false)
    }

    fn list(&self, roots: &[DatasetName]) -> Result<Listing, ZfsError> {
        Zfs::list(self, roots, false)
    }

    fn holds(&self, snapshots: &[SnapshotName]) -> Result<Vec<Hold>, ZfsError> {
        Zfs::holds(self, snapshots)
    }

    fn hold(&self, tag: &str, snapshots: &[SnapshotName]) -> Result<(), ZfsError> {
        Zfs::hold(self, tag, snapshots)
    }

    fn release(&self, tag: &str, snapshots: &[SnapshotName]) -> Result<(), ZfsError> {
        Zfs::release(self, tag, snapshots)
    }

    fn bookmark(&self, from: &str, guid: Guid, bookmark: &BookmarkName) -> Result<(), ZfsError> {
        Zfs::bookmark(self, from, guid, bookmark)
    }

    fn destroy_bookmarks(&self, bookmarks: &[BookmarkName]) -> Result<(), ZfsError> {
        Zfs::destroy_bookmarks(self, bookmarks)
    }

    fn decode_resume_token(&self, token: &str) -> Result<ResumeToken, ZfsError> {
        Zfs::decode_resume_token(self, token)
    }

    fn estimate(&self, flags: &SendFlags, fs: &DatasetName, step: &Step) -> Option<u64> {
        let args = crate::plan::send_args_for(flags, fs, step, true);
        Zfs::estimate(self, &args).ok().and_then(|e| e.bytes())
    }

    fn creation_times(&self, snapshots: &[String]) -> Result<BTreeMap<String, u64>, ZfsError> {
        Zfs::creation_times(self, snapshots)
    }

    fn set_property(&self, name: &str, property: &str, value: &str) -> Result<(), ZfsError> {
        Zfs::set_property(self, name, property, value)
    }

    fn send(&self, flags: &SendFlags, fs: &DatasetName, step: &Step, stall: Duration) -> Result<SendProcess, ZfsError> {
        let args = crate::plan::send_args_for(flags, fs, step, false);
        self.spawn_send(&args, stall)
    }
}

/// A configured job's ends: ZFS here (push) or on the source through its send-agent (pull), and the
/// job's recv-agent reached through [`crate::transport`].
pub struct JobEndpoints<'a> {
    pub(super) job: &'a Job,
}

impl Endpoints for JobEndpoints<'_> {
    fn sender(&self) -> Result<Box<dyn Sender>, AgentError> {
        Ok(Box::new(crate::transport::sender_zfs(self.job)?))
    }

    fn receiver(&self) -> Result<Box<dyn Receiver>, AgentError> {
        if self.job.target.is_store() {
            return Ok(Box::new(super::BucketReceiver::open(self.job)?));
        }
        Ok(Box::new(crate::transport::connect(self.job)?))
    }

    fn local_sender(&self) -> Option<Box<dyn Sender>> {
        (!self.job.is_pull()).then(|| Box::new(Zfs::new()) as Box<dyn Sender>)
    }
}
