//! The configuration of one VRRP instance, with keepalived 2.2.7's defaults.
//!
//! ```text
//! keepalived.conf                       InstanceConfig
//! vrrp_instance MC {                    name: "MC"
//!   interface eth0                      interface: "eth0"
//!   virtual_router_id 77                vrid: 77
//!   priority 150                        priority: 150            (default 100)
//!   advert_int 1                        advert_interval: 100 cs  (default 1 s)
//!   version 3                           version: V3              (default V2)
//!   authentication { auth_pass x }      auth_pass: Some("x")     (v2 only, max 8 bytes)
//!   virtual_ipaddress { 10.0.0.9/24 }   virtual_addresses
//!   nopreempt                           preempt: false           (default true)
//!   preempt_delay 30                    preempt_delay: 30 s      (default 0)
//!   garp_master_delay 5 ...             garp: GarpConfig         (keepalived defaults)
//!   unicast_peer { 10.0.0.2 }           unicast_peers            (default: multicast)
//! }
//! ```

use std::net::Ipv4Addr;
use std::time::Duration;

use crate::packet::{Authentication, Centiseconds, VrrpVersion, AUTH_DATA_LEN, MAX_V3_INTERVAL_CS};

/// A virtual address and the prefix length it is added with (`ip addr add A/len`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct VirtualAddress {
    /// The address moved between routers.
    pub address: Ipv4Addr,
    /// Prefix length used when adding it to the interface (keepalived default 32).
    pub prefix_len: u8,
}

impl VirtualAddress {
    /// A /32 virtual address (keepalived's default when no prefix is written).
    pub fn host(address: Ipv4Addr) -> VirtualAddress {
        VirtualAddress { address, prefix_len: 32 }
    }
}

/// `addr` or `addr/len` (keepalived's `virtual_ipaddress` form) could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("not a virtual address (addr or addr/len): {0:?}")]
pub struct VirtualAddressError(pub String);

impl std::str::FromStr for VirtualAddress {
    type Err = VirtualAddressError;

    /// `10.0.0.100` (a /32) or `10.0.0.100/24`.
    fn from_str(text: &str) -> Result<VirtualAddress, VirtualAddressError> {
        let bad = || VirtualAddressError(text.to_owned());
        let (address, prefix_len) = match text.split_once('/') {
            Some((a, p)) => (a, p.parse::<u8>().ok().filter(|&p| p <= 32).ok_or_else(bad)?),
            None => (text, 32),
        };
        Ok(VirtualAddress { address: address.parse().map_err(|_| bad())?, prefix_len })
    }
}

impl std::fmt::Display for VirtualAddress {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.address, self.prefix_len)
    }
}

/// Gratuitous ARP policy (keepalived's `garp_*` keywords and defaults).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GarpConfig {
    /// Delay of the second burst after becoming master (`garp_master_delay`, default 5 s;
    /// zero disables the second burst).
    pub master_delay: Duration,
    /// GARPs per VIP in each burst (`garp_master_repeat`, default 5).
    pub master_repeat: u32,
    /// Periodic refresh while master (`garp_master_refresh`, default none).
    pub master_refresh: Option<Duration>,
    /// GARPs per VIP in each refresh (`garp_master_refresh_repeat`, default 1).
    pub master_refresh_repeat: u32,
    /// GARPs per VIP sent when, as master, a lower-priority advert arrives (two masters were
    /// active; the last GARP a client saw may have been the other's). keepalived's man page
    /// gives `garp_master_repeat` (5) as the default; 0 disables.
    pub lower_prio_repeat: u32,
    /// Pause between GARP frames (`garp_interval`, default 0).
    pub interval: Duration,
}

impl Default for GarpConfig {
    fn default() -> Self {
        GarpConfig {
            master_delay: Duration::from_secs(5),
            master_repeat: 5,
            master_refresh: None,
            master_refresh_repeat: 1,
            lower_prio_repeat: 5,
            interval: Duration::ZERO,
        }
    }
}

/// One VRRP instance (keepalived `vrrp_instance`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InstanceConfig {
    /// Instance name, for logs.
    pub name: String,
    /// Interface the adverts are sent on and the VIPs are added to.
    pub interface: String,
    /// Virtual router id, 1..=255 (`virtual_router_id`).
    pub vrid: u8,
    /// Configured priority, 1..=255; 255 = address owner (`priority`, default 100).
    pub priority: u8,
    /// Advertisement interval (`advert_int`, default 1 s); v2 needs whole seconds 1..=255,
    /// v3 allows 1..=4095 centiseconds.
    pub advert_interval: Centiseconds,
    /// Protocol version (`version`, default 2).
    pub version: VrrpVersion,
    /// v2 simple-text password (`auth_type PASS` + `auth_pass`), truncated to 8 bytes.
    pub auth_pass: Option<Vec<u8>>,
    /// The virtual addresses; every one must appear in the peer's adverts.
    pub virtual_addresses: Vec<VirtualAddress>,
    /// Preempt_Mode (default true; keepalived `nopreempt` = false). Ignored for the owner.
    pub preempt: bool,
    /// Wait this long after first seeing a lower-priority master before preempting it
    /// (`preempt_delay`, default 0).
    pub preempt_delay: Duration,
    /// How many advert intervals make the master-down interval (`down_timer_adverts`,
    /// default 3 as in the RFCs).
    pub down_timer_adverts: u32,
    /// Gratuitous ARP settings.
    pub garp: GarpConfig,
    /// keepalived `unicast_peer { ... }`: send adverts to these addresses instead of
    /// 224.0.0.18 (networks without multicast). Empty (default) = multicast. Both routers
    /// must use the same mode: keepalived drops adverts of the other mode.
    pub unicast_peers: Vec<Ipv4Addr>,
}

/// A configuration the instance cannot run with.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    /// VRID outside 1..=255.
    #[error("virtual_router_id must be 1..255")]
    InvalidVrid,
    /// Priority 0 is reserved for the resignation advert.
    #[error("priority must be 1..255")]
    InvalidPriority,
    /// Interval not representable in the configured version.
    #[error("advert interval {0} cs is not valid for this version (v2: whole seconds 1..255, v3: 1..4095 cs)")]
    InvalidAdvertInterval(u16),
    /// v3 has no authentication.
    #[error("authentication is not allowed with vrrp version 3")]
    AuthenticationWithV3,
    /// No virtual address, or more than 255.
    #[error("between 1 and 255 virtual addresses are needed, {0} given")]
    VirtualAddressCount(usize),
    /// The same VIP twice.
    #[error("virtual address {0} listed twice")]
    DuplicateVirtualAddress(Ipv4Addr),
    /// Prefix length above 32.
    #[error("prefix length {0} is above 32")]
    InvalidPrefixLength(u8),
    /// A unicast peer that is not a unicast address.
    #[error("unicast peer {0} is not a unicast address")]
    InvalidUnicastPeer(Ipv4Addr),
    /// `down_timer_adverts` outside 1..=100.
    #[error("down_timer_adverts must be 1..100")]
    InvalidDownTimerAdverts,
}

impl InstanceConfig {
    /// A configuration with keepalived's defaults for everything but the essentials.
    pub fn new(
        interface: impl Into<String>,
        vrid: u8,
        virtual_addresses: Vec<VirtualAddress>,
    ) -> InstanceConfig {
        InstanceConfig {
            name: format!("VI_{vrid}"),
            interface: interface.into(),
            vrid,
            priority: 100,
            advert_interval: Centiseconds::ONE_SECOND,
            version: VrrpVersion::V2,
            auth_pass: None,
            virtual_addresses,
            preempt: true,
            preempt_delay: Duration::ZERO,
            down_timer_adverts: 3,
            garp: GarpConfig::default(),
            unicast_peers: Vec::new(),
        }
    }

    /// Checks every field; [`crate::VrrpInstance::new`] calls it.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.vrid == 0 {
            return Err(ConfigError::InvalidVrid);
        }
        if self.priority == 0 {
            return Err(ConfigError::InvalidPriority);
        }
        let cs = self.advert_interval.0;
        let interval_ok = match self.version {
            VrrpVersion::V2 => cs != 0 && cs % 100 == 0 && cs / 100 <= 255,
            VrrpVersion::V3 => cs != 0 && cs <= MAX_V3_INTERVAL_CS,
        };
        if !interval_ok {
            return Err(ConfigError::InvalidAdvertInterval(cs));
        }
        if self.version == VrrpVersion::V3 && self.auth_pass.is_some() {
            return Err(ConfigError::AuthenticationWithV3);
        }
        let count = self.virtual_addresses.len();
        if count == 0 || count > 255 {
            return Err(ConfigError::VirtualAddressCount(count));
        }
        for (i, vip) in self.virtual_addresses.iter().enumerate() {
            if vip.prefix_len > 32 {
                return Err(ConfigError::InvalidPrefixLength(vip.prefix_len));
            }
            if self.virtual_addresses[..i].iter().any(|other| other.address == vip.address) {
                return Err(ConfigError::DuplicateVirtualAddress(vip.address));
            }
        }
        if let Some(peer) = self
            .unicast_peers
            .iter()
            .find(|p| p.is_multicast() || p.is_broadcast() || p.is_unspecified())
        {
            return Err(ConfigError::InvalidUnicastPeer(*peer));
        }
        if !(1..=100).contains(&self.down_timer_adverts) {
            return Err(ConfigError::InvalidDownTimerAdverts);
        }
        Ok(())
    }

    /// The authentication this instance sends and requires.
    pub fn authentication(&self) -> Authentication {
        match &self.auth_pass {
            Some(pass) => Authentication::simple_text(&pass[..pass.len().min(AUTH_DATA_LEN)]),
            None => Authentication::None,
        }
    }

    /// Where adverts go: 224.0.0.18, or each unicast peer.
    pub fn advert_destinations(&self) -> Vec<Ipv4Addr> {
        if self.unicast_peers.is_empty() {
            vec![crate::packet::VRRP_MULTICAST_GROUP]
        } else {
            self.unicast_peers.clone()
        }
    }

    /// True for the address owner (priority 255).
    pub fn is_owner(&self) -> bool {
        self.priority == 255
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn virtual_addresses_parse_as_keepalived_writes_them() {
        let v: VirtualAddress = "10.0.0.100/24".parse().unwrap();
        assert_eq!((v.address, v.prefix_len), (Ipv4Addr::new(10, 0, 0, 100), 24));
        assert_eq!(
            "10.0.0.1".parse::<VirtualAddress>().unwrap(),
            VirtualAddress::host(Ipv4Addr::new(10, 0, 0, 1))
        );
        assert_eq!(v.to_string().parse::<VirtualAddress>().unwrap(), v);
        for bad in ["", "10.0.0.1/33", "10.0.0/24", "x/1", "10.0.0.1/"] {
            assert!(bad.parse::<VirtualAddress>().is_err(), "{bad:?}");
        }
    }

    fn vip() -> Vec<VirtualAddress> {
        vec![VirtualAddress::host(Ipv4Addr::new(10, 77, 0, 100))]
    }

    #[test]
    fn defaults_are_keepalived_defaults() {
        let config = InstanceConfig::new("eth0", 77, vip());
        assert_eq!(config.priority, 100);
        assert_eq!(config.advert_interval, Centiseconds(100));
        assert_eq!(config.version, VrrpVersion::V2);
        assert!(config.preempt);
        assert_eq!(config.down_timer_adverts, 3);
        assert_eq!(config.garp.master_delay, Duration::from_secs(5));
        assert_eq!(config.garp.master_repeat, 5);
        assert_eq!(config.validate(), Ok(()));
    }

    #[test]
    fn rejects_invalid_fields() {
        let mut config = InstanceConfig::new("eth0", 0, vip());
        assert_eq!(config.validate(), Err(ConfigError::InvalidVrid));
        config.vrid = 1;
        config.advert_interval = Centiseconds(10);
        assert_eq!(config.validate(), Err(ConfigError::InvalidAdvertInterval(10)));
        config.version = VrrpVersion::V3;
        assert_eq!(config.validate(), Ok(()));
        config.auth_pass = Some(b"secret".to_vec());
        assert_eq!(config.validate(), Err(ConfigError::AuthenticationWithV3));
        config.auth_pass = None;
        config.virtual_addresses.push(config.virtual_addresses[0]);
        assert!(matches!(config.validate(), Err(ConfigError::DuplicateVirtualAddress(_))));
        config.virtual_addresses.clear();
        assert_eq!(config.validate(), Err(ConfigError::VirtualAddressCount(0)));
        config.virtual_addresses = vip();
        config.unicast_peers = vec![Ipv4Addr::new(224, 0, 0, 18)];
        assert!(matches!(config.validate(), Err(ConfigError::InvalidUnicastPeer(_))));
    }

    #[test]
    fn password_is_truncated_to_eight_bytes() {
        let mut config = InstanceConfig::new("eth0", 1, vip());
        config.auth_pass = Some(b"memc1234-and-more".to_vec());
        assert_eq!(config.authentication(), Authentication::SimpleText(*b"memc1234"));
    }
}
