//! The memcached-compatible server: command-line settings, listeners, worker event loops and the
//! glue that executes protocol requests against the store.
//!
//! Thread model (memcached's, with mio instead of libevent):
//!
//! ```text
//!                 ┌───────────────────────── one process ─────────────────────────────┐
//!   clients ──TCP/UNIX──> control thread: listeners ──round robin (channel+Waker)──┐    │
//!                         │  + stop pipe (SIGTERM/SIGINT/SIGUSR1, `shutdown`)      │    │
//!                         │                                                        v    │
//!   clients ──UDP──────────────────────────────────────────────> worker 0 .. worker N-1 │
//!                                                                (mio loop each, owns   │
//!                         clock thread: now: AtomicU32 ──now──>   its connections)      │
//!                         + maintenance tick                          │ get(key, now,   │
//!                                   │                                 v  |item| ..)     │
//!                                   └──────────────> Arc<Store> (sharded locks) <──┘    │
//!                                                      feed │ ^ apply_change               │
//!   peer (-x/-X) <──TCP──> replication thread (with -x) <────┘ │                            │
//!                 └───────────────────────────────────────────────────────────────────┘
//! ```
//!
//! Module map (each module's doc says more):
//! - [`settings`]: memcached's command-line flags, `-o` extended options and the TOML config file,
//!   validated into one [`settings::Settings`] value.
//! - [`config`]: the runtime view of the settings that listeners, workers and commands read.
//! - [`server`]: binds sockets, starts the clock thread and workers, runs the control loop.
//! - [`listener`]: socket binding and the accept/hand-out path (with `-c`).
//! - [`worker`]: one mio event loop per worker thread.
//! - [`connection`]: buffers, pipelining, fairness (`-R`) and backpressure per connection.
//! - [`udp`]: the 8-byte UDP frame header and response splitting.
//! - [`replication`]: the `-x`/`-X` link's thread, driving `memcached-repl`'s session.
//! - [`failover`]: `--vrrp`, the VRRP thread (`memcached-failover`) holding a virtual IP.
//! - [`commands`]: decoded requests executed against the store, one file per command family.
//! - [`startup`]: from [`settings::Settings`] to a running server (process steps, store, sockets).
//! - [`clock`]: the coarse per-second clock passed to the store as `now`.
//! - [`signals`]: SIGTERM/SIGINT/SIGUSR1 and `shutdown` through one stop latch.
//! - [`shared`], [`counters`]: server-wide state and per-worker statistics.
//! - [`watch`]: `watch` log streams (fetchers, mutations, connevents).
//!
//! Where this server differs from memcached 1.6.18 (everything else is meant to be
//! byte-identical; `tests/differential.rs` checks it against `/usr/bin/memcached`):
//! - text and meta protocols only: the binary protocol is not spoken; a connection whose
//!   first byte is its magic byte (0x80) is closed at once;
//! - `watch` streams `fetchers`, `mutations` and `connevents` lines in memcached's
//!   `ts=.. gid=.. type=..` format, but only for client commands (memcached also logs its
//!   internal lookups) and no other streams;
//! - over `-c`, a new connection gets `ERROR Too many open connections` when the number of open
//!   client connections reaches the limit (memcached also counts its reserved descriptors);
//! - one request may not make the server hold more than a bounded amount of memory: a single
//!   multi-get reply over 64 MiB becomes `SERVER_ERROR out of memory writing get response`, and
//!   a request line (e.g. a multi-get) over `2 x -I` (at least 2 MiB) closes the connection;
//! - running as root without `-u` is allowed (memcached refuses), so that
//!   `cargo run -p memcached-server` works; with `-u` the user is switched as in memcached;
//! - `lru tune|mode|temp_ttl` and `slabs automove ratio` are accepted with memcached's replies
//!   but the store (CLOCK per slab class, not a segmented LRU) has nothing to tune;
//!   `stats conns` shows UNIX clients by path where memcached prints `?:<AF 0>`.
//!
//! Item semantics (expiry, CAS, meta flags) are the store's; the generated differential test
//! (`tests/differential_generated.rs`) compares them with memcached 1.6.18 and finds no
//! difference with its default seeds (docs/TESTING.md lists those it found, now matched).

pub mod clock;
pub mod commands;
pub mod config;
pub mod connection;
pub mod counters;
pub mod failover;
pub mod listener;
pub mod replication;
pub mod server;
pub mod settings;
pub mod shared;
pub mod signals;
pub mod startup;
pub mod udp;
pub mod watch;
pub mod worker;
