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
    /// The files of `snap`, read-only. A filesystem that is not mounted is read through a clone
    /// `<fs>_zreplrs_verify_<pid>` next to it (this needs the `clone`, `create`, `mount` and `destroy`
    /// permissions, and root on Linux to mount); an encrypted one needs its key loaded.
    pub fn snapshot_dir(&self, snap: &SnapshotName) -> Result<SnapshotDir<'_>, ZfsError> {
        let fs = snap.dataset();
        let out = self.run(&["get", "-H", "-p", "-o", "value", "type,mounted,mountpoint", fs.as_str()])?;
        let values: Vec<&str> = out.lines().collect();
        if let [kind, mounted, mountpoint] = values[..] {
            if kind == "filesystem" && mounted == "yes" && mountpoint.starts_with('/') {
                return Ok(SnapshotDir {
                    path: Path::new(mountpoint).join(".zfs/snapshot").join(snap.short()),
                    clone: None,
                });
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
