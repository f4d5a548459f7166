//! Retrieval commands: `get`, `gets`, `gat`, `gats` (and the old alias `bget`).
//!
//! protocol.txt, "Retrieval command": `get <key>*\r\n` / `gets <key>*\r\n`
//! return one `VALUE <key> <flags> <bytes> [<cas unique>]\r\n<data>\r\n` per
//! key found (gets adds the cas), then `END\r\n`; missing keys are left out.
//! `gat <exptime> <key>*` / `gats <exptime> <key>*` ("get and touch") also
//! update the items' exptime and answer like get / gets.
//!
//! memcached 1.6.18 details copied here: a get line needs at least one token
//! after the command (`get` alone is `ERROR`, but `gat 10` with no key is an
//! empty `END`); any key longer than 250 bytes fails the whole command with
//! `CLIENT_ERROR bad command line format`; a bad gat exptime is
//! `CLIENT_ERROR invalid exptime argument`; multi-get lines have no length
//! limit (only `get `/`gets ` lines may exceed 2048 bytes before their newline).
//!
//! Keys are not collected: [`Keys`] is a view of the line that iterates over
//! the space-separated keys, so a 100-key get allocates nothing.

use bytes::BufMut;

use crate::errors::{DecodeError, ErrorKind};
use crate::request::Request;
use crate::token::{parse_i32, put_i64, Line};
use crate::Limits;

/// Which retrieval command.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RetrievalCommand {
    /// `get` (also `bget`).
    Get,
    /// `gets`: values with their cas unique.
    Gets,
    /// `gat <exptime>`: get and touch.
    Gat,
    /// `gats <exptime>`: get and touch, with cas.
    Gats,
}

impl RetrievalCommand {
    /// The command word.
    pub fn name(self) -> &'static str {
        match self {
            RetrievalCommand::Get => "get",
            RetrievalCommand::Gets => "gets",
            RetrievalCommand::Gat => "gat",
            RetrievalCommand::Gats => "gats",
        }
    }

    /// `VALUE` lines carry the cas unique (gets, gats).
    pub fn returns_cas(self) -> bool {
        matches!(self, RetrievalCommand::Gets | RetrievalCommand::Gats)
    }

    /// The command updates exptime (gat, gats).
    pub fn touches(self) -> bool {
        matches!(self, RetrievalCommand::Gat | RetrievalCommand::Gats)
    }
}

/// The keys of a multi-key command: a view of the space-separated key list
/// of the request line. Iterating allocates nothing.
#[derive(Debug, Clone, Copy, Default)]
pub struct Keys<'a> {
    region: &'a [u8],
}

impl<'a> Keys<'a> {
    /// Wraps a space-separated key list (extra spaces are ignored).
    pub fn new(region: &'a [u8]) -> Self {
        Keys { region }
    }

    /// Iterates over the keys in request order.
    pub fn iter(&self) -> KeysIter<'a> {
        KeysIter { rest: self.region }
    }

    /// Number of keys (walks the list).
    pub fn count(&self) -> usize {
        self.iter().count()
    }

    /// No keys at all.
    pub fn is_empty(&self) -> bool {
        self.iter().next().is_none()
    }

    /// The raw key list as it appeared on the line.
    pub fn as_bytes(&self) -> &'a [u8] {
        self.region
    }
}

impl PartialEq for Keys<'_> {
    fn eq(&self, other: &Self) -> bool {
        self.iter().eq(other.iter())
    }
}

impl Eq for Keys<'_> {}

impl<'a> IntoIterator for Keys<'a> {
    type Item = &'a [u8];
    type IntoIter = KeysIter<'a>;
    fn into_iter(self) -> KeysIter<'a> {
        self.iter()
    }
}

/// Iterator over [`Keys`].
#[derive(Debug, Clone)]
pub struct KeysIter<'a> {
    rest: &'a [u8],
}

impl<'a> Iterator for KeysIter<'a> {
    type Item = &'a [u8];

    fn next(&mut self) -> Option<&'a [u8]> {
        let start = self.rest.iter().position(|&b| b != b' ')?;
        let rest = &self.rest[start..];
        let end = memchr::memchr(b' ', rest).unwrap_or(rest.len());
        self.rest = &rest[end..];
        Some(&rest[..end])
    }
}

/// A decoded retrieval request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetrievalRequest<'a> {
    /// Which command.
    pub command: RetrievalCommand,
    /// The new exptime for gat/gats (`None` for get/gets).
    pub exptime: Option<i32>,
    /// The keys, in request order.
    pub keys: Keys<'a>,
}

impl RetrievalRequest<'_> {
    /// Client side: appends this request.
    pub fn encode<B: BufMut>(&self, out: &mut B) {
        encode_retrieval(out, self.command, self.exptime.unwrap_or(0), self.keys.iter());
    }
}

/// Client side: appends `get|gets <key>*\r\n` or `gat|gats <exptime> <key>*\r\n`
/// (`exptime` is written only for gat/gats).
pub fn encode_retrieval<B, I, K>(out: &mut B, command: RetrievalCommand, exptime: i32, keys: I)
where
    B: BufMut,
    I: IntoIterator<Item = K>,
    K: AsRef<[u8]>,
{
    out.put_slice(command.name().as_bytes());
    if command.touches() {
        out.put_u8(b' ');
        put_i64(out, i64::from(exptime));
    }
    for key in keys {
        out.put_u8(b' ');
        out.put_slice(key.as_ref());
    }
    out.put_slice(b"\r\n");
}

/// Server side: parses a retrieval line; `after_word` is the line after the
/// command word (the get path skips the general tokenizer).
pub(crate) fn decode<'a>(
    command: RetrievalCommand,
    after_word: &'a [u8],
    line: Line<'a>,
    limits: &Limits,
) -> Result<Option<(Request<'a>, usize)>, DecodeError> {
    let mut tokens = KeysIter { rest: after_word };
    // WANT_TOKENS_MIN(ntokens, 3): at least one token after the command.
    let Some(first) = tokens.next() else {
        return Err(DecodeError::discard(ErrorKind::Error, line.consumed, false));
    };
    let (exptime, keys) = if command.touches() {
        match parse_i32(first) {
            Some(t) => (Some(t), Keys::new(tokens.rest)),
            None => {
                return Err(DecodeError::discard(ErrorKind::InvalidExptime, line.consumed, false))
            }
        }
    } else {
        (None, Keys::new(after_word))
    };
    if keys.iter().any(|k| k.len() > limits.max_key_len) {
        return Err(DecodeError::discard(ErrorKind::BadCommandLineFormat, line.consumed, false));
    }
    Ok(Some((Request::Retrieval(RetrievalRequest { command, exptime, keys }), line.consumed)))
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::decode_with_default_limits as decode;

    #[test]
    fn multi_get_keys_iterate_without_copying() {
        let input = b"get  a bb   ccc \r\n";
        let (req, used) = decode(input).unwrap().unwrap();
        assert_eq!(used, input.len());
        let Request::Retrieval(r) = req else { panic!() };
        assert_eq!(r.command, RetrievalCommand::Get);
        let keys: Vec<&[u8]> = r.keys.iter().collect();
        assert_eq!(keys, [&b"a"[..], b"bb", b"ccc"]);
        assert_eq!(r.keys.count(), 3);
        // The keys point into the input buffer.
        assert!(std::ptr::eq(keys[0].as_ptr(), input[5..].as_ptr()));
    }

    #[test]
    fn gat_and_gats_take_an_exptime() {
        let (req, _) = decode(b"gats -1 a b\r\n").unwrap().unwrap();
        let Request::Retrieval(r) = req else { panic!() };
        assert_eq!((r.command, r.exptime, r.keys.count()), (RetrievalCommand::Gats, Some(-1), 2));
        let (req, _) = decode(b"gat 10\r\n").unwrap().unwrap();
        let Request::Retrieval(r) = req else { panic!() };
        assert!(r.keys.is_empty());
        assert_eq!(decode(b"gat x k\r\n").unwrap_err().kind, ErrorKind::InvalidExptime);
    }

    #[test]
    fn errors_match_memcached() {
        assert_eq!(decode(b"get\r\n").unwrap_err().kind, ErrorKind::Error);
        assert_eq!(decode(b"get \r\n").unwrap_err().kind, ErrorKind::Error);
        assert_eq!(decode(b"gat\r\n").unwrap_err().kind, ErrorKind::Error);
        let long = format!("get a {}\r\n", "k".repeat(251));
        assert_eq!(decode(long.as_bytes()).unwrap_err().kind, ErrorKind::BadCommandLineFormat);
        let ok = format!("get a {}\r\n", "k".repeat(250));
        assert!(decode(ok.as_bytes()).unwrap().is_some());
        // bget is an alias of get.
        let (req, _) = decode(b"bget k\r\n").unwrap().unwrap();
        assert!(matches!(
            req,
            Request::Retrieval(RetrievalRequest { command: RetrievalCommand::Get, .. })
        ));
    }

    #[test]
    fn more_than_23_keys_are_all_kept() {
        let keys: Vec<String> = (0..100).map(|i| format!("key{i}")).collect();
        let mut out = Vec::new();
        encode_retrieval(&mut out, RetrievalCommand::Gets, 0, &keys);
        let (req, _) = decode(&out).unwrap().unwrap();
        let Request::Retrieval(r) = req else { panic!() };
        assert_eq!(r.keys.count(), 100);
        assert!(r.keys.iter().eq(keys.iter().map(|k| k.as_bytes())));
    }
}
