//! VRRP failover for memcached: v2/v3 adverts, the instance state machine and the health
//! policy, interoperable with keepalived 2.2.7; sans-IO.
//!
//! Two servers share a virtual IP (VIP). The one with the higher priority is Master, holds
//! the VIP and multicasts an advert every interval; the other is Backup and takes the VIP
//! when the adverts stop (Master_Down_Interval) or when the master resigns with a priority-0
//! advert (after Skew_Time). A health check of the local memcached port puts a failing
//! server in FAULT (it resigns) or lowers its priority.
//!
//! ```text
//!   driver (memcached-server)                       this crate
//!   ────────────────────────                        ──────────
//!   raw socket, proto 112 ──bytes──► Ipv4Datagram::parse ─► ReceivedPacket::decode
//!                                        │ Advertisement
//!                                        ▼
//!   clock ──now──────────────────► VrrpInstance ◄── apply_health(TrackEffect) ◄── HealthTracker
//!                                        │                                     ▲ CheckOutcome
//!   ip addr add/del, GARP, send ◄─Action─┘ poll_action / poll_timeout          │
//!   memcached port check (connect, "version") ─────────────────────────────────┘
//!
//!   Instance states (shutdown leads from every state back to Initialize):
//!
//!                     ┌─────── start, priority 255 (owner) ───────┐
//!                     │                                           ▼
//!   ┌────────────┐ start  ┌────────┐  Master_Down timer  ┌────────┐
//!   │ Initialize │───────►│ Backup │────────────────────►│ Master │──► shutdown:
//!   └────────────┘        │        │◄────────────────────│        │    prio-0 advert,
//!                         └────────┘  higher-prio advert └────────┘    VIPs removed
//!               health fault │  ▲ health recovered            │
//!                            ▼  │                             │ health fault:
//!                         ┌────────┐◄─────────────────────────┘ prio-0 advert,
//!                         │ Fault  │                            VIPs removed
//!                         └────────┘
//! ```
//!
//! What the crate owns: the wire format ([`packet`]; gratuitous ARP frames in [`arp`]), the
//! instance configuration with keepalived's defaults ([`config`]), the RFC 3768/5798 state
//! machine and timers ([`instance`]) and the rise/fall/weight health policy ([`health`]).
//!
//! What the core (every module but `linux`) never does: open sockets, read the clock, spawn
//! threads or processes, or touch interfaces. Every method takes `now: Instant`; every effect
//! is an [`Action`] for the driver. The Linux-only [`linux`] module is such a driver (raw
//! socket, `ip addr`, packet socket GARPs, memcached `version` check), used by
//! `examples/vrrpd.rs` and the keepalived interop test; the server may reuse its pieces from
//! its own event loop.
//!
//! ```
//! use std::net::Ipv4Addr;
//! use std::time::Instant;
//! use memcached_failover::{Action, InstanceConfig, VirtualAddress, VrrpInstance, VrrpState};
//!
//! let vip = VirtualAddress { address: Ipv4Addr::new(10, 77, 0, 100), prefix_len: 24 };
//! let mut config = InstanceConfig::new("eth0", 77, vec![vip]);
//! config.priority = 150;
//! let mut instance = VrrpInstance::new(config, Ipv4Addr::new(10, 77, 0, 1)).unwrap();
//! let t0 = Instant::now();
//! instance.start(t0);
//! assert_eq!(instance.state(), VrrpState::Backup);
//! // Nobody else advertises: after Master_Down_Interval (3 s + (256-150)/256 s) we are Master.
//! instance.handle_timeout(instance.poll_timeout().unwrap());
//! assert_eq!(instance.state(), VrrpState::Master);
//! assert!(std::iter::from_fn(|| instance.poll_action()).any(|a| a == Action::AddVirtualAddresses));
//! ```
//!
//! Wiring it into a server (Linux): run a [`linux::VrrpDaemon`] on its own thread with the
//! memcached port as its health check, and set the stop flag on shutdown so the master
//! resigns (priority-0 advert) before the process exits:
//!
//! ```no_run
//! # #[cfg(target_os = "linux")]
//! # fn main() -> std::io::Result<()> {
//! use std::sync::atomic::{AtomicBool, Ordering};
//! use std::sync::Arc;
//! use memcached_failover::linux::{InterfaceAddresses, StderrLog, VrrpDaemon};
//! use memcached_failover::{HealthPolicy, InstanceConfig, VirtualAddress, VrrpInstance};
//!
//! let vip = VirtualAddress { address: "10.77.0.100".parse().unwrap(), prefix_len: 24 };
//! let mut config = InstanceConfig::new("eth0", 77, vec![vip]);
//! config.priority = 150;
//! let source = InterfaceAddresses::of("eth0")?
//!     .primary_ipv4(&config.virtual_addresses)
//!     .expect("eth0 has an IPv4 address");
//! let instance = VrrpInstance::new(config, source).expect("valid config");
//! let check = (HealthPolicy::default(), "127.0.0.1:11211".parse().unwrap());
//! let mut daemon = VrrpDaemon::new(instance, Some(check), false)?;
//! let stop = Arc::new(AtomicBool::new(false));
//! let flag = Arc::clone(&stop);
//! let thread = std::thread::spawn(move || {
//!     daemon.run(&flag, &mut StderrLog { prefix: "vrrp[VI_77]".into() })
//! });
//! // ... serve; on shutdown:
//! stop.store(true, Ordering::SeqCst);
//! thread.join().unwrap()?;
//! # Ok(())
//! # }
//! # #[cfg(not(target_os = "linux"))]
//! # fn main() {}
//! ```

pub mod arp;
pub mod config;
pub mod health;
pub mod instance;
#[cfg(target_os = "linux")]
pub mod linux;
pub mod packet;

pub use config::{ConfigError, GarpConfig, InstanceConfig, VirtualAddress, VirtualAddressError};
pub use health::{CheckOutcome, HealthPolicy, HealthStatus, HealthTracker, TrackEffect};
pub use instance::{
    Action, AdvertRejection, InstanceCounters, Transition, TransitionReason, VrrpInstance,
    VrrpState,
};
pub use packet::{
    Advertisement, Authentication, Centiseconds, EncodeError, Ipv4Datagram, PacketError,
    ReceivedPacket, VrrpVersion, VRRP_IP_PROTOCOL, VRRP_MULTICAST_GROUP, VRRP_TTL,
};
