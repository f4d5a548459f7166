//! The change feed: every successful mutation as a [`ChangeRecord`], for the replication link.
//!
//! ```text
//!   writer (under its shard lock)                      subscriber (replication link)
//!   if active.load(Relaxed) ──no──> nothing else to do
//!         │ yes
//!         v
//!   try_send(record) ──full──> lost += 1, overflowed = true      FeedReceiver::take_lost()
//!         │ ok                                                      -> resync when > 0
//!         v
//!   bounded crossbeam channel ─────────────────────────────────> recv / try_recv / select
//! ```
//!
//! With no subscriber a write pays one relaxed atomic load. A slow subscriber never blocks a
//! writer: when its queue is full the record is dropped and counted, and the subscriber learns
//! from [`FeedReceiver::take_lost`] that it must resynchronise. Records of one key are sent in
//! the order the writes happened (they are sent under the key's shard lock).

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use crossbeam_channel::{Receiver, Sender, TrySendError};

/// Spare records kept for writers to reuse.
const SPARE_RECORDS: usize = 4096;
/// A recycled record keeps at most this much buffer capacity.
const MAX_RECYCLED_BYTES: usize = 64 * 1024;

/// What kind of change a record describes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChangeOp {
    /// set / ms in set mode (also the replicated form of every value change).
    Set,
    /// add that stored.
    Add,
    /// replace that stored.
    Replace,
    /// append that stored (the record carries the whole resulting value).
    Append,
    /// prepend that stored (the record carries the whole resulting value).
    Prepend,
    /// cas that stored.
    Cas,
    /// incr (the record carries the resulting value).
    Incr,
    /// decr (the record carries the resulting value).
    Decr,
    /// touch / gat / meta `T`: only `exptime` changed; `value` is empty.
    Touch,
    /// delete / md.
    Delete,
    /// md with `I` or ms with `I`: the item was marked stale (the record carries the item).
    Invalidate,
    /// flush_all: `exptime` holds the absolute time the flush takes effect (0 = now).
    FlushAll,
}

/// One observed mutation. `value` is always the item's value *after* the change, so applying a
/// record is idempotent (a `set` with the given flags and exptime).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChangeRecord {
    /// The operation that caused the change.
    pub op: ChangeOp,
    /// The key (empty for FlushAll).
    pub key: Vec<u8>,
    /// Client flags of the resulting item.
    pub flags: u32,
    /// Absolute expiry in Unix seconds (0 = never).
    pub exptime: u32,
    /// The resulting value (empty for Touch, Delete, FlushAll).
    pub value: Vec<u8>,
    /// The item's CAS after the change; for an immediate FlushAll the CAS horizon (items below
    /// it are gone); 0 for Delete, a delayed FlushAll or with CAS disabled.
    pub cas: u64,
    /// The item's version: a store-wide sequence number, increasing with every published
    /// record; a gap means records were lost.
    pub version: u64,
    /// Unix time of the change.
    pub time: u32,
    /// The key was stored with meta `b` (see [`ItemRef::key_is_binary`](crate::ItemRef::key_is_binary)).
    pub key_binary: bool,
}

impl ChangeRecord {
    /// An empty `Set` record (buffers unallocated), to be filled in.
    pub fn empty() -> ChangeRecord {
        ChangeRecord {
            op: ChangeOp::Set,
            key: Vec::new(),
            flags: 0,
            exptime: 0,
            value: Vec::new(),
            cas: 0,
            version: 0,
            time: 0,
            key_binary: false,
        }
    }

    /// Replaces key and value, reusing the buffers' capacity.
    pub fn set_bytes(&mut self, key: &[u8], value: &[u8]) {
        self.key.clear();
        self.key.extend_from_slice(key);
        self.value.clear();
        self.value.extend_from_slice(value);
    }
}

struct FeedShared {
    lost: AtomicU64,
    overflowed: AtomicBool,
    /// Records the subscriber is done with, for writers to fill again (no allocation per write
    /// once their buffers are large enough).
    spare_tx: Sender<ChangeRecord>,
    spare_rx: Receiver<ChangeRecord>,
    /// Set by the first writer after the subscriber re-armed; that writer calls `notify`.
    signalled: AtomicBool,
    notify: Option<Notify>,
}

/// Called by a writer when the subscriber may be asleep (at most once per
/// [`FeedReceiver::rearm`]); it must be cheap and must not touch the store.
pub type Notify = Arc<dyn Fn() + Send + Sync>;

impl std::fmt::Debug for FeedShared {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FeedShared")
            .field("lost", &self.lost)
            .field("overflowed", &self.overflowed)
            .field("spare", &self.spare_rx.len())
            .field("signalled", &self.signalled)
            .field("notify", &self.notify.is_some())
            .finish()
    }
}

/// A writer's handle on the queue; every shard keeps a clone, so publishing takes no lock
/// beyond the shard lock the writer already holds.
#[derive(Debug, Clone)]
pub(crate) struct FeedSender {
    tx: Sender<ChangeRecord>,
    shared: Arc<FeedShared>,
}

impl FeedSender {
    /// Wakes the subscriber unless another writer already did since it last re-armed.
    fn signal(&self) {
        if let Some(notify) = &self.shared.notify {
            if !self.shared.signalled.swap(true, Ordering::AcqRel) {
                notify();
            }
        }
    }
}

/// The store side of the feed.
#[derive(Debug)]
pub(crate) struct Feed {
    active: AtomicBool,
    seq: AtomicU64,
    /// For the rare store-level records (flush_all).
    tx: Mutex<Option<FeedSender>>,
}

impl Feed {
    pub fn new() -> Self {
        Feed { active: AtomicBool::new(false), seq: AtomicU64::new(0), tx: Mutex::new(None) }
    }

    /// The one check a writer pays when nobody listens.
    #[inline]
    pub fn active(&self) -> bool {
        self.active.load(Ordering::Relaxed)
    }

    /// A new queue; the caller hands the sender to every shard, then calls [`Feed::activate`].
    pub fn open(&self, capacity: usize, notify: Option<Notify>) -> (FeedReceiver, FeedSender) {
        let (tx, rx) = crossbeam_channel::bounded(capacity.max(1));
        let (spare_tx, spare_rx) = crossbeam_channel::bounded(SPARE_RECORDS);
        let shared = Arc::new(FeedShared {
            lost: AtomicU64::new(0),
            overflowed: AtomicBool::new(false),
            spare_tx,
            spare_rx,
            signalled: AtomicBool::new(false),
            notify,
        });
        let sender = FeedSender { tx, shared: Arc::clone(&shared) };
        *self.tx.lock().unwrap_or_else(|e| e.into_inner()) = Some(sender.clone());
        (FeedReceiver { rx, shared }, sender)
    }

    /// Turns publishing on.
    pub fn activate(&self) {
        self.active.store(true, Ordering::Release);
    }

    /// Sends a record filled in by `fill` through `sender` (the record is a spare one when
    /// the subscriber returned some, so its buffers are reused; `fill` must set every field
    /// but `version`); never blocks. Returns false when the subscriber is gone (the caller
    /// drops its sender; the feed turns itself off).
    #[cold]
    pub fn send(&self, sender: &FeedSender, fill: impl FnOnce(&mut ChangeRecord)) -> bool {
        let mut record =
            sender.shared.spare_rx.try_recv().unwrap_or_else(|_| ChangeRecord::empty());
        record.version = self.seq.fetch_add(1, Ordering::Relaxed) + 1;
        fill(&mut record);
        match sender.tx.try_send(record) {
            Ok(()) => {
                sender.signal();
                true
            }
            Err(TrySendError::Full(record)) => {
                sender.shared.lost.fetch_add(1, Ordering::Relaxed);
                sender.shared.overflowed.store(true, Ordering::Release);
                let _ = sender.shared.spare_tx.try_send(record);
                sender.signal();
                true
            }
            Err(TrySendError::Disconnected(_)) => {
                self.active.store(false, Ordering::Relaxed);
                false
            }
        }
    }

    /// Store-level publish (flush_all), through the feed's own sender.
    #[cold]
    pub fn publish(&self, fill: impl FnOnce(&mut ChangeRecord)) {
        let mut guard = self.tx.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(sender) = guard.as_ref() {
            if !self.send(sender, fill) {
                *guard = None;
            }
        }
    }
}

/// The subscriber side of the change feed (see [`Store::subscribe`](crate::Store::subscribe)).
/// Dropping it turns the feed off again.
#[derive(Debug)]
pub struct FeedReceiver {
    rx: Receiver<ChangeRecord>,
    shared: Arc<FeedShared>,
}

impl FeedReceiver {
    /// With a notifier: call before draining the queue after a wake-up, so that the next
    /// record sent after the drain wakes the subscriber again.
    pub fn rearm(&self) {
        self.shared.signalled.store(false, Ordering::SeqCst);
    }

    /// Gives a record back for writers to fill again (instead of freeing its buffers).
    /// Records with buffers over 64 KiB, or beyond the spare pool's room, are freed.
    pub fn recycle(&self, record: ChangeRecord) {
        if record.key.capacity() + record.value.capacity() <= MAX_RECYCLED_BYTES {
            let _ = self.shared.spare_tx.try_send(record);
        }
    }

    /// The next record if one is queued.
    pub fn try_recv(&self) -> Option<ChangeRecord> {
        self.rx.try_recv().ok()
    }

    /// Waits up to `timeout` for the next record.
    pub fn recv_timeout(&self, timeout: std::time::Duration) -> Option<ChangeRecord> {
        self.rx.recv_timeout(timeout).ok()
    }

    /// The channel itself, to `select!` on it together with other events.
    pub fn receiver(&self) -> &Receiver<ChangeRecord> {
        &self.rx
    }

    /// Whether records were dropped since the last [`take_lost`](Self::take_lost).
    pub fn overflowed(&self) -> bool {
        self.shared.overflowed.load(Ordering::Acquire)
    }

    /// Records dropped because the queue was full since the last call; the link should
    /// resynchronise when this is non-zero.
    pub fn take_lost(&self) -> u64 {
        self.shared.overflowed.store(false, Ordering::Release);
        self.shared.lost.swap(0, Ordering::AcqRel)
    }
}
