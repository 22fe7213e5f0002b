//! Planning: pure functions from the sender's and the receiver's view of one filesystem to what replication
//! must do there — nothing, resume, a chain of incremental steps, an initial full send, or a conflict whose
//! reason names the snapshots involved. No I/O: the driver lists, decodes tokens and executes.
//!
//! Versions are matched by GUID, never by name. The incremental base is the receiver's newest snapshot, found
//! on the sender as a snapshot or a bookmark (a cursor bookmark lets the sender prune the snapshot). Receiver
//! bookmarks are ignored. A diverged receiver or a missing common ancestor is never rolled back.

use serde::Serialize;

use crate::config::{InitialReplication, SnapshotFilter};
use crate::zfs::list::FsEntry;
use crate::zfs::names::{DatasetName, SnapshotName};
use crate::zfs::send::{resume_send_args, send_args, SendFlags, SendSpec};
use crate::zfs::token::ResumeToken;
use crate::zfs::{Guid, Version};

/// What the job asks for, as far as planning is concerned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Policy {
    pub initial: InitialReplication,
    /// `send.encrypted`: refuse datasets that are not encrypted.
    pub encrypted: bool,
    /// Whether sends are raw (`-w`); a resume token of an encrypted filesystem must agree (ZFS marks a
    /// token `rawok` only for a raw send of encrypted data).
    pub raw: bool,
    /// Which snapshots are replicated (`[jobs.snapshots]`): no other snapshot is ever a step's `to` or one
    /// of its intermediates; `-I` is used only where no other snapshot lies in its range.
    pub snapshots: SnapshotFilter,
}

/// The receiver's resume token as the sender decoded it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TokenState {
    None,
    Decoded {
        token: String,
        decoded: ResumeToken,
    },
    /// `zfs send -nvt` could not decode it; the message says why.
    Undecodable {
        token: String,
        message: String,
    },
}

/// One send: a full stream (`from` = None) or an incremental, possibly resumed from a token. An incremental
/// step from a snapshot may carry `intermediates`: then it is one `zfs send -I from to` stream that also
/// delivers those snapshots, in order (one stream instead of one per snapshot: far fewer `zfs` processes and
/// round trips). Every snapshot of a step is protected by the step hold while it runs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Step {
    pub from: Option<Version>,
    pub to: Version,
    /// Sender snapshots between `from` and `to` sent by the same `-I` stream, oldest first.
    pub intermediates: Vec<Version>,
    /// Resume this step from the receiver's (validated) token.
    pub resume_token: Option<String>,
}

impl Step {
    /// Snapshots this step delivers to the receiver (`intermediates` and `to`).
    pub fn snapshot_count(&self) -> usize {
        self.intermediates.len() + 1
    }
}

/// Why a filesystem cannot be replicated as things stand.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ConflictKind {
    NoSenderSnapshots,
    NoCommonAncestor,
    Diverged,
    InitialReplicationRefused,
    NotEncrypted,
    ReceiverNotEmpty,
    ResumeTokenMismatch,
    ResumeTokenUndecodable,
    /// Two sender filesystems would land on the same receiver dataset (`strip`).
    ReceiverPathCollision,
    /// An encrypted filesystem sent raw cannot replace the receiver's unencrypted placeholder: ZFS refuses
    /// `zfs receive -F` of an encrypted stream over an existing unencrypted filesystem.
    EncryptedOverPlaceholder,
    /// A restore would need a full send, and `--allow-full` was not given.
    FullRefused,
}

/// The plan for one filesystem.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "action", rename_all = "snake_case")]
pub enum FsPlan {
    /// The receiver has the sender's newest snapshot (or nothing newer exists).
    UpToDate,
    /// Send these steps in order.
    Replicate {
        steps: Vec<Step>,
        /// Abort the receiver's stale resume state (its snapshot is gone from the sender) first.
        abort_stale_token: bool,
        /// The receiver dataset is an empty placeholder that the first (full) step replaces.
        replace_placeholder: bool,
    },
    Conflict {
        kind: ConflictKind,
        reason: String,
    },
}

impl ConflictKind {
    /// The snake_case name used in reports (`diverged`, `no_common_ancestor`, …).
    pub fn name(self) -> String {
        serde_json::to_value(self)
            .ok()
            .and_then(|v| v.as_str().map(String::from))
            .unwrap_or_default()
    }
}

impl FsPlan {
    pub fn steps(&self) -> &[Step] {
        match self {
            FsPlan::Replicate { steps, .. } => steps,
            _ => &[],
        }
    }
}

fn conflict(kind: ConflictKind, reason: String) -> FsPlan {
    FsPlan::Conflict { kind, reason }
}

/// The receiver's placeholder (made when only filesystems below `fs` were replicated) cannot become a raw
/// copy of the encrypted `fs`: ZFS refuses to overwrite an unencrypted filesystem with an encrypted one.
fn encrypted_over_placeholder(fs: &str, receiver: Option<&FsEntry>) -> FsPlan {
    let at = receiver.map_or_else(|| "its place".to_string(), |r| r.name.to_string());
    conflict(
        ConflictKind::EncryptedOverPlaceholder,
        format!(
            "the receiver has a placeholder at {at}, made when only filesystems below {fs} were replicated, and \
             ZFS cannot replace it with a raw copy of the encrypted {fs} (zfs receive -F refuses to overwrite an \
             unencrypted filesystem with an encrypted one); on the receiver, rename the copies below {at} away \
             (or destroy them) and destroy the placeholder, then run again"
        ),
    )
}

fn name_list(vs: &[&Version]) -> String {
    match vs {
        [] => "none".to_string(),
        [one] => one.relative_name(),
        [first, .., last] => format!(
            "{} … {} ({} in all)",
            first.relative_name(),
            last.relative_name(),
            vs.len()
        ),
    }
}

/// The sender version to use as incremental source for GUID `guid`: its snapshot if it still exists,
/// else a bookmark of it.
fn sender_version_with_guid(sender: &FsEntry, guid: Guid) -> Option<&Version> {
    let mut found = None;
    for v in sender.versions.iter().filter(|v| v.guid == guid) {
        if v.is_snapshot() {
            return Some(v);
        }
        found.get_or_insert(v);
    }
    found
}

/// The steps that bring the receiver from `from` to the last of `tos` (oldest first): a full send of the
/// first when there is no `from`; from a bookmark, an `-i` step to the first (`-I` needs a snapshot as
/// source); then `-I` steps, each as long as no snapshot of `all` (every sender snapshot) that is not in
/// `tos` lies inside its range, and `-i` steps across the ones that would (an `-I` stream carries every
/// snapshot of its range).
fn chain(from: Option<&Version>, tos: &[&Version], all: &[&Version]) -> Vec<Step> {
    let mut steps = Vec::new();
    let (mut from, mut tos) = (from.cloned(), tos);
    let needs_single = |f: &Option<Version>| f.as_ref().is_none_or(|f| !f.is_snapshot());
    // How many of `tos` one -I stream from `f` can carry: up to the first unwanted snapshot after `f`.
    let run_len = |f: &Version, tos: &[&Version]| {
        let unwanted = all
            .iter()
            .filter(|s| s.createtxg > f.createtxg && !tos.iter().any(|t| t.guid == s.guid))
            .map(|s| s.createtxg)
            .min();
        tos.iter()
            .take_while(|t| unwanted.is_none_or(|u| t.createtxg < u))
            .count()
    };
    while let Some((first, rest)) = tos.split_first() {
        let run = match &from {
            Some(f) if !needs_single(&from) && !rest.is_empty() => run_len(f, tos).max(1),
            _ => 1,
        };
        if run == 1 {
            steps.push(Step {
                from: from.take(),
                to: (*first).clone(),
                intermediates: Vec::new(),
                resume_token: None,
            });
            from = Some((*first).clone());
            tos = rest;
        } else {
            let (carried, left) = tos.split_at(run);
            let (last, middle) = carried.split_last().map_or((*first, &[][..]), |(l, m)| (*l, m));
            steps.push(Step {
                from: from.take(),
                to: last.clone(),
                intermediates: middle.iter().map(|v| (*v).clone()).collect(),
                resume_token: None,
            });
            from = Some(last.clone());
            tos = left;
        }
    }
    steps
}

/// Plans one filesystem. `receiver` is the receiver's dataset for this filesystem, if it exists.
pub fn plan_filesystem(sender: &FsEntry, receiver: Option<&FsEntry>, token: &TokenState, policy: &Policy) -> FsPlan {
    let fs = sender.name.as_str();
    if policy.encrypted && !sender.is_encrypted() {
        return conflict(
            ConflictKind::NotEncrypted,
            format!("{fs} is not encrypted, but the job sets send.encrypted = true; refusing to send it"),
        );
    }
    let all_snaps: Vec<&Version> = sender.snapshots().collect();
    // Only the snapshots the job replicates are ever sent.
    let sender_snaps: Vec<&Version> = all_snaps
        .iter()
        .copied()
        .filter(|s| policy.snapshots.matches(&s.short))
        .collect();
    let recv_snaps: Vec<&Version> = receiver.map(|r| r.snapshots().collect()).unwrap_or_default();

    // The incremental base: the receiver's newest snapshot, which the sender must have (snapshot or bookmark).
    let base: Option<&Version> = match recv_snaps.last() {
        None => None,
        Some(newest) => match sender_version_with_guid(sender, newest.guid) {
            Some(v) => Some(v),
            None => return diverged_or_unrelated(sender, &all_snaps, &recv_snaps),
        },
    };
    // Sender snapshots the receiver still needs, oldest first.
    let candidates: Vec<&Version> = match base {
        Some(b) => sender_snaps
            .iter()
            .copied()
            .filter(|s| s.createtxg > b.createtxg)
            .collect(),
        None => sender_snaps.clone(),
    };

    // A resume token is honoured only if it continues what we would send anyway.
    let (resumed, abort_stale_token) = match resume(sender, base, &candidates, token, policy) {
        Ok(r) => r,
        Err(c) => return c,
    };

    if resumed.is_some() && base.is_none() && policy.initial == InitialReplication::Fail {
        return conflict(
            ConflictKind::InitialReplicationRefused,
            format!(
                "the receiver holds a partial initial send of {fs} and the job sets initial_replication = \"fail\"; \
                 finish it by changing the policy, or discard it with `zfs receive -A` on the receiver"
            ),
        );
    }
    if let Some(step) = resumed {
        let replace_placeholder = receiver.is_some_and(|r| r.is_placeholder()) && recv_snaps.is_empty();
        return resumed_then_rest(step, &candidates, &all_snaps, replace_placeholder);
    }

    if base.is_none() {
        // Initial replication (see also `encrypted_over_placeholder`).
        return initial(sender, receiver, &sender_snaps, &all_snaps, policy, abort_stale_token);
    }

    if candidates.is_empty() {
        if abort_stale_token {
            return FsPlan::Replicate {
                steps: Vec::new(),
                abort_stale_token,
                replace_placeholder: false,
            };
        }
        return FsPlan::UpToDate;
    }
    FsPlan::Replicate {
        steps: chain(base, &candidates, &all_snaps),
        abort_stale_token,
        replace_placeholder: false,
    }
}

/// The resumed step, then the steps to the newest candidate after it.
fn resumed_then_rest(step: Step, candidates: &[&Version], all_snaps: &[&Version], replace_placeholder: bool) -> FsPlan {
    let rest: Vec<&Version> = candidates
        .iter()
        .copied()
        .filter(|s| s.createtxg > step.to.createtxg)
        .collect();
    let mut steps = vec![step.clone()];
    steps.extend(chain(Some(&step.to), &rest, all_snaps));
    FsPlan::Replicate {
        steps,
        abort_stale_token: false,
        replace_placeholder,
    }
}

/// The step that resumes the receiver's resume token, if it continues what would be sent anyway, and
/// whether a stale token is to be aborted; a conflict when the token is undecodable or not this job's.
fn resume(
    sender: &FsEntry,
    base: Option<&Version>,
    candidates: &[&Version],
    token: &TokenState,
    policy: &Policy,
) -> Result<(Option<Step>, bool), FsPlan> {
    let fs = sender.name.as_str();
    match token {
        TokenState::None => Ok((None, false)),
        TokenState::Undecodable { message, .. } => Err(conflict(
            ConflictKind::ResumeTokenUndecodable,
            format!(
                "the receiver's resume token for {fs} cannot be decoded ({message}); \
                     discard it with `zfs receive -A` on the receiver"
            ),
        )),
        TokenState::Decoded { token, decoded } => match validate_token(sender, base, candidates, decoded, policy) {
            TokenVerdict::Resume(to) => Ok((
                Some(Step {
                    from: base.cloned(),
                    to: to.clone(),
                    intermediates: Vec::new(),
                    resume_token: Some(token.clone()),
                }),
                false,
            )),
            TokenVerdict::Stale => Ok((None, true)),
            TokenVerdict::Refuse(why) => Err(conflict(
                ConflictKind::ResumeTokenMismatch,
                format!(
                    "refusing the receiver's resume token for {fs}: {why}; if it is not from this job, \
                         discard it with `zfs receive -A` on the receiver"
                ),
            )),
        },
    }
}

/// The plan of a filesystem the receiver has no snapshot of: an initial full send (of the newest or of all
/// selected snapshots, by `initial_replication`), or the conflict that keeps it from one.
fn initial(
    sender: &FsEntry,
    receiver: Option<&FsEntry>,
    sender_snaps: &[&Version],
    all_snaps: &[&Version],
    policy: &Policy,
    abort_stale_token: bool,
) -> FsPlan {
    let fs = sender.name.as_str();
    if sender_snaps.is_empty() {
        let why = if all_snaps.is_empty() || policy.snapshots.is_all() {
            format!("{fs} has no snapshots to replicate; take one (zreplrs snapshot) first")
        } else {
            format!(
                "{fs} has no snapshots that the job's [jobs.snapshots] filter selects ({} on the sender)",
                name_list(all_snaps)
            )
        };
        return conflict(ConflictKind::NoSenderSnapshots, why);
    }
    if let Some(r) = receiver {
        if !r.is_placeholder() && r.resume_token.is_none() {
            return conflict(
                ConflictKind::ReceiverNotEmpty,
                format!(
                    "the receiver already has {} without snapshots and it is not a placeholder; \
                         refusing to overwrite it",
                    r.name
                ),
            );
        }
    }
    let tos: Vec<&Version> = match policy.initial {
        InitialReplication::Fail => {
            return conflict(
                ConflictKind::InitialReplicationRefused,
                format!(
                    "{fs} needs an initial full send ({} on the sender) and the job sets \
                         initial_replication = \"fail\"",
                    name_list(sender_snaps)
                ),
            )
        }
        InitialReplication::MostRecent => sender_snaps.last().copied().into_iter().collect(),
        InitialReplication::All => sender_snaps.to_vec(),
    };
    let replace_placeholder = receiver.is_some_and(|r| r.is_placeholder());
    // ZFS refuses `zfs receive -F` of a new raw encrypted stream over an existing unencrypted filesystem (a
    // partial receive there, with its token, is resumed instead and is no placeholder of ours).
    let raw_over_placeholder = replace_placeholder
        && policy.raw
        && sender.is_encrypted()
        && receiver.is_some_and(|r| r.resume_token.is_none());
    if raw_over_placeholder {
        return encrypted_over_placeholder(fs, receiver);
    }
    FsPlan::Replicate {
        steps: chain(None, &tos, all_snaps),
        abort_stale_token,
        replace_placeholder,
    }
}

enum TokenVerdict<'a> {
    Resume(&'a Version),
    Stale,
    Refuse(String),
}

fn validate_token<'a>(
    sender: &'a FsEntry,
    base: Option<&Version>,
    candidates: &[&'a Version],
    t: &ResumeToken,
    policy: &Policy,
) -> TokenVerdict<'a> {
    let fs = sender.name.as_str();
    let Some((tfs, tshort)) = t.toname.split_once('@') else {
        return TokenVerdict::Refuse(format!("its toname {:?} is not a snapshot", t.toname));
    };
    if tfs != fs {
        return TokenVerdict::Refuse(format!("it sends {} but this filesystem is {fs}", t.toname));
    }
    let Some(to) = sender.snapshots().find(|s| s.guid == t.toguid) else {
        return TokenVerdict::Stale;
    };
    if to.short != tshort {
        return TokenVerdict::Refuse(format!(
            "its toname {} does not match the sender's snapshot with GUID {} ({fs}@{})",
            t.toname, t.toguid, to.short
        ));
    }
    if !candidates.iter().any(|c| c.guid == to.guid) {
        return TokenVerdict::Refuse(format!(
            "it sends {fs}@{} (GUID {}), which is not newer than the receiver's newest snapshot",
            to.short, to.guid
        ));
    }
    let want_from = base.map(|b| b.guid);
    if t.fromguid != want_from {
        let show = |g: Option<Guid>| g.map_or("none (full send)".to_string(), |g| g.to_string());
        return TokenVerdict::Refuse(format!(
            "its fromguid is {} but the incremental base is {}",
            show(t.fromguid),
            show(want_from)
        ));
    }
    // ZFS sets `rawok` only when a raw send carries encrypted data: `zfs send -w` of an unencrypted
    // filesystem makes a token without it, and that token is this job's own.
    let want_rawok = policy.raw && sender.is_encrypted();
    if t.rawok != want_rawok {
        return TokenVerdict::Refuse(format!(
            "it was made for a {} send but this job sends this filesystem {}",
            if t.rawok { "raw" } else { "non-raw" },
            if want_rawok { "raw" } else { "non-raw" }
        ));
    }
    TokenVerdict::Resume(to)
}

fn diverged_or_unrelated(sender: &FsEntry, sender_snaps: &[&Version], recv_snaps: &[&Version]) -> FsPlan {
    let fs = sender.name.as_str();
    let Some(newest) = recv_snaps.last() else {
        return FsPlan::UpToDate;
    };
    let common = recv_snaps
        .iter()
        .rev()
        .find(|r| sender.versions.iter().any(|s| s.guid == r.guid));
    match common {
        Some(c) => {
            let extra: Vec<&Version> = recv_snaps
                .iter()
                .copied()
                .filter(|r| r.createtxg > c.createtxg)
                .collect();
            conflict(
                ConflictKind::Diverged,
                format!(
                    "the receiver has diverged: its newest snapshot {} (GUID {}) is not on the sender; \
                     the newest common snapshot is {} (GUID {}), after which the receiver has {}. \
                     zreplrs never rolls back; destroy those receiver snapshots if they are not needed",
                    newest.relative_name(),
                    newest.guid,
                    c.relative_name(),
                    c.guid,
                    name_list(&extra)
                ),
            )
        }
        None if sender_snaps.is_empty() => conflict(
            ConflictKind::NoSenderSnapshots,
            format!(
                "{fs} has no snapshots or bookmarks matching the receiver's newest snapshot {} (GUID {})",
                newest.relative_name(),
                newest.guid
            ),
        ),
        None => conflict(
            ConflictKind::NoCommonAncestor,
            format!(
                "no common snapshot: the receiver has {} and the sender has {}, with no GUID in common; \
                 replicate into a new receiver dataset or destroy the receiver's copy",
                name_list(recv_snaps),
                name_list(sender_snaps)
            ),
        ),
    }
}

/// The `zfs send` argv of a step: `-t TOKEN` when it resumes, else the flags with `-i`/`-I` as the step needs;
/// `dry_run` adds `-n -v -P` for a size estimate.
pub fn send_args_for(flags: &SendFlags, fs: &DatasetName, step: &Step, dry_run: bool) -> Vec<String> {
    match &step.resume_token {
        Some(token) => resume_send_args(token, dry_run),
        None => {
            let spec = SendSpec {
                fs,
                from: step.from.as_ref(),
                to: &step.to,
                intermediates: !step.intermediates.is_empty(),
            };
            send_args(flags, &spec, dry_run)
        }
    }
}

/// The snapshots a step protects with step holds: `from` (when it is a snapshot), the intermediates of an
/// `-I` step, and `to`.
pub fn step_hold_targets(fs: &DatasetName, step: &Step) -> Vec<SnapshotName> {
    step.from
        .iter()
        .filter(|f| f.is_snapshot())
        .chain(&step.intermediates)
        .chain(std::iter::once(&step.to))
        .filter_map(|v| fs.snapshot(&v.short).ok())
        .collect()
}

pub mod reversal;
#[cfg(test)]
mod tests;
