//! Codec micro-benchmarks: request decoding (get, set 32 B / 4 KiB, 100-key
//! multi-get, mg, ms), reply encoding, and the client side (request encoding,
//! reply decoding). Numbers go to docs/benchmarks.md (## memcached-codec).

use std::hint::black_box;

use bytes::BytesMut;
use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use memcached_codec::{
    decode_request, decode_response, encode_end, encode_meta, encode_meta_get_hit,
    encode_retrieval, encode_storage, encode_value, Limits, MetaCommand, MetaItemInfo, Request,
    RetrievalCommand, StorageCommand,
};

fn set_input(len: usize) -> Vec<u8> {
    let mut v = Vec::new();
    encode_storage(
        &mut v,
        StorageCommand::Set,
        b"user:12345:profile",
        0,
        3600,
        0,
        false,
        &vec![b'x'; len],
    );
    v
}

fn multiget_input(keys: usize) -> Vec<u8> {
    let names: Vec<String> = (0..keys).map(|i| format!("user:{i}:profile")).collect();
    let mut v = Vec::new();
    encode_retrieval(&mut v, RetrievalCommand::Get, 0, &names);
    v
}

fn decode_one(input: &[u8], limits: &Limits) -> usize {
    match decode_request(input, limits) {
        Ok(Some((request, used))) => {
            // Touch what a server would read.
            match request {
                Request::Retrieval(r) => r.keys.iter().map(<[u8]>::len).sum::<usize>() + used,
                Request::Storage(s) => s.data.len() + s.key.len() + used,
                Request::MetaGet(m) => m.flags.tokens().count() + used,
                Request::MetaSet(m) => m.data.len() + used,
                _ => used,
            }
        }
        _ => 0,
    }
}

fn server_decode(c: &mut Criterion) {
    let limits = Limits::default();
    let mut group = c.benchmark_group("decode_request");
    let cases: Vec<(&str, Vec<u8>)> = vec![
        ("get", b"get user:12345:profile\r\n".to_vec()),
        ("set_32B", set_input(32)),
        ("set_4KiB", set_input(4096)),
        ("multiget_100", multiget_input(100)),
        ("mg", b"mg user:12345:profile v f c t k O42 T30\r\n".to_vec()),
        ("ms_32B", {
            let mut v = b"ms user:12345:profile 32 T3600 F5 c\r\n".to_vec();
            v.extend_from_slice(&[b'x'; 32]);
            v.extend_from_slice(b"\r\n");
            v
        }),
    ];
    for (name, input) in &cases {
        group.throughput(Throughput::Bytes(input.len() as u64));
        group.bench_function(*name, |b| b.iter(|| decode_one(black_box(input), &limits)));
    }
    group.finish();
}

fn server_encode(c: &mut Criterion) {
    let mut group = c.benchmark_group("encode_reply");
    let mut out = Vec::with_capacity(64 * 1024);
    let value32 = [b'x'; 32];
    let value4k = [b'x'; 4096];
    group.bench_function("value_32B_end", |b| {
        b.iter(|| {
            out.clear();
            encode_value(&mut out, black_box(b"user:12345:profile"), 0, None, black_box(&value32));
            encode_end(&mut out);
            out.len()
        })
    });
    group.bench_function("value_4KiB_end", |b| {
        b.iter(|| {
            out.clear();
            encode_value(
                &mut out,
                black_box(b"user:12345:profile"),
                0,
                Some(77),
                black_box(&value4k),
            );
            encode_end(&mut out);
            out.len()
        })
    });
    let input = b"mg user:12345:profile v f c t k O42\r\n";
    let Ok(Some((Request::MetaGet(mg), _))) = decode_request(input, &Limits::default()) else {
        panic!("mg must decode")
    };
    let item = MetaItemInfo {
        client_flags: 5,
        cas: 123456,
        ttl_left: 300,
        size: 32,
        ..MetaItemInfo::default()
    };
    group.bench_function("mg_hit_32B", |b| {
        b.iter(|| {
            out.clear();
            encode_meta_get_hit(
                &mut out,
                black_box(&mg),
                b"user:12345:profile",
                &item,
                Some(&value32),
            );
            out.len()
        })
    });
    group.finish();
}

fn client(c: &mut Criterion) {
    let mut group = c.benchmark_group("client");
    let mut out = BytesMut::with_capacity(64 * 1024);
    let keys: Vec<String> = (0..100).map(|i| format!("user:{i}:profile")).collect();
    group.bench_function("encode_get_100", |b| {
        b.iter(|| {
            out.clear();
            encode_retrieval(&mut out, RetrievalCommand::Get, 0, black_box(&keys));
            out.len()
        })
    });
    group.bench_function("encode_mg", |b| {
        b.iter(|| {
            out.clear();
            encode_meta(&mut out, MetaCommand::Get, black_box(b"user:12345:profile"), b"v f c O42");
            out.len()
        })
    });
    // A 100-value get reply (32 B values).
    let mut reply = Vec::new();
    for k in &keys {
        encode_value(&mut reply, k.as_bytes(), 0, None, &[b'x'; 32]);
    }
    encode_end(&mut reply);
    group.throughput(Throughput::Bytes(reply.len() as u64));
    group.bench_function("decode_get_reply_100x32B", |b| {
        b.iter_batched(
            || BytesMut::from(&reply[..]),
            |mut buf| {
                let mut n = 0;
                while let Ok(Some(_)) = decode_response(&mut buf) {
                    n += 1;
                }
                n
            },
            BatchSize::SmallInput,
        )
    });
    group.finish();
}

criterion_group!(benches, server_decode, server_encode, client);
criterion_main!(benches);
