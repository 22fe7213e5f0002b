//! Transports: how the sender reaches its receiver's `zreplrs recv-agent`. `local:` spawns the agent as a
//! child on pipes; `ssh://` runs it over one SSH connection. Both hand the byte pipe to [`crate::agent::client::AgentClient`], which speaks the protocol.

pub mod local;
pub mod ssh;

use std::time::Duration;

use crate::agent::client::{AgentClient, AgentError};
use crate::config::{Job, Target};

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
    args
}

/// Connects to the job's receiver and performs the handshake.
pub fn connect(job: &Job) -> Result<Connection, AgentError> {
    let mut conn = match &job.target {
        Target::Local { .. } => local::connect(job),
        Target::Ssh { user, host, port, .. } => ssh::connect(job, user.as_deref(), host, *port),
    }?;
    conn.client().reply_deadline = job.reply_deadline;
    Ok(conn)
}
