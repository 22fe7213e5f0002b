//! The ZFS adapter: the only code in zreplrs that runs the `zfs` binary.
//!
//! Each function builds an argv vector (never a shell line), runs `zfs` with `LC_ALL=C`, parses its output
//! into typed values and classifies failures into [`ZfsErrorKind`]s while keeping ZFS's own message.
//! Mutations are idempotent: repeating one that already took effect succeeds.

pub mod bookkeeping;
pub mod error;
pub mod list;
pub mod lzc;
pub mod names;
pub mod nvlist;
pub mod ops;
pub mod process;
pub mod role;
pub mod runner;
pub mod send;
pub mod snapdir;
pub mod stream;
pub mod token;
pub mod types;

use std::ffi::OsString;
use std::process::{Command, Stdio};

pub use error::{ZfsError, ZfsErrorKind};
pub use types::{Guid, Version, VersionKind};

/// Handle on the `zfs` program. `ZREPLRS_ZFS` overrides the program (used by benchmarks to count spawns).
/// On the sender side of a pull job, commands run on the source instead (see [`runner`]).
#[derive(Clone)]
pub struct Zfs {
    program: OsString,
    remote: Option<runner::SharedRunner>,
    /// Set once `zfs holds -p` was refused (OpenZFS < 2.2): hold times are then read as printed.
    holds_without_p: std::sync::Arc<std::sync::atomic::AtomicBool>,
    /// libzfs_core on this host, for batched holds, releases and bookmarks (see [`lzc`]); `None` when it
    /// cannot be loaded, and for a remote handle.
    native: Option<&'static lzc::Lzc>,
}

impl std::fmt::Debug for Zfs {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Zfs")
            .field("program", &self.program)
            .field("remote", &self.remote.is_some())
            .field("native", &self.native.is_some())
            .finish()
    }
}

impl Default for Zfs {
    fn default() -> Self {
        Self::new()
    }
}

impl Zfs {
    /// `$ZREPLRS_ZFS` when set, else `zfs` from `PATH`, else `/usr/sbin/zfs` or `/sbin/zfs` (cron jobs and
    /// SSH sessions of unprivileged users often have no sbin directory on their `PATH`).
    pub fn new() -> Self {
        match std::env::var_os("ZREPLRS_ZFS") {
            Some(p) => Zfs::with_program(p),
            None => Self::system(),
        }
    }

    /// `zfs` from `PATH`, else `/usr/sbin/zfs` or `/sbin/zfs`, whatever `$ZREPLRS_ZFS` says (the agents use
    /// this: their own command line, not their environment, is authoritative).
    pub fn system() -> Self {
        let on_path = std::env::var_os("PATH")
            .map(|paths| std::env::split_paths(&paths).any(|d| d.join("zfs").is_file()))
            .unwrap_or(false);
        let program = if on_path {
            OsString::from("zfs")
        } else {
            ["/usr/sbin/zfs", "/sbin/zfs"]
                .iter()
                .find(|p| std::path::Path::new(p).is_file())
                .map_or_else(|| OsString::from("zfs"), OsString::from)
        };
        Zfs::with_program(program)
    }

    /// A handle on the given program instead of `zfs` (tests use fake ones). Holds, releases and bookmarks
    /// go through libzfs_core where it can be loaded ([`lzc`]), other commands through the program.
    pub fn with_program(program: impl Into<OsString>) -> Self {
        Zfs {
            program: program.into(),
            remote: None,
            holds_without_p: Default::default(),
            native: lzc::get(),
        }
    }

    /// The same handle without libzfs_core: every operation runs the `zfs` program (tests of that path).
    pub fn without_native(mut self) -> Self {
        self.native = None;
        self
    }

    /// Whether holds, releases and bookmarks go through libzfs_core.
    pub fn is_native(&self) -> bool {
        self.native.is_some()
    }

    /// A command for `zfs ARGS…` on this host with a stable locale and time zone (`zfs holds` of OpenZFS
    /// < 2.2 prints times only in words, in the local zone) and no stdin; callers set up stdout/stderr.
    /// Only the adapter uses it: the agents start their processes through `process.rs`, the sender's
    /// `zfs send` goes through [`Zfs::spawn_send`].
    pub(crate) fn command<S: AsRef<std::ffi::OsStr>>(&self, args: &[S]) -> Command {
        let mut cmd = Command::new(&self.program);
        cmd.args(args).env("LC_ALL", "C").env("TZ", "UTC").stdin(Stdio::null());
        cmd
    }

    /// The first line of `zfs version` (the userland's version, then the kernel module's on a line of its own).
    pub fn version(&self) -> Result<String, ZfsError> {
        Ok(self.run(&["version"])?.lines().next().unwrap_or("").to_string())
    }

    /// Runs `zfs ARGS…` to completion and returns its stdout, or a classified error.
    pub fn run<S: AsRef<str>>(&self, args: &[S]) -> Result<String, ZfsError> {
        let argv: Vec<&str> = args.iter().map(|a| a.as_ref()).collect();
        if let Some(r) = &self.remote {
            let owned: Vec<String> = argv.iter().map(|a| a.to_string()).collect();
            let out = self.remote_call(r, &owned)?;
            let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
            return if out.success {
                Ok(stdout)
            } else {
                Err(ZfsError::from_stderr(&argv, out.exit_code, &out.stderr))
            };
        }
        let output = self
            .command(&argv)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .output()
            .map_err(|e| ZfsError::spawn(&argv, &e))?;
        let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
        if output.status.success() {
            Ok(stdout)
        } else {
            let stderr = String::from_utf8_lossy(&output.stderr);
            Err(ZfsError::from_stderr(&argv, output.status.code(), &stderr))
        }
    }
}

impl Zfs {
    /// Runs `zfs ARGS…` to completion and returns (success, stdout, stderr); only a failure to start is an
    /// error. For commands whose output matters even when they fail.
    pub fn run_output<S: AsRef<str>>(&self, args: &[S]) -> Result<(bool, String, String), ZfsError> {
        let argv: Vec<&str> = args.iter().map(|a| a.as_ref()).collect();
        if let Some(r) = &self.remote {
            let owned: Vec<String> = argv.iter().map(|a| a.to_string()).collect();
            let out = self.remote_call(r, &owned)?;
            return Ok((
                out.success,
                String::from_utf8_lossy(&out.stdout).into_owned(),
                out.stderr,
            ));
        }
        let output = self
            .command(&argv)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .output()
            .map_err(|e| ZfsError::spawn(&argv, &e))?;
        Ok((
            output.status.success(),
            String::from_utf8_lossy(&output.stdout).into_owned(),
            String::from_utf8_lossy(&output.stderr).into_owned(),
        ))
    }
}

/// Renders an argv as the user would type it, for error messages.
pub fn display_command<S: AsRef<str>>(args: &[S]) -> String {
    let mut s = String::from("zfs");
    for a in args {
        let a = a.as_ref();
        s.push(' ');
        if a.is_empty() || a.contains(|c: char| c.is_whitespace() || c == '\'' || c == '"') {
            s.push('\'');
            s.push_str(&a.replace('\'', "'\\''"));
            s.push('\'');
        } else {
            s.push_str(a);
        }
    }
    s
}
