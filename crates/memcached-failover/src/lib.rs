//! VRRP v2/v3 adverts, instance state machine and health policy, interoperable with keepalived; sans-IO.
//!
//! Not written yet: this crate root only says what the crate will own.
