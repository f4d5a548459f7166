//! Properties of the VRRP codec: encode → decode is the identity for every valid advert, and
//! no byte string makes a decoder panic.

use std::net::Ipv4Addr;

use memcached_failover::{
    Advertisement, Authentication, Centiseconds, Ipv4Datagram, PacketError, ReceivedPacket,
    VrrpVersion, VRRP_MULTICAST_GROUP,
};
use proptest::prelude::*;

fn address() -> impl Strategy<Value = Ipv4Addr> {
    any::<u32>().prop_map(Ipv4Addr::from)
}

fn advertisement() -> impl Strategy<Value = Advertisement> {
    let v2 = (1u16..=255, prop::option::of(any::<[u8; 8]>())).prop_map(|(secs, pass)| {
        (
            VrrpVersion::V2,
            Centiseconds(secs * 100),
            pass.map_or(Authentication::None, Authentication::SimpleText),
        )
    });
    let v3 = (1u16..=4095).prop_map(|cs| (VrrpVersion::V3, Centiseconds(cs), Authentication::None));
    (prop_oneof![v2, v3], 1u8..=255, any::<u8>(), prop::collection::vec(address(), 0..=20))
        .prop_map(|((version, interval, authentication), vrid, priority, addresses)| {
            Advertisement { version, vrid, priority, interval, authentication, addresses }
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn encode_then_decode_is_identity(advert in advertisement(), source in address()) {
        let bytes = advert.encode(source, VRRP_MULTICAST_GROUP).unwrap();
        prop_assert_eq!(bytes.len(), advert.encoded_len());
        let packet = ReceivedPacket {
            source,
            destination: VRRP_MULTICAST_GROUP,
            ttl: 255,
            payload: &bytes,
        };
        prop_assert_eq!(packet.decode().unwrap(), advert);
    }

    #[test]
    fn a_flipped_bit_is_never_silently_accepted_as_the_same_advert(
        advert in advertisement(),
        source in address(),
        bit in any::<prop::sample::Index>(),
    ) {
        let mut bytes = advert.encode(source, VRRP_MULTICAST_GROUP).unwrap();
        let bit = bit.index(bytes.len() * 8);
        bytes[bit / 8] ^= 1 << (bit % 8);
        // A flipped bit changes the decoded advert or is rejected (checksum, length, ...);
        // only the v3 reserved nibble is ignored on receive, and the ignored auth data of
        // auth type 0 has no effect.
        if let Ok(decoded) = Advertisement::decode(&bytes, source, VRRP_MULTICAST_GROUP) {
            let reserved_v3 = advert.version == VrrpVersion::V3 && bit / 8 == 4 && bit % 8 >= 4;
            prop_assert!(decoded != advert || reserved_v3, "bit {} ignored", bit);
        }
    }

    #[test]
    fn arbitrary_bytes_never_panic(
        bytes in prop::collection::vec(any::<u8>(), 0..64),
        source in address(),
        ttl in any::<u8>(),
    ) {
        let _ = ReceivedPacket { source, destination: VRRP_MULTICAST_GROUP, ttl, payload: &bytes }
            .decode();
        if let Ok((_, packet)) = Ipv4Datagram::parse(&bytes) {
            let _ = packet.decode();
        }
    }

    #[test]
    fn header_shaped_garbage_never_panics(
        version in 0u8..16,
        kind in 0u8..16,
        rest in prop::collection::vec(any::<u8>(), 0..48),
    ) {
        let mut bytes = vec![(version << 4) | kind];
        bytes.extend_from_slice(&rest);
        match Advertisement::decode(&bytes, Ipv4Addr::LOCALHOST, VRRP_MULTICAST_GROUP) {
            Ok(advert) => prop_assert_eq!(bytes.len(), advert.encoded_len()),
            Err(PacketError::Truncated { len }) => prop_assert!(len < 8),
            Err(_) => {}
        }
    }
}
