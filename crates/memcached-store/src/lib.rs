//! Slab allocator, hash index, per-class LRU, lazy expiry, CAS and stats for memcached items; no I/O, no protocol.
//!
//! Not written yet: this crate root only says what the crate will own.
