//! A drop-in memcached server composing the codec, store, replication link and failover engine.
//!
//! Not written yet: this crate root only says what the crate will own.
