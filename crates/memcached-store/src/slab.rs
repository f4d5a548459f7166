//! Slab memory: the global page pool under the `-m` bound, each shard's page table, and the
//! slab classes that cut pages into equal chunks.
//!
//! ```text
//!   PagePool (one Mutex, touched only to grab or return a whole page)
//!     allocated <= total_pages = memory_limit / page_size        free: [page, page, ...]
//!         |  grab()                                   ^ give_back()
//!         v                                           |
//!   Shard (own lock) page table: [slot0: page, class 3] [slot1: page, class 7] ...
//!   SlabClass 3: pages [0, 4, 9]   free list head -> chunk -> chunk -> ...   CLOCK hand
//!
//!   ChunkRef (u32) = local page slot << chunk_bits | chunk index in the page
//! ```
//!
//! Pages are owned buffers (`Box<[u8]>`) that move between the pool and a shard, so each shard
//! reaches its memory through its own lock only: no raw pointers, no `unsafe`.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;

use crate::item::{rd_u32, wr_u32, OFF_BITS, OFF_FREE_NEXT};

/// A 32-bit reference to a chunk inside one shard: page slot and chunk index.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ChunkRef(pub(crate) u32);

/// "No chunk" in free lists.
pub(crate) const NO_CHUNK: u32 = u32::MAX;

/// The global pool of slab pages shared by every shard under one memory bound.
#[derive(Debug)]
pub(crate) struct PagePool {
    page_size: usize,
    max_pages: AtomicUsize,
    inner: Mutex<PoolInner>,
}

#[derive(Debug, Default)]
struct PoolInner {
    allocated: usize,
    free: Vec<Box<[u8]>>,
}

impl PagePool {
    pub fn new(page_size: usize, max_pages: usize) -> Self {
        PagePool {
            page_size,
            max_pages: AtomicUsize::new(max_pages),
            inner: Mutex::new(PoolInner::default()),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, PoolInner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// A page from the free list, or a newly allocated one while under the limit.
    pub fn grab(&self) -> Option<Box<[u8]>> {
        let mut p = self.lock();
        if let Some(page) = p.free.pop() {
            return Some(page);
        }
        if p.allocated < self.max_pages.load(Ordering::Relaxed) {
            p.allocated += 1;
            drop(p);
            // alloc_zeroed: the kernel maps the pages lazily.
            return Some(vec![0u8; self.page_size].into_boxed_slice());
        }
        None
    }

    /// Returns a page to the pool for any shard or class to take (or frees it when the
    /// limit was lowered below what is allocated).
    pub fn give_back(&self, page: Box<[u8]>) {
        let mut p = self.lock();
        if p.allocated > self.max_pages.load(Ordering::Relaxed) {
            p.allocated -= 1;
            drop(p);
            drop(page);
        } else {
            p.free.push(page);
        }
    }

    /// Changes the page limit (`cache_memlimit`); free pages above it are released now, pages
    /// in use when the shards give them back.
    pub fn set_max_pages(&self, max: usize) {
        self.max_pages.store(max, Ordering::Relaxed);
        let mut p = self.lock();
        while p.allocated > max && p.free.pop().is_some() {
            p.allocated -= 1;
        }
    }

    /// Pages allocated beyond the limit (after the limit was lowered).
    pub fn over_limit(&self) -> usize {
        self.lock().allocated.saturating_sub(self.max_pages.load(Ordering::Relaxed))
    }

    /// Bytes of page memory allocated (`total_malloced`); never above the limit.
    pub fn malloced_bytes(&self) -> u64 {
        (self.lock().allocated * self.page_size) as u64
    }

    /// Pages sitting unused in the pool (`slab_global_page_pool`).
    pub fn free_pages(&self) -> usize {
        self.lock().free.len()
    }
}

/// One page owned by a shard.
#[derive(Debug)]
pub(crate) struct PageSlot {
    pub mem: Box<[u8]>,
    pub class: u8,
    pub chunk_size: u32,
    /// Live items in this page.
    pub live: u32,
}

summed_counters! {
    /// Per-class counters (summed across shards for `stats items` / `stats slabs`).
    ClassCounters {
        get_hits,
        cmd_set,
        delete_hits,
        incr_hits,
        decr_hits,
        cas_hits,
        cas_badval,
        touch_hits,
        evicted,
        evicted_nonzero,
        evicted_unfetched,
        outofmemory,
        reclaimed,
        expired_unfetched,
        crawler_reclaimed,
        moves_in,
    }
}

/// A slab class inside one shard.
#[derive(Debug)]
pub(crate) struct SlabClass {
    pub chunk_size: u32,
    pub chunks_per_page: u32,
    /// Local page slots of this class, in CLOCK order.
    pub pages: Vec<u32>,
    pub free_head: u32,
    pub free_count: u32,
    /// CLOCK hand: position in `pages` and chunk index.
    pub hand_page: usize,
    pub hand_chunk: u32,
    /// Live items and the bytes they request (`mem_requested`).
    pub items: u64,
    pub requested: u64,
    pub counters: ClassCounters,
    /// Seconds since the last access of the last evicted item (`evicted_time`).
    pub evicted_time: u32,
    /// `evicted` at the last automove tick.
    pub evicted_at_tick: u64,
}

impl SlabClass {
    pub fn new(chunk_size: u32, chunks_per_page: u32) -> Self {
        SlabClass {
            chunk_size,
            chunks_per_page,
            pages: Vec::new(),
            free_head: NO_CHUNK,
            free_count: 0,
            hand_page: 0,
            hand_chunk: 0,
            items: 0,
            requested: 0,
            counters: ClassCounters::default(),
            evicted_time: 0,
            evicted_at_tick: 0,
        }
    }

    pub fn total_chunks(&self) -> u64 {
        self.pages.len() as u64 * u64::from(self.chunks_per_page)
    }
}

/// A shard's page table and classes.
#[derive(Debug)]
pub(crate) struct SlabMemory {
    pub pages: Vec<Option<PageSlot>>,
    free_slots: Vec<u32>,
    pub classes: Vec<SlabClass>,
    pub chunk_bits: u32,
}

impl SlabMemory {
    pub fn new(classes: Vec<SlabClass>, chunk_bits: u32) -> Self {
        SlabMemory { pages: Vec::new(), free_slots: Vec::new(), classes, chunk_bits }
    }

    #[inline]
    pub fn make_ref(&self, page: u32, chunk: u32) -> ChunkRef {
        ChunkRef((page << self.chunk_bits) | chunk)
    }

    #[inline]
    pub fn split_ref(&self, r: ChunkRef) -> (usize, usize) {
        ((r.0 >> self.chunk_bits) as usize, (r.0 & ((1 << self.chunk_bits) - 1)) as usize)
    }

    #[inline]
    fn page_of(&self, page: usize) -> &PageSlot {
        self.pages[page].as_ref().expect("chunk refs only name installed pages")
    }

    #[inline]
    fn page_of_mut(&mut self, page: usize) -> &mut PageSlot {
        self.pages[page].as_mut().expect("chunk refs only name installed pages")
    }

    /// The bytes of a chunk.
    #[inline]
    pub fn chunk(&self, r: ChunkRef) -> &[u8] {
        let (p, c) = self.split_ref(r);
        let slot = self.page_of(p);
        let size = slot.chunk_size as usize;
        &slot.mem[c * size..(c + 1) * size]
    }

    /// The bytes of a chunk, writable.
    #[inline]
    pub fn chunk_mut(&mut self, r: ChunkRef) -> &mut [u8] {
        let (p, c) = self.split_ref(r);
        let slot = self.page_of_mut(p);
        let size = slot.chunk_size as usize;
        &mut slot.mem[c * size..(c + 1) * size]
    }

    /// Class index of the page holding `r`.
    #[inline]
    pub fn class_of(&self, r: ChunkRef) -> usize {
        self.page_of(self.split_ref(r).0).class as usize
    }

    /// Adjusts the live count of the page holding `r`.
    #[inline]
    pub fn page_live_add(&mut self, r: ChunkRef, delta: i32) {
        let p = self.split_ref(r).0;
        let slot = self.page_of_mut(p);
        slot.live = slot.live.wrapping_add_signed(delta);
    }

    /// Pops a free chunk of `class`.
    #[inline]
    pub fn pop_free(&mut self, class: usize) -> Option<ChunkRef> {
        let head = self.classes[class].free_head;
        if head == NO_CHUNK {
            return None;
        }
        let r = ChunkRef(head);
        let next = rd_u32(self.chunk(r), OFF_FREE_NEXT);
        let c = &mut self.classes[class];
        c.free_head = next;
        c.free_count -= 1;
        Some(r)
    }

    /// Marks `r` free and pushes it on its class's free list.
    #[inline]
    pub fn push_free(&mut self, class: usize, r: ChunkRef) {
        let head = self.classes[class].free_head;
        let chunk = self.chunk_mut(r);
        chunk[OFF_BITS] = 0;
        wr_u32(chunk, OFF_FREE_NEXT, head);
        let c = &mut self.classes[class];
        c.free_head = r.0;
        c.free_count += 1;
    }

    /// Installs a page from the pool into `class`, all of its chunks free.
    pub fn install_page(&mut self, class: usize, mem: Box<[u8]>) {
        let slot = match self.free_slots.pop() {
            Some(s) => s,
            None => {
                self.pages.push(None);
                (self.pages.len() - 1) as u32
            }
        };
        let (size, per_page) =
            (self.classes[class].chunk_size, self.classes[class].chunks_per_page);
        self.pages[slot as usize] =
            Some(PageSlot { mem, class: class as u8, chunk_size: size, live: 0 });
        self.classes[class].pages.push(slot);
        // Push in reverse so allocation walks the page front to back.
        for i in (0..per_page).rev() {
            let r = self.make_ref(slot, i);
            self.push_free(class, r);
        }
    }

    /// Removes a page whose chunks are all free from its class; returns its memory.
    pub fn uninstall_page(&mut self, slot: u32) -> Box<[u8]> {
        let class = self.page_of(slot as usize).class as usize;
        debug_assert_eq!(self.page_of(slot as usize).live, 0);
        self.detach_free_chunks(class, slot);
        let c = &mut self.classes[class];
        let pos = c.pages.iter().position(|&p| p == slot).expect("page belongs to its class");
        c.pages.remove(pos);
        if c.hand_page > pos {
            c.hand_page -= 1;
        } else if c.hand_page == pos {
            c.hand_chunk = 0;
        }
        if c.hand_page >= c.pages.len() {
            c.hand_page = 0;
            c.hand_chunk = 0;
        }
        let page = self.pages[slot as usize].take().expect("installed page");
        self.free_slots.push(slot);
        page.mem
    }

    /// Takes the free chunks of page `slot` off the free list of `class` (in place, keeping
    /// the order of the others).
    pub fn detach_free_chunks(&mut self, class: usize, slot: u32) {
        let mut prev = NO_CHUNK;
        let mut cur = self.classes[class].free_head;
        while cur != NO_CHUNK {
            let r = ChunkRef(cur);
            let next = rd_u32(self.chunk(r), OFF_FREE_NEXT);
            if self.split_ref(r).0 == slot as usize {
                if prev == NO_CHUNK {
                    self.classes[class].free_head = next;
                } else {
                    wr_u32(self.chunk_mut(ChunkRef(prev)), OFF_FREE_NEXT, next);
                }
                self.classes[class].free_count -= 1;
            } else {
                prev = cur;
            }
            cur = next;
        }
    }

    /// Counts the free list of `class`, checking each entry is a free chunk of the class.
    pub fn walk_free(&self, class: usize) -> Result<u64, String> {
        let mut n = 0u64;
        let mut cur = self.classes[class].free_head;
        let limit = self.classes[class].total_chunks();
        while cur != NO_CHUNK {
            let r = ChunkRef(cur);
            let (p, _) = self.split_ref(r);
            match self.pages.get(p).and_then(|s| s.as_ref()) {
                Some(s) if s.class as usize == class => {}
                _ => return Err(format!("free chunk {r:?} not in a page of class {class}")),
            }
            let chunk = self.chunk(r);
            if chunk[OFF_BITS] != 0 {
                return Err(format!("free chunk {r:?} has bits {}", chunk[OFF_BITS]));
            }
            n += 1;
            if n > limit {
                return Err(format!("free list of class {class} loops"));
            }
            cur = rd_u32(chunk, OFF_FREE_NEXT);
        }
        Ok(n)
    }

    /// Number of pages this shard holds.
    pub fn page_count(&self) -> usize {
        self.pages.iter().filter(|p| p.is_some()).count()
    }
}
