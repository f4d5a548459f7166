//! Hostile and greedy clients: endless lines, huge declared lengths, over-long keys, binary
//! garbage, too many connections, a client that never reads, idle connections. In every case
//! the server stays up and keeps serving everyone else.

mod common;

use std::io::Write;
use std::net::TcpStream;
use std::time::{Duration, Instant};

use common::{get_reply, set_request, Client, ServerProcess};

fn assert_serving(server: &ServerProcess) {
    let mut c = server.connect();
    c.roundtrip(
        "set probe 0 0 2\r\nok\r\nget probe\r\n",
        "STORED\r\nVALUE probe 0 2\r\nok\r\nEND\r\n",
    );
}

#[test]
fn endless_line_is_closed_without_reply() {
    let server = ServerProcess::ours().start();
    let mut c = server.connect();
    c.send(vec![b'a'; 3000]);
    assert!(c.closed_within(Duration::from_secs(5)), "a 3000-byte line without \\n must close");
    assert!(c.take_buffered().is_empty(), "memcached sends nothing before closing");
    assert_serving(&server);
}

#[test]
fn replies_before_an_endless_line_are_still_sent() {
    let server = ServerProcess::ours().start();
    let mut c = server.connect();
    let mut input = b"set a 0 0 1\r\n1\r\nget a\r\n".to_vec();
    input.extend(std::iter::repeat_n(b'g', 5000));
    c.send(&input);
    c.expect("STORED\r\nVALUE a 0 1\r\n1\r\nEND\r\n");
    assert!(c.closed_within(Duration::from_secs(5)));
}

#[test]
fn long_complete_line_is_just_an_error() {
    let server = ServerProcess::ours().start();
    let mut c = server.connect();
    let mut line = vec![b'x'; 4000];
    line.extend_from_slice(b"\r\n");
    c.roundtrip(&line, "ERROR\r\n");
    assert_serving(&server);
}

#[test]
fn huge_declared_lengths() {
    let server = ServerProcess::ours().start();
    let mut c = server.connect();
    c.roundtrip("set k 0 0 4294967295\r\n", "CLIENT_ERROR bad command line format\r\n");
    c.roundtrip("set k 0 0 99999999999999999999\r\n", "CLIENT_ERROR bad command line format\r\n");
    // Within int range but over -I: the server answers, then swallows the (never sent) block.
    let mut other = server.connect();
    other.roundtrip("set k 0 0 2000000000\r\n", "SERVER_ERROR object too large for cache\r\n");
    assert_serving(&server);
    let mut ms = server.connect();
    ms.roundtrip("ms k 2000000000\r\n", "SERVER_ERROR object too large for cache\r\n");
    assert_serving(&server);
}

#[test]
fn key_length_limit() {
    let server = ServerProcess::ours().start();
    let mut c = server.connect();
    let key250 = "k".repeat(250);
    let key251 = "k".repeat(251);
    c.roundtrip(format!("set {key250} 0 0 1\r\nx\r\n"), "STORED\r\n");
    c.roundtrip(format!("get {key250}\r\n"), format!("VALUE {key250} 0 1\r\nx\r\nEND\r\n"));
    c.roundtrip(format!("get {key251}\r\n"), "CLIENT_ERROR bad command line format\r\n");
    // The data line of a rejected set is then parsed as a command.
    c.roundtrip(
        format!("set {key251} 0 0 1\r\nx\r\n"),
        "CLIENT_ERROR bad command line format\r\nERROR\r\n",
    );
    c.roundtrip(format!("mg {key251} v\r\n"), "CLIENT_ERROR bad command line format\r\n");
    assert_serving(&server);
}

#[test]
fn binary_garbage_does_not_hurt_the_server() {
    let server = ServerProcess::ours().start();
    let mut seed: u64 = 0x9e37_79b9_7f4a_7c15;
    for _round in 0..20 {
        let mut garbage = Vec::with_capacity(4096);
        for _ in 0..4096 {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            garbage.push((seed & 0xff) as u8);
        }
        let mut stream = TcpStream::connect(server.addr()).expect("connect");
        let _ = stream.write_all(&garbage);
        let _ = stream.write_all(b"\r\nversion\r\n");
        drop(stream);
    }
    // Mixed: garbage lines with newlines still get answers and the connection recovers.
    let mut c = server.connect();
    c.send(b"\x00\x01\x02\xff\r\n\x80\x01\x00\x05\r\nversion\r\n");
    let reply = c.read_until(b"VERSION 1.6.18\r\n");
    assert!(reply.starts_with(b"ERROR\r\n"), "{:?}", String::from_utf8_lossy(&reply));
    assert_serving(&server);
}

#[test]
fn max_connections_rejects_with_memcached_error() {
    let server = ServerProcess::ours().args(["-c", "4"]).start();
    // The start-up probe connection may still be closing: wait until none is counted.
    let mut admin = server.connect();
    admin.wait_for_stat("", "curr_connections", "1");
    let mut held: Vec<Client> = (0..3).map(|_| server.connect()).collect();
    for c in &mut held {
        c.roundtrip("version\r\n", "VERSION 1.6.18\r\n");
    }
    let mut rejected = server.connect();
    rejected.expect("ERROR Too many open connections\r\n");
    assert!(rejected.closed_within(Duration::from_secs(5)));
    assert_eq!(admin.stat("", "rejected_connections").as_deref(), Some("1"));
    drop(held.pop());
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let mut c = server.connect();
        c.send("version\r\n");
        let line = c.read_line();
        if line == b"VERSION 1.6.18\r\n" {
            break;
        }
        assert!(Instant::now() < deadline, "a freed slot must be reusable");
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn client_that_never_reads_cannot_grow_server_memory() {
    let server = ServerProcess::ours().args(["-m", "64"]).start();
    let mut c = server.connect();
    let value = vec![b'v'; 500_000];
    c.roundtrip(set_request("big", 0, &value), "STORED\r\n");
    let baseline = server.rss_kib().expect("rss");

    // 4000 x 500 KB = 2 GB of replies requested, never read.
    let greedy = TcpStream::connect(server.addr()).expect("connect");
    greedy.set_write_timeout(Some(Duration::from_millis(200))).expect("timeout");
    let writer = std::thread::spawn(move || {
        let mut greedy = greedy;
        let request = b"get big\r\n".repeat(4000);
        let mut sent = 0;
        let deadline = Instant::now() + Duration::from_secs(5);
        while sent < request.len() && Instant::now() < deadline {
            match greedy.write(&request[sent..]) {
                Ok(n) => sent += n,
                Err(_) => std::thread::sleep(Duration::from_millis(50)),
            }
        }
        greedy
    });
    let greedy = writer.join().expect("writer");
    std::thread::sleep(Duration::from_millis(300));

    // Others are still served promptly, and memory did not follow the 2 GB backlog.
    assert_serving(&server);
    let mut other = server.connect();
    other.roundtrip("get big\r\n", get_reply("big", 0, &value));
    let grown = server.rss_kib().expect("rss").saturating_sub(baseline);
    assert!(grown < 64 * 1024, "server grew by {grown} KiB for a client that never reads");
    drop(greedy);
    assert_serving(&server);
}

#[test]
fn idle_connections_are_closed_after_idle_timeout() {
    let server = ServerProcess::ours().args(["-o", "idle_timeout=1"]).start();
    let mut c = server.connect();
    c.roundtrip("version\r\n", "VERSION 1.6.18\r\n");
    assert!(c.closed_within(Duration::from_secs(10)), "idle connection must be closed");
    let mut admin = server.connect();
    assert_eq!(admin.stat("", "idle_kicks").as_deref(), Some("1"));
}

#[test]
fn one_enormous_multiget_is_refused_not_buffered() {
    let server = ServerProcess::ours().start();
    let mut c = server.connect();
    let value = vec![b'v'; 1_000_000];
    c.roundtrip(set_request("big", 0, &value), "STORED\r\n");
    // 200 x 1 MB in one request.
    let request = format!("get{}\r\n", " big".repeat(200));
    c.roundtrip(request, "SERVER_ERROR out of memory writing get response\r\n");
    assert_serving(&server);
}

#[test]
fn replies_are_flushed_before_closing_on_client_eof() {
    let server = ServerProcess::ours().start();
    let mut c = server.connect();
    let value = vec![b'w'; 400_000];
    c.roundtrip(set_request("v", 0, &value), "STORED\r\n");
    c.send("get v\r\n".repeat(100));
    c.shutdown_write();
    for _ in 0..100 {
        c.expect("VALUE v 0 400000\r\n");
        assert_eq!(c.read_exact_bytes(400_002).len(), 400_002);
        c.expect("END\r\n");
    }
    assert!(c.closed_within(Duration::from_secs(5)));
}

#[test]
fn half_closed_clients_are_answered_and_closed() {
    let server = ServerProcess::ours().start();
    for pause in [None, Some(Duration::from_millis(50))] {
        for _ in 0..20 {
            let mut c = server.connect();
            c.send("version\r\n");
            if let Some(pause) = pause {
                std::thread::sleep(pause);
            }
            c.shutdown_write();
            c.expect("VERSION 1.6.18\r\n");
            assert!(c.closed_within(Duration::from_secs(5)), "half-closed client left open");
        }
    }
    // No connection is left behind in CLOSE_WAIT.
    let mut admin = server.connect();
    admin.wait_for_stat("", "curr_connections", "1");
}

#[test]
fn without_maxconns_fast_extra_connections_wait_in_the_backlog() {
    let server = ServerProcess::ours().args(["-c", "3", "-o", "no_maxconns_fast"]).start();
    let mut admin = server.connect();
    admin.wait_for_stat("", "curr_connections", "1");
    let mut second = server.connect();
    second.roundtrip("version\r\n", "VERSION 1.6.18\r\n");
    let mut third = server.connect();
    third.roundtrip("version\r\n", "VERSION 1.6.18\r\n");
    // The fourth is not rejected: it waits, unanswered, until a slot frees.
    let mut waiting = server.connect();
    waiting.send("version\r\n");
    assert!(!waiting.closed_within(Duration::from_millis(500)), "must wait, not be closed");
    assert!(waiting.take_buffered().is_empty(), "no reply while over the limit");
    assert_eq!(admin.stat("", "accepting_conns").as_deref(), Some("0"));
    drop(third);
    waiting.expect("VERSION 1.6.18\r\n");
    assert_eq!(admin.stat("", "rejected_connections").as_deref(), Some("0"));
}

#[test]
fn binary_protocol_clients_are_closed_at_once() {
    let server = ServerProcess::ours().start();
    let mut c = server.connect();
    // A binary-protocol GET for key "k": 24-byte header + key.
    let mut request = vec![0x80, 0x00, 0x00, 0x01, 0, 0, 0, 0, 0, 0, 0, 1];
    request.extend_from_slice(&[0; 12]);
    request.push(b'k');
    c.send(&request);
    assert!(c.closed_within(Duration::from_secs(2)), "binary request must close the connection");
    assert_serving(&server);
}
