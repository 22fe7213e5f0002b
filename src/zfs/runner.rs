//! Where `zfs` runs: on this host (a child process), or, for the sender side of a pull job, on the source
//! through its `zreplrs send-agent` ([`Runner`], implemented by the transport). The rest of the adapter
//! builds the same argv and parses the same output either way, so planning and step execution have one copy.
//! [`SendProcess`] is a running `zfs send` of either kind, read like a child's stdout.

use std::io::{Read, Write};
use std::os::fd::{AsFd, BorrowedFd};
use std::process::ChildStdout;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread::JoinHandle;
use std::time::Duration;

use super::process::ZfsChild;
use super::{Zfs, ZfsError, ZfsErrorKind};

/// What a remote `zfs` call returned.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RemoteOutput {
    pub success: bool,
    pub exit_code: Option<i32>,
    pub stdout: Vec<u8>,
    pub stderr: String,
    /// For a stream: the bytes of it that crossed the link (compressed, when the link compresses).
    pub wire_bytes: Option<u64>,
}

/// Runs `zfs` commands on another host. Errors are of kind [`ZfsErrorKind::Connection`] when the link
/// failed and [`ZfsErrorKind::Refused`] when the remote agent's policy refused the call.
pub trait Runner: Send {
    fn call(&mut self, argv: &[String]) -> Result<RemoteOutput, ZfsError>;
    /// Runs a real `zfs send`, writing its stream to `sink`; stops early when `abort` is set or `sink` fails.
    fn stream(
        &mut self,
        argv: &[String],
        sink: &mut dyn Write,
        abort: &AtomicBool,
        stall: Duration,
    ) -> Result<RemoteOutput, ZfsError>;
}

/// A shared remote runner.
pub type SharedRunner = Arc<Mutex<dyn Runner>>;

impl Zfs {
    /// A handle whose commands run through `runner` (pull mode's source).
    pub fn remote(runner: SharedRunner) -> Self {
        Zfs {
            remote: Some(runner),
            native: None,
            ..Zfs::with_program("zfs")
        }
    }

    /// Whether commands run on another host.
    pub fn is_remote(&self) -> bool {
        self.remote.is_some()
    }

    pub(super) fn remote_call(&self, runner: &SharedRunner, argv: &[String]) -> Result<RemoteOutput, ZfsError> {
        runner.lock().unwrap_or_else(PoisonError::into_inner).call(argv)
    }

    /// Starts a real `zfs send ARGS…` (built by [`super::send::send_args`]); `stall` bounds a remote
    /// stream's silence.
    pub fn spawn_send(&self, args: &[String], stall: Duration) -> Result<SendProcess, ZfsError> {
        match &self.remote {
            None => {
                let mut child = self.spawn_piped(args)?;
                let Some(stdout) = child.take_stdout() else {
                    child.kill();
                    let _ = child.wait();
                    return Err(ZfsError::parse(args, "zfs send has no stdout"));
                };
                Ok(SendProcess {
                    stdout: Some(SendOutput::Child(stdout)),
                    inner: Inner::Local { child },
                    args: args.to_vec(),
                    status: None,
                    wire_bytes: None,
                })
            }
            Some(runner) => {
                let runner = Arc::clone(runner);
                SendProcess::produced(args, move |argv, writer, abort| {
                    let mut r = runner.lock().unwrap_or_else(PoisonError::into_inner);
                    r.stream(argv, writer, abort, stall)
                })
            }
        }
    }
}

/// The stream of a running `zfs send`.
pub enum SendOutput {
    Child(ChildStdout),
    Pipe(std::io::PipeReader),
}

impl Read for SendOutput {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        match self {
            SendOutput::Child(c) => c.read(buf),
            SendOutput::Pipe(p) => p.read(buf),
        }
    }
}

impl AsFd for SendOutput {
    fn as_fd(&self) -> BorrowedFd<'_> {
        match self {
            SendOutput::Child(c) => c.as_fd(),
            SendOutput::Pipe(p) => p.as_fd(),
        }
    }
}

enum Inner {
    Local {
        child: ZfsChild,
    },
    Remote {
        thread: Option<JoinHandle<Result<RemoteOutput, ZfsError>>>,
        abort: Arc<AtomicBool>,
    },
}

/// A running `zfs send`, here or on the source.
pub struct SendProcess {
    stdout: Option<SendOutput>,
    inner: Inner,
    args: Vec<String>,
    status: Option<Result<(), ZfsError>>,
    /// A remote send's bytes on the link, once it ended.
    wire_bytes: Option<u64>,
}

impl SendProcess {
    /// A send whose stream `producer` writes on a thread of its own into a pipe: a `zfs send` on another
    /// host (pull mode), or a sender that is not ZFS. `args` name it in errors.
    pub fn produced(
        args: &[String],
        producer: impl FnOnce(&[String], &mut dyn Write, &AtomicBool) -> Result<RemoteOutput, ZfsError> + Send + 'static,
    ) -> Result<SendProcess, ZfsError> {
        let (reader, mut writer) = std::io::pipe().map_err(|e| ZfsError::spawn(args, &e))?;
        let abort = Arc::new(AtomicBool::new(false));
        let (flag, argv) = (Arc::clone(&abort), args.to_vec());
        let thread = std::thread::spawn(move || producer(&argv, &mut writer, &flag));
        Ok(SendProcess {
            stdout: Some(SendOutput::Pipe(reader)),
            inner: Inner::Remote {
                thread: Some(thread),
                abort,
            },
            args: args.to_vec(),
            status: None,
            wire_bytes: None,
        })
    }

    /// An error about this send (naming its command) with `message`.
    pub fn error(&self, message: &str) -> ZfsError {
        ZfsError::parse(&self.args, message)
    }

    /// For a send on the source (pull mode), after [`wait`](Self::wait): the bytes that crossed the link
    /// (unknown when the link broke).
    pub fn wire_bytes(&self) -> Option<u64> {
        self.wire_bytes
    }

    /// The stream; `None` once taken.
    pub fn take_stdout(&mut self) -> Option<SendOutput> {
        self.stdout.take()
    }

    /// Stops the send (after its stream was dropped, when the receiver failed).
    pub fn kill(&mut self) {
        self.stdout = None;
        match &mut self.inner {
            Inner::Local { child } => child.kill(),
            Inner::Remote { abort, .. } => abort.store(true, Ordering::Relaxed),
        }
    }

    /// Waits for the send to end: `Ok` when it succeeded, else the error naming the command and what `zfs`
    /// (or the link to the source) said. `moved` is for the message when `zfs` printed nothing.
    pub fn wait(&mut self, moved: u64) -> Result<(), ZfsError> {
        if let Some(s) = &self.status {
            return s.clone();
        }
        let args = &self.args;
        let result = match &mut self.inner {
            Inner::Local { child } => child.finish(&format!("after {moved} bytes")),
            Inner::Remote { thread, .. } => match thread.take().map(|t| t.join()) {
                Some(Ok(Ok(out))) if out.success => {
                    self.wire_bytes = out.wire_bytes;
                    Ok(())
                }
                Some(Ok(Ok(out))) if out.stderr.trim().is_empty() => {
                    self.wire_bytes = out.wire_bytes;
                    Err(ZfsError::from_stderr(
                        args,
                        out.exit_code,
                        &format!("zfs send on the source ended after {moved} bytes without a message"),
                    ))
                }
                Some(Ok(Ok(out))) => {
                    self.wire_bytes = out.wire_bytes;
                    Err(ZfsError::from_stderr(args, out.exit_code, &out.stderr))
                }
                Some(Ok(Err(e))) => Err(e),
                Some(Err(_)) | None => Err(ZfsError::parse(args, "the stream from the source ended abnormally")
                    .with_kind(ZfsErrorKind::Connection)),
            },
        };
        self.status = Some(result.clone());
        result
    }
}

impl Drop for SendProcess {
    fn drop(&mut self) {
        if self.status.is_none() {
            self.kill();
            let _ = self.wait(0);
        }
    }
}
