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

use crate::config::Geometry;
use crate::feed::{ChangeOp, ChangeRecord, Feed};
use crate::index::{HashIndex, KeyHasher, Slot};
use crate::item::{
    self, bits, item_total_len, write_header, ItemRef, RawItem, OFF_ATIME, OFF_BITS, OFF_EXPTIME,
    OFF_VLEN,
};
use crate::lru::{advance, CLOCK_SCAN_LIMIT, RECLAIM_SCAN_LIMIT};
use crate::ops::{
    ArithOp, ArithOutcome, CachedumpEntry, DeleteOutcome, ReclaimReport, SetResult, StoreError,
    StoreOutcome, TouchOutcome,
};
use crate::slab::{ChunkRef, PagePool, SlabClass, SlabMemory};

/// Per-call context: the clock, the flush horizon and the shared parts of the store.
pub(crate) struct Ctx<'a> {
    pub now: u32,
    pub oldest_live: u32,
    pub pool: &'a PagePool,
    pub feed: &'a Feed,
    pub geo: &'a Geometry,
}

/// Store-wide counters kept per shard (summed for `stats`).
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct Counters {
    pub curr_items: u64,
    pub total_items: u64,
    pub bytes: u64,
    pub get_hits: u64,
    pub get_misses: u64,
    pub get_expired: u64,
    pub get_flushed: u64,
    pub cmd_get: u64,
    pub cmd_set: u64,
    pub cmd_touch: u64,
    pub delete_hits: u64,
    pub delete_misses: u64,
    pub incr_hits: u64,
    pub incr_misses: u64,
    pub decr_hits: u64,
    pub decr_misses: u64,
    pub cas_hits: u64,
    pub cas_misses: u64,
    pub cas_badval: u64,
    pub touch_hits: u64,
    pub touch_misses: u64,
    pub store_too_large: u64,
    pub store_no_memory: u64,
    pub evictions: u64,
    pub reclaimed: u64,
    pub expired_unfetched: u64,
    pub evicted_unfetched: u64,
    pub crawler_reclaimed: u64,
    pub crawler_items_checked: u64,
    pub slabs_moved: u64,
    pub slab_reassign_rescues: u64,
    pub slab_reassign_evictions: u64,
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
}

/// Options of a read.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct ReadOpts {
    pub touch: Option<u32>,
    pub bump: bool,
    pub meta: bool,
    pub vivify: Option<u32>,
    pub recache_below: Option<u32>,
    pub gat: bool,
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
    pub oldest_cas: u64,
    /// The old value of an append/prepend while the new item is written.
    scratch: Vec<u8>,
    /// Item bytes while an item moves between chunks (page rebalancing).
    move_buf: Vec<u8>,
    crawl_slot: usize,
    crawl_chunk: usize,
    cas_enabled: bool,
    evict: bool,
    hasher: KeyHasher,
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

/// Parses an item value as memcached's `safe_strtoull` does on `<data>\r\n`: optional leading
/// whitespace, an optional sign, decimal digits, then whitespace or the end. No digits, a
/// negative number or an overflow is not numeric.
pub(crate) fn parse_counter(v: &[u8]) -> Option<u64> {
    if v.is_empty() {
        return None;
    }
    let is_space = |b: u8| matches!(b, b' ' | b'\t' | b'\n' | 0x0b | 0x0c | b'\r');
    let mut i = 0;
    while i < v.len() && is_space(v[i]) {
        i += 1;
    }
    let mut neg = false;
    if i < v.len() && (v[i] == b'+' || v[i] == b'-') {
        neg = v[i] == b'-';
        i += 1;
    }
    let start = i;
    let mut n: u64 = 0;
    while i < v.len() && v[i].is_ascii_digit() {
        n = n.checked_mul(10)?.checked_add(u64::from(v[i] - b'0'))?;
        i += 1;
    }
    if i == start {
        // No digits: strtoull leaves endptr at the start and safe_strtoull refuses.
        return None;
    }
    if i < v.len() && !is_space(v[i]) {
        return None;
    }
    let n = if neg { n.wrapping_neg() } else { n };
    if neg && (n as i64) < 0 {
        return None;
    }
    Some(n)
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
            oldest_cas: 0,
            scratch: Vec::new(),
            move_buf: Vec::new(),
            crawl_slot: 0,
            crawl_chunk: 0,
            cas_enabled: geo.cas_enabled,
            evict: geo.evict,
            hasher,
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
        self.c.curr_items += 1;
        self.c.total_items += 1;
        self.c.bytes += total as u64;
        let cl = &mut self.mem.classes[class];
        cl.items += 1;
        cl.requested += total as u64;
    }

    fn account_remove(&mut self, r: ChunkRef, class: usize, total: usize) {
        self.mem.page_live_add(r, -1);
        self.c.curr_items -= 1;
        self.c.bytes -= total as u64;
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
        let cl = &mut self.mem.classes[class].counters;
        self.c.evictions += 1;
        cl.evicted += 1;
        if exp != 0 {
            cl.evicted_nonzero += 1;
        }
        cl.evicted_time = now.saturating_sub(at);
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
        self.mem.classes[class].counters.outofmemory += 1;
        Err(StoreError::OutOfMemory)
    }

    /// Moves a page from the class with the most pages into `class` (evicting only if the
    /// store may evict). Returns whether a page arrived.
    fn steal_page_for(&mut self, class: usize, ctx: &Ctx<'_>, protect: Option<ChunkRef>) -> bool {
        let donor = (0..self.mem.classes.len())
            .filter(|&d| d != class && !self.mem.classes[d].pages.is_empty())
            .max_by_key(|&d| self.mem.classes[d].pages.len());
        let Some(d) = donor else { return false };
        match self.release_page(d, self.evict, ctx, protect) {
            Some((page, _, _)) => {
                self.mem.install_page(class, page);
                self.c.slabs_moved += 1;
                self.mem.classes[class].counters.moves_in += 1;
                true
            }
            None => false,
        }
    }

    /// Empties one page of class `d` (moving its items into free chunks of the class, or
    /// evicting them when allowed) and takes it out of the class.
    /// Returns the page memory with (evicted, rescued) counts.
    pub fn release_page(
        &mut self,
        d: usize,
        allow_evict: bool,
        ctx: &Ctx<'_>,
        protect: Option<ChunkRef>,
    ) -> Option<(Box<[u8]>, u64, u64)> {
        let per_page = self.mem.classes[d].chunks_per_page;
        let protect_page = protect.map(|r| self.mem.split_ref(r).0 as u32);
        let slot = self.mem.classes[d]
            .pages
            .iter()
            .copied()
            .filter(|&p| Some(p) != protect_page)
            .min_by_key(|&p| self.mem.pages[p as usize].as_ref().map_or(0, |s| s.live))?;
        let live = self.mem.pages[slot as usize].as_ref().map_or(0, |s| s.live);
        let free_in_page = per_page - live;
        let free_outside = self.mem.classes[d].free_count - free_in_page;
        if !allow_evict && live > free_outside {
            return None;
        }
        self.mem.detach_free_chunks(d, slot);
        let (mut evicted, mut rescued) = (0u64, 0u64);
        for i in 0..per_page {
            let r = self.mem.make_ref(slot, i);
            let b = self.mem.chunk(r)[OFF_BITS];
            if b & bits::LIVE == 0 {
                continue;
            }
            if self.dead(self.raw(r), ctx).is_some() {
                self.note_reclaim(d, b, false);
                self.drop_item(r, false);
            } else if let Some(dst) = self.mem.pop_free(d) {
                self.relocate(r, dst);
                rescued += 1;
            } else {
                self.note_evict(r, ctx.now);
                self.drop_item(r, false);
                evicted += 1;
            }
        }
        self.c.slab_reassign_rescues += rescued;
        self.c.slab_reassign_evictions += evicted;
        Some((self.mem.uninstall_page(slot), evicted, rescued))
    }

    /// Copies the item at `from` into the free chunk `to` of the same class.
    fn relocate(&mut self, from: ChunkRef, to: ChunkRef) {
        let raw = self.raw(from);
        let total = raw.total_len();
        let hash = self.hasher.hash(raw.key());
        // Not `scratch`: that holds an append's old value while a store allocates.
        self.move_buf.clear();
        self.move_buf.extend_from_slice(&self.mem.chunk(from)[..total]);
        self.mem.chunk_mut(to)[..total].copy_from_slice(&self.move_buf);
        if let Some(slot) = self.index.find_ref(hash, from) {
            self.index.update(slot, to);
        }
        self.mem.page_live_add(to, 1);
        self.mem.page_live_add(from, -1);
        self.mem.chunk_mut(from)[OFF_BITS] = 0;
    }

    fn publish(&self, ctx: &Ctx<'_>, op: ChangeOp, r: Option<ChunkRef>, key: &[u8]) {
        if !ctx.feed.active() {
            return;
        }
        let now = ctx.now;
        match r {
            Some(r) => {
                let raw = self.raw(r);
                let with_value = !matches!(op, ChangeOp::Touch);
                ctx.feed.publish(|version| ChangeRecord {
                    op,
                    key: raw.key().to_vec(),
                    flags: raw.flags(),
                    exptime: raw.exptime(),
                    value: if with_value { raw.value().to_vec() } else { Vec::new() },
                    cas: raw.cas(),
                    version,
                    time: now,
                })
            }
            None => ctx.feed.publish(|version| ChangeRecord {
                op,
                key: key.to_vec(),
                flags: 0,
                exptime: 0,
                value: Vec::new(),
                cas: 0,
                version,
                time: now,
            }),
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
                    if c == old_cas {
                        self.c.cas_hits += 1;
                        self.mem.classes[class].counters.cas_hits += 1;
                    } else if a.invalidate && c < old_cas {
                        self.c.cas_hits += 1;
                        self.mem.classes[class].counters.cas_hits += 1;
                        stale = true;
                    } else {
                        self.c.cas_badval += 1;
                        self.mem.classes[class].counters.cas_badval += 1;
                        return not(StoreOutcome::Exists);
                    }
                } else if matches!(mode, Mode::Append | Mode::Prepend) && c != old_cas {
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
        if let Some((_, r)) = found {
            let raw = RawItem::new(self.mem.chunk(r), self.cas_enabled);
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
        // memcached 1.6.18 gives a stale set a new CAS and marks its win token as handed out.
        let state = if stale { bits::STALE | bits::TOKEN_SENT } else { 0 };
        let r = match found {
            Some((_, old)) if self.mem.class_of(old) == class => {
                // Same class: rewrite the chunk in place.
                let old_total = self.raw(old).total_len();
                self.account_remove(old, class, old_total);
                let (v1, v2) = value_parts(mode, &self.scratch, a.value);
                write_item(
                    &mut self.mem,
                    self.cas_enabled,
                    old,
                    a.key,
                    v1,
                    v2,
                    flags,
                    exptime,
                    ctx.now,
                    cas,
                    state,
                );
                self.account_add(old, class, total);
                old
            }
            _ => {
                let protect = found.map(|(_, r)| r);
                let r = match self.alloc(class, ctx, protect) {
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
                self.account_add(r, class, total);
                r
            }
        };
        self.mem.classes[class].counters.cmd_set += 1;
        self.publish(ctx, if stale { ChangeOp::Invalidate } else { a.op }, Some(r), a.key);
        Ok(SetResult { outcome: StoreOutcome::Stored, cas })
    }

    /// get / gets / gat / gats / mg.
    pub fn read<R>(
        &mut self,
        ctx: &Ctx<'_>,
        key: &[u8],
        hash: u64,
        o: ReadOpts,
        f: impl FnOnce(&ItemRef<'_>) -> R,
    ) -> Option<R> {
        // memcached counts gat/gats as touches only (cmd_touch, touch_hits/misses).
        if o.gat {
            self.c.cmd_touch += 1;
        } else {
            self.c.cmd_get += 1;
        }
        let Some((_, r)) = self.lookup(key, hash, ctx) else {
            if o.gat {
                self.c.touch_misses += 1;
            } else {
                self.c.get_misses += 1;
            }
            let e = o.vivify?;
            // mg N: create an empty item; this client wins the recache.
            let a = StoreArgs {
                key,
                value: &[],
                flags: 0,
                exptime: e,
                mode: Mode::Add,
                compare_cas: None,
                invalidate: false,
                explicit_cas: None,
                vivify_on_miss: None,
                op: ChangeOp::Add,
            };
            self.store_inner(ctx, hash, &a).ok()?;
            let (_, r) = self.find_key(key, hash)?;
            let chunk = self.mem.chunk_mut(r);
            chunk[OFF_BITS] |= bits::TOKEN_SENT;
            let class_id = self.mem.class_of(r) as u32 + 1;
            let mut item = ItemRef::from_raw(self.raw(r), class_id);
            item.win = true;
            item.created = true;
            return Some(f(&item));
        };
        let class = self.mem.class_of(r);
        let raw = self.raw(r);
        let old_bits = raw.bits();
        let mut new_bits = old_bits;
        let mut item = ItemRef::from_raw(raw, class as u32 + 1);
        if o.meta {
            if old_bits & bits::TOKEN_SENT != 0 {
                item.win_already_sent = true;
            } else {
                let recache = o.recache_below.is_some_and(|below| {
                    item.exptime != 0
                        && i64::from(item.exptime) - i64::from(ctx.now) < i64::from(below)
                });
                if item.stale || recache {
                    item.win = true;
                    new_bits |= bits::TOKEN_SENT;
                }
            }
        }
        if let Some(e) = o.touch {
            item.exptime = e;
        }
        let out = f(&item);
        if o.bump {
            new_bits |= bits::FETCHED | bits::REF;
        }
        let chunk = self.mem.chunk_mut(r);
        chunk[OFF_BITS] = new_bits;
        if o.bump {
            item::wr_u32(chunk, OFF_ATIME, ctx.now);
        }
        if let Some(e) = o.touch {
            item::wr_u32(chunk, OFF_EXPTIME, e);
            if o.gat {
                self.c.touch_hits += 1;
                self.mem.classes[class].counters.touch_hits += 1;
            }
            self.publish(ctx, ChangeOp::Touch, Some(r), key);
        }
        if !o.gat {
            self.c.get_hits += 1;
            self.mem.classes[class].counters.get_hits += 1;
        }
        Some(out)
    }

    pub fn touch(&mut self, ctx: &Ctx<'_>, key: &[u8], hash: u64, exptime: u32) -> TouchOutcome {
        self.c.cmd_touch += 1;
        let Some((_, r)) = self.lookup(key, hash, ctx) else {
            self.c.touch_misses += 1;
            return TouchOutcome::NotFound;
        };
        let class = self.mem.class_of(r);
        let chunk = self.mem.chunk_mut(r);
        item::wr_u32(chunk, OFF_EXPTIME, exptime);
        item::wr_u32(chunk, OFF_ATIME, ctx.now);
        chunk[OFF_BITS] |= bits::REF;
        self.c.touch_hits += 1;
        self.mem.classes[class].counters.touch_hits += 1;
        self.publish(ctx, ChangeOp::Touch, Some(r), key);
        TouchOutcome::Touched
    }

    pub fn delete(
        &mut self,
        ctx: &Ctx<'_>,
        key: &[u8],
        hash: u64,
        compare_cas: Option<u64>,
        invalidate: Option<(Option<u32>, Option<u64>)>,
    ) -> DeleteOutcome {
        let Some((slot, r)) = self.lookup(key, hash, ctx) else {
            self.c.delete_misses += 1;
            return DeleteOutcome::NotFound;
        };
        if let Some(c) = compare_cas {
            if c != self.raw(r).cas() {
                return DeleteOutcome::Exists;
            }
        }
        let class = self.mem.class_of(r);
        self.c.delete_hits += 1;
        self.mem.classes[class].counters.delete_hits += 1;
        if let Some((ttl, explicit)) = invalidate {
            let cas = explicit.filter(|_| self.cas_enabled).unwrap_or_else(|| self.take_cas());
            let ce = self.cas_enabled;
            let chunk = self.mem.chunk_mut(r);
            chunk[OFF_BITS] = (chunk[OFF_BITS] | bits::STALE) & !bits::TOKEN_SENT;
            item::set_cas(chunk, ce, cas);
            if let Some(e) = ttl {
                item::wr_u32(chunk, OFF_EXPTIME, e);
            }
            self.publish(ctx, ChangeOp::Invalidate, Some(r), key);
        } else {
            self.unlink(slot, r);
            self.publish(ctx, ChangeOp::Delete, None, key);
        }
        DeleteOutcome::Deleted
    }

    pub fn arith(
        &mut self,
        ctx: &Ctx<'_>,
        key: &[u8],
        hash: u64,
        a: &ArithArgs,
    ) -> Result<ArithOutcome, StoreError> {
        let incr = a.op == ArithOp::Incr;
        let Some((_, r)) = self.lookup(key, hash, ctx) else {
            if incr {
                self.c.incr_misses += 1;
            } else {
                self.c.decr_misses += 1;
            }
            let Some(e) = a.vivify else { return Ok(ArithOutcome::NotFound) };
            let mut buf = [0u8; 20];
            let digits = format_u64(a.initial, &mut buf);
            let args = StoreArgs {
                key,
                value: digits,
                flags: 0,
                exptime: e,
                mode: Mode::Add,
                compare_cas: None,
                invalidate: false,
                explicit_cas: None,
                vivify_on_miss: None,
                op: ChangeOp::Add,
            };
            return match self.store_inner(ctx, hash, &args) {
                Ok(SetResult { outcome: StoreOutcome::Stored, cas }) => {
                    Ok(ArithOutcome::Value { value: a.initial, cas, exptime: e, created: true })
                }
                _ => Ok(ArithOutcome::NotStored),
            };
        };
        let raw = self.raw(r);
        if let Some(c) = a.compare_cas {
            if c != raw.cas() {
                return Ok(ArithOutcome::Exists);
            }
        }
        let Some(old) = parse_counter(raw.value()) else { return Err(StoreError::NonNumeric) };
        let value = if incr { old.wrapping_add(a.delta) } else { old.saturating_sub(a.delta) };
        let exptime = a.new_ttl.unwrap_or_else(|| raw.exptime());
        let flags = raw.flags();
        let old_len = raw.vlen();
        let value_off = raw.value_off();
        let class = self.mem.class_of(r);
        if incr {
            self.c.incr_hits += 1;
            self.mem.classes[class].counters.incr_hits += 1;
        } else {
            self.c.decr_hits += 1;
            self.mem.classes[class].counters.decr_hits += 1;
        }
        let mut buf = [0u8; 20];
        let digits = format_u64(value, &mut buf);
        let op = if incr { ChangeOp::Incr } else { ChangeOp::Decr };
        if digits.len() <= old_len {
            // In place, padded with spaces to the old length (what memcached does).
            let cas = self.take_cas();
            let ce = self.cas_enabled;
            let chunk = self.mem.chunk_mut(r);
            chunk[value_off..value_off + digits.len()].copy_from_slice(digits);
            chunk[value_off + digits.len()..value_off + old_len].fill(b' ');
            item::set_cas(chunk, ce, cas);
            item::wr_u32(chunk, OFF_ATIME, ctx.now);
            item::wr_u32(chunk, OFF_EXPTIME, exptime);
            chunk[OFF_BITS] &= !(bits::STALE | bits::TOKEN_SENT);
            debug_assert_eq!(item::rd_u32(chunk, OFF_VLEN) as usize, old_len);
            self.publish(ctx, op, Some(r), key);
            return Ok(ArithOutcome::Value { value, cas, exptime, created: false });
        }
        let args = StoreArgs {
            key,
            value: digits,
            flags,
            exptime,
            // Replace: a failed allocation keeps the old value (memcached's do_add_delta).
            mode: Mode::Replace,
            compare_cas: None,
            invalidate: false,
            explicit_cas: None,
            vivify_on_miss: None,
            op,
        };
        let res = self.store_inner(ctx, hash, &args)?;
        Ok(ArithOutcome::Value { value, cas: res.cas, exptime, created: false })
    }

    /// Immediate flush: items with a CAS below the current one are gone.
    pub fn flush_now(&mut self) {
        self.oldest_cas = self.peek_cas();
    }

    /// Walks up to `budget` chunks from the crawler cursor, freeing dead items.
    pub fn crawl(&mut self, ctx: &Ctx<'_>, budget: usize) -> ReclaimReport {
        let mut rep = ReclaimReport::default();
        let npages = self.mem.pages.len();
        if npages == 0 {
            return rep;
        }
        let mut steps = 0usize;
        let mut empty_pages = 0usize;
        while steps < budget && empty_pages <= npages {
            if self.crawl_slot >= npages {
                self.crawl_slot = 0;
                self.crawl_chunk = 0;
            }
            let Some(per_page) = self.mem.pages[self.crawl_slot]
                .as_ref()
                .map(|p| self.mem.classes[p.class as usize].chunks_per_page as usize)
            else {
                self.crawl_slot += 1;
                self.crawl_chunk = 0;
                empty_pages += 1;
                continue;
            };
            if self.crawl_chunk >= per_page {
                self.crawl_slot += 1;
                self.crawl_chunk = 0;
                continue;
            }
            let r = self.mem.make_ref(self.crawl_slot as u32, self.crawl_chunk as u32);
            self.crawl_chunk += 1;
            steps += 1;
            let b = self.mem.chunk(r)[OFF_BITS];
            if b & bits::LIVE == 0 {
                continue;
            }
            rep.checked += 1;
            if self.dead(self.raw(r), ctx).is_some() {
                let class = self.mem.class_of(r);
                self.note_reclaim(class, b, true);
                self.drop_item(r, true);
                rep.reclaimed += 1;
            }
        }
        self.c.crawler_items_checked += rep.checked;
        self.index.migrate(budget);
        rep
    }

    /// Age (seconds since last access) of the item next under the CLOCK hand of `class`.
    pub fn tail_age(&self, class: usize, now: u32) -> Option<u32> {
        let cl = &self.mem.classes[class];
        let npages = cl.pages.len();
        if npages == 0 {
            return None;
        }
        let (mut hp, mut hc) = (cl.hand_page, cl.hand_chunk);
        for _ in 0..(npages * cl.chunks_per_page as usize).min(64) {
            let (pp, ci) = advance(&mut hp, &mut hc, npages, cl.chunks_per_page);
            let r = self.mem.make_ref(cl.pages[pp], ci);
            let raw = self.raw(r);
            if raw.is_live() {
                return Some(now.saturating_sub(raw.atime()));
            }
        }
        None
    }

    /// Live items of `class`, for cachedump.
    pub fn dump_class(
        &self,
        ctx: &Ctx<'_>,
        class: usize,
        limit: usize,
        out: &mut Vec<CachedumpEntry>,
    ) {
        let cl = &self.mem.classes[class];
        for &p in &cl.pages {
            for i in 0..cl.chunks_per_page {
                if out.len() >= limit {
                    return;
                }
                let raw = self.raw(self.mem.make_ref(p, i));
                if raw.is_live() && self.dead(raw, ctx).is_none() {
                    out.push(CachedumpEntry {
                        key: raw.key().to_vec(),
                        value_len: raw.vlen() as u32,
                        exptime: raw.exptime(),
                    });
                }
            }
        }
    }

    /// Calls `f` with every live, unexpired item until it returns false; returns false then.
    pub fn visit_live(&self, ctx: &Ctx<'_>, f: &mut impl FnMut(&ItemRef<'_>) -> bool) -> bool {
        for (slot, page) in self.mem.pages.iter().enumerate() {
            let Some(page) = page else { continue };
            let per_page = self.mem.classes[page.class as usize].chunks_per_page;
            for i in 0..per_page {
                let raw = self.raw(self.mem.make_ref(slot as u32, i));
                if raw.is_live()
                    && self.dead(raw, ctx).is_none()
                    && !f(&ItemRef::from_raw(raw, u32::from(page.class) + 1))
                {
                    return false;
                }
            }
        }
        true
    }

    /// Visits every live item (for `stats sizes` and integrity checks).
    pub fn for_each_live(&self, mut f: impl FnMut(ChunkRef, RawItem<'_>)) {
        for (slot, page) in self.mem.pages.iter().enumerate() {
            let Some(page) = page else { continue };
            let per_page = self.mem.classes[page.class as usize].chunks_per_page;
            for i in 0..per_page {
                let r = self.mem.make_ref(slot as u32, i);
                let raw = self.raw(r);
                if raw.is_live() {
                    f(r, raw);
                }
            }
        }
    }

    /// Checks every invariant of this shard; returns the first violation.
    pub fn check_integrity(&self, geo: &Geometry) -> Result<(), String> {
        let mut live = 0u64;
        let mut bytes = 0u64;
        let mut per_class = vec![(0u64, 0u64); self.mem.classes.len()];
        let mut err = None;
        self.for_each_live(|r, raw| {
            live += 1;
            let total = raw.total_len();
            bytes += total as u64;
            let class = self.mem.class_of(r);
            per_class[class].0 += 1;
            per_class[class].1 += total as u64;
            if total > self.mem.classes[class].chunk_size as usize {
                err.get_or_insert(format!("item of {total} bytes in class {class}"));
            }
            if geo.class_for(total) != Some(class) {
                err.get_or_insert(format!("item of {total} bytes not in its smallest class"));
            }
            let hash = self.hasher.hash(raw.key());
            match self.index.find(hash, |c| {
                RawItem::new(self.mem.chunk(c), self.cas_enabled).key() == raw.key()
            }) {
                Some((_, c)) if c == r => {}
                _ => {
                    err.get_or_insert(format!("live item {:?} not indexed", raw.key()));
                }
            }
        });
        if let Some(e) = err {
            return Err(e);
        }
        if live != self.c.curr_items || live != self.index.len() as u64 {
            return Err(format!(
                "live {live} curr_items {} indexed {}",
                self.c.curr_items,
                self.index.len()
            ));
        }
        if bytes != self.c.bytes {
            return Err(format!("bytes {bytes} counted {}", self.c.bytes));
        }
        for (class, cl) in self.mem.classes.iter().enumerate() {
            if (cl.items, cl.requested) != per_class[class] {
                return Err(format!(
                    "class {class} items/requested {:?} counted {:?}",
                    per_class[class],
                    (cl.items, cl.requested)
                ));
            }
            let free = self.mem.walk_free(class)?;
            if free != u64::from(cl.free_count) || free + cl.items != cl.total_chunks() {
                return Err(format!(
                    "class {class}: free list {free}, free_count {}, items {}, chunks {}",
                    cl.free_count,
                    cl.items,
                    cl.total_chunks()
                ));
            }
        }
        for (slot, page) in self.mem.pages.iter().enumerate() {
            let Some(page) = page else { continue };
            let per_page = self.mem.classes[page.class as usize].chunks_per_page;
            let n = (0..per_page)
                .filter(|&i| self.raw(self.mem.make_ref(slot as u32, i)).is_live())
                .count();
            if n as u32 != page.live {
                return Err(format!("page {slot}: {n} live, counted {}", page.live));
            }
        }
        for (_, r) in self.index.entries() {
            if !self.raw(r).is_live() {
                return Err(format!("index points at free chunk {r:?}"));
            }
        }
        Ok(())
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

/// Decimal digits of `v` in `buf`.
pub(crate) fn format_u64(mut v: u64, buf: &mut [u8; 20]) -> &[u8] {
    let mut i = buf.len();
    loop {
        i -= 1;
        buf[i] = b'0' + (v % 10) as u8;
        v /= 10;
        if v == 0 {
            break;
        }
    }
    &buf[i..]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counter_parsing_follows_safe_strtoull() {
        assert_eq!(parse_counter(b"42"), Some(42));
        assert_eq!(parse_counter(b"  42"), Some(42));
        assert_eq!(parse_counter(b"5 "), Some(5));
        assert_eq!(parse_counter(b"+7"), Some(7));
        assert_eq!(parse_counter(b"18446744073709551615"), Some(u64::MAX));
        assert_eq!(parse_counter(b"18446744073709551616"), None);
        assert_eq!(parse_counter(b"-5"), None);
        assert_eq!(parse_counter(b"-0"), Some(0));
        assert_eq!(parse_counter(b"12abc"), None);
        assert_eq!(parse_counter(b"abc"), None);
        assert_eq!(parse_counter(b""), None);
        assert_eq!(parse_counter(b"  "), None);
    }

    #[test]
    fn formats_numbers() {
        let mut b = [0u8; 20];
        assert_eq!(format_u64(0, &mut b), b"0");
        assert_eq!(format_u64(u64::MAX, &mut b), b"18446744073709551615");
    }
}
