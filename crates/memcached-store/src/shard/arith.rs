//! incr/decr/ma: parsing a value as memcached does, the arithmetic, and writing the result
//! (in place, space-padded, when it is not longer than the old value).

use super::{ArithArgs, Ctx, Mode, Shard, StoreArgs};
use crate::feed::ChangeOp;
use crate::item::{self, OFF_ATIME, OFF_EXPTIME, OFF_VLEN};
use crate::ops::{ArithOp, ArithOutcome, SetResult, StoreError, StoreOutcome};

impl Shard {
    pub fn arith(
        &mut self,
        ctx: &Ctx<'_>,
        key: &[u8],
        hash: u64,
        a: &ArithArgs,
    ) -> Result<ArithOutcome, StoreError> {
        let incr = a.op == ArithOp::Incr;
        let Some((_, r)) = self.lookup(key, hash, ctx) else {
            // memcached 1.6.18 counts no miss when N creates the item.
            let Some(e) = a.vivify else {
                if incr {
                    self.c.incr_misses += 1;
                } else {
                    self.c.decr_misses += 1;
                }
                return Ok(ArithOutcome::NotFound);
            };
            let mut buf = [0u8; 20];
            let digits = format_u64(a.initial, &mut buf);
            let args = StoreArgs::vivify(key, digits, e, a.binary_key);
            return match self.store_inner(ctx, hash, &args) {
                Ok(SetResult { outcome: StoreOutcome::Stored, cas }) => {
                    Ok(ArithOutcome::Value { value: a.initial, cas, exptime: e, created: true })
                }
                _ => Ok(ArithOutcome::NotStored),
            };
        };
        let raw = self.raw(r);
        // memcached's order: an empty value is not numeric, then a non-zero CAS must match,
        // then the value must parse.
        if raw.vlen() == 0 {
            return Err(StoreError::NonNumeric);
        }
        if let Some(c) = a.compare_cas.filter(|&c| c != 0) {
            if c != raw.cas() {
                return Ok(ArithOutcome::Exists);
            }
        }
        let Some(old) = parse_counter(raw.value()) else { return Err(StoreError::NonNumeric) };
        let value = if incr { old.wrapping_add(a.delta) } else { old.saturating_sub(a.delta) };
        let old_exptime = raw.exptime();
        let held = a.held_by_reply == Some(raw.cas());
        let exptime = a.new_ttl.unwrap_or(old_exptime);
        let flags = raw.flags();
        let old_len = raw.vlen();
        let value_off = raw.value_off();
        let class = self.mem.class_of(r);
        if incr {
            self.c.incr_hits += 1;
            self.mem.classes[class].counters.incr_hits += 1;
        } else {
            self.c.decr_hits += 1;
            self.mem.classes[class].counters.decr_hits += 1;
        }
        let mut buf = [0u8; 20];
        let digits = format_u64(value, &mut buf);
        let op = if incr { ChangeOp::Incr } else { ChangeOp::Decr };
        if digits.len() <= old_len && !held {
            // In place, padded with spaces to the old length (what memcached does).
            let cas = self.take_cas();
            let ce = self.cas_enabled;
            let chunk = self.mem.chunk_mut(r);
            chunk[value_off..value_off + digits.len()].copy_from_slice(digits);
            chunk[value_off + digits.len()..value_off + old_len].fill(b' ');
            item::set_cas(chunk, ce, cas);
            item::wr_u32(chunk, OFF_ATIME, ctx.now);
            item::wr_u32(chunk, OFF_EXPTIME, exptime);
            // In place the item keeps its bits (stale, win token sent, binary key), as in
            // memcached's do_add_delta.
            debug_assert_eq!(item::rd_u32(chunk, OFF_VLEN) as usize, old_len);
            self.publish(ctx, op, Some(r), key);
            return Ok(ArithOutcome::Value { value, cas, exptime, created: false });
        }
        let args = StoreArgs {
            key,
            value: digits,
            flags,
            // memcached 1.6.18's ma applies `T` to the item do_add_delta returns, which is the
            // old, replaced one when the result outgrew it: the new item keeps the old TTL
            // (`ma n T100 D1000` on "5" answers t100, the next `mg n t` says t-1).
            exptime: old_exptime,
            // Replace: a failed allocation keeps the old value (memcached's do_add_delta).
            mode: Mode::Replace,
            compare_cas: None,
            invalidate: false,
            explicit_cas: None,
            vivify_on_miss: None,
            op,
            // A longer result makes a new item with fresh flags: memcached's do_item_alloc
            // does not carry ITEM_KEY_BINARY over.
            binary_key: false,
        };
        let res = self.store_inner(ctx, hash, &args)?;
        Ok(ArithOutcome::Value { value, cas: res.cas, exptime, created: false })
    }
}

/// Parses an item value as memcached's `safe_strtoull` does on `<data>\r\n`: optional leading
/// whitespace, an optional sign, decimal digits, then whitespace or the end. No digits, a
/// negative number or an overflow is not numeric.
pub(crate) fn parse_counter(v: &[u8]) -> Option<u64> {
    if v.is_empty() {
        return None;
    }
    let is_space = |b: u8| matches!(b, b' ' | b'\t' | b'\n' | 0x0b | 0x0c | b'\r');
    let mut i = 0;
    while i < v.len() && is_space(v[i]) {
        i += 1;
    }
    let mut neg = false;
    if i < v.len() && (v[i] == b'+' || v[i] == b'-') {
        neg = v[i] == b'-';
        i += 1;
    }
    let start = i;
    let mut n: u64 = 0;
    while i < v.len() && v[i].is_ascii_digit() {
        n = n.checked_mul(10)?.checked_add(u64::from(v[i] - b'0'))?;
        i += 1;
    }
    if i == start {
        // No digits: strtoull leaves endptr at the start and safe_strtoull refuses.
        return None;
    }
    if i < v.len() && !is_space(v[i]) {
        return None;
    }
    let n = if neg { n.wrapping_neg() } else { n };
    if neg && (n as i64) < 0 {
        return None;
    }
    Some(n)
}

/// Decimal digits of `v` in `buf`.
pub(crate) fn format_u64(mut v: u64, buf: &mut [u8; 20]) -> &[u8] {
    let mut i = buf.len();
    loop {
        i -= 1;
        buf[i] = b'0' + (v % 10) as u8;
        v /= 10;
        if v == 0 {
            break;
        }
    }
    &buf[i..]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counter_parsing_follows_safe_strtoull() {
        assert_eq!(parse_counter(b"42"), Some(42));
        assert_eq!(parse_counter(b"  42"), Some(42));
        assert_eq!(parse_counter(b"5 "), Some(5));
        assert_eq!(parse_counter(b"+7"), Some(7));
        assert_eq!(parse_counter(b"18446744073709551615"), Some(u64::MAX));
        assert_eq!(parse_counter(b"18446744073709551616"), None);
        assert_eq!(parse_counter(b"-5"), None);
        assert_eq!(parse_counter(b"-0"), Some(0));
        assert_eq!(parse_counter(b"12abc"), None);
        assert_eq!(parse_counter(b"abc"), None);
        assert_eq!(parse_counter(b""), None);
        assert_eq!(parse_counter(b"  "), None);
    }

    #[test]
    fn formats_numbers() {
        let mut b = [0u8; 20];
        assert_eq!(format_u64(0, &mut b), b"0");
        assert_eq!(format_u64(u64::MAX, &mut b), b"18446744073709551615");
    }
}
