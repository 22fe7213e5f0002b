//! `zreplrs recv-agent`: the receiving side, run as an SSH forced command or as a child on pipes.
//!
//! Its own command line is authoritative: every dataset it touches is strictly below its root
//! (`--root-fs[/--client-identity]`), receive properties come from its flags, and every request is checked
//! (protocol version first, names, frame bounds) before anything runs. It never runs a shell: `zfs` is
//! started with argv vectors by the ZFS adapter. One request, one reply; a receive request is followed by
//! the stream as DATA frames and an END frame.

use crate::error::Failure;
use std::io::{BufWriter, Write};

pub use crate::agent::recv::config::AgentConfig;
use crate::agent::recv::last_received::{protect_received, KnownHolds};
use crate::agent::recv::receive::{moves, receive, Fatal};
use crate::agent::request::{agent_zfs, below_root, error_reply, greet, hello_reply, reply, with_heartbeats, Refusal};
use crate::agent::wire::frame;
use crate::agent::wire::proto::{self, envelope::Body, Envelope};
use crate::agent::wire::splice::FdRead;
use crate::error::ErrorKind;
use crate::report::unix_now;
use crate::zfs::bookkeeping::JobId;
use crate::zfs::list::{FsEntry, Listing};
use crate::zfs::names::DatasetName;
use crate::zfs::{Guid, Zfs, ZfsErrorKind};

/// Runs the agent on `input`/`output` until the sender closes the connection. Returns an error (after
/// replying with it when possible) when the stream is broken or the protocol is violated.
///
/// `input` must be unbuffered (a `File` of the descriptor, not a `Stdin`): DATA payloads are spliced from its
/// descriptor straight into `zfs receive`, past any buffer.
pub fn serve<R: FdRead, W: Write + Send>(cfg: &AgentConfig, mut input: R, output: W) -> Result<(), Failure> {
    let mut out = BufWriter::new(output);
    let zfs = agent_zfs(cfg.zfs_program.as_ref());
    let root = cfg
        .root()
        .map_err(|e| Failure::new(ErrorKind::InvalidName, format!("invalid --client-identity: {e}")))?;
    let mut greeted = false;
    let mut known = KnownHolds::default();
    loop {
        let env = match frame::read_message(&mut input) {
            Ok(Some(env)) => env,
            Ok(None) => return Ok(()),
            Err(e) => {
                let _ = reply(&mut out, error_reply(Refusal::new(e.kind(), e.to_string())));
                return Err(Failure::protocol(format!("protocol error: {e}")));
            }
        };
        let body = match env.body {
            Some(b) => b,
            None => {
                let _ = reply(
                    &mut out,
                    error_reply(Refusal::new(ErrorKind::Protocol, "empty message")),
                );
                return Err(Failure::protocol("protocol error: empty message"));
            }
        };
        if !greeted {
            let restore = match &body {
                Body::Hello(h) if h.restore && cfg.serve_restores => Some(h.job_id.clone()),
                _ => None,
            };
            if let Some(job_id) = restore {
                return serve_restore(cfg, &zfs, &root, &job_id, body, input, out);
            }
            greet(&mut out, body, hello_reply(&root, &zfs, cfg.append_only, false))?;
            greeted = true;
            continue;
        }
        let response = match body {
            Body::Receive(req) => {
                match receive(&zfs, cfg, &root, &req, &mut input, &mut out, &mut known) {
                    Ok(Some(resp)) => Ok(vec![resp]),
                    Ok(None) => continue, // the error reply was already sent during the stream
                    Err(Fatal(msg)) => return Err(Failure::connection(msg)),
                }
            }
            other => {
                let page_bytes = match &other {
                    Body::List(req) => req.page_bytes,
                    _ => 0,
                };
                with_heartbeats(&mut out, || handle(&zfs, cfg, &root, other, &mut known)).map(|env| match env.body {
                    Some(Body::ListReply(l)) => crate::agent::wire::paging::split(l, page_bytes, frame::MAX_MESSAGE)
                        .into_iter()
                        .map(|page| Envelope::new(page.into()))
                        .collect(),
                    body => vec![Envelope { body }],
                })
            }
        };
        for env in response.unwrap_or_else(|r| vec![error_reply(r)]) {
            reply(&mut out, env).map_err(|e| Failure::connection(format!("cannot reply: {e}")))?;
        }
    }
}

/// Greets a peer that asked for a restore as a send-agent of `root` and serves its calls (see
/// [`crate::agent::recv::restores`]); a bad job id is refused in the greeting.
fn serve_restore<R: FdRead, W: Write + Send>(
    cfg: &AgentConfig,
    zfs: &Zfs,
    root: &DatasetName,
    job_id: &str,
    hello: Body,
    input: R,
    mut out: BufWriter<W>,
) -> Result<(), Failure> {
    let send_cfg = match crate::agent::recv::restores::sender_config(cfg, root, job_id) {
        Ok(c) => c,
        Err(e) => {
            let _ = reply(&mut out, error_reply(Refusal::new(ErrorKind::InvalidName, e.0.clone())));
            return Err(Failure::new(ErrorKind::InvalidName, e.0));
        }
    };
    greet(&mut out, hello, hello_reply(root, zfs, cfg.append_only, true))?;
    crate::agent::send::server::serve_calls(&send_cfg, zfs, input, &mut out)
}

/// How long the agent reads the files of one snapshot for a checksum (a clone of a peer's data stays
/// mounted no longer).
const VERIFY_TIME_LIMIT: std::time::Duration = std::time::Duration::from_secs(3600);

/// Handles one request other than a receive.
fn handle(
    zfs: &Zfs,
    cfg: &AgentConfig,
    root: &DatasetName,
    body: Body,
    known: &mut KnownHolds,
) -> Result<Envelope, Refusal> {
    if cfg.append_only {
        if let Some(why) = crate::agent::recv::policy::request_refusal(&body) {
            return Err(Refusal::new(crate::agent::recv::policy::KIND, why));
        }
        if matches!(body, Body::Checksum(_)) && !cfg.allow_verify {
            return Err(Refusal::new(
                crate::agent::recv::policy::KIND,
                "this agent runs with --append-only and reads no files of what a sender sent (a checksum \
                 mounts a clone of the sender's data): add --allow-verify to its command line to serve \
                 `zreplrs verify --content`",
            ));
        }
    }
    match body {
        Body::List(req) if !req.versions_of.is_empty() => list_versions(zfs, root, &req, known),
        Body::List(req) => list(zfs, cfg, root, &req, known),
        Body::AbortResume(req) => abort_resume(zfs, root, &req),
        Body::Destroy(req) => destroy(zfs, root, &req, known),
        Body::Holds(req) => holds(zfs, root, &req),
        Body::ReleaseLastReceived(req) => release_last_received(zfs, root, &req),
        Body::HoldLastReceived(req) => hold_last_received(zfs, cfg, root, &req, known),
        Body::Checksum(req) => checksum(zfs, root, &req),
        Body::Rotate(req) => crate::agent::recv::rotate::rotate(zfs, cfg, root, &req),
        Body::SetRole(req) => crate::agent::recv::role::set_role(zfs, root, &req),
        other => Err(Refusal::new(
            ErrorKind::Protocol,
            format!("unexpected request {}", Envelope::new(other).kind_name()),
        )),
    }
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
                    ErrorKind::RootMissing,
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
        .map(|e| crate::agent::wire::convert::to_wire(root, e))
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
                .map_err(|e| Refusal::new(ErrorKind::InvalidName, e.to_string()))?,
        );
    }
    // What is destroyed is read back from ZFS: a snapshot that was not there is not reported destroyed.
    let before = snapshot_names(zfs, &ds)?;
    snaps.retain(|s| before.contains(s.short()));
    let mut held = Vec::new();
    // Destroy one by one on `Held` so that one held snapshot does not block the others.
    crate::failpoint::hit("prune_destroy_before");
    let destroyed = zfs.destroy_snapshots(&snaps);
    crate::failpoint::hit("prune_destroy_after");
    match destroyed {
        Ok(()) => {}
        Err(e) if e.kind == ZfsErrorKind::Held => {
            for s in &snaps {
                match zfs.destroy_snapshots(std::slice::from_ref(s)) {
                    Ok(()) => {}
                    Err(e) if e.kind == ZfsErrorKind::Held => held.push(s.short().to_string()),
                    Err(e) => return Err(e.into()),
                }
            }
        }
        Err(e) => return Err(e.into()),
    }
    let after = snapshot_names(zfs, &ds)?;
    let destroyed = snaps
        .iter()
        .map(|s| s.short().to_string())
        .filter(|s| !after.contains(s))
        .collect();
    Ok(Envelope::new(proto::DestroyReply { destroyed, held }.into()))
}

/// The short names of `ds`'s snapshots (an empty set when `ds` does not exist).
fn snapshot_names(zfs: &Zfs, ds: &DatasetName) -> Result<std::collections::BTreeSet<String>, Refusal> {
    match zfs.list(std::slice::from_ref(ds), false) {
        Ok(l) => Ok(l
            .get(ds)
            .map(|f| f.snapshots().map(|v| v.short.clone()).collect())
            .unwrap_or_default()),
        Err(e) if e.kind == ZfsErrorKind::DoesNotExist => Ok(Default::default()),
        Err(e) => Err(e.into()),
    }
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
                    .map_err(|e| Refusal::new(ErrorKind::InvalidName, e.to_string()))?,
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
    let job = JobId::new(&req.job_id).map_err(|e| Refusal::new(ErrorKind::InvalidName, e.to_string()))?;
    let mut snaps = Vec::with_capacity(req.snapshots.len());
    for s in &req.snapshots {
        snaps.push(
            ds.snapshot(s)
                .map_err(|e| Refusal::new(ErrorKind::InvalidName, e.to_string()))?,
        );
    }
    zfs.release(&job.last_received_hold_tag(), &snaps)?;
    Ok(Envelope::new(proto::Ok {}.into()))
}

fn hold_last_received(
    zfs: &Zfs,
    cfg: &AgentConfig,
    root: &DatasetName,
    req: &proto::HoldLastReceivedRequest,
    known: &mut KnownHolds,
) -> Result<Envelope, Refusal> {
    let ds = below_root(root, &req.fs)?;
    let job = JobId::new(&req.job_id).map_err(|e| Refusal::new(ErrorKind::InvalidName, e.to_string()))?;
    let to = ds
        .snapshot(&req.snapshot)
        .map_err(|e| Refusal::new(ErrorKind::InvalidName, e.to_string()))?;
    protect_received(zfs, &ds, &to, Guid(req.guid), &job, (true, moves(cfg)), known)?;
    Ok(Envelope::new(proto::Ok {}.into()))
}

/// The content digest of one snapshot below the root, read through a temporary clone when its filesystem
/// is not mounted.
fn checksum(zfs: &Zfs, root: &DatasetName, req: &proto::ChecksumRequest) -> Result<Envelope, Refusal> {
    let ds = below_root(root, &req.fs)?;
    let snap = ds
        .snapshot(&req.snapshot)
        .map_err(|e| Refusal::new(ErrorKind::InvalidName, e.to_string()))?;
    let got = zfs.guid_of(snap.as_str())?;
    if got != Guid(req.guid) {
        return Err(Refusal::new(
            ErrorKind::GuidMismatch,
            format!("{snap} has GUID {got}, not {}", req.guid),
        ));
    }
    let logical_referenced = zfs
        .get_property(snap.as_str(), "logicalreferenced")?
        .parse()
        .unwrap_or(0);
    let by_design = match zfs.get_property(ds.as_str(), "keystatus")?.as_str() {
        "unavailable" => Some(format!("{ds} is encrypted and its key is not loaded on the receiver")),
        _ => None,
    };
    if let Some(why) = by_design {
        return Ok(Envelope::new(
            proto::ChecksumReply {
                logical_referenced,
                unreadable: why,
                by_design: true,
                ..Default::default()
            }
            .into(),
        ));
    }
    let deadline = std::time::Instant::now() + VERIFY_TIME_LIMIT;
    let digest = zfs
        .snapshot_dir(&snap)
        .map_err(|e| format!("cannot clone and mount {snap} to read its files: {e}"))
        .and_then(|dir| {
            // Holes are not read: more file data than the snapshot references is a peer's trick.
            let limits = crate::content::Limits {
                deadline: Some(deadline),
                max_read: Some(logical_referenced + logical_referenced / 100 + (64 << 20)),
            };
            crate::content::digest_dir_within(dir.path(), limits)
                .map_err(|e| format!("reading the files of {snap}: {e}"))
        });
    let reply = match digest {
        Ok(d) => proto::ChecksumReply {
            digest: d.digest,
            entries: d.entries,
            bytes: d.bytes,
            logical_referenced,
            unreadable: String::new(),
            by_design: false,
        },
        Err(why) => proto::ChecksumReply {
            logical_referenced,
            unreadable: why,
            ..Default::default()
        },
    };
    Ok(Envelope::new(reply.into()))
}
