//! A pool of three servers with consistent hashing (ketama, as php-memcached's
//! `OPT_LIBKETAMA_COMPATIBLE` places keys), a multi-get across all of them, and where each key
//! lives.
//!
//! ```text
//! memcached -p 11211 -d; memcached -p 11212 -d; memcached -p 11213 -d
//! cargo run -p memcached-client --example pool -- 127.0.0.1:11211 127.0.0.1:11212 127.0.0.1:11213
//! ```

use memcached_client::{BlockingClient, RouterConfig, StoreOptions};
use std::collections::BTreeMap;
use std::time::Duration;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut servers: Vec<String> = std::env::args().skip(1).collect();
    if servers.is_empty() {
        servers =
            vec!["127.0.0.1:11211".into(), "127.0.0.1:11212".into(), "127.0.0.1:11213".into()];
    }
    let client = BlockingClient::builder()
        .servers(&servers)
        .distribution(RouterConfig::ketama()) // the default; RouterConfig::modula() for libmemcached's default
        .connect_timeout(Duration::from_millis(500))
        .io_timeout(Duration::from_millis(500))
        .build_blocking()?;

    let keys: Vec<String> = (0..12).map(|i| format!("user:{i}")).collect();
    for key in &keys {
        if let Err(e) = client.set(key, format!("profile of {key}"), StoreOptions::exptime(300)) {
            eprintln!("set {key}: {e}"); // the error names the server that failed
        }
    }

    let mut placement: BTreeMap<String, Vec<&str>> = BTreeMap::new();
    for key in &keys {
        let server = client.server_for_key(key.as_bytes()).unwrap_or_else(|| "-".into());
        placement.entry(server).or_default().push(key);
    }
    for (server, keys) in &placement {
        println!("{server}: {}", keys.join(" "));
    }

    let found = client.get_multi(&keys)?;
    println!("multi-get: {} of {} keys found", found.items.len(), keys.len());
    for failure in &found.failures {
        println!("  {} failed: {}", failure.server, failure.error);
    }
    for status in client.server_status() {
        println!("{} up={} on_ring={}", status.server, status.up, status.on_ring);
    }
    Ok(())
}
