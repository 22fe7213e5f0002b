//! Name syntax tests: datasets, snapshots, bookmarks, components, hold tags and user properties.

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
fn property_names() {
    for ok in ["canmount", "mountpoint", "com.example:backup", "a_b1", "zrepl:other"] {
        assert_eq!(PropertyName::new(ok).map(|p| p.to_string()), Ok(ok.to_string()));
    }
    assert_eq!(
        PropertyName::new(PLACEHOLDER_PROPERTY),
        Err(NameError::ManagedProperty {
            name: PLACEHOLDER_PROPERTY.into()
        })
    );
    for bad in ["", "CanMount", "can-mount", "a b"] {
        assert_eq!(
            PropertyName::new(bad),
            Err(NameError::InvalidProperty { name: bad.into() }),
            "{bad:?}"
        );
    }
    assert!(matches!(PropertyName::new("-x:y"), Err(NameError::LeadingDash { .. })));
    assert!(matches!(PropertyName::new("Com:x"), Err(NameError::InvalidChar { .. })));
}
