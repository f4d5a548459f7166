//! The item layout inside a slab chunk, and [`ItemRef`], the read-only view handed to callers.
//!
//! Every item lives in one chunk. A 14-byte fixed header is followed by the optional CAS (only
//! when CAS is enabled, i.e. not `-C`), the optional client flags (only when non-zero, as
//! memcached 1.6 does), the key and the value. No pointers: the hash index refers to the chunk
//! with a 32-bit [`ChunkRef`](crate::slab::ChunkRef), and the LRU is a CLOCK whose reference bit
//! lives in the `bits` byte, so the header carries no links at all.
//!
//! ```text
//!  byte  0        1        2 ........ 5  6 ........ 9  10 ....... 13  14 ...... 21  [22..25]  key  value
//!       +--------+--------+------------+--------------+--------------+-------------+---------+----+------+
//!       | bits   | klen   | vlen (u32) | exptime (u32)| atime (u32)  | cas (u64)   | flags   |    |      |
//!       +--------+--------+------------+--------------+--------------+-------------+---------+----+------+
//!                                                                     only if CAS    only if
//!                                                                     enabled        flags != 0
//!  bits: 7      6           5          4            3       2         1     0
//!        -  KEY_BINARY  HAS_FLAGS  TOKEN_SENT   STALE   FETCHED   REF   LIVE
//! ```
//!
//! All integers are little-endian and read with `from_le_bytes`, so fields need no alignment.
//! `exptime` is an absolute Unix time (0 = never); `atime` is the last access time. A free
//! chunk has `bits == 0` and keeps the next free chunk reference in bytes 4..8.

/// The fixed header size in bytes.
pub(crate) const HEADER_BASE: usize = 14;
/// The fixed header rounded up to 8 bytes; `-n` is counted on top of this.
pub(crate) const HEADER_BASE_ROUNDED: usize = 16;
/// Bytes of the CAS field when CAS is enabled.
pub(crate) const CAS_LEN: usize = 8;
/// Bytes of the client flags field when flags are non-zero.
pub(crate) const FLAGS_LEN: usize = 4;
/// Longest key memcached accepts.
pub const KEY_MAX_LEN: usize = 250;

pub(crate) const OFF_BITS: usize = 0;
pub(crate) const OFF_KLEN: usize = 1;
pub(crate) const OFF_VLEN: usize = 2;
pub(crate) const OFF_EXPTIME: usize = 6;
pub(crate) const OFF_ATIME: usize = 10;
pub(crate) const OFF_CAS: usize = 14;
/// Offset of the free-list link in a free chunk.
pub(crate) const OFF_FREE_NEXT: usize = 4;

/// Item state bits (byte 0 of the header).
pub(crate) mod bits {
    pub const LIVE: u8 = 1;
    pub const REF: u8 = 1 << 1;
    pub const FETCHED: u8 = 1 << 2;
    pub const STALE: u8 = 1 << 3;
    pub const TOKEN_SENT: u8 = 1 << 4;
    pub const HAS_FLAGS: u8 = 1 << 5;
    /// The key was sent base64-encoded (meta `b`): memcached returns it encoded again.
    pub const KEY_BINARY: u8 = 1 << 6;
}

/// Total bytes an item needs (header + key + value).
#[inline]
pub(crate) fn item_total_len(cas_enabled: bool, flags: u32, klen: usize, vlen: usize) -> usize {
    HEADER_BASE
        + if cas_enabled { CAS_LEN } else { 0 }
        + if flags != 0 { FLAGS_LEN } else { 0 }
        + klen
        + vlen
}

#[inline]
pub(crate) fn rd_u32(b: &[u8], off: usize) -> u32 {
    let mut a = [0u8; 4];
    a.copy_from_slice(&b[off..off + 4]);
    u32::from_le_bytes(a)
}

#[inline]
pub(crate) fn wr_u32(b: &mut [u8], off: usize, v: u32) {
    b[off..off + 4].copy_from_slice(&v.to_le_bytes());
}

#[inline]
fn rd_u64(b: &[u8], off: usize) -> u64 {
    let mut a = [0u8; 8];
    a.copy_from_slice(&b[off..off + 8]);
    u64::from_le_bytes(a)
}

/// A parsed view of an item's bytes inside its chunk.
#[derive(Clone, Copy)]
pub(crate) struct RawItem<'a> {
    pub bytes: &'a [u8],
    pub cas_enabled: bool,
}

impl<'a> RawItem<'a> {
    #[inline]
    pub fn new(bytes: &'a [u8], cas_enabled: bool) -> Self {
        RawItem { bytes, cas_enabled }
    }
    #[inline]
    pub fn bits(&self) -> u8 {
        self.bytes[OFF_BITS]
    }
    #[inline]
    pub fn is_live(&self) -> bool {
        self.bits() & bits::LIVE != 0
    }
    #[inline]
    pub fn klen(&self) -> usize {
        self.bytes[OFF_KLEN] as usize
    }
    #[inline]
    pub fn vlen(&self) -> usize {
        rd_u32(self.bytes, OFF_VLEN) as usize
    }
    #[inline]
    pub fn exptime(&self) -> u32 {
        rd_u32(self.bytes, OFF_EXPTIME)
    }
    #[inline]
    pub fn atime(&self) -> u32 {
        rd_u32(self.bytes, OFF_ATIME)
    }
    #[inline]
    pub fn cas(&self) -> u64 {
        if self.cas_enabled {
            rd_u64(self.bytes, OFF_CAS)
        } else {
            0
        }
    }
    #[inline]
    fn flags_off(&self) -> usize {
        OFF_CAS + if self.cas_enabled { CAS_LEN } else { 0 }
    }
    #[inline]
    pub fn flags(&self) -> u32 {
        if self.bits() & bits::HAS_FLAGS != 0 {
            rd_u32(self.bytes, self.flags_off())
        } else {
            0
        }
    }
    #[inline]
    fn key_off(&self) -> usize {
        self.flags_off() + if self.bits() & bits::HAS_FLAGS != 0 { FLAGS_LEN } else { 0 }
    }
    #[inline]
    pub fn key(&self) -> &'a [u8] {
        let o = self.key_off();
        &self.bytes[o..o + self.klen()]
    }
    #[inline]
    pub fn value(&self) -> &'a [u8] {
        let o = self.key_off() + self.klen();
        &self.bytes[o..o + self.vlen()]
    }
    /// Offset of the value inside the chunk.
    #[inline]
    pub fn value_off(&self) -> usize {
        self.key_off() + self.klen()
    }
    #[inline]
    pub fn total_len(&self) -> usize {
        self.key_off() + self.klen() + self.vlen()
    }
    /// Expired (`exptime` passed) at `now`.
    #[inline]
    pub fn is_expired(&self, now: u32) -> bool {
        let e = self.exptime();
        e != 0 && e <= now
    }
}

/// Writes a complete item header plus key into `chunk`; returns the value offset.
/// The caller writes the value bytes at the returned offset.
#[allow(clippy::too_many_arguments)]
#[inline]
pub(crate) fn write_header(
    chunk: &mut [u8],
    cas_enabled: bool,
    state_bits: u8,
    key: &[u8],
    vlen: usize,
    flags: u32,
    exptime: u32,
    atime: u32,
    cas: u64,
) -> usize {
    let mut b = (state_bits | bits::LIVE) & !bits::HAS_FLAGS;
    if flags != 0 {
        b |= bits::HAS_FLAGS;
    }
    chunk[OFF_BITS] = b;
    chunk[OFF_KLEN] = key.len() as u8;
    wr_u32(chunk, OFF_VLEN, vlen as u32);
    wr_u32(chunk, OFF_EXPTIME, exptime);
    wr_u32(chunk, OFF_ATIME, atime);
    let mut off = OFF_CAS;
    if cas_enabled {
        chunk[off..off + 8].copy_from_slice(&cas.to_le_bytes());
        off += CAS_LEN;
    }
    if flags != 0 {
        wr_u32(chunk, off, flags);
        off += FLAGS_LEN;
    }
    chunk[off..off + key.len()].copy_from_slice(key);
    off + key.len()
}

#[inline]
pub(crate) fn set_cas(chunk: &mut [u8], cas_enabled: bool, cas: u64) {
    if cas_enabled {
        chunk[OFF_CAS..OFF_CAS + 8].copy_from_slice(&cas.to_le_bytes());
    }
}

/// A borrowed, read-only view of a live item, valid inside the callback of a read.
///
/// The metadata reported (`last_access`, `fetched_before`) is the state *before* this access,
/// which is what meta get's `l` and `h` flags return.
#[derive(Debug, Clone, Copy)]
pub struct ItemRef<'a> {
    pub(crate) key: &'a [u8],
    pub(crate) value: &'a [u8],
    pub(crate) flags: u32,
    pub(crate) cas: u64,
    pub(crate) exptime: u32,
    pub(crate) exptime_before_touch: u32,
    pub(crate) last_access: u32,
    pub(crate) fetched: bool,
    pub(crate) stale: bool,
    pub(crate) win: bool,
    pub(crate) win_already_sent: bool,
    pub(crate) created: bool,
    pub(crate) key_binary: bool,
    pub(crate) class_id: u32,
    pub(crate) item_size: u32,
}

impl<'a> ItemRef<'a> {
    pub(crate) fn from_raw(raw: RawItem<'a>, class_id: u32) -> Self {
        let b = raw.bits();
        ItemRef {
            key: raw.key(),
            value: raw.value(),
            flags: raw.flags(),
            cas: raw.cas(),
            exptime: raw.exptime(),
            exptime_before_touch: raw.exptime(),
            last_access: raw.atime(),
            fetched: b & bits::FETCHED != 0,
            stale: b & bits::STALE != 0,
            win: false,
            win_already_sent: false,
            created: false,
            key_binary: b & bits::KEY_BINARY != 0,
            class_id,
            item_size: raw.total_len() as u32,
        }
    }
    /// The key.
    pub fn key(&self) -> &'a [u8] {
        self.key
    }
    /// The value (data block), without a trailing `\r\n`.
    pub fn value(&self) -> &'a [u8] {
        self.value
    }
    /// The 32-bit client flags.
    pub fn flags(&self) -> u32 {
        self.flags
    }
    /// The CAS unique (0 when CAS is disabled with `-C`).
    pub fn cas(&self) -> u64 {
        self.cas
    }
    /// Absolute expiry time in Unix seconds; 0 = never expires.
    pub fn exptime(&self) -> u32 {
        self.exptime
    }
    /// The absolute expiry before this request's touch (`mg T`, gat); equal to
    /// [`ItemRef::exptime`] when the request does not touch. memcached handles meta flags left
    /// to right, so a `t` left of `T` reports this one.
    pub fn exptime_before_touch(&self) -> u32 {
        self.exptime_before_touch
    }
    /// Seconds of life left at `now`: -1 when the item never expires (meta `t` flag).
    pub fn ttl(&self, now: u32) -> i64 {
        if self.exptime == 0 {
            -1
        } else {
            i64::from(self.exptime) - i64::from(now)
        }
    }
    /// Unix time of the last access before this one.
    pub fn last_access(&self) -> u32 {
        self.last_access
    }
    /// Seconds since the last access before this one (meta `l` flag).
    pub fn seconds_since_access(&self, now: u32) -> u32 {
        now.saturating_sub(self.last_access)
    }
    /// Whether the item had been fetched before this access (meta `h` flag).
    pub fn fetched_before(&self) -> bool {
        self.fetched
    }
    /// The item was invalidated (meta `I`): the response gets `X`.
    pub fn stale(&self) -> bool {
        self.stale
    }
    /// This client won the right to recache the item (meta `W`).
    pub fn win(&self) -> bool {
        self.win
    }
    /// Another client already won the recache (meta `Z`).
    pub fn win_already_sent(&self) -> bool {
        self.win_already_sent
    }
    /// The item was just created by meta get's `N` (autovivify).
    pub fn created(&self) -> bool {
        self.created
    }
    /// The key was stored through a meta command with `b` (base64): memcached then returns the
    /// key base64-encoded with `b` in every meta reply (`k` flag), whatever the request used.
    pub fn key_is_binary(&self) -> bool {
        self.key_binary
    }
    /// The slab class the item lives in (1-based, as `stats slabs` numbers them).
    pub fn class_id(&self) -> u32 {
        self.class_id
    }
    /// The item's total size in memory (header + key + value), as `me`/metadump report `size`.
    pub fn item_size(&self) -> u32 {
        self.item_size
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_round_trips_with_and_without_optional_fields() {
        for (cas_on, flags) in [(true, 0u32), (true, 7), (false, 0), (false, 0xdead_beef)] {
            let mut chunk = vec![0u8; 200];
            let total = item_total_len(cas_on, flags, 3, 5);
            let off =
                write_header(&mut chunk, cas_on, bits::FETCHED, b"key", 5, flags, 99, 42, 1234);
            chunk[off..off + 5].copy_from_slice(b"value");
            let raw = RawItem::new(&chunk, cas_on);
            assert!(raw.is_live());
            assert_eq!(raw.key(), b"key");
            assert_eq!(raw.value(), b"value");
            assert_eq!(raw.flags(), flags);
            assert_eq!(raw.cas(), if cas_on { 1234 } else { 0 });
            assert_eq!(raw.exptime(), 99);
            assert_eq!(raw.atime(), 42);
            assert_eq!(raw.total_len(), total);
            assert_eq!(raw.bits() & bits::FETCHED, bits::FETCHED);
        }
        // The arithmetic of docs/STORAGE.md: 10-byte key, 100-byte value, CAS on, flags set.
        assert_eq!(item_total_len(true, 1, 10, 100), 136);
        assert_eq!(item_total_len(true, 0, 10, 100), 132);
    }
}
