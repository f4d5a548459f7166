//! Hostile input to the PHP value reader: any flags and bytes give a value or an error, never a
//! panic, and never more output than the limit. And what `php::encode` writes reads back.

use bytes::Bytes;
use memcached_client::fastlz;
use memcached_client::php::{self, FLAG_COMPRESSED, FLAG_FASTLZ, FLAG_ZLIB};
use memcached_client::Item;
use proptest::prelude::*;

fn php_value() -> impl Strategy<Value = php::PhpValue> {
    use php::PhpValue;
    prop_oneof![
        proptest::collection::vec(any::<u8>(), 0..3000).prop_map(|b| PhpValue::String(b.into())),
        // Repetitive, so that large ones get compressed.
        (proptest::collection::vec(any::<u8>(), 1..8), 0usize..1000)
            .prop_map(|(b, n)| PhpValue::String(b.repeat(n).into())),
        any::<i64>().prop_map(PhpValue::Long),
        any::<f64>()
            .prop_filter("NaN is not equal to itself", |x| !x.is_nan())
            .prop_map(PhpValue::Double),
        any::<bool>().prop_map(PhpValue::Bool),
        proptest::collection::vec(any::<u8>(), 0..100).prop_map(|b| PhpValue::Json(b.into())),
    ]
}

proptest! {
    #[test]
    fn encoded_values_decode_to_themselves(
        value in php_value(),
        threshold in prop_oneof![Just(None), (0usize..3000).prop_map(Some)],
        user_flags in any::<u16>(),
    ) {
        let options = php::EncodeOptions { compression_threshold: threshold, user_flags };
        let (flags, bytes) = php::encode(&value, &options);
        prop_assert_eq!(php::user_flags(flags), u32::from(user_flags));
        let item = Item { value: Bytes::from(bytes), flags, cas: None };
        prop_assert_eq!(php::decode(&item).unwrap(), value);
    }

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
