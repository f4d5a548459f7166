//! Async and blocking memcached client over the router, with pools and failure handling.
//!
//! Not written yet: this crate root only says what the crate will own.
