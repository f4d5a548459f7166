//! The wire format of the replication link: binary, length-prefixed frames.
//!
//! ```text
//!   0        4      5
//!   ┌────────┬──────┬──────────────────────────────┐
//!   │ len u32│ type │ body (len - 1 bytes)         │   len counts type + body; all integers
//!   └────────┴──────┴──────────────────────────────┘   big-endian; len > max_frame or 0 -> Close
//! ```
//!
//! | type | frame          | body                                                                |
//! |------|----------------|---------------------------------------------------------------------|
//! | 1    | Hello          | magic `MCRL` (4 bytes), version u16, node_id u64, started_unix_ms   |
//! |      |                | u64, unix_ms u64, applied_node u64, applied_seq u64, local_items    |
//! |      |                | u64, nonce (16 bytes), auth u8 (1 = a secret is configured)         |
//! | 2    | Auth           | proof (16 bytes) = HMAC-MD5(secret, "mcrepl-auth-v1", prover,       |
//! |      |                | verifier, verifier's nonce)                                         |
//! | 3    | Resync         | kind u8 (0 none, 1 partial, 2 full), changes u64                    |
//! | 4    | Change         | seq u64, stamp.clock u64, stamp.node u64, op u8, flags u32,         |
//! |      |                | exptime u32 (absolute unix s), cas u64, time u32, key_binary u8,    |
//! |      |                | key_len u16, key, value (rest of the frame)                         |
//! | 5    | SnapshotBegin  | mode u8 (0 overwrite, 1 if-absent), base_seq u64                    |
//! | 6    | SnapshotItem   | op u8, flags u32, exptime u32, cas u64, time u32, key_binary u8,    |
//! |      |                | key_len u16, key, value (rest)                                      |
//! | 7    | SnapshotEnd    | items u64                                                           |
//! | 8    | Ack            | seq u64 (highest change seq received)                               |
//! | 9    | Ping           | (empty)                                                             |
//! | 10   | Pong           | (empty)                                                             |
//! | 11   | Close          | reason (UTF-8, rest)                                                |
//!
//! Op codes: 0 set, 1 add, 2 replace, 3 append, 4 prepend, 5 cas, 6 incr, 7 decr, 8 touch,
//! 9 delete, 10 invalidate, 11 flush_all.
//!
//! Order on one direction of a link: Hello, Auth (only with a secret), Resync; then either the
//! resent Changes (partial) or SnapshotBegin, SnapshotItem..., SnapshotEnd (full; live Changes
//! may be interleaved with the items); then Changes, Acks, Pings and Pongs. Seqs of Changes
//! (and the snapshot's base_seq) strictly increase on a link. Anything else closes the link.
//!
//! [`decode`] takes any prefix of the byte stream: `Ok(None)` means "need more bytes"; a frame
//! whose length is over the limit is refused as soon as its 4 length bytes are seen.

use thiserror::Error;

use crate::{ChangeOp, ChangeRecord, ResyncKind, Stamp};

/// First four bytes of a Hello body.
pub const MAGIC: [u8; 4] = *b"MCRL";
/// Protocol version this crate speaks.
pub const VERSION: u16 = 1;
/// Bytes of the length prefix.
pub const LEN_BYTES: usize = 4;

const T_HELLO: u8 = 1;
const T_AUTH: u8 = 2;
const T_RESYNC: u8 = 3;
const T_CHANGE: u8 = 4;
const T_SNAP_BEGIN: u8 = 5;
const T_SNAP_ITEM: u8 = 6;
const T_SNAP_END: u8 = 7;
const T_ACK: u8 = 8;
const T_PING: u8 = 9;
const T_PONG: u8 = 10;
const T_CLOSE: u8 = 11;

/// The first frame each side sends.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Hello {
    /// Must be [`MAGIC`].
    pub magic: [u8; 4],
    /// Must be [`VERSION`].
    pub version: u16,
    /// Sender's node id (random per process start).
    pub node_id: u64,
    /// When the sender started (unix ms).
    pub started_unix_ms: u64,
    /// Sender's wall clock now (unix ms), for the clock skew.
    pub unix_ms: u64,
    /// The node whose changes the sender last applied completely (0 = none).
    pub applied_node: u64,
    /// The last change seq the sender applied from `applied_node`.
    pub applied_seq: u64,
    /// Items in the sender's store now.
    pub local_items: u64,
    /// Challenge for the peer's Auth proof.
    pub nonce: [u8; 16],
    /// The sender has a secret configured and expects an Auth frame.
    pub auth: bool,
}

/// How the receiver applies the items of a snapshot.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SnapshotMode {
    /// Items overwrite the receiver's values.
    Overwrite,
    /// Items are stored only where the receiver has no value.
    IfAbsent,
}

/// One decoded frame.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Frame {
    /// Handshake opener.
    Hello(Hello),
    /// Proof of the shared secret over the receiver's nonce.
    Auth {
        /// HMAC-MD5 proof.
        proof: [u8; 16],
    },
    /// What the sender will send to bring the receiver up to date.
    Resync {
        /// None / Partial / Full.
        kind: ResyncKind,
    },
    /// One local change of the sender (`record.version` is `seq` on decode).
    Change {
        /// Sender's sequence number (strictly increasing on a link).
        seq: u64,
        /// Conflict-resolution stamp.
        stamp: Stamp,
        /// The change.
        record: ChangeRecord,
    },
    /// A full snapshot starts; it covers the sender's changes up to `base_seq`.
    SnapshotBegin {
        /// How to apply the items.
        mode: SnapshotMode,
        /// A fresh seq of the sender; the snapshot covers its changes up to it.
        base_seq: u64,
    },
    /// One live item (`record.version` is 0 on decode).
    SnapshotItem(ChangeRecord),
    /// The snapshot is complete.
    SnapshotEnd {
        /// Items sent in it.
        items: u64,
    },
    /// Cumulative acknowledgement of changes received.
    Ack {
        /// Highest change seq received.
        seq: u64,
    },
    /// Heartbeat.
    Ping,
    /// Heartbeat answer.
    Pong,
    /// The sender closes the link.
    Close {
        /// Why.
        reason: String,
    },
}

/// Why bytes are not a valid frame.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum FrameError {
    /// Length over the limit.
    #[error("frame of {len} bytes over the limit of {max}")]
    TooLarge {
        /// Announced length.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// Length 0 (no type byte).
    #[error("empty frame")]
    Empty,
    /// Unknown frame type.
    #[error("unknown frame type {0}")]
    UnknownType(u8),
    /// Body shorter than its fields.
    #[error("truncated {0} frame")]
    Truncated(&'static str),
    /// Body longer than its fields.
    #[error("trailing bytes in {0} frame")]
    Trailing(&'static str),
    /// A field has a value outside its range.
    #[error("bad {0} in frame")]
    BadField(&'static str),
}

fn op_code(op: ChangeOp) -> u8 {
    match op {
        ChangeOp::Set => 0,
        ChangeOp::Add => 1,
        ChangeOp::Replace => 2,
        ChangeOp::Append => 3,
        ChangeOp::Prepend => 4,
        ChangeOp::Cas => 5,
        ChangeOp::Incr => 6,
        ChangeOp::Decr => 7,
        ChangeOp::Touch => 8,
        ChangeOp::Delete => 9,
        ChangeOp::Invalidate => 10,
        ChangeOp::FlushAll => 11,
    }
}

fn op_from(code: u8) -> Result<ChangeOp, FrameError> {
    Ok(match code {
        0 => ChangeOp::Set,
        1 => ChangeOp::Add,
        2 => ChangeOp::Replace,
        3 => ChangeOp::Append,
        4 => ChangeOp::Prepend,
        5 => ChangeOp::Cas,
        6 => ChangeOp::Incr,
        7 => ChangeOp::Decr,
        8 => ChangeOp::Touch,
        9 => ChangeOp::Delete,
        10 => ChangeOp::Invalidate,
        11 => ChangeOp::FlushAll,
        _ => return Err(FrameError::BadField("op")),
    })
}

/// Starts a frame of type `ty`; returns where its length goes.
fn begin(out: &mut Vec<u8>, ty: u8) -> usize {
    let at = out.len();
    out.extend_from_slice(&[0, 0, 0, 0, ty]);
    at
}

/// Writes the length of the frame started at `at`.
fn finish(out: &mut [u8], at: usize) {
    let len = (out.len() - at - LEN_BYTES) as u32;
    out[at..at + LEN_BYTES].copy_from_slice(&len.to_be_bytes());
}

fn put_record_tail(out: &mut Vec<u8>, rec: &ChangeRecord) {
    out.push(op_code(rec.op));
    out.extend_from_slice(&rec.flags.to_be_bytes());
    out.extend_from_slice(&rec.exptime.to_be_bytes());
    out.extend_from_slice(&rec.cas.to_be_bytes());
    out.extend_from_slice(&rec.time.to_be_bytes());
    out.push(u8::from(rec.key_binary));
    // Keys are at most 250 bytes in memcached; a longer key is cut to what u16 can say, which
    // the peer then reads as part of the value: never produced by the store.
    let klen = rec.key.len().min(u16::MAX as usize);
    out.extend_from_slice(&(klen as u16).to_be_bytes());
    out.extend_from_slice(&rec.key[..klen]);
    out.extend_from_slice(&rec.value);
}

/// Appends a Change frame (the hot path: no allocation beyond `out` growing).
pub fn encode_change(out: &mut Vec<u8>, seq: u64, stamp: Stamp, rec: &ChangeRecord) {
    let at = begin(out, T_CHANGE);
    out.extend_from_slice(&seq.to_be_bytes());
    out.extend_from_slice(&stamp.clock.to_be_bytes());
    out.extend_from_slice(&stamp.node.to_be_bytes());
    put_record_tail(out, rec);
    finish(out, at);
}

/// Appends a SnapshotItem frame.
pub fn encode_item(out: &mut Vec<u8>, rec: &ChangeRecord) {
    let at = begin(out, T_SNAP_ITEM);
    put_record_tail(out, rec);
    finish(out, at);
}

/// Bytes a Change frame of `rec` takes on the wire.
pub fn change_frame_len(rec: &ChangeRecord) -> usize {
    LEN_BYTES + 1 + 24 + 1 + 4 + 4 + 8 + 4 + 1 + 2 + rec.key.len() + rec.value.len()
}

impl Frame {
    /// Appends this frame to `out`.
    pub fn encode(&self, out: &mut Vec<u8>) {
        match self {
            Frame::Change { seq, stamp, record } => encode_change(out, *seq, *stamp, record),
            Frame::SnapshotItem(rec) => encode_item(out, rec),
            Frame::Hello(h) => {
                let at = begin(out, T_HELLO);
                out.extend_from_slice(&h.magic);
                out.extend_from_slice(&h.version.to_be_bytes());
                for v in [
                    h.node_id,
                    h.started_unix_ms,
                    h.unix_ms,
                    h.applied_node,
                    h.applied_seq,
                    h.local_items,
                ] {
                    out.extend_from_slice(&v.to_be_bytes());
                }
                out.extend_from_slice(&h.nonce);
                out.push(u8::from(h.auth));
                finish(out, at);
            }
            Frame::Auth { proof } => {
                let at = begin(out, T_AUTH);
                out.extend_from_slice(proof);
                finish(out, at);
            }
            Frame::Resync { kind } => {
                let at = begin(out, T_RESYNC);
                let (k, n) = match kind {
                    ResyncKind::None => (0u8, 0u64),
                    ResyncKind::Partial { changes } => (1, *changes),
                    ResyncKind::Full => (2, 0),
                };
                out.push(k);
                out.extend_from_slice(&n.to_be_bytes());
                finish(out, at);
            }
            Frame::SnapshotBegin { mode, base_seq } => {
                let at = begin(out, T_SNAP_BEGIN);
                out.push(match mode {
                    SnapshotMode::Overwrite => 0,
                    SnapshotMode::IfAbsent => 1,
                });
                out.extend_from_slice(&base_seq.to_be_bytes());
                finish(out, at);
            }
            Frame::SnapshotEnd { items } => {
                let at = begin(out, T_SNAP_END);
                out.extend_from_slice(&items.to_be_bytes());
                finish(out, at);
            }
            Frame::Ack { seq } => {
                let at = begin(out, T_ACK);
                out.extend_from_slice(&seq.to_be_bytes());
                finish(out, at);
            }
            Frame::Ping => {
                let at = begin(out, T_PING);
                finish(out, at);
            }
            Frame::Pong => {
                let at = begin(out, T_PONG);
                finish(out, at);
            }
            Frame::Close { reason } => {
                let at = begin(out, T_CLOSE);
                out.extend_from_slice(reason.as_bytes());
                finish(out, at);
            }
        }
    }

    /// The frame encoded into a new buffer (tests, tools).
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::new();
        self.encode(&mut out);
        out
    }
}

/// Checked reads over a frame body.
struct Reader<'a> {
    b: &'a [u8],
    what: &'static str,
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], FrameError> {
        if self.b.len() < n {
            return Err(FrameError::Truncated(self.what));
        }
        let (head, tail) = self.b.split_at(n);
        self.b = tail;
        Ok(head)
    }
    fn array<const N: usize>(&mut self) -> Result<[u8; N], FrameError> {
        let mut a = [0u8; N];
        a.copy_from_slice(self.take(N)?);
        Ok(a)
    }
    fn u8(&mut self) -> Result<u8, FrameError> {
        Ok(self.array::<1>()?[0])
    }
    fn u16(&mut self) -> Result<u16, FrameError> {
        Ok(u16::from_be_bytes(self.array()?))
    }
    fn u32(&mut self) -> Result<u32, FrameError> {
        Ok(u32::from_be_bytes(self.array()?))
    }
    fn u64(&mut self) -> Result<u64, FrameError> {
        Ok(u64::from_be_bytes(self.array()?))
    }
    fn bool(&mut self) -> Result<bool, FrameError> {
        match self.u8()? {
            0 => Ok(false),
            1 => Ok(true),
            _ => Err(FrameError::BadField("boolean")),
        }
    }
    fn rest(&mut self) -> &'a [u8] {
        std::mem::take(&mut self.b)
    }
    fn end(&self) -> Result<(), FrameError> {
        if self.b.is_empty() {
            Ok(())
        } else {
            Err(FrameError::Trailing(self.what))
        }
    }

    fn record_tail(&mut self, version: u64) -> Result<ChangeRecord, FrameError> {
        let op = op_from(self.u8()?)?;
        let flags = self.u32()?;
        let exptime = self.u32()?;
        let cas = self.u64()?;
        let time = self.u32()?;
        let key_binary = self.bool()?;
        let klen = usize::from(self.u16()?);
        let key = self.take(klen)?.to_vec();
        let value = self.rest().to_vec();
        Ok(ChangeRecord { op, key, flags, exptime, value, cas, version, time, key_binary })
    }
}

/// Decodes one frame from the start of `buf`. `Ok(None)`: incomplete, read more. `Ok(Some((frame,
/// consumed)))`: one frame of `consumed` bytes. `Err`: the stream is broken (close the link).
pub fn decode(buf: &[u8], max_frame: usize) -> Result<Option<(Frame, usize)>, FrameError> {
    let Some(len_bytes) = buf.get(..LEN_BYTES) else {
        return Ok(None);
    };
    let mut lb = [0u8; LEN_BYTES];
    lb.copy_from_slice(len_bytes);
    let len = u32::from_be_bytes(lb) as usize;
    if len == 0 {
        return Err(FrameError::Empty);
    }
    if len > max_frame {
        return Err(FrameError::TooLarge { len, max: max_frame });
    }
    let Some(frame) = buf.get(LEN_BYTES..LEN_BYTES + len) else {
        return Ok(None);
    };
    let ty = frame[0];
    let body = &frame[1..];
    let what = match ty {
        T_HELLO => "hello",
        T_AUTH => "auth",
        T_RESYNC => "resync",
        T_CHANGE => "change",
        T_SNAP_BEGIN => "snapshot begin",
        T_SNAP_ITEM => "snapshot item",
        T_SNAP_END => "snapshot end",
        T_ACK => "ack",
        T_PING => "ping",
        T_PONG => "pong",
        T_CLOSE => "close",
        other => return Err(FrameError::UnknownType(other)),
    };
    let mut r = Reader { b: body, what };
    let f = match ty {
        T_HELLO => {
            let h = Hello {
                magic: r.array()?,
                version: r.u16()?,
                node_id: r.u64()?,
                started_unix_ms: r.u64()?,
                unix_ms: r.u64()?,
                applied_node: r.u64()?,
                applied_seq: r.u64()?,
                local_items: r.u64()?,
                nonce: r.array()?,
                auth: r.bool()?,
            };
            r.end()?;
            Frame::Hello(h)
        }
        T_AUTH => {
            let proof = r.array()?;
            r.end()?;
            Frame::Auth { proof }
        }
        T_RESYNC => {
            let k = r.u8()?;
            let n = r.u64()?;
            r.end()?;
            let kind = match (k, n) {
                (0, 0) => ResyncKind::None,
                (1, changes) => ResyncKind::Partial { changes },
                (2, 0) => ResyncKind::Full,
                _ => return Err(FrameError::BadField("resync kind")),
            };
            Frame::Resync { kind }
        }
        T_CHANGE => {
            let seq = r.u64()?;
            let stamp = Stamp { clock: r.u64()?, node: r.u64()? };
            let record = r.record_tail(seq)?;
            Frame::Change { seq, stamp, record }
        }
        T_SNAP_BEGIN => {
            let mode = match r.u8()? {
                0 => SnapshotMode::Overwrite,
                1 => SnapshotMode::IfAbsent,
                _ => return Err(FrameError::BadField("snapshot mode")),
            };
            let base_seq = r.u64()?;
            r.end()?;
            Frame::SnapshotBegin { mode, base_seq }
        }
        T_SNAP_ITEM => Frame::SnapshotItem(r.record_tail(0)?),
        T_SNAP_END => {
            let items = r.u64()?;
            r.end()?;
            Frame::SnapshotEnd { items }
        }
        T_ACK => {
            let seq = r.u64()?;
            r.end()?;
            Frame::Ack { seq }
        }
        T_PING => {
            r.end()?;
            Frame::Ping
        }
        T_PONG => {
            r.end()?;
            Frame::Pong
        }
        _ => {
            let reason = std::str::from_utf8(r.rest())
                .map_err(|_| FrameError::BadField("close reason"))?
                .to_string();
            Frame::Close { reason }
        }
    };
    Ok(Some((f, LEN_BYTES + len)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(op: ChangeOp, key: &[u8], value: &[u8], version: u64) -> ChangeRecord {
        ChangeRecord {
            op,
            key: key.to_vec(),
            flags: 0xdead_beef,
            exptime: 1_795_473_335,
            value: value.to_vec(),
            cas: u64::MAX - 3,
            version,
            time: 1_700_000_000,
            key_binary: true,
        }
    }

    fn round_trip(f: Frame) {
        let bytes = f.to_bytes();
        let (back, used) = decode(&bytes, 1 << 20).unwrap().unwrap();
        assert_eq!(used, bytes.len());
        assert_eq!(back, f);
        // Every proper prefix is incomplete, never an error.
        for cut in 0..bytes.len() {
            assert_eq!(decode(&bytes[..cut], 1 << 20), Ok(None), "prefix {cut}");
        }
    }

    #[test]
    fn hello_round_trips() {
        round_trip(Frame::Hello(Hello {
            magic: MAGIC,
            version: VERSION,
            node_id: 7,
            started_unix_ms: 1,
            unix_ms: 2,
            applied_node: 3,
            applied_seq: 4,
            local_items: 5,
            nonce: [9; 16],
            auth: true,
        }));
    }

    #[test]
    fn control_frames_round_trip() {
        round_trip(Frame::Auth { proof: [1; 16] });
        round_trip(Frame::Resync { kind: ResyncKind::None });
        round_trip(Frame::Resync { kind: ResyncKind::Partial { changes: 42 } });
        round_trip(Frame::Resync { kind: ResyncKind::Full });
        round_trip(Frame::SnapshotBegin { mode: SnapshotMode::Overwrite, base_seq: 1 });
        round_trip(Frame::SnapshotBegin { mode: SnapshotMode::IfAbsent, base_seq: 2 });
        round_trip(Frame::SnapshotEnd { items: 99 });
        round_trip(Frame::Ack { seq: u64::MAX });
        round_trip(Frame::Ping);
        round_trip(Frame::Pong);
        round_trip(Frame::Close { reason: "bye".into() });
    }

    #[test]
    fn change_and_item_round_trip_with_full_cas() {
        let stamp = Stamp { clock: 123 << 16 | 5, node: 77 };
        round_trip(Frame::Change { seq: 10, stamp, record: rec(ChangeOp::Set, b"k", b"v", 10) });
        round_trip(Frame::Change { seq: 11, stamp, record: rec(ChangeOp::Delete, b"k", b"", 11) });
        round_trip(Frame::Change { seq: 12, stamp, record: rec(ChangeOp::FlushAll, b"", b"", 12) });
        round_trip(Frame::SnapshotItem(rec(ChangeOp::Set, b"key", &[0, 1, 2, 255], 0)));
        let f = Frame::Change { seq: 1, stamp, record: rec(ChangeOp::Set, b"abc", b"xyz", 1) };
        assert_eq!(f.to_bytes().len(), change_frame_len(&rec(ChangeOp::Set, b"abc", b"xyz", 1)));
    }

    #[test]
    fn oversized_length_is_refused_before_the_body_arrives() {
        let bytes = [0u8, 0x10, 0, 0];
        assert_eq!(decode(&bytes, 1024), Err(FrameError::TooLarge { len: 0x10_0000, max: 1024 }));
        assert_eq!(decode(&[0, 0, 0, 0], 1024), Err(FrameError::Empty));
        assert_eq!(decode(&[0, 0, 0, 1, 200], 1024), Err(FrameError::UnknownType(200)));
    }

    #[test]
    fn malformed_bodies_are_errors() {
        // Ack with 3 bytes.
        assert!(decode(&[0, 0, 0, 4, T_ACK, 1, 2, 3], 1024).is_err());
        // Ping with a trailing byte.
        assert!(decode(&[0, 0, 0, 2, T_PING, 0], 1024).is_err());
        // Change with a bad op.
        let stamp = Stamp { clock: 1, node: 2 };
        let mut b =
            Frame::Change { seq: 1, stamp, record: rec(ChangeOp::Set, b"k", b"v", 1) }.to_bytes();
        b[LEN_BYTES + 1 + 24] = 99;
        assert_eq!(decode(&b, 1024), Err(FrameError::BadField("op")));
        // Key length past the end.
        let mut b = Frame::SnapshotItem(rec(ChangeOp::Set, b"k", b"", 0)).to_bytes();
        let kl = b.len() - 3;
        b[kl] = 0xff;
        assert_eq!(decode(&b, 1024), Err(FrameError::Truncated("snapshot item")));
    }
}
