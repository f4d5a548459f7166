//! `cargo xtask bench`: our server and Debian's memcached side by side, in one run.
//!
//! ```text
//!   core 0: memcached -t 1        core 0: memcached-server -t 1     (both started up front)
//!   core 1: loadgen  --server A | B , then B | A , then A | B ...    (alternating pairs)
//! ```
//!
//! For every workload the two servers get the same flags and the same fill, then are measured in
//! alternating A/B pairs (the order flips every pair, so a slow drift of the shared machine does
//! not always hit the same server). The table reports medians and per-pair ratios (ours /
//! memcached). Server CPU time per operation is the sum of the first field of
//! `/proc/<pid>/task/*/schedstat` (nanoseconds on a CPU, every thread of the server) over the
//! whole loadgen run, divided by every operation loadgen completed in it (warm-up included).
//!
//! A memory-efficiency run fills `-m 64` with 10-byte keys and 100-byte, then 1000-byte values
//! until evictions begin and reports the items each server holds against the raw capacity.
//! The result replaces the generated section of docs/benchmarks.md.
//!
//! Instruction counts: with `--callgrind` (default in a full run) both servers also run under
//! `valgrind --tool=callgrind` for the pinned workloads; user-space instructions per operation =
//! (Ir of a fill + load run - Ir of a fill-only run) / operations of the load. Unlike times,
//! these counts repeat on a loaded machine, so they are the A/B evidence for CPU changes.
//!
//! Flags: `--quick` (1 pair of 2 s, no callgrind), `--pairs N`, `--seconds S`, `--only TEXT`
//! (workloads whose name contains TEXT; skips the memory run unless TEXT is `memory`),
//! `--callgrind` / `--no-callgrind`, `--no-write`.

use std::fmt::Write as _;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

const MEMCACHED: &str = "/usr/bin/memcached";
const SECTION_START: &str = "<!-- xtask-bench:start -->";
const SECTION_END: &str = "<!-- xtask-bench:end -->";
/// Ports used by the benchmark servers (workload i uses BASE_PORT + 2i and + 2i + 1).
const BASE_PORT: u16 = 28_100;
const MEMORY_BASE_PORT: u16 = 28_200;

/// One load shape, applied identically to both servers.
struct Workload {
    /// Short id the summary of targets refers to.
    id: &'static str,
    name: &'static str,
    loadgen_args: &'static [&'static str],
    server_threads: u32,
}

const WORKLOADS: &[Workload] = &[
    Workload {
        id: "nopipe",
        name: "90/10 get/set, 32 B, no pipelining (8 conns)",
        loadgen_args: &["--conns", "8", "--depth", "1", "--value-size", "32"],
        server_threads: 1,
    },
    Workload {
        id: "rate",
        name: "same, fixed load of 20,000 ops/s (no pipelining, 8 conns)",
        loadgen_args: &["--conns", "8", "--depth", "1", "--value-size", "32", "--rate", "20000"],
        server_threads: 1,
    },
    Workload {
        id: "p16",
        name: "90/10 get/set, 32 B, pipeline 16 (8 conns)",
        loadgen_args: &["--conns", "8", "--depth", "16", "--value-size", "32"],
        server_threads: 1,
    },
    Workload {
        id: "set1k",
        name: "100 % set, 1 KiB (8 conns, pipeline 4)",
        loadgen_args: &["--conns", "8", "--depth", "4", "--value-size", "1024", "--get-ratio", "0"],
        server_threads: 1,
    },
    Workload {
        id: "mget",
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
        id: "t2",
        name: "-t 2: 90/10, 32 B, pipeline 16 (2x8 conns, unpinned)",
        loadgen_args: &["--threads", "2", "--conns", "8", "--depth", "16", "--value-size", "32"],
        server_threads: 2,
    },
];

/// A measured loadgen run against one server.
#[derive(Clone, Copy, Default)]
struct Sample {
    ops_per_sec: f64,
    p50_us: f64,
    p99_us: f64,
    cpu_us_per_op: f64,
}

/// What the command line asked for.
struct BenchOptions {
    quick: bool,
    pairs: usize,
    seconds: String,
    only: Option<String>,
    write: bool,
    callgrind: bool,
}

impl BenchOptions {
    fn parse(args: &[String]) -> Result<BenchOptions, String> {
        let quick = args.iter().any(|a| a == "--quick");
        let mut options = BenchOptions {
            quick,
            pairs: if quick { 1 } else { 3 },
            seconds: if quick { "2" } else { "5" }.to_string(),
            only: None,
            write: true,
            callgrind: !quick,
        };
        let mut rest = args.iter();
        while let Some(arg) = rest.next() {
            let mut value = || rest.next().cloned().ok_or_else(|| format!("{arg} needs a value"));
            match arg.as_str() {
                "--quick" => {}
                "--no-write" => options.write = false,
                "--callgrind" => options.callgrind = true,
                "--no-callgrind" => options.callgrind = false,
                "--pairs" => {
                    options.pairs = value()?.parse().map_err(|_| "--pairs: not a number")?;
                    if options.pairs == 0 {
                        return Err("--pairs must be at least 1".into());
                    }
                }
                "--seconds" => {
                    let seconds = value()?;
                    seconds.parse::<f64>().map_err(|_| "--seconds: not a number")?;
                    options.seconds = seconds;
                }
                "--only" => options.only = Some(value()?),
                other => return Err(format!("bench: unknown option {other}")),
            }
        }
        Ok(options)
    }

    /// The command line that reproduces this run, for the table's header.
    fn command(&self) -> String {
        let mut command = String::from("cargo xtask bench");
        if self.quick {
            command.push_str(" --quick");
        }
        let default_pairs = if self.quick { 1 } else { 3 };
        if self.pairs != default_pairs {
            command.push_str(&format!(" --pairs {}", self.pairs));
        }
        if self.seconds != if self.quick { "2" } else { "5" } {
            command.push_str(&format!(" --seconds {}", self.seconds));
        }
        if let Some(only) = &self.only {
            command.push_str(&format!(" --only '{only}'"));
        }
        if self.callgrind == self.quick {
            command.push_str(if self.callgrind { " --callgrind" } else { " --no-callgrind" });
        }
        command
    }
}

pub fn bench(args: &[String]) -> Result<(), String> {
    let options = BenchOptions::parse(args)?;
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
    let pairs = options.pairs;
    let seconds = options.seconds.as_str();

    let mut table = String::new();
    writeln!(
        table,
        "Command: `{}` (commit {}, {}; load average before: {}).",
        options.command(),
        git_commit(),
        utc_now(),
        load_average()
    )
    .unwrap();
    writeln!(table, "{pairs} A/B pair(s) of {seconds} s per workload after 1 s of warm-up; memcached 1.6.18 = A, ours = B, both with `-m 1024 -t N -U 0`, filled with the workload's 100,000 keys first.").unwrap();
    writeln!(table, "Servers pinned to core 0 and loadgen to core 1 (except the -t 2 row). Ratios are B/A per pair; medians over pairs.").unwrap();
    writeln!(table, "CPU µs/op: server CPU time (all threads, /proc/<pid>/task/*/schedstat) over the run / operations in the run. The machine has 2 cores shared with other work, so absolute numbers move between runs; compare within a row.\n").unwrap();
    writeln!(table, "| workload | memcached ops/s | ours ops/s | ops/s ratio (per pair) | p50 µs A / B | p99 µs A / B | CPU µs/op A / B | CPU ratio (per pair) |").unwrap();
    writeln!(table, "|---|---|---|---|---|---|---|---|").unwrap();

    let mut summary = Summary::default();
    for (index, workload) in WORKLOADS.iter().enumerate() {
        if let Some(only) = &options.only {
            if !workload.name.contains(only.as_str()) {
                continue;
            }
        }
        let pinned = workload.server_threads == 1;
        let port_a = BASE_PORT + index as u16 * 2;
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
        for pair in 0..pairs {
            if pair % 2 == 0 {
                samples_a.push(measure(&loadgen, &a, workload, seconds, pinned)?);
                samples_b.push(measure(&loadgen, &b, workload, seconds, pinned)?);
            } else {
                samples_b.push(measure(&loadgen, &b, workload, seconds, pinned)?);
                samples_a.push(measure(&loadgen, &a, workload, seconds, pinned)?);
            }
        }
        let ratios = |f: fn(&Sample) -> f64| -> Vec<f64> {
            samples_a.iter().zip(&samples_b).map(|(a, b)| f(b) / f(a)).collect()
        };
        let ops_ratios = ratios(|s| s.ops_per_sec);
        let cpu_ratios = ratios(|s| s.cpu_us_per_op);
        let p99_ratios = ratios(|s| s.p99_us);
        let (ma, mb) = (median_sample(&samples_a), median_sample(&samples_b));
        writeln!(
            table,
            "| {} | {:.0} | {:.0} | {:.2}x ({}) | {:.0} / {:.0} | {:.0} / {:.0} | {:.2} / {:.2} | {:.2}x ({}) |",
            workload.name,
            ma.ops_per_sec,
            mb.ops_per_sec,
            median(&ops_ratios),
            list(&ops_ratios),
            ma.p50_us,
            mb.p50_us,
            ma.p99_us,
            mb.p99_us,
            ma.cpu_us_per_op,
            mb.cpu_us_per_op,
            median(&cpu_ratios),
            list(&cpu_ratios),
        )
        .unwrap();
        eprintln!("xtask bench: {}", table.lines().last().unwrap_or(""));
        match workload.id {
            "nopipe" => {
                summary.closed_loop_cpu_ratio = Some(median(&cpu_ratios));
                summary.closed_loop_p99_ratio = Some(median(&p99_ratios));
            }
            "rate" => {
                summary.unpipelined_cpu_ratio = Some(median(&cpu_ratios));
                summary.unpipelined_p99_ratio = Some(median(&p99_ratios));
            }
            "p16" => {
                summary.pipelined_ops_ratio = Some(median(&ops_ratios));
                summary.one_thread_ops = Some((ma.ops_per_sec, mb.ops_per_sec));
            }
            "t2" => summary.two_thread_ops = Some((ma.ops_per_sec, mb.ops_per_sec)),
            _ => {}
        }
    }

    if options.callgrind {
        instruction_counts(&ours, &loadgen, &options, &mut table)?;
    }
    let run_memory = options.only.as_deref().is_none_or(|only| only == "memory");
    if run_memory {
        memory_efficiency(&ours, &loadgen, &mut table, &mut summary)?;
    }
    summary.write(&mut table);
    println!("{table}");
    if options.write {
        write_section(&table)?;
    }
    Ok(())
}

/// The ratios the targets of issue 6 are about.
#[derive(Default)]
struct Summary {
    pipelined_ops_ratio: Option<f64>,
    /// No pipelining at the same fixed offered load for both servers.
    unpipelined_cpu_ratio: Option<f64>,
    unpipelined_p99_ratio: Option<f64>,
    /// No pipelining, closed loop (each server gets as much load as it answers).
    closed_loop_cpu_ratio: Option<f64>,
    closed_loop_p99_ratio: Option<f64>,
    memory_100: Option<(f64, f64)>,
    memory_1000: Option<(f64, f64)>,
    /// Median ops/s (memcached, ours) of the pipelined 90/10 workload at -t 1 and at -t 2.
    one_thread_ops: Option<(f64, f64)>,
    two_thread_ops: Option<(f64, f64)>,
}

impl Summary {
    fn write(&self, table: &mut String) {
        let verdict = |met: bool| if met { "met" } else { "NOT met" };
        writeln!(table, "\nTargets (medians of this run):\n").unwrap();
        if let Some(r) = self.pipelined_ops_ratio {
            writeln!(
                table,
                "- pipeline 16 ops/s >= 2.0x memcached: {r:.2}x, {}",
                verdict(r >= 2.0)
            )
            .unwrap();
        }
        if let Some(r) = self.unpipelined_cpu_ratio {
            writeln!(
                table,
                "- no pipelining, same load (20,000 ops/s), CPU per op <= 0.8x memcached: \
                 {r:.3}x, {}",
                verdict(r <= 0.8)
            )
            .unwrap();
        }
        if let Some(r) = self.unpipelined_p99_ratio {
            writeln!(
                table,
                "- no pipelining, same load (20,000 ops/s), p99 no worse than memcached: {r:.3}x, \
                 {}",
                verdict(r <= 1.0)
            )
            .unwrap();
        }
        if let (Some(cpu), Some(p99)) = (self.closed_loop_cpu_ratio, self.closed_loop_p99_ratio) {
            writeln!(
                table,
                "- for reference, no pipelining closed loop (each server as fast as it answers, so \
                 not the same load): CPU per op {cpu:.2}x, p99 {p99:.2}x"
            )
            .unwrap();
        }
        if let (Some(one), Some(two)) = (self.one_thread_ops, self.two_thread_ops) {
            writeln!(
                table,
                "- scaling, pipeline 16 ops/s at -t 2 / -t 1 (the -t 2 row is unpinned, loadgen \
                 shares the 2 cores): memcached {:.2}x, ours {:.2}x",
                two.0 / one.0,
                two.1 / one.1
            )
            .unwrap();
        }
        if let Some((ours, _)) = self.memory_100 {
            writeln!(
                table,
                "- 100 B values: >= 75 % of raw capacity: {ours:.1} %, {}",
                verdict(ours >= 75.0)
            )
            .unwrap();
        }
        if let Some((ours, theirs)) = self.memory_1000 {
            writeln!(
                table,
                "- 1000 B values: no worse than memcached ({theirs:.1} %): {ours:.1} %, {}",
                verdict(ours >= theirs)
            )
            .unwrap();
        }
    }
}

/// Fills `-m 64` servers until evictions begin and writes the items each holds.
fn memory_efficiency(
    ours: &str,
    loadgen: &str,
    table: &mut String,
    summary: &mut Summary,
) -> Result<(), String> {
    writeln!(table, "\nMemory efficiency (`-m 64 -t 1`, 10-byte keys, 1.4x the raw capacity written so evictions have begun; raw capacity = 64 MiB / (key + value)):\n").unwrap();
    writeln!(
        table,
        "| value size | raw capacity | memcached items (% raw), evictions | ours items (% raw), evictions |"
    )
    .unwrap();
    writeln!(table, "|---|---|---|---|").unwrap();
    for (index, value_size) in [100u64, 1000].into_iter().enumerate() {
        let raw = (64u64 << 20) / (10 + value_size);
        let keys = (raw * 14 / 10).to_string();
        let port_a = MEMORY_BASE_PORT + index as u16 * 2;
        let mut held = Vec::new();
        for (binary, port) in [(MEMCACHED, port_a), (ours, port_a + 1)] {
            let server = Server::start(
                binary,
                port,
                &["-m", "64", "-t", "1", "-l", "127.0.0.1", "-U", "0"],
                true,
            )?;
            let address = format!("127.0.0.1:{port}");
            run_loadgen(
                loadgen,
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
            held.push((stat_value(port, "curr_items")?, stat_value(port, "evictions")?));
            drop(server);
        }
        let percent = |items: u64| items as f64 * 100.0 / raw as f64;
        writeln!(
            table,
            "| {value_size} B | {raw} | {} ({:.1} %), {} | {} ({:.1} %), {} |",
            held[0].0,
            percent(held[0].0),
            held[0].1,
            held[1].0,
            percent(held[1].0),
            held[1].1
        )
        .unwrap();
        let result = Some((percent(held[1].0), percent(held[0].0)));
        if value_size == 100 {
            summary.memory_100 = result;
        } else {
            summary.memory_1000 = result;
        }
    }
    Ok(())
}

/// Callgrind seconds of load per run (the servers run ~50x slower under valgrind).
const CALLGRIND_SECONDS: &str = "6";
/// Keys filled before a callgrind run (kept small so the fill-only baseline is cheap).
const CALLGRIND_KEYS: &str = "10000";

/// User-space instructions per operation of both servers for the pinned workloads.
fn instruction_counts(
    ours: &str,
    loadgen: &str,
    options: &BenchOptions,
    table: &mut String,
) -> Result<(), String> {
    if Command::new("valgrind").arg("--version").output().is_err() {
        return Err("--callgrind needs valgrind (apt-get install valgrind)".into());
    }
    writeln!(table, "\nUser-space instructions per operation (callgrind Ir; both servers `-m 1024 -t 1` under `valgrind --tool=callgrind`, {CALLGRIND_KEYS} keys filled, {CALLGRIND_SECONDS} s of load; Ir of the fill-only run subtracted; kernel time is not in these counts):\n").unwrap();
    writeln!(table, "| workload | memcached Ir/op | ours Ir/op | ratio |").unwrap();
    writeln!(table, "|---|---|---|---|").unwrap();
    for (index, workload) in WORKLOADS.iter().enumerate() {
        // The fixed-rate row does the same work per request as the closed-loop one.
        if workload.server_threads != 1 || workload.id == "rate" {
            continue;
        }
        if let Some(only) = &options.only {
            if !workload.name.contains(only.as_str()) {
                continue;
            }
        }
        let port = BASE_PORT + 50 + index as u16 * 4;
        let mut per_op = Vec::new();
        for (slot, binary) in [MEMCACHED, ours].into_iter().enumerate() {
            let port = port + slot as u16 * 2;
            let (_, baseline) = callgrind_run(binary, port, loadgen, workload, false)?;
            let (ops, total) = callgrind_run(binary, port + 1, loadgen, workload, true)?;
            per_op.push(total.saturating_sub(baseline) as f64 / ops.max(1) as f64);
        }
        writeln!(
            table,
            "| {} | {:.0} | {:.0} | {:.2}x |",
            workload.name,
            per_op[0],
            per_op[1],
            per_op[1] / per_op[0]
        )
        .unwrap();
        eprintln!("xtask bench: {}", table.lines().last().unwrap_or(""));
    }
    Ok(())
}

/// Starts `binary` under callgrind, fills it, optionally runs the workload, stops it with
/// SIGTERM and returns (operations of the load, total Ir of the process).
fn callgrind_run(
    binary: &str,
    port: u16,
    loadgen: &str,
    workload: &Workload,
    with_load: bool,
) -> Result<(u64, u64), String> {
    let dir = std::env::temp_dir().join(format!("xtask-callgrind-{}", std::process::id()));
    std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    // The server drops to `nobody` when started as root; let it write its profile.
    let _ = Command::new("chmod").arg("1777").arg(&dir).status();
    let out = dir.join(format!("callgrind.{port}"));
    let _ = std::fs::remove_file(&out);
    // Under valgrind the fd hard limit is 12 lower than the real one, and memcached sets both
    // limits to -c: ask for exactly what valgrind allows.
    let script = format!(
        "ulimit -Sn $(ulimit -Hn); c=$(( $(ulimit -Hn) - 12 )); [ \"$MC\" = 1 ] || c=1024; \
         exec valgrind --tool=callgrind --vgdb=no --callgrind-out-file={} {binary} -p {port} \
         -m 1024 -t 1 -c $c -l 127.0.0.1 -U 0",
        out.display()
    );
    let mut command = if super::is_root() {
        let mut c = Command::new("runuser");
        c.args(["-u", "nobody", "--", "sh", "-c", &script]);
        c
    } else {
        let mut c = Command::new("sh");
        c.args(["-c", &script]);
        c
    };
    command.env("MC", if binary == MEMCACHED { "1" } else { "0" });
    let mut child = command
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| format!("valgrind {binary}: {e}"))?;
    let mut listening = false;
    for _ in 0..600 {
        if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
            listening = true;
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let address = format!("127.0.0.1:{port}");
    let value_size = value_size_of(workload);
    let result = (|| -> Result<u64, String> {
        if !listening {
            return Err(format!("{binary} under valgrind did not listen on port {port}"));
        }
        let fill = ["--server", &address, "--fill-only", "--keys", CALLGRIND_KEYS];
        let mut fill = fill.to_vec();
        fill.extend_from_slice(&["--value-size", value_size]);
        run_loadgen(loadgen, &fill, true)?;
        if !with_load {
            return Ok(0);
        }
        let mut args = vec!["--server", address.as_str(), "--keys", CALLGRIND_KEYS];
        args.extend_from_slice(&["--duration", CALLGRIND_SECONDS, "--warmup", "0"]);
        args.extend_from_slice(workload.loadgen_args);
        let line = run_loadgen(loadgen, &args, true)?;
        line.split_whitespace()
            .find_map(|pair| pair.strip_prefix("all_ops="))
            .and_then(|v| v.parse().ok())
            .ok_or_else(|| format!("loadgen output lacks all_ops: {line}"))
    })();
    // SIGTERM (runuser passes it on) lets valgrind write the profile.
    let _ = Command::new("kill").args(["-TERM", &child.id().to_string()]).status();
    let _ = child.wait();
    let ops = result?;
    let profile = std::fs::read_to_string(&out).map_err(|e| format!("{}: {e}", out.display()))?;
    let _ = std::fs::remove_file(&out);
    let total = profile
        .lines()
        .find_map(|line| line.strip_prefix("totals:").or_else(|| line.strip_prefix("summary:")))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .ok_or_else(|| format!("{}: no totals line", out.display()))?;
    Ok((ops, total))
}

fn list(values: &[f64]) -> String {
    values.iter().map(|r| format!("{r:.2}")).collect::<Vec<_>>().join(", ")
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
    let cpu_before = server.cpu_nanos()?;
    let line = run_loadgen(loadgen, &args, pinned)?;
    let cpu_after = server.cpu_nanos()?;
    let field = |name: &str| -> Result<f64, String> {
        line.split_whitespace()
            .find_map(|pair| pair.strip_prefix(name).and_then(|v| v.strip_prefix('=')))
            .and_then(|v| v.parse().ok())
            .ok_or_else(|| format!("loadgen output lacks {name}: {line}"))
    };
    // The CPU window is the whole loadgen run, warm-up included; so is `all_ops`.
    let all_ops = field("all_ops")?;
    let cpu_us = cpu_after.saturating_sub(cpu_before) as f64 / 1000.0;
    Ok(Sample {
        ops_per_sec: field("ops_per_sec")?,
        p50_us: field("p50_us")?,
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

    /// Nanoseconds every thread of the server has spent on a CPU
    /// (first field of `/proc/<pid>/task/<tid>/schedstat`, summed).
    fn cpu_nanos(&self) -> Result<u64, String> {
        let tasks = format!("/proc/{}/task", self.child.id());
        let entries = std::fs::read_dir(&tasks).map_err(|e| format!("{tasks}: {e}"))?;
        let mut total = 0u64;
        for entry in entries.flatten() {
            // A thread may exit between listing and reading: skip it.
            if let Ok(stat) = std::fs::read_to_string(entry.path().join("schedstat")) {
                let on_cpu = stat.split_whitespace().next().and_then(|v| v.parse::<u64>().ok());
                total += on_cpu.unwrap_or(0);
            }
        }
        Ok(total)
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
    let of = |f: fn(&Sample) -> f64| median(&samples.iter().map(f).collect::<Vec<_>>());
    Sample {
        ops_per_sec: of(|s| s.ops_per_sec),
        p50_us: of(|s| s.p50_us),
        p99_us: of(|s| s.p99_us),
        cpu_us_per_op: of(|s| s.cpu_us_per_op),
    }
}

fn target_dir() -> String {
    std::env::var("CARGO_TARGET_DIR").unwrap_or_else(|_| "target".to_string())
}

fn git_commit() -> String {
    Command::new("git")
        .args(["rev-parse", "--short", "HEAD"])
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .unwrap_or_else(|| "unknown".to_string())
}

fn utc_now() -> String {
    Command::new("date")
        .args(["-u", "+%Y-%m-%d %H:%M UTC"])
        .output()
        .ok()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .unwrap_or_default()
}

fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|text| text.split_whitespace().next().map(str::to_string))
        .unwrap_or_else(|| "?".to_string())
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

#[cfg(test)]
mod tests {
    use super::*;

    fn args(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn options_default_and_quick() {
        let full = BenchOptions::parse(&[]).unwrap();
        assert_eq!((full.pairs, full.seconds.as_str()), (3, "5"));
        assert_eq!(full.command(), "cargo xtask bench");
        let quick = BenchOptions::parse(&args(&["--quick", "--only", "pipeline"])).unwrap();
        assert_eq!((quick.pairs, quick.seconds.as_str()), (1, "2"));
        assert_eq!(quick.command(), "cargo xtask bench --quick --only 'pipeline'");
        assert!(BenchOptions::parse(&args(&["--pairs", "0"])).is_err());
        assert!(BenchOptions::parse(&args(&["--bogus"])).is_err());
    }

    #[test]
    fn median_of_odd_and_even_lists() {
        assert_eq!(median(&[3.0, 1.0, 2.0]), 2.0);
        assert_eq!(median(&[4.0, 1.0]), 4.0);
    }
}
