//! Client side: arbitrary bytes through `decode_response`. Checks: no panic,
//! the buffer only shrinks on success, and every decoded element re-encodes
//! to bytes that decode to the same element.
#![no_main]

use bytes::BytesMut;
use libfuzzer_sys::fuzz_target;
use memcached_codec::decode_response;

fuzz_target!(|data: &[u8]| {
    let mut buf = BytesMut::from(data);
    loop {
        let before = buf.len();
        match decode_response(&mut buf) {
            Ok(Some(response)) => {
                assert!(buf.len() < before);
                let mut wire = BytesMut::new();
                response.encode(&mut wire);
                let again = decode_response(&mut wire)
                    .expect("re-encoded response must decode")
                    .expect("re-encoded response must be complete");
                assert_eq!(again, response);
                assert!(wire.is_empty());
            }
            Ok(None) | Err(_) => {
                assert_eq!(buf.len(), before);
                break;
            }
        }
    }
});
