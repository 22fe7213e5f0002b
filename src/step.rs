//! Executing one replication step with the protection of docs/design.md §2, in this order:
//!
//! 1. sender: put the step hold on `from` (if a snapshot) and `to` (guarantee_resumability), or a tentative
//!    cursor bookmark on `to` (guarantee_incremental);
//! 2. stream `zfs send` into the agent's `zfs receive -s`; the agent checks the received GUID, puts the
//!    last-received hold on `to` and only then releases older last-received holds;
//! 3. sender: create the cursor bookmark on `to`, then destroy older cursors and the tentative cursor;
//! 4. sender: release the step holds.
//!
//! The replicate driver may instead put the step holds of all of an attempt's steps before the first
//! transfer and release them after the last one (one call per pool each, see `replication::step_holds`); the step
//! then skips 1 and 4.
//!
//! New protection always exists before old protection goes, and every operation is idempotent, so a run
//! killed between any two of these leaves a state the next run repairs (see docs/step-algorithm.md).

use std::time::Duration;

use crate::agent::client::{AgentError, StreamError, Streamed};
use crate::agent::wire::proto;
use crate::config::Protection;
use crate::endpoint::{Receiver, Sender};
use crate::error::{ErrorKind, Failure};
use crate::plan::Step;
use crate::report::ErrorReport;
use crate::zfs::bookkeeping::JobId;
use crate::zfs::names::{BookmarkName, DatasetName, SnapshotName};
use crate::zfs::send::SendFlags;
use crate::zfs::ZfsError;

/// Everything a step needs about its filesystem and job.
pub struct StepContext<'a> {
    pub zfs: &'a dyn Sender,
    pub job: &'a JobId,
    pub fs: &'a DatasetName,
    /// The filesystem's path below the agent's root (the sender's full name).
    pub rel: &'a str,
    pub flags: SendFlags,
    pub protection: Protection,
    pub stall_timeout: Duration,
    /// The step holds were put for all of the attempt's steps at once, before any transfer (see
    /// `replication::step_holds`): the step neither puts nor releases them.
    pub pre_held: bool,
    /// The filesystem is encrypted (with `flags.raw`, its streams are raw).
    pub encrypted: bool,
    /// Leave a cursor bookmark on the sender and a last-received hold on the receiver (not for a restore,
    /// whose sender is a backup and whose receiver keeps replicating the other way).
    pub cursors: bool,
}

/// What a completed step moved: stream bytes, and the bytes of them on the link (fewer when compressed).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Moved {
    pub bytes: u64,
    pub wire_bytes: u64,
}

/// Why a step failed.
#[derive(Debug)]
pub struct StepFailure {
    pub error: ErrorReport,
    /// A connectivity problem: the run may reconnect and retry.
    pub connectivity: bool,
    /// Bytes that moved before the failure.
    pub bytes: u64,
    /// Of them, bytes on the link (fewer when compressed).
    pub wire_bytes: u64,
}

impl StepFailure {
    fn zfs(e: ZfsError) -> Self {
        StepFailure {
            error: ErrorReport::from(&e),
            // Pull mode: the link to the source broke.
            connectivity: e.error_kind().is_retriable(),
            bytes: 0,
            wire_bytes: 0,
        }
    }

    fn agent(e: AgentError, bytes: u64, wire_bytes: u64) -> Self {
        StepFailure {
            connectivity: e.is_retriable(),
            error: ErrorReport::new(e.kind(), e.to_string()),
            bytes,
            wire_bytes,
        }
    }
}

fn snapshot_of(fs: &DatasetName, v: &crate::zfs::Version) -> Result<SnapshotName, StepFailure> {
    fs.snapshot(&v.short).map_err(|e| StepFailure {
        error: ErrorReport::new(ErrorKind::InvalidName, e.to_string()),
        connectivity: false,
        bytes: 0,
        wire_bytes: 0,
    })
}

fn bookmark_of(fs: &DatasetName, short: &str) -> Result<BookmarkName, StepFailure> {
    fs.bookmark(short).map_err(|e| StepFailure {
        error: ErrorReport::new(ErrorKind::InvalidName, e.to_string()),
        connectivity: false,
        bytes: 0,
        wire_bytes: 0,
    })
}

/// Runs one step. `old_cursors` are this job's cursor bookmarks on the filesystem that the new cursor
/// replaces (destroyed after it exists). `on_bytes` sees the running byte count. Returns what moved.
pub fn execute(
    ctx: &StepContext<'_>,
    client: &mut dyn Receiver,
    step: &Step,
    replace_placeholder: bool,
    old_cursors: &[BookmarkName],
    on_bytes: &mut dyn FnMut(u64),
) -> Result<Moved, StepFailure> {
    let to = snapshot_of(ctx.fs, &step.to)?;
    let step_tag = ctx.job.step_hold_tag();
    let held = crate::plan::step_hold_targets(ctx.fs, step);
    let tentative = bookmark_of(ctx.fs, &ctx.job.tentative_cursor_short(step.to.guid.0))?;

    // 1. Protect the step.
    match ctx.protection {
        Protection::GuaranteeResumability if ctx.pre_held => {}
        Protection::GuaranteeResumability => {
            crate::failpoint::hit("step_holds_put_before");
            ctx.zfs.hold(&step_tag, &held).map_err(StepFailure::zfs)?;
            crate::failpoint::hit("step_holds_put_after");
        }
        Protection::GuaranteeIncremental => {
            crate::failpoint::hit("tentative_cursor_before");
            ctx.zfs
                .bookmark(to.as_str(), step.to.guid, &tentative)
                .map_err(StepFailure::zfs)?;
            crate::failpoint::hit("tentative_cursor_after");
        }
        Protection::GuaranteeNothing => {}
    }

    // 2. Send and receive.
    let moved = stream(ctx, client, step, replace_placeholder, on_bytes)?;

    // 3. The cursor on `to`, then older cursors and the tentative cursor go.
    let fail = |e: ZfsError| StepFailure {
        bytes: moved.bytes,
        wire_bytes: moved.wire_bytes,
        ..StepFailure::zfs(e)
    };
    if ctx.cursors {
        let cursor = bookmark_of(ctx.fs, &ctx.job.cursor_bookmark_short(step.to.guid.0))?;
        crate::failpoint::hit("cursor_create_before");
        ctx.zfs.bookmark(to.as_str(), step.to.guid, &cursor).map_err(fail)?;
        crate::failpoint::hit("cursor_create_after");
        let mut stale: Vec<BookmarkName> = old_cursors.iter().filter(|b| **b != cursor).cloned().collect();
        if ctx.protection == Protection::GuaranteeIncremental {
            stale.push(tentative);
        }
        crate::failpoint::hit("old_cursors_destroy_before");
        ctx.zfs.destroy_bookmarks(&stale).map_err(fail)?;
        crate::failpoint::hit("old_cursors_destroy_after");
    }

    // 4. Step holds are no longer needed (held for the whole attempt: released together at its end).
    if ctx.protection == Protection::GuaranteeResumability && !ctx.pre_held {
        crate::failpoint::hit("step_holds_release_before");
        ctx.zfs.release(&step_tag, &held).map_err(fail)?;
        crate::failpoint::hit("step_holds_release_after");
    }
    Ok(moved)
}

fn stream(
    ctx: &StepContext<'_>,
    client: &mut dyn Receiver,
    step: &Step,
    replace_placeholder: bool,
    on_bytes: &mut dyn FnMut(u64),
) -> Result<Moved, StepFailure> {
    let mut send = ctx
        .zfs
        .send(&ctx.flags, ctx.fs, step, ctx.stall_timeout)
        .map_err(StepFailure::zfs)?;
    let Some(mut stdout) = send.take_stdout() else {
        return Err(StepFailure::zfs(send.error("zfs send has no stdout")));
    };
    crate::agent::wire::splice::enlarge_pipe(std::os::fd::AsFd::as_fd(&stdout));
    let req = proto::ReceiveRequest {
        fs: ctx.rel.to_string(),
        to_short: step.to.short.clone(),
        to_guid: step.to.guid.0,
        from_guid: step.from.as_ref().map(|f| f.guid.0),
        job_id: ctx.job.to_string(),
        force: replace_placeholder && step.from.is_none(),
        last_received_hold: ctx.cursors && ctx.protection != Protection::GuaranteeNothing,
        // Set by the client from the connection's negotiated compression.
        compression: String::new(),
        // ZFS marks a stream raw only for a raw send of encrypted data.
        raw: ctx.flags.raw && ctx.encrypted,
        resuming: step.resume_token.is_some(),
    };
    let step = &with_creation(ctx, &*client, step)?;
    let moved = std::cell::Cell::new(0u64);
    let wire_before = client.wire_total();
    let result = {
        let mut source_ok = || -> Result<(), Failure> {
            send.wait(moved.get())
                .map_err(|e| Failure::new(ErrorKind::ZfsSend, e.to_string()))
        };
        client.receive(req, step, &mut stdout, &mut source_ok, ctx.stall_timeout, &mut |b| {
            moved.set(b);
            on_bytes(b)
        })
    };
    drop(stdout);
    send.kill();
    let moved = moved.get();
    let link = client.wire_total() - wire_before;
    let mut send_failed = || {
        let e = send.wait(moved).err().unwrap_or_else(|| send.error("zfs send failed"));
        StepFailure {
            bytes: moved,
            wire_bytes: send.wire_bytes().unwrap_or(link),
            ..StepFailure::zfs(e)
        }
    };
    match result {
        // Pull mode: the link that matters is the source's, whose bytes the send counted.
        Ok(streamed) => received(
            &step.to,
            Streamed {
                wire_bytes: send.wire_bytes().unwrap_or(streamed.wire_bytes),
                ..streamed
            },
        ),
        Err(StreamError::Source(_)) => Err(send_failed()),
        Err(StreamError::Agent(e)) => {
            let wire = send.wire_bytes().unwrap_or(link);
            Err(StepFailure::agent(e, moved, wire))
        }
    }
}

/// `step` with the `creation` of the snapshots it delivers, when the receiver records them (a bucket's
/// manifest, for retention there) and the listing did not have them.
fn with_creation(ctx: &StepContext<'_>, client: &dyn Receiver, step: &Step) -> Result<Step, StepFailure> {
    let mut step = step.clone();
    let delivered = || step.intermediates.iter().chain(std::iter::once(&step.to));
    if !client.records_creation() || delivered().all(|v| v.creation.is_some()) {
        return Ok(step);
    }
    let names: Vec<String> = delivered().map(|v| v.full_name(ctx.fs.as_str())).collect();
    let times = ctx.zfs.creation_times(&names).map_err(StepFailure::zfs)?;
    for v in step.intermediates.iter_mut().chain(std::iter::once(&mut step.to)) {
        v.creation = times.get(&v.full_name(ctx.fs.as_str())).copied();
    }
    Ok(step)
}

/// The bytes of a completed receive, if the receiver received the snapshot that was sent: a receiver that
/// reports another GUID (a bug, or a hostile peer making the sender move its cursor past data it never got)
/// fails the step before any bookkeeping.
fn received(to: &crate::zfs::Version, streamed: Streamed) -> Result<Moved, StepFailure> {
    if streamed.received_guid == to.guid.0 {
        return Ok(Moved {
            bytes: streamed.bytes,
            wire_bytes: streamed.wire_bytes,
        });
    }
    Err(StepFailure {
        error: ErrorReport::new(
            ErrorKind::Protocol,
            format!(
                "the receiver reports that it received GUID {}, not {} (GUID {}); the cursor is not moved",
                streamed.received_guid, to.short, to.guid
            ),
        ),
        connectivity: false,
        bytes: streamed.bytes,
        wire_bytes: streamed.wire_bytes,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::zfs::{Guid, Version, VersionKind};

    #[test]
    fn a_receive_of_another_guid_fails_the_step() {
        let to = Version {
            kind: VersionKind::Snapshot,
            short: "s2".into(),
            guid: Guid(u64::MAX),
            createtxg: 9,
            userrefs: None,
            creation: None,
        };
        let ok = Streamed {
            bytes: 4096,
            wire_bytes: 1000,
            received_guid: u64::MAX,
        };
        assert_eq!(
            received(&to, ok).map_err(|f| f.error.kind),
            Ok(Moved {
                bytes: 4096,
                wire_bytes: 1000
            })
        );
        let lie = Streamed { received_guid: 7, ..ok };
        let f = received(&to, lie).unwrap_err();
        assert_eq!(f.error.kind.as_str(), "protocol");
        assert!(
            f.error.message.contains("received GUID 7, not s2"),
            "{}",
            f.error.message
        );
        assert!(!f.connectivity, "not retried as a connection problem");
        assert_eq!(f.bytes, 4096);
    }
}
