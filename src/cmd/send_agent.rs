//! `zreplrs send-agent`: turns the agent's command line into its policy and serves stdin/stdout.

use crate::error::Invalid;
use std::collections::BTreeMap;

use crate::agent::send::policy::SendPolicy;
use crate::agent::send::server::{serve, SendAgentConfig};
use crate::cli::SendAgentArgs;
use crate::config::Filter;
use crate::report::exit;
use crate::zfs::bookkeeping::JobId;
use crate::zfs::names::DatasetName;

/// Validates the agent's own command line (authoritative) and serves until the backup host disconnects.
pub fn run(a: &SendAgentArgs) -> u8 {
    let cfg = match config(a) {
        Ok(c) => c,
        Err(msg) => {
            eprintln!("zreplrs send-agent: {msg}");
            return exit::USAGE;
        }
    };
    let (input, output) = match super::agent_stdio("send-agent") {
        Ok(io) => io,
        Err(code) => return code,
    };
    match serve(&cfg, input, output) {
        Ok(()) => exit::OK,
        Err(msg) => {
            eprintln!("zreplrs send-agent: {msg}");
            exit::RUN_FAILED
        }
    }
}

fn config(a: &SendAgentArgs) -> Result<SendAgentConfig, Invalid> {
    let root = DatasetName::new(&a.root_fs).map_err(|e| format!("--root-fs: {e}"))?;
    let job = JobId::new(&a.job_id).map_err(|e| format!("--job-id: {e}"))?;
    let mut rules: BTreeMap<String, bool> = BTreeMap::new();
    if a.include.is_empty() {
        rules.insert(format!("{root}<"), true);
    }
    for (list, include) in [(&a.include, true), (&a.exclude, false)] {
        for r in list.iter() {
            if rules.insert(r.clone(), include).is_some() {
                return Err(Invalid::from(format!("filesystem rule {r:?} is given twice")));
            }
        }
    }
    let filter = Filter::parse(&rules).map_err(|e| format!("--include/--exclude: {e}"))?;
    if let Some(outside) = filter
        .roots()
        .into_iter()
        .find(|r| r != &root && !r.is_strictly_below(&root))
    {
        return Err(Invalid::from(format!(
            "--include {outside} is not at or below --root-fs {root}"
        )));
    }
    Ok(SendAgentConfig {
        policy: SendPolicy {
            root,
            filter,
            job,
            require_raw: a.require_raw,
            restore_only: false,
        },
        zfs_program: a.zfs_program.clone().map(Into::into),
        max_zstd_level: a.max_zstd_level,
        stall_timeout: std::time::Duration::from_secs(a.stall_timeout_secs),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    fn cfg(extra: &[&str]) -> Result<SendAgentConfig, Invalid> {
        let base = ["zreplrs", "send-agent", "--root-fs", "tank", "--job-id", "prod"];
        let cli = crate::cli::Cli::try_parse_from(base.iter().chain(extra.iter())).map_err(|e| e.to_string())?;
        match cli.command {
            crate::cli::Command::SendAgent(a) => config(&a),
            _ => Err("not send-agent".into()),
        }
    }

    #[test]
    fn the_command_line_sets_the_policy() {
        let c = cfg(&[]).unwrap();
        let ds = |s: &str| DatasetName::new(s).unwrap();
        assert!(c.policy.allows(&ds("tank")) && c.policy.allows(&ds("tank/a/b")));
        let c = cfg(&[
            "--include",
            "tank/data<",
            "--exclude",
            "tank/data/tmp<",
            "--require-raw",
        ])
        .unwrap();
        assert!(c.policy.allows(&ds("tank/data/x")));
        assert!(!c.policy.allows(&ds("tank/data/tmp/y")) && !c.policy.allows(&ds("tank/other")));
        assert!(c.policy.require_raw);
        assert!(cfg(&["--include", "other/data<"])
            .unwrap_err()
            .contains("not at or below"));
        assert!(cfg(&["--include", "tank/a<", "--exclude", "tank/a<"])
            .unwrap_err()
            .contains("twice"));
        assert!(cfg(&["--include", "bad name"]).is_err());
        assert!(crate::cli::Cli::try_parse_from(["zreplrs", "send-agent", "--root-fs", "tank"]).is_err());
    }
}
