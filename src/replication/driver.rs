//! The run: lock, the pre-hook, attempts until one completes or retries run out (each attempt lists both
//! sides, plans, holds the steps' snapshots, and replicates the filesystems on up to `concurrency` workers,
//! parents before children), aged step holds released when the receiver stayed unreachable, the report,
//! the post-hook. Plain sequential code; each filesystem's own path is in [`super::filesystem`].

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use crate::config::{Config, Job};
use crate::endpoint::{self, Endpoints, Receiver, Sender};
use crate::lock::{self, LockError};
use crate::report::progress::Progress;
use crate::report::{
    self, AttemptOutcome, AttemptReport, ErrorReport, FsReport, FsResult, Header, RunReport, RunResult, StepReport,
    StepResult, Timing,
};
use crate::survey::{self, Survey, SurveyError};
use crate::zfs::names::DatasetName;

use super::filesystem::FsOutcome;
use super::options::Options;
use super::parallel;

/// Runs `replicate` for `job`. Only a held lock is an `Err`; everything else is in the report.
/// `on_report` gets the finished report before the post-hook runs (the command writes the textfile there);
/// it is not called for a dry run.
pub fn run(
    config: &Config,
    job: &Job,
    opts: &Options,
    on_report: &mut dyn FnMut(&RunReport),
) -> Result<RunReport, LockError> {
    run_with(config, job, opts, &endpoint::for_job(job), on_report)
}

/// [`run`] between the given endpoints.
pub fn run_with(
    config: &Config,
    job: &Job,
    opts: &Options,
    ends: &dyn Endpoints,
    on_report: &mut dyn FnMut(&RunReport),
) -> Result<RunReport, LockError> {
    let lock_dir = opts.lock_dir.as_deref().or(config.global.lock_dir.as_deref());
    let _lock = lock::lock_job_in(lock_dir, &job.name)?;
    let mut report = RunReport {
        header: Header::new(
            if job.is_restore() { "restore" } else { "replicate" },
            Some(job.name.as_str()),
            Some(opts.dry_run),
        ),
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
    if !pre_hook(job, &hook_env, &mut report) {
        report.timing.finish();
        return Ok(report);
    }
    attempts(job, opts, ends, &mut report);
    // A receiver that stays unreachable must not keep the sender's snapshots held forever.
    let unreachable = report
        .attempts
        .last()
        .is_some_and(|a| a.outcome == AttemptOutcome::ConnectivityError);
    // (A pull job's step holds are on the source, which was not reached: it has no local sender.)
    if let (true, false, Some(local)) = (unreachable, opts.dry_run, ends.local_sender()) {
        match super::step_holds::release_aged_step_holds(&*local, job, report::unix_now()) {
            Ok(released) => report.released_aged_step_holds = released,
            Err(e) => eprintln!("zreplrs: cannot release aged step holds: {e}"),
        }
    }
    report.timing.finish();
    report.summarize();
    if !opts.dry_run {
        on_report(&report);
    }
    if let Some(argv) = &job.replicate.post_hook {
        let h = post_hook(argv, hook_env, &report, job.replicate.hook_timeout);
        report.hooks.push(h);
    }
    Ok(report)
}

/// Runs the pre-hook, if any, into `report`; false when it failed (the run is then skipped).
fn pre_hook(job: &Job, env: &[(&str, String)], report: &mut RunReport) -> bool {
    let Some(argv) = &job.replicate.pre_hook else {
        return true;
    };
    let h = crate::hook::run("pre", argv, env, std::env::vars_os(), job.replicate.hook_timeout);
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
    }
    ok
}

/// Attempts until one completes, fails other than by connectivity, or retries run out (backoff doubling
/// from 1 s to 60 s); each attempt's outcome goes into `report`, and the last one's filesystems.
fn attempts(job: &Job, opts: &Options, ends: &dyn Endpoints, report: &mut RunReport) {
    let progress = Progress::new(opts.quiet);
    let mut done_before: BTreeMap<String, Vec<StepReport>> = BTreeMap::new();
    let mut backoff = Duration::from_secs(1);
    loop {
        let number = report.attempts.len() as u32 + 1;
        let attempt_started = report::now_rfc3339();
        let (filesystems, err) = attempt(job, opts, ends, &progress);
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
        let fs_reports = with_earlier_steps(filesystems.into_iter().map(|f| f.0).collect(), &done_before);
        let retry = outcome == AttemptOutcome::ConnectivityError
            && number <= job.retries
            && report.timing.elapsed() + backoff < job.retry_timeout
            && !opts.dry_run;
        if !retry {
            report.filesystems = fs_reports;
            report.error = err.map(|e| e.error);
            return;
        }
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
            let done = f
                .steps
                .iter()
                .filter(|s| s.result == StepResult::Done)
                .cloned()
                .collect();
            done_before.insert(f.name.clone(), done);
        }
        std::thread::sleep(backoff);
        backoff = (backoff * 2).min(Duration::from_secs(60));
    }
}

/// The reports of an attempt with the steps that earlier attempts of this run completed put first.
fn with_earlier_steps(mut fs_reports: Vec<FsReport>, done_before: &BTreeMap<String, Vec<StepReport>>) -> Vec<FsReport> {
    for f in &mut fs_reports {
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
    fs_reports
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

/// One attempt: returns a report per filesystem (with the connectivity error that ended its step, if any)
/// and the error that ended the attempt before filesystems could be handled.
fn attempt(
    job: &Job,
    opts: &Options,
    ends: &dyn Endpoints,
    progress: &Progress,
) -> (Vec<(FsReport, Option<ErrorReport>)>, Option<SurveyError>) {
    match attempt_inner(job, opts, ends, progress) {
        Ok(v) => (v, None),
        Err(e) => (Vec::new(), Some(e)),
    }
}

fn attempt_inner(
    job: &Job,
    opts: &Options,
    ends: &dyn Endpoints,
    progress: &Progress,
) -> Result<Vec<(FsReport, Option<ErrorReport>)>, SurveyError> {
    let zfs: Arc<dyn Sender> = Arc::from(ends.sender()?);
    let mut conn = ends.receiver()?;
    let (survey, mut rotated) = super::rotation::survey(job, opts, &*zfs, &mut *conn)?;
    let Survey {
        filesystems: work,
        listed_at,
        refused,
        ..
    } = survey;
    // The step holds of every step of this attempt, in one call per pool before any transfer.
    let pre_held = super::step_holds::hold_steps(&*zfs, job, opts, &work);
    let waits_for = ancestors(&work);
    // Further workers each have their own connection (and, pulling, their own send-agent session).
    let open = || -> Option<Ends> {
        let opened = ends.sender().and_then(|z| ends.receiver().map(|c| (Arc::from(z), c)));
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
    let one = |(zfs, conn): &mut Ends, i: usize, parent: Option<String>| {
        let ctx = super::filesystem::FsContext {
            job,
            opts,
            progress,
            pre_held: pre_held.as_ref(),
        };
        let o = super::filesystem::replicate_fs(&ctx, &**zfs, &mut **conn, &work[i], parent);
        // The connection is gone: the remaining filesystems wait for the next attempt.
        let stop = o.conn_error.is_some();
        parallel::Done { outcome: o, stop }
    };
    let workers = if opts.dry_run { 1 } else { job.concurrency };
    let outcomes = parallel::run(
        workers,
        &waits_for,
        (Arc::clone(&zfs), conn),
        &open,
        &blocked_parent,
        &one,
    );
    let handled = after_transfers(&*zfs, job, opts, &work, outcomes, pre_held, listed_at);
    // A root the source's send-agent refused fails alone.
    let mut results: Vec<(FsReport, Option<ErrorReport>)> = refused
        .into_iter()
        .map(|(name, error)| (refused_report(job, &name, error), None))
        .collect();
    results.extend(handled.into_iter().map(|(mut r, e)| {
        r.rotated_to = rotated.remove(&r.name);
        (r, e)
    }));
    Ok(results)
}

/// After an attempt's transfers: the reports of the filesystems that were handled, their step holds
/// released (those of failed steps stay), lag filled in, and sync records written.
fn after_transfers(
    zfs: &dyn Sender,
    job: &Job,
    opts: &Options,
    work: &[survey::FsSurvey],
    outcomes: Vec<Option<FsOutcome>>,
    pre_held: Option<std::collections::BTreeSet<crate::zfs::names::SnapshotName>>,
    listed_at: Option<crate::synced::ListedAt>,
) -> Vec<(FsReport, Option<ErrorReport>)> {
    let mut results = Vec::with_capacity(work.len());
    let mut handled = Vec::with_capacity(work.len());
    for (w, o) in work.iter().zip(outcomes) {
        if let Some(o) = o {
            handled.push(w);
            results.push((o.report, o.conn_error));
        }
    }
    if let Some(held) = pre_held {
        super::step_holds::release_steps(zfs, job, held, &handled, &results);
    }
    let names: Vec<String> = results.iter().filter_map(|r| r.0.newest_replicated.clone()).collect();
    let creations = survey::creation_times(zfs, work, &names);
    super::records::fill_lag(&creations, &mut results);
    if let (Some(at), Some(prop), false) = (listed_at, job.sync_record_property(), opts.dry_run) {
        super::records::write_sync_records(zfs, &handled, &results, &creations, at, &prop, job);
    }
    results
}

/// A worker's sender and receiver.
type Ends = (Arc<dyn Sender>, Box<dyn Receiver>);

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
        rotated_to: None,
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
