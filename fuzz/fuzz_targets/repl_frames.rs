//! Feeds arbitrary bytes to a `memcached_repl::ReplSession`, split at a point chosen by the
//! input, then drains every event. With the first byte even, the bytes come right after a
//! valid handshake (the peer's Hello and Resync: both directions full, so a snapshot is due,
//! when the byte is a multiple of 4; nothing to resync otherwise, so Changes flow at once);
//! with it odd, they are the handshake itself. The session must never panic, and once it
//! asked to close it must not be linked.
//!
//! `cargo fuzz run repl_frames` (from fuzz/; stable Rust needs RUSTC_BOOTSTRAP=1)

#![no_main]

use std::time::{Duration, Instant};

use libfuzzer_sys::fuzz_target;
use memcached_repl::frame::{MAGIC, VERSION};
use memcached_repl::{
    ChangeOp, ChangeRecord, Frame, Hello, ReplConfig, ReplEvent, ReplSession, ResyncKind,
};

fuzz_target!(|data: &[u8]| {
    let t0 = Instant::now();
    let cfg =
        ReplConfig { node_id: 1, started_unix_ms: 1, max_frame: 1 << 16, ..ReplConfig::default() };
    let mut s = ReplSession::new(cfg);
    s.connected(t0, 1_000, 0);
    let mut peer = Vec::new();
    let full = data.first().is_some_and(|b| b % 4 == 0);
    Frame::Hello(Hello {
        magic: MAGIC,
        version: VERSION,
        node_id: 2,
        started_unix_ms: 2,
        unix_ms: 1_000,
        applied_node: if full { 0 } else { 1 },
        applied_seq: 0,
        local_items: 0,
        nonce: [0; 16],
        auth: false,
    })
    .encode(&mut peer);
    let kind = if full { ResyncKind::Full } else { ResyncKind::None };
    Frame::Resync { kind }.encode(&mut peer);
    let scripted = data.first().is_some_and(|b| b % 2 == 0);
    if scripted {
        s.receive(&peer, t0, 1_000);
        assert!(s.is_linked());
    }
    // A little local traffic so acks and conflicts have something to refer to.
    for key in [&b"a"[..], b"b"] {
        let rec = ChangeRecord {
            op: ChangeOp::Set,
            key: key.to_vec(),
            flags: 0,
            exptime: 0,
            value: b"v".to_vec(),
            cas: 1,
            version: 0,
            time: 0,
            key_binary: false,
        };
        s.record_local(rec, t0, 1_001);
    }
    let cut = data.first().map_or(0, |&b| usize::from(b)).min(data.len());
    let mut closed = false;
    for (i, part) in [&data[..cut], &data[cut..]].into_iter().enumerate() {
        let now = t0 + Duration::from_millis(i as u64);
        s.receive(part, now, 1_002);
        while let Some(ev) = s.poll_event() {
            match ev {
                ReplEvent::Close(_) => closed = true,
                ReplEvent::SnapshotRequested => s.snapshot_end(now),
                _ => {}
            }
        }
        let n = s.pending_output().len();
        s.consume_output(n);
        s.handle_timeout(now, 1_002);
    }
    assert!(!(closed && s.is_linked()));
});
