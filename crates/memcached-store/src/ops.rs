//! Arguments and outcomes of the store operations, and memcached's exptime rules.

use thiserror::Error;

/// Relative exptimes up to 30 days; larger values are absolute Unix times (memcached's
/// `REALTIME_MAXDELTA`).
pub const REALTIME_MAXDELTA: i64 = 60 * 60 * 24 * 30;

/// Converts a protocol exptime to an absolute Unix time as memcached does:
///
/// - `0` → 0 (never expires);
/// - negative → already expired;
/// - `1..=2592000` (30 days) → `now + exptime`;
/// - larger → an absolute Unix time (in the past = already expired).
pub fn absolute_exptime(exptime: i64, now: u32) -> u32 {
    if exptime == 0 {
        0
    } else if exptime < 0 {
        1
    } else if exptime <= REALTIME_MAXDELTA {
        u32::try_from(i64::from(now) + exptime).unwrap_or(u32::MAX).max(1)
    } else {
        u32::try_from(exptime).unwrap_or(u32::MAX)
    }
}

/// How the client sent a key: plain text, or base64 (meta `b`). memcached remembers a binary
/// key per item and returns it base64-encoded in meta replies.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum KeyForm {
    /// A plain text key.
    #[default]
    Text,
    /// The key arrived base64-encoded (`b`); the store holds the decoded bytes.
    Binary,
}

/// How a classic storage command treats an existing item.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SetMode {
    /// `set`: always store.
    Set,
    /// `add`: store only if the key is missing.
    Add,
    /// `replace`: store only if the key exists.
    Replace,
    /// `append`: add the data after the existing value (flags and exptime are ignored).
    Append,
    /// `prepend`: add the data before the existing value (flags and exptime are ignored).
    Prepend,
    /// `cas <unique>`: store only if the item's CAS still equals this value.
    Cas(u64),
}

/// What a storage command did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StoreOutcome {
    /// `STORED` / `HD`.
    Stored,
    /// `NOT_STORED` / `NS`.
    NotStored,
    /// `EXISTS` / `EX`: the CAS did not match.
    Exists,
    /// `NOT_FOUND` / `NF`: cas on a missing key.
    NotFound,
}

/// Outcome plus the CAS of the stored item (0 when not stored or CAS is off).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SetResult {
    /// What happened.
    pub outcome: StoreOutcome,
    /// The new item's CAS when stored.
    pub cas: u64,
}

/// Errors that become `SERVER_ERROR` / `CLIENT_ERROR` lines.
#[derive(Debug, Error, Clone, Copy, PartialEq, Eq)]
pub enum StoreError {
    /// `SERVER_ERROR object too large for cache`.
    #[error("object too large for cache")]
    TooLarge,
    /// `SERVER_ERROR out of memory storing object`.
    #[error("out of memory storing object")]
    OutOfMemory,
    /// `CLIENT_ERROR cannot increment or decrement non-numeric value`.
    #[error("cannot increment or decrement non-numeric value")]
    NonNumeric,
    /// The key is empty or longer than 250 bytes (the server normally rejects it first).
    #[error("bad key")]
    BadKey,
}

/// The ms mode token (`M`): which classic command the meta set behaves like.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum MetaSetMode {
    /// `MS` (default).
    #[default]
    Set,
    /// `ME`: add.
    Add,
    /// `MR`: replace.
    Replace,
    /// `MA`: append.
    Append,
    /// `MP`: prepend.
    Prepend,
}

/// Options of a meta set (`ms`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct MetaSet {
    /// `M(token)`.
    pub mode: MetaSetMode,
    /// `C(token)`: compare the CAS first.
    pub compare_cas: Option<u64>,
    /// `I`: with `C`, an older CAS is accepted; the item is stored but marked stale.
    pub invalidate: bool,
    /// `E(token)` (1.6.19+): use this as the new CAS.
    pub explicit_cas: Option<u64>,
    /// `N(token)` (1.6.19+): in append/prepend mode, create the item on a miss with this TTL.
    pub vivify_on_miss: Option<i64>,
}

/// Options of a meta get (`mg`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct MetaGet {
    /// `T(token)`: update the TTL (protocol exptime).
    pub touch: Option<i64>,
    /// `u`: don't bump the item, don't update its access time or fetched flag.
    pub no_bump: bool,
    /// `N(token)`: on a miss create an empty item with this TTL; the caller wins (`W`).
    pub vivify: Option<i64>,
    /// `R(token)`: win the recache when the TTL left is below this many seconds.
    pub recache_below: Option<u32>,
}

/// Details of an `mg` request beyond [`MetaGet`] (see [`Store::meta_get_detailed`](crate::Store::meta_get_detailed)).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MetaGetDetails {
    /// `b`: the key arrived base64-encoded.
    pub key_form: KeyForm,
    /// The order in which `T`, `N` and `R` appeared in the request, e.g. `*b"TRN"`: memcached
    /// 1.6.18 applies them left to right (`T30 N10` leaves a created item with TTL 10, `N10 T30`
    /// with 30; `T-1 R..` wins the recache on the new TTL, `R.. T-1` on the old one). Default
    /// `*b"NTR"`.
    pub order: [u8; 3],
    /// The request fails after the lookup (memcached 1.6.18 checks an over-long `O` while
    /// writing the reply): no win token is handed out, neither for a stale or recache win nor
    /// for an item `N` creates, so the next request can still win.
    pub withhold_win: bool,
}

impl Default for MetaGetDetails {
    fn default() -> Self {
        MetaGetDetails { key_form: KeyForm::Text, order: *b"NTR", withhold_win: false }
    }
}

/// What a delete did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeleteOutcome {
    /// `DELETED` / `HD`.
    Deleted,
    /// `NOT_FOUND` / `NF`.
    NotFound,
    /// `EX`: meta delete's CAS did not match.
    Exists,
}

/// Options of a meta delete (`md`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct MetaDelete {
    /// `C(token)`.
    pub compare_cas: Option<u64>,
    /// `I`: mark the item stale and give it a new CAS instead of removing it.
    pub invalidate: bool,
    /// `T(token)`: new TTL (only with `I`).
    pub new_ttl: Option<i64>,
    /// `E(token)` (1.6.19+): the CAS to give an invalidated item.
    pub explicit_cas: Option<u64>,
}

/// What a touch did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TouchOutcome {
    /// `TOUCHED`.
    Touched,
    /// `NOT_FOUND`.
    NotFound,
}

/// incr or decr.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ArithOp {
    /// Add, wrapping at 2^64.
    #[default]
    Incr,
    /// Subtract, stopping at 0.
    Decr,
}

/// What an incr/decr did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ArithOutcome {
    /// `NOT_FOUND` / `NF`.
    NotFound,
    /// `EX`: meta arithmetic's CAS did not match.
    Exists,
    /// `NS`: meta arithmetic could not create the item.
    NotStored,
    /// The new value.
    Value {
        /// The number after the operation.
        value: u64,
        /// The item's new CAS.
        cas: u64,
        /// The item's absolute exptime (0 = never), for ma's `t` flag.
        exptime: u32,
        /// The item was created by `N` (autovivify).
        created: bool,
    },
}

/// Options of a meta arithmetic (`ma`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MetaArith {
    /// `M(token)`.
    pub op: ArithOp,
    /// `D(token)`, default 1.
    pub delta: u64,
    /// `C(token)`.
    pub compare_cas: Option<u64>,
    /// `N(token)`: create on a miss with this TTL.
    pub vivify: Option<i64>,
    /// `J(token)`: the value of a created item (default 0).
    pub initial: u64,
    /// `T(token)`: TTL to set on success.
    pub new_ttl: Option<i64>,
    /// The CAS of an item a reply not yet sent still holds (memcached 1.6.18 keeps a
    /// reference per `mg` reply until it flushes its output). memcached rewrites a counter in
    /// place only when nobody else holds the item; when this matches the item's CAS, the
    /// result goes to a new item (unpadded, fresh flags) even if it would fit.
    pub held_by_reply: Option<u64>,
}

impl Default for MetaArith {
    fn default() -> Self {
        MetaArith {
            op: ArithOp::Incr,
            delta: 1,
            compare_cas: None,
            vivify: None,
            initial: 0,
            new_ttl: None,
            held_by_reply: None,
        }
    }
}

/// Why `slabs reassign` refused (memcached's reply words).
#[derive(Debug, Error, Clone, Copy, PartialEq, Eq)]
pub enum ReassignError {
    /// `BADCLASS invalid src or dst class id`.
    #[error("BADCLASS invalid src or dst class id")]
    BadClass,
    /// `NOSPARE source class has no spare pages`.
    #[error("NOSPARE source class has no spare pages")]
    NoSpare,
    /// `SAME src and dst class are identical`.
    #[error("SAME src and dst class are identical")]
    Same,
    /// `BUSY currently processing reassign request`: page moves are paused
    /// ([`Store::pause_page_moves`](crate::Store::pause_page_moves)).
    #[error("BUSY currently processing reassign request")]
    Busy,
}

/// One page moved by `slabs reassign` or automove.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PageMove {
    /// Source class id (1-based).
    pub src: u32,
    /// Destination class id (1-based); 0 = the global page pool.
    pub dst: u32,
    /// Items evicted to free the page.
    pub evicted: u64,
    /// Items moved to other chunks of the source class instead of being evicted.
    pub rescued: u64,
}

/// What one call of the background reclaimer did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ReclaimReport {
    /// Chunks looked at.
    pub checked: u64,
    /// Expired or flushed items freed.
    pub reclaimed: u64,
}

/// One line of `stats cachedump`: `ITEM <key> [<bytes> b; <exptime> s]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CachedumpEntry {
    /// The key.
    pub key: Vec<u8>,
    /// Value length in bytes.
    pub value_len: u32,
    /// Absolute expiry (0 = never).
    pub exptime: u32,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exptime_rules() {
        let now = 1_700_000_000;
        assert_eq!(absolute_exptime(0, now), 0);
        assert_eq!(absolute_exptime(-1, now), 1);
        assert_eq!(absolute_exptime(10, now), now + 10);
        assert_eq!(absolute_exptime(REALTIME_MAXDELTA, now), now + 2_592_000);
        assert_eq!(absolute_exptime(REALTIME_MAXDELTA + 1, now), 2_592_001);
        assert_eq!(absolute_exptime(i64::from(now) + 5, now), now + 5);
        assert_eq!(absolute_exptime(i64::MAX, now), u32::MAX);
    }
}
