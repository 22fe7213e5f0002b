//! Helpers for VM tests (real OpenZFS inside the test guest), so each test reads as a scenario:
//! throw-away pools on sparse files, datasets, snapshots, deterministic data, content checksums, and
//! listings of snapshots, bookmarks and holds with GUIDs. Every helper panics with the command and ZFS's
//! message on failure, which is what a test wants.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};

pub mod garage;
pub mod ssh;
pub mod units;

static POOL_COUNTER: AtomicUsize = AtomicUsize::new(0);

/// Runs a command, returning stdout or `Err(stderr)`.
pub fn try_cmd(prog: &str, args: &[&str]) -> Result<String, String> {
    let out = Command::new(prog)
        .args(args)
        .env("LC_ALL", "C")
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("cannot run {prog}: {e}"))?;
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    } else {
        Err(format!(
            "{prog} {} failed ({}): {}",
            args.join(" "),
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        ))
    }
}

/// Runs `zfs ARGS`, panicking on failure.
pub fn zfs(args: &[&str]) -> String {
    try_cmd("zfs", args).unwrap_or_else(|e| panic!("{e}"))
}

pub fn zfs_try(args: &[&str]) -> Result<String, String> {
    try_cmd("zfs", args)
}

/// A pool on a sparse file in the guest's /tmp, destroyed on drop.
pub struct Pool {
    pub name: String,
    file: PathBuf,
}

impl Pool {
    /// A new pool named `<prefix><n>` (unique within this test process), 1 GiB sparse.
    pub fn new(prefix: &str) -> Pool {
        Self::with_size(prefix, "1G")
    }

    pub fn with_size(prefix: &str, size: &str) -> Pool {
        let n = POOL_COUNTER.fetch_add(1, Ordering::SeqCst);
        let name = format!("{prefix}{}x{n}", std::process::id());
        let file = PathBuf::from(format!("/tmp/{name}.img"));
        try_cmd("truncate", &["-s", size, file.to_str().unwrap()]).unwrap();
        try_cmd(
            "zpool",
            &[
                "create",
                "-f",
                "-O",
                "mountpoint=none",
                "-O",
                "compression=off",
                &name,
                file.to_str().unwrap(),
            ],
        )
        .unwrap_or_else(|e| panic!("{e}"));
        Pool { name, file }
    }

    /// `pool/rel`.
    pub fn ds(&self, rel: &str) -> String {
        if rel.is_empty() {
            self.name.clone()
        } else {
            format!("{}/{rel}", self.name)
        }
    }

    /// Everything on the pool plus all holds: for "nothing changed" comparisons.
    pub fn state(&self) -> String {
        let mut s = zfs(&[
            "list",
            "-H",
            "-p",
            "-r",
            "-t",
            "all",
            "-o",
            "name,guid,createtxg,userrefs,receive_resume_token",
            &self.name,
        ]);
        for (snap, tags) in all_holds(&self.name) {
            s.push_str(&format!("hold {snap} {tags:?}\n"));
        }
        s
    }
}

impl Drop for Pool {
    fn drop(&mut self) {
        let _ = try_cmd("zpool", &["destroy", "-f", &self.name]);
        let _ = std::fs::remove_file(&self.file);
    }
}

/// Creates a filesystem (and parents) mounted under /tmp/mnt/<name>.
pub fn create_fs(name: &str) {
    create_fs_with(name, &[]);
}

pub fn create_fs_with(name: &str, props: &[&str]) {
    let mnt = format!("mountpoint=/tmp/mnt/{name}");
    let mut args = vec!["create", "-p", "-o", &mnt];
    for p in props {
        args.push("-o");
        args.push(p);
    }
    args.push(name);
    zfs(&args);
}

/// Where the filesystem `fs` is mounted; panics when it has no mountpoint (a write there would land in
/// the working directory, not in `fs`).
pub fn mountpoint(fs: &str) -> PathBuf {
    let path = PathBuf::from(zfs(&["get", "-H", "-o", "value", "mountpoint", fs]).trim());
    assert!(path.is_absolute(), "{fs} has no mountpoint ({})", path.display());
    path
}

/// Writes `len` deterministic pseudo-random bytes (from `seed`) to `file` in the mounted filesystem `fs`.
pub fn write_data(fs: &str, file: &str, seed: u64, len: usize) {
    let path = mountpoint(fs).join(file);
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).unwrap();
    }
    let mut f = std::fs::File::create(&path).unwrap_or_else(|e| panic!("create {}: {e}", path.display()));
    f.write_all(&random_bytes(seed, len)).unwrap();
    f.sync_all().unwrap();
}

/// `len` deterministic, incompressible bytes from `seed` (xorshift64).
pub fn random_bytes(seed: u64, len: usize) -> Vec<u8> {
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    let mut buf = Vec::with_capacity(len);
    while buf.len() < len {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        buf.extend_from_slice(&x.to_le_bytes());
    }
    buf.truncate(len);
    buf
}

/// The device node of volume `name` (`/dev/zdN`, found with udev's `zvol_id`: the guest runs no udev).
pub fn zvol_device(name: &str) -> PathBuf {
    let mut found = None;
    wait_for(&format!("the device of {name}"), 120, || {
        let Ok(dir) = std::fs::read_dir("/dev") else {
            return false;
        };
        for e in dir.flatten() {
            let n = e.file_name().to_string_lossy().into_owned();
            if !n.starts_with("zd") || n.contains('p') {
                continue;
            }
            let id = ["/usr/lib/udev/zvol_id", "/lib/udev/zvol_id"]
                .iter()
                .find_map(|p| try_cmd(p, &[&format!("/dev/{n}")]).ok());
            if id.is_some_and(|i| i.trim() == name) {
                found = Some(e.path());
                return true;
            }
        }
        false
    });
    found.unwrap()
}

/// Writes `len` bytes of deterministic, compressible text (log lines with pseudo-random fields from `seed`)
/// to `file` in the mounted filesystem `fs`.
pub fn write_text(fs: &str, file: &str, seed: u64, len: usize) {
    let path = mountpoint(fs).join(file);
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    let mut buf = Vec::with_capacity(len + 128);
    let mut i = 0u64;
    while buf.len() < len {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        let line = format!(
            "2026-12-03T12:{:02}:{:02}Z {i:09} GET /api/items/{} HTTP/1.1 {} {}ms user={}\n",
            (x >> 8) % 60,
            (x >> 16) % 60,
            (x >> 24) % 100_000,
            [200, 200, 200, 304, 404][((x >> 40) % 5) as usize],
            (x >> 48) % 900,
            (x >> 56) % 40
        );
        buf.extend_from_slice(line.as_bytes());
        i += 1;
    }
    buf.truncate(len);
    std::fs::write(&path, &buf).unwrap_or_else(|e| panic!("write {}: {e}", path.display()));
    std::fs::File::open(&path).and_then(|f| f.sync_all()).unwrap();
}

/// Snapshot `fs@name`; returns its GUID.
pub fn snap(fs: &str, name: &str) -> u64 {
    let full = format!("{fs}@{name}");
    zfs(&["snapshot", &full]);
    guid(&full)
}

pub fn guid(name: &str) -> u64 {
    zfs(&["get", "-H", "-p", "-o", "value", "guid", name])
        .trim()
        .parse()
        .unwrap()
}

pub fn prop(name: &str, prop: &str) -> String {
    zfs(&["get", "-H", "-p", "-o", "value", prop, name]).trim().to_string()
}

pub fn exists(name: &str) -> bool {
    zfs_try(&["list", "-H", "-t", "all", "-o", "name", name]).is_ok()
}

/// Short names and GUIDs of the snapshots of `fs`, oldest first.
pub fn snapshots(fs: &str) -> Vec<(String, u64)> {
    versions(fs, "snapshot", '@')
}

/// Short names and GUIDs of the bookmarks of `fs`, oldest first.
pub fn bookmarks(fs: &str) -> Vec<(String, u64)> {
    versions(fs, "bookmark", '#')
}

fn versions(fs: &str, kind: &str, sep: char) -> Vec<(String, u64)> {
    let out = zfs(&[
        "list",
        "-H",
        "-p",
        "-d",
        "1",
        "-t",
        kind,
        "-o",
        "name,guid",
        "-s",
        "createtxg",
        fs,
    ]);
    out.lines()
        .filter_map(|l| {
            let (n, g) = l.split_once('\t')?;
            let (_, short) = n.split_once(sep)?;
            Some((short.to_string(), g.parse().ok()?))
        })
        .collect()
}

/// Hold tags on one snapshot.
pub fn holds(snapshot: &str) -> Vec<String> {
    let out = zfs(&["holds", "-H", snapshot]);
    let mut tags: Vec<String> = out
        .lines()
        .filter_map(|l| l.split('\t').nth(1))
        .map(|t| t.trim().to_string())
        .collect();
    tags.sort();
    tags
}

/// Every snapshot below `root` with its hold tags (only snapshots with holds).
pub fn all_holds(root: &str) -> BTreeMap<String, Vec<String>> {
    let out = zfs(&["list", "-H", "-p", "-r", "-t", "snapshot", "-o", "name,userrefs", root]);
    let mut m = BTreeMap::new();
    for l in out.lines() {
        if let Some((n, refs)) = l.split_once('\t') {
            if refs != "0" {
                m.insert(n.to_string(), holds(n));
            }
        }
    }
    m
}

/// Content checksum of a snapshot: every file's relative path, size and bytes, in sorted order.
/// Mounts the filesystem (and loads nothing: encrypted filesystems need their key loaded first).
pub fn checksum_snapshot(snapshot: &str) -> String {
    let (fs, short) = snapshot.split_once('@').unwrap();
    if prop(fs, "mounted") != "yes" {
        if prop(fs, "mountpoint") == "none" || prop(fs, "mountpoint") == "legacy" {
            let mp = format!("mountpoint=/tmp/mnt/{fs}");
            zfs(&["set", &mp, fs]);
        }
        // Setting the mountpoint may already have mounted it.
        if prop(fs, "mounted") != "yes" {
            zfs(&["mount", fs]);
        }
    }
    let root = mountpoint(fs).join(".zfs/snapshot").join(short);
    // Entering the directory automounts the snapshot; on a busy guest that can fail with ELOOP for a while
    // (OpenZFS #15766): wait until it is mounted there as itself.
    let snap = zreplrs::zfs::names::SnapshotName::new(snapshot).unwrap();
    wait_for(&format!("{snapshot} automounted at {}", root.display()), 120, || {
        std::fs::read_dir(&root).is_ok() && zreplrs::zfs::snapdir::mounted_as(&root, &snap)
    });
    let mut files = Vec::new();
    walk(&root, &root, &mut files);
    files.sort();
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for (rel, bytes) in &files {
        for b in rel
            .as_bytes()
            .iter()
            .chain(&(bytes.len() as u64).to_le_bytes())
            .chain(bytes.iter())
        {
            h ^= *b as u64;
            h = h.wrapping_mul(0x0100_0000_01b3);
        }
    }
    format!("{} files, fnv1a64 {h:016x}", files.len())
}

fn walk(root: &Path, dir: &Path, out: &mut Vec<(String, Vec<u8>)>) {
    let entries = std::fs::read_dir(dir).unwrap_or_else(|e| panic!("read_dir {}: {e}", dir.display()));
    for e in entries {
        let e = e.unwrap();
        let p = e.path();
        if e.file_type().unwrap().is_dir() {
            walk(root, &p, out);
        } else {
            let rel = p.strip_prefix(root).unwrap().to_string_lossy().into_owned();
            out.push((rel, std::fs::read(&p).unwrap()));
        }
    }
}

/// Pipes `zfs send SEND_ARGS` into `zfs receive RECV_ARGS`, optionally cut after `limit` bytes.
/// Returns whether the receive succeeded and its stderr.
pub fn send_recv(send_args: &[&str], recv_args: &[&str], limit: Option<u64>) -> (bool, String) {
    use std::io::{Read, Write};
    let mut send = Command::new("zfs")
        .args(send_args)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut recv = Command::new("zfs")
        .args(recv_args)
        .stdin(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut from = send.stdout.take().unwrap();
    {
        let mut to = recv.stdin.take().unwrap();
        let mut buf = vec![0u8; 1 << 16];
        let mut sent: u64 = 0;
        loop {
            let n = from.read(&mut buf).unwrap();
            if n == 0 {
                break;
            }
            let n = match limit {
                Some(l) if sent + n as u64 >= l => (l - sent) as usize,
                _ => n,
            };
            if to.write_all(&buf[..n]).is_err() {
                break;
            }
            sent += n as u64;
            if limit.is_some_and(|l| sent >= l) {
                break;
            }
        }
    }
    drop(from);
    let _ = send.kill();
    let _ = send.wait();
    let out = recv.wait_with_output().unwrap();
    (out.status.success(), String::from_utf8_lossy(&out.stderr).into_owned())
}

/// The zreplrs binary under test.
pub fn zreplrs_bin() -> PathBuf {
    std::env::var_os("ZREPLRS_BIN")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_BIN_EXE_zreplrs")))
}

/// A replication scenario: a sender pool, a receiver pool with root `<dst>/backup`, a config file and a
/// lock directory of its own.
pub struct Scenario {
    pub src: Pool,
    pub dst: Pool,
    pub dir: tempfile::TempDir,
    pub job: String,
}

/// Result of one `zreplrs` run.
#[derive(Debug)]
pub struct Run {
    pub code: i32,
    pub json: serde_json::Value,
    pub stdout: String,
    pub stderr: String,
}

impl Scenario {
    pub fn new(tag: &str) -> Scenario {
        let src = Pool::new(&format!("{tag}s"));
        let dst = Pool::new(&format!("{tag}d"));
        zfs(&["create", &dst.ds("backup")]);
        let dir = tempfile::tempdir_in("/tmp").unwrap();
        std::fs::create_dir_all(dir.path().join("locks")).unwrap();
        std::fs::create_dir_all(dir.path().join("metrics")).unwrap();
        Scenario {
            src,
            dst,
            dir,
            job: format!("job_{tag}"),
        }
    }

    /// Creates the mounted filesystem `name`, encrypted with a passphrase in a key file of this scenario.
    pub fn create_encrypted_fs(&self, name: &str) {
        let key = self.dir.path().join("key");
        std::fs::write(&key, "correct horse battery staple").unwrap();
        let kl = format!("keylocation=file://{}", key.display());
        create_fs_with(name, &["encryption=on", "keyformat=passphrase", &kl]);
        assert_eq!(prop(name, "mounted"), "yes", "{name} is mounted");
    }

    /// The receiver root of the job.
    pub fn root(&self) -> String {
        self.dst.ds("backup")
    }

    /// Where the sender's `fs` lands on the receiver.
    pub fn target(&self, fs: &str) -> String {
        format!("{}/{fs}", self.root())
    }

    pub fn config_path(&self) -> PathBuf {
        self.dir.path().join("zreplrs.toml")
    }

    /// Writes the config: one job replicating `filesystems` (filter rules) with extra job-level TOML.
    pub fn configure(&self, filesystems: &[(&str, bool)], extra: &str) {
        self.configure_target(&format!("local:{}", self.root()), filesystems, extra);
    }

    /// Like [`Scenario::configure`] with another target (`extra` may end with tables such as `[jobs.ssh]`).
    pub fn configure_target(&self, target: &str, filesystems: &[(&str, bool)], extra: &str) {
        let mut rules = String::new();
        for (k, v) in filesystems {
            rules.push_str(&format!("\"{k}\" = {v}\n"));
        }
        let text = format!(
            "[global]\nlock_dir = \"{locks}\"\n\n[[jobs]]\nname = \"{job}\"\ntarget = \"{target}\"\n{extra}\n\
             [jobs.filesystems]\n{rules}",
            locks = self.dir.path().join("locks").display(),
            job = self.job,
        );
        std::fs::write(self.config_path(), text).unwrap();
    }

    /// A `zreplrs` command with this scenario's config.
    pub fn command(&self, args: &[&str]) -> Command {
        let mut c = Command::new(zreplrs_bin());
        c.arg("--config")
            .arg(self.config_path())
            .args(args)
            .stdin(Stdio::null());
        c
    }

    /// `zreplrs replicate --job J ARGS…`; the JSON output is validated against the shipped schema.
    pub fn replicate(&self, args: &[&str]) -> Run {
        let mut all = vec!["replicate", "--job", &self.job, "--format", "json"];
        all.extend_from_slice(args);
        let out = self.command(&all).output().unwrap();
        run_result(out)
    }

    pub fn metrics_dir(&self) -> PathBuf {
        self.dir.path().join("metrics")
    }

    pub fn step_tag(&self) -> String {
        format!("zrepl_STEP_J_{}", self.job)
    }

    pub fn last_received_tag(&self) -> String {
        format!("zrepl_last_received_J_{}", self.job)
    }

    /// The job's cursor bookmarks on a sender filesystem.
    pub fn cursors(&self, fs: &str) -> Vec<(String, u64)> {
        let suffix = format!("_J_{}", self.job);
        bookmarks(fs)
            .into_iter()
            .filter(|(n, _)| n.starts_with("zrepl_CURSOR_G_") && n.ends_with(&suffix))
            .collect()
    }

    /// After a successful run: both sides have the same newest snapshot with equal content, the sender has
    /// exactly one cursor (on it) and no step holds, the receiver exactly one last-received hold (on it).
    pub fn assert_converged(&self, fs: &str) {
        let target = self.target(fs);
        let s = snapshots(fs);
        let r = snapshots(&target);
        let newest = s.last().expect("sender has snapshots").clone();
        assert_eq!(
            r.last(),
            Some(&newest),
            "receiver's newest snapshot equals the sender's: sender {s:?} receiver {r:?}"
        );
        assert_eq!(
            checksum_snapshot(&format!("{target}@{}", newest.0)),
            checksum_snapshot(&format!("{fs}@{}", newest.0)),
            "content of @{}",
            newest.0
        );
        let cursors = self.cursors(fs);
        assert_eq!(cursors.len(), 1, "exactly one cursor on {fs}: {cursors:?}");
        assert_eq!(
            cursors[0].1, newest.1,
            "the cursor is on the newest replicated snapshot"
        );
        let step = self.step_tag();
        let own = |name: &String, ds: &str| name.starts_with(&format!("{ds}@"));
        let leaked: Vec<_> = all_holds(fs)
            .into_iter()
            .filter(|(n, tags)| own(n, fs) && tags.contains(&step))
            .collect();
        assert!(leaked.is_empty(), "no step holds remain on the sender: {leaked:?}");
        let lr = self.last_received_tag();
        let lr_holds: Vec<String> = all_holds(&target)
            .into_iter()
            .filter(|(n, tags)| own(n, &target) && tags.contains(&lr))
            .map(|(n, _)| n)
            .collect();
        assert_eq!(
            lr_holds,
            vec![format!("{target}@{}", newest.0)],
            "exactly one last-received hold, on the newest"
        );
    }
}

/// Parses a finished `zreplrs` run; JSON on stdout (if any) must match the shipped schema.
pub fn run_result(out: std::process::Output) -> Run {
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    let json: serde_json::Value = if stdout.trim().is_empty() {
        serde_json::Value::Null
    } else {
        let v = serde_json::from_str(&stdout)
            .unwrap_or_else(|e| panic!("stdout is not JSON ({e}): {stdout}\nstderr: {stderr}"));
        validate_schema(&v);
        v
    };
    Run {
        code: out.status.code().unwrap_or(-1),
        json,
        stdout,
        stderr,
    }
}

/// Validates `v` against the JSON schema `schema` (the text of a file in schema/).
fn validate_against(schema: &str, v: &serde_json::Value) {
    let schema: serde_json::Value = serde_json::from_str(schema).unwrap();
    let validator = jsonschema::validator_for(&schema).unwrap();
    let errors: Vec<String> = validator
        .iter_errors(v)
        .map(|e| format!("{e} at {}", e.instance_path))
        .collect();
    assert!(errors.is_empty(), "output does not match the schema: {errors:?}\n{v:#}");
}

/// Validates a replicate result against schema/replicate-result.schema.json.
pub fn validate_schema(v: &serde_json::Value) {
    validate_against(include_str!("../../schema/replicate-result.schema.json"), v);
}

/// Validates a failover or failback result against schema/failover-result.schema.json, and each of its
/// runs against the replicate result's schema.
pub fn validate_failover_schema(v: &serde_json::Value) {
    validate_against(include_str!("../../schema/failover-result.schema.json"), v);
    for run in v["runs"].as_array().into_iter().flatten() {
        validate_schema(run);
    }
}

/// Runs `zreplrs CMD --job J --format json ARGS` (`failover` or `failback`) for `sc`, validates its result
/// and returns the exit code and the result.
pub fn failover_command(sc: &Scenario, cmd: &str, args: &[&str]) -> (Option<i32>, serde_json::Value) {
    let mut all = vec![cmd, "--job", &sc.job, "--format", "json"];
    all.extend_from_slice(args);
    let out = sc.command(&all).output().unwrap();
    let v: serde_json::Value =
        serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&out.stderr)));
    println!("zreplrs {cmd} stderr: {}", String::from_utf8_lossy(&out.stderr));
    validate_failover_schema(&v);
    (out.status.code(), v)
}

/// The bytes of every step of a failover or failback result's runs; panics on a full send.
pub fn incremental_step_bytes(v: &serde_json::Value) -> Vec<u64> {
    v["runs"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|r| r["filesystems"].as_array().unwrap().iter())
        .flat_map(|f| f["steps"].as_array().unwrap().iter())
        .map(|s| {
            assert!(!s["from"].is_null(), "no full send: {s:#}");
            s["bytes"].as_u64().unwrap()
        })
        .collect()
}

/// Polls `cond` every 50 ms until it holds or `secs` pass; panics with `what` on timeout.
pub fn wait_for(what: &str, secs: u64, mut cond: impl FnMut() -> bool) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(secs);
    while !cond() {
        assert!(
            std::time::Instant::now() < deadline,
            "timed out after {secs}s waiting for {what}"
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
}

/// A volume's content: its device's bytes (the volume's head, which equals its newest snapshot when
/// nothing wrote after it). A copy received with `volmode=none` gets a device for this (`volmode=dev`).
pub fn volume_content(vol: &str) -> String {
    if prop(vol, "volmode") == "none" {
        zfs(&["set", "volmode=dev", vol]);
    }
    let bytes = std::fs::read(zvol_device(vol)).unwrap();
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in &bytes {
        h ^= *b as u64;
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    format!("{} bytes, fnv1a64 {h:016x}", bytes.len())
}

/// Writes a `zfs` wrapper for ZREPLRS_ZFS that passes everything through except real (non-dry) sends,
/// which it cuts after `limit` bytes. With `then_block`, it then writes its PID to `marker` and blocks
/// (keeping the stream open); otherwise it exits 1 (a truncated stream).
pub fn cutting_zfs_wrapper(dir: &Path, limit: u64, then_block: bool) -> (PathBuf, PathBuf) {
    let marker = dir.join("cut.marker");
    let path = dir.join("zfs-cut");
    let tail = if then_block {
        format!(
            "echo $$ > {m}.tmp; mv {m}.tmp {m}; exec sleep 3600",
            m = marker.display()
        )
    } else {
        format!("touch {}; exit 1", marker.display())
    };
    let script = format!(
        "#!/bin/bash\nif [ \"$1\" = send ] && ! printf '%s\\n' \"$@\" | grep -qx -- -n; then\n  \
         zfs \"$@\" | head -c {limit}\n  {tail}\nfi\nexec zfs \"$@\"\n"
    );
    std::fs::write(&path, script).unwrap();
    try_cmd("chmod", &["+x", path.to_str().unwrap()]).unwrap();
    (path, marker)
}

/// PIDs of the `zfs receive` processes into `target` (whatever options the agent adds before the name).
pub fn receive_pids(target: &str) -> Vec<i32> {
    let end = format!(" {target} ");
    pids_where(|cmd| cmd.contains("receive -s -u ") && cmd.ends_with(&end))
}

/// PIDs of processes whose command line contains `needle`.
pub fn pids_matching(needle: &str) -> Vec<i32> {
    pids_where(|cmd| cmd.contains(needle))
}

/// PIDs of processes (but this one) whose command line (arguments joined by spaces) satisfies `pred`.
pub fn pids_where(pred: impl Fn(&str) -> bool) -> Vec<i32> {
    let mut v = Vec::new();
    for e in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(pid) = e.file_name().to_string_lossy().parse::<i32>() else {
            continue;
        };
        if let Ok(cmd) = std::fs::read(format!("/proc/{pid}/cmdline")) {
            let cmd = String::from_utf8_lossy(&cmd).replace('\0', " ");
            if pred(&cmd) && pid != std::process::id() as i32 {
                v.push(pid);
            }
        }
    }
    v
}

/// Bytes a process has read so far (`rchar` of /proc/PID/io), 0 if it is gone.
pub fn bytes_read(pid: i32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/io"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("rchar: ").and_then(|v| v.trim().parse().ok()))
        })
        .unwrap_or(0)
}

/// The receiving "host" of SSH tests: network namespace `zrdst` behind a veth pair (`zv0` here, `zv1` there),
/// sshd listening on [`SSH_ADDR`]. Set up once per guest; every test authorizes its own key.
pub const SSH_ADDR: &str = "10.77.0.2";
pub const SSH_DIR: &str = "/tmp/zr-ssh";
static SSH_LOCK: std::sync::Mutex<()> = std::sync::Mutex::new(());
static KEY_COUNTER: AtomicUsize = AtomicUsize::new(0);

fn sh(cmd: &str) -> String {
    try_cmd("/bin/sh", &["-c", cmd]).unwrap_or_else(|e| panic!("{e}"))
}

/// Runs `cmd` with /bin/sh: whether it succeeded, and its stdout and stderr together.
pub fn shell(cmd: &str) -> (bool, String) {
    let out = Command::new("/bin/sh").args(["-c", cmd]).output().unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

/// [`shell`] that must succeed; its output.
pub fn shell_ok(cmd: &str) -> String {
    let (ok, text) = shell(cmd);
    assert!(ok, "{cmd}: {text}");
    text
}

/// Makes sure the SSH host is up (idempotent).
pub fn ssh_host() {
    let _g = SSH_LOCK.lock().unwrap_or_else(|e| e.into_inner());
    if Path::new(&format!("{SSH_DIR}/sshd.pid")).exists() {
        return;
    }
    sh(
        "ip netns add zrdst && ip link add zv0 type veth peer name zv1 && ip link set zv1 netns zrdst \
        && ip addr add 10.77.0.1/24 dev zv0 && ip link set zv0 up \
        && ip netns exec zrdst ip addr add 10.77.0.2/24 dev zv1 && ip netns exec zrdst ip link set zv1 up \
        && ip netns exec zrdst ip link set lo up",
    );
    start_sshd("zrdst", SSH_DIR, SSH_ADDR);
    wait_for("sshd to listen", 120, || {
        std::net::TcpStream::connect((SSH_ADDR, 22)).is_ok()
    });
}

/// The known_hosts line of the SSH host.
pub fn ssh_known_hosts_line() -> String {
    ssh_host();
    format!("{SSH_ADDR} {}\n", sshd_host_key(SSH_DIR))
}

/// Starts sshd in network namespace `netns`, listening on `listen`, with its host key, config, PID file,
/// log and `authorized_keys.<user>` files in `dir` (created). Does not wait for it to listen.
pub fn start_sshd(netns: &str, dir: &str, listen: &str) {
    std::fs::create_dir_all(dir).unwrap();
    sh(&format!("ssh-keygen -q -t ed25519 -N '' -f {dir}/host_ed25519"));
    std::fs::write(
        format!("{dir}/sshd_config"),
        format!(
            "Port 22\nListenAddress {listen}\nHostKey {dir}/host_ed25519\nAuthorizedKeysFile {dir}/authorized_keys.%u\n\
             PidFile {dir}/sshd.pid\nPermitRootLogin prohibit-password\nStrictModes no\nUsePAM no\n\
             ClientAliveInterval 2\nClientAliveCountMax 2\nMaxStartups 100\nLogLevel VERBOSE\n"
        ),
    )
    .unwrap();
    std::fs::create_dir_all("/run/sshd").unwrap();
    sh(&format!(
        "ip netns exec {netns} /usr/sbin/sshd -f {dir}/sshd_config -E {dir}/sshd.log"
    ));
}

/// `TYPE BASE64` of the host key of the sshd started by [`start_sshd`] with `dir`.
pub fn sshd_host_key(dir: &str) -> String {
    let pubkey = std::fs::read_to_string(format!("{dir}/host_ed25519.pub")).unwrap();
    let mut parts = pubkey.split_whitespace();
    format!("{} {}", parts.next().unwrap(), parts.next().unwrap())
}

/// The parent of process `pid`, while it runs.
pub fn parent_of(pid: i32) -> Option<i32> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // "PID (COMM) STATE PPID ...": COMM may contain spaces, so split after the last ')'.
    stat.rsplit_once(')')?.1.split_whitespace().nth(1)?.parse().ok()
}

/// The sshd session process (`sshd: USER@notty`, serving one connection) that `pid` runs under.
pub fn session_of(pid: i32) -> Option<i32> {
    let mut p = pid;
    for _ in 0..16 {
        let ppid = parent_of(p)?;
        let cmd = std::fs::read(format!("/proc/{ppid}/cmdline")).ok()?;
        if String::from_utf8_lossy(&cmd).contains("@notty") {
            return Some(ppid);
        }
        p = ppid;
    }
    None
}

/// Creates a key for `user` whose authorized_keys entry forces `command` (`restrict`ed); returns the
/// private key path.
pub fn ssh_authorize(user: &str, command: &str) -> PathBuf {
    let _g = SSH_LOCK.lock().unwrap_or_else(|e| e.into_inner());
    let n = KEY_COUNTER.fetch_add(1, Ordering::SeqCst);
    let key = PathBuf::from(format!("{SSH_DIR}/key-{}-{n}", std::process::id()));
    sh(&format!("ssh-keygen -q -t ed25519 -N '' -f {}", key.display()));
    let pubkey = std::fs::read_to_string(key.with_extension("pub"))
        .unwrap_or_else(|_| std::fs::read_to_string(format!("{}.pub", key.display())).unwrap());
    let line = format!("command=\"{command}\",restrict {}", pubkey.trim());
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(format!("{SSH_DIR}/authorized_keys.{user}"))
        .unwrap();
    writeln!(f, "{line}").unwrap();
    key
}

/// Brings the sender's side of the link up or down.
pub fn ssh_link(up: bool) {
    sh(&format!("ip link set zv0 {}", if up { "up" } else { "down" }));
}

/// Limits the sender → receiver rate (netem), or removes the limit with `None`.
pub fn ssh_rate(rate: Option<&str>) {
    match rate {
        Some(r) => sh(&format!("tc qdisc replace dev zv0 root netem rate {r}")),
        None => sh("tc qdisc del dev zv0 root 2>/dev/null || true"),
    };
}
