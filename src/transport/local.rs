//! The `local:` transport: `zreplrs recv-agent` (or, for a pull job's `local:` source, `zreplrs send-agent`)
//! as a child process of this run, on pipes.

use std::process::{Command, Stdio};

use super::Connection;
use crate::agent::client::{AgentClient, AgentError};
use crate::config::Job;

/// Spawns this same executable with `args` (`recv-agent …` or `send-agent …`) and greets it (asking it, with
/// `restore`, to send that job's data back).
pub fn connect(job: &Job, mut args: Vec<String>, restore: Option<&str>) -> Result<Connection, AgentError> {
    let exe =
        std::env::current_exe().map_err(|e| AgentError::Connect(format!("cannot find our own executable: {e}")))?;
    let what = args.first().cloned().unwrap_or_default();
    // The child agent ignores $ZREPLRS_ZFS; a run that uses another zfs program passes it on explicitly.
    if let Some(p) = std::env::var_os("ZREPLRS_ZFS").and_then(|p| p.into_string().ok()) {
        args.push("--zfs-program".into());
        args.push(p);
    }
    let mut child = Command::new(&exe)
        .args(args)
        // Set by sshd; `recv-agent --own-streams` refuses to run with any of them, and this run may itself
        // have been started over SSH (Ansible, an administrator's session).
        .env_remove("SSH_ORIGINAL_COMMAND")
        .env_remove("SSH_CONNECTION")
        .env_remove("SSH_CLIENT")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .map_err(|e| AgentError::Connect(format!("cannot start {} {what}: {e}", exe.display())))?;
    let (Some(stdin), Some(stdout)) = (child.stdin.take(), child.stdout.take()) else {
        let _ = child.kill();
        return Err(AgentError::Connect(format!("{what} pipes missing")));
    };
    crate::agent::wire::splice::enlarge_pipe(std::os::fd::AsFd::as_fd(&stdin));
    match AgentClient::connect_for(
        Box::new(stdout),
        Box::new(stdin),
        job.connect_timeout.max(std::time::Duration::from_secs(60)),
        restore,
    ) {
        Ok(client) => Ok(Connection::new(client, Some(child))),
        Err(e) => {
            let _ = child.kill();
            let _ = child.wait();
            Err(e)
        }
    }
}
