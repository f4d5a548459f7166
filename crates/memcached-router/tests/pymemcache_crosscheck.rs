//! `Distribution::Rendezvous` against the installed pymemcache (`HashClient`'s default
//! `RendezvousHash`), for random pools, UTF-8 keys and removed nodes. Needs /usr/bin/python3
//! with pymemcache (Debian `python3-pymemcache`).

use memcached_router::{Router, RouterConfig, Server};
use std::process::Command;

const PYTHON: &str = "/usr/bin/python3";

#[test]
fn rendezvous_agrees_with_pymemcache() {
    assert!(
        std::path::Path::new(PYTHON).exists(),
        "{PYTHON} not found: this test needs python3 and python3-pymemcache"
    );
    let pools: Vec<Vec<Server>> = vec![
        (1..=3).map(|i| Server::new(format!("10.0.0.{i}"), 11211)).collect(),
        (1..=7).map(|i| Server::new(format!("cache-{i}.example.com"), 11000 + i)).collect(),
        vec![Server::new("127.0.0.1", 11211), Server::new("127.0.0.1", 11212), Server::new("a", 1)],
    ];
    let mut keys: Vec<String> = (0..700).map(|i| format!("key:{i}")).collect();
    keys.extend(
        ["日本語", "ключ", "émoji😀", "a", "trailing ", "x".repeat(250).as_str()].map(String::from),
    );
    let mut script = String::from(
        "import sys\nfrom pymemcache.client.rendezvous import RendezvousHash\n\
         keys = sys.stdin.read().split('\\n')[:-1]\nkeys = [bytes.fromhex(k).decode('utf-8') for k in keys]\n",
    );
    for (p, pool) in pools.iter().enumerate() {
        let nodes: Vec<String> = pool.iter().map(|s| format!("'{}:{}'", s.host, s.port)).collect();
        script.push_str(&format!(
            "h = RendezvousHash()\nfor n in [{}]: h.add_node(n)\n\
             for k in keys: print('{p}', h.get_node(k))\n\
             h.remove_node('{}:{}')\nfor k in keys: print('{p}-', h.get_node(k))\n",
            nodes.join(", "),
            pool[0].host,
            pool[0].port
        ));
    }
    let input: String = keys
        .iter()
        .map(|k| k.bytes().map(|b| format!("{b:02x}")).collect::<String>() + "\n")
        .collect();
    let mut child = Command::new(PYTHON)
        .arg("-c")
        .arg(&script)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("run python3");
    use std::io::Write;
    child.stdin.take().unwrap().write_all(input.as_bytes()).unwrap();
    let output = child.wait_with_output().unwrap();
    assert!(output.status.success(), "python failed: {}", String::from_utf8_lossy(&output.stderr));
    let stdout = String::from_utf8(output.stdout).unwrap();
    let mut lines = stdout.lines();
    for (p, pool) in pools.iter().enumerate() {
        let mut router = Router::new(pool.clone(), RouterConfig::pymemcache_rendezvous()).unwrap();
        for pass in 0..2 {
            if pass == 1 {
                router.eject(0);
            }
            for key in &keys {
                let line = lines.next().expect("a python answer per key");
                let (tag, expected) = line.split_once(' ').unwrap();
                assert_eq!(tag, if pass == 0 { format!("{p}") } else { format!("{p}-") });
                let got =
                    router.server_for(key.as_bytes()).map(|s| format!("{}:{}", s.host, s.port));
                assert_eq!(got.as_deref(), Some(expected), "pool {p} pass {pass} key {key:?}");
            }
        }
    }
}
