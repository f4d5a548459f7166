//! Values and outcomes the client returns.

use crate::wire::MetaCode;
use bytes::Bytes;
use memcached_codec::StatusLine;

/// A value read from the cache.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Item {
    /// The value bytes.
    pub value: Bytes,
    /// The 32-bit client flags stored with the value.
    pub flags: u32,
    /// The CAS unique, when the command returns it (`gets`, `gats`).
    pub cas: Option<u64>,
}

/// What a storage command did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StoreOutcome {
    /// `STORED`
    Stored,
    /// `NOT_STORED` (add on an existing key, replace/append/prepend on a missing one).
    NotStored,
    /// `EXISTS`: cas mismatch.
    Exists,
    /// `NOT_FOUND`: cas on a missing key.
    NotFound,
    /// Sent with `noreply`; the server sends no answer.
    Sent,
}

impl StoreOutcome {
    /// The outcome a storage command's status line reports (`None` for any other line).
    pub(crate) fn from_status(line: StatusLine) -> Option<StoreOutcome> {
        Some(match line {
            StatusLine::Stored => StoreOutcome::Stored,
            StatusLine::NotStored => StoreOutcome::NotStored,
            StatusLine::Exists => StoreOutcome::Exists,
            StatusLine::NotFound => StoreOutcome::NotFound,
            _ => return None,
        })
    }

    /// True for `Stored` (and `Sent`, which is optimistic).
    pub fn is_stored(self) -> bool {
        matches!(self, StoreOutcome::Stored | StoreOutcome::Sent)
    }
}

/// Options of a storage command.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct StoreOptions {
    /// Client flags stored with the value.
    pub flags: u32,
    /// Expiry: 0 never, up to 30 days relative seconds, else a Unix time; negative expires now.
    pub exptime: i32,
    /// Send `noreply`: no answer, no error reporting (fire and forget).
    pub noreply: bool,
}

impl StoreOptions {
    /// Expire after `exptime` (memcached semantics).
    pub fn exptime(exptime: i32) -> StoreOptions {
        StoreOptions { exptime, ..StoreOptions::default() }
    }
    /// With client flags.
    pub fn with_flags(self, flags: u32) -> StoreOptions {
        StoreOptions { flags, ..self }
    }
    /// With `noreply`.
    pub fn noreply(self) -> StoreOptions {
        StoreOptions { noreply: true, ..self }
    }
}

/// A meta command's answer: status code, return flags and (for `VA`) the value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MetaResponse {
    /// `HD`, `VA`, `EN`, `NF`, `NS`, `EX`, `MN` or `ME`.
    pub code: MetaCode,
    /// The flags text after the code (and size), e.g. `c123 t-1 f0`.
    pub flags: Bytes,
    /// The value of a `VA` reply.
    pub value: Option<Bytes>,
}

impl MetaResponse {
    /// The returned flags as tokens (`c123`, `t-1`, …).
    pub fn flag_tokens(&self) -> impl Iterator<Item = &[u8]> {
        self.flags.split(|&b| b == b' ').filter(|t| !t.is_empty())
    }

    /// The value of return flag `flag` (`b'c'` → the CAS digits), if present.
    pub fn flag(&self, flag: u8) -> Option<&[u8]> {
        self.flag_tokens().find(|t| t[0] == flag).map(|t| &t[1..])
    }

    /// A return flag parsed as a number.
    pub fn flag_u64(&self, flag: u8) -> Option<u64> {
        std::str::from_utf8(self.flag(flag)?).ok()?.parse().ok()
    }

    /// Whether the command hit (HD or VA).
    pub fn is_hit(&self) -> bool {
        matches!(self.code, MetaCode::Hd | MetaCode::Va)
    }
}
