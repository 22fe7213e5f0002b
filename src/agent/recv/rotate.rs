//! `replicate --rotate` on the receiving side: a copy that diverged from its sender is set aside, never
//! destroyed. It is renamed `<name>-rotated-<UTC time>`; when the sender and the copy still share a
//! snapshot, a clone of that snapshot, with the copy's own properties, takes its place and `zfs promote`
//! gives it the common history (the renamed copy keeps only what diverged, with the holds on it), and the
//! copy's children go back below it; the next step is then incremental from the common snapshot. Without
//! one, the place stays empty for a full send. Refused under `--append-only` (see
//! [`crate::agent::recv::policy`]).

use crate::agent::recv::config::AgentConfig;
use crate::agent::request::{below_root, Refusal};
use crate::agent::wire::proto::{self, Envelope};
use crate::error::ErrorKind;
use crate::zfs::list::DatasetKind;
use crate::zfs::names::DatasetName;
use crate::zfs::send::{receive_options, Incoming};
use crate::zfs::stream;
use crate::zfs::{Zfs, ZfsError};

/// Sets the copy `req.fs` aside; replies where it went.
pub(super) fn rotate(
    zfs: &Zfs,
    cfg: &AgentConfig,
    root: &DatasetName,
    req: &proto::RotateRequest,
) -> Result<Envelope, Refusal> {
    let target = below_root(root, &req.fs)?;
    let listing = zfs.list(std::slice::from_ref(&target), false)?;
    let entry = listing
        .get(&target)
        .ok_or_else(|| Refusal::new(ErrorKind::ZfsDoesNotExist, format!("{target} does not exist")))?;
    let common = common_snapshot(entry, req.common_guid)?;
    let aside = aside_name(&target, crate::report::unix_now())?;
    if listing.get(&aside).is_some() || zfs.list(std::slice::from_ref(&aside), false).is_ok() {
        return Err(Refusal::new(
            ErrorKind::ZfsAlreadyExists,
            format!("{aside} exists already"),
        ));
    }
    let children: Vec<DatasetName> = listing
        .filesystems
        .keys()
        .filter(|d| d.parent().as_ref() == Some(&target))
        .cloned()
        .collect();
    // Nothing of the tree stays mounted while it moves (a child with a mountpoint of its own inside it
    // would keep it busy); what was mounted is mounted again at the end.
    let mounted = unmount_tree(zfs, &listing).map_err(|e| {
        Refusal::new(
            e.error_kind(),
            format!(
                "{target} cannot be set aside now: {e}; close what uses it (a shell in it, a browse of its \
                 .zfs/snapshot) and run again"
            ),
        )
    })?;
    zfs.rename(&target, &aside)?;
    let set = clone_options(zfs, cfg, &aside, entry.kind);
    move_mountpoint(zfs, &aside, &set, &aside.as_str()[target.as_str().len()..])?;
    let from_common = match common {
        Some(c) => take_common_history(zfs, &aside, &target, &c, split(set, entry.kind), &children),
        None => false,
    };
    remount(zfs, &mounted);
    let rotated_to = aside.as_str()[root.as_str().len() + 1..].to_string();
    Ok(Envelope::new(
        proto::RotateReply {
            rotated_to,
            from_common,
        }
        .into(),
    ))
}

/// The copy's snapshot whose GUID is `guid`, if one was asked for.
fn common_snapshot(copy: &crate::zfs::list::FsEntry, guid: Option<u64>) -> Result<Option<String>, Refusal> {
    let Some(g) = guid else {
        return Ok(None);
    };
    match copy.snapshots().find(|s| s.guid.0 == g) {
        Some(s) => Ok(Some(s.short.clone())),
        None => Err(Refusal::new(
            ErrorKind::InvalidName,
            format!("{} has no snapshot with GUID {g} to start a new chain from", copy.name),
        )),
    }
}

/// Puts a clone of `aside@common` at `target` with the properties `set`, promotes it and moves the
/// children back below it; false (the place left empty for a full send) when ZFS refuses the clone (an
/// encrypted copy whose key is not loaded here).
fn take_common_history(
    zfs: &Zfs,
    aside: &DatasetName,
    target: &DatasetName,
    common: &str,
    (now, later): (Props, Props),
    children: &[DatasetName],
) -> bool {
    let Ok(snapshot) = aside.snapshot(common) else {
        return false;
    };
    if let Err(e) = zfs.clone_snapshot(&snapshot, target, &now) {
        eprintln!("zreplrs recv-agent: {target} starts over with a full send: {e}");
        return false;
    }
    if let Err(e) = zfs.promote(target) {
        eprintln!("zreplrs recv-agent: cannot promote {target}: {e}");
    }
    for child in children {
        let Some(leaf) = child.as_str().rsplit('/').next() else {
            continue;
        };
        if let (Ok(from), Ok(to)) = (aside.child(leaf), target.child(leaf)) {
            if let Err(e) = zfs.rename(&from, &to) {
                eprintln!("zreplrs recv-agent: {from} stays with the rotated copy: {e}");
            }
        }
    }
    for (k, v) in later {
        if let Err(e) = zfs.set_property(target.as_str(), &k, &v) {
            eprintln!("zreplrs recv-agent: {target}: {e}");
        }
    }
    true
}

/// Property names and values.
type Props = Vec<(String, String)>;

/// The properties a clone is created with, and those set once the children are back below it: a
/// filesystem's clone is created `canmount=noauto` and writable (mounting it, or its children in it, before
/// the next receive would modify it), and gets its own `canmount` (default `on`) and `readonly` at the end.
fn split(set: Props, kind: DatasetKind) -> (Props, Props) {
    let (mut later, mut now): (Vec<_>, Vec<_>) = set.into_iter().partition(|(k, _)| k == "readonly" || k == "canmount");
    if kind == DatasetKind::Filesystem {
        if !later.iter().any(|(k, _)| k == "canmount") {
            later.push(("canmount".into(), "on".into()));
        }
        now.push(("canmount".into(), "noauto".into()));
    } else {
        now.append(&mut later);
    }
    (now, later)
}

/// Unmounts every mounted filesystem of `listing`, deepest first; returns those it unmounted. On an error
/// the ones already unmounted are mounted again.
fn unmount_tree(zfs: &Zfs, listing: &crate::zfs::list::Listing) -> Result<Vec<DatasetName>, ZfsError> {
    let mut done = Vec::new();
    for name in listing.filesystems.keys().rev() {
        if zfs.get_property(name.as_str(), "mounted").is_ok_and(|m| m == "yes") {
            if let Err(e) = zfs.unmount(name) {
                remount(zfs, &done);
                return Err(e);
            }
            done.push(name.clone());
        }
    }
    Ok(done)
}

/// Mounts again what [`unmount_tree`] unmounted (under the same names: the rotation puts the new chain and
/// the children back there), parents first.
fn remount(zfs: &Zfs, unmounted: &[DatasetName]) {
    for name in unmounted.iter().rev() {
        if zfs.get_property(name.as_str(), "mounted").is_ok_and(|m| m == "no") {
            if let Err(e) = zfs.mount(name) {
                eprintln!("zreplrs recv-agent: {name} stays unmounted: {e}");
            }
        }
    }
}

/// A copy set aside whose mountpoint was its own (not inherited) mounts at that path with `suffix`, so
/// that what takes its place mounts where it did (and its children can move back below it).
fn move_mountpoint(zfs: &Zfs, aside: &DatasetName, own: &[(String, String)], suffix: &str) -> Result<(), ZfsError> {
    match own.iter().find(|(k, v)| k == "mountpoint" && v.starts_with('/')) {
        Some((_, mp)) => zfs.set_property(aside.as_str(), "mountpoint", &format!("{mp}{suffix}")),
        None => Ok(()),
    }
}

/// What the place gets: what was set on the copy there (the receive's options, or an administrator's),
/// else the agent's options for a new copy.
fn clone_options(zfs: &Zfs, cfg: &AgentConfig, aside: &DatasetName, kind: DatasetKind) -> Vec<(String, String)> {
    if let Ok(own) = zfs.own_properties(aside) {
        if !own.is_empty() {
            return own;
        }
    }
    let kind = match kind {
        DatasetKind::Filesystem => stream::DatasetKind::Filesystem,
        DatasetKind::Volume => stream::DatasetKind::Volume,
    };
    let incoming = Incoming {
        kind,
        incremental: false,
        force: false,
    };
    receive_options(&cfg.recv, &cfg.recv_incremental, incoming).set
}

/// `<target>-rotated-<YYYYMMDD>T<HHMMSS>Z`.
fn aside_name(target: &DatasetName, now: u64) -> Result<DatasetName, Refusal> {
    let stamp =
        crate::report::rfc3339(std::time::UNIX_EPOCH + std::time::Duration::from_secs(now)).replace(['-', ':'], "");
    DatasetName::new(&format!("{target}-rotated-{stamp}"))
        .map_err(|e| Refusal::new(ErrorKind::InvalidName, format!("a rotated name for {target}: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_rotated_copy_is_named_after_the_time_it_was_set_aside() {
        let t = DatasetName::new("backup/hosts/web1/tank/data").unwrap();
        let aside = aside_name(&t, 1_796_601_600).unwrap();
        assert_eq!(aside.as_str(), "backup/hosts/web1/tank/data-rotated-20261207T000000Z");
        assert_eq!(aside.parent(), t.parent(), "beside the copy, below the same root");
    }

    #[test]
    fn a_clone_is_mounted_and_read_only_only_after_its_children_are_back() {
        let kv = |k: &str, v: &str| (k.to_string(), v.to_string());
        let own = vec![kv("readonly", "on"), kv("exec", "off"), kv("mountpoint", "/srv/a")];
        let (now, later) = split(own.clone(), DatasetKind::Filesystem);
        assert_eq!(
            now,
            [kv("exec", "off"), kv("mountpoint", "/srv/a"), kv("canmount", "noauto")]
        );
        assert_eq!(later, [kv("readonly", "on"), kv("canmount", "on")]);
        let (now, later) = split(vec![kv("canmount", "noauto")], DatasetKind::Filesystem);
        assert_eq!(
            (now, later),
            (vec![kv("canmount", "noauto")], vec![kv("canmount", "noauto")])
        );
        let (now, later) = split(vec![kv("readonly", "on"), kv("volmode", "none")], DatasetKind::Volume);
        assert_eq!(now, [kv("volmode", "none"), kv("readonly", "on")]);
        assert!(later.is_empty());
    }
}
