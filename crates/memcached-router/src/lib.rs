//! libmemcached-compatible key distribution (ketama and modula); pure functions.
//!
//! Not written yet: this crate root only says what the crate will own.
