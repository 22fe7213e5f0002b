//! What the two agents' request handlers share: refusals and their error replies, replies with heartbeats
//! while a request takes long, the greeting, and names checked to lie below the agent's root.

use crate::error::Failure;
use std::io::{BufWriter, Write};
use std::sync::mpsc::{self, RecvTimeoutError};
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use crate::agent::wire::frame;
use crate::agent::wire::proto::{self, envelope::Body, Envelope};
use crate::error::ErrorKind;
use crate::zfs::names::DatasetName;
use crate::zfs::{Zfs, ZfsError};

/// A refused or failed request: the reply's `kind` and `message`.
#[derive(Debug)]
pub(crate) struct Refusal {
    pub(crate) kind: ErrorKind,
    pub(crate) message: String,
}

impl Refusal {
    pub(crate) fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        Refusal {
            kind,
            message: message.into(),
        }
    }
}

impl From<ZfsError> for Refusal {
    fn from(e: ZfsError) -> Self {
        Refusal {
            kind: e.error_kind(),
            message: e.to_string(),
        }
    }
}

/// The error reply for `r`: its kind as the protobuf enum, and by name for peers before the enum.
pub(crate) fn error_reply(r: Refusal) -> Envelope {
    Envelope::new(
        proto::Error {
            kind: r.kind.as_str().to_string(),
            message: r.message,
            code: r.kind as i32,
        }
        .into(),
    )
}

/// The first line of `zfs version`, or "" when it cannot be run.
pub(crate) fn zfs_version(zfs: &Zfs) -> String {
    zfs.version().unwrap_or_default()
}

/// The `zfs` an agent runs: the system's, or its `--zfs-program` (then without libzfs_core, which would
/// bypass that program).
pub(crate) fn agent_zfs(program: Option<&std::ffi::OsString>) -> Zfs {
    program.map_or_else(Zfs::system, |p| Zfs::with_program(p).without_native())
}

/// An agent's answer to a hello: it serves `root`, as a send-agent or not, append-only or not.
pub(crate) fn hello_reply(root: &DatasetName, zfs: &Zfs, append_only: bool, send_agent: bool) -> proto::HelloReply {
    proto::HelloReply {
        protocol_version: proto::PROTOCOL_VERSION,
        software_version: env!("CARGO_PKG_VERSION").into(),
        root: root.to_string(),
        zfs_version: zfs_version(zfs),
        append_only,
        send_agent,
        compression: crate::agent::wire::codec::supported(),
    }
}

/// Answers the first message of a session: a [`proto::Hello`] of our protocol version gets `hello`; anything
/// else gets an error reply and ends the session.
pub(crate) fn greet<W: Write>(out: &mut BufWriter<W>, body: Body, hello: proto::HelloReply) -> Result<(), Failure> {
    let msg = match body {
        Body::Hello(h) if h.protocol_version == proto::PROTOCOL_VERSION => {
            return reply(out, Envelope::new(hello.into())).map_err(|e| Failure::connection(e.to_string()));
        }
        Body::Hello(h) => format!(
            "unsupported protocol version {} (this agent, zreplrs {}, speaks {}); install the same zreplrs version on both hosts",
            h.protocol_version,
            env!("CARGO_PKG_VERSION"),
            proto::PROTOCOL_VERSION
        ),
        other => format!("expected hello first, got {}", Envelope::new(other).kind_name()),
    };
    let kind = if msg.starts_with("unsupported") {
        ErrorKind::ProtocolVersion
    } else {
        ErrorKind::Protocol
    };
    let _ = reply(out, error_reply(Refusal::new(kind, msg.clone())));
    Err(Failure::new(kind, msg))
}

/// Runs `work` while a second thread sends a [`proto::Heartbeat`] every [`HEARTBEAT`] on `out`, so that a
/// request that takes long (listing thousands of snapshots, `zfs receive` committing a long `-I` stream after
/// its END) is not mistaken for a dead agent.
/// Heartbeats stop before `work`'s result is returned, so they always precede the reply.
pub(crate) fn with_heartbeats<W: Write + Send, T>(out: &mut BufWriter<W>, work: impl FnOnce() -> T) -> T {
    let cell = Mutex::new(out);
    std::thread::scope(|s| {
        let (done, wait) = mpsc::channel::<()>();
        let cell = &cell;
        s.spawn(move || {
            while wait.recv_timeout(HEARTBEAT) == Err(RecvTimeoutError::Timeout) {
                let mut o = cell.lock().unwrap_or_else(PoisonError::into_inner);
                if reply(*o, Envelope::new(proto::Heartbeat {}.into())).is_err() {
                    break;
                }
            }
        });
        let result = work();
        drop(done);
        result
    })
}

pub(crate) fn reply<W: Write>(out: &mut BufWriter<W>, env: Envelope) -> std::io::Result<()> {
    frame::write_message(out, &env)?;
    out.flush()
}

/// A dataset named by the sender, checked to be strictly below the agent's root.
pub(crate) fn below_root(root: &DatasetName, rel: &str) -> Result<DatasetName, Refusal> {
    if rel.is_empty() {
        return Err(Refusal::new(
            ErrorKind::OutsideRoot,
            format!("an empty dataset path names the agent's root {root} itself"),
        ));
    }
    let ds = root
        .child(rel)
        .map_err(|e| Refusal::new(ErrorKind::InvalidName, e.to_string()))?;
    if !ds.is_strictly_below(root) {
        return Err(Refusal::new(
            ErrorKind::OutsideRoot,
            format!("{ds} is not below the agent's root {root}"),
        ));
    }
    Ok(ds)
}

/// How often the agent tells a sender waiting for a reply that it is still working (well below the sender's
/// reply timeout of at least 60 s).
const HEARTBEAT: Duration = Duration::from_secs(5);

#[cfg(test)]
mod tests {
    use super::*;

    /// An error reply carries its kind twice: as the enum, and by name for peers before the enum.
    #[test]
    fn an_error_reply_names_its_kind_by_code_and_by_name() {
        let busy = ZfsError::from_stderr(&["receive"], Some(1), "cannot receive: dataset is busy");
        let Some(Body::Error(e)) = error_reply(Refusal::from(busy)).body else {
            panic!("an error reply");
        };
        assert_eq!((e.code, e.kind.as_str()), (ErrorKind::ZfsBusy as i32, "zfs_busy"));
        assert_eq!(ErrorKind::from_wire(e.code, ""), ErrorKind::ZfsBusy);
    }
}
