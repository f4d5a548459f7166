//! What a replication link needs from the [`Store`]: the change feed, CAS lanes, applying a
//! peer's records (with the origin's CAS, only where absent, or guarded by the key's lock),
//! the flush second of a `-C` store, and a resumable walk over every item with page moves
//! paused while it runs. The protocol itself is `memcached-repl`'s; nothing here knows of it.

use std::sync::atomic::Ordering;

use super::{ItemCursor, Store};
use crate::feed::{ChangeOp, ChangeRecord, Feed, FeedReceiver, Notify};
use crate::item::ItemRef;
use crate::ops::*;
use crate::shard::{Ctx, Mode, StoreArgs};

impl Store {
    /// Subscribes to the change feed (replacing an earlier subscriber). `capacity` bounds the
    /// queue; overflow is counted in [`FeedReceiver::take_lost`], writers never wait.
    pub fn subscribe(&self, capacity: usize) -> FeedReceiver {
        self.subscribe_with(capacity, None)
    }

    /// Like [`subscribe`](Self::subscribe), and the first record after each
    /// [`FeedReceiver::rearm`] calls `notify` (from the writer's thread), so the subscriber can
    /// sleep in its own event loop instead of polling the queue.
    pub fn subscribe_notifying(&self, capacity: usize, notify: Notify) -> FeedReceiver {
        self.subscribe_with(capacity, Some(notify))
    }

    fn subscribe_with(&self, capacity: usize, notify: Option<Notify>) -> FeedReceiver {
        let (receiver, sender) = self.feed.open(capacity, notify);
        for i in 0..self.shards.len() {
            self.lock(i).feed_tx = Some(sender.clone());
        }
        self.feed.activate();
        receiver
    }

    /// Without CAS (`-C`): the second of the newest flush in effect (every item written at or
    /// before it is hidden). A replication full copy carries it, so both nodes hide the same
    /// items. `None` with CAS (a flush hides by CAS there) or when nothing was flushed.
    pub fn flush_second(&self, now: u32) -> Option<u32> {
        let second = self.flush_horizon(now);
        (!self.geo.cas_enabled && second != 0 && second <= now).then_some(second)
    }

    /// Puts every CAS value this store hands out from now on in `lane` of `lanes` (0-based):
    /// two replicating nodes take different lanes, so the CAS values they assign never collide
    /// while applied records keep the CAS their origin gave them.
    pub fn set_cas_lane(&self, lane: u8, lanes: u8) {
        let n = self.shards.len();
        for i in 0..n {
            self.lock(i).set_cas_lane(i, n, u64::from(lane), u64::from(lanes));
        }
    }

    /// Visits live items in a resumable walk: starts at `cursor` (use
    /// `ItemCursor::default()` for the first call), looks at no more than `budget` chunks
    /// under one shard lock, and returns where to continue (`None` once every shard is done).
    /// An item that slab rebalancing moves during a walk may be seen twice or not at all,
    /// unless the walk runs between [`pause_page_moves`](Self::pause_page_moves) and
    /// [`resume_page_moves`](Self::resume_page_moves).
    pub fn visit_items(
        &self,
        cursor: ItemCursor,
        now: u32,
        budget: usize,
        mut f: impl FnMut(&ItemRef<'_>),
    ) -> Option<ItemCursor> {
        if cursor.shard >= self.shards.len() {
            return None;
        }
        let ctx = self.ctx(now);
        let next = self.lock(cursor.shard).visit_live_from(
            &ctx,
            (cursor.slot, cursor.chunk),
            budget.max(1),
            &mut f,
        );
        match next {
            Some((slot, chunk)) => Some(ItemCursor { shard: cursor.shard, slot, chunk }),
            None if cursor.shard + 1 < self.shards.len() => {
                Some(ItemCursor { shard: cursor.shard + 1, slot: 0, chunk: 0 })
            }
            None => None,
        }
    }

    /// Applies a record received from a replication peer, without publishing it again: the
    /// item keeps the record's CAS. Returns whether the local store changed.
    pub fn apply_change(&self, rec: &ChangeRecord, now: u32) -> Result<bool, StoreError> {
        self.apply_change_guarded(rec, now, false, || true).map(|r| r.unwrap_or(false))
    }

    /// Like [`apply_change`](Self::apply_change), but a value-carrying record is stored only
    /// when the key is missing here (`add` semantics; used for a resync that must not
    /// overwrite newer local data).
    pub fn apply_change_if_absent(&self, rec: &ChangeRecord, now: u32) -> Result<bool, StoreError> {
        self.apply_change_guarded(rec, now, true, || true).map(|r| r.unwrap_or(false))
    }

    /// The general form: `if_absent` as in [`apply_change_if_absent`](Self::apply_change_if_absent),
    /// and `may_apply` is asked while the key's shard lock is held, so no local write of the
    /// key can happen between its answer and the change. When it answers false nothing changes
    /// and `Ok(None)` comes back. A replication driver hands its queued local changes to its
    /// session there and answers whether one of them beats the peer's: a local write racing
    /// the peer's is then never overwritten unseen. `FlushAll` does not ask. Without CAS
    /// (`-C`) the record's `time` is the applied item's time and an immediate flush's second.
    pub fn apply_change_guarded(
        &self,
        rec: &ChangeRecord,
        now: u32,
        if_absent: bool,
        may_apply: impl FnOnce() -> bool,
    ) -> Result<Option<bool>, StoreError> {
        let hash = self.hasher.hash(&rec.key);
        // Without CAS a flush hides items by time (memcached's -C rule: written at or before
        // the flush's second). Applied items keep the origin's time and a peer's flush takes
        // effect at the origin's second, so both nodes hide the same items (the two clocks
        // tick at different moments: an origin's second can be ahead of ours by one).
        let at_origin = if self.geo.cas_enabled || rec.time == 0 { now } else { rec.time };
        let ctx = Ctx { feed: &Feed::new(), ..self.ctx(at_origin) };
        let exptime = rec.exptime;
        match rec.op {
            ChangeOp::FlushAll => {
                let delay = if rec.exptime == 0 { 0 } else { i64::from(rec.exptime) };
                let at = if delay > 0 { rec.exptime } else { at_origin };
                let horizon = (if self.geo.cas_enabled { at.saturating_sub(1) } else { at }).max(1);
                if delay > 0 {
                    self.oldest_live.store(horizon, Ordering::Relaxed);
                } else if self.geo.cas_enabled {
                    // A peer's flush can arrive after a newer local one: it must not bring
                    // back what that one hid.
                    self.oldest_live.fetch_max(horizon, Ordering::Relaxed);
                } else {
                    // By second, whatever the order; kept apart from local flushes (a local
                    // flush_all replaces a pending delayed one) since the origin's second can
                    // be ahead of ours: it takes effect when our clock gets there.
                    self.peer_flush_second.fetch_max(horizon, Ordering::Relaxed);
                }
                if at <= now {
                    self.flush_now((rec.cas != 0).then_some(rec.cas), |_| {});
                }
                Ok(Some(true))
            }
            _ if !Self::key_ok(&rec.key) => Err(StoreError::BadKey),
            ChangeOp::Delete => {
                let mut shard = self.shard(hash);
                if !may_apply() {
                    return Ok(None);
                }
                Ok(Some(shard.delete(&ctx, &rec.key, hash, None, None) == DeleteOutcome::Deleted))
            }
            ChangeOp::Touch => {
                let mut shard = self.shard(hash);
                if !may_apply() {
                    return Ok(None);
                }
                Ok(Some(shard.touch(&ctx, &rec.key, hash, exptime) == TouchOutcome::Touched))
            }
            _ => {
                let a = StoreArgs {
                    key: &rec.key,
                    value: &rec.value,
                    flags: rec.flags,
                    exptime,
                    mode: if if_absent { Mode::Add } else { Mode::Set },
                    compare_cas: None,
                    invalidate: false,
                    explicit_cas: (rec.cas != 0).then_some(rec.cas),
                    vivify_on_miss: None,
                    op: rec.op,
                    binary_key: rec.key_binary,
                };
                let mut shard = self.shard(hash);
                if !may_apply() {
                    return Ok(None);
                }
                let r = shard.store(&ctx, hash, &a)?;
                shard.advance_cas_past(rec.cas);
                if rec.op == ChangeOp::Invalidate && r.outcome == StoreOutcome::Stored {
                    // Stale again, with the CAS the record carries (the origin's).
                    let cas = (rec.cas != 0).then_some(rec.cas);
                    shard.delete(&ctx, &rec.key, hash, None, Some((None, cas)));
                }
                Ok(Some(r.outcome == StoreOutcome::Stored))
            }
        }
    }

    /// Stops page moves (automove rounds, `slabs reassign` answers BUSY) until the matching
    /// [`resume_page_moves`](Self::resume_page_moves). A page move relocates the items of the
    /// page it frees to free chunks of the same class, which can be behind a
    /// [`visit_items`](Self::visit_items) walk's cursor: a walk that must see every item (a
    /// replication full copy) pauses them while it runs.
    pub fn pause_page_moves(&self) {
        self.page_moves_paused.fetch_add(1, Ordering::SeqCst);
    }

    /// Ends one [`pause_page_moves`](Self::pause_page_moves).
    pub fn resume_page_moves(&self) {
        let _ = self
            .page_moves_paused
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1));
    }
}
