//! Transports: how a run reaches the other side's agent. A push job reaches its receiver's
//! `zreplrs recv-agent`; a pull job reaches its source's `zreplrs send-agent` (and receives through a local
//! recv-agent). `local:` spawns the agent as a child on pipes; `ssh://` runs it over one SSH connection.
//! Both hand the byte pipe to [`crate::agent::client::AgentClient`], which speaks the protocol; for a pull
//! job's source, [`SourceRunner`] makes that connection the [`Zfs`] of the sender side.

pub mod local;
pub mod ssh;

use std::io::Write;
use std::sync::atomic::AtomicBool;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::agent::client::{AgentClient, AgentError};
use crate::agent::wire::proto;
use crate::config::{Job, Target};
use crate::error::ErrorKind;
use crate::zfs::runner::{RemoteOutput, Runner};
use crate::zfs::{Zfs, ZfsError, ZfsErrorKind};

/// An open connection to the receiver: the protocol client plus whatever keeps the pipe alive.
pub struct Connection {
    client: AgentClient,
    child: Option<std::process::Child>,
}

impl Connection {
    pub(crate) fn new(client: AgentClient, child: Option<std::process::Child>) -> Self {
        Connection { client, child }
    }

    /// The protocol client.
    pub fn client(&mut self) -> &mut AgentClient {
        &mut self.client
    }

    /// The protocol client, to read what the handshake told.
    pub fn client_ref(&self) -> &AgentClient {
        &self.client
    }
}

impl Drop for Connection {
    fn drop(&mut self) {
        // Closing our end of the pipe makes the agent exit; reap it, killing it if it does not go.
        self.client.shutdown();
        if let Some(c) = self.child.as_mut() {
            let deadline = std::time::Instant::now() + Duration::from_secs(30);
            while std::time::Instant::now() < deadline {
                match c.try_wait() {
                    Ok(Some(_)) | Err(_) => return,
                    Ok(None) => std::thread::sleep(Duration::from_millis(10)),
                }
            }
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// The agent's command-line flags that carry the job's receive-side settings.
pub fn agent_args(job: &Job) -> Vec<String> {
    let mut args = vec![
        "recv-agent".to_string(),
        "--root-fs".to_string(),
        job.target.root_fs().to_string(),
    ];
    if let Some(id) = &job.client_identity {
        args.push("--client-identity".into());
        args.push(id.clone());
    }
    for (k, v) in &job.recv.set {
        args.push("--recv-set".into());
        args.push(format!("{k}={v}"));
    }
    for k in &job.recv.inherit {
        args.push("--recv-inherit".into());
        args.push(k.clone());
    }
    if sends_own_streams_without_properties(job) {
        args.push("--own-streams".into());
    }
    args
}

/// A push job to a `local:` target that sends no properties: its recv-agent is our own child and every
/// stream it receives is one this run's own `zfs send` made, which carries no property a receive could take.
fn sends_own_streams_without_properties(job: &Job) -> bool {
    let flags = &job.send.flags;
    !job.is_pull() && matches!(job.target, Target::Local { .. }) && !flags.properties && !flags.backup_properties
}

/// The send-agent's command-line flags for a pull job: its root, the job's filter, the job id, and
/// `--require-raw` when the job sends raw. (A forced command on the source replaces them with its own.)
pub fn send_agent_args(job: &Job, source: &Target) -> Vec<String> {
    let mut args = vec![
        "send-agent".to_string(),
        "--root-fs".to_string(),
        source.root_fs().to_string(),
        "--job-id".to_string(),
        job.name.to_string(),
    ];
    for (rule, include) in job.filesystems.rules() {
        args.push(if include { "--include" } else { "--exclude" }.into());
        args.push(rule.to_string());
    }
    if job.send.flags.raw {
        args.push("--require-raw".into());
    }
    args
}

/// The agent a restore's sender runs (without a forced command): a recv-agent rooted at the copy, serving
/// restores.
fn restore_agent_args(source: &Target) -> Vec<String> {
    let root = source.root_fs().to_string();
    ["recv-agent", "--root-fs", &root, "--serve-restores"]
        .map(String::from)
        .to_vec()
}

/// Opens a connection to the agent at `place`. `peer` is the connection to the job's other host (the
/// receiver of a push job, the source of a pull job): the job's bandwidth limit and compression apply to it.
/// With `restore`, the greeting asks the agent to send the job's data back (a restore's sender).
fn open(job: &Job, place: &Target, args: Vec<String>, peer: bool, restore: bool) -> Result<Connection, AgentError> {
    let restore = restore.then(|| job.name.as_str());
    let mut conn = match place {
        Target::Local { .. } => local::connect(job, args, restore),
        Target::Ssh { user, host, port, .. } => ssh::connect(job, user.as_deref(), host, *port, &args, restore),
        Target::S3 { .. } => Err(AgentError::Remote {
            kind: crate::error::ErrorKind::Unsupported,
            message: format!(
                "job {}: {place} is an object store, which has no zreplrs agent to ask for this",
                job.name
            ),
        }),
    }?;
    conn.client().reply_deadline = job.reply_deadline;
    if peer {
        let limit = job.bandwidth_limit.map(|l| l.bytes_per_second());
        if let Some(warning) = conn.client().negotiate(limit, job.compression().zstd_level()) {
            eprintln!("zreplrs: job {}: {warning}", job.name);
        }
    }
    Ok(conn)
}

/// Connects to the job's receiver (for a pull job, a recv-agent on this host) and performs the handshake.
pub fn connect(job: &Job) -> Result<Connection, AgentError> {
    let mut conn = open(job, &job.target, agent_args(job), !job.is_pull(), false)?;
    if conn.client().hello.send_agent {
        return Err(AgentError::Protocol(
            "the target runs zreplrs send-agent, which only serves pull jobs; the receiver of a push job runs \
             zreplrs recv-agent (check the forced command in its authorized_keys)"
                .into(),
        ));
    }
    Ok(conn)
}

/// Pull mode: connects to the job's source, checks that a send-agent for the expected root answers, and
/// returns the [`Zfs`] whose commands run there. A push job gets this host's `zfs`.
pub fn sender_zfs(job: &Job) -> Result<Zfs, AgentError> {
    let Some(source) = &job.source else {
        return Ok(Zfs::new());
    };
    let args = match job.reversal {
        Some(_) => restore_agent_args(source),
        None => send_agent_args(job, source),
    };
    let mut conn = open(job, source, args, true, job.reversal.is_some()).map_err(AgentError::at_source)?;
    let hello = &conn.client().hello;
    if job.reversal.is_some() {
        restore_source(hello, source).map_err(AgentError::at_source)?;
        return Ok(Zfs::remote(Arc::new(Mutex::new(SourceRunner(conn)))));
    }
    if !hello.send_agent {
        return Err(AgentError::Protocol(
            "the source does not run zreplrs send-agent (a pull job's source does; check the forced command in \
             its authorized_keys)"
                .into(),
        )
        .at_source());
    }
    if hello.root != source.root_fs().as_str() {
        return Err(AgentError::Protocol(format!(
            "the source's send-agent serves {:?}, but the job's source is {source}; make the forced command's \
             --root-fs and the job's source agree",
            crate::agent::client::printable(hello.root.as_bytes())
        ))
        .at_source());
    }
    Ok(Zfs::remote(Arc::new(Mutex::new(SourceRunner(conn)))))
}

/// Checks that the backup host's agent serves a restore of `source` (its root at or below the agent's).
fn restore_source(hello: &proto::HelloReply, source: &Target) -> Result<(), AgentError> {
    if !hello.send_agent {
        return Err(AgentError::Protocol(
            "the backup host's zreplrs recv-agent does not serve restores: add --serve-restores to its command \
             (the forced command in its authorized_keys), or restore on the backup host"
                .into(),
        ));
    }
    let root = crate::zfs::names::DatasetName::new(&hello.root)
        .map_err(|e| AgentError::Protocol(format!("the backup host's agent announced a bad root: {e}")))?;
    let wanted = source.root_fs();
    if wanted != &root && !wanted.is_strictly_below(&root) {
        return Err(AgentError::Protocol(format!(
            "the backup host's agent serves {root}, which does not hold {wanted}; check the job's target and \
             the forced command's --root-fs and --client-identity"
        )));
    }
    Ok(())
}

/// The connection to a pull job's source as the sender side's [`Runner`].
pub struct SourceRunner(Connection);

fn output(r: proto::ZfsCallReply) -> RemoteOutput {
    RemoteOutput {
        wire_bytes: None,
        success: r.success,
        exit_code: r.exit_code,
        stdout: r.stdout,
        stderr: crate::agent::client::printable(r.stderr.as_bytes()),
    }
}

/// A failure talking to the source, as the error of the `zfs` command it was for.
fn source_error(argv: &[String], e: AgentError) -> ZfsError {
    let (kind, message) = match e {
        AgentError::Remote {
            kind: ErrorKind::SendAgentPolicy,
            message,
        } => (
            ZfsErrorKind::Refused,
            format!("the source's send-agent refused it: {message}"),
        ),
        AgentError::Remote { kind, message } => (
            ZfsErrorKind::Other,
            format!("the source's send-agent reported {kind}: {message}"),
        ),
        AgentError::Connect(m) | AgentError::Connection(m) => {
            (ZfsErrorKind::Connection, format!("connection to the source lost: {m}"))
        }
        other => (ZfsErrorKind::Other, format!("talking to the source: {other}")),
    };
    ZfsError {
        kind,
        command: crate::zfs::display_command(argv),
        message,
        exit_code: None,
    }
}

impl Runner for SourceRunner {
    fn call(&mut self, argv: &[String]) -> Result<RemoteOutput, ZfsError> {
        self.0
            .client()
            .zfs_call(argv)
            .map(output)
            .map_err(|e| source_error(argv, e))
    }

    fn stream(
        &mut self,
        argv: &[String],
        sink: &mut dyn Write,
        abort: &AtomicBool,
        stall: Duration,
    ) -> Result<RemoteOutput, ZfsError> {
        self.0
            .client()
            .zfs_stream(argv, sink, abort, stall)
            .map(|(r, wire)| RemoteOutput {
                wire_bytes: Some(wire),
                ..output(r)
            })
            .map_err(|e| source_error(argv, e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use camino::Utf8Path;

    fn job(target: &str, extra: &str) -> Job {
        let text = format!(
            "[[jobs]]\nname = \"j\"\ntarget = \"{target}\"\n{extra}\n[jobs.filesystems]\n\"tank/data<\" = true\n"
        );
        let mut config = crate::config::Config::parse(Utf8Path::new("/etc/zreplrs/zreplrs.toml"), &text).unwrap();
        config.jobs.remove(0)
    }

    #[test]
    fn only_a_local_push_without_properties_tells_its_agent_the_streams_are_its_own() {
        let own = |j: &Job| agent_args(j).iter().any(|a| a == "--own-streams");
        assert!(own(&job("local:backup/hosts", "")));
        assert!(own(&job("local:backup/hosts", "[jobs.send]\ncompressed = true\n")));
        assert!(!own(&job("local:backup/hosts", "[jobs.send]\nproperties = true\n")));
        assert!(!own(&job(
            "local:backup/hosts",
            "[jobs.send]\nbackup_properties = true\n"
        )));
        assert!(!own(&job("ssh://backup.example/backup/hosts", "")));
        let pull = job("local:backup/prod1\"\nsource = \"ssh://zsend@prod1/tank", "");
        assert!(pull.is_pull());
        assert!(!own(&pull), "a pull job's streams come from the source host");
    }
}
