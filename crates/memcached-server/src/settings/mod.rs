//! memcached's command line, its `-o` extended options and the TOML config file, validated into
//! one [`Settings`] value; plus the process-level steps `main` takes before serving
//! ([`daemonize`], [`write_pidfile`], [`drop_privileges`], resource limits).
//!
//! ```text
//!   built-in defaults        (memcached 1.6.18's: -p 11211, -m 64, -c 1024, -t 4, ...)
//!         |
//!         v
//!   --config-file PATH       (TOML, every key optional; keys = Settings field names)
//!         |
//!         v
//!   command-line flags       (memcached's short/long options, -o name[=value],...)
//!         |                  flags win over the file
//!         v
//!   cross-checks             (-I vs -m, -I vs slab_chunk_max, hot+warm LRU %, -l resolves)
//!         |
//!         v
//!   Command::Run(Settings) | Help(text) | Version(text) | License(text)
//! ```
//!
//! Options are applied in command-line order, as memcached's getopt loop does: `-h -c 0` prints
//! the help, `-c 0 -h` fails on `-c 0`. Checks that relate several options run once at the end.
//!
//! The replication flags are repcached's: `-x <peer>` names the peer and `-X <port>` the
//! replication port (default 11212). memcached 1.6's own `-X` (disable `stats cachedump` and
//! `lru_crawler metadump`) stays available as its long form `--disable-dumping`.

mod args;
mod config_file;
mod error;
mod extended;
mod help;
mod process;

use std::net::{SocketAddr, ToSocketAddrs};
use std::path::PathBuf;

pub use args::parse_args;
pub use error::{SettingsError, EX_CONFIG, EX_OSERR, EX_USAGE};
pub use help::{help_text, license_text, version_text, MEMCACHED_COMPAT_VERSION};
pub use process::{
    daemonize, drop_privileges, enable_core_dumps, lock_memory, raise_open_files_limit,
    remove_pidfile, write_pidfile,
};

/// What the command line asks the binary to do.
#[derive(Debug, Clone, PartialEq)]
pub enum Command {
    /// Serve with these settings.
    Run(Box<Settings>),
    /// `-h`: print this text on stdout and exit 0.
    Help(String),
    /// `-V`: print this text on stdout and exit 0.
    Version(String),
    /// `-i`: print this license text on stdout and exit 0.
    License(String),
}

/// Which protocols a listener speaks (`-B`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum BindingProtocol {
    /// Detect ASCII or binary from the first byte of each connection (memcached's default).
    #[default]
    Auto,
    /// Text protocol only.
    Ascii,
    /// Binary protocol only.
    Binary,
}

impl BindingProtocol {
    /// The name `stats settings` prints: `auto-negotiate`, `ascii` or `binary`.
    pub fn stats_name(self) -> &'static str {
        match self {
            Self::Auto => "auto-negotiate",
            Self::Ascii => "ascii",
            Self::Binary => "binary",
        }
    }
}

/// The hash table's key hash (`-o hash_algorithm=`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum HashAlgorithm {
    /// Bob Jenkins' one-at-a-time hash (memcached before 1.5, and `-o no_modern`).
    Jenkins,
    /// MurmurHash3 (memcached 1.6's default).
    #[default]
    Murmur3,
    /// XXH3.
    Xxh3,
}

impl HashAlgorithm {
    /// The name memcached accepts and `stats settings` prints.
    pub fn name(self) -> &'static str {
        match self {
            Self::Jenkins => "jenkins",
            Self::Murmur3 => "murmur3",
            Self::Xxh3 => "xxh3",
        }
    }
}

/// The size of one slab page: memcached 1.6 always allocates item memory 1 MiB at a time and
/// chains chunks for items larger than `slab_chunk_max`.
pub const SLAB_PAGE_SIZE: u32 = 1024 * 1024;

/// Everything the server can be told at startup. [`Settings::default`] is memcached 1.6.18's
/// defaults; each field names the flag, long option, `-o` name or TOML key that sets it.
///
/// The TOML config file uses the field names as keys (see `memcached-server.example.toml`).
#[derive(Debug, Clone, PartialEq)]
pub struct Settings {
    // ---- network -------------------------------------------------------------------------
    /// `-p`, `--port`: TCP port (default 11211; 0 turns TCP off, as in memcached).
    pub tcp_port: u16,
    /// `-U`, `--udp-port`: UDP port (default 0 = UDP off, as in memcached 1.6).
    pub udp_port: u16,
    /// `-s`, `--unix-socket`: listen on this UNIX socket instead of TCP/UDP.
    pub unix_socket: Option<PathBuf>,
    /// `-a`, `--unix-mask`: permission bits of the UNIX socket (octal on the command line,
    /// default 0o700).
    pub unix_mask: u32,
    /// `-l`, `--listen`: interfaces to listen on, in order, each `host`, `host:port`,
    /// `[v6addr]` or `[v6addr]:port` (`notls:` prefixes are accepted and dropped). Repeated
    /// `-l` and comma-separated lists add up. Empty = all interfaces (INADDR_ANY).
    pub listen: Vec<String>,
    /// `-b`, `--listen-backlog`: the `listen(2)` backlog (default 1024).
    pub backlog: u32,
    /// `-c`, `--conn-limit`: maximum simultaneous connections (default 1024).
    pub max_connections: u32,
    /// `-o maxconns_fast` / `no_maxconns_fast`: over the limit, close new connections at once
    /// with `ERROR Too many open connections` (default on).
    pub maxconns_fast: bool,
    /// `-o idle_timeout=SECS`: close connections idle this long (default 0 = never).
    pub idle_timeout: u32,
    /// `-B`, `--protocol`: `auto` (default), `ascii` or `binary`.
    pub binding_protocol: BindingProtocol,
    /// `-t`, `--threads`: worker threads (default 4).
    pub threads: u32,
    /// `-R`, `--max-reqs-per-event`: requests served per connection before yielding to the
    /// other connections of the worker (default 20).
    pub reqs_per_event: u32,
    /// `-N`, `--napi-ids`: number of NAPI ids (accepted; no effect here).
    pub napi_ids: Option<u32>,
    /// `-o sock_cookie_id=N`: SO_MARK-style socket cookie (accepted; no effect here).
    pub sock_cookie_id: Option<u32>,

    // ---- process -------------------------------------------------------------------------
    /// `-d`, `--daemon`: detach from the terminal (see [`daemonize`]).
    pub daemonize: bool,
    /// `-u`, `--user`: user to switch to when started as root (see [`drop_privileges`]).
    pub user: Option<String>,
    /// `-P`, `--pidfile`: where to write the daemon's pid (made absolute at parse time, since
    /// the daemon changes directory to `/`).
    pub pidfile: Option<PathBuf>,
    /// `-k`, `--lock-memory`: `mlockall(2)` all memory (see [`lock_memory`]).
    pub lock_memory: bool,
    /// `-r`, `--enable-coredumps`: raise the core file limit (see [`enable_core_dumps`]).
    pub enable_coredumps: bool,
    /// `-L`, `--enable-largepages`: try large memory pages (accepted; no effect here).
    pub large_pages: bool,
    /// `-v` (1), `-vv` (2), `-vvv` (3): how much to log on stderr.
    pub verbosity: u8,
    /// `-o drop_privileges` / `no_drop_privileges`: memcached's seccomp sandbox (accepted; no
    /// effect here).
    pub drop_privileges: bool,

    // ---- memory and slabs ----------------------------------------------------------------
    /// `-m`, `--memory-limit`: item memory in megabytes (default 64). See
    /// [`Settings::memory_limit_bytes`].
    pub memory_limit_mb: u64,
    /// `!-M` / `--disable-evictions`: evict LRU items when memory is full (default true);
    /// false means `SERVER_ERROR out of memory storing object` instead.
    pub evict: bool,
    /// `-f`, `--slab-growth-factor`: ratio between consecutive slab class sizes (default 1.25).
    pub growth_factor: f64,
    /// `-n`, `--slab-min-size`: minimum space for key + value + flags in the smallest class
    /// (default 48 bytes).
    pub chunk_size_min: u32,
    /// `-I`, `--max-item-size`: largest item in bytes (default 1 MiB, 1k..1024m; `k`/`m`
    /// suffixes accepted).
    pub item_size_max: u32,
    /// `-o slab_chunk_max=BYTES`: largest slab chunk; bigger items are chained from several
    /// chunks (default 512 KiB = half a page).
    pub slab_chunk_max: u32,
    /// `-o slab_sizes=a-b-c`: explicit slab class sizes, as given; see
    /// [`Settings::slab_class_sizes`].
    pub slab_sizes: Option<String>,
    /// `-o slab_reassign` / `no_slab_reassign`: allow moving pages between classes.
    pub slab_reassign: bool,
    /// `-o slab_automove=0|1|2`: background page rebalancing mode (default 1).
    pub slab_automove: u8,
    /// `-o slab_automove_ratio=F` (default 0.80).
    pub slab_automove_ratio: f64,
    /// `-o slab_automove_window=N` (default 30).
    pub slab_automove_window: u32,
    /// `-o slab_automove_freeratio=F` (default 0.010).
    pub slab_automove_freeratio: f64,
    /// `-o hashpower=N`: initial hash table size as a power of two (default 0 = start small
    /// and grow; otherwise 12..=32).
    pub hashpower_init: u8,
    /// `-o no_hashexpand` clears this: grow the hash table when it fills (default true).
    pub hash_expand: bool,
    /// `-o hash_algorithm=jenkins|murmur3|xxh3` (default murmur3).
    pub hash_algorithm: HashAlgorithm,
    /// `-o tail_repair_time=SECS` (default 0 = off).
    pub tail_repair_time: u32,

    // ---- LRU -----------------------------------------------------------------------------
    /// `-o lru_crawler` / `no_lru_crawler`: background expired-item crawler (default on).
    pub lru_crawler: bool,
    /// `-o lru_crawler_sleep=MICROS` between items (default 100, at most 1 000 000).
    pub lru_crawler_sleep: u32,
    /// `-o lru_crawler_tocrawl=N`: items per class per run (default 0 = unlimited).
    pub lru_crawler_tocrawl: u32,
    /// `-o lru_maintainer` / `no_lru_maintainer`: background LRU maintainer (default on).
    pub lru_maintainer: bool,
    /// Segmented (hot/warm/cold) LRU; cleared by `-o no_modern` (default on).
    pub lru_segmented: bool,
    /// `-o hot_lru_pct=N` (default 20; 1..=79 although memcached's message says "> 1";
    /// hot + warm <= 80).
    pub hot_lru_pct: u32,
    /// `-o warm_lru_pct=N` (default 40; 1..=79).
    pub warm_lru_pct: u32,
    /// `-o hot_max_factor=F` (default 0.20).
    pub hot_max_factor: f64,
    /// `-o warm_max_factor=F` (default 2.00).
    pub warm_max_factor: f64,
    /// Set by `-o temporary_ttl`: items with a TTL below `temporary_ttl` get their own LRU.
    pub temp_lru: bool,
    /// `-o temporary_ttl=SECS` (default 61).
    pub temporary_ttl: u32,

    // ---- features ------------------------------------------------------------------------
    /// `!-C` / `--disable-cas`: keep CAS unique ids (default true).
    pub cas_enabled: bool,
    /// `-A`, `--enable-shutdown`: accept the `shutdown` command (default false).
    pub enable_shutdown: bool,
    /// `!-F` / `--disable-flush-all`: accept `flush_all` (default true).
    pub flush_enabled: bool,
    /// `!--disable-dumping`: accept `stats cachedump` and `lru_crawler metadump` (default true).
    pub dump_enabled: bool,
    /// `!-W` / `--disable-watch`: accept `watch` (default true).
    pub watch_enabled: bool,
    /// `-Y`, `--auth-file`: ASCII authentication file (`user:pass` lines); every connection
    /// must then authenticate with a `set` carrying `user password`, as in memcached.
    pub auth_file: Option<PathBuf>,
    /// `-e`, `--memory-file`: memcached's restartable mmap file (accepted; no effect here).
    pub memory_file: Option<PathBuf>,
    /// `-D`: delimiter between key prefix and id for per-prefix stats (default ':').
    pub prefix_delimiter: char,
    /// Per-prefix stats collection; turned on by `-D` (or `stats detail on` at run time).
    pub detail_enabled: bool,
    /// `-o track_sizes`: keep `stats sizes` histograms (default off).
    pub track_sizes: bool,
    /// `-o inline_ascii_resp` (kept for `stats settings`; default off).
    pub inline_ascii_response: bool,
    /// `-o watcher_logbuf_size=KB`, stored in bytes (default 256 KiB).
    pub watcher_logbuf_size: u32,
    /// `-o worker_logbuf_size=KB`, stored in bytes (default 64 KiB).
    pub worker_logbuf_size: u32,
    /// `-o read_buf_mem_limit=MB`: cap on connection buffer memory (default 0 = unlimited).
    pub read_buf_mem_limit: u32,

    // ---- replication (repcached) ---------------------------------------------------------
    /// `-x`, `--repl-peer`: the replication peer's host name or address.
    pub repl_peer: Option<String>,
    /// `-X`, `--repl-port`: the replication TCP port (default 11212).
    pub repl_port: u16,
    /// `--repl-secret-file`: a file whose contents both nodes must share to link.
    pub repl_secret_file: Option<PathBuf>,

    // ---- failover (keepalived) -----------------------------------------------------------
    /// `--vrrp`: the VRRP instance holding a virtual IP while this server answers.
    pub vrrp: Option<String>,

    // ---- bookkeeping ---------------------------------------------------------------------
    /// `--config-file`: the TOML file these settings were read from, if any.
    pub config_file: Option<PathBuf>,
    /// Warnings for options that were accepted but have no effect here (TLS, extstore...), and
    /// memcached's own warnings (e.g. many threads). `main` prints them on stderr.
    pub warnings: Vec<String>,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            tcp_port: 11211,
            udp_port: 0,
            unix_socket: None,
            unix_mask: 0o700,
            listen: Vec::new(),
            backlog: 1024,
            max_connections: 1024,
            maxconns_fast: true,
            idle_timeout: 0,
            binding_protocol: BindingProtocol::Auto,
            threads: 4,
            reqs_per_event: 20,
            napi_ids: None,
            sock_cookie_id: None,
            daemonize: false,
            user: None,
            pidfile: None,
            lock_memory: false,
            enable_coredumps: false,
            large_pages: false,
            verbosity: 0,
            drop_privileges: true,
            memory_limit_mb: 64,
            evict: true,
            growth_factor: 1.25,
            chunk_size_min: 48,
            item_size_max: 1024 * 1024,
            slab_chunk_max: SLAB_PAGE_SIZE / 2,
            slab_sizes: None,
            slab_reassign: true,
            slab_automove: 1,
            slab_automove_ratio: 0.8,
            slab_automove_window: 30,
            slab_automove_freeratio: 0.01,
            hashpower_init: 0,
            hash_expand: true,
            hash_algorithm: HashAlgorithm::Murmur3,
            tail_repair_time: 0,
            lru_crawler: true,
            lru_crawler_sleep: 100,
            lru_crawler_tocrawl: 0,
            lru_maintainer: true,
            lru_segmented: true,
            hot_lru_pct: 20,
            warm_lru_pct: 40,
            hot_max_factor: 0.2,
            warm_max_factor: 2.0,
            temp_lru: false,
            temporary_ttl: 61,
            cas_enabled: true,
            enable_shutdown: false,
            flush_enabled: true,
            dump_enabled: true,
            watch_enabled: true,
            auth_file: None,
            memory_file: None,
            prefix_delimiter: ':',
            detail_enabled: false,
            track_sizes: false,
            inline_ascii_response: false,
            watcher_logbuf_size: 256 * 1024,
            worker_logbuf_size: 64 * 1024,
            read_buf_mem_limit: 0,
            repl_peer: None,
            repl_port: 11212,
            repl_secret_file: None,
            vrrp: None,
            config_file: None,
            warnings: Vec::new(),
        }
    }
}

fn yes_no(flag: bool) -> String {
    if flag { "yes" } else { "no" }.to_string()
}

fn or_null(value: Option<String>) -> String {
    value.unwrap_or_else(|| "NULL".to_string())
}

impl Settings {
    /// Adds a startup warning once (repeating an option does not repeat its warning).
    pub(crate) fn warn(&mut self, warning: impl Into<String>) {
        let warning = warning.into();
        if !self.warnings.contains(&warning) {
            self.warnings.push(warning);
        }
    }

    /// `-m` in bytes (`stats settings` calls it `maxbytes`).
    pub fn memory_limit_bytes(&self) -> u64 {
        self.memory_limit_mb.saturating_mul(1024 * 1024)
    }

    /// True when listening on a UNIX socket (`-s`), which disables TCP and UDP as in memcached.
    pub fn uses_unix_socket(&self) -> bool {
        self.unix_socket.is_some()
    }

    /// The TCP addresses to bind, resolved: each `-l` entry with its own port or `tcp_port`, or
    /// `0.0.0.0:tcp_port` when no `-l` was given. Empty when TCP is off (`-p 0`) or a UNIX
    /// socket is used, as in memcached.
    ///
    /// A name may resolve to several addresses; all are returned (duplicates removed).
    pub fn tcp_listen_addrs(&self) -> Result<Vec<SocketAddr>, SettingsError> {
        if self.tcp_port == 0 {
            return Ok(Vec::new());
        }
        self.resolve_listen(self.tcp_port)
    }

    /// The UDP addresses to bind (same rules as [`Settings::tcp_listen_addrs`] with
    /// `udp_port`); empty when UDP is off (`-U 0`, the default) or a UNIX socket is used.
    pub fn udp_listen_addrs(&self) -> Result<Vec<SocketAddr>, SettingsError> {
        if self.udp_port == 0 {
            return Ok(Vec::new());
        }
        self.resolve_listen(self.udp_port)
    }

    fn resolve_listen(&self, default_port: u16) -> Result<Vec<SocketAddr>, SettingsError> {
        if self.uses_unix_socket() {
            return Ok(Vec::new());
        }
        if self.listen.is_empty() {
            return Ok(vec![SocketAddr::from(([0, 0, 0, 0], default_port))]);
        }
        let mut out: Vec<SocketAddr> = Vec::new();
        for entry in &self.listen {
            for addr in resolve_listen_entry(entry, default_port)? {
                if !out.contains(&addr) {
                    out.push(addr);
                }
            }
        }
        Ok(out)
    }

    /// The `(name, value)` pairs of `stats settings`, in memcached 1.6.18's order and format,
    /// with this server's values. Run-time state the settings do not know (`oldest`, the
    /// moment of the last `flush_all`) is reported as its startup value; the server may
    /// override it.
    pub fn stats_settings(&self) -> Vec<(&'static str, String)> {
        let inter = if self.listen.is_empty() { None } else { Some(self.listen.join(",")) };
        let domain_socket = self.unix_socket.as_ref().map(|p| p.display().to_string());
        vec![
            ("maxbytes", self.memory_limit_bytes().to_string()),
            ("maxconns", self.max_connections.to_string()),
            ("tcpport", self.tcp_port.to_string()),
            ("udpport", self.udp_port.to_string()),
            ("inter", or_null(inter)),
            ("verbosity", self.verbosity.to_string()),
            ("oldest", "0".to_string()),
            ("evictions", if self.evict { "on" } else { "off" }.to_string()),
            ("domain_socket", or_null(domain_socket)),
            ("umask", format!("{:o}", self.unix_mask)),
            ("shutdown_command", yes_no(self.enable_shutdown)),
            ("growth_factor", format!("{:.2}", self.growth_factor)),
            ("chunk_size", self.chunk_size_min.to_string()),
            ("num_threads", self.threads.to_string()),
            ("num_threads_per_udp", self.threads.to_string()),
            ("stat_key_prefix", self.prefix_delimiter.to_string()),
            ("detail_enabled", yes_no(self.detail_enabled)),
            ("reqs_per_event", self.reqs_per_event.to_string()),
            ("cas_enabled", yes_no(self.cas_enabled)),
            ("tcp_backlog", self.backlog.to_string()),
            ("binding_protocol", self.binding_protocol.stats_name().to_string()),
            ("auth_enabled_sasl", yes_no(false)),
            ("auth_enabled_ascii", yes_no(self.auth_file.is_some())),
            ("item_size_max", self.item_size_max.to_string()),
            ("maxconns_fast", yes_no(self.maxconns_fast)),
            ("hashpower_init", self.hashpower_init.to_string()),
            ("slab_reassign", yes_no(self.slab_reassign)),
            ("slab_automove", self.slab_automove.to_string()),
            ("slab_automove_ratio", format!("{:.2}", self.slab_automove_ratio)),
            ("slab_automove_window", self.slab_automove_window.to_string()),
            ("slab_chunk_max", self.slab_chunk_max.to_string()),
            ("lru_crawler", yes_no(self.lru_crawler)),
            ("lru_crawler_sleep", self.lru_crawler_sleep.to_string()),
            ("lru_crawler_tocrawl", self.lru_crawler_tocrawl.to_string()),
            ("tail_repair_time", self.tail_repair_time.to_string()),
            ("flush_enabled", yes_no(self.flush_enabled)),
            ("dump_enabled", yes_no(self.dump_enabled)),
            ("hash_algorithm", self.hash_algorithm.name().to_string()),
            ("lru_maintainer_thread", yes_no(self.lru_maintainer)),
            ("lru_segmented", yes_no(self.lru_segmented)),
            ("hot_lru_pct", self.hot_lru_pct.to_string()),
            ("warm_lru_pct", self.warm_lru_pct.to_string()),
            ("hot_max_factor", format!("{:.2}", self.hot_max_factor)),
            ("warm_max_factor", format!("{:.2}", self.warm_max_factor)),
            ("temp_lru", yes_no(self.temp_lru)),
            ("temporary_ttl", self.temporary_ttl.to_string()),
            ("idle_timeout", self.idle_timeout.to_string()),
            ("watcher_logbuf_size", self.watcher_logbuf_size.to_string()),
            ("worker_logbuf_size", self.worker_logbuf_size.to_string()),
            ("read_buf_mem_limit", self.read_buf_mem_limit.to_string()),
            ("track_sizes", yes_no(self.track_sizes)),
            ("inline_ascii_response", yes_no(self.inline_ascii_response)),
            // extstore is not implemented: its settings are reported at memcached's defaults.
            ("ext_item_size", "512".to_string()),
            ("ext_item_age", u32::MAX.to_string()),
            ("ext_low_ttl", "0".to_string()),
            ("ext_recache_rate", "2000".to_string()),
            ("ext_wbuf_size", (4u32 * 1024 * 1024).to_string()),
            ("ext_compact_under", "0".to_string()),
            ("ext_drop_under", "0".to_string()),
            ("ext_max_sleep", "1000000".to_string()),
            ("ext_max_frag", "0.80".to_string()),
            ("slab_automove_freeratio", format!("{:.3}", self.slab_automove_freeratio)),
            ("ext_drop_unread", yes_no(false)),
            // TLS is not implemented: reported as memcached reports it with TLS off.
            ("ssl_enabled", yes_no(false)),
            ("ssl_chain_cert", "(null)".to_string()),
            ("ssl_key", "(null)".to_string()),
            ("ssl_verify_mode", "0".to_string()),
            ("ssl_keyformat", "1".to_string()),
            ("ssl_ciphers", "NULL".to_string()),
            ("ssl_ca_cert", "NULL".to_string()),
            ("ssl_wbuf_size", "16384".to_string()),
            ("ssl_session_cache", yes_no(false)),
            ("ssl_kernel_tls", yes_no(false)),
            ("ssl_min_version", "tlsv1.2".to_string()),
            ("num_napi_ids", self.napi_ids.map_or_else(|| "(null)".to_string(), |n| n.to_string())),
            (
                "memory_file",
                self.memory_file
                    .as_ref()
                    .map_or_else(|| "(null)".to_string(), |p| p.display().to_string()),
            ),
        ]
    }
}

/// Splits one `-l` entry into host and optional port, memcached's way:
/// `[v6]:port`, `[v6]`, `host:port`, `host`, or a bare IPv6 address (two or more colons).
/// A `notls:` prefix is dropped (TLS is not implemented).
pub(crate) fn split_listen_entry(entry: &str) -> Result<(&str, Option<u16>), SettingsError> {
    let entry = entry.strip_prefix("notls:").unwrap_or(entry);
    let bad_port = |port: &str| SettingsError::Listen {
        interface: entry.to_string(),
        reason: format!("invalid port number \"{port}\""),
    };
    let parse_port = |port: &str| port.parse::<u16>().map_err(|_| bad_port(port));
    if let Some(rest) = entry.strip_prefix('[') {
        let Some((host, after)) = rest.split_once(']') else {
            return Err(SettingsError::Listen {
                interface: entry.to_string(),
                reason: "invalid IPv6 address".to_string(),
            });
        };
        return match after {
            "" => Ok((host, None)),
            _ => match after.strip_prefix(':') {
                Some(port) => Ok((host, Some(parse_port(port)?))),
                None => Err(bad_port(after)),
            },
        };
    }
    match entry.split_once(':') {
        Some((host, port)) if !port.contains(':') => Ok((host, Some(parse_port(port)?))),
        _ => Ok((entry, None)),
    }
}

/// Resolves one `-l` entry to socket addresses (a name may give several).
pub(crate) fn resolve_listen_entry(
    entry: &str,
    default_port: u16,
) -> Result<Vec<SocketAddr>, SettingsError> {
    let (host, port) = split_listen_entry(entry)?;
    let port = port.unwrap_or(default_port);
    let failed = |reason: String| SettingsError::Listen { interface: entry.to_string(), reason };
    if host.is_empty() {
        return Err(failed("empty interface name".to_string()));
    }
    if let Ok(ip) = host.parse::<std::net::IpAddr>() {
        return Ok(vec![SocketAddr::new(ip, port)]);
    }
    let addrs: Vec<SocketAddr> = (host, port)
        .to_socket_addrs()
        .map_err(|e| failed(format!("getaddrinfo(): {e}")))?
        .collect();
    if addrs.is_empty() {
        return Err(failed("getaddrinfo(): Name or service not known".to_string()));
    }
    Ok(addrs)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `stats settings` of `memcached -u nobody` (1.6.18, Debian), with the port and `-l` that
    /// run used replaced by the defaults.
    const MEMCACHED_DEFAULT_STATS_SETTINGS: &str = "\
maxbytes 67108864|maxconns 1024|tcpport 11211|udpport 0|inter NULL|verbosity 0|oldest 0|\
evictions on|domain_socket NULL|umask 700|shutdown_command no|growth_factor 1.25|\
chunk_size 48|num_threads 4|num_threads_per_udp 4|stat_key_prefix :|detail_enabled no|\
reqs_per_event 20|cas_enabled yes|tcp_backlog 1024|binding_protocol auto-negotiate|\
auth_enabled_sasl no|auth_enabled_ascii no|item_size_max 1048576|maxconns_fast yes|\
hashpower_init 0|slab_reassign yes|slab_automove 1|slab_automove_ratio 0.80|\
slab_automove_window 30|slab_chunk_max 524288|lru_crawler yes|lru_crawler_sleep 100|\
lru_crawler_tocrawl 0|tail_repair_time 0|flush_enabled yes|dump_enabled yes|\
hash_algorithm murmur3|lru_maintainer_thread yes|lru_segmented yes|hot_lru_pct 20|\
warm_lru_pct 40|hot_max_factor 0.20|warm_max_factor 2.00|temp_lru no|temporary_ttl 61|\
idle_timeout 0|watcher_logbuf_size 262144|worker_logbuf_size 65536|read_buf_mem_limit 0|\
track_sizes no|inline_ascii_response no|ext_item_size 512|ext_item_age 4294967295|\
ext_low_ttl 0|ext_recache_rate 2000|ext_wbuf_size 4194304|ext_compact_under 0|\
ext_drop_under 0|ext_max_sleep 1000000|ext_max_frag 0.80|slab_automove_freeratio 0.010|\
ext_drop_unread no|ssl_enabled no|ssl_chain_cert (null)|ssl_key (null)|ssl_verify_mode 0|\
ssl_keyformat 1|ssl_ciphers NULL|ssl_ca_cert NULL|ssl_wbuf_size 16384|ssl_session_cache no|\
ssl_kernel_tls no|ssl_min_version tlsv1.2|num_napi_ids (null)|memory_file (null)";

    fn joined(pairs: &[(&str, String)]) -> String {
        pairs.iter().map(|(k, v)| format!("{k} {v}")).collect::<Vec<_>>().join("|")
    }

    #[test]
    fn default_stats_settings_match_memcached_line_for_line() {
        assert_eq!(joined(&Settings::default().stats_settings()), MEMCACHED_DEFAULT_STATS_SETTINGS);
    }

    #[test]
    fn stats_settings_follow_the_flags() {
        // Compared with memcached 1.6.18 run with the same flags.
        let Ok(Command::Run(s)) = parse_args(
            "-p 24003 -l 127.0.0.1 -m 100 -I 2m -o slab_chunk_max=16384,idle_timeout=5 -a 755 \
             -s /tmp/mcx.sock -D x -A -F --disable-dumping -C -B ascii -vv"
                .split_whitespace()
                .map(str::to_string),
        ) else {
            panic!("flags refused")
        };
        let stats = s.stats_settings();
        let get = |name: &str| stats.iter().find(|(k, _)| *k == name).unwrap().1.clone();
        let expected = [
            ("maxbytes", "104857600"),
            ("tcpport", "24003"),
            ("inter", "127.0.0.1"),
            ("verbosity", "2"),
            ("domain_socket", "/tmp/mcx.sock"),
            ("umask", "755"),
            ("shutdown_command", "yes"),
            ("stat_key_prefix", "x"),
            ("detail_enabled", "yes"),
            ("cas_enabled", "no"),
            ("binding_protocol", "ascii"),
            ("item_size_max", "2097152"),
            ("slab_chunk_max", "16384"),
            ("flush_enabled", "no"),
            ("dump_enabled", "no"),
            ("idle_timeout", "5"),
        ];
        for (name, value) in expected {
            assert_eq!(get(name), value, "{name}");
        }
        assert_eq!(get("evictions"), "on");
        let Ok(Command::Run(s)) = parse_args(["-M".to_string()]) else { panic!("flags refused") };
        let stats = s.stats_settings();
        let get = |name: &str| stats.iter().find(|(k, _)| *k == name).unwrap().1.clone();
        assert_eq!(get("evictions"), "off");
    }

    #[test]
    fn listen_entries_split_like_memcached() {
        fn split(entry: &str) -> (&str, Option<u16>) {
            split_listen_entry(entry).unwrap()
        }
        assert_eq!(split("127.0.0.1"), ("127.0.0.1", None));
        assert_eq!(split("127.0.0.1:11300"), ("127.0.0.1", Some(11300)));
        assert_eq!(split("[::1]:11300"), ("::1", Some(11300)));
        assert_eq!(split("[::1]"), ("::1", None));
        assert_eq!(split("::1"), ("::1", None));
        assert_eq!(split("notls:host:1"), ("host", Some(1)));
        assert!(split_listen_entry("[::1]x").is_err());
        assert!(split_listen_entry("host:port").is_err());
        assert!(resolve_listen_entry("", 1).is_err());
    }

    #[test]
    fn port_zero_turns_tcp_off() {
        let s = Settings { tcp_port: 0, ..Settings::default() };
        assert!(s.tcp_listen_addrs().unwrap().is_empty());
    }
}
