//! Test harness shared by the integration tests: start our `memcached-server` binary or the
//! reference `/usr/bin/memcached` on a free port, talk to it over TCP, UNIX or UDP, and compare
//! replies.
//!
//! ```text
//!   ServerProcess::ours().args(["-t", "2"]).start()   ServerProcess::memcached().start()
//!            │  (binary from CARGO_BIN_EXE_..., stderr to a temp log, killed in Drop)
//!            v
//!   server.connect() -> Client { send, expect, read_line, roundtrip_until_mn, ... }
//!   normalize_cas(reply)  (CAS values -> "<cas>", for differential comparison)
//! ```
//!
//! Each test file includes this with `mod common;` and uses what it needs; `in_process` runs
//! the command executor without a server (`in_process::executor`, `execute_all`).

#![allow(dead_code)]

pub mod in_process;

use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream, UdpSocket};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::atomic::{AtomicU16, AtomicU32, Ordering};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// Where the reference memcached lives (Debian package `memcached`).
pub const MEMCACHED_BIN: &str = "/usr/bin/memcached";

/// Our server binary, built by cargo for integration tests.
pub fn our_binary() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_memcached-server"))
}

/// The reference memcached binary; panics with a clear message when it is missing.
pub fn memcached_binary() -> PathBuf {
    let path = PathBuf::from(MEMCACHED_BIN);
    assert!(
        path.exists(),
        "{MEMCACHED_BIN} is missing: install the Debian package `memcached` (1.6.18) to run the \
         differential tests (cargo xtask ci does this)"
    );
    path
}

/// The `pid` a server on `stream` reports in `stats`, or `None` when it does not say (for
/// example because `-Y` makes it refuse unauthenticated commands). Used to make sure the process
/// answering on a port is the one a test just started, not another test's server that took the
/// same free port a moment earlier.
fn reported_pid(mut stream: TcpStream) -> Option<u32> {
    stream.set_read_timeout(Some(Duration::from_secs(2))).ok()?;
    stream.write_all(b"stats\r\n").ok()?;
    let mut reply = Vec::new();
    let mut chunk = [0u8; 4096];
    while !reply.ends_with(b"END\r\n") {
        match stream.read(&mut chunk) {
            Ok(0) | Err(_) => break,
            Ok(n) => reply.extend_from_slice(&chunk[..n]),
        }
    }
    let text = String::from_utf8_lossy(&reply);
    text.lines().find_map(|line| line.strip_prefix("STAT pid ")).and_then(|v| v.trim().parse().ok())
}

/// A TCP port that was free a moment ago (for TCP and UDP on 127.0.0.1), from 10000-19999:
/// below the kernel's ephemeral range, so no client socket can take it as its own port in the
/// meantime (a probe connecting to a port nobody listens on yet can even connect to itself).
pub fn free_port() -> u16 {
    static NEXT: AtomicU16 = AtomicU16::new(0);
    // A random start per process: test processes running side by side do not walk the same
    // ports in step.
    static START: OnceLock<u16> = OnceLock::new();
    let start = *START.get_or_init(|| {
        use std::hash::{BuildHasher, RandomState};
        (RandomState::new().hash_one(std::process::id()) % 10_000) as u16
    });
    for _ in 0..10_000 {
        let port = 10_000 + (start + NEXT.fetch_add(1, Ordering::Relaxed)) % 10_000;
        if TcpListener::bind(("127.0.0.1", port)).is_ok()
            && UdpSocket::bind(("127.0.0.1", port)).is_ok()
        {
            return port;
        }
    }
    panic!("no free port found");
}

/// Runs `command` to completion with a timeout (the process is killed by PID when it
/// overruns) and returns its output.
pub fn run_with_timeout(name: &str, mut command: Command, timeout: Duration) -> Output {
    command.stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::piped());
    let mut child = command.spawn().unwrap_or_else(|e| panic!("spawn {name}: {e}"));
    let mut stdout = child.stdout.take().expect("stdout piped");
    let mut stderr = child.stderr.take().expect("stderr piped");
    let out_reader = std::thread::spawn(move || {
        let mut buf = Vec::new();
        let _ = stdout.read_to_end(&mut buf);
        buf
    });
    let err_reader = std::thread::spawn(move || {
        let mut buf = Vec::new();
        let _ = stderr.read_to_end(&mut buf);
        buf
    });
    let deadline = Instant::now() + timeout;
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait") {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            let stdout = out_reader.join().unwrap_or_default();
            let stderr = err_reader.join().unwrap_or_default();
            panic!(
                "{name} did not finish within {timeout:?} (killed)\nstdout:\n{}\nstderr:\n{}",
                String::from_utf8_lossy(&stdout),
                String::from_utf8_lossy(&stderr)
            );
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    Output {
        status,
        stdout: out_reader.join().unwrap_or_default(),
        stderr: err_reader.join().unwrap_or_default(),
    }
}

static UNIQUE: AtomicU32 = AtomicU32::new(0);

/// A fresh path in the temp directory (not created).
pub fn temp_path(name: &str) -> PathBuf {
    let n = UNIQUE.fetch_add(1, Ordering::Relaxed);
    std::env::temp_dir().join(format!("mc-test-{}-{n}-{name}", std::process::id()))
}

/// Which binary a [`ServerBuilder`] starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flavor {
    /// Our `memcached-server`.
    Ours,
    /// The reference `/usr/bin/memcached` (run with `-u nobody`).
    Memcached,
}

/// Options for starting a server process.
#[derive(Debug, Clone)]
pub struct ServerBuilder {
    flavor: Flavor,
    args: Vec<String>,
    udp: bool,
    unix: bool,
}

impl ServerBuilder {
    fn new(flavor: Flavor) -> Self {
        ServerBuilder { flavor, args: Vec::new(), udp: false, unix: false }
    }

    /// Adds command-line arguments.
    pub fn args<I, S>(mut self, args: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        self.args.extend(args.into_iter().map(|a| a.as_ref().to_owned()));
        self
    }

    /// Also listen on UDP (`-U <free port>`).
    pub fn udp(mut self) -> Self {
        self.udp = true;
        self
    }

    /// Listen on a UNIX socket (`-s <temp path>`) instead of TCP.
    pub fn unix(mut self) -> Self {
        self.unix = true;
        self
    }

    /// Starts the process and waits until it accepts connections.
    pub fn start(self) -> ServerProcess {
        let mut last_log = String::new();
        for _attempt in 0..5 {
            match self.try_start() {
                Ok(server) => return server,
                Err(log) => last_log = log,
            }
        }
        panic!("server did not start; last log:\n{last_log}");
    }

    fn try_start(&self) -> Result<ServerProcess, String> {
        let port = free_port();
        let binary = match self.flavor {
            Flavor::Ours => our_binary(),
            Flavor::Memcached => memcached_binary(),
        };
        let log_path = temp_path("server.log");
        let log = std::fs::File::create(&log_path).expect("create log file");
        let mut command = Command::new(&binary);
        if self.flavor == Flavor::Memcached {
            command.args(["-u", "nobody"]);
        }
        let unix_path = self.unix.then(|| temp_path("mc.sock"));
        match &unix_path {
            Some(path) => {
                command.arg("-s").arg(path);
            }
            None => {
                command.args(["-l", "127.0.0.1", "-p", &port.to_string()]);
            }
        }
        if self.udp {
            command.args(["-U", &port.to_string()]);
        }
        command.args(&self.args);
        command.stdin(Stdio::null()).stdout(Stdio::null());
        command.stderr(Stdio::from(log));
        let child = command.spawn().map_err(|e| format!("spawn {}: {e}", binary.display()))?;
        let mut server = ServerProcess {
            child: Some(child),
            port,
            udp_port: self.udp.then_some(port),
            unix_path,
            log_path,
            flavor: self.flavor,
        };
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Some(child) = server.child.as_mut() {
                if let Ok(Some(status)) = child.try_wait() {
                    server.child = None;
                    return Err(format!("exited with {status}: {}", server.log()));
                }
            }
            let pid = server.child.as_ref().map_or(0, Child::id);
            let ready = match &server.unix_path {
                Some(path) => UnixStream::connect(path).is_ok(),
                // A server that reports another pid is another test's, which took the same free
                // port first: ours will fail to bind and exit, and the next attempt picks anew.
                None => TcpStream::connect(("127.0.0.1", port))
                    .is_ok_and(|stream| reported_pid(stream).is_none_or(|other| other == pid)),
            };
            if ready {
                return Ok(server);
            }
            if Instant::now() > deadline {
                return Err(format!("not ready after 20 s: {}", server.log()));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

/// A running server process, killed when dropped.
#[derive(Debug)]
pub struct ServerProcess {
    child: Option<Child>,
    /// TCP port (when not started with a UNIX socket).
    pub port: u16,
    /// UDP port, when started with [`ServerBuilder::udp`].
    pub udp_port: Option<u16>,
    /// UNIX socket path, when started with [`ServerBuilder::unix`].
    pub unix_path: Option<PathBuf>,
    log_path: PathBuf,
    /// Which binary runs.
    pub flavor: Flavor,
}

impl ServerProcess {
    /// Our binary with default test options (`-l 127.0.0.1 -p <free>`).
    pub fn ours() -> ServerBuilder {
        ServerBuilder::new(Flavor::Ours)
    }

    /// The reference memcached with default test options.
    pub fn memcached() -> ServerBuilder {
        ServerBuilder::new(Flavor::Memcached)
    }

    /// `127.0.0.1:<port>`.
    pub fn addr(&self) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], self.port))
    }

    /// Opens a client connection (TCP, or UNIX when started with a socket path).
    pub fn connect(&self) -> Client {
        match &self.unix_path {
            Some(path) => Client::unix(path),
            None => Client::tcp(self.addr()),
        }
    }

    /// What the server wrote on stderr so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log_path).unwrap_or_default()
    }

    /// The process id.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// Sends a signal to the process.
    pub fn signal(&self, signo: i32) {
        if let Some(pid) = self.pid() {
            let status = Command::new("kill")
                .arg(format!("-{signo}"))
                .arg(pid.to_string())
                .status()
                .expect("run kill");
            assert!(status.success(), "kill -{signo} {pid} failed");
        }
    }

    /// Waits up to `timeout` for the process to exit; returns its exit code (-1 for a signal)
    /// or None if it is still running.
    pub fn wait_exit(&mut self, timeout: Duration) -> Option<i32> {
        let deadline = Instant::now() + timeout;
        loop {
            let child = self.child.as_mut()?;
            if let Ok(Some(status)) = child.try_wait() {
                self.child = None;
                return Some(status.code().unwrap_or(-1));
            }
            if Instant::now() > deadline {
                return None;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// True while the process runs.
    pub fn is_running(&mut self) -> bool {
        match self.child.as_mut() {
            Some(child) => matches!(child.try_wait(), Ok(None)),
            None => false,
        }
    }

    /// Resident memory of the process in KiB (from /proc).
    pub fn rss_kib(&self) -> Option<u64> {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.pid()?)).ok()?;
        status
            .lines()
            .find(|l| l.starts_with("VmRSS:"))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|v| v.parse().ok())
    }

    /// A UDP client bound to an ephemeral port, connected to the server's UDP port.
    pub fn udp_client(&self) -> UdpSocket {
        let port = self.udp_port.expect("server started without .udp()");
        let socket = UdpSocket::bind("127.0.0.1:0").expect("bind udp client");
        socket.connect(("127.0.0.1", port)).expect("connect udp");
        socket.set_read_timeout(Some(Duration::from_secs(5))).expect("udp timeout");
        socket
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
        let _ = std::fs::remove_file(&self.log_path);
        if let Some(path) = &self.unix_path {
            let _ = std::fs::remove_file(path);
        }
    }
}

trait Duplex: Read + Write + Send {
    fn set_timeout(&self, timeout: Option<Duration>);
    fn shutdown_write(&self);
}

impl Duplex for TcpStream {
    fn set_timeout(&self, timeout: Option<Duration>) {
        let _ = self.set_read_timeout(timeout);
    }
    fn shutdown_write(&self) {
        let _ = self.shutdown(std::net::Shutdown::Write);
    }
}

impl Duplex for UnixStream {
    fn set_timeout(&self, timeout: Option<Duration>) {
        let _ = self.set_read_timeout(timeout);
    }
    fn shutdown_write(&self) {
        let _ = self.shutdown(std::net::Shutdown::Write);
    }
}

/// A blocking client connection with a small receive buffer for line-oriented reads.
pub struct Client {
    stream: Box<dyn Duplex>,
    buffered: Vec<u8>,
}

/// How long a read may wait before a test fails.
pub const READ_TIMEOUT: Duration = Duration::from_secs(10);

impl Client {
    /// Connects over TCP.
    pub fn tcp(addr: SocketAddr) -> Self {
        let stream = TcpStream::connect(addr).expect("connect");
        let _ = stream.set_nodelay(true);
        stream.set_timeout(Some(READ_TIMEOUT));
        Self { stream: Box::new(stream), buffered: Vec::new() }
    }

    /// Connects over a UNIX socket.
    pub fn unix(path: &Path) -> Self {
        let stream = UnixStream::connect(path).expect("connect unix");
        stream.set_timeout(Some(READ_TIMEOUT));
        Self { stream: Box::new(stream), buffered: Vec::new() }
    }

    /// Sends raw bytes.
    pub fn send(&mut self, bytes: impl AsRef<[u8]>) {
        self.stream.write_all(bytes.as_ref()).expect("send");
    }

    /// Sends raw bytes; returns false if the server closed the connection.
    pub fn try_send(&mut self, bytes: impl AsRef<[u8]>) -> bool {
        self.stream.write_all(bytes.as_ref()).is_ok()
    }

    /// Closes the sending half.
    pub fn shutdown_write(&self) {
        self.stream.shutdown_write();
    }

    fn fill(&mut self) -> std::io::Result<usize> {
        let mut chunk = [0u8; 64 * 1024];
        let n = self.stream.read(&mut chunk)?;
        self.buffered.extend_from_slice(&chunk[..n]);
        Ok(n)
    }

    /// Reads exactly `n` bytes.
    pub fn read_exact_bytes(&mut self, n: usize) -> Vec<u8> {
        while self.buffered.len() < n {
            self.fill_or_panic(format_args!("wanted {n} bytes"));
        }
        self.buffered.drain(..n).collect()
    }

    /// Reads one line including its `\r\n`.
    pub fn read_line(&mut self) -> Vec<u8> {
        loop {
            if let Some(pos) = self.buffered.windows(2).position(|w| w == b"\r\n") {
                return self.buffered.drain(..pos + 2).collect();
            }
            self.fill_or_panic(format_args!("inside a line"));
        }
    }

    /// Reads more; panics (naming `wanted` and what arrived) when the connection closes or
    /// the read fails.
    fn fill_or_panic(&mut self, wanted: std::fmt::Arguments<'_>) {
        let failure = match self.fill() {
            Ok(0) => "connection closed".to_owned(),
            Ok(_) => return,
            Err(e) => format!("read failed ({e})"),
        };
        panic!("{failure} after {:?}, {wanted}", String::from_utf8_lossy(&self.buffered));
    }

    /// Reads until the received bytes end with `terminator` (which must end a line).
    pub fn read_until(&mut self, terminator: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        loop {
            let line = self.read_line();
            out.extend_from_slice(&line);
            if out.ends_with(terminator) {
                return out;
            }
        }
    }

    /// Reads exactly `expected.len()` bytes and asserts they equal `expected`.
    pub fn expect(&mut self, expected: impl AsRef<[u8]>) {
        let expected = expected.as_ref();
        let got = self.read_exact_bytes(expected.len());
        assert_eq!(
            String::from_utf8_lossy(&got),
            String::from_utf8_lossy(expected),
            "unexpected reply"
        );
    }

    /// Sends `request` and asserts the reply is exactly `expected`.
    pub fn roundtrip(&mut self, request: impl AsRef<[u8]>, expected: impl AsRef<[u8]>) {
        self.send(request);
        self.expect(expected);
    }

    /// Sends `request` followed by `mn\r\n` and returns everything before the `MN\r\n`
    /// (works for any script, including noreply commands).
    pub fn script(&mut self, request: impl AsRef<[u8]>) -> Vec<u8> {
        let mut bytes = request.as_ref().to_vec();
        bytes.extend_from_slice(b"mn\r\n");
        self.send(&bytes);
        let mut out = self.read_until(b"MN\r\n");
        out.truncate(out.len() - 4);
        out
    }

    /// Sends `stats[ <sub>]` and returns the `STAT name value` pairs.
    pub fn stats(&mut self, sub: &str) -> Vec<(String, String)> {
        let command =
            if sub.is_empty() { "stats\r\n".to_owned() } else { format!("stats {sub}\r\n") };
        self.send(command);
        let body = self.read_until(b"END\r\n");
        String::from_utf8_lossy(&body)
            .lines()
            .filter_map(|l| l.strip_prefix("STAT "))
            .filter_map(|l| l.split_once(' '))
            .map(|(k, v)| (k.to_owned(), v.to_owned()))
            .collect()
    }

    /// One value of `stats[ <sub>]`.
    pub fn stat(&mut self, sub: &str, name: &str) -> Option<String> {
        self.stats(sub).into_iter().find(|(k, _)| k == name).map(|(_, v)| v)
    }

    /// Polls `stats[ <sub>]` until `name` equals `expected` (e.g. waiting for the start-up
    /// probe connection to be closed on the server side); panics after 5 s.
    pub fn wait_for_stat(&mut self, sub: &str, name: &str, expected: &str) {
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            let value = self.stat(sub, name);
            if value.as_deref() == Some(expected) {
                return;
            }
            assert!(Instant::now() < deadline, "stat {name} stayed {value:?}, wanted {expected}");
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// True when the server closes the connection within `timeout` (bytes received before
    /// the close are discarded).
    pub fn closed_within(&mut self, timeout: Duration) -> bool {
        self.stream.set_timeout(Some(Duration::from_millis(100)));
        let deadline = Instant::now() + timeout;
        let closed = loop {
            match self.fill() {
                Ok(0) => break true,
                Ok(_) => {}
                Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
                Err(_) => break true,
            }
            if Instant::now() > deadline {
                break false;
            }
        };
        self.stream.set_timeout(Some(READ_TIMEOUT));
        closed
    }

    /// Sends `bytes` and returns everything received until the server closes the connection
    /// (or 5 s pass).
    pub fn send_and_read_to_close(&mut self, bytes: impl AsRef<[u8]>) -> Vec<u8> {
        self.send(bytes);
        let _closed = self.closed_within(Duration::from_secs(5));
        self.take_buffered()
    }

    /// Sends `bytes` and returns everything received within `window` (for replies whose end
    /// cannot be marked, e.g. before authentication).
    pub fn send_and_read_for(&mut self, bytes: impl AsRef<[u8]>, window: Duration) -> Vec<u8> {
        self.send(bytes);
        self.stream.set_timeout(Some(Duration::from_millis(50)));
        let deadline = Instant::now() + window;
        while Instant::now() < deadline {
            match self.fill() {
                Ok(0) => break,
                Ok(_) => {}
                Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
                Err(_) => break,
            }
        }
        self.stream.set_timeout(Some(READ_TIMEOUT));
        self.take_buffered()
    }

    /// Bytes received so far and not yet consumed.
    pub fn take_buffered(&mut self) -> Vec<u8> {
        std::mem::take(&mut self.buffered)
    }
}

/// `set <key> <flags> 0 <bytes>\r\n<value>\r\n`.
pub fn set_request(key: &str, flags: u32, value: &[u8]) -> Vec<u8> {
    let mut request = format!("set {key} {flags} 0 {}\r\n", value.len()).into_bytes();
    request.extend_from_slice(value);
    request.extend_from_slice(b"\r\n");
    request
}

/// The reply to `get <key>` when it hits: `VALUE <key> <flags> <bytes>\r\n<value>\r\nEND\r\n`.
pub fn get_reply(key: &str, flags: u32, value: &[u8]) -> Vec<u8> {
    let mut reply = format!("VALUE {key} {flags} {}\r\n", value.len()).into_bytes();
    reply.extend_from_slice(value);
    reply.extend_from_slice(b"\r\nEND\r\n");
    reply
}

/// One line of a reply (without its `\r\n`) and, after a `VALUE`/`VA` header, the data block
/// the header announces (with its `\r\n`, cut short where the reply ends).
#[derive(Debug, Clone, Copy)]
pub struct ReplyPart<'a> {
    /// The line without its `\r\n`.
    pub line: &'a [u8],
    /// The line ended in `\r\n` (false only for a cut-off last line).
    pub terminated: bool,
    /// The data block after a `VALUE <key> <flags> <bytes>` or `VA <bytes>` header.
    pub data: Option<&'a [u8]>,
}

/// Splits a reply into lines, keeping each data block with its header so that a block's bytes
/// are never read as a line.
pub fn reply_parts(reply: &[u8]) -> impl Iterator<Item = ReplyPart<'_>> {
    let mut rest = reply;
    std::iter::from_fn(move || {
        if rest.is_empty() {
            return None;
        }
        let line_end = rest.windows(2).position(|w| w == b"\r\n").map_or(rest.len(), |p| p + 2);
        let (line, tail) = rest.split_at(line_end);
        rest = tail;
        let body = line.strip_suffix(b"\r\n");
        let line_bytes = body.unwrap_or(line);
        let mut tokens = line_bytes.split(|&b| b == b' ');
        let length_token = match tokens.next() {
            Some(b"VALUE") => tokens.nth(2),
            Some(b"VA") => tokens.next(),
            _ => None,
        };
        let data_len = length_token
            .and_then(|t| std::str::from_utf8(t).ok())
            .and_then(|t| t.parse::<usize>().ok());
        let data = data_len.map(|n| {
            let (block, tail) = rest.split_at((n + 2).min(rest.len()));
            rest = tail;
            block
        });
        Some(ReplyPart { line: line_bytes, terminated: body.is_some(), data })
    })
}

/// Replaces CAS values with `<cas>` so replies of two servers compare byte for byte:
/// the 5th token of `VALUE` lines, `c<digits>` flags of meta replies and `cas=` in `ME`.
/// Data blocks (after `VALUE`/`VA` headers) are copied untouched.
pub fn normalize_cas(reply: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(reply.len());
    for part in reply_parts(reply) {
        let text = String::from_utf8_lossy(part.line);
        let tokens: Vec<&str> = text.split(' ').collect();
        let normalized: Vec<&str> = tokens
            .iter()
            .enumerate()
            .map(|(i, &token)| match tokens[0] {
                "VALUE" if i == 4 => "<cas>",
                "VA" | "HD" | "EN" | "NF" | "NS" | "EX" if i > 0 && is_meta_cas_flag(token) => {
                    "c<cas>"
                }
                "ME" if token.starts_with("cas=") => "cas=<cas>",
                _ => token,
            })
            .collect();
        out.extend_from_slice(normalized.join(" ").as_bytes());
        if part.terminated {
            out.extend_from_slice(b"\r\n");
        }
        if let Some(data) = part.data {
            out.extend_from_slice(data);
        }
    }
    out
}

/// `c<digits>`: a meta reply's CAS return flag.
fn is_meta_cas_flag(token: &str) -> bool {
    token.strip_prefix('c').is_some_and(|d| !d.is_empty() && d.bytes().all(|b| b.is_ascii_digit()))
}

/// Replaces positive meta `t<seconds>` return flags with `t<ttl>` (they tick with each server's
/// own clock); `t-1` is kept.
pub fn mask_ttl(reply: &[u8]) -> Vec<u8> {
    let text = String::from_utf8_lossy(reply);
    let mut out = String::with_capacity(text.len());
    for (i, token) in text.split(' ').enumerate() {
        if i > 0 {
            out.push(' ');
        }
        let (body, tail) = match token.find("\r\n") {
            Some(p) => token.split_at(p),
            None => (token, ""),
        };
        if body.len() > 1 && body.starts_with('t') && body[1..].bytes().all(|b| b.is_ascii_digit())
        {
            out.push_str("t<ttl>");
            out.push_str(tail);
        } else {
            out.push_str(token);
        }
    }
    out.into_bytes()
}

/// Our server and the reference memcached side by side, fed the same scripts.
pub struct Differential {
    /// Our server.
    pub ours: ServerProcess,
    /// The reference memcached.
    pub reference: ServerProcess,
    /// A connection to ours.
    pub ours_client: Client,
    /// A connection to the reference.
    pub reference_client: Client,
}

impl Differential {
    /// Starts both servers with the same extra arguments.
    pub fn start(args: &[&str]) -> Self {
        let reference = ServerProcess::memcached().args(args).start();
        let ours = ServerProcess::ours().args(args).start();
        let ours_client = ours.connect();
        let reference_client = reference.connect();
        Self { ours, reference, ours_client, reference_client }
    }

    /// Like [`Differential::check`], with positive TTLs masked (see [`mask_ttl`]).
    pub fn check_masking_ttl(&mut self, script: impl AsRef<[u8]>) {
        let script = script.as_ref();
        let theirs = mask_ttl(&normalize_cas(&self.reference_client.script(script)));
        let ours = mask_ttl(&normalize_cas(&self.ours_client.script(script)));
        assert_eq!(
            String::from_utf8_lossy(&ours),
            String::from_utf8_lossy(&theirs),
            "reply differs from memcached 1.6.18 for script {:?}",
            String::from_utf8_lossy(script)
        );
    }

    /// Sends `script` to both and asserts the replies match once CAS values are normalized.
    pub fn check(&mut self, script: impl AsRef<[u8]>) {
        let script = script.as_ref();
        let theirs = normalize_cas(&self.reference_client.script(script));
        let ours = normalize_cas(&self.ours_client.script(script));
        assert_eq!(
            String::from_utf8_lossy(&ours),
            String::from_utf8_lossy(&theirs),
            "reply differs from memcached 1.6.18 for script {:?}",
            String::from_utf8_lossy(script)
        );
    }
}
