//! The coarse server clock: Unix seconds in one `AtomicU32`, advanced by a ticker thread.
//!
//! memcached reads `current_time` (a second counter updated by a libevent timer) instead of
//! calling `time()` per request; item lifetimes only need one-second resolution. We do the same:
//!
//! ```text
//!   clock thread ──(on each wall second)──> CoarseClock.now: AtomicU32 ──load()──> workers
//!        │                                                                   (passed as `now`
//!        └──> maintenance tick (expired-item reclaimer, slab automove)        into the store)
//! ```
//!
//! Latency measurements must use `std::time::Instant`, never this clock.

use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Unix time in whole seconds, shared by every thread of the server.
#[derive(Debug)]
pub struct CoarseClock {
    now: AtomicU32,
    started: u32,
}

/// How long the ticker sleeps: until just after the next wall-clock second (at most 100 ms, so
/// a stop request is seen soon). Ticking on the second keeps two replicating nodes' seconds
/// in step, which matters where items are hidden by second (a `-C` flush_all).
pub fn until_next_tick() -> Duration {
    let into_second = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.subsec_nanos());
    let to_next = Duration::from_nanos(u64::from(1_000_000_000 - into_second.min(999_999_999)));
    (to_next + Duration::from_millis(1)).min(Duration::from_millis(100))
}

/// Reads the system clock as Unix seconds (saturating to the `u32` range).
pub fn unix_seconds() -> u32 {
    let secs = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0);
    u32::try_from(secs).unwrap_or(u32::MAX)
}

impl CoarseClock {
    /// A clock starting at the current system time.
    pub fn new() -> Self {
        Self::starting_at(unix_seconds())
    }

    /// A clock frozen at `now` until [`CoarseClock::set`] or [`CoarseClock::refresh`] is called.
    pub fn starting_at(now: u32) -> Self {
        Self { now: AtomicU32::new(now), started: now }
    }

    /// The current coarse time (Unix seconds).
    #[inline]
    pub fn now(&self) -> u32 {
        self.now.load(Ordering::Relaxed)
    }

    /// When the server started (Unix seconds).
    pub fn started(&self) -> u32 {
        self.started
    }

    /// Seconds since the server started (`stats uptime`).
    pub fn uptime(&self) -> u32 {
        self.now().saturating_sub(self.started)
    }

    /// Sets the clock (used by the ticker and by tests).
    pub fn set(&self, now: u32) {
        self.now.store(now, Ordering::Relaxed);
    }

    /// Re-reads the system clock; the clock never goes backwards.
    pub fn refresh(&self) {
        self.now.fetch_max(unix_seconds(), Ordering::Relaxed);
    }
}

impl Default for CoarseClock {
    fn default() -> Self {
        Self::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uptime_counts_from_start_and_never_goes_back() {
        let clock = CoarseClock::starting_at(1000);
        assert_eq!(clock.uptime(), 0);
        clock.set(1005);
        assert_eq!(clock.now(), 1005);
        assert_eq!(clock.uptime(), 5);
        clock.set(999);
        assert_eq!(clock.uptime(), 0);
        let real = CoarseClock::new();
        let before = real.now();
        real.refresh();
        assert!(real.now() >= before);
        let wait = until_next_tick();
        assert!(wait > Duration::ZERO && wait <= Duration::from_millis(100));
    }
}
