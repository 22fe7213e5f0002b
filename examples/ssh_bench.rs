//! Throughput probe for the ssh2 transport (used by bench/ssh-throughput.sh): copies stdin through one
//! SSH channel into `cat >/dev/null` on the server, as a replication stream travels, and prints
//! bytes, seconds and MiB/s.
//!
//! `ssh_bench USER HOST PORT IDENTITY KNOWN_HOSTS CIPHER < data`

use std::io::Read;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use zreplrs::agent::wire::splice::ChunkMover;
use zreplrs::transport::ssh::{open_exec, SshParams};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let a: Vec<String> = std::env::args().collect();
    if a.len() != 7 {
        return Err("usage: ssh_bench USER HOST PORT IDENTITY KNOWN_HOSTS CIPHER < data".into());
    }
    let params = SshParams {
        user: a[1].clone(),
        host: a[2].clone(),
        port: a[3].parse()?,
        identity_files: vec![PathBuf::from(&a[4])],
        known_hosts: PathBuf::from(&a[5]),
        accept_new_host_keys: false,
        connect_timeout: Duration::from_secs(10),
        stall_timeout: Duration::from_secs(60),
        ciphers: Some(a[6].clone()),
    };
    let start = Instant::now();
    let (mut reader, mut writer) = open_exec(&params, "cat >/dev/null")?;
    // The sender's data path: chunks spliced from the source pipe into the transport's pipe (see
    // zreplrs::agent::wire::splice), then encrypted by the pump thread.
    let mut mover = ChunkMover::new();
    let mut total: u64 = 0;
    let mut stdin = std::io::stdin();
    loop {
        let n = mover.fill(&mut stdin)?;
        if n == 0 {
            break;
        }
        mover.deliver(n, &mut writer)?;
        total += n as u64;
    }
    drop(writer);
    // The server's `cat` exits after our EOF; its channel EOF ends the reader.
    let mut sink = Vec::new();
    reader.read_to_end(&mut sink)?;
    let secs = start.elapsed().as_secs_f64();
    println!("{total} bytes {secs:.3} s {:.1} MiB/s", total as f64 / secs / 1048576.0);
    Ok(())
}
