//! The texts of `-h`, `-V` and `-i`.

/// The memcached release whose command line, defaults and behaviour this server copies.
pub const MEMCACHED_COMPAT_VERSION: &str = "1.6.18";

/// `-V`: one line, `memcached-server <version> (memcached 1.6.18 compatible)`.
pub fn version_text() -> String {
    format!(
        "memcached-server {} (memcached {MEMCACHED_COMPAT_VERSION} compatible)\n",
        env!("CARGO_PKG_VERSION")
    )
}

/// `-i`: the license.
pub fn license_text() -> String {
    format!(
        "memcached-server {}\n\
         Licensed under the MIT license or the Apache License, Version 2.0, at your option.\n\
         It is a reimplementation compatible with memcached (Copyright (c) 2003, Danga\n\
         Interactive, Inc., BSD license); it contains no memcached or libevent code.\n",
        env!("CARGO_PKG_VERSION")
    )
}

/// `-h`: every option, memcached's layout.
pub fn help_text() -> String {
    let mut text = version_text();
    text.push_str(HELP_BODY);
    text
}

const HELP_BODY: &str = "\
-p, --port=<num>          TCP port to listen on (default: 11211)
-U, --udp-port=<num>      UDP port to listen on (default: 0, off)
-s, --unix-socket=<file>  UNIX socket to listen on (disables network support)
-a, --unix-mask=<mask>    access mask for UNIX socket, in octal (default: 700)
-A, --enable-shutdown     enable ascii \"shutdown\" command
-l, --listen=<addr>       interface to listen on (default: INADDR_ANY)
                          comma-separated or repeated; <ip>, <ip>:<port>, [<ipv6>]:<port>
-d, --daemon              run as a daemon
-r, --enable-coredumps    maximize core file limit
-u, --user=<user>         assume identity of <username> (only when run as root)
-m, --memory-limit=<num>  item memory in megabytes (default: 64)
-M, --disable-evictions   return error on memory exhausted instead of evicting
-c, --conn-limit=<num>    max simultaneous connections (default: 1024)
-k, --lock-memory         lock down all paged memory
-v, --verbose             verbose (print errors/warnings while in event loop)
-vv                       very verbose (also print client commands/responses)
-vvv                      extremely verbose (internal state transitions)
-h, --help                print this help and exit
-i, --license             print the license and exit
-V, --version             print version and exit
-P, --pidfile=<file>      save PID in <file>, only used with -d option
-f, --slab-growth-factor=<num> chunk size growth factor (default: 1.25)
-n, --slab-min-size=<bytes> min space used for key+value+flags (default: 48)
-L, --enable-largepages   try to use large memory pages (no effect here)
-D <char>                 use <char> as the delimiter between key prefixes and IDs
                          for per-prefix stats (default \":\"); turns detail stats on
-t, --threads=<num>       number of threads to use (default: 4)
-R, --max-reqs-per-event  maximum number of requests per event, limits the
                          requests processed per connection to prevent
                          starvation (default: 20)
-C, --disable-cas         disable use of CAS
-b, --listen-backlog=<num> set the backlog queue limit (default: 1024)
-B, --protocol=<name>     protocol - one of ascii, binary, or auto (default: auto-negotiate)
                          (the text protocol is served; binary clients are refused)
-I, --max-item-size=<num> adjusts max item size
                          (default: 1m, min: 1k, max: 1024m)
-S, --enable-sasl         turn on Sasl authentication (not supported: refused)
-F, --disable-flush-all   disable flush_all command
    --disable-dumping     disable stats cachedump and lru_crawler metadump
                          (memcached's -X; -X is repcached's replication port here)
-W, --disable-watch       disable watch commands (live logging)
-Y, --auth-file=<file>    ASCII protocol authentication
-e, --memory-file=<file>  (EXPERIMENTAL) mmap a file for item memory (no effect here)
-Z, --enable-ssl          enable TLS/SSL (not supported: refused)
-N, --napi-ids=<num>      number of napi ids (no effect here)
-x, --repl-peer=<host>    replication peer (repcached): copy every change to and
                          from the memcached-server at <host>
-X, --repl-port=<num>     replication TCP port (default: 11212)
    --repl-secret-file=<file>
                          both peers must hold the same secret (file contents)
                          to link; without it any host reaching -X can link
    --vrrp=<settings>     hold a virtual IP with VRRP (keepalived-compatible) while
                          this server answers; root, Linux. Comma separated:
                          interface=<if>,vrid=<n>,vip=<addr/len>[,priority=<n>]
                          [,version=2|3][,advert_int=<s>][,auth_pass=<p>]
                          [,nopreempt][,preempt_delay=<s>][,unicast_peer=<ip>]
                          [,check_interval=<s>][,check_timeout=<s>][,rise=<n>]
                          [,fall=<n>][,weight=<n>][,name=<s>][,notify=<program>]
                          [,notify_master|backup|fault|stop=<program>]
                          (docs/FAILOVER.md)
    --config-file=<file>  read settings from a TOML file; flags win over it
-o, --extended            comma separated list of extended options
                          most options have a 'no_' prefix to disable
   - maxconns_fast:       immediately close new connections after limit (default: enabled)
   - hashpower:           an integer multiplier for how large the hash
                          table should be. normally grows at runtime. (default starts at: 0)
   - tail_repair_time:    time in seconds for how long to wait before
                          forcefully killing LRU tail item. disabled by default.
   - hash_algorithm:      the hash table algorithm: jenkins, murmur3 (default), xxh3
   - no_lru_crawler:      disable LRU Crawler background thread.
   - lru_crawler_sleep:   microseconds to sleep between items (default: 100)
   - lru_crawler_tocrawl: max items to crawl per slab per run (default: 0, unlimited)
   - read_buf_mem_limit:  limit in megabytes for connection read/response buffers.
                          0 means unlimited (default: 0)
   - no_lru_maintainer:   disable new LRU system + background thread.
   - hot_lru_pct:         pct of slab memory to reserve for hot lru (default: 20)
   - warm_lru_pct:        pct of slab memory to reserve for warm lru (default: 40)
   - hot_max_factor:      items idle > cold lru age * drop from hot lru. (default: 0.20)
   - warm_max_factor:     items idle > cold lru age * this drop from warm. (default: 2.00)
   - temporary_ttl:       TTL's below get separate LRU, can't be evicted. (default: 61)
   - idle_timeout:        timeout for idle connections. (default: 0, no timeout)
   - slab_chunk_max:      (EXPERIMENTAL) maximum slab chunk size in bytes. (default: 524288)
   - watcher_logbuf_size: size in kilobytes of per-watcher write buffer. (default: 256)
   - worker_logbuf_size:  size in kilobytes of per-worker-thread buffer. (default: 64)
   - track_sizes:         enable dynamic reports for 'stats sizes' command.
   - no_hashexpand:       disables hash table expansion (dangerous)
   - modern:              enables options which will be default in future (currently nothing)
   - no_modern:           uses defaults of previous major version (1.4.x)
   - slab_sizes, slab_reassign, slab_automove, slab_automove_ratio, slab_automove_window,
     no_chunked_items, inline_ascii_resp, drop_privileges, sock_cookie_id: as memcached 1.6
   - acted on here: idle_timeout, maxconns_fast, track_sizes, slab_reassign, slab_automove,
     lru_crawler; every other name is checked and accepted with a warning (no effect here),
     including the ext_* (extstore) and ssl_* (TLS) options.
";
