//! Server-side statistics counters (per worker, summed when `stats` is asked for). Item
//! counters (`cmd_get`, `get_hits`, ...) are the store's ([`memcached_store::StoreStats`]);
//! these are the ones only the server sees: bytes on the wire, yields, idle kicks, auth,
//! meta commands, and store refusals decided before the store is called.
//!
//! ```text
//!   worker 0 ── WorkerCounters (AtomicU64s, written only by worker 0) ─┐
//!   worker 1 ── WorkerCounters ─────────────────────────────────────────┼─ sum ─> `stats`
//!   worker N ── WorkerCounters ─────────────────────────────────────────┘
//! ```
//!
//! Each counter has one writer (its worker), so an increment is a relaxed load plus a relaxed
//! store: no locked instruction and no shared cache line on the hot path. `stats reset` from
//! another thread stores zero; an increment racing with it may survive, which memcached's own
//! per-thread counters also allow.

use std::sync::atomic::{AtomicU64, Ordering};

/// Adds `n` to a counter owned by the calling worker.
#[inline]
pub fn bump(counter: &AtomicU64, n: u64) {
    counter.store(counter.load(Ordering::Relaxed).wrapping_add(n), Ordering::Relaxed);
}

macro_rules! worker_counters {
    ($($name:ident),* $(,)?) => {
        /// Counters one worker updates while serving requests (memcached's per-thread stats).
        #[derive(Debug, Default)]
        pub struct WorkerCounters {
            $(#[doc = concat!("`stats ", stringify!($name), "`")] pub $name: AtomicU64,)*
        }

        /// A plain copy of [`WorkerCounters`], summed over workers.
        #[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
        pub struct CounterTotals {
            $(#[doc = concat!("`stats ", stringify!($name), "`")] pub $name: u64,)*
        }

        impl WorkerCounters {
            /// Adds this worker's counters into `totals`.
            pub fn add_to(&self, totals: &mut CounterTotals) {
                $(totals.$name = totals.$name.wrapping_add(self.$name.load(Ordering::Relaxed));)*
            }

            /// Zeroes every counter (`stats reset`).
            pub fn reset(&self) {
                $(self.$name.store(0, Ordering::Relaxed);)*
            }
        }
    };
}

worker_counters!(
    cmd_meta,
    store_too_large,
    store_no_memory,
    auth_cmds,
    auth_errors,
    bytes_read,
    bytes_written,
    conn_yields,
    idle_kicks,
);

impl CounterTotals {
    /// Sums the counters of every worker.
    pub fn sum<'a>(workers: impl IntoIterator<Item = &'a WorkerCounters>) -> Self {
        let mut totals = Self::default();
        for worker in workers {
            worker.add_to(&mut totals);
        }
        totals
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sums_and_resets() {
        let a = WorkerCounters::default();
        let b = WorkerCounters::default();
        bump(&a.cmd_meta, 2);
        bump(&b.cmd_meta, 3);
        bump(&b.bytes_read, 10);
        let totals = CounterTotals::sum([&a, &b]);
        assert_eq!(totals.cmd_meta, 5);
        assert_eq!(totals.bytes_read, 10);
        b.reset();
        assert_eq!(CounterTotals::sum([&a, &b]).cmd_meta, 2);
    }
}
