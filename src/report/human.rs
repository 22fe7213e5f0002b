//! Human output: what each command prints on a terminal instead of its JSON result.

use std::fmt::Write as _;

use super::commands::{
    ConfigCheckReport, FilterReport, FsState, HoldsListReport, MigrateAction, MigrateReport, PruneReport,
    ReleaseReport, SnapshotReport, StatusAllReport, StatusReport, TokenReport, VerifyReport,
};
use super::{ErrorReport, FsResult, RunReport};

pub fn human_bytes(b: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut v = b as f64;
    let mut i = 0;
    while v >= 1024.0 && i < UNITS.len() - 1 {
        v /= 1024.0;
        i += 1;
    }
    if i == 0 {
        format!("{b} B")
    } else {
        format!("{v:.1} {}", UNITS[i])
    }
}

/// The summary table of a `replicate` run.
pub fn replicate_table(r: &RunReport) -> String {
    let mut s = String::new();
    let width = r.filesystems.iter().map(|f| f.name.len()).max().unwrap_or(10).max(10);
    let _ = writeln!(
        s,
        "{:<width$}  {:<10}  {:>5}  {:>10}  DETAIL",
        "FILESYSTEM", "RESULT", "STEPS", "BYTES"
    );
    for f in &r.filesystems {
        let result = match f.result {
            FsResult::Ok => "ok",
            FsResult::UpToDate => "up-to-date",
            FsResult::Planned => "planned",
            FsResult::Conflict => "CONFLICT",
            FsResult::Failed => "FAILED",
        };
        let bytes: u64 = if r.header.dry_run == Some(true) {
            f.steps.iter().filter_map(|s| s.bytes_estimated).sum()
        } else {
            f.steps.iter().map(|s| s.bytes).sum()
        };
        let detail = f
            .error
            .as_ref()
            .map(|e| e.message.clone())
            .unwrap_or_else(|| f.target.clone());
        let _ = writeln!(
            s,
            "{:<width$}  {:<10}  {:>5}  {:>10}  {detail}",
            f.name,
            result,
            f.steps.len(),
            human_bytes(bytes)
        );
        if r.header.dry_run == Some(true) {
            step_lines(&mut s, f);
        }
    }
    let est = if r.bytes_estimate_exact {
        ""
    } else {
        " (estimate imprecise: some sizes unknown)"
    };
    let _ = writeln!(
        s,
        "job {}: {:?}, {} replicated, {} estimated{est}, {} attempt(s), {:.1}s",
        r.header.job_name(),
        r.result,
        human_bytes(r.bytes_replicated),
        human_bytes(r.bytes_estimated),
        r.attempts.len(),
        r.timing.duration_seconds
    );
    error_line(&mut s, &r.error);
    s
}

/// A dry run's steps below their filesystem: FULL, INCREMENTAL or RESUME, the base, the snapshot sent to,
/// how many snapshots the stream delivers and its estimated size.
fn step_lines(s: &mut String, f: &crate::report::FsReport) {
    let short = |n: &str| n.rfind(['@', '#']).map_or(n, |i| &n[i..]).to_string();
    for st in &f.steps {
        let kind = match (&st.from, st.resumed) {
            (_, true) => "RESUME",
            (None, false) => "FULL",
            (Some(_), false) => "INCREMENTAL",
        };
        let from = st.from.as_deref().map_or("-".to_string(), &short);
        let size = st.bytes_estimated.map_or("?".to_string(), human_bytes);
        let _ = writeln!(
            s,
            "  {kind:<11}  {from} -> {}  {} snapshot(s)  {size}",
            short(&st.to),
            st.snapshots
        );
    }
}

/// The status as a table for a terminal.
pub fn status_table(r: &StatusReport) -> String {
    status_rows(&[r], false)
}

/// `zreplrs status --all`: one table over every job, with a JOB column, then each job's error.
pub fn status_all_table(r: &StatusAllReport) -> String {
    let jobs: Vec<&StatusReport> = r.jobs.iter().collect();
    status_rows(&jobs, true)
}

fn status_rows(reports: &[&StatusReport], with_job: bool) -> String {
    let mut s = String::new();
    let all = || reports.iter().flat_map(|r| r.filesystems.iter().map(move |f| (r, f)));
    let w = all().map(|(_, f)| f.name.len()).max().unwrap_or(10).max(10);
    let jw = reports
        .iter()
        .map(|r| r.header.job_name().len())
        .max()
        .unwrap_or(3)
        .max(3);
    let job_col = |name: &str| {
        if with_job {
            format!("{name:<jw$}  ")
        } else {
            String::new()
        }
    };
    let _ = writeln!(
        s,
        "{}{:<w$}  {:<10}  {:>8}  {:>7}  {:>10}  {:<9}  NEWEST REPLICATED",
        job_col("JOB"),
        "FILESYSTEM",
        "STATE",
        "LAG",
        "PENDING",
        "BYTES",
        "RESUMABLE"
    );
    for (r, f) in all() {
        let state = match f.state {
            FsState::UpToDate => "up-to-date",
            FsState::Pending => "pending",
            FsState::Conflict => "CONFLICT",
        };
        let lag = f.lag_seconds.map_or("-".to_string(), |l| format!("{l}s"));
        let bytes = format!(
            "{}{}",
            human_bytes(f.pending_bytes),
            if f.pending_bytes_exact { "" } else { "+" }
        );
        let newest = f.newest_replicated.as_deref().unwrap_or("-");
        let _ = writeln!(
            s,
            "{}{:<w$}  {:<10}  {:>8}  {:>7}  {:>10}  {:<9}  {newest}",
            job_col(r.header.job_name()),
            f.name,
            state,
            lag,
            f.pending_snapshots,
            bytes,
            if f.resumable { "yes" } else { "no" }
        );
        if let Some(c) = &f.conflict {
            let _ = writeln!(s, "  conflict ({}): {}", c.kind, c.message);
        }
    }
    if all().any(|(_, f)| !f.pending_bytes_exact) {
        let _ = writeln!(s, "(+: estimate imprecise, some step sizes unknown)");
    }
    for r in reports {
        if with_job && r.error.is_some() {
            let _ = write!(s, "job {}: ", r.header.job_name());
        }
        error_line(&mut s, &r.error);
    }
    s
}

fn error_line(s: &mut String, e: &Option<ErrorReport>) {
    if let Some(e) = e {
        let _ = writeln!(s, "error ({}): {}", e.kind, e.message);
    }
}

/// What a `snapshot` run took, per pool, and how its hooks ended.
pub fn snapshot_summary(r: &SnapshotReport) -> String {
    let mut s = format!("snapshot {}: {} taken\n", r.snapshot_name, r.snapshots_taken);
    for p in &r.pools {
        let e = p
            .error
            .as_ref()
            .map(|e| format!(" ({})", e.message))
            .unwrap_or_default();
        let _ = writeln!(
            s,
            "  pool {}: {} snapshot(s){}{e}",
            p.pool,
            p.snapshots.len(),
            if p.taken { "" } else { " NOT taken" }
        );
    }
    for h in &r.hooks {
        let outcome = if h.success {
            "ok".to_string()
        } else {
            format!("FAILED: {}", h.output)
        };
        let _ = writeln!(s, "  {}-hook: {outcome}", h.hook);
    }
    error_line(&mut s, &r.error);
    s
}

/// What a `prune` run destroyed (or would), kept and left held, per filesystem.
pub fn prune_summary(r: &PruneReport) -> String {
    let mut s = String::new();
    let dry_run = r.header.dry_run == Some(true);
    for f in &r.filesystems {
        let _ = writeln!(
            s,
            "{:<8} {}: {} {}, {} kept, {} held{}",
            f.side,
            f.filesystem,
            f.destroyed.len(),
            if dry_run { "to destroy" } else { "destroyed" },
            f.kept,
            f.held.len(),
            f.error
                .as_ref()
                .map(|e| format!(" — error: {}", e.message))
                .unwrap_or_default()
        );
    }
    error_line(&mut s, &r.error);
    s
}

/// The `holds list` table: side, kind, job and name of every entry.
pub fn holds_table(r: &HoldsListReport) -> String {
    let mut s = format!("{:<8}  {:<18}  {:<14}  NAME\n", "SIDE", "KIND", "JOB");
    for e in &r.entries {
        let _ = writeln!(
            s,
            "{:<8}  {:<18}  {:<14}  {}",
            e.side,
            e.kind.name(),
            e.job.as_deref().unwrap_or("-"),
            e.name
        );
    }
    for e in &r.errors {
        let _ = writeln!(s, "error ({}): {}", e.kind, e.message);
    }
    s
}

/// What `holds release-stale` released (or would release) and kept.
pub fn release_summary(r: &ReleaseReport) -> String {
    let verb = if r.header.dry_run == Some(true) {
        "would release"
    } else {
        "released"
    };
    let mut s = String::new();
    for e in &r.released {
        let _ = writeln!(
            s,
            "{verb} {} {}  {}",
            e.side,
            e.kind.name(),
            e.tag.as_deref().unwrap_or(&e.name)
        );
        if e.tag.is_some() {
            let _ = writeln!(s, "    on {}", e.name);
        }
    }
    let _ = writeln!(s, "{} {verb}, {} kept (current)", r.released.len(), r.kept.len());
    error_line(&mut s, &r.error);
    s
}

/// What `migrate replication-cursor:v1-v2` did per filesystem.
pub fn migrate_summary(r: &MigrateReport) -> String {
    let dry = r.header.dry_run == Some(true);
    let mut s = String::new();
    for f in &r.filesystems {
        let what = match (f.action, dry) {
            (MigrateAction::Destroyed, true) => "would destroy",
            (MigrateAction::Destroyed, false) => "destroyed",
            (MigrateAction::NoV2Cursor, _) => "kept (no v2 cursor yet: replicate it first)",
        };
        let _ = writeln!(s, "{:<14}  {}  {what}", f.job, f.bookmark);
    }
    if r.filesystems.is_empty() {
        let _ = writeln!(s, "no v1 cursors found");
    }
    for e in &r.errors {
        let _ = writeln!(s, "error ({}): {}", e.kind, e.message);
    }
    s
}

/// Which datasets a job's filter selects, and by which rule.
pub fn filter_table(r: &FilterReport) -> String {
    let w = r.filesystems.iter().map(|f| f.dataset.len()).max().unwrap_or(7).max(7);
    let mut s = format!("{:<w$}  {:<8}  RULE\n", "DATASET", "INCLUDED");
    for f in &r.filesystems {
        let _ = writeln!(
            s,
            "{:<w$}  {:<8}  {}",
            f.dataset,
            if f.included { "yes" } else { "no" },
            f.rule.as_deref().unwrap_or("-")
        );
    }
    s
}

/// The fields of a resume token, one per line.
pub fn token_fields(r: &TokenReport) -> String {
    let t = &r.token;
    let mut s = String::new();
    let _ = writeln!(s, "toname        {}", t.toname);
    let _ = writeln!(s, "toguid        {}", t.toguid);
    let from = t.fromguid.map_or("- (full send)".to_string(), |g| g.to_string());
    let _ = writeln!(s, "fromguid      {from}");
    let _ = writeln!(s, "bytes         {} ({})", t.bytes, human_bytes(t.bytes));
    let flags: Vec<&str> = [
        (t.rawok, "raw"),
        (t.compressok, "compressed"),
        (t.embedok, "embedded"),
        (t.largeblockok, "large blocks"),
        (t.savedok, "saved"),
    ]
    .iter()
    .filter_map(|(on, name)| on.then_some(*name))
    .collect();
    let _ = writeln!(
        s,
        "stream        {}",
        if flags.is_empty() {
            "-".to_string()
        } else {
            flags.join(", ")
        }
    );
    let check = match r.zfs_agrees {
        Some(true) => "zfs send -nvt reads the same fields",
        Some(false) => "zfs send -nvt reads other fields",
        None => "not checked: zfs is not installed here",
    };
    let _ = writeln!(s, "checked       {check}");
    s
}

/// `config check` of a valid configuration.
pub fn config_check_line(r: &ConfigCheckReport) -> String {
    let n = r.jobs.len();
    let mut out = format!(
        "{}: ok ({n} {}: {})\n",
        r.path,
        if n == 1 { "job" } else { "jobs" },
        r.jobs.join(", ")
    );
    for w in &r.warnings {
        out.push_str(&format!("warning: {w}\n"));
    }
    out
}

/// Per compared snapshot: OK or what differs.
pub fn verify_table(r: &VerifyReport) -> String {
    let mut s = String::new();
    for f in &r.filesystems {
        for c in &f.snapshots {
            let verdict = if let Some(u) = &c.unverified {
                if u.status == "failed" {
                    "VERIFICATION FAILED"
                } else {
                    "NOT VERIFIED"
                }
            } else if !c.guid_match {
                "GUID DIFFERS"
            } else if c.content.as_ref().is_some_and(|x| !x.content_match) {
                "CONTENT DIFFERS"
            } else if c.space.as_ref().is_some_and(|x| !x.space_match) {
                "SPACE DIFFERS"
            } else if c.space.is_some() {
                "ok (GUID, space)"
            } else if c.content.is_some() {
                "ok (GUID, content)"
            } else {
                "ok (GUID)"
            };
            let _ = writeln!(s, "{}@{}  {verdict}", f.filesystem, c.snapshot);
            if let Some(n) = &c.note {
                let _ = writeln!(s, "  {n}");
            }
            if let Some(u) = &c.unverified {
                let _ = writeln!(s, "  {} ({}): {}", u.status, u.error.kind, u.error.message);
            }
        }
        if let Some(e) = &f.error {
            let _ = writeln!(s, "{}: error ({}): {}", f.filesystem, e.kind, e.message);
        }
    }
    let _ = writeln!(
        s,
        "{} snapshot(s) compared, {} mismatch(es), {} not verified",
        r.checked, r.mismatches, r.unverified
    );
    error_line(&mut s, &r.error);
    s
}

/// `zreplrs status --receiver`: each received filesystem with its newest snapshot's age, hold and resumable
/// state.
pub fn receiver_table(r: &super::commands::ReceiverStatusReport) -> String {
    use super::commands::HoldState;
    let mut s = String::new();
    let _ = writeln!(s, "received below {}", r.root);
    let w = r.filesystems.iter().map(|f| f.path.len()).max().unwrap_or(10).max(10);
    let _ = writeln!(
        s,
        "{:<w$}  {:>10}  {:<9}  {:<16}  NEWEST SNAPSHOT",
        "FILESYSTEM", "AGE", "HOLD", "RESUMABLE"
    );
    for f in &r.filesystems {
        let age = f.age_seconds.map_or("-".to_string(), |a| format!("{a}s"));
        let hold = match f.last_received_hold {
            HoldState::OnNewest => "ok",
            HoldState::OnOlder => "OLDER",
            HoldState::Missing => "MISSING",
            HoldState::NotApplicable => "-",
        };
        let resumable = match (f.resumable, f.resumable_age_seconds) {
            (false, _) => "no".to_string(),
            (true, Some(a)) => format!("yes, {a}s"),
            (true, None) => "yes".to_string(),
        };
        let newest = if f.placeholder {
            "(placeholder)"
        } else {
            f.newest_snapshot.as_deref().unwrap_or("-")
        };
        let _ = writeln!(s, "{:<w$}  {age:>10}  {hold:<9}  {resumable:<16}  {newest}", f.path);
    }
    error_line(&mut s, &r.error);
    s
}
