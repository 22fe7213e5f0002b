//! `zreplrs restore`: a filesystem back from the job's receiver. From a ZFS receiver it is a run of the job
//! turned around ([`crate::replication::reverse`]), with the run's report and exit codes; from a bucket, a
//! snapshot downloaded into a new dataset ([`crate::objstore::restore`]). `--dry-run` prints what would
//! be sent or downloaded.

use camino::Utf8Path;

use crate::cli::RestoreArgs;
use crate::config::{Config, Job};
use crate::error::{ErrorKind, Failure};
use crate::objstore::manifest::{Encryption, Manifest, StreamObject};
use crate::objstore::{chain, restore, Bucket};
use crate::replication::reverse::{self, RestoreRequest};
use crate::replication::{self, Options};
use crate::report::human;
use crate::report::restore::{table, RestoreObject, RestoreReport};
use crate::report::{ErrorReport, Header, Timing};
use crate::zfs::names::DatasetName;
use crate::zfs::Zfs;

/// Runs `zreplrs restore` and prints the result.
pub fn command(path: Option<&Utf8Path>, a: &RestoreArgs) -> u8 {
    super::with_job(path, &a.job, |config, job| match job.target.is_store() {
        true => from_bucket(job, a),
        false => from_receiver(config, job, a),
    })
}

/// A restore from a ZFS receiver: the job turned around, run by the replication driver.
fn from_receiver(config: &Config, job: &Job, a: &RestoreArgs) -> u8 {
    let name = |flag: &str, s: &str| DatasetName::new(s).map_err(|e| format!("{flag}: {e}"));
    let req = name("--fs", &a.fs).and_then(|fs| {
        Ok(RestoreRequest {
            fs,
            to: a.to.as_deref().map(|t| name("--to", t)).transpose()?,
            snapshot: a.snapshot.clone(),
            allow_full: a.allow_full,
        })
    });
    let reversed = req.and_then(|r| reverse::restore_job(job, &r).map_err(|e| e.0));
    let reversed = match reversed {
        Ok(j) => j,
        Err(e) => {
            eprintln!("zreplrs: restore: {e}");
            return crate::report::exit::USAGE;
        }
    };
    let opts = Options {
        dry_run: a.dry_run,
        quiet: a.quiet,
        ..Options::default()
    };
    match replication::run(config, &reversed, &opts, &mut |_| {}) {
        Ok(report) => super::emit(a.output.format(), &report, human::replicate_table),
        Err(e) => super::lock_failure(&e),
    }
}

/// A restore from the job's bucket.
fn from_bucket(job: &Job, a: &RestoreArgs) -> u8 {
    {
        let mut r = RestoreReport {
            header: Header::new("restore", Some(job.name.as_str()), Some(a.dry_run)),
            timing: Timing::start(),
            filesystem: a.fs.clone(),
            snapshot: None,
            guid: None,
            target: a.to.clone().unwrap_or_else(|| a.fs.clone()),
            objects: Vec::new(),
            bytes: 0,
            error: None,
        };
        if let Err(e) = run(job, a, &mut r) {
            r.error = Some(ErrorReport::new(e.kind, e.message));
        }
        r.timing.finish();
        super::emit(a.output.format(), &r, table)
    }
}

fn invalid(m: String) -> Failure {
    Failure::new(ErrorKind::InvalidName, m)
}

fn run(job: &Job, a: &RestoreArgs, r: &mut RestoreReport) -> Result<(), Failure> {
    let fs = DatasetName::new(&a.fs).map_err(|e| invalid(format!("--fs: {e}")))?;
    let target = DatasetName::new(a.to.as_deref().unwrap_or(&a.fs)).map_err(|e| invalid(format!("--to: {e}")))?;
    let rel = job
        .receiver_path(&fs)
        .ok_or_else(|| invalid(format!("job {} does not replicate {fs} (see its strip)", job.name)))?;
    let bucket = Bucket::open(job)?;
    let place = bucket.place(&rel);
    let manifest = chain::load(&bucket.s3, &place, &rel)?.ok_or_else(|| {
        Failure::new(
            ErrorKind::DoesNotExist,
            format!("the bucket has no copy of {fs} (nothing below {})", place.dir),
        )
    })?;
    let snapshot = pick(&manifest, a.snapshot.as_deref())?;
    r.snapshot = Some(snapshot.name.clone());
    r.guid = Some(snapshot.guid);
    let objects = manifest
        .chain_to(snapshot.guid)
        .map_err(|e| Failure::new(ErrorKind::StoreCorrupt, e.0))?;
    let zfs = Zfs::new();
    let needed = match a.dry_run {
        true => objects.clone(),
        false => restore::still_needed(&zfs, &target, &objects)?,
    };
    r.objects = objects
        .iter()
        .map(|o| listed(o, !needed.iter().any(|n| n.key == o.key)))
        .collect();
    if a.dry_run {
        return Ok(());
    }
    r.bytes = restore::restore_snapshot(
        &bucket.s3,
        &zfs,
        &manifest,
        snapshot.guid,
        &target,
        a.identity_file.as_deref(),
    )?;
    Ok(())
}

/// The snapshot `name`, or the newest the chain delivers.
fn pick(m: &Manifest, name: Option<&str>) -> Result<crate::objstore::manifest::SnapshotRef, Failure> {
    let found = match name {
        Some(n) => m.objects.iter().flat_map(|o| o.delivers()).find(|s| s.name == n),
        None => m.newest(),
    };
    found.cloned().ok_or_else(|| {
        Failure::new(
            ErrorKind::DoesNotExist,
            match name {
                Some(n) => format!("the bucket has no snapshot {n} of {}", m.filesystem),
                None => format!("the bucket has no snapshot of {}", m.filesystem),
            },
        )
    })
}

fn listed(o: &StreamObject, skipped: bool) -> RestoreObject {
    RestoreObject {
        key: o.key.clone(),
        kind: if o.from.is_some() { "INCREMENTAL" } else { "FULL" },
        from: o.from.as_ref().map(|f| f.name.clone()),
        to: o.to.name.clone(),
        to_guid: o.to.guid,
        size: o.size,
        encryption: match o.encryption {
            Encryption::Raw => "raw",
            Encryption::Age => "age",
            Encryption::None => "none",
        }
        .to_string(),
        skipped,
    }
}
