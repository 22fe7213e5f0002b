//! VM scenario of many senders and one backup host: six sender "hosts" (network namespaces `zrf1`…`zrf6`,
//! each with its own pool and its own SSH identity) replicate at the same time over SSH to one receiver pool
//! through `recv-agent` on the backup "host" (namespace `zrfan`, its own sshd). Each identity's key forces
//! `recv-agent --root-fs <pool>/backup --client-identity hostN`. Initial and incremental rounds, one sender's
//! link cut mid-transfer; checked: every sender converges, nothing of one sender lands under another's
//! identity (nor can a sender reach another's tree), and the backup host runs one agent per SSH session,
//! each with bounded memory.

mod vmlib;

use std::collections::{BTreeMap, BTreeSet};
use std::process::{Child, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use vmlib::*;

const SENDERS: usize = 6;
const FAN_DIR: &str = "/tmp/zr-fanin";
const JOB: &str = "nightly";
/// Peak resident memory any one agent may reach (its buffers are bounded: one frame of at most 1 MiB and
/// a 4 MiB decompression buffer).
const AGENT_MEMORY_LIMIT_KIB: u64 = 64 * 1024;

fn addr(n: usize) -> String {
    format!("10.79.{n}.1")
}

/// The backup host and the six sender namespaces, each behind its own veth pair; sshd in `zrfan`.
fn fan_hosts() -> String {
    let mut net = String::from("ip netns add zrfan && ip netns exec zrfan ip link set lo up");
    for n in 1..=SENDERS {
        net.push_str(&format!(
            " && ip netns add zrf{n} && ip netns exec zrf{n} ip link set lo up \
             && ip link add zf{n} type veth peer name zfr{n} && ip link set zf{n} netns zrf{n} \
             && ip link set zfr{n} netns zrfan \
             && ip netns exec zrfan ip addr add 10.79.{n}.1/24 dev zfr{n} && ip netns exec zrfan ip link set zfr{n} up \
             && ip netns exec zrf{n} ip addr add 10.79.{n}.2/24 dev zf{n} && ip netns exec zrf{n} ip link set zf{n} up"
        ));
    }
    shell_ok(&net);
    start_sshd("zrfan", FAN_DIR, "0.0.0.0");
    for n in 1..=SENDERS {
        wait_for("sshd of the backup host to answer", 120, || {
            shell(&format!(
                "ip netns exec zrf{n} bash -c 'exec 3<>/dev/tcp/{}/22'",
                addr(n)
            ))
            .0
        });
    }
    let key = sshd_host_key(FAN_DIR);
    (1..=SENDERS).map(|n| format!("{} {key}\n", addr(n))).collect()
}

/// One sender "host": its pool, filesystems (the pool's root first, which holds no data), identity key
/// and config.
struct Sender {
    n: usize,
    pool: Pool,
    filesystems: Vec<String>,
    dir: tempfile::TempDir,
}

impl Sender {
    fn new(n: usize, backup_root: &str, known_hosts: &str, extra: &str) -> Sender {
        let pool = Pool::new(&format!("fan{n}s"));
        let filesystems = vec![pool.name.clone(), pool.ds("srv"), pool.ds("srv/db"), pool.ds("home")];
        for fs in &filesystems[1..] {
            create_fs(fs);
        }
        let dir = tempfile::tempdir_in("/tmp").unwrap();
        std::fs::create_dir_all(dir.path().join("locks")).unwrap();
        let key = dir.path().join("id_ed25519");
        shell_ok(&format!("ssh-keygen -q -t ed25519 -N '' -f {}", key.display()));
        let pubkey = std::fs::read_to_string(dir.path().join("id_ed25519.pub")).unwrap();
        let agent = format!(
            "{} recv-agent --root-fs {backup_root} --client-identity host{n}",
            zreplrs_bin().display()
        );
        let line = format!("command=\"{agent}\",restrict {}\n", pubkey.trim());
        let mut f = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(format!("{FAN_DIR}/authorized_keys.root"))
            .unwrap();
        std::io::Write::write_all(&mut f, line.as_bytes()).unwrap();
        std::fs::write(dir.path().join("known_hosts"), known_hosts).unwrap();
        let s = Sender {
            n,
            pool,
            filesystems,
            dir,
        };
        s.configure(backup_root, &format!("host{n}"), extra);
        s
    }

    /// Writes the job as the README has it (same job name on every host, as a fleet would have it): the
    /// backup host's root and this host's `client_identity`.
    fn configure(&self, backup_root: &str, identity: &str, extra: &str) {
        let text = format!(
            "[global]\nlock_dir = \"{locks}\"\n\n[[jobs]]\nname = \"{JOB}\"\ntarget = \"ssh://root@{addr}/{backup_root}\"\n\
             client_identity = \"{identity}\"\nretries = 10\nretry_timeout = \"15m\"\nconnect_timeout = \"4s\"\n{extra}\n\
             [jobs.ssh]\nidentity_files = [\"{key}\"]\nknown_hosts = \"{kh}\"\n\n\
             [jobs.filesystems]\n\"{pool}<\" = true\n",
            locks = self.dir.path().join("locks").display(),
            addr = addr(self.n),
            key = self.dir.path().join("id_ed25519").display(),
            kh = self.dir.path().join("known_hosts").display(),
            pool = self.pool.name,
        );
        std::fs::write(self.dir.path().join("zreplrs.toml"), text).unwrap();
    }

    /// `zreplrs replicate` run from this sender's network namespace, in the background.
    fn spawn(&self) -> Child {
        std::process::Command::new("ip")
            .args(["netns", "exec", &format!("zrf{}", self.n)])
            .arg(zreplrs_bin())
            .arg("--config")
            .arg(self.dir.path().join("zreplrs.toml"))
            .args(["replicate", "--job", JOB, "--format", "json"])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap()
    }

    fn write_round(&self, round: u64, big: usize) {
        for (i, fs) in self.filesystems.iter().enumerate().skip(1) {
            let len = if i == 1 && big > 0 { big } else { 600_000 };
            write_data(
                fs,
                &format!("r{round}"),
                (self.n as u64) * 100 + round * 10 + i as u64,
                len,
            );
        }
        zfs(&["snapshot", "-r", &format!("{}@r{round}", self.pool.name)]);
    }

    /// Where `fs` of this sender lands on the backup host.
    fn target(&self, backup_root: &str, fs: &str) -> String {
        format!("{backup_root}/host{}/{fs}", self.n)
    }

    fn assert_converged(&self, backup_root: &str) {
        for fs in &self.filesystems {
            let target = self.target(backup_root, fs);
            let s = snapshots(fs);
            let r = snapshots(&target);
            assert_eq!(r, s, "host{}: {target} has exactly the sender's snapshots", self.n);
            let newest = s.last().unwrap();
            if *fs != self.pool.name {
                assert_eq!(
                    checksum_snapshot(&format!("{target}@{}", newest.0)),
                    checksum_snapshot(&format!("{fs}@{}", newest.0)),
                    "host{}: content of {fs}@{}",
                    self.n,
                    newest.0
                );
            }
            let cursors: Vec<_> = bookmarks(fs)
                .into_iter()
                .filter(|(b, _)| b.starts_with("zrepl_CURSOR_") && b.ends_with(&format!("_J_{JOB}")))
                .collect();
            assert_eq!(cursors.len(), 1, "host{}: one cursor on {fs}: {cursors:?}", self.n);
            assert_eq!(cursors[0].1, newest.1, "host{}: cursor on the newest", self.n);
            let step = format!("zrepl_STEP_J_{JOB}");
            assert!(
                all_holds(fs).values().all(|tags| !tags.contains(&step)),
                "host{}: no step holds on {fs}",
                self.n
            );
            let lr = format!("zrepl_last_received_J_{JOB}");
            let held: Vec<String> = all_holds(&target)
                .into_iter()
                .filter(|(snap, tags)| snap.starts_with(&format!("{target}@")) && tags.contains(&lr))
                .map(|(snap, _)| snap)
                .collect();
            assert_eq!(held, vec![format!("{target}@{}", newest.0)], "host{}", self.n);
        }
    }
}

/// What the backup host's agents did while the senders ran: sampled every 100 ms.
#[derive(Default, Debug)]
struct AgentWatch {
    /// Peak `VmHWM` (KiB) seen per agent process.
    peak_kib: BTreeMap<i32, u64>,
    /// Identity (`--client-identity`) of each agent process seen.
    identity: BTreeMap<i32, String>,
    /// Most agents alive at one time.
    most_at_once: usize,
    /// Agents seen running under one SSH session at the same time (must stay 1).
    most_per_session: usize,
    /// Agents seen running under an sshd session (every agent must be: once its session ended, e.g. after
    /// a cut link, an agent may outlive it for a moment while its receive is aborted).
    under_session: BTreeSet<i32>,
}

fn status_field(pid: i32, field: &str) -> Option<u64> {
    let s = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    s.lines()
        .find_map(|l| l.strip_prefix(field))
        .and_then(|v| v.trim().trim_end_matches(" kB").trim().parse().ok())
}

fn cmdline(pid: i32) -> String {
    std::fs::read(format!("/proc/{pid}/cmdline"))
        .map(|c| String::from_utf8_lossy(&c).replace('\0', " "))
        .unwrap_or_default()
}

fn watch_agents(
    backup_root: String,
    stop: Arc<AtomicBool>,
    out: Arc<Mutex<AgentWatch>>,
) -> std::thread::JoinHandle<()> {
    std::thread::spawn(move || {
        let needle = format!("recv-agent --root-fs {backup_root} --client-identity ");
        while !stop.load(Ordering::SeqCst) {
            // A child the agent forked shows the agent's command line until it execs `zfs`: it is not
            // a second agent.
            let matching: BTreeSet<i32> = pids_matching(&needle).into_iter().collect();
            let agents: Vec<i32> = matching
                .iter()
                .copied()
                .filter(|p| parent_of(*p).is_none_or(|pp| !matching.contains(&pp)))
                .collect();
            let mut w = out.lock().unwrap();
            w.most_at_once = w.most_at_once.max(agents.len());
            let mut per_session: BTreeMap<i32, usize> = BTreeMap::new();
            for pid in agents {
                let cmd = cmdline(pid);
                let Some(id) = cmd.split(" --client-identity ").nth(1) else {
                    continue;
                };
                w.identity
                    .insert(pid, id.split_whitespace().next().unwrap_or("").to_string());
                if let Some(hwm) = status_field(pid, "VmHWM:") {
                    let e = w.peak_kib.entry(pid).or_default();
                    *e = (*e).max(hwm);
                }
                if let Some(s) = session_of(pid) {
                    *per_session.entry(s).or_default() += 1;
                    w.under_session.insert(pid);
                }
            }
            let most = per_session.values().copied().max().unwrap_or(0);
            w.most_per_session = w.most_per_session.max(most);
            drop(w);
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
    })
}

fn finish(child: Child) -> Run {
    run_result(child.wait_with_output().unwrap())
}

#[test]
#[ignore = "needs real ZFS: run by vm/test"]
fn six_senders_one_backup_host_with_a_link_cut() {
    let known_hosts = fan_hosts();
    let backup = Pool::with_size("fanr", "2G");
    let backup_root = backup.ds("backup");
    zfs(&["create", &backup_root]);
    // Sender 3 sends a big first filesystem, paced, so that its link can be cut mid-transfer; its stall
    // watchdog is short. The others use a watchdog that a loaded emulated guest does not trip.
    let cut = 3;
    let senders: Vec<Sender> = (1..=SENDERS)
        .map(|n| {
            let extra = if n == cut {
                "stall_timeout = \"4s\"\nbandwidth_limit = \"2MiB/s\""
            } else {
                "stall_timeout = \"30s\""
            };
            Sender::new(n, &backup_root, &known_hosts, extra)
        })
        .collect();

    for round in 1..=2u64 {
        for s in &senders {
            s.write_round(round, if s.n == cut { 16_000_000 } else { 0 });
        }
        let stop = Arc::new(AtomicBool::new(false));
        let watch = Arc::new(Mutex::new(AgentWatch::default()));
        let watcher = watch_agents(backup_root.clone(), stop.clone(), watch.clone());
        let children: Vec<(usize, Child)> = senders.iter().map(|s| (s.n, s.spawn())).collect();

        // Cut sender 3's link once its big stream is well under way; bring it back once the backup host
        // has noticed (its agent and `zfs receive` are gone), so the resume does not race the old receive.
        let s3 = &senders[cut - 1];
        let big_target = s3.target(&backup_root, &s3.filesystems[1]);
        let agent3 = format!("--client-identity host{cut}");
        vmlib::ssh::wait_received(&big_target, 8_000_000);
        shell_ok(&format!("ip netns exec zrf{cut} ip link set zf{cut} down"));
        wait_for("the backup host to drop sender 3's session", 120, || {
            receive_pids(&big_target).is_empty() && pids_matching(&agent3).is_empty()
        });
        // ZFS keeps a cut receive's state only once it has applied some of the stream, which a loaded
        // emulated guest may not have done yet: the resume is required where a token was kept.
        let kept = exists(&big_target) && prop(&big_target, "receive_resume_token") != "-";
        shell_ok(&format!("ip netns exec zrf{cut} ip link set zf{cut} up"));

        let runs: Vec<(usize, Run)> = children.into_iter().map(|(n, c)| (n, finish(c))).collect();
        stop.store(true, Ordering::SeqCst);
        watcher.join().unwrap();
        for (n, r) in &runs {
            assert_eq!(r.code, 0, "round {round} host{n}: {}\n{:#}", r.stderr, r.json);
            if *n == cut {
                let attempts = r.json["attempts"].as_array().unwrap();
                assert!(attempts.len() >= 2, "host{n} reconnected: {:#}", r.json);
                let big = r.json["filesystems"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .find(|f| f["name"] == s3.filesystems[1])
                    .unwrap();
                let resumed = big["steps"].as_array().unwrap().iter().any(|st| st["resumed"] == true);
                assert_eq!(
                    resumed, kept,
                    "round {round}: the cut stream resumed from the kept token: {big:#}"
                );
                println!("round {round}: the receiver kept a resume token at the cut: {kept}");
            }
        }
        for s in &senders {
            s.assert_converged(&backup_root);
        }
        wait_for("every agent to exit", 120, || {
            pids_matching(&format!("recv-agent --root-fs {backup_root}")).is_empty()
        });
        let w = watch.lock().unwrap();
        eprintln!(
            "round {round}: {} agents, at most {} at once, peak memory per agent {:?} KiB",
            w.peak_kib.len(),
            w.most_at_once,
            w.peak_kib.values().max()
        );
        assert!(w.most_at_once >= 2, "senders ran at the same time: {w:?}");
        assert_eq!(w.most_per_session, 1, "one agent per SSH session: {w:?}");
        let outside: Vec<&i32> = w.identity.keys().filter(|p| !w.under_session.contains(p)).collect();
        assert!(
            outside.is_empty(),
            "every agent runs under an sshd session: {outside:?} {w:?}"
        );
        let ids: BTreeSet<&String> = w.identity.values().collect();
        assert_eq!(ids.len(), SENDERS, "every identity had its agents: {w:?}");
        for (pid, kib) in &w.peak_kib {
            assert!(
                *kib <= AGENT_MEMORY_LIMIT_KIB,
                "agent {pid} ({}) peaked at {kib} KiB",
                w.identity[pid]
            );
        }
    }

    // Identities never mix: below each identity only that sender's filesystems, with its snapshot GUIDs.
    for s in &senders {
        let root = format!("{backup_root}/host{}", s.n);
        let below = zfs(&["list", "-H", "-r", "-t", "filesystem", "-o", "name", &root]);
        let names: BTreeSet<String> = below.lines().map(str::to_string).collect();
        let mut expected: BTreeSet<String> = s.filesystems.iter().map(|f| s.target(&backup_root, f)).collect();
        expected.insert(root.clone());
        assert_eq!(names, expected, "host{}: nothing but its own filesystems", s.n);
        let own: BTreeSet<u64> = s
            .filesystems
            .iter()
            .flat_map(|f| snapshots(f))
            .map(|(_, g)| g)
            .collect();
        let received = zfs(&["list", "-H", "-p", "-r", "-t", "snapshot", "-o", "guid", &root]);
        for g in received.lines() {
            assert!(
                own.contains(&g.parse().unwrap()),
                "host{}: snapshot {g} is its own",
                s.n
            );
        }
    }

    // A sender cannot reach another's tree: the agent's forced identity decides, not the sender's config.
    // Host 1's key with `client_identity = "host2"` still lands in host 1's tree; host 2's is unchanged.
    let host2 = format!("{backup_root}/host2");
    let tree = || {
        zfs(&[
            "list",
            "-H",
            "-p",
            "-r",
            "-t",
            "all",
            "-o",
            "name,guid,userrefs",
            &host2,
        ])
    };
    let before = tree();
    let s1 = &senders[0];
    s1.configure(&backup_root, "host2", "");
    s1.write_round(3, 0);
    let r = finish(s1.spawn());
    assert_eq!(r.code, 0, "{}\n{:#}", r.stderr, r.json);
    for f in r.json["filesystems"].as_array().unwrap() {
        let target = f["target"].as_str().unwrap();
        assert!(target.starts_with(&format!("{backup_root}/host1/")), "{f:#}");
    }
    s1.assert_converged(&backup_root);
    let after = tree();
    assert_eq!(after, before, "host2's tree is unchanged");
    shell(&format!("kill $(cat {FAN_DIR}/sshd.pid)"));
}
