//! Every command family against the real binary over TCP: storage, retrieval, arithmetic,
//! delete/touch, meta, stats, admin; noreply, pipelining and values split across reads.

mod common;

use std::time::Duration;

use common::{set_request, Client, ServerProcess};

fn server() -> (ServerProcess, Client) {
    let server = ServerProcess::ours().start();
    let client = server.connect();
    (server, client)
}

#[test]
fn storage_commands() {
    let (_server, mut c) = server();
    c.roundtrip("set k 5 0 3\r\nabc\r\n", "STORED\r\n");
    c.roundtrip("add k 0 0 1\r\nx\r\n", "NOT_STORED\r\n");
    c.roundtrip("add k2 0 0 1\r\nx\r\n", "STORED\r\n");
    c.roundtrip("replace k 7 0 3\r\nxyz\r\n", "STORED\r\n");
    c.roundtrip("replace missing 0 0 1\r\nx\r\n", "NOT_STORED\r\n");
    c.roundtrip("append k 0 0 2\r\n12\r\n", "STORED\r\n");
    c.roundtrip("prepend k 0 0 2\r\n<<\r\n", "STORED\r\n");
    c.roundtrip("append missing 0 0 2\r\n12\r\n", "NOT_STORED\r\n");
    c.roundtrip("get k\r\n", "VALUE k 7 7\r\n<<xyz12\r\nEND\r\n");
    c.send("gets k\r\n");
    let header = String::from_utf8(c.read_line()).expect("utf8");
    let cas: u64 = header.trim_end().rsplit(' ').next().expect("cas").parse().expect("number");
    c.expect("<<xyz12\r\nEND\r\n");
    c.roundtrip(format!("cas k 1 0 1 {}\r\nA\r\n", cas + 1000), "EXISTS\r\n");
    c.roundtrip(format!("cas k 1 0 1 {cas}\r\nA\r\n"), "STORED\r\n");
    c.roundtrip("cas nothere 1 0 1 1\r\nA\r\n", "NOT_FOUND\r\n");
    c.roundtrip("get k\r\n", "VALUE k 1 1\r\nA\r\nEND\r\n");
    // Zero-length values and 32-bit flags.
    c.roundtrip("set empty 4294967295 0 0\r\n\r\n", "STORED\r\n");
    c.roundtrip("get empty\r\n", "VALUE empty 4294967295 0\r\n\r\nEND\r\n");
}

#[test]
fn storage_errors_match_memcached() {
    let (_server, mut c) = server();
    // Bad data chunk: the rest is parsed as a new command.
    c.roundtrip("set k 0 0 1\r\nabc\r\n", "CLIENT_ERROR bad data chunk\r\nERROR\r\n");
    c.roundtrip("set k 0 0 -1\r\n", "CLIENT_ERROR bad command line format\r\n");
    c.roundtrip("set k 0 0\r\n", "ERROR\r\n");
    // Too large: the data block is swallowed, even when it arrives later.
    c.send("set big 0 0 2000000\r\n");
    c.expect("SERVER_ERROR object too large for cache\r\n");
    let block = vec![b'z'; 2_000_000];
    c.send(&block);
    c.send("\r\nget big\r\n");
    c.expect("END\r\n");
    c.roundtrip("version\r\n", "VERSION 1.6.18\r\n");
}

#[test]
fn retrieval_commands() {
    let (_server, mut c) = server();
    c.roundtrip("set a 1 0 1\r\n1\r\nset b 2 0 2\r\n22\r\n", "STORED\r\nSTORED\r\n");
    c.roundtrip("get a nope b\r\n", "VALUE a 1 1\r\n1\r\nVALUE b 2 2\r\n22\r\nEND\r\n");
    c.roundtrip("bget a\r\n", "VALUE a 1 1\r\n1\r\nEND\r\n");
    c.roundtrip("get nope\r\n", "END\r\n");
    c.roundtrip("get\r\n", "ERROR\r\n");
    c.roundtrip("gat 100 a\r\n", "VALUE a 1 1\r\n1\r\nEND\r\n");
    c.send("gats 100 b\r\n");
    let line = String::from_utf8(c.read_line()).expect("utf8");
    assert!(line.starts_with("VALUE b 2 2 "), "{line}");
    c.expect("22\r\nEND\r\n");
    // gat with a negative exptime expires the item.
    c.roundtrip("gat -1 a\r\n", "VALUE a 1 1\r\n1\r\nEND\r\n");
    c.roundtrip("get a\r\n", "END\r\n");
}

#[test]
fn arithmetic_commands() {
    let (_server, mut c) = server();
    c.roundtrip("set n 0 0 2\r\n10\r\n", "STORED\r\n");
    c.roundtrip("incr n 5\r\n", "15\r\n");
    c.roundtrip("decr n 20\r\n", "0\r\n");
    c.roundtrip("incr n 18446744073709551615\r\n", "18446744073709551615\r\n");
    c.roundtrip("incr n 2\r\n", "1\r\n");
    c.roundtrip("incr missing 1\r\n", "NOT_FOUND\r\n");
    c.roundtrip("set s 0 0 3\r\nabc\r\n", "STORED\r\n");
    c.roundtrip("incr s 1\r\n", "CLIENT_ERROR cannot increment or decrement non-numeric value\r\n");
    c.roundtrip("incr n x\r\n", "CLIENT_ERROR invalid numeric delta argument\r\n");
}

#[test]
fn delete_and_touch() {
    let (_server, mut c) = server();
    c.roundtrip("set k 0 0 1\r\nx\r\n", "STORED\r\n");
    c.roundtrip("touch k 100\r\n", "TOUCHED\r\n");
    c.roundtrip("touch nope 100\r\n", "NOT_FOUND\r\n");
    c.roundtrip(
        "delete k 10\r\n",
        "CLIENT_ERROR bad command line format.  Usage: delete <key> [noreply]\r\n",
    );
    c.roundtrip("delete k 0\r\n", "DELETED\r\n");
    c.roundtrip("delete k\r\n", "NOT_FOUND\r\n");
    c.roundtrip("set t 0 0 1\r\nx\r\n", "STORED\r\n");
    c.roundtrip("touch t -1\r\n", "TOUCHED\r\n");
    c.roundtrip("get t\r\n", "END\r\n");
}

#[test]
fn meta_commands() {
    let (_server, mut c) = server();
    c.roundtrip("ms mk 3 F9 T0\r\nabc\r\n", "HD\r\n");
    c.roundtrip("mg mk v f s k O123\r\n", "VA 3 f9 s3 kmk O123\r\nabc\r\n");
    c.roundtrip("mg mk\r\n", "HD\r\n");
    c.roundtrip("mg missing v\r\n", "EN\r\n");
    c.roundtrip("mg missing v q\r\nmn\r\n", "MN\r\n");
    c.roundtrip("mg mk t v\r\n", "VA 3 t-1\r\nabc\r\n");
    c.roundtrip("ms mk 2 MA\r\nde\r\n", "HD\r\n");
    c.roundtrip("mg mk v\r\n", "VA 5\r\nabcde\r\n");
    c.roundtrip("ms mk 2 ME\r\nzz\r\n", "NS\r\n");
    c.roundtrip("ms mk 2 MX\r\nzz\r\n", "CLIENT_ERROR invalid mode for ms M token\r\n");
    c.roundtrip("ms mk 1 q\r\nz\r\nmn\r\n", "MN\r\n");
    c.roundtrip("md mk q\r\nmn\r\n", "MN\r\n");
    c.roundtrip("md mk\r\n", "NF\r\n");
    c.roundtrip("ma cnt\r\n", "NF\r\n");
    c.roundtrip("ma cnt N0 J10 v\r\n", "VA 2\r\n10\r\n");
    c.roundtrip("ma cnt v D5\r\n", "VA 2\r\n15\r\n");
    c.roundtrip("ma cnt MD D20 v\r\n", "VA 1\r\n0\r\n");
    c.roundtrip("mn\r\n", "MN\r\n");
    c.roundtrip("mg k zz\r\n", "CLIENT_ERROR invalid flag\r\n");
    c.send("me cnt\r\n");
    let line = String::from_utf8(c.read_line()).expect("utf8");
    assert!(line.starts_with("ME cnt exp=-1 la="), "{line}");
    assert!(line.contains(" fetch="), "{line}");
    c.roundtrip("me nothing\r\n", "EN\r\n");
    // Base64 keys.
    c.roundtrip("ms Zm9v 2 b\r\nhi\r\n", "HD\r\n");
    c.roundtrip("mg foo v\r\n", "VA 2\r\nhi\r\n");
    c.roundtrip("mg Zm9v b k v\r\n", "VA 2 kZm9v b\r\nhi\r\n");
}

#[test]
fn noreply_is_silent() {
    let (_server, mut c) = server();
    c.send(
        "set a 0 0 1 noreply\r\nx\r\nadd a 0 0 1 noreply\r\ny\r\nappend a 0 0 1 noreply\r\nz\r\n\
         set n 0 0 1 noreply\r\n1\r\nincr n 5 noreply\r\ndecr n 1 noreply\r\n\
         touch a 100 noreply\r\ndelete missing noreply\r\nflush_all 100 noreply\r\n\
         verbosity 0 noreply\r\nget a n\r\n",
    );
    c.expect("VALUE a 0 2\r\nxz\r\nVALUE n 0 1\r\n5\r\nEND\r\n");
}

#[test]
fn pipelined_requests_come_back_in_order() {
    let (_server, mut c) = server();
    let mut batch = String::new();
    let mut expected = String::new();
    for i in 0..500 {
        batch.push_str(&format!("set key{i} 0 0 {}\r\n{i}\r\nget key{i}\r\n", i.to_string().len()));
        expected.push_str(&format!(
            "STORED\r\nVALUE key{i} 0 {}\r\n{i}\r\nEND\r\n",
            i.to_string().len()
        ));
    }
    c.roundtrip(&batch, &expected);
}

#[test]
fn values_split_across_reads() {
    let (_server, mut c) = server();
    let value = vec![b'v'; 300_000];
    let request = set_request("big", 3, &value);
    // Byte-by-byte for the command line, then in uneven chunks.
    for (i, chunk) in request.chunks(7).enumerate() {
        c.send(chunk);
        if i < 5 {
            std::thread::sleep(Duration::from_millis(5));
        }
    }
    c.expect("STORED\r\n");
    c.send("get big\r\n");
    c.expect("VALUE big 3 300000\r\n");
    assert_eq!(c.read_exact_bytes(300_000), value);
    c.expect("\r\nEND\r\n");
    // A command split in the middle of its line.
    c.send("ge");
    std::thread::sleep(Duration::from_millis(20));
    c.send("t bi");
    std::thread::sleep(Duration::from_millis(20));
    c.send("g\r");
    std::thread::sleep(Duration::from_millis(20));
    c.send("\n");
    c.expect("VALUE big 3 300000\r\n");
    c.read_exact_bytes(300_002);
    c.expect("END\r\n");
}

#[test]
fn admin_commands() {
    let (_server, mut c) = server();
    c.roundtrip("version\r\n", "VERSION 1.6.18\r\n");
    c.roundtrip("verbosity 1\r\n", "OK\r\n");
    c.roundtrip("verbosity\r\n", "ERROR\r\n");
    c.roundtrip("set k 0 0 1\r\nx\r\n", "STORED\r\n");
    c.roundtrip("flush_all\r\n", "OK\r\n");
    c.roundtrip("get k\r\n", "END\r\n");
    c.roundtrip("flush_all x\r\n", "CLIENT_ERROR invalid exptime argument\r\n");
    c.roundtrip("shutdown\r\n", "ERROR: shutdown not enabled\r\n");
    c.roundtrip("cache_memlimit 100\r\n", "OK\r\n");
    assert_eq!(c.stat("settings", "maxbytes").as_deref(), Some("104857600"));
    assert_eq!(c.stat("", "limit_maxbytes").as_deref(), Some("104857600"));
    c.roundtrip(
        "cache_memlimit 2000000000\r\n",
        "MEMLIMIT_ADJUST_FAILED input value is megabytes not bytes\r\n",
    );
    c.roundtrip("slabs automove 0\r\n", "OK\r\n");
    c.roundtrip("lru_crawler crawl all\r\n", "OK\r\n");
    c.roundtrip("lru_crawler disable\r\n", "OK\r\n");
    c.roundtrip("lru_crawler crawl all\r\n", "ERROR an unknown error happened\r\n");
    c.roundtrip("lru_crawler enable\r\n", "OK\r\n");
    c.roundtrip("lru_crawler enable\r\n", "ERROR failed to start lru crawler thread\r\n");
    c.roundtrip("GET k\r\n", "ERROR\r\n");
    c.send("quit\r\n");
    assert!(c.closed_within(Duration::from_secs(5)), "quit must close the connection");
}

#[test]
fn flush_all_can_be_disabled() {
    let server = ServerProcess::ours().args(["-F"]).start();
    let mut c = server.connect();
    c.roundtrip("flush_all\r\n", "CLIENT_ERROR flush_all not allowed\r\n");
}

#[test]
fn stats_subcommands() {
    let (_server, mut c) = server();
    c.roundtrip(
        "set user:1 0 0 1\r\nx\r\nget user:1 nope\r\n",
        "STORED\r\nVALUE user:1 0 1\r\nx\r\nEND\r\n",
    );
    c.wait_for_stat("", "curr_connections", "1");
    let general = c.stats("");
    let get = |name: &str| general.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone());
    assert_eq!(get("version").as_deref(), Some("1.6.18"));
    assert_eq!(get("cmd_get").as_deref(), Some("2"));
    assert_eq!(get("get_hits").as_deref(), Some("1"));
    assert_eq!(get("get_misses").as_deref(), Some("1"));
    assert_eq!(get("curr_items").as_deref(), Some("1"));
    assert_eq!(get("threads").as_deref(), Some("4"));
    assert_eq!(get("curr_connections").as_deref(), Some("1"));
    assert!(get("bytes_read").expect("bytes_read").parse::<u64>().expect("n") > 0);
    assert_eq!(c.stat("settings", "maxconns").as_deref(), Some("1024"));
    assert_eq!(c.stat("settings", "item_size_max").as_deref(), Some("1048576"));
    assert_eq!(c.stat("items", "items:1:number").as_deref(), Some("1"));
    assert!(c.stat("slabs", "active_slabs").is_some());
    assert_eq!(c.stat("sizes", "sizes_status").as_deref(), Some("disabled"));
    let conns = c.stats("conns");
    assert!(conns.iter().any(|(k, v)| k.ends_with(":state") && v == "conn_listening"));
    assert!(conns.iter().any(|(k, v)| k.ends_with(":state") && v == "conn_parse_cmd"));
    c.roundtrip("stats detail on\r\n", "OK\r\n");
    c.roundtrip("get user:1\r\n", "VALUE user:1 0 1\r\nx\r\nEND\r\n");
    c.roundtrip("stats detail dump\r\n", "PREFIX user get 1 hit 1 set 0 del 0\r\nEND\r\n");
    c.roundtrip("stats detail off\r\n", "OK\r\n");
    c.roundtrip("stats detail\r\n", "CLIENT_ERROR usage: stats detail on|off|dump\r\n");
    c.send("stats cachedump 1 10\r\n");
    let dump = c.read_until(b"END\r\n");
    assert_eq!(dump, b"ITEM user:1 [1 b; 0 s]\r\nEND\r\n");
    c.roundtrip("stats cachedump 99 1\r\n", "CLIENT_ERROR Illegal slab id\r\n");
    c.roundtrip("stats foo\r\n", "ERROR\r\n");
    c.roundtrip("stats noreply\r\n", "ERROR\r\n");
    c.roundtrip("stats reset\r\n", "RESET\r\n");
    assert_eq!(c.stat("", "cmd_get").as_deref(), Some("0"));
    assert_eq!(c.stat("", "curr_items").as_deref(), Some("1"));
}

#[test]
fn lru_crawler_metadump_lists_items() {
    let (_server, mut c) = server();
    c.roundtrip(
        "set a/b:c 0 100 3\r\nabc\r\nset zz 0 0 1\r\n1\r\nget zz\r\n",
        "STORED\r\nSTORED\r\nVALUE zz 0 1\r\n1\r\nEND\r\n",
    );
    c.send("lru_crawler metadump all\r\n");
    let mut lines = Vec::new();
    loop {
        let mut line = Vec::new();
        while !line.ends_with(b"\n") {
            line.extend(c.read_exact_bytes(1));
        }
        let text = String::from_utf8(line).expect("utf8");
        if text == "END\r\n" {
            break;
        }
        lines.push(text);
    }
    lines.sort();
    assert_eq!(lines.len(), 2, "{lines:?}");
    assert!(lines[0].starts_with("key=a%2Fb%3Ac exp=17"), "{lines:?}");
    assert!(lines[0].contains(" fetch=no cls=1 size="), "{lines:?}");
    assert!(lines[1].starts_with("key=zz exp=-1 la="), "{lines:?}");
    assert!(lines[1].contains(" fetch=yes cls=1 size="), "{lines:?}");
    assert!(lines.iter().all(|l| l.ends_with("\n") && !l.ends_with("\r\n")));
    c.roundtrip("lru_crawler metadump 5\r\n", "END\r\n");
}

/// `me` prints the key the way the item was stored (base64 for an item stored with `ms ... b`,
/// plain otherwise), whatever form the request used, as memcached 1.6.18 does.
#[test]
fn meta_debug_prints_the_stored_key_form() {
    let (_server, mut c) = server();
    c.roundtrip("ms azQ= 1 b\r\nv\r\n", "HD\r\n");
    for request in ["me k4\r\n", "me azQ= b\r\n"] {
        c.send(request);
        let line = String::from_utf8(c.read_line()).expect("utf8");
        assert!(line.starts_with("ME azQ= exp=-1 "), "{request:?} -> {line:?}");
    }
    c.roundtrip("set k2 0 0 1\r\nx\r\n", "STORED\r\n");
    for request in ["me k2\r\n", "me azI= b\r\n"] {
        c.send(request);
        let line = String::from_utf8(c.read_line()).expect("utf8");
        assert!(line.starts_with("ME k2 exp=-1 "), "{request:?} -> {line:?}");
    }
}
