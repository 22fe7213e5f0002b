//! Failover and failback on the receiving side: a copy becomes the writable primary, or a read-only copy
//! again (see [`crate::zfs::role`], which does the same on the production host's own filesystems). Refused
//! under `--append-only` (see [`crate::agent::recv::policy`]).

use crate::agent::request::{below_root, Refusal};
use crate::agent::wire::proto::{self, Envelope};
use crate::error::ErrorKind;
use crate::zfs::bookkeeping::JobId;
use crate::zfs::names::DatasetName;
use crate::zfs::Zfs;

/// Sets the role of the copy `req.fs` and everything below it (of the original `req.fs`, a pull job's on
/// its production host, when `req.original`).
pub(super) fn set_role(zfs: &Zfs, root: &DatasetName, req: &proto::SetRoleRequest) -> Result<Envelope, Refusal> {
    let fs = below_root(root, &req.fs)?;
    let job = JobId::new(&req.job_id).map_err(|e| Refusal::new(ErrorKind::InvalidName, e.to_string()))?;
    crate::zfs::role::apply(zfs, &fs, &job, req.change(), !req.original)?;
    Ok(Envelope::new(proto::Ok {}.into()))
}
