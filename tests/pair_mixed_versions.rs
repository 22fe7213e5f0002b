//! Mixed OpenZFS versions, two guests: this one (OpenZFS 2.3) and a peer guest (OpenZFS 2.1) at
//! [`PEER`], linked by a virtual NIC, with `/common` shared by both. Run by `vm/test` with
//! `ZREPLRS_VM_PEER=2.1` (see `test-all`); the peer guest starts sshd with the keys this test writes to
//! `/common/authorized_keys`. Push from 2.3 into a 2.1 `recv-agent`, and pull from a 2.1 `send-agent` into
//! 2.3: full, incremental, a cut mid-transfer resumed from the other version's token, and the steady state
//! (cursor, last-received hold, no step holds) on both versions.

mod vmlib;

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use vmlib::*;

const PEER: &str = "10.88.0.2";
const DIR: &str = "/tmp/zr-pair";
/// The peer's pool (on a sparse file in the peer guest).
const PEER_POOL: &str = "mxp";
const PULL_JOB: &str = "mixed_pull";

struct Peer {
    harness_key: PathBuf,
    recv_key: PathBuf,
    send_key: PathBuf,
    known_hosts: PathBuf,
}

fn keygen(name: &str) -> (PathBuf, String) {
    let key = PathBuf::from(format!("{DIR}/{name}"));
    shell_ok(&format!("ssh-keygen -q -t ed25519 -N '' -f {}", key.display()));
    let public = std::fs::read_to_string(format!("{}.pub", key.display())).unwrap();
    (key, public.trim().to_string())
}

/// Brings the link up, writes the peer's authorized keys (a harness key with a shell for setting up and
/// checking, and the two agents' forced-command keys), waits for the peer's sshd and creates its pool.
fn peer() -> &'static Peer {
    static PEER_SETUP: OnceLock<Peer> = OnceLock::new();
    PEER_SETUP.get_or_init(|| {
        assert!(
            std::path::Path::new("/common").is_dir(),
            "no /common: this target runs only with a peer guest (ZREPLRS_VM_PEER=2.1 vm/test)"
        );
        shell_ok("ip link set eth0 up && (ip addr show eth0 | grep -q 10.88.0.1/ || ip addr add 10.88.0.1/24 dev eth0)");
        std::fs::create_dir_all(DIR).unwrap();
        let (harness_key, harness) = keygen("harness");
        let (recv_key, recv) = keygen("recv");
        let (send_key, send) = keygen("send");
        let bin = "/common/bin/zreplrs";
        let lines = format!(
            "{harness}\n\
             command=\"{bin} recv-agent --root-fs {PEER_POOL}/backup\",restrict {recv}\n\
             command=\"{bin} send-agent --root-fs {PEER_POOL} --job-id {PULL_JOB} --include '{PEER_POOL}/src<'\",restrict {send}\n"
        );
        std::fs::write("/common/authorized_keys.tmp", lines).unwrap();
        std::fs::rename("/common/authorized_keys.tmp", "/common/authorized_keys").unwrap();
        wait_for("the peer guest's sshd", 900, || {
            std::path::Path::new("/common/peer-ready").exists()
        });
        let host_key = std::fs::read_to_string("/common/peer_host_key.pub").unwrap();
        let mut parts = host_key.split_whitespace();
        let known_hosts = PathBuf::from(format!("{DIR}/known_hosts"));
        std::fs::write(
            &known_hosts,
            format!("{PEER} {} {}\n", parts.next().unwrap(), parts.next().unwrap()),
        )
        .unwrap();
        let p = Peer {
            harness_key,
            recv_key,
            send_key,
            known_hosts,
        };
        let version = on_peer_with(&p, "zfs version");
        assert!(version.contains("zfs-2.1."), "the peer runs OpenZFS 2.1: {version}");
        assert!(zfs(&["version"]).contains("zfs-2.3."), "this guest runs OpenZFS 2.3");
        on_peer_with(
            &p,
            &format!(
                "truncate -s 1G /tmp/{PEER_POOL}.img && zpool create -f -O mountpoint=none -O compression=off \
                 {PEER_POOL} /tmp/{PEER_POOL}.img && zfs create {PEER_POOL}/backup && zfs create {PEER_POOL}/src"
            ),
        );
        p
    })
}

fn on_peer_with(p: &Peer, cmd: &str) -> String {
    let quoted = cmd.replace('\'', r"'\''");
    shell_ok(&format!(
        "ssh -i {} -o BatchMode=yes -o UserKnownHostsFile={} -o ConnectTimeout=60 root@{PEER} '{quoted}'",
        p.harness_key.display(),
        p.known_hosts.display()
    ))
}

/// Runs `cmd` as root in the peer guest; its output.
fn on_peer(cmd: &str) -> String {
    on_peer_with(peer(), cmd)
}

/// `sha256sum` of every file of a snapshot (mounted read-only for the purpose), sorted by path: comparable
/// between the two guests.
fn sums_cmd(snapshot: &str) -> String {
    format!(
        "d=$(mktemp -d) && mount -t zfs {snapshot} $d && (cd $d && find . -type f -print0 | sort -z | xargs -0 -r sha256sum); \
         umount $d; rmdir $d"
    )
}

fn local_sums(snapshot: &str) -> String {
    shell_ok(&sums_cmd(snapshot))
}

fn peer_sums(snapshot: &str) -> String {
    on_peer(&sums_cmd(snapshot))
}

fn peer_versions(fs: &str, kind: &str, sep: char) -> Vec<(String, u64)> {
    on_peer(&format!("zfs list -H -p -d 1 -t {kind} -o name,guid -s createtxg {fs}"))
        .lines()
        .filter_map(|l| {
            let (n, g) = l.split_once('\t')?;
            Some((n.split_once(sep)?.1.to_string(), g.parse().ok()?))
        })
        .collect()
}

fn peer_holds(snapshot: &str) -> Vec<String> {
    on_peer(&format!("zfs holds -H {snapshot}"))
        .lines()
        .filter_map(|l| l.split('\t').nth(1).map(|t| t.trim().to_string()))
        .collect()
}

/// Kills, in the peer guest, the sshd session above the process matching `pattern` (a `zfs` process of one
/// agent: every worker of a run has its own session). Write the pattern with a bracket (`zfs [r]eceive`) so
/// that it does not match the shell that runs this very command.
fn kill_peer_session_above(pattern: &str) {
    on_peer(&kill_session_cmd(pattern));
}

fn kill_session_cmd(pattern: &str) -> String {
    format!(
        "start=$(pgrep -f -o '{pattern}'); p=$start; chain=''; \
         while [ -n \"$p\" ] && [ \"$p\" != 1 ] && [ \"$(cat /proc/$p/comm)\" != sshd ]; do \
         chain=\"$chain $p:$(cat /proc/$p/comm)\"; p=$(awk '/^PPid:/{{print $2}}' /proc/$p/status); done; \
         if [ -n \"$p\" ] && [ \"$p\" != 1 ]; then kill -9 $p; else \
         echo \"no sshd session above '{pattern}' (${{start:-no such process}}, chain$chain)\"; ps -eo pid,ppid,comm,args; exit 1; fi"
    )
}

/// Waits, in the peer guest, until a `zfs receive` into `target` has read `bytes`, then kills the sshd
/// session above it, in the same command (a second SSH login could come too late).
fn cut_peer_receive_after(target: &str, bytes: u64) {
    let receive = format!("zfs [r]eceive .*{target}$");
    on_peer(&format!(
        "for i in $(seq 3000); do for p in $(pgrep -f '{receive}'); do \
         awk '/^rchar/{{print $2}}' /proc/$p/io 2>/dev/null; done | awk '$1 >= {bytes} {{f = 1}} END {{exit !f}}' && break; \
         sleep 0.1; done; {}",
        kill_session_cmd(&receive)
    ));
}

/// `zreplrs replicate` in the background at 1 MiB/s, so that a transfer can be cut mid-stream.
fn spawn_paced(sc: &Scenario) -> std::process::Child {
    let args = [
        "replicate",
        "--job",
        &sc.job,
        "--format",
        "json",
        "--bandwidth-limit",
        "1MiB/s",
    ];
    sc.command(&args)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap()
}

/// A run with nothing new finds every filesystem up to date.
fn assert_up_to_date(sc: &Scenario) {
    let r = sc.replicate(&[]);
    assert_eq!(r.code, 0, "{}\n{:#}", r.stderr, r.json);
    for f in r.json["filesystems"].as_array().unwrap() {
        assert_eq!(f["result"], "up_to_date", "{f:#}");
    }
}

fn write_config(sc: &Scenario, endpoint: &str, key: &Path, rules: &str, extra: &str) {
    let text = format!(
        "[global]\nlock_dir = \"{locks}\"\n\n[[jobs]]\nname = \"{job}\"\n{endpoint}\n\
         retries = 8\nretry_timeout = \"10m\"\nstall_timeout = \"10s\"\nconnect_timeout = \"20s\"\n{extra}\n\
         [jobs.ssh]\nidentity_files = [\"{key}\"]\nknown_hosts = \"{kh}\"\n\n[jobs.filesystems]\n{rules}\n",
        locks = sc.dir.path().join("locks").display(),
        job = sc.job,
        key = key.display(),
        kh = peer().known_hosts.display(),
    );
    std::fs::write(sc.config_path(), text).unwrap();
}

#[test]
#[ignore = "needs two guests: run by vm/test with ZREPLRS_VM_PEER=2.1"]
fn push_from_2_3_into_a_2_1_receiver() {
    let p = peer();
    let sc = Scenario::new("mxu");
    let a = sc.src.ds("a");
    let b = sc.src.ds("a/b");
    create_fs(&a);
    create_fs(&b);
    write_data(&a, "f", 1, 3_000_000);
    write_text(&b, "log", 2, 2_000_000);
    zfs(&["snapshot", "-r", &format!("{a}@s1")]);
    let root = format!("{PEER_POOL}/backup");
    write_config(
        &sc,
        &format!("target = \"ssh://root@{PEER}/{root}\""),
        &p.recv_key,
        &format!("\"{a}<\" = true"),
        "",
    );
    let target = |fs: &str| format!("{root}/{fs}");
    let check = |fs: &str| {
        let s = snapshots(fs);
        assert_eq!(
            peer_versions(&target(fs), "snapshot", '@'),
            s,
            "{fs} on the 2.1 receiver"
        );
        let newest = &s.last().unwrap().0;
        assert_eq!(
            peer_sums(&format!("{}@{newest}", target(fs))),
            local_sums(&format!("{fs}@{newest}")),
            "content of {fs}@{newest}"
        );
        let cursors = sc.cursors(fs);
        assert_eq!(cursors.len(), 1, "{cursors:?}");
        assert_eq!(cursors[0].1, s.last().unwrap().1);
        assert!(
            all_holds(fs).values().all(|t| !t.contains(&sc.step_tag())),
            "no step holds on {fs}"
        );
        assert_eq!(
            peer_holds(&format!("{}@{newest}", target(fs))),
            vec![sc.last_received_tag()],
            "the last-received hold on the 2.1 receiver"
        );
    };
    let r = sc.replicate(&[]);
    assert_eq!(r.code, 0, "{}\n{:#}", r.stderr, r.json);
    check(&a);
    check(&b);

    // Incremental: one -I stream per filesystem.
    write_data(&a, "g", 3, 1_000_000);
    zfs(&["snapshot", "-r", &format!("{a}@s2")]);
    zfs(&["snapshot", "-r", &format!("{a}@s3")]);
    let r = sc.replicate(&[]);
    assert_eq!(r.code, 0, "{}\n{:#}", r.stderr, r.json);
    assert_eq!(r.json["filesystems"][0]["steps"][0]["snapshots"], 2, "{:#}", r.json);
    check(&a);
    check(&b);

    // Nothing new: up to date, although the 2.1 receiver has no `snapshots_changed`.
    assert_up_to_date(&sc);

    // A cut mid-transfer: the 2.1 receiver's resume token drives the 2.3 sender's `zfs send -t`.
    write_data(&a, "big", 4, 16_000_000);
    snap(&a, "s4");
    let child = spawn_paced(&sc);
    cut_peer_receive_after(&target(&a), 3_000_000);
    let r = run_result(child.wait_with_output().unwrap());
    assert_eq!(r.code, 0, "{}\n{:#}", r.stderr, r.json);
    let attempts = r.json["attempts"].as_array().unwrap();
    assert!(attempts.len() >= 2, "{:#}", r.json);
    let steps = r.json["filesystems"][0]["steps"].as_array().unwrap();
    assert!(steps.iter().any(|s| s["resumed"] == true), "resumed: {:#}", r.json);
    check(&a);
    check(&b);
}

#[test]
#[ignore = "needs two guests: run by vm/test with ZREPLRS_VM_PEER=2.1"]
fn pull_from_a_2_1_send_agent_into_2_3() {
    let p = peer();
    let mut sc = Scenario::new("mxl");
    sc.job = PULL_JOB.to_string();
    let a = format!("{PEER_POOL}/src/a");
    let b = format!("{a}/b");
    on_peer(&format!(
        "zfs create -o mountpoint=/tmp/mnt/{a} {a} && zfs create {b} \
         && head -c 3000000 /dev/urandom > /tmp/mnt/{a}/f && seq 1 300000 > /tmp/mnt/{a}/b/log \
         && zfs snapshot -r {a}@s1"
    ));
    write_config(
        &sc,
        &format!(
            "source = \"ssh://root@{PEER}/{PEER_POOL}\"\ntarget = \"local:{}\"",
            sc.root()
        ),
        &p.send_key,
        &format!("\"{a}<\" = true"),
        "",
    );
    let check = |fs: &str| {
        let s = peer_versions(fs, "snapshot", '@');
        let target = sc.target(fs);
        assert_eq!(snapshots(&target), s, "{fs} received from the 2.1 sender");
        let newest = s.last().unwrap();
        assert_eq!(
            local_sums(&format!("{target}@{}", newest.0)),
            peer_sums(&format!("{fs}@{}", newest.0)),
            "content of {fs}@{}",
            newest.0
        );
        let cursors: Vec<_> = peer_versions(fs, "bookmark", '#')
            .into_iter()
            .filter(|(n, _)| n.starts_with("zrepl_CURSOR_") && n.ends_with(&format!("_J_{PULL_JOB}")))
            .collect();
        assert_eq!(cursors.len(), 1, "one cursor on the 2.1 sender: {cursors:?}");
        assert_eq!(cursors[0].1, newest.1);
        let step = sc.step_tag();
        for (snap, _) in &s {
            assert!(
                !peer_holds(&format!("{fs}@{snap}")).contains(&step),
                "no step hold on {fs}@{snap}"
            );
        }
        assert_eq!(holds(&format!("{target}@{}", newest.0)), vec![sc.last_received_tag()]);
    };
    let r = sc.replicate(&[]);
    assert_eq!(r.code, 0, "{}\n{:#}", r.stderr, r.json);
    check(&a);
    check(&b);

    // A cut mid-transfer of an increment: the 2.3 receiver's token drives the 2.1 sender's `zfs send -t`.
    on_peer(&format!(
        "head -c 16000000 /dev/urandom > /tmp/mnt/{a}/big && zfs snapshot -r {a}@s2 && zfs snapshot -r {a}@s3"
    ));
    let child = spawn_paced(&sc);
    vmlib::ssh::wait_received(&sc.target(&a), 3_000_000);
    kill_peer_session_above(&format!("zfs [s]end .*{a}@s"));
    let r = run_result(child.wait_with_output().unwrap());
    assert_eq!(r.code, 0, "{}\n{:#}", r.stderr, r.json);
    assert!(r.json["attempts"].as_array().unwrap().len() >= 2, "{:#}", r.json);
    let steps = r.json["filesystems"][0]["steps"].as_array().unwrap();
    assert!(steps.iter().any(|s| s["resumed"] == true), "resumed: {:#}", r.json);
    check(&a);
    check(&b);

    // Nothing new: up to date, although the 2.1 sender has no `snapshots_changed`.
    assert_up_to_date(&sc);
}
