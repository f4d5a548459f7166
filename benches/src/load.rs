//! The measuring loop: per-thread mio event loops driving pipelined connections.

use std::fmt;
use std::io::{self, Read, Write};
use std::net::TcpStream as StdTcpStream;
use std::time::{Duration, Instant};

use mio::net::TcpStream;
use mio::{Events, Interest, Poll, Token};

use crate::histogram::Histogram;
use crate::options::Options;
use crate::response::next_reply;

/// What a run measured.
#[derive(Default)]
pub struct Report {
    /// Operations completed inside the measured window.
    pub ops: u64,
    /// Operations completed during the whole run, warm-up included (for CPU time per op).
    pub all_ops: u64,
    pub seconds: f64,
    pub latency: Histogram,
    pub hits: u64,
    pub misses: u64,
    pub errors: u64,
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let per_sec = if self.seconds > 0.0 { self.ops as f64 / self.seconds } else { 0.0 };
        let micros = |q| self.latency.quantile(q) as f64 / 1000.0;
        write!(
            f,
            "ops={} all_ops={} seconds={:.3} ops_per_sec={:.0} p50_us={:.1} p90_us={:.1} \
             p99_us={:.1} p999_us={:.1} hits={} misses={} errors={}",
            self.ops,
            self.all_ops,
            self.seconds,
            per_sec,
            micros(0.5),
            micros(0.9),
            micros(0.99),
            micros(0.999),
            self.hits,
            self.misses,
            self.errors
        )
    }
}

/// Fills (when asked), then runs the timed mixed workload on every thread and merges results.
pub fn run(options: &Options) -> io::Result<Report> {
    if options.fill {
        let filled = fill(options)?;
        if options.fill_only {
            return Ok(filled);
        }
    }
    let measure_from = Instant::now() + options.warmup;
    let stop_at = measure_from + options.duration;
    let results: Vec<io::Result<Report>> = std::thread::scope(|scope| {
        let workers: Vec<_> = (0..options.threads)
            .map(|index| scope.spawn(move || drive_thread(options, index, measure_from, stop_at)))
            .collect();
        workers.into_iter().map(|w| w.join().expect("load thread panicked")).collect()
    });
    let mut total = Report { seconds: options.duration.as_secs_f64(), ..Report::default() };
    for result in results {
        let part = result?;
        total.ops += part.ops;
        total.all_ops += part.all_ops;
        total.hits += part.hits;
        total.misses += part.misses;
        total.errors += part.errors;
        total.latency.merge(&part.latency);
    }
    Ok(total)
}

/// Sets every key once, in pipelined batches, split over the threads.
fn fill(options: &Options) -> io::Result<Report> {
    const BATCH: u64 = 256;
    let started = Instant::now();
    let per_thread = options.keys.div_ceil(options.threads as u64);
    let results: Vec<io::Result<u64>> = std::thread::scope(|scope| {
        let workers: Vec<_> = (0..options.threads as u64)
            .map(|index| {
                scope.spawn(move || -> io::Result<u64> {
                    let mut stream = StdTcpStream::connect(options.server)?;
                    stream.set_nodelay(true)?;
                    let value = vec![b'v'; options.value_size];
                    let (first, end) =
                        (index * per_thread, ((index + 1) * per_thread).min(options.keys));
                    let mut out = Vec::new();
                    let mut inbuf = vec![0u8; 64 * 1024];
                    let mut errors = 0;
                    let mut key = first;
                    while key < end {
                        out.clear();
                        let batch_end = (key + BATCH).min(end);
                        for k in key..batch_end {
                            push_set(&mut out, options.key_size, k, &value);
                        }
                        stream.write_all(&out)?;
                        errors += read_replies(&mut stream, &mut inbuf, batch_end - key)?;
                        key = batch_end;
                    }
                    Ok(errors)
                })
            })
            .collect();
        workers.into_iter().map(|w| w.join().expect("fill thread panicked")).collect()
    });
    let mut report = Report { ops: options.keys, all_ops: options.keys, ..Report::default() };
    for result in results {
        report.errors += result?;
    }
    report.seconds = started.elapsed().as_secs_f64();
    Ok(report)
}

/// Blocks until `count` replies arrived; returns how many were errors.
fn read_replies(stream: &mut StdTcpStream, inbuf: &mut [u8], count: u64) -> io::Result<u64> {
    let (mut len, mut seen, mut errors) = (0, 0, 0);
    while seen < count {
        let n = stream.read(&mut inbuf[len..])?;
        if n == 0 {
            return Err(io::Error::new(io::ErrorKind::UnexpectedEof, "server closed"));
        }
        len += n;
        let mut at = 0;
        while let Some(reply) = next_reply(&inbuf[at..len]) {
            at += reply.len;
            seen += 1;
            errors += u64::from(reply.error);
        }
        inbuf.copy_within(at..len, 0);
        len -= at;
    }
    Ok(errors)
}

/// One pipelined connection's state.
struct Connection {
    stream: TcpStream,
    out: Vec<u8>,
    written: usize,
    inbuf: Vec<u8>,
    in_len: usize,
    /// For each request of the batch in flight: true for a get (so an empty reply is a miss).
    batch_is_get: Vec<bool>,
    replies_seen: usize,
    batch_started: Instant,
    /// With `--rate`: when the next batch is due (the connection is idle until then).
    next_send: Option<Instant>,
    /// With `--rate`: when the batch in flight was due (the schedule ignores send jitter).
    batch_due: Instant,
    done: bool,
}

/// A tiny xorshift generator: no allocation, no shared state between threads.
struct Random(u64);

impl Random {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }
}

fn drive_thread(
    options: &Options,
    thread_index: usize,
    measure_from: Instant,
    stop_at: Instant,
) -> io::Result<Report> {
    let mut poll = Poll::new()?;
    let mut events = Events::with_capacity(1024);
    let mut random = Random(0x9E37_79B9_7F4A_7C15 ^ (thread_index as u64 + 1).wrapping_mul(7919));
    let value = vec![b'v'; options.value_size];
    let mut report = Report::default();
    let mut connections = Vec::with_capacity(options.conns_per_thread);
    let interval = batch_interval(options);
    let start = Instant::now();
    for index in 0..options.conns_per_thread {
        let stream = StdTcpStream::connect(options.server)?;
        stream.set_nodelay(true)?;
        stream.set_nonblocking(true)?;
        let mut stream = TcpStream::from_std(stream);
        poll.registry().register(
            &mut stream,
            Token(index),
            Interest::READABLE | Interest::WRITABLE,
        )?;
        let mut connection = Connection {
            stream,
            out: Vec::with_capacity(options.depth * (options.value_size + 64)),
            written: 0,
            inbuf: vec![0; 64 * 1024],
            in_len: 0,
            batch_is_get: Vec::with_capacity(options.depth),
            replies_seen: 0,
            batch_started: start,
            next_send: None,
            batch_due: start,
            done: false,
        };
        match interval {
            // Spread the connections' schedules evenly over one interval.
            Some(interval) => {
                connection.next_send =
                    Some(start + interval.mul_f64(index as f64 / options.conns_per_thread as f64))
            }
            None => start_batch(&mut connection, options, &mut random, &value),
        }
        connections.push(connection);
    }
    let hard_stop = stop_at + Duration::from_secs(10);
    while connections.iter().any(|c| !c.done) {
        if Instant::now() > hard_stop {
            return Err(io::Error::new(io::ErrorKind::TimedOut, "server stopped answering"));
        }
        let mut timeout = Duration::from_millis(100);
        if interval.is_some() {
            let now = Instant::now();
            for connection in connections.iter().filter(|c| !c.done) {
                if let Some(due) = connection.next_send {
                    timeout = timeout.min(due.saturating_duration_since(now));
                }
            }
        }
        poll.poll(&mut events, Some(timeout))?;
        for event in events.iter() {
            let connection = &mut connections[event.token().0];
            if connection.done {
                continue;
            }
            flush(connection)?;
            if event.is_readable() {
                receive(
                    connection,
                    options,
                    &mut random,
                    &value,
                    &mut report,
                    measure_from,
                    stop_at,
                )?;
            }
        }
        if interval.is_some() {
            let now = Instant::now();
            for connection in connections.iter_mut().filter(|c| !c.done) {
                match connection.next_send {
                    Some(_) if now >= stop_at => connection.done = true,
                    Some(due) if due <= now => {
                        connection.next_send = None;
                        connection.batch_due = due;
                        start_batch(connection, options, &mut random, &value);
                        flush(connection)?;
                    }
                    _ => {}
                }
            }
        }
    }
    Ok(report)
}

/// With `--rate`: the time between two batches of one connection.
fn batch_interval(options: &Options) -> Option<Duration> {
    if options.rate <= 0.0 {
        return None;
    }
    let connections = (options.threads * options.conns_per_thread) as f64;
    Some(Duration::from_secs_f64(connections * options.depth as f64 / options.rate))
}

fn start_batch(connection: &mut Connection, options: &Options, random: &mut Random, value: &[u8]) {
    connection.out.clear();
    connection.written = 0;
    connection.batch_is_get.clear();
    connection.replies_seen = 0;
    for _ in 0..options.depth {
        let is_get = random.unit() < options.get_ratio;
        if is_get {
            connection.out.extend_from_slice(b"get");
            for _ in 0..options.mget.max(1) {
                connection.out.push(b' ');
                push_key(&mut connection.out, options.key_size, random.next() % options.keys);
            }
            connection.out.extend_from_slice(b"\r\n");
        } else {
            push_set(&mut connection.out, options.key_size, random.next() % options.keys, value);
        }
        connection.batch_is_get.push(is_get);
    }
    connection.batch_started = Instant::now();
}

fn flush(connection: &mut Connection) -> io::Result<()> {
    while connection.written < connection.out.len() {
        match connection.stream.write(&connection.out[connection.written..]) {
            Ok(0) => return Err(io::Error::new(io::ErrorKind::WriteZero, "server closed")),
            Ok(n) => connection.written += n,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(()),
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

fn receive(
    connection: &mut Connection,
    options: &Options,
    random: &mut Random,
    value: &[u8],
    report: &mut Report,
    measure_from: Instant,
    stop_at: Instant,
) -> io::Result<()> {
    loop {
        if connection.in_len == connection.inbuf.len() {
            let bigger = connection.inbuf.len() * 2;
            connection.inbuf.resize(bigger, 0);
        }
        match connection.stream.read(&mut connection.inbuf[connection.in_len..]) {
            Ok(0) => return Err(io::Error::new(io::ErrorKind::UnexpectedEof, "server closed")),
            Ok(n) => connection.in_len += n,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(()),
            Err(e) => return Err(e),
        }
        let mut at = 0;
        while let Some(reply) = next_reply(&connection.inbuf[at..connection.in_len]) {
            at += reply.len;
            let was_get = connection.batch_is_get.get(connection.replies_seen).copied();
            connection.replies_seen += 1;
            let measured = connection.batch_started >= measure_from;
            if measured {
                report.errors += u64::from(reply.error);
                if was_get == Some(true) {
                    report.hits += reply.values as u64;
                    let asked = options.mget.max(1) as u64;
                    report.misses += asked.saturating_sub(reply.values as u64);
                }
            }
            if connection.replies_seen == connection.batch_is_get.len() {
                let now = Instant::now();
                report.all_ops += options.depth as u64;
                if measured && now <= stop_at {
                    let nanos = now.duration_since(connection.batch_started).as_nanos() as u64;
                    for _ in 0..options.depth {
                        report.latency.record(nanos);
                    }
                    report.ops += options.depth as u64;
                }
                if now >= stop_at {
                    connection.done = true;
                    return Ok(());
                }
                match batch_interval(options) {
                    // Late (the server or this thread fell behind): send at once and keep the
                    // schedule, so the offered rate holds on average.
                    Some(interval) if connection.batch_due + interval > now => {
                        connection.next_send = Some(connection.batch_due + interval);
                    }
                    Some(interval) => {
                        connection.batch_due += interval;
                        start_batch(connection, options, random, value);
                        flush(connection)?;
                    }
                    None => {
                        start_batch(connection, options, random, value);
                        flush(connection)?;
                    }
                }
            }
        }
        connection.inbuf.copy_within(at..connection.in_len, 0);
        connection.in_len -= at;
    }
}

fn push_set(out: &mut Vec<u8>, key_size: usize, key: u64, value: &[u8]) {
    out.extend_from_slice(b"set ");
    push_key(out, key_size, key);
    out.extend_from_slice(b" 0 0 ");
    push_decimal(out, value.len() as u64);
    out.extend_from_slice(b"\r\n");
    out.extend_from_slice(value);
    out.extend_from_slice(b"\r\n");
}

/// Writes `k` followed by `key` zero-padded so the key is exactly `key_size` bytes.
fn push_key(out: &mut Vec<u8>, key_size: usize, key: u64) {
    out.push(b'k');
    let digits = key_size - 1;
    let start = out.len();
    out.resize(start + digits, b'0');
    let mut rest = key;
    for slot in out[start..].iter_mut().rev() {
        *slot = b'0' + (rest % 10) as u8;
        rest /= 10;
    }
}

fn push_decimal(out: &mut Vec<u8>, mut n: u64) {
    let mut digits = [0u8; 20];
    let mut at = digits.len();
    loop {
        at -= 1;
        digits[at] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    out.extend_from_slice(&digits[at..]);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rate_spreads_over_every_connection() {
        let args = ["--threads", "2", "--conns", "4", "--depth", "2", "--rate", "16000"];
        let options = Options::parse(args.iter().map(|s| s.to_string())).unwrap();
        // 8 connections x 2 requests per batch at 16,000 ops/s: one batch per ms each.
        assert_eq!(batch_interval(&options), Some(Duration::from_millis(1)));
        let unlimited = Options::parse(std::iter::empty()).unwrap();
        assert_eq!(batch_interval(&unlimited), None);
        assert!(Options::parse(["--rate", "-1"].iter().map(|s| s.to_string())).is_err());
    }

    #[test]
    fn keys_have_the_requested_size() {
        let mut out = Vec::new();
        push_key(&mut out, 10, 42);
        assert_eq!(out, b"k000000042");
    }

    #[test]
    fn set_requests_are_well_formed() {
        let mut out = Vec::new();
        push_set(&mut out, 4, 7, b"abc");
        assert_eq!(out, b"set k007 0 0 3\r\nabc\r\n");
    }
}
