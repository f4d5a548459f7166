//! Reading values that php-memcached (3.x) wrote: its flags say how the value was stored.
//!
//! ```text
//!   flags bits:   31 ........ 16 | 15 .. 7 | 6       | 5    | 4          | 3 .. 0
//!                 user flags     |         | FASTLZ  | ZLIB | COMPRESSED | type
//!   type: 0 string, 1 long, 2 double, 3 bool, 4 PHP serialize(), 5 igbinary, 6 JSON, 7 msgpack
//!   compressed value: u32 little-endian uncompressed length, then a FastLZ or zlib stream
//! ```
//!
//! php-memcached compresses values over 2000 bytes by default (FastLZ), so a Rust service that
//! shares keys with PHP needs [`decode`] (or [`decompress`]) for anything PHP may have written.
//! [`encode`] goes the other way: a string, int, float or bool in the bytes and flags
//! php-memcached would store (zlib-compressed when large, which PHP reads whatever compression
//! it is set to write). Plain bytes with flags 0 are a PHP string too.

use std::borrow::Cow;

use bytes::Bytes;
use thiserror::Error;

use crate::fastlz::{self, FastLzError};
use crate::Item;

/// `MEMC_VAL_COMPRESSED`.
pub const FLAG_COMPRESSED: u32 = 1 << 4;
/// `MEMC_VAL_COMPRESSION_ZLIB`.
pub const FLAG_ZLIB: u32 = 1 << 5;
/// `MEMC_VAL_COMPRESSION_FASTLZ`.
pub const FLAG_FASTLZ: u32 = 1 << 6;
/// The type bits.
pub const TYPE_MASK: u32 = 0xf;
/// Where php-memcached keeps the flags a PHP program passed (`Memcached::OPT_USER_FLAGS`).
pub const USER_FLAGS_SHIFT: u32 = 16;

/// The largest value [`decompress`] produces (php-memcached's own limit is the item size).
pub const MAX_DECOMPRESSED: usize = 128 << 20;

/// Why a PHP value could not be read.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum PhpValueError {
    /// Compressed, but shorter than the 4-byte length prefix.
    #[error("compressed value without its length prefix")]
    MissingLength,
    /// Compressed with neither the FastLZ nor the zlib bit.
    #[error("compressed value of unknown compression (flags {0:#x})")]
    UnknownCompression(u32),
    /// The FastLZ stream is broken.
    #[error(transparent)]
    FastLz(#[from] FastLzError),
    /// The zlib stream is broken.
    #[error("zlib: {0}")]
    Zlib(String),
    /// The stream did not produce the length the prefix announced.
    #[error("decompressed {got} bytes, the value said {expected}")]
    LengthMismatch {
        /// From the prefix.
        expected: usize,
        /// Produced.
        got: usize,
    },
    /// The prefix announces more than [`MAX_DECOMPRESSED`].
    #[error("value would decompress to {0} bytes")]
    TooLarge(usize),
    /// A long, double or bool whose text does not parse.
    #[error("{kind} value {text:?} does not parse")]
    BadScalar {
        /// `long`, `double` or `bool`.
        kind: &'static str,
        /// The stored text.
        text: String,
    },
}

/// A value as PHP stored it.
#[derive(Debug, Clone, PartialEq)]
pub enum PhpValue {
    /// A PHP string (any bytes).
    String(Bytes),
    /// A PHP int.
    Long(i64),
    /// A PHP float.
    Double(f64),
    /// A PHP bool.
    Bool(bool),
    /// `serialize()` output (arrays, objects).
    Serialized(Bytes),
    /// igbinary output.
    Igbinary(Bytes),
    /// JSON text.
    Json(Bytes),
    /// msgpack bytes.
    Msgpack(Bytes),
    /// A type code php-memcached 3.x does not define.
    Unknown(u32, Bytes),
}

/// The value bytes with PHP's compression undone (borrowed when the value is not compressed).
pub fn decompress(flags: u32, value: &[u8]) -> Result<Cow<'_, [u8]>, PhpValueError> {
    if flags & FLAG_COMPRESSED == 0 {
        return Ok(Cow::Borrowed(value));
    }
    let (prefix, stream) = value.split_first_chunk::<4>().ok_or(PhpValueError::MissingLength)?;
    let expected = u32::from_le_bytes(*prefix) as usize;
    if expected > MAX_DECOMPRESSED {
        return Err(PhpValueError::TooLarge(expected));
    }
    let out = if flags & FLAG_FASTLZ != 0 {
        fastlz::decompress(stream, expected)?
    } else if flags & FLAG_ZLIB != 0 {
        miniz_oxide::inflate::decompress_to_vec_zlib_with_limit(stream, expected)
            .map_err(|e| PhpValueError::Zlib(format!("{:?}", e.status)))?
    } else {
        return Err(PhpValueError::UnknownCompression(flags));
    };
    if out.len() != expected {
        return Err(PhpValueError::LengthMismatch { expected, got: out.len() });
    }
    Ok(Cow::Owned(out))
}

/// How [`encode`] stores a value; the defaults are php-memcached's.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EncodeOptions {
    /// Values of at least this many bytes are compressed (php-memcached's
    /// `memcached.compression_threshold`, 2000); `None` never compresses.
    pub compression_threshold: Option<usize>,
    /// The flags a PHP program would pass with the value (`OPT_USER_FLAGS`).
    pub user_flags: u16,
}

impl Default for EncodeOptions {
    fn default() -> Self {
        EncodeOptions { compression_threshold: Some(2000), user_flags: 0 }
    }
}

/// php-memcached keeps a compressed form only when the value is this many times larger.
const COMPRESSION_FACTOR: f64 = 1.3;

/// A value in the form php-memcached stores it: `(flags, bytes)` for a `set`. Large values are
/// zlib-compressed (with the 4-byte length prefix) when that saves what php-memcached asks
/// for; floats are written so that PHP and [`decode`] read back the same `f64`.
pub fn encode(value: &PhpValue, options: &EncodeOptions) -> (u32, Vec<u8>) {
    let (kind, bytes): (u32, Cow<'_, [u8]>) = match value {
        PhpValue::String(b) => (0, Cow::Borrowed(b)),
        PhpValue::Long(n) => (1, Cow::Owned(n.to_string().into_bytes())),
        PhpValue::Double(x) => (2, Cow::Owned(double_text(*x).into_bytes())),
        PhpValue::Bool(b) => (3, Cow::Borrowed(if *b { b"1" } else { b"" })),
        PhpValue::Serialized(b) => (4, Cow::Borrowed(b)),
        PhpValue::Igbinary(b) => (5, Cow::Borrowed(b)),
        PhpValue::Json(b) => (6, Cow::Borrowed(b)),
        PhpValue::Msgpack(b) => (7, Cow::Borrowed(b)),
        PhpValue::Unknown(kind, b) => (kind & TYPE_MASK, Cow::Borrowed(b)),
    };
    let flags = u32::from(options.user_flags) << USER_FLAGS_SHIFT | kind;
    let large = options.compression_threshold.is_some_and(|t| bytes.len() >= t);
    if large && bytes.len() <= u32::MAX as usize {
        let stream = miniz_oxide::deflate::compress_to_vec_zlib(&bytes, 6);
        if bytes.len() as f64 > stream.len() as f64 * COMPRESSION_FACTOR {
            let mut out = Vec::with_capacity(4 + stream.len());
            out.extend_from_slice(&(bytes.len() as u32).to_le_bytes());
            out.extend_from_slice(&stream);
            return (flags | FLAG_COMPRESSED | FLAG_ZLIB, out);
        }
    }
    (flags, bytes.into_owned())
}

/// A float as text both PHP (`zend_strtod`) and Rust parse back to the same value: the
/// shortest round-trip digits, with an exponent when large or small, and PHP's own spelling
/// of infinities and NaN.
fn double_text(x: f64) -> String {
    if x.is_nan() {
        "NaN".into()
    } else if x.is_infinite() {
        if x > 0.0 { "Infinity" } else { "-Infinity" }.into()
    } else if x != 0.0 && !(1e-5..1e16).contains(&x.abs()) {
        format!("{x:e}")
    } else {
        format!("{x}")
    }
}

/// The PHP flags a PHP program passed with the value (`OPT_USER_FLAGS`).
pub fn user_flags(flags: u32) -> u32 {
    flags >> USER_FLAGS_SHIFT
}

/// Reads an item PHP wrote: decompresses it and interprets its type.
pub fn decode(item: &Item) -> Result<PhpValue, PhpValueError> {
    let bytes = match decompress(item.flags, &item.value)? {
        Cow::Borrowed(_) => item.value.clone(),
        Cow::Owned(v) => Bytes::from(v),
    };
    let text = || String::from_utf8_lossy(&bytes).into_owned();
    let bad = |kind| PhpValueError::BadScalar { kind, text: text() };
    Ok(match item.flags & TYPE_MASK {
        0 => PhpValue::String(bytes),
        1 => PhpValue::Long(text().trim().parse().map_err(|_| bad("long"))?),
        2 => PhpValue::Double(text().trim().parse().map_err(|_| bad("double"))?),
        3 => PhpValue::Bool(match &bytes[..] {
            b"" | b"0" => false,
            b"1" => true,
            _ => return Err(bad("bool")),
        }),
        4 => PhpValue::Serialized(bytes),
        5 => PhpValue::Igbinary(bytes),
        6 => PhpValue::Json(bytes),
        7 => PhpValue::Msgpack(bytes),
        other => PhpValue::Unknown(other, bytes),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn item(flags: u32, value: &[u8]) -> Item {
        Item { value: Bytes::copy_from_slice(value), flags, cas: None }
    }

    #[test]
    fn scalars_and_plain_strings() {
        assert_eq!(decode(&item(0, b"hi")).unwrap(), PhpValue::String(Bytes::from_static(b"hi")));
        assert_eq!(decode(&item(1, b"-42")).unwrap(), PhpValue::Long(-42));
        assert_eq!(decode(&item(2, b"1.5")).unwrap(), PhpValue::Double(1.5));
        assert_eq!(decode(&item(3, b"1")).unwrap(), PhpValue::Bool(true));
        assert_eq!(decode(&item(3, b"")).unwrap(), PhpValue::Bool(false));
        assert!(matches!(decode(&item(1, b"x")), Err(PhpValueError::BadScalar { .. })));
        assert_eq!(user_flags(7 << USER_FLAGS_SHIFT | 4), 7);
    }

    #[test]
    fn encoded_values_decode_to_themselves() {
        let text = Bytes::from(b"abcdefgh".repeat(1000));
        let values = [
            PhpValue::String(Bytes::from_static(b"hi")),
            PhpValue::String(text.clone()),
            PhpValue::Long(i64::MIN),
            PhpValue::Double(0.1),
            PhpValue::Double(-1e300),
            PhpValue::Double(f64::INFINITY),
            PhpValue::Bool(true),
            PhpValue::Bool(false),
            PhpValue::Json(Bytes::from_static(b"[1,2]")),
        ];
        for value in values {
            let (flags, bytes) =
                encode(&value, &EncodeOptions { user_flags: 9, ..Default::default() });
            assert_eq!(user_flags(flags), 9);
            let back = decode(&item(flags, &bytes)).unwrap();
            assert_eq!(back, value);
        }
        let (flags, bytes) = encode(&PhpValue::String(text), &EncodeOptions::default());
        assert_eq!(flags, FLAG_COMPRESSED | FLAG_ZLIB, "8000 repetitive bytes are compressed");
        assert!(bytes.len() < 200);
        let mut state = 0x9e37_79b9_7f4a_7c15u64;
        let random: Vec<u8> = (0..3000)
            .map(|_| {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                state as u8
            })
            .collect();
        let (flags, _) = encode(&PhpValue::String(Bytes::from(random)), &EncodeOptions::default());
        assert_eq!(flags, 0, "kept plain when compression saves too little");
        let nan = encode(&PhpValue::Double(f64::NAN), &EncodeOptions::default());
        assert!(matches!(decode(&item(nan.0, &nan.1)).unwrap(), PhpValue::Double(x) if x.is_nan()));
    }

    #[test]
    fn broken_compressed_values_are_errors() {
        let c = FLAG_COMPRESSED | FLAG_FASTLZ;
        assert_eq!(decompress(c, b"ab"), Err(PhpValueError::MissingLength));
        assert_eq!(
            decompress(FLAG_COMPRESSED, b"\x01\0\0\0a"),
            Err(PhpValueError::UnknownCompression(FLAG_COMPRESSED))
        );
        assert_eq!(
            decompress(c, &[0xff, 0xff, 0xff, 0xff]),
            Err(PhpValueError::TooLarge(u32::MAX as usize))
        );
        // A literal of 3 bytes where the prefix promised 5.
        assert_eq!(
            decompress(c, b"\x05\0\0\0\x02abc"),
            Err(PhpValueError::LengthMismatch { expected: 5, got: 3 })
        );
        assert!(matches!(
            decompress(FLAG_COMPRESSED | FLAG_ZLIB, b"\x05\0\0\0garbage"),
            Err(PhpValueError::Zlib(_))
        ));
    }
}
