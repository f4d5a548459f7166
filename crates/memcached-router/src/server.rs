//! A server in the pool as libmemcached sees it: host string, port, weight.
//!
//! The host is kept **exactly as typed** (no DNS, no normalisation) because libmemcached hashes
//! that string into the continuum: `"localhost"` and `"127.0.0.1"` are different servers to it.
//!
//! ```text
//! "10.0.0.1:11211:3"  ──parse──►  Server { host: "10.0.0.1", port: 11211, weight: 3 }
//! "[::1]:11212"       ──parse──►  Server { host: "::1",      port: 11212, weight: 1 }
//! "cache-a"           ──parse──►  Server { host: "cache-a",  port: 11211, weight: 1 }
//! ```

use std::fmt;
use std::fmt::Write as _;

/// memcached's default port; libmemcached leaves it out of ketama point strings.
pub const DEFAULT_PORT: u16 = 11211;

/// One server of the pool, in the form libmemcached hashes it.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Server {
    /// Host name or address exactly as given to `addServer` (IPv6 without brackets).
    pub host: String,
    /// TCP port.
    pub port: u16,
    /// Relative weight; libmemcached stores weight 0 as 1.
    pub weight: u32,
}

/// Why a `HOST:PORT[:WEIGHT]` string was rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ServerParseError {
    /// The host part is empty.
    #[error("empty host in server spec {0:?}")]
    EmptyHost(String),
    /// The port is not a number in 0..=65535 (0 means 11211).
    #[error("bad port in server spec {0:?}")]
    BadPort(String),
    /// The weight is not a decimal u32.
    #[error("bad weight in server spec {0:?}")]
    BadWeight(String),
    /// An IPv6 address was opened with `[` but not closed.
    #[error("unterminated [ in server spec {0:?}")]
    UnterminatedBracket(String),
    /// Something follows the weight.
    #[error("too many ':' fields in server spec {0:?} (IPv6 needs [brackets])")]
    TooManyFields(String),
}

impl Server {
    /// A server with weight 1 (port 0 means 11211, as in libmemcached).
    pub fn new(host: impl Into<String>, port: u16) -> Server {
        Server::with_weight(host, port, 1)
    }

    /// A server with an explicit weight. As libmemcached does, weight 0 is stored as 1 and
    /// port 0 as 11211.
    pub fn with_weight(host: impl Into<String>, port: u16, weight: u32) -> Server {
        let port = if port == 0 { DEFAULT_PORT } else { port };
        Server { host: host.into(), port, weight: weight.max(1) }
    }

    /// Parses `HOST[:PORT[:WEIGHT]]`; IPv6 hosts go in brackets: `[::1]:11211:2`.
    pub fn parse(spec: &str) -> Result<Server, ServerParseError> {
        let (host, rest) = if let Some(after) = spec.strip_prefix('[') {
            let close = after
                .find(']')
                .ok_or_else(|| ServerParseError::UnterminatedBracket(spec.into()))?;
            let rest = &after[close + 1..];
            let rest = if rest.is_empty() {
                None
            } else {
                Some(
                    rest.strip_prefix(':')
                        .ok_or_else(|| ServerParseError::TooManyFields(spec.into()))?,
                )
            };
            (&after[..close], rest)
        } else {
            match spec.split_once(':') {
                Some((h, r)) => (h, Some(r)),
                None => (spec, None),
            }
        };
        if host.is_empty() {
            return Err(ServerParseError::EmptyHost(spec.into()));
        }
        let (port, weight) = match rest {
            None => (DEFAULT_PORT, 1),
            Some(rest) => {
                let (port_text, weight_text) = match rest.split_once(':') {
                    Some((p, w)) => (p, Some(w)),
                    None => (rest, None),
                };
                let port: u16 =
                    port_text.parse().map_err(|_| ServerParseError::BadPort(spec.into()))?;
                let weight = match weight_text {
                    None => 1,
                    Some(w) if w.contains(':') => {
                        return Err(ServerParseError::TooManyFields(spec.into()))
                    }
                    Some(w) => w.parse().map_err(|_| ServerParseError::BadWeight(spec.into()))?,
                };
                (port, weight)
            }
        };
        Ok(Server::with_weight(host, port, weight))
    }

    /// Writes libmemcached's ketama point string for point group `n` into `out` (cleared
    /// first): `"host-n"` on port 11211, `"host:port-n"` otherwise.
    pub fn write_point_name(&self, n: u32, out: &mut String) {
        out.clear();
        // Writing to a String cannot fail.
        let _ = if self.port == DEFAULT_PORT {
            write!(out, "{}-{}", self.host, n)
        } else {
            write!(out, "{}:{}-{}", self.host, self.port, n)
        };
    }

    /// Writes last.fm libketama's point string `"host:port-n"` (port always present).
    pub fn write_libketama_point_name(&self, n: u32, out: &mut String) {
        out.clear();
        let _ = write!(out, "{}:{}-{}", self.host, self.port, n);
    }

    /// Writes libmemcached's KETAMA_SPY point string `"/host:port-n"` into `out`.
    pub fn write_spy_point_name(&self, n: u32, out: &mut String) {
        out.clear();
        let _ = write!(out, "/{}:{}-{}", self.host, self.port, n);
    }
}

impl fmt::Display for Server {
    /// `host:port`, with brackets around an IPv6 host (what the `route` example prints).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.host.contains(':') {
            write!(f, "[{}]:{}", self.host, self.port)
        } else {
            write!(f, "{}:{}", self.host, self.port)
        }
    }
}

impl std::str::FromStr for Server {
    type Err = ServerParseError;
    fn from_str(s: &str) -> Result<Server, ServerParseError> {
        Server::parse(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_host_port_weight() {
        assert_eq!(
            Server::parse("10.0.0.1:11211:3"),
            Ok(Server::with_weight("10.0.0.1", 11211, 3))
        );
        assert_eq!(Server::parse("cache-a"), Ok(Server::new("cache-a", 11211)));
        assert_eq!(Server::parse("h:22122"), Ok(Server::new("h", 22122)));
        assert_eq!(Server::parse("[::1]:11212:2"), Ok(Server::with_weight("::1", 11212, 2)));
        assert_eq!(Server::parse("[::1]"), Ok(Server::new("::1", 11211)));
        assert_eq!(Server::parse("h:1:0").map(|s| s.weight), Ok(1));
        assert!(matches!(Server::parse(":1"), Err(ServerParseError::EmptyHost(_))));
        assert_eq!(Server::parse("h:0"), Ok(Server::new("h", 11211)), "libmemcached: 0 = default");
        assert!(matches!(Server::parse("h:65536"), Err(ServerParseError::BadPort(_))));
        assert!(matches!(Server::parse("h:x"), Err(ServerParseError::BadPort(_))));
        assert!(matches!(Server::parse("h:1:x"), Err(ServerParseError::BadWeight(_))));
        assert!(Server::parse("::1").is_err());
        assert!(matches!(Server::parse("[::1"), Err(ServerParseError::UnterminatedBracket(_))));
        assert!(matches!(Server::parse("h:1:2:3"), Err(ServerParseError::TooManyFields(_))));
    }

    #[test]
    fn point_names_drop_the_default_port() {
        let mut out = String::new();
        Server::new("10.0.0.1", 11211).write_point_name(0, &mut out);
        assert_eq!(out, "10.0.0.1-0");
        Server::new("10.0.0.1", 11212).write_point_name(39, &mut out);
        assert_eq!(out, "10.0.0.1:11212-39");
        Server::new("10.0.0.1", 11211).write_spy_point_name(7, &mut out);
        assert_eq!(out, "/10.0.0.1:11211-7");
    }

    #[test]
    fn display_is_host_port() {
        assert_eq!(Server::with_weight("a", 1, 5).to_string(), "a:1");
        assert_eq!(Server::new("::1", 2).to_string(), "[::1]:2");
    }
}
