//! Admin commands: `flush_all`, `version`, `verbosity`, `quit`, `shutdown`, `cache_memlimit`,
//! `slabs reassign|automove`, `lru`, `lru_crawler`, `watch`.
//!
//! protocol.txt: `flush_all [delay] [noreply]` → `OK`; `version` → `VERSION <version>`;
//! `verbosity <n> [noreply]` → `OK`; `quit` closes the connection; `shutdown [graceful]`
//! stops the server when started with `-A` (otherwise `ERROR: shutdown not enabled`).

use std::sync::atomic::Ordering;

use memcached_codec::response::write_fmt;
use memcached_codec::{
    encode_end, encode_version, ErrorKind, LruCrawlerCommand, Request, ShutdownMode, SlabsAutomove,
    StatusLine,
};
use memcached_store::ReassignError;

use super::{CommandExecutor, REPORTED_VERSION};
use crate::connection::After;
use crate::signals::StopKind;

/// Items the `lru_crawler crawl` command may look at in one go.
const CRAWL_BUDGET: usize = 1_000_000;

fn ok_unless(noreply: bool, out: &mut Vec<u8>) {
    if !noreply {
        StatusLine::Ok.encode(out);
    }
}

/// Executes an admin request (everything not handled by another family).
pub fn admin(exec: &mut CommandExecutor, request: Request<'_>, out: &mut Vec<u8>) -> After {
    let shared = &exec.shared;
    match request {
        Request::FlushAll { delay, noreply } => {
            if !shared.config.flush_enabled {
                if !noreply {
                    ErrorKind::FlushNotAllowed.encode(out);
                }
                return After::Continue;
            }
            exec.store.flush_all(delay.map_or(0, i64::from), exec.now());
            ok_unless(noreply, out);
        }
        Request::Version => encode_version(out, REPORTED_VERSION.as_bytes()),
        Request::Verbosity { level, noreply } => {
            shared.verbosity.store(level, Ordering::Relaxed);
            ok_unless(noreply, out);
        }
        Request::Quit => return After::Close,
        Request::Shutdown { mode } => {
            if !shared.config.shutdown_enabled {
                ErrorKind::ShutdownNotEnabled.encode(out);
                return After::Continue;
            }
            return match mode {
                ShutdownMode::Immediate => After::Stop(StopKind::Immediate),
                ShutdownMode::Graceful => After::Stop(StopKind::Graceful),
                ShutdownMode::Invalid => {
                    ErrorKind::InvalidShutdownMode.encode(out);
                    After::Continue
                }
            };
        }
        Request::CacheMemlimit { megabytes, noreply } => {
            let reply = if megabytes < 8 {
                StatusLine::MemlimitTooSmall
            } else if megabytes > 1_000_000_000 {
                StatusLine::MemlimitNotMegabytes
            } else {
                match exec.store.set_memory_limit(u64::from(megabytes) * 1024 * 1024) {
                    Ok(()) => StatusLine::Ok,
                    Err(_) => StatusLine::MemlimitAdjustFailed,
                }
            };
            if !noreply {
                reply.encode(out);
            }
        }
        Request::SlabsReassign { source, destination } => {
            if !shared.config.slab_reassign {
                ErrorKind::SlabReassignDisabled.encode(out);
                return After::Continue;
            }
            let destination = u32::try_from(destination).unwrap_or(0);
            match exec.store.slabs_reassign(source, destination, exec.now()) {
                Ok(_) => StatusLine::Ok.encode(out),
                Err(ReassignError::BadClass) => StatusLine::ReassignBadClass.encode(out),
                Err(ReassignError::NoSpare) => StatusLine::ReassignNoSpare.encode(out),
                Err(ReassignError::Same) => StatusLine::ReassignSame.encode(out),
                Err(ReassignError::Busy) => StatusLine::ReassignBusy.encode(out),
            }
        }
        Request::SlabsAutomove { setting, noreply } => {
            if let SlabsAutomove::Level(level) = setting {
                let level = u8::try_from(level.min(2)).unwrap_or(1);
                shared.slab_automove.store(level, Ordering::Relaxed);
            }
            ok_unless(noreply, out);
        }
        Request::Lru { noreply, .. } => ok_unless(noreply, out),
        Request::LruCrawler(command) => match command {
            // memcached 1.6.18: `enable` fails while the crawler runs (it does from startup by
            // default); `disable` stops it but leaves the setting on, so `crawl` then fails
            // with "unknown error" until `enable`.
            LruCrawlerCommand::Enable => {
                if shared.crawler_running.swap(true, Ordering::Relaxed) {
                    ErrorKind::CrawlerStartFailed.encode(out);
                } else {
                    shared.lru_crawler.store(true, Ordering::Relaxed);
                    StatusLine::Ok.encode(out);
                }
            }
            LruCrawlerCommand::Disable => {
                if shared.lru_crawler.load(Ordering::Relaxed) {
                    shared.crawler_running.store(false, Ordering::Relaxed);
                    StatusLine::Ok.encode(out);
                } else {
                    ErrorKind::CrawlerStopFailed.encode(out);
                }
            }
            LruCrawlerCommand::Crawl(_) => {
                if !shared.lru_crawler.load(Ordering::Relaxed) {
                    ErrorKind::LruCrawlerDisabled.encode(out);
                } else if !shared.crawler_running.load(Ordering::Relaxed) {
                    ErrorKind::UnknownError.encode(out);
                } else {
                    exec.store.reclaim_expired(exec.now(), CRAWL_BUDGET);
                    StatusLine::Ok.encode(out);
                }
            }
            LruCrawlerCommand::Metadump(selector) => {
                if !shared.config.dumps_enabled {
                    ErrorKind::MetadumpNotAllowed.encode(out);
                } else {
                    metadump(exec, selector, out);
                }
            }
            LruCrawlerCommand::Tocrawl(_) | LruCrawlerCommand::Sleep(_) => {
                StatusLine::Ok.encode(out);
            }
        },
        // Every other variant is dispatched by its own family before reaching here.
        _ => ErrorKind::Error.encode(out),
    }
    After::Continue
}

/// `lru_crawler metadump <all|hash|1,2,3>`: one line per live item, as memcached 1.6.18 prints
/// it (`key=<uri-encoded> exp=<unix or -1> la=<unix> cas=.. fetch=yes|no cls=.. size=..`, each
/// ending in a bare `\n`), then `END`.
fn metadump(exec: &CommandExecutor, selector: &[u8], out: &mut Vec<u8>) {
    let classes: Option<Vec<u32>> = match selector {
        b"all" | b"hash" => None,
        list => Some(
            list.split(|&b| b == b',')
                .filter_map(|id| std::str::from_utf8(id).ok()?.parse().ok())
                .collect(),
        ),
    };
    exec.store.for_each_item(exec.now(), |item| {
        if classes.as_ref().is_some_and(|ids| !ids.contains(&item.class_id())) {
            return true;
        }
        out.extend_from_slice(b"key=");
        uri_encode(item.key(), out);
        let exp = if item.exptime() == 0 { -1 } else { i64::from(item.exptime()) };
        write_fmt(
            out,
            format_args!(
                " exp={exp} la={} cas={} fetch={} cls={} size={}\n",
                item.last_access(),
                item.cas(),
                if item.fetched_before() { "yes" } else { "no" },
                item.class_id(),
                item.item_size()
            ),
        );
        true
    });
    encode_end(out);
}

/// memcached's `uriencode`: everything but `A-Z a-z 0-9 - . _ ~` becomes `%XX`.
fn uri_encode(key: &[u8], out: &mut Vec<u8>) {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    for &b in key {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(b);
        } else {
            out.extend_from_slice(&[b'%', HEX[usize::from(b >> 4)], HEX[usize::from(b & 15)]]);
        }
    }
}
