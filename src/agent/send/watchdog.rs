//! A stall watchdog for the send-agent's stream: a peer that stops reading blocks the agent's write for
//! good, with `zfs send` (and the temporary hold ZFS keeps on the snapshot it sends) running behind it.
//! When the stream has made no progress for the limit, the watchdog kills `zfs send` and ends the agent.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{self, RecvTimeoutError};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Watches one stream until dropped.
pub struct Watchdog {
    progress: Arc<AtomicU64>,
    stop: Option<mpsc::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Watchdog {
    /// Starts watching: if [`Watchdog::moved`] is not called for `limit`, process `pid` is killed and this
    /// process exits with `code` after saying why on stderr.
    pub fn start(pid: u32, limit: Duration, code: i32) -> Self {
        let progress = Arc::new(AtomicU64::new(0));
        let (stop, stopped) = mpsc::channel::<()>();
        let seen = Arc::clone(&progress);
        let thread = std::thread::spawn(move || {
            let (mut last, mut at) = (0, Instant::now());
            while stopped.recv_timeout(Duration::from_millis(500)) == Err(RecvTimeoutError::Timeout) {
                let now = seen.load(Ordering::Relaxed);
                if now != last {
                    (last, at) = (now, Instant::now());
                } else if at.elapsed() > limit {
                    if let Ok(p) = i32::try_from(pid) {
                        let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(p), nix::sys::signal::SIGKILL);
                    }
                    eprintln!(
                        "zreplrs send-agent: the peer read nothing of the stream for {}s; stopped zfs send and \
                         ended the session",
                        limit.as_secs()
                    );
                    std::process::exit(code);
                }
            }
        });
        Watchdog {
            progress,
            stop: Some(stop),
            thread: Some(thread),
        }
    }

    /// The stream moved: restart the limit.
    pub fn moved(&self) {
        self.progress.fetch_add(1, Ordering::Relaxed);
    }
}

impl Drop for Watchdog {
    fn drop(&mut self) {
        drop(self.stop.take());
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}
