//! `zreplrs verify`: compares a job's sender snapshots with their received copies: GUIDs always, and with
//! `--content` a digest of their files ([`crate::content`]) computed on each side. Every difference is
//! reported (exit 1); nothing is changed on either side except the temporary clones used to read
//! unmounted snapshots.

mod bucket;

use camino::Utf8Path;

use crate::agent::client::AgentError;
use crate::cli::VerifyArgs;
use crate::config::Job;
use crate::content::{digest_dir, ContentDigest};
use crate::report::commands::{ContentCheck, FsVerify, SnapshotCheck, SpaceCheck, Unverified, VerifyReport};
use crate::report::{human, metrics, ErrorReport, Header, Timing};
use crate::survey::{self, SurveyError};
use crate::transport;
use crate::zfs::list::FsEntry;
use crate::zfs::{Version, Zfs};

/// Runs `zreplrs verify`; writes the textfile and prints the result.
pub fn command(path: Option<&Utf8Path>, a: &VerifyArgs) -> u8 {
    super::with_job(path, &a.job, |config, job| {
        if let Some(code) = super::sender_side_only(job, "verify") {
            return code;
        }
        let r = verify(job, a);
        let t = metrics::verify_textfile(&r);
        super::write_textfile(a.textfile_dir.as_deref(), config, job, "verify", &t);
        super::emit(a.output.format(), &r, human::verify_table)
    })
}

/// Verifies the job's filesystems (or the one `--fs` names).
pub fn verify(job: &Job, a: &VerifyArgs) -> VerifyReport {
    let mut r = VerifyReport {
        header: Header::new("verify", Some(job.name.as_str()), None),
        timing: Timing::start(),
        content: a.content,
        checked: 0,
        mismatches: 0,
        unverified: 0,
        filesystems: Vec::new(),
        error: None,
    };
    if let Err(e) = verify_inner(job, a, &mut r) {
        r.error = Some(e.error);
    }
    let checks = r.filesystems.iter().flat_map(|f| &f.snapshots);
    r.checked = checks.clone().count() as u64;
    r.mismatches = checks.clone().filter(|c| c.mismatch()).count() as u64;
    r.unverified = checks.filter(|c| c.undecided()).count() as u64;
    r.timing.finish();
    r
}

fn verify_inner(job: &Job, a: &VerifyArgs, r: &mut VerifyReport) -> Result<(), SurveyError> {
    let zfs = Zfs::new();
    let sender = zfs.list(&job.filesystems.roots(), false)?;
    let selected: Vec<&FsEntry> = sender
        .filesystems
        .values()
        .filter(|f| job.filesystems.includes(&f.name))
        .filter(|f| a.fs.as_deref().is_none_or(|n| n == f.name.as_str()))
        .collect();
    if let (Some(fs), true) = (&a.fs, selected.is_empty()) {
        return Err(SurveyError {
            error: ErrorReport::new("usage", format!("{fs} is not a filesystem of job {}", job.name)),
            connectivity: false,
        });
    }
    if job.target.is_store() {
        return bucket::verify(job, a, &selected, r);
    }
    let mut conn = transport::connect(job)?;
    let root = survey::receiver_root(&conn)?;
    let receiver = survey::from_wire_map(&root, &conn.client().list()?.filesystems)?;
    for fs in selected {
        let Some(rel) = job.receiver_path(&fs.name) else {
            continue;
        };
        let Ok(target) = root.child(&rel) else { continue };
        let mut fv = FsVerify {
            filesystem: fs.name.to_string(),
            target: target.to_string(),
            snapshots: Vec::new(),
            error: None,
        };
        let Some(copy) = receiver.get(&target) else {
            fv.error = Some(ErrorReport::new(
                "not_replicated",
                format!("the receiver has no {target}"),
            ));
            r.filesystems.push(fv);
            continue;
        };
        let common: Vec<&Version> = fs.snapshots().filter(|s| copy.snapshot(&s.short).is_some()).collect();
        let chosen: Vec<(String, Option<&Version>, Option<&Version>)> = match a.snapshot.as_str() {
            "latest" | "all" if common.is_empty() => {
                fv.error = Some(ErrorReport::new(
                    "no_common_snapshot",
                    format!("{} and {target} have no snapshot name in common", fs.name),
                ));
                Vec::new()
            }
            "latest" => common
                .last()
                .map(|s| (s.short.clone(), Some(*s), copy.snapshot(&s.short)))
                .into_iter()
                .collect(),
            "all" => common
                .iter()
                .map(|s| (s.short.clone(), Some(*s), copy.snapshot(&s.short)))
                .collect(),
            name => vec![(name.to_string(), fs.snapshot(name), copy.snapshot(name))],
        };
        for (short, s, c) in chosen {
            let check = compare(&zfs, &mut conn, fs, (&rel, &fv.target), &short, s, c, a.content)?;
            fv.snapshots.push(check);
        }
        r.filesystems.push(fv);
    }
    Ok(())
}

/// Compares one snapshot; only a lost connection is an error.
#[allow(clippy::too_many_arguments)]
fn compare(
    zfs: &Zfs,
    conn: &mut transport::Connection,
    fs: &FsEntry,
    (rel, target): (&str, &str),
    short: &str,
    sender: Option<&Version>,
    copy: Option<&Version>,
    content: bool,
) -> Result<SnapshotCheck, SurveyError> {
    let mut check = SnapshotCheck {
        snapshot: short.to_string(),
        sender_guid: sender.map(|v| v.guid),
        receiver_guid: copy.map(|v| v.guid),
        guid_match: matches!((sender, copy), (Some(s), Some(c)) if s.guid == c.guid),
        content: None,
        space: None,
        note: None,
        unverified: None,
    };
    match (sender, copy) {
        (None, _) => check.note = Some(format!("the sender has no {}@{short}", fs.name)),
        (_, None) => check.note = Some(format!("the receiver has no copy of {}@{short}", fs.name)),
        (Some(s), Some(_)) if content && check.guid_match => {
            let snap = fs.name.snapshot(short).map_err(|e| SurveyError {
                error: ErrorReport::new(crate::error::ErrorKind::InvalidName, e.to_string()),
                connectivity: false,
            })?;
            let mine = zfs
                .snapshot_dir(&snap)
                .map_err(|e| e.to_string())
                .and_then(|dir| digest_dir(dir.path()).map_err(|e| e.to_string()));
            let theirs = match conn.client().checksum(rel, short, s.guid.0) {
                Ok(d) => d,
                Err(e) if e.kind() == crate::error::ErrorKind::Connection => return Err(e.into()),
                Err(AgentError::Remote { kind, message }) => {
                    check.unverified = Some(Unverified::not_verified(
                        "receiver_refused",
                        format!("{target}@{short}: content not compared, the receiver said {kind}: {message}"),
                    ));
                    return Ok(check);
                }
                Err(e) => {
                    check.unverified = Some(Unverified::failed(
                        "receiver_checksum",
                        format!("{target}@{short}: content not compared: {e}"),
                    ));
                    return Ok(check);
                }
            };
            match mine {
                Ok(sender) if theirs.unreadable.is_empty() => {
                    let receiver = ContentDigest {
                        digest: theirs.digest,
                        entries: theirs.entries,
                        bytes: theirs.bytes,
                    };
                    let content_match = sender == receiver;
                    check.content = Some(ContentCheck {
                        sender,
                        receiver,
                        content_match,
                    });
                }
                mine => {
                    let ours = zfs
                        .get_property(snap.as_str(), "logicalreferenced")
                        .ok()
                        .and_then(|v| v.parse().ok())
                        .unwrap_or(0);
                    check.space = Some(SpaceCheck::new(ours, theirs.logical_referenced));
                    check.unverified = Some(match mine {
                        Err(e) => Unverified::failed(
                            "sender_unreadable",
                            format!("{}@{short}: the sender's files cannot be read: {e}", fs.name),
                        ),
                        Ok(_) if theirs.by_design => Unverified::not_verified(
                            "not_verifiable",
                            format!("{target}@{short}: content not verified: {}", theirs.unreadable),
                        ),
                        Ok(_) => Unverified::failed(
                            "receiver_unreadable",
                            format!(
                                "{target}@{short}: the receiver's copy cannot be read: {}",
                                theirs.unreadable
                            ),
                        ),
                    });
                }
            }
        }
        _ => {}
    }
    Ok(check)
}
