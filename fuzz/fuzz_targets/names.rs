//! Name validation on arbitrary strings: `DatasetName`, `SnapshotName`, `BookmarkName`, `JobId`, hold tags,
//! user properties and cursor bookmark names. A valid name's `as_str()` equals the input, its parts are
//! valid on their own, and every name derived from a valid job id is valid and parses back.
#![no_main]

use libfuzzer_sys::fuzz_target;
use zreplrs::zfs::names::{check_component, check_hold_tag, check_user_property, BookmarkName, DatasetName, SnapshotName};
use zreplrs::zfs::bookkeeping::{parse_cursor_short, parse_tentative_cursor_short, JobId};

fuzz_target!(|data: &[u8]| {
    let Ok(s) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(d) = DatasetName::new(s) {
        assert_eq!(d.as_str(), s);
        assert_eq!(d.to_string(), s);
        assert_eq!(s.parse::<DatasetName>().as_ref(), Ok(&d));
        if let Some(p) = d.parent() {
            assert!(DatasetName::new(p.as_str()).is_ok(), "parent {p} of {d}");
            assert!(d.is_strictly_below(&p));
            assert_eq!(d.depth(), p.depth() + 1);
        }
        assert!(DatasetName::new(d.pool()).is_ok());
        assert_eq!(d.strip_prefix(&d), Some(""));
        if let Ok(snap) = d.snapshot("s") {
            assert_eq!(snap.dataset(), d);
        }
    } else {
        assert!(s.parse::<DatasetName>().is_err());
    }
    if let Ok(n) = SnapshotName::new(s) {
        assert_eq!(n.as_str(), s);
        assert_eq!(format!("{}@{}", n.dataset(), n.short()), s);
        assert!(DatasetName::new(n.dataset().as_str()).is_ok());
        assert!(check_component("snapshot name", n.short()).is_ok());
    }
    if let Ok(n) = BookmarkName::new(s) {
        assert_eq!(n.as_str(), s);
        assert_eq!(format!("{}#{}", n.dataset(), n.short()), s);
        assert!(DatasetName::new(n.dataset().as_str()).is_ok());
        assert!(check_component("bookmark name", n.short()).is_ok());
    }
    if let Ok(j) = JobId::new(s) {
        assert_eq!(j.as_str(), s);
        for guid in [0, 0xdead_beef, u64::MAX] {
            let cursor = j.cursor_bookmark_short(guid);
            assert!(check_component("bookmark name", &cursor).is_ok(), "{cursor}");
            assert_eq!(parse_cursor_short(&cursor), Some((guid, s)));
            let tentative = j.tentative_cursor_short(guid);
            assert!(check_component("bookmark name", &tentative).is_ok(), "{tentative}");
            assert_eq!(parse_tentative_cursor_short(&tentative), Some((guid, s)));
            assert_eq!(parse_cursor_short(&tentative), None);
        }
        assert!(check_hold_tag(&j.step_hold_tag()).is_ok());
        assert!(check_hold_tag(&j.last_received_hold_tag()).is_ok());
    }
    // Parsing a cursor name back: the job id is valid and the name is exactly what it would be built as.
    if let Some((guid, job)) = parse_cursor_short(s) {
        let j = JobId::new(job).expect("parse_cursor_short returned an invalid job id");
        assert_eq!(j.cursor_bookmark_short(guid), s);
    }
    if let Some((guid, job)) = parse_tentative_cursor_short(s) {
        let j = JobId::new(job).expect("parse_tentative_cursor_short returned an invalid job id");
        assert_eq!(j.tentative_cursor_short(guid), s);
    }
    let _ = (
        check_hold_tag(s),
        check_user_property(s),
        check_component("component", s),
    );
    if check_hold_tag(s).is_ok() {
        assert!(!s.is_empty() && s.len() <= 255);
    }
});
