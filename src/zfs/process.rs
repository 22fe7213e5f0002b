//! The `zfs` processes the agents run while streaming: `zfs receive` fed by the recv-agent, the send-agent's
//! `zfs send` and its other accepted calls. They start here, in the adapter, like every other `zfs`.

use std::process::{Child, Output, Stdio};

use super::names::DatasetName;
use super::send::{recv_args, RecvOptions};
use super::{Zfs, ZfsError};

impl Zfs {
    /// Starts `zfs receive` of `target` with `opts` (see [`super::send::receive_options`]): stdin is the
    /// stream, stderr ZFS's message.
    pub fn spawn_receive(&self, target: &DatasetName, opts: &RecvOptions) -> Result<Child, ZfsError> {
        let args = recv_args(target, opts);
        self.command(&args)
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| ZfsError::spawn(&args, &e))
    }

    /// Starts `zfs ARGV…` with stdout and stderr piped (the send-agent's streamed `zfs send`).
    pub fn spawn_piped(&self, argv: &[String]) -> Result<Child, ZfsError> {
        self.command(argv)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| ZfsError::spawn(argv, &e))
    }

    /// Runs `zfs ARGV…` to completion and returns its raw output, whatever its exit status (the send-agent
    /// hands a call's output to its peer as it is).
    pub fn output(&self, argv: &[String]) -> Result<Output, ZfsError> {
        self.command(argv)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .output()
            .map_err(|e| ZfsError::spawn(argv, &e))
    }
}
