//! Meta commands: `mg`, `ms`, `md`, `ma`, `mn`, `me` (memcached 1.6.18 flag set).
//!
//! protocol.txt, "Meta Commands": `<cm> <key> <flag>*\r\n`, where every flag
//! is one token whose first byte names it and whose rest is its argument
//! (`O123` = opaque "123", `T30` = TTL 30). `ms <key> <datalen> <flag>*\r\n`
//! is followed by a data block. Replies are two-letter codes followed by
//! "return flags" (`HD c42 O123`): `VA` (value follows), `HD`, `EN` (miss),
//! `NS`, `EX`, `NF`, `MN`, `ME`.
//!
//! How memcached 1.6.18 parses flags (`_meta_flag_preparse`), copied here:
//!
//! ```text
//!  mg/ms/md/ma share ONE flag table, so `mg k D5` is accepted (D ignored).
//!  token first byte >= 127, or a letter seen twice -> duplicate flag (stop)
//!  letter not in the table                        -> invalid flag   (stop)
//!  bad N/T/R/C argument  -> bad token in command line format (keep going)
//!  bad J -> invalid numeric initial value, bad D -> invalid numeric delta value
//!  bad F -> (no message of its own: bad command line format)
//!  M argument not exactly one byte -> incorrect length for M token
//!  b: key is base64 (memcached's lenient decoder)   -> error decoding key
//!  the LAST value error wins; md and ma print every flag error as
//!  "invalid or duplicate flag"; more than 20 tokens -> options flags (are) too long
//!  O longer than 32 bytes (with the O) -> opaque token too long
//!    (md, ms: refused here; mg, ma: decoded, because memcached checks O while writing
//!    the reply, after the command ran: the executor calls MetaFlags::check_opaque)
//! ```
//!
//! `ms` errors found after the data length is known swallow the data block
//! (like memcached's `conn_swallow`); a bad key or data length does not.
//! Meta errors are always sent, even with `q`.
//!
//! Quiet mode (`q`), measured on 1.6.18: mg hides `EN`; ms and md hide `HD`;
//! ma hides `HD` and `VA`; every other reply is still sent.

use bytes::BufMut;

use crate::base64;
use crate::errors::{DecodeError, ErrorKind};
use crate::request::Request;
use crate::token::{data_block, parse_i32, parse_u32, parse_u64, put_i64, put_u64, Line, Tokens};
use crate::Limits;

/// Longest opaque token memcached accepts, counting the `O`.
pub const MAX_OPAQUE_TOKEN_LEN: usize = 32;
/// memcached's MFLAG_MAX_OPT_LENGTH: more tokens (plus one) than this is an error.
const MAX_META_NTOKENS: usize = 20;
/// Buffer size that holds any decoded base64 key.
pub const KEY_BUFFER_LEN: usize = 256;

/// The meta flag letters memcached 1.6.18 knows (one table for all commands).
pub const KNOWN_FLAGS: &[u8] = b"bNTRlOPLkstcfvhuqFCMJDI";

const fn known_flag_table() -> [bool; 128] {
    let mut table = [false; 128];
    let mut i = 0;
    while i < KNOWN_FLAGS.len() {
        table[KNOWN_FLAGS[i] as usize] = true;
        i += 1;
    }
    table
}

/// `KNOWN_FLAGS` as a lookup table (the flag parser runs on every meta request).
static KNOWN_FLAG: [bool; 128] = known_flag_table();

/// A meta command key, possibly base64 encoded (`b` flag).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MetaKey<'a> {
    raw: &'a [u8],
    base64: bool,
    decoded_len: u16,
}

impl<'a> MetaKey<'a> {
    /// A plain key as it appears on the line.
    pub fn plain(raw: &'a [u8]) -> Self {
        MetaKey { raw, base64: false, decoded_len: raw.len() as u16 }
    }

    /// A base64 key; `None` if memcached could not decode it.
    pub fn base64(raw: &'a [u8]) -> Option<Self> {
        let mut buf = [0u8; KEY_BUFFER_LEN];
        let n = base64::decode_key(raw, &mut buf)?;
        Some(MetaKey { raw, base64: true, decoded_len: n as u16 })
    }

    /// The key token as sent on the line (base64 text when [`Self::is_base64`]).
    pub fn raw(&self) -> &'a [u8] {
        self.raw
    }

    /// The key was sent in base64 (`b` flag).
    pub fn is_base64(&self) -> bool {
        self.base64
    }

    /// The key bytes when not base64 (no copy).
    pub fn as_plain(&self) -> Option<&'a [u8]> {
        if self.base64 {
            None
        } else {
            Some(self.raw)
        }
    }

    /// Length of the key after decoding.
    pub fn decoded_len(&self) -> usize {
        self.decoded_len as usize
    }

    /// The binary key: the raw token, or its base64 decoding written into
    /// `buf` (a stack buffer; no heap allocation).
    pub fn decode<'b>(&self, buf: &'b mut [u8; KEY_BUFFER_LEN]) -> &'b [u8]
    where
        'a: 'b,
    {
        if !self.base64 {
            return self.raw;
        }
        let n = base64::decode_key(self.raw, buf).unwrap_or(0);
        &buf[..n]
    }
}

/// One flag token in request order: its letter and its argument.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MetaToken<'a> {
    /// The flag letter (first byte of the token).
    pub flag: u8,
    /// The rest of the token (`123` for `O123`; empty for `v`).
    pub arg: &'a [u8],
}

/// Iterator over the flag tokens of a meta command, in request order.
#[derive(Debug, Clone)]
pub struct MetaTokens<'a> {
    rest: &'a [u8],
}

impl<'a> MetaTokens<'a> {
    /// Iterates over the space-separated flag tokens of `raw`.
    pub fn over(raw: &'a [u8]) -> Self {
        MetaTokens { rest: raw }
    }
}

impl<'a> Iterator for MetaTokens<'a> {
    type Item = MetaToken<'a>;
    fn next(&mut self) -> Option<MetaToken<'a>> {
        let start = self.rest.iter().position(|&b| b != b' ')?;
        let rest = &self.rest[start..];
        let end = memchr::memchr(b' ', rest).unwrap_or(rest.len());
        self.rest = &rest[end..];
        Some(MetaToken { flag: rest[0], arg: &rest[1..end] })
    }
}

/// The parsed flags of a meta request. Values are parsed once; the raw
/// tokens are kept so replies can echo return flags in request order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct MetaFlags<'a> {
    raw: &'a [u8],
    seen: u64,
    opaque: Option<&'a [u8]>,
    ttl: Option<i32>,
    vivify_ttl: Option<i32>,
    recache_ttl: Option<i32>,
    client_flags: Option<u32>,
    compare_cas: Option<u64>,
    mode: Option<u8>,
    initial: Option<u64>,
    delta: Option<u64>,
}

fn flag_bit(flag: u8) -> u64 {
    if (b'A'..=b'z').contains(&flag) {
        1u64 << (flag - b'A')
    } else {
        0
    }
}

impl<'a> MetaFlags<'a> {
    /// Parses space-separated flag tokens with memcached's shared flag table.
    /// Does not check the opaque length (see [`Self::check_opaque`]).
    pub fn parse(raw: &'a [u8]) -> Result<Self, ErrorKind> {
        Self::parse_with_key(raw, None)
    }

    /// Like [`Self::parse`]; with `key`, a `b` token also checks that the key
    /// decodes (memcached decodes it when it meets the `b`).
    fn parse_with_key(raw: &'a [u8], key: Option<&[u8]>) -> Result<Self, ErrorKind> {
        let mut flags = MetaFlags { raw, ..MetaFlags::default() };
        // memcached keeps going after a bad value, remembering the last
        // message; a bad F marks the error without a message of its own.
        let mut has_error = false;
        let mut message: Option<ErrorKind> = None;
        for token in flags.tokens() {
            let f = token.flag;
            if f >= 127 || flags.seen & flag_bit(f) != 0 {
                return Err(ErrorKind::DuplicateFlag);
            }
            if !KNOWN_FLAG[f as usize] {
                return Err(ErrorKind::InvalidFlag);
            }
            flags.seen |= flag_bit(f);
            let arg = token.arg;
            let mut fail = |kind: Option<ErrorKind>| {
                has_error = true;
                if kind.is_some() {
                    message = kind;
                }
            };
            match f {
                b'N' => match parse_i32(arg) {
                    Some(v) => flags.vivify_ttl = Some(v),
                    None => fail(Some(ErrorKind::BadToken)),
                },
                b'T' => match parse_i32(arg) {
                    Some(v) => flags.ttl = Some(v),
                    None => fail(Some(ErrorKind::BadToken)),
                },
                b'R' => match parse_i32(arg) {
                    Some(v) => flags.recache_ttl = Some(v),
                    None => fail(Some(ErrorKind::BadToken)),
                },
                b'F' => match parse_u32(arg) {
                    Some(v) => flags.client_flags = Some(v),
                    // memcached sets no message for a bad F.
                    None => fail(None),
                },
                b'C' => match parse_u64(arg) {
                    Some(v) => flags.compare_cas = Some(v),
                    None => fail(Some(ErrorKind::BadToken)),
                },
                b'M' => {
                    if arg.len() != 1 {
                        fail(Some(ErrorKind::BadModeLength));
                    } else {
                        flags.mode = Some(arg[0]);
                    }
                }
                b'J' => match parse_u64(arg) {
                    Some(v) => flags.initial = Some(v),
                    None => fail(Some(ErrorKind::InvalidInitialValue)),
                },
                b'D' => match parse_u64(arg) {
                    Some(v) => flags.delta = Some(v),
                    // Only reachable through mg/ms (md/ma rewrite it).
                    None => fail(Some(ErrorKind::InvalidDeltaValue)),
                },
                b'O' => flags.opaque = Some(arg),
                b'b' => {
                    if let Some(k) = key {
                        if MetaKey::base64(k).is_none() {
                            fail(Some(ErrorKind::KeyDecoding));
                        }
                    }
                }
                _ => {}
            }
        }
        if has_error {
            Err(message.unwrap_or(ErrorKind::BadCommandLineFormat))
        } else {
            Ok(flags)
        }
    }

    /// `O` longer than 32 bytes (with the `O`) is `CLIENT_ERROR opaque token too long`.
    ///
    /// The decoder refuses such an `md` or `ms`; an `mg` or `ma` is decoded and the executor
    /// checks this after running it, as memcached 1.6.18 does: the get (with any `N`
    /// autovivify and the `T` left of `O`) or the arithmetic happens, then the whole reply is
    /// this error (a non-numeric `ma` still answers its own error first).
    pub fn check_opaque(&self) -> Result<(), ErrorKind> {
        match self.opaque {
            Some(o) if o.len() + 1 > MAX_OPAQUE_TOKEN_LEN => Err(ErrorKind::OpaqueTooLong),
            _ => Ok(()),
        }
    }

    /// The flag tokens as sent (for re-encoding).
    pub fn raw(&self) -> &'a [u8] {
        self.raw
    }

    /// Flag tokens in request order.
    pub fn tokens(&self) -> MetaTokens<'a> {
        MetaTokens { rest: self.raw }
    }

    /// The flag letter was given.
    pub fn has(&self, flag: u8) -> bool {
        self.seen & flag_bit(flag) != 0
    }

    /// `b`: the key is base64.
    pub fn base64_key(&self) -> bool {
        self.has(b'b')
    }
    /// `q`: quiet mode.
    pub fn quiet(&self) -> bool {
        self.has(b'q')
    }
    /// `v`: return the value.
    pub fn return_value(&self) -> bool {
        self.has(b'v')
    }
    /// `c`: return the cas.
    pub fn return_cas(&self) -> bool {
        self.has(b'c')
    }
    /// `f`: return the client flags.
    pub fn return_flags(&self) -> bool {
        self.has(b'f')
    }
    /// `k`: return the key.
    pub fn return_key(&self) -> bool {
        self.has(b'k')
    }
    /// `s`: return the item size.
    pub fn return_size(&self) -> bool {
        self.has(b's')
    }
    /// `t`: return the TTL left.
    pub fn return_ttl(&self) -> bool {
        self.has(b't')
    }
    /// `h`: return whether the item was fetched before.
    pub fn return_hit(&self) -> bool {
        self.has(b'h')
    }
    /// `l`: return seconds since last access.
    pub fn return_last_access(&self) -> bool {
        self.has(b'l')
    }
    /// `u`: do not bump the item in the LRU.
    pub fn no_lru_bump(&self) -> bool {
        self.has(b'u')
    }
    /// `I`: invalidate (md: mark stale; ms with C: accept an older cas).
    pub fn invalidate(&self) -> bool {
        self.has(b'I')
    }
    /// `O(token)`: opaque, without the `O`.
    pub fn opaque(&self) -> Option<&'a [u8]> {
        self.opaque
    }
    /// `T(token)`: new TTL.
    pub fn ttl(&self) -> Option<i32> {
        self.ttl
    }
    /// `N(token)`: vivify on miss with this TTL.
    pub fn vivify_ttl(&self) -> Option<i32> {
        self.vivify_ttl
    }
    /// `R(token)`: win a recache when the TTL left is below this.
    pub fn recache_ttl(&self) -> Option<i32> {
        self.recache_ttl
    }
    /// `F(token)`: client flags for ms.
    pub fn client_flags(&self) -> Option<u32> {
        self.client_flags
    }
    /// `C(token)`: compare cas.
    pub fn compare_cas(&self) -> Option<u64> {
        self.compare_cas
    }
    /// `M(token)`: the raw mode byte.
    pub fn mode(&self) -> Option<u8> {
        self.mode
    }
    /// `J(token)`: ma initial value.
    pub fn initial(&self) -> Option<u64> {
        self.initial
    }
    /// `D(token)`: ma delta.
    pub fn delta(&self) -> Option<u64> {
        self.delta
    }
}

/// A decoded `mg`, `md` (and the key/flags part of every meta command).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MetaRequest<'a> {
    /// The key.
    pub key: MetaKey<'a>,
    /// The flags.
    pub flags: MetaFlags<'a>,
}

/// ms mode (`M` flag).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum MetaSetMode {
    /// `MS` (default): set.
    #[default]
    Set,
    /// `ME`: add.
    Add,
    /// `MA`: append.
    Append,
    /// `MP`: prepend.
    Prepend,
    /// `MR`: replace.
    Replace,
}

/// A decoded `ms`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MetaSetRequest<'a> {
    /// The key.
    pub key: MetaKey<'a>,
    /// The flags.
    pub flags: MetaFlags<'a>,
    /// The storage mode.
    pub mode: MetaSetMode,
    /// The data block, without `\r\n`.
    pub data: &'a [u8],
}

/// ma mode (`M` flag).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum MetaArithmeticMode {
    /// `MI` or `M+` (default).
    #[default]
    Incr,
    /// `MD` or `M-`.
    Decr,
}

/// A decoded `ma`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MetaArithmeticRequest<'a> {
    /// The key.
    pub key: MetaKey<'a>,
    /// The flags.
    pub flags: MetaFlags<'a>,
    /// incr or decr.
    pub mode: MetaArithmeticMode,
}

impl MetaArithmeticRequest<'_> {
    /// `D` or 1.
    pub fn delta(&self) -> u64 {
        self.flags.delta().unwrap_or(1)
    }
    /// `J` or 0.
    pub fn initial(&self) -> u64 {
        self.flags.initial().unwrap_or(0)
    }
}

/// Which meta command (for encoding).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MetaCommand {
    /// `mg`
    Get,
    /// `ms`
    Set,
    /// `md`
    Delete,
    /// `ma`
    Arithmetic,
    /// `mn`
    Noop,
    /// `me`
    Debug,
}

impl MetaCommand {
    /// The two-letter command word.
    pub fn name(self) -> &'static str {
        match self {
            MetaCommand::Get => "mg",
            MetaCommand::Set => "ms",
            MetaCommand::Delete => "md",
            MetaCommand::Arithmetic => "ma",
            MetaCommand::Noop => "mn",
            MetaCommand::Debug => "me",
        }
    }
}

/// Client side: appends `<cm> <key>[ <flags>]\r\n` for mg, md, ma and me
/// (`flags` is the raw flag text, e.g. `b"v c f O42"`; `me` takes only `b`).
pub fn encode_meta<B: BufMut>(out: &mut B, command: MetaCommand, key: &[u8], flags: &[u8]) {
    out.put_slice(command.name().as_bytes());
    out.put_u8(b' ');
    out.put_slice(key);
    if !flags.is_empty() {
        out.put_u8(b' ');
        out.put_slice(flags);
    }
    out.put_slice(b"\r\n");
}

/// Client side: appends `ms <key> <datalen>[ <flags>]\r\n<data>\r\n`.
pub fn encode_meta_set<B: BufMut>(out: &mut B, key: &[u8], flags: &[u8], data: &[u8]) {
    out.put_slice(b"ms ");
    out.put_slice(key);
    out.put_u8(b' ');
    put_u64(out, data.len() as u64);
    if !flags.is_empty() {
        out.put_u8(b' ');
        out.put_slice(flags);
    }
    out.put_slice(b"\r\n");
    out.put_slice(data);
    out.put_slice(b"\r\n");
}

/// Client side: appends `mn\r\n`.
pub fn encode_meta_noop<B: BufMut>(out: &mut B) {
    out.put_slice(b"mn\r\n");
}

fn meta_flags_region<'a>(tokens: &Tokens<'a>, first: usize) -> &'a [u8] {
    tokens.rest_from(first)
}

/// Parses the key and flags the way every meta command starts.
fn parse_with_key_order<'a>(
    tokens: &Tokens<'a>,
    first_flag: usize,
) -> Result<(MetaKey<'a>, MetaFlags<'a>), ErrorKind> {
    let raw_key = tokens.get(1);
    let flags = MetaFlags::parse_with_key(meta_flags_region(tokens, first_flag), Some(raw_key))?;
    let key = if flags.base64_key() {
        MetaKey::base64(raw_key).ok_or(ErrorKind::KeyDecoding)?
    } else {
        MetaKey::plain(raw_key)
    };
    Ok((key, flags))
}

/// Server side: decodes a two-letter meta command (`m?`).
pub(crate) fn decode<'a>(
    second: u8,
    tokens: &Tokens<'a>,
    line: Line<'a>,
    input: &'a [u8],
    limits: &Limits,
) -> Result<Option<(Request<'a>, usize)>, DecodeError> {
    let err = |kind| Err(DecodeError::discard(kind, line.consumed, false));
    match second {
        b'n' => return Ok(Some((Request::MetaNoop, line.consumed))),
        b'e' => return decode_debug(tokens, line, limits),
        b'g' | b's' | b'd' | b'a' => {}
        _ => return err(ErrorKind::Error),
    }
    let ntokens = tokens.ntokens();
    if ntokens < 3 {
        return err(ErrorKind::Error);
    }
    if tokens.get(1).len() > limits.max_key_len {
        return err(ErrorKind::BadCommandLineFormat);
    }
    match second {
        b'g' => {
            if ntokens > MAX_META_NTOKENS {
                return err(ErrorKind::MgFlagsTooLong);
            }
            let (key, flags) = match parse_with_key_order(tokens, 2) {
                Ok(v) => v,
                Err(kind) => return err(kind),
            };
            // An over-long O is the executor's to answer (see `MetaFlags::check_opaque`).
            Ok(Some((Request::MetaGet(MetaRequest { key, flags }), line.consumed)))
        }
        b'd' | b'a' => {
            if ntokens > MAX_META_NTOKENS {
                return err(ErrorKind::FlagsTooLong);
            }
            let Ok((key, flags)) = parse_with_key_order(tokens, 2) else {
                return err(ErrorKind::InvalidOrDuplicateFlag);
            };
            if second == b'd' {
                if let Err(kind) = flags.check_opaque() {
                    return err(kind);
                }
                return Ok(Some((Request::MetaDelete(MetaRequest { key, flags }), line.consumed)));
            }
            let mode = match flags.mode() {
                None | Some(b'I') | Some(b'+') => MetaArithmeticMode::Incr,
                Some(b'D') | Some(b'-') => MetaArithmeticMode::Decr,
                Some(_) => return err(ErrorKind::InvalidMaMode),
            };
            // An over-long O is the executor's to answer (see `MetaFlags::check_opaque`).
            Ok(Some((
                Request::MetaArithmetic(MetaArithmeticRequest { key, flags, mode }),
                line.consumed,
            )))
        }
        _ => decode_set(tokens, line, input, limits),
    }
}

fn decode_set<'a>(
    tokens: &Tokens<'a>,
    line: Line<'a>,
    input: &'a [u8],
    limits: &Limits,
) -> Result<Option<(Request<'a>, usize)>, DecodeError> {
    let ntokens = tokens.ntokens();
    let no_swallow = |kind| Err(DecodeError::discard(kind, line.consumed, false));
    if ntokens == 3 {
        return no_swallow(ErrorKind::BadCommandLineFormat);
    }
    if ntokens > MAX_META_NTOKENS {
        return no_swallow(ErrorKind::FlagsTooLong);
    }
    let vlen = match parse_i32(tokens.get(2)) {
        Some(v) if (0..=i32::MAX - 2).contains(&v) => v as usize,
        _ => return no_swallow(ErrorKind::BadCommandLineFormat),
    };
    let total = line.consumed + vlen + 2;
    let swallow = |kind| Err(DecodeError::discard(kind, total, false));
    let (key, flags) = match parse_with_key_order(tokens, 3) {
        Ok(v) => v,
        Err(kind) => return swallow(kind),
    };
    let opaque_error = flags.check_opaque().err();
    let mode = match flags.mode() {
        None | Some(b'S') => MetaSetMode::Set,
        Some(b'E') => MetaSetMode::Add,
        Some(b'A') => MetaSetMode::Append,
        Some(b'P') => MetaSetMode::Prepend,
        Some(b'R') => MetaSetMode::Replace,
        Some(_) => return swallow(ErrorKind::InvalidMsMode),
    };
    if let Some(kind) = opaque_error {
        return swallow(kind);
    }
    if limits.item_too_large(key.decoded_len(), flags.client_flags().unwrap_or(0), vlen) {
        return swallow(ErrorKind::ObjectTooLarge);
    }
    let data = match data_block(input, line.consumed, vlen) {
        None => return Ok(None),
        Some(Ok(data)) => data,
        Some(Err(kind)) => return swallow(kind),
    };
    Ok(Some((Request::MetaSet(MetaSetRequest { key, flags, mode, data }), total)))
}

/// A decoded `me <key> [b]` (debug dump of an item).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MetaDebugRequest<'a> {
    /// The key.
    pub key: MetaKey<'a>,
}

fn decode_debug<'a>(
    tokens: &Tokens<'a>,
    line: Line<'a>,
    limits: &Limits,
) -> Result<Option<(Request<'a>, usize)>, DecodeError> {
    let bad = || Err(DecodeError::discard(ErrorKind::BadCommandLineFormat, line.consumed, false));
    if tokens.ntokens() < 3 || tokens.get(1).len() > limits.max_key_len {
        return bad();
    }
    let raw = tokens.get(1);
    let key = if tokens.ntokens() >= 4 && tokens.get(2) == b"b" {
        match MetaKey::base64(raw) {
            Some(k) => k,
            None => return bad(),
        }
    } else {
        MetaKey::plain(raw)
    };
    Ok(Some((Request::MetaDebug(MetaDebugRequest { key }), line.consumed)))
}

impl MetaRequest<'_> {
    /// Client side: appends this request as `command` (mg or md).
    pub fn encode_as<B: BufMut>(&self, command: MetaCommand, out: &mut B) {
        encode_meta(out, command, self.key.raw(), self.flags.raw());
    }
}

impl MetaSetRequest<'_> {
    /// Client side: appends this request.
    pub fn encode<B: BufMut>(&self, out: &mut B) {
        encode_meta_set(out, self.key.raw(), self.flags.raw(), self.data);
    }
}

impl MetaArithmeticRequest<'_> {
    /// Client side: appends this request.
    pub fn encode<B: BufMut>(&self, out: &mut B) {
        encode_meta(out, MetaCommand::Arithmetic, self.key.raw(), self.flags.raw());
    }
}

impl MetaDebugRequest<'_> {
    /// Client side: appends this request.
    pub fn encode<B: BufMut>(&self, out: &mut B) {
        let flags: &[u8] = if self.key.is_base64() { b"b" } else { b"" };
        encode_meta(out, MetaCommand::Debug, self.key.raw(), flags);
    }
}

// ---------------------------------------------------------------------------
// Server-side replies.

/// The two-letter meta reply codes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MetaStatus {
    /// `VA <size>`: a value follows.
    Value,
    /// `HD`: success, no value.
    Stored,
    /// `EN`: miss (mg).
    Miss,
    /// `NS`: not stored.
    NotStored,
    /// `EX`: cas mismatch.
    Exists,
    /// `NF`: not found.
    NotFound,
    /// `MN`: end of a pipeline (reply to mn).
    Noop,
    /// `ME`: debug dump line (reply to me).
    Debug,
}

impl MetaStatus {
    /// The two-letter code.
    pub fn code(self) -> &'static [u8; 2] {
        match self {
            MetaStatus::Value => b"VA",
            MetaStatus::Stored => b"HD",
            MetaStatus::Miss => b"EN",
            MetaStatus::NotStored => b"NS",
            MetaStatus::Exists => b"EX",
            MetaStatus::NotFound => b"NF",
            MetaStatus::Noop => b"MN",
            MetaStatus::Debug => b"ME",
        }
    }

    /// Parses a two-letter code.
    pub fn from_code(code: &[u8]) -> Option<Self> {
        Some(match code {
            b"VA" => MetaStatus::Value,
            b"HD" => MetaStatus::Stored,
            b"EN" => MetaStatus::Miss,
            b"NS" => MetaStatus::NotStored,
            b"EX" => MetaStatus::Exists,
            b"NF" => MetaStatus::NotFound,
            b"MN" => MetaStatus::Noop,
            b"ME" => MetaStatus::Debug,
            _ => return None,
        })
    }

    /// Whether `q` hides this reply to `command` (measured on 1.6.18).
    pub fn hidden_by_quiet(self, command: MetaCommand) -> bool {
        match command {
            MetaCommand::Get => self == MetaStatus::Miss,
            MetaCommand::Set | MetaCommand::Delete => self == MetaStatus::Stored,
            MetaCommand::Arithmetic => matches!(self, MetaStatus::Stored | MetaStatus::Value),
            MetaCommand::Noop | MetaCommand::Debug => false,
        }
    }
}

/// Writes one meta reply line piece by piece, without allocating.
///
/// ```
/// use memcached_codec::{MetaReply, MetaStatus};
/// let mut out = Vec::new();
/// MetaReply::begin(&mut out, MetaStatus::Stored).flag_u64(b'c', 42).opaque(b"7").finish();
/// assert_eq!(out, b"HD c42 O7\r\n");
/// ```
pub struct MetaReply<'o, B: BufMut> {
    out: &'o mut B,
}

impl<'o, B: BufMut> MetaReply<'o, B> {
    /// Starts a reply with a status code (use [`Self::begin_value`] for `VA`).
    pub fn begin(out: &'o mut B, status: MetaStatus) -> Self {
        out.put_slice(status.code());
        MetaReply { out }
    }

    /// Starts `VA <len>`; pass the data to [`Self::finish_value`].
    pub fn begin_value(out: &'o mut B, len: usize) -> Self {
        out.put_slice(b"VA ");
        put_u64(out, len as u64);
        MetaReply { out }
    }

    /// ` <flag>` with no value (W, X, Z).
    pub fn flag(self, flag: u8) -> Self {
        self.out.put_u8(b' ');
        self.out.put_u8(flag);
        self
    }

    /// ` <flag><number>`.
    pub fn flag_u64(self, flag: u8, v: u64) -> Self {
        self.out.put_u8(b' ');
        self.out.put_u8(flag);
        put_u64(self.out, v);
        self
    }

    /// ` <flag><signed number>` (t-1).
    pub fn flag_i64(self, flag: u8, v: i64) -> Self {
        self.out.put_u8(b' ');
        self.out.put_u8(flag);
        put_i64(self.out, v);
        self
    }

    /// ` O<opaque>` (the argument as received).
    pub fn opaque(self, opaque: &[u8]) -> Self {
        self.out.put_slice(b" O");
        self.out.put_slice(opaque);
        self
    }

    /// ` k<key>`, base64-encoded plus ` b` when the key was binary.
    pub fn key(self, key: &[u8], base64: bool) -> Self {
        self.out.put_slice(b" k");
        if base64 {
            base64::encode_key(key, self.out);
            self.out.put_slice(b" b");
        } else {
            self.out.put_slice(key);
        }
        self
    }

    /// Ends the line.
    pub fn finish(self) {
        self.out.put_slice(b"\r\n");
    }

    /// Ends the line and appends the data block with its `\r\n`.
    pub fn finish_value(self, data: &[u8]) {
        self.out.put_slice(b"\r\n");
        self.out.put_slice(data);
        self.out.put_slice(b"\r\n");
    }
}

/// What the server knows about an item when answering `mg` or `ma`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct MetaItemInfo {
    /// Client flags (`f`).
    pub client_flags: u32,
    /// CAS value (`c`).
    pub cas: u64,
    /// Seconds of TTL left, -1 for never (`t`).
    pub ttl_left: i64,
    /// Seconds since last access (`l`).
    pub last_access: u64,
    /// Fetched before (`h`).
    pub fetched: bool,
    /// Value size in bytes (`s`).
    pub size: usize,
    /// The item was already handed a recache token (`Z`).
    pub token_sent: bool,
    /// The item is stale (`X`).
    pub stale: bool,
    /// This request wins the recache (`W`).
    pub won: bool,
}

/// Server side: appends a `mg` hit reply (`VA`/`HD` and return flags in
/// request order, then `Z`, `X`, `W`), as memcached 1.6.18 orders them.
/// `key` is the binary key; `value` is `Some` when the request had `v`.
pub fn encode_meta_get_hit<B: BufMut>(
    out: &mut B,
    request: &MetaRequest<'_>,
    key: &[u8],
    item: &MetaItemInfo,
    value: Option<&[u8]>,
) {
    let mut reply = match value {
        Some(v) => MetaReply::begin_value(out, v.len()),
        None => MetaReply::begin(out, MetaStatus::Stored),
    };
    for t in request.flags.tokens() {
        reply = match t.flag {
            b's' => reply.flag_u64(b's', item.size as u64),
            b't' => reply.flag_i64(b't', item.ttl_left),
            b'c' => reply.flag_u64(b'c', item.cas),
            b'f' => reply.flag_u64(b'f', u64::from(item.client_flags)),
            b'l' => reply.flag_u64(b'l', item.last_access),
            b'h' => reply.flag_u64(b'h', u64::from(item.fetched)),
            b'O' => reply.opaque(t.arg),
            b'k' => reply.key(key, request.key.is_base64()),
            _ => reply,
        };
    }
    if item.token_sent {
        reply = reply.flag(b'Z');
    }
    if item.stale {
        reply = reply.flag(b'X');
    }
    if item.won {
        reply = reply.flag(b'W');
    }
    match value {
        Some(v) => reply.finish_value(v),
        None => reply.finish(),
    }
}

/// Server side: appends a reply that carries only the `O` and `k` return
/// flags (mg miss `EN`, md `HD`/`NF`/`EX`, ma `NF`/`NS`/`EX`).
pub fn encode_meta_status<B: BufMut>(
    out: &mut B,
    status: MetaStatus,
    request: &MetaRequest<'_>,
    key: &[u8],
) {
    let mut reply = MetaReply::begin(out, status);
    for t in request.flags.tokens() {
        reply = match t.flag {
            b'O' => reply.opaque(t.arg),
            b'k' => reply.key(key, request.key.is_base64()),
            _ => reply,
        };
    }
    reply.finish();
}

/// Server side: appends an `ms` reply (`HD`/`NS`/`EX`/`NF`) with its `O`,
/// `k` and `c` return flags in request order.
pub fn encode_meta_set_result<B: BufMut>(
    out: &mut B,
    status: MetaStatus,
    request: &MetaSetRequest<'_>,
    key: &[u8],
    cas: u64,
) {
    let mut reply = MetaReply::begin(out, status);
    for t in request.flags.tokens() {
        reply = match t.flag {
            b'O' => reply.opaque(t.arg),
            b'k' => reply.key(key, request.key.is_base64()),
            b'c' => reply.flag_u64(b'c', cas),
            _ => reply,
        };
    }
    reply.finish();
}

/// Server side: appends an `ma` success reply: `HD` or `VA <len>` (with `v`)
/// with `c`, `t`, `O`, `k` in request order, then the number.
pub fn encode_meta_arithmetic_hit<B: BufMut>(
    out: &mut B,
    request: &MetaArithmeticRequest<'_>,
    key: &[u8],
    value: u64,
    cas: u64,
    ttl_left: i64,
) {
    let mut digits = [0u8; 20];
    let mut cursor = &mut digits[..];
    put_u64(&mut cursor, value);
    let remaining = cursor.len();
    let number = &digits[..20 - remaining];
    let mut reply = if request.flags.return_value() {
        MetaReply::begin_value(out, number.len())
    } else {
        MetaReply::begin(out, MetaStatus::Stored)
    };
    for t in request.flags.tokens() {
        reply = match t.flag {
            b'c' => reply.flag_u64(b'c', cas),
            b't' => reply.flag_i64(b't', ttl_left),
            b'O' => reply.opaque(t.arg),
            b'k' => reply.key(key, request.key.is_base64()),
            _ => reply,
        };
    }
    if request.flags.return_value() {
        reply.finish_value(number);
    } else {
        reply.finish();
    }
}

/// Server side: appends `MN\r\n`.
pub fn encode_meta_noop_reply<B: BufMut>(out: &mut B) {
    out.put_slice(b"MN\r\n");
}

/// Server side: appends the `me` reply
/// `ME <key> exp=<e> la=<l> cas=<c> fetch=<yes|no> cls=<class> size=<n>\r\n`.
#[allow(clippy::too_many_arguments)]
pub fn encode_meta_debug_reply<B: BufMut>(
    out: &mut B,
    key: &[u8],
    base64_key: bool,
    exp: i64,
    last_access: u64,
    cas: u64,
    fetched: bool,
    class: u32,
    size: usize,
) {
    out.put_slice(b"ME ");
    if base64_key {
        base64::encode_key(key, out);
    } else {
        out.put_slice(key);
    }
    out.put_slice(b" exp=");
    put_i64(out, exp);
    out.put_slice(b" la=");
    put_u64(out, last_access);
    out.put_slice(b" cas=");
    put_u64(out, cas);
    out.put_slice(if fetched { b" fetch=yes" } else { b" fetch=no" });
    out.put_slice(b" cls=");
    put_u64(out, u64::from(class));
    out.put_slice(b" size=");
    put_u64(out, size as u64);
    out.put_slice(b"\r\n");
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::errors::Recovery;

    use crate::decode_with_default_limits as decode;

    fn kind(input: &[u8]) -> ErrorKind {
        decode(input).unwrap_err().kind
    }

    #[test]
    fn mg_flags_are_parsed() {
        let (req, _) = decode(b"mg foo v c f O123 T30 N5 R10 q k s t h l u\r\n").unwrap().unwrap();
        let Request::MetaGet(m) = req else { panic!() };
        assert_eq!(m.key.as_plain(), Some(&b"foo"[..]));
        let f = m.flags;
        assert!(f.return_value() && f.return_cas() && f.return_flags() && f.quiet());
        assert!(f.return_key() && f.return_size() && f.return_ttl() && f.return_hit());
        assert!(f.return_last_access() && f.no_lru_bump() && !f.base64_key());
        assert_eq!(
            (f.opaque(), f.ttl(), f.vivify_ttl(), f.recache_ttl()),
            (Some(&b"123"[..]), Some(30), Some(5), Some(10))
        );
        let letters: Vec<u8> = f.tokens().map(|t| t.flag).collect();
        assert_eq!(letters, b"vcfOTNRqksthlu");
    }

    #[test]
    fn mg_errors_match_memcached() {
        assert_eq!(kind(b"mg\r\n"), ErrorKind::Error);
        assert_eq!(kind(b"mx k\r\n"), ErrorKind::Error);
        assert_eq!(kind(b"mg k zz\r\n"), ErrorKind::InvalidFlag);
        assert_eq!(kind(b"mg k E1\r\n"), ErrorKind::InvalidFlag);
        assert_eq!(kind(b"mg k v v\r\n"), ErrorKind::DuplicateFlag);
        assert_eq!(kind(b"mg k \x80\r\n"), ErrorKind::DuplicateFlag);
        assert_eq!(kind(b"mg k \x7f\r\n"), ErrorKind::DuplicateFlag);
        assert_eq!(kind(b"mg k Tx\r\n"), ErrorKind::BadToken);
        assert_eq!(kind(b"mg k Fx\r\n"), ErrorKind::BadCommandLineFormat);
        assert_eq!(kind(b"mg k Fx Tx\r\n"), ErrorKind::BadToken);
        assert_eq!(kind(b"mg k Tx Fx\r\n"), ErrorKind::BadToken);
        assert_eq!(kind(b"mg k Tx Z\r\n"), ErrorKind::InvalidFlag);
        assert_eq!(kind(b"mg k MXX\r\n"), ErrorKind::BadModeLength);
        assert_eq!(kind(b"mg k Jx\r\n"), ErrorKind::InvalidInitialValue);
        assert_eq!(kind(b"mg k Dx\r\n"), ErrorKind::InvalidDeltaValue);
        assert_eq!(kind(b"mg k Cx\r\n"), ErrorKind::BadToken);
        assert_eq!(kind(b"mg !!!! b\r\n"), ErrorKind::KeyDecoding);
        assert_eq!(kind(b"mg a=== b\r\n"), ErrorKind::KeyDecoding);
        let o32 = format!("md k O{}\r\n", "a".repeat(32));
        assert_eq!(kind(o32.as_bytes()), ErrorKind::OpaqueTooLong);
        let o31 = format!("md k O{}\r\n", "a".repeat(31));
        assert!(decode(o31.as_bytes()).is_ok());
        // mg and ma decode; the executor checks O after running them.
        for command in ["mg", "ma"] {
            let long = format!("{command} k O{}\r\n", "a".repeat(32));
            let (request, _) = decode(long.as_bytes()).unwrap().unwrap();
            let flags = match request {
                Request::MetaGet(r) => r.flags,
                Request::MetaArithmetic(r) => r.flags,
                other => panic!("{other:?}"),
            };
            assert_eq!(flags.check_opaque(), Err(ErrorKind::OpaqueTooLong));
        }
        assert_eq!(
            kind(b"mg k a b c d e f g h i j k l m n o p q r s\r\n"),
            ErrorKind::MgFlagsTooLong
        );
        assert!(decode(b"mg k c f h k l O q s t u v N1 R1 T1 P L\r\n").is_ok());
        let long = format!("mg {}\r\n", "k".repeat(251));
        assert_eq!(kind(long.as_bytes()), ErrorKind::BadCommandLineFormat);
        // Flags of other meta commands are accepted (one shared table).
        assert!(decode(b"mg k D5 J1 MZ I C1 F1\r\n").is_ok());
    }

    #[test]
    fn base64_keys_decode_on_the_stack() {
        let (req, _) = decode(b"mg a2V5 b v\r\n").unwrap().unwrap();
        let Request::MetaGet(m) = req else { panic!() };
        let mut buf = [0u8; KEY_BUFFER_LEN];
        assert_eq!(m.key.decode(&mut buf), b"key");
        assert_eq!(m.key.as_plain(), None);
        assert_eq!(m.key.decoded_len(), 3);
        // Lenient decoder: junk bytes are skipped.
        assert!(decode(b"mg a!a!a!a b v\r\n").is_ok());
    }

    #[test]
    fn ms_parses_modes_and_swallows_on_flag_errors() {
        let (req, used) = decode(b"ms k 2 T10 F5 MA c\r\nhi\r\nx").unwrap().unwrap();
        assert_eq!(used, 20 + 4);
        let Request::MetaSet(m) = req else { panic!() };
        assert_eq!(
            (m.mode, m.data, m.flags.ttl(), m.flags.client_flags()),
            (MetaSetMode::Append, &b"hi"[..], Some(10), Some(5))
        );
        for (flag, mode) in [
            ("ME", MetaSetMode::Add),
            ("MP", MetaSetMode::Prepend),
            ("MR", MetaSetMode::Replace),
            ("MS", MetaSetMode::Set),
        ] {
            let line = format!("ms k 1 {flag}\r\na\r\n");
            let Request::MetaSet(m) = decode(line.as_bytes()).unwrap().unwrap().0 else { panic!() };
            assert_eq!(m.mode, mode);
        }
        let e = decode(b"ms k 2 MX\r\nab\r\n").unwrap_err();
        assert_eq!(
            (e.kind, e.recovery, e.noreply),
            (ErrorKind::InvalidMsMode, Recovery::Discard(11 + 4), false)
        );
        let e = decode(b"ms k 2 S5\r\nab\r\n").unwrap_err();
        assert_eq!((e.kind, e.recovery), (ErrorKind::InvalidFlag, Recovery::Discard(11 + 4)));
        let e = decode(b"ms k 2 q Fx\r\nab\r\n").unwrap_err();
        assert_eq!(e.kind, ErrorKind::BadCommandLineFormat);
        assert!(!e.noreply);
        // No swallow when the length is unknown or the key is bad.
        let e = decode(b"ms k xx\r\n").unwrap_err();
        assert_eq!((e.kind, e.recovery), (ErrorKind::BadCommandLineFormat, Recovery::Discard(9)));
        assert_eq!(kind(b"ms k\r\n"), ErrorKind::BadCommandLineFormat);
        assert_eq!(kind(b"ms k -1\r\n"), ErrorKind::BadCommandLineFormat);
        assert_eq!(kind(b"ms k 2147483647\r\n"), ErrorKind::BadCommandLineFormat);
        assert_eq!(
            kind(b"ms k 2 a b c d e f g h i j k l m n o p q r\r\n"),
            ErrorKind::FlagsTooLong
        );
        let e = decode(b"ms k 1048517 T0\r\n").unwrap_err();
        assert_eq!(
            (e.kind, e.recovery),
            (ErrorKind::ObjectTooLarge, Recovery::Discard(17 + 1048519))
        );
        let e = decode(b"ms k 1 q\r\nabc").unwrap_err();
        assert_eq!((e.kind, e.noreply), (ErrorKind::BadDataChunk, false));
        assert_eq!(decode(b"ms k 5 T1\r\nab").unwrap(), None);
    }

    #[test]
    fn md_and_ma_collapse_flag_errors() {
        assert_eq!(kind(b"md k zz\r\n"), ErrorKind::InvalidOrDuplicateFlag);
        assert_eq!(kind(b"md !!!! b\r\n"), ErrorKind::InvalidOrDuplicateFlag);
        assert_eq!(kind(b"ma k Dx\r\n"), ErrorKind::InvalidOrDuplicateFlag);
        assert_eq!(kind(b"ma k MX\r\n"), ErrorKind::InvalidMaMode);
        let Request::MetaArithmetic(m) = decode(b"ma k M- D5 J7 N0 v\r\n").unwrap().unwrap().0
        else {
            panic!()
        };
        assert_eq!((m.mode, m.delta(), m.initial()), (MetaArithmeticMode::Decr, 5, 7));
        let Request::MetaArithmetic(m) = decode(b"ma k\r\n").unwrap().unwrap().0 else { panic!() };
        assert_eq!((m.mode, m.delta(), m.initial()), (MetaArithmeticMode::Incr, 1, 0));
        let Request::MetaDelete(m) = decode(b"md k q I T30 C9\r\n").unwrap().unwrap().0 else {
            panic!()
        };
        assert!(m.flags.quiet() && m.flags.invalidate());
        assert_eq!((m.flags.ttl(), m.flags.compare_cas()), (Some(30), Some(9)));
    }

    #[test]
    fn mn_and_me() {
        assert_eq!(decode(b"mn\r\n").unwrap().unwrap().0, Request::MetaNoop);
        assert_eq!(decode(b"mn extra\r\n").unwrap().unwrap().0, Request::MetaNoop);
        assert_eq!(kind(b"me\r\n"), ErrorKind::BadCommandLineFormat);
        assert_eq!(kind(b"me !!!! b\r\n"), ErrorKind::BadCommandLineFormat);
        let Request::MetaDebug(m) = decode(b"me a2V5 b\r\n").unwrap().unwrap().0 else { panic!() };
        assert!(m.key.is_base64());
    }

    #[test]
    fn replies_follow_request_order() {
        let Request::MetaGet(m) = decode(b"mg a2V5 b k v f s t c O123 q\r\n").unwrap().unwrap().0
        else {
            panic!()
        };
        let item = MetaItemInfo { cas: 9, ttl_left: -1, size: 2, ..Default::default() };
        let mut out = Vec::new();
        encode_meta_get_hit(&mut out, &m, b"key", &item, Some(b"hi"));
        assert_eq!(out, b"VA 2 ka2V5 b f0 s2 t-1 c9 O123\r\nhi\r\n");
        out.clear();
        encode_meta_status(&mut out, MetaStatus::Miss, &m, b"key");
        assert_eq!(out, b"EN ka2V5 b O123\r\n");
        let Request::MetaSet(s) = decode(b"ms a2V5 2 b k c\r\nhi\r\n").unwrap().unwrap().0 else {
            panic!()
        };
        out.clear();
        encode_meta_set_result(&mut out, MetaStatus::Stored, &s, b"key", 9);
        assert_eq!(out, b"HD ka2V5 b c9\r\n");
        let Request::MetaArithmetic(a) = decode(b"ma k v c O1\r\n").unwrap().unwrap().0 else {
            panic!()
        };
        out.clear();
        encode_meta_arithmetic_hit(&mut out, &a, b"k", 42, 7, -1);
        assert_eq!(out, b"VA 2 c7 O1\r\n42\r\n");
        out.clear();
        let item = MetaItemInfo { won: true, stale: true, token_sent: false, ..Default::default() };
        let Request::MetaGet(m) = decode(b"mg k\r\n").unwrap().unwrap().0 else { panic!() };
        encode_meta_get_hit(&mut out, &m, b"k", &item, None);
        assert_eq!(out, b"HD X W\r\n");
        out.clear();
        encode_meta_debug_reply(&mut out, b"k", false, -1, 0, 11, false, 1, 61);
        assert_eq!(out, b"ME k exp=-1 la=0 cas=11 fetch=no cls=1 size=61\r\n");
    }

    #[test]
    fn quiet_mode_table() {
        assert!(MetaStatus::Miss.hidden_by_quiet(MetaCommand::Get));
        assert!(!MetaStatus::Stored.hidden_by_quiet(MetaCommand::Get));
        assert!(MetaStatus::Stored.hidden_by_quiet(MetaCommand::Set));
        assert!(!MetaStatus::NotStored.hidden_by_quiet(MetaCommand::Set));
        assert!(!MetaStatus::NotFound.hidden_by_quiet(MetaCommand::Delete));
        assert!(MetaStatus::Value.hidden_by_quiet(MetaCommand::Arithmetic));
    }
}
