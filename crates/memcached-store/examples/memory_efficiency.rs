//! How many items a 64 MB store holds at 10-byte keys and 100 / 1000-byte values, next to the
//! raw capacity (64 MiB / (key + value)) and memcached 1.6.18's measured numbers.
//!
//! `cargo run --release -p memcached-store --example memory_efficiency`

use memcached_store::{SetMode, Store, StoreConfig};

fn held(value_len: usize, cas: bool) -> (u64, u64, u64) {
    let store = Store::new(StoreConfig { cas_enabled: cas, ..StoreConfig::default() })
        .expect("default config");
    let raw = (64u64 << 20) / (10 + value_len as u64);
    let value = vec![b'v'; value_len];
    // Write twice the raw capacity so every page is full and eviction has run.
    for i in 0..raw * 2 {
        let key = format!("{:010}", i);
        store.set(key.as_bytes(), &value, 0, 0, 1_700_000_000, SetMode::Set).expect("set");
    }
    let st = store.stats();
    store.check_integrity().expect("integrity");
    (st.curr_items, raw, st.total_malloced)
}

fn main() {
    println!(
        "{:>8} {:>5} {:>12} {:>12} {:>8} {:>10} {:>14}",
        "value", "cas", "items held", "raw", "held %", "memcached", "total_malloced"
    );
    for (value_len, memcached) in [(100usize, 349_504u64), (1000, 56_640)] {
        for cas in [true, false] {
            let (items, raw, malloced) = held(value_len, cas);
            let mc = if cas {
                format!("{:.0} %", 100.0 * memcached as f64 / raw as f64)
            } else {
                "-".into()
            };
            println!(
                "{:>8} {:>5} {:>12} {:>12} {:>7.1}% {:>10} {:>14}",
                value_len,
                if cas { "on" } else { "off" },
                items,
                raw,
                100.0 * items as f64 / raw as f64,
                mc,
                malloced
            );
        }
    }
}
