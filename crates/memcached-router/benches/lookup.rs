//! Lookup cost per key (ns/key): hash + binary search, for the libmemcached modes.

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use memcached_router::{Router, RouterConfig, Server};
use std::hint::black_box;

fn pool(n: usize) -> Vec<Server> {
    (1..=n).map(|i| Server::new(format!("10.0.0.{i}"), 11211)).collect()
}

fn lookup(c: &mut Criterion) {
    let keys: Vec<Vec<u8>> = (0..1024).map(|i| format!("user:{i}:profile").into_bytes()).collect();
    let mut group = c.benchmark_group("router_lookup");
    group.throughput(Throughput::Elements(keys.len() as u64));
    for (name, config) in [
        ("ketama_md5", RouterConfig::ketama()),
        ("modula_one_at_a_time", RouterConfig::modula()),
        ("consistent_one_at_a_time", RouterConfig::consistent()),
        ("pymemcache_rendezvous", RouterConfig::pymemcache_rendezvous()),
    ] {
        for servers in [3, 10, 100] {
            let router = Router::new(pool(servers), config).unwrap();
            group.bench_with_input(BenchmarkId::new(name, servers), &router, |b, router| {
                b.iter(|| {
                    let mut acc = 0usize;
                    for key in &keys {
                        acc = acc.wrapping_add(router.server_index(black_box(key)).unwrap_or(0));
                    }
                    acc
                })
            });
        }
    }
    group.finish();
    c.bench_function("router_rebuild_ketama_10_servers", |b| {
        let router = Router::new(pool(10), RouterConfig::ketama()).unwrap();
        b.iter(|| {
            let mut r = router.clone();
            r.eject(3);
            black_box(r.continuum().len())
        })
    });
}

criterion_group!(benches, lookup);
criterion_main!(benches);
