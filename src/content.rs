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

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Digests the tree below `root` without following symlinks. The root directory's own metadata and a
/// top-level `.zfs` are not included (a clone's mountpoint differs from the original's).
pub fn digest_dir(root: &Path) -> std::io::Result<ContentDigest> {
    digest_dir_until(root, None)
}

/// [`digest_dir`] that fails with `TimedOut` once `deadline` has passed.
pub fn digest_dir_until(root: &Path, deadline: Option<std::time::Instant>) -> std::io::Result<ContentDigest> {
    let late = || {
        deadline.is_some_and(|d| std::time::Instant::now() > d).then(|| {
            std::io::Error::new(
                std::io::ErrorKind::TimedOut,
                "reading the files took longer than allowed",
            )
        })
    };
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
        if let Some(e) = late() {
            return Err(e);
        }
        let entry = entry.map_err(std::io::Error::other)?;
        let rel = entry.path().strip_prefix(root).map_err(std::io::Error::other)?;
        let meta = entry.metadata().map_err(std::io::Error::other)?;
        let ft = meta.file_type();
        let (kind, what) = if ft.is_file() {
            let mut h = Sha256::new();
            let mut f = fs::File::open(entry.path())?;
            let mut buf = vec![0u8; 1 << 16];
            loop {
                let n = f.read(&mut buf)?;
                if n == 0 {
                    break;
                }
                if let Some(e) = late() {
                    return Err(e);
                }
                h.update(&buf[..n]);
            }
            bytes += meta.len();
            ("f", hex(&h.finalize()))
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
}
