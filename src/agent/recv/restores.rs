//! `recv-agent --serve-restores`: the way back through a backup host's own agent. A peer whose hello asks
//! for a restore is answered as a send-agent of this agent's root (`--root-fs[/--client-identity]`, so a
//! client sees only its own tree), with a policy that sends raw only, holds with the restoring job's step
//! hold tag and never receives; under `--append-only` it never bookmarks or destroys either (without it, a
//! failed-over job keeps its cursor bookmarks on the copy it sends from). Without the flag the agent greets
//! as a recv-agent (`send_agent: false`) and the peer refuses to go on.

use std::collections::BTreeMap;
use std::time::Duration;

use crate::agent::send::policy::SendPolicy;
use crate::agent::send::server::SendAgentConfig;
use crate::config::Filter;
use crate::error::Invalid;
use crate::zfs::bookkeeping::JobId;
use crate::zfs::names::DatasetName;

use super::config::AgentConfig;

/// How long a restore's stream may make no progress towards the peer.
const STALL_TIMEOUT: Duration = Duration::from_secs(300);

/// The send-agent configuration that serves a restore of job `job_id` below `root`.
pub fn sender_config(cfg: &AgentConfig, root: &DatasetName, job_id: &str) -> Result<SendAgentConfig, Invalid> {
    let job = JobId::new(job_id).map_err(|e| Invalid::from(format!("the restore's job id {job_id:?}: {e}")))?;
    let rules: BTreeMap<String, bool> = [(format!("{root}<"), true)].into_iter().collect();
    let filter = Filter::parse(&rules).map_err(|e| Invalid::from(format!("the agent's root {root}: {e}")))?;
    Ok(SendAgentConfig {
        policy: SendPolicy {
            root: root.clone(),
            filter,
            job,
            require_raw: true,
            // Without --append-only the agent destroys on request anyway: a failed-over job's cursors may
            // be kept on the copy it sends from.
            restore_only: cfg.append_only,
        },
        zfs_program: cfg.zfs_program.clone(),
        max_zstd_level: crate::config::DEFAULT_ZSTD_LEVEL,
        stall_timeout: STALL_TIMEOUT,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::agent::send::policy::Accepted;
    use crate::zfs::send::RecvOptions;

    fn agent() -> AgentConfig {
        AgentConfig {
            root_fs: DatasetName::new("backup/hosts").unwrap(),
            client_identity: Some("prod1".into()),
            recv: RecvOptions::hardened(),
            recv_incremental: RecvOptions::default(),
            zfs_program: None,
            append_only: true,
            allow_verify: false,
            serve_restores: true,
        }
    }

    fn argv(s: &str) -> Vec<String> {
        s.split(' ').map(String::from).collect()
    }

    #[test]
    fn a_restore_reads_only_its_own_clients_tree_raw_and_writes_nothing() {
        let cfg = agent();
        let root = cfg.root().unwrap();
        let s = sender_config(&cfg, &root, "prod").unwrap();
        let p = &s.policy;
        let ok = |a: &str, stream| p.check(&argv(a), stream).is_ok();
        assert_eq!(
            p.check(&argv("send -w backup/hosts/prod1/tank/data@s2"), true).unwrap(),
            Accepted::Stream
        );
        assert!(ok(
            "send -w -I backup/hosts/prod1/tank/data@s1 backup/hosts/prod1/tank/data@s2",
            true
        ));
        assert!(ok("hold zrepl_STEP_J_prod backup/hosts/prod1/tank/data@s2", false));
        assert!(ok("release zrepl_STEP_J_prod backup/hosts/prod1/tank/data@s2", false));
        // Another client's tree, a plain (decrypting) send, another tag, and every write are refused.
        assert!(!ok("send -w backup/hosts/prod2/tank/data@s2", true));
        assert!(!ok("list -H -o name -r backup/hosts", false));
        assert!(!ok("send backup/hosts/prod1/tank/data@s2", true));
        assert!(!ok(
            "hold zrepl_last_received_J_prod backup/hosts/prod1/tank/data@s2",
            false
        ));
        let cursor = "backup/hosts/prod1/tank/data#zrepl_CURSOR_G_0000000000000001_J_prod";
        assert!(!ok(
            &format!("bookmark backup/hosts/prod1/tank/data@s2 {cursor}"),
            false
        ));
        assert!(!ok(&format!("destroy {cursor}"), false));
        assert!(!ok("destroy backup/hosts/prod1/tank/data@s2", false));
        assert!(!ok(
            "rename backup/hosts/prod1/tank/data@s2 backup/hosts/prod1/tank/data@x",
            false
        ));
        assert!(!ok("receive backup/hosts/prod1/tank/data", false));
        assert!(sender_config(&cfg, &root, "bad id!").is_err());
    }
}
