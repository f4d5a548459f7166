//! `stats` and its subcommands.
//!
//! protocol.txt, "Statistics": `stats [<group>]\r\n` is answered by
//! `STAT <name> <value>\r\n` lines and `END\r\n`. Groups in 1.6.18: none
//! (general), `settings`, `items`, `slabs`, `sizes`, `sizes_enable`,
//! `sizes_disable`, `conns`, `extstore` (Debian builds it in), plus the
//! commands `stats reset` (`RESET`), `stats detail on|off|dump` and
//! `stats cachedump <class> <limit>`.
//!
//! memcached matches the group name exactly and ignores extra tokens
//! (`stats items x` works); an unknown group, including `stats noreply`, is
//! `ERROR`. `stats detail` without a valid argument is
//! `CLIENT_ERROR usage: stats detail on|off|dump`; cachedump with fewer than
//! two arguments is `CLIENT_ERROR bad command line`, non-numbers are
//! `CLIENT_ERROR bad command line format`, a class id of 64 or more is
//! `CLIENT_ERROR Illegal slab id`. `stats` never takes `noreply`.

use bytes::BufMut;

use crate::errors::{DecodeError, ErrorKind};
use crate::request::Request;
use crate::token::{parse_u32, put_u64, Line, Tokens};

/// memcached's MAX_NUMBER_OF_SLAB_CLASSES.
pub const MAX_SLAB_CLASSES: u32 = 64;

/// `stats detail` argument.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum StatsDetail {
    /// `on`: start recording per-prefix stats.
    On,
    /// `off`: stop recording.
    Off,
    /// `dump`: print `PREFIX ...` lines then `END`.
    Dump,
}

/// A decoded `stats` request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum StatsRequest {
    /// `stats`
    General,
    /// `stats settings`
    Settings,
    /// `stats items`
    Items,
    /// `stats slabs`
    Slabs,
    /// `stats sizes`
    Sizes,
    /// `stats sizes_enable`
    SizesEnable,
    /// `stats sizes_disable`
    SizesDisable,
    /// `stats conns`
    Conns,
    /// `stats extstore`
    Extstore,
    /// `stats reset` → `RESET`
    Reset,
    /// `stats detail on|off|dump`
    Detail(StatsDetail),
    /// `stats cachedump <class> <limit>`
    Cachedump {
        /// Slab class id (< 64).
        class_id: u32,
        /// Maximum number of items (0 = as many as fit).
        limit: u32,
    },
}

impl StatsRequest {
    /// Client side: appends this request.
    pub fn encode<B: BufMut>(&self, out: &mut B) {
        let group: &[u8] = match self {
            StatsRequest::General => b"",
            StatsRequest::Settings => b"settings",
            StatsRequest::Items => b"items",
            StatsRequest::Slabs => b"slabs",
            StatsRequest::Sizes => b"sizes",
            StatsRequest::SizesEnable => b"sizes_enable",
            StatsRequest::SizesDisable => b"sizes_disable",
            StatsRequest::Conns => b"conns",
            StatsRequest::Extstore => b"extstore",
            StatsRequest::Reset => b"reset",
            StatsRequest::Detail(StatsDetail::On) => b"detail on",
            StatsRequest::Detail(StatsDetail::Off) => b"detail off",
            StatsRequest::Detail(StatsDetail::Dump) => b"detail dump",
            StatsRequest::Cachedump { class_id, limit } => {
                out.put_slice(b"stats cachedump ");
                put_u64(out, u64::from(*class_id));
                out.put_u8(b' ');
                put_u64(out, u64::from(*limit));
                out.put_slice(b"\r\n");
                return;
            }
        };
        encode_stats(out, group);
    }
}

/// Client side: appends `stats[ <group>]\r\n` (`group` may hold arguments).
pub fn encode_stats<B: BufMut>(out: &mut B, group: &[u8]) {
    out.put_slice(b"stats");
    if !group.is_empty() {
        out.put_u8(b' ');
        out.put_slice(group);
    }
    out.put_slice(b"\r\n");
}

pub(crate) fn decode<'a>(
    tokens: &Tokens<'a>,
    line: Line<'a>,
) -> Result<Option<(Request<'a>, usize)>, DecodeError> {
    let err = |kind| Err(DecodeError::discard(kind, line.consumed, false));
    let ntokens = tokens.ntokens();
    let request = if ntokens == 2 {
        StatsRequest::General
    } else {
        match tokens.get(1) {
            b"reset" => StatsRequest::Reset,
            b"detail" => match (ntokens >= 4).then(|| tokens.get(2)) {
                Some(b"on") => StatsRequest::Detail(StatsDetail::On),
                Some(b"off") => StatsRequest::Detail(StatsDetail::Off),
                Some(b"dump") => StatsRequest::Detail(StatsDetail::Dump),
                _ => return err(ErrorKind::StatsDetailUsage),
            },
            b"settings" => StatsRequest::Settings,
            b"cachedump" => {
                if ntokens < 5 {
                    return err(ErrorKind::BadCommandLine);
                }
                let (Some(class_id), Some(limit)) =
                    (parse_u32(tokens.get(2)), parse_u32(tokens.get(3)))
                else {
                    return err(ErrorKind::BadCommandLineFormat);
                };
                if class_id >= MAX_SLAB_CLASSES {
                    return err(ErrorKind::IllegalSlabId);
                }
                StatsRequest::Cachedump { class_id, limit }
            }
            b"conns" => StatsRequest::Conns,
            b"extstore" => StatsRequest::Extstore,
            b"items" => StatsRequest::Items,
            b"slabs" => StatsRequest::Slabs,
            b"sizes" => StatsRequest::Sizes,
            b"sizes_enable" => StatsRequest::SizesEnable,
            b"sizes_disable" => StatsRequest::SizesDisable,
            _ => return err(ErrorKind::Error),
        }
    };
    Ok(Some((Request::Stats(request), line.consumed)))
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::decode_with_default_limits as decode;

    #[test]
    fn every_group_round_trips() {
        let all = [
            StatsRequest::General,
            StatsRequest::Settings,
            StatsRequest::Items,
            StatsRequest::Slabs,
            StatsRequest::Sizes,
            StatsRequest::SizesEnable,
            StatsRequest::SizesDisable,
            StatsRequest::Conns,
            StatsRequest::Extstore,
            StatsRequest::Reset,
            StatsRequest::Detail(StatsDetail::On),
            StatsRequest::Detail(StatsDetail::Off),
            StatsRequest::Detail(StatsDetail::Dump),
            StatsRequest::Cachedump { class_id: 63, limit: 10 },
        ];
        for req in all {
            let mut out = Vec::new();
            req.encode(&mut out);
            assert_eq!(decode(&out).unwrap().unwrap(), (Request::Stats(req), out.len()));
        }
    }

    #[test]
    fn errors_match_memcached() {
        let kind = |s: &[u8]| decode(s).unwrap_err().kind;
        assert_eq!(kind(b"stats noreply\r\n"), ErrorKind::Error);
        assert_eq!(kind(b"stats foo\r\n"), ErrorKind::Error);
        assert_eq!(kind(b"stats detail\r\n"), ErrorKind::StatsDetailUsage);
        assert_eq!(kind(b"stats detail x\r\n"), ErrorKind::StatsDetailUsage);
        assert_eq!(kind(b"stats cachedump\r\n"), ErrorKind::BadCommandLine);
        assert_eq!(kind(b"stats cachedump 1\r\n"), ErrorKind::BadCommandLine);
        assert_eq!(kind(b"stats cachedump x 1\r\n"), ErrorKind::BadCommandLineFormat);
        assert_eq!(kind(b"stats cachedump 64 1\r\n"), ErrorKind::IllegalSlabId);
        assert_eq!(
            decode(b"stats items extra\r\n").unwrap().unwrap().0,
            Request::Stats(StatsRequest::Items)
        );
    }
}
