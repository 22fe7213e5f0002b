//! A hostile backup host's requests to `zreplrs send-agent`: frames decoded as the agent decodes them, and
//! every `ZfsCall` (or, with a first byte of 0, the rest of the input as a NUL-separated argv) judged by the
//! agent's policy. Checked besides "no panic": whatever the policy accepts is one of the commands a pull
//! needs; every snapshot or bookmark name in it belongs to a filesystem the agent may send; hold tags,
//! created and destroyed bookmarks are this job's; only real sends stream; and a listing filtered by the
//! policy keeps only lines of allowed filesystems.
#![no_main]

use std::collections::BTreeMap;
use std::io::Cursor;

use libfuzzer_sys::fuzz_target;
use zreplrs::agent::wire::frame::read_message;
use zreplrs::agent::wire::proto::envelope::Body;
use zreplrs::agent::send::policy::{Accepted, SendPolicy};
use zreplrs::config::Filter;
use zreplrs::zfs::bookkeeping::{parse_cursor_short, parse_tentative_cursor_short, JobId};
use zreplrs::zfs::names::DatasetName;

fn policy() -> SendPolicy {
    let rules: BTreeMap<String, bool> = [("tank/data<".to_string(), true), ("tank/data/tmp<".to_string(), false)]
        .into_iter()
        .collect();
    SendPolicy {
        root: DatasetName::new("tank").unwrap(),
        filter: Filter::parse(&rules).unwrap(),
        job: JobId::new("prod").unwrap(),
        require_raw: false,
    }
}

fn allowed_dataset(p: &SendPolicy, name: &str) -> bool {
    let fs = name.split(['@', '#']).next().unwrap_or("");
    DatasetName::new(fs).is_ok_and(|d| p.allows(&d))
}

fn judge(p: &SendPolicy, argv: &[String], stream: bool) {
    let Ok(accepted) = p.check(argv, stream) else { return };
    let cmd = argv[0].as_str();
    assert!(
        ["list", "get", "holds", "hold", "release", "bookmark", "destroy", "send"].contains(&cmd),
        "accepted {argv:?}"
    );
    assert_eq!(accepted == Accepted::Stream, stream, "{argv:?}");
    if stream {
        assert!(cmd == "send" && !argv.iter().any(|a| a == "-n"), "streamed {argv:?}");
    }
    let token = argv.iter().position(|a| a == "-t").map(|i| i + 1);
    let column = argv.iter().position(|a| a == "-o").map(|i| i + 1);
    for (i, a) in argv.iter().enumerate().skip(1) {
        if Some(i) == token || Some(i) == column {
            continue;
        }
        if a.contains('@') || a.contains('#') {
            assert!(allowed_dataset(p, a), "{a} outside the policy in {argv:?}");
        }
    }
    if cmd == "hold" || cmd == "release" {
        assert_eq!(argv[1], "zrepl_STEP_J_prod", "{argv:?}");
    }
    if cmd == "destroy" || cmd == "bookmark" {
        let b = argv.last().unwrap();
        let (_, short) = b.split_once('#').unwrap_or_else(|| panic!("{argv:?} names no bookmark"));
        assert!(!b.contains('@'), "{argv:?}");
        let job = parse_cursor_short(short).or_else(|| parse_tentative_cursor_short(short));
        assert_eq!(job.map(|j| j.1), Some("prod"), "{argv:?}");
    }
}

fuzz_target!(|data: &[u8]| {
    let p = policy();
    if let Some((0, rest)) = data.split_first() {
        let argv: Vec<String> = rest.split(|b| *b == 0).map(|a| String::from_utf8_lossy(a).into_owned()).collect();
        judge(&p, &argv, false);
        judge(&p, &argv, true);
        for line in String::from_utf8_lossy(&p.filter_listing(rest)).lines() {
            let name = line.rsplit('\t').next().unwrap_or("");
            assert!(allowed_dataset(&p, name), "kept {line:?}");
        }
        return;
    }
    let mut cur = Cursor::new(data);
    for _ in 0..64 {
        match read_message(&mut cur) {
            Ok(Some(env)) => {
                if let Some(Body::ZfsCall(c)) = env.body {
                    judge(&p, &c.argv, c.stream);
                }
            }
            _ => break,
        }
    }
});
