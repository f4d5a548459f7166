//! Properties of the instance state machine under arbitrary event sequences: the actions it
//! emits always agree with its state (VIPs held exactly while Master, transitions chain up,
//! adverts carry the effective priority or 0), its timers are always in the future after a
//! timeout was handled, and nothing panics.

use std::net::Ipv4Addr;
use std::time::{Duration, Instant};

use memcached_failover::{
    Action, Centiseconds, InstanceConfig, TrackEffect, VirtualAddress, VrrpInstance, VrrpState,
    VrrpVersion, VRRP_MULTICAST_GROUP,
};
use proptest::prelude::*;

const PRIMARY: Ipv4Addr = Ipv4Addr::new(10, 77, 0, 50);

#[derive(Debug, Clone)]
enum Event {
    Start,
    Shutdown,
    /// An advert from 10.77.0.`source` with this priority; `matching` = same config as ours.
    Advert {
        priority: u8,
        source: u8,
        matching: bool,
    },
    /// Jump to the next timer and handle it.
    NextTimeout,
    /// Let time pass, then handle timeouts.
    Advance(u16),
    Health {
        fault: bool,
        delta: i32,
    },
}

fn event() -> impl Strategy<Value = Event> {
    prop_oneof![
        1 => Just(Event::Start),
        1 => Just(Event::Shutdown),
        6 => (any::<u8>(), 1u8..=254, prop::bool::weighted(0.9))
            .prop_map(|(priority, source, matching)| Event::Advert { priority, source, matching }),
        4 => Just(Event::NextTimeout),
        3 => (0u16..5000).prop_map(Event::Advance),
        2 => (prop::bool::weighted(0.3), -120i32..120)
            .prop_map(|(fault, delta)| Event::Health { fault, delta }),
    ]
}

fn config() -> impl Strategy<Value = InstanceConfig> {
    (prop::bool::ANY, 1u8..=255, prop::bool::ANY, 1u16..=300, 0u64..3).prop_map(
        |(v3, priority, preempt, interval, preempt_delay)| {
            let vip = VirtualAddress::host(Ipv4Addr::new(10, 77, 0, 100));
            let mut config = InstanceConfig::new("eth0", 77, vec![vip]);
            config.priority = priority;
            config.preempt = preempt;
            config.preempt_delay = Duration::from_secs(preempt_delay);
            if v3 {
                config.version = VrrpVersion::V3;
                config.advert_interval = Centiseconds(interval);
            } else {
                config.advert_interval = Centiseconds(100 * (interval % 3 + 1));
                config.auth_pass = Some(b"secret".to_vec());
            }
            config
        },
    )
}

struct Observer {
    state: VrrpState,
    vip_held: bool,
}

impl Observer {
    fn drain(&mut self, instance: &mut VrrpInstance) -> Result<(), TestCaseError> {
        while let Some(action) = instance.poll_action() {
            match action {
                Action::AddVirtualAddresses => self.vip_held = true,
                Action::RemoveVirtualAddresses => self.vip_held = false,
                Action::Transition(t) => {
                    prop_assert_eq!(t.from, self.state, "transition chain broken");
                    prop_assert_ne!(t.from, t.to);
                    self.state = t.to;
                }
                Action::SendAdvertisement(advert) => {
                    let priority = advert.priority;
                    prop_assert!(
                        priority == 0 || priority == instance.effective_priority(),
                        "advert priority {} vs effective {}",
                        priority,
                        instance.effective_priority()
                    );
                    prop_assert!(advert.encode(PRIMARY, VRRP_MULTICAST_GROUP).is_ok());
                }
                Action::SendGratuitousArp { repeat, .. } => prop_assert!(repeat > 0),
            }
        }
        prop_assert_eq!(self.state, instance.state());
        prop_assert_eq!(self.vip_held, instance.state() == VrrpState::Master, "VIP vs state");
        let running = matches!(instance.state(), VrrpState::Backup | VrrpState::Master);
        prop_assert_eq!(instance.poll_timeout().is_some(), running, "timers vs state");
        if instance.state() == VrrpState::Master {
            prop_assert_eq!(instance.current_master(), Some(PRIMARY));
        }
        Ok(())
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn actions_always_agree_with_the_state(
        config in config(),
        events in prop::collection::vec(event(), 1..80),
    ) {
        let mut instance = VrrpInstance::new(config, PRIMARY).unwrap();
        let mut observer = Observer { state: VrrpState::Initialize, vip_held: false };
        let mut now = Instant::now();
        for event in events {
            match event {
                Event::Start => instance.start(now),
                Event::Shutdown => instance.shutdown(now),
                Event::Advert { priority, source, matching } => {
                    let mut advert = instance.advertisement(priority);
                    if !matching {
                        advert.addresses.push(Ipv4Addr::new(10, 77, 0, 101));
                    }
                    let from = Ipv4Addr::new(10, 77, 0, source);
                    let _ = instance.handle_advertisement(now, from, &advert);
                }
                Event::NextTimeout => {
                    if let Some(at) = instance.poll_timeout() {
                        now = now.max(at);
                        instance.handle_timeout(now);
                        if let Some(next) = instance.poll_timeout() {
                            prop_assert!(next > now, "timer not moved past now");
                        }
                    }
                }
                Event::Advance(ms) => {
                    now += Duration::from_millis(u64::from(ms));
                    instance.handle_timeout(now);
                }
                Event::Health { fault, delta } => {
                    instance.apply_health(now, TrackEffect { fault, priority_delta: delta });
                }
            }
            observer.drain(&mut instance)?;
        }
    }
}
