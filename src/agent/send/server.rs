//! `zreplrs send-agent`: the source side of a pull job, run as an SSH forced command on the production host
//! (or as a child on pipes for a `local:` source).
//!
//! It answers only [`proto::ZfsCall`]s, and runs one only when [`SendPolicy`] accepts every argument: the
//! backup host that connects may list, estimate, send, and manage this job's step holds and cursor bookmarks
//! below the agent's root and filter, nothing else. Replies are bounded (output pages of a quarter frame,
//! at most [`MAX_OUTPUT`] per call, stderr cut to [`MAX_STDERR`]); a stream is DATA frames, END and the
//! reply, and the peer's one END frame per stream (an early abort or the acknowledgement) must arrive
//! within [`ACK_TIMEOUT`] after the reply.

use crate::error::Failure;
use std::io::{BufWriter, Read, Write};
use std::os::fd::AsFd;
use std::time::Duration;

use nix::poll::{PollFd, PollFlags, PollTimeout};

use crate::agent::request::{agent_zfs, error_reply, greet, hello_reply, reply, with_heartbeats, Refusal};
use crate::agent::send::policy::{Accepted, SendPolicy, KIND};
use crate::agent::wire::codec::Packer;
use crate::agent::wire::frame::{self, Frame};
use crate::agent::wire::proto::{self, envelope::Body, Envelope};
use crate::agent::wire::splice::FdRead;
use crate::error::ErrorKind;
use crate::zfs::Zfs;

/// Largest output of one call (a listing of several million snapshots fits).
pub const MAX_OUTPUT: usize = 512 << 20;
/// Longest stderr passed on.
pub const MAX_STDERR: usize = crate::zfs::process::MAX_STDERR;
/// Bytes of output per reply page.
const PAGE: usize = (frame::MAX_MESSAGE / 4) as usize;
/// Chunk read from `zfs send` per DATA frame.
const CHUNK: usize = 1 << 20;
/// How long the peer may take to send its END frame after a stream's reply.
pub const ACK_TIMEOUT: Duration = Duration::from_secs(60);

/// The send-agent's configuration, from its own command line.
#[derive(Debug, Clone)]
pub struct SendAgentConfig {
    pub policy: SendPolicy,
    /// `--zfs-program`; `None`: the system's `zfs` (`$ZREPLRS_ZFS` is ignored).
    pub zfs_program: Option<std::ffi::OsString>,
    /// `--max-zstd-level`: the highest zstd level a peer may make this host compress at.
    pub max_zstd_level: i32,
    /// How long a stream may make no progress towards the peer before the agent stops `zfs send` and
    /// ends (a peer that stopped reading).
    pub stall_timeout: Duration,
}

/// Runs the agent on `input`/`output` until the peer closes the connection; an error after a broken stream
/// or a protocol violation (replied when possible).
pub fn serve<R: FdRead, W: Write + Send>(cfg: &SendAgentConfig, mut input: R, output: W) -> Result<(), Failure> {
    let mut out = BufWriter::new(output);
    let zfs = agent_zfs(cfg.zfs_program.as_ref());
    let body = match next_call(&mut input, &mut out)? {
        Some(b) => b,
        None => return Ok(()),
    };
    greet(&mut out, body, hello_reply(&cfg.policy.root, &zfs, false, true))?;
    serve_calls(cfg, &zfs, input, &mut out)
}

/// The next request; `None` when the peer closed the connection.
fn next_call<R: FdRead, W: Write>(input: &mut R, out: &mut BufWriter<W>) -> Result<Option<Body>, Failure> {
    match frame::read_message(input) {
        Ok(Some(Envelope { body: Some(b) })) => Ok(Some(b)),
        Ok(Some(Envelope { body: None })) => fatal(out, ErrorKind::Protocol, "empty message".into()).map(|()| None),
        Ok(None) => Ok(None),
        Err(e) => fatal(out, e.kind(), e.to_string()).map(|()| None),
    }
}

/// After the handshake: answers [`proto::ZfsCall`]s that the policy accepts until the peer closes the
/// connection. (A recv-agent that serves restores hands its connection over here.)
pub fn serve_calls<R: FdRead, W: Write + Send>(
    cfg: &SendAgentConfig,
    zfs: &Zfs,
    mut input: R,
    out: &mut BufWriter<W>,
) -> Result<(), Failure> {
    while let Some(body) = next_call(&mut input, out)? {
        let call = match body {
            Body::ZfsCall(c) => c,
            other => {
                let msg = format!(
                    "a send-agent answers only zfs_call requests, not {}; a push job's target runs zreplrs recv-agent",
                    Envelope::new(other).kind_name()
                );
                send(out, error_reply(Refusal::new(ErrorKind::Protocol, msg)))?;
                continue;
            }
        };
        match cfg.policy.check(&call.argv, call.stream) {
            Err(why) => {
                eprintln!("zreplrs send-agent: refused zfs {}: {why}", printable_argv(&call.argv));
                send(out, error_reply(Refusal::new(KIND, why.0)))?;
            }
            Ok(Accepted::Stream) => match packer(&call, cfg.max_zstd_level) {
                Ok(mut packer) => stream(zfs, cfg, &call.argv, packer.as_mut(), &mut input, out)?,
                Err(r) => send(out, error_reply(r))?,
            },
            Ok(accepted) => answer(zfs, cfg, &call.argv, accepted, out)?,
        }
    }
    Ok(())
}

/// Runs an accepted call that is not a stream and replies with its output, in pages.
fn answer<W: Write + Send>(
    zfs: &Zfs,
    cfg: &SendAgentConfig,
    argv: &[String],
    accepted: Accepted,
    out: &mut BufWriter<W>,
) -> Result<(), Failure> {
    let result = with_heartbeats(out, || run(zfs, argv));
    let (mut reply, stdout) = match result {
        Ok(r) => r,
        Err(r) => return send(out, error_reply(r)),
    };
    let stdout = match accepted {
        Accepted::RunListing(columns) => cfg.policy.filter_listing(&stdout, columns),
        _ => stdout,
    };
    let mut pages = stdout.chunks(PAGE).peekable();
    while let Some(p) = pages.next() {
        let page = proto::ZfsCallReply {
            stdout: p.to_vec(),
            more: true,
            ..Default::default()
        };
        if pages.peek().is_none() {
            reply.stdout = page.stdout;
            break;
        }
        send(out, Envelope::new(page.into()))?;
    }
    send(out, Envelope::new(reply.into()))
}

fn send<W: Write>(out: &mut BufWriter<W>, env: Envelope) -> Result<(), Failure> {
    reply(out, env).map_err(|e| Failure::connection(format!("cannot reply: {e}")))
}

fn fatal<W: Write>(out: &mut BufWriter<W>, kind: ErrorKind, msg: String) -> Result<(), Failure> {
    let _ = reply(out, error_reply(Refusal::new(kind, msg.clone())));
    Err(Failure::new(kind, format!("protocol error: {msg}")))
}

fn printable_argv(argv: &[String]) -> String {
    crate::agent::wire::text::printable(argv.join(" ").as_bytes())
}

fn cut_stderr(bytes: &[u8]) -> String {
    let end = bytes.len().min(MAX_STDERR);
    crate::agent::wire::text::printable(&bytes[..end]).trim().to_string()
}

/// Runs one accepted call to completion: the reply (without stdout) and stdout.
fn run(zfs: &Zfs, argv: &[String]) -> Result<(proto::ZfsCallReply, Vec<u8>), Refusal> {
    let output = zfs.output(argv).map_err(|e| {
        Refusal::new(
            ErrorKind::ZfsSpawn,
            format!("cannot run zfs on the source: {}", e.message),
        )
    })?;
    if output.stdout.len() > MAX_OUTPUT {
        return Err(Refusal::new(
            ErrorKind::TooMuchOutput,
            format!("zfs {} printed more than {MAX_OUTPUT} bytes", printable_argv(argv)),
        ));
    }
    let reply = proto::ZfsCallReply {
        success: output.status.success(),
        exit_code: output.status.code(),
        stdout: Vec::new(),
        stderr: cut_stderr(&output.stderr),
        more: false,
    };
    Ok((reply, output.stdout))
}

/// Whether a frame is waiting on `input`, without blocking (or for up to `wait`).
fn readable<R: AsFd>(input: &R, wait: PollTimeout) -> bool {
    let mut fds = [PollFd::new(input.as_fd(), PollFlags::POLLIN)];
    matches!(nix::poll::poll(&mut fds, wait), Ok(n) if n > 0)
}

/// The peer's END frame of a stream; anything else ends the session.
fn read_end<R: Read>(input: &mut R) -> Result<(), Failure> {
    match frame::read_frame(input) {
        Ok(Some(Frame::End { .. })) => Ok(()),
        Ok(Some(other)) => Err(Failure::protocol(format!(
            "protocol error: expected the end of a stream, got {}",
            match other {
                Frame::Message(m) => m.kind_name(),
                _ => "a data frame",
            }
        ))),
        Ok(None) => Err(Failure::connection("the peer closed the connection during a stream")),
        Err(e) => Err(Failure::protocol(format!("protocol error: {e}"))),
    }
}

/// The compressor a stream call asks for (see [`crate::agent::wire::codec::packer_for`]).
fn packer(call: &proto::ZfsCall, max: i32) -> Result<Option<Packer>, Refusal> {
    crate::agent::wire::codec::packer_for(&call.compression, call.zstd_level, max)
        .map_err(|e| Refusal::new(ErrorKind::Protocol, e))
}

/// Forwards a `zfs send`'s stdout to the peer as DATA frames (compressed by `packer` when set) until it
/// ends or the peer sends its END (its receive failed). Returns whether the peer ended it, and the failure
/// that broke the session, if any.
fn forward<R: FdRead, W: Write + Send>(
    stdout: &mut impl Read,
    mut packer: Option<&mut Packer>,
    input: &mut R,
    out: &mut BufWriter<W>,
    watchdog: &crate::agent::send::watchdog::Watchdog,
) -> (bool, Option<Failure>) {
    let mut buf = vec![0u8; CHUNK];
    loop {
        if readable(input, PollTimeout::ZERO) {
            // The peer stops the stream (its receive failed): its END frame.
            return (true, read_end(input).err());
        }
        let n = match stdout.read(&mut buf) {
            Ok(0) => return (false, None),
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(_) => return (false, None),
        };
        let data = match packer.as_mut() {
            Some(p) => match p.pack(&buf[..n]) {
                Ok(d) => d,
                Err(e) => return (false, Some(e)),
            },
            None => &buf[..n],
        };
        if let Err(e) = frame::write_data(out, data).and_then(|_| out.flush()) {
            return (false, Some(Failure::connection(format!("cannot send the stream: {e}"))));
        }
        watchdog.moved();
    }
}

/// Streams one `zfs send`: DATA frames (each one zstd frame when `packer` is set), END, the reply; stops
/// early when the peer sends its END.
fn stream<R: FdRead, W: Write + Send>(
    zfs: &Zfs,
    cfg: &SendAgentConfig,
    argv: &[String],
    packer: Option<&mut Packer>,
    input: &mut R,
    out: &mut BufWriter<W>,
) -> Result<(), Failure> {
    let spawned = zfs.spawn_piped(argv);
    let mut child = match spawned {
        Ok(c) => c,
        Err(e) => {
            frame::write_end(out, true).map_err(|e| Failure::connection(e.to_string()))?;
            let r = proto::ZfsCallReply {
                stderr: format!("cannot run zfs on the source: {}", e.message),
                ..Default::default()
            };
            send(out, Envelope::new(r.into()))?;
            return ack(input);
        }
    };
    let watchdog = crate::agent::send::watchdog::Watchdog::start(
        child.id(),
        cfg.stall_timeout,
        i32::from(crate::report::exit::RUN_FAILED),
    );
    let (peer_ended, broken) = match child.take_stdout() {
        Some(mut stdout) => forward(&mut stdout, packer, input, out, &watchdog),
        None => (false, None),
    };
    drop(watchdog);
    if peer_ended || broken.is_some() {
        child.kill();
    }
    let ended = child.wait();
    if let Some(b) = broken {
        return Err(b);
    }
    let success = !peer_ended && matches!(&ended, Ok(e) if e.success);
    frame::write_end(out, !success).map_err(|e| Failure::connection(format!("cannot reply: {e}")))?;
    let r = proto::ZfsCallReply {
        success,
        exit_code: ended.as_ref().ok().and_then(|e| e.exit_code),
        stdout: Vec::new(),
        stderr: match &ended {
            Ok(e) => cut_stderr(&e.stderr),
            Err(e) => e.to_string(),
        },
        more: false,
    };
    send(out, Envelope::new(r.into()))?;
    if peer_ended {
        Ok(())
    } else {
        ack(input)
    }
}

/// Waits (bounded) for the peer's acknowledgement of a finished stream.
fn ack<R: FdRead>(input: &mut R) -> Result<(), Failure> {
    let ms = u16::try_from(ACK_TIMEOUT.as_millis().min(u128::from(u16::MAX))).unwrap_or(u16::MAX);
    if !readable(input, PollTimeout::from(ms)) {
        return Err(Failure::connection(format!(
            "the peer did not acknowledge the end of a stream within {}s",
            ACK_TIMEOUT.as_secs()
        )));
    }
    read_end(input)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn call(compression: &str, zstd_level: i32) -> proto::ZfsCall {
        proto::ZfsCall {
            argv: vec!["send".into(), "tank/a@s1".into()],
            stream: true,
            compression: compression.into(),
            zstd_level,
        }
    }

    /// A backup host cannot make the source compress at a level beyond 19 (seconds of CPU per MiB) or with
    /// a codec it does not know.
    #[test]
    fn stream_compression_is_zstd_within_its_levels_or_refused() {
        assert!(packer(&call("", 0), 19).expect("no compression").is_none());
        for level in [0, 1, 19] {
            assert!(
                packer(&call("zstd", level), 19).expect("a zstd level").is_some(),
                "{level}"
            );
        }
        for (codec, level) in [("zstd", 20), ("zstd", -5), ("zstd", i32::MAX), ("lz4", 0), ("ZSTD", 3)] {
            let r = packer(&call(codec, level), 19).err().expect("refused");
            let text = format!("{r:?}");
            assert!(text.contains("kind: Protocol,"), "{codec} {level}: {text}");
        }
    }

    /// The agent's own --max-zstd-level caps what a peer asks for (level 19 costs the source about 31×
    /// the CPU of level 3).
    #[test]
    fn a_peer_cannot_ask_for_more_than_the_agents_zstd_level() {
        let level = |asked, max| {
            packer(&call("zstd", asked), max)
                .expect("zstd")
                .expect("a packer")
                .level()
        };
        assert_eq!(level(19, 3), 3);
        assert_eq!(level(0, 3), 3);
        assert_eq!(level(1, 3), 1);
        assert_eq!(level(9, 19), 9);
    }
}
