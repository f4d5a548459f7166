//! php-memcached values as the Rust client reads them: the first 4 bytes are the flags, the
//! rest the stored value. Checks: no panic; a successful decompression has exactly the length
//! its prefix announced; FastLZ never writes past its limit.
#![no_main]

use bytes::Bytes;
use libfuzzer_sys::fuzz_target;
use memcached_client::{fastlz, php, Item};

fuzz_target!(|data: &[u8]| {
    let Some((flags, value)) = data.split_first_chunk::<4>() else { return };
    let flags = u32::from_le_bytes(*flags);
    if let Ok(out) = php::decompress(flags, value) {
        if flags & php::FLAG_COMPRESSED != 0 {
            let announced = u32::from_le_bytes(value[..4].try_into().unwrap()) as usize;
            assert_eq!(out.len(), announced);
        }
    }
    let _ = php::decode(&Item { value: Bytes::copy_from_slice(value), flags, cas: None });
    if let Ok(out) = fastlz::decompress(value, 4096) {
        assert!(out.len() <= 4096);
    }
});
