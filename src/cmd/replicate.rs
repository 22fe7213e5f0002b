//! `zreplrs replicate`: runs the job through [`crate::replication`], writes its textfile and prints the
//! report (JSON or a table); a held lock is exit 4.

use camino::Utf8Path;

use crate::cli::ReplicateArgs;
use crate::lock::LockError;
use crate::replication::{self, Options};
use crate::report::{self, human, metrics};

/// Runs `zreplrs replicate`: the report is printed as JSON or as a table; a held lock is exit 4.
pub fn command(path: Option<&Utf8Path>, a: &ReplicateArgs) -> u8 {
    super::with_job(path, &a.job, |config, job| {
        let opts = Options {
            dry_run: a.dry_run,
            textfile_dir: a.textfile_dir.clone(),
            lock_dir: a.lock_dir.clone(),
            quiet: a.quiet,
            rotate: a.rotate,
        };
        // A failed-over job replicates from its replica back here.
        let mut job = replication::failover::job_for_run(job);
        if a.bandwidth_limit.is_some() {
            job.bandwidth_limit = a.bandwidth_limit;
        }
        if a.compression.is_some() {
            job.compression_setting = a.compression;
        }
        let job = &job;
        let mut write = |r: &report::RunReport| {
            let t = metrics::replication_textfile(r, report::unix_now());
            super::write_textfile(opts.textfile_dir.as_deref(), config, job, "replicate", &t);
        };
        match replication::run(config, job, &opts, &mut write) {
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
