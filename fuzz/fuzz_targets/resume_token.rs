//! The native resume-token decoder (hex → zlib → packed nvlist) on arbitrary tokens, and the nvlist decoder
//! on arbitrary bytes: neither may panic; a decoded token always names a valid snapshot.
#![no_main]

use libfuzzer_sys::fuzz_target;
use zreplrs::zfs::names::SnapshotName;
use zreplrs::zfs::nvlist;
use zreplrs::zfs::token::decode_native;

fuzz_target!(|data: &[u8]| {
    let _ = nvlist::decode(data);
    if let Ok(token) = std::str::from_utf8(data) {
        if let Ok(t) = decode_native(token) {
            assert!(SnapshotName::new(&t.toname).is_ok(), "{t:?}");
        }
    }
    // The same bytes as a token's payload, so the fuzzer reaches the nvlist through a valid envelope.
    let token = zreplrs::zfs::token::wrap_payload_for_tests(data);
    if let Ok(t) = decode_native(&token) {
        assert!(SnapshotName::new(&t.toname).is_ok(), "{t:?}");
    }
});
