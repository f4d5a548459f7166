//! The memcached-compatible server: command-line settings, listeners, worker event loops and the
//! glue that executes protocol requests against the store.
//!
//! Module map (each module's doc says more):
//! - [`settings`]: memcached's command-line flags, `-o` extended options and the TOML config file,
//!   validated into one [`settings::Settings`] value.

pub mod settings;
