//! `zreplrs holds list` and `zreplrs holds release-stale`: the replication bookkeeping zreplrs keeps in ZFS
//! (step holds, last-received holds, cursors, tentative cursors, legacy v1 cursors), listed from live state,
//! and the release of what no run needs any more.

use std::collections::BTreeMap;

use camino::Utf8Path;

use crate::cli::Format;
use crate::config::Job;
use crate::replication::failover::job_for_run;
use crate::replication::is_aged;
use crate::report::commands::{Entry, EntryKind, HoldsListReport, ReleaseReport};
use crate::report::{human, ErrorReport, Header};
use crate::survey::SurveyError;
use crate::transport;
use crate::zfs::bookkeeping::{parse_cursor_short, parse_tentative_cursor_short, V1_CURSOR_SHORT};
use crate::zfs::list::Listing;
use crate::zfs::names::{BookmarkName, SnapshotName};
use crate::zfs::Zfs;

/// Sender-side entries of `job` (cursors, tentative and v1 cursors, step holds) from one listing.
pub fn sender_entries(zfs: &Zfs, job: &Job, listing: &Listing) -> Result<Vec<Entry>, SurveyError> {
    let mut out = Vec::new();
    let jid = job.name.as_str();
    for fs in listing
        .filesystems
        .values()
        .filter(|f| job.filesystems.includes(&f.name))
    {
        for b in fs.bookmarks() {
            let kind = if parse_cursor_short(&b.short).is_some_and(|(_, j)| j == jid) {
                Some((EntryKind::Cursor, Some(jid.to_string())))
            } else if parse_tentative_cursor_short(&b.short).is_some_and(|(_, j)| j == jid) {
                Some((EntryKind::TentativeCursor, Some(jid.to_string())))
            } else if b.short == V1_CURSOR_SHORT {
                Some((EntryKind::V1Cursor, None))
            } else {
                None
            };
            if let Some((kind, job)) = kind {
                out.push(Entry {
                    job,
                    side: "sender",
                    kind,
                    filesystem: fs.name.to_string(),
                    name: b.full_name(fs.name.as_str()),
                    tag: None,
                    guid: Some(b.guid),
                    since: None,
                });
            }
        }
    }
    let held = crate::survey::held_snapshots(job, listing);
    let tag = job.name.step_hold_tag();
    for h in zfs.holds(&held)?.into_iter().filter(|h| h.tag == tag) {
        let fs = h.snapshot.split('@').next().unwrap_or_default().to_string();
        out.push(Entry {
            job: Some(jid.to_string()),
            side: "sender",
            kind: EntryKind::StepHold,
            filesystem: fs,
            name: h.snapshot,
            tag: Some(h.tag),
            guid: None,
            since: Some(h.since),
        });
    }
    Ok(out)
}

/// The job's last-received holds on the receiver (the agent lists them), with full receiver names.
fn receiver_entries(conn: &mut transport::Connection, job: &Job, root: &str) -> Result<Vec<Entry>, SurveyError> {
    let tag = job.name.last_received_hold_tag();
    let holds = conn.client().holds(job.name.as_str())?;
    Ok(holds
        .into_iter()
        .filter(|h| h.tag == tag)
        .map(|h| {
            let fs = if h.fs.is_empty() {
                root.to_string()
            } else {
                format!("{root}/{}", h.fs)
            };
            Entry {
                job: Some(job.name.to_string()),
                side: "receiver",
                kind: EntryKind::LastReceivedHold,
                name: format!("{fs}@{}", h.snapshot),
                filesystem: fs,
                tag: Some(h.tag),
                guid: None,
                since: None,
            }
        })
        .collect())
}

/// All entries of `job` on both sides.
pub fn list_job(job: &Job) -> Result<Vec<Entry>, SurveyError> {
    // A pull job's sender side is on the source, listed through its send-agent.
    let zfs = transport::sender_zfs(job)?;
    let listing = zfs.list(&job.filesystems.roots(), false)?;
    let mut out = sender_entries(&zfs, job, &listing)?;
    // A bucket holds no holds: its committed manifests protect what they name.
    if !job.target.is_store() {
        let mut conn = transport::connect(job)?;
        let root = conn.client().hello.root.clone();
        out.extend(receiver_entries(&mut conn, job, &root)?);
    }
    out.sort();
    Ok(out)
}

/// Stale entries of one job: every step hold and tentative cursor (no run is active: the caller holds the
/// job lock), every cursor but the newest per filesystem, every last-received hold but the newest per
/// filesystem. Returns (stale, current).
pub fn classify_stale(entries: Vec<Entry>, createtxg: &BTreeMap<String, u64>) -> (Vec<Entry>, Vec<Entry>) {
    let mut newest: BTreeMap<(EntryKind, String), (u64, String)> = BTreeMap::new();
    for e in entries
        .iter()
        .filter(|e| matches!(e.kind, EntryKind::Cursor | EntryKind::LastReceivedHold))
    {
        let txg = createtxg.get(&e.name).copied().unwrap_or(0);
        let slot = newest
            .entry((e.kind, e.filesystem.clone()))
            .or_insert((txg, e.name.clone()));
        if txg > slot.0 {
            *slot = (txg, e.name.clone());
        }
    }
    let (mut stale, mut current) = (Vec::new(), Vec::new());
    for e in entries {
        let is_stale = match e.kind {
            EntryKind::StepHold | EntryKind::TentativeCursor => true,
            EntryKind::Cursor | EntryKind::LastReceivedHold => newest
                .get(&(e.kind, e.filesystem.clone()))
                .is_some_and(|(_, n)| *n != e.name),
            EntryKind::V1Cursor => false,
        };
        if is_stale {
            stale.push(e);
        } else {
            current.push(e);
        }
    }
    (stale, current)
}

/// Releases this job's stale bookkeeping on both sides. The caller holds the job lock.
pub fn release_stale(job: &Job, dry_run: bool) -> ReleaseReport {
    let mut r = ReleaseReport {
        header: Header::new("holds release-stale", Some(job.name.as_str()), Some(dry_run)),
        released: Vec::new(),
        kept: Vec::new(),
        error: None,
    };
    if let Err(e) = release_stale_inner(job, dry_run, &mut r) {
        r.error = Some(e.error);
    }
    r
}

fn release_stale_inner(job: &Job, dry_run: bool, r: &mut ReleaseReport) -> Result<(), SurveyError> {
    // A failed-over push job's sender is its replica, reached through the backup host's agent.
    let zfs = transport::sender_zfs(job)?;
    let listing = zfs.list(&job.filesystems.roots(), false)?;
    let mut entries = sender_entries(&zfs, job, &listing)?;
    let mut txg: BTreeMap<String, u64> = BTreeMap::new();
    for fs in listing.filesystems.values() {
        for v in &fs.versions {
            txg.insert(v.full_name(fs.name.as_str()), v.createtxg);
        }
    }
    if job.target.is_store() {
        return release_stale_entries(job, &zfs, entries, &txg, None, dry_run, r);
    }
    let mut conn = match transport::connect(job) {
        Ok(c) => c,
        Err(e) => {
            // Unreachable receiver: still release the step holds older than max_step_hold_age.
            let now = crate::report::unix_now();
            let aged: Vec<Entry> = entries
                .into_iter()
                .filter(|e| e.kind == EntryKind::StepHold && e.since.is_some_and(|t| is_aged(job, t, now)))
                .collect();
            if !dry_run {
                let snaps: Vec<SnapshotName> = aged.iter().filter_map(|e| SnapshotName::new(&e.name).ok()).collect();
                zfs.release(&job.name.step_hold_tag(), &snaps)
                    .map_err(SurveyError::from)?;
            }
            r.released = aged;
            return Err(e.into());
        }
    };
    let root = conn.client().hello.root.clone();
    let recv_list = conn.client().list()?;
    for f in &recv_list.filesystems {
        let fs = if f.name.is_empty() {
            root.clone()
        } else {
            format!("{root}/{}", f.name)
        };
        for v in f.versions.iter().filter(|v| !v.bookmark) {
            txg.insert(format!("{fs}@{}", v.short), v.createtxg);
        }
    }
    entries.extend(receiver_entries(&mut conn, job, &root)?);
    release_stale_entries(job, &zfs, entries, &txg, Some((&mut conn, &root)), dry_run, r)
}

/// Releases what of `entries` is stale (the receiver's through `receiver`, which a bucket has not).
fn release_stale_entries(
    job: &Job,
    zfs: &Zfs,
    entries: Vec<Entry>,
    txg: &BTreeMap<String, u64>,
    mut receiver: Option<(&mut transport::Connection, &str)>,
    dry_run: bool,
    r: &mut ReleaseReport,
) -> Result<(), SurveyError> {
    let (stale, current) = classify_stale(entries, txg);
    r.kept = current;
    if !dry_run {
        for e in &stale {
            match e.kind {
                EntryKind::StepHold => {
                    let s = SnapshotName::new(&e.name).map_err(|x| name_err(&x))?;
                    zfs.release(&job.name.step_hold_tag(), &[s])
                        .map_err(SurveyError::from)?;
                }
                EntryKind::Cursor | EntryKind::TentativeCursor => {
                    let b = BookmarkName::new(&e.name).map_err(|x| name_err(&x))?;
                    zfs.destroy_bookmarks(&[b]).map_err(|x| SurveyError {
                        error: ErrorReport::from(&x),
                        connectivity: false,
                    })?;
                }
                EntryKind::LastReceivedHold => {
                    let Some((conn, root)) = receiver.as_mut() else {
                        continue;
                    };
                    let (fs, short) = e.name.split_once('@').unwrap_or_default();
                    let rel = fs.strip_prefix(*root).map(|r| r.trim_start_matches('/')).unwrap_or(fs);
                    conn.client()
                        .release_last_received(rel, vec![short.to_string()], job.name.as_str())?;
                }
                EntryKind::V1Cursor => {}
            }
        }
    }
    r.released = stale;
    Ok(())
}

fn name_err(e: &crate::zfs::names::NameError) -> SurveyError {
    SurveyError {
        error: ErrorReport::new(crate::error::ErrorKind::InvalidName, e.to_string()),
        connectivity: false,
    }
}

/// Runs `zreplrs holds list`: the entries of one job or of all, optionally of one filesystem.
pub fn list_command(path: Option<&Utf8Path>, job: Option<&str>, fs: Option<&str>, format: Option<Format>) -> u8 {
    super::with_jobs(path, job, |jobs| {
        let mut r = HoldsListReport {
            header: Header::new("holds list", None, None),
            entries: Vec::new(),
            errors: Vec::new(),
        };
        for j in jobs {
            match list_job(&job_for_run(j)) {
                Ok(e) => r.entries.extend(e),
                Err(e) => r.errors.push(e.error),
            }
        }
        if let Some(fs) = fs {
            r.entries.retain(|e| e.filesystem == fs);
        }
        super::emit(format, &r, human::holds_table)
    })
}

/// Runs `zreplrs holds release-stale` under the job's lock (exit 4 while a run holds it).
pub fn release_command(
    path: Option<&Utf8Path>,
    job: &str,
    dry_run: bool,
    lock_dir: Option<&Utf8Path>,
    format: Option<Format>,
) -> u8 {
    super::with_job(path, job, |config, job| {
        // A failed-over job runs the other way: its bookkeeping is where that direction keeps it.
        let run = job_for_run(job);
        if run.reversal.is_none() {
            if let Some(code) = super::sender_side_only(job, "holds release-stale") {
                return code;
            }
        }
        let job = &run;
        let dir = lock_dir.or(config.global.lock_dir.as_deref());
        let _lock = match crate::lock::lock_job_in(dir, &job.name) {
            Ok(l) => l,
            Err(e) => return super::lock_failure(&e),
        };
        super::emit(format, &release_stale(job, dry_run), human::release_summary)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn e(kind: EntryKind, fs: &str, name: &str) -> Entry {
        Entry {
            job: Some("j".into()),
            side: "sender",
            kind,
            filesystem: fs.into(),
            name: name.into(),
            tag: None,
            guid: None,
            since: None,
        }
    }

    #[test]
    fn only_the_newest_cursor_and_last_received_hold_are_current() {
        let entries = vec![
            e(EntryKind::Cursor, "p/a", "p/a#c1"),
            e(EntryKind::Cursor, "p/a", "p/a#c2"),
            e(EntryKind::Cursor, "p/b", "p/b#c1"),
            e(EntryKind::StepHold, "p/a", "p/a@s2"),
            e(EntryKind::TentativeCursor, "p/a", "p/a#t"),
            e(EntryKind::V1Cursor, "p/a", "p/a#zrepl_replication_cursor"),
            e(EntryKind::LastReceivedHold, "b/p/a", "b/p/a@s1"),
            e(EntryKind::LastReceivedHold, "b/p/a", "b/p/a@s2"),
        ];
        let txg: BTreeMap<String, u64> = [
            ("p/a#c1", 1),
            ("p/a#c2", 2),
            ("p/b#c1", 1),
            ("b/p/a@s1", 1),
            ("b/p/a@s2", 2),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect();
        let (stale, current) = classify_stale(entries, &txg);
        let names = |v: &[Entry]| v.iter().map(|e| e.name.clone()).collect::<Vec<_>>();
        assert_eq!(names(&stale), ["p/a#c1", "p/a@s2", "p/a#t", "b/p/a@s1"]);
        assert_eq!(
            names(&current),
            ["p/a#c2", "p/b#c1", "p/a#zrepl_replication_cursor", "b/p/a@s2"]
        );
    }
}
