//! `watch`: connections that stream log lines (`ts=.. gid=.. type=..`) about what other
//! connections do, as memcached's logger does.
//!
//! ```text
//!   worker A executes `get foo` ──(only if LogBus::active())──> LogBus::emit(FETCHERS, line)
//!                                                                  │ for each watcher asking
//!                                                                  │ for that stream:
//!                                                                  │  try_send(line) (bounded,
//!                                                                  │  dropped when full)
//!                                                                  v  + wake its worker
//!   worker B (owns the watching connection) ── drains its receiver into the connection's
//!                                               output, subject to the output cap
//! ```
//!
//! Nothing is formatted or locked while nobody watches: `active()` is one atomic load.

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{SystemTime, UNIX_EPOCH};

use crossbeam_channel::{Receiver, Sender, TrySendError};
use memcached_codec::WatchFlags;
use mio::Waker;

/// Lines buffered per watcher before new ones are dropped.
const WATCHER_QUEUE: usize = 8192;

/// Log streams as memcached numbers them (see [`WatchFlags::NAMES`]).
pub mod stream {
    use memcached_codec::WatchFlags;

    /// `fetchers`: item reads.
    pub const FETCHERS: WatchFlags = WatchFlags(1 << 2);
    /// `mutations`: item stores.
    pub const MUTATIONS: WatchFlags = WatchFlags(1 << 3);
    /// `connevents`: connections opened and closed.
    pub const CONNEVENTS: WatchFlags = WatchFlags(1 << 5);
}

struct Watcher {
    id: u64,
    flags: WatchFlags,
    lines: Sender<Vec<u8>>,
    waker: Arc<Waker>,
}

/// The registry of watching connections.
pub struct LogBus {
    active: AtomicUsize,
    next_id: AtomicU64,
    next_gid: AtomicU64,
    skipped: AtomicU64,
    sent: AtomicU64,
    watchers: Mutex<Vec<Watcher>>,
}

impl std::fmt::Debug for LogBus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LogBus").field("active", &self.active.load(Ordering::Relaxed)).finish()
    }
}

impl Default for LogBus {
    fn default() -> Self {
        Self {
            active: AtomicUsize::new(0),
            next_id: AtomicU64::new(1),
            next_gid: AtomicU64::new(1),
            skipped: AtomicU64::new(0),
            sent: AtomicU64::new(0),
            watchers: Mutex::new(Vec::new()),
        }
    }
}

/// A subscription: its id (to unsubscribe) and the lines it receives.
#[derive(Debug)]
pub struct Subscription {
    /// Pass to [`LogBus::unsubscribe`].
    pub id: u64,
    /// Log lines, each ending in `\n`.
    pub lines: Receiver<Vec<u8>>,
}

impl LogBus {
    /// Whether anybody watches (one relaxed load; check before building a line).
    #[inline]
    pub fn active(&self) -> bool {
        self.active.load(Ordering::Relaxed) > 0
    }

    /// Number of watching connections (`log_watchers`).
    pub fn watchers(&self) -> usize {
        self.active.load(Ordering::Relaxed)
    }

    /// Lines dropped because a watcher's queue was full (`log_watcher_skipped`).
    pub fn skipped(&self) -> u64 {
        self.skipped.load(Ordering::Relaxed)
    }

    /// Lines queued for watchers (`log_watcher_sent`).
    pub fn sent(&self) -> u64 {
        self.sent.load(Ordering::Relaxed)
    }

    /// Registers a watcher for `flags`; `waker` wakes the worker that owns its connection.
    pub fn subscribe(&self, flags: WatchFlags, waker: Arc<Waker>) -> Subscription {
        let (tx, rx) = crossbeam_channel::bounded(WATCHER_QUEUE);
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        if let Ok(mut watchers) = self.watchers.lock() {
            watchers.push(Watcher { id, flags, lines: tx, waker });
            self.active.store(watchers.len(), Ordering::Relaxed);
        }
        Subscription { id, lines: rx }
    }

    /// Removes a watcher.
    pub fn unsubscribe(&self, id: u64) {
        if let Ok(mut watchers) = self.watchers.lock() {
            watchers.retain(|w| w.id != id);
            self.active.store(watchers.len(), Ordering::Relaxed);
        }
    }

    /// Sends one event of `stream` to every watcher asking for it. `fields` is everything
    /// after `ts=.. gid=..` (e.g. `type=item_get key=foo ...`), without the newline.
    pub fn emit(&self, stream: WatchFlags, fields: std::fmt::Arguments<'_>) {
        let Ok(watchers) = self.watchers.lock() else {
            return;
        };
        if !watchers.iter().any(|w| w.flags.0 & stream.0 != 0) {
            return;
        }
        let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default();
        let gid = self.next_gid.fetch_add(1, Ordering::Relaxed);
        let line = format!("ts={}.{:06} gid={gid} {fields}\n", now.as_secs(), now.subsec_micros())
            .into_bytes();
        for watcher in watchers.iter().filter(|w| w.flags.0 & stream.0 != 0) {
            match watcher.lines.try_send(line.clone()) {
                Ok(()) => {
                    self.sent.fetch_add(1, Ordering::Relaxed);
                    let _ = watcher.waker.wake();
                }
                Err(TrySendError::Full(_)) => {
                    self.skipped.fetch_add(1, Ordering::Relaxed);
                }
                Err(TrySendError::Disconnected(_)) => {}
            }
        }
    }
}
