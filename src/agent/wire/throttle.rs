//! The bandwidth limit: a token bucket that paces the bytes a transfer puts on (or takes off) the link to its
//! peer. A burst is at most one second of the rate: a transfer that was held up for a moment (a slow read from
//! `zfs send`, a busy link) makes up for it, so the average stays at the limit, but one that was slower than
//! the limit for long does not catch up by exceeding it for long. A job's connections (one per filesystem in flight) share one
//! bucket ([`shared`]), so the limit holds for the job, however many transfers run at once.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock, PoisonError};
use std::time::{Duration, Instant};

/// Smallest chunk worth a frame of its own when pacing.
const MIN_CHUNK: usize = 16 << 10;

/// Paces a byte stream to `rate` bytes per second.
#[derive(Debug)]
pub struct Throttle {
    rate: u64,
    /// Bytes that may go now without waiting (negative: owed).
    tokens: f64,
    burst: f64,
    last: Instant,
}

impl Throttle {
    pub fn new(rate: u64) -> Self {
        let rate = rate.max(1);
        let burst = (rate as f64).max(MIN_CHUNK as f64);
        Throttle {
            rate,
            tokens: 0.0,
            burst,
            last: Instant::now(),
        }
    }

    /// How long to wait, from `now`, after `n` more bytes, updating the bucket.
    fn debit(&mut self, n: u64, now: Instant) -> Duration {
        let elapsed = now.saturating_duration_since(self.last).as_secs_f64();
        self.last = now;
        self.tokens = (self.tokens + elapsed * self.rate as f64).min(self.burst) - n as f64;
        if self.tokens >= 0.0 {
            Duration::ZERO
        } else {
            Duration::from_secs_f64(-self.tokens / self.rate as f64)
        }
    }

    /// Accounts for `n` bytes that just moved and sleeps until the rate allows them.
    pub fn pace(&mut self, n: u64) {
        let wait = self.debit(n, Instant::now());
        if !wait.is_zero() {
            std::thread::sleep(wait);
        }
    }
}

/// The largest chunk to take at once at `rate` so that pacing stays smooth: about an eighth of a second of
/// the rate, within `MIN_CHUNK..=max`.
pub fn chunk(rate: u64, max: usize) -> usize {
    usize::try_from(rate / 8)
        .unwrap_or(usize::MAX)
        .clamp(MIN_CHUNK.min(max), max)
}

/// A bucket shared by the transfers of one process (one run of one job).
pub type SharedThrottle = Arc<Mutex<Throttle>>;

/// The bucket of `rate`: the same one for every connection that asks with the same rate, so that transfers
/// running at once share the limit.
pub fn shared(rate: u64) -> SharedThrottle {
    static BUCKETS: OnceLock<Mutex<HashMap<u64, SharedThrottle>>> = OnceLock::new();
    let mut buckets = BUCKETS
        .get_or_init(|| Mutex::new(HashMap::new()))
        .lock()
        .unwrap_or_else(PoisonError::into_inner);
    Arc::clone(
        buckets
            .entry(rate)
            .or_insert_with(|| Arc::new(Mutex::new(Throttle::new(rate)))),
    )
}

/// Accounts for `n` bytes on `bucket` and sleeps (without holding it) until the rate allows them.
pub fn pace(bucket: &SharedThrottle, n: u64) {
    let wait = bucket
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .debit(n, Instant::now());
    if !wait.is_zero() {
        std::thread::sleep(wait);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_bucket_owes_time_for_bytes_beyond_the_rate() {
        let t0 = Instant::now();
        let mut t = Throttle::new(1 << 20);
        t.last = t0;
        // 1 MiB at once at 1 MiB/s: one second owed.
        let w = t.debit(1 << 20, t0);
        assert!((w.as_secs_f64() - 1.0).abs() < 1e-6, "{w:?}");
        // After waiting that second, the next 512 KiB owe half a second.
        let w = t.debit(1 << 19, t0 + Duration::from_secs(1));
        assert!((w.as_secs_f64() - 0.5).abs() < 1e-6, "{w:?}");
    }

    #[test]
    fn an_idle_link_earns_at_most_a_second_of_burst() {
        let t0 = Instant::now();
        let mut t = Throttle::new(1 << 20);
        t.last = t0;
        // Idle for a minute, then 3 MiB: only 1 MiB of it is free.
        let w = t.debit(3 << 20, t0 + Duration::from_secs(60));
        assert!((w.as_secs_f64() - 2.0).abs() < 1e-6, "{w:?}");
    }

    #[test]
    fn a_paced_stream_averages_the_rate() {
        // Simulated clock: each chunk moves, then the clock advances by the owed wait.
        let t0 = Instant::now();
        let mut t = Throttle::new(10 << 20);
        t.last = t0;
        let mut now = t0;
        let chunk = super::chunk(10 << 20, 1 << 20) as u64;
        assert_eq!(chunk, 1 << 20, "an eighth of a second, at most the 1 MiB asked");
        let total = 256u64 << 20;
        let mut sent = 0;
        while sent < total {
            now += t.debit(chunk, now);
            sent += chunk;
        }
        let secs = now.duration_since(t0).as_secs_f64();
        let rate = sent as f64 / secs;
        assert!((rate / f64::from(10 << 20) - 1.0).abs() < 0.01, "{rate}");
    }

    /// Two transfers on one bucket: together they get the rate, not twice it.
    #[test]
    fn transfers_sharing_a_bucket_share_the_rate() {
        let a = shared(7 << 20);
        let b = shared(7 << 20);
        assert!(Arc::ptr_eq(&a, &b), "one bucket per rate");
        let t0 = Instant::now();
        let mut bucket = a.lock().unwrap();
        bucket.last = t0;
        bucket.tokens = 0.0;
        // Each of two transfers moves 7 MiB in the same instant: 2 s owed in all, the second waits for both.
        let w1 = bucket.debit(7 << 20, t0);
        let w2 = bucket.debit(7 << 20, t0);
        assert!(
            (w1.as_secs_f64() - 1.0).abs() < 1e-6 && (w2.as_secs_f64() - 2.0).abs() < 1e-6,
            "{w1:?} {w2:?}"
        );
    }

    #[test]
    fn chunks_stay_within_bounds() {
        assert_eq!(chunk(1024, 1 << 20), MIN_CHUNK);
        assert_eq!(chunk(1 << 30, 1 << 20), 1 << 20);
        assert_eq!(chunk(1024, 4096), 4096);
    }
}
