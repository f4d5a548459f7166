//! Kill one of three servers mid-run: the client marks it down, ejects it from the ring,
//! keeps serving every key from the other two, probes it, and puts it back when it returns.

mod support;

use memcached_client::{Client, ClientBuilder, StoreOptions, StoreOutcome};
use std::time::{Duration, Instant};
use support::{key_owned_by, set_named_keys, ServerProcess};

/// A client over `servers` that marks a server down on its first failure and does not probe
/// it again during the test.
fn down_on_first_failure(servers: &[ServerProcess]) -> ClientBuilder {
    Client::builder()
        .servers(servers.iter().map(ServerProcess::spec))
        .connect_timeout(Duration::from_millis(200))
        .failure_limit(1)
        .retry_interval(Duration::from_secs(60))
}

fn status_of(client: &Client, server: &str) -> (bool, bool) {
    let s = client.server_status().into_iter().find(|s| s.server == server).unwrap();
    (s.up, s.on_ring)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dead_memcached_is_ejected_served_around_and_readded() {
    dead_server_is_ejected_served_around_and_readded(ServerProcess::memcached).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dead_server_of_ours_is_ejected_served_around_and_readded() {
    dead_server_is_ejected_served_around_and_readded(ServerProcess::ours).await
}

async fn dead_server_is_ejected_served_around_and_readded(start: fn() -> ServerProcess) {
    let mut servers: Vec<ServerProcess> = (0..3).map(|_| start()).collect();
    let client = Client::builder()
        .servers(servers.iter().map(ServerProcess::spec))
        .connect_timeout(Duration::from_millis(200))
        .io_timeout(Duration::from_secs(1))
        .failure_limit(2)
        .retry_interval(Duration::from_millis(300))
        .build()
        .unwrap();
    let keys = set_named_keys(&client, "fault:", 300).await;
    let dead = servers[1].spec();
    let owned_by_dead: Vec<&String> = keys
        .iter()
        .filter(|k| client.server_for_key(k.as_bytes()).as_deref() == Some(dead.as_str()))
        .collect();
    assert!(!owned_by_dead.is_empty());

    // Mid-run: the server dies.
    servers[1].kill();
    let mut errors = 0;
    for key in &keys {
        if let Err(e) = client.set(key, key, StoreOptions::default()).await {
            errors += 1;
            assert_eq!(e.server(), Some(dead.as_str()), "errors name the failed server: {e}");
        }
    }
    assert_eq!(errors, 2, "exactly failure_limit (2) requests fail, then it is ejected");
    assert_eq!(status_of(&client, &dead), (false, false), "marked down and off the ring");

    // Serving the others: every key works, none routes to the dead server.
    for key in &keys {
        assert_ne!(client.server_for_key(key.as_bytes()).as_deref(), Some(dead.as_str()));
        client.set(key, format!("{key}!"), StoreOptions::default()).await.unwrap();
        assert_eq!(client.get(key).await.unwrap().unwrap().value, format!("{key}!").as_bytes());
    }
    let multi = client.get_multi(&keys).await.unwrap();
    assert!(multi.failures.is_empty());
    assert_eq!(multi.items.len(), keys.len());

    // While it stays dead, probes fail and it stays out.
    tokio::time::sleep(Duration::from_millis(400)).await;
    client.get("poke").await.unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(status_of(&client, &dead), (false, false));

    // It comes back: a probe notices and the ring takes it back.
    servers[1].restart();
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        client.get("poke").await.unwrap();
        if status_of(&client, &dead) == (true, true) {
            break;
        }
        assert!(Instant::now() < deadline, "server was not re-added: {:?}", client.server_status());
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // Its keys route to it again (the restarted server is empty: those are misses until set).
    for key in &owned_by_dead {
        assert_eq!(client.server_for_key(key.as_bytes()).as_deref(), Some(dead.as_str()));
    }
    for key in &keys {
        client.set(key, key, StoreOptions::default()).await.unwrap();
    }
    let multi = client.get_multi(&keys).await.unwrap();
    assert!(multi.failures.is_empty());
    assert_eq!(multi.items.len(), keys.len());
    let status = client.server_status().into_iter().find(|s| s.server == dead).unwrap();
    assert_eq!(status.times_marked_down, 1, "{status:?}");
    assert!(status.probes >= 1 && status.failures >= 1, "{status:?}");
    let on_dead = Client::builder().server(&dead).build().unwrap();
    for key in &owned_by_dead {
        assert!(
            on_dead.get(key.as_str()).await.unwrap().is_some(),
            "{key} lives on the returned server"
        );
    }
}

#[tokio::test]
async fn without_ejection_keys_of_a_down_server_fail_fast() {
    let mut servers: Vec<ServerProcess> = (0..3).map(|_| ServerProcess::memcached()).collect();
    let client = down_on_first_failure(&servers).eject_failed_servers(false).build().unwrap();
    let dead = servers[2].spec();
    servers[2].kill();
    let key = key_owned_by(&client, &dead, "ff");
    let first = client.get(&key).await.unwrap_err();
    assert_eq!(first.server(), Some(dead.as_str()));
    let second = client.get(&key).await.unwrap_err();
    assert!(second.to_string().contains("marked down"), "{second}");
    // Still on the ring: the key did not move.
    assert_eq!(client.server_for_key(key.as_bytes()).as_deref(), Some(dead.as_str()));
}

#[tokio::test]
async fn the_ejection_cap_keeps_part_of_the_pool_on_the_ring() {
    let mut servers: Vec<ServerProcess> = (0..2).map(|_| ServerProcess::memcached()).collect();
    let client = down_on_first_failure(&servers).max_ejected_fraction(0.5).build().unwrap();
    let specs: Vec<String> = servers.iter().map(ServerProcess::spec).collect();
    for server in &mut servers {
        server.kill();
    }
    // Fail each server once (failure_limit 1) through a key it owns.
    for spec in &specs {
        if let Some(key) = (0..10_000)
            .map(|i| format!("cap{i}"))
            .find(|k| client.server_for_key(k.as_bytes()).as_deref() == Some(spec.as_str()))
        {
            assert!(client.get(&key).await.is_err());
        }
    }
    let status = client.server_status();
    assert!(status.iter().all(|s| !s.up), "{status:?}");
    assert_eq!(status.iter().filter(|s| s.on_ring).count(), 1, "only half may leave: {status:?}");
    assert!(status.iter().all(|s| s.next_probe_in.is_some()));
    // Keys now fail fast on the server kept on the ring instead of having no server.
    let err = client.get("anything").await.unwrap_err();
    assert!(err.to_string().contains("marked down"), "{err}");
}

#[tokio::test]
async fn a_retry_after_ejection_reaches_the_ring_neighbour() {
    let mut servers: Vec<ServerProcess> = (0..3).map(|_| ServerProcess::memcached()).collect();
    let client = down_on_first_failure(&servers).retries(1).build().unwrap();
    let dead = servers[0].spec();
    let key = key_owned_by(&client, &dead, "retry");
    servers[0].kill();
    // The first attempt fails and ejects the server; the retry goes to the new owner.
    assert_eq!(client.get(&key).await.unwrap(), None);
    assert_ne!(client.server_for_key(key.as_bytes()).as_deref(), Some(dead.as_str()));
    assert_eq!(client.set(&key, "v", StoreOptions::default()).await.unwrap(), StoreOutcome::Stored);
    let status = client.server_status().into_iter().find(|s| s.server == dead).unwrap();
    assert_eq!((status.up, status.on_ring, status.failures), (false, false, 1));
}
