//! Test servers: real memcached processes on free ports in 23000-23999, killed on drop.

#![allow(dead_code)]

use memcached_client::{Client, StoreOptions};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU16, Ordering};
use std::time::{Duration, Instant};

pub const DEBIAN_MEMCACHED: &str = "/usr/bin/memcached";

static NEXT_PORT: AtomicU16 = AtomicU16::new(0);

/// A port in 23000..24000 that nothing listens on; spread by pid so test binaries running at
/// the same time do not collide.
pub fn free_port() -> u16 {
    let _ = NEXT_PORT.compare_exchange(
        0,
        (std::process::id() % 40) as u16 * 25,
        Ordering::SeqCst,
        Ordering::SeqCst,
    );
    for _ in 0..1000 {
        let offset = NEXT_PORT.fetch_add(1, Ordering::SeqCst) % 1000;
        let port = 23000 + offset;
        if TcpListener::bind(("127.0.0.1", port)).is_ok()
            && TcpStream::connect(("127.0.0.1", port)).is_err()
        {
            return port;
        }
    }
    panic!("no free port in 23000-23999");
}

/// A server process under test.
pub struct ServerProcess {
    binary: String,
    extra: Vec<String>,
    pub port: u16,
    child: Option<Child>,
}

impl ServerProcess {
    /// Starts Debian's memcached on a free port.
    pub fn memcached() -> ServerProcess {
        assert!(
            Path::new(DEBIAN_MEMCACHED).exists(),
            "{DEBIAN_MEMCACHED} not found: these tests need Debian's memcached 1.6.18 (apt-get install memcached)"
        );
        ServerProcess::start(DEBIAN_MEMCACHED, &[])
    }

    /// Starts `binary -p PORT -l 127.0.0.1 -U 0 extra...` on a free port.
    pub fn start(binary: &str, extra: &[&str]) -> ServerProcess {
        let mut server = ServerProcess {
            binary: binary.to_string(),
            extra: extra.iter().map(|s| s.to_string()).collect(),
            port: free_port(),
            child: None,
        };
        server.restart();
        server
    }

    /// `127.0.0.1:PORT`.
    pub fn spec(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// Kills the process (SIGKILL) and waits for it.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts the process again on the same port and waits until it accepts connections.
    pub fn restart(&mut self) {
        self.kill();
        let port = self.port.to_string();
        let mut args = vec!["-p", &port, "-l", "127.0.0.1", "-U", "0", "-t", "1", "-m", "64"];
        if self.binary == DEBIAN_MEMCACHED && nix_is_root() {
            args.extend(["-u", "nobody"]);
        }
        let extra: Vec<&str> = self.extra.iter().map(String::as_str).collect();
        args.extend(extra);
        let child = Command::new(&self.binary)
            .args(&args)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {}: {e}", self.binary));
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(10);
        while TcpStream::connect(("127.0.0.1", self.port)).is_err() {
            assert!(
                Instant::now() < deadline,
                "{} did not start listening on {}",
                self.binary,
                self.port
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

fn nix_is_root() -> bool {
    std::env::var("USER").map(|u| u == "root").unwrap_or(false)
        || std::fs::read_to_string("/proc/self/status")
            .map(|s| {
                s.lines().any(|l| l.starts_with("Uid:") && l.split_whitespace().nth(1) == Some("0"))
            })
            .unwrap_or(false)
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Our server's binary: `MEMCACHED_SERVER_BIN`, else `memcached-server` in this test's target
/// dir (built with `cargo build -p memcached-server` once if missing).
pub fn our_server_binary() -> String {
    static BUILT: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    BUILT
        .get_or_init(|| {
            if let Ok(path) = std::env::var("MEMCACHED_SERVER_BIN") {
                return path;
            }
            let exe = std::env::current_exe().expect("test executable path");
            // target/<profile>/deps/<test> → target/<profile>
            let profile_dir = exe.parent().and_then(Path::parent).expect("target profile dir");
            let binary = profile_dir.join("memcached-server");
            if !binary.is_file() {
                let target_dir = profile_dir.parent().expect("target dir");
                let mut build = Command::new(env!("CARGO"));
                build
                    .args(["build", "-p", "memcached-server", "--bin", "memcached-server"])
                    .env("CARGO_TARGET_DIR", target_dir)
                    .current_dir(env!("CARGO_MANIFEST_DIR"));
                if profile_dir.file_name().is_some_and(|n| n == "release") {
                    build.arg("--release");
                }
                let status = build.status().expect("run cargo build -p memcached-server");
                assert!(status.success(), "cargo build -p memcached-server failed");
            }
            assert!(binary.is_file(), "memcached-server binary not found at {}", binary.display());
            binary.to_string_lossy().into_owned()
        })
        .clone()
}

impl ServerProcess {
    /// Starts our server (`memcached-server`) on a free port.
    pub fn ours() -> ServerProcess {
        ServerProcess::start(&our_server_binary(), &[])
    }
}

/// Runs `interpreter args... script` and returns its stdout; fails the test with `install`
/// as the hint when the interpreter is missing, and with its output when it fails.
pub fn run_script(interpreter: &str, args: &[&str], script: &str, install: &str) -> String {
    assert!(Path::new(interpreter).exists(), "{interpreter} not found: install {install}");
    let output = Command::new(interpreter)
        .args(args)
        .arg(script)
        .output()
        .unwrap_or_else(|e| panic!("cannot run {interpreter}: {e}"));
    assert!(
        output.status.success(),
        "{interpreter} failed: {}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).unwrap()
}

/// The first key `prefix0`, `prefix1`, … that `client` routes to `server` (`host:port`).
pub fn key_owned_by(client: &Client, server: &str, prefix: &str) -> String {
    (0..)
        .map(|i| format!("{prefix}{i}"))
        .find(|k| client.server_for_key(k.as_bytes()).as_deref() == Some(server))
        .unwrap()
}

/// Asserts that each key is stored on the server `client` routes it to (read back with a
/// single-server client) and that every one of `servers` holds some of them.
pub async fn assert_keys_on_their_owners(
    client: &Client,
    servers: &[ServerProcess],
    keys: &[String],
) {
    let singles: Vec<Client> =
        servers.iter().map(|s| Client::builder().server(&s.spec()).build().unwrap()).collect();
    let mut used = vec![false; servers.len()];
    for key in keys {
        let owner = client.server_for_key(key.as_bytes()).unwrap();
        let index = servers.iter().position(|s| s.spec() == owner).unwrap();
        assert!(singles[index].get(key.as_str()).await.unwrap().is_some(), "{key} on {owner}");
        used[index] = true;
    }
    assert_eq!(used, vec![true; servers.len()], "keys on every server");
}

/// Stores `{prefix}0` … `{prefix}{count-1}`, each with its own name as the value (every store
/// must succeed), and returns the keys.
pub async fn set_named_keys(client: &Client, prefix: &str, count: usize) -> Vec<String> {
    let keys: Vec<String> = (0..count).map(|i| format!("{prefix}{i}")).collect();
    for key in &keys {
        client.set(key, key, StoreOptions::default()).await.unwrap();
    }
    keys
}
