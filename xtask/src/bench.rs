//! `cargo xtask bench`: our server and Debian's memcached side by side, in one run.
//!
//! ```text
//!   core 0: memcached -t 1        core 0: memcached-server -t 1     (both started up front)
//!   core 1: loadgen  --server A | loadgen --server B | A | B | A | B   (alternating pairs)
//! ```
//!
//! For every workload the two servers are filled the same way, then measured in alternating
//! A/B pairs; the table reports medians and per-pair ratios (ours / memcached), with the server's
//! CPU time per operation read from /proc/<pid>/stat. A memory-efficiency run fills `-m 64` with
//! 10-byte keys until evictions begin and reports the items each server holds. The result
//! replaces the generated section of docs/benchmarks.md.

use std::fmt::Write as _;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

const MEMCACHED: &str = "/usr/bin/memcached";
const SECTION_START: &str = "<!-- xtask-bench:start -->";
const SECTION_END: &str = "<!-- xtask-bench:end -->";

/// One load shape, applied identically to both servers.
struct Workload {
    name: &'static str,
    loadgen_args: &'static [&'static str],
    server_threads: u32,
}

const WORKLOADS: &[Workload] = &[
    Workload {
        name: "90/10 get/set, 32 B, no pipelining (8 conns)",
        loadgen_args: &["--conns", "8", "--depth", "1", "--value-size", "32"],
        server_threads: 1,
    },
    Workload {
        name: "90/10 get/set, 32 B, pipeline 16 (8 conns)",
        loadgen_args: &["--conns", "8", "--depth", "16", "--value-size", "32"],
        server_threads: 1,
    },
    Workload {
        name: "100 % set, 1 KiB (8 conns, pipeline 4)",
        loadgen_args: &["--conns", "8", "--depth", "4", "--value-size", "1024", "--get-ratio", "0"],
        server_threads: 1,
    },
    Workload {
        name: "multi-get of 100 keys, 32 B (8 conns)",
        loadgen_args: &[
            "--conns",
            "8",
            "--depth",
            "1",
            "--value-size",
            "32",
            "--get-ratio",
            "1",
            "--mget",
            "100",
        ],
        server_threads: 1,
    },
    Workload {
        name: "-t 2: 90/10, 32 B, pipeline 16 (2x8 conns, unpinned)",
        loadgen_args: &["--threads", "2", "--conns", "8", "--depth", "16", "--value-size", "32"],
        server_threads: 2,
    },
];

/// A measured loadgen run against one server.
#[derive(Clone, Copy, Default)]
struct Sample {
    ops_per_sec: f64,
    p99_us: f64,
    cpu_us_per_op: f64,
}

pub fn bench(args: &[String]) -> Result<(), String> {
    let quick = args.iter().any(|a| a == "--quick");
    let pairs = if quick { 1 } else { 3 };
    let seconds = if quick { "2" } else { "5" };
    if !Path::new(MEMCACHED).exists() {
        return Err(format!("{MEMCACHED} is missing: run `cargo xtask setup` as root"));
    }
    super::run(
        "cargo",
        &["build", "--release", "-p", "memcached-server", "-p", "memcached-bench"],
    )?;
    let target = target_dir();
    let ours = format!("{target}/release/memcached-server");
    let loadgen = format!("{target}/release/loadgen");

    let mut table = String::new();
    writeln!(table, "Command: `cargo xtask bench{}`; {pairs} A/B pair(s) of {seconds} s per workload; memcached 1.6.18 = A, ours = B.", if quick { " --quick" } else { "" }).unwrap();
    writeln!(table, "Servers pinned to core 0 and loadgen to core 1 (except the -t 2 row). Ratios are B/A per pair; medians over pairs.\n").unwrap();
    writeln!(table, "| workload | memcached ops/s | ours ops/s | ops/s ratio (per pair) | p99 µs A / B | CPU µs/op A / B (ratio) |").unwrap();
    writeln!(table, "|---|---|---|---|---|---|").unwrap();

    for (index, workload) in WORKLOADS.iter().enumerate() {
        let pinned = workload.server_threads == 1;
        let port_a = 26_100 + index as u16 * 2;
        let port_b = port_a + 1;
        let threads = workload.server_threads.to_string();
        let server_args = ["-m", "1024", "-t", threads.as_str(), "-l", "127.0.0.1", "-U", "0"];
        let a = Server::start(MEMCACHED, port_a, &server_args, pinned)?;
        let b = Server::start(&ours, port_b, &server_args, pinned)?;
        for port in [port_a, port_b] {
            let address = format!("127.0.0.1:{port}");
            run_loadgen(
                &loadgen,
                &["--server", &address, "--fill-only", "--value-size", value_size_of(workload)],
                pinned,
            )?;
        }
        let mut samples_a = Vec::new();
        let mut samples_b = Vec::new();
        for _ in 0..pairs {
            samples_a.push(measure(&loadgen, &a, workload, seconds, pinned)?);
            samples_b.push(measure(&loadgen, &b, workload, seconds, pinned)?);
        }
        let ratios: Vec<f64> =
            samples_a.iter().zip(&samples_b).map(|(a, b)| b.ops_per_sec / a.ops_per_sec).collect();
        let (ma, mb) = (median_sample(&samples_a), median_sample(&samples_b));
        writeln!(
            table,
            "| {} | {:.0} | {:.0} | {:.2}x ({}) | {:.0} / {:.0} | {:.2} / {:.2} ({:.2}x) |",
            workload.name,
            ma.ops_per_sec,
            mb.ops_per_sec,
            median(&ratios),
            ratios.iter().map(|r| format!("{r:.2}")).collect::<Vec<_>>().join(", "),
            ma.p99_us,
            mb.p99_us,
            ma.cpu_us_per_op,
            mb.cpu_us_per_op,
            mb.cpu_us_per_op / ma.cpu_us_per_op,
        )
        .unwrap();
        eprintln!("xtask bench: {}", table.lines().last().unwrap_or(""));
    }

    writeln!(table, "\nMemory efficiency (`-m 64`, 10-byte keys, filled until evictions begin; raw capacity = 64 MiB / (key + value)):\n").unwrap();
    writeln!(table, "| value size | raw capacity | memcached items (% raw) | ours items (% raw) |")
        .unwrap();
    writeln!(table, "|---|---|---|---|").unwrap();
    for (index, value_size) in [100u64, 1000].into_iter().enumerate() {
        let raw = (64u64 << 20) / (10 + value_size);
        let keys = (raw * 14 / 10).to_string();
        let port_a = 26_200 + index as u16 * 2;
        let mut held = Vec::new();
        for (binary, port) in [(MEMCACHED, port_a), (ours.as_str(), port_a + 1)] {
            let server = Server::start(
                binary,
                port,
                &["-m", "64", "-t", "1", "-l", "127.0.0.1", "-U", "0"],
                true,
            )?;
            let address = format!("127.0.0.1:{port}");
            run_loadgen(
                &loadgen,
                &[
                    "--server",
                    &address,
                    "--fill-only",
                    "--keys",
                    &keys,
                    "--value-size",
                    &value_size.to_string(),
                ],
                true,
            )?;
            held.push(stat_value(port, "curr_items")?);
            drop(server);
        }
        writeln!(
            table,
            "| {value_size} B | {raw} | {} ({:.1} %) | {} ({:.1} %) |",
            held[0],
            held[0] as f64 * 100.0 / raw as f64,
            held[1],
            held[1] as f64 * 100.0 / raw as f64
        )
        .unwrap();
    }
    println!("{table}");
    write_section(&table)
}

fn value_size_of(workload: &Workload) -> &'static str {
    let args = workload.loadgen_args;
    args.iter().position(|a| *a == "--value-size").map(|i| args[i + 1]).unwrap_or("32")
}

fn measure(
    loadgen: &str,
    server: &Server,
    workload: &Workload,
    seconds: &str,
    pinned: bool,
) -> Result<Sample, String> {
    let address = format!("127.0.0.1:{}", server.port);
    let mut args = vec!["--server", address.as_str(), "--duration", seconds, "--warmup", "1"];
    args.extend_from_slice(workload.loadgen_args);
    let cpu_before = server.cpu_ticks()?;
    let line = run_loadgen(loadgen, &args, pinned)?;
    let cpu_after = server.cpu_ticks()?;
    let field = |name: &str| -> Result<f64, String> {
        line.split_whitespace()
            .find_map(|pair| pair.strip_prefix(name).and_then(|v| v.strip_prefix('=')))
            .and_then(|v| v.parse().ok())
            .ok_or_else(|| format!("loadgen output lacks {name}: {line}"))
    };
    let ops = field("ops")?;
    // The CPU window includes the 1 s warm-up, whose operations are not in `ops`; scale the ops
    // by the ratio of the whole run to the measured part.
    let measured = field("seconds")?;
    let all_ops = ops * (measured + 1.0) / measured;
    let ticks_per_second = 100.0; // USER_HZ on Linux
    let cpu_us = (cpu_after - cpu_before) as f64 / ticks_per_second * 1e6;
    Ok(Sample {
        ops_per_sec: field("ops_per_sec")?,
        p99_us: field("p99_us")?,
        cpu_us_per_op: cpu_us / all_ops.max(1.0),
    })
}

fn run_loadgen(loadgen: &str, args: &[&str], pinned: bool) -> Result<String, String> {
    let mut command = if pinned {
        let mut c = Command::new("taskset");
        c.args(["-c", "1", loadgen]);
        c
    } else {
        Command::new(loadgen)
    };
    let output = command.args(args).output().map_err(|e| format!("loadgen: {e}"))?;
    if !output.status.success() {
        return Err(format!(
            "loadgen {} failed: {}",
            args.join(" "),
            String::from_utf8_lossy(&output.stderr)
        ));
    }
    Ok(String::from_utf8_lossy(&output.stdout).trim().to_string())
}

/// A server process started for the benchmark; killed (by its PID) when dropped.
struct Server {
    child: Child,
    port: u16,
}

impl Server {
    fn start(binary: &str, port: u16, args: &[&str], pinned: bool) -> Result<Server, String> {
        let port_text = port.to_string();
        let mut command = if pinned {
            let mut c = Command::new("taskset");
            c.args(["-c", "0", binary]);
            c
        } else {
            Command::new(binary)
        };
        command.args(["-p", &port_text]).args(args).stdout(Stdio::null()).stderr(Stdio::null());
        if super::is_root() {
            command.args(["-u", "nobody"]);
        }
        let child = command.spawn().map_err(|e| format!("{binary}: {e}"))?;
        let server = Server { child, port };
        for _ in 0..100 {
            if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
                return Ok(server);
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        Err(format!("{binary} did not listen on port {port}"))
    }

    /// utime + stime of the server process, in clock ticks.
    fn cpu_ticks(&self) -> Result<u64, String> {
        let stat = std::fs::read_to_string(format!("/proc/{}/stat", self.child.id()))
            .map_err(|e| format!("/proc/{}/stat: {e}", self.child.id()))?;
        // Fields after the parenthesised command name; utime and stime are fields 14 and 15.
        let after_name = stat.rsplit_once(") ").map(|(_, rest)| rest).unwrap_or("");
        let fields: Vec<&str> = after_name.split_whitespace().collect();
        let tick = |i: usize| fields.get(i).and_then(|v| v.parse::<u64>().ok()).unwrap_or(0);
        Ok(tick(11) + tick(12))
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn stat_value(port: u16, name: &str) -> Result<u64, String> {
    use std::io::{Read, Write};
    let mut stream =
        std::net::TcpStream::connect(("127.0.0.1", port)).map_err(|e| e.to_string())?;
    stream.write_all(b"stats\r\n").map_err(|e| e.to_string())?;
    let mut reply = Vec::new();
    let mut chunk = [0u8; 4096];
    while !reply.ends_with(b"END\r\n") {
        let n = stream.read(&mut chunk).map_err(|e| e.to_string())?;
        if n == 0 {
            break;
        }
        reply.extend_from_slice(&chunk[..n]);
    }
    let text = String::from_utf8_lossy(&reply);
    let prefix = format!("STAT {name} ");
    text.lines()
        .find_map(|line| line.strip_prefix(&prefix))
        .and_then(|v| v.trim().parse().ok())
        .ok_or_else(|| format!("stats on port {port} lacks {name}"))
}

fn median(values: &[f64]) -> f64 {
    let mut sorted = values.to_vec();
    sorted.sort_by(|a, b| a.total_cmp(b));
    sorted[sorted.len() / 2]
}

fn median_sample(samples: &[Sample]) -> Sample {
    Sample {
        ops_per_sec: median(&samples.iter().map(|s| s.ops_per_sec).collect::<Vec<_>>()),
        p99_us: median(&samples.iter().map(|s| s.p99_us).collect::<Vec<_>>()),
        cpu_us_per_op: median(&samples.iter().map(|s| s.cpu_us_per_op).collect::<Vec<_>>()),
    }
}

fn target_dir() -> String {
    std::env::var("CARGO_TARGET_DIR").unwrap_or_else(|_| "target".to_string())
}

/// Replaces the generated section of docs/benchmarks.md (or appends it).
fn write_section(table: &str) -> Result<(), String> {
    let path = "docs/benchmarks.md";
    let old = std::fs::read_to_string(path).unwrap_or_else(|_| "# Benchmarks\n".to_string());
    let section = format!("{SECTION_START}\n{table}{SECTION_END}");
    let new = match (old.find(SECTION_START), old.find(SECTION_END)) {
        (Some(start), Some(end)) if start < end => {
            format!("{}{section}{}", &old[..start], &old[end + SECTION_END.len()..])
        }
        _ => format!("{old}\n## End-to-end: `cargo xtask bench`\n\n{section}\n"),
    };
    std::fs::write(path, new).map_err(|e| format!("{path}: {e}"))
}
