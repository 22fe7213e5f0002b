//! The recv-agent's `--append-only` policy: which requests it refuses because they could lose data that was
//! already received, whatever the sender says.
//!
//! Refused: destroying snapshots, releasing a last-received hold on request, and a forced receive (`-F`)
//! into anything but an empty placeholder. Allowed, because nothing received is lost: receiving new
//! snapshots (an incremental never gets `-F`, so ZFS itself refuses one that would roll back), moving the
//! job's last-received hold forward to the snapshot just received (the newer snapshot is held before the
//! older one is released), listing, and discarding a partial receive's resumable state. Stream properties
//! are still filtered as without the flag (`--recv-set`, `--recv-inherit`, `--recv-allow` and the hardened
//! defaults); none of them can remove snapshots.

use crate::agent::wire::proto::envelope::Body;
use crate::zfs::names::DatasetName;
use crate::zfs::{Zfs, ZfsError, ZfsErrorKind};

/// The kind of every refusal of this policy.
pub const KIND: crate::error::ErrorKind = crate::error::ErrorKind::AppendOnly;

/// Why a request other than a receive is refused under `--append-only`, if it is.
pub fn request_refusal(body: &Body) -> Option<&'static str> {
    match body {
        Body::Destroy(_) => Some(
            "this receiver's agent runs with --append-only and never destroys snapshots; prune the receiver \
             on the backup host itself (zreplrs prune --side receiver there)",
        ),
        Body::SetRole(_) => Some(
            "this agent runs with --append-only and never changes a dataset's role for a failover (a copy \
             made writable, data made read-only, cursors or last-received holds given up); fail over through \
             an agent without --append-only (for a pull job, the one of [jobs.restore]), or on the backup host \
             itself",
        ),
        Body::Rotate(_) => Some(
            "this receiver's agent runs with --append-only and does not rotate received copies (a rotation \
             renames them); resolve the divergence on the backup host itself",
        ),
        Body::ReleaseLastReceived(_) => Some(
            "this receiver's agent runs with --append-only and does not release last-received holds on \
             request; release them on the backup host (zreplrs holds release-stale there)",
        ),
        _ => None,
    }
}

/// Why a receive into `target` (already confined below the agent's root) is refused under
/// `--append-only`, if it is: a forced receive may only replace an empty placeholder (or create a dataset
/// that does not exist yet).
pub fn receive_refusal(zfs: &Zfs, force: bool, target: &DatasetName) -> Result<Option<String>, ZfsError> {
    if !force {
        return Ok(None);
    }
    let listing = match zfs.list(std::slice::from_ref(target), false) {
        Ok(l) => l,
        Err(e) if e.kind == ZfsErrorKind::DoesNotExist => return Ok(None),
        Err(e) => return Err(e),
    };
    let Some(fs) = listing.get(target) else {
        return Ok(None);
    };
    if fs.placeholder_prop && fs.snapshots().next().is_none() {
        return Ok(None);
    }
    Ok(Some(format!(
        "this receiver's agent runs with --append-only: a forced receive would replace {target}, which is \
         not an empty placeholder ({} snapshots)",
        fs.snapshots().count()
    )))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::agent::wire::proto;

    #[test]
    fn an_append_only_agent_refuses_to_destroy_release_rotate_or_fail_over_and_serves_the_rest() {
        let rotate = Body::Rotate(proto::RotateRequest {
            fs: "tank/data".into(),
            common_guid: Some(1),
        });
        assert!(request_refusal(&rotate).is_some_and(|w| w.contains("does not rotate")));
        use crate::zfs::role::Change;
        for (change, original) in [(Change::Primary, false), (Change::ReadOnly, true), (Change::Copy, true)] {
            let role = Body::SetRole(proto::SetRoleRequest::new("tank/data", change, original, "j"));
            assert!(request_refusal(&role).is_some_and(|w| w.contains("never changes a dataset's role")));
        }
        let destroy = Body::Destroy(proto::DestroyRequest::default());
        assert!(request_refusal(&destroy).is_some());
        let release = Body::ReleaseLastReceived(proto::ReleaseLastReceivedRequest::default());
        assert!(request_refusal(&release).is_some());
        assert!(request_refusal(&Body::List(proto::ListRequest::default())).is_none());
        assert!(request_refusal(&Body::AbortResume(proto::AbortResumeRequest::default())).is_none());
    }
}
