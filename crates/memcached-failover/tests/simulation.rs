//! Two (or more) VRRP instances on a simulated link, in one thread with simulated time.
//!
//! ```text
//!   node 0 ──encode──► in-flight queue (latency, seeded loss) ──decode──► node 1
//!      ▲                                                                    │
//!      └──────────────────────────── same, the other way ◄─────────────────┘
//! ```
//!
//! Every advert goes through the real encoder, IPv4 header and decoder. Time only moves when
//! the simulation jumps to the next event (a timer or a delivery), so the times asserted are
//! exactly the RFC formulas.

use std::net::Ipv4Addr;
use std::time::{Duration, Instant};

use memcached_failover::{
    Action, Centiseconds, CheckOutcome, HealthPolicy, HealthTracker, InstanceConfig, Ipv4Datagram,
    TransitionReason, VirtualAddress, VrrpInstance, VrrpState, VrrpVersion, VRRP_MULTICAST_GROUP,
};

const VIP: Ipv4Addr = Ipv4Addr::new(10, 77, 0, 100);
const LATENCY: Duration = Duration::from_micros(100);

struct Node {
    instance: VrrpInstance,
    alive: bool,
    holds_vip: bool,
    garp_bursts: u32,
    /// (time, from, to, reason) of every transition.
    transitions: Vec<(Instant, VrrpState, VrrpState, TransitionReason)>,
    /// When the last advert from a peer was delivered.
    last_advert_received: Option<Instant>,
    /// Health of the local memcached as the simulated check sees it, and its tracker.
    memcached_up: bool,
    health: Option<HealthTracker>,
    ip_id: u16,
}

struct Delivery {
    at: Instant,
    to: usize,
    datagram: Vec<u8>,
}

struct Link {
    t0: Instant,
    now: Instant,
    nodes: Vec<Node>,
    in_flight: Vec<Delivery>,
    /// Loss probability in 1/1000.
    loss_per_mille: u64,
    rng: u64,
    delivered: u64,
    lost: u64,
}

fn config(version: VrrpVersion, priority: u8, interval_cs: u16) -> InstanceConfig {
    let mut config = InstanceConfig::new("veth0", 77, vec![VirtualAddress::host(VIP)]);
    config.version = version;
    config.priority = priority;
    config.advert_interval = Centiseconds(interval_cs);
    if version == VrrpVersion::V2 {
        config.auth_pass = Some(b"memc1234".to_vec());
    }
    config
}

impl Link {
    fn new(configs: Vec<InstanceConfig>, loss_per_mille: u64, seed: u64) -> Link {
        let t0 = Instant::now();
        let nodes = configs
            .into_iter()
            .enumerate()
            .map(|(i, config)| Node {
                instance: VrrpInstance::new(config, Ipv4Addr::new(10, 77, 0, i as u8 + 1)).unwrap(),
                alive: false,
                holds_vip: false,
                garp_bursts: 0,
                transitions: Vec::new(),
                last_advert_received: None,
                memcached_up: true,
                health: None,
                ip_id: 0,
            })
            .collect();
        Link {
            t0,
            now: t0,
            nodes,
            in_flight: Vec::new(),
            loss_per_mille,
            rng: seed | 1,
            delivered: 0,
            lost: 0,
        }
    }

    fn at(&self, offset: Duration) -> Instant {
        self.t0 + offset
    }

    fn random_per_mille(&mut self) -> u64 {
        // xorshift64: deterministic loss pattern per seed.
        self.rng ^= self.rng << 13;
        self.rng ^= self.rng >> 7;
        self.rng ^= self.rng << 17;
        self.rng % 1000
    }

    fn start(&mut self, node: usize) {
        let now = self.now;
        let n = &mut self.nodes[node];
        n.alive = true;
        n.last_advert_received = None;
        n.instance.start(now);
        self.drain(node);
    }

    /// The node's machine dies: no resignation, the VIP goes with it.
    fn crash(&mut self, node: usize) {
        let n = &mut self.nodes[node];
        n.alive = false;
        n.holds_vip = false;
        let config = n.instance.config().clone();
        let address = n.instance.primary_address();
        n.instance = VrrpInstance::new(config, address).unwrap();
        self.in_flight.retain(|d| d.to != node);
    }

    fn shutdown(&mut self, node: usize) {
        let now = self.now;
        self.nodes[node].instance.shutdown(now);
        self.drain(node);
        self.nodes[node].alive = false;
    }

    fn masters(&self) -> Vec<usize> {
        (0..self.nodes.len())
            .filter(|&i| self.nodes[i].alive && self.nodes[i].instance.state() == VrrpState::Master)
            .collect()
    }

    fn vip_holders(&self) -> Vec<usize> {
        (0..self.nodes.len()).filter(|&i| self.nodes[i].holds_vip).collect()
    }

    /// Carries out a node's pending actions.
    fn drain(&mut self, node: usize) {
        let now = self.now;
        while let Some(action) = self.nodes[node].instance.poll_action() {
            match action {
                Action::SendAdvertisement(advert) => {
                    let source = self.nodes[node].instance.primary_address();
                    let payload = advert.encode(source, VRRP_MULTICAST_GROUP).unwrap();
                    self.nodes[node].ip_id = self.nodes[node].ip_id.wrapping_add(1);
                    let header = Ipv4Datagram {
                        tos: 0xc0,
                        identification: self.nodes[node].ip_id,
                        ttl: 255,
                        source,
                        destination: VRRP_MULTICAST_GROUP,
                    };
                    let mut datagram = header.encode_header(payload.len()).to_vec();
                    datagram.extend_from_slice(&payload);
                    for to in 0..self.nodes.len() {
                        if to == node || !self.nodes[to].alive {
                            continue;
                        }
                        if self.random_per_mille() < self.loss_per_mille {
                            self.lost += 1;
                            continue;
                        }
                        let datagram = datagram.clone();
                        self.in_flight.push(Delivery { at: now + LATENCY, to, datagram });
                    }
                }
                Action::AddVirtualAddresses => self.nodes[node].holds_vip = true,
                Action::RemoveVirtualAddresses => self.nodes[node].holds_vip = false,
                Action::SendGratuitousArp { repeat, .. } => {
                    assert!(repeat > 0);
                    self.nodes[node].garp_bursts += 1;
                }
                Action::Transition(t) => {
                    self.nodes[node].transitions.push((now, t.from, t.to, t.reason));
                }
            }
        }
    }

    fn next_event(&self) -> Option<Instant> {
        let timers = self.nodes.iter().filter(|n| n.alive).flat_map(|n| {
            let health = n.health.as_ref().and_then(|h| h.poll_timeout());
            [n.instance.poll_timeout(), health].into_iter().flatten()
        });
        timers.chain(self.in_flight.iter().map(|d| d.at)).min()
    }

    /// Runs every event up to and including `until`; `check` runs after each event.
    fn run_until_checking(&mut self, until: Instant, mut check: impl FnMut(&Link)) {
        while let Some(at) = self.next_event().filter(|&at| at <= until) {
            self.now = self.now.max(at);
            let now = self.now;
            let (due, later): (Vec<_>, Vec<_>) =
                std::mem::take(&mut self.in_flight).into_iter().partition(|d| d.at <= now);
            self.in_flight = later;
            for delivery in due {
                if !self.nodes[delivery.to].alive {
                    continue;
                }
                self.delivered += 1;
                let (_, packet) = Ipv4Datagram::parse(&delivery.datagram).unwrap();
                let advert = packet.decode().unwrap();
                let node = &mut self.nodes[delivery.to];
                node.last_advert_received = Some(now);
                let _ = node.instance.handle_advertisement(now, packet.source, &advert);
                self.drain(delivery.to);
            }
            for i in 0..self.nodes.len() {
                if !self.nodes[i].alive {
                    continue;
                }
                self.run_health(i);
                if self.nodes[i].instance.poll_timeout().is_some_and(|t| t <= now) {
                    self.nodes[i].instance.handle_timeout(now);
                    self.drain(i);
                }
            }
            check(self);
        }
        self.now = self.now.max(until);
    }

    fn run_until(&mut self, until: Instant) {
        self.run_until_checking(until, |_| {});
    }

    /// Simulated health check: the result is known at once (memcached_up).
    fn run_health(&mut self, i: usize) {
        let now = self.now;
        let node = &mut self.nodes[i];
        let Some(health) = node.health.as_mut() else { return };
        let mut changed = health.handle_timeout(now).is_some();
        if health.poll_start(now).is_some() {
            let outcome =
                if node.memcached_up { CheckOutcome::Passed } else { CheckOutcome::Failed };
            changed |= health.record(now, outcome).is_some();
        }
        if changed {
            let effect = health.effect();
            node.instance.apply_health(now, effect);
            self.drain(i);
        }
    }

    fn became_master_at(&self, node: usize, after: Instant) -> Option<Instant> {
        self.nodes[node]
            .transitions
            .iter()
            .find(|(at, _, to, _)| *at >= after && *to == VrrpState::Master)
            .map(|(at, ..)| *at)
    }
}

/// Starts node 0 (priority `high`) and node 1 (priority `low`) and runs until node 0 is the
/// settled master.
fn converged(version: VrrpVersion, high: u8, low: u8, interval_cs: u16) -> Link {
    let mut link = Link::new(
        vec![config(version, high, interval_cs), config(version, low, interval_cs)],
        0,
        1,
    );
    link.start(0);
    link.start(1);
    let settle = link.at(Duration::from_secs(10));
    link.run_until(settle);
    assert_eq!(link.masters(), vec![0]);
    assert_eq!(link.vip_holders(), vec![0]);
    assert_eq!(link.nodes[1].instance.state(), VrrpState::Backup);
    link
}

#[test]
fn two_routers_elect_exactly_one_master_and_keep_it() {
    for version in [VrrpVersion::V2, VrrpVersion::V3] {
        let mut link = converged(version, 150, 100, 100);
        // From here on, no moment with two masters or two VIP holders.
        let end = link.at(Duration::from_secs(120));
        link.run_until_checking(end, |link| {
            assert_eq!(link.masters(), vec![0], "{version:?}");
            assert_eq!(link.vip_holders(), vec![0], "{version:?}");
        });
        // One advert per second was exchanged and nobody flapped.
        assert!(link.delivered >= 115, "{version:?}: {} delivered", link.delivered);
        assert_eq!(link.nodes[1].transitions.len(), 1, "{version:?}: backup flapped");
    }
}

#[test]
fn under_loss_the_higher_priority_router_ends_up_the_only_master() {
    for seed in [7, 11, 13] {
        let mut link = Link::new(
            vec![config(VrrpVersion::V3, 150, 100), config(VrrpVersion::V3, 100, 100)],
            300,
            seed,
        );
        link.start(1);
        link.start(0);
        let mut dual_master_events = 0u32;
        let mut events = 0u32;
        let end = link.at(Duration::from_secs(300));
        link.run_until_checking(end, |link| {
            events += 1;
            if link.masters().len() > 1 {
                dual_master_events += 1;
            }
            assert!(!link.masters().is_empty() || link.now < link.at(Duration::from_secs(4)));
        });
        assert!(link.lost > 30, "seed {seed}: loss not exercised ({} lost)", link.lost);
        // With 30 % loss the backup sometimes misses three adverts and claims the VIP; the
        // master's next advert (higher priority) sends it back at once.
        assert!(dual_master_events * 20 < events, "seed {seed}: {dual_master_events}/{events}");
        // Settle without loss: exactly one master, the higher priority one.
        link.loss_per_mille = 0;
        let settle = link.now + Duration::from_secs(5);
        link.run_until(settle);
        assert_eq!(link.masters(), vec![0], "seed {seed}");
        assert_eq!(link.vip_holders(), vec![0], "seed {seed}");
    }
}

#[test]
fn backup_takes_over_after_master_down_interval_when_the_master_dies() {
    for (version, interval_cs, expected_mdi) in [
        // v2: 3 · 1 s + (256 − 100)/256 s
        (VrrpVersion::V2, 100, Duration::from_micros(3_609_375)),
        // v3: 3 · 10 cs + (256 − 100) · 10 cs / 256
        (VrrpVersion::V3, 10, Duration::from_micros(360_937)),
    ] {
        let mut link = converged(version, 150, 100, interval_cs);
        assert_eq!(link.nodes[1].instance.master_down_interval(), expected_mdi);
        link.crash(0);
        let crash = link.now;
        let last_advert = link.nodes[1].last_advert_received.unwrap();
        link.run_until(crash + Duration::from_secs(10));
        let took_over = link.became_master_at(1, crash).expect("backup never became master");
        assert_eq!(took_over - last_advert, expected_mdi, "{version:?}");
        let (_, _, _, reason) = *link.nodes[1].transitions.last().unwrap();
        assert_eq!(reason, TransitionReason::MasterDown);
        assert_eq!(link.vip_holders(), vec![1]);
        assert!(link.nodes[1].garp_bursts >= 1);
    }
}

#[test]
fn priority_zero_resignation_hands_over_after_skew_time() {
    for (version, interval_cs, expected_skew) in [
        (VrrpVersion::V2, 100, Duration::from_micros(609_375)),
        (VrrpVersion::V3, 10, Duration::from_micros(60_937)),
    ] {
        let mut link = converged(version, 150, 100, interval_cs);
        link.shutdown(0);
        let resigned = link.now;
        assert_eq!(link.nodes[0].instance.state(), VrrpState::Initialize);
        assert!(!link.nodes[0].holds_vip, "resigning master keeps the VIP");
        link.run_until(resigned + Duration::from_secs(10));
        let took_over = link.became_master_at(1, resigned).expect("no takeover");
        assert_eq!(took_over - resigned, LATENCY + expected_skew, "{version:?}");
        assert_eq!(link.vip_holders(), vec![1]);
    }
}

#[test]
fn returning_higher_priority_router_preempts_after_its_master_down_interval() {
    let mut link = converged(VrrpVersion::V2, 150, 100, 100);
    link.crash(0);
    link.run_until(link.now + Duration::from_secs(5));
    assert_eq!(link.masters(), vec![1]);
    link.start(0);
    let restarted = link.now;
    let mdi_150 = link.nodes[0].instance.master_down_interval();
    assert_eq!(mdi_150, Duration::from_micros(3_414_062));
    link.run_until(restarted + Duration::from_secs(10));
    // Node 0 discards the lower-priority adverts and takes over when its own timer expires.
    assert_eq!(link.became_master_at(0, restarted), Some(restarted + mdi_150));
    assert_eq!(link.masters(), vec![0]);
    assert_eq!(link.vip_holders(), vec![0]);
    let back = link.nodes[1].transitions.last().unwrap();
    assert_eq!((back.2, back.3), (VrrpState::Backup, TransitionReason::HigherPriorityAdvert));
    // Node 1 stepped down on node 0's first advert.
    assert_eq!(back.0, restarted + mdi_150 + LATENCY);
}

#[test]
fn nopreempt_router_stays_backup_when_it_returns() {
    let mut high = config(VrrpVersion::V2, 150, 100);
    high.preempt = false;
    let mut link = Link::new(vec![high, config(VrrpVersion::V2, 100, 100)], 0, 1);
    link.start(0);
    link.start(1);
    link.run_until(link.at(Duration::from_secs(10)));
    assert_eq!(link.masters(), vec![0], "nopreempt still wins an empty election");
    link.crash(0);
    link.run_until(link.now + Duration::from_secs(5));
    link.start(0);
    link.run_until(link.now + Duration::from_secs(60));
    assert_eq!(link.masters(), vec![1]);
    assert_eq!(link.vip_holders(), vec![1]);
    assert_eq!(link.nodes[0].instance.state(), VrrpState::Backup);
}

#[test]
fn preempt_delay_postpones_the_takeover() {
    let mut high = config(VrrpVersion::V2, 150, 100);
    high.preempt_delay = Duration::from_secs(5);
    let mut link = Link::new(vec![high, config(VrrpVersion::V2, 100, 100)], 0, 1);
    link.start(1);
    link.run_until(link.at(Duration::from_secs(10)));
    assert_eq!(link.masters(), vec![1]);
    link.start(0);
    let started = link.now;
    link.run_until(started + Duration::from_secs(20));
    let took_over = link.became_master_at(0, started).expect("never preempted");
    // The first lower-priority advert arrives within 1 s of the start; adverts are accepted
    // for 5 s after it (the one at exactly +5 s is already discarded): takeover = last
    // accepted advert (+4 s) + MDI, i.e. 7.4 .. 8.4 s after the start.
    let elapsed = took_over - started;
    let mdi = link.nodes[0].instance.master_down_interval();
    assert!(elapsed > Duration::from_secs(4) + mdi, "{elapsed:?}");
    assert!(elapsed <= Duration::from_secs(5) + mdi + LATENCY, "{elapsed:?}");
}

#[test]
fn memcached_failure_faults_the_master_and_the_peer_takes_over_after_skew() {
    let mut link = converged(VrrpVersion::V2, 150, 100, 100);
    let policy = HealthPolicy { fall: 2, rise: 2, ..HealthPolicy::default() };
    link.nodes[0].health = Some(HealthTracker::new(policy, link.now));
    link.run_until(link.now + Duration::from_millis(2500));
    assert_eq!(link.masters(), vec![0], "healthy checks change nothing");

    link.nodes[0].memcached_up = false;
    let killed = link.now;
    link.run_until(killed + Duration::from_secs(10));
    let fault = link.nodes[0]
        .transitions
        .iter()
        .find(|(at, _, to, _)| *at >= killed && *to == VrrpState::Fault)
        .map(|(at, ..)| *at)
        .expect("no fault");
    // Two failed checks one interval apart (fall 2).
    assert!(fault - killed <= Duration::from_secs(2), "{:?}", fault - killed);
    // The fault sends a priority-0 advert: takeover after the backup's Skew_Time.
    let took_over = link.became_master_at(1, killed).expect("no takeover");
    assert_eq!(took_over - fault, LATENCY + Duration::from_micros(609_375));
    assert_eq!(link.vip_holders(), vec![1]);

    // memcached comes back: rise 2, then node 0 is Backup and preempts after its MDI.
    link.nodes[0].memcached_up = true;
    let restored = link.now;
    link.run_until(restored + Duration::from_secs(10));
    assert_eq!(link.masters(), vec![0]);
    assert_eq!(link.vip_holders(), vec![0]);
}

#[test]
fn negative_weight_lets_the_peer_take_over_without_fault() {
    let mut link = converged(VrrpVersion::V3, 150, 100, 10);
    let policy = HealthPolicy { weight: -60, ..HealthPolicy::default() };
    link.nodes[0].health = Some(HealthTracker::new(policy, link.now));
    link.run_until(link.now + Duration::from_secs(2));
    link.nodes[0].memcached_up = false;
    let killed = link.now;
    link.run_until(killed + Duration::from_secs(5));
    assert_eq!(link.nodes[0].instance.effective_priority(), 90);
    assert_eq!(link.nodes[0].instance.state(), VrrpState::Backup, "weight never faults");
    assert_eq!(link.masters(), vec![1]);
    assert_eq!(link.vip_holders(), vec![1]);
    let took_over = link.became_master_at(1, killed).unwrap();
    let (_, _, _, reason) = *link.nodes[1].transitions.last().unwrap();
    assert_eq!(reason, TransitionReason::MasterDown);
    // Priority 90 adverts are discarded by the preempting backup: it waits one MDI after the
    // last priority-150 advert (health checks run once per second).
    assert!(took_over - killed <= Duration::from_secs(1) + Duration::from_millis(361));
}

#[test]
fn v3_backup_learns_the_masters_interval() {
    // Master advertises every 50 cs; the backup is configured with 100 cs.
    let mut link =
        Link::new(vec![config(VrrpVersion::V3, 150, 50), config(VrrpVersion::V3, 100, 100)], 0, 1);
    link.start(0);
    link.start(1);
    link.run_until(link.at(Duration::from_secs(10)));
    assert_eq!(link.masters(), vec![0]);
    let backup = &link.nodes[1].instance;
    assert_eq!(backup.master_adver_interval(), Centiseconds(50));
    // 3 · 50 cs + (256 − 100) · 50 cs / 256
    assert_eq!(backup.master_down_interval(), Duration::from_micros(1_500_000 + 304_687));
}
