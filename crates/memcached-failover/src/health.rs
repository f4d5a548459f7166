//! Health policy for the local memcached port, with keepalived's `vrrp_script`/`track_script`
//! semantics. The driver performs the check (connect, send `version\r\n`, expect
//! `VERSION ...\r\n` within the timeout) and reports the outcome; this module decides when a
//! check is due and what the results mean.
//!
//! ```text
//!            fall consecutive failures (a timeout is a failure)
//!   ┌──────┐ ─────────────────────────────────────────────► ┌──────┐
//!   │  Up  │                                                │ Down │
//!   └──────┘ ◄───────────────────────────────────────────── └──────┘
//!            rise consecutive successes
//!
//!   weight 0 (default)  Down ⇒ the instance goes to FAULT (a master resigns: prio-0 advert)
//!   weight W > 0        Up   ⇒ priority + W
//!   weight W < 0        Down ⇒ priority + W (i.e. lower)
//!   reverse             the same condition, the opposite adjustment (−W); with weight 0:
//!                       FAULT while the check is Up
//! ```
//!
//! Schedule: a check starts every `interval` (never two at once); a check not reported by
//! `started + timeout` counts as failed and a late report is ignored.

use std::time::{Duration, Instant};

/// keepalived `vrrp_script` parameters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HealthPolicy {
    /// Time between check starts (`interval`, default 1 s).
    pub interval: Duration,
    /// A check running longer fails (`timeout`; default: the interval).
    pub timeout: Duration,
    /// Consecutive successes for Down → Up (`rise`, default 1).
    pub rise: u32,
    /// Consecutive failures for Up → Down (`fall`, default 1).
    pub fall: u32,
    /// Priority weight, -253..=253 (`weight`, default 0 = fault on failure).
    pub weight: i32,
    /// `weight W reverse`: adjust by −W instead of W (same condition); `weight 0 reverse`
    /// faults while the check is up.
    pub reverse: bool,
    /// Start in the Down state (`init_fail`).
    pub init_fail: bool,
}

impl Default for HealthPolicy {
    fn default() -> Self {
        HealthPolicy {
            interval: Duration::from_secs(1),
            timeout: Duration::from_secs(1),
            rise: 1,
            fall: 1,
            weight: 0,
            reverse: false,
            init_fail: false,
        }
    }
}

/// The result of one check as the driver saw it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CheckOutcome {
    /// The port answered `VERSION ...`.
    Passed,
    /// Refused, reset, or a wrong answer.
    Failed,
}

/// Whether the checked service is considered healthy.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum HealthStatus {
    /// Healthy.
    Up,
    /// Failed `fall` times in a row and not yet risen again.
    Down,
}

/// What the health trackers do to a VRRP instance ([`crate::VrrpInstance::apply_health`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct TrackEffect {
    /// The instance must be in FAULT.
    pub fault: bool,
    /// Added to the configured priority (the result is clamped to 1..=254).
    pub priority_delta: i32,
}

impl TrackEffect {
    /// Combines several trackers: any fault faults, deltas add up (keepalived semantics).
    pub fn combine(self, other: TrackEffect) -> TrackEffect {
        TrackEffect {
            fault: self.fault || other.fault,
            priority_delta: self.priority_delta + other.priority_delta,
        }
    }
}

/// One tracked health check: schedule, rise/fall counters and status.
#[derive(Debug, Clone)]
pub struct HealthTracker {
    policy: HealthPolicy,
    status: HealthStatus,
    consecutive_passes: u32,
    consecutive_failures: u32,
    next_start: Option<Instant>,
    running_deadline: Option<Instant>,
    checks_run: u64,
    checks_failed: u64,
}

impl HealthTracker {
    /// A tracker whose first check is due at `now`.
    pub fn new(policy: HealthPolicy, now: Instant) -> HealthTracker {
        HealthTracker {
            status: if policy.init_fail { HealthStatus::Down } else { HealthStatus::Up },
            policy,
            consecutive_passes: 0,
            consecutive_failures: 0,
            next_start: Some(now),
            running_deadline: None,
            checks_run: 0,
            checks_failed: 0,
        }
    }

    /// The policy.
    pub fn policy(&self) -> &HealthPolicy {
        &self.policy
    }

    /// Current status.
    pub fn status(&self) -> HealthStatus {
        self.status
    }

    /// (checks completed, checks failed) so far.
    pub fn checks(&self) -> (u64, u64) {
        (self.checks_run, self.checks_failed)
    }

    /// What this tracker does to the instance now.
    pub fn effect(&self) -> TrackEffect {
        let up = self.status == HealthStatus::Up;
        let w = self.policy.weight;
        if w == 0 {
            // `weight 0 reverse`: down when the check is up.
            return TrackEffect { fault: up == self.policy.reverse, priority_delta: 0 };
        }
        // A positive weight applies while up, a negative one while down; `reverse` flips the
        // direction of the adjustment, not the condition (keepalived.conf(5), track_interface).
        let applies = (w > 0) == up;
        let delta = if self.policy.reverse { -w } else { w };
        TrackEffect { fault: false, priority_delta: if applies { delta } else { 0 } }
    }

    /// If a check is due at `now`, marks it running and returns its deadline; the driver then
    /// runs it and calls [`HealthTracker::record`].
    pub fn poll_start(&mut self, now: Instant) -> Option<Instant> {
        match self.next_start {
            Some(start) if self.running_deadline.is_none() && start <= now => {
                let deadline = now + self.policy.timeout;
                self.running_deadline = Some(deadline);
                self.next_start = Some(now + self.policy.interval);
                Some(deadline)
            }
            _ => None,
        }
    }

    /// When to call [`HealthTracker::poll_start`] or [`HealthTracker::handle_timeout`] next.
    pub fn poll_timeout(&self) -> Option<Instant> {
        match self.running_deadline {
            Some(deadline) => Some(deadline),
            None => self.next_start,
        }
    }

    /// Expires a running check whose deadline passed (counts as a failure). Returns the new
    /// status if it changed.
    pub fn handle_timeout(&mut self, now: Instant) -> Option<HealthStatus> {
        match self.running_deadline {
            Some(deadline) if deadline <= now => self.complete(now, CheckOutcome::Failed),
            _ => None,
        }
    }

    /// Reports the running check's outcome. A report after the deadline counts as a failure;
    /// a report with no check running is ignored. Returns the new status if it changed.
    pub fn record(&mut self, now: Instant, outcome: CheckOutcome) -> Option<HealthStatus> {
        let deadline = self.running_deadline?;
        let outcome = if now > deadline { CheckOutcome::Failed } else { outcome };
        self.complete(now, outcome)
    }

    fn complete(&mut self, now: Instant, outcome: CheckOutcome) -> Option<HealthStatus> {
        self.running_deadline = None;
        if let Some(next) = self.next_start {
            self.next_start = Some(next.max(now));
        }
        self.checks_run += 1;
        let before = self.status;
        match outcome {
            CheckOutcome::Passed => {
                self.consecutive_failures = 0;
                self.consecutive_passes = self.consecutive_passes.saturating_add(1);
                if self.consecutive_passes >= self.policy.rise.max(1) {
                    self.status = HealthStatus::Up;
                }
            }
            CheckOutcome::Failed => {
                self.checks_failed += 1;
                self.consecutive_passes = 0;
                self.consecutive_failures = self.consecutive_failures.saturating_add(1);
                if self.consecutive_failures >= self.policy.fall.max(1) {
                    self.status = HealthStatus::Down;
                }
            }
        }
        (self.status != before).then_some(self.status)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(
        tracker: &mut HealthTracker,
        now: &mut Instant,
        outcome: CheckOutcome,
    ) -> Option<HealthStatus> {
        *now = tracker.poll_timeout().unwrap().max(*now);
        tracker.poll_start(*now).expect("check due");
        *now += Duration::from_millis(1);
        tracker.record(*now, outcome)
    }

    #[test]
    fn fall_and_rise_need_consecutive_results() {
        let mut now = Instant::now();
        let policy = HealthPolicy { fall: 2, rise: 3, ..HealthPolicy::default() };
        let mut tracker = HealthTracker::new(policy, now);
        assert_eq!(tracker.effect(), TrackEffect::default());
        assert_eq!(run(&mut tracker, &mut now, CheckOutcome::Failed), None);
        assert_eq!(run(&mut tracker, &mut now, CheckOutcome::Passed), None);
        assert_eq!(run(&mut tracker, &mut now, CheckOutcome::Failed), None);
        assert_eq!(run(&mut tracker, &mut now, CheckOutcome::Failed), Some(HealthStatus::Down));
        assert_eq!(tracker.effect(), TrackEffect { fault: true, priority_delta: 0 });
        assert_eq!(run(&mut tracker, &mut now, CheckOutcome::Passed), None);
        assert_eq!(run(&mut tracker, &mut now, CheckOutcome::Passed), None);
        assert_eq!(run(&mut tracker, &mut now, CheckOutcome::Passed), Some(HealthStatus::Up));
        assert_eq!(tracker.checks(), (7, 3));
    }

    #[test]
    fn timeout_counts_as_failure_and_late_report_is_ignored() {
        let start = Instant::now();
        let mut tracker = HealthTracker::new(HealthPolicy::default(), start);
        let deadline = tracker.poll_start(start).unwrap();
        assert_eq!(deadline, start + Duration::from_secs(1));
        assert_eq!(tracker.poll_start(start), None, "never two checks at once");
        assert_eq!(tracker.handle_timeout(deadline), Some(HealthStatus::Down));
        assert_eq!(tracker.record(deadline, CheckOutcome::Passed), None);
        assert_eq!(tracker.status(), HealthStatus::Down);
    }

    #[test]
    fn checks_start_every_interval() {
        let start = Instant::now();
        let mut tracker = HealthTracker::new(HealthPolicy::default(), start);
        tracker.poll_start(start).unwrap();
        tracker.record(start + Duration::from_millis(5), CheckOutcome::Passed);
        assert_eq!(tracker.poll_timeout(), Some(start + Duration::from_secs(1)));
        assert_eq!(tracker.poll_start(start + Duration::from_millis(999)), None);
        assert!(tracker.poll_start(start + Duration::from_secs(1)).is_some());
    }

    #[test]
    fn weights_adjust_priority_instead_of_faulting() {
        let mut now = Instant::now();
        let negative = HealthPolicy { weight: -60, ..HealthPolicy::default() };
        let mut tracker = HealthTracker::new(negative, now);
        assert_eq!(tracker.effect(), TrackEffect { fault: false, priority_delta: 0 });
        run(&mut tracker, &mut now, CheckOutcome::Failed);
        assert_eq!(tracker.effect(), TrackEffect { fault: false, priority_delta: -60 });

        let positive = HealthPolicy { weight: 20, ..HealthPolicy::default() };
        let mut tracker = HealthTracker::new(positive, now);
        assert_eq!(tracker.effect().priority_delta, 20);
        run(&mut tracker, &mut now, CheckOutcome::Failed);
        assert_eq!(tracker.effect().priority_delta, 0);

        let reverse = HealthPolicy { weight: 0, reverse: true, ..HealthPolicy::default() };
        let tracker = HealthTracker::new(reverse, now);
        assert!(tracker.effect().fault, "weight 0 reverse: down while the check is up");

        // keepalived: "use reverse to increase priority if an interface is down".
        let reverse = HealthPolicy { weight: -30, reverse: true, ..HealthPolicy::default() };
        let mut tracker = HealthTracker::new(reverse, now);
        assert_eq!(tracker.effect().priority_delta, 0);
        run(&mut tracker, &mut now, CheckOutcome::Failed);
        assert_eq!(tracker.effect().priority_delta, 30);
    }

    #[test]
    fn init_fail_starts_down() {
        let now = Instant::now();
        let policy = HealthPolicy { init_fail: true, ..HealthPolicy::default() };
        let tracker = HealthTracker::new(policy, now);
        assert_eq!(tracker.status(), HealthStatus::Down);
        assert!(tracker.effect().fault);
    }
}
