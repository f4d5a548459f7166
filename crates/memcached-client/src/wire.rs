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
    encode_meta, encode_meta_set, MetaCommand, MetaStatus, Response, StatusLine,
};

/// Status words of classic replies the client acts on.
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

impl Status {
    pub(crate) fn from_line(line: StatusLine) -> Option<Status> {
        Some(match line {
            StatusLine::Stored => Status::Stored,
            StatusLine::NotStored => Status::NotStored,
            StatusLine::Exists => Status::Exists,
            StatusLine::NotFound => Status::NotFound,
            StatusLine::Deleted => Status::Deleted,
            StatusLine::Touched => Status::Touched,
            StatusLine::Ok => Status::Ok,
            StatusLine::Reset => Status::Reset,
            _ => return None,
        })
    }
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

/// Appends a meta command through the codec: `verb key flags*` (+ data for `ms`).
/// `flags` are tokens such as `v`, `T30`, `C123`; `scratch` is reused for joining them.
pub(crate) fn encode_meta_command(
    out: &mut Vec<u8>,
    command: MetaCommand,
    key: &[u8],
    value: Option<&[u8]>,
    flags: &[&str],
    scratch: &mut Vec<u8>,
) {
    scratch.clear();
    for (i, flag) in flags.iter().enumerate() {
        if i > 0 {
            scratch.push(b' ');
        }
        scratch.extend_from_slice(flag.as_bytes());
    }
    match (command, value) {
        (MetaCommand::Set, Some(data)) => encode_meta_set(out, key, scratch, data),
        _ => encode_meta(out, command, key, scratch),
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
        let mut scratch = Vec::new();
        encode_meta_command(&mut out, MetaCommand::Get, b"k", None, &["v", "T30"], &mut scratch);
        encode_meta_command(&mut out, MetaCommand::Set, b"k", Some(b"abc"), &["F5"], &mut scratch);
        encode_meta_command(&mut out, MetaCommand::Delete, b"k", None, &[], &mut scratch);
        assert_eq!(out, b"mg k v T30\r\nms k 3 F5\r\nabc\r\nmd k\r\n");
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
        assert_eq!(Status::from_line(line), Some(Status::Stored));
        let error = decode_response(&mut buf).unwrap().unwrap();
        assert_eq!(error_text(&error).as_deref(), Some("SERVER_ERROR out of memory"));
    }
}
