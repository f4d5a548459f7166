//! With a subscriber that gives records back ([`FeedReceiver::recycle`]), publishing a change
//! allocates nothing once the spare records' buffers are large enough: a replicating node's
//! writes stay allocation-free like everyone else's.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

use memcached_store::*;

struct Counting;

thread_local! {
    /// Allocations made by this thread (the test harness's own threads allocate now and then).
    static ALLOCATIONS: Cell<usize> = const { Cell::new(0) };
}

// SAFETY: every call is forwarded to the system allocator unchanged; only a counter is added.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCATIONS.with(|a| a.set(a.get() + 1));
        // SAFETY: same contract as the caller's.
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: same contract as the caller's.
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        ALLOCATIONS.with(|a| a.set(a.get() + 1));
        // SAFETY: same contract as the caller's.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

const NOW: u32 = 1_700_000_000;

#[test]
fn publishing_with_recycled_records_allocates_nothing() {
    let store =
        Store::with_seed(StoreConfig { memory_limit_bytes: 8 << 20, ..StoreConfig::default() }, 3)
            .unwrap();
    let feed = store.subscribe(1024);
    let keys: Vec<String> = (0..64).map(|i| format!("key:{i}")).collect();
    let value = [b'v'; 100];
    let round = |store: &Store| {
        for key in &keys {
            store.set(key.as_bytes(), &value, 0, 0, NOW, SetMode::Set).unwrap();
            store.delete(key.as_bytes(), NOW);
        }
        while let Some(record) = feed.try_recv() {
            feed.recycle(record);
        }
    };
    for _ in 0..4 {
        round(&store); // warm-up: spare records grow their buffers
    }
    let before = ALLOCATIONS.with(Cell::get);
    for _ in 0..50 {
        round(&store);
    }
    let allocations = ALLOCATIONS.with(Cell::get) - before;
    assert_eq!(allocations, 0, "{allocations} allocations for 6,400 published changes");
}
