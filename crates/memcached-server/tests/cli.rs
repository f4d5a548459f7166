//! The binary's command line, black-box: `-h`, `-V`, memcached's startup failures with their
//! messages and exit codes, the config file, and `-d -P -u` (daemon, pidfile, user switch).

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use common::{free_port, run_with_timeout, ServerProcess, MEMCACHED_BIN};

const BIN: &str = env!("CARGO_BIN_EXE_memcached-server");

fn run(args: &[&str]) -> Output {
    Command::new(BIN).args(args).output().expect("run memcached-server")
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

#[test]
fn help_lists_the_options_and_exits_0() {
    for flag in ["-h", "--help"] {
        let o = run(&[flag]);
        assert_eq!(o.status.code(), Some(0), "{flag}");
        let text = stdout(&o);
        for option in [
            "-p, --port",
            "-U, --udp-port",
            "-l, --listen",
            "-d, --daemon",
            "-u, --user",
            "-m, --memory-limit",
            "-c, --conn-limit",
            "-t, --threads",
            "-I, --max-item-size",
            "-o, --extended",
            "--disable-dumping",
            "-x, --repl-peer",
            "-X, --repl-port",
            "--config-file",
            "idle_timeout",
        ] {
            assert!(text.contains(option), "{flag}: help lacks {option}:\n{text}");
        }
    }
    // -h stops parsing where it stands, like memcached's getopt loop.
    assert_eq!(run(&["-h", "-c", "0"]).status.code(), Some(0));
}

#[test]
fn version_and_license_exit_0() {
    let o = run(&["-V"]);
    assert_eq!(o.status.code(), Some(0));
    assert!(stdout(&o).contains("memcached 1.6.18 compatible"), "{}", stdout(&o));
    let o = run(&["-i"]);
    assert_eq!(o.status.code(), Some(0));
    assert!(stdout(&o).contains("license"), "{}", stdout(&o));
}

#[test]
fn invalid_values_fail_at_startup_like_memcached() {
    let cases: &[(&[&str], &str, i32)] = &[
        (&["-c", "0"], "Maximum connections must be greater than 0", 1),
        (&["-t", "0"], "Number of threads must be greater than 0", 1),
        (&["-l", "fooble"], "failed to listen on one of interface(s) fooble", 71),
        (&["-I", "2k"], "slab_chunk_max (bytes: 524288) cannot be larger than -I", 64),
        (&["-I", "2g"], "Cannot set item size limit higher than 1/2 of memory max.", 64),
        (&["-I", "512"], "Item max size cannot be less than 1024 bytes.", 64),
        (&["-o", "fooble"], "Illegal suboption \"fooble\"", 1),
        (&["-m", "0"], "Cannot set item size limit higher than 1/2 of memory max.", 64),
        (&["-f", "0.5"], "Factor must be greater than 1", 1),
        (&["-R", "0"], "Number of requests per event must be greater than 0", 1),
        (&["-B", "foo"], "Invalid value for binding protocol: foo", 64),
        (&["-p", "70000"], "Invalid port number 70000", 64),
        (&["-z"], "invalid option -- 'z'", 1),
        (&["--fooble"], "unrecognized option '--fooble'", 1),
        (&["-p"], "option requires an argument -- 'p'", 1),
    ];
    for (args, message, code) in cases {
        let o = run(args);
        let err = stderr(&o);
        assert_eq!(o.status.code(), Some(*code), "{args:?}: {err}");
        assert!(err.contains(message), "{args:?}: stderr is {err:?}");
        assert!(stdout(&o).is_empty(), "{args:?}: nothing on stdout");
    }
}

#[test]
fn a_bad_config_file_is_refused_with_its_path() {
    let path = std::env::temp_dir().join(format!("mc-cli-{}.toml", std::process::id()));
    std::fs::write(&path, "tcp_port = 11211\nfooble = 1\n").unwrap();
    let o = run(&["--config-file", path.to_str().unwrap()]);
    let _ = std::fs::remove_file(&path);
    assert_eq!(o.status.code(), Some(78), "{}", stderr(&o));
    let err = stderr(&o);
    assert!(err.contains(path.to_str().unwrap()) && err.contains("fooble"), "{err}");
}

#[test]
fn a_bad_replication_peer_or_a_taken_replication_port_is_refused() {
    let o = run(&["-p", "0", "-x", "127.0.0.2:0"]);
    assert_eq!(o.status.code(), Some(64), "{}", stderr(&o));
    assert!(stderr(&o).contains("-x 127.0.0.2:0"), "{}", stderr(&o));
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port().to_string();
    let o = run(&["-p", "0", "-l", "127.0.0.1", "-x", "127.0.0.2", "-X", &port]);
    assert_eq!(o.status.code(), Some(71), "{}", stderr(&o));
    assert!(stderr(&o).contains("failed to listen on replication port"), "{}", stderr(&o));
}

/// Kills the daemon by its pid if the test ends early.
struct Daemon {
    pid: libc::pid_t,
    pidfile: PathBuf,
}

impl Drop for Daemon {
    fn drop(&mut self) {
        // SAFETY: kill with a pid this test read from the daemon's own pidfile.
        unsafe { libc::kill(self.pid, libc::SIGKILL) };
        let _ = std::fs::remove_file(&self.pidfile);
    }
}

fn wait_for(what: &str, mut ready: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !ready() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn process_uid(pid: libc::pid_t) -> Option<u32> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("Uid:"))?;
    line.split_whitespace().nth(2)?.parse().ok() // the effective uid
}

#[test]
fn daemon_writes_its_pidfile_serves_ignores_sighup_and_removes_the_pidfile_on_sigterm() {
    let port = free_port();
    let pidfile = std::env::temp_dir().join(format!("mc-cli-daemon-{}.pid", std::process::id()));
    let _ = std::fs::remove_file(&pidfile);
    // SAFETY: getuid cannot fail.
    let is_root = unsafe { libc::getuid() } == 0;
    let port_arg = port.to_string();
    let mut args = vec!["-d", "-P", pidfile.to_str().unwrap(), "-p", &port_arg, "-l", "127.0.0.1"];
    if is_root {
        args.extend(["-u", "nobody"]);
    }
    let o = run(&args);
    assert_eq!(o.status.code(), Some(0), "the foreground parent exits 0: {}", stderr(&o));

    wait_for("the pidfile", || read_pid(&pidfile).is_some());
    let pid = read_pid(&pidfile).unwrap();
    let daemon = Daemon { pid, pidfile: pidfile.clone() };
    if is_root {
        assert_ne!(process_uid(pid), Some(0), "-u nobody dropped root");
    }

    let mut conn = None;
    wait_for("the daemon's port", || {
        conn = TcpStream::connect(("127.0.0.1", port)).ok();
        conn.is_some()
    });
    let mut conn = conn.unwrap();
    conn.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    conn.write_all(b"version\r\n").unwrap();
    let mut buf = [0u8; 64];
    let n = conn.read(&mut buf).unwrap();
    assert!(buf[..n].starts_with(b"VERSION "), "{:?}", String::from_utf8_lossy(&buf[..n]));

    // A daemon ignores SIGHUP, as memcached's does.
    // SAFETY: kill with the daemon's pid.
    assert_eq!(unsafe { libc::kill(pid, libc::SIGHUP) }, 0);
    conn.write_all(b"version\r\n").unwrap();
    let n = conn.read(&mut buf).unwrap();
    assert!(buf[..n].starts_with(b"VERSION "), "still serving after SIGHUP");
    assert!(is_alive(pid));

    // SAFETY: kill with the daemon's pid.
    assert_eq!(unsafe { libc::kill(pid, libc::SIGTERM) }, 0);
    wait_for("the daemon to exit", || !is_alive(pid));
    assert!(!pidfile.exists(), "the pidfile is removed on a clean stop");
    drop(daemon);
}

/// False once the process is gone or a zombie (its new parent may be slow to reap it).
fn is_alive(pid: libc::pid_t) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        // The state follows the parenthesised command name: "pid (comm) S ...".
        Ok(stat) => {
            stat.rsplit_once(')').is_some_and(|(_, rest)| !rest.trim_start().starts_with('Z'))
        }
        Err(_) => false,
    }
}

fn read_pid(path: &Path) -> Option<libc::pid_t> {
    std::fs::read_to_string(path).ok()?.trim().parse().ok()
}

/// Runs contrib/memcached-server.init with the test binary and a private pid directory.
fn service(action: &str, piddir: &Path, port: u16) -> Output {
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/../../contrib/memcached-server.init");
    Command::new("/bin/sh")
        .arg(script)
        .arg(action)
        .env("MEMCACHED_SERVER_DEFAULTS", "/nonexistent")
        .env("DAEMON", BIN)
        .env("CONFIG", "/nonexistent")
        .env("PIDFILE", piddir.join("memcached-server.pid"))
        .env("MEMCACHED_USER", "nobody")
        .env("MEMCACHED_OPTS", format!("-p {port} -l 127.0.0.1"))
        .output()
        .expect("run the service script")
}

#[test]
fn service_script_starts_restarts_and_stops_by_pidfile() {
    let port = free_port();
    let piddir = std::env::temp_dir().join(format!("mc-cli-init-{}", std::process::id()));
    let pidfile = piddir.join("memcached-server.pid");
    let o = service("start", &piddir, port);
    assert_eq!(o.status.code(), Some(0), "start: {} {}", stdout(&o), stderr(&o));
    let first = read_pid(&pidfile).expect("pidfile after start");
    let _guard = Daemon { pid: first, pidfile: pidfile.clone() };
    // The pidfile is written after the sockets are bound, so the port is open.
    assert!(TcpStream::connect(("127.0.0.1", port)).is_ok(), "the service listens");
    let o = service("status", &piddir, port);
    assert_eq!(o.status.code(), Some(0));
    assert!(stdout(&o).contains(&format!("running (pid {first})")), "{}", stdout(&o));

    let o = service("restart", &piddir, port);
    assert_eq!(o.status.code(), Some(0), "restart: {} {}", stdout(&o), stderr(&o));
    let second = read_pid(&pidfile).expect("pidfile after restart");
    let _guard2 = Daemon { pid: second, pidfile: pidfile.clone() };
    assert_ne!(first, second);
    assert!(!is_alive(first), "restart stopped the first daemon");

    let o = service("stop", &piddir, port);
    assert_eq!(o.status.code(), Some(0), "stop: {} {}", stdout(&o), stderr(&o));
    assert!(!is_alive(second));
    assert!(!pidfile.exists());
    let o = service("status", &piddir, port);
    assert_eq!(o.status.code(), Some(3), "status of a stopped service is 3 (LSB)");
    let _ = std::fs::remove_dir(&piddir);
}

#[test]
fn the_php_page_from_operations_md_sets_key_and_reads_it_back() {
    // SAFETY: getuid cannot fail.
    let is_root = unsafe { libc::getuid() } == 0;
    let user: &[&str] = if is_root { &["-u", "nobody"] } else { &[] };
    let server = ServerProcess::ours().args(user).start();
    let port = server.port;

    let page = concat!(env!("CARGO_MANIFEST_DIR"), "/../../contrib/php/index.php");
    let o = Command::new("php").arg(page).env("MEMCACHED_PORT", port.to_string()).output().expect(
        "php-cli with php-memcached is needed (Debian: apt-get install php-cli php-memcached)",
    );
    assert_eq!(o.status.code(), Some(0), "{} {}", stdout(&o), stderr(&o));
    assert_eq!(stdout(&o), "key = Hello from memcached-server!\n");
}

/// Runs a binary that is expected to refuse its arguments at once; it is killed (by its pid)
/// and the test fails if it is still running after 5 s.
fn run_expecting_refusal(bin: &str, args: &[&str]) -> (Option<i32>, String) {
    let mut command = Command::new(bin);
    command.args(args);
    let o = run_with_timeout(
        &format!("{bin} {args:?} (expected to refuse)"),
        command,
        Duration::from_secs(5),
    );
    (o.status.code(), stderr(&o))
}

#[test]
fn refusals_match_the_real_memcached() {
    let memcached = common::memcached_binary();
    let memcached = memcached.to_str().expect("utf-8 path");
    let cases: &[&[&str]] = &[
        &["-c", "0"],
        &["-t", "0"],
        &["-R", "0"],
        &["-n", "0"],
        &["-f", "0.5"],
        &["-f", "1"],
        &["-m", "0"],
        &["-m", "1"],
        &["-I", "512"],
        &["-I", "2k"],
        &["-I", "600k"],
        &["-I", "1025m", "-m", "4096"],
        &["-B", "foo"],
        &["-p", "70000"],
        &["-o", "fooble"],
        &["-o", "idle_timeout=5,fooble"],
        &["-o", "hashpower=5"],
        &["-o", "hashpower=33"],
        &["-o", "hash_algorithm=foo"],
        &["-o", "hot_lru_pct=90"],
        &["-o", "warm_lru_pct=50,hot_lru_pct=40"],
        &["-o", "hot_max_factor=0"],
        &["-o", "tail_repair_time=5"],
        &["-o", "slab_automove=3"],
        &["-o", "slab_automove_window=0"],
        &["-o", "lru_crawler_sleep=2000000"],
        &["-o", "slab_chunk_max=2000"],
        &["-o", "ext_path"],
        &["-o", "slab_sizes=47-200"],
        &["-o", "slab_sizes=100-90"],
        &["-n", "100", "-o", "slab_sizes=96-200"],
        &["-o", "slab_sizes=96-200,slab_chunk_max=128"],
        &["-z"],
        &["--fooble"],
        &["-p"],
        &["--p", "0"],
    ];
    for args in cases {
        let port = free_port().to_string();
        let mut full = vec!["-u", "nobody", "-l", "127.0.0.1", "-p", &port];
        full.extend_from_slice(args);
        let (theirs_code, theirs) = run_expecting_refusal(memcached, &full);
        let (ours_code, ours) = run_expecting_refusal(BIN, &full);
        assert_eq!(ours_code, theirs_code, "{args:?}: exit code; ours {ours:?}, theirs {theirs:?}");
        // getopt's messages start with argv[0]; compare what follows it.
        let first = theirs.lines().next().unwrap_or("");
        let first = first.strip_prefix(&format!("{MEMCACHED_BIN}: ")).unwrap_or(first);
        assert!(ours.contains(first), "{args:?}: ours {ours:?} lacks memcached's {first:?}");
    }
}

/// The lines of `stats settings`, `END` included.
fn stats_settings(server: &ServerProcess) -> Vec<String> {
    let mut conn = server.connect();
    conn.send("stats settings\r\n");
    String::from_utf8_lossy(&conn.read_until(b"END\r\n")).lines().map(str::to_string).collect()
}

#[test]
fn stats_settings_match_the_real_memcached_for_the_same_flags() {
    // Both also get `-l 127.0.0.1 -p <free port>`, and `-u nobody` (the harness gives it to
    // memcached).
    let flags = [
        "-m",
        "100",
        "-c",
        "500",
        "-t",
        "2",
        "-A",
        "-C",
        "-R",
        "7",
        "-I",
        "2m",
        "-f",
        "1.5",
        "-n",
        "64",
        "-o",
        "idle_timeout=7,hash_algorithm=xxh3,no_lru_crawler,hot_lru_pct=30",
    ];
    let theirs = stats_settings(&ServerProcess::memcached().args(flags).start());
    let ours = stats_settings(&ServerProcess::ours().args(["-u", "nobody"]).args(flags).start());
    assert_eq!(ours.len(), theirs.len(), "ours {ours:#?}\ntheirs {theirs:#?}");
    for (o, t) in ours.iter().zip(&theirs) {
        if t.starts_with("STAT tcpport ") {
            continue;
        }
        assert_eq!(o, t);
    }
}
