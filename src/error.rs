//! The one error model: every failure that crosses a layer — the ZFS adapter, the agents, the wire, the
//! transport — has an [`ErrorKind`]. The adapter classifies what `zfs` said into one, an agent refuses with
//! one, the wire carries it as a protobuf enum (beside its name, which is what peers before the enum sent and
//! still understand), the run decides from it alone whether a new attempt may help
//! ([`ErrorKind::is_retriable`]), and reports show its stable snake_case name.

/// What kind of failure it was. The numbers are the wire's (`Error.code`); 0 is what an older peer's
/// error carries, whose kind is then read from its name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, prost::Enumeration)]
#[repr(i32)]
pub enum ErrorKind {
    /// A kind this build does not know (from a newer peer); the message says what.
    Other = 0,
    /// The link to the other host broke, stalled, or could not be made.
    Connection = 1,
    /// The peer does not speak our protocol, or sent something malformed.
    Protocol = 2,
    /// The peer speaks another protocol version.
    ProtocolVersion = 3,
    /// The receiver's SSH host key is unknown, changed or revoked.
    HostKey = 4,
    /// A request named a dataset outside the agent's root.
    OutsideRoot = 5,
    /// A name is not a valid ZFS name, job id or bookkeeping name.
    InvalidName = 6,
    /// A snapshot the request names does not exist.
    DoesNotExist = 7,
    /// The stream's records are not the stream the request announced (checked before `zfs receive`).
    BadStream = 8,
    /// An `--append-only` recv-agent refused the request.
    AppendOnly = 9,
    /// A send-agent's policy refused the call.
    SendAgentPolicy = 10,
    /// The sender's `zfs send` failed.
    ZfsSend = 11,
    /// Reading or writing a frame failed.
    Io = 12,
    UnknownFrameType = 13,
    FrameTooLarge = 14,
    EmptyDataFrame = 15,
    BadEndFrame = 16,
    TruncatedFrame = 17,
    UndecodableMessage = 18,
    TooManyElements = 19,
    UnexpectedFrame = 20,
    /// The sender ended the stream as aborted (its `zfs send` failed); the receiver keeps resumable state.
    Aborted = 21,
    /// The snapshot the request names has another GUID on the receiver.
    GuidMismatch = 22,
    /// The agent's root dataset does not exist.
    RootMissing = 23,
    /// A call's output exceeded what the agent sends back.
    TooMuchOutput = 24,
    /// Compressing or decompressing stream data failed.
    Compression = 25,
    /// The object store refused a request (credentials, a missing bucket, the wrong region, a denied key):
    /// trying again does not help until its configuration changes.
    Store = 26,
    /// The object store failed or throttled after every retry, or could not be reached.
    StoreUnavailable = 27,
    /// What is in the object store is not what zreplrs wrote there (a manifest that fails its checks, an
    /// object whose size or SHA-256 differs from its manifest's).
    StoreCorrupt = 28,
    /// The target does not support what was asked (an agent request of an object-store target).
    Unsupported = 29,
    /// What `zfs` said, classified by the ZFS adapter.
    ZfsDoesNotExist = 30,
    ZfsAlreadyExists = 31,
    ZfsBusy = 32,
    ZfsHeld = 33,
    ZfsNoSuchHold = 34,
    ZfsResumableStatePresent = 35,
    ZfsNoResumableState = 36,
    ZfsInvalidResumeToken = 37,
    ZfsDestinationModified = 38,
    ZfsIncrementalMismatch = 39,
    ZfsInvalidName = 40,
    ZfsPermissionDenied = 41,
    ZfsNoSpace = 42,
    ZfsSpawn = 43,
    ZfsParse = 44,
    ZfsOther = 45,
    /// Another run of the job holds its lock.
    Locked = 46,
    /// A run that had to bring every filesystem up to date (before failover or failback) did not.
    NotUpToDate = 47,
}

use ErrorKind as K;

/// Every kind with its name, in code order.
const NAMES: [(ErrorKind, &str); 48] = [
    (K::Other, "other"),
    (K::Connection, "connection"),
    (K::Protocol, "protocol"),
    (K::ProtocolVersion, "protocol_version"),
    (K::HostKey, "host_key"),
    (K::OutsideRoot, "outside_root"),
    (K::InvalidName, "invalid_name"),
    (K::DoesNotExist, "does_not_exist"),
    (K::BadStream, "bad_stream"),
    (K::AppendOnly, "append_only"),
    (K::SendAgentPolicy, "send_agent_policy"),
    (K::ZfsSend, "zfs_send"),
    (K::Io, "io"),
    (K::UnknownFrameType, "unknown_frame_type"),
    (K::FrameTooLarge, "frame_too_large"),
    (K::EmptyDataFrame, "empty_data_frame"),
    (K::BadEndFrame, "bad_end_frame"),
    (K::TruncatedFrame, "truncated_frame"),
    (K::UndecodableMessage, "undecodable_message"),
    (K::TooManyElements, "too_many_elements"),
    (K::UnexpectedFrame, "unexpected_frame"),
    (K::Aborted, "aborted"),
    (K::GuidMismatch, "guid_mismatch"),
    (K::RootMissing, "root_missing"),
    (K::TooMuchOutput, "too_much_output"),
    (K::Compression, "compression"),
    (K::Store, "store"),
    (K::StoreUnavailable, "store_unavailable"),
    (K::StoreCorrupt, "store_corrupt"),
    (K::Unsupported, "unsupported"),
    (K::ZfsDoesNotExist, "zfs_does_not_exist"),
    (K::ZfsAlreadyExists, "zfs_already_exists"),
    (K::ZfsBusy, "zfs_busy"),
    (K::ZfsHeld, "zfs_held"),
    (K::ZfsNoSuchHold, "zfs_no_such_hold"),
    (K::ZfsResumableStatePresent, "zfs_resumable_state_present"),
    (K::ZfsNoResumableState, "zfs_no_resumable_state"),
    (K::ZfsInvalidResumeToken, "zfs_invalid_resume_token"),
    (K::ZfsDestinationModified, "zfs_destination_modified"),
    (K::ZfsIncrementalMismatch, "zfs_incremental_mismatch"),
    (K::ZfsInvalidName, "zfs_invalid_name"),
    (K::ZfsPermissionDenied, "zfs_permission_denied"),
    (K::ZfsNoSpace, "zfs_no_space"),
    (K::ZfsSpawn, "zfs_spawn"),
    (K::ZfsParse, "zfs_parse"),
    (K::ZfsOther, "zfs_other"),
    (K::Locked, "locked"),
    (K::NotUpToDate, "not_up_to_date"),
];

impl ErrorKind {
    /// The stable snake_case name reports and older peers use.
    pub fn as_str(self) -> &'static str {
        NAMES.iter().find(|(k, _)| *k == self).map_or("other", |(_, n)| n)
    }

    /// The kind with this name (`Other` for a name this build does not know).
    pub fn from_name(name: &str) -> ErrorKind {
        NAMES.iter().find(|(_, n)| *n == name).map_or(K::Other, |(k, _)| *k)
    }

    /// The kind of a peer's error: its code when it sent one, else its name (a peer before the code).
    pub fn from_wire(code: i32, name: &str) -> ErrorKind {
        match ErrorKind::try_from(code) {
            Ok(K::Other) | Err(_) => ErrorKind::from_name(name),
            Ok(k) => k,
        }
    }

    /// Whether a new attempt (reconnect, re-plan) may succeed: the link failed, or a receive met the
    /// previous, interrupted session's receive still running (busy) or its resumable state, which the next
    /// plan resumes from. Decided here only.
    pub fn is_retriable(self) -> bool {
        matches!(
            self,
            K::Connection | K::ZfsBusy | K::ZfsResumableStatePresent | K::StoreUnavailable
        )
    }
}

impl std::fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A failure with its kind and what to tell the user (the message names what failed and, where it can,
/// what to do).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct Failure {
    pub kind: ErrorKind,
    pub message: String,
}

impl Failure {
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        Failure {
            kind,
            message: message.into(),
        }
    }

    /// The peer sent something malformed.
    pub fn protocol(message: impl Into<String>) -> Self {
        Failure::new(ErrorKind::Protocol, message)
    }

    /// The link broke.
    pub fn connection(message: impl Into<String>) -> Self {
        Failure::new(ErrorKind::Connection, message)
    }

    /// zstd failed.
    pub fn compression(message: impl Into<String>) -> Self {
        Failure::new(ErrorKind::Compression, message)
    }
}

impl From<Failure> for String {
    fn from(f: Failure) -> String {
        f.message
    }
}

/// A value that is not valid — in the configuration, on the command line, or in a peer's request — with
/// the message that says which and why. It changes nothing: it is refused before anything acts on it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct Invalid(pub String);

impl From<String> for Invalid {
    fn from(s: String) -> Self {
        Invalid(s)
    }
}

impl std::ops::Deref for Invalid {
    type Target = str;

    fn deref(&self) -> &str {
        &self.0
    }
}

impl From<Invalid> for String {
    fn from(i: Invalid) -> String {
        i.0
    }
}

impl From<&str> for Invalid {
    fn from(s: &str) -> Self {
        Invalid(s.to_string())
    }
}

impl From<ErrorKind> for String {
    fn from(k: ErrorKind) -> String {
        k.as_str().to_string()
    }
}

impl serde::Serialize for ErrorKind {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_kind_has_one_name_and_its_code_and_name_lead_back_to_it() {
        let mut names = std::collections::BTreeSet::new();
        for (k, n) in NAMES {
            assert!(names.insert(n), "{n} twice");
            assert_eq!(ErrorKind::from_name(n), k);
            assert_eq!(ErrorKind::from_wire(k as i32, ""), k, "{n} by its code");
            assert_eq!(ErrorKind::from_wire(0, n), k, "{n} by its name, from an older peer");
            assert_eq!(k.as_str(), n);
        }
        assert_eq!(
            ErrorKind::from_wire(9999, "zfs_busy"),
            K::ZfsBusy,
            "an unknown code falls back to the name"
        );
        assert_eq!(ErrorKind::from_name("from_a_newer_peer"), K::Other);
    }

    #[test]
    fn only_connection_a_busy_store_and_a_receive_meeting_the_last_sessions_state_are_retriable() {
        let retriable: Vec<&str> = NAMES
            .iter()
            .filter(|(k, _)| k.is_retriable())
            .map(|(_, n)| *n)
            .collect();
        assert_eq!(
            retriable,
            [
                "connection",
                "store_unavailable",
                "zfs_busy",
                "zfs_resumable_state_present"
            ]
        );
    }
}
