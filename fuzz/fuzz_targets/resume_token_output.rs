//! `zfs send -nvt TOKEN` output (which a hostile receiver influences through its token) parsed by
//! `parse_token_output`, and a decoded token fed to the planner against a fixed sender and receiver.
#![no_main]

use libfuzzer_sys::fuzz_target;
use zreplrs::config::{InitialReplication, SnapshotFilter};
use zreplrs::plan::{plan_filesystem, FsPlan, Policy, TokenState};
use zreplrs::zfs::list::FsEntry;
use zreplrs::zfs::names::DatasetName;
use zreplrs::zfs::token::parse_token_output;
use zreplrs::zfs::{Guid, Version, VersionKind, ZfsErrorKind};

fn snap(short: &str, guid: u64, txg: u64) -> Version {
    Version {
        kind: VersionKind::Snapshot,
        short: short.into(),
        guid: Guid(guid),
        createtxg: txg,
        userrefs: Some(0),
        creation: None,
    }
}

fn fs(name: &str, versions: Vec<Version>) -> FsEntry {
    FsEntry {
        guid: Guid(1),
        createtxg: 1,
        resume_token: Some("1-abc".into()),
        encryption: Some("aes-256-gcm".into()),
        versions,
        ..FsEntry::named(DatasetName::new(name).unwrap())
    }
}

fuzz_target!(|data: &[u8]| {
    let Ok(out) = std::str::from_utf8(data) else {
        return;
    };
    let args: Vec<String> = ["send", "-n", "-v", "-t", "1-abc"].map(String::from).to_vec();
    match parse_token_output(&args, out) {
        Err(e) => {
            assert_eq!(e.kind, ZfsErrorKind::InvalidResumeToken);
            let _ = e.to_string();
        }
        Ok(t) => {
            assert!(t.toname.contains('@'));
            assert_ne!(t.fromguid, Some(Guid(0)));
            let sender = fs(
                "tank/data",
                vec![
                    snap("a", 0x46f626fea92a89af, 10),
                    snap("b", 0x7b604c01bd7168bd, 20),
                    snap("c", u64::MAX, 30),
                ],
            );
            let receivers = [None, Some(fs("b/tank/data", vec![snap("a", 0x46f626fea92a89af, 5)]))];
            for receiver in &receivers {
                for raw in [false, true] {
                    let policy = Policy {
                        initial: InitialReplication::All,
                        encrypted: raw,
                        raw,
                        snapshots: SnapshotFilter::default(),
                    };
                    let token = TokenState::Decoded {
                        token: "1-abc".into(),
                        decoded: t.clone(),
                    };
                    let plan = plan_filesystem(&sender, receiver.as_ref(), &token, &policy);
                    // Whatever the token says, only the sender's snapshots are ever sent.
                    if let FsPlan::Replicate { steps, .. } = &plan {
                        for s in steps {
                            assert!(sender.versions.contains(&s.to));
                        }
                    }
                }
            }
        }
    }
});
