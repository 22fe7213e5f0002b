//! `zfs list -H -p` output parsed by `parse_listing` (with and without the `creation` column), and every
//! pair of parsed filesystems planned against each other.
#![no_main]

use libfuzzer_sys::fuzz_target;
use zreplrs::config::{InitialReplication, SnapshotFilter};
use zreplrs::plan::{plan_filesystem, Policy, TokenState};
use zreplrs::zfs::list::{list_args, parse_listing};
use zreplrs::zfs::names::{check_component, DatasetName};
use zreplrs::zfs::{VersionKind, ZfsErrorKind};

fuzz_target!(|data: &[u8]| {
    let Ok(out) = std::str::from_utf8(data) else {
        return;
    };
    let root = DatasetName::new("p").unwrap();
    for with_creation in [false, true] {
        let args = list_args(std::slice::from_ref(&root), with_creation);
        let listing = match parse_listing(&args, out) {
            Ok(l) => l,
            Err(e) => {
                assert_eq!(e.kind, ZfsErrorKind::Parse);
                let _ = e.to_string();
                continue;
            }
        };
        let mut count = 0;
        for (name, fs) in &listing.filesystems {
            assert_eq!(name, &fs.name);
            count += fs.versions.len();
            for v in &fs.versions {
                assert!(check_component("short name", &v.short).is_ok());
                assert_eq!(v.creation.is_some(), with_creation);
                if v.kind == VersionKind::Bookmark {
                    assert!(fs.name.bookmark(&v.short).is_ok() || v.full_name(fs.name.as_str()).len() > 255);
                }
            }
            assert!(fs
                .versions
                .windows(2)
                .all(|p| (p[0].createtxg, p[0].kind == VersionKind::Bookmark)
                    <= (p[1].createtxg, p[1].kind == VersionKind::Bookmark)));
            let _ = (fs.is_placeholder(), fs.newest_snapshot(), fs.bookmarks().count());
        }
        assert_eq!(listing.version_count(), count);
        // The planner on arbitrary (even inconsistent: duplicate GUIDs, equal createtxgs) listings.
        let entries: Vec<_> = listing.filesystems.values().take(4).collect();
        for s in &entries {
            for r in std::iter::once(None).chain(entries.iter().map(|r| Some(*r))) {
                for initial in [InitialReplication::MostRecent, InitialReplication::All] {
                    let policy = Policy {
                        initial,
                        encrypted: false,
                        raw: false,
                        snapshots: SnapshotFilter::default(),
                    };
                    let _ = plan_filesystem(s, r, &TokenState::None, &policy);
                }
            }
        }
    }
});
