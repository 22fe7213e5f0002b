//! The `replicate` driver, plain sequential code: lock → connect → list both sides (at most two `zfs list`
//! each) → decode resume tokens → plan every filesystem → estimate sizes → execute steps (up to
//! `concurrency` filesystems at once, each over its own connection, a child only after its parent finished;
//! one filesystem's failure does not stop the others) → record filesystems found up to date (`crate::synced`) →
//! report. Connectivity failures end the attempt; the run then reconnects with backoff, re-plans from live
//! state and resumes, within `retries` and `retry_timeout`.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use camino::{Utf8Path, Utf8PathBuf};

use crate::cli::ReplicateArgs;
use crate::config::{Config, Job, Protection};
use crate::lock::{self, LockError};
use crate::plan::{FsPlan, Step};
use crate::report::progress::Progress;
use crate::report::{
    self, human, metrics, AttemptOutcome, AttemptReport, ErrorReport, FsReport, FsResult, Header, RunReport, RunResult,
    StepReport, StepResult, Timing,
};
use crate::step::{self, StepContext};
use crate::survey::{self, Survey, SurveyError};
use crate::synced::{self, ListedAt};
use crate::zfs::names::{BookmarkName, DatasetName, SnapshotName};
use crate::zfs::Zfs;

use super::parallel;

/// Options of one `replicate` run.
#[derive(Debug, Clone, Default)]
pub struct Options {
    pub dry_run: bool,
    /// Overrides the configured textfile directory.
    pub textfile_dir: Option<Utf8PathBuf>,
    /// Overrides the lock directory.
    pub lock_dir: Option<Utf8PathBuf>,
    /// No progress bars.
    pub quiet: bool,
}

/// Runs `replicate` for `job`. Only a held lock is an `Err`; everything else is in the report.
pub fn run(config: &Config, job: &Job, opts: &Options) -> Result<RunReport, LockError> {
    let lock_dir = opts.lock_dir.as_deref().or(config.global.lock_dir.as_deref());
    let _lock = lock::lock_job_in(lock_dir, &job.name)?;
    let mut report = RunReport {
        header: Header::new("replicate", Some(job.name.as_str()), Some(opts.dry_run)),
        timing: Timing::start(),
        result: RunResult::NothingToDo,
        attempts: Vec::new(),
        bytes_estimated: 0,
        bytes_estimate_exact: true,
        bytes_replicated: 0,
        wire_bytes_replicated: 0,
        filesystems: Vec::new(),
        error: None,
        released_aged_step_holds: Vec::new(),
        hooks: Vec::new(),
    };
    let hook_env = vec![
        ("ZREPLRS_JOB", job.name.to_string()),
        ("ZREPLRS_DRY_RUN", if opts.dry_run { "1" } else { "0" }.to_string()),
    ];
    if let Some(argv) = &job.replicate.pre_hook {
        let h = crate::hook::run("pre", argv, &hook_env, std::env::vars_os(), job.replicate.hook_timeout);
        let ok = h.success;
        let why = if h.timed_out {
            "timed out".to_string()
        } else {
            h.exit_code.map_or("failed".to_string(), |c| format!("exited with {c}"))
        };
        report.hooks.push(h);
        if !ok {
            report.result = RunResult::Skipped;
            report.error = Some(ErrorReport::new(
                "pre_hook_failed",
                format!("the pre-hook {why}, so the run was skipped; nothing was looked at or sent"),
            ));
            report.timing.finish();
            return Ok(report);
        }
    }
    let progress = Progress::new(opts.quiet);
    let mut done_before: BTreeMap<String, Vec<StepReport>> = BTreeMap::new();
    let mut backoff = Duration::from_secs(1);
    loop {
        let number = report.attempts.len() as u32 + 1;
        let attempt_started = report::now_rfc3339();
        let (filesystems, err) = attempt(job, opts, &progress);
        let outcome = match &err {
            None => AttemptOutcome::Completed,
            Some(e) if e.connectivity => AttemptOutcome::ConnectivityError,
            Some(_) => AttemptOutcome::Failed,
        };
        // Connectivity failures inside a step also end the attempt.
        let step_conn = filesystems.iter().find_map(|f| f.1.clone());
        let outcome = if outcome == AttemptOutcome::Completed && step_conn.is_some() {
            AttemptOutcome::ConnectivityError
        } else {
            outcome
        };
        report.attempts.push(AttemptReport {
            number,
            started_at: attempt_started,
            finished_at: report::now_rfc3339(),
            outcome,
            error: err.as_ref().map(|e| e.error.clone()).or(step_conn),
        });
        let mut fs_reports: Vec<FsReport> = filesystems.into_iter().map(|f| f.0).collect();
        for f in &mut fs_reports {
            // Steps completed by earlier attempts stay in the report.
            if let Some(prev) = done_before.get(&f.name) {
                let mut steps = prev.clone();
                steps.append(&mut f.steps);
                f.steps = steps;
                // Brought up to date by an earlier attempt of this run.
                if f.result == FsResult::UpToDate && !prev.is_empty() {
                    f.result = FsResult::Ok;
                }
            }
        }
        let retry = outcome == AttemptOutcome::ConnectivityError
            && number <= job.retries
            && report.timing.elapsed() + backoff < job.retry_timeout
            && !opts.dry_run;
        if retry {
            if let Some(e) = report.attempts.last().and_then(|a| a.error.as_ref()) {
                // One line per retry for the journal: why the attempt ended and when the next one starts.
                eprintln!(
                    "zreplrs: job {}: attempt {number} ended ({}: {}); reconnecting in {}s",
                    job.name,
                    e.kind,
                    e.message,
                    backoff.as_secs()
                );
            }
            for f in &fs_reports {
                done_before.insert(
                    f.name.clone(),
                    f.steps
                        .iter()
                        .filter(|s| s.result == StepResult::Done)
                        .cloned()
                        .collect(),
                );
            }
            std::thread::sleep(backoff);
            backoff = (backoff * 2).min(Duration::from_secs(60));
            continue;
        }
        report.filesystems = fs_reports;
        report.error = err.map(|e| e.error);
        break;
    }
    // A receiver that stays unreachable must not keep the sender's snapshots held forever.
    let unreachable = report
        .attempts
        .last()
        .is_some_and(|a| a.outcome == AttemptOutcome::ConnectivityError);
    // (A pull job's step holds are on the source, which was not reached.)
    if unreachable && !opts.dry_run && !job.is_pull() {
        match super::holds::release_aged_step_holds(&Zfs::new(), job, report::unix_now()) {
            Ok(released) => report.released_aged_step_holds = released,
            Err(e) => eprintln!("zreplrs: cannot release aged step holds: {e}"),
        }
    }
    report.timing.finish();
    report.summarize();
    if !opts.dry_run {
        let t = metrics::replication_textfile(&report, report::unix_now());
        super::write_textfile(opts.textfile_dir.as_deref(), config, job, "replicate", &t);
    }
    if let Some(argv) = &job.replicate.post_hook {
        let h = post_hook(argv, hook_env, &report, job.replicate.hook_timeout);
        report.hooks.push(h);
    }
    Ok(report)
}

/// Whether the children of a filesystem with this result must not be received: it failed, or conflicts
/// because the receiver's dataset at its place is not our copy. A parent that merely has no snapshots, is
/// not encrypted under `send.encrypted`, or waits for `initial_replication` leaves its place free (or a
/// placeholder), and its children are replicated below it as usual.
fn blocks_children(fsr: &FsReport, plan: &FsPlan) -> bool {
    use crate::plan::ConflictKind as K;
    match (fsr.result, plan) {
        (FsResult::Failed, _) => true,
        (FsResult::Conflict, FsPlan::Conflict { kind, .. }) => !matches!(
            kind,
            K::NoSenderSnapshots | K::NotEncrypted | K::InitialReplicationRefused
        ),
        _ => false,
    }
}

/// Runs the post-hook with the run's result in `ZREPLRS_RESULT` (`ok`, `partial` or `failed`),
/// `ZREPLRS_EXIT_CODE`, and the JSON result in the file named by `ZREPLRS_RESULT_FILE` (created
/// exclusively, removed after the hook).
fn post_hook(
    argv: &[String],
    mut env: Vec<(&str, String)>,
    report: &RunReport,
    timeout: Duration,
) -> crate::report::commands::HookResult {
    let result = match report.result {
        RunResult::Ok | RunResult::NothingToDo => "ok",
        RunResult::Partial => "partial",
        RunResult::Failed | RunResult::Skipped => "failed",
    };
    env.push(("ZREPLRS_RESULT", result.to_string()));
    env.push((
        "ZREPLRS_EXIT_CODE",
        crate::report::CommandReport::exit_code(report).to_string(),
    ));
    let file = tempfile::Builder::new()
        .prefix("zreplrs-result-")
        .suffix(".json")
        .tempfile()
        .and_then(|mut f| {
            let json = serde_json::to_vec_pretty(report).map_err(std::io::Error::other)?;
            std::io::Write::write_all(&mut f, &json)?;
            Ok(f)
        });
    match &file {
        Ok(f) => env.push(("ZREPLRS_RESULT_FILE", f.path().display().to_string())),
        Err(e) => eprintln!("zreplrs: cannot write the result file for the post-hook: {e}"),
    }
    crate::hook::run("post", argv, &env, std::env::vars_os(), timeout)
}

/// Runs `zreplrs replicate`: the report is printed as JSON or as a table; a held lock is exit 4.
pub fn command(path: Option<&Utf8Path>, a: &ReplicateArgs) -> u8 {
    super::with_job(path, &a.job, |config, job| {
        let opts = Options {
            dry_run: a.dry_run,
            textfile_dir: a.textfile_dir.clone(),
            lock_dir: a.lock_dir.clone(),
            quiet: a.quiet,
        };
        let mut job = job.clone();
        if a.bandwidth_limit.is_some() {
            job.bandwidth_limit = a.bandwidth_limit;
        }
        if a.compression.is_some() {
            job.compression_setting = a.compression;
        }
        let job = &job;
        match run(config, job, &opts) {
            Ok(report) => super::emit(a.output.format(), &report, human::replicate_table),
            Err(e) => {
                if matches!(e, LockError::Held { .. }) && !a.dry_run {
                    let t = metrics::locked_textfile(job.name.as_str(), report::unix_now());
                    super::write_textfile(a.textfile_dir.as_deref(), config, job, "replicate_locked", &t);
                }
                super::lock_failure(&e)
            }
        }
    })
}

/// One attempt: returns a report per filesystem (with the connectivity error that ended its step, if any)
/// and the error that ended the attempt before filesystems could be handled.
fn attempt(
    job: &Job,
    opts: &Options,
    progress: &Progress,
) -> (Vec<(FsReport, Option<ErrorReport>)>, Option<SurveyError>) {
    match attempt_inner(job, opts, progress) {
        Ok(v) => (v, None),
        Err(e) => (Vec::new(), Some(e)),
    }
}

/// What replicating one filesystem came to: its report, the connectivity error that ended it (which ends
/// the attempt), and whether its children must not be received below it.
struct FsOutcome {
    report: FsReport,
    conn_error: Option<ErrorReport>,
    blocks: bool,
}

fn attempt_inner(
    job: &Job,
    opts: &Options,
    progress: &Progress,
) -> Result<Vec<(FsReport, Option<ErrorReport>)>, SurveyError> {
    let zfs = crate::transport::sender_zfs(job)?;
    let Survey {
        conn,
        filesystems: work,
        listed_at,
        refused,
        ..
    } = survey::survey(job, &zfs)?;
    // The step holds of every step of this attempt, in one call per pool before any transfer.
    let pre_held = hold_steps(&zfs, job, opts, &work);
    let waits_for = ancestors(&work);
    // Further workers each have their own connection (and, pulling, their own send-agent session).
    let open = || -> Option<(Zfs, crate::transport::Connection)> {
        let opened = crate::transport::sender_zfs(job).and_then(|z| crate::transport::connect(job).map(|c| (z, c)));
        match opened {
            Ok(r) => Some(r),
            Err(e) => {
                eprintln!("zreplrs: job {}: one connection fewer this attempt: {e}", job.name);
                None
            }
        }
    };
    // The nearest ancestor whose place on the receiver is not our copy: nothing is received below it.
    let blocked_parent = |i: usize, done: &[Option<FsOutcome>]| -> Option<String> {
        waits_for[i]
            .iter()
            .rev()
            .filter_map(|&j| done[j].as_ref())
            .find(|o| o.blocks)
            .map(|o| o.report.name.clone())
    };
    let one = |(zfs, conn): &mut (Zfs, crate::transport::Connection), i: usize, parent: Option<String>| {
        let ctx = FsContext {
            job,
            opts,
            progress,
            pre_held: pre_held.as_ref(),
        };
        let o = replicate_fs(&ctx, zfs, conn, &work[i], parent);
        // The connection is gone: the remaining filesystems wait for the next attempt.
        let stop = o.conn_error.is_some();
        parallel::Done { outcome: o, stop }
    };
    let workers = if opts.dry_run { 1 } else { job.concurrency };
    let outcomes = parallel::run(workers, &waits_for, (zfs.clone(), conn), &open, &blocked_parent, &one);
    let mut results = Vec::with_capacity(work.len() + refused.len());
    let mut handled = Vec::with_capacity(work.len());
    // A root the source's send-agent refused fails alone.
    results.extend(
        refused
            .into_iter()
            .map(|(name, error)| (refused_report(job, &name, error), None)),
    );
    for (w, o) in work.iter().zip(outcomes) {
        if let Some(o) = o {
            handled.push(w);
            results.push((o.report, o.conn_error));
        }
    }
    if let Some(held) = pre_held {
        release_steps(&zfs, job, held, &handled, &results);
    }
    let names: Vec<String> = results.iter().filter_map(|r| r.0.newest_replicated.clone()).collect();
    let creations = survey::creation_times(&zfs, &work, &names);
    fill_lag(&creations, &mut results);
    if let (Some(at), Some(prop), false) = (listed_at, job.sync_record_property(), opts.dry_run) {
        write_sync_records(&zfs, &handled, &results, &creations, at, &prop, job);
    }
    Ok(results)
}

/// The report of a root of the job that the source's send-agent refused to list.
fn refused_report(job: &Job, name: &DatasetName, error: ErrorReport) -> FsReport {
    FsReport {
        name: name.to_string(),
        target: job.receiver_path(name).unwrap_or_default(),
        result: FsResult::Failed,
        steps: Vec::new(),
        error: Some(error),
        resumable: false,
        pending_snapshots: 0,
        newest_replicated: None,
        lag_seconds: None,
    }
}

/// Puts the step hold on every snapshot that a step of this attempt may send or send from, in one call per
/// pool (one transaction group through libzfs_core), before any transfer starts; snapshots that already
/// carry it (left by a run that died) keep it. Returns the snapshots held for this attempt, or `None` where
/// each step holds its own snapshots instead: other protections, a dry run, or when this call failed (the
/// steps then hold them one filesystem at a time and report any error for their filesystem).
fn hold_steps(zfs: &Zfs, job: &Job, opts: &Options, work: &[survey::FsSurvey]) -> Option<BTreeSet<SnapshotName>> {
    if opts.dry_run || job.protection != Protection::GuaranteeResumability {
        return None;
    }
    let mut all = BTreeSet::new();
    let mut carrying = BTreeSet::new();
    for w in work {
        if let FsPlan::Replicate { steps, .. } = &w.plan {
            for s in steps {
                all.extend(crate::plan::step_hold_targets(&w.sender.name, s));
            }
            carrying.extend(w.stale_step_holds.iter().cloned());
        }
    }
    let new: Vec<SnapshotName> = all.difference(&carrying).cloned().collect();
    match zfs.hold(&job.name.step_hold_tag(), &new) {
        Ok(()) => Some(all),
        Err(e) => {
            eprintln!(
                "zreplrs: job {}: cannot put the step holds of all filesystems at once, each filesystem puts its own: {e}",
                job.name
            );
            None
        }
    }
}

/// Releases the attempt's step holds in one call per pool once every transfer has ended. Each cursor that a
/// step moved exists by then. The holds of a step that failed stay (they keep its resumable state's
/// snapshots until the next run, which releases them as stale); so does everything if the release fails.
fn release_steps(
    zfs: &Zfs,
    job: &Job,
    mut held: BTreeSet<SnapshotName>,
    work: &[&survey::FsSurvey],
    results: &[(FsReport, Option<ErrorReport>)],
) {
    for (w, (fsr, _)) in work.iter().zip(results) {
        if let FsPlan::Replicate { steps, .. } = &w.plan {
            for (s, r) in steps.iter().zip(&fsr.steps) {
                if r.result == StepResult::Failed {
                    for t in crate::plan::step_hold_targets(&w.sender.name, s) {
                        held.remove(&t);
                    }
                }
            }
        }
    }
    let held: Vec<SnapshotName> = held.into_iter().collect();
    if let Err(e) = zfs.release(&job.name.step_hold_tag(), &held) {
        eprintln!(
            "zreplrs: job {}: cannot release the step holds (the next run releases them): {e}",
            job.name
        );
    }
}

/// For each filesystem, the indices of its ancestors among `work` (which lists parents first), nearest last.
fn ancestors(work: &[survey::FsSurvey]) -> Vec<Vec<usize>> {
    let index: BTreeMap<&str, usize> = work
        .iter()
        .enumerate()
        .map(|(i, w)| (w.sender.name.as_str(), i))
        .collect();
    work.iter()
        .map(|w| {
            let name = w.sender.name.as_str();
            let mut up: Vec<usize> = name
                .match_indices('/')
                .filter_map(|(at, _)| index.get(&name[..at]).copied())
                .collect();
            up.sort_unstable();
            up
        })
        .collect()
}

/// What every filesystem of an attempt shares: the job, the run's options, the progress bars, and the step
/// holds put for the whole attempt (see [`hold_steps`]).
#[derive(Clone, Copy)]
struct FsContext<'a> {
    job: &'a Job,
    opts: &'a Options,
    progress: &'a Progress,
    pre_held: Option<&'a BTreeSet<SnapshotName>>,
}

/// Replicates one filesystem over `conn`: prepares its protection, then runs its steps in order. `parent`
/// names the ancestor that failed or conflicts in this run, if any: the filesystem is then not replicated.
fn replicate_fs(
    ctx: &FsContext<'_>,
    zfs: &Zfs,
    conn: &mut crate::transport::Connection,
    w: &survey::FsSurvey,
    parent: Option<String>,
) -> FsOutcome {
    let FsContext {
        job,
        opts,
        progress,
        pre_held,
    } = *ctx;
    let mut fsr = FsReport {
        name: w.sender.name.to_string(),
        target: w.target.to_string(),
        result: FsResult::UpToDate,
        steps: Vec::new(),
        error: None,
        resumable: false,
        pending_snapshots: 0,
        newest_replicated: None,
        lag_seconds: None,
    };
    let mut conn_error = None;
    let mut newest_guid = w.receiver_newest;
    let initial = if opts.dry_run {
        StepResult::Planned
    } else {
        StepResult::NotAttempted
    };
    fsr.steps = w
        .plan
        .steps()
        .iter()
        .zip(&w.estimates)
        .map(|(s, e)| step_report(&w.sender.name, s, *e, initial))
        .collect();
    match &w.plan {
        _ if parent.is_some() => {
            let p = parent.unwrap_or_default();
            fsr.result = FsResult::Failed;
            fsr.error = Some(ErrorReport::new(
                "parent_failed",
                format!(
                    "not replicated: its parent {p} failed or conflicts in this run, so its place on the \
                     receiver is not a copy of {p}; fix the parent first"
                ),
            ));
        }
        FsPlan::Conflict { kind, reason } => {
            fsr.result = FsResult::Conflict;
            fsr.error = Some(ErrorReport::new(kind.name(), reason.clone()));
            fsr.resumable = w.receiver.as_ref().is_some_and(|r| r.resume_token.is_some());
        }
        FsPlan::UpToDate | FsPlan::Replicate { .. } if opts.dry_run => {
            if !fsr.steps.is_empty() {
                fsr.result = FsResult::Planned;
            }
        }
        // Up to date by its sync record: the run that wrote the record repaired its protection.
        FsPlan::UpToDate if w.from_record => {}
        FsPlan::UpToDate | FsPlan::Replicate { .. } => match prepare(zfs, conn, job, w, pre_held) {
            Err(e) => {
                fsr.result = FsResult::Failed;
                if e.connectivity {
                    conn_error = Some(e.error.clone());
                }
                fsr.error = Some(e.error);
            }
            Ok(cursors) => {
                if let FsPlan::Replicate {
                    steps,
                    replace_placeholder,
                    ..
                } = &w.plan
                {
                    if !steps.is_empty() {
                        fsr.result = FsResult::Ok;
                    }
                    let ctx = StepContext {
                        zfs,
                        job: &job.name,
                        fs: &w.sender.name,
                        rel: &w.rel,
                        flags: job.send.flags,
                        protection: job.protection,
                        stall_timeout: job.stall_timeout,
                        pre_held: pre_held.is_some(),
                        encrypted: w.sender.is_encrypted(),
                    };
                    let mut old_cursors = cursors;
                    for (i, s) in steps.iter().enumerate() {
                        let label = format!("{} {}", w.sender.name, s.to.relative_name());
                        let bar = progress.transfer(&label, w.estimates[i]);
                        let first_full = *replace_placeholder && i == 0;
                        let r = step::execute(&ctx, conn.client(), s, first_full, &old_cursors, &mut |b| {
                            bar.set_position(b)
                        });
                        bar.finish_and_clear();
                        match r {
                            Ok(moved) => {
                                fsr.steps[i].bytes = moved.bytes;
                                fsr.steps[i].wire_bytes = moved.wire_bytes;
                                fsr.steps[i].result = StepResult::Done;
                                newest_guid = Some(s.to.guid);
                                old_cursors = w
                                    .sender
                                    .name
                                    .bookmark(&job.name.cursor_bookmark_short(s.to.guid.0))
                                    .into_iter()
                                    .collect();
                            }
                            Err(f) => {
                                fsr.steps[i].bytes = f.bytes;
                                fsr.steps[i].wire_bytes = f.wire_bytes;
                                fsr.steps[i].result = StepResult::Failed;
                                fsr.result = FsResult::Failed;
                                fsr.resumable = f.bytes > 0;
                                if f.connectivity {
                                    conn_error = Some(f.error.clone());
                                }
                                fsr.error = Some(f.error);
                                break;
                            }
                        }
                    }
                }
            }
        },
    }
    // What is on both sides now.
    if let Some(g) = newest_guid {
        if let Some(v) = w.sender.versions.iter().rev().find(|v| v.guid == g) {
            fsr.newest_replicated = Some(v.full_name(w.sender.name.as_str()));
            fsr.pending_snapshots = w.sender.snapshots().filter(|s| s.createtxg > v.createtxg).count() as u64;
        }
    } else {
        fsr.pending_snapshots = w.sender.snapshots().count() as u64;
    }
    let blocks = blocks_children(&fsr, &w.plan);
    FsOutcome {
        report: fsr,
        conn_error,
        blocks,
    }
}

/// Records each filesystem this attempt found up to date and protected (prepared without error), so that
/// the next run need not list its snapshots. A record that cannot be written only costs that listing.
fn write_sync_records(
    zfs: &Zfs,
    work: &[&survey::FsSurvey],
    results: &[(FsReport, Option<ErrorReport>)],
    creations: &BTreeMap<String, u64>,
    at: ListedAt,
    prop: &str,
    job: &Job,
) {
    let now = report::unix_now();
    for (w, (fsr, _)) in work.iter().zip(results) {
        if w.from_record || fsr.result != FsResult::UpToDate {
            continue;
        }
        let (Some(recv), Some(newest), Some(name)) = (
            w.receiver.as_ref(),
            w.sender.newest_snapshot(),
            fsr.newest_replicated.as_ref(),
        ) else {
            continue;
        };
        let Some(creation) = creations.get(name) else {
            continue;
        };
        if let Some(record) = synced::record_for(&w.sender, recv, at, newest, *creation, now) {
            if let Err(e) = zfs.set_property(w.sender.name.as_str(), prop, &record.to_value()) {
                eprintln!(
                    "zreplrs: job {}: cannot record {} as up to date (the next run lists its snapshots again): {e}",
                    job.name, w.sender.name
                );
            }
        }
    }
}

/// Before a filesystem's steps (or when it is up to date): abort a stale resume token, release step holds
/// left by a run that died (but not from snapshots this attempt holds for its own steps: `pre_held`), and repair protection of the incremental base that such a run may have left
/// incomplete (it died after the receive, before the cursor or the last-received hold existed): the cursor
/// goes on the receiver's newest snapshot first, then older cursors go. Returns this job's cursors now.
fn prepare(
    zfs: &Zfs,
    conn: &mut crate::transport::Connection,
    job: &Job,
    w: &survey::FsSurvey,
    pre_held: Option<&BTreeSet<SnapshotName>>,
) -> Result<Vec<BookmarkName>, SurveyError> {
    if let FsPlan::Replicate {
        abort_stale_token: true,
        ..
    } = &w.plan
    {
        conn.client().abort_resume(&w.rel)?;
    }
    // Stale step holds go, except where this attempt holds the same snapshot for a step of its own.
    let stale: Vec<SnapshotName> = w
        .stale_step_holds
        .iter()
        .filter(|s| !pre_held.is_some_and(|h| h.contains(*s)))
        .cloned()
        .collect();
    zfs.release(&job.name.step_hold_tag(), &stale)?;
    let mut cursors: Vec<BookmarkName> = w.cursors.iter().map(|c| c.0.clone()).collect();
    let (Some(base_guid), Some(recv_newest)) =
        (w.receiver_newest, w.receiver.as_ref().and_then(|r| r.newest_snapshot()))
    else {
        return Ok(cursors);
    };
    let Some(base) = w
        .sender
        .versions
        .iter()
        .filter(|v| v.guid == base_guid)
        .min_by_key(|v| !v.is_snapshot())
    else {
        return Ok(cursors);
    };
    let cursor_missing = !w.cursors.iter().any(|(_, g)| *g == base_guid);
    if cursor_missing {
        let cursor = w
            .sender
            .name
            .bookmark(&job.name.cursor_bookmark_short(base_guid.0))
            .map_err(|e| SurveyError {
                error: ErrorReport::new("invalid_name", e.to_string()),
                connectivity: false,
            })?;
        zfs.bookmark(&base.full_name(w.sender.name.as_str()), base_guid, &cursor)?;
        let stale: Vec<BookmarkName> = cursors.iter().filter(|c| **c != cursor).cloned().collect();
        zfs.destroy_bookmarks(&stale)?;
        cursors = vec![cursor];
    }
    let hold_missing = recv_newest.userrefs == Some(0);
    if job.protection != Protection::GuaranteeNothing && (cursor_missing || hold_missing) {
        conn.client()
            .hold_last_received(&w.rel, &recv_newest.short, base_guid.0, job.name.as_str())?;
    }
    Ok(cursors)
}

fn step_report(fs: &DatasetName, s: &Step, estimate: Option<u64>, result: StepResult) -> StepReport {
    StepReport {
        from: s.from.as_ref().map(|f| f.full_name(fs.as_str())),
        from_guid: s.from.as_ref().map(|f| f.guid),
        to: s.to.full_name(fs.as_str()),
        to_guid: s.to.guid,
        snapshots: s.snapshot_count() as u64,
        resumed: s.resume_token.is_some(),
        bytes_estimated: estimate,
        bytes: 0,
        wire_bytes: 0,
        result,
    }
}

/// Lag: seconds since the creation of each filesystem's newest replicated version.
fn fill_lag(times: &BTreeMap<String, u64>, results: &mut [(FsReport, Option<ErrorReport>)]) {
    let now = report::unix_now();
    for (r, _) in results.iter_mut() {
        if let Some(c) = r.newest_replicated.as_ref().and_then(|n| times.get(n)) {
            r.lag_seconds = Some(now.saturating_sub(*c));
        }
    }
}
