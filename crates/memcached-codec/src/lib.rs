//! memcached text and meta protocol codec (memcached 1.6.18), both
//! directions, no I/O, no storage.
//!
//! ```text
//!            server side                                  client side
//!  read buf ─> decode_request ─> Request<'_>     Request::encode / encode_* ─> write buf
//!  write buf <─ response::encode_* / meta::encode_*      decode_response(&mut BytesMut) ─> Response
//!               ErrorKind::encode / DecodeError
//! ```
//!
//! # Public API
//!
//! Server side (decode requests, encode replies):
//! * [`decode_request`]`(input, &Limits) -> Result<Option<(Request<'_>, usize)>, DecodeError>`:
//!   zero-copy; keys and values are `&[u8]` into `input`; multi-get keys are a
//!   non-allocating [`Keys`] view; `Ok(None)` = incomplete (data blocks may be split
//!   across reads); `usize` = bytes consumed.
//! * [`DecodeError`]: [`ErrorKind`] (memcached's exact line, [`DecodeError::response_line`]),
//!   [`Recovery`] (`Discard(n)`, possibly more than buffered when a data block is
//!   swallowed, or `Close`), and `noreply` (the line must not be sent).
//! * [`Limits`]: max key length (250), item size max (`-I`), max line length (2048), cas on/off.
//! * [`Request`]: [`StorageRequest`], [`RetrievalRequest`], [`DeleteRequest`],
//!   [`ArithmeticRequest`], [`TouchRequest`], meta ([`MetaRequest`], [`MetaSetRequest`],
//!   [`MetaArithmeticRequest`], [`MetaDebugRequest`], `MetaNoop`), [`StatsRequest`],
//!   and admin variants (`FlushAll`, `Version`, `Verbosity`, `Quit`, `Shutdown`,
//!   `CacheMemlimit`, `SlabsReassign`, `SlabsAutomove`, `Lru`, `LruCrawler`, `Watch`);
//!   [`Request::name`], [`Request::key`], [`Request::is_quiet`].
//! * Meta flags: [`MetaFlags`] (parsed values + request-order [`MetaTokens`]),
//!   [`MetaKey`] (base64 keys decoded into a caller stack buffer, [`KEY_BUFFER_LEN`]).
//! * Reply encoders, all appending to any `bytes::BufMut` (`Vec<u8>` or `BytesMut`):
//!   [`encode_value`], [`encode_value_header`], [`encode_end`], [`StatusLine`]
//!   (STORED, NOT_STORED, EXISTS, NOT_FOUND, DELETED, TOUCHED, OK, RESET, END, admin
//!   lines), [`encode_number`], [`encode_stat`], [`encode_stat_u64`], [`encode_stat_fmt`],
//!   [`encode_version`], [`ErrorKind::encode`]; meta: [`MetaReply`] (piecewise),
//!   [`encode_meta_get_hit`], [`encode_meta_status`], [`encode_meta_set_result`],
//!   [`encode_meta_arithmetic_hit`], [`encode_meta_noop_reply`], [`encode_meta_debug_reply`],
//!   [`MetaStatus::hidden_by_quiet`].
//!
//! Client side (encode requests, decode replies):
//! * [`Request::encode`] for any request, or the direct encoders [`encode_storage`],
//!   [`encode_retrieval`], [`encode_delete`], [`encode_arithmetic`], [`encode_touch`],
//!   [`encode_meta`], [`encode_meta_set`], [`encode_meta_noop`], [`encode_stats`],
//!   [`encode_flush_all`].
//! * [`decode_response`]`(&mut BytesMut) -> Result<Option<Response>, ResponseError>`:
//!   one reply element at a time ([`Response::Value`] per `VALUE`, then
//!   `Status(End)`); values are `Bytes` split off the buffer without copying.
//!
//! # Example
//!
//! ```
//! use memcached_codec::{decode_request, encode_value, encode_end, Limits, Request, StatusLine};
//!
//! let limits = Limits::default();
//! let input = b"set greeting 0 0 5\r\nhello\r\nget greeting other\r\n";
//! let mut out = Vec::new();
//! let mut pos = 0;
//! while let Some((request, used)) = decode_request(&input[pos..], &limits).unwrap() {
//!     match request {
//!         Request::Storage(set) => {
//!             assert_eq!((set.key, set.data), (&b"greeting"[..], &b"hello"[..]));
//!             StatusLine::Stored.encode(&mut out);
//!         }
//!         Request::Retrieval(get) => {
//!             for key in get.keys.iter() {
//!                 if key == b"greeting" {
//!                     encode_value(&mut out, key, 0, None, b"hello");
//!                 }
//!             }
//!             encode_end(&mut out);
//!         }
//!         _ => unreachable!(),
//!     }
//!     pos += used;
//! }
//! assert_eq!(out, b"STORED\r\nVALUE greeting 0 5\r\nhello\r\nEND\r\n");
//!
//! // Errors carry memcached's line and how to recover.
//! let err = decode_request(b"set k 0 0 1048576\r\n", &limits).unwrap_err();
//! assert_eq!(err.response_line(), Some(&b"SERVER_ERROR object too large for cache\r\n"[..]));
//! ```

mod admin;
mod arithmetic;
pub mod base64;
mod delete;
mod errors;
pub mod meta;
mod request;
pub mod response;
mod response_decoder;
mod retrieval;
mod stats;
mod storage;
mod token;
mod touch;

pub use admin::{
    encode_flush_all, LruCommand, LruCrawlerCommand, ShutdownMode, SlabsAutomove, WatchFlags,
};
pub use arithmetic::{encode_arithmetic, ArithmeticCommand, ArithmeticRequest};
pub use delete::{encode_delete, DeleteRequest};
pub use errors::{error_line, DecodeError, ErrorKind, Recovery};
pub use meta::{
    encode_meta, encode_meta_arithmetic_hit, encode_meta_debug_reply, encode_meta_get_hit,
    encode_meta_noop, encode_meta_noop_reply, encode_meta_set, encode_meta_set_result,
    encode_meta_status, MetaArithmeticMode, MetaArithmeticRequest, MetaCommand, MetaDebugRequest,
    MetaFlags, MetaItemInfo, MetaKey, MetaReply, MetaRequest, MetaSetMode, MetaSetRequest,
    MetaStatus, MetaToken, MetaTokens, KEY_BUFFER_LEN,
};
pub use request::{decode_request, Request};
pub use response::{
    encode_cachedump_item, encode_client_error, encode_end, encode_number, encode_server_error,
    encode_stat, encode_stat_fmt, encode_stat_u64, encode_value, encode_value_header,
    encode_version, StatusLine,
};
pub use response_decoder::{
    decode_response, MetaResponse, Response, ResponseError, Value, MAX_RESPONSE_LINE,
};
pub use retrieval::{encode_retrieval, Keys, KeysIter, RetrievalCommand, RetrievalRequest};
pub use stats::{encode_stats, StatsDetail, StatsRequest};
pub use storage::{encode_storage, StorageCommand, StorageRequest};
pub use touch::{encode_touch, TouchRequest};

/// memcached's KEY_MAX_LENGTH.
pub const MAX_KEY_LEN: usize = 250;
/// memcached's default item size max (`-I 1m`).
pub const DEFAULT_ITEM_SIZE_MAX: usize = 1024 * 1024;
/// Bytes buffered without a newline before a non-get line closes the connection.
pub const DEFAULT_MAX_LINE_LEN: usize = 2048;

/// Limits the decoder enforces; the server fills it from its flags.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Longest key (memcached: 250, not configurable there).
    pub max_key_len: usize,
    /// `-I`: largest item (header + key + value), 1 MiB by default.
    pub item_size_max: usize,
    /// Bytes without `\n` after which a non-get line closes the connection (2048).
    pub max_line_len: usize,
    /// CAS enabled (`-C` turns it off); the 8-byte cas counts towards the item size.
    pub cas_enabled: bool,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_key_len: MAX_KEY_LEN,
            item_size_max: DEFAULT_ITEM_SIZE_MAX,
            max_line_len: DEFAULT_MAX_LINE_LEN,
            cas_enabled: true,
        }
    }
}

/// memcached's `sizeof(item)` on 64-bit builds.
const ITEM_HEADER_LEN: usize = 48;

impl Limits {
    /// memcached's `item_size_ok`: the item is header (48 bytes) + key + 1 +
    /// 4 bytes of client flags when they are non-zero + value + 2 (`\r\n`) +
    /// 8 for the cas, and must fit in `item_size_max`. With the default 1 MiB
    /// that allows a 1048516-byte value under a 1-byte key (checked on 1.6.18).
    pub fn item_too_large(&self, key_len: usize, client_flags: u32, value_len: usize) -> bool {
        let total = ITEM_HEADER_LEN
            + key_len
            + 1
            + if client_flags != 0 { 4 } else { 0 }
            + value_len
            + 2
            + if self.cas_enabled { 8 } else { 0 };
        total > self.item_size_max
    }

    /// Largest value accepted for a key of `key_len` bytes and zero flags.
    pub fn max_value_len(&self, key_len: usize) -> usize {
        let overhead = ITEM_HEADER_LEN + key_len + 1 + 2 + if self.cas_enabled { 8 } else { 0 };
        self.item_size_max.saturating_sub(overhead)
    }
}

/// [`decode_request`] with the default limits, for the unit tests of every command module.
#[cfg(test)]
pub(crate) fn decode_with_default_limits(
    input: &[u8],
) -> Result<Option<(Request<'_>, usize)>, DecodeError> {
    decode_request(input, &Limits::default())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn item_size_limit_matches_memcached() {
        // Boundaries measured on memcached 1.6.18 with a 1-byte key.
        let default = Limits::default();
        assert!(!default.item_too_large(1, 0, 1_048_516));
        assert!(default.item_too_large(1, 0, 1_048_517));
        assert!(default.item_too_large(1, 1, 1_048_514));
        assert!(!default.item_too_large(1, 1, 1_048_512));
        assert!(default.item_too_large(2, 0, 1_048_516));
        assert_eq!(default.max_value_len(1), 1_048_516);
        // -I 2m
        let two_mb = Limits { item_size_max: 2 * 1024 * 1024, ..Limits::default() };
        assert!(!two_mb.item_too_large(1, 0, 2 * 1_048_576 - 60));
        assert!(two_mb.item_too_large(1, 0, 2 * 1_048_576 - 59));
        // -C (no cas): 8 bytes more room.
        let no_cas = Limits { cas_enabled: false, ..Limits::default() };
        assert!(!no_cas.item_too_large(1, 0, 1_048_576 - 52));
        assert!(no_cas.item_too_large(1, 0, 1_048_576 - 51));
    }

    #[test]
    fn request_stays_small() {
        // Decoding returns requests by value; keep them a few cache lines.
        let size = std::mem::size_of::<Result<Option<(Request<'_>, usize)>, DecodeError>>();
        assert!(size <= 256, "{size}");
    }
}
