//! The recv-agent wire protocol messages (docs/design.md §4).
//!
//! Hand-written `prost` messages (there is no `protoc` in the build): every request and reply exchanged
//! between `zreplrs replicate` and `zreplrs recv-agent` travels as an [`Envelope`] inside a MESSAGE frame
//! (see [`crate::agent::wire::frame`]). Tags are fixed and must never be reused or renumbered; add new fields with new
//! tags only. Dataset names in these messages are *relative to the agent's root* (`root_fs[/client_identity]`);
//! the agent resolves and validates them against its own command line, never trusting the sender.

/// Version of this protocol; both sides send it in [`Hello`] / [`HelloReply`] and refuse a mismatch.
pub const PROTOCOL_VERSION: u32 = 2;

/// First message from the sender.
#[derive(Clone, PartialEq, prost::Message)]
pub struct Hello {
    #[prost(uint32, tag = "1")]
    pub protocol_version: u32,
    #[prost(string, tag = "2")]
    pub software_version: String,
    /// Codecs the sender can compress stream data with (`"zstd"`); an agent picks one it can undo.
    #[prost(string, repeated, tag = "3")]
    pub compression: Vec<String>,
    /// The peer wants the agent's data sent to it, for a restore of job `job_id`: a recv-agent that serves
    /// restores answers as a send-agent of its own root; any other agent ignores it (and its reply says
    /// `send_agent: false`).
    #[prost(bool, tag = "4")]
    pub restore: bool,
    #[prost(string, tag = "5")]
    pub job_id: String,
}

/// The agent's answer to [`Hello`].
#[derive(Clone, PartialEq, prost::Message)]
pub struct HelloReply {
    #[prost(uint32, tag = "1")]
    pub protocol_version: u32,
    #[prost(string, tag = "2")]
    pub software_version: String,
    /// The agent's root dataset, `root_fs[/client_identity]`.
    #[prost(string, tag = "3")]
    pub root: String,
    #[prost(string, tag = "4")]
    pub zfs_version: String,
    /// The agent runs with `--append-only`: it refuses destroys, releases of last-received holds and
    /// forced receives over anything but an empty placeholder.
    #[prost(bool, tag = "5")]
    pub append_only: bool,
    /// The peer is a `zreplrs send-agent` (pull mode): it answers only [`ZfsCall`]s.
    #[prost(bool, tag = "6")]
    pub send_agent: bool,
    /// Codecs the agent accepts in [`ReceiveRequest::compression`] (or, a send-agent, produces for
    /// [`ZfsCall::compression`]). Empty from an agent that predates compression: streams go uncompressed.
    #[prost(string, repeated, tag = "7")]
    pub compression: Vec<String>,
}

/// Asks for the listing of everything below the agent's root (the default), of only its filesystems
/// (`filesystems_only`), or of the snapshots and bookmarks of the filesystems named in `versions_of`.
/// An agent that predates the last two fields ignores them and lists everything, which is still correct.
#[derive(Clone, PartialEq, prost::Message)]
pub struct ListRequest {
    /// Also list each snapshot's `creation` (costly; pruning needs it).
    #[prost(bool, tag = "1")]
    pub with_creation: bool,
    /// List filesystems and volumes only, with `snapshots_changed`.
    #[prost(bool, tag = "2")]
    pub filesystems_only: bool,
    /// When not empty: list the snapshots and bookmarks of exactly these filesystems (relative names);
    /// each reply entry then carries only `name` and `versions`.
    #[prost(string, repeated, tag = "3")]
    pub versions_of: Vec<String>,
    /// When not zero: the agent may split its reply into several [`ListReply`] pages of at most about this
    /// many encoded bytes (see [`ListReply::more`]), so that a listing larger than one frame can be sent.
    /// An agent that predates the field sends one reply, which is still correct.
    #[prost(uint32, tag = "4")]
    pub page_bytes: u32,
}

/// Listing of the agent's root and everything below it (or the part that was asked for).
#[derive(Clone, PartialEq, prost::Message)]
pub struct ListReply {
    #[prost(message, repeated, tag = "1")]
    pub filesystems: Vec<FsEntry>,
    #[prost(bool, tag = "2")]
    pub root_exists: bool,
    /// The entries carry no snapshots and bookmarks (`filesystems_only` was honoured; false where ZFS lacks
    /// `snapshots_changed`, and the listing is then complete).
    #[prost(bool, tag = "3")]
    pub filesystems_only: bool,
    /// The agent's clock (seconds since the epoch) just before it listed.
    #[prost(uint64, tag = "4")]
    pub listed_at: u64,
    /// Another page of this listing follows. An entry whose name equals the previous page's last entry
    /// continues it: its `versions` belong to that entry, its other fields are empty.
    #[prost(bool, tag = "5")]
    pub more: bool,
}

/// One filesystem or volume below the agent's root.
#[derive(Clone, PartialEq, prost::Message)]
pub struct FsEntry {
    /// Relative to the agent's root; `""` is the root itself.
    #[prost(string, tag = "1")]
    pub name: String,
    #[prost(uint64, tag = "2")]
    pub guid: u64,
    #[prost(uint64, tag = "3")]
    pub createtxg: u64,
    /// `receive_resume_token`; `""` means none.
    #[prost(string, tag = "4")]
    pub resume_token: String,
    /// Encryption property; `""` means off.
    #[prost(string, tag = "5")]
    pub encryption: String,
    /// `zrepl:placeholder=on`.
    #[prost(bool, tag = "6")]
    pub placeholder: bool,
    #[prost(message, repeated, tag = "7")]
    pub versions: Vec<Version>,
    #[prost(bool, tag = "8")]
    pub volume: bool,
    /// `snapshots_changed` (seconds), when listed and known.
    #[prost(uint64, optional, tag = "9")]
    pub snapshots_changed: Option<u64>,
}

/// A snapshot or bookmark of an [`FsEntry`].
#[derive(Clone, PartialEq, prost::Message)]
pub struct Version {
    #[prost(bool, tag = "1")]
    pub bookmark: bool,
    /// Short name (after `@` or `#`).
    #[prost(string, tag = "2")]
    pub short: String,
    #[prost(uint64, tag = "3")]
    pub guid: u64,
    #[prost(uint64, tag = "4")]
    pub createtxg: u64,
    #[prost(uint64, optional, tag = "5")]
    pub userrefs: Option<u64>,
    /// Unix seconds.
    #[prost(uint64, optional, tag = "6")]
    pub creation: Option<u64>,
}

/// Receive one snapshot; after this request the sender streams the data as DATA frames and ends with an
/// END frame.
#[derive(Clone, PartialEq, prost::Message)]
pub struct ReceiveRequest {
    /// Relative path below the root, e.g. `"tank/data"`.
    #[prost(string, tag = "1")]
    pub fs: String,
    #[prost(string, tag = "2")]
    pub to_short: String,
    #[prost(uint64, tag = "3")]
    pub to_guid: u64,
    /// `None` for a full send.
    #[prost(uint64, optional, tag = "4")]
    pub from_guid: Option<u64>,
    #[prost(string, tag = "5")]
    pub job_id: String,
    /// Replace an empty placeholder.
    #[prost(bool, tag = "6")]
    pub force: bool,
    #[prost(bool, tag = "7")]
    pub last_received_hold: bool,
    /// "" or `"zstd"`: each DATA payload of the stream is one zstd frame of at most [`crate::agent::wire::frame::MAX_DATA`]
    /// bytes of stream (see [`crate::agent::wire::codec`]).
    #[prost(string, tag = "8")]
    pub compression: String,
    /// The stream is raw (`zfs send -w` of an encrypted dataset): the agent refuses a stream whose BEGIN
    /// record says otherwise.
    #[prost(bool, tag = "9")]
    pub raw: bool,
    /// The stream resumes a partial receive (`zfs send -t`); likewise checked against the stream.
    #[prost(bool, tag = "10")]
    pub resuming: bool,
}

/// Result of a completed receive.
#[derive(Clone, PartialEq, prost::Message)]
pub struct ReceiveReply {
    #[prost(uint64, tag = "1")]
    pub received_guid: u64,
    #[prost(uint64, tag = "2")]
    pub bytes: u64,
}

/// Sent by the agent, every few seconds, while a request takes long (`zfs receive` committing the snapshots
/// of a stream after its END frame): the sender waiting for the reply restarts its timeout on each one, so a
/// slow receiver is told apart from a dead one. Added in protocol version 2.
#[derive(Clone, PartialEq, prost::Message)]
pub struct Heartbeat {}

/// Discard the partial receive state (`zfs receive -A`) of a filesystem.
#[derive(Clone, PartialEq, prost::Message)]
pub struct AbortResumeRequest {
    #[prost(string, tag = "1")]
    pub fs: String,
}

/// Set a diverged copy aside (`replicate --rotate`): rename it with a timestamp and, when `common_guid`
/// names one of its snapshots, put a clone of that snapshot in its place that takes over the common
/// history (`zfs promote`), with the copy's children moved back below it. Nothing is destroyed.
#[derive(Clone, PartialEq, prost::Message)]
pub struct RotateRequest {
    #[prost(string, tag = "1")]
    pub fs: String,
    #[prost(uint64, optional, tag = "2")]
    pub common_guid: Option<u64>,
}

/// Where the diverged copy went (relative to the agent's root), and whether a new chain starts from the
/// common snapshot (else from a full send).
#[derive(Clone, PartialEq, prost::Message)]
pub struct RotateReply {
    #[prost(string, tag = "1")]
    pub rotated_to: String,
    #[prost(bool, tag = "2")]
    pub from_common: bool,
}

/// Failover and failback: make a copy and everything below it the writable primary (`readonly=off`, and
/// the job's last-received holds there released: it now sends), or a read-only copy again
/// (`readonly=on`, and the job's cursor bookmarks there destroyed: it receives again). With `original`,
/// `fs` is a job's original (a pull job's, on its production host): only its root changes `readonly`;
/// with `read_only` (and not `primary`) that is all that changes.
#[derive(Clone, PartialEq, prost::Message)]
pub struct SetRoleRequest {
    #[prost(string, tag = "1")]
    pub fs: String,
    #[prost(bool, tag = "2")]
    pub primary: bool,
    #[prost(string, tag = "3")]
    pub job_id: String,
    #[prost(bool, tag = "4")]
    pub original: bool,
    #[prost(bool, tag = "5")]
    pub read_only: bool,
}

impl SetRoleRequest {
    /// The request for `change` of `fs` (an `original` or a replica).
    pub fn new(fs: &str, change: crate::zfs::role::Change, original: bool, job_id: &str) -> Self {
        use crate::zfs::role::Change;
        SetRoleRequest {
            fs: fs.into(),
            primary: change == Change::Primary,
            job_id: job_id.into(),
            original,
            read_only: change == Change::ReadOnly,
        }
    }

    /// The change it asks for.
    pub fn change(&self) -> crate::zfs::role::Change {
        use crate::zfs::role::Change;
        match (self.primary, self.read_only) {
            (true, _) => Change::Primary,
            (false, true) => Change::ReadOnly,
            (false, false) => Change::Copy,
        }
    }
}

/// Destroy snapshots of one filesystem.
#[derive(Clone, PartialEq, prost::Message)]
pub struct DestroyRequest {
    #[prost(string, tag = "1")]
    pub fs: String,
    /// Short names.
    #[prost(string, repeated, tag = "2")]
    pub snapshots: Vec<String>,
}

/// Which snapshots were destroyed and which were kept because of holds.
#[derive(Clone, PartialEq, prost::Message)]
pub struct DestroyReply {
    #[prost(string, repeated, tag = "1")]
    pub destroyed: Vec<String>,
    #[prost(string, repeated, tag = "2")]
    pub held: Vec<String>,
}

/// List the holds of one job below the root.
#[derive(Clone, PartialEq, prost::Message)]
pub struct HoldsRequest {
    #[prost(string, tag = "1")]
    pub job_id: String,
}

/// Answer to [`HoldsRequest`].
#[derive(Clone, PartialEq, prost::Message)]
pub struct HoldsReply {
    #[prost(message, repeated, tag = "1")]
    pub holds: Vec<HoldEntry>,
}

/// One user hold.
#[derive(Clone, PartialEq, prost::Message)]
pub struct HoldEntry {
    #[prost(string, tag = "1")]
    pub fs: String,
    /// Short snapshot name.
    #[prost(string, tag = "2")]
    pub snapshot: String,
    #[prost(string, tag = "3")]
    pub tag: String,
}

/// Releases this job's last-received hold from the named snapshots of one filesystem (replied with `Ok`).
#[derive(Clone, PartialEq, prost::Message)]
pub struct ReleaseLastReceivedRequest {
    /// Relative to the agent's root.
    #[prost(string, tag = "1")]
    pub fs: String,
    /// Short snapshot names.
    #[prost(string, repeated, tag = "2")]
    pub snapshots: Vec<String>,
    #[prost(string, tag = "3")]
    pub job_id: String,
}

/// Puts this job's last-received hold on one snapshot (after checking its GUID) and releases it from the
/// filesystem's other snapshots: repairs protection after a run died between receive and hold.
#[derive(Clone, PartialEq, prost::Message)]
pub struct HoldLastReceivedRequest {
    /// Relative to the agent's root.
    #[prost(string, tag = "1")]
    pub fs: String,
    #[prost(string, tag = "2")]
    pub snapshot: String,
    #[prost(uint64, tag = "3")]
    pub guid: u64,
    #[prost(string, tag = "4")]
    pub job_id: String,
}

/// Digest the content of one received snapshot (`zreplrs verify --content`), after checking its GUID.
/// Added after protocol version 2 without a version bump: an older agent answers it with an error.
#[derive(Clone, PartialEq, prost::Message)]
pub struct ChecksumRequest {
    /// Relative to the agent's root.
    #[prost(string, tag = "1")]
    pub fs: String,
    #[prost(string, tag = "2")]
    pub snapshot: String,
    #[prost(uint64, tag = "3")]
    pub guid: u64,
}

/// The content digest of a snapshot (see `crate::content`).
#[derive(Clone, PartialEq, prost::Message)]
pub struct ChecksumReply {
    /// SHA-256, lowercase hex.
    #[prost(string, tag = "1")]
    pub digest: String,
    #[prost(uint64, tag = "2")]
    pub entries: u64,
    #[prost(uint64, tag = "3")]
    pub bytes: u64,
    /// The snapshot's `logicalreferenced`, always.
    #[prost(uint64, tag = "4")]
    pub logical_referenced: u64,
    /// Why the files could not be read (an encrypted copy without its key, no permission to mount a
    /// clone); the digest is then empty.
    #[prost(string, tag = "5")]
    pub unreadable: String,
    /// The files cannot be read by design (an encrypted copy whose key is not loaded here): the content
    /// is "not verified". Otherwise a non-empty `unreadable` is a failed verification.
    #[prost(bool, tag = "6")]
    pub by_design: bool,
}

/// Pull mode: asks the send-agent to run `zfs ARGV…` on the source. The agent runs it only when its policy
/// ([`crate::agent::send::policy`]) accepts every argument. Without `stream`, the reply is one or more
/// [`ZfsCallReply`] pages. With `stream` (only `zfs send`), the agent sends the command's stdout as DATA
/// frames and an END frame, then the [`ZfsCallReply`]; the client sends exactly one END frame per stream:
/// early to stop the send (aborted), or after the reply to acknowledge it.
#[derive(Clone, PartialEq, prost::Message)]
pub struct ZfsCall {
    #[prost(string, repeated, tag = "1")]
    pub argv: Vec<String>,
    #[prost(bool, tag = "2")]
    pub stream: bool,
    /// With `stream`: "" or `"zstd"`, the codec of the DATA payloads the send-agent sends (see
    /// [`crate::agent::wire::codec`]).
    #[prost(string, tag = "3")]
    pub compression: String,
    /// The zstd level (1..=19; 0 is the default, 3) when `compression` is `"zstd"`.
    #[prost(int32, tag = "4")]
    pub zstd_level: i32,
}

/// The outcome of a [`ZfsCall`]. Output larger than a page arrives in several replies, all but the last
/// with `more`; their `stdout` bytes are joined.
#[derive(Clone, PartialEq, prost::Message)]
pub struct ZfsCallReply {
    #[prost(bool, tag = "1")]
    pub success: bool,
    #[prost(int32, optional, tag = "2")]
    pub exit_code: Option<i32>,
    #[prost(bytes = "vec", tag = "3")]
    pub stdout: Vec<u8>,
    #[prost(string, tag = "4")]
    pub stderr: String,
    #[prost(bool, tag = "5")]
    pub more: bool,
}

/// Generic success without payload.
#[derive(Clone, PartialEq, prost::Message)]
pub struct Ok {}

/// Generic failure; the request changed nothing unless the kind says otherwise.
#[derive(Clone, PartialEq, prost::Message)]
pub struct Error {
    /// snake_case kind, e.g. `"outside_root"`, `"invalid_name"`, `"protocol"`, `"zfs_does_not_exist"`.
    #[prost(string, tag = "1")]
    pub kind: String,
    #[prost(string, tag = "2")]
    pub message: String,
    /// The kind as the enum of the one error model; 0 (absent) from peers before it, whose `kind` names it.
    #[prost(enumeration = "crate::error::ErrorKind", tag = "3")]
    pub code: i32,
}

/// The single top-level message type carried by MESSAGE frames.
#[derive(Clone, PartialEq, prost::Message)]
pub struct Envelope {
    #[prost(
        oneof = "envelope::Body",
        tags = "1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23"
    )]
    pub body: Option<envelope::Body>,
}

/// The oneof of [`Envelope`].
pub mod envelope {
    /// Exactly one request or reply.
    #[derive(Clone, PartialEq, prost::Oneof)]
    pub enum Body {
        #[prost(message, tag = "1")]
        Hello(super::Hello),
        #[prost(message, tag = "2")]
        HelloReply(super::HelloReply),
        #[prost(message, tag = "3")]
        List(super::ListRequest),
        #[prost(message, tag = "4")]
        ListReply(super::ListReply),
        #[prost(message, tag = "5")]
        Receive(super::ReceiveRequest),
        #[prost(message, tag = "6")]
        ReceiveReply(super::ReceiveReply),
        #[prost(message, tag = "7")]
        AbortResume(super::AbortResumeRequest),
        #[prost(message, tag = "8")]
        Ok(super::Ok),
        #[prost(message, tag = "9")]
        Error(super::Error),
        #[prost(message, tag = "10")]
        Destroy(super::DestroyRequest),
        #[prost(message, tag = "11")]
        DestroyReply(super::DestroyReply),
        #[prost(message, tag = "12")]
        Holds(super::HoldsRequest),
        #[prost(message, tag = "13")]
        HoldsReply(super::HoldsReply),
        #[prost(message, tag = "14")]
        ReleaseLastReceived(super::ReleaseLastReceivedRequest),
        #[prost(message, tag = "15")]
        HoldLastReceived(super::HoldLastReceivedRequest),
        #[prost(message, tag = "16")]
        Heartbeat(super::Heartbeat),
        #[prost(message, tag = "17")]
        Checksum(super::ChecksumRequest),
        #[prost(message, tag = "18")]
        ChecksumReply(super::ChecksumReply),
        #[prost(message, tag = "19")]
        ZfsCall(super::ZfsCall),
        #[prost(message, tag = "20")]
        ZfsCallReply(super::ZfsCallReply),
        #[prost(message, tag = "21")]
        Rotate(super::RotateRequest),
        #[prost(message, tag = "22")]
        RotateReply(super::RotateReply),
        #[prost(message, tag = "23")]
        SetRole(super::SetRoleRequest),
    }
}

impl Envelope {
    /// Wraps one body.
    pub fn new(body: envelope::Body) -> Self {
        Envelope { body: Some(body) }
    }

    /// snake_case name of the body variant (`"hello"`, `"list_reply"`, …), or `"empty"` when there is none.
    pub fn kind_name(&self) -> &'static str {
        use envelope::Body;
        match &self.body {
            None => "empty",
            Some(Body::Hello(_)) => "hello",
            Some(Body::HelloReply(_)) => "hello_reply",
            Some(Body::List(_)) => "list",
            Some(Body::ListReply(_)) => "list_reply",
            Some(Body::Receive(_)) => "receive",
            Some(Body::ReceiveReply(_)) => "receive_reply",
            Some(Body::AbortResume(_)) => "abort_resume",
            Some(Body::Ok(_)) => "ok",
            Some(Body::Error(_)) => "error",
            Some(Body::Destroy(_)) => "destroy",
            Some(Body::DestroyReply(_)) => "destroy_reply",
            Some(Body::Holds(_)) => "holds",
            Some(Body::HoldsReply(_)) => "holds_reply",
            Some(Body::ReleaseLastReceived(_)) => "release_last_received",
            Some(Body::HoldLastReceived(_)) => "hold_last_received",
            Some(Body::Heartbeat(_)) => "heartbeat",
            Some(Body::Checksum(_)) => "checksum",
            Some(Body::ChecksumReply(_)) => "checksum_reply",
            Some(Body::ZfsCall(_)) => "zfs_call",
            Some(Body::ZfsCallReply(_)) => "zfs_call_reply",
            Some(Body::Rotate(_)) => "rotate",
            Some(Body::RotateReply(_)) => "rotate_reply",
            Some(Body::SetRole(_)) => "set_role",
        }
    }
}

macro_rules! body_from {
    ($($msg:ident => $variant:ident),* $(,)?) => {
        $(
            impl From<$msg> for envelope::Body {
                fn from(m: $msg) -> Self {
                    envelope::Body::$variant(m)
                }
            }
        )*
    };
}

body_from! {
    Hello => Hello,
    HelloReply => HelloReply,
    ListRequest => List,
    ListReply => ListReply,
    ReceiveRequest => Receive,
    ReceiveReply => ReceiveReply,
    AbortResumeRequest => AbortResume,
    Ok => Ok,
    Error => Error,
    DestroyRequest => Destroy,
    DestroyReply => DestroyReply,
    HoldsRequest => Holds,
    HoldsReply => HoldsReply,
    ReleaseLastReceivedRequest => ReleaseLastReceived,
    HoldLastReceivedRequest => HoldLastReceived,
    Heartbeat => Heartbeat,
    ChecksumRequest => Checksum,
    ChecksumReply => ChecksumReply,
    ZfsCall => ZfsCall,
    ZfsCallReply => ZfsCallReply,
    RotateRequest => Rotate,
    RotateReply => RotateReply,
    SetRoleRequest => SetRole,
}

#[cfg(test)]
mod tests {
    use super::*;
    use prost::Message;

    #[test]
    fn kind_names_and_from() {
        assert_eq!(Envelope::default().kind_name(), "empty");
        assert_eq!(Envelope::new(ListRequest::default().into()).kind_name(), "list");
        assert_eq!(Envelope::new(Ok {}.into()).kind_name(), "ok");
        assert_eq!(
            Envelope::new(
                Error {
                    kind: "outside_root".into(),
                    message: "no".into(),
                    code: 0,
                }
                .into()
            )
            .kind_name(),
            "error"
        );
    }

    #[test]
    fn optional_fields_distinguish_zero_from_absent() {
        let v = Version {
            userrefs: Some(0),
            creation: None,
            ..Default::default()
        };
        let back = Version::decode(v.encode_to_vec().as_slice()).map_err(|e| e.to_string());
        assert_eq!(back, std::result::Result::Ok(v));
    }

    #[test]
    fn fixed_tags_on_the_wire() {
        // Envelope{hello=1{protocol_version=1: 1}}: field 1, wire type 2, len 2, then field 1 varint 1.
        let env = Envelope::new(
            Hello {
                protocol_version: 1,
                software_version: String::new(),
                compression: Vec::new(),
                ..Default::default()
            }
            .into(),
        );
        assert_eq!(env.encode_to_vec(), vec![0x0a, 0x02, 0x08, 0x01]);
        // holds_reply = 13 -> key (13 << 3) | 2 = 0x6a.
        let env = Envelope::new(HoldsReply { holds: vec![] }.into());
        assert_eq!(env.encode_to_vec(), vec![0x6a, 0x00]);
    }
}
