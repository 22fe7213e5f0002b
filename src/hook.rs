//! Running an administrator's hook command (argv, no shell) around a zreplrs command, bounded in time and
//! output.
//!
//! * **Process group.** The hook runs in a process group of its own; on timeout the whole group is killed
//!   (SIGKILL), so a shell script's children do not outlive it. Output that a process outside the group (one
//!   that called `setsid`) keeps open is read for at most [`DRAIN_GRACE`] after the hook ended.
//! * **Output.** Stdout and stderr are captured up to [`MAX_OUTPUT`] bytes each (the end of it is kept); the
//!   result shows the last [`TAIL_LINES`] lines.
//! * **Environment.** Only [`INHERITED_ENV`] is passed on from zreplrs's own environment (so no
//!   `SSH_AUTH_SOCK`, no credentials in variables), plus the `ZREPLRS_*` variables the caller documents.

use std::ffi::OsString;
use std::io::Read;
use std::os::unix::process::CommandExt;
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use crate::report::commands::HookResult;

/// Variables a hook inherits from zreplrs's environment, when set.
pub const INHERITED_ENV: [&str; 8] = ["PATH", "HOME", "USER", "LOGNAME", "LANG", "LC_ALL", "TZ", "TMPDIR"];
/// Bytes of each output stream kept (the last ones).
pub const MAX_OUTPUT: usize = 64 * 1024;
/// Lines of output shown in the result.
pub const TAIL_LINES: usize = 20;
/// How long output is still read after the hook ended or was killed.
pub const DRAIN_GRACE: Duration = Duration::from_secs(2);
/// Longest hook timeout a configuration may set.
pub const MAX_TIMEOUT: Duration = Duration::from_secs(24 * 3600);

/// Reads `r` to its end, keeping the last [`MAX_OUTPUT`] bytes.
fn read_tail(mut r: impl Read) -> Vec<u8> {
    let mut kept = Vec::new();
    let mut buf = [0u8; 8192];
    loop {
        match r.read(&mut buf) {
            Ok(0) | Err(_) => return kept,
            Ok(n) => {
                kept.extend_from_slice(&buf[..n]);
                if kept.len() > 2 * MAX_OUTPUT {
                    kept.drain(..kept.len() - MAX_OUTPUT);
                }
            }
        }
    }
}

/// Runs hook `kind` (`argv`) with `env` added to the variables of `inherited` that [`INHERITED_ENV`] names,
/// killing its process group after `timeout`.
pub fn run(
    kind: &str,
    argv: &[String],
    env: &[(&str, String)],
    inherited: impl IntoIterator<Item = (OsString, OsString)>,
    timeout: Duration,
) -> HookResult {
    let mut result = HookResult {
        hook: kind.into(),
        argv: argv.to_vec(),
        success: false,
        exit_code: None,
        timed_out: false,
        output: String::new(),
    };
    let Some((prog, args)) = argv.split_first() else {
        result.output = "empty hook command".into();
        return result;
    };
    let mut cmd = Command::new(prog);
    cmd.args(args)
        .env_clear()
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0);
    for (k, v) in inherited {
        if INHERITED_ENV.iter().any(|n| k == *n) {
            cmd.env(k, v);
        }
    }
    for (k, v) in env {
        cmd.env(k, v);
    }
    let mut child = match cmd.spawn() {
        Ok(c) => c,
        Err(e) => {
            result.output = format!("cannot run {prog}: {e}");
            return result;
        }
    };
    let (tx, rx) = mpsc::channel::<(usize, Vec<u8>)>();
    let streams: Vec<Box<dyn Read + Send>> = [
        child.stdout.take().map(|o| Box::new(o) as Box<dyn Read + Send>),
        child.stderr.take().map(|e| Box::new(e) as Box<dyn Read + Send>),
    ]
    .into_iter()
    .flatten()
    .collect();
    let n_streams = streams.len();
    for (i, s) in streams.into_iter().enumerate() {
        let tx = tx.clone();
        std::thread::spawn(move || {
            let _ = tx.send((i, read_tail(s)));
        });
    }
    drop(tx);
    let deadline = Instant::now().checked_add(timeout);
    let status = loop {
        match child.try_wait() {
            Ok(Some(s)) => break Some(s),
            Ok(None) if deadline.is_some_and(|d| Instant::now() >= d) => {
                // The group's id is the hook's pid (process_group(0)); the hook has not been reaped, so the
                // id cannot have been reused.
                let pgid = nix::unistd::Pid::from_raw(child.id() as i32);
                let _ = nix::sys::signal::killpg(pgid, nix::sys::signal::Signal::SIGKILL);
                let _ = child.wait();
                result.timed_out = true;
                break None;
            }
            Ok(None) => std::thread::sleep(Duration::from_millis(20)),
            Err(_) => break None,
        }
    };
    let mut outputs: Vec<(usize, Vec<u8>)> = Vec::new();
    let drain_until = Instant::now() + DRAIN_GRACE;
    while outputs.len() < n_streams {
        let left = drain_until.saturating_duration_since(Instant::now());
        match rx.recv_timeout(left) {
            Ok(o) => outputs.push(o),
            Err(_) => break,
        }
    }
    outputs.sort_by_key(|(i, _)| *i);
    let output: String = outputs
        .iter()
        .map(|(_, b)| String::from_utf8_lossy(&b[b.len().saturating_sub(MAX_OUTPUT)..]).into_owned())
        .collect::<Vec<_>>()
        .join("");
    let lines: Vec<&str> = output.lines().collect();
    result.output = lines[lines.len().saturating_sub(TAIL_LINES)..].join("\n");
    if result.timed_out {
        result.output = format!(
            "killed after {}s (with its process group)\n{}",
            timeout.as_secs(),
            result.output
        );
    }
    result.exit_code = status.and_then(|s| s.code());
    result.success = status.is_some_and(|s| s.success());
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sh(script: &str) -> Vec<String> {
        vec!["/bin/sh".into(), "-c".into(), script.into()]
    }

    fn no_env() -> Vec<(OsString, OsString)> {
        vec![("PATH".into(), "/usr/bin:/bin".into())]
    }

    #[test]
    fn exit_status_and_output_are_reported() {
        let r = run(
            "pre",
            &sh("echo out; echo err >&2; exit 3"),
            &[],
            no_env(),
            Duration::from_secs(30),
        );
        assert!(!r.success && !r.timed_out);
        assert_eq!(r.exit_code, Some(3));
        assert!(r.output.contains("out") && r.output.contains("err"), "{}", r.output);
        let ok = run("post", &sh("true"), &[], no_env(), Duration::from_secs(30));
        assert!(ok.success);
        assert!(!run("pre", &[], &[], no_env(), Duration::from_secs(1)).success);
        assert!(
            !run(
                "pre",
                &["/nonexistent/hook".into()],
                &[],
                no_env(),
                Duration::from_secs(1)
            )
            .success
        );
    }

    /// The attack on the old runner: a hook whose background child keeps the output pipe open made a 1 s
    /// timeout wait for the child. Now the whole group is killed: the background child is gone when the hook
    /// returns.
    #[test]
    fn timeout_kills_the_whole_process_group() {
        let dir = tempfile::tempdir().unwrap();
        let pidfile = dir.path().join("pid");
        let script = format!("sleep 300 & echo $! > {}; wait", pidfile.display());
        let r = run("pre", &sh(&script), &[], no_env(), Duration::from_secs(1));
        assert!(r.timed_out && !r.success, "{r:?}");
        let pid: i32 = std::fs::read_to_string(&pidfile).unwrap().trim().parse().unwrap();
        // SIGKILL is delivered asynchronously: wait (generously) until it is gone or a zombie. Without the
        // group kill it would sleep for 300 s.
        let alive = || {
            std::fs::read_to_string(format!("/proc/{pid}/stat"))
                .map(|s| !s.contains(") Z "))
                .unwrap_or(false)
        };
        let until = Instant::now() + Duration::from_secs(60);
        while alive() && Instant::now() < until {
            std::thread::sleep(Duration::from_millis(50));
        }
        assert!(!alive(), "grandchild {pid} survived the timeout");
    }

    #[test]
    fn output_is_capped() {
        let r = run(
            "pre",
            &sh("head -c 3000000 /dev/zero | tr '\\0' 'x'; echo; echo last"),
            &[],
            no_env(),
            Duration::from_secs(60),
        );
        assert!(r.success, "{r:?}");
        assert!(r.output.len() <= MAX_OUTPUT + 100, "{}", r.output.len());
        assert!(r.output.ends_with("last"), "the end of the output is kept");
    }

    #[test]
    fn environment_is_the_documented_one() {
        let inherited = vec![
            ("PATH".into(), "/usr/bin:/bin".into()),
            ("HOME".into(), "/root".into()),
            ("SSH_AUTH_SOCK".into(), "/tmp/agent.sock".into()),
            ("AWS_SECRET_ACCESS_KEY".into(), "x".into()),
        ];
        let r = run(
            "pre",
            &sh("env"),
            &[("ZREPLRS_JOB", "j".into())],
            inherited,
            Duration::from_secs(30),
        );
        assert!(r.success, "{r:?}");
        assert!(
            r.output.contains("ZREPLRS_JOB=j") && r.output.contains("HOME=/root"),
            "{}",
            r.output
        );
        assert!(
            !r.output.contains("SSH_AUTH_SOCK") && !r.output.contains("AWS_"),
            "{}",
            r.output
        );
    }

    #[test]
    fn an_absurd_timeout_does_not_panic() {
        let r = run("pre", &sh("true"), &[], no_env(), Duration::MAX);
        assert!(r.success);
    }
}
