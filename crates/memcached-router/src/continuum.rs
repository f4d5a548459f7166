//! libmemcached's continuum (`update_continuum` in `hosts.cc`): the sorted ring of points.
//!
//! ```text
//!  for each live server s (index i in the FULL list):
//!      weighted:   points(s) = floor(f32(w_s / W) * 160 / 4 * n_live + 1e-10) * 4
//!                  for n in 0..points/4:  d = MD5(name(s, n))  → 4 points le32(d[0..4]) … le32(d[12..16])
//!      unweighted: points(s) = 100
//!                  for n in 0..100:       1 point  key_hash(name(s, n))
//!      name(s, n) = "host-n" (port 11211) | "host:port-n" | spy: "/host:port-n"
//!      (last.fm libketama: always "host:port-n", floorf(pct * 40.0 * n) digests)
//!
//!  sort by (value, server index)           lookup(h) = first point with value >= h, else point 0
//!
//!   0 ─────●──────●──●────────●─────●─────────●──── 2^32-1 ─┐
//!          s2     s0 s1       s2    s0        s1            │ wraps to the first point
//!   ▲──────────────────────────────────────────────────────┘
//! ```
//!
//! Points are kept as two parallel arrays (values, owners) so the binary search touches only
//! the `u32` values.

use crate::hash::{digest_le32, md5_digest, HashAlgorithm};
use crate::server::Server;

/// libmemcached `MEMCACHED_POINTS_PER_SERVER` (unweighted consistent).
pub const POINTS_PER_SERVER: u32 = 100;
/// libmemcached `MEMCACHED_POINTS_PER_SERVER_KETAMA` (weighted).
pub const POINTS_PER_SERVER_KETAMA: u32 = 160;

/// How point strings are spelled.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PointNames {
    /// `"host-n"` on port 11211, `"host:port-n"` otherwise (libmemcached, twemproxy).
    Libmemcached,
    /// `"/host:port-n"` (libmemcached `KETAMA_SPY`).
    Spy,
    /// `"host:port-n"` always, port 11211 included (last.fm libketama's server-file address).
    Libketama,
}

/// How point values are computed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PointHashing {
    /// 160 × weight share points, four per MD5 digest.
    WeightedMd5,
    /// 100 points, one per hash of the point string with this (key) hash.
    Unweighted(HashAlgorithm),
    /// last.fm libketama: `floorf(f32(pct) * 40.0 * n)` digests (double math), four points each.
    LibketamaMd5,
}

/// The sorted ring of points.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Continuum {
    values: Vec<u32>,
    owners: Vec<u32>,
}

/// Number of MD5 digests (four points each) last.fm libketama gives a server:
/// `floorf(pct * 40.0 * (float)numservers)` with `pct` a float and `40.0` a double.
pub fn libketama_digest_count(weight: u32, total_weight: u64, servers: u32) -> u32 {
    let pct = weight as f32 / total_weight as f32;
    ((f64::from(pct) * 40.0 * f64::from(servers as f32)) as f32).floor() as u32
}

/// Number of points libmemcached gives a server of `weight` out of `total_weight` with
/// `live_servers` live servers, in the weighted mode (f32 arithmetic, left to right).
pub fn weighted_point_count(weight: u32, total_weight: u64, live_servers: u32) -> u32 {
    let pct = weight as f32 / total_weight as f32;
    let quarter = pct * POINTS_PER_SERVER_KETAMA as f32 / 4.0 * live_servers as f32 + 1e-10_f32;
    (quarter.floor() as u32) * 4
}

impl Continuum {
    /// Builds the continuum over the servers whose `live` flag is set. Server indices in the
    /// continuum are positions in the full `servers` list.
    pub fn build(
        servers: &[Server],
        live: &[bool],
        names: PointNames,
        hashing: PointHashing,
    ) -> Continuum {
        let is_live = |i: usize| live.get(i).copied().unwrap_or(true);
        let live_servers = (0..servers.len()).filter(|&i| is_live(i)).count() as u32;
        if live_servers == 0 {
            return Continuum::default();
        }
        let total_weight: u64 = servers
            .iter()
            .enumerate()
            .filter(|&(i, _)| is_live(i))
            .map(|(_, s)| u64::from(s.weight.max(1)))
            .sum();
        let mut points: Vec<(u32, u32)> =
            Vec::with_capacity(live_servers as usize * POINTS_PER_SERVER_KETAMA as usize);
        let mut name = String::with_capacity(64);
        for (index, server) in servers.iter().enumerate() {
            if !is_live(index) {
                continue;
            }
            let owner = index as u32;
            let (groups, per_group) = match hashing {
                PointHashing::WeightedMd5 => {
                    (weighted_point_count(server.weight.max(1), total_weight, live_servers) / 4, 4)
                }
                PointHashing::Unweighted(_) => (POINTS_PER_SERVER, 1),
                PointHashing::LibketamaMd5 => {
                    (libketama_digest_count(server.weight.max(1), total_weight, live_servers), 4)
                }
            };
            for n in 0..groups {
                match names {
                    PointNames::Libmemcached => server.write_point_name(n, &mut name),
                    PointNames::Spy => server.write_spy_point_name(n, &mut name),
                    PointNames::Libketama => server.write_libketama_point_name(n, &mut name),
                }
                match hashing {
                    PointHashing::WeightedMd5 | PointHashing::LibketamaMd5 => {
                        let digest = md5_digest(name.as_bytes());
                        for word in 0..per_group {
                            points.push((digest_le32(&digest, word), owner));
                        }
                    }
                    PointHashing::Unweighted(hash) => {
                        points.push((hash.hash(name.as_bytes()), owner));
                    }
                }
            }
        }
        // continuum_item_cmp: by value, ties go to the lower server index.
        points.sort_unstable();
        let (values, owners) = points.into_iter().unzip();
        Continuum { values, owners }
    }

    /// Number of points on the ring.
    pub fn len(&self) -> usize {
        self.values.len()
    }

    /// True when no server is live.
    pub fn is_empty(&self) -> bool {
        self.values.is_empty()
    }

    /// Position of the point that owns hash `h`: the first point `>= h`, wrapping to 0.
    #[inline]
    pub fn position_for_hash(&self, h: u32) -> Option<usize> {
        if self.values.is_empty() {
            return None;
        }
        let at = self.values.partition_point(|&v| v < h);
        Some(if at == self.values.len() { 0 } else { at })
    }

    /// Server index owning hash `h`, or `None` when the ring is empty.
    #[inline]
    pub fn owner_for_hash(&self, h: u32) -> Option<usize> {
        self.position_for_hash(h).map(|at| self.owners[at] as usize)
    }

    /// The point at `position` as (value, server index).
    pub fn point(&self, position: usize) -> Option<(u32, usize)> {
        Some((*self.values.get(position)?, *self.owners.get(position)? as usize))
    }

    /// All points in ring order as (value, server index).
    pub fn points(&self) -> impl Iterator<Item = (u32, usize)> + '_ {
        self.values.iter().copied().zip(self.owners.iter().map(|&o| o as usize))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn weighted_point_counts_follow_f32_math() {
        // ketama.md: weights 100/100/50/25 give 232 + 232 + 116 + 56 = 636 points.
        let counts: Vec<u32> =
            [100, 100, 50, 25].iter().map(|&w| weighted_point_count(w, 275, 4)).collect();
        assert_eq!(counts, vec![232, 232, 116, 56]);
        assert_eq!(weighted_point_count(1, 3, 3), 160);
        assert_eq!(weighted_point_count(7, 7, 1), 160);
    }

    #[test]
    fn lookup_wraps_to_the_first_point() {
        let servers = [Server::new("a", 11211), Server::new("b", 11211)];
        let ring = Continuum::build(
            &servers,
            &[true, true],
            PointNames::Libmemcached,
            PointHashing::WeightedMd5,
        );
        assert_eq!(ring.len(), 320);
        let (first_value, first_owner) = ring.point(0).unwrap();
        let (last_value, _) = ring.point(ring.len() - 1).unwrap();
        assert_eq!(ring.owner_for_hash(u32::MAX), Some(first_owner));
        assert_eq!(ring.owner_for_hash(last_value.wrapping_add(1)), Some(first_owner));
        assert_eq!(ring.owner_for_hash(first_value), Some(first_owner));
        assert_eq!(ring.owner_for_hash(0), Some(first_owner));
    }

    #[test]
    fn dead_servers_have_no_points() {
        let servers = [Server::new("a", 1), Server::new("b", 1), Server::new("c", 1)];
        let ring = Continuum::build(
            &servers,
            &[true, false, true],
            PointNames::Libmemcached,
            PointHashing::WeightedMd5,
        );
        assert_eq!(ring.len(), 320);
        assert!(ring.points().all(|(_, owner)| owner != 1));
        let none = Continuum::build(
            &servers,
            &[false; 3],
            PointNames::Libmemcached,
            PointHashing::WeightedMd5,
        );
        assert!(none.is_empty());
        assert_eq!(none.owner_for_hash(5), None);
    }
}
