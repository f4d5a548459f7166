//! `stats` and its subcommands, with memcached 1.6.18's names and order.
//!
//! ```text
//!   stats            server counters (connections, bytes, per-worker sums) + Store::stats()
//!   stats settings   Settings::stats_settings() with run-time values (verbosity, automove...)
//!   stats items      Store::item_stats()        stats slabs   Store::slab_stats()
//!   stats sizes      Store::size_stats() when enabled, else "sizes_status disabled"
//!   stats conns      listeners and open connections from the ConnectionTable
//!   stats detail     on | off | dump (per-prefix table)      stats reset   -> RESET
//!   stats cachedump <class> <limit>                           -> ITEM lines, END
//! ```

use std::sync::atomic::Ordering;
use std::sync::Arc;

use memcached_codec::{
    encode_cachedump_item, encode_end, encode_stat, encode_stat_fmt, encode_stat_u64, ErrorKind,
    StatsDetail, StatsRequest, StatusLine,
};

use super::{CommandExecutor, REPORTED_VERSION};
use crate::connection::{After, Session};
use crate::counters::CounterTotals;
use crate::shared::ConnEntry;

/// `stats items` fields memcached 1.6.18 prints after `crawler_reclaimed` for each class.
const SEGMENTED_LRU_ITEM_FIELDS: [&str; 10] = [
    "crawler_items_checked",
    "lrutail_reflocked",
    "moves_to_cold",
    "moves_to_warm",
    "moves_within_lru",
    "direct_reclaims",
    "hits_to_hot",
    "hits_to_warm",
    "hits_to_cold",
    "hits_to_temp",
];

/// Executes a stats request.
pub fn stats(
    exec: &mut CommandExecutor,
    request: StatsRequest,
    session: &mut Session,
    out: &mut Vec<u8>,
) -> After {
    match request {
        StatsRequest::General => general(exec, out),
        StatsRequest::Settings => settings(exec, out),
        StatsRequest::Items => {
            let pairs = exec.store.item_stats(exec.now()).pairs();
            let store_has_lru_fields = pairs.iter().any(|(n, _)| n.ends_with(":hits_to_hot"));
            for (name, value) in &pairs {
                encode_stat_u64(out, name.as_bytes(), *value);
                // memcached 1.6.18's segmented-LRU counters follow `crawler_reclaimed`; the
                // store has no such segments, so they are reported as 0 (field list intact
                // for monitoring tools).
                if let Some(class) = name.strip_suffix(":crawler_reclaimed") {
                    if !store_has_lru_fields {
                        for field in SEGMENTED_LRU_ITEM_FIELDS {
                            encode_stat_fmt(
                                out,
                                format_args!("{class}:{field}"),
                                format_args!("0"),
                            );
                        }
                    }
                }
            }
            encode_end(out);
        }
        StatsRequest::Slabs => {
            for (name, value) in exec.store.slab_stats().pairs() {
                // memcached 1.6.18 prints mem_requested in `stats items`, not here.
                if !name.ends_with(":mem_requested") {
                    encode_stat_u64(out, name.as_bytes(), value);
                }
            }
            encode_end(out);
        }
        StatsRequest::Sizes => {
            if exec.shared.track_sizes.load(Ordering::Relaxed) {
                for (size, count) in exec.store.size_stats() {
                    encode_stat_fmt(out, format_args!("{size}"), format_args!("{count}"));
                }
            } else {
                encode_stat(out, b"sizes_status", b"disabled");
            }
            encode_end(out);
        }
        // memcached 1.6.18 answers these two with the status line only (no END).
        StatsRequest::SizesEnable => {
            exec.shared.track_sizes.store(true, Ordering::Relaxed);
            encode_stat(out, b"sizes_status", b"enabled");
        }
        StatsRequest::SizesDisable => {
            exec.shared.track_sizes.store(false, Ordering::Relaxed);
            encode_stat(out, b"sizes_status", b"disabled");
        }
        StatsRequest::Conns => conns(exec, session, out),
        StatsRequest::Extstore => encode_end(out),
        StatsRequest::Reset => {
            exec.store.reset_stats();
            for counters in exec.shared.worker_counters() {
                counters.reset();
            }
            let connections = &exec.shared.connections;
            connections.total.store(0, Ordering::Relaxed);
            connections.rejected.store(0, Ordering::Relaxed);
            connections.listen_disabled.store(0, Ordering::Relaxed);
            exec.shared.prefixes.clear();
            StatusLine::Reset.encode(out);
        }
        StatsRequest::Detail(StatsDetail::On) => {
            exec.shared.prefixes.set_enabled(true);
            StatusLine::Ok.encode(out);
        }
        StatsRequest::Detail(StatsDetail::Off) => {
            exec.shared.prefixes.set_enabled(false);
            StatusLine::Ok.encode(out);
        }
        StatsRequest::Detail(StatsDetail::Dump) => exec.shared.prefixes.dump(out),
        StatsRequest::Cachedump { class_id, limit } => {
            if !exec.shared.config.dumps_enabled {
                ErrorKind::CachedumpNotAllowed.encode(out);
                return After::Continue;
            }
            let limit = usize::try_from(limit).unwrap_or(usize::MAX);
            match exec.store.cachedump(class_id, limit, exec.now()) {
                Some(entries) => {
                    for entry in entries {
                        let bytes = usize::try_from(entry.value_len).unwrap_or(0);
                        encode_cachedump_item(out, &entry.key, bytes, u64::from(entry.exptime));
                    }
                    encode_end(out);
                }
                None => ErrorKind::IllegalSlabId.encode(out),
            }
        }
    }
    After::Continue
}

fn rusage() -> (libc::timeval, libc::timeval) {
    // SAFETY: rusage is plain old data; all-zero is a valid value.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: `usage` is a valid, writable rusage for getrusage to fill.
    unsafe {
        libc::getrusage(libc::RUSAGE_SELF, &mut usage);
    }
    (usage.ru_utime, usage.ru_stime)
}

fn general(exec: &CommandExecutor, out: &mut Vec<u8>) {
    let shared = &exec.shared;
    let store = exec.store.stats();
    let ours = CounterTotals::sum(shared.worker_counters().iter().map(|c| c.as_ref()));
    let conns = &shared.connections;
    let (user, system) = rusage();
    let stat =
        |out: &mut Vec<u8>, name: &str, value: u64| encode_stat_u64(out, name.as_bytes(), value);

    stat(out, "pid", u64::from(std::process::id()));
    // memcached 1.6.18 dates its start 2 s back, so a fresh server says `uptime 2`.
    stat(out, "uptime", u64::from(shared.clock.uptime()) + 2);
    stat(out, "time", u64::from(shared.clock.now()));
    encode_stat(out, b"version", REPORTED_VERSION.as_bytes());
    encode_stat(out, b"libevent", b"mio");
    stat(out, "pointer_size", usize::BITS.into());
    encode_stat_fmt(
        out,
        format_args!("rusage_user"),
        format_args!("{}.{:06}", user.tv_sec, user.tv_usec),
    );
    encode_stat_fmt(
        out,
        format_args!("rusage_system"),
        format_args!("{}.{:06}", system.tv_sec, system.tv_usec),
    );
    stat(out, "max_connections", shared.config.max_connections as u64);
    let current = conns.current.load(Ordering::Relaxed);
    stat(out, "curr_connections", current);
    stat(out, "total_connections", conns.total.load(Ordering::Relaxed));
    stat(out, "rejected_connections", conns.rejected.load(Ordering::Relaxed));
    let structures = conns.structures.load(Ordering::Relaxed)
        + conns.listener_structures.load(Ordering::Relaxed);
    stat(out, "connection_structures", structures);
    stat(out, "response_obj_oom", 0);
    stat(out, "response_obj_count", current);
    stat(out, "response_obj_bytes", current * 16384);
    stat(out, "read_buf_count", current);
    stat(out, "read_buf_bytes", current * crate::connection::INPUT_BUFFER_INITIAL as u64);
    stat(out, "read_buf_bytes_free", 0);
    stat(out, "read_buf_oom", 0);
    // memcached 1.6.18 reserves five descriptors per worker thread (measured: -t 1 -> 5,
    // -t 4 -> 20, -t 8 -> 40).
    stat(out, "reserved_fds", 5 * shared.config.threads as u64);
    stat(out, "cmd_get", store.cmd_get);
    stat(out, "cmd_set", store.cmd_set);
    stat(out, "cmd_flush", store.cmd_flush);
    stat(out, "cmd_touch", store.cmd_touch);
    stat(out, "cmd_meta", ours.cmd_meta);
    stat(out, "get_hits", store.get_hits);
    stat(out, "get_misses", store.get_misses);
    stat(out, "get_expired", store.get_expired);
    stat(out, "get_flushed", store.get_flushed);
    stat(out, "delete_misses", store.delete_misses);
    stat(out, "delete_hits", store.delete_hits);
    stat(out, "incr_misses", store.incr_misses);
    stat(out, "incr_hits", store.incr_hits);
    stat(out, "decr_misses", store.decr_misses);
    stat(out, "decr_hits", store.decr_hits);
    stat(out, "cas_misses", store.cas_misses);
    stat(out, "cas_hits", store.cas_hits);
    stat(out, "cas_badval", store.cas_badval);
    stat(out, "touch_hits", store.touch_hits);
    stat(out, "touch_misses", store.touch_misses);
    stat(out, "store_too_large", store.store_too_large + ours.store_too_large);
    stat(out, "store_no_memory", store.store_no_memory + ours.store_no_memory);
    stat(out, "auth_cmds", ours.auth_cmds);
    stat(out, "auth_errors", ours.auth_errors);
    stat(out, "bytes_read", ours.bytes_read);
    stat(out, "bytes_written", ours.bytes_written);
    stat(out, "limit_maxbytes", store.limit_maxbytes);
    stat(out, "accepting_conns", u64::from(shared.accepting.load(Ordering::Relaxed)));
    stat(out, "listen_disabled_num", conns.listen_disabled.load(Ordering::Relaxed));
    stat(out, "time_in_listen_disabled_us", 0);
    stat(out, "threads", shared.config.threads as u64);
    stat(out, "conn_yields", ours.conn_yields);
    stat(out, "hash_power_level", store.hash_power_level);
    stat(out, "hash_bytes", store.hash_bytes);
    stat(out, "hash_is_expanding", store.hash_is_expanding);
    stat(out, "slab_reassign_rescues", store.slab_reassign_rescues);
    stat(out, "slab_reassign_chunk_rescues", 0);
    stat(out, "slab_reassign_evictions_nomem", store.slab_reassign_evictions_nomem);
    stat(out, "slab_reassign_inline_reclaim", 0);
    stat(out, "slab_reassign_busy_items", 0);
    stat(out, "slab_reassign_busy_deletes", 0);
    stat(out, "slab_reassign_running", 0);
    stat(out, "slabs_moved", store.slabs_moved);
    stat(out, "lru_crawler_running", 0);
    stat(out, "lru_crawler_starts", 0);
    stat(out, "lru_maintainer_juggles", 0);
    stat(out, "malloc_fails", 0);
    stat(out, "log_worker_dropped", 0);
    stat(out, "log_worker_written", 0);
    stat(out, "log_watcher_skipped", shared.log.skipped());
    stat(out, "log_watcher_sent", shared.log.sent());
    stat(out, "log_watchers", shared.log.watchers() as u64);
    stat(out, "unexpected_napi_ids", 0);
    stat(out, "round_robin_fallback", 0);
    stat(out, "bytes", store.bytes);
    stat(out, "curr_items", store.curr_items);
    stat(out, "total_items", store.total_items);
    stat(out, "slab_global_page_pool", store.slab_global_page_pool);
    stat(out, "expired_unfetched", store.expired_unfetched);
    stat(out, "evicted_unfetched", store.evicted_unfetched);
    stat(out, "evicted_active", store.evicted_active);
    stat(out, "evictions", store.evictions);
    stat(out, "reclaimed", store.reclaimed);
    stat(out, "crawler_reclaimed", store.crawler_reclaimed);
    stat(out, "crawler_items_checked", store.crawler_items_checked);
    stat(out, "lrutail_reflocked", 0);
    stat(out, "moves_to_cold", 0);
    stat(out, "moves_to_warm", 0);
    stat(out, "moves_within_lru", 0);
    stat(out, "direct_reclaims", 0);
    stat(out, "lru_bumps_dropped", 0);
    if shared.config.idle_timeout > 0 {
        stat(out, "idle_kicks", ours.idle_kicks);
    }
    if let Some(status) = shared.replication.lock().unwrap_or_else(|e| e.into_inner()).as_ref() {
        status.encode_stats(out);
    }
    if let Some(status) = shared.vrrp.lock().unwrap_or_else(|e| e.into_inner()).as_ref() {
        status.encode_stats(out);
    }
    encode_end(out);
}

fn settings(exec: &CommandExecutor, out: &mut Vec<u8>) {
    let shared = &exec.shared;
    for (name, value) in &shared.settings_report {
        match name.as_str() {
            "verbosity" => {
                encode_stat_u64(out, b"verbosity", u64::from(shared.verbosity()));
            }
            "maxbytes" => encode_stat_u64(out, b"maxbytes", exec.store.memory_limit()),
            "slab_automove" => encode_stat_u64(
                out,
                b"slab_automove",
                u64::from(shared.slab_automove.load(Ordering::Relaxed)),
            ),
            "lru_crawler" => {
                encode_stat(
                    out,
                    b"lru_crawler",
                    yes_no(shared.lru_crawler.load(Ordering::Relaxed)),
                );
            }
            "detail_enabled" => {
                encode_stat(out, b"detail_enabled", yes_no(shared.prefixes.enabled()));
            }
            "track_sizes" => {
                encode_stat(
                    out,
                    b"track_sizes",
                    yes_no(shared.track_sizes.load(Ordering::Relaxed)),
                );
            }
            _ => encode_stat(out, name.as_bytes(), value.as_bytes()),
        }
    }
    encode_end(out);
}

/// A boolean setting as `stats settings` prints it.
fn yes_no(on: bool) -> &'static [u8] {
    if on {
        b"yes"
    } else {
        b"no"
    }
}

fn conns(exec: &CommandExecutor, session: &Session, out: &mut Vec<u8>) {
    let shared = &exec.shared;
    let now = shared.clock.now();
    enum Row {
        Listener(String),
        Client(Arc<ConnEntry>),
    }
    let mut rows: Vec<(i32, Row)> = shared
        .connections
        .listeners()
        .into_iter()
        .map(|(fd, addr)| (fd, Row::Listener(addr)))
        .chain(shared.connections.entries().into_iter().map(|(fd, e)| (fd, Row::Client(e))))
        .collect();
    rows.sort_by_key(|(fd, _)| *fd);
    for (fd, row) in rows {
        match row {
            Row::Listener(addr) => {
                let state = if addr.starts_with("udp:") { "conn_read" } else { "conn_listening" };
                encode_stat_fmt(out, format_args!("{fd}:addr"), format_args!("{addr}"));
                encode_stat_fmt(out, format_args!("{fd}:state"), format_args!("{state}"));
                encode_stat_fmt(out, format_args!("{fd}:secs_since_last_cmd"), format_args!("0"));
            }
            Row::Client(entry) => {
                let state = if fd == session.fd { "conn_parse_cmd" } else { "conn_waiting" };
                let idle = now.saturating_sub(entry.last_cmd.load(Ordering::Relaxed));
                encode_stat_fmt(out, format_args!("{fd}:addr"), format_args!("{}", entry.addr));
                encode_stat_fmt(
                    out,
                    format_args!("{fd}:listen_addr"),
                    format_args!("{}", entry.listen_addr),
                );
                encode_stat_fmt(out, format_args!("{fd}:state"), format_args!("{state}"));
                encode_stat_fmt(
                    out,
                    format_args!("{fd}:secs_since_last_cmd"),
                    format_args!("{idle}"),
                );
            }
        }
    }
    encode_end(out);
}
