//! Client throughput against our server (`memcached-server`): pipelined gets, multi-get and
//! single round trips, one connection.
//!
//! The server binary is taken from `MEMCACHED_BENCH_SERVER`, else `memcached-server` next to
//! this bench in the target dir (`cargo build --release -p memcached-server` first), else
//! Debian's `/usr/bin/memcached` (the bench says which one it measured).

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use memcached_client::{Client, StoreOptions};
use std::net::TcpStream;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

struct ServerProcess(Child);

impl Drop for ServerProcess {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn server_binary() -> PathBuf {
    if let Some(path) = std::env::var_os("MEMCACHED_BENCH_SERVER") {
        return PathBuf::from(path);
    }
    if let Ok(exe) = std::env::current_exe() {
        // target/<profile>/deps/throughput-… → target/<profile>/memcached-server, then other profiles.
        if let Some(target) = exe.parent().and_then(|d| d.parent()).and_then(|p| p.parent()) {
            for profile in ["release", "debug"] {
                let candidate = target.join(profile).join("memcached-server");
                if candidate.is_file() {
                    return candidate;
                }
            }
        }
    }
    PathBuf::from("/usr/bin/memcached")
}

fn start_server(port: u16) -> (ServerProcess, PathBuf) {
    let binary = server_binary();
    let port_text = port.to_string();
    let mut args = vec!["-p", &port_text, "-l", "127.0.0.1", "-U", "0", "-t", "2", "-m", "256"];
    if binary == std::path::Path::new("/usr/bin/memcached") {
        args.extend(["-u", "nobody"]);
    }
    let child = Command::new(&binary)
        .args(&args)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {}: {e}", binary.display()));
    let deadline = Instant::now() + Duration::from_secs(10);
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "{} did not listen on {port}", binary.display());
        std::thread::sleep(Duration::from_millis(20));
    }
    (ServerProcess(child), binary)
}

fn throughput(c: &mut Criterion) {
    let port = 23900 + (std::process::id() % 90) as u16;
    let (_server, binary) = start_server(port);
    eprintln!("client throughput against {}", binary.display());
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let client = Client::builder()
        .server(&format!("127.0.0.1:{port}"))
        .max_connections_per_server(1)
        .build()
        .unwrap();
    let keys: Vec<String> = (0..1000).map(|i| format!("bench:key:{i}")).collect();
    runtime.block_on(async {
        for key in &keys {
            client.set(key, [b'x'; 100], StoreOptions::default()).await.unwrap();
        }
    });

    let mut group = c.benchmark_group("client");
    for batch in [1usize, 16, 100] {
        group.throughput(Throughput::Elements(batch as u64));
        group.bench_with_input(BenchmarkId::new("pipelined_gets", batch), &batch, |b, &batch| {
            b.iter(|| {
                runtime.block_on(async {
                    let mut pipeline = client.pipeline();
                    for key in &keys[..batch] {
                        pipeline.get(key.clone().into_bytes());
                    }
                    let results = pipeline.execute().await;
                    assert!(results.iter().all(|r| r.is_ok()));
                })
            })
        });
        group.bench_with_input(BenchmarkId::new("get_multi", batch), &batch, |b, &batch| {
            b.iter(|| {
                runtime.block_on(async {
                    let found = client.get_multi(&keys[..batch]).await.unwrap();
                    assert_eq!(found.items.len(), batch);
                })
            })
        });
    }
    group.throughput(Throughput::Elements(1));
    group.bench_function("get_round_trip", |b| {
        b.iter(|| runtime.block_on(async { client.get(&keys[7]).await.unwrap().unwrap() }))
    });
    group.bench_function("set_round_trip", |b| {
        b.iter(|| {
            runtime.block_on(async {
                client.set(&keys[7], [b'y'; 100], StoreOptions::default()).await.unwrap()
            })
        })
    });
    group.finish();
}

criterion_group!(benches, throughput);
criterion_main!(benches);
