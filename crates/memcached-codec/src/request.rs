//! The request type and the server-side decoder's dispatch on the command word.
//!
//! ```text
//!  input ──scan_line──> line ──Tokens──> command word ──┬─ m? (2 bytes) ─> meta.rs
//!    │ no '\n' yet: Ok(None)                             ├─ get/gets/gat/gats/bget ─> retrieval.rs
//!    │ > 2048 bytes, not get/gets: Err(Close)            ├─ set/add/replace/append/prepend/cas ─> storage.rs
//!                                                       ├─ delete / incr decr / touch
//!                                                       ├─ stats ─> stats.rs
//!                                                       ├─ flush_all, version, ... ─> admin.rs
//!                                                       └─ anything else ─> ERROR
//! ```
//! memcached 1.6.18: a command word shorter than 2 bytes (or an empty line)
//! is `ERROR`; command names are case-sensitive.

use bytes::BufMut;

use crate::admin::{self, LruCommand, LruCrawlerCommand, ShutdownMode, SlabsAutomove, WatchFlags};
use crate::arithmetic::{self, ArithmeticCommand, ArithmeticRequest};
use crate::delete::{self, DeleteRequest};
use crate::errors::{DecodeError, ErrorKind};
use crate::meta::{
    self, MetaArithmeticRequest, MetaCommand, MetaDebugRequest, MetaRequest, MetaSetRequest,
};
use crate::retrieval::{self, RetrievalCommand, RetrievalRequest};
use crate::stats::{self, StatsRequest};
use crate::storage::{self, StorageCommand, StorageRequest};
use crate::token::{scan_line, LineScan, Tokens};
use crate::touch::{self, TouchRequest};
use crate::Limits;

/// One decoded request. Keys and values borrow from the input buffer.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Request<'a> {
    /// set / add / replace / append / prepend / cas (with the data block).
    Storage(StorageRequest<'a>),
    /// get / gets / gat / gats (bget decodes as get).
    Retrieval(RetrievalRequest<'a>),
    /// delete.
    Delete(DeleteRequest<'a>),
    /// incr / decr.
    Arithmetic(ArithmeticRequest<'a>),
    /// touch.
    Touch(TouchRequest<'a>),
    /// mg.
    MetaGet(MetaRequest<'a>),
    /// ms (with the data block).
    MetaSet(MetaSetRequest<'a>),
    /// md.
    MetaDelete(MetaRequest<'a>),
    /// ma.
    MetaArithmetic(MetaArithmeticRequest<'a>),
    /// mn.
    MetaNoop,
    /// me.
    MetaDebug(MetaDebugRequest<'a>),
    /// stats and its subcommands.
    Stats(StatsRequest),
    /// `flush_all [delay] [noreply]`.
    FlushAll {
        /// Delay in seconds (same rules as exptime), `None` = now.
        delay: Option<i32>,
        /// `noreply` was given.
        noreply: bool,
    },
    /// `version`.
    Version,
    /// `verbosity <level> [noreply]`.
    Verbosity {
        /// The level.
        level: u32,
        /// `noreply` was given.
        noreply: bool,
    },
    /// `quit`.
    Quit,
    /// `shutdown [graceful]`.
    Shutdown {
        /// Which form.
        mode: ShutdownMode,
    },
    /// `cache_memlimit <megabytes> [noreply]`.
    CacheMemlimit {
        /// New limit in MiB (the server answers MEMLIMIT_* for < 8 or > 1e9).
        megabytes: u32,
        /// `noreply` was given.
        noreply: bool,
    },
    /// `slabs reassign <src> <dst>`.
    SlabsReassign {
        /// Source class (-1 = any).
        source: i32,
        /// Destination class.
        destination: i32,
    },
    /// `slabs automove <0|1|2>` or `slabs automove ratio <f>`.
    SlabsAutomove {
        /// The new setting.
        setting: SlabsAutomove,
        /// `noreply` was given.
        noreply: bool,
    },
    /// `lru tune|mode|temp_ttl ...`.
    Lru {
        /// The subcommand.
        command: LruCommand,
        /// `noreply` was given.
        noreply: bool,
    },
    /// `lru_crawler ...`.
    LruCrawler(LruCrawlerCommand<'a>),
    /// `watch [streams]`.
    Watch(WatchFlags),
}

impl<'a> Request<'a> {
    /// Same as [`decode_request`].
    pub fn decode(
        input: &'a [u8],
        limits: &Limits,
    ) -> Result<Option<(Request<'a>, usize)>, DecodeError> {
        decode_request(input, limits)
    }

    /// Client side: appends the wire form of this request.
    pub fn encode<B: BufMut>(&self, out: &mut B) {
        match self {
            Request::Storage(r) => r.encode(out),
            Request::Retrieval(r) => r.encode(out),
            Request::Delete(r) => r.encode(out),
            Request::Arithmetic(r) => r.encode(out),
            Request::Touch(r) => r.encode(out),
            Request::MetaGet(r) => r.encode_as(MetaCommand::Get, out),
            Request::MetaSet(r) => r.encode(out),
            Request::MetaDelete(r) => r.encode_as(MetaCommand::Delete, out),
            Request::MetaArithmetic(r) => r.encode(out),
            Request::MetaNoop => meta::encode_meta_noop(out),
            Request::MetaDebug(r) => r.encode(out),
            Request::Stats(r) => r.encode(out),
            other => admin::encode_admin(other, out),
        }
    }

    /// The command word as it appears on the wire (`bget` reports `get`).
    pub fn name(&self) -> &'static str {
        match self {
            Request::Storage(r) => r.command.name(),
            Request::Retrieval(r) => r.command.name(),
            Request::Delete(_) => "delete",
            Request::Arithmetic(r) => r.command.name(),
            Request::Touch(_) => "touch",
            Request::MetaGet(_) => "mg",
            Request::MetaSet(_) => "ms",
            Request::MetaDelete(_) => "md",
            Request::MetaArithmetic(_) => "ma",
            Request::MetaNoop => "mn",
            Request::MetaDebug(_) => "me",
            Request::Stats(_) => "stats",
            Request::FlushAll { .. } => "flush_all",
            Request::Version => "version",
            Request::Verbosity { .. } => "verbosity",
            Request::Quit => "quit",
            Request::Shutdown { .. } => "shutdown",
            Request::CacheMemlimit { .. } => "cache_memlimit",
            Request::SlabsReassign { .. } | Request::SlabsAutomove { .. } => "slabs",
            Request::Lru { .. } => "lru",
            Request::LruCrawler(_) => "lru_crawler",
            Request::Watch(_) => "watch",
        }
    }

    /// The key of a single-key command as sent (base64 text for meta `b`
    /// keys); the first key of a multi-get; `None` for keyless commands.
    pub fn key(&self) -> Option<&'a [u8]> {
        match self {
            Request::Storage(r) => Some(r.key),
            Request::Retrieval(r) => r.keys.iter().next(),
            Request::Delete(r) => Some(r.key),
            Request::Arithmetic(r) => Some(r.key),
            Request::Touch(r) => Some(r.key),
            Request::MetaGet(r) | Request::MetaDelete(r) => Some(r.key.raw()),
            Request::MetaSet(r) => Some(r.key.raw()),
            Request::MetaArithmetic(r) => Some(r.key.raw()),
            Request::MetaDebug(r) => Some(r.key.raw()),
            _ => None,
        }
    }

    /// The request carries `noreply` (classic commands) or `q` (meta).
    pub fn is_quiet(&self) -> bool {
        match self {
            Request::Storage(r) => r.noreply,
            Request::Delete(r) => r.noreply,
            Request::Arithmetic(r) => r.noreply,
            Request::Touch(r) => r.noreply,
            Request::MetaGet(r) | Request::MetaDelete(r) => r.flags.quiet(),
            Request::MetaSet(r) => r.flags.quiet(),
            Request::MetaArithmetic(r) => r.flags.quiet(),
            Request::FlushAll { noreply, .. }
            | Request::Verbosity { noreply, .. }
            | Request::CacheMemlimit { noreply, .. }
            | Request::SlabsAutomove { noreply, .. }
            | Request::Lru { noreply, .. } => *noreply,
            _ => false,
        }
    }
}

/// Server side: decodes the first request in `input` (the connection's read
/// buffer).
///
/// * `Ok(Some((request, consumed)))`: a whole request (with its data block);
///   drop `consumed` bytes afterwards. The request borrows from `input`.
/// * `Ok(None)`: not enough bytes yet; read more and call again with the
///   same (grown) buffer.
/// * `Err(e)`: send `e.response_line()` (if any), then follow `e.recovery`.
pub fn decode_request<'a>(
    input: &'a [u8],
    limits: &Limits,
) -> Result<Option<(Request<'a>, usize)>, DecodeError> {
    let line = match scan_line(input, limits.max_line_len) {
        LineScan::Complete(line) => line,
        LineScan::Incomplete => return Ok(None),
        LineScan::Hostile => return Err(DecodeError::close()),
    };
    // The command word; retrieval commands are decoded straight from the
    // rest of the line, everything else goes through the tokenizer.
    let text = line.text;
    let start = text.iter().position(|&b| b != b' ').unwrap_or(text.len());
    let end = memchr::memchr(b' ', &text[start..]).map_or(text.len(), |p| start + p);
    let (word, after_word) = (&text[start..end], &text[end..]);
    let retrieval = match word {
        b"get" | b"bget" => Some(RetrievalCommand::Get),
        b"gets" => Some(RetrievalCommand::Gets),
        b"gat" => Some(RetrievalCommand::Gat),
        b"gats" => Some(RetrievalCommand::Gats),
        _ => None,
    };
    if let Some(command) = retrieval {
        return retrieval::decode(command, after_word, line, limits);
    }
    if word.len() < 2 {
        return Err(DecodeError::discard(ErrorKind::Error, line.consumed, false));
    }
    let tokens = Tokens::new(text);
    if word[0] == b'm' && word.len() == 2 {
        return meta::decode(word[1], &tokens, line, input, limits);
    }
    match word {
        b"set" => storage::decode(StorageCommand::Set, &tokens, line, input, limits),
        b"add" => storage::decode(StorageCommand::Add, &tokens, line, input, limits),
        b"replace" => storage::decode(StorageCommand::Replace, &tokens, line, input, limits),
        b"append" => storage::decode(StorageCommand::Append, &tokens, line, input, limits),
        b"prepend" => storage::decode(StorageCommand::Prepend, &tokens, line, input, limits),
        b"cas" => storage::decode(StorageCommand::Cas, &tokens, line, input, limits),
        b"delete" => delete::decode(&tokens, line, limits),
        b"incr" => arithmetic::decode(ArithmeticCommand::Incr, &tokens, line, limits),
        b"decr" => arithmetic::decode(ArithmeticCommand::Decr, &tokens, line, limits),
        b"touch" => touch::decode(&tokens, line, limits),
        b"stats" => stats::decode(&tokens, line),
        b"flush_all" | b"version" | b"quit" | b"verbosity" | b"shutdown" | b"cache_memlimit"
        | b"slabs" | b"lru" | b"lru_crawler" | b"watch" => admin::decode(word, &tokens, line),
        _ => Err(DecodeError::discard(ErrorKind::Error, line.consumed, false)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::errors::Recovery;

    #[test]
    fn unknown_and_short_commands_are_error() {
        for line in ["GET k", "x", "", "\r", "foo bar", "mz k", "sets k", "bogus"] {
            let input = format!("{line}\r\n");
            let e = decode_request(input.as_bytes(), &Limits::default()).unwrap_err();
            assert_eq!(e.kind, ErrorKind::Error, "{line:?}");
            assert_eq!(e.recovery, Recovery::Discard(input.len()));
        }
    }

    #[test]
    fn endless_line_closes() {
        let e = decode_request(&[b'x'; 4000], &Limits::default()).unwrap_err();
        assert_eq!(e.recovery, Recovery::Close);
        assert_eq!(e.response_line(), None);
    }

    #[test]
    fn pipelined_requests_decode_one_by_one() {
        let input = b"get a\r\nset b 0 0 1\r\nx\r\nmn\r\n";
        let limits = Limits::default();
        let (r1, n1) = decode_request(input, &limits).unwrap().unwrap();
        assert!(matches!(r1, Request::Retrieval(_)));
        let (r2, n2) = decode_request(&input[n1..], &limits).unwrap().unwrap();
        assert!(matches!(r2, Request::Storage(_)));
        let (r3, n3) = decode_request(&input[n1 + n2..], &limits).unwrap().unwrap();
        assert_eq!(r3, Request::MetaNoop);
        assert_eq!(n1 + n2 + n3, input.len());
    }

    #[test]
    fn names_and_keys() {
        let limits = Limits::default();
        for (input, name, key) in [
            (&b"bget a b\r\n"[..], "get", Some(&b"a"[..])),
            (b"ms k 1\r\nx\r\n", "ms", Some(b"k")),
            (b"slabs automove 1\r\n", "slabs", None),
            (b"incr n 1\r\n", "incr", Some(b"n")),
        ] {
            let (r, _) = decode_request(input, &limits).unwrap().unwrap();
            assert_eq!((r.name(), r.key()), (name, key));
        }
    }

    #[test]
    fn a_bare_newline_line_works() {
        let (r, n) = decode_request(b"version\n", &Limits::default()).unwrap().unwrap();
        assert_eq!((r, n), (Request::Version, 8));
    }
}
