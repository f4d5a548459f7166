//! The classic first memcached program: set `key`, get it back.
//!
//! ```text
//! cargo run -p memcached-client --example hello -- [HOST:PORT]     (default 127.0.0.1:11211)
//! ```

use memcached_client::{Client, StoreOptions};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let server = std::env::args().nth(1).unwrap_or_else(|| "127.0.0.1:11211".to_string());
    let client = Client::builder().server(&server).build()?;

    // set key 0 0 5 / value, then get key.
    client.set("key", "value", StoreOptions::default()).await?;
    match client.get("key").await? {
        Some(item) => println!("key = {}", String::from_utf8_lossy(&item.value)),
        None => println!("key is not there (evicted, or another client deleted it)"),
    }

    // The same with the blocking client is: BlockingClient::builder().server(..).build_blocking()?
    // then client.set(..)? and client.get(..)? without .await.
    Ok(())
}
