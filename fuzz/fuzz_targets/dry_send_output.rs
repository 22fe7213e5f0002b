//! `zfs send -n -v -P` output parsed by `parse_dry_send`: never panics, and a well-formed `size` line wins.
#![no_main]

use libfuzzer_sys::fuzz_target;
use zreplrs::zfs::send::{parse_dry_send, SizeEstimate};

fuzz_target!(|data: &[u8]| {
    let Ok(out) = std::str::from_utf8(data) else {
        return;
    };
    let estimate = parse_dry_send(out);
    let first_size = out.lines().find_map(|l| {
        let (key, n) = l.split_once('\t')?;
        if key != "size" || n.contains('\t') {
            return None;
        }
        n.trim().parse::<u64>().ok()
    });
    if let Some(n) = first_size {
        assert_eq!(estimate, SizeEstimate::Bytes(n));
    }
    let _ = estimate.bytes();
});
