//! Scenario tests of the session: resync kinds, handshake rejections, timers, order, conflicts.

mod common;

use std::time::Duration;

use common::{config, Node, Pair};
use memcached_repl::{
    ApplyMode, ChangeOp, CloseReason, Frame, ReplConfig, ReplEvent, ReplSession, ResyncKind,
};

fn pair_with(ca: ReplConfig, cb: ReplConfig) -> Pair {
    let mut p = Pair::new(Node::new(ca, 0), Node::new(cb, 0), 7);
    p.max_delay_ms = 0;
    p.settle();
    p
}

fn pair() -> Pair {
    pair_with(config(0xA, 1_000, 1 << 20), config(0xB, 2_000, 1 << 20))
}

fn last_link_up(n: &Node) -> (ResyncKind, ResyncKind) {
    n.events
        .iter()
        .rev()
        .find_map(|e| match e {
            ReplEvent::LinkUp { to_peer, from_peer, .. } => Some((*to_peer, *from_peer)),
            _ => None,
        })
        .expect("no LinkUp")
}

/// Apply events after the last LinkUp.
fn applies_since_link_up(n: &Node) -> Vec<(ChangeOp, Vec<u8>, ApplyMode)> {
    let at = n.events.iter().rposition(|e| matches!(e, ReplEvent::LinkUp { .. })).unwrap_or(0);
    n.events[at..]
        .iter()
        .filter_map(|e| match e {
            ReplEvent::Apply(r, m) => Some((r.op, r.key.clone(), *m)),
            _ => None,
        })
        .collect()
}

fn run(p: &mut Pair, ms: u64) {
    for _ in 0..ms / 10 {
        p.step(10, true);
    }
}

#[test]
fn fresh_pair_links_with_full_resync_both_ways_and_distinct_cas_lanes() {
    let p = pair();
    assert_eq!(last_link_up(&p.a), (ResyncKind::Full, ResyncKind::Full));
    let lane = |n: &Node| {
        n.events.iter().find_map(|e| match e {
            ReplEvent::LinkUp { cas_lane, peer_node, .. } => Some((*cas_lane, *peer_node)),
            _ => None,
        })
    };
    assert_eq!(lane(&p.a), Some((0, 0xB)));
    assert_eq!(lane(&p.b), Some((1, 0xA)));
    assert!(p.a.s.is_linked() && p.b.s.is_linked());
    assert_eq!(p.a.s.stats().links_established, 1);
}

#[test]
fn changes_replicate_and_acks_empty_the_backlog() {
    let mut p = pair();
    let (now, ms) = (p.now(), p.ms);
    p.a.set(b"k1", b"v1", now, ms);
    p.b.set(b"k2", b"v2", now, ms);
    run(&mut p, 100);
    assert_eq!(p.a.map, p.b.map);
    assert_eq!(p.a.map.len(), 2);
    let s = p.a.s.stats();
    assert_eq!((s.changes_sent, s.changes_received, s.changes_applied), (1, 1, 1));
    assert_eq!(s.backlog_changes, 0, "acked changes leave the backlog");
    assert_eq!(p.a.s.in_flight_keys(), 0);
}

#[test]
fn partial_resync_after_a_short_break_sends_only_the_missed_changes() {
    let mut p = pair();
    let (now, ms) = (p.now(), p.ms);
    for i in 0..5 {
        p.a.set(format!("before{i}").as_bytes(), b"x", now, ms);
    }
    run(&mut p, 100);
    p.disconnect();
    let (now, ms) = (p.now(), p.ms);
    p.a.set(b"missed1", b"1", now, ms);
    p.a.set(b"missed2", b"2", now, ms);
    p.b.set(b"fromb", b"3", now, ms);
    p.settle();
    assert_eq!(
        last_link_up(&p.a),
        (ResyncKind::Partial { changes: 2 }, ResyncKind::Partial { changes: 1 })
    );
    assert_eq!(
        last_link_up(&p.b),
        (ResyncKind::Partial { changes: 1 }, ResyncKind::Partial { changes: 2 })
    );
    let got = applies_since_link_up(&p.b);
    assert_eq!(
        got,
        vec![
            (ChangeOp::Set, b"missed1".to_vec(), ApplyMode::Overwrite),
            (ChangeOp::Set, b"missed2".to_vec(), ApplyMode::Overwrite)
        ]
    );
    assert_eq!(p.a.map, p.b.map);
    assert_eq!(p.a.s.stats().partial_resyncs_sent, 1);
}

#[test]
fn nothing_missed_gives_resync_none() {
    let mut p = pair();
    let (now, ms) = (p.now(), p.ms);
    p.a.set(b"k", b"v", now, ms);
    run(&mut p, 100);
    p.disconnect();
    p.settle();
    assert_eq!(last_link_up(&p.a), (ResyncKind::None, ResyncKind::None));
    assert!(applies_since_link_up(&p.a).is_empty() && applies_since_link_up(&p.b).is_empty());
}

#[test]
fn full_resync_when_the_backlog_was_trimmed() {
    let mut p = pair_with(config(0xA, 1_000, 600), config(0xB, 2_000, 600));
    p.disconnect();
    let (now, ms) = (p.now(), p.ms);
    for i in 0..20 {
        p.a.set(format!("k{i}").as_bytes(), b"value", now, ms);
    }
    assert!(p.a.s.stats().backlog_bytes <= 600);
    let fulls = p.a.s.stats().full_resyncs_sent;
    p.settle();
    assert_eq!(last_link_up(&p.a), (ResyncKind::Full, ResyncKind::Full));
    assert_eq!(p.a.s.stats().full_resyncs_sent, fulls + 1);
    assert_eq!(p.b.map.len(), 20);
    assert_eq!(p.a.map, p.b.map);
}

#[test]
fn full_two_way_resync_merges_with_the_older_node_winning_common_keys() {
    let mut p = pair_with(config(0xA, 1_000, 300), config(0xB, 2_000, 300));
    p.disconnect();
    let (now, ms) = (p.now(), p.ms);
    for i in 0..6 {
        p.a.set(format!("a{i}").as_bytes(), b"from-a", now, ms);
        p.b.set(format!("b{i}").as_bytes(), b"from-b", now, ms);
    }
    p.a.set(b"common", b"older-a", now, ms);
    p.b.set(b"common", b"younger-b", now + Duration::from_millis(5), ms + 5);
    p.settle();
    assert_eq!(last_link_up(&p.b), (ResyncKind::Full, ResyncKind::Full));
    assert_eq!(p.a.map, p.b.map);
    assert_eq!(p.a.map.len(), 13);
    assert_eq!(p.b.map[&b"common"[..]].value, b"older-a");
}

#[test]
fn self_connection_is_rejected() {
    let t0 = std::time::Instant::now();
    let mut s = ReplSession::new(config(42, 1, 1 << 20));
    s.connected(t0, 1_000, 0);
    let hello = s.pending_output().to_vec();
    s.consume_output(hello.len());
    s.receive(&hello, t0, 1_000);
    match s.poll_event() {
        Some(ReplEvent::Close(CloseReason::HandshakeRejected(why))) => {
            assert!(why.contains("itself"), "{why}")
        }
        other => panic!("expected a rejection, got {other:?}"),
    }
    assert!(!s.is_linked());
}

fn handshake(ca: ReplConfig, cb: ReplConfig) -> (Vec<ReplEvent>, Vec<ReplEvent>) {
    let mut p = Pair::new(Node::new(ca, 0), Node::new(cb, 0), 3);
    p.max_delay_ms = 0;
    p.connect();
    run(&mut p, 50);
    (p.a.events, p.b.events)
}

#[test]
fn secrets_must_match() {
    let with = |s: Option<&[u8]>, id| ReplConfig {
        secret: s.map(|s| s.to_vec()),
        ..config(id, id, 1 << 20)
    };
    let (a, b) = handshake(with(Some(b"same"), 1), with(Some(b"same"), 2));
    assert!(matches!(a[0], ReplEvent::LinkUp { .. }) && matches!(b[0], ReplEvent::LinkUp { .. }));

    let (a, b) = handshake(with(Some(b"right"), 1), with(Some(b"wrong"), 2));
    for evs in [&a, &b] {
        assert!(
            matches!(&evs[0], ReplEvent::Close(CloseReason::HandshakeRejected(w)) if w == "wrong secret"),
            "{evs:?}"
        );
        assert!(!evs.iter().any(|e| matches!(e, ReplEvent::LinkUp { .. } | ReplEvent::Apply(..))));
    }

    let (a, _) = handshake(with(Some(b"s"), 1), with(None, 2));
    assert!(matches!(&a[0], ReplEvent::Close(CloseReason::HandshakeRejected(_))), "{a:?}");
}

#[test]
fn bad_magic_and_version_are_rejected() {
    let t0 = std::time::Instant::now();
    for (magic, version) in [(*b"XXXX", 1u16), (*b"MCRL", 99)] {
        let mut s = ReplSession::new(config(1, 1, 1 << 20));
        s.connected(t0, 0, 0);
        let hello = Frame::Hello(memcached_repl::Hello {
            magic,
            version,
            node_id: 2,
            started_unix_ms: 0,
            unix_ms: 0,
            applied_node: 0,
            applied_seq: 0,
            local_items: 0,
            nonce: [0; 16],
            auth: false,
        });
        s.receive(&hello.to_bytes(), t0, 0);
        assert!(matches!(
            s.poll_event(),
            Some(ReplEvent::Close(CloseReason::HandshakeRejected(_)))
        ));
    }
}

#[test]
fn garbage_closes_with_a_protocol_error() {
    let t0 = std::time::Instant::now();
    let mut s = ReplSession::new(config(1, 1, 1 << 20));
    s.connected(t0, 0, 0);
    s.receive(b"get foo\r\n", t0, 0);
    assert!(matches!(s.poll_event(), Some(ReplEvent::Close(CloseReason::Protocol(_)))));
    // Input after the Close is ignored, and nothing panics.
    s.receive(&[0xff; 64], t0, 0);
    assert_eq!(s.poll_event(), None);
}

#[test]
fn heartbeats_keep_a_quiet_link_up_and_silence_times_out() {
    let mut p = pair();
    let linked_at = p.ms;
    run(&mut p, 20_000);
    assert!(p.a.s.is_linked() && p.b.s.is_linked(), "pings keep the link up");
    assert!(p.a.closes.is_empty());
    assert!(p.ms - linked_at >= 20_000);
    // Stall the network: nothing delivered for longer than dead_after.
    let t = p.a.s.next_timeout().expect("a linked session has a timer");
    assert!(t <= p.now() + Duration::from_millis(1000));
    for _ in 0..60 {
        p.step(100, false);
    }
    assert!(matches!(p.a.closes.first(), Some(CloseReason::Timeout)), "{:?}", p.a.closes);
    assert!(!p.up);
}

#[test]
fn handshake_that_never_completes_times_out() {
    let t0 = std::time::Instant::now();
    let mut s = ReplSession::new(config(1, 1, 1 << 20));
    s.connected(t0, 0, 0);
    let t = s.next_timeout().unwrap();
    assert_eq!(t, t0 + Duration::from_millis(5000));
    s.handle_timeout(t - Duration::from_millis(1), 0);
    assert_eq!(s.poll_event(), None);
    s.handle_timeout(t, 0);
    assert_eq!(s.poll_event(), Some(ReplEvent::Close(CloseReason::Timeout)));
}

#[test]
fn delete_then_set_of_one_key_arrives_in_that_order() {
    let mut p = pair();
    let (now, ms) = (p.now(), p.ms);
    p.a.set(b"k", b"old", now, ms);
    run(&mut p, 50);
    let (now, ms) = (p.now(), p.ms);
    p.a.delete(b"k", now, ms);
    p.a.set(b"k", b"new", now, ms);
    p.a.flush(now, ms);
    p.a.set(b"after", b"x", now, ms);
    run(&mut p, 50);
    let ops: Vec<_> = applies_since_link_up(&p.b).into_iter().map(|(op, k, _)| (op, k)).collect();
    assert_eq!(
        ops,
        vec![
            (ChangeOp::Set, b"k".to_vec()),
            (ChangeOp::Delete, b"k".to_vec()),
            (ChangeOp::Set, b"k".to_vec()),
            (ChangeOp::FlushAll, vec![]),
            (ChangeOp::Set, b"after".to_vec()),
        ]
    );
    assert_eq!(p.a.map, p.b.map);
    assert!(p.b.map.contains_key(&b"after"[..]));
}

#[test]
fn concurrent_writes_to_one_key_converge_to_the_larger_stamp() {
    for b_later in [true, false] {
        let mut p = pair();
        let (now, ms) = (p.now(), p.ms);
        // Both write before either sees the other's change; the later wall clock wins.
        let (da, db) = if b_later { (0, 7) } else { (7, 0) };
        p.a.set(b"k", b"from-a", now, ms + da);
        p.b.set(b"k", b"from-b", now, ms + db);
        run(&mut p, 100);
        let want: &[u8] = if b_later { b"from-b" } else { b"from-a" };
        assert_eq!(p.a.map[&b"k"[..]].value, want);
        assert_eq!(p.b.map[&b"k"[..]].value, want);
        let winner = if b_later { &p.b } else { &p.a };
        assert_eq!(winner.s.stats().conflicts_local_won, 1);
    }
}

#[test]
fn a_write_newer_than_a_concurrent_peer_flush_survives_on_both() {
    let mut p = pair();
    let (now, ms) = (p.now(), p.ms);
    p.a.set(b"old", b"x", now, ms);
    run(&mut p, 50);
    let (now, ms) = (p.now(), p.ms);
    p.a.flush(now, ms);
    p.b.set(b"new", b"y", now, ms + 3);
    run(&mut p, 100);
    assert_eq!(p.a.map, p.b.map);
    assert!(p.a.map.contains_key(&b"new"[..]) && !p.a.map.contains_key(&b"old"[..]));
}

#[test]
fn lost_local_records_close_the_link_and_the_next_one_resyncs_fully() {
    let mut p = pair();
    let (now, ms) = (p.now(), p.ms);
    p.a.set(b"k", b"v", now, ms);
    run(&mut p, 50);
    // The store changed without the session seeing it.
    p.a.map.insert(b"unseen".to_vec(), common::Item { value: b"u".to_vec(), flags: 0, exptime: 0 });
    p.a.s.local_records_lost(p.now());
    assert_eq!(p.a.s.poll_event(), Some(ReplEvent::Close(CloseReason::LocalRecordsLost)));
    assert_eq!(p.a.s.stats().local_losses, 1);
    p.disconnect();
    p.settle();
    assert_eq!(last_link_up(&p.a), (ResyncKind::Full, ResyncKind::Full));
    assert_eq!(last_link_up(&p.b), (ResyncKind::Full, ResyncKind::Full));
    assert_eq!(p.a.map, p.b.map);
    assert!(p.b.map.contains_key(&b"unseen"[..]));
    // Lost while disconnected: the same at the next link.
    p.disconnect();
    p.a.s.local_records_lost(p.now());
    p.settle();
    assert_eq!(last_link_up(&p.a).0, ResyncKind::Full);
    // And a later reconnect needs nothing more.
    p.disconnect();
    p.settle();
    assert_eq!(last_link_up(&p.a), (ResyncKind::None, ResyncKind::None));
}

#[test]
fn unwritten_output_over_the_limit_closes_with_backpressure() {
    let cfg = |id| ReplConfig { max_output_bytes: 4096, ..config(id, id, 1 << 20) };
    let mut p = pair_with(cfg(1), cfg(2));
    let now = p.now();
    // The driver stops writing: output piles up in the session.
    for i in 0..100u32 {
        let rec = common::record(
            ChangeOp::Set,
            format!("k{i}").as_bytes(),
            Some(&common::Item { value: vec![0; 100], flags: 0, exptime: 0 }),
        );
        p.a.s.record_local(rec, now, common::UNIX_BASE_MS);
    }
    assert!(p.a.s.wants_backpressure());
    assert_eq!(p.a.s.poll_event(), Some(ReplEvent::Close(CloseReason::Backpressure)));
    // The backlog is kept: after a reconnect the peer gets the changes by partial resync.
    p.disconnect();
    p.settle();
    assert_eq!(last_link_up(&p.a).0, ResyncKind::Partial { changes: 100 });
    assert_eq!(p.b.map.len(), 100);
}

#[test]
fn a_link_starting_with_a_full_backlog_still_resyncs_partially_under_new_writes() {
    let mut p = pair_with(config(0xA, 1_000, 2_000), config(0xB, 2_000, 2_000));
    p.disconnect();
    let (now, ms) = (p.now(), p.ms);
    for i in 0..14 {
        p.a.set(format!("k{i:02}").as_bytes(), b"0123456789", now, ms);
    }
    assert!(p.a.s.stats().backlog_bytes > 1_500);
    assert_eq!(p.a.s.stats().backlog_changes, 14, "nothing trimmed yet");
    p.connect();
    while !p.a.s.is_linked() {
        p.step(1, true);
    }
    // New writes arrive before the peer acked the resend: over the budget, under twice it.
    let (now, ms) = (p.now(), p.ms);
    for i in 0..8 {
        p.a.set(format!("new{i}").as_bytes(), b"0123456789", now, ms);
    }
    assert!(p.a.s.stats().backlog_bytes > 2_000);
    p.settle();
    assert!(p.a.closes.is_empty(), "{:?}", p.a.closes);
    assert_eq!(last_link_up(&p.a).0, ResyncKind::Partial { changes: 14 });
    assert_eq!(p.a.map, p.b.map);
    assert_eq!(p.b.map.len(), 22);
}

#[test]
fn a_peer_flush_is_applied_with_cas_0_and_values_below_a_flush_horizon_get_a_fresh_cas() {
    let mut p = pair();
    let (now, ms) = (p.now(), p.ms);
    let item = |v: &[u8], cas| {
        let mut r = common::record(
            ChangeOp::Set,
            b"k",
            Some(&common::Item { value: v.to_vec(), flags: 0, exptime: 0 }),
        );
        r.cas = cas;
        r
    };
    // A local flush with horizon 100 on A, then values from B with CAS below and above it.
    let mut flush = common::record(ChangeOp::FlushAll, b"", None);
    flush.cas = 100;
    p.a.s.record_local(flush, now, common::UNIX_BASE_MS + ms);
    run(&mut p, 50);
    let (now, ms) = (p.now(), p.ms);
    p.b.s.record_local(item(b"low", 50), now, common::UNIX_BASE_MS + ms + 10);
    p.b.s.record_local(item(b"high", 150), now, common::UNIX_BASE_MS + ms + 11);
    run(&mut p, 50);
    let cas_on = |n: &Node, op: ChangeOp| -> Vec<u64> {
        n.events
            .iter()
            .filter_map(|e| match e {
                ReplEvent::Apply(r, _) if r.op == op => Some(r.cas),
                _ => None,
            })
            .collect()
    };
    assert_eq!(cas_on(&p.b, ChangeOp::FlushAll), vec![0], "B flushes everything it holds");
    assert_eq!(cas_on(&p.a, ChangeOp::Set), vec![0, 150], "below A's horizon: fresh CAS");
}
