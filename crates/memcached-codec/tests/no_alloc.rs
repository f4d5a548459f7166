//! The hot paths allocate nothing: decoding get / multi-get / set / mg / ms
//! (including a base64 key decode) and encoding their replies into a buffer
//! that already has room. A counting global allocator checks it.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

use memcached_codec::*;

struct CountingAllocator;

thread_local! {
    static ALLOCATIONS: Cell<usize> = const { Cell::new(0) };
}

// SAFETY: forwards to the system allocator; only counts calls.
unsafe impl GlobalAlloc for CountingAllocator {
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
static GLOBAL: CountingAllocator = CountingAllocator;

fn allocations_during(f: impl FnOnce()) -> usize {
    let before = ALLOCATIONS.with(Cell::get);
    f();
    ALLOCATIONS.with(Cell::get) - before
}

#[test]
fn hot_paths_do_not_allocate() {
    // The counter sees allocations at all.
    assert!(allocations_during(|| drop(std::hint::black_box(Vec::<u8>::with_capacity(10)))) > 0);
    let limits = Limits::default();
    let mut multiget = b"get".to_vec();
    for i in 0..100 {
        multiget.extend_from_slice(format!(" key{i}").as_bytes());
    }
    multiget.extend_from_slice(b"\r\n");
    let mut set4k = b"set user:1 5 0 4096\r\n".to_vec();
    set4k.extend(vec![b'x'; 4096]);
    set4k.extend_from_slice(b"\r\n");
    let inputs: Vec<&[u8]> = vec![
        b"get user:1\r\n",
        &multiget,
        b"set user:1 0 0 5\r\nhello\r\n",
        &set4k,
        b"mg user:1 v f c t k O42 T30\r\n",
        b"mg dXNlcjox b v k\r\n",
        b"ms user:1 2 T30 F5 c\r\nhi\r\n",
        b"set user:1 0 0 5\r\nhel",
        b"bogus\r\n",
    ];
    let mut out = Vec::with_capacity(1 << 20);
    let mut key_buf = [0u8; KEY_BUFFER_LEN];
    for input in inputs {
        let n = allocations_during(|| {
            let result = decode_request(input, &limits);
            if let Ok(Some((request, _))) = result {
                match request {
                    Request::Retrieval(r) => {
                        for key in r.keys.iter() {
                            encode_value(&mut out, key, 0, Some(1), b"value");
                        }
                        encode_end(&mut out);
                    }
                    Request::Storage(_) => StatusLine::Stored.encode(&mut out),
                    Request::MetaGet(m) => {
                        let key = m.key.decode(&mut key_buf);
                        let item = MetaItemInfo { cas: 1, size: 5, ..MetaItemInfo::default() };
                        encode_meta_get_hit(&mut out, &m, key, &item, Some(b"value"));
                    }
                    Request::MetaSet(m) => {
                        encode_meta_set_result(&mut out, MetaStatus::Stored, &m, m.key.raw(), 9)
                    }
                    _ => {}
                }
            } else if let Err(e) = result {
                e.encode_response(&mut out);
            }
        });
        assert_eq!(
            n,
            0,
            "allocation while handling {:?}",
            String::from_utf8_lossy(&input[..input.len().min(40)])
        );
    }
    assert!(!out.is_empty());
}
