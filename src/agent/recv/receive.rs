//! The recv-agent's receive request: the request is checked, then the stream is held back until its first
//! BEGIN record passed [`StreamCheck`] (a package header, a GUID, a flag the request did not ask for: refused
//! with nothing changed in ZFS), then placeholders are created and `zfs receive` starts with the options for
//! the kind of dataset the stream carries, and the rest of the stream passes the checker record by record
//! (a plain stream's data, once its BEGIN passed, is spliced past it).

use std::io::{BufWriter, Read, Write};
use std::os::fd::AsFd;
use std::process::ChildStdin;

use crate::agent::recv::config::AgentConfig;
use crate::agent::recv::last_received::{protect_received, KnownHolds, Moves};
use crate::agent::request::{below_root, error_reply, reply, with_heartbeats, Refusal};
use crate::agent::wire::codec::Unpacker;
use crate::agent::wire::frame::{self, DataFrame, FrameError};
use crate::agent::wire::proto::{self, Envelope};
use crate::agent::wire::splice::{enlarge_pipe, move_exact, FdRead, MoveError};
use crate::error::ErrorKind;
use crate::zfs::bookkeeping::JobId;
use crate::zfs::names::{DatasetName, SnapshotName, PLACEHOLDER_PROPERTY};
use crate::zfs::process::ZfsChild;
use crate::zfs::send::{receive_options, Incoming};
use crate::zfs::stream::{DatasetKind, Expected, PassError, StreamCheck, StreamError};
use crate::zfs::{Guid, Zfs, ZfsError};

/// The stream can no longer be followed: end the session.
pub(super) struct Fatal(pub(super) String);

/// One piece of the stream as it arrived: a DATA frame's bytes (decompressed) or its END.
enum Chunk<'b> {
    Data(&'b [u8]),
    End { aborted: bool },
}

/// How pumping the stream into `zfs receive` ended; in every case the input is at a frame boundary.
enum Pumped {
    Ended {
        aborted: bool,
    },
    /// `zfs receive` stopped reading.
    GaveUp,
    /// The checker refused a record; nothing from it on reached `zfs receive`.
    Refused(StreamError),
}

/// Receives one stream. Returns `Ok(None)` when an error reply was already sent mid-stream.
pub(super) fn receive<R: FdRead, W: Write + Send>(
    zfs: &Zfs,
    cfg: &AgentConfig,
    root: &DatasetName,
    req: &proto::ReceiveRequest,
    input: &mut R,
    out: &mut BufWriter<W>,
    known: &mut KnownHolds,
) -> Result<Option<Envelope>, Fatal> {
    let mut unpacker = match crate::agent::wire::codec::unpacker_for(&req.compression) {
        Ok(u) => u,
        Err(msg) => return refuse_and_drain(out, input, Refusal::new(ErrorKind::Protocol, msg)),
    };
    let (target, to, job) = match check_request(zfs, cfg, root, req) {
        Ok(t) => t,
        Err(r) => return refuse_and_drain(out, input, r),
    };
    let mut check = StreamCheck::new(Expected {
        from_guid: req.from_guid,
        to_guid: req.to_guid,
        raw: req.raw,
        resuming: req.resuming,
    });
    let mut frame_buf = Vec::new();
    let mut prefix = Vec::new();
    let held = HeldBack {
        check: &mut check,
        unpacker: &mut unpacker,
        frame_buf: &mut frame_buf,
        prefix: &mut prefix,
    };
    let kind = match hold_back(held, &target, input, out)? {
        Ok(kind) => kind,
        Err(done) => return Ok(done),
    };
    crate::failpoint::hit("receive_start_before");
    let mut child = match start_receive(zfs, cfg, &target, req, kind) {
        Ok(c) => c,
        Err(r) => return refuse_and_drain(out, input, r),
    };
    crate::failpoint::hit("receive_start_after");
    let Some(stdin) = child.take_stdin() else {
        child.kill();
        return Err(Fatal("zfs receive has no stdin".into()));
    };
    enlarge_pipe(stdin.as_fd());
    let mut sink = BufWriter::with_capacity(1 << 20, stdin);
    let mut bytes = prefix.len() as u64;
    let pumped = pump(
        input,
        &mut sink,
        &mut check,
        &mut unpacker,
        &mut frame_buf,
        &prefix,
        &mut bytes,
    );
    let flushed = sink.flush().is_ok();
    drop(sink);
    let aborted = match after_pump(&mut child, &target, pumped, flushed, input, out)? {
        Ok(aborted) => aborted,
        Err(done) => return Ok(done),
    };
    // Committing the snapshots of a long `-I` stream can take minutes after its END.
    let finished = with_heartbeats(out, || child.finish("at the end of the stream"));
    crate::failpoint::hit("receive_finish_before");
    if aborted {
        return Ok(Some(error_reply(Refusal::new(
            ErrorKind::Aborted,
            format!("the sender aborted the stream after {bytes} bytes; {target} keeps resumable state"),
        ))));
    }
    if finished.is_err() {
        return Ok(Some(error_reply(recv_refusal(&target, finished))));
    }
    if let Err(e) = check.finish() {
        return Ok(Some(error_reply(bad_stream(&target, &e, false))));
    }
    let done = Received {
        target: &target,
        to: &to,
        job: &job,
        kind,
        bytes,
    };
    let reply = done.protect(zfs, cfg, req, known).unwrap_or_else(error_reply);
    crate::failpoint::hit("receive_finish_after");
    Ok(Some(reply))
}

/// What holding a stream back uses: its check, the decompressor, the frame buffer, and the bytes held.
struct HeldBack<'a> {
    check: &'a mut StreamCheck,
    unpacker: &'a mut Option<crate::agent::wire::codec::Unpacker>,
    frame_buf: &'a mut Vec<u8>,
    prefix: &'a mut Vec<u8>,
}

/// Reads the stream, holding it back in `prefix`, until its first BEGIN record passed the check: `Ok` with
/// the dataset kind it sends; else what the request is answered with (already answered: `None`).
fn hold_back<R: FdRead, W: Write + Send>(
    h: HeldBack<'_>,
    target: &DatasetName,
    input: &mut R,
    out: &mut BufWriter<W>,
) -> Result<Result<DatasetKind, Option<Envelope>>, Fatal> {
    loop {
        if let Some(kind) = h.check.kind() {
            return Ok(Ok(kind));
        }
        match read_chunk(input, h.unpacker, h.frame_buf)? {
            Chunk::Data(d) => match h.check.pass(d, h.prefix) {
                Ok(()) => {}
                Err(PassError::Stream(e)) => {
                    return refuse_and_drain(out, input, bad_stream(target, &e, true)).map(Err)
                }
                Err(PassError::Output(e)) => return Err(Fatal(format!("holding the stream back: {e}"))),
            },
            Chunk::End { aborted: true } => {
                return Ok(Err(Some(error_reply(Refusal::new(
                    ErrorKind::Aborted,
                    format!("the sender aborted the stream for {target} before it began; nothing was received"),
                )))))
            }
            Chunk::End { aborted: false } => {
                return Ok(Err(Some(error_reply(bad_stream(
                    target,
                    &StreamError::Incomplete,
                    true,
                )))))
            }
        }
    }
}

/// After the stream was pumped into `zfs receive`: `Ok` with whether the sender aborted it (then or after
/// `zfs receive` ends, the receive is judged); else what the request is answered with, `zfs receive` having
/// stopped reading early, or the stream refused part-way.
fn after_pump<R: FdRead, W: Write + Send>(
    child: &mut ZfsChild,
    target: &DatasetName,
    pumped: Result<Pumped, Fatal>,
    flushed: bool,
    input: &mut R,
    out: &mut BufWriter<W>,
) -> Result<Result<bool, Option<Envelope>>, Fatal> {
    match pumped {
        Ok(Pumped::Ended { aborted }) if flushed || aborted => Ok(Ok(aborted)),
        // zfs receive stopped reading before the last bytes: the stream's END was already read.
        Ok(Pumped::Ended { .. }) => {
            let r = child.finish(STOPPED_READING);
            Ok(Err(Some(error_reply(recv_refusal(target, r)))))
        }
        Ok(Pumped::GaveUp) => {
            let r = child.finish(STOPPED_READING);
            reply(out, error_reply(recv_refusal(target, r))).map_err(|e| Fatal(e.to_string()))?;
            drain(input)?;
            Ok(Err(None))
        }
        Ok(Pumped::Refused(e)) => {
            let _ = child.wait();
            refuse_and_drain(out, input, bad_stream(target, &e, false)).map(Err)
        }
        Err(fatal) => {
            let _ = child.wait();
            Err(fatal)
        }
    }
}

/// A receive that `zfs receive` completed.
struct Received<'a> {
    target: &'a DatasetName,
    to: &'a SnapshotName,
    job: &'a JobId,
    kind: DatasetKind,
    bytes: u64,
}

impl Received<'_> {
    /// Moves the last-received hold and marks a new copy as real; the reply.
    fn protect(
        &self,
        zfs: &Zfs,
        cfg: &AgentConfig,
        req: &proto::ReceiveRequest,
        known: &mut KnownHolds,
    ) -> Result<Envelope, Refusal> {
        let got = protect_received(
            zfs,
            self.target,
            self.to,
            Guid(req.to_guid),
            self.job,
            (req.last_received_hold, moves(cfg)),
            known,
        )?;
        if req.from_guid.is_none() {
            // A new real copy (possibly replacing a placeholder) says so itself, as zrepl does, instead of
            // inheriting `on` from a placeholder parent.
            zfs.set_property(self.target.as_str(), PLACEHOLDER_PROPERTY, "off")?;
        }
        if req.force && self.kind == DatasetKind::Filesystem {
            crate::failpoint::hit("placeholder_replace_before");
            // The placeholder is now a real copy.
            // canmount is not inheritable: back to the default, or to what the agent's --recv-set says.
            let canmount = cfg
                .recv
                .set
                .iter()
                .find(|(k, _)| k == "canmount")
                .map_or("on", |(_, v)| v.as_str());
            zfs.set_property(self.target.as_str(), "canmount", canmount)?;
            crate::failpoint::hit("placeholder_replace_after");
        }
        Ok(Envelope::new(
            proto::ReceiveReply {
                received_guid: got.0,
                bytes: self.bytes,
            }
            .into(),
        ))
    }
}

/// How the agent's policy lets the last-received hold move.
pub(super) fn moves(cfg: &AgentConfig) -> Moves {
    if cfg.append_only {
        Moves::ForwardOnly
    } else {
        Moves::Anywhere
    }
}

/// Writes the held-back start of the stream, then the rest: through the checker, or spliced once only a
/// plain stream's data follows.
fn pump<R: FdRead>(
    input: &mut R,
    sink: &mut BufWriter<ChildStdin>,
    check: &mut StreamCheck,
    unpacker: &mut Option<Unpacker>,
    frame_buf: &mut Vec<u8>,
    prefix: &[u8],
    bytes: &mut u64,
) -> Result<Pumped, Fatal> {
    if sink.write_all(prefix).is_err() {
        return Ok(Pumped::GaveUp);
    }
    let mut bypass = false;
    let mut splice_ok = true;
    let mut buf = Vec::new();
    loop {
        if !bypass && unpacker.is_none() && check.only_data_follows() {
            let pending = check.skip();
            bypass = true;
            if sink.write_all(&pending).and_then(|()| sink.flush()).is_err() {
                return Ok(Pumped::GaveUp);
            }
        }
        if !bypass {
            match read_chunk(input, unpacker, frame_buf)? {
                Chunk::Data(d) => {
                    *bytes += d.len() as u64;
                    // Each frame reaches zfs receive whole: a sender that pauses must not leave data here.
                    match check.pass(d, sink) {
                        Ok(()) if sink.flush().is_ok() => {}
                        Ok(()) | Err(PassError::Output(_)) => return Ok(Pumped::GaveUp),
                        Err(PassError::Stream(e)) => return Ok(Pumped::Refused(e)),
                    }
                }
                Chunk::End { aborted } => return Ok(Pumped::Ended { aborted }),
            }
            continue;
        }
        match frame::read_data_header(input) {
            Ok(DataFrame::Data(n)) => match move_exact(input, sink.get_mut(), n, &mut buf, &mut splice_ok) {
                Ok(()) => *bytes += n as u64,
                Err(MoveError::Output { consumed, .. }) => {
                    // zfs receive gave up: skip what is left of this frame, so the framing holds.
                    skip(input, n - consumed)?;
                    return Ok(Pumped::GaveUp);
                }
                Err(MoveError::Truncated { expected, got }) => {
                    return Err(broken(&FrameError::Truncated { expected, got }))
                }
                Err(MoveError::Input(e)) => return Err(broken(&FrameError::Io(e))),
            },
            Ok(DataFrame::End { aborted }) => return Ok(Pumped::Ended { aborted }),
            Ok(DataFrame::Message(m)) => return Err(in_stream(m.kind_name())),
            Err(e) => return Err(broken(&e)),
        }
    }
}

/// Reads one whole DATA frame (decompressed) or the END frame.
fn read_chunk<'b, R: Read>(
    input: &mut R,
    unpacker: &'b mut Option<Unpacker>,
    frame_buf: &'b mut Vec<u8>,
) -> Result<Chunk<'b>, Fatal> {
    match frame::read_data_into(input, frame_buf) {
        Ok(DataFrame::Data(_)) => match unpacker {
            None => Ok(Chunk::Data(frame_buf.as_slice())),
            Some(u) => u
                .unpack(frame_buf)
                .map(Chunk::Data)
                .map_err(|e| Fatal(format!("data stream broken: {e}"))),
        },
        Ok(DataFrame::End { aborted }) => Ok(Chunk::End { aborted }),
        Ok(DataFrame::Message(m)) => Err(in_stream(m.kind_name())),
        Err(e) => Err(broken(&e)),
    }
}

fn broken(e: &FrameError) -> Fatal {
    Fatal(format!("data stream broken: {}", describe(e)))
}

fn in_stream(kind: &str) -> Fatal {
    Fatal(format!("protocol error: {kind} message inside a data stream"))
}

fn bad_stream(target: &DatasetName, e: &StreamError, before_zfs: bool) -> Refusal {
    let what = if before_zfs {
        "nothing of it reached zfs receive"
    } else {
        "nothing from that record on reached zfs receive"
    };
    Refusal::new(
        StreamError::KIND,
        format!("refused the stream for {target}: {e}; {what}"),
    )
}

/// Replies with `r` and skips the rest of the stream.
fn refuse_and_drain<R: Read, W: Write>(
    out: &mut BufWriter<W>,
    input: &mut R,
    r: Refusal,
) -> Result<Option<Envelope>, Fatal> {
    reply(out, error_reply(r)).map_err(|e| Fatal(e.to_string()))?;
    drain(input)?;
    Ok(None)
}

/// The request's names and the agent's policy, checked before anything touches ZFS.
fn check_request(
    zfs: &Zfs,
    cfg: &AgentConfig,
    root: &DatasetName,
    req: &proto::ReceiveRequest,
) -> Result<(DatasetName, SnapshotName, JobId), Refusal> {
    let target = below_root(root, &req.fs)?;
    let to = target
        .snapshot(&req.to_short)
        .map_err(|e| Refusal::new(ErrorKind::InvalidName, e.to_string()))?;
    let job = JobId::new(&req.job_id).map_err(|e| Refusal::new(ErrorKind::InvalidName, e.to_string()))?;
    if cfg.append_only {
        if let Some(why) = crate::agent::recv::policy::receive_refusal(zfs, req.force, &target)? {
            return Err(Refusal::new(crate::agent::recv::policy::KIND, why));
        }
    }
    Ok((target, to, job))
}

/// Creates the missing parents of a full stream's target and starts `zfs receive` with the options for
/// `kind`.
fn start_receive(
    zfs: &Zfs,
    cfg: &AgentConfig,
    target: &DatasetName,
    req: &proto::ReceiveRequest,
    kind: DatasetKind,
) -> Result<ZfsChild, Refusal> {
    if req.from_guid.is_none() {
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
            crate::failpoint::hit("placeholder_create_before");
            zfs.create_placeholder(d)?;
            crate::failpoint::hit("placeholder_create_after");
        }
    }
    let incoming = Incoming {
        kind,
        incremental: req.from_guid.is_some(),
        force: req.force,
    };
    let opts = receive_options(&cfg.recv, &cfg.recv_incremental, incoming);
    Ok(zfs.spawn_receive(target, &opts)?)
}

/// What `zfs receive` did when it ended before the stream did.
const STOPPED_READING: &str = "before the end of the stream";

/// The refusal for a receive whose `zfs receive` failed (its error, classified by the adapter) or stopped
/// reading the stream before its end without an error.
fn recv_refusal(target: &DatasetName, finished: Result<(), ZfsError>) -> Refusal {
    match finished {
        Err(e) => Refusal::from(e),
        Ok(()) => Refusal::new(
            ErrorKind::ZfsOther,
            format!("zfs receive of {target} ended {STOPPED_READING}"),
        ),
    }
}

/// Skips the next `n` bytes of the input (the rest of a DATA payload).
fn skip<R: Read>(input: &mut R, n: usize) -> Result<(), Fatal> {
    let got = std::io::copy(&mut input.take(n as u64), &mut std::io::sink()).map_err(|e| broken(&FrameError::Io(e)))?;
    if got != n as u64 {
        return Err(broken(&FrameError::Truncated {
            expected: n,
            got: usize::try_from(got).unwrap_or(n),
        }));
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
            Ok(DataFrame::Message(m)) => return Err(in_stream(m.kind_name())),
            Err(e) => return Err(broken(&e)),
        }
    }
}

fn describe(e: &FrameError) -> String {
    format!("{e} ({})", e.kind())
}
