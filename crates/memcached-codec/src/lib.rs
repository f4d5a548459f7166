//! memcached text and meta protocol codec: requests and responses, both directions, no I/O.
//!
//! Not written yet: this crate root only says what the crate will own.
