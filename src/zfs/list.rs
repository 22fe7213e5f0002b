//! Listing: one `zfs list -r` call for a whole subtree (filesystems, volumes, snapshots and bookmarks) parsed
//! into typed entries, plus a batched `zfs get creation` for the few snapshots whose creation time is needed.
//!
//! We parse `zfs list -H -p` (tab-separated, exact numbers) rather than `zfs list -j`: it works on every
//! OpenZFS version, and measured on 200 filesystems × 20 snapshots it is faster (6.5–8.2 s against 9–13 s).
//! The `creation` column is left out of the listing by default because it alone costs about 2.5× the rest.

use std::collections::BTreeMap;

use serde::Serialize;

use super::names::{check_component, DatasetName};
use super::types::{Guid, Version, VersionKind};
use super::{Zfs, ZfsError};

/// Filesystem or volume.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum DatasetKind {
    Filesystem,
    Volume,
}

/// One filesystem or volume with its snapshots and bookmarks, sorted by createtxg.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FsEntry {
    pub name: DatasetName,
    pub kind: DatasetKind,
    pub guid: Guid,
    pub createtxg: u64,
    /// `receive_resume_token`, when a resumable receive was interrupted.
    pub resume_token: Option<String>,
    /// `encryption` (e.g. `aes-256-gcm`), `None` when `off`.
    pub encryption: Option<String>,
    /// `zrepl:placeholder` is `on` (set here or inherited).
    pub placeholder_prop: bool,
    /// Snapshots and bookmarks, oldest first (createtxg; a snapshot before its bookmark).
    pub versions: Vec<Version>,
}

impl FsEntry {
    /// A placeholder is a dataset created only to hold children: `zrepl:placeholder=on` and no snapshots
    /// (the property is inherited, so a received child of a placeholder also shows `on` but has snapshots).
    pub fn is_placeholder(&self) -> bool {
        self.placeholder_prop && !self.versions.iter().any(Version::is_snapshot)
    }

    pub fn is_encrypted(&self) -> bool {
        self.encryption.is_some()
    }

    pub fn snapshots(&self) -> impl Iterator<Item = &Version> {
        self.versions.iter().filter(|v| v.kind == VersionKind::Snapshot)
    }

    pub fn bookmarks(&self) -> impl Iterator<Item = &Version> {
        self.versions.iter().filter(|v| v.kind == VersionKind::Bookmark)
    }

    /// The newest snapshot, if any.
    pub fn newest_snapshot(&self) -> Option<&Version> {
        self.snapshots().last()
    }

    /// The snapshot with this short name.
    pub fn snapshot(&self, short: &str) -> Option<&Version> {
        self.snapshots().find(|v| v.short == short)
    }
}

/// All datasets of one side, by name.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Listing {
    pub filesystems: BTreeMap<DatasetName, FsEntry>,
}

impl Listing {
    pub fn get(&self, name: &DatasetName) -> Option<&FsEntry> {
        self.filesystems.get(name)
    }

    /// Number of snapshots and bookmarks in the listing.
    pub fn version_count(&self) -> usize {
        self.filesystems.values().map(|f| f.versions.len()).sum()
    }
}

const COLUMNS: &str = "name,type,guid,createtxg,userrefs,receive_resume_token,encryption,zrepl:placeholder";

/// The argv of the one listing call for `roots` (each recursively).
pub fn list_args(roots: &[DatasetName], with_creation: bool) -> Vec<String> {
    let mut cols = COLUMNS.to_string();
    if with_creation {
        cols.push_str(",creation");
    }
    let mut args: Vec<String> = [
        "list",
        "-H",
        "-p",
        "-r",
        "-t",
        "filesystem,volume,snapshot,bookmark",
        "-o",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    args.push(cols);
    args.extend(roots.iter().map(|r| r.to_string()));
    args
}

fn dash(v: &str) -> Option<&str> {
    if v == "-" || v.is_empty() {
        None
    } else {
        Some(v)
    }
}

/// Parses the output of [`list_args`]. Any line that does not fit is an error naming the line.
pub fn parse_listing(args: &[String], out: &str) -> Result<Listing, ZfsError> {
    let with_creation = args.iter().any(|a| a.ends_with(",creation"));
    let ncols = if with_creation { 9 } else { 8 };
    let mut filesystems: BTreeMap<DatasetName, FsEntry> = BTreeMap::new();
    let mut versions: Vec<(DatasetName, Version)> = Vec::new();
    for (lineno, line) in out.lines().enumerate() {
        if line.is_empty() {
            continue;
        }
        let bad = |why: &str| ZfsError::parse(args, format!("line {}: {why}: {line:?}", lineno + 1));
        let cols: Vec<&str> = line.split('\t').collect();
        if cols.len() != ncols {
            return Err(bad(&format!(
                "expected {ncols} tab-separated columns, got {}",
                cols.len()
            )));
        }
        let u64_col = |i: usize, what: &str| -> Result<u64, ZfsError> {
            cols[i]
                .parse::<u64>()
                .map_err(|_| bad(&format!("{what} is not an unsigned integer")))
        };
        let guid = Guid(u64_col(2, "guid")?);
        let createtxg = u64_col(3, "createtxg")?;
        let name = cols[0];
        match cols[1] {
            "filesystem" | "volume" => {
                let ds = DatasetName::new(name).map_err(|e| bad(&e.to_string()))?;
                let kind = if cols[1] == "volume" {
                    DatasetKind::Volume
                } else {
                    DatasetKind::Filesystem
                };
                let entry = FsEntry {
                    name: ds.clone(),
                    kind,
                    guid,
                    createtxg,
                    resume_token: dash(cols[5]).map(str::to_string),
                    encryption: dash(cols[6]).filter(|e| *e != "off").map(str::to_string),
                    placeholder_prop: cols[7] == "on",
                    versions: Vec::new(),
                };
                filesystems.insert(ds, entry);
            }
            "snapshot" | "bookmark" => {
                let (kind, sep, label) = if cols[1] == "snapshot" {
                    (VersionKind::Snapshot, '@', "snapshot")
                } else {
                    (VersionKind::Bookmark, '#', "bookmark")
                };
                let (fs, short) = name
                    .split_once(sep)
                    .ok_or_else(|| bad(&format!("{} name without '{sep}'", cols[1])))?;
                let ds = DatasetName::new(fs).map_err(|e| bad(&e.to_string()))?;
                check_component(label, short).map_err(|e| bad(&e.to_string()))?;
                let userrefs = match dash(cols[4]) {
                    Some(_) => Some(u64_col(4, "userrefs")?),
                    None => None,
                };
                let creation = if with_creation {
                    Some(u64_col(8, "creation")?)
                } else {
                    None
                };
                versions.push((
                    ds,
                    Version {
                        kind,
                        short: short.to_string(),
                        guid,
                        createtxg,
                        userrefs,
                        creation,
                    },
                ));
            }
            other => return Err(bad(&format!("unknown type {other:?}"))),
        }
    }
    for (ds, v) in versions {
        match filesystems.get_mut(&ds) {
            Some(fs) => fs.versions.push(v),
            None => {
                return Err(ZfsError::parse(
                    args,
                    format!("{} listed without its filesystem {ds}", v.full_name(ds.as_str())),
                ))
            }
        }
    }
    for fs in filesystems.values_mut() {
        fs.versions
            .sort_by_key(|v| (v.createtxg, v.kind == VersionKind::Bookmark, v.short.clone()));
    }
    Ok(Listing { filesystems })
}

impl Zfs {
    /// Lists `roots` and everything below them in one `zfs list` call.
    pub fn list(&self, roots: &[DatasetName], with_creation: bool) -> Result<Listing, ZfsError> {
        let args = list_args(roots, with_creation);
        let out = self.run(&args)?;
        parse_listing(&args, &out)
    }

    /// Names of the filesystems and volumes at and below `roots` (cheap: no snapshots), one call.
    pub fn list_datasets(&self, roots: &[DatasetName]) -> Result<Vec<DatasetName>, ZfsError> {
        let mut args: Vec<String> = ["list", "-H", "-r", "-t", "filesystem,volume", "-o", "name"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        args.extend(roots.iter().map(|r| r.to_string()));
        let out = self.run(&args)?;
        out.lines()
            .filter(|l| !l.is_empty())
            .map(|l| DatasetName::new(l).map_err(|e| ZfsError::parse(&args, e.to_string())))
            .collect()
    }

    /// `creation` (seconds since the epoch) of the named snapshots, in as few `zfs get` calls as the
    /// argument length allows. Names that do not exist are an error.
    pub fn creation_times(&self, snapshots: &[String]) -> Result<BTreeMap<String, u64>, ZfsError> {
        let mut result = BTreeMap::new();
        for chunk in snapshots.chunks(512) {
            let mut args: Vec<String> = ["get", "-H", "-p", "-o", "name,value", "creation"]
                .iter()
                .map(|s| s.to_string())
                .collect();
            args.extend(chunk.iter().cloned());
            let out = self.run(&args)?;
            for line in out.lines().filter(|l| !l.is_empty()) {
                let (name, value) = line
                    .split_once('\t')
                    .ok_or_else(|| ZfsError::parse(&args, format!("expected name<TAB>value: {line:?}")))?;
                let v = value
                    .parse::<u64>()
                    .map_err(|_| ZfsError::parse(&args, format!("creation of {name} is not a number: {value:?}")))?;
                result.insert(name.to_string(), v);
            }
        }
        Ok(result)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(creation: bool) -> Vec<String> {
        list_args(&[DatasetName::new("p").unwrap()], creation)
    }

    #[test]
    fn parses_a_listing() {
        let out = "p\tfilesystem\t11\t1\t-\t-\toff\t-\n\
                   p/a\tfilesystem\t12\t5\t-\t1-abc\taes-256-gcm\ton\n\
                   p/a@s2\tsnapshot\t18446744073709551615\t9\t2\t-\taes-256-gcm\ton\n\
                   p/a@s1\tsnapshot\t21\t7\t0\t-\taes-256-gcm\ton\n\
                   p/a#s2\tbookmark\t18446744073709551615\t9\t-\t-\t-\t-\n\
                   p/v\tvolume\t13\t6\t-\t-\toff\t-\n";
        let l = parse_listing(&args(false), out).unwrap();
        assert_eq!(l.filesystems.len(), 3);
        let a = l.get(&DatasetName::new("p/a").unwrap()).unwrap();
        assert_eq!(a.resume_token.as_deref(), Some("1-abc"));
        assert_eq!(a.encryption.as_deref(), Some("aes-256-gcm"));
        assert!(a.placeholder_prop);
        assert!(!a.is_placeholder(), "has snapshots");
        let names: Vec<String> = a.versions.iter().map(|v| v.relative_name()).collect();
        assert_eq!(names, ["@s1", "@s2", "#s2"]);
        assert_eq!(a.versions[1].guid, Guid(u64::MAX));
        assert_eq!(a.versions[1].userrefs, Some(2));
        assert_eq!(a.versions[2].userrefs, None);
        let p = l.get(&DatasetName::new("p").unwrap()).unwrap();
        assert_eq!(p.encryption, None);
        assert_eq!(
            l.get(&DatasetName::new("p/v").unwrap()).unwrap().kind,
            DatasetKind::Volume
        );
        assert_eq!(l.version_count(), 3);
    }

    #[test]
    fn rejects_garbage() {
        let cases = [
            "p\tfilesystem\t11\n",
            "p\tfilesystem\tx\t1\t-\t-\toff\t-\n",
            "p\tfilesystem\t-1\t1\t-\t-\toff\t-\n",
            "p\tpotato\t11\t1\t-\t-\toff\t-\n",
            "p@s\tsnapshot\t1\t1\t0\t-\toff\t-\n",
            "p\tfilesystem\t11\t1\t-\t-\toff\t-\np@s\tsnapshot\t1\t1\tmany\t-\toff\t-\n",
            "p\tfilesystem\t11\t1\t-\t-\toff\t-\np#\tbookmark\t1\t1\t-\t-\t-\t-\n",
            "p%x\tfilesystem\t11\t1\t-\t-\toff\t-\n",
        ];
        for c in cases {
            let e = parse_listing(&args(false), c).unwrap_err();
            assert_eq!(e.kind, super::super::ZfsErrorKind::Parse, "{c:?}");
        }
    }

    #[test]
    fn creation_column_is_parsed_only_when_asked() {
        let out = "p\tfilesystem\t11\t1\t-\t-\toff\t-\t100\np@s\tsnapshot\t2\t3\t0\t-\toff\t-\t1700000000\n";
        let l = parse_listing(&args(true), out).unwrap();
        let p = l.get(&DatasetName::new("p").unwrap()).unwrap();
        assert_eq!(p.versions[0].creation, Some(1_700_000_000));
        assert!(parse_listing(&args(false), out).is_err());
        assert!(list_args(&[DatasetName::new("p").unwrap()], true)
            .iter()
            .any(|a| a.ends_with(",creation")));
    }
}
