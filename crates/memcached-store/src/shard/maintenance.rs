//! Work that is not on a request path: the bounded reclaimer (memcached's LRU crawler), tail
//! ages for automove and `stats items`, dumps, and the integrity check used by tests and fuzzing.

use super::{Ctx, Shard};
use crate::config::Geometry;
use crate::item::{bits, ItemRef, RawItem, OFF_BITS};
use crate::lru::advance;
use crate::ops::{CachedumpEntry, ReclaimReport};
use crate::slab::ChunkRef;

impl Shard {
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

    /// Like [`visit_live`](Self::visit_live) but resumable: starts at chunk position `from`
    /// (page slot, chunk index), looks at no more than `budget` chunks and returns where to go
    /// on, or `None` when the shard is done.
    pub fn visit_live_from(
        &self,
        ctx: &Ctx<'_>,
        from: (u32, u32),
        mut budget: usize,
        f: &mut impl FnMut(&ItemRef<'_>),
    ) -> Option<(u32, u32)> {
        let (first_slot, mut chunk) = from;
        for slot in first_slot as usize..self.mem.pages.len() {
            let Some(page) = &self.mem.pages[slot] else {
                chunk = 0;
                continue;
            };
            let per_page = self.mem.classes[page.class as usize].chunks_per_page;
            while chunk < per_page {
                if budget == 0 {
                    return Some((slot as u32, chunk));
                }
                budget -= 1;
                let raw = self.raw(self.mem.make_ref(slot as u32, chunk));
                if raw.is_live() && self.dead(raw, ctx).is_none() {
                    f(&ItemRef::from_raw(raw, u32::from(page.class) + 1));
                }
                chunk += 1;
            }
            chunk = 0;
        }
        None
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
        let mut per_class = vec![(0u64, 0u64); self.mem.classes.len()];
        let mut err = None;
        self.for_each_live(|r, raw| {
            live += 1;
            let total = raw.total_len();
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
        if live != self.index.len() as u64 {
            return Err(format!("live {live} indexed {}", self.index.len()));
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
