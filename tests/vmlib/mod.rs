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
            &["create", "-f", "-O", "mountpoint=none", "-O", "compression=off", &name, file.to_str().unwrap()],
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
            "list", "-H", "-p", "-r", "-t", "all", "-o", "name,guid,createtxg,userrefs,receive_resume_token", &self.name,
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

/// The mountpoint of a mounted filesystem.
pub fn mountpoint(fs: &str) -> PathBuf {
    PathBuf::from(zfs(&["get", "-H", "-o", "value", "mountpoint", fs]).trim())
}

/// Writes `len` deterministic pseudo-random bytes (from `seed`) to `file` in the mounted filesystem `fs`.
pub fn write_data(fs: &str, file: &str, seed: u64, len: usize) {
    let path = mountpoint(fs).join(file);
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).unwrap();
    }
    let mut f = std::fs::File::create(&path).unwrap_or_else(|e| panic!("create {}: {e}", path.display()));
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    let mut buf = Vec::with_capacity(len);
    while buf.len() < len {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        buf.extend_from_slice(&x.to_le_bytes());
    }
    buf.truncate(len);
    f.write_all(&buf).unwrap();
    f.sync_all().unwrap();
}

/// Snapshot `fs@name`; returns its GUID.
pub fn snap(fs: &str, name: &str) -> u64 {
    let full = format!("{fs}@{name}");
    zfs(&["snapshot", &full]);
    guid(&full)
}

pub fn guid(name: &str) -> u64 {
    zfs(&["get", "-H", "-p", "-o", "value", "guid", name]).trim().parse().unwrap()
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
    let out = zfs(&["list", "-H", "-p", "-d", "1", "-t", kind, "-o", "name,guid", "-s", "createtxg", fs]);
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
    let mut tags: Vec<String> = out.lines().filter_map(|l| l.split('\t').nth(1)).map(|t| t.trim().to_string()).collect();
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
        zfs(&["mount", fs]);
    }
    let root = mountpoint(fs).join(".zfs/snapshot").join(short);
    let mut files = Vec::new();
    walk(&root, &root, &mut files);
    files.sort();
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for (rel, bytes) in &files {
        for b in rel.as_bytes().iter().chain(&(bytes.len() as u64).to_le_bytes()).chain(bytes.iter()) {
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
    let mut send = Command::new("zfs").args(send_args).stdout(Stdio::piped()).stderr(Stdio::null()).spawn().unwrap();
    let mut recv = Command::new("zfs").args(recv_args).stdin(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
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
    std::env::var_os("ZREPLRS_BIN").map(PathBuf::from).unwrap_or_else(|| PathBuf::from(env!("CARGO_BIN_EXE_zreplrs")))
}
