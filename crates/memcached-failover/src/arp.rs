//! Gratuitous ARP frames, as keepalived sends them when it becomes master.
//!
//! ```text
//! Ethernet: dst ff:ff:ff:ff:ff:ff | src <interface MAC> | type 0x0806
//! ARP:      htype 1 | ptype 0x0800 | hlen 6 | plen 4 | op 1 (request)
//!           sender MAC = interface MAC   sender IP = VIP
//!           target MAC = ff:ff:ff:ff:ff:ff   target IP = VIP
//! ```
//!
//! keepalived (without `use_vmac`) uses the interface's real MAC, not the RFC's virtual
//! router MAC 00:00:5e:00:01:{VRID}; clients' neighbour caches are rewritten to it.

use std::net::Ipv4Addr;

/// Length of a gratuitous ARP frame without the Ethernet padding (the NIC pads to 60).
pub const GRATUITOUS_ARP_LEN: usize = 42;
/// Ethernet type of ARP.
pub const ETHERTYPE_ARP: u16 = 0x0806;

/// A broadcast gratuitous ARP request announcing `address` at `sender_mac`.
pub fn gratuitous_arp(sender_mac: [u8; 6], address: Ipv4Addr) -> [u8; GRATUITOUS_ARP_LEN] {
    let mut frame = [0u8; GRATUITOUS_ARP_LEN];
    frame[0..6].fill(0xff);
    frame[6..12].copy_from_slice(&sender_mac);
    frame[12..14].copy_from_slice(&ETHERTYPE_ARP.to_be_bytes());
    frame[14..16].copy_from_slice(&1u16.to_be_bytes()); // Ethernet
    frame[16..18].copy_from_slice(&0x0800u16.to_be_bytes()); // IPv4
    frame[18] = 6;
    frame[19] = 4;
    frame[20..22].copy_from_slice(&1u16.to_be_bytes()); // request
    frame[22..28].copy_from_slice(&sender_mac);
    frame[28..32].copy_from_slice(&address.octets());
    frame[32..38].fill(0xff);
    frame[38..42].copy_from_slice(&address.octets());
    frame
}

/// The RFC 3768 §7.3 virtual router MAC 00:00:5e:00:01:{VRID} (keepalived `use_vmac`).
pub fn virtual_router_mac(vrid: u8) -> [u8; 6] {
    [0x00, 0x00, 0x5e, 0x00, 0x01, vrid]
}
