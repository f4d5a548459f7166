//! Reads and in-place updates: get/gets/gat/mg (with meta's win/stale logic), touch,
//! delete/md.
//!
//! ```text
//!   lookup ─ dead? ─> unlink, miss (mg N: create an empty item, this caller wins)
//!      │ live
//!      v
//!   meta: TOKEN_SENT? ─> Z   else stale or TTL < R ─> W, set TOKEN_SENT
//!   callback(ItemRef)  ─> then bump (atime, FETCHED, REF) unless `u`, apply T
//! ```

use super::{Ctx, ReadOpts, Shard, StoreArgs};
use crate::feed::ChangeOp;
use crate::item::{self, bits, ItemRef, OFF_ATIME, OFF_BITS, OFF_EXPTIME};
use crate::ops::{DeleteOutcome, TouchOutcome};
use crate::slab::ChunkRef;

impl Shard {
    /// get / gets / gat / gats / mg.
    pub fn read<R>(
        &mut self,
        ctx: &Ctx<'_>,
        key: &[u8],
        hash: u64,
        o: ReadOpts,
        f: impl FnOnce(&ItemRef<'_>) -> R,
    ) -> Option<R> {
        // Counting follows memcached 1.6.18: gat/gats are touches (cmd_touch, touch_hits or
        // touch_misses); an mg is a get, except that a hit (or an item made by N) with T is
        // counted as a touch; a miss is always a get miss unless N creates the item.
        let touch_counted = o.gat || (o.meta && o.touch.is_some());
        let Some((_, r)) = self.lookup(key, hash, ctx) else {
            let Some(r) = o.vivify.and_then(|e| self.vivify(ctx, key, hash, e, o)) else {
                if o.gat {
                    self.c.cmd_touch += 1;
                    self.c.touch_misses += 1;
                } else if !o.uncounted {
                    self.c.cmd_get += 1;
                    self.c.get_misses += 1;
                }
                return None;
            };
            let class = self.mem.class_of(r);
            self.count_hit(class, touch_counted, o.uncounted);
            let mut item = ItemRef::from_raw(self.raw(r), class as u32 + 1);
            item.win = !o.withhold_win;
            item.created = true;
            let out = f(&item);
            if o.bump {
                // memcached bumps the item it just created like any hit: the next mg sees h1.
                let chunk = self.mem.chunk_mut(r);
                chunk[OFF_BITS] |= bits::FETCHED | bits::REF;
            }
            return Some(out);
        };
        let class = self.mem.class_of(r);
        let raw = self.raw(r);
        let old_bits = raw.bits();
        let mut new_bits = old_bits;
        let mut item = ItemRef::from_raw(raw, class as u32 + 1);
        if o.meta {
            // T and R in request order: R judges the TTL as T left it.
            let mut exptime = item.exptime;
            let mut recache = false;
            for flag in o.order {
                match flag {
                    b'T' => exptime = o.touch.unwrap_or(exptime),
                    b'R' => {
                        recache |= o.recache_below.is_some_and(|below| {
                            exptime != 0
                                && i64::from(exptime) - i64::from(ctx.now) < i64::from(below)
                        })
                    }
                    _ => {}
                }
            }
            if old_bits & bits::TOKEN_SENT != 0 {
                item.win_already_sent = true;
            } else if (item.stale || recache) && !o.withhold_win {
                item.win = true;
                new_bits |= bits::TOKEN_SENT;
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
            self.publish(ctx, ChangeOp::Touch, Some(r), key);
        }
        self.count_hit(class, touch_counted, o.uncounted);
        Some(out)
    }

    fn count_hit(&mut self, class: usize, as_touch: bool, uncounted: bool) {
        if as_touch {
            self.c.cmd_touch += 1;
            self.c.touch_hits += 1;
            self.mem.classes[class].counters.touch_hits += 1;
        } else if !uncounted {
            self.c.cmd_get += 1;
            self.c.get_hits += 1;
            self.mem.classes[class].counters.get_hits += 1;
        }
    }

    /// mg N on a miss: an empty item with TTL `exptime` whose win token this caller holds
    /// (then `T`, if given after `N`, sets its TTL).
    fn vivify(
        &mut self,
        ctx: &Ctx<'_>,
        key: &[u8],
        hash: u64,
        exptime: u32,
        o: ReadOpts,
    ) -> Option<ChunkRef> {
        // memcached applies flags left to right: `N.. T..` creates, then touches.
        let exptime = match (
            o.touch,
            o.order.iter().position(|&f| f == b'T'),
            o.order.iter().position(|&f| f == b'N'),
        ) {
            (Some(t), Some(ti), Some(ni)) if ti > ni => t,
            (Some(t), Some(_), None) => t,
            _ => exptime,
        };
        let a = StoreArgs::vivify(key, &[], exptime, o.binary_key);
        self.store_inner(ctx, hash, &a).ok()?;
        let (_, r) = self.find_key(key, hash)?;
        if !o.withhold_win {
            self.mem.chunk_mut(r)[OFF_BITS] |= bits::TOKEN_SENT;
        }
        Some(r)
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
        if let Some((ttl, explicit)) = invalidate {
            // memcached 1.6.18 does not count an invalidation as a delete hit.
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
            let class = self.mem.class_of(r);
            self.c.delete_hits += 1;
            self.mem.classes[class].counters.delete_hits += 1;
            self.unlink(slot, r);
            self.publish(ctx, ChangeOp::Delete, None, key);
        }
        DeleteOutcome::Deleted
    }
}
