//! Running `zreplrs prune --job [--side sender|receiver|both] [--dry-run]`: lists each side once (with
//! `creation`, which pruning needs), evaluates the keep rules per filesystem and destroys what no rule keeps.
//! Never destroyed: the snapshot at this job's replication cursor (sender) and the snapshot the next
//! incremental builds on (receiver: its newest, and the one matching the cursor). Held snapshots are reported,
//! not treated as errors. Receiver-side destroys go through the agent.

mod bucket;

use std::collections::BTreeSet;

use camino::Utf8Path;

use crate::cli::PruneArgs;
use crate::config::Job;
use crate::prune::rules::{evaluate, Action, Decision, KeepRule, KeepRuleConfig, PruneContext, SnapInfo};
use crate::prune::Side;
use crate::report::commands::{FsPrune, PruneReport, SnapDecision};
use crate::report::{self, exit, human, metrics, ErrorReport, Header, Timing};
use crate::survey;
use crate::survey::SurveyError;
use crate::transport;
use crate::zfs::bookkeeping::parse_cursor_short;
use crate::zfs::list::{FsEntry, Listing};
use crate::zfs::names::{DatasetName, SnapshotName};
use crate::zfs::{Guid, Zfs, ZfsErrorKind};

fn rules(configs: &[KeepRuleConfig]) -> Result<Vec<KeepRule>, SurveyError> {
    configs
        .iter()
        .map(|c| {
            KeepRule::from_config(c).map_err(|e| SurveyError {
                error: ErrorReport::new("config", e.0),
                connectivity: false,
            })
        })
        .collect()
}

fn snap_infos(fs: &FsEntry) -> Vec<SnapInfo> {
    fs.snapshots()
        .map(|v| SnapInfo {
            name: v.short.clone(),
            guid: v.guid.0,
            createtxg: v.createtxg,
            creation: v.creation.unwrap_or(0),
            held: v.userrefs.unwrap_or(0) > 0,
        })
        .collect()
}

pub(super) fn decisions_report(side: &'static str, fs: &str, decisions: &[Decision]) -> FsPrune {
    let mut r = FsPrune {
        side,
        filesystem: fs.to_string(),
        destroyed: Vec::new(),
        held: Vec::new(),
        kept: 0,
        decisions: Vec::new(),
        objects: Vec::new(),
        error: None,
    };
    for d in decisions {
        let action = match d.action {
            Action::Keep => {
                r.kept += 1;
                "keep"
            }
            Action::Destroy => {
                r.destroyed.push(d.name.clone());
                "destroy"
            }
            Action::Held => {
                r.held.push(d.name.clone());
                "held"
            }
        };
        r.decisions.push(SnapDecision {
            snapshot: format!("{fs}@{}", d.name),
            action,
            reason: d.reason.clone(),
        });
    }
    r
}

/// The newest cursor (createtxg, guid) of this job on a sender filesystem.
fn cursor_of(job: &Job, fs: &FsEntry) -> Option<(u64, Guid)> {
    fs.bookmarks()
        .filter(|b| parse_cursor_short(&b.short).is_some_and(|(_, j)| j == job.name.as_str()))
        .map(|b| (b.createtxg, b.guid))
        .max()
}

/// Prunes `side` of `job` according to its `[jobs.prune]` rules.
pub fn prune(job: &Job, side: Side, dry_run: bool) -> PruneReport {
    let mut r = PruneReport {
        header: Header::new("prune", Some(job.name.as_str()), Some(dry_run)),
        side,
        timing: Timing::start(),
        destroyed: 0,
        filesystems: Vec::new(),
        error: None,
    };
    if let Err(e) = prune_inner(job, side, dry_run, &mut r) {
        r.error = Some(e.error);
    }
    r.destroyed = r.filesystems.iter().map(|f| f.destroyed.len() as u64).sum();
    r.timing.finish();
    r
}

/// Runs `zreplrs prune`: a job without keep rules is a usage error (exit 2), or skipped with
/// `--if-configured` (exit 0); writes the textfile (not for `--dry-run`) and prints the result.
pub fn command(path: Option<&Utf8Path>, a: &PruneArgs) -> u8 {
    super::with_job(path, &a.common.job, |config, job| {
        if crate::replication::failover::is_failed_over_job(job) {
            // Its keep rules are for the other direction: the new primary is the receiver's copy.
            eprintln!(
                "zreplrs: job {} is failed over: nothing is pruned until `zreplrs failback --job {}`",
                job.name, job.name
            );
            return exit::OK;
        }
        if job.prune.is_none() {
            if a.if_configured {
                eprintln!(
                    "zreplrs: job {} has no [jobs.prune] keep rules: nothing to prune",
                    job.name
                );
                return exit::OK;
            }
            eprintln!(
                "zreplrs: job {} has no [jobs.prune] keep rules; add them to prune (see /usr/share/doc/zreplrs/examples/zreplrs.toml)",
                job.name
            );
            return exit::USAGE;
        }
        // A bucket's manifests are committed by replicate runs too: the job's lock keeps them apart.
        let _lock = match job.target.is_store() && a.side != Side::Sender {
            true => match crate::lock::lock_job_in(config.global.lock_dir.as_deref(), &job.name) {
                Ok(l) => Some(l),
                Err(e) => return super::lock_failure(&e),
            },
            false => None,
        };
        let r = prune(job, a.side, a.dry_run);
        if !a.dry_run {
            let t = metrics::prune_textfile(&r);
            super::write_textfile(a.textfile_dir.as_deref(), config, job, "prune", &t);
        }
        super::emit(a.common.output.format(), &r, human::prune_summary)
    })
}

fn prune_inner(job: &Job, side: Side, dry_run: bool, r: &mut PruneReport) -> Result<(), SurveyError> {
    let Some(cfg) = &job.prune else {
        return Err(SurveyError {
            error: ErrorReport::new("config", format!("job {} has no [jobs.prune] keep rules", job.name)),
            connectivity: false,
        });
    };
    if job.is_pull() && side != Side::Receiver {
        return Err(SurveyError {
            error: ErrorReport::new(
                "config",
                format!(
                    "job {} pulls: its source prunes its own snapshots (`zreplrs prune --side sender` there, with a \
                     config that has a job of the same name); here, prune with --side receiver",
                    job.name
                ),
            ),
            connectivity: false,
        });
    }
    // A pull job's sender is its source, reached through the send-agent (which lists, never destroys).
    let zfs = transport::sender_zfs(job)?;
    let now = report::unix_now();
    // The sender listing is needed on both sides: cursors protect the receiver's incremental base too. On
    // the backup host (where an append-only receiver is pruned) the sender's filesystems do not exist, and
    // the receiver's own listing says which filesystems the job replicated.
    let sender = match zfs.list(&job.filesystems.roots(), side != Side::Receiver) {
        Ok(l) => l,
        Err(e) if side == Side::Receiver && e.kind == ZfsErrorKind::DoesNotExist => Listing::default(),
        Err(e) => return Err(e.into()),
    };
    let sender_here = !sender.filesystems.is_empty();
    let selected: Vec<&FsEntry> = sender
        .filesystems
        .values()
        .filter(|f| job.filesystems.includes(&f.name))
        .collect();
    if side != Side::Receiver {
        let rules = rules(&cfg.keep_sender)?;
        for fs in &selected {
            let cursor = cursor_of(job, fs);
            let mut protected = BTreeSet::new();
            if let Some((_, g)) = cursor {
                if let Some(s) = fs.snapshots().find(|s| s.guid == g) {
                    protected.insert(s.short.clone());
                }
            }
            let ctx = PruneContext {
                now,
                cursor_createtxg: cursor.map(|c| c.0),
                sender_side: true,
                protected,
            };
            let decisions = evaluate(&rules, &snap_infos(fs), &ctx);
            let mut fr = decisions_report("sender", fs.name.as_str(), &decisions);
            if !dry_run && !fr.destroyed.is_empty() {
                destroy_sender(&zfs, &fs.name, &mut fr);
            }
            r.filesystems.push(fr);
        }
    }
    if side != Side::Sender && job.target.is_store() {
        return bucket::prune(job, &rules(&cfg.keep_receiver)?, now, dry_run, r);
    }
    if side != Side::Sender {
        let rules = rules(&cfg.keep_receiver)?;
        let mut conn = transport::connect(job)?;
        let root = survey::receiver_root(&conn)?;
        let receiver = survey::from_wire_map(&root, &conn.client().list_with(true)?.filesystems)?;
        // (the sender's entry where the sender is on this host, the receiver's copy)
        let pairs: Vec<(Option<&FsEntry>, &FsEntry)> = if sender_here {
            selected
                .iter()
                .filter_map(|fs| {
                    let target = root.child(&job.receiver_path(&fs.name)?).ok()?;
                    Some((Some(*fs), receiver.get(&target)?))
                })
                .collect()
        } else {
            receiver
                .values()
                .filter(|rfs| !rfs.is_placeholder())
                .filter(|rfs| {
                    rfs.name
                        .strip_prefix(&root)
                        .is_some_and(|rel| job.sender_path(rel).is_some())
                })
                .map(|rfs| (None, rfs))
                .collect()
        };
        for (fs, rfs) in pairs {
            let target = &rfs.name;
            let mut protected = BTreeSet::new();
            if let Some(newest) = rfs.newest_snapshot() {
                protected.insert(newest.short.clone());
            }
            if let Some((_, g)) = fs.and_then(|fs| cursor_of(job, fs)) {
                if let Some(s) = rfs.snapshots().find(|s| s.guid == g) {
                    protected.insert(s.short.clone());
                }
            }
            let ctx = PruneContext {
                now,
                cursor_createtxg: None,
                sender_side: false,
                protected,
            };
            let decisions = evaluate(&rules, &snap_infos(rfs), &ctx);
            let mut fr = decisions_report("receiver", target.as_str(), &decisions);
            // The agent's request names the copy where it landed (strip, placeholders), never the sender's name.
            let rel = target.strip_prefix(&root).unwrap_or_default();
            if !dry_run && !fr.destroyed.is_empty() && !rel.is_empty() {
                match conn.client().destroy(rel, fr.destroyed.clone()) {
                    Ok(reply) => {
                        fr.held.extend(reply.held);
                        fr.destroyed = reply.destroyed;
                    }
                    Err(e) if e.kind() == crate::error::ErrorKind::Connection => return Err(e.into()),
                    Err(e) => {
                        // Nothing was destroyed (an append-only receiver refuses every destroy).
                        fr.error = Some(ErrorReport::new(e.kind(), e.to_string()));
                        fr.destroyed.clear();
                    }
                }
            }
            r.filesystems.push(fr);
        }
    }
    Ok(())
}

/// Destroys in one call per filesystem; if a snapshot turned out held (a race with a run), retries one by one
/// and reports the held ones.
fn destroy_sender(zfs: &Zfs, fs: &DatasetName, fr: &mut FsPrune) {
    let snaps: Vec<SnapshotName> = fr.destroyed.iter().filter_map(|s| fs.snapshot(s).ok()).collect();
    crate::failpoint::hit("prune_destroy_before");
    let destroyed = zfs.destroy_snapshots(&snaps);
    crate::failpoint::hit("prune_destroy_after");
    match destroyed {
        Ok(()) => {}
        Err(e) if e.kind == ZfsErrorKind::Held => {
            let mut destroyed = Vec::new();
            for s in &snaps {
                match zfs.destroy_snapshots(std::slice::from_ref(s)) {
                    Ok(()) => destroyed.push(s.short().to_string()),
                    Err(e) if e.kind == ZfsErrorKind::Held => fr.held.push(s.short().to_string()),
                    Err(e) => {
                        fr.error = Some(ErrorReport::from(&e));
                        break;
                    }
                }
            }
            fr.destroyed = destroyed;
        }
        Err(e) => {
            fr.error = Some(ErrorReport::from(&e));
            fr.destroyed.clear();
        }
    }
}
