//! Heap allocations per request on the hot path (pooled connection, value cached), counted with
//! a wrapping global allocator on the test's own thread.

mod support;

use memcached_client::{Client, StoreOptions};
use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use support::ServerProcess;

struct CountingAllocator;

thread_local! {
    static ALLOCATIONS: Cell<u64> = const { Cell::new(0) };
}

// SAFETY: forwards to the system allocator; only counts calls.
unsafe impl GlobalAlloc for CountingAllocator {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let _ = ALLOCATIONS.try_with(|c| c.set(c.get() + 1));
        // SAFETY: same contract as the caller's.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: same contract as the caller's.
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let _ = ALLOCATIONS.try_with(|c| c.set(c.get() + 1));
        // SAFETY: same contract as the caller's.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: CountingAllocator = CountingAllocator;

fn allocations() -> u64 {
    ALLOCATIONS.with(Cell::get)
}

#[test]
fn get_and_set_allocate_little_per_request() {
    let server = ServerProcess::memcached();
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let client = Client::builder().server(&server.spec()).build().unwrap();
    let (gets, sets) = runtime.block_on(async {
        client.set("hot", [b'x'; 100], StoreOptions::default()).await.unwrap();
        for _ in 0..100 {
            client.get("hot").await.unwrap().unwrap();
        }
        let before = allocations();
        for _ in 0..1000 {
            let item = client.get("hot").await.unwrap().unwrap();
            assert_eq!(item.value.len(), 100);
        }
        let gets = allocations() - before;
        let before = allocations();
        for _ in 0..1000 {
            client.set("hot", [b'y'; 100], StoreOptions::default()).await.unwrap();
        }
        (gets, allocations() - before)
    });
    eprintln!(
        "allocations per get: {:.2}, per set: {:.2}",
        gets as f64 / 1000.0,
        sets as f64 / 1000.0
    );
    // Measured: 0 per request (buffers are reused; values are slices of the read buffer).
    // A few are allowed for the read buffer growing or being replaced.
    assert!(gets <= 20, "{gets} allocations for 1000 gets");
    assert!(sets <= 20, "{sets} allocations for 1000 sets");
}
