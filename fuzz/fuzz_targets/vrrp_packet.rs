//! VRRP receive path: arbitrary bytes as a raw-socket datagram (IPv4 header + VRRP) and as a
//! bare VRRP message. Checks: no panic; every accepted advert re-encodes to bytes that decode
//! to the same advert; feeding it to a Backup and to a Master instance never panics.
#![no_main]

use std::net::Ipv4Addr;
use std::time::{Duration, Instant};

use libfuzzer_sys::fuzz_target;
use memcached_failover::{
    Advertisement, Authentication, Centiseconds, InstanceConfig, Ipv4Datagram, VirtualAddress,
    VrrpInstance, VrrpVersion, VRRP_MULTICAST_GROUP,
};

fn exercise(advert: &Advertisement, source: Ipv4Addr, destination: Ipv4Addr) {
    let bytes = advert.encode(source, destination).expect("a decoded advert re-encodes");
    let again = Advertisement::decode(&bytes, source, destination).expect("re-encoding decodes");
    assert_eq!(&again, advert);

    let vip =
        VirtualAddress::host(advert.addresses.first().copied().unwrap_or(Ipv4Addr::LOCALHOST));
    let mut config = InstanceConfig::new("fuzz0", advert.vrid, vec![vip]);
    config.version = advert.version;
    config.advert_interval = match advert.version {
        VrrpVersion::V2 => advert.interval,
        VrrpVersion::V3 => Centiseconds(100),
    };
    if let Authentication::SimpleText(pass) = advert.authentication {
        config.auth_pass = Some(pass.to_vec());
    }
    let now = Instant::now();
    let mut backup = VrrpInstance::new(config.clone(), Ipv4Addr::new(10, 0, 0, 2)).unwrap();
    backup.start(now);
    let _ = backup.handle_advertisement(now, source, advert);
    backup.handle_timeout(now + Duration::from_secs(300));
    while backup.poll_action().is_some() {}

    config.priority = 254;
    let mut master = VrrpInstance::new(config, Ipv4Addr::new(10, 0, 0, 2)).unwrap();
    master.start(now);
    master.handle_timeout(master.poll_timeout().unwrap());
    let _ = master.handle_advertisement(now, source, advert);
    while master.poll_action().is_some() {}
}

fuzz_target!(|data: &[u8]| {
    if let Ok((_, packet)) = Ipv4Datagram::parse(data) {
        if let Ok(advert) = packet.decode() {
            exercise(&advert, packet.source, packet.destination);
        }
    }
    let source = Ipv4Addr::new(10, 0, 0, 1);
    if let Ok(advert) = Advertisement::decode(data, source, VRRP_MULTICAST_GROUP) {
        exercise(&advert, source, VRRP_MULTICAST_GROUP);
    }
});
