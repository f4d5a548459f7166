//! The master-master replication link between two servers (repcached's -x/-X model); sans-IO.
//!
//! Not written yet: this crate root only says what the crate will own.
