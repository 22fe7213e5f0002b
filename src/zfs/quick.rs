//! The quick listing of a replication run: `zfs list` in OpenZFS's fast mode (only `name,guid,createtxg`,
//! answered without fetching each dataset's properties), then one batched `zfs get` for the properties of
//! the filesystems and for the few snapshots whose holds (`userrefs`) and `creation` the caller needs.
//!
//! Asking `zfs list` for any other column makes it fetch every snapshot's whole property list; over 200
//! filesystems × 20 snapshots that made a no-op run about ten times slower (BENCHMARKS.md, P3). Versions that
//! were not selected for details have `userrefs` and `creation` set to `None`.

use super::list::{attach_versions, dash, DatasetKind, FsEntry, Listing};
use super::names::{check_component, DatasetName};
use super::types::{Guid, Version, VersionKind};
use super::{Zfs, ZfsError, ZfsErrorKind};

/// The properties fetched by the detail call (for filesystems the first four, for snapshots the last two).
const DETAIL_PROPS: &str = "type,receive_resume_token,encryption,zrepl:placeholder,userrefs,creation";

/// At most this many bytes of names per `zfs get` (far below the kernel's argument limits).
const MAX_NAME_BYTES: usize = 128 * 1024;

/// The argv of the fast listing of `roots` (each recursively).
pub fn fast_list_args(roots: &[DatasetName]) -> Vec<String> {
    let mut args: Vec<String> = [
        "list",
        "-H",
        "-p",
        "-r",
        "-t",
        "filesystem,volume,snapshot,bookmark",
        "-o",
        "name,guid,createtxg",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    args.extend(roots.iter().map(|r| r.to_string()));
    args
}

/// Parses the output of [`fast_list_args`]. Datasets come out as filesystems without properties until
/// [`apply_details`] fills them in.
pub fn parse_fast_listing(args: &[String], out: &str) -> Result<Listing, ZfsError> {
    let mut listing = Listing::default();
    let mut versions: Vec<(DatasetName, Version)> = Vec::new();
    for (lineno, line) in out.lines().enumerate() {
        if line.is_empty() {
            continue;
        }
        let bad = |why: &str| ZfsError::parse(args, format!("line {}: {why}: {line:?}", lineno + 1));
        let cols: Vec<&str> = line.split('\t').collect();
        let [name, guid, createtxg] = cols[..] else {
            return Err(bad(&format!("expected 3 tab-separated columns, got {}", cols.len())));
        };
        let number = |v: &str, what: &str| {
            v.parse::<u64>()
                .map_err(|_| bad(&format!("{what} is not an unsigned integer")))
        };
        let guid = Guid(number(guid, "guid")?);
        let createtxg = number(createtxg, "createtxg")?;
        let split = name
            .split_once('@')
            .map(|(f, s)| (f, s, VersionKind::Snapshot, "snapshot"))
            .or_else(|| {
                name.split_once('#')
                    .map(|(f, s)| (f, s, VersionKind::Bookmark, "bookmark"))
            });
        match split {
            None => {
                let ds = DatasetName::new(name).map_err(|e| bad(&e.to_string()))?;
                listing.filesystems.insert(
                    ds.clone(),
                    FsEntry {
                        name: ds,
                        kind: DatasetKind::Filesystem,
                        guid,
                        createtxg,
                        resume_token: None,
                        encryption: None,
                        placeholder_prop: false,
                        versions: Vec::new(),
                    },
                );
            }
            Some((fs, short, kind, label)) => {
                let ds = DatasetName::new(fs).map_err(|e| bad(&e.to_string()))?;
                check_component(label, short).map_err(|e| bad(&e.to_string()))?;
                let v = Version {
                    kind,
                    short: short.to_string(),
                    guid,
                    createtxg,
                    userrefs: None,
                    creation: None,
                };
                versions.push((ds, v));
            }
        }
    }
    attach_versions(args, &mut listing, versions)?;
    Ok(listing)
}

/// The argv of each detail call: every dataset, plus the snapshots `detail` selects, in chunks.
pub fn detail_args(listing: &Listing, detail: &dyn Fn(&FsEntry) -> Vec<String>) -> Vec<Vec<String>> {
    let mut names: Vec<String> = Vec::new();
    for fs in listing.filesystems.values() {
        names.push(fs.name.to_string());
        names.extend(detail(fs).iter().map(|short| format!("{}@{short}", fs.name)));
    }
    let head = || -> Vec<String> {
        ["get", "-H", "-p", "-o", "name,property,value", DETAIL_PROPS]
            .iter()
            .map(|s| s.to_string())
            .collect()
    };
    let mut calls = Vec::new();
    let (mut call, mut bytes) = (head(), 0);
    for n in names {
        if bytes + n.len() > MAX_NAME_BYTES && call.len() > 6 {
            calls.push(std::mem::replace(&mut call, head()));
            bytes = 0;
        }
        bytes += n.len() + 1;
        call.push(n);
    }
    if call.len() > 6 {
        calls.push(call);
    }
    calls
}

/// Fills the listing from the output of one [`detail_args`] call.
pub fn apply_details(listing: &mut Listing, args: &[String], out: &str) -> Result<(), ZfsError> {
    for (lineno, line) in out.lines().enumerate() {
        if line.is_empty() {
            continue;
        }
        let bad = |why: &str| ZfsError::parse(args, format!("line {}: {why}: {line:?}", lineno + 1));
        let mut cols = line.splitn(3, '\t');
        let (Some(name), Some(prop), Some(value)) = (cols.next(), cols.next(), cols.next()) else {
            return Err(bad("expected name, property and value"));
        };
        let number = || {
            value
                .parse::<u64>()
                .map_err(|_| bad(&format!("{prop} is not an unsigned integer")))
        };
        if let Some((fs, short)) = name.split_once('@') {
            let ds = DatasetName::new(fs).map_err(|e| bad(&e.to_string()))?;
            let Some(v) = listing
                .filesystems
                .get_mut(&ds)
                .and_then(|f| f.versions.iter_mut().find(|v| v.is_snapshot() && v.short == short))
            else {
                continue;
            };
            match prop {
                "userrefs" if dash(value).is_some() => v.userrefs = Some(number()?),
                "creation" if dash(value).is_some() => v.creation = Some(number()?),
                _ => {}
            }
        } else {
            let ds = DatasetName::new(name).map_err(|e| bad(&e.to_string()))?;
            let Some(fs) = listing.filesystems.get_mut(&ds) else {
                continue;
            };
            match prop {
                "type" => {
                    fs.kind = match value {
                        "filesystem" => DatasetKind::Filesystem,
                        "volume" => DatasetKind::Volume,
                        other => return Err(bad(&format!("unknown type {other:?}"))),
                    }
                }
                "receive_resume_token" => fs.resume_token = dash(value).map(str::to_string),
                "encryption" => fs.encryption = dash(value).filter(|e| *e != "off").map(str::to_string),
                "zrepl:placeholder" => fs.placeholder_prop = value == "on",
                _ => {}
            }
        }
    }
    Ok(())
}

impl Zfs {
    /// Lists `roots` and everything below them with a fast `zfs list` and batched `zfs get` calls (one for
    /// up to about 128 KiB of names). `detail(fs)` names the snapshots of `fs` (short names) whose
    /// `userrefs` and `creation` are fetched. A dataset or snapshot destroyed between the two calls makes
    /// the whole listing start again (at most three times).
    pub fn list_quick(
        &self,
        roots: &[DatasetName],
        detail: &dyn Fn(&FsEntry) -> Vec<String>,
    ) -> Result<Listing, ZfsError> {
        let mut attempt = 0;
        loop {
            attempt += 1;
            let args = fast_list_args(roots);
            let mut listing = parse_fast_listing(&args, &self.run(&args)?)?;
            let mut vanished = None;
            for call in detail_args(&listing, detail) {
                match self.run(&call) {
                    Ok(out) => apply_details(&mut listing, &call, &out)?,
                    Err(e) if e.kind == ZfsErrorKind::DoesNotExist && attempt < 3 => {
                        vanished = Some(e);
                        break;
                    }
                    Err(e) => return Err(e),
                }
            }
            if vanished.is_none() {
                return Ok(listing);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn root() -> Vec<DatasetName> {
        vec![DatasetName::new("p").unwrap()]
    }

    const LISTING: &str = "p\t11\t1\n\
                           p/a\t12\t5\n\
                           p/a@s2\t18446744073709551615\t9\n\
                           p/a@s1\t21\t7\n\
                           p/a#s2\t18446744073709551615\t9\n\
                           p/v\t13\t6\n";

    #[test]
    fn fast_listing_asks_only_for_fast_columns() {
        let args = fast_list_args(&root());
        let cols = &args[args.iter().position(|a| a == "-o").unwrap() + 1];
        assert_eq!(cols, "name,guid,createtxg");
        assert!(
            !args.iter().any(|a| a == "-s"),
            "sorting by another column leaves the fast mode"
        );
    }

    #[test]
    fn parses_a_fast_listing_then_details() {
        let args = fast_list_args(&root());
        let mut l = parse_fast_listing(&args, LISTING).unwrap();
        let a = DatasetName::new("p/a").unwrap();
        let names: Vec<String> = l.get(&a).unwrap().versions.iter().map(|v| v.relative_name()).collect();
        assert_eq!(names, ["@s1", "@s2", "#s2"]);
        assert!(l
            .get(&a)
            .unwrap()
            .versions
            .iter()
            .all(|v| v.userrefs.is_none() && v.creation.is_none()));

        let pick_newest = |fs: &FsEntry| fs.newest_snapshot().map(|v| v.short.clone()).into_iter().collect();
        let calls = detail_args(&l, &pick_newest);
        assert_eq!(calls.len(), 1);
        assert_eq!(calls[0][6..], ["p", "p/a", "p/a@s2", "p/v"]);
        let out = "p\ttype\tfilesystem\np\treceive_resume_token\t-\np\tencryption\toff\np\tzrepl:placeholder\t-\n\
                   p\tuserrefs\t-\np\tcreation\t1700000000\n\
                   p/a\ttype\tfilesystem\np/a\treceive_resume_token\t1-abc\np/a\tencryption\taes-256-gcm\n\
                   p/a\tzrepl:placeholder\ton\n\
                   p/a@s2\ttype\tsnapshot\np/a@s2\tencryption\taes-256-gcm\np/a@s2\tuserrefs\t2\n\
                   p/a@s2\tcreation\t1700000100\n\
                   p/v\ttype\tvolume\np/v\tzrepl:placeholder\twith\ttabs\n";
        apply_details(&mut l, &calls[0], out).unwrap();
        let fa = l.get(&a).unwrap();
        assert_eq!(fa.resume_token.as_deref(), Some("1-abc"));
        assert_eq!(fa.encryption.as_deref(), Some("aes-256-gcm"));
        assert!(fa.placeholder_prop);
        assert_eq!(fa.versions[1].userrefs, Some(2));
        assert_eq!(fa.versions[1].creation, Some(1_700_000_100));
        assert_eq!(fa.versions[0].userrefs, None, "not selected for details");
        assert_eq!(fa.versions[2].userrefs, None, "a bookmark");
        let p = l.get(&DatasetName::new("p").unwrap()).unwrap();
        assert_eq!((p.encryption.clone(), p.placeholder_prop), (None, false));
        let v = l.get(&DatasetName::new("p/v").unwrap()).unwrap();
        assert_eq!((v.kind, v.placeholder_prop), (DatasetKind::Volume, false));
    }

    #[test]
    fn bad_output_is_an_error_naming_the_line() {
        let args = fast_list_args(&root());
        for bad in [
            "p\t11\n",
            "p\tx\t1\n",
            "p\t1\t-1\n",
            "p@s\t1\t1\n",
            "p\t1\t1\np@bad@name\t2\t2\n",
            "p\t1\t1\np#\t2\t2\n",
        ] {
            let e = parse_fast_listing(&args, bad).unwrap_err();
            assert_eq!(e.kind, ZfsErrorKind::Parse, "{bad:?}");
            assert!(
                e.message.contains("line") || e.message.contains("without its filesystem"),
                "{bad:?}: {}",
                e.message
            );
        }
        let mut l = parse_fast_listing(&args, LISTING).unwrap();
        let call = &detail_args(&l, &|_| Vec::new())[0];
        for bad in ["p\ttype\n", "p/a@s1\tuserrefs\tmany\n", "p/v\ttype\tbookmark\n"] {
            let e = apply_details(&mut l, call, bad).unwrap_err();
            assert_eq!(e.kind, ZfsErrorKind::Parse, "{bad:?}");
        }
    }

    #[test]
    fn detail_calls_are_chunked() {
        let args = fast_list_args(&root());
        let mut out = String::from("p\t1\t1\n");
        for i in 0..20_000 {
            out.push_str(&format!("p/filesystem-with-a-long-name-{i:05}\t{}\t2\n", i + 2));
        }
        let l = parse_fast_listing(&args, &out).unwrap();
        let calls = detail_args(&l, &|_| Vec::new());
        assert!(calls.len() > 1);
        let total: usize = calls.iter().map(|c| c.len() - 6).sum();
        assert_eq!(total, 20_001);
        for c in &calls {
            assert!(c[6..].iter().map(|n| n.len() + 1).sum::<usize>() <= MAX_NAME_BYTES + 64);
        }
    }
}
