//! `prune --side receiver` of a job whose target is a bucket: retention per filesystem chain
//! ([`crate::objstore::retention`]), the job's lock held so that no run of it commits a manifest meanwhile.

use crate::config::Job;
use crate::objstore::{chain, retention, Bucket};
use crate::prune::rules::KeepRule;
use crate::report::commands::{ObjectDeletion, PruneReport};
use crate::report::ErrorReport;
use crate::survey::SurveyError;

/// Prunes every chain of the job in its bucket.
pub(super) fn prune(
    job: &Job,
    rules: &[KeepRule],
    now: u64,
    dry_run: bool,
    r: &mut PruneReport,
) -> Result<(), SurveyError> {
    let bucket = Bucket::open(job)?;
    for rel in chain::filesystems(&bucket.s3, &bucket.prefix)? {
        if job.sender_path(&rel).is_none() {
            continue;
        }
        let place = bucket.place(&rel);
        let Some(m) = chain::load(&bucket.s3, &place, &rel)? else {
            continue;
        };
        let name = format!("{}/{rel}", job.target.root_fs());
        let p = retention::plan(&m, rules, now).map_err(retention::corrupt)?;
        let mut fr = super::decisions_report("receiver", &name, &p.decisions);
        fr.destroyed = p.gone.iter().map(|s| format!("{name}@{s}")).collect();
        fr.objects = p
            .deleted
            .iter()
            .map(|(key, reason)| ObjectDeletion {
                key: key.clone(),
                reason: reason.clone(),
            })
            .collect();
        if !dry_run {
            match retention::apply(&bucket.s3, &place, &m, &p) {
                Ok(orphans) => fr.objects.extend(orphans.into_iter().map(|key| ObjectDeletion {
                    key,
                    reason: "no manifest names it (left by an interrupted run)".to_string(),
                })),
                Err(e) => fr.error = Some(ErrorReport::new(e.kind, e.message)),
            }
        }
        r.filesystems.push(fr);
    }
    Ok(())
}
