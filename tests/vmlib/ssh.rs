//! SSH scenario helpers shared by `vm_ssh` and `vm_campaign`: the serialising lock (the tests share sshd and
//! the link), an SSH job whose key forces the agent onto the scenario's root, fast retry settings, and waits
//! on the receiving side's `zfs receive` and sshd sessions.

use std::sync::Mutex;

use super::*;

pub static SERIAL: Mutex<()> = Mutex::new(());

pub fn serial() -> std::sync::MutexGuard<'static, ()> {
    SERIAL.lock().unwrap_or_else(|e| e.into_inner())
}

/// Writes an SSH job for `sc` whose key forces the agent onto `sc.root()`; returns the key path.
pub fn configure_ssh(
    sc: &Scenario,
    user: &str,
    filesystems: &[(&str, bool)],
    extra: &str,
    known_hosts: &str,
) -> std::path::PathBuf {
    configure_ssh_agent(sc, user, "", filesystems, extra, known_hosts)
}

/// [`configure_ssh`] with more arguments for the forced `recv-agent` command (e.g. `--append-only`).
pub fn configure_ssh_agent(
    sc: &Scenario,
    user: &str,
    agent_args: &str,
    filesystems: &[(&str, bool)],
    extra: &str,
    known_hosts: &str,
) -> std::path::PathBuf {
    ssh_host();
    let agent = format!(
        "{} recv-agent --root-fs {} {agent_args}",
        zreplrs_bin().display(),
        sc.root()
    );
    let key = ssh_authorize(user, &agent);
    let kh = sc.dir.path().join("known_hosts");
    std::fs::write(&kh, known_hosts).unwrap();
    let ssh = format!(
        "{extra}\n[jobs.ssh]\nidentity_files = [\"{}\"]\nknown_hosts = \"{}\"\n",
        key.display(),
        kh.display()
    );
    sc.configure_target(&format!("ssh://{user}@{SSH_ADDR}/{}", sc.root()), filesystems, &ssh);
    key
}

pub const FAST_RETRY: &str = "retries = 8\nretry_timeout = \"10m\"\nstall_timeout = \"4s\"\nconnect_timeout = \"4s\"";

/// Waits until a `zfs receive` into `target` has read at least `bytes`.
pub fn wait_received(target: &str, bytes: u64) {
    wait_for(&format!("zfs receive into {target} to read {bytes} bytes"), 300, || {
        receive_pids(target).iter().any(|p| bytes_read(*p) >= bytes)
    });
}

pub fn wait_no_receive(target: &str) {
    wait_for(&format!("the receive into {target} to end"), 600, || {
        receive_pids(target).is_empty()
    });
}

/// PIDs of sshd session processes (the privilege-separated child serving one connection).
pub fn sshd_sessions(user: &str) -> Vec<i32> {
    pids_matching(&format!("sshd: {user}@notty"))
}

/// Writes a pull job for `sc`: the source is the SSH host (network namespace `zrdst`), whose key forces
/// `zreplrs send-agent --root-fs <source pool> --job-id <job>` with the filesystem rules and `agent_args`;
/// the job receives locally below `sc.root()`. Returns the key path.
pub fn configure_pull(
    sc: &Scenario,
    user: &str,
    agent_args: &str,
    filesystems: &[(&str, bool)],
    extra: &str,
    known_hosts: &str,
) -> std::path::PathBuf {
    ssh_host();
    let mut rules = String::new();
    for (rule, include) in filesystems {
        // Quoted: `<` is a redirection to the shell that runs the forced command.
        rules.push_str(&format!(" --{} '{rule}'", if *include { "include" } else { "exclude" }));
    }
    let agent = format!(
        "{} send-agent --root-fs {} --job-id {}{rules} {agent_args}",
        zreplrs_bin().display(),
        sc.src.name,
        sc.job
    );
    let key = ssh_authorize(user, &agent);
    let kh = sc.dir.path().join("known_hosts");
    std::fs::write(&kh, known_hosts).unwrap();
    let job = format!(
        "source = \"ssh://{user}@{SSH_ADDR}/{}\"\n{extra}\n[jobs.ssh]\nidentity_files = [\"{}\"]\nknown_hosts = \"{}\"\n",
        sc.src.name,
        key.display(),
        kh.display()
    );
    sc.configure(filesystems, &job);
    key
}

/// Limits the source → backup host rate of a pull (netem on the SSH host's side), or removes it.
pub fn ssh_rate_back(rate: Option<&str>) {
    let cmd = match rate {
        Some(r) => format!("ip netns exec zrdst tc qdisc replace dev zv1 root netem rate {r}"),
        None => "ip netns exec zrdst tc qdisc del dev zv1 root 2>/dev/null || true".to_string(),
    };
    try_cmd("/bin/sh", &["-c", &cmd]).unwrap_or_else(|e| panic!("{e}"));
}

/// Starts `zreplrs replicate --job J --format json` for `sc` in the background (for a cut mid-transfer).
pub fn spawn_replicate(sc: &Scenario) -> std::process::Child {
    sc.command(&["replicate", "--job", &sc.job, "--format", "json"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap()
}

/// Checks that a run succeeded in the same run after its first attempt lost the connection, and returns the
/// steps of its first filesystem.
pub fn assert_reconnected(r: &Run) -> Vec<serde_json::Value> {
    assert_eq!(r.code, 0, "{}\n{:#}", r.stderr, r.json);
    let attempts = r.json["attempts"].as_array().unwrap();
    assert!(attempts.len() >= 2, "{:#}", r.json);
    assert_eq!(attempts[0]["outcome"], "connectivity_error", "{:#}", r.json);
    r.json["filesystems"][0]["steps"].as_array().unwrap().clone()
}
