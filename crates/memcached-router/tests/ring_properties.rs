//! Property tests of the consistent-hashing guarantees the client relies on.

use memcached_router::{Router, RouterConfig, Server};
use proptest::collection::{btree_set, vec};
use proptest::prelude::*;

/// 2..=8 distinct servers with equal weight, random hosts and ports.
fn pool() -> impl Strategy<Value = Vec<Server>> {
    btree_set((0u8..=255, 0u8..=255, prop_oneof![Just(11211u16), 1024u16..65535]), 2..=8).prop_map(
        |set| {
            set.into_iter().map(|(a, b, port)| Server::new(format!("10.{a}.{b}.1"), port)).collect()
        },
    )
}

fn keys() -> impl Strategy<Value = Vec<Vec<u8>>> {
    vec(vec(any::<u8>(), 1..=250), 1..120)
}

fn name(router: &Router, key: &[u8]) -> Option<String> {
    router.server_for(key).map(ToString::to_string)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    /// Adding one server to a ketama pool moves keys only onto the new server.
    #[test]
    fn adding_a_server_moves_only_keys_to_it(servers in pool(), keys in keys(), extra in 0u8..=255) {
        let before = Router::new(servers.clone(), RouterConfig::ketama()).unwrap();
        let new_server = Server::new(format!("192.168.{extra}.9"), 11211);
        let mut grown = servers.clone();
        grown.push(new_server.clone());
        let after = Router::new(grown, RouterConfig::ketama()).unwrap();
        for key in &keys {
            let (b, a) = (name(&before, key), name(&after, key));
            if b != a {
                prop_assert_eq!(a, Some(new_server.to_string()));
            }
        }
    }

    /// Removing (or ejecting) one server moves only the keys it owned, and ejecting is the same
    /// as removing it from the list.
    #[test]
    fn removing_a_server_moves_only_its_keys(servers in pool(), keys in keys(), pick in any::<prop::sample::Index>()) {
        let gone = pick.index(servers.len());
        let before = Router::new(servers.clone(), RouterConfig::ketama()).unwrap();
        let mut shrunk = servers.clone();
        let removed = shrunk.remove(gone);
        let after = Router::new(shrunk, RouterConfig::ketama()).unwrap();
        let mut ejected = before.clone();
        prop_assert!(ejected.eject(gone));
        for key in &keys {
            let (b, a) = (name(&before, key), name(&after, key));
            if b != Some(removed.to_string()) {
                prop_assert_eq!(&a, &b);
            } else {
                prop_assert_ne!(&a, &b);
            }
            prop_assert_eq!(name(&ejected, key), a);
        }
        prop_assert!(ejected.restore(gone));
        prop_assert_eq!(&ejected, &before);
    }

    /// Rendezvous (pymemcache) has the same property without a ring: ejecting a server moves
    /// only its keys, and restoring it moves them back.
    #[test]
    fn rendezvous_ejection_moves_only_the_ejected_servers_keys(servers in pool(), keys in keys(), pick in any::<prop::sample::Index>()) {
        let gone = pick.index(servers.len());
        let before = Router::new(servers.clone(), RouterConfig::pymemcache_rendezvous()).unwrap();
        let mut after = before.clone();
        prop_assert!(after.eject(gone));
        for key in &keys {
            let (b, a) = (before.server_index(key), after.server_index(key));
            if b == Some(gone) {
                prop_assert!(a.is_some() && a != b);
            } else {
                prop_assert_eq!(a, b);
            }
        }
        after.restore(gone);
        for key in &keys {
            prop_assert_eq!(after.server_index(key), before.server_index(key));
        }
    }

    /// Lookups are pure: the same list gives the same answers, every time.
    #[test]
    fn lookups_are_deterministic(servers in pool(), keys in keys(), weights in vec(0u32..500, 8)) {
        let weighted: Vec<Server> = servers
            .iter()
            .zip(&weights)
            .map(|(s, &w)| Server::with_weight(s.host.clone(), s.port, w))
            .collect();
        for config in [RouterConfig::ketama(), RouterConfig::modula(), RouterConfig::consistent(), RouterConfig::ketama_spy(), RouterConfig::libketama_original(), RouterConfig::pymemcache_rendezvous()] {
            let one = Router::new(weighted.clone(), config).unwrap();
            let two = Router::new(weighted.clone(), config).unwrap();
            prop_assert_eq!(&one, &two);
            for key in &keys {
                let first = one.server_index(key);
                prop_assert!(first.is_some());
                prop_assert_eq!(first, one.server_index(key));
                prop_assert_eq!(first, two.server_index(key));
            }
        }
    }

    /// Every live server owns some of the ring, and ring successors are distinct live servers.
    #[test]
    fn successors_are_distinct_live_servers(servers in pool(), keys in keys(), dead in any::<prop::sample::Index>()) {
        let mut router = Router::new(servers.clone(), RouterConfig::ketama()).unwrap();
        let dead = dead.index(servers.len());
        router.eject(dead);
        let mut out = Vec::new();
        for key in &keys {
            router.successors(key, 3, &mut out);
            prop_assert_eq!(out.len(), 3.min(servers.len() - 1));
            prop_assert_eq!(Some(out[0]), router.server_index(key));
            prop_assert!(!out.contains(&dead));
            let mut sorted = out.clone();
            sorted.sort_unstable();
            sorted.dedup();
            prop_assert_eq!(sorted.len(), out.len());
        }
    }
}
