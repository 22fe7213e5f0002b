//! The backup host's own view, shared by `status --receiver` and `check --receiver`: which root to read
//! (a job's local target, or `--root-fs`), the view read from ZFS here, and its textfile.

use camino::Utf8Path;

use crate::config::{Config, Job, Target};
use crate::error::Invalid;
use crate::report::commands::ReceiverStatusReport;
use crate::report::{self, metrics, ErrorReport, Header};
use crate::zfs::bookkeeping::JobId;
use crate::zfs::names::DatasetName;
use crate::zfs::Zfs;

/// The received tree to read: its root, and the job whose last-received hold counts.
pub struct Place {
    pub root: DatasetName,
    pub job_id: Option<JobId>,
}

/// The place of a job: its target, which must be on this host (`local:`, as a pull job's is).
pub fn of_job(job: &Job) -> Result<Place, Invalid> {
    match &job.target {
        Target::Local { .. } => Ok(Place {
            root: job.target.root_fs().clone(),
            job_id: Some(job.name.clone()),
        }),
        other => Err(Invalid(format!(
            "job {}'s copies are on {other}: the receiver's view is read on the backup host, by a job of the same \
             name there (a pull job) or with --root-fs",
            job.name
        ))),
    }
}

/// The place named on the command line.
pub fn of_args(root_fs: &str, job_id: Option<&str>) -> Result<Place, Invalid> {
    let root = DatasetName::new(root_fs).map_err(|e| Invalid(format!("--root-fs: {e}")))?;
    let job_id = job_id
        .map(JobId::new)
        .transpose()
        .map_err(|e| Invalid(format!("--job-id: {e}")))?;
    Ok(Place { root, job_id })
}

/// Reads the view (`job` names the report's job, if any).
pub fn status(place: &Place, job: Option<&str>) -> ReceiverStatusReport {
    let mut r = ReceiverStatusReport {
        header: Header::new("status", job, None),
        generated_at: report::now_rfc3339(),
        root: place.root.to_string(),
        job_id: place.job_id.as_ref().map(|j| j.to_string()),
        filesystems: Vec::new(),
        error: None,
    };
    match crate::received::view(&Zfs::new(), &place.root, place.job_id.as_ref(), report::unix_now()) {
        Ok(f) => r.filesystems = f,
        Err(e) => r.error = Some(ErrorReport::from(&e)),
    }
    r
}

/// Writes the view's textfile to `dir`, else the configured textfile directory (of `job`, when there is
/// one): `zreplrs_receiver_<job>.prom`, or `zreplrs_receiver_<root with _ for />.prom`.
pub fn write_textfile(
    r: &ReceiverStatusReport,
    dir: Option<&Utf8Path>,
    config: Option<&Config>,
    job: Option<&Job>,
    seconds: f64,
) {
    let dir = dir.or_else(|| match (config, job) {
        (Some(c), Some(j)) => j.textfile_dir(&c.global),
        (Some(c), None) => c.global.textfile_dir.as_deref(),
        _ => None,
    });
    let Some(dir) = dir else { return };
    let t = metrics::receiver_textfile(r, report::unix_now(), seconds);
    let name = job.map_or_else(|| r.root.replace('/', "_"), |j| j.name.to_string());
    super::write_prom(dir, &format!("zreplrs_receiver_{name}.prom"), &t);
}
