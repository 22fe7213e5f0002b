//! The per-job lock: an exclusive `flock` on `<lock dir>/zreplrs-<job>.lock`, held for the life of the run,
//! so a second concurrent run of the same job exits with code 4 and touches nothing. The kernel releases it
//! when the process dies, so a killed run never leaves a stale lock behind.
//!
//! The default directory is private to the user running zreplrs (`/run/zreplrs`, mode 0700, for root), so no
//! other local user can take a job's lock and make every run exit 4. Lock files are created with mode 0600
//! and opened without following symlinks; a lock file owned by another user is refused (exit 3) rather than
//! shared.

use std::fs::File;
use std::os::fd::AsFd;
use std::os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt, PermissionsExt};

use camino::{Utf8Path, Utf8PathBuf};
use nix::fcntl::{Flock, FlockArg};

use crate::zfs::bookkeeping::JobId;

/// Why the lock could not be taken.
#[derive(Debug, thiserror::Error)]
pub enum LockError {
    #[error("another run of job {job} is in progress (lock {path} is held); try again when it has finished")]
    Held { job: String, path: Utf8PathBuf },
    #[error("cannot open lock file {path}: {source}")]
    Io { path: Utf8PathBuf, source: std::io::Error },
    #[error(
        "refusing lock {path}: {why}; use a lock directory only this user can write (the default is /run/zreplrs)"
    )]
    Unsafe { path: Utf8PathBuf, why: String },
}

/// A held job lock; released on drop.
#[derive(Debug)]
pub struct JobLock {
    _lock: Flock<File>,
    pub path: Utf8PathBuf,
}

/// The default lock directory, private to this user: `$ZREPLRS_LOCK_DIR` when it is an absolute path, else
/// `/run/zreplrs` for root, else `$XDG_RUNTIME_DIR/zreplrs`, else `<temp dir>/zreplrs-<uid>`. [`lock_job`]
/// creates it (mode 0700).
pub fn default_lock_dir() -> Utf8PathBuf {
    if let Some(d) = std::env::var_os("ZREPLRS_LOCK_DIR").and_then(|p| Utf8PathBuf::from_path_buf(p.into()).ok()) {
        if d.is_absolute() {
            return d;
        }
    }
    let uid = nix::unistd::geteuid();
    if uid.is_root() {
        return Utf8PathBuf::from("/run/zreplrs");
    }
    if let Some(x) = std::env::var_os("XDG_RUNTIME_DIR").and_then(|p| Utf8PathBuf::from_path_buf(p.into()).ok()) {
        return x.join("zreplrs");
    }
    let tmp = Utf8PathBuf::from_path_buf(std::env::temp_dir()).unwrap_or_else(|_| Utf8PathBuf::from("/tmp"));
    tmp.join(format!("zreplrs-{uid}"))
}

/// Creates `dir` (mode 0700) if it does not exist, and checks that it is a real directory of this user that
/// nobody else can write. Only for the default directory: a configured one is the administrator's choice.
fn ensure_private_dir(dir: &Utf8Path) -> Result<(), LockError> {
    let unsafe_dir = |why: String| LockError::Unsafe {
        path: dir.to_path_buf(),
        why,
    };
    match std::fs::DirBuilder::new().mode(0o700).create(dir) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
        Err(source) => {
            return Err(LockError::Io {
                path: dir.to_path_buf(),
                source,
            })
        }
    }
    let meta = std::fs::symlink_metadata(dir).map_err(|source| LockError::Io {
        path: dir.to_path_buf(),
        source,
    })?;
    if !meta.file_type().is_dir() {
        return Err(unsafe_dir("it is not a directory (a symlink?)".into()));
    }
    if meta.uid() != nix::unistd::geteuid().as_raw() {
        return Err(unsafe_dir(format!("the directory belongs to uid {}", meta.uid())));
    }
    if meta.permissions().mode() & 0o022 != 0 {
        return Err(unsafe_dir(format!(
            "the directory is writable by others (mode {:o})",
            meta.permissions().mode() & 0o7777
        )));
    }
    Ok(())
}

/// Takes the job lock without waiting, in `dir` (`None`: the [default](default_lock_dir), created if needed).
pub fn lock_job_in(dir: Option<&Utf8Path>, job: &JobId) -> Result<JobLock, LockError> {
    match dir {
        Some(d) => lock_job(d, job),
        None => {
            let d = default_lock_dir();
            ensure_private_dir(&d)?;
            lock_job(&d, job)
        }
    }
}

/// Takes the job lock in `dir` without waiting. The lock file is created with mode 0600 and opened without
/// following a symlink; one that belongs to another user is refused.
pub fn lock_job(dir: &Utf8Path, job: &JobId) -> Result<JobLock, LockError> {
    let path = dir.join(format!("zreplrs-{job}.lock"));
    let file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .mode(0o600)
        .custom_flags(nix::libc::O_NOFOLLOW)
        .open(&path)
        .map_err(|source| LockError::Io {
            path: path.clone(),
            source,
        })?;
    let meta = file.metadata().map_err(|source| LockError::Io {
        path: path.clone(),
        source,
    })?;
    if !meta.file_type().is_file() {
        return Err(LockError::Unsafe {
            path,
            why: "it is not a regular file".into(),
        });
    }
    if meta.uid() != nix::unistd::geteuid().as_raw() {
        return Err(LockError::Unsafe {
            path,
            why: format!("the file belongs to uid {}, not to this user", meta.uid()),
        });
    }
    match Flock::lock(file, FlockArg::LockExclusiveNonblock) {
        Ok(lock) => {
            let _ = lock.as_fd();
            Ok(JobLock { _lock: lock, path })
        }
        Err((_, nix::errno::Errno::EWOULDBLOCK)) => Err(LockError::Held {
            job: job.to_string(),
            path,
        }),
        Err((_, e)) => Err(LockError::Io {
            path,
            source: std::io::Error::from(e),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn second_lock_of_the_same_job_is_refused_until_released() {
        let dir = tempfile::tempdir().unwrap();
        let d = Utf8Path::from_path(dir.path()).unwrap();
        let job = JobId::new("j1").unwrap();
        let first = lock_job(d, &job).unwrap();
        let e = lock_job(d, &job).unwrap_err();
        assert!(matches!(e, LockError::Held { .. }), "{e}");
        assert!(e.to_string().contains("another run of job j1"), "{e}");
        let other = lock_job(d, &JobId::new("j2").unwrap());
        assert!(other.is_ok(), "other jobs are independent");
        drop(first);
        assert!(lock_job(d, &job).is_ok());
        assert!(matches!(lock_job(&d.join("missing"), &job), Err(LockError::Io { .. })));
    }

    #[test]
    fn lock_files_are_private_and_symlinks_are_not_followed() {
        let dir = tempfile::tempdir().unwrap();
        let d = Utf8Path::from_path(dir.path()).unwrap();
        let job = JobId::new("j").unwrap();
        let l = lock_job(d, &job).unwrap();
        let mode = std::fs::metadata(&l.path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        drop(l);
        // A symlink planted where the lock file goes is not followed (the target stays untouched).
        let target = d.join("victim");
        std::fs::write(&target, "keep").unwrap();
        let job2 = JobId::new("k").unwrap();
        std::os::unix::fs::symlink(&target, d.join("zreplrs-k.lock")).unwrap();
        assert!(matches!(lock_job(d, &job2), Err(LockError::Io { .. })));
        assert_eq!(std::fs::read_to_string(&target).unwrap(), "keep");
    }

    #[test]
    fn default_directory_is_created_private_and_checked() {
        let dir = tempfile::tempdir().unwrap();
        let d = Utf8Path::from_path(dir.path()).unwrap().join("locks");
        ensure_private_dir(&d).unwrap();
        let mode = std::fs::metadata(&d).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o700);
        std::fs::set_permissions(&d, std::fs::Permissions::from_mode(0o777)).unwrap();
        let e = ensure_private_dir(&d).unwrap_err();
        assert!(e.to_string().contains("writable by others"), "{e}");
        let link = Utf8Path::from_path(dir.path()).unwrap().join("link");
        std::os::unix::fs::symlink("/tmp", &link).unwrap();
        assert!(matches!(ensure_private_dir(&link), Err(LockError::Unsafe { .. })));
    }
}
