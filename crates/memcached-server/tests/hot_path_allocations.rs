//! The request path allocates nothing once warm: decoding borrows the input, replies are
//! encoded into the reused output buffer, values are copied out of the slab inside the store's
//! closure. Checked with a counting global allocator around `CommandExecutor::execute`.

mod common;

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::sync::atomic::{AtomicUsize, Ordering};

use memcached_server::commands::CommandExecutor;
use memcached_server::config::ServerConfig;
use memcached_server::connection::Session;
use memcached_store::StoreConfig;

use common::in_process::execute_all;

struct CountingAllocator;

static ALLOCATIONS: AtomicUsize = AtomicUsize::new(0);

thread_local! {
    static COUNTING: Cell<bool> = const { Cell::new(false) };
}

// SAFETY: every call is forwarded unchanged to the system allocator; counting has no effect on
// the memory handed out.
unsafe impl GlobalAlloc for CountingAllocator {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if COUNTING.with(Cell::get) {
            ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        }
        // SAFETY: same contract as our caller's.
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: same contract as our caller's.
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        if COUNTING.with(Cell::get) {
            ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        }
        // SAFETY: same contract as our caller's.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: CountingAllocator = CountingAllocator;

fn run_all(executor: &mut CommandExecutor, input: &[u8], out: &mut Vec<u8>) {
    execute_all(executor, &mut Session::default(), input, out, |_| {});
}

#[test]
fn warm_requests_do_not_allocate() {
    let (mut executor, _) =
        common::in_process::executor(ServerConfig::default(), StoreConfig::default());
    let mut out = Vec::with_capacity(1 << 20);

    let value = "x".repeat(1000);
    let script = format!(
        "set k 1 0 1000\r\n{value}\r\nset n 0 0 1\r\n5\r\nget k\r\ngets k\r\nget k n nope\r\n\
         gat 100 k\r\nincr n 1\r\ndecr n 1\r\ntouch k 100\r\nappend k 0 0 1\r\ny\r\n\
         set k 1 0 1000\r\n{value}\r\ndelete n\r\nset n 0 0 1\r\n5\r\nadd k 0 0 1\r\nz\r\n\
         mg k v f c t s k O1\r\nms m 2 T100 F3\r\nhi\r\nmg m v\r\nma n v\r\nmd m\r\nmn\r\n\
         version\r\nset k 1 0 1000 noreply\r\n{value}\r\nget missing\r\n"
    );
    // Warm up: first stores create slab pages and index slots.
    for _ in 0..3 {
        out.clear();
        run_all(&mut executor, script.as_bytes(), &mut out);
    }

    // The counter works: one deliberate allocation is seen.
    ALLOCATIONS.store(0, Ordering::Relaxed);
    COUNTING.with(|c| c.set(true));
    let probe = std::hint::black_box(Vec::<u8>::with_capacity(64));
    COUNTING.with(|c| c.set(false));
    drop(probe);
    assert_eq!(ALLOCATIONS.load(Ordering::Relaxed), 1, "the counting allocator must count");

    ALLOCATIONS.store(0, Ordering::Relaxed);
    COUNTING.with(|c| c.set(true));
    for _ in 0..100 {
        out.clear();
        run_all(&mut executor, script.as_bytes(), &mut out);
    }
    COUNTING.with(|c| c.set(false));
    let allocations = ALLOCATIONS.load(Ordering::Relaxed);
    assert!(out.starts_with(b"STORED\r\nSTORED\r\nVALUE k 1 1000\r\n"), "unexpected replies");
    assert!(out.ends_with(b"MN\r\nVERSION 1.6.18\r\nEND\r\n"), "unexpected replies");
    assert_eq!(allocations, 0, "{allocations} heap allocations in 100 warm rounds");
}
