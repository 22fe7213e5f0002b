//! The survey stage shared by `replicate` and `status`: connect to the receiver, list both sides (one
//! `zfs list` each), decode resume tokens, plan every selected filesystem and estimate each step's size.
//! Reads only: nothing on either side changes here.

use std::collections::BTreeMap;

use crate::agent::client::AgentError;
use crate::agent::convert;
use crate::config::Job;
use crate::plan::{self, FsPlan, Policy, Step, TokenState};
use crate::report::ErrorReport;
use crate::transport::{self, Connection};
use crate::zfs::list::{FsEntry, Listing};
use crate::zfs::names::{parse_cursor_short, BookmarkName, DatasetName, SnapshotName};
use crate::zfs::{Guid, Zfs, ZfsError};

/// Why a survey (or an attempt) could not go on.
#[derive(Debug)]
pub struct SurveyError {
    pub error: ErrorReport,
    /// A connectivity problem: reconnecting may help.
    pub connectivity: bool,
}

impl From<AgentError> for SurveyError {
    fn from(e: AgentError) -> Self {
        SurveyError {
            connectivity: e.is_connectivity(),
            error: ErrorReport::new(e.kind(), e.to_string()),
        }
    }
}

impl From<ZfsError> for SurveyError {
    fn from(e: ZfsError) -> Self {
        SurveyError {
            connectivity: false,
            error: zfs_error(&e),
        }
    }
}

/// A ZFS error as a report entry (`kind` = `zfs_<kind>`).
pub fn zfs_error(e: &ZfsError) -> ErrorReport {
    ErrorReport::new(e.report_kind(), e.to_string())
}

/// One selected filesystem as surveyed.
#[derive(Debug)]
pub struct FsSurvey {
    pub sender: FsEntry,
    /// The receiver's dataset for it, if it exists.
    pub receiver: Option<FsEntry>,
    /// Its full name on the receiver.
    pub target: DatasetName,
    /// Its path below the agent's root (the sender's full name).
    pub rel: String,
    pub plan: FsPlan,
    /// Dry-send estimate per planned step (`None`: ZFS could not estimate).
    pub estimates: Vec<Option<u64>>,
    /// This job's cursor bookmarks on the sender filesystem, with the GUID each points to.
    pub cursors: Vec<(BookmarkName, Guid)>,
    /// This job's step holds on the sender filesystem (stale unless a run is in progress).
    pub stale_step_holds: Vec<SnapshotName>,
    /// The receiver's newest snapshot GUID.
    pub receiver_newest: Option<Guid>,
}

/// Everything a run knows before it changes anything.
pub struct Survey {
    pub conn: Connection,
    pub root: DatasetName,
    pub receiver: BTreeMap<DatasetName, FsEntry>,
    pub filesystems: Vec<FsSurvey>,
}

fn protocol(msg: String) -> SurveyError {
    SurveyError {
        error: ErrorReport::new("protocol", msg),
        connectivity: false,
    }
}

/// Connects, lists both sides, plans and estimates.
pub fn survey(job: &Job, zfs: &Zfs) -> Result<Survey, SurveyError> {
    let mut conn = transport::connect(job)?;
    let root = DatasetName::new(&conn.client().hello.root)
        .map_err(|e| protocol(format!("the receiver announced an invalid root: {e}")))?;
    let sender = zfs.list(&job.filesystems.roots(), false)?;
    let mut receiver: BTreeMap<DatasetName, FsEntry> = BTreeMap::new();
    for w in &conn.client().list()?.filesystems {
        let e =
            convert::from_wire(&root, w).map_err(|e| protocol(format!("the receiver listed an invalid name: {e}")))?;
        receiver.insert(e.name.clone(), e);
    }
    let policy = Policy {
        initial: job.initial_replication,
        encrypted: job.send.encrypted,
        raw: job.send.flags.raw,
    };
    let mut step_holds = step_holds_by_fs(zfs, &sender, job)?;
    let mut filesystems = Vec::new();
    for fs in sender
        .filesystems
        .values()
        .filter(|f| job.filesystems.includes(&f.name))
    {
        let rel = fs.name.to_string();
        let target = root.child(&rel).map_err(|e| SurveyError {
            error: ErrorReport::new("invalid_name", format!("receiver path for {}: {e}", fs.name)),
            connectivity: false,
        })?;
        let recv_entry = receiver.get(&target).cloned();
        let token = match recv_entry.as_ref().and_then(|r| r.resume_token.clone()) {
            None => TokenState::None,
            Some(token) => match zfs.decode_resume_token(&token) {
                Ok(decoded) => TokenState::Decoded { token, decoded },
                Err(e) => TokenState::Undecodable {
                    token,
                    message: e.message,
                },
            },
        };
        let plan = plan::plan_filesystem(fs, recv_entry.as_ref(), &token, &policy);
        let cursors = fs
            .bookmarks()
            .filter(|b| parse_cursor_short(&b.short).is_some_and(|(_, j)| j == job.name.as_str()))
            .filter_map(|b| fs.name.bookmark(&b.short).ok().map(|n| (n, b.guid)))
            .collect();
        let estimates = plan.steps().iter().map(|s| estimate(zfs, job, fs, s)).collect();
        filesystems.push(FsSurvey {
            sender: fs.clone(),
            receiver_newest: recv_entry.as_ref().and_then(|r| r.newest_snapshot()).map(|v| v.guid),
            receiver: recv_entry,
            target,
            rel,
            plan,
            estimates,
            cursors,
            stale_step_holds: step_holds.remove(&fs.name).unwrap_or_default(),
        });
    }
    Ok(Survey {
        conn,
        root,
        receiver,
        filesystems,
    })
}

/// Dry-send estimate of one step; `None` when ZFS cannot say.
fn estimate(zfs: &Zfs, job: &Job, fs: &FsEntry, s: &Step) -> Option<u64> {
    let args = crate::step::send_args_for(&job.send.flags, &fs.name, s, true);
    zfs.estimate(&args).ok().and_then(|e| e.bytes())
}

/// This job's step holds on the sender, by filesystem (one `zfs holds` call for all held snapshots).
fn step_holds_by_fs(
    zfs: &Zfs,
    sender: &Listing,
    job: &Job,
) -> Result<BTreeMap<DatasetName, Vec<SnapshotName>>, ZfsError> {
    let held: Vec<SnapshotName> = sender
        .filesystems
        .values()
        .filter(|f| job.filesystems.includes(&f.name))
        .flat_map(|f| {
            f.snapshots()
                .filter(|v| v.userrefs.unwrap_or(0) > 0)
                .filter_map(|v| f.name.snapshot(&v.short).ok())
        })
        .collect();
    let tag = job.name.step_hold_tag();
    let mut by_fs: BTreeMap<DatasetName, Vec<SnapshotName>> = BTreeMap::new();
    for h in zfs.holds(&held)?.into_iter().filter(|h| h.tag == tag) {
        if let Ok(s) = SnapshotName::new(&h.snapshot) {
            by_fs.entry(s.dataset()).or_default().push(s);
        }
    }
    Ok(by_fs)
}
