//! Admin commands: `flush_all`, `version`, `verbosity`, `quit`, `shutdown`,
//! `cache_memlimit`, `slabs reassign|automove`, `lru`, `lru_crawler`, `watch`.
//!
//! protocol.txt, "Other commands" / "Slabs Reassign" / "Slabs Automove" /
//! "LRU Tuning" / "LRU_Crawler" / "Watchers", with 1.6.18's checks:
//!
//! ```text
//!  flush_all [delay] [noreply]  1-3 tokens; bad delay -> CLIENT_ERROR invalid exptime argument
//!  version                       extra tokens ignored -> VERSION x.y.z
//!  verbosity <n> [noreply]       exactly 1-2 args, bad n -> CLIENT_ERROR bad command line format
//!  quit                          close after flushing pending replies
//!  shutdown [graceful]           anything else -> CLIENT_ERROR invalid shutdown mode
//!                                (without -A memcached says ERROR: shutdown not enabled first)
//!  cache_memlimit <MB> [noreply] bad number -> ERROR
//!  slabs reassign <src> <dst>    exactly 2 args; bad numbers -> CLIENT_ERROR bad command line format
//!  slabs automove <0|1|2> | ratio <f>   other level -> ERROR, non-number -> CLIENT_ERROR bad command line format
//!  lru tune <hot%> <warm%> <hot factor> <warm factor> | mode flat|segmented | temp_ttl <n>
//!  lru_crawler enable|disable | crawl <classes> | metadump <classes> | tocrawl <n> | sleep <usec>
//!  watch [rawcmds|sysevents|fetchers|mutations|evictions|connevents|proxyreqs|proxyevents|proxyuser]*
//! ```
//! Checks that depend on server settings (flush disabled with -F, crawler or
//! slab reassignment off, watchers not allowed) are left to the server.

use bytes::BufMut;

use crate::errors::{DecodeError, ErrorKind};
use crate::request::Request;
use crate::token::{
    parse_f64, parse_i32, parse_u32, put_i64, put_noreply_end, put_u64, Line, Tokens,
};

/// `shutdown` argument.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ShutdownMode {
    /// `shutdown`
    Immediate,
    /// `shutdown graceful`
    Graceful,
    /// Any other argument: `CLIENT_ERROR invalid shutdown mode` when shutdown
    /// is enabled, `ERROR: shutdown not enabled` otherwise (the server decides).
    Invalid,
}

/// `slabs automove` setting.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum SlabsAutomove {
    /// 0, 1 or 2.
    Level(u32),
    /// `ratio <f>`.
    Ratio(f64),
}

/// `lru` subcommands.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum LruCommand {
    /// `lru tune <hot%> <warm%> <hot_max_factor> <warm_max_factor>`.
    Tune {
        /// Percent of memory for the hot LRU.
        hot_percent: u32,
        /// Percent of memory for the warm LRU.
        warm_percent: u32,
        /// Hot age factor.
        hot_max_factor: f64,
        /// Warm age factor.
        warm_max_factor: f64,
    },
    /// `lru mode flat`.
    Flat,
    /// `lru mode segmented`.
    Segmented,
    /// `lru temp_ttl <n>` (negative disables the temp LRU).
    TempTtl(i32),
}

/// `lru_crawler` subcommands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LruCrawlerCommand<'a> {
    /// `lru_crawler enable`
    Enable,
    /// `lru_crawler disable`
    Disable,
    /// `lru_crawler crawl <1,2,3|all>`
    Crawl(&'a [u8]),
    /// `lru_crawler metadump <1,2,3|all|hash>`
    Metadump(&'a [u8]),
    /// `lru_crawler tocrawl <n>`
    Tocrawl(u32),
    /// `lru_crawler sleep <usec>` (at most 1000000)
    Sleep(u32),
}

/// Log streams for `watch` (bit set).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct WatchFlags(pub u16);

impl WatchFlags {
    /// Stream names in bit order.
    pub const NAMES: [&'static str; 9] = [
        "rawcmds",
        "sysevents",
        "fetchers",
        "mutations",
        "evictions",
        "connevents",
        "proxyreqs",
        "proxyevents",
        "proxyuser",
    ];
    /// `fetchers` (the default when no stream is named).
    pub const FETCHERS: WatchFlags = WatchFlags(1 << 2);

    /// Bit for a stream name.
    pub fn from_name(name: &[u8]) -> Option<WatchFlags> {
        Self::NAMES.iter().position(|n| n.as_bytes() == name).map(|i| WatchFlags(1 << i))
    }

    /// Stream enabled.
    pub fn contains(self, other: WatchFlags) -> bool {
        self.0 & other.0 == other.0
    }

    /// Names of the enabled streams.
    pub fn names(self) -> impl Iterator<Item = &'static str> {
        Self::NAMES
            .into_iter()
            .enumerate()
            .filter(move |(i, _)| self.0 & (1 << i) != 0)
            .map(|(_, n)| n)
    }
}

/// Client side: appends `flush_all [delay] [noreply]\r\n`.
pub fn encode_flush_all<B: BufMut>(out: &mut B, delay: Option<i32>, noreply: bool) {
    out.put_slice(b"flush_all");
    if let Some(d) = delay {
        out.put_u8(b' ');
        put_i64(out, i64::from(d));
    }
    put_noreply_end(out, noreply);
}

pub(crate) fn encode_admin<B: BufMut>(request: &Request<'_>, out: &mut B) {
    match *request {
        Request::FlushAll { delay, noreply } => encode_flush_all(out, delay, noreply),
        Request::Version => out.put_slice(b"version\r\n"),
        Request::Quit => out.put_slice(b"quit\r\n"),
        Request::Verbosity { level, noreply } => {
            out.put_slice(b"verbosity ");
            put_u64(out, u64::from(level));
            put_noreply_end(out, noreply);
        }
        Request::Shutdown { mode } => out.put_slice(match mode {
            ShutdownMode::Immediate => b"shutdown\r\n".as_slice(),
            ShutdownMode::Graceful => b"shutdown graceful\r\n",
            ShutdownMode::Invalid => b"shutdown invalid\r\n",
        }),
        Request::CacheMemlimit { megabytes, noreply } => {
            out.put_slice(b"cache_memlimit ");
            put_u64(out, u64::from(megabytes));
            put_noreply_end(out, noreply);
        }
        Request::SlabsReassign { source, destination } => {
            out.put_slice(b"slabs reassign ");
            put_i64(out, i64::from(source));
            out.put_u8(b' ');
            put_i64(out, i64::from(destination));
            out.put_slice(b"\r\n");
        }
        Request::SlabsAutomove { setting, noreply } => {
            out.put_slice(b"slabs automove ");
            match setting {
                SlabsAutomove::Level(l) => put_u64(out, u64::from(l)),
                SlabsAutomove::Ratio(r) => {
                    out.put_slice(b"ratio ");
                    put_f64(out, r);
                }
            }
            put_noreply_end(out, noreply);
        }
        Request::Lru { command, noreply } => {
            out.put_slice(b"lru ");
            match command {
                LruCommand::Tune { hot_percent, warm_percent, hot_max_factor, warm_max_factor } => {
                    out.put_slice(b"tune ");
                    put_u64(out, u64::from(hot_percent));
                    out.put_u8(b' ');
                    put_u64(out, u64::from(warm_percent));
                    out.put_u8(b' ');
                    put_f64(out, hot_max_factor);
                    out.put_u8(b' ');
                    put_f64(out, warm_max_factor);
                }
                LruCommand::Flat => out.put_slice(b"mode flat"),
                LruCommand::Segmented => out.put_slice(b"mode segmented"),
                LruCommand::TempTtl(t) => {
                    out.put_slice(b"temp_ttl ");
                    put_i64(out, i64::from(t));
                }
            }
            put_noreply_end(out, noreply);
        }
        Request::LruCrawler(command) => {
            out.put_slice(b"lru_crawler ");
            match command {
                LruCrawlerCommand::Enable => out.put_slice(b"enable"),
                LruCrawlerCommand::Disable => out.put_slice(b"disable"),
                LruCrawlerCommand::Crawl(c) => {
                    out.put_slice(b"crawl ");
                    out.put_slice(c);
                }
                LruCrawlerCommand::Metadump(c) => {
                    out.put_slice(b"metadump ");
                    out.put_slice(c);
                }
                LruCrawlerCommand::Tocrawl(n) => {
                    out.put_slice(b"tocrawl ");
                    put_u64(out, u64::from(n));
                }
                LruCrawlerCommand::Sleep(n) => {
                    out.put_slice(b"sleep ");
                    put_u64(out, u64::from(n));
                }
            }
            out.put_slice(b"\r\n");
        }
        Request::Watch(flags) => {
            out.put_slice(b"watch");
            for name in flags.names() {
                out.put_u8(b' ');
                out.put_slice(name.as_bytes());
            }
            out.put_slice(b"\r\n");
        }
        _ => {}
    }
}

/// Writes a float the way `strtod` reads it back exactly (Rust's shortest
/// round-trip form), without allocating.
fn put_f64<B: BufMut>(out: &mut B, v: f64) {
    use std::fmt::Write;
    struct Adapter<'b, B: BufMut>(&'b mut B);
    impl<B: BufMut> Write for Adapter<'_, B> {
        fn write_str(&mut self, s: &str) -> std::fmt::Result {
            self.0.put_slice(s.as_bytes());
            Ok(())
        }
    }
    let _ = write!(Adapter(out), "{v:?}");
}

/// Decodes the admin command `word` (already known to be one of them).
pub(crate) fn decode<'a>(
    word: &[u8],
    tokens: &Tokens<'a>,
    line: Line<'a>,
) -> Result<Option<(Request<'a>, usize)>, DecodeError> {
    let ntokens = tokens.ntokens();
    let noreply = tokens.ends_with_noreply();
    let fail = |kind, noreply| Err(DecodeError::discard(kind, line.consumed, noreply));
    let request = match word {
        b"flush_all" => {
            if !(2..=4).contains(&ntokens) {
                return fail(ErrorKind::Error, false);
            }
            let delay = if ntokens != if noreply { 3 } else { 2 } {
                match parse_i32(tokens.get(1)) {
                    Some(d) => Some(d),
                    None => return fail(ErrorKind::InvalidExptime, noreply),
                }
            } else {
                None
            };
            Request::FlushAll { delay, noreply }
        }
        b"version" => Request::Version,
        b"quit" => Request::Quit,
        b"verbosity" => {
            if ntokens != 3 && ntokens != 4 {
                return fail(ErrorKind::Error, false);
            }
            match parse_u32(tokens.get(1)) {
                Some(level) => Request::Verbosity { level, noreply },
                None => return fail(ErrorKind::BadCommandLineFormat, noreply),
            }
        }
        b"shutdown" => {
            let mode = match (ntokens, tokens.get(1)) {
                (2, _) => ShutdownMode::Immediate,
                (3, b"graceful") => ShutdownMode::Graceful,
                _ => ShutdownMode::Invalid,
            };
            Request::Shutdown { mode }
        }
        b"cache_memlimit" => {
            if ntokens != 3 && ntokens != 4 {
                return fail(ErrorKind::Error, false);
            }
            match parse_u32(tokens.get(1)) {
                Some(megabytes) => Request::CacheMemlimit { megabytes, noreply },
                None => return fail(ErrorKind::Error, noreply),
            }
        }
        b"slabs" => {
            if ntokens == 5 && tokens.get(1) == b"reassign" {
                match (parse_i32(tokens.get(2)), parse_i32(tokens.get(3))) {
                    (Some(source), Some(destination)) => {
                        Request::SlabsReassign { source, destination }
                    }
                    _ => return fail(ErrorKind::BadCommandLineFormat, false),
                }
            } else if ntokens >= 4 && tokens.get(1) == b"automove" {
                let setting = if tokens.get(2) == b"ratio" {
                    match (ntokens >= 5).then(|| parse_f64(tokens.get(3))).flatten() {
                        Some(r) => SlabsAutomove::Ratio(r),
                        None => return fail(ErrorKind::Error, noreply),
                    }
                } else {
                    match parse_u32(tokens.get(2)) {
                        Some(l @ 0..=2) => SlabsAutomove::Level(l),
                        Some(_) => return fail(ErrorKind::Error, noreply),
                        None => return fail(ErrorKind::BadCommandLineFormat, noreply),
                    }
                };
                Request::SlabsAutomove { setting, noreply }
            } else {
                return fail(ErrorKind::Error, false);
            }
        }
        b"lru" => {
            if ntokens < 3 {
                return fail(ErrorKind::Error, false);
            }
            let command = match tokens.get(1) {
                b"tune" if ntokens >= 7 => {
                    let parsed = (
                        parse_u32(tokens.get(2)),
                        parse_u32(tokens.get(3)),
                        parse_f64(tokens.get(4)),
                        parse_f64(tokens.get(5)),
                    );
                    let (Some(hot), Some(warm), Some(hot_f), Some(warm_f)) = parsed else {
                        return fail(ErrorKind::Error, noreply);
                    };
                    if hot.wrapping_add(warm) > 80 {
                        return fail(ErrorKind::LruPercentsTooHigh, noreply);
                    }
                    if warm_f <= 0.0 || hot_f <= 0.0 {
                        return fail(ErrorKind::LruFactorsNotPositive, noreply);
                    }
                    LruCommand::Tune {
                        hot_percent: hot,
                        warm_percent: warm,
                        hot_max_factor: hot_f,
                        warm_max_factor: warm_f,
                    }
                }
                b"mode" if ntokens >= 4 => match tokens.get(2) {
                    b"flat" => LruCommand::Flat,
                    b"segmented" => LruCommand::Segmented,
                    _ => return fail(ErrorKind::Error, noreply),
                },
                b"temp_ttl" if ntokens >= 4 => match parse_i32(tokens.get(2)) {
                    Some(t) => LruCommand::TempTtl(t),
                    None => return fail(ErrorKind::Error, noreply),
                },
                _ => return fail(ErrorKind::Error, noreply),
            };
            Request::Lru { command, noreply }
        }
        b"lru_crawler" => {
            let sub = tokens.get(1);
            let command = match (ntokens, sub) {
                (4, b"crawl") => LruCrawlerCommand::Crawl(tokens.get(2)),
                (4, b"metadump") => LruCrawlerCommand::Metadump(tokens.get(2)),
                (4, b"tocrawl") => match parse_u32(tokens.get(2)) {
                    Some(n) => LruCrawlerCommand::Tocrawl(n),
                    None => return fail(ErrorKind::BadCommandLineFormat, false),
                },
                (4, b"sleep") => match parse_u32(tokens.get(2)) {
                    Some(n) if n > 1_000_000 => return fail(ErrorKind::CrawlerSleepTooLong, false),
                    Some(n) => LruCrawlerCommand::Sleep(n),
                    None => return fail(ErrorKind::BadCommandLineFormat, false),
                },
                (3, b"enable") => LruCrawlerCommand::Enable,
                (3, b"disable") => LruCrawlerCommand::Disable,
                _ => return fail(ErrorKind::Error, false),
            };
            Request::LruCrawler(command)
        }
        b"watch" => {
            let mut flags = WatchFlags(0);
            if ntokens > 2 {
                for i in 1..tokens.len() {
                    match WatchFlags::from_name(tokens.get(i)) {
                        Some(f) => flags.0 |= f.0,
                        None => return fail(ErrorKind::Error, noreply),
                    }
                }
            } else {
                flags = WatchFlags::FETCHERS;
            }
            Request::Watch(flags)
        }
        _ => return fail(ErrorKind::Error, false),
    };
    Ok(Some((request, line.consumed)))
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::decode_with_default_limits as decode;

    fn req(input: &[u8]) -> Request<'_> {
        decode(input).unwrap().unwrap().0
    }

    fn kind(input: &[u8]) -> ErrorKind {
        decode(input).unwrap_err().kind
    }

    #[test]
    fn flush_all_forms() {
        assert_eq!(req(b"flush_all\r\n"), Request::FlushAll { delay: None, noreply: false });
        assert_eq!(req(b"flush_all noreply\r\n"), Request::FlushAll { delay: None, noreply: true });
        assert_eq!(
            req(b"flush_all 0 noreply\r\n"),
            Request::FlushAll { delay: Some(0), noreply: true }
        );
        assert_eq!(req(b"flush_all 1 2\r\n"), Request::FlushAll { delay: Some(1), noreply: false });
        assert_eq!(req(b"flush_all -1\r\n"), Request::FlushAll { delay: Some(-1), noreply: false });
        assert_eq!(kind(b"flush_all x\r\n"), ErrorKind::InvalidExptime);
        assert_eq!(kind(b"flush_all 1 2 3\r\n"), ErrorKind::Error);
        assert!(decode(b"flush_all x noreply\r\n").unwrap_err().noreply);
    }

    #[test]
    fn small_commands() {
        assert_eq!(req(b"version 1 2\r\n"), Request::Version);
        assert_eq!(req(b"quit\r\n"), Request::Quit);
        assert_eq!(req(b"verbosity 1 2\r\n"), Request::Verbosity { level: 1, noreply: false });
        assert_eq!(req(b"verbosity 1 noreply\r\n"), Request::Verbosity { level: 1, noreply: true });
        assert_eq!(kind(b"verbosity\r\n"), ErrorKind::Error);
        assert_eq!(kind(b"verbosity x\r\n"), ErrorKind::BadCommandLineFormat);
        assert_eq!(req(b"shutdown\r\n"), Request::Shutdown { mode: ShutdownMode::Immediate });
        assert_eq!(
            req(b"shutdown graceful\r\n"),
            Request::Shutdown { mode: ShutdownMode::Graceful }
        );
        assert_eq!(req(b"shutdown foo\r\n"), Request::Shutdown { mode: ShutdownMode::Invalid });
        assert_eq!(
            req(b"cache_memlimit 100\r\n"),
            Request::CacheMemlimit { megabytes: 100, noreply: false }
        );
        assert_eq!(kind(b"cache_memlimit x\r\n"), ErrorKind::Error);
        assert_eq!(kind(b"cache_memlimit\r\n"), ErrorKind::Error);
    }

    #[test]
    fn slabs_lru_crawler_watch() {
        assert_eq!(
            req(b"slabs reassign 1 2\r\n"),
            Request::SlabsReassign { source: 1, destination: 2 }
        );
        assert_eq!(kind(b"slabs reassign x 2\r\n"), ErrorKind::BadCommandLineFormat);
        assert_eq!(kind(b"slabs reassign 1 2 noreply\r\n"), ErrorKind::Error);
        assert_eq!(
            req(b"slabs automove 2\r\n"),
            Request::SlabsAutomove { setting: SlabsAutomove::Level(2), noreply: false }
        );
        assert_eq!(
            req(b"slabs automove ratio 0.5\r\n"),
            Request::SlabsAutomove { setting: SlabsAutomove::Ratio(0.5), noreply: false }
        );
        assert_eq!(kind(b"slabs automove 3\r\n"), ErrorKind::Error);
        assert_eq!(kind(b"slabs automove x\r\n"), ErrorKind::BadCommandLineFormat);
        assert_eq!(kind(b"slabs automove ratio\r\n"), ErrorKind::Error);
        assert_eq!(kind(b"slabs\r\n"), ErrorKind::Error);
        assert_eq!(
            req(b"lru mode flat\r\n"),
            Request::Lru { command: LruCommand::Flat, noreply: false }
        );
        assert_eq!(kind(b"lru temp_ttl x\r\n"), ErrorKind::Error);
        assert_eq!(kind(b"lru tune 50 50 1 1\r\n"), ErrorKind::LruPercentsTooHigh);
        assert_eq!(kind(b"lru tune 10 10 0 1\r\n"), ErrorKind::LruFactorsNotPositive);
        assert_eq!(kind(b"lru\r\n"), ErrorKind::Error);
        assert_eq!(
            req(b"lru_crawler crawl all\r\n"),
            Request::LruCrawler(LruCrawlerCommand::Crawl(b"all"))
        );
        assert_eq!(kind(b"lru_crawler sleep 2000000\r\n"), ErrorKind::CrawlerSleepTooLong);
        assert_eq!(kind(b"lru_crawler tocrawl x\r\n"), ErrorKind::BadCommandLineFormat);
        assert_eq!(kind(b"lru_crawler bogus\r\n"), ErrorKind::Error);
        assert_eq!(req(b"watch\r\n"), Request::Watch(WatchFlags::FETCHERS));
        let Request::Watch(w) = req(b"watch mutations evictions\r\n") else { panic!() };
        assert_eq!(w.names().collect::<Vec<_>>(), ["mutations", "evictions"]);
        assert_eq!(kind(b"watch deletions\r\n"), ErrorKind::Error);
    }

    #[test]
    fn admin_round_trips() {
        let all = [
            Request::FlushAll { delay: Some(-3), noreply: true },
            Request::Verbosity { level: 2, noreply: false },
            Request::CacheMemlimit { megabytes: 64, noreply: true },
            Request::SlabsAutomove { setting: SlabsAutomove::Ratio(0.25), noreply: false },
            Request::Lru {
                command: LruCommand::Tune {
                    hot_percent: 20,
                    warm_percent: 40,
                    hot_max_factor: 0.2,
                    warm_max_factor: 2.0,
                },
                noreply: false,
            },
            Request::Lru { command: LruCommand::TempTtl(-1), noreply: true },
            Request::LruCrawler(LruCrawlerCommand::Metadump(b"1,2")),
            Request::LruCrawler(LruCrawlerCommand::Sleep(100)),
            Request::Watch(WatchFlags(0b1_1111_1111)),
        ];
        for r in all {
            let mut out = Vec::new();
            r.encode(&mut out);
            let text = String::from_utf8_lossy(&out).into_owned();
            assert_eq!(decode(&out).map(|o| o.map(|(r, _)| r)), Ok(Some(r)), "{text}");
        }
    }
}
