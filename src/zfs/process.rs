//! The `zfs` processes that stream: `zfs receive` fed by the recv-agent, the `zfs send` of a run or of the
//! send-agent, and the send-agent's other accepted calls. They start here, in the adapter, like every other
//! `zfs`; [`ZfsChild`] collects a streaming process's stderr on a thread of its own (a full stderr pipe
//! never blocks it) and turns its end into a classified [`ZfsError`], in this one place.

use std::io::Read;
use std::process::{Child, ChildStdin, ChildStdout, Command, Output, Stdio};
use std::thread::JoinHandle;

use super::names::DatasetName;
use super::send::{recv_args, RecvOptions};
use super::{Zfs, ZfsError};

/// Most stderr kept of a streaming `zfs` (its message is a line or two).
pub const MAX_STDERR: usize = 64 << 10;

/// How a streaming `zfs` ended: its exit status and its stderr (at most [`MAX_STDERR`] bytes).
pub struct Ended {
    pub success: bool,
    pub exit_code: Option<i32>,
    pub stderr: Vec<u8>,
}

/// A running `zfs` whose stderr is being collected.
pub struct ZfsChild {
    child: Child,
    stderr: Option<JoinHandle<Vec<u8>>>,
    args: Vec<String>,
}

impl ZfsChild {
    fn start(mut command: Command, args: &[String]) -> Result<ZfsChild, ZfsError> {
        let mut child = command
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| ZfsError::spawn(args, &e))?;
        let stderr = child.stderr.take().map(|e| {
            std::thread::spawn(move || {
                let mut buf = Vec::new();
                let _ = e.take(MAX_STDERR as u64).read_to_end(&mut buf);
                buf
            })
        });
        Ok(ZfsChild {
            child,
            stderr,
            args: args.to_vec(),
        })
    }

    /// The process id (for the send-agent's stall watchdog).
    pub fn id(&self) -> u32 {
        self.child.id()
    }

    pub fn take_stdin(&mut self) -> Option<ChildStdin> {
        self.child.stdin.take()
    }

    pub fn take_stdout(&mut self) -> Option<ChildStdout> {
        self.child.stdout.take()
    }

    /// Stops it (its stream is no longer wanted).
    pub fn kill(&mut self) {
        let _ = self.child.kill();
    }

    /// Waits for it to end, as it ended.
    pub fn wait(&mut self) -> Result<Ended, ZfsError> {
        let status = self.child.wait().map_err(|e| ZfsError::spawn(&self.args, &e));
        let stderr = self
            .stderr
            .take()
            .map(|h| h.join().unwrap_or_default())
            .unwrap_or_default();
        let status = status?;
        Ok(Ended {
            success: status.success(),
            exit_code: status.code(),
            stderr,
        })
    }

    /// Waits for it to end: `Ok` when it succeeded, else the error naming the command and what ZFS said
    /// (classified), or, when it said nothing, how it exited; `what` says what it did meanwhile.
    pub fn finish(&mut self, what: &str) -> Result<(), ZfsError> {
        let ended = self.wait()?;
        let text = String::from_utf8_lossy(&ended.stderr);
        match (ended.success, text.trim()) {
            (true, _) => Ok(()),
            (false, "") => {
                let how = ended.exit_code.map_or("was killed by a signal".to_string(), |c| {
                    format!("exited with code {c}")
                });
                let name = self.args.first().map_or("zfs", |a| a.as_str());
                Err(ZfsError::from_stderr(
                    &self.args,
                    ended.exit_code,
                    &format!("zfs {name} {how} {what}"),
                ))
            }
            (false, m) => Err(ZfsError::from_stderr(&self.args, ended.exit_code, m)),
        }
    }
}

impl Zfs {
    /// Starts `zfs receive` of `target` with `opts` (see [`super::send::receive_options`]): stdin is the
    /// stream.
    pub fn spawn_receive(&self, target: &DatasetName, opts: &RecvOptions) -> Result<ZfsChild, ZfsError> {
        let args = recv_args(target, opts);
        let mut command = self.command(&args);
        command.stdin(Stdio::piped()).stdout(Stdio::null());
        ZfsChild::start(command, &args)
    }

    /// Starts `zfs ARGV…` with its stdout piped (a `zfs send`).
    pub fn spawn_piped(&self, argv: &[String]) -> Result<ZfsChild, ZfsError> {
        let mut command = self.command(argv);
        command.stdin(Stdio::null()).stdout(Stdio::piped());
        ZfsChild::start(command, argv)
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
