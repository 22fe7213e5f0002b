//! A digest of a directory tree's content and metadata (what `zreplrs verify --content` compares between a
//! sender snapshot and its received copy): every entry's path, type, mode, owner, size, modification time
//! and, for files, the SHA-256 of its bytes (for symlinks, the target), in a fixed order, hashed once more.

use std::fs;
use std::io::Read;
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::Path;

use serde::Serialize;
use sha2::{Digest, Sha256};

/// The digest of a tree and what it covered.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ContentDigest {
    /// SHA-256, lowercase hex.
    pub digest: String,
    pub entries: u64,
    pub bytes: u64,
}

/// What reading a tree has used of its [`Limits`].
struct Budget {
    limits: Limits,
    read: u64,
}

impl Budget {
    fn check(&self) -> std::io::Result<()> {
        if self.limits.deadline.is_some_and(|d| std::time::Instant::now() > d) {
            return Err(std::io::Error::new(
                std::io::ErrorKind::TimedOut,
                "reading the files took longer than allowed",
            ));
        }
        if self.limits.max_read.is_some_and(|m| self.read > m) {
            return Err(std::io::Error::other(format!(
                "read {} bytes of file data, more than the snapshot references",
                self.read
            )));
        }
        Ok(())
    }
}

/// SHA-256 of a file's `len` bytes: data regions read, holes (`SEEK_HOLE`) hashed as zeros unread.
fn hash_file(path: &Path, len: u64, budget: &mut Budget) -> std::io::Result<String> {
    use std::io::{Seek, SeekFrom};
    use std::os::fd::AsRawFd;
    static ZEROS: [u8; 1 << 16] = [0; 1 << 16];
    let mut h = Sha256::new();
    let mut f = fs::File::open(path)?;
    let mut buf = vec![0u8; 1 << 16];
    let mut pos = 0u64;
    while pos < len {
        let at = i64::try_from(pos).map_err(std::io::Error::other)?;
        // The next data region; a file system without SEEK_DATA has one region, the whole file.
        let data = match nix::unistd::lseek(f.as_raw_fd(), at, nix::unistd::Whence::SeekData) {
            Ok(d) => u64::try_from(d).unwrap_or(len).min(len),
            Err(nix::errno::Errno::ENXIO) => len,
            Err(nix::errno::Errno::EINVAL) => pos,
            Err(e) => return Err(e.into()),
        };
        let mut zeros = data - pos;
        while zeros > 0 {
            let n = zeros.min(ZEROS.len() as u64) as usize;
            h.update(&ZEROS[..n]);
            zeros -= n as u64;
            budget.check()?;
        }
        if data >= len {
            break;
        }
        let hole = match nix::unistd::lseek(f.as_raw_fd(), data as i64, nix::unistd::Whence::SeekHole) {
            Ok(e) => u64::try_from(e).unwrap_or(len).clamp(data + 1, len),
            Err(_) => len,
        };
        f.seek(SeekFrom::Start(data))?;
        let mut left = hole - data;
        while left > 0 {
            let want = left.min(buf.len() as u64) as usize;
            let n = f.read(&mut buf[..want])?;
            if n == 0 {
                return Err(std::io::Error::new(
                    std::io::ErrorKind::UnexpectedEof,
                    format!("{} ended while being read", path.display()),
                ));
            }
            h.update(&buf[..n]);
            left -= n as u64;
            budget.read += n as u64;
            budget.check()?;
        }
        pos = hole;
    }
    Ok(hex(&h.finalize()))
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Digests the tree below `root` without following symlinks. The root directory's own metadata and a
/// top-level `.zfs` are not included (a clone's mountpoint differs from the original's).
pub fn digest_dir(root: &Path) -> std::io::Result<ContentDigest> {
    digest_dir_within(root, Limits::default())
}

/// Bounds on reading a tree whose content a peer chose (see [`digest_dir_within`]).
#[derive(Debug, Clone, Copy, Default)]
pub struct Limits {
    /// Fail with `TimedOut` once this has passed.
    pub deadline: Option<std::time::Instant>,
    /// Fail once more than this many bytes of file data were read from disk (holes of sparse files are
    /// not read: they hash as the zeros they are).
    pub max_read: Option<u64>,
}

/// [`digest_dir`] within `limits`. The digest is the same as without them.
pub fn digest_dir_within(root: &Path, limits: Limits) -> std::io::Result<ContentDigest> {
    let mut budget = Budget { limits, read: 0 };
    let mut total = Sha256::new();
    let (mut entries, mut bytes) = (0u64, 0u64);
    // `.zfs` (the snapshot directory, listed where `snapdir=visible`) is not part of the content.
    let walk = walkdir::WalkDir::new(root)
        .min_depth(1)
        .follow_links(false)
        .sort_by_file_name()
        .into_iter()
        .filter_entry(|e| !(e.depth() == 1 && e.file_name() == ".zfs"));
    for entry in walk {
        budget.check()?;
        let entry = entry.map_err(std::io::Error::other)?;
        let rel = entry.path().strip_prefix(root).map_err(std::io::Error::other)?;
        let meta = entry.metadata().map_err(std::io::Error::other)?;
        let ft = meta.file_type();
        let (kind, what) = if ft.is_file() {
            bytes += meta.len();
            ("f", hash_file(entry.path(), meta.len(), &mut budget)?)
        } else if ft.is_symlink() {
            ("l", hex(fs::read_link(entry.path())?.as_os_str().as_encoded_bytes()))
        } else if ft.is_dir() {
            ("d", String::new())
        } else if ft.is_char_device() || ft.is_block_device() {
            ("c", meta.rdev().to_string())
        } else {
            ("o", String::new())
        };
        entries += 1;
        let line = format!(
            "{kind} {} {:o} {} {} {} {}.{} {what}\n",
            hex(rel.as_os_str().as_encoded_bytes()),
            meta.mode() & 0o7777,
            meta.uid(),
            meta.gid(),
            if ft.is_dir() { 0 } else { meta.len() },
            meta.mtime(),
            meta.mtime_nsec(),
        );
        total.update(line.as_bytes());
    }
    Ok(ContentDigest {
        digest: hex(&total.finalize()),
        entries,
        bytes,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_digest_sees_content_names_and_modes_and_not_the_root() {
        let a = tempfile::tempdir().unwrap();
        let b = tempfile::tempdir().unwrap();
        for d in [a.path(), b.path()] {
            fs::create_dir(d.join("sub")).unwrap();
            fs::write(d.join("sub/f"), b"hello").unwrap();
            fs::write(d.join("g"), b"x").unwrap();
            std::os::unix::fs::symlink("sub/f", d.join("link")).unwrap();
            // Same modification times on both sides, as a received copy keeps them.
            let t = fs::FileTimes::new()
                .set_modified(std::time::UNIX_EPOCH + std::time::Duration::from_secs(1_800_000_000));
            for p in ["sub/f", "g"] {
                fs::File::options()
                    .write(true)
                    .open(d.join(p))
                    .unwrap()
                    .set_times(t)
                    .unwrap();
            }
            fs::File::open(d.join("sub")).unwrap().set_times(t).unwrap();
            // The symlink itself too (its own mtime is when it was made, which differs between a and b).
            let ts = nix::sys::time::TimeSpec::new(1_800_000_000, 0);
            nix::sys::stat::utimensat(
                None,
                &d.join("link"),
                &ts,
                &ts,
                nix::sys::stat::UtimensatFlags::NoFollowSymlink,
            )
            .unwrap();
        }
        let da = digest_dir(a.path()).unwrap();
        assert_eq!(da, digest_dir(b.path()).unwrap());
        assert_eq!((da.entries, da.bytes), (4, 6));
        // One byte changed (same size, same mtime): the digest differs.
        let t = fs::metadata(b.path().join("g")).unwrap().modified().unwrap();
        fs::write(b.path().join("g"), b"y").unwrap();
        fs::File::options()
            .write(true)
            .open(b.path().join("g"))
            .unwrap()
            .set_times(fs::FileTimes::new().set_modified(t))
            .unwrap();
        assert_ne!(da.digest, digest_dir(b.path()).unwrap().digest);
    }

    /// A sparse file hashes as its bytes (holes as zeros) whether its holes are real or written out, and
    /// its holes are not read: a budget of the data bytes holds, a smaller one fails.
    #[test]
    fn sparse_files_hash_as_their_bytes_and_holes_are_not_read() {
        let a = tempfile::tempdir().unwrap();
        let b = tempfile::tempdir().unwrap();
        let t =
            fs::FileTimes::new().set_modified(std::time::UNIX_EPOCH + std::time::Duration::from_secs(1_800_000_000));
        let sparse = fs::File::create(a.path().join("f")).unwrap();
        sparse.set_len(64 << 20).unwrap();
        std::io::Write::write_all(&mut &sparse, b"head").unwrap();
        sparse.set_times(t).unwrap();
        let mut dense = vec![0u8; 64 << 20];
        dense[..4].copy_from_slice(b"head");
        fs::write(b.path().join("f"), &dense).unwrap();
        fs::File::options()
            .write(true)
            .open(b.path().join("f"))
            .unwrap()
            .set_times(t)
            .unwrap();
        let budget = |max: u64| Limits {
            deadline: None,
            max_read: Some(max),
        };
        let da = digest_dir_within(a.path(), budget(1 << 20)).expect("only the data region is read");
        assert_eq!(da, digest_dir(b.path()).unwrap(), "same bytes, same digest");
        let e = digest_dir_within(b.path(), budget(1 << 20)).unwrap_err();
        assert!(e.to_string().contains("more than the snapshot references"), "{e}");
        let late = Limits {
            deadline: Some(std::time::Instant::now() - std::time::Duration::from_secs(1)),
            max_read: None,
        };
        assert_eq!(
            digest_dir_within(a.path(), late).unwrap_err().kind(),
            std::io::ErrorKind::TimedOut
        );
    }
}
