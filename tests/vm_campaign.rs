//! The SSH fault campaign: N transfers, each cut at a random byte offset by killing the sshd session; the
//! same run must reconnect, resume and converge every time. Part of `vm/test` (about 7 minutes under
//! emulation); `vm/campaign` runs it alone.

mod vmlib;

use std::process::{Child, Output, Stdio};
use std::time::Duration;

use vmlib::ssh::*;
use vmlib::*;

#[test]
#[ignore = "needs real ZFS: run by vm/test"]
fn fault_campaign_transfers_cut_at_random_offsets_all_converge() {
    let _s = serial();
    let sc = Scenario::new("sfc");
    let a = sc.src.ds("a");
    create_fs(&a);
    write_data(&a, "base", 6, 100_000);
    snap(&a, "s0");
    configure_ssh(&sc, "root", &[(&a, true)], FAST_RETRY, &ssh_known_hosts_line());
    assert_eq!(sc.replicate(&[]).code, 0);
    let target = sc.target(&a);
    let mut rng: u64 = 0x5eed_1234_abcd_0001;
    // Ten cuts: a crash at each point of the step protocol is vm_failpoints' part.
    let n = 10;
    let mut report = Vec::new();
    ssh_rate(Some("20mbit"));
    for i in 1..=n {
        write_data(&a, &format!("f{i}"), 100 + i, 3_000_000);
        snap(&a, &format!("s{i}"));
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        let offset = 64_000 + rng % 2_800_000;
        eprintln!("transfer {i}: cutting at {offset} bytes");
        let child = sc
            .command(&["replicate", "--job", &sc.job, "--format", "json"])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        wait_received(&target, offset);
        for pid in sshd_sessions("root") {
            let _ = try_cmd("kill", &["-9", &pid.to_string()]);
        }
        let r = run_result(finish_or_explain(
            child,
            &format!("transfer {i} cut at {offset}"),
            &target,
        ));
        assert_eq!(r.code, 0, "transfer {i} cut at {offset}: {}\n{:#}", r.stderr, r.json);
        let attempts = r.json["attempts"].as_array().unwrap().len();
        let resumed = r.json["filesystems"][0]["steps"]
            .as_array()
            .unwrap()
            .iter()
            .any(|s| s["resumed"] == true);
        report.push(format!(
            "transfer {i}: cut at {offset} bytes, {attempts} attempts, resumed {resumed}"
        ));
        sc.assert_converged(&a);
    }
    ssh_rate(None);
    println!("fault campaign, {n} transfers:\n{}", report.join("\n"));
    assert_eq!(report.len(), n as usize);
}

/// Waits for a replicate run; if it takes longer than any transfer should (5 minutes under emulation, for
/// about 3 MB), stops it with SIGTERM and fails with what it printed and what was running at the time.
fn finish_or_explain(child: Child, what: &str, target: &str) -> Output {
    let pid = child.id();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(child.wait_with_output());
    });
    if let Ok(out) = rx.recv_timeout(Duration::from_secs(300)) {
        return out.expect("wait for zreplrs replicate");
    }
    let ps = try_cmd("ps", &["-eo", "pid,ppid,etimes,args"]).unwrap_or_else(|e| e);
    let state = try_cmd(
        "zfs",
        &["list", "-t", "all", "-r", "-o", "name,receive_resume_token", target],
    )
    .unwrap_or_else(|e| e);
    let _ = try_cmd("kill", &["-TERM", &pid.to_string()]);
    let out = rx.recv_timeout(Duration::from_secs(120));
    let printed = match &out {
        Ok(Ok(o)) => format!(
            "stderr:\n{}\nstdout:\n{}",
            String::from_utf8_lossy(&o.stderr),
            String::from_utf8_lossy(&o.stdout)
        ),
        other => format!("{other:?}"),
    };
    panic!("{what}: zreplrs replicate did not finish within 300s\nprocesses:\n{ps}\nreceiver:\n{state}\n{printed}");
}
