//! `zreplrs snapshot --job`: one atomic `zfs snapshot` per pool over the job's filesystems, named
//! `<prefix><timestamp>`, with optional pre/post hook commands (argv, no shell) bounded by a timeout.
//! A failing pre-hook skips the snapshot and is reported; the post-hook runs for what was taken.

use std::collections::BTreeMap;
use std::io::Read;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde::Serialize;

use crate::config::Job;
use crate::report::{self, exit, metrics, ErrorReport};
use crate::survey::zfs_error;
use crate::zfs::names::SnapshotName;
use crate::zfs::Zfs;

#[derive(Debug, Clone, Serialize)]
pub struct PoolResult {
    pub pool: String,
    pub snapshots: Vec<String>,
    pub taken: bool,
    pub error: Option<ErrorReport>,
}

#[derive(Debug, Clone, Serialize)]
pub struct HookResult {
    pub hook: String,
    pub argv: Vec<String>,
    pub success: bool,
    pub exit_code: Option<i32>,
    pub timed_out: bool,
    /// The last lines of its output (stdout and stderr).
    pub output: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct SnapshotReport {
    pub schema_version: u32,
    pub command: String,
    pub job: String,
    pub dry_run: bool,
    pub started_at: String,
    pub finished_at: String,
    pub duration_seconds: f64,
    pub snapshot_name: String,
    pub pools: Vec<PoolResult>,
    pub hooks: Vec<HookResult>,
    pub snapshots_taken: u64,
    pub error: Option<ErrorReport>,
}

impl SnapshotReport {
    /// 0 all taken; 1 a pool failed or the pre-hook skipped the snapshot; 3 nothing could be listed.
    pub fn exit_code(&self) -> u8 {
        if self.error.is_some() {
            exit::RUN_FAILED
        } else if self.pools.iter().any(|p| !p.taken) || self.hooks.iter().any(|h| !h.success) {
            exit::SOME_FAILED
        } else {
            exit::OK
        }
    }
}

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
    let started = Instant::now();
    let now_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis())
        .unwrap_or(0);
    let name = crate::snapname::snapshot_name(&job.snapshot.prefix, job.snapshot.timestamp_format, now_ms);
    let mut r = SnapshotReport {
        schema_version: report::SCHEMA_VERSION,
        command: "snapshot".into(),
        job: job.name.to_string(),
        dry_run,
        started_at: report::now_rfc3339(),
        finished_at: String::new(),
        duration_seconds: 0.0,
        snapshot_name: name.clone(),
        pools: Vec::new(),
        hooks: Vec::new(),
        snapshots_taken: 0,
        error: None,
    };
    let zfs = Zfs::new();
    match zfs.list_datasets(&job.filesystems.roots()) {
        Err(e) => r.error = Some(zfs_error(&e)),
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
                        Err(e) => p.error = Some(zfs_error(&e)),
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
    r.finished_at = report::now_rfc3339();
    r.duration_seconds = started.elapsed().as_secs_f64();
    r
}

/// The textfile of a snapshot run.
pub fn textfile(r: &SnapshotReport) -> metrics::Textfile {
    let mut t = metrics::Textfile::new();
    let job = vec![("job", r.job.as_str())];
    let ok = if r.exit_code() == exit::OK { 1.0 } else { 0.0 };
    t.gauge(
        "zreplrs_snapshot_last_run_success",
        "1 if the last snapshot run exited 0, else 0.",
        &[(job.clone(), ok)],
    );
    t.gauge(
        "zreplrs_snapshot_last_run_timestamp_seconds",
        "When the last snapshot run finished (unix seconds).",
        &[(job.clone(), report::unix_now() as f64)],
    );
    t.gauge(
        "zreplrs_snapshot_duration_seconds",
        "Wall time of the last snapshot run.",
        &[(job.clone(), r.duration_seconds)],
    );
    t.gauge(
        "zreplrs_snapshot_taken",
        "Snapshots taken by the last snapshot run.",
        &[(job, r.snapshots_taken as f64)],
    );
    metrics::build_info(&mut t);
    t
}
