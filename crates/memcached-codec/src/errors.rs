//! memcached's error lines, and what a decoder error asks the caller to do.
//!
//! protocol.txt: `ERROR` means the client sent a command name that does not
//! exist; `CLIENT_ERROR <msg>` means the input does not follow the protocol;
//! `SERVER_ERROR <msg>` means the server failed to carry out a valid command.
//! After a `SERVER_ERROR` the server may close the connection (memcached only
//! does so for severe cases). The exact message texts below were collected
//! from memcached 1.6.18 (`proto_text.c`) and checked against the binary.
//!
//! ```text
//!   decode_request(input) ──Err(DecodeError)──> send kind.line() unless `noreply`
//!                                               then Recovery::Discard(n): skip n bytes
//!                                                    (n may exceed what is buffered:
//!                                                     a swallowed data block)
//!                                               or   Recovery::Close: drop the connection
//! ```

use bytes::BufMut;

/// Every error line memcached 1.6.18 sends (text and meta protocol), plus
/// [`ErrorKind::LineTooLong`], which closes the connection without a line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, thiserror::Error)]
#[non_exhaustive]
pub enum ErrorKind {
    /// `ERROR`: unknown command or wrong number of tokens.
    #[error("ERROR")]
    Error,
    /// `ERROR: shutdown not enabled` (shutdown without `-A`).
    #[error("ERROR: shutdown not enabled")]
    ShutdownNotEnabled,
    /// `ERROR cannot pipeline other commands before watch`.
    #[error("ERROR cannot pipeline other commands before watch")]
    CannotPipelineBeforeWatch,
    /// `ERROR cannot pipeline other commands before metadump`.
    #[error("ERROR cannot pipeline other commands before metadump")]
    CannotPipelineBeforeMetadump,
    /// `ERROR metadump not allowed` (dumps disabled).
    #[error("ERROR metadump not allowed")]
    MetadumpNotAllowed,
    /// `ERROR hot and warm pcts must not exceed 80` (`lru tune`).
    #[error("ERROR hot and warm pcts must not exceed 80")]
    LruPercentsTooHigh,
    /// `ERROR hot/warm age factors must be greater than 0` (`lru tune`).
    #[error("ERROR hot/warm age factors must be greater than 0")]
    LruFactorsNotPositive,
    /// `ERROR failed to start lru crawler thread`.
    #[error("ERROR failed to start lru crawler thread")]
    CrawlerStartFailed,
    /// `ERROR failed to stop lru crawler thread`.
    #[error("ERROR failed to stop lru crawler thread")]
    CrawlerStopFailed,
    /// `ERROR an unknown error happened` (lru_crawler).
    #[error("ERROR an unknown error happened")]
    UnknownError,

    /// `CLIENT_ERROR bad command line format`: the most common client error.
    #[error("CLIENT_ERROR bad command line format")]
    BadCommandLineFormat,
    /// `CLIENT_ERROR bad command line format.  Usage: delete <key> [noreply]`.
    #[error("CLIENT_ERROR bad command line format.  Usage: delete <key> [noreply]")]
    DeleteUsage,
    /// `CLIENT_ERROR bad command line` (stats cachedump with too few tokens).
    #[error("CLIENT_ERROR bad command line")]
    BadCommandLine,
    /// `CLIENT_ERROR bad command line termination` (auth payload).
    #[error("CLIENT_ERROR bad command line termination")]
    BadCommandLineTermination,
    /// `CLIENT_ERROR bad data chunk`: a data block not followed by `\r\n`.
    #[error("CLIENT_ERROR bad data chunk")]
    BadDataChunk,
    /// `CLIENT_ERROR invalid exptime argument` (touch, gat, flush_all).
    #[error("CLIENT_ERROR invalid exptime argument")]
    InvalidExptime,
    /// `CLIENT_ERROR invalid numeric delta argument` (incr/decr).
    #[error("CLIENT_ERROR invalid numeric delta argument")]
    InvalidDeltaArgument,
    /// `CLIENT_ERROR invalid numeric delta value` (meta `D` token).
    #[error("CLIENT_ERROR invalid numeric delta value")]
    InvalidDeltaValue,
    /// `CLIENT_ERROR cannot increment or decrement non-numeric value` (sent by the server).
    #[error("CLIENT_ERROR cannot increment or decrement non-numeric value")]
    NonNumericValue,
    /// `CLIENT_ERROR invalid numeric initial value` (ma `J`).
    #[error("CLIENT_ERROR invalid numeric initial value")]
    InvalidInitialValue,
    /// `CLIENT_ERROR bad token in command line format` (meta N/T/R/C tokens).
    #[error("CLIENT_ERROR bad token in command line format")]
    BadToken,
    /// `CLIENT_ERROR opaque token too long` (meta `O` over 32 bytes).
    #[error("CLIENT_ERROR opaque token too long")]
    OpaqueTooLong,
    /// `CLIENT_ERROR options flags are too long` (mg with too many tokens).
    #[error("CLIENT_ERROR options flags are too long")]
    MgFlagsTooLong,
    /// `CLIENT_ERROR options flags too long` (ms/md/ma with too many tokens).
    #[error("CLIENT_ERROR options flags too long")]
    FlagsTooLong,
    /// `CLIENT_ERROR invalid flag`.
    #[error("CLIENT_ERROR invalid flag")]
    InvalidFlag,
    /// `CLIENT_ERROR duplicate flag`.
    #[error("CLIENT_ERROR duplicate flag")]
    DuplicateFlag,
    /// `CLIENT_ERROR invalid or duplicate flag` (md and ma, any flag error).
    #[error("CLIENT_ERROR invalid or duplicate flag")]
    InvalidOrDuplicateFlag,
    /// `CLIENT_ERROR incorrect length for M token`.
    #[error("CLIENT_ERROR incorrect length for M token")]
    BadModeLength,
    /// `CLIENT_ERROR invalid mode for ms M token`.
    #[error("CLIENT_ERROR invalid mode for ms M token")]
    InvalidMsMode,
    /// `CLIENT_ERROR invalid mode for ma M token`.
    #[error("CLIENT_ERROR invalid mode for ma M token")]
    InvalidMaMode,
    /// `CLIENT_ERROR error decoding key` (bad base64 key with `b`).
    #[error("CLIENT_ERROR error decoding key")]
    KeyDecoding,
    /// `CLIENT_ERROR unauthenticated`.
    #[error("CLIENT_ERROR unauthenticated")]
    Unauthenticated,
    /// `CLIENT_ERROR authentication failure`.
    #[error("CLIENT_ERROR authentication failure")]
    AuthenticationFailure,
    /// `CLIENT_ERROR bad authentication token format`.
    #[error("CLIENT_ERROR bad authentication token format")]
    BadAuthenticationTokenFormat,
    /// `CLIENT_ERROR flush_all not allowed` (`-F`).
    #[error("CLIENT_ERROR flush_all not allowed")]
    FlushNotAllowed,
    /// `CLIENT_ERROR stats cachedump not allowed`.
    #[error("CLIENT_ERROR stats cachedump not allowed")]
    CachedumpNotAllowed,
    /// `CLIENT_ERROR Illegal slab id`.
    #[error("CLIENT_ERROR Illegal slab id")]
    IllegalSlabId,
    /// `CLIENT_ERROR slab reassignment disabled`.
    #[error("CLIENT_ERROR slab reassignment disabled")]
    SlabReassignDisabled,
    /// `CLIENT_ERROR lru crawler disabled`.
    #[error("CLIENT_ERROR lru crawler disabled")]
    LruCrawlerDisabled,
    /// `CLIENT_ERROR sleep must be one second or less`.
    #[error("CLIENT_ERROR sleep must be one second or less")]
    CrawlerSleepTooLong,
    /// `CLIENT_ERROR watch commands not allowed`.
    #[error("CLIENT_ERROR watch commands not allowed")]
    WatchNotAllowed,
    /// `CLIENT_ERROR usage: stats detail on|off|dump`.
    #[error("CLIENT_ERROR usage: stats detail on|off|dump")]
    StatsDetailUsage,
    /// `CLIENT_ERROR invalid shutdown mode`.
    #[error("CLIENT_ERROR invalid shutdown mode")]
    InvalidShutdownMode,

    /// `SERVER_ERROR object too large for cache`.
    #[error("SERVER_ERROR object too large for cache")]
    ObjectTooLarge,
    /// `SERVER_ERROR out of memory storing object`.
    #[error("SERVER_ERROR out of memory storing object")]
    OutOfMemoryStoring,
    /// `SERVER_ERROR out of memory` (incr/decr).
    #[error("SERVER_ERROR out of memory")]
    OutOfMemory,
    /// `SERVER_ERROR Out of memory allocating new item` (ma autovivify).
    #[error("SERVER_ERROR Out of memory allocating new item")]
    OutOfMemoryAllocatingItem,
    /// `SERVER_ERROR out of memory reading request`.
    #[error("SERVER_ERROR out of memory reading request")]
    OutOfMemoryReadingRequest,
    /// `SERVER_ERROR out of memory writing get response`.
    #[error("SERVER_ERROR out of memory writing get response")]
    OutOfMemoryWritingGet,
    /// `SERVER_ERROR out of memory writing stats`.
    #[error("SERVER_ERROR out of memory writing stats")]
    OutOfMemoryWritingStats,
    /// `SERVER_ERROR output line too long`.
    #[error("SERVER_ERROR output line too long")]
    OutputLineTooLong,
    /// `SERVER_ERROR refcount overflow during fetch`.
    #[error("SERVER_ERROR refcount overflow during fetch")]
    RefcountOverflow,
    /// `SERVER_ERROR Unhandled storage type.`
    #[error("SERVER_ERROR Unhandled storage type.")]
    UnhandledStorageType,
    /// `SERVER_ERROR Out of memory during read`.
    #[error("SERVER_ERROR Out of memory during read")]
    OutOfMemoryDuringRead,

    /// More than the line limit buffered without a newline (not a multi-get):
    /// memcached closes the connection and sends nothing.
    #[error("line too long without newline: connection closed")]
    LineTooLong,
}

impl ErrorKind {
    /// The error line without its `\r\n` (`""` for [`ErrorKind::LineTooLong`]).
    pub fn line(self) -> &'static str {
        let full = error_line(self);
        let text = &full[..full.len().saturating_sub(2)];
        // The table holds only ASCII literals.
        std::str::from_utf8(text).unwrap_or("")
    }

    /// Every kind, for tests and tools.
    pub const ALL: &'static [ErrorKind] = &[
        ErrorKind::Error,
        ErrorKind::ShutdownNotEnabled,
        ErrorKind::CannotPipelineBeforeWatch,
        ErrorKind::CannotPipelineBeforeMetadump,
        ErrorKind::MetadumpNotAllowed,
        ErrorKind::LruPercentsTooHigh,
        ErrorKind::LruFactorsNotPositive,
        ErrorKind::CrawlerStartFailed,
        ErrorKind::CrawlerStopFailed,
        ErrorKind::UnknownError,
        ErrorKind::BadCommandLineFormat,
        ErrorKind::DeleteUsage,
        ErrorKind::BadCommandLine,
        ErrorKind::BadCommandLineTermination,
        ErrorKind::BadDataChunk,
        ErrorKind::InvalidExptime,
        ErrorKind::InvalidDeltaArgument,
        ErrorKind::InvalidDeltaValue,
        ErrorKind::NonNumericValue,
        ErrorKind::InvalidInitialValue,
        ErrorKind::BadToken,
        ErrorKind::OpaqueTooLong,
        ErrorKind::MgFlagsTooLong,
        ErrorKind::FlagsTooLong,
        ErrorKind::InvalidFlag,
        ErrorKind::DuplicateFlag,
        ErrorKind::InvalidOrDuplicateFlag,
        ErrorKind::BadModeLength,
        ErrorKind::InvalidMsMode,
        ErrorKind::InvalidMaMode,
        ErrorKind::KeyDecoding,
        ErrorKind::Unauthenticated,
        ErrorKind::AuthenticationFailure,
        ErrorKind::BadAuthenticationTokenFormat,
        ErrorKind::FlushNotAllowed,
        ErrorKind::CachedumpNotAllowed,
        ErrorKind::IllegalSlabId,
        ErrorKind::SlabReassignDisabled,
        ErrorKind::LruCrawlerDisabled,
        ErrorKind::CrawlerSleepTooLong,
        ErrorKind::WatchNotAllowed,
        ErrorKind::StatsDetailUsage,
        ErrorKind::InvalidShutdownMode,
        ErrorKind::ObjectTooLarge,
        ErrorKind::OutOfMemoryStoring,
        ErrorKind::OutOfMemory,
        ErrorKind::OutOfMemoryAllocatingItem,
        ErrorKind::OutOfMemoryReadingRequest,
        ErrorKind::OutOfMemoryWritingGet,
        ErrorKind::OutOfMemoryWritingStats,
        ErrorKind::OutputLineTooLong,
        ErrorKind::RefcountOverflow,
        ErrorKind::UnhandledStorageType,
        ErrorKind::OutOfMemoryDuringRead,
        ErrorKind::LineTooLong,
    ];

    /// Looks up the kind for an error line (without `\r\n`).
    pub fn from_line(line: &[u8]) -> Option<ErrorKind> {
        ErrorKind::ALL
            .iter()
            .copied()
            .find(|k| *k != ErrorKind::LineTooLong && k.line().as_bytes() == line)
    }

    /// Appends the line and `\r\n` (nothing for [`ErrorKind::LineTooLong`]).
    pub fn encode<B: BufMut>(self, out: &mut B) {
        if self != ErrorKind::LineTooLong {
            out.put_slice(self.line().as_bytes());
            out.put_slice(b"\r\n");
        }
    }
}

/// What the caller must do with its input after a [`DecodeError`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Recovery {
    /// Skip this many bytes from the start of the input that was decoded,
    /// then go on decoding. The count can be larger than what is buffered
    /// when a data block is swallowed (memcached's `conn_swallow`): keep
    /// skipping bytes as they arrive.
    Discard(usize),
    /// Close the connection without sending anything.
    Close,
}

/// A request that memcached would answer with an error line (or by closing).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("{kind}")]
pub struct DecodeError {
    /// Which error line memcached sends.
    pub kind: ErrorKind,
    /// How much input to skip, or close.
    pub recovery: Recovery,
    /// The command carried `noreply`, which in memcached also silences its
    /// error line (classic commands only; meta errors are always sent).
    pub noreply: bool,
}

impl DecodeError {
    pub(crate) fn discard(kind: ErrorKind, bytes: usize, noreply: bool) -> Self {
        DecodeError { kind, recovery: Recovery::Discard(bytes), noreply }
    }

    pub(crate) fn close() -> Self {
        DecodeError { kind: ErrorKind::LineTooLong, recovery: Recovery::Close, noreply: false }
    }

    /// The bytes to send back (with `\r\n`), or `None` when nothing is sent
    /// (`noreply`, or the connection is closed).
    pub fn response_line(&self) -> Option<&'static [u8]> {
        if self.noreply || self.recovery == Recovery::Close {
            return None;
        }
        Some(error_line_with_crlf(self.kind))
    }

    /// Appends the response line unless `noreply` or closing.
    pub fn encode_response<B: BufMut>(&self, out: &mut B) {
        if let Some(line) = self.response_line() {
            out.put_slice(line);
        }
    }
}

/// `line()` followed by `\r\n`, as a static slice (no allocation).
fn error_line_with_crlf(kind: ErrorKind) -> &'static [u8] {
    macro_rules! crlf {
        ($($k:ident => $s:literal,)*) => {
            match kind { $(ErrorKind::$k => concat!($s, "\r\n").as_bytes(),)* }
        };
    }
    crlf! {
        Error => "ERROR",
        ShutdownNotEnabled => "ERROR: shutdown not enabled",
        CannotPipelineBeforeWatch => "ERROR cannot pipeline other commands before watch",
        CannotPipelineBeforeMetadump => "ERROR cannot pipeline other commands before metadump",
        MetadumpNotAllowed => "ERROR metadump not allowed",
        LruPercentsTooHigh => "ERROR hot and warm pcts must not exceed 80",
        LruFactorsNotPositive => "ERROR hot/warm age factors must be greater than 0",
        CrawlerStartFailed => "ERROR failed to start lru crawler thread",
        CrawlerStopFailed => "ERROR failed to stop lru crawler thread",
        UnknownError => "ERROR an unknown error happened",
        BadCommandLineFormat => "CLIENT_ERROR bad command line format",
        DeleteUsage => "CLIENT_ERROR bad command line format.  Usage: delete <key> [noreply]",
        BadCommandLine => "CLIENT_ERROR bad command line",
        BadCommandLineTermination => "CLIENT_ERROR bad command line termination",
        BadDataChunk => "CLIENT_ERROR bad data chunk",
        InvalidExptime => "CLIENT_ERROR invalid exptime argument",
        InvalidDeltaArgument => "CLIENT_ERROR invalid numeric delta argument",
        InvalidDeltaValue => "CLIENT_ERROR invalid numeric delta value",
        NonNumericValue => "CLIENT_ERROR cannot increment or decrement non-numeric value",
        InvalidInitialValue => "CLIENT_ERROR invalid numeric initial value",
        BadToken => "CLIENT_ERROR bad token in command line format",
        OpaqueTooLong => "CLIENT_ERROR opaque token too long",
        MgFlagsTooLong => "CLIENT_ERROR options flags are too long",
        FlagsTooLong => "CLIENT_ERROR options flags too long",
        InvalidFlag => "CLIENT_ERROR invalid flag",
        DuplicateFlag => "CLIENT_ERROR duplicate flag",
        InvalidOrDuplicateFlag => "CLIENT_ERROR invalid or duplicate flag",
        BadModeLength => "CLIENT_ERROR incorrect length for M token",
        InvalidMsMode => "CLIENT_ERROR invalid mode for ms M token",
        InvalidMaMode => "CLIENT_ERROR invalid mode for ma M token",
        KeyDecoding => "CLIENT_ERROR error decoding key",
        Unauthenticated => "CLIENT_ERROR unauthenticated",
        AuthenticationFailure => "CLIENT_ERROR authentication failure",
        BadAuthenticationTokenFormat => "CLIENT_ERROR bad authentication token format",
        FlushNotAllowed => "CLIENT_ERROR flush_all not allowed",
        CachedumpNotAllowed => "CLIENT_ERROR stats cachedump not allowed",
        IllegalSlabId => "CLIENT_ERROR Illegal slab id",
        SlabReassignDisabled => "CLIENT_ERROR slab reassignment disabled",
        LruCrawlerDisabled => "CLIENT_ERROR lru crawler disabled",
        CrawlerSleepTooLong => "CLIENT_ERROR sleep must be one second or less",
        WatchNotAllowed => "CLIENT_ERROR watch commands not allowed",
        StatsDetailUsage => "CLIENT_ERROR usage: stats detail on|off|dump",
        InvalidShutdownMode => "CLIENT_ERROR invalid shutdown mode",
        ObjectTooLarge => "SERVER_ERROR object too large for cache",
        OutOfMemoryStoring => "SERVER_ERROR out of memory storing object",
        OutOfMemory => "SERVER_ERROR out of memory",
        OutOfMemoryAllocatingItem => "SERVER_ERROR Out of memory allocating new item",
        OutOfMemoryReadingRequest => "SERVER_ERROR out of memory reading request",
        OutOfMemoryWritingGet => "SERVER_ERROR out of memory writing get response",
        OutOfMemoryWritingStats => "SERVER_ERROR out of memory writing stats",
        OutputLineTooLong => "SERVER_ERROR output line too long",
        RefcountOverflow => "SERVER_ERROR refcount overflow during fetch",
        UnhandledStorageType => "SERVER_ERROR Unhandled storage type.",
        OutOfMemoryDuringRead => "SERVER_ERROR Out of memory during read",
        LineTooLong => "",
    }
}

/// The `\r\n`-terminated line for `kind` (empty for [`ErrorKind::LineTooLong`]).
pub fn error_line(kind: ErrorKind) -> &'static [u8] {
    if kind == ErrorKind::LineTooLong {
        return b"";
    }
    error_line_with_crlf(kind)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_line_round_trips_and_ends_in_crlf() {
        for &k in ErrorKind::ALL {
            if k == ErrorKind::LineTooLong {
                assert_eq!(error_line(k), b"");
                continue;
            }
            let full = error_line(k);
            assert_eq!(&full[..full.len() - 2], k.line().as_bytes());
            assert!(full.ends_with(b"\r\n"));
            assert_eq!(ErrorKind::from_line(k.line().as_bytes()), Some(k));
            assert_eq!(k.to_string(), k.line());
            let mut v = Vec::new();
            k.encode(&mut v);
            assert_eq!(v, full);
        }
    }

    #[test]
    fn noreply_and_close_send_nothing() {
        let e = DecodeError::discard(ErrorKind::BadDataChunk, 10, true);
        assert_eq!(e.response_line(), None);
        let e = DecodeError::discard(ErrorKind::BadDataChunk, 10, false);
        assert_eq!(e.response_line(), Some(&b"CLIENT_ERROR bad data chunk\r\n"[..]));
        assert_eq!(DecodeError::close().response_line(), None);
    }
}
