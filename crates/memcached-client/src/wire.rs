//! The client side of the wire, on top of `memcached-codec`'s client API.
//!
//! Requests are appended to a connection's output buffer with the codec's encoders
//! (`encode_storage`, `encode_retrieval`, `encode_meta`, …); replies are read one element at a
//! time with `memcached_codec::decode_response` and put together here according to what the
//! request expects.
//!
//! ```text
//!   Client op ──encode_*──► conn.out ──► server
//!   server ──► conn.read (BytesMut) ──decode_response──► Response element
//!                                 ──assemble (Expect)──► Reply (connection.rs)
//! ```

use memcached_codec::{
    encode_meta, encode_meta_noop, encode_meta_set, MetaCommand, MetaStatus, Response, StatusLine,
};

use crate::connection::Expect;

/// Whether `line` is one of the status words that answer a key command or `flush_all` /
/// `verbosity` (`STORED NOT_STORED EXISTS NOT_FOUND DELETED TOUCHED OK RESET`); `END` and
/// the administrative lines are not.
pub(crate) fn is_command_status(line: StatusLine) -> bool {
    matches!(
        line,
        StatusLine::Stored
            | StatusLine::NotStored
            | StatusLine::Exists
            | StatusLine::NotFound
            | StatusLine::Deleted
            | StatusLine::Touched
            | StatusLine::Ok
            | StatusLine::Reset
    )
}

/// Meta reply codes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MetaCode {
    /// `HD`: success, no value.
    Hd,
    /// `VA`: success with a value.
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

    pub(crate) fn from_status(status: MetaStatus) -> MetaCode {
        match status {
            MetaStatus::Value => MetaCode::Va,
            MetaStatus::Stored => MetaCode::Hd,
            MetaStatus::Miss => MetaCode::En,
            MetaStatus::NotStored => MetaCode::Ns,
            MetaStatus::Exists => MetaCode::Ex,
            MetaStatus::NotFound => MetaCode::Nf,
            MetaStatus::Noop => MetaCode::Mn,
            MetaStatus::Debug => MetaCode::Me,
        }
    }
}

/// The text of an error reply (`ERROR…`, `CLIENT_ERROR …`, `SERVER_ERROR …`), if `response`
/// is one.
pub(crate) fn error_text(response: &Response) -> Option<String> {
    match response {
        Response::Error(kind) => Some(kind.to_string()),
        Response::ClientError(message) => {
            Some(format!("CLIENT_ERROR {}", String::from_utf8_lossy(message)))
        }
        Response::ServerError(message) => {
            Some(format!("SERVER_ERROR {}", String::from_utf8_lossy(message)))
        }
        _ => None,
    }
}

/// A meta call checked and ready to encode: the command, and its flag tokens joined with
/// single spaces once (retries and replicas reuse them; nothing is allocated per attempt).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct MetaCall {
    command: MetaCommand,
    flags: Vec<u8>,
    /// With the quiet flag `q`: the code memcached leaves unsaid (`EN` for `mg`, `HD` for
    /// `ms`/`md`/`ma`). The call is followed by `mn`, so silence is told from slowness.
    quiet: Option<MetaCode>,
}

impl MetaCall {
    /// Checks `verb` (`mg ms md ma me`), that a value comes with `ms` and only with it, and
    /// every flag: a non-empty token without spaces or control bytes. The quiet flag `q` is
    /// allowed except on `me`: the call is then followed by `mn`, and when memcached stays
    /// quiet the reply carries the code it suppressed (`EN` for `mg`, `HD` otherwise; a quiet
    /// `ma` with `v` therefore loses its value).
    pub(crate) fn new(
        verb: &str,
        has_value: bool,
        flags: &[&str],
    ) -> std::result::Result<MetaCall, &'static str> {
        let command = match verb {
            "mg" => MetaCommand::Get,
            "ms" => MetaCommand::Set,
            "md" => MetaCommand::Delete,
            "ma" => MetaCommand::Arithmetic,
            "me" => MetaCommand::Debug,
            _ => return Err("meta verb must be mg, ms, md, ma or me"),
        };
        if (command == MetaCommand::Set) != has_value {
            return Err("ms takes a value, the other meta commands do not");
        }
        let mut joined = Vec::new();
        let mut quiet = None;
        for (i, flag) in flags.iter().enumerate() {
            if flag.is_empty() || flag.bytes().any(|b| b <= b' ' || b == 0x7f) {
                return Err("meta flags must be non-empty tokens without spaces");
            }
            if *flag == "q" {
                quiet = Some(match command {
                    MetaCommand::Get => MetaCode::En,
                    MetaCommand::Debug => return Err("me has no quiet mode"),
                    _ => MetaCode::Hd,
                });
            }
            if i > 0 {
                joined.push(b' ');
            }
            joined.extend_from_slice(flag.as_bytes());
        }
        Ok(MetaCall { command, flags: joined, quiet })
    }

    /// The reply to wait for.
    pub(crate) fn expect(&self) -> Expect {
        match self.quiet {
            Some(code) => Expect::QuietMeta(code),
            None => Expect::Meta,
        }
    }

    /// Whether the command only reads (`mg`, `me`): it may fail over along replicas.
    pub(crate) fn is_read(&self) -> bool {
        matches!(self.command, MetaCommand::Get | MetaCommand::Debug)
    }

    /// Appends `verb key flags*` (+ the data for `ms`) through the codec.
    pub(crate) fn encode(&self, out: &mut Vec<u8>, key: &[u8], value: Option<&[u8]>) {
        match (self.command, value) {
            (MetaCommand::Set, Some(data)) => encode_meta_set(out, key, &self.flags, data),
            _ => encode_meta(out, self.command, key, &self.flags),
        }
        if self.quiet.is_some() {
            encode_meta_noop(out);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::BytesMut;
    use memcached_codec::decode_response;

    #[test]
    fn meta_commands_encode_as_memcached_expects() {
        let mut out = Vec::new();
        MetaCall::new("mg", false, &["v", "T30"]).unwrap().encode(&mut out, b"k", None);
        MetaCall::new("ms", true, &["F5"]).unwrap().encode(&mut out, b"k", Some(b"abc"));
        MetaCall::new("md", false, &[]).unwrap().encode(&mut out, b"k", None);
        assert_eq!(out, b"mg k v T30\r\nms k 3 F5\r\nabc\r\nmd k\r\n");
    }

    #[test]
    fn bad_meta_calls_are_refused_before_sending() {
        assert!(MetaCall::new("mx", false, &[]).is_err());
        assert!(MetaCall::new("ms", false, &[]).is_err());
        assert!(MetaCall::new("mg", true, &[]).is_err());
        assert!(MetaCall::new("me", false, &["q"]).is_err());
        let mut out = Vec::new();
        let quiet = MetaCall::new("mg", false, &["v", "q"]).unwrap();
        quiet.encode(&mut out, b"k", None);
        assert_eq!(out, b"mg k v q\r\nmn\r\n");
        assert_eq!(quiet.expect(), Expect::QuietMeta(MetaCode::En));
        assert_eq!(
            MetaCall::new("md", false, &["q"]).unwrap().expect(),
            Expect::QuietMeta(MetaCode::Hd)
        );
        assert!(MetaCall::new("mg", false, &["a b"]).is_err());
        assert!(MetaCall::new("mg", false, &[""]).is_err());
        assert!(MetaCall::new("mg", false, &["v"]).unwrap().is_read());
        assert!(!MetaCall::new("ma", false, &["v"]).unwrap().is_read());
    }

    #[test]
    fn replies_map_to_client_codes() {
        let mut buf =
            BytesMut::from(&b"HD c5\r\nEN\r\nSTORED\r\nSERVER_ERROR out of memory\r\n"[..]);
        let Some(Response::Meta(m)) = decode_response(&mut buf).unwrap() else { panic!() };
        assert_eq!(MetaCode::from_status(m.status), MetaCode::Hd);
        let Some(Response::Meta(m)) = decode_response(&mut buf).unwrap() else { panic!() };
        assert_eq!(MetaCode::from_status(m.status), MetaCode::En);
        let Some(Response::Status(line)) = decode_response(&mut buf).unwrap() else { panic!() };
        assert!(is_command_status(line));
        assert!(!is_command_status(StatusLine::End));
        let error = decode_response(&mut buf).unwrap().unwrap();
        assert_eq!(error_text(&error).as_deref(), Some("SERVER_ERROR out of memory"));
    }
}
