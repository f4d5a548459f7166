//! Keys written through twemproxy (`nutcracker`, `distribution: ketama`, `hash: md5`) to three
//! servers are found by this client on the same servers, and the reverse. Needs
//! /usr/sbin/nutcracker (Debian `nutcracker`) and /usr/bin/memcached.

mod support;

use memcached_client::{Client, StoreOptions};
use std::net::TcpStream;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};
use support::{assert_keys_on_their_owners, free_port, set_named_keys, ServerProcess};

const NUTCRACKER: &str = "/usr/sbin/nutcracker";

struct Proxy(Child);

impl Drop for Proxy {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[tokio::test]
async fn twemproxy_ketama_md5_and_the_client_agree() {
    assert!(
        std::path::Path::new(NUTCRACKER).exists(),
        "{NUTCRACKER} not found: this test needs Debian's nutcracker (twemproxy 0.5)"
    );
    let servers: Vec<ServerProcess> = (0..3).map(|_| ServerProcess::memcached()).collect();
    let (proxy_port, stats_port) = (free_port(), free_port());
    let dir =
        std::env::temp_dir().join(format!("twemproxy-test-{}-{proxy_port}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let mut conf = format!(
        "pool:\n  listen: 127.0.0.1:{proxy_port}\n  hash: md5\n  distribution: ketama\n  \
         auto_eject_hosts: false\n  timeout: 2000\n  servers:\n"
    );
    for (i, server) in servers.iter().enumerate() {
        // Weights 1, 2, 3: twemproxy's weighted ketama is libmemcached's.
        conf.push_str(&format!("   - 127.0.0.1:{}:{}\n", server.port, i + 1));
    }
    let conf_path = dir.join("nutcracker.yml");
    std::fs::write(&conf_path, conf).unwrap();
    let child = Command::new(NUTCRACKER)
        .arg("-c")
        .arg(&conf_path)
        .args(["-s", &stats_port.to_string(), "-a", "127.0.0.1", "-o"])
        .arg(dir.join("nutcracker.log"))
        .arg("-p")
        .arg(dir.join("nutcracker.pid"))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start nutcracker");
    let _proxy = Proxy(child);
    let deadline = Instant::now() + Duration::from_secs(10);
    while TcpStream::connect(("127.0.0.1", proxy_port)).is_err() {
        assert!(Instant::now() < deadline, "nutcracker did not listen on {proxy_port}");
        std::thread::sleep(Duration::from_millis(20));
    }

    let through_proxy =
        Client::builder().server(&format!("127.0.0.1:{proxy_port}")).build().unwrap();
    let direct = Client::builder()
        .servers(servers.iter().enumerate().map(|(i, s)| format!("{}:{}", s.spec(), i + 1)))
        .build()
        .unwrap();

    // proxy → client
    let keys = set_named_keys(&through_proxy, "proxy:", 300).await;
    let found = direct.get_multi(&keys).await.unwrap();
    assert!(found.failures.is_empty(), "{:?}", found.failures);
    assert_eq!(found.items.len(), keys.len(), "every key written through twemproxy is found");
    assert_keys_on_their_owners(&direct, &servers, &keys).await;

    // client → proxy
    for i in 0..300 {
        direct.set(format!("direct:{i}"), format!("d{i}"), StoreOptions::default()).await.unwrap();
    }
    for i in 0..300 {
        let item = through_proxy.get(format!("direct:{i}")).await.unwrap();
        assert_eq!(
            item.map(|it| it.value),
            Some(format!("d{i}").into_bytes().into()),
            "direct:{i}"
        );
    }
    let _ = std::fs::remove_dir_all(&dir);
}
