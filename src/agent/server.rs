//! `zreplrs recv-agent`: the receiving side, run as an SSH forced command or as a child on pipes.
//!
//! Its own command line is authoritative: every dataset it touches is strictly below its root
//! (`--root-fs[/--client-identity]`), receive properties come from its flags, and every request is checked
//! (protocol version first, names, frame bounds) before anything runs. It never runs a shell: `zfs` is
//! started with argv vectors by the ZFS adapter. One request, one reply; a receive request is followed by
//! the stream as DATA frames and an END frame.

use std::io::{BufWriter, Read, Write};
use std::os::fd::AsFd;
use std::process::{Child, Stdio};
use std::sync::mpsc::{self, RecvTimeoutError};
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use super::frame::{self, DataFrame, FrameError};
use super::last_received::{protect_received, KnownHolds};
use super::proto::{self, envelope::Body, Envelope};
use super::splice::{enlarge_pipe, move_exact, FdRead, MoveError};
use crate::report::unix_now;
use crate::zfs::bookkeeping::JobId;
use crate::zfs::list::{FsEntry, Listing};
use crate::zfs::names::{DatasetName, SnapshotName, PLACEHOLDER_PROPERTY};
use crate::zfs::send::{recv_args, RecvOptions};
use crate::zfs::{Guid, Zfs, ZfsError, ZfsErrorKind};

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
    /// `--append-only`: refuse every request that could lose received data (see [`super::policy`]).
    pub append_only: bool,
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

/// A refused or failed request: the reply's `kind` and `message`.
#[derive(Debug)]
pub(super) struct Refusal {
    pub(super) kind: String,
    pub(super) message: String,
}

impl Refusal {
    pub(super) fn new(kind: &str, message: impl Into<String>) -> Self {
        Refusal {
            kind: kind.into(),
            message: message.into(),
        }
    }
}

impl From<ZfsError> for Refusal {
    fn from(e: ZfsError) -> Self {
        Refusal {
            kind: e.report_kind(),
            message: e.to_string(),
        }
    }
}

pub(super) fn error_reply(r: Refusal) -> Envelope {
    Envelope::new(
        proto::Error {
            kind: r.kind,
            message: r.message,
        }
        .into(),
    )
}

/// Runs the agent on `input`/`output` until the sender closes the connection. Returns an error (after
/// replying with it when possible) when the stream is broken or the protocol is violated.
///
/// `input` must be unbuffered (a `File` of the descriptor, not a `Stdin`): DATA payloads are spliced from its
/// descriptor straight into `zfs receive`, past any buffer.
pub fn serve<R: FdRead, W: Write + Send>(cfg: &AgentConfig, mut input: R, output: W) -> Result<(), String> {
    let mut out = BufWriter::new(output);
    let zfs = cfg.zfs_program.as_ref().map_or_else(Zfs::system, Zfs::with_program);
    let root = cfg.root().map_err(|e| format!("invalid --client-identity: {e}"))?;
    let mut greeted = false;
    let mut known = KnownHolds::default();
    loop {
        let env = match frame::read_message(&mut input) {
            Ok(Some(env)) => env,
            Ok(None) => return Ok(()),
            Err(e) => {
                let _ = reply(&mut out, error_reply(Refusal::new(e.kind(), e.to_string())));
                return Err(format!("protocol error: {e}"));
            }
        };
        let body = match env.body {
            Some(b) => b,
            None => {
                let _ = reply(&mut out, error_reply(Refusal::new("protocol", "empty message")));
                return Err("protocol error: empty message".into());
            }
        };
        if !greeted {
            let hello = proto::HelloReply {
                protocol_version: proto::PROTOCOL_VERSION,
                software_version: env!("CARGO_PKG_VERSION").into(),
                root: root.to_string(),
                zfs_version: zfs_version(&zfs),
                append_only: cfg.append_only,
                send_agent: false,
                compression: super::codec::supported(),
            };
            greet(&mut out, body, hello)?;
            greeted = true;
            continue;
        }
        let response = match body {
            Body::Receive(req) => {
                match receive(&zfs, cfg, &root, &req, &mut input, &mut out, &mut known) {
                    Ok(Some(resp)) => Ok(vec![resp]),
                    Ok(None) => continue, // the error reply was already sent during the stream
                    Err(Fatal(msg)) => return Err(msg),
                }
            }
            other => {
                let page_bytes = match &other {
                    Body::List(req) => req.page_bytes,
                    _ => 0,
                };
                with_heartbeats(&mut out, || handle(&zfs, cfg, &root, other, &mut known)).map(|env| match env.body {
                    Some(Body::ListReply(l)) => super::paging::split(l, page_bytes, frame::MAX_MESSAGE)
                        .into_iter()
                        .map(|page| Envelope::new(page.into()))
                        .collect(),
                    body => vec![Envelope { body }],
                })
            }
        };
        for env in response.unwrap_or_else(|r| vec![error_reply(r)]) {
            reply(&mut out, env).map_err(|e| format!("cannot reply: {e}"))?;
        }
    }
}

/// The first line of `zfs version`, or "" when it cannot be run.
pub(super) fn zfs_version(zfs: &Zfs) -> String {
    zfs.run(&["version"])
        .map(|v| v.lines().next().unwrap_or("").to_string())
        .unwrap_or_default()
}

/// Answers the first message of a session: a [`proto::Hello`] of our protocol version gets `hello`; anything
/// else gets an error reply and ends the session.
pub(super) fn greet<W: Write>(out: &mut BufWriter<W>, body: Body, hello: proto::HelloReply) -> Result<(), String> {
    let msg = match body {
        Body::Hello(h) if h.protocol_version == proto::PROTOCOL_VERSION => {
            return reply(out, Envelope::new(hello.into())).map_err(|e| e.to_string());
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
        "protocol_version"
    } else {
        "protocol"
    };
    let _ = reply(out, error_reply(Refusal::new(kind, msg.clone())));
    Err(msg)
}

/// Handles one request other than a receive.
fn handle(
    zfs: &Zfs,
    cfg: &AgentConfig,
    root: &DatasetName,
    body: Body,
    known: &mut KnownHolds,
) -> Result<Envelope, Refusal> {
    if cfg.append_only {
        if let Some(why) = super::policy::request_refusal(&body) {
            return Err(Refusal::new(super::policy::KIND, why));
        }
    }
    match body {
        Body::List(req) if !req.versions_of.is_empty() => list_versions(zfs, root, &req, known),
        Body::List(req) => list(zfs, cfg, root, &req, known),
        Body::AbortResume(req) => abort_resume(zfs, root, &req),
        Body::Destroy(req) => destroy(zfs, root, &req, known),
        Body::Holds(req) => holds(zfs, root, &req),
        Body::ReleaseLastReceived(req) => release_last_received(zfs, root, &req),
        Body::HoldLastReceived(req) => hold_last_received(zfs, root, &req, known),
        Body::Checksum(req) => checksum(zfs, root, &req),
        other => Err(Refusal::new(
            "protocol",
            format!("unexpected request {}", Envelope::new(other).kind_name()),
        )),
    }
}

/// Runs `work` while a second thread sends a [`proto::Heartbeat`] every [`HEARTBEAT`] on `out`, so that a
/// request that takes long (listing thousands of snapshots, `zfs receive` committing a long `-I` stream after
/// its END) is not mistaken for a dead agent.
/// Heartbeats stop before `work`'s result is returned, so they always precede the reply.
pub(super) fn with_heartbeats<W: Write + Send, T>(out: &mut BufWriter<W>, work: impl FnOnce() -> T) -> T {
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

pub(super) fn reply<W: Write>(out: &mut BufWriter<W>, env: Envelope) -> std::io::Result<()> {
    frame::write_message(out, &env)?;
    out.flush()
}

/// A dataset named by the sender, checked to be strictly below the agent's root.
fn below_root(root: &DatasetName, rel: &str) -> Result<DatasetName, Refusal> {
    if rel.is_empty() {
        return Err(Refusal::new(
            "outside_root",
            format!("an empty dataset path names the agent's root {root} itself"),
        ));
    }
    let ds = root
        .child(rel)
        .map_err(|e| Refusal::new("invalid_name", e.to_string()))?;
    if !ds.is_strictly_below(root) {
        return Err(Refusal::new(
            "outside_root",
            format!("{ds} is not below the agent's root {root}"),
        ));
    }
    Ok(ds)
}

fn list(
    zfs: &Zfs,
    cfg: &AgentConfig,
    root: &DatasetName,
    req: &proto::ListRequest,
    known: &mut KnownHolds,
) -> Result<Envelope, Refusal> {
    let roots = std::slice::from_ref(root);
    let listed_at = unix_now();
    let listed = if req.filesystems_only {
        zfs.list_filesystems(roots, None).map(|(l, complete)| (l, !complete))
    } else {
        zfs.list(roots, req.with_creation).map(|l| (l, false))
    };
    match listed {
        Ok((l, filesystems_only)) => {
            if !filesystems_only {
                known.record(&l, None);
            }
            Ok(list_reply(root, &l, filesystems_only, listed_at))
        }
        Err(e) if e.kind == ZfsErrorKind::DoesNotExist && root != &cfg.root_fs => {
            // The client's dataset appears with its first receive; the root dataset must exist.
            zfs.get_property(cfg.root_fs.as_str(), "guid").map_err(|e| {
                Refusal::new(
                    "root_missing",
                    format!("the agent's --root-fs {} cannot be used: {e}", cfg.root_fs),
                )
            })?;
            Ok(Envelope::new(
                proto::ListReply {
                    filesystems: Vec::new(),
                    root_exists: false,
                    filesystems_only: req.filesystems_only,
                    listed_at,
                    more: false,
                }
                .into(),
            ))
        }
        Err(e) => Err(e.into()),
    }
}

/// The snapshots and bookmarks of the named filesystems below the root, one entry (name and versions) each.
fn list_versions(
    zfs: &Zfs,
    root: &DatasetName,
    req: &proto::ListRequest,
    known: &mut KnownHolds,
) -> Result<Envelope, Refusal> {
    let names = req
        .versions_of
        .iter()
        .map(|rel| below_root(root, rel))
        .collect::<Result<Vec<_>, _>>()?;
    let listed_at = unix_now();
    let by_fs = names.iter().map(|n| (n.clone(), FsEntry::named(n.clone()))).collect();
    let mut listing = Listing { filesystems: by_fs };
    zfs.list_versions(&mut listing, &names, req.with_creation)?;
    known.record(&listing, Some(&names));
    Ok(list_reply(root, &listing, false, listed_at))
}

/// The reply carrying `listing` (names relative to `root`).
fn list_reply(root: &DatasetName, listing: &Listing, filesystems_only: bool, listed_at: u64) -> Envelope {
    let filesystems = listing
        .filesystems
        .values()
        .map(|e| super::convert::to_wire(root, e))
        .collect();
    Envelope::new(
        proto::ListReply {
            filesystems,
            root_exists: true,
            filesystems_only,
            listed_at,
            more: false,
        }
        .into(),
    )
}

fn abort_resume(zfs: &Zfs, root: &DatasetName, req: &proto::AbortResumeRequest) -> Result<Envelope, Refusal> {
    let ds = below_root(root, &req.fs)?;
    zfs.recv_abort(&ds)?;
    Ok(Envelope::new(proto::Ok {}.into()))
}

fn destroy(
    zfs: &Zfs,
    root: &DatasetName,
    req: &proto::DestroyRequest,
    known: &mut KnownHolds,
) -> Result<Envelope, Refusal> {
    let ds = below_root(root, &req.fs)?;
    known.forget(&ds);
    let mut snaps = Vec::with_capacity(req.snapshots.len());
    for s in &req.snapshots {
        snaps.push(
            ds.snapshot(s)
                .map_err(|e| Refusal::new("invalid_name", e.to_string()))?,
        );
    }
    let mut destroyed = Vec::new();
    let mut held = Vec::new();
    // Destroy one by one on `Held` so that one held snapshot does not block the others.
    match zfs.destroy_snapshots(&snaps) {
        Ok(()) => destroyed.extend(req.snapshots.iter().cloned()),
        Err(e) if e.kind == ZfsErrorKind::Held => {
            for s in &snaps {
                match zfs.destroy_snapshots(std::slice::from_ref(s)) {
                    Ok(()) => destroyed.push(s.short().to_string()),
                    Err(e) if e.kind == ZfsErrorKind::Held => held.push(s.short().to_string()),
                    Err(e) => return Err(e.into()),
                }
            }
        }
        Err(e) => return Err(e.into()),
    }
    Ok(Envelope::new(proto::DestroyReply { destroyed, held }.into()))
}

fn holds(zfs: &Zfs, root: &DatasetName, req: &proto::HoldsRequest) -> Result<Envelope, Refusal> {
    let listing = match zfs.list(std::slice::from_ref(root), false) {
        Ok(l) => l,
        Err(e) if e.kind == ZfsErrorKind::DoesNotExist => {
            return Ok(Envelope::new(proto::HoldsReply { holds: vec![] }.into()))
        }
        Err(e) => return Err(e.into()),
    };
    let mut held = Vec::new();
    for fs in listing.filesystems.values() {
        for v in fs.snapshots().filter(|v| v.userrefs.unwrap_or(0) > 0) {
            held.push(
                fs.name
                    .snapshot(&v.short)
                    .map_err(|e| Refusal::new("invalid_name", e.to_string()))?,
            );
        }
    }
    let mut holds = Vec::new();
    for h in zfs.holds(&held)? {
        if !req.job_id.is_empty() && !h.tag.ends_with(&format!("_J_{}", req.job_id)) {
            continue;
        }
        if let Some((fs, short)) = h.snapshot.split_once('@') {
            let rel = DatasetName::new(fs)
                .ok()
                .and_then(|d| d.strip_prefix(root).map(str::to_string))
                .unwrap_or_default();
            holds.push(proto::HoldEntry {
                fs: rel,
                snapshot: short.to_string(),
                tag: h.tag,
            });
        }
    }
    Ok(Envelope::new(proto::HoldsReply { holds }.into()))
}

fn release_last_received(
    zfs: &Zfs,
    root: &DatasetName,
    req: &proto::ReleaseLastReceivedRequest,
) -> Result<Envelope, Refusal> {
    let ds = below_root(root, &req.fs)?;
    let job = JobId::new(&req.job_id).map_err(|e| Refusal::new("invalid_name", e.to_string()))?;
    let mut snaps = Vec::with_capacity(req.snapshots.len());
    for s in &req.snapshots {
        snaps.push(
            ds.snapshot(s)
                .map_err(|e| Refusal::new("invalid_name", e.to_string()))?,
        );
    }
    zfs.release(&job.last_received_hold_tag(), &snaps)?;
    Ok(Envelope::new(proto::Ok {}.into()))
}

/// The stream can no longer be followed: end the session.
struct Fatal(String);

/// Receives one stream. Returns `Ok(None)` when an error reply was already sent mid-stream.
fn receive<R: FdRead, W: Write + Send>(
    zfs: &Zfs,
    cfg: &AgentConfig,
    root: &DatasetName,
    req: &proto::ReceiveRequest,
    input: &mut R,
    out: &mut BufWriter<W>,
    known: &mut KnownHolds,
) -> Result<Option<Envelope>, Fatal> {
    // Validate everything before touching ZFS; on refusal, skip the stream and reply.
    let mut unpacker = match super::codec::unpacker_for(&req.compression) {
        Ok(u) => u,
        Err(msg) => {
            reply(out, error_reply(Refusal::new("protocol", msg))).map_err(|e| Fatal(e.to_string()))?;
            drain(input)?;
            return Ok(None);
        }
    };
    let prepared = prepare_receive(zfs, cfg, root, req);
    let (target, to, job, mut child) = match prepared {
        Ok(p) => p,
        Err(r) => {
            reply(out, error_reply(r)).map_err(|e| Fatal(e.to_string()))?;
            drain(input)?;
            return Ok(None);
        }
    };
    let stderr = child.stderr.take();
    let stderr_reader = std::thread::spawn(move || {
        let mut s = String::new();
        if let Some(mut e) = stderr {
            let _ = e.read_to_string(&mut s);
        }
        s
    });
    let Some(mut stdin) = child.stdin.take() else {
        let _ = child.kill();
        return Err(Fatal("zfs receive has no stdin".into()));
    };
    enlarge_pipe(stdin.as_fd());
    let mut buf = Vec::new();
    let mut splice_ok = true;
    let mut bytes: u64 = 0;
    let mut packed = Vec::new();
    let aborted = loop {
        match frame::read_data_header(input) {
            Ok(DataFrame::Data(n)) => {
                let moved = match unpacker.as_mut() {
                    None => move_exact(input, &mut stdin, n, &mut buf, &mut splice_ok).map(|()| n),
                    Some(u) => unpack_into(input, &mut stdin, n, &mut packed, u),
                };
                match moved {
                    Ok(m) => bytes += m as u64,
                    Err(MoveError::Output(_)) => {
                        // zfs receive gave up; tell the sender now and skip the rest of the stream (the rest
                        // of this frame first).
                        drop(stdin);
                        let msg = finish_child(&mut child, stderr_reader);
                        reply(out, error_reply(recv_refusal(&target, &msg))).map_err(|e| Fatal(e.to_string()))?;
                        if unpacker.is_none() {
                            skip(input, n)?;
                        }
                        drain(input)?;
                        return Ok(None);
                    }
                    Err(e) => {
                        // The sender is gone mid-frame, or sent data that does not decompress: end the
                        // receive (zfs keeps resumable state).
                        drop(stdin);
                        let _ = child.wait();
                        let e = match e {
                            MoveError::Truncated { expected, got } => FrameError::Truncated { expected, got },
                            MoveError::Input(e) | MoveError::Output(e) => FrameError::Io(e),
                        };
                        return Err(Fatal(format!("data stream broken: {e}")));
                    }
                }
            }
            Ok(DataFrame::End { aborted }) => break aborted,
            Ok(DataFrame::Message(m)) => {
                let _ = child.kill();
                return Err(Fatal(format!(
                    "protocol error: {} message inside a data stream",
                    m.kind_name()
                )));
            }
            Err(e) => {
                // The sender is gone or broke the framing: end the receive (zfs keeps resumable state).
                drop(stdin);
                let _ = child.wait();
                return Err(Fatal(format!("data stream broken: {e}")));
            }
        }
    };
    drop(stdin);
    // Committing the snapshots of a long `-I` stream can take minutes after its END.
    let msg = with_heartbeats(out, || finish_child(&mut child, stderr_reader));
    let status_ok = msg.is_empty();
    if aborted {
        return Ok(Some(error_reply(Refusal::new(
            "aborted",
            format!("the sender aborted the stream after {bytes} bytes; {target} keeps resumable state"),
        ))));
    }
    if !status_ok {
        return Ok(Some(error_reply(recv_refusal(&target, &msg))));
    }
    let mut after = || -> Result<Envelope, Refusal> {
        let got = protect_received(
            zfs,
            &target,
            &to,
            Guid(req.to_guid),
            &job,
            req.last_received_hold,
            known,
        )?;
        if req.from_guid.is_none() {
            // A new real copy (possibly replacing a placeholder) says so itself, as zrepl does, instead of
            // inheriting `on` from a placeholder parent.
            zfs.set_property(target.as_str(), PLACEHOLDER_PROPERTY, "off")?;
        }
        if req.force {
            // The placeholder is now a real copy.
            // canmount is not inheritable: back to the default, or to what the agent's --recv-set says.
            let canmount = cfg
                .recv
                .set
                .iter()
                .find(|(k, _)| k == "canmount")
                .map_or("on", |(_, v)| v.as_str());
            zfs.set_property(target.as_str(), "canmount", canmount)?;
        }
        Ok(Envelope::new(
            proto::ReceiveReply {
                received_guid: got.0,
                bytes,
            }
            .into(),
        ))
    };
    Ok(Some(after().unwrap_or_else(error_reply)))
}

fn hold_last_received(
    zfs: &Zfs,
    root: &DatasetName,
    req: &proto::HoldLastReceivedRequest,
    known: &mut KnownHolds,
) -> Result<Envelope, Refusal> {
    let ds = below_root(root, &req.fs)?;
    let job = JobId::new(&req.job_id).map_err(|e| Refusal::new("invalid_name", e.to_string()))?;
    let to = ds
        .snapshot(&req.snapshot)
        .map_err(|e| Refusal::new("invalid_name", e.to_string()))?;
    protect_received(zfs, &ds, &to, Guid(req.guid), &job, true, known)?;
    Ok(Envelope::new(proto::Ok {}.into()))
}

/// The content digest of one snapshot below the root, read through a temporary clone when its filesystem
/// is not mounted.
fn checksum(zfs: &Zfs, root: &DatasetName, req: &proto::ChecksumRequest) -> Result<Envelope, Refusal> {
    let ds = below_root(root, &req.fs)?;
    let snap = ds
        .snapshot(&req.snapshot)
        .map_err(|e| Refusal::new("invalid_name", e.to_string()))?;
    let got = zfs.guid_of(snap.as_str())?;
    if got != Guid(req.guid) {
        return Err(Refusal::new(
            "guid_mismatch",
            format!("{snap} has GUID {got}, not {}", req.guid),
        ));
    }
    let logical_referenced = zfs
        .get_property(snap.as_str(), "logicalreferenced")?
        .parse()
        .unwrap_or(0);
    let digest = zfs
        .snapshot_dir(&snap)
        .map_err(|e| {
            format!("cannot read the files of {snap} (an encrypted copy without its key, or no permission to clone and mount): {e}")
        })
        .and_then(|dir| crate::content::digest_dir(dir.path()).map_err(|e| format!("reading the files of {snap}: {e}")));
    let reply = match digest {
        Ok(d) => proto::ChecksumReply {
            digest: d.digest,
            entries: d.entries,
            bytes: d.bytes,
            logical_referenced,
            unreadable: String::new(),
        },
        Err(why) => proto::ChecksumReply {
            logical_referenced,
            unreadable: why,
            ..Default::default()
        },
    };
    Ok(Envelope::new(reply.into()))
}

type Prepared = (DatasetName, SnapshotName, JobId, Child);

fn prepare_receive(
    zfs: &Zfs,
    cfg: &AgentConfig,
    root: &DatasetName,
    req: &proto::ReceiveRequest,
) -> Result<Prepared, Refusal> {
    let target = below_root(root, &req.fs)?;
    let to = target
        .snapshot(&req.to_short)
        .map_err(|e| Refusal::new("invalid_name", e.to_string()))?;
    let job = JobId::new(&req.job_id).map_err(|e| Refusal::new("invalid_name", e.to_string()))?;
    if cfg.append_only {
        if let Some(why) = super::policy::receive_refusal(zfs, req.force, &target)? {
            return Err(Refusal::new(super::policy::KIND, why));
        }
    }
    if req.from_guid.is_none() {
        // A full stream: make sure every parent between the agent's root_fs and the target exists.
        let mut missing = Vec::new();
        let mut p = target.parent();
        while let Some(d) = p {
            if !d.is_strictly_below(&cfg.root_fs) {
                break;
            }
            p = d.parent();
            missing.push(d);
        }
        for d in missing.iter().rev() {
            zfs.create_placeholder(d)?;
        }
    }
    let mut opts = if req.from_guid.is_some() {
        cfg.recv_incremental.clone()
    } else {
        cfg.recv.clone()
    };
    opts.force = req.force;
    let args = recv_args(&target, &opts);
    let child = zfs
        .command(&args)
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| Refusal::from(ZfsError::spawn(&args, &e)))?;
    Ok((target, to, job, child))
}

/// How often the agent tells a sender waiting for a reply that it is still working (well below the sender's
/// reply timeout of at least 60 s).
const HEARTBEAT: Duration = Duration::from_secs(5);

/// Waits for `zfs receive`; returns its stderr when it failed, "" on success.
fn finish_child(child: &mut Child, stderr: std::thread::JoinHandle<String>) -> String {
    let status = child.wait();
    let msg = stderr.join().unwrap_or_default();
    match status {
        Ok(s) if s.success() => String::new(),
        Ok(s) if msg.trim().is_empty() => format!("zfs receive exited with {s}"),
        Ok(_) => msg.trim().to_string(),
        Err(e) => format!("cannot wait for zfs receive: {e}"),
    }
}

fn recv_refusal(target: &DatasetName, stderr: &str) -> Refusal {
    let kind = crate::zfs::error::classify(stderr);
    Refusal::from(ZfsError {
        kind,
        command: format!("zfs receive {target}"),
        message: stderr.to_string(),
        exit_code: None,
    })
}

/// Reads a compressed DATA payload of `n` bytes whole, decompresses it (bounded, see [`super::codec`]) and
/// writes the chunk to `dst`. Returns the chunk's length. Data that does not decompress is an input error.
fn unpack_into<R: Read, W: Write>(
    input: &mut R,
    dst: &mut W,
    n: usize,
    packed: &mut Vec<u8>,
    unpacker: &mut super::codec::Unpacker,
) -> Result<usize, MoveError> {
    packed.resize(n, 0);
    let got = frame::fill(input, packed).map_err(MoveError::Input)?;
    if got != n {
        return Err(MoveError::Truncated { expected: n, got });
    }
    let chunk = unpacker
        .unpack(packed)
        .map_err(|e| MoveError::Input(std::io::Error::new(std::io::ErrorKind::InvalidData, e)))?;
    dst.write_all(chunk).map_err(MoveError::Output)?;
    Ok(chunk.len())
}

/// Skips the next `n` bytes of the input (the rest of a DATA payload).
fn skip<R: Read>(input: &mut R, n: usize) -> Result<(), Fatal> {
    let got = std::io::copy(&mut input.take(n as u64), &mut std::io::sink())
        .map_err(|e| Fatal(format!("data stream broken: {}", describe(&FrameError::Io(e)))))?;
    if got != n as u64 {
        let e = FrameError::Truncated {
            expected: n,
            got: usize::try_from(got).unwrap_or(n),
        };
        return Err(Fatal(format!("data stream broken: {}", describe(&e))));
    }
    Ok(())
}

/// Skips the rest of a data stream up to its END frame.
fn drain<R: Read>(input: &mut R) -> Result<(), Fatal> {
    let mut buf = Vec::new();
    loop {
        match frame::read_data_into(input, &mut buf) {
            Ok(DataFrame::Data(_)) => {}
            Ok(DataFrame::End { .. }) => return Ok(()),
            Ok(DataFrame::Message(m)) => {
                return Err(Fatal(format!(
                    "protocol error: {} message inside a data stream",
                    m.kind_name()
                )))
            }
            Err(e) => return Err(Fatal(format!("data stream broken: {}", describe(&e)))),
        }
    }
}

fn describe(e: &FrameError) -> String {
    format!("{e} ({})", e.kind())
}
