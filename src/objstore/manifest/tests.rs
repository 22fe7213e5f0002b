//! The manifest's checks against what a hostile bucket could hold, and the chain logic of restore and
//! retention.

use super::*;

const PREFIX: &str = "backups/web1/tank%2Fdata/";

fn snap(name: &str, txg: u64) -> SnapshotRef {
    SnapshotRef {
        name: name.into(),
        guid: Guid(txg * 1000 + 1),
        createtxg: txg,
        creation: txg * 3600,
    }
}

fn object(from: Option<u64>, to: u64) -> StreamObject {
    StreamObject {
        key: format!("{PREFIX}{to}-{}.zfs", from.unwrap_or(0)),
        from: from.map(|f| snap(&format!("s{f}"), f)),
        to: snap(&format!("s{to}"), to),
        intermediates: Vec::new(),
        flags: vec!["raw".into()],
        encryption: Encryption::Raw,
        size: 4096,
        sha256: "ab".repeat(32),
        parts: vec!["cd".repeat(32)],
        uploaded_at: 0,
    }
}

/// Full 1, then 1→2, 2→3, a new full 4, then 4→5.
fn two_chains() -> Manifest {
    let mut m = Manifest::new("tank/data", PREFIX);
    for o in [
        object(None, 1),
        object(Some(1), 2),
        object(Some(2), 3),
        object(None, 4),
        object(Some(4), 5),
    ] {
        m = m.with(o).expect("a valid chain");
    }
    m
}

#[test]
fn a_manifest_round_trips_with_guids_as_decimal_strings() {
    let mut m = Manifest::new("tank/data", PREFIX);
    let mut big = object(None, 1);
    big.to.guid = Guid(u64::MAX);
    m = m.with(big).unwrap();
    let json = serde_json::to_string(&m).unwrap();
    assert!(json.contains(&format!("\"guid\":\"{}\"", u64::MAX)), "{json}");
    assert_eq!(Manifest::parse(json.as_bytes(), PREFIX).unwrap(), m);
    assert_eq!(m.generation, 1);
}

#[test]
fn a_manifest_that_could_mislead_a_restore_is_refused() {
    let m = two_chains();
    let refuse = |edit: &dyn Fn(&mut Manifest), why: &str| {
        let mut bad = m.clone();
        edit(&mut bad);
        let json = serde_json::to_vec(&bad).unwrap();
        let e = Manifest::parse(&json, PREFIX).expect_err(why);
        assert!(e.0.contains(why), "{why}: {e}");
    };
    refuse(&|b| b.objects[1].key = "backups/other/1.zfs".into(), "is not below");
    refuse(&|b| b.objects[1].key = format!("{PREFIX}../x"), "is not below");
    refuse(&|b| b.objects[2].key = b.objects[1].key.clone(), "named twice");
    refuse(&|b| b.objects[0].sha256 = "AB".repeat(32), "no SHA-256");
    refuse(&|b| b.objects[0].sha256 = "ab".into(), "no SHA-256");
    refuse(&|b| b.objects[0].parts.clear(), "for each of its 1 parts");
    refuse(&|b| b.objects[0].size = 17 << 20, "for each of its 2 parts");
    refuse(&|b| b.objects[0].parts[0] = "x".repeat(64), "for each of its 1 parts");
    refuse(&|b| b.objects[0].size = u64::MAX, "does not have a SHA-256");
    refuse(
        &|b| b.objects[2].from = Some(snap("s9", 9)),
        "which no earlier object delivered",
    );
    refuse(&|b| b.objects.swap(1, 2), "which no earlier object delivered");
    refuse(&|b| b.objects[1].to.createtxg = 1, "out of order");
    refuse(&|b| b.format = 2, "format 2");
    let other = serde_json::to_vec(&m).unwrap();
    assert!(
        Manifest::parse(&other, "backups/web1/other/").is_err(),
        "another filesystem's manifest"
    );
    assert!(Manifest::parse(&vec![b' '; MAX_MANIFEST_BYTES + 1], PREFIX).is_err());
    let unknown = String::from_utf8(other)
        .unwrap()
        .replacen("\"format\"", "\"extra\":1,\"format\"", 1);
    assert!(Manifest::parse(unknown.as_bytes(), PREFIX).is_err(), "unknown fields");
}

#[test]
fn parts_are_cut_at_sizes_that_depend_on_their_number_alone() {
    assert_eq!(part_count(0), 1);
    assert_eq!(part_count(16 << 20), 1);
    assert_eq!(part_count((16 << 20) + 1), 2);
    assert_eq!(part_count(1000 * (16 << 20)), 1000);
    assert_eq!(part_count(1000 * (16 << 20) + (32 << 20)), 1001);
    assert_eq!(part_count(MAX_OBJECT_BYTES), 10_000);
    assert_eq!(part_size(1001), 32 << 20);
    assert_eq!(part_size(3001), 64 << 20);
}

#[test]
fn a_restore_downloads_the_chain_from_the_last_full_in_order() {
    let m = two_chains();
    let keys = |g: u64| -> Vec<String> {
        m.chain_to(Guid(g * 1000 + 1))
            .unwrap()
            .iter()
            .map(|o| o.key.clone())
            .collect()
    };
    assert_eq!(
        keys(3),
        [
            m.objects[0].key.clone(),
            m.objects[1].key.clone(),
            m.objects[2].key.clone()
        ]
    );
    assert_eq!(keys(5), [m.objects[3].key.clone(), m.objects[4].key.clone()]);
    assert_eq!(keys(1), [m.objects[0].key.clone()]);
    assert!(m.chain_to(Guid(7)).is_err(), "a snapshot no object delivers");
    assert_eq!(m.newest().map(|s| s.createtxg), Some(5));
}

#[test]
fn an_intermediate_of_an_i_stream_is_restored_by_that_stream() {
    let mut m = Manifest::new("tank/data", PREFIX).with(object(None, 1)).unwrap();
    let mut i = object(Some(1), 4);
    i.intermediates = vec![snap("s2", 2), snap("s3", 3)];
    m = m.with(i).unwrap();
    let chain = m.chain_to(Guid(2001)).unwrap();
    assert_eq!(chain.len(), 2);
    m = m.with(object(Some(3), 5)).unwrap();
    assert_eq!(m.chain_to(Guid(5001)).unwrap().len(), 3);
}

#[test]
fn retention_deletes_only_what_no_kept_snapshot_needs() {
    let m = two_chains();
    // Keeping only s5: the whole first chain can go.
    let (next, dropped) = m.without_unneeded(&[Guid(5001)]).unwrap();
    let gone: Vec<u64> = dropped.iter().map(|o| o.to.createtxg).collect();
    assert_eq!(gone, [1, 2, 3]);
    assert_eq!(next.objects.len(), 2);
    assert_eq!(next.generation, m.generation + 1);
    assert!(next.chain_to(Guid(5001)).is_ok());
    // Keeping s2 and s5: s3's incremental goes, s1 and s2 stay as s2's chain.
    let (next, dropped) = m.without_unneeded(&[Guid(2001), Guid(5001)]).unwrap();
    assert_eq!(dropped.iter().map(|o| o.to.createtxg).collect::<Vec<_>>(), [3]);
    for g in [2001, 5001] {
        assert!(next.chain_to(Guid(g)).is_ok(), "{g} still restorable");
    }
    // A kept snapshot without a chain deletes nothing.
    assert!(m.without_unneeded(&[Guid(5001), Guid(9)]).is_err());
}

#[test]
fn a_new_full_is_due_after_so_many_incrementals_or_so_long() {
    let mut m = two_chains();
    assert!(!m.full_due(None, None, 0));
    assert!(m.full_due(Some(1), None, 0), "one incremental after the last full");
    assert!(!m.full_due(Some(2), None, 0));
    m.objects[3].uploaded_at = 1000;
    assert!(!m.full_due(None, Some(500), 1499));
    assert!(m.full_due(None, Some(500), 1500));
    assert!(
        !Manifest::new("tank/data", PREFIX).full_due(Some(0), Some(0), 9),
        "nothing to follow yet"
    );
}
