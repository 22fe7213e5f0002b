//! Retention in the bucket: the job's `keep_receiver` rules decide which snapshots of a chain are kept (the
//! newest always is: the next incremental builds on it); an object is deleted only when no kept snapshot's
//! chain needs it. The manifest without those objects is committed first, then they are deleted, then any
//! object of the filesystem that no manifest names (left by an interrupted prune or upload) — so a kill at
//! any point leaves every kept snapshot restorable and the next prune finishes the job.

use std::collections::BTreeSet;

use super::chain::{self, Place};
use super::manifest::Manifest;
use super::s3::S3;
use crate::error::{ErrorKind, Failure, Invalid};
use crate::prune::rules::{evaluate, Action, Decision, KeepRule, PruneContext, SnapInfo};

/// Most objects listed below one filesystem's streams.
const MAX_STREAM_OBJECTS: usize = 200_000;

/// What retention does to one filesystem's chain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pruned {
    /// Per snapshot: keep, or not kept by any rule.
    pub decisions: Vec<Decision>,
    /// Snapshots no longer restorable afterwards.
    pub gone: Vec<String>,
    /// Objects deleted, each with why.
    pub deleted: Vec<(String, String)>,
    /// The manifest to commit (`None`: nothing changes).
    pub next: Option<Manifest>,
}

/// Decides retention for the chain `m` at `now` (pure).
pub fn plan(m: &Manifest, rules: &[KeepRule], now: u64) -> Result<Pruned, Invalid> {
    let snaps: Vec<SnapInfo> = m
        .snapshots()
        .map(|s| SnapInfo {
            name: s.name.clone(),
            guid: s.guid.0,
            createtxg: s.createtxg,
            creation: s.creation,
            held: false,
        })
        .collect();
    let ctx = PruneContext {
        now,
        cursor_createtxg: None,
        sender_side: false,
        protected: m.newest().map(|s| s.name.clone()).into_iter().collect(),
    };
    let mut decisions = evaluate(rules, &snaps, &ctx);
    let kept: Vec<_> = decisions
        .iter()
        .filter(|d| d.action == Action::Keep)
        .filter_map(|d| snaps.iter().find(|s| s.name == d.name))
        .map(|s| crate::zfs::Guid(s.guid))
        .collect();
    let (next, dropped) = m.without_unneeded(&kept)?;
    let still: BTreeSet<&str> = next
        .objects
        .iter()
        .flat_map(|o| o.delivers())
        .map(|s| s.name.as_str())
        .collect();
    for d in decisions
        .iter_mut()
        .filter(|d| d.action != Action::Keep && still.contains(d.name.as_str()))
    {
        d.action = Action::Keep;
        d.reason = "no rule keeps it, but a kept snapshot's chain needs its object".to_string();
    }
    let gone = decisions
        .iter()
        .filter(|d| d.action != Action::Keep)
        .map(|d| d.name.clone())
        .collect();
    let deleted = dropped
        .iter()
        .map(|o| {
            let names: Vec<&str> = o.delivers().map(|s| s.name.as_str()).collect();
            (
                o.key.clone(),
                format!("delivers {} only, which no rule keeps", names.join(", ")),
            )
        })
        .collect();
    Ok(Pruned {
        decisions,
        gone,
        deleted,
        next: (!dropped.is_empty()).then_some(next),
    })
}

/// Carries `p` out at `place`: commits the manifest, deletes the objects, then the orphans below the
/// filesystem's streams that neither the manifest nor an upload in progress names. Returns the orphans.
pub fn apply(s3: &S3, place: &Place, m: &Manifest, p: &Pruned) -> Result<Vec<String>, Failure> {
    if let Some(next) = &p.next {
        chain::commit(s3, place, next)?;
    }
    for (key, _) in &p.deleted {
        s3.delete(key)?;
    }
    let named: BTreeSet<&str> = p
        .next
        .as_ref()
        .unwrap_or(m)
        .objects
        .iter()
        .map(|o| o.key.as_str())
        .collect();
    let uploading = chain::upload_marker(s3, place)?.map(|u| u.key);
    let mut orphans = Vec::new();
    for o in s3.list(&format!("{}streams/", place.dir), MAX_STREAM_OBJECTS)? {
        if !named.contains(o.key.as_str()) && uploading.as_deref() != Some(o.key.as_str()) {
            s3.delete(&o.key)?;
            orphans.push(o.key);
        }
    }
    Ok(orphans)
}

/// A manifest that fails its checks, as a store error.
pub fn corrupt(e: Invalid) -> Failure {
    Failure::new(ErrorKind::StoreCorrupt, e.0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::objstore::manifest::{Encryption, SnapshotRef, StreamObject};
    use crate::prune::rules::KeepRuleConfig;
    use crate::zfs::Guid;

    fn snap(n: u64) -> SnapshotRef {
        SnapshotRef {
            name: format!("s{n}"),
            guid: Guid(n * 100),
            createtxg: n,
            creation: n * 3600,
        }
    }

    /// Full s1, s1→s2, s2→s3, a new full s4, s4→s5.
    fn chains() -> Manifest {
        let mut m = Manifest::new("tank/fs", "p/");
        for (from, to) in [(None, 1), (Some(1), 2), (Some(2), 3), (None, 4), (Some(4), 5)] {
            let o = StreamObject {
                key: format!("p/streams/{to}"),
                from: from.map(snap),
                to: snap(to),
                intermediates: Vec::new(),
                flags: Vec::new(),
                encryption: Encryption::None,
                size: 10,
                sha256: "ab".repeat(32),
                parts: vec!["ab".repeat(32)],
                uploaded_at: 0,
            };
            m = m.with(o).unwrap();
        }
        m
    }

    fn rule(c: KeepRuleConfig) -> Vec<KeepRule> {
        vec![KeepRule::from_config(&c).unwrap()]
    }

    #[test]
    fn an_old_chain_goes_once_no_kept_snapshot_needs_it() {
        let p = plan(&chains(), &rule(KeepRuleConfig::LastN { count: 2, regex: None }), 0).unwrap();
        let keys: Vec<&str> = p.deleted.iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(keys, ["p/streams/1", "p/streams/2", "p/streams/3"]);
        assert_eq!(p.gone, ["s1", "s2", "s3"]);
        let next = p.next.unwrap();
        assert_eq!(next.objects.len(), 2);
        assert!(next.chain_to(Guid(400)).is_ok() && next.chain_to(Guid(500)).is_ok());
    }

    #[test]
    fn a_kept_snapshot_keeps_its_whole_chain_restorable() {
        let keep_s2 = rule(KeepRuleConfig::Regex {
            regex: "^s2$".into(),
            negate: false,
        });
        let p = plan(&chains(), &keep_s2, 0).unwrap();
        let keys: Vec<&str> = p.deleted.iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(keys, ["p/streams/3"], "only s3's object is needed by nothing kept");
        assert_eq!(p.gone, ["s3"]);
        let s1 = p.decisions.iter().find(|d| d.name == "s1").unwrap();
        assert_eq!(s1.action, Action::Keep, "s2's chain needs s1's object");
        assert!(s1.reason.contains("chain needs"), "{}", s1.reason);
        let next = p.next.unwrap();
        for g in [100, 200, 400, 500] {
            assert!(next.chain_to(Guid(g)).is_ok(), "{g} stays restorable");
        }
    }

    #[test]
    fn the_newest_is_always_kept_and_nothing_changes_when_all_are_needed() {
        let keep_none = rule(KeepRuleConfig::Regex {
            regex: "^none$".into(),
            negate: false,
        });
        let p = plan(&chains(), &keep_none, 0).unwrap();
        assert_eq!(p.gone, ["s1", "s2", "s3"], "s4 stays: the newest s5 needs its full");
        let all = rule(KeepRuleConfig::LastN { count: 10, regex: None });
        let p = plan(&chains(), &all, 0).unwrap();
        assert!(p.deleted.is_empty() && p.next.is_none() && p.gone.is_empty());
    }
}
