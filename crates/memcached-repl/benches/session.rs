//! Criterion benches of the replication session: frame encode/decode of one change, and a
//! linked pair moving changes end to end (record_local on one node, bytes across, receive +
//! poll_event on the other, acks back), per change.
//!
//! `cargo bench -p memcached-repl`

use std::hint::black_box;
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use memcached_repl::frame::{decode, encode_change};
use memcached_repl::{ChangeOp, ChangeRecord, ReplConfig, ReplEvent, ReplSession, Stamp};

fn record(i: u64) -> ChangeRecord {
    ChangeRecord {
        op: ChangeOp::Set,
        key: format!("key:{:08}", i % 100_000).into_bytes(),
        flags: 0,
        exptime: 0,
        value: vec![b'v'; 100],
        cas: i,
        version: i,
        time: 0,
        key_binary: false,
    }
}

fn frames(c: &mut Criterion) {
    let mut g = c.benchmark_group("repl_frame");
    g.throughput(Throughput::Elements(1));
    let rec = record(1);
    let stamp = Stamp { clock: 1 << 40, node: 7 };
    let mut out = Vec::with_capacity(4096);
    g.bench_function("encode_change_100B", |b| {
        b.iter(|| {
            out.clear();
            encode_change(&mut out, 1, stamp, black_box(&rec));
            black_box(out.len())
        })
    });
    out.clear();
    encode_change(&mut out, 1, stamp, &rec);
    g.bench_function("decode_change_100B", |b| {
        b.iter(|| black_box(decode(black_box(&out), 1 << 20).unwrap()))
    });
    g.finish();
}

fn linked_pair() -> (ReplSession, ReplSession, Instant) {
    let cfg = |id| ReplConfig { node_id: id, started_unix_ms: id, ..ReplConfig::default() };
    let (mut a, mut b) = (ReplSession::new(cfg(1)), ReplSession::new(cfg(2)));
    let t0 = Instant::now();
    a.connected(t0, 0, 0);
    b.connected(t0, 0, 0);
    for _ in 0..4 {
        shuttle(&mut a, &mut b, t0);
    }
    assert!(a.is_linked() && b.is_linked());
    (a, b, t0)
}

/// Moves all pending bytes both ways and drains events (snapshots answered empty).
fn shuttle(a: &mut ReplSession, b: &mut ReplSession, now: Instant) -> usize {
    one_way(a, b, now) + one_way(b, a, now)
}

fn one_way(from: &mut ReplSession, to: &mut ReplSession, now: Instant) -> usize {
    let mut applied = 0;
    let n = from.pending_output().len();
    if n > 0 {
        to.receive(from.pending_output(), now, 0);
        from.consume_output(n);
    }
    while let Some(ev) = to.poll_event() {
        match ev {
            ReplEvent::Apply(rec, _) => {
                applied += 1;
                black_box(rec);
            }
            ReplEvent::SnapshotRequested => to.snapshot_end(now),
            _ => {}
        }
    }
    applied
}

fn pair(c: &mut Criterion) {
    let mut g = c.benchmark_group("repl_pair");
    const BATCH: u64 = 1000;
    g.throughput(Throughput::Elements(BATCH));
    let (mut a, mut b, t0) = linked_pair();
    let mut i = 0u64;
    g.bench_function("change_end_to_end_100B_batch1000", |bench| {
        bench.iter_batched(
            || {
                (0..BATCH)
                    .map(|_| {
                        i += 1;
                        record(i)
                    })
                    .collect::<Vec<_>>()
            },
            |recs| {
                let now = t0 + Duration::from_millis(1);
                for r in recs {
                    a.record_local(r, now, 1_700_000_000_000);
                }
                let mut applied = 0;
                for _ in 0..2 {
                    applied += shuttle(&mut a, &mut b, now);
                }
                assert_eq!(applied, BATCH as usize);
                assert_eq!(a.stats().backlog_changes, 0);
            },
            BatchSize::LargeInput,
        )
    });
    g.finish();
}

criterion_group!(benches, frames, pair);
criterion_main!(benches);
