//! Per-class replacement policy: CLOCK (second chance) with a reference bit in the item header.
//!
//! ```text
//!            hand ──> chunk ──> chunk ──> chunk ─┐   (all chunks of the class's pages,
//!             ^                                   │    in page order, wrapping around)
//!             └───────────────────────────────────┘
//!   at each chunk:  free ─────────────> skip
//!                   expired / flushed ─> reclaim it (counts `reclaimed`)      → done
//!                   REF set ──────────> clear REF, remember the first one, go on
//!                   REF clear ────────> evict it                               → done
//!   after CLOCK_SCAN_LIMIT chunks with REF set everywhere: evict the first one seen.
//!   with -M (no eviction) only dead items are taken, within RECLAIM_SCAN_LIMIT chunks.
//! ```
//!
//! Why CLOCK and not memcached's segmented hot/warm/cold doubly linked LRU: a linked LRU costs
//! two links per item (8 bytes even with 32-bit references) and a write to three items on
//! every bump; CLOCK costs one bit, a get only sets that bit, and the scan per eviction is
//! bounded. Items that are read survive a full sweep, items written once and never read are
//! the first to go — the same protection the segmented LRU's hot/warm split gives.

/// How many chunks one eviction may look at before it evicts regardless of reference bits.
/// Clearing a bit undoes one earlier get, so the scan is O(1) amortised; the limit only
/// bounds the worst single eviction.
pub(crate) const CLOCK_SCAN_LIMIT: usize = 8192;

/// With eviction off (`-M`) only this many chunks are checked for expired items per store
/// (memcached checks a few items at the LRU tail; the background reclaimer does the rest).
pub(crate) const RECLAIM_SCAN_LIMIT: usize = 64;

/// Advances a class's hand by one chunk; returns the (page position, chunk) it pointed at.
#[inline]
pub(crate) fn advance(
    hand_page: &mut usize,
    hand_chunk: &mut u32,
    pages: usize,
    per_page: u32,
) -> (usize, u32) {
    if *hand_page >= pages {
        *hand_page = 0;
        *hand_chunk = 0;
    }
    let at = (*hand_page, *hand_chunk);
    *hand_chunk += 1;
    if *hand_chunk >= per_page {
        *hand_chunk = 0;
        *hand_page += 1;
        if *hand_page >= pages {
            *hand_page = 0;
        }
    }
    at
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hand_wraps_over_pages_and_chunks() {
        let (mut p, mut c) = (0usize, 0u32);
        let seen: Vec<_> = (0..7).map(|_| advance(&mut p, &mut c, 2, 3)).collect();
        assert_eq!(seen, [(0, 0), (0, 1), (0, 2), (1, 0), (1, 1), (1, 2), (0, 0)]);
        // A hand left beyond a removed page restarts at the beginning.
        let (mut p, mut c) = (5usize, 2u32);
        assert_eq!(advance(&mut p, &mut c, 2, 3), (0, 0));
    }
}
