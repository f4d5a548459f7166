//! From validated [`Settings`] to a running server: the process steps in memcached's order,
//! the store, the sockets, then [`crate::server::serve`] until a stop request.
//!
//! ```text
//!   Settings ─> warnings on stderr ─> -r core dumps ─> -c open-files limit ─> -u user
//!     ─> -d daemonize (before any thread) ─> -k mlockall ─> Store ─> bind sockets
//!     ─> -P pidfile ─> signals ─> serve(...) ─> remove pidfile ─> exit status
//! ```
//!
//! memcached refuses to run as root without `-u`; so that `cargo run -p memcached-server`
//! works as documented, this server instead keeps running as the current user, saying so on
//! stderr under `-v` (with `-u` it switches user exactly like memcached).

use std::sync::atomic::Ordering;
use std::sync::Arc;

use memcached_store::{Store, StoreConfig};

use crate::failover::{FailoverHandle, VrrpOptions};
use crate::replication::{PeerAddr, ReplicationOptions};

use crate::commands::CommandExecutor;
use crate::config::{Credentials, ServerConfig};
use crate::server::{serve, BoundSockets};
use crate::settings::{self, Settings, SettingsError, EX_OSERR, EX_USAGE};
use crate::shared::Shared;
use crate::signals::StopKind;

/// Expired items the maintenance tick may look at per second.
const RECLAIM_BUDGET_PER_TICK: usize = 10_000;

/// Descriptors memcached keeps aside besides client connections (listeners, pipes, logs).
const RESERVED_FDS: u32 = 64;

/// The runtime configuration for `settings` (addresses resolved).
pub fn server_config(settings: &Settings) -> Result<ServerConfig, SettingsError> {
    let tcp_addrs = if settings.uses_unix_socket() || settings.tcp_port == 0 {
        Vec::new()
    } else {
        settings.tcp_listen_addrs()?
    };
    Ok(ServerConfig {
        tcp_addrs,
        udp_addrs: settings.udp_listen_addrs()?,
        ipv6_wildcard: settings.listen.is_empty() && !settings.uses_unix_socket(),
        unix_socket: settings.unix_socket.clone(),
        unix_socket_mask: settings.unix_mask,
        threads: usize::try_from(settings.threads.max(1)).unwrap_or(4),
        max_connections: usize::try_from(settings.max_connections).unwrap_or(usize::MAX),
        maxconns_fast: settings.maxconns_fast,
        reqs_per_event: settings.reqs_per_event.max(1),
        backlog: i32::try_from(settings.backlog).unwrap_or(i32::MAX),
        idle_timeout: settings.idle_timeout,
        verbosity: u32::from(settings.verbosity),
        item_size_max: usize::try_from(settings.item_size_max).unwrap_or(1024 * 1024),
        shutdown_enabled: settings.enable_shutdown,
        cas_enabled: settings.cas_enabled,
        flush_enabled: settings.flush_enabled,
        dumps_enabled: settings.dump_enabled,
        prefix_delimiter: u8::try_from(settings.prefix_delimiter).unwrap_or(b':'),
        detail_enabled: settings.detail_enabled,
        track_sizes: settings.track_sizes,
        slab_reassign: settings.slab_reassign,
        slab_automove: settings.slab_automove,
        lru_crawler: settings.lru_crawler,
        watch_enabled: settings.watch_enabled,
        auth: None,
        output_cap: ServerConfig::default().output_cap,
    })
}

/// Reads a `-Y` file: one `user:password` per line (memcached's ASCII auth format).
pub fn load_auth_file(path: &std::path::Path) -> Result<Vec<Credentials>, String> {
    let text = std::fs::read(path)
        .map_err(|e| format!("Could not open authfile {} for reading: {e}", path.display()))?;
    let entries: Vec<Credentials> = text
        .split(|&b| b == b'\n')
        .map(|line| line.strip_suffix(b"\r").unwrap_or(line))
        .filter(|line| !line.is_empty())
        .filter_map(|line| {
            let colon = line.iter().position(|&b| b == b':')?;
            Some(Credentials { user: line[..colon].to_vec(), password: line[colon + 1..].to_vec() })
        })
        .collect();
    if entries.is_empty() {
        return Err(format!("authfile {} has no user:password entries", path.display()));
    }
    Ok(entries)
}

fn fail(error: &dyn std::fmt::Display, code: i32) -> i32 {
    eprintln!("{error}");
    code
}

/// Runs the server described by `settings` in this process; returns the exit status.
pub fn run(settings: &Settings) -> i32 {
    for warning in &settings.warnings {
        eprintln!("{warning}");
    }
    let replication = match replication_options(settings) {
        Ok(options) => options,
        Err(message) => return fail(&message, EX_USAGE),
    };
    let vrrp = match settings.vrrp.as_deref().map(VrrpOptions::parse).transpose() {
        Ok(vrrp) => vrrp,
        Err(message) => return fail(&message, EX_USAGE),
    };
    if vrrp.is_some() && settings.user.is_some() {
        let message = "--vrrp keeps root to move the virtual IP: it cannot be combined with -u";
        return fail(&message, EX_USAGE);
    }
    if settings.enable_coredumps {
        if let Err(e) = settings::enable_core_dumps() {
            return fail(&e, e.exit_code());
        }
    }
    if let Err(e) = settings::raise_open_files_limit(settings.max_connections, RESERVED_FDS) {
        return fail(&e, e.exit_code());
    }
    // SAFETY: getuid takes no arguments and cannot fail.
    let is_root = unsafe { libc::getuid() } == 0;
    match settings.user.as_deref() {
        Some(user) => {
            if let Err(e) = settings::drop_privileges(Some(user)) {
                return fail(&e, e.exit_code());
            }
        }
        None if is_root && settings.verbosity > 0 => {
            eprintln!("warning: running as root (memcached would require -u <user>)");
        }
        None => {}
    }
    if settings.daemonize {
        if let Err(e) = settings::daemonize(settings.enable_coredumps, settings.verbosity > 0) {
            return fail(&e, e.exit_code());
        }
    }
    if settings.lock_memory {
        if let Err(warning) = settings::lock_memory() {
            eprintln!("{warning}");
        }
    }
    let mut config = match server_config(settings) {
        Ok(config) => config,
        Err(e) => return fail(&e, e.exit_code()),
    };
    if let Some(path) = &settings.auth_file {
        match load_auth_file(path) {
            Ok(entries) => config.auth = Some(Arc::from(entries)),
            Err(message) => return fail(&message, EX_USAGE),
        }
    }
    let stop = match crate::signals::StopLatch::new() {
        Ok(latch) => Arc::new(latch),
        Err(e) => return fail(&e, EX_OSERR),
    };
    let mut shared = Shared::new(config, Arc::clone(&stop));
    shared.settings_report =
        settings.stats_settings().into_iter().map(|(k, v)| (k.to_owned(), v)).collect();
    let store = match build_store(settings) {
        Ok(store) => store,
        Err(message) => return fail(&message, 1),
    };
    let shared = Arc::new(shared);
    let sockets = match crate::server::bind_sockets(&shared) {
        Ok(sockets) => sockets,
        Err(e) => return fail(&e, EX_OSERR),
    };
    let replication = match replication {
        Some(options) => match crate::replication::bind(options.listen) {
            Ok(listener) => Some((options, listener)),
            Err(e) => {
                let message =
                    format!("failed to listen on replication port {}: {e}", options.listen);
                return fail(&message, EX_OSERR);
            }
        },
        None => None,
    };
    if let Some(path) = &settings.pidfile {
        if let Err(e) = settings::write_pidfile(path, std::process::id()) {
            eprintln!("{e}");
        }
    }
    if let Err(e) = crate::signals::install(&stop) {
        return fail(&e, EX_OSERR);
    }
    let failover = match vrrp {
        Some(options) => {
            let Some(check) = health_check_address(&shared) else {
                return fail(&"--vrrp needs a TCP port to check (-p)", EX_USAGE);
            };
            match crate::failover::start(options, check, Arc::clone(&shared.vrrp)) {
                Ok(handle) => Some(handle),
                Err(message) => return fail(&message, EX_OSERR),
            }
        }
        None => None,
    };
    let result = serve_store(Arc::clone(&shared), sockets, store, replication, failover);
    if let Some(path) = &settings.pidfile {
        let _ = settings::remove_pidfile(path);
    }
    match result {
        Ok(_) => 0,
        Err(e) => fail(&e, EX_OSERR),
    }
}

/// Where the VRRP health check asks `version`: our first TCP address (loopback for a
/// wildcard one).
fn health_check_address(shared: &Shared) -> Option<std::net::SocketAddr> {
    let addr = *shared.config.tcp_addrs.first()?;
    let ip = match addr.ip() {
        std::net::IpAddr::V4(v4) if v4.is_unspecified() => std::net::Ipv4Addr::LOCALHOST.into(),
        std::net::IpAddr::V6(v6) if v6.is_unspecified() => std::net::Ipv6Addr::LOCALHOST.into(),
        ip => ip,
    };
    Some(std::net::SocketAddr::new(ip, addr.port()))
}

/// With `-x`: the peer and where to listen for it (the first `-l` address, port `-X`).
fn replication_options(settings: &Settings) -> Result<Option<ReplicationOptions>, String> {
    let Some(peer) = &settings.repl_peer else { return Ok(None) };
    let peer = PeerAddr::parse(peer, settings.repl_port)?;
    let ip = settings
        .tcp_listen_addrs()
        .ok()
        .and_then(|addrs| addrs.first().map(std::net::SocketAddr::ip))
        .unwrap_or(std::net::IpAddr::V4(std::net::Ipv4Addr::UNSPECIFIED));
    let listen = std::net::SocketAddr::new(ip, settings.repl_port);
    let secret = match &settings.repl_secret_file {
        Some(path) => {
            let text = std::fs::read(path)
                .map_err(|e| format!("cannot read replication secret {}: {e}", path.display()))?;
            let secret = text.trim_ascii().to_vec();
            if secret.is_empty() {
                return Err(format!("replication secret {} is empty", path.display()));
            }
            Some(secret)
        }
        None => None,
    };
    Ok(Some(ReplicationOptions { peer, listen, secret }))
}

/// The store for `settings` (`-m -I -f -n -M -C`).
fn build_store(settings: &Settings) -> Result<Arc<Store>, String> {
    let config = StoreConfig {
        memory_limit_bytes: settings.memory_limit_bytes(),
        item_size_max: usize::try_from(settings.item_size_max).unwrap_or(1024 * 1024),
        growth_factor: settings.growth_factor,
        min_chunk: usize::try_from(settings.chunk_size_min).unwrap_or(48),
        evict: settings.evict,
        cas_enabled: settings.cas_enabled,
        ..StoreConfig::default()
    };
    Store::new(config).map(Arc::new).map_err(|e| e.to_string())
}

/// Serves `store` on the bound sockets until a stop request (see [`serve`]);
/// the maintenance tick reclaims expired items and runs slab automove.
fn serve_store(
    shared: Arc<Shared>,
    sockets: BoundSockets,
    store: Arc<Store>,
    replication: Option<(ReplicationOptions, std::net::TcpListener)>,
    failover: Option<FailoverHandle>,
) -> std::io::Result<StopKind> {
    // The feed is subscribed before the first client connects, so no change is missed.
    let replication = match replication {
        Some((options, listener)) => Some(crate::replication::start(
            Arc::clone(&shared),
            Arc::clone(&store),
            listener,
            options,
        )?),
        None => None,
    };
    let maintenance_store = Arc::clone(&store);
    let maintenance_shared = Arc::clone(&shared);
    let maintenance = move |now: u32| {
        if maintenance_shared.crawler_running.load(Ordering::Relaxed) {
            maintenance_store.reclaim_expired(now, RECLAIM_BUDGET_PER_TICK);
        }
        let automove = maintenance_shared.slab_automove.load(Ordering::Relaxed);
        if automove > 0 {
            maintenance_store.automove_tick(now, automove >= 2);
        }
    };
    let executor_shared = Arc::clone(&shared);
    let result = serve(
        shared,
        sockets,
        move |_, counters| {
            CommandExecutor::new(Arc::clone(&executor_shared), Arc::clone(&store), counters)
        },
        maintenance,
    );
    // Give up the virtual IP first (the peer takes it after its skew time), then send the
    // last changes: the workers are stopped, so what they wrote is in the feed.
    if let Some(handle) = failover {
        handle.stop();
    }
    if let Some(handle) = replication {
        handle.stop();
    }
    result
}
