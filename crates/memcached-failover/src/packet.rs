//! VRRP advertisements on the wire: VRRPv2 (RFC 3768) and VRRPv3 over IPv4 (RFC 5798).
//!
//! ```text
//!  VRRPv2 (RFC 3768 §5.1)                      VRRPv3 (RFC 5798 §5.1), IPv4 only
//!  0       4       8              16             24            31
//! +-------+-------+---------------+---------------+---------------+
//! |Version| Type  | Virtual Rtr ID|   Priority    | Count IP Addrs|
//! +-------+-------+---------------+---------------+---------------+
//! v2: | Auth Type | Adver Int (s) |           Checksum            |
//! v3: | rsvd  |  Max Adver Int (centiseconds) |   Checksum        |
//! +---------------------------------------------------------------+
//! |                 IPv4 Address (1) .. (Count)                   |
//! +---------------------------------------------------------------+
//! v2 only: | Authentication Data (8 bytes; PASS: password, NUL padded)
//! +---------------------------------------------------------------+
//!
//!  v2 length = 16 + 4·count     v3 length = 8 + 4·count   (exact: keepalived drops padding)
//!  v2 checksum: over the VRRP message only
//!  v3 checksum: IPv4 pseudo-header  src ‖ dst ‖ 0 ‖ 112 ‖ len  + the VRRP message
//! ```
//!
//! The split of validation between layers:
//!
//! * [`Ipv4Datagram::parse`] checks what only the IP header shows: IPv4, protocol 112,
//!   total length equal to the bytes received, and returns a [`ReceivedPacket`].
//! * [`ReceivedPacket::decode`] checks TTL 255 (RFC 3768 §7.1, RFC 5798 §7.1) and everything in
//!   the VRRP message itself: version, type, VRID, count against the exact length, auth type,
//!   interval and checksum.
//! * What depends on the local configuration (configured version, VRID, password, v2 interval,
//!   VIP list, owner) is checked by [`crate::VrrpInstance::handle_advertisement`].
//!
//! Decoding never panics, whatever the bytes.

use std::net::Ipv4Addr;

/// IP protocol number of VRRP (RFC 3768 §5.2.4, RFC 5798 §5.1.1.4).
pub const VRRP_IP_PROTOCOL: u8 = 112;
/// The IPv4 multicast group adverts are sent to (RFC 3768 §5.2.2): link-local, never forwarded.
pub const VRRP_MULTICAST_GROUP: Ipv4Addr = Ipv4Addr::new(224, 0, 0, 18);
/// Adverts are sent with TTL 255 and a receiver discards any other TTL (RFC 3768 §7.1).
pub const VRRP_TTL: u8 = 255;
/// The IP TOS byte keepalived sends (DSCP CS6, network control); not an RFC requirement.
pub const VRRP_TOS: u8 = 0xc0;
/// The only VRRP packet type (RFC 3768 §5.3.2).
pub const ADVERTISEMENT_TYPE: u8 = 1;
/// Size of the v2 authentication data field (RFC 3768 §5.3.10), present whatever the auth type.
pub const AUTH_DATA_LEN: usize = 8;
/// Largest VRRP message: v2 with 255 addresses.
pub const MAX_VRRP_MESSAGE_LEN: usize = 16 + 4 * 255;
/// Largest v3 Max Adver Int: the field is 12 bits of centiseconds.
pub const MAX_V3_INTERVAL_CS: u16 = 0x0fff;

/// VRRP protocol version.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum VrrpVersion {
    /// RFC 3768: interval in whole seconds, optional simple-text password, no pseudo-header.
    V2,
    /// RFC 5798: interval in centiseconds, no authentication, IPv4 pseudo-header checksum.
    V3,
}

impl VrrpVersion {
    /// The 4-bit version number on the wire.
    pub fn number(self) -> u8 {
        match self {
            VrrpVersion::V2 => 2,
            VrrpVersion::V3 => 3,
        }
    }
}

/// An advertisement interval in centiseconds (v3's unit; v2 seconds are `100 ·` this).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Centiseconds(pub u16);

impl Centiseconds {
    /// One second, the default advert interval for both versions.
    pub const ONE_SECOND: Centiseconds = Centiseconds(100);

    /// The interval as microseconds.
    pub fn as_micros(self) -> u64 {
        u64::from(self.0) * 10_000
    }

    /// The interval as a [`std::time::Duration`].
    pub fn as_duration(self) -> std::time::Duration {
        std::time::Duration::from_micros(self.as_micros())
    }
}

/// VRRPv2 authentication (RFC 2338 §5.3.6, kept by keepalived; RFC 3768 only keeps type 0).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Authentication {
    /// Auth type 0: the 8 data bytes are sent as zero and ignored on receive.
    None,
    /// Auth type 1 (keepalived `auth_type PASS`): the password in clear, NUL padded to 8 bytes.
    SimpleText([u8; AUTH_DATA_LEN]),
}

impl Authentication {
    /// The auth type number on the wire.
    pub fn type_number(&self) -> u8 {
        match self {
            Authentication::None => 0,
            Authentication::SimpleText(_) => 1,
        }
    }

    /// A simple-text password as keepalived stores it: truncated to 8 bytes, NUL padded.
    pub fn simple_text(password: &[u8]) -> Authentication {
        let mut data = [0u8; AUTH_DATA_LEN];
        let len = password.len().min(AUTH_DATA_LEN);
        data[..len].copy_from_slice(&password[..len]);
        Authentication::SimpleText(data)
    }
}

/// One VRRP advertisement, decoded.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Advertisement {
    /// Protocol version.
    pub version: VrrpVersion,
    /// Virtual router id, 1..=255.
    pub vrid: u8,
    /// 255 = address owner, 1..=254 backups, 0 = the master is resigning.
    pub priority: u8,
    /// v2: Adver Int (whole seconds on the wire); v3: Max Adver Int (12 bits).
    pub interval: Centiseconds,
    /// v2 authentication; always [`Authentication::None`] for v3.
    pub authentication: Authentication,
    /// The virtual addresses, in packet order.
    pub addresses: Vec<Ipv4Addr>,
}

/// Why bytes are not a valid VRRP advertisement.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PacketError {
    /// Fewer than the 8 fixed header bytes.
    #[error("vrrp packet too short: {len} bytes")]
    Truncated {
        /// Bytes received.
        len: usize,
    },
    /// The version nibble is neither 2 nor 3.
    #[error("unsupported vrrp version {0}")]
    UnsupportedVersion(u8),
    /// The type nibble is not 1 (ADVERTISEMENT); RFC 3768 §5.3.2 says discard.
    #[error("unknown vrrp packet type {0}")]
    UnknownType(u8),
    /// VRID 0 is not a valid virtual router id.
    #[error("invalid virtual router id 0")]
    InvalidVrid,
    /// The message is not exactly as long as its address count says (keepalived: "vrrp packet
    /// too long"/"too short").
    #[error("vrrp length {actual} does not match {count} addresses (expected {expected})")]
    LengthMismatch {
        /// Count IP Addrs field.
        count: u8,
        /// Length implied by the count.
        expected: usize,
        /// Bytes present.
        actual: usize,
    },
    /// v2 auth type other than 0 (none) or 1 (PASS); 2 (IP AH) is not supported.
    #[error("unsupported vrrp authentication type {0}")]
    UnsupportedAuthType(u8),
    /// An advert interval of 0 would make the master-down timer fire at once.
    #[error("advertisement interval 0")]
    ZeroInterval,
    /// The checksum does not verify.
    #[error("bad vrrp checksum {found:#06x} (expected {expected:#06x})")]
    BadChecksum {
        /// Checksum in the packet.
        found: u16,
        /// Checksum computed over the received bytes (RFC 5798 pseudo-header form for v3).
        expected: u16,
    },
    /// TTL other than 255: the packet may have been forwarded from another link.
    #[error("ip ttl {0} is not 255")]
    BadTtl(u8),
    /// The IP datagram is not IPv4 or its header is shorter than its IHL says.
    #[error("malformed ipv4 header")]
    MalformedIpv4Header,
    /// The IP protocol is not 112.
    #[error("ip protocol {0} is not vrrp (112)")]
    NotVrrp(u8),
    /// IP total length differs from the bytes received.
    #[error("ip total length {header} differs from {received} bytes received")]
    IpLengthMismatch {
        /// Total Length field.
        header: usize,
        /// Bytes received.
        received: usize,
    },
}

/// Why an [`Advertisement`] cannot be encoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EncodeError {
    /// VRID 0.
    #[error("invalid virtual router id 0")]
    InvalidVrid,
    /// More than 255 addresses.
    #[error("{0} addresses do not fit the 8-bit count")]
    TooManyAddresses(usize),
    /// v2: not a whole number of seconds in 1..=255; v3: not in 1..=4095 centiseconds.
    #[error("advertisement interval {0} cs is not representable in this vrrp version")]
    IntervalOutOfRange(u16),
    /// v3 has no authentication (RFC 5798 §9).
    #[error("vrrp v3 has no authentication")]
    AuthenticationInV3,
    /// The output buffer is too small.
    #[error("buffer of {available} bytes, {needed} needed")]
    BufferTooSmall {
        /// Bytes needed.
        needed: usize,
        /// Bytes available.
        available: usize,
    },
}

/// A VRRP message together with what the IP header said about it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReceivedPacket<'a> {
    /// IP source: the sender's primary address (used for tie breaks and the v3 checksum).
    pub source: Ipv4Addr,
    /// IP destination: 224.0.0.18 (or a unicast peer address); part of the v3 pseudo-header.
    pub destination: Ipv4Addr,
    /// IP TTL (must be 255).
    pub ttl: u8,
    /// The VRRP message (IP payload).
    pub payload: &'a [u8],
}

impl ReceivedPacket<'_> {
    /// Validates TTL and the VRRP message and decodes it.
    pub fn decode(&self) -> Result<Advertisement, PacketError> {
        if self.ttl != VRRP_TTL {
            return Err(PacketError::BadTtl(self.ttl));
        }
        Advertisement::decode(self.payload, self.source, self.destination)
    }
}

/// The IPv4 header fields a VRRP sender or receiver cares about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ipv4Datagram {
    /// Type of service byte (keepalived: 0xc0).
    pub tos: u8,
    /// Identification.
    pub identification: u16,
    /// Time to live.
    pub ttl: u8,
    /// Source address.
    pub source: Ipv4Addr,
    /// Destination address.
    pub destination: Ipv4Addr,
}

/// Length of an IPv4 header without options.
pub const IPV4_HEADER_LEN: usize = 20;

impl Ipv4Datagram {
    /// Parses an IPv4 datagram carrying VRRP (as a raw socket delivers it): checks the version,
    /// IHL, protocol 112 and that Total Length equals the bytes received (keepalived check 9).
    pub fn parse(datagram: &[u8]) -> Result<(Ipv4Datagram, ReceivedPacket<'_>), PacketError> {
        if datagram.len() < IPV4_HEADER_LEN || datagram[0] >> 4 != 4 {
            return Err(PacketError::MalformedIpv4Header);
        }
        let header_len = usize::from(datagram[0] & 0x0f) * 4;
        if header_len < IPV4_HEADER_LEN || header_len > datagram.len() {
            return Err(PacketError::MalformedIpv4Header);
        }
        let total = usize::from(u16::from_be_bytes([datagram[2], datagram[3]]));
        if total != datagram.len() {
            return Err(PacketError::IpLengthMismatch { header: total, received: datagram.len() });
        }
        if datagram[9] != VRRP_IP_PROTOCOL {
            return Err(PacketError::NotVrrp(datagram[9]));
        }
        let header = Ipv4Datagram {
            tos: datagram[1],
            identification: u16::from_be_bytes([datagram[4], datagram[5]]),
            ttl: datagram[8],
            source: Ipv4Addr::new(datagram[12], datagram[13], datagram[14], datagram[15]),
            destination: Ipv4Addr::new(datagram[16], datagram[17], datagram[18], datagram[19]),
        };
        let packet = ReceivedPacket {
            source: header.source,
            destination: header.destination,
            ttl: header.ttl,
            payload: &datagram[header_len..],
        };
        Ok((header, packet))
    }

    /// Writes a 20-byte IPv4 header (no options, DF clear, protocol 112, header checksum filled)
    /// for a VRRP message of `payload_len` bytes, as keepalived does with `IP_HDRINCL`.
    pub fn encode_header(&self, payload_len: usize) -> [u8; IPV4_HEADER_LEN] {
        let total = (IPV4_HEADER_LEN + payload_len).min(usize::from(u16::MAX)) as u16;
        let mut h = [0u8; IPV4_HEADER_LEN];
        h[0] = 0x45;
        h[1] = self.tos;
        h[2..4].copy_from_slice(&total.to_be_bytes());
        h[4..6].copy_from_slice(&self.identification.to_be_bytes());
        h[8] = self.ttl;
        h[9] = VRRP_IP_PROTOCOL;
        h[12..16].copy_from_slice(&self.source.octets());
        h[16..20].copy_from_slice(&self.destination.octets());
        let checksum = !fold(sum_words(0, &h));
        h[10..12].copy_from_slice(&checksum.to_be_bytes());
        h
    }
}

impl Advertisement {
    /// The exact message length for this version and address count.
    pub fn wire_len(version: VrrpVersion, count: usize) -> usize {
        match version {
            VrrpVersion::V2 => 8 + 4 * count + AUTH_DATA_LEN,
            VrrpVersion::V3 => 8 + 4 * count,
        }
    }

    /// This advert's encoded length.
    pub fn encoded_len(&self) -> usize {
        Self::wire_len(self.version, self.addresses.len())
    }

    /// Decodes and validates a VRRP message; `source`/`destination` are the IP header's
    /// addresses (the v3 checksum covers them). TTL is the caller's check (see
    /// [`ReceivedPacket::decode`]).
    ///
    /// v3 checksums are accepted in the RFC 5798 pseudo-header form (what keepalived sends)
    /// and in RFC 9568's IPv4 "message only" form.
    pub fn decode(
        bytes: &[u8],
        source: Ipv4Addr,
        destination: Ipv4Addr,
    ) -> Result<Advertisement, PacketError> {
        if bytes.len() < 8 {
            return Err(PacketError::Truncated { len: bytes.len() });
        }
        let version = match bytes[0] >> 4 {
            2 => VrrpVersion::V2,
            3 => VrrpVersion::V3,
            other => return Err(PacketError::UnsupportedVersion(other)),
        };
        let kind = bytes[0] & 0x0f;
        if kind != ADVERTISEMENT_TYPE {
            return Err(PacketError::UnknownType(kind));
        }
        let vrid = bytes[1];
        if vrid == 0 {
            return Err(PacketError::InvalidVrid);
        }
        let priority = bytes[2];
        let count = bytes[3];
        let expected = Self::wire_len(version, usize::from(count));
        if bytes.len() != expected {
            return Err(PacketError::LengthMismatch { count, expected, actual: bytes.len() });
        }
        let found = u16::from_be_bytes([bytes[6], bytes[7]]);
        let (interval, authentication) = match version {
            VrrpVersion::V2 => {
                let auth_data = &bytes[expected - AUTH_DATA_LEN..];
                let authentication = match bytes[4] {
                    0 => Authentication::None,
                    1 => {
                        let mut data = [0u8; AUTH_DATA_LEN];
                        data.copy_from_slice(auth_data);
                        Authentication::SimpleText(data)
                    }
                    other => return Err(PacketError::UnsupportedAuthType(other)),
                };
                (Centiseconds(u16::from(bytes[5]) * 100), authentication)
            }
            VrrpVersion::V3 => {
                let interval = u16::from_be_bytes([bytes[4], bytes[5]]) & MAX_V3_INTERVAL_CS;
                (Centiseconds(interval), Authentication::None)
            }
        };
        let plain = checksum_of(0, bytes);
        match version {
            VrrpVersion::V2 if plain != found => {
                return Err(PacketError::BadChecksum { found, expected: plain });
            }
            VrrpVersion::V2 => {}
            VrrpVersion::V3 => {
                let pseudo =
                    checksum_of(pseudo_header_sum(source, destination, bytes.len()), bytes);
                if pseudo != found && plain != found {
                    return Err(PacketError::BadChecksum { found, expected: pseudo });
                }
            }
        }
        if interval.0 == 0 {
            return Err(PacketError::ZeroInterval);
        }
        let addresses = bytes[8..8 + 4 * usize::from(count)]
            .chunks_exact(4)
            .map(|a| Ipv4Addr::new(a[0], a[1], a[2], a[3]))
            .collect();
        Ok(Advertisement { version, vrid, priority, interval, authentication, addresses })
    }

    /// Encodes into `buf` and returns the length written. The v3 checksum uses the RFC 5798
    /// IPv4 pseudo-header with `source`/`destination` (what keepalived verifies); v2 ignores
    /// them. v3 reserved bits are sent as 0.
    pub fn encode_into(
        &self,
        source: Ipv4Addr,
        destination: Ipv4Addr,
        buf: &mut [u8],
    ) -> Result<usize, EncodeError> {
        if self.vrid == 0 {
            return Err(EncodeError::InvalidVrid);
        }
        let count = u8::try_from(self.addresses.len())
            .map_err(|_| EncodeError::TooManyAddresses(self.addresses.len()))?;
        let len = self.encoded_len();
        if buf.len() < len {
            return Err(EncodeError::BufferTooSmall { needed: len, available: buf.len() });
        }
        let out = &mut buf[..len];
        out[0] = (self.version.number() << 4) | ADVERTISEMENT_TYPE;
        out[1] = self.vrid;
        out[2] = self.priority;
        out[3] = count;
        match self.version {
            VrrpVersion::V2 => {
                let cs = self.interval.0;
                if cs == 0 || cs % 100 != 0 || cs / 100 > 255 {
                    return Err(EncodeError::IntervalOutOfRange(cs));
                }
                out[4] = self.authentication.type_number();
                out[5] = (cs / 100) as u8;
                let auth = &mut out[len - AUTH_DATA_LEN..];
                match &self.authentication {
                    Authentication::None => auth.fill(0),
                    Authentication::SimpleText(data) => auth.copy_from_slice(data),
                }
            }
            VrrpVersion::V3 => {
                if self.authentication != Authentication::None {
                    return Err(EncodeError::AuthenticationInV3);
                }
                let cs = self.interval.0;
                if cs == 0 || cs > MAX_V3_INTERVAL_CS {
                    return Err(EncodeError::IntervalOutOfRange(cs));
                }
                out[4..6].copy_from_slice(&cs.to_be_bytes());
            }
        }
        out[6] = 0;
        out[7] = 0;
        for (slot, address) in out[8..].chunks_exact_mut(4).zip(&self.addresses) {
            slot.copy_from_slice(&address.octets());
        }
        let initial = match self.version {
            VrrpVersion::V2 => 0,
            VrrpVersion::V3 => pseudo_header_sum(source, destination, len),
        };
        let checksum = checksum_of(initial, out);
        out[6..8].copy_from_slice(&checksum.to_be_bytes());
        Ok(len)
    }

    /// Encodes into a new vector (see [`Advertisement::encode_into`]).
    pub fn encode(&self, source: Ipv4Addr, destination: Ipv4Addr) -> Result<Vec<u8>, EncodeError> {
        let mut buf = vec![0u8; self.encoded_len()];
        let len = self.encode_into(source, destination, &mut buf)?;
        buf.truncate(len);
        Ok(buf)
    }
}

/// Adds big-endian 16-bit words of `bytes` (odd byte padded with 0) to `sum`, skipping nothing:
/// a checksum field inside `bytes` must be zero or be compensated by the caller.
fn sum_words(mut sum: u64, bytes: &[u8]) -> u64 {
    let mut words = bytes.chunks_exact(2);
    for word in &mut words {
        sum += u64::from(u16::from_be_bytes([word[0], word[1]]));
    }
    if let [last] = words.remainder() {
        sum += u64::from(*last) << 8;
    }
    sum
}

fn fold(mut sum: u64) -> u16 {
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    sum as u16
}

/// The one's-complement checksum of a VRRP message as if its checksum field (bytes 6..8)
/// were zero, starting from `initial` (the pseudo-header sum for v3).
fn checksum_of(initial: u64, message: &[u8]) -> u16 {
    let mut sum = sum_words(initial, message);
    if message.len() >= 8 {
        sum -= u64::from(u16::from_be_bytes([message[6], message[7]]));
    }
    !fold(sum)
}

/// Sum of the IPv4 pseudo-header: source, destination, zero, protocol 112, VRRP length.
fn pseudo_header_sum(source: Ipv4Addr, destination: Ipv4Addr, len: usize) -> u64 {
    let mut sum = sum_words(0, &source.octets());
    sum = sum_words(sum, &destination.octets());
    sum + u64::from(VRRP_IP_PROTOCOL) + (len as u64 & 0xffff)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hex(s: &str) -> Vec<u8> {
        (0..s.len()).step_by(2).map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap()).collect()
    }

    const MC1: Ipv4Addr = Ipv4Addr::new(10, 77, 0, 1);
    const VIP: Ipv4Addr = Ipv4Addr::new(10, 77, 0, 100);

    #[test]
    fn decodes_keepalived_v3_advert_with_pseudo_header_checksum() {
        let bytes = hex("314d9601000a43190a4d0064");
        let advert = Advertisement::decode(&bytes, MC1, VRRP_MULTICAST_GROUP).unwrap();
        assert_eq!(advert.version, VrrpVersion::V3);
        assert_eq!((advert.vrid, advert.priority, advert.interval), (77, 150, Centiseconds(10)));
        assert_eq!(advert.addresses, vec![VIP]);
        assert_eq!(advert.encode(MC1, VRRP_MULTICAST_GROUP).unwrap(), bytes);
    }

    #[test]
    fn v3_checksum_depends_on_the_source_address() {
        let bytes = hex("314d9601000a43190a4d0064");
        let other = Ipv4Addr::new(10, 77, 0, 2);
        assert!(matches!(
            Advertisement::decode(&bytes, other, VRRP_MULTICAST_GROUP),
            Err(PacketError::BadChecksum { found: 0x4319, .. })
        ));
    }

    #[test]
    fn v3_accepts_rfc9568_message_only_checksum() {
        let mut bytes = hex("314d9601000a00000a4d0064");
        let plain = checksum_of(0, &bytes);
        bytes[6..8].copy_from_slice(&plain.to_be_bytes());
        assert!(Advertisement::decode(&bytes, MC1, VRRP_MULTICAST_GROUP).is_ok());
    }

    #[test]
    fn decodes_keepalived_v2_pass_advert() {
        let bytes = hex("214d96010101fdcf0a4d00646d656d6331323334");
        let advert = Advertisement::decode(&bytes, MC1, VRRP_MULTICAST_GROUP).unwrap();
        assert_eq!(advert.interval, Centiseconds::ONE_SECOND);
        assert_eq!(advert.authentication, Authentication::simple_text(b"memc1234"));
        assert_eq!(advert.encode(Ipv4Addr::UNSPECIFIED, Ipv4Addr::UNSPECIFIED).unwrap(), bytes);
    }

    #[test]
    fn rejects_each_malformation() {
        let good = hex("214d96010101fdcf0a4d00646d656d6331323334");
        let decode = |b: &[u8]| Advertisement::decode(b, MC1, VRRP_MULTICAST_GROUP);
        assert_eq!(decode(&good[..5]), Err(PacketError::Truncated { len: 5 }));
        let mut padded = good.clone();
        padded.push(0);
        assert!(matches!(decode(&padded), Err(PacketError::LengthMismatch { actual: 21, .. })));
        let mut b = good.clone();
        b[0] = 0x41;
        assert_eq!(decode(&b), Err(PacketError::UnsupportedVersion(4)));
        b[0] = 0x22;
        assert_eq!(decode(&b), Err(PacketError::UnknownType(2)));
        let mut b = good.clone();
        b[1] = 0;
        assert_eq!(decode(&b), Err(PacketError::InvalidVrid));
        let mut b = good.clone();
        b[4] = 2;
        assert_eq!(decode(&b), Err(PacketError::UnsupportedAuthType(2)));
        let mut b = good.clone();
        b[19] ^= 1;
        assert!(matches!(decode(&b), Err(PacketError::BadChecksum { .. })));
        let ttl = ReceivedPacket {
            source: MC1,
            destination: VRRP_MULTICAST_GROUP,
            ttl: 254,
            payload: &good,
        };
        assert_eq!(ttl.decode(), Err(PacketError::BadTtl(254)));
    }

    #[test]
    fn encode_rejects_unrepresentable_intervals() {
        let mut advert = Advertisement {
            version: VrrpVersion::V2,
            vrid: 1,
            priority: 100,
            interval: Centiseconds(150),
            authentication: Authentication::None,
            addresses: vec![VIP],
        };
        let any = Ipv4Addr::UNSPECIFIED;
        assert_eq!(advert.encode(any, any), Err(EncodeError::IntervalOutOfRange(150)));
        advert.version = VrrpVersion::V3;
        assert!(advert.encode(any, any).is_ok());
        advert.interval = Centiseconds(4096);
        assert_eq!(advert.encode(any, any), Err(EncodeError::IntervalOutOfRange(4096)));
    }

    #[test]
    fn ipv4_header_round_trip_matches_keepalived() {
        // 45c0 0020 000d 0000 ff70 d040 0a4d0001 e0000012 from v3_mc1_prio150_adv10cs.
        let header = Ipv4Datagram {
            tos: VRRP_TOS,
            identification: 13,
            ttl: 255,
            source: MC1,
            destination: VRRP_MULTICAST_GROUP,
        };
        assert_eq!(
            header.encode_header(12).to_vec(),
            hex("45c00020000d0000ff70d0400a4d0001e0000012")
        );
    }
}
