//! `zreplrs snapshot --job`: one atomic `zfs snapshot` per pool over the job's filesystems, named
//! `<prefix><timestamp>`, with optional pre/post hook commands (argv, no shell) bounded by a timeout.
//! A failing pre-hook skips the snapshot and is reported; the post-hook runs for what was taken.

use std::collections::BTreeMap;

use camino::Utf8Path;

use crate::cli::SnapshotArgs;
use crate::config::Job;
use crate::report::commands::{PoolResult, SnapshotReport};
use crate::report::{human, metrics, ErrorReport, Header, Timing};
use crate::zfs::names::SnapshotName;
use crate::zfs::Zfs;

/// Takes the job's snapshots (or, with `dry_run`, reports what it would take and runs hooks with
/// `ZREPLRS_DRY_RUN=1`).
pub fn snapshot(job: &Job, dry_run: bool) -> SnapshotReport {
    let now_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis())
        .unwrap_or(0);
    let name = crate::snapname::snapshot_name(&job.snapshot.prefix, job.snapshot.timestamp_format, now_ms);
    let mut r = SnapshotReport {
        header: Header::new("snapshot", Some(job.name.as_str()), Some(dry_run)),
        timing: Timing::start(),
        snapshot_name: name.clone(),
        pools: Vec::new(),
        hooks: Vec::new(),
        snapshots_taken: 0,
        error: None,
    };
    let zfs = Zfs::new();
    match zfs.list_datasets(&job.filesystems.roots()) {
        Err(e) => r.error = Some(ErrorReport::from(&e)),
        Ok(datasets) => {
            let mut by_pool: BTreeMap<String, Vec<SnapshotName>> = BTreeMap::new();
            for d in datasets.iter().filter(|d| job.filesystems.includes(d)) {
                match d.snapshot(&name) {
                    Ok(s) => by_pool.entry(d.pool().to_string()).or_default().push(s),
                    Err(e) => r.error = Some(ErrorReport::new(crate::error::ErrorKind::InvalidName, e.to_string())),
                }
            }
            let fs_list: Vec<String> = by_pool.values().flatten().map(|s| s.dataset().to_string()).collect();
            let env = vec![
                ("ZREPLRS_JOB", job.name.to_string()),
                ("ZREPLRS_FILESYSTEMS", fs_list.join("\n")),
                ("ZREPLRS_SNAPSHOT_NAME", name.clone()),
                ("ZREPLRS_DRY_RUN", if dry_run { "1".into() } else { "0".into() }),
            ];
            let pre_ok = match &job.snapshot.pre_hook {
                Some(argv) => {
                    let h = crate::hook::run("pre", argv, &env, std::env::vars_os(), job.snapshot.hook_timeout);
                    let ok = h.success;
                    r.hooks.push(h);
                    ok
                }
                None => true,
            };
            let mut taken = Vec::new();
            for (pool, snaps) in by_pool {
                let mut p = PoolResult {
                    pool,
                    snapshots: snaps.iter().map(|s| s.to_string()).collect(),
                    taken: false,
                    error: None,
                };
                if !pre_ok {
                    p.error = Some(ErrorReport::new(
                        "pre_hook_failed",
                        "the pre-hook failed, so no snapshot was taken",
                    ));
                } else if dry_run {
                    p.taken = true;
                } else {
                    match zfs.snapshot(&snaps) {
                        Ok(()) => {
                            p.taken = true;
                            taken.extend(p.snapshots.iter().cloned());
                        }
                        Err(e) => p.error = Some(ErrorReport::from(&e)),
                    }
                }
                r.pools.push(p);
            }
            r.snapshots_taken = taken.len() as u64;
            if let (Some(argv), true) = (&job.snapshot.post_hook, pre_ok) {
                let mut env = env.clone();
                env.push(("ZREPLRS_SNAPSHOTS", taken.join("\n")));
                r.hooks.push(crate::hook::run(
                    "post",
                    argv,
                    &env,
                    std::env::vars_os(),
                    job.snapshot.hook_timeout,
                ));
            }
        }
    }
    r.timing.finish();
    r
}

/// Runs `zreplrs snapshot`: takes the snapshots, writes the textfile (not for `--dry-run`), prints the result.
pub fn command(path: Option<&Utf8Path>, a: &SnapshotArgs) -> u8 {
    super::with_job(path, &a.common.job, |config, job| {
        if let Some(code) = super::sender_side_only(job, "snapshot") {
            return code;
        }
        let r = snapshot(job, a.dry_run);
        if !a.dry_run {
            let t = metrics::snapshot_textfile(&r);
            super::write_textfile(a.textfile_dir.as_deref(), config, job, "snapshot", &t);
        }
        super::emit(a.common.output.format(), &r, human::snapshot_summary)
    })
}
