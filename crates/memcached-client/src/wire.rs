//! The client side of the wire: request bytes out, reply units in.
//!
//! Requests for the classic commands are encoded with `memcached-codec`'s client encoders;
//! the rest (meta commands, admin commands) and the reply decoder live here because the codec
//! does not offer a client-side response decoder (see the crate docs).
//!
//! A reply is read as a sequence of **units**, each one line (plus a data block for `VALUE`
//! and `VA`), so a long multi-get streams without re-parsing:
//!
//! ```text
//!   VALUE <key> <flags> <bytes> [<cas>]\r\n<data>\r\n   → Unit::Value
//!   END\r\n                                             → Unit::End
//!   STAT <name> <value>\r\n                             → Unit::Stat
//!   VA <size> <flags>*\r\n<data>\r\n                    → Unit::MetaValue
//!   HD|EN|NF|NS|EX|MN|ME … <flags>*\r\n                 → Unit::Meta
//!   STORED NOT_STORED EXISTS NOT_FOUND DELETED TOUCHED OK RESET → Unit::Status
//!   <digits>\r\n                                        → Unit::Number   (incr/decr)
//!   VERSION <text>\r\n                                  → Unit::Version
//!   ERROR… CLIENT_ERROR… SERVER_ERROR…                  → Unit::ErrorLine
//! ```
//!
//! `decode_unit` never panics on input: incomplete input is `Ok(None)`, anything else that is
//! not a reply is `Err` (the connection is then dropped).

use std::ops::Range;

/// Longest reply line accepted before the connection is declared broken.
pub const MAX_LINE: usize = 64 * 1024;
/// Largest data block accepted in a reply (memcached's item size cap is 1 GiB with `-I`).
pub const MAX_DATA: usize = 1 << 30;

/// Status words of classic replies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    /// `STORED`
    Stored,
    /// `NOT_STORED`
    NotStored,
    /// `EXISTS`
    Exists,
    /// `NOT_FOUND`
    NotFound,
    /// `DELETED`
    Deleted,
    /// `TOUCHED`
    Touched,
    /// `OK`
    Ok,
    /// `RESET` (stats reset)
    Reset,
}

/// Meta reply codes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MetaCode {
    /// `HD`: success, no value.
    Hd,
    /// `VA`: success with a value (only inside [`Unit::MetaValue`]).
    Va,
    /// `EN`: miss.
    En,
    /// `NF`: not found.
    Nf,
    /// `NS`: not stored.
    Ns,
    /// `EX`: CAS mismatch (exists).
    Ex,
    /// `MN`: end of a pipeline (`mn`).
    Mn,
    /// `ME`: meta debug line.
    Me,
}

impl MetaCode {
    /// The two-letter code.
    pub fn as_str(self) -> &'static str {
        match self {
            MetaCode::Hd => "HD",
            MetaCode::Va => "VA",
            MetaCode::En => "EN",
            MetaCode::Nf => "NF",
            MetaCode::Ns => "NS",
            MetaCode::Ex => "EX",
            MetaCode::Mn => "MN",
            MetaCode::Me => "ME",
        }
    }
}

/// One reply unit; ranges index the bytes passed to [`decode_unit`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Unit {
    /// `VALUE key flags bytes [cas]` and its data block.
    Value { key: Range<usize>, flags: u32, cas: Option<u64>, data: Range<usize> },
    /// `END`
    End,
    /// `STAT name value`
    Stat { name: Range<usize>, value: Range<usize> },
    /// `VA size flags*` and its data block; `flags` is the text after the size.
    MetaValue { flags: Range<usize>, data: Range<usize> },
    /// A meta status line; `flags` is the text after the code.
    Meta { code: MetaCode, flags: Range<usize> },
    /// A classic status word.
    Status(Status),
    /// The number an `incr`/`decr` returns.
    Number(u64),
    /// `VERSION text`: the text.
    Version(Range<usize>),
    /// `ERROR…`, `CLIENT_ERROR…` or `SERVER_ERROR…`: the whole line.
    ErrorLine(Range<usize>),
}

fn parse_u64(text: &[u8]) -> Option<u64> {
    if text.is_empty() || text.len() > 20 || !text.iter().all(u8::is_ascii_digit) {
        return None;
    }
    std::str::from_utf8(text).ok()?.parse().ok()
}

/// Splits `line[from..]` at the next space; returns (token range, index after it).
fn token(line: &[u8], from: usize) -> Option<(Range<usize>, usize)> {
    let start = from;
    if start >= line.len() {
        return None;
    }
    let end = line[start..].iter().position(|&b| b == b' ').map_or(line.len(), |p| start + p);
    if end == start {
        return None;
    }
    Some((start..end, (end + 1).min(line.len())))
}

/// Decodes one reply unit from the start of `buf`. Returns the unit and the bytes it used.
pub fn decode_unit(buf: &[u8]) -> Result<Option<(Unit, usize)>, String> {
    let Some(newline) = memchr::memchr(b'\n', &buf[..buf.len().min(MAX_LINE)]) else {
        if buf.len() >= MAX_LINE {
            return Err(format!("reply line longer than {MAX_LINE} bytes"));
        }
        return Ok(None);
    };
    if newline == 0 || buf[newline - 1] != b'\r' {
        return Err("reply line not terminated by \\r\\n".into());
    }
    let line = &buf[..newline - 1];
    let after_line = newline + 1;
    let rest_at = |word_len: usize| if line.len() > word_len { word_len + 1 } else { line.len() };
    let bad = || {
        format!("unexpected reply line {:?}", String::from_utf8_lossy(&line[..line.len().min(80)]))
    };

    // Data-carrying units first.
    if line.starts_with(b"VALUE ") {
        let (key, next) = token(line, 6).ok_or_else(bad)?;
        let (flags, next) = token(line, next).ok_or_else(bad)?;
        let (bytes, next) = token(line, next).ok_or_else(bad)?;
        let cas = match token(line, next) {
            Some((cas, _)) if next < line.len() => Some(parse_u64(&line[cas]).ok_or_else(bad)?),
            _ => None,
        };
        let flags = parse_u64(&line[flags]).and_then(|f| u32::try_from(f).ok()).ok_or_else(bad)?;
        let size = parse_u64(&line[bytes]).ok_or_else(bad)? as usize;
        if size > MAX_DATA {
            return Err(format!("value of {size} bytes is too large"));
        }
        return data_block(buf, after_line, size)
            .map(|r| r.map(|(data, used)| (Unit::Value { key, flags, cas, data }, used)));
    }
    if line.starts_with(b"VA ") {
        let (size, next) = token(line, 3).ok_or_else(bad)?;
        let size = parse_u64(&line[size]).ok_or_else(bad)? as usize;
        if size > MAX_DATA {
            return Err(format!("value of {size} bytes is too large"));
        }
        let flags = next.min(line.len())..line.len();
        return data_block(buf, after_line, size)
            .map(|r| r.map(|(data, used)| (Unit::MetaValue { flags, data }, used)));
    }

    let unit = match line {
        b"END" => Unit::End,
        b"STORED" => Unit::Status(Status::Stored),
        b"NOT_STORED" => Unit::Status(Status::NotStored),
        b"EXISTS" => Unit::Status(Status::Exists),
        b"NOT_FOUND" => Unit::Status(Status::NotFound),
        b"DELETED" => Unit::Status(Status::Deleted),
        b"TOUCHED" => Unit::Status(Status::Touched),
        b"OK" => Unit::Status(Status::Ok),
        b"RESET" => Unit::Status(Status::Reset),
        _ if line.starts_with(b"STAT ") => {
            let (name, next) = token(line, 5).ok_or_else(bad)?;
            Unit::Stat { name, value: next.min(line.len())..line.len() }
        }
        _ if line.starts_with(b"VERSION ") => Unit::Version(8..line.len()),
        _ if line.starts_with(b"ERROR")
            || line.starts_with(b"CLIENT_ERROR")
            || line.starts_with(b"SERVER_ERROR") =>
        {
            Unit::ErrorLine(0..line.len())
        }
        _ if line.len() >= 2 && (line.len() == 2 || line[2] == b' ') => {
            let code = match &line[..2] {
                b"HD" => MetaCode::Hd,
                b"EN" => MetaCode::En,
                b"NF" => MetaCode::Nf,
                b"NS" => MetaCode::Ns,
                b"EX" => MetaCode::Ex,
                b"MN" => MetaCode::Mn,
                b"ME" => MetaCode::Me,
                _ => {
                    return parse_number(line)
                        .map(|n| Some((Unit::Number(n), after_line)))
                        .ok_or_else(bad)
                }
            };
            Unit::Meta { code, flags: rest_at(2)..line.len() }
        }
        _ => parse_number(line).map(Unit::Number).ok_or_else(bad)?,
    };
    Ok(Some((unit, after_line)))
}

fn parse_number(line: &[u8]) -> Option<u64> {
    // memcached pads an incr result that shrank with trailing spaces.
    let end = line.iter().rposition(|&b| b != b' ').map_or(0, |p| p + 1);
    parse_u64(&line[..end])
}

fn data_block(
    buf: &[u8],
    start: usize,
    size: usize,
) -> Result<Option<(Range<usize>, usize)>, String> {
    let end = start + size;
    if buf.len() < end + 2 {
        return Ok(None);
    }
    if &buf[end..end + 2] != b"\r\n" {
        return Err("data block not followed by \\r\\n".into());
    }
    Ok(Some((start..end, end + 2)))
}

/// Appends `verb` and space-separated `args` and `\r\n`.
pub fn encode_line(out: &mut Vec<u8>, verb: &[u8], args: &[&[u8]]) {
    out.extend_from_slice(verb);
    for arg in args {
        out.push(b' ');
        out.extend_from_slice(arg);
    }
    out.extend_from_slice(b"\r\n");
}

/// Appends a meta command: `verb key [datalen] flags*\r\n[data\r\n]`.
pub fn encode_meta(
    out: &mut Vec<u8>,
    verb: &[u8],
    key: &[u8],
    data: Option<&[u8]>,
    flags: &[&str],
) {
    out.extend_from_slice(verb);
    if !key.is_empty() {
        out.push(b' ');
        out.extend_from_slice(key);
    }
    if let Some(data) = data {
        out.push(b' ');
        out.extend_from_slice(data.len().to_string().as_bytes());
    }
    for flag in flags {
        out.push(b' ');
        out.extend_from_slice(flag.as_bytes());
    }
    out.extend_from_slice(b"\r\n");
    if let Some(data) = data {
        out.extend_from_slice(data);
        out.extend_from_slice(b"\r\n");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn one(input: &[u8]) -> (Unit, usize) {
        decode_unit(input).unwrap().unwrap()
    }

    #[test]
    fn decodes_values_and_end() {
        let input = b"VALUE k 5 3 77\r\nabc\r\nEND\r\n";
        let (unit, used) = one(input);
        assert_eq!(unit, Unit::Value { key: 6..7, flags: 5, cas: Some(77), data: 16..19 });
        assert_eq!(one(&input[used..]), (Unit::End, 5));
        let (unit, _) = one(b"VALUE key 0 0\r\n\r\n");
        assert_eq!(unit, Unit::Value { key: 6..9, flags: 0, cas: None, data: 15..15 });
    }

    #[test]
    fn incomplete_input_is_none() {
        for cut in 0..20 {
            assert_eq!(decode_unit(&b"VALUE k 5 3 77\r\nabc\r\n"[..cut]), Ok(None), "cut {cut}");
        }
        assert_eq!(decode_unit(b"VA 2 f\r\nx"), Ok(None));
    }

    #[test]
    fn decodes_status_numbers_meta_and_errors() {
        assert_eq!(one(b"STORED\r\n").0, Unit::Status(Status::Stored));
        assert_eq!(one(b"42  \r\n").0, Unit::Number(42));
        assert_eq!(one(b"HD c123 t-1\r\n").0, Unit::Meta { code: MetaCode::Hd, flags: 3..11 });
        assert_eq!(one(b"EN\r\n").0, Unit::Meta { code: MetaCode::En, flags: 2..2 });
        assert_eq!(one(b"VA 2 s2\r\nhi\r\n").0, Unit::MetaValue { flags: 5..7, data: 9..11 });
        assert_eq!(one(b"SERVER_ERROR out of memory\r\n").0, Unit::ErrorLine(0..26));
        assert_eq!(one(b"STAT pid 12\r\n").0, Unit::Stat { name: 5..8, value: 9..11 });
        assert_eq!(one(b"VERSION 1.6.18\r\n").0, Unit::Version(8..14));
    }

    #[test]
    fn garbage_is_an_error_not_a_panic() {
        for input in [
            &b"WHAT\r\n"[..],
            b"VALUE\r\n",
            b"VALUE k x 1\r\n",
            b"VA x\r\n",
            b"\n",
            b"X\n",
            b"VALUE k 1 1\r\nab\r\n",
        ] {
            assert!(decode_unit(input).is_err(), "{input:?}");
        }
        assert!(decode_unit(&vec![b'a'; MAX_LINE + 1]).is_err());
    }
}
