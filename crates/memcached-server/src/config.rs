//! What the running server needs to know, distilled from [`crate::settings::Settings`].
//!
//! The listener, workers and command handlers read this one plain struct; the `settings`
//! module owns flag/TOML parsing and validation and converts into it.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

/// One `user:password` line of a `-Y` file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Credentials {
    /// The user name.
    pub user: Vec<u8>,
    /// The password.
    pub password: Vec<u8>,
}

/// Runtime configuration of listeners, workers and commands.
#[derive(Debug, Clone, PartialEq)]
pub struct ServerConfig {
    /// TCP addresses to listen on (`-l`, `-p`), resolved; empty = no TCP.
    pub tcp_addrs: Vec<SocketAddr>,
    /// UDP addresses (`-l`, `-U`), resolved; empty (the default since memcached 1.5.6) = no UDP.
    pub udp_addrs: Vec<SocketAddr>,
    /// With no `-l`, also listen on the IPv6 wildcard (`[::]`, IPv6-only socket) when the
    /// system has IPv6, as memcached does; failures to bind it are ignored.
    pub ipv6_wildcard: bool,
    /// UNIX socket path (`-s`); when set, TCP and UDP are off, as in memcached.
    pub unix_socket: Option<PathBuf>,
    /// Permission bits of the UNIX socket (`-a`, octal, default 0700).
    pub unix_socket_mask: u32,
    /// Worker threads (`-t`).
    pub threads: usize,
    /// Maximum simultaneous client connections (`-c`).
    pub max_connections: usize,
    /// Over `-c`: reject at once with `ERROR Too many open connections` (true, memcached's
    /// default) or stop accepting until a connection closes (`-o no_maxconns_fast`).
    pub maxconns_fast: bool,
    /// Requests handled for one connection before yielding to others (`-R`).
    pub reqs_per_event: u32,
    /// listen(2) backlog (`-b`).
    pub backlog: i32,
    /// Seconds of inactivity before a client connection is closed (`-o idle_timeout`); 0 = off.
    pub idle_timeout: u32,
    /// Log level (`-v` = 1, `-vv` = 2, `-vvv` = 3).
    pub verbosity: u32,
    /// Largest value accepted (`-I`).
    pub item_size_max: usize,
    /// `shutdown` allowed (`-A`).
    pub shutdown_enabled: bool,
    /// CAS values kept (`-C` turns them off).
    pub cas_enabled: bool,
    /// `flush_all` allowed (`-F` turns it off).
    pub flush_enabled: bool,
    /// `stats cachedump` / `lru_crawler metadump` allowed.
    pub dumps_enabled: bool,
    /// Per-prefix stats delimiter (`-D`).
    pub prefix_delimiter: u8,
    /// Per-prefix stats collected from the start (`-D` given).
    pub detail_enabled: bool,
    /// `stats sizes` histogram on from the start (`-o track_sizes`).
    pub track_sizes: bool,
    /// `slabs reassign` allowed (`-o slab_reassign`).
    pub slab_reassign: bool,
    /// Background page rebalancing mode at start (`-o slab_automove`).
    pub slab_automove: u8,
    /// The LRU crawler on at start (`-o lru_crawler`).
    pub lru_crawler: bool,
    /// `watch` allowed (`-W` turns it off).
    pub watch_enabled: bool,
    /// `-Y` credentials; `None` = no authentication.
    pub auth: Option<Arc<[Credentials]>>,
    /// Pending output (bytes) above which a connection is not read from (backpressure).
    pub output_cap: usize,
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self {
            tcp_addrs: vec![SocketAddr::from(([0, 0, 0, 0], 11211))],
            udp_addrs: Vec::new(),
            ipv6_wildcard: false,
            unix_socket: None,
            unix_socket_mask: 0o700,
            threads: 4,
            max_connections: 1024,
            maxconns_fast: true,
            reqs_per_event: 20,
            backlog: 1024,
            idle_timeout: 0,
            verbosity: 0,
            item_size_max: 1024 * 1024,
            shutdown_enabled: false,
            cas_enabled: true,
            flush_enabled: true,
            dumps_enabled: true,
            prefix_delimiter: b':',
            detail_enabled: false,
            track_sizes: false,
            slab_reassign: true,
            slab_automove: 1,
            lru_crawler: true,
            watch_enabled: true,
            auth: None,
            output_cap: 1024 * 1024,
        }
    }
}
