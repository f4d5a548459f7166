//! The VRRP instance state machine (RFC 3768 §6, RFC 5798 §6, plus keepalived's FAULT).
//!
//! ```text
//!                      start() ─────────────┐ priority 255 (owner)
//!  ┌────────────┐  start()  ┌──────────┐    ▼       ┌──────────┐
//!  │ Initialize │──────────►│  Backup  │───────────►│  Master  │
//!  └────────────┘           │          │ Master_Down│          │
//!        ▲                  │          │ timer fires│          │
//!        │ shutdown()       │          │◄───────────│          │
//!        │ (Master: sends   └──────────┘ higher prio└──────────┘
//!        │  a prio-0 advert)    │  ▲     (or equal prio,  │
//!        │                      │  │      higher IP)      │ health fault:
//!        │          health fault│  │health ok             │ prio-0 advert,
//!        │                      ▼  │                      ▼ remove VIPs
//!        │                  ┌──────────┐◄─────────────────┘
//!        └──────────────────│  Fault   │
//!                           └──────────┘
//! ```
//!
//! Sans-IO: the caller passes `now` into every method and carries out the [`Action`]s
//! returned by [`VrrpInstance::poll_action`] (send the advert, add/remove the VIPs, send
//! gratuitous ARPs, log the transition); [`VrrpInstance::poll_timeout`] says when to call
//! [`VrrpInstance::handle_timeout`] next.
//!
//! Timers (RFC 3768 §6.1, RFC 5798 §6.1; keepalived computes them the same way):
//!
//! ```text
//! v2: Skew_Time = (256 − Priority) / 256 s
//!     Master_Down_Interval = 3 · Advertisement_Interval + Skew_Time
//! v3: Skew_Time = (256 − Priority) · Master_Adver_Interval / 256   (centiseconds, kept exact in µs)
//!     Master_Down_Interval = 3 · Master_Adver_Interval + Skew_Time
//! ```
//!
//! `3` is `down_timer_adverts`; Priority is the effective priority (configured priority plus
//! the health-check weight).

use std::collections::VecDeque;
use std::net::Ipv4Addr;
use std::time::{Duration, Instant};

use crate::config::{ConfigError, InstanceConfig};
use crate::health::TrackEffect;
use crate::packet::{Advertisement, Authentication, Centiseconds, VrrpVersion};

/// The state of a VRRP instance.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum VrrpState {
    /// Not started, or shut down.
    Initialize,
    /// Watching the master; VIPs not held.
    Backup,
    /// Holding the VIPs and sending adverts.
    Master,
    /// keepalived's FAULT: a tracked health check failed (weight 0); VIPs not held, adverts ignored.
    Fault,
}

impl std::fmt::Display for VrrpState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            VrrpState::Initialize => "INIT",
            VrrpState::Backup => "BACKUP",
            VrrpState::Master => "MASTER",
            VrrpState::Fault => "FAULT",
        })
    }
}

/// Why a state changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TransitionReason {
    /// [`VrrpInstance::start`].
    Startup,
    /// The Master_Down timer expired (no advert, a lower-priority one, or a priority-0 one).
    MasterDown,
    /// An advert with a higher priority (or equal priority and a higher source address).
    HigherPriorityAdvert,
    /// A tracked health check failed.
    HealthFault,
    /// The health check recovered.
    HealthRecovered,
    /// [`VrrpInstance::shutdown`].
    Shutdown,
}

/// A state change, for logs and notify hooks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Transition {
    /// State before.
    pub from: VrrpState,
    /// State after.
    pub to: VrrpState,
    /// What caused it.
    pub reason: TransitionReason,
}

/// Something the driver must do, in the order returned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// Send this advert to 224.0.0.18 from the primary address with TTL 255.
    SendAdvertisement(Advertisement),
    /// Add every configured VIP to the interface.
    AddVirtualAddresses,
    /// Remove every configured VIP from the interface.
    RemoveVirtualAddresses,
    /// Broadcast `repeat` gratuitous ARPs per VIP, `interval` apart.
    SendGratuitousArp {
        /// Frames per VIP.
        repeat: u32,
        /// Pause between frames.
        interval: Duration,
    },
    /// The state changed (log it; run notify hooks).
    Transition(Transition),
}

/// Why a decoded advert was discarded before the state machine looked at it (RFC 3768 §7.1,
/// RFC 5798 §7.1, keepalived `vrrp_check_packet`). Worth a log line: a mismatch means the two
/// routers will both become master.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AdvertRejection {
    /// The advert's version is not the configured one (no mixed v2/v3 mode).
    #[error("vrrp version {received} received, {configured} configured")]
    VersionMismatch {
        /// Configured version.
        configured: u8,
        /// Version in the advert.
        received: u8,
    },
    /// Another virtual router's advert.
    #[error("vrid {received} received, {configured} configured")]
    VridMismatch {
        /// Configured VRID.
        configured: u8,
        /// VRID in the advert.
        received: u8,
    },
    /// v2 auth type or password differs.
    #[error("authentication mismatch")]
    AuthenticationMismatch,
    /// v2: Adver Int differs from the configured interval (RFC 3768 §7.1 MUST discard).
    #[error("advertisement interval mismatch: {received:?} received, {configured:?} configured")]
    IntervalMismatch {
        /// Configured interval.
        configured: Centiseconds,
        /// Interval in the advert.
        received: Centiseconds,
    },
    /// Count differs or a configured VIP is missing (keepalived: "ip address associated with
    /// VRID not present in MASTER advert").
    #[error("virtual address list differs from the configuration")]
    AddressListMismatch,
    /// The local router owns the addresses (priority 255) and discards adverts (RFC 3768 §7.1).
    #[error("local router is the address owner")]
    LocalOwner,
    /// Our own advert came back (source is our primary address).
    #[error("own advertisement looped back")]
    OwnAdvertisement,
    /// The instance is not listening (Initialize or Fault).
    #[error("instance is in {0} state")]
    NotListening(VrrpState),
}

/// Counters for `stats`-style reporting.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct InstanceCounters {
    /// Adverts passed to [`VrrpInstance::handle_advertisement`].
    pub adverts_received: u64,
    /// Adverts rejected by validation.
    pub adverts_rejected: u64,
    /// Adverts with priority 0 received.
    pub priority_zero_received: u64,
    /// Adverts emitted (including priority-0 ones).
    pub adverts_sent: u64,
    /// Transitions into Master.
    pub became_master: u64,
}

/// One VRRP instance: a [`InstanceConfig`], the local primary address, and its state.
#[derive(Debug, Clone)]
pub struct VrrpInstance {
    config: InstanceConfig,
    authentication: Authentication,
    primary_address: Ipv4Addr,
    state: VrrpState,
    fault: bool,
    priority_delta: i32,
    /// v3: the interval learned from the current master (RFC 5798 §6.1); v2: the configured one.
    master_adver_interval: Centiseconds,
    /// Backup: Master_Down_Timer. Master: Adver_Timer.
    protocol_timer: Option<Instant>,
    /// Master: the delayed second gratuitous ARP burst.
    garp_delayed_timer: Option<Instant>,
    /// Master: periodic gratuitous ARP refresh.
    garp_refresh_timer: Option<Instant>,
    /// Backup with preempt_delay: when a lower-priority master was first seen.
    lower_master_seen_at: Option<Instant>,
    current_master: Option<Ipv4Addr>,
    actions: VecDeque<Action>,
    counters: InstanceCounters,
}

impl VrrpInstance {
    /// A new instance in [`VrrpState::Initialize`]; `primary_address` is the interface's
    /// primary IPv4 address (the adverts' source and the tie breaker).
    pub fn new(config: InstanceConfig, primary_address: Ipv4Addr) -> Result<Self, ConfigError> {
        config.validate()?;
        Ok(VrrpInstance {
            authentication: config.authentication(),
            master_adver_interval: config.advert_interval,
            config,
            primary_address,
            state: VrrpState::Initialize,
            fault: false,
            priority_delta: 0,
            protocol_timer: None,
            garp_delayed_timer: None,
            garp_refresh_timer: None,
            lower_master_seen_at: None,
            current_master: None,
            actions: VecDeque::new(),
            counters: InstanceCounters::default(),
        })
    }

    /// The configuration.
    pub fn config(&self) -> &InstanceConfig {
        &self.config
    }

    /// The local primary address.
    pub fn primary_address(&self) -> Ipv4Addr {
        self.primary_address
    }

    /// Current state.
    pub fn state(&self) -> VrrpState {
        self.state
    }

    /// The address of the router believed to be master (ourselves when Master), if known.
    pub fn current_master(&self) -> Option<Ipv4Addr> {
        self.current_master
    }

    /// Counters.
    pub fn counters(&self) -> InstanceCounters {
        self.counters
    }

    /// Configured priority plus the health weight, clamped to 1..=254; the owner stays 255.
    pub fn effective_priority(&self) -> u8 {
        if self.config.is_owner() {
            return 255;
        }
        (i32::from(self.config.priority) + self.priority_delta).clamp(1, 254) as u8
    }

    /// v3: the master's interval learned from its adverts; v2: the configured interval.
    pub fn master_adver_interval(&self) -> Centiseconds {
        self.master_adver_interval
    }

    /// Skew_Time for the effective priority (RFC 3768 §6.1 / RFC 5798 §6.1).
    pub fn skew_time(&self) -> Duration {
        let weight = 256 - u64::from(self.effective_priority());
        match self.config.version {
            VrrpVersion::V2 => Duration::from_micros(weight * 1_000_000 / 256),
            VrrpVersion::V3 => {
                Duration::from_micros(weight * self.master_adver_interval.as_micros() / 256)
            }
        }
    }

    /// Master_Down_Interval = down_timer_adverts · interval + Skew_Time.
    pub fn master_down_interval(&self) -> Duration {
        let interval = match self.config.version {
            VrrpVersion::V2 => self.config.advert_interval,
            VrrpVersion::V3 => self.master_adver_interval,
        };
        interval.as_duration() * self.config.down_timer_adverts + self.skew_time()
    }

    /// The advert this instance sends, with the given priority (0 to resign).
    pub fn advertisement(&self, priority: u8) -> Advertisement {
        Advertisement {
            version: self.config.version,
            vrid: self.config.vrid,
            priority,
            interval: self.config.advert_interval,
            authentication: self.authentication,
            addresses: self.config.virtual_addresses.iter().map(|v| v.address).collect(),
        }
    }

    /// The next action to carry out, if any.
    pub fn poll_action(&mut self) -> Option<Action> {
        self.actions.pop_front()
    }

    /// When [`VrrpInstance::handle_timeout`] must be called next (None: no timer running).
    pub fn poll_timeout(&self) -> Option<Instant> {
        [self.protocol_timer, self.garp_delayed_timer, self.garp_refresh_timer]
            .into_iter()
            .flatten()
            .min()
    }

    /// Startup event (RFC §6.4.1): the owner becomes Master at once, everyone else Backup
    /// with the Master_Down timer running; a failing health check leads to Fault.
    pub fn start(&mut self, now: Instant) {
        if self.state == VrrpState::Initialize {
            self.leave_initialize(now, TransitionReason::Startup);
        }
    }

    /// Shutdown event: a Master sends a priority-0 advert (the backup takes over after its
    /// Skew_Time) and drops the VIPs; every state goes to Initialize.
    pub fn shutdown(&mut self, now: Instant) {
        let _ = now;
        if self.state == VrrpState::Initialize {
            return;
        }
        let from = self.state;
        self.set_state(VrrpState::Initialize, TransitionReason::Shutdown);
        if from == VrrpState::Master {
            self.resign();
        }
        self.stop_timers();
        self.current_master = None;
    }

    /// Applies the health trackers' combined effect (see [`crate::health`]): a fault moves
    /// Backup/Master to Fault (a Master resigns with a priority-0 advert); recovery leaves
    /// Fault as at startup; a weight changes the effective priority used from now on (a
    /// running Master_Down timer moves by the change of Skew_Time, as in keepalived).
    pub fn apply_health(&mut self, now: Instant, effect: TrackEffect) {
        let old_down_interval = self.master_down_interval();
        self.priority_delta = effect.priority_delta;
        self.fault = effect.fault;
        match (effect.fault, self.state) {
            (false, VrrpState::Backup) => {
                // keepalived (vrrp_set_effective_priority): a running Master_Down timer moves
                // by the change of Skew_Time.
                let new_down_interval = self.master_down_interval();
                if let Some(timer) = self.protocol_timer.as_mut() {
                    *timer = (*timer + new_down_interval)
                        .checked_sub(old_down_interval)
                        .unwrap_or(*timer)
                        .max(now);
                }
            }
            (true, VrrpState::Backup | VrrpState::Master) => {
                let from = self.state;
                self.set_state(VrrpState::Fault, TransitionReason::HealthFault);
                if from == VrrpState::Master {
                    self.resign();
                }
                self.stop_timers();
                self.current_master = None;
            }
            (false, VrrpState::Fault) => {
                self.leave_initialize(now, TransitionReason::HealthRecovered)
            }
            _ => {}
        }
    }

    /// Processes every timer due at `now`.
    pub fn handle_timeout(&mut self, now: Instant) {
        let due = |timer: Option<Instant>| timer.is_some_and(|t| t <= now);
        match self.state {
            VrrpState::Backup if due(self.protocol_timer) => {
                self.become_master(now, TransitionReason::MasterDown);
            }
            VrrpState::Master => {
                if due(self.protocol_timer) {
                    self.send_advertisement();
                    self.protocol_timer = Some(now + self.config.advert_interval.as_duration());
                }
                if due(self.garp_delayed_timer) {
                    self.garp_delayed_timer = None;
                    self.gratuitous_arp(self.config.garp.master_repeat);
                }
                if due(self.garp_refresh_timer) {
                    self.garp_refresh_timer = self.config.garp.master_refresh.map(|r| now + r);
                    self.gratuitous_arp(self.config.garp.master_refresh_repeat);
                }
            }
            _ => {}
        }
    }

    /// Feeds an advert (already decoded and TTL-checked) from `source`, the IP source address.
    /// `Err` means it was discarded by validation; `Ok` means the state machine saw it (which
    /// may still ignore it, e.g. a lower priority under preemption).
    pub fn handle_advertisement(
        &mut self,
        now: Instant,
        source: Ipv4Addr,
        advert: &Advertisement,
    ) -> Result<(), AdvertRejection> {
        self.counters.adverts_received += 1;
        if let Err(rejection) = self.validate(source, advert) {
            self.counters.adverts_rejected += 1;
            return Err(rejection);
        }
        if advert.priority == 0 {
            self.counters.priority_zero_received += 1;
        }
        let local = self.effective_priority();
        match self.state {
            VrrpState::Backup => {
                if advert.priority == 0 {
                    // RFC §6.4.2: the master resigned; take over after Skew_Time.
                    self.protocol_timer = Some(now + self.skew_time());
                    self.current_master = None;
                    return Ok(());
                }
                let accept = if advert.priority >= local {
                    self.lower_master_seen_at = None;
                    true
                } else if !self.preempts() {
                    true
                } else if self.config.preempt_delay > Duration::ZERO {
                    let first = *self.lower_master_seen_at.get_or_insert(now);
                    now < first + self.config.preempt_delay
                } else {
                    false
                };
                if accept {
                    self.learn_interval(advert);
                    self.protocol_timer = Some(now + self.master_down_interval());
                    self.current_master = Some(source);
                }
                Ok(())
            }
            VrrpState::Master => {
                if advert.priority == 0 {
                    // RFC §6.4.3: answer a resigning peer at once.
                    self.send_advertisement();
                    self.protocol_timer = Some(now + self.config.advert_interval.as_duration());
                    return Ok(());
                }
                let higher = advert.priority > local
                    || (advert.priority == local
                        && u32::from(source) > u32::from(self.primary_address));
                if higher {
                    self.learn_interval(advert);
                    self.current_master = Some(source);
                    self.become_backup(now, TransitionReason::HigherPriorityAdvert);
                } else {
                    // Two masters: force a new election at once (keepalived) and re-announce
                    // the VIPs, since the last GARP clients saw may have been the other's.
                    self.send_advertisement();
                    self.protocol_timer = Some(now + self.config.advert_interval.as_duration());
                    if self.config.garp.lower_prio_repeat > 0 {
                        self.gratuitous_arp(self.config.garp.lower_prio_repeat);
                    }
                }
                Ok(())
            }
            state @ (VrrpState::Initialize | VrrpState::Fault) => {
                Err(AdvertRejection::NotListening(state))
            }
        }
    }

    fn validate(&self, source: Ipv4Addr, advert: &Advertisement) -> Result<(), AdvertRejection> {
        if advert.version != self.config.version {
            return Err(AdvertRejection::VersionMismatch {
                configured: self.config.version.number(),
                received: advert.version.number(),
            });
        }
        if advert.vrid != self.config.vrid {
            return Err(AdvertRejection::VridMismatch {
                configured: self.config.vrid,
                received: advert.vrid,
            });
        }
        if matches!(self.state, VrrpState::Initialize | VrrpState::Fault) {
            return Err(AdvertRejection::NotListening(self.state));
        }
        if source == self.primary_address {
            return Err(AdvertRejection::OwnAdvertisement);
        }
        if self.config.version == VrrpVersion::V2 {
            if !constant_time_auth_eq(&advert.authentication, &self.authentication) {
                return Err(AdvertRejection::AuthenticationMismatch);
            }
            if advert.interval != self.config.advert_interval {
                return Err(AdvertRejection::IntervalMismatch {
                    configured: self.config.advert_interval,
                    received: advert.interval,
                });
            }
        }
        let vips = &self.config.virtual_addresses;
        if advert.addresses.len() != vips.len()
            || !vips.iter().all(|v| advert.addresses.contains(&v.address))
        {
            return Err(AdvertRejection::AddressListMismatch);
        }
        if self.config.is_owner() {
            return Err(AdvertRejection::LocalOwner);
        }
        Ok(())
    }

    fn preempts(&self) -> bool {
        self.config.preempt || self.config.is_owner()
    }

    fn learn_interval(&mut self, advert: &Advertisement) {
        if self.config.version == VrrpVersion::V3 {
            self.master_adver_interval = advert.interval;
        }
    }

    fn leave_initialize(&mut self, now: Instant, reason: TransitionReason) {
        self.master_adver_interval = self.config.advert_interval;
        if self.fault {
            self.set_state(VrrpState::Fault, TransitionReason::HealthFault);
            // Make sure no VIP is left over from an earlier run.
            self.actions.push_back(Action::RemoveVirtualAddresses);
        } else if self.config.is_owner() {
            self.become_master(now, reason);
        } else {
            self.become_backup(now, reason);
        }
    }

    fn become_master(&mut self, now: Instant, reason: TransitionReason) {
        self.set_state(VrrpState::Master, reason);
        self.counters.became_master += 1;
        self.current_master = Some(self.primary_address);
        self.lower_master_seen_at = None;
        self.actions.push_back(Action::AddVirtualAddresses);
        self.send_advertisement();
        self.gratuitous_arp(self.config.garp.master_repeat);
        self.protocol_timer = Some(now + self.config.advert_interval.as_duration());
        let garp = self.config.garp;
        self.garp_delayed_timer =
            (garp.master_delay > Duration::ZERO).then(|| now + garp.master_delay);
        self.garp_refresh_timer = garp.master_refresh.map(|r| now + r);
    }

    fn become_backup(&mut self, now: Instant, reason: TransitionReason) {
        let from = self.state;
        self.set_state(VrrpState::Backup, reason);
        if matches!(from, VrrpState::Master | VrrpState::Initialize) {
            // From Initialize: clean up VIPs a crashed earlier run may have left behind.
            self.actions.push_back(Action::RemoveVirtualAddresses);
        }
        self.stop_timers();
        self.lower_master_seen_at = None;
        self.protocol_timer = Some(now + self.master_down_interval());
    }

    /// Leaving Master: priority-0 advert, then drop the VIPs.
    fn resign(&mut self) {
        self.actions.push_back(Action::SendAdvertisement(self.advertisement(0)));
        self.counters.adverts_sent += 1;
        self.actions.push_back(Action::RemoveVirtualAddresses);
    }

    fn send_advertisement(&mut self) {
        let advert = self.advertisement(self.effective_priority());
        self.actions.push_back(Action::SendAdvertisement(advert));
        self.counters.adverts_sent += 1;
    }

    fn gratuitous_arp(&mut self, repeat: u32) {
        if repeat > 0 {
            let interval = self.config.garp.interval;
            self.actions.push_back(Action::SendGratuitousArp { repeat, interval });
        }
    }

    fn set_state(&mut self, to: VrrpState, reason: TransitionReason) {
        let from = self.state;
        self.state = to;
        if from != to {
            self.actions.push_back(Action::Transition(Transition { from, to, reason }));
        }
    }

    fn stop_timers(&mut self) {
        self.protocol_timer = None;
        self.garp_delayed_timer = None;
        self.garp_refresh_timer = None;
    }
}

/// Compares auth type and all 8 data bytes without an early exit (keepalived does the same).
fn constant_time_auth_eq(a: &Authentication, b: &Authentication) -> bool {
    match (a, b) {
        (Authentication::None, Authentication::None) => true,
        (Authentication::SimpleText(x), Authentication::SimpleText(y)) => {
            x.iter().zip(y).fold(0u8, |acc, (p, q)| acc | (p ^ q)) == 0
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::VirtualAddress;

    fn config(version: VrrpVersion, priority: u8, interval_cs: u16) -> InstanceConfig {
        let mut config = InstanceConfig::new(
            "eth0",
            77,
            vec![VirtualAddress::host(Ipv4Addr::new(10, 77, 0, 100))],
        );
        config.version = version;
        config.priority = priority;
        config.advert_interval = Centiseconds(interval_cs);
        config
    }

    fn instance(version: VrrpVersion, priority: u8, interval_cs: u16) -> VrrpInstance {
        VrrpInstance::new(config(version, priority, interval_cs), Ipv4Addr::new(10, 77, 0, 2))
            .unwrap()
    }

    #[test]
    fn v2_timers_follow_rfc3768() {
        // (256 - 100) / 256 s = 0.609375 s; MDI = 3 s + skew.
        let backup = instance(VrrpVersion::V2, 100, 100);
        assert_eq!(backup.skew_time(), Duration::from_micros(609_375));
        assert_eq!(backup.master_down_interval(), Duration::from_micros(3_609_375));
        // v2 skew does not scale with the interval.
        let slow = instance(VrrpVersion::V2, 150, 200);
        assert_eq!(slow.skew_time(), Duration::from_micros(414_062));
        assert_eq!(slow.master_down_interval(), Duration::from_micros(6_414_062));
    }

    #[test]
    fn v3_timers_follow_rfc5798() {
        // (256 - 100) · 10 cs / 256 = 6.09375 cs.
        let backup = instance(VrrpVersion::V3, 100, 10);
        assert_eq!(backup.skew_time(), Duration::from_micros(60_937));
        assert_eq!(backup.master_down_interval(), Duration::from_micros(360_937));
    }

    #[test]
    fn owner_starts_as_master_others_as_backup() {
        let now = Instant::now();
        let mut owner = instance(VrrpVersion::V2, 255, 100);
        owner.start(now);
        assert_eq!(owner.state(), VrrpState::Master);
        let actions: Vec<_> = std::iter::from_fn(|| owner.poll_action()).collect();
        assert!(matches!(actions[0], Action::Transition(Transition { to: VrrpState::Master, .. })));
        assert_eq!(actions[1], Action::AddVirtualAddresses);
        assert!(matches!(&actions[2], Action::SendAdvertisement(a) if a.priority == 255));
        assert_eq!(owner.poll_timeout(), Some(now + Duration::from_secs(1)));

        let mut backup = instance(VrrpVersion::V2, 100, 100);
        backup.start(now);
        assert_eq!(backup.state(), VrrpState::Backup);
        assert_eq!(backup.poll_timeout(), Some(now + backup.master_down_interval()));
    }

    #[test]
    fn rejects_mismatched_adverts() {
        let now = Instant::now();
        let mut backup = instance(VrrpVersion::V2, 100, 100);
        backup.start(now);
        let peer = Ipv4Addr::new(10, 77, 0, 1);
        let good = backup.advertisement(150);
        let mut wrong = good.clone();
        wrong.interval = Centiseconds(200);
        assert!(matches!(
            backup.handle_advertisement(now, peer, &wrong),
            Err(AdvertRejection::IntervalMismatch { .. })
        ));
        let mut wrong = good.clone();
        wrong.authentication = Authentication::simple_text(b"x");
        assert_eq!(
            backup.handle_advertisement(now, peer, &wrong),
            Err(AdvertRejection::AuthenticationMismatch)
        );
        let mut wrong = good.clone();
        wrong.addresses = vec![Ipv4Addr::new(10, 77, 0, 101)];
        assert_eq!(
            backup.handle_advertisement(now, peer, &wrong),
            Err(AdvertRejection::AddressListMismatch)
        );
        let mut wrong = good.clone();
        wrong.vrid = 78;
        assert!(matches!(
            backup.handle_advertisement(now, peer, &wrong),
            Err(AdvertRejection::VridMismatch { .. })
        ));
        assert_eq!(
            backup.handle_advertisement(now, backup.primary_address(), &good),
            Err(AdvertRejection::OwnAdvertisement)
        );
        assert_eq!(backup.handle_advertisement(now, peer, &good), Ok(()));
        assert_eq!(backup.counters().adverts_rejected, 5);
    }

    #[test]
    fn equal_priority_tie_is_broken_by_the_higher_address() {
        let now = Instant::now();
        let mut master = instance(VrrpVersion::V2, 100, 100);
        master.start(now);
        master.handle_timeout(now + master.master_down_interval());
        assert_eq!(master.state(), VrrpState::Master);
        let advert = master.advertisement(100);
        master.handle_advertisement(now, Ipv4Addr::new(10, 77, 0, 1), &advert).unwrap();
        assert_eq!(master.state(), VrrpState::Master, "lower address loses the tie");
        master.handle_advertisement(now, Ipv4Addr::new(10, 77, 0, 3), &advert).unwrap();
        assert_eq!(master.state(), VrrpState::Backup, "higher address wins the tie");
    }

    fn drain(instance: &mut VrrpInstance) -> Vec<Action> {
        std::iter::from_fn(|| instance.poll_action()).collect()
    }

    fn master(now: Instant) -> VrrpInstance {
        let mut master = instance(VrrpVersion::V2, 150, 100);
        master.start(now);
        master.handle_timeout(now + master.master_down_interval());
        assert_eq!(master.state(), VrrpState::Master);
        drain(&mut master);
        master
    }

    #[test]
    fn master_answers_a_resigning_peer_and_a_lower_priority_master_at_once() {
        let now = Instant::now();
        let mut master = master(now);
        let peer = Ipv4Addr::new(10, 77, 0, 9);
        master.handle_advertisement(now, peer, &master.advertisement(0)).unwrap();
        assert!(
            matches!(&drain(&mut master)[..], [Action::SendAdvertisement(a)] if a.priority == 150)
        );
        // Another master with a lower priority: advert now, and GARPs (the other master may
        // have been the last to announce the VIP).
        master.handle_advertisement(now, peer, &master.advertisement(100)).unwrap();
        let actions = drain(&mut master);
        assert!(matches!(actions[0], Action::SendAdvertisement(_)));
        assert_eq!(actions[1], Action::SendGratuitousArp { repeat: 5, interval: Duration::ZERO });
        assert_eq!(master.state(), VrrpState::Master);
    }

    #[test]
    fn gratuitous_arps_on_takeover_after_master_delay_and_on_refresh() {
        let t0 = Instant::now();
        let mut config = config(VrrpVersion::V2, 150, 100);
        config.garp.master_refresh = Some(Duration::from_secs(60));
        config.garp.master_refresh_repeat = 2;
        let mut instance = VrrpInstance::new(config, Ipv4Addr::new(10, 77, 0, 2)).unwrap();
        instance.start(t0);
        let takeover = t0 + instance.master_down_interval();
        instance.handle_timeout(takeover);
        let garps = |actions: &[Action]| {
            actions
                .iter()
                .filter_map(|a| match a {
                    Action::SendGratuitousArp { repeat, .. } => Some(*repeat),
                    _ => None,
                })
                .collect::<Vec<_>>()
        };
        assert_eq!(garps(&drain(&mut instance)), vec![5]);
        // Adverts every second; the second burst at +5 s (garp_master_delay).
        let mut bursts = Vec::new();
        let mut now = takeover;
        while now < takeover + Duration::from_secs(61) {
            now = instance.poll_timeout().unwrap();
            instance.handle_timeout(now);
            for repeat in garps(&drain(&mut instance)) {
                bursts.push((now - takeover, repeat));
            }
        }
        assert_eq!(
            bursts,
            vec![(Duration::from_secs(5), 5), (Duration::from_secs(60), 2)],
            "delayed burst, then refresh"
        );
    }

    #[test]
    fn shutdown_resigns_only_from_master() {
        let now = Instant::now();
        let mut backup = instance(VrrpVersion::V2, 100, 100);
        backup.start(now);
        drain(&mut backup);
        backup.shutdown(now);
        assert!(!drain(&mut backup).iter().any(|a| matches!(a, Action::SendAdvertisement(_))));
        assert_eq!(backup.poll_timeout(), None);

        let mut master = master(now);
        master.shutdown(now);
        let actions = drain(&mut master);
        assert!(matches!(&actions[1], Action::SendAdvertisement(a) if a.priority == 0));
        assert_eq!(actions[2], Action::RemoveVirtualAddresses);
        assert_eq!(master.state(), VrrpState::Initialize);
        assert_eq!(master.poll_timeout(), None);
    }

    #[test]
    fn failing_health_at_startup_means_fault_until_it_recovers() {
        let now = Instant::now();
        let mut backup = instance(VrrpVersion::V3, 100, 10);
        backup.apply_health(now, TrackEffect { fault: true, priority_delta: 0 });
        backup.start(now);
        assert_eq!(backup.state(), VrrpState::Fault);
        assert_eq!(backup.poll_timeout(), None);
        let advert = backup.advertisement(200);
        assert_eq!(
            backup.handle_advertisement(now, Ipv4Addr::new(10, 77, 0, 9), &advert),
            Err(AdvertRejection::NotListening(VrrpState::Fault))
        );
        backup.apply_health(now, TrackEffect::default());
        assert_eq!(backup.state(), VrrpState::Backup);
        assert_eq!(backup.poll_timeout(), Some(now + backup.master_down_interval()));
    }

    #[test]
    fn owner_ignores_adverts_and_other_versions_are_rejected() {
        let now = Instant::now();
        let mut owner = instance(VrrpVersion::V2, 255, 100);
        owner.start(now);
        let advert = owner.advertisement(255);
        assert_eq!(
            owner.handle_advertisement(now, Ipv4Addr::new(10, 77, 0, 9), &advert),
            Err(AdvertRejection::LocalOwner)
        );
        let mut v3 = advert.clone();
        v3.version = VrrpVersion::V3;
        v3.authentication = Authentication::None;
        assert_eq!(
            owner.handle_advertisement(now, Ipv4Addr::new(10, 77, 0, 9), &v3),
            Err(AdvertRejection::VersionMismatch { configured: 2, received: 3 })
        );
        assert_eq!(owner.state(), VrrpState::Master);
    }

    #[test]
    fn weight_changes_the_effective_priority_within_bounds() {
        let now = Instant::now();
        let mut backup = instance(VrrpVersion::V2, 100, 100);
        backup.apply_health(now, TrackEffect { fault: false, priority_delta: -150 });
        assert_eq!(backup.effective_priority(), 1);
        backup.apply_health(now, TrackEffect { fault: false, priority_delta: 200 });
        assert_eq!(backup.effective_priority(), 254);
        // Skew follows the effective priority: (256 - 254) / 256 s.
        assert_eq!(backup.skew_time(), Duration::from_micros(7_812));
        let mut owner = instance(VrrpVersion::V2, 255, 100);
        owner.apply_health(now, TrackEffect { fault: false, priority_delta: -50 });
        assert_eq!(owner.effective_priority(), 255);

        // A running Master_Down timer follows the Skew_Time change.
        let mut backup = instance(VrrpVersion::V2, 100, 100);
        backup.start(now);
        assert_eq!(backup.poll_timeout(), Some(now + Duration::from_micros(3_609_375)));
        backup.apply_health(now, TrackEffect { fault: false, priority_delta: 100 });
        // (256 - 200) / 256 s = 218750 µs
        assert_eq!(backup.poll_timeout(), Some(now + Duration::from_micros(3_218_750)));
    }
}
