//! `delete <key> [noreply]`.
//!
//! protocol.txt, "Deletion": removes the item; replies `DELETED` or
//! `NOT_FOUND`. Old clients send a hold time after the key: memcached 1.6.18
//! still accepts exactly `0` there (`delete k 0`, `delete k 0 noreply`) and
//! answers any other extra token with
//! `CLIENT_ERROR bad command line format.  Usage: delete <key> [noreply]`.
//! More than two tokens after the key is `ERROR`.

use bytes::BufMut;

use crate::errors::{DecodeError, ErrorKind};
use crate::request::Request;
use crate::token::{checked_key, put_noreply_end, Line, Tokens};
use crate::Limits;

/// A decoded `delete`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DeleteRequest<'a> {
    /// The key.
    pub key: &'a [u8],
    /// `noreply` was given.
    pub noreply: bool,
}

impl DeleteRequest<'_> {
    /// Client side: appends this request.
    pub fn encode<B: BufMut>(&self, out: &mut B) {
        encode_delete(out, self.key, self.noreply);
    }
}

/// Client side: appends `delete <key> [noreply]\r\n`.
pub fn encode_delete<B: BufMut>(out: &mut B, key: &[u8], noreply: bool) {
    out.put_slice(b"delete ");
    out.put_slice(key);
    put_noreply_end(out, noreply);
}

pub(crate) fn decode<'a>(
    tokens: &Tokens<'a>,
    line: Line<'a>,
    limits: &Limits,
) -> Result<Option<(Request<'a>, usize)>, DecodeError> {
    let ntokens = tokens.ntokens();
    if !(3..=5).contains(&ntokens) {
        return Err(DecodeError::discard(ErrorKind::Error, line.consumed, false));
    }
    let mut noreply = false;
    if ntokens > 3 {
        let hold_is_zero = tokens.get(2) == b"0";
        noreply = tokens.ends_with_noreply();
        let valid = (ntokens == 4 && (hold_is_zero || noreply))
            || (ntokens == 5 && hold_is_zero && noreply);
        if !valid {
            return Err(DecodeError::discard(ErrorKind::DeleteUsage, line.consumed, noreply));
        }
    }
    let key = checked_key(tokens.get(1), line, limits, noreply)?;
    Ok(Some((Request::Delete(DeleteRequest { key, noreply }), line.consumed)))
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::decode_with_default_limits as decode;

    #[test]
    fn accepted_forms() {
        for (line, noreply) in [
            ("delete k\r\n", false),
            ("delete k 0\r\n", false),
            ("delete k noreply\r\n", true),
            ("delete k 0 noreply\r\n", true),
        ] {
            let (req, used) = decode(line.as_bytes()).unwrap().unwrap();
            assert_eq!(req, Request::Delete(DeleteRequest { key: b"k", noreply }));
            assert_eq!(used, line.len());
        }
    }

    #[test]
    fn errors() {
        assert_eq!(decode(b"delete\r\n").unwrap_err().kind, ErrorKind::Error);
        assert_eq!(decode(b"delete k 0 noreply x\r\n").unwrap_err().kind, ErrorKind::Error);
        let e = decode(b"delete k 1\r\n").unwrap_err();
        assert_eq!(e.kind, ErrorKind::DeleteUsage);
        assert!(!e.noreply);
        let e = decode(b"delete k 1 noreply\r\n").unwrap_err();
        assert_eq!(e.kind, ErrorKind::DeleteUsage);
        assert!(e.noreply);
        let long = format!("delete {}\r\n", "k".repeat(251));
        assert_eq!(decode(long.as_bytes()).unwrap_err().kind, ErrorKind::BadCommandLineFormat);
    }

    #[test]
    fn round_trip() {
        let req = DeleteRequest { key: b"abc", noreply: true };
        let mut out = Vec::new();
        req.encode(&mut out);
        assert_eq!(out, b"delete abc noreply\r\n");
        assert_eq!(decode(&out).unwrap().unwrap().0, Request::Delete(req));
    }
}
