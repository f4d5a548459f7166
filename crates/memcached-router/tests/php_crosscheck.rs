//! Random pools checked against the real php-memcached / libmemcached on this machine.
//!
//! The vector files cover fixed pools; this test draws 40 pools (1–8 servers, DNS names and
//! IPs, default and odd ports, weights 0–300, shuffled orders, every distribution and several
//! key hashes), asks php-memcached's `getServerByKey` for 600 keys each, and requires the
//! router to agree on every key. Needs /usr/bin/php with the memcached extension (CI installs
//! php-cli and php-memcached).

mod support;

use memcached_router::{Router, RouterConfig, Server};
use std::fmt::Write as _;
use std::process::Command;
use support::{distribution_from_libmemcached, hash_from_libmemcached};

const PHP: &str = "/usr/bin/php";

/// Small deterministic generator (SplitMix64) so failures reproduce.
struct SplitMix(u64);
impl SplitMix {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

struct Pool {
    servers: Vec<(String, u16, u32)>,
    /// php option id → value, applied in order before addServer.
    options: Vec<(u32, String)>,
}

fn keys() -> Vec<Vec<u8>> {
    let mut keys: Vec<Vec<u8>> = (0..560).map(|i| format!("user:{i}:x").into_bytes()).collect();
    for odd in [
        &b"a"[..],
        b"\x80",
        b"\xff",
        b"\xff\xfe",
        b"\x01\x02\x03",
        b"key\twith",
        b"\xc3\xa9t\xc3\xa9",
        b" lead",
        b"trail ",
        b"10.0.0.1-0",
        b"/10.0.0.1:11211-0",
    ] {
        keys.push(odd.to_vec());
    }
    for n in [1, 2, 3, 4, 5, 11, 12, 13, 24, 25, 100, 249, 250] {
        keys.push(vec![b'k'; n]);
    }
    for i in 0..16u8 {
        keys.push(vec![0xf0 | i, b'x', 0x80 + i * 7]);
    }
    keys
}

fn random_pool(rng: &mut SplitMix, case: usize) -> Pool {
    // Option ids: 16 = OPT_LIBKETAMA_COMPATIBLE, 9 = OPT_DISTRIBUTION, 2 = OPT_HASH.
    let hashes = ["0", "1", "2", "3", "4", "5", "6", "8", "9", "10"];
    let options: Vec<(u32, String)> = match case % 8 {
        0 | 1 => vec![(16, "true".into())],
        2 => vec![(9, "0".into())],
        3 => vec![(9, "0".into()), (2, hashes[rng.below(hashes.len() as u64) as usize].into())],
        4 => vec![(9, "1".into())],
        5 => vec![(9, "1".into()), (2, hashes[rng.below(hashes.len() as u64) as usize].into())],
        6 => vec![(16, "true".into()), (9, "4".into())],
        _ => vec![(16, "true".into()), (2, hashes[rng.below(hashes.len() as u64) as usize].into())],
    };
    let count = 1 + rng.below(8) as usize;
    let mut servers = Vec::new();
    while servers.len() < count {
        let host = match rng.below(4) {
            0 => format!("10.{}.{}.{}", rng.below(3), rng.below(256), rng.below(256)),
            1 => format!("cache-{}.example.com", rng.below(50)),
            2 => "127.0.0.1".to_string(),
            _ => format!("mc{}", rng.below(20)),
        };
        let port = match rng.below(10) {
            0 => 0, // libmemcached stores port 0 as 11211
            1..=3 => 1024 + rng.below(60000) as u16,
            _ => 11211,
        };
        let weight = if rng.below(2) == 0 { 0 } else { rng.below(301) as u32 };
        let same = |p: u16| if p == 0 { 11211 } else { p };
        if !servers.iter().any(|(h, p, _)| *h == host && same(*p) == same(port)) {
            servers.push((host, port, weight));
        }
    }
    Pool { servers, options }
}

#[test]
fn random_pools_agree_with_php_memcached() {
    assert!(
        std::path::Path::new(PHP).exists(),
        "{PHP} not found: this test needs php-cli and php-memcached (apt-get install php-cli php-memcached)"
    );
    let mut rng = SplitMix(0x5EED_0F4E_7A4A);
    let pools: Vec<Pool> = (0..40).map(|case| random_pool(&mut rng, case)).collect();
    let keys = keys();

    let mut script = String::from("<?php\nif (!class_exists('Memcached')) { fwrite(STDERR, \"no memcached extension\\n\"); exit(2); }\n$keys = [");
    for key in &keys {
        let hex: String = key.iter().map(|b| format!("{b:02x}")).collect();
        let _ = write!(script, "hex2bin('{hex}'),");
    }
    script.push_str("];\n");
    for pool in &pools {
        script.push_str("$m = new Memcached();\n");
        for (id, value) in &pool.options {
            let _ = writeln!(script, "if (!$m->setOption({id}, {value})) exit(3);");
        }
        for (host, port, weight) in &pool.servers {
            let _ = writeln!(script, "if (!$m->addServer('{host}', {port}, {weight})) exit(4);");
        }
        script.push_str(
            "echo $m->getOption(Memcached::OPT_DISTRIBUTION), ' ', $m->getOption(Memcached::OPT_HASH), \"\\n\";\n\
             foreach ($keys as $k) { $r = $m->getServerByKey($k); echo $r['host'], ':', $r['port'], \"\\n\"; }\n",
        );
    }
    let path = std::env::temp_dir().join(format!("router-crosscheck-{}.php", std::process::id()));
    std::fs::write(&path, script).unwrap();
    let output = Command::new(PHP).arg(&path).output().expect("run php");
    let _ = std::fs::remove_file(&path);
    assert!(
        output.status.success(),
        "php failed ({}): {}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    let stdout = String::from_utf8(output.stdout).unwrap();
    let mut lines = stdout.lines();
    let mut total = 0;
    for (case, pool) in pools.iter().enumerate() {
        let readback: Vec<u64> =
            lines.next().unwrap().split(' ').map(|n| n.parse().unwrap()).collect();
        let libketama_compatible = pool.options.iter().any(|(id, _)| *id == 16);
        let distribution = distribution_from_libmemcached(readback[0], libketama_compatible);
        let config = RouterConfig { distribution, key_hash: hash_from_libmemcached(readback[1]) };
        let servers =
            pool.servers.iter().map(|(h, p, w)| Server::with_weight(h.as_str(), *p, *w)).collect();
        let router = Router::new(servers, config).unwrap();
        eprintln!("case {case}: {config:?}, {} servers", pool.servers.len());
        let mut wrong = 0;
        let mut first = None;
        for key in &keys {
            let expected = lines.next().unwrap();
            let got = router.server_for(key).map(|s| format!("{}:{}", s.host, s.port));
            if got.as_deref() != Some(expected) {
                wrong += 1;
                first.get_or_insert_with(|| format!("{key:02x?}: php {expected}, router {got:?}"));
            }
            total += 1;
        }
        assert_eq!(
            wrong, 0,
            "case {case}: {config:?} servers {:?} options {:?}: {wrong}/{} keys differ, first {first:?}",
            pool.servers, pool.options, keys.len()
        );
    }
    assert_eq!(total, pools.len() * keys.len());
}
