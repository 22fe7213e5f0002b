//! The survey stage shared by `replicate` and `status`: connect to the receiver, list both sides, decode
//! resume tokens, plan every selected filesystem and estimate each step's size. Reads only: nothing on
//! either side changes here.
//!
//! Each side is listed in two `zfs list` calls at most (a third per 1,024 changed filesystems): first its
//! filesystems alone (with `snapshots_changed` and, on the sender, the job's sync record), then the
//! snapshots and bookmarks of the filesystems whose sync record does not match (see [`crate::synced`]).
//! A filesystem whose record matches is up to date; it is planned from the record's newest snapshot.

use std::collections::{BTreeMap, BTreeSet};

use crate::agent::client::AgentError;
use crate::agent::wire::convert;
use crate::agent::wire::proto::{FsEntry as WireEntry, ListRequest};
use crate::config::Job;
use crate::endpoint::{Receiver, Sender};
use crate::error::ErrorKind;
use crate::plan::{self, FsPlan, Policy, TokenState};
use crate::report::{self, ErrorReport};
use crate::synced::{ListedAt, SyncRecord};
use crate::zfs::bookkeeping::{parse_cursor_short, parse_tentative_cursor_short};
use crate::zfs::list::{FsEntry, Listing};
use crate::zfs::names::{BookmarkName, DatasetName, SnapshotName};
use crate::zfs::{Guid, ZfsError, ZfsErrorKind};

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
            connectivity: e.is_retriable(),
            error: ErrorReport::new(e.kind(), e.to_string()),
        }
    }
}

impl From<crate::error::Failure> for SurveyError {
    fn from(e: crate::error::Failure) -> Self {
        SurveyError {
            connectivity: e.kind.is_retriable(),
            error: ErrorReport::new(e.kind, e.message),
        }
    }
}

impl From<ZfsError> for SurveyError {
    fn from(e: ZfsError) -> Self {
        SurveyError {
            // Pull mode: the link to the source broke.
            connectivity: e.error_kind().is_retriable(),
            error: ErrorReport::from(&e),
        }
    }
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
    /// This job's tentative cursor bookmarks on the sender filesystem, with the GUID each points to.
    pub tentative_cursors: Vec<(BookmarkName, Guid)>,
    /// This job's step holds on the sender filesystem (stale unless a run is in progress).
    pub stale_step_holds: Vec<SnapshotName>,
    /// The receiver's newest snapshot GUID.
    pub receiver_newest: Option<Guid>,
    /// Known up to date from the sync record: its snapshots were not listed, `sender` and `receiver` hold
    /// only the newest snapshot, and `cursors` and `stale_step_holds` are empty (not looked for).
    pub from_record: bool,
}

/// Everything a run knows before it changes anything.
pub struct Survey {
    pub root: DatasetName,
    pub receiver: BTreeMap<DatasetName, FsEntry>,
    pub filesystems: Vec<FsSurvey>,
    /// When each side's listing began, if both sides can tell `snapshots_changed` (else no sync records).
    pub listed_at: Option<ListedAt>,
    /// Roots of the job that a pull job's send-agent refused to list, with its refusal.
    pub refused: Refused,
}

fn protocol(msg: String) -> SurveyError {
    SurveyError {
        error: ErrorReport::new(ErrorKind::Protocol, msg),
        connectivity: false,
    }
}

/// The receiver's root as its agent announced it, validated.
pub fn receiver_root(receiver: &dyn Receiver) -> Result<DatasetName, SurveyError> {
    DatasetName::new(receiver.root()).map_err(|e| protocol(format!("the receiver announced an invalid root: {e}")))
}

/// Roots a pull job's send-agent refused, with its refusal.
type Refused = Vec<(DatasetName, ErrorReport)>;

/// The sender's filesystems below `roots`. When a pull job's send-agent refuses the listing (a root its own
/// command line does not allow), each root is listed alone: the refused ones are returned with the
/// refusal, so that they fail alone and the others replicate.
fn list_roots(
    zfs: &dyn Sender,
    roots: &[DatasetName],
    record_prop: Option<&str>,
) -> Result<(Listing, bool, Refused), SurveyError> {
    match zfs.list_filesystems(roots, record_prop) {
        Ok((l, complete)) => return Ok((l, complete, Vec::new())),
        Err(e) if e.kind != ZfsErrorKind::Refused || roots.len() < 2 => return Err(e.into()),
        Err(_) => {}
    }
    let (mut all, mut all_complete, mut refused) = (Listing::default(), true, Vec::new());
    for root in roots {
        match zfs.list_filesystems(std::slice::from_ref(root), record_prop) {
            Ok((l, complete)) => {
                all.filesystems.extend(l.filesystems);
                all_complete &= complete;
            }
            Err(e) if e.kind == ZfsErrorKind::Refused => refused.push((root.clone(), ErrorReport::from(&e))),
            Err(e) => return Err(e.into()),
        }
    }
    Ok((all, all_complete, refused))
}

/// Lists both sides (`conn` is the receiver), plans and estimates.
pub fn survey(job: &Job, zfs: &dyn Sender, conn: &mut dyn Receiver) -> Result<Survey, SurveyError> {
    let root = receiver_root(conn)?;
    let mut l = list_both(job, zfs, conn, &root)?;
    let step_holds = step_holds_by_fs(zfs, &l.sender, job)?;
    let filesystems = plan_all(job, zfs, &root, &l, step_holds)?;
    Ok(Survey {
        root,
        receiver: std::mem::take(&mut l.receiver),
        filesystems,
        listed_at: l.listed_at,
        refused: l.refused,
    })
}

/// Both sides as listed, and the filesystems found up to date by their sync record.
struct Listed {
    sender: Listing,
    receiver: BTreeMap<DatasetName, FsEntry>,
    records: BTreeMap<DatasetName, SyncRecord>,
    listed_at: Option<ListedAt>,
    refused: Refused,
}

/// Lists both sides at the same time, in two rounds: filesystems alone, then the snapshots and bookmarks of
/// those whose sync record does not show them up to date (the others get their record's newest snapshot).
fn list_both(job: &Job, zfs: &dyn Sender, conn: &mut dyn Receiver, root: &DatasetName) -> Result<Listed, SurveyError> {
    let record_prop = job.sync_record_property();
    // Both sides list at the same time: the receiver's request goes out before the sender's own listing.
    conn.start_list(ListRequest {
        filesystems_only: true,
        ..Default::default()
    })?;
    let sender_listed_at = report::unix_now();
    let (mut sender, sender_complete, refused) = list_roots(zfs, &job.filesystems.roots(), record_prop.as_deref())?;
    let reply = conn.list_reply()?;
    let receiver_complete = !reply.filesystems_only;
    let listed_at = (!sender_complete && !receiver_complete).then_some(ListedAt {
        sender: sender_listed_at,
        receiver: reply.listed_at,
    });
    let mut receiver = from_wire_map(root, &reply.filesystems)?;
    let (records, unlisted, unlisted_targets) = by_record(job, root, &sender, &receiver, listed_at.is_some());
    // The snapshots of the others, again both sides at the same time.
    let ask_receiver = !receiver_complete && !unlisted_targets.is_empty();
    if ask_receiver {
        conn.start_list(ListRequest {
            versions_of: unlisted_targets,
            ..Default::default()
        })?;
    }
    if !sender_complete {
        zfs.list_versions(&mut sender, &unlisted)?;
    }
    if ask_receiver {
        let reply = conn.list_reply()?;
        for e in from_wire_map(root, &reply.filesystems)?.into_values() {
            if let Some(r) = receiver.get_mut(&e.name) {
                r.versions = e.versions;
            }
        }
    }
    for (name, r) in &records {
        let target = job.receiver_path(name).and_then(|rel| root.child(&rel).ok());
        if let Some(e) = sender.filesystems.get_mut(name) {
            e.versions = vec![r.snapshot_version()];
        }
        if let Some(e) = target.and_then(|t| receiver.get_mut(&t)) {
            e.versions = vec![r.snapshot_version()];
        }
    }
    Ok(Listed {
        sender,
        receiver,
        records,
        listed_at,
        refused,
    })
}

/// The selected filesystems whose sync record still matches both sides (need no further listing), and the
/// others: their names on the sender, and the receiver paths of those the receiver has.
fn by_record(
    job: &Job,
    root: &DatasetName,
    sender: &Listing,
    receiver: &BTreeMap<DatasetName, FsEntry>,
    both_tell_changes: bool,
) -> (BTreeMap<DatasetName, SyncRecord>, Vec<DatasetName>, Vec<String>) {
    let now = report::unix_now();
    let mut records = BTreeMap::new();
    let mut unlisted = Vec::new();
    let mut unlisted_targets = Vec::new();
    for fs in sender
        .filesystems
        .values()
        .filter(|f| job.filesystems.includes(&f.name))
    {
        let target = job.receiver_path(&fs.name).and_then(|rel| root.child(&rel).ok());
        let recv = target.as_ref().and_then(|t| receiver.get(t));
        let record = fs.sync_record.as_deref().and_then(SyncRecord::parse);
        match (record, recv) {
            (Some(r), Some(recv)) if both_tell_changes && r.holds_for(fs, recv, now) => {
                records.insert(fs.name.clone(), r);
            }
            _ => {
                unlisted.push(fs.name.clone());
                if let (Some(_), Some(rel)) = (recv, job.receiver_path(&fs.name)) {
                    unlisted_targets.push(rel);
                }
            }
        }
    }
    (records, unlisted, unlisted_targets)
}

/// Plans every selected filesystem and estimates its steps.
fn plan_all(
    job: &Job,
    zfs: &dyn Sender,
    root: &DatasetName,
    l: &Listed,
    mut step_holds: BTreeMap<DatasetName, Vec<SnapshotName>>,
) -> Result<Vec<FsSurvey>, SurveyError> {
    let policy = Policy {
        initial: job.initial_replication,
        encrypted: job.send.encrypted,
        raw: job.send.flags.raw,
        snapshots: job.snapshots.clone(),
    };
    let selected = || {
        l.sender
            .filesystems
            .values()
            .filter(|f| job.filesystems.includes(&f.name))
    };
    // Where each filesystem lands (`strip`), and which receiver paths more than one would land on.
    let mut landing: BTreeMap<String, Vec<&DatasetName>> = BTreeMap::new();
    for fs in selected() {
        if let Some(rel) = job.receiver_path(&fs.name) {
            landing.entry(rel).or_default().push(&fs.name);
        }
    }
    let mut filesystems = Vec::new();
    for fs in selected() {
        let Some(rel) = job.receiver_path(&fs.name) else {
            continue; // config check refuses a filter that includes a strip prefix itself
        };
        let target = root.child(&rel).map_err(|e| SurveyError {
            error: ErrorReport::new(ErrorKind::InvalidName, format!("receiver path for {}: {e}", fs.name)),
            connectivity: false,
        })?;
        let colliding: Vec<String> = landing
            .get(&rel)
            .map(|v| v.iter().filter(|n| **n != &fs.name).map(|n| n.to_string()).collect())
            .unwrap_or_default();
        let recv_entry = l.receiver.get(&target).cloned();
        let cut = job
            .reversal
            .as_ref()
            .and_then(|r| r.until.as_deref())
            .and_then(|u| plan::reversal::cut_at(fs, u));
        let fs = cut.as_ref().unwrap_or(fs);
        let plan = if colliding.is_empty() {
            let token = token_state(zfs, recv_entry.as_ref());
            let plan = plan::plan_filesystem(fs, recv_entry.as_ref(), &token, &policy);
            match &job.reversal {
                Some(r) => plan::reversal::refuse_full(plan, r.allow_full, fs.name.as_str(), target.as_str()),
                None => plan,
            }
        } else {
            plan::FsPlan::Conflict {
                kind: plan::ConflictKind::ReceiverPathCollision,
                reason: format!(
                    "{} and {} would both land at {target} (strip); exclude one of them or strip less",
                    fs.name,
                    colliding.join(", ")
                ),
            }
        };
        let ours = |parse: fn(&str) -> Option<(u64, &str)>| -> Vec<(BookmarkName, Guid)> {
            fs.bookmarks()
                .filter(|b| parse(&b.short).is_some_and(|(_, j)| j == job.name.as_str()))
                .filter_map(|b| fs.name.bookmark(&b.short).ok().map(|n| (n, b.guid)))
                .collect()
        };
        let cursors = ours(parse_cursor_short);
        let tentative_cursors = ours(parse_tentative_cursor_short);
        let estimates = plan
            .steps()
            .iter()
            .map(|s| zfs.estimate(&job.send.flags, &fs.name, s))
            .collect();
        filesystems.push(FsSurvey {
            sender: fs.clone(),
            receiver_newest: recv_entry.as_ref().and_then(|r| r.newest_snapshot()).map(|v| v.guid),
            receiver: recv_entry,
            target,
            rel,
            plan,
            estimates,
            cursors,
            tentative_cursors,
            stale_step_holds: step_holds.remove(&fs.name).unwrap_or_default(),
            from_record: l.records.contains_key(&fs.name),
        });
    }
    Ok(filesystems)
}

/// The receiver's resume token, decoded by the sender.
fn token_state(zfs: &dyn Sender, recv: Option<&FsEntry>) -> TokenState {
    match recv.and_then(|r| r.resume_token.clone()) {
        None => TokenState::None,
        Some(token) => match zfs.decode_resume_token(&token) {
            Ok(decoded) => TokenState::Decoded { token, decoded },
            Err(e) => TokenState::Undecodable {
                token,
                message: e.message,
            },
        },
    }
}

/// Receiver entries from the wire, by full name; names are validated and a name listed twice is refused.
pub fn from_wire_map(root: &DatasetName, entries: &[WireEntry]) -> Result<BTreeMap<DatasetName, FsEntry>, SurveyError> {
    let mut map = BTreeMap::new();
    for w in entries {
        let e =
            convert::from_wire(root, w).map_err(|e| protocol(format!("the receiver listed an invalid name: {e}")))?;
        if let Some(dup) = map.insert(e.name.clone(), e) {
            return Err(protocol(format!("the receiver listed {} twice", dup.name)));
        }
    }
    Ok(map)
}

/// `creation` of the named snapshots (full names), from the survey where it is known (sync records) and
/// from one batched `zfs get` for the rest. Names ZFS could not tell about are missing.
pub fn creation_times(zfs: &dyn Sender, work: &[FsSurvey], names: &[String]) -> BTreeMap<String, u64> {
    let wanted: BTreeSet<&String> = names.iter().collect();
    let mut known: BTreeMap<String, u64> = work
        .iter()
        .flat_map(|w| {
            w.sender
                .snapshots()
                .filter_map(|v| v.creation.map(|c| (v.full_name(w.sender.name.as_str()), c)))
        })
        .filter(|(n, _)| wanted.contains(n))
        .collect();
    let ask: Vec<String> = names.iter().filter(|n| !known.contains_key(*n)).cloned().collect();
    if !ask.is_empty() {
        if let Ok(times) = zfs.creation_times(&ask) {
            known.extend(times);
        }
    }
    known
}

/// This job's step holds on the sender, by filesystem (one `zfs holds` call for all held snapshots).
/// The snapshots of the job's filesystems in `listing` that carry any user hold (`userrefs` > 0).
pub fn held_snapshots(job: &Job, listing: &Listing) -> Vec<SnapshotName> {
    listing
        .filesystems
        .values()
        .filter(|f| job.filesystems.includes(&f.name))
        .flat_map(|f| {
            f.snapshots()
                .filter(|v| v.userrefs.unwrap_or(0) > 0)
                .filter_map(|v| f.name.snapshot(&v.short).ok())
        })
        .collect()
}

fn step_holds_by_fs(
    zfs: &dyn Sender,
    sender: &Listing,
    job: &Job,
) -> Result<BTreeMap<DatasetName, Vec<SnapshotName>>, ZfsError> {
    let held = held_snapshots(job, sender);
    let tag = job.name.step_hold_tag();
    let mut by_fs: BTreeMap<DatasetName, Vec<SnapshotName>> = BTreeMap::new();
    for h in zfs.holds(&held)?.into_iter().filter(|h| h.tag == tag) {
        if let Ok(s) = SnapshotName::new(&h.snapshot) {
            by_fs.entry(s.dataset()).or_default().push(s);
        }
    }
    Ok(by_fs)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_receiver_listing_with_a_name_twice_or_outside_the_root_is_refused() {
        let root = DatasetName::new("b/hosts").unwrap();
        let entry = |name: &str| WireEntry {
            name: name.into(),
            guid: 1,
            ..Default::default()
        };
        let ok = from_wire_map(&root, &[entry(""), entry("tank/a")]).unwrap();
        assert_eq!(ok.len(), 2);
        let err = from_wire_map(&root, &[entry("tank/a"), entry("tank/b"), entry("tank/a")]).unwrap_err();
        assert_eq!(err.error.kind.as_str(), "protocol");
        assert!(
            err.error.message.contains("b/hosts/tank/a twice"),
            "{}",
            err.error.message
        );
        let err = from_wire_map(&root, &[entry("../x")]).unwrap_err();
        assert!(err.error.message.contains("invalid name"), "{}", err.error.message);
    }
}
