//! Criterion benches of the store: get hit/miss, set, set with eviction churn, and two threads
//! (sharded vs one shard) to show the locks scale.
//!
//! `cargo bench -p memcached-store`

use std::hint::black_box;
use std::sync::Arc;
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use memcached_store::{SetMode, Store, StoreConfig};

const NOW: u32 = 1_700_000_000;
const KEYS: usize = 100_000;

fn keys() -> Vec<[u8; 10]> {
    (0..KEYS)
        .map(|i| {
            let mut k = [0u8; 10];
            k.copy_from_slice(format!("{i:010}").as_bytes());
            k
        })
        .collect()
}

fn filled(config: StoreConfig, keys: &[[u8; 10]]) -> Store {
    let s = Store::new(config).unwrap();
    for k in keys {
        s.set(k, &[b'v'; 100], 0, 0, NOW, SetMode::Set).unwrap();
    }
    s
}

fn single_thread(c: &mut Criterion) {
    let keys = keys();
    let store = filled(StoreConfig::default(), &keys);
    let mut g = c.benchmark_group("store");
    g.throughput(Throughput::Elements(1));
    let mut i = 0usize;
    g.bench_function("get_hit", |b| {
        b.iter(|| {
            i = (i + 7919) % KEYS;
            black_box(store.get(&keys[i], NOW, |it| it.value().len()))
        })
    });
    g.bench_function("get_miss", |b| {
        b.iter(|| {
            i = (i + 7919) % KEYS;
            let mut k = keys[i];
            k[0] = b'x';
            black_box(store.get(&k, NOW, |it| it.value().len()))
        })
    });
    let value = [b'w'; 100];
    g.bench_function("set_overwrite", |b| {
        b.iter(|| {
            i = (i + 7919) % KEYS;
            black_box(store.set(&keys[i], &value, 0, 0, NOW, SetMode::Set).unwrap())
        })
    });
    // 4 MiB store, a stream of new keys: every set evicts.
    let small = Store::new(StoreConfig::default().with_memory_mb(4)).unwrap();
    let mut n = 0u64;
    g.bench_function("set_evict_churn", |b| {
        b.iter(|| {
            n += 1;
            let mut k = [0u8; 10];
            k[..8].copy_from_slice(&n.to_le_bytes());
            black_box(small.set(&k, &value, 0, 0, NOW, SetMode::Set).unwrap())
        })
    });
    g.finish();
}

/// CPU time this thread has run (`CLOCK_THREAD_CPUTIME_ID`). Unlike wall time it does not
/// count time the thread waited for a core, which on a shared machine is most of the wall time.
fn thread_cpu_ns() -> u64 {
    let mut ts = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    // SAFETY: `ts` is a valid, writable timespec; the clock id is a constant the kernel knows.
    let rc = unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    if rc != 0 {
        return 0;
    }
    ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64
}

#[derive(Clone, Copy)]
enum Clock {
    Wall,
    Cpu,
}

/// `iters` get/set operations (9:1) on each of `threads` threads. Returns the wall time, or the
/// average CPU time of the threads, so the reported time is per operation per thread: flat
/// when the store scales.
fn run_threads(
    store: &Arc<Store>,
    keys: &Arc<Vec<[u8; 10]>>,
    threads: usize,
    iters: u64,
    clock: Clock,
) -> Duration {
    let start = Instant::now();
    let handles: Vec<_> = (0..threads)
        .map(|t| {
            let (store, keys) = (Arc::clone(store), Arc::clone(keys));
            std::thread::spawn(move || {
                let cpu0 = thread_cpu_ns();
                let mut i = t * 5003;
                let value = [b'z'; 100];
                for n in 0..iters {
                    i = (i + 7919) % KEYS;
                    if n % 10 == 0 {
                        black_box(store.set(&keys[i], &value, 0, 0, NOW, SetMode::Set).unwrap());
                    } else {
                        black_box(store.get(&keys[i], NOW, |it| it.value().len()));
                    }
                }
                thread_cpu_ns() - cpu0
            })
        })
        .collect();
    let cpu: u64 = handles.into_iter().map(|h| h.join().unwrap()).sum();
    match clock {
        Clock::Wall => start.elapsed(),
        Clock::Cpu => Duration::from_nanos((cpu / threads as u64).max(1)),
    }
}

fn two_threads(c: &mut Criterion) {
    let keys = Arc::new(keys());
    let mut g = c.benchmark_group("threads");
    g.throughput(Throughput::Elements(1));
    for (name, shards) in [("sharded", 0usize), ("one_lock", 1)] {
        let store = Arc::new(filled(StoreConfig { shards, ..StoreConfig::default() }, &keys));
        for threads in [1usize, 2] {
            for (clock_name, clock) in [("wall", Clock::Wall), ("cpu", Clock::Cpu)] {
                g.bench_function(
                    format!("{name}/{threads}_thread_get90_set10/{clock_name}"),
                    |b| b.iter_custom(|iters| run_threads(&store, &keys, threads, iters, clock)),
                );
            }
        }
    }
    g.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default().measurement_time(Duration::from_secs(3)).warm_up_time(Duration::from_secs(1));
    targets = single_thread, two_threads
}
criterion_main!(benches);
