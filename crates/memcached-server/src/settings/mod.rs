//! memcached's command-line flags and the TOML config file (being written).
