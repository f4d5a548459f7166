//! Every reference vector file must agree 100 % with the router.
//!
//! The folder holds key → server tables produced by php-memcached 3.2.0 on libmemcached 1.1.4
//! (see its README). Each `*.tsv` set is checked against the server list and options that
//! MANIFEST.json records for it, so any other set generated the same way (other servers,
//! orders, weights, ports) is checked without code changes: point `MEMCACHED_ROUTER_VECTORS`
//! at its folder.

mod support;

use memcached_router::{Distribution, HashAlgorithm, Router, RouterConfig, Server};
use std::path::Path;
use support::{
    column, distribution_from_libmemcached, hash_from_libmemcached, read_tsv, unhex, vectors_dir,
    Json,
};

/// The router a MANIFEST set describes: servers in addServer order, the distribution and hash
/// that php read back, and whether `OPT_LIBKETAMA_COMPATIBLE` (option 16) set the weighted flag.
fn router_for_set(name: &str, set: &Json) -> Router {
    let servers: Vec<Server> = set
        .get("servers")
        .unwrap_or_else(|| panic!("MANIFEST set {name} has no servers"))
        .as_array()
        .iter()
        .map(|s| {
            let s = s.as_array();
            let weight = s.get(2).map(Json::as_u64).unwrap_or(0) as u32;
            Server::with_weight(s[0].as_str(), s[1].as_u64() as u16, weight)
        })
        .collect();
    let libketama_compatible =
        set.get("opts").and_then(|o| o.get("16")).map(Json::truthy).unwrap_or(false);
    let distribution_id = set
        .get("distribution")
        .map(Json::as_u64)
        .unwrap_or_else(|| panic!("MANIFEST set {name} has no distribution"));
    let distribution = distribution_from_libmemcached(distribution_id, libketama_compatible);
    let key_hash = hash_from_libmemcached(set.get("hash").map(Json::as_u64).unwrap_or(0));
    Router::new(servers, RouterConfig { distribution, key_hash }).unwrap()
}

fn load_manifest(dir: &Path) -> Json {
    Json::parse(&std::fs::read_to_string(dir.join("MANIFEST.json")).expect("read MANIFEST.json"))
}

/// Checks one key → server set; returns (rows, mismatches).
fn check_set(path: &Path, router: &Router) -> (usize, Vec<String>) {
    let (header, rows) = read_tsv(path);
    let key_col = column(&header, "key_hex");
    let server_col = column(&header, "server");
    let index_col = header.iter().position(|h| h == "server_index");
    let mut bad = Vec::new();
    for row in &rows {
        let key = unhex(&row[key_col]);
        let got = router.server_index(&key);
        let got_name = got.map(|i| router.servers()[i].to_string());
        let index_ok = match (index_col, got) {
            (Some(c), Some(i)) => row[c] == i.to_string(),
            _ => true,
        };
        if got_name.as_deref() != Some(row[server_col].as_str()) || !index_ok {
            bad.push(format!(
                "key {} expected {} got {:?}",
                row[key_col], row[server_col], got_name
            ));
        }
    }
    (rows.len(), bad)
}

fn base_pool(kind: &str, count: usize) -> (Vec<Server>, RouterConfig) {
    let config = match kind {
        "ketama" => RouterConfig::ketama(),
        "modula" => RouterConfig::modula(),
        "consistent" => RouterConfig::consistent(),
        other => panic!("moves file: unknown distribution {other:?}"),
    };
    ((1..=count).map(|i| Server::new(format!("10.0.0.{i}"), 11211)).collect(), config)
}

/// `moves_<dist>_<n>_<remove|add>_<host>.tsv`: pool 10.0.0.1..n on :11211 before, the host
/// removed (or appended) after. For consistent distributions a removal is also checked as an
/// ejection of that server, which must give the same answers.
fn check_moves(path: &Path, name: &str) -> (usize, Vec<String>) {
    let parts: Vec<&str> = name.splitn(5, '_').collect();
    assert!(parts.len() == 5 && parts[0] == "moves", "cannot read moves file name {name:?}");
    let count: usize = parts[2].parse().expect("server count in moves file name");
    let host = parts[4];
    let (before_servers, config) = base_pool(parts[1], count);
    let before = Router::new(before_servers.clone(), config).unwrap();
    let mut ejected = None;
    let after = match parts[3] {
        "remove" => {
            let index = before_servers.iter().position(|s| s.host == host).expect("removed host");
            if config.distribution != Distribution::Modula {
                let mut e = before.clone();
                assert!(e.eject(index));
                ejected = Some(e);
            }
            let mut servers = before_servers.clone();
            servers.remove(index);
            Router::new(servers, config).unwrap()
        }
        "add" => {
            let mut servers = before_servers.clone();
            servers.push(Server::new(host, 11211));
            Router::new(servers, config).unwrap()
        }
        other => panic!("moves file: unknown change {other:?}"),
    };
    let (header, rows) = read_tsv(path);
    let (k, b, a, m) = (
        column(&header, "key_hex"),
        column(&header, "server_before"),
        column(&header, "server_after"),
        column(&header, "moved"),
    );
    let mut bad = Vec::new();
    for row in &rows {
        let key = unhex(&row[k]);
        let got_before = before.server_for(&key).map(|s| s.to_string()).unwrap_or_default();
        let got_after = after.server_for(&key).map(|s| s.to_string()).unwrap_or_default();
        let moved = if got_before == got_after { "0" } else { "1" };
        let ejected_ok = ejected
            .as_ref()
            .is_none_or(|e| e.server_for(&key).map(|s| s.to_string()) == Some(got_after.clone()));
        if got_before != row[b] || got_after != row[a] || moved != row[m] || !ejected_ok {
            bad.push(format!(
                "key {}: expected {}->{} got {got_before}->{got_after}",
                row[k], row[b], row[a]
            ));
        }
    }
    (rows.len(), bad)
}

fn check_hashes(path: &Path) -> (usize, Vec<String>) {
    let (header, rows) = read_tsv(path);
    let key_col = column(&header, "key_hex");
    let mut bad = Vec::new();
    let mut checked = 0;
    for (col, name) in header.iter().enumerate().skip(2) {
        let algorithm = if name == "default_one_at_a_time" {
            Some(HashAlgorithm::OneAtATime)
        } else {
            HashAlgorithm::from_name(name)
        };
        for row in &rows {
            if row[col] == "NA" {
                continue;
            }
            let Some(algorithm) = algorithm else {
                bad.push(format!("column {name} has values but no implementation"));
                break;
            };
            checked += 1;
            let got = algorithm.hash(&unhex(&row[key_col]));
            if got.to_string() != row[col] {
                bad.push(format!("{name}({}) expected {} got {got}", row[key_col], row[col]));
            }
        }
    }
    (checked, bad)
}

fn check_continuum(path: &Path) -> (usize, Vec<String>) {
    let router = Router::from_specs(
        &["10.0.0.1:11211", "10.0.0.2:11211", "10.0.0.3:11211"],
        RouterConfig::ketama(),
    )
    .unwrap();
    let (header, rows) = read_tsv(path);
    let (p, i) = (column(&header, "point"), column(&header, "server_index"));
    let mut bad = Vec::new();
    if rows.len() != router.continuum().len() {
        bad.push(format!("{} points expected, {} built", rows.len(), router.continuum().len()));
    }
    for (row, (value, owner)) in rows.iter().zip(router.continuum().points()) {
        if row[p] != value.to_string() || row[i] != owner.to_string() {
            bad.push(format!("point expected {}/{} got {value}/{owner}", row[p], row[i]));
        }
    }
    (rows.len(), bad)
}

/// The pools of the libketama and pymemcache sets listed in the vector README.
fn other_library_set(name: &str) -> Option<Router> {
    let pool = |hosts: &[u32], weights: &[u32]| -> Vec<Server> {
        hosts
            .iter()
            .zip(weights.iter().chain(std::iter::repeat(&100)))
            .map(|(&h, &w)| Server::with_weight(format!("10.0.0.{h}"), 11211, w))
            .collect()
    };
    let (servers, config) = match name {
        "libketama_original_3" => (pool(&[1, 2, 3], &[]), RouterConfig::libketama_original()),
        "libketama_original_weighted_1_2_3" => {
            (pool(&[1, 2, 3], &[1, 2, 3]), RouterConfig::libketama_original())
        }
        "pymemcache_rendezvous_3" => (pool(&[1, 2, 3], &[]), RouterConfig::pymemcache_rendezvous()),
        "pymemcache_rendezvous_5" => {
            (pool(&[1, 2, 3, 4, 5], &[]), RouterConfig::pymemcache_rendezvous())
        }
        "pymemcache_rendezvous_5_minus_10.0.0.3" => {
            (pool(&[1, 2, 4, 5], &[]), RouterConfig::pymemcache_rendezvous())
        }
        _ => return None,
    };
    Some(Router::new(servers, config).unwrap())
}

#[test]
fn every_vector_file_matches_100_percent() {
    let dir = vectors_dir();
    let manifest = load_manifest(&dir);
    let sets = manifest.get("sets").expect("MANIFEST has sets");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "tsv"))
        .collect();
    files.sort();
    assert!(!files.is_empty(), "no .tsv files in {}", dir.display());
    let mut failures = Vec::new();
    let mut checked_files = 0;
    for path in &files {
        let name = path.file_stem().unwrap().to_string_lossy().into_owned();
        let (rows, bad) = if name == "hashes_libhashkit" {
            check_hashes(path)
        } else if name.starts_with("continuum_ketama_compat_3") {
            check_continuum(path)
        } else if name.starts_with("moves_") {
            check_moves(path, &name)
        } else if let Some(router) = other_library_set(&name) {
            // Sets made by last.fm libketama or pymemcache (kept aside in the reference
            // folder's README table): their pools are described there, not in MANIFEST.json.
            check_set(path, &router)
        } else {
            let set = sets.get(&name).unwrap_or_else(|| {
                panic!(
                    "{}: no entry {name:?} in MANIFEST.json, cannot tell its servers",
                    path.display()
                )
            });
            check_set(path, &router_for_set(&name, set))
        };
        checked_files += 1;
        eprintln!("{name}: {}/{rows} rows agree", rows - bad.len());
        if !bad.is_empty() {
            failures.push(format!(
                "{name}: {} of {rows} wrong, first: {:?}",
                bad.len(),
                &bad[..bad.len().min(3)]
            ));
        }
        assert!(rows > 0, "{name}: empty file");
    }
    assert!(checked_files > 0);
    assert!(failures.is_empty(), "vector mismatches:\n{}", failures.join("\n"));
}

#[test]
fn manifest_counts_match_for_present_sets() {
    let dir = vectors_dir();
    let manifest = load_manifest(&dir);
    for (name, set) in manifest.get("sets").unwrap().as_object() {
        let Some(counts) = set.get("counts") else { continue };
        if !dir.join(format!("{name}.tsv")).is_file() {
            continue;
        }
        let router = router_for_set(name, set);
        let mut got = vec![0u64; router.servers().len()];
        for i in 0..10_000 {
            got[router.server_index(format!("key:{i}").as_bytes()).unwrap()] += 1;
        }
        // MANIFEST counts include the 31 odd keys; the key:N part must not exceed them.
        for (server, count) in counts.as_object() {
            let index = router.servers().iter().position(|s| &s.to_string() == server).unwrap();
            let expected = count.as_u64();
            assert!(
                got[index] <= expected && expected - got[index] <= 31,
                "{name} {server}: {} vs {expected}",
                got[index]
            );
        }
    }
}
