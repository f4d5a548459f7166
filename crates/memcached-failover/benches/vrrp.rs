//! Cost of the VRRP receive and send paths (ns per advert): IPv4 parse + VRRP decode with
//! checksum, encode, and one advert through the instance state machine.

use std::hint::black_box;
use std::net::Ipv4Addr;
use std::time::Instant;

use criterion::{criterion_group, criterion_main, Criterion};
use memcached_failover::{
    Centiseconds, InstanceConfig, Ipv4Datagram, VirtualAddress, VrrpInstance, VrrpVersion,
    VRRP_MULTICAST_GROUP,
};

const SOURCE: Ipv4Addr = Ipv4Addr::new(10, 77, 0, 1);

fn instance(version: VrrpVersion) -> VrrpInstance {
    let vip = VirtualAddress::host(Ipv4Addr::new(10, 77, 0, 100));
    let mut config = InstanceConfig::new("eth0", 77, vec![vip]);
    config.version = version;
    if version == VrrpVersion::V2 {
        config.auth_pass = Some(b"memc1234".to_vec());
    } else {
        config.advert_interval = Centiseconds(10);
    }
    VrrpInstance::new(config, Ipv4Addr::new(10, 77, 0, 2)).unwrap()
}

fn datagram(instance: &VrrpInstance) -> Vec<u8> {
    let advert = instance.advertisement(150);
    let payload = advert.encode(SOURCE, VRRP_MULTICAST_GROUP).unwrap();
    let header = Ipv4Datagram {
        tos: 0xc0,
        identification: 1,
        ttl: 255,
        source: SOURCE,
        destination: VRRP_MULTICAST_GROUP,
    };
    let mut bytes = header.encode_header(payload.len()).to_vec();
    bytes.extend_from_slice(&payload);
    bytes
}

fn vrrp(c: &mut Criterion) {
    let mut group = c.benchmark_group("vrrp");
    for (name, version) in [("v2", VrrpVersion::V2), ("v3", VrrpVersion::V3)] {
        let backup = instance(version);
        let bytes = datagram(&backup);
        group.bench_function(format!("{name}_parse_decode"), |b| {
            b.iter(|| {
                let (_, packet) = Ipv4Datagram::parse(black_box(&bytes)).unwrap();
                packet.decode().unwrap()
            })
        });
        let advert = backup.advertisement(150);
        let mut out = [0u8; 64];
        group.bench_function(format!("{name}_encode"), |b| {
            b.iter(|| {
                black_box(&advert).encode_into(SOURCE, VRRP_MULTICAST_GROUP, &mut out).unwrap()
            })
        });
        let mut running = instance(version);
        let t0 = Instant::now();
        running.start(t0);
        while running.poll_action().is_some() {}
        group.bench_function(format!("{name}_backup_handle_advertisement"), |b| {
            b.iter(|| {
                running.handle_advertisement(t0, SOURCE, black_box(&advert)).unwrap();
                running.poll_timeout()
            })
        });
    }
    group.finish();
}

criterion_group!(benches, vrrp);
criterion_main!(benches);
