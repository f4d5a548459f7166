//! Statistics as data, with memcached's names; the server turns them into `STAT` lines.
//!
//! ```text
//!   Store::stats()       -> StoreStats   -> pairs(): [("curr_items", 3), ("bytes", 402), ...]
//!   Store::slab_stats()  -> SlabStats    -> pairs(): [("1:chunk_size", 64), ..., ("active_slabs", 2)]
//!   Store::item_stats()  -> ItemStats    -> pairs(): [("items:1:number", 3), ...]
//!   Store::size_stats()  -> [(size, count)]   (32-byte buckets)
//! ```

/// General counters (`stats`). Every field is named as memcached names the STAT line.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[allow(missing_docs)]
pub struct StoreStats {
    pub curr_items: u64,
    pub total_items: u64,
    pub bytes: u64,
    pub evictions: u64,
    pub reclaimed: u64,
    pub expired_unfetched: u64,
    pub evicted_unfetched: u64,
    pub evicted_active: u64,
    pub get_hits: u64,
    pub get_misses: u64,
    pub get_expired: u64,
    pub get_flushed: u64,
    pub cmd_get: u64,
    pub cmd_set: u64,
    pub cmd_touch: u64,
    pub cmd_flush: u64,
    pub delete_hits: u64,
    pub delete_misses: u64,
    pub incr_hits: u64,
    pub incr_misses: u64,
    pub decr_hits: u64,
    pub decr_misses: u64,
    pub cas_hits: u64,
    pub cas_misses: u64,
    pub cas_badval: u64,
    pub touch_hits: u64,
    pub touch_misses: u64,
    pub store_too_large: u64,
    pub store_no_memory: u64,
    pub limit_maxbytes: u64,
    pub total_malloced: u64,
    pub hash_power_level: u64,
    pub hash_bytes: u64,
    pub hash_is_expanding: u64,
    pub slab_reassign_rescues: u64,
    pub slab_reassign_evictions_nomem: u64,
    pub slab_global_page_pool: u64,
    pub slabs_moved: u64,
    pub crawler_reclaimed: u64,
    pub crawler_items_checked: u64,
}

impl StoreStats {
    /// `(name, value)` in the order memcached prints them.
    pub fn pairs(&self) -> Vec<(&'static str, u64)> {
        vec![
            ("cmd_get", self.cmd_get),
            ("cmd_set", self.cmd_set),
            ("cmd_flush", self.cmd_flush),
            ("cmd_touch", self.cmd_touch),
            ("get_hits", self.get_hits),
            ("get_misses", self.get_misses),
            ("get_expired", self.get_expired),
            ("get_flushed", self.get_flushed),
            ("delete_misses", self.delete_misses),
            ("delete_hits", self.delete_hits),
            ("incr_misses", self.incr_misses),
            ("incr_hits", self.incr_hits),
            ("decr_misses", self.decr_misses),
            ("decr_hits", self.decr_hits),
            ("cas_misses", self.cas_misses),
            ("cas_hits", self.cas_hits),
            ("cas_badval", self.cas_badval),
            ("touch_hits", self.touch_hits),
            ("touch_misses", self.touch_misses),
            ("store_too_large", self.store_too_large),
            ("store_no_memory", self.store_no_memory),
            ("limit_maxbytes", self.limit_maxbytes),
            ("hash_power_level", self.hash_power_level),
            ("hash_bytes", self.hash_bytes),
            ("hash_is_expanding", self.hash_is_expanding),
            ("slab_reassign_rescues", self.slab_reassign_rescues),
            ("slab_reassign_evictions_nomem", self.slab_reassign_evictions_nomem),
            ("slab_global_page_pool", self.slab_global_page_pool),
            ("slabs_moved", self.slabs_moved),
            ("crawler_reclaimed", self.crawler_reclaimed),
            ("crawler_items_checked", self.crawler_items_checked),
            ("curr_items", self.curr_items),
            ("total_items", self.total_items),
            ("expired_unfetched", self.expired_unfetched),
            ("evicted_unfetched", self.evicted_unfetched),
            ("evicted_active", self.evicted_active),
            ("evictions", self.evictions),
            ("reclaimed", self.reclaimed),
            ("bytes", self.bytes),
            ("total_malloced", self.total_malloced),
        ]
    }
}

/// One slab class in `stats slabs`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[allow(missing_docs)]
pub struct SlabClassStats {
    /// Class id (1-based).
    pub id: u32,
    pub chunk_size: u64,
    pub chunks_per_page: u64,
    pub total_pages: u64,
    pub total_chunks: u64,
    pub used_chunks: u64,
    pub free_chunks: u64,
    pub free_chunks_end: u64,
    pub mem_requested: u64,
    pub get_hits: u64,
    pub cmd_set: u64,
    pub delete_hits: u64,
    pub incr_hits: u64,
    pub decr_hits: u64,
    pub cas_hits: u64,
    pub cas_badval: u64,
    pub touch_hits: u64,
}

/// `stats slabs`: the classes that hold pages, then the totals.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SlabStats {
    /// Classes with at least one page.
    pub classes: Vec<SlabClassStats>,
    /// Number of classes with pages.
    pub active_slabs: u64,
    /// Page memory allocated (never above the limit).
    pub total_malloced: u64,
}

impl SlabStats {
    /// `("<id>:<name>", value)` lines, then `active_slabs` and `total_malloced`.
    pub fn pairs(&self) -> Vec<(String, u64)> {
        let mut v = Vec::new();
        for c in &self.classes {
            let id = c.id;
            for (name, value) in [
                ("chunk_size", c.chunk_size),
                ("chunks_per_page", c.chunks_per_page),
                ("total_pages", c.total_pages),
                ("total_chunks", c.total_chunks),
                ("used_chunks", c.used_chunks),
                ("free_chunks", c.free_chunks),
                ("free_chunks_end", c.free_chunks_end),
                ("mem_requested", c.mem_requested),
                ("get_hits", c.get_hits),
                ("cmd_set", c.cmd_set),
                ("delete_hits", c.delete_hits),
                ("incr_hits", c.incr_hits),
                ("decr_hits", c.decr_hits),
                ("cas_hits", c.cas_hits),
                ("cas_badval", c.cas_badval),
                ("touch_hits", c.touch_hits),
            ] {
                v.push((format!("{id}:{name}"), value));
            }
        }
        v.push(("active_slabs".to_string(), self.active_slabs));
        v.push(("total_malloced".to_string(), self.total_malloced));
        v
    }
}

/// One class in `stats items`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[allow(missing_docs)]
pub struct ItemClassStats {
    /// Class id (1-based).
    pub id: u32,
    pub number: u64,
    /// Seconds since the last access of the item next in line for eviction.
    pub age: u64,
    pub mem_requested: u64,
    pub evicted: u64,
    pub evicted_nonzero: u64,
    pub evicted_time: u64,
    pub outofmemory: u64,
    pub reclaimed: u64,
    pub expired_unfetched: u64,
    pub evicted_unfetched: u64,
    pub evicted_active: u64,
    pub crawler_reclaimed: u64,
    pub moves_to_class: u64,
}

/// `stats items`: the classes that hold items.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ItemStats {
    /// Classes with at least one item.
    pub classes: Vec<ItemClassStats>,
}

impl ItemStats {
    /// `("items:<id>:<name>", value)` lines.
    pub fn pairs(&self) -> Vec<(String, u64)> {
        let mut v = Vec::new();
        for c in &self.classes {
            let id = c.id;
            for (name, value) in [
                ("number", c.number),
                ("number_hot", 0),
                ("number_warm", 0),
                ("number_cold", c.number),
                ("age_hot", 0),
                ("age_warm", 0),
                ("age", c.age),
                ("mem_requested", c.mem_requested),
                ("evicted", c.evicted),
                ("evicted_nonzero", c.evicted_nonzero),
                ("evicted_time", c.evicted_time),
                ("outofmemory", c.outofmemory),
                ("tailrepairs", 0),
                ("reclaimed", c.reclaimed),
                ("expired_unfetched", c.expired_unfetched),
                ("evicted_unfetched", c.evicted_unfetched),
                ("evicted_active", c.evicted_active),
                ("crawler_reclaimed", c.crawler_reclaimed),
            ] {
                v.push((format!("items:{id}:{name}"), value));
            }
        }
        v
    }
}
