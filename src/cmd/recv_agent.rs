//! `zreplrs recv-agent`: turns the agent's command line into its configuration and serves stdin/stdout.

use crate::agent::recv::config::AgentConfig;
use crate::agent::recv::server::serve;
use crate::cli::RecvAgentArgs;
use crate::error::Invalid;
use crate::report::exit;
use crate::zfs::names::{check_component, DatasetName, PropertyName};
use crate::zfs::send::RecvOptions;

/// Validates the agent's own command line (authoritative) and serves until the sender disconnects.
pub fn run(a: &RecvAgentArgs) -> u8 {
    let cfg = match config(a) {
        Ok(c) => c,
        Err(msg) => {
            eprintln!("zreplrs recv-agent: {msg}");
            return exit::USAGE;
        }
    };
    let (input, output) = match super::agent_stdio("recv-agent") {
        Ok(io) => io,
        Err(code) => return code,
    };
    match serve(&cfg, input, output) {
        Ok(()) => exit::OK,
        Err(msg) => {
            eprintln!("zreplrs recv-agent: {msg}");
            exit::RUN_FAILED
        }
    }
}

fn config(a: &RecvAgentArgs) -> Result<AgentConfig, Invalid> {
    let under_sshd = ["SSH_ORIGINAL_COMMAND", "SSH_CONNECTION", "SSH_CLIENT"]
        .iter()
        .any(|v| std::env::var_os(v).is_some());
    if a.own_streams && under_sshd {
        return Err(
            "--own-streams is for the agent zreplrs starts itself for a local: target; an agent \
                    behind an SSH forced command receives streams another host made: remove the flag from \
                    authorized_keys"
                .into(),
        );
    }
    let root_fs = DatasetName::new(&a.root_fs).map_err(|e| format!("--root-fs: {e}"))?;
    if let Some(id) = &a.client_identity {
        check_component("client identity", id).map_err(|e| format!("--client-identity: {e}"))?;
    }
    let mut recv = RecvOptions::hardened();
    for k in &a.recv_allow {
        PropertyName::new(k).map_err(|e| format!("--recv-allow: {e}"))?;
        recv.allow(k);
    }
    let recv = with_command_line(recv, a)?;
    // Our own stream without properties gives the defaults nothing to act on in an incremental receive
    // (the values set when the filesystem was created stay), and ZFS would apply them as two transaction
    // groups per received snapshot.
    let recv_incremental = if a.own_streams {
        with_command_line(RecvOptions::default(), a)?
    } else {
        recv.clone()
    };
    Ok(AgentConfig {
        root_fs,
        client_identity: a.client_identity.clone(),
        recv,
        recv_incremental,
        zfs_program: a.zfs_program.clone().map(Into::into),
        append_only: a.append_only,
        allow_verify: a.allow_verify,
        serve_restores: a.serve_restores,
    })
}

/// `base` with the agent's `--recv-set` and `--recv-inherit`, which apply to every receive.
fn with_command_line(mut recv: RecvOptions, a: &RecvAgentArgs) -> Result<RecvOptions, Invalid> {
    for kv in &a.recv_set {
        let (k, v) = kv
            .split_once('=')
            .ok_or_else(|| format!("--recv-set {kv:?}: expected PROP=VALUE"))?;
        PropertyName::new(k).map_err(|e| format!("--recv-set: {e}"))?;
        recv.override_with(k, v);
    }
    for k in &a.recv_inherit {
        PropertyName::new(k).map_err(|e| format!("--recv-inherit: {e}"))?;
        recv.inherit_instead(k);
    }
    Ok(recv)
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    fn cfg(extra: &[&str]) -> Result<AgentConfig, Invalid> {
        let cli =
            crate::cli::Cli::try_parse_from(["zreplrs", "recv-agent", "--root-fs", "b/r"].iter().chain(extra.iter()))
                .map_err(|e| e.to_string())?;
        match cli.command {
            crate::cli::Command::RecvAgent(a) => config(&a),
            _ => Err("not recv-agent".into()),
        }
    }

    #[test]
    fn receives_are_hardened_unless_the_command_line_says_otherwise() {
        let c = cfg(&[]).unwrap();
        let args = crate::zfs::send::recv_args(&DatasetName::new("b/r/x").unwrap(), &c.recv).join(" ");
        assert_eq!(
            args,
            "receive -s -u -o setuid=off -o devices=off -o exec=off -x mountpoint -x sharenfs -x sharesmb b/r/x"
        );
        let c = cfg(&[
            "--recv-set",
            "setuid=on",
            "--recv-allow",
            "mountpoint",
            "--recv-inherit",
            "devices",
            "--recv-set",
            "sharenfs=off",
        ])
        .unwrap();
        assert_eq!(
            c.recv.set,
            [
                ("exec".to_string(), "off".to_string()),
                ("setuid".into(), "on".into()),
                ("sharenfs".into(), "off".into())
            ]
        );
        assert_eq!(c.recv.inherit, ["sharesmb", "devices"]);
        assert!(cfg(&["--recv-allow", "Bad"]).is_err());
        assert_eq!(
            c.recv_incremental, c.recv,
            "without --own-streams every receive is the same"
        );
    }

    #[test]
    fn own_streams_leave_the_defaults_out_of_incremental_receives_only() {
        let c = cfg(&["--own-streams"]).unwrap();
        assert_eq!(c.recv, RecvOptions::hardened(), "a receive that creates the filesystem");
        assert_eq!(c.recv_incremental, RecvOptions::default());
        let c = cfg(&[
            "--own-streams",
            "--recv-set",
            "readonly=on",
            "--recv-inherit",
            "mountpoint",
        ])
        .unwrap();
        let x = DatasetName::new("b/r/x").unwrap();
        assert_eq!(
            crate::zfs::send::recv_args(&x, &c.recv_incremental).join(" "),
            "receive -s -u -o readonly=on -x mountpoint b/r/x",
            "the agent's own settings still apply"
        );
        assert_eq!(
            crate::zfs::send::recv_args(&x, &c.recv).join(" "),
            "receive -s -u -o setuid=off -o devices=off -o exec=off -o readonly=on -x sharenfs -x sharesmb -x mountpoint b/r/x"
        );
    }
}
