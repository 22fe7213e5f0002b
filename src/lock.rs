//! The per-job lock: an exclusive `flock` on `<lock dir>/zreplrs-<job>.lock`, held for the life of the run,
//! so a second concurrent run of the same job exits with code 4 and touches nothing. The kernel releases it
//! when the process dies, so a killed run never leaves a stale lock behind.

use std::fs::File;
use std::os::fd::AsFd;

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
}

/// A held job lock; released on drop.
#[derive(Debug)]
pub struct JobLock {
    _lock: Flock<File>,
    pub path: Utf8PathBuf,
}

/// The default lock directory: `/run/lock` when writable, else `$XDG_RUNTIME_DIR`, else the temp dir.
pub fn default_lock_dir() -> Utf8PathBuf {
    let run_lock = Utf8Path::new("/run/lock");
    if nix::unistd::access(run_lock.as_std_path(), nix::unistd::AccessFlags::W_OK).is_ok() {
        return run_lock.to_path_buf();
    }
    if let Some(x) = std::env::var_os("XDG_RUNTIME_DIR").and_then(|p| Utf8PathBuf::from_path_buf(p.into()).ok()) {
        return x;
    }
    Utf8PathBuf::from_path_buf(std::env::temp_dir()).unwrap_or_else(|_| Utf8PathBuf::from("/tmp"))
}

/// Takes the job lock without waiting.
pub fn lock_job(dir: &Utf8Path, job: &JobId) -> Result<JobLock, LockError> {
    let path = dir.join(format!("zreplrs-{job}.lock"));
    let file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .map_err(|source| LockError::Io {
            path: path.clone(),
            source,
        })?;
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
}
