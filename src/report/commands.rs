//! The JSON results of the commands other than `replicate` (whose [`RunReport`](super::RunReport) is in the
//! parent module): data only, built by the commands in `src/cmd/`, rendered by [`super::human`] and
//! [`super::metrics`]. Each starts with the shared [`Header`] and says its exit code (docs/design.md §6).

use serde::Serialize;

use super::{exit, CommandReport, ErrorReport, Header, Timing};
use crate::prune::Side;
use crate::zfs::Guid;

// `zreplrs snapshot`

#[derive(Debug, Clone, Serialize)]
pub struct PoolResult {
    pub pool: String,
    pub snapshots: Vec<String>,
    pub taken: bool,
    pub error: Option<ErrorReport>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct HookResult {
    pub hook: String,
    pub argv: Vec<String>,
    pub success: bool,
    pub exit_code: Option<i32>,
    pub timed_out: bool,
    /// The last lines of its output (stdout and stderr).
    pub output: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct SnapshotReport {
    #[serde(flatten)]
    pub header: Header,
    #[serde(flatten)]
    pub timing: Timing,
    pub snapshot_name: String,
    pub pools: Vec<PoolResult>,
    pub hooks: Vec<HookResult>,
    pub snapshots_taken: u64,
    pub error: Option<ErrorReport>,
}

impl CommandReport for SnapshotReport {
    /// 0 all taken; 1 a pool failed or the pre-hook skipped the snapshot; 3 nothing could be listed.
    fn exit_code(&self) -> u8 {
        exit::code(
            self.error.is_some(),
            self.pools.iter().any(|p| !p.taken) || self.hooks.iter().any(|h| !h.success),
        )
    }
}

// `zreplrs prune`

#[derive(Debug, Clone, Serialize)]
pub struct SnapDecision {
    pub snapshot: String,
    pub action: &'static str,
    pub reason: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct FsPrune {
    pub side: &'static str,
    pub filesystem: String,
    /// Destroyed (or, with --dry-run, to be destroyed).
    pub destroyed: Vec<String>,
    /// Not kept by any rule but held by a user hold: left alone.
    pub held: Vec<String>,
    pub kept: u64,
    pub decisions: Vec<SnapDecision>,
    /// In a bucket: the stream objects deleted (or, with --dry-run, to be deleted), each with why.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub objects: Vec<ObjectDeletion>,
    pub error: Option<ErrorReport>,
}

/// A stream object retention deletes from a bucket.
#[derive(Debug, Clone, Serialize)]
pub struct ObjectDeletion {
    pub key: String,
    pub reason: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct PruneReport {
    #[serde(flatten)]
    pub header: Header,
    pub side: Side,
    #[serde(flatten)]
    pub timing: Timing,
    pub destroyed: u64,
    pub filesystems: Vec<FsPrune>,
    pub error: Option<ErrorReport>,
}

impl CommandReport for PruneReport {
    fn exit_code(&self) -> u8 {
        exit::code(self.error.is_some(), self.filesystems.iter().any(|f| f.error.is_some()))
    }
}

// `zreplrs status`

/// State of one filesystem.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum FsState {
    UpToDate,
    /// Snapshots wait to be sent (possibly resuming an interrupted transfer).
    Pending,
    Conflict,
}

#[derive(Debug, Clone, Serialize)]
pub struct FsStatus {
    pub name: String,
    pub target: String,
    pub state: FsState,
    pub newest_sender_snapshot: Option<String>,
    pub newest_replicated: Option<String>,
    pub lag_seconds: Option<u64>,
    pub pending_snapshots: u64,
    pub pending_bytes: u64,
    /// False when some pending step could not be estimated (`pending_bytes` is then a lower bound).
    pub pending_bytes_exact: bool,
    /// The receiver holds partially received state for this filesystem.
    pub resumable: bool,
    pub conflict: Option<ErrorReport>,
}

#[derive(Debug, Clone, Serialize)]
pub struct StatusReport {
    #[serde(flatten)]
    pub header: Header,
    pub generated_at: String,
    pub filesystems: Vec<FsStatus>,
    pub error: Option<ErrorReport>,
}

impl CommandReport for StatusReport {
    /// 0 when all is well, 1 when a filesystem is in conflict, 3 when the state could not be read.
    fn exit_code(&self) -> u8 {
        exit::code(
            self.error.is_some(),
            self.filesystems.iter().any(|f| f.state == FsState::Conflict),
        )
    }
}

/// `zreplrs status --all`: every job's [`StatusReport`], in configuration order.
#[derive(Debug, Clone, Serialize)]
pub struct StatusAllReport {
    #[serde(flatten)]
    pub header: Header,
    pub generated_at: String,
    pub jobs: Vec<StatusReport>,
}

impl CommandReport for StatusAllReport {
    /// The worst of the jobs' codes: 3 when some job's state could not be read, else 1 when some filesystem
    /// is in conflict, else 0.
    fn exit_code(&self) -> u8 {
        exit::code(
            self.jobs.iter().any(|j| j.error.is_some()),
            self.jobs.iter().any(|j| j.exit_code() != exit::OK),
        )
    }
}

// `zreplrs holds`

/// What a bookkeeping entry is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum EntryKind {
    StepHold,
    LastReceivedHold,
    Cursor,
    TentativeCursor,
    V1Cursor,
}

impl EntryKind {
    /// The kind as it appears in JSON.
    pub fn name(self) -> &'static str {
        match self {
            EntryKind::StepHold => "step_hold",
            EntryKind::LastReceivedHold => "last_received_hold",
            EntryKind::Cursor => "cursor",
            EntryKind::TentativeCursor => "tentative_cursor",
            EntryKind::V1Cursor => "v1_cursor",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct Entry {
    pub job: Option<String>,
    pub side: &'static str,
    pub kind: EntryKind,
    pub filesystem: String,
    /// The snapshot (holds) or bookmark (cursors).
    pub name: String,
    /// The hold tag (holds only).
    pub tag: Option<String>,
    pub guid: Option<Guid>,
    /// When the hold was put, Unix seconds (sender holds only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub since: Option<u64>,
}

/// What `release-stale` did (or would do, with `dry_run`).
#[derive(Debug, Clone, Serialize)]
pub struct ReleaseReport {
    #[serde(flatten)]
    pub header: Header,
    /// Entries released or destroyed.
    pub released: Vec<Entry>,
    /// Entries kept because they are current.
    pub kept: Vec<Entry>,
    pub error: Option<ErrorReport>,
}

impl CommandReport for ReleaseReport {
    /// 0 done; 3 the bookkeeping could not be read or released.
    fn exit_code(&self) -> u8 {
        exit::code(self.error.is_some(), false)
    }
}

/// The JSON result of `holds list`: every job's entries, and the jobs whose state could not be read.
#[derive(Debug, Clone, Serialize)]
pub struct HoldsListReport {
    #[serde(flatten)]
    pub header: Header,
    pub entries: Vec<Entry>,
    pub errors: Vec<ErrorReport>,
}

impl CommandReport for HoldsListReport {
    /// 0 listed; 3 some job's state could not be read.
    fn exit_code(&self) -> u8 {
        exit::code(!self.errors.is_empty(), false)
    }
}

// `zreplrs migrate`

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum MigrateAction {
    /// The v1 cursor was destroyed (or would be, with --dry-run).
    Destroyed,
    /// Kept: the filesystem has no v2 cursor yet; replicate it with zreplrs first.
    NoV2Cursor,
}

#[derive(Debug, Clone, Serialize)]
pub struct MigrateEntry {
    pub job: String,
    pub filesystem: String,
    pub bookmark: String,
    pub action: MigrateAction,
}

#[derive(Debug, Clone, Serialize)]
pub struct MigrateReport {
    #[serde(flatten)]
    pub header: Header,
    pub filesystems: Vec<MigrateEntry>,
    pub errors: Vec<ErrorReport>,
    /// A job's filesystems could not be listed: the command failed as a whole for it (exit 3).
    #[serde(skip)]
    pub listing_failed: bool,
}

// `zreplrs test filesystems`

#[derive(Debug, Clone, Serialize)]
pub struct FilterEntry {
    pub dataset: String,
    pub included: bool,
    /// The rule that decided, as written in the config; `null` when no rule applies (not included).
    pub rule: Option<String>,
}

impl CommandReport for MigrateReport {
    /// 0 done; 3 a job's filesystems could not be listed; 1 some filesystem could not be migrated.
    fn exit_code(&self) -> u8 {
        exit::code(self.listing_failed, !self.errors.is_empty())
    }
}

/// The JSON result of `test filesystems`.
#[derive(Debug, Clone, Serialize)]
pub struct FilterReport {
    pub job: String,
    pub filesystems: Vec<FilterEntry>,
}

impl CommandReport for FilterReport {
    fn exit_code(&self) -> u8 {
        exit::OK
    }
}

// `zreplrs config check`

/// The result of `config check` for a valid configuration (an invalid one is an error on stderr, exit 2).
#[derive(Debug, Clone, Serialize)]
pub struct ConfigCheckReport {
    #[serde(flatten)]
    pub header: Header,
    pub path: String,
    pub jobs: Vec<String>,
    /// What works but should be fixed (a private key others can read).
    pub warnings: Vec<String>,
}

impl CommandReport for ConfigCheckReport {
    fn exit_code(&self) -> u8 {
        exit::OK
    }
}

// `zreplrs test decode-resume-token`

/// A decoded resume token, and whether `zfs send -nvt` agreed (`None`: no `zfs` here to ask).
#[derive(Debug, Clone, Serialize)]
pub struct TokenReport {
    #[serde(flatten)]
    pub token: crate::zfs::token::ResumeToken,
    pub zfs_agrees: Option<bool>,
}

impl CommandReport for TokenReport {
    fn exit_code(&self) -> u8 {
        exit::OK
    }
}

// `zreplrs verify`

/// One compared snapshot.
#[derive(Debug, Clone, Serialize)]
pub struct SnapshotCheck {
    pub snapshot: String,
    pub sender_guid: Option<Guid>,
    pub receiver_guid: Option<Guid>,
    /// Both sides have it with the same GUID.
    pub guid_match: bool,
    /// With `--content`: both digests, when both sides could be read.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub content: Option<ContentCheck>,
    /// With `--content`, where the files of a side could not be read: both sides' `logicalreferenced`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub space: Option<SpaceCheck>,
    /// Why something was not compared (e.g. the receiver's copy cannot be read without its key).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
    /// With `--content`: the comparison could not be made. `failed` (a side could not be read: an I/O or
    /// checksum error, a refused or timed-out read) or `not_verified` (impossible by design: the key is not
    /// loaded, or the agent does not serve checksums). Either is a non-zero exit, never "ok".
    #[serde(skip_serializing_if = "Option::is_none")]
    pub unverified: Option<Unverified>,
}

/// Why `--content` could not decide about one snapshot.
#[derive(Debug, Clone, Serialize)]
pub struct Unverified {
    /// `failed` or `not_verified`.
    pub status: &'static str,
    /// Names the filesystem, the side and the cause.
    pub error: ErrorReport,
}

impl Unverified {
    pub fn failed(kind: &str, message: String) -> Self {
        Unverified {
            status: "failed",
            error: ErrorReport::new(kind, message),
        }
    }

    pub fn not_verified(kind: &str, message: String) -> Self {
        Unverified {
            status: "not_verified",
            error: ErrorReport::new(kind, message),
        }
    }
}

/// `logicalreferenced` of both sides. A raw copy of encrypted data differs from its original by a little
/// metadata, so they count as matching within 1 % (plus 64 KiB).
#[derive(Debug, Clone, Serialize)]
pub struct SpaceCheck {
    pub sender_logical_referenced: u64,
    pub receiver_logical_referenced: u64,
    pub space_match: bool,
}

impl SpaceCheck {
    pub fn new(sender: u64, receiver: u64) -> Self {
        let tolerance = sender.max(receiver) / 100 + (64 << 10);
        SpaceCheck {
            sender_logical_referenced: sender,
            receiver_logical_referenced: receiver,
            space_match: sender.abs_diff(receiver) <= tolerance,
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct ContentCheck {
    pub sender: crate::content::ContentDigest,
    pub receiver: crate::content::ContentDigest,
    pub content_match: bool,
}

impl SnapshotCheck {
    /// A difference: the GUIDs differ or a side lacks the snapshot, or the content differs.
    pub fn mismatch(&self) -> bool {
        !self.guid_match
            || self.content.as_ref().is_some_and(|c| !c.content_match)
            || self.space.as_ref().is_some_and(|s| !s.space_match)
    }

    /// `--content` could not decide (failed or not verified).
    pub fn undecided(&self) -> bool {
        self.unverified.is_some()
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct FsVerify {
    pub filesystem: String,
    pub target: String,
    pub snapshots: Vec<SnapshotCheck>,
    pub error: Option<ErrorReport>,
}

/// The JSON result of `verify`.
#[derive(Debug, Clone, Serialize)]
pub struct VerifyReport {
    #[serde(flatten)]
    pub header: Header,
    #[serde(flatten)]
    pub timing: Timing,
    pub content: bool,
    pub checked: u64,
    pub mismatches: u64,
    /// Snapshots whose content `--content` could not compare (each says why): a non-zero exit.
    pub unverified: u64,
    pub filesystems: Vec<FsVerify>,
    pub error: Option<ErrorReport>,
}

impl CommandReport for VerifyReport {
    /// 0 every compared snapshot matches; 1 a mismatch, a content that could not be compared or a filesystem
    /// that could not be checked; 3 the
    /// run failed as a whole.
    fn exit_code(&self) -> u8 {
        exit::code(
            self.error.is_some(),
            self.mismatches > 0 || self.unverified > 0 || self.filesystems.iter().any(|f| f.error.is_some()),
        )
    }
}

/// Where a received filesystem's last-received hold is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum HoldState {
    /// On the newest received snapshot, as it should be.
    OnNewest,
    /// On an older snapshot only: the newest is not protected from pruning on this side.
    OnOlder,
    /// On no snapshot.
    Missing,
    /// Not looked for: no snapshot, or a placeholder.
    NotApplicable,
}

/// One filesystem or volume below a receiver's root, as the backup host sees it.
#[derive(Debug, Clone, Serialize)]
pub struct ReceivedFs {
    /// Its full name on the backup host.
    pub name: String,
    /// Its path below the root (with an agent's `--client-identity`, the client comes first).
    pub path: String,
    pub placeholder: bool,
    pub newest_snapshot: Option<String>,
    /// When the newest received snapshot was taken (seconds since the epoch), as far as this host can vouch:
    /// its `creation` from the sender, but no later than this host last changed the copy's snapshots
    /// (`snapshots_changed`), and 0 for a creation in the future where that is unknown.
    pub newest_snapshot_time: Option<u64>,
    /// Its age when the view was taken.
    pub age_seconds: Option<u64>,
    pub last_received_hold: HoldState,
    /// The jobs whose last-received hold is on the newest snapshot.
    pub last_received_hold_jobs: Vec<String>,
    pub resumable: bool,
    /// Bytes a resumable receive already holds, from its token.
    pub resumable_bytes: Option<u64>,
    /// When the interrupted receive began (seconds since the epoch), and how long ago.
    pub resumable_since: Option<u64>,
    pub resumable_age_seconds: Option<u64>,
}

/// `zreplrs status --receiver`: the received tree below a root, read on the backup host itself.
#[derive(Debug, Clone, Serialize)]
pub struct ReceiverStatusReport {
    #[serde(flatten)]
    pub header: Header,
    pub generated_at: String,
    pub root: String,
    /// The job whose last-received hold is looked for; without one, any job's counts.
    pub job_id: Option<String>,
    pub filesystems: Vec<ReceivedFs>,
    pub error: Option<ErrorReport>,
}

impl CommandReport for ReceiverStatusReport {
    /// 0 when the tree could be read, 3 when not.
    fn exit_code(&self) -> u8 {
        exit::code(self.error.is_some(), false)
    }
}
