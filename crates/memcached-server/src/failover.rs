//! `--vrrp`: the server holds a virtual IP with VRRP (keepalived-compatible) while its own client
//! port answers, so clients that use the VIP fail over to the peer when this server dies, stops
//! or stops answering.
//!
//! ```text
//!   --vrrp interface=eth0,vrid=51,priority=150,vip=10.0.0.100/24[,key=value...]
//!        │ parse (this module)
//!        v
//!   InstanceConfig + HealthPolicy ──> mc-vrrp thread: memcached_failover::linux::VrrpDaemon
//!                                       raw socket (IP proto 112), `ip addr` for the VIP,
//!                                       gratuitous ARP, and a `version` check of our own
//!                                       client port every check_interval
//! ```
//!
//! On a stop (SIGTERM, `shutdown`) the thread resigns with a priority-0 advert, so the peer
//! takes the VIP after its skew time instead of waiting out the master-down interval.
//!
//! Keys (keepalived's names where it has one): `interface`, `vrid`, `priority` (100),
//! `vip` (repeatable, `addr[/len]`), `version` (2|3, default 2), `advert_int` (seconds, 1),
//! `auth_pass` (v2), `nopreempt`, `preempt_delay` (seconds), `unicast_peer` (repeatable),
//! `check_interval` (seconds, 1), `check_timeout` (seconds, = interval), `rise` (1), `fall` (1),
//! `weight` (0: a failing check means FAULT; otherwise the priority moves by it), `name` (the
//! instance's name, `VI_<vrid>`), `notify`, `notify_master`, `notify_backup`, `notify_fault`,
//! `notify_stop` (programs run on changes of state as keepalived runs them: see `notify.rs`).

use std::net::{Ipv4Addr, SocketAddr};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use memcached_codec::{encode_stat, encode_stat_u64};

mod notify;
use memcached_failover::{
    Centiseconds, HealthPolicy, InstanceConfig, VirtualAddress, VrrpInstance, VrrpState,
    VrrpVersion,
};
pub use notify::Notify;

/// A parsed `--vrrp` value.
#[derive(Debug, Clone)]
pub struct VrrpOptions {
    /// The VRRP instance.
    pub instance: InstanceConfig,
    /// How our own client port is checked.
    pub health: HealthPolicy,
    /// The programs told of changes of state (keepalived's `notify*`), if any.
    pub notify: Option<Notify>,
}

impl VrrpOptions {
    /// Parses the comma-separated `key=value` list of `--vrrp`.
    pub fn parse(spec: &str) -> Result<VrrpOptions, String> {
        let mut interface = None;
        let mut vrid = None;
        let mut vips = Vec::new();
        let mut priority = 100u8;
        let mut version = VrrpVersion::V2;
        let mut advert = Duration::from_secs(1);
        let mut auth_pass = None;
        let mut preempt = true;
        let mut preempt_delay = Duration::ZERO;
        let mut unicast_peers = Vec::new();
        let mut health = HealthPolicy::default();
        let mut timeout = None;
        let mut name = None;
        let mut programs = Vec::new();
        for item in spec.split(',').map(str::trim).filter(|i| !i.is_empty()) {
            let (key, value) = item.split_once('=').unwrap_or((item, ""));
            let bad = || format!("--vrrp: invalid {key} \"{value}\"");
            match key {
                "interface" if !value.is_empty() => interface = Some(value.to_owned()),
                "vrid" => vrid = Some(value.parse::<u8>().ok().filter(|&v| v > 0).ok_or_else(bad)?),
                "priority" => {
                    priority = value.parse::<u8>().ok().filter(|&p| p > 0).ok_or_else(bad)?
                }
                "vip" => vips.push(value.parse::<VirtualAddress>().map_err(|_| bad())?),
                "version" => {
                    version = match value {
                        "2" => VrrpVersion::V2,
                        "3" => VrrpVersion::V3,
                        _ => return Err(bad()),
                    }
                }
                "advert_int" => advert = seconds(value).ok_or_else(bad)?,
                "auth_pass" if !value.is_empty() => auth_pass = Some(value.as_bytes().to_vec()),
                "nopreempt" if value.is_empty() => preempt = false,
                "preempt_delay" => preempt_delay = seconds(value).ok_or_else(bad)?,
                "unicast_peer" => unicast_peers.push(value.parse::<Ipv4Addr>().map_err(|_| bad())?),
                "check_interval" => health.interval = seconds(value).ok_or_else(bad)?,
                "check_timeout" => timeout = Some(seconds(value).ok_or_else(bad)?),
                "rise" => health.rise = value.parse().ok().filter(|&n| n > 0).ok_or_else(bad)?,
                "fall" => health.fall = value.parse().ok().filter(|&n| n > 0).ok_or_else(bad)?,
                "weight" => health.weight = value.parse().map_err(|_| bad())?,
                "name" if !value.is_empty() => name = Some(value.to_owned()),
                "notify" | "notify_master" | "notify_backup" | "notify_fault" | "notify_stop"
                    if !value.is_empty() =>
                {
                    programs.push((key.to_owned(), value.to_owned()))
                }
                _ => return Err(format!("--vrrp: unknown or incomplete setting \"{item}\"")),
            }
        }
        health.timeout = timeout.unwrap_or(health.interval);
        let interface = interface.ok_or("--vrrp needs interface=<name>")?;
        let vrid = vrid.ok_or("--vrrp needs vrid=<1-255>")?;
        if vips.is_empty() {
            return Err("--vrrp needs at least one vip=<address>[/<prefix length>]".into());
        }
        let centiseconds = (advert.as_secs_f64() * 100.0).round();
        if !(1.0..=f64::from(u16::MAX)).contains(&centiseconds) {
            return Err("--vrrp: advert_int out of range".into());
        }
        let mut instance = InstanceConfig::new(&interface, vrid, vips);
        instance.priority = priority;
        instance.version = version;
        instance.advert_interval = Centiseconds(centiseconds as u16);
        instance.auth_pass = auth_pass;
        instance.preempt = preempt;
        instance.preempt_delay = preempt_delay;
        instance.unicast_peers = unicast_peers;
        instance.validate().map_err(|e| format!("--vrrp: {e}"))?;
        let instance_name = name.unwrap_or_else(|| format!("VI_{vrid}"));
        let notify = (!programs.is_empty()).then(|| Notify::new(instance_name, programs));
        Ok(VrrpOptions { instance, health, notify })
    }
}

fn seconds(value: &str) -> Option<Duration> {
    let s = value.parse::<f64>().ok().filter(|s| s.is_finite() && *s >= 0.0)?;
    Some(Duration::from_secs_f64(s))
}

/// What `stats` reports about the VRRP instance (`vrrp_*` lines), kept by the VRRP thread.
#[derive(Debug, Clone)]
pub struct VrrpStatus {
    /// The instance's state.
    pub state: VrrpState,
    /// Its effective priority (health weights applied).
    pub priority: u8,
    /// State changes since the start.
    pub transitions: u64,
    /// The VIPs, as configured (`addr/len`, comma separated).
    pub vips: String,
    /// The VRID.
    pub vrid: u8,
}

impl VrrpStatus {
    /// Appends the `STAT vrrp_*` lines.
    pub fn encode_stats(&self, out: &mut Vec<u8>) {
        encode_stat(out, b"vrrp_state", self.state.to_string().as_bytes());
        encode_stat_u64(out, b"vrrp_vrid", u64::from(self.vrid));
        encode_stat_u64(out, b"vrrp_priority", u64::from(self.priority));
        encode_stat_u64(out, b"vrrp_transitions", self.transitions);
        encode_stat(out, b"vrrp_vips", self.vips.as_bytes());
    }
}

/// The server's log for the VRRP thread: lines to stderr, the state into the shared status.
#[cfg(target_os = "linux")]
struct StatusLog {
    prefix: String,
    status: Arc<Mutex<Option<VrrpStatus>>>,
    notify: Option<Notify>,
}

#[cfg(target_os = "linux")]
impl memcached_failover::linux::DaemonLog for StatusLog {
    fn line(&mut self, text: &str) {
        eprintln!("{}: {}", self.prefix, text);
    }

    fn state(&mut self, state: VrrpState, priority: u8) {
        let mut guard = self.status.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(status) = guard.as_mut() {
            status.state = state;
            status.priority = priority;
            status.transitions += 1;
        }
        drop(guard);
        if let Some(notify) = self.notify.as_ref().filter(|_| state != VrrpState::Initialize) {
            notify.run(&state.to_string(), priority);
        }
    }
}

/// The running VRRP thread.
#[derive(Debug)]
pub struct FailoverHandle {
    thread: JoinHandle<()>,
    stop: Arc<AtomicBool>,
    /// Told `STOP` once the instance has resigned.
    notify: Option<(Notify, u8)>,
}

impl FailoverHandle {
    /// Resigns (priority-0 advert when master, VIPs removed), waits for the thread, and tells
    /// the notify program `STOP` (waiting for it at most 2 s).
    pub fn stop(self) {
        self.stop.store(true, Ordering::SeqCst);
        let _ = self.thread.join();
        if let Some((notify, priority)) = self.notify {
            notify.run_and_wait("STOP", priority, Duration::from_secs(2));
        }
    }
}

/// Opens the VRRP sockets (root needed) and starts the instance; `check` is our own client
/// address, asked `version` every check interval; `status` is where `stats` reads the state.
#[cfg(target_os = "linux")]
pub fn start(
    options: VrrpOptions,
    check: SocketAddr,
    status: Arc<Mutex<Option<VrrpStatus>>>,
) -> Result<FailoverHandle, String> {
    use memcached_failover::linux::{InterfaceAddresses, VrrpDaemon};

    let config = options.instance;
    let notify = options.notify;
    let interface = config.interface.clone();
    let source = InterfaceAddresses::of(&interface)
        .map_err(|e| format!("--vrrp: interface {interface}: {e}"))?
        .primary_ipv4(&config.virtual_addresses)
        .ok_or_else(|| format!("--vrrp: interface {interface} has no IPv4 address"))?;
    let vips =
        config.virtual_addresses.iter().map(ToString::to_string).collect::<Vec<_>>().join(",");
    *status.lock().unwrap_or_else(|e| e.into_inner()) = Some(VrrpStatus {
        state: VrrpState::Initialize,
        priority: config.priority,
        transitions: 0,
        vips,
        vrid: config.vrid,
    });
    let config_priority = config.priority;
    let instance = VrrpInstance::new(config, source).map_err(|e| format!("--vrrp: {e}"))?;
    let mut daemon = VrrpDaemon::new(instance, Some((options.health, check)), false)
        .map_err(|e| format!("--vrrp: cannot open the VRRP sockets (root needed): {e}"))?;
    let stop = Arc::new(AtomicBool::new(false));
    let thread_stop = Arc::clone(&stop);
    let thread_notify = notify.clone();
    let priority = config_priority;
    let thread = std::thread::Builder::new()
        .name("mc-vrrp".into())
        .spawn(move || {
            let prefix = format!("vrrp[{interface}]");
            let mut log = StatusLog { prefix, status, notify: thread_notify };
            if let Err(e) = daemon.run(&thread_stop, &mut log) {
                eprintln!("vrrp[{interface}]: stopped: {e}");
            }
        })
        .map_err(|e| format!("--vrrp: cannot start its thread: {e}"))?;
    Ok(FailoverHandle { thread, stop, notify: notify.map(|n| (n, priority)) })
}

/// VRRP needs Linux's raw sockets here.
#[cfg(not(target_os = "linux"))]
pub fn start(
    _options: VrrpOptions,
    _check: SocketAddr,
    _status: Arc<Mutex<Option<VrrpStatus>>>,
) -> Result<FailoverHandle, String> {
    Err("--vrrp is only supported on Linux".into())
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn any_text_is_parsed_or_refused_without_panicking(spec in "\\PC{0,80}") {
            let _ = VrrpOptions::parse(&spec);
        }

        #[test]
        fn valid_specs_round_trip(
            vrid in 1u8..,
            priority in 1u8..255,
            a in any::<[u8; 4]>(),
            len in 0u8..=32,
            centis in 1u16..4096,
        ) {
            let vip = std::net::Ipv4Addr::from(a);
            let spec = format!(
                "interface=eth0,vrid={vrid},priority={priority},vip={vip}/{len},version=3,\
                 advert_int={}",
                f64::from(centis) / 100.0
            );
            let o = VrrpOptions::parse(&spec).unwrap();
            prop_assert_eq!((o.instance.vrid, o.instance.priority), (vrid, priority));
            prop_assert_eq!(o.instance.virtual_addresses[0].address, vip);
            prop_assert_eq!(o.instance.virtual_addresses[0].prefix_len, len);
            prop_assert_eq!(o.instance.advert_interval.0, centis);
        }
    }

    #[test]
    fn a_full_spec_and_the_defaults() {
        let o = VrrpOptions::parse(
            "interface=eth0,vrid=51,priority=150,vip=10.0.0.100/24,vip=10.0.0.101,version=3,\
             advert_int=0.5,nopreempt,preempt_delay=2,unicast_peer=10.0.0.2,check_interval=0.2,\
             fall=2,rise=3,weight=-20,name=cache,notify=/usr/local/bin/vrrp-notify,\
             notify_master=/usr/local/bin/became-master 51 eth0",
        )
        .unwrap();
        let notify = o.notify.as_ref().unwrap();
        assert_eq!(notify.instance, "cache");
        assert_eq!(
            notify.programs,
            vec![
                ("notify".to_owned(), "/usr/local/bin/vrrp-notify".to_owned()),
                ("notify_master".to_owned(), "/usr/local/bin/became-master 51 eth0".to_owned()),
            ]
        );
        let c = &o.instance;
        assert_eq!((c.interface.as_str(), c.vrid, c.priority), ("eth0", 51, 150));
        assert_eq!(c.virtual_addresses.len(), 2);
        assert_eq!(c.virtual_addresses[1].prefix_len, 32);
        assert_eq!((c.version, c.advert_interval.0, c.preempt), (VrrpVersion::V3, 50, false));
        assert_eq!(c.unicast_peers, vec![Ipv4Addr::new(10, 0, 0, 2)]);
        assert_eq!((o.health.fall, o.health.rise, o.health.weight), (2, 3, -20));
        assert_eq!(o.health.timeout, Duration::from_millis(200));

        let d = VrrpOptions::parse("interface=eth1,vrid=7,vip=192.168.1.1/24").unwrap();
        assert_eq!((d.instance.priority, d.instance.version), (100, VrrpVersion::V2));
        assert_eq!(d.instance.advert_interval.0, 100);
        assert!(d.instance.preempt);
        assert_eq!((d.health.fall, d.health.rise, d.health.weight), (1, 1, 0));
        assert!(d.notify.is_none());
        let named = VrrpOptions::parse("interface=eth1,vrid=7,vip=10.0.0.1,notify=/bin/true");
        assert_eq!(named.unwrap().notify.unwrap().instance, "VI_7", "keepalived-like default");
    }

    #[test]
    fn mistakes_are_named() {
        for (spec, needle) in [
            ("vrid=1,vip=10.0.0.1", "interface"),
            ("interface=e,vip=10.0.0.1", "vrid"),
            ("interface=e,vrid=1", "vip"),
            ("interface=e,vrid=0,vip=10.0.0.1", "invalid vrid"),
            ("interface=e,vrid=1,vip=10.0.0.1/33", "invalid vip"),
            ("interface=e,vrid=1,vip=10.0.0.1,version=4", "invalid version"),
            ("interface=e,vrid=1,vip=10.0.0.1,advert_int=0", "advert_int"),
            ("interface=e,vrid=1,vip=10.0.0.1,colour=red", "unknown"),
            ("interface=e,vrid=1,vip=10.0.0.1,nopreempt=yes", "unknown"),
        ] {
            let error = VrrpOptions::parse(spec).unwrap_err();
            assert!(error.contains(needle), "{spec}: {error}");
        }
    }
}
