//! `zreplrs migrate replication-cursor:v1-v2`: zrepl's legacy v1 cursor bookmark `#zrepl_replication_cursor`
//! is destroyed only on filesystems that already have a v2 cursor (`#zrepl_CURSOR_G_…_J_…`); the others are
//! reported, so no filesystem loses its only cursor.

use serde::Serialize;

use crate::config::Job;
use crate::report::ErrorReport;
use crate::survey::zfs_error;
use crate::zfs::names::{parse_cursor_short, V1_CURSOR_SHORT};
use crate::zfs::Zfs;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum MigrateAction {
    /// The v1 cursor was destroyed (or would be, with --dry-run).
    Destroyed,
    /// Kept: the filesystem has no v2 cursor yet; replicate it with zreplrs first.
    NoV2Cursor,
}

#[derive(Debug, Clone, Serialize)]
pub struct MigrateEntry {
    pub job: String,
    pub filesystem: String,
    pub bookmark: String,
    pub action: MigrateAction,
}

#[derive(Debug, Clone, Serialize)]
pub struct MigrateReport {
    pub schema_version: u32,
    pub command: String,
    pub dry_run: bool,
    pub filesystems: Vec<MigrateEntry>,
    pub errors: Vec<ErrorReport>,
}

/// Migrates the filesystems of `jobs`.
pub fn v1_to_v2(jobs: &[&Job], dry_run: bool) -> MigrateReport {
    let zfs = Zfs::new();
    let mut r = MigrateReport {
        schema_version: crate::report::SCHEMA_VERSION,
        command: "migrate replication-cursor:v1-v2".into(),
        dry_run,
        filesystems: Vec::new(),
        errors: Vec::new(),
    };
    for job in jobs {
        let listing = match zfs.list(&job.filesystems.roots(), false) {
            Ok(l) => l,
            Err(e) => {
                r.errors.push(zfs_error(&e));
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
                    r.errors.push(zfs_error(&e));
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
