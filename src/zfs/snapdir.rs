//! Reading a snapshot's files: through `.zfs/snapshot/<name>` of a mounted filesystem, or through a
//! temporary read-only clone mounted in a private directory (destroyed when dropped) when the filesystem is
//! not mounted, as received copies usually are not.

use std::path::{Path, PathBuf};

use super::names::{DatasetName, SnapshotName};
use super::{Zfs, ZfsError};

/// The properties of a clone made to read a snapshot: mounted read-only, without setuid, device nodes or
/// executables (`nosuid,nodev,noexec,ro`).
pub const CLONE_OPTIONS: [&str; 5] = ["readonly=on", "canmount=on", "setuid=off", "devices=off", "exec=off"];

/// A directory holding a snapshot's files for as long as this lives.
pub struct SnapshotDir<'z> {
    path: PathBuf,
    clone: Option<(&'z Zfs, DatasetName, tempfile::TempDir)>,
}

impl SnapshotDir<'_> {
    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for SnapshotDir<'_> {
    fn drop(&mut self) {
        if let Some((zfs, clone, _dir)) = &self.clone {
            if let Err(e) = zfs.run(&["destroy", clone.as_str()]) {
                eprintln!("zreplrs: cannot destroy the temporary clone {clone}: {e}; destroy it by hand");
            }
        }
    }
}

impl Zfs {
    /// The files of `snap`, read-only. A filesystem that is not mounted (or whose snapshot ZFS cannot
    /// automount, see [`automounted`]) is read through a clone
    /// `<fs>_zreplrs_verify_<pid>` next to it (this needs the `clone`, `create`, `mount` and `destroy`
    /// permissions, and root on Linux to mount); an encrypted one needs its key loaded.
    pub fn snapshot_dir(&self, snap: &SnapshotName) -> Result<SnapshotDir<'_>, ZfsError> {
        let fs = snap.dataset();
        let out = self.run(&["get", "-H", "-p", "-o", "value", "type,mounted,mountpoint", fs.as_str()])?;
        let values: Vec<&str> = out.lines().collect();
        if let [kind, mounted, mountpoint] = values[..] {
            if kind == "filesystem" && mounted == "yes" && mountpoint.starts_with('/') {
                let path = Path::new(mountpoint).join(".zfs/snapshot").join(snap.short());
                if automounted(&path) && mounted_as(&path, snap) {
                    return Ok(SnapshotDir { path, clone: None });
                }
            }
        }
        // A directory only root can enter (mode 0700, made without following symlinks), and the clone
        // mounted in it read-only with setuid, devices and exec off: the files may come from a peer.
        let dir = tempfile::Builder::new()
            .prefix("zreplrs-verify-")
            .permissions(std::os::unix::fs::PermissionsExt::from_mode(0o700))
            .tempdir()
            .map_err(|e| ZfsError::parse(&["clone"], format!("cannot create a mount directory: {e}")))?;
        let mnt = dir.path().join("mnt");
        std::fs::create_dir(&mnt)
            .map_err(|e| ZfsError::parse(&["clone"], format!("cannot create a mount directory: {e}")))?;
        let name = format!("{}_zreplrs_verify_{}", fs, std::process::id());
        let clone = DatasetName::new(&name).map_err(|e| ZfsError::parse(&["clone"], e.to_string()))?;
        let mountpoint = format!("mountpoint={}", mnt.display());
        let mut args = vec!["clone"];
        for o in CLONE_OPTIONS {
            args.extend(["-o", o]);
        }
        args.extend(["-o", &mountpoint, snap.as_str(), clone.as_str()]);
        self.run(&args)?;
        Ok(SnapshotDir {
            path: mnt,
            clone: Some((self, clone, dir)),
        })
    }
}

/// Whether `path` (a `.zfs/snapshot/<name>` directory) can be entered, which makes ZFS mount the snapshot.
/// Entering it can fail with ELOOP while another snapshot's automount runs on a busy host (OpenZFS #15766,
/// #9461); it is tried again, at most five times a second apart, and if it still fails the snapshot is read
/// through a clone instead. Any other error is left to the reader, which reports it.
fn automounted(path: &Path) -> bool {
    for _ in 0..5 {
        match std::fs::read_dir(path) {
            Err(e) if e.raw_os_error() == Some(nix::libc::ELOOP) => {
                std::thread::sleep(std::time::Duration::from_secs(1))
            }
            _ => return true,
        }
    }
    false
}

/// Whether the mount at `path` is `snap` (in `/proc/self/mountinfo`): the automount of one snapshot can land
/// at another's directory (OpenZFS #15766), and a verify must read the snapshot it names.
pub fn mounted_as(path: &Path, snap: &SnapshotName) -> bool {
    let info = std::fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
    mountinfo_has(&info, &path.to_string_lossy(), snap.as_str())
}

/// Whether `info` (mountinfo lines) has a mount of ZFS dataset `source` at `mountpoint`.
fn mountinfo_has(info: &str, mountpoint: &str, source: &str) -> bool {
    let unescape = |s: &str| s.replace("\\040", " ").replace("\\011", "\t").replace("\\012", "\n");
    info.lines().any(|l| {
        let fields: Vec<&str> = l.split(' ').collect();
        let tail = fields.iter().position(|f| *f == "-").map(|i| &fields[i + 1..]);
        fields.get(4).is_some_and(|m| unescape(m) == mountpoint)
            && tail.is_some_and(|t| t.first() == Some(&"zfs") && t.get(1).is_some_and(|s| unescape(s) == source))
    })
}

#[cfg(test)]
mod tests {
    use super::mountinfo_has;

    #[test]
    fn a_snapshot_mount_is_recognised_only_at_its_place_and_with_its_source() {
        let info = "30 1 0:26 / / rw - ext4 /dev/vda rw\n\
                    91 72 0:60 / /tmp/mnt/p/a/.zfs/snapshot/s1 ro,relatime - zfs p/a@s1 ro,xattr\n\
                    92 72 0:61 / /mnt/x\\040y/.zfs/snapshot/s1 ro - zfs p/x\\040y@s1 ro\n";
        assert!(mountinfo_has(info, "/tmp/mnt/p/a/.zfs/snapshot/s1", "p/a@s1"));
        assert!(
            !mountinfo_has(info, "/tmp/mnt/p/a/.zfs/snapshot/s1", "p/b@s1"),
            "another snapshot there"
        );
        assert!(
            !mountinfo_has(info, "/tmp/mnt/p/b/.zfs/snapshot/s1", "p/a@s1"),
            "mounted elsewhere"
        );
        assert!(
            mountinfo_has(info, "/mnt/x y/.zfs/snapshot/s1", "p/x y@s1"),
            "escaped spaces"
        );
        assert!(!mountinfo_has(info, "/", "/dev/vda"), "not ZFS");
    }
}
