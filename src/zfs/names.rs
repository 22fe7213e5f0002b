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
//! (see `bookkeeping::MAX_JOB_ID_LEN`). The nesting limit `zfs_max_dataset_nesting` is a tunable checked by
//! ZFS only when creating datasets, so it is not enforced here. The bookkeeping names zreplrs builds from a
//! job id (cursors, hold tags, the sync record) are in [`super::bookkeeping`].

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

/// What dataset, snapshot and bookmark components may consist of, for error messages.
const ALLOWED_NAME_CHARS: &str = "letters, digits, - _ . : and space";
/// What user property names may consist of, for error messages.
const ALLOWED_PROPERTY_CHARS: &str = "lowercase letters, digits, - _ . :";
/// What hold tags may consist of, for error messages.
const ALLOWED_TAG_CHARS: &str = "any character except control characters such as NUL, tab or newline";

const DATASET: &str = "dataset name";
const SNAPSHOT: &str = "snapshot name";
pub(super) const BOOKMARK: &str = "bookmark name";
const POOL: &str = "pool name";
const HOLD_TAG: &str = "hold tag";
const USER_PROPERTY: &str = "user property name";

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
    /// A property name that is neither a native property name nor a user property name.
    #[error("invalid property name {name:?}: native properties consist of lowercase letters, digits and '_' (e.g. \"canmount\"), user properties contain ':' (e.g. \"com.example:backup\")")]
    InvalidProperty {
        /// The offending name.
        name: String,
    },
    /// A property zreplrs manages on received datasets itself ([`PLACEHOLDER_PROPERTY`]).
    #[error("property {name:?} is managed by zreplrs and cannot be configured")]
    ManagedProperty {
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
pub(super) fn check_len(kind: &'static str, name: &str, max: usize) -> Result<(), NameError> {
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

/// The user property that marks placeholder datasets on the receiver (zrepl's name); zreplrs sets and clears
/// it itself, so no configuration or agent option may set or inherit it.
pub const PLACEHOLDER_PROPERTY: &str = "zrepl:placeholder";

/// A property name that a job or the agent's command line may pass to `zfs receive -o`/`-x`: a native
/// property (non-empty, lowercase ASCII letters, digits and `_`, e.g. `canmount`) or a valid user property
/// (see [`check_user_property`]), but never [`PLACEHOLDER_PROPERTY`]. Whether a native name is a property
/// ZFS knows is left to ZFS.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct PropertyName(String);

impl PropertyName {
    /// Validates `s` as a property name (see [`PropertyName`]).
    pub fn new(s: &str) -> Result<Self, NameError> {
        if s == PLACEHOLDER_PROPERTY {
            return Err(NameError::ManagedProperty { name: s.to_string() });
        }
        let native = !s.is_empty()
            && s.bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_');
        if !native {
            if !s.contains(':') {
                return Err(NameError::InvalidProperty { name: s.to_string() });
            }
            check_user_property(s)?;
        }
        Ok(PropertyName(s.to_string()))
    }

    /// The property name as a string slice.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

string_conversions!(PropertyName, 0);

/// Implements `Display`, `FromStr`, `TryFrom<String>`, `From<T> for String` and `AsRef<str>` for a name type
/// with an `as_str` method, a `new(&str)` constructor and a `String`-convertible inner representation.
macro_rules! string_conversions {
    ($ty:ident, $inner:tt) => {
        impl std::fmt::Display for $ty {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl std::str::FromStr for $ty {
            type Err = $crate::zfs::names::NameError;

            fn from_str(s: &str) -> Result<Self, Self::Err> {
                Self::new(s)
            }
        }

        impl TryFrom<String> for $ty {
            type Error = $crate::zfs::names::NameError;

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
pub(super) use string_conversions;

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

#[cfg(test)]
mod tests;
