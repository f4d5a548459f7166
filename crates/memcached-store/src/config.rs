//! Store configuration (memcached's `-m`, `-I`, `-f`, `-n`, `-M`, `-C`) and the slab geometry
//! derived from it.
//!
//! ```text
//!   class 1     class 2     class 3           ...  class N (largest)
//!   64 B   x1.25  80 B  x1.25  104 B  ...  (rounded up to 8 bytes)  page_size / item_size_max
//!   |<------------- one page (1 MiB) is cut into chunks of ONE class ------------->|
//! ```
//!
//! The smallest chunk is `16 + min_chunk` bytes rounded up to 8 (16 = the item header rounded
//! up); each next class is the previous one times `growth_factor`, rounded up to 8 bytes, until
//! half a page; the last class is one chunk of `item_size_max` bytes, so every item that obeys
//! `-I` fits one chunk and no item is ever split across chunks.

use thiserror::Error;

use crate::item::HEADER_BASE_ROUNDED;

/// One mebibyte.
pub const MIB: usize = 1024 * 1024;

/// The largest value `-I` may take (memcached: 1 GiB).
pub const ITEM_SIZE_MAX_LIMIT: usize = 1024 * MIB;

/// The number of slab classes is capped as in memcached (ids 1..=63).
pub const MAX_CLASSES: usize = 63;

/// How the store is sized and how it behaves when memory runs out.
///
/// `Default` is memcached's defaults: `-m 64 -I 1m -f 1.25 -n 48`, eviction on, CAS on.
#[derive(Debug, Clone, PartialEq)]
pub struct StoreConfig {
    /// `-m`: the hard bound on item memory (slab pages), in bytes.
    pub memory_limit_bytes: u64,
    /// Slab page size; raised to `item_size_max` when that is larger (as `-I` does).
    pub page_size: usize,
    /// `-I`: the largest item (header + key + value) the store accepts.
    pub item_size_max: usize,
    /// `-f`: chunk size growth factor between slab classes (> 1.0).
    pub growth_factor: f64,
    /// `-n`: minimum space for key + value (+ CAS, client flags) in the smallest chunk.
    pub min_chunk: usize,
    /// `!-M`: evict the least recently used item when memory is full (else refuse the store).
    pub evict: bool,
    /// `!-C`: keep a unique 64-bit CAS value per item (8 bytes per item).
    pub cas_enabled: bool,
    /// Number of independently locked shards (rounded down to a power of two); 0 = automatic
    /// (about one shard per 8 pages, at most 16).
    pub shards: usize,
}

impl Default for StoreConfig {
    fn default() -> Self {
        StoreConfig {
            memory_limit_bytes: 64 * MIB as u64,
            page_size: MIB,
            item_size_max: MIB,
            growth_factor: 1.25,
            min_chunk: 48,
            evict: true,
            cas_enabled: true,
            shards: 0,
        }
    }
}

impl StoreConfig {
    /// Memory limit given in megabytes, as `-m` does.
    pub fn with_memory_mb(mut self, mb: u64) -> Self {
        self.memory_limit_bytes = mb * MIB as u64;
        self
    }
}

/// Why a [`StoreConfig`] was refused.
#[derive(Debug, Error, Clone, PartialEq)]
pub enum ConfigError {
    /// The growth factor must be greater than 1.0 (memcached: "Factor must be greater than 1").
    #[error("growth factor must be greater than 1.0")]
    BadGrowthFactor,
    /// `-I` below 1 KiB or above 1 GiB.
    #[error("item size max must be between 1 KiB and 1 GiB")]
    BadItemSizeMax,
    /// `-I` more than half of `-m` (memcached refuses this too).
    #[error("cannot set item size limit higher than 1/2 of memory max")]
    ItemSizeMaxTooLarge,
    /// `-n` is zero or so large the smallest chunk exceeds half a page.
    #[error("bad minimum chunk size")]
    BadMinChunk,
    /// Page size is not a power of two between 1 KiB and 1 GiB.
    #[error("page size must be a power of two between 1 KiB and 1 GiB")]
    BadPageSize,
    /// The memory limit holds less than one page.
    #[error("memory limit is smaller than one slab page")]
    MemoryTooSmall,
    /// The memory limit needs more pages than 32-bit chunk references can address.
    #[error("memory limit too large for 32-bit chunk references with this page size")]
    MemoryTooLarge,
}

/// One slab class: the chunk size and how many chunks a page holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClassGeometry {
    /// Bytes per chunk.
    pub chunk_size: u32,
    /// Chunks in one page.
    pub chunks_per_page: u32,
}

/// Everything derived from a validated [`StoreConfig`].
#[derive(Debug, Clone)]
pub(crate) struct Geometry {
    pub page_size: usize,
    pub total_pages: usize,
    pub classes: Vec<ClassGeometry>,
    /// Bits of a chunk reference that hold the chunk index inside its page.
    pub chunk_bits: u32,
    pub shards: usize,
    pub cas_enabled: bool,
    pub evict: bool,
}

impl Geometry {
    pub fn new(c: &StoreConfig) -> Result<Geometry, ConfigError> {
        if c.growth_factor.is_nan() || c.growth_factor <= 1.0 || !c.growth_factor.is_finite() {
            return Err(ConfigError::BadGrowthFactor);
        }
        if c.item_size_max < 1024 || c.item_size_max > ITEM_SIZE_MAX_LIMIT {
            return Err(ConfigError::BadItemSizeMax);
        }
        if c.item_size_max as u64 > c.memory_limit_bytes / 2 {
            return Err(ConfigError::ItemSizeMaxTooLarge);
        }
        if !c.page_size.is_power_of_two() || c.page_size < 1024 || c.page_size > ITEM_SIZE_MAX_LIMIT
        {
            return Err(ConfigError::BadPageSize);
        }
        let page_size = c.page_size.max(c.item_size_max.next_power_of_two());
        let smallest = align8(HEADER_BASE_ROUNDED + c.min_chunk);
        if c.min_chunk == 0 || smallest > page_size / 2 || smallest > c.item_size_max {
            return Err(ConfigError::BadMinChunk);
        }
        let total_pages = (c.memory_limit_bytes / page_size as u64) as usize;
        if total_pages == 0 {
            return Err(ConfigError::MemoryTooSmall);
        }
        let mut sizes = Vec::new();
        let mut size = smallest;
        let top = (page_size / 2).min(c.item_size_max);
        while size <= top && sizes.len() < MAX_CLASSES - 1 {
            sizes.push(size);
            // Clamp before rounding so a huge factor cannot overflow.
            let grown = (size as f64 * c.growth_factor).ceil().min((top + 8) as f64) as usize;
            let next = align8(grown);
            size = if next <= size { size + 8 } else { next };
        }
        // The last class holds the largest allowed item in one chunk.
        if sizes.last().copied() != Some(c.item_size_max) {
            sizes.push(c.item_size_max);
        }
        let classes: Vec<ClassGeometry> = sizes
            .iter()
            .map(|&s| ClassGeometry {
                chunk_size: s as u32,
                chunks_per_page: (page_size / s) as u32,
            })
            .collect();
        let max_chunks = classes.iter().map(|g| g.chunks_per_page).max().unwrap_or(1);
        let chunk_bits = 32 - (max_chunks.max(2) - 1).leading_zeros();
        let page_bits = 32 - chunk_bits;
        // Local page indexes must stay below 2^page_bits - 1 so encoded refs never reach
        // u32::MAX - 1 (the index reserves two codes).
        if page_bits < 2 || total_pages as u64 >= (1u64 << page_bits) - 1 {
            return Err(ConfigError::MemoryTooLarge);
        }
        let shards = if c.shards == 0 {
            prev_pow2((total_pages / 8).clamp(1, 16))
        } else {
            prev_pow2(c.shards.clamp(1, 1024))
        };
        Ok(Geometry {
            page_size,
            total_pages,
            classes,
            chunk_bits,
            shards,
            cas_enabled: c.cas_enabled,
            evict: c.evict,
        })
    }

    /// Index of the smallest class whose chunks hold `total` bytes.
    #[inline]
    pub fn class_for(&self, total: usize) -> Option<usize> {
        let i = self.classes.partition_point(|g| (g.chunk_size as usize) < total);
        (i < self.classes.len()).then_some(i)
    }
}

fn align8(n: usize) -> usize {
    (n + 7) & !7
}

fn prev_pow2(n: usize) -> usize {
    if n <= 1 {
        1
    } else {
        1 << (usize::BITS - 1 - n.leading_zeros())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_classes_put_a_132_byte_item_in_136_byte_chunks() {
        let g = Geometry::new(&StoreConfig::default()).unwrap();
        let sizes: Vec<u32> = g.classes.iter().take(6).map(|c| c.chunk_size).collect();
        assert_eq!(sizes, [64, 80, 104, 136, 176, 224]);
        assert_eq!(g.classes[g.class_for(132).unwrap()].chunk_size, 136);
        assert_eq!(g.classes[g.class_for(1032).unwrap()].chunk_size, 1096);
        assert_eq!(g.classes.last().unwrap().chunk_size as usize, MIB);
        assert_eq!(g.total_pages, 64);
        assert_eq!(g.shards, 8);
        assert!(g.class_for(MIB + 1).is_none());
    }

    #[test]
    fn bad_configs_are_refused() {
        let d = StoreConfig::default();
        let bad = |c: StoreConfig| Geometry::new(&c).unwrap_err();
        assert_eq!(
            bad(StoreConfig { growth_factor: 1.0, ..d.clone() }),
            ConfigError::BadGrowthFactor
        );
        assert_eq!(
            bad(StoreConfig { memory_limit_bytes: MIB as u64, ..d.clone() }),
            ConfigError::ItemSizeMaxTooLarge
        );
        assert_eq!(bad(StoreConfig { min_chunk: 0, ..d.clone() }), ConfigError::BadMinChunk);
        assert_eq!(bad(StoreConfig { page_size: 1000, ..d.clone() }), ConfigError::BadPageSize);
    }

    #[test]
    fn a_huge_growth_factor_gives_two_classes() {
        let g = Geometry::new(&StoreConfig { growth_factor: 1e300, ..Default::default() }).unwrap();
        assert_eq!(g.classes.len(), 2);
        let g =
            Geometry::new(&StoreConfig { growth_factor: 1.0001, ..Default::default() }).unwrap();
        assert_eq!(g.classes.len(), MAX_CLASSES);
    }

    #[test]
    fn item_size_max_raises_the_page_size() {
        let c = StoreConfig {
            item_size_max: 4 * MIB,
            memory_limit_bytes: 64 * MIB as u64,
            ..Default::default()
        };
        let g = Geometry::new(&c).unwrap();
        assert_eq!(g.page_size, 4 * MIB);
        assert_eq!(g.total_pages, 16);
        assert_eq!(g.classes.last().unwrap().chunk_size as usize, 4 * MIB);
    }
}
