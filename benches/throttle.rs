//! The bandwidth limiter on the host, away from the test VM's slow links: 256 MiB paced through
//! `agent::wire::throttle` (the chunk size, bucket and pacing the sender uses) into a pipe, the rate measured at the
//! reading end from its first to its last byte, as benchmark P7 measures it at the receiver. Rates the VM
//! cannot reach (40 MiB/s and more) show whether the limiter itself holds ±5 %. Run with
//! `cargo bench --bench throttle` (`THROTTLE_RUNS`, default 3).

use std::io::{Read, Write};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use zreplrs::agent::wire::splice::PIPE_SIZE;
use zreplrs::agent::wire::throttle;

const TOTAL: u64 = 256 << 20;
const MIB: f64 = 1_048_576.0;

/// Sends `TOTAL` bytes in `writers` threads sharing the bucket of `rate`; returns the rate seen by the reader.
fn measure(rate: u64, writers: u64) -> f64 {
    let (mut rx, tx) = std::io::pipe().expect("pipe");
    let reader = std::thread::spawn(move || {
        let mut buf = vec![0u8; PIPE_SIZE];
        let (mut first, mut got) = (None, 0u64);
        loop {
            let n = rx.read(&mut buf).expect("read");
            if n == 0 {
                break;
            }
            first.get_or_insert_with(Instant::now);
            got += n as u64;
        }
        let secs = first.map_or(0.0, |t| t.elapsed().as_secs_f64());
        (got, secs)
    });
    // A bucket of its own per measurement, as each run of a job starts with one.
    let bucket: throttle::SharedThrottle = Arc::new(Mutex::new(throttle::Throttle::new(rate)));
    let chunk = throttle::chunk(rate, PIPE_SIZE);
    let data = vec![7u8; chunk];
    std::thread::scope(|s| {
        for _ in 0..writers {
            let mut tx = tx.try_clone().expect("pipe clone");
            let bucket = &bucket;
            let data = &data;
            s.spawn(move || {
                let mut left = TOTAL / writers;
                while left > 0 {
                    let n = left.min(data.len() as u64);
                    tx.write_all(&data[..n as usize]).expect("write");
                    throttle::pace(bucket, n);
                    left -= n;
                }
            });
        }
    });
    drop(tx);
    let (got, secs) = reader.join().expect("reader");
    assert_eq!(got, TOTAL / writers * writers, "every byte arrived");
    got as f64 / MIB / secs
}

fn main() {
    let runs: usize = std::env::var("THROTTLE_RUNS")
        .ok()
        .and_then(|r| r.parse().ok())
        .unwrap_or(3);
    let unlimited = measure(u64::MAX / 4, 1);
    println!("throttle: 256 MiB through a pipe, unlimited {unlimited:.0} MiB/s");
    for (mib, writers) in [(10u64, 1u64), (40, 1), (40, 4), (200, 1)] {
        let rate = mib << 20;
        let mut seen: Vec<f64> = (0..runs).map(|_| measure(rate, writers)).collect();
        let per_run: Vec<String> = seen
            .iter()
            .map(|r| format!("{:+.1} %", (r / mib as f64 - 1.0) * 100.0))
            .collect();
        seen.sort_by(f64::total_cmp);
        let median = seen[seen.len() / 2];
        println!(
            "limit {mib} MiB/s, {writers} writer(s) sharing it: median {median:.2} MiB/s ({:+.1} %), runs {}",
            (median / mib as f64 - 1.0) * 100.0,
            per_run.join(", ")
        );
    }
}
