//! Meta commands: `mg`, `ms`, `md`, `ma`, `mn`, `me`.
//!
//! protocol.txt, "Meta Commands": `<cm> <key> <flags>*\r\n`; replies are two-letter codes
//! with return flags in request order (`VA`, `HD`, `EN`, `NS`, `EX`, `NF`, `MN`, `ME`). The
//! codec parses the flags and encodes the replies; this file maps them to store calls.
//! Quiet mode (`q`) hides `EN` for mg, `HD` for ms/md, `HD`/`VA` for ma
//! ([`MetaStatus::hidden_by_quiet`]).

use memcached_codec::{
    encode_meta_arithmetic_hit, encode_meta_debug_reply, encode_meta_get_hit,
    encode_meta_noop_reply, encode_meta_set_result, encode_meta_status, ErrorKind,
    MetaArithmeticMode, MetaArithmeticRequest, MetaCommand, MetaDebugRequest, MetaFlags,
    MetaItemInfo, MetaKey, MetaRequest, MetaSetMode as CodecSetMode, MetaSetRequest, MetaStatus,
    KEY_BUFFER_LEN,
};
use memcached_store::{
    ArithOp, ArithOutcome, DeleteOutcome, KeyForm, MetaArith, MetaDelete, MetaGet, MetaGetDetails,
    MetaSet, MetaSetMode, StoreOutcome,
};

use super::storage::{logged_status, store_error_kind};
use super::CommandExecutor;
use crate::connection::After;
use crate::counters::bump;
use crate::shared::PrefixOp;

/// memcached 1.6.18 converts `R<token>` like an exptime and wins the recache when the item's
/// exptime is before it: relative values (up to 30 days) are seconds of TTL left, larger ones
/// are absolute Unix times (at or before the process start: the start itself). Returned as the
/// seconds-of-TTL-left threshold the store compares against.
fn recache_threshold(token: i32, now: u32, started: u32) -> u32 {
    let Ok(token) = u32::try_from(token) else {
        return 0;
    };
    if i64::from(token) <= memcached_store::REALTIME_MAXDELTA {
        return token;
    }
    let process_started = started.saturating_sub(MEMCACHED_START_OFFSET);
    let absolute = if token <= process_started { process_started + 1 } else { token };
    absolute.saturating_sub(now)
}

/// memcached keeps times relative to `process_started`, which it sets 62 seconds before the
/// real start (`time(0) - ITEM_UPDATE_INTERVAL - 2`).
const MEMCACHED_START_OFFSET: u32 = 62;

/// The `t` return flag as memcached 1.6.18 prints it: -1 for no expiry, the seconds left for a
/// live item, and for an item already past its expiry (returned once more by `mg T-1`, or
/// created expired by `ma`) the unsigned 32-bit wrap of its relative exptime minus the
/// relative clock, e.g. `t4294967235`.
fn ttl_left(exptime: u32, now: u32, started: u32) -> i64 {
    if exptime == 0 {
        return -1;
    }
    if exptime > now {
        return i64::from(exptime - now);
    }
    let process_started = started.saturating_sub(MEMCACHED_START_OFFSET);
    let relative_exptime = if exptime <= process_started { 1 } else { exptime - process_started };
    let relative_now = now.saturating_sub(process_started);
    i64::from(relative_exptime.wrapping_sub(relative_now))
}

/// True when flag `first` comes before flag `second` in the request (or `second` is absent).
///
/// memcached 1.6.18 handles meta flags left to right, so the `t` it returns is the TTL as it
/// stood at the `t` token: a `T` (touch) or `N` (vivify) further right is not reflected yet
/// (`mg k t T100` answers the old TTL, `mg k T100 t` the new one).
fn flag_precedes(flags: &MetaFlags<'_>, first: u8, second: u8) -> bool {
    let mut seen_first = false;
    for token in flags.tokens() {
        if token.flag == second {
            return seen_first;
        }
        seen_first |= token.flag == first;
    }
    seen_first
}

/// False when quiet mode (`q`) hides `status` for `command`.
fn shown(flags: &MetaFlags<'_>, status: MetaStatus, command: MetaCommand) -> bool {
    !(flags.quiet() && status.hidden_by_quiet(command))
}

/// Counts a meta command (`cmd_meta`) and decodes its key (base64 with `b`) into `buf`.
fn begin_meta<'k: 'b, 'b>(
    exec: &CommandExecutor,
    key: &MetaKey<'k>,
    buf: &'b mut [u8; KEY_BUFFER_LEN],
) -> &'b [u8] {
    bump(&exec.counters.cmd_meta, 1);
    key.decode(buf)
}

/// Room for the base64 form of the longest key (250 bytes -> 336 characters).
const ENCODED_KEY_LEN: usize = 344;

/// The request as the `k` return flag of a hit must see it.
///
/// memcached 1.6.18 remembers per item whether its key arrived base64-encoded (`ms ... b`,
/// ITEM_KEY_BINARY) and a hit prints the key in that form, whatever form the `mg` used:
/// `ms azQ= 1 b` then `mg k4 k` answers `kazQ= b`; a plain item asked with `mg azQ= b k`
/// answers `kk4`. Misses, `ms`, `md` and `ma` echo the request's own form.
fn request_in_item_key_form<'a>(
    r: &MetaRequest<'a>,
    key: &[u8],
    item_key_binary: bool,
    encoded: &'a mut [u8; ENCODED_KEY_LEN],
) -> MetaRequest<'a> {
    if item_key_binary == r.key.is_base64() {
        return *r;
    }
    if !item_key_binary {
        // Only the form matters to the reply encoder; the key bytes are passed separately.
        return MetaRequest { key: MetaKey::plain(b""), flags: r.flags };
    }
    let mut cursor = &mut encoded[..];
    memcached_codec::base64::encode_key(key, &mut cursor);
    let written = ENCODED_KEY_LEN - cursor.len();
    match MetaKey::base64(&encoded[..written]) {
        Some(binary) => MetaRequest { key: binary, flags: r.flags },
        None => *r,
    }
}

/// The TTL a counter created by `ma N` ends up with: memcached creates it with no expiry and then
/// walks the flags left to right, `N` setting its TTL and `T` overwriting it, so the rightmost
/// of the two wins (`mg k N0 T-1` creates an item that is already gone, `mg k T-1 N0` one that
/// never expires).
fn vivify_exptime(flags: &MetaFlags<'_>) -> Option<i64> {
    let vivify = flags.vivify_ttl()?;
    match flags.ttl() {
        Some(touch) if flag_precedes(flags, b'N', b'T') => Some(i64::from(touch)),
        _ => Some(i64::from(vivify)),
    }
}

/// The order of `T`, `N` and `R` in the request (those absent follow in `NTR` order), for the
/// store, which applies them left to right as memcached does.
fn ttl_flag_order(flags: &MetaFlags<'_>) -> [u8; 3] {
    let mut order = [0u8; 3];
    let mut n = 0;
    for flag in flags.tokens().map(|t| t.flag).chain(*b"NTR") {
        if matches!(flag, b'N' | b'T' | b'R') && !order[..n].contains(&flag) {
            order[n] = flag;
            n += 1;
            if n == order.len() {
                break;
            }
        }
    }
    order
}

/// The absolute exptime as it stands at the `t` token (memcached's left-to-right flag walk):
/// `before` is the item's exptime before this request (0 for an item `N` just created), then
/// every `T` left of `t` sets it, and so does `N` when it created the item.
fn exptime_at_t(flags: &MetaFlags<'_>, before: u32, created: bool, now: u32) -> u32 {
    let mut exptime = before;
    for token in flags.tokens() {
        match token.flag {
            b't' => break,
            b'T' => {
                if let Some(touch) = flags.ttl() {
                    exptime = memcached_store::absolute_exptime(i64::from(touch), now);
                }
            }
            b'N' if created => {
                if let Some(vivify) = flags.vivify_ttl() {
                    exptime = memcached_store::absolute_exptime(i64::from(vivify), now);
                }
            }
            _ => {}
        }
    }
    exptime
}

/// The TTL (protocol value) memcached gives an item `N` creates in a request that fails at an
/// over-long `O`: it creates the item with no expiry and walks the flags left to right, so
/// only the `N` and `T` left of the `O` get to set it.
fn vivify_exptime_before_opaque(flags: &MetaFlags<'_>) -> Option<i64> {
    flags.vivify_ttl()?;
    let mut exptime = 0;
    for token in flags.tokens() {
        match token.flag {
            b'O' => break,
            b'N' => exptime = flags.vivify_ttl().map_or(0, i64::from),
            b'T' => exptime = flags.ttl().map_or(0, i64::from),
            _ => {}
        }
    }
    Some(exptime)
}

/// `mg` with an `O` over 32 bytes. memcached 1.6.18 looks the item up (creating it for `N`),
/// then fails while writing the return flags left to right, and answers only
/// `CLIENT_ERROR opaque token too long`: a `T` left of the `O` has touched the item, no win
/// token was handed out, and the item was bumped only if no flag (`N`, `R`, `T`, `h`, `l`)
/// made memcached delay the bump until after the reply.
fn meta_get_opaque_too_long(
    exec: &mut CommandExecutor,
    key: &[u8],
    flags: &MetaFlags<'_>,
    now: u32,
    out: &mut Vec<u8>,
) -> After {
    let delayed_bump = [b'N', b'R', b'T', b'h', b'l'].iter().any(|&flag| flags.has(flag));
    let opts = MetaGet {
        touch: flags.ttl().filter(|_| flag_precedes(flags, b'T', b'O')).map(i64::from),
        no_bump: delayed_bump || flags.no_lru_bump(),
        vivify: vivify_exptime_before_opaque(flags),
        recache_below: None,
    };
    // The created item's TTL is already final; request order keeps the store from applying
    // the touch to it again.
    let details = MetaGetDetails {
        order: ttl_flag_order(flags),
        withhold_win: true,
        ..MetaGetDetails::default()
    };
    let hit = exec
        .store
        .meta_get_detailed(key, &opts, &details, now, |item| (item.class_id(), item.value().len()));
    if exec.shared.log.active() {
        exec.log_fetch(key, hit);
    }
    exec.shared.prefixes.record(key, PrefixOp::Get(hit.is_some()));
    ErrorKind::OpaqueTooLong.encode(out);
    After::Continue
}

/// `mg <key> <flags>*`.
pub fn meta_get(exec: &mut CommandExecutor, r: &MetaRequest<'_>, out: &mut Vec<u8>) -> After {
    let mut key_buf = [0u8; KEY_BUFFER_LEN];
    let key = begin_meta(exec, &r.key, &mut key_buf);
    let now = exec.now();
    let started = exec.shared.clock.started();
    let flags = &r.flags;
    if flags.check_opaque().is_err() {
        return meta_get_opaque_too_long(exec, key, flags, now, out);
    }
    let opts = MetaGet {
        touch: flags.ttl().map(i64::from),
        no_bump: flags.no_lru_bump(),
        vivify: flags.vivify_ttl().map(i64::from),
        recache_below: flags.recache_ttl().map(|r| recache_threshold(r, now, started)),
    };
    let details = MetaGetDetails { order: ttl_flag_order(flags), ..MetaGetDetails::default() };
    let hit = exec.store.meta_get_detailed(key, &opts, &details, now, |item| {
        let before = if item.created() { 0 } else { item.exptime_before_touch() };
        let ttl = ttl_left(exptime_at_t(flags, before, item.created(), now), now, started);
        let info = MetaItemInfo {
            client_flags: item.flags(),
            cas: item.cas(),
            ttl_left: ttl,
            last_access: u64::from(item.seconds_since_access(now)),
            fetched: item.fetched_before(),
            size: item.value().len(),
            token_sent: item.win_already_sent(),
            stale: item.stale(),
            won: item.win(),
        };
        let value = flags.return_value().then(|| item.value());
        let mut encoded = [0u8; ENCODED_KEY_LEN];
        let reply_request = request_in_item_key_form(r, key, item.key_is_binary(), &mut encoded);
        encode_meta_get_hit(out, &reply_request, key, &info, value);
        (item.class_id(), item.value().len(), item.cas())
    });
    // memcached's reply keeps a reference to the item until the output is flushed.
    let hit = hit.map(|(class, len, cas)| {
        exec.held.hold(key, cas);
        (class, len)
    });
    if exec.shared.log.active() {
        exec.log_fetch(key, hit);
    }
    exec.shared.prefixes.record(key, PrefixOp::Get(hit.is_some()));
    if hit.is_none() && shown(flags, MetaStatus::Miss, MetaCommand::Get) {
        encode_meta_status(out, MetaStatus::Miss, r, key);
    }
    After::Continue
}

/// `ms <key> <datalen> <flags>*` + data block.
pub fn meta_set(exec: &mut CommandExecutor, r: &MetaSetRequest<'_>, out: &mut Vec<u8>) -> After {
    let mut key_buf = [0u8; KEY_BUFFER_LEN];
    let key = begin_meta(exec, &r.key, &mut key_buf);
    let flags = &r.flags;
    let opts = MetaSet {
        mode: match r.mode {
            CodecSetMode::Set => MetaSetMode::Set,
            CodecSetMode::Add => MetaSetMode::Add,
            CodecSetMode::Append => MetaSetMode::Append,
            CodecSetMode::Prepend => MetaSetMode::Prepend,
            CodecSetMode::Replace => MetaSetMode::Replace,
        },
        compare_cas: flags.compare_cas(),
        invalidate: flags.invalidate(),
        explicit_cas: None,
        vivify_on_miss: None,
    };
    exec.shared.prefixes.record(key, PrefixOp::Set);
    let ttl = flags.ttl().map_or(0, i64::from);
    let client_flags = flags.client_flags().unwrap_or(0);
    // memcached marks the new item's key binary when `b` was given, except for append and
    // prepend, whose combined item starts with fresh flags.
    let form = match opts.mode {
        MetaSetMode::Append | MetaSetMode::Prepend => KeyForm::Text,
        _ if r.key.is_base64() => KeyForm::Binary,
        _ => KeyForm::Text,
    };
    let result = exec.store.meta_set_keyed(key, form, r.data, client_flags, ttl, exec.now(), &opts);
    if exec.shared.log.active() {
        exec.log_store(key, "set", logged_status(&result), ttl, r.data.len());
    }
    match result {
        Ok(done) => {
            let status = match done.outcome {
                StoreOutcome::Stored => MetaStatus::Stored,
                StoreOutcome::NotStored => MetaStatus::NotStored,
                StoreOutcome::Exists => MetaStatus::Exists,
                StoreOutcome::NotFound => MetaStatus::NotFound,
            };
            if shown(flags, status, MetaCommand::Set) {
                encode_meta_set_result(out, status, r, key, done.cas);
            }
        }
        Err(e) => store_error_kind(e).encode(out),
    }
    After::Continue
}

/// `md <key> <flags>*`.
pub fn meta_delete(exec: &mut CommandExecutor, r: &MetaRequest<'_>, out: &mut Vec<u8>) -> After {
    let mut key_buf = [0u8; KEY_BUFFER_LEN];
    let key = begin_meta(exec, &r.key, &mut key_buf);
    let flags = &r.flags;
    let opts = MetaDelete {
        compare_cas: flags.compare_cas(),
        invalidate: flags.invalidate(),
        new_ttl: flags.ttl().map(i64::from),
        explicit_cas: None,
    };
    exec.shared.prefixes.record(key, PrefixOp::Delete);
    let status = match exec.store.meta_delete(key, exec.now(), &opts) {
        DeleteOutcome::Deleted => MetaStatus::Stored,
        DeleteOutcome::NotFound => MetaStatus::NotFound,
        DeleteOutcome::Exists => MetaStatus::Exists,
    };
    if shown(flags, status, MetaCommand::Delete) {
        encode_meta_status(out, status, r, key);
    }
    After::Continue
}

/// `ma <key> <flags>*`.
pub fn meta_arithmetic(
    exec: &mut CommandExecutor,
    r: &MetaArithmeticRequest<'_>,
    out: &mut Vec<u8>,
) -> After {
    let mut key_buf = [0u8; KEY_BUFFER_LEN];
    let key = begin_meta(exec, &r.key, &mut key_buf);
    let flags = &r.flags;
    let now = exec.now();
    // An over-long O: memcached runs the arithmetic, applies the T/N left of the O while
    // writing the return flags, then answers only the opaque error (a non-numeric value still
    // answers its own error).
    let opaque_too_long = flags.check_opaque().is_err();
    // A `t` left of `T` reports the TTL before the touch: read it first (memcached handles the
    // flags left to right; the store applies `T` as memcached does, lost when the result
    // outgrows the item).
    let t_before_touch =
        !opaque_too_long && flags.ttl().is_some() && flag_precedes(flags, b't', b'T');
    let exptime_before =
        if t_before_touch { exec.store.peek(key, now, |i| i.exptime()) } else { None };
    let mut opts = MetaArith {
        op: match r.mode {
            MetaArithmeticMode::Incr => ArithOp::Incr,
            MetaArithmeticMode::Decr => ArithOp::Decr,
        },
        delta: r.delta(),
        compare_cas: flags.compare_cas(),
        vivify: vivify_exptime(flags),
        initial: r.initial(),
        new_ttl: flags.ttl().map(i64::from),
        held_by_reply: exec.held.held_cas(key),
    };
    if opaque_too_long {
        opts.vivify = vivify_exptime_before_opaque(flags);
        opts.new_ttl = flags.ttl().filter(|_| flag_precedes(flags, b'T', b'O')).map(i64::from);
    }
    let as_request = MetaRequest { key: r.key, flags: r.flags };
    let result = exec.store.meta_arith(key, &opts, now);
    if opaque_too_long && result.is_ok() {
        ErrorKind::OpaqueTooLong.encode(out);
        return After::Continue;
    }
    let status = match result {
        Ok(ArithOutcome::Value { value, cas, exptime, created }) => {
            let status = if flags.return_value() { MetaStatus::Value } else { MetaStatus::Stored };
            // memcached 1.6.18 only applies `q` to a plain hit: an item created by `N` is
            // always reported.
            let hidden =
                flags.quiet() && !created && status.hidden_by_quiet(MetaCommand::Arithmetic);
            if !hidden {
                // On a counter just created, `t` reports the TTL as the `T`/`N` left of it
                // set it (none: `t-1`).
                let exptime = if created {
                    exptime_at_t(flags, 0, true, now)
                } else {
                    exptime_before.unwrap_or(exptime)
                };
                let ttl = ttl_left(exptime, now, exec.shared.clock.started());
                encode_meta_arithmetic_hit(out, r, key, value, cas, ttl);
            }
            return After::Continue;
        }
        Ok(ArithOutcome::NotFound) => MetaStatus::NotFound,
        Ok(ArithOutcome::NotStored) => MetaStatus::NotStored,
        Ok(ArithOutcome::Exists) => MetaStatus::Exists,
        Err(e) => {
            let kind = store_error_kind(e);
            if kind == ErrorKind::OutOfMemoryStoring {
                ErrorKind::OutOfMemory.encode(out);
            } else {
                kind.encode(out);
            }
            return After::Continue;
        }
    };
    if shown(flags, status, MetaCommand::Arithmetic) {
        encode_meta_status(out, status, &as_request, key);
    }
    After::Continue
}

/// `mn`: replies `MN`.
pub fn meta_noop(exec: &mut CommandExecutor, out: &mut Vec<u8>) -> After {
    bump(&exec.counters.cmd_meta, 1);
    // memcached flushes its output at `mn`, freeing the items earlier replies held.
    exec.held.release_all();
    encode_meta_noop_reply(out);
    After::Continue
}

/// `me <key> [b]`: the item's metadata, or `EN`.
pub fn meta_debug(
    exec: &mut CommandExecutor,
    r: &MetaDebugRequest<'_>,
    out: &mut Vec<u8>,
) -> After {
    let mut key_buf = [0u8; KEY_BUFFER_LEN];
    let key = begin_meta(exec, &r.key, &mut key_buf);
    let now = exec.now();
    let started = exec.shared.clock.started();
    // memcached prints the key base64-encoded when the item was stored with a binary key,
    // whatever form the `me` request used.
    let found = exec.store.peek(key, now, |item| {
        encode_meta_debug_reply(
            out,
            key,
            item.key_is_binary(),
            ttl_left(item.exptime(), now, started),
            u64::from(item.seconds_since_access(now)),
            item.cas(),
            item.fetched_before(),
            item.class_id(),
            usize::try_from(item.item_size()).unwrap_or(0),
        );
    });
    if found.is_none() {
        out.extend_from_slice(b"EN\r\n");
    }
    After::Continue
}

#[cfg(test)]
mod tests {
    use memcached_codec::{decode_request, Limits, Request};

    use super::{recache_threshold, ttl_flag_order, ttl_left};

    #[test]
    fn ttl_flags_keep_request_order() {
        let order = |line: &[u8]| match decode_request(line, &Limits::default()) {
            Ok(Some((Request::MetaGet(r), _))) => ttl_flag_order(&r.flags),
            other => panic!("{other:?}"),
        };
        assert_eq!(&order(b"mg k v\r\n"), b"NTR");
        assert_eq!(&order(b"mg k R30 t T10\r\n"), b"RTN");
        assert_eq!(&order(b"mg k T10 N5 v R1\r\n"), b"TNR");
        assert_eq!(&order(b"mg k T10\r\n"), b"TNR");
    }

    #[test]
    fn recache_tokens_convert_like_exptimes() {
        let started = 1_000_000_000;
        let now = started + 10;
        assert_eq!(recache_threshold(30, now, started), 30);
        assert_eq!(recache_threshold(-5, now, started), 0);
        // Absolute time in the past (before the start): nothing wins.
        assert_eq!(recache_threshold(2_592_001, now, started), 0);
        // Absolute time 100 s ahead.
        assert_eq!(recache_threshold(1_000_000_110, now, started), 100);
    }

    #[test]
    fn ttl_flag_matches_memcached_arithmetic() {
        let started = 1_000_000;
        assert_eq!(ttl_left(0, started + 5, started), -1);
        assert_eq!(ttl_left(started + 100, started + 5, started), 95);
        // Expired immediately (exptime stored as 1) right after start: 1 - 62 wrapped.
        assert_eq!(ttl_left(1, started, started), 4_294_967_235);
        // Expired 3 s ago, 10 s after start: relative (62 + 7) - (62 + 10) wrapped.
        assert_eq!(ttl_left(started + 7, started + 10, started), 4_294_967_293);
    }
}
