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
    let (copy, place) = backup_copy(job, &req.fs)?;
    let to = req.to.clone().unwrap_or_else(|| req.fs.clone());
    let (target, path) = landing(job, &to)?;
    let rules = copy_rules(job, &req.fs, &copy);
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
        land: (copy, path),
        until: req.snapshot.clone(),
        allow_full: req.allow_full,
        bookkeeping: false,
    });
    Ok(r)
}

/// The job a failed-over `job` runs: its root's replica sends back to the root, keeping cursors and
/// last-received holds as a job does.
pub fn failover_job(job: &Job) -> Result<Job, Invalid> {
    let roots = job.filesystems.roots();
    let [root] = roots.as_slice() else {
        return Err(Invalid::from(format!(
            "job {} does not have exactly one root filesystem",
            job.name
        )));
    };
    let req = RestoreRequest {
        fs: root.clone(),
        to: None,
        snapshot: None,
        allow_full: false,
    };
    let mut r = restore_job(job, &req)?;
    if let Some(rev) = r.reversal.as_mut() {
        rev.bookkeeping = true;
    }
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

/// Where `to` is received, and its path below that receiver's root: for a push job, a local recv-agent
/// rooted at its parent; for a pull job, the production host's recv-agent of `[jobs.restore]`.
fn landing(job: &Job, to: &DatasetName) -> Result<(Target, String), Invalid> {
    if !job.is_pull() {
        let (Some(parent), Some(leaf)) = (to.parent(), to.as_str().rsplit('/').next()) else {
            return Err(Invalid::from(format!(
                "--to {to}: a pool's root cannot be restored into; name a dataset below it"
            )));
        };
        return Ok((Target::Local { root_fs: parent }, leaf.to_string()));
    }
    let Some(restore) = &job.restore else {
        return Err(Invalid::from(format!(
            "job {} is a pull job without [jobs.restore]: name the production host's recv-agent there \
             (target = \"ssh://USER@HOST/POOL\" and the key whose forced command runs it; README, \
             \"Getting data back\")",
            job.name
        )));
    };
    let root = restore.target.root_fs();
    if !to.is_strictly_below(root) {
        return Err(Invalid::from(format!(
            "--to {to} is not below {root}, the root of [jobs.restore] target: the production host's \
             recv-agent receives only there"
        )));
    }
    Ok((
        restore.target.clone(),
        to.as_str()[root.as_str().len() + 1..].to_string(),
    ))
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
    let place = match &job.target {
        Target::Local { .. } => Target::Local { root_fs: copy.clone() },
        Target::Ssh { user, host, port, .. } => Target::Ssh {
            user: user.clone(),
            host: host.clone(),
            port: *port,
            root_fs: copy.clone(),
        },
        Target::S3 { .. } => {
            return Err(Invalid::from(format!(
                "job {} keeps its copies in an object store; its restore downloads them",
                job.name
            )))
        }
    };
    Ok((copy, place))
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
}
