//! Helpers for the real-client and generated-differential tests (on top of `tests/common`):
//!
//! ```text
//!   Rng (xorshift64*)        deterministic generator, seeded per test
//!   ScriptConn               one TCP connection; run(script) -> Reply { bytes, closed }
//!                            (writer thread, so big scripts never deadlock; optional splits)
//!   ReplyNormalizer          CAS values -> #1, #2, ... in order of appearance (per server),
//!                            meta t<ttl>/l<secs> -> placeholders; remembers CAS per key
//!   ChildGuard / TempDir     external processes (php, python, nutcracker) killed by PID in
//!                            Drop; temp directories removed in Drop
//!   md5 + TwemproxyKetama    twemproxy's ketama continuum (nc_ketama.c), md5 key hash
//! ```
//!
//! Test files include it with `mod common; mod support_clients;`.

#![allow(dead_code)]

use std::collections::HashMap;
use std::io::{ErrorKind, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::common::reply_parts;

// ---------------------------------------------------------------------------------------------
// Deterministic generator
// ---------------------------------------------------------------------------------------------

/// xorshift64* — small, fast, deterministic; good enough to pick commands.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    /// A generator for `seed` (0 is remapped, xorshift must not start at 0).
    pub fn new(seed: u64) -> Self {
        Self(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// Uniform in `0..n` (n > 0).
    pub fn below(&mut self, n: usize) -> usize {
        (self.next_u64() % n as u64) as usize
    }

    /// Uniform in `lo..=hi`.
    pub fn range(&mut self, lo: usize, hi: usize) -> usize {
        lo + self.below(hi - lo + 1)
    }

    /// True with probability `percent`/100.
    pub fn chance(&mut self, percent: usize) -> bool {
        self.below(100) < percent
    }

    /// One element of `items`.
    pub fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }
}

// ---------------------------------------------------------------------------------------------
// Script connection
// ---------------------------------------------------------------------------------------------

/// What a server answered to one script.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply {
    /// Everything received before the end marker's reply (or before EOF).
    pub bytes: Vec<u8>,
    /// The server closed the connection before answering the final `mn`.
    pub closed: bool,
}

/// A connection that runs scripts: the script plus an end marker is written from a helper
/// thread (optionally in several writes with short pauses, to split requests across reads)
/// while this thread reads until the marker's reply ends the received bytes or the server
/// closes.
pub struct ScriptConn {
    addr: SocketAddr,
    stream: TcpStream,
    scripts_sent: u64,
}

/// How long one script may take before the test fails.
pub const SCRIPT_TIMEOUT: Duration = Duration::from_secs(20);

impl ScriptConn {
    /// Connects to `addr`.
    pub fn connect(addr: SocketAddr) -> Self {
        let stream =
            TcpStream::connect(addr).unwrap_or_else(|e| panic!("connect to {addr} failed: {e}"));
        let _ = stream.set_nodelay(true);
        stream.set_read_timeout(Some(Duration::from_millis(200))).expect("set read timeout");
        Self { addr, stream, scripts_sent: 0 }
    }

    /// Replaces the connection with a fresh one (after the server closed it).
    pub fn reconnect(&mut self) {
        *self = Self::connect(self.addr);
    }

    /// Sends `script` followed by an end marker, cut at the byte offsets in `splits` (each
    /// piece written separately, 1 ms apart), and returns what came back before the marker's
    /// reply.
    ///
    /// The marker is `mg mcdiff_end O<n>` (a miss, answered `EN O<n>` with a number unique
    /// on this connection), not `mn`: a script may contain `mn` itself.
    pub fn run(&mut self, script: &[u8], splits: &[usize]) -> Reply {
        self.scripts_sent += 1;
        let mut bytes = script.to_vec();
        bytes.extend_from_slice(format!("mg mcdiff_end O{}\r\n", self.scripts_sent).as_bytes());
        let mut writer = self.stream.try_clone().expect("clone stream");
        let mut cuts: Vec<usize> = splits.iter().copied().filter(|&c| c < bytes.len()).collect();
        cuts.sort_unstable();
        cuts.dedup();
        let received = std::thread::scope(|scope| {
            scope.spawn(move || {
                let mut start = 0;
                for cut in cuts.into_iter().chain(std::iter::once(bytes.len())) {
                    if cut <= start {
                        continue;
                    }
                    if writer.write_all(&bytes[start..cut]).is_err() {
                        return; // the server closed; the reader sees it
                    }
                    let _ = writer.flush();
                    start = cut;
                    if start < bytes.len() {
                        std::thread::sleep(Duration::from_millis(1));
                    }
                }
            });
            self.read_reply()
        });
        received
    }

    fn read_reply(&mut self) -> Reply {
        let deadline = Instant::now() + SCRIPT_TIMEOUT;
        let marker = format!("EN O{}\r\n", self.scripts_sent).into_bytes();
        let mut out = Vec::new();
        let mut chunk = vec![0u8; 64 * 1024];
        loop {
            let at_line_start = out.len() == marker.len()
                || out.len() > marker.len() && out[..out.len() - marker.len()].ends_with(b"\r\n");
            if out.ends_with(&marker) && at_line_start {
                out.truncate(out.len() - marker.len());
                return Reply { bytes: out, closed: false };
            }
            match self.stream.read(&mut chunk) {
                Ok(0) => return Reply { bytes: out, closed: true },
                Ok(n) => out.extend_from_slice(&chunk[..n]),
                Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(_) => return Reply { bytes: out, closed: true },
            }
            assert!(
                Instant::now() < deadline,
                "no end marker reply from {} within {SCRIPT_TIMEOUT:?}; received so far: {:?}",
                self.addr,
                String::from_utf8_lossy(&out)
            );
        }
    }
}

impl Drop for ScriptConn {
    fn drop(&mut self) {
        let _ = self.stream.shutdown(Shutdown::Both);
    }
}

// ---------------------------------------------------------------------------------------------
// Reply normalisation
// ---------------------------------------------------------------------------------------------

/// Makes one server's replies comparable with another's: each distinct CAS value becomes
/// `#<n>`, numbered in order of first appearance on that server (so "the same item was
/// returned twice" and "a new CAS was assigned" stay visible); meta `t<secs>` (remaining TTL,
/// except `-1`) becomes `t<ttl>` and `l<secs>` (seconds since last access) becomes `l<la>`,
/// because both can move by a second between the two servers; numbers padded with spaces by
/// incr/decr lose the padding (see `unpadded_number`).
///
/// It also remembers the CAS values seen per key (from `VALUE` lines and from meta replies
/// that carry both `k<key>` and `c<cas>`), so generated `cas`/`C<cas>` requests can use the
/// server's real values.
#[derive(Debug, Default)]
pub struct ReplyNormalizer {
    order: HashMap<String, usize>,
    /// CAS values seen for each key, oldest first.
    pub cas_by_key: HashMap<Vec<u8>, Vec<u64>>,
}

impl ReplyNormalizer {
    /// Forgets CAS numbering and per-key CAS values (after a resync of both servers).
    pub fn reset(&mut self) {
        self.order.clear();
        self.cas_by_key.clear();
    }

    fn cas_token(&mut self, cas: &str) -> String {
        let next = self.order.len() + 1;
        let n = *self.order.entry(cas.to_owned()).or_insert(next);
        format!("#{n}")
    }

    fn remember(&mut self, key: &[u8], cas: &str) {
        if let Ok(value) = cas.parse::<u64>() {
            let list = self.cas_by_key.entry(key.to_vec()).or_default();
            if list.last() != Some(&value) {
                list.push(value);
            }
        }
    }

    /// The latest CAS seen for `key`.
    pub fn latest_cas(&self, key: &[u8]) -> Option<u64> {
        self.cas_by_key.get(key).and_then(|l| l.last().copied())
    }

    /// The CAS seen before the latest one for `key`.
    pub fn stale_cas(&self, key: &[u8]) -> Option<u64> {
        self.cas_by_key.get(key).and_then(|l| l.len().checked_sub(2).map(|i| l[i]))
    }

    /// Normalises `reply` (see the type docs); data blocks are copied untouched.
    pub fn normalize(&mut self, reply: &[u8]) -> Vec<u8> {
        let mut out = Vec::with_capacity(reply.len());
        for part in reply_parts(reply) {
            let tokens: Vec<&[u8]> = part.line.split(|&b| b == b' ').collect();
            let mut new_tokens: Vec<Vec<u8>> = tokens.iter().map(|t| t.to_vec()).collect();
            match tokens[0] {
                b"VALUE" => {
                    if let Some(cas) = tokens.get(4) {
                        let cas = String::from_utf8_lossy(cas).into_owned();
                        self.remember(tokens[1], &cas);
                        new_tokens[4] = self.cas_token(&cas).into_bytes();
                    }
                }
                b"VA" | b"HD" | b"EN" | b"NF" | b"NS" | b"EX" => {
                    let first_flag = if tokens[0] == b"VA" { 2 } else { 1 };
                    let base64 = tokens.iter().skip(first_flag).any(|t| *t == b"b");
                    let mut key = None;
                    let mut cas = None;
                    for (i, token) in tokens.iter().enumerate().skip(first_flag) {
                        let (flag, value) = match token.split_first() {
                            Some((f, v)) => (*f, v),
                            None => continue,
                        };
                        let numeric = !value.is_empty() && value.iter().all(u8::is_ascii_digit);
                        match flag {
                            b'k' => key = Some(value.to_vec()),
                            b'c' if numeric => {
                                let text = String::from_utf8_lossy(value).into_owned();
                                new_tokens[i] = format!("c{}", self.cas_token(&text)).into_bytes();
                                cas = Some(text);
                            }
                            b't' if numeric => new_tokens[i] = b"t<ttl>".to_vec(),
                            b'l' if numeric => new_tokens[i] = b"l<la>".to_vec(),
                            _ => {}
                        }
                    }
                    if let (Some(key), Some(cas), false) = (key, cas, base64) {
                        self.remember(&key, &cas);
                    }
                }
                _ => {}
            }
            // data block; a number padded with spaces (what incr/decr leave when they rewrite
            // a value in place) is shown unpadded with the header's lengths to match
            let data = part.data.map(|block| match unpadded_number(block) {
                Some(trimmed) => {
                    let len = trimmed.len() - 2;
                    let (len_index, meta) =
                        if tokens[0] == b"VALUE" { (3, false) } else { (1, true) };
                    new_tokens[len_index] = len.to_string().into_bytes();
                    if meta {
                        for token in new_tokens.iter_mut().skip(2) {
                            if token.first() == Some(&b's') {
                                *token = format!("s{len}").into_bytes();
                            }
                        }
                    }
                    trimmed
                }
                None => block.to_vec(),
            });
            out.extend_from_slice(&new_tokens.join(&b' '));
            if part.terminated {
                out.extend_from_slice(b"\r\n");
            }
            if let Some(block) = data {
                out.extend_from_slice(&block);
            }
        }
        out
    }
}

/// `b"42   \r\n"` -> `b"42\r\n"`: digits followed by at least one space. protocol.txt leaves
/// the padding after a shrinking incr/decr to the implementation ("MAY be space-padded"),
/// and memcached pads only when no other reference to the item is pending, which depends on
/// how its replies were flushed.
fn unpadded_number(block: &[u8]) -> Option<Vec<u8>> {
    let value = block.strip_suffix(b"\r\n")?;
    let digits = value.iter().take_while(|b| b.is_ascii_digit()).count();
    let padded = digits > 0 && value.len() > digits && value[digits..].iter().all(|&b| b == b' ');
    padded.then(|| {
        let mut out = value[..digits].to_vec();
        out.extend_from_slice(b"\r\n");
        out
    })
}

/// Shows bytes for a failure message: printable ASCII as is, `\r\n` kept as line breaks,
/// anything else escaped; a line over 160 bytes keeps its first 40 and last 100 bytes (long
/// keys and values, but the flags after them stay visible); texts over 8000 bytes are cut.
pub fn show(bytes: &[u8]) -> String {
    fn escape(out: &mut String, bytes: &[u8]) {
        for &b in bytes {
            match b {
                b'\n' => out.push_str("\\n\n"),
                b'\r' => out.push_str("\\r"),
                0x20..=0x7e => out.push(b as char),
                _ => out.push_str(&format!("\\x{b:02x}")),
            }
        }
    }
    let mut out = String::new();
    for line in bytes.split_inclusive(|&b| b == b'\n') {
        if out.len() > 8000 {
            out.push_str(&format!("... ({} bytes in all)", bytes.len()));
            break;
        }
        if line.len() > 160 {
            escape(&mut out, &line[..40]);
            out.push_str(&format!("<...{} bytes...>", line.len() - 140));
            escape(&mut out, &line[line.len() - 100..]);
        } else {
            escape(&mut out, line);
        }
    }
    out
}

// ---------------------------------------------------------------------------------------------
// External processes and temp files
// ---------------------------------------------------------------------------------------------

/// Panics with a clear message when `path` (a Debian-packaged tool) is missing.
pub fn require_binary(path: &str, package: &str) -> PathBuf {
    let p = PathBuf::from(path);
    assert!(
        p.exists(),
        "{path} is missing: install the Debian package `{package}` to run this test \
         (cargo xtask ci installs it)"
    );
    p
}

/// A spawned external process, killed (by its PID) and reaped in Drop.
#[derive(Debug)]
pub struct ChildGuard {
    child: Option<Child>,
    name: String,
}

impl ChildGuard {
    /// Spawns `command` (stdin closed).
    pub fn spawn(name: &str, mut command: Command) -> Self {
        command.stdin(Stdio::null());
        let child = command.spawn().unwrap_or_else(|e| panic!("spawn {name}: {e}"));
        Self { child: Some(child), name: name.to_owned() }
    }

    /// The process id.
    pub fn pid(&self) -> u32 {
        self.child.as_ref().map_or(0, Child::id)
    }

    /// Panics if the process has exited (with what it said on its way out, if anything).
    pub fn assert_running(&mut self, context: &str) {
        if let Some(child) = self.child.as_mut() {
            if let Ok(Some(status)) = child.try_wait() {
                panic!("{} exited early ({status}); {context}", self.name);
            }
        }
    }
}

impl Drop for ChildGuard {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// A temporary directory, removed with its contents in Drop.
#[derive(Debug)]
pub struct TempDir {
    path: PathBuf,
}

impl TempDir {
    /// Creates a fresh directory under the system temp dir.
    pub fn new(name: &str) -> Self {
        let path = crate::common::temp_path(name);
        std::fs::create_dir_all(&path).expect("create temp dir");
        Self { path }
    }

    /// The directory.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.path);
    }
}

/// Where the test scripts (php, python) live.
pub fn script_path(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/scripts").join(name)
}

// ---------------------------------------------------------------------------------------------
// MD5 (RFC 1321) and twemproxy's ketama
// ---------------------------------------------------------------------------------------------

/// MD5 digest of `data` (RFC 1321, from the `md-5` crate), enough for ketama.
pub fn md5(data: &[u8]) -> [u8; 16] {
    use md5::{Digest, Md5};
    Md5::digest(data).into()
}

/// The 32-bit little-endian word `alignment` (0..4) of the MD5 digest of `data`: twemproxy's
/// `ketama_hash` (and, with alignment 0, its `hash: md5` key hash).
pub fn md5_word(data: &[u8], alignment: usize) -> u32 {
    let d = md5(data);
    let o = alignment * 4;
    u32::from_le_bytes([d[o], d[o + 1], d[o + 2], d[o + 3]])
}

/// twemproxy's ketama continuum (`distribution: ketama`, `hash: md5`) for servers of equal
/// weight, as `nc_ketama.c` builds it:
///
/// ```text
///   per server: 160 points = 40 names "<name>-<i>" (i = 0..40) x 4 words of md5(name-i)
///   <name> = "host:port" (just "host" when the port is 11211) unless the config names it
///   key -> md5 word 0 -> first point >= hash (wrapping to the first) -> server index
/// ```
#[derive(Debug, Clone)]
pub struct TwemproxyKetama {
    points: Vec<(u32, usize)>,
}

impl TwemproxyKetama {
    /// The continuum for `names` (in config order), all of weight 1.
    pub fn new(names: &[String]) -> Self {
        let count = names.len();
        // floorf(pct * 160 / 4 * count + 1e-10) * 4 with pct = 1/count: 160 for equal weights.
        let per_server =
            ((1.0f32 / count as f32) * 160.0 / 4.0 * count as f32 + 1e-10).floor() as usize * 4;
        let mut points = Vec::with_capacity(per_server * count);
        for (index, name) in names.iter().enumerate() {
            for i in 0..per_server / 4 {
                let host = format!("{name}-{i}");
                for alignment in 0..4 {
                    points.push((md5_word(host.as_bytes(), alignment), index));
                }
            }
        }
        points.sort_by_key(|&(value, _)| value);
        Self { points }
    }

    /// The server index for `key`.
    pub fn server_for(&self, key: &[u8]) -> usize {
        let hash = md5_word(key, 0);
        let at = self.points.partition_point(|&(value, _)| value < hash);
        self.points.get(at).unwrap_or(&self.points[0]).1
    }
}

/// Lowercase hex of `bytes`.
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
