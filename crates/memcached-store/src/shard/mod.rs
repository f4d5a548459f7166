//! One shard: a hash index, slab classes and counters behind one lock. Every store operation
//! runs inside exactly one shard (chosen by the key hash), so shards never wait for each other
//! except on the rare page grab from the global pool.
//!
//! ```text
//!   store(key, value)                              get(key)
//!     lookup ─ dead? unlink (lazy expiry)            lookup ─ dead? unlink, miss
//!     mode/CAS checks                                 win/stale logic (meta)
//!     same class as old? ── yes ─> rewrite chunk      callback(ItemRef)  (no copy)
//!        │ no                                         bump: atime, FETCHED, REF
//!        v
//!     alloc: free list → pool page → CLOCK evict → steal a page from another class
//!     write item, swap index entry, free the old chunk, publish change record
//! ```

mod arith;
mod maintenance;
mod read;
mod rebalance;

use crate::config::Geometry;
use crate::feed::{ChangeOp, Feed, FeedSender};
use crate::index::{HashIndex, KeyHasher, Slot};
use crate::item::{self, bits, item_total_len, write_header, RawItem, OFF_ATIME, OFF_BITS};
use crate::lru::{advance, CLOCK_SCAN_LIMIT, RECLAIM_SCAN_LIMIT};
use crate::ops::{ArithOp, SetResult, StoreError, StoreOutcome};
use crate::slab::{ChunkRef, PagePool, SlabClass, SlabMemory};

/// Per-call context: the clock, the flush horizon and the shared parts of the store.
#[derive(Clone, Copy)]
pub(crate) struct Ctx<'a> {
    pub now: u32,
    pub oldest_live: u32,
    pub pool: &'a PagePool,
    pub feed: &'a Feed,
    pub geo: &'a Geometry,
    /// The other shards, for a page when this one has none to spare (never waits on them).
    pub store: Option<&'a crate::Store>,
}

summed_counters! {
    /// Store-wide counters kept per shard (summed for `stats`). Live items and their bytes
    /// are not here: they are the sums of the classes' `items` and `requested`.
    Counters {
        total_items,
        get_hits,
        get_misses,
        get_expired,
        get_flushed,
        cmd_get,
        cmd_set,
        cmd_touch,
        delete_hits,
        delete_misses,
        incr_hits,
        incr_misses,
        decr_hits,
        decr_misses,
        cas_hits,
        cas_misses,
        cas_badval,
        touch_hits,
        touch_misses,
        store_too_large,
        store_no_memory,
        evictions,
        reclaimed,
        expired_unfetched,
        evicted_unfetched,
        crawler_reclaimed,
        crawler_items_checked,
        slabs_moved,
        slab_reassign_rescues,
        slab_reassign_evictions,
    }
}

/// The classic/meta storage modes after protocol details are folded in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Mode {
    Set,
    Add,
    Replace,
    Append,
    Prepend,
}

/// A fully resolved storage request.
pub(crate) struct StoreArgs<'a> {
    pub key: &'a [u8],
    pub value: &'a [u8],
    pub flags: u32,
    pub exptime: u32,
    pub mode: Mode,
    /// Set/Replace with a CAS behave like `cas`; Append/Prepend compare it; Add ignores it.
    pub compare_cas: Option<u64>,
    pub invalidate: bool,
    pub explicit_cas: Option<u64>,
    /// Append/Prepend on a miss create the item with this exptime.
    pub vivify_on_miss: Option<u32>,
    pub op: ChangeOp,
    /// Mark the new item's key as binary (meta `b`).
    pub binary_key: bool,
}

impl<'a> StoreArgs<'a> {
    /// The `add` that creates a missing item for mg N / ma N (vivify on miss).
    pub fn vivify(key: &'a [u8], value: &'a [u8], exptime: u32, binary_key: bool) -> Self {
        StoreArgs {
            key,
            value,
            flags: 0,
            exptime,
            mode: Mode::Add,
            compare_cas: None,
            invalidate: false,
            explicit_cas: None,
            vivify_on_miss: None,
            op: ChangeOp::Add,
            binary_key,
        }
    }
}

/// Options of a read.
#[derive(Debug, Clone, Copy)]
pub(crate) struct ReadOpts {
    pub touch: Option<u32>,
    pub bump: bool,
    pub meta: bool,
    pub vivify: Option<u32>,
    pub recache_below: Option<u32>,
    /// Hand out no win token (see `MetaGetDetails::withhold_win`).
    pub withhold_win: bool,
    pub gat: bool,
    /// Not a get in the stats (`me`, admin peeks).
    pub uncounted: bool,
    /// An item created by `vivify` gets a binary key mark.
    pub binary_key: bool,
    /// The order of `T`, `N`, `R` in the request (memcached applies them left to right).
    pub order: [u8; 3],
}

impl Default for ReadOpts {
    fn default() -> Self {
        ReadOpts {
            touch: None,
            bump: false,
            meta: false,
            vivify: None,
            recache_below: None,
            gat: false,
            uncounted: false,
            binary_key: false,
            order: *b"NTR",
            withhold_win: false,
        }
    }
}

/// A resolved arithmetic request.
#[derive(Debug, Clone, Copy)]
pub(crate) struct ArithArgs {
    pub op: ArithOp,
    pub delta: u64,
    pub compare_cas: Option<u64>,
    pub vivify: Option<u32>,
    pub initial: u64,
    pub new_ttl: Option<u32>,
    /// See `MetaArith::held_by_reply`.
    pub held_by_reply: Option<u64>,
    /// An item created by `vivify` gets a binary key mark.
    pub binary_key: bool,
}

enum Dead {
    Expired,
    Flushed,
}

#[derive(Debug)]
pub(crate) struct Shard {
    pub mem: SlabMemory,
    pub index: HashIndex,
    pub c: Counters,
    next_cas: u64,
    cas_stride: u64,
    /// The smallest CAS of this shard's lane: every value it hands out is `base + k * stride`.
    cas_base: u64,
    pub oldest_cas: u64,
    /// The old value of an append/prepend while the new item is written.
    scratch: Vec<u8>,
    /// Item bytes while an item moves between chunks (page rebalancing).
    move_buf: Vec<u8>,
    /// This shard's handle on the change feed queue (None without a subscriber).
    pub feed_tx: Option<FeedSender>,
    crawl_slot: usize,
    crawl_chunk: usize,
    cas_enabled: bool,
    evict: bool,
    hasher: KeyHasher,
    /// This shard's position in the store.
    idx: usize,
}

#[allow(clippy::too_many_arguments)]
fn write_item(
    mem: &mut SlabMemory,
    cas_enabled: bool,
    r: ChunkRef,
    key: &[u8],
    v1: &[u8],
    v2: &[u8],
    flags: u32,
    exptime: u32,
    atime: u32,
    cas: u64,
    state: u8,
) -> usize {
    let chunk = mem.chunk_mut(r);
    let off = write_header(
        chunk,
        cas_enabled,
        state,
        key,
        v1.len() + v2.len(),
        flags,
        exptime,
        atime,
        cas,
    );
    chunk[off..off + v1.len()].copy_from_slice(v1);
    let off2 = off + v1.len();
    chunk[off2..off2 + v2.len()].copy_from_slice(v2);
    off2 + v2.len()
}

impl Shard {
    pub fn new(geo: &Geometry, shard_idx: usize, hasher: KeyHasher) -> Self {
        let classes =
            geo.classes.iter().map(|g| SlabClass::new(g.chunk_size, g.chunks_per_page)).collect();
        Shard {
            mem: SlabMemory::new(classes, geo.chunk_bits),
            index: HashIndex::new(geo.shards),
            c: Counters::default(),
            next_cas: shard_idx as u64 + 1,
            cas_stride: geo.shards as u64,
            cas_base: shard_idx as u64 + 1,
            oldest_cas: 0,
            scratch: Vec::new(),
            move_buf: Vec::new(),
            feed_tx: None,
            crawl_slot: 0,
            crawl_chunk: 0,
            cas_enabled: geo.cas_enabled,
            evict: geo.evict,
            hasher,
            idx: shard_idx,
        }
    }

    #[inline]
    fn raw(&self, r: ChunkRef) -> RawItem<'_> {
        RawItem::new(self.mem.chunk(r), self.cas_enabled)
    }

    #[inline]
    fn take_cas(&mut self) -> u64 {
        if !self.cas_enabled {
            return 0;
        }
        let c = self.next_cas;
        self.next_cas += self.cas_stride;
        c
    }

    /// Puts this shard's CAS values in `lane` of `lanes` (replication: the two nodes of a pair
    /// use different lanes, so a CAS value names one write on either node). The next value is
    /// the first one of the new lane that is not below the old next value.
    pub fn set_cas_lane(&mut self, shard_idx: usize, shards: usize, lane: u64, lanes: u64) {
        self.cas_stride = shards as u64 * lanes.max(1);
        self.cas_base = shard_idx as u64 + 1 + lane * shards as u64;
        self.next_cas = self.lane_value_at_least(self.next_cas);
    }

    /// Makes every later CAS of this shard exceed `seen` (a Lamport clock over the CAS values
    /// of both replicating nodes, so CAS order follows causality across the pair).
    pub fn advance_cas_past(&mut self, seen: u64) {
        if self.cas_enabled && seen >= self.next_cas {
            self.next_cas = self.lane_value_at_least(seen.saturating_add(1));
        }
    }

    /// The smallest value of this shard's lane that is `>= at_least`.
    fn lane_value_at_least(&self, at_least: u64) -> u64 {
        let next = at_least.max(self.cas_base);
        let over = (next - self.cas_base) % self.cas_stride;
        if over == 0 {
            next
        } else {
            next + (self.cas_stride - over)
        }
    }

    /// The CAS the next write would get (flush_all uses it as the flush horizon).
    pub fn peek_cas(&self) -> u64 {
        if self.cas_enabled {
            self.next_cas
        } else {
            0
        }
    }

    #[inline]
    fn dead(&self, raw: RawItem<'_>, ctx: &Ctx<'_>) -> Option<Dead> {
        if raw.is_expired(ctx.now) {
            return Some(Dead::Expired);
        }
        let ol = ctx.oldest_live;
        if ol != 0 && ol <= ctx.now {
            let cas = raw.cas();
            if raw.atime() <= ol || (self.oldest_cas != 0 && cas != 0 && cas < self.oldest_cas) {
                return Some(Dead::Flushed);
            }
        }
        None
    }

    #[inline]
    fn find_key(&self, key: &[u8], hash: u64) -> Option<(Slot, ChunkRef)> {
        let mem = &self.mem;
        let ce = self.cas_enabled;
        self.index.find(hash, |r| RawItem::new(mem.chunk(r), ce).key() == key)
    }

    /// Finds a live item; expired or flushed ones are unlinked on the way (lazy expiry).
    #[inline]
    fn lookup(&mut self, key: &[u8], hash: u64, ctx: &Ctx<'_>) -> Option<(Slot, ChunkRef)> {
        if self.index.is_expanding() {
            // Reads move the migration along too, so a read-mostly store does not keep
            // probing two tables.
            self.index.migrate(8);
        }
        let (slot, r) = self.find_key(key, hash)?;
        match self.dead(self.raw(r), ctx) {
            None => Some((slot, r)),
            Some(d) => {
                match d {
                    Dead::Expired => self.c.get_expired += 1,
                    Dead::Flushed => self.c.get_flushed += 1,
                }
                self.unlink(slot, r);
                None
            }
        }
    }

    fn account_add(&mut self, r: ChunkRef, class: usize, total: usize) {
        self.mem.page_live_add(r, 1);
        self.c.total_items += 1;
        let cl = &mut self.mem.classes[class];
        cl.items += 1;
        cl.requested += total as u64;
    }

    fn account_remove(&mut self, r: ChunkRef, class: usize, total: usize) {
        self.mem.page_live_add(r, -1);
        let cl = &mut self.mem.classes[class];
        cl.items -= 1;
        cl.requested -= total as u64;
    }

    /// Removes the item at `r` (index entry `slot`) and frees its chunk.
    fn unlink(&mut self, slot: Slot, r: ChunkRef) {
        let total = self.raw(r).total_len();
        let class = self.mem.class_of(r);
        self.index.remove(slot);
        self.account_remove(r, class, total);
        self.mem.push_free(class, r);
    }

    /// Removes a live item known only by its chunk; `push` puts the chunk on the free list
    /// (else it is only marked free, for a page being emptied).
    fn drop_item(&mut self, r: ChunkRef, push: bool) {
        let raw = self.raw(r);
        let total = raw.total_len();
        let hash = self.hasher.hash(raw.key());
        let class = self.mem.class_of(r);
        if let Some(slot) = self.index.find_ref(hash, r) {
            self.index.remove(slot);
        } else {
            debug_assert!(false, "live chunk without index entry");
        }
        self.account_remove(r, class, total);
        if push {
            self.mem.push_free(class, r);
        } else {
            self.mem.chunk_mut(r)[OFF_BITS] = 0;
        }
    }

    fn note_reclaim(&mut self, class: usize, item_bits: u8, crawler: bool) {
        let cl = &mut self.mem.classes[class].counters;
        if crawler {
            self.c.crawler_reclaimed += 1;
            cl.crawler_reclaimed += 1;
        } else {
            self.c.reclaimed += 1;
            cl.reclaimed += 1;
        }
        if item_bits & bits::FETCHED == 0 {
            self.c.expired_unfetched += 1;
            cl.expired_unfetched += 1;
        }
    }

    fn note_evict(&mut self, r: ChunkRef, now: u32) {
        let raw = self.raw(r);
        let (b, exp, at) = (raw.bits(), raw.exptime(), raw.atime());
        let class = self.mem.class_of(r);
        let slab_class = &mut self.mem.classes[class];
        slab_class.evicted_time = now.saturating_sub(at);
        let cl = &mut slab_class.counters;
        self.c.evictions += 1;
        cl.evicted += 1;
        if exp != 0 {
            cl.evicted_nonzero += 1;
        }
        if b & bits::FETCHED == 0 {
            self.c.evicted_unfetched += 1;
            cl.evicted_unfetched += 1;
        }
    }

    /// Frees one chunk of `class` with the CLOCK: reclaims a dead item or (if allowed) evicts.
    fn clock_free_one(
        &mut self,
        class: usize,
        ctx: &Ctx<'_>,
        protect: Option<ChunkRef>,
        allow_evict: bool,
    ) -> bool {
        let (npages, per_page) = {
            let cl = &self.mem.classes[class];
            (cl.pages.len(), cl.chunks_per_page)
        };
        if npages == 0 {
            return false;
        }
        let total = npages * per_page as usize;
        let mut first_referenced = None;
        let limit = if allow_evict { CLOCK_SCAN_LIMIT } else { RECLAIM_SCAN_LIMIT };
        for _ in 0..total.min(limit) {
            let cl = &mut self.mem.classes[class];
            let (pp, ci) = advance(&mut cl.hand_page, &mut cl.hand_chunk, npages, per_page);
            let page = cl.pages[pp];
            let r = self.mem.make_ref(page, ci);
            let b = self.mem.chunk(r)[OFF_BITS];
            if b & bits::LIVE == 0 || Some(r) == protect {
                continue;
            }
            if self.dead(self.raw(r), ctx).is_some() {
                self.note_reclaim(class, b, false);
                self.drop_item(r, true);
                return true;
            }
            if !allow_evict {
                continue;
            }
            if b & bits::REF != 0 {
                self.mem.chunk_mut(r)[OFF_BITS] = b & !bits::REF;
                first_referenced.get_or_insert(r);
                continue;
            }
            self.note_evict(r, ctx.now);
            self.drop_item(r, true);
            return true;
        }
        if let Some(r) = first_referenced {
            if self.mem.chunk(r)[OFF_BITS] & bits::LIVE != 0 {
                self.note_evict(r, ctx.now);
                self.drop_item(r, true);
                return true;
            }
        }
        false
    }

    /// A free chunk of `class`: free list, a new page from the pool, the CLOCK, or a page taken
    /// from another class of this shard.
    fn alloc(
        &mut self,
        class: usize,
        ctx: &Ctx<'_>,
        protect: Option<ChunkRef>,
    ) -> Result<ChunkRef, StoreError> {
        if let Some(r) = self.mem.pop_free(class) {
            return Ok(r);
        }
        if let Some(page) = ctx.pool.grab() {
            self.mem.install_page(class, page);
            if let Some(r) = self.mem.pop_free(class) {
                return Ok(r);
            }
        }
        if self.clock_free_one(class, ctx, protect, self.evict) {
            if let Some(r) = self.mem.pop_free(class) {
                return Ok(r);
            }
        }
        if self.steal_page_for(class, ctx, protect) {
            if let Some(r) = self.mem.pop_free(class) {
                return Ok(r);
            }
        }
        if let Some(page) = ctx.store.and_then(|store| store.steal_foreign_page(self.idx, ctx)) {
            self.mem.install_page(class, page);
            self.c.slabs_moved += 1;
            if let Some(r) = self.mem.pop_free(class) {
                return Ok(r);
            }
        }
        self.mem.classes[class].counters.outofmemory += 1;
        Err(StoreError::OutOfMemory)
    }

    fn publish(&mut self, ctx: &Ctx<'_>, op: ChangeOp, r: Option<ChunkRef>, key: &[u8]) {
        if !ctx.feed.active() {
            return;
        }
        let Some(sender) = self.feed_tx.as_ref() else { return };
        let now = ctx.now;
        let delivered = match r {
            Some(r) => {
                let raw = RawItem::new(self.mem.chunk(r), self.cas_enabled);
                let with_value = !matches!(op, ChangeOp::Touch);
                ctx.feed.send(sender, |rec| {
                    rec.op = op;
                    rec.set_bytes(raw.key(), if with_value { raw.value() } else { &[] });
                    rec.flags = raw.flags();
                    rec.exptime = raw.exptime();
                    rec.cas = raw.cas();
                    rec.time = now;
                    rec.key_binary = raw.bits() & bits::KEY_BINARY != 0;
                })
            }
            None => ctx.feed.send(sender, |rec| {
                rec.op = op;
                rec.set_bytes(key, &[]);
                rec.flags = 0;
                rec.exptime = 0;
                rec.cas = 0;
                rec.time = now;
                rec.key_binary = false;
            }),
        };
        if !delivered {
            self.feed_tx = None;
        }
    }

    /// set/add/replace/append/prepend/cas and their meta forms (counts `cmd_set`).
    pub fn store(
        &mut self,
        ctx: &Ctx<'_>,
        hash: u64,
        a: &StoreArgs<'_>,
    ) -> Result<SetResult, StoreError> {
        self.c.cmd_set += 1;
        self.store_inner(ctx, hash, a)
    }

    fn store_inner(
        &mut self,
        ctx: &Ctx<'_>,
        hash: u64,
        a: &StoreArgs<'_>,
    ) -> Result<SetResult, StoreError> {
        let not = |outcome| Ok(SetResult { outcome, cas: 0 });
        let found = self.lookup(a.key, hash, ctx);
        let cas_mode = a.compare_cas.is_some() && matches!(a.mode, Mode::Set | Mode::Replace);
        let mut stale = false;
        let mut mode = a.mode;
        let mut exptime = a.exptime;
        if let Some((_, r)) = found {
            let old_cas = self.raw(r).cas();
            if mode == Mode::Add {
                // An add hit bumps the item (memcached do_item_update).
                item::wr_u32(self.mem.chunk_mut(r), OFF_ATIME, ctx.now);
                return not(StoreOutcome::NotStored);
            }
            if let Some(c) = a.compare_cas {
                let class = self.mem.class_of(r);
                if cas_mode {
                    // With -C every item's CAS is 0 and memcached 1.6.18 answers EXISTS to
                    // any cas on an existing item.
                    if c == old_cas && self.cas_enabled {
                        self.c.cas_hits += 1;
                        self.mem.classes[class].counters.cas_hits += 1;
                    } else if a.invalidate && c != 0 && c < old_cas {
                        // memcached's CAS_STALE: a zero CAS is CAS_NONE (EXISTS).
                        self.c.cas_hits += 1;
                        self.mem.classes[class].counters.cas_hits += 1;
                        stale = true;
                    } else {
                        self.c.cas_badval += 1;
                        self.mem.classes[class].counters.cas_badval += 1;
                        return not(StoreOutcome::Exists);
                    }
                } else if matches!(mode, Mode::Append | Mode::Prepend)
                    && self.cas_enabled
                    && c != 0
                    && c != old_cas
                {
                    // memcached compares only a non-zero CAS for append/prepend; with -C the
                    // request's CAS is never kept, so there is nothing to compare.
                    return not(StoreOutcome::Exists);
                }
            }
        } else {
            if cas_mode {
                self.c.cas_misses += 1;
                return not(StoreOutcome::NotFound);
            }
            match mode {
                Mode::Replace => return not(StoreOutcome::NotStored),
                Mode::Append | Mode::Prepend => match a.vivify_on_miss {
                    Some(e) => {
                        mode = Mode::Set;
                        exptime = e;
                    }
                    None => return not(StoreOutcome::NotStored),
                },
                _ => {}
            }
        }
        let concat = matches!(mode, Mode::Append | Mode::Prepend);
        let mut flags = a.flags;
        let mut old_token_sent = false;
        if let Some((_, r)) = found {
            let raw = RawItem::new(self.mem.chunk(r), self.cas_enabled);
            if stale {
                // memcached's CAS_STALE store keeps the old TTL and the win token state.
                exptime = raw.exptime();
                old_token_sent = raw.bits() & bits::TOKEN_SENT != 0;
            }
            if concat {
                flags = raw.flags();
                exptime = raw.exptime();
                self.scratch.clear();
                self.scratch.extend_from_slice(raw.value());
            }
        }
        let vlen = a.value.len() + if concat { self.scratch.len() } else { 0 };
        let total = item_total_len(self.cas_enabled, flags, a.key.len(), vlen);
        let Some(class) = ctx.geo.class_for(total) else {
            self.c.store_too_large += 1;
            if concat {
                return not(StoreOutcome::NotStored);
            }
            if mode == Mode::Set && a.compare_cas.is_none() {
                // memcached unlinks the old item so stale data does not survive a failed set.
                if let Some((slot, r)) = found {
                    self.unlink(slot, r);
                }
            }
            return Err(StoreError::TooLarge);
        };
        let cas = a.explicit_cas.filter(|_| self.cas_enabled).unwrap_or_else(|| self.take_cas());
        // memcached 1.6.18 gives a stale set a new CAS; it marks the win token as handed out
        // only when the old item's was.
        let mut state = if stale { bits::STALE } else { 0 };
        if old_token_sent {
            state |= bits::TOKEN_SENT;
        }
        if a.binary_key {
            state |= bits::KEY_BINARY;
        }
        let in_place = matches!(found, Some((_, old)) if self.mem.class_of(old) == class);
        let r = match found {
            Some((_, old)) if in_place => {
                // Same class: rewrite the chunk in place.
                let old_total = self.raw(old).total_len();
                self.account_remove(old, class, old_total);
                old
            }
            // The old item needs no protection: an append's old value is already in
            // `scratch`, and every other mode replaces it. If allocating evicts or moves it,
            // the lookup below sees that.
            _ => match self.alloc(class, ctx, None) {
                Ok(r) => r,
                Err(e) => {
                    self.c.store_no_memory += 1;
                    if concat {
                        return not(StoreOutcome::NotStored);
                    }
                    if mode == Mode::Set && a.compare_cas.is_none() {
                        if let Some((slot, old)) = self.find_key(a.key, hash) {
                            self.unlink(slot, old);
                        }
                    }
                    return Err(e);
                }
            },
        };
        let (v1, v2) = value_parts(mode, &self.scratch, a.value);
        write_item(
            &mut self.mem,
            self.cas_enabled,
            r,
            a.key,
            v1,
            v2,
            flags,
            exptime,
            ctx.now,
            cas,
            state,
        );
        if !in_place {
            // The old item may have moved or gone while allocating: find it again.
            match self.find_key(a.key, hash) {
                Some((slot, old)) => {
                    let old_total = self.raw(old).total_len();
                    let old_class = self.mem.class_of(old);
                    self.index.update(slot, r);
                    self.account_remove(old, old_class, old_total);
                    self.mem.push_free(old_class, old);
                }
                None => self.index.insert(hash, r),
            }
        }
        self.account_add(r, class, total);
        self.mem.classes[class].counters.cmd_set += 1;
        self.publish(ctx, if stale { ChangeOp::Invalidate } else { a.op }, Some(r), a.key);
        Ok(SetResult { outcome: StoreOutcome::Stored, cas })
    }

    /// Immediate flush: items with a CAS below `horizon` are gone (the store passes the
    /// highest next CAS of all shards, or the one a replicated flush carries); later writes get
    /// a CAS at or above it.
    pub fn flush_now(&mut self, horizon: u64) {
        if self.cas_enabled {
            // Never lower: a replicated flush's horizon can be older than a local one's.
            self.oldest_cas = self.oldest_cas.max(horizon);
            self.next_cas = self.lane_value_at_least(horizon);
        }
    }
}

/// The new value as two pieces: old + new for append, new + old for prepend.
fn value_parts<'a>(mode: Mode, old: &'a [u8], new: &'a [u8]) -> (&'a [u8], &'a [u8]) {
    match mode {
        Mode::Append => (old, new),
        Mode::Prepend => (new, old),
        _ => (new, &[]),
    }
}
