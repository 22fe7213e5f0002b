//! Validated ZFS names: datasets, snapshots, bookmarks, hold tags, user properties and job ids.
//!
//! Everything zreplrs passes to `zfs` as a name goes through this module first, so a bad name from the
//! configuration or the command line is rejected with a message that says which rule failed, instead of
//! surfacing later as an opaque `zfs` error halfway through a replication.
//!
//! The rules follow OpenZFS (`module/zcommon/zfs_namecheck.c`, `zprop_common.c`, `zfs_prop.c`,
//! `dsl_userhold.c` and `libzfs_pool.c`):
//!
//! * A dataset, snapshot or bookmark name is shorter than `ZFS_MAX_DATASET_NAME_LEN` (256) bytes, i.e. at
//!   most [`MAX_NAME_LEN`] bytes in total (`entity_namecheck`).
//! * Components are separated by `/`; they are non-empty, not `.` or `..`, and consist of ASCII letters,
//!   digits, `-`, `_`, `.`, `:` and space. No leading or trailing `/`.
//! * `@` separates a snapshot name and `#` a bookmark name from the dataset; a name has at most one of them.
//! * `%` is accepted by the kernel only for internal temporary datasets (online `zfs recv` clones) and is
//!   rejected here, as it is for every name a user can create.
//! * The pool (first component) begins with a letter, is shorter than 240 bytes (`pool_namecheck` keeps
//!   room for `pool/$ORIGIN@$ORIGIN`) and is not one of the reserved words [`RESERVED_POOL_NAMES`].
//! * A hold tag is non-empty and at most [`MAX_HOLD_TAG_LEN`] bytes (it is stored as a ZAP key).
//! * A user property name contains `:`, consists of lowercase ASCII letters, digits, `-`, `_`, `.`, `:`, is at
//!   most [`MAX_USER_PROPERTY_LEN`] bytes (`ZAP_MAXNAMELEN`) and does not begin with `-` (zfsprops(7)).
//!
//! Decisions that go beyond (or deliberately stop short of) OpenZFS are documented where they are made:
//! reserved pool names (see [`RESERVED_POOL_NAMES`]), control characters in hold tags (see
//! [`check_hold_tag`]), dataset names before `@`/`#` (see [`SnapshotName::new`]) and the job-id length
//! (see [`MAX_JOB_ID_LEN`]). The nesting limit `zfs_max_dataset_nesting` is a tunable checked by ZFS only when
//! creating datasets, so it is not enforced here.

use std::fmt;
use std::str::FromStr;

/// Longest dataset, snapshot or bookmark name in bytes (`ZFS_MAX_DATASET_NAME_LEN` is 256 including the NUL).
pub const MAX_NAME_LEN: usize = 255;

/// Longest pool name in bytes: `pool_namecheck` requires `strlen(pool) < 256 - 2 - 2 * strlen("$ORIGIN")`.
pub const MAX_POOL_NAME_LEN: usize = 256 - 2 - 2 * "$ORIGIN".len() - 1;

/// Longest hold tag in bytes (stored as a ZAP key; `ZAP_MAXNAMELEN` is 256 including the NUL).
pub const MAX_HOLD_TAG_LEN: usize = 255;

/// Longest user property name in bytes (`ZAP_MAXNAMELEN` is 256 including the NUL).
pub const MAX_USER_PROPERTY_LEN: usize = 255;

/// Pool names that are rejected.
///
/// The kernel (`pool_namecheck`) reserves exactly `mirror`, `raidz` and `draid`; `zpool create`/`import`
/// (`zpool_name_valid`) additionally refuses `log` and every name that merely *starts* with `mirror`, `raidz`,
/// `draid` or `spare`. Those prefix rules were added later and OpenZFS keeps opening existing pools that
/// break them, so zreplrs (which only works on existing pools) rejects the exact words only: a pool called
/// `mirrorpool` or `spares` is accepted. The old Solaris rule against disk-like names (`c0…`) is gone from
/// OpenZFS and is not applied either.
pub const RESERVED_POOL_NAMES: [&str; 5] = ["mirror", "raidz", "draid", "spare", "log"];

/// Bookmark short name of the v1 (single, job-less) replication cursor written by old zrepl versions.
pub const V1_CURSOR_SHORT: &str = "zrepl_replication_cursor";

/// Prefix of a v2 replication cursor bookmark short name, up to the guid.
const CURSOR_PREFIX: &str = "zrepl_CURSOR_G_";
/// Prefix of a tentative replication cursor bookmark short name, up to the guid (zrepl's double `_`).
const TENTATIVE_CURSOR_PREFIX: &str = "zrepl_CURSORTENTATIVE__G_";
/// Separator between the guid and the job id in cursor bookmark short names.
const JOB_SEPARATOR: &str = "_J_";
/// Prefix of the hold tag that protects a step's snapshot while it is being sent.
const STEP_HOLD_PREFIX: &str = "zrepl_STEP_J_";
/// Prefix of the hold tag on the receiving side's most recently received snapshot.
const LAST_RECEIVED_HOLD_PREFIX: &str = "zrepl_last_received_J_";
/// Number of hex digits of a guid in cursor bookmark names.
const GUID_HEX_LEN: usize = 16;

/// Longest job id in bytes: 203.
///
/// A job id ends up in bookmark short names, and the longest of them, the tentative cursor
/// `zrepl_CURSORTENTATIVE__G_<16 hex>_J_<job id>`, must still fit into a full bookmark name on the short
/// reference dataset `pool/ds` (`pool/ds#zrepl_CURSORTENTATIVE__G_…_J_<job id>` at most [`MAX_NAME_LEN`]
/// bytes). This is the check zrepl makes, so every job id zrepl accepts is accepted here. On deeper datasets
/// a long job id can still make a bookmark name too long; [`DatasetName::bookmark`] reports that case.
pub const MAX_JOB_ID_LEN: usize =
    MAX_NAME_LEN - "pool/ds#".len() - TENTATIVE_CURSOR_PREFIX.len() - GUID_HEX_LEN - JOB_SEPARATOR.len();

/// What dataset, snapshot and bookmark components may consist of, for error messages.
const ALLOWED_NAME_CHARS: &str = "letters, digits, - _ . : and space";
/// What user property names may consist of, for error messages.
const ALLOWED_PROPERTY_CHARS: &str = "lowercase letters, digits, - _ . :";
/// What hold tags may consist of, for error messages.
const ALLOWED_TAG_CHARS: &str = "any character except control characters such as NUL, tab or newline";

const DATASET: &str = "dataset name";
const SNAPSHOT: &str = "snapshot name";
const BOOKMARK: &str = "bookmark name";
const POOL: &str = "pool name";
const HOLD_TAG: &str = "hold tag";
const USER_PROPERTY: &str = "user property name";
const JOB_ID: &str = "job id";

/// Why a name was rejected. Every variant names what was checked (`kind`, e.g. `"dataset name"`) and, except
/// for [`NameError::Empty`], the offending name; the messages say which rule failed and what is allowed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NameError {
    /// The name is the empty string.
    #[error("invalid {kind} \"\": must not be empty")]
    Empty {
        /// What was checked, e.g. `"hold tag"`.
        kind: &'static str,
    },
    /// The name (or, for `kind == "pool name"`, the pool part) is longer than ZFS allows.
    #[error("invalid {kind} {name:?}: it is {len} bytes long, but at most {max} bytes are allowed")]
    TooLong {
        /// What was checked.
        kind: &'static str,
        /// The offending name.
        name: String,
        /// Its length in bytes.
        len: usize,
        /// The longest allowed length in bytes.
        max: usize,
    },
    /// The name contains a character that is not allowed (this includes `%`, `/` or `@` inside a short name,
    /// non-ASCII characters and control characters).
    #[error("invalid {kind} {name:?}: character '{}' is not allowed (allowed: {allowed})", .ch.escape_debug())]
    InvalidChar {
        /// What was checked.
        kind: &'static str,
        /// The offending name.
        name: String,
        /// The first character that is not allowed.
        ch: char,
        /// Human-readable description of the allowed characters.
        allowed: &'static str,
    },
    /// A `/`-separated component, the part before `@`/`#` or the part after it is empty.
    #[error("invalid {kind} {name:?}: contains an empty component (no \"//\", and the parts before and after '@' or '#' must not be empty)")]
    EmptyComponent {
        /// What was checked.
        kind: &'static str,
        /// The offending name.
        name: String,
    },
    /// The name begins with `/` (dataset names are not paths).
    #[error("invalid {kind} {name:?}: must not begin with '/' (dataset names start with the pool name)")]
    LeadingSlash {
        /// What was checked.
        kind: &'static str,
        /// The offending name.
        name: String,
    },
    /// The dataset part ends with `/`.
    #[error("invalid {kind} {name:?}: must not end with '/'")]
    TrailingSlash {
        /// What was checked.
        kind: &'static str,
        /// The offending name.
        name: String,
    },
    /// A component is `.` or `..`.
    #[error("invalid {kind} {name:?}: a component must not be {component:?}")]
    DotComponent {
        /// What was checked.
        kind: &'static str,
        /// The offending name.
        name: String,
        /// `"."` or `".."`.
        component: &'static str,
    },
    /// The name contains more than one `@`/`#` delimiter.
    #[error("invalid {kind} {name:?}: contains more than one '@' or '#' (a name has at most one snapshot or bookmark delimiter)")]
    MultipleDelimiters {
        /// What was checked.
        kind: &'static str,
        /// The offending name.
        name: String,
    },
    /// A snapshot name without `@` or a bookmark name without `#`.
    #[error("invalid {kind} {name:?}: missing '{delim}' (expected dataset{delim}name)")]
    MissingDelimiter {
        /// What was checked.
        kind: &'static str,
        /// The offending name.
        name: String,
        /// The delimiter that was expected.
        delim: char,
    },
    /// A delimiter of the wrong kind: `@` or `#` in a dataset name, `#` in a snapshot name, `@` in a bookmark
    /// name.
    #[error(
        "invalid {kind} {name:?}: must not contain '{delim}' ('@' introduces a snapshot name, '#' a bookmark name)"
    )]
    UnexpectedDelimiter {
        /// What was checked.
        kind: &'static str,
        /// The offending name.
        name: String,
        /// The delimiter that was found.
        delim: char,
    },
    /// The pool name does not begin with a letter.
    #[error("invalid {kind} {name:?}: the pool name {pool:?} must begin with a letter")]
    PoolNoLetter {
        /// What was checked.
        kind: &'static str,
        /// The offending name.
        name: String,
        /// Its pool part.
        pool: String,
    },
    /// The pool name is a reserved word (see [`RESERVED_POOL_NAMES`]).
    #[error(
        "invalid {kind} {name:?}: the pool name {pool:?} is reserved (reserved: mirror, raidz, draid, spare, log)"
    )]
    ReservedPoolName {
        /// What was checked.
        kind: &'static str,
        /// The offending name.
        name: String,
        /// Its pool part.
        pool: String,
    },
    /// A user property name without `:`.
    #[error("invalid {kind} {name:?}: must contain ':' (user properties have the form module:property, e.g. \"zrepl:placeholder\")")]
    MissingColon {
        /// What was checked.
        kind: &'static str,
        /// The offending name.
        name: String,
    },
    /// A user property name that begins with `-`.
    #[error("invalid {kind} {name:?}: must not begin with '-'")]
    LeadingDash {
        /// What was checked.
        kind: &'static str,
        /// The offending name.
        name: String,
    },
}

/// Whether `c` may appear in a dataset, snapshot or bookmark component (`valid_char` in zfs_namecheck.c).
fn is_name_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | ':' | ' ')
}

/// Whether `c` may appear in a user property name (`zprop_valid_char` in zprop_common.c).
fn is_property_char(c: char) -> bool {
    c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '-' | '_' | '.' | ':')
}

/// Rejects names longer than `max` bytes.
fn check_len(kind: &'static str, name: &str, max: usize) -> Result<(), NameError> {
    if name.len() > max {
        return Err(NameError::TooLong {
            kind,
            name: name.to_string(),
            len: name.len(),
            max,
        });
    }
    Ok(())
}

/// Checks one component `part` of `report` (the whole name, quoted in errors): non-empty, only
/// [`is_name_char`] characters, not `.` or `..`.
fn check_part(kind: &'static str, report: &str, part: &str) -> Result<(), NameError> {
    if part.is_empty() {
        return Err(NameError::EmptyComponent {
            kind,
            name: report.to_string(),
        });
    }
    if let Some(ch) = part.chars().find(|&c| !is_name_char(c)) {
        return Err(NameError::InvalidChar {
            kind,
            name: report.to_string(),
            ch,
            allowed: ALLOWED_NAME_CHARS,
        });
    }
    let component = match part {
        "." => ".",
        ".." => "..",
        _ => return Ok(()),
    };
    Err(NameError::DotComponent {
        kind,
        name: report.to_string(),
        component,
    })
}

/// Checks the dataset part `path` (no `@`/`#`) of `report`: slashes, components and pool rules.
fn check_dataset_path(kind: &'static str, report: &str, path: &str) -> Result<(), NameError> {
    if path.starts_with('/') {
        return Err(NameError::LeadingSlash {
            kind,
            name: report.to_string(),
        });
    }
    if path.ends_with('/') {
        return Err(NameError::TrailingSlash {
            kind,
            name: report.to_string(),
        });
    }
    for part in path.split('/') {
        check_part(kind, report, part)?;
    }
    let pool = path.split('/').next().unwrap_or_default();
    if !pool.starts_with(|c: char| c.is_ascii_alphabetic()) {
        return Err(NameError::PoolNoLetter {
            kind,
            name: report.to_string(),
            pool: pool.to_string(),
        });
    }
    if RESERVED_POOL_NAMES.contains(&pool) {
        return Err(NameError::ReservedPoolName {
            kind,
            name: report.to_string(),
            pool: pool.to_string(),
        });
    }
    check_len(POOL, pool, MAX_POOL_NAME_LEN)
}

/// Validates a full snapshot (`delim == '@'`) or bookmark (`delim == '#'`) name and returns the byte
/// position of the delimiter.
fn check_entity(kind: &'static str, name: &str, delim: char) -> Result<usize, NameError> {
    if name.is_empty() {
        return Err(NameError::Empty { kind });
    }
    check_len(kind, name, MAX_NAME_LEN)?;
    let mut found: Option<(usize, char)> = None;
    for (i, c) in name.char_indices() {
        if c == '@' || c == '#' {
            if found.is_some() {
                return Err(NameError::MultipleDelimiters {
                    kind,
                    name: name.to_string(),
                });
            }
            found = Some((i, c));
        }
    }
    match found {
        None => Err(NameError::MissingDelimiter {
            kind,
            name: name.to_string(),
            delim,
        }),
        Some((_, c)) if c != delim => Err(NameError::UnexpectedDelimiter {
            kind,
            name: name.to_string(),
            delim: c,
        }),
        Some((pos, _)) => {
            let (dataset, short) = (&name[..pos], &name[pos + 1..]);
            if dataset.is_empty() {
                return Err(NameError::EmptyComponent {
                    kind,
                    name: name.to_string(),
                });
            }
            check_dataset_path(kind, name, dataset)?;
            check_part(kind, name, short)?;
            Ok(pos)
        }
    }
}

/// Checks a single name component: a snapshot or bookmark short name (the part after `@`/`#`), one
/// `/`-separated dataset component, or a job id. `kind` names what is checked in the error, e.g.
/// `"snapshot name"`.
///
/// The component must be non-empty, at most [`MAX_NAME_LEN`] bytes, consist of ASCII letters, digits, `-`,
/// `_`, `.`, `:` and space (so `/`, `@`, `#` and `%` are rejected) and must not be `.` or `..`.
pub fn check_component(kind: &'static str, s: &str) -> Result<(), NameError> {
    if s.is_empty() {
        return Err(NameError::Empty { kind });
    }
    check_len(kind, s, MAX_NAME_LEN)?;
    check_part(kind, s, s)
}

/// Checks a `zfs hold` tag: non-empty and at most [`MAX_HOLD_TAG_LEN`] bytes, which is all OpenZFS enforces.
///
/// zreplrs additionally rejects control characters (NUL, tab, newline, …): `zfs holds -H` separates its
/// output with tabs and newlines, so such a tag could not be read back reliably, and NUL cannot be passed
/// as a command-line argument at all.
pub fn check_hold_tag(tag: &str) -> Result<(), NameError> {
    if tag.is_empty() {
        return Err(NameError::Empty { kind: HOLD_TAG });
    }
    check_len(HOLD_TAG, tag, MAX_HOLD_TAG_LEN)?;
    if let Some(ch) = tag.chars().find(|c| c.is_control()) {
        return Err(NameError::InvalidChar {
            kind: HOLD_TAG,
            name: tag.to_string(),
            ch,
            allowed: ALLOWED_TAG_CHARS,
        });
    }
    Ok(())
}

/// Checks a user property name such as `zrepl:placeholder` (`zfs_prop_user`): at most
/// [`MAX_USER_PROPERTY_LEN`] bytes, only lowercase ASCII letters, digits, `-`, `_`, `.` and `:`, at least one
/// `:`, and no leading `-` (zfsprops(7); `zfs` would take it for an option).
pub fn check_user_property(name: &str) -> Result<(), NameError> {
    if name.is_empty() {
        return Err(NameError::Empty { kind: USER_PROPERTY });
    }
    check_len(USER_PROPERTY, name, MAX_USER_PROPERTY_LEN)?;
    if let Some(ch) = name.chars().find(|&c| !is_property_char(c)) {
        return Err(NameError::InvalidChar {
            kind: USER_PROPERTY,
            name: name.to_string(),
            ch,
            allowed: ALLOWED_PROPERTY_CHARS,
        });
    }
    if name.starts_with('-') {
        return Err(NameError::LeadingDash {
            kind: USER_PROPERTY,
            name: name.to_string(),
        });
    }
    if !name.contains(':') {
        return Err(NameError::MissingColon {
            kind: USER_PROPERTY,
            name: name.to_string(),
        });
    }
    Ok(())
}

/// Implements `Display`, `FromStr`, `TryFrom<String>`, `From<T> for String` and `AsRef<str>` for a name type
/// with an `as_str` method, a `new(&str)` constructor and a `String`-convertible inner representation.
macro_rules! string_conversions {
    ($ty:ident, $inner:tt) => {
        impl fmt::Display for $ty {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl FromStr for $ty {
            type Err = NameError;

            fn from_str(s: &str) -> Result<Self, Self::Err> {
                Self::new(s)
            }
        }

        impl TryFrom<String> for $ty {
            type Error = NameError;

            fn try_from(s: String) -> Result<Self, Self::Error> {
                Self::new(&s)
            }
        }

        impl From<$ty> for String {
            fn from(n: $ty) -> String {
                n.$inner
            }
        }

        impl AsRef<str> for $ty {
            fn as_ref(&self) -> &str {
                self.as_str()
            }
        }
    };
}

/// A validated filesystem/volume name like "pool/a/b" (no @ or #).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct DatasetName(String);

impl DatasetName {
    /// Validates `s` as a filesystem or volume name (`dataset_namecheck` without `@`, plus `pool_namecheck`
    /// on the first component and without the internal `%`).
    pub fn new(s: &str) -> Result<Self, NameError> {
        if s.is_empty() {
            return Err(NameError::Empty { kind: DATASET });
        }
        check_len(DATASET, s, MAX_NAME_LEN)?;
        if let Some(delim) = s.chars().find(|&c| c == '@' || c == '#') {
            return Err(NameError::UnexpectedDelimiter {
                kind: DATASET,
                name: s.to_string(),
                delim,
            });
        }
        check_dataset_path(DATASET, s, s)?;
        Ok(DatasetName(s.to_string()))
    }

    /// The name as a string slice.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The pool, i.e. the first component.
    pub fn pool(&self) -> &str {
        match self.0.split_once('/') {
            Some((pool, _)) => pool,
            None => &self.0,
        }
    }

    /// The parent dataset, or `None` for a pool's root dataset.
    pub fn parent(&self) -> Option<DatasetName> {
        // A prefix of a valid name that ends before a '/' is itself valid (same pool, shorter).
        self.0
            .rsplit_once('/')
            .map(|(parent, _)| DatasetName(parent.to_string()))
    }

    /// The descendant `self/rel`; `rel` may contain several components ("a/b").
    pub fn child(&self, rel: &str) -> Result<DatasetName, NameError> {
        DatasetName::new(&format!("{}/{}", self.0, rel))
    }

    /// Whether `self` is a proper descendant of `ancestor` ("pool/a/b" is below "pool/a"; "pool/ab" and
    /// "pool/a" itself are not).
    pub fn is_strictly_below(&self, ancestor: &DatasetName) -> bool {
        matches!(self.strip_prefix(ancestor), Some(rel) if !rel.is_empty())
    }

    /// The path of `self` relative to `ancestor` without a leading '/': `Some("")` if they are equal,
    /// `None` if `self` is not `ancestor` or below it.
    pub fn strip_prefix(&self, ancestor: &DatasetName) -> Option<&str> {
        match self.0.strip_prefix(ancestor.as_str())? {
            "" => Some(""),
            rest => rest.strip_prefix('/'),
        }
    }

    /// The snapshot `self@short`.
    pub fn snapshot(&self, short: &str) -> Result<SnapshotName, NameError> {
        SnapshotName::new(&format!("{}@{}", self.0, short))
    }

    /// The bookmark `self#short`.
    pub fn bookmark(&self, short: &str) -> Result<BookmarkName, NameError> {
        BookmarkName::new(&format!("{}#{}", self.0, short))
    }

    /// Nesting depth: the number of '/' (0 for a pool's root dataset).
    pub fn depth(&self) -> usize {
        self.0.bytes().filter(|&b| b == b'/').count()
    }
}

string_conversions!(DatasetName, 0);

/// A validated snapshot name like "pool/fs@snap".
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct SnapshotName {
    /// The full name.
    name: String,
    /// Byte position of the '@'.
    at: usize,
}

impl SnapshotName {
    /// Validates a full snapshot name (`snapshot_namecheck` without the internal `%`).
    ///
    /// Stricter than OpenZFS in one corner: the part before `@` must be a valid [`DatasetName`] on its own,
    /// so "pool/..@snap" (which `entity_namecheck` lets through) is rejected.
    pub fn new(s: &str) -> Result<Self, NameError> {
        let at = check_entity(SNAPSHOT, s, '@')?;
        Ok(SnapshotName {
            name: s.to_string(),
            at,
        })
    }

    /// The full name as a string slice.
    pub fn as_str(&self) -> &str {
        &self.name
    }

    /// The dataset the snapshot belongs to.
    pub fn dataset(&self) -> DatasetName {
        DatasetName(self.name[..self.at].to_string())
    }

    /// The short name: the part after '@'.
    pub fn short(&self) -> &str {
        &self.name[self.at + 1..]
    }
}

string_conversions!(SnapshotName, name);

/// A validated bookmark name like "pool/fs#bmark".
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct BookmarkName {
    /// The full name.
    name: String,
    /// Byte position of the '#'.
    hash: usize,
}

impl BookmarkName {
    /// Validates a full bookmark name (`bookmark_namecheck` without the internal `%`; the part before `#`
    /// must be a valid [`DatasetName`]).
    pub fn new(s: &str) -> Result<Self, NameError> {
        let hash = check_entity(BOOKMARK, s, '#')?;
        Ok(BookmarkName {
            name: s.to_string(),
            hash,
        })
    }

    /// The full name as a string slice.
    pub fn as_str(&self) -> &str {
        &self.name
    }

    /// The dataset the bookmark belongs to.
    pub fn dataset(&self) -> DatasetName {
        DatasetName(self.name[..self.hash].to_string())
    }

    /// The short name: the part after '#'.
    pub fn short(&self) -> &str {
        &self.name[self.hash + 1..]
    }
}

string_conversions!(BookmarkName, name);

/// A validated job id. zreplrs builds bookmark names and hold tags from it (zrepl-compatible), and uses it as
/// a lock file name and a metrics label.
///
/// A job id is valid if it is non-empty, at most [`MAX_JOB_ID_LEN`] bytes, a valid single name component
/// (see [`check_component`]: ASCII letters, digits, `-`, `_`, `.`, `:`, space; not `.` or `..`), and every
/// name derived from it is valid: the cursor and tentative cursor bookmark short names and the step and
/// last-received hold tags. Nothing beyond the ZFS rules is required.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct JobId(String);

/// All rules of [`JobId::new`].
fn check_job_id(s: &str) -> Result<(), NameError> {
    if s.is_empty() {
        return Err(NameError::Empty { kind: JOB_ID });
    }
    check_len(JOB_ID, s, MAX_JOB_ID_LEN)?;
    check_component(JOB_ID, s)?;
    // Implied by the rules above; checked anyway so that the guarantee cannot silently break.
    check_component(BOOKMARK, &cursor_short(0, s))?;
    check_component(BOOKMARK, &tentative_cursor_short(0, s))?;
    check_hold_tag(&format!("{STEP_HOLD_PREFIX}{s}"))?;
    check_hold_tag(&format!("{LAST_RECEIVED_HOLD_PREFIX}{s}"))
}

fn cursor_short(guid: u64, job: &str) -> String {
    format!("{CURSOR_PREFIX}{guid:016x}{JOB_SEPARATOR}{job}")
}

fn tentative_cursor_short(guid: u64, job: &str) -> String {
    format!("{TENTATIVE_CURSOR_PREFIX}{guid:016x}{JOB_SEPARATOR}{job}")
}

impl JobId {
    /// Validates `s` as a job id (see [`JobId`]).
    pub fn new(s: &str) -> Result<Self, NameError> {
        check_job_id(s)?;
        Ok(JobId(s.to_string()))
    }

    /// The job id as a string slice.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Hold tag on the snapshot a step is sending: `zrepl_STEP_J_<job>`.
    pub fn step_hold_tag(&self) -> String {
        format!("{STEP_HOLD_PREFIX}{}", self.0)
    }

    /// Hold tag on the most recently received snapshot: `zrepl_last_received_J_<job>`.
    pub fn last_received_hold_tag(&self) -> String {
        format!("{LAST_RECEIVED_HOLD_PREFIX}{}", self.0)
    }

    /// Replication cursor bookmark short name: `zrepl_CURSOR_G_<guid as 16 lowercase hex>_J_<job>`.
    pub fn cursor_bookmark_short(&self, guid: u64) -> String {
        cursor_short(guid, &self.0)
    }

    /// Tentative replication cursor bookmark short name: `zrepl_CURSORTENTATIVE__G_<16 hex>_J_<job>`.
    pub fn tentative_cursor_short(&self, guid: u64) -> String {
        tentative_cursor_short(guid, &self.0)
    }

    /// The user property on a sender filesystem that holds this job's sync record (see `src/synced.rs`):
    /// `zreplrs:synced:<job>` when the job id is valid in a user property name (lowercase letters, digits,
    /// `-`, `_`, `.`, `:`), else `zreplrs:synced-x:<job id in lowercase hex>`; the two forms cannot collide.
    /// `None` when the name would be longer than ZFS allows (the job then lists every snapshot each run).
    pub fn sync_record_property(&self) -> Option<String> {
        let plain = self
            .0
            .bytes()
            .all(|b| matches!(b, b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b':'));
        let name = if plain {
            format!("zreplrs:synced:{}", self.0)
        } else {
            let hex: String = self.0.bytes().map(|b| format!("{b:02x}")).collect();
            format!("zreplrs:synced-x:{hex}")
        };
        (name.len() <= MAX_USER_PROPERTY_NAME_LEN).then_some(name)
    }
}

/// The longest user property name ZFS accepts (`ZAP_MAXNAMELEN` - 1).
const MAX_USER_PROPERTY_NAME_LEN: usize = 255;

string_conversions!(JobId, 0);

/// Parses `<prefix><16 lowercase hex>_J_<job id>`; the job id must be a valid [`JobId`].
fn parse_guid_and_job<'a>(short: &'a str, prefix: &str) -> Option<(u64, &'a str)> {
    let rest = short.strip_prefix(prefix)?;
    let hex = rest.get(..GUID_HEX_LEN)?;
    if !hex.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')) {
        return None;
    }
    let guid = u64::from_str_radix(hex, 16).ok()?;
    let job = rest.get(GUID_HEX_LEN..)?.strip_prefix(JOB_SEPARATOR)?;
    check_job_id(job).ok()?;
    Some((guid, job))
}

/// Parses a bookmark short name back: Some((guid, jobid_str)) when it is a v2 cursor
/// (`zrepl_CURSOR_G_<16 lowercase hex>_J_<job id>` with a valid job id). The v1 cursor
/// [`V1_CURSOR_SHORT`] and tentative cursors give `None`.
///
/// The guid is always the 16 characters after the prefix, so job ids that themselves contain `_G_` or
/// `_J_` round-trip (zrepl's greedy regular expression would misparse those).
pub fn parse_cursor_short(short: &str) -> Option<(u64, &str)> {
    parse_guid_and_job(short, CURSOR_PREFIX)
}

/// Parses a tentative cursor bookmark short name back: Some((guid, jobid_str)) for
/// `zrepl_CURSORTENTATIVE__G_<16 lowercase hex>_J_<job id>` with a valid job id.
pub fn parse_tentative_cursor_short(short: &str) -> Option<(u64, &str)> {
    parse_guid_and_job(short, TENTATIVE_CURSOR_PREFIX)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ds(s: &str) -> DatasetName {
        DatasetName::new(s).unwrap()
    }

    fn ds_err(s: &str) -> NameError {
        DatasetName::new(s).unwrap_err()
    }

    #[test]
    fn valid_dataset_names() {
        for s in [
            "pool",
            "pool/a",
            "pool/a/b/c",
            "Pool",
            "p",
            "pool/a b",
            "pool/ leading space",
            "pool/trailing space ",
            "pool/a-b_c.d:e",
            "pool/...",
            "pool/.hidden",
            "pool/..x",
            "pool/0",
            "my pool/x",
            "mirrorpool",
            "mirror2/x",
            "spares",
            "raidz2",
            "logs",
            "c0t0d0",
            "MIRROR",
        ] {
            let d = DatasetName::new(s).unwrap_or_else(|e| panic!("{s:?} should be valid: {e}"));
            assert_eq!(d.as_str(), s);
        }
    }

    #[test]
    fn dataset_empty() {
        assert_eq!(ds_err(""), NameError::Empty { kind: "dataset name" });
    }

    #[test]
    fn dataset_delimiters_rejected() {
        assert!(matches!(
            ds_err("pool/a@snap"),
            NameError::UnexpectedDelimiter { delim: '@', .. }
        ));
        assert!(matches!(
            ds_err("pool/a#bm"),
            NameError::UnexpectedDelimiter { delim: '#', .. }
        ));
        assert!(matches!(
            ds_err("pool@"),
            NameError::UnexpectedDelimiter { delim: '@', .. }
        ));
    }

    #[test]
    fn dataset_percent_rejected_with_message() {
        let e = ds_err("pool/a b%");
        assert_eq!(
            e,
            NameError::InvalidChar {
                kind: "dataset name",
                name: "pool/a b%".into(),
                ch: '%',
                allowed: ALLOWED_NAME_CHARS
            }
        );
        assert_eq!(
            e.to_string(),
            "invalid dataset name \"pool/a b%\": character '%' is not allowed \
             (allowed: letters, digits, - _ . : and space)"
        );
        assert!(matches!(ds_err("pool/%recv"), NameError::InvalidChar { ch: '%', .. }));
    }

    #[test]
    fn dataset_slashes() {
        assert!(matches!(ds_err("/pool"), NameError::LeadingSlash { .. }));
        assert!(matches!(ds_err("/"), NameError::LeadingSlash { .. }));
        assert!(matches!(ds_err("pool/"), NameError::TrailingSlash { .. }));
        assert!(matches!(ds_err("pool/a/"), NameError::TrailingSlash { .. }));
        assert!(matches!(ds_err("pool//a"), NameError::EmptyComponent { .. }));
        assert!(matches!(ds_err("pool/a//b"), NameError::EmptyComponent { .. }));
    }

    #[test]
    fn dataset_dot_components() {
        assert_eq!(
            ds_err("pool/."),
            NameError::DotComponent {
                kind: "dataset name",
                name: "pool/.".into(),
                component: "."
            }
        );
        assert!(matches!(
            ds_err("pool/../x"),
            NameError::DotComponent { component: "..", .. }
        ));
        assert!(matches!(
            ds_err("pool/a/.."),
            NameError::DotComponent { component: "..", .. }
        ));
        // "." / ".." as pool: fails the component rule before the pool-letter rule.
        assert!(matches!(ds_err(".."), NameError::DotComponent { component: "..", .. }));
    }

    #[test]
    fn dataset_length_limit() {
        let ok = format!("pool/{}", "a".repeat(250));
        assert_eq!(ok.len(), 255);
        assert!(DatasetName::new(&ok).is_ok());
        let long = format!("pool/{}", "a".repeat(251));
        assert_eq!(long.len(), 256);
        assert_eq!(
            ds_err(&long),
            NameError::TooLong {
                kind: "dataset name",
                name: long.clone(),
                len: 256,
                max: 255
            }
        );
        // Many components: only the total counts.
        let deep = format!("pool{}", "/a".repeat(125));
        assert_eq!(deep.len(), 254);
        assert_eq!(ds(&deep).depth(), 125);
    }

    #[test]
    fn pool_length_limit() {
        let pool_ok = format!("p{}", "o".repeat(MAX_POOL_NAME_LEN - 1));
        assert_eq!(pool_ok.len(), 239);
        assert!(DatasetName::new(&pool_ok).is_ok());
        let pool_long = format!("{pool_ok}o");
        assert!(matches!(
            ds_err(&format!("{pool_long}/x")),
            NameError::TooLong {
                kind: "pool name",
                len: 240,
                max: 239,
                ..
            }
        ));
    }

    #[test]
    fn dataset_bad_characters() {
        assert!(matches!(ds_err("pool/ä"), NameError::InvalidChar { ch: 'ä', .. }));
        assert!(matches!(ds_err("pool/a\0b"), NameError::InvalidChar { ch: '\0', .. }));
        assert!(matches!(ds_err("pool/a\tb"), NameError::InvalidChar { ch: '\t', .. }));
        assert!(matches!(ds_err("pool/a\nb"), NameError::InvalidChar { ch: '\n', .. }));
        assert!(matches!(
            ds_err("pool/a\u{7f}"),
            NameError::InvalidChar { ch: '\u{7f}', .. }
        ));
        for c in ['*', '?', '!', '$', '+', '=', ',', '\'', '"', '\\', '~', '|', '&', ';'] {
            let name = format!("pool/a{c}");
            assert!(
                matches!(ds_err(&name), NameError::InvalidChar { ch, .. } if ch == c),
                "{name:?}"
            );
        }
        // Control characters are escaped in the message.
        let msg = ds_err("pool/a\0b").to_string();
        assert!(msg.contains("character '\\0'"), "{msg}");
        assert!(msg.contains("\"pool/a\\0b\""), "{msg}");
    }

    #[test]
    fn pool_rules() {
        assert_eq!(
            ds_err("1pool/a"),
            NameError::PoolNoLetter {
                kind: "dataset name",
                name: "1pool/a".into(),
                pool: "1pool".into()
            }
        );
        assert!(matches!(ds_err("_pool"), NameError::PoolNoLetter { .. }));
        assert!(matches!(ds_err(" pool"), NameError::PoolNoLetter { .. }));
        assert!(matches!(ds_err("-pool"), NameError::PoolNoLetter { .. }));
        assert!(matches!(ds_err(".pool"), NameError::PoolNoLetter { .. }));
        for reserved in RESERVED_POOL_NAMES {
            assert!(
                matches!(ds_err(reserved), NameError::ReservedPoolName { ref pool, .. } if pool == reserved),
                "{reserved}"
            );
            let child = format!("{reserved}/x");
            assert!(matches!(ds_err(&child), NameError::ReservedPoolName { .. }), "{child}");
        }
        // Reserved words below the pool are fine.
        assert!(DatasetName::new("pool/mirror/log/spare").is_ok());
    }

    #[test]
    fn dataset_accessors() {
        let d = ds("pool/a/b");
        assert_eq!(d.pool(), "pool");
        assert_eq!(ds("pool").pool(), "pool");
        assert_eq!(d.depth(), 2);
        assert_eq!(ds("pool").depth(), 0);
        assert_eq!(d.parent(), Some(ds("pool/a")));
        assert_eq!(ds("pool/a").parent(), Some(ds("pool")));
        assert_eq!(ds("pool").parent(), None);
        assert_eq!(d.to_string(), "pool/a/b");
        assert_eq!(d.as_ref(), "pool/a/b");
        assert_eq!(String::from(d.clone()), "pool/a/b");
        assert_eq!("pool/a/b".parse::<DatasetName>().unwrap(), d);
        assert_eq!(DatasetName::try_from("pool/a/b".to_string()).unwrap(), d);
        assert!("pool/".parse::<DatasetName>().is_err());
    }

    #[test]
    fn dataset_child() {
        let p = ds("pool/a");
        assert_eq!(p.child("b").unwrap(), ds("pool/a/b"));
        assert_eq!(p.child("b/c d").unwrap(), ds("pool/a/b/c d"));
        assert!(matches!(p.child(""), Err(NameError::TrailingSlash { .. })));
        assert!(matches!(p.child("/b"), Err(NameError::EmptyComponent { .. })));
        assert!(matches!(p.child("b/"), Err(NameError::TrailingSlash { .. })));
        assert!(matches!(p.child(".."), Err(NameError::DotComponent { .. })));
        assert!(matches!(
            p.child("b@s"),
            Err(NameError::UnexpectedDelimiter { delim: '@', .. })
        ));
        assert!(matches!(p.child(&"x".repeat(250)), Err(NameError::TooLong { .. })));
    }

    #[test]
    fn strictly_below_and_strip_prefix() {
        let a = ds("pool/a");
        assert!(ds("pool/a/b").is_strictly_below(&a));
        assert!(ds("pool/a/b/c").is_strictly_below(&a));
        assert!(!ds("pool/ab").is_strictly_below(&a));
        assert!(!ds("pool/a").is_strictly_below(&a));
        assert!(!ds("pool").is_strictly_below(&a));
        assert!(!ds("other/a/b").is_strictly_below(&a));
        assert!(ds("pool/a").is_strictly_below(&ds("pool")));
        assert!(!ds("pool2/a").is_strictly_below(&ds("pool")));

        assert_eq!(ds("pool/a/b/c").strip_prefix(&a), Some("b/c"));
        assert_eq!(ds("pool/a/b").strip_prefix(&a), Some("b"));
        assert_eq!(ds("pool/a").strip_prefix(&a), Some(""));
        assert_eq!(ds("pool/ab").strip_prefix(&a), None);
        assert_eq!(ds("pool").strip_prefix(&a), None);
        assert_eq!(ds("pool/a/b").strip_prefix(&ds("pool")), Some("a/b"));
    }

    #[test]
    fn dataset_ordering_and_serde() {
        let mut v = vec![ds("pool/b"), ds("pool/a/x"), ds("pool/a"), ds("pool")];
        v.sort();
        assert_eq!(v, vec![ds("pool"), ds("pool/a"), ds("pool/a/x"), ds("pool/b")]);
        let json = serde_json::to_string(&ds("pool/a b")).unwrap();
        assert_eq!(json, "\"pool/a b\"");
        assert_eq!(serde_json::from_str::<DatasetName>(&json).unwrap(), ds("pool/a b"));
        let err = serde_json::from_str::<DatasetName>("\"pool//a\"").unwrap_err();
        assert!(err.to_string().contains("empty component"), "{err}");
    }

    #[test]
    fn snapshot_names() {
        let s = SnapshotName::new("pool/fs@snap 1").unwrap();
        assert_eq!(s.as_str(), "pool/fs@snap 1");
        assert_eq!(s.dataset(), ds("pool/fs"));
        assert_eq!(s.short(), "snap 1");
        assert_eq!(s.to_string(), "pool/fs@snap 1");
        assert_eq!(ds("pool/fs").snapshot("snap 1").unwrap(), s);
        assert_eq!("pool@x".parse::<SnapshotName>().unwrap().dataset(), ds("pool"));
        assert_eq!(String::from(s.clone()), "pool/fs@snap 1");

        assert_eq!(SnapshotName::new(""), Err(NameError::Empty { kind: "snapshot name" }));
        assert!(matches!(
            SnapshotName::new("pool/fs"),
            Err(NameError::MissingDelimiter { delim: '@', .. })
        ));
        assert!(matches!(
            SnapshotName::new("pool@a@b"),
            Err(NameError::MultipleDelimiters { .. })
        ));
        assert!(matches!(
            SnapshotName::new("pool@@a"),
            Err(NameError::MultipleDelimiters { .. })
        ));
        assert!(matches!(
            SnapshotName::new("pool@a#b"),
            Err(NameError::MultipleDelimiters { .. })
        ));
        assert!(matches!(
            SnapshotName::new("pool#a"),
            Err(NameError::UnexpectedDelimiter { delim: '#', .. })
        ));
        assert!(matches!(
            SnapshotName::new("pool@"),
            Err(NameError::EmptyComponent { .. })
        ));
        assert!(matches!(
            SnapshotName::new("@snap"),
            Err(NameError::EmptyComponent { .. })
        ));
        assert!(matches!(
            SnapshotName::new("pool/@snap"),
            Err(NameError::TrailingSlash { .. })
        ));
        assert!(matches!(
            SnapshotName::new("/pool@snap"),
            Err(NameError::LeadingSlash { .. })
        ));
        assert!(matches!(
            SnapshotName::new("pool@a/b"),
            Err(NameError::InvalidChar { ch: '/', .. })
        ));
        assert!(matches!(
            SnapshotName::new("pool@a%"),
            Err(NameError::InvalidChar { ch: '%', .. })
        ));
        assert!(matches!(
            SnapshotName::new("pool@."),
            Err(NameError::DotComponent { component: ".", .. })
        ));
        assert!(matches!(
            SnapshotName::new("pool@.."),
            Err(NameError::DotComponent { component: "..", .. })
        ));
        assert!(matches!(
            SnapshotName::new("pool/..@s"),
            Err(NameError::DotComponent { .. })
        ));
        assert!(matches!(
            SnapshotName::new("1pool@s"),
            Err(NameError::PoolNoLetter { .. })
        ));
        assert!(matches!(
            SnapshotName::new("mirror@s"),
            Err(NameError::ReservedPoolName { .. })
        ));
        assert!(SnapshotName::new("pool@...").is_ok());

        let ok = format!("pool@{}", "s".repeat(250));
        assert_eq!(ok.len(), 255);
        assert!(SnapshotName::new(&ok).is_ok());
        let long = format!("{ok}s");
        assert!(matches!(
            SnapshotName::new(&long),
            Err(NameError::TooLong { len: 256, max: 255, .. })
        ));
        assert!(matches!(
            ds("pool").snapshot(&"s".repeat(251)),
            Err(NameError::TooLong { .. })
        ));
        assert!(matches!(
            ds("pool/fs").snapshot("a@b"),
            Err(NameError::MultipleDelimiters { .. })
        ));
        assert!(matches!(
            ds("pool/fs").snapshot(""),
            Err(NameError::EmptyComponent { .. })
        ));

        let json = serde_json::to_string(&s).unwrap();
        assert_eq!(json, "\"pool/fs@snap 1\"");
        assert_eq!(serde_json::from_str::<SnapshotName>(&json).unwrap(), s);
        assert!(serde_json::from_str::<SnapshotName>("\"pool/fs#b\"").is_err());
    }

    #[test]
    fn bookmark_names() {
        let b = BookmarkName::new("pool/fs#mark").unwrap();
        assert_eq!(b.dataset(), ds("pool/fs"));
        assert_eq!(b.short(), "mark");
        assert_eq!(b.as_str(), "pool/fs#mark");
        assert_eq!(ds("pool/fs").bookmark("mark").unwrap(), b);
        assert_eq!("pool/fs#mark".parse::<BookmarkName>().unwrap(), b);

        assert!(matches!(
            BookmarkName::new("pool/fs@snap"),
            Err(NameError::UnexpectedDelimiter { delim: '@', .. })
        ));
        assert!(matches!(
            BookmarkName::new("pool/fs#a@b"),
            Err(NameError::MultipleDelimiters { .. })
        ));
        assert!(matches!(
            BookmarkName::new("pool/fs@a#b"),
            Err(NameError::MultipleDelimiters { .. })
        ));
        assert!(matches!(
            BookmarkName::new("pool/fs#a#b"),
            Err(NameError::MultipleDelimiters { .. })
        ));
        assert!(matches!(
            BookmarkName::new("pool/fs"),
            Err(NameError::MissingDelimiter { delim: '#', .. })
        ));
        assert!(matches!(
            BookmarkName::new("pool/fs#"),
            Err(NameError::EmptyComponent { .. })
        ));
        assert!(matches!(BookmarkName::new("#b"), Err(NameError::EmptyComponent { .. })));
        assert!(matches!(
            ds("pool").bookmark("a@b"),
            Err(NameError::MultipleDelimiters { .. })
        ));
        assert!(matches!(
            ds("pool").bookmark("a/b"),
            Err(NameError::InvalidChar { ch: '/', .. })
        ));

        let json = serde_json::to_string(&b).unwrap();
        assert_eq!(serde_json::from_str::<BookmarkName>(&json).unwrap(), b);
    }

    #[test]
    fn component_check() {
        assert!(check_component("snapshot name", "zrepl_20240101_000000_000").is_ok());
        assert!(check_component("snapshot name", "a b:c.d-e").is_ok());
        assert_eq!(
            check_component("snapshot name", ""),
            Err(NameError::Empty { kind: "snapshot name" })
        );
        assert!(matches!(
            check_component("snapshot name", "a@b"),
            Err(NameError::InvalidChar { ch: '@', .. })
        ));
        assert!(matches!(
            check_component("snapshot name", "a#b"),
            Err(NameError::InvalidChar { ch: '#', .. })
        ));
        assert!(matches!(
            check_component("snapshot name", "a/b"),
            Err(NameError::InvalidChar { ch: '/', .. })
        ));
        assert!(matches!(
            check_component("snapshot name", "a%b"),
            Err(NameError::InvalidChar { ch: '%', .. })
        ));
        assert!(matches!(
            check_component("snapshot name", "."),
            Err(NameError::DotComponent { .. })
        ));
        assert!(matches!(
            check_component("snapshot name", ".."),
            Err(NameError::DotComponent { .. })
        ));
        assert!(check_component("snapshot name", &"a".repeat(255)).is_ok());
        assert!(matches!(
            check_component("snapshot name", &"a".repeat(256)),
            Err(NameError::TooLong { len: 256, max: 255, .. })
        ));
        // Pool rules do not apply to single components.
        assert!(check_component("dataset component", "1abc").is_ok());
        assert!(check_component("dataset component", "mirror").is_ok());
    }

    #[test]
    fn hold_tags() {
        assert!(check_hold_tag("zrepl_STEP_J_job").is_ok());
        assert!(check_hold_tag("any @#%/ thing ä").is_ok());
        assert!(check_hold_tag(".").is_ok());
        assert_eq!(check_hold_tag(""), Err(NameError::Empty { kind: "hold tag" }));
        assert!(check_hold_tag(&"t".repeat(255)).is_ok());
        assert!(matches!(
            check_hold_tag(&"t".repeat(256)),
            Err(NameError::TooLong { len: 256, max: 255, .. })
        ));
        assert!(matches!(
            check_hold_tag("a\tb"),
            Err(NameError::InvalidChar { ch: '\t', .. })
        ));
        assert!(matches!(
            check_hold_tag("a\nb"),
            Err(NameError::InvalidChar { ch: '\n', .. })
        ));
        assert!(matches!(
            check_hold_tag("a\0b"),
            Err(NameError::InvalidChar { ch: '\0', .. })
        ));
        assert_eq!(
            check_hold_tag("").unwrap_err().to_string(),
            "invalid hold tag \"\": must not be empty"
        );
    }

    #[test]
    fn user_properties() {
        for ok in [
            "zrepl:placeholder",
            "com.example:x",
            ":",
            "a:",
            ":a",
            "a:b:c",
            "a-b_c.d:0",
        ] {
            assert!(check_user_property(ok).is_ok(), "{ok}");
        }
        assert_eq!(
            check_user_property(""),
            Err(NameError::Empty {
                kind: "user property name"
            })
        );
        assert!(matches!(
            check_user_property("placeholder"),
            Err(NameError::MissingColon { .. })
        ));
        assert!(matches!(
            check_user_property("zrepl:Placeholder"),
            Err(NameError::InvalidChar { ch: 'P', .. })
        ));
        assert!(matches!(
            check_user_property("zrepl:a b"),
            Err(NameError::InvalidChar { ch: ' ', .. })
        ));
        assert!(matches!(
            check_user_property("zrepl:a@b"),
            Err(NameError::InvalidChar { ch: '@', .. })
        ));
        assert!(matches!(
            check_user_property("zrepl:ä"),
            Err(NameError::InvalidChar { ch: 'ä', .. })
        ));
        assert!(matches!(
            check_user_property("-zrepl:x"),
            Err(NameError::LeadingDash { .. })
        ));
        let ok = format!("m:{}", "p".repeat(253));
        assert!(check_user_property(&ok).is_ok());
        assert!(matches!(
            check_user_property(&format!("{ok}p")),
            Err(NameError::TooLong { len: 256, .. })
        ));
        let msg = check_user_property("placeholder").unwrap_err().to_string();
        assert!(msg.contains("module:property"), "{msg}");
    }

    #[test]
    fn job_ids() {
        for ok in [
            "prod",
            "push-to-backup",
            "a",
            "job 1",
            "a.b:c_d-e",
            "...",
            "-x",
            "_G_0000000000000000_J_x",
        ] {
            let j = JobId::new(ok).unwrap_or_else(|e| panic!("{ok:?}: {e}"));
            assert_eq!(j.as_str(), ok);
        }
        assert_eq!(JobId::new(""), Err(NameError::Empty { kind: "job id" }));
        assert!(matches!(JobId::new("a/b"), Err(NameError::InvalidChar { ch: '/', .. })));
        assert!(matches!(JobId::new("a@b"), Err(NameError::InvalidChar { ch: '@', .. })));
        assert!(matches!(JobId::new("a#b"), Err(NameError::InvalidChar { ch: '#', .. })));
        assert!(matches!(JobId::new("a%b"), Err(NameError::InvalidChar { ch: '%', .. })));
        assert!(matches!(JobId::new("jöb"), Err(NameError::InvalidChar { ch: 'ö', .. })));
        assert!(matches!(
            JobId::new("a\nb"),
            Err(NameError::InvalidChar { ch: '\n', .. })
        ));
        assert!(matches!(JobId::new("."), Err(NameError::DotComponent { .. })));
        assert!(matches!(JobId::new(".."), Err(NameError::DotComponent { .. })));

        assert_eq!(MAX_JOB_ID_LEN, 203);
        let longest = "j".repeat(MAX_JOB_ID_LEN);
        let j = JobId::new(&longest).unwrap();
        // The longest job id still fits into a tentative cursor bookmark on "pool/ds".
        let bm = ds("pool/ds").bookmark(&j.tentative_cursor_short(u64::MAX)).unwrap();
        assert_eq!(bm.as_str().len(), MAX_NAME_LEN);
        assert!(ds("pool/ds1").bookmark(&j.tentative_cursor_short(0)).is_err());
        assert!(matches!(
            JobId::new(&format!("{longest}j")),
            Err(NameError::TooLong {
                kind: "job id",
                len: 204,
                max: 203,
                ..
            })
        ));

        let json = serde_json::to_string(&JobId::new("prod").unwrap()).unwrap();
        assert_eq!(json, "\"prod\"");
        assert_eq!(serde_json::from_str::<JobId>(&json).unwrap().as_str(), "prod");
        assert!(serde_json::from_str::<JobId>("\"\"").is_err());
        assert_eq!("prod".parse::<JobId>().unwrap().to_string(), "prod");
        assert_eq!(String::from(JobId::new("prod").unwrap()), "prod");
    }

    #[test]
    fn sync_record_property_names() {
        let p = |j: &str| JobId::new(j).unwrap().sync_record_property();
        assert_eq!(p("prod-1.a_b:c").as_deref(), Some("zreplrs:synced:prod-1.a_b:c"));
        // Uppercase and spaces are fine in a job id but not in a user property name.
        assert_eq!(p("Prod").as_deref(), Some("zreplrs:synced-x:50726f64"));
        assert_eq!(p("a b").as_deref(), Some("zreplrs:synced-x:612062"));
        // A plain job id that looks like hex still gets the plain form: no collision with "Prod".
        assert_eq!(p("x:50726f64").as_deref(), Some("zreplrs:synced:x:50726f64"));
        let long = "A".repeat(200);
        if JobId::new(&long).is_ok() {
            assert_eq!(p(&long), None, "400 hex digits do not fit");
        }
    }

    #[test]
    fn job_derived_names() {
        let j = JobId::new("prod").unwrap();
        assert_eq!(j.step_hold_tag(), "zrepl_STEP_J_prod");
        assert_eq!(j.last_received_hold_tag(), "zrepl_last_received_J_prod");
        assert_eq!(
            j.cursor_bookmark_short(0xface601d),
            "zrepl_CURSOR_G_00000000face601d_J_prod"
        );
        assert_eq!(
            j.tentative_cursor_short(0xface601d),
            "zrepl_CURSORTENTATIVE__G_00000000face601d_J_prod"
        );
        assert_eq!(
            j.cursor_bookmark_short(u64::MAX),
            "zrepl_CURSOR_G_ffffffffffffffff_J_prod"
        );
    }

    #[test]
    fn cursor_round_trips() {
        for job in ["prod", "job 1", "a_J_b", "_G_0123456789abcdef_J_x", "x_J_", "-"] {
            let j = JobId::new(job).unwrap();
            for guid in [0, 1, 0xface601d, u64::MAX, 0x0123_4567_89ab_cdef] {
                let c = j.cursor_bookmark_short(guid);
                assert_eq!(parse_cursor_short(&c), Some((guid, job)), "{c}");
                assert_eq!(parse_tentative_cursor_short(&c), None, "{c}");
                let t = j.tentative_cursor_short(guid);
                assert_eq!(parse_tentative_cursor_short(&t), Some((guid, job)), "{t}");
                assert_eq!(parse_cursor_short(&t), None, "{t}");
                assert!(check_component("bookmark name", &c).is_ok());
                assert!(check_component("bookmark name", &t).is_ok());
            }
        }
    }

    #[test]
    fn cursor_parse_rejects() {
        assert_eq!(parse_cursor_short(V1_CURSOR_SHORT), None);
        assert_eq!(parse_tentative_cursor_short(V1_CURSOR_SHORT), None);
        assert_eq!(parse_cursor_short(""), None);
        assert_eq!(parse_cursor_short("zrepl_CURSOR_G_"), None);
        // Upper-case hex, short hex, long hex, non-hex.
        assert_eq!(parse_cursor_short("zrepl_CURSOR_G_00000000FACE601D_J_prod"), None);
        assert_eq!(parse_cursor_short("zrepl_CURSOR_G_face601d_J_prod"), None);
        assert_eq!(parse_cursor_short("zrepl_CURSOR_G_00000000000000000_J_prod"), None);
        assert_eq!(parse_cursor_short("zrepl_CURSOR_G_000000000000000g_J_prod"), None);
        assert_eq!(parse_cursor_short("zrepl_CURSOR_G_+000000000000000_J_prod"), None);
        // Missing or invalid job id.
        assert_eq!(parse_cursor_short("zrepl_CURSOR_G_0000000000000001_J_"), None);
        assert_eq!(parse_cursor_short("zrepl_CURSOR_G_0000000000000001"), None);
        assert_eq!(parse_cursor_short("zrepl_CURSOR_G_0000000000000001_X_prod"), None);
        assert_eq!(parse_cursor_short("zrepl_CURSOR_G_0000000000000001_J_.."), None);
        assert_eq!(parse_cursor_short("zrepl_CURSOR_G_0000000000000001_J_a/b"), None);
        assert_eq!(
            parse_cursor_short(&format!("zrepl_CURSOR_G_0000000000000001_J_{}", "j".repeat(204))),
            None
        );
        // Multi-byte characters where the hex digits should be must not panic.
        assert_eq!(parse_cursor_short("zrepl_CURSOR_G_ääääääää_J_prod"), None);
        assert_eq!(parse_cursor_short("zrepl_CURSOR_G_000000000000000ä_J_prod"), None);
        // Other zrepl abstractions are not cursors.
        assert_eq!(parse_cursor_short("zrepl_STEP_G_0000000000000001_J_prod"), None);
        assert_eq!(
            parse_tentative_cursor_short("zrepl_CURSORTENTATIVE_G_0000000000000001_J_prod"),
            None
        );
        assert_eq!(parse_cursor_short("xzrepl_CURSOR_G_0000000000000001_J_prod"), None);
    }
}
