//! The per-shard hash index: open addressing with linear probing, 8 bytes a slot, resized
//! incrementally (no stop-the-world rehash).
//!
//! ```text
//!  slot (u64):  63 ............ 32 31 ............. 0
//!              |  hash bits 0..31  |  ChunkRef + 2   |     0 = empty, low word 1 = tombstone
//!
//!  home slot = (hash bits 0..31) & mask, so an entry's home is known without reading its key:
//!  deletes shift the following entries back (no tombstones), and migration needs no rehash.
//!
//!  growing:   new table (2x) <---- every insert moves 32 old slots ---- old table
//!             lookups probe new, then old; inserts go to new; deletes in old leave tombstones
//! ```
//!
//! The index lives outside the slab pages and is **not** counted against `-m` (memcached's hash
//! table is not either); its size is reported as `hash_bytes`.

use crate::slab::ChunkRef;

const EMPTY: u64 = 0;
const TOMB: u64 = 1;
/// Old slots migrated per insert while growing.
const MIGRATE_STEP: usize = 32;
/// Initial slots of the whole store (memcached's default hashpower 16), split over the shards.
const INITIAL_POWER: u32 = 16;
/// Smallest initial table of one shard.
const MIN_POWER: u32 = 10;

/// A seeded 64-bit hash for keys (folded multiply, wyhash style).
#[derive(Debug, Clone, Copy)]
pub(crate) struct KeyHasher {
    seed: u64,
}

const P0: u64 = 0xa076_1d64_78bd_642f;
const P1: u64 = 0xe703_7ed1_a0b4_28db;
const P2: u64 = 0x8ebc_6af0_9c88_c6e3;

#[inline]
fn mum(a: u64, b: u64) -> u64 {
    let r = u128::from(a) * u128::from(b);
    (r as u64) ^ ((r >> 64) as u64)
}

#[inline]
fn rd8(b: &[u8]) -> u64 {
    let mut a = [0u8; 8];
    a.copy_from_slice(&b[..8]);
    u64::from_le_bytes(a)
}

impl KeyHasher {
    pub fn new(seed: u64) -> Self {
        KeyHasher { seed }
    }

    #[inline]
    pub fn hash(&self, key: &[u8]) -> u64 {
        let mut h = self.seed ^ P0 ^ (key.len() as u64).wrapping_mul(P1);
        let mut rest = key;
        while rest.len() >= 16 {
            h = mum(rd8(rest) ^ P1, rd8(&rest[8..]) ^ h);
            rest = &rest[16..];
        }
        let (a, b) = if rest.len() >= 8 {
            (rd8(rest), rd8(&rest[rest.len() - 8..]))
        } else if rest.len() >= 4 {
            let lo = u64::from(crate::item::rd_u32(rest, 0));
            let hi = u64::from(crate::item::rd_u32(rest, rest.len() - 4));
            (lo, hi)
        } else if !rest.is_empty() {
            let a = (u64::from(rest[0]) << 16)
                | (u64::from(rest[rest.len() / 2]) << 8)
                | u64::from(rest[rest.len() - 1]);
            (a, 0)
        } else {
            (0, 0)
        };
        mum(mum(a ^ P1, b ^ h) ^ P2, h ^ P0)
    }
}

/// Where a found entry sits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Slot {
    in_old: bool,
    idx: usize,
}

#[derive(Debug)]
struct OldTable {
    slots: Box<[u64]>,
    mask: usize,
    pos: usize,
}

/// The index of one shard: key hash -> chunk reference.
#[derive(Debug)]
pub(crate) struct HashIndex {
    slots: Box<[u64]>,
    mask: usize,
    len: usize,
    old: Option<OldTable>,
    old_len: usize,
}

#[inline]
fn enc(hash: u64, r: ChunkRef) -> u64 {
    (hash << 32) | u64::from(r.0 + 2)
}

#[inline]
fn dec(slot: u64) -> ChunkRef {
    ChunkRef((slot as u32) - 2)
}

#[inline]
fn is_entry(slot: u64) -> bool {
    (slot as u32) >= 2
}

#[inline]
fn home(slot_or_hash_hi: u64, mask: usize) -> usize {
    ((slot_or_hash_hi >> 32) as usize) & mask
}

fn zeroed(n: usize) -> Box<[u64]> {
    vec![EMPTY; n].into_boxed_slice()
}

impl HashIndex {
    /// An index for one of `shards` shards: the store starts with 2^16 slots in total.
    pub fn new(shards: usize) -> Self {
        let power = INITIAL_POWER.saturating_sub(shards.max(1).trailing_zeros()).max(MIN_POWER);
        let n = 1usize << power;
        HashIndex { slots: zeroed(n), mask: n - 1, len: 0, old: None, old_len: 0 }
    }

    /// Live entries.
    pub fn len(&self) -> usize {
        self.len + self.old_len
    }

    /// Bytes used by the tables.
    pub fn bytes(&self) -> usize {
        8 * (self.slots.len() + self.old.as_ref().map_or(0, |o| o.slots.len()))
    }

    /// log2 of the slot count (memcached's `hash_power_level`).
    pub fn power(&self) -> u32 {
        self.slots.len().trailing_zeros()
    }

    pub fn is_expanding(&self) -> bool {
        self.old.is_some()
    }

    /// Finds the entry whose hash matches and for which `is_key` says the chunk holds the key.
    #[inline]
    pub fn find(
        &self,
        hash: u64,
        mut is_key: impl FnMut(ChunkRef) -> bool,
    ) -> Option<(Slot, ChunkRef)> {
        let tag = (hash as u32) as u64;
        let h = hash << 32;
        let mut i = home(h, self.mask);
        loop {
            let s = self.slots[i];
            if s == EMPTY {
                break;
            }
            if (s >> 32) == tag && is_key(dec(s)) {
                return Some((Slot { in_old: false, idx: i }, dec(s)));
            }
            i = (i + 1) & self.mask;
        }
        if let Some(old) = &self.old {
            let mut i = home(h, old.mask);
            loop {
                let s = old.slots[i];
                if s == EMPTY {
                    break;
                }
                if is_entry(s) && (s >> 32) == tag && is_key(dec(s)) {
                    return Some((Slot { in_old: true, idx: i }, dec(s)));
                }
                i = (i + 1) & old.mask;
            }
        }
        None
    }

    /// Finds the slot holding exactly `r` (used when the key is known to be in `r`).
    pub fn find_ref(&self, hash: u64, r: ChunkRef) -> Option<Slot> {
        self.find(hash, |c| c == r).map(|(s, _)| s)
    }

    /// Points an existing entry at a new chunk.
    #[inline]
    pub fn update(&mut self, slot: Slot, r: ChunkRef) {
        let t = if slot.in_old {
            &mut self.old.as_mut().expect("old table exists while its slot is used").slots
        } else {
            &mut self.slots
        };
        let tag = t[slot.idx] >> 32;
        t[slot.idx] = (tag << 32) | u64::from(r.0 + 2);
    }

    /// Inserts a key known to be absent.
    pub fn insert(&mut self, hash: u64, r: ChunkRef) {
        if self.old.is_some() {
            self.migrate(MIGRATE_STEP);
        }
        if (self.len + 1) * 4 > self.slots.len() * 3 {
            self.grow();
        }
        Self::place(&mut self.slots, self.mask, enc(hash & 0xffff_ffff, r));
        self.len += 1;
    }

    fn place(slots: &mut [u64], mask: usize, entry: u64) {
        let mut i = home(entry, mask);
        while slots[i] != EMPTY {
            i = (i + 1) & mask;
        }
        slots[i] = entry;
    }

    /// Removes the entry at `slot`.
    pub fn remove(&mut self, slot: Slot) {
        if slot.in_old {
            let old = self.old.as_mut().expect("old table exists while its slot is used");
            old.slots[slot.idx] = TOMB;
            self.old_len -= 1;
            return;
        }
        // Backward-shift deletion: pull later entries of the cluster into the hole.
        let mask = self.mask;
        let mut hole = slot.idx;
        let mut j = hole;
        loop {
            j = (j + 1) & mask;
            let s = self.slots[j];
            if s == EMPTY {
                break;
            }
            let h = home(s, mask);
            // Move s into the hole if its home is not in (hole, j] (cyclically).
            let in_range = if hole <= j { hole < h && h <= j } else { hole < h || h <= j };
            if !in_range {
                self.slots[hole] = s;
                hole = j;
            }
        }
        self.slots[hole] = EMPTY;
        self.len -= 1;
    }

    fn grow(&mut self) {
        if self.old.is_some() {
            // Still migrating: finish first (rare: migration outpaces a doubling).
            self.migrate(usize::MAX);
        }
        let n = self.slots.len() * 2;
        let old = std::mem::replace(&mut self.slots, zeroed(n));
        let old_mask = self.mask;
        self.mask = n - 1;
        self.old_len = self.len;
        self.len = 0;
        self.old = Some(OldTable { slots: old, mask: old_mask, pos: 0 });
    }

    /// Moves up to `n` old slots into the new table.
    pub fn migrate(&mut self, n: usize) {
        let Some(old) = self.old.as_mut() else { return };
        let mut done = 0;
        while done < n && old.pos < old.slots.len() {
            let s = old.slots[old.pos];
            if is_entry(s) {
                Self::place(&mut self.slots, self.mask, s);
                self.len += 1;
                self.old_len -= 1;
                old.slots[old.pos] = TOMB;
            }
            old.pos += 1;
            done += 1;
        }
        if old.pos >= old.slots.len() {
            debug_assert_eq!(self.old_len, 0);
            self.old = None;
        }
    }

    /// Every live entry (for integrity checks).
    pub fn entries(&self) -> impl Iterator<Item = (u32, ChunkRef)> + '_ {
        let old = self.old.iter().flat_map(|o| o.slots.iter());
        self.slots.iter().chain(old).filter(|s| is_entry(**s)).map(|&s| ((s >> 32) as u32, dec(s)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    #[test]
    fn insert_find_remove_across_growth() {
        let h = KeyHasher::new(7);
        let mut idx = HashIndex::new(1);
        let mut model = HashMap::new();
        let n = 300_000u32;
        for i in 0..n {
            let key = format!("key{i}");
            let hash = h.hash(key.as_bytes());
            idx.insert(hash, ChunkRef(i));
            model.insert(key, i);
            if i % 3 == 0 {
                let k = format!("key{}", i / 2);
                if let Some(v) = model.remove(&k) {
                    let (slot, r) = idx.find(h.hash(k.as_bytes()), |c| c.0 == v).unwrap();
                    assert_eq!(r.0, v);
                    idx.remove(slot);
                }
            }
        }
        assert_eq!(idx.len(), model.len());
        for (k, v) in &model {
            let found = idx.find(h.hash(k.as_bytes()), |c| c.0 == *v);
            assert_eq!(found.map(|f| f.1 .0), Some(*v), "{k}");
        }
        assert!(idx.find(h.hash(b"nope"), |_| true).is_none() || idx.len() > 0);
        assert_eq!(idx.entries().count(), model.len());
    }

    #[test]
    fn hash_differs_by_seed_and_key() {
        let a = KeyHasher::new(1);
        let b = KeyHasher::new(2);
        assert_ne!(a.hash(b"foo"), b.hash(b"foo"));
        assert_ne!(a.hash(b"foo"), a.hash(b"fop"));
        assert_ne!(a.hash(b""), a.hash(b"\0"));
        let long = [7u8; 250];
        assert_ne!(a.hash(&long), a.hash(&long[..249]));
    }
}
