//! The server's request path without sockets: decode + execute + encode into a reused output
//! buffer, against a real store. What one worker spends per request before any syscall.

use std::hint::black_box;
use std::sync::Arc;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};

use memcached_server::commands::CommandExecutor;
use memcached_server::config::ServerConfig;
use memcached_server::connection::{RequestExecutor, Session, Step};
use memcached_server::counters::WorkerCounters;
use memcached_server::shared::Shared;
use memcached_server::signals::StopLatch;
use memcached_store::{Store, StoreConfig};

fn executor() -> CommandExecutor {
    let shared =
        Arc::new(Shared::new(ServerConfig::default(), Arc::new(StopLatch::new().expect("latch"))));
    let store = Arc::new(Store::new(StoreConfig::default()).expect("store"));
    CommandExecutor::new(shared, store, Arc::new(WorkerCounters::default()))
}

fn run_all(exec: &mut CommandExecutor, session: &mut Session, input: &[u8], out: &mut Vec<u8>) {
    let mut pos = 0;
    while pos < input.len() {
        match exec.execute(session, &input[pos..], out) {
            Step::Done { consumed, .. } => pos += consumed,
            _ => break,
        }
    }
}

fn bench(c: &mut Criterion) {
    let mut exec = executor();
    let mut session = Session::default();
    let mut out = Vec::with_capacity(1 << 20);
    let value = "v".repeat(100);
    let setup = format!("set key:1 0 0 100\r\n{value}\r\n");
    run_all(&mut exec, &mut session, setup.as_bytes(), &mut out);

    let mut group = c.benchmark_group("executor");
    group.throughput(Throughput::Elements(1));
    let get = b"get key:1\r\n";
    group.bench_function("get hit, 100 B", |b| {
        b.iter(|| {
            out.clear();
            run_all(&mut exec, &mut session, black_box(get), &mut out);
        })
    });
    let miss = b"get nope\r\n";
    group.bench_function("get miss", |b| {
        b.iter(|| {
            out.clear();
            run_all(&mut exec, &mut session, black_box(miss), &mut out);
        })
    });
    group.bench_function("set 100 B", |b| {
        b.iter(|| {
            out.clear();
            run_all(&mut exec, &mut session, black_box(setup.as_bytes()), &mut out);
        })
    });
    let mg = b"mg key:1 v f t c\r\n";
    group.bench_function("mg v f t c", |b| {
        b.iter(|| {
            out.clear();
            run_all(&mut exec, &mut session, black_box(mg), &mut out);
        })
    });
    group.throughput(Throughput::Elements(16));
    let pipeline = get.repeat(16);
    group.bench_function("16 pipelined gets", |b| {
        b.iter(|| {
            out.clear();
            run_all(&mut exec, &mut session, black_box(&pipeline), &mut out);
        })
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
