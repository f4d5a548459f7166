//! Server side: arbitrary bytes through `decode_request`, as a connection's
//! read buffer. Checks: no panic, consumed counts are sane, every decoded
//! request re-encodes to bytes that decode to the same request, and the
//! small limits (item size, line length) are exercised too.
#![no_main]

use libfuzzer_sys::fuzz_target;
use memcached_codec::{decode_request, Limits, Recovery};

fn run(data: &[u8], limits: &Limits) {
    let mut pos = 0;
    while pos < data.len() {
        match decode_request(&data[pos..], limits) {
            Ok(Some((request, used))) => {
                assert!(used > 0 && used <= data.len() - pos);
                let mut wire = Vec::new();
                request.encode(&mut wire);
                let (again, used_again) = decode_request(&wire, limits)
                    .expect("re-encoded request must decode")
                    .expect("re-encoded request must be complete");
                assert_eq!(again, request);
                assert_eq!(used_again, wire.len());
                // Every proper prefix of the canonical form is incomplete
                // (unless it is a line longer than the limit without its
                // newline yet, which memcached answers by closing).
                for cut in [0, wire.len() / 2, wire.len() - 1] {
                    let prefix = &wire[..cut];
                    if !prefix.contains(&b'\n') && cut > limits.max_line_len {
                        continue;
                    }
                    assert_eq!(decode_request(prefix, limits), Ok(None));
                }
                pos += used;
            }
            Ok(None) => break,
            Err(e) => match e.recovery {
                Recovery::Discard(n) => {
                    assert!(n > 0);
                    pos = pos.saturating_add(n);
                }
                Recovery::Close => break,
            },
        }
    }
}

fuzz_target!(|data: &[u8]| {
    run(data, &Limits::default());
    run(data, &Limits { item_size_max: 100, max_line_len: 64, ..Limits::default() });
});
