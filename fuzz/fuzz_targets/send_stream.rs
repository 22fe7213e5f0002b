//! The receiving side's stream checker (`zfs::stream::StreamCheck`) on a peer's arbitrary bytes, fed in
//! arbitrary pieces: it never panics, what it passes on is always a prefix of its input, and a stream it
//! accepts whole is passed on whole.
#![no_main]

use libfuzzer_sys::fuzz_target;
use zreplrs::zfs::stream::{Expected, PassError, StreamCheck};

fuzz_target!(|data: &[u8]| {
    // 8 bytes base GUID (0: a full stream), 8 bytes target GUID, a flags byte, a piece size byte, the stream.
    if data.len() < 18 {
        return;
    }
    let u = |b: &[u8]| u64::from_le_bytes(b.try_into().unwrap_or([0; 8]));
    let from = u(&data[..8]);
    let expected = Expected {
        from_guid: (from != 0).then_some(from),
        to_guid: u(&data[8..16]),
        raw: data[16] & 1 != 0,
        resuming: data[16] & 2 != 0,
    };
    let piece = usize::from(data[17]).max(1);
    let input = &data[18..];
    let mut check = StreamCheck::new(expected);
    let mut out = Vec::new();
    let mut refused = false;
    for chunk in input.chunks(piece) {
        match check.pass(chunk, &mut out) {
            Ok(()) => {}
            Err(PassError::Stream(_)) => {
                refused = true;
                break;
            }
            Err(PassError::Output(e)) => panic!("writing to a Vec failed: {e}"),
        }
    }
    assert!(input.starts_with(&out), "passed on something that is not a prefix of the input");
    if !refused && check.finish().is_ok() {
        assert_eq!(out.len(), input.len(), "an accepted stream is passed on whole");
    }
});
