//! Moving slab pages between classes: a starved class takes a page from another class of the
//! shard, `slabs reassign` and automove empty a page and hand it over.
//!
//! ```text
//!   release_page(class d):  pick d's page with the fewest live items (not the protected one)
//!     take its free chunks off d's free list
//!     for each live chunk:  dead ─> free it  |  free chunk elsewhere in d ─> move the item there
//!                           otherwise ─> evict it (only when eviction is allowed)
//!     uninstall the page ─> memory goes to another class or back to the pool
//! ```
//!
//! A set that finds no free chunk, no pool page and nothing to evict in its own class takes a
//! page from the class with the most pages, in its own shard first, then in another shard;
//! a class gives up even its last page, so a set of an item that fits `-I` fails for lack of
//! memory only when no page anywhere can be emptied (`-M`, or every other shard busy).

use super::{Ctx, Shard};
use crate::item::{bits, OFF_BITS};
use crate::slab::ChunkRef;

impl Shard {
    /// Moves a page from another class of this shard into `class` (see
    /// [`Shard::give_up_page`]). Returns whether a page arrived.
    pub(super) fn steal_page_for(
        &mut self,
        class: usize,
        ctx: &Ctx<'_>,
        protect: Option<ChunkRef>,
    ) -> bool {
        let Some(page) = self.give_up_page(Some(class), ctx, protect) else { return false };
        self.mem.install_page(class, page);
        self.c.slabs_moved += 1;
        self.mem.classes[class].counters.moves_in += 1;
        true
    }

    /// Empties a page of the class with the most pages (never of `keep`, never the page of
    /// `protect`) and takes it out of the shard, evicting only if the store may evict. A
    /// class's last page is given up too: a class with no page would otherwise refuse every
    /// set ("out of memory") while other classes sit on all the memory.
    pub(crate) fn give_up_page(
        &mut self,
        keep: Option<usize>,
        ctx: &Ctx<'_>,
        protect: Option<ChunkRef>,
    ) -> Option<Box<[u8]>> {
        // Classes tried already (MAX_CLASSES < 64), so each is asked at most once.
        let mut tried = 0u64;
        loop {
            let donor = (0..self.mem.classes.len())
                .filter(|&d| Some(d) != keep && tried & (1 << d) == 0)
                .filter(|&d| !self.mem.classes[d].pages.is_empty())
                .max_by_key(|&d| self.mem.classes[d].pages.len())?;
            tried |= 1 << donor;
            if let Some((page, _, _)) = self.release_page(donor, self.evict, ctx, protect) {
                return Some(page);
            }
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
}
