//! VM test of the Ansible example (`examples/ansible/`) with ansible-core (from PyPI, installed offline in the
//! guest from wheels that `vm/test` downloads): two inventory hosts on the guest (`connection: local`), a sender
//! `web1` and a backup host `backup1` whose sshd runs in the network namespace of the SSH tests. The playbook
//! installs the package, writes the sender's configuration, creates the receiving user with its `zfs allow`
//! set and forced-command key, enables the timers and replicates once; a second run changes nothing; the
//! README's `changed_when`/`failed_when` behave as written for exit codes 0, 1 and 4; the shipped inventory
//! passes `--syntax-check` and renders a configuration that `config check` accepts.

mod vmlib;

use std::path::{Path, PathBuf};
use std::process::Command;

use vmlib::*;

const PORT: u16 = 2200;

/// ansible-core, installed once per guest from the wheels vm/test shares (`$ZREPLRS_WHEELS`).
fn install_ansible() {
    if shell("ansible-playbook --version").0 {
        return;
    }
    let wheels = std::env::var("ZREPLRS_WHEELS").expect("ZREPLRS_WHEELS (set by vm/test)");
    shell_ok(&format!(
        "pip3 install -q --no-index --find-links {wheels} --break-system-packages ansible-core"
    ));
}

/// A second sshd in the SSH tests' namespace, on [`PORT`], with the stock `~/.ssh/authorized_keys` (which
/// the role writes). Returns the known_hosts line.
fn backup_sshd(dir: &Path) -> String {
    ssh_host();
    shell_ok(&format!("ssh-keygen -q -t ed25519 -N '' -f {}/host", dir.display()));
    std::fs::write(
        dir.join("sshd_config"),
        format!(
            "Port {PORT}\nListenAddress {SSH_ADDR}\nHostKey {d}/host\nPidFile {d}/sshd.pid\n\
             PermitRootLogin no\nStrictModes no\nUsePAM no\nClientAliveInterval 2\nClientAliveCountMax 2\n",
            d = dir.display()
        ),
    )
    .unwrap();
    shell_ok(&format!(
        "ip netns exec zrdst /usr/sbin/sshd -f {d}/sshd_config -E {d}/sshd.log",
        d = dir.display()
    ));
    wait_for("the backup host's sshd", 120, || {
        std::net::TcpStream::connect((SSH_ADDR, PORT)).is_ok()
    });
    let pubkey = std::fs::read_to_string(dir.join("host.pub")).unwrap();
    let mut parts = pubkey.split_whitespace();
    format!(
        "[{SSH_ADDR}]:{PORT} {} {}\n",
        parts.next().unwrap(),
        parts.next().unwrap()
    )
}

/// Copies the example playbooks and role into `dir` (the repository is not in the guest).
fn playbooks(dir: &Path) -> PathBuf {
    let src = PathBuf::from(std::env::var("ZREPLRS_EXAMPLES").expect("ZREPLRS_EXAMPLES (set by vm/test)"));
    let dst = dir.join("ansible");
    shell_ok(&format!("cp -r {}/ansible {}", src.display(), dst.display()));
    dst
}

/// Runs `ansible-playbook -i inventory.yml PLAYBOOK`; returns success and the output.
fn playbook(dir: &Path, book: &str) -> (bool, String) {
    shell(&format!(
        "cd {} && LC_ALL=C.UTF-8 ANSIBLE_NOCOLOR=1 ANSIBLE_DEPRECATION_WARNINGS=0 ANSIBLE_RETRY_FILES_ENABLED=0 ANSIBLE_GATHER_SUBSET=min \
         ansible-playbook -i inventory.yml {book} 2>&1",
        dir.display()
    ))
}

/// The PLAY RECAP counters of `host`: ok, changed, failed.
fn recap(out: &str, host: &str) -> (u32, u32, u32) {
    let line = out
        .lines()
        .skip_while(|l| !l.starts_with("PLAY RECAP"))
        .find(|l| l.starts_with(host))
        .unwrap_or_else(|| panic!("no recap for {host}:\n{out}"));
    let get = |k: &str| -> u32 {
        line.split_whitespace()
            .find_map(|w| w.strip_prefix(&format!("{k}=")))
            .and_then(|v| v.parse().ok())
            .unwrap_or_else(|| panic!("no {k}= in {line}"))
    };
    (get("ok"), get("changed"), get("failed"))
}

/// Leaves the guest as it was for the next test target: the package removed, the second sshd stopped.
struct Cleanup(PathBuf);

impl Drop for Cleanup {
    fn drop(&mut self) {
        let _ = shell(&format!("kill $(cat {}/sshd.pid)", self.0.display()));
        let _ = shell("dpkg -r zreplrs");
    }
}

#[test]
#[ignore = "needs real ZFS: run by vm/test"]
fn the_ansible_role_sets_up_both_sides_is_idempotent_and_reports_exit_codes() {
    install_ansible();
    let src = Pool::new("anss");
    let dst = Pool::new("ansd");
    let www = src.ds("www");
    create_fs(&www);
    write_data(&www, "index.html", 41, 300_000);
    snap(&www, "s1");
    try_cmd("chmod", &["0666", "/dev/zfs"]).unwrap();
    let dir = tempfile::tempdir_in("/tmp").unwrap();
    let _cleanup = Cleanup(dir.path().to_path_buf());
    let known_hosts = dir.path().join("known_hosts");
    std::fs::write(&known_hosts, backup_sshd(dir.path())).unwrap();
    let book = playbooks(dir.path());
    let root = dst.ds("backup/hosts");
    let job = "web1_to_backup";
    std::fs::write(
        book.join("inventory.yml"),
        format!(
            "all:
  vars:
    ansible_connection: local
    ansible_python_interpreter: /usr/bin/python3
    zreplrs_deb: {deb}
    zreplrs_textfile_dir: \"\"
  children:
    zreplrs_senders:
      hosts:
        web1:
          zreplrs_timers: [snapshot, replicate]
          zreplrs_ssh_key: {d}/web1_key
          zreplrs_jobs:
            - name: {job}
              target: ssh://zrepl@{SSH_ADDR}:{PORT}/{root}
              compression: zstd
              retries: 0
              filesystems:
                \"{www}<\": true
              ssh:
                known_hosts: {kh}
    zreplrs_receivers:
      hosts:
        backup1:
          zreplrs_receiver_root: {root}
",
            deb = std::env::var("ZREPLRS_DEB").expect("ZREPLRS_DEB (set by vm/test)"),
            d = dir.path().display(),
            kh = known_hosts.display(),
        ),
    )
    .unwrap();

    // First run: everything is set up and the job replicates (changed).
    let (ok, out) = playbook(&book, "site.yml");
    assert!(ok, "{out}");
    assert!(recap(&out, "web1").1 > 0 && recap(&out, "backup1").1 > 0, "{out}");
    assert!(out.contains(&format!("{job}: exit 0, ok,")), "{out}");
    let copy = format!("{root}/web1/{www}");
    assert_eq!(
        checksum_snapshot(&format!("{copy}@s1")),
        checksum_snapshot(&format!("{www}@s1")),
        "the playbook's replication arrived"
    );
    let config = std::fs::read_to_string("/etc/zreplrs/zreplrs.toml").unwrap();
    assert!(
        config.contains(&format!("name = \"{job}\"")) && config.contains("client_identity = \"web1\""),
        "{config}"
    );
    let keys = std::fs::read_to_string("/home/zrepl/.ssh/authorized_keys").unwrap();
    assert!(
        keys.contains(&format!(
            "command=\"/usr/bin/zreplrs recv-agent --root-fs {root} --client-identity web1 --append-only\",restrict ssh-ed25519 "
        )),
        "{keys}"
    );
    let allowed = zfs(&["allow", &root]);
    assert!(
        allowed.contains("user zrepl") && allowed.contains("receive"),
        "{allowed}"
    );
    for t in ["snapshot", "replicate"] {
        let link = format!("/etc/systemd/system/timers.target.wants/zreplrs-{t}@{job}.timer");
        assert_eq!(
            std::fs::read_link(&link).unwrap_or_else(|e| panic!("{link}: {e}")),
            PathBuf::from(format!("/lib/systemd/system/zreplrs-{t}@.timer"))
        );
    }

    // Second run: nothing to change, nothing to replicate.
    let (ok, out) = playbook(&book, "site.yml");
    assert!(ok, "{out}");
    assert_eq!(
        recap(&out, "web1").1,
        0,
        "second run changes nothing on the sender:\n{out}"
    );
    assert_eq!(recap(&out, "backup1").1, 0, "nor on the backup host:\n{out}");

    // Exit 0 with data: changed.
    write_data(&www, "new.html", 42, 100_000);
    snap(&www, "s2");
    let (ok, out) = playbook(&book, "replicate.yml");
    assert!(ok, "{out}");
    assert_eq!(
        recap(&out, "web1"),
        (2, 1, 0),
        "exit 0 with bytes moved is changed:\n{out}"
    );

    // Exit 4 (another run holds the lock): neither changed nor failed.
    let lock = format!("/run/zreplrs/zreplrs-{job}.lock");
    // --no-fork: the lock's holder is the process we kill, not a child that would keep it.
    let mut holder = Command::new("flock")
        .args(["--no-fork", &lock, "sleep", "600"])
        .spawn()
        .unwrap();
    wait_for("the lock to be held", 60, || !shell(&format!("flock -n {lock} true")).0);
    write_data(&www, "later.html", 43, 1000);
    snap(&www, "s3");
    let (ok, out) = playbook(&book, "replicate.yml");
    let _ = holder.kill();
    let _ = holder.wait();
    wait_for("the lock to be free", 60, || shell(&format!("flock -n {lock} true")).0);
    assert!(ok, "{out}");
    assert!(out.contains(&format!("{job}: exit 4")), "{out}");
    assert_eq!(
        recap(&out, "web1"),
        (2, 0, 0),
        "exit 4 is neither changed nor failed:\n{out}"
    );

    // Exit 1 (a filesystem failed: the receiver's copy diverged): the task fails.
    zfs(&["snapshot", &format!("{copy}@rogue")]);
    write_data(&www, "more.html", 44, 1000);
    snap(&www, "s4");
    let (ok, out) = playbook(&book, "replicate.yml");
    assert!(!ok, "a failed filesystem fails the play:\n{out}");
    assert_eq!(recap(&out, "web1").2, 1, "exit 1 is failed:\n{out}");
    assert!(out.contains("\"rc\": 1"), "{out}");

    shipped_inventory_checks_and_renders_a_valid_configuration(&book, dir.path());
}

/// The inventory as shipped: `--syntax-check` passes, and the configuration the role renders from it for its
/// sender (with the role's defaults, its key created) passes `zreplrs config check`, as the role's own
/// `validate` runs it.
fn shipped_inventory_checks_and_renders_a_valid_configuration(book: &Path, dir: &Path) {
    let run = |args: &str| {
        shell(&format!(
            "cd {} && LC_ALL=C.UTF-8 ANSIBLE_NOCOLOR=1 ANSIBLE_DEPRECATION_WARNINGS=0 ANSIBLE_RETRY_FILES_ENABLED=0 \
             ansible-playbook -i inventory.example.yml {args} 2>&1",
            book.display()
        ))
    };
    let (ok, out) = run("--syntax-check site.yml");
    assert!(ok, "{out}");
    std::fs::write(
        book.join("render.yml"),
        "- hosts: zreplrs_senders\n  gather_facts: false\n  tasks:\n    - ansible.builtin.include_role:\n        \
         name: zreplrs\n        tasks_from: config.yml\n",
    )
    .unwrap();
    let key = dir.join("shipped_key");
    shell_ok(&format!("ssh-keygen -q -t ed25519 -N '' -f {}", key.display()));
    let rendered = dir.join("shipped.toml");
    let (ok, out) = run(&format!(
        "render.yml -c local -e ansible_python_interpreter=/usr/bin/python3 -e zreplrs_ssh_key={} \
         -e zreplrs_config_path={}",
        key.display(),
        rendered.display()
    ));
    assert!(ok, "{out}");
    let config = std::fs::read_to_string(&rendered).unwrap();
    assert!(config.contains("name = \"web1_to_backup\""), "{config}");
    let check = shell_ok(&format!(
        "/usr/bin/zreplrs --config {} config check --format human",
        rendered.display()
    ));
    assert!(
        check.contains(": ok (1 job: web1_to_backup)") && !check.contains("warning"),
        "{check}"
    );
}
