//! Server-side reply encoders for the classic text protocol. Every function
//! appends to a caller buffer (`bytes::BufMut`: `Vec<u8>` or `BytesMut`)
//! and allocates nothing itself. Meta replies live in [`crate::meta`]; error
//! lines in [`crate::ErrorKind::encode`].
//!
//! protocol.txt reply shapes:
//!
//! ```text
//!  VALUE <key> <flags> <bytes> [<cas unique>]\r\n<data>\r\n ... END\r\n   get/gets/gat/gats
//!  STORED | NOT_STORED | EXISTS | NOT_FOUND\r\n                          storage
//!  DELETED | NOT_FOUND\r\n   TOUCHED | NOT_FOUND\r\n   <number>\r\n       delete, touch, incr/decr
//!  STAT <name> <value>\r\n ... END\r\n                                    stats
//!  OK\r\n  RESET\r\n  VERSION <version>\r\n                               admin
//! ```

use std::fmt;

use bytes::BufMut;

use crate::token::put_u64;

/// Fixed reply lines (without `\r\n`; [`StatusLine::encode`] adds it).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum StatusLine {
    /// `END`
    End,
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
    /// `BUSY currently processing reassign request`
    ReassignBusy,
    /// `BADCLASS invalid src or dst class id`
    ReassignBadClass,
    /// `NOSPARE source class has no spare pages`
    ReassignNoSpare,
    /// `SAME src and dst class are identical`
    ReassignSame,
    /// `BUSY currently processing crawler request`
    CrawlerBusy,
    /// `BADCLASS invalid class id`
    CrawlerBadClass,
    /// `NOTSTARTED no items to crawl`
    CrawlerNotStarted,
    /// `MEMLIMIT_TOO_SMALL cannot set maxbytes to less than 8m`
    MemlimitTooSmall,
    /// `MEMLIMIT_ADJUST_FAILED input value is megabytes not bytes`
    MemlimitNotMegabytes,
    /// `MEMLIMIT_ADJUST_FAILED out of bounds or unable to adjust`
    MemlimitAdjustFailed,
    /// `WATCHER_TOO_MANY log watcher limit reached`
    WatcherTooMany,
    /// `WATCHER_FAILED failed to add log watcher`
    WatcherFailed,
}

impl StatusLine {
    /// Every status line.
    pub const ALL: &'static [StatusLine] = &[
        StatusLine::End,
        StatusLine::Stored,
        StatusLine::NotStored,
        StatusLine::Exists,
        StatusLine::NotFound,
        StatusLine::Deleted,
        StatusLine::Touched,
        StatusLine::Ok,
        StatusLine::Reset,
        StatusLine::ReassignBusy,
        StatusLine::ReassignBadClass,
        StatusLine::ReassignNoSpare,
        StatusLine::ReassignSame,
        StatusLine::CrawlerBusy,
        StatusLine::CrawlerBadClass,
        StatusLine::CrawlerNotStarted,
        StatusLine::MemlimitTooSmall,
        StatusLine::MemlimitNotMegabytes,
        StatusLine::MemlimitAdjustFailed,
        StatusLine::WatcherTooMany,
        StatusLine::WatcherFailed,
    ];

    /// The line with its `\r\n`.
    pub fn line_with_crlf(self) -> &'static [u8] {
        match self {
            StatusLine::End => b"END\r\n",
            StatusLine::Stored => b"STORED\r\n",
            StatusLine::NotStored => b"NOT_STORED\r\n",
            StatusLine::Exists => b"EXISTS\r\n",
            StatusLine::NotFound => b"NOT_FOUND\r\n",
            StatusLine::Deleted => b"DELETED\r\n",
            StatusLine::Touched => b"TOUCHED\r\n",
            StatusLine::Ok => b"OK\r\n",
            StatusLine::Reset => b"RESET\r\n",
            StatusLine::ReassignBusy => b"BUSY currently processing reassign request\r\n",
            StatusLine::ReassignBadClass => b"BADCLASS invalid src or dst class id\r\n",
            StatusLine::ReassignNoSpare => b"NOSPARE source class has no spare pages\r\n",
            StatusLine::ReassignSame => b"SAME src and dst class are identical\r\n",
            StatusLine::CrawlerBusy => b"BUSY currently processing crawler request\r\n",
            StatusLine::CrawlerBadClass => b"BADCLASS invalid class id\r\n",
            StatusLine::CrawlerNotStarted => b"NOTSTARTED no items to crawl\r\n",
            StatusLine::MemlimitTooSmall => {
                b"MEMLIMIT_TOO_SMALL cannot set maxbytes to less than 8m\r\n"
            }
            StatusLine::MemlimitNotMegabytes => {
                b"MEMLIMIT_ADJUST_FAILED input value is megabytes not bytes\r\n"
            }
            StatusLine::MemlimitAdjustFailed => {
                b"MEMLIMIT_ADJUST_FAILED out of bounds or unable to adjust\r\n"
            }
            StatusLine::WatcherTooMany => b"WATCHER_TOO_MANY log watcher limit reached\r\n",
            StatusLine::WatcherFailed => b"WATCHER_FAILED failed to add log watcher\r\n",
        }
    }

    /// The line without `\r\n`.
    pub fn line(self) -> &'static [u8] {
        let l = self.line_with_crlf();
        &l[..l.len() - 2]
    }

    /// Parses a line (without `\r\n`).
    pub fn from_line(line: &[u8]) -> Option<StatusLine> {
        StatusLine::ALL.iter().copied().find(|s| s.line() == line)
    }

    /// Appends the line and `\r\n`.
    pub fn encode<B: BufMut>(self, out: &mut B) {
        out.put_slice(self.line_with_crlf());
    }
}

/// Appends `VALUE <key> <flags> <len>[ <cas>]\r\n` only; the caller then
/// writes the data and `\r\n` (e.g. straight from the store, or as a
/// separate iovec).
pub fn encode_value_header<B: BufMut>(
    out: &mut B,
    key: &[u8],
    flags: u32,
    len: usize,
    cas: Option<u64>,
) {
    out.put_slice(b"VALUE ");
    out.put_slice(key);
    out.put_u8(b' ');
    put_u64(out, u64::from(flags));
    out.put_u8(b' ');
    put_u64(out, len as u64);
    if let Some(cas) = cas {
        out.put_u8(b' ');
        put_u64(out, cas);
    }
    out.put_slice(b"\r\n");
}

/// Appends a whole `VALUE` entry: header, data, `\r\n`.
pub fn encode_value<B: BufMut>(out: &mut B, key: &[u8], flags: u32, cas: Option<u64>, data: &[u8]) {
    encode_value_header(out, key, flags, data.len(), cas);
    out.put_slice(data);
    out.put_slice(b"\r\n");
}

/// Appends `END\r\n`.
pub fn encode_end<B: BufMut>(out: &mut B) {
    out.put_slice(b"END\r\n");
}

/// Appends an incr/decr result: `<number>\r\n`.
pub fn encode_number<B: BufMut>(out: &mut B, value: u64) {
    put_u64(out, value);
    out.put_slice(b"\r\n");
}

/// Appends `STAT <name> <value>\r\n`.
pub fn encode_stat<B: BufMut>(out: &mut B, name: &[u8], value: &[u8]) {
    out.put_slice(b"STAT ");
    out.put_slice(name);
    out.put_u8(b' ');
    out.put_slice(value);
    out.put_slice(b"\r\n");
}

/// Appends `STAT <name> <number>\r\n`.
pub fn encode_stat_u64<B: BufMut>(out: &mut B, name: &[u8], value: u64) {
    out.put_slice(b"STAT ");
    out.put_slice(name);
    out.put_u8(b' ');
    put_u64(out, value);
    out.put_slice(b"\r\n");
}

/// Appends `STAT <name> <formatted value>\r\n` (e.g. `rusage_user 0.123456`,
/// `items:1:number 5` with `format_args!`), formatting straight into `out`.
pub fn encode_stat_fmt<B: BufMut>(
    out: &mut B,
    name: fmt::Arguments<'_>,
    value: fmt::Arguments<'_>,
) {
    out.put_slice(b"STAT ");
    write_fmt(out, name);
    out.put_u8(b' ');
    write_fmt(out, value);
    out.put_slice(b"\r\n");
}

/// Formats into a `BufMut` without an intermediate `String`.
pub fn write_fmt<B: BufMut>(out: &mut B, args: fmt::Arguments<'_>) {
    struct Adapter<'b, B: BufMut>(&'b mut B);
    impl<B: BufMut> fmt::Write for Adapter<'_, B> {
        fn write_str(&mut self, s: &str) -> fmt::Result {
            self.0.put_slice(s.as_bytes());
            Ok(())
        }
    }
    let _ = fmt::Write::write_fmt(&mut Adapter(out), args);
}

/// Appends `VERSION <version>\r\n`.
pub fn encode_version<B: BufMut>(out: &mut B, version: &[u8]) {
    out.put_slice(b"VERSION ");
    out.put_slice(version);
    out.put_slice(b"\r\n");
}

/// Appends `CLIENT_ERROR <message>\r\n` for messages not in [`crate::ErrorKind`].
pub fn encode_client_error<B: BufMut>(out: &mut B, message: &[u8]) {
    out.put_slice(b"CLIENT_ERROR ");
    out.put_slice(message);
    out.put_slice(b"\r\n");
}

/// Appends `SERVER_ERROR <message>\r\n` for messages not in [`crate::ErrorKind`].
pub fn encode_server_error<B: BufMut>(out: &mut B, message: &[u8]) {
    out.put_slice(b"SERVER_ERROR ");
    out.put_slice(message);
    out.put_slice(b"\r\n");
}

/// Appends one `stats cachedump` line: `ITEM <key> [<bytes> b; <exptime> s]\r\n`.
pub fn encode_cachedump_item<B: BufMut>(out: &mut B, key: &[u8], bytes: usize, exptime: u64) {
    out.put_slice(b"ITEM ");
    out.put_slice(key);
    out.put_slice(b" [");
    put_u64(out, bytes as u64);
    out.put_slice(b" b; ");
    put_u64(out, exptime);
    out.put_slice(b" s]\r\n");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn value_lines() {
        let mut out = Vec::new();
        encode_value(&mut out, b"k", 5, None, b"abc");
        encode_value(&mut out, b"k2", 0, Some(99), b"");
        encode_end(&mut out);
        assert_eq!(out, b"VALUE k 5 3\r\nabc\r\nVALUE k2 0 0 99\r\n\r\nEND\r\n");
    }

    #[test]
    fn status_lines_round_trip() {
        for &s in StatusLine::ALL {
            assert_eq!(StatusLine::from_line(s.line()), Some(s));
            let mut out = bytes::BytesMut::new();
            s.encode(&mut out);
            assert_eq!(&out[..], s.line_with_crlf());
        }
    }

    #[test]
    fn stats_numbers_version() {
        let mut out = Vec::new();
        encode_stat(&mut out, b"version", b"1.6.18");
        encode_stat_u64(&mut out, b"curr_items", 42);
        encode_stat_fmt(&mut out, format_args!("items:{}:number", 1), format_args!("{:.6}", 0.5));
        encode_number(&mut out, 18446744073709551615);
        encode_version(&mut out, b"1.6.18");
        encode_cachedump_item(&mut out, b"k", 3, 0);
        assert_eq!(
            out,
            b"STAT version 1.6.18\r\nSTAT curr_items 42\r\nSTAT items:1:number 0.500000\r\n18446744073709551615\r\nVERSION 1.6.18\r\nITEM k [3 b; 0 s]\r\n"
        );
    }
}
