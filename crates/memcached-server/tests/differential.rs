//! The same command scripts sent to our server and to the reference memcached 1.6.18
//! (`/usr/bin/memcached -u nobody`); replies must match byte for byte once CAS values are
//! normalised. Each script ends with `mn` so its end is known even after noreply commands.

mod common;

use std::time::Duration;

use common::{Differential, ServerProcess};

const SCRIPTS: &[&str] = &[
    // storage
    "set a 1 0 3\r\nabc\r\nget a\r\nadd a 0 0 1\r\nx\r\nadd b 2 0 1\r\ny\r\nget a b\r\n",
    "replace a 3 0 2\r\nzz\r\nreplace nope 0 0 1\r\nx\r\nappend a 0 0 2\r\n12\r\nprepend a 0 0 2\r\n00\r\nget a\r\n",
    "append nope 0 0 1\r\nx\r\nprepend nope 0 0 1\r\nx\r\ncas nope 0 0 1 5\r\nx\r\n",
    "gets a\r\ncas a 0 0 1 1\r\nq\r\n",
    "set e 0 0 0\r\n\r\nget e\r\nset f 4294967295 0 1\r\n1\r\nget f\r\n",
    // storage errors
    "set k 0 0 1\r\nabc\r\nset k 0 0 -1\r\nset k 0 0\r\nset k abc 0 1\r\nx\r\n",
    // retrieval
    "get nope\r\nget\r\nbget a\r\nget a a a\r\ngat 100 a nope\r\ngats\r\n",
    "gat -1 b\r\nget b\r\n",
    // arithmetic
    "set n 0 0 2\r\n10\r\nincr n 5\r\ndecr n 100\r\nincr n 18446744073709551615\r\nincr n 2\r\n",
    "set n2 0 0 3\r\n100\r\ndecr n2 1\r\nget n2\r\nincr nope 1\r\ndecr nope 1\r\nincr a 1\r\nincr n x\r\nincr n -1\r\n",
    // delete / touch
    "set d 0 0 1\r\nx\r\ndelete d 10\r\ndelete d 0\r\ndelete d\r\ntouch d 10\r\nset t 0 0 1\r\nx\r\ntouch t 100\r\n",
    // noreply
    "set q 0 0 1 noreply\r\nx\r\nadd q 0 0 1 noreply\r\ny\r\nincr q 1 noreply\r\ndelete q noreply\r\nget q\r\n",
    // meta
    "ms m 3 F5 T0\r\nabc\r\nmg m v f s k O99\r\nmg m\r\nmg nope v\r\nmg nope v q\r\nmg m t v\r\n",
    "ms m 2 MA\r\nde\r\nmg m v\r\nms m 1 ME\r\nz\r\nms m 1 MX\r\nz\r\nms nope 1 MR\r\nz\r\n",
    "md nope\r\nmd m q\r\nmd m\r\nma nope\r\nma cnt N0 J7 v\r\nma cnt v D3\r\nma cnt MD D100 v\r\nma cnt MI v q\r\n",
    "mg k zz\r\nmg k v v\r\nms k 2 MXX\r\nzz\r\nma k Mz\r\nmn\r\n",
    "ms Zm9v 2 b\r\nhi\r\nmg foo v\r\nmg Zm9v b k v\r\nmg !!!! b v\r\n",
    // admin
    "version\r\nverbosity\r\nverbosity 1\r\nverbosity 0 noreply\r\nflush_all x\r\nshutdown\r\nGET a\r\n",
    "stats foo\r\nstats noreply\r\nstats detail\r\nstats detail on\r\nstats detail off\r\nstats cachedump 99 1\r\nstats cachedump\r\n",
    "cache_memlimit 4\r\ncache_memlimit 100\r\nslabs automove 1\r\nstats sizes\r\n",
    "cache_memlimit 2000000000\r\ncache_memlimit 128 noreply\r\ncache_memlimit 64\r\n",
    "flush_all\r\nget a b m\r\nflush_all 0 noreply\r\n",
];

#[test]
fn scripts_match_memcached() {
    let mut diff = Differential::start(&[]);
    for script in SCRIPTS {
        diff.check(script);
    }
}

/// Meta flags beyond the basics: vivify, recache, invalidation, opaque/key echo, quiet mode.
const META_SCRIPTS: &[&str] = &[
    "mg viv N30 v c\r\nmg viv N30 v\r\nms viv 3 T60\r\nnew\r\nmg viv v\r\n",
    "ms inv 2 T100\r\nhi\r\nmd inv I T30\r\nmg inv v c\r\nmg inv v\r\n",
    "ms r 1 T100\r\nx\r\nmg r R30 v\r\nmg r R200 v\r\nmg r R200 v\r\n",
    "ms o 1\r\nx\r\nmg o O123 k v\r\nmd o O9 k q\r\nmd o O9 k\r\nmg o O1 k q\r\nmg o O1 k\r\n",
    "ma m1 N0 J5 q\r\nma m1 q v\r\nmg m1 v\r\nma m1 MD D99\r\nmg m1 v\r\nma m1 J abc N0\r\n",
    "ms big 5 S3\r\nabcde\r\nms k 3 I\r\nabc\r\nmg k s v f\r\nms k 2 F70000 T-1\r\nab\r\nmg k v\r\n",
    "mg\r\nms\r\nms k\r\nms k abc\r\nmd\r\nma\r\nme\r\nmn extra\r\n",
    "mg k O123456789012345678901234567890123 v\r\nmg k P L v\r\n",
    "ma fresh t N100\r\nma fresh v\r\n",
    "ms x 1 T2592000\r\nx\r\nmg x R2592001 v\r\nms y 1 T2000000000\r\ny\r\nmg y R2000000000 v\r\n",
];

/// Admin and stats replies that do not depend on timing or memory layout.
const ADMIN_SCRIPTS: &[&str] = &[
    "version\r\nwatch\r\nversion\r\nwatch fetchers mutations\r\n",
    "version\r\nlru_crawler metadump all\r\n",
    "lru_crawler enable\r\n",
    "stats sizes_enable\r\nstats sizes_disable\r\nstats sizes\r\n",
    "slabs reassign 1 2\r\nslabs reassign 1 1\r\nslabs reassign 99 2\r\nslabs automove 2\r\n",
    "lru_crawler sleep 2000000\r\nlru_crawler tocrawl 10\r\nlru_crawler crawl 1\r\n",
    "lru tune 10 10 0.1 2.0\r\nlru tune 50 50 0.1 2.0\r\nlru mode flat\r\nlru mode segmented\r\nlru temp_ttl 10\r\n",
    "verbosity 1 noreply\r\nverbosity 0\r\nflush_all -1\r\nflush_all 0\r\ncache_memlimit 0\r\n",
    "delete\r\ndelete a b c d\r\nincr\r\nincr a\r\ntouch a\r\ntouch a b\r\ngat\r\ngat 10\r\n",
];

/// The `t` flag reports the TTL as it stands at the `t` token: `T`/`N` further right are not
/// reflected yet (memcached 1.6.18 handles meta flags left to right).
const TTL_ORDER_SCRIPTS: &[&str] = &[
    "set x 0 0 1\r\nx\r\nmg x t T100\r\nmg x t\r\nmg x T200 t\r\n",
    "set z 0 100 1\r\nx\r\nmg z t T0\r\nmg z t\r\n",
    "mg n1 N30 t\r\nmg n2 t N30\r\nmg n2 t\r\n",
    "set m 0 0 1\r\n5\r\nma m t T100\r\nma m T100 t\r\nma e t N100\r\nma g N100 t\r\n",
];

#[test]
fn ttl_flag_order_matches_memcached() {
    let mut diff = Differential::start(&[]);
    for script in TTL_ORDER_SCRIPTS {
        diff.check_masking_ttl(script);
    }
}

#[test]
fn meta_scripts_match_memcached() {
    let mut diff = Differential::start(&[]);
    for script in META_SCRIPTS {
        diff.check(script);
    }
}

#[test]
fn admin_scripts_match_memcached() {
    let mut diff = Differential::start(&[]);
    for script in ADMIN_SCRIPTS {
        diff.check(script);
    }
}

#[test]
fn oversized_value_is_swallowed_like_memcached() {
    let mut diff = Differential::start(&[]);
    // memcached unlinks the old item when a set/ms is refused as too large; add keeps it.
    let mut script = b"set big 0 0 1\r\nx\r\nset big 0 0 1048577\r\n".to_vec();
    script.extend(std::iter::repeat_n(b'x', 1_048_577));
    script.extend_from_slice(b"\r\nget big\r\nset ok 0 0 1\r\n1\r\n");
    diff.check(&script);
    let mut script = b"set m 0 0 1\r\nx\r\nms m 1048600 T0\r\n".to_vec();
    script.extend(std::iter::repeat_n(b'y', 1_048_600));
    script.extend_from_slice(b"\r\nmg m v\r\nset a 0 0 1\r\nx\r\nadd a 0 0 1048600\r\n");
    script.extend(std::iter::repeat_n(b'z', 1_048_600));
    script.extend_from_slice(b"\r\nget a\r\n");
    diff.check(&script);
}

#[test]
fn pipelined_batch_matches_memcached() {
    let mut diff = Differential::start(&[]);
    let mut script = String::new();
    for i in 0..200 {
        script.push_str(&format!("set p{i} {i} 0 {}\r\n{i}\r\nget p{i}\r\n", i.to_string().len()));
        if i % 7 == 0 {
            script.push_str(&format!("delete p{i}\r\nincr p{i} 1\r\n"));
        }
    }
    diff.check(&script);
}

#[test]
fn flags_change_both_alike() {
    let mut diff = Differential::start(&["-F", "-I", "2m", "-W"]);
    diff.check("flush_all\r\nflush_all noreply\r\n");
    diff.check("watch\r\n");
    let mut script = b"set mid 0 0 1500000\r\n".to_vec();
    script.extend(std::iter::repeat_n(b'm', 1_500_000));
    script.extend_from_slice(b"\r\nget nothing\r\n");
    diff.check(&script);
}

#[test]
fn ascii_auth_matches_memcached() {
    let path = common::temp_path("authfile");
    std::fs::write(&path, "alice:secret\nbob:pw2\n").expect("write authfile");
    // memcached runs as nobody and must be able to read the file.
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).expect("chmod");
    let path_text = path.display().to_string();
    // Each step is sent on its own and answered before the next (memcached drops the rest of
    // a read after refusing it); the connection stays open throughout.
    let sequences: &[&[&str]] = &[
        &["get a\r\nversion\r\n", "version\r\n", "mn\r\n"],
        &["set x 0 0 10\r\nalice oops\r\n", "version\r\n"],
        &["set x 0 0 5\r\nalice\r\n", "set x 0 0 10\r\nalice oops\r\nget a\r\n"],
        &["add x 0 0 12\r\nalice secret\r\n", "set x 0 0 12\r\nalice secret\r\n"],
        &["set x 0 0 12 noreply\r\nalice secret\r\nget a\r\n", "set a 0 0 1\r\n1\r\nget a\r\n"],
    ];
    for steps in sequences {
        let mut diff = Differential::start(&["-Y", &path_text]);
        for step in *steps {
            let theirs = diff.reference_client.send_and_read_for(step, Duration::from_millis(300));
            let ours = diff.ours_client.send_and_read_for(step, Duration::from_millis(300));
            assert_eq!(
                String::from_utf8_lossy(&ours),
                String::from_utf8_lossy(&theirs),
                "step {step:?} of {steps:?}"
            );
        }
    }
    let _ = std::fs::remove_file(&path);
}

#[test]
fn stats_field_names_match_memcached() {
    let mut diff = Differential::start(&[]);
    diff.check("set a 0 0 1\r\n1\r\n");
    // Names only (values differ by nature); per-class prefixes like `1:` / `items:1:` dropped.
    let names = |stats: Vec<(String, String)>| -> Vec<String> {
        stats
            .into_iter()
            .map(|(name, _)| {
                let name = name.strip_prefix("items:").unwrap_or(&name).to_owned();
                match name.split_once(':') {
                    Some((class, rest)) if class.bytes().all(|b| b.is_ascii_digit()) => {
                        rest.to_owned()
                    }
                    _ => name,
                }
            })
            .collect()
    };
    for sub in ["", "settings", "items", "slabs"] {
        let theirs = names(diff.reference_client.stats(sub));
        let ours = names(diff.ours_client.stats(sub));
        assert_eq!(ours, theirs, "field names of `stats {sub}`");
    }
}

#[test]
fn a_fresh_server_reports_memcached_uptime() {
    let mut diff = Differential::start(&[]);
    let uptime = |stats: Vec<(String, String)>| -> i64 {
        stats.into_iter().find(|(k, _)| k == "uptime").unwrap().1.parse().unwrap()
    };
    let theirs = uptime(diff.reference_client.stats(""));
    let ours = uptime(diff.ours_client.stats(""));
    // Both started within a second or two of each other; memcached counts from 2.
    assert!(theirs >= 2 && (ours - theirs).abs() <= 1, "uptime: ours {ours}, memcached {theirs}");
}

/// The meta `k` flag of a hit shows the key in the form the item was stored with (memcached's
/// ITEM_KEY_BINARY): `ms ... b` marks it; append/prepend, `N`-created items and a counter
/// that outgrows its value start plain; touch, invalidation and in-place incr keep it. Misses,
/// `ms`, `md` and `ma` replies echo the request's form. (`me` is checked in commands.rs: its
/// `size=` is our item size, not memcached's.)
const KEY_FORM_SCRIPTS: &[&str] = &[
    "ms azQ= 1 b k\r\nv\r\nmg k4 k v\r\nmg azQ= k v b\r\nma azQ= k\r\n",
    "set k2 0 0 1\r\nx\r\nmg azI= k v b\r\nmd azI= k b\r\nmg azI= k b\r\n",
    "ms azQ= 1 b\r\n1\r\nms k4 1 MA\r\n2\r\nmg k4 k v\r\nms azQ= 1 b\r\n1\r\nms azQ= 1 b MP\r\n2\r\nmg k4 k\r\n",
    "ms azU= 1 b\r\n1\r\nincr k5 5\r\nmg k5 k v\r\ntouch k5 100\r\nmg k5 k\r\nmd k5 I\r\nmg k5 k\r\n",
    "mg azY= b k N0\r\nmg k6 k\r\nma azc= b N0 k\r\nmg k7 k\r\n",
    "ms azQ= 1 b\r\n9\r\nma azQ= b D10\r\nmg k4 k v\r\nms azQ= 1 b\r\n9\r\nmn\r\ndecr k4 1\r\nmg k4 k\r\n",
];

#[test]
fn meta_key_form_matches_memcached() {
    let mut diff = Differential::start(&[]);
    for script in KEY_FORM_SCRIPTS {
        diff.check(script);
    }
}

/// get/gets/gat/gats with a key over 250 bytes: memcached fetches (and gat touches) the keys
/// before the long one, then answers only `CLIENT_ERROR bad command line format`.
#[test]
fn retrieval_with_long_key_keeps_side_effects_like_memcached() {
    let mut diff = Differential::start(&[]);
    let long = "l".repeat(251);
    diff.check_masking_ttl(format!(
        "set a 0 100 1\r\nx\r\nmn\r\ngat 0 a {long} a\r\nmg a t v\r\nset b 0 0 1\r\n1\r\nmn\r\n\
         get b {long}\r\nmg b h\r\ngats 0 {long}\r\ngets b {long} b\r\nmg b h\r\n"
    ));
}

/// memcached 1.6.18 walks meta flags left to right: `T` before `R` makes `R` compare the new
/// TTL; `N` and `T` both set the TTL of an item `N` creates (the rightmost wins); ma's `T` is
/// lost when the counter outgrows its item (a new item replaces the one `T` touched).
const FLAG_ORDER_SCRIPTS: &[&str] = &[
    "set x 0 100 1\r\n1\r\nmg x R200 T300 t\r\nset y 0 100 1\r\n1\r\nmg y T300 R200 t\r\n",
    "set z 0 0 1\r\n1\r\nmg z T100 R200\r\nmg z R200\r\n",
    "mg a T-1 N0 v\r\nmg a v\r\nmg b N0 T-1 v\r\nmg b v\r\nmg c N0 T100 t\r\nmg c t\r\n",
    "mg e N100 T-1 R30 t\r\nmg e t\r\nmg f t N0 T100\r\nmg f t\r\n",
    "set n 0 0 1\r\n5\r\nma n t T100 D1000\r\nmg n t v\r\nset m 0 0 2\r\n50\r\nma m t T100 D1\r\nmg m t v\r\n",
    "ma q N0 T100 t\r\nmg q t\r\nma r T100 N0 t\r\nmg r t\r\nma s N100 T-1 t\r\nmg s v\r\n",
];

#[test]
fn meta_flag_order_matches_memcached() {
    let mut diff = Differential::start(&[]);
    for script in FLAG_ORDER_SCRIPTS {
        diff.check_masking_ttl(script);
    }
}

/// An `O` over 32 bytes: mg and ma run first (vivify, touch left of the O, arithmetic), then
/// answer only the opaque error; ms and md do nothing.
#[test]
fn over_long_opaque_matches_memcached() {
    let mut diff = Differential::start(&[]);
    let o = format!("O{}", "o".repeat(33));
    diff.check_masking_ttl(format!(
        "mg a {o} v\r\nset a 0 0 1\r\n5\r\nmg a {o} v T100\r\nmg a t\r\nmg b {o} N0\r\nmg b\r\n\
         ma a {o}\r\nmg a v\r\nma c {o} N0 J7\r\nmg c v\r\nma a {o} D1000\r\nmg a v\r\n\
         set x 0 0 1\r\nx\r\nma x {o}\r\nma nope {o}\r\nmd a {o}\r\nmg a\r\nms a 1 {o}\r\nz\r\n\
         mg a v\r\nset d 0 0 1\r\n5\r\nmg d T100 {o} v\r\nmg d t h\r\nset e 0 0 1\r\n5\r\n\
         mg e {o} v\r\nmg e h\r\nmg n1 N100 {o}\r\nmg n1 t v\r\nmg n2 {o} N100 T200\r\n\
         mg n2 t v\r\nmd n1 I\r\nmg n1 {o}\r\nmg n1\r\n"
    ));
}

/// memcached rewrites a counter in place only when no unflushed reply holds the item: an `mg`
/// reply holds it until a get, `mn` or the end of the batch flushes the output.
const HELD_ITEM_SCRIPTS: &[&str] = &[
    "set j 0 0 3\r\n100\r\nmg j v\r\ndecr j 95\r\nmg j s v\r\n",
    "set j 0 0 3\r\n100\r\nmg j s\r\nset k 0 0 1\r\n1\r\ndecr j 95\r\nmg j s\r\n",
    "set j 0 0 3\r\n100\r\nmg j\r\nget k\r\ndecr j 95\r\nmg j s\r\n",
    "set j 0 0 3\r\n100\r\nmg j v\r\nmn\r\ndecr j 95\r\nmg j s\r\n",
    "set j 0 0 3\r\n100\r\ngets j\r\ndecr j 95\r\nmg j s\r\n",
    "set j 0 0 3\r\n100\r\nmg j k\r\nma j MD D95\r\nmg j s\r\nmd j I\r\nmg j\r\nincr j 1\r\nmg j s\r\n",
];

#[test]
fn counters_held_by_pending_replies_match_memcached() {
    let mut diff = Differential::start(&[]);
    for script in HELD_ITEM_SCRIPTS {
        diff.check(script);
    }
}

/// An in-place incr keeps the stale mark (the next mg wins); an item mg N creates is fetched
/// for the next mg unless `u`. (Stale stores with an older CAS: store tests, semantics.rs.)
#[test]
fn stale_and_vivify_details_match_memcached() {
    let mut diff = Differential::start(&[]);
    for script in [
        "set u1 0 0 2\r\n10\r\nmd u1 I\r\ndecr u1 0\r\nmn\r\nmg u1 v\r\nmg u1 v\r\n",
        "mg v1 N0 h\r\nmg v1 h\r\nmg v2 N0 u\r\nmg v2 h\r\n",
    ] {
        diff.check_masking_ttl(script);
    }
}

/// With -C nothing keeps a CAS: append/prepend with C store, cas/ms C on an item are EXISTS.
#[test]
fn no_cas_mode_matches_memcached() {
    let mut diff = Differential::start(&["-C"]);
    diff.check(
        "set k 0 0 1\r\nx\r\nms k 1 MP I C3999999999\r\ny\r\nms k 1 MA C5\r\nz\r\nmg k v\r\n\
         cas k 0 0 1 0\r\nq\r\nms k 1 C0\r\nq\r\nmg k v\r\n",
    );
}

/// The masking the comparisons above rely on: CAS values go, data blocks (even ones that look
/// like reply lines) stay byte for byte.
#[test]
fn normalize_cas_masks_cas_values_only() {
    let reply = b"VALUE k 0 7 42\r\nVA 2 c9\r\nEND\r\nVA 2 c7 t-1\r\nc5\r\nHD c12 kk\r\nME k exp=-1 la=3 cas=8 fetch=no cls=1 size=63\r\nEN\r\n";
    assert_eq!(
        common::normalize_cas(reply),
        b"VALUE k 0 7 <cas>\r\nVA 2 c9\r\nEND\r\nVA 2 c<cas> t-1\r\nc5\r\nHD c<cas> kk\r\nME k exp=-1 la=3 cas=<cas> fetch=no cls=1 size=63\r\nEN\r\n"
    );
}

/// `reserved_fds` follows the worker count as memcached's does.
#[test]
fn reserved_fds_follow_the_thread_count() {
    for threads in ["1", "3"] {
        let theirs = ServerProcess::memcached().args(["-t", threads]).start();
        let ours = ServerProcess::ours().args(["-t", threads]).start();
        let expected = theirs.connect().stat("", "reserved_fds");
        assert!(expected.is_some(), "memcached reports reserved_fds");
        assert_eq!(ours.connect().stat("", "reserved_fds"), expected, "-t {threads}");
    }
}
