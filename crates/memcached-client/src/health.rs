//! Per-server health: consecutive failures, marked down, probed, back up.
//!
//! A pure state machine: time comes in as an argument, nothing here touches the clock or the
//! network, so the whole policy is tested deterministically below.
//!
//! ```text
//!            success (resets count)
//!           ┌─────────┐
//!           ▼         │
//!   ┌──────────────────────┐  failure #limit in a row   ┌─────────────────────────┐
//!   │ Up { failures < N }  │ ─────────────────────────► │ Down { retry_at, delay } │
//!   └──────────────────────┘                            └─────────────────────────┘
//!           ▲                                              │ now >= retry_at: one caller
//!           │ probe answered                               ▼ claims the probe
//!           │                                           ┌─────────────────────────┐
//!           └────────────────────────────────────────── │ Probing { delay }       │
//!                                                       └─────────────────────────┘
//!                             probe failed: Down again, delay doubled (capped) ──┘
//! ```
//!
//! While a server is not Up, the client ejects it from the ring (if ejection is on) so its
//! keys go to ring neighbours, or fails fast with "marked down" without connecting.

use std::time::{Duration, Instant};

/// When a server is declared down and how often it is retried.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct HealthPolicy {
    /// Consecutive failures that mark a server down (libmemcached `SERVER_FAILURE_LIMIT`,
    /// mcrouter `timeouts-until-tko`). Default 3.
    pub failure_limit: u32,
    /// Time before the first probe of a down server (libmemcached `RETRY_TIMEOUT`). Default 2 s.
    pub retry_interval: Duration,
    /// Cap for the doubling probe delay while probes keep failing. Default 60 s.
    pub max_retry_interval: Duration,
    /// Remove a down server from the ring so its keys move to ring neighbours (true), or keep
    /// the ring and fail its keys fast (false). Default true.
    pub eject: bool,
    /// Never eject more than this fraction of the pool (mcrouter's cap on soft TKOs): a server
    /// that goes down beyond the cap is marked down but stays on the ring, so a client-side
    /// network blip cannot empty the ring. Default 1.0 (no cap, as libmemcached).
    pub max_ejected_fraction: f32,
    /// A refused connection (nothing listens: the process is gone) marks the server down at
    /// once instead of counting towards `failure_limit` (mcrouter's "hard TKO"). Default
    /// false: every failure counts once, as in libmemcached.
    pub down_on_refused: bool,
}

impl Default for HealthPolicy {
    fn default() -> HealthPolicy {
        HealthPolicy {
            failure_limit: 3,
            retry_interval: Duration::from_secs(2),
            max_retry_interval: Duration::from_secs(60),
            eject: true,
            max_ejected_fraction: 1.0,
            down_on_refused: false,
        }
    }
}

/// The state of one server.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Health {
    /// Serving; `failures` in a row so far.
    Up {
        /// Consecutive failures since the last success.
        failures: u32,
    },
    /// Marked down until `retry_at`; the next probe delay after a failed probe is `2 * delay`.
    Down {
        /// When a probe may be tried.
        retry_at: Instant,
        /// The delay that produced `retry_at`.
        delay: Duration,
    },
    /// A probe is in flight.
    Probing {
        /// The delay used for the last Down period.
        delay: Duration,
    },
}

/// What a transition means for the ring.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transition {
    /// Nothing changed for routing.
    None,
    /// The server just went down: eject it.
    WentDown,
    /// The server is back: restore it.
    CameBack,
}

/// Whether a request may use the server now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Availability {
    /// Use it.
    Up,
    /// Down; the next probe is due in this long.
    Down(Duration),
    /// Down and a probe is due: the caller that gets this owns the probe.
    ProbeNow,
}

impl Default for Health {
    fn default() -> Health {
        Health::Up { failures: 0 }
    }
}

/// `now + delay`, saturating far in the future instead of overflowing (a retry interval of
/// `Duration::MAX` means "never probe", not a panic on the first failure).
fn after(now: Instant, delay: Duration) -> Instant {
    now.checked_add(delay).unwrap_or_else(|| now + Duration::from_secs(u64::from(u32::MAX)))
}

impl Health {
    /// Whether the server is up.
    pub fn is_up(&self) -> bool {
        matches!(self, Health::Up { .. })
    }

    /// A request succeeded (or a probe answered).
    pub fn on_success(&mut self) -> Transition {
        let was_up = self.is_up();
        *self = Health::Up { failures: 0 };
        if was_up {
            Transition::None
        } else {
            Transition::CameBack
        }
    }

    /// A request (or probe) failed with a server failure at `now`.
    pub fn on_failure(&mut self, now: Instant, policy: &HealthPolicy) -> Transition {
        match *self {
            Health::Up { failures } => {
                let failures = failures + 1;
                if failures >= policy.failure_limit.max(1) {
                    let delay = policy.retry_interval;
                    *self = Health::Down { retry_at: after(now, delay), delay };
                    Transition::WentDown
                } else {
                    *self = Health::Up { failures };
                    Transition::None
                }
            }
            Health::Probing { delay } => {
                let delay = delay
                    .saturating_mul(2)
                    .min(policy.max_retry_interval.max(policy.retry_interval));
                *self = Health::Down { retry_at: after(now, delay), delay };
                Transition::None
            }
            Health::Down { .. } => Transition::None,
        }
    }

    /// A hard failure (connection refused): down at once when `policy.down_on_refused`.
    pub fn on_hard_failure(&mut self, now: Instant, policy: &HealthPolicy) -> Transition {
        if !policy.down_on_refused {
            return self.on_failure(now, policy);
        }
        match *self {
            Health::Up { .. } => {
                let delay = policy.retry_interval;
                *self = Health::Down { retry_at: after(now, delay), delay };
                Transition::WentDown
            }
            _ => self.on_failure(now, policy),
        }
    }

    /// May a request use the server at `now`? A `ProbeNow` answer moves the state to
    /// Probing, so exactly one caller probes.
    pub fn check(&mut self, now: Instant) -> Availability {
        match *self {
            Health::Up { .. } => Availability::Up,
            Health::Down { retry_at, delay } => {
                if now >= retry_at {
                    *self = Health::Probing { delay };
                    Availability::ProbeNow
                } else {
                    Availability::Down(retry_at - now)
                }
            }
            Health::Probing { .. } => Availability::Down(Duration::ZERO),
        }
    }

    /// When the next probe is due, if the server is down.
    pub fn retry_at(&self) -> Option<Instant> {
        match *self {
            Health::Down { retry_at, .. } => Some(retry_at),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy() -> HealthPolicy {
        HealthPolicy {
            failure_limit: 3,
            retry_interval: Duration::from_secs(2),
            max_retry_interval: Duration::from_secs(5),
            eject: true,
            max_ejected_fraction: 1.0,
            down_on_refused: true,
        }
    }

    #[test]
    fn goes_down_after_limit_consecutive_failures() {
        let t0 = Instant::now();
        let mut h = Health::default();
        assert_eq!(h.on_failure(t0, &policy()), Transition::None);
        assert_eq!(h.on_failure(t0, &policy()), Transition::None);
        assert_eq!(h.on_success(), Transition::None, "a success resets the count");
        assert_eq!(h.on_failure(t0, &policy()), Transition::None);
        assert_eq!(h.on_failure(t0, &policy()), Transition::None);
        assert_eq!(h.on_failure(t0, &policy()), Transition::WentDown);
        assert_eq!(
            h.check(t0 + Duration::from_secs(1)),
            Availability::Down(Duration::from_secs(1))
        );
    }

    #[test]
    fn a_refused_connection_is_down_at_once_unless_disabled() {
        let t0 = Instant::now();
        let mut h = Health::default();
        assert_eq!(h.on_hard_failure(t0, &policy()), Transition::WentDown);
        let soft = HealthPolicy { down_on_refused: false, ..policy() };
        let mut h = Health::default();
        assert_eq!(h.on_hard_failure(t0, &soft), Transition::None);
        assert_eq!(h, Health::Up { failures: 1 });
    }

    #[test]
    fn probes_once_then_backs_off_or_comes_back() {
        let t0 = Instant::now();
        let mut h = Health::Down { retry_at: t0, delay: Duration::from_secs(2) };
        assert_eq!(h.check(t0), Availability::ProbeNow);
        assert_eq!(h.check(t0), Availability::Down(Duration::ZERO), "only one prober");
        assert_eq!(h.on_failure(t0, &policy()), Transition::None);
        assert_eq!(
            h,
            Health::Down { retry_at: t0 + Duration::from_secs(4), delay: Duration::from_secs(4) }
        );
        assert_eq!(h.check(t0 + Duration::from_secs(4)), Availability::ProbeNow);
        h.on_failure(t0, &policy());
        assert_eq!(h.retry_at(), Some(t0 + Duration::from_secs(5)), "capped");
        assert_eq!(h.check(t0 + Duration::from_secs(5)), Availability::ProbeNow);
        assert_eq!(h.on_success(), Transition::CameBack);
        assert!(h.is_up());
    }

    #[test]
    fn a_huge_retry_interval_saturates_instead_of_panicking() {
        let policy = HealthPolicy {
            failure_limit: 1,
            retry_interval: Duration::MAX,
            max_retry_interval: Duration::MAX,
            ..HealthPolicy::default()
        };
        let now = Instant::now();
        let mut health = Health::default();
        assert_eq!(health.on_failure(now, &policy), Transition::WentDown);
        assert!(matches!(health.check(now + Duration::from_secs(3600)), Availability::Down(_)));
        health = Health::Probing { delay: Duration::MAX };
        assert_eq!(health.on_failure(now, &policy), Transition::None);
        assert!(!health.is_up());
    }
}
