//! Drives `memcached_store::Store` with arbitrary operation sequences decoded from the fuzz
//! input and checks the store's invariants (`check_integrity`, the memory bound, reads return
//! the requested key) after every step.
//!
//! `cargo fuzz run store_ops` (from fuzz/; stable Rust needs RUSTC_BOOTSTRAP=1)

#![no_main]

use libfuzzer_sys::fuzz_target;
use memcached_store::*;

/// Reads the fuzz input as a stream of small integers.
struct Input<'a>(&'a [u8]);

impl Input<'_> {
    fn byte(&mut self) -> Option<u8> {
        let (&b, rest) = self.0.split_first()?;
        self.0 = rest;
        Some(b)
    }
    fn u16(&mut self) -> Option<u16> {
        Some(u16::from_le_bytes([self.byte()?, self.byte()?]))
    }
    fn u64(&mut self) -> Option<u64> {
        let mut v = 0u64;
        for _ in 0..8 {
            v = (v << 8) | u64::from(self.byte()?);
        }
        Some(v)
    }
}

fn exptime(b: u8) -> i64 {
    match b % 6 {
        0 => 0,
        1 => -1,
        2 => 1,
        3 => 3,
        4 => REALTIME_MAXDELTA + 1,
        _ => 100,
    }
}

const NOW: u32 = 1_700_000_000;

fuzz_target!(|data: &[u8]| {
    let mut inp = Input(data);
    let Some(mode) = inp.byte() else { return };
    let limit = 512 * 1024u64;
    let config = StoreConfig {
        memory_limit_bytes: limit,
        page_size: 32 * 1024,
        item_size_max: 32 * 1024,
        evict: mode & 1 == 0,
        cas_enabled: mode & 2 == 0,
        shards: 1 + usize::from(mode >> 6 & 1),
        ..StoreConfig::default()
    };
    let store = Store::with_seed(config, u64::from(mode)).expect("valid config");
    let mut now = NOW;
    let value_buf = vec![b'7'; 40 * 1024];
    while let Some(op) = inp.byte() {
        let Some(k) = inp.byte() else { break };
        let key = [b'k', b'0' + (k % 40)];
        match op % 18 {
            0..=5 => {
                let Some(len) = inp.u16() else { break };
                let Some(e) = inp.byte() else { break };
                let value = &value_buf[..usize::from(len) % value_buf.len()];
                let modes = [
                    SetMode::Set,
                    SetMode::Add,
                    SetMode::Replace,
                    SetMode::Append,
                    SetMode::Prepend,
                    SetMode::Cas(u64::from(e)),
                ];
                if e & 0x80 != 0 {
                    let mode = [
                        MetaSetMode::Set,
                        MetaSetMode::Add,
                        MetaSetMode::Replace,
                        MetaSetMode::Append,
                        MetaSetMode::Prepend,
                    ][usize::from(op % 5)];
                    let ms = MetaSet {
                        mode,
                        compare_cas: (e & 1 == 1).then_some(u64::from(e >> 2)),
                        invalidate: e & 2 == 2,
                        explicit_cas: None,
                        vivify_on_miss: (e & 4 == 4).then_some(exptime(e)),
                    };
                    let form = if e & 0x40 != 0 { KeyForm::Binary } else { KeyForm::Text };
                    let _ = store.meta_set_keyed(&key, form, value, 0, exptime(e), now, &ms);
                } else {
                    let _ = store.set(
                        &key,
                        value,
                        u32::from(e),
                        exptime(e),
                        now,
                        modes[usize::from(op % 6)],
                    );
                }
            }
            6 | 7 => {
                if let Some(got) = store.get(&key, now, |i| i.key().to_vec()) {
                    assert_eq!(got, key);
                }
            }
            8 => {
                store.delete(&key, now);
            }
            9 | 10 => {
                let Some(d) = inp.u64() else { break };
                let arith = if op % 2 == 0 { ArithOp::Incr } else { ArithOp::Decr };
                let _ = store.incr_decr(&key, d, arith, now);
            }
            11 => {
                let Some(e) = inp.byte() else { break };
                store.touch(&key, exptime(e), now);
            }
            12 => {
                let Some(e) = inp.byte() else { break };
                let opts = MetaGet {
                    vivify: (e & 1 == 1).then_some(30),
                    recache_below: (e & 2 == 2).then_some(50),
                    no_bump: e & 4 == 4,
                    touch: (e & 8 == 8).then_some(exptime(e >> 4)),
                };
                let form = if e & 0x40 != 0 { KeyForm::Binary } else { KeyForm::Text };
                store.meta_get_keyed(&key, form, &opts, now, |i| assert_eq!(i.key(), key));
            }
            13 => {
                let Some(e) = inp.byte() else { break };
                let md = MetaDelete {
                    invalidate: e & 1 == 1,
                    compare_cas: (e & 2 == 2).then_some(u64::from(e)),
                    new_ttl: Some(exptime(e)),
                    explicit_cas: None,
                };
                store.meta_delete(&key, now, &md);
            }
            14 => {
                let Some(e) = inp.byte() else { break };
                let ma = MetaArith {
                    vivify: (e & 1 == 1).then_some(exptime(e >> 1)),
                    initial: u64::from(e),
                    ..MetaArith::default()
                };
                let form = if e & 0x80 != 0 { KeyForm::Binary } else { KeyForm::Text };
                let _ = store.meta_arith_keyed(&key, form, &ma, now);
            }
            15 => now += u32::from(k % 4),
            16 => match k % 4 {
                0 => store.flush_all(i64::from(k % 3), now),
                1 => {
                    store.reclaim_expired(now, usize::from(k));
                }
                2 => {
                    store.automove_tick(now, k & 8 == 8);
                }
                _ => {
                    let _ = store.slabs_reassign(i32::from(k % 12) - 1, u32::from(k >> 4), now);
                }
            },
            _ => {
                let _ = (
                    store.stats(),
                    store.slab_stats(),
                    store.item_stats(now),
                    store.cachedump(u32::from(k % 12), 5, now),
                );
            }
        }
        if let Err(e) = store.check_integrity() {
            panic!("integrity after op {op}: {e}");
        }
        assert!(store.stats().total_malloced <= limit);
    }
});
