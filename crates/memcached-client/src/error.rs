//! Client errors. Every error that comes from talking to a server names that server.
//!
//! ```text
//!   Error
//!    ├─ Server { server: "10.0.0.2:11211", kind }   one server failed (I/O, timeout, protocol,
//!    │                                               SERVER_ERROR, marked down …)
//!    ├─ NoServer                                     no live server owns the key
//!    ├─ BadKey / BadArgument                         rejected locally, nothing was sent
//!    └─ Config                                       the builder's settings are unusable
//! ```

use std::fmt;
use std::time::Duration;

/// What went wrong on one server.
#[derive(Debug, thiserror::Error)]
pub enum ServerErrorKind {
    /// Connecting failed (refused, unreachable, DNS).
    #[error("connect failed: {0}")]
    Connect(#[source] std::io::Error),
    /// The connect did not finish within the connect timeout.
    #[error("connect timed out after {0:?}")]
    ConnectTimeout(Duration),
    /// Reading or writing failed, or the server closed the connection.
    #[error("I/O error: {0}")]
    Io(#[source] std::io::Error),
    /// No complete reply within the I/O timeout.
    #[error("no reply within {0:?}")]
    Timeout(Duration),
    /// No pooled connection became free within the pool timeout (by default the I/O
    /// timeout).
    #[error("connection pool exhausted (waited {0:?})")]
    PoolExhausted(Duration),
    /// The server is marked down after repeated failures; it is retried later.
    #[error("server marked down after repeated failures; next probe in {0:?}")]
    MarkedDown(Duration),
    /// The reply did not follow the protocol (the connection is dropped).
    #[error("protocol error: {0}")]
    Protocol(String),
    /// The server answered `ERROR`, `CLIENT_ERROR …` or `SERVER_ERROR …`.
    #[error("server replied {0:?}")]
    Reply(String),
}

impl ServerErrorKind {
    /// Whether this failure counts towards marking the server down (network trouble, not a
    /// well-formed error reply).
    pub fn is_server_failure(&self) -> bool {
        matches!(
            self,
            ServerErrorKind::Connect(_)
                | ServerErrorKind::ConnectTimeout(_)
                | ServerErrorKind::Io(_)
                | ServerErrorKind::Timeout(_)
                | ServerErrorKind::Protocol(_)
        )
    }
}

/// Errors returned by the client.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A server failed; `server` is `host:port` as configured.
    #[error("memcached server {server}: {kind}")]
    Server {
        /// The server as configured (`host:port`).
        server: String,
        /// What failed.
        #[source]
        kind: ServerErrorKind,
    },
    /// No live server owns this key (all ejected, or modula's owner is down).
    #[error("no live memcached server for this key")]
    NoServer,
    /// The key is empty, longer than 250 bytes, or contains whitespace/control bytes.
    #[error("invalid key: {0}")]
    BadKey(&'static str),
    /// An argument cannot be sent (e.g. a meta flag with a space in it).
    #[error("invalid argument: {0}")]
    BadArgument(&'static str),
    /// The client configuration is not usable.
    #[error("configuration: {0}")]
    Config(String),
}

impl Error {
    /// The server this error came from, if any.
    pub fn server(&self) -> Option<&str> {
        match self {
            Error::Server { server, .. } => Some(server),
            _ => None,
        }
    }

    pub(crate) fn on(server: &str, kind: ServerErrorKind) -> Error {
        Error::Server { server: server.to_string(), kind }
    }
}

/// Result alias for client calls.
pub type Result<T> = std::result::Result<T, Error>;

/// One server's error inside a fan-out result (multi-get, stats, flush_all …).
#[derive(Debug)]
pub struct ServerFailure {
    /// `host:port` of the failed server.
    pub server: String,
    /// The error.
    pub error: Error,
}

impl fmt::Display for ServerFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.error)
    }
}

/// Validates a key the way memcached's text protocol needs it: 1..=250 bytes, no spaces or
/// control characters (libmemcached `memcached_key_test` with `verify_key`).
pub fn check_key(key: &[u8]) -> Result<()> {
    if key.is_empty() {
        return Err(Error::BadKey("empty"));
    }
    if key.len() > 250 {
        return Err(Error::BadKey("longer than 250 bytes"));
    }
    if key.iter().any(|&b| b <= b' ' || b == 0x7f) {
        return Err(Error::BadKey("contains whitespace or a control byte"));
    }
    Ok(())
}
