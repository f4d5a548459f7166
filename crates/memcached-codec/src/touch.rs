//! `touch <key> <exptime> [noreply]`.
//!
//! protocol.txt, "Touch": updates the exptime of an existing item without
//! fetching it; replies `TOUCHED` or `NOT_FOUND`. A bad exptime is
//! `CLIENT_ERROR invalid exptime argument`.

use bytes::BufMut;

use crate::errors::{DecodeError, ErrorKind};
use crate::request::Request;
use crate::token::{key_and_number, parse_i32, put_i64, put_noreply_end, Line, Tokens};
use crate::Limits;

/// A decoded `touch`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TouchRequest<'a> {
    /// The key.
    pub key: &'a [u8],
    /// The new exptime (same rules as for storage commands).
    pub exptime: i32,
    /// `noreply` was given.
    pub noreply: bool,
}

impl TouchRequest<'_> {
    /// Client side: appends this request.
    pub fn encode<B: BufMut>(&self, out: &mut B) {
        encode_touch(out, self.key, self.exptime, self.noreply);
    }
}

/// Client side: appends `touch <key> <exptime> [noreply]\r\n`.
pub fn encode_touch<B: BufMut>(out: &mut B, key: &[u8], exptime: i32, noreply: bool) {
    out.put_slice(b"touch ");
    out.put_slice(key);
    out.put_u8(b' ');
    put_i64(out, i64::from(exptime));
    put_noreply_end(out, noreply);
}

pub(crate) fn decode<'a>(
    tokens: &Tokens<'a>,
    line: Line<'a>,
    limits: &Limits,
) -> Result<Option<(Request<'a>, usize)>, DecodeError> {
    let (key, exptime, noreply) =
        key_and_number(tokens, line, limits, parse_i32, ErrorKind::InvalidExptime)?;
    Ok(Some((Request::Touch(TouchRequest { key, exptime, noreply }), line.consumed)))
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::decode_with_default_limits as decode;

    #[test]
    fn parse_and_round_trip() {
        let want = TouchRequest { key: b"k", exptime: -3, noreply: false };
        let mut out = Vec::new();
        want.encode(&mut out);
        assert_eq!(out, b"touch k -3\r\n");
        assert_eq!(decode(&out).unwrap().unwrap().0, Request::Touch(want));
    }

    #[test]
    fn errors() {
        assert_eq!(decode(b"touch k\r\n").unwrap_err().kind, ErrorKind::Error);
        assert_eq!(decode(b"touch k x\r\n").unwrap_err().kind, ErrorKind::InvalidExptime);
        assert!(decode(b"touch k x noreply\r\n").unwrap_err().noreply);
    }
}
