//! The recv-agent's configuration, from its own command line (see `cmd::recv_agent`).

use crate::zfs::names::DatasetName;
use crate::zfs::send::RecvOptions;

/// The agent's configuration, from its own command line.
#[derive(Debug, Clone)]
pub struct AgentConfig {
    pub root_fs: DatasetName,
    pub client_identity: Option<String>,
    /// `-o` / `-x` for receives of full streams (those that create the filesystem).
    pub recv: RecvOptions,
    /// `-o` / `-x` for incremental receives: the same as `recv` unless the agent runs with `--own-streams`.
    pub recv_incremental: RecvOptions,
    /// The `zfs` program (`--zfs-program`, for tests and benchmarks); `None`: the system's `zfs`.
    /// `$ZREPLRS_ZFS` is ignored.
    pub zfs_program: Option<std::ffi::OsString>,
    /// `--append-only`: refuse every request that could lose received data (see [`crate::agent::recv::policy`]).
    pub append_only: bool,
    /// `--allow-verify`: serve checksum requests (clones of received data) even under `--append-only`.
    pub allow_verify: bool,
    /// `--serve-restores`: a peer that asks for a restore gets this agent's received data sent back, read
    /// only (see [`crate::agent::recv::restores`]).
    pub serve_restores: bool,
}

impl AgentConfig {
    /// `root_fs[/client_identity]`: everything the agent touches is strictly below it.
    pub fn root(&self) -> Result<DatasetName, crate::zfs::names::NameError> {
        match &self.client_identity {
            Some(id) => self.root_fs.child(id),
            None => Ok(self.root_fs.clone()),
        }
    }
}
