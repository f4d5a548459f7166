//! Command lines: framing, tokenizing and memcached's number parsing.
//!
//! ```text
//!   input:  "set k 0 0 5\r\nhello\r\nget k\r\n"
//!            \___ line ___/\_ data _/
//!   line  = bytes before '\n', minus one '\r' when the line is longer than 1 byte
//!   line is cut at the first NUL (memcached works on C strings)
//!   tokens = runs of non-' ' bytes (only the space separates tokens; a tab is
//!            part of a token), at most 23 of them, like memcached's tokenizer
//! ```
//!
//! Number parsing copies memcached's `safe_strto*` helpers on a 64-bit build,
//! including their quirks: leading white space and a sign are accepted, the
//! number may be followed by a white-space byte and anything after it, 32-bit
//! results are silently truncated from the 64-bit value that `strtol` /
//! `strtoul` produced (so `set k 0 0 4294967297` stores a 1-byte value), and
//! unsigned parsers reject a `-` only when the wrapped result looks negative.

use crate::errors::{DecodeError, ErrorKind};
use crate::Limits;

/// memcached's tokenizer keeps at most `MAX_TOKENS - 1` real tokens per pass.
pub(crate) const MAX_TOKENS: usize = 24;

/// One command line, split at spaces.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Tokens<'a> {
    line: &'a [u8],
    spans: [(u32, u32); MAX_TOKENS],
    count: usize,
}

impl<'a> Tokens<'a> {
    /// Splits `line` at spaces, keeping at most `MAX_TOKENS - 1` tokens (the
    /// rest of the line is ignored by every non-get command, as in memcached).
    pub(crate) fn new(line: &'a [u8]) -> Self {
        let mut spans = [(0u32, 0u32); MAX_TOKENS];
        let mut count = 0;
        let mut i = 0;
        let n = line.len();
        while i < n && count < MAX_TOKENS - 1 {
            while i < n && line[i] == b' ' {
                i += 1;
            }
            if i == n {
                break;
            }
            let start = i;
            while i < n && line[i] != b' ' {
                i += 1;
            }
            spans[count] = (start as u32, i as u32);
            count += 1;
        }
        Tokens { line, spans, count }
    }

    /// Number of real tokens (memcached's `ntokens` is this plus one).
    pub(crate) fn len(&self) -> usize {
        self.count
    }

    /// memcached's `ntokens`: real tokens plus the terminal empty token.
    pub(crate) fn ntokens(&self) -> usize {
        self.count + 1
    }

    /// Token `i`, or an empty slice past the end (like memcached's terminal token).
    pub(crate) fn get(&self, i: usize) -> &'a [u8] {
        if i < self.count {
            let (s, e) = self.spans[i];
            &self.line[s as usize..e as usize]
        } else {
            &[]
        }
    }

    /// The bytes from the start of token `i` to the end of the line (empty past the end).
    pub(crate) fn rest_from(&self, i: usize) -> &'a [u8] {
        if i < self.count {
            &self.line[self.spans[i].0 as usize..]
        } else {
            &[]
        }
    }

    /// memcached's `set_noreply_maybe`: the last real token is exactly `noreply`.
    pub(crate) fn ends_with_noreply(&self) -> bool {
        self.count > 0 && self.get(self.count - 1) == b"noreply"
    }
}

/// `<command> <key> <number> [noreply]` (touch, incr, decr): the key, the number parsed by
/// `parse` (`bad_number` when it does not parse) and whether `noreply` was given.
pub(crate) fn key_and_number<'a, T>(
    tokens: &Tokens<'a>,
    line: Line<'a>,
    limits: &Limits,
    parse: fn(&[u8]) -> Option<T>,
    bad_number: ErrorKind,
) -> Result<(&'a [u8], T, bool), DecodeError> {
    let ntokens = tokens.ntokens();
    if ntokens != 4 && ntokens != 5 {
        return Err(DecodeError::discard(ErrorKind::Error, line.consumed, false));
    }
    let noreply = tokens.ends_with_noreply();
    let key = checked_key(tokens.get(1), line, limits, noreply)?;
    let Some(number) = parse(tokens.get(2)) else {
        return Err(DecodeError::discard(bad_number, line.consumed, noreply));
    };
    Ok((key, number, noreply))
}

/// `key`, or `CLIENT_ERROR bad command line format` when it is longer than the limit.
pub(crate) fn checked_key<'a>(
    key: &'a [u8],
    line: Line<'_>,
    limits: &Limits,
    noreply: bool,
) -> Result<&'a [u8], DecodeError> {
    if key.len() > limits.max_key_len {
        return Err(DecodeError::discard(ErrorKind::BadCommandLineFormat, line.consumed, noreply));
    }
    Ok(key)
}

/// The `<data>\r\n` block of `vlen` bytes that starts at `start`: `None` until all of it is
/// buffered, `Err(BadDataChunk)` when it does not end in `\r\n`.
pub(crate) fn data_block(
    input: &[u8],
    start: usize,
    vlen: usize,
) -> Option<Result<&[u8], ErrorKind>> {
    let block = input.get(start..start + vlen + 2)?;
    Some(match block.split_at(vlen) {
        (data, b"\r\n") => Ok(data),
        _ => Err(ErrorKind::BadDataChunk),
    })
}

/// Client side: ends a command line, with ` noreply` when asked.
pub(crate) fn put_noreply_end<B: bytes::BufMut>(out: &mut B, noreply: bool) {
    if noreply {
        out.put_slice(b" noreply");
    }
    out.put_slice(b"\r\n");
}

/// A complete command line found at the start of the input.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Line<'a> {
    /// Line content: without `\n`, without one `\r`, cut at the first NUL.
    pub(crate) text: &'a [u8],
    /// Bytes up to and including the `\n`.
    pub(crate) consumed: usize,
}

/// Outcome of looking for a line.
pub(crate) enum LineScan<'a> {
    Complete(Line<'a>),
    Incomplete,
    /// More than `max_line_len` bytes without `\n` and not a multi-get: close.
    Hostile,
}

/// Finds the first line; applies memcached's rule for lines without a newline
/// (try_read_command_ascii): past `max_line_len` buffered bytes the line must
/// be a `get `/`gets ` (after at most 100 leading spaces) or the connection is
/// closed without an answer.
pub(crate) fn scan_line(input: &[u8], max_line_len: usize) -> LineScan<'_> {
    match memchr::memchr(b'\n', input) {
        Some(nl) => {
            let mut end = nl;
            if nl > 1 && input[nl - 1] == b'\r' {
                end -= 1;
            }
            let mut text = &input[..end];
            if let Some(nul) = memchr::memchr(0, text) {
                text = &text[..nul];
            }
            LineScan::Complete(Line { text, consumed: nl + 1 })
        }
        None => {
            if input.len() > max_line_len {
                let spaces = input.iter().take_while(|&&b| b == b' ').count();
                let rest = &input[spaces..];
                if spaces > 100 || !(rest.starts_with(b"get ") || rest.starts_with(b"gets ")) {
                    return LineScan::Hostile;
                }
            }
            LineScan::Incomplete
        }
    }
}

/// C's `isspace` in the "C" locale.
pub(crate) fn is_c_space(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\n' | 0x0b | 0x0c | b'\r')
}

/// What `strtoull`/`strtoll` saw: sign, magnitude, where the digits ended.
struct Scanned {
    negative: bool,
    /// `None` on overflow of u64 magnitude.
    magnitude: Option<u64>,
    /// Index just past the last digit.
    end: usize,
}

/// Scans `[space]* [+-]? digit+`; `None` when there are no digits.
fn scan_number(token: &[u8]) -> Option<Scanned> {
    let mut i = 0;
    while i < token.len() && is_c_space(token[i]) {
        i += 1;
    }
    let mut negative = false;
    if i < token.len() && (token[i] == b'+' || token[i] == b'-') {
        negative = token[i] == b'-';
        i += 1;
    }
    let digits_start = i;
    let mut magnitude: Option<u64> = Some(0);
    while i < token.len() && token[i].is_ascii_digit() {
        let d = u64::from(token[i] - b'0');
        magnitude = magnitude.and_then(|m| m.checked_mul(10)).and_then(|m| m.checked_add(d));
        i += 1;
    }
    if i == digits_start {
        return None;
    }
    Some(Scanned { negative, magnitude, end: i })
}

/// The byte after the number must be the end of the token or white space.
fn ends_cleanly(token: &[u8], end: usize) -> bool {
    end == token.len() || is_c_space(token[end])
}

/// memcached `safe_strtoull`: u64; rejects overflow, trailing junk, and a `-`
/// when the wrapped value has its top bit set.
pub(crate) fn parse_u64(token: &[u8]) -> Option<u64> {
    let s = scan_number(token)?;
    let magnitude = s.magnitude?;
    if !ends_cleanly(token, s.end) {
        return None;
    }
    let value = if s.negative { magnitude.wrapping_neg() } else { magnitude };
    if (value as i64) < 0 && token[..s.end].contains(&b'-') {
        return None;
    }
    Some(value)
}

/// memcached `safe_strtoul` into a `uint32_t`: 64-bit `strtoul`, the '-' test
/// on the whole token, then truncation to 32 bits.
pub(crate) fn parse_u32(token: &[u8]) -> Option<u32> {
    let s = scan_number(token)?;
    let magnitude = s.magnitude?;
    if !ends_cleanly(token, s.end) {
        return None;
    }
    let value = if s.negative { magnitude.wrapping_neg() } else { magnitude };
    if (value as i64) < 0 && token.contains(&b'-') {
        return None;
    }
    Some(value as u32)
}

/// memcached `safe_strtol` into an `int32_t`: 64-bit `strtol` (overflow of i64
/// fails), then truncation to 32 bits.
pub(crate) fn parse_i32(token: &[u8]) -> Option<i32> {
    let s = scan_number(token)?;
    let magnitude = s.magnitude?;
    if !ends_cleanly(token, s.end) {
        return None;
    }
    let value: i64 = if s.negative {
        if magnitude > (i64::MAX as u64) + 1 {
            return None;
        }
        (magnitude as i64).wrapping_neg()
    } else {
        if magnitude > i64::MAX as u64 {
            return None;
        }
        magnitude as i64
    };
    Some(value as i32)
}

/// memcached `safe_strtod`: a decimal floating point number, followed by the
/// end of the token or white space.
pub(crate) fn parse_f64(token: &[u8]) -> Option<f64> {
    let mut start = 0;
    while start < token.len() && is_c_space(token[start]) {
        start += 1;
    }
    let end = token[start..].iter().position(|&b| is_c_space(b)).map_or(token.len(), |p| p + start);
    let text = std::str::from_utf8(&token[start..end]).ok()?;
    let value: f64 = text.parse().ok()?;
    if value.is_finite() {
        Some(value)
    } else {
        None
    }
}

/// Appends the decimal form of `v` without allocating.
pub(crate) fn put_u64<B: bytes::BufMut>(out: &mut B, v: u64) {
    let mut buf = [0u8; 20];
    let mut i = buf.len();
    let mut v = v;
    loop {
        i -= 1;
        buf[i] = b'0' + (v % 10) as u8;
        v /= 10;
        if v == 0 {
            break;
        }
    }
    out.put_slice(&buf[i..]);
}

/// Appends the decimal form of `v` without allocating.
pub(crate) fn put_i64<B: bytes::BufMut>(out: &mut B, v: i64) {
    if v < 0 {
        out.put_u8(b'-');
    }
    put_u64(out, v.unsigned_abs());
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokenizer_splits_on_spaces_only() {
        let t = Tokens::new(b"  set  k\t 0 0 1 ");
        assert_eq!(t.len(), 5);
        assert_eq!(t.get(0), b"set");
        assert_eq!(t.get(1), b"k\t");
        assert_eq!(t.get(5), b"");
        assert_eq!(t.rest_from(1), b"k\t 0 0 1 ");
    }

    #[test]
    fn tokenizer_keeps_at_most_23_tokens() {
        let line = b"a ".repeat(30);
        let t = Tokens::new(&line);
        assert_eq!(t.len(), 23);
        assert_eq!(t.ntokens(), 24);
    }

    #[test]
    fn line_framing_strips_one_cr_and_cuts_at_nul() {
        let LineScan::Complete(l) = scan_line(b"get a\r\r\nrest", 2048) else { panic!() };
        assert_eq!(l.text, b"get a\r");
        assert_eq!(l.consumed, 8);
        let LineScan::Complete(l) = scan_line(b"\r\n", 2048) else { panic!() };
        assert_eq!(l.text, b"\r");
        let LineScan::Complete(l) = scan_line(b"get a\0b\n", 2048) else { panic!() };
        assert_eq!(l.text, b"get a");
    }

    #[test]
    fn long_lines_without_newline() {
        assert!(matches!(scan_line(&[b'x'; 2048], 2048), LineScan::Incomplete));
        assert!(matches!(scan_line(&[b'x'; 2049], 2048), LineScan::Hostile));
        let get = [b"get ".as_slice(), &[b'k'; 3000]].concat();
        assert!(matches!(scan_line(&get, 2048), LineScan::Incomplete));
        let gat = [b"gat 0 ".as_slice(), &[b'k'; 3000]].concat();
        assert!(matches!(scan_line(&gat, 2048), LineScan::Hostile));
        let spaced = [[b' '; 101].as_slice(), b"get ", &[b'k'; 3000]].concat();
        assert!(matches!(scan_line(&spaced, 2048), LineScan::Hostile));
    }

    #[test]
    fn numbers_follow_memcached() {
        assert_eq!(parse_i32(b"4294967297"), Some(1));
        assert_eq!(parse_i32(b"+5"), Some(5));
        assert_eq!(parse_i32(b"-1"), Some(-1));
        assert_eq!(parse_i32(b"\t7"), Some(7));
        assert_eq!(parse_i32(b"7\tjunk"), Some(7));
        assert_eq!(parse_i32(b"7x"), None);
        assert_eq!(parse_i32(b""), None);
        assert_eq!(parse_i32(b"-"), None);
        assert_eq!(parse_i32(b"99999999999999999999"), None);
        assert_eq!(parse_u32(b"4294967296"), Some(0));
        assert_eq!(parse_u32(b"-1"), None);
        assert_eq!(parse_u32(b"-0"), Some(0));
        assert_eq!(parse_u64(b"18446744073709551615"), Some(u64::MAX));
        assert_eq!(parse_u64(b"18446744073709551616"), None);
        assert_eq!(parse_u64(b"-5"), None);
        assert_eq!(parse_u64(b"1\r"), Some(1));
        assert_eq!(parse_f64(b"1.5"), Some(1.5));
        assert_eq!(parse_f64(b"x"), None);
    }

    #[test]
    fn decimal_output() {
        let mut v = Vec::new();
        put_u64(&mut v, 0);
        v.push(b' ');
        put_u64(&mut v, u64::MAX);
        v.push(b' ');
        put_i64(&mut v, i64::MIN);
        assert_eq!(v, b"0 18446744073709551615 -9223372036854775808");
    }
}
