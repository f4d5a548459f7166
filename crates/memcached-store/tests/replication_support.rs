//! What the store offers a replication link: a feed that wakes its subscriber, records applied
//! with their origin's CAS (or only where the key is missing), CAS lanes that keep two nodes'
//! CAS values apart, and a resumable walk over every item.

use std::collections::HashSet;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use memcached_store::*;

const NOW: u32 = 1_700_000_000;

fn store() -> Store {
    Store::with_seed(
        StoreConfig { memory_limit_bytes: 8 * MIB as u64, ..StoreConfig::default() },
        7,
    )
    .unwrap()
}

fn set(s: &Store, key: &[u8], value: &[u8]) -> u64 {
    s.set(key, value, 0, 0, NOW, SetMode::Set).unwrap();
    s.get(key, NOW, |i| i.cas()).unwrap()
}

fn value(s: &Store, key: &[u8]) -> Option<Vec<u8>> {
    s.get(key, NOW, |i| i.value().to_vec())
}

#[test]
fn notifier_fires_once_per_rearm_and_never_loses_a_wakeup() {
    let s = store();
    let wakes = Arc::new(AtomicUsize::new(0));
    let counter = Arc::clone(&wakes);
    let feed = s.subscribe_notifying(
        64,
        Arc::new(move || {
            counter.fetch_add(1, Ordering::SeqCst);
        }),
    );
    set(&s, b"a", b"1");
    set(&s, b"b", b"2");
    assert_eq!(wakes.load(Ordering::SeqCst), 1, "one wake-up until the subscriber re-arms");
    feed.rearm();
    let mut drained = 0;
    while feed.try_recv().is_some() {
        drained += 1;
    }
    assert_eq!(drained, 2);
    s.delete(b"a", NOW);
    assert_eq!(wakes.load(Ordering::SeqCst), 2, "a record after the re-arm wakes again");
    assert_eq!(feed.try_recv().unwrap().op, ChangeOp::Delete);
}

#[test]
fn notifier_under_concurrent_writers_leaves_nothing_unannounced() {
    let s = Arc::new(store());
    let wakes = Arc::new(AtomicUsize::new(0));
    let counter = Arc::clone(&wakes);
    let feed = s.subscribe_notifying(
        100_000,
        Arc::new(move || {
            counter.fetch_add(1, Ordering::SeqCst);
        }),
    );
    let writers: Vec<_> = (0..4)
        .map(|t| {
            let s = Arc::clone(&s);
            std::thread::spawn(move || {
                for i in 0..2000 {
                    s.set(format!("t{t}k{i}").as_bytes(), b"v", 0, 0, NOW, SetMode::Set).unwrap();
                }
            })
        })
        .collect();
    // The subscriber's loop: sleep until woken (here: watch the counter), re-arm, drain. Once
    // every writer is done (each notified before its write returned) and no wake-up is
    // pending, a record still queued would be one that no wake-up announced.
    let mut seen = 0;
    let mut handled_wakes = 0;
    loop {
        let done = writers.iter().all(|w| w.is_finished());
        let wakes_now = wakes.load(Ordering::SeqCst);
        if wakes_now > handled_wakes {
            handled_wakes = wakes_now;
            feed.rearm();
            while feed.try_recv().is_some() {
                seen += 1;
            }
        } else if done {
            break;
        }
        std::hint::spin_loop();
    }
    for w in writers {
        w.join().unwrap();
    }
    assert!(feed.try_recv().is_none(), "a record was queued without a wake-up");
    assert_eq!(seen, 8000, "every record was announced by a wake-up");
}

#[test]
fn applied_records_keep_their_cas_and_if_absent_does_not_overwrite() {
    let origin = store();
    let feed = origin.subscribe(16);
    let cas = set(&origin, b"k", b"from origin");
    let rec = feed.try_recv().unwrap();
    assert_eq!(rec.cas, cas);

    let replica = store();
    assert!(replica.apply_change(&rec, NOW).unwrap());
    assert_eq!(replica.get(b"k", NOW, |i| i.cas()), Some(cas), "the origin's CAS is kept");

    let mut newer = rec.clone();
    newer.value = b"newer".to_vec();
    set(&replica, b"k", b"local");
    assert!(!replica.apply_change_if_absent(&newer, NOW).unwrap());
    assert_eq!(value(&replica, b"k").unwrap(), b"local");
    newer.key = b"missing".to_vec();
    assert!(replica.apply_change_if_absent(&newer, NOW).unwrap());
    assert_eq!(value(&replica, b"missing").unwrap(), b"newer");
}

#[test]
fn cas_lanes_keep_two_nodes_apart() {
    let a = store();
    let b = store();
    // Some writes before the lanes are known, as before a link comes up.
    for i in 0..5 {
        set(&a, format!("pre{i}").as_bytes(), b"x");
    }
    a.set_cas_lane(0, 2);
    b.set_cas_lane(1, 2);
    let mut seen_a = HashSet::new();
    let mut seen_b = HashSet::new();
    for i in 0..500 {
        let key = format!("key{i}");
        assert!(seen_a.insert(set(&a, key.as_bytes(), b"a")));
        assert!(seen_b.insert(set(&b, key.as_bytes(), b"b")));
    }
    assert!(seen_a.is_disjoint(&seen_b), "no CAS value is handed out by both nodes");
    // Still increasing per key on one node.
    let first = set(&a, b"same", b"1");
    let second = set(&a, b"same", b"2");
    assert!(second > first);
}

#[test]
fn visit_items_walks_every_item_once_in_small_steps() {
    let s = store();
    let mut expected = HashSet::new();
    for i in 0..3000 {
        let key = format!("item{i}");
        let size = if i % 3 == 0 { 2000 } else { 20 };
        s.set(key.as_bytes(), &vec![b'v'; size], 0, 0, NOW, SetMode::Set).unwrap();
        expected.insert(key.into_bytes());
    }
    s.delete(b"item7", NOW);
    expected.remove(&b"item7"[..]);
    s.set(b"expired", b"x", 0, 5, NOW, SetMode::Set).unwrap();

    let mut seen = Vec::new();
    let mut cursor = Some(ItemCursor::default());
    let mut steps = 0;
    while let Some(c) = cursor {
        cursor = s.visit_items(c, NOW + 10, 50, |item| seen.push(item.key().to_vec()));
        steps += 1;
    }
    assert!(steps > 10, "the walk is split into steps ({steps})");
    let unique: HashSet<_> = seen.iter().cloned().collect();
    assert_eq!(unique.len(), seen.len(), "no item twice");
    assert_eq!(unique, expected, "every live item, no expired or deleted one");
}

#[test]
fn a_guarded_apply_changes_nothing_when_the_guard_says_no() {
    let origin = store();
    let feed = origin.subscribe(16);
    set(&origin, b"k", b"peer");
    let rec = feed.try_recv().unwrap();
    let replica = Arc::new(store());
    set(&replica, b"k", b"local");
    assert_eq!(replica.apply_change_guarded(&rec, NOW, false, || false).unwrap(), None);
    assert_eq!(value(&replica, b"k").unwrap(), b"local");
    assert_eq!(replica.apply_change_guarded(&rec, NOW, false, || true).unwrap(), Some(true));
    assert_eq!(value(&replica, b"k").unwrap(), b"peer");

    let mut delete = rec.clone();
    delete.op = ChangeOp::Delete;
    assert_eq!(replica.apply_change_guarded(&delete, NOW, false, || false).unwrap(), None);
    assert!(value(&replica, b"k").is_some());

    // The guard runs under the key's shard lock: a local write of the key started from inside
    // it cannot finish until the guard has answered.
    let (tx, rx) = std::sync::mpsc::channel();
    let mut writer = None;
    let mut writer_waited = false;
    let held = replica.apply_change_guarded(&delete, NOW, false, || {
        let store = Arc::clone(&replica);
        writer = Some(std::thread::spawn(move || {
            store.set(b"k", b"x", 0, 0, NOW, SetMode::Set).unwrap();
            tx.send(()).unwrap();
        }));
        writer_waited = rx.recv_timeout(std::time::Duration::from_millis(200)).is_err();
        false
    });
    assert_eq!(held.unwrap(), None);
    assert!(writer_waited, "a local write of the key got in while the guard ran");
    writer.unwrap().join().unwrap();
    assert_eq!(value(&replica, b"k").unwrap(), b"x");
}

#[test]
fn a_walk_that_pauses_page_moves_sees_every_item_and_moves_resume_after() {
    let s = store();
    let mut expected = HashSet::new();
    for i in 0..3000 {
        let key = format!("item{i}");
        s.set(key.as_bytes(), &[b'v'; 2000], 0, 0, NOW, SetMode::Set).unwrap();
        expected.insert(key.into_bytes());
    }
    // Free chunks in every page: a page move would now relocate items (possibly behind the
    // walk's cursor).
    for i in (0..3000).step_by(2) {
        let key = format!("item{i}");
        s.delete(key.as_bytes(), NOW);
        expected.remove(key.as_bytes());
    }
    let big_class = s.get(b"item1", NOW, |i| i.class_id()).unwrap();
    let dst = big_class + 3;

    s.pause_page_moves();
    let mut seen = HashSet::new();
    let mut cursor = Some(ItemCursor::default());
    while let Some(c) = cursor {
        cursor = s.visit_items(c, NOW, 40, |item| {
            seen.insert(item.key().to_vec());
        });
        assert_eq!(s.slabs_reassign(big_class as i32, dst, NOW), Err(ReassignError::Busy));
        assert!(s.automove_tick(NOW, true).is_empty(), "no automove while paused");
    }
    assert_eq!(seen, expected);
    s.resume_page_moves();

    let moved = s.slabs_reassign(big_class as i32, dst, NOW).unwrap();
    assert_eq!((moved.src, moved.dst), (big_class, dst));
    assert!(moved.rescued > 0, "the move relocated items: {moved:?}");
    s.check_integrity().unwrap();
}

#[test]
fn without_cas_applied_items_and_flushes_keep_the_origins_time() {
    // memcached's -C flush hides every item written at or before the flush's second.
    let no_cas = || {
        let config = StoreConfig {
            memory_limit_bytes: 8 * MIB as u64,
            cas_enabled: false,
            ..StoreConfig::default()
        };
        Store::with_seed(config, 7).unwrap()
    };
    let origin = no_cas();
    let feed = origin.subscribe(16);
    origin.set(b"early", b"e", 0, 0, NOW, SetMode::Set).unwrap();
    origin.flush_all(0, NOW);
    origin.set(b"same_second", b"s", 0, 0, NOW, SetMode::Set).unwrap();
    origin.set(b"later", b"l", 0, 0, NOW + 1, SetMode::Set).unwrap();
    let records: Vec<ChangeRecord> = std::iter::from_fn(|| feed.try_recv()).collect();
    assert_eq!(records.len(), 4);

    // The replica applies them two seconds later, and ends up hiding what the origin hides.
    let replica = no_cas();
    for rec in &records {
        replica.apply_change(rec, NOW + 2).unwrap();
    }
    for s in [&origin, &replica] {
        let visible = |key: &[u8]| s.get(key, NOW + 2, |_| ()).is_some();
        assert!(!visible(b"early") && !visible(b"same_second") && visible(b"later"));
    }

    // A peer's flush older than one the replica already ran brings nothing back.
    replica.flush_all(0, NOW + 3);
    let mut old_flush = records[1].clone();
    old_flush.time = NOW;
    replica.apply_change(&old_flush, NOW + 3).unwrap();
    assert!(replica.get(b"later", NOW + 3, |_| ()).is_none(), "hidden by the newer flush");
}
