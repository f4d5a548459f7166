//! Client side: decoding server replies, one element at a time.
//!
//! A reply to one request may be several elements (`VALUE`... `END`,
//! `STAT`... `END`); the decoder returns each element and the client puts
//! them together (it knows what it asked). Values are split off the read
//! buffer (`BytesMut::split_to` + `freeze`), so no byte is copied.
//!
//! ```text
//!  BytesMut ──decode_response──> Ok(Some(Response))   bytes removed from the buffer
//!                               Ok(None)              incomplete: nothing removed
//!                               Err(ResponseError)    malformed: nothing removed; close
//! ```

use bytes::{BufMut, Bytes, BytesMut};

use crate::errors::ErrorKind;
use crate::meta::{MetaStatus, MetaToken, MetaTokens};
use crate::response::StatusLine;
use crate::token::put_u64;

/// Longest reply line the client accepts before giving up on the connection.
pub const MAX_RESPONSE_LINE: usize = 64 * 1024;

/// One `VALUE` entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Value {
    /// The key.
    pub key: Bytes,
    /// Client flags.
    pub flags: u32,
    /// Cas unique (gets/gats).
    pub cas: Option<u64>,
    /// The data.
    pub data: Bytes,
}

/// A meta reply: code, return flags, optional value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MetaResponse {
    /// The two-letter code.
    pub status: MetaStatus,
    /// Everything after the code (after `VA <size>` for values): the return
    /// flags, e.g. `c42 O7 kfoo`; for `ME` the key and item fields.
    pub flags: Bytes,
    /// The value of a `VA` reply.
    pub data: Option<Bytes>,
}

impl MetaResponse {
    /// Return flags in order.
    pub fn tokens(&self) -> MetaTokens<'_> {
        MetaTokens::over(&self.flags)
    }

    /// The argument of a return flag (`flag(b'c')` → `b"42"`).
    pub fn flag(&self, flag: u8) -> Option<&[u8]> {
        self.tokens().find(|t: &MetaToken<'_>| t.flag == flag).map(|t| t.arg)
    }

    /// A numeric return flag.
    pub fn flag_u64(&self, flag: u8) -> Option<u64> {
        crate::token::parse_u64(self.flag(flag)?)
    }

    /// The opaque (`O`) echoed back.
    pub fn opaque(&self) -> Option<&[u8]> {
        self.flag(b'O')
    }
}

/// One reply element.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Response {
    /// `VALUE ...` with its data.
    Value(Value),
    /// A fixed line: `END`, `STORED`, `NOT_FOUND`, `OK`, `RESET`, ...
    Status(StatusLine),
    /// An incr/decr result.
    Number(u64),
    /// `STAT <name> <value>`.
    Stat {
        /// Stat name.
        name: Bytes,
        /// Stat value (may contain spaces).
        value: Bytes,
    },
    /// `VERSION <version>`.
    Version(Bytes),
    /// A known error line.
    Error(ErrorKind),
    /// `CLIENT_ERROR <message>` not in [`ErrorKind`].
    ClientError(Bytes),
    /// `SERVER_ERROR <message>` not in [`ErrorKind`].
    ServerError(Bytes),
    /// A meta reply.
    Meta(MetaResponse),
    /// Any other line (`ITEM ...`, `PREFIX ...`, metadump and watch lines, ...).
    Other(Bytes),
}

/// A reply the client cannot parse; the connection should be closed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ResponseError {
    /// A `VALUE` or `VA` header with bad fields.
    #[error("malformed value header")]
    BadValueHeader,
    /// A data block not followed by `\r\n`.
    #[error("data block not terminated by CRLF")]
    BadDataChunk,
    /// No newline within [`MAX_RESPONSE_LINE`] bytes.
    #[error("reply line too long")]
    LineTooLong,
}

fn split_fields(line: &[u8]) -> impl Iterator<Item = &[u8]> {
    line.split(|&b| b == b' ').filter(|t| !t.is_empty())
}

fn digits_u64(s: &[u8]) -> Option<u64> {
    if s.is_empty() || !s.iter().all(u8::is_ascii_digit) {
        return None;
    }
    let mut v: u64 = 0;
    for &b in s {
        v = v.checked_mul(10)?.checked_add(u64::from(b - b'0'))?;
    }
    Some(v)
}

/// Decodes one reply element from the front of `buf`.
pub fn decode_response(buf: &mut BytesMut) -> Result<Option<Response>, ResponseError> {
    let Some(nl) = memchr::memchr(b'\n', buf) else {
        if buf.len() > MAX_RESPONSE_LINE {
            return Err(ResponseError::LineTooLong);
        }
        return Ok(None);
    };
    let line_end = if nl > 0 && buf[nl - 1] == b'\r' { nl - 1 } else { nl };
    let line_len = nl + 1;
    let line = &buf[..line_end];

    // Replies with a data block.
    if let Some(rest) = line.strip_prefix(b"VALUE ") {
        let mut f = split_fields(rest);
        let key_len = f.next().ok_or(ResponseError::BadValueHeader)?.len();
        let flags = f.next().and_then(digits_u64).ok_or(ResponseError::BadValueHeader)?;
        let flags = u32::try_from(flags).map_err(|_| ResponseError::BadValueHeader)?;
        let len = f.next().and_then(digits_u64).ok_or(ResponseError::BadValueHeader)?;
        let cas = match f.next() {
            Some(c) => Some(digits_u64(c).ok_or(ResponseError::BadValueHeader)?),
            None => None,
        };
        if f.next().is_some() {
            return Err(ResponseError::BadValueHeader);
        }
        drop(f);
        let key_start = 6 + rest.iter().position(|&b| b != b' ').unwrap_or(0);
        let Some((line, data)) = take_block(buf, line_len, len)? else { return Ok(None) };
        let key = line.slice(key_start..key_start + key_len);
        return Ok(Some(Response::Value(Value { key, flags, cas, data })));
    }
    if let Some(rest) = line.strip_prefix(b"VA ") {
        let size_len = rest.iter().position(|&b| b == b' ').unwrap_or(rest.len());
        let len = digits_u64(&rest[..size_len]).ok_or(ResponseError::BadValueHeader)?;
        let flags_start = (3 + size_len + 1).min(line_end);
        let Some((line, data)) = take_block(buf, line_len, len)? else { return Ok(None) };
        let flags = line.slice(flags_start..line_end);
        return Ok(Some(Response::Meta(MetaResponse {
            status: MetaStatus::Value,
            flags,
            data: Some(data),
        })));
    }

    let line = buf.split_to(line_len).freeze();
    let text = &line[..line_end];
    let response = if let Some(status) = StatusLine::from_line(text) {
        Response::Status(status)
    } else if text.len() >= 2
        && (text.len() == 2 || text[2] == b' ')
        && MetaStatus::from_code(&text[..2]).is_some()
    {
        let status = MetaStatus::from_code(&text[..2]).unwrap_or(MetaStatus::Stored);
        let start = if text.len() > 3 { 3 } else { text.len() };
        Response::Meta(MetaResponse { status, flags: line.slice(start..line_end), data: None })
    } else if let Some(v) = digits_u64(text) {
        Response::Number(v)
    } else if let Some(rest) = text.strip_prefix(b"STAT ") {
        let name_len = rest.iter().position(|&b| b == b' ').unwrap_or(rest.len());
        let value_start = (5 + name_len + 1).min(line_end);
        Response::Stat {
            name: line.slice(5..5 + name_len),
            value: line.slice(value_start..line_end),
        }
    } else if text.starts_with(b"VERSION ") {
        Response::Version(line.slice(8..line_end))
    } else if let Some(kind) = ErrorKind::from_line(text) {
        Response::Error(kind)
    } else if text.starts_with(b"CLIENT_ERROR ") {
        Response::ClientError(line.slice(13..line_end))
    } else if text.starts_with(b"SERVER_ERROR ") {
        Response::ServerError(line.slice(13..line_end))
    } else {
        Response::Other(line.slice(..line_end))
    };
    Ok(Some(response))
}

/// Splits `line_len + len + 2` bytes off `buf` when all there; returns the
/// frozen line (with its CRLF) and the data (without its CRLF).
fn take_block(
    buf: &mut BytesMut,
    line_len: usize,
    len: u64,
) -> Result<Option<(Bytes, Bytes)>, ResponseError> {
    let len = usize::try_from(len).map_err(|_| ResponseError::BadValueHeader)?;
    let total = line_len
        .checked_add(len)
        .and_then(|t| t.checked_add(2))
        .ok_or(ResponseError::BadValueHeader)?;
    if buf.len() < total {
        return Ok(None);
    }
    if &buf[line_len + len..total] != b"\r\n" {
        return Err(ResponseError::BadDataChunk);
    }
    let mut frame = buf.split_to(total);
    let line = frame.split_to(line_len).freeze();
    let data = frame.split_to(len).freeze();
    Ok(Some((line, data)))
}

impl Response {
    /// Appends the wire form (used by tests, proxies and simple servers).
    pub fn encode<B: BufMut>(&self, out: &mut B) {
        match self {
            Response::Value(v) => {
                crate::response::encode_value(out, &v.key, v.flags, v.cas, &v.data)
            }
            Response::Status(s) => s.encode(out),
            Response::Number(n) => crate::response::encode_number(out, *n),
            Response::Stat { name, value } => crate::response::encode_stat(out, name, value),
            Response::Version(v) => crate::response::encode_version(out, v),
            Response::Error(kind) => kind.encode(out),
            Response::ClientError(m) => crate::response::encode_client_error(out, m),
            Response::ServerError(m) => crate::response::encode_server_error(out, m),
            Response::Meta(m) => {
                match &m.data {
                    Some(data) => {
                        out.put_slice(b"VA ");
                        put_u64(out, data.len() as u64);
                    }
                    None => out.put_slice(m.status.code()),
                }
                if !m.flags.is_empty() {
                    out.put_u8(b' ');
                    out.put_slice(&m.flags);
                }
                out.put_slice(b"\r\n");
                if let Some(data) = &m.data {
                    out.put_slice(data);
                    out.put_slice(b"\r\n");
                }
            }
            Response::Other(line) => {
                out.put_slice(line);
                out.put_slice(b"\r\n");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decode_all(input: &[u8]) -> Vec<Response> {
        let mut buf = BytesMut::from(input);
        let mut out = Vec::new();
        while let Some(r) = decode_response(&mut buf).unwrap() {
            out.push(r);
        }
        assert!(buf.is_empty(), "left over: {buf:?}");
        out
    }

    #[test]
    fn get_reply() {
        let r = decode_all(b"VALUE k 5 3\r\nabc\r\nVALUE k2 0 2 77\r\n\r\n\r\nEND\r\n");
        assert_eq!(
            r,
            vec![
                Response::Value(Value {
                    key: Bytes::from_static(b"k"),
                    flags: 5,
                    cas: None,
                    data: Bytes::from_static(b"abc")
                }),
                Response::Value(Value {
                    key: Bytes::from_static(b"k2"),
                    flags: 0,
                    cas: Some(77),
                    data: Bytes::from_static(b"\r\n")
                }),
                Response::Status(StatusLine::End),
            ]
        );
    }

    #[test]
    fn simple_lines() {
        let r = decode_all(b"STORED\r\n42\r\nSTAT pid 12\r\nSTAT a b c\r\nVERSION 1.6.18\r\nERROR\r\nCLIENT_ERROR bad data chunk\r\nCLIENT_ERROR weird\r\nSERVER_ERROR x\r\nITEM k [1 b; 0 s]\r\n");
        assert_eq!(r[0], Response::Status(StatusLine::Stored));
        assert_eq!(r[1], Response::Number(42));
        assert_eq!(
            r[2],
            Response::Stat { name: Bytes::from_static(b"pid"), value: Bytes::from_static(b"12") }
        );
        assert_eq!(
            r[3],
            Response::Stat { name: Bytes::from_static(b"a"), value: Bytes::from_static(b"b c") }
        );
        assert_eq!(r[4], Response::Version(Bytes::from_static(b"1.6.18")));
        assert_eq!(r[5], Response::Error(ErrorKind::Error));
        assert_eq!(r[6], Response::Error(ErrorKind::BadDataChunk));
        assert_eq!(r[7], Response::ClientError(Bytes::from_static(b"weird")));
        assert_eq!(r[8], Response::ServerError(Bytes::from_static(b"x")));
        assert_eq!(r[9], Response::Other(Bytes::from_static(b"ITEM k [1 b; 0 s]")));
    }

    #[test]
    fn meta_replies() {
        let r = decode_all(
            b"VA 2 c9 O123\r\nhi\r\nHD\r\nEN\r\nHD c5 kfoo\r\nMN\r\nME k exp=-1 la=0\r\n",
        );
        let Response::Meta(va) = &r[0] else { panic!() };
        assert_eq!(
            (va.status, &va.flags[..], va.data.as_deref()),
            (MetaStatus::Value, &b"c9 O123"[..], Some(&b"hi"[..]))
        );
        assert_eq!((va.flag_u64(b'c'), va.opaque()), (Some(9), Some(&b"123"[..])));
        let Response::Meta(hd) = &r[1] else { panic!() };
        assert_eq!((hd.status, hd.flags.len()), (MetaStatus::Stored, 0));
        let Response::Meta(hd) = &r[3] else { panic!() };
        assert_eq!(hd.flag(b'k'), Some(&b"foo"[..]));
        let Response::Meta(me) = &r[5] else { panic!() };
        assert_eq!((me.status, &me.flags[..]), (MetaStatus::Debug, &b"k exp=-1 la=0"[..]));
    }

    #[test]
    fn incomplete_and_malformed() {
        let mut buf = BytesMut::from(&b"VALUE k 0 5\r\nab"[..]);
        assert_eq!(decode_response(&mut buf).unwrap(), None);
        assert_eq!(buf.len(), 15);
        let mut buf = BytesMut::from(&b"VALUE k 0 1\r\nabc"[..]);
        assert_eq!(decode_response(&mut buf).unwrap_err(), ResponseError::BadDataChunk);
        let mut buf = BytesMut::from(&b"VALUE k x 1\r\na\r\n"[..]);
        assert_eq!(decode_response(&mut buf).unwrap_err(), ResponseError::BadValueHeader);
        let mut buf = BytesMut::from(&vec![b'x'; MAX_RESPONSE_LINE + 1][..]);
        assert_eq!(decode_response(&mut buf).unwrap_err(), ResponseError::LineTooLong);
    }

    #[test]
    fn values_are_not_copied() {
        let mut buf = BytesMut::from(&b"VALUE k 0 3\r\nabc\r\n"[..]);
        let base = buf.as_ptr();
        let Some(Response::Value(v)) = decode_response(&mut buf).unwrap() else { panic!() };
        assert!(std::ptr::eq(v.data.as_ptr(), base.wrapping_add(13)));
    }
}
