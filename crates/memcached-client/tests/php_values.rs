//! Hostile input to the PHP value reader: any flags and bytes give a value or an error, never a
//! panic, and never more output than the limit.

use bytes::Bytes;
use memcached_client::fastlz;
use memcached_client::php::{self, FLAG_COMPRESSED, FLAG_FASTLZ, FLAG_ZLIB};
use memcached_client::Item;
use proptest::prelude::*;

proptest! {
    #[test]
    fn fastlz_never_panics_and_respects_the_limit(
        stream in proptest::collection::vec(any::<u8>(), 0..300),
        limit in 0usize..2000,
    ) {
        if let Ok(out) = fastlz::decompress(&stream, limit) {
            prop_assert!(out.len() <= limit);
        }
    }

    #[test]
    fn any_flags_and_bytes_decode_or_fail_cleanly(
        flags in any::<u32>(),
        value in proptest::collection::vec(any::<u8>(), 0..300),
    ) {
        let item = Item { value: Bytes::from(value), flags, cas: None };
        let _ = php::decode(&item);
    }

    #[test]
    fn compressed_prefixes_are_checked(
        kind in prop_oneof![Just(FLAG_FASTLZ), Just(FLAG_ZLIB)],
        length in any::<u32>(),
        body in proptest::collection::vec(any::<u8>(), 0..200),
    ) {
        let mut value = length.to_le_bytes().to_vec();
        value.extend_from_slice(&body);
        if let Ok(out) = php::decompress(FLAG_COMPRESSED | kind, &value) {
            prop_assert_eq!(out.len(), length as usize);
        }
    }
}
