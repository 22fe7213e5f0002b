//! Typed values read from ZFS: GUIDs and versions (snapshots and bookmarks) of a filesystem.

use std::fmt;

use serde::{Deserialize, Serialize};

/// A ZFS GUID. Always `u64`; serialised in JSON as a decimal string (JSON numbers lose precision above 2^53).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Guid(pub u64);

impl fmt::Display for Guid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

impl Serialize for Guid {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for Guid {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse::<u64>()
            .map(Guid)
            .map_err(|_| serde::de::Error::custom(format!("invalid GUID {s:?}: expected a decimal u64")))
    }
}

/// Whether a version is a snapshot (`@`) or a bookmark (`#`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum VersionKind {
    Snapshot,
    Bookmark,
}

/// One snapshot or bookmark of a filesystem, as listed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Version {
    pub kind: VersionKind,
    /// The part after `@` or `#`.
    pub short: String,
    pub guid: Guid,
    pub createtxg: u64,
    /// Number of user holds (snapshots only).
    pub userrefs: Option<u64>,
    /// Creation time in seconds since the epoch, when it was fetched.
    pub creation: Option<u64>,
}

impl Version {
    /// The full name of this version on filesystem `fs`: `fs@short` or `fs#short`.
    pub fn full_name(&self, fs: &str) -> String {
        format!("{fs}{}{}", self.separator(), self.short)
    }

    /// `@` for snapshots, `#` for bookmarks.
    pub fn separator(&self) -> char {
        match self.kind {
            VersionKind::Snapshot => '@',
            VersionKind::Bookmark => '#',
        }
    }

    pub fn is_snapshot(&self) -> bool {
        self.kind == VersionKind::Snapshot
    }

    /// `@short` or `#short`, for messages.
    pub fn relative_name(&self) -> String {
        format!("{}{}", self.separator(), self.short)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn guid_serialises_as_decimal_string() {
        let g = Guid(u64::MAX);
        let json = serde_json::to_string(&g).unwrap();
        assert_eq!(json, "\"18446744073709551615\"");
        let back: Guid = serde_json::from_str(&json).unwrap();
        assert_eq!(back, g);
        assert!(serde_json::from_str::<Guid>("\"0x12\"").is_err());
    }

    #[test]
    fn version_names() {
        let v = Version {
            kind: VersionKind::Bookmark,
            short: "b1".into(),
            guid: Guid(1),
            createtxg: 5,
            userrefs: None,
            creation: None,
        };
        assert_eq!(v.full_name("p/a"), "p/a#b1");
        assert_eq!(v.relative_name(), "#b1");
    }
}
