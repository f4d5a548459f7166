//! memcached over UDP (`-U <port>`): every datagram carries an 8-byte frame header.
//!
//! ```text
//!   0        2        4        6        8
//!   +--------+--------+--------+--------+------------------------------+
//!   | req id | seq no | total  |   0    | payload (requests/responses) |
//!   +--------+--------+--------+--------+------------------------------+
//!   (big-endian u16s)
//! ```
//!
//! A request must fit in one datagram (total = 1, seq = 0); anything else is dropped, as
//! memcached does. As in memcached 1.6, every response object is its own message: each
//! command of the datagram, and each key of a multi-get (a miss is an empty message, sent as a
//! bare header with total 0 unless it ends the reply); each message is cut into datagrams of
//! at most [`UDP_MAX_DATAGRAM`] bytes (header included), numbered 0..total with the request's
//! id.

use std::io;
use std::net::SocketAddr;

use crate::connection::{After, RequestExecutor, Session, Step, UdpMark};
use crate::counters::{bump, WorkerCounters};

/// Size of the frame header.
pub const UDP_HEADER_SIZE: usize = 8;
/// memcached's `UDP_MAX_PAYLOAD_SIZE`: the largest datagram it sends, header included.
pub const UDP_MAX_DATAGRAM: usize = 1400;

/// The frame header of a memcached UDP datagram.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UdpFrameHeader {
    /// Chosen by the client; echoed in every response datagram.
    pub request_id: u16,
    /// Index of this datagram within its message.
    pub sequence: u16,
    /// Number of datagrams in the message.
    pub total: u16,
}

impl UdpFrameHeader {
    /// Reads a header from the first 8 bytes, if present.
    pub fn parse(datagram: &[u8]) -> Option<Self> {
        let h = datagram.get(..UDP_HEADER_SIZE)?;
        Some(Self {
            request_id: u16::from_be_bytes([h[0], h[1]]),
            sequence: u16::from_be_bytes([h[2], h[3]]),
            total: u16::from_be_bytes([h[4], h[5]]),
        })
    }

    /// The header as sent on the wire.
    pub fn encode(&self) -> [u8; UDP_HEADER_SIZE] {
        let mut h = [0u8; UDP_HEADER_SIZE];
        h[0..2].copy_from_slice(&self.request_id.to_be_bytes());
        h[2..4].copy_from_slice(&self.sequence.to_be_bytes());
        h[4..6].copy_from_slice(&self.total.to_be_bytes());
        h
    }
}

/// Runs every complete request in `payload` through `executor`, appending responses to `out`.
pub fn execute_payload<E: RequestExecutor>(
    executor: &mut E,
    session: &mut Session,
    payload: &[u8],
    out: &mut Vec<u8>,
) {
    let mut pos = 0;
    session.udp_marks.clear();
    while pos < payload.len() {
        match executor.execute(session, &payload[pos..], out) {
            Step::Done { consumed, after } => {
                pos += consumed.max(1);
                session.udp_marks.push(UdpMark { end: out.len(), send_empty: false });
                match after {
                    After::Continue => {}
                    // Over UDP there is no connection to close and nothing more will arrive.
                    After::Swallow(_) | After::Close | After::Stop(_) | After::Watch(_) => break,
                }
            }
            Step::NeedMore | Step::Hostile => break,
        }
    }
}

/// Splits `response` into framed datagrams and hands each to `send`.
pub fn frame_response(
    request_id: u16,
    response: &[u8],
    scratch: &mut Vec<u8>,
    mut send: impl FnMut(&[u8]),
) {
    let chunk = UDP_MAX_DATAGRAM - UDP_HEADER_SIZE;
    let total = response.len().div_ceil(chunk).max(1);
    let total_u16 = u16::try_from(total).unwrap_or(u16::MAX);
    for (sequence, part) in response.chunks(chunk).enumerate().take(usize::from(u16::MAX)) {
        scratch.clear();
        let header = UdpFrameHeader {
            request_id,
            sequence: u16::try_from(sequence).unwrap_or(u16::MAX),
            total: total_u16,
        };
        scratch.extend_from_slice(&header.encode());
        scratch.extend_from_slice(part);
        send(scratch);
    }
}

/// One worker's handle on the shared UDP socket, with its reusable buffers.
#[derive(Debug)]
pub struct UdpEndpoint {
    socket: mio::net::UdpSocket,
    datagram: Vec<u8>,
    response: Vec<u8>,
    scratch: Vec<u8>,
    session: Session,
}

impl UdpEndpoint {
    /// Wraps a (registered) UDP socket.
    pub fn new(socket: mio::net::UdpSocket) -> Self {
        Self {
            socket,
            datagram: vec![0; 65536],
            response: Vec::with_capacity(16 * 1024),
            scratch: Vec::with_capacity(UDP_MAX_DATAGRAM),
            session: Session {
                id: 0,
                udp: true,
                fd: -1,
                authenticated: false,
                negotiated: false,
                udp_marks: Vec::new(),
            },
        }
    }

    /// Reads and answers datagrams until the socket has none left.
    pub fn serve<E: RequestExecutor>(&mut self, executor: &mut E, counters: &WorkerCounters) {
        loop {
            let (len, peer) = match self.socket.recv_from(&mut self.datagram) {
                Ok(got) => got,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(_) => return,
            };
            bump(&counters.bytes_read, len as u64);
            self.answer(len, peer, executor, counters);
        }
    }

    fn answer<E: RequestExecutor>(
        &mut self,
        len: usize,
        peer: SocketAddr,
        executor: &mut E,
        counters: &WorkerCounters,
    ) {
        let Some(header) = UdpFrameHeader::parse(&self.datagram[..len]) else {
            return;
        };
        if header.total != 1 || header.sequence != 0 {
            return;
        }
        self.response.clear();
        execute_payload(
            executor,
            &mut self.session,
            &self.datagram[UDP_HEADER_SIZE..len],
            &mut self.response,
        );
        let socket = &self.socket;
        let mut send = |datagram: &[u8]| {
            if socket.send_to(datagram, peer).is_ok() {
                bump(&counters.bytes_written, datagram.len() as u64);
            }
        };
        let mut start = 0;
        for mark in &self.session.udp_marks {
            let end = mark.end.clamp(start, self.response.len());
            let message = &self.response[start..end];
            start = end;
            if !message.is_empty() {
                frame_response(header.request_id, message, &mut self.scratch, &mut send);
            } else if mark.send_empty {
                // memcached sends an empty response object as a bare header with total 0.
                let empty = UdpFrameHeader { request_id: header.request_id, sequence: 0, total: 0 };
                send(&empty.encode());
            }
        }
        if self.response.capacity() > 1024 * 1024 {
            self.response = Vec::with_capacity(16 * 1024);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_round_trip() {
        let h = UdpFrameHeader { request_id: 0x1234, sequence: 2, total: 3 };
        let bytes = h.encode();
        assert_eq!(bytes, [0x12, 0x34, 0, 2, 0, 3, 0, 0]);
        assert_eq!(UdpFrameHeader::parse(&bytes), Some(h));
        assert_eq!(UdpFrameHeader::parse(&bytes[..7]), None);
    }

    #[test]
    fn responses_are_split_at_the_datagram_limit() {
        let response = vec![b'x'; 3000];
        let mut scratch = Vec::new();
        let mut datagrams = Vec::new();
        frame_response(7, &response, &mut scratch, |d| datagrams.push(d.to_vec()));
        assert_eq!(datagrams.len(), 3);
        for (i, d) in datagrams.iter().enumerate() {
            assert!(d.len() <= UDP_MAX_DATAGRAM);
            let h = UdpFrameHeader::parse(d).expect("header");
            assert_eq!((h.request_id, usize::from(h.sequence), h.total), (7, i, 3));
        }
        let body: Vec<u8> = datagrams.iter().flat_map(|d| d[8..].to_vec()).collect();
        assert_eq!(body, response);
    }
}
