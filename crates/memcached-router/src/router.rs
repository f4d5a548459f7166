//! [`Router`]: a server list, a distribution, a key hash and the live set → server for a key.
//!
//! ```text
//!             key bytes
//!                 │ key_hash (one_at_a_time | md5 | crc | fnv… )
//!                 ▼
//!   Modula:     h % servers.len()   ── ejected?  → None (libmemcached: "server marked dead")
//!   Consistent: continuum.lower_bound(h) → owner (ejected servers have no points)
//!
//!   eject(i) / restore(i) ──► live[i] changes ──► continuum rebuilt (n_live and the total
//!                                                  weight change, as in libmemcached)
//! ```
//!
//! The router is a plain value with no interior locking: lookups take `&self`, and
//! [`Router::set_live`] (`&mut self`) rebuilds the continuum in place. `memcached-client` keeps
//! one behind an `RwLock`: every lookup takes the read lock, an ejection or restore the write
//! lock.

use crate::continuum::{Continuum, PointHashing, PointNames};
use crate::hash::HashAlgorithm;
use crate::rendezvous::rendezvous_score;
use crate::server::Server;

/// libmemcached's server distributions (`memcached_server_distribution_t`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Distribution {
    /// `DISTRIBUTION_MODULA` (libmemcached's default): `key_hash(key) % server_count`.
    Modula,
    /// `DISTRIBUTION_CONSISTENT` / `CONSISTENT_KETAMA`: 100 points per server, each the key
    /// hash of `"host-n"`. As libmemcached does, a server weight above 1 silently switches to
    /// the weighted MD5 continuum (the key hash stays as configured).
    Consistent,
    /// `DISTRIBUTION_CONSISTENT_WEIGHTED`, what php-memcached's `OPT_LIBKETAMA_COMPATIBLE` and
    /// twemproxy's ketama use: `160 × weight share` points, four per MD5 digest.
    KetamaWeighted,
    /// `DISTRIBUTION_CONSISTENT_KETAMA_SPY`: points named `"/host:port-n"`; weighted (MD5,
    /// 160 points) when `weighted`, else 100 key-hash points.
    KetamaSpy {
        /// Whether the weighted flag was on (php: `OPT_LIBKETAMA_COMPATIBLE` set before).
        weighted: bool,
    },
    /// The original last.fm libketama: points named `"host:port-n"` (port always present, so
    /// it agrees with libmemcached only on ports other than 11211), `floorf(pct·40·n)` MD5
    /// digests per server, MD5 key hash. Weights are libketama's "memory" column.
    Libketama,
    /// pymemcache's `HashClient` (rendezvous / highest random weight): the server with the
    /// highest `murmur3_32("host:port-" + key, seed 0)` wins, ties to the larger name. Not a
    /// ring; weights are ignored.
    Rendezvous,
}

/// Distribution plus key hash: everything that decides where a key goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct RouterConfig {
    /// How keys are spread over servers.
    pub distribution: Distribution,
    /// The hash applied to keys (and, unweighted, to point strings).
    pub key_hash: HashAlgorithm,
}

impl RouterConfig {
    /// php-memcached `OPT_LIBKETAMA_COMPATIBLE = true` (libmemcached `KETAMA_WEIGHTED`),
    /// twemproxy `distribution: ketama` + `hash: md5`.
    pub fn ketama() -> RouterConfig {
        RouterConfig { distribution: Distribution::KetamaWeighted, key_hash: HashAlgorithm::Md5 }
    }

    /// libmemcached's and php-memcached's default: modula over one_at_a_time.
    pub fn modula() -> RouterConfig {
        RouterConfig { distribution: Distribution::Modula, key_hash: HashAlgorithm::OneAtATime }
    }

    /// php `OPT_DISTRIBUTION = DISTRIBUTION_CONSISTENT` alone (one_at_a_time, 100 points).
    pub fn consistent() -> RouterConfig {
        RouterConfig { distribution: Distribution::Consistent, key_hash: HashAlgorithm::OneAtATime }
    }

    /// php `OPT_LIBKETAMA_COMPATIBLE = true` then `OPT_DISTRIBUTION = 4` (KETAMA_SPY).
    pub fn ketama_spy() -> RouterConfig {
        RouterConfig {
            distribution: Distribution::KetamaSpy { weighted: true },
            key_hash: HashAlgorithm::Md5,
        }
    }

    /// last.fm libketama (see [`Distribution::Libketama`]).
    pub fn libketama_original() -> RouterConfig {
        RouterConfig { distribution: Distribution::Libketama, key_hash: HashAlgorithm::Md5 }
    }

    /// pymemcache `HashClient` rendezvous hashing (see [`Distribution::Rendezvous`]).
    pub fn pymemcache_rendezvous() -> RouterConfig {
        RouterConfig { distribution: Distribution::Rendezvous, key_hash: HashAlgorithm::Murmur3 }
    }

    /// The same distribution with another key hash (php `OPT_HASH`).
    pub fn with_key_hash(self, key_hash: HashAlgorithm) -> RouterConfig {
        RouterConfig { key_hash, ..self }
    }

    /// Parses a distribution name as the `route` example takes it: `ketama` (= weighted,
    /// md5), `modula`, `consistent`, `ketama-spy`, `libketama-original`, `rendezvous`.
    pub fn from_name(name: &str) -> Option<RouterConfig> {
        match name {
            "ketama" | "ketama-weighted" | "libketama" => Some(RouterConfig::ketama()),
            "modula" => Some(RouterConfig::modula()),
            "consistent" => Some(RouterConfig::consistent()),
            "ketama-spy" | "spy" => Some(RouterConfig::ketama_spy()),
            "libketama-original" | "lastfm" => Some(RouterConfig::libketama_original()),
            "rendezvous" | "pymemcache" => Some(RouterConfig::pymemcache_rendezvous()),
            _ => None,
        }
    }
}

impl Default for RouterConfig {
    /// Ketama weighted with MD5: the mode that stays stable when servers come and go.
    fn default() -> RouterConfig {
        RouterConfig::ketama()
    }
}

/// Why a router could not be built.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RouterError {
    /// The server list is empty.
    #[error("the server list is empty")]
    NoServers,
    /// Too many servers for `u32` indices.
    #[error("too many servers ({0})")]
    TooManyServers(usize),
}

/// Maps keys to servers exactly as libmemcached does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Router {
    servers: Vec<Server>,
    /// `host:port` per server (pymemcache's node names).
    names: Vec<String>,
    live: Vec<bool>,
    live_count: usize,
    config: RouterConfig,
    continuum: Continuum,
}

impl Router {
    /// A router over `servers` (in `addServer` order), all live.
    pub fn new(servers: Vec<Server>, config: RouterConfig) -> Result<Router, RouterError> {
        if servers.is_empty() {
            return Err(RouterError::NoServers);
        }
        if servers.len() > u32::MAX as usize {
            return Err(RouterError::TooManyServers(servers.len()));
        }
        let servers: Vec<Server> =
            servers.into_iter().map(|s| Server::with_weight(s.host, s.port, s.weight)).collect();
        let live = vec![true; servers.len()];
        let names = servers.iter().map(|s| format!("{}:{}", s.host, s.port)).collect();
        let mut router = Router {
            live_count: servers.len(),
            servers,
            names,
            live,
            config,
            continuum: Continuum::default(),
        };
        router.rebuild();
        Ok(router)
    }

    /// Parses `HOST:PORT[:WEIGHT]` specs and builds a router.
    pub fn from_specs<S: AsRef<str>>(
        specs: &[S],
        config: RouterConfig,
    ) -> Result<Router, Box<dyn std::error::Error + Send + Sync>> {
        let servers =
            specs.iter().map(|s| Server::parse(s.as_ref())).collect::<Result<Vec<_>, _>>()?;
        Ok(Router::new(servers, config)?)
    }

    fn point_style(&self) -> Option<(PointNames, PointHashing)> {
        let any_weight_above_one = self.servers.iter().any(|s| s.weight > 1);
        let unweighted = PointHashing::Unweighted(self.config.key_hash);
        match self.config.distribution {
            Distribution::Modula | Distribution::Rendezvous => None,
            Distribution::Libketama => Some((PointNames::Libketama, PointHashing::LibketamaMd5)),
            Distribution::Consistent if any_weight_above_one => {
                Some((PointNames::Libmemcached, PointHashing::WeightedMd5))
            }
            Distribution::Consistent => Some((PointNames::Libmemcached, unweighted)),
            Distribution::KetamaWeighted => {
                Some((PointNames::Libmemcached, PointHashing::WeightedMd5))
            }
            Distribution::KetamaSpy { weighted } => Some((
                PointNames::Spy,
                if weighted || any_weight_above_one {
                    PointHashing::WeightedMd5
                } else {
                    unweighted
                },
            )),
        }
    }

    fn rebuild(&mut self) {
        self.live_count = self.live.iter().filter(|&&l| l).count();
        self.continuum = match self.point_style() {
            None => Continuum::default(),
            Some((names, hashing)) => Continuum::build(&self.servers, &self.live, names, hashing),
        };
    }

    /// The servers in `addServer` order (weights 0 already stored as 1).
    pub fn servers(&self) -> &[Server] {
        &self.servers
    }

    /// The distribution and key hash.
    pub fn config(&self) -> RouterConfig {
        self.config
    }

    /// The continuum (empty for modula).
    pub fn continuum(&self) -> &Continuum {
        &self.continuum
    }

    /// The key hash of `key`.
    #[inline]
    pub fn hash_key(&self, key: &[u8]) -> u32 {
        self.config.key_hash.hash(key)
    }

    /// Index (in [`Router::servers`]) of the server that owns `key`, or `None` when that
    /// server is ejected (modula) or no server is live (consistent).
    ///
    /// A pool of one server skips hashing, as libmemcached does.
    #[inline]
    pub fn server_index(&self, key: &[u8]) -> Option<usize> {
        if self.servers.len() == 1 {
            return self.live[0].then_some(0);
        }
        if self.config.distribution == Distribution::Rendezvous {
            return self.rendezvous_winner(key);
        }
        self.server_index_for_hash(self.hash_key(key))
    }

    /// Like [`Router::server_index`] for an already computed key hash (not meaningful for
    /// [`Distribution::Rendezvous`], which hashes per server: `None`).
    #[inline]
    pub fn server_index_for_hash(&self, hash: u32) -> Option<usize> {
        match self.config.distribution {
            Distribution::Modula => {
                let index = (hash % self.servers.len() as u32) as usize;
                self.live[index].then_some(index)
            }
            Distribution::Rendezvous => None,
            _ => self.continuum.owner_for_hash(hash),
        }
    }

    /// pymemcache's rendezvous order of two (score, server index) candidates: the higher score
    /// wins, ties go to the larger `host:port` name (pymemcache's `max(str(node), str(winner))`).
    fn rendezvous_cmp(&self, a: (u32, usize), b: (u32, usize)) -> std::cmp::Ordering {
        a.0.cmp(&b.0).then_with(|| self.names[a.1].cmp(&self.names[b.1]))
    }

    /// Live servers with their rendezvous score for `key`, in list order.
    fn rendezvous_scores<'a>(&'a self, key: &'a [u8]) -> impl Iterator<Item = (u32, usize)> + 'a {
        (0..self.servers.len())
            .filter(|&i| self.live[i])
            .map(move |i| (rendezvous_score(&self.names[i], key), i))
    }

    /// The live server with the best rendezvous score (no allocation); on a full tie (the
    /// same name twice) the first in list order.
    fn rendezvous_winner(&self, key: &[u8]) -> Option<usize> {
        self.rendezvous_scores(key)
            .reduce(
                |best, candidate| {
                    if self.rendezvous_cmp(candidate, best).is_gt() {
                        candidate
                    } else {
                        best
                    }
                },
            )
            .map(|(_, index)| index)
    }

    /// Live servers by rendezvous order for `key`, best first.
    fn rendezvous_ranking(&self, key: &[u8]) -> Vec<(u32, usize)> {
        let mut ranking: Vec<(u32, usize)> = self.rendezvous_scores(key).collect();
        ranking.sort_by(|&a, &b| self.rendezvous_cmp(b, a));
        ranking
    }

    /// The server that owns `key` (see [`Router::server_index`]).
    pub fn server_for(&self, key: &[u8]) -> Option<&Server> {
        self.server_index(key).map(|i| &self.servers[i])
    }

    /// Up to `count` distinct live servers for `key`, primary first: the owners of the next
    /// points clockwise on the ring (consistent), or the next live servers in list order
    /// (modula). Used for client-side replication. Clears `out` first.
    pub fn successors(&self, key: &[u8], count: usize, out: &mut Vec<usize>) {
        out.clear();
        let want = count.min(self.live_count);
        if want == 0 {
            return;
        }
        if self.servers.len() == 1 {
            out.push(0);
            return;
        }
        let hash = self.hash_key(key);
        match self.config.distribution {
            Distribution::Rendezvous => {
                out.extend(self.rendezvous_ranking(key).into_iter().take(want).map(|(_, i)| i));
            }
            Distribution::Modula => {
                let n = self.servers.len();
                let start = (hash % n as u32) as usize;
                for step in 0..n {
                    let index = (start + step) % n;
                    if self.live[index] {
                        out.push(index);
                        if out.len() == want {
                            break;
                        }
                    }
                }
            }
            _ => {
                let Some(start) = self.continuum.position_for_hash(hash) else { return };
                let len = self.continuum.len();
                for step in 0..len {
                    let Some((_, owner)) = self.continuum.point((start + step) % len) else {
                        break;
                    };
                    if !out.contains(&owner) {
                        out.push(owner);
                        if out.len() == want {
                            break;
                        }
                    }
                }
            }
        }
    }

    /// Whether server `index` is live (not ejected).
    pub fn is_live(&self, index: usize) -> bool {
        self.live.get(index).copied().unwrap_or(false)
    }

    /// Number of live servers.
    pub fn live_count(&self) -> usize {
        self.live_count
    }

    /// Marks server `index` live or ejected and rebuilds the continuum if that changed.
    /// Returns whether anything changed (an unknown index changes nothing).
    pub fn set_live(&mut self, index: usize, live: bool) -> bool {
        match self.live.get_mut(index) {
            Some(flag) if *flag != live => {
                *flag = live;
                self.rebuild();
                true
            }
            _ => false,
        }
    }

    /// Ejects server `index` from the ring (its keys go to ring neighbours).
    pub fn eject(&mut self, index: usize) -> bool {
        self.set_live(index, false)
    }

    /// Puts server `index` back on the ring.
    pub fn restore(&mut self, index: usize) -> bool {
        self.set_live(index, true)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn three(config: RouterConfig) -> Router {
        Router::from_specs(&["10.0.0.1:11211", "10.0.0.2:11211", "10.0.0.3:11211"], config).unwrap()
    }

    #[test]
    fn empty_pool_is_an_error() {
        assert_eq!(Router::new(vec![], RouterConfig::ketama()), Err(RouterError::NoServers));
    }

    #[test]
    fn single_server_skips_hashing() {
        let mut router = Router::new(vec![Server::new("a", 1)], RouterConfig::modula()).unwrap();
        assert_eq!(router.server_index(b"anything"), Some(0));
        router.eject(0);
        assert_eq!(router.server_index(b"anything"), None);
    }

    #[test]
    fn known_keys_from_the_vectors() {
        // First rows of ketama_compat_3.tsv and modula_default_3.tsv.
        let ketama = three(RouterConfig::ketama());
        assert_eq!(ketama.server_for(b"key:0").unwrap().to_string(), "10.0.0.2:11211");
        assert_eq!(ketama.continuum().len(), 480);
        let modula = three(RouterConfig::modula());
        assert_eq!(modula.server_index(b"key:0"), Some((3_235_172_033u32 % 3) as usize));
    }

    #[test]
    fn ejecting_moves_only_the_ejected_servers_keys() {
        let mut router = three(RouterConfig::ketama());
        let before: Vec<_> =
            (0..2000).map(|i| router.server_index(format!("k{i}").as_bytes())).collect();
        assert!(router.eject(1));
        assert!(!router.eject(1));
        for (i, owner) in before.iter().enumerate() {
            let now = router.server_index(format!("k{i}").as_bytes());
            if *owner == Some(1) {
                assert_ne!(now, Some(1));
            } else {
                assert_eq!(now, *owner);
            }
        }
        assert!(router.restore(1));
        let after: Vec<_> =
            (0..2000).map(|i| router.server_index(format!("k{i}").as_bytes())).collect();
        assert_eq!(before, after);
    }

    #[test]
    fn modula_does_not_remap_an_ejected_server() {
        let mut router = three(RouterConfig::modula());
        let key = (0..)
            .map(|i| format!("k{i}"))
            .find(|k| router.server_index(k.as_bytes()) == Some(2))
            .unwrap();
        router.eject(2);
        assert_eq!(router.server_index(key.as_bytes()), None);
    }

    #[test]
    fn successors_are_distinct_and_start_with_the_owner() {
        let mut router = three(RouterConfig::ketama());
        let mut out = Vec::new();
        for i in 0..200 {
            let key = format!("r{i}");
            router.successors(key.as_bytes(), 2, &mut out);
            assert_eq!(out.len(), 2);
            assert_eq!(Some(out[0]), router.server_index(key.as_bytes()));
            assert_ne!(out[0], out[1]);
        }
        router.successors(b"x", 10, &mut out);
        assert_eq!(out.len(), 3);
        router.eject(0);
        router.successors(b"x", 10, &mut out);
        assert_eq!(out.len(), 2);
        assert!(!out.contains(&0));
    }

    #[test]
    fn libketama_equals_libmemcached_off_port_11211_only() {
        let specs_11311 = ["10.0.0.1:11311", "10.0.0.2:11311:2", "10.0.0.3:11311"];
        let ketama = Router::from_specs(&specs_11311, RouterConfig::ketama()).unwrap();
        let lastfm = Router::from_specs(&specs_11311, RouterConfig::libketama_original()).unwrap();
        assert_eq!(ketama.continuum(), lastfm.continuum());
        let specs_11211 = ["10.0.0.1:11211", "10.0.0.2:11211", "10.0.0.3:11211"];
        let ketama = Router::from_specs(&specs_11211, RouterConfig::ketama()).unwrap();
        let lastfm = Router::from_specs(&specs_11211, RouterConfig::libketama_original()).unwrap();
        let same = (0..3000)
            .filter(|i| {
                let key = format!("key:{i}");
                ketama.server_index(key.as_bytes()) == lastfm.server_index(key.as_bytes())
            })
            .count();
        // ketama.md: only about a third agree (3693/10031), because ":11211" is hashed.
        assert!(same > 700 && same < 1500, "{same}");
    }

    #[test]
    fn rendezvous_picks_the_highest_score() {
        let router = three(RouterConfig::pymemcache_rendezvous());
        for i in 0..100 {
            let key = format!("k{i}");
            let best = (0..3)
                .max_by_key(|&s| {
                    (rendezvous_score(&format!("10.0.0.{}:11211", s + 1), key.as_bytes()), s)
                })
                .unwrap();
            assert_eq!(router.server_index(key.as_bytes()), Some(best));
        }
    }

    #[test]
    fn consistent_with_weights_switches_to_weighted() {
        let unweighted = three(RouterConfig::consistent());
        assert_eq!(unweighted.continuum().len(), 300);
        let weighted = Router::from_specs(
            &["10.0.0.1:11211:1", "10.0.0.2:11211:2", "10.0.0.3:11211:3"],
            RouterConfig::consistent(),
        )
        .unwrap();
        assert_eq!(weighted.continuum().len(), 480);
    }
}
