//! `incr` and `decr`.
//!
//! protocol.txt, "Increment/Decrement": `incr|decr <key> <value> [noreply]`
//! where value is a 64-bit unsigned decimal. The item's data must be a
//! decimal number; incr wraps around at 2^64, decr stops at 0. Replies the new
//! value, `NOT_FOUND`, or `CLIENT_ERROR cannot increment or decrement
//! non-numeric value` (the latter is the server's job). A delta that is not a
//! u64 (negative, too big, junk) is `CLIENT_ERROR invalid numeric delta argument`.

use bytes::BufMut;

use crate::errors::{DecodeError, ErrorKind};
use crate::request::Request;
use crate::token::{key_and_number, parse_u64, put_noreply_end, put_u64, Line, Tokens};
use crate::Limits;

/// incr or decr.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ArithmeticCommand {
    /// `incr`
    Incr,
    /// `decr`
    Decr,
}

impl ArithmeticCommand {
    /// The command word.
    pub fn name(self) -> &'static str {
        match self {
            ArithmeticCommand::Incr => "incr",
            ArithmeticCommand::Decr => "decr",
        }
    }
}

/// A decoded `incr`/`decr`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ArithmeticRequest<'a> {
    /// incr or decr.
    pub command: ArithmeticCommand,
    /// The key.
    pub key: &'a [u8],
    /// The amount to add or subtract.
    pub delta: u64,
    /// `noreply` was given.
    pub noreply: bool,
}

impl ArithmeticRequest<'_> {
    /// Client side: appends this request.
    pub fn encode<B: BufMut>(&self, out: &mut B) {
        encode_arithmetic(out, self.command, self.key, self.delta, self.noreply);
    }
}

/// Client side: appends `incr|decr <key> <delta> [noreply]\r\n`.
pub fn encode_arithmetic<B: BufMut>(
    out: &mut B,
    command: ArithmeticCommand,
    key: &[u8],
    delta: u64,
    noreply: bool,
) {
    out.put_slice(command.name().as_bytes());
    out.put_u8(b' ');
    out.put_slice(key);
    out.put_u8(b' ');
    put_u64(out, delta);
    put_noreply_end(out, noreply);
}

pub(crate) fn decode<'a>(
    command: ArithmeticCommand,
    tokens: &Tokens<'a>,
    line: Line<'a>,
    limits: &Limits,
) -> Result<Option<(Request<'a>, usize)>, DecodeError> {
    let (key, delta, noreply) =
        key_and_number(tokens, line, limits, parse_u64, ErrorKind::InvalidDeltaArgument)?;
    Ok(Some((
        Request::Arithmetic(ArithmeticRequest { command, key, delta, noreply }),
        line.consumed,
    )))
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::decode_with_default_limits as decode;

    #[test]
    fn parse_and_round_trip() {
        let (req, _) = decode(b"decr k 18446744073709551615 noreply\r\n").unwrap().unwrap();
        let want = ArithmeticRequest {
            command: ArithmeticCommand::Decr,
            key: b"k",
            delta: u64::MAX,
            noreply: true,
        };
        assert_eq!(req, Request::Arithmetic(want));
        let mut out = Vec::new();
        want.encode(&mut out);
        assert_eq!(out, b"decr k 18446744073709551615 noreply\r\n");
    }

    #[test]
    fn errors() {
        assert_eq!(decode(b"incr k\r\n").unwrap_err().kind, ErrorKind::Error);
        assert_eq!(decode(b"incr k 1 2 3\r\n").unwrap_err().kind, ErrorKind::Error);
        for bad in ["x", "-1", "18446744073709551616", "1x"] {
            let e = decode(format!("incr k {bad}\r\n").as_bytes()).unwrap_err();
            assert_eq!(e.kind, ErrorKind::InvalidDeltaArgument);
        }
        let e = decode(b"incr k abc noreply\r\n").unwrap_err();
        assert!(e.noreply);
        let long = format!("incr {} 1\r\n", "k".repeat(251));
        assert_eq!(decode(long.as_bytes()).unwrap_err().kind, ErrorKind::BadCommandLineFormat);
    }
}
