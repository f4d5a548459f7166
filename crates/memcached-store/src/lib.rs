//! The memcached item store: a slab allocator under a hard memory bound, a sharded hash index,
//! CLOCK eviction per slab class, lazy expiry, CAS, statistics and a change feed. No I/O, no
//! protocol, no clock: every call takes `now` (Unix seconds).
//!
//! ```text
//!   Store (Send + Sync, share as Arc<Store>)
//!    ├── shards: N x Mutex<Shard>      key hash -> shard; index + slab classes + counters
//!    │     ├── HashIndex               open addressing, 8 B/slot, incremental resize (index.rs)
//!    │     └── SlabClass x ~40         pages cut into equal chunks, CLOCK hand (slab.rs, lru.rs)
//!    ├── PagePool                      1 MiB pages under the -m bound, shared by all shards
//!    └── Feed                          change records for the replication link (feed.rs)
//! ```
//!
//! Item layout and memory arithmetic: `item.rs` and docs/STORAGE.md.
//!
//! # Public API
//!
//! | call | protocol |
//! |---|---|
//! | [`Store::new`]`(StoreConfig)` | `-m -I -f -n -M -C` ([`StoreConfig`], `Default` = memcached's) |
//! | [`Store::get`] / [`Store::peek`] / [`Store::gat`] / [`Store::meta_get`] ([`Store::meta_get_keyed`], [`Store::meta_get_detailed`]) | get, gets, gat, gats, mg, me |
//! | [`Store::set`]`(.., SetMode)` / [`Store::meta_set`] ([`Store::meta_set_keyed`]) | set add replace append prepend cas, ms |
//! | [`Store::delete`] / [`Store::meta_delete`] | delete, md |
//! | [`Store::incr_decr`] / [`Store::meta_arith`] ([`Store::meta_arith_keyed`]) | incr, decr, ma |
//! | [`Store::touch`] | touch |
//! | [`Store::flush_all`] | `flush_all [delay]` |
//! | [`Store::stats`] / [`Store::slab_stats`] / [`Store::item_stats`] / [`Store::size_stats`] / [`Store::cachedump`] / [`Store::reset_stats`] | stats, stats slabs/items/sizes/cachedump, stats reset |
//! | [`Store::slabs_reassign`] / [`Store::automove_tick`] | slabs reassign, slab_automove |
//! | [`Store::reclaim_expired`] | the LRU crawler (bounded work per call) |
//! | [`Store::set_memory_limit`] | cache_memlimit |
//! | [`Store::for_each_item`] | lru_crawler metadump |
//! | [`Store::shard_of`] / [`Store::shard_count`] / [`Store::classes`] / [`Store::page_size`] | introspection |
//! | [`Store::subscribe`] / [`Store::apply_change`] | replication feed out / in |
//! | [`Store::check_integrity`] | tests and fuzzing |
//!
//! Exptimes are passed as the protocol gives them (`i64`: 0 never, up to 30 days relative,
//! above that absolute, negative = expired) and come back absolute ([`ItemRef::exptime`]).
//!
//! Reads never copy out of the store: the callback gets an [`ItemRef`] borrowing the chunk,
//! inside the shard lock (copy what you need into your output buffer and return).
//!
//! ```
//! use memcached_store::{ArithOp, ArithOutcome, SetMode, Store, StoreConfig, StoreOutcome};
//!
//! let store = Store::new(StoreConfig::default()).unwrap();
//! let now = 1_700_000_000; // Unix seconds, from the server's coarse clock
//!
//! let r = store.set(b"greeting", b"hello", 42, 0, now, SetMode::Set).unwrap();
//! assert_eq!(r.outcome, StoreOutcome::Stored);
//!
//! let mut out = Vec::new();
//! let flags = store.get(b"greeting", now, |item| {
//!     out.extend_from_slice(item.value());
//!     item.flags()
//! });
//! assert_eq!((flags, out.as_slice()), (Some(42), &b"hello"[..]));
//!
//! // cas with a stale unique is refused.
//! let stale = store.set(b"greeting", b"bye", 0, 0, now, SetMode::Cas(r.cas + 1000)).unwrap();
//! assert_eq!(stale.outcome, StoreOutcome::Exists);
//!
//! store.set(b"n", b"9", 0, 10, now, SetMode::Set).unwrap(); // expires in 10 s
//! let v = store.incr_decr(b"n", 1, ArithOp::Incr, now).unwrap();
//! assert!(matches!(v, ArithOutcome::Value { value: 10, .. }));
//! assert!(store.get(b"n", now + 10, |_| ()).is_none()); // lazily expired
//!
//! for (name, value) in store.stats().pairs() {
//!     let _line = format!("STAT {name} {value}\r\n");
//! }
//! store.check_integrity().unwrap();
//! ```

#![warn(missing_docs)]

/// Declares a struct of `u64` counters kept per shard and summed for the stats (`add`), so the
/// field list is written once.
macro_rules! summed_counters {
    ($(#[$meta:meta])* $name:ident { $($(#[$fmeta:meta])* $field:ident),* $(,)? }) => {
        $(#[$meta])*
        #[derive(Debug, Default, Clone, Copy)]
        pub(crate) struct $name {
            $($(#[$fmeta])* pub $field: u64,)*
        }

        impl $name {
            /// Adds every counter of `other` to this one.
            pub fn add(&mut self, other: &Self) {
                $(self.$field += other.$field;)*
            }
        }
    };
}

mod config;
mod feed;
mod index;
mod item;
mod lru;
mod ops;
mod shard;
mod slab;
mod stats;
mod store;

pub use config::{ClassGeometry, ConfigError, StoreConfig, ITEM_SIZE_MAX_LIMIT, MAX_CLASSES, MIB};
pub use feed::{ChangeOp, ChangeRecord, FeedReceiver, Notify};
pub use item::{ItemRef, KEY_MAX_LEN};
pub use ops::{
    absolute_exptime, ArithOp, ArithOutcome, CachedumpEntry, DeleteOutcome, KeyForm, MetaArith,
    MetaDelete, MetaGet, MetaGetDetails, MetaSet, MetaSetMode, PageMove, ReassignError,
    ReclaimReport, SetMode, SetResult, StoreError, StoreOutcome, TouchOutcome, REALTIME_MAXDELTA,
};
pub use slab::ChunkRef;
pub use stats::{ItemClassStats, ItemStats, SlabClassStats, SlabStats, StoreStats};
pub use store::{ItemCursor, Store};

#[cfg(test)]
mod send_sync {
    fn assert_send_sync<T: Send + Sync>() {}
    #[test]
    fn store_is_send_and_sync() {
        assert_send_sync::<super::Store>();
    }
}
