//! [`ReplSession`]: the state machine of one replication link (one per process; connections
//! come and go, the backlog and the applied-from-peer position stay).
//!
//! ```text
//!             connected()                 Hello ok [+ Auth ok] + Resync received
//!   Idle ───────────────────> Handshake ─────────────────────────────────────> Linked
//!    ^                            │ bad magic/version, self, secret                │
//!    │ disconnected()             v                                               │
//!    └──────────────────────── Closing <─── protocol error, timeout, backpressure, ─┘
//!                         (Close event emitted;    local records lost, peer Close
//!                          input ignored until disconnected())
//! ```
//!
//! Per direction, what the receiver last applied completely (peer node id, seq) survives the
//! connection and goes into the next Hello; during a snapshot it is "nothing" until
//! SnapshotEnd, so a snapshot cut short is redone.
//!
//! After a reconnect with partial resyncs, our in-flight map must keep protecting our writes
//! that the peer applied but never acked until the peer's own resend (changes it made before
//! it applied ours) has come in: only then is the seq from its Hello taken as an ack
//! (`deferred_ack`).
//!
//! Why snapshot items need no stamp: the link is FIFO in both directions and an Ack is queued
//! only when the driver has taken every event (`poll_event` returned `None`), i.e. after it
//! applied the acked changes to its store. So when an item for key K reaches us while our write
//! of K is still unacked, the peer read that item before it was done applying our write: the
//! peer ends with our write (or a newer one of its own, which it sends us), and the item must be
//! dropped. The same holds for an item that arrives while our flush_all is unacked: the peer
//! will flush it.
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
    ChangeOp, ChangeRecord, CloseReason, ReplConfig, ReplEvent, ReplStats, ResyncKind, Stamp,
};

mod conflicts;

/// Finished records kept for reuse at most (the rest are freed).
const MAX_SPENT: usize = 1024;

/// Output above this makes [`ReplSession::wants_backpressure`] true (at most).
const SNAPSHOT_PAUSE_BYTES: usize = 4 << 20;

/// How far above the highest CAS the session has seen the store's next CAS can be when a
/// peer flush_all is applied: local writes still in the feed queue (64 Ki records in the
/// server) times the CAS step of shards and lanes, with room to spare.
const FLUSH_CAS_MARGIN: u64 = 1 << 24;

/// Output buffer capacity kept after a burst.
const KEEP_BUFFER_BYTES: usize = 1 << 20;

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
    items: u64,
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
    /// What our Resync frame told the peer.
    to_peer: Option<ResyncKind>,
    linked: bool,
    closing: bool,
    /// Highest change seq received on this link.
    last_received: u64,
    last_ack_sent: u64,
    /// Highest seq we sent (or covered by a snapshot) on this link.
    sent_seq: u64,
    snap_out: Option<SnapshotOut>,
    snap_in: Option<SnapshotIn>,
    /// After a reconnect: (seq the peer applied, peer changes still to come in its partial
    /// resend). The ack of that seq waits for the resend: acking at once would drop the
    /// protection of our writes against the peer's older writes it is about to resend.
    deferred_ack: Option<(u64, u64)>,
    /// The peer's snapshot is due on this link (both directions full) and has not begun.
    snapshot_due: bool,
    /// Bytes of the partial resend not written yet: allowed on top of `max_output_bytes`
    /// (the resend is bounded by `backlog_bytes`; counting it would close every reconnect
    /// after a long enough break).
    resend_unwritten: usize,
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
    /// Unacked backlog entries were trimmed: both directions resync fully next time.
    protection_lost: bool,
    backlog: Backlog,
    inflight: InFlight,
    applied: AppliedFrom,
    conn: Option<Conn>,
    out: Vec<u8>,
    out_start: usize,
    in_buf: Vec<u8>,
    events: VecDeque<ReplEvent>,
    /// Records of backlog entries that are done (acked or trimmed), for the driver to reuse.
    spent: Vec<ChangeRecord>,
    stats: ReplStats,
    nonce_seed: u64,
    connections: u64,
    /// Highest CAS horizon of a flush_all applied to the local store (local or from the peer;
    /// for the peer's an upper bound).
    flush_horizon: u64,
    /// Highest CAS of any record recorded or applied here.
    max_cas_seen: u64,
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
            protection_lost: false,
            backlog: Backlog::default(),
            inflight: InFlight::new(),
            applied: AppliedFrom::default(),
            conn: None,
            out: Vec::new(),
            out_start: 0,
            in_buf: Vec::new(),
            events: VecDeque::new(),
            spent: Vec::new(),
            stats: ReplStats::default(),
            nonce_seed: RandomState::new().hash_one(0x6d63_7265_706cu64),
            connections: 0,
            flush_horizon: 0,
            max_cas_seen: 0,
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

    /// The stamp the last `record_local` gave its change (the HLC's current value).
    pub fn last_stamp(&self) -> Stamp {
        Stamp { clock: self.hlc, node: self.cfg.node_id }
    }

    fn tick(&mut self, unix_ms: u64) -> Stamp {
        let phys = unix_ms << 16;
        self.hlc = if phys > self.hlc { phys } else { self.hlc + 1 };
        Stamp { clock: self.hlc, node: self.cfg.node_id }
    }

    /// A change from the local store's feed, in feed order. Stamped here (HLC from `unix_ms`),
    /// kept in the backlog until the peer acks it, and sent now if the link is up.
    pub fn record_local(&mut self, change: ChangeRecord, now: Instant, unix_ms: u64) {
        let stamp = self.tick(unix_ms);
        if change.op == ChangeOp::FlushAll {
            self.flush_horizon = self.flush_horizon.max(change.cas);
        } else {
            self.max_cas_seen = self.max_cas_seen.max(change.cas);
        }
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

    /// Keeps the backlog within `backlog_bytes`. Every entry in it is unacked, and conflict
    /// resolution needs it (key check, re-apply after a peer flush) for as long as the peer may
    /// still send changes older than it. So while a connection exists nothing is trimmed, and
    /// a backlog over twice the budget closes it (`Close(Backpressure)`: a peer that far behind
    /// is cut off; the headroom lets a link that starts with a full backlog after a partition
    /// resync partially while new writes come in). Without a connection the oldest entries go
    /// down to the budget, and since the peer may have applied them unacked, their protection
    /// is gone: the next link is a full resync both ways (`protection_lost`).
    fn trim_by_size(&mut self) {
        if self.backlog.bytes() <= self.cfg.backlog_bytes {
            return;
        }
        if self.conn.is_some() {
            if self.backlog.bytes() > self.cfg.backlog_bytes.saturating_mul(2) {
                self.close(CloseReason::Backpressure);
            }
            return;
        }
        while self.backlog.bytes() > self.cfg.backlog_bytes {
            match self.backlog.pop_front() {
                Some(e) => {
                    self.inflight.forget(&e);
                    self.protection_lost = true;
                    self.spend(e.record);
                }
                None => break,
            }
        }
    }

    /// The local feed dropped records: the peer needs a full copy. With a connection, it is
    /// closed (`Close(LocalRecordsLost)`); the next link resyncs fully in both directions.
    ///
    /// Why not a snapshot on the open link: while the peer may be sending changes or its own
    /// snapshot, a one-way "replace" either wipes what the peer has not delivered yet or, with
    /// two of them crossing, swaps the stores; the two-way full resync of a new link is the
    /// one merge both sides carry out by the same rule.
    pub fn local_records_lost(&mut self, _now: Instant) {
        self.stats.local_losses += 1;
        self.last_seq += 1;
        self.lost_hole = self.last_seq;
        self.close(CloseReason::LocalRecordsLost);
    }

    /// Queues a SnapshotBegin with a fresh seq and asks the driver for the items.
    fn start_snapshot(&mut self, mode: SnapshotMode) {
        self.last_seq += 1;
        let base_seq = self.last_seq;
        let Some(c) = self.conn.as_mut() else { return };
        c.sent_seq = base_seq;
        c.snap_out = Some(SnapshotOut { items: 0 });
        Frame::SnapshotBegin { mode, base_seq }.encode(&mut self.out);
        self.stats.full_resyncs_sent += 1;
        self.events.push_back(ReplEvent::SnapshotRequested);
    }

    /// A transport connected (dialed or accepted). Queues our Hello. `local_items` = items in
    /// the local store now (carried in the Hello for the peer's logs; the resync rules do not
    /// depend on it, since writes keep coming during the handshake).
    pub fn connected(&mut self, now: Instant, unix_ms: u64, local_items: u64) {
        if self.conn.is_some() {
            self.disconnected(now);
        }
        self.connections += 1;
        let nonce = auth::nonce(self.nonce_seed, self.cfg.node_id, unix_ms, self.connections);
        // Claiming nothing makes the peer send a full copy too (see `trim_by_size`).
        let claimed = if self.applied.complete && !self.protection_lost {
            self.applied
        } else {
            AppliedFrom::default()
        };
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
            to_peer: None,
            linked: false,
            closing: false,
            last_received: 0,
            last_ack_sent: 0,
            sent_seq: 0,
            snap_out: None,
            snap_in: None,
            deferred_ack: None,
            snapshot_due: false,
            resend_unwritten: 0,
        });
    }

    /// The transport closed (either side, any reason). Unsent output is discarded; the backlog
    /// is kept for a partial resync later.
    pub fn disconnected(&mut self, _now: Instant) {
        self.conn = None;
        self.trim_by_size();
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
        let allowance = self.conn.as_ref().map_or(0, |c| c.resend_unwritten);
        if self.pending_output().len() > self.cfg.max_output_bytes.saturating_add(allowance) {
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
        self.check_output();
    }

    /// Queues an Ack for what was received, once the driver has taken every event (so every
    /// Apply was carried out and a snapshot item read after this point includes them).
    fn ack_if_due(&mut self) {
        let Some(c) = self.conn.as_mut().filter(|c| c.linked && !c.closing) else { return };
        if c.last_received > c.last_ack_sent {
            c.last_ack_sent = c.last_received;
            Frame::Ack { seq: c.last_received }.encode(&mut self.out);
        }
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
            c.to_peer = Some(kind);
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
        if h.applied_node != self.cfg.node_id
            || s > self.last_seq
            || s < self.lost_hole
            || self.protection_lost
        {
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
        let (Some(peer), Some(told_peer), Some(peer_told)) =
            (c.peer.clone(), c.to_peer, c.peer_resync)
        else {
            return;
        };
        // A full copy in either direction makes both directions full: partial resends after a
        // full copy cannot be resolved against snapshot items (which carry no stamps), while
        // two snapshots exchanged at link-up merge deterministically (older node wins common
        // keys, keys on one side only are copied).
        let (to_peer, from_peer) = if told_peer == ResyncKind::Full || peer_told == ResyncKind::Full
        {
            (ResyncKind::Full, ResyncKind::Full)
        } else {
            (told_peer, peer_told)
        };
        c.linked = true;
        c.last_sent = now;
        c.snapshot_due = from_peer == ResyncKind::Full;
        c.last_received = if from_peer == ResyncKind::Full { 0 } else { c.claimed.seq };
        c.last_ack_sent = c.last_received;
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
                // nothing older is in flight (the peer clears its side the same way).
                self.ack_all();
                let ours = (self.cfg.started_unix_ms, self.cfg.node_id);
                let mode = if ours < (peer.started_unix_ms, peer.node_id) {
                    SnapshotMode::Overwrite
                } else {
                    SnapshotMode::IfAbsent
                };
                self.start_snapshot(mode);
            }
            ResyncKind::None | ResyncKind::Partial { .. } => {
                // What the peer applied is acked only after its own resend reached us: those
                // are changes it made before it applied ours, and our in-flight entries must
                // still protect against the older ones among them (see `deferred_ack`).
                match from_peer {
                    ResyncKind::Partial { changes } if changes > 0 => {
                        if let Some(c) = self.conn.as_mut() {
                            c.deferred_ack = Some((peer.applied_seq, changes));
                        }
                    }
                    _ => self.on_ack(peer.applied_seq),
                }
                let mut sent = 0u64;
                let before = self.out.len();
                for e in self.backlog.iter().filter(|e| e.seq > peer.applied_seq) {
                    frame::encode_change(&mut self.out, e.seq, e.stamp, &e.record);
                    sent += 1;
                }
                let resent = self.out.len() - before;
                if let Some(c) = self.conn.as_mut() {
                    c.sent_seq = self.last_seq;
                    c.resend_unwritten = resent;
                }
                self.stats.changes_sent += sent;
                if sent > 0 {
                    self.stats.partial_resyncs_sent += 1;
                }
            }
        }
        self.check_output();
    }

    /// Keeps a finished record for [`take_spent`](Self::take_spent) (a bounded number).
    fn spend(&mut self, record: ChangeRecord) {
        if self.spent.len() < MAX_SPENT {
            self.spent.push(record);
        }
    }

    /// A record the session no longer needs (its change was acked or trimmed), so the driver
    /// can hand its buffers back to the store's feed instead of freeing them.
    pub fn take_spent(&mut self) -> Option<ChangeRecord> {
        self.spent.pop()
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
                self.spend(e.record);
            }
        }
        self.inflight.acked(seq);
    }

    fn ack_all(&mut self) {
        self.on_ack(self.last_seq);
        self.inflight.clear();
        self.protection_lost = false;
    }

    fn on_change(&mut self, seq: u64, stamp: Stamp, rec: ChangeRecord) -> Result<(), CloseReason> {
        self.resolve_change(seq, stamp, rec)?;
        let due = self.conn.as_mut().and_then(|c| match c.deferred_ack {
            Some((acked, 0)) => {
                c.deferred_ack = None;
                Some(acked)
            }
            _ => None,
        });
        if let Some(acked) = due {
            self.on_ack(acked);
        }
        Ok(())
    }

    fn on_snapshot_begin(&mut self, mode: SnapshotMode, base: u64) -> Result<(), CloseReason> {
        let Some(c) = self.conn.as_mut() else { return Ok(()) };
        if !c.snapshot_due {
            return Err(protocol("snapshot not announced by the resync"));
        }
        if base < c.last_received {
            return Err(protocol("snapshot base behind changes already received"));
        }
        c.snapshot_due = false;
        c.last_received = base;
        c.snap_in = Some(SnapshotIn { mode, items: 0 });
        self.applied.complete = false;
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
    ///
    /// Take events until `None` and carry each one out before taking the next: the Ack for
    /// received changes is queued when the queue runs empty, and the conflict rules rely on it
    /// being queued after those changes were applied to the store.
    pub fn poll_event(&mut self) -> Option<ReplEvent> {
        let ev = self.events.pop_front();
        if ev.is_none() {
            self.ack_if_due();
        }
        ev
    }

    /// Bytes to write now (empty slice if none). Then `consume_output(n)` with what was written.
    pub fn pending_output(&self) -> &[u8] {
        self.out.get(self.out_start..).unwrap_or(&[])
    }

    /// `n` bytes of [`pending_output`](Self::pending_output) were written.
    pub fn consume_output(&mut self, n: usize) {
        let n = n.min(self.out.len() - self.out_start);
        self.out_start += n;
        if let Some(c) = self.conn.as_mut() {
            c.resend_unwritten = c.resend_unwritten.saturating_sub(n);
        }
        self.stats.bytes_sent += n as u64;
        if self.out_start == self.out.len() {
            self.out.clear();
            self.out_start = 0;
            if self.out.capacity() > KEEP_BUFFER_BYTES * 8 {
                // A snapshot or resend burst is over: do not keep its peak forever.
                self.out.shrink_to(KEEP_BUFFER_BYTES);
            }
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
        let Some(c) = self.conn.as_mut().filter(|c| c.linked && !c.closing) else { return };
        let Some(s) = c.snap_out.as_mut() else { return };
        c.last_sent = now;
        let items = s.items;
        c.snap_out = None;
        Frame::SnapshotEnd { items }.encode(&mut self.out);
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

    /// The seq of the newest local change recorded: a point to pass to
    /// [`local_change_after`](Self::local_change_after).
    pub fn last_seq(&self) -> u64 {
        self.last_seq
    }

    /// Keys with a local write or touch not acked by the peer (for tests and stats).
    pub fn in_flight_keys(&self) -> usize {
        self.inflight.len()
    }
}

fn protocol(what: &str) -> CloseReason {
    CloseReason::Protocol(what.to_string())
}
