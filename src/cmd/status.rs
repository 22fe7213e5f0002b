//! `zreplrs status --job` (or `--all`, every job in one view): replication state from live ZFS on both sides only — per filesystem the newest
//! sender snapshot, the newest replicated one, lag, pending snapshots and estimated bytes (flagged when
//! imprecise), resumable state and conflicts. Reads only; takes no lock.

use camino::Utf8Path;

use crate::cli::StatusArgs;
use crate::config::{Config, Job};
use crate::endpoint::Endpoints;
use crate::plan::FsPlan;
use crate::report::commands::{FsState, FsStatus, StatusAllReport, StatusReport};
use crate::report::{self, human, metrics, ErrorReport, Header};
use crate::survey::{self, FsSurvey};

/// One filesystem's status; only snapshots the job's `[jobs.snapshots]` filter selects count as pending.
fn fs_status(f: &FsSurvey, selected: &crate::config::SnapshotFilter) -> FsStatus {
    let fs = f.sender.name.as_str();
    let newest_replicated = f.receiver_newest.and_then(|g| {
        f.sender
            .versions
            .iter()
            .filter(|v| v.guid == g)
            .min_by_key(|v| !v.is_snapshot())
    });
    let after = newest_replicated.map_or(0, |v| v.createtxg);
    let pending_snapshots = f
        .sender
        .snapshots()
        .filter(|s| (newest_replicated.is_none() || s.createtxg > after) && selected.matches(&s.short))
        .count() as u64;
    let (state, conflict) = match &f.plan {
        FsPlan::UpToDate => (FsState::UpToDate, None),
        FsPlan::Replicate { steps, .. } if steps.is_empty() => (FsState::UpToDate, None),
        FsPlan::Replicate { .. } => (FsState::Pending, None),
        FsPlan::Conflict { kind, reason } => (FsState::Conflict, Some(ErrorReport::new(kind.name(), reason.clone()))),
    };
    FsStatus {
        name: fs.to_string(),
        target: f.target.to_string(),
        state,
        newest_sender_snapshot: f.sender.newest_snapshot().map(|v| v.full_name(fs)),
        newest_replicated: newest_replicated.map(|v| v.full_name(fs)),
        lag_seconds: None,
        pending_snapshots,
        pending_bytes: f.estimates.iter().map(|e| e.unwrap_or(0)).sum(),
        pending_bytes_exact: f.estimates.iter().all(Option::is_some),
        resumable: f.receiver.as_ref().is_some_and(|r| r.resume_token.is_some()),
        conflict,
    }
}

/// Surveys both sides and reports (a failed-over job in the direction it now replicates).
pub fn status(job: &Job) -> StatusReport {
    let job = &crate::replication::failover::job_for_run(job);
    let mut r = StatusReport {
        header: Header::new("status", Some(job.name.as_str()), None),
        generated_at: report::now_rfc3339(),
        filesystems: Vec::new(),
        error: None,
    };
    let ends = crate::endpoint::for_job(job);
    let opened = ends.sender().and_then(|z| ends.receiver().map(|c| (z, c)));
    let (zfs, mut conn) = match opened {
        Ok(r) => r,
        Err(e) => {
            r.error = Some(survey::SurveyError::from(e).error);
            return r;
        }
    };
    match survey::survey(job, &*zfs, &mut *conn) {
        Ok(s) => {
            r.filesystems = s.filesystems.iter().map(|f| fs_status(f, &job.snapshots)).collect();
            let names: Vec<String> = r
                .filesystems
                .iter()
                .filter_map(|f| f.newest_replicated.clone())
                .collect();
            let times = survey::creation_times(&*zfs, &s.filesystems, &names);
            let now = report::unix_now();
            for f in &mut r.filesystems {
                f.lag_seconds = f
                    .newest_replicated
                    .as_ref()
                    .and_then(|n| times.get(n))
                    .map(|c| now.saturating_sub(*c));
            }
        }
        Err(e) => r.error = Some(e.error),
    }
    r
}

/// [`status`], timed, and its textfile written where the command line or the configuration says.
fn status_and_textfile(config: &Config, job: &Job, textfile_dir: Option<&Utf8Path>) -> StatusReport {
    let started = std::time::Instant::now();
    let r = status(job);
    let t = metrics::status_textfile(&r, report::unix_now(), started.elapsed().as_secs_f64());
    super::write_textfile(textfile_dir, config, job, "status", &t);
    r
}

/// `zreplrs status --receiver`: the received tree on this host, below a job's local target or --root-fs.
fn receiver_command(path: Option<&Utf8Path>, a: &StatusArgs) -> u8 {
    let show = |config: Option<&Config>, job: Option<&Job>, place: Result<super::receiver::Place, _>| match place {
        Ok(place) => {
            let started = std::time::Instant::now();
            let r = super::receiver::status(&place, job.map(|j| j.name.as_str()));
            let seconds = started.elapsed().as_secs_f64();
            super::receiver::write_textfile(&r, a.textfile_dir.as_deref(), config, job, seconds);
            super::emit(a.output.format(), &r, human::receiver_table)
        }
        Err(e @ crate::error::Invalid(_)) => {
            eprintln!("zreplrs: {e}");
            crate::report::exit::USAGE
        }
    };
    match &a.job {
        Some(name) => super::with_job(path, name, |config, job| {
            show(Some(config), Some(job), super::receiver::of_job(job))
        }),
        None => {
            let place = super::receiver::of_args(a.root_fs.as_deref().unwrap_or_default(), a.job_id.as_deref());
            show(None, None, place)
        }
    }
}

/// Runs `zreplrs status --job` (a table, or JSON) or `--all` (every job in one table or one JSON document);
/// with `--receiver`, the backup host's own view.
pub fn command(path: Option<&Utf8Path>, a: &StatusArgs) -> u8 {
    if a.receiver {
        return receiver_command(path, a);
    }
    let dir = a.textfile_dir.as_deref();
    match (&a.job, a.all) {
        (Some(name), false) => super::with_job(path, name, |config, job| {
            super::emit(
                a.output.format(),
                &status_and_textfile(config, job, dir),
                human::status_table,
            )
        }),
        _ => super::with_config(path, |config| {
            let r = StatusAllReport {
                header: Header::new("status", None, None),
                generated_at: report::now_rfc3339(),
                jobs: config
                    .jobs
                    .iter()
                    .map(|job| status_and_textfile(config, job, dir))
                    .collect(),
            };
            super::emit(a.output.format(), &r, human::status_all_table)
        }),
    }
}
