//! Benchmark helper for `bench/s3-upload-rss.sh`: streams BYTES of pseudo-random data through the bucket
//! uploader (`objstore::upload`: multipart, one part in memory, SHA-256 per part and whole) into an S3 store,
//! then prints the throughput and this process's peak RSS (`VmHWM`).
//!   s3_upload_rss ENDPOINT BUCKET KEY_ID SECRET BYTES

use std::io::Read;
use std::time::{Duration, Instant};

use zreplrs::config::StoreConfig;
use zreplrs::objstore::s3::S3;
use zreplrs::objstore::upload::{self, Stop, Target};

/// `left` bytes of xorshift output.
struct Noise {
    state: u64,
    left: u64,
}

impl Read for Noise {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = buf.len().min(usize::try_from(self.left).unwrap_or(usize::MAX)) & !7;
        for chunk in buf[..n].chunks_exact_mut(8) {
            self.state ^= self.state << 13;
            self.state ^= self.state >> 7;
            self.state ^= self.state << 17;
            chunk.copy_from_slice(&self.state.to_le_bytes());
        }
        self.left -= n as u64;
        Ok(n)
    }
}

fn peak_rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("VmHWM:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        })
        .unwrap_or(0)
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let [_, endpoint, bucket, key_id, secret, bytes] = &args[..] else {
        return Err("usage: s3_upload_rss ENDPOINT BUCKET KEY_ID SECRET BYTES".into());
    };
    let config = StoreConfig {
        endpoint: Some(endpoint.clone()),
        region: "garage".into(),
        path_style: true,
        ..Default::default()
    };
    let creds = rusty_s3::Credentials::new(key_id.clone(), secret.clone());
    let s3 = S3::new(&config, bucket, creds, Duration::from_secs(120))?;
    let bytes: u64 = bytes.parse()?;
    let key = "rss/stream.zfs";
    let id = s3.create_multipart(key)?;
    let start = Instant::now();
    let mut source = Noise {
        state: 0x9E37_79B9_7F4A_7C15,
        left: bytes,
    };
    let target = Target {
        s3: &s3,
        key,
        upload_id: &id,
        existing: Vec::new(),
    };
    let (etags, up) = upload::upload(target, &mut source, &[], &mut |_| {}, &mut || Ok(())).map_err(|e| match e {
        Stop::Source(f) | Stop::Store(f) => f,
    })?;
    s3.complete_multipart(key, &id, &etags)?;
    let secs = start.elapsed().as_secs_f64();
    s3.delete(key)?;
    println!(
        "uploaded {} bytes in {} parts, {secs:.1} s ({:.1} MiB/s), peak RSS {:.1} MiB",
        up.size,
        up.parts.len(),
        up.size as f64 / secs / 1048576.0,
        peak_rss_kib() as f64 / 1024.0
    );
    Ok(())
}
