//! The `-x` peer address: `host`, `host:port`, `[v6]:port` or a bare IPv6 literal. Without a
//! port the peer listens on our own `-X`, as in repcached. The host is resolved again before
//! every dial, so a peer that moved to another address is found.

use std::fmt;
use std::net::{SocketAddr, ToSocketAddrs};

/// Where the replication peer listens.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PeerAddr {
    /// Host name or IP literal (without brackets).
    pub host: String,
    /// TCP port.
    pub port: u16,
}

impl PeerAddr {
    /// Parses a `-x` value; `default_port` is our `-X`.
    pub fn parse(text: &str, default_port: u16) -> Result<PeerAddr, String> {
        let text = text.trim();
        let bad = || format!("-x {text}: expected host, host:port or [ipv6]:port");
        if text.is_empty() {
            return Err(bad());
        }
        let (host, port) = if let Some(rest) = text.strip_prefix('[') {
            let (host, after) = rest.split_once(']').ok_or_else(bad)?;
            match after.strip_prefix(':') {
                Some(port) => (host, Some(port)),
                None if after.is_empty() => (host, None),
                None => return Err(bad()),
            }
        } else if text.matches(':').count() == 1 {
            let (host, port) = text.split_once(':').ok_or_else(bad)?;
            (host, Some(port))
        } else {
            (text, None)
        };
        if host.is_empty() {
            return Err(bad());
        }
        let port = match port {
            Some(p) => p.parse::<u16>().ok().filter(|&p| p != 0).ok_or_else(bad)?,
            None => default_port,
        };
        Ok(PeerAddr { host: host.to_owned(), port })
    }

    /// Resolves the host now (blocking DNS for names; instant for literals).
    pub fn resolve(&self) -> std::io::Result<Vec<SocketAddr>> {
        Ok((self.host.as_str(), self.port).to_socket_addrs()?.collect())
    }
}

impl fmt::Display for PeerAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.host.contains(':') {
            write!(f, "[{}]:{}", self.host, self.port)
        } else {
            write!(f, "{}:{}", self.host, self.port)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn any_text_is_parsed_or_refused_without_panicking(text in "\\PC{0,60}") {
            if let Ok(peer) = PeerAddr::parse(&text, 11212) {
                prop_assert!(!peer.host.is_empty() && peer.port != 0);
            }
        }

        #[test]
        fn display_parses_back(a in any::<[u16; 8]>(), v4 in any::<[u8; 4]>(), port in 1u16..) {
            for host in [std::net::Ipv6Addr::from(a).to_string(), std::net::Ipv4Addr::from(v4).to_string()] {
                let peer = PeerAddr { host, port };
                prop_assert_eq!(PeerAddr::parse(&peer.to_string(), 1).unwrap(), peer);
            }
        }
    }

    #[test]
    fn forms_of_the_peer_address() {
        let p = |s: &str| PeerAddr::parse(s, 11212);
        assert_eq!(p("10.0.0.2").unwrap(), PeerAddr { host: "10.0.0.2".into(), port: 11212 });
        assert_eq!(p("peer:31212").unwrap(), PeerAddr { host: "peer".into(), port: 31212 });
        assert_eq!(p("[::1]:7").unwrap(), PeerAddr { host: "::1".into(), port: 7 });
        assert_eq!(p("[::1]").unwrap(), PeerAddr { host: "::1".into(), port: 11212 });
        assert_eq!(p("fe80::1").unwrap(), PeerAddr { host: "fe80::1".into(), port: 11212 });
        assert_eq!(p("::1").unwrap().to_string(), "[::1]:11212");
        for bad in ["", "host:", "host:0", "host:99999", "[::1", "[::1]x", ":5"] {
            assert!(p(bad).is_err(), "{bad:?} accepted");
        }
        assert_eq!(p("127.0.0.1:5").unwrap().resolve().unwrap()[0].to_string(), "127.0.0.1:5");
    }
}
