//! Real keepalived 2.2.7 frames (captured in the lab, see /work/shared/reference/vrrp.md §6;
//! copied into tests/vectors/): every VRRP frame decodes to the fields tcpdump showed and
//! re-encodes byte for byte, checksums and IPv4 header included; the GARP frame is rebuilt.

use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};

use memcached_failover::arp::gratuitous_arp;
use memcached_failover::{
    Advertisement, Authentication, Centiseconds, Ipv4Datagram, VrrpVersion, VRRP_MULTICAST_GROUP,
};

/// The frames of a classic pcap file: 24-byte global header, then per record a 16-byte header
/// (ts_sec, ts_usec, incl_len, orig_len) and `incl_len` bytes. Both byte orders.
fn pcap_frames(path: &Path) -> Vec<Vec<u8>> {
    let bytes = std::fs::read(path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()));
    assert!(bytes.len() >= 24, "{}: no pcap global header", path.display());
    let little = match bytes[0..4] {
        [0xd4, 0xc3, 0xb2, 0xa1] => true,
        [0xa1, 0xb2, 0xc3, 0xd4] => false,
        _ => panic!("{}: not a pcap file", path.display()),
    };
    let u32_at = |at: usize| {
        let b = [bytes[at], bytes[at + 1], bytes[at + 2], bytes[at + 3]];
        if little {
            u32::from_le_bytes(b)
        } else {
            u32::from_be_bytes(b)
        }
    };
    assert_eq!(u32_at(20), 1, "{}: link type is not Ethernet", path.display());
    let mut frames = Vec::new();
    let mut at = 24;
    while at + 16 <= bytes.len() {
        let len = u32_at(at + 8) as usize;
        at += 16;
        assert!(at + len <= bytes.len(), "{}: truncated record", path.display());
        frames.push(bytes[at..at + len].to_vec());
        at += len;
    }
    frames
}

fn vectors_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/vectors")
}

struct Expected {
    file: &'static str,
    version: VrrpVersion,
    source: Ipv4Addr,
    priority: u8,
    interval: Centiseconds,
    ip_id: u16,
}

const MC1: Ipv4Addr = Ipv4Addr::new(10, 77, 0, 1);
const MC2: Ipv4Addr = Ipv4Addr::new(10, 77, 0, 2);
const VIP: Ipv4Addr = Ipv4Addr::new(10, 77, 0, 100);

const EXPECTED: &[Expected] = &[
    Expected {
        file: "v2_mc1_prio150_pass_adv1s.pcap",
        version: VrrpVersion::V2,
        source: MC1,
        priority: 150,
        interval: Centiseconds(100),
        ip_id: 3,
    },
    Expected {
        file: "v2_mc1_prio0_resign_pass.pcap",
        version: VrrpVersion::V2,
        source: MC1,
        priority: 0,
        interval: Centiseconds(100),
        ip_id: 5,
    },
    Expected {
        file: "v2_mc2_prio100_pass_adv1s.pcap",
        version: VrrpVersion::V2,
        source: MC2,
        priority: 100,
        interval: Centiseconds(100),
        ip_id: 1,
    },
    Expected {
        file: "v3_mc1_prio150_adv10cs.pcap",
        version: VrrpVersion::V3,
        source: MC1,
        priority: 150,
        interval: Centiseconds(10),
        ip_id: 13,
    },
    Expected {
        file: "v3_mc1_prio0_resign_adv10cs.pcap",
        version: VrrpVersion::V3,
        source: MC1,
        priority: 0,
        interval: Centiseconds(10),
        ip_id: 38,
    },
    Expected {
        file: "v3_mc2_prio100_adv10cs.pcap",
        version: VrrpVersion::V3,
        source: MC2,
        priority: 100,
        interval: Centiseconds(10),
        ip_id: 1,
    },
    Expected {
        file: "v3_mc1_prio150_adv1cs.pcap",
        version: VrrpVersion::V3,
        source: MC1,
        priority: 150,
        interval: Centiseconds(1),
        ip_id: 130,
    },
];

#[test]
fn every_keepalived_advert_decodes_and_reencodes_byte_for_byte() {
    let dir = vectors_dir();
    for expected in EXPECTED {
        let frames = pcap_frames(&dir.join(expected.file));
        assert_eq!(frames.len(), 1, "{}", expected.file);
        let frame = &frames[0];
        assert_eq!(&frame[12..14], &[0x08, 0x00], "{}: not IPv4", expected.file);
        let datagram = &frame[14..];

        let (header, packet) = Ipv4Datagram::parse(datagram)
            .unwrap_or_else(|e| panic!("{}: ip header: {e}", expected.file));
        assert_eq!(header.source, expected.source, "{}", expected.file);
        assert_eq!(header.destination, VRRP_MULTICAST_GROUP);
        assert_eq!((header.ttl, header.tos, header.identification), (255, 0xc0, expected.ip_id));

        let advert = packet.decode().unwrap_or_else(|e| panic!("{}: {e}", expected.file));
        assert_eq!(advert.version, expected.version, "{}", expected.file);
        assert_eq!(advert.vrid, 77);
        assert_eq!(advert.priority, expected.priority, "{}", expected.file);
        assert_eq!(advert.interval, expected.interval, "{}", expected.file);
        assert_eq!(advert.addresses, vec![VIP]);
        let auth = match expected.version {
            VrrpVersion::V2 => Authentication::simple_text(b"memc1234"),
            VrrpVersion::V3 => Authentication::None,
        };
        assert_eq!(advert.authentication, auth, "{}", expected.file);

        let encoded = advert.encode(header.source, header.destination).unwrap();
        assert_eq!(encoded, packet.payload, "{}: vrrp bytes differ", expected.file);
        let ip = header.encode_header(encoded.len());
        assert_eq!(&ip[..], &datagram[..20], "{}: ip header differs", expected.file);
    }
}

#[test]
fn v3_vectors_fail_with_a_wrong_pseudo_header() {
    for expected in EXPECTED.iter().filter(|e| e.version == VrrpVersion::V3) {
        let frame = &pcap_frames(&vectors_dir().join(expected.file))[0];
        let payload = &frame[34..];
        let wrong_source = Ipv4Addr::new(10, 77, 0, 9);
        assert!(
            Advertisement::decode(payload, wrong_source, VRRP_MULTICAST_GROUP).is_err(),
            "{}",
            expected.file
        );
    }
}

#[test]
fn keepalived_garp_frame_is_rebuilt_exactly() {
    let frame = &pcap_frames(&vectors_dir().join("garp_mc2_takeover_vip.pcap"))[0];
    let mac = [0x6a, 0x05, 0x73, 0x7d, 0xbf, 0x83];
    assert_eq!(&gratuitous_arp(mac, VIP)[..], &frame[..]);
}
