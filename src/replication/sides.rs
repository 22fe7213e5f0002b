//! The two sides of a failed-over job, root by root: each root filesystem's **original** on its production
//! host and its **replica** on the backup host, and how this host reaches each. A push job runs on the
//! production host: the originals are here (this host's `zfs`), the replicas behind the receiver's agent. A
//! pull job runs on the backup host: the replicas are here, the originals behind the production host's
//! recv-agent of `[jobs.restore]`. The failover mark ([`FAILOVER_PROPERTY`]) is kept on this host's side.

use crate::agent::client::AgentError;
use crate::agent::wire::proto::SetRoleRequest;
use crate::config::Job;
use crate::endpoint::{self, Endpoints, Receiver};
use crate::error::{ErrorKind, Failure};
use crate::zfs::names::DatasetName;
use crate::zfs::role::{self, Change, FAILOVER_PROPERTY};
use crate::zfs::{Zfs, ZfsError};

use super::reverse;

/// One root of the job.
#[derive(Debug, Clone)]
pub struct Pair {
    pub original: DatasetName,
    pub replica: DatasetName,
    /// Where the other host's agent knows the dataset there: the replica below the receiver's root (push),
    /// the original below the root of `[jobs.restore]` target (pull).
    remote: String,
}

/// The job's roots and the way to their other host.
pub struct Sides {
    pub pairs: Vec<Pair>,
    pull: bool,
    /// The job whose receiver is the other host: the job itself (push) or the job turned around (pull).
    remote_job: Job,
}

impl Sides {
    /// The sides of `job`, or why it cannot fail over.
    pub fn of(job: &Job) -> Result<Sides, Failure> {
        let unsupported = |m: String| Failure::new(ErrorKind::Unsupported, m);
        if job.target.is_store() {
            return Err(unsupported(format!(
                "job {}: its copies are in an object store, which cannot become a primary; restore them",
                job.name
            )));
        }
        let pull = job.is_pull();
        let restore_root = match (&job.restore, pull) {
            (Some(r), true) => Some(r.target.root_fs().clone()),
            (None, true) => {
                return Err(unsupported(format!(
                    "job {} pulls: its failover sends back through the production host's recv-agent named by \
                     [jobs.restore] (README, \"Getting data back\")",
                    job.name
                )))
            }
            _ => None,
        };
        let base = job
            .receiver_root()
            .map_err(|e| Failure::new(ErrorKind::InvalidName, format!("client_identity: {e}")))?;
        let mut pairs = Vec::new();
        for original in job.filesystems.roots() {
            let rel = job
                .receiver_path(&original)
                .ok_or_else(|| unsupported(format!("{original} lands nowhere on the receiver (strip)")))?;
            let replica = base
                .child(&rel)
                .map_err(|e| Failure::new(ErrorKind::InvalidName, format!("{original} on the receiver: {e}")))?;
            let remote = match &restore_root {
                None => rel,
                Some(root) => match original.strip_prefix(root) {
                    Some(r) if !r.is_empty() => r.to_string(),
                    _ => {
                        return Err(unsupported(format!(
                            "{original} is not below {root}, the root of [jobs.restore] target: the production \
                             host's recv-agent must hold every root of the job"
                        )))
                    }
                },
            };
            pairs.push(Pair {
                original,
                replica,
                remote,
            });
        }
        if pairs.is_empty() {
            return Err(unsupported(format!("job {} has no root filesystem", job.name)));
        }
        let remote_job = match pull {
            false => job.clone(),
            true => reverse::failover_job(job).map_err(|e| Failure::new(ErrorKind::InvalidName, e.0))?,
        };
        Ok(Sides {
            pairs,
            pull,
            remote_job,
        })
    }

    /// The dataset of `p` on this host, which carries the mark.
    pub fn here<'a>(&self, p: &'a Pair) -> &'a DatasetName {
        if self.pull {
            &p.replica
        } else {
            &p.original
        }
    }

    /// The marks on this host's side, one per root (`-` where unset, empty where the root does not exist),
    /// read in one `zfs get`.
    pub fn marks(&self, zfs: &Zfs) -> Vec<String> {
        let names: Vec<&str> = self.pairs.iter().map(|p| self.here(p).as_str()).collect();
        zfs.get_property_of_each(&names, FAILOVER_PROPERTY)
            .unwrap_or_else(|_| vec![String::new(); names.len()])
    }

    /// Opens the agent on the other host.
    pub fn connect(&self) -> Result<Box<dyn Receiver>, Failure> {
        endpoint::for_job(&self.remote_job).receiver().map_err(agent_failure)
    }

    /// Applies `change` to the `original` or the replica of `p`: here (a push job's original, a pull job's
    /// replica) through this host's `zfs`, else through the other host's agent.
    pub fn apply(
        &self,
        zfs: &Zfs,
        conn: &mut dyn Receiver,
        p: &Pair,
        job: &Job,
        change: Change,
        original: bool,
    ) -> Result<(), Failure> {
        if original == self.pull {
            let req = SetRoleRequest::new(&p.remote, change, original, job.name.as_str());
            return conn.set_role(req).map_err(agent_failure);
        }
        let fs = if original { &p.original } else { &p.replica };
        role::apply(zfs, fs, &job.name, change, !original).map_err(zfs_failure)
    }
}

/// A ZFS error as the command's failure.
pub fn zfs_failure(e: ZfsError) -> Failure {
    Failure::new(e.error_kind(), e.to_string())
}

fn agent_failure(e: AgentError) -> Failure {
    Failure::new(e.kind(), format!("the other host: {e}"))
}
