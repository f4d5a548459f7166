//! [`Store`]: the public face. Picks the shard by key hash, converts protocol exptimes, keeps
//! the flush horizon, and runs the maintenance work (reclaimer, automove, reassign). What a
//! replication link needs (feed, applying a peer's records, the walk) is in `store/replication.rs`.
//!
//! ```text
//!   Arc<Store> shared by worker threads
//!     ├─ shards[hash >> (64 - shard_bits)] : Mutex<Shard>   (index + classes + counters)
//!     ├─ pool: PagePool                    : Mutex, only for whole-page grabs/returns
//!     ├─ oldest_live: AtomicU32            : flush_all horizon (read on every access)
//!     ├─ peer_flush_second: AtomicU32      : -C only, the newest flush second a peer applied
//!     └─ feed: Feed                        : change records for replication
//! ```

use std::sync::atomic::{AtomicU32, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Mutex, MutexGuard};

use crate::config::{ConfigError, Geometry, StoreConfig};
use crate::feed::{ChangeOp, Feed};
use crate::index::KeyHasher;
use crate::item::{ItemRef, KEY_MAX_LEN};
use crate::ops::*;
use crate::shard::{ArithArgs, Counters, Ctx, Mode, ReadOpts, Shard, StoreArgs};
use crate::slab::{ClassCounters, PagePool};
use crate::stats::*;

mod replication;

/// The store's numbers summed over the shards, for `stats`.
#[derive(Debug, Default)]
struct StoreTotals {
    counters: Counters,
    curr_items: u64,
    bytes: u64,
    hash_bytes: u64,
    hash_power: u64,
    hash_expanding: bool,
}

/// One slab class summed over the shards (see `Store::class_totals`).
#[derive(Debug, Default, Clone, Copy)]
struct ClassTotals {
    pages: u64,
    chunks: u64,
    items: u64,
    free_chunks: u64,
    requested: u64,
    /// The oldest tail age of the class in any shard.
    age: u32,
    evicted_time: u32,
    counters: ClassCounters,
}

/// A cache line of padding around each shard lock so two shards never share a line.
#[repr(align(128))]
#[derive(Debug)]
struct Padded<T>(T);

/// Where a walk of [`Store::visit_items`] stands.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct ItemCursor {
    shard: usize,
    slot: u32,
    chunk: u32,
}

/// The item store: slab memory under one `-m` bound, sharded index, CLOCK eviction, lazy expiry.
#[derive(Debug)]
pub struct Store {
    config: StoreConfig,
    memory_limit: AtomicU64,
    geo: Geometry,
    shards: Box<[Padded<Mutex<Shard>>]>,
    shard_shift: u32,
    pool: PagePool,
    hasher: KeyHasher,
    oldest_live: AtomicU32,
    /// `-C` only: the newest flush second a replication peer applied here.
    peer_flush_second: AtomicU32,
    cmd_flush: AtomicU64,
    feed: Feed,
    crawl_next: AtomicUsize,
    /// Walks that asked for no page moves (see [`Store::pause_page_moves`]).
    page_moves_paused: AtomicU32,
}

fn random_seed() -> u64 {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u64(0x6d65_6d63_6163_6865);
    h.finish()
}

impl Store {
    /// Builds a store; memory pages are allocated lazily, up to the limit.
    pub fn new(config: StoreConfig) -> Result<Store, ConfigError> {
        Self::with_seed(config, random_seed())
    }

    /// Like [`Store::new`] with a fixed hash seed (reproducible tests).
    pub fn with_seed(config: StoreConfig, seed: u64) -> Result<Store, ConfigError> {
        let geo = Geometry::new(&config)?;
        let hasher = KeyHasher::new(seed);
        let shards =
            (0..geo.shards).map(|i| Padded(Mutex::new(Shard::new(&geo, i, hasher)))).collect();
        let shard_shift = 64 - geo.shards.trailing_zeros();
        Ok(Store {
            pool: PagePool::new(geo.page_size, geo.total_pages),
            memory_limit: AtomicU64::new(config.memory_limit_bytes),
            config,
            geo,
            shards,
            shard_shift,
            hasher,
            oldest_live: AtomicU32::new(0),
            peer_flush_second: AtomicU32::new(0),
            cmd_flush: AtomicU64::new(0),
            feed: Feed::new(),
            crawl_next: AtomicUsize::new(0),
            page_moves_paused: AtomicU32::new(0),
        })
    }

    /// The configuration the store was built with.
    pub fn config(&self) -> &StoreConfig {
        &self.config
    }

    /// Chunk size and chunks per page of every slab class (index 0 = class id 1).
    pub fn classes(&self) -> Vec<crate::config::ClassGeometry> {
        self.geo.classes.clone()
    }

    /// The current memory limit in bytes (`-m`, or the last [`Store::set_memory_limit`]).
    pub fn memory_limit(&self) -> u64 {
        self.memory_limit.load(Ordering::Relaxed)
    }

    /// `cache_memlimit`: changes the memory limit at run time. Raising it takes effect at once;
    /// lowering it frees unused pages now and shrinks the rest one page per shard per
    /// [`Store::automove_tick`] (evicting the oldest items), as memcached does lazily.
    pub fn set_memory_limit(&self, bytes: u64) -> Result<(), ConfigError> {
        let pages = (bytes / self.geo.page_size as u64) as usize;
        if pages == 0 {
            return Err(ConfigError::MemoryTooSmall);
        }
        if (pages as u64) >= (1u64 << (32 - self.geo.chunk_bits)) - 1 {
            return Err(ConfigError::MemoryTooLarge);
        }
        self.memory_limit.store(bytes, Ordering::Relaxed);
        self.pool.set_max_pages(pages);
        Ok(())
    }

    /// Calls `f` for every live item, one shard locked at a time, with no side effects on the
    /// items (for `lru_crawler metadump` and similar admin dumps). Stops when `f` returns false.
    pub fn for_each_item(&self, now: u32, mut f: impl FnMut(&ItemRef<'_>) -> bool) {
        let ctx = self.ctx(now);
        for i in 0..self.shards.len() {
            if !self.lock(i).visit_live(&ctx, &mut f) {
                return;
            }
        }
    }

    /// The slab page size actually used.
    pub fn page_size(&self) -> usize {
        self.geo.page_size
    }

    /// Number of shards (independent locks).
    pub fn shard_count(&self) -> usize {
        self.shards.len()
    }

    /// Which shard (lock) a key lives in.
    pub fn shard_of(&self, key: &[u8]) -> usize {
        self.shard_index(self.hasher.hash(key))
    }

    #[inline]
    fn shard_index(&self, hash: u64) -> usize {
        if self.shards.len() == 1 {
            0
        } else {
            (hash >> self.shard_shift) as usize
        }
    }

    #[inline]
    fn shard(&self, hash: u64) -> MutexGuard<'_, Shard> {
        self.shards[self.shard_index(hash)].0.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn lock(&self, i: usize) -> MutexGuard<'_, Shard> {
        self.shards[i].0.lock().unwrap_or_else(|e| e.into_inner())
    }

    #[inline]
    fn ctx(&self, now: u32) -> Ctx<'_> {
        Ctx {
            now,
            oldest_live: self.flush_horizon(now),
            pool: &self.pool,
            feed: &self.feed,
            geo: &self.geo,
            store: Some(self),
        }
    }

    /// A page taken from another shard, for shard `own` whose classes have no page to spare
    /// and the pool is empty. Shards above `own` are waited for, shards below only asked
    /// (`try_lock`): every wait goes to a higher shard, so two shards stealing at once can
    /// never deadlock (no other path holds two shard locks).
    pub(crate) fn steal_foreign_page(&self, own: usize, ctx: &Ctx<'_>) -> Option<Box<[u8]>> {
        let ctx = Ctx { store: None, ..*ctx };
        for (i, padded) in self.shards.iter().enumerate() {
            let mut shard = match padded.0.try_lock() {
                Ok(guard) => guard,
                Err(std::sync::TryLockError::Poisoned(e)) => e.into_inner(),
                Err(std::sync::TryLockError::WouldBlock) if i > own => self.lock(i),
                Err(std::sync::TryLockError::WouldBlock) => continue,
            };
            if let Some(page) = shard.give_up_page(None, &ctx, None) {
                return Some(page);
            }
        }
        None
    }

    #[inline]
    fn key_ok(key: &[u8]) -> bool {
        !key.is_empty() && key.len() <= KEY_MAX_LEN
    }

    fn read<R>(
        &self,
        key: &[u8],
        now: u32,
        o: ReadOpts,
        f: impl FnOnce(&ItemRef<'_>) -> R,
    ) -> Option<R> {
        if !Self::key_ok(key) {
            return None;
        }
        let hash = self.hasher.hash(key);
        let ctx = self.ctx(now);
        self.shard(hash).read(&ctx, key, hash, o, f)
    }

    /// `get`/`gets`: calls `f` with the live item (inside the shard lock: copy what you need,
    /// don't block) and returns its result; `None` on a miss. Bumps the item (access time,
    /// fetched flag, CLOCK reference bit).
    pub fn get<R>(&self, key: &[u8], now: u32, f: impl FnOnce(&ItemRef<'_>) -> R) -> Option<R> {
        self.read(key, now, ReadOpts { bump: true, ..Default::default() }, f)
    }

    /// Reads an item without any side effect on it (no bump, no fetched flag) and without
    /// counting a get (for `me` and admin dumps; an expired item is still unlinked).
    pub fn peek<R>(&self, key: &[u8], now: u32, f: impl FnOnce(&ItemRef<'_>) -> R) -> Option<R> {
        self.read(key, now, ReadOpts { uncounted: true, ..Default::default() }, f)
    }

    /// `gat`/`gats`: get and set a new exptime (protocol value).
    pub fn gat<R>(
        &self,
        key: &[u8],
        exptime: i64,
        now: u32,
        f: impl FnOnce(&ItemRef<'_>) -> R,
    ) -> Option<R> {
        let touch = Some(absolute_exptime(exptime, now));
        self.read(key, now, ReadOpts { bump: true, touch, gat: true, ..Default::default() }, f)
    }

    /// `mg`: get with meta options (`T`, `u`, `N`, `R`); the [`ItemRef`] carries the win/stale
    /// flags (`W`, `X`, `Z`) and whether `N` created the item.
    pub fn meta_get<R>(
        &self,
        key: &[u8],
        opts: &MetaGet,
        now: u32,
        f: impl FnOnce(&ItemRef<'_>) -> R,
    ) -> Option<R> {
        self.meta_get_keyed(key, KeyForm::Text, opts, now, f)
    }

    /// [`Store::meta_get`] for a request that carried `b`: an item created by `N` remembers
    /// that its key is binary ([`ItemRef::key_is_binary`]).
    pub fn meta_get_keyed<R>(
        &self,
        key: &[u8],
        form: KeyForm,
        opts: &MetaGet,
        now: u32,
        f: impl FnOnce(&ItemRef<'_>) -> R,
    ) -> Option<R> {
        let details = MetaGetDetails { key_form: form, ..MetaGetDetails::default() };
        self.meta_get_detailed(key, opts, &details, now, f)
    }

    /// [`Store::meta_get`] with the request details memcached 1.6.18 is sensitive to: the key
    /// form (`b`) and the order of `T`, `N` and `R` ([`MetaGetDetails`]).
    pub fn meta_get_detailed<R>(
        &self,
        key: &[u8],
        opts: &MetaGet,
        details: &MetaGetDetails,
        now: u32,
        f: impl FnOnce(&ItemRef<'_>) -> R,
    ) -> Option<R> {
        let o = ReadOpts {
            touch: opts.touch.map(|e| absolute_exptime(e, now)),
            bump: !opts.no_bump,
            meta: true,
            vivify: opts.vivify.map(|e| absolute_exptime(e, now)),
            recache_below: opts.recache_below,
            gat: false,
            withhold_win: details.withhold_win,
            uncounted: false,
            binary_key: details.key_form == KeyForm::Binary,
            order: details.order,
        };
        self.read(key, now, o, f)
    }

    /// The classic storage commands. `exptime` is the protocol value (see [`absolute_exptime`]).
    pub fn set(
        &self,
        key: &[u8],
        value: &[u8],
        flags: u32,
        exptime: i64,
        now: u32,
        mode: SetMode,
    ) -> Result<SetResult, StoreError> {
        let (m, compare_cas, op) = match mode {
            SetMode::Set => (Mode::Set, None, ChangeOp::Set),
            SetMode::Add => (Mode::Add, None, ChangeOp::Add),
            SetMode::Replace => (Mode::Replace, None, ChangeOp::Replace),
            SetMode::Append => (Mode::Append, None, ChangeOp::Append),
            SetMode::Prepend => (Mode::Prepend, None, ChangeOp::Prepend),
            SetMode::Cas(c) => (Mode::Set, Some(c), ChangeOp::Cas),
        };
        let a = StoreArgs {
            key,
            value,
            flags,
            exptime: absolute_exptime(exptime, now),
            mode: m,
            compare_cas,
            invalidate: false,
            explicit_cas: None,
            vivify_on_miss: None,
            op,
            binary_key: false,
        };
        self.store(&a, now)
    }

    fn store(&self, a: &StoreArgs<'_>, now: u32) -> Result<SetResult, StoreError> {
        if !Self::key_ok(a.key) {
            return Err(StoreError::BadKey);
        }
        let hash = self.hasher.hash(a.key);
        let ctx = self.ctx(now);
        self.shard(hash).store(&ctx, hash, a)
    }

    /// `ms`: meta set with mode, CAS compare, invalidate and explicit CAS.
    pub fn meta_set(
        &self,
        key: &[u8],
        value: &[u8],
        flags: u32,
        exptime: i64,
        now: u32,
        opts: &MetaSet,
    ) -> Result<SetResult, StoreError> {
        self.meta_set_keyed(key, KeyForm::Text, value, flags, exptime, now, opts)
    }

    /// [`Store::meta_set`] for a request that carried `b`: the item remembers that its key is
    /// binary ([`ItemRef::key_is_binary`]); memcached then returns it base64-encoded.
    #[allow(clippy::too_many_arguments)]
    pub fn meta_set_keyed(
        &self,
        key: &[u8],
        form: KeyForm,
        value: &[u8],
        flags: u32,
        exptime: i64,
        now: u32,
        opts: &MetaSet,
    ) -> Result<SetResult, StoreError> {
        let (mode, op) = match opts.mode {
            MetaSetMode::Set => {
                (Mode::Set, if opts.compare_cas.is_some() { ChangeOp::Cas } else { ChangeOp::Set })
            }
            MetaSetMode::Add => (Mode::Add, ChangeOp::Add),
            MetaSetMode::Replace => (Mode::Replace, ChangeOp::Replace),
            MetaSetMode::Append => (Mode::Append, ChangeOp::Append),
            MetaSetMode::Prepend => (Mode::Prepend, ChangeOp::Prepend),
        };
        let a = StoreArgs {
            key,
            value,
            flags,
            exptime: absolute_exptime(exptime, now),
            mode,
            compare_cas: opts.compare_cas,
            invalidate: opts.invalidate,
            explicit_cas: opts.explicit_cas,
            vivify_on_miss: opts.vivify_on_miss.map(|e| absolute_exptime(e, now)),
            op,
            binary_key: form == KeyForm::Binary,
        };
        self.store(&a, now)
    }

    /// `delete`.
    pub fn delete(&self, key: &[u8], now: u32) -> DeleteOutcome {
        self.meta_delete(key, now, &MetaDelete::default())
    }

    /// `md`: delete with CAS compare, or invalidate (mark stale, new CAS, optional TTL).
    pub fn meta_delete(&self, key: &[u8], now: u32, opts: &MetaDelete) -> DeleteOutcome {
        if !Self::key_ok(key) {
            return DeleteOutcome::NotFound;
        }
        let hash = self.hasher.hash(key);
        let ctx = self.ctx(now);
        let inval = opts
            .invalidate
            .then(|| (opts.new_ttl.map(|e| absolute_exptime(e, now)), opts.explicit_cas));
        self.shard(hash).delete(&ctx, key, hash, opts.compare_cas, inval)
    }

    /// `touch`: set a new exptime (protocol value).
    pub fn touch(&self, key: &[u8], exptime: i64, now: u32) -> TouchOutcome {
        if !Self::key_ok(key) {
            return TouchOutcome::NotFound;
        }
        let hash = self.hasher.hash(key);
        let ctx = self.ctx(now);
        self.shard(hash).touch(&ctx, key, hash, absolute_exptime(exptime, now))
    }

    /// `incr`/`decr`: 64-bit unsigned; incr wraps, decr stops at 0. A shorter result is
    /// written in place padded with spaces (as memcached does); a longer one makes a new item.
    pub fn incr_decr(
        &self,
        key: &[u8],
        delta: u64,
        op: ArithOp,
        now: u32,
    ) -> Result<ArithOutcome, StoreError> {
        let a = MetaArith { op, delta, ..Default::default() };
        self.meta_arith(key, &a, now)
    }

    /// `ma`: arithmetic with CAS compare, autovivify (`N`, `J`) and TTL update (`T`).
    pub fn meta_arith(
        &self,
        key: &[u8],
        opts: &MetaArith,
        now: u32,
    ) -> Result<ArithOutcome, StoreError> {
        self.meta_arith_keyed(key, KeyForm::Text, opts, now)
    }

    /// [`Store::meta_arith`] for a request that carried `b`: an item created by `N` remembers
    /// that its key is binary.
    pub fn meta_arith_keyed(
        &self,
        key: &[u8],
        form: KeyForm,
        opts: &MetaArith,
        now: u32,
    ) -> Result<ArithOutcome, StoreError> {
        if !Self::key_ok(key) {
            return Err(StoreError::BadKey);
        }
        let hash = self.hasher.hash(key);
        let ctx = self.ctx(now);
        let a = ArithArgs {
            op: opts.op,
            delta: opts.delta,
            compare_cas: opts.compare_cas,
            vivify: opts.vivify.map(|e| absolute_exptime(e, now)),
            initial: opts.initial,
            new_ttl: opts.new_ttl.map(|e| absolute_exptime(e, now)),
            held_by_reply: opts.held_by_reply,
            binary_key: form == KeyForm::Binary,
        };
        self.shard(hash).arith(&ctx, key, hash, &a)
    }

    /// `flush_all [delay]`: every item stored before the flush moment (now + delay, same exptime
    /// rules) becomes invisible; memory is reclaimed lazily.
    pub fn flush_all(&self, delay: i64, now: u32) {
        self.cmd_flush.fetch_add(1, Ordering::Relaxed);
        let at = if delay > 0 { absolute_exptime(delay, now) } else { now };
        let horizon = if self.geo.cas_enabled { at.saturating_sub(1) } else { at };
        self.oldest_live.store(horizon.max(1), Ordering::Relaxed);
        let publish = |horizon_cas: u64| {
            if self.feed.active() {
                self.feed.publish(|rec| {
                    rec.op = ChangeOp::FlushAll;
                    rec.set_bytes(&[], &[]);
                    rec.flags = 0;
                    rec.exptime = if at <= now { 0 } else { at };
                    rec.cas = horizon_cas;
                    rec.time = now;
                    rec.key_binary = false;
                });
            }
        };
        if at <= now {
            // Published while every shard is locked: the writes the flush hides come before
            // its record in the feed and the ones it keeps come after, as a peer applies them.
            self.flush_now(None, publish);
        } else {
            publish(0);
        }
    }

    /// Flushes every shard now: items with a CAS below the horizon are gone. The horizon is
    /// `given` (a replicated flush's) or the highest next CAS of all shards. Every shard is
    /// locked (in ascending order, as page borrowing waits for higher shards
    /// only) while the horizon is set and `then(horizon)` runs.
    fn flush_now(&self, given: Option<u64>, then: impl FnOnce(u64)) {
        let mut shards: Vec<MutexGuard<'_, Shard>> =
            (0..self.shards.len()).map(|i| self.lock(i)).collect();
        let horizon =
            given.unwrap_or_else(|| shards.iter().map(|s| s.peek_cas()).max().unwrap_or(0));
        for shard in &mut shards {
            shard.flush_now(horizon);
        }
        then(horizon);
    }

    /// The time horizon of flushes: items last written or accessed at or before it are gone
    /// once it is due. The local one (`flush_all`, possibly delayed) or, when it is due and
    /// newer, the latest a replication peer's flush set (`-C` only).
    #[inline]
    fn flush_horizon(&self, now: u32) -> u32 {
        let local = self.oldest_live.load(Ordering::Relaxed);
        let peer = self.peer_flush_second.load(Ordering::Relaxed);
        if peer == 0 || peer > now {
            local
        } else if local > now {
            peer
        } else {
            local.max(peer)
        }
    }

    /// Frees expired and flushed items, looking at no more than `budget` chunks in total
    /// (memcached's LRU crawler, bounded). Call it periodically from a maintenance thread.
    pub fn reclaim_expired(&self, now: u32, budget: usize) -> ReclaimReport {
        let n = self.shards.len();
        let per = budget.div_ceil(n).max(1);
        let start = self.crawl_next.fetch_add(1, Ordering::Relaxed);
        let ctx = self.ctx(now);
        let mut total = ReclaimReport::default();
        for k in 0..n {
            let r = self.lock((start + k) % n).crawl(&ctx, per);
            total.checked += r.checked;
            total.reclaimed += r.reclaimed;
        }
        total
    }

    /// `slabs reassign <src> <dst>`: moves one page from class `src` (-1 = any other class) to
    /// class `dst`, evicting what cannot be moved to free chunks of `src`.
    pub fn slabs_reassign(&self, src: i32, dst: u32, now: u32) -> Result<PageMove, ReassignError> {
        let nclasses = self.geo.classes.len() as u32;
        if dst == 0 || dst > nclasses || src == 0 || src < -1 || src > nclasses as i32 {
            return Err(ReassignError::BadClass);
        }
        if src == dst as i32 {
            return Err(ReassignError::Same);
        }
        let d = dst as usize - 1;
        let pages_of = |c: usize| -> Vec<usize> {
            (0..self.shards.len()).map(|i| self.lock(i).mem.classes[c].pages.len()).collect()
        };
        let s = if src == -1 {
            // Any class but dst: the one with the most pages.
            (0..nclasses as usize)
                .filter(|&c| c != d)
                .max_by_key(|&c| pages_of(c).iter().sum::<usize>())
                .ok_or(ReassignError::NoSpare)?
        } else {
            src as usize - 1
        };
        let per_shard = pages_of(s);
        if per_shard.iter().sum::<usize>() < 2 {
            return Err(ReassignError::NoSpare);
        }
        let (shard_idx, _) =
            per_shard.iter().enumerate().max_by_key(|(_, n)| **n).ok_or(ReassignError::NoSpare)?;
        let ctx = self.ctx(now);
        let mut shard = self.lock(shard_idx);
        if self.page_moves_paused() {
            return Err(ReassignError::Busy);
        }
        let (page, evicted, rescued) =
            shard.release_page(s, true, &ctx, None).ok_or(ReassignError::NoSpare)?;
        shard.mem.install_page(d, page);
        shard.c.slabs_moved += 1;
        shard.mem.classes[d].counters.moves_in += 1;
        Ok(PageMove { src: s as u32 + 1, dst, evicted, rescued })
    }

    fn page_moves_paused(&self) -> bool {
        self.page_moves_paused.load(Ordering::SeqCst) > 0
    }

    /// One automove decision round (call about once a second when `slab_automove` is on).
    ///
    /// In every shard: a class with more than two pages of free chunks gives a page back to the
    /// global pool (its items are moved, never evicted); then the class with the most evictions
    /// since the last tick takes a page from the class whose next eviction candidate is the
    /// oldest, if that one is at least twice as old (`aggressive`: any older class; memcached's
    /// `slab_automove=2`).
    pub fn automove_tick(&self, now: u32, aggressive: bool) -> Vec<PageMove> {
        let ctx = self.ctx(now);
        let mut moves = Vec::new();
        for i in 0..self.shards.len() {
            let mut shard = self.lock(i);
            if self.page_moves_paused() {
                // Asked under the shard lock: a walk that paused moves sees this shard either
                // before this round's moves in it or after them, never in between.
                break;
            }
            let n = shard.mem.classes.len();
            // 0. Over a lowered limit: give the page of the oldest class back (it is freed).
            if self.pool.over_limit() > 0 {
                let oldest = (0..n)
                    .filter(|&c| !shard.mem.classes[c].pages.is_empty())
                    .max_by_key(|&c| shard.tail_age(c, now).unwrap_or(u32::MAX));
                if let Some(c) = oldest {
                    if let Some((page, evicted, rescued)) = shard.release_page(c, true, &ctx, None)
                    {
                        self.pool.give_back(page);
                        moves.push(PageMove { src: c as u32 + 1, dst: 0, evicted, rescued });
                    }
                }
            }
            // 1. Surplus free chunks go back to the pool.
            for c in 0..n {
                let cl = &shard.mem.classes[c];
                if cl.pages.len() >= 2
                    && u64::from(cl.free_count) > 2 * u64::from(cl.chunks_per_page)
                {
                    if let Some((page, evicted, rescued)) = shard.release_page(c, false, &ctx, None)
                    {
                        self.pool.give_back(page);
                        shard.c.slabs_moved += 1;
                        moves.push(PageMove { src: c as u32 + 1, dst: 0, evicted, rescued });
                    }
                }
            }
            // 2. Evictions pull a page from the class holding the oldest items.
            let needy = (0..n)
                .map(|c| {
                    (
                        c,
                        shard.mem.classes[c].counters.evicted
                            - shard.mem.classes[c].evicted_at_tick,
                    )
                })
                .filter(|&(_, e)| e > 0)
                .max_by_key(|&(_, e)| e);
            for c in 0..n {
                let e = shard.mem.classes[c].counters.evicted;
                shard.mem.classes[c].evicted_at_tick = e;
            }
            let Some((needy, _)) = needy else { continue };
            let needy_age = shard.tail_age(needy, now).unwrap_or(0);
            let donor = (0..n)
                .filter(|&c| c != needy && shard.mem.classes[c].pages.len() >= 2)
                .filter_map(|c| shard.tail_age(c, now).map(|age| (c, age)))
                .max_by_key(|&(_, age)| age);
            let Some((donor, donor_age)) = donor else { continue };
            let older = if aggressive {
                donor_age > needy_age
            } else {
                donor_age > needy_age.saturating_mul(2).max(needy_age + 1)
            };
            if !older {
                continue;
            }
            if let Some((page, evicted, rescued)) = shard.release_page(donor, true, &ctx, None) {
                shard.mem.install_page(needy, page);
                shard.c.slabs_moved += 1;
                shard.mem.classes[needy].counters.moves_in += 1;
                moves.push(PageMove {
                    src: donor as u32 + 1,
                    dst: needy as u32 + 1,
                    evicted,
                    rescued,
                });
            }
        }
        moves
    }

    fn sum_counters(&self) -> StoreTotals {
        let mut t = StoreTotals::default();
        for i in 0..self.shards.len() {
            let s = self.lock(i);
            t.counters.add(&s.c);
            for cl in &s.mem.classes {
                t.curr_items += cl.items;
                t.bytes += cl.requested;
            }
            t.hash_bytes += s.index.bytes() as u64;
            t.hash_power = t.hash_power.max(u64::from(s.index.power()));
            t.hash_expanding |= s.index.is_expanding();
        }
        t
    }

    /// General statistics (`stats`).
    pub fn stats(&self) -> StoreStats {
        let t = self.sum_counters();
        let c = &t.counters;
        StoreStats {
            curr_items: t.curr_items,
            total_items: c.total_items,
            bytes: t.bytes,
            evictions: c.evictions,
            reclaimed: c.reclaimed,
            expired_unfetched: c.expired_unfetched,
            evicted_unfetched: c.evicted_unfetched,
            evicted_active: 0,
            get_hits: c.get_hits,
            get_misses: c.get_misses,
            get_expired: c.get_expired,
            get_flushed: c.get_flushed,
            cmd_get: c.cmd_get,
            cmd_set: c.cmd_set,
            cmd_touch: c.cmd_touch,
            cmd_flush: self.cmd_flush.load(Ordering::Relaxed),
            delete_hits: c.delete_hits,
            delete_misses: c.delete_misses,
            incr_hits: c.incr_hits,
            incr_misses: c.incr_misses,
            decr_hits: c.decr_hits,
            decr_misses: c.decr_misses,
            cas_hits: c.cas_hits,
            cas_misses: c.cas_misses,
            cas_badval: c.cas_badval,
            touch_hits: c.touch_hits,
            touch_misses: c.touch_misses,
            store_too_large: c.store_too_large,
            store_no_memory: c.store_no_memory,
            limit_maxbytes: self.memory_limit(),
            total_malloced: self.pool.malloced_bytes(),
            hash_power_level: t.hash_power,
            hash_bytes: t.hash_bytes,
            hash_is_expanding: u64::from(t.hash_expanding),
            slab_reassign_rescues: c.slab_reassign_rescues,
            slab_reassign_evictions_nomem: c.slab_reassign_evictions,
            slab_global_page_pool: self.pool.free_pages() as u64,
            slabs_moved: c.slabs_moved,
            crawler_reclaimed: c.crawler_reclaimed,
            crawler_items_checked: c.crawler_items_checked,
        }
    }

    /// `stats reset`: zero the counters (items, bytes and memory stay).
    pub fn reset_stats(&self) {
        self.cmd_flush.store(0, Ordering::Relaxed);
        for i in 0..self.shards.len() {
            let mut s = self.lock(i);
            s.c = Counters::default();
            for cl in &mut s.mem.classes {
                cl.counters = Default::default();
                cl.evicted_time = 0;
                cl.evicted_at_tick = 0;
            }
        }
    }

    /// Every class's numbers summed over the shards (one shard locked at a time), for
    /// `stats slabs` and `stats items` (the tail ages only with `age_at`, for `stats items`).
    fn class_totals(&self, age_at: Option<u32>) -> Vec<ClassTotals> {
        let mut totals = vec![ClassTotals::default(); self.geo.classes.len()];
        for i in 0..self.shards.len() {
            let s = self.lock(i);
            for (k, cl) in s.mem.classes.iter().enumerate() {
                let t = &mut totals[k];
                t.pages += cl.pages.len() as u64;
                t.chunks += cl.total_chunks();
                t.items += cl.items;
                t.free_chunks += u64::from(cl.free_count);
                t.requested += cl.requested;
                if let Some(now) = age_at {
                    t.age = t.age.max(s.tail_age(k, now).unwrap_or(0));
                }
                t.evicted_time = t.evicted_time.max(cl.evicted_time);
                t.counters.add(&cl.counters);
            }
        }
        totals
    }

    /// `stats slabs`.
    pub fn slab_stats(&self) -> SlabStats {
        let classes: Vec<SlabClassStats> = self
            .class_totals(None)
            .iter()
            .zip(&self.geo.classes)
            .enumerate()
            .filter(|(_, (t, _))| t.pages > 0)
            .map(|(i, (t, g))| SlabClassStats {
                id: i as u32 + 1,
                chunk_size: u64::from(g.chunk_size),
                chunks_per_page: u64::from(g.chunks_per_page),
                total_pages: t.pages,
                total_chunks: t.chunks,
                used_chunks: t.items,
                free_chunks: t.free_chunks,
                free_chunks_end: 0,
                mem_requested: t.requested,
                get_hits: t.counters.get_hits,
                cmd_set: t.counters.cmd_set,
                delete_hits: t.counters.delete_hits,
                incr_hits: t.counters.incr_hits,
                decr_hits: t.counters.decr_hits,
                cas_hits: t.counters.cas_hits,
                cas_badval: t.counters.cas_badval,
                touch_hits: t.counters.touch_hits,
            })
            .collect();
        SlabStats {
            active_slabs: classes.len() as u64,
            classes,
            total_malloced: self.pool.malloced_bytes(),
        }
    }

    /// `stats items`.
    pub fn item_stats(&self, now: u32) -> ItemStats {
        let classes = self
            .class_totals(Some(now))
            .iter()
            .enumerate()
            .filter(|(_, t)| t.items > 0)
            .map(|(i, t)| ItemClassStats {
                id: i as u32 + 1,
                number: t.items,
                age: u64::from(t.age),
                mem_requested: t.requested,
                evicted: t.counters.evicted,
                evicted_nonzero: t.counters.evicted_nonzero,
                evicted_time: u64::from(t.evicted_time),
                outofmemory: t.counters.outofmemory,
                reclaimed: t.counters.reclaimed,
                expired_unfetched: t.counters.expired_unfetched,
                evicted_unfetched: t.counters.evicted_unfetched,
                evicted_active: 0,
                crawler_reclaimed: t.counters.crawler_reclaimed,
                moves_to_class: t.counters.moves_in,
            })
            .collect();
        ItemStats { classes }
    }

    /// `stats sizes`: item sizes in 32-byte buckets, `(bucket upper bound, count)`, ascending.
    /// Walks every item (one shard locked at a time): an admin command, not for hot paths.
    pub fn size_stats(&self) -> Vec<(u32, u64)> {
        let mut m = std::collections::BTreeMap::new();
        for i in 0..self.shards.len() {
            self.lock(i).for_each_live(|_, raw| {
                let size = (raw.total_len() as u32).div_ceil(32) * 32;
                *m.entry(size).or_insert(0u64) += 1;
            });
        }
        m.into_iter().collect()
    }

    /// `stats cachedump <class> <limit>`: up to `limit` live items of a class (0 = up to
    /// 2 MiB of output as memcached caps it). `None` for a bad class id.
    pub fn cachedump(&self, class_id: u32, limit: usize, now: u32) -> Option<Vec<CachedumpEntry>> {
        if class_id == 0 || class_id as usize > self.geo.classes.len() {
            return None;
        }
        let limit = if limit == 0 { usize::MAX } else { limit };
        let ctx = self.ctx(now);
        let mut out = Vec::new();
        let mut budget_bytes = 2 * 1024 * 1024usize;
        for i in 0..self.shards.len() {
            let before = out.len();
            self.lock(i).dump_class(&ctx, class_id as usize - 1, limit, &mut out);
            for e in &out[before..] {
                budget_bytes = budget_bytes.saturating_sub(e.key.len() + 30);
            }
            if out.len() >= limit || budget_bytes == 0 {
                break;
            }
        }
        Some(out)
    }

    /// Checks every internal invariant (index ↔ chunks, counters, free lists, memory bound);
    /// returns a description of the first violation. For tests and fuzzing.
    pub fn check_integrity(&self) -> Result<(), String> {
        let mut pages = 0usize;
        for i in 0..self.shards.len() {
            let s = self.lock(i);
            s.check_integrity(&self.geo).map_err(|e| format!("shard {i}: {e}"))?;
            pages += s.mem.page_count();
        }
        let malloced = self.pool.malloced_bytes();
        // After `set_memory_limit` lowered the limit, pages in use above it are legitimate
        // until the shards give them back.
        let over = (self.pool.over_limit() * self.geo.page_size) as u64;
        if malloced > self.memory_limit() + over {
            return Err(format!("malloced {malloced} over limit {}", self.memory_limit()));
        }
        let expected = (pages + self.pool.free_pages()) * self.geo.page_size;
        if expected as u64 != malloced {
            return Err(format!("pages in use + pool = {expected} bytes, malloced {malloced}"));
        }
        Ok(())
    }
}
