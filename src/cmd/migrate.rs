//! `zreplrs migrate replication-cursor:v1-v2`: zrepl's legacy v1 cursor bookmark `#zrepl_replication_cursor`
//! is destroyed only on filesystems that already have a v2 cursor (`#zrepl_CURSOR_G_…_J_…`); the others are
//! reported, so no filesystem loses its only cursor.

use camino::Utf8Path;

use crate::cli::Format;
use crate::config::Job;
use crate::report::commands::{MigrateAction, MigrateEntry, MigrateReport};
use crate::report::{ErrorReport, Header};
use crate::zfs::bookkeeping::{parse_cursor_short, V1_CURSOR_SHORT};
use crate::zfs::Zfs;

/// Migrates the filesystems of `jobs`.
pub fn v1_to_v2(jobs: &[&Job], dry_run: bool) -> MigrateReport {
    let zfs = Zfs::new();
    let mut r = MigrateReport {
        header: Header::new("migrate replication-cursor:v1-v2", None, Some(dry_run)),
        filesystems: Vec::new(),
        errors: Vec::new(),
        listing_failed: false,
    };
    // A pull job's cursors are on the source: migrate there (`command` says so for `--job`).
    for job in jobs.iter().filter(|j| !j.is_pull()) {
        let listing = match zfs.list(&job.filesystems.roots(), false) {
            Ok(l) => l,
            Err(e) => {
                r.errors.push(ErrorReport::from(&e));
                r.listing_failed = true;
                continue;
            }
        };
        for fs in listing
            .filesystems
            .values()
            .filter(|f| job.filesystems.includes(&f.name))
        {
            if !fs.bookmarks().any(|b| b.short == V1_CURSOR_SHORT) {
                continue;
            }
            let Ok(bm) = fs.name.bookmark(V1_CURSOR_SHORT) else {
                continue;
            };
            let has_v2 = fs.bookmarks().any(|b| parse_cursor_short(&b.short).is_some());
            let action = if has_v2 {
                MigrateAction::Destroyed
            } else {
                MigrateAction::NoV2Cursor
            };
            if has_v2 && !dry_run {
                if let Err(e) = zfs.destroy_bookmarks(std::slice::from_ref(&bm)) {
                    r.errors.push(ErrorReport::from(&e));
                    continue;
                }
            }
            if !r.filesystems.iter().any(|e| e.bookmark == bm.as_str()) {
                r.filesystems.push(MigrateEntry {
                    job: job.name.to_string(),
                    filesystem: fs.name.to_string(),
                    bookmark: bm.to_string(),
                    action,
                });
            }
        }
    }
    r
}

/// Runs `zreplrs migrate replication-cursor:v1-v2` for one job or all.
pub fn command(path: Option<&Utf8Path>, job: Option<&str>, dry_run: bool, format: Option<Format>) -> u8 {
    super::with_jobs(path, job, |jobs| {
        if let ([one], Some(_)) = (jobs, job) {
            if let Some(code) = super::sender_side_only(one, "migrate replication-cursor:v1-v2") {
                return code;
            }
        }
        super::emit(format, &v1_to_v2(jobs, dry_run), crate::report::human::migrate_summary)
    })
}
