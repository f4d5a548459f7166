//! Property tests of the wire format: every frame round-trips over any byte split, and
//! arbitrary bytes never panic the decoder or a linked session.

mod common;

use std::time::Instant;

use memcached_repl::frame::{decode, SnapshotMode, MAGIC, VERSION};
use memcached_repl::{
    ChangeOp, ChangeRecord, CloseReason, Frame, Hello, ReplEvent, ReplSession, ResyncKind, Stamp,
};
use proptest::prelude::*;

const MAX: usize = 1 << 16;

fn op() -> impl Strategy<Value = ChangeOp> {
    prop::sample::select(vec![
        ChangeOp::Set,
        ChangeOp::Add,
        ChangeOp::Replace,
        ChangeOp::Append,
        ChangeOp::Prepend,
        ChangeOp::Cas,
        ChangeOp::Incr,
        ChangeOp::Decr,
        ChangeOp::Touch,
        ChangeOp::Delete,
        ChangeOp::Invalidate,
        ChangeOp::FlushAll,
    ])
}

fn record(version: u64) -> impl Strategy<Value = ChangeRecord> {
    (
        op(),
        prop::collection::vec(any::<u8>(), 0..40),
        any::<u32>(),
        any::<u32>(),
        prop::collection::vec(any::<u8>(), 0..200),
        any::<u64>(),
        any::<u32>(),
        any::<bool>(),
    )
        .prop_map(move |(op, key, flags, exptime, value, cas, time, key_binary)| {
            ChangeRecord { op, key, flags, exptime, value, cas, version, time, key_binary }
        })
}

fn frame() -> impl Strategy<Value = Frame> {
    prop_oneof![
        (any::<[u8; 4]>(), any::<u16>(), any::<[u64; 6]>(), any::<[u8; 16]>(), any::<bool>())
            .prop_map(|(magic, version, v, nonce, auth)| Frame::Hello(Hello {
                magic,
                version,
                node_id: v[0],
                started_unix_ms: v[1],
                unix_ms: v[2],
                applied_node: v[3],
                applied_seq: v[4],
                local_items: v[5],
                nonce,
                auth,
            })),
        any::<[u8; 16]>().prop_map(|proof| Frame::Auth { proof }),
        prop_oneof![
            Just(ResyncKind::None),
            Just(ResyncKind::Full),
            any::<u64>().prop_map(|changes| ResyncKind::Partial { changes })
        ]
        .prop_map(|kind| Frame::Resync { kind }),
        (any::<u64>(), any::<u64>(), any::<u64>()).prop_flat_map(|(seq, clock, node)| {
            record(seq).prop_map(move |record| Frame::Change {
                seq,
                stamp: Stamp { clock, node },
                record,
            })
        }),
        (prop::sample::select(vec![SnapshotMode::Overwrite, SnapshotMode::IfAbsent]), any::<u64>())
            .prop_map(|(mode, base_seq)| Frame::SnapshotBegin { mode, base_seq }),
        record(0).prop_map(Frame::SnapshotItem),
        any::<u64>().prop_map(|items| Frame::SnapshotEnd { items }),
        any::<u64>().prop_map(|seq| Frame::Ack { seq }),
        Just(Frame::Ping),
        Just(Frame::Pong),
        ".{0,30}".prop_map(|reason| Frame::Close { reason }),
    ]
}

/// Decodes a stream fed in the given chunks, like a session does.
fn decode_chunks(chunks: &[&[u8]]) -> Result<Vec<Frame>, memcached_repl::FrameError> {
    let mut buf = Vec::new();
    let mut out = Vec::new();
    for c in chunks {
        buf.extend_from_slice(c);
        while let Some((f, n)) = decode(&buf, MAX)? {
            out.push(f);
            buf.drain(..n);
        }
    }
    assert!(buf.is_empty(), "bytes left over");
    Ok(out)
}

/// A session linked to a scripted peer (node 2), ready to take data frames.
fn linked_session() -> (ReplSession, Instant) {
    let t0 = Instant::now();
    let mut s = ReplSession::new(common::config(1, 1, 1 << 20));
    s.connected(t0, 0, 0);
    let mut peer = Vec::new();
    Frame::Hello(Hello {
        magic: MAGIC,
        version: VERSION,
        node_id: 2,
        started_unix_ms: 2,
        unix_ms: 0,
        applied_node: 0,
        applied_seq: 0,
        local_items: 0,
        nonce: [0; 16],
        auth: false,
    })
    .encode(&mut peer);
    Frame::Resync { kind: ResyncKind::Full }.encode(&mut peer);
    s.receive(&peer, t0, 0);
    assert!(s.is_linked());
    while s.poll_event().is_some() {}
    (s, t0)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn frames_round_trip_over_any_split(
        frames in prop::collection::vec(frame(), 1..8),
        cuts in prop::collection::vec(any::<prop::sample::Index>(), 0..12),
    ) {
        let mut bytes = Vec::new();
        for f in &frames {
            f.encode(&mut bytes);
        }
        let mut at: Vec<usize> = cuts.iter().map(|i| i.index(bytes.len() + 1)).collect();
        at.push(0);
        at.push(bytes.len());
        at.sort_unstable();
        let chunks: Vec<&[u8]> = at.windows(2).map(|w| &bytes[w[0]..w[1]]).collect();
        prop_assert_eq!(decode_chunks(&chunks).unwrap(), frames.clone());
        // Byte by byte too.
        let singles: Vec<&[u8]> = bytes.chunks(1).collect();
        prop_assert_eq!(decode_chunks(&singles).unwrap(), frames);
    }

    #[test]
    fn arbitrary_bytes_never_panic_the_decoder(bytes in prop::collection::vec(any::<u8>(), 0..300)) {
        let mut rest = &bytes[..];
        while let Ok(Some((_, n))) = decode(rest, MAX) {
            rest = &rest[n..];
        }
    }

    #[test]
    fn arbitrary_bytes_never_panic_a_linked_session(
        bytes in prop::collection::vec(any::<u8>(), 0..300),
        split in any::<prop::sample::Index>(),
    ) {
        let (mut s, t0) = linked_session();
        let cut = split.index(bytes.len() + 1);
        s.receive(&bytes[..cut], t0, 0);
        s.receive(&bytes[cut..], t0, 0);
        let mut closed = false;
        while let Some(e) = s.poll_event() {
            if let ReplEvent::Close(r) = e {
                closed = true;
                prop_assert!(!matches!(r, CloseReason::Timeout | CloseReason::Backpressure));
            }
        }
        // Whatever happened, the session is still usable: linked, or asking to be closed.
        prop_assert_eq!(closed, !s.is_linked());
        // A broken length prefix always closes.
        let mut s2 = linked_session().0;
        let mut evil = vec![0xff, 0xff, 0xff, 0xff];
        evil.extend_from_slice(&bytes);
        s2.receive(&evil, t0, 0);
        prop_assert!(matches!(s2.poll_event(), Some(ReplEvent::Close(CloseReason::Protocol(_)))));
    }
}
