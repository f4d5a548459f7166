//! State every thread of one server can see: configuration, the coarse clock, the stop latch,
//! connection accounting, per-worker counters and the per-prefix (`stats detail`) table.
//!
//! Nothing here is locked on the request path: connection entries are locked only when a
//! connection opens or closes (and by `stats conns`); the prefix table only while
//! `stats detail on` is in force, as in memcached.

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, AtomicU8, Ordering};
use std::sync::{Arc, Mutex, OnceLock};

use crate::clock::CoarseClock;
use crate::config::ServerConfig;
use crate::counters::WorkerCounters;
use crate::signals::StopLatch;

/// What `stats conns` shows for one open socket.
#[derive(Debug)]
pub struct ConnEntry {
    /// `tcp:1.2.3.4:5678`, `unix:/path` or `udp:...`.
    pub addr: String,
    /// The listening address it came through.
    pub listen_addr: String,
    /// Coarse time of the last command (updated by the owning worker).
    pub last_cmd: AtomicU32,
}

/// Connection counts and the table of open connections.
#[derive(Debug, Default)]
pub struct ConnectionTable {
    /// Open client connections (`curr_connections`).
    pub current: AtomicU64,
    /// Connections accepted since start (`total_connections`).
    pub total: AtomicU64,
    /// Connections refused because of `-c` (`rejected_connections`).
    pub rejected: AtomicU64,
    /// Times accept was paused for lack of descriptors (`listen_disabled_num`).
    pub listen_disabled: AtomicU64,
    /// Highest number of client connections open at once.
    pub structures: AtomicU64,
    /// Connection structures memcached keeps for listeners (one per TCP/UNIX listener and one
    /// per worker per UDP socket); counted in `total_connections` at start and in
    /// `connection_structures`, as memcached does.
    pub listener_structures: AtomicU64,
    entries: Mutex<BTreeMap<i32, Arc<ConnEntry>>>,
    listeners: Mutex<Vec<(i32, String)>>,
}

impl ConnectionTable {
    /// Records a new client connection on descriptor `fd`.
    pub fn open(&self, fd: i32, entry: Arc<ConnEntry>) {
        let now_open = self.current.fetch_add(1, Ordering::Relaxed) + 1;
        self.total.fetch_add(1, Ordering::Relaxed);
        self.structures.fetch_max(now_open, Ordering::Relaxed);
        if let Ok(mut entries) = self.entries.lock() {
            entries.insert(fd, entry);
        }
    }

    /// Forgets the client connection on `fd`.
    pub fn close(&self, fd: i32) {
        self.current.fetch_sub(1, Ordering::Relaxed);
        if let Ok(mut entries) = self.entries.lock() {
            entries.remove(&fd);
        }
    }

    /// Records a listening socket for `stats conns`.
    pub fn add_listener(&self, fd: i32, addr: String) {
        if let Ok(mut listeners) = self.listeners.lock() {
            listeners.push((fd, addr));
        }
    }

    /// Listening sockets: (fd, address).
    pub fn listeners(&self) -> Vec<(i32, String)> {
        self.listeners.lock().map(|l| l.clone()).unwrap_or_default()
    }

    /// Open client connections: (fd, entry), by descriptor.
    pub fn entries(&self) -> Vec<(i32, Arc<ConnEntry>)> {
        self.entries
            .lock()
            .map(|e| e.iter().map(|(fd, entry)| (*fd, Arc::clone(entry))).collect())
            .unwrap_or_default()
    }
}

/// Per-prefix counters for `stats detail dump`.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct PrefixCounts {
    /// `get` lookups.
    pub get: u64,
    /// `get` hits.
    pub hit: u64,
    /// Stores.
    pub set: u64,
    /// Deletes.
    pub del: u64,
}

/// Which counter of a prefix to bump.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PrefixOp {
    /// A lookup; `true` when it hit.
    Get(bool),
    /// A store.
    Set,
    /// A delete.
    Delete,
}

/// memcached's per-prefix statistics (`-D`, `stats detail on|off|dump`).
#[derive(Debug)]
pub struct PrefixStats {
    enabled: AtomicBool,
    delimiter: u8,
    table: Mutex<HashMap<Vec<u8>, PrefixCounts>>,
}

impl PrefixStats {
    /// A table with the given delimiter, initially on or off.
    pub fn new(delimiter: u8, enabled: bool) -> Self {
        Self { enabled: AtomicBool::new(enabled), delimiter, table: Mutex::new(HashMap::new()) }
    }

    /// Whether collection is on.
    #[inline]
    pub fn enabled(&self) -> bool {
        self.enabled.load(Ordering::Relaxed)
    }

    /// Turns collection on or off.
    pub fn set_enabled(&self, on: bool) {
        self.enabled.store(on, Ordering::Relaxed);
    }

    /// Counts one operation on `key` (only while enabled; keys without the delimiter are
    /// not counted, as in memcached).
    pub fn record(&self, key: &[u8], op: PrefixOp) {
        if !self.enabled() {
            return;
        }
        let Some(cut) = key.iter().position(|&b| b == self.delimiter) else {
            return;
        };
        let prefix = &key[..cut];
        let Ok(mut table) = self.table.lock() else {
            return;
        };
        let counts = match table.get_mut(prefix) {
            Some(c) => c,
            None => table.entry(prefix.to_vec()).or_default(),
        };
        match op {
            PrefixOp::Get(hit) => {
                counts.get += 1;
                counts.hit += u64::from(hit);
            }
            PrefixOp::Set => counts.set += 1,
            PrefixOp::Delete => counts.del += 1,
        }
    }

    /// Appends the `stats detail dump` body (`PREFIX ...` lines and `END`).
    pub fn dump(&self, out: &mut Vec<u8>) {
        if let Ok(table) = self.table.lock() {
            let mut prefixes: Vec<_> = table.iter().collect();
            prefixes.sort_by(|a, b| a.0.cmp(b.0));
            for (prefix, c) in prefixes {
                out.extend_from_slice(b"PREFIX ");
                out.extend_from_slice(prefix);
                out.extend_from_slice(
                    format!(" get {} hit {} set {} del {}\r\n", c.get, c.hit, c.set, c.del)
                        .as_bytes(),
                );
            }
        }
        out.extend_from_slice(b"END\r\n");
    }

    /// Forgets every prefix (`stats reset`).
    pub fn clear(&self) {
        if let Ok(mut table) = self.table.lock() {
            table.clear();
        }
    }
}

/// Server-wide state shared by the control thread, the clock thread and all workers.
#[derive(Debug)]
pub struct Shared {
    /// Runtime configuration.
    pub config: ServerConfig,
    /// The coarse clock (`now` for the store).
    pub clock: CoarseClock,
    /// Where stop requests go.
    pub stop: Arc<StopLatch>,
    /// Connection accounting.
    pub connections: ConnectionTable,
    /// One set of counters per worker (filled in when workers start).
    pub workers: OnceLock<Vec<Arc<WorkerCounters>>>,
    /// Current log level (`verbosity` changes it).
    pub verbosity: AtomicU32,
    /// `stats detail` table.
    pub prefixes: PrefixStats,
    /// 1 while listeners accept connections (`accepting_conns`).
    pub accepting: AtomicU8,
    /// Current `slab_automove` mode (`slabs automove <n>` changes it).
    pub slab_automove: AtomicU8,
    /// memcached's `settings.lru_crawler`: the crawler was started (`-o lru_crawler`, or a
    /// successful `lru_crawler enable`).
    pub lru_crawler: AtomicBool,
    /// The crawler is running (`lru_crawler disable` stops it; the setting stays on, as in
    /// memcached 1.6.18).
    pub crawler_running: AtomicBool,
    /// `stats sizes` histogram on (`stats sizes_enable|sizes_disable`).
    pub track_sizes: AtomicBool,
    /// `watch` subscribers.
    pub log: crate::watch::LogBus,
    /// `stats settings` lines beyond the ones the server knows itself (from `settings`).
    pub settings_report: Vec<(String, String)>,
    /// The replication link's last published state (`None` without `-x`).
    pub replication: std::sync::Mutex<Option<crate::replication::ReplicationStatus>>,
    /// The VRRP instance's state (`None` without `--vrrp`).
    pub vrrp: Arc<std::sync::Mutex<Option<crate::failover::VrrpStatus>>>,
}

impl Shared {
    /// Fresh state for a server with `config`.
    pub fn new(config: ServerConfig, stop: Arc<StopLatch>) -> Self {
        let prefixes = PrefixStats::new(config.prefix_delimiter, config.detail_enabled);
        let verbosity = AtomicU32::new(config.verbosity);
        let slab_automove = AtomicU8::new(config.slab_automove);
        let lru_crawler = AtomicBool::new(config.lru_crawler);
        let crawler_running = AtomicBool::new(config.lru_crawler);
        let track_sizes = AtomicBool::new(config.track_sizes);
        Self {
            config,
            clock: CoarseClock::new(),
            stop,
            connections: ConnectionTable::default(),
            workers: OnceLock::new(),
            verbosity,
            prefixes,
            accepting: AtomicU8::new(1),
            slab_automove,
            lru_crawler,
            crawler_running,
            track_sizes,
            log: crate::watch::LogBus::default(),
            settings_report: Vec::new(),
            replication: std::sync::Mutex::new(None),
            vrrp: Arc::new(std::sync::Mutex::new(None)),
        }
    }

    /// The current log level.
    #[inline]
    pub fn verbosity(&self) -> u32 {
        self.verbosity.load(Ordering::Relaxed)
    }

    /// Per-worker counters (empty before the workers start).
    pub fn worker_counters(&self) -> &[Arc<WorkerCounters>] {
        self.workers.get().map(Vec::as_slice).unwrap_or(&[])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefix_stats_count_only_when_enabled() {
        let stats = PrefixStats::new(b':', false);
        stats.record(b"user:1", PrefixOp::Set);
        let mut out = Vec::new();
        stats.dump(&mut out);
        assert_eq!(out, b"END\r\n");
        stats.set_enabled(true);
        stats.record(b"user:1", PrefixOp::Set);
        stats.record(b"user:2", PrefixOp::Get(true));
        stats.record(b"user:3", PrefixOp::Get(false));
        stats.record(b"nodelim", PrefixOp::Delete);
        out.clear();
        stats.dump(&mut out);
        assert_eq!(out, b"PREFIX user get 2 hit 1 set 1 del 0\r\nEND\r\n");
    }

    #[test]
    fn connection_table_counts() {
        let table = ConnectionTable::default();
        let entry = Arc::new(ConnEntry {
            addr: "tcp:1.2.3.4:5".into(),
            listen_addr: "tcp:0.0.0.0:11211".into(),
            last_cmd: AtomicU32::new(0),
        });
        table.open(7, Arc::clone(&entry));
        table.open(8, entry);
        table.close(7);
        assert_eq!(table.current.load(Ordering::Relaxed), 1);
        assert_eq!(table.total.load(Ordering::Relaxed), 2);
        assert_eq!(table.structures.load(Ordering::Relaxed), 2);
        assert_eq!(table.entries().len(), 1);
    }
}
