//! `zreplrs snapshot --job`: one atomic `zfs snapshot` per pool over the job's filesystems, named
//! `<prefix><timestamp>`, with optional pre/post hook commands (argv, no shell) bounded by a timeout.
//! A failing pre-hook skips the snapshot and is reported; the post-hook runs for what was taken.

use std::collections::BTreeMap;
use std::io::Read;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use camino::Utf8Path;

use crate::cli::SnapshotArgs;
use crate::config::Job;
use crate::report::commands::{HookResult, PoolResult, SnapshotReport};
use crate::report::{human, metrics, ErrorReport, Header, Timing};
use crate::zfs::names::SnapshotName;
use crate::zfs::Zfs;

/// Runs a hook with the given environment, killing it after `timeout`.
pub fn run_hook(kind: &str, argv: &[String], env: &[(&str, String)], timeout: Duration) -> HookResult {
    let mut result = HookResult {
        hook: kind.into(),
        argv: argv.to_vec(),
        success: false,
        exit_code: None,
        timed_out: false,
        output: String::new(),
    };
    let Some((prog, args)) = argv.split_first() else {
        result.output = "empty hook command".into();
        return result;
    };
    let mut cmd = Command::new(prog);
    cmd.args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    for (k, v) in env {
        cmd.env(k, v);
    }
    let mut child = match cmd.spawn() {
        Ok(c) => c,
        Err(e) => {
            result.output = format!("cannot run {prog}: {e}");
            return result;
        }
    };
    let readers: Vec<_> = [
        child.stdout.take().map(|o| Box::new(o) as Box<dyn Read + Send>),
        child.stderr.take().map(|e| Box::new(e) as Box<dyn Read + Send>),
    ]
    .into_iter()
    .flatten()
    .map(|mut r| {
        std::thread::spawn(move || {
            let mut s = String::new();
            let _ = r.read_to_string(&mut s);
            s
        })
    })
    .collect();
    let deadline = Instant::now() + timeout;
    let status = loop {
        match child.try_wait() {
            Ok(Some(s)) => break Some(s),
            Ok(None) if Instant::now() >= deadline => {
                let _ = child.kill();
                let _ = child.wait();
                result.timed_out = true;
                break None;
            }
            Ok(None) => std::thread::sleep(Duration::from_millis(20)),
            Err(_) => break None,
        }
    };
    let output: String = readers
        .into_iter()
        .filter_map(|h| h.join().ok())
        .collect::<Vec<_>>()
        .join("");
    let lines: Vec<&str> = output.lines().collect();
    result.output = lines[lines.len().saturating_sub(20)..].join("\n");
    if result.timed_out {
        result.output = format!("killed after {}s\n{}", timeout.as_secs(), result.output);
    }
    result.exit_code = status.and_then(|s| s.code());
    result.success = status.is_some_and(|s| s.success());
    result
}

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
                    Err(e) => r.error = Some(ErrorReport::new("invalid_name", e.to_string())),
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
                    let h = run_hook("pre", argv, &env, job.snapshot.hook_timeout);
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
                r.hooks.push(run_hook("post", argv, &env, job.snapshot.hook_timeout));
            }
        }
    }
    r.timing.finish();
    r
}

/// Runs `zreplrs snapshot`: takes the snapshots, writes the textfile (not for `--dry-run`), prints the result.
pub fn command(path: Option<&Utf8Path>, a: &SnapshotArgs) -> u8 {
    super::with_job(path, &a.common.job, |config, job| {
        let r = snapshot(job, a.dry_run);
        if !a.dry_run {
            let t = metrics::snapshot_textfile(&r);
            super::write_textfile(a.textfile_dir.as_deref(), config, job, "snapshot", &t);
        }
        super::emit(a.common.format, &r, human::snapshot_summary)
    })
}
