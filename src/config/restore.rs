//! `[jobs.restore]` of a pull job: how its backup host reaches the production host to send a restore
//! there — a `zreplrs recv-agent` behind a key of its own (the job's key forces the send-agent).

use camino::Utf8PathBuf;
use serde::Deserialize;

use crate::error::Invalid;

use super::Target;

/// Where a pull job's restores are received.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RestoreConfig {
    /// The production host's recv-agent and its root, `ssh://[USER@]HOST[:PORT]/POOL/FS` (or `local:POOL/FS`
    /// on this host); a restore lands at or below that root.
    pub target: Target,
    /// Keys for that connection (absolute paths); unset: the job's `[jobs.ssh] identity_files`.
    #[serde(default, deserialize_with = "super::job::absolute_paths")]
    pub identity_files: Vec<Utf8PathBuf>,
}

/// `[jobs.restore]` belongs to a pull job, and its target is a ZFS host.
pub(super) fn check(pull: bool, restore: Option<&RestoreConfig>) -> Result<(), Invalid> {
    match restore {
        None => Ok(()),
        Some(_) if !pull => Err(Invalid::from(
            "[jobs.restore] is for pull jobs; a push job's restore runs on its sending host and reaches the \
             backup host's recv-agent (add --serve-restores to its command)"
                .to_string(),
        )),
        Some(r) if r.target.is_store() => Err(Invalid::from(
            "[jobs.restore] target: a restore is received by a zreplrs recv-agent (local: or ssh://), not an \
             object store"
                .to_string(),
        )),
        Some(_) => Ok(()),
    }
}
