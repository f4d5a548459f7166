//! Real memcached clients against our server, each first run against Debian's memcached
//! 1.6.18 so a failure of ours is never a wrong expectation of the test:
//!
//! ```text
//!   php-memcached (libmemcached, text)  tests/scripts/php_memcached.php   -> one server
//!   pymemcache Client + HashClient      tests/scripts/pymemcache_clients.py -> two servers
//!   libmemcached's memccapable -a       all its ascii checks               -> one server
//!   twemproxy (nutcracker) ketama/md5   proxy -> three servers; every key on exactly the
//!                                       server twemproxy's ketama picks (asked directly)
//! ```
//!
//! Every process (servers, php, python, nutcracker) is killed by PID when the test ends, and
//! temp files are removed. The client tools come from Debian packages (`php-cli`,
//! `php-memcached`, `python3-pymemcache`, `libmemcached-tools`, `nutcracker`); a test fails
//! with the package name when its tool is missing.

mod common;
mod support_clients;

use std::process::Command;
use std::time::{Duration, Instant};

use common::{free_port, run_with_timeout, ServerProcess};
use support_clients::{
    hex, md5, require_binary, script_path, ChildGuard, TempDir, TwemproxyKetama,
};

const PHP: &str = "/usr/bin/php";
/// Debian's python3 (python3-pymemcache is installed for it, not for a pyenv python).
const PYTHON: &str = "/usr/bin/python3";
const MEMCCAPABLE: &str = "/usr/bin/memccapable";
const NUTCRACKER: &str = "/usr/sbin/nutcracker";

/// How long one client run may take.
const CLIENT_TIMEOUT: Duration = Duration::from_secs(120);

/// Runs a client command; panics with its output unless it exits 0 and prints `all ok`.
fn run_client(what: &str, command: Command) -> String {
    let output = run_with_timeout(what, command, CLIENT_TIMEOUT);
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    assert!(
        output.status.success() && stdout.lines().any(|l| l == "all ok"),
        "{what} failed ({})\nstdout:\n{stdout}\nstderr:\n{stderr}",
        output.status
    );
    stdout
}

fn php_script(server: &ServerProcess) -> Command {
    require_binary(PHP, "php-cli");
    let mut command = Command::new(PHP);
    command.arg(script_path("php_memcached.php")).arg("127.0.0.1").arg(server.port.to_string());
    command
}

#[test]
fn php_memcached_text_protocol() {
    let reference = ServerProcess::memcached().start();
    let checks = run_client("php-memcached vs memcached 1.6.18", php_script(&reference));
    drop(reference);
    let ours = ServerProcess::ours().start();
    let ours_checks = run_client("php-memcached vs memcached-server", php_script(&ours));
    assert_eq!(ours_checks, checks, "same checks, same order");
    assert!(checks.lines().count() > 40, "the script ran its checks:\n{checks}");
}

fn pymemcache_script(first: &ServerProcess, second: &ServerProcess) -> Command {
    require_binary(PYTHON, "python3-pymemcache");
    let mut command = Command::new(PYTHON);
    command
        .arg(script_path("pymemcache_clients.py"))
        .arg("127.0.0.1")
        .arg(first.port.to_string())
        .arg(second.port.to_string());
    command
}

#[test]
fn pymemcache_client_and_hash_client() {
    let (a, b) = (ServerProcess::memcached().start(), ServerProcess::memcached().start());
    let checks = run_client("pymemcache vs memcached 1.6.18", pymemcache_script(&a, &b));
    drop((a, b));
    let (a, b) = (ServerProcess::ours().start(), ServerProcess::ours().start());
    let ours_checks = run_client("pymemcache vs memcached-server", pymemcache_script(&a, &b));
    assert_eq!(ours_checks, checks, "same checks, same order");
    assert!(checks.contains("ok hash placement of 200 keys"), "{checks}");
}

/// `memccapable -a` output: exit status, the per-test lines and the verdict.
fn memccapable(server: &ServerProcess) -> (bool, String) {
    require_binary(MEMCCAPABLE, "libmemcached-tools");
    let mut command = Command::new(MEMCCAPABLE);
    command.args(["-h", "127.0.0.1", "-p", &server.port.to_string(), "-a", "-t", "5"]);
    let output = run_with_timeout("memccapable", command, CLIENT_TIMEOUT);
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    (output.status.success(), text)
}

#[test]
fn memccapable_ascii_checks_pass() {
    let reference = ServerProcess::memcached().start();
    let (ok, reference_text) = memccapable(&reference);
    assert!(ok && reference_text.contains("All tests passed"), "{reference_text}");
    drop(reference);
    let ours = ServerProcess::ours().start();
    let (ok, text) = memccapable(&ours);
    assert!(
        ok && text.contains("All tests passed") && !text.to_lowercase().contains("[fail]"),
        "memccapable -a against our server:\n{text}"
    );
    let passed = |t: &str| t.lines().filter(|l| l.contains("[pass]")).count();
    assert_eq!(passed(&text), passed(&reference_text), "as many checks as against memcached");
    assert!(passed(&text) >= 25, "{text}");
}

/// A nutcracker process with a generated config, killed in Drop (config dir removed).
struct Twemproxy {
    _process: ChildGuard,
    _dir: TempDir,
    port: u16,
}

impl Twemproxy {
    /// twemproxy with one pool (ketama distribution, md5 key hash) over `servers`.
    fn start(servers: &[&ServerProcess]) -> Self {
        let binary = require_binary(NUTCRACKER, "nutcracker");
        let dir = TempDir::new("twemproxy");
        let port = free_port();
        let stats_port = free_port();
        let mut yaml = format!(
            "pool:\n  listen: 127.0.0.1:{port}\n  hash: md5\n  distribution: ketama\n  \
             timeout: 2000\n  auto_eject_hosts: false\n  preconnect: true\n  servers:\n"
        );
        for server in servers {
            yaml.push_str(&format!("   - 127.0.0.1:{}:1\n", server.port));
        }
        let config = dir.path().join("nutcracker.yml");
        std::fs::write(&config, yaml).expect("write nutcracker config");
        let log = dir.path().join("nutcracker.log");
        let mut command = Command::new(binary);
        command
            .arg("-c")
            .arg(&config)
            .args(["-s", &stats_port.to_string(), "-a", "127.0.0.1", "-v", "4"])
            .arg("-o")
            .arg(&log);
        command.stdout(std::process::Stdio::null()).stderr(std::process::Stdio::null());
        let mut process = ChildGuard::spawn("nutcracker", command);
        let deadline = Instant::now() + Duration::from_secs(10);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            let log_text = std::fs::read_to_string(&log).unwrap_or_default();
            process.assert_running(&format!("log:\n{log_text}"));
            assert!(Instant::now() < deadline, "nutcracker not listening; log:\n{log_text}");
            std::thread::sleep(Duration::from_millis(20));
        }
        Self { _process: process, _dir: dir, port }
    }
}

#[test]
fn twemproxy_ketama_md5_puts_each_key_on_its_server() {
    let servers: Vec<ServerProcess> = (0..3).map(|_| ServerProcess::ours().start()).collect();
    let refs: Vec<&ServerProcess> = servers.iter().collect();
    let proxy = Twemproxy::start(&refs);
    // twemproxy names a server "host:port" on the continuum (just "host" for port 11211)
    let names: Vec<String> = servers.iter().map(|s| format!("127.0.0.1:{}", s.port)).collect();
    let ketama = TwemproxyKetama::new(&names);

    let mut through_proxy =
        common::Client::tcp(std::net::SocketAddr::from(([127, 0, 0, 1], proxy.port)));
    let keys: Vec<String> = (0..300).map(|i| format!("tw:key:{i}")).collect();
    for (i, key) in keys.iter().enumerate() {
        let value = format!("value-{i}");
        through_proxy
            .roundtrip(format!("set {key} {i} 0 {}\r\n{value}\r\n", value.len()), "STORED\r\n");
    }
    // read back through the proxy: one multi-get that spans all three servers
    let mut request = String::from("get");
    for key in &keys {
        request.push(' ');
        request.push_str(key);
    }
    request.push_str("\r\n");
    through_proxy.send(request);
    let body = String::from_utf8(through_proxy.read_until(b"END\r\n")).expect("utf-8 reply");
    for (i, key) in keys.iter().enumerate() {
        let expected = format!("VALUE {key} {i} {}\r\nvalue-{i}\r\n", format!("value-{i}").len());
        assert!(body.contains(&expected), "multi-get through twemproxy lacks {key}");
    }

    // every key lives on exactly the server ketama picks
    let mut direct: Vec<common::Client> = servers.iter().map(ServerProcess::connect).collect();
    let mut per_server = [0usize; 3];
    for (i, key) in keys.iter().enumerate() {
        let owner = ketama.server_for(key.as_bytes());
        per_server[owner] += 1;
        for (index, client) in direct.iter_mut().enumerate() {
            client.send(format!("get {key}\r\n"));
            let reply = String::from_utf8(client.read_until(b"END\r\n")).expect("utf-8");
            let found = reply.starts_with("VALUE ");
            assert_eq!(
                found,
                index == owner,
                "{key}: ketama says server {owner} ({}), but server {index} ({}) {}: {reply:?}",
                names[owner],
                names[index],
                if found { "has it" } else { "does not have it" }
            );
            if found {
                assert_eq!(
                    reply,
                    format!(
                        "VALUE {key} {i} {}\r\nvalue-{i}\r\nEND\r\n",
                        format!("value-{i}").len()
                    )
                );
            }
        }
    }
    assert!(per_server.iter().all(|&n| n > 30), "keys spread over all servers: {per_server:?}");

    // other commands are routed the same way
    through_proxy.roundtrip("incr tw:counter 1\r\n", "NOT_FOUND\r\n");
    through_proxy.roundtrip("set tw:counter 0 0 1\r\n5\r\n", "STORED\r\n");
    through_proxy.roundtrip("incr tw:counter 37\r\n", "42\r\n");
    let owner = ketama.server_for(b"tw:counter");
    direct[owner].roundtrip("get tw:counter\r\n", "VALUE tw:counter 0 2\r\n42\r\nEND\r\n");
    through_proxy.roundtrip("delete tw:counter\r\n", "DELETED\r\n");
    direct[owner].roundtrip("get tw:counter\r\n", "END\r\n");
}

/// The MD5 and continuum used above, checked on their own.
#[test]
fn md5_and_twemproxy_ketama_model() {
    // RFC 1321 test suite
    assert_eq!(hex(&md5(b"")), "d41d8cd98f00b204e9800998ecf8427e");
    assert_eq!(hex(&md5(b"a")), "0cc175b9c0f1b6a831c399e269772661");
    assert_eq!(hex(&md5(b"abc")), "900150983cd24fb0d6963f7d28e17f72");
    assert_eq!(hex(&md5(b"message digest")), "f96b697d7cb7938d525a2f31aaf161d0");
    assert_eq!(
        hex(&md5(
            b"12345678901234567890123456789012345678901234567890123456789012345678901234567890"
        )),
        "57edf4a22be3c955ac49da2e2107b67a"
    );
    let names: Vec<String> = (0..3).map(|i| format!("127.0.0.1:{}", 27100 + i)).collect();
    let ketama = TwemproxyKetama::new(&names);
    let mut counts = [0usize; 3];
    for i in 0..3000 {
        counts[ketama.server_for(format!("key{i}").as_bytes())] += 1;
    }
    assert!(counts.iter().all(|&n| n > 600), "ketama spreads keys: {counts:?}");
    // adding a server moves only about a quarter of the keys (consistent hashing)
    let mut four = names.clone();
    four.push("127.0.0.1:27103".to_owned());
    let bigger = TwemproxyKetama::new(&four);
    let moved = (0..3000)
        .filter(|i| {
            let key = format!("key{i}");
            ketama.server_for(key.as_bytes()) != bigger.server_for(key.as_bytes())
        })
        .count();
    assert!((450..1200).contains(&moved), "{moved} of 3000 keys moved");
}
