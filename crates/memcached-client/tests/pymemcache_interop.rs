//! Keys written by pymemcache's `HashClient` (rendezvous hashing) to three servers are found by
//! this client with `RouterConfig::pymemcache_rendezvous()`, on the same servers, and the
//! reverse. Needs /usr/bin/python3 with pymemcache (Debian `python3-pymemcache`).

mod support;

use memcached_client::{Client, RouterConfig, StoreOptions};
use support::{assert_keys_on_their_owners, run_script, ServerProcess};

const PYTHON: &str = "/usr/bin/python3";

fn python(script: &str) -> String {
    run_script(PYTHON, &["-c"], script, "python3-pymemcache")
}

#[tokio::test]
async fn pymemcache_hashclient_and_the_client_agree() {
    let servers: Vec<ServerProcess> = (0..3).map(|_| ServerProcess::memcached()).collect();
    let pool: Vec<String> = servers.iter().map(|s| format!("('127.0.0.1', {})", s.port)).collect();
    let prelude = format!(
        "from pymemcache.client.hash import HashClient\nc = HashClient([{}])\n",
        pool.join(", ")
    );
    python(&(prelude.clone() + "for i in range(300):\n    c.set('py:%d' % i, 'v%d' % i)\n"));

    let client = Client::builder()
        .servers(servers.iter().map(ServerProcess::spec))
        .distribution(RouterConfig::pymemcache_rendezvous())
        .build()
        .unwrap();
    let keys: Vec<String> = (0..300).map(|i| format!("py:{i}")).collect();
    let found = client.get_multi(&keys).await.unwrap();
    assert_eq!(found.items.len(), 300, "every key pymemcache wrote is found");
    for (i, key) in keys.iter().enumerate() {
        assert_eq!(found.items[key.as_bytes()].value, format!("v{i}").as_bytes());
    }
    assert_keys_on_their_owners(&client, &servers, &keys).await;

    for i in 0..300 {
        client.set(format!("rs:{i}"), format!("r{i}"), StoreOptions::default()).await.unwrap();
    }
    let out = python(
        &(prelude
            + "bad = [i for i in range(300) if c.get('rs:%d' % i) != ('r%d' % i).encode()]\n\
               print(len(bad))\n"),
    );
    assert_eq!(out.trim(), "0", "pymemcache finds every key the client wrote");
}
