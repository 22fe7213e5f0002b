//! The sender's end of an agent connection: requests and replies over any byte pipe (a child's stdin/stdout
//! for `local:` targets, an SSH channel for `ssh://`), and streaming a `zfs send` into a receive.
//!
//! Replies are read by a background thread so that an early error from the receiver (for example
//! `zfs receive` refusing the stream) stops the transfer at once instead of after the whole stream. The
//! thread hands each reply over and reads the next only once it is taken, so a receiver that floods replies
//! fills its own connection, not the sender's memory.

use std::io::{BufWriter, Read, Write};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::time::Duration;

use crate::agent::wire::frame::{self, Frame};
use crate::agent::wire::proto::{self, envelope::Body, Envelope};
use crate::agent::wire::splice::{ChunkMover, FdRead, FdWrite};
use crate::error::{ErrorKind, Failure};

/// Errors talking to the agent.
#[derive(Debug, thiserror::Error)]
pub enum AgentError {
    /// The connection could not be made (name resolution, TCP, SSH handshake or authentication, starting
    /// the agent): worth a retry.
    #[error("cannot connect to the receiver: {0}")]
    Connect(String),
    /// The connection broke or stalled: worth a reconnect and retry.
    #[error("connection to the receiver lost: {0}")]
    Connection(String),
    /// The receiver's SSH host key is unknown, changed or revoked.
    #[error("host key check failed: {0}")]
    HostKey(String),
    /// The agent does not speak our protocol or sent something malformed.
    #[error("protocol error talking to the receiver: {0}")]
    Protocol(String),
    /// The agent refused or failed the request.
    #[error("the receiver reported {kind}: {message}")]
    Remote { kind: ErrorKind, message: String },
    /// The local `zfs send` failed.
    #[error("{0}")]
    Send(String),
    /// An error of the connection to a pull job's source (its send-agent), told of the source.
    #[error("{}", .0.of_the_source())]
    AtSource(Box<AgentError>),
}

impl AgentError {
    /// Whether a new attempt (reconnect, re-plan) may succeed (see [`ErrorKind::is_retriable`]).
    pub fn is_retriable(&self) -> bool {
        self.kind().is_retriable()
    }

    /// Its kind in the one error model.
    pub fn kind(&self) -> ErrorKind {
        match self {
            AgentError::Connect(_) | AgentError::Connection(_) => ErrorKind::Connection,
            AgentError::Protocol(_) => ErrorKind::Protocol,
            AgentError::HostKey(_) => ErrorKind::HostKey,
            AgentError::Remote { kind, .. } => *kind,
            AgentError::Send(_) => ErrorKind::ZfsSend,
            AgentError::AtSource(e) => e.kind(),
        }
    }

    /// The same error, on the connection to a pull job's source rather than to a receiver.
    pub fn at_source(self) -> AgentError {
        match self {
            AgentError::AtSource(_) => self,
            other => AgentError::AtSource(Box::new(other)),
        }
    }

    fn of_the_source(&self) -> String {
        match self {
            AgentError::Connect(m) => format!("cannot connect to the source: {m}"),
            AgentError::Connection(m) => format!("connection to the source lost: {m}"),
            AgentError::Protocol(m) => format!("protocol error talking to the source: {m}"),
            AgentError::Remote { kind, message } => format!("the source's send-agent reported {kind}: {message}"),
            AgentError::HostKey(_) | AgentError::Send(_) | AgentError::AtSource(_) => self.to_string(),
        }
    }
}

/// What the reader thread hands over: a frame, or why the connection ended.
type Reply = Result<frame::Frame, Failure>;

/// Largest output of one [`AgentClient::zfs_call`], all pages together.
pub const MAX_CALL_OUTPUT: usize = 512 << 20;

/// Largest listing page asked of the agent (see [`crate::agent::wire::paging`]), a quarter of a frame.
pub const LIST_PAGE_BYTES: u32 = frame::MAX_MESSAGE / 4;

/// An open, greeted connection to a recv-agent.
pub struct AgentClient {
    /// Our end of the connection; `None` once shut down.
    out: Option<BufWriter<Box<dyn FdWrite>>>,
    replies: Receiver<Reply>,
    /// Longest wait for a reply, and for progress while streaming.
    pub timeout: Duration,
    /// Longest wait for one reply in all, however many heartbeats arrive meanwhile.
    pub reply_deadline: Duration,
    pub hello: proto::HelloReply,
    /// How stream data travels on this connection (set by the transport from the job).
    pub transfer: TransferOptions,
    /// The bandwidth limit's bucket, shared with the job's other connections.
    throttle: Option<crate::agent::wire::throttle::SharedThrottle>,
    /// Bytes of stream data that crossed this connection so far, in either direction (as sent: compressed
    /// when compressing), counted as they go so that a failed transfer's share is known too.
    pub wire_total: u64,
}

/// The transfer controls of a connection: a bandwidth limit and compression, applied to the stream data that
/// crosses it (sent by [`AgentClient::receive`], received by [`AgentClient::zfs_stream`]).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TransferOptions {
    /// Bytes per second on the connection (compressed bytes, when compressing).
    pub limit: Option<u64>,
    /// The zstd level to compress with; `None` sends the stream as it is. Only set when the peer's
    /// handshake offered zstd (see [`AgentClient::negotiate`]).
    pub zstd_level: Option<i32>,
}

pub use crate::agent::wire::text::printable;

impl AgentError {
    /// The error a peer reported, its texts made [`printable`].
    fn remote(e: proto::Error) -> Self {
        let kind = ErrorKind::from_wire(e.code, &e.kind);
        let message = printable(e.message.as_bytes());
        let message = match kind {
            // A kind this build does not know (a newer peer's): its name stays in the message.
            ErrorKind::Other if !e.kind.is_empty() => format!("({}) {message}", printable(e.kind.as_bytes())),
            _ => message,
        };
        AgentError::Remote { kind, message }
    }
}

/// Bytes moved by one streamed receive.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Streamed {
    pub bytes: u64,
    /// Bytes of DATA payload on the connection (less than `bytes` when compressed).
    pub wire_bytes: u64,
    pub received_guid: u64,
}

impl AgentClient {
    /// Starts the reply reader and performs the version handshake.
    pub fn connect(
        reader: Box<dyn Read + Send>,
        writer: Box<dyn FdWrite>,
        timeout: Duration,
    ) -> Result<Self, AgentError> {
        Self::connect_for(reader, writer, timeout, None)
    }

    /// [`AgentClient::connect`], asking the agent (with `restore`, a job id) to send its data for a restore.
    pub fn connect_for(
        reader: Box<dyn Read + Send>,
        writer: Box<dyn FdWrite>,
        timeout: Duration,
        restore: Option<&str>,
    ) -> Result<Self, AgentError> {
        // No queue: the reader blocks until a reply is taken (at most one decoded reply waits).
        let (tx, rx) = mpsc::sync_channel::<Reply>(0);
        std::thread::spawn(move || {
            let mut reader = reader;
            loop {
                match frame::read_frame(&mut reader) {
                    Ok(Some(f)) => {
                        if tx.send(Ok(f)).is_err() {
                            return;
                        }
                    }
                    Ok(None) => {
                        let _ = tx.send(Err(Failure::connection("the receiver closed the connection")));
                        return;
                    }
                    Err(e) => {
                        let _ = tx.send(Err(Failure::connection(e.to_string())));
                        return;
                    }
                }
            }
        });
        let mut client = AgentClient {
            out: Some(BufWriter::with_capacity(64 << 10, writer)),
            replies: rx,
            timeout,
            reply_deadline: crate::config::DEFAULT_REPLY_DEADLINE,
            hello: proto::HelloReply::default(),
            transfer: TransferOptions::default(),
            throttle: None,
            wire_total: 0,
        };
        let hello = proto::Hello {
            protocol_version: proto::PROTOCOL_VERSION,
            software_version: env!("CARGO_PKG_VERSION").into(),
            compression: crate::agent::wire::codec::supported(),
            restore: restore.is_some(),
            job_id: restore.unwrap_or_default().to_string(),
        };
        match client.request(hello.into())? {
            Body::HelloReply(h) if h.protocol_version == proto::PROTOCOL_VERSION => client.hello = h,
            Body::HelloReply(h) => {
                return Err(AgentError::Protocol(format!(
                    "the receiver speaks protocol {} (zreplrs {}), we speak {}",
                    h.protocol_version,
                    h.software_version,
                    proto::PROTOCOL_VERSION
                )))
            }
            other => return Err(unexpected("hello_reply", other)),
        }
        Ok(client)
    }

    /// Applies a job's transfer controls: `limit` as given, and compression at `zstd_level` when the peer
    /// offered zstd in its handshake. Returns a warning when compression was asked for but the peer (an
    /// older zreplrs) cannot undo it; the stream then goes uncompressed.
    pub fn negotiate(&mut self, limit: Option<u64>, zstd_level: Option<i32>) -> Option<String> {
        let offered = self
            .hello
            .compression
            .iter()
            .any(|c| c == crate::agent::wire::codec::ZSTD);
        self.transfer = TransferOptions {
            limit,
            zstd_level: zstd_level.filter(|_| offered),
        };
        self.throttle = limit.map(crate::agent::wire::throttle::shared);
        match zstd_level {
            Some(_) if !offered => Some(format!(
                "the peer (zreplrs {}) does not offer zstd compression; sending uncompressed",
                printable(self.hello.software_version.as_bytes())
            )),
            _ => None,
        }
    }

    /// The codec name requests carry for this connection's compression.
    fn codec(&self) -> String {
        match self.transfer.zstd_level {
            Some(_) => crate::agent::wire::codec::ZSTD.into(),
            None => String::new(),
        }
    }

    fn out(&mut self) -> Result<&mut BufWriter<Box<dyn FdWrite>>, AgentError> {
        self.out
            .as_mut()
            .ok_or_else(|| AgentError::Connection("the connection to the receiver is closed".into()))
    }

    fn send_message(&mut self, body: Body) -> Result<(), AgentError> {
        let out = self.out()?;
        frame::write_message(out, &Envelope::new(body)).map_err(conn_err)?;
        out.flush().map_err(conn_err)
    }

    /// Ends the current data stream, as aborted when `aborted`.
    fn end_stream(&mut self, aborted: bool) -> Result<(), AgentError> {
        let out = self.out()?;
        frame::write_end(out, aborted).map_err(conn_err)?;
        out.flush().map_err(conn_err)
    }

    /// Waits for the reply to the last request; each heartbeat of the agent restarts the `timeout`, but the
    /// wait never outlasts [`AgentClient::reply_deadline`].
    fn wait_reply(&mut self, timeout: Duration) -> Result<Body, AgentError> {
        let started = std::time::Instant::now();
        loop {
            let left = self.reply_deadline.saturating_sub(started.elapsed());
            if left.is_zero() {
                return Err(AgentError::Connection(format!(
                    "the receiver sent no reply within the reply deadline of {} (only heartbeats); \
                     raise reply_deadline if its zfs really needs longer",
                    humantime::format_duration(self.reply_deadline)
                )));
            }
            return match self.replies.recv_timeout(timeout.min(left)) {
                Ok(Ok(Frame::Message(env))) => match env.body {
                    Some(Body::Heartbeat(_)) => continue,
                    Some(Body::Error(e)) => Err(AgentError::remote(e)),
                    Some(b) => Ok(b),
                    None => Err(AgentError::Protocol("empty reply".into())),
                },
                Ok(Ok(_)) => Err(AgentError::Protocol(
                    "a data or end frame where a reply was expected".into(),
                )),
                Ok(Err(e)) => Err(AgentError::Connection(e.into())),
                Err(RecvTimeoutError::Timeout) if timeout > left => continue,
                Err(RecvTimeoutError::Timeout) => Err(AgentError::Connection(format!(
                    "no reply from the receiver within {}s",
                    timeout.as_secs()
                ))),
                Err(RecvTimeoutError::Disconnected) => {
                    Err(AgentError::Connection("the receiver connection is closed".into()))
                }
            };
        }
    }

    /// Sends one request and waits for its reply (an `Error` reply becomes [`AgentError::Remote`]).
    pub fn request(&mut self, body: Body) -> Result<Body, AgentError> {
        self.send_message(body)?;
        self.wait_reply(self.timeout)
    }

    pub fn list(&mut self) -> Result<proto::ListReply, AgentError> {
        self.list_with(false)
    }

    /// Lists the receiver, with each snapshot's creation time when `with_creation`.
    pub fn list_with(&mut self, with_creation: bool) -> Result<proto::ListReply, AgentError> {
        self.start_list(proto::ListRequest {
            with_creation,
            ..Default::default()
        })?;
        self.list_reply()
    }

    /// Sends a list request without waiting: the caller lists its own side meanwhile, then takes the reply
    /// with [`Self::list_reply`] before any other request. The reply comes in pages of at most
    /// [`LIST_PAGE_BYTES`] unless `req` asks otherwise.
    pub fn start_list(&mut self, mut req: proto::ListRequest) -> Result<(), AgentError> {
        if req.page_bytes == 0 {
            req.page_bytes = LIST_PAGE_BYTES;
        }
        self.send_message(req.into())
    }

    /// The reply to the list request sent last, its pages joined.
    pub fn list_reply(&mut self) -> Result<proto::ListReply, AgentError> {
        let mut joiner = crate::agent::wire::paging::Joiner::default();
        loop {
            let page = match self.wait_reply(self.timeout)? {
                Body::ListReply(l) => l,
                other => return Err(unexpected("list_reply", other)),
            };
            if !joiner.add(page).map_err(|e| AgentError::Protocol(e.into()))? {
                return Ok(joiner.finish());
            }
        }
    }

    pub fn abort_resume(&mut self, fs: &str) -> Result<(), AgentError> {
        match self.request(proto::AbortResumeRequest { fs: fs.into() }.into())? {
            Body::Ok(_) => Ok(()),
            other => Err(unexpected("ok", other)),
        }
    }

    /// Sets the diverged copy `fs` aside (see [`proto::RotateRequest`]); where it went, and whether a new
    /// chain starts from the common snapshot.
    pub fn rotate(&mut self, fs: &str, common_guid: Option<u64>) -> Result<proto::RotateReply, AgentError> {
        match self.request(
            proto::RotateRequest {
                fs: fs.into(),
                common_guid,
            }
            .into(),
        )? {
            Body::RotateReply(r) => Ok(r),
            other => Err(unexpected("rotate_reply", other)),
        }
    }

    /// Changes the role of `fs` (see [`proto::SetRoleRequest`]).
    pub fn set_role(&mut self, req: proto::SetRoleRequest) -> Result<(), AgentError> {
        match self.request(req.into())? {
            Body::Ok(_) => Ok(()),
            other => Err(unexpected("ok", other)),
        }
    }

    /// This job's holds below the agent's root (all zreplrs holds when `job_id` is empty).
    pub fn holds(&mut self, job_id: &str) -> Result<Vec<proto::HoldEntry>, AgentError> {
        match self.request(proto::HoldsRequest { job_id: job_id.into() }.into())? {
            Body::HoldsReply(h) => Ok(h.holds),
            other => Err(unexpected("holds_reply", other)),
        }
    }

    /// Releases the job's last-received hold from these snapshots (short names) of `fs`.
    pub fn release_last_received(&mut self, fs: &str, snapshots: Vec<String>, job_id: &str) -> Result<(), AgentError> {
        let req = proto::ReleaseLastReceivedRequest {
            fs: fs.into(),
            snapshots,
            job_id: job_id.into(),
        };
        match self.request(req.into())? {
            Body::Ok(_) => Ok(()),
            other => Err(unexpected("ok", other)),
        }
    }

    /// Puts the job's last-received hold on `snapshot` (short name, GUID-checked) of `fs`, releasing older ones.
    pub fn hold_last_received(&mut self, fs: &str, snapshot: &str, guid: u64, job_id: &str) -> Result<(), AgentError> {
        let req = proto::HoldLastReceivedRequest {
            fs: fs.into(),
            snapshot: snapshot.into(),
            guid,
            job_id: job_id.into(),
        };
        match self.request(req.into())? {
            Body::Ok(_) => Ok(()),
            other => Err(unexpected("ok", other)),
        }
    }

    /// The content digest of the receiver's snapshot `snapshot` (short name) of `fs`, whose GUID must be
    /// `guid`.
    pub fn checksum(&mut self, fs: &str, snapshot: &str, guid: u64) -> Result<proto::ChecksumReply, AgentError> {
        let req = proto::ChecksumRequest {
            fs: fs.into(),
            snapshot: snapshot.into(),
            guid,
        };
        match self.request(req.into())? {
            Body::ChecksumReply(r) => Ok(r),
            other => Err(unexpected("checksum_reply", other)),
        }
    }

    /// Destroys snapshots (short names) of `fs` on the receiver; held ones are reported, not destroyed.
    pub fn destroy(&mut self, fs: &str, snapshots: Vec<String>) -> Result<proto::DestroyReply, AgentError> {
        match self.request(
            proto::DestroyRequest {
                fs: fs.into(),
                snapshots,
            }
            .into(),
        )? {
            Body::DestroyReply(r) => Ok(r),
            other => Err(unexpected("destroy_reply", other)),
        }
    }

    /// The next frame of a stream from the source. While none comes, a raised `abort` ends the stream
    /// (once: `stopped`), and no data since `last` for longer than `stall` is a connection error.
    fn next_stream_frame(
        &mut self,
        abort: &std::sync::atomic::AtomicBool,
        stall: Duration,
        last: std::time::Instant,
        stopped: &mut bool,
    ) -> Result<Frame, AgentError> {
        loop {
            match self.replies.recv_timeout(Duration::from_millis(200)) {
                Ok(Ok(f)) => return Ok(f),
                Ok(Err(e)) => return Err(AgentError::Connection(e.into())),
                Err(RecvTimeoutError::Disconnected) => {
                    return Err(AgentError::Connection("the source connection is closed".into()))
                }
                Err(RecvTimeoutError::Timeout) => {
                    if abort.load(std::sync::atomic::Ordering::Relaxed) && !*stopped {
                        self.end_stream(true)?;
                        *stopped = true;
                    }
                    if last.elapsed() > stall {
                        return Err(AgentError::Connection(format!(
                            "the source sent no stream data for {}s",
                            stall.as_secs()
                        )));
                    }
                }
            }
        }
    }

    /// A reply that arrived while a stream is still going out (heartbeats aside): always an error.
    fn early_reply(&mut self) -> Option<AgentError> {
        loop {
            let r = self.replies.try_recv().ok()?;
            return Some(match r {
                Ok(Frame::Message(Envelope {
                    body: Some(Body::Heartbeat(_)),
                })) => continue,
                Ok(Frame::Message(Envelope {
                    body: Some(Body::Error(e)),
                })) => AgentError::remote(e),
                Ok(Frame::Message(env)) => {
                    AgentError::Protocol(format!("unexpected {} during a transfer", env.kind_name()))
                }
                Ok(_) => AgentError::Protocol("a data or end frame from the receiver during a transfer".into()),
                Err(e) => AgentError::Connection(e.into()),
            });
        }
    }

    /// Sends the `n` bytes `mover` holds as one DATA frame, compressed by `packer` when set (else spliced
    /// where the ends allow it); returns the bytes that went on the link.
    fn send_chunk(
        &mut self,
        mover: &mut ChunkMover,
        packer: Option<&mut crate::agent::wire::codec::Packer>,
        n: usize,
    ) -> Result<usize, StreamError> {
        match packer {
            Some(p) => {
                let packed = match p.pack(mover.chunk(n)) {
                    Ok(packed) => packed,
                    Err(e) => {
                        let _ = self.end_stream(true);
                        return Err(StreamError::Source(e));
                    }
                };
                let out = self.out().map_err(StreamError::Agent)?;
                frame::write_data_header(out, packed.len())
                    .and_then(|_| out.write_all(packed))
                    .and_then(|_| out.flush())
                    .map_err(|e| StreamError::Agent(conn_err(e)))?;
                Ok(packed.len())
            }
            None => {
                let out = self.out().map_err(StreamError::Agent)?;
                frame::write_data_header(out, n)
                    .and_then(|_| out.flush())
                    .and_then(|_| mover.deliver(n, out.get_mut()))
                    .map_err(|e| StreamError::Agent(conn_err(e)))?;
                Ok(n)
            }
        }
    }

    /// Streams `source` (a `zfs send` stdout) into a receive, spliced from pipe to pipe where the ends
    /// allow it (see [`crate::agent::wire::splice`]). `on_bytes` sees the running total.
    /// At the end of `source`, `source_ok` says whether the producer succeeded; if not, the stream is
    /// ended as aborted (the receiver keeps resumable state) and its message is returned.
    /// `stall` bounds how long no byte may move before the transfer counts as stalled.
    pub fn receive(
        &mut self,
        mut req: proto::ReceiveRequest,
        source: &mut dyn FdRead,
        source_ok: &mut dyn FnMut() -> Result<(), Failure>,
        stall: Duration,
        on_bytes: &mut dyn FnMut(u64),
    ) -> Result<Streamed, StreamError> {
        req.compression = self.codec();
        let mut packer = match self.transfer.zstd_level {
            Some(level) => Some(crate::agent::wire::codec::Packer::new(level).map_err(StreamError::Source)?),
            None => None,
        };
        let throttle = self.throttle.clone();
        let chunk = self
            .transfer
            .limit
            .map_or(crate::agent::wire::splice::PIPE_SIZE, |rate| {
                crate::agent::wire::throttle::chunk(rate, crate::agent::wire::splice::PIPE_SIZE)
            });
        self.send_message(req.into()).map_err(StreamError::Agent)?;
        // Compressing needs the chunk in memory; without it the bytes may stay in the kernel (splice).
        let mut mover = if packer.is_some() {
            ChunkMover::copying()
        } else {
            ChunkMover::new()
        };
        let mut bytes: u64 = 0;
        let mut wire_bytes: u64 = 0;
        loop {
            // An early reply during the stream is always an error (success comes after END).
            if let Some(err) = self.early_reply() {
                let _ = self.end_stream(true);
                return Err(StreamError::Agent(err));
            }
            let n = match mover.fill_at_most(source, chunk) {
                Ok(0) => break,
                Ok(n) => n,
                Err(e) => {
                    let _ = self.end_stream(true);
                    return Err(StreamError::Source(Failure::new(
                        ErrorKind::ZfsSend,
                        format!("reading zfs send output: {e}"),
                    )));
                }
            };
            // Each chunk goes out at once: the receiver must have what zfs send produced even when it pauses.
            let on_wire = self.send_chunk(&mut mover, packer.as_mut(), n)?;
            bytes += n as u64;
            wire_bytes += on_wire as u64;
            self.wire_total += on_wire as u64;
            on_bytes(bytes);
            if let Some(t) = &throttle {
                crate::agent::wire::throttle::pace(t, on_wire as u64);
            }
        }
        let source_result = source_ok();
        self.end_stream(source_result.is_err()).map_err(StreamError::Agent)?;
        // zfs receive finishes after the end of the stream: wait as long as the stall bound allows.
        let reply = self.wait_reply(stall.max(self.timeout));
        if let Err(msg) = source_result {
            // The receiver's reply (aborted) is expected; the producer's failure is the cause.
            return Err(StreamError::Source(msg));
        }
        match reply {
            Ok(Body::ReceiveReply(r)) => Ok(Streamed {
                bytes,
                wire_bytes,
                received_guid: r.received_guid,
            }),
            Ok(other) => Err(StreamError::Agent(unexpected("receive_reply", other))),
            Err(e) => Err(StreamError::Agent(e)),
        }
    }

    /// Pull mode: runs `zfs ARGV…` on the source through its send-agent and returns the outcome, the pages
    /// of a long output joined (at most [`MAX_CALL_OUTPUT`] bytes). A refusal of the agent's policy is
    /// [`AgentError::Remote`] of kind `send_agent_policy`.
    pub fn zfs_call(&mut self, argv: &[String]) -> Result<proto::ZfsCallReply, AgentError> {
        let call = proto::ZfsCall {
            argv: argv.to_vec(),
            stream: false,
            ..Default::default()
        };
        self.send_message(call.into())?;
        let mut joined: Vec<u8> = Vec::new();
        loop {
            match self.wait_reply(self.timeout)? {
                Body::ZfsCallReply(mut r) => {
                    if joined.len() + r.stdout.len() > MAX_CALL_OUTPUT {
                        return Err(AgentError::Protocol(format!(
                            "the source's output exceeds {MAX_CALL_OUTPUT} bytes"
                        )));
                    }
                    joined.append(&mut r.stdout);
                    if !r.more {
                        r.stdout = joined;
                        return Ok(r);
                    }
                }
                other => return Err(unexpected("zfs_call_reply", other)),
            }
        }
    }

    /// Pull mode: runs a real `zfs send` on the source and writes its stream to `sink`. When `sink` fails or
    /// `abort` is set, the agent is told to stop (the reply then reports a failure). No stream byte for
    /// `stall` is a connection error. The connection's [`TransferOptions`] apply: the agent compresses, we
    /// decompress (each chunk bounded), and reading is paced to the limit. Also returns the bytes of DATA
    /// payload that crossed the connection.
    pub fn zfs_stream(
        &mut self,
        argv: &[String],
        sink: &mut dyn Write,
        abort: &std::sync::atomic::AtomicBool,
        stall: Duration,
    ) -> Result<(proto::ZfsCallReply, u64), AgentError> {
        use std::sync::atomic::Ordering;
        let call = proto::ZfsCall {
            argv: argv.to_vec(),
            stream: true,
            compression: self.codec(),
            zstd_level: self.transfer.zstd_level.unwrap_or(0),
        };
        let mut unpacker = match self.transfer.zstd_level {
            Some(_) => Some(crate::agent::wire::codec::Unpacker::new().map_err(|e| AgentError::Protocol(e.into()))?),
            None => None,
        };
        let throttle = self.throttle.clone();
        let mut wire_bytes: u64 = 0;
        self.send_message(call.into())?;
        let mut last = std::time::Instant::now();
        let mut stopped = false;
        loop {
            let frame = self.next_stream_frame(abort, stall, last, &mut stopped)?;
            match frame {
                Frame::Data(d) => {
                    last = std::time::Instant::now();
                    wire_bytes += d.len() as u64;
                    self.wire_total += d.len() as u64;
                    let data = match unpacker.as_mut() {
                        Some(u) => u
                            .unpack(&d)
                            .map_err(|e| AgentError::Protocol(format!("stream data from the source: {e}")))?,
                        None => &d[..],
                    };
                    if !stopped && (abort.load(Ordering::Relaxed) || sink.write_all(data).is_err()) {
                        self.end_stream(true)?;
                        stopped = true;
                    }
                    if let Some(t) = &throttle {
                        crate::agent::wire::throttle::pace(t, d.len() as u64);
                    }
                }
                Frame::End { .. } => break,
                Frame::Message(env) => match env.body {
                    Some(Body::Heartbeat(_)) => {}
                    Some(Body::Error(e)) => return Err(AgentError::remote(e)),
                    _ => {
                        return Err(AgentError::Protocol(format!(
                            "unexpected {} during a stream",
                            env.kind_name()
                        )))
                    }
                },
            }
        }
        let reply = match self.wait_reply(self.timeout)? {
            Body::ZfsCallReply(r) => r,
            other => return Err(unexpected("zfs_call_reply", other)),
        };
        if !stopped {
            self.end_stream(false)?;
        }
        Ok((reply, wire_bytes))
    }

    /// Closes our end of the connection (the agent exits when its input ends).
    pub fn shutdown(&mut self) {
        if let Some(mut out) = self.out.take() {
            let _ = out.flush();
        }
    }
}

/// A streamed receive failed on one side or the other.
#[derive(Debug, thiserror::Error)]
pub enum StreamError {
    #[error(transparent)]
    Agent(AgentError),
    #[error("{0}")]
    Source(Failure),
}

fn conn_err(e: std::io::Error) -> AgentError {
    AgentError::Connection(e.to_string())
}

fn unexpected(expected: &str, got: Body) -> AgentError {
    AgentError::Protocol(format!("expected {expected}, got {}", Envelope::new(got).kind_name()))
}

#[cfg(test)]
mod tests;
