//! Storage commands: `set`, `add`, `replace`, `append`, `prepend`, `cas`.
//!
//! protocol.txt, "Storage commands": the client sends
//! `<command> <key> <flags> <exptime> <bytes> [noreply]\r\n` (cas adds
//! `<cas unique>` before `noreply`), then a data block of exactly `<bytes>`
//! bytes followed by `\r\n`. `set` always stores, `add` only when the key is
//! missing, `replace` only when it exists, `append`/`prepend` add to an
//! existing value (their flags and exptime are ignored), `cas` stores only
//! when the item was not changed since the client fetched the cas value.
//! Replies: `STORED`, `NOT_STORED`, `EXISTS`, `NOT_FOUND`.
//!
//! What memcached 1.6.18 does with bad lines (checked against the binary):
//!
//! ```text
//!  wrong token count                -> ERROR                          data block NOT skipped
//!  key > 250 bytes                  -> CLIENT_ERROR bad command line format   NOT skipped
//!  flags/exptime/bytes/cas not num. -> CLIENT_ERROR bad command line format   NOT skipped
//!  bytes < 0 or > INT_MAX-2         -> CLIENT_ERROR bad command line format   NOT skipped
//!  item bigger than -I              -> SERVER_ERROR object too large for cache
//!                                      data block skipped (bytes + 2, whatever they are)
//!  data not followed by \r\n        -> CLIENT_ERROR bad data chunk, bytes + 2 consumed
//!  noreply                          -> all of these lines are suppressed, except ERROR
//! ```
//! When the data block is not skipped, memcached parses it as the next command
//! (usually answering `ERROR`); the decoder reports `Discard(line length)` so the
//! caller does exactly the same.

use bytes::BufMut;

use crate::errors::{DecodeError, ErrorKind};
use crate::request::Request;
use crate::token::{
    checked_key, data_block, parse_i32, parse_u32, parse_u64, put_i64, put_noreply_end, put_u64,
    Line, Tokens,
};
use crate::Limits;

/// Which storage command.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum StorageCommand {
    /// `set`: store unconditionally.
    Set,
    /// `add`: store only if the key does not exist.
    Add,
    /// `replace`: store only if the key exists.
    Replace,
    /// `append`: add the data after the existing value.
    Append,
    /// `prepend`: add the data before the existing value.
    Prepend,
    /// `cas`: store only if the cas unique still matches.
    Cas,
}

impl StorageCommand {
    /// The command word.
    pub fn name(self) -> &'static str {
        match self {
            StorageCommand::Set => "set",
            StorageCommand::Add => "add",
            StorageCommand::Replace => "replace",
            StorageCommand::Append => "append",
            StorageCommand::Prepend => "prepend",
            StorageCommand::Cas => "cas",
        }
    }
}

/// A decoded storage request; `key` and `data` point into the input buffer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StorageRequest<'a> {
    /// Which command.
    pub command: StorageCommand,
    /// The key (1..=250 bytes, no spaces).
    pub key: &'a [u8],
    /// Opaque client flags (memcached truncates larger numbers to 32 bits).
    pub flags: u32,
    /// Raw exptime as memcached parsed it: 0 = never, <= 30 days relative,
    /// larger = absolute unix time, negative = already expired.
    pub exptime: i32,
    /// The `<cas unique>` of a `cas` command (0 for the others).
    pub cas_unique: u64,
    /// `noreply` was given.
    pub noreply: bool,
    /// The data block, without its trailing `\r\n`.
    pub data: &'a [u8],
}

impl StorageRequest<'_> {
    /// Client side: appends this request (line and data block).
    pub fn encode<B: BufMut>(&self, out: &mut B) {
        encode_storage(
            out,
            self.command,
            self.key,
            self.flags,
            self.exptime,
            self.cas_unique,
            self.noreply,
            self.data,
        );
    }
}

/// Client side: appends `<cmd> <key> <flags> <exptime> <bytes> [<cas>] [noreply]\r\n<data>\r\n`.
/// `cas_unique` is written only for [`StorageCommand::Cas`].
#[allow(clippy::too_many_arguments)]
pub fn encode_storage<B: BufMut>(
    out: &mut B,
    command: StorageCommand,
    key: &[u8],
    flags: u32,
    exptime: i32,
    cas_unique: u64,
    noreply: bool,
    data: &[u8],
) {
    out.put_slice(command.name().as_bytes());
    out.put_u8(b' ');
    out.put_slice(key);
    out.put_u8(b' ');
    put_u64(out, u64::from(flags));
    out.put_u8(b' ');
    put_i64(out, i64::from(exptime));
    out.put_u8(b' ');
    put_u64(out, data.len() as u64);
    if command == StorageCommand::Cas {
        out.put_u8(b' ');
        put_u64(out, cas_unique);
    }
    put_noreply_end(out, noreply);
    out.put_slice(data);
    out.put_slice(b"\r\n");
}

/// Server side: parses a storage line and waits for its data block.
pub(crate) fn decode<'a>(
    command: StorageCommand,
    tokens: &Tokens<'a>,
    line: Line<'a>,
    input: &'a [u8],
    limits: &Limits,
) -> Result<Option<(Request<'a>, usize)>, DecodeError> {
    let is_cas = command == StorageCommand::Cas;
    let ntokens = tokens.ntokens();
    // WANT_TOKENS_OR(6, 7), or (7, 8) for cas; ERROR is never silenced.
    let expected = if is_cas { 7 } else { 6 };
    if ntokens != expected && ntokens != expected + 1 {
        return Err(DecodeError::discard(ErrorKind::Error, line.consumed, false));
    }
    let noreply = tokens.ends_with_noreply();
    let bad_line = || DecodeError::discard(ErrorKind::BadCommandLineFormat, line.consumed, noreply);
    let key = checked_key(tokens.get(1), line, limits, noreply)?;
    let (Some(flags), Some(exptime), Some(vlen)) =
        (parse_u32(tokens.get(2)), parse_i32(tokens.get(3)), parse_i32(tokens.get(4)))
    else {
        return Err(bad_line());
    };
    let cas_unique = if is_cas { parse_u64(tokens.get(5)).ok_or_else(bad_line)? } else { 0 };
    if !(0..=i32::MAX - 2).contains(&vlen) {
        return Err(bad_line());
    }
    let vlen = vlen as usize;
    let total = line.consumed + vlen + 2;
    if limits.item_too_large(key.len(), flags, vlen) {
        return Err(DecodeError::discard(ErrorKind::ObjectTooLarge, total, noreply));
    }
    let Some(block) = data_block(input, line.consumed, vlen) else { return Ok(None) };
    let data = block.map_err(|kind| DecodeError::discard(kind, total, noreply))?;
    let request = StorageRequest { command, key, flags, exptime, cas_unique, noreply, data };
    Ok(Some((Request::Storage(request), total)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::errors::Recovery;

    use crate::decode_with_default_limits as decode;

    #[test]
    fn parses_every_storage_command() {
        for (word, cmd) in [
            ("set", StorageCommand::Set),
            ("add", StorageCommand::Add),
            ("replace", StorageCommand::Replace),
            ("append", StorageCommand::Append),
            ("prepend", StorageCommand::Prepend),
        ] {
            let input = format!("{word} key 5 -1 3\r\nabc\r\nrest");
            let (req, used) = decode(input.as_bytes()).unwrap().unwrap();
            assert_eq!(used, input.len() - 4);
            let Request::Storage(s) = req else { panic!("{req:?}") };
            assert_eq!(s.command, cmd);
            assert_eq!(
                (s.key, s.flags, s.exptime, s.data, s.noreply),
                (&b"key"[..], 5, -1, &b"abc"[..], false)
            );
        }
        let (req, _) = decode(b"cas k 0 0 1 99 noreply\r\nx\r\n").unwrap().unwrap();
        let Request::Storage(s) = req else { panic!() };
        assert_eq!((s.command, s.cas_unique, s.noreply), (StorageCommand::Cas, 99, true));
    }

    #[test]
    fn encode_then_decode() {
        let req = StorageRequest {
            command: StorageCommand::Cas,
            key: b"k",
            flags: 7,
            exptime: -5,
            cas_unique: 12,
            noreply: true,
            data: b"hello\r\nworld",
        };
        let mut out = Vec::new();
        req.encode(&mut out);
        assert_eq!(out, b"cas k 7 -5 12 12 noreply\r\nhello\r\nworld\r\n");
        let (back, used) = decode(&out).unwrap().unwrap();
        assert_eq!(back, Request::Storage(req));
        assert_eq!(used, out.len());
    }

    #[test]
    fn incomplete_data_block_waits() {
        assert_eq!(decode(b"set k 0 0 5\r\nab").unwrap(), None);
        assert_eq!(decode(b"set k 0 0 5\r\nabcde\r").unwrap(), None);
        assert_eq!(decode(b"set k 0 0 5").unwrap(), None);
    }

    #[test]
    fn bad_lines_do_not_swallow_the_data_block() {
        let long_key = "k".repeat(251);
        let line = format!("set {long_key} 0 0 1\r\n");
        let err = decode(format!("{line}a\r\n").as_bytes()).unwrap_err();
        assert_eq!(err.kind, ErrorKind::BadCommandLineFormat);
        assert_eq!(err.recovery, Recovery::Discard(line.len()));
        for bad in [
            "set k x 0 1",
            "set k 0 x 1",
            "set k 0 0 x",
            "set k 0 0 -1",
            "set k -1 0 1",
            "cas k 0 0 1 x",
            "set k 0 0 2147483646",
        ] {
            let err = decode(format!("{bad}\r\na\r\n").as_bytes()).unwrap_err();
            assert_eq!(err.kind, ErrorKind::BadCommandLineFormat, "{bad}");
            assert_eq!(err.recovery, Recovery::Discard(bad.len() + 2));
        }
        for bad in ["set k 0 0", "set k 0 0 1 noreply x", "cas k 0 0 1", "set"] {
            let err = decode(format!("{bad}\r\n").as_bytes()).unwrap_err();
            assert_eq!(err.kind, ErrorKind::Error, "{bad}");
        }
    }

    #[test]
    fn too_large_swallows_and_bad_chunk_consumes() {
        let err = decode(b"set k 0 0 1048517\r\n").unwrap_err();
        assert_eq!(err.kind, ErrorKind::ObjectTooLarge);
        assert_eq!(err.recovery, Recovery::Discard(19 + 1048517 + 2));
        assert!(decode(b"set k 0 0 1048516\r\n").unwrap().is_none());
        let err = decode(b"set k 0 0 1 noreply\r\nabc\r\n").unwrap_err();
        assert_eq!(err.kind, ErrorKind::BadDataChunk);
        assert_eq!(err.recovery, Recovery::Discard(21 + 3));
        assert!(err.noreply);
        assert_eq!(err.response_line(), None);
    }

    #[test]
    fn memcached_number_quirks() {
        let (req, _) = decode(b"set k 4294967297 4294967296 4294967297\r\na\r\n").unwrap().unwrap();
        let Request::Storage(s) = req else { panic!() };
        assert_eq!((s.flags, s.exptime, s.data), (1, 0, &b"a"[..]));
    }
}
