//! Model-based property test: random operation sequences against a plain `HashMap` oracle.
//!
//! Invariants after every step: `check_integrity()` holds, page memory never exceeds the limit,
//! and a value read back is exactly the last one written (or absent because it expired, or —
//! only once the store has evicted something — because it was evicted), never a wrong one.

use std::collections::HashMap;

use memcached_store::*;
use proptest::prelude::*;

const T0: u32 = 1_700_000_000;

#[derive(Debug, Clone)]
enum Op {
    Set(u8, u16, u32, i8),
    Add(u8, u16, i8),
    Replace(u8, u16),
    Append(u8, u16),
    Prepend(u8, u16),
    Cas(u8, u16, bool),
    SetNumber(u8, u8),
    Get(u8),
    Delete(u8),
    Incr(u8, u64),
    Decr(u8, u64),
    Touch(u8, i8),
    Gat(u8, i8),
    FlushNow,
    Tick(u8),
    Reclaim(u16),
    Automove,
    Reassign(u8, u8),
}

fn op() -> impl Strategy<Value = Op> {
    let key = 0u8..24;
    let len = prop_oneof![0u16..200, 200u16..5000, Just(60_000u16)];
    let exp = prop_oneof![Just(0i8), 1i8..5, Just(-1i8)];
    prop_oneof![
        6 => (key.clone(), len.clone(), any::<u32>(), exp.clone()).prop_map(|(k, l, f, e)| Op::Set(k, l, f, e)),
        2 => (key.clone(), len.clone(), exp.clone()).prop_map(|(k, l, e)| Op::Add(k, l, e)),
        2 => (key.clone(), len.clone()).prop_map(|(k, l)| Op::Replace(k, l)),
        2 => (key.clone(), len.clone()).prop_map(|(k, l)| Op::Append(k, l)),
        2 => (key.clone(), len.clone()).prop_map(|(k, l)| Op::Prepend(k, l)),
        2 => (key.clone(), len.clone(), any::<bool>()).prop_map(|(k, l, ok)| Op::Cas(k, l, ok)),
        2 => (key.clone(), 0u8..6).prop_map(|(k, n)| Op::SetNumber(k, n)),
        8 => key.clone().prop_map(Op::Get),
        2 => key.clone().prop_map(Op::Delete),
        2 => (key.clone(), prop_oneof![Just(1u64), Just(u64::MAX), 0u64..1000]).prop_map(|(k, d)| Op::Incr(k, d)),
        2 => (key.clone(), prop_oneof![Just(1u64), Just(u64::MAX), 0u64..1000]).prop_map(|(k, d)| Op::Decr(k, d)),
        1 => (key.clone(), exp.clone()).prop_map(|(k, e)| Op::Touch(k, e)),
        1 => (key.clone(), exp).prop_map(|(k, e)| Op::Gat(k, e)),
        1 => Just(Op::FlushNow),
        2 => (0u8..4).prop_map(Op::Tick),
        1 => (1u16..2000).prop_map(Op::Reclaim),
        1 => Just(Op::Automove),
        1 => (1u8..20, 1u8..20).prop_map(|(a, b)| Op::Reassign(a, b)),
    ]
}

#[derive(Debug, Clone)]
struct Entry {
    value: Vec<u8>,
    flags: u32,
    exptime: u32,
    cas: u64,
}

struct Model {
    items: HashMap<Vec<u8>, Entry>,
    now: u32,
}

impl Model {
    fn live(&mut self, key: &[u8]) -> Option<&mut Entry> {
        let now = self.now;
        if self.items.get(key).is_some_and(|e| e.exptime != 0 && e.exptime <= now) {
            self.items.remove(key);
        }
        self.items.get_mut(key)
    }
}

fn key_of(k: u8) -> Vec<u8> {
    format!("key:{k}").into_bytes()
}

fn value_of(len: u16, salt: u32) -> Vec<u8> {
    (0..len as u32).map(|i| (i.wrapping_mul(31).wrapping_add(salt) % 251) as u8).collect()
}

fn parse(v: &[u8]) -> Option<u64> {
    let space = |b: &u8| b" \t\n\r\x0b\x0c".contains(b);
    let start = v.iter().position(|b| !space(b))?;
    let t = &v[start..];
    let n = t.iter().take_while(|b| b.is_ascii_digit()).count();
    if n == 0 || (n < t.len() && !space(&t[n])) {
        return None;
    }
    std::str::from_utf8(&t[..n]).ok()?.parse().ok()
}

fn lossy(s: &Store) -> bool {
    let st = s.stats();
    st.evictions + st.slab_reassign_evictions_nomem > 0
}

fn run(config: StoreConfig, ops: Vec<Op>) -> Result<(), TestCaseError> {
    let limit = config.memory_limit_bytes;
    let cas_on = config.cas_enabled;
    let s = Store::with_seed(config, 42).unwrap();
    let mut m = Model { items: HashMap::new(), now: T0 };
    let mut salt = 0u32;
    for op in ops {
        salt += 1;
        let now = m.now;
        match op {
            Op::Set(k, len, flags, e) => {
                let (key, value) = (key_of(k), value_of(len, salt));
                match s.set(&key, &value, flags, e.into(), now, SetMode::Set) {
                    Ok(r) => {
                        prop_assert_eq!(r.outcome, StoreOutcome::Stored);
                        let exptime = absolute_exptime(e.into(), now);
                        m.items.insert(key, Entry { value, flags, exptime, cas: r.cas });
                    }
                    Err(StoreError::TooLarge | StoreError::OutOfMemory) => {
                        m.items.remove(&key);
                    }
                    Err(e) => prop_assert!(false, "{e:?}"),
                }
            }
            Op::Add(k, len, e) => {
                let (key, value) = (key_of(k), value_of(len, salt));
                let present = m.live(&key).is_some();
                match s.set(&key, &value, 0, e.into(), now, SetMode::Add) {
                    Ok(r) if r.outcome == StoreOutcome::Stored => {
                        prop_assert!(!present || lossy(&s));
                        m.items.insert(
                            key,
                            Entry {
                                value,
                                flags: 0,
                                exptime: absolute_exptime(e.into(), now),
                                cas: r.cas,
                            },
                        );
                    }
                    Ok(r) => {
                        prop_assert_eq!(r.outcome, StoreOutcome::NotStored);
                        prop_assert!(present);
                    }
                    Err(_) => {}
                }
            }
            Op::Replace(k, len) | Op::Append(k, len) | Op::Prepend(k, len) => {
                let (key, value) = (key_of(k), value_of(len, salt));
                let mode = match op {
                    Op::Replace(..) => SetMode::Replace,
                    Op::Append(..) => SetMode::Append,
                    _ => SetMode::Prepend,
                };
                let old = m.live(&key).cloned();
                match s.set(&key, &value, 7, 0, now, mode) {
                    Ok(r) if r.outcome == StoreOutcome::Stored => {
                        let old =
                            old.ok_or_else(|| TestCaseError::fail("stored without an old item"))?;
                        let e = match mode {
                            SetMode::Replace => Entry { value, flags: 7, exptime: 0, cas: r.cas },
                            SetMode::Append => {
                                Entry { value: [old.value, value].concat(), cas: r.cas, ..old }
                            }
                            _ => Entry { value: [value, old.value].concat(), cas: r.cas, ..old },
                        };
                        m.items.insert(key, e);
                    }
                    Ok(r) => {
                        prop_assert_eq!(r.outcome, StoreOutcome::NotStored);
                        // Missing, evicted, or the concatenation is too large / out of memory.
                        if old.is_some() && mode == SetMode::Replace {
                            prop_assert!(lossy(&s));
                        }
                        if old.is_some() && !lossy(&s) {
                            // Only a too-large concatenation is refused; the old item stays.
                        }
                    }
                    // Only a failed `set` drops the old item (memcached does the same).
                    Err(_) => {}
                }
            }
            Op::Cas(k, len, ok) => {
                let (key, value) = (key_of(k), value_of(len, salt));
                let old = m.live(&key).cloned();
                let unique = old.as_ref().map_or(12345, |e| if ok { e.cas } else { e.cas + 1 });
                // An error (out of memory) keeps the old item.
                if let Ok(r) = s.set(&key, &value, 3, 0, now, SetMode::Cas(unique)) {
                    match r.outcome {
                        StoreOutcome::Stored => {
                            prop_assert!(old.is_some() && ok && cas_on);
                            m.items.insert(key, Entry { value, flags: 3, exptime: 0, cas: r.cas });
                        }
                        // With -C (no CAS) memcached answers EXISTS to every cas on an item.
                        StoreOutcome::Exists => prop_assert!(old.is_some() && (!ok || !cas_on)),
                        StoreOutcome::NotFound => {
                            prop_assert!(old.is_none() || lossy(&s));
                            m.items.remove(&key);
                        }
                        StoreOutcome::NotStored => prop_assert!(false, "cas gave NotStored"),
                    }
                }
            }
            Op::SetNumber(k, n) => {
                let key = key_of(k);
                let value = [&b"0"[..], b"5", b"18446744073709551615", b"abc", b" 12", b"99"]
                    [n as usize]
                    .to_vec();
                match s.set(&key, &value, 0, 0, now, SetMode::Set) {
                    Ok(r) => {
                        m.items.insert(key, Entry { value, flags: 0, exptime: 0, cas: r.cas });
                    }
                    Err(StoreError::OutOfMemory) => {
                        m.items.remove(&key);
                    }
                    Err(e) => prop_assert!(false, "{e:?}"),
                }
            }
            Op::Incr(k, d) | Op::Decr(k, d) => {
                let key = key_of(k);
                let incr = matches!(op, Op::Incr(..));
                let arith = if incr { ArithOp::Incr } else { ArithOp::Decr };
                let old = m.live(&key).cloned();
                match s.incr_decr(&key, d, arith, now) {
                    Ok(ArithOutcome::NotFound) => {
                        prop_assert!(old.is_none() || lossy(&s));
                        m.items.remove(&key);
                    }
                    Ok(ArithOutcome::Value { value, cas, .. }) => {
                        let old =
                            old.ok_or_else(|| TestCaseError::fail("incr on a missing item"))?;
                        let n = parse(&old.value)
                            .ok_or_else(|| TestCaseError::fail("numeric by store, not model"))?;
                        let expect = if incr { n.wrapping_add(d) } else { n.saturating_sub(d) };
                        prop_assert_eq!(value, expect);
                        let mut digits = expect.to_string().into_bytes();
                        if digits.len() <= old.value.len() {
                            digits.resize(old.value.len(), b' ');
                        }
                        m.items.insert(key, Entry { value: digits, cas, ..old });
                    }
                    Err(StoreError::NonNumeric) => {
                        let old = old
                            .ok_or_else(|| TestCaseError::fail("non-numeric on a missing item"))?;
                        prop_assert!(parse(&old.value).is_none());
                    }
                    Err(StoreError::OutOfMemory) => {}
                    other => prop_assert!(false, "{other:?}"),
                }
            }
            Op::Get(k) => {
                let key = key_of(k);
                let got =
                    s.get(&key, now, |i| (i.value().to_vec(), i.flags(), i.exptime(), i.cas()));
                let want = m.live(&key).cloned();
                match (got, want) {
                    (Some(g), Some(w)) => {
                        prop_assert!(
                            g.0 == w.value,
                            "value of {} bytes, model {} bytes",
                            g.0.len(),
                            w.value.len()
                        );
                        prop_assert_eq!((g.1, g.2, g.3), (w.flags, w.exptime, w.cas));
                    }
                    (Some(g), None) => {
                        prop_assert!(false, "store has {} bytes, model has nothing", g.0.len())
                    }
                    (None, Some(_)) => {
                        prop_assert!(lossy(&s), "item lost without eviction");
                        m.items.remove(&key);
                    }
                    (None, None) => {}
                }
            }
            Op::Delete(k) => {
                let key = key_of(k);
                let present = m.live(&key).is_some();
                let r = s.delete(&key, now);
                prop_assert!(r == DeleteOutcome::Deleted || !present || lossy(&s));
                prop_assert!(r == DeleteOutcome::NotFound || present);
                m.items.remove(&key);
            }
            Op::Touch(k, e) | Op::Gat(k, e) => {
                let key = key_of(k);
                let present = m.live(&key).is_some();
                let touched = if matches!(op, Op::Touch(..)) {
                    s.touch(&key, e.into(), now) == TouchOutcome::Touched
                } else {
                    s.gat(&key, e.into(), now, |_| ()).is_some()
                };
                prop_assert!(!touched || present);
                if touched {
                    if let Some(entry) = m.items.get_mut(&key) {
                        entry.exptime = absolute_exptime(e.into(), now);
                    }
                } else {
                    prop_assert!(!present || lossy(&s));
                    m.items.remove(&key);
                }
            }
            Op::FlushNow => {
                s.flush_all(0, now);
                m.items.clear();
                // Without CAS (-C) memcached's flush also hides items stored later in the same
                // second; step the clock so the model needs no such rule.
                m.now += 1;
            }
            Op::Tick(d) => m.now += u32::from(d),
            Op::Reclaim(budget) => {
                s.reclaim_expired(now, budget.into());
            }
            Op::Automove => {
                s.automove_tick(now, true);
            }
            Op::Reassign(a, b) => {
                let _ = s.slabs_reassign(a.into(), b.into(), now);
            }
        }
        if let Err(e) = s.check_integrity() {
            prop_assert!(false, "integrity: {}", e);
        }
        prop_assert!(s.stats().total_malloced <= limit);
    }
    Ok(())
}

proptest! {
    // 40 cases by default (CI time); PROPTEST_CASES=n for a longer run.
    #![proptest_config(ProptestConfig {
        cases: std::env::var("PROPTEST_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(40),
        ..ProptestConfig::default()
    })]

    /// Plenty of memory: nothing may ever be lost, every read is exact.
    #[test]
    fn roomy_store_matches_the_model(ops in proptest::collection::vec(op(), 1..150)) {
        let cfg = StoreConfig { memory_limit_bytes: 16 * MIB as u64, page_size: 256 * 1024, item_size_max: 256 * 1024, shards: 2, ..Default::default() };
        run(cfg, ops)?;
    }

    /// Tight memory (8 pages of 128 KiB, 1 shard): eviction and page moves happen; reads are
    /// still never wrong.
    #[test]
    fn tight_store_never_returns_a_wrong_value(ops in proptest::collection::vec(op(), 1..250)) {
        let cfg = StoreConfig { memory_limit_bytes: MIB as u64, page_size: 128 * 1024, item_size_max: 128 * 1024, shards: 1, ..Default::default() };
        run(cfg, ops)?;
    }

    /// Tight memory over two shards: pages also move between shards.
    #[test]
    fn tight_two_shard_store_never_returns_a_wrong_value(ops in proptest::collection::vec(op(), 1..250)) {
        let cfg = StoreConfig { memory_limit_bytes: MIB as u64, page_size: 128 * 1024, item_size_max: 128 * 1024, shards: 2, ..Default::default() };
        run(cfg, ops)?;
    }

    /// No eviction (-M), no CAS (-C).
    #[test]
    fn no_evict_no_cas_store_never_returns_a_wrong_value(ops in proptest::collection::vec(op(), 1..200)) {
        let cfg = StoreConfig { memory_limit_bytes: MIB as u64, page_size: 128 * 1024, item_size_max: 128 * 1024, evict: false, cas_enabled: false, shards: 1, ..Default::default() };
        run(cfg, ops)?;
    }
}
