//! Listings on the wire: receiver datasets are sent relative to the agent's root and turned back into typed
//! entries (with full receiver names) on the sender.

use crate::agent::wire::proto;
use crate::zfs::list::{sort_versions, DatasetKind, FsEntry};
use crate::zfs::names::{check_component, DatasetName, NameError};
use crate::zfs::{Guid, Version, VersionKind};

/// A typed entry → wire entry named relative to `root` ("" for the root itself).
pub fn to_wire(root: &DatasetName, e: &FsEntry) -> proto::FsEntry {
    proto::FsEntry {
        name: e.name.strip_prefix(root).unwrap_or_default().to_string(),
        guid: e.guid.0,
        createtxg: e.createtxg,
        resume_token: e.resume_token.clone().unwrap_or_default(),
        encryption: e.encryption.clone().unwrap_or_default(),
        placeholder: e.placeholder_prop,
        versions: e
            .versions
            .iter()
            .map(|v| proto::Version {
                bookmark: v.kind == VersionKind::Bookmark,
                short: v.short.clone(),
                guid: v.guid.0,
                createtxg: v.createtxg,
                userrefs: v.userrefs,
                creation: v.creation,
            })
            .collect(),
        volume: e.kind == DatasetKind::Volume,
        snapshots_changed: e.snapshots_changed,
    }
}

/// A wire entry → typed entry with its full name below `root`; names are validated.
pub fn from_wire(root: &DatasetName, w: &proto::FsEntry) -> Result<FsEntry, NameError> {
    let name = if w.name.is_empty() {
        root.clone()
    } else {
        root.child(&w.name)?
    };
    let mut versions = Vec::with_capacity(w.versions.len());
    for v in &w.versions {
        let (kind, label) = if v.bookmark {
            (VersionKind::Bookmark, "bookmark")
        } else {
            (VersionKind::Snapshot, "snapshot")
        };
        check_component(label, &v.short)?;
        versions.push(Version {
            kind,
            short: v.short.clone(),
            guid: Guid(v.guid),
            createtxg: v.createtxg,
            userrefs: v.userrefs,
            creation: v.creation,
        });
    }
    sort_versions(&mut versions);
    let opt = |s: &str| {
        if s.is_empty() {
            None
        } else {
            Some(s.to_string())
        }
    };
    Ok(FsEntry {
        name,
        kind: if w.volume {
            DatasetKind::Volume
        } else {
            DatasetKind::Filesystem
        },
        guid: Guid(w.guid),
        createtxg: w.createtxg,
        resume_token: opt(&w.resume_token),
        encryption: opt(&w.encryption),
        placeholder_prop: w.placeholder,
        snapshots_changed: w.snapshots_changed,
        sync_record: None,
        versions,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_keeps_everything() {
        let root = DatasetName::new("b/hosts/web1").unwrap();
        let e = FsEntry {
            name: DatasetName::new("b/hosts/web1/tank/a").unwrap(),
            kind: DatasetKind::Filesystem,
            guid: Guid(u64::MAX),
            createtxg: 3,
            resume_token: Some("1-ab".into()),
            encryption: None,
            placeholder_prop: true,
            snapshots_changed: Some(1_700_000_000),
            sync_record: None,
            versions: vec![Version {
                kind: VersionKind::Snapshot,
                short: "s".into(),
                guid: Guid(5),
                createtxg: 4,
                userrefs: Some(1),
                creation: None,
            }],
        };
        let w = to_wire(&root, &e);
        assert_eq!(w.name, "tank/a");
        assert_eq!(from_wire(&root, &w).unwrap(), e);
        let mut bad = w.clone();
        bad.name = "../x".into();
        assert!(from_wire(&root, &bad).is_err());
        let mut bad = w;
        bad.versions[0].short = "a@b".into();
        assert!(from_wire(&root, &bad).is_err());
    }
}
