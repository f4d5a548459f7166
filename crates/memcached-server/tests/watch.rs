//! `watch`: a connection that streams log lines about other connections' commands.

mod common;

use std::time::{Duration, Instant};

use common::{Client, ServerProcess};

fn read_lines_until(watcher: &mut Client, needle: &str) -> String {
    let mut seen = String::new();
    let deadline = Instant::now() + Duration::from_secs(10);
    while !seen.contains(needle) {
        assert!(Instant::now() < deadline, "no {needle:?} in watch output:\n{seen}");
        let mut line = Vec::new();
        // Watch lines end in "\n" only.
        while !line.ends_with(b"\n") {
            line.extend(watcher.read_exact_bytes(1));
        }
        seen.push_str(&String::from_utf8_lossy(&line));
    }
    seen
}

#[test]
fn watchers_see_fetches_mutations_and_connections() {
    let server = ServerProcess::ours().args(["-t", "2"]).start();
    let mut watcher = server.connect();
    watcher.roundtrip("watch fetchers mutations connevents\r\n", "OK\r\n");
    // The watcher's worker subscribes right after sending OK: wait for that before the
    // connection whose conn_new line we expect.
    let mut probe = server.connect();
    probe.wait_for_stat("", "log_watchers", "1");
    let mut c = server.connect();
    c.roundtrip("set foo 5 100 3\r\nabc\r\n", "STORED\r\n");
    c.roundtrip("get foo nope\r\n", "VALUE foo 5 3\r\nabc\r\nEND\r\n");
    c.roundtrip("ms bar 2\r\nhi\r\nmg bar v\r\n", "HD\r\nVA 2\r\nhi\r\n");
    drop(c);
    // The harness's own start-up connection may close after the watcher subscribed: read up to
    // the last fetch, then up to the close of `c` that follows it.
    let mut seen = read_lines_until(&mut watcher, "type=item_get key=bar status=found");
    seen.push_str(&read_lines_until(&mut watcher, "type=conn_close"));
    drop(probe);
    for needle in [
        "type=conn_new rip=127.0.0.1",
        "type=item_store key=foo status=stored cmd=set ttl=100",
        "type=item_get key=foo status=found",
        "type=item_get key=nope status=not_found clsid=0",
        "type=item_store key=bar status=stored cmd=set ttl=0",
        "type=item_get key=bar status=found",
    ] {
        assert!(seen.contains(needle), "missing {needle:?} in:\n{seen}");
    }
    assert!(seen.lines().all(|l| l.starts_with("ts=") && l.contains(" gid=")), "{seen}");
    let mut admin = server.connect();
    assert_eq!(admin.stat("", "log_watchers").as_deref(), Some("1"));
    let sent: u64 = admin.stat("", "log_watcher_sent").expect("stat").parse().expect("number");
    assert!(sent >= 6, "log_watcher_sent {sent}");
    drop(watcher);
    // A closed watcher must unsubscribe.
    admin.wait_for_stat("", "log_watchers", "0");
}

#[test]
fn watch_default_stream_is_fetchers_only() {
    let server = ServerProcess::ours().start();
    let mut watcher = server.connect();
    watcher.roundtrip("watch\r\n", "OK\r\n");
    let mut c = server.connect();
    c.wait_for_stat("", "log_watchers", "1");
    c.roundtrip("set k 0 0 1\r\nx\r\nget k\r\n", "STORED\r\nVALUE k 0 1\r\nx\r\nEND\r\n");
    let seen = read_lines_until(&mut watcher, "type=item_get key=k status=found");
    assert!(!seen.contains("item_store"), "{seen}");
}

#[test]
fn watch_must_come_first_and_can_be_disabled() {
    let server = ServerProcess::ours().start();
    let mut c = server.connect();
    c.roundtrip(
        "version\r\nwatch\r\n",
        "VERSION 1.6.18\r\nERROR cannot pipeline other commands before watch\r\n",
    );
    let disabled = ServerProcess::ours().args(["-W"]).start();
    let mut c = disabled.connect();
    c.roundtrip("watch\r\n", "CLIENT_ERROR watch commands not allowed\r\n");
}
