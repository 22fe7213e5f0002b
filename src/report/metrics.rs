//! The Prometheus textfile (node_exporter textfile collector format): built from a run's report, written to a
//! temporary file in the target directory and renamed into place, so the collector never reads half a file.

use std::fmt::Write as _;
use std::io::Write as _;

use camino::{Utf8Path, Utf8PathBuf};

use std::collections::BTreeMap;

use super::commands::{PruneReport, SnapshotReport};
use super::{CommandReport, Header, RunReport};

/// A textfile under construction: metric families in the order they are added.
#[derive(Debug, Default)]
pub struct Textfile {
    body: String,
}

fn escape_label(v: &str) -> String {
    v.replace('\\', "\\\\").replace('"', "\\\"").replace('\n', "\\n")
}

fn format_value(v: f64) -> String {
    if v.is_nan() {
        "NaN".into()
    } else if v.fract() == 0.0 && v.abs() < 1e15 {
        format!("{}", v as i64)
    } else {
        format!("{v}")
    }
}

impl Textfile {
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a gauge family with its samples (`labels` as name/value pairs). A family with no samples is skipped.
    pub fn gauge(&mut self, name: &str, help: &str, samples: &[(Vec<(&str, &str)>, f64)]) {
        if samples.is_empty() {
            return;
        }
        let _ = writeln!(self.body, "# HELP {name} {help}");
        let _ = writeln!(self.body, "# TYPE {name} gauge");
        for (labels, value) in samples {
            let _ = write!(self.body, "{name}");
            if !labels.is_empty() {
                let parts: Vec<String> = labels
                    .iter()
                    .map(|(k, v)| format!("{k}=\"{}\"", escape_label(v)))
                    .collect();
                let _ = write!(self.body, "{{{}}}", parts.join(","));
            }
            let _ = writeln!(self.body, " {}", format_value(*value));
        }
    }

    pub fn as_str(&self) -> &str {
        &self.body
    }

    /// Writes the textfile atomically as `dir/file_name`: a temporary file with an unpredictable name,
    /// created exclusively (`O_EXCL`, so a planted file or symlink is never written through), made readable
    /// by node_exporter (0644), synced, then renamed over `file_name` (which replaces a symlink there rather
    /// than following it).
    pub fn write_atomically(&self, dir: &Utf8Path, file_name: &str) -> std::io::Result<Utf8PathBuf> {
        let path = dir.join(file_name);
        let mut tmp = tempfile::Builder::new()
            .prefix(&format!(".{file_name}."))
            .suffix(".tmp")
            .tempfile_in(dir)?;
        tmp.as_file()
            .set_permissions(std::os::unix::fs::PermissionsExt::from_mode(0o644))?;
        tmp.write_all(self.body.as_bytes())?;
        tmp.as_file().sync_all()?;
        tmp.persist(&path).map_err(|e| e.error)?;
        Ok(path)
    }
}

/// `zreplrs_build_info{version}`.
pub fn build_info(t: &mut Textfile) {
    t.gauge(
        "zreplrs_build_info",
        "Version of zreplrs that wrote this file.",
        &[(vec![("version", env!("CARGO_PKG_VERSION"))], 1.0)],
    );
}

/// The gauges every command's textfile has: `zreplrs_<family>_last_run_success` (1 if it exited 0),
/// `zreplrs_<family>_last_run_timestamp_seconds` and `zreplrs_<family>_duration_seconds`, labelled with the job.
/// `what` names the run in the help texts ("run", "snapshot run", …).
pub fn run_gauges(
    t: &mut Textfile,
    family: &str,
    what: &str,
    r: &(impl CommandReport + ?Sized),
    header: &Header,
    finished_unix: u64,
    duration: f64,
) {
    let job = vec![("job", header.job_name())];
    let ok = if r.exit_code() == super::exit::OK { 1.0 } else { 0.0 };
    t.gauge(
        &format!("zreplrs_{family}_last_run_timestamp_seconds"),
        &format!("When the last {what} finished (unix seconds)."),
        &[(job.clone(), finished_unix as f64)],
    );
    t.gauge(
        &format!("zreplrs_{family}_last_run_success"),
        &format!("1 if the last {what} exited 0, else 0."),
        &[(job.clone(), ok)],
    );
    t.gauge(
        &format!("zreplrs_{family}_duration_seconds"),
        &format!("Wall time of the last {what}."),
        &[(job, duration)],
    );
}

/// The textfile a run writes when it is skipped because another run of the job holds the lock (exit 4):
/// `zreplrs_replication_skipped_locked_timestamp_seconds{job}`, in a file of its own so that the last run's
/// figures stay. An alert on it newer than `zreplrs_replication_last_run_timestamp_seconds` for longer than a
/// few intervals finds a run that hangs.
pub fn locked_textfile(job: &str, now_unix: u64) -> Textfile {
    let mut t = Textfile::new();
    t.gauge(
        "zreplrs_replication_skipped_locked_timestamp_seconds",
        "When a run of the job last exited 4 because another run held its lock (unix seconds).",
        &[(vec![("job", job)], now_unix as f64)],
    );
    build_info(&mut t);
    t
}

/// The textfile of a snapshot run.
pub fn snapshot_textfile(r: &SnapshotReport) -> Textfile {
    let mut t = Textfile::new();
    run_gauges(
        &mut t,
        "snapshot",
        "snapshot run",
        r,
        &r.header,
        super::unix_now(),
        r.timing.duration_seconds,
    );
    t.gauge(
        "zreplrs_snapshot_taken",
        "Snapshots taken by the last snapshot run.",
        &[(vec![("job", r.header.job_name())], r.snapshots_taken as f64)],
    );
    build_info(&mut t);
    t
}

/// The textfile of a prune run.
pub fn prune_textfile(r: &PruneReport) -> Textfile {
    let mut t = Textfile::new();
    run_gauges(
        &mut t,
        "prune",
        "prune run",
        r,
        &r.header,
        super::unix_now(),
        r.timing.duration_seconds,
    );
    let mut per_side: BTreeMap<&str, u64> = BTreeMap::new();
    for f in &r.filesystems {
        *per_side.entry(f.side).or_default() += f.destroyed.len() as u64;
    }
    let samples: Vec<(Vec<(&str, &str)>, f64)> = per_side
        .iter()
        .map(|(side, n)| (vec![("job", r.header.job_name()), ("side", *side)], *n as f64))
        .collect();
    t.gauge(
        "zreplrs_prune_destroyed_snapshots",
        "Snapshots destroyed by the last prune run, per side.",
        &samples,
    );
    build_info(&mut t);
    t
}

/// The textfile of a `verify` run.
pub fn verify_textfile(r: &super::commands::VerifyReport) -> Textfile {
    let mut t = Textfile::new();
    run_gauges(
        &mut t,
        "verify",
        "verification",
        r,
        &r.header,
        super::unix_now(),
        r.timing.duration_seconds,
    );
    let job = r.header.job_name();
    t.gauge(
        "zreplrs_verify_mismatches",
        "Snapshots whose received copy differed (GUID or content) in the last verification.",
        &[(vec![("job", job)], r.mismatches as f64)],
    );
    t.gauge(
        "zreplrs_verify_unverified_snapshots",
        "Snapshots whose content the last verification could not compare (failed or not verified).",
        &[(vec![("job", job)], r.unverified as f64)],
    );
    t.gauge(
        "zreplrs_verify_checked_snapshots",
        "Snapshots compared by the last verification.",
        &[(vec![("job", job)], r.checked as f64)],
    );
    build_info(&mut t);
    t
}

/// One sample per filesystem that has a value, labelled with the job and the filesystem's name.
fn per_filesystem<'a, T>(
    job: &'a str,
    filesystems: &'a [T],
    name: impl Fn(&'a T) -> &'a str,
    value: &dyn Fn(&T) -> Option<f64>,
) -> Vec<(Vec<(&'a str, &'a str)>, f64)> {
    filesystems
        .iter()
        .filter_map(|f| value(f).map(|v| (vec![("job", job), ("filesystem", name(f))], v)))
        .collect()
}

/// The textfile of one job's `status` (written by `zreplrs status`, e.g. every few minutes from a timer):
/// whether both sides could be read, and per filesystem its lag, pending snapshots and bytes, resumable state
/// and conflict, as live ZFS shows them (unlike the replication textfile, which is as of the last run).
pub fn status_textfile(r: &super::commands::StatusReport, finished_unix: u64, duration: f64) -> Textfile {
    use super::commands::FsState;
    let mut t = Textfile::new();
    run_gauges(&mut t, "status", "status check", r, &r.header, finished_unix, duration);
    let job = r.header.job_name();
    t.gauge(
        "zreplrs_status_up",
        "1 if the last status check could read both sides, else 0.",
        &[(vec![("job", job)], if r.error.is_none() { 1.0 } else { 0.0 })],
    );
    let per_fs = |value: &dyn Fn(&super::commands::FsStatus) -> Option<f64>| {
        per_filesystem(job, &r.filesystems, |f| f.name.as_str(), value)
    };
    t.gauge(
        "zreplrs_status_lag_seconds",
        "Age of the newest snapshot present on both sides (absent: nothing replicated yet).",
        &per_fs(&|f| f.lag_seconds.map(|l| l as f64)),
    );
    t.gauge(
        "zreplrs_status_pending_snapshots",
        "Sender snapshots newer than the newest replicated one.",
        &per_fs(&|f| Some(f.pending_snapshots as f64)),
    );
    t.gauge(
        "zreplrs_status_pending_bytes",
        "Estimated bytes still to send (a lower bound when some step could not be estimated).",
        &per_fs(&|f| Some(f.pending_bytes as f64)),
    );
    t.gauge(
        "zreplrs_status_resumable",
        "1 if the receiver holds partially received state for the filesystem.",
        &per_fs(&|f| Some(if f.resumable { 1.0 } else { 0.0 })),
    );
    t.gauge(
        "zreplrs_status_conflict",
        "1 if the filesystem cannot be replicated without intervention (diverged, no common snapshot, ...).",
        &per_fs(&|f| Some(if f.state == FsState::Conflict { 1.0 } else { 0.0 })),
    );
    build_info(&mut t);
    t
}

/// The textfile of a replication run. `planning_failed` makes `filesystem_errors` −1.
pub fn replication_textfile(r: &RunReport, finished_unix: u64) -> Textfile {
    let mut t = Textfile::new();
    let job = r.header.job_name();
    let errors = if r.error.is_some() && r.filesystems.is_empty() {
        -1.0
    } else {
        r.failed_filesystems() as f64
    };
    t.gauge(
        "zreplrs_replication_filesystem_errors",
        "Filesystems that failed in the last attempt of the last run (-1: the run failed before planning finished).",
        &[(vec![("job", job)], errors)],
    );
    run_gauges(
        &mut t,
        "replication",
        "run",
        r,
        &r.header,
        finished_unix,
        r.timing.duration_seconds,
    );
    t.gauge(
        "zreplrs_replication_attempts",
        "Attempts the last run needed (1 + retries).",
        &[(vec![("job", job)], r.attempts.len() as f64)],
    );
    t.gauge(
        "zreplrs_replication_aged_step_holds_released",
        "Step holds older than max_step_hold_age the last run released because the receiver was unreachable.",
        &[(vec![("job", job)], r.released_aged_step_holds.len() as f64)],
    );
    let fs_samples =
        |f: &dyn Fn(&super::FsReport) -> Option<f64>| per_filesystem(job, &r.filesystems, |fs| fs.name.as_str(), f);
    t.gauge(
        "zreplrs_replication_bytes_replicated",
        "Bytes sent for the filesystem in the last run.",
        &fs_samples(&|fs| Some(fs.steps.iter().map(|s| s.bytes).sum::<u64>() as f64)),
    );
    t.gauge(
        "zreplrs_replication_wire_bytes_replicated",
        "Of them, bytes that crossed the link or were uploaded to the store in the last run (fewer when \
         compressed in transit, or when an interrupted upload was resumed).",
        &fs_samples(&|fs| Some(fs.steps.iter().map(|s| s.wire_bytes).sum::<u64>() as f64)),
    );
    t.gauge(
        "zreplrs_filesystem_lag_seconds",
        "Seconds between the end of the last run and the creation of the newest snapshot present on both sides.",
        &fs_samples(&|fs| fs.lag_seconds.map(|l| l as f64)),
    );
    t.gauge(
        "zreplrs_filesystem_pending_snapshots",
        "Sender snapshots newer than the receiver's newest after the last run.",
        &fs_samples(&|fs| Some(fs.pending_snapshots as f64)),
    );
    t.gauge(
        "zreplrs_filesystem_resumable",
        "1 if the receiver holds resumable partial state for the filesystem.",
        &fs_samples(&|fs| Some(if fs.resumable { 1.0 } else { 0.0 })),
    );
    build_info(&mut t);
    t
}

/// The textfile of `status --receiver` on the backup host: per received filesystem (labels `root` and
/// `filesystem`, its path below the root) when its newest snapshot was taken and its age, whether the
/// last-received hold is on it, and resumable state. Alerting on the newest snapshot's time is a dead man's
/// switch that holds when the sender is gone: nothing the sender writes is needed.
pub fn receiver_textfile(r: &super::commands::ReceiverStatusReport, finished_unix: u64, duration: f64) -> Textfile {
    use super::commands::{HoldState, ReceivedFs};
    let mut t = Textfile::new();
    run_gauges(
        &mut t,
        "receiver_status",
        "receiver status check",
        r,
        &r.header,
        finished_unix,
        duration,
    );
    let root = r.root.as_str();
    t.gauge(
        "zreplrs_receiver_up",
        "1 if the last receiver status check could read the received tree, else 0.",
        &[(vec![("root", root)], if r.error.is_none() { 1.0 } else { 0.0 })],
    );
    let copies: Vec<&ReceivedFs> = r.filesystems.iter().filter(|f| !f.placeholder).collect();
    let per_fs = |value: &dyn Fn(&ReceivedFs) -> Option<f64>| -> Vec<(Vec<(&str, &str)>, f64)> {
        copies
            .iter()
            .filter_map(|f| value(f).map(|v| (vec![("root", root), ("filesystem", f.path.as_str())], v)))
            .collect()
    };
    t.gauge(
        "zreplrs_received_newest_snapshot_timestamp_seconds",
        "When the newest received snapshot was taken on the sender (unix seconds; absent: none received yet).",
        &per_fs(&|f| f.newest_snapshot_time.map(|s| s as f64)),
    );
    t.gauge(
        "zreplrs_received_snapshot_age_seconds",
        "Age of the newest received snapshot when the check ran.",
        &per_fs(&|f| f.age_seconds.map(|s| s as f64)),
    );
    t.gauge(
        "zreplrs_received_last_received_hold",
        "1 if a last-received hold is on the newest received snapshot (of the job checked for, if one was named).",
        &per_fs(&|f| match f.last_received_hold {
            HoldState::NotApplicable => None,
            h => Some(if h == HoldState::OnNewest { 1.0 } else { 0.0 }),
        }),
    );
    t.gauge(
        "zreplrs_received_resumable",
        "1 if an interrupted receive left resumable state.",
        &per_fs(&|f| Some(if f.resumable { 1.0 } else { 0.0 })),
    );
    t.gauge(
        "zreplrs_received_resumable_bytes",
        "Bytes the resumable state already holds.",
        &per_fs(&|f| f.resumable_bytes.map(|b| b as f64)),
    );
    t.gauge(
        "zreplrs_received_resumable_since_timestamp_seconds",
        "When the interrupted receive began (unix seconds).",
        &per_fs(&|f| f.resumable_since.map(|s| s as f64)),
    );
    build_info(&mut t);
    t
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_are_escaped_and_values_formatted() {
        let mut t = Textfile::new();
        t.gauge("x_total", "Help.", &[(vec![("a", "q\"b\\c\nd")], 3.0), (vec![], 0.5)]);
        assert_eq!(
            t.as_str(),
            "# HELP x_total Help.\n# TYPE x_total gauge\nx_total{a=\"q\\\"b\\\\c\\nd\"} 3\nx_total 0.5\n"
        );
    }

    #[test]
    fn write_is_atomic_and_leaves_no_temp_file() {
        let dir = tempfile::tempdir().unwrap();
        let d = Utf8Path::from_path(dir.path()).unwrap();
        let mut t = Textfile::new();
        build_info(&mut t);
        let p = t.write_atomically(d, "zreplrs_x.prom").unwrap();
        assert_eq!(std::fs::read_to_string(&p).unwrap(), t.as_str());
        let names: Vec<_> = std::fs::read_dir(d).unwrap().map(|e| e.unwrap().file_name()).collect();
        assert_eq!(names.len(), 1, "{names:?}");
        assert!(t.write_atomically(&d.join("missing"), "a.prom").is_err());
    }

    /// The attack: a local user plants a symlink where the temporary file used to be (its name was
    /// predictable) or where the textfile goes. Neither target is written to or has its mode changed.
    #[test]
    fn planted_symlinks_are_not_written_through() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let d = Utf8Path::from_path(dir.path()).unwrap();
        let secret = d.join("secret");
        std::fs::write(&secret, "private").unwrap();
        std::fs::set_permissions(&secret, std::fs::Permissions::from_mode(0o600)).unwrap();
        let name = "zreplrs_x.prom";
        std::os::unix::fs::symlink(&secret, d.join(format!(".{name}.tmp.{}", std::process::id()))).unwrap();
        std::os::unix::fs::symlink(&secret, d.join(name)).unwrap();
        let mut t = Textfile::new();
        build_info(&mut t);
        let p = t.write_atomically(d, name).unwrap();
        assert_eq!(std::fs::read_to_string(&secret).unwrap(), "private");
        assert_eq!(std::fs::metadata(&secret).unwrap().permissions().mode() & 0o777, 0o600);
        assert!(!std::fs::symlink_metadata(&p).unwrap().file_type().is_symlink());
        assert_eq!(std::fs::read_to_string(&p).unwrap(), t.as_str());
        assert_eq!(std::fs::metadata(&p).unwrap().permissions().mode() & 0o777, 0o644);
    }
}
