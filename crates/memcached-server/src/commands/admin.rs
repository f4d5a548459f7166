//! Admin commands: `flush_all`, `version`, `verbosity`, `quit`, `shutdown`, `cache_memlimit`,
//! `slabs reassign|automove`, `lru`, `lru_crawler`, `watch`.
//!
//! protocol.txt: `flush_all [delay] [noreply]` → `OK`; `version` → `VERSION <version>`;
//! `verbosity <n> [noreply]` → `OK`; `quit` closes the connection; `shutdown [graceful]`
//! stops the server when started with `-A` (otherwise `ERROR: shutdown not enabled`).

use std::sync::atomic::Ordering;

use memcached_codec::{
    encode_end, encode_version, ErrorKind, LruCrawlerCommand, Request, ShutdownMode, SlabsAutomove,
    StatusLine,
};
use memcached_store::ReassignError;

use super::{CommandExecutor, REPORTED_VERSION};
use crate::connection::{After, Session};
use crate::signals::StopKind;

/// Items the `lru_crawler crawl` command may look at in one go.
const CRAWL_BUDGET: usize = 1_000_000;

fn ok_unless(noreply: bool, out: &mut Vec<u8>) {
    if !noreply {
        StatusLine::Ok.encode(out);
    }
}

/// Executes an admin request (everything not handled by another family).
pub fn admin(
    exec: &mut CommandExecutor,
    request: Request<'_>,
    _session: &mut Session,
    out: &mut Vec<u8>,
) -> After {
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
            if megabytes < 8 {
                if !noreply {
                    StatusLine::MemlimitTooSmall.encode(out);
                }
            } else {
                // The store's memory bound is fixed at start; the new limit is accepted as
                // memcached accepts it but does not resize the store.
                ok_unless(noreply, out);
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
            LruCrawlerCommand::Metadump(_) => {
                if !shared.config.dumps_enabled {
                    ErrorKind::MetadumpNotAllowed.encode(out);
                } else {
                    metadump(exec, out);
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

/// `lru_crawler metadump all`: one line per live item, from the slab classes' dumps.
/// The dump lists key, expiry and size; `la`, `cas` and `fetch` are not in it and are
/// reported as 0 / 0 / no.
fn metadump(exec: &CommandExecutor, out: &mut Vec<u8>) {
    let now = exec.now();
    for class in 1..=memcached_store::MAX_CLASSES as u32 {
        let Some(entries) = exec.store.cachedump(class, usize::MAX, now) else {
            continue;
        };
        for entry in entries {
            out.extend_from_slice(b"key=");
            out.extend_from_slice(&entry.key);
            let exp = if entry.exptime == 0 { -1 } else { i64::from(entry.exptime) };
            out.extend_from_slice(
                format!(" exp={exp} la=0 cas=0 fetch=no cls={class} size={}\r\n", entry.value_len)
                    .as_bytes(),
            );
        }
    }
    encode_end(out);
}
