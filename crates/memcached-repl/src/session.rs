//! [`ReplSession`]: the state machine of one replication link (one per process; connections
//! come and go, the backlog and the applied-from-peer position stay).
//!
//! ```text
//!             connected()                 Hello ok [+ Auth ok] + Resync received
//!   Idle ───────────────────> Handshake ─────────────────────────────────────> Linked
//!    ^                            │ bad magic/version, self, secret                │
//!    │ disconnected()             v                                               │
//!    └──────────────────────── Closing <─── protocol error, timeout, backpressure ─┘
//!                         (Close event emitted; input ignored until disconnected())
//! ```
//!
//! Why snapshot items need no stamp: the link is FIFO in both directions and an Ack is queued at
//! the end of the `receive` call that processed the acked changes, before the driver can read
//! any further item from its store. So when an item for key K reaches us while our write of K
//! is still unacked, the peer read that item before it processed our write: the peer will apply
//! our write (or send us a newer one), and the item must be dropped. The same holds for an item
//! that arrives while our flush_all is unacked: the peer will flush it.
//!
//! Back-pressure: when more than `max_output_bytes` wait to be written the session asks to
//! close (`Close(Backpressure)`). Nothing is lost on our side: the backlog still holds every
//! change the peer has not acked (up to `backlog_bytes`), so the next link resyncs partially if
//! the backlog still reaches back to what the peer applied, and fully otherwise. A snapshot that
//! was cut short leaves the peer "incomplete", which forces a full resync next time.

use std::collections::VecDeque;
use std::hash::{BuildHasher, RandomState};
use std::time::Instant;

use crate::auth;
use crate::backlog::{Backlog, Entry, InFlight};
use crate::frame::{self, Frame, Hello, SnapshotMode, MAGIC, VERSION};
use crate::{
    ApplyMode, ChangeOp, ChangeRecord, CloseReason, ReplConfig, ReplEvent, ReplStats, ResyncKind,
    Stamp,
};

/// Output above this makes [`ReplSession::wants_backpressure`] true (at most).
const SNAPSHOT_PAUSE_BYTES: usize = 4 << 20;

/// What we last applied from a peer.
#[derive(Debug, Clone, Copy, Default)]
struct AppliedFrom {
    node: u64,
    seq: u64,
    /// False while a snapshot from that peer is incomplete (a cut snapshot means Full again).
    complete: bool,
}

/// Our snapshot towards the peer, in progress.
#[derive(Debug)]
struct SnapshotOut {
    mode: SnapshotMode,
    items: u64,
    /// Local records were lost during this walk: walk again after `snapshot_end`.
    restart: bool,
}

/// The peer's snapshot towards us, in progress.
#[derive(Debug)]
struct SnapshotIn {
    mode: SnapshotMode,
    items: u64,
}

/// Per-connection state.
#[derive(Debug)]
struct Conn {
    last_recv: Instant,
    last_sent: Instant,
    nonce: [u8; 16],
    /// What our Hello claimed we applied from the peer.
    claimed: AppliedFrom,
    peer: Option<Hello>,
    peer_auth_ok: bool,
    peer_resync: Option<ResyncKind>,
    linked: bool,
    closing: bool,
    /// Highest change seq received on this link.
    last_received: u64,
    last_ack_sent: u64,
    /// Highest seq we sent (or covered by a snapshot) on this link.
    sent_seq: u64,
    snap_out: Option<SnapshotOut>,
    snap_in: Option<SnapshotIn>,
}

/// The replication session (see the module doc).
#[derive(Debug)]
pub struct ReplSession {
    cfg: ReplConfig,
    /// Hybrid logical clock: last stamp clock handed out or seen.
    hlc: u64,
    /// Last seq assigned (changes and lost-record holes).
    last_seq: u64,
    /// A peer that applied less than this missed lost records: it needs a full copy.
    lost_hole: u64,
    /// Highest seq the peer acked.
    acked: u64,
    backlog: Backlog,
    inflight: InFlight,
    applied: AppliedFrom,
    conn: Option<Conn>,
    out: Vec<u8>,
    out_start: usize,
    in_buf: Vec<u8>,
    events: VecDeque<ReplEvent>,
    stats: ReplStats,
    nonce_seed: u64,
    connections: u64,
}

impl ReplSession {
    /// A session with no connection yet.
    pub fn new(config: ReplConfig) -> Self {
        ReplSession {
            cfg: config,
            hlc: 0,
            last_seq: 0,
            lost_hole: 0,
            acked: 0,
            backlog: Backlog::default(),
            inflight: InFlight::new(),
            applied: AppliedFrom::default(),
            conn: None,
            out: Vec::new(),
            out_start: 0,
            in_buf: Vec::new(),
            events: VecDeque::new(),
            stats: ReplStats::default(),
            nonce_seed: RandomState::new().hash_one(0x6d63_7265_706cu64),
            connections: 0,
        }
    }

    /// This node's id.
    pub fn node_id(&self) -> u64 {
        self.cfg.node_id
    }

    /// The configuration.
    pub fn config(&self) -> &ReplConfig {
        &self.cfg
    }

    fn tick(&mut self, unix_ms: u64) -> Stamp {
        let phys = unix_ms << 16;
        self.hlc = if phys > self.hlc { phys } else { self.hlc + 1 };
        Stamp { clock: self.hlc, node: self.cfg.node_id }
    }

    fn linked_conn(&mut self) -> Option<&mut Conn> {
        self.conn.as_mut().filter(|c| c.linked && !c.closing)
    }

    /// A change from the local store's feed, in feed order. Stamped here (HLC from `unix_ms`),
    /// kept in the backlog until the peer acks it, and sent now if the link is up.
    pub fn record_local(&mut self, change: ChangeRecord, now: Instant, unix_ms: u64) {
        let stamp = self.tick(unix_ms);
        self.last_seq += 1;
        let seq = self.last_seq;
        self.inflight.note(seq, stamp, &change);
        if let Some(c) = self.conn.as_mut().filter(|c| c.linked && !c.closing) {
            frame::encode_change(&mut self.out, seq, stamp, &change);
            c.sent_seq = seq;
            c.last_sent = now;
            self.stats.changes_sent += 1;
        }
        self.backlog.push(Entry { seq, stamp, record: change });
        self.trim_by_size();
        self.check_output();
    }

    fn trim_by_size(&mut self) {
        while self.backlog.bytes() > self.cfg.backlog_bytes {
            match self.backlog.pop_front() {
                Some(e) => self.inflight.forget(&e),
                None => break,
            }
        }
    }

    /// The local feed dropped records: the peer needs a full copy (now if linked, else at the
    /// next link).
    pub fn local_records_lost(&mut self, now: Instant) {
        self.stats.local_losses += 1;
        self.last_seq += 1;
        self.lost_hole = self.last_seq;
        let last_seq = self.last_seq;
        let Some(c) = self.linked_conn() else { return };
        c.last_sent = now;
        match c.snap_out.as_mut() {
            Some(s) => s.restart = true,
            None => {
                c.snap_out =
                    Some(SnapshotOut { mode: SnapshotMode::Replace, items: 0, restart: false });
                c.sent_seq = last_seq;
                Frame::SnapshotBegin { mode: SnapshotMode::Replace, base_seq: last_seq }
                    .encode(&mut self.out);
                self.stats.full_resyncs_sent += 1;
                self.events.push_back(ReplEvent::SnapshotRequested);
            }
        }
    }

    /// A transport connected (dialed or accepted). Queues our Hello. `local_items` = items in
    /// the local store now (0 = empty store, which makes overwriting it safe).
    pub fn connected(&mut self, now: Instant, unix_ms: u64, local_items: u64) {
        if self.conn.is_some() {
            self.disconnected(now);
        }
        self.connections += 1;
        let nonce = auth::nonce(self.nonce_seed, self.cfg.node_id, unix_ms, self.connections);
        let claimed = if self.applied.complete { self.applied } else { AppliedFrom::default() };
        Frame::Hello(Hello {
            magic: MAGIC,
            version: VERSION,
            node_id: self.cfg.node_id,
            started_unix_ms: self.cfg.started_unix_ms,
            unix_ms,
            applied_node: claimed.node,
            applied_seq: claimed.seq,
            local_items,
            nonce,
            auth: self.cfg.secret.is_some(),
        })
        .encode(&mut self.out);
        self.conn = Some(Conn {
            last_recv: now,
            last_sent: now,
            nonce,
            claimed,
            peer: None,
            peer_auth_ok: false,
            peer_resync: None,
            linked: false,
            closing: false,
            last_received: 0,
            last_ack_sent: 0,
            sent_seq: 0,
            snap_out: None,
            snap_in: None,
        });
    }

    /// The transport closed (either side, any reason). Unsent output is discarded; the backlog
    /// is kept for a partial resync later.
    pub fn disconnected(&mut self, _now: Instant) {
        self.conn = None;
        self.out.clear();
        self.out_start = 0;
        self.in_buf.clear();
        self.stats.linked = false;
    }

    fn close(&mut self, reason: CloseReason) {
        if let Some(c) = self.conn.as_mut() {
            if !c.closing {
                c.closing = true;
                self.in_buf.clear();
                self.events.push_back(ReplEvent::Close(reason));
            }
        }
    }

    /// Closes with a reason the peer is told too (best effort: the Close frame is queued).
    fn reject(&mut self, why: &str) {
        Frame::Close { reason: why.to_string() }.encode(&mut self.out);
        self.close(CloseReason::HandshakeRejected(why.to_string()));
    }

    fn check_output(&mut self) {
        if self.pending_output().len() > self.cfg.max_output_bytes {
            self.close(CloseReason::Backpressure);
        }
    }

    /// Bytes read from the transport (any split). Never panics on hostile bytes: queues Close.
    pub fn receive(&mut self, bytes: &[u8], now: Instant, unix_ms: u64) {
        match self.conn.as_mut() {
            Some(c) if !c.closing => c.last_recv = now,
            _ => return,
        }
        self.stats.bytes_received += bytes.len() as u64;
        let mut buf = std::mem::take(&mut self.in_buf);
        if buf.is_empty() {
            let used = self.process(bytes, now, unix_ms);
            if let Some(rest) = bytes.get(used..) {
                buf.extend_from_slice(rest);
            }
        } else {
            buf.extend_from_slice(bytes);
            let used = self.process(&buf, now, unix_ms);
            buf.drain(..used.min(buf.len()));
        }
        if self.conn.as_ref().is_some_and(|c| !c.closing) {
            self.in_buf = buf;
        }
        let Some(c) = self.conn.as_mut().filter(|c| c.linked && !c.closing) else { return };
        if c.last_received > c.last_ack_sent {
            c.last_ack_sent = c.last_received;
            c.last_sent = now;
            Frame::Ack { seq: c.last_received }.encode(&mut self.out);
        }
        self.check_output();
    }

    /// Decodes and handles whole frames from `data`; returns the bytes consumed.
    fn process(&mut self, data: &[u8], now: Instant, unix_ms: u64) -> usize {
        let mut used = 0;
        while self.conn.as_ref().is_some_and(|c| !c.closing) {
            let Some(rest) = data.get(used..) else { break };
            match frame::decode(rest, self.cfg.max_frame) {
                Ok(None) => break,
                Ok(Some((f, n))) => {
                    used += n;
                    if let Err(reason) = self.handle_frame(f, now, unix_ms) {
                        self.close(reason);
                    }
                }
                Err(e) => {
                    self.close(CloseReason::Protocol(e.to_string()));
                    break;
                }
            }
        }
        used
    }

    fn handle_frame(&mut self, f: Frame, now: Instant, unix_ms: u64) -> Result<(), CloseReason> {
        let Some(c) = self.conn.as_mut() else { return Ok(()) };
        let linked = c.linked;
        match f {
            Frame::Hello(h) => self.on_hello(h, unix_ms),
            Frame::Auth { proof } => self.on_auth(proof, now),
            Frame::Resync { kind } => {
                if c.peer.is_none()
                    || c.peer_resync.is_some()
                    || (self.cfg.secret.is_some() && !c.peer_auth_ok)
                {
                    return Err(protocol("resync out of order"));
                }
                c.peer_resync = Some(kind);
                self.maybe_link_up(now);
                Ok(())
            }
            Frame::Close { .. } => Err(CloseReason::PeerClosed),
            _ if !linked => Err(protocol("data frame before the handshake finished")),
            Frame::Change { seq, stamp, record } => self.on_change(seq, stamp, record),
            Frame::SnapshotBegin { mode, base_seq } => self.on_snapshot_begin(mode, base_seq),
            Frame::SnapshotItem(rec) => self.on_snapshot_item(rec),
            Frame::SnapshotEnd { items } => self.on_snapshot_end(items),
            Frame::Ack { seq } => {
                if seq > c.sent_seq {
                    return Err(protocol("ack of a change never sent"));
                }
                self.on_ack(seq);
                Ok(())
            }
            Frame::Ping => {
                c.last_sent = now;
                Frame::Pong.encode(&mut self.out);
                Ok(())
            }
            Frame::Pong => Ok(()),
        }
    }

    fn on_hello(&mut self, h: Hello, unix_ms: u64) -> Result<(), CloseReason> {
        let Some(c) = self.conn.as_mut() else { return Ok(()) };
        if c.peer.is_some() {
            return Err(protocol("second hello"));
        }
        if h.magic != MAGIC {
            self.reject("bad magic");
            return Ok(());
        }
        if h.version != VERSION {
            self.reject(&format!("unsupported version {} (we speak {VERSION})", h.version));
            return Ok(());
        }
        if h.node_id == 0 {
            self.reject("node id 0");
            return Ok(());
        }
        if h.node_id == self.cfg.node_id {
            self.reject("connected to itself (same node id)");
            return Ok(());
        }
        if h.auth != self.cfg.secret.is_some() {
            self.reject("a secret is configured on one side only");
            return Ok(());
        }
        self.stats.clock_skew_ms = (h.unix_ms as i64).wrapping_sub(unix_ms as i64);
        if let Some(secret) = &self.cfg.secret {
            let proof = auth::proof(secret, self.cfg.node_id, h.node_id, &h.nonce);
            Frame::Auth { proof }.encode(&mut self.out);
        }
        let kind = self.decide_to_peer(&h);
        Frame::Resync { kind }.encode(&mut self.out);
        if let Some(c) = self.conn.as_mut() {
            c.peer = Some(h);
        }
        Ok(())
    }

    fn on_auth(&mut self, proof: [u8; 16], now: Instant) -> Result<(), CloseReason> {
        let Some(c) = self.conn.as_mut() else { return Ok(()) };
        let (Some(secret), Some(peer)) = (self.cfg.secret.as_ref(), c.peer.as_ref()) else {
            return Err(protocol("auth frame not expected"));
        };
        if c.peer_auth_ok {
            return Err(protocol("second auth frame"));
        }
        let want = auth::proof(secret, peer.node_id, self.cfg.node_id, &c.nonce);
        if !auth::proofs_equal(&want, &proof) {
            self.reject("wrong secret");
            return Ok(());
        }
        c.peer_auth_ok = true;
        self.maybe_link_up(now);
        Ok(())
    }

    /// What the peer needs from us, from its Hello.
    fn decide_to_peer(&self, h: &Hello) -> ResyncKind {
        let s = h.applied_seq;
        if h.applied_node != self.cfg.node_id || s > self.last_seq || s < self.lost_hole {
            return ResyncKind::Full;
        }
        if s == self.last_seq {
            return ResyncKind::None;
        }
        let first = self.backlog.front_seq().unwrap_or(self.last_seq + 1);
        if s + 1 < first {
            return ResyncKind::Full;
        }
        let changes = self.backlog.iter().filter(|e| e.seq > s).count() as u64;
        ResyncKind::Partial { changes }
    }

    fn maybe_link_up(&mut self, now: Instant) {
        let secret = self.cfg.secret.is_some();
        let Some(c) = self.conn.as_mut() else { return };
        if c.linked || c.peer.is_none() || (secret && !c.peer_auth_ok) {
            return;
        }
        let (Some(peer), Some(from_peer)) = (c.peer.clone(), c.peer_resync) else { return };
        // Recomputed: the backlog may have been trimmed since the Resync frame went out; the
        // peer accepts a SnapshotBegin at any time.
        let to_peer = self.decide_to_peer(&peer);
        let Some(c) = self.conn.as_mut() else { return };
        c.linked = true;
        c.last_sent = now;
        c.last_received = if from_peer == ResyncKind::Full { 0 } else { c.claimed.seq };
        c.last_ack_sent = c.last_received;
        let peer_items = peer.local_items;
        self.stats.links_established += 1;
        self.stats.peer_node = peer.node_id;
        self.stats.linked = true;
        self.events.push_back(ReplEvent::LinkUp {
            peer_node: peer.node_id,
            cas_lane: u8::from(self.cfg.node_id > peer.node_id),
            to_peer,
            from_peer,
            clock_skew_ms: self.stats.clock_skew_ms,
        });
        match to_peer {
            ResyncKind::Full => {
                // The snapshot covers every change so far: nothing older is sent any more, so
                // nothing older is in flight.
                self.ack_all();
                let mode = if peer_items == 0 {
                    SnapshotMode::Overwrite
                } else if from_peer == ResyncKind::Full {
                    let ours = (self.cfg.started_unix_ms, self.cfg.node_id);
                    if ours < (peer.started_unix_ms, peer.node_id) {
                        SnapshotMode::Overwrite
                    } else {
                        SnapshotMode::IfAbsent
                    }
                } else {
                    SnapshotMode::Replace
                };
                let base_seq = self.last_seq;
                if let Some(c) = self.conn.as_mut() {
                    c.sent_seq = base_seq;
                    c.snap_out = Some(SnapshotOut { mode, items: 0, restart: false });
                }
                Frame::SnapshotBegin { mode, base_seq }.encode(&mut self.out);
                self.stats.full_resyncs_sent += 1;
                self.events.push_back(ReplEvent::SnapshotRequested);
            }
            ResyncKind::None | ResyncKind::Partial { .. } => {
                self.on_ack(peer.applied_seq);
                let mut sent = 0u64;
                for e in self.backlog.iter() {
                    frame::encode_change(&mut self.out, e.seq, e.stamp, &e.record);
                    sent += 1;
                }
                if let Some(c) = self.conn.as_mut() {
                    c.sent_seq = self.last_seq;
                }
                self.stats.changes_sent += sent;
                if sent > 0 {
                    self.stats.partial_resyncs_sent += 1;
                }
            }
        }
        self.check_output();
    }

    /// The peer acked every change up to `seq`.
    fn on_ack(&mut self, seq: u64) {
        if seq <= self.acked {
            return;
        }
        self.acked = seq;
        while self.backlog.front_seq().is_some_and(|s| s <= seq) {
            if let Some(e) = self.backlog.pop_front() {
                self.inflight.forget(&e);
            }
        }
        self.inflight.acked(seq);
    }

    fn ack_all(&mut self) {
        self.on_ack(self.last_seq);
        self.inflight.clear();
    }

    /// Re-applies our in-flight writes and touches newer than `above` (and newer than our own
    /// in-flight flush, which already removed the older ones here and will remove them there).
    fn reapply_inflight(&mut self, above: Stamp) {
        let floor = match self.inflight.flush {
            Some((_, f)) if f > above => f,
            _ => above,
        };
        for seq in self.inflight.newer_than(floor) {
            if let Some(e) = self.backlog.get(seq) {
                self.events.push_back(ReplEvent::Apply(e.record.clone(), ApplyMode::Overwrite));
            }
        }
    }

    fn emit_apply(&mut self, rec: ChangeRecord, mode: ApplyMode) {
        self.stats.changes_applied += 1;
        self.events.push_back(ReplEvent::Apply(rec, mode));
    }

    fn on_change(&mut self, seq: u64, stamp: Stamp, rec: ChangeRecord) -> Result<(), CloseReason> {
        let peer_node = self.stats.peer_node;
        let Some(c) = self.conn.as_mut() else { return Ok(()) };
        if seq <= c.last_received {
            return Err(protocol("change sequence went backwards"));
        }
        c.last_received = seq;
        if c.snap_in.is_none() {
            self.applied = AppliedFrom { node: peer_node, seq, complete: true };
        }
        self.stats.changes_received += 1;
        self.hlc = self.hlc.max(stamp.clock);
        let flush = self.inflight.flush.map(|(_, f)| f);
        if flush.is_some_and(|f| f > stamp) {
            // Our newer flush will remove it on the peer too.
            self.stats.conflicts_local_won += 1;
            return Ok(());
        }
        if rec.op == ChangeOp::FlushAll {
            self.emit_apply(rec, ApplyMode::Overwrite);
            self.reapply_inflight(stamp);
            return Ok(());
        }
        let slot = self.inflight.lookup(&rec.key, &self.backlog);
        let newer = |part: Option<(u64, Stamp)>| part.is_some_and(|(_, s)| s > stamp);
        let lost = if rec.op == ChangeOp::Touch {
            newer(slot.write) || newer(slot.touch)
        } else {
            newer(slot.write)
        };
        if lost {
            self.stats.conflicts_local_won += 1;
            return Ok(());
        }
        self.emit_apply(rec, ApplyMode::Overwrite);
        if let Some((tseq, _)) = slot.touch.filter(|_| newer(slot.touch)) {
            if let Some(e) = self.backlog.get(tseq) {
                self.events.push_back(ReplEvent::Apply(e.record.clone(), ApplyMode::Overwrite));
            }
        }
        Ok(())
    }

    fn on_snapshot_begin(&mut self, mode: SnapshotMode, base: u64) -> Result<(), CloseReason> {
        let Some(c) = self.conn.as_mut() else { return Ok(()) };
        if base < c.last_received {
            return Err(protocol("snapshot base behind changes already received"));
        }
        c.last_received = base;
        c.snap_in = Some(SnapshotIn { mode, items: 0 });
        self.applied.complete = false;
        if mode == SnapshotMode::Replace {
            let flush = ChangeRecord {
                op: ChangeOp::FlushAll,
                key: Vec::new(),
                flags: 0,
                exptime: 0,
                value: Vec::new(),
                cas: 0,
                version: 0,
                time: 0,
                key_binary: false,
            };
            self.events.push_back(ReplEvent::Apply(flush, ApplyMode::Overwrite));
            self.reapply_inflight(Stamp::default());
        }
        Ok(())
    }

    fn on_snapshot_item(&mut self, rec: ChangeRecord) -> Result<(), CloseReason> {
        let Some(c) = self.conn.as_mut() else { return Ok(()) };
        let Some(snap) = c.snap_in.as_mut() else {
            return Err(protocol("snapshot item outside a snapshot"));
        };
        snap.items += 1;
        let mode = if snap.mode == SnapshotMode::IfAbsent {
            ApplyMode::IfAbsent
        } else {
            ApplyMode::Overwrite
        };
        self.stats.snapshot_items_received += 1;
        if self.inflight.flush.is_some() {
            self.stats.conflicts_local_won += 1;
            return Ok(());
        }
        let slot = self.inflight.lookup(&rec.key, &self.backlog);
        if slot.write.is_some() {
            self.stats.conflicts_local_won += 1;
            return Ok(());
        }
        self.emit_apply(rec, mode);
        if let Some(e) = slot.touch.and_then(|(seq, _)| self.backlog.get(seq)) {
            self.events.push_back(ReplEvent::Apply(e.record.clone(), ApplyMode::Overwrite));
        }
        Ok(())
    }

    fn on_snapshot_end(&mut self, items: u64) -> Result<(), CloseReason> {
        let peer_node = self.stats.peer_node;
        let Some(c) = self.conn.as_mut() else { return Ok(()) };
        let Some(snap) = c.snap_in.take() else {
            return Err(protocol("snapshot end outside a snapshot"));
        };
        if snap.items != items {
            return Err(protocol("snapshot item count mismatch"));
        }
        self.applied = AppliedFrom { node: peer_node, seq: c.last_received, complete: true };
        Ok(())
    }

    /// Next event for the driver.
    pub fn poll_event(&mut self) -> Option<ReplEvent> {
        self.events.pop_front()
    }

    /// Bytes to write now (empty slice if none). Then `consume_output(n)` with what was written.
    pub fn pending_output(&self) -> &[u8] {
        self.out.get(self.out_start..).unwrap_or(&[])
    }

    /// `n` bytes of [`pending_output`](Self::pending_output) were written.
    pub fn consume_output(&mut self, n: usize) {
        let n = n.min(self.out.len() - self.out_start);
        self.out_start += n;
        self.stats.bytes_sent += n as u64;
        if self.out_start == self.out.len() {
            self.out.clear();
            self.out_start = 0;
        } else if self.out_start > self.out.len() / 2 && self.out_start > 64 << 10 {
            self.out.drain(..self.out_start);
            self.out_start = 0;
        }
    }

    /// One live local item for the snapshot the peer asked for (`ReplEvent::SnapshotRequested`):
    /// op Set, its flags, absolute exptime, cas, value and key_binary. Ignored when no snapshot
    /// is in progress (the link dropped meanwhile).
    pub fn snapshot_item(&mut self, item: ChangeRecord, now: Instant, _unix_ms: u64) {
        let Some(c) = self.conn.as_mut().filter(|c| c.linked && !c.closing) else { return };
        let Some(s) = c.snap_out.as_mut() else { return };
        s.items += 1;
        c.last_sent = now;
        frame::encode_item(&mut self.out, &item);
        self.stats.snapshot_items_sent += 1;
        self.check_output();
    }

    /// The snapshot walk is done.
    pub fn snapshot_end(&mut self, now: Instant) {
        let last_seq = self.last_seq;
        let Some(c) = self.conn.as_mut().filter(|c| c.linked && !c.closing) else { return };
        let Some(s) = c.snap_out.as_mut() else { return };
        c.last_sent = now;
        if s.restart {
            // Records were lost during the walk: the peer stays "incomplete" and we walk again.
            s.restart = false;
            s.items = 0;
            c.sent_seq = last_seq;
            Frame::SnapshotBegin { mode: s.mode, base_seq: last_seq }.encode(&mut self.out);
            self.stats.full_resyncs_sent += 1;
            self.events.push_back(ReplEvent::SnapshotRequested);
        } else {
            let items = s.items;
            c.snap_out = None;
            Frame::SnapshotEnd { items }.encode(&mut self.out);
        }
    }

    /// Whether the driver should pause reading more snapshot items (output above ~4 MiB).
    pub fn wants_backpressure(&self) -> bool {
        let limit = SNAPSHOT_PAUSE_BYTES.min(self.cfg.max_output_bytes / 4).max(1);
        self.pending_output().len() >= limit
    }

    /// When `handle_timeout` must be called next (None: no connection).
    pub fn next_timeout(&self) -> Option<Instant> {
        let c = self.conn.as_ref().filter(|c| !c.closing)?;
        let dead = c.last_recv + self.cfg.dead_after;
        if c.linked {
            Some(dead.min(c.last_sent + self.cfg.heartbeat))
        } else {
            Some(dead)
        }
    }

    /// Timers: `Close(Timeout)` after `dead_after` of silence from the peer (also during the
    /// handshake); a Ping after `heartbeat` of silence from us.
    pub fn handle_timeout(&mut self, now: Instant, _unix_ms: u64) {
        let Some(c) = self.conn.as_mut().filter(|c| !c.closing) else { return };
        if now >= c.last_recv + self.cfg.dead_after {
            self.close(CloseReason::Timeout);
            return;
        }
        if c.linked && now >= c.last_sent + self.cfg.heartbeat {
            c.last_sent = now;
            Frame::Ping.encode(&mut self.out);
        }
    }

    /// Handshake done and link usable.
    pub fn is_linked(&self) -> bool {
        self.conn.as_ref().is_some_and(|c| c.linked && !c.closing)
    }

    /// Whether our snapshot towards the peer is being streamed.
    pub fn snapshot_in_progress(&self) -> bool {
        self.conn.as_ref().is_some_and(|c| c.snap_out.is_some())
    }

    /// Counters and gauges.
    pub fn stats(&self) -> ReplStats {
        let mut s = self.stats.clone();
        s.linked = self.is_linked();
        s.backlog_changes = self.backlog.len() as u64;
        s.backlog_bytes = self.backlog.bytes() as u64;
        s.unacked_changes = self.backlog.len() as u64;
        s
    }

    /// Keys with a local write or touch not acked by the peer (for tests and stats).
    pub fn in_flight_keys(&self) -> usize {
        self.inflight.len()
    }
}

fn protocol(what: &str) -> CloseReason {
    CloseReason::Protocol(what.to_string())
}
