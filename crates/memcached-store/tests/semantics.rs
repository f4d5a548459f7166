//! Black-box tests of the store's memcached semantics.

use std::collections::HashSet;

use memcached_store::*;

const NOW: u32 = 1_700_000_000;

fn small(mb: u64) -> StoreConfig {
    StoreConfig { memory_limit_bytes: mb * MIB as u64, shards: 1, ..Default::default() }
}

fn store() -> Store {
    Store::with_seed(small(4), 1).unwrap()
}

fn get(s: &Store, key: &[u8], now: u32) -> Option<Vec<u8>> {
    s.get(key, now, |i| i.value().to_vec())
}

fn set(s: &Store, key: &[u8], value: &[u8], exptime: i64, now: u32) -> SetResult {
    s.set(key, value, 0, exptime, now, SetMode::Set).unwrap()
}

#[test]
fn exptime_zero_relative_absolute_negative() {
    let s = store();
    set(&s, b"never", b"v", 0, NOW);
    set(&s, b"rel", b"v", 10, NOW);
    set(&s, b"neg", b"v", -1, NOW);
    set(&s, b"abs_future", b"v", i64::from(NOW) + 100, NOW);
    set(&s, b"abs_past", b"v", i64::from(NOW) - 100, NOW);
    // 30 days + 1 is an absolute time long past.
    set(&s, b"just_over", b"v", REALTIME_MAXDELTA + 1, NOW);
    set(&s, b"thirty_days", b"v", REALTIME_MAXDELTA, NOW);
    assert!(get(&s, b"never", NOW + 100_000_000).is_some());
    assert!(get(&s, b"rel", NOW + 9).is_some());
    assert!(get(&s, b"rel", NOW + 10).is_none());
    assert!(get(&s, b"neg", NOW).is_none());
    assert!(get(&s, b"abs_future", NOW + 99).is_some());
    assert!(get(&s, b"abs_future", NOW + 100).is_none());
    assert!(get(&s, b"abs_past", NOW).is_none());
    assert!(get(&s, b"just_over", NOW).is_none());
    assert!(get(&s, b"thirty_days", NOW + 2_591_999).is_some());
    let st = s.stats();
    assert_eq!(st.get_expired, 5);
    assert_eq!(st.curr_items, 2);
    s.check_integrity().unwrap();
}

#[test]
fn item_ref_reports_metadata() {
    let s = store();
    s.set(b"k", b"hello", 0xdead_beef, 100, NOW, SetMode::Set).unwrap();
    let (ttl, fetched, flags) =
        s.get(b"k", NOW + 10, |i| (i.ttl(NOW + 10), i.fetched_before(), i.flags())).unwrap();
    assert_eq!((ttl, fetched, flags), (90, false, 0xdead_beef));
    let (last, fetched) =
        s.get(b"k", NOW + 15, |i| (i.seconds_since_access(NOW + 15), i.fetched_before())).unwrap();
    assert_eq!((last, fetched), (5, true));
    let before = s.stats();
    assert_eq!(s.peek(b"k", NOW + 20, |i| i.seconds_since_access(NOW + 20)), Some(5));
    assert_eq!(s.stats().cmd_get, before.cmd_get, "peek is not a get");
    let never = set(&s, b"n", b"x", 0, NOW);
    assert!(never.cas > 0);
    assert_eq!(s.get(b"n", NOW, |i| (i.ttl(NOW), i.cas(), i.class_id())), Some((-1, never.cas, 1)));
}

#[test]
fn cas_semantics_and_uniqueness() {
    let s = store();
    let r = set(&s, b"k", b"v1", 0, NOW);
    let ok = s.set(b"k", b"v2", 0, 0, NOW, SetMode::Cas(r.cas)).unwrap();
    assert_eq!(ok.outcome, StoreOutcome::Stored);
    assert_ne!(ok.cas, r.cas);
    let stale = s.set(b"k", b"v3", 0, 0, NOW, SetMode::Cas(r.cas)).unwrap();
    assert_eq!(stale.outcome, StoreOutcome::Exists);
    let missing = s.set(b"nope", b"v", 0, 0, NOW, SetMode::Cas(1)).unwrap();
    assert_eq!(missing.outcome, StoreOutcome::NotFound);
    assert_eq!(get(&s, b"k", NOW).unwrap(), b"v2");
    let st = s.stats();
    assert_eq!((st.cas_hits, st.cas_badval, st.cas_misses), (1, 1, 1));

    // Unique across keys and shards.
    let multi = Store::new(StoreConfig::default()).unwrap();
    let mut seen = HashSet::new();
    for i in 0..10_000 {
        let r = multi.set(format!("key{i}").as_bytes(), b"v", 0, 0, NOW, SetMode::Set).unwrap();
        assert!(seen.insert(r.cas), "duplicate cas {}", r.cas);
    }
}

#[test]
fn cas_disabled_stores_zero_and_saves_eight_bytes() {
    let on = store();
    let off = Store::with_seed(StoreConfig { cas_enabled: false, ..small(4) }, 1).unwrap();
    let r = off.set(b"k", b"v", 0, 0, NOW, SetMode::Set).unwrap();
    assert_eq!(r.cas, 0);
    assert_eq!(off.get(b"k", NOW, |i| i.cas()), Some(0));
    set(&on, b"k", b"v", 0, NOW);
    let size = |s: &Store| s.get(b"k", NOW, |i| i.item_size()).unwrap();
    assert_eq!(size(&on) - size(&off), 8);
}

#[test]
fn add_replace_append_prepend() {
    let s = store();
    assert_eq!(s.set(b"k", b"a", 5, 0, NOW, SetMode::Add).unwrap().outcome, StoreOutcome::Stored);
    assert_eq!(
        s.set(b"k", b"b", 0, 0, NOW, SetMode::Add).unwrap().outcome,
        StoreOutcome::NotStored
    );
    assert_eq!(
        s.set(b"x", b"b", 0, 0, NOW, SetMode::Replace).unwrap().outcome,
        StoreOutcome::NotStored
    );
    assert_eq!(
        s.set(b"x", b"b", 0, 0, NOW, SetMode::Append).unwrap().outcome,
        StoreOutcome::NotStored
    );
    assert_eq!(
        s.set(b"x", b"b", 0, 0, NOW, SetMode::Prepend).unwrap().outcome,
        StoreOutcome::NotStored
    );
    assert!(get(&s, b"x", NOW).is_none());
    s.set(b"k", b"tail", 9, 1000, NOW, SetMode::Append).unwrap();
    s.set(b"k", b"head", 9, 1000, NOW, SetMode::Prepend).unwrap();
    // Flags and exptime of append/prepend are ignored.
    assert_eq!(
        s.get(b"k", NOW, |i| (i.value().to_vec(), i.flags(), i.exptime())),
        Some((b"headatail".to_vec(), 5, 0))
    );
    // Growing across classes keeps the item.
    let big = vec![b'z'; 5000];
    s.set(b"k", &big, 0, 0, NOW, SetMode::Append).unwrap();
    assert_eq!(get(&s, b"k", NOW).unwrap().len(), 9 + 5000);
    assert_eq!(
        s.set(b"k", b"r", 1, 0, NOW, SetMode::Replace).unwrap().outcome,
        StoreOutcome::Stored
    );
    assert_eq!(get(&s, b"k", NOW).unwrap(), b"r");
    s.check_integrity().unwrap();
}

#[test]
fn incr_decr_edge_cases() {
    let s = store();
    let val = |o: ArithOutcome| match o {
        ArithOutcome::Value { value, .. } => value,
        other => panic!("{other:?}"),
    };
    assert_eq!(s.incr_decr(b"none", 1, ArithOp::Incr, NOW).unwrap(), ArithOutcome::NotFound);
    set(&s, b"n", b"18446744073709551615", 0, NOW);
    assert_eq!(val(s.incr_decr(b"n", 2, ArithOp::Incr, NOW).unwrap()), 1, "incr wraps at 2^64");
    // The shorter result is padded with spaces to the old length, in place (as memcached).
    assert_eq!(get(&s, b"n", NOW).unwrap(), b"1                   ");
    assert_eq!(val(s.incr_decr(b"n", 5, ArithOp::Decr, NOW).unwrap()), 0, "decr stops at 0");
    set(&s, b"m", b"99", 0, NOW);
    assert_eq!(val(s.incr_decr(b"m", 1, ArithOp::Incr, NOW).unwrap()), 100);
    assert_eq!(get(&s, b"m", NOW).unwrap(), b"100", "incr may lengthen the value");
    assert_eq!(val(s.incr_decr(b"m", 1, ArithOp::Decr, NOW).unwrap()), 99);
    assert_eq!(get(&s, b"m", NOW).unwrap(), b"99 ");
    assert_eq!(val(s.incr_decr(b"m", 1, ArithOp::Incr, NOW).unwrap()), 100);
    set(&s, b"t", b"10", 0, NOW);
    assert_eq!(val(s.incr_decr(b"t", 1, ArithOp::Decr, NOW).unwrap()), 9);
    assert_eq!(get(&s, b"t", NOW).unwrap(), b"9 ");
    for bad in [&b"abc"[..], b"12abc", b"", b"   ", b"-5", b"99999999999999999999"] {
        set(&s, b"bad", bad, 0, NOW);
        assert_eq!(
            s.incr_decr(b"bad", 1, ArithOp::Incr, NOW),
            Err(StoreError::NonNumeric),
            "{bad:?}"
        );
    }
    set(&s, b"sp", b" 7", 0, NOW);
    assert_eq!(val(s.incr_decr(b"sp", 1, ArithOp::Incr, NOW).unwrap()), 8);
    // The cas changes on every incr.
    let c1 = s.get(b"sp", NOW, |i| i.cas()).unwrap();
    s.incr_decr(b"sp", 1, ArithOp::Incr, NOW).unwrap();
    assert_ne!(s.get(b"sp", NOW, |i| i.cas()).unwrap(), c1);
    let st = s.stats();
    assert_eq!(st.incr_misses, 1);
    assert!(st.incr_hits >= 4 && st.decr_hits == 3);
    s.check_integrity().unwrap();
}

#[test]
fn flush_all_now_and_with_delay() {
    let s = store();
    set(&s, b"a", b"1", 0, NOW);
    s.flush_all(0, NOW);
    assert!(get(&s, b"a", NOW).is_none());
    set(&s, b"b", b"2", 0, NOW);
    assert!(get(&s, b"b", NOW).is_some(), "an item stored after the flush, same second, survives");
    assert_eq!(s.stats().get_flushed, 1);

    let s = store();
    set(&s, b"a", b"1", 0, NOW);
    s.flush_all(10, NOW);
    // As in memcached 1.6.18 with CAS on, the horizon is `now + delay - 1`.
    assert!(get(&s, b"a", NOW + 8).is_some());
    set(&s, b"c", b"3", 0, NOW + 5);
    assert!(get(&s, b"a", NOW + 10).is_none());
    assert!(get(&s, b"c", NOW + 10).is_none(), "stored before the flush moment");
    set(&s, b"d", b"4", 0, NOW + 11);
    assert!(get(&s, b"d", NOW + 12).is_some());
    assert_eq!(s.stats().cmd_flush, 1);
    s.check_integrity().unwrap();
}

#[test]
fn touch_and_gat() {
    let s = store();
    set(&s, b"k", b"v", 10, NOW);
    assert_eq!(s.touch(b"k", 100, NOW), TouchOutcome::Touched);
    assert_eq!(s.touch(b"x", 100, NOW), TouchOutcome::NotFound);
    assert!(get(&s, b"k", NOW + 50).is_some());
    assert_eq!(s.gat(b"k", 5, NOW + 50, |i| i.exptime()), Some(NOW + 55));
    assert!(get(&s, b"k", NOW + 55).is_none());
    assert!(s.gat(b"x", 5, NOW, |_| ()).is_none());
    let st = s.stats();
    assert_eq!((st.cmd_touch, st.touch_hits, st.touch_misses), (4, 2, 2));
}

#[test]
fn delete_and_too_large() {
    let s = store();
    set(&s, b"k", b"v", 0, NOW);
    assert_eq!(s.delete(b"k", NOW), DeleteOutcome::Deleted);
    assert_eq!(s.delete(b"k", NOW), DeleteOutcome::NotFound);
    set(&s, b"k", b"v", 0, NOW);
    let huge = vec![0u8; MIB];
    assert_eq!(s.set(b"k", &huge, 0, 0, NOW, SetMode::Set), Err(StoreError::TooLarge));
    assert!(get(&s, b"k", NOW).is_none(), "a failed set removes the old value");
    // The largest item that fits: header + key + value = item_size_max.
    let max = vec![1u8; MIB - 14 - 8 - 3];
    assert_eq!(s.set(b"big", &max, 0, 0, NOW, SetMode::Set).unwrap().outcome, StoreOutcome::Stored);
    assert_eq!(get(&s, b"big", NOW).unwrap().len(), max.len());
    assert_eq!(s.set(&[b'k'; 251], b"v", 0, 0, NOW, SetMode::Set), Err(StoreError::BadKey));
    assert_eq!(s.stats().store_too_large, 1);
    s.check_integrity().unwrap();
}

#[test]
fn eviction_keeps_memory_bounded_and_counts() {
    let s = Store::with_seed(small(2), 3).unwrap();
    let v = [7u8; 100];
    for i in 0..100_000u32 {
        s.set(format!("key{i:07}").as_bytes(), &v, 0, 0, NOW, SetMode::Set).unwrap();
    }
    let st = s.stats();
    assert!(st.evictions > 0);
    assert_eq!(st.evicted_unfetched, st.evictions);
    assert!(st.total_malloced <= 2 * MIB as u64);
    assert_eq!(st.curr_items + st.evictions, 100_000);
    // The newest items survive.
    assert!(get(&s, b"key0099999", NOW).is_some());
    s.check_integrity().unwrap();
}

#[test]
fn clock_spares_items_that_are_read() {
    let s = Store::with_seed(small(2), 3).unwrap();
    let v = [7u8; 100];
    for i in 0..1000u32 {
        s.set(format!("hot{i}").as_bytes(), &v, 0, 0, NOW, SetMode::Set).unwrap();
    }
    for round in 0..40u32 {
        for i in 0..1000u32 {
            assert!(
                get(&s, format!("hot{i}").as_bytes(), NOW).is_some(),
                "hot{i} evicted in round {round}"
            );
        }
        for i in 0..1000u32 {
            s.set(format!("cold{round}_{i}").as_bytes(), &v, 0, 0, NOW, SetMode::Set).unwrap();
        }
    }
    assert!(s.stats().evictions > 0);
}

#[test]
fn no_evict_mode_refuses_with_out_of_memory() {
    let s = Store::with_seed(StoreConfig { evict: false, ..small(2) }, 1).unwrap();
    let v = [1u8; 100];
    let mut stored = 0u32;
    let mut err = None;
    for i in 0..100_000u32 {
        match s.set(format!("key{i:07}").as_bytes(), &v, 0, 0, NOW, SetMode::Set) {
            Ok(_) => stored += 1,
            Err(e) => {
                err = Some(e);
                break;
            }
        }
    }
    assert_eq!(err, Some(StoreError::OutOfMemory));
    assert_eq!(s.stats().evictions, 0);
    for i in 0..stored {
        assert!(get(&s, format!("key{i:07}").as_bytes(), NOW).is_some());
    }
    // Overwriting an item in its own class still works (in place).
    assert!(s.set(b"key0000000", &v, 0, 0, NOW, SetMode::Set).is_ok());
    // Expired items are reclaimed even with -M (by the reclaimer; a store only looks near
    // the CLOCK hand, as memcached only looks at the LRU tail).
    s.set(b"key0000001", &v, 0, -1, NOW, SetMode::Set).unwrap();
    let mut reclaimed = 0;
    while reclaimed == 0 {
        reclaimed = s.reclaim_expired(NOW, 10_000).reclaimed;
    }
    assert!(s.set(b"fresh", &v, 0, 0, NOW, SetMode::Set).is_ok());
    assert_eq!(s.stats().store_no_memory, 1);
    s.check_integrity().unwrap();
}

#[test]
fn rebalancing_follows_a_shifting_workload() {
    let s = Store::with_seed(small(8), 5).unwrap();
    let small_v = [1u8; 100];
    for i in 0..200_000u32 {
        s.set(format!("s{i}").as_bytes(), &small_v, 0, 0, NOW, SetMode::Set).unwrap();
    }
    let small_class = s.get(b"s199999", NOW, |i| i.class_id()).unwrap();
    // The workload moves to 4 KiB values, 100 s later.
    let large_v = [2u8; 4000];
    let mut now = NOW + 100;
    let mut moves = 0;
    for round in 0..40u32 {
        for i in 0..500u32 {
            s.set(format!("l{round}_{i}").as_bytes(), &large_v, 0, 0, now, SetMode::Set).unwrap();
        }
        moves += s.automove_tick(now, false).len();
        now += 1;
    }
    let large_class = s.get(b"l39_499", now, |i| i.class_id()).unwrap();
    let slabs = s.slab_stats();
    let pages = |id: u32| slabs.classes.iter().find(|c| c.id == id).map_or(0, |c| c.total_pages);
    assert!(moves >= 5, "automove moved {moves} pages");
    assert!(pages(large_class) >= 6, "large class has {} pages", pages(large_class));
    assert!(pages(small_class) < 8);
    // Recent large items are held.
    let held =
        (0..500u32).filter(|i| get(&s, format!("l39_{i}").as_bytes(), now).is_some()).count();
    assert_eq!(held, 500);
    s.check_integrity().unwrap();
}

#[test]
fn slabs_reassign_moves_one_page() {
    let s = Store::with_seed(small(4), 5).unwrap();
    for i in 0..100_000u32 {
        s.set(format!("s{i}").as_bytes(), &[1u8; 100], 0, 0, NOW, SetMode::Set).unwrap();
    }
    let pages =
        |id: u32| s.slab_stats().classes.iter().find(|c| c.id == id).map_or(0, |c| c.total_pages);
    assert_eq!(pages(4), 4);
    let m = s.slabs_reassign(4, 10, NOW).unwrap();
    assert_eq!((m.src, m.dst), (4, 10));
    assert!(m.evicted > 7000);
    assert_eq!((pages(4), pages(10)), (3, 1));
    assert_eq!(s.slabs_reassign(-1, 10, NOW).unwrap().src, 4);
    assert_eq!(s.slabs_reassign(4, 11, NOW).unwrap().src, 4);
    assert_eq!(s.slabs_reassign(4, 11, NOW), Err(ReassignError::NoSpare));
    let now = NOW;
    assert_eq!(s.slabs_reassign(3, 3, now), Err(ReassignError::Same));
    assert_eq!(s.slabs_reassign(0, 3, now), Err(ReassignError::BadClass));
    assert_eq!(s.slabs_reassign(1, 99, now), Err(ReassignError::BadClass));
    assert_eq!(s.slabs_reassign(30, 3, now), Err(ReassignError::NoSpare));
    s.check_integrity().unwrap();
}

#[test]
fn a_starved_class_takes_a_page_inline() {
    // All memory in one class; a different size still gets stored (memcached would say
    // "out of memory" until automove runs).
    let s = Store::with_seed(small(2), 5).unwrap();
    for i in 0..50_000u32 {
        s.set(format!("s{i}").as_bytes(), &[1u8; 100], 0, 0, NOW, SetMode::Set).unwrap();
    }
    assert_eq!(
        s.set(b"large", &[2u8; 3000], 0, 0, NOW, SetMode::Set).unwrap().outcome,
        StoreOutcome::Stored
    );
    assert!(get(&s, b"large", NOW).is_some());
    assert!(s.stats().slabs_moved >= 1);
    s.check_integrity().unwrap();
}

/// Keys (with a prefix) that land in shard `shard`.
fn keys_in_shard<'a>(
    s: &'a Store,
    prefix: &str,
    shard: usize,
) -> impl Iterator<Item = String> + 'a {
    let prefix = prefix.to_owned();
    (0u32..).map(move |i| format!("{prefix}{i}")).filter(move |k| s.shard_of(k.as_bytes()) == shard)
}

#[test]
fn a_class_without_pages_takes_the_last_page_of_another_class() {
    // Two pages, one per class, none to spare: a third size must still be stored (evicting
    // the donor class), never "out of memory".
    let s = Store::with_seed(small(2), 5).unwrap();
    set(&s, b"small", &[1u8; 100], 0, NOW);
    set(&s, b"medium", &[2u8; 1000], 0, NOW);
    assert_eq!(s.stats().total_malloced, 2 * MIB as u64);
    for round in 0..4u8 {
        let r = s.set(b"big", &[round; 2500], 0, 0, NOW, SetMode::Set);
        assert_eq!(r.map(|r| r.outcome), Ok(StoreOutcome::Stored), "round {round}");
        assert_eq!(get(&s, b"big", NOW), Some(vec![round; 2500]));
        // And back: the class that gave its page away gets one again.
        let r = s.set(b"small", &[round; 100], 0, 0, NOW, SetMode::Set);
        assert_eq!(r.map(|r| r.outcome), Ok(StoreOutcome::Stored), "round {round}");
        s.check_integrity().unwrap();
    }
    assert_eq!(s.stats().total_malloced, 2 * MIB as u64);
}

#[test]
fn a_shard_without_pages_takes_the_last_page_of_another_shard() {
    // Both pages sit in shard 1, one per class; a set into shard 0 must still be stored.
    let s = Store::with_seed(StoreConfig { shards: 2, ..small(2) }, 5).unwrap();
    let mut in1 = keys_in_shard(&s, "one", 1);
    set(&s, in1.next().unwrap().as_bytes(), &[1u8; 100], 0, NOW);
    set(&s, in1.next().unwrap().as_bytes(), &[2u8; 1000], 0, NOW);
    let key0 = keys_in_shard(&s, "zero", 0).next().unwrap();
    let r = s.set(key0.as_bytes(), &[3u8; 2500], 0, 0, NOW, SetMode::Set);
    assert_eq!(r.map(|r| r.outcome), Ok(StoreOutcome::Stored));
    assert_eq!(get(&s, key0.as_bytes(), NOW), Some(vec![3u8; 2500]));
    s.check_integrity().unwrap();
}

#[test]
fn reclaimer_frees_expired_items_with_bounded_work() {
    let s = store();
    for i in 0..1000u32 {
        set(&s, format!("k{i}").as_bytes(), b"v", 10, NOW);
    }
    let r = s.reclaim_expired(NOW + 5, 100_000);
    assert_eq!(r.reclaimed, 0);
    let r = s.reclaim_expired(NOW + 10, 50);
    assert!(r.checked <= 50 && r.reclaimed <= 50);
    let mut total = r.reclaimed;
    for _ in 0..10_000 {
        total += s.reclaim_expired(NOW + 10, 5000).reclaimed;
        if total == 1000 {
            break;
        }
    }
    assert_eq!(total, 1000);
    let st = s.stats();
    assert_eq!(st.curr_items, 0);
    assert_eq!(st.crawler_reclaimed, 1000);
    assert_eq!(st.expired_unfetched, 1000);
    s.check_integrity().unwrap();
}

#[test]
fn meta_get_vivify_and_recache_wins() {
    let s = store();
    let opts = MetaGet { vivify: Some(30), ..Default::default() };
    let first = s.meta_get(b"k", &opts, NOW, |i| {
        (i.win(), i.win_already_sent(), i.created(), i.value().len(), i.ttl(NOW))
    });
    assert_eq!(first, Some((true, false, true, 0, 30)));
    let second = s.meta_get(b"k", &opts, NOW, |i| (i.win(), i.win_already_sent(), i.created()));
    assert_eq!(second, Some((false, true, false)));

    set(&s, b"r", b"ab", 100, NOW);
    let recache = MetaGet { recache_below: Some(200), ..Default::default() };
    assert_eq!(
        s.meta_get(b"r", &recache, NOW, |i| (i.win(), i.win_already_sent())),
        Some((true, false))
    );
    assert_eq!(
        s.meta_get(b"r", &recache, NOW, |i| (i.win(), i.win_already_sent())),
        Some((false, true))
    );

    // u: no bump; T: touch.
    set(&s, b"u", b"x", 0, NOW);
    let nb = MetaGet { no_bump: true, ..Default::default() };
    s.meta_get(b"u", &nb, NOW + 5, |_| ()).unwrap();
    assert_eq!(
        s.meta_get(b"u", &nb, NOW + 9, |i| (i.fetched_before(), i.seconds_since_access(NOW + 9))),
        Some((false, 9))
    );
    let t = MetaGet { touch: Some(50), ..Default::default() };
    let before = s.stats();
    assert_eq!(s.meta_get(b"u", &t, NOW + 10, |i| i.ttl(NOW + 10)), Some(50));
    let after = s.stats();
    assert_eq!(
        (after.cmd_get, after.cmd_touch, after.touch_hits),
        (before.cmd_get, before.cmd_touch + 1, before.touch_hits + 1)
    );
}

#[test]
fn meta_delete_invalidate_and_meta_set_stale() {
    let s = store();
    let c0 = set(&s, b"x", b"hi", 0, NOW).cas;
    let inval = MetaDelete { invalidate: true, ..Default::default() };
    assert_eq!(s.meta_delete(b"x", NOW, &inval), DeleteOutcome::Deleted);
    let g = |s: &Store| {
        s.meta_get(b"x", &MetaGet::default(), NOW, |i| {
            (i.cas(), i.stale(), i.win(), i.win_already_sent())
        })
    };
    let (c1, stale, win, z) = g(&s).unwrap();
    assert!(c1 != c0 && stale && win && !z);
    assert_eq!(g(&s).unwrap(), (c1, true, false, true));
    // ms I with an older CAS is accepted and stays stale.
    let ms = MetaSet { compare_cas: Some(c0), invalidate: true, ..Default::default() };
    let r = s.meta_set(b"x", b"yo", 0, 0, NOW, &ms).unwrap();
    assert_eq!(r.outcome, StoreOutcome::Stored);
    let (c2, stale, win, z) = g(&s).unwrap();
    assert!(c2 > c1 && stale && !win && z, "{c1} {:?}", (c2, stale, win, z));
    // Without I a stale CAS is refused; a CAS compare on delete too.
    let ms = MetaSet { compare_cas: Some(c0), ..Default::default() };
    assert_eq!(s.meta_set(b"x", b"no", 0, 0, NOW, &ms).unwrap().outcome, StoreOutcome::Exists);
    let md = MetaDelete { compare_cas: Some(1), ..Default::default() };
    assert_eq!(s.meta_delete(b"x", NOW, &md), DeleteOutcome::Exists);
    let md = MetaDelete { compare_cas: Some(c2), ..Default::default() };
    assert_eq!(s.meta_delete(b"x", NOW, &md), DeleteOutcome::Deleted);
    // ms modes: append on a miss is NS, set with C on a miss is NF.
    let ap = MetaSet { mode: MetaSetMode::Append, ..Default::default() };
    assert_eq!(s.meta_set(b"ap", b"zz", 0, 0, NOW, &ap).unwrap().outcome, StoreOutcome::NotStored);
    let c = MetaSet { compare_cas: Some(99), ..Default::default() };
    assert_eq!(s.meta_set(b"ap", b"zz", 0, 0, NOW, &c).unwrap().outcome, StoreOutcome::NotFound);
    let viv = MetaSet { mode: MetaSetMode::Append, vivify_on_miss: Some(0), ..Default::default() };
    assert_eq!(s.meta_set(b"ap", b"zz", 0, 0, NOW, &viv).unwrap().outcome, StoreOutcome::Stored);
    let e = MetaSet { explicit_cas: Some(777), ..Default::default() };
    assert_eq!(s.meta_set(b"e", b"v", 0, 0, NOW, &e).unwrap().cas, 777);
    s.check_integrity().unwrap();
}

#[test]
fn meta_arithmetic_vivify_cas_and_ttl() {
    let s = store();
    let ma = MetaArith { vivify: Some(0), initial: 5, ..Default::default() };
    assert!(matches!(
        s.meta_arith(b"n", &ma, NOW).unwrap(),
        ArithOutcome::Value { value: 5, created: true, .. }
    ));
    let ArithOutcome::Value { value, cas, .. } = s.meta_arith(b"n", &ma, NOW).unwrap() else {
        panic!()
    };
    assert_eq!(value, 6);
    let wrong = MetaArith { compare_cas: Some(cas + 1), ..Default::default() };
    assert_eq!(s.meta_arith(b"n", &wrong, NOW).unwrap(), ArithOutcome::Exists);
    let dec = MetaArith {
        op: ArithOp::Decr,
        delta: 10,
        compare_cas: Some(cas),
        new_ttl: Some(60),
        ..Default::default()
    };
    assert!(
        matches!(s.meta_arith(b"n", &dec, NOW).unwrap(), ArithOutcome::Value { value: 0, exptime, .. } if exptime == NOW + 60)
    );
    assert_eq!(
        s.meta_arith(b"missing", &MetaArith::default(), NOW).unwrap(),
        ArithOutcome::NotFound
    );
}

#[test]
fn change_feed_records_mutations_and_counts_overflow() {
    let s = store();
    set(&s, b"before", b"x", 0, NOW); // nobody listens: nothing queued
    let feed = s.subscribe(4);
    set(&s, b"a", b"1", 100, NOW);
    s.set(b"a", b"2", 0, 0, NOW, SetMode::Append).unwrap();
    s.delete(b"a", NOW);
    let r1 = feed.try_recv().unwrap();
    assert_eq!(
        (r1.op, &r1.key[..], &r1.value[..], r1.exptime),
        (ChangeOp::Set, &b"a"[..], &b"1"[..], NOW + 100)
    );
    let r2 = feed.try_recv().unwrap();
    assert_eq!((r2.op, &r2.value[..]), (ChangeOp::Append, &b"12"[..]));
    assert!(r2.version > r1.version && r2.cas != r1.cas);
    assert_eq!(feed.try_recv().unwrap().op, ChangeOp::Delete);
    assert!(feed.try_recv().is_none());
    for i in 0..10 {
        set(&s, format!("k{i}").as_bytes(), b"v", 0, NOW);
    }
    assert!(feed.overflowed());
    assert_eq!(feed.take_lost(), 6);
    assert!(!feed.overflowed());

    // A peer applies the records without echoing them.
    let peer = store();
    let echo = peer.subscribe(16);
    while let Some(rec) = feed.try_recv() {
        peer.apply_change(&rec, NOW).unwrap();
    }
    assert!(echo.try_recv().is_none());
    assert_eq!(get(&peer, b"k3", NOW).unwrap(), b"v");

    // Dropping the receiver turns the feed off; a new subscriber gets records again.
    drop(feed);
    set(&s, b"after_drop", b"x", 0, NOW);
    let again = s.subscribe(8);
    s.flush_all(0, NOW);
    set(&s, b"z", b"1", 0, NOW + 1);
    assert_eq!(again.try_recv().unwrap().op, ChangeOp::FlushAll);
    assert_eq!(again.try_recv().unwrap().key, b"z");
}

#[test]
fn stats_slabs_items_sizes_cachedump() {
    let s = store();
    for i in 0..10u32 {
        set(&s, format!("k{i}").as_bytes(), &[0u8; 100], 0, NOW);
    }
    let slabs = s.slab_stats();
    assert_eq!(slabs.active_slabs, 1);
    let c = &slabs.classes[0];
    assert_eq!((c.chunk_size, c.used_chunks, c.total_pages), (136, 10, 1));
    assert_eq!(c.used_chunks + c.free_chunks, c.total_chunks);
    assert!(slabs.pairs().contains(&("4:chunk_size".to_string(), 136)));
    let items = s.item_stats(NOW);
    assert_eq!(items.classes[0].number, 10);
    assert!(items.pairs().contains(&("items:4:number".to_string(), 10)));
    // 14 header + 8 cas + 2 key + 100 value = 124 bytes.
    assert_eq!(s.size_stats(), vec![(128, 10)]);
    let dump = s.cachedump(4, 3, NOW).unwrap();
    assert_eq!(dump.len(), 3);
    assert_eq!(dump[0].value_len, 100);
    assert!(s.cachedump(0, 1, NOW).is_none());
    assert_eq!(s.cachedump(4, 0, NOW).unwrap().len(), 10);
    let st = s.stats();
    assert_eq!(st.bytes, 10 * 124);
    assert_eq!(st.total_malloced, MIB as u64);
    assert_eq!(st.limit_maxbytes, 4 * MIB as u64);
    s.reset_stats();
    let st = s.stats();
    assert_eq!((st.cmd_set, st.curr_items), (0, 10));
}

#[test]
fn many_threads_share_one_store() {
    let s = std::sync::Arc::new(
        Store::new(small(16).clone())
            .map(|_| ())
            .and_then(|_| {
                Store::new(StoreConfig {
                    memory_limit_bytes: 16 * MIB as u64,
                    shards: 8,
                    ..Default::default()
                })
            })
            .unwrap(),
    );
    let handles: Vec<_> = (0..4u32)
        .map(|t| {
            let s = s.clone();
            std::thread::spawn(move || {
                for i in 0..20_000u32 {
                    let key = format!("t{t}k{}", i % 3000);
                    let val = format!("{t}:{i}");
                    s.set(key.as_bytes(), val.as_bytes(), t, 0, NOW, SetMode::Set).unwrap();
                    let got = s.get(key.as_bytes(), NOW, |it| it.value().to_vec());
                    assert_eq!(got.as_deref(), Some(val.as_bytes()));
                    if i % 7 == 0 {
                        s.delete(key.as_bytes(), NOW);
                    }
                }
            })
        })
        .collect();
    for h in handles {
        h.join().unwrap();
    }
    s.check_integrity().unwrap();
}

#[test]
fn memory_limit_can_be_raised_and_lowered_at_run_time() {
    let s = Store::with_seed(small(4), 9).unwrap();
    for i in 0..100_000u32 {
        set(&s, format!("k{i}").as_bytes(), &[0u8; 100], 0, NOW);
    }
    assert_eq!(s.stats().total_malloced, 4 * MIB as u64);
    s.set_memory_limit(8 * MIB as u64).unwrap();
    for i in 100_000..200_000u32 {
        set(&s, format!("k{i}").as_bytes(), &[0u8; 100], 0, NOW);
    }
    assert_eq!(s.stats().total_malloced, 8 * MIB as u64);
    assert_eq!(s.stats().limit_maxbytes, 8 * MIB as u64);
    s.set_memory_limit(2 * MIB as u64).unwrap();
    s.check_integrity().unwrap();
    for _ in 0..10 {
        s.automove_tick(NOW, false);
    }
    assert_eq!(s.stats().total_malloced, 2 * MIB as u64);
    assert!(get(&s, b"k199999", NOW).is_some() || s.stats().curr_items > 0);
    s.check_integrity().unwrap();
    assert_eq!(s.set_memory_limit(1000), Err(ConfigError::MemoryTooSmall));
}

#[test]
fn for_each_item_sees_live_items_without_bumping_them() {
    let s = store();
    set(&s, b"a", b"1", 0, NOW);
    set(&s, b"b", b"2", -1, NOW);
    set(&s, b"c", b"3", 0, NOW);
    let mut keys = Vec::new();
    s.for_each_item(NOW, |i| {
        keys.push(i.key().to_vec());
        true
    });
    keys.sort();
    assert_eq!(keys, [b"a".to_vec(), b"c".to_vec()]);
    assert_eq!(s.get(b"a", NOW, |i| i.fetched_before()), Some(false));
    let mut n = 0;
    s.for_each_item(NOW, |_| {
        n += 1;
        false
    });
    assert_eq!(n, 1);
}

#[test]
fn a_reader_inside_one_shard_does_not_block_other_shards() {
    let s = std::sync::Arc::new(Store::new(StoreConfig::default()).unwrap());
    assert!(s.shard_count() > 1);
    let k1 = b"held".to_vec();
    let k2 = (0..1000u32)
        .map(|i| format!("other{i}").into_bytes())
        .find(|k| s.shard_of(k) != s.shard_of(&k1))
        .unwrap();
    set(&s, &k1, b"v", 0, NOW);
    let (done_tx, done_rx) = std::sync::mpsc::channel();
    let (inside_tx, inside_rx) = std::sync::mpsc::channel();
    let reader = {
        let s = s.clone();
        std::thread::spawn(move || {
            // Holds k1's shard lock until the writer reports back (or 10 s pass).
            s.get(&k1, NOW, |_| {
                inside_tx.send(()).unwrap();
                done_rx.recv_timeout(std::time::Duration::from_secs(10)).is_ok()
            })
        })
    };
    inside_rx.recv().unwrap();
    // With one global lock this set would wait for the reader, which waits for us: the
    // reader's timeout would then fail the test instead of hanging it.
    set(&s, &k2, b"w", 0, NOW);
    assert_eq!(get(&s, &k2, NOW).unwrap(), b"w");
    done_tx.send(()).unwrap();
    assert_eq!(reader.join().unwrap(), Some(true));
}

#[test]
fn memory_efficiency_targets_hold() {
    // The 64 MB targets at 8 MB (same per-page arithmetic): >= 75 % of raw capacity at 100-byte
    // values, >= 85 % at 1000-byte values (10-byte keys). See docs/STORAGE.md.
    for (value_len, target) in [(100usize, 0.75), (1000, 0.85)] {
        let s = Store::with_seed(StoreConfig::default().with_memory_mb(8), 1).unwrap();
        let raw = (8u64 << 20) / (10 + value_len as u64);
        let value = vec![b'v'; value_len];
        for i in 0..raw + raw / 4 {
            s.set(format!("{i:010}").as_bytes(), &value, 0, 0, NOW, SetMode::Set).unwrap();
        }
        let held = s.stats().curr_items;
        assert!(held as f64 >= target * raw as f64, "{value_len} B: {held} of {raw}");
        assert!(s.stats().evictions > 0);
    }
}

#[test]
fn binary_keys_are_remembered_per_item() {
    let s = store();
    s.meta_set_keyed(b"k4", KeyForm::Binary, b"v", 0, 0, NOW, &MetaSet::default()).unwrap();
    assert_eq!(s.get(b"k4", NOW, |i| i.key_is_binary()), Some(true));
    // An in-place incr keeps the mark; a result that outgrows the value makes a new item
    // without it (memcached 1.6.18: `ms azQ= 1 b` 9, `ma azQ= b D10`, `mg k4 k` -> `kk4`); a
    // plain set clears it.
    s.meta_set_keyed(b"n", KeyForm::Binary, b"9", 0, 0, NOW, &MetaSet::default()).unwrap();
    s.incr_decr(b"n", 1, ArithOp::Decr, NOW).unwrap();
    assert_eq!(
        s.get(b"n", NOW, |i| (i.value().to_vec(), i.key_is_binary())),
        Some((b"8".to_vec(), true))
    );
    s.incr_decr(b"n", 2, ArithOp::Incr, NOW).unwrap();
    assert_eq!(
        s.get(b"n", NOW, |i| (i.value().to_vec(), i.key_is_binary())),
        Some((b"10".to_vec(), false))
    );
    set(&s, b"k4", b"w", 0, NOW);
    assert_eq!(s.get(b"k4", NOW, |i| i.key_is_binary()), Some(false));
    let viv = MetaGet { vivify: Some(30), ..Default::default() };
    assert_eq!(
        s.meta_get_keyed(b"v", KeyForm::Binary, &viv, NOW, |i| i.key_is_binary()),
        Some(true)
    );
    let ma = MetaArith { vivify: Some(0), ..Default::default() };
    s.meta_arith_keyed(b"m", KeyForm::Binary, &ma, NOW).unwrap();
    assert_eq!(s.get(b"m", NOW, |i| i.key_is_binary()), Some(true));
}

#[test]
fn cas_rules_that_memcached_1_6_18_applies() {
    // -C: every item's CAS is 0 and any cas on an existing item is EXISTS.
    let off = Store::with_seed(StoreConfig { cas_enabled: false, ..small(4) }, 1).unwrap();
    set(&off, b"k", b"v", 0, NOW);
    assert_eq!(
        off.set(b"k", b"w", 0, 0, NOW, SetMode::Cas(0)).unwrap().outcome,
        StoreOutcome::Exists
    );
    let c0 = MetaSet { compare_cas: Some(0), ..Default::default() };
    assert_eq!(off.meta_set(b"k", b"w", 0, 0, NOW, &c0).unwrap().outcome, StoreOutcome::Exists);
    assert_eq!(
        off.set(b"x", b"w", 0, 0, NOW, SetMode::Cas(0)).unwrap().outcome,
        StoreOutcome::NotFound
    );

    // Append/prepend compare only a non-zero CAS.
    let s = store();
    let c = set(&s, b"k", b"v", 0, NOW).cas;
    let ap =
        |cas| MetaSet { mode: MetaSetMode::Prepend, compare_cas: Some(cas), ..Default::default() };
    assert_eq!(s.meta_set(b"k", b"a", 0, 0, NOW, &ap(0)).unwrap().outcome, StoreOutcome::Stored);
    assert_eq!(s.meta_set(b"k", b"b", 0, 0, NOW, &ap(c)).unwrap().outcome, StoreOutcome::Exists);

    // ma: an empty value is non-numeric before the CAS is compared; C0 compares nothing.
    set(&s, b"e", b"", 0, NOW);
    let wrong = MetaArith { compare_cas: Some(12345), ..Default::default() };
    assert_eq!(s.meta_arith(b"e", &wrong, NOW), Err(StoreError::NonNumeric));
    set(&s, b"n", b"1", 0, NOW);
    assert_eq!(s.meta_arith(b"n", &wrong, NOW), Ok(ArithOutcome::Exists));
    let zero = MetaArith { compare_cas: Some(0), ..Default::default() };
    assert!(matches!(s.meta_arith(b"n", &zero, NOW), Ok(ArithOutcome::Value { value: 2, .. })));
}

#[test]
fn workers_and_maintenance_run_together() {
    let s = std::sync::Arc::new(
        Store::new(StoreConfig {
            memory_limit_bytes: 4 * MIB as u64,
            shards: 4,
            ..Default::default()
        })
        .unwrap(),
    );
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let workers: Vec<_> = (0..3u32)
        .map(|t| {
            let s = s.clone();
            std::thread::spawn(move || {
                let mut x = 0x9e37_79b9u32.wrapping_mul(t + 1);
                for i in 0..10_000u32 {
                    x ^= x << 13;
                    x ^= x >> 17;
                    x ^= x << 5;
                    let key = format!("t{t}k{}", x % 2000);
                    // The value names its key, so a read can prove it is not someone else's.
                    let len = [10usize, 300, 3000, 20_000][(x >> 12) as usize % 4];
                    let mut value = key.as_bytes().to_vec();
                    value.resize(len.max(key.len()), b'.');
                    let now = NOW + i / 300;
                    match x % 5 {
                        0 | 1 => {
                            // 4 pages over 4 shards and 4 sizes: a shard may have no page for
                            // a size and none to spare, so "out of memory" is a valid answer.
                            let e = i64::from(x % 3);
                            match s.set(key.as_bytes(), &value, 0, e, now, SetMode::Set) {
                                Ok(r) => assert_eq!(r.outcome, StoreOutcome::Stored),
                                Err(e) => assert_eq!(e, StoreError::OutOfMemory),
                            }
                        }
                        2 => {
                            let _ = s.set(key.as_bytes(), b"+", 0, 0, now, SetMode::Append);
                        }
                        3 => {
                            s.delete(key.as_bytes(), now);
                        }
                        _ => {
                            if let Some(v) = s.get(key.as_bytes(), now, |it| it.value().to_vec()) {
                                assert!(
                                    v.starts_with(key.as_bytes()),
                                    "{key} read {:?}",
                                    &v[..v.len().min(20)]
                                );
                            }
                        }
                    }
                }
            })
        })
        .collect();
    let maintenance = {
        let (s, stop) = (s.clone(), stop.clone());
        std::thread::spawn(move || {
            let mut now = NOW;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                now += 1;
                s.reclaim_expired(now, 500);
                s.automove_tick(now, now % 2 == 0);
                let _ = s.slabs_reassign(-1, 1 + now % 20, now);
                let _ = (s.stats(), s.slab_stats(), s.item_stats(now));
                std::thread::sleep(std::time::Duration::from_millis(1));
            }
        })
    };
    for w in workers {
        w.join().unwrap();
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    maintenance.join().unwrap();
    s.check_integrity().unwrap();
    let st = s.stats();
    assert!(st.total_malloced <= 4 * MIB as u64);
    assert!(st.total_items > 1000, "{} items stored", st.total_items);
}

#[test]
fn meta_commands_count_stats_as_memcached_1_6_18() {
    let s = store();
    let t = MetaGet { touch: Some(30), ..Default::default() };
    assert!(s.meta_get(b"nokey", &t, NOW, |_| ()).is_none());
    let st = s.stats();
    assert_eq!((st.cmd_get, st.get_misses, st.cmd_touch, st.touch_misses), (1, 1, 0, 0));
    let n = MetaGet { vivify: Some(30), ..Default::default() };
    s.meta_get(b"viv", &n, NOW, |_| ()).unwrap();
    let st = s.stats();
    assert_eq!((st.cmd_get, st.get_hits, st.get_misses), (2, 1, 1), "a vivified mg is a hit");
    let nt = MetaGet { vivify: Some(10), touch: Some(30), ..Default::default() };
    assert_eq!(s.meta_get(b"viv2", &nt, NOW, |i| i.exptime()), Some(NOW + 30));
    let st = s.stats();
    assert_eq!((st.cmd_touch, st.touch_hits), (1, 1));
    set(&s, b"c", b"x", 0, NOW);
    s.meta_delete(b"c", NOW, &MetaDelete { invalidate: true, ..Default::default() });
    assert_eq!(s.stats().delete_hits, 0, "an invalidation is not a delete hit");
    s.meta_arith(b"cnt", &MetaArith { vivify: Some(0), initial: 5, ..Default::default() }, NOW)
        .unwrap();
    assert_eq!(s.stats().incr_misses, 0, "ma N counts no miss");
    s.meta_arith(b"nope", &MetaArith::default(), NOW).unwrap();
    assert_eq!(s.stats().incr_misses, 1);
}

#[test]
fn mg_n_and_t_apply_left_to_right() {
    let s = store();
    let opts = MetaGet { vivify: Some(10), touch: Some(30), ..Default::default() };
    // `N10 T30`: create, then touch.
    assert_eq!(s.meta_get(b"a", &opts, NOW, |i| i.ttl(NOW)), Some(30));
    // `T30 N10`: the touch found nothing; the created item keeps N's TTL.
    let details = MetaGetDetails { order: *b"TNR", ..Default::default() };
    assert_eq!(s.meta_get_detailed(b"b", &opts, &details, NOW, |i| i.ttl(NOW)), Some(10));
    // On a hit the order does not matter.
    assert_eq!(s.meta_get_detailed(b"b", &opts, &details, NOW, |i| i.ttl(NOW)), Some(30));
    // `T-1 R..`: the recache is judged on the TTL T just set; `R.. T-1` on the old one.
    set(&s, b"r", b"v", 0, NOW);
    let tr = MetaGet { touch: Some(100), recache_below: Some(200), ..Default::default() };
    let r_first = MetaGetDetails { order: *b"RTN", ..Default::default() };
    assert_eq!(s.meta_get_detailed(b"r", &tr, &r_first, NOW, |i| i.win()), Some(false));
    set(&s, b"r", b"v", 0, NOW);
    let t_first = MetaGetDetails { order: *b"TRN", ..Default::default() };
    assert_eq!(s.meta_get_detailed(b"r", &tr, &t_first, NOW, |i| i.win()), Some(true));
}

/// Rules checked by hand against memcached 1.6.18 (found by the server's generated
/// differential test).
#[test]
fn meta_rules_that_memcached_1_6_18_applies() {
    let s = store();
    let mg = |s: &Store, key: &[u8], opts: &MetaGet| {
        s.meta_get(key, opts, NOW, |i| (i.stale(), i.win(), i.win_already_sent(), i.exptime()))
    };
    let plain = MetaGet::default();
    // A stale ms (I, older CAS) keeps the old TTL; its win token is still to hand out unless
    // the old item's was already sent.
    set(&s, b"other", b"y", 0, NOW);
    let cas = set(&s, b"t", b"x", 100, NOW).cas;
    let stale = MetaSet { compare_cas: Some(cas - 1), invalidate: true, ..Default::default() };
    let done = s.meta_set(b"t", b"y", 0, 500, NOW, &stale).unwrap();
    assert_eq!(done.outcome, StoreOutcome::Stored);
    assert_eq!(mg(&s, b"t", &plain), Some((true, true, false, NOW + 100)));
    assert_eq!(mg(&s, b"t", &plain), Some((true, false, true, NOW + 100)));
    let done = s.meta_set(b"t", b"z", 0, 0, NOW, &stale).unwrap();
    assert_eq!(done.outcome, StoreOutcome::Stored);
    assert_eq!(mg(&s, b"t", &plain), Some((true, false, true, NOW + 100)));
    // A zero CAS is no CAS: EXISTS even with I.
    let zero = MetaSet { compare_cas: Some(0), invalidate: true, ..Default::default() };
    assert_eq!(s.meta_set(b"t", b"z", 0, 0, NOW, &zero).unwrap().outcome, StoreOutcome::Exists);

    // An in-place incr keeps the stale mark and the win token state.
    set(&s, b"n", b"10", 0, NOW);
    let inval = MetaDelete { invalidate: true, ..Default::default() };
    assert_eq!(s.meta_delete(b"n", NOW, &inval), DeleteOutcome::Deleted);
    s.incr_decr(b"n", 0, ArithOp::Decr, NOW).unwrap();
    assert_eq!(mg(&s, b"n", &plain), Some((true, true, false, 0)));

    // The item mg N creates is bumped like a hit (the next mg sees it fetched) unless `u`.
    let viv = MetaGet { vivify: Some(0), ..Default::default() };
    s.meta_get(b"v", &viv, NOW, |i| assert!(i.created() && !i.fetched_before())).unwrap();
    assert_eq!(s.meta_get(b"v", &plain, NOW, |i| i.fetched_before()), Some(true));
    let viv_u = MetaGet { vivify: Some(0), no_bump: true, ..Default::default() };
    s.meta_get(b"vu", &viv_u, NOW, |i| assert!(i.created())).unwrap();
    assert_eq!(s.meta_get(b"vu", &plain, NOW, |i| i.fetched_before()), Some(false));

    // Over-long opaque (withhold_win): no win token handed out, not even for a created item.
    let withhold = MetaGetDetails { withhold_win: true, ..Default::default() };
    set(&s, b"w", b"x", 0, NOW);
    assert_eq!(s.meta_delete(b"w", NOW, &inval), DeleteOutcome::Deleted);
    assert_eq!(s.meta_get_detailed(b"w", &plain, &withhold, NOW, |i| i.win()), Some(false));
    assert_eq!(mg(&s, b"w", &plain), Some((true, true, false, 0)));
    let viv0 = MetaGet { vivify: Some(0), no_bump: true, ..Default::default() };
    assert_eq!(s.meta_get_detailed(b"wn", &viv0, &withhold, NOW, |i| i.win()), Some(false));
    assert_eq!(mg(&s, b"wn", &plain), Some((false, false, false, 0)));

    // ma's T reaches the item only when the result fits in place; a counter that outgrows its
    // value is a new item with the old TTL (the reply still reports T's).
    set(&s, b"g", b"5", 0, NOW);
    let grow = MetaArith { delta: 1000, new_ttl: Some(100), ..Default::default() };
    assert!(matches!(
        s.meta_arith(b"g", &grow, NOW).unwrap(),
        ArithOutcome::Value { value: 1005, exptime, .. } if exptime == NOW + 100
    ));
    assert_eq!(mg(&s, b"g", &plain).map(|m| m.3), Some(0));
    set(&s, b"p", b"50", 0, NOW);
    let fits = MetaArith { delta: 1, new_ttl: Some(100), ..Default::default() };
    s.meta_arith(b"p", &fits, NOW).unwrap();
    assert_eq!(mg(&s, b"p", &plain).map(|m| m.3), Some(NOW + 100));
}

/// With -C no CAS is kept, so append/prepend have nothing to compare and store.
#[test]
fn append_with_cas_under_dash_c_stores() {
    let off = Store::with_seed(StoreConfig { cas_enabled: false, ..small(4) }, 1).unwrap();
    set(&off, b"k", b"v", 0, NOW);
    let append = MetaSet {
        mode: MetaSetMode::Prepend,
        compare_cas: Some(3_999_999_999),
        ..Default::default()
    };
    assert_eq!(off.meta_set(b"k", b"w", 0, 0, NOW, &append).unwrap().outcome, StoreOutcome::Stored);
    assert_eq!(get(&off, b"k", NOW).unwrap(), b"wv");
}
