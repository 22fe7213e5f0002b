//! Typed ZFS errors: what `zfs` said on stderr, classified into kinds the rest of zreplrs can act on,
//! with the command and ZFS's raw message kept for the user.

use serde::Serialize;

use crate::error::ErrorKind;

/// What kind of failure a `zfs` invocation reported.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ZfsErrorKind {
    /// The dataset, snapshot, bookmark or pool does not exist.
    DoesNotExist,
    /// The dataset, bookmark or hold tag already exists.
    AlreadyExists,
    /// The dataset is busy: mounted and in use, or (for snapshots) held by a user hold.
    Busy,
    /// A snapshot could not be destroyed because a user hold protects it.
    Held,
    /// The release named a hold tag the snapshot does not carry.
    NoSuchHold,
    /// The receiver holds partially received state (`zfs recv -s`); resume it or abort it first.
    ResumableStatePresent,
    /// There is no partially received state to abort.
    NoResumableState,
    /// A resume token could not be decoded or does not match anything on this side.
    InvalidResumeToken,
    /// The receiving filesystem was modified since its most recent snapshot.
    DestinationModified,
    /// The incremental `from` does not match the receiver's most recent snapshot.
    IncrementalMismatch,
    /// A name is syntactically invalid or too long.
    InvalidName,
    /// The caller lacks the permission (`zfs allow`) for the operation.
    PermissionDenied,
    /// The pool is out of space.
    NoSpace,
    /// `zfs` could not be started at all.
    Spawn,
    /// `zfs` succeeded but printed something zreplrs could not parse.
    Parse,
    /// The link to the host where `zfs` runs (pull mode's source) failed: worth a reconnect.
    Connection,
    /// The remote agent's policy refused the command.
    Refused,
    /// Anything else; the message says what.
    Other,
}

impl ZfsErrorKind {
    /// A short human description of the kind.
    pub fn describe(self) -> &'static str {
        match self {
            ZfsErrorKind::DoesNotExist => "does not exist",
            ZfsErrorKind::AlreadyExists => "already exists",
            ZfsErrorKind::Busy => "busy",
            ZfsErrorKind::Held => "held",
            ZfsErrorKind::NoSuchHold => "no such hold",
            ZfsErrorKind::ResumableStatePresent => "resumable receive state present",
            ZfsErrorKind::NoResumableState => "no resumable receive state",
            ZfsErrorKind::InvalidResumeToken => "invalid resume token",
            ZfsErrorKind::DestinationModified => "destination modified",
            ZfsErrorKind::IncrementalMismatch => "incremental source mismatch",
            ZfsErrorKind::InvalidName => "invalid name",
            ZfsErrorKind::PermissionDenied => "permission denied",
            ZfsErrorKind::NoSpace => "out of space",
            ZfsErrorKind::Spawn => "could not run zfs",
            ZfsErrorKind::Parse => "unparseable output",
            ZfsErrorKind::Connection => "connection to the source failed",
            ZfsErrorKind::Refused => "refused by the source's send-agent",
            ZfsErrorKind::Other => "failed",
        }
    }
}

/// A failed `zfs` invocation.
#[derive(Debug, Clone, thiserror::Error)]
#[error("`{command}` failed ({}): {message}", kind.describe())]
pub struct ZfsError {
    pub kind: ZfsErrorKind,
    /// The command line, as the user would type it.
    pub command: String,
    /// ZFS's own message (stderr, trimmed), or what zreplrs found wrong with the output.
    pub message: String,
    /// The exit code of `zfs`, when it ran.
    pub exit_code: Option<i32>,
}

impl ZfsError {
    pub(crate) fn spawn<S: AsRef<str>>(args: &[S], err: &std::io::Error) -> Self {
        ZfsError {
            kind: ZfsErrorKind::Spawn,
            command: super::display_command(args),
            message: format!("{err} (is OpenZFS installed and `zfs` on PATH?)"),
            exit_code: None,
        }
    }

    pub(crate) fn from_stderr<S: AsRef<str>>(args: &[S], code: Option<i32>, stderr: &str) -> Self {
        ZfsError {
            kind: classify(stderr),
            command: super::display_command(args),
            message: stderr.trim().to_string(),
            exit_code: code,
        }
    }

    pub(crate) fn parse<S: AsRef<str>>(args: &[S], what: impl Into<String>) -> Self {
        ZfsError {
            kind: ZfsErrorKind::Parse,
            command: super::display_command(args),
            message: what.into(),
            exit_code: Some(0),
        }
    }

    /// The kind in the one error model (reports and agent replies show its name, e.g. `zfs_does_not_exist`).
    pub fn error_kind(&self) -> ErrorKind {
        use ErrorKind as E;
        match self.kind {
            ZfsErrorKind::DoesNotExist => E::ZfsDoesNotExist,
            ZfsErrorKind::AlreadyExists => E::ZfsAlreadyExists,
            ZfsErrorKind::Busy => E::ZfsBusy,
            ZfsErrorKind::Held => E::ZfsHeld,
            ZfsErrorKind::NoSuchHold => E::ZfsNoSuchHold,
            ZfsErrorKind::ResumableStatePresent => E::ZfsResumableStatePresent,
            ZfsErrorKind::NoResumableState => E::ZfsNoResumableState,
            ZfsErrorKind::InvalidResumeToken => E::ZfsInvalidResumeToken,
            ZfsErrorKind::DestinationModified => E::ZfsDestinationModified,
            ZfsErrorKind::IncrementalMismatch => E::ZfsIncrementalMismatch,
            ZfsErrorKind::InvalidName => E::ZfsInvalidName,
            ZfsErrorKind::PermissionDenied => E::ZfsPermissionDenied,
            ZfsErrorKind::NoSpace => E::ZfsNoSpace,
            ZfsErrorKind::Spawn => E::ZfsSpawn,
            ZfsErrorKind::Parse => E::ZfsParse,
            ZfsErrorKind::Connection => E::Connection,
            ZfsErrorKind::Refused => E::SendAgentPolicy,
            ZfsErrorKind::Other => E::ZfsOther,
        }
    }

    /// The same error with another kind (when the caller knows more than stderr says).
    pub fn with_kind(mut self, kind: ZfsErrorKind) -> Self {
        self.kind = kind;
        self
    }
}

/// Classifies `zfs` stderr. Order matters: more specific messages first.
pub fn classify(stderr: &str) -> ZfsErrorKind {
    let s = stderr.to_ascii_lowercase();
    let has = |p: &str| s.contains(p);
    if has("contains partially-complete state") || has("has resumable receive state") {
        ZfsErrorKind::ResumableStatePresent
    } else if has("does not have any resumable receive state") {
        ZfsErrorKind::NoResumableState
    } else if has("resume token") && (has("corrupt") || has("invalid") || has("not a valid") || has("bad ")) {
        ZfsErrorKind::InvalidResumeToken
    } else if has("no such tag on this dataset") {
        ZfsErrorKind::NoSuchHold
    } else if has("has been modified") {
        ZfsErrorKind::DestinationModified
    } else if has("does not match incremental source") || has("incremental source") {
        ZfsErrorKind::IncrementalMismatch
    } else if has("permission denied") || has("operation not permitted") {
        ZfsErrorKind::PermissionDenied
    } else if has("out of space") || has("no space left") {
        ZfsErrorKind::NoSpace
    } else if has("being held") {
        ZfsErrorKind::Held
    } else if has("tag already exists") || has("already exists") || has("bookmark exists") {
        ZfsErrorKind::AlreadyExists
    } else if has("dataset is busy") || has("pool or dataset is busy") || has("is busy") {
        ZfsErrorKind::Busy
    } else if has("does not exist")
        || has("no such pool")
        || has("no such dataset")
        || has("could not find any snapshots")
        || has("no such file or directory")
    {
        ZfsErrorKind::DoesNotExist
    } else if has("invalid character")
        || has("name is too long")
        || has("invalid dataset name")
        || has("invalid name")
        || has("empty component")
        || has("leading slash")
        || has("trailing slash")
        || has("multiple '@'")
    {
        ZfsErrorKind::InvalidName
    } else {
        ZfsErrorKind::Other
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classifies_common_messages() {
        let cases = [
            ("cannot open 'p/x': dataset does not exist", ZfsErrorKind::DoesNotExist),
            ("cannot create snapshot 'p/a@s': dataset already exists", ZfsErrorKind::AlreadyExists),
            ("cannot hold snapshot 'p/a@s': tag already exists on this dataset", ZfsErrorKind::AlreadyExists),
            ("cannot destroy snapshot p/a@s: dataset is busy", ZfsErrorKind::Busy),
            ("cannot destroy snapshot p/a@s: it's being held. Run 'zfs holds -r p/a@s' to see holders.", ZfsErrorKind::Held),
            ("cannot create bookmark 'p/a#c': bookmark exists", ZfsErrorKind::AlreadyExists),
            ("cannot release hold from snapshot 'p/a@s': no such tag on this dataset", ZfsErrorKind::NoSuchHold),
            (
                "cannot receive new filesystem stream: destination p/b contains partially-complete state from \"zfs receive -s\".",
                ZfsErrorKind::ResumableStatePresent,
            ),
            ("'p/b' does not have any resumable receive state to abort", ZfsErrorKind::NoResumableState),
            ("cannot resume send: 'x' is not a valid resume token", ZfsErrorKind::InvalidResumeToken),
            ("cannot receive incremental stream: destination p/b has been modified\nsince most recent snapshot", ZfsErrorKind::DestinationModified),
            ("cannot receive incremental stream: most recent snapshot of p/b does not\nmatch incremental source", ZfsErrorKind::IncrementalMismatch),
            ("cannot create 'p/a%b': invalid character '%' in name", ZfsErrorKind::InvalidName),
            ("cannot open 'nopool': no such pool", ZfsErrorKind::DoesNotExist),
            ("cannot hold: permission denied", ZfsErrorKind::PermissionDenied),
            ("something new entirely", ZfsErrorKind::Other),
        ];
        for (msg, kind) in cases {
            assert_eq!(classify(msg), kind, "message: {msg}");
        }
    }

    #[test]
    fn error_display_names_command_and_message() {
        let e = ZfsError::from_stderr(&["destroy", "p/a@s"], Some(1), "cannot destroy: dataset is busy\n");
        let text = e.to_string();
        assert!(text.contains("zfs destroy p/a@s"), "{text}");
        assert!(text.contains("dataset is busy"), "{text}");
        assert_eq!(e.kind, ZfsErrorKind::Busy);
    }
}
