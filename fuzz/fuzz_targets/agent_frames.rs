//! A hostile peer's byte stream on the recv-agent connection: frames read with `read_frame`,
//! `read_data_into` and `read_message` in an input-chosen order, every decoded `ListReply` entry turned into a
//! typed entry with `from_wire` under a fixed root.
//!
//! Input: one selector byte (which reader to use for each of the next frames, two bits per frame), then the
//! stream. Checked besides "no panic": readers always make progress, DATA payloads are 1..=MAX_DATA bytes,
//! every message re-encodes and reads back equal, and `from_wire` never yields a dataset outside the root.
#![no_main]

use std::io::Cursor;

use libfuzzer_sys::fuzz_target;
use zreplrs::agent::wire::convert::{from_wire, to_wire};
use zreplrs::agent::wire::frame::{read_data_into, read_frame, read_message, write_message, DataFrame, Frame, MAX_DATA};
use zreplrs::agent::wire::proto::{envelope::Body, Envelope};
use zreplrs::zfs::names::DatasetName;
use zreplrs::zfs::VersionKind;

const ROOT: &str = "backup/hosts/web1";

fn check_envelope(root: &DatasetName, env: &Envelope) {
    let _ = env.kind_name();
    // A decoded message re-encodes into a frame that reads back equal.
    let mut buf = Vec::new();
    if write_message(&mut buf, env).is_ok() {
        let back = read_message(&mut Cursor::new(&buf));
        assert!(
            matches!(&back, Ok(Some(e)) if e == env),
            "{env:?} does not round-trip: {back:?}"
        );
    }
    if let Some(Body::ListReply(reply)) = &env.body {
        for w in &reply.filesystems {
            let Ok(e) = from_wire(root, w) else { continue };
            assert!(
                e.name == *root || e.name.is_strictly_below(root),
                "{:?} resolved outside the root to {}",
                w.name,
                e.name
            );
            assert_eq!(e.versions.len(), w.versions.len());
            assert!(e
                .versions
                .windows(2)
                .all(|p| (p[0].createtxg, p[0].kind == VersionKind::Bookmark)
                    <= (p[1].createtxg, p[1].kind == VersionKind::Bookmark)));
            // Back to the wire: same name relative to the root.
            assert_eq!(to_wire(root, &e).name, w.name);
        }
    }
}

fuzz_target!(|data: &[u8]| {
    let root = DatasetName::new(ROOT).unwrap();
    let Some((&selector, stream)) = data.split_first() else {
        return;
    };
    let mut r = Cursor::new(stream);
    let mut buf = Vec::new();
    for i in 0..256u32 {
        let before = r.position();
        let more = match (selector >> (2 * (i % 4))) & 3 {
            0 | 3 => match read_frame(&mut r) {
                Ok(Some(Frame::Message(env))) => {
                    check_envelope(&root, &env);
                    true
                }
                Ok(Some(Frame::Data(d))) => {
                    assert!(!d.is_empty() && d.len() <= MAX_DATA as usize);
                    true
                }
                Ok(Some(Frame::End { .. })) => true,
                Ok(None) => false,
                Err(e) => {
                    let _ = (e.kind(), e.to_string());
                    false
                }
            },
            1 => match read_data_into(&mut r, &mut buf) {
                Ok(DataFrame::Data(n)) => {
                    assert!(n == buf.len() && n >= 1 && n <= MAX_DATA as usize);
                    true
                }
                Ok(DataFrame::End { .. }) => true,
                Ok(DataFrame::Message(env)) => {
                    check_envelope(&root, &env);
                    true
                }
                Err(e) => {
                    let _ = (e.kind(), e.to_string());
                    false
                }
            },
            _ => match read_message(&mut r) {
                Ok(Some(env)) => {
                    check_envelope(&root, &env);
                    true
                }
                Ok(None) => false,
                Err(e) => {
                    let _ = (e.kind(), e.to_string());
                    false
                }
            },
        };
        if !more {
            break;
        }
        assert!(r.position() > before, "a successful read consumed nothing");
    }
});
