//! Two of our servers replicating to each other (`-x`/`-X`, repcached's model): every change on
//! either node reaches the other, a node that (re)starts receives a full copy, concurrent writes
//! converge, and the orderings repcached 2.2 got wrong (delete then set, flush then set) hold.

mod common;

use std::sync::atomic::{AtomicU16, Ordering};
use std::time::{Duration, Instant};

use common::{Client, ServerProcess};

/// A replication port below the kernel's ephemeral range, so the client ports the harness
/// picks (ephemeral) can never take it between picking and binding.
fn repl_port() -> u16 {
    static NEXT: AtomicU16 = AtomicU16::new(0);
    let base = 20_000 + (std::process::id() % 1_000) as u16 * 10;
    loop {
        let port = base + NEXT.fetch_add(1, Ordering::Relaxed) % 2_000;
        if std::net::TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
}

/// A node of a pair: its server and the replication ports involved.
struct Node {
    server: ServerProcess,
    repl_port: u16,
}

fn start_node(repl_port: u16, peer_port: u16, extra: &[&str]) -> Node {
    let peer = format!("127.0.0.1:{peer_port}");
    let repl = repl_port.to_string();
    let mut args = vec!["-X", repl.as_str(), "-x", peer.as_str(), "-v"];
    args.extend_from_slice(extra);
    Node { server: ServerProcess::ours().args(args).start(), repl_port }
}

fn pair() -> (Node, Node) {
    pair_with(&[])
}

/// A linked pair, both started with `extra` flags.
fn pair_with(extra: &[&str]) -> (Node, Node) {
    let (pa, pb) = (repl_port(), repl_port());
    let a = start_node(pa, pb, extra);
    let b = start_node(pb, pa, extra);
    wait_linked(&a);
    wait_linked(&b);
    (a, b)
}

fn stat(client: &mut Client, name: &str) -> String {
    client.stats("").into_iter().find(|(k, _)| k == name).map(|(_, v)| v).unwrap_or_default()
}

/// Polls `check` until it holds (or fails after 10 s with `what`).
fn eventually(what: &str, mut check: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !check() {
        assert!(Instant::now() < deadline, "timed out waiting for: {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn wait_linked(node: &Node) {
    let mut c = node.server.connect();
    eventually("link up", || stat(&mut c, "repl_link") == "up");
}

fn get(client: &mut Client, key: &str) -> Option<String> {
    let reply = client.script(format!("get {key}\r\n"));
    let text = String::from_utf8(reply).unwrap();
    let mut lines = text.split("\r\n");
    let header = lines.next()?;
    header.starts_with("VALUE").then(|| lines.next().unwrap_or("").to_owned())
}

fn gets_cas(client: &mut Client, key: &str) -> Option<String> {
    let reply = String::from_utf8(client.script(format!("gets {key}\r\n"))).unwrap();
    reply.split("\r\n").next()?.split(' ').nth(4).map(str::to_owned)
}

fn wait_value(client: &mut Client, key: &str, expected: Option<&str>) {
    eventually(&format!("{key} = {expected:?}"), || get(client, key).as_deref() == expected);
}

#[test]
fn every_kind_of_change_reaches_the_other_node_both_ways() {
    let (a, b) = pair();
    let (mut ca, mut cb) = (a.server.connect(), b.server.connect());

    ca.roundtrip("set k1 5 0 3\r\none\r\n", "STORED\r\n");
    wait_value(&mut cb, "k1", Some("one"));
    let flags = String::from_utf8(cb.script("get k1\r\n")).unwrap();
    assert!(flags.starts_with("VALUE k1 5 3\r\n"), "flags travel: {flags}");
    assert_eq!(gets_cas(&mut ca, "k1"), gets_cas(&mut cb, "k1"), "both nodes show one CAS");

    cb.roundtrip("append k1 0 0 4\r\n+two\r\n", "STORED\r\n");
    wait_value(&mut ca, "k1", Some("one+two"));
    ca.roundtrip("set n 0 0 2\r\n10\r\n", "STORED\r\n");
    wait_value(&mut cb, "n", Some("10"));
    cb.roundtrip("incr n 5\r\n", "15\r\n");
    wait_value(&mut ca, "n", Some("15"));
    ca.roundtrip("ms m 2 T0\r\nmv\r\n", "HD\r\n");
    wait_value(&mut cb, "m", Some("mv"));
    ca.roundtrip("touch m 1000\r\n", "TOUCHED\r\n");
    eventually("ttl replicated", || {
        let reply = String::from_utf8(cb.script("mg m t\r\n")).unwrap();
        reply.starts_with("HD t") && !reply.starts_with("HD t-1")
    });
    cb.roundtrip("delete k1\r\n", "DELETED\r\n");
    wait_value(&mut ca, "k1", None);

    // A failed write replicates nothing.
    ca.roundtrip("add n 0 0 1\r\nx\r\n", "NOT_STORED\r\n");
    ca.roundtrip("flush_all\r\n", "OK\r\n");
    wait_value(&mut cb, "n", None);
    wait_value(&mut cb, "m", None);
    assert_eq!(stat(&mut ca, "repl_link"), "up");
    assert_eq!(stat(&mut ca, "repl_apply_errors"), "0");
}

#[test]
fn orders_that_repcached_reversed_are_kept() {
    let (a, b) = pair();
    let (mut ca, mut cb) = (a.server.connect(), b.server.connect());
    ca.roundtrip("set k 0 0 3\r\nold\r\n", "STORED\r\n");
    wait_value(&mut cb, "k", Some("old"));
    // Pipelined in one packet, as in repcached's report: delete then set, flush then set.
    let replies = ca.script(
        "delete k noreply\r\nset k 0 0 3\r\nnew\r\nflush_all noreply\r\nset after 0 0 1\r\nx\r\n",
    );
    assert_eq!(replies, b"STORED\r\nSTORED\r\n");
    wait_value(&mut cb, "after", Some("x"));
    assert_eq!(get(&mut cb, "k"), None, "the flush came after the set of k");
    // Many changes of one burst arrive in order: the last value wins on the peer.
    let mut burst = String::new();
    for i in 0..2000 {
        burst.push_str(&format!("set burst 0 0 {} noreply\r\n{i}\r\n", i.to_string().len()));
    }
    ca.script(burst);
    wait_value(&mut cb, "burst", Some("1999"));
}

#[test]
fn a_node_that_starts_later_receives_a_full_copy_and_can_restart() {
    let (pa, pb) = (repl_port(), repl_port());
    let a = start_node(pa, pb, &[]);
    let mut ca = a.server.connect();
    let mut load = String::new();
    for i in 0..3000 {
        load.push_str(&format!("set pre{i} {i} 0 6 noreply\r\nv{i:05}\r\n"));
    }
    ca.script(load);
    ca.roundtrip("set bin 0 0 0\r\n\r\n", "STORED\r\n");
    ca.roundtrip("set stale 0 0 1\r\ns\r\n", "STORED\r\n");
    ca.roundtrip("md stale I\r\n", "HD\r\n");

    let b = start_node(pb, pa, &[]);
    wait_linked(&b);
    let mut cb = b.server.connect();
    eventually("full copy", || stat(&mut cb, "curr_items") == "3002");
    let reply = String::from_utf8(cb.script("get pre2999 pre0\r\n")).unwrap();
    assert_eq!(reply, "VALUE pre2999 2999 6\r\nv02999\r\nVALUE pre0 0 6\r\nv00000\r\nEND\r\n");
    assert_eq!(gets_cas(&mut ca, "pre17"), gets_cas(&mut cb, "pre17"));
    // An invalidated item arrives stale, with its CAS: the first reader on each node wins
    // the recache.
    let stale_a = String::from_utf8(ca.script("mg stale c\r\n")).unwrap();
    let stale_b = String::from_utf8(cb.script("mg stale c v\r\n")).unwrap();
    let cas_a = stale_a.split_whitespace().find(|t| t.starts_with('c')).unwrap().to_owned();
    assert_eq!(stale_a, format!("HD {cas_a} X W\r\n"));
    assert_eq!(stale_b, format!("VA 1 {cas_a} X W\r\ns\r\n"), "each node hands out its token");

    // The fresh node writes too; then it restarts empty and gets everything back.
    cb.roundtrip("set fromb 0 0 1\r\nb\r\n", "STORED\r\n");
    wait_value(&mut ca, "fromb", Some("b"));
    drop(cb);
    drop(b);
    ca.roundtrip("set while_down 0 0 1\r\nd\r\n", "STORED\r\n");
    let b = start_node(pb, pa, &[]);
    wait_linked(&b);
    let mut cb = b.server.connect();
    wait_value(&mut cb, "while_down", Some("d"));
    wait_value(&mut cb, "fromb", Some("b"));
    eventually("everything", || stat(&mut cb, "curr_items") == "3004");
}

#[test]
fn concurrent_writes_to_one_key_converge_on_both_nodes() {
    let (a, b) = pair();
    let handles: Vec<_> = [a.server.addr(), b.server.addr()]
        .into_iter()
        .enumerate()
        .map(|(n, addr)| {
            std::thread::spawn(move || {
                let mut c = Client::tcp(addr);
                for i in 0..300 {
                    let value = format!("node{n}-{i:03}");
                    c.roundtrip(
                        format!("set hot 0 0 {}\r\n{value}\r\n", value.len()),
                        "STORED\r\n",
                    );
                }
            })
        })
        .collect();
    for h in handles {
        h.join().unwrap();
    }
    let (mut ca, mut cb) = (a.server.connect(), b.server.connect());
    eventually("the pair agrees", || {
        let (va, vb) = (get(&mut ca, "hot"), get(&mut cb, "hot"));
        va.is_some() && va == vb && gets_cas(&mut ca, "hot") == gets_cas(&mut cb, "hot")
    });
}

#[test]
fn a_stalled_peer_never_blocks_clients_and_catches_up() {
    let (a, b) = pair();
    let mut ca = a.server.connect();
    b.server.signal(libc::SIGSTOP);
    // Writes on A keep being answered while B does not read (about 20 MB of changes).
    let value = "x".repeat(10_000);
    for i in 0..2000 {
        ca.roundtrip(format!("set big{i} 0 0 {}\r\n{value}\r\n", value.len()), "STORED\r\n");
    }
    ca.roundtrip("get big0\r\n", format!("VALUE big0 0 10000\r\n{value}\r\nEND\r\n"));
    b.server.signal(libc::SIGCONT);
    let mut cb = b.server.connect();
    eventually("caught up", || get(&mut cb, "big1999").is_some_and(|v| v.len() == 10_000));
}

#[test]
fn a_graceful_stop_sends_the_last_changes_first() {
    let (a, b) = pair();
    let mut ca = a.server.connect();
    let mut script = String::new();
    for i in 0..500 {
        script.push_str(&format!("set tail{i} 0 0 1 noreply\r\n{}\r\n", i % 10));
    }
    ca.script(script);
    let mut a = a;
    a.server.signal(libc::SIGTERM);
    assert_eq!(a.server.wait_exit(Duration::from_secs(10)), Some(0));
    let mut cb = b.server.connect();
    eventually("the tail arrived", || get(&mut cb, "tail499").as_deref() == Some("9"));
    eventually("link down", || stat(&mut cb, "repl_link") != "up");
}

#[test]
fn garbage_on_the_replication_port_is_refused_without_harm() {
    let (a, _b) = pair();
    let mut ca = a.server.connect();
    ca.roundtrip("set keep 0 0 1\r\nk\r\n", "STORED\r\n");
    // A second connection while the link is up is closed; so is a stranger's garbage.
    let mut stranger = Client::tcp(([127, 0, 0, 1], a.repl_port).into());
    stranger.try_send(b"get keep\r\nflush_all\r\n\x00\xff\xfe garbage\r\n");
    std::thread::sleep(Duration::from_millis(200));
    assert_eq!(get(&mut ca, "keep").as_deref(), Some("k"));
    assert_eq!(stat(&mut ca, "repl_link"), "up");
}

#[test]
fn a_shared_secret_gates_the_link() {
    let dir = std::env::temp_dir();
    let secret = |name: &str, text: &str| {
        let path = dir.join(format!("mc-repl-{}-{name}", std::process::id()));
        std::fs::write(&path, text).unwrap();
        path.display().to_string()
    };
    let (right, wrong) = (secret("right", "s3cret\n"), secret("wrong", "other"));
    let (pa, pb) = (repl_port(), repl_port());
    let a = start_node(pa, pb, &["--repl-secret-file", &right]);
    let b = start_node(pb, pa, &["--repl-secret-file", &wrong]);
    let (mut ca, mut cb) = (a.server.connect(), b.server.connect());
    ca.roundtrip("set guarded 0 0 1\r\ng\r\n", "STORED\r\n");
    std::thread::sleep(Duration::from_millis(500));
    assert_ne!(stat(&mut ca, "repl_link"), "up");
    assert_eq!(get(&mut cb, "guarded"), None, "no link without the same secret");
    drop(b);
    let b = start_node(pb, pa, &["--repl-secret-file", &right]);
    wait_linked(&b);
    let mut cb = b.server.connect();
    wait_value(&mut cb, "guarded", Some("g"));
}

#[test]
fn a_partition_heals_with_only_the_missed_changes() {
    let (a, b) = pair();
    let (mut ca, mut cb) = (a.server.connect(), b.server.connect());
    ca.roundtrip("set before 0 0 1\r\n0\r\n", "STORED\r\n");
    wait_value(&mut cb, "before", Some("0"));
    let full_before = stat(&mut ca, "repl_full_resyncs_sent");

    // B stops answering (a partition as far as A can tell): A gives up on the link after the
    // heartbeat timeout and keeps serving, keeping its changes for B.
    b.server.signal(libc::SIGSTOP);
    ca.roundtrip("set during 0 0 1\r\na\r\n", "STORED\r\n");
    eventually("A sees the link down", || stat(&mut ca, "repl_link") != "up");
    ca.roundtrip("set later 0 0 1\r\nb\r\n", "STORED\r\n");
    ca.roundtrip("delete before\r\n", "DELETED\r\n");
    b.server.signal(libc::SIGCONT);
    cb.roundtrip("set fromb 0 0 1\r\nc\r\n", "STORED\r\n");

    wait_linked(&a);
    wait_linked(&b);
    wait_value(&mut cb, "during", Some("a"));
    wait_value(&mut cb, "later", Some("b"));
    wait_value(&mut cb, "before", None);
    wait_value(&mut ca, "fromb", Some("c"));
    assert_eq!(stat(&mut ca, "repl_full_resyncs_sent"), full_before, "no full copy needed");
    let partial: u64 = stat(&mut ca, "repl_partial_resyncs_sent").parse().unwrap();
    assert!(partial >= 1, "A resent only what B missed");
}

#[test]
fn php_memcached_writes_on_one_node_and_reads_the_same_values_on_the_other() {
    const PHP: &str = "/usr/bin/php";
    assert!(std::path::Path::new(PHP).exists(), "{PHP} missing: install php-cli php-memcached");
    let (a, b) = pair();
    // Strings, integers, floats, booleans and arrays (php-memcached serialises them and marks
    // the type in the flags), a TTL, a CAS round trip and an increment, through node A; then
    // every value read back through node B must be identical, CAS included.
    let script = r#"
        $a = new Memcached(); $a->addServer('127.0.0.1', (int)getenv('PORT_A'));
        $b = new Memcached(); $b->addServer('127.0.0.1', (int)getenv('PORT_B'));
        $a->setOption(Memcached::OPT_COMPRESSION, false);
        $values = ['s' => 'text', 'i' => 42, 'f' => 1.5, 't' => true,
                   'arr' => ['x' => [1, 2, 3], 'y' => 'z'], 'big' => str_repeat('v', 100000)];
        foreach ($values as $k => $v) { if (!$a->set($k, $v, 3600)) { exit("set $k failed\n"); } }
        $a->set('counter', 10); $a->increment('counter', 5);
        $r = $a->get('s', null, Memcached::GET_EXTENDED);
        if (!$a->cas($r['cas'], 's', 'text2')) { exit("cas failed\n"); }
        $values['s'] = 'text2'; $values['counter'] = 15;
        $deadline = microtime(true) + 10;
        do {
            $ok = true;
            foreach ($values as $k => $v) { if ($b->get($k) !== $v) { $ok = false; } }
            if (!$ok) { usleep(20000); }
        } while (!$ok && microtime(true) < $deadline);
        if (!$ok) { exit("values differ on node B\n"); }
        $ca = $a->get('s', null, Memcached::GET_EXTENDED)['cas'];
        $cb = $b->get('s', null, Memcached::GET_EXTENDED)['cas'];
        if ($ca !== $cb) { exit("cas differs: $ca vs $cb\n"); }
        echo "all ok\n";
    "#;
    let mut command = std::process::Command::new(PHP);
    command
        .args(["-r", script])
        .env("PORT_A", a.server.port.to_string())
        .env("PORT_B", b.server.port.to_string());
    let output = common::run_with_timeout("php", command, Duration::from_secs(60));
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        stdout.lines().any(|l| l == "all ok"),
        "php: {stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
}

/// Four pipelining writers, two on each node, each sending 100 batches of 50 commands that
/// `command(writer, round, i)` makes.
fn storm(a: &Node, b: &Node, command: fn(usize, usize, usize) -> String) {
    let writers: Vec<_> = [a.server.addr(), a.server.addr(), b.server.addr(), b.server.addr()]
        .into_iter()
        .enumerate()
        .map(|(w, addr)| {
            std::thread::spawn(move || {
                let mut c = Client::tcp(addr);
                for round in 0..100 {
                    let batch: String = (0..50).map(|i| command(w, round, i)).collect();
                    c.script(batch);
                }
            })
        })
        .collect();
    for w in writers {
        w.join().unwrap();
    }
}

/// A storm's write to one of 16 hot keys: mostly sets, some appends and deletes.
fn hot_write(w: usize, round: usize, i: usize) -> String {
    let key = (round * 7 + i * 3 + w) % 16;
    let value = format!("w{w}r{round}i{i}");
    match i % 10 {
        9 => format!("delete hot{key} noreply\r\n"),
        8 => format!("append hot{key} 0 0 1 noreply\r\n+\r\n"),
        _ => format!("set hot{key} {w} 0 {} noreply\r\n{value}\r\n", value.len()),
    }
}

/// Waits until both nodes have nothing unacked and `read` gives the same reply on both;
/// otherwise fails with both replies and the replication stats.
fn assert_converged(a: &Node, b: &Node, read: &str) {
    let (mut ca, mut cb) = (a.server.connect(), b.server.connect());
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let quiet = stat(&mut ca, "repl_unacked_changes") == "0"
            && stat(&mut cb, "repl_unacked_changes") == "0";
        let da = String::from_utf8(ca.script(read)).unwrap();
        let db = String::from_utf8(cb.script(read)).unwrap();
        if quiet && da == db {
            return;
        }
        if Instant::now() > deadline {
            let repl_stats = |c: &mut Client| {
                let all = c.stats("");
                all.into_iter().filter(|(k, _)| k.starts_with("repl_")).collect::<Vec<_>>()
            };
            panic!(
                "the nodes differ (quiet: {quiet})\na: {da}\nb: {db}\na: {:?}\nb: {:?}",
                repl_stats(&mut ca),
                repl_stats(&mut cb)
            );
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn hot_keys() -> String {
    (0..16).map(|k| format!(" hot{k}")).collect()
}

#[test]
fn a_storm_of_concurrent_writes_to_few_keys_leaves_both_nodes_equal() {
    let (a, b) = pair();
    storm(&a, &b, hot_write);
    // Values, flags and CAS: an item keeps its origin's CAS on both nodes.
    assert_converged(&a, &b, &format!("gets{}\r\n", hot_keys()));
}

#[test]
fn a_storm_with_flushes_on_both_nodes_leaves_both_nodes_equal() {
    // With CAS (flush by CAS horizon) and without (-C: flush by time).
    for extra in [&[][..], &["-C"][..]] {
        println!("both nodes started with {extra:?}");
        let (a, b) = pair_with(extra);
        storm(&a, &b, |w, round, i| {
            if i == 25 && round % 10 == w {
                "flush_all noreply\r\n".to_owned()
            } else {
                hot_write(w, round, i)
            }
        });
        // Values and flags (after a peer's flush an item can carry a fresh local CAS).
        assert_converged(&a, &b, &format!("get{}\r\n", hot_keys()));
    }
}
