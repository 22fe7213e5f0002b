//! Human output: a summary table of a run for a terminal.

use std::fmt::Write as _;

use super::{FsResult, RunReport};

fn human_bytes(b: u64) -> String {
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
        let bytes: u64 = if r.dry_run {
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
    }
    let est = if r.bytes_estimate_exact {
        ""
    } else {
        " (estimate imprecise: some sizes unknown)"
    };
    let _ = writeln!(
        s,
        "job {}: {:?}, {} replicated, {} estimated{est}, {} attempt(s), {:.1}s",
        r.job,
        r.result,
        human_bytes(r.bytes_replicated),
        human_bytes(r.bytes_estimated),
        r.attempts.len(),
        r.duration_seconds
    );
    if let Some(e) = &r.error {
        let _ = writeln!(s, "error ({}): {}", e.kind, e.message);
    }
    s
}
