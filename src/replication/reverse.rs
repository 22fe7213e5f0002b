//! The job a restore runs: a configured job turned around, so that the backup host's copy of a filesystem
//! (and its children) is the sender and this host is the receiver. The run is then an ordinary run of the
//! driver — the same plan, step holds on the backup side while sending, resume, retries, report and exit
//! codes — with the differences of [`Reversal`]: the copy lands at the name asked for, no snapshot newer
//! than the one asked for is sent, a full send only when allowed, and neither cursor bookmarks nor
//! last-received holds are left (the backup stays the receiver of the job).

use std::collections::BTreeMap;

use crate::config::{Filter, InitialReplication, Job, Protection, Reversal, Target};
use crate::error::Invalid;
use crate::zfs::names::DatasetName;

/// What `zreplrs restore` was asked for.
#[derive(Debug, Clone)]
pub struct RestoreRequest {
    /// The filesystem, by its name on the sending host.
    pub fs: DatasetName,
    /// Where it comes back: its own name unless given.
    pub to: Option<DatasetName>,
    /// The snapshot to bring back (its name after `@`); the newest when unset.
    pub snapshot: Option<String>,
    pub allow_full: bool,
}

/// The job that restores `req` from `job`'s receiver: a push job's on its sending host (from the backup
/// host's recv-agent, or a `local:` copy), a pull job's on its backup host (to the production host's
/// recv-agent of `[jobs.restore]`).
pub fn restore_job(job: &Job, req: &RestoreRequest) -> Result<Job, Invalid> {
    let to = req.to.clone().unwrap_or_else(|| req.fs.clone());
    let mut r = reversed(job, &[(req.fs.clone(), to)])?;
    if let Some(rev) = r.reversal.as_mut() {
        rev.until = req.snapshot.clone();
        rev.allow_full = req.allow_full;
    }
    Ok(r)
}

/// The job a failed-over `job` runs: the replicas of its roots send back to the roots, keeping cursors and
/// last-received holds as a job does.
pub fn failover_job(job: &Job) -> Result<Job, Invalid> {
    let roots: Vec<(DatasetName, DatasetName)> = job.filesystems.roots().into_iter().map(|r| (r.clone(), r)).collect();
    let mut r = reversed(job, &roots)?;
    if let Some(rev) = r.reversal.as_mut() {
        rev.bookkeeping = true;
    }
    Ok(r)
}

/// `job` turned around: the backup host's copies of each `(fs, to)`'s `fs` (and its children) are sent to
/// `to`. A restore: no snapshot limit, no full send, no bookkeeping (the callers set them).
fn reversed(job: &Job, parts: &[(DatasetName, DatasetName)]) -> Result<Job, Invalid> {
    let mut copies = Vec::new();
    let mut rules = BTreeMap::new();
    for (fs, _) in parts {
        let (copy, place) = backup_copy(job, fs)?;
        rules.extend(copy_rules(job, fs, &copy));
        copies.push((copy, place));
    }
    let tos: Vec<&DatasetName> = parts.iter().map(|(_, to)| to).collect();
    let (target, paths) = landing(job, &tos)?;
    // One copy is reached at its own name; several at the root of the job's copies (the agent's).
    let place = match copies.as_slice() {
        [(_, place)] => place.clone(),
        _ => place_of(
            job,
            job.receiver_root()
                .map_err(|e| Invalid::from(format!("client_identity: {e}")))?,
        )?,
    };
    let mut r = job.clone();
    // A copy on this host is sent by this host's zfs, as a push.
    r.source = Some(place).filter(|p| !matches!(p, Target::Local { .. }));
    r.target = target;
    if let Some(keys) = job
        .restore
        .as_ref()
        .map(|c| &c.identity_files)
        .filter(|k| !k.is_empty())
    {
        r.ssh.identity_files = keys.clone();
    }
    r.ssh.agent_command = vec!["zreplrs".into(), "recv-agent".into()];
    r.restore = None;
    r.client_identity = None;
    r.filesystems = Filter::parse(&rules)?;
    r.snapshots = Default::default();
    r.strip = Vec::new();
    r.send.encrypted = false;
    // Encrypted data comes back as it is stored: raw, still encrypted.
    r.send.flags.raw = true;
    r.recv = Default::default();
    r.initial_replication = InitialReplication::All;
    r.protection = Protection::GuaranteeResumability;
    r.replicate = Default::default();
    r.prune = None;
    r.reversal = Some(Reversal {
        land: copies.into_iter().map(|(copy, _)| copy).zip(paths).collect(),
        until: None,
        allow_full: false,
        bookkeeping: false,
    });
    Ok(r)
}

/// The job's filter rules at and below `fs`, renamed to the copy's names, with the copy's whole tree
/// included otherwise (what the job excluded is not there to send, or is a placeholder).
fn copy_rules(job: &Job, fs: &DatasetName, copy: &DatasetName) -> BTreeMap<String, bool> {
    let mut rules: BTreeMap<String, bool> = [(format!("{copy}<"), true)].into_iter().collect();
    for (key, include) in job.filesystems.rules() {
        let (name, subtree) = key.strip_suffix('<').map_or((key, ""), |n| (n, "<"));
        let below = match name.strip_prefix(fs.as_str()) {
            Some("") => Some(""),
            Some(rest) if rest.starts_with('/') => Some(rest),
            _ => None,
        };
        if let Some(rest) = below {
            rules.insert(format!("{copy}{rest}{subtree}"), include);
        }
    }
    rules
}

/// Where each of `tos` is received, and its path below that receiver's root: for a push job, a local
/// recv-agent rooted at the nearest dataset above them all; for a pull job, the production host's
/// recv-agent of `[jobs.restore]`.
fn landing(job: &Job, tos: &[&DatasetName]) -> Result<(Target, Vec<String>), Invalid> {
    let root = match job.is_pull() {
        false => local_root(tos)?,
        true => {
            let Some(restore) = &job.restore else {
                return Err(Invalid::from(format!(
                    "job {} is a pull job without [jobs.restore]: name the production host's recv-agent \
                     there (target = \"ssh://USER@HOST/POOL\" and the key whose forced command runs it; \
                     README, \"Getting data back\")",
                    job.name
                )));
            };
            restore.target.clone()
        }
    };
    let base = root.root_fs();
    let paths = tos
        .iter()
        .map(|to| match to.strip_prefix(base) {
            Some(rel) if !rel.is_empty() => Ok(rel.to_string()),
            _ => Err(Invalid::from(format!(
                "--to {to} is not below {base}, the root of [jobs.restore] target: the production host's \
                 recv-agent receives only there"
            ))),
        })
        .collect::<Result<_, _>>()?;
    Ok((root, paths))
}

/// The local recv-agent's root for `tos`: the nearest dataset above all of them.
fn local_root(tos: &[&DatasetName]) -> Result<Target, Invalid> {
    let mut root = None::<DatasetName>;
    for to in tos {
        let Some(parent) = to.parent() else {
            return Err(Invalid::from(format!(
                "--to {to}: a pool's root cannot be restored into; name a dataset below it"
            )));
        };
        root = Some(match root {
            None => parent,
            Some(r) => common_ancestor(&r, &parent).ok_or_else(|| {
                Invalid::from(format!(
                    "{to} and {r} are in different pools: one run receives into one pool; make a job per pool"
                ))
            })?,
        });
    }
    let root_fs = root.ok_or_else(|| Invalid::from("nothing to restore".to_string()))?;
    Ok(Target::Local { root_fs })
}

/// The nearest dataset at or above both `a` and `b`.
fn common_ancestor(a: &DatasetName, b: &DatasetName) -> Option<DatasetName> {
    let mut here = Some(a.clone());
    while let Some(d) = here {
        if b == &d || b.is_strictly_below(&d) {
            return Some(d);
        }
        here = d.parent();
    }
    None
}

/// The backup host's copy of `fs` and where it is reached from this host.
fn backup_copy(job: &Job, fs: &DatasetName) -> Result<(DatasetName, Target), Invalid> {
    if !job.filesystems.includes(fs) {
        return Err(Invalid::from(format!("job {} does not replicate {fs}", job.name)));
    }
    let rel = job
        .receiver_path(fs)
        .ok_or_else(|| Invalid::from(format!("job {} does not replicate {fs} (see its strip)", job.name)))?;
    let root = job
        .receiver_root()
        .map_err(|e| Invalid::from(format!("client_identity: {e}")))?;
    let copy = root
        .child(&rel)
        .map_err(|e| Invalid::from(format!("{fs} on the receiver: {e}")))?;
    let place = place_of(job, copy.clone())?;
    Ok((copy, place))
}

/// The backup host's dataset `root_fs`, reached as the job reaches its receiver.
fn place_of(job: &Job, root_fs: DatasetName) -> Result<Target, Invalid> {
    match &job.target {
        Target::Local { .. } => Ok(Target::Local { root_fs }),
        Target::Ssh { user, host, port, .. } => Ok(Target::Ssh {
            user: user.clone(),
            host: host.clone(),
            port: *port,
            root_fs,
        }),
        Target::S3 { .. } => Err(Invalid::from(format!(
            "job {} keeps its copies in an object store; its restore downloads them",
            job.name
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use camino::Utf8Path;

    fn job(target: &str, extra: &str) -> Job {
        let text = format!(
            "[[jobs]]\nname = \"prod\"\ntarget = \"{target}\"\n{extra}\n[jobs.filesystems]\n\"tank/data<\" = true\n"
        );
        let mut config = crate::config::Config::parse(Utf8Path::new("/etc/zreplrs/zreplrs.toml"), &text).unwrap();
        config.jobs.remove(0)
    }

    fn req(fs: &str, to: Option<&str>) -> RestoreRequest {
        RestoreRequest {
            fs: DatasetName::new(fs).unwrap(),
            to: to.map(|t| DatasetName::new(t).unwrap()),
            snapshot: Some("s2".into()),
            allow_full: false,
        }
    }

    #[test]
    fn an_ssh_push_job_restores_from_its_receiver_to_the_name_asked_for() {
        let j = job("ssh://backup@b1:2222/backup/hosts", "client_identity = \"prod1\"");
        let r = restore_job(&j, &req("tank/data/db", Some("tank/restored"))).unwrap();
        let copy = DatasetName::new("backup/hosts/prod1/tank/data/db").unwrap();
        assert_eq!(
            r.source,
            Some(Target::Ssh {
                user: Some("backup".into()),
                host: "b1".into(),
                port: 2222,
                root_fs: copy.clone()
            })
        );
        assert_eq!(
            r.target,
            Target::Local {
                root_fs: DatasetName::new("tank").unwrap()
            }
        );
        assert_eq!(r.receiver_path(&copy).as_deref(), Some("restored"));
        assert_eq!(
            r.receiver_path(&copy.child("logs").unwrap()).as_deref(),
            Some("restored/logs")
        );
        assert_eq!(
            r.receiver_path(&DatasetName::new("backup/hosts/prod1/tank/database").unwrap()),
            None
        );
        assert_eq!(r.sender_path("restored/logs"), Some(copy.child("logs").unwrap()));
        assert!(r.filesystems.includes(&copy) && !r.filesystems.includes(&DatasetName::new("backup/hosts").unwrap()));
        assert!(r.send.flags.raw && r.sync_record_property().is_none());
        assert_eq!(
            r.name, j.name,
            "the job's lock keeps a restore and a run of the job apart"
        );
    }

    #[test]
    fn a_local_push_job_restores_to_its_own_name_by_default_and_refuses_what_it_cannot() {
        let j = job("local:backup/hosts", "strip = \"tank\"");
        let r = restore_job(&j, &req("tank/data", None)).unwrap();
        assert_eq!(r.source, None);
        assert_eq!(
            r.filesystems.roots(),
            vec![DatasetName::new("backup/hosts/data").unwrap()]
        );
        assert_eq!(
            r.receiver_path(&DatasetName::new("backup/hosts/data").unwrap())
                .as_deref(),
            Some("data")
        );
        assert!(restore_job(&j, &req("tank/other", None)).is_err());
        assert!(restore_job(&j, &req("tank/data", Some("tank"))).is_err());
        let pull = job("local:backup/prod1\"\nsource = \"ssh://zsend@prod1/tank", "");
        assert!(restore_job(&pull, &req("tank/data", None))
            .unwrap_err()
            .0
            .contains("[jobs.restore]"));
    }

    #[test]
    fn a_pull_job_restores_from_its_local_copy_to_the_production_hosts_recv_agent() {
        let restore = "[jobs.restore]\ntarget = \"ssh://zrestore@prod1/tank\"\n\
                       identity_files = [\"/etc/zreplrs/id_restore\"]";
        let pull = job("local:backup/prod1\"\nsource = \"ssh://zsend@prod1/tank", restore);
        let r = restore_job(&pull, &req("tank/data", None)).unwrap();
        assert_eq!(r.source, None, "the copy is on this host");
        let copy = DatasetName::new("backup/prod1/tank/data").unwrap();
        assert_eq!(r.filesystems.roots(), vec![copy.clone()]);
        assert!(
            matches!(&r.target, Target::Ssh { host, root_fs, .. } if host == "prod1" && root_fs.as_str() == "tank")
        );
        assert_eq!(r.receiver_path(&copy).as_deref(), Some("data"));
        assert_eq!(
            r.ssh.identity_files,
            vec![camino::Utf8PathBuf::from("/etc/zreplrs/id_restore")]
        );
        assert_eq!(r.ssh.agent_command, ["zreplrs", "recv-agent"]);
        let to = restore_job(&pull, &req("tank/data", Some("tank/data/old"))).unwrap();
        assert_eq!(to.receiver_path(&copy).as_deref(), Some("data/old"));
        let outside = restore_job(&pull, &req("tank/data", Some("other/data"))).unwrap_err();
        assert!(outside.0.contains("not below tank"), "{}", outside.0);
        let text = format!(
            "[[jobs]]\nname = \"p\"\ntarget = \"local:backup/x\"\n{restore}\n[jobs.filesystems]\n\"tank<\" = true\n"
        );
        let e = crate::config::Config::parse(Utf8Path::new("/etc/zreplrs/zreplrs.toml"), &text).unwrap_err();
        assert!(e.to_string().contains("[jobs.restore] is for pull jobs"), "{e}");
    }

    #[test]
    fn the_copy_is_filtered_as_the_job_filters_its_original() {
        let text = "[[jobs]]\nname = \"prod\"\ntarget = \"local:backup/hosts\"\n[jobs.filesystems]\n\
                    \"tank<\" = true\n\"tank/data/tmp<\" = false\n\"tank/data/x\" = false\n\"tank/other\" = false\n";
        let mut config = crate::config::Config::parse(Utf8Path::new("/etc/zreplrs/zreplrs.toml"), text).unwrap();
        let j = config.jobs.remove(0);
        let r = restore_job(&j, &req("tank/data", None)).unwrap();
        let copy = |rel: &str| DatasetName::new(&format!("backup/hosts/tank/data{rel}")).unwrap();
        assert!(r.filesystems.includes(&copy("")) && r.filesystems.includes(&copy("/db")));
        assert!(r.filesystems.includes(&copy("/x/y")), "below an excluded placeholder");
        assert!(!r.filesystems.includes(&copy("/tmp")) && !r.filesystems.includes(&copy("/tmp/a")));
        assert!(!r.filesystems.includes(&copy("/x")), "the placeholder is not sent back");
        assert!(!r
            .filesystems
            .includes(&DatasetName::new("backup/hosts/tank/other").unwrap()));
    }

    #[test]
    fn a_failed_over_job_with_several_roots_sends_every_replica_back_in_one_run() {
        let text = "[[jobs]]\nname = \"prod\"\ntarget = \"ssh://b1/backup/hosts\"\nclient_identity = \"prod1\"\n\
                    [jobs.filesystems]\n\"tank/a<\" = true\n\"tank/b/c<\" = true\n\"tank/a/tmp\" = false\n";
        let mut config = crate::config::Config::parse(Utf8Path::new("/etc/zreplrs/zreplrs.toml"), text).unwrap();
        let j = config.jobs.remove(0);
        let r = failover_job(&j).unwrap();
        assert!(r.keeps_bookkeeping());
        let copy = |rel: &str| DatasetName::new(&format!("backup/hosts/prod1/tank/{rel}")).unwrap();
        assert!(
            matches!(&r.source, Some(Target::Ssh { root_fs, .. }) if root_fs.as_str() == "backup/hosts/prod1"),
            "several copies are reached at the agent's root: {:?}",
            r.source
        );
        assert_eq!(
            r.target,
            Target::Local {
                root_fs: DatasetName::new("tank").unwrap()
            }
        );
        assert_eq!(r.receiver_path(&copy("a")).as_deref(), Some("a"));
        assert_eq!(r.receiver_path(&copy("b/c/d")).as_deref(), Some("b/c/d"));
        assert_eq!(r.sender_path("b/c"), Some(copy("b/c")));
        assert_eq!(r.sender_path("a/x"), Some(copy("a/x")));
        assert_eq!(r.sender_path("b"), None, "tank/b is not the job's");
        assert!(r.filesystems.includes(&copy("a")) && r.filesystems.includes(&copy("b/c")));
        assert!(!r.filesystems.includes(&copy("a/tmp")));
        let pools = "[[jobs]]\nname = \"prod\"\ntarget = \"local:backup/hosts\"\n\
                     [jobs.filesystems]\n\"tank/a<\" = true\n\"rpool/b<\" = true\n";
        let mut config = crate::config::Config::parse(Utf8Path::new("/etc/zreplrs/zreplrs.toml"), pools).unwrap();
        let e = failover_job(&config.jobs.remove(0)).unwrap_err();
        assert!(e.0.contains("different pools"), "{}", e.0);
    }
}
