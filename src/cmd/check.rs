//! `zreplrs check`: a monitoring plugin for Nagios, Icinga and Checkmk. On the sender (or a pull job's
//! backup host) it checks a job: replication lag from live ZFS on both sides, conflicts, aged step holds and
//! the last replicate run's result; with `--receiver`, the backup host's own view of what it received. It
//! prints one line and exits 0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN (also for a bad configuration or
//! command line: a check that cannot decide never says OK).

use camino::Utf8Path;

use crate::cli::CheckArgs;
use crate::config::{CheckConfig, Config, Job};
use crate::endpoint::Endpoints;
use crate::report::check::{self, Check, Thresholds};
use crate::report::{self};

/// Runs the check and prints its line; returns its exit code.
pub fn command(path: Option<&Utf8Path>, a: &CheckArgs) -> u8 {
    let checked = if a.receiver { receiver(path, a) } else { job(path, a) };
    match checked {
        Ok(c) => {
            println!("{}", c.line());
            c.exit_code()
        }
        Err(Undecided(why)) => {
            println!("ZREPLRS UNKNOWN - {}", why.replace('\n', " "));
            check::State::Unknown as u8
        }
    }
}

/// Why a check cannot decide (printed as its UNKNOWN line).
#[derive(Debug)]
pub struct Undecided(String);

impl<E: std::fmt::Display> From<E> for Undecided {
    fn from(e: E) -> Self {
        Undecided(e.to_string())
    }
}

/// The configuration and the named job.
fn load(path: Option<&Utf8Path>, name: &str) -> Result<(Config, Job), Undecided> {
    let config = Config::load(&Config::resolve_path(path))?;
    let job = config.job(name)?.clone();
    Ok((config, job))
}

/// The thresholds: the command line's, else the job's `[jobs.check]`, else the defaults.
fn thresholds(a: &CheckArgs, configured: CheckConfig) -> Result<(Thresholds, Thresholds), Undecided> {
    let warning = a.warning.unwrap_or(configured.warning);
    let critical = a.critical.unwrap_or(configured.critical.max(warning));
    let c = CheckConfig {
        warning,
        critical,
        resumable_warning: a.resumable_warning.unwrap_or(if a.warning.is_some() {
            warning
        } else {
            configured.resumable_warning
        }),
        resumable_critical: a.resumable_critical.unwrap_or(if a.critical.is_some() {
            critical
        } else {
            configured.resumable_critical
        }),
    };
    c.validate()?;
    Ok((
        Thresholds { warning, critical },
        Thresholds {
            warning: c.resumable_warning,
            critical: c.resumable_critical,
        },
    ))
}

/// `check --receiver`: the received tree on this host.
fn receiver(path: Option<&Utf8Path>, a: &CheckArgs) -> Result<Check, Undecided> {
    let (place, configured, name) = match (&a.job, &a.root_fs) {
        (Some(name), _) => {
            let (_, job) = load(path, name)?;
            (super::receiver::of_job(&job)?, job.check, Some(job.name.to_string()))
        }
        (None, root_fs) => (
            super::receiver::of_args(root_fs.as_deref().unwrap_or_default(), a.job_id.as_deref())?,
            CheckConfig::default(),
            None,
        ),
    };
    let (age, resumable) = thresholds(a, configured)?;
    let r = super::receiver::status(&place, name.as_deref());
    if let Some(e) = &r.error {
        return Err(Undecided(format!(
            "cannot read the received tree below {}: {}",
            place.root, e.message
        )));
    }
    Ok(check::received(&r.filesystems, age, resumable))
}

/// `check --job`: the job from the sender's side.
fn job(path: Option<&Utf8Path>, a: &CheckArgs) -> Result<Check, Undecided> {
    let name = a.job.as_deref().unwrap_or_default();
    let (config, job) = load(path, name)?;
    let (lag, _) = thresholds(a, job.check)?;
    let status = super::status::status(&job);
    if let Some(e) = &status.error {
        return Err(Undecided(format!(
            "cannot read both sides of job {}: {}",
            job.name, e.message
        )));
    }
    let aged = aged_step_holds(&job)?;
    let mut c = check::job(&status.filesystems, lag, aged);
    if let Some(dir) = a.textfile_dir.as_deref().or_else(|| job.textfile_dir(&config.global)) {
        let (success, finished) = last_run(dir, &job);
        check::last_run(&mut c, success, finished, report::unix_now(), lag.critical);
    }
    Ok(c)
}

/// This job's step holds on the sender older than `max_step_hold_age`.
fn aged_step_holds(job: &Job) -> Result<usize, Undecided> {
    let sender = crate::endpoint::for_job(job).sender()?;
    let listing = sender.list(&job.filesystems.roots())?;
    let held = crate::survey::held_snapshots(job, &listing);
    let tag = job.name.step_hold_tag();
    let now = report::unix_now();
    let holds = sender.holds(&held)?;
    Ok(holds
        .iter()
        .filter(|h| h.tag == tag && crate::replication::is_aged(job, h.since, now))
        .count())
}

/// The last replicate run's success and finish time, from its textfile in `dir` (`None` when absent).
fn last_run(dir: &Utf8Path, job: &Job) -> (Option<bool>, Option<u64>) {
    let Ok(text) = std::fs::read_to_string(dir.join(format!("zreplrs_replicate_{}.prom", job.name))) else {
        return (None, None);
    };
    let value = |metric: &str| -> Option<f64> {
        text.lines()
            .find(|l| l.starts_with(&format!("{metric}{{")))
            .and_then(|l| l.rsplit(' ').next())
            .and_then(|v| v.parse().ok())
    };
    (
        value("zreplrs_replication_last_run_success").map(|v| v == 1.0),
        value("zreplrs_replication_last_run_timestamp_seconds").map(|v| v as u64),
    )
}
